// The peer listener and the member table, with proxy-only sidecars (two in-process backends each,
// named a0/a1 for pod-a, b0/b1 for pod-b): a session of another member is forwarded exactly
// once, only the peer listener marks a request as forwarded (no header does), a member removed
// from the --peers file has its sessions re-homed, an unreachable peer's sessions are served
// here, a bad file keeps the last good table, and hash keys map alike on every member.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import crypto from 'node:crypto';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { freePort } from '../lib/backends.mjs';
import { waitFor } from '../lib/proc.mjs';
import { waitBackendsUp } from '../lib/admin.mjs';
import {
  kCookie,
  get,
  dropCookie,
  stickySetCookies,
  stickyCounts,
  diffCounts,
  errorCount,
  namedBackends,
  peersText,
  writeFileAtomic,
  tempDir,
  tableLoads,
  decodeCookieValue,
  histogram,
} from './lib/sticky.mjs';

// Starts members `ids` (2 backends each), all with one --peers file listing them all.
async function startMembers(t, ids = ['pod-a', 'pod-b'], extra = []) {
  const s = scope(t);
  const dir = tempDir(t);
  const peersFile = path.join(dir, 'peers');
  const members = {};
  for (const id of ids) {
    const letter = id.slice(-1);
    members[id] = { id, peerPort: await freePort(), slots: 2, backends: await namedBackends(s, [`${letter}0`, `${letter}1`]) };
  }
  writeFileAtomic(peersFile, peersText(Object.values(members)));
  for (const m of Object.values(members)) {
    m.sc = await s.sidecar([backendsFlag(...m.backends), `--member-id=${m.id}`, `--peer-listen=127.0.0.1:${m.peerPort}`, `--peers=${peersFile}`, ...extra]);
    // Printed after the listening line that startSidecar waits for.
    const line = new RegExp(`peers on 127\\.0\\.0\\.1:${m.peerPort} \\(member ${m.id}\\)`);
    await waitFor(() => line.test(m.sc.stderr), { timeoutMs: 5000, what: `"${line.source}" from ${m.id}` });
  }
  return { s, members, peersFile };
}

const withCookie = (value, headers = {}) => ({ headers: { ...headers, cookie: `theme=dark; ${kCookie}=${value}` } });

// A session cookie issued by member `m` (a request to its public listener), and the backend it
// names.
async function sessionOf(m) {
  const r = await get(m.sc.port);
  const value = dropCookie(r);
  assert.ok(value, `${m.id} issued a cookie`);
  return { value, backend: r.backend };
}

async function requestCount(m) {
  return m.backends.reduce((n, b) => n + b.stats.requests, 0);
}

// A request on the peer listener is served there (new cookie), never forwarded again.
test('a request on the peer listener is never forwarded again: served here, new cookie', async (t) => {
  const { members } = await startMembers(t);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessB = await sessionOf(b);
  const aCookie = decodeCookieValue((await sessionOf(a)).value);
  const beforeA = await stickyCounts(a.sc.adminPort);
  const beforeB = await stickyCounts(b.sc.adminPort);
  const bRequests = await requestCount(b);
  const r = await get(a.peerPort, withCookie(sessB.value));
  assert.equal(r.status, 200);
  assert.match(r.backend, /^a[01]$/, 'served by a backend of pod-a');
  const fresh = dropCookie(r);
  assert.ok(fresh, 'pod-a issued a new cookie');
  assert.equal(decodeCookieValue(fresh).member, aCookie.member, 'the new cookie names pod-a');
  assert.deepEqual(r.json.cookieFields, ['theme=dark'], 'the app does not see DROVERID');
  const dA = diffCounts(beforeA, await stickyCounts(a.sc.adminPort));
  assert.deepEqual(dA, { hit: 0, new: 0, remapped: 1, forwarded: 0, invalid: 0, no_key: 0 }, 'pod-a re-homed it');
  assert.deepEqual(diffCounts(beforeB, await stickyCounts(b.sc.adminPort)), { hit: 0, new: 0, remapped: 0, forwarded: 0, invalid: 0, no_key: 0 }, 'pod-b saw nothing');
  assert.equal(await requestCount(b), bRequests, "no request reached pod-b's backends");
});

