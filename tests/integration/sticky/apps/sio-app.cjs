#!/usr/bin/env node
// A Socket.IO 4 app (socket.io from tests/node_modules) for the socketio sticky tests: a
// "hello" { worker, pid } on connection, and "echo" acked with { worker, pid, data }, the same
// protocol as examples/socketio/server.js. GET /whoami answers { worker, pid } (ready path).
//
//   PORT=3000 node sio-app.cjs
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT ?? 3000);
const worker = process.env.DROVER_WORKER_ID ?? String(port);
const httpServer = http.createServer((req, res) => {
  const body = JSON.stringify({ worker, pid: process.pid });
  res.writeHead(req.url === '/whoami' ? 200 : 404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
const io = new Server(httpServer, { cors: { origin: true } });
io.on('connection', (socket) => {
  socket.emit('hello', { worker, pid: process.pid });
  socket.on('echo', (data, ack) => ack?.({ worker, pid: process.pid, data }));
});
httpServer.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  io.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
