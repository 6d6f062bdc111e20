// Runs drover-sidecar in supervisor mode (`drover-sidecar [flags] -- CMD ARGS...`, see
// docs/sidecar-cli.md) and looks at its workers through /proc and the admin endpoints.
//
//   const s = supervisorScope(t);                 // everything is stopped when the test ends
//   const sc = await s.start({ workers: 2, cmd: appCmd(), flags: ['--max-requests=50'] });
//   await sc.waitAllReady();
//   sc.slotPids();                                // Map slot -> [pids], from /proc
//   const m = await sc.metrics();                 // parsed /metrics
//   const r = await sc.stop('SIGTERM');           // { code, signal, ms, leftovers }
//
// Every sidecar gets a random DROVER_TEST_TAG in its environment, which its workers inherit:
// whatever still carries the tag after the sidecar exited is a leftover worker, and is killed
// when the test ends (and when this test process exits, whatever the reason).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, requireBinary } from '../../lib/sidecar.mjs';
import { track, exited, withDeadline, waitFor } from '../../lib/proc.mjs';
import { request, scrape, metricSum } from '../../lib/backends.mjs';
import { childrenOf, environOf, processesWithEnv, killAll } from './procfs.mjs';

export { REPO_ROOT };
export const APPS_DIR = fileURLToPath(new URL('../apps/', import.meta.url));
export const HELLO_APP = path.join(REPO_ROOT, 'examples/hello/server.js');

// `node <test app>`: the configurable app of apps/app.mjs unless another file is named.
export function appCmd(file = 'app.mjs') {
  return [process.execPath, path.join(APPS_DIR, file)];
}
export function helloCmd() {
  return [process.execPath, HELLO_APP];
}

const tags = new Set();
process.on('exit', () => {
  for (const tag of tags) killAll(processesWithEnv('DROVER_TEST_TAG', tag));
});

function localPortRangeStart() {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

function bindPort(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(srv));
  });
}

