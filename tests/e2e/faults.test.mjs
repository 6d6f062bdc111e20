// End to end (issue 7): the control path under faults. A 410 in the middle of the watch (as an
// ERROR event inside a 200 stream, and as a plain 410 after compaction with changes made while
// the watch was down) makes the controller relist and the tables stay right; kube-sim restarted
// empty on the same port is found again; a table a sidecar cannot apply (its own slot count
// differs) is NACKed and the sidecar keeps routing with the one it had.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cluster, expectSticky, metric, findSubscriber, waitFor, NAMESPACE } from './lib/cluster.mjs';

async function threeWebPods(t, simOptions) {
  const c = cluster(t);
  await c.startSim(simOptions);
  const ctl = await c.startController();
  const pods = await c.addPods(['web-a', 'web-b', 'web-c']);
  const version = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' });
  return { c, ctl, pods, version };
}

const relists = (ctl) => metric(ctl, 'drover_controller_relists_total');

test('a 410 mid-watch: the controller relists, the tables stay right, later changes arrive', { timeout: 90000 }, async (t) => {
  const { c, ctl, pods, version: v1 } = await threeWebPods(t);
  const [a, b, cc] = pods;
  const sessionA = await a.newSession();

  // 1. An ERROR event holding a 410 Status inside a 200 watch stream (kube-apiserver's usual
  // form): the current watch ends, the next one gets the ERROR event.
  const r0 = await relists(ctl);
  const errorEvents0 = await metric(ctl, 'drover_controller_watch_events_total', { type: 'error' });
  c.sim.injectFault({ match: 'watch', kind: 'error-event', code: 410 });
  assert.ok(c.sim.dropWatches() >= 1, 'the controller had a watch open');
  await waitFor(async () => (await relists(ctl)) > r0, { timeoutMs: 10000, what: 'drover_controller_relists_total to go up after the ERROR 410 event' });
  await waitFor(() => c.sim.stats().openWatches >= 1, { timeoutMs: 10000, what: 'the controller to watch again' });
  assert.equal(c.sim.pendingFaults().length, 0, 'the fault was taken');
  assert.ok((await metric(ctl, 'drover_controller_watch_events_total', { type: 'error' })) > errorEvents0, 'the ERROR event was counted');
  assert.equal(await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' }), v1, 'same pods, same version after the relist');
  // A change right after the relist arrives.
  c.setReady('web-c', false);
  const v2 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'draining' });
  assert.notEqual(v2, v1);
  await expectSticky(sessionA, pods, 'after the first relist');

  // 2. Changes made while the watch is down, then the history compacted: the relist finds a
  // pod gone (a delete it never saw as an event) and another one changed. All of this happens before the controller can send another request (these
  // calls are synchronous in kube-sim's process).
  await cc.stop();
  const r1 = await relists(ctl);
  const gone0 = await metric(ctl, 'drover_controller_kube_requests_total', { verb: 'watch', code: '410' });
  c.sim.setConfig({ watchExpired: 'status' });
  assert.ok(c.sim.dropWatches({ abrupt: true }) >= 1, 'the controller had a watch open');
  c.deletePod('web-c', { graceSeconds: 0 });
  c.setReady('web-b', false);
  c.sim.compact();
  await waitFor(async () => (await relists(ctl)) > r1, { timeoutMs: 10000, what: 'drover_controller_relists_total to go up after the compaction' });
  // A broken watch is followed by a fresh list, as client-go's ListAndWatch does, so the 410 a
  // resumed watch would get is not needed to notice the compaction; if a watch did resume, it
  // was answered 410.
  const gone1 = await metric(ctl, 'drover_controller_kube_requests_total', { verb: 'watch', code: '410' });
  assert.ok(gone1 >= gone0);
  const v3 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'draining' });
  assert.ok(![v1, v2].includes(v3));
  c.setReady('web-b', true);
  await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' });
  await expectSticky(sessionA, [a, b], 'after the second relist');
  const st = await ctl.status();
  assert.equal(st.watch.synced, true);
  assert.ok(st.watch.relists >= 2, `/status watch.relists ${st.watch.relists}`);
});

