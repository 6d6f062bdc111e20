#!/usr/bin/env node
// A minimal Node.js HTTP app to put behind drover-sidecar (no npm dependencies).
//
//   PORT=3000 node examples/hello/server.js        (or PORT=/path/to/socket: a Unix socket)
//
// GET /        -> "hello from worker <id> (pid <pid>)", where <id> is DROVER_WORKER_ID,
//                 else NODE_APP_INSTANCE, else the port
// GET /healthz -> 200 "ok"
// SIGTERM/SIGINT -> stops accepting, lets requests in flight finish, exits 0 (forced after 10 s).
'use strict';

const http = require('node:http');

// A port number, or a Unix socket path (drover-sidecar --worker-transport=unix).
const port = /^\d+$/.test(process.env.PORT ?? '3000') ? Number(process.env.PORT ?? 3000) : process.env.PORT;
const host = process.env.HOST ?? '127.0.0.1';
const workerId = process.env.DROVER_WORKER_ID ?? process.env.NODE_APP_INSTANCE ?? String(port);

let stopping = false;
const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (stopping) res.setHeader('connection', 'close'); // let the proxy know to reconnect elsewhere
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
    res.end('method not allowed\n');
  } else if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from worker ${workerId} (pid ${process.pid})\n`);
  } else if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

function onListening() {
  const where = typeof port === 'number' ? `http://${host}:${server.address().port}` : port;
  console.log(`hello: worker ${workerId} listening on ${where} (pid ${process.pid})`);
}
if (typeof port === 'number') server.listen(port, host, onListening);
else server.listen(port, onListening);

function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`hello: worker ${workerId} got ${signal}, shutting down`);
  // Stop accepting; idle keep-alive connections are closed now, busy ones after their response.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => {
    console.error(`hello: worker ${workerId}: connections still open after 10 s, exiting`);
    process.exit(1);
  }, 10_000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