// A base port B such that B..B+count-1 were all free on 127.0.0.1 a moment ago (each bound, all
// at once, then released). B is random in 20000-40000, kept below the kernel's ephemeral range
// (ip_local_port_range) so that the proxy's own outgoing connections cannot take a spare port
// before a replacement worker binds it.
export async function freePortBlock(count) {
  const hi = Math.min(40000, localPortRangeStart()) - count;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (hi - 20000));
    const held = [];
    let ok = true;
    for (let p = base; p < base + count; p++) {
      const srv = await bindPort(p);
      if (!srv) {
        ok = false;
        break;
      }
      held.push(srv);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found in 20000-${hi + count}`);
}

const kListeningRe = /drover-sidecar: listening on (\S+):(\d+) \((\w+), (\d+) threads?[,)]/;
const kAdminRe = /drover-sidecar: admin on (\S+):(\d+)/;
const kKeep = 8 << 20; // characters of output kept per stream

function flagName(flag) {
  const m = /^--([^=]+)/.exec(flag);
  return m ? m[1].replace(/_/g, '-') : null;
}

export class Supervisor {
  constructor(child, { args, workers, portBase, tag }) {
    this.child = child;
    this.pid = child.pid;
    this.args = args;
    this.workers = workers; // a number, or null for --workers=auto
    this.portBase = portBase;
    this.tag = tag;
    this.stdout = '';
    this.stderr = '';
    this.port = null;
    this.adminPort = null;
    this.stopping = false;
    this.exit = exited(child);
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output() {
    return `${this.stdout}\n${this.stderr}`;
  }

  tail(n = 4000) {
    const s = this.stderr;
    return s.length > n ? `...${s.slice(-n)}` : s;
  }

  // Live worker processes: direct children of the sidecar with DROVER_WORKER_ID in their
  // environment, as Map slot -> [pid, ...] (two pids while a slot is being replaced).
  slotPids() {
    const slots = new Map();
    for (const c of childrenOf(this.pid)) {
      if (c.state === 'Z') continue;
      const env = environOf(c.pid);
      if (!env || env.DROVER_WORKER_ID === undefined) continue;
      const slot = Number(env.DROVER_WORKER_ID);
      if (!slots.has(slot)) slots.set(slot, []);
      slots.get(slot).push(c.pid);
    }
    return slots;
  }

  // The one pid of each slot 0..n-1, or null while some slot has none or two.
  singlePids(n = this.workers) {
    const slots = this.slotPids();
    const pids = [];
    for (let i = 0; i < n; i++) {
      const list = slots.get(i) || [];
      if (list.length !== 1) return null;
      pids.push(list[0]);
    }
    return pids;
  }

  // Processes that inherited this sidecar's tag (workers, and anything they started), the
  // sidecar itself left out.
  tagged() {
    return processesWithEnv('DROVER_TEST_TAG', this.tag).filter((p) => p.pid !== this.pid);
  }

  async metrics() {
    return scrape(this.adminPort);
  }

  async admin(pathname, opts = {}) {
    return request(this.adminPort, { path: pathname, timeoutMs: 3000, ...opts });
  }

  async status() {
    const r = await this.admin('/status');
    if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text);
  }

  // Debug view for failure messages: /status, /readyz and the worker metrics.
  async describe() {
    const parts = [];
    parts.push(this.alive ? `drover-sidecar pid ${this.pid} running` : `drover-sidecar pid ${this.pid} EXITED: code ${this.child.exitCode}, signal ${this.child.signalCode}`);
    for (const p of ['/status', '/readyz']) {
      try {
        const r = await this.admin(p);
        parts.push(`${p} ${r.status}: ${r.text.slice(0, 1500)}`);
      } catch (err) {
        parts.push(`${p}: ${err.message}`);
      }
    }
    try {
      const r = await this.admin('/metrics');
      parts.push(r.text.split('\n').filter((l) => /^drover_(worker|reload)/.test(l)).join('\n'));
    } catch (err) {
      parts.push(`/metrics: ${err.message}`);
    }
    parts.push(`workers in /proc: ${JSON.stringify([...this.slotPids()])}`);
    parts.push(`sidecar stderr (tail):\n${this.tail(2500)}`);
    return parts.join('\n');
  }

  // Waits until every slot has exactly one process and drover_worker_ready{slot} is 1 for each,
  // and /readyz answers 200. Returns the pids by slot.
  async waitAllReady({ timeoutMs = 20000, n = this.workers } = {}) {
    let pids = null;
    try {
      await waitFor(
        async () => {
          pids = this.singlePids(n);
          if (!pids) return false;
          const m = await this.metrics();
          for (let i = 0; i < n; i++) {
            if (metricSum(m, 'drover_worker_ready', { slot: String(i) }) !== 1) return false;
          }
          return (await this.admin('/readyz')).status === 200;
        },
        { timeoutMs, intervalMs: 50, what: `all ${n} worker slots ready` },
      );
    } catch (err) {
      err.message += `\n${await this.describe()}`;
      throw err;
    }
    return pids;
  }

  // Sends `signal`, waits up to `timeoutMs` for the exit (then SIGKILL), and looks for worker
  // processes left behind, which it kills. Returns { code, signal, ms, killed, leftovers }.
  async stop(signal = 'SIGTERM', timeoutMs = 10000) {
    this.stopping = true;
    const t0 = Date.now();
    let r;
    if (!this.alive) {
      r = { ...(await this.exit), ms: 0, killed: false, alreadyExited: true };
    } else {
      this.child.kill(signal);
      try {
        r = { ...(await withDeadline(this.exit, timeoutMs, `drover-sidecar exit after ${signal}`)), ms: Date.now() - t0, killed: false };
      } catch {
        this.child.kill('SIGKILL');
        r = { ...(await this.exit), ms: Date.now() - t0, killed: true };
      }
    }
    // Workers get SIGKILL from the sidecar after --kill-timeout at most; what is still there
    // shortly after its exit was abandoned.
    let leftovers = [];
    try {
      await waitFor(() => (leftovers = this.tagged()).length === 0, { timeoutMs: 1500, intervalMs: 50, what: 'workers gone' });
    } catch {
      killAll(leftovers);
    }
    return { ...r, leftovers: leftovers.map((p) => ({ pid: p.pid, comm: p.comm, slot: p.env.DROVER_WORKER_ID })) };
  }
}

// Starts the sidecar in supervisor mode and resolves once its listening and admin lines are out.
//   workers: N or 'auto';  cmd: [file, ...args];  flags: more flags (override the defaults);
//   env: added to the sidecar's (and so the workers') environment;
//   wrapper: e.g. ['taskset', '-c', '0'] to run the sidecar under another program that execs it.
// Defaults: --listen and --admin on 127.0.0.1:0, --threads=1, --drain-delay=0s (tests that are
// about draining set their own), a free --worker-port-base for 2N ports.
export async function startSupervisor({ workers = 2, cmd = appCmd(), flags = [], env = {}, wrapper = [], timeoutMs = 10000, portBase } = {}) {
  const bin = requireBinary();
  const n = workers === 'auto' ? 8 : workers;
  const base = portBase ?? (await freePortBlock(2 * n));
  const given = new Set(flags.map(flagName));
  const defaults = {
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    threads: '1',
    workers: String(workers),
    'worker-port-base': String(base),
    'drain-delay': '0s',
  };
  const args = [...flags];
  for (const [name, value] of Object.entries(defaults)) if (!given.has(name)) args.push(`--${name}=${value}`);
  args.push('--', ...cmd);
  const tag = crypto.randomBytes(8).toString('hex');
  tags.add(tag);
  const file = wrapper.length ? wrapper[0] : bin;
  const argv = wrapper.length ? [...wrapper.slice(1), bin, ...args] : args;
  const child = track(spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, DROVER_TEST_TAG: tag } }));
  const sc = new Supervisor(child, { args, workers: workers === 'auto' ? null : workers, portBase: base, tag });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    sc.stdout += d;
    if (sc.stdout.length > kKeep) sc.stdout = sc.stdout.slice(-kKeep / 2);
  });
  const ready = new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      sc.stderr += d;
      if (sc.stderr.length > kKeep) sc.stderr = sc.stderr.slice(-kKeep / 2);
      if (sc.port === null) {
        const m = kListeningRe.exec(sc.stderr);
        if (m) sc.port = Number(m[2]);
      }
      if (sc.adminPort === null) {
        const m = kAdminRe.exec(sc.stderr);
        if (m) sc.adminPort = Number(m[2]);
      }
      if (sc.port !== null && sc.adminPort !== null) resolve(sc);
    });
    child.once('error', (err) => reject(new Error(`cannot spawn ${file}: ${err.message}`)));
    sc.exit.then(({ code, signal }) =>
      reject(new Error(`drover-sidecar exited (code ${code}, signal ${signal}) before it was listening; args: ${args.join(' ')}\nstderr:\n${sc.tail()}`)),
    );
  });
  try {
    return await withDeadline(ready, timeoutMs, `listening and admin lines from drover-sidecar ${args.join(' ')}`);
  } catch (err) {
    child.kill('SIGKILL');
    killAll(processesWithEnv('DROVER_TEST_TAG', tag));
    err.message += `\nstderr so far:\n${sc.tail()}`;
    throw err;
  }
}

// Per-test scope: supervisors started through it are stopped when the test ends (SIGTERM, then
// SIGKILL). The test fails if a sidecar died on its own, exited non-zero, or left workers behind.
export function supervisorScope(t) {
  const cleanups = [];
  const s = {
    defer(fn) {
      cleanups.push(fn);
    },
    async start(opts) {
      const sc = await startSupervisor(opts);
      s.defer(async () => {
        const diedBefore = !sc.alive && !sc.stopping;
        const r = await sc.stop('SIGTERM', 15000);
        if (sc.stopping && r.alreadyExited && !diedBefore) return; // the test stopped it and checked
        if (diedBefore) throw new Error(`drover-sidecar died during the test (code ${r.code}, signal ${r.signal})\nstderr:\n${sc.tail()}`);
        if (r.killed) throw new Error(`drover-sidecar did not exit within 15 s of SIGTERM\nstderr:\n${sc.tail()}`);
        if (r.code !== 0) throw new Error(`drover-sidecar exited with code ${r.code} (signal ${r.signal}) after SIGTERM\nstderr:\n${sc.tail()}`);
        if (r.leftovers.length) throw new Error(`worker processes left after the sidecar exited: ${JSON.stringify(r.leftovers)}\nstderr:\n${sc.tail()}`);
      });
      return sc;
    },
  };
  t.after(async () => {
    const errors = [];
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) throw errors[0];
  });
  return s;
}

// Temporary directory removed when the test ends.
export function tempDir(t, prefix = 'drover-sup-') {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Lines of a file of JSON lines ([] while it does not exist).
export function readJsonLines(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

// The worker pid a response names: the test app's JSON {"pid":N} or hello's "(pid N)".
export function pidOf(text) {
  const m = /"pid":\s*(\d+)/.exec(text) || /\bpid (\d+)/.exec(text);
  return m ? Number(m[1]) : null;
}

export { waitFor, withDeadline, request, scrape, metricSum };
