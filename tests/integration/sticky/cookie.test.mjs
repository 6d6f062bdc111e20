// Cookie mode (--sticky=cookie, the default), through the real binary in proxy-only mode with
// three in-process backends that say who answered and what Cookie fields they received: the
// inserted cookie's form, HAProxy's `insert indirect nocache` semantics, stickiness, bad cookies,
// secret rotation, and the Secure attribute behind a trusted https proxy.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  kCookie,
  get,
  dropCookie,
  stickySetCookies,
  parseSetCookie,
  fieldValues,
  stickyCounts,
  diffCounts,
  namedBackends,
  pool,
  keepAliveAgent,
  decodeCookieValue,
  encodeCookieValue,
  signCookieValue,
  tempDir,
  histogram,
} from './lib/sticky.mjs';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { waitFor } from '../lib/proc.mjs';
import { waitBackendsUp } from '../lib/admin.mjs';

const kSecretA = 'secret-A-0123456789abcdef';
const kSecretB = 'secret-B-fedcba9876543210';
const kSetCookieRe = /^DROVERID=([A-Za-z0-9_-]{19}(?:\.[A-Za-z0-9_-]{14})?); Path=\/; HttpOnly; SameSite=Lax$/;

async function threeBackends(s, flags = []) {
  const bs = await namedBackends(s, ['a', 'b', 'c']);
  const sc = await s.sidecar([backendsFlag(...bs), '--sticky=cookie', '--member-id=cookie-test', ...flags]);
  return { bs, sc };
}

function cookieHeader(value) {
  return { cookie: `${kCookie}=${value}` };
}

// A new session gets one DROVERID Set-Cookie of the documented form and Cache-Control: private.
test('first response sets DROVERID=...; Path=/; HttpOnly; SameSite=Lax and Cache-Control: private', async (t) => {
  const s = scope(t);
  const { sc } = await threeBackends(s);
  const r = await get(sc.port, { path: '/?sc=app=1;%20Path=/' });
  assert.equal(r.status, 200);
  const sticky = stickySetCookies(r);
  assert.equal(sticky.length, 1, `one DROVERID Set-Cookie, got ${JSON.stringify(fieldValues(r, 'set-cookie'))}`);
  assert.match(sticky[0], kSetCookieRe);
  assert.deepEqual(fieldValues(r, 'cache-control'), ['private']);
  assert.ok(fieldValues(r, 'set-cookie').includes('app=1; Path=/'), `the app's Set-Cookie kept: ${JSON.stringify(fieldValues(r, 'set-cookie'))}`);
  assert.deepEqual(await stickyCounts(sc.adminPort), { hit: 0, new: 1, remapped: 0, forwarded: 0, invalid: 0, no_key: 0 });
});

// Cache-Control: private is added only when the app did not already say no-store/no-cache/private.
test('Cache-Control: private is not added when the app sent no-store, no-cache or private', async (t) => {
  const s = scope(t);
  const { sc } = await threeBackends(s);
  for (const cc of ['no-store', 'no-cache', 'private, max-age=10', 'No-Store']) {
    const r = await get(sc.port, { path: `/?cc=${encodeURIComponent(cc)}` });
    assert.equal(r.status, 200);
    assert.ok(dropCookie(r), `cookie set with Cache-Control: ${cc}`);
    assert.deepEqual(fieldValues(r, 'cache-control'), [cc], `Cache-Control with the app's "${cc}"`);
  }
  const r = await get(sc.port, { path: `/?cc=${encodeURIComponent('public, max-age=60')}` });
  assert.ok(dropCookie(r));
  assert.ok(fieldValues(r, 'cache-control').some((v) => /\bprivate\b/.test(v)), `private added to a cacheable response: ${JSON.stringify(fieldValues(r, 'cache-control'))}`);
});

