// Cookie sessions name a worker *slot*, not a process: a crash-restart or a rolling reload of a
// worker keeps its sessions on its slot (served by the new process, no new cookie). Supervisor
// mode with the test app of tests/integration/supervisor/apps (its JSON names worker and pid).

import test from 'node:test';
import assert from 'node:assert/strict';
import { supervisorScope, appCmd, waitFor } from '../supervisor/lib/supervisor.mjs';
import { kCookie, get, dropCookie, stickyCounts, diffCounts, decodeCookieValue } from './lib/sticky.mjs';

// One session cookie per slot: new sessions until every slot has one (bounded).
async function sessionPerSlot(sc, n) {
  const bySlot = new Map();
  for (let i = 0; i < 40 && bySlot.size < n; i++) {
    const r = await get(sc.port);
    const value = dropCookie(r);
    const slot = decodeCookieValue(value).slot;
    assert.equal(String(slot), String(r.json.worker), 'the cookie names the slot that answered');
    if (!bySlot.has(slot)) bySlot.set(slot, value);
  }
  assert.equal(bySlot.size, n, `a session on each of ${n} slots`);
  return bySlot;
}

// Each session, with its cookie, reaches its slot's current process as a plain hit.
async function assertOnSlots(sc, bySlot, pids, what) {
  const before = await stickyCounts(sc.adminPort);
  for (const [slot, value] of bySlot) {
    for (let i = 0; i < 3; i++) {
      const r = await get(sc.port, { headers: { cookie: `${kCookie}=${value}` } });
      assert.equal(r.status, 200);
      assert.deepEqual([String(r.json.worker), r.json.pid], [String(slot), pids[slot]], `${what}: session of slot ${slot} on its current process`);
      assert.equal(dropCookie(r), undefined, `${what}: no new cookie`);
    }
  }
  const d = diffCounts(before, await stickyCounts(sc.adminPort));
  assert.equal(d.hit, 3 * bySlot.size, `${what}: all hits ${JSON.stringify(d)}`);
}

// Sessions stay on their slot across a worker crash and a rolling reload.
test('sessions stay on their slot across a worker crash and a rolling reload', { timeout: 90000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 3, cmd: appCmd(), flags: ['--pin=false', '--ready-path=/ready', '--restart-delay=50ms'] });
  const pids0 = await sc.waitAllReady();
  const bySlot = await sessionPerSlot(sc, 3);
  await assertOnSlots(sc, bySlot, pids0, 'at start');

  process.kill(pids0[1], 'SIGKILL');
  const pids1 = await waitFor(
    async () => {
      const st = await sc.status();
      const p = st.slots.map((x) => x.pid);
      return st.slots.every((x) => x.state === 'ready') && p[1] !== pids0[1] ? p : null;
    },
    { timeoutMs: 20000, what: 'slot 1 restarted and ready' },
  );
  await sc.waitAllReady();
  await assertOnSlots(sc, bySlot, pids1, 'after the crash of slot 1');

  const r = await sc.admin('/reload', { method: 'POST' });
  assert.equal(r.status, 202);
  const pids2 = await waitFor(
    async () => {
      const st = await sc.status();
      const p = st.slots.map((x) => x.pid);
      return !st.reload.running && st.slots.every((x, i) => x.state === 'ready' && p[i] !== pids1[i]) ? p : null;
    },
    { timeoutMs: 45000, what: 'the rolling reload to replace every slot' },
  );
  await sc.waitAllReady();
  await assertOnSlots(sc, bySlot, pids2, 'after the reload');
});
