// End-to-end clusters for Drover: the cluster API simulator (tests/support/kube-sim), one or more
// real drover-controller processes watching it, and one real drover-sidecar per pod in
// supervisor mode with real Node workers (tests/e2e/apps/who.mjs), each pod on its own loopback
// address as pods have their own IPs (web-a 127.0.0.2, the next pod 127.0.0.3, ...).
//
//   const c = cluster(t);                          // everything is stopped when the test ends
//   await c.startSim();                            // kube-sim on 127.0.0.1
//   const ctl = await c.startController();         // --debounce=50ms, /readyz 200
//   const [a, b] = await c.addPods(['web-a', 'web-b']);   // pod in kube-sim + its sidecar
//   await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' });
//   const s = await a.newSession();                // { cookie, pod: 'web-a', worker, pid }
//   const r = await b.get({ cookie: s.cookie });   // { status, pod, worker, pid, setCookie }
//   c.sim.setReady('shop', 'web-a', false);        // or c.setReady('web-a', false)
//
// What a test asserts comes from real routing: the worker app answers with the pod (E2E_POD in
// its sidecar's environment), its slot (DROVER_WORKER_ID) and its pid. Member tables are read
// from each sidecar's /status ("membership") and each controller's /status ("groups"), which
// are the documented views of them (docs/sidecar-cli.md, docs/controller.md).
//
// A pod comes up as a kubelet would start it: created in kube-sim Running but not Ready, its
// sidecar started (workers listening, /readyz 200), then marked Ready. Binaries: DROVER_SIDECAR
// and DROVER_CONTROLLER (else build/release/...). Every wait polls a condition until a deadline
// and then fails naming it; nothing here sleeps to wait.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKubeSim } from '../../support/kube-sim/sim.mjs';
import { REPO_ROOT } from '../../integration/lib/sidecar.mjs';
import { track, exited, withDeadline, waitFor } from '../../integration/lib/proc.mjs';
import { request, parseMetrics, metricSum } from '../../integration/lib/backends.mjs';
import { startSupervisor } from '../../integration/supervisor/lib/supervisor.mjs';
import { kCookie, dropCookie, stickySetCookies, decodeCookieValue } from '../../integration/sticky/lib/sticky.mjs';

export { waitFor, withDeadline, metricSum, decodeCookieValue, REPO_ROOT };

export const NAMESPACE = 'shop';
export const PART_OF = 'app.kubernetes.io/part-of';
export const APP_LABEL = 'app.kubernetes.io/name';
export const SELECTOR = `${PART_OF}=drover`;
export const WHO_APP = fileURLToPath(new URL('../apps/who.mjs', import.meta.url));

const kKeep = 1 << 20; // characters of output kept per stream
const kHex16 = /^[0-9a-f]{16}$/;

// ---------------------------------------------------------------------------------------------
// Ports and binaries

function ephemeralStart() {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

const handedOut = new Set();

// A port free on `host` a moment ago, in 20000 up to the kernel's ephemeral range, so that no
// outgoing connection's source port takes it while its owner is down (a controller restarted on
// its port, a pod's fixed peer port).
export async function freePortOn(host) {
  const hi = Math.min(40000, ephemeralStart()) - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * (hi - 20000));
    if (handedOut.has(port)) continue;
    const ok = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
    });
    if (ok) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host} in 20000-${hi}`);
}

export function controllerBinary() {
  const file = process.env.DROVER_CONTROLLER
    ? path.resolve(process.env.DROVER_CONTROLLER)
    : path.join(REPO_ROOT, 'build/release/controller/drover-controller');
  if (!fs.existsSync(file)) throw new Error(`drover-controller not found at ${file} (build it, or set DROVER_CONTROLLER)`);
  return file;
}

async function getJson(host, port, pathname, what) {
  const r = await request(port, { host, path: pathname, timeoutMs: 3000 });
  if (r.status !== 200) throw new Error(`${what} ${pathname} answered ${r.status}: ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text);
}

