#!/usr/bin/env node
// A Node.js app whose requests cost unequal CPU, as real apps' do: 95% of requests burn 0.2 ms of
// CPU, 5% burn 10 ms (bench/supervisor.sh). A cheap request that lands behind a slow one in the
// same worker waits for it: what a per-request queue in front of the workers avoids.
//
//   PORT=3000 node bench/mixed-app.js          (or PORT=/path/to/socket: a unix socket)
//
// GET /      -> "ok <cost> (pid N)"; which requests are slow is random (SLOW_FRACTION, default 0.05)
// GET /slow  -> always 10 ms; GET /fast -> always 0.2 ms
// SIGTERM/SIGINT -> exits once in-flight requests are done.
'use strict';

const http = require('node:http');

// A number is a TCP port on HOST; anything else a unix socket path (--worker-transport=unix).
const port = process.env.PORT ?? '3000';
const host = process.env.HOST ?? '127.0.0.1';
const slowFraction = Number(process.env.SLOW_FRACTION ?? 0.05);
const kFastUs = 200;
const kSlowUs = 10_000;

// Burns `us` microseconds of this process's CPU time (user + system): a request handler doing
// synchronous work (templating, JSON). CPU time, not wall time: where workers share a CPU, a
// wall-clock loop would count the time another process ran and cost less CPU than it says.
function burn(us) {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 200; i++) x += i;
    const used = process.cpuUsage(start);
    if (used.user + used.system >= us) return x;
  }
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const slow = path === '/slow' || (path !== '/fast' && Math.random() < slowFraction);
  burn(slow ? kSlowUs : kFastUs);
  const body = `ok ${slow ? 'slow' : 'fast'} (pid ${process.pid})\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
if (/^\d+$/.test(port)) server.listen(Number(port), host);
else server.listen(port);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
