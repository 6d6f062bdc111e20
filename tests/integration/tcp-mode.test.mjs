// --mode=tcp: a plain byte relay, including half-closes in both directions.

import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { scope, backendsFlag } from './lib/scope.mjs';
import { withDeadline, MiB } from './lib/proc.mjs';

// Echo backend that keeps echoing after the client's FIN and then ends its side.
async function echoBackend(s) {
  return s.rawBackend((sock) => {
    sock.on('data', (d) => sock.write(d));
    sock.on('end', () => sock.end());
  });
}

// Bytes that are not HTTP (including a NUL and a lone CR) go through unchanged, 1 MiB of them,
// and the client's half-close is relayed: the backend sees EOF, answers the rest, then closes.
test('tcp relay echoes 1 MiB and relays the client half-close', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const b = await echoBackend(s);
  const sc = await s.sidecar([backendsFlag(b), '--mode=tcp']);
  assert.equal(sc.mode, 'tcp');
  const c = await s.connect(sc.port);
  const first = Buffer.from('\x00not http at all\r\x16\x03\x01', 'latin1');
  await c.write(first);
  await c.waitUntil((buf) => buf.length >= first.length, { timeoutMs: 3000, what: 'the first echo' });
  assert.ok(c.unread.subarray(0, first.length).equals(first));
  const big = crypto.randomBytes(MiB);
  await c.write(big);
  c.end(); // FIN from the client; the echo of everything must still come back
  const { extra } = await c.waitClosed(10000);
  assert.equal(extra.length, first.length + MiB, 'echoed bytes after the client half-close');
  assert.ok(extra.subarray(first.length).equals(big), 'echoed 1 MiB differs');
});

// The backend's half-close is relayed: the client gets EOF but can still send, and the backend
// still receives what the client sends after that.
test('tcp relay relays the backend half-close', async (t) => {
  const s = scope(t);
  let clientEnded;
  const clientEndedP = new Promise((r) => (clientEnded = r));
  const b = await s.rawBackend((sock) => {
    let got = '';
    sock.write('server-hello');
    sock.end(); // our FIN first
    sock.on('data', (d) => (got += d.toString('latin1')));
    // Health-check connections close without sending anything: only the relayed one counts.
    sock.on('end', () => got !== '' && clientEnded(got));
  });
  const sc = await s.sidecar([backendsFlag(b), '--mode=tcp']);
  const c = await s.connect(sc.port);
  await c.waitUntil((buf) => buf.toString() === 'server-hello', { timeoutMs: 3000, what: 'server-hello' });
  // The client sees EOF (the backend's FIN) while its own side stays open.
  await withDeadline(
    new Promise((resolve) => (c.sock.readableEnded ? resolve() : c.sock.once('end', resolve))),
    3000,
    'EOF at the client after the backend half-closed',
  );
  await c.write('client-after-server-fin');
  c.end();
  const fromClient = await withDeadline(clientEndedP, 3000, 'the backend to receive the client bytes and FIN');
  assert.equal(fromClient, 'client-after-server-fin');
});

// In tcp mode nothing is parsed: an HTTP request with a smuggling-style head passes unchanged.
test('tcp relay does not parse or rewrite HTTP', async (t) => {
  const s = scope(t);
  const b = await echoBackend(s);
  const sc = await s.sidecar([backendsFlag(b), '--mode=tcp']);
  const c = await s.connect(sc.port);
  const req = 'GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n';
  await c.write(req);
  c.end();
  const { extra } = await c.waitClosed(3000);
  assert.equal(extra.toString('latin1'), req);
});

// A refused backend in tcp mode closes the client connection (no HTTP answer is possible).
test('tcp relay closes the client when no backend accepts', async (t) => {
  const s = scope(t);
  const b = await echoBackend(s);
  const port = b.port;
  await b.close();
  const sc = await s.sidecar([`--backends=127.0.0.1:${port}`, '--mode=tcp', '--connect-timeout=1s']);
  const c = await s.connect(sc.port);
  await c.write('hello?');
  const { extra } = await c.waitClosed(5000);
  assert.equal(extra.length, 0, `bytes from a relay without backend: ${extra.toString('latin1')}`);
});

// The client's FIN is relayed every time, also when it comes together with the data (write and
// end at once) and the backend answers with its echo and FIN right away: 20 connections in a row
// each end with the FIN back at the client.
test('tcp relay relays FIN both ways on 20 quick write-and-close connections', { timeout: 60000 }, async (t) => {
  const s = scope(t);
  const b = await echoBackend(s);
  const sc = await s.sidecar([backendsFlag(b), '--mode=tcp']);
  const lost = [];
  for (let i = 0; i < 20; i++) {
    const c = await s.connect(sc.port);
    const msg = `quick-${i}\n`;
    await c.write(msg);
    c.end();
    try {
      const { extra } = await c.waitClosed(2000);
      assert.equal(extra.toString('latin1'), msg);
    } catch (err) {
      lost.push(`connection ${i}: ${err.message.split(';')[0]}; echoed ${JSON.stringify(c.unread.toString('latin1'))}`);
    }
    c.destroy();
  }
  assert.deepEqual(lost, [], `${lost.length}/20 connections never got the FIN back:\n${lost.join('\n')}`);
});

// The backend's FIN is relayed every time, also when it comes right behind the backend's first
// bytes: 50 connections in a row whose backend writes a greeting and half-closes at once each
// see the greeting and then EOF at the client.
test('tcp relay relays the backend FIN on 50 greet-and-close connections', { timeout: 120000 }, async (t) => {
  const s = scope(t);
  const b = await s.rawBackend((sock) => {
    sock.end('greeting\n');
  });
  const sc = await s.sidecar([backendsFlag(b), '--mode=tcp']);
  const lost = [];
  for (let i = 0; i < 50; i++) {
    const c = await s.connect(sc.port);
    try {
      await withDeadline(
        new Promise((resolve) => (c.sock.readableEnded ? resolve() : c.sock.once('end', resolve))),
        1500,
        'EOF after the greeting',
      );
      assert.equal(c.unread.toString('latin1'), 'greeting\n');
    } catch (err) {
      lost.push(`connection ${i}: ${err.message}; received ${JSON.stringify(c.unread.toString('latin1'))}`);
    }
    c.destroy();
  }
  assert.deepEqual(lost, [], `${lost.length}/50 connections never got the backend's FIN:\n${lost.join('\n')}`);
});
