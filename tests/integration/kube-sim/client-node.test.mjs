// The official JavaScript client (@kubernetes/client-node) against kube-sim: its informer
// (list, then watch from the list's resourceVersion, relist on 410), its Watch with
// bookmarks, and its typed API over TLS with bearer tokens.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../lib/proc.mjs';
import { simFor } from './helpers.mjs';

// client-node refuses a plain http server unless skipTLSVerify is set ("HTTP protocol is not
// allowed when skipTLSVerify is not set or false"); over TLS it trusts the simulator's cert.
function kubeConfig(sim, token) {
  const kc = new k8s.KubeConfig();
  const cluster = sim.caCert
    ? { name: 'sim', server: sim.url, caData: Buffer.from(sim.caCert).toString('base64') }
    : { name: 'sim', server: sim.url, skipTLSVerify: true };
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'sim', token }],
    contexts: [{ name: 'sim', cluster: 'sim', user: 'sim' }],
    currentContext: 'sim',
  });
  return kc;
}

// An informer on pods labelled app=web, recording "add NAME", "update NAME", "delete NAME".
async function startInformer(t, sim) {
  const kc = kubeConfig(sim);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/pods', () => api.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' }), 'app=web');
  const log = [];
  const errors = [];
  let stopped = false;
  for (const verb of ['add', 'update', 'delete']) informer.on(verb, (p) => log.push(`${verb} ${p.metadata.name}`));
  informer.on('error', (err) => {
    if (!stopped) errors.push(err);
  });
  await informer.start();
  t.after(async () => {
    stopped = true;
    await informer.stop();
  });
  const seen = (entry, what = entry) =>
    waitFor(() => log.includes(entry), { timeoutMs: 5000, what: `informer ${what} (log: ${log.join(', ')}; errors: ${errors.map((e) => e.message).join(', ')})` });
  return { informer, log, errors, seen };
}

const lists = (sim) => sim.stats().byVerbResource['list pods'] || 0;

// The informer's cache starts from the list and follows adds, updates and deletes, including
// a pod whose labels move it out of the selection (a DELETED for this watch).
test('informer: initial list, then add, update and delete events', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  sim.runPod({ name: 'web-1', labels: { app: 'web' } });
  sim.runPod({ name: 'db-0', labels: { app: 'db' } });
  const { informer, log, errors, seen } = await startInformer(t, sim);
  await seen('add web-1');
  assert.deepEqual(log.slice().sort(), ['add web-0', 'add web-1']);
  await waitFor(() => sim.stats().openWatches === 1, { what: 'the informer watch' });

  sim.runPod({ name: 'web-2', labels: { app: 'web' } });
  await seen('add web-2');
  sim.setReady('default', 'web-0', false);
  await seen('update web-0');
  assert.equal(informer.get('web-0', 'default').status.conditions.find((c) => c.type === 'Ready').status, 'False');
  sim.annotate('default', 'web-1', { 'drover.io/drain': 'true' });
  await waitFor(() => informer.get('web-1', 'default')?.metadata.annotations?.['drover.io/drain'] === 'true', { what: 'drain annotation in the cache' });
  sim.deletePod('default', 'web-2', { graceSeconds: 30 });
  await waitFor(() => informer.get('web-2', 'default')?.metadata.deletionTimestamp, { what: 'web-2 terminating in the cache' });
  sim.finishDeletion('default', 'web-2');
  await seen('delete web-2');
  sim.label('default', 'web-1', { app: 'other' });
  await seen('delete web-1', 'delete web-1 (label moved out of the selection)');
  sim.label('default', 'db-0', { app: 'web' });
  await seen('add db-0', 'add db-0 (label moved into the selection)');
  assert.deepEqual(informer.list('default').map((p) => p.metadata.name).sort(), ['db-0', 'web-0']);
  assert.deepEqual(errors, []);
});

// A watch that ends cleanly is resumed from the last resourceVersion: no relist, and what
// changed in between arrives from the simulator's history.
test('informer: a dropped watch resumes from its resourceVersion without a relist', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  const { seen, errors } = await startInformer(t, sim);
  await seen('add web-0');
  await waitFor(() => sim.stats().openWatches === 1, { what: 'the informer watch' });
  const listsBefore = lists(sim);
  const watchesBefore = sim.stats().watchesStarted;
  sim.dropWatches();
  sim.runPod({ name: 'web-1', labels: { app: 'web' } }); // while the informer is reconnecting
  await seen('add web-1');
  assert.equal(lists(sim), listsBefore, 'no relist');
  assert.ok(sim.stats().watchesStarted > watchesBefore, 'a new watch was opened');
  assert.deepEqual(errors, []);
});

