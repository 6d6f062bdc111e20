// Supervisor mode (docs/sidecar-cli.md, "Supervisor mode"): what each worker process gets
// (PORT, DROVER_WORKER_ID, NODE_APP_INSTANCE, its own process group, a CPU of its own), how
// --workers=auto decides, and which invocations are refused at start.

import test from 'node:test';
import assert from 'node:assert/strict';
import { runSidecar } from '../lib/sidecar.mjs';
import path from 'node:path';
import { supervisorScope, appCmd, tempDir, waitFor, request, pidOf, metricSum } from './lib/supervisor.mjs';
import { environOf, statOf, cpusAllowed } from './lib/procfs.mjs';
import fs from 'node:fs';

// Sends batches of concurrent slow requests through the proxy until every pid in `pids` has
// answered one (leastconn spreads concurrent requests; a lone request may always go to slot 0).
async function waitServedByAll(port, pids, { timeoutMs = 8000 } = {}) {
  const seen = new Set();
  await waitFor(
    async () => {
      const rs = await Promise.all(Array.from({ length: 2 * pids.length }, () => request(port, { path: '/slow?ms=30', timeoutMs: 3000 })));
      for (const r of rs) if (r.status === 200) seen.add(pidOf(r.text));
      return pids.every((p) => seen.has(p));
    },
    { timeoutMs, intervalMs: 10, what: `answers from every worker ${pids.join(',')} (seen ${[...seen].join(',')})` },
  );
}

// Each worker gets its slot's PORT, DROVER_WORKER_ID, NODE_APP_INSTANCE, process group and own CPU.
test('workers get their slot environment, own process group and distinct pinned CPUs', async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: appCmd() });
  const pids = await sc.waitAllReady();
  const sidecarCpus = cpusAllowed(sc.pid);
  const pinned = [];
  for (let i = 0; i < 2; i++) {
    const env = environOf(pids[i]);
    assert.equal(env.PORT, String(sc.portBase + i), `PORT of slot ${i} (pid ${pids[i]})`);
    assert.equal(env.DROVER_WORKER_ID, String(i), `DROVER_WORKER_ID of slot ${i}`);
    assert.equal(env.NODE_APP_INSTANCE, String(i), `NODE_APP_INSTANCE of slot ${i}`);
    const st = statOf(pids[i]);
    assert.equal(st.pgrp, pids[i], `slot ${i} (pid ${pids[i]}) must lead its own process group; pgrp ${st.pgrp}, sidecar pgrp ${statOf(sc.pid).pgrp}`);
    const cpus = cpusAllowed(pids[i]);
    assert.equal(cpus.length, 1, `slot ${i} must be pinned to one CPU, Cpus_allowed_list is ${cpus}`);
    assert.ok(sidecarCpus.includes(cpus[0]), `slot ${i} pinned to CPU ${cpus[0]}, outside the sidecar's ${sidecarCpus}`);
    pinned.push(cpus[0]);
  }
  if (sidecarCpus.length >= 2) assert.notEqual(pinned[0], pinned[1], `both workers pinned to CPU ${pinned[0]}`);
  await waitServedByAll(sc.port, pids);
});

// With --ready-path a worker is ready, and gets requests, only once that path answers 2xx.
test('--ready-path: a worker is ready only once GET of the path answers 2xx', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const readyFile = path.join(tempDir(t), 'ready');
  const sc = await s.start({ workers: 1, cmd: appCmd(), env: { APP_READY_FILE: readyFile }, flags: ['--ready-path=/ready'] });
  // The app listens at once; watch the slot for a second while /ready answers 503.
  await waitFor(() => sc.singlePids(), { timeoutMs: 5000, what: 'the worker process' });
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    const m = await sc.metrics();
    assert.equal(metricSum(m, 'drover_worker_ready', { slot: '0' }), 0, 'ready while /ready answers 503');
    assert.equal((await sc.admin('/readyz')).status, 503, '/readyz while the only worker is not ready');
  }
  const r = await request(sc.port, { path: '/', timeoutMs: 5000 });
  assert.ok(r.status >= 500, `a request with no ready worker answered ${r.status}: ${r.text}`);
  fs.writeFileSync(readyFile, 'ok\n');
  const [pid] = await sc.waitAllReady({ timeoutMs: 10000 });
  const ok = await request(sc.port, { path: '/' });
  assert.equal(ok.status, 200);
  assert.equal(pidOf(ok.text), pid);
});

// With --pin=false a worker keeps the sidecar's whole CPU set.
test('--pin=false leaves workers unpinned', async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: appCmd(), flags: ['--pin=false'] });
  const pids = await sc.waitAllReady();
  const sidecarCpus = cpusAllowed(sc.pid);
  for (const pid of pids) assert.deepEqual(cpusAllowed(pid), sidecarCpus, `worker ${pid} CPUs vs the sidecar's`);
});