// With its cookie, a session's 100 requests all reach the backend that issued it; no new cookie.
test('100 requests with the cookie all reach the one backend that issued it', async (t) => {
  const s = scope(t);
  const { sc } = await threeBackends(s);
  // Make the sticky backend one that balancing would not pick first: issue 3 sessions, use the
  // last one.
  const firsts = [];
  for (let i = 0; i < 3; i++) firsts.push(await get(sc.port));
  const spread = new Set(firsts.map((r) => r.backend));
  const { backend: home } = firsts[2];
  const value = dropCookie(firsts[2]);
  assert.ok(value, 'cookie issued');
  const before = await stickyCounts(sc.adminPort);
  const agent = keepAliveAgent(t, 4);
  const results = await pool(100, 10, (i) => get(sc.port, { headers: cookieHeader(value), agent: i % 2 ? agent : false }));
  const seen = histogram(results.map((r) => r.backend));
  assert.deepEqual(seen, { [home]: 100 }, `every request on backend ${home} (new sessions went to ${[...spread]})`);
  assert.ok(results.every((r) => r.status === 200));
  assert.equal(results.filter((r) => stickySetCookies(r).length > 0).length, 0, 'no Set-Cookie on a hit');
  assert.equal(results.filter((r) => fieldValues(r, 'cache-control').length > 0).length, 0, 'no Cache-Control added on a hit');
  const d = diffCounts(before, await stickyCounts(sc.adminPort));
  assert.equal(d.hit, 100, `hits ${JSON.stringify(d)}`);
  assert.equal(d.new + d.invalid + d.remapped, 0, `${JSON.stringify(d)}`);
});

// The app never sees DROVERID; its other cookies reach it unchanged and in order.
test('the app never sees DROVERID; other cookies are preserved in order', async (t) => {
  const s = scope(t);
  const { sc } = await threeBackends(s);
  const value = dropCookie(await get(sc.port));
  const cases = [
    { send: [`a=1; ${kCookie}=${value}; b=2`], want: ['a=1; b=2'] },
    { send: [`${kCookie}=${value}`], want: [] },
    { send: [`${kCookie}=${value}; z=26`], want: ['z=26'] },
    { send: ['x=1', `${kCookie}=${value}; y=2`], want: ['x=1', 'y=2'] },
    { send: [`pre_${kCookie}=7; ${kCookie}=${value}; ${kCookie}X=8; droverid=9`], want: [`pre_${kCookie}=7; ${kCookie}X=8; droverid=9`] },
    { send: [`a=1; ${kCookie}="${value}"; b=2`], want: ['a=1; b=2'] },
    // A garbled DROVERID is not a session, but it is still not the app's.
    { send: [`a=1; ${kCookie}=%%garbage%%; b=2`], want: ['a=1; b=2'] },
    { send: ['only=app'], want: ['only=app'] },
    // Another cookie whose value merely contains "DROVERID=..." is the app's.
    { send: [`note=${kCookie}=${value}; y=2`], want: [`note=${kCookie}=${value}; y=2`] },
  ];
  const homes = new Set();
  // A raw client, so that two Cookie fields go out as two fields.
  const c0 = await s.connect(sc.port);
  for (const c of cases) {
    c0.write(`GET / HTTP/1.1\r\nHost: t\r\n${c.send.map((f) => `Cookie: ${f}\r\n`).join('')}\r\n`);
    const raw = await c0.readResponse();
    assert.equal(raw.status, 200);
    const r = { backend: JSON.parse(raw.text()).backend, json: JSON.parse(raw.text()) };
    assert.deepEqual(r.json.cookieFields, c.want, `sent Cookie fields ${JSON.stringify(c.send)}`);
    if (c.send.some((f) => f.includes(`${kCookie}=${value}`) || f.includes(`${kCookie}="${value}"`))) homes.add(r.backend);
  }
  assert.equal(homes.size, 1, `every request with the valid cookie on one backend: ${[...homes]}`);
});

// Malformed, forged, wrong-MAC and MAC-less cookies get a 200, a new cookie and one `invalid` each.
test('bad cookies get a 200 and a fresh cookie, and count as invalid', async (t) => {
  const s = scope(t);
  const dir = tempDir(t);
  const secret = path.join(dir, 'secret');
  fs.writeFileSync(secret, `${kSecretA}\n`);
  const { sc } = await threeBackends(s, [`--cookie-secret-file=${secret}`]);
  const good = dropCookie(await get(sc.port));
  assert.match(good, /^[A-Za-z0-9_-]{19}\.[A-Za-z0-9_-]{14}$/, 'a signed cookie has a MAC');
  const parsed = decodeCookieValue(good);
  const otherMac = parsed.mac.startsWith('A') ? `B${parsed.mac.slice(1)}` : `A${parsed.mac.slice(1)}`;
  const bad = {
    garbled: '!!not*base64$$',
    empty: '',
    truncated: good.slice(0, good.length - 5),
    'body only truncated': `${good.slice(0, 15)}.${parsed.mac}`,
    'forged slot': encodeCookieValue({ ...parsed, slot: (parsed.slot + 1) % 3 }, parsed.mac),
    'forged times': encodeCookieValue({ ...parsed, issued: parsed.issued + 1000, lastSeen: parsed.lastSeen + 1000 }, parsed.mac),
    'wrong MAC': `${good.split('.')[0]}.${otherMac}`,
    'no MAC': good.split('.')[0],
    'trailing junk': `${good}x`,
    'padded base64': `${good.split('.')[0]}=.${parsed.mac}`,
  };
  for (const [what, value] of Object.entries(bad)) {
    const before = await stickyCounts(sc.adminPort);
    const r = await get(sc.port, { headers: cookieHeader(value) });
    const after = await stickyCounts(sc.adminPort);
    assert.equal(r.status, 200, `${what} cookie: status`);
    const fresh = dropCookie(r);
    assert.ok(fresh, `${what} cookie: a fresh cookie is issued`);
    assert.notEqual(fresh, value);
    assert.deepEqual(diffCounts(before, after), { hit: 0, new: 0, remapped: 0, forwarded: 0, invalid: 1, no_key: 0 }, `${what} cookie (${JSON.stringify(value)})`);
    // The fresh cookie is a valid session on the backend that answered.
    const again = await get(sc.port, { headers: cookieHeader(fresh) });
    assert.equal(again.backend, r.backend, `${what}: fresh cookie sticks`);
    assert.equal(dropCookie(again), undefined, `${what}: fresh cookie is accepted (no re-issue)`);
  }
  // The good cookie is still good.
  const before = await stickyCounts(sc.adminPort);
  await get(sc.port, { headers: cookieHeader(good) });
  assert.equal(diffCounts(before, await stickyCounts(sc.adminPort)).hit, 1);
});

