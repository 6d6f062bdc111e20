// droverctl against a fake drover.v1.Admin server (fake-admin.mjs): the command line
// (docs/droverctl.md), exit codes, tables, JSON, the bearer token, the requests each command
// sends, streaming restart progress and status --watch. The real controller end to end is
// tested with the Admin service itself.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  kToken,
  startFakeAdmin,
  grpcError,
  runCtl,
  spawnCtl,
  stdoutMatches,
  droverctlBinary,
  makeCertificates,
} from './fake-admin.mjs';
import { track, withDeadline } from '../lib/proc.mjs';
import { REPO_ROOT } from '../lib/sidecar.mjs';

const kVersion = '0123456789abcdef';
const kGiB = 1024 * 1024 * 1024;

const kStatus = {
  namespace: 'shop',
  groups: [{ group: 'web', version: kVersion, members: 3, sidecars_at_version: 1 }],
  members: [
    {
      id: 'web-7d9f-abcde', group: 'web', state: 'READY', address: '127.0.1.1:8081', slots: 4,
      connected: true, controller: 'drover-controller-0', applied_version: kVersion,
      workers_ready: 4, workers_total: 4, rss_bytes: String(1.5 * kGiB), outstanding_requests: 3,
      requests_total: '10234', restarts: '1',
    },
    {
      id: 'web-7d9f-fghij', group: 'web', state: 'DRAINING', drain_annotation: true,
      address: '127.0.1.2:8081', slots: 2, connected: false,
    },
    {
      id: 'web-7d9f-klmnopqrstu', group: 'web', state: 'READY', address: '127.0.1.3:8081', slots: 2,
      connected: true, controller: 'drover-controller-1', applied_version: 'fedcba9876543210',
      workers_ready: 1, workers_total: 2, rss_bytes: String(300 * 1024 * 1024),
      outstanding_requests: 0, requests_total: '2500000', restarts: '0',
      reload: { phase: 'RUNNING', slots_done: 1, slots_total: 2 },
    },
  ],
  replicas: [
    { name: 'drover-controller-0', address: '127.0.2.1:7000', reachable: true, synced: true, watching: true, subscribers: 1 },
    { name: 'drover-controller-1', address: '127.0.2.2:7000', reachable: false, error: 'connection refused' },
  ],
  excluded: ['web-bad: drover.io/workers annotation missing'],
};

const ok = (reply) => (call, callback) => callback(null, reply);

function tmpFile(t, name, text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'droverctl-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function lines(text) {
  return text.split('\n').filter((l) => l.trim() !== '');
}

// The table starting at the line whose first word is `firstHeader`: its header and rows, up to
// the next blank line.
function table(text, firstHeader) {
  const all = text.split('\n');
  const start = all.findIndex((l) => l.startsWith(`${firstHeader} `));
  assert.ok(start >= 0, `no table with header ${firstHeader} in:\n${text}`);
  const rows = [];
  for (let i = start + 1; i < all.length && all[i].trim() !== ''; i++) rows.push(all[i]);
  return { header: all[start], rows };
}

// Every column starts at the same offset in the header and in each row, after a space.
function assertAligned({ header, rows }) {
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index);
  for (const row of rows) {
    for (const at of starts) {
      assert.notEqual(row[at] ?? ' ', ' ', `column at ${at} empty or misaligned:\n${header}\n${row}`);
      if (at > 0) assert.equal(row[at - 1], ' ', `column at ${at} misaligned:\n${header}\n${row}`);
    }
    assert.equal(row, row.trimEnd(), 'no trailing spaces');
  }
}

// Cells of a row, by the header's column offsets.
function cells(header, row) {
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index);
  return starts.map((at, i) => row.slice(at, starts[i + 1]).trim());
}

const withToken = { env: { DROVER_TOKEN: kToken } };

