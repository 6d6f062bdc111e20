// Supervisor mode: workers that die. A worker killed under load is replaced without a failed
// request; a worker that crashes at start is respawned with delays growing x1.5 until the burst
// limit marks its slot failed; a thousand crash cycles leave no zombie behind.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { supervisorScope, appCmd, tempDir, readJsonLines, waitFor, metricSum, request } from './lib/supervisor.mjs';
import { startLoad, summarize } from './lib/load.mjs';
import { isRunning, statOf, zombieChildren, environOf } from './lib/procfs.mjs';

// kill -9 of a worker under keep-alive load fails no GET, and its slot's new pid soon answers.
test('kill -9 of a worker under load: zero failed GETs and the slot serves again', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 4, cmd: appCmd() });
  const before = await sc.waitAllReady();
  const load = startLoad({ port: sc.port, path: '/slow?ms=5', concurrency: 8, durationMs: 5000 });
  await waitFor(() => load.stats.ok >= 200, { timeoutMs: 5000, what: '200 answers before the kill' });
  const victim = before[1];
  const killedAt = Date.now();
  process.kill(victim, 'SIGKILL');
  let replacement;
  await waitFor(
    () => {
      const pids = sc.slotPids().get(1) || [];
      replacement = pids.find((p) => p !== victim);
      return replacement !== undefined;
    },
    { timeoutMs: 3000, what: `a new process for slot 1 after kill -9 of ${victim}` },
  );
  await waitFor(() => load.stats.byPid.has(replacement), {
    timeoutMs: 4000,
    what: `an answer from slot 1's new pid ${replacement} during the load (${summarize(load.stats)})`,
  }).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  const servedAfterMs = Date.now() - killedAt;
  const st = await load.done;
  assert.ok(!isRunning(victim), `killed worker ${victim} still running`);
  assert.ok(statOf(victim) === null, `killed worker ${victim} was not reaped: ${JSON.stringify(statOf(victim))}`);
  const env = environOf(replacement);
  assert.ok(env, `slot 1's replacement ${replacement} exited before the end of the load\n${await sc.describe()}`);
  assert.equal(env.DROVER_WORKER_ID, '1');
  assert.equal(st.errors.length, 0, `connection errors: ${summarize(st)}`);
  assert.equal(st.non2xx.length, 0, `non-2xx answers: ${summarize(st)}`);
  assert.ok(servedAfterMs < 4000, `slot 1 served again ${servedAfterMs} ms after the kill`);
  const m = await sc.metrics();
  assert.ok(metricSum(m, 'drover_worker_restarts_total', { slot: '1', reason: 'signal' }) >= 1, `drover_worker_restarts_total{slot="1",reason="signal"}\n${await sc.describe()}`);
  t.diagnostic(`slot 1 served by its new pid ${servedAfterMs} ms after kill -9; ${summarize(st)}`);
});

