// --sticky=app-cookie:NAME with a session cookie the app issues (express-session's connect.sid,
// in the worker's memory): the sidecar prefixes the cookie with the route of the worker that set
// it (HAProxy's `cookie NAME prefix`) and takes the prefix off before the app reads it. Every
// follow-up request reaches the worker that holds the session, through one sidecar with 4
// workers and through 3 sidecars (2 workers each) with a member table, each request to a
// random sidecar. Hashing the app's value (what app-cookie did before) sends ~3/4 of the
// follow-ups to a worker that does not know the session.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { supervisorScope } from '../supervisor/lib/supervisor.mjs';
import { freePort, request } from '../lib/backends.mjs';
import { waitFor } from '../lib/proc.mjs';
import { stickyCounts, peersText, tempDir, histogram, pool, writeFileAtomic, setCookies, parseSetCookie } from './lib/sticky.mjs';
import { CookieJar } from './lib/jar.mjs';

const APP = fileURLToPath(new URL('./apps/session-app.cjs', import.meta.url));
const kClients = Number(process.env.STICKY_APP_COOKIE_CLIENTS || 200);
const kFollowUps = 10;
const kRouted = /^[A-Za-z0-9_-]{19}(\.[A-Za-z0-9_-]{14})?~s%3A/;

async function startSidecars(t, ids, workers, extra = []) {
  const s = supervisorScope(t);
  const members = [];
  for (const id of ids) members.push({ id, peerPort: await freePort(), slots: workers });
  const peerFlags = [];
  if (ids.length > 1) {
    const peersFile = path.join(tempDir(t), 'peers');
    writeFileAtomic(peersFile, peersText(members));
    peerFlags.push(`--peers=${peersFile}`);
  }
  for (const m of members) {
    const flags = ['--pin=false', '--ready-path=/ready', '--sticky=app-cookie:connect.sid', `--member-id=${m.id}`, ...peerFlags, ...extra];
    if (ids.length > 1) flags.push(`--peer-listen=127.0.0.1:${m.peerPort}`);
    m.sc = await s.start({ workers, cmd: [process.execPath, APP], flags, timeoutMs: 20000 });
  }
  for (const m of members) await m.sc.waitAllReady({ timeoutMs: 30000 });
  const owner = new Map(); // pid -> member id
  for (const m of members) for (const slot of (await m.sc.status()).slots) owner.set(slot.pid, m.id);
  return { members, owner };
}

// Each client logs in, then makes kFollowUps requests, each to a port picked by `pick`.
async function runClients(ports, pick) {
  return pool(kClients, 25, async (i) => {
    const jar = new CookieJar();
    const c = { id: i, jar, answers: [], ports: [] };
    const port = ports[pick()];
    const login = await request(port, { path: `/login?user=u${i}`, headers: jar.headers() });
    assert.equal(login.status, 200, login.text);
    jar.store(login);
    c.login = JSON.parse(login.text);
    c.loginSetCookies = setCookies(login);
    for (let k = 0; k < kFollowUps; k++) {
      const p = ports[pick()];
      c.ports.push(p);
      const r = await request(p, { path: '/me', headers: jar.headers() });
      assert.equal(r.status, 200, r.text);
      jar.store(r);
      c.answers.push(JSON.parse(r.text));
    }
    return c;
  });
}

function checkClients(clients, owner) {
  const lost = clients.filter((c) => c.answers.some((a) => a.user !== `u${c.id}` || a.pid !== c.login.pid));
  assert.deepEqual(
    lost.map((c) => c.id),
    [],
    `${lost.length} of ${clients.length} clients had follow-ups that reached a worker without the session:\n${lost
      .slice(0, 5)
      .map((c) => JSON.stringify({ id: c.id, login: c.login.pid, pids: c.answers.map((a) => a.pid), users: c.answers.map((a) => a.user) }))
      .join('\n')}`,
  );
  for (const c of clients) {
    assert.deepEqual(c.answers.map((a) => a.n), Array.from({ length: kFollowUps }, (_, k) => k + 1), `client ${c.id}: one session, counted in order`);
    const kept = c.jar.get('connect.sid');
    assert.match(kept, kRouted, `client ${c.id} keeps a routed value`);
    // The app reads exactly the value it set: the prefix is gone, the other cookie untouched.
    const appValue = kept.slice(kept.indexOf('~') + 1);
    for (const a of c.answers) {
      assert.equal(a.sessionCookie, appValue, `client ${c.id}: the app sees its own connect.sid`);
      assert.equal(a.cookie, `theme=dark; connect.sid=${appValue}`, `client ${c.id}: the Cookie field the app reads`);
    }
    // Attributes kept, the other Set-Cookie of the same response left alone.
    const set = c.loginSetCookies.map(parseSetCookie);
    assert.deepEqual(set.map((x) => x.name).sort(), ['connect.sid', 'theme']);
    assert.equal(set.find((x) => x.name === 'theme').value, 'dark');
    const sid = set.find((x) => x.name === 'connect.sid');
    assert.deepEqual(sid.attrs.map(([k]) => k), ['Path', 'Expires', 'HttpOnly', 'SameSite'], sid.raw);
    assert.ok(owner.has(c.login.pid), `client ${c.id}: login pid ${c.login.pid} is a worker`);
  }
}

