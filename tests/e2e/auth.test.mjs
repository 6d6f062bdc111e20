// End to end (issue 7): with --sidecar-token-file the controller serves its member tables only
// to sidecars that present the token (drover-sidecar --controller-token-file). A sidecar with
// a wrong token, or none, never gets a table: it is not among the controller's subscribers and
// it forwards nothing (it knows no other member), while the sidecar with the right token does.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { cluster, expectSticky, metric, findSubscriber, waitFor, NAMESPACE } from './lib/cluster.mjs';
import { tempDir } from '../integration/supervisor/lib/supervisor.mjs';

test('--sidecar-token-file: the right token subscribes, a wrong or missing one never gets a table', { timeout: 90000 }, async (t) => {
  const dir = tempDir(t, 'drover-e2e-auth-');
  const token = crypto.randomBytes(24).toString('base64url');
  const controllerToken = path.join(dir, 'sidecar-token');
  const good = path.join(dir, 'good');
  const bad = path.join(dir, 'bad');
  fs.writeFileSync(controllerToken, `${token}\n`);
  fs.writeFileSync(good, `${token}\n`);
  fs.writeFileSync(bad, `${token.slice(0, -1)}x\n`);

  const c = cluster(t);
  await c.startSim();
  const ctl = await c.startController({ flags: [`--sidecar-token-file=${controllerToken}`] });
  const a = await c.addPod('web-a', { flags: [`--controller-token-file=${good}`] });
  const b = await c.addPod('web-b', { flags: [`--controller-token-file=${bad}`] });
  const cc = await c.addPod('web-c');
  const version = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' }, { pods: [a] });

  // web-b and web-c have tried (and been refused) more than once by now.
  await waitFor(
    async () => (await metric(b, 'drover_controller_reconnects_total')) >= 2 && (await metric(cc, 'drover_controller_reconnects_total')) >= 2,
    { timeoutMs: 20000, what: 'web-b and web-c to have tried to subscribe at least twice' },
  );
  const st = await ctl.status();
  assert.ok(findSubscriber(st, NAMESPACE, 'web-a'), 'web-a is subscribed');
  assert.equal(findSubscriber(st, NAMESPACE, 'web-a').applied_version, version);
  assert.equal(findSubscriber(st, NAMESPACE, 'web-b'), undefined, `no subscriber for web-b: ${JSON.stringify(st.subscribers)}`);
  assert.equal(findSubscriber(st, NAMESPACE, 'web-c'), undefined, `no subscriber for web-c: ${JSON.stringify(st.subscribers)}`);
  assert.equal(st.subscribers.length, 1);
  for (const p of [b, cc]) {
    const m = await p.membership();
    assert.equal(m.version, null, `${p.name} has no table: ${JSON.stringify(m)}`);
    assert.deepEqual(m.members, []);
    assert.equal(await metric(p, 'drover_controller_connected'), 0, `${p.name}: drover_controller_connected`);
  }
  assert.equal(await metric(a, 'drover_controller_connected'), 1);

  // Routing agrees: web-a (with the table) forwards web-b's session to web-b; web-b (without a
  // table) serves web-a's session itself with a new cookie.
  const sessionA = await a.newSession();
  const sessionB = await b.newSession();
  await expectSticky(sessionB, [a, b], "web-b's session through web-a");
  const r = await b.get({ cookie: sessionA.cookie });
  assert.equal(r.pod, 'web-b', `web-a's session through table-less web-b is served there (${r.where})`);
  assert.equal(r.setCookies.length, 1);
  await expectSticky(sessionA, [a], "web-a's session at home");
});
