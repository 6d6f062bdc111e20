// Request smuggling and malformed requests: each gets exactly one 400, the connection closes,
// and nothing of it reaches the backend.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from './lib/scope.mjs';
import { rawExchange, parseAllResponses } from './lib/http1.mjs';
import { waitFor } from './lib/proc.mjs';

const H = 'Host: t\r\n';

// Each is a complete write from the client. Where a valid request could hide behind the bad one,
// it is appended ("GET /smuggled") so that a proxy that guesses would forward it.
const kBadRequests = [
  { name: 'Content-Length with Transfer-Encoding', bytes: `POST /a HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n` },
  { name: 'Transfer-Encoding with Content-Length (order swapped)', bytes: `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n` },
  { name: 'duplicate Content-Length, different values', bytes: `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 30\r\n\r\nhelloGET /smuggled HTTP/1.1\r\n${H}\r\n` },
  { name: 'duplicate Content-Length, same value', bytes: `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello` },
  { name: 'Content-Length list "5, 5"', bytes: `POST /a HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello` },
  { name: 'Content-Length not digits (+5)', bytes: `POST /a HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello` },
  { name: 'bad chunk size', bytes: `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n` },
  { name: 'chunk size overflowing 64 bits', bytes: `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n` },
  { name: 'Transfer-Encoding: gzip', bytes: `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nhello` },
  { name: 'Transfer-Encoding: chunked, gzip (chunked not last)', bytes: `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n` },
  { name: 'Transfer-Encoding with a space before the colon', bytes: `POST /a HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello` },
  { name: 'obs-fold continuation line', bytes: `GET /a HTTP/1.1\r\n${H}X-Folded: a\r\n  b\r\n\r\n` },
  { name: 'bare CR in a header value', bytes: `GET /a HTTP/1.1\r\n${H}X-Bad: a\rb\r\n\r\n` },
  { name: 'bare LF line ending', bytes: `GET /a HTTP/1.1\n${H.replace('\r\n', '\n')}\n` },
  { name: 'bad header name (space inside)', bytes: `GET /a HTTP/1.1\r\n${H}Bad Name: x\r\n\r\n` },
  { name: 'bad header name (non-token char)', bytes: `GET /a HTTP/1.1\r\n${H}X-B@d: x\r\n\r\n` },
  { name: 'NUL in a header value', bytes: `GET /a HTTP/1.1\r\n${H}X-Nul: a\x00b\r\n\r\n` },
  { name: 'missing Host on HTTP/1.1', bytes: 'GET /a HTTP/1.1\r\nX-A: b\r\n\r\n' },
  { name: 'two Host fields', bytes: `GET /a HTTP/1.1\r\n${H}Host: other\r\n\r\n` },
  { name: 'malformed request line', bytes: `GET  /a HTTP/1.1\r\n${H}\r\n` },
  { name: 'bad version', bytes: `GET /a HTTP/1.x\r\n${H}\r\n` },
];

// Each malformed request gets exactly one 400 response, then the proxy closes; after all of
// them the backend has received only the one valid marker request sent at the end.
test('malformed and smuggling requests get 400 and close, backend sees nothing', { timeout: 120000 }, async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend((req) => {
    const body = `seen ${req.target}`;
    return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  });
  const sc = await s.sidecar([backendsFlag(b), '--client-header-timeout=3s']);
  for (const c of kBadRequests) {
    await t.test(c.name, async () => {
      const { data, closed, error } = await rawExchange(sc.port, c.bytes, { timeoutMs: 5000 });
      const text = data.toString('latin1');
      assert.ok(closed, `connection still open 5 s after the bad request; received: ${JSON.stringify(text)}`);
      let parsed;
      try {
        parsed = parseAllResponses(data);
      } catch (err) {
        assert.fail(`unparsable answer (${err.message}): ${JSON.stringify(text)}`);
      }
      assert.equal(parsed.responses.length, 1, `expected exactly one response, got ${parsed.responses.length}: ${JSON.stringify(text)}${error ? ` (socket error ${error.code})` : ''}`);
      assert.equal(parsed.responses[0].status, 400, `status; answer: ${JSON.stringify(text)}`);
      assert.equal(parsed.rest.length, 0, `bytes after the 400: ${JSON.stringify(parsed.rest.toString('latin1'))}`);
    });
  }
  // Marker: a valid request must reach the backend, and it must be the only thing there.
  const { data } = await rawExchange(sc.port, `GET /marker HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { timeoutMs: 5000 });
  const marker = parseAllResponses(data).responses;
  assert.equal(marker.length, 1);
  assert.equal(marker[0].status, 200);
  await waitFor(() => b.requests.length >= 1, { what: 'the marker request at the backend' });
  assert.deepEqual(
    b.requests.map((r) => r.target),
    ['/marker'],
    `the backend received requests from malformed input: ${b.requests.map((r) => r.raw.toString('latin1')).join(' | ')}`,
  );
  const allBytes = b.received.map((parts) => Buffer.concat(parts).toString('latin1')).join('');
  assert.ok(!allBytes.includes('/a ') && !allBytes.includes('/smuggled'), `bytes of malformed requests reached the backend: ${JSON.stringify(allBytes)}`);
});

// A chunked body whose size is valid but whose data is not followed by CRLF is rejected, and a
// request hidden after it is never forwarded.
test('chunk data not followed by CRLF is rejected and nothing after it is forwarded', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sc = await s.sidecar([backendsFlag(b)]);
  const { data, closed } = await rawExchange(
    sc.port,
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`,
    { timeoutMs: 5000 },
  );
  assert.ok(closed, 'connection closed');
  const allBytes = b.received.map((parts) => Buffer.concat(parts).toString('latin1')).join('');
  assert.ok(!allBytes.includes('/smuggled'), `the hidden request reached the backend: ${JSON.stringify(allBytes)}`);
  const { responses } = parseAllResponses(data);
  assert.equal(responses.length, 1, `expected one response: ${JSON.stringify(data.toString('latin1'))}`);
  assert.equal(responses[0].status, 400);
});

// A well-formed request line with an HTTP version other than 1.x gets 505 and a close.
test('HTTP/2.0 in a request line gets 505', async (t) => {
  const s = scope(t);
  const b = await s.scriptedBackend(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sc = await s.sidecar([backendsFlag(b)]);
  const { data, closed } = await rawExchange(sc.port, `GET /a HTTP/2.0\r\n${H}\r\n`, { timeoutMs: 5000 });
  assert.ok(closed);
  const { responses, rest } = parseAllResponses(data);
  assert.equal(responses.length, 1, JSON.stringify(data.toString('latin1')));
  assert.equal(responses[0].status, 505);
  assert.equal(rest.length, 0);
  assert.equal(b.requests.length, 0);
});
