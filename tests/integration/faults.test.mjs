// Faults and limits on the data path: running out of descriptors, clients that go away or
// stall mid-body, backends that flood interim responses or break chunked framing, pipelined
// requests before a FIN, heads that trickle in a byte at a time, and over-long URIs.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { scope, backendsFlag } from './lib/scope.mjs';
import { rawExchange, parseAllResponses, RawClient, buildRequest } from './lib/http1.mjs';
import { waitFor } from './lib/proc.mjs';
import { request, scrape, metricSum } from './lib/backends.mjs';

// User plus system CPU seconds the process has used so far (all its threads).
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return ticks / hz;
}

function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// A raw backend that reads requests and never answers; `closed` counts connections with a
// request that the sidecar closed (their FIN or reset; the raw backend allows half-open
// sockets, so 'close' would wait). Health checks carry no request and are not counted.
async function silentBackend(s) {
  const b = await s.rawBackend((sock, backend) => {
    let counted = false;
    let got = 0;
    sock.on('data', (d) => (got += d.length));
    const count = () => {
      if (!counted && got > 0) backend.closed++;
      counted = true;
    };
    sock.on('end', count);
    sock.on('error', count);
  });
  b.closed = 0;
  return b;
}

// Waits until `path` on `port` answers 200 (requests fail while descriptors are short).
async function waitAnswered(port, path, what) {
  await waitFor(
    async () => {
      try {
        return (await request(port, { path, timeoutMs: 2000 })).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10000, intervalMs: 100, what },
  );
}

// Asserts that the sidecar does not spin: its CPU over a 2 s window (a window to measure in,
// not a wait for a condition) stays under a quarter of it.
async function assertNotSpinning(t, pid, what) {
  const before = cpuSeconds(pid);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 2000));
  const used = cpuSeconds(pid) - before;
  const window = (Date.now() - t0) / 1000;
  t.diagnostic(`sidecar CPU ${what}: ${used.toFixed(2)} s in ${window.toFixed(2)} s`);
  assert.ok(used < 0.25 * window, `sidecar used ${used.toFixed(2)} s of CPU in ${window.toFixed(2)} s ${what} (a busy accept loop)`);
}

function haveRequest(b) {
  return b.received.some((parts) => Buffer.concat(parts).includes('\r\n\r\n'));
}

// Out of descriptors (EMFILE), the accept loop must not spin on the listener: it pauses and
// counts, and serves again once descriptors are free.
test('EMFILE pauses accepting instead of spinning, and serving resumes', { timeout: 40000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--health-interval=60s']);
  assert.equal((await request(sc.port, { path: '/before' })).status, 200);
  const limit = openFds(sc.pid) + 16;
  execFileSync('prlimit', [`--pid=${sc.pid}`, `--nofile=${limit}:${limit}`]);
  const clients = [];
  for (let i = 0; i < 40; i++) clients.push(await s.connect(sc.port));
  await waitFor(() => openFds(sc.pid) >= limit, { timeoutMs: 5000, what: 'the sidecar to reach its descriptor limit' });
  await assertNotSpinning(t, sc.pid, 'at its descriptor limit');
  for (const c of clients) c.destroy();
  await waitAnswered(sc.port, '/after', 'a request served after descriptors were freed');
  const m = await scrape(sc.adminPort);
  assert.ok(metricSum(m, 'drover_errors_total', { reason: 'fd_limit' }) >= 1, 'accept pauses are counted');
});

// The admin listener too: a probe that arrives while the sidecar is out of descriptors must
// not make the admin thread spin; it is served once descriptors are free.
test('EMFILE on the admin listener pauses it instead of spinning', { timeout: 40000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--health-interval=60s']);
  assert.equal((await request(sc.adminPort, { path: '/healthz' })).status, 200);
  const limit = openFds(sc.pid) + 8;
  execFileSync('prlimit', [`--pid=${sc.pid}`, `--nofile=${limit}:${limit}`]);
  const clients = [];
  for (let i = 0; i < 20; i++) clients.push(await s.connect(sc.port));
  await waitFor(() => openFds(sc.pid) >= limit, { timeoutMs: 5000, what: 'the sidecar to reach its descriptor limit' });
  for (let i = 0; i < 4; i++) clients.push(await s.connect(sc.adminPort));
  await assertNotSpinning(t, sc.pid, 'with admin connections pending at its descriptor limit');
  for (const c of clients) c.destroy();
  await waitAnswered(sc.adminPort, '/healthz', '/healthz served after descriptors were freed');
});