// After a compaction the informer's resourceVersion is gone: the watch answers 410 (an ERROR
// event inside a 200 stream by default, or a plain HTTP 410), the informer relists, and
// what vanished meanwhile becomes a delete.
for (const mode of ['event', 'status']) {
  test(`informer: survives 410 Gone (watchExpired=${mode}) by relisting`, async (t) => {
    const sim = await simFor(t, { watchExpired: mode });
    sim.runPod({ name: 'web-0', labels: { app: 'web' } });
    sim.runPod({ name: 'web-1', labels: { app: 'web' } });
    const { informer, seen, errors } = await startInformer(t, sim);
    await seen('add web-1');
    await waitFor(() => sim.stats().openWatches === 1, { what: 'the informer watch' });
    const listsBefore = lists(sim);
    sim.dropWatches();
    sim.deletePod('default', 'web-0', { graceSeconds: 0 });
    sim.runPod({ name: 'web-2', labels: { app: 'web' } });
    sim.compact();
    await seen('delete web-0');
    await seen('add web-2');
    assert.equal(lists(sim), listsBefore + 1, 'exactly one relist');
    assert.deepEqual(informer.list('default').map((p) => p.metadata.name).sort(), ['web-1', 'web-2']);
    // The informer keeps watching after the relist.
    sim.setReady('default', 'web-2', false);
    await seen('update web-2');
    assert.deepEqual(errors, []);
  });
}

// With allowWatchBookmarks the watch gets BOOKMARK events carrying only the current
// resourceVersion; a watch resumed from it sees exactly the later changes. A watch that did
// not ask gets none.
test('Watch: bookmarks carry a resourceVersion to resume from', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  const kc = kubeConfig(sim);
  const watch = new k8s.Watch(kc);
  const withBm = [];
  const without = [];
  const controllers = [];
  t.after(() => controllers.forEach((c) => c.abort()));
  const open = async (params, sink) =>
    controllers.push(await watch.watch('/api/v1/namespaces/default/pods', params, (type, obj) => sink.push({ type, obj }), () => {}));
  await open({ allowWatchBookmarks: true, resourceVersion: sim.resourceVersion, labelSelector: 'app=web' }, withBm);
  await open({ resourceVersion: sim.resourceVersion, labelSelector: 'app=web' }, without);
  await waitFor(() => sim.stats().openWatches === 2, { what: 'two watches open' });
  sim.setBookmarkInterval(50);
  await waitFor(() => withBm.some((e) => e.type === 'BOOKMARK'), { what: 'a periodic BOOKMARK' });
  const bm = withBm.find((e) => e.type === 'BOOKMARK').obj;
  assert.deepEqual(Object.keys(bm.metadata), ['resourceVersion']);
  assert.equal(bm.metadata.resourceVersion, sim.resourceVersion);
  assert.equal(bm.kind, 'Pod');
  sim.setBookmarkInterval(60000);
  assert.equal(sim.sendBookmarks(), 1, 'only the watch that allowed bookmarks gets one');

  const from = bm.metadata.resourceVersion;
  sim.runPod({ name: 'web-1', labels: { app: 'web' } });
  await waitFor(() => without.some((e) => e.obj.metadata.name === 'web-1'), { what: 'web-1 on the plain watch' });
  assert.ok(!without.some((e) => e.type === 'BOOKMARK'), 'no bookmark without allowWatchBookmarks');
  const resumed = [];
  await open({ resourceVersion: from, labelSelector: 'app=web' }, resumed);
  await waitFor(() => resumed.length >= 2, { what: 'the resumed watch to replay web-1 (ADDED, then its status)' });
  assert.deepEqual(
    resumed.map((e) => `${e.type} ${e.obj.metadata.name}`),
    ['ADDED web-1', 'MODIFIED web-1'],
  );
});

// The typed API over TLS with bearer tokens: allowed reads work, a forbidden write is 403 with
// a Forbidden Status, an unknown token is 401.
test('CoreV1Api over TLS: tokens, 401 and 403', async (t) => {
  const tokens = {
    admin: { user: 'admin' },
    reader: { user: 'reader', allow: [{ verbs: ['get', 'list', 'watch'], resources: ['pods'] }] },
  };
  const sim = await simFor(t, { tls: true, tokens });
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  const reader = kubeConfig(sim, 'reader').makeApiClient(k8s.CoreV1Api);
  const list = await reader.listNamespacedPod({ namespace: 'default' });
  assert.deepEqual(list.items.map((p) => p.metadata.name), ['web-0']);
  await assert.rejects(
    reader.deleteNamespacedPod({ name: 'web-0', namespace: 'default' }),
    (err) => err.code === 403 && JSON.parse(err.body).reason === 'Forbidden',
  );
  await assert.rejects(kubeConfig(sim, 'nobody').makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: 'default' }), (err) => err.code === 401);
  const admin = kubeConfig(sim, 'admin').makeApiClient(k8s.CoreV1Api);
  await admin.deleteNamespacedPod({ name: 'web-0', namespace: 'default', gracePeriodSeconds: 0 });
  assert.equal(sim.getPod('default', 'web-0'), null);
});
