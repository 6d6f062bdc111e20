// A raw HTTP/1.1 client for tests that need exact bytes on the wire: it sends what it is given,
// byte for byte, and parses responses strictly (CRLF only) so framing mistakes show up.
//
//   const c = await RawClient.connect(sc.port);
//   c.write('GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n');
//   const r1 = await c.readResponse();                    // { status, headers, body, ... }
//   const r2 = await c.readResponse({ method: 'HEAD' });
//   const { extra } = await c.waitClosed(2000);           // throws if still open at the deadline
//
//   const { data, closed } = await rawExchange(port, bytes, { timeoutMs: 3000 });

import net from 'node:net';
import { withDeadline } from './proc.mjs';

export class ProtocolError extends Error {}

// One parsed response. `headers` keeps order and case: [[name, value], ...].
export class Response {
  constructor(fields) {
    Object.assign(this, fields);
  }

  // First value of header `name` (case-insensitive), or undefined.
  get(name) {
    const lower = name.toLowerCase();
    const h = this.headers.find(([n]) => n.toLowerCase() === lower);
    return h ? h[1] : undefined;
  }

  // Every value of header `name`, in order.
  getAll(name) {
    const lower = name.toLowerCase();
    return this.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  }

  has(name) {
    return this.get(name) !== undefined;
  }

