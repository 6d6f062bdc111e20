// End to end (issue 10): Subscribe is authenticated. A sidecar presenting a wrong
// --controller-token-file never gets a table and no replica counts it as a subscriber (droverctl
// status shows its member without a connected sidecar); with --verify-peer-ip=true a sidecar
// whose hello names a pod whose IP is not the stream's source address is PERMISSION_DENIED, one
// naming a pod that is not watched FAILED_PRECONDITION, while a pod whose IP is the source
// (127.0.0.1) is served.

import test from 'node:test';
import assert from 'node:assert/strict';
import { adminCluster, startEditedController, Pod, freePortOn, metric, findSubscriber, waitFor, NAMESPACE } from './lib.mjs';

// Waits until `pod`'s sidecar has tried to subscribe `n` times (each refused stream counts).
async function waitTries(pod, n = 2) {
  await waitFor(async () => (await metric(pod, 'drover_controller_reconnects_total')) >= n, {
    timeoutMs: 20000,
    intervalMs: 100,
    what: `${pod.name}'s sidecar to have tried to subscribe ${n} times\n${pod.sc.tail(2000)}`,
  });
}

async function expectNoTable(pod) {
  const m = await pod.membership();
  // source names the table in force: none until one is applied (docs/sidecar-cli.md, /status).
  assert.equal(m.source, 'none', `${pod.name}: ${JSON.stringify(m)}`);
  assert.equal(m.version, null, `${pod.name} has no table: ${JSON.stringify(m)}`);
  assert.deepEqual(m.members, []);
  assert.equal(await metric(pod, 'drover_controller_connected'), 0, `${pod.name}: drover_controller_connected`);
}

test('Subscribe: a wrong sidecar token, a foreign pod and an unwatched pod are refused', { timeout: 120000 }, async (t) => {
  const a = await adminCluster(t);
  const { c } = a;
  const good = a.pods;

  await t.test('a sidecar with a wrong --controller-token-file never gets a table, no replica lists it', async () => {
    const d = await c.addPod('web-d', {
      controllers: a.replicas.map((x) => x.address),
      flags: [`--controller-token-file=${a.files.wrongTokenFile}`],
    });
    // The others see web-d as a member (its pod is Ready in the cluster API)...
    await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready', 'web-d': 'ready' }, { pods: good });
    await waitTries(d, 3);
    // ...but its sidecar was refused each time, with the reason.
    await expectNoTable(d);
    assert.match(d.sc.stderr, /stream ended \(code 16: Subscribe needs the sidecar token/, d.sc.tail(2000));
    const subscribers = [];
    for (const x of a.replicas) {
      const st = await x.status();
      assert.equal(findSubscriber(st, NAMESPACE, 'web-d'), undefined, `${x.name} lists no subscriber web-d: ${JSON.stringify(st.subscribers)}`);
      subscribers.push(...st.subscribers.map((s) => s.pod));
    }
    assert.deepEqual(subscribers.sort(), ['web-a', 'web-b', 'web-c'].map((p) => `${NAMESPACE}/${p}`), 'the replicas\' subscribers: the three sidecars with the right token');
    const [s0, s1] = await a.waitStatus((st) => st.members.length === 4, 'four members in both replicas');
    for (const st of [s0, s1]) {
      const m = st.members.find((x) => x.id === 'web-d');
      assert.equal(m.connected, false, JSON.stringify(m));
      assert.equal(m.controller, '');
      assert.equal(m.appliedVersion, '');
      assert.equal(st.replicas.reduce((s, r) => s + r.subscribers, 0), 3, 'three subscribers over both replicas');
    }
    // A member without a connected sidecar cannot be restarted.
    const r = await a.ctl(1, ['restart', 'web-d']);
    assert.equal(r.code, 1, r.describe());
    assert.equal(r.grpcCode, 'FAILED_PRECONDITION', r.describe());
  });

  await t.test('--verify-peer-ip=true: a hello naming a pod whose IP is not the source is PERMISSION_DENIED', async () => {
    const verify = await startEditedController(c, {
      flags: [`--admin-token-file=${a.files.adminTokenFile}`, `--sidecar-token-file=${a.files.sidecarTokenFile}`],
      edit: (args) => [...args.filter((x) => !x.startsWith('--verify-peer-ip')), '--verify-peer-ip=true'],
    });
    assert.ok(verify.proc.args.includes('--verify-peer-ip=true'));
    const token = [`--controller-token-file=${a.files.sidecarTokenFile}`];

    // web-e's pod has IP 127.0.0.x (x > 1); its sidecar's stream comes from 127.0.0.1.
    const e = await c.addPod('web-e', { controllers: [verify.address], flags: token });
    assert.notEqual(e.ip, '127.0.0.1');
    // A sidecar claiming a pod that is not in the cluster API at all.
    const ghost = await c.addPod('web-ghost', { controllers: [verify.address], flags: token, inSim: false });
    // The control: a pod whose IP is 127.0.0.1, in an app group of its own.
    const solo = new Pod(c, { name: 'solo-a', app: 'solo', ip: '127.0.0.1', peerPort: await freePortOn('127.0.0.1'), workers: 1 });
    c.pods.set(solo.name, solo);
    c.defer(() => solo.stop());
    c.putInSim(solo, { ready: false });
    await solo.startSidecar({ controllers: [verify.address], flags: token });
    c.setReady('solo-a', true);

    await c.waitTables('solo', { 'solo-a': 'ready' }, { pods: [solo], controllers: [verify] });
    assert.ok(findSubscriber(await verify.status(), NAMESPACE, 'solo-a'), 'solo-a (IP 127.0.0.1) is subscribed');

    await waitTries(e, 2);
    await waitTries(ghost, 2);
    await expectNoTable(e);
    await expectNoTable(ghost);
    assert.match(e.sc.stderr, new RegExp(`stream ended \\(code 7: this stream comes from 127\\.0\\.0\\.1, not from pod ${NAMESPACE}/web-e's IP ${e.ip.replace(/\./g, '\\.')}`), e.sc.tail(2000));
    assert.match(ghost.sc.stderr, /stream ended \(code 9: pod shop\/web-ghost is not among the pods this controller watches/, ghost.sc.tail(2000));
    const st = await verify.status();
    assert.deepEqual(st.subscribers.map((s) => s.pod), [`${NAMESPACE}/solo-a`], `the verifying controller's only subscriber is solo-a: ${JSON.stringify(st.subscribers)}`);

    // The same web-e identity is accepted by a replica that does not verify (loopback tests):
    // what refused it was the IP check, not its token.
    const e2 = await c.addPod('web-f', { controllers: [a.replicas[1].address], flags: token });
    await waitFor(async () => findSubscriber(await a.replicas[1].status(), NAMESPACE, 'web-f'), {
      timeoutMs: 15000,
      what: 'web-f subscribed to replica 1 (no IP check)',
    });
    assert.notEqual((await e2.membership()).version, null);
  });
});