// No request header makes the public listener treat a request as forwarded: forwarded once.
test('a client cannot make the public listener treat a request as forwarded', async (t) => {
  const { members } = await startMembers(t);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessB = await sessionOf(b);
  const spoofs = [
    {},
    { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'https' },
    { forwarded: 'for=127.0.0.1;by=pod-a;proto=http', via: '1.1 pod-a (drover-sidecar)' },
    { 'x-drover-forwarded': '1', 'x-drover-peer': 'pod-a', 'x-drover-hop': '1', 'x-drover-member': 'pod-b', 'x-drover-from-peer': 'true' },
    { 'x-forwarded-host': `127.0.0.1:${b.peerPort}`, 'x-real-ip': '127.0.0.1', connection: 'x-drover-hop', 'x-drover-hop': '1' },
  ];
  for (const headers of spoofs) {
    const beforeA = await stickyCounts(a.sc.adminPort);
    const beforeB = await stickyCounts(b.sc.adminPort);
    const r = await get(a.sc.port, withCookie(sessB.value, headers));
    const dA = diffCounts(beforeA, await stickyCounts(a.sc.adminPort));
    const dB = diffCounts(beforeB, await stickyCounts(b.sc.adminPort));
    const what = `headers ${JSON.stringify(headers)}`;
    assert.equal(r.status, 200, what);
    assert.equal(r.backend, sessB.backend, `${what}: served by pod-b's ${sessB.backend}`);
    assert.equal(dropCookie(r), undefined, `${what}: no new cookie`);
    assert.deepEqual(dA, { hit: 0, new: 0, remapped: 0, forwarded: 1, invalid: 0, no_key: 0 }, `${what}: pod-a forwarded once`);
    assert.deepEqual(dB, { hit: 1, new: 0, remapped: 0, forwarded: 0, invalid: 0, no_key: 0 }, `${what}: pod-b served it as a hit, forwarded nothing`);
    assert.deepEqual(r.json.cookieFields, ['theme=dark'], `${what}: pod-b's app does not see DROVERID`);
  }
});

// A member removed from the peers file (temp + rename) has its sessions re-homed within seconds.
test('a member removed from the peers file has its sessions re-homed with a new cookie', async (t) => {
  const { members, peersFile } = await startMembers(t);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessB = await sessionOf(b);
  const aMember = decodeCookieValue((await sessionOf(a)).value).member;
  const before = await get(a.sc.port, withCookie(sessB.value));
  assert.equal(before.backend, sessB.backend, 'forwarded to pod-b while it is a member');
  const loads = tableLoads(a.sc);
  const t0 = Date.now();
  writeFileAtomic(peersFile, peersText([a]));
  const moved = await waitFor(
    async () => {
      const r = await get(a.sc.port, withCookie(sessB.value));
      return /^a[01]$/.test(r.backend) ? r : null;
    },
    { timeoutMs: 5000, intervalMs: 50, what: "pod-a to serve pod-b's session itself" },
  );
  const ms = Date.now() - t0;
  const fresh = dropCookie(moved);
  assert.ok(fresh, 're-homed with a new cookie');
  assert.equal(decodeCookieValue(fresh).member, aMember, 'the new cookie names pod-a');
  assert.ok(tableLoads(a.sc) > loads, 'pod-a logged the new member table');
  // The new cookie is a plain hit on pod-a from now on.
  const again = await get(a.sc.port, withCookie(fresh));
  assert.equal(again.backend, moved.backend);
  assert.equal(dropCookie(again), undefined);
  t.diagnostic(`re-homed ${ms} ms after the rename`);
});

// A session of an unreachable peer is served here with a new cookie and counts peer_failed.
test('an unreachable peer: the session is served here and counts peer_failed', async (t) => {
  const { members } = await startMembers(t);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessB = await sessionOf(b);
  await b.sc.stop('SIGINT');
  const failedBefore = await errorCount(a.sc.adminPort, 'peer_failed');
  const r = await get(a.sc.port, withCookie(sessB.value));
  assert.equal(r.status, 200, `served here: ${r.text}`);
  assert.match(r.backend, /^a[01]$/);
  assert.ok(dropCookie(r), 'a new cookie');
  assert.equal((await errorCount(a.sc.adminPort, 'peer_failed')) - failedBefore, 1);
  assert.deepEqual(r.json.cookieFields, ['theme=dark'], 'served here, the app does not see DROVERID');
});

// The cookie that re-homes an unreachable peer's https session here is Secure.
test('an unreachable peer behind a trusted https proxy: the new cookie is Secure', async (t) => {
  const { members } = await startMembers(t, ['pod-a', 'pod-b'], ['--trusted-proxies=127.0.0.1/32']);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const https = { 'x-forwarded-proto': 'https' };
  const first = await get(b.sc.port, { headers: https });
  const cookies = stickySetCookies(first);
  assert.match(cookies[0] ?? '', /; Secure$/, 'pod-b issues Secure cookies for https requests');
  await b.sc.stop('SIGINT');
  const r = await get(a.sc.port, withCookie(dropCookie(first), https));
  assert.equal(r.status, 200);
  assert.match(r.backend, /^a[01]$/);
  const set = stickySetCookies(r);
  assert.equal(set.length, 1, `one new cookie: ${JSON.stringify(set)}`);
  assert.match(set[0], /^DROVERID=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure$/, 'the re-homing cookie of an https request is Secure');
});

