// Supervisor mode: readiness means the worker's own listening socket. Something else answering
// on a slot's port (a stray server, a previous generation) must not make the slot ready, or
// public traffic would go to it while the real worker dies with EADDRINUSE.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { supervisorScope, appCmd, freePortBlock, tempDir, APPS_DIR, waitFor, metricSum, request, pidOf } from './lib/supervisor.mjs';

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
  });
}

// Foreign servers on both ports of slot 0 (its own and its spare) get no public request; the
// worker's EADDRINUSE is reported, it is respawned with backoff, and once the ports are free
// the worker serves.
test('a foreign process on a slot port never gets public traffic', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const base = await freePortBlock(2);
  let foreignRequests = 0;
  const foreign = [base, base + 1].map(() =>
    http.createServer((req, res) => {
      foreignRequests++;
      res.end('foreign\n');
    }),
  );
  for (const [i, server] of foreign.entries()) {
    await listen(server, base + i);
    server.on('connection', (sock) => sock.on('error', () => {}));
  }
  let foreignOpen = true;
  t.after(() => foreignOpen && foreign.forEach((server) => server.close()));
  // Public requests while slot 0 has no worker of its own: each must get 503, none the foreign.
  const wrong = [];
  const publicRequest = async () => {
    const r = await request(sc.port, { path: '/', timeoutMs: 5000 });
    if (r.status !== 503 || foreignRequests > 0) wrong.push(`${r.status} ${r.text.trim()}`);
  };

  const sc = await s.start({
    workers: 1,
    cmd: appCmd(),
    portBase: base,
    flags: ['--restart-delay=100ms', '--restart-burst=1000'],
  });
  await waitFor(async () => {
    await publicRequest();
    const failures = sc.stderr.match(/worker 0 \(pid \d+\) exited with code 1 while starting/g) || [];
    return wrong.length > 0 || failures.length >= 3;
  }, {
    timeoutMs: 20000,
    what: 'three failed starts of the worker',
  }).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  assert.deepEqual(wrong, [], 'public answers while only foreign processes listened');
  assert.equal(foreignRequests, 0, 'public requests reached the foreign process');
  assert.match(sc.stderr, new RegExp(`worker 0 \\(pid \\d+\\) not ready: its port (${base}|${base + 1}) is held by another process`));
  assert.match(sc.stderr, new RegExp(`exited with code 1 while starting; its port (${base}|${base + 1}) is held by another process`));
  assert.match(sc.stderr, /Error: listen EADDRINUSE/, "the worker's own error is relayed");
  assert.match(sc.stderr, /worker 0 restarts in \d+(\.\d+)?ms/, 'respawns are backed off');
  for (let i = 0; i < 10; i++) await publicRequest();
  assert.deepEqual(wrong, [], 'public answers while only foreign processes listened');
  const m = await sc.metrics();
  assert.equal(metricSum(m, 'drover_worker_ready', { slot: '0' }), 0, 'slot 0 ready through a foreign listener');

  // The ports are freed: a respawned worker takes one and serves.
  await Promise.all(foreign.map((server) => new Promise((resolve) => server.close(resolve))));
  foreignOpen = false;
  const [pid] = await sc.waitAllReady({ timeoutMs: 15000 });
  const r = await request(sc.port, { path: '/' });
  assert.equal(r.status, 200);
  assert.equal(pidOf(r.text), pid);
  assert.equal(foreignRequests, 0);
});

// A worker that switched to another user, under a sidecar without CAP_SYS_PTRACE: its
// /proc/PID/fd links cannot be read, so whose socket it is cannot be told. The sidecar says so
// once and goes by the connect (else such a worker would never be ready). Runs as root: it
// drops the capability with capsh and starts the worker as nobody with setpriv.
test('a worker whose descriptors cannot be read is ready on the connect, said once', { timeout: 30000 }, async (t) => {
  assert.equal(process.getuid(), 0, 'this test needs root (to run the worker as another user)');
  const s = supervisorScope(t);
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o755);
  const app = path.join(dir, 'app.mjs');
  fs.copyFileSync(path.join(APPS_DIR, 'app.mjs'), app);
  fs.chmodSync(app, 0o644);
  const sc = await s.start({
    workers: 1,
    cmd: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, app],
    wrapper: ['capsh', '--drop=cap_sys_ptrace', '--', '-c', 'exec "$0" "$@"'],
  });
  const [pid] = await sc.waitAllReady();
  const lines = sc.stderr.split('\n').filter((l) => l.includes('cannot tell whose socket'));
  assert.equal(lines.length, 1, sc.tail());
  assert.match(lines[0], new RegExp(`worker 0 \\(pid ${pid}\\): cannot tell whose socket is on its port ${sc.portBase} \\(its /proc/PID/fd is not readable\\); trusting the connect`));
  const r = await request(sc.port, { path: '/' });
  assert.equal(r.status, 200);
  assert.equal(pidOf(r.text), pid);
});
