// Supervisor mode: worker stdout and stderr reach the sidecar's output one line at a time,
// prefixed with the worker id (`[worker i] line`), or as JSON lines with --log-format=json.

import test from 'node:test';
import assert from 'node:assert/strict';
import { supervisorScope, appCmd, waitFor } from './lib/supervisor.mjs';

const kEscaped = 'quote=" backslash=\\ tab=\t unicode=é';

// Every worker stdout/stderr line comes out prefixed `[worker i] `, one line at a time.
test('worker output lines are prefixed with the worker id', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: appCmd(), env: { APP_LINES: '1' } });
  const pids = await sc.waitAllReady();
  const want = [];
  for (let i = 0; i < 2; i++) {
    want.push(`[worker ${i}] out-line worker=${i} pid=${pids[i]}`);
    want.push(`[worker ${i}] err-line worker=${i} pid=${pids[i]}`);
    want.push(`[worker ${i}] multi-a worker=${i}`);
    want.push(`[worker ${i}] multi-b worker=${i}`);
    want.push(`[worker ${i}] escape worker=${i} ${kEscaped}`);
  }
  const lines = () => sc.output().split('\n');
  await waitFor(() => want.every((w) => lines().includes(w)), { timeoutMs: 5000, what: 'every prefixed worker line' }).catch((err) => {
    err.message += `\nmissing: ${JSON.stringify(want.filter((w) => !lines().includes(w)))}\noutput:\n${sc.output().slice(-3000)}`;
    throw err;
  });
});

// --log-format=json writes each worker line as a parseable {time,worker,pid,stream,message}.
test('--log-format=json writes worker lines as parseable JSON', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 2, cmd: appCmd(), env: { APP_LINES: '1' }, flags: ['--log-format=json'] });
  const pids = await sc.waitAllReady();
  const records = () => {
    const out = [];
    for (const line of sc.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch (err) {
        throw new Error(`unparsable JSON log line: ${line} (${err.message})`);
      }
      out.push(rec);
    }
    return out;
  };
  const find = (msg) => records().find((r) => r.message === msg);
  const want = [];
  for (let i = 0; i < 2; i++) {
    want.push({ message: `out-line worker=${i} pid=${pids[i]}`, worker: i, stream: 'stdout' });
    want.push({ message: `err-line worker=${i} pid=${pids[i]}`, worker: i, stream: 'stderr' });
    want.push({ message: `multi-a worker=${i}`, worker: i, stream: 'stdout' });
    want.push({ message: `multi-b worker=${i}`, worker: i, stream: 'stdout' });
    want.push({ message: `escape worker=${i} ${kEscaped}`, worker: i, stream: 'stdout' });
  }
  await waitFor(() => want.every((w) => find(w.message)), { timeoutMs: 5000, what: 'every worker line as JSON' }).catch((err) => {
    err.message += `\nmissing: ${JSON.stringify(want.filter((w) => !find(w.message)).map((w) => w.message))}\noutput:\n${sc.output().slice(-3000)}`;
    throw err;
  });
  for (const w of want) {
    const rec = find(w.message);
    assert.deepEqual(Object.keys(rec).sort(), ['message', 'pid', 'stream', 'time', 'worker'], `fields of ${JSON.stringify(rec)}`);
    assert.equal(String(rec.worker), String(w.worker), `worker of ${JSON.stringify(rec)}`);
    assert.equal(Number(rec.pid), pids[w.worker], `pid of ${JSON.stringify(rec)}`);
    assert.equal(rec.stream, w.stream, `stream of ${JSON.stringify(rec)}`);
    const when = typeof rec.time === 'number' ? rec.time * (rec.time < 1e11 ? 1000 : 1) : Date.parse(rec.time);
    assert.ok(Number.isFinite(when) && Math.abs(when - Date.now()) < 60000, `time of ${JSON.stringify(rec)}`);
  }
  // No worker line in text form slipped through.
  assert.ok(!/^\[worker \d+\]/m.test(sc.output()), `text-format worker lines with --log-format=json:\n${sc.output().slice(-2000)}`);
});
