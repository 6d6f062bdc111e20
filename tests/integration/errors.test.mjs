// Backend faults: refused, down, invalid, silent and crashed backends, and the retry of requests
// that never reached a backend.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from './lib/scope.mjs';
import { freePort, request, readHead } from './lib/backends.mjs';
import { waitReady, waitReadyz } from './lib/admin.mjs';
import { withDeadline } from './lib/proc.mjs';

// The proxy's own error answers are short text that says what went wrong.
function assertShortTextReason(r, pattern) {
  const type = r.headers['content-type'] || '';
  assert.match(type, /^text\/plain/, `Content-Type of the error answer: ${type}`);
  assert.ok(r.body.length > 0 && r.body.length <= 512, `error body length ${r.body.length}: ${JSON.stringify(r.text)}`);
  assert.match(r.text, pattern, `error body does not name the reason: ${JSON.stringify(r.text)}`);
}

// With its only backend refusing connections (and marked down), a request gets 503 whose body
// says no backend is available.
test('no backend up gives 503 naming the reason', async (t) => {
  const s = scope(t);
  const dead = await freePort();
  const sc = await s.sidecar([backendsFlag(dead), '--health-interval=200ms', '--connect-timeout=1s']);
  await waitReadyz(sc, 503);
  const r = await request(sc.port, { path: '/none' });
  assert.equal(r.status, 503);
  assertShortTextReason(r, /(no|unavailable).*(backend|upstream)|(backend|upstream).*(unavailable|down)/i);
});

// A single refused backend that the health check has not marked down yet: the connect is refused
// and the client gets 502 or 503 with a reason, never a hang or a reset.
test('a refused backend gives 502/503 with a reason before the health check notices', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--health-interval=1h', '--connect-timeout=1s']);
  await waitReady(sc);
  await b.stopListening();
  const r = await request(sc.port, { path: '/refused' });
  assert.ok(r.status === 502 || r.status === 503, `status ${r.status}: ${r.text}`);
  assertShortTextReason(r, /refused|unavailable|connect|backend|upstream/i);
});

// A backend that answers garbage gives 502 with a reason; the client connection survives.
test('an invalid backend response gives 502', async (t) => {
  const s = scope(t);
  const b = await s.rawBackend(async (sock) => {
    try {
      await readHead(sock);
    } catch {
      return;
    }
    sock.end('HELLO THIS IS NOT HTTP\r\n\r\n');
  });
  const sc = await s.sidecar([backendsFlag(b)]);
  const r = await request(sc.port, { path: '/garbage' });
  assert.equal(r.status, 502);
  assertShortTextReason(r, /invalid|malformed|bad|protocol|response|backend|upstream/i);
});

// Response smuggling: a backend response with both Content-Length and Transfer-Encoding is
// not relayed (the client gets 502) and the client connection is not left out of sync.
test('a backend response with Content-Length and Transfer-Encoding gives 502', async (t) => {
  const s = scope(t);
  const b = await s.rawBackend(async (sock) => {
    try {
      await readHead(sock);
    } catch {
      return;
    }
    sock.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled');
  });
  const sc = await s.sidecar([backendsFlag(b)]);
  const r = await request(sc.port, { path: '/cl-te' });
  assert.equal(r.status, 502, `status ${r.status}: ${r.text}`);
  assert.ok(!r.text.includes('smuggled'));
});