// --help documents the commands, the global flags, the environment and the exit codes.
test('--help exits 0 and lists every command and global flag', async () => {
  const r = await runCtl(['--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const word of ['status', 'members', 'scale', 'drain', 'undrain', 'restart', 'addr', 'token_file',
    'tls_ca', 'tls_cert', 'tls_key', 'timeout', 'json', 'namespace', 'DROVER_ADDR', 'DROVER_TOKEN',
    'Exit codes']) {
    assert.ok(r.stdout.includes(word), `--help does not mention ${word}:\n${r.stdout}`);
  }
});

// Every flag in docs/droverctl.md's table is one droverctl knows, and the other way round.
test('docs/droverctl.md documents every flag of --help', async () => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/droverctl.md'), 'utf8');
  const documented = new Set();
  for (const row of doc.matchAll(/^\|\s*(`-[^|]*)\|/gm)) {
    for (const m of row[1].matchAll(/`--([a-z0-9-]+)`/g)) documented.add(m[1].replace(/-/g, '_'));
  }
  const r = await runCtl(['--help']);
  const listed = new Set([...r.stdout.matchAll(/^ {4}--([a-z0-9_]+) \(/gm)].map((m) => m[1]));
  assert.ok(listed.size >= 16, `flags in --help: ${[...listed]}`);
  assert.deepEqual([...listed].filter((f) => !documented.has(f)), [], 'flags missing from the doc');
  assert.deepEqual([...documented].filter((f) => !listed.has(f)), [], 'documented flags droverctl lacks');
});

// Each command's --help shows its usage and its own flags, and exits 0; -h is the same.
test('COMMAND --help shows that command', async () => {
  const own = { status: ['--watch', '--interval'], members: ['--group'], scale: ['--replicas', 'deployment'],
    drain: ['POD'], undrain: ['POD'], restart: ['--all', '--member-timeout'] };
  for (const [command, words] of Object.entries(own)) {
    for (const help of ['--help', '-h']) {
      const r = await runCtl([command, help]);
      assert.equal(r.code, 0, `${command} ${help}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Usage:\\n  droverctl ${command}`));
      for (const word of [...words, '--addr', '--token-file', '-n, --namespace']) {
        assert.ok(r.stdout.includes(word), `${command} --help does not mention ${word}:\n${r.stdout}`);
      }
    }
  }
});

const kBadInvocations = [
  { args: ['status', '--no-such-flag'], names: 'no-such-flag' },
  { args: ['frobnicate'], names: 'frobnicate' },
  { args: [], names: 'command' },
  { args: ['drain', 'web-1', '--replicas=3'], names: 'replicas' },
  { args: ['scale', 'web', '--replicas=3'], names: 'web' },
  { args: ['scale', 'pod/web', '--replicas=3'], names: 'pod' },
  { args: ['scale', 'deployment/', '--replicas=3'], names: 'deployment/' },
  { args: ['scale', 'deployment/web', '--replicas=-2'], names: 'replicas' },
  { args: ['scale', 'deployment/web', '--replicas=lots'], names: 'replicas' },
  { args: ['drain'], names: 'drain' },
  { args: ['drain', 'a', 'b'], names: 'drain' },
  { args: ['restart'], names: 'restart' },
  { args: ['restart', 'web-1', '--all'], names: 'restart' },
  { args: ['status', '--timeout=soon'], names: 'timeout' },
  { args: ['status', '--interval=0s', '--watch'], names: 'interval' },
  { args: ['status', '--token-file=/nonexistent/token'], names: 'token-file' },
  { args: ['status', '--tls-cert=/tmp/x.pem'], names: 'tls' },
];

// A usage error exits 2 with one line that names what was wrong, before any call is made.
test('usage errors exit 2 with one line naming the problem', async (t) => {
  for (const c of kBadInvocations) {
    await t.test(c.args.join(' ') || '(no arguments)', async () => {
      const r = await runCtl(['--addr=127.0.0.1:1', ...c.args]);
      assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
      const err = lines(r.stderr);
      assert.equal(err.length, 1, `one stderr line, got:\n${r.stderr}`);
      assert.ok(err[0].startsWith('droverctl: '), err[0]);
      assert.ok(err[0].includes(c.names), `"${err[0]}" does not name ${c.names}`);
      assert.equal(r.stdout, '');
    });
  }
});

// Nothing listening: exit 3 and a message naming the address and what to check.
test('an unreachable controller exits 3 naming the address', async () => {
  const r = await runCtl(['status', '--addr=127.0.0.1:1']);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /127\.0\.0\.1:1/);
  assert.match(r.stderr, /--addr/);
  assert.match(r.stderr, /UNAVAILABLE/);
  // gRPC's own logging stays quiet: two lines, both ours.
  assert.deepEqual(lines(r.stderr).map((l) => l.startsWith('droverctl: ')), [true, true]);
});

// The status tables: aligned columns, human units, short versions, missing figures as "-".
test('status prints aligned member, group, replica and excluded tables', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  const r = await runCtl(['status', `--addr=${admin.addr}`, '-n', 'shop'], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls[0].request.namespace, 'shop');

  const members = table(r.stdout, 'MEMBER');
  assert.deepEqual(members.header.split(/\s+/),
    ['MEMBER', 'GROUP', 'STATE', 'WORKERS', 'RSS', 'INFLIGHT', 'REQUESTS', 'RESTARTS', 'VERSION', 'CONTROLLER']);
  assert.equal(members.rows.length, 3);
  assertAligned(members);
  assert.deepEqual(cells(members.header, members.rows[0]),
    ['web-7d9f-abcde', 'web', 'READY', '4/4', '1.5GiB', '3', '10234', '1', '01234567', 'drover-controller-0']);
  assert.deepEqual(cells(members.header, members.rows[1]),
    ['web-7d9f-fghij', 'web', 'DRAINED', '-', '-', '-', '-', '-', '-', '<none>']);
  assert.deepEqual(cells(members.header, members.rows[2]),
    ['web-7d9f-klmnopqrstu', 'web', 'READY,RELOADING', '1/2', '300MiB', '0', '2.5M', '0', 'fedcba98', 'drover-controller-1']);

  const groups = table(r.stdout, 'GROUP');
  assert.deepEqual(groups.header.split(/\s+/), ['GROUP', 'VERSION', 'MEMBERS', 'AT-VERSION']);
  assert.deepEqual(cells(groups.header, groups.rows[0]), ['web', '01234567', '3', '1/3']);

  const replicas = table(r.stdout, 'REPLICA');
  assert.deepEqual(replicas.header.split(/\s+/), ['REPLICA', 'ADDRESS', 'SYNCED', 'WATCHING', 'SUBSCRIBERS', 'ERROR']);
  assertAligned({ header: replicas.header, rows: replicas.rows.slice(0, 1) });
  assert.deepEqual(cells(replicas.header, replicas.rows[0]), ['drover-controller-0', '127.0.2.1:7000', 'yes', 'yes', '1', '<none>']);
  assert.match(replicas.rows[1], /unreachable: connection refused$/);

  const excluded = table(r.stdout, 'EXCLUDED');
  assert.deepEqual(cells(excluded.header, excluded.rows[0]), ['web-bad', 'drover.io/workers annotation missing']);
});

// --json is protobuf's JSON mapping of the reply, every field present even at its default.
test('status --json prints the reply in protobuf JSON mapping', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  const r = await runCtl(['status', `--addr=${admin.addr}`, '--json'], withToken);
  assert.equal(r.code, 0, r.stderr);
  const reply = JSON.parse(r.stdout);
  assert.equal(reply.namespace, 'shop');
  assert.equal(reply.members.length, 3);
  assert.equal(reply.members[0].workersReady, 4);
  assert.equal(reply.members[0].rssBytes, String(1.5 * kGiB), '64-bit integers as strings');
  assert.equal(reply.members[0].state, 'READY');
  assert.equal(reply.members[1].connected, false, 'defaults are printed');
  assert.equal(reply.members[1].workersReady, 0, 'defaults are printed');
  assert.equal(reply.groups[0].sidecarsAtVersion, 1);
  assert.deepEqual(reply.excluded, kStatus.excluded);
});

// The token travels as `authorization: Bearer <token>`, from --token-file or DROVER_TOKEN, and
// the file wins when both are given.
test('the bearer token comes from --token-file or DROVER_TOKEN', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  const file = tmpFile(t, 'token', `${kToken}\n`);

  let r = await runCtl(['status', `--addr=${admin.addr}`, `--token-file=${file}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.at(-1).authorization, `Bearer ${kToken}`);

  r = await runCtl(['status', `--addr=${admin.addr}`], { env: { DROVER_TOKEN: kToken } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.at(-1).authorization, `Bearer ${kToken}`);

  r = await runCtl(['status', `--addr=${admin.addr}`, `--token-file=${file}`], { env: { DROVER_TOKEN: 'not-this-one' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.at(-1).authorization, `Bearer ${kToken}`);
});

// DROVER_ADDR stands in for --addr; --addr wins over it.
test('DROVER_ADDR is the default address', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  let r = await runCtl(['status'], { env: { DROVER_ADDR: admin.addr, DROVER_TOKEN: kToken } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.length, 1);
  r = await runCtl(['status', `--addr=${admin.addr}`], { env: { DROVER_ADDR: '127.0.0.1:1', DROVER_TOKEN: kToken } });
  assert.equal(r.code, 0, r.stderr);
});

// A refused token: exit 1, the code, the controller's message and what to do.
test('UNAUTHENTICATED exits 1 with a hint about the token', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  for (const env of [{}, { DROVER_TOKEN: 'wrong' }]) {
    const r = await runCtl(['status', `--addr=${admin.addr}`], { env });
    assert.equal(r.code, 1, r.stderr);
    const err = lines(r.stderr);
    assert.equal(err.length, 2, r.stderr);
    assert.equal(err[0], 'droverctl: UNAUTHENTICATED: missing or wrong admin token');
    assert.match(err[1], /--token-file or DROVER_TOKEN/);
    assert.equal(r.stdout, '');
  }
  assert.equal(admin.calls.at(-1).authorization, 'Bearer wrong');
});

// The controller's refusals: exit 1, its message, and a hint per code; UNAVAILABLE sent by a
// controller that answered is not "unreachable".
test('controller errors exit 1 with the code, the message and a hint', async (t) => {
  const cases = [
    { code: 'NOT_FOUND', details: 'pod web-x not found in namespace shop', hint: /namespace/ },
    { code: 'FAILED_PRECONDITION', details: 'member web-x has no connected sidecar', hint: /is the member's sidecar connected\? see droverctl status/ },
    { code: 'PERMISSION_DENIED', details: 'the cluster API refused: pods is forbidden', hint: /Role/ },
    { code: 'UNAVAILABLE', details: 'cluster API unreachable', hint: /cluster API/ },
  ];
  for (const c of cases) {
    const admin = await startFakeAdmin(t, { Drain: (call, cb) => cb(grpcError(c.code, c.details)) });
    const r = await runCtl(['drain', 'web-x', '-n', 'shop', `--addr=${admin.addr}`], withToken);
    assert.equal(r.code, 1, `${c.code}: ${r.stderr}`);
    const err = lines(r.stderr);
    assert.equal(err[0], `droverctl: ${c.code}: ${c.details}`);
    assert.match(err[1], c.hint);
  }
});

// A controller that never answers: our --timeout passes before any reply, exit 3.
test('no answer within --timeout exits 3', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: () => {} });
  const r = await runCtl(['status', `--addr=${admin.addr}`, '--timeout=300ms'], withToken);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /DEADLINE_EXCEEDED/);
  assert.ok(r.stderr.includes(admin.addr), r.stderr);
});

