// The command-line contract of drover-sidecar (docs/sidecar-cli.md): --help, bad flags and bad
// values, the start-up lines, flag spelling, and exit on SIGTERM/SIGINT.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, runSidecar } from './lib/sidecar.mjs';
import { scope, backendsFlag } from './lib/scope.mjs';
import { request } from './lib/backends.mjs';
import { waitReady, waitReadyz } from './lib/admin.mjs';
import { withDeadline, waitFor } from './lib/proc.mjs';

// Flag names from the table in docs/sidecar-cli.md, so the test follows the doc.
function documentedFlags() {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/sidecar-cli.md'), 'utf8');
  const flags = [];
  for (const row of doc.matchAll(/^\|\s*(`--[^|]*)\|/gm)) {
    for (const m of row[1].matchAll(/`--([a-z0-9-]+)`/g)) flags.push(m[1]);
  }
  assert.ok(flags.length >= 10, `expected the flag table in docs/sidecar-cli.md, found ${flags}`);
  return flags;
}

function nonEmptyLines(text) {
  return text.split('\n').filter((l) => l.trim() !== '');
}

// Accepts the dashed or the underscored spelling of a flag name in a message.
function namesFlag(text, flag) {
  return text.includes(flag) || text.includes(flag.replace(/-/g, '_'));
}

// --help succeeds and documents every flag of the user doc.
test('--help exits 0 and mentions every documented flag', async () => {
  const r = await runSidecar(['--help']);
  assert.equal(r.code, 0, `--help exit code; stderr: ${r.stderr.slice(0, 500)}`);
  const out = r.stdout + r.stderr;
  const missing = documentedFlags().filter((f) => !namesFlag(out, `--${f}`) && !new RegExp(`\\b${f.replace(/-/g, '[-_]')}\\b`).test(out));
  assert.deepEqual(missing, [], `flags missing from --help output:\n${out.slice(0, 3000)}`);
});

const L = '--listen=127.0.0.1:0';
const B = '--backends=127.0.0.1:1';
const kBadInvocations = [
  { name: 'unknown flag', args: [L, B, '--no-such-flag=1'], flag: 'no-such-flag' },
  // The space form's value is the flag's even when it starts with '-': the error names the flag.
  { name: '--idle-timeout -1s', args: [L, B, '--idle-timeout', '-1s'], flag: 'idle-timeout' },
  { name: '--balance=nope', args: [L, B, '--balance=nope'], flag: 'balance' },
  { name: '--listen=bogus', args: [B, '--listen=bogus'], flag: 'listen' },
  { name: '--listen port out of range', args: [B, '--listen=127.0.0.1:70000'], flag: 'listen' },
  { name: '--mode=udp', args: [L, B, '--mode=udp'], flag: 'mode' },
  { name: '--backends=nohost', args: [L, '--backends=nohost'], flag: 'backends' },
  { name: 'missing --backends', args: [L], flag: 'backends' },
  { name: '--client-header-timeout=soon', args: [L, B, '--client-header-timeout=soon'], flag: 'client-header-timeout' },
  { name: '--max-connections=lots', args: [L, B, '--max-connections=lots'], flag: 'max-connections' },
  { name: '--threads=-1', args: [L, B, '--threads=-1'], flag: 'threads' },
];

// Every bad flag or value exits non-zero at start with one stderr line that names the flag.
test('bad flags and values exit non-zero with one line naming the flag', async (t) => {
  for (const c of kBadInvocations) {
    await t.test(c.name, async () => {
      const r = await runSidecar(['--admin=', ...c.args]);
      assert.notEqual(r.code, 0, `exit code for ${c.args.join(' ')}; stderr: ${r.stderr}`);
      assert.equal(r.signal, null, `killed by a signal for ${c.args.join(' ')}; stderr: ${r.stderr}`);
      const lines = nonEmptyLines(r.stderr);
      assert.equal(lines.length, 1, `expected exactly one stderr line, got ${lines.length}:\n${r.stderr}`);
      assert.ok(namesFlag(lines[0], c.flag), `stderr line does not name "${c.flag}": ${lines[0]}`);
      assert.ok(!/listening on/.test(r.stderr), 'must not start listening');
    });
  }
});

// Port 0 picks a free port; the start-up lines report the real ports, the mode and the threads.
test('start-up lines report real ports, mode and thread count', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--threads=2']);
  assert.notEqual(sc.port, 0);
  assert.notEqual(sc.adminPort, 0);
  assert.equal(sc.mode, 'http');
  assert.equal(sc.threads, 2);
  // Exactly the documented form (docs/sidecar-cli.md), one line per listener.
  assert.match(sc.stderr, new RegExp(`^drover-sidecar: listening on 127\\.0\\.0\\.1:${sc.port} \\(http, 2 threads\\)$`, 'm'), `start-up lines:\n${sc.stderr}`);
  assert.match(sc.stderr, new RegExp(`^drover-sidecar: admin on 127\\.0\\.0\\.1:${sc.adminPort}$`, 'm'), `start-up lines:\n${sc.stderr}`);
  const r = await request(sc.port, { path: '/x' });
  assert.equal(r.status, 200);
  const h = await request(sc.adminPort, { path: '/healthz' });
  assert.equal(h.status, 200);

  const tcp = await s.sidecar([backendsFlag(b), '--mode=tcp']);
  assert.equal(tcp.mode, 'tcp');
  assert.equal(tcp.threads, 1);
});

// Underscored flag names are accepted like dashed ones.
test('flag names take underscores as well as dashes', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([`--backends=127.0.0.1:${b.port}`, '--max_head_bytes=4096', '--client_header_timeout=5s', '--idle_timeout=5s']);
  const r = await request(sc.port, { path: '/underscore' });
  assert.equal(r.status, 200);
  // The underscored limit is in force: a 5000-byte header exceeds 4096.
  const big = await request(sc.port, { path: '/big', headers: { 'X-Big': 'a'.repeat(5000) } });
  assert.equal(big.status, 431);
});

// "--flag value" works as "--flag=value", also for a value that starts with '-'.
test('flags take their value as the next argument', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar(['--backends', `127.0.0.1:${b.port}`, '--member-id', '-odd-name', '--access-log', 'json']);
  assert.equal((await request(sc.port, { path: '/space-form' })).status, 200);
  const line = await waitFor(() => sc.stdout.split('\n').find((l) => l.includes('/space-form')), { what: 'the access log line' });
  assert.equal(JSON.parse(line).member, '-odd-name', line);
});

// --admin= (empty) disables the admin listener: no admin line, the proxy still serves.
test('empty --admin disables the admin listener', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--admin=']);
  assert.equal(sc.adminPort, null);
  const r = await request(sc.port, { path: '/' });
  assert.equal(r.status, 200);
  assert.ok(!/admin on/.test(sc.stderr), `unexpected admin line: ${sc.stderr}`);
});

// SIGINT: exit 0 within 2 s when there is nothing to drain for (--drain-delay=0s), even with an
// idle keep-alive client open.
test('SIGINT exits 0 promptly with --drain-delay=0s', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--idle-timeout=60s', '--drain-delay=0s']);
  const c = await s.connect(sc.port);
  await c.write('GET /before-signal HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  const stop = await sc.stop('SIGINT', 5000);
  assert.equal(stop.killed, false, `did not exit within 5 s of SIGINT; stderr:\n${sc.tail()}`);
  assert.equal(stop.signal, null, `died by signal ${stop.signal} instead of exiting`);
  assert.equal(stop.code, 0, `exit code after SIGINT; stderr:\n${sc.tail()}`);
  assert.ok(stop.ms < 2000, `took ${stop.ms} ms to exit after SIGINT`);
  await c.waitClosed(2000);
});

// SIGTERM: exit 0 promptly when there is nothing to drain for (--drain-delay=0s), even with an
// idle keep-alive client open.
test('SIGTERM exits 0 promptly with --drain-delay=0s', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--idle-timeout=60s', '--drain-delay=0s']);
  const c = await s.connect(sc.port);
  await c.write('GET /before-signal HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  const stop = await sc.stop('SIGTERM', 5000);
  assert.equal(stop.killed, false, `did not exit within 5 s of SIGTERM; stderr:\n${sc.tail()}`);
  assert.equal(stop.signal, null, `died by signal ${stop.signal} instead of exiting`);
  assert.equal(stop.code, 0, `exit code after SIGTERM; stderr:\n${sc.tail()}`);
  assert.ok(stop.ms < 2000, `took ${stop.ms} ms to exit after SIGTERM`);
  await c.waitClosed(2000);
});

// SIGTERM drains: /readyz turns 503 at once while requests are still served for
// --drain-delay=1s, then the process exits 0 (not before the delay, and within 2 s after it).
test('SIGTERM drains for --drain-delay: /readyz 503, still serving, then exit 0', { timeout: 20000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--drain-delay=1s']);
  await waitReady(sc);
  const t0 = Date.now();
  sc.stopping = true;
  sc.child.kill('SIGTERM');
  await waitReadyz(sc, 503, 900);
  const r = await request(sc.port, { path: '/during-drain' });
  assert.equal(r.status, 200, 'a request during the drain is served');
  const { code, signal } = await withDeadline(sc.exit, 8000, 'exit after the drain');
  const ms = Date.now() - t0;
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.ok(ms >= 900 && ms < 3000, `exit ${ms} ms after SIGTERM with --drain-delay=1s`);
});

// A listen address already in use is a start-up error naming --listen, not a hang.
test('--listen on a port in use exits non-zero naming the flag', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const r = await runSidecar([backendsFlag(b), `--listen=127.0.0.1:${b.port}`, '--admin=']);
  assert.notEqual(r.code, 0);
  const lines = nonEmptyLines(r.stderr);
  assert.equal(lines.length, 1, `expected one stderr line:\n${r.stderr}`);
  assert.ok(namesFlag(lines[0], 'listen') || lines[0].includes(String(b.port)), `line names neither --listen nor the port: ${lines[0]}`);
});

