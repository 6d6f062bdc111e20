// Socket.IO 4 behind one sidecar with 4 workers (examples/socketio/server.js), reached by real
// socket.io-client v4 clients that start on long-polling and upgrade to WebSocket. Without
// sticky sessions the polling requests of one client would reach several workers ("Session ID
// unknown", HTTP 400); with the DROVERID cookie every request of a client reaches one worker.
//
// The clients keep the cookie with socket.io-client's own cookie jar (`withCredentials: true`,
// engine.io-client >= 6.5 in Node): no cookie is passed by hand; the `new` counter proves the
// cookie is sent (a request without it would be a new session).

import test from 'node:test';
import assert from 'node:assert/strict';
import { supervisorScope, metricSum } from '../supervisor/lib/supervisor.mjs';
import { waitFor } from '../lib/proc.mjs';
import { stickyCounts, pool, histogram } from './lib/sticky.mjs';
import { SOCKETIO_APP, openClients, describeClients } from './lib/sio.mjs';
import { requirePackage } from '../lib/packages.mjs';

const kClients = Number(process.env.STICKY_SIO_CLIENTS || 200);

async function startApp(t, workers = 4) {
  const s = supervisorScope(t);
  const sc = await s.start({ workers, cmd: [process.execPath, SOCKETIO_APP], flags: ['--pin=false', '--ready-path=/whoami'], timeoutMs: 20000 });
  await sc.waitAllReady({ timeoutMs: 30000 });
  const status = await sc.status();
  const pidOfWorker = new Map(status.slots.map((x) => [String(x.slot), x.pid]));
  return { sc, status, pidOfWorker };
}

// Registered before the sidecar starts, so that it runs first: clients must be gone before the
// sidecar is stopped (open long-polls and WebSockets are in-flight requests it would wait for).
function clientList(t) {
  const clients = [];
  t.after(() => clients.forEach((c) => c.close()));
  return clients;
}

// 200 socket.io clients on 4 workers: no connect_error, all upgraded, every answer from one worker.
test(`${kClients} socket.io-client clients (polling, then websocket) each stay on one of 4 workers`, { timeout: 120000 }, async (t) => {
  requirePackage('examples/socketio', 'socket.io');
  const t0 = Date.now();
  const clients = clientList(t);
  const { sc, pidOfWorker } = await startApp(t);
  const opened = await openClients(kClients, () => `http://127.0.0.1:${sc.port}`, { batch: 25 });
  clients.push(...opened);
  const tConnected = Date.now();
  await Promise.all(clients.map((c) => c.firstEcho));
  // Three more echoes each, now over websocket.
  await pool(clients.length, 50, async (i) => {
    for (let k = 0; k < 3; k++) await clients[i].echo();
  });
  const tDone = Date.now();

  const bad = (pred) => clients.filter(pred);
  assert.deepEqual(bad((c) => c.connectErrors.length > 0).map((c) => c.id), [], `connect_error:\n${describeClients(clients, (c) => c.connectErrors.length > 0)}`);
  assert.deepEqual(bad((c) => c.disconnects.length > 0).map((c) => c.id), [], `disconnected:\n${describeClients(clients, (c) => c.disconnects.length > 0)}`);
  assert.deepEqual(bad((c) => c.connects !== 1 || c.hellos.length !== 1).map((c) => c.id), [], 'one connection and one hello per client');
  assert.deepEqual(bad((c) => !c.upgraded).map((c) => c.id), [], 'every client upgraded to websocket');
  assert.deepEqual(bad((c) => c.echoErrors.length > 0).map((c) => c.id), [], `echo errors:\n${describeClients(clients, (c) => c.echoErrors.length > 0)}`);
  for (const c of clients) {
    const h = c.hellos[0];
    assert.equal(h.pid, pidOfWorker.get(String(h.worker)), `client ${c.id}: hello from worker ${h.worker} pid ${h.pid} (/status)`);
    assert.equal(c.replies.length, 4, `client ${c.id}: 4 echoes answered`);
    for (const r of c.replies) {
      assert.deepEqual([r.worker, r.pid], [h.worker, h.pid], `client ${c.id}: echo ${r.n} (over ${r.transport}) by the worker that said hello\n${describeClients([c])}`);
    }
    assert.ok(c.cookie, `client ${c.id} holds a DROVERID cookie`);
  }
  const perWorker = histogram(clients.map((c) => c.hellos[0].worker));
  assert.deepEqual(Object.keys(perWorker), ['0', '1', '2', '3'], `clients on every worker: ${JSON.stringify(perWorker)}`);
  const overPolling = clients.flatMap((c) => c.replies).filter((r) => r.transport === 'polling').length;

  // The cookie went out on every request after the handshake: exactly one new session per
  // client, nothing refused, and at least the POST/GET/upgrade of each client were hits.
  const counts = await stickyCounts(sc.adminPort);
  assert.equal(counts.new, clients.length, `one new session per client: ${JSON.stringify(counts)}`);
  assert.equal(counts.invalid + counts.remapped + counts.no_key + counts.forwarded, 0, JSON.stringify(counts));
  assert.ok(counts.hit >= 3 * clients.length, `hits: ${JSON.stringify(counts)}`);
  const m = await sc.metrics();
  const status400 = metricSum(m, 'drover_http_requests_total', { code: (v) => v !== undefined && v.startsWith('4') });
  t.diagnostic(
    `${clients.length} clients per worker ${JSON.stringify(perWorker)}; ${overPolling} first echoes over polling; ` +
      `sticky ${JSON.stringify(counts)}; 4xx ${status400}; connect ${tConnected - t0} ms after start, echoes done ${tDone - t0} ms`,
  );
});

