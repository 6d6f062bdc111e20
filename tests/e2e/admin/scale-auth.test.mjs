// End to end (issue 10): `droverctl scale` changes the Deployment's replicas in the cluster API
// (kube-sim's object), through either controller replica; an unknown workload is NOT_FOUND
// naming it; another namespace than the watched one is INVALID_ARGUMENT. A wrong or missing
// admin token is UNAUTHENTICATED and changes nothing (no scale, no drain annotation, no worker
// restarted); the token file is re-read when it changes.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { adminCluster, podPids, waitFor, writeFileAtomic, randomToken, NAMESPACE, DRAIN_ANNOTATION } from './lib.mjs';

test('droverctl scale and the admin token, through both replicas', { timeout: 120000 }, async (t) => {
  const a = await adminCluster(t);
  const { sim } = a;

  await t.test('scale deployment/web --replicas=5 via replica 0: the Deployment has 5', async () => {
    const r = await a.ctl(0, ['scale', 'deployment/web', '--replicas=5']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stdout, 'deployment.apps/web scaled to 5\n', r.describe());
    assert.equal(sim.getDeployment(NAMESPACE, 'web').spec.replicas, 5);
    const last = sim.scaleEvents().at(-1);
    assert.deepEqual({ namespace: last?.namespace, name: last?.name, replicas: last?.replicas }, { namespace: NAMESPACE, name: 'web', replicas: 5 }, `kube-sim's scale events: ${JSON.stringify(sim.scaleEvents())}`);
  });

  await t.test('scale via replica 1 (deploy/ alias), then GetScale via replica 0 shows it', async () => {
    const r = await a.ctl(1, ['scale', 'deploy/web', '--replicas=2']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stdout, 'deployment.apps/web scaled to 2\n', r.describe());
    assert.equal(sim.getDeployment(NAMESPACE, 'web').spec.replicas, 2);
    const g = await a.ctl(0, ['scale', 'deployment/web']);
    assert.equal(g.code, 0, g.describe());
    const row = g.lines.find((l) => l.startsWith('deployment.apps/web'));
    assert.ok(row, g.describe());
    assert.equal(row.split(/\s+/)[1], '2', `DESIRED is 2: ${g.describe()}`);
    const j = await a.ctl(1, ['scale', 'deployment/web'], { json: true });
    assert.equal(j.code, 0, j.describe());
    const reply = JSON.parse(j.stdout);
    assert.equal(reply.replicas, 2);
    assert.equal(reply.kind, 'DEPLOYMENT');
    assert.equal(reply.name, 'web');
    assert.equal(reply.namespace, NAMESPACE);
  });

  await t.test('scale deployment/nope: exit 1, NOT_FOUND naming the workload, via both replicas', async () => {
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['scale', 'deployment/nope', '--replicas=3']);
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'NOT_FOUND', r.describe());
      assert.match(r.message, /nope/, r.describe());
      assert.equal(r.stdout, '', r.describe());
      const g = await a.ctl(i, ['scale', 'statefulset/nope']);
      assert.equal(g.code, 1, g.describe());
      assert.equal(g.grpcCode, 'NOT_FOUND', g.describe());
      assert.match(g.message, /statefulset.*nope/, g.describe());
    }
    assert.equal(sim.getDeployment(NAMESPACE, 'web').spec.replicas, 2, 'web untouched');
  });

  await t.test('scale in another namespace than the watched one: INVALID_ARGUMENT, nothing scaled', async () => {
    // docs/controller.md: INVALID_ARGUMENT for "another namespace than the watched one".
    sim.createDeployment('other', { name: 'web', replicas: 1 });
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['scale', 'deployment/web', '--replicas=4'], { namespace: 'other' });
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'INVALID_ARGUMENT', r.describe());
    }
    assert.equal(sim.getDeployment('other', 'web').spec.replicas, 1, 'the Deployment of namespace other is untouched');
  });

  const pidsBefore = Object.fromEntries(a.pods.map((p) => [p.name, podPids(p)]));
  const noChange = async (what) => {
    assert.equal(sim.getDeployment(NAMESPACE, 'web').spec.replicas, 2, `${what}: replicas unchanged`);
    for (const p of a.pods) {
      const ann = sim.getPod(NAMESPACE, p.name).metadata.annotations || {};
      assert.equal(ann[DRAIN_ANNOTATION], undefined, `${what}: no drain annotation on ${p.name}`);
      assert.deepEqual(podPids(p), pidsBefore[p.name], `${what}: ${p.name}'s workers not restarted`);
    }
  };

  await t.test('a wrong token: exit 1, UNAUTHENTICATED, nothing changed (scale, drain, restart, status)', async () => {
    for (const i of [0, 1]) {
      for (const args of [['scale', 'deployment/web', '--replicas=7'], ['drain', 'web-a'], ['restart', 'web-b'], ['restart', '--all'], ['status'], ['members'], ['undrain', 'web-a'], ['scale', 'deployment/web']]) {
        const r = await a.ctl(i, args, { tokenFile: a.files.wrongTokenFile });
        assert.equal(r.code, 1, r.describe());
        assert.equal(r.grpcCode, 'UNAUTHENTICATED', r.describe());
        assert.match(r.stderr, /token-file|DROVER_TOKEN/, `the second line says what to check: ${r.describe()}`);
        assert.equal(r.stdout, '', r.describe());
      }
    }
    await noChange('wrong token');
  });

  await t.test('no token at all (no --token-file, no DROVER_TOKEN): UNAUTHENTICATED, nothing changed', async () => {
    for (const i of [0, 1]) {
      for (const args of [['scale', 'deployment/web', '--replicas=7'], ['drain', 'web-c'], ['restart', 'web-c'], ['status']]) {
        const r = await a.ctl(i, args, { tokenFile: null });
        assert.equal(r.code, 1, r.describe());
        assert.equal(r.grpcCode, 'UNAUTHENTICATED', r.describe());
      }
      // DROVER_TOKEN holding a wrong token, likewise.
      const r = await a.ctl(i, ['drain', 'web-b'], { tokenFile: null, env: { DROVER_TOKEN: 'not-the-token' } });
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'UNAUTHENTICATED', r.describe());
      // ...and the right one in DROVER_TOKEN works.
      const ok = await a.ctl(i, ['scale', 'deployment/web'], { tokenFile: null, env: { DROVER_TOKEN: a.files.adminToken } });
      assert.equal(ok.code, 0, ok.describe());
    }
    await noChange('no token');
  });

  await t.test('the admin token file is re-read when it changes: the new token works, the old one is refused', async () => {
    const fresh = randomToken();
    const freshFile = path.join(a.files.dir, 'fresh-token');
    writeFileAtomic(freshFile, `${fresh}\n`);
    const oldCopy = path.join(a.files.dir, 'old-token');
    writeFileAtomic(oldCopy, `${a.files.adminToken}\n`);
    writeFileAtomic(a.files.adminTokenFile, `${fresh}\n`);
    for (const i of [0, 1]) {
      await waitFor(async () => (await a.ctl(i, ['scale', 'deployment/web'], { tokenFile: freshFile })).code === 0, {
        timeoutMs: 15000,
        intervalMs: 200,
        what: `replica ${i} to accept the rotated admin token`,
      });
      const old = await a.ctl(i, ['scale', 'deployment/web', '--replicas=9'], { tokenFile: oldCopy });
      assert.equal(old.code, 1, old.describe());
      assert.equal(old.grpcCode, 'UNAUTHENTICATED', old.describe());
    }
    await noChange('old token after rotation');
    // Replica-to-replica calls use the same (re-read) token: status through each still sees both.
    await a.waitStatus((st) => st.replicas.length === 2, 'both replicas reachable with the rotated token', { timeoutMs: 15000 });
    const r = await a.ctl(1, ['scale', 'deployment/web', '--replicas=3'], { tokenFile: freshFile });
    assert.equal(r.code, 0, r.describe());
    assert.equal(sim.getDeployment(NAMESPACE, 'web').spec.replicas, 3);
  });
});
