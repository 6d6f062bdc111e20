// Header rewriting: hop-by-hop fields are removed in both directions, forwarding headers are
// added, end-to-end fields and Host pass through untouched.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from './lib/scope.mjs';

const kHopByHop = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'x-custom-hop', 'x-other-hop'];

// Raw header list -> lowercased names.
function names(headers) {
  return headers.map(([n]) => n.toLowerCase());
}

// Request hop-by-hop fields (and any field named in Connection) do not reach the backend;
// end-to-end fields and Host do.
test('hop-by-hop request headers do not reach the backend', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  await c.write(
    'GET /hop HTTP/1.1\r\n' +
      'Host: app.example:8080\r\n' +
      'Connection: keep-alive, X-Custom-Hop\r\n' +
      'Connection: x-other-hop\r\n' +
      'X-Custom-Hop: must-not-pass\r\n' +
      'X-Other-Hop: must-not-pass\r\n' +
      'Keep-Alive: timeout=5\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'TE: trailers\r\n' +
      'Trailer: X-Checksum\r\n' +
      'Upgrade: h2c\r\n' +
      'X-End-To-End: kept\r\n' +
      'Cookie: a=1\r\n' +
      '\r\n',
  );
  const r = await c.readResponse();
  assert.equal(r.status, 200);
  assert.equal(b.requests.length, 1);
  const req = b.requests[0];
  const got = names(req.headers);
  const leaked = kHopByHop.filter((h) => h !== 'connection' && got.includes(h));
  assert.deepEqual(leaked, [], `hop-by-hop headers reached the backend: ${JSON.stringify(req.headers)}`);
  for (const v of req.headers.filter(([n]) => n.toLowerCase() === 'connection').map(([, v]) => v)) {
    assert.match(v, /^\s*(keep-alive|close)\s*$/i, `Connection sent upstream names client hop-by-hop fields: ${v}`);
  }
  assert.equal(req.get('host'), 'app.example:8080', 'Host passes through unchanged');
  assert.equal(req.get('x-end-to-end'), 'kept');
  assert.equal(req.get('cookie'), 'a=1');
  assert.equal(req.target, '/hop');
});

// Response hop-by-hop fields (and fields the backend names in Connection) do not reach the
// client; end-to-end fields do.
test('hop-by-hop response headers do not reach the client', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(
    () =>
      'HTTP/1.1 200 OK\r\n' +
      'Connection: X-Custom-Hop, keep-alive\r\n' +
      'X-Custom-Hop: must-not-pass\r\n' +
      'Keep-Alive: timeout=30, max=100\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'TE: trailers\r\n' +
      'Trailer: X-Checksum\r\n' +
      'Upgrade: h2c\r\n' +
      'X-End-To-End: kept\r\n' +
      'Set-Cookie: s=1; Path=/\r\n' +
      'Content-Length: 2\r\n' +
      '\r\nok',
  );
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  await c.write('GET /hop HTTP/1.1\r\nHost: t\r\n\r\n');
  const r = await c.readResponse();
  assert.equal(r.status, 200);
  assert.equal(r.text(), 'ok');
  const got = names(r.headers);
  const leaked = kHopByHop.filter((h) => h !== 'connection' && got.includes(h));
  assert.deepEqual(leaked, [], `hop-by-hop headers reached the client: ${JSON.stringify(r.headers)}`);
  for (const v of r.getAll('connection')) {
    assert.match(v, /^\s*(keep-alive|close)\s*$/i, `Connection sent to the client names backend hop-by-hop fields: ${v}`);
  }
  assert.equal(r.get('x-end-to-end'), 'kept');
  assert.equal(r.get('set-cookie'), 's=1; Path=/');
  // The backend's "keep-alive" must not change the client connection's fate: still usable.
  await c.write('GET /again HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
});

// The proxy adds X-Forwarded-For (the client address), X-Forwarded-Proto: http and
// Forwarded: for=...;proto=http.
test('X-Forwarded-For, X-Forwarded-Proto and Forwarded are added', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port, { localAddress: '127.0.0.2' });
  await c.write('GET /xff HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  const req = b.requests[0];
  const all = (n) => req.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  assert.deepEqual(all('x-forwarded-for'), ['127.0.0.2'], `headers: ${JSON.stringify(req.headers)}`);
  assert.deepEqual(all('x-forwarded-proto'), ['http']);
  const fwd = all('forwarded');
  assert.equal(fwd.length, 1, `Forwarded fields: ${JSON.stringify(fwd)}`);
  const params = Object.fromEntries(
    fwd[0]
      .split(';')
      .map((p) => p.trim().split('='))
      .map(([k, v]) => [k.toLowerCase(), v]),
  );
  assert.equal(params.for, '127.0.0.2', `Forwarded: ${fwd[0]}`);
  assert.equal(params.proto, 'http', `Forwarded: ${fwd[0]}`);
});

// An incoming X-Forwarded-For gets the client address appended (one list, in order).
test('incoming X-Forwarded-For gets the client appended', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port, { localAddress: '127.0.0.3' });
  await c.write('GET /xff HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.7, 198.51.100.1\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  const req = b.requests[0];
  const xff = req.headers
    .filter(([k]) => k.toLowerCase() === 'x-forwarded-for')
    .map(([, v]) => v)
    .join(', ');
  assert.equal(xff, '203.0.113.7, 198.51.100.1, 127.0.0.3', `headers: ${JSON.stringify(req.headers)}`);
});

// A client cannot spoof the protocol: its X-Forwarded-Proto: https is replaced by http.
test('client X-Forwarded-Proto is replaced, not passed through', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  await c.write('GET /xfp HTTP/1.1\r\nHost: t\r\nX-Forwarded-Proto: https\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  const req = b.requests[0];
  const xfp = req.headers.filter(([k]) => k.toLowerCase() === 'x-forwarded-proto').map(([, v]) => v);
  assert.deepEqual(xfp, ['http'], `headers: ${JSON.stringify(req.headers)}`);
});

// Header name case and value bytes of end-to-end fields pass through as sent, and the request
// target (with query) is unchanged.
test('end-to-end header values and the request target pass through byte-exact', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.port);
  const target = '/a/b%20c?x=1&y=%2F&z=a+b#';
  await c.write(`GET ${target.slice(0, -1)} HTTP/1.1\r\nHost: t\r\nX-MiXeD-Case: Value With  Spaces\r\nX-Obs-Text: caf\xe9\r\n\r\n`);
  assert.equal((await c.readResponse()).status, 200);
  const req = b.requests[0];
  assert.equal(req.target, target.slice(0, -1));
  assert.equal(req.get('x-mixed-case'), 'Value With  Spaces');
  assert.equal(req.get('x-obs-text'), 'caf\xe9');
});