// An idempotent GET whose first backend refuses is retried on the other: the client sees 200.
test('GET is retried on the other backend when the first refuses', async (t) => {
  const s = scope(t);
  const a = await s.httpBackend({ name: 'a' });
  const b = await s.httpBackend({ name: 'b' });
  const sc = await s.sidecar([backendsFlag(a, b), '--balance=roundrobin', '--health-interval=1h']);
  await waitReady(sc);
  await a.stopListening(); // refused from now on; the health check will not notice for an hour
  for (let i = 0; i < 6; i++) {
    const r = await request(sc.port, { path: `/retry/${i}` });
    assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.text}`);
    assert.equal(JSON.parse(r.text).backend, 'b');
  }
  assert.equal(b.stats.requests, 6);
});

// A POST that never reached a backend (connect refused) is retried too: nothing was sent.
test('POST is retried when the connect was refused (it never reached the backend)', async (t) => {
  const s = scope(t);
  const a = await s.httpBackend({ name: 'a' });
  const b = await s.httpBackend({ name: 'b' });
  const sc = await s.sidecar([backendsFlag(a, b), '--balance=roundrobin', '--health-interval=1h']);
  await waitReady(sc);
  await a.stopListening();
  for (let i = 0; i < 4; i++) {
    const r = await request(sc.port, { method: 'POST', path: `/post/${i}`, body: `body-${i}`, headers: { 'Content-Type': 'text/plain' } });
    assert.equal(r.status, 200, `POST ${i}: ${r.status} ${r.text}`);
    assert.equal(JSON.parse(r.text).bodyBytes, `body-${i}`.length);
  }
});

// A backend that accepts but never answers gives 504 after --response-timeout=1s.
test('a silent backend gives 504 after --response-timeout', { timeout: 15000 }, async (t) => {
  const s = scope(t);
  const b = await s.rawBackend(() => {}); // reads, never answers
  const sc = await s.sidecar([backendsFlag(b), '--response-timeout=1s']);
  const t0 = Date.now();
  const r = await request(sc.port, { path: '/silent', timeoutMs: 8000 });
  const ms = Date.now() - t0;
  assert.equal(r.status, 504);
  assert.ok(ms >= 900 && ms < 4000, `504 after ${ms} ms (response timeout 1 s)`);
  assertShortTextReason(r, /timeout|timed out|gateway|backend|upstream/i);
});

// A non-idempotent request to a backend that closes without answering is not replayed: the
// backend sees it once and the client gets 502.
test('a POST whose backend closes without answering is not replayed', async (t) => {
  const s = scope(t);
  const seen = [];
  const mk = (name) =>
    s.rawBackend(async (sock) => {
      let got;
      try {
        got = await readHead(sock);
      } catch {
        return;
      }
      seen.push(`${name} ${got.head.split('\r\n')[0]}`);
      sock.destroy();
    });
  const a = await mk('a');
  const b = await mk('b');
  const sc = await s.sidecar([backendsFlag(a, b)]);
  const r = await request(sc.port, { method: 'POST', path: '/once', body: 'x', headers: { 'Content-Length': '1' } });
  assert.equal(r.status, 502);
  assert.equal(seen.length, 1, `the POST reached backends ${seen.length} times: ${seen.join(' | ')}`);
});

// A backend killed (SIGKILL) mid-response fails only that request: the client sees a truncated
// response and a close; a request in flight on the other backend completes; the next request on
// a new connection gets 200.
test('a backend killed mid-response fails only its own request', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const c1 = await s.childBackend('c1');
  const c2 = await s.childBackend('c2');
  const byName = { c1, c2 };
  const sc = await s.sidecar([backendsFlag(c1, c2), '--balance=leastconn', '--health-interval=200ms']);
  await waitReady(sc);

  const victimConn = await s.connect(sc.port);
  await victimConn.write('GET /partial?total=1048576&first=65536 HTTP/1.1\r\nHost: t\r\n\r\n');
  const partialMsg = await Promise.race([
    c1.nextMessage((m) => m.event === 'partial', 5000, 'partial').then((m) => ({ ...m, who: 'c1' })),
    c2.nextMessage((m) => m.event === 'partial', 5000, 'partial').then((m) => ({ ...m, who: 'c2' })),
  ]);
  const victim = byName[partialMsg.who];
  const survivor = victim === c1 ? c2 : c1;

  // A request in flight on the survivor (leastconn picks the idle one).
  const bystander = request(sc.port, { path: '/hold?id=bystander', timeoutMs: 15000 });
  await survivor.nextMessage((m) => m.event === 'held' && m.id === 'bystander', 5000, 'bystander held');

  await victimConn.waitUntil((buf) => buf.length >= 65536, { timeoutMs: 5000, what: 'the first 64 KiB of the victim response' });
  await victim.kill();

  const { extra } = await victimConn.waitClosed(5000);
  const head = extra.toString('latin1');
  assert.match(head, /^HTTP\/1\.1 200 /, 'the victim response had started');
  const bodyStart = extra.indexOf('\r\n\r\n') + 4;
  assert.ok(extra.length - bodyStart < 1048576, 'a truncated body, closed before its Content-Length');

  survivor.send({ cmd: 'release', id: 'bystander' });
  const br = await withDeadline(bystander, 5000, 'the bystander response');
  assert.equal(br.status, 200);
  assert.equal(br.text, 'released bystander');

  for (let i = 0; i < 3; i++) {
    const r = await request(sc.port, { path: `/after-kill/${i}` });
    assert.equal(r.status, 200, `request ${i} after the kill: ${r.status} ${r.text}`);
    assert.equal(r.text, `ok from ${survivor.name}`);
  }
});
