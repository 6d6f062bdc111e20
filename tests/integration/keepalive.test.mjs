// Connection reuse: client keep-alive, pooled upstream connections, and the close rules.

import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { scope, backendsFlag } from './lib/scope.mjs';
import { request } from './lib/backends.mjs';
import { waitFor } from './lib/proc.mjs';

// Several requests on one client socket are each answered, and the socket stays open between them.
test('client keep-alive: five requests on one socket', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  for (let i = 0; i < 5; i++) {
    await c.write(`GET /ka/${i} HTTP/1.1\r\nHost: example.test\r\n\r\n`);
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text()).url, `/ka/${i}`);
    assert.ok(!/close/i.test(r.get('connection') || ''), `response ${i} says Connection: ${r.get('connection')}`);
    assert.equal(c.closed, false, `proxy closed the client connection after request ${i}`);
  }
  assert.equal(b.stats.requests, 5);
});

// Sequential requests over many client connections reuse pooled upstream connections: the
// backend sees far fewer TCP connections that carried requests than it sees requests.
test('upstream keep-alive: 60 requests over 12 client connections use at most 3 backend connections', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(b)]);
  for (let conn = 0; conn < 12; conn++) {
    const c = await s.connect(sc.port);
    for (let i = 0; i < 5; i++) {
      await c.write(`GET /pool/${conn}/${i} HTTP/1.1\r\nHost: example.test\r\n\r\n`);
      const r = await c.readResponse();
      assert.equal(r.status, 200);
    }
    c.destroy();
  }
  assert.equal(b.stats.requests, 60);
  assert.ok(b.stats.usedConnections <= 3, `backend saw ${b.stats.usedConnections} connections carrying requests for 60 requests`);
});

// A pooled connection that the backend closed while idle is not used for the next request: the
// client sees 200, not an error.
test('a pooled connection closed by the backend is not reused', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({ name: 'a', keepAliveTimeoutMs: 200 });
  const sc = await s.sidecar([backendsFlag(b)]);
  const r1 = await request(sc.port, { path: '/first' });
  assert.equal(r1.status, 200);
  // Wait until the backend's 200 ms keep-alive timeout closed the pooled connection.
  await waitFor(() => b.stats.open === 0, { timeoutMs: 3000, what: 'the backend to close its idle keep-alive connection' });
  for (let i = 0; i < 3; i++) {
    const r = await request(sc.port, { path: `/after-close/${i}` });
    assert.equal(r.status, 200, `request ${i} after the backend closed the pooled connection: ${r.status} ${r.text}`);
  }
});

// "Connection: close" from the client: the proxy answers, says close, and closes.
test('Connection: close from the client closes after the response', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  await c.write('GET /close HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n');
  const r = await c.readResponse();
  assert.equal(r.status, 200);
  assert.match(r.get('connection') || '', /close/i);
  const { extra } = await c.waitClosed(2000);
  assert.equal(extra.length, 0);
});

// HTTP/1.0 without keep-alive gets a 1.0-compatible framed answer and a close; with
// "Connection: keep-alive" it stays open.
test('HTTP/1.0 closes by default and keeps alive on request', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  await c.write('GET /ten HTTP/1.0\r\nHost: example.test\r\n\r\n');
  const r = await c.readResponse();
  assert.equal(r.status, 200);
  assert.notEqual(r.framing, 'chunked', 'chunked coding must not be sent to an HTTP/1.0 client');
  await c.waitClosed(2000);

  const k = await s.connect(sc.port);
  for (let i = 0; i < 2; i++) {
    await k.write(`GET /ten-ka/${i} HTTP/1.0\r\nHost: example.test\r\nConnection: keep-alive\r\n\r\n`);
    const rk = await k.readResponse();
    assert.equal(rk.status, 200);
    assert.equal(rk.framing, 'length');
  }
  assert.equal(k.closed, false);
});

// A node:http keep-alive agent (one socket) reuses the connection for 20 requests.
test('node http agent reuses one socket for 20 requests', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({ name: 'a' });
  const sc = await s.sidecar([backendsFlag(b)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  s.defer(() => agent.destroy());
  const ports = new Set();
  for (let i = 0; i < 20; i++) {
    const r = await request(sc.port, { path: `/agent/${i}`, agent });
    assert.equal(r.status, 200);
    ports.add(r.localPort);
  }
  assert.equal(ports.size, 1, `client used ${ports.size} sockets`);
});
