// --worker-max-inflight and its queue (--max-queue, --queue-timeout): a worker (here a backend)
// never has more requests in flight than the limit, across the sidecar's threads; the rest wait
// in the sidecar, a sticky request for its own slot; a full queue or a long wait gets 503 with
// Retry-After; the queue's depth and wait time are metrics.

import test from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { scope, backendsFlag } from './lib/scope.mjs';
import { waitBackendsUp } from './lib/admin.mjs';
import { request, scrape, metricSum } from './lib/backends.mjs';
import { waitFor, withDeadline } from './lib/proc.mjs';
import { supervisorScope, tempDir } from './supervisor/lib/supervisor.mjs';

// A backend that records how many requests it runs at once; /hold/* is answered when release()
// is called, anything else after `delayMs`.
async function countingBackend(s, name, { delayMs = 20 } = {}) {
  const state = { name, now: 0, max: 0, held: [], seen: [] };
  const b = await s.httpBackend({
    name,
    handler: (req, res) => {
      req.resume();
      state.now++;
      state.max = Math.max(state.max, state.now);
      state.seen.push(req.url);
      const answer = () => {
        state.now--;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Backend': name });
        res.end(`${name} ${req.url}`);
      };
      if (req.url.startsWith('/hold')) state.held.push(answer);
      else setTimeout(answer, delayMs);
    },
  });
  state.backend = b;
  state.port = b.port;
  state.release = () => state.held.splice(0).forEach((f) => f());
  s.defer(() => state.release());
  return state;
}

async function queueDepth(sc) {
  return metricSum(await scrape(sc.adminPort), 'drover_queue_depth');
}

// 20 concurrent requests on fresh connections over two threads and two backends with
// --worker-max-inflight=1: every one is answered and no backend ever runs two at once.
test('--worker-max-inflight=1 keeps one request in flight per worker across threads', async (t) => {
  const s = scope(t);
  const a = await countingBackend(s, 'a');
  const b = await countingBackend(s, 'b');
  const sc = await s.sidecar([backendsFlag(a, b), '--threads=2', '--worker-max-inflight=1', '--sticky=none']);
  await waitBackendsUp(sc, [a.port, b.port]);
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => request(sc.port, { path: `/r/${i}`, timeoutMs: 20000 })),
  );
  for (const r of results) assert.equal(r.status, 200, r.text);
  assert.equal(a.max, 1, 'backend a ran more than one request at once');
  assert.equal(b.max, 1, 'backend b ran more than one request at once');
  assert.equal(a.seen.length + b.seen.length, 20);
  const m = await scrape(sc.adminPort);
  assert.equal(metricSum(m, 'drover_queue_depth'), 0);
  assert.ok(metricSum(m, 'drover_queue_wait_seconds_count') >= 1, 'some requests waited');
  assert.equal(m.types.drover_queue_wait_seconds, 'histogram');
  assert.equal(m.types.drover_queue_depth, 'gauge');
});

// A sticky request waits for its own slot while the other worker is idle; a new session goes to
// the idle worker meanwhile; the waiter runs on its slot once the slot is free.
test('a sticky request waits for its own slot, a new session does not', async (t) => {
  const s = scope(t);
  const a = await countingBackend(s, 'a');
  const b = await countingBackend(s, 'b');
  const sc = await s.sidecar([backendsFlag(a, b), '--worker-max-inflight=1', '--sticky=cookie']);
  await waitBackendsUp(sc, [a.port, b.port]);
  const first = await request(sc.port, { path: '/first' });
  assert.equal(first.status, 200);
  const home = first.headers['x-backend'];
  const cookie = String(first.headers['set-cookie']).split(';')[0];
  const [busy, idle] = home === 'a' ? [a, b] : [b, a];

  const hold = request(sc.port, { path: '/hold/1', headers: { cookie }, timeoutMs: 20000 });
  await waitFor(() => busy.held.length === 1, { what: 'the held request to reach its slot' });
  const waiter = request(sc.port, { path: '/sticky-waiter', headers: { cookie }, timeoutMs: 20000 });
  await waitFor(async () => (await queueDepth(sc)) === 1, { what: 'the sticky request to queue' });
  assert.ok(!idle.seen.includes('/sticky-waiter'), 'the sticky request went to the other worker');

  const fresh = await request(sc.port, { path: '/new-session' });
  assert.equal(fresh.status, 200);
  assert.equal(fresh.headers['x-backend'], idle.name, 'a new session waited for the busy worker');

  busy.release();
  const w = await waiter;
  assert.equal(w.status, 200);
  assert.equal(w.headers['x-backend'], busy.name);
  assert.equal(w.headers['set-cookie'], undefined, 'the session was re-homed');
  assert.equal((await hold).status, 200);
  assert.equal(busy.max, 1);
});

// --max-queue=1: with every worker busy one request waits and the next gets 503 + Retry-After;
// the waiter is served when a worker frees up.
test('a full queue answers 503 with Retry-After', async (t) => {
  const s = scope(t);
  const a = await countingBackend(s, 'a');
  const sc = await s.sidecar([backendsFlag(a), '--worker-max-inflight=1', '--max-queue=1', '--sticky=none']);
  await waitBackendsUp(sc, [a.port]);
  const hold = request(sc.port, { path: '/hold/1', timeoutMs: 20000 });
  await waitFor(() => a.held.length === 1, { what: 'the held request' });
  const waiter = request(sc.port, { path: '/waiter', timeoutMs: 20000 });
  await waitFor(async () => (await queueDepth(sc)) === 1, { what: 'one request to queue' });
  const rejected = await request(sc.port, { path: '/rejected' });
  assert.equal(rejected.status, 503);
  assert.equal(rejected.headers['retry-after'], '1');
  assert.match(rejected.text, /queue is full/);
  assert.ok(!a.seen.includes('/rejected'));
  a.release();
  assert.equal((await hold).status, 200);
  assert.equal((await waiter).status, 200);
  const m = await scrape(sc.adminPort);
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'queue_full' }), 1);
});