// A bad peers file keeps the last good member table; the next good file is applied.
test('a bad peers file keeps the last good member table', async (t) => {
  const { members, peersFile } = await startMembers(t);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessB = await sessionOf(b);
  const errorsBefore = (a.sc.stderr.match(/peers file reload failed/g) || []).length;
  writeFileAtomic(peersFile, `pod-a 127.0.0.1:${a.peerPort} 2\npod-b 127.0.0.1:${b.peerPort} 0\n`);
  await waitFor(() => (a.sc.stderr.match(/peers file reload failed/g) || []).length > errorsBefore, { timeoutMs: 5000, what: 'pod-a to log the bad peers file' });
  const r = await get(a.sc.port, withCookie(sessB.value));
  assert.equal(r.backend, sessB.backend, 'still forwarded to pod-b');
  writeFileAtomic(peersFile, peersText([a]));
  await waitFor(async () => /^a[01]$/.test((await get(a.sc.port, withCookie(sessB.value))).backend), { timeoutMs: 5000, what: 'the next good file to apply' });
});

// In a hash mode every member sends a key to the same backend.
test('--sticky=query:sid: every member sends a key to the same backend', async (t) => {
  const { members } = await startMembers(t, ['pod-a', 'pod-b'], ['--sticky=query:sid']);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const where = new Map();
  for (let k = 0; k < 30; k++) {
    const viaA = await get(a.sc.port, { path: `/?sid=key${k}` });
    const viaB = await get(b.sc.port, { path: `/?sid=key${k}` });
    assert.equal(viaA.backend, viaB.backend, `key${k}: same backend through pod-a and pod-b`);
    where.set(k, viaA.backend);
  }
  const spread = histogram(where.values());
  assert.deepEqual(Object.keys(spread).sort(), ['a0', 'a1', 'b0', 'b1'], `30 keys over all 4 (member, slot) targets: ${JSON.stringify(spread)}`);
  const ca = await stickyCounts(a.sc.adminPort);
  const cb = await stickyCounts(b.sc.adminPort);
  assert.ok(ca.forwarded > 0 && cb.forwarded > 0, `both forwarded: ${JSON.stringify([ca, cb])}`);
  // On the peer listener a key of the other member is served here, not sent back.
  const keyOfB = [...where].find(([, backend]) => backend.startsWith('b'))[0];
  const before = await stickyCounts(b.sc.adminPort);
  const direct = await get(a.peerPort, { path: `/?sid=key${keyOfB}` });
  assert.match(direct.backend, /^a[01]$/, "pod-a's peer listener serves pod-b's key itself");
  assert.deepEqual(diffCounts(before, await stickyCounts(b.sc.adminPort)).forwarded, 0);
});

// An idle refresh by the owner reaches the client through the forwarding member unchanged.
test('an idle refresh by the owner passes through the forwarding member unchanged', async (t) => {
  const { members } = await startMembers(t, ['pod-a', 'pod-b'], ['--cookie-max-idle=4s']);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessB = await sessionOf(b);
  const orig = decodeCookieValue(sessB.value);
  // The refresh is due 1 s (max-idle / 4) after the last use; poll through pod-a until it comes.
  const refreshed = await waitFor(
    async () => {
      const r = await get(a.sc.port, withCookie(sessB.value));
      assert.equal(r.backend, sessB.backend, 'forwarded to the owner');
      return stickySetCookies(r).length ? r : null;
    },
    { timeoutMs: 5000, intervalMs: 100, what: 'a refreshed cookie through pod-a' },
  );
  const set = stickySetCookies(refreshed);
  assert.equal(set.length, 1, `one Set-Cookie: ${JSON.stringify(set)}`);
  const v = decodeCookieValue(dropCookie(refreshed));
  assert.deepEqual([v.member, v.slot, v.issued], [orig.member, orig.slot, orig.issued], 'same owner, slot and issue time');
  assert.ok(v.lastSeen > orig.lastSeen, 'a later last-use time');
});

