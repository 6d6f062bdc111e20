// End to end (issue 10): `droverctl restart` reloads a member's workers through the replica
// that does NOT hold its sidecar's stream (the Replica service forwards it), and `restart --all`
// reloads every member one at a time under a steady load with no failed request; an unknown
// member is NOT_FOUND, and a member whose sidecar is gone (its pod still there) is
// FAILED_PRECONDITION through either replica.

import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { adminCluster, podPids, waitFor, findSubscriber, NAMESPACE } from './lib.mjs';
import { request } from '../../integration/lib/backends.mjs';
import { dropCookie, kCookie } from '../../integration/sticky/lib/sticky.mjs';

// Samples each pod's worker pids (children of its sidecar, from /proc) every `intervalMs` and,
// at stop(), tells for each pod when its first new worker appeared (firstNew), when every slot
// had a new worker (allNew) and when its last original worker was gone (oldGone), in ms since
// the start, with the whole timeline for failure messages.
function samplePids(pods, intervalMs = 20) {
  const t0 = Date.now();
  const original = new Map(pods.map((p) => [p.name, new Set([...p.workerPids().values()].flat())]));
  const marks = new Map(pods.map((p) => [p.name, { firstNew: null, allNew: null, oldGone: null }]));
  const timeline = [];
  const take = () => {
    const t = Date.now() - t0;
    for (const p of pods) {
      const slots = p.workerPids();
      const now = [...slots.values()].flat();
      const orig = original.get(p.name);
      const m = marks.get(p.name);
      const fresh = now.filter((pid) => !orig.has(pid));
      if (m.firstNew === null && fresh.length > 0) {
        m.firstNew = t;
        timeline.push(`${t} ms: ${p.name} first new worker ${fresh.join(',')}`);
      }
      if (m.allNew === null && Array.from({ length: p.workers }, (_, i) => slots.get(i) ?? []).every((list) => list.some((pid) => !orig.has(pid)))) {
        m.allNew = t;
        timeline.push(`${t} ms: ${p.name} every slot has a new worker`);
      }
      if (m.oldGone === null && now.every((pid) => !orig.has(pid)) && now.length > 0) {
        m.oldGone = t;
        timeline.push(`${t} ms: ${p.name} original workers all gone (now ${now.join(',')})`);
      }
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { marks: Object.fromEntries(marks), timeline };
    },
  };
}

// The members named by droverctl restart's progress lines ("MEMBER: ..."), consecutive repeats
// folded: ['web-a', 'web-b', ...] when members came one after the other.
function memberRuns(lines) {
  const runs = [];
  for (const l of lines) {
    const m = /^([a-z0-9.-]+): /.exec(l);
    if (!m) continue;
    if (runs.at(-1) !== m[1]) runs.push(m[1]);
  }
  return runs;
}

// `clients` concurrent keep-alive clients, each on its own connection to one pod's public
// listener (round robin over `pods`); even clients keep the session cookie they were given,
// odd ones send none (new sessions, balanced). Runs until stop() or `maxMs`; stop() resolves
// { total, failed: [descriptions], byPod }.
function steadyLoad(pods, { clients = 4, maxMs = 60000 } = {}) {
  let stopping = false;
  const t0 = Date.now();
  const stats = { total: 0, failed: [], byPod: {} };
  const agents = [];
  const run = async (i) => {
    const pod = pods[i % pods.length];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    let cookie;
    while (!stopping && Date.now() - t0 < maxMs) {
      const headers = cookie ? { cookie: `${kCookie}=${cookie}` } : {};
      try {
        const r = await request(pod.port, { host: pod.ip, path: `/load/${i}`, headers, agent, timeoutMs: 10000 });
        stats.total++;
        if (r.status !== 200) {
          stats.failed.push(`client ${i} via ${pod.name}: status ${r.status}: ${r.text.slice(0, 200)}`);
        } else {
          const who = JSON.parse(r.text).pod;
          stats.byPod[who] = (stats.byPod[who] ?? 0) + 1;
          if (i % 2 === 0 && cookie === undefined) cookie = dropCookie(r);
        }
      } catch (err) {
        stats.total++;
        stats.failed.push(`client ${i} via ${pod.name}: ${err.message}`);
      }
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, i) => run(i)));
  return {
    get total() {
      return stats.total;
    },
    async stop() {
      stopping = true;
      await done;
      for (const a of agents) a.destroy();
      return { ...stats, ms: Date.now() - t0 };
    },
  };
}