// A well-formed cookie naming a slot that does not exist is re-homed (`remapped`), not an error.
test('a cookie naming a slot that does not exist is re-homed with a fresh cookie', async (t) => {
  const s = scope(t);
  const dir = tempDir(t);
  const secret = path.join(dir, 'secret');
  fs.writeFileSync(secret, `${kSecretA}\n`);
  const { sc } = await threeBackends(s, [`--cookie-secret-file=${secret}`]);
  const good = decodeCookieValue(dropCookie(await get(sc.port)));
  const before = await stickyCounts(sc.adminPort);
  const r = await get(sc.port, { headers: cookieHeader(signCookieValue({ ...good, slot: 7 }, kSecretA)) });
  assert.equal(r.status, 200);
  const fresh = dropCookie(r);
  assert.ok(fresh);
  assert.ok(decodeCookieValue(fresh).slot < 3, 'the new cookie names a real slot');
  assert.deepEqual(diffCounts(before, await stickyCounts(sc.adminPort)), { hit: 0, new: 0, remapped: 1, forwarded: 0, invalid: 0, no_key: 0 });
});

// Past --cookie-max-age a cookie gets a 200 with a fresh cookie and counts as `invalid`.
test('an expired cookie (--cookie-max-age=1s) is replaced and counts as invalid', async (t) => {
  const s = scope(t);
  const { sc } = await threeBackends(s, ['--cookie-max-age=1s']);
  const issuedAt = Date.now();
  const first = await get(sc.port);
  const sc0 = stickySetCookies(first)[0];
  assert.equal(sc0, `${kCookie}=${dropCookie(first)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=1`);
  const value = dropCookie(first);
  const young = await get(sc.port, { headers: cookieHeader(value) });
  // Within the first second (a stalled machine may take longer) the cookie is a plain hit.
  if (Date.now() - issuedAt < 900) assert.deepEqual([young.backend, dropCookie(young)], [first.backend, undefined]);
  const before = await stickyCounts(sc.adminPort);
  // Poll with the same cookie until the proxy stops accepting it.
  const expired = await waitFor(
    async () => {
      const r = await get(sc.port, { headers: cookieHeader(value) });
      return dropCookie(r) ? r : null;
    },
    { timeoutMs: 5000, intervalMs: 100, what: 'the 1 s cookie to expire' },
  );
  assert.equal(expired.status, 200);
  const d = diffCounts(before, await stickyCounts(sc.adminPort));
  assert.equal(d.invalid, 1, `exactly the one expired request counts as invalid: ${JSON.stringify(d)}`);
  assert.equal(d.new + d.remapped, 0, JSON.stringify(d));
  assert.match(stickySetCookies(expired)[0], /; Max-Age=1$/);
  assert.notEqual(dropCookie(expired), value);
});

