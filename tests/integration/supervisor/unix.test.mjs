// Supervisor mode with --worker-transport=unix: each worker gets PORT=<socket path> in a private
// directory (mode 0700) that is removed at exit, the proxy connects over AF_UNIX, reloads
// alternate the two socket names of a slot, and a killed worker is replaced as on TCP.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { supervisorScope, appCmd, helloCmd, waitFor, metricSum, request, pidOf } from './lib/supervisor.mjs';
import { startLoad, summarize } from './lib/load.mjs';
import { environOf } from './lib/procfs.mjs';

const kSocketRe = /^(.+)\/worker-(\d+)-([ab])\.sock$/;

// Requests over Unix sockets, a reload under load without a failed request, kill -9 of a
// worker, and the directory gone after exit.
test('workers on Unix sockets: requests, reload under load, a killed worker', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: appCmd(), flags: ['--worker-transport=unix'] });
  const pids = await sc.waitAllReady();
  const paths = pids.map((pid) => environOf(pid).PORT);
  let dir = null;
  paths.forEach((p, i) => {
    const m = kSocketRe.exec(p);
    assert.ok(m, `PORT of slot ${i} is a socket path: ${p}`);
    assert.equal(Number(m[2]), i);
    assert.equal(m[3], 'a', 'the first generation uses the "a" socket');
    dir ??= m[1];
    assert.equal(m[1], dir, 'one directory for every socket');
    assert.ok(fs.statSync(p).isSocket(), `${p} is a socket`);
  });
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700, `mode of ${dir}`);
  const st = await sc.status();
  assert.deepEqual(st.slots.map((x) => x.socket), paths);

  const seen = new Set();
  for (let i = 0; i < 10; i++) {
    const r = await request(sc.port, { path: '/' });
    assert.equal(r.status, 200, r.text);
    seen.add(pidOf(r.text));
  }
  assert.deepEqual([...seen].sort(), [...pids].sort(), 'both workers answer');

  // A reload under keep-alive load: no failed request, and the new workers are on the "b" sockets.
  const load = startLoad({ port: sc.port, path: '/slow?ms=5', concurrency: 8, durationMs: 20000 });
  await waitFor(() => load.stats.ok >= 100, { timeoutMs: 5000, what: `answers before the reload (${summarize(load.stats)})` });
  assert.equal((await sc.admin('/reload', { method: 'POST' })).status, 202);
  let fresh = null;
  await waitFor(
    async () => {
      const now = await sc.status();
      fresh = now.slots.map((x) => x.pid);
      return !now.reload.running && now.reload.ok === 1 && fresh.every((p) => !pids.includes(p)) && pids.every((p) => !fs.existsSync(`/proc/${p}`));
    },
    { timeoutMs: 20000, what: 'the reload done and the old workers gone' },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  await waitFor(() => fresh.every((p) => load.stats.byPid.has(p)), { timeoutMs: 5000, what: `answers from ${fresh.join(',')}` });
  const after = await load.stop();
  t.diagnostic(summarize(after));
  assert.equal(after.errors.length, 0, `connection errors during the reload: ${summarize(after)}`);
  assert.equal(after.non2xx.length, 0, `non-2xx answers during the reload: ${summarize(after)}`);
  fresh.forEach((pid, i) => assert.equal(environOf(pid).PORT, path.join(dir, `worker-${i}-b.sock`)));

  // kill -9 of slot 1's worker: the slot is served again by a new process.
  process.kill(fresh[1], 'SIGKILL');
  let replacement = null;
  await waitFor(
    async () => {
      const now = await sc.status();
      replacement = now.slots[1].state === 'ready' ? now.slots[1].pid : null;
      return replacement !== null && replacement !== fresh[1];
    },
    { timeoutMs: 15000, what: 'slot 1 ready again after kill -9' },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  const answered = new Set();
  await waitFor(
    async () => {
      answered.add(pidOf((await request(sc.port, { path: '/' })).text));
      return answered.has(replacement);
    },
    { timeoutMs: 5000, what: `an answer from slot 1's new pid ${replacement}` },
  );
  const m = await sc.metrics();
  assert.ok(metricSum(m, 'drover_worker_restarts_total', { slot: '1', reason: 'signal' }) >= 1);

  const r = await sc.stop('SIGTERM');
  assert.equal(r.code, 0);
  assert.ok(!fs.existsSync(dir), `${dir} is removed at exit`);
});

// examples/hello takes PORT as a socket path too, as any server.listen(process.env.PORT) does;
// --ready-path probes it over the socket.
test('examples/hello serves over a Unix socket, ready by --ready-path', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 1, cmd: helloCmd(), flags: ['--worker-transport=unix', '--ready-path=/healthz'] });
  const [pid] = await sc.waitAllReady();
  const r = await request(sc.port, { path: '/' });
  assert.equal(r.status, 200);
  assert.equal(pidOf(r.text), pid);
});

// A worker whose listen queue is full (it is busy and accepts nothing) makes connect() on its
// Unix socket fail with EAGAIN at once, where TCP would wait in the SYN queue. That is a busy
// worker, not a dead one: the request gets 503 with Retry-After (counted as backend_busy), never
// 502 "refused", and the worker is not taken out, so the next request after the burst is served.
test('a full listen queue on a Unix socket is a busy worker: 503, not down', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 1, cmd: appCmd(), flags: ['--worker-transport=unix'], env: { APP_BACKLOG: '1' } });
  const [pid] = await sc.waitAllReady();
  const busy = request(sc.port, { path: '/busy?ms=1500' });
  await new Promise((r) => setTimeout(r, 300)); // the worker is now blocked in the handler
  const burst = await Promise.all(Array.from({ length: 8 }, () => request(sc.port, { path: '/' })));
  const statuses = burst.map((r) => r.status);
  t.diagnostic(`burst statuses: ${statuses.join(' ')}`);
  assert.equal((await busy).status, 200);
  const m = await sc.metrics();
  assert.ok(metricSum(m, 'drover_errors_total', { reason: 'backend_busy' }) >= 1, 'some connects found the queue full');
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'backend_refused' }), 0);
  assert.ok(statuses.every((x) => x === 200 || x === 503), `only 200 or 503: ${statuses.join(' ')}`);
  for (const r of burst.filter((x) => x.status === 503)) assert.equal(r.headers['retry-after'], '1');
  const after = await request(sc.port, { path: '/' });
  assert.equal(after.status, 200, `served right after the burst: ${after.text}`);
  assert.equal(pidOf(after.text), pid);
});
