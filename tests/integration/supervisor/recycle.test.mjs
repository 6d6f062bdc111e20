// Supervisor mode: recycling workers by request count (--max-requests) and by memory
// (--max-memory), without failing a request.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { supervisorScope, appCmd, tempDir, readJsonLines, waitFor, metricSum, request, pidOf } from './lib/supervisor.mjs';
import { startLoad, summarize } from './lib/load.mjs';
import { readRssBytes } from '../lib/proc.mjs';

// --max-requests=50 recycles workers soon after their 50th request, failing no request.
test('--max-requests recycles workers with zero failed requests', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const limit = 50;
  const log = path.join(tempDir(t), 'starts.jsonl');
  const sc = await s.start({ workers: 2, cmd: appCmd(), env: { APP_START_LOG: log }, flags: [`--max-requests=${limit}`] });
  const first = await sc.waitAllReady();
  const st = await startLoad({ port: sc.port, concurrency: 4, durationMs: 40000, maxRequests: 600 }).done;
  t.diagnostic(summarize(st));
  assert.equal(st.errors.length, 0, `connection errors: ${summarize(st)}`);
  assert.equal(st.non2xx.length, 0, `non-2xx answers: ${summarize(st)}`);
  assert.equal(st.ok, 600);
  let pids;
  await waitFor(
    () => {
      pids = sc.singlePids();
      return pids && pids.every((p) => !first.includes(p));
    },
    { timeoutMs: 10000, what: `new pids in every slot (first ${first.join(',')})` },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  const m = await sc.metrics();
  const recycled = metricSum(m, 'drover_worker_restarts_total', { reason: 'requests' });
  assert.ok(recycled >= 2, `drover_worker_restarts_total{reason="requests"} is ${recycled}`);
  // The replacement should be started soon after answer #50: the old process may go on serving
  // while its replacement starts, but by the replacement's start it has served at most 2 x 50.
  const starts = readJsonLines(log);
  first.forEach((old, i) => {
    const next = starts.find((l) => l.worker === String(i) && !first.includes(l.pid));
    const times = st.timesByPid.get(old) || [];
    const before = times.filter((when) => when < next.t0).length;
    const lag = times.length >= limit ? (next.t0 - times[limit - 1]).toFixed(0) : 'n/a';
    assert.ok(
      before <= 2 * limit,
      `slot ${i}: pid ${old} had served ${before} requests when its replacement ${next.pid} was started, ` +
        `${lag} ms after answer #${limit}, with --max-requests=${limit} (${summarize(st)})`,
    );
  });
});

// drover_worker_rss_bytes follows VmRSS, and --max-memory replaces a worker that grows past it.
test('--max-memory recycles a leaking worker', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const limitMiB = 160;
  const sc = await s.start({ workers: 1, cmd: appCmd(), flags: [`--max-memory=${limitMiB}M`] });
  const [pid] = await sc.waitAllReady();
  let metric = 0;
  await waitFor(
    async () => {
      metric = metricSum(await sc.metrics(), 'drover_worker_rss_bytes', { slot: '0' });
      const rss = readRssBytes(pid);
      return metric > 0 && metric > rss * 0.5 && metric < rss * 2;
    },
    { timeoutMs: 5000, intervalMs: 100, what: `drover_worker_rss_bytes{slot="0"} near VmRSS ${readRssBytes(pid)} (last ${metric})` },
  );
  // Grow the worker past the limit, 40 MiB per request.
  for (let i = 0; i < 10 && (readRssBytes(pid) ?? Infinity) < (limitMiB + 40) * 1024 * 1024; i++) {
    const r = await request(sc.port, { path: '/leak?mb=40' });
    assert.equal(r.status, 200, `leak request ${i}: ${r.status} ${r.text}`);
    if (pidOf(r.text) !== pid) break; // already replaced
  }
  let replacement;
  await waitFor(
    async () => {
      const pids = sc.singlePids();
      replacement = pids && pids[0] !== pid ? pids[0] : undefined;
      return replacement !== undefined && metricSum(await sc.metrics(), 'drover_worker_restarts_total', { slot: '0', reason: 'memory' }) >= 1;
    },
    { timeoutMs: 10000, intervalMs: 100, what: `slot 0 replaced for memory (old pid ${pid})` },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  await waitFor(async () => pidOf((await request(sc.port, { path: '/' })).text) === replacement, { timeoutMs: 5000, what: `an answer from the replacement ${replacement}` });
  assert.ok(readRssBytes(replacement) < limitMiB * 1024 * 1024, 'the replacement starts small');
});

// --max-age=2s replaces each worker once it is that old, for reason "age".
test('--max-age recycles old workers', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: appCmd(), flags: ['--max-age=2s'] });
  const first = await sc.waitAllReady();
  const startedAt = Date.now();
  let pids;
  await waitFor(
    async () => {
      pids = sc.singlePids();
      if (!pids || pids.some((p) => first.includes(p))) return false;
      return metricSum(await sc.metrics(), 'drover_worker_restarts_total', { reason: 'age' }) >= 2;
    },
    { timeoutMs: 10000, intervalMs: 100, what: `both slots replaced for age (first ${first.join(',')})` },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  const ms = Date.now() - startedAt;
  t.diagnostic(`replaced ${ms} ms after the first workers were ready`);
  assert.ok(ms >= 1500, `replaced after ${ms} ms, before --max-age=2s`);
  await sc.waitAllReady();
});
