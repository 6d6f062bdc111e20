// A test app for supervisor mode, configured by its environment. It listens on
// 127.0.0.1:$PORT (or on the Unix socket $PORT names) and answers, for every route, JSON naming itself:
// { worker: DROVER_WORKER_ID, pid, port, requests }.
//
//   GET /            at once
//   GET /slow?ms=N   after N ms
//   GET /busy?ms=N   after N ms of blocking its event loop (accepts nothing meanwhile)
//   GET /leak?mb=N   after allocating N MiB that it keeps (RSS grows by about N MiB)
//   GET /ready       200 once the file $APP_READY_FILE exists (or always, without it), else 503
//
// Environment (all optional):
//   APP_START_LOG=FILE       appends a JSON line { pid, worker, port, t0, t } at start, where t0
//                            is the process's time origin and t the time of the line (ms epoch)
//   APP_REQUEST_LOG=FILE     appends a JSON line { pid, path, t } when a request arrives
//   APP_EXIT_AT_START=CODE   exits with CODE right after that line (a crash at start)
//   APP_CRASH_IF_EXISTS=FILE exits with code 4 at start while FILE exists
//   APP_HANG_IF_EXISTS=FILE  when FILE exists at start: never listens (never becomes ready)
//   APP_BACKLOG=N            the listen backlog (default: Node's)
//   APP_LINES=1              at start prints "out-line ..." to stdout, "err-line ..." to stderr,
//                            two lines in one write, and a line with characters JSON must escape
// SIGTERM/SIGINT: stops accepting, lets requests in flight finish, exits 0.

import http from 'node:http';
import fs from 'node:fs';

// A number, or a Unix socket path (--worker-transport=unix).
const port = /^\d+$/.test(process.env.PORT ?? '') ? Number(process.env.PORT) : process.env.PORT;
const worker = process.env.DROVER_WORKER_ID ?? '?';
const t0 = performance.timeOrigin;

if (process.env.APP_START_LOG) {
  fs.appendFileSync(process.env.APP_START_LOG, `${JSON.stringify({ pid: process.pid, worker, port, t0, t: Date.now() })}\n`);
}
if (process.env.APP_EXIT_AT_START) process.exit(Number(process.env.APP_EXIT_AT_START));
if (process.env.APP_CRASH_IF_EXISTS && fs.existsSync(process.env.APP_CRASH_IF_EXISTS)) process.exit(4);

if (process.env.APP_LINES) {
  process.stdout.write(`out-line worker=${worker} pid=${process.pid}\n`);
  process.stderr.write(`err-line worker=${worker} pid=${process.pid}\n`);
  process.stdout.write(`multi-a worker=${worker}\nmulti-b worker=${worker}\n`);
  process.stdout.write(`escape worker=${worker} quote=" backslash=\\ tab=\t unicode=é\n`);
}

const kept = [];
let requests = 0;
let stopping = false;

function answer(res, extra = {}) {
  if (stopping) res.setHeader('connection', 'close');
  const body = JSON.stringify({ worker, pid: process.pid, port, requests, ...extra });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  requests++;
  if (process.env.APP_REQUEST_LOG) {
    fs.appendFileSync(process.env.APP_REQUEST_LOG, `${JSON.stringify({ pid: process.pid, path: req.url, t: Date.now() })}\n`);
  }
  const url = new URL(req.url, 'http://x');
  req.resume();
  if (url.pathname === '/ready') {
    const ready = !process.env.APP_READY_FILE || fs.existsSync(process.env.APP_READY_FILE);
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ready ? 'ready\n' : 'not yet\n');
  } else if (url.pathname === '/slow') {
    setTimeout(() => answer(res), Number(url.searchParams.get('ms') || 200));
  } else if (url.pathname === '/busy') {
    const until = Date.now() + Number(url.searchParams.get('ms') || 200);
    while (Date.now() < until) {
      // a synchronous handler: the event loop and accept() wait for it
    }
    answer(res);
  } else if (url.pathname === '/leak') {
    const mb = Number(url.searchParams.get('mb') || 10);
    kept.push(Buffer.alloc(mb << 20, 1)); // filled, so the pages are resident
    answer(res, { keptMiB: kept.length ? kept.reduce((n, b) => n + b.length, 0) >> 20 : 0 });
  } else {
    answer(res);
  }
});
server.keepAliveTimeout = 30000;

if (process.env.APP_HANG_IF_EXISTS && fs.existsSync(process.env.APP_HANG_IF_EXISTS)) {
  console.log(`app: worker ${worker} pid ${process.pid} hanging (never listens)`);
  setInterval(() => {}, 1 << 30);
} else {
  const onListening = () => console.log(`app: worker ${worker} listening on ${port} (pid ${process.pid})`);
  const backlog = process.env.APP_BACKLOG ? Number(process.env.APP_BACKLOG) : undefined;
  if (typeof port === 'number') server.listen({ port, host: '127.0.0.1', backlog }, onListening);
  else server.listen({ path: port, backlog }, onListening);
}

function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  if (!server.listening) process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
