// kube-apiserver semantics that clients rely on, checked over raw HTTP: selectors, paging with
// continue tokens, resourceVersion rules for list and watch, Status objects, optimistic
// concurrency, the three patch types, the status and scale subresources, graceful deletion.

import test from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../lib/proc.mjs';
import { simFor, call, openStream, names } from './helpers.mjs';

const podBody = (name, labels) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { containers: [{ name: 'app', image: 'x' }] } });
const pods = '/api/v1/namespaces/default/pods';
const listNames = async (sim, query) => names((await call(sim, 'GET', `${pods}?${query}`)).json.items);

// Every label selector operator, comma as AND, and metadata.name / status.phase field selectors.
test('label and field selectors', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'a', labels: { app: 'web', tier: 'front' } });
  sim.runPod({ name: 'b', labels: { app: 'web', tier: 'back' } });
  sim.runPod({ name: 'c', labels: { app: 'db' }, phase: 'Pending' });
  sim.runPod({ name: 'd' });
  const sel = (s) => listNames(sim, `labelSelector=${encodeURIComponent(s)}`);
  assert.deepEqual(await sel('app=web'), ['a', 'b']);
  assert.deepEqual(await sel('app==web'), ['a', 'b']);
  assert.deepEqual(await sel('app!=web'), ['c', 'd']);
  assert.deepEqual(await sel('app in (db, web),tier notin (back)'), ['a', 'c']);
  assert.deepEqual(await sel('tier'), ['a', 'b']);
  assert.deepEqual(await sel('!tier'), ['c', 'd']);
  assert.deepEqual(await sel('app=web,tier=back'), ['b']);
  assert.deepEqual(await listNames(sim, 'fieldSelector=metadata.name%3Db'), ['b']);
  assert.deepEqual(await listNames(sim, 'fieldSelector=status.phase!%3DRunning'), ['c']);
  const bad = await call(sim, 'GET', `${pods}?labelSelector=${encodeURIComponent('app in web')}`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.reason, 'BadRequest');
  assert.equal((await call(sim, 'GET', `${pods}?fieldSelector=spec.bogus%3D1`)).status, 400);
  // Namespaces: the defaults plus any namespace an object names.
  sim.runPod({ namespace: 'team-a', name: 'x' });
  const ns = await call(sim, 'GET', '/api/v1/namespaces');
  assert.deepEqual(names(ns.json.items), ['default', 'kube-public', 'kube-system', 'team-a']);
  assert.equal((await call(sim, 'GET', '/api/v1/namespaces/team-a')).json.status.phase, 'Active');
  assert.deepEqual(names((await call(sim, 'GET', '/api/v1/pods')).json.items), ['a', 'b', 'c', 'd', 'x']);
});