// A cookie signed with secret A is accepted under the secret file "B\nA" and rejected under "B".
test('secret rotation: an A cookie is accepted under "B\\nA" and rejected under "B"', async (t) => {
  const s = scope(t);
  const dir = tempDir(t);
  const fileA = path.join(dir, 'a');
  const fileBA = path.join(dir, 'ba');
  const fileB = path.join(dir, 'b');
  fs.writeFileSync(fileA, `${kSecretA}\n`);
  fs.writeFileSync(fileBA, `${kSecretB}\n${kSecretA}\n`);
  fs.writeFileSync(fileB, `${kSecretB}\n`);
  const bs = await namedBackends(s, ['a', 'b', 'c']);
  const start = (extra) => s.sidecar([backendsFlag(...bs), '--member-id=rotation', ...extra]);
  const scA = await start([`--cookie-secret-file=${fileA}`]);
  const scBA = await start([`--cookie-secret-file=${fileBA}`]);
  const scB = await start([`--cookie-secret-file=${fileB}`]);
  // "No secret" that keeps MACed cookies: a member table without a secret (with neither, the
  // sidecar signs with a per-process key; trust.test.mjs).
  const peersNone = path.join(dir, 'peers');
  fs.writeFileSync(peersNone, 'rotation 127.0.0.1:1 3\n');
  const scNone = await start([`--peers=${peersNone}`]);
  // Three sessions under A, so that one sits on a backend balancing would not pick at once.
  let issued;
  for (let i = 0; i < 3; i++) issued = await get(scA.port);
  const cookieA = dropCookie(issued);

  const onBA = await get(scBA.port, { headers: cookieHeader(cookieA) });
  assert.equal(onBA.backend, issued.backend, 'B\\nA: the A cookie keeps its backend');
  assert.equal(dropCookie(onBA), undefined, 'B\\nA: accepted, no new cookie');
  assert.equal((await stickyCounts(scBA.adminPort)).hit, 1);

  const onNone = await get(scNone.port, { headers: cookieHeader(cookieA) });
  assert.equal(onNone.backend, issued.backend, 'no secret: a MACed cookie is accepted');

  const onB = await get(scB.port, { headers: cookieHeader(cookieA) });
  assert.equal(onB.status, 200);
  const cookieB = dropCookie(onB);
  assert.ok(cookieB, 'B alone: the A cookie is rejected and a new one issued');
  assert.equal((await stickyCounts(scB.adminPort)).invalid, 1);
  // What "B\nA" issues is signed with B: B alone accepts it, A alone does not.
  const issuedBA = dropCookie(await get(scBA.port));
  const onB2 = await get(scB.port, { headers: cookieHeader(issuedBA) });
  assert.equal(dropCookie(onB2), undefined, 'B accepts what B\\nA issued');
  const onA2 = await get(scA.port, { headers: cookieHeader(issuedBA) });
  assert.ok(dropCookie(onA2), 'A alone rejects what B\\nA issued');
  assert.equal((await stickyCounts(scA.adminPort)).invalid, 1);
  // And the cookie B issued is accepted under B\nA.
  const onBA2 = await get(scBA.port, { headers: cookieHeader(cookieB) });
  assert.equal(dropCookie(onBA2), undefined);
  assert.equal(onBA2.backend, onB.backend);
});