// kill -9 of a worker re-homes only its clients, each with one reconnect; others never reconnect.
test('killing one worker re-homes only its clients, each with at most one reconnect', { timeout: 120000 }, async (t) => {
  requirePackage('examples/socketio', 'socket.io');
  const clients = clientList(t);
  const { sc, status } = await startApp(t);
  clients.push(...(await openClients(80, () => `http://127.0.0.1:${sc.port}`, { batch: 20 })));
  await Promise.all(clients.map((c) => c.firstEcho));

  // Every client echoes in a loop (one echo in flight each, ~4 per second) until told to stop.
  let running = true;
  t.after(() => {
    running = false;
  });
  const loops = clients.map(async (c) => {
    for (let i = 0; running && i < 400; i++) {
      await c.echo();
      await new Promise((resolve) => setTimeout(resolve, 250)); // pacing the load, not waiting
    }
  });
  const victimSlot = 1;
  const victimPid = status.slots.find((x) => x.slot === victimSlot).pid;
  const victims = clients.filter((c) => c.hellos[0].pid === victimPid);
  const others = clients.filter((c) => c.hellos[0].pid !== victimPid);
  assert.ok(victims.length > 0, `some clients on worker ${victimSlot}: ${JSON.stringify(histogram(clients.map((c) => c.hellos[0].worker)))}`);
  await waitFor(() => clients.every((c) => c.replies.length >= 2), { timeoutMs: 15000, what: 'every client echoing' });

  const killedAt = Date.now();
  process.kill(victimPid, 'SIGKILL');
  try {
    await waitFor(() => victims.every((c) => c.connects >= 2 && c.upgraded && c.replies.some((r) => r.pid !== victimPid)), {
      timeoutMs: 20000,
      what: `the ${victims.length} clients of the killed worker to reconnect and echo`,
    });
    // Everyone keeps echoing a little longer after the last reconnect.
    const marks = new Map(clients.map((c) => [c, c.replies.length]));
    await waitFor(() => clients.every((c) => c.replies.length >= marks.get(c) + 3), { timeoutMs: 15000, what: 'three more echoes from every client' });
  } finally {
    running = false;
    await Promise.all(loops);
  }
  const reconnectMs = Math.max(...victims.map((c) => c.hellos[1]?.time ?? 0)) - killedAt;

  assert.deepEqual(others.filter((c) => c.disconnects.length || c.reconnectAttempts || c.connects !== 1).map((c) => c.id), [], `clients of other workers reconnected:\n${describeClients(others, (c) => c.disconnects.length || c.reconnectAttempts)}`);
  assert.deepEqual(others.filter((c) => c.echoErrors.length).map((c) => c.id), [], `echo errors on other workers:\n${describeClients(others, (c) => c.echoErrors.length)}`);
  for (const c of others) {
    assert.deepEqual(new Set(c.replies.map((r) => r.pid)), new Set([c.hellos[0].pid]), `client ${c.id} kept its worker`);
  }
  for (const c of victims) {
    assert.equal(c.connects, 2, `client ${c.id}: one reconnection\n${describeClients([c])}`);
    assert.ok(c.reconnectAttempts <= 1, `client ${c.id}: ${c.reconnectAttempts} reconnect attempts\n${describeClients([c])}`);
    assert.deepEqual(c.connectErrors, [], `client ${c.id}: connect errors`);
    assert.ok(c.echoErrors.length <= 1, `client ${c.id}: at most the echo in flight at the kill is lost\n${describeClients([c])}`);
    const after = c.replies.filter((r) => r.pid !== victimPid);
    const home = c.hellos[1];
    assert.ok(home && home.pid !== victimPid, `client ${c.id}: second hello from a live worker`);
    assert.deepEqual(new Set(after.map((r) => r.pid)), new Set([home.pid]), `client ${c.id}: after the reconnect every echo from one worker\n${describeClients([c])}`);
    // Replies are in order: the old worker's, then only the new one's.
    const firstNew = c.replies.findIndex((r) => r.pid !== victimPid);
    assert.ok(c.replies.slice(firstNew).every((r) => r.pid === home.pid), `client ${c.id}: no echo went back to the old worker`);
  }
  const after = await sc.status();
  const slot = after.slots.find((x) => x.slot === victimSlot);
  assert.notEqual(slot.pid, victimPid, 'the slot has a new process');
  const rehomed = histogram(victims.map((c) => c.hellos[1].worker));
  t.diagnostic(`${victims.length} of ${clients.length} clients on the killed worker; re-homed to workers ${JSON.stringify(rehomed)}; last reconnect ~${reconnectMs} ms after the kill; sticky ${JSON.stringify(await stickyCounts(sc.adminPort))}`);
});