// A crash-looping worker is respawned at once, then with delays growing x1.5, then marked failed.
test('crash at start: restart delays grow x1.5, then the slot is failed', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const dir = tempDir(t);
  const log = path.join(dir, 'starts.jsonl');
  // The app appends {t0: its time origin, t: just before exiting} to a file at each start.
  const burst = 5;
  const delayMs = 300;
  const sc = await s.start({
    workers: 1,
    cmd: appCmd(),
    env: { APP_START_LOG: log, APP_EXIT_AT_START: '3' },
    flags: [`--restart-delay=${delayMs}ms`, `--restart-burst=${burst}`, '--restart-interval=60s'],
  });
  let readyz;
  await waitFor(
    async () => {
      readyz = await sc.admin('/readyz');
      return /failed/.test(readyz.text);
    },
    { timeoutMs: 20000, intervalMs: 50, what: '/readyz to list slot 0 as failed' },
  ).catch(async (err) => {
    err.message += `\nstarts so far: ${readJsonLines(log).length}\n${await sc.describe()}`;
    throw err;
  });
  const m = await sc.metrics();
  const starts = readJsonLines(log);
  // Gap = from one process's last act before exiting to the next process's time origin: the
  // restart delay plus reaping and fork/exec (tens of ms at most).
  const gaps = [];
  for (let i = 1; i < starts.length; i++) gaps.push(starts[i].t0 - starts[i - 1].t);
  const info = `gaps between starts (ms): ${gaps.map((g) => g.toFixed(0)).join(', ')}`;
  t.diagnostic(info);

  await t.test('the slot is failed after more than --restart-burst crashes, and stays down', async () => {
    assert.equal(readyz.status, 503, `/readyz with its only slot failed: ${readyz.status} ${readyz.text}`);
    assert.equal(metricSum(m, 'drover_worker_failed', { slot: '0' }), 1, 'drover_worker_failed{slot="0"}');
    assert.equal(metricSum(m, 'drover_worker_up', { slot: '0' }), 0, 'drover_worker_up{slot="0"}');
    // "More crashes than the burst within the interval": the first start and `burst` respawns.
    assert.equal(starts.length, burst + 1, `starts before the slot was failed: ${JSON.stringify(starts)}`);
    const again = await sc.metrics();
    assert.equal(metricSum(again, 'drover_worker_failed', { slot: '0' }), 1);
    assert.equal(readJsonLines(log).length, burst + 1, 'a failed slot was respawned');
  });

  // docs/sidecar-cli.md: "a crashed worker is respawned at once; if it crashes again, after this
  // delay, x1.5 per further consecutive crash".
  await t.test('the first respawn is immediate', () => {
    assert.ok(gaps[0] < delayMs * 0.7, `first respawn after ${gaps[0].toFixed(0)} ms, want at once (${info})`);
  });

  await t.test('the next respawn waits --restart-delay, each further one x1.5 longer', () => {
    const later = gaps.slice(1);
    const ratios = later.slice(1).map((g, i) => g / later[i]);
    const detail = `${info}; ratios ${ratios.map((r) => r.toFixed(2)).join(', ')}`;
    assert.ok(later.length >= 3, detail);
    assert.ok(later[0] >= delayMs * 0.9 && later[0] <= delayMs + 400, `second respawn after ${later[0].toFixed(0)} ms, want about ${delayMs} (${detail})`);
    for (const r of ratios) assert.ok(r >= 1.15 && r <= 2.0, `a delay grew x${r.toFixed(2)}, want about x1.5 (${detail})`);
    const overall = later[later.length - 1] / later[0];
    const want = 1.5 ** (later.length - 1);
    assert.ok(overall >= want * 0.7 && overall <= want * 1.3, `delays grew x${overall.toFixed(2)} over ${later.length - 1} steps, want about x${want.toFixed(2)} (${detail})`);
  });
});

// A thousand crash cycles leave no zombie child, and the sidecar still stops cleanly.
test('1000 crash cycles leave no zombie child', { timeout: 180000 }, async (t) => {
  const s = supervisorScope(t);
  const dir = tempDir(t);
  const log = path.join(dir, 'starts.txt');
  const stopFile = path.join(dir, 'stop-crashing');
  // 100 slots of a command that exits at once, about 10 crashes each: with the x1.5 backoff (capped
  // at 15 s), a single slot's 1000th respawn would be hours away. Once stopFile exists, the
  // command stays up (a sleep that never listens) instead.
  const slots = 100;
  const sc = await s.start({
    workers: slots,
    cmd: ['/bin/sh', '-c', 'echo "$DROVER_WORKER_ID" >> "$0"; [ -e "$1" ] && exec sleep 600; exit 3', log, stopFile],
    flags: ['--pin=false', '--restart-delay=1ms', '--restart-burst=100000', '--restart-interval=1s', '--kill-timeout=1s'],
  });
  const count = () => {
    try {
      return fs.readFileSync(log, 'utf8').split('\n').length - 1;
    } catch {
      return 0;
    }
  };
  await waitFor(() => count() >= 1000, { timeoutMs: 90000, intervalMs: 100, what: '1000 worker starts' }).catch(async (err) => {
    err.message += `\nstarts: ${count()}\n${await sc.describe()}`;
    throw err;
  });
  assert.ok(sc.alive, `the sidecar died during the crash loop\n${sc.tail()}`);
  // While the crash loop runs, a zombie may exist for a moment; none may stay.
  const seen = zombieChildren(sc.pid);
  const stillZombie = () => seen.filter((z) => {
    const now = statOf(z.pid);
    return now !== null && now.state === 'Z' && now.ppid === sc.pid;
  });
  await waitFor(() => stillZombie().length === 0, { timeoutMs: 5000, intervalMs: 50, what: `the ${seen.length} zombies seen during the crash loop to be reaped` }).catch((err) => {
    err.message += `\nstill zombies: ${JSON.stringify(stillZombie())}`;
    throw err;
  });
  // Stop the crash loop: every slot's next process stays up; then there is no zombie at all.
  fs.writeFileSync(stopFile, '');
  await waitFor(
    () => {
      const pids = sc.singlePids(slots);
      return pids && pids.every((p) => (statOf(p) || {}).comm === 'sleep');
    },
    { timeoutMs: 30000, intervalMs: 100, what: 'every slot running the non-crashing command' },
  );
  let zombies = [];
  await waitFor(() => (zombies = zombieChildren(sc.pid)).length === 0, { timeoutMs: 3000, intervalMs: 20, what: 'no zombie child once the crashes stopped' }).catch((err) => {
    err.message += `\nzombies: ${JSON.stringify(zombies)}`;
    throw err;
  });
  const m = await sc.metrics();
  const restarts = metricSum(m, 'drover_worker_restarts_total', { reason: 'exit_code' });
  const starts = count();
  t.diagnostic(`${starts} starts, drover_worker_restarts_total{reason="exit_code"} ${restarts}, ${seen.length} transient zombies in one scan`);
  assert.ok(restarts >= starts - 2 * slots, `drover_worker_restarts_total{reason="exit_code"} is ${restarts} after ${starts} starts`);
  const r = await sc.stop('SIGTERM', 10000);
  assert.equal(r.code, 0, `exit after SIGTERM: ${JSON.stringify(r)}\n${sc.tail()}`);
  assert.deepEqual(r.leftovers, []);
});

