// The real kubectl 1.31 against kube-sim: discovery, get, watch, annotate, delete with grace,
// scale, and bearer-token authorization, with nothing faked on kubectl's side (a kubeconfig
// pointing at the simulator's plain-http URL is all it needs).

import test from 'node:test';
import assert from 'node:assert/strict';
import { kubeTools, writeKubeconfig, runKubectl, spawnKubectl } from '../../support/kube-tools.mjs';
import { track, exited, waitFor, withDeadline } from '../lib/proc.mjs';
import { simFor, tmpDir, collectLines, names } from './helpers.mjs';

async function setup(t, simOptions, token) {
  kubeTools(); // fails with the fix when kubectl is missing
  const sim = await simFor(t, simOptions);
  const kubeconfig = writeKubeconfig(tmpDir(t), { server: sim.url, token, ca: sim.caCert });
  const kubectl = async (...args) => runKubectl(args, { kubeconfig });
  return { sim, kubeconfig, kubectl };
}

function ok(r) {
  assert.equal(r.code, 0, `kubectl failed (code ${r.code}):\n${r.stderr}`);
  return r.stdout;
}

// `get pods -o json` returns the simulator's pods; a label selector narrows them.
test('kubectl get pods -o json and -l', async (t) => {
  const { sim, kubectl } = await setup(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' }, ip: '127.1.0.10' });
  sim.runPod({ name: 'web-1', labels: { app: 'web' } });
  sim.runPod({ name: 'db-0', labels: { app: 'db' } });
  const all = JSON.parse(ok(await kubectl('get', 'pods', '-o', 'json')));
  assert.equal(all.kind, 'List');
  assert.deepEqual(names(all.items), ['db-0', 'web-0', 'web-1']);
  const web0 = all.items.find((p) => p.metadata.name === 'web-0');
  assert.equal(web0.status.podIP, '127.1.0.10');
  assert.equal(web0.status.conditions.find((c) => c.type === 'Ready').status, 'True');
  const web = JSON.parse(ok(await kubectl('get', 'pods', '-l', 'app in (web),app!=db', '-o', 'json')));
  assert.deepEqual(names(web.items), ['web-0', 'web-1']);
  // Human output comes from the server-side Table.
  const table = ok(await kubectl('get', 'pods', '-o', 'wide'));
  assert.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/m);
  assert.match(table, /^web-0\s+1\/1\s+Running\s+0\s+\S+\s+127\.1\.0\.10\s+sim-node/m);
  const missing = await kubectl('get', 'pod', 'nope');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Error from server \(NotFound\): pods "nope" not found/);
});

// `get pods -w` lists, then watches from the list's resourceVersion and prints every change.
test('kubectl get pods -w sees ADDED, MODIFIED and DELETED', async (t) => {
  const { sim, kubeconfig } = await setup(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  const child = track(spawnKubectl(['get', 'pods', '-w', '-o', 'json', '--output-watch-events'], { kubeconfig }));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited(child);
  });
  const lines = collectLines(child.stdout);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const events = () => lines.map((l) => JSON.parse(l)).map((e) => `${e.type} ${e.object.metadata.name}`);
  const seen = (what) => waitFor(() => events().includes(what), { timeoutMs: 10000, what: `${what} from kubectl (stderr: ${stderr})` });
  await seen('ADDED web-0');
  await waitFor(() => sim.stats().openWatches === 1, { what: 'kubectl watch open' });
  sim.runPod({ name: 'web-1', labels: { app: 'web' } });
  await seen('ADDED web-1');
  sim.setReady('default', 'web-0', false);
  await seen('MODIFIED web-0');
  sim.deletePod('default', 'web-1', { graceSeconds: 0 });
  await seen('DELETED web-1');
  const modified = lines.map((l) => JSON.parse(l)).find((e) => e.type === 'MODIFIED' && e.object.metadata.name === 'web-0');
  assert.equal(modified.object.status.conditions.find((c) => c.type === 'Ready').status, 'False');
});

// `annotate` (GET, then a merge patch) lands on the simulator's pod and bumps its resourceVersion.
test('kubectl annotate pod sets drover.io/drain', async (t) => {
  const { sim, kubectl } = await setup(t);
  const before = sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  assert.match(ok(await kubectl('annotate', 'pod', 'web-0', 'drover.io/drain=true')), /pod\/web-0 annotated/);
  const after = sim.getPod('default', 'web-0');
  assert.equal(after.metadata.annotations['drover.io/drain'], 'true');
  assert.ok(Number(after.metadata.resourceVersion) > Number(before.metadata.resourceVersion));
  assert.match(ok(await kubectl('annotate', 'pod', 'web-0', 'drover.io/drain-')), /annotated/);
  assert.equal(sim.getPod('default', 'web-0').metadata.annotations, undefined);
});

