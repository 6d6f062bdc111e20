// The Socket.IO example (examples/socketio) under supervisor mode: WebSocket clients reach both
// workers through the proxy, each echo names the worker that answered, and GET /whoami works.
// Needs examples/socketio's npm packages (scripts/setup.sh installs them); fails without them.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { WebSocket } from 'ws';
import { supervisorScope, REPO_ROOT, withDeadline, request } from './lib/supervisor.mjs';
import { requirePackage } from '../lib/packages.mjs';

const kExample = path.join(REPO_ROOT, 'examples/socketio');

// A minimal Socket.IO v4 client over a raw WebSocket (Engine.IO v4 packets: "0" open, "2" ping,
// "3" pong, "4" message; Socket.IO: "40" connect, "42" event, "43" ack).
async function connectSocketIo(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  const inbox = [];
  const waiters = [];
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') {
      ws.send('3');
      return;
    }
    inbox.push(text);
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', () => {});
  const next = async (pred, what) => {
    for (;;) {
      const i = inbox.findIndex(pred);
      if (i >= 0) return inbox.splice(i, 1)[0];
      await withDeadline(new Promise((r) => waiters.push(r)), 5000, `${what} from Socket.IO`);
    }
  };
  await next((m) => m.startsWith('0{'), 'open packet');
  ws.send('40');
  await next((m) => m.startsWith('40'), 'namespace connect');
  const hello = JSON.parse((await next((m) => m.startsWith('42["hello"'), 'hello event')).slice(2))[1];
  let ackId = 0;
  return {
    hello,
    async echo(data) {
      const id = ackId++;
      ws.send(`42${id}${JSON.stringify(['echo', data])}`);
      const ack = await next((m) => m.startsWith(`43${id}[`), `ack ${id}`);
      return JSON.parse(ack.slice(2 + String(id).length))[0];
    },
    closed: new Promise((resolve) => ws.once('close', (code) => resolve({ code, at: Date.now() }))),
    close() {
      ws.close();
    },
  };
}

// WebSocket clients of the Socket.IO example reach both workers, and every echo names its worker.
test('socket.io example: echo over WebSocket names its worker, on both workers', { timeout: 60000 }, async (t) => {
  requirePackage('examples/socketio', 'socket.io');
  const s = supervisorScope(t);
  const sc = await s.start({
    workers: 2,
    cmd: [process.execPath, path.join(kExample, 'server.js')],
    flags: ['--ready-path=/whoami'],
  });
  const pids = await sc.waitAllReady();
  const clients = [];
  try {
    for (let i = 0; i < 8; i++) clients.push(await connectSocketIo(sc.port));
    const seen = new Set();
    for (const [i, c] of clients.entries()) {
      const reply = await c.echo({ n: i });
      assert.deepEqual(reply.data, { n: i });
      assert.equal(reply.worker, c.hello.worker, 'echo answered by the worker that said hello');
      assert.equal(reply.pid, pids[Number(reply.worker)], `pid of worker ${reply.worker}`);
      seen.add(reply.worker);
    }
    assert.deepEqual([...seen].sort(), ['0', '1'], 'both workers got WebSocket clients');
  } finally {
    clients.forEach((c) => c.close());
  }
  const who = await request(sc.port, { path: '/whoami' });
  assert.equal(who.status, 200);
  const body = JSON.parse(who.text);
  assert.ok(pids.includes(body.pid), `/whoami pid ${body.pid} is a worker`);
});

// Open WebSocket tunnels do not hold a SIGTERM exit past --grace-period.
test('socket.io example: SIGTERM with open WebSockets exits 0 within --grace-period', { timeout: 60000 }, async (t) => {
  requirePackage('examples/socketio', 'socket.io');
  const s = supervisorScope(t);
  const graceMs = 4000;
  const sc = await s.start({
    workers: 2,
    cmd: [process.execPath, path.join(kExample, 'server.js')],
    flags: ['--ready-path=/whoami', '--drain-delay=200ms', `--grace-period=${graceMs}ms`, '--kill-timeout=1s'],
  });
  await sc.waitAllReady();
  const clients = [];
  try {
    for (let i = 0; i < 4; i++) clients.push(await connectSocketIo(sc.port));
    const signalAt = Date.now();
    const r = await sc.stop('SIGTERM', graceMs + 5000);
    const closes = await Promise.all(clients.map((c) => withDeadline(c.closed, 2000, 'client WebSocket closed')));
    const gotSigterm = (sc.output().match(/got SIGTERM/g) || []).length;
    t.diagnostic(`exit after ${r.ms} ms; client sockets closed after ${closes.map((c) => c.at - signalAt).join(', ')} ms (codes ${closes.map((c) => c.code).join(', ')}); ${gotSigterm} worker(s) logged SIGTERM`);
    assert.equal(r.killed, false, `did not exit within ${graceMs + 5000} ms\n${sc.tail()}`);
    assert.equal(r.code, 0, `exit code (signal ${r.signal})\n${sc.tail()}`);
    assert.ok(r.ms <= graceMs + 500, `exited ${r.ms} ms after SIGTERM, --grace-period=${graceMs}ms`);
    assert.deepEqual(r.leftovers, [], 'worker processes left behind');
  } finally {
    clients.forEach((c) => c.close());
  }
});
