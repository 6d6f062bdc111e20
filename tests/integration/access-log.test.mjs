// --access-log=text|json: one line per request on stdout with the client, the request, the
// status, bytes both ways, the member and slot that served it, the sticky decision and the
// timings; lines stay whole when several threads log at once.

import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { scope, backendsFlag } from './lib/scope.mjs';
import { waitBackendsUp } from './lib/admin.mjs';
import { request, scrape, metricSum } from './lib/backends.mjs';
import { waitFor } from './lib/proc.mjs';

function jsonLines(sc) {
  return sc.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

async function logLine(sc, path) {
  return waitFor(() => jsonLines(sc).find((e) => e.path === path), { what: `the log line of ${path}` });
}

const kKeys = ['time', 'client', 'method', 'path', 'status', 'bytes_in', 'bytes_out', 'member', 'slot', 'sticky',
  'queue_ms', 'connect_ms', 'response_ms', 'total_ms'];

// A new session, then its sticky hit, each logged with every field right.
test('json: a normal request and a sticky hit', async (t) => {
  const s = scope(t);
  const a = await s.httpBackend({
    name: 'a',
    handler: (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 5 });
        res.end('hello');
      });
    },
  });
  const sc = await s.sidecar([backendsFlag(a), '--access-log=json', '--member-id=pod-1']);
  await waitBackendsUp(sc, [a.port]);
  const first = await request(sc.port, { method: 'POST', path: '/first?x=1', body: 'abcdef' });
  assert.equal(first.status, 200);
  const cookie = String(first.headers['set-cookie']).split(';')[0];
  const e = await logLine(sc, '/first?x=1');
  assert.deepEqual(Object.keys(e), kKeys);
  assert.equal(e.client, '127.0.0.1');
  assert.equal(e.method, 'POST');
  assert.equal(e.status, 200);
  assert.ok(e.bytes_in > 6, `bytes_in ${e.bytes_in} counts the head and the 6-byte body`);
  assert.ok(e.bytes_out > 5 && e.bytes_out < 400, `bytes_out ${e.bytes_out}`);
  assert.equal(e.member, 'pod-1');
  assert.equal(e.slot, 0);
  assert.equal(e.sticky, 'new');
  assert.equal(e.queue_ms, null);
  assert.ok(e.connect_ms >= 0 && e.response_ms >= 0 && e.total_ms >= e.response_ms, JSON.stringify(e));
  assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  assert.equal((await request(sc.port, { path: '/again', headers: { cookie } })).status, 200);
  const hit = await logLine(sc, '/again');
  assert.equal(hit.sticky, 'hit');
  assert.equal(hit.slot, 0);
  assert.equal(hit.method, 'GET');
});

// 502 (the backend closes without answering) and 504 (no answer in time) are logged with the
// slot that failed.
test('json: 502 and 504', async (t) => {
  const s = scope(t);
  const closer = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => sock.destroy());
  });
  await new Promise((r) => closer.listen(0, '127.0.0.1', r));
  s.defer(() => new Promise((r) => closer.close(() => r())));
  const silent = net.createServer((sock) => sock.on('error', () => {}));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const sockets = new Set();
  silent.on('connection', (c) => sockets.add(c));
  s.defer(() => new Promise((r) => { sockets.forEach((c) => c.destroy()); silent.close(() => r()); }));

  const refused = await s.sidecar([`--backends=127.0.0.1:${closer.address().port}`, '--access-log=json', '--sticky=none']);
  await waitBackendsUp(refused, [closer.address().port]);
  assert.equal((await request(refused.port, { path: '/refused' })).status, 502);
  const e502 = await logLine(refused, '/refused');
  assert.equal(e502.status, 502);
  assert.equal(e502.slot, 0);
  assert.equal(e502.sticky, '-');
  assert.equal(e502.response_ms, null);

  const slow = await s.sidecar([`--backends=127.0.0.1:${silent.address().port}`, '--access-log=json',
    '--response-timeout=200ms']);
  assert.equal((await request(slow.port, { path: '/silent' })).status, 504);
  const e504 = await logLine(slow, '/silent');
  assert.equal(e504.status, 504);
  assert.equal(e504.slot, 0);
  assert.ok(e504.connect_ms >= 0);
  assert.equal(e504.response_ms, null);
  assert.ok(e504.total_ms >= 200, `total_ms ${e504.total_ms}`);
});

