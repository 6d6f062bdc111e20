// End to end (issue 10): when the cluster API refuses the controller (its Role lacks a verb),
// the admin API says so: droverctl drain and scale exit 1 with PERMISSION_DENIED and a message
// pointing at the controller's Role, and nothing changes. kube-sim runs with tokens (RBAC in
// miniature); both controller replicas reach it through a kubeconfig whose token may read pods
// and scales but patch neither. What the Role allows still works.

import test from 'node:test';
import assert from 'node:assert/strict';
import { adminCluster, NAMESPACE, DRAIN_ANNOTATION, ALL3 } from './lib.mjs';

const kUser = `system:serviceaccount:${NAMESPACE}:drover-controller`;
const kToken = 'controller-token-without-patch';

test('the cluster API refuses the controller: PERMISSION_DENIED naming its Role, nothing changed', { timeout: 120000 }, async (t) => {
  const tokens = {
    [kToken]: {
      user: kUser,
      allow: [
        { verbs: ['get', 'list', 'watch'], resources: ['pods'], namespaces: [NAMESPACE] },
        { verbs: ['get'], resources: ['deployments/scale', 'statefulsets/scale'], namespaces: [NAMESPACE] },
      ],
    },
  };
  const a = await adminCluster(t, { simOptions: { tokens }, kubeToken: kToken });
  const { sim, c } = a;

  await t.test('drain web-a: exit 1, PERMISSION_DENIED about the Role, no annotation, via both replicas', async () => {
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['drain', 'web-a']);
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'PERMISSION_DENIED', r.describe());
      assert.match(r.message, /Role/, r.describe());
      // The cluster API's own words are passed on: who was refused what.
      assert.match(r.message, /cannot patch resource "pods"/, r.describe());
      assert.match(r.stderr, /check its Role/, `the second line says what to fix: ${r.describe()}`);
      assert.equal(r.stdout, '', r.describe());
    }
    assert.equal((sim.getPod(NAMESPACE, 'web-a').metadata.annotations || {})[DRAIN_ANNOTATION], undefined);
    // Nothing moved: every sidecar still has web-a READY at the same version.
    assert.equal(await c.waitTables('web', ALL3), a.version);
  });

  await t.test('scale deployment/web: exit 1, PERMISSION_DENIED, replicas unchanged; GetScale (allowed) works', async () => {
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['scale', 'deployment/web', '--replicas=5']);
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'PERMISSION_DENIED', r.describe());
      assert.match(r.message, /Role/, r.describe());
      assert.match(r.message, /deployments\/scale/, r.describe());
      const g = await a.ctl(i, ['scale', 'deployment/web'], { json: true });
      assert.equal(g.code, 0, g.describe());
      assert.equal(JSON.parse(g.stdout).replicas, 3, g.describe());
    }
    assert.equal(sim.getDeployment(NAMESPACE, 'web').spec.replicas, 3);
    assert.deepEqual(sim.scaleEvents(), [], 'no scale happened in kube-sim');
  });

  await t.test('status (reads only) works through both replicas', async () => {
    const [s0, s1] = await a.waitStatus((st) => st.members.length === 3, 'status through both replicas');
    for (const st of [s0, s1]) {
      for (const m of st.members) {
        assert.equal(m.state, 'READY');
        assert.equal(m.connected, true);
      }
    }
  });
});
