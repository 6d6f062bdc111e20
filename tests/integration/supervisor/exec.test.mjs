// Supervisor mode: a worker command that cannot be executed. The child of the fork reports the
// failure with write(2) alone (no strerror, no allocation: it is the child of a multithreaded
// process), exits 127, and the slot goes through the usual crash backoff until it is failed.

import test from 'node:test';
import assert from 'node:assert/strict';
import { supervisorScope, waitFor, metricSum } from './lib/supervisor.mjs';

// A command that does not exist: a one-line reason naming it and its errno, then backoff.
test('a nonexistent command: a clear error with its errno, exit 127, backoff, failed', { timeout: 30000 }, async (t) => {
  const s = supervisorScope(t);
  const missing = '/nonexistent/drover-no-such-command';
  const burst = 2;
  const sc = await s.start({
    workers: 1,
    cmd: [missing, '--flag'],
    flags: ['--restart-delay=50ms', `--restart-burst=${burst}`, '--restart-interval=60s'],
  });
  await waitFor(async () => /failed/.test((await sc.admin('/readyz')).text), {
    timeoutMs: 15000,
    what: 'slot 0 failed',
  }).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  const reason = `drover-sidecar: cannot run the worker command ${missing}: ENOENT, no such file or directory (errno 2)`;
  const lines = sc.stderr.split('\n').filter((l) => l.includes('cannot run the worker command'));
  assert.equal(lines.length, burst + 1, `one reason per start:\n${sc.tail()}`);
  for (const line of lines) assert.ok(line.includes(reason), `want "${reason}" in: ${line}`);
  const exits = sc.stderr.split('\n').filter((l) => /worker 0 \(pid \d+\) exited with code 127 while starting/.test(l));
  assert.equal(exits.length, burst + 1, `exit 127 per start:\n${sc.tail()}`);
  assert.match(sc.stderr, /worker 0 restarts in 50ms/);
  const m = await sc.metrics();
  assert.equal(metricSum(m, 'drover_worker_failed', { slot: '0' }), 1);
  assert.equal(metricSum(m, 'drover_worker_restarts_total', { slot: '0', reason: 'exit_code' }), burst + 1);
});