async function getMetrics(host, port, what) {
  const r = await request(port, { host, path: '/metrics', timeoutMs: 3000 });
  if (r.status !== 200) throw new Error(`${what} /metrics answered ${r.status}: ${r.text.slice(0, 300)}`);
  return parseMetrics(r.text);
}

// ---------------------------------------------------------------------------------------------
// drover-controller

const kControllerLineRe = /drover-controller: serving gRPC on (\S+) \(port (\d+)\), HTTP on ([^;\s]+):(\d+); watching/;

export class Controller {
  constructor(cluster, { name, grpcPort, httpPort, flags }) {
    this.cluster = cluster;
    this.name = name;
    this.grpcPort = grpcPort;
    this.httpPort = httpPort;
    this.flags = flags;
    this.proc = null;
    this.starts = 0;
    this.history = ''; // output of earlier processes (before a restart), for failure messages
  }

  get address() {
    return `127.0.0.1:${this.grpcPort}`;
  }

  get alive() {
    return this.proc !== null && this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  args() {
    return [
      `--kube-api=${this.cluster.sim.url}`,
      `--namespace=${this.cluster.namespace}`,
      `--selector=${SELECTOR}`,
      `--listen=127.0.0.1:${this.grpcPort}`,
      `--http-listen=127.0.0.1:${this.httpPort}`,
      '--verify-peer-ip=false',
      '--debounce=50ms',
      `--pod-name=${this.name}`,
      ...this.flags,
    ];
  }

  tail(n = 3000) {
    if (!this.proc) return `${this.name}: not running`;
    const p = this.proc;
    return `${this.name} (pid ${p.child.pid}${this.alive ? '' : `, exited: code ${p.child.exitCode}, signal ${p.child.signalCode}`}) stdout:\n${p.stdout.slice(-n)}\nstderr:\n${p.stderr.slice(-n)}`;
  }

  // Starts the process (again, on the same ports after a kill) and waits for its listeners line
  // and, unless waitReady is false, /readyz 200.
  async start({ waitReady = true, timeoutMs = 15000 } = {}) {
    if (this.alive) throw new Error(`${this.name} is already running`);
    if (this.proc) this.history += `--- earlier process ---\n${this.tail()}\n`;
    const args = this.args();
    const child = track(spawn(controllerBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const p = { child, args, stdout: '', stderr: '', exit: exited(child), expectExit: false };
    this.proc = p;
    this.starts++;
    for (const stream of ['stdout', 'stderr']) {
      child[stream].setEncoding('utf8');
      child[stream].on('data', (d) => {
        p[stream] += d;
        if (p[stream].length > kKeep) p[stream] = p[stream].slice(-kKeep / 2);
      });
    }
    // Ports given up by a killed controller may take a moment to be free again: a bind
    // failure is told apart by the exit before the listeners line.
    try {
      await withDeadline(
        new Promise((resolve, reject) => {
          const check = () => {
            const m = kControllerLineRe.exec(p.stdout);
            if (m) resolve(m);
          };
          child.stdout.on('data', check);
          child.once('error', (err) => reject(new Error(`cannot spawn drover-controller: ${err.message}`)));
          p.exit.then(({ code, signal }) => reject(new Error(`drover-controller exited (code ${code}, signal ${signal}) before its listeners line`)));
          check();
        }),
        timeoutMs,
        `${this.name}'s "serving gRPC on ..., HTTP on ...; watching" line`,
      ).then((m) => {
        if (Number(m[2]) !== this.grpcPort || Number(m[4]) !== this.httpPort) {
          throw new Error(`${this.name} listens on gRPC ${m[2]} / HTTP ${m[4]}, not on ${this.grpcPort} / ${this.httpPort}: ${m[0]}`);
        }
      });
    } catch (err) {
      p.expectExit = true;
      child.kill('SIGKILL');
      err.message += `\nargs: ${args.join(' ')}\n${this.tail()}`;
      throw err;
    }
    if (waitReady) {
      await waitFor(async () => (await request(this.httpPort, { path: '/readyz', timeoutMs: 2000 })).status === 200, {
        timeoutMs,
        intervalMs: 50,
        what: `${this.name} /readyz 200\n${this.tail()}`,
      });
    }
    return this;
  }

  // Kills the process (SIGKILL by default: no goodbye to the sidecars) and waits for its exit.
  async kill(signal = 'SIGKILL') {
    if (!this.alive) return;
    this.proc.expectExit = true;
    this.proc.child.kill(signal);
    await withDeadline(this.proc.exit, 10000, `${this.name} to exit after ${signal}`);
  }

  async restart(opts) {
    await this.kill('SIGKILL');
    return this.start(opts);
  }

  // Test cleanup: SIGTERM (then SIGKILL); fails if the process had died without being asked to.
  async cleanup() {
    if (!this.proc) return;
    const p = this.proc;
    const diedOnItsOwn = !this.alive && !p.expectExit;
    if (this.alive) {
      p.expectExit = true;
      p.child.kill('SIGTERM');
      try {
        await withDeadline(p.exit, 10000, `${this.name} to exit after SIGTERM`);
      } catch {
        p.child.kill('SIGKILL');
        await p.exit;
        throw new Error(`${this.name} did not exit within 10 s of SIGTERM\n${this.tail()}`);
      }
    }
    if (diedOnItsOwn) {
      throw new Error(`${this.name} died during the test (code ${p.child.exitCode}, signal ${p.child.signalCode})\n${this.tail()}`);
    }
  }

  status() {
    return getJson('127.0.0.1', this.httpPort, '/status', this.name);
  }

  metrics() {
    return getMetrics('127.0.0.1', this.httpPort, this.name);
  }

  // The group's entry in /status ({ group, version, members }), or undefined.
  async group(app) {
    return (await this.status()).groups.find((g) => g.group === app);
  }

  // The subscriber entry of pod `name` in /status, or undefined.
  async subscriber(name) {
    return findSubscriber(await this.status(), this.cluster.namespace, name);
  }
}

export function findSubscriber(status, namespace, name) {
  return status.subscribers.find((s) => s.pod === `${namespace}/${name}` || s.pod === name);
}

// ---------------------------------------------------------------------------------------------
// Pods: a pod object in kube-sim and a drover-sidecar on the pod's own loopback address

export class Pod {
  constructor(cluster, { name, app, ip, peerPort, workers }) {
    this.cluster = cluster;
    this.name = name;
    this.app = app;
    this.ip = ip;
    this.peerPort = peerPort;
    this.workers = workers;
    this.uid = null;
    this.sc = null;
    this.stopped = false;
  }

  get address() {
    return `${this.ip}:${this.peerPort}`;
  }

  get port() {
    return this.sc.port;
  }

  get running() {
    return this.sc !== null && this.sc.alive && !this.stopped;
  }

  // The object kube-sim holds for this pod (labels and annotations a Drover pod carries).
  podSpec({ ready = true, annotations = {} } = {}) {
    return {
      namespace: this.cluster.namespace,
      name: this.name,
      ip: this.ip,
      ready,
      labels: { [PART_OF]: 'drover', [APP_LABEL]: this.app },
      annotations: { 'drover.io/workers': String(this.workers), 'drover.io/peer-port': String(this.peerPort), ...annotations },
    };
  }

  sidecarFlags({ controllers, flags = [] }) {
    const list = controllers ?? this.cluster.controllers.map((c) => c.address);
    const out = [
      `--listen=${this.ip}:0`,
      `--peer-listen=${this.address}`,
      `--admin=${this.ip}:0`,
      '--worker-host=127.0.0.1',
      '--pin=false',
      `--member-id=${this.name}`,
      `--pod-namespace=${this.cluster.namespace}`,
      `--pod-ip=${this.ip}`,
    ];
    if (this.uid) out.push(`--pod-uid=${this.uid}`);
    if (list.length) out.push(`--controller=${list.join(',')}`);
    return [...out, ...flags];
  }

  async startSidecar({ controllers, flags = [], env = {}, waitReady = true } = {}) {
    const sc = await startSupervisor({
      workers: this.workers,
      cmd: [process.execPath, WHO_APP],
      flags: this.sidecarFlags({ controllers, flags }),
      env: { E2E_POD: this.name, ...env },
      timeoutMs: 15000,
    });
    // The supervisor helpers talk to 127.0.0.1; this pod's admin listener is on its own IP.
    sc.admin = (pathname, opts = {}) => request(sc.adminPort, { host: this.ip, path: pathname, timeoutMs: 3000, ...opts });
    sc.metrics = async () => getMetrics(this.ip, sc.adminPort, `${this.name}'s sidecar`);
    this.sc = sc;
    this.stopped = false;
    const line = `peers on ${this.address} (member ${this.name})`;
    await waitFor(() => sc.stderr.includes(line) || !sc.alive, { timeoutMs: 10000, what: `"${line}" from ${this.name}'s sidecar` });
    if (!sc.alive) throw new Error(`${this.name}'s sidecar exited at start (code ${sc.child.exitCode})\n${sc.tail()}`);
    if (waitReady) await sc.waitAllReady({ timeoutMs: 20000 });
    return sc;
  }

  // SIGTERM (drain-delay 0): the sidecar must exit 0 and leave no worker behind.
  async stop() {
    if (!this.sc || this.stopped) return;
    this.stopped = true;
    const diedBefore = !this.sc.alive;
    const r = await this.sc.stop('SIGTERM', 15000);
    if (diedBefore) throw new Error(`${this.name}'s sidecar died during the test (code ${r.code}, signal ${r.signal})\n${this.sc.tail()}`);
    if (r.killed) throw new Error(`${this.name}'s sidecar did not exit within 15 s of SIGTERM\n${this.sc.tail()}`);
    if (r.code !== 0) throw new Error(`${this.name}'s sidecar exited with code ${r.code} (signal ${r.signal}) after SIGTERM\n${this.sc.tail()}`);
    if (r.leftovers.length) throw new Error(`${this.name}: workers left after the sidecar exited: ${JSON.stringify(r.leftovers)}`);
  }

  async status() {
    const r = await this.sc.admin('/status');
    if (r.status !== 200) throw new Error(`${this.name} /status answered ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text);
  }

  async membership() {
    return (await this.status()).membership;
  }

  metrics() {
    return this.sc.metrics();
  }

  // Worker pids by slot, from /proc (children of the sidecar).
  workerPids() {
    return this.sc.slotPids();
  }

  // GET through this pod's public listener, with the session cookie `cookie` if given.
  // Resolves { status, pod, worker, pid, where, setCookie, setCookies, appCookie, text, via }:
  // pod/worker/pid name the worker that answered; setCookie is the DROVERID value the response
  // sets (undefined when none), setCookies every DROVERID Set-Cookie field.
  async get({ cookie, path: pathname = '/', headers = {}, timeoutMs = 5000 } = {}) {
    const h = { ...headers };
    if (cookie !== undefined) h.cookie = `${kCookie}=${cookie}`;
    const r = await request(this.sc.port, { host: this.ip, path: pathname, headers: h, timeoutMs });
    let json = null;
    try {
      json = JSON.parse(r.text);
    } catch {
      // not the app's answer: an error page of the sidecar
    }
    return {
      status: r.status,
      pod: json?.pod ?? null,
      worker: json?.worker ?? null,
      pid: json?.pid ?? null,
      where: json ? `${json.pod}/${json.worker}/pid ${json.pid}` : `(status ${r.status}: ${r.text.slice(0, 200)})`,
      appCookie: json?.cookie ?? null,
      setCookie: dropCookie(r),
      setCookies: stickySetCookies(r),
      text: r.text,
      via: this.name,
    };
  }

  // A new session (no cookie) through this pod: the response must be a 200 with a DROVERID
  // cookie. Resolves { cookie, pod, worker, pid, where, via }.
  async newSession() {
    const r = await this.get();
    if (r.status !== 200) throw new Error(`new session through ${this.name}: status ${r.status}: ${r.text.slice(0, 300)}`);
    if (!r.setCookie) throw new Error(`new session through ${this.name} (served by ${r.where}) set no ${kCookie} cookie`);
    return { cookie: r.setCookie, pod: r.pod, worker: r.worker, pid: r.pid, where: r.where, via: this.name };
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster

export class Cluster {
  constructor(t, { namespace = NAMESPACE } = {}) {
    this.t = t;
    this.namespace = namespace;
    this.sim = null;
    this.simOptions = {};
    this.controllers = [];
    this.pods = new Map();
    this.nextIp = 2;
    this.cleanups = [];
    t.after(async () => {
      const errors = [];
      for (const fn of this.cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length) throw errors[0];
    });
  }

  defer(fn) {
    this.cleanups.push(fn);
  }

  // kube-sim on 127.0.0.1 (port 0 unless given). Bookmarks every second by default.
  async startSim(options = {}) {
    this.simOptions = { bookmarkIntervalMs: 1000, ...options };
    this.sim = await startKubeSim(this.simOptions);
    this.defer(async () => {
      if (this.sim) await this.sim.close();
    });
    return this.sim;
  }

  // Closes kube-sim (every watch cut, every object gone) and starts a new, empty one on the same
  // port. The caller recreates what should exist (putInSim).
  async restartSim(options = {}) {
    const port = this.sim.port;
    await this.sim.close();
    this.sim = null;
    let lastErr;
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        this.sim = await startKubeSim({ ...this.simOptions, ...options, port });
        return this.sim;
      } catch (err) {
        lastErr = err; // EADDRINUSE for a moment after the close
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`kube-sim could not listen on port ${port} again: ${lastErr?.message}`);
  }

  async startController({ flags = [], waitReady = true } = {}) {
    const ctl = new Controller(this, {
      name: `drover-controller-${this.controllers.length}`,
      grpcPort: await freePortOn('127.0.0.1'),
      httpPort: await freePortOn('127.0.0.1'),
      flags,
    });
    this.controllers.push(ctl);
    this.defer(() => ctl.cleanup());
    await ctl.start({ waitReady });
    return ctl;
  }

  // Creates (or, after a kube-sim restart, recreates) the pod object, Running with its IP.
  putInSim(pod, { ready = true, annotations = {} } = {}) {
    const created = this.sim.runPod(pod.podSpec({ ready, annotations }));
    pod.uid = created.metadata.uid;
    return created;
  }

  // A new pod: a loopback address of its own, a fixed peer port (the member table carries it),
  // the pod object in kube-sim (unless inSim is false), its sidecar subscribed to the
  // controllers, then Ready. Options: app ('web'), workers (2), annotations, controllers (the
  // --controller list; default every controller started), flags (more sidecar flags), env.
  async addPod(name, { app = 'web', workers = 2, annotations = {}, controllers, flags = [], env = {}, inSim = true, ready = true } = {}) {
    if (this.pods.has(name)) throw new Error(`pod ${name} exists`);
    if (this.nextIp > 254) throw new Error('out of loopback addresses');
    const ip = `127.0.0.${this.nextIp++}`;
    const pod = new Pod(this, { name, app, ip, peerPort: await freePortOn(ip), workers });
    this.pods.set(name, pod);
    this.defer(() => pod.stop());
    if (inSim) this.putInSim(pod, { ready: false, annotations });
    await pod.startSidecar({ controllers, flags, env });
    if (inSim && ready) this.sim.setReady(this.namespace, name, true);
    return pod;
  }

  // Several pods at once (their sidecars start in parallel); resolves them in order.
  async addPods(names, opts = {}) {
    return Promise.all(names.map((n) => this.addPod(n, opts)));
  }

  pod(name) {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  appPods(app) {
    return [...this.pods.values()].filter((p) => p.app === app && p.running);
  }

  setReady(name, ready) {
    return this.sim.setReady(this.namespace, name, ready);
  }

  deletePod(name, opts) {
    return this.sim.deletePod(this.namespace, name, opts);
  }

  finishDeletion(name) {
    return this.sim.finishDeletion(this.namespace, name);
  }

  annotate(name, annotations) {
    return this.sim.annotate(this.namespace, name, annotations);
  }

  // Waits until the member table of `app` is `expected` in every running controller's /status,
  // all at one version, and every sidecar in `pods` (default: the app's running sidecars) has
  // applied that version from the controller (its /status membership: source, version,
  // members). `expected` maps member ids to 'ready' | 'draining', or to { state, slots }; each
  // member must be at its pod's peer address. `exceptVersion`: wait for another version than
  // this one. Resolves the version.
  async waitTables(app, expected, { pods, controllers, exceptVersion, timeoutMs = 15000 } = {}) {
    const want = Object.entries(expected)
      .map(([id, v]) => ({ id, ...(typeof v === 'string' ? { state: v } : v), address: this.pods.get(id)?.address }))
      .sort((x, y) => (x.id < y.id ? -1 : 1));
    const same = (members) =>
      members.length === want.length &&
      members.every(
        (m, i) =>
          m.id === want[i].id &&
          m.state === want[i].state &&
          (want[i].slots === undefined || m.slots === want[i].slots) &&
          (want[i].address === undefined || m.address === want[i].address),
      );
    const ctls = () => controllers ?? this.controllers.filter((c) => c.alive);
    const sidecars = () => pods ?? this.appPods(app);
    let seen = {};
    let version = null;
    try {
      await waitFor(
        async () => {
          seen = {};
          version = null;
          for (const c of ctls()) {
            const g = await c.group(app);
            seen[c.name] = g ?? null;
            if (!g || !kHex16.test(g.version) || !same(sortById(g.members))) return false;
            if (version !== null && g.version !== version) return false;
            version = g.version;
          }
          for (const p of sidecars()) {
            const m = await p.membership();
            seen[p.name] = m;
            if (!m || m.source !== 'controller' || !same(sortById(m.members))) return false;
            if (version === null) version = m.version;
            if (m.version !== version) return false;
          }
          return version !== null && version !== exceptVersion;
        },
        { timeoutMs, intervalMs: 50, what: `the ${app} table ${JSON.stringify(expected)}${exceptVersion ? ` (not version ${exceptVersion})` : ''} everywhere` },
      );
    } catch (err) {
      err.message += `\nlast seen:\n${JSON.stringify(seen, null, 1)}\n${await this.describe()}`;
      throw err;
    }
    return version;
  }

  // Controllers' and sidecars' output tails, for failure messages.
  async describe() {
    const parts = [];
    for (const c of this.controllers) parts.push(c.tail(1500));
    for (const p of this.pods.values()) {
      if (!p.sc) continue;
      parts.push(`${p.name}'s sidecar (${p.sc.alive ? 'running' : `exited ${p.sc.child.exitCode}/${p.sc.child.signalCode}`}) stderr:\n${p.sc.tail(1200)}`);
    }
    return parts.join('\n');
  }
}

function sortById(members) {
  return [...(members || [])].sort((x, y) => (x.id < y.id ? -1 : 1));
}

export function cluster(t, opts) {
  return new Cluster(t, opts);
}

// ---------------------------------------------------------------------------------------------
// Assertions through routing

// Sends `session`'s cookie through each pod of `vias` and requires the worker that first
// answered it (same pod, slot and pid) and no new cookie, every time.
export async function expectSticky(session, vias, what = '') {
  for (const via of vias) {
    const r = await via.get({ cookie: session.cookie });
    const label = `${what ? `${what}: ` : ''}${session.where}'s session through ${via.name}`;
    if (r.status !== 200) throw new Error(`${label}: status ${r.status}: ${r.text.slice(0, 300)}`);
    if (r.pod !== session.pod || r.worker !== session.worker || r.pid !== session.pid) {
      throw new Error(`${label}: answered by ${r.where}`);
    }
    if (r.setCookies.length !== 0) throw new Error(`${label}: a new cookie ${JSON.stringify(r.setCookies)}`);
  }
}

// A metric sum of a parsed exposition, or of a whole /metrics when given a Pod or Controller.
export async function metric(source, name, labels = {}) {
  return metricSum(await source.metrics(), name, labels);
}
