// Helpers for the kube-sim tests: a simulator per test (closed when it ends), raw HTTP
// requests that keep every chunk, and a line collector for streaming output (watch bodies,
// `kubectl get -w`).
//
//   const sim = await simFor(t, { bookmarkIntervalMs: 100 });
//   const r = await call(sim, 'GET', '/api/v1/namespaces/default/pods');
//   assert.equal(r.status, 200); r.json.items ...

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { startKubeSim } from '../../support/kube-sim/sim.mjs';
import { waitFor } from '../lib/proc.mjs';

export async function simFor(t, options) {
  const sim = await startKubeSim(options);
  t.after(() => sim.close());
  return sim;
}

export function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-sim-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// One HTTP request to the simulator: { status, headers, text, json, chunks } where chunks
// is how many pieces the body arrived in. A body object is sent as JSON.
export function call(sim, method, pathAndQuery, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: sim.port,
        method,
        path: pathAndQuery,
        headers: {
          Accept: 'application/json',
          ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
          ...headers,
        },
      },
      (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json, chunks: parts.length });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// Opens a watch (or any streaming GET) and collects its newline-separated JSON events.
// { status, events, chunks, ended, close(), waitFor(pred, what) }.
export function openStream(sim, pathAndQuery, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: sim.port, path: pathAndQuery, headers: { Accept: 'application/json', ...headers } }, (res) => {
      const s = {
        status: res.statusCode,
        headers: res.headers,
        events: [],
        chunks: 0,
        ended: false,
        raw: '',
        close: () => req.destroy(),
        until: (pred, what, timeoutMs = 5000) => waitFor(() => pred(s.events), { timeoutMs, what }),
      };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        s.chunks += 1;
        s.raw += d;
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) s.events.push(JSON.parse(line));
        }
      });
      res.on('end', () => (s.ended = true));
      res.on('error', () => (s.ended = true));
      resolve(s);
    });
    req.on('error', reject);
  });
}

// Collects whole lines from a child's stdout (kubectl -w -o json --output-watch-events prints
// one JSON event per line).
export function collectLines(stream) {
  const lines = [];
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  return lines;
}

export const names = (items) => items.map((o) => o.metadata.name).sort();
