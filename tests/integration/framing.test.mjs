// Message framing the proxy must get exactly right: bodiless responses (HEAD, 1xx, 204, 304),
// Expect: 100-continue, and pipelined requests answered in order.

import test from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { scope, backendsFlag } from './lib/scope.mjs';

// Backend for the bodiless-response cases, by path; every other path answers 200 "next:PATH".
function bodilessResponder(req) {
  const path = req.target;
  if (path === '/head-cl') return 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n';
  if (path === '/head-chunked') return 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  if (path === '/204') return 'HTTP/1.1 204 No Content\r\nX-Kind: no-content\r\n\r\n';
  if (path === '/304') return 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5000\r\n\r\n';
  if (path === '/103') {
    return (
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nLink: </style.css>; rel=preload; as=style\r\n\r\nhints'
    );
  }
  const body = `next:${path}`;
  return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

const kBodiless = [
  { name: 'HEAD with Content-Length', method: 'HEAD', path: '/head-cl', status: 200, check: (r) => assert.equal(r.get('content-length'), '1234') },
  { name: 'HEAD with Transfer-Encoding: chunked', method: 'HEAD', path: '/head-chunked', status: 200 },
  { name: '204 No Content', method: 'GET', path: '/204', status: 204, check: (r) => assert.equal(r.get('x-kind'), 'no-content') },
  { name: '304 Not Modified with Content-Length', method: 'GET', path: '/304', status: 304, check: (r) => assert.equal(r.get('etag'), '"v1"') },
];

for (const c of kBodiless) {
  // A ${c.name} response carries no body, so the next pipelined response parses right after it.
  test(`${c.name}: no body, the next pipelined response follows`, async (t) => {
    const s = scope(t);
    const b = await s.scriptedBackend(bodilessResponder);
    const sc = await s.sidecar([backendsFlag(b)]);
    const conn = await s.connect(sc.port);
    await conn.write(`${c.method} ${c.path} HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n`);
    const r1 = await conn.readResponse({ method: c.method });
    assert.equal(r1.status, c.status);
    if (c.check) c.check(r1);
    const r2 = await conn.readResponse();
    assert.equal(r2.status, 200, 'the pipelined response after the bodiless one');
    assert.equal(r2.text(), 'next:/after');
    assert.equal(conn.unread.length, 0, `stray bytes after the responses: ${JSON.stringify(conn.unread.toString('latin1'))}`);
  });
}

// A 103 Early Hints is relayed to the client as its own interim response, then the 200, then
// the next pipelined response.
test('103 Early Hints then 200 are both relayed in order', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(bodilessResponder);
  const sc = await s.sidecar([backendsFlag(b)]);
  const conn = await s.connect(sc.port);
  await conn.write('GET /103 HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n');
  const hints = await conn.readResponse();
  assert.equal(hints.status, 103);
  assert.equal(hints.get('link'), '</style.css>; rel=preload; as=style');
  assert.equal(hints.body.length, 0);
  const final = await conn.readResponse();
  assert.equal(final.status, 200);
  assert.equal(final.text(), 'hints');
  const next = await conn.readResponse();
  assert.equal(next.status, 200);
  assert.equal(next.text(), 'next:/after');
});

// Expect: 100-continue with a backend that says 100: the client gets the 100 before it sends
// the body, then the final answer echoes the body.
test('Expect: 100-continue, backend sends 100, client then sends the body', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({
    name: 'continue',
    handler: (req, res) => {
      // node:http answers "100 Continue" itself before emitting 'request' for such requests.
      const parts = [];
      req.on('data', (d) => parts.push(d));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        res.writeHead(200, { 'Content-Length': body.length, 'X-Expect-Seen': String(req.headers.expect) });
        res.end(body);
      });
    },
  });
  const sc = await s.sidecar([backendsFlag(b)]);
  const conn = await s.connect(sc.port);
  await conn.write('PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
  const interim = await conn.readResponse({ timeoutMs: 3000 });
  assert.equal(interim.status, 100, 'the first response to Expect: 100-continue');
  await conn.write('hello world');
  const final = await conn.readResponse();
  assert.equal(final.status, 200);
  assert.equal(final.text(), 'hello world');
  assert.equal(final.get('x-expect-seen'), '100-continue', 'Expect reached the backend');
  // The connection stays in sync.
  await conn.write('GET /after HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await conn.readResponse()).status, 200);
});

