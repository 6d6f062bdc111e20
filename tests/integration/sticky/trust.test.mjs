// Trust (docs/security.md): a request on a peer listener is trusted as forwarded only with a
// proof that a member sent it (a Drover-Hop token with the shared cookie secret; without a
// secret, a member's source address, which sidecars bind their outgoing peer connections to);
// without one it is served here as a public request and never forwarded again; a wrong token gets
// 403. Cookies cannot be hand-made: a per-process key without a member table, and the secret file
// is re-read when it changes. An absolute-form target naming another host than Host gets 400.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import crypto from 'node:crypto';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { freePort } from '../lib/backends.mjs';
import { rawExchange, buildRequest } from '../lib/http1.mjs';
import { waitFor } from '../lib/proc.mjs';
import {
  kCookie,
  get,
  dropCookie,
  stickySetCookies,
  stickyCounts,
  diffCounts,
  errorCount,
  namedBackends,
  writeFileAtomic,
  tempDir,
  decodeCookieValue,
  encodeCookieValue,
  signCookieValue,
} from './lib/sticky.mjs';

const kSecret1 = 'trust-secret-one-0123456789';
const kSecret2 = 'trust-secret-two-abcdefghij';
const kSecret3 = 'trust-secret-three-ABCDEFGH';

// Members `ids` (2 backends each) with peer listeners on `hosts` (one per member), one --peers
// file; `secret`: the content of a shared --cookie-secret-file, or none.
async function startMembers(t, { ids = ['pod-a', 'pod-b'], hosts, secret, extra = [] } = {}) {
  const s = scope(t);
  const dir = tempDir(t, 'drover-trust-');
  const peersFile = path.join(dir, 'peers');
  const secretFile = path.join(dir, 'secret');
  if (secret !== undefined) writeFileAtomic(secretFile, `${secret}\n`);
  const members = {};
  for (const [i, id] of ids.entries()) {
    const letter = id.slice(-1);
    const host = hosts ? hosts[i] : '127.0.0.1';
    members[id] = { id, host, peerPort: await freePort(host), backends: await namedBackends(s, [`${letter}0`, `${letter}1`]) };
  }
  writeFileAtomic(peersFile, ['# ID HOST:PORT SLOTS', ...Object.values(members).map((m) => `${m.id} ${m.host}:${m.peerPort} 2`), ''].join('\n'));
  for (const m of Object.values(members)) {
    const flags = [backendsFlag(...m.backends), `--member-id=${m.id}`, `--peer-listen=${m.host}:${m.peerPort}`, `--peers=${peersFile}`, ...extra];
    if (secret !== undefined) flags.push(`--cookie-secret-file=${secretFile}`);
    m.sc = await s.sidecar(flags);
    await waitFor(() => /member table: \d+ members/.test(m.sc.stderr), { timeoutMs: 5000, what: `${m.id}'s member table` });
    // Cookie mode: its member hash, as cookies carry it, and a session of its own.
    const r = await get(m.sc.port);
    const value = dropCookie(r);
    if (value !== undefined) {
      m.hash = decodeCookieValue(value).member;
      m.session = { value, backend: r.backend };
    }
  }
  return { s, members, secretFile };
}

const hex8 = (n) => (n >>> 0).toString(16).padStart(8, '0');

// A Drover-Hop token as docs/security.md gives it.
function hopToken(secret, from, to, time = Math.floor(Date.now() / 1000)) {
  const mac = crypto.createHmac('sha256', secret).update(`drover-hop-v1 ${hex8(from)} ${hex8(to)} ${time}`).digest('hex');
  return `${hex8(from)}.${time}.${mac}`;
}

const secureOf = (r) => stickySetCookies(r).some((v) => /;\s*Secure/i.test(v));

