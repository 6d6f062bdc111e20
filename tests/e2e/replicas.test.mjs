// End to end (issue 7): the controller is not on the data path. Killed (SIGKILL), the sidecars
// keep routing with their last table, including across pods; restarted on its port, they
// resync to the version the cluster has meanwhile. With two replicas, sidecars given both move
// to the survivor when theirs dies and keep getting updates, and both replicas publish the same
// version for the same cluster state.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cluster, expectSticky, metric, findSubscriber, waitFor, NAMESPACE } from './lib/cluster.mjs';

const all3 = { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' };

test('the controller killed: sidecars keep routing with the last table, then resync when it returns', { timeout: 90000 }, async (t) => {
  const c = cluster(t);
  await c.startSim();
  const ctl = await c.startController();
  const pods = await c.addPods(['web-a', 'web-b', 'web-c']);
  const cc = pods[2];
  const v1 = await c.waitTables('web', all3);
  const sessions = [];
  for (const p of pods) sessions.push(await p.newSession());

  await ctl.kill('SIGKILL');
  await waitFor(async () => {
    for (const p of pods) if ((await metric(p, 'drover_controller_connected')) !== 0) return false;
    return true;
  }, { timeoutMs: 15000, what: 'drover_controller_connected 0 on every sidecar' });

  // No controller: the last table stays in force and sessions cross pods as before.
  for (const p of pods) {
    const m = await p.membership();
    assert.equal(m.version, v1, `${p.name} keeps version ${v1}`);
    assert.equal(m.members.length, 3);
  }
  for (const s of sessions) await expectSticky(s, pods, 'controller down');
  for (const p of pods) assert.equal((await p.newSession()).pod, p.name, `${p.name} places new sessions itself`);

  // The cluster changes meanwhile; the controller comes back on the same port and every sidecar
  // resyncs to the new version.
  c.setReady('web-c', false);
  await ctl.start();
  const v2 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'draining' }, { timeoutMs: 30000 });
  assert.notEqual(v2, v1);
  const st = await ctl.status();
  for (const p of pods) {
    assert.equal(await metric(p, 'drover_controller_connected'), 1, `${p.name} connected again`);
    assert.equal(findSubscriber(st, NAMESPACE, p.name)?.applied_version, v2, `${p.name} at ${v2} in the controller's /status`);
  }
  for (const s of sessions) await expectSticky(s, pods, 'after the resync');
  const s = await cc.newSession();
  assert.ok(['web-a', 'web-b'].includes(s.pod), `a new session at draining web-c goes to a ready pod (${s.where})`);
});

// Which controller each pod's sidecar is subscribed to now (its /status subscribers), once every
// pod is on exactly one of them at `version`.
async function placement(c, pods, version) {
  let where = {};
  await waitFor(
    async () => {
      where = {};
      const statuses = await Promise.all(c.controllers.filter((x) => x.alive).map(async (x) => [x, await x.status()]));
      for (const p of pods) {
        const on = statuses.filter(([, st]) => findSubscriber(st, NAMESPACE, p.name)?.applied_version === version);
        if (on.length !== 1) return false;
        where[p.name] = on[0][0];
      }
      return true;
    },
    { timeoutMs: 20000, what: `each sidecar on exactly one controller at ${version}` },
  );
  return where;
}

test('two controller replicas: the same version for the same state; a sidecar moves to the survivor', { timeout: 90000 }, async (t) => {
  const c = cluster(t);
  await c.startSim();
  const c1 = await c.startController();
  const c2 = await c.startController();
  // Sidecars are given both, in different orders, so that both replicas have subscribers.
  const [a, b, cc] = [
    await c.addPod('web-a', { controllers: [c1.address, c2.address] }),
    await c.addPod('web-b', { controllers: [c2.address, c1.address] }),
    await c.addPod('web-c', { controllers: [c1.address, c2.address] }),
  ];
  const pods = [a, b, cc];
  // waitTables requires both replicas' /status to show one version for the group.
  const v1 = await c.waitTables('web', all3);
  const g1 = await c1.group('web');
  const g2 = await c2.group('web');
  assert.deepEqual(g1, g2, 'both replicas publish the same table and version');
  const sessions = [];
  for (const p of pods) sessions.push(await p.newSession());

  // A change seen by both: one new version, the same on both.
  c.annotate('web-b', { 'drover.io/drain': 'true' });
  const v2 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'draining', 'web-c': 'ready' });
  assert.notEqual(v2, v1);
  assert.equal((await c1.group('web')).version, (await c2.group('web')).version);

  // Kill the replica with the most sidecars; those move to the other one.
  const where = await placement(c, pods, v2);
  const count = (x) => pods.filter((p) => where[p.name] === x).length;
  const victim = count(c1) >= count(c2) ? c1 : c2;
  const survivor = victim === c1 ? c2 : c1;
  const moving = pods.filter((p) => where[p.name] === victim);
  assert.ok(moving.length >= 1, `sidecars on ${victim.name}: ${pods.map((p) => `${p.name}@${where[p.name].name}`).join(', ')}`);
  await victim.kill('SIGKILL');
  await waitFor(
    async () => {
      const st = await survivor.status();
      return pods.every((p) => findSubscriber(st, NAMESPACE, p.name));
    },
    { timeoutMs: 30000, what: `every sidecar subscribed to ${survivor.name} after ${victim.name} died` },
  );
  for (const s of sessions) await expectSticky(s, pods, `${victim.name} down`);

  // Updates keep coming through the survivor, to the sidecars that moved too.
  c.annotate('web-b', { 'drover.io/drain': null });
  c.setReady('web-c', false);
  const v3 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'draining' }, { controllers: [survivor] });
  assert.ok(![v1, v2].includes(v3));
  for (const p of moving) assert.equal((await p.membership()).version, v3, `${p.name} moved and applied ${v3}`);
  const st = await survivor.status();
  for (const p of pods) assert.equal(findSubscriber(st, NAMESPACE, p.name).applied_version, v3);

  // The killed replica comes back and derives the same version from the same cluster state.
  await victim.start();
  await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'draining' });
  assert.equal((await victim.group('web')).version, v3, 'the restarted replica publishes the same version');
  for (const s of sessions) await expectSticky(s, pods, 'at the end (web-c draining keeps its sessions)');
});
