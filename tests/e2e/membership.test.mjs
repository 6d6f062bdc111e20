// End to end (issue 7): kube-sim, a real drover-controller and real drover-sidecars with Node
// workers, each pod on its own loopback address. The member table follows the pods: a session
// issued by one pod reaches that pod's worker through any other pod, a pod that joins is in
// every table and gets sessions, and two apps behind one controller never share sessions.
// Everything is asserted through routing (which pod, slot and pid answered) and the documented
// /status views of the tables.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cluster, expectSticky, metric, findSubscriber, NAMESPACE } from './lib/cluster.mjs';

const kHex16 = /^[0-9a-f]{16}$/;

async function threeWebPods(t) {
  const c = cluster(t);
  await c.startSim();
  const ctl = await c.startController();
  const pods = await c.addPods(['web-a', 'web-b', 'web-c']);
  const version = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' });
  return { c, ctl, pods, version };
}

test('a session issued by one pod reaches its worker through every other pod', { timeout: 90000 }, async (t) => {
  const { c, ctl, pods, version } = await threeWebPods(t);
  assert.match(version, kHex16);

  // The tables as every sidecar holds them: from the controller, this version, each member with
  // its slots and its peer address.
  for (const p of pods) {
    const m = await p.membership();
    assert.equal(m.source, 'controller', `${p.name}: membership source`);
    assert.equal(m.version, version, `${p.name}: version`);
    assert.ok(m.applied_at && !Number.isNaN(Date.parse(m.applied_at)), `${p.name}: applied_at ${m.applied_at}`);
    assert.deepEqual(
      [...m.members].sort((x, y) => (x.id < y.id ? -1 : 1)),
      pods.map((q) => ({ id: q.name, state: 'ready', slots: 2, address: q.address })),
      `${p.name}'s members`,
    );
    assert.equal(await metric(p, 'drover_membership_version_info', { version }), 1, `${p.name}: drover_membership_version_info{version="${version}"}`);
    assert.equal(await metric(p, 'drover_controller_connected'), 1, `${p.name}: drover_controller_connected`);
    assert.ok((await metric(p, 'drover_membership_updates_total', { result: 'applied' })) >= 1, `${p.name}: an applied update`);
  }
  // The controller sees the three sidecars at that version.
  const st = await ctl.status();
  for (const p of pods) {
    const s = findSubscriber(st, NAMESPACE, p.name);
    assert.ok(s, `${p.name} among the controller's subscribers: ${JSON.stringify(st.subscribers)}`);
    assert.equal(s.applied_version, version, `${p.name}'s applied version at the controller`);
    assert.equal(s.nacks, 0);
  }

  // A session from each pod: placed on that pod's own worker (a pid the pod's sidecar runs),
  // then the same worker through every pod, with no new cookie, and the app never sees DROVERID.
  for (const origin of pods) {
    const s = await origin.newSession();
    assert.equal(s.pod, origin.name, `a new session through ${origin.name} is placed there`);
    const pids = [...origin.workerPids().values()].flat();
    assert.ok(pids.includes(s.pid), `pid ${s.pid} is one of ${origin.name}'s workers ${JSON.stringify(pids)}`);
    await expectSticky(s, [...pods.filter((p) => p !== origin), origin]);
    const through = await pods.find((p) => p !== origin).get({ cookie: s.cookie });
    assert.equal(through.appCookie, null, 'DROVERID is stripped before the app, also when forwarded');
  }
  // Forwarding is counted where it happened: web-b forwarded web-a's session.
  const forwarded = await metric(pods[1], 'drover_sticky_decisions_total', { result: 'forwarded' });
  assert.ok(forwarded >= 2, `web-b forwarded the sessions of web-a and web-c (${forwarded})`);
});

test('scale up: a new pod joins every table and gets sessions; no session moves', { timeout: 90000 }, async (t) => {
  const { c, pods, version: v1 } = await threeWebPods(t);
  const before = [];
  for (const p of pods) before.push(await p.newSession());

  // web-d: created in kube-sim (Running, not Ready), its sidecar starts, then it turns Ready.
  const d = await c.addPod('web-d');
  const all = [...pods, d];
  const v2 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready', 'web-d': 'ready' });
  assert.notEqual(v2, v1, 'a new version');
  for (const p of all) {
    const m = await p.membership();
    assert.ok(m.members.some((x) => x.id === 'web-d' && x.state === 'ready' && x.address === d.address), `${p.name} lists web-d`);
  }

  // New sessions spread over the members as clients spread over the pods: each pod places the
  // sessions it receives, web-d included, and web-d's sessions stick through every other pod.
  const served = new Map();
  const fresh = [];
  for (let i = 0; i < 8; i++) {
    const via = all[i % all.length];
    const s = await via.newSession();
    served.set(s.pod, (served.get(s.pod) || 0) + 1);
    fresh.push(s);
  }
  assert.deepEqual([...served.keys()].sort(), ['web-a', 'web-b', 'web-c', 'web-d'], `new sessions by pod: ${JSON.stringify([...served])}`);
  for (const s of fresh.filter((x) => x.pod === 'web-d')) await expectSticky(s, all, 'after the scale-up');

  // Sessions from before the scale-up stay where they were, also through the new pod.
  for (const s of before) await expectSticky(s, all, 'a session from before the scale-up');
});

test('a second app: its sidecars list only its pods and never receive the first app\'s sessions', { timeout: 90000 }, async (t) => {
  const c = cluster(t);
  await c.startSim();
  const ctl = await c.startController();
  const [webA, webB] = await c.addPods(['web-a', 'web-b']);
  const [apiA, apiB] = await c.addPods(['api-a', 'api-b'], { app: 'api' });
  const vWeb = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' });
  const vApi = await c.waitTables('api', { 'api-a': 'ready', 'api-b': 'ready' });
  assert.notEqual(vWeb, vApi);
  const st = await ctl.status();
  assert.deepEqual(st.groups.map((g) => g.group).sort(), ['api', 'web'], 'one group per app');

  // A web session sent to an api pod is not forwarded to web: it is served by an api worker,
  // with a new cookie (web-a is not a member of api's table).
  const webSession = await webA.newSession();
  const apiSession = await apiB.newSession();
  for (const via of [apiA, apiB]) {
    const r = await via.get({ cookie: webSession.cookie });
    assert.equal(r.status, 200);
    assert.equal(r.pod, via.name, `web-a's session through ${via.name} is served there, not by ${r.where}`);
    assert.equal(r.setCookies.length, 1, 're-homed with one new cookie');
  }
  for (const via of [webA, webB]) {
    const r = await via.get({ cookie: apiSession.cookie });
    assert.equal(r.pod, via.name, `api-b's session through ${via.name} is served there, not by ${r.where}`);
  }
  // Within each app, sessions cross pods.
  await expectSticky(webSession, [webA, webB]);
  await expectSticky(apiSession, [apiA, apiB]);

  // api-a drains: new sessions arriving there go to api-b only, never to a web pod.
  c.setReady('api-a', false);
  await c.waitTables('api', { 'api-a': 'draining', 'api-b': 'ready' });
  for (let i = 0; i < 6; i++) {
    const s = await apiA.newSession();
    assert.equal(s.pod, 'api-b', `a new session at draining api-a is placed on api-b, not on ${s.where}`);
  }
  // The web table did not change with api's.
  assert.equal(await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' }), vWeb, 'web keeps its version');
});
