// A draining member (docs/sidecar-cli.md, "Draining members"): three proxy-only sidecars on
// 127.0.0.2, .3 and .4 (pod-a, pod-b, pod-c, two named backends each) share one --peers file
// whose state column marks pod-a draining. pod-a's existing sessions still reach pod-a's
// backends from any sidecar; a new session arriving at pod-a is placed on pod-b or pod-c (their
// cookie, their backend); once pod-a leaves the file its sessions are re-homed with one new
// cookie.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { freePort } from '../lib/backends.mjs';
import { waitFor } from '../lib/proc.mjs';
import {
  kCookie,
  get,
  dropCookie,
  stickySetCookies,
  stickyCounts,
  diffCounts,
  namedBackends,
  writeFileAtomic,
  tempDir,
  tableLoads,
  decodeCookieValue,
  histogram,
} from './lib/sticky.mjs';

const kHosts = { 'pod-a': '127.0.0.2', 'pod-b': '127.0.0.3', 'pod-c': '127.0.0.4' };

function peersFileText(members, states = {}) {
  return members.map((m) => `${m.id} ${m.host}:${m.peerPort} 2 ${states[m.id] ?? 'ready'}`).join('\n') + '\n';
}

// Rewrites the peers file and waits until every running member applied it.
async function rewrite(members, file, text) {
  const loads = members.map((m) => tableLoads(m.sc));
  writeFileAtomic(file, text);
  for (const [i, m] of members.entries()) {
    await waitFor(() => tableLoads(m.sc) > loads[i], { timeoutMs: 5000, what: `${m.id} to apply the new peers file` });
  }
}

test('a draining member keeps its sessions and hands new ones to ready members; removed, its sessions re-home', async (t) => {
  const s = scope(t);
  const dir = tempDir(t);
  const file = path.join(dir, 'peers');
  const members = [];
  for (const [id, host] of Object.entries(kHosts)) {
    const letter = id.slice(-1);
    members.push({ id, host, peerPort: await freePort(host), backends: await namedBackends(s, [`${letter}0`, `${letter}1`]) });
  }
  writeFileAtomic(file, peersFileText(members));
  for (const m of members) {
    m.sc = await s.sidecar([backendsFlag(...m.backends), `--listen=${m.host}:0`, `--member-id=${m.id}`, `--peer-listen=${m.host}:${m.peerPort}`, `--peers=${file}`]);
    await waitFor(() => /peers on /.test(m.sc.stderr), { timeoutMs: 5000, what: `${m.id}'s peer line` });
  }
  const [a, b, c] = members;
  const via = (m, opts = {}) => get(m.sc.port, { host: m.host, ...opts });
  const withCookie = (value) => ({ headers: { cookie: `${kCookie}=${value}` } });

  // pod-a's session, issued while it was ready; and the member hash each cookie names.
  const first = await via(a);
  const sessA = dropCookie(first);
  assert.match(first.backend, /^a[01]$/);
  const hashOf = {};
  hashOf['pod-a'] = decodeCookieValue(sessA).member;
  for (const m of [b, c]) hashOf[m.id] = decodeCookieValue(dropCookie(await via(m))).member;

  await rewrite(members, file, peersFileText(members, { 'pod-a': 'draining' }));
  const status = JSON.parse((await get(a.sc.adminPort, { path: '/status' })).text);
  assert.deepEqual(status.membership.members.map((x) => [x.id, x.state]), [['pod-a', 'draining'], ['pod-b', 'ready'], ['pod-c', 'ready']]);

  // The old session still reaches pod-a's worker, through pod-b and directly; no new cookie.
  for (const m of [b, a]) {
    const r = await via(m, withCookie(sessA));
    assert.equal(r.status, 200);
    assert.equal(r.backend, first.backend, `pod-a's session through ${m.id}`);
    assert.equal(dropCookie(r), undefined, `no new cookie through ${m.id}`);
  }

  // New sessions at pod-a go to pod-b and pod-c (2 slots each: alternately), with their cookies.
  const before = { a: await stickyCounts(a.sc.adminPort), b: await stickyCounts(b.sc.adminPort), c: await stickyCounts(c.sc.adminPort) };
  const owners = [];
  for (let i = 0; i < 10; i++) {
    const r = await via(a, i % 2 ? withCookie('garbage%%') : {});
    assert.equal(r.status, 200);
    const set = stickySetCookies(r);
    assert.equal(set.length, 1, `one Set-Cookie: ${JSON.stringify(set)}`);
    const owner = Object.keys(hashOf).find((id) => hashOf[id] === decodeCookieValue(dropCookie(r)).member);
    assert.ok(owner === 'pod-b' || owner === 'pod-c', `new session placed on ${owner}`);
    assert.equal(r.backend[0], owner.slice(-1), `served by ${owner}'s backend, not ${r.backend}`);
    assert.deepEqual(r.json.cookieFields, [], 'the app never sees DROVERID');
    owners.push(owner);
  }
  assert.deepEqual(histogram(owners), { 'pod-b': 5, 'pod-c': 5 }, 'evenly by slots');
  const dA = diffCounts(before.a, await stickyCounts(a.sc.adminPort));
  const dB = diffCounts(before.b, await stickyCounts(b.sc.adminPort));
  const dC = diffCounts(before.c, await stickyCounts(c.sc.adminPort));
  assert.equal(dA.forwarded, 10, `pod-a forwarded every new session: ${JSON.stringify(dA)}`);
  assert.equal(dB.new + dC.new, 10, `pod-b and pod-c placed them: ${JSON.stringify([dB, dC])}`);
  assert.equal(dB.forwarded + dC.forwarded, 0, 'placed where they landed (one hop)');

  // pod-a leaves the table: its session is re-homed by pod-b with one new cookie naming pod-b.
  await rewrite([b, c], file, peersFileText([b, c]));
  const moved = await via(b, withCookie(sessA));
  assert.equal(moved.status, 200);
  assert.match(moved.backend, /^b[01]$/);
  const set = stickySetCookies(moved);
  assert.equal(set.length, 1, `one new cookie: ${JSON.stringify(set)}`);
  assert.equal(decodeCookieValue(dropCookie(moved)).member, hashOf['pod-b']);
  const again = await via(b, withCookie(dropCookie(moved)));
  assert.deepEqual([again.backend, dropCookie(again)], [moved.backend, undefined], 'a plain hit from then on');
});
