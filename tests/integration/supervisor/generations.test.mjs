// Supervisor mode: generations g and g+2 of a slot share a port (base+i, base+N+i alternate).
// A reload right after a reload, while generation g still drains long requests, must not start
// g+2 on g's port: it waits for g to exit, every request in flight completes, and no request
// reaches a generation it was not meant for.

import test from 'node:test';
import assert from 'node:assert/strict';
import { supervisorScope, appCmd, waitFor, metricSum, request, pidOf } from './lib/supervisor.mjs';

async function servingPid(sc) {
  const st = await sc.status();
  const slot = st.slots[0];
  return slot.state === 'ready' && !slot.replacing ? slot.pid : null;
}

// Two reloads back to back under long requests on the first generation.
test('a second reload waits for the generation still draining on its port', { timeout: 60000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 1, cmd: appCmd(), flags: ['--kill-timeout=10s', '--grace-period=20s'] });
  const [gen1] = await sc.waitAllReady();
  const longMs = 2500;
  const long = Array.from({ length: 4 }, () => request(sc.port, { path: `/slow?ms=${longMs}`, timeoutMs: 20000 }));
  await waitFor(async () => metricSum(await sc.metrics(), 'drover_backend_outstanding_requests') >= 4, {
    timeoutMs: 5000,
    what: 'four long requests in flight on the first generation',
  });

  assert.equal((await sc.admin('/reload', { method: 'POST' })).status, 202);
  let gen2 = null;
  await waitFor(async () => (gen2 = await servingPid(sc)) !== null && gen2 !== gen1 && !(await sc.status()).reload.running, {
    timeoutMs: 10000,
    what: 'the first reload done',
  });
  assert.equal((await sc.admin('/reload', { method: 'POST' })).status, 202);
  // While the first generation drains, the second keeps serving every new request.
  for (let i = 0; i < 5; i++) {
    const r = await request(sc.port, { path: '/' });
    assert.equal(r.status, 200);
    const pid = pidOf(r.text);
    assert.ok(pid === gen2 || (pid !== gen1 && pid === (await servingPid(sc))), `request ${i} answered by pid ${pid} (gen1 ${gen1}, gen2 ${gen2})`);
  }
  let gen3 = null;
  await waitFor(
    async () => {
      const st = await sc.status();
      return !st.reload.running && st.reload.ok === 2 && (gen3 = await servingPid(sc)) !== null && gen3 !== gen2;
    },
    { timeoutMs: 20000, what: 'the second reload done' },
  ).catch(async (err) => {
    err.message += `\n${await sc.describe()}`;
    throw err;
  });
  const answers = await Promise.all(long);
  answers.forEach((r, i) => {
    assert.equal(r.status, 200, `long request ${i}: ${r.status} ${r.text}`);
    assert.equal(pidOf(r.text), gen1, `long request ${i} answered by ${pidOf(r.text)}, not the first generation ${gen1}`);
  });
  for (let i = 0; i < 10; i++) {
    const r = await request(sc.port, { path: '/' });
    assert.equal(r.status, 200, `request ${i} after the reloads: ${r.status} ${r.text}`);
    assert.equal(pidOf(r.text), gen3, `request ${i} after the reloads answered by ${pidOf(r.text)}, not the third generation ${gen3} (gen1 ${gen1}, gen2 ${gen2})`);
  }
  const st = await sc.status();
  assert.equal(st.slots[0].port, sc.portBase, 'the third generation is back on the base port');
  assert.equal(st.reload.failed, 0);
});
