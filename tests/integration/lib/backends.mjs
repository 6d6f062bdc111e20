// Backends for the proxy to forward to, all on 127.0.0.1 with port 0:
//
//   const b = await startHttpBackend({ name: 'a' });      // in-process node:http server
//   b.stats.requests; b.stats.usedConnections; b.requests[0].headers
//   const r = await startRawBackend((sock) => sock.end('HTTP/1.1 200 OK\r\n...'));
//   const c = await startChildBackend('c');               // separate process (SIGKILL-able)
//   const port = await freePort();                        // nothing listens there
//
// The default HTTP handler answers 200 with a JSON description of the request it received
// (method, url, raw headers, body length and sha256) and an `X-Backend: <name>` header.

import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, exited, withDeadline } from './proc.mjs';

// A port that was free a moment ago, for a listener started later (a peer listener) or a backend
// that refuses. Picked outside the kernel's ephemeral range (32768-60999 by default): a port
// from bind(0) can be handed to some other process's outgoing connection before our listener
// binds it (EADDRINUSE), which made tests flaky.
export async function freePort(host = '127.0.0.1') {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 10000 + Math.floor(Math.random() * 10000);
    const srv = net.createServer();
    const ok = await new Promise((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => resolve(true));
    });
    if (!ok) continue;
    await new Promise((resolve) => srv.close(resolve));
    return port;
  }
  throw new Error('no free port in 10000-19999 after 100 tries');
}

function listen(server, port = 0, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server.address().port);
    });
  });
}

// Reads a request body to the end; resolves { bytes, sha256, body } (body only when small).
export function readBody(req, { keepUpTo = 1 << 20 } = {}) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    const parts = [];
    let bytes = 0;
    req.on('data', (d) => {
      hash.update(d);
      bytes += d.length;
      if (bytes <= keepUpTo) parts.push(d);
    });
    req.on('end', () => resolve({ bytes, sha256: hash.digest('hex'), body: bytes <= keepUpTo ? Buffer.concat(parts) : null }));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('request aborted')));
  });
}

export function describeRequest(name, req, body) {
  return {
    backend: name,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    bodyBytes: body.bytes,
    bodySha256: body.sha256,
    remotePort: req.socket.remotePort,
    connectionId: req.socket.testConnectionId,
  };
}

async function defaultHandler(name, req, res) {
  const body = await readBody(req);
  const json = JSON.stringify(describeRequest(name, req, body));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json), 'X-Backend': name });
  res.end(json);
}

// In-process node:http backend. `handler(req, res, backend)` replaces the default JSON echo.
// stats: requests, connections (TCP accepts, health checks included), usedConnections (those that
// carried at least one request), open (sockets open now).
export async function startHttpBackend({ name = 'backend', handler, keepAliveTimeoutMs = 30000, port = 0 } = {}) {
  const server = http.createServer();
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.headersTimeout = Math.max(keepAliveTimeoutMs + 1000, 60000);
  server.requestTimeout = 0;
  const backend = {
    name,
    server,
    port: 0,
    stats: { requests: 0, connections: 0, usedConnections: 0, open: 0 },
    requests: [], // { method, url, headers (lowercased object), rawHeaders, connectionId }
    sockets: new Set(),
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of backend.sockets) s.destroy();
      });
    },
    // Stops listening (new connects are refused) and drops open connections.
    async stopListening() {
      await backend.close();
    },
    // Listens again on the same port.
    async restart() {
      await listen(server, backend.port);
    },
  };
  let nextId = 1;
  server.on('connection', (sock) => {
    sock.testConnectionId = nextId++;
    sock.testRequests = 0;
    backend.stats.connections++;
    backend.stats.open++;
    backend.sockets.add(sock);
    sock.on('close', () => {
      backend.stats.open--;
      backend.sockets.delete(sock);
    });
  });
  server.on('request', (req, res) => {
    backend.stats.requests++;
    if (req.socket.testRequests++ === 0) backend.stats.usedConnections++;
    backend.requests.push({
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      connectionId: req.socket.testConnectionId,
    });
    const h = handler || ((q, s) => defaultHandler(name, q, s));
    Promise.resolve(h(req, res, backend)).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`test backend error: ${err.message}`);
      } else {
        res.destroy();
      }
    });
  });
  backend.port = await listen(server, port);
  return backend;
}