// One keep-alive connection may mix local and forwarded sessions, sequential and pipelined.
test('one keep-alive connection mixing local and forwarded sessions, sequential and pipelined', async (t) => {
  const { s, members } = await startMembers(t);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessA = await sessionOf(a);
  const sessB = await sessionOf(b);
  const c = await s.connect(a.sc.port);
  const req = (value, n) => `GET /?n=${n} HTTP/1.1\r\nHost: t\r\nCookie: ${kCookie}=${value}\r\n\r\n`;
  const order = [sessA, sessB, sessB, sessA, sessB, sessA, sessA, sessB];
  for (const [n, sess] of order.entries()) {
    c.write(req(sess.value, n));
    const r = await c.readResponse();
    const body = JSON.parse(r.text());
    assert.deepEqual([r.status, body.backend, body.url], [200, sess.backend, `/?n=${n}`], `sequential request ${n}`);
  }
  c.write(order.map((sess, n) => req(sess.value, 100 + n)).join(''));
  for (const [n, sess] of order.entries()) {
    const r = await c.readResponse();
    const body = JSON.parse(r.text());
    assert.deepEqual([r.status, body.backend, body.url], [200, sess.backend, `/?n=${100 + n}`], `pipelined request ${n}`);
  }
});

// https survives the hop: a session the owner re-homes after a forward gets a Secure cookie.
test('https survives the hop: a session re-homed by its owner after forwarding gets a Secure cookie', async (t) => {
  const { members } = await startMembers(t, ['pod-a', 'pod-b'], ['--trusted-proxies=127.0.0.1/32', '--health-interval=200ms']);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const https = { 'x-forwarded-proto': 'https' };
  const first = await get(b.sc.port, { headers: https });
  assert.match(stickySetCookies(first)[0], /; Secure$/);
  const home = b.backends.find((x) => x.name === first.backend);
  await home.stopListening();
  await waitBackendsUp(b.sc, [home.port], { value: 0 });
  const r = await get(a.sc.port, withCookie(dropCookie(first), https));
  assert.equal(r.status, 200);
  assert.match(r.backend, /^b[01]$/, 'still served by pod-b');
  assert.notEqual(r.backend, first.backend);
  const set = stickySetCookies(r);
  assert.equal(set.length, 1, `re-homed by pod-b with a new cookie: ${JSON.stringify(set)}`);
  assert.match(set[0], /; Secure$/, 'the client is on https: the new cookie is Secure');
});

// source-ip: a client lands on the same backend through either member (the hop keeps its address).
test('--sticky=source-ip: a client lands on the same backend through either member', async (t) => {
  const { members } = await startMembers(t, ['pod-a', 'pod-b'], ['--sticky=source-ip']);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const mismatches = [];
  const where = new Map();
  for (let i = 2; i < 26; i++) {
    const ip = `127.0.0.${i}`;
    const viaA = await get(a.sc.port, { localAddress: ip });
    const viaB = await get(b.sc.port, { localAddress: ip });
    where.set(ip, viaB.backend);
    if (viaA.backend !== viaB.backend) mismatches.push(`${ip}: via pod-a ${viaA.backend}, via pod-b ${viaB.backend}`);
  }
  assert.deepEqual(mismatches, [], `clients on different backends depending on the sidecar they reach (placement via pod-b: ${JSON.stringify(histogram(where.values()))})`);
});

// Request bodies cross the hop intact, and are served here intact when the peer is down.
test('request bodies are forwarded intact, and served here intact when the peer is down', async (t) => {
  const { members } = await startMembers(t);
  const a = members['pod-a'];
  const b = members['pod-b'];
  const sessB = await sessionOf(b);
  const body = crypto.randomBytes(200 * 1024);
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  const post = (headers) => get(a.sc.port, { method: 'POST', ...withCookie(sessB.value, headers), body, timeoutMs: 10000 });
  const fixed = await post({ 'content-length': String(body.length) });
  assert.deepEqual([fixed.status, fixed.backend, fixed.json.bodyBytes, fixed.json.bodySha256], [200, sessB.backend, body.length, sha], 'Content-Length body forwarded');
  const chunked = await post({ 'transfer-encoding': 'chunked' });
  assert.deepEqual([chunked.status, chunked.backend, chunked.json.bodyBytes, chunked.json.bodySha256], [200, sessB.backend, body.length, sha], 'chunked body forwarded');
  await b.sc.stop('SIGINT');
  const here = await post({ 'content-length': String(body.length) });
  assert.equal(here.status, 200, `served here: ${here.text.slice(0, 200)}`);
  assert.match(here.backend, /^a[01]$/);
  assert.deepEqual([here.json.bodyBytes, here.json.bodySha256], [body.length, sha], 'body intact when served here');
});
