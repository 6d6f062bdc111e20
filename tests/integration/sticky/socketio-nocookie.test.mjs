// --sticky=socketio with Socket.IO 4 clients that keep no cookies (socket.io-client in Node with
// withCredentials off, as mobile and server-side clients are): the sidecar puts the route of the
// worker that answered the handshake into the Engine.IO sid (`0{"sid":"ROUTE~sid"...}`), and
// takes it off the `sid` parameter of every later request (polling GET/POST, the WebSocket
// upgrade) before the app sees it. With a hash of the sid (`query:sid`), most handshakes fail
// ("Session ID unknown"): the worker that issued the sid is not the one its hash names.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { supervisorScope } from '../supervisor/lib/supervisor.mjs';
import { freePort } from '../lib/backends.mjs';
import { waitFor } from '../lib/proc.mjs';
import { stickyCounts, peersText, tempDir, histogram, pool, writeFileAtomic } from './lib/sticky.mjs';
import { openClients, describeClients, RandomPortAgent } from './lib/sio.mjs';

const APP = fileURLToPath(new URL('./apps/sio-app.cjs', import.meta.url));
const kClients = Number(process.env.STICKY_SIO_CLIENTS || 200);
const kRoutedSid = /^[A-Za-z0-9_-]{19}(\.[A-Za-z0-9_-]{14})?~[A-Za-z0-9_-]+$/;

async function startMembers(t, ids, workers, sticky = 'socketio') {
  const s = supervisorScope(t);
  const members = [];
  for (const id of ids) members.push({ id, peerPort: await freePort(), slots: workers });
  const peersFile = path.join(tempDir(t), 'peers');
  writeFileAtomic(peersFile, peersText(members));
  for (const m of members) {
    const flags = ['--pin=false', '--ready-path=/whoami', `--sticky=${sticky}`, `--member-id=${m.id}`];
    if (ids.length > 1) flags.push(`--peer-listen=127.0.0.1:${m.peerPort}`, `--peers=${peersFile}`);
    m.sc = await s.start({ workers, cmd: [process.execPath, APP], flags, timeoutMs: 20000 });
  }
  for (const m of members) await m.sc.waitAllReady({ timeoutMs: 30000 });
  const owner = new Map(); // pid -> { member, slot }
  for (const m of members) for (const slot of (await m.sc.status()).slots) owner.set(slot.pid, { member: m.id, slot: slot.slot });
  return { members, owner };
}

// Registered before the sidecars start, so that clients close before the sidecars stop.
function clientList(t) {
  const clients = [];
  t.after(() => clients.forEach((c) => c.close()));
  return clients;
}

function checkClients(clients, owner) {
  const bad = (pred) => clients.filter(pred).map((c) => c.id);
  assert.deepEqual(bad((c) => c.connectErrors.length > 0), [], `connect_error:\n${describeClients(clients, (c) => c.connectErrors.length > 0)}`);
  assert.deepEqual(bad((c) => c.disconnects.length > 0), [], `disconnected:\n${describeClients(clients, (c) => c.disconnects.length > 0)}`);
  assert.deepEqual(bad((c) => c.connects !== 1 || !c.upgraded), [], `one connection each, upgraded:\n${describeClients(clients, (c) => c.connects !== 1 || !c.upgraded)}`);
  assert.deepEqual(bad((c) => c.echoErrors.length > 0), [], `echo errors:\n${describeClients(clients, (c) => c.echoErrors.length > 0)}`);
  for (const c of clients) {
    const h = c.hellos[0];
    assert.ok(owner.has(h.pid), `client ${c.id}: hello from a worker`);
    assert.equal(c.replies.length, 4, `client ${c.id}: 4 echoes`);
    for (const r of c.replies) assert.deepEqual([r.worker, r.pid], [h.worker, h.pid], `client ${c.id}: echo over ${r.transport}\n${describeClients([c])}`);
    assert.match(c.engineIds[0], kRoutedSid, `client ${c.id}: its sid carries the route`);
    assert.equal(c.cookie, undefined, `client ${c.id} keeps no cookie`);
  }
}

async function echoAll(clients) {
  await Promise.all(clients.map((c) => c.firstEcho));
  await pool(clients.length, 50, async (i) => {
    for (let k = 0; k < 3; k++) await clients[i].echo();
  });
}

test(`${kClients} cookieless socket.io clients on 4 workers behind one sidecar: no handshake errors, one worker each`, { timeout: 120000 }, async (t) => {
  const clients = clientList(t);
  const { members, owner } = await startMembers(t, ['pod-a'], 4);
  clients.push(...(await openClients(kClients, () => `http://127.0.0.1:${members[0].sc.port}`, { batch: 25, withCredentials: false })));
  await echoAll(clients);
  checkClients(clients, owner);
  const perWorker = histogram(clients.map((c) => c.hellos[0].worker));
  assert.equal(Object.keys(perWorker).length, 4, `clients on every worker: ${JSON.stringify(perWorker)}`);
  const counts = await stickyCounts(members[0].sc.adminPort);
  assert.equal(counts.invalid + counts.remapped + counts.forwarded, 0, JSON.stringify(counts));
  assert.ok(counts.hit >= 2 * clients.length, `the sid's route decided: ${JSON.stringify(counts)}`);
  t.diagnostic(`clients per worker ${JSON.stringify(perWorker)}; sticky ${JSON.stringify(counts)}`);
});

