#!/usr/bin/env node
// A SockJS server (the `sockjs` package, prefix /echo) whose sessions live in the worker: each
// message is answered with { worker, pid, data }. GET /whoami answers { worker, pid }.
//
//   PORT=3000 node sockjs-app.cjs
'use strict';

const http = require('node:http');
const sockjs = require('sockjs');

const port = Number(process.env.PORT ?? 3000);
const worker = process.env.DROVER_WORKER_ID ?? String(port);
// A heartbeat every second: a streaming response whose client went away is written to soon, so
// the proxy learns that the client is gone (it does not notice a client's FIN while the
// response is idle) and closes the request, as it would for a real browser after 25 s.
const echo = sockjs.createServer({ prefix: '/echo', log: () => {}, disconnect_delay: 2000, heartbeat_delay: 1000 });
echo.on('connection', (conn) => {
  conn.on('data', (data) => conn.write(JSON.stringify({ worker, pid: process.pid, data })));
});
const server = http.createServer((req, res) => {
  const body = JSON.stringify({ worker, pid: process.pid });
  res.writeHead(req.url === '/whoami' ? 200 : 404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
echo.installHandlers(server);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 1000).unref());