// A client that resets while its request waits for the backend: the backend request is
// aborted at once (its connection closed), and a SIGTERM does not wait for --response-timeout.
test('a client reset aborts its backend request; SIGTERM does not wait for it', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const b = await silentBackend(s);
  const sc = await s.sidecar([backendsFlag(b), '--response-timeout=60s', '--drain-delay=1s']);
  const c = await s.connect(sc.port);
  await c.write(buildRequest('GET', '/never', { Host: 't' }));
  await waitFor(() => haveRequest(b), { what: 'the request at the backend' });
  c.sock.resetAndDestroy();
  await waitFor(() => b.closed === 1, { timeoutMs: 5000, what: 'the backend connection to be closed after the client reset' });
  const r = await sc.stop('SIGTERM', 8000);
  assert.equal(r.killed, false, 'the sidecar exits on SIGTERM without waiting for the aborted request');
  assert.equal(r.code, 0);
});

// With --abort-on-client-close=false a client that half-closes after a whole request is still
// answered (HTTP/1.0-style clients do that); the response is not aborted by the FIN.
test('--abort-on-client-close=false: a client FIN after a request still gets the response', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(async () => {
    await new Promise((r) => setTimeout(r, 200));
    return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  });
  const sc = await s.sidecar([backendsFlag(b), '--abort-on-client-close=false']);
  const { data, closed } = await rawExchange(sc.port, buildRequest('GET', '/', { Host: 't' }), { halfClose: true });
  assert.ok(closed);
  const { responses } = parseAllResponses(data);
  assert.equal(responses.length, 1);
  assert.equal(responses[0].status, 200);
});

// By default a FIN while the response is awaited aborts the backend request too, so a client
// that closed for good frees its backend connection and does not hold up a SIGTERM.
test('a client FIN aborts its backend request (--abort-on-client-close by default)', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const b = await silentBackend(s);
  const sc = await s.sidecar([backendsFlag(b), '--response-timeout=60s', '--drain-delay=1s']);
  const c = await s.connect(sc.port);
  await c.write(buildRequest('GET', '/never', { Host: 't' }));
  await waitFor(() => haveRequest(b), { what: 'the request at the backend' });
  c.end();
  await waitFor(() => b.closed === 1, { timeoutMs: 5000, what: 'the backend connection to be closed after the client FIN' });
  await c.waitClosed(5000);
  const r = await sc.stop('SIGTERM', 8000);
  assert.equal(r.killed, false, 'the sidecar exits on SIGTERM without waiting for the aborted request');
  assert.equal(r.code, 0);
});

// The same while the response streams: a client that leaves an idle event stream or long poll
// frees its backend request at once, not when the backend next writes.
test('a client FIN while the response streams aborts its backend request', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const b = await s.rawBackend((sock, backend) => {
    let counted = false;
    sock.once('data', () => sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n'));
    const count = () => {
      if (!counted) backend.closed++;
      counted = true;
    };
    sock.on('end', count);
    sock.on('error', count);
  });
  b.closed = 0;
  const sc = await s.sidecar([backendsFlag(b), '--response-timeout=60s', '--drain-delay=1s']);
  const c = await s.connect(sc.port);
  await c.write(buildRequest('GET', '/events', { Host: 't' }));
  await c.waitUntil((buf) => buf.includes('first'), { timeoutMs: 5000, what: 'the first chunk at the client' });
  c.end();
  await waitFor(() => b.closed === 1, { timeoutMs: 5000, what: 'the backend connection to be closed after the client FIN' });
  const r = await sc.stop('SIGTERM', 8000);
  assert.equal(r.killed, false);
  assert.equal(r.code, 0);
});

// A request body that stalls gets 408 after --client-body-timeout (the client's fault, not a
// 504 blaming the backend), and the backend request is aborted.
test('--client-body-timeout: a stalled body gets 408 and the backend request is aborted', { timeout: 20000 }, async (t) => {
  const s = scope(t);
  const b = await silentBackend(s);
  const sc = await s.sidecar([backendsFlag(b), '--client-body-timeout=1s', '--response-timeout=30s']);
  const c = await s.connect(sc.port);
  await c.write(buildRequest('POST', '/upload', { Host: 't', 'Content-Length': '100' }, 'x'.repeat(10)));
  await waitFor(() => haveRequest(b), { what: 'the request at the backend' });
  // One more byte after a pause shorter than the timeout: the clock restarts (inactivity).
  await new Promise((r) => setTimeout(r, 500));
  await c.write('y');
  const res = await c.readResponse({ timeoutMs: 8000 });
  assert.equal(res.status, 408);
  await c.waitClosed(5000);
  await waitFor(() => b.closed === 1, { what: 'the backend connection to be closed' });
  const m = await scrape(sc.adminPort);
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'client_body_timeout' }), 1);
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'backend_response_timeout' }), 0);
});