  text() {
    return this.body.toString('utf8');
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');

function parseHeaderLines(lines, where) {
  const headers = [];
  for (const line of lines) {
    if (line.includes('\r') || line.includes('\n')) throw new ProtocolError(`bare CR/LF in ${where}: ${JSON.stringify(line)}`);
    if (/^[ \t]/.test(line)) throw new ProtocolError(`obs-fold in ${where}: ${JSON.stringify(line)}`);
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ProtocolError(`bad header line in ${where}: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new ProtocolError(`bad header name in ${where}: ${JSON.stringify(name)}`);
    headers.push([name, line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')]);
  }
  return headers;
}

// Parses one response starting at `start` in `buf`. Returns null when more bytes are needed.
// `closed` says the peer has closed, which completes a read-until-close body. `method` is the
// request's method (HEAD responses have no body).
export function parseResponseAt(buf, start, { method = 'GET', closed = false } = {}) {
  const headEnd = buf.indexOf(CRLF2, start);
  if (headEnd < 0) return null;
  const headText = buf.subarray(start, headEnd).toString('latin1');
  const lines = headText.split('\r\n');
  const statusLine = lines.shift();
  const m = /^HTTP\/1\.([01]) (\d{3}) ?([^\r\n]*)$/.exec(statusLine);
  if (!m) throw new ProtocolError(`bad status line: ${JSON.stringify(statusLine)} in ${JSON.stringify(headText.slice(0, 200))}`);
  const status = Number(m[2]);
  const headers = parseHeaderLines(lines, 'response head');
  const res = new Response({
    version: `1.${m[1]}`,
    status,
    reason: m[3],
    headers,
    head: buf.subarray(start, headEnd + 4),
    body: Buffer.alloc(0),
    trailers: [],
    framing: 'none',
    end: headEnd + 4,
  });
  const lower = (n) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  let pos = headEnd + 4;
  if ((status >= 100 && status < 200) || status === 204 || status === 304 || method === 'HEAD') {
    return res;
  }
  const te = lower('transfer-encoding');
  const cl = lower('content-length');
  if (te.length > 0 && cl.length > 0) throw new ProtocolError('response has both Content-Length and Transfer-Encoding');
  if (te.length > 0) {
    const codings = te.join(',').split(',').map((s) => s.trim().toLowerCase());
    if (codings[codings.length - 1] !== 'chunked') {
      res.framing = 'close';
    } else {
      res.framing = 'chunked';
      const parts = [];
      for (let guard = 0; ; guard++) {
        if (guard > 1e7) throw new ProtocolError('too many chunks');
        const lineEnd = buf.indexOf('\r\n', pos);
        if (lineEnd < 0) return null;
        const sizeLine = buf.subarray(pos, lineEnd).toString('latin1');
        const sm = /^([0-9A-Fa-f]+)(;.*)?$/.exec(sizeLine);
        if (!sm) throw new ProtocolError(`bad chunk size line: ${JSON.stringify(sizeLine)}`);
        const size = parseInt(sm[1], 16);
        pos = lineEnd + 2;
        if (size === 0) {
          const trailerLines = [];
          for (;;) {
            const tEnd = buf.indexOf('\r\n', pos);
            if (tEnd < 0) return null;
            const line = buf.subarray(pos, tEnd).toString('latin1');
            pos = tEnd + 2;
            if (line === '') break;
            trailerLines.push(line);
          }
          res.trailers = parseHeaderLines(trailerLines, 'trailer');
          break;
        }
        if (buf.length < pos + size + 2) return null;
        parts.push(buf.subarray(pos, pos + size));
        if (buf[pos + size] !== 13 || buf[pos + size + 1] !== 10) throw new ProtocolError('chunk data not followed by CRLF');
        pos += size + 2;
      }
      res.body = Buffer.concat(parts);
      res.end = pos;
      return res;
    }
  } else if (cl.length > 0) {
    if (!cl.every((v) => v === cl[0]) || !/^\d+$/.test(cl[0])) throw new ProtocolError(`bad Content-Length: ${JSON.stringify(cl)}`);
    const n = Number(cl[0]);
    res.framing = 'length';
    if (buf.length < pos + n) return null;
    res.body = buf.subarray(pos, pos + n);
    res.end = pos + n;
    return res;
  } else {
    res.framing = 'close';
  }
  // Read until close.
  if (!closed) return null;
  res.body = buf.subarray(pos);
  res.end = buf.length;
  return res;
}

// Parses every complete response in `buf` (all to requests of `method`) and returns
// { responses, rest } where rest are the bytes that did not make a complete response.
export function parseAllResponses(buf, { method = 'GET', closed = true } = {}) {
  const responses = [];
  let pos = 0;
  for (let i = 0; i < 10000 && pos < buf.length; i++) {
    const r = parseResponseAt(buf, pos, { method, closed });
    if (!r) break;
    responses.push(r);
    pos = r.end;
  }
  return { responses, rest: buf.subarray(pos) };
}

export class RawClient {
  // Connects to 127.0.0.1:`port` (or `host`), optionally from `localAddress` (any 127.x.y.z).
  static async connect(port, { host = '127.0.0.1', localAddress, timeoutMs = 5000 } = {}) {
    const sock = net.connect({ port, host, localAddress, allowHalfOpen: true });
    const client = new RawClient(sock);
    await withDeadline(
      new Promise((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      }),
      timeoutMs,
      `TCP connect to ${host}:${port}`,
    );
    return client;
  }

  constructor(sock) {
    this.sock = sock;
    this.chunks = [];
    this.buf = Buffer.alloc(0);
    this.pos = 0; // bytes already consumed by readResponse
    this.closed = false; // the peer closed (FIN or RST) or the socket errored
    this.error = null;
    this.closedAt = null;
    this.waiters = [];
    sock.on('data', (d) => {
      this.chunks.push(d);
      this._notify();
    });
    sock.on('end', () => {
      this._markClosed();
    });
    sock.on('error', (err) => {
      this.error = err;
      this._markClosed();
    });
    sock.on('close', () => this._markClosed());
  }

  _markClosed() {
    if (!this.closed) {
      this.closed = true;
      this.closedAt = Date.now();
    }
    this._notify();
  }

  _notify() {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  _data() {
    if (this.chunks.length) {
      this.buf = Buffer.concat([this.buf, ...this.chunks]);
      this.chunks = [];
    }
    return this.buf;
  }

  // Everything received so far (including bytes already parsed).
  get received() {
    return this._data();
  }

  // Bytes received but not yet consumed by readResponse.
  get unread() {
    return this._data().subarray(this.pos);
  }

  // Waits for the next data/close event or the deadline (then rejects).
  _next(deadline, what) {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(`timed out: ${what}`));
    return withDeadline(new Promise((resolve) => this.waiters.push(resolve)), left, what);
  }

  // Strings are sent as latin1 (one byte per char), so tests control every byte.
  write(data) {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    return new Promise((resolve, reject) => {
      this.sock.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  // Half-closes our side (FIN), keeps reading.
  end() {
    this.sock.end();
  }

  destroy() {
    this.sock.destroy();
  }

  // Reads the next complete response (a 1xx is a response of its own). Throws on a protocol
  // error, on close before a complete response (message includes what arrived), or on timeout.
  async readResponse({ method = 'GET', timeoutMs = 5000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const buf = this._data();
      const r = parseResponseAt(buf, this.pos, { method, closed: this.closed });
      if (r) {
        this.pos = r.end;
        return r;
      }
      if (this.closed) {
        const got = buf.subarray(this.pos);
        const e = new Error(
          `connection closed before a complete response (${got.length} bytes: ` +
            `${JSON.stringify(got.subarray(0, 300).toString('latin1'))}` +
            `${this.error ? `; socket error ${this.error.code || this.error.message}` : ''})`,
        );
        e.partial = got;
        e.closedBeforeResponse = true;
        throw e;
      }
      await this._next(deadline, `a complete response within ${timeoutMs} ms; have ${JSON.stringify(buf.subarray(this.pos, this.pos + 300).toString('latin1'))}`);
    }
  }

  // Waits until `predicate(unreadBytes)` is true, or the peer closes, or the deadline (throws).
  async waitUntil(predicate, { timeoutMs = 5000, what = 'condition on received bytes' } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (predicate(this.unread)) return true;
      if (this.closed) return false;
      await this._next(deadline, `${what}; have ${JSON.stringify(this.unread.subarray(0, 300).toString('latin1'))}`);
    }
  }

  // Waits until the peer closes. Resolves { extra, ms } where extra are the unread bytes that
  // came before the close and ms the time waited. Throws if still open after `timeoutMs`.
  async waitClosed(timeoutMs = 5000) {
    const t0 = Date.now();
    const deadline = t0 + timeoutMs;
    while (!this.closed) {
      await this._next(deadline, `the peer to close the connection within ${timeoutMs} ms; unread: ${JSON.stringify(this.unread.subarray(0, 300).toString('latin1'))}`);
    }
    return { extra: this.unread, ms: this.closedAt - t0, error: this.error };
  }
}

// Connects, writes `bytes` (string or Buffer), optionally half-closes, and collects everything
// until the peer closes or `timeoutMs` passes. Resolves { data, closed, ms, error }.
export async function rawExchange(port, bytes, { timeoutMs = 5000, halfClose = false, localAddress } = {}) {
  const c = await RawClient.connect(port, { localAddress });
  const t0 = Date.now();
  try {
    await c.write(bytes);
  } catch {
    // the peer may have closed already; what it sent is still read below
  }
  if (halfClose) c.end();
  try {
    await c.waitClosed(timeoutMs);
  } catch {
    // deadline: report what we have, closed: false
  }
  const out = { data: c.received, closed: c.closed, ms: Date.now() - t0, error: c.error };
  c.destroy();
  return out;
}

// A minimal request builder: headers is [[name, value], ...] or an object; body a string/Buffer.
export function buildRequest(method, target, headers = {}, body) {
  const list = Array.isArray(headers) ? headers : Object.entries(headers);
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [n, v] of list) head += `${n}: ${v}\r\n`;
  head += '\r\n';
  return body === undefined ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}