// `delete --wait=false` starts a graceful deletion (deletionTimestamp, the pod's 30 s grace);
// the kubelet's final delete (finishDeletion) removes it. With --grace-period=1 the simulator's
// own timer removes it; a plain `delete` waits until the pod is gone.
test('kubectl delete pod: graceful deletion is observable', async (t) => {
  const { sim, kubectl, kubeconfig } = await setup(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  assert.match(ok(await kubectl('delete', 'pod', 'web-0', '--wait=false')), /pod "web-0" deleted/);
  const terminating = sim.getPod('default', 'web-0');
  assert.ok(terminating.metadata.deletionTimestamp, 'deletionTimestamp set');
  assert.equal(terminating.metadata.deletionGracePeriodSeconds, 30);
  assert.match(ok(await kubectl('get', 'pod', 'web-0')), /web-0\s+1\/1\s+Terminating/);
  sim.finishDeletion('default', 'web-0');
  assert.equal(sim.getPod('default', 'web-0'), null);

  sim.runPod({ name: 'web-1' });
  ok(await kubectl('delete', 'pod', 'web-1', '--grace-period=1', '--wait=false'));
  assert.equal(sim.getPod('default', 'web-1').metadata.deletionGracePeriodSeconds, 1);
  await waitFor(() => sim.getPod('default', 'web-1') === null, { timeoutMs: 5000, what: 'web-1 removed after its 1 s grace' });

  sim.runPod({ name: 'web-2' });
  const waiting = track(spawnKubectl(['delete', 'pod', 'web-2'], { kubeconfig }));
  let out = '';
  waiting.stdout.on('data', (d) => (out += d));
  await waitFor(() => sim.getPod('default', 'web-2')?.metadata.deletionTimestamp, { timeoutMs: 10000, what: 'web-2 terminating' });
  await waitFor(() => sim.stats().openWatches === 1, { timeoutMs: 10000, what: 'kubectl waiting on a watch' });
  assert.equal(waiting.exitCode, null, 'kubectl delete waits while the pod terminates');
  sim.finishDeletion('default', 'web-2');
  const r = await withDeadline(exited(waiting), 10000, 'kubectl delete to return');
  assert.equal(r.code, 0);
  assert.match(out, /pod "web-2" deleted/);
});

// `scale` goes through the deployments/scale subresource: the hook sees it, spec.replicas moves.
test('kubectl scale deployment and statefulset; get deployment', async (t) => {
  const { sim, kubectl } = await setup(t);
  const scaled = [];
  sim.onScale((kind, ns, name, replicas) => scaled.push([kind, ns, name, replicas]));
  sim.createDeployment('default', { name: 'web', replicas: 1 });
  sim.createStatefulSet('default', { name: 'db', replicas: 1 });
  assert.match(ok(await kubectl('scale', 'deployment/web', '--replicas=3')), /deployment.apps\/web scaled/);
  assert.deepEqual(scaled, [['Deployment', 'default', 'web', 3]]);
  const d = sim.getDeployment('default', 'web');
  assert.equal(d.spec.replicas, 3);
  assert.equal(d.metadata.generation, 2);
  assert.match(ok(await kubectl('get', 'deployment', 'web')), /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+0\/3\s+0\s+0\s+/);
  assert.equal(ok(await kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}')), '3');
  ok(await kubectl('scale', 'sts', 'db', '--replicas=2'));
  assert.deepEqual(scaled[1], ['StatefulSet', 'default', 'db', 2]);
  // A precondition that no longer holds is a conflict, as on a real cluster.
  const stale = await kubectl('scale', 'deployment/web', '--replicas=5', '--current-replicas=1');
  assert.notEqual(stale.code, 0);
  assert.match(stale.stderr, /Expected replicas to be 1, was 3/);
  assert.equal(sim.getDeployment('default', 'web').spec.replicas, 3);
});

// Bearer tokens over TLS (client-go sends no token over plain http): an unknown token is 401,
// a verb the token's rules do not allow is 403.
test('kubectl with tokens over TLS: Unauthorized and Forbidden', async (t) => {
  const tokens = {
    'reader-token': { user: 'reader', allow: [{ verbs: ['get', 'list', 'watch'], resources: ['pods'], namespaces: ['default'] }] },
  };
  const { sim, kubectl } = await setup(t, { tokens, tls: true }, 'reader-token');
  assert.match(sim.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  sim.runPod({ name: 'web-0' });
  assert.match(ok(await kubectl('get', 'pods')), /web-0/);
  const denied = await kubectl('annotate', 'pod', 'web-0', 'drover.io/drain=true');
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /Error from server \(Forbidden\).*User "reader" cannot patch resource "pods" in API group "" in the namespace "default"/);
  const other = await kubectl('get', 'pods', '-n', 'kube-system');
  assert.match(other.stderr, /Forbidden/);
  const bad = await runKubectl(['get', 'pods'], { kubeconfig: writeKubeconfig(tmpDir(t), { server: sim.url, token: 'wrong', insecure: true }) });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Unauthorized|You must be logged in/);
});
