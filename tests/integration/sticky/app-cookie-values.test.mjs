// --sticky=app-cookie:sess with a cookie secret, against in-process backends that echo the Cookie
// fields they got and set the cookie their request asks for (?sc=...): the response's cookie is
// prefixed with a signed route of the backend that set it, and the route is taken off before the
// backend reads the request. Values without a valid route (set before the sidecar, forged,
// truncated, signed with another secret) fall back to the hash of the app's value: 200, the app
// reads its own value, and the session still lands on one backend.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { freePort } from '../lib/backends.mjs';
import { get, namedBackends, stickySetCookies, parseSetCookie, stickyCounts, tempDir, decodeCookieValue } from './lib/sticky.mjs';

const kSecret = 'app-cookie-test-secret-0123456789';

async function start(t) {
  const s = scope(t);
  const secretFile = path.join(tempDir(t), 'secret');
  fs.writeFileSync(secretFile, `${kSecret}\n`);
  const bs = await namedBackends(s, ['a', 'b', 'c', 'd']);
  const sc = await s.sidecar([backendsFlag(...bs), '--sticky=app-cookie:sess', `--cookie-secret-file=${secretFile}`, '--member-id=pod-a']);
  return { sc, bs };
}

const withSess = (value) => ({ headers: { cookie: `theme=dark; sess=${value}` } });
const seen = (r) => r.json.cookieFields.join('; ');

// Where a session set by the app lands, and the value the client keeps.
async function issue(sc, appValue, attrs = '; Path=/; HttpOnly') {
  const r = await get(sc.port, { path: `/?sc=${encodeURIComponent(`sess=${appValue}${attrs}`)}` });
  const set = stickySetCookies(r, 'sess');
  assert.equal(set.length, 1, JSON.stringify(set));
  return { backend: r.backend, kept: parseSetCookie(set[0]).value, raw: set[0] };
}

test('a cookie the app sets keeps its attributes and routes back to its backend, which reads its own value', async (t) => {
  const { sc } = await start(t);
  const issued = new Map();
  for (let i = 0; i < 12; i++) {
    const { backend, kept, raw } = await issue(sc, `app${i}`, '; Path=/x; Domain=example.test; Max-Age=60; Secure; HttpOnly; SameSite=Strict');
    assert.match(kept, new RegExp(`^[A-Za-z0-9_-]{19}\\.[A-Za-z0-9_-]{14}~app${i}$`), 'a signed route, then the app value');
    assert.equal(raw, `sess=${kept}; Path=/x; Domain=example.test; Max-Age=60; Secure; HttpOnly; SameSite=Strict`);
    issued.set(kept, backend);
  }
  assert.ok(new Set(issued.values()).size >= 3, `new sessions were balanced: ${JSON.stringify([...issued.values()])}`);
  for (const [kept, backend] of issued) {
    for (let k = 0; k < 3; k++) {
      const r = await get(sc.port, withSess(kept));
      assert.equal(r.backend, backend, `${kept} back to ${backend}`);
      assert.equal(seen(r), `theme=dark; sess=${kept.slice(kept.indexOf('~') + 1)}`);
      assert.deepEqual(stickySetCookies(r, 'sess'), []);
    }
  }
  // A deletion passes untouched.
  const del = await get(sc.port, { path: `/?sc=${encodeURIComponent('sess=; Path=/; Max-Age=0')}` });
  assert.deepEqual(stickySetCookies(del, 'sess'), ['sess=; Path=/; Max-Age=0']);
});

test('forged, truncated, foreign-secret and pre-existing values fall back to the hash; the app reads its own value', async (t) => {
  const { sc } = await start(t);
  const { kept } = await issue(sc, 'mine');
  const route = kept.slice(0, kept.indexOf('~'));
  const { bytes } = decodeCookieValue(route);
  const foreignMac = crypto.createHmac('sha256', 'another-secret-0123456789').update(bytes).digest().subarray(0, 10).toString('base64url');
  const plainBackend = (await get(sc.port, withSess('appvalue'))).backend;
  const variants = {
    'pre-existing': 'appvalue',
    forged: `${route.slice(0, 20)}${'A'.repeat(14)}~appvalue`,
    truncated: `${route.slice(0, 11)}~appvalue`,
    'foreign secret': `${bytes.toString('base64url')}.${foreignMac}~appvalue`,
    'no MAC': `${bytes.toString('base64url')}~appvalue`,
  };
  const before = await stickyCounts(sc.adminPort);
  for (const [what, value] of Object.entries(variants)) {
    for (let k = 0; k < 4; k++) {
      const r = await get(sc.port, withSess(value));
      assert.equal(r.status, 200, what);
      assert.equal(r.backend, plainBackend, `${what}: hashed by the app's value`);
      assert.equal(seen(r), 'theme=dark; sess=appvalue', `${what}: the app reads its own value`);
    }
  }
  const after = await stickyCounts(sc.adminPort);
  assert.equal(after.invalid - before.invalid, 16, `four bad routes x 4 counted invalid: ${JSON.stringify(after)}`);
});

// A route naming a member whose sidecar cannot be reached is served here: the prefix still comes
// off (the app reads its own value), and the app's next cookie gets this member's route.
test('a route to an unreachable member is served here, and the app reads its own value', async (t) => {
  const s = scope(t);
  const dir = tempDir(t);
  const secretFile = path.join(dir, 'secret');
  fs.writeFileSync(secretFile, `${kSecret}\n`);
  const peersFile = path.join(dir, 'peers');
  const [portA, portB] = [await freePort(), await freePort()];
  fs.writeFileSync(peersFile, `pod-a 127.0.0.1:${portA} 2\npod-b 127.0.0.1:${portB} 2\n`);
  const common = ['--sticky=app-cookie:sess', `--cookie-secret-file=${secretFile}`, `--peers=${peersFile}`];
  const a = await s.sidecar([backendsFlag(...(await namedBackends(s, ['a0', 'a1']))), '--member-id=pod-a', `--peer-listen=127.0.0.1:${portA}`, ...common]);
  const b = await s.sidecar([backendsFlag(...(await namedBackends(s, ['b0', 'b1']))), '--member-id=pod-b', `--peer-listen=127.0.0.1:${portB}`, ...common]);
  const { kept, backend } = await issue(b, 'on-b');
  assert.match(backend, /^b[01]$/);
  // Through pod-a while pod-b is up: forwarded, and pod-b's backend reads its own value.
  const via = await get(a.port, withSess(kept));
  assert.equal(via.backend, backend);
  assert.equal(seen(via), 'theme=dark; sess=on-b');
  await b.stop('SIGINT', 3000);
  const r = await get(a.port, withSess(kept));
  assert.equal(r.status, 200);
  assert.match(r.backend, /^a[01]$/, 'served by pod-a');
  assert.equal(seen(r), 'theme=dark; sess=on-b', 'the prefix came off the fallback too');
});
