// End to end (issue 7): members turn DRAINING and back, and leave. A draining member keeps its
// sessions (reached through every pod) and gets no new ones (a new session arriving at its
// sidecar is placed on a ready member, which sets the cookie); a member that is gone has its
// sessions re-homed with exactly one new cookie, which then sticks. Real kube-sim pod changes
// (graceful deletion, the kubelet's final delete, readiness) drive it; routing proves it.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cluster, expectSticky, decodeCookieValue } from './lib/cluster.mjs';

async function threeWebPods(t) {
  const c = cluster(t);
  await c.startSim();
  const ctl = await c.startController();
  const pods = await c.addPods(['web-a', 'web-b', 'web-c']);
  const version = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' });
  return { c, ctl, pods, version };
}

const memberOf = (cookie) => decodeCookieValue(cookie).member;

// `n` new sessions through `via` (a draining member): each must be placed on one of `readyPods`,
// carry a cookie naming that pod (the member hash its own sessions carry), and stick there
// through every pod in `all`. Resolves the count per pod.
async function newSessionsGoElsewhere(via, readyPods, all, n, hashOf) {
  const counts = Object.fromEntries(readyPods.map((p) => [p.name, 0]));
  for (let i = 0; i < n; i++) {
    const s = await via.newSession();
    assert.ok(s.pod in counts, `new session ${i} at draining ${via.name} placed on ${s.where}, not on ${Object.keys(counts).join(' or ')}`);
    assert.equal(memberOf(s.cookie), hashOf[s.pod], `its cookie names ${s.pod}, the pod that serves it`);
    counts[s.pod]++;
    await expectSticky(s, all, `new session ${i} placed by ${via.name}`);
  }
  return counts;
}

test('pod deletion: DRAINING keeps its sessions and sends new ones to ready pods; removal re-homes them once', { timeout: 120000 }, async (t) => {
  const { c, pods, version: v1 } = await threeWebPods(t);
  const [a, b, cc] = pods;
  // The member hash each pod's own cookies carry.
  const hashOf = {};
  const sessionsA = [];
  for (const p of pods) {
    const s = await p.newSession();
    hashOf[p.name] = memberOf(s.cookie);
    if (p === a) sessionsA.push(s);
  }
  sessionsA.push(await a.newSession());
  const sessionB = await b.newSession();

  // kubectl delete: deletionTimestamp set, 30 s grace. web-a turns DRAINING everywhere (its own
  // sidecar included).
  c.deletePod('web-a', { graceSeconds: 30 });
  const v2 = await c.waitTables('web', { 'web-a': 'draining', 'web-b': 'ready', 'web-c': 'ready' });
  assert.notEqual(v2, v1);

  // Its sessions still reach it, through itself and the others; other pods' sessions through it
  // still reach them.
  for (const s of sessionsA) await expectSticky(s, [a, b, cc], 'web-a draining');
  await expectSticky(sessionB, [a, b, cc], 'web-a draining');

  // New sessions at web-a are placed on web-b or web-c (spread over both), never on web-a.
  const counts = await newSessionsGoElsewhere(a, [b, cc], pods, 12, hashOf);
  assert.ok(counts['web-b'] > 0 && counts['web-c'] > 0, `new sessions at draining web-a spread over web-b and web-c: ${JSON.stringify(counts)}`);
  // New sessions at web-b or web-c stay there.
  for (const p of [b, cc]) assert.equal((await p.newSession()).pod, p.name, `a new session at ${p.name}`);

  // The kubelet's final delete: web-a leaves the table of web-b and web-c. (web-a's sidecar
  // still runs; its pod is gone, so it is left out of the check.)
  c.finishDeletion('web-a');
  await c.waitTables('web', { 'web-b': 'ready', 'web-c': 'ready' }, { pods: [b, cc] });

  // web-a's sessions re-home: exactly one new cookie, naming the pod that now serves it, and
  // that cookie then stays put through both pods.
  for (const [i, s] of sessionsA.entries()) {
    const via = i % 2 === 0 ? b : cc;
    const r = await via.get({ cookie: s.cookie });
    assert.equal(r.status, 200);
    assert.notEqual(r.pod, 'web-a', `web-a's session ${i} through ${via.name} is not sent to the removed web-a`);
    assert.equal(r.pod, via.name, `re-homed where it arrived (${via.name}), served by ${r.where}`);
    assert.equal(r.setCookies.length, 1, `exactly one new cookie: ${JSON.stringify(r.setCookies)}`);
    assert.equal(memberOf(r.setCookie), hashOf[r.pod], 'the new cookie names the pod that serves it');
    const rehomed = { cookie: r.setCookie, pod: r.pod, worker: r.worker, pid: r.pid, where: r.where };
    await expectSticky(rehomed, [b, cc, b, cc], `web-a's re-homed session ${i}`);
  }
  await expectSticky(sessionB, [b, cc], 'after web-a left');
  await a.stop();
});

test('readiness flips: not Ready drains the member, Ready again restores it at the same version', { timeout: 90000 }, async (t) => {
  const { c, pods, version: v1 } = await threeWebPods(t);
  const [a, b, cc] = pods;
  const hashOf = {};
  for (const p of pods) hashOf[p.name] = memberOf((await p.newSession()).cookie);
  const sessionA = await a.newSession();
  const sessionC = await cc.newSession();

  c.setReady('web-a', false);
  const v2 = await c.waitTables('web', { 'web-a': 'draining', 'web-b': 'ready', 'web-c': 'ready' });
  assert.notEqual(v2, v1);
  await expectSticky(sessionA, [a, b, cc], 'web-a not Ready');
  await expectSticky(sessionC, [a, b, cc], 'web-a not Ready');
  const counts = await newSessionsGoElsewhere(a, [b, cc], pods, 8, hashOf);
  assert.ok(counts['web-b'] + counts['web-c'] === 8);

  c.setReady('web-a', true);
  const v3 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' });
  assert.equal(v3, v1, 'the same membership has the same version again');
  const s = await a.newSession();
  assert.equal(s.pod, 'web-a', `a new session at web-a is placed there again (${s.where})`);
  await expectSticky(s, pods);
  await expectSticky(sessionA, pods, 'web-a Ready again');

  // A second flip, on another pod, while the first pod's sessions keep going.
  c.setReady('web-b', false);
  await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'draining', 'web-c': 'ready' });
  await newSessionsGoElsewhere(b, [a, cc], pods, 4, hashOf);
  c.setReady('web-b', true);
  assert.equal(await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' }), v1);
});
