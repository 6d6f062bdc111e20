// Helpers for the sticky-session tests (docs/sidecar-cli.md, "Sticky sessions"): cookie parsing,
// the sticky decision counters, backends that say who answered, member tables (--peers files).
//
//   const s = scope(t);
//   const bs = await namedBackends(s, ['a', 'b', 'c']);
//   const sc = await s.sidecar([backendsFlag(...bs), '--sticky=cookie']);
//   const r = await get(sc.port, { headers: { cookie: `DROVERID=${v}` } });
//   r.backend;                         // 'a' | 'b' | 'c': the backend that answered
//   dropCookie(r);                     // the DROVERID value of its Set-Cookie, or undefined
//   await stickyCounts(sc.adminPort);  // { hit, new, remapped, forwarded, invalid, no_key }
//
// Importing this module also picks the binary: env DROVER_SIDECAR if set (ctest sets it), else
// build/release, else build/dev.

import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import crypto from 'node:crypto';
import { REPO_ROOT } from '../../lib/sidecar.mjs';
import { request, scrape, metricSum } from '../../lib/backends.mjs';

if (!process.env.DROVER_SIDECAR) {
  const release = path.join(REPO_ROOT, 'build/release/sidecar/drover-sidecar');
  const dev = path.join(REPO_ROOT, 'build/dev/sidecar/drover-sidecar');
  if (!fs.existsSync(release) && fs.existsSync(dev)) process.env.DROVER_SIDECAR = dev;
}

export const kCookie = 'DROVERID';
export const kResults = ['hit', 'new', 'remapped', 'forwarded', 'invalid', 'no_key'];

// Parses one Set-Cookie value: { name, value, attrs: [['Path','/'], ['HttpOnly', true], ...] }.
export function parseSetCookie(text) {
  const parts = text.split(';').map((p) => p.trim());
  const first = parts.shift();
  const eq = first.indexOf('=');
  const attrs = parts.map((p) => {
    const i = p.indexOf('=');
    return i < 0 ? [p, true] : [p.slice(0, i), p.slice(i + 1)];
  });
  return { name: first.slice(0, eq), value: first.slice(eq + 1), attrs, raw: text };
}

// Every Set-Cookie field of a response from `get` (node http) as raw strings.
export function setCookies(res) {
  const out = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i].toLowerCase() === 'set-cookie') out.push(res.rawHeaders[i + 1]);
  }
  return out;
}

// The Set-Cookie fields of a response that set the sticky cookie `name`.
export function stickySetCookies(res, name = kCookie) {
  return setCookies(res).filter((v) => parseSetCookie(v).name === name);
}

// The sticky cookie value a response sets, or undefined. Fails on two of them.
export function dropCookie(res, name = kCookie) {
  const all = stickySetCookies(res, name);
  if (all.length > 1) throw new Error(`${all.length} Set-Cookie fields for ${name}: ${JSON.stringify(all)}`);
  return all.length ? parseSetCookie(all[0]).value : undefined;
}

// Values of every field `name` of a response (rawHeaders, in order).
export function fieldValues(res, name) {
  const out = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i].toLowerCase() === name.toLowerCase()) out.push(res.rawHeaders[i + 1]);
  }
  return out;
}

// The sticky decision counters of a sidecar: { hit, new, remapped, forwarded, invalid, no_key }.
export async function stickyCounts(adminPort) {
  const m = await scrape(adminPort);
  const out = {};
  for (const r of kResults) out[r] = metricSum(m, 'drover_sticky_decisions_total', { result: r });
  return out;
}

// counts b - a, per result.
export function diffCounts(a, b) {
  const out = {};
  for (const r of kResults) out[r] = b[r] - a[r];
  return out;
}

export async function errorCount(adminPort, reason) {
  return metricSum(await scrape(adminPort), 'drover_errors_total', { reason });
}

