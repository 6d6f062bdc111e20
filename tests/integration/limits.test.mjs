// Limits and timeouts: head size, field count, slowloris, idle keep-alive, connection cap.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from './lib/scope.mjs';
import { rawExchange, parseAllResponses, RawClient } from './lib/http1.mjs';
import { waitFor, withDeadline } from './lib/proc.mjs';

// A GET head of exactly `total` bytes (request line + fields + final CRLF); `fields` are extra
// header lines ("Name: value\r\n" each) put before the padding field.
function headOfSize(total, fields = '') {
  const start = `GET /sized HTTP/1.1\r\nHost: t\r\n${fields}X-Pad: `;
  const end = '\r\n\r\n';
  const pad = total - start.length - end.length;
  assert.ok(pad > 0);
  const head = start + 'p'.repeat(pad) + end;
  assert.equal(head.length, total);
  return head;
}

function onlyResponse(data) {
  const { responses, rest } = parseAllResponses(data);
  assert.equal(responses.length, 1, `expected exactly one response: ${JSON.stringify(data.toString('latin1').slice(0, 400))}`);
  assert.equal(rest.length, 0);
  return responses[0];
}

// A head over the default 16 KiB limit gets 431 and the connection closes; nothing is forwarded.
test('oversized head gets 431 (default 16384 limit)', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  const { data, closed } = await rawExchange(sc.port, headOfSize(20000), { timeoutMs: 5000 });
  assert.ok(closed, 'connection closed after 431');
  assert.equal(onlyResponse(data).status, 431);
  assert.equal(b.stats.requests, 0);
  // A head that never ends but keeps growing is cut at the limit too, without waiting for its end.
  const endless = await rawExchange(sc.port, `GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ${'q'.repeat(40000)}`, { timeoutMs: 5000 });
  assert.ok(endless.closed);
  assert.equal(onlyResponse(endless.data).status, 431);
});

// --max-head-bytes is exact: a head of exactly the limit passes, one byte more gets 431.
test('--max-head-bytes boundary: 4096 passes, 4097 gets 431', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--max-head-bytes=4096']);
  const ok = await rawExchange(sc.port, headOfSize(4096, 'Connection: close\r\n'), { timeoutMs: 5000 });
  assert.equal(onlyResponse(ok.data).status, 200, 'a head of exactly 4096 bytes');
  const over = await rawExchange(sc.port, headOfSize(4097), { timeoutMs: 5000 });
  assert.equal(onlyResponse(over.data).status, 431, 'a head of 4097 bytes');
  assert.ok(over.closed);
  assert.equal(b.stats.requests, 1);
});

// --max-headers is exact: 10 fields pass, 11 get 431.
test('--max-headers boundary: 10 fields pass, 11 get 431', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--max-headers=10']);
  const fields = (n) => ['Host: t', 'Connection: close', ...Array.from({ length: n - 2 }, (_, i) => `X-F${i}: ${i}`)].join('\r\n');
  const ok = await rawExchange(sc.port, `GET /ten HTTP/1.1\r\n${fields(10)}\r\n\r\n`, { timeoutMs: 5000 });
  assert.equal(onlyResponse(ok.data).status, 200, '10 fields');
  const over = await rawExchange(sc.port, `GET /eleven HTTP/1.1\r\n${fields(11)}\r\n\r\n`, { timeoutMs: 5000 });
  assert.equal(onlyResponse(over.data).status, 431, '11 fields');
  assert.ok(over.closed);
  assert.equal(b.stats.requests, 1);
});

// A slowloris client (a byte every 250 ms, never finishing its head) is cut at
// --client-header-timeout=1s with a 408 and a close, although it is never silent for 1 s.
test('slowloris is cut at --client-header-timeout with 408', { timeout: 20000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--client-header-timeout=1s']);
  const c = await s.connect(sc.port);
  const t0 = Date.now();
  await c.write('GET /slow HTTP/1.1\r\nHost: t\r\nX-Slow: ');
  let sent = 0;
  const timer = setInterval(() => {
    if (c.closed || sent >= 40) return clearInterval(timer);
    sent++;
    c.write('a').catch(() => {});
  }, 250);
  s.defer(() => clearInterval(timer));
  const { extra } = await c.waitClosed(8000);
  clearInterval(timer);
  const ms = c.closedAt - t0;
  const r = onlyResponse(extra);
  assert.equal(r.status, 408);
  assert.ok(ms >= 900 && ms < 3000, `cut after ${ms} ms (timeout 1 s, ${sent} bytes trickled)`);
  assert.equal(b.stats.requests, 0);
});

