// Hash modes (--sticky=query:NAME, header:NAME, app-cookie:NAME, path:N, source-ip), through the
// real binary in proxy-only mode with three backends that say who answered. Balancing is
// roundrobin here so that "balanced" is observable: keyless requests visit every backend.

import test from 'node:test';
import assert from 'node:assert/strict';
import { get, dropCookie, stickyCounts, diffCounts, namedBackends, pool, keepAliveAgent, histogram } from './lib/sticky.mjs';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { waitBackendsUp } from '../lib/admin.mjs';

// Each mode: how a request carries key `k`, and a request without a key.
const kModes = [
  { flag: 'query:sid', withKey: (k) => ({ path: `/socket.io/?EIO=4&transport=polling&sid=${k}&t=x` }), noKey: () => ({ path: '/socket.io/?EIO=4&transport=polling' }) },
  { flag: 'header:X-Session', withKey: (k) => ({ headers: { 'x-session': k } }), noKey: () => ({ headers: { 'x-other': '1' } }) },
  {
    flag: 'app-cookie:connect.sid',
    withKey: (k) => ({ headers: { cookie: `theme=dark; connect.sid=s%3A${k}.sig; lang=en` } }),
    noKey: () => ({ headers: { cookie: 'theme=dark; connect.sidx=1' } }),
  },
  { flag: 'path:2', withKey: (k) => ({ path: `/echo/${k}/session1/xhr_streaming` }), noKey: () => ({ path: '/echo' }) },
];

async function start(s, flags) {
  const bs = await namedBackends(s, ['a', 'b', 'c']);
  const sc = await s.sidecar([backendsFlag(...bs), '--balance=roundrobin', '--member-id=hash-test', ...flags]);
  return { bs, sc };
}

// 50 requests with one key (sequential and 5 at a time, new and kept-alive connections) all reach
// one backend; no DROVERID is ever set in a hash mode.
async function assertSticks(t, sc, opts, what) {
  const agent = keepAliveAgent(t, 3);
  const results = await pool(50, 5, (i) => get(sc.port, { ...opts, agent: i % 2 ? agent : false }));
  const seen = histogram(results.map((r) => r.backend));
  assert.equal(Object.keys(seen).length, 1, `${what}: 50 requests on one backend, got ${JSON.stringify(seen)}`);
  assert.ok(results.every((r) => r.status === 200 && dropCookie(r) === undefined), `${what}: 200s without DROVERID`);
  return Object.keys(seen)[0];
}

for (const mode of kModes) {
  // Same key -> same backend, different keys -> every backend, no key -> balanced (no_key).
  test(`--sticky=${mode.flag}: one key sticks, keys spread over all backends, no key is balanced`, async (t) => {
    const s = scope(t);
    const { sc } = await start(s, [`--sticky=${mode.flag}`]);
    const before = await stickyCounts(sc.adminPort);
    const home = await assertSticks(t, sc, mode.withKey('key-one'), mode.flag);
    const d1 = diffCounts(before, await stickyCounts(sc.adminPort));
    assert.equal(d1.hit, 50, `${JSON.stringify(d1)}`);

    const byKey = new Map();
    for (let k = 0; k < 30; k++) {
      const key = `user-${k}`;
      const a = await get(sc.port, mode.withKey(key));
      const b = await get(sc.port, mode.withKey(key));
      assert.equal(a.backend, b.backend, `key ${key} twice on one backend`);
      byKey.set(key, a.backend);
    }
    assert.deepEqual(Object.keys(histogram(byKey.values())), ['a', 'b', 'c'], `30 keys over all three backends: ${JSON.stringify(histogram(byKey.values()))}`);

    const before2 = await stickyCounts(sc.adminPort);
    const keyless = [];
    for (let i = 0; i < 9; i++) keyless.push(await get(sc.port, mode.noKey()));
    const d2 = diffCounts(before2, await stickyCounts(sc.adminPort));
    assert.equal(d2.no_key, 9, `keyless requests count no_key: ${JSON.stringify(d2)}`);
    assert.equal(d2.hit, 0);
    const spread = histogram(keyless.map((r) => r.backend));
    assert.deepEqual(Object.keys(spread), ['a', 'b', 'c'], `keyless requests are balanced (roundrobin): ${JSON.stringify(spread)}`);
    assert.ok(keyless.every((r) => r.status === 200 && dropCookie(r) === undefined));
    t.diagnostic(`${mode.flag}: key-one on ${home}`);
  });
}