// A request that waited for --worker-max-inflight logs its wait; text format fields in order.
test('text: a queued request', async (t) => {
  const s = scope(t);
  const held = [];
  const a = await s.httpBackend({
    name: 'a',
    handler: (req, res) => {
      req.resume();
      const answer = () => res.end('ok');
      if (req.url === '/hold') held.push(answer);
      else answer();
    },
  });
  s.defer(() => held.forEach((f) => f()));
  const sc = await s.sidecar([backendsFlag(a), '--access-log=text', '--worker-max-inflight=1', '--member-id=m']);
  await waitBackendsUp(sc, [a.port]);
  const hold = request(sc.port, { path: '/hold', timeoutMs: 20000 });
  await waitFor(() => held.length === 1, { what: 'the held request' });
  const queued = request(sc.port, { path: '/queued', timeoutMs: 20000 });
  await waitFor(async () => metricSum(await scrape(sc.adminPort), 'drover_queue_depth') === 1, {
    what: 'the request to queue',
  });
  held.splice(0).forEach((f) => f());
  assert.equal((await hold).status, 200);
  assert.equal((await queued).status, 200);
  const re =
    /^(\S+Z) 127\.0\.0\.1 "GET \/queued" 200 (\d+) (\d+) m\/0 new Tw=(\d+\.\d{3}) Tc=(\d+\.\d{3}) Tr=(\d+\.\d{3}) Tt=(\d+\.\d{3})$/m;
  const m = await waitFor(() => re.exec(sc.stdout), { what: 'the text line of /queued' });
  assert.ok(Number(m[2]) > 0 && Number(m[3]) > 0);
  assert.ok(Number(m[7]) >= Number(m[4]), 'total >= queue wait');
  assert.match(sc.stdout, /"GET \/hold" 200 .* Tw=- /);
});

// Two threads and many concurrent keep-alive clients: every line is whole and there is one per
// request.
test('json: lines stay whole with several threads', async (t) => {
  const s = scope(t);
  const a = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(a), '--threads=2', '--access-log=json', '--sticky=none']);
  await waitBackendsUp(sc, [a.port]);
  const clients = 16;
  const each = 25;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const conn = await s.connect(sc.port);
      for (let i = 0; i < each; i++) {
        await conn.write(`GET /c${c}/r${i}/${'x'.repeat(200)} HTTP/1.1\r\nHost: t\r\n\r\n`);
        assert.equal((await conn.readResponse()).status, 200);
      }
    }),
  );
  await waitFor(() => jsonLines(sc).length >= clients * each, { what: 'every line', timeoutMs: 10000 });
  const lines = sc.stdout.split('\n').filter((l) => l !== '');
  for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not a whole line: ${l.slice(0, 120)}`);
  const paths = new Set(jsonLines(sc).map((e) => e.path));
  assert.equal(paths.size, clients * each);
  assert.equal(metricSum(await scrape(sc.adminPort), 'drover_access_log_dropped_total'), 0);
});

// Off by default: nothing on stdout.
// A request cut short is logged too, as nginx logs it: a client that resets before the answer
// gets 499 with no bytes out; a backend that dies mid-body leaves the status it sent and the
// bytes that reached the client.
test('json: requests cut short by the client or the backend', async (t) => {
  const s = scope(t);
  let arrived = false;
  const a = await s.httpBackend({
    name: 'a',
    handler: (req, res) => {
      req.resume();
      if (req.url === '/slow') {
        arrived = true;
        setTimeout(() => res.end('late'), 3000);
      } else {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 10000 });
        res.write('only part of it');
        setTimeout(() => res.socket.destroy(), 50);
      }
    },
  });
  const sc = await s.sidecar([backendsFlag(a), '--access-log=json']);
  await waitBackendsUp(sc, [a.port]);
  const client = net.connect(sc.port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise((r) => client.once('connect', r));
  client.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => arrived, { what: 'the request at the backend' });
  client.resetAndDestroy();
  const gone = await logLine(sc, '/slow');
  assert.equal(gone.status, 499);
  assert.equal(gone.bytes_out, 0);
  assert.equal(gone.slot, 0);
  assert.ok(gone.total_ms >= 0 && gone.response_ms === null, JSON.stringify(gone));

  await request(sc.port, { path: '/cut' }).catch(() => {});
  const cut = await logLine(sc, '/cut');
  assert.equal(cut.status, 200);
  assert.ok(cut.bytes_out > 15 && cut.bytes_out < 1000, `the head and 15 of 10000 body bytes: ${JSON.stringify(cut)}`);
});

test('off by default', async (t) => {
  const s = scope(t);
  const a = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(a)]);
  await waitBackendsUp(sc, [a.port]);
  assert.equal((await request(sc.port, { path: '/quiet' })).status, 200);
  assert.equal(sc.stdout, '');
});

// Nobody reads stdout: the loop threads keep serving, lines beyond the bounded buffers are
// dropped and counted, and the sidecar still exits promptly on SIGTERM.
test('a stalled stdout never blocks serving or exiting', { timeout: 60000 }, async (t) => {
  const s = scope(t);
  const a = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(a), '--access-log=json', '--sticky=none']);
  await waitBackendsUp(sc, [a.port]);
  sc.child.stdout.pause(); // the pipe fills, then the sidecar's writes would block
  const long = 'x'.repeat(3000);
  const clients = 8;
  const each = 200; // 1,600 lines of ~3.3 KB: more than the pipe and the 4 MiB buffer hold
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const conn = await s.connect(sc.port);
      for (let i = 0; i < each; i++) {
        await conn.write(`GET /c${c}/r${i}/${long} HTTP/1.1\r\nHost: t\r\n\r\n`);
        assert.equal((await conn.readResponse()).status, 200);
      }
    }),
  );
  const m = await scrape(sc.adminPort);
  assert.ok(metricSum(m, 'drover_access_log_dropped_total') > 0, 'some lines were dropped');
  const r = await sc.stop('SIGTERM', 10000);
  assert.equal(r.killed, false, 'the sidecar did not exit on SIGTERM');
  assert.equal(r.code, 0);
});
