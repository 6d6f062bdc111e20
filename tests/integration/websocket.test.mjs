// WebSocket (HTTP Upgrade) through the proxy with the real `ws` client and server.

import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import { scope, backendsFlag } from './lib/scope.mjs';
import { withDeadline, waitFor, MiB } from './lib/proc.mjs';

// A ws echo server on an in-process node:http backend; upgrades are recorded.
async function startWsEcho(s) {
  const b = await s.httpBackend({ name: 'ws' });
  const wss = new WebSocketServer({ server: b.server, maxPayload: 8 * MiB });
  const upgrades = [];
  const closes = [];
  wss.on('connection', (ws, req) => {
    upgrades.push({ url: req.url, headers: req.headers });
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
  });
  s.defer(() => new Promise((r) => wss.close(() => r())));
  return { b, wss, upgrades, closes };
}

function nextMessage(ws, what) {
  return withDeadline(
    new Promise((resolve, reject) => {
      ws.once('message', (data, isBinary) => resolve({ data, isBinary }));
      ws.once('close', () => reject(new Error('closed before a message')));
    }),
    10000,
    what,
  );
}

// Text, binary and a 1 MiB message echo through the tunnel unchanged, then the close handshake
// carries the code and reason both ways and the TCP connection ends.
test('WebSocket echo: text, binary, 1 MiB, close handshake', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const { b, upgrades, closes } = await startWsEcho(s);
  const sc = await s.sidecar([backendsFlag(b)]);
  const ws = new WebSocket(`ws://127.0.0.1:${sc.port}/chat?room=1`, { maxPayload: 8 * MiB });
  s.defer(() => ws.terminate());
  await withDeadline(once(ws, 'open'), 5000, 'WebSocket open through the proxy');
  assert.equal(upgrades.length, 1);
  assert.equal(upgrades[0].url, '/chat?room=1');
  assert.equal(upgrades[0].headers.upgrade.toLowerCase(), 'websocket');

  ws.send('hello, tunnel');
  const text = await nextMessage(ws, 'text echo');
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString(), 'hello, tunnel');

  const bin = crypto.randomBytes(4096);
  ws.send(bin);
  const binEcho = await nextMessage(ws, 'binary echo');
  assert.equal(binEcho.isBinary, true);
  assert.ok(Buffer.from(binEcho.data).equals(bin), 'binary echo differs');

  const big = crypto.randomBytes(MiB);
  ws.send(big);
  const bigEcho = await nextMessage(ws, '1 MiB echo');
  assert.equal(bigEcho.data.length, MiB);
  assert.equal(crypto.createHash('md5').update(bigEcho.data).digest('hex'), crypto.createHash('md5').update(big).digest('hex'));

  // Many small messages in a burst keep their order.
  const got = [];
  const all = withDeadline(
    new Promise((resolve) => {
      ws.on('message', (d) => {
        got.push(d.toString());
        if (got.length === 200) resolve();
      });
    }),
    10000,
    '200 small echoes',
  );
  for (let i = 0; i < 200; i++) ws.send(`m${i}`);
  await all;
  assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => `m${i}`));
  ws.removeAllListeners('message');

  const closed = withDeadline(
    new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    5000,
    'close handshake through the proxy',
  );
  ws.close(4001, 'bye');
  const c = await closed;
  assert.equal(c.code, 4001, 'close code echoed by the server');
  assert.equal(c.reason, 'bye');
  // The server's 'close' comes when its TCP connection ends, which may be after the client's.
  await waitFor(() => closes.length > 0, { timeoutMs: 3000, what: 'the server side of the WebSocket to close' });
  assert.deepEqual(closes, [{ code: 4001, reason: 'bye' }], 'server saw the client close frame');
});

// Several WebSockets through the proxy at once stay independent.
test('five concurrent WebSockets do not mix their messages', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const { b } = await startWsEcho(s);
  const sc = await s.sidecar([backendsFlag(b)]);
  const sockets = [];
  for (let i = 0; i < 5; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${sc.port}/s${i}`);
    s.defer(() => ws.terminate());
    sockets.push(ws);
  }
  await withDeadline(Promise.all(sockets.map((ws) => once(ws, 'open'))), 5000, 'five opens');
  const echoes = sockets.map((ws, i) => {
    const p = nextMessage(ws, `echo on socket ${i}`);
    ws.send(`socket-${i}`);
    return p;
  });
  const got = await Promise.all(echoes);
  got.forEach((m, i) => assert.equal(m.data.toString(), `socket-${i}`));
});

// A backend that refuses the upgrade (plain 404) gives the client that answer, not a tunnel.
test('a refused upgrade is relayed as a normal response', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend({
    name: 'noupgrade',
    handler: (req, res) => {
      res.writeHead(404, { 'Content-Length': 9 });
      res.end('not here!');
    },
  });
  // node:http emits 'upgrade' instead of 'request' for upgrade requests: answer 404 there.
  b.server.on('upgrade', (req, sock) => {
    sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot here!');
  });
  const sc = await s.sidecar([backendsFlag(b)]);
  const ws = new WebSocket(`ws://127.0.0.1:${sc.port}/nope`);
  s.defer(() => ws.terminate());
  const status = await withDeadline(
    new Promise((resolve, reject) => {
      ws.once('unexpected-response', (req, res) => resolve(res.statusCode));
      ws.once('open', () => reject(new Error('opened a WebSocket the backend refused')));
      ws.once('error', (err) => reject(err));
    }),
    5000,
    'the refused upgrade answer',
  );
  assert.equal(status, 404);
});