// CPUs this process may use, as --workers=auto should count them: the affinity mask, capped by a
// cgroup v2 cpu.max or v1 cpu.cfs_quota_us quota when one is set (rounded down, at least 1).
function expectedAutoWorkers(cpus) {
  let limit = Infinity;
  const tryRead = (f) => {
    try {
      return fs.readFileSync(f, 'utf8').trim();
    } catch {
      return null;
    }
  };
  const v2 = tryRead('/sys/fs/cgroup/cpu.max');
  if (v2) {
    const [q, p] = v2.split(/\s+/);
    if (q !== 'max') limit = Number(q) / Number(p);
  } else {
    const q = Number(tryRead('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ?? -1);
    const p = Number(tryRead('/sys/fs/cgroup/cpu/cpu.cfs_period_us') ?? 100000);
    if (q > 0) limit = q / p;
  }
  return Math.max(1, Math.floor(Math.min(cpus.length, limit)));
}

function autoLine(stderr, n) {
  return stderr.split('\n').find((l) => /\bauto\b/i.test(l) && new RegExp(`\\b${n}\\b`).test(l) && /(cpu|affinity|cgroup|cpuset|quota)/i.test(l));
}

// --workers=auto starts one worker per usable CPU and prints its decision and reason.
test('--workers=auto starts one worker per usable CPU and prints its decision and reason', async (t) => {
  const s = supervisorScope(t);
  const n = expectedAutoWorkers(cpusAllowed(process.pid));
  const sc = await s.start({ workers: 'auto', cmd: appCmd() });
  const pids = await sc.waitAllReady({ n });
  assert.equal(pids.length, n);
  assert.equal([...sc.slotPids().keys()].length, n, `slots in /proc: ${JSON.stringify([...sc.slotPids()])}`);
  assert.ok(autoLine(sc.stderr, n), `no start-up line saying auto chose ${n} workers and why:\n${sc.stderr}`);
});

// --workers=auto under a one-CPU affinity mask starts 1 worker and names the affinity as reason.
test('--workers=auto follows the CPU affinity mask', async (t) => {
  const s = supervisorScope(t);
  const cpu = cpusAllowed(process.pid)[0];
  const sc = await s.start({ workers: 'auto', cmd: appCmd(), wrapper: ['taskset', '-c', String(cpu)] });
  await sc.waitAllReady({ n: 1 });
  assert.equal([...sc.slotPids().keys()].length, 1, `slots in /proc: ${JSON.stringify([...sc.slotPids()])}`);
  const line = autoLine(sc.stderr, 1);
  assert.ok(line, `no start-up line saying auto chose 1 worker and why:\n${sc.stderr}`);
  assert.match(line, /affinity|cpuset|sched/i, `the reason should name the affinity mask: ${line}`);
});

function nonEmptyLines(text) {
  return text.split('\n').filter((l) => l.trim() !== '');
}

const L = '--listen=127.0.0.1:0';
const kBadInvocations = [
  { name: '--workers=0', args: [L, '--workers=0'], flag: 'workers' },
  { name: '--workers=abc', args: [L, '--workers=abc'], flag: 'workers' },
  { name: '--workers=-2', args: [L, '--workers=-2'], flag: 'workers' },
  { name: '--pin=maybe', args: [L, '--workers=1', '--pin=maybe'], flag: 'pin' },
  { name: '--restart-delay=soon', args: [L, '--workers=1', '--restart-delay=soon'], flag: 'restart-delay' },
  { name: '--max-memory=lots', args: [L, '--workers=1', '--max-memory=lots'], flag: 'max-memory' },
  { name: '--log-format=xml', args: [L, '--workers=1', '--log-format=xml'], flag: 'log-format' },
  { name: '--worker-transport=udp', args: [L, '--workers=1', '--worker-transport=udp'], flag: 'worker-transport' },
  { name: '--worker-port-base=70000', args: [L, '--workers=1', '--worker-port-base=70000'], flag: 'worker-port-base' },
  { name: '--backends with -- CMD', args: [L, '--workers=1', '--backends=127.0.0.1:1'], flag: 'backends' },
];

// A bad supervisor flag, or --backends with a command, exits non-zero with one line naming it.
test('bad supervisor flags exit non-zero with one line naming the flag', async (t) => {
  const marker = `drover-never-started-${process.pid}`;
  for (const c of kBadInvocations) {
    await t.test(c.name, async () => {
      const r = await runSidecar(['--admin=', ...c.args, '--', process.execPath, '-e', `setTimeout(()=>{}, 60000) // ${marker}`]);
      assert.notEqual(r.code, 0, `exit code for ${c.args.join(' ')}; stderr: ${r.stderr}`);
      assert.equal(r.signal, null, `killed by a signal; stderr: ${r.stderr}`);
      const lines = nonEmptyLines(r.stderr);
      assert.equal(lines.length, 1, `expected exactly one stderr line, got ${lines.length}:\n${r.stderr}`);
      assert.ok(lines[0].includes(c.flag) || lines[0].includes(c.flag.replace(/-/g, '_')), `stderr line does not name "${c.flag}": ${lines[0]}`);
      assert.ok(!/listening on/.test(r.stderr), 'must not start listening');
    });
  }
  // None of them may have started the command.
  const started = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
  assert.deepEqual(started, [], 'a refused invocation started its command');
});
