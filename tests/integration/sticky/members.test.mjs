// Sticky sessions across members: three sidecars on loopback (pod-a, pod-b, pod-c), each
// supervising 2 Socket.IO workers, with one shared --peers file. Every HTTP request of a client
// (each long-polling GET and POST, and the WebSocket upgrade) goes to a random sidecar; the
// DROVERID cookie names the member and slot of the session, so a sidecar that does not own it
// forwards it once to the owner's peer listener. Every session must stay on its first worker.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { supervisorScope } from '../supervisor/lib/supervisor.mjs';
import { freePort } from '../lib/backends.mjs';
import { stickyCounts, peersText, tempDir, histogram, pool, writeFileAtomic } from './lib/sticky.mjs';
import { SOCKETIO_APP, openClients, describeClients, RandomPortAgent } from './lib/sio.mjs';
import { requirePackage } from '../lib/packages.mjs';

const kClients = Number(process.env.STICKY_MEMBERS_CLIENTS || 200);

// Starts pod-a/b/c with their peer listeners and one peers file listing all three.
async function startMembers(t, ids = ['pod-a', 'pod-b', 'pod-c'], workers = 2) {
  const s = supervisorScope(t);
  const dir = tempDir(t);
  const peersFile = path.join(dir, 'peers');
  const members = [];
  for (const id of ids) members.push({ id, peerPort: await freePort(), slots: workers });
  writeFileAtomic(peersFile, peersText(members));
  for (const m of members) {
    m.sc = await s.start({
      workers,
      cmd: [process.execPath, SOCKETIO_APP],
      flags: ['--pin=false', '--ready-path=/whoami', `--member-id=${m.id}`, `--peer-listen=127.0.0.1:${m.peerPort}`, `--peers=${peersFile}`],
      timeoutMs: 20000,
    });
  }
  for (const m of members) await m.sc.waitAllReady({ timeoutMs: 30000 });
  // pid -> { member, slot }, from each sidecar's /status.
  const owner = new Map();
  for (const m of members) {
    for (const slot of (await m.sc.status()).slots) owner.set(slot.pid, { member: m.id, slot: slot.slot });
  }
  return { members, peersFile, owner };
}

// Each request to a random one of 3 sidecars: every Socket.IO session stays on its first worker.
test(`${kClients} socket.io clients, each request to a random one of 3 sidecars, stay on their first worker`, { timeout: 150000 }, async (t) => {
  requirePackage('examples/socketio', 'socket.io');
  const clients = [];
  t.after(() => clients.forEach((c) => c.close()));
  const { members, owner } = await startMembers(t);
  const publicPorts = members.map((m) => m.sc.port);
  // A seeded generator, so that a failing spread can be replayed.
  let seed = 12345;
  const rng = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const t0 = Date.now();
  clients.push(
    ...(await openClients(kClients, (i) => `http://127.0.0.1:${publicPorts[i % 3]}`, {
      batch: 25,
      agentFor: () => new RandomPortAgent(publicPorts, rng),
    })),
  );
  await Promise.all(clients.map((c) => c.firstEcho));
  await pool(clients.length, 30, async (i) => {
    for (let k = 0; k < 3; k++) await clients[i].echo();
  });
  const elapsed = Date.now() - t0;

  const bad = (pred) => clients.filter(pred).map((c) => c.id);
  assert.deepEqual(bad((c) => c.connectErrors.length > 0), [], `connect_error:\n${describeClients(clients, (c) => c.connectErrors.length > 0)}`);
  assert.deepEqual(bad((c) => c.disconnects.length > 0), [], `disconnected:\n${describeClients(clients, (c) => c.disconnects.length > 0)}`);
  assert.deepEqual(bad((c) => c.connects !== 1 || !c.upgraded), [], `one connection each, upgraded to websocket:\n${describeClients(clients, (c) => c.connects !== 1 || !c.upgraded)}`);
  assert.deepEqual(bad((c) => c.echoErrors.length > 0), [], `echo errors:\n${describeClients(clients, (c) => c.echoErrors.length > 0)}`);
  for (const c of clients) {
    const h = c.hellos[0];
    const home = owner.get(h.pid);
    assert.ok(home, `client ${c.id}: hello pid ${h.pid} is a worker of some member`);
    assert.equal(String(home.slot), String(h.worker), `client ${c.id}: worker id matches the slot of pid ${h.pid}`);
    assert.equal(c.replies.length, 4);
    for (const r of c.replies) {
      assert.deepEqual([r.worker, r.pid, owner.get(r.pid)?.member], [h.worker, h.pid, home.member], `client ${c.id}: echo ${r.n} over ${r.transport}\n${describeClients([c])}`);
    }
  }
  // The requests really went to random sidecars, and the non-owners forwarded them.
  const perClientSidecars = clients.map((c) => new Set(c.agent.log).size);
  const requests = clients.reduce((n, c) => n + c.agent.log.length, 0);
  const counts = await Promise.all(members.map((m) => stickyCounts(m.sc.adminPort)));
  const forwarded = counts.reduce((n, x) => n + x.forwarded, 0);
  const fresh = counts.reduce((n, x) => n + x.new, 0);
  assert.equal(fresh, clients.length, `one new session per client over all members: ${JSON.stringify(counts)}`);
  assert.equal(counts.reduce((n, x) => n + x.invalid + x.remapped, 0), 0, `nothing refused or re-homed: ${JSON.stringify(counts)}`);
  assert.ok(counts.every((x) => x.forwarded > 0), `every member forwarded: ${JSON.stringify(counts)}`);
  assert.ok(perClientSidecars.filter((n) => n >= 2).length >= clients.length * 0.8, `most clients used 2+ sidecars: ${JSON.stringify(histogram(perClientSidecars))}`);
  const perMember = histogram(clients.map((c) => owner.get(c.hellos[0].pid).member));
  assert.deepEqual(Object.keys(perMember), ['pod-a', 'pod-b', 'pod-c'], `sessions on every member: ${JSON.stringify(perMember)}`);
  t.diagnostic(`sessions per member ${JSON.stringify(perMember)}; ${requests} HTTP connections, ${forwarded} forwarded; sidecars used per client ${JSON.stringify(histogram(perClientSidecars))}; counts ${JSON.stringify(counts)}; ${elapsed} ms`);
});