// A client that reaches the peer listener is an ordinary public client: its X-Forwarded-Proto is
// not believed (no Secure cookie, the app sees http), and a cookie naming another member is
// served here, not sent on.
test('a plain client on the peer listener is not trusted and never forwarded', async (t) => {
  for (const secret of [kSecret1, undefined]) {
    const what = secret ? 'with a secret' : 'without a secret';
    const { members } = await startMembers(t, { ids: ['pod-a', 'pod-b'], hosts: ['127.0.0.2', '127.0.0.3'], secret });
    const a = members['pod-a'];
    const b = members['pod-b'];
    const beforeB = await stickyCounts(b.sc.adminPort);
    const r = await get(a.peerPort, {
      host: a.host,
      localAddress: '127.0.0.9',
      headers: { cookie: `${kCookie}=${b.session.value}`, 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.1.2.3' },
    });
    assert.equal(r.status, 200, what);
    assert.match(r.backend, /^a[01]$/, `${what}: served by pod-a, not forwarded to pod-b`);
    assert.equal(r.json.xfp, 'http', `${what}: the app sees the request as http`);
    assert.ok(dropCookie(r), `${what}: a new cookie for pod-a`);
    assert.equal(secureOf(r), false, `${what}: no Secure cookie for an http client`);
    assert.deepEqual(diffCounts(beforeB, await stickyCounts(b.sc.adminPort)).hit, 0, `${what}: pod-b saw nothing`);
  }
});

// In source-ip mode, X-Forwarded-For from a plain client on the peer listener is not the key.
test('source-ip: X-Forwarded-For from a plain client on the peer listener is not believed', async (t) => {
  const { members } = await startMembers(t, { ids: ['pod-a', 'pod-b'], hosts: ['127.0.0.2', '127.0.0.3'], extra: ['--sticky=source-ip'] });
  const a = members['pod-a'];
  const seen = new Set();
  for (let i = 0; i < 24; i++) {
    const r = await get(a.peerPort, { host: a.host, localAddress: '127.0.0.9', headers: { 'x-forwarded-for': `10.0.${i}.${i + 1}` } });
    assert.equal(r.status, 200);
    seen.add(r.backend);
  }
  assert.deepEqual([...seen], [[...seen][0]], `one key (the TCP peer), one backend: ${[...seen]}`);
  assert.match([...seen][0], /^a[01]$/, 'served by pod-a');
});

// Without a secret, members recognise each other by source address: three sidecars on
// 127.0.0.2/3/4 forward to each other (each binds its outgoing peer connections to its own
// address), and what the first one believed (X-Forwarded-Proto from its trusted proxy) reaches the
// owner's app.
test('without a secret: forwarding between members on 127.0.0.2/3/4 is trusted by source address', async (t) => {
  const { members } = await startMembers(t, {
    ids: ['pod-a', 'pod-b', 'pod-c'],
    hosts: ['127.0.0.2', '127.0.0.3', '127.0.0.4'],
    extra: ['--trusted-proxies=127.0.0.9/32'],
  });
  const a = members['pod-a'];
  const c = members['pod-c'];
  const beforeA = await stickyCounts(a.sc.adminPort);
  const beforeC = await stickyCounts(c.sc.adminPort);
  const r = await get(a.sc.port, { localAddress: '127.0.0.9', headers: { cookie: `${kCookie}=${c.session.value}`, 'x-forwarded-proto': 'https' } });
  assert.equal(r.status, 200);
  assert.equal(r.backend, c.session.backend, "served by pod-c's backend");
  assert.equal(r.json.xfp, 'https', "pod-c believed pod-a's X-Forwarded-Proto: the hop came from a member");
  assert.equal(diffCounts(beforeA, await stickyCounts(a.sc.adminPort)).forwarded, 1);
  assert.equal(diffCounts(beforeC, await stickyCounts(c.sc.adminPort)).hit, 1);
  // And a client from 127.0.0.8 (neither a member nor a trusted proxy) on pod-c's peer listener
  // is not believed.
  const plain = await get(c.peerPort, { host: c.host, localAddress: '127.0.0.8', headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(plain.json.xfp, 'http');
  assert.equal(secureOf(plain), false);
});

// With a secret, forwarding carries a Drover-Hop token: sessions of 3 members are served by their
// owners through any member, the owner believes the forwarder, and the app never sees the token.
test('with a secret: forwarded requests carry a hop token the owner checks and strips', async (t) => {
  const { members } = await startMembers(t, { ids: ['pod-a', 'pod-b', 'pod-c'], secret: kSecret1, extra: ['--trusted-proxies=127.0.0.9/32'] });
  for (const via of Object.values(members)) {
    for (const owner of Object.values(members)) {
      const r = await get(via.sc.port, { localAddress: '127.0.0.9', headers: { cookie: `${kCookie}=${owner.session.value}`, 'x-forwarded-proto': 'https' } });
      assert.equal(r.status, 200);
      assert.equal(r.backend, owner.session.backend, `${owner.id}'s session through ${via.id}`);
      assert.equal(r.json.xfp, 'https', `${owner.id} trusted ${via.id}'s hop`);
      assert.equal(dropCookie(r), undefined, 'no new cookie');
    }
  }
});

// A token that is there but wrong (bad MAC, unknown member, outside the ±30 s window, made for
// another receiver, two of them) gets 403; a good one made as documented is believed.
test('with a secret: a forged, expired or wrong hop token gets 403', async (t) => {
  const { members } = await startMembers(t, { secret: kSecret1 });
  const a = members['pod-a'];
  const b = members['pod-b'];
  const now = Math.floor(Date.now() / 1000);
  const good = hopToken(kSecret1, a.hash, b.hash, now);
  const bad = {
    'bad MAC': `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`,
    'another secret': hopToken(kSecret2, a.hash, b.hash, now),
    'unknown member': hopToken(kSecret1, 0x12345678, b.hash, now),
    'expired (120 s old)': hopToken(kSecret1, a.hash, b.hash, now - 120),
    'from the future (120 s)': hopToken(kSecret1, a.hash, b.hash, now + 120),
    'for another receiver': hopToken(kSecret1, a.hash, a.hash, now),
    garbage: 'not-a-token',
    'two tokens': [good, good],
  };
  const before = await errorCount(b.sc.adminPort, 'bad_hop');
  for (const [what, token] of Object.entries(bad)) {
    const r = await get(b.peerPort, { headers: { 'drover-hop': token, cookie: `${kCookie}=${b.session.value}` } });
    assert.equal(r.status, 403, what);
  }
  assert.equal((await errorCount(b.sc.adminPort, 'bad_hop')) - before, Object.keys(bad).length);
  const ok = await get(b.peerPort, { headers: { 'drover-hop': hopToken(kSecret1, a.hash, b.hash), 'x-forwarded-proto': 'https' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.xfp, 'https', 'a good token is believed');
  assert.equal(secureOf(ok), true, 'so the new session gets a Secure cookie');
});

// A Drover-Hop field sent to the public listener proves nothing and never reaches the app.
test('a Drover-Hop field on the public listener is ignored and stripped', async (t) => {
  const s = scope(t);
  const seen = [];
  const raw = await s.httpBackend({
    name: 'raw',
    handler: (req, res) => {
      seen.push(req.headers['drover-hop'] ?? null);
      res.end('ok');
    },
  });
  const sc = await s.sidecar([backendsFlag(raw), '--member-id=solo']);
  const r = await get(sc.port, { headers: { 'drover-hop': '00000001.1.00', 'x-forwarded-proto': 'https' } });
  assert.equal(r.status, 200);
  assert.deepEqual(seen, [null], 'the app did not see Drover-Hop');
  assert.equal(secureOf(r), false);
});

// Without a secret and without a member table cookies are signed with a per-process key: a
// hand-made cookie naming slot 2 is invalid (a new session), a real one sticks.
test('no secret, no member table: a hand-made cookie is rejected', async (t) => {
  const s = scope(t);
  const bs = await namedBackends(s, ['a', 'b', 'c']);
  const sc = await s.sidecar([backendsFlag(...bs), '--member-id=solo']);
  const first = await get(sc.port);
  const real = dropCookie(first);
  assert.match(real, /^[A-Za-z0-9_-]{19}\.[A-Za-z0-9_-]{14}$/, 'signed');
  const fields = decodeCookieValue(real);
  for (const slot of [0, 1, 2]) {
    const before = await stickyCounts(sc.adminPort);
    const r = await get(sc.port, { headers: { cookie: `${kCookie}=${encodeCookieValue({ ...fields, slot })}` } });
    assert.equal(r.status, 200);
    assert.ok(dropCookie(r), `slot ${slot}: a new cookie`);
    assert.equal(diffCounts(before, await stickyCounts(sc.adminPort)).invalid, 1, `slot ${slot}: invalid`);
  }
  const again = await get(sc.port, { headers: { cookie: `${kCookie}=${real}` } });
  assert.equal(again.backend, first.backend);
  assert.equal(dropCookie(again), undefined);
  const status = JSON.parse((await get(sc.adminPort, { path: '/status' })).text);
  assert.equal(status.cookie_secret, 'per-process');
});

// With a member table and no secret the sidecar says so at start and in /status.
test('a member table without a secret: one warning line and cookie_secret "missing"', async (t) => {
  const { members } = await startMembers(t, { ids: ['pod-a'] });
  const a = members['pod-a'];
  const lines = a.sc.stderr.split('\n').filter((l) => /warning: .*without --cookie-secret-file/.test(l));
  assert.equal(lines.length, 1, a.sc.stderr);
  assert.equal(JSON.parse((await get(a.sc.adminPort, { path: '/status' })).text).cookie_secret, 'missing');
  const { members: signed } = await startMembers(t, { ids: ['pod-b'], secret: kSecret1 });
  const b = signed['pod-b'];
  assert.doesNotMatch(b.sc.stderr, /warning: .*without --cookie-secret-file/);
  assert.equal(JSON.parse((await get(b.sc.adminPort, { path: '/status' })).text).cookie_secret, 'set');
});

// The secret file is re-read when it is replaced (a rename, as the kubelet swaps a mounted
// Secret): new cookies are signed with the new key, cookies of the old key still stick, and after
// a second rotation the oldest key's cookies are new sessions.
test('the secret file is reloaded: new key signs, the previous one is still accepted', async (t) => {
  const s = scope(t);
  const dir = tempDir(t, 'drover-trust-');
  const secretFile = path.join(dir, 'secret');
  writeFileAtomic(secretFile, `${kSecret1}\n`);
  const bs = await namedBackends(s, ['a', 'b', 'c']);
  const sc = await s.sidecar([backendsFlag(...bs), '--member-id=solo', `--cookie-secret-file=${secretFile}`]);
  const signedWith = (value, secret) => value === signCookieValue(decodeCookieValue(value), secret);
  const issue = async () => {
    const r = await get(sc.port);
    return { value: dropCookie(r), backend: r.backend };
  };
  const sticks = async ({ value, backend }) => {
    const before = await stickyCounts(sc.adminPort);
    const r = await get(sc.port, { headers: { cookie: `${kCookie}=${value}` } });
    const d = diffCounts(before, await stickyCounts(sc.adminPort));
    return d.hit === 1 && r.backend === backend;
  };
  const one = await issue();
  assert.ok(signedWith(one.value, kSecret1));
  const rotate = async (secret) => {
    writeFileAtomic(secretFile, `${secret}\n`);
    return waitFor(
      async () => {
        const c = await issue();
        return signedWith(c.value, secret) ? c : null;
      },
      { timeoutMs: 8000, intervalMs: 100, what: `cookies signed with the new secret` },
    );
  };
  const two = await rotate(kSecret2);
  assert.ok(await sticks(one), 'a cookie of the previous key still sticks');
  assert.ok(await sticks(two));
  const three = await rotate(kSecret3);
  assert.ok(await sticks(two), 'the previous key (2) is accepted');
  assert.ok(await sticks(three));
  const before = await stickyCounts(sc.adminPort);
  const r = await get(sc.port, { headers: { cookie: `${kCookie}=${one.value}` } });
  assert.ok(dropCookie(r), 'the oldest key (1): a new session');
  assert.equal(diffCounts(before, await stickyCounts(sc.adminPort)).invalid, 1);
});

// GET http://a.example/x with Host: b.example is refused (HAProxy does the same); the same host
// (any case, with the port) is served.
test('an absolute-form target naming another host than Host gets 400', async (t) => {
  const s = scope(t);
  const seen = [];
  const raw = await s.httpBackend({
    name: 'raw',
    handler: (req, res) => {
      seen.push(req.url);
      res.end('ok');
    },
  });
  const sc = await s.sidecar([backendsFlag(raw)]);
  const mismatch = await rawExchange(sc.port, buildRequest('GET', 'http://a.example/x', { Host: 'b.example' }));
  assert.match(mismatch.data.toString('latin1'), /^HTTP\/1\.1 400 /);
  const port = await rawExchange(sc.port, buildRequest('GET', 'http://b.example:8080/x', { Host: 'b.example' }));
  assert.match(port.data.toString('latin1'), /^HTTP\/1\.1 400 /, 'another port is another authority');
  const same = await rawExchange(sc.port, buildRequest('GET', 'http://B.Example:8080/y?q=1', { Host: 'b.example:8080', Connection: 'close' }));
  assert.match(same.data.toString('latin1'), /^HTTP\/1\.1 200 /);
  assert.deepEqual(seen, ['http://B.Example:8080/y?q=1'], 'only the matching request reached the app, unchanged');
});
