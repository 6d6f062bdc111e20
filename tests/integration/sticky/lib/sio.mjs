// Real socket.io-client v4 clients of the Socket.IO example (examples/socketio/server.js, which
// answers "hello" {worker, pid} on connection and acks "echo" with {worker, pid, data}), with
// everything a sticky-session test needs to look at recorded per client.
//
//   const c = openClient(`http://127.0.0.1:${sc.port}`, { id: 7 });
//   await c.ready();                  // connected, hello received, upgraded to websocket
//   const reply = await c.echo(1);    // { worker, pid, data, transport }
//   c.connects, c.disconnects, c.connectErrors, c.reconnectAttempts, c.hellos, c.replies
//   c.close();
//
// Clients start on long-polling with the default upgrade (transports ['polling','websocket']).
// In Node, engine.io-client keeps cookies only with `withCredentials: true` (its cookie jar,
// engine.io-client >= 6.5); every client gets its own Manager (forceNew), so 200 clients are 200
// Engine.IO sessions. `agent` (an http.Agent) is used for both the polling requests
// (xmlhttprequest-ssl) and the WebSocket upgrade (ws): RandomPortAgent sends each new connection
// to a random one of several ports.

import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { io } from 'socket.io-client';
import { REPO_ROOT } from '../../lib/sidecar.mjs';
import { withDeadline, waitFor } from '../../lib/proc.mjs';

export const SOCKETIO_APP = path.join(REPO_ROOT, 'examples/socketio/server.js');

// An http.Agent without keep-alive that connects each new socket to a random port of `ports`
// (all on 127.0.0.1), and logs the port it chose.
export class RandomPortAgent extends http.Agent {
  constructor(ports, rng = Math.random) {
    super({ keepAlive: false });
    this.ports = ports;
    this.rng = rng;
    this.log = [];
  }

  createConnection(options) {
    const port = this.ports[Math.floor(this.rng() * this.ports.length)];
    this.log.push(port);
    return net.createConnection({ ...options, host: '127.0.0.1', port });
  }
}

// echoOnConnect: send one echo as soon as the first connection is up (still on polling, as a
// rule: the upgrade probe runs in parallel); its promise is c.firstEcho.
// withCredentials: false makes a client without cookies (mobile and Node clients, as a rule).
export function openClient(url, { id, agent, echoTimeoutMs = 8000, echoOnConnect = true, withCredentials = true } = {}) {
  const t0 = Date.now();
  const socket = io(url, {
    transports: ['polling', 'websocket'],
    withCredentials,
    forceNew: true,
    timeout: 20000,
    ...(agent ? { agent } : {}),
  });
  const c = {
    id,
    socket,
    agent,
    connects: 0,
    disconnects: [], // { reason, at }
    connectErrors: [], // messages
    reconnectAttempts: 0,
    hellos: [], // { worker, pid, at }
    replies: [], // { worker, pid, n, transport, at }
    echoErrors: [], // { n, message, at }
    upgrades: 0, // engine upgrades to websocket, over all connections of this client
    engineIds: [],
    get transport() {
      return socket.io.engine?.transport?.name;
    },
    // The DROVERID value in the client's cookie jar (engine.io-client's, private API).
    get cookie() {
      return socket.io.engine?._cookieJar?._cookies?.get('DROVERID')?.value;
    },
    get upgraded() {
      return c.transport === 'websocket';
    },
  };
  socket.on('connect', () => {
    c.connects++;
  });
  socket.on('disconnect', (reason) => c.disconnects.push({ reason, at: Date.now() - t0 }));
  socket.on('connect_error', (err) => c.connectErrors.push(`${err.message}${err.description ? ` (${err.description?.message ?? err.description})` : ''}`));
  socket.on('hello', (h) => c.hellos.push({ ...h, at: Date.now() - t0, time: Date.now() }));
  socket.io.on('reconnect_attempt', () => c.reconnectAttempts++);
  socket.io.on('open', () => {
    const engine = socket.io.engine;
    c.engineIds.push(engine.id);
    engine.on('upgrade', (transport) => {
      if (transport.name === 'websocket') c.upgrades++;
    });
  });
  let n = 0;
  c.echo = async () => {
    const k = n++;
    const transport = c.transport;
    try {
      const reply = await socket.timeout(echoTimeoutMs).emitWithAck('echo', { client: id, n: k });
      if (reply?.data?.n !== k || reply?.data?.client !== id) throw new Error(`wrong echo ${JSON.stringify(reply)} for ${id}/${k}`);
      const r = { worker: reply.worker, pid: reply.pid, n: k, transport, at: Date.now() - t0 };
      c.replies.push(r);
      return r;
    } catch (err) {
      c.echoErrors.push({ n: k, message: err.message, at: Date.now() - t0 });
      return null;
    }
  };
  // Connected (this connection's hello in), and on websocket.
  c.ready = (timeoutMs = 20000, connects = 1) =>
    waitFor(() => c.connects >= connects && c.hellos.length >= connects && socket.connected && c.upgraded, {
      timeoutMs,
      intervalMs: 20,
      what: `client ${id}: connection ${connects} with hello, upgraded to websocket (connects ${c.connects}, hellos ${c.hellos.length}, transport ${c.transport}, errors ${JSON.stringify(c.connectErrors)})`,
    });
  if (echoOnConnect) {
    c.firstEcho = new Promise((resolve) => socket.once('connect', () => resolve(c.echo())));
  }
  c.close = () => socket.close();
  return c;
}

// Opens `count` clients `batch` at a time (each batch ready before the next starts).
export async function openClients(count, makeUrl, { batch = 20, agentFor, timeoutMs = 30000, withCredentials = true } = {}) {
  const clients = [];
  for (let i = 0; i < count; i += batch) {
    const wave = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const c = openClient(makeUrl(j), { id: j, agent: agentFor?.(j), withCredentials });
      clients.push(c);
      wave.push(c);
    }
    await withDeadline(Promise.all(wave.map((c) => c.ready(timeoutMs))), timeoutMs + 1000, `clients ${i}..${i + wave.length - 1} ready`);
  }
  return clients;
}

// One line per client that misbehaved, for failure messages.
export function describeClients(clients, pred = () => true, limit = 10) {
  return clients
    .filter(pred)
    .slice(0, limit)
    .map((c) =>
      JSON.stringify({
        id: c.id,
        connects: c.connects,
        disconnects: c.disconnects,
        connectErrors: c.connectErrors,
        reconnectAttempts: c.reconnectAttempts,
        hellos: c.hellos,
        workers: [...new Set(c.replies.map((r) => `${r.worker}/${r.pid}`))],
        echoErrors: c.echoErrors.slice(0, 3),
        transport: c.transport,
        ports: c.agent?.log,
      }),
    )
    .join('\n');
}