// limit + continue pages are served at the first page's resourceVersion: writes between pages
// do not show up. A token older than the compaction is 410 Expired.
test('paging with limit and continue is consistent', async (t) => {
  const sim = await simFor(t);
  for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) sim.runPod({ name: n });
  const first = (await call(sim, 'GET', `${pods}?limit=2`)).json;
  assert.deepEqual(names(first.items), ['p1', 'p2']);
  assert.equal(first.metadata.remainingItemCount, 3);
  const rv = first.metadata.resourceVersion;
  sim.deletePod('default', 'p3', { graceSeconds: 0 });
  sim.runPod({ name: 'p0' });
  const second = (await call(sim, 'GET', `${pods}?limit=2&continue=${encodeURIComponent(first.metadata.continue)}`)).json;
  assert.deepEqual(names(second.items), ['p3', 'p4'], 'p3 still listed: the page is at the first resourceVersion');
  assert.equal(second.metadata.resourceVersion, rv);
  const third = (await call(sim, 'GET', `${pods}?limit=2&continue=${encodeURIComponent(second.metadata.continue)}`)).json;
  assert.deepEqual(names(third.items), ['p5']);
  assert.equal(third.metadata.continue, undefined);
  const again = (await call(sim, 'GET', `${pods}?limit=2`)).json;
  sim.runPod({ name: 'p6' }); // compaction at revision R keeps R itself readable, as etcd's does
  sim.compact();
  const gone = await call(sim, 'GET', `${pods}?limit=2&continue=${encodeURIComponent(again.metadata.continue)}`);
  assert.equal(gone.status, 410);
  assert.equal(gone.json.reason, 'Expired');
  // resourceVersionMatch=Exact lists the past; compacted or future versions fail.
  const exact = await call(sim, 'GET', `${pods}?resourceVersion=${sim.resourceVersion}&resourceVersionMatch=Exact`);
  assert.equal(exact.status, 200);
  assert.equal((await call(sim, 'GET', `${pods}?resourceVersion=${Number(rv)}&resourceVersionMatch=Exact`)).status, 410);
  const future = await call(sim, 'GET', `${pods}?resourceVersion=${Number(sim.resourceVersion) + 5}&resourceVersionMatch=NotOlderThan`);
  assert.equal(future.status, 504);
  assert.equal(future.json.details.causes[0].reason, 'ResourceVersionTooLarge');
});

// Watch: "" and "0" start with synthetic ADDED for what exists; N replays what came after N;
// a label change moves a pod into (ADDED) or out of (DELETED) a selective watch; the
// WatchList form (sendInitialEvents) ends its initial events with an annotated BOOKMARK.
test('watch semantics', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'a', labels: { app: 'web' } });
  const mark = sim.resourceVersion;
  sim.runPod({ name: 'b', labels: { app: 'web' } });
  const fromNow = await openStream(sim, `${pods}?watch=true&labelSelector=app%3Dweb`);
  const fromMark = await openStream(sim, `${pods}?watch=true&resourceVersion=${mark}`);
  const initial = await openStream(sim, `${pods}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`);
  t.after(() => [fromNow, fromMark, initial].forEach((w) => w.close()));
  await fromNow.until((ev) => ev.length === 2, 'synthetic ADDED for a and b');
  assert.deepEqual(fromNow.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'ADDED b']);
  await fromMark.until((ev) => ev.length === 2, 'replay of b (ADDED, MODIFIED)');
  assert.deepEqual(fromMark.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b', 'MODIFIED b']);
  await initial.until((ev) => ev.length === 3, 'initial events and the end bookmark');
  assert.equal(initial.events[2].type, 'BOOKMARK');
  assert.equal(initial.events[2].object.metadata.annotations['k8s.io/initial-events-end'], 'true');
  sim.label('default', 'a', { app: 'other' });
  await fromNow.until((ev) => ev.length === 3, 'a leaving the selection');
  assert.equal(fromNow.events[2].type, 'DELETED');
  assert.equal(fromNow.events[2].object.metadata.labels.app, 'other');
  sim.label('default', 'a', { app: 'web' });
  await fromNow.until((ev) => ev.length === 4, 'a coming back');
  assert.equal(fromNow.events[3].type, 'ADDED');
  // Every event's resourceVersion is newer than the one before (one global counter).
  const rvs = fromMark.events.map((e) => Number(e.object.metadata.resourceVersion));
  assert.deepEqual(rvs, [...rvs].sort((x, y) => x - y));
  assert.equal(sim.dropWatches(), 3);
  await waitFor(() => fromNow.ended && fromMark.ended && initial.ended, { what: 'drop-watches to end every stream' });
});