// --queue-timeout: a request that waits longer gets 503 with Retry-After and never reaches the
// worker; the keep-alive connection stays usable.
test('a request that waits past --queue-timeout gets 503', async (t) => {
  const s = scope(t);
  const a = await countingBackend(s, 'a');
  const sc = await s.sidecar([backendsFlag(a), '--worker-max-inflight=1', '--queue-timeout=200ms', '--sticky=none']);
  await waitBackendsUp(sc, [a.port]);
  const hold = request(sc.port, { path: '/hold/1', timeoutMs: 20000 });
  await waitFor(() => a.held.length === 1, { what: 'the held request' });
  const c = await s.connect(sc.port);
  await c.write('GET /late HTTP/1.1\r\nHost: t\r\n\r\n');
  const late = await c.readResponse();
  assert.equal(late.status, 503);
  assert.equal(late.get('retry-after'), '1');
  assert.match(late.text(), /in time/);
  assert.ok(!a.seen.includes('/late'));
  a.release();
  assert.equal((await hold).status, 200);
  await c.write('GET /after HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  const m = await scrape(sc.adminPort);
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'queue_timeout' }), 1);
  assert.equal(metricSum(m, 'drover_queue_depth'), 0);
  assert.ok(metricSum(m, 'drover_queue_wait_seconds_count') >= 1);
});

// A client that resets its connection while it waits leaves the queue, and the place it would
// have had goes to the next waiter. (A FIN alone is abortonclose's business.)
test('a waiter that disconnects leaves the queue', async (t) => {
  const s = scope(t);
  const a = await countingBackend(s, 'a');
  const sc = await s.sidecar([backendsFlag(a), '--worker-max-inflight=1', '--sticky=none']);
  await waitBackendsUp(sc, [a.port]);
  const hold = request(sc.port, { path: '/hold/1', timeoutMs: 20000 });
  await waitFor(() => a.held.length === 1, { what: 'the held request' });
  const quitter = await s.connect(sc.port);
  await quitter.write('GET /quitter HTTP/1.1\r\nHost: t\r\n\r\n');
  await waitFor(async () => (await queueDepth(sc)) === 1, { what: 'the quitter to queue' });
  quitter.sock.resetAndDestroy();
  await waitFor(async () => (await queueDepth(sc)) === 0, { what: 'the quitter to leave the queue' });
  const next = request(sc.port, { path: '/next', timeoutMs: 20000 });
  await waitFor(async () => (await queueDepth(sc)) === 1, { what: 'the next request to queue' });
  a.release();
  assert.equal((await hold).status, 200);
  assert.equal((await next).status, 200);
  assert.ok(!a.seen.includes('/quitter'));
});

// A WebSocket holds its worker's place only while its handshake is in flight: with the tunnel
// open, a plain request to the same (only) worker is served at once, twice over.
test('an open WebSocket does not hold its worker\'s place', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({ name: 'ws' });
  const wss = new WebSocketServer({ server: b.server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  s.defer(() => new Promise((r) => wss.close(() => r())));
  const sc = await s.sidecar([backendsFlag(b), '--worker-max-inflight=1', '--queue-timeout=2s', '--sticky=none']);
  await waitBackendsUp(sc, [b.port]);
  const ws = new WebSocket(`ws://127.0.0.1:${sc.port}/chat`);
  s.defer(() => ws.terminate());
  await withDeadline(once(ws, 'open'), 5000, 'WebSocket open through the proxy');
  for (let i = 0; i < 2; i++) {
    const r = await request(sc.port, { path: `/plain/${i}` });
    assert.equal(r.status, 200, r.text);
  }
  ws.send('still here');
  const [echo] = await withDeadline(once(ws, 'message'), 5000, 'echo through the tunnel');
  assert.equal(echo.toString(), 'still here');
  const m = await scrape(sc.adminPort);
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'queue_timeout' }), 0);
});

// Supervisor mode, the setting the limit is for: two Node.js worker processes behind two loop
// threads; each worker records how many requests it ran at once, and never sees two.
test('supervisor mode: each worker process runs one request at a time', { timeout: 60000 }, async (t) => {
  const dir = tempDir(t, 'drover-queue-');
  const app = path.join(dir, 'concurrency-app.mjs');
  fs.writeFileSync(
    app,
    `import http from 'node:http';
let active = 0;
let max = 0;
http.createServer((req, res) => {
  active++;
  max = Math.max(max, active);
  setTimeout(() => {
    active--;
    const body = JSON.stringify({ pid: process.pid, max });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }, 15);
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`,
  );
  const s = supervisorScope(t);
  const sc = await s.start({
    workers: 2,
    cmd: [process.execPath, app],
    flags: ['--threads=2', '--worker-max-inflight=1', '--sticky=none'],
  });
  await sc.waitAllReady();
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => request(sc.port, { path: `/r/${i}`, timeoutMs: 20000 })),
  );
  const pids = new Set();
  for (const r of results) {
    assert.equal(r.status, 200, r.text);
    const { pid, max } = JSON.parse(r.text);
    pids.add(pid);
    assert.equal(max, 1, `worker ${pid} ran ${max} requests at once`);
  }
  assert.equal(pids.size, 2, 'both workers served');
});
