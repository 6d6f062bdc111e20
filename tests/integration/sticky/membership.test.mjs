// The membership apply path (docs/sidecar-cli.md, "Member table"): /status shows the table in
// force, its source, version and time; drover_membership_* metrics count what was applied and
// refused; a table giving this member another slot count than it runs is refused (the previous
// table stays), and at start it is a fatal error naming both counts.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { runSidecar } from '../lib/sidecar.mjs';
import { freePort, request, scrape, metricSum } from '../lib/backends.mjs';
import { waitFor } from '../lib/proc.mjs';
import { writeFileAtomic, tempDir, tableLoads } from './lib/sticky.mjs';

async function status(sc) {
  const r = await request(sc.adminPort, { path: '/status' });
  assert.equal(r.status, 200);
  return JSON.parse(r.text);
}

async function membershipMetrics(sc) {
  const m = await scrape(sc.adminPort);
  return {
    applied: metricSum(m, 'drover_membership_updates_total', { result: 'applied' }),
    rejected: metricSum(m, 'drover_membership_updates_total', { result: 'rejected' }),
    versions: m.samples.filter((s) => s.name === 'drover_membership_version_info').map((s) => [s.labels.version, s.value]),
    types: [m.types.drover_membership_updates_total, m.types.drover_membership_version_info],
  };
}

// Without --peers /status says so, and no version series exists.
test('without --peers: membership source none, no version', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  const st = await status(sc);
  assert.deepEqual(st.membership, { source: 'none', version: null, applied_at: null, members: [] });
  const m = await membershipMetrics(sc);
  assert.deepEqual([m.applied, m.rejected, m.versions], [0, 0, []]);
});

// A --peers table shows in /status and the metrics; a new file replaces the version series;
// a table giving this member 3 slots while it runs 2 is refused and the previous one stays.
test('--peers: /status and metrics follow the applied table; a wrong slot count is refused', async (t) => {
  const s = scope(t);
  const dir = tempDir(t);
  const peers = path.join(dir, 'peers');
  const [pa, pb] = [await freePort(), await freePort()];
  writeFileAtomic(peers, `pod-a 127.0.0.1:${pa} 2\npod-b 127.0.0.1:${pb} 4\n`);
  const bs = [await s.httpBackend(), await s.httpBackend()];
  const t0 = Date.now();
  const sc = await s.sidecar([backendsFlag(...bs), '--member-id=pod-a', `--peer-listen=127.0.0.1:${pa}`, `--peers=${peers}`]);
  const first = (await status(sc)).membership;
  assert.equal(first.source, 'file');
  assert.match(first.version, /^[0-9a-f]{16}$/);
  assert.match(first.applied_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.ok(Math.abs(Date.parse(first.applied_at) - t0) < 10000, `applied_at ${first.applied_at} is about now`);
  assert.deepEqual(first.members, [
    { id: 'pod-a', state: 'ready', slots: 2, address: `127.0.0.1:${pa}` },
    { id: 'pod-b', state: 'ready', slots: 4, address: `127.0.0.1:${pb}` },
  ]);
  let m = await membershipMetrics(sc);
  assert.deepEqual(m.types, ['counter', 'gauge']);
  assert.deepEqual([m.applied, m.rejected, m.versions], [1, 0, [[first.version, 1]]]);

  const loads = tableLoads(sc);
  writeFileAtomic(peers, `pod-a 127.0.0.1:${pa} 2\n`);
  await waitFor(() => tableLoads(sc) > loads, { timeoutMs: 5000, what: 'the second table to apply' });
  const second = (await status(sc)).membership;
  assert.notEqual(second.version, first.version);
  assert.deepEqual(second.members.map((x) => x.id), ['pod-a']);
  m = await membershipMetrics(sc);
  assert.deepEqual([m.applied, m.rejected, m.versions], [2, 0, [[second.version, 1]]], 'the old version series is gone');

  writeFileAtomic(peers, `pod-a 127.0.0.1:${pa} 3\npod-b 127.0.0.1:${pb} 4\n`);
  await waitFor(() => /member table refused: .*pod-a.* 3 slots, but this sidecar runs 2/.test(sc.stderr), { timeoutMs: 5000, what: 'the refusal line' });
  m = await membershipMetrics(sc);
  assert.deepEqual([m.applied, m.rejected, m.versions], [2, 1, [[second.version, 1]]]);
  assert.deepEqual((await status(sc)).membership, second, 'the previous table stays in force');
});

// At start a table that contradicts this sidecar's slot count is fatal: exit 2 naming --peers.
test('--peers with another slot count for this member exits 2 at start', async (t) => {
  const dir = tempDir(t);
  const peers = path.join(dir, 'peers');
  writeFileAtomic(peers, 'pod-a 127.0.0.1:7001 3\n');
  const r = await runSidecar(['--admin=', '--listen=127.0.0.1:0', '--backends=127.0.0.1:1,127.0.0.1:2', '--member-id=pod-a', `--peers=${peers}`]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^drover-sidecar: --peers: .*3 slots, but this sidecar runs 2$/m);
  assert.ok(!/listening on/.test(r.stderr));
});