// Create fills uid, creationTimestamp, resourceVersion and generateName; errors are Status
// objects with the apiserver's reasons.
test('create, errors and Status objects', async (t) => {
  const sim = await simFor(t);
  let r = await call(sim, 'POST', pods, podBody('web-0', { app: 'web' }));
  assert.equal(r.status, 201);
  const m = r.json.metadata;
  assert.match(m.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(m.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(m.resourceVersion, sim.resourceVersion);
  assert.equal(r.json.status.phase, 'Pending');
  assert.equal(r.json.spec.terminationGracePeriodSeconds, 30);
  r = await call(sim, 'POST', pods, podBody('web-0'));
  assert.equal(r.status, 409);
  assert.deepEqual(r.json, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'pods "web-0" already exists',
    reason: 'AlreadyExists',
    details: { name: 'web-0', kind: 'pods' },
    code: 409,
  });
  r = await call(sim, 'GET', `${pods}/nope`);
  assert.equal(r.status, 404);
  assert.equal(r.json.reason, 'NotFound');
  assert.equal(r.json.message, 'pods "nope" not found');
  assert.deepEqual(r.json.details, { name: 'nope', kind: 'pods' });
  r = await call(sim, 'POST', pods, { metadata: { generateName: 'web-' }, spec: { containers: [{ name: 'a', image: 'x' }] } });
  assert.match(r.json.metadata.name, /^web-[a-z0-9]{5}$/);
  r = await call(sim, 'POST', pods, { metadata: {}, spec: { containers: [{ name: 'a', image: 'x' }] } });
  assert.equal(r.status, 422);
  assert.equal(r.json.reason, 'Invalid');
  r = await call(sim, 'POST', pods, { metadata: { name: 'x', namespace: 'other' }, spec: { containers: [{ name: 'a', image: 'x' }] } });
  assert.equal(r.status, 400);
  assert.equal((await call(sim, 'GET', '/api/v1/namespaces/default/services')).status, 404);
  assert.equal((await call(sim, 'GET', '/openapi/v2')).status, 404);
  assert.equal((await call(sim, 'POST', pods, '{not json')).status, 400);
});

// PUT and PATCH: a stale resourceVersion is 409 Conflict; merge, strategic and JSON patches;
// the main resource ignores status and /status changes only status; a no-op write is no event.
test('update, patch and the status subresource', async (t) => {
  const sim = await simFor(t);
  const pod = sim.runPod({ name: 'a', labels: { app: 'web' }, ip: '127.1.0.50' });
  let r = await call(sim, 'PUT', `${pods}/a`, { ...pod, metadata: { ...pod.metadata, resourceVersion: '1' } });
  assert.equal(r.status, 409);
  assert.equal(r.json.reason, 'Conflict');
  r = await call(sim, 'PUT', `${pods}/a`, { ...pod, metadata: { ...pod.metadata, labels: { app: 'web', v: '2' } }, status: { phase: 'Failed' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.metadata.labels.v, '2');
  assert.equal(r.json.status.phase, 'Running', 'the main resource ignores status');
  const merge = { 'Content-Type': 'application/merge-patch+json' };
  r = await call(sim, 'PATCH', `${pods}/a`, { metadata: { labels: { v: null }, annotations: { 'drover.io/drain': 'true' } } }, merge);
  assert.equal(r.json.metadata.labels.v, undefined);
  assert.equal(r.json.metadata.annotations['drover.io/drain'], 'true');
  const rvBefore = r.json.metadata.resourceVersion;
  r = await call(sim, 'PATCH', `${pods}/a`, { metadata: { annotations: { 'drover.io/drain': 'true' } } }, merge);
  assert.equal(r.json.metadata.resourceVersion, rvBefore, 'a no-op patch writes nothing');
  r = await call(sim, 'PATCH', `${pods}/a`, [
    { op: 'add', path: '/metadata/annotations/drover.io~1workers', value: '4' },
    { op: 'replace', path: '/metadata/labels/app', value: 'web2' },
    { op: 'remove', path: '/metadata/annotations/drover.io~1drain' },
  ], { 'Content-Type': 'application/json-patch+json' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.metadata.annotations, { 'drover.io/workers': '4' });
  assert.equal(r.json.metadata.labels.app, 'web2');
  r = await call(sim, 'PATCH', `${pods}/a`, [{ op: 'remove', path: '/metadata/nope' }], { 'Content-Type': 'application/json-patch+json' });
  assert.equal(r.status, 422);
  // Strategic merge on /status merges conditions by type.
  const smp = { 'Content-Type': 'application/strategic-merge-patch+json' };
  r = await call(sim, 'PATCH', `${pods}/a/status`, { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, smp);
  assert.equal(r.status, 200);
  const conds = Object.fromEntries(r.json.status.conditions.map((c) => [c.type, c.status]));
  assert.equal(conds.Ready, 'False');
  assert.equal(conds.PodScheduled, 'True', 'other conditions kept');
  assert.equal(r.json.status.podIP, '127.1.0.50');
  r = await call(sim, 'PATCH', `${pods}/a/status`, { metadata: { labels: { ignored: 'yes' } }, status: { phase: 'Failed' } }, merge);
  assert.equal(r.json.status.phase, 'Failed');
  assert.equal(r.json.metadata.labels.ignored, undefined, '/status changes only the status');
  r = await call(sim, 'GET', `${pods}/a/status`);
  assert.equal(r.json.status.phase, 'Failed');
  assert.equal((await call(sim, 'PATCH', `${pods}/a`, { a: 1 }, { 'Content-Type': 'text/plain' })).status, 415);
});

// DELETE: grace from the query, the body or the pod spec; an unscheduled pod goes at once;
// finalizers hold an object until they are removed; preconditions are checked.
test('delete with grace periods, finalizers and preconditions', async (t) => {
  const sim = await simFor(t, { defaultGraceSeconds: 7 });
  const w = await openStream(sim, `${pods}?watch=true&resourceVersion=${sim.resourceVersion}`);
  t.after(() => w.close());
  sim.runPod({ name: 'q' });
  let r = await call(sim, 'DELETE', `${pods}/q?gracePeriodSeconds=0`);
  assert.equal(r.status, 200);
  assert.equal(sim.getPod('default', 'q'), null);
  const p = sim.runPod({ name: 'b' });
  assert.equal(p.spec.terminationGracePeriodSeconds, 7, 'defaultGraceSeconds fills the spec');
  r = await call(sim, 'DELETE', `${pods}/b`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 1 });
  assert.equal(r.json.metadata.deletionGracePeriodSeconds, 1);
  await waitFor(() => sim.getPod('default', 'b') === null, { what: 'b gone after 1 s' });
  sim.runPod({ name: 's' });
  r = await call(sim, 'DELETE', `${pods}/s`);
  assert.equal(r.json.metadata.deletionGracePeriodSeconds, 7);
  r = await call(sim, 'DELETE', `${pods}/s`, { gracePeriodSeconds: 0 });
  assert.equal(sim.getPod('default', 's'), null, 'a shorter grace finishes it');
  await call(sim, 'POST', pods, podBody('unscheduled'));
  await call(sim, 'DELETE', `${pods}/unscheduled`);
  assert.equal(sim.getPod('default', 'unscheduled'), null, 'no nodeName: removed at once');
  sim.runPod({ name: 'f' });
  sim.patch('pods', 'default', 'f', { metadata: { finalizers: ['example.com/hold'] } });
  r = await call(sim, 'DELETE', `${pods}/f`, { preconditions: { uid: 'wrong' } });
  assert.equal(r.status, 409);
  await call(sim, 'DELETE', `${pods}/f?gracePeriodSeconds=0`);
  assert.ok(sim.getPod('default', 'f').metadata.deletionTimestamp, 'held by its finalizer');
  sim.patch('pods', 'default', 'f', { metadata: { finalizers: null } });
  assert.equal(sim.getPod('default', 'f'), null);
  await w.until((ev) => ev.filter((e) => e.type === 'DELETED').length === 5, 'five DELETED events');
  const seq = w.events.filter((e) => e.object.metadata.name === 's').map((e) => e.type);
  assert.deepEqual(seq, ['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED']);
});

// The scale subresource: an autoscaling/v1 Scale; PUT with a stale resourceVersion is 409.
test('scale subresource over HTTP', async (t) => {
  const sim = await simFor(t);
  const calls = [];
  sim.onScale((...a) => calls.push(a));
  sim.createDeployment('default', { name: 'web', replicas: 2 });
  const path = '/apis/apps/v1/namespaces/default/deployments/web/scale';
  let r = await call(sim, 'GET', path);
  assert.equal(r.json.kind, 'Scale');
  assert.equal(r.json.apiVersion, 'autoscaling/v1');
  assert.equal(r.json.spec.replicas, 2);
  assert.equal(r.json.status.selector, 'app=web');
  r = await call(sim, 'PUT', path, { ...r.json, spec: { replicas: 4 } });
  assert.equal(r.json.spec.replicas, 4);
  r = await call(sim, 'PUT', path, { ...r.json, metadata: { ...r.json.metadata, resourceVersion: '2' }, spec: { replicas: 9 } });
  assert.equal(r.status, 409);
  r = await call(sim, 'PATCH', path, { spec: { replicas: 1 } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(r.json.spec.replicas, 1);
  assert.deepEqual(calls, [['Deployment', 'default', 'web', 4], ['Deployment', 'default', 'web', 1]]);
  const d = (await call(sim, 'GET', '/apis/apps/v1/namespaces/default/deployments/web')).json;
  assert.equal(d.spec.replicas, 1);
  assert.equal(d.metadata.generation, 3);
  r = await call(sim, 'GET', '/apis/apps/v1');
  const scale = r.json.resources.find((x) => x.name === 'deployments/scale');
  assert.deepEqual([scale.group, scale.version, scale.kind], ['autoscaling', 'v1', 'Scale']);
});

// Discovery: the legacy documents, also when the client asks for aggregated discovery first
// (as kubectl does), with kinds, scopes, verbs and short names.
test('discovery documents', async (t) => {
  const sim = await simFor(t);
  assert.equal((await call(sim, 'GET', '/version')).json.gitVersion.startsWith('v1.31'), true);
  const aggregated = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
  let r = await call(sim, 'GET', '/apis', undefined, { Accept: aggregated });
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.json.kind, 'APIGroupList');
  assert.deepEqual(r.json.groups.map((g) => g.preferredVersion.groupVersion), ['apps/v1']);
  r = await call(sim, 'GET', '/api', undefined, { Accept: aggregated });
  assert.deepEqual([r.json.kind, r.json.versions], ['APIVersions', ['v1']]);
  const core = Object.fromEntries((await call(sim, 'GET', '/api/v1')).json.resources.map((x) => [x.name, x]));
  assert.deepEqual([core.pods.kind, core.pods.namespaced, core.pods.shortNames], ['Pod', true, ['po']]);
  assert.ok(core.pods.verbs.includes('watch') && core.pods.verbs.includes('patch'));
  assert.deepEqual(core['pods/status'].verbs, ['get', 'patch', 'update']);
  assert.deepEqual([core.namespaces.kind, core.namespaces.namespaced, core.namespaces.shortNames], ['Namespace', false, ['ns']]);
  const apps = Object.fromEntries((await call(sim, 'GET', '/apis/apps/v1')).json.resources.map((x) => [x.name, x]));
  assert.deepEqual([apps.deployments.kind, apps.deployments.shortNames], ['Deployment', ['deploy']]);
  assert.deepEqual([apps.statefulsets.kind, apps.statefulsets.shortNames], ['StatefulSet', ['sts']]);
  assert.equal(apps['statefulsets/scale'].kind, 'Scale');
  assert.equal((await call(sim, 'GET', '/apis/apps')).json.kind, 'APIGroup');
  assert.equal((await call(sim, 'GET', '/healthz')).text, 'ok');
});