// A connection that sends nothing is closed after --client-header-timeout too (408 or silent).
test('a silent new connection is closed at --client-header-timeout', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--client-header-timeout=1s', '--idle-timeout=30s']);
  const c = await s.connect(sc.port);
  const { extra, ms } = await c.waitClosed(5000);
  assert.ok(ms < 3000, `closed after ${ms} ms`);
  if (extra.length > 0) assert.equal(onlyResponse(extra).status, 408);
});

// An idle keep-alive connection is closed silently after --idle-timeout=1s.
test('keep-alive idle timeout closes an idle connection', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--idle-timeout=1s', '--client-header-timeout=10s']);
  const c = await s.connect(sc.port);
  await c.write('GET /one HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  const t0 = Date.now();
  const { extra } = await c.waitClosed(5000);
  const ms = c.closedAt - t0;
  assert.ok(ms >= 800 && ms < 3000, `idle connection closed after ${ms} ms (idle timeout 1 s)`);
  assert.equal(extra.length, 0, `bytes sent on idle close: ${JSON.stringify(extra.toString('latin1'))}`);
});

// A response that takes longer than the idle and header timeouts to stream is not cut by them.
test('a long streaming response is not cut by the idle or header timeouts', { timeout: 15000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({
    name: 'slow-stream',
    handler: async (req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      for (let i = 0; i < 10; i++) {
        res.write(`tick${i};`);
        await new Promise((r) => setTimeout(r, 250));
      }
      res.end('done');
    },
  });
  const sc = await s.sidecar([backendsFlag(b), '--idle-timeout=1s', '--client-header-timeout=1s', '--response-timeout=1s']);
  const c = await s.connect(sc.port);
  await c.write('GET /stream HTTP/1.1\r\nHost: t\r\n\r\n');
  const r = await c.readResponse({ timeoutMs: 8000 });
  assert.equal(r.status, 200);
  assert.equal(r.text(), Array.from({ length: 10 }, (_, i) => `tick${i};`).join('') + 'done');
});

// --max-connections=3: a 4th simultaneous connection is closed at accept without a response;
// after one of the three closes, a new connection is served again.
test('--max-connections refuses the extra connection', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--max-connections=3', '--idle-timeout=30s']);
  const held = [];
  for (let i = 0; i < 3; i++) {
    const c = await s.connect(sc.port);
    await c.write(`GET /held/${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
    assert.equal((await c.readResponse()).status, 200, `connection ${i} of 3 is served`);
    held.push(c);
  }
  const extra = await s.connect(sc.port);
  await extra.write('GET /fourth HTTP/1.1\r\nHost: t\r\n\r\n').catch(() => {});
  const closed = await extra.waitClosed(3000);
  assert.equal(closed.extra.length, 0, `the refused connection got bytes: ${JSON.stringify(closed.extra.toString('latin1'))}`);
  assert.equal(b.stats.requests, 3, 'the 4th request must not reach the backend');
  // The three held connections still work.
  await held[0].write('GET /still HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await held[0].readResponse()).status, 200);
  // Free a slot; a new connection is then served (the proxy needs a moment to see the close).
  held[2].destroy();
  await waitFor(
    async () => {
      const c = await RawClient.connect(sc.port);
      try {
        await c.write('GET /after-free HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n').catch(() => {});
        const r = await withDeadline(c.readResponse({ timeoutMs: 2000 }), 2500, 'response after freeing a slot');
        return r.status === 200;
      } catch {
        return false;
      } finally {
        c.destroy();
      }
    },
    { timeoutMs: 5000, intervalMs: 100, what: 'a new connection to be served after one of three closed' },
  );
});