for (const status of [417, 401]) {
  // A backend that refuses an Expect: 100-continue request with ${status} before the body: the
  // client gets the ${status} first (no 100 from the proxy) without having sent the body.
  test(`Expect: 100-continue, backend answers ${status} early`, async (t) => {
    const s = scope(t);
    const b = await s.httpBackend({ name: 'refuse' });
    b.server.on('checkContinue', (req, res) => {
      b.stats.requests++;
      const body = `refused with ${status}`;
      res.writeHead(status, { 'Content-Length': body.length, Connection: 'close' });
      res.end(body);
    });
    const sc = await s.sidecar([backendsFlag(b)]);
    const conn = await s.connect(sc.port);
    await conn.write('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n');
    const first = await conn.readResponse({ timeoutMs: 3000 });
    assert.equal(first.status, status, `first response (a 100 here means the proxy invited a body the backend refused)`);
    assert.equal(first.text(), `refused with ${status}`);
    assert.equal(b.stats.requests, 1);
  });
}

// Ten requests in one write (with a POST body among them) are answered in order even when the
// backend takes different times for each; every answer carries its request's id.
test('pipelined requests are answered in order with matching ids', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({
    name: 'pipe',
    handler: async (req, res) => {
      const parts = [];
      for await (const d of req) parts.push(d);
      const id = req.headers['x-id'];
      // Earlier requests answer slower, so a proxy that reorders would show it.
      await delay(Math.max(0, 30 - 3 * Number(id)));
      const body = `id=${id};len=${Buffer.concat(parts).length}`;
      res.writeHead(200, { 'X-Id': id, 'Content-Length': body.length });
      res.end(body);
    },
  });
  const sc = await s.sidecar([backendsFlag(b)]);
  const conn = await s.connect(sc.port);
  let batch = '';
  for (let i = 0; i < 10; i++) {
    if (i === 4) batch += `POST /p/${i} HTTP/1.1\r\nHost: t\r\nX-Id: ${i}\r\nContent-Length: 7\r\n\r\npayload`;
    else if (i === 7) batch += `POST /p/${i} HTTP/1.1\r\nHost: t\r\nX-Id: ${i}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`;
    else batch += `GET /p/${i} HTTP/1.1\r\nHost: t\r\nX-Id: ${i}\r\n\r\n`;
  }
  await conn.write(batch);
  for (let i = 0; i < 10; i++) {
    const r = await conn.readResponse({ timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.equal(r.get('x-id'), String(i), `response ${i} is for request ${r.get('x-id')}`);
    const len = i === 4 ? 7 : i === 7 ? 3 : 0;
    assert.equal(r.text(), `id=${i};len=${len}`);
  }
  assert.equal(b.stats.requests, 10);
});

// Pipelined HEAD and GET mixed: each response framed by its own request's method.
test('pipelined HEAD, GET, HEAD keep framing per request', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(bodilessResponder);
  const sc = await s.sidecar([backendsFlag(b)]);
  const conn = await s.connect(sc.port);
  await conn.write(
    'HEAD /head-cl HTTP/1.1\r\nHost: t\r\n\r\nGET /mid HTTP/1.1\r\nHost: t\r\n\r\nHEAD /head-chunked HTTP/1.1\r\nHost: t\r\n\r\nGET /last HTTP/1.1\r\nHost: t\r\n\r\n',
  );
  const a = await conn.readResponse({ method: 'HEAD' });
  assert.equal(a.status, 200);
  assert.equal((await conn.readResponse()).text(), 'next:/mid');
  const c = await conn.readResponse({ method: 'HEAD' });
  assert.equal(c.status, 200);
  assert.equal((await conn.readResponse()).text(), 'next:/last');
});

// An HTTP/1.0 client never gets chunked coding: a chunked backend response reaches it as a
// length- or close-delimited body with the same bytes.
test('chunked backend response to an HTTP/1.0 client is not chunked', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n');
  const sc = await s.sidecar([backendsFlag(b)]);
  const conn = await s.connect(sc.port);
  await conn.write('GET /ten HTTP/1.0\r\nHost: t\r\n\r\n');
  const r = await conn.readResponse({ timeoutMs: 5000 });
  assert.equal(r.status, 200);
  assert.notEqual(r.framing, 'chunked', `HTTP/1.0 client got Transfer-Encoding: ${r.get('transfer-encoding')}`);
  assert.equal(r.text(), 'hello, world');
});
