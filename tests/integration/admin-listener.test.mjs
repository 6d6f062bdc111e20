// The admin listener as a server (docs/sidecar-cli.md, "Admin listener"): many connections at
// once, none holding up a probe; --admin-head-timeout; keep-alive; and the bearer token that
// POST /reload needs (--admin-token-file), or 403 on a non-loopback listener without one.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scope, backendsFlag } from './lib/scope.mjs';
import { request } from './lib/backends.mjs';
import { runSidecar } from './lib/sidecar.mjs';
import { waitFor } from './lib/proc.mjs';
import { supervisorScope, appCmd } from './supervisor/lib/supervisor.mjs';

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-admin-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeFileAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

// A probe's own deadline: far above what an answer takes on a loaded machine, far below what
// the old one-at-a-time listener needed behind 25 held connections (2 s each: 50 s).
const kProbe = { timeoutMs: 5000 };

// 20 silent connections and 5 that trickle a head byte by byte do not hold up /healthz or
// /metrics, which answer while all 25 stay open.
test('/healthz and /metrics answer while 20 idle and 5 slowloris admin connections are open', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--admin-head-timeout=30s']);
  const held = [];
  for (let i = 0; i < 20; i++) held.push(await s.connect(sc.adminPort));
  const slow = [];
  for (let i = 0; i < 5; i++) {
    const c = await s.connect(sc.adminPort);
    await c.write('GET /healthz HTTP/1.1\r\nHo');
    slow.push(c);
  }
  const timer = setInterval(() => slow.forEach((c) => c.sock.write('x')), 200);
  t.after(() => clearInterval(timer));
  for (let round = 0; round < 3; round++) {
    const h = await request(sc.adminPort, { path: '/healthz', ...kProbe });
    assert.equal(h.status, 200);
    const m = await request(sc.adminPort, { path: '/metrics', ...kProbe });
    assert.equal(m.status, 200);
    assert.match(m.text, /drover_http_requests_total/);
  }
  assert.ok([...held, ...slow].every((c) => !c.closed), 'the held connections are still open');
});

// A connection that sends half a head gets 408 and is closed after --admin-head-timeout; one
// that sends nothing is closed too.
test('--admin-head-timeout closes silent and slow admin connections', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--admin-head-timeout=300ms']);
  const silent = await s.connect(sc.adminPort);
  const partial = await s.connect(sc.adminPort);
  await partial.write('GET /healthz HTTP/1.1\r\n');
  await partial.waitClosed(5000);
  assert.match(partial.received.toString('latin1'), /^HTTP\/1\.1 408 /);
  await silent.waitClosed(5000);
  assert.equal((await request(sc.adminPort, { path: '/healthz', ...kProbe })).status, 200);
});

// One connection carries several requests, pipelined or one after another.
test('admin connections are kept alive between requests', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  const c = await s.connect(sc.adminPort);
  await c.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  assert.ok([200, 503].includes((await c.readResponse()).status));
  await c.write('HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n');
  const head = await c.readResponse({ method: 'HEAD' });
  assert.equal(head.status, 200);
  await c.write('GET /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  const last = await c.readResponse();
  assert.equal(last.status, 200);
  assert.equal(last.get('Connection'), 'close');
  await c.waitClosed(2000);
});

// Past the cap on admin connections, a new one closes the one that has waited longest: a probe
// always gets in.
test('a probe gets in past the cap on admin connections', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--admin-head-timeout=60s']);
  const held = [];
  for (let i = 0; i < 80; i++) held.push(await s.connect(sc.adminPort));
  assert.equal((await request(sc.adminPort, { path: '/healthz', ...kProbe })).status, 200);
  await waitFor(() => held[0].closed, { timeoutMs: 3000, what: 'the oldest admin connection closed' });
  assert.ok(!held[held.length - 1].closed, 'the newest held connection stays open');
});

