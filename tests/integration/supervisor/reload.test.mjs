// Supervisor mode: rolling reloads (SIGHUP, POST /reload). Under load, every slot gets a new
// process on its spare port without a failed request; a replacement that never becomes ready
// leaves the old process serving and the reload reported failed.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { supervisorScope, appCmd, helloCmd, tempDir, readJsonLines, waitFor, metricSum, request, pidOf } from './lib/supervisor.mjs';
import { startLoad, summarize } from './lib/load.mjs';
import { isRunning, environOf } from './lib/procfs.mjs';

// Waits until each of the n slots has exactly one process, none of them in `oldPids`, all ready,
// and every old pid has exited (and been reaped). Returns the new pids by slot.
async function waitReplaced(sc, oldPids, { timeoutMs = 25000 } = {}) {
  let pids = null;
  await waitFor(
    async () => {
      pids = sc.singlePids();
      if (!pids || pids.some((p) => oldPids.includes(p))) return false;
      if (oldPids.some((p) => fs.existsSync(`/proc/${p}`))) return false;
      const m = await sc.metrics();
      return pids.every((_, i) => metricSum(m, 'drover_worker_ready', { slot: String(i) }) === 1);
    },
    { timeoutMs, intervalMs: 50, what: `every slot replaced (old pids ${oldPids.join(',')})` },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  return pids;
}

function reloadsBy(m) {
  const out = {};
  for (const s of m.samples) if (s.name === 'drover_reloads_total') out[s.labels.result] = s.value;
  return out;
}

// Checks the end of a reload under load: every new pid answered, nothing failed, replacements
// listen on the spare ports (base+N+i) when `spare`, else on base+i.
async function finishReloadUnderLoad(t, sc, load, newPids, { spare }) {
  await waitFor(() => newPids.every((p) => load.stats.byPid.has(p)), {
    timeoutMs: 5000,
    what: `answers from every new pid ${newPids.join(',')} (${summarize(load.stats)})`,
  });
  const st = await load.stop();
  t.diagnostic(summarize(st));
  assert.equal(st.errors.length, 0, `connection errors during the reload: ${summarize(st)}`);
  assert.equal(st.non2xx.length, 0, `non-2xx answers during the reload: ${summarize(st)}`);
  newPids.forEach((pid, i) => {
    const want = sc.portBase + (spare ? sc.workers : 0) + i;
    assert.equal(environOf(pid).PORT, String(want), `PORT of slot ${i}'s replacement ${pid}`);
  });
}

// Three SIGHUP reloads under keep-alive load replace every slot without a failed request.
test('SIGHUP reloads every worker under load without a failed request', { timeout: 90000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: helloCmd() });
  let pids = await sc.waitAllReady();
  for (let round = 1; round <= 3; round++) {
    const load = startLoad({ port: sc.port, concurrency: 8, durationMs: 40000 });
    await waitFor(() => load.stats.ok >= 200, { timeoutMs: 5000, what: `200 answers before reload ${round}` });
    process.kill(sc.pid, 'SIGHUP');
    const newPids = await waitReplaced(sc, pids);
    await finishReloadUnderLoad(t, sc, load, newPids, { spare: round % 2 === 1 });
    pids = newPids;
  }
  const m = await sc.metrics();
  const results = reloadsBy(m);
  assert.ok(!results.failed, `drover_reloads_total ${JSON.stringify(results)}`);
  assert.equal(Object.values(results).reduce((a, b) => a + b, 0), 3, `drover_reloads_total ${JSON.stringify(results)}`);
  assert.equal(metricSum(m, 'drover_worker_restarts_total', { reason: 'reload' }), 6, 'drover_worker_restarts_total{reason="reload"}: 3 reloads x 2 slots');
  assert.equal(metricSum(m, 'drover_reload_duration_seconds_count'), 3, 'drover_reload_duration_seconds_count');
});