test('kube-sim restarted empty on the same port: the controller lists again and the tables converge', { timeout: 90000 }, async (t) => {
  const { c, ctl, pods } = await threeWebPods(t);
  const [a, b, cc] = pods;
  const sessionA = await a.newSession();
  const sessionB = await b.newSession();
  // Writes that change no table move the resourceVersion well past what the new kube-sim will
  // reach: the controller's last resourceVersion is then "too large" for it (a 504), not a
  // version it would wrongly resume from.
  for (let i = 0; i < 30; i++) c.annotate('web-a', { 'e2e/bump': String(i) });
  await waitFor(async () => (await ctl.status()).watch.resource_version === c.sim.resourceVersion, {
    timeoutMs: 10000,
    what: "the controller's watch to reach kube-sim's resourceVersion",
  });
  await cc.stop();
  const r0 = await relists(ctl);

  // The new kube-sim holds web-a (Ready) and web-b (not Ready); web-c is gone. The pods are
  // recreated before kube-sim serves its first request.
  await c.restartSim();
  c.putInSim(a, { ready: true });
  c.putInSim(b, { ready: false });
  const v = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'draining' }, { timeoutMs: 30000 });
  assert.ok((await relists(ctl)) > r0, 'the controller relisted');
  await expectSticky(sessionA, [a, b], 'after the kube-sim restart');
  await expectSticky(sessionB, [a, b], 'after the kube-sim restart');
  const s = await b.newSession();
  assert.equal(s.pod, 'web-a', `a new session at draining web-b is placed on web-a (${s.where})`);

  // Watching the new kube-sim: a change arrives.
  c.setReady('web-b', true);
  assert.notEqual(await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' }), v);
});

test('a NACKed version: the sidecar keeps its table and its routing; the controller reports it', { timeout: 90000 }, async (t) => {
  const { c, ctl, pods, version: v1 } = await threeWebPods(t);
  const [a, b, cc] = pods;
  const sessions = [];
  for (const p of pods) sessions.push(await p.newSession());
  const nacks0 = await metric(ctl, 'drover_controller_updates_total', { result: 'nack' });
  const rejected0 = await metric(b, 'drover_membership_updates_total', { result: 'rejected' });

  // web-b's pod now says 3 workers, its sidecar runs 2: web-b refuses that table; web-a and
  // web-c apply it.
  c.annotate('web-b', { 'drover.io/workers': '3' });
  const expected = { 'web-a': 'ready', 'web-b': { state: 'ready', slots: 3 }, 'web-c': 'ready' };
  const v2 = await c.waitTables('web', expected, { pods: [a, cc], exceptVersion: v1 });
  let sub;
  await waitFor(
    async () => {
      sub = findSubscriber(await ctl.status(), NAMESPACE, 'web-b');
      return sub && sub.nacks >= 1;
    },
    { timeoutMs: 10000, what: "web-b's NACK in the controller's /status" },
  );
  assert.equal(sub.applied_version, v1, "the controller knows web-b keeps the old version");
  assert.match(sub.last_error, /slots/, `the NACK's reason: ${sub.last_error}`);
  assert.match(sub.last_error, /\b3\b/, `the reason names the table's slot count: ${sub.last_error}`);
  assert.match(sub.last_error, /\b2\b/, `the reason names the sidecar's slot count: ${sub.last_error}`);
  assert.ok((await metric(ctl, 'drover_controller_updates_total', { result: 'nack' })) >= nacks0 + 1, 'drover_controller_updates_total{result="nack"}');
  assert.ok((await metric(b, 'drover_membership_updates_total', { result: 'rejected' })) >= rejected0 + 1, 'web-b counted the rejected table');

  // web-b still holds and serves the old table.
  const mb = await b.membership();
  assert.equal(mb.version, v1, "web-b's /status keeps the old version");
  assert.ok(mb.members.every((m) => m.slots === 2), `web-b's members: ${JSON.stringify(mb.members)}`);
  assert.equal(await metric(b, 'drover_membership_version_info', { version: v1 }), 1);
  for (const p of [a, cc]) assert.equal((await p.membership()).version, v2, `${p.name} applied ${v2}`);
  for (const s of sessions) await expectSticky(s, pods, 'while web-b holds the old table');
  assert.equal((await b.newSession()).pod, 'web-b', 'web-b still places its own new sessions');
  // The NACKed version is not sent to web-b again: it stays at one NACK.
  const st = await ctl.status();
  assert.equal(findSubscriber(st, NAMESPACE, 'web-b').nacks, sub.nacks);
  for (const p of [a, cc]) assert.equal(findSubscriber(st, NAMESPACE, p.name).applied_version, v2);

  // The annotation fixed: the table is the first one again, and every sidecar holds it; a later
  // change reaches web-b as well.
  c.annotate('web-b', { 'drover.io/workers': '2' });
  assert.equal(await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' }), v1);
  c.setReady('web-c', false);
  await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'draining' });
});
