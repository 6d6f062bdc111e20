#!/usr/bin/env node
// Opens COUNT keep-alive connections to a proxy, sends one `GET /` on each, reads the whole
// response, and then keeps every connection open and idle, so the proxy holds COUNT kept-alive
// client connections. Used by bench/run.sh to measure proxy memory per idle connection.
//
//   node bench/idle_conns.js --port=8080 [--host=127.0.0.1] [--count=10000]
//                            [--concurrency=100] [--timeout-ms=60000]
//
// Prints one line `ready OK FAILED` once every connection has either completed its request
// (OK) or failed (FAILED), then waits. On SIGTERM/SIGINT it prints
// `done OK FAILED CLOSED_BY_PEER` (connections the proxy closed while they sat idle) and exits.
// Exit status: 0 if all connections were still open at the end, 1 otherwise.
'use strict';

const net = require('node:net');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, count: 10000, concurrency: 100, timeoutMs: 60000 };
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`bad argument: ${arg}`);
    const [, key, value] = m;
    if (key === 'host') opts.host = value;
    else if (key === 'port') opts.port = Number(value);
    else if (key === 'count') opts.count = Number(value);
    else if (key === 'concurrency') opts.concurrency = Number(value);
    else if (key === 'timeout-ms') opts.timeoutMs = Number(value);
    else throw new Error(`unknown option: --${key}`);
  }
  if (!(opts.port > 0 && opts.port < 65536)) throw new Error('--port=N is required');
  if (!(opts.count > 0) || !(opts.concurrency > 0)) throw new Error('bad --count/--concurrency');
  return opts;
}

// True once `buf` holds a whole HTTP/1.1 response (Content-Length or chunked framing).
// Returns the status code, or 0 while incomplete.
function completeResponse(buf) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return 0;
  const head = buf.subarray(0, headEnd).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? -1);
  const bodyLen = buf.length - headEnd - 4;
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) return bodyLen >= Number(cl[1]) ? status : 0;
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
    return buf.subarray(headEnd + 4).includes('0\r\n\r\n') ? status : 0;
  }
  return status === 204 || status === 304 ? status : 0;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n\r\n`);
  const sockets = [];
  let started = 0;
  let ok = 0;
  let failed = 0;
  let closedByPeer = 0;
  let ready = false;
  let stopping = false;
  const errors = new Map();

  const noteError = (what) => errors.set(what, (errors.get(what) ?? 0) + 1);

  function finishOne(success, what) {
    if (success) ok++;
    else {
      failed++;
      noteError(what);
    }
    if (ok + failed === opts.count) {
      ready = true;
      for (const [what, n] of errors) process.stderr.write(`idle_conns: ${n} x ${what}\n`);
      process.stdout.write(`ready ${ok} ${failed}\n`);
    } else {
      startMore();
    }
  }

  function openOne() {
    const sock = net.connect({ host: opts.host, port: opts.port });
    let chunks = [];
    let settled = false;
    let succeeded = false;
    const settle = (success, what) => {
      if (settled) return;
      settled = true;
      succeeded = success;
      chunks = null;
      finishOne(success, what);
    };
    sock.setNoDelay(true);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (data) => {
      if (settled) return; // idle connections should receive nothing more
      chunks.push(data);
      const status = completeResponse(Buffer.concat(chunks));
      if (status === 200) {
        settle(true);
      } else if (status !== 0) {
        settle(false, `status ${status}`);
        sock.destroy();
      }
    });
    sock.on('error', (err) => settle(false, err.code ?? err.message));
    sock.on('close', () => {
      if (!settled) settle(false, 'closed before a whole response');
      else if (succeeded && !stopping) closedByPeer++;
    });
    sockets.push(sock);
  }

  function startMore() {
    while (started < opts.count && started - (ok + failed) < opts.concurrency) {
      started++;
      openOne();
    }
  }

  const deadline = setTimeout(() => {
    if (!ready) {
      process.stderr.write(`idle_conns: timed out with ${ok} ok, ${failed} failed\n`);
      process.exit(2);
    }
  }, opts.timeoutMs);

  function stop() {
    if (stopping) return;
    stopping = true;
    clearTimeout(deadline);
    // Count before closing our own end: closes we cause are not the peer's doing.
    const peerClosed = closedByPeer;
    process.stdout.write(`done ${ok} ${failed} ${peerClosed}\n`);
    for (const s of sockets) s.destroy();
    process.exitCode = failed === 0 && peerClosed === 0 ? 0 : 1;
    setImmediate(() => process.exit());
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  startMore();
}

main();