// scale sends the kind, name, namespace and replicas, and answers like kubectl.
test('scale sends the workload and prints "scaled to"', async (t) => {
  const admin = await startFakeAdmin(t, {
    Scale: (call, cb) => cb(null, { ...call.request, ready_replicas: 1, selector: 'app=web' }),
    GetScale: (call, cb) => cb(null, { ...call.request, replicas: 3, ready_replicas: 2, selector: 'app=web' }),
  });
  const cases = [
    { args: ['deployment/web'], kind: 'DEPLOYMENT', shown: 'deployment.apps/web' },
    { args: ['deploy/web'], kind: 'DEPLOYMENT', shown: 'deployment.apps/web' },
    { args: ['statefulset/db'], kind: 'STATEFULSET', shown: 'statefulset.apps/db' },
    { args: ['sts/db'], kind: 'STATEFULSET', shown: 'statefulset.apps/db' },
  ];
  for (const c of cases) {
    const r = await runCtl(['scale', ...c.args, '--replicas=3', '-n', 'shop', `--addr=${admin.addr}`], withToken);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${c.shown} scaled to 3\n`);
    const call = admin.calls.at(-1);
    assert.equal(call.method, 'Scale');
    assert.deepEqual(
      { namespace: call.request.namespace, kind: call.request.kind, name: call.request.name, replicas: call.request.replicas },
      { namespace: 'shop', kind: c.kind, name: c.shown.split('/')[1], replicas: 3 });
  }
  // Zero is a real value, not "unset".
  let r = await runCtl(['scale', 'deployment/web', '--replicas', '0', `--addr=${admin.addr}`], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.at(-1).request.replicas, 0);
  assert.equal(admin.calls.at(-1).request.namespace, '', 'no -n: the controller\'s namespace');

  // Without --replicas: GetScale, shown as a table.
  r = await runCtl(['scale', 'deployment/web', '-n', 'shop', `--addr=${admin.addr}`], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.at(-1).method, 'GetScale');
  const t1 = table(r.stdout, 'NAME');
  assert.deepEqual(cells(t1.header, t1.rows[0]), ['deployment.apps/web', '3', '2', 'app=web']);

  r = await runCtl(['scale', 'sts/db', '--replicas=2', '--json', `--addr=${admin.addr}`], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout),
    { namespace: '', kind: 'STATEFULSET', name: 'db', replicas: 2, readyReplicas: 1, selector: 'app=web' });
});

// drain and undrain name the member and say whether anything changed, as kubectl cordon does.
test('drain and undrain print what happened', async (t) => {
  const drained = new Set();
  const toggle = (want) => (call, cb) => {
    const was = drained.has(call.request.member);
    if (want) drained.add(call.request.member);
    else drained.delete(call.request.member);
    cb(null, { member: call.request.member, drain_annotation: want, changed: was !== want });
  };
  const admin = await startFakeAdmin(t, { Drain: toggle(true), Undrain: toggle(false) });
  const run = (...args) => runCtl([...args, '-n', 'shop', `--addr=${admin.addr}`], withToken);
  assert.equal((await run('drain', 'web-1')).stdout, 'member web-1 drained\n');
  assert.deepEqual(admin.calls.at(-1).request, { namespace: 'shop', member: 'web-1' });
  assert.equal((await run('drain', 'web-1')).stdout, 'member web-1 already drained\n');
  assert.equal((await run('undrain', 'web-1')).stdout, 'member web-1 undrained\n');
  assert.equal(admin.calls.at(-1).method, 'Undrain');
  assert.equal((await run('undrain', 'web-1')).stdout, 'member web-1 already undrained\n');
});

// members: ListMembers with the group filter, as a table.
test('members sends the group and prints a table', async (t) => {
  const admin = await startFakeAdmin(t, { ListMembers: ok({ members: kStatus.members }) });
  const r = await runCtl(['members', '--group=web', '-n', 'shop', `--addr=${admin.addr}`], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(admin.calls[0].request, { namespace: 'shop', group: 'web' });
  const m = table(r.stdout, 'MEMBER');
  assert.deepEqual(m.header.split(/\s+/), ['MEMBER', 'GROUP', 'STATE', 'ADDRESS', 'SLOTS', 'WORKERS', 'VERSION', 'CONTROLLER']);
  assertAligned(m);
  assert.deepEqual(cells(m.header, m.rows[0]),
    ['web-7d9f-abcde', 'web', 'READY', '127.0.1.1:8081', '4', '4/4', '01234567', 'drover-controller-0']);
});

function progress(member, phase, done, total, extra = {}) {
  return { member, reload: { phase, slots_done: done, slots_total: total, ...extra.reload }, members_done: extra.membersDone ?? 0, members_total: extra.membersTotal ?? 2 };
}

// restart --all prints each progress message as it arrives: the second message is only sent
// once droverctl has printed the first.
test('restart --all streams progress lines as they arrive', async (t) => {
  let printedFirst;
  const firstSeen = new Promise((resolve) => { printedFirst = resolve; });
  const admin = await startFakeAdmin(t, {
    RestartWorkers: async (call) => {
      call.write(progress('web-a', 'RUNNING', 1, 2));
      await firstSeen;
      call.write(progress('web-a', 'SUCCEEDED', 2, 2, { membersDone: 1 }));
      call.write(progress('web-b', 'RUNNING', 0, 2, { membersDone: 1 }));
      call.write(progress('web-b', 'RUNNING', 1, 2, { membersDone: 1 }));
      call.write(progress('web-b', 'SUCCEEDED', 2, 2, { membersDone: 2 }));
      call.end();
    },
  });
  const { child, done } = spawnCtl(['restart', '--all', '-n', 'shop', '--member-timeout=90s', `--addr=${admin.addr}`], withToken);
  await stdoutMatches(child, (out) => out.includes('web-a: 1/2 slots reloaded\n'), 'the first progress line');
  printedFirst();
  const r = await withDeadline(done, 10000, 'droverctl restart --all');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    'web-a: 1/2 slots reloaded',
    'web-a: reloaded (2/2)',
    'web-b: 0/2 slots reloaded',
    'web-b: 1/2 slots reloaded',
    'web-b: reloaded (2/2)',
    'restart: 2 of 2 members reloaded',
  ]);
  assert.deepEqual(admin.calls[0].request, { namespace: 'shop', member: '', all: true, member_timeout_seconds: 90 });
});

// One member's failed reload: its FAILED line, and exit 1. --json: one object per message.
test('restart exits 1 when a member\'s reload failed', async (t) => {
  const admin = await startFakeAdmin(t, {
    RestartWorkers: (call) => {
      call.write(progress('web-a', 'SUCCEEDED', 2, 2, { membersDone: 1 }));
      call.write(progress('web-b', 'FAILED', 1, 2, { membersDone: 2, reload: { error: 'slot 1 never became ready' } }));
      call.end();
    },
  });
  let r = await runCtl(['restart', '--all', `--addr=${admin.addr}`], withToken);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(lines(r.stdout), ['web-a: reloaded (2/2)', 'web-b: FAILED: slot 1 never became ready']);
  assert.match(r.stderr, /web-b/);

  r = await runCtl(['restart', 'web-b', '--json', `--addr=${admin.addr}`], withToken);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(admin.calls.at(-1).request, { namespace: '', member: 'web-b', all: false, member_timeout_seconds: 0 });
  const objects = lines(r.stdout).map((l) => JSON.parse(l));
  assert.equal(objects.length, 2);
  assert.equal(objects[1].member, 'web-b');
  assert.equal(objects[1].reload.phase, 'FAILED');
  assert.equal(objects[1].reload.error, 'slot 1 never became ready');
});

// --watch without a terminal: each refresh after a blank line, no escape sequences.
test('status --watch --watch-count=2 prints two refreshes', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  const r = await runCtl(['status', '--watch', '--watch-count=2', '--interval=50ms', `--addr=${admin.addr}`], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.length, 2);
  assert.ok(!r.stdout.includes('\x1b'), 'no ANSI escapes when stdout is not a terminal');
  const headers = r.stdout.split('\n').filter((l) => l.startsWith('MEMBER '));
  assert.equal(headers.length, 2);
  assert.ok(r.stdout.includes('\n\nMEMBER '), 'the second refresh follows a blank line');

  const j = await runCtl(['status', '--watch-count=2', '--interval=50ms', '--json', `--addr=${admin.addr}`], withToken);
  assert.equal(j.code, 0, j.stderr);
  const objects = lines(j.stdout).map((l) => JSON.parse(l));
  assert.equal(objects.length, 2);
  assert.equal(objects[1].namespace, 'shop');
});

// Ctrl-C is how a watch ends: exit 0.
test('status --watch exits 0 on SIGINT', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  const { child, done } = spawnCtl(['status', '--watch', '--interval=100ms', `--addr=${admin.addr}`], withToken);
  await stdoutMatches(child, (out) => out.split('MEMBER ').length > 2, 'two refreshes');
  child.kill('SIGINT');
  const r = await withDeadline(done, 10000, 'droverctl to exit after SIGINT');
  assert.equal(r.signal, null);
  assert.equal(r.code, 0, r.stderr);
});

// On a terminal the screen is redrawn in place (cursor home, clear to end), like pm2 monit.
test('status --watch on a terminal redraws in place', async (t) => {
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) });
  const command = [droverctlBinary(), 'status', '--watch-count=2', '--interval=50ms', `--addr=${admin.addr}`]
    .map((a) => `'${a}'`).join(' ');
  // script(1) gives droverctl a pseudo-terminal as stdout.
  const child = track(spawn('script', ['-qec', command, '/dev/null'], {
    env: { ...process.env, DROVER_TOKEN: kToken }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const code = await withDeadline(new Promise((resolve) => child.once('close', resolve)), 10000, 'script');
  assert.equal(code, 0, out);
  assert.ok(out.includes('\x1b[H\x1b[2J'), 'clears the screen once');
  assert.equal(out.split('\x1b[H').length - 1, 3, 'home before each of the two frames (and the first clear)');
  assert.ok(out.includes('\x1b[J'), 'clears what the previous frame left below');
  assert.match(out, /Every 50ms: droverctl status/);
});

// --tls-ca verifies the controller's certificate (here issued for the Service name, reached
// through 127.0.0.1 as with kubectl port-forward, hence --tls-server-name); a plaintext client
// or a wrong name never gets through.
test('TLS with --tls-ca and --tls-server-name', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'droverctl-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const name = 'drover-controller.drover.svc';
  const certs = makeCertificates(dir, name);
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) }, { credentials: certs.credentials });
  const base = ['status', `--addr=${admin.addr}`, '--timeout=5s'];

  let r = await runCtl([...base, `--tls-ca=${certs.ca}`, `--tls-server-name=${name}`], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.at(-1).authorization, `Bearer ${kToken}`, 'the token travels over TLS too');

  r = await runCtl(base, withToken);
  assert.equal(r.code, 3, `plaintext to a TLS port: ${r.stderr}`);
  assert.ok(r.stderr.includes(admin.addr), r.stderr);

  r = await runCtl([...base, `--tls-ca=${certs.ca}`], withToken);
  assert.equal(r.code, 3, `certificate without 127.0.0.1: ${r.stderr}`);
});

// mTLS: the controller asks for a client certificate; --tls-cert and --tls-key present it.
test('mTLS with --tls-cert and --tls-key', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'droverctl-mtls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const name = 'drover-controller.drover.svc';
  const certs = makeCertificates(dir, name, { requireClient: true });
  const admin = await startFakeAdmin(t, { GetStatus: ok(kStatus) }, { credentials: certs.credentials });
  const base = ['status', `--addr=${admin.addr}`, '--timeout=5s', `--tls-ca=${certs.ca}`, `--tls-server-name=${name}`];

  let r = await runCtl([...base, `--tls-cert=${certs.clientCert}`, `--tls-key=${certs.clientKey}`], withToken);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(admin.calls.length, 1);

  r = await runCtl(base, withToken);
  assert.notEqual(r.code, 0, 'without a client certificate the call must fail');
  assert.equal(admin.calls.length, 1, 'and never reach the service');
});