// A reload gives a failed slot a fresh start once the app is fixed.
test('a reload restarts a failed slot', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const dir = tempDir(t);
  const crashFile = path.join(dir, 'crash');
  fs.writeFileSync(crashFile, 'crash\n');
  const sc = await s.start({
    workers: 1,
    cmd: appCmd(),
    env: { APP_CRASH_IF_EXISTS: crashFile },
    flags: ['--restart-delay=10ms', '--restart-burst=2', '--restart-interval=60s'],
  });
  await waitFor(async () => metricSum(await sc.metrics(), 'drover_worker_failed', { slot: '0' }) === 1, {
    timeoutMs: 10000,
    intervalMs: 50,
    what: 'slot 0 failed',
  });
  fs.rmSync(crashFile);
  const r = await sc.admin('/reload', { method: 'POST' });
  assert.equal(r.status, 202, `POST /reload with a failed slot: ${r.status} ${r.text}`);
  const [pid] = await sc.waitAllReady({ timeoutMs: 10000 });
  const m = await sc.metrics();
  assert.equal(metricSum(m, 'drover_worker_failed', { slot: '0' }), 0, 'drover_worker_failed{slot="0"} after the reload');
  const answer = await request(sc.port, { path: '/' });
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.text).pid, pid);
});

// Grandchildren orphaned by a worker are reaped, and do not count as worker exits.
test('orphaned grandchildren leave no zombie', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({
    workers: 1,
    // The subshell starts a short sleep in the background and exits: the sleep is orphaned.
    cmd: ['/bin/sh', '-c', '( sleep 0.3 & ) ; exec "$0" "$1"', ...appCmd()],
  });
  const [pid] = await sc.waitAllReady();
  // Wait until the orphaned sleep has come and gone (it carries the test tag too).
  await waitFor(() => sc.tagged().every((p) => p.pid === pid), { timeoutMs: 5000, what: 'the orphaned sleep to exit' });
  let zombies = [];
  await waitFor(() => (zombies = zombieChildren(sc.pid)).length === 0, { timeoutMs: 3000, intervalMs: 20, what: 'no zombie children' }).catch((err) => {
    err.message += `\nzombies: ${JSON.stringify(zombies)}`;
    throw err;
  });
  assert.deepEqual(sc.singlePids(), [pid], 'the worker was not replaced');
  const m = await sc.metrics();
  assert.equal(metricSum(m, 'drover_worker_restarts_total'), 0, 'the reaped orphan counted as a worker restart');
});