// A raw TCP backend: onConnection(socket, backend) for each accepted connection. Records every
// byte received per connection in backend.received (array of Buffers, one per connection).
export async function startRawBackend(onConnection = () => {}, { port = 0 } = {}) {
  const backend = {
    port: 0,
    connections: 0,
    received: [],
    sockets: new Set(),
    get totalBytes() {
      return backend.received.reduce((n, parts) => n + parts.reduce((m, b) => m + b.length, 0), 0);
    },
    // Concatenated bytes of connection i.
    bytesOf(i) {
      return Buffer.concat(backend.received[i]);
    },
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of backend.sockets) s.destroy();
      });
    },
  };
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    const parts = [];
    backend.received.push(parts);
    backend.connections++;
    backend.sockets.add(sock);
    sock.on('close', () => backend.sockets.delete(sock));
    sock.on('error', () => {});
    sock.on('data', (d) => parts.push(d));
    onConnection(sock, backend);
  });
  backend.server = server;
  backend.port = await listen(server, port);
  return backend;
}

// Reads from `sock` until a full request head ("\r\n\r\n") has arrived; resolves the head text.
export function readHead(sock, { timeoutMs = 5000 } = {}) {
  return withDeadline(
    new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onData = (d) => {
        buf = Buffer.concat([buf, d]);
        const i = buf.indexOf('\r\n\r\n');
        if (i >= 0) {
          sock.removeListener('data', onData);
          resolve({ head: buf.subarray(0, i + 4).toString('latin1'), rest: buf.subarray(i + 4) });
        }
      };
      sock.on('data', onData);
      sock.once('close', () => reject(new Error('closed before a request head')));
    }),
    timeoutMs,
    'a request head at the raw backend',
  );
}

const kChildScript = fileURLToPath(new URL('./backend-child.mjs', import.meta.url));

// A node:http backend in its own process (see backend-child.mjs for its routes). Messages it
// sends over IPC are queued; nextMessage(pred) waits for one. kill() sends SIGKILL.
export async function startChildBackend(name = 'child', { timeoutMs = 10000 } = {}) {
  const child = track(fork(kChildScript, [name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const messages = [];
  const waiters = [];
  child.on('message', (m) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const backend = {
    name,
    child,
    pid: child.pid,
    port: 0,
    messages,
    exit: exited(child),
    send(msg) {
      child.send(msg);
    },
    // Resolves the first queued message matching pred (removing it), waiting up to timeoutMs.
    async nextMessage(pred = () => true, ms = 10000, what = 'IPC message from child backend') {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = messages.findIndex(pred);
        if (i >= 0) return messages.splice(i, 1)[0];
        const left = deadline - Date.now();
        if (left <= 0 || child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`no ${what} from ${name} (exit ${child.exitCode}/${child.signalCode})`);
        }
        await withDeadline(new Promise((r) => waiters.push(r)), left, what).catch(() => {});
      }
    },
    async kill() {
      child.kill('SIGKILL');
      await backend.exit;
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await backend.exit;
      }
    },
  };
  const hello = await backend.nextMessage((m) => m.event === 'listening', timeoutMs, 'listening message');
  backend.port = hello.port;
  return backend;
}

// node:http client request with a deadline. Resolves { status, headers, rawHeaders, body, socket
// info }. agent defaults to false (a new connection per request).
export function request(port, { method = 'GET', path = '/', headers = {}, body, agent = false, localAddress, timeoutMs = 10000, host = '127.0.0.1' } = {}) {
  return withDeadline(
    new Promise((resolve, reject) => {
      const req = http.request({ host, port, method, path, headers, agent, localAddress }, (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(parts),
            text: Buffer.concat(parts).toString('utf8'),
            localPort: res.socket ? res.socket.localPort : undefined,
          }),
        );
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
      });
      req.on('error', reject);
      if (body !== undefined) req.end(body);
      else req.end();
    }),
    timeoutMs,
    `${method} ${path} on 127.0.0.1:${port}`,
  );
}