// Equivalent spellings of one key land together; look-alike names are no key.
test('hash keys are read exactly: equivalent requests land together', async (t) => {
  const s = scope(t);
  const cases = [
    { flag: 'query:sid', same: ['/?sid=K1', '/?xsid=zz&sid=K1', '/?sid=K1&sidx=2', '/p/a?t=1&sid=K1#frag', '/?sid=K1&sid=other'], keyless: ['/?xsid=K1', '/?sid=', '/sid=K1', '/?sidK1'] },
    { flag: 'path:2', same: ['/echo/K1', '/echo/K1/', '/echo/K1/a/b', '/echo/K1?x=1', '/other/K1/xhr'], keyless: ['/', '/echo', '/echo/', '/echo?x=/K1'] },
  ];
  for (const c of cases) {
    const { sc } = await start(s, [`--sticky=${c.flag}`]);
    const homes = new Set();
    for (const p of c.same) {
      for (let i = 0; i < 3; i++) homes.add((await get(sc.port, { path: p })).backend);
    }
    assert.equal(homes.size, 1, `${c.flag}: ${JSON.stringify(c.same)} on one backend, got ${[...homes]}`);
    const before = await stickyCounts(sc.adminPort);
    for (const p of c.keyless) await get(sc.port, { path: p });
    const d = diffCounts(before, await stickyCounts(sc.adminPort));
    assert.equal(d.no_key, c.keyless.length, `${c.flag}: ${JSON.stringify(c.keyless)} have no key: ${JSON.stringify(d)}`);
  }
  const { sc } = await start(s, ['--sticky=app-cookie:connect.sid']);
  const homes = new Set();
  for (const cookie of ['connect.sid=K1', 'a=1; connect.sid=K1', 'connect.sidx=2; connect.sid=K1; b=3', 'connect.sid="K1"']) {
    for (let i = 0; i < 3; i++) homes.add((await get(sc.port, { headers: { cookie } })).backend);
  }
  assert.equal(homes.size, 1, `app-cookie: one backend, got ${[...homes]}`);
});

// app-cookie mode reads the application's cookie but leaves the Cookie field to the app.
test('--sticky=app-cookie:connect.sid leaves the Cookie field to the app', async (t) => {
  const s = scope(t);
  const { sc } = await start(s, ['--sticky=app-cookie:connect.sid']);
  const r = await get(sc.port, { headers: { cookie: 'theme=dark; connect.sid=s%3Aabc.sig; DROVERID=x' } });
  assert.deepEqual(r.json.cookieFields, ['theme=dark; connect.sid=s%3Aabc.sig; DROVERID=x']);
});