// Bound to a non-loopback address without --admin-token-file: POST /reload is refused (403)
// and a start-up warning says so; reads still work.
test('POST /reload on a non-loopback admin listener without a token file is 403', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--admin=0.0.0.0:0']);
  assert.match(sc.stderr, /warning: --admin 0\.0\.0\.0:\d+ is not a loopback address and --admin-token-file is not set/);
  const r = await request(sc.adminPort, { method: 'POST', path: '/reload', ...kProbe });
  assert.equal(r.status, 403, r.text);
  assert.equal((await request(sc.adminPort, { path: '/healthz', ...kProbe })).status, 200);
});

// The same under the controller (the chart's set-up) is expected, not a mistake: the start-up
// line is a note naming where restarts come from, and POST /reload is still 403.
test('under --controller the non-loopback admin line is a note, and POST /reload is still 403', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--admin=0.0.0.0:0', '--controller=127.0.0.1:1', '--member-id=pod-0', '--pod-namespace=shop']);
  assert.match(sc.stderr, /note: --admin 0\.0\.0\.0:\d+ is not a loopback address .*droverctl restart/);
  assert.doesNotMatch(sc.stderr, /warning: --admin/);
  const r = await request(sc.adminPort, { method: 'POST', path: '/reload', ...kProbe });
  assert.equal(r.status, 403, r.text);
});

// On a loopback listener without a token file POST /reload is served as before (no workers to
// reload here: 409, not 401 or 403).
test('POST /reload on a loopback admin listener needs no token', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  assert.doesNotMatch(sc.stderr, /warning: --admin/);
  const r = await request(sc.adminPort, { method: 'POST', path: '/reload', ...kProbe });
  assert.equal(r.status, 409, r.text);
});

// With --admin-token-file: no token or a wrong one is 401 with WWW-Authenticate: Bearer; the
// right one starts a reload (202); a rewritten file takes over from the old token.
test('POST /reload with --admin-token-file: 401 without the token, 202 with it, file rotation honoured', { timeout: 60000 }, async (t) => {
  const dir = tempDir(t);
  const tokenFile = path.join(dir, 'token');
  writeFileAtomic(tokenFile, 'first-secret-token\n');
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 1, cmd: appCmd(), flags: ['--admin=0.0.0.0:0', `--admin-token-file=${tokenFile}`] });
  await sc.waitAllReady();
  assert.doesNotMatch(sc.stderr, /warning: --admin/);
  const reload = (token) =>
    request(sc.adminPort, { method: 'POST', path: '/reload', headers: token ? { Authorization: `Bearer ${token}` } : {}, ...kProbe });

  const none = await reload(null);
  assert.equal(none.status, 401, none.text);
  assert.match(none.headers['www-authenticate'] || '', /^Bearer/);
  const wrong = await reload('not-the-token');
  assert.equal(wrong.status, 401, wrong.text);
  assert.equal((await reload('first-secret-tokenX')).status, 401);
  assert.equal((await request(sc.adminPort, { path: '/healthz', ...kProbe })).status, 200, 'reads need no token');

  const right = await reload('first-secret-token');
  assert.equal(right.status, 202, right.text);
  await waitFor(async () => (await sc.status()).reload.running === false, { timeoutMs: 20000, what: 'the reload to finish' });

  writeFileAtomic(tokenFile, 'second-secret-token\n');
  let rotated;
  await waitFor(
    async () => {
      rotated = await reload('second-secret-token');
      return rotated.status !== 401;
    },
    { timeoutMs: 5000, intervalMs: 200, what: 'the rewritten token file to take effect' },
  );
  assert.equal(rotated.status, 202, rotated.text);
  assert.equal((await reload('first-secret-token')).status, 401, 'the old token no longer works');
});

// A token file that cannot be read, or holds no token, is a bad flag: exit 2, one line naming it.
test('an unreadable or empty --admin-token-file exits 2 naming the flag', async (t) => {
  const dir = tempDir(t);
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '\n');
  for (const file of [path.join(dir, 'missing'), empty]) {
    const r = await runSidecar(['--listen=127.0.0.1:0', '--admin=127.0.0.1:0', '--backends=127.0.0.1:1', `--admin-token-file=${file}`]);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/backend .* is down/.test(l));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^drover-sidecar: --admin-token-file: /);
  }
});