// POST /reload answers 202 then 409 while running, and reloads alternate base and spare ports.
test('POST /reload: 202, 409 while running, and back-and-forth spare ports', { timeout: 90000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: helloCmd() });
  const first = await sc.waitAllReady();
  let load = startLoad({ port: sc.port, concurrency: 8, durationMs: 40000 });
  await waitFor(() => load.stats.ok >= 200, { timeoutMs: 5000, what: '200 answers before the reload' });
  const r1 = await sc.admin('/reload', { method: 'POST' });
  const r2 = await sc.admin('/reload', { method: 'POST' });
  assert.equal(r1.status, 202, `first POST /reload: ${r1.status} ${r1.text}`);
  assert.equal(r2.status, 409, `POST /reload while one runs: ${r2.status} ${r2.text}`);
  const second = await waitReplaced(sc, first);
  await finishReloadUnderLoad(t, sc, load, second, { spare: true });

  load = startLoad({ port: sc.port, concurrency: 8, durationMs: 40000 });
  await waitFor(() => load.stats.ok >= 200, { timeoutMs: 5000, what: '200 answers before the second reload' });
  const r3 = await sc.admin('/reload', { method: 'POST' });
  assert.equal(r3.status, 202, `POST /reload after the first finished: ${r3.status} ${r3.text}`);
  const third = await waitReplaced(sc, second);
  await finishReloadUnderLoad(t, sc, load, third, { spare: false });
});

// A replacement that never becomes ready fails the reload and leaves the old process serving.
test('a replacement that never becomes ready leaves the old process serving', { timeout: 90000 }, async (t) => {
  const s = supervisorScope(t);
  const dir = tempDir(t);
  const hangFile = path.join(dir, 'hang');
  const log = path.join(dir, 'starts.jsonl');
  const sc = await s.start({
    workers: 2,
    cmd: appCmd(),
    env: { APP_HANG_IF_EXISTS: hangFile, APP_START_LOG: log },
    flags: ['--start-timeout=2s', '--kill-timeout=1s'],
  });
  const oldPids = await sc.waitAllReady();
  const load = startLoad({ port: sc.port, concurrency: 4, durationMs: 40000 });
  await waitFor(() => load.stats.ok >= 100, { timeoutMs: 5000, what: '100 answers before the reload' });
  // From now on the app hangs at start (never listens): every replacement is killed at --start-timeout.
  fs.writeFileSync(hangFile, 'hang\n');
  const r = await sc.admin('/reload', { method: 'POST' });
  assert.equal(r.status, 202, `POST /reload: ${r.status} ${r.text}`);
  await waitFor(() => readJsonLines(log).length > 2, { timeoutMs: 5000, what: 'the replacement to start' });
  let results = {};
  await waitFor(
    async () => {
      results = reloadsBy(await sc.metrics());
      return results.failed >= 1;
    },
    { timeoutMs: 20000, intervalMs: 100, what: 'drover_reloads_total{result="failed"} >= 1' },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  // The hung replacements are killed; the old processes are the only workers and still serve.
  const hung = readJsonLines(log).map((l) => l.pid).filter((p) => !oldPids.includes(p));
  await waitFor(() => hung.every((p) => !isRunning(p)), { timeoutMs: 5000, what: `hung replacements ${hung.join(',')} killed` });
  await waitFor(() => {
    const pids = sc.singlePids();
    return pids && pids.every((p, i) => p === oldPids[i]);
  }, { timeoutMs: 5000, what: `only the old workers ${oldPids.join(',')} left` }).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  const okBefore = load.stats.ok;
  await waitFor(() => load.stats.ok >= okBefore + 100, { timeoutMs: 5000, what: '100 more answers after the failed reload' });
  const st = await load.stop();
  t.diagnostic(summarize(st));
  assert.equal(st.errors.length, 0, `connection errors: ${summarize(st)}`);
  assert.equal(st.non2xx.length, 0, `non-2xx answers: ${summarize(st)}`);
  for (const p of st.byPid.keys()) assert.ok(oldPids.includes(p), `answer from ${p}, which is not an old worker`);
  assert.equal((await sc.admin('/readyz')).status, 200, '/readyz after the failed reload');
  const m = await sc.metrics();
  for (let i = 0; i < 2; i++) {
    assert.equal(metricSum(m, 'drover_worker_failed', { slot: String(i) }), 0, `a failed reload must not mark slot ${i} failed`);
  }

  // Fixed app: the next reload goes through.
  fs.rmSync(hangFile);
  const r2 = await sc.admin('/reload', { method: 'POST' });
  assert.equal(r2.status, 202, `POST /reload after the failed one: ${r2.status} ${r2.text}`);
  const newPids = await waitReplaced(sc, oldPids);
  const answer = await request(sc.port, { path: '/' });
  assert.ok(newPids.includes(pidOf(answer.text)), `answer ${answer.text} not from a new pid ${newPids}`);
});