// source-ip: the client address (X-Forwarded-For only from trusted proxies) is the key.
test('--sticky=source-ip: X-Forwarded-For from a trusted proxy is the key; otherwise the TCP peer', async (t) => {
  const s = scope(t);
  const bs = await namedBackends(s, ['a', 'b', 'c']);
  const trusted = await s.sidecar([backendsFlag(...bs), '--balance=roundrobin', '--member-id=hash-test', '--sticky=source-ip', '--trusted-proxies=127.0.0.1/32']);
  const plain = await s.sidecar([backendsFlag(...bs), '--balance=roundrobin', '--member-id=hash-test', '--sticky=source-ip']);

  const xff = (ip) => ({ headers: { 'x-forwarded-for': ip } });
  await assertSticks(t, trusted, xff('10.1.2.3'), 'one client behind the proxy');
  // A proxy chain: "client, trusted-hop" -> the client is the key.
  const home = (await get(trusted.port, xff('10.1.2.3'))).backend;
  const chained = await get(trusted.port, xff('10.1.2.3, 127.0.0.1'));
  assert.equal(chained.backend, home, 'trusted hops at the right of X-Forwarded-For are skipped');
  const clients = new Map();
  for (let i = 0; i < 30; i++) clients.set(i, (await get(trusted.port, xff(`10.0.${i}.7`))).backend);
  assert.deepEqual(Object.keys(histogram(clients.values())), ['a', 'b', 'c'], `30 clients over all backends: ${JSON.stringify(histogram(clients.values()))}`);
  // From 127.0.0.2 (not trusted) X-Forwarded-For is not believed: every "client" is 127.0.0.2.
  const spoofed = new Set();
  for (let i = 0; i < 12; i++) spoofed.add((await get(trusted.port, { ...xff(`10.0.${i}.7`), localAddress: '127.0.0.2' })).backend);
  assert.equal(spoofed.size, 1, `X-Forwarded-For from an untrusted peer ignored: ${[...spoofed]}`);

  // Without --trusted-proxies: the TCP peer; forged X-Forwarded-For changes nothing.
  const ignored = new Set();
  for (let i = 0; i < 12; i++) ignored.add((await get(plain.port, xff(`10.0.${i}.7`))).backend);
  assert.equal(ignored.size, 1, `X-Forwarded-For ignored without --trusted-proxies: ${[...ignored]}`);
  const peers = new Map();
  for (let i = 1; i <= 30; i++) {
    const ip = `127.0.0.${i}`;
    const a = await get(plain.port, { localAddress: ip });
    const b = await get(plain.port, { localAddress: ip });
    assert.equal(a.backend, b.backend, `${ip} sticks`);
    peers.set(ip, a.backend);
  }
  assert.deepEqual(Object.keys(histogram(peers.values())), ['a', 'b', 'c'], `30 loopback peers over all backends: ${JSON.stringify(histogram(peers.values()))}`);
  const d = await stickyCounts(plain.adminPort);
  assert.equal(d.no_key, 0, 'source-ip always has a key');
});

// When a backend goes down only its keys move, together; when it is back they return.
test('--sticky=query:sid: only the keys of a down backend move, and they move together', async (t) => {
  const s = scope(t);
  const { bs, sc } = await start(s, ['--sticky=query:sid', '--health-interval=200ms']);
  const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
  const map = async () => {
    const m = new Map();
    for (const k of keys) m.set(k, (await get(sc.port, { path: `/?sid=${k}` })).backend);
    return m;
  };
  const before = await map();
  const victim = bs[1];
  await victim.stopListening();
  await waitBackendsUp(sc, [victim.port], { value: 0 });
  const during = await map();
  for (const k of keys) {
    if (before.get(k) === victim.name) assert.notEqual(during.get(k), victim.name, `${k} moved off ${victim.name}`);
    else assert.equal(during.get(k), before.get(k), `${k} (on ${before.get(k)}) did not move`);
  }
  // A moved key stays together on its new backend.
  const moved = keys.filter((k) => before.get(k) === victim.name);
  assert.ok(moved.length > 0, 'some keys were on the stopped backend');
  for (const k of moved) {
    const again = new Set();
    for (let i = 0; i < 5; i++) again.add((await get(sc.port, { path: `/?sid=${k}` })).backend);
    assert.deepEqual([...again], [during.get(k)], `${k} sticks to its fallback`);
  }
  await victim.restart();
  await waitBackendsUp(sc, [victim.port], { value: 1 });
  assert.deepEqual([...(await map())], [...before], 'every key is back on its first backend');
});
