// End to end (issue 10): `droverctl status` gives the same answer through either controller
// replica, with every sidecar's report whichever replica its stream is on (the Replica
// fan-out); `droverctl drain` through one replica sets drover.io/drain=true on the pod in the
// cluster API, every replica and every sidecar see the member DRAINING, its old sessions stay
// on its same workers and new sessions arriving at it are placed on the other members;
// `undrain` makes it take new sessions again.

import test from 'node:test';
import assert from 'node:assert/strict';
import { adminCluster, findSubscriber, NAMESPACE, DRAIN_ANNOTATION, ALL3 } from './lib.mjs';
import { expectSticky } from '../lib/cluster.mjs';

// The members of a status reply, by id, without what changes from one report to the next.
function memberView(st) {
  return Object.fromEntries(
    (st.members || []).map((m) => [
      m.id,
      {
        group: m.group,
        state: m.state,
        address: m.address,
        slots: m.slots,
        drainAnnotation: m.drainAnnotation,
        connected: m.connected,
        controller: m.controller,
        appliedVersion: m.appliedVersion,
        workersReady: m.workersReady,
        workersTotal: m.workersTotal,
      },
    ]),
  );
}

test('status through either replica, drain and undrain through the other', { timeout: 120000 }, async (t) => {
  const a = await adminCluster(t);
  const { sim, c } = a;
  const [A, B, C] = a.pods;

  await t.test('status --json: the same members, states, reports and replicas through both replicas', async () => {
    // Which replica each sidecar's stream is on, from the replicas' own /status.
    const on = {};
    for (const p of a.pods) {
      const x = await a.streamOf(p.name);
      assert.ok(x, `${p.name}'s sidecar is subscribed to some replica`);
      on[p.name] = x.name;
    }
    assert.equal(on['web-a'], a.replicas[0].name, 'web-a streams from replica 0 (its only --controller)');
    assert.equal(on['web-b'], a.replicas[1].name, 'web-b streams from replica 1 (its only --controller)');

    const [s0, s1] = await a.waitStatus(() => true, 'status through both replicas');
    for (const [i, st] of [s0, s1].entries()) {
      assert.equal(st.namespace, NAMESPACE);
      const names = st.replicas.map((r) => r.name).sort();
      assert.deepEqual(names, a.replicas.map((x) => x.name).sort(), `replica ${i} lists both replicas`);
      for (const r of st.replicas) {
        assert.equal(r.reachable, true, `replica ${i}: ${r.name} reachable: ${JSON.stringify(r)}`);
        assert.equal(r.synced, true, `replica ${i}: ${r.name} synced`);
      }
      const subs = Object.fromEntries(st.replicas.map((r) => [r.name, r.subscribers]));
      assert.deepEqual(
        subs,
        Object.fromEntries(a.replicas.map((x) => [x.name, Object.values(on).filter((n) => n === x.name).length])),
        `replica ${i}: subscribers per replica`,
      );
      const g = st.groups.find((x) => x.group === 'web');
      assert.equal(g.version, a.version, `replica ${i}: group version`);
      assert.equal(g.members, 3);
      assert.equal(g.sidecarsAtVersion, 3);
      const view = memberView(st);
      assert.deepEqual(Object.keys(view).sort(), ['web-a', 'web-b', 'web-c']);
      for (const p of a.pods) {
        const m = view[p.name];
        const applied = (await p.membership()).version;
        assert.deepEqual(
          m,
          {
            group: 'web',
            state: 'READY',
            address: p.address,
            slots: 2,
            drainAnnotation: false,
            connected: true,
            controller: on[p.name],
            appliedVersion: applied,
            workersReady: 2,
            workersTotal: 2,
          },
          `replica ${i}: member ${p.name}`,
        );
        const full = st.members.find((x) => x.id === p.name);
        const pids = [...p.workerPids().values()].flat().sort();
        const reported = (full.slotsDetail || []).map((s) => s.pid).sort();
        assert.deepEqual(reported, pids, `replica ${i}: ${p.name}'s reported worker pids are its real ones`);
        assert.ok(Number(full.rssBytes) > 0, `replica ${i}: ${p.name} reports RSS`);
      }
    }
    assert.deepEqual(memberView(s0), memberView(s1), 'both replicas give the same members');

    // The table for people says the same.
    const r = await a.ctl(1, ['status']);
    assert.equal(r.code, 0, r.describe());
    for (const p of a.pods) {
      const row = r.lines.find((l) => l.startsWith(`${p.name} `));
      assert.ok(row, r.describe());
      const cols = row.split(/\s+/);
      assert.equal(cols[2], 'READY', row);
      assert.equal(cols[3], '2/2', row);
      assert.equal(cols.at(-1), on[p.name], row);
    }
  });

  await t.test('members: one row per member through both replicas; --group keeps one group', async () => {
    const views = [];
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['members', '--group=web'], { json: true });
      assert.equal(r.code, 0, r.describe());
      const reply = JSON.parse(r.stdout);
      assert.deepEqual(reply.members.map((m) => m.id).sort(), ['web-a', 'web-b', 'web-c'], r.describe());
      views.push(memberView(reply));
      const none = await a.ctl(i, ['members', '--group=nope'], { json: true });
      assert.equal(none.code, 0, none.describe());
      assert.deepEqual(JSON.parse(none.stdout).members ?? [], [], none.describe());
      const table = await a.ctl(i, ['members']);
      assert.equal(table.code, 0, table.describe());
      for (const p of a.pods) {
        const cols = (table.lines.find((l) => l.startsWith(`${p.name} `)) ?? '').split(/\s+/);
        assert.deepEqual(cols.slice(0, 6), [p.name, 'web', 'READY', p.address, '2', '2/2'], table.describe());
      }
    }
    assert.deepEqual(views[0], views[1]);
  });

  let before;
  await t.test('drain web-a via replica 1: annotation in the cluster API, DRAINING everywhere', async () => {
    before = await A.newSession();
    assert.equal(before.pod, 'web-a', `a session made at web-a stays there: ${before.where}`);
    const r = await a.ctl(1, ['drain', 'web-a']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stdout, 'member web-a drained\n', r.describe());
    assert.equal(sim.getPod(NAMESPACE, 'web-a').metadata.annotations[DRAIN_ANNOTATION], 'true');
    for (const p of ['web-b', 'web-c']) assert.equal((sim.getPod(NAMESPACE, p).metadata.annotations || {})[DRAIN_ANNOTATION], undefined);

    // Every sidecar's /status membership and every controller's table.
    const v = await c.waitTables('web', { ...ALL3, 'web-a': 'draining' }, { exceptVersion: a.version });
    await a.waitStatus((st) => {
      const m = st.members.find((x) => x.id === 'web-a');
      const others = st.members.filter((x) => x.id !== 'web-a');
      return (
        m?.state === 'DRAINING' &&
        m.drainAnnotation === true &&
        others.every((x) => x.state === 'READY' && !x.drainAnnotation) &&
        st.members.every((x) => x.appliedVersion === v && x.connected)
      );
    }, 'web-a DRAINING (drain annotation) in both replicas, every sidecar at the new version');
    const table = await a.ctl(0, ['status']);
    assert.match(table.lines.find((l) => l.startsWith('web-a ')) ?? '', /^web-a\s+web\s+DRAINED\s/, table.describe());

    const again = await a.ctl(0, ['drain', 'web-a']);
    assert.equal(again.code, 0, again.describe());
    assert.equal(again.stdout, 'member web-a already drained\n', again.describe());
  });

  await t.test('drained web-a: its old session stays on its same worker; new sessions at it go to B and C', async () => {
    await expectSticky(before, [A, B, C], 'after the drain');
    const bPids = new Set([...B.workerPids().values()].flat());
    const cPids = new Set([...C.workerPids().values()].flat());
    const placed = { 'web-b': 0, 'web-c': 0 };
    for (let i = 0; i < 8; i++) {
      const s = await A.newSession();
      assert.ok(s.pod === 'web-b' || s.pod === 'web-c', `new session at drained web-a placed on ${s.where}`);
      assert.ok((s.pod === 'web-b' ? bPids : cPids).has(s.pid), `${s.where} is a worker of ${s.pod}'s sidecar`);
      placed[s.pod]++;
      // The cookie it got is for that member: through any pod it reaches the same worker.
      await expectSticky(s, [A, B, C], 'a session placed off drained web-a');
    }
    assert.ok(placed['web-b'] > 0 && placed['web-c'] > 0, `both ready members get new sessions: ${JSON.stringify(placed)}`);
    // New sessions at the ready members stay local.
    assert.equal((await B.newSession()).pod, 'web-b');
    assert.equal((await C.newSession()).pod, 'web-c');
  });

  await t.test('undrain web-a via replica 0: READY again, new sessions at A stay on A', async () => {
    const r = await a.ctl(0, ['undrain', 'web-a']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stdout, 'member web-a undrained\n', r.describe());
    assert.equal((sim.getPod(NAMESPACE, 'web-a').metadata.annotations || {})[DRAIN_ANNOTATION], undefined);
    const v = await c.waitTables('web', ALL3);
    assert.equal(v, a.version, 'the same membership has the same version again');
    await a.waitStatus(
      (st) => st.members.every((x) => x.state === 'READY' && !x.drainAnnotation && x.appliedVersion === v),
      'every member READY in both replicas',
    );
    for (let i = 0; i < 4; i++) {
      const s = await A.newSession();
      assert.equal(s.pod, 'web-a', `new session at undrained web-a: ${s.where}`);
    }
    await expectSticky(before, [A, B, C], 'after the undrain');
    const again = await a.ctl(1, ['undrain', 'web-a']);
    assert.equal(again.stdout, 'member web-a already undrained\n', again.describe());
  });

  await t.test('drain of an unknown pod: NOT_FOUND naming it; another namespace: INVALID_ARGUMENT', async () => {
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['drain', 'web-zzz']);
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'NOT_FOUND', r.describe());
      assert.match(r.message, /web-zzz/, r.describe());
      const o = await a.ctl(i, ['drain', 'web-a'], { namespace: 'other' });
      assert.equal(o.code, 1, o.describe());
      assert.equal(o.grpcCode, 'INVALID_ARGUMENT', o.describe());
    }
    assert.equal((sim.getPod(NAMESPACE, 'web-a').metadata.annotations || {})[DRAIN_ANNOTATION], undefined);
  });

  // The replicas' own /status agree with what droverctl showed (each sidecar on one replica).
  for (const p of a.pods) {
    const n = (await Promise.all(a.replicas.map(async (x) => (findSubscriber(await x.status(), NAMESPACE, p.name) ? 1 : 0)))).reduce((s, v) => s + v, 0);
    assert.equal(n, 1, `${p.name} is subscribed to exactly one replica`);
  }
});