// Secure is added only for X-Forwarded-Proto: https from a --trusted-proxies address.
test('Secure only behind a trusted https proxy', async (t) => {
  const s = scope(t);
  const bs = await namedBackends(s, ['a', 'b']);
  const trusted = await s.sidecar([backendsFlag(...bs), '--trusted-proxies=127.0.0.1/32']);
  const trustedMaxAge = await s.sidecar([backendsFlag(...bs), '--trusted-proxies=10.0.0.0/8,127.0.0.1/32', '--cookie-max-age=3600s']);
  const untrusted = await s.sidecar([backendsFlag(...bs), '--trusted-proxies=10.0.0.0/8']);
  const none = await s.sidecar([backendsFlag(...bs)]);
  const https = { 'x-forwarded-proto': 'https' };
  const attrs = async (sc, headers, localAddress) => {
    const r = await get(sc.port, { headers, localAddress });
    const v = stickySetCookies(r);
    assert.equal(v.length, 1, `one Set-Cookie: ${JSON.stringify(v)}`);
    return v[0];
  };
  assert.match(await attrs(trusted, https), /^DROVERID=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
  assert.match(await attrs(trusted, { 'x-forwarded-proto': 'HTTPS' }), /; Secure$/);
  assert.match(await attrs(trusted, {}), kSetCookieRe);
  assert.match(await attrs(trusted, { 'x-forwarded-proto': 'http' }), kSetCookieRe);
  // 127.0.0.2 is not in 127.0.0.1/32.
  assert.match(await attrs(trusted, https, '127.0.0.2'), kSetCookieRe, 'from an untrusted loopback address');
  assert.match(await attrs(trustedMaxAge, https), /^DROVERID=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=3600$/);
  assert.match(await attrs(untrusted, https), kSetCookieRe);
  assert.match(await attrs(none, https), kSetCookieRe);
  assert.ok(parseSetCookie(await attrs(none, https)).attrs.every(([k]) => k !== 'Secure'));
});

// --cookie-max-idle: a session in use is refreshed and outlives the limit; an idle one starts over.
test('--cookie-max-idle=2s refreshes a used session and expires an idle one', async (t) => {
  const s = scope(t);
  const { sc } = await threeBackends(s, ['--cookie-max-idle=2s']);
  const first = await get(sc.port);
  let value = dropCookie(first);
  const issued = decodeCookieValue(value).issued;
  const t0 = Date.now();
  let refreshes = 0;
  // Used every 300 ms for 3.5 s (longer than the idle limit): always a hit, on one backend.
  for (let i = 0; i < 40 && Date.now() - t0 < 3500; i++) {
    const r = await get(sc.port, { headers: cookieHeader(value) });
    assert.equal(r.backend, first.backend, `request ${i} at ${Date.now() - t0} ms stays on ${first.backend}`);
    const fresh = dropCookie(r);
    if (fresh) {
      assert.equal(decodeCookieValue(fresh).issued, issued, 'a refresh keeps the issue time');
      value = fresh;
      refreshes++;
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // pacing the client, not waiting for a condition
  }
  assert.ok(refreshes >= 1, 'the cookie was refreshed while in use');
  const before = await stickyCounts(sc.adminPort);
  assert.equal(before.invalid, 0, `no request of the session in use was refused: ${JSON.stringify(before)}`);
  // Now idle: keep sending this very value (its last-use time stays where it is, whatever the
  // proxy answers) until the proxy starts a new session for it.
  const idleValue = value;
  const expired = await waitFor(
    async () => {
      const r = await get(sc.port, { headers: cookieHeader(idleValue) });
      const fresh = dropCookie(r);
      return fresh && decodeCookieValue(fresh).issued !== issued ? r : null;
    },
    { timeoutMs: 6000, intervalMs: 200, what: 'the idle session to start over' },
  );
  assert.equal(expired.status, 200);
  assert.equal(diffCounts(before, await stickyCounts(sc.adminPort)).invalid, 1);
});

// A session whose backend is down is re-homed with a new cookie, before and after a health check.
test('a session whose backend is down is re-homed with a fresh cookie', async (t) => {
  const s = scope(t);
  const { bs, sc } = await threeBackends(s, ['--health-interval=200ms']);
  const first = await get(sc.port);
  const value = dropCookie(first);
  const home = bs.find((b) => b.name === first.backend);
  await home.stopListening();
  const r1 = await get(sc.port, { headers: cookieHeader(value) });
  assert.equal(r1.status, 200, 'connect refused: retried elsewhere');
  assert.notEqual(r1.backend, home.name);
  const c1 = dropCookie(r1);
  assert.ok(c1, 'retried elsewhere: the cookie names the new backend');
  const again = await get(sc.port, { headers: cookieHeader(c1) });
  assert.equal(again.backend, r1.backend);
  assert.equal(dropCookie(again), undefined);
  // After the health check marked it down: remapped.
  await waitBackendsUp(sc, [home.port], { value: 0 });
  const before = await stickyCounts(sc.adminPort);
  const r2 = await get(sc.port, { headers: cookieHeader(value) });
  assert.equal(r2.status, 200);
  assert.notEqual(r2.backend, home.name);
  assert.ok(dropCookie(r2));
  assert.equal(diffCounts(before, await stickyCounts(sc.adminPort)).remapped, 1);
});

// The cookie that re-homes an https session after a refused connect is Secure.
test('a session re-homed after a refused connect behind a trusted https proxy gets a Secure cookie', async (t) => {
  const s = scope(t);
  const { bs, sc } = await threeBackends(s, ['--trusted-proxies=127.0.0.1/32', '--health-interval=60s']);
  const https = { 'x-forwarded-proto': 'https' };
  const first = await get(sc.port, { headers: https });
  assert.match(stickySetCookies(first)[0], /; Secure$/);
  await bs.find((b) => b.name === first.backend).stopListening();
  const r = await get(sc.port, { headers: { ...https, ...cookieHeader(dropCookie(first)) } });
  assert.equal(r.status, 200);
  assert.notEqual(r.backend, first.backend);
  const set = stickySetCookies(r);
  assert.equal(set.length, 1, 're-homed with a new cookie');
  assert.match(set[0], /^DROVERID=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure$/, 'the new cookie of an https request is Secure');
});