// A client silent mid-body is the client's fault even when --response-timeout is shorter: the
// backend has all of the body there is, so its silence is not a 504.
test('a stalled body is a 408, not a 504, with a shorter --response-timeout', { timeout: 20000 }, async (t) => {
  const s = scope(t);
  const b = await silentBackend(s);
  const sc = await s.sidecar([backendsFlag(b), '--client-body-timeout=2s', '--response-timeout=1s']);
  const c = await s.connect(sc.port);
  await c.write(buildRequest('POST', '/upload', { Host: 't', 'Content-Length': '100' }, 'x'.repeat(10)));
  const res = await c.readResponse({ timeoutMs: 8000 });
  assert.equal(res.status, 408);
  const m = await scrape(sc.adminPort);
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'client_body_timeout' }), 1);
  assert.equal(metricSum(m, 'drover_errors_total', { reason: 'backend_response_timeout' }), 0);
});

// A backend that sends interim responses without end gets at most 10 relayed, then a 502.
test('a flood of 1xx responses is cut at 10 with a 502', { timeout: 20000 }, async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n'.repeat(200) + 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  await c.write(buildRequest('GET', '/', { Host: 't' }));
  let interim = 0;
  let final = null;
  for (let i = 0; i < 300 && final === null; i++) {
    const r = await c.readResponse({ timeoutMs: 5000 });
    if (r.status < 200) interim++;
    else final = r;
  }
  assert.ok(interim <= 10, `${interim} interim responses relayed`);
  assert.equal(final.status, 502);
});

// A chunked response whose first chunk size is invalid, before any byte reached the client,
// is answered 502 rather than cut short.
test('a bad chunk size before any byte reached the client gets 502', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n');
  const sc = await s.sidecar([backendsFlag(b)]);
  const { data } = await rawExchange(sc.port, buildRequest('GET', '/', { Host: 't', Connection: 'close' }));
  const { responses } = parseAllResponses(data);
  assert.equal(responses.length, 1, JSON.stringify(data.toString('latin1')));
  assert.equal(responses[0].status, 502);
});

// Every complete request that arrived before the client's FIN is answered, in order.
test('pipelined requests before a half-close are all answered', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  const bytes = Buffer.concat(['/a', '/b', '/c'].map((p) => buildRequest('GET', p, { Host: 't' })));
  const { data, closed } = await rawExchange(sc.port, bytes, { halfClose: true, timeoutMs: 5000 });
  assert.ok(closed);
  const { responses } = parseAllResponses(data);
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
  assert.deepEqual(b.requests.map((r) => r.url), ['/a', '/b', '/c']);
});

// A head sent one byte at a time within the header timeout is served.
test('a 16 KB head sent one byte at a time is served', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  const head = buildRequest('GET', '/trickle', { Host: 't', 'X-Pad': 'p'.repeat(16000), Connection: 'close' });
  assert.ok(head.length <= 16384);
  const c = await s.connect(sc.port);
  c.sock.setNoDelay(true);
  const before = cpuSeconds(sc.pid);
  for (let i = 0; i < head.length; i++) {
    await c.write(head.subarray(i, i + 1));
  }
  const res = await c.readResponse({ timeoutMs: 5000 });
  assert.equal(res.status, 200);
  t.diagnostic(`sidecar CPU for the trickled head: ${(cpuSeconds(sc.pid) - before).toFixed(2)} s`);
});

// The same from the backend's side: a 16 KB response head written a few bytes at a time is
// relayed whole, padding header and body included.
test('a 16 KB response head that trickles in from the backend is relayed', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const pad = 'q'.repeat(16000);
  const trickler = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.setNoDelay(true);
    sock.once('data', async () => {
      const head = Buffer.from(`HTTP/1.1 200 OK\r\nX-Pad: ${pad}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n`);
      for (let i = 0; i < head.length; i += 4) {
        await new Promise((r) => sock.write(head.subarray(i, i + 4), r));
      }
      sock.end('hello');
    });
  });
  await new Promise((r) => trickler.listen(0, '127.0.0.1', r));
  s.defer(() => new Promise((r) => trickler.close(() => r())));
  const sc = await s.sidecar([`--backends=127.0.0.1:${trickler.address().port}`, '--sticky=none']);
  const before = cpuSeconds(sc.pid);
  const res = await request(sc.port, { path: '/trickle-back', timeoutMs: 20000 });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-pad'], pad);
  assert.equal(res.text, 'hello');
  t.diagnostic(`sidecar CPU for the trickled response head: ${(cpuSeconds(sc.pid) - before).toFixed(2)} s`);
});

// A request line over the head limit is a URI too long (414), not a header problem (431).
test('a URI over the head limit gets 414', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--max-head-bytes=4096']);
  for (const size of [5000, 20000]) {
    const { data, closed } = await rawExchange(sc.port, `GET /${'u'.repeat(size)} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.ok(closed);
    const { responses } = parseAllResponses(data);
    assert.equal(responses[0].status, 414, `URI of ${size} bytes`);
  }
  assert.equal(b.stats.requests, 0);
});
