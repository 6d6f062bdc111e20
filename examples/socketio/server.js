#!/usr/bin/env node
// A Socket.IO 4 app to run under drover-sidecar's supervisor mode; every answer names the
// worker that gave it, so you can see the load spread and the reloads.
//
//   PORT=3000 node examples/socketio/server.js
//
// Socket.IO event "echo" (data, ack) -> ack({ worker, pid, data }), or an "echo" event back
//                                       with the same object when the client sent no ack
// on connection                      -> a "hello" event { worker, pid }
// GET /whoami                        -> 200 JSON { worker, pid, port, connections }
// SIGTERM/SIGINT -> stops accepting, disconnects the sockets (clients reconnect, to another
//                   worker), exits 0 once the server is closed (forced after 10 s).
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const worker = process.env.DROVER_WORKER_ID ?? process.env.NODE_APP_INSTANCE ?? String(port);

let stopping = false;
const httpServer = http.createServer((req, res) => {
  // Socket.IO answers its own path (/socket.io/) before this handler sees the request.
  const path = (req.url ?? '/').split('?')[0];
  if (stopping) res.setHeader('connection', 'close');
  if (path === '/whoami' && (req.method === 'GET' || req.method === 'HEAD')) {
    const body = JSON.stringify({ worker, pid: process.pid, port, connections: io.engine.clientsCount });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

const io = new Server(httpServer, {
  // Without sticky sessions, the long-polling requests of one client may reach different
  // workers; clients should ask for transports: ['websocket'] when there is more than one.
  cors: { origin: true },
});

io.on('connection', (socket) => {
  socket.emit('hello', { worker, pid: process.pid });
  socket.on('echo', (data, ack) => {
    const reply = { worker, pid: process.pid, data };
    if (typeof ack === 'function') ack(reply);
    else socket.emit('echo', reply);
  });
});

httpServer.listen(port, host, () => {
  console.log(`socketio: worker ${worker} listening on http://${host}:${port} (pid ${process.pid})`);
});

function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`socketio: worker ${worker} got ${signal}, shutting down`);
  // io.close() disconnects every socket and closes the HTTP server; the callback runs once the
  // last HTTP connection is gone.
  io.close(() => process.exit(0));
  httpServer.closeIdleConnections?.();
  setTimeout(() => {
    console.error(`socketio: worker ${worker}: still open after 10 s, exiting`);
    process.exit(1);
  }, 10_000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
