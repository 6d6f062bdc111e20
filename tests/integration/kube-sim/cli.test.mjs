// kube-sim as a process (main.mjs), driven only over HTTP as the C++ tests and shell benchmarks
// drive it: the first stdout line names the URL, /sim/ endpoints shape the cluster, SIGTERM
// stops it cleanly, a bad flag exits 2 with a message naming it.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, exited, withDeadline } from '../lib/proc.mjs';
import { call, openStream, tmpDir } from './helpers.mjs';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../support/kube-sim/main.mjs');

async function startCli(t, args) {
  const child = track(spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited(child);
  });
  const line = await withDeadline(
    new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const i = out.indexOf('\n');
        if (i >= 0) resolve(out.slice(0, i));
      });
      child.once('exit', (code) => reject(new Error(`kube-sim exited (${code}) before listening: ${stderr}`)));
    }),
    10000,
    'the listening line',
  );
  const m = /^kube-sim listening on (https?):\/\/127\.0\.0\.1:(\d+)$/.exec(line);
  assert.ok(m, `first line: ${line}`);
  return { child, port: Number(m[2]), scheme: m[1], stderr: () => stderr };
}

test('main.mjs: /sim/ endpoints drive a running simulator; SIGTERM exits 0', async (t) => {
  const { child, port } = await startCli(t, ['--port=0', '--bookmark-interval-ms=60000', '--max-history=1000']);
  const sim = { port };
  let r = await call(sim, 'POST', '/sim/pods', [
    { name: 'web-0', labels: { app: 'web' }, ip: '127.1.0.20' },
    { name: 'web-1', labels: { app: 'web' }, ready: false },
  ]);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.map((p) => p.status.podIP), ['127.1.0.20', '127.1.0.1']);
  const w = await openStream(sim, `/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&resourceVersion=${r.json[1].metadata.resourceVersion}`);
  r = await call(sim, 'POST', '/sim/pods/default/web-1/ready', { ready: true });
  assert.equal(r.json.status.conditions.find((c) => c.type === 'Ready').status, 'True');
  await call(sim, 'POST', '/sim/pods/default/web-0/annotate', { 'drover.io/drain': 'true' });
  r = await call(sim, 'DELETE', '/sim/pods/default/web-0?graceSeconds=30');
  assert.ok(r.json.metadata.deletionTimestamp);
  await call(sim, 'POST', '/sim/pods/default/web-0/finish-deletion');
  assert.deepEqual((await call(sim, 'POST', '/sim/bookmarks')).json, { sent: 1 });
  await w.until((ev) => ev.length === 5, 'ready, annotate, terminating, deleted, bookmark');
  assert.deepEqual(w.events.map((e) => e.type), ['MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED', 'BOOKMARK']);
  let stats = (await call(sim, 'GET', '/sim/stats')).json;
  assert.equal(stats.openWatches, 1);
  assert.equal(stats.byVerb.watch, 1);
  assert.equal(stats.objects.pods, 1);
  assert.deepEqual((await call(sim, 'POST', '/sim/drop-watches')).json, { dropped: 1 });
  await w.until(() => w.ended, 'the dropped watch to end');
  const rv = (await call(sim, 'POST', '/sim/compact')).json.resourceVersion;
  assert.equal(rv, stats.resourceVersion);
  r = await call(sim, 'POST', '/sim/config', { watchExpired: 'status', bookmarkIntervalMs: 500 });
  assert.equal(r.json.watchExpired, 'status');
  await call(sim, 'POST', '/sim/pods', { name: 'web-2' });
  assert.equal((await call(sim, 'GET', `/api/v1/pods?watch=true&resourceVersion=${Number(rv) - 1}`)).status, 410);
  await call(sim, 'POST', '/apis/apps/v1/namespaces/default/deployments', {
    metadata: { name: 'web' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'a', image: 'x' }] } } },
  });
  await call(sim, 'PATCH', '/apis/apps/v1/namespaces/default/deployments/web/scale', { spec: { replicas: 3 } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.deepEqual((await call(sim, 'GET', '/sim/scale-events')).json, [{ kind: 'Deployment', namespace: 'default', name: 'web', replicas: 3 }]);
  stats = (await call(sim, 'POST', '/sim/stats/reset')).json;
  assert.equal(stats.requests, 0);
  child.kill('SIGTERM');
  const end = await withDeadline(exited(child), 5000, 'exit after SIGTERM');
  assert.deepEqual(end, { code: 0, signal: null });
});

test('main.mjs --tls --ca-out and --token-file', async (t) => {
  const dir = tmpDir(t);
  const tokenFile = path.join(dir, 'tokens.json');
  fs.writeFileSync(tokenFile, JSON.stringify({ sekrit: { user: 'ci' } }));
  const ca = path.join(dir, 'ca.pem');
  const { port, scheme } = await startCli(t, ['--tls', `--ca-out=${ca}`, `--token-file=${tokenFile}`]);
  assert.equal(scheme, 'https');
  const get = (token) =>
    new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/api/v1/pods', ca: fs.readFileSync(ca), headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        })
        .on('error', reject);
    });
  assert.equal(await get('sekrit'), 200);
  assert.equal(await get('nope'), 401);
  assert.equal(await get(null), 401);
});

test('main.mjs: a bad flag exits 2 naming it', async () => {
  const child = track(spawn(process.execPath, [main, '--port=abc'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const r = await withDeadline(exited(child), 10000, 'exit on a bad flag');
  assert.equal(r.code, 2);
  assert.match(stderr, /--port/);
});
