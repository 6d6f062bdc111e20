// Load balancing policies over real backends: roundrobin, leastconn, p2c.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from './lib/scope.mjs';
import { waitBackendsUp } from './lib/admin.mjs';
import { request } from './lib/backends.mjs';
import { withDeadline, waitFor } from './lib/proc.mjs';

async function threeBackends(s) {
  return [await s.httpBackend({ name: 'a' }), await s.httpBackend({ name: 'b' }), await s.httpBackend({ name: 'c' })];
}

function counts(backends) {
  return Object.fromEntries(backends.map((b) => [b.name, b.stats.requests]));
}

// roundrobin over 3 backends: 30 requests (on one keep-alive client connection and on fresh
// connections alike) give exactly 10 to each.
test('roundrobin spreads 30 requests exactly 10/10/10', async (t) => {
  const s = scope(t);
  const bs = await threeBackends(s);
  const sc = await s.sidecar([backendsFlag(...bs), '--balance=roundrobin']);
  await waitBackendsUp(sc, bs.map((b) => b.port));
  const c = await s.connect(sc.port);
  for (let i = 0; i < 15; i++) {
    await c.write(`GET /rr/${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal((await c.readResponse()).status, 200);
  }
  for (let i = 15; i < 30; i++) {
    assert.equal((await request(sc.port, { path: `/rr/${i}` })).status, 200);
  }
  assert.deepEqual(counts(bs), { a: 10, b: 10, c: 10 });
});

// leastconn: while one backend holds a request, the next requests all go to the idle one.
test('leastconn sends to the idle backend while the other is busy', async (t) => {
  const s = scope(t);
  const held = [];
  const handler = (name) => (req, res) => {
    req.resume();
    if (req.url.startsWith('/hold')) {
      held.push({ name, res });
      return;
    }
    res.writeHead(200, { 'X-Backend': name, 'Content-Length': name.length });
    res.end(name);
  };
  const a = await s.httpBackend({ name: 'a', handler: handler('a') });
  const b = await s.httpBackend({ name: 'b', handler: handler('b') });
  s.defer(() => held.forEach((h) => h.res.destroy()));
  const sc = await s.sidecar([backendsFlag(a, b), '--balance=leastconn']);
  await waitBackendsUp(sc, [a.port, b.port]);
  const slow = request(sc.port, { path: '/hold', timeoutMs: 20000 });
  await waitFor(() => held.length === 1, { what: 'the slow request to reach a backend' });
  const busy = held[0].name;
  const idle = busy === 'a' ? 'b' : 'a';
  const seen = [];
  for (let i = 0; i < 10; i++) {
    const r = await request(sc.port, { path: `/fast/${i}` });
    assert.equal(r.status, 200);
    seen.push(r.text);
  }
  assert.deepEqual(seen, Array(10).fill(idle), `with ${busy} busy, fast requests went to: ${seen.join(',')}`);
  held[0].res.writeHead(200, { 'Content-Length': 4 });
  held[0].res.end('done');
  const r = await withDeadline(slow, 5000, 'the held request');
  assert.equal(r.status, 200);
});

// leastconn counts outstanding requests: three held requests land one per backend, and once
// the one on c finishes, every new request goes to c (the only backend with none outstanding).
test('leastconn follows outstanding request counts', async (t) => {
  const s = scope(t);
  const held = [];
  const handler = (name) => (req, res) => {
    req.resume();
    if (req.url.startsWith('/hold')) {
      held.push({ name, res });
      return;
    }
    res.writeHead(200, { 'Content-Length': name.length });
    res.end(name);
  };
  const a = await s.httpBackend({ name: 'a', handler: handler('a') });
  const b = await s.httpBackend({ name: 'b', handler: handler('b') });
  const c = await s.httpBackend({ name: 'c', handler: handler('c') });
  s.defer(() => held.forEach((h) => h.res.destroy()));
  const sc = await s.sidecar([backendsFlag(a, b, c), '--balance=leastconn']);
  await waitBackendsUp(sc, [a.port, b.port, c.port]);
  const pending = [];
  // Three held requests go one to each backend (each pick sees the others busier).
  for (let i = 0; i < 3; i++) {
    pending.push(request(sc.port, { path: `/hold/${i}`, timeoutMs: 20000 }).catch(() => null));
    await waitFor(() => held.length === i + 1, { what: `held request ${i} to arrive` });
  }
  assert.deepEqual(held.map((h) => h.name).sort(), ['a', 'b', 'c'], 'three held requests spread one per backend');
  // Finish the one on c: c is now the only backend with 0 outstanding.
  const onC = held.find((h) => h.name === 'c');
  onC.res.writeHead(200, { 'Content-Length': 1 });
  onC.res.end('x');
  for (let i = 0; i < 5; i++) {
    const r = await request(sc.port, { path: `/fast/${i}` });
    assert.equal(r.text, 'c', `fast request ${i} went to ${r.text} although only c was idle`);
  }
  for (const h of held) if (h.name !== 'c') {
    h.res.writeHead(200, { 'Content-Length': 1 });
    h.res.end('x');
  }
  await Promise.all(pending);
});

// p2c over 3 idle backends: 60 requests reach every backend.
test('p2c uses all three backends', async (t) => {
  const s = scope(t);
  const bs = await threeBackends(s);
  const sc = await s.sidecar([backendsFlag(...bs), '--balance=p2c']);
  await waitBackendsUp(sc, bs.map((b) => b.port));
  for (let i = 0; i < 60; i++) {
    assert.equal((await request(sc.port, { path: `/p2c/${i}` })).status, 200);
  }
  const got = counts(bs);
  for (const [name, n] of Object.entries(got)) assert.ok(n > 0, `p2c never picked ${name}: ${JSON.stringify(got)}`);
  assert.equal(got.a + got.b + got.c, 60);
});

// p2c prefers the less loaded of its two candidates: with one of three backends holding a
// request, it gets far fewer than the 1/3 share a random pick would give it.
test('p2c avoids the busy backend', async (t) => {
  const s = scope(t);
  const held = [];
  const handler = (name) => (req, res) => {
    req.resume();
    if (req.url.startsWith('/hold')) {
      held.push({ name, res });
      return;
    }
    res.writeHead(200, { 'Content-Length': name.length });
    res.end(name);
  };
  const bs = [];
  for (const n of ['a', 'b', 'c']) bs.push(await s.httpBackend({ name: n, handler: handler(n) }));
  s.defer(() => held.forEach((h) => h.res.destroy()));
  const sc = await s.sidecar([backendsFlag(...bs), '--balance=p2c']);
  await waitBackendsUp(sc, bs.map((b) => b.port));
  const slow = request(sc.port, { path: '/hold', timeoutMs: 20000 }).catch(() => null);
  await waitFor(() => held.length === 1, { what: 'the held request' });
  const busy = held[0].name;
  const seen = [];
  for (let i = 0; i < 60; i++) seen.push((await request(sc.port, { path: `/p/${i}` })).text);
  // The busy backend can win only when both samples are it: never with two distinct candidates,
  // 1/9 of picks (about 7 of 60) when sampling with replacement. A random pick gives it 20.
  const toBusy = seen.filter((x) => x === busy).length;
  assert.ok(toBusy < 15, `p2c sent ${toBusy}/60 requests to the busy backend ${busy}`);
  held[0].res.end();
  await slow;
});
