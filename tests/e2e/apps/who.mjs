// The worker app of the end-to-end tests: it says who answered. Every request (any method and
// path) gets JSON { pod, worker, pid, requests, cookie }:
//   pod     E2E_POD, which tests/e2e/lib/cluster.mjs puts in the sidecar's environment (the
//           workers inherit it), so a response names the pod whose worker served it;
//   worker  DROVER_WORKER_ID, the slot the sidecar started it as;
//   pid     this process, so a restarted or replaced worker is told apart;
//   cookie  the Cookie field as the app got it (the sidecar strips DROVERID before the app).
// Listens on 127.0.0.1:$PORT; SIGTERM/SIGINT: stops accepting, finishes requests, exits 0.

import http from 'node:http';

const port = Number(process.env.PORT);
const pod = process.env.E2E_POD ?? '?';
const worker = process.env.DROVER_WORKER_ID ?? '?';
let requests = 0;
let stopping = false;

const server = http.createServer((req, res) => {
  requests++;
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({ pod, worker, pid: process.pid, requests, cookie: req.headers.cookie ?? null });
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (stopping) headers.connection = 'close';
    res.writeHead(200, headers);
    res.end(body);
  });
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log(`who: pod ${pod} worker ${worker} listening on ${port} (pid ${process.pid})`));

function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  if (!server.listening) process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
