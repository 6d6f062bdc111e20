// Supervisor mode: stopping. SIGTERM and SIGINT drain (/readyz fails at once, serving goes on for
// --drain-delay, requests in flight finish) and exit 0 within --grace-period with no worker left.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { supervisorScope, appCmd, helloCmd, tempDir, readJsonLines, waitFor, request } from './lib/supervisor.mjs';
import { startLoad, summarize } from './lib/load.mjs';

// Polls /readyz from `signalAt` until it answers 503; returns ms from the signal to that answer.
async function msUntilNotReady(sc, signalAt, timeoutMs) {
  let last;
  await waitFor(
    async () => {
      last = (await sc.admin('/readyz')).status;
      return last === 503;
    },
    { timeoutMs, intervalMs: 10, what: `/readyz 503 after the signal (last ${last})` },
  );
  return Date.now() - signalAt;
}

// SIGTERM under load fails /readyz at once, finishes in-flight requests, exits 0, leaves no worker.
test('SIGTERM under load: readyz fails at once, in-flight requests finish, exit 0, no worker left', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const drainMs = 1000;
  const graceMs = 8000;
  const sc = await s.start({
    workers: 2,
    cmd: appCmd(),
    flags: [`--drain-delay=${drainMs}ms`, `--grace-period=${graceMs}ms`, '--kill-timeout=3s'],
  });
  await sc.waitAllReady();
  const load = startLoad({ port: sc.port, path: '/slow?ms=200', concurrency: 8, durationMs: 30000 });
  await waitFor(() => load.stats.ok >= 16, { timeoutMs: 5000, what: '16 answers before SIGTERM' });
  const signalAt = Date.now();
  const exit = sc.stop('SIGTERM', graceMs + 5000);
  const stopped = load.stop(); // no new request from the load; those in flight must complete
  const notReadyMs = await msUntilNotReady(sc, signalAt, drainMs);
  // During the drain delay the listener still takes new connections.
  const during = await request(sc.port, { path: '/', timeoutMs: 3000 });
  assert.equal(during.status, 200, `a new request during --drain-delay: ${during.status} ${during.text}`);
  const st = await stopped;
  const r = await exit;
  t.diagnostic(`/readyz 503 after ${notReadyMs} ms; exit after ${r.ms} ms; ${summarize(st)}`);
  assert.ok(notReadyMs < 500, `/readyz still 200 ${notReadyMs} ms after SIGTERM`);
  assert.equal(st.errors.length, 0, `requests in flight at SIGTERM failed: ${summarize(st)}`);
  assert.equal(st.non2xx.length, 0, `requests in flight at SIGTERM got non-2xx: ${summarize(st)}`);
  assert.equal(r.killed, false, `did not exit within ${graceMs + 5000} ms\n${sc.tail()}`);
  assert.equal(r.code, 0, `exit code after SIGTERM (signal ${r.signal})\n${sc.tail()}`);
  assert.ok(r.ms >= drainMs, `exited ${r.ms} ms after SIGTERM, before --drain-delay=${drainMs}ms ended`);
  assert.ok(r.ms <= graceMs + 500, `exited ${r.ms} ms after SIGTERM, --grace-period=${graceMs}ms`);
  assert.deepEqual(r.leftovers, [], 'worker processes left behind');
});

// A request that never finishes cannot hold the exit on SIGTERM past --grace-period.
test('SIGTERM with a request that never finishes: exit 0 within --grace-period, no worker left', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const graceMs = 3000;
  const reqLog = path.join(tempDir(t), 'requests.jsonl');
  const sc = await s.start({
    workers: 2,
    cmd: appCmd(),
    env: { APP_REQUEST_LOG: reqLog },
    flags: ['--drain-delay=200ms', `--grace-period=${graceMs}ms`, '--kill-timeout=1s'],
  });
  await sc.waitAllReady();
  const stuck = request(sc.port, { path: '/slow?ms=120000', timeoutMs: 30000 }).catch((err) => err);
  await waitFor(() => readJsonLines(reqLog).some((l) => l.path === '/slow?ms=120000'), { timeoutMs: 5000, what: 'the stuck request to reach a worker' });
  const r = await sc.stop('SIGTERM', graceMs + 5000);
  await stuck;
  t.diagnostic(`exit after ${r.ms} ms`);
  assert.equal(r.killed, false, `did not exit within ${graceMs + 5000} ms\n${sc.tail()}`);
  assert.equal(r.code, 0, `exit code (signal ${r.signal})\n${sc.tail()}`);
  assert.ok(r.ms <= graceMs + 500, `exited ${r.ms} ms after SIGTERM, --grace-period=${graceMs}ms`);
  assert.deepEqual(r.leftovers, [], 'worker processes left behind');
});

// SIGINT (Ctrl-C) fails /readyz at once, skips --drain-delay, exits 0 and leaves no worker.
test('SIGINT exits cleanly', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: helloCmd(), flags: ['--drain-delay=5s', '--grace-period=10s', '--kill-timeout=2s'] });
  await sc.waitAllReady();
  const signalAt = Date.now();
  const exit = sc.stop('SIGINT', 10000);
  const notReadyMs = await msUntilNotReady(sc, signalAt, 500);
  const r = await exit;
  t.diagnostic(`/readyz 503 after ${notReadyMs} ms; exit after ${r.ms} ms`);
  assert.equal(r.killed, false, `did not exit within 10 s of SIGINT\n${sc.tail()}`);
  assert.equal(r.code, 0, `exit code after SIGINT (signal ${r.signal})\n${sc.tail()}`);
  assert.ok(r.ms < 3000, `exited ${r.ms} ms after SIGINT: Ctrl-C must not wait for --drain-delay=5s`);
  assert.deepEqual(r.leftovers, [], 'worker processes left behind');
});

// SIGTERM stops a worker's whole process group (npm start -> sh -> node), not just its leader.
test('SIGTERM stops the processes a worker started, too', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({
    workers: 2,
    cmd: ['/bin/sh', '-c', 'sleep 300 & exec "$0" "$1"', ...appCmd()],
    flags: ['--grace-period=5s', '--kill-timeout=1s'],
  });
  await sc.waitAllReady();
  await waitFor(() => sc.tagged().filter((p) => p.comm === 'sleep').length === 2, { timeoutMs: 5000, what: 'a sleep per worker' });
  const r = await sc.stop('SIGTERM', 10000);
  assert.equal(r.code, 0, `exit code (signal ${r.signal})\n${sc.tail()}`);
  assert.deepEqual(r.leftovers, [], 'processes of the workers left behind');
});

// SIGQUIT stops at once, without --drain-delay, and leaves no worker.
test('SIGQUIT stops at once and leaves no worker', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: appCmd(), flags: ['--drain-delay=5s', '--grace-period=10s', '--kill-timeout=2s'] });
  await sc.waitAllReady();
  const r = await sc.stop('SIGQUIT', 10000);
  t.diagnostic(`exit after ${r.ms} ms, code ${r.code}, signal ${r.signal}`);
  assert.equal(r.killed, false, `did not exit within 10 s of SIGQUIT\n${sc.tail()}`);
  assert.ok(r.ms < 2000, `SIGQUIT took ${r.ms} ms (--drain-delay=5s must not apply)`);
  assert.deepEqual(r.leftovers, [], 'worker processes left behind');
});