test('restart one member through the other replica, then every member under load', { timeout: 180000 }, async (t) => {
  const a = await adminCluster(t);
  const [A, B, C] = a.pods;

  await t.test('restart web-b via the replica its stream is not on: only its workers change', async () => {
    const home = await a.streamOf('web-b');
    assert.ok(home, "web-b's sidecar is subscribed");
    const other = a.replicas.find((x) => x !== home);
    const before = Object.fromEntries(a.pods.map((p) => [p.name, podPids(p)]));
    const r = await a.ctl(other, ['restart', 'web-b'], { timeoutMs: 60000 });
    assert.equal(r.code, 0, r.describe());
    assert.ok(r.lines.length >= 1, `progress lines printed: ${r.describe()}`);
    for (const l of r.lines) assert.match(l, /^web-b: /, `every progress line is about web-b: ${r.describe()}`);
    const after = await B.sc.waitAllReady({ timeoutMs: 10000 });
    for (const [i, pid] of after.entries()) assert.ok(!before['web-b'].includes(pid), `web-b slot ${i}: a new worker (${before['web-b']} -> ${after})`);
    assert.deepEqual(podPids(A), before['web-a'], "web-a's workers unchanged");
    assert.deepEqual(podPids(C), before['web-c'], "web-c's workers unchanged");
    const st = await B.status();
    assert.equal(st.reload.running, false, JSON.stringify(st.reload));
    // The hello answers come from the new workers.
    const s = await B.newSession();
    assert.ok(after.includes(s.pid), `web-b answers from a new worker (${s.where}; new ${after})`);
    // And both replicas' status show web-b's new pids.
    await a.waitStatus((x) => {
      const m = x.members.find((y) => y.id === 'web-b');
      return m && (m.slotsDetail || []).map((d) => d.pid).sort().join() === [...after].sort().join();
    }, "web-b's new worker pids in both replicas' status");
    // The last progress line is the sidecar's own report of its reload: 2 of 2 slots.
    assert.equal(r.lines.at(-1), 'web-b: reloaded (2/2)', r.describe());
    for (const l of r.lines) assert.doesNotMatch(l, /\(0\/0\)/, `no progress line says 0/0 slots: ${r.describe()}`);
  });

  await t.test('restart --all under a steady load: every worker replaced, member after member, no failed request', async () => {
    const before = Object.fromEntries(a.pods.map((p) => [p.name, podPids(p)]));
    const load = steadyLoad(a.pods, { clients: 4, maxMs: 60000 });
    await waitFor(() => load.total >= 20, { timeoutMs: 10000, what: 'the load to be running' });
    const sampler = samplePids(a.pods);
    let r;
    let sampled;
    let stats;
    try {
      r = await a.ctl(1, ['restart', '--all'], { timeoutMs: 60000 });
    } finally {
      sampled = sampler.stop();
      stats = await load.stop();
    }
    const { marks, timeline } = sampled;
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.lines.at(-1), 'restart: 3 of 3 members reloaded', r.describe());
    const runs = memberRuns(r.lines.slice(0, -1));
    assert.deepEqual([...runs].sort(), ['web-a', 'web-b', 'web-c'], `the progress lines come member by member, each once: ${JSON.stringify(runs)}\n${r.describe()}`);

    for (const p of a.pods) {
      const after = await p.sc.waitAllReady({ timeoutMs: 10000 });
      for (const [i, pid] of after.entries()) assert.ok(!before[p.name].includes(pid), `${p.name} slot ${i}: a new worker (${before[p.name]} -> ${after})`);
    }
    // One at a time: a member's first new worker appears only once every slot of the previous
    // member has its new worker (its reload is done when the last one is ready).
    for (let i = 1; i < runs.length; i++) {
      const prev = marks[runs[i - 1]];
      const next = marks[runs[i]];
      assert.ok(prev.allNew !== null && next.firstNew !== null, `sampled both: ${JSON.stringify(marks)}\n${timeline.join('\n')}`);
      assert.ok(next.firstNew >= prev.allNew, `${runs[i]} started before ${runs[i - 1]} finished:\n${timeline.join('\n')}`);
    }
    assert.deepEqual(stats.failed, [], `failed requests during the rolling restart (${stats.total} sent)`);
    assert.ok(stats.total >= 50, `a steady load: ${stats.total} requests in ${stats.ms} ms`);
    t.diagnostic(`restart --all: ${r.ms} ms, ${stats.total} requests, 0 failed, by pod ${JSON.stringify(stats.byPod)}; ${timeline.join("; ")}`);
    for (const m of runs) {
      const mine = r.lines.filter((l) => l.startsWith(`${m}: `));
      assert.equal(mine.at(-1), `${m}: reloaded (2/2)`, `${m}'s last progress line: ${r.describe()}`);
    }
    for (const l of r.lines) assert.doesNotMatch(l, /\(0\/0\)/, `no progress line says 0/0 slots: ${r.describe()}`);
  });

  await t.test('restart web-zzz: exit 1, NOT_FOUND naming it, via both replicas', async () => {
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['restart', 'web-zzz']);
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'NOT_FOUND', r.describe());
      assert.match(r.message, /web-zzz/, r.describe());
    }
  });

  await t.test("web-c's sidecar stopped, its pod kept: restart web-c is FAILED_PRECONDITION via both replicas", async () => {
    await C.stop();
    await waitFor(
      async () => {
        for (const x of a.replicas) if (findSubscriber(await x.status(), NAMESPACE, 'web-c')) return false;
        return true;
      },
      { timeoutMs: 15000, what: 'no replica lists web-c as a subscriber' },
    );
    await a.waitStatus((st) => {
      const m = st.members.find((x) => x.id === 'web-c');
      return m && m.connected === false && m.controller === '';
    }, 'web-c a member without a connected sidecar in both replicas');
    const pa = podPids(A);
    const pb = podPids(B);
    for (const i of [0, 1]) {
      const r = await a.ctl(i, ['restart', 'web-c'], { timeoutMs: 30000 });
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.grpcCode, 'FAILED_PRECONDITION', r.describe());
      assert.match(r.message, /web-c/, r.describe());
    }
    assert.deepEqual(podPids(A), pa);
    assert.deepEqual(podPids(B), pb);
  });
});