test(`${kClients} cookieless socket.io clients, each connection to a random one of 3 sidecars, stay on their worker`, { timeout: 150000 }, async (t) => {
  const clients = clientList(t);
  const { members, owner } = await startMembers(t, ['pod-a', 'pod-b', 'pod-c'], 2);
  const ports = members.map((m) => m.sc.port);
  let seed = 777;
  const rng = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  clients.push(
    ...(await openClients(kClients, (i) => `http://127.0.0.1:${ports[i % 3]}`, { batch: 25, withCredentials: false, agentFor: () => new RandomPortAgent(ports, rng) })),
  );
  await echoAll(clients);
  checkClients(clients, owner);
  const perMember = histogram(clients.map((c) => owner.get(c.hellos[0].pid).member));
  assert.deepEqual(Object.keys(perMember), ['pod-a', 'pod-b', 'pod-c'], `sessions on every member: ${JSON.stringify(perMember)}`);
  const counts = await Promise.all(members.map((m) => stickyCounts(m.sc.adminPort)));
  assert.ok(counts.every((x) => x.forwarded > 0), `every member forwarded: ${JSON.stringify(counts)}`);
  assert.equal(counts.reduce((n, x) => n + x.invalid + x.remapped, 0), 0, JSON.stringify(counts));
  t.diagnostic(`sessions per member ${JSON.stringify(perMember)}; sticky ${JSON.stringify(counts)}`);
});

// kill -9 of one worker: its clients reconnect (a new handshake, a new routed sid); the clients
// of the other workers keep their sid and their worker.
test('killing one worker re-homes only its cookieless clients', { timeout: 120000 }, async (t) => {
  const clients = clientList(t);
  const { members } = await startMembers(t, ['pod-a'], 4);
  const sc = members[0].sc;
  clients.push(...(await openClients(80, () => `http://127.0.0.1:${sc.port}`, { batch: 20, withCredentials: false })));
  await Promise.all(clients.map((c) => c.firstEcho));
  let running = true;
  t.after(() => {
    running = false;
  });
  const loops = clients.map(async (c) => {
    for (let i = 0; running && i < 400; i++) {
      await c.echo();
      await new Promise((resolve) => setTimeout(resolve, 200)); // pacing the load, not waiting
    }
  });
  const victimPid = (await sc.status()).slots.find((x) => x.slot === 1).pid;
  const victims = clients.filter((c) => c.hellos[0].pid === victimPid);
  const others = clients.filter((c) => c.hellos[0].pid !== victimPid);
  assert.ok(victims.length > 0, 'some clients on the victim');
  try {
    await waitFor(() => clients.every((c) => c.replies.length >= 2), { timeoutMs: 15000, what: 'every client echoing' });
    process.kill(victimPid, 'SIGKILL');
    await waitFor(() => victims.every((c) => c.connects >= 2 && c.upgraded && c.replies.some((r) => r.pid !== victimPid)), {
      timeoutMs: 30000,
      what: `the ${victims.length} clients of the killed worker to reconnect and echo`,
    });
    const marks = new Map(clients.map((c) => [c, c.replies.length]));
    await waitFor(() => clients.every((c) => c.replies.length >= marks.get(c) + 3), { timeoutMs: 15000, what: 'three more echoes from every client' });
  } finally {
    running = false;
    await Promise.all(loops);
  }
  for (const c of others) {
    assert.equal(c.connects, 1, `client ${c.id} of another worker kept its connection\n${describeClients([c])}`);
    assert.deepEqual(c.engineIds.length, 1, `client ${c.id} kept its sid`);
    assert.deepEqual(new Set(c.replies.map((r) => r.pid)), new Set([c.hellos[0].pid]), `client ${c.id} kept its worker`);
    assert.deepEqual(c.echoErrors, [], `client ${c.id}: no echo lost`);
  }
  for (const c of victims) {
    assert.deepEqual(c.connectErrors, [], `client ${c.id}: the new handshake went through`);
    const home = c.hellos.at(-1);
    assert.notEqual(home.pid, victimPid);
    assert.match(c.engineIds.at(-1), kRoutedSid);
    const after = c.replies.slice(c.replies.findIndex((r) => r.pid !== victimPid));
    assert.deepEqual(new Set(after.map((r) => r.pid)), new Set([home.pid]), `client ${c.id}: one worker after the reconnect\n${describeClients([c])}`);
  }
  t.diagnostic(`${victims.length} of ${clients.length} clients re-homed to ${JSON.stringify(histogram(victims.map((c) => c.hellos.at(-1).worker)))}`);
});