// HTTP backends (in this process) that answer JSON naming themselves and describing what they
// received: the Cookie fields, X-Forwarded-For/-Proto, the body's length and sha256.
export async function namedBackends(s, names) {
  const out = [];
  for (const name of names) {
    out.push(
      await s.httpBackend({
        name,
        handler: (req, res) => {
          const cookieFields = [];
          for (let i = 0; i < req.rawHeaders.length; i += 2) {
            if (req.rawHeaders[i].toLowerCase() === 'cookie') cookieFields.push(req.rawHeaders[i + 1]);
          }
          const url = new URL(req.url, 'http://x');
          const headers = { 'Content-Type': 'application/json', 'X-Backend': name };
          // ?cc=VALUE: the app's own Cache-Control; ?sc=VALUE: its own Set-Cookie.
          if (url.searchParams.has('cc')) headers['Cache-Control'] = url.searchParams.get('cc');
          if (url.searchParams.has('sc')) headers['Set-Cookie'] = url.searchParams.get('sc');
          const hash = crypto.createHash('sha256');
          let bodyBytes = 0;
          req.on('data', (d) => {
            hash.update(d);
            bodyBytes += d.length;
          });
          req.on('end', () => {
            const body = JSON.stringify({
              backend: name,
              method: req.method,
              url: req.url,
              cookieFields,
              xff: req.headers['x-forwarded-for'] ?? null,
              xfp: req.headers['x-forwarded-proto'] ?? null,
              bodyBytes,
              bodySha256: hash.digest('hex'),
            });
            headers['Content-Length'] = Buffer.byteLength(body);
            res.writeHead(200, headers);
            res.end(body);
          });
        },
      }),
    );
  }
  return out;
}

// GET through the proxy; resolves the response of backends.request plus `backend` (the name a
// namedBackends backend put in its body) and `json` (its parsed body).
export async function get(port, opts = {}) {
  const r = await request(port, { timeoutMs: 5000, ...opts });
  try {
    r.json = JSON.parse(r.text);
  } catch {
    r.json = null;
  }
  r.backend = r.json?.backend ?? r.json?.worker ?? null;
  return r;
}

// Runs `fn(i)` for i in 0..n-1 with at most `limit` at once; resolves the results in order.
export async function pool(n, limit, fn) {
  const out = new Array(n);
  let next = 0;
  const run = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, run));
  return out;
}

// A keep-alive agent, destroyed when the test ends.
export function keepAliveAgent(t, maxSockets = 4) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  t.after(() => agent.destroy());
  return agent;
}

// Cookie value bytes (docs: member(4) slot(2) issued(4) last_seen(4), base64url; then "." and a
// MAC with a secret). Tests use this to forge values, never to check the format.
export function decodeCookieValue(value) {
  const [body, mac] = value.split('.');
  const b = Buffer.from(body, 'base64url');
  return { member: b.readUInt32BE(0), slot: b.readUInt16BE(4), issued: b.readUInt32BE(6), lastSeen: b.readUInt32BE(10), mac, bytes: b };
}
export function encodeCookieValue({ member, slot, issued, lastSeen }, mac) {
  const b = Buffer.alloc(14);
  b.writeUInt32BE(member >>> 0, 0);
  b.writeUInt16BE(slot, 4);
  b.writeUInt32BE(issued >>> 0, 6);
  b.writeUInt32BE(lastSeen >>> 0, 10);
  const body = b.toString('base64url');
  return mac === undefined ? body : `${body}.${mac}`;
}
// The value a sidecar with cookie secret `secret` issues for these fields: the MAC is the first
// 10 bytes of HMAC-SHA256(secret, the 14 packed bytes), base64url.
export function signCookieValue(fields, secret) {
  const body = encodeCookieValue(fields);
  const mac = crypto.createHmac('sha256', secret).update(Buffer.from(body, 'base64url')).digest().subarray(0, 10);
  return `${body}.${mac.toString('base64url')}`;
}

// Writes `text` to `file` atomically (a temporary file in the same directory, then rename), the
// way the docs ask writers of --peers files to.
export function writeFileAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

// A --peers file body: members [{ id, peerPort, slots }].
export function peersText(members) {
  return ['# ID HOST:PORT SLOTS', ...members.map((m) => `${m.id} 127.0.0.1:${m.peerPort} ${m.slots}`), ''].join('\n');
}

// Temporary directory removed when the test ends.
export function tempDir(t, prefix = 'drover-sticky-') {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Number of "member table: N members" lines a sidecar printed so far (one per table applied).
export function tableLoads(sc) {
  return (sc.stderr.match(/member table: \d+ members/g) || []).length;
}

export function histogram(values) {
  const m = new Map();
  for (const v of values) m.set(v, (m.get(v) || 0) + 1);
  return Object.fromEntries([...m].sort());
}