// Parses Prometheus text exposition: { samples: [{ name, labels, value }], types: { family: type } }.
export function parseMetrics(text) {
  const samples = [];
  const types = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , family, type] = line.split(/\s+/);
      types[family] = type;
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;
      let lm;
      while ((lm = re.exec(m[3])) !== null) labels[lm[1]] = lm[2];
    }
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return { samples, types };
}

export async function scrape(adminPort) {
  const r = await request(adminPort, { path: '/metrics' });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.text.slice(0, 200)}`);
  return parseMetrics(r.text);
}

// Sum of the samples named `name` whose labels match `filter` (object of label: value or
// predicate).
export function metricSum(parsed, name, filter = {}) {
  let sum = 0;
  for (const s of parsed.samples) {
    if (s.name !== name) continue;
    let ok = true;
    for (const [k, want] of Object.entries(filter)) {
      const v = s.labels[k];
      if (typeof want === 'function' ? !want(v) : v !== want) ok = false;
    }
    if (ok) sum += s.value;
  }
  return sum;
}

// The samples of `name` that have some label whose value contains `needle` (e.g. a backend's
// "127.0.0.1:PORT"), whatever that label is called.
export function samplesMentioning(parsed, name, needle) {
  return parsed.samples.filter((s) => s.name === name && Object.values(s.labels).some((v) => v.includes(needle)));
}

// Parses request heads (and Content-Length or chunked bodies) off `sock` as they arrive, calling
// onRequest({ method, target, version, headers: [[n, v]], get(name), body, raw }) for each in
// order. Resolves when the socket closes. Throws nothing: a parse failure destroys the socket.
export function serveRequests(sock, onRequest) {
  let buf = Buffer.alloc(0);
  let busy = Promise.resolve();
  const parseOne = () => {
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return null;
    const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
    const [method, target, version] = lines.shift().split(' ');
    const headers = lines.map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1).trim()];
    });
    const get = (n) => (headers.find(([k]) => k.toLowerCase() === n.toLowerCase()) || [])[1];
    let pos = headEnd + 4;
    let body = Buffer.alloc(0);
    if (get('transfer-encoding')) {
      const parts = [];
      for (;;) {
        const le = buf.indexOf('\r\n', pos);
        if (le < 0) return null;
        const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
        pos = le + 2;
        if (size === 0) {
          const te = buf.indexOf('\r\n\r\n', pos - 2);
          if (te < 0) return null;
          pos = te + 4;
          break;
        }
        if (buf.length < pos + size + 2) return null;
        parts.push(buf.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (get('content-length')) {
      const n = Number(get('content-length'));
      if (buf.length < pos + n) return null;
      body = buf.subarray(pos, pos + n);
      pos += n;
    }
    const raw = buf.subarray(0, pos);
    buf = buf.subarray(pos);
    return { method, target, version, headers, get, body, raw };
  };
  return new Promise((resolve) => {
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (let i = 0; i < 1000; i++) {
        const req = parseOne();
        if (!req) break;
        busy = busy.then(() => onRequest(req)).catch(() => sock.destroy());
      }
    });
    sock.on('close', resolve);
    sock.on('error', () => {});
  });
}

// A raw backend that answers each request with whatever respond(req) returns (string or
// Buffer written as is; null writes nothing). Requests are kept in backend.requests.
export async function startScriptedBackend(respond, opts) {
  const requests = [];
  const b = await startRawBackend((sock) => {
    serveRequests(sock, async (req) => {
      requests.push(req);
      const out = await respond(req, sock);
      if (out !== null && out !== undefined && !sock.destroyed) sock.write(out);
    });
  }, opts);
  b.requests = requests;
  return b;
}
