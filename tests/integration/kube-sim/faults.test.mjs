// Injected faults: responses and watch events split into tiny pieces that clients must
// reassemble, 429 with Retry-After, a 410 ERROR event inside a 200 watch stream, dropped
// connections, slow answers, and the /sim/faults endpoint that other processes use.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../lib/proc.mjs';
import { simFor, call, openStream, names } from './helpers.mjs';

function coreApi(sim) {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'sim', server: sim.url, skipTLSVerify: true }],
    users: [{ name: 'sim' }],
    contexts: [{ name: 'sim', cluster: 'sim', user: 'sim' }],
    currentContext: 'sim',
  });
  return { kc, api: kc.makeApiClient(k8s.CoreV1Api) };
}

// A list written 16 bytes at a time arrives in many chunks and still decodes whole, for a raw
// reader and for client-node.
test('split: a list response in 16-byte pieces reassembles', async (t) => {
  const sim = await simFor(t);
  for (let i = 0; i < 3; i++) sim.runPod({ name: `web-${i}`, labels: { app: 'web' } });
  sim.injectFault({ match: 'list', kind: 'split', chunkBytes: 16, delayMs: 0 });
  const raw = await call(sim, 'GET', '/api/v1/namespaces/default/pods');
  assert.equal(raw.status, 200);
  assert.equal(raw.headers['transfer-encoding'], 'chunked');
  assert.ok(raw.chunks > 50, `arrived in ${raw.chunks} chunks`);
  assert.deepEqual(names(raw.json.items), ['web-0', 'web-1', 'web-2']);
  sim.injectFault({ match: 'list', kind: 'split', chunkBytes: 48, delayMs: 0 });
  const { api } = coreApi(sim);
  const list = await api.listNamespacedPod({ namespace: 'default' });
  assert.deepEqual(names(list.items), ['web-0', 'web-1', 'web-2']);
  assert.equal(sim.stats().faultsApplied, 2);
});

