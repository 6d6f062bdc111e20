// End to end (issue 7): a watch that is silent for 40 s (no pod changes, bookmarks off) is not
// cut by a client-side timeout (cpprestsdk's default is 30 s): the controller still has its one
// watch request, and a change made after the quiet period reaches every sidecar promptly.
// This file waits 40 s on purpose; it has its own file so that it can carry a longer timeout.

import test from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { cluster, metric } from './lib/cluster.mjs';

const kQuietMs = 40000;

test('a watch silent for 40 s still delivers the next change promptly', { timeout: 180000 }, async (t) => {
  const c = cluster(t);
  await c.startSim({ bookmarkIntervalMs: 3600000 }); // no bookmarks during the test
  const ctl = await c.startController();
  const pods = await c.addPods(['web-a', 'web-b']);
  const v1 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' });
  const s = await pods[0].newSession();

  const watches = () => metric(ctl, 'drover_controller_kube_requests_total', { verb: 'watch' });
  const w0 = await watches();
  const started0 = c.sim.stats().watchesStarted;
  const rv0 = c.sim.resourceVersion;
  t.diagnostic(`before the quiet period: ${w0} watch request(s) by the controller, ${started0} started at kube-sim`);
  assert.equal(w0, 1, 'one watch request so far (list, then one watch)');

  // The deliberate quiet period: no writes, no bookmarks.
  await delay(kQuietMs);
  assert.equal(c.sim.resourceVersion, rv0, 'nothing was written meanwhile');
  assert.equal(c.sim.stats().openWatches, 1, 'the controller\'s watch is still open at kube-sim');

  const t0 = Date.now();
  c.setReady('web-b', false);
  const v2 = await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'draining' }, { timeoutMs: 5000 });
  const ms = Date.now() - t0;
  t.diagnostic(`the change reached every sidecar ${ms} ms after it was made`);
  assert.notEqual(v2, v1);
  assert.ok(ms < 3000, `prompt: ${ms} ms`);
  assert.equal(await watches(), 1, 'still the one watch request: no timeout cut it');
  assert.equal(c.sim.stats().watchesStarted, started0, 'kube-sim saw no new watch');
  const r = await pods[1].get({ cookie: s.cookie });
  assert.equal(r.pod, 'web-a', 'routing as before');
});