test(`${kClients} express-session clients on 4 workers behind one sidecar: every request sees its session`, { timeout: 90000 }, async (t) => {
  const { members, owner } = await startSidecars(t, ['pod-a'], 4);
  const clients = await runClients([members[0].sc.port], () => 0);
  checkClients(clients, owner);
  const perWorker = histogram(clients.map((c) => c.login.worker));
  assert.equal(Object.keys(perWorker).length, 4, `logins on every worker: ${JSON.stringify(perWorker)}`);
  const counts = await stickyCounts(members[0].sc.adminPort);
  assert.ok(counts.hit >= kClients * kFollowUps, JSON.stringify(counts));
  assert.equal(counts.invalid + counts.remapped + counts.forwarded, 0, JSON.stringify(counts));
  t.diagnostic(`logins per worker ${JSON.stringify(perWorker)}; sticky ${JSON.stringify(counts)}`);
});

test(`${kClients} express-session clients, each request to a random one of 3 sidecars: every request sees its session`, { timeout: 120000 }, async (t) => {
  const { members, owner } = await startSidecars(t, ['pod-a', 'pod-b', 'pod-c'], 2);
  let seed = 4242;
  const rng = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const ports = members.map((m) => m.sc.port);
  const clients = await runClients(ports, () => Math.floor(rng() * ports.length));
  checkClients(clients, owner);
  const perMember = histogram(clients.map((c) => owner.get(c.login.pid)));
  assert.deepEqual(Object.keys(perMember), ['pod-a', 'pod-b', 'pod-c'], `sessions on every member: ${JSON.stringify(perMember)}`);
  const counts = await Promise.all(members.map((m) => stickyCounts(m.sc.adminPort)));
  assert.ok(counts.every((x) => x.forwarded > 0), `every member forwarded: ${JSON.stringify(counts)}`);
  assert.equal(counts.reduce((n, x) => n + x.invalid + x.remapped, 0), 0, JSON.stringify(counts));
  t.diagnostic(`sessions per member ${JSON.stringify(perMember)}; sticky ${JSON.stringify(counts)}`);
});

// A logout clears the cookie: the deletion passes unprefixed, and the next request is a new
// session (balanced), never an error.
test('a cleared session cookie stays cleared (no prefix on the deletion)', { timeout: 60000 }, async (t) => {
  const { members } = await startSidecars(t, ['pod-a'], 2);
  const port = members[0].sc.port;
  const jar = new CookieJar();
  jar.store(await request(port, { path: '/login?user=z' }));
  assert.match(jar.get('connect.sid'), kRouted);
  const out = await request(port, { path: '/logout', headers: jar.headers() });
  assert.equal(out.status, 200);
  const cleared = setCookies(out).map(parseSetCookie).find((c) => c.name === 'connect.sid');
  assert.ok(cleared, `logout clears the cookie: ${JSON.stringify(setCookies(out))}`);
  assert.equal(cleared.value, '', cleared.raw);
  assert.match(cleared.raw, /Expires=Thu, 01 Jan 1970 00:00:00 GMT/);
  jar.store(out);
  assert.equal(jar.get('connect.sid'), undefined);
  const me = await request(port, { path: '/me', headers: jar.headers() });
  assert.equal(me.status, 200);
  assert.equal(JSON.parse(me.text).user, null);
  await waitFor(async () => (await stickyCounts(members[0].sc.adminPort)).hit >= 1, { timeoutMs: 2000, what: 'the logout was a hit' });
});