// Watch events split across chunk boundaries: every event still arrives whole and in order.
test('split: watch events in 13-byte pieces reassemble across chunks', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  sim.injectFault({ match: 'watch', kind: 'split', chunkBytes: 13, delayMs: 0 });
  const w = await openStream(sim, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${sim.resourceVersion}`);
  t.after(() => w.close());
  sim.runPod({ name: 'web-1', labels: { app: 'web' } });
  sim.setReady('default', 'web-1', false);
  await w.until((ev) => ev.length === 3, 'three watch events');
  assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED web-1', 'MODIFIED web-1', 'MODIFIED web-1']);
  assert.ok(w.chunks > 50, `arrived in ${w.chunks} chunks`);
  // client-node's Watch (a line reader over the fetch body) gets the same events.
  sim.injectFault({ match: 'watch', kind: 'split', chunkBytes: 64, delayMs: 0 });
  const { kc } = coreApi(sim);
  const got = [];
  const controller = await new k8s.Watch(kc).watch('/api/v1/namespaces/default/pods', { resourceVersion: '0' }, (type, obj) => got.push(`${type} ${obj.metadata.name}`), () => {});
  t.after(() => controller.abort());
  await waitFor(() => got.length === 2, { what: 'two synthetic ADDED events through client-node' });
  assert.deepEqual(got.sort(), ['ADDED web-0', 'ADDED web-1']);
});

// 429 carries Retry-After and a TooManyRequests Status; only `count` requests are hit.
test('status: 429 with Retry-After, then normal service', async (t) => {
  const sim = await simFor(t);
  sim.injectFault({ match: 'list', kind: 'status', status: 429, retryAfter: 3, count: 2 });
  for (let i = 0; i < 2; i++) {
    const r = await call(sim, 'GET', '/api/v1/pods');
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '3');
    assert.equal(r.json.kind, 'Status');
    assert.equal(r.json.reason, 'TooManyRequests');
    assert.equal(r.json.code, 429);
    assert.equal(r.json.details.retryAfterSeconds, 3);
  }
  // A get does not match a list fault, and the fault is used up.
  assert.equal((await call(sim, 'GET', '/api/v1/pods')).status, 200);
  sim.injectFault({ match: 'any', kind: 'status', status: 500 });
  assert.equal((await call(sim, 'GET', '/api')).status, 200, 'discovery is not "any"');
  const r = await call(sim, 'GET', '/api/v1/namespaces/default/pods/x');
  assert.equal(r.status, 500);
  assert.equal(r.json.reason, 'InternalError');
  const { api } = coreApi(sim);
  sim.injectFault({ match: 'list', kind: 'status', status: 429, retryAfter: 1 });
  await assert.rejects(api.listNamespacedPod({ namespace: 'default' }), (err) => err.code === 429);
});

// error-event: a watch answers 200 and sends one ERROR event holding a 410 Expired Status,
// then ends the stream; the informer reacts by relisting.
test('error-event: 410 as an ERROR event inside a 200 watch stream', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'web-0', labels: { app: 'web' } });
  sim.injectFault({ match: 'watch', kind: 'error-event', code: 410 });
  const w = await openStream(sim, `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${sim.resourceVersion}`);
  assert.equal(w.status, 200);
  await waitFor(() => w.ended, { what: 'the stream to end' });
  assert.equal(w.events.length, 1);
  const [ev] = w.events;
  assert.equal(ev.type, 'ERROR');
  assert.equal(ev.object.kind, 'Status');
  assert.equal(ev.object.code, 410);
  assert.equal(ev.object.reason, 'Expired');
  assert.match(ev.object.message, /too old resource version/);

  const { kc, api } = coreApi(sim);
  const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/pods', () => api.listNamespacedPod({ namespace: 'default' }));
  const adds = [];
  informer.on('add', (p) => adds.push(p.metadata.name));
  await informer.start();
  t.after(() => informer.stop());
  await waitFor(() => sim.stats().openWatches === 1, { what: 'the informer watch' });
  const lists = () => sim.stats().byVerbResource['list pods'];
  const before = lists();
  sim.injectFault({ match: 'watch', kind: 'error-event', code: 410 });
  sim.dropWatches();
  await waitFor(() => lists() === before + 1 && sim.stats().openWatches === 1, { what: 'a relist and a new watch after the ERROR 410' });
  sim.runPod({ name: 'web-1', labels: { app: 'web' } });
  await waitFor(() => adds.includes('web-1'), { what: 'web-1 after the relist' });
});

// The compaction path without an injected fault: a watch from a compacted resourceVersion is
// an ERROR 410 event by default, or an HTTP 410 when configured so.
test('compact: older resourceVersions give 410 as event or status', async (t) => {
  const sim = await simFor(t);
  sim.runPod({ name: 'web-0' });
  const old = Number(sim.resourceVersion) - 1;
  assert.equal(sim.compact(), sim.resourceVersion);
  const w = await openStream(sim, `/api/v1/pods?watch=true&resourceVersion=${old}`);
  await waitFor(() => w.ended, { what: 'the stream to end' });
  assert.equal(w.status, 200);
  assert.deepEqual([w.events[0].type, w.events[0].object.code], ['ERROR', 410]);
  // The current resourceVersion is still fine.
  const ok = await openStream(sim, `/api/v1/pods?watch=true&resourceVersion=${sim.resourceVersion}&timeoutSeconds=1`);
  assert.equal(ok.status, 200);
  await waitFor(() => ok.ended, { what: 'timeoutSeconds=1 to end the stream' });
  assert.deepEqual(ok.events, []);
  sim.setConfig({ watchExpired: 'status' });
  const r = await call(sim, 'GET', `/api/v1/pods?watch=true&resourceVersion=${old}`);
  assert.equal(r.status, 410);
  assert.equal(r.json.reason, 'Expired');
});

// drop closes the connection without an answer; slow answers after its delay.
test('drop and slow', async (t) => {
  const sim = await simFor(t);
  sim.injectFault({ match: 'get', kind: 'drop' });
  await assert.rejects(call(sim, 'GET', '/api/v1/namespaces/default/pods/x'), /socket hang up|ECONNRESET/);
  sim.injectFault({ match: 'list', kind: 'slow', delayMs: 300 });
  const t0 = Date.now();
  assert.equal((await call(sim, 'GET', '/api/v1/pods')).status, 200);
  assert.ok(Date.now() - t0 >= 290, `slow list took ${Date.now() - t0} ms`);
  // A slow watch start still delivers what happened during the delay (history replay).
  sim.injectFault({ match: 'watch', kind: 'slow', delayMs: 200 });
  const from = sim.resourceVersion;
  const pending = openStream(sim, `/api/v1/pods?watch=true&resourceVersion=${from}`);
  sim.runPod({ name: 'during' });
  const w = await pending;
  t.after(() => w.close());
  await w.until((ev) => ev.length === 2, 'ADDED and MODIFIED of the pod made during the delay');
  assert.equal(w.events[0].type, 'ADDED');
});

// Other processes queue faults over HTTP: POST /sim/faults (one or many), GET lists, DELETE clears.
test('/sim/faults over HTTP, and count -1 until cleared', async (t) => {
  const sim = await simFor(t);
  let r = await call(sim, 'POST', '/sim/faults', [{ match: 'get', kind: 'status', status: 503, retryAfter: 2, count: -1 }, { match: 'list', resource: 'pods', kind: 'status', status: 500 }]);
  assert.deepEqual(r.json, { pending: 2 });
  for (let i = 0; i < 3; i++) assert.equal((await call(sim, 'GET', '/api/v1/namespaces/default/pods/a')).status, 503);
  assert.equal((await call(sim, 'GET', '/apis/apps/v1/deployments')).status, 200, 'resource narrows the match');
  assert.equal((await call(sim, 'GET', '/api/v1/pods')).status, 500);
  r = await call(sim, 'GET', '/sim/faults');
  assert.equal(r.json.length, 1);
  await call(sim, 'DELETE', '/sim/faults');
  assert.equal((await call(sim, 'GET', '/api/v1/namespaces/default/pods/a')).status, 404);
  r = await call(sim, 'POST', '/sim/faults', { kind: 'bogus' });
  assert.equal(r.status, 400);
});
