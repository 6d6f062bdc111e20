// End-to-end tests of the admin API (drover.v1.Admin) through droverctl (issue 10): kube-sim,
// two real drover-controller replicas that find each other through the cluster API, and real
// drover-sidecars in supervisor mode with Node workers, built on tests/e2e/lib/cluster.mjs
// (imported, not copied: the pods, sidecars, controllers and routing assertions are its).
//
//   const a = await adminCluster(t);     // sim + Deployment web + ctl 0/1 + web-a/b/c, all ready
//   const r = await a.ctl(1, ['drain', 'web-a']);       // droverctl via replica 1, -n shop added
//   assert.equal(r.code, 0); r.stdout; r.stderr; r.grpcCode ('NOT_FOUND', ...) on failure
//
// The layout: replica 0 and replica 1 (`--pod-name=drover-controller-0/1`), each with
// --admin-token-file, --sidecar-token-file and --replica-selector; their pods in kube-sim
// (label app.kubernetes.io/name=drover-controller, IP 127.0.0.1, annotation drover.io/grpc-port)
// are created once they listen, so each finds the other as a peer. Sidecars are spread: web-a
// streams from replica 0 only, web-b from replica 1 only, web-c is given both.
//
// Binaries: DROVER_SIDECAR, DROVER_CONTROLLER (tests/e2e/lib/cluster.mjs) and DROVERCTL (else
// build/release/droverctl/droverctl). Nothing sleeps to wait: conditions are polled to deadlines.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cluster, Controller, Pod, freePortOn, findSubscriber, metric, waitFor, withDeadline, NAMESPACE, APP_LABEL, REPO_ROOT } from '../lib/cluster.mjs';
import { track, exited } from '../../integration/lib/proc.mjs';
import { tempDir } from '../../integration/supervisor/lib/supervisor.mjs';

export { Pod, freePortOn, metric, waitFor, withDeadline, findSubscriber, NAMESPACE, APP_LABEL, tempDir };

export const REPLICA_APP = 'drover-controller';
export const REPLICA_SELECTOR = `${APP_LABEL}=${REPLICA_APP}`;
export const ALL3 = { 'web-a': 'ready', 'web-b': 'ready', 'web-c': 'ready' };
export const DRAIN_ANNOTATION = 'drover.io/drain';

export function droverctlBinary() {
  const file = process.env.DROVERCTL ? path.resolve(process.env.DROVERCTL) : path.join(REPO_ROOT, 'build/release/droverctl/droverctl');
  if (!fs.existsSync(file)) throw new Error(`droverctl not found at ${file} (build it, or set DROVERCTL)`);
  return file;
}

export function randomToken() {
  return crypto.randomBytes(24).toString('base64url');
}

// Writes `text` to `file` through a rename, as a Secret's volume is updated.
export function writeFileAtomic(file, text) {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

// Runs droverctl with exactly `args` (no DROVER_TOKEN / DROVER_ADDR from this environment unless
// `env` gives them). Resolves { code, signal, stdout, stderr, ms, grpcCode, message, lines }:
// grpcCode and message from its first stderr line "droverctl: CODE: message", lines the stdout
// lines. onStdout(chunk) sees stdout as it arrives (restart's progress).
export async function runDroverctl(args, { env = {}, timeoutMs = 30000, onStdout } = {}) {
  const base = { ...process.env };
  delete base.DROVER_TOKEN;
  delete base.DROVER_ADDR;
  delete base.GRPC_VERBOSITY;
  const t0 = Date.now();
  const child = track(spawn(droverctlBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } }));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    stdout += d;
    onStdout?.(d);
  });
  child.stderr.on('data', (d) => (stderr += d));
  const spawnError = new Promise((_, reject) => child.once('error', (err) => reject(new Error(`cannot spawn droverctl: ${err.message}`))));
  let r;
  try {
    r = await withDeadline(Promise.race([exited(child), spawnError]), timeoutMs, `droverctl ${args.join(' ')} to exit`);
  } catch (err) {
    child.kill('SIGKILL');
    await exited(child);
    err.message += `\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    throw err;
  }
  // The pipes may still hold output after the exit event.
  await Promise.all([new Promise((res) => (child.stdout.readableEnded ? res() : child.stdout.once('end', res))), new Promise((res) => (child.stderr.readableEnded ? res() : child.stderr.once('end', res)))]);
  const m = /^droverctl: ([A-Z_]+): (.*)$/m.exec(stderr);
  return {
    code: r.code,
    signal: r.signal,
    stdout,
    stderr,
    ms: Date.now() - t0,
    grpcCode: m ? m[1] : null,
    message: m ? m[2] : null,
    lines: stdout.split('\n').filter((l) => l !== ''),
    args,
    describe() {
      return `droverctl ${args.join(' ')} -> exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''} in ${this.ms} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    },
  };
}

// The apps' Deployment, as a user would have it (kube-sim runs no controllers: it only holds it).
export function createWebDeployment(sim, replicas = 3) {
  return sim.createDeployment(NAMESPACE, { name: 'web', replicas, labels: { [APP_LABEL]: 'web' } });
}

// The pod of a controller replica in kube-sim: found by the peers through --replica-selector,
// reached at its pod IP (loopback here) and its drover.io/grpc-port annotation.
export function putReplicaPod(sim, ctl) {
  return sim.runPod({
    namespace: NAMESPACE,
    name: ctl.name,
    labels: { [APP_LABEL]: REPLICA_APP },
    ip: '127.0.0.1',
    annotations: { 'drover.io/grpc-port': String(ctl.grpcPort) },
  });
}

// A kubeconfig for `server` (http) with a token user, as kubectl writes one.
export function kubeconfigText(server, token) {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: sim',
    '  cluster:',
    `    server: ${server}`,
    'users:',
    '- name: drover-controller',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: sim',
    '  context:',
    '    cluster: sim',
    '    user: drover-controller',
    `    namespace: ${NAMESPACE}`,
    'current-context: sim',
    '',
  ].join('\n');
}

export class AdminCluster {
  constructor(c, files) {
    this.c = c;
    this.sim = c.sim;
    this.files = files; // { dir, adminToken, adminTokenFile, sidecarToken, sidecarTokenFile }
    this.replicas = [];
  }

  pod(name) {
    return this.c.pod(name);
  }

  // droverctl against replica `i` (an index into this.replicas, or a Controller) with the admin
  // token file unless `tokenFile` says otherwise (null: no token at all); `-n shop` is added
  // unless `namespace` is null.
  ctl(i, args, { tokenFile = this.files.adminTokenFile, namespace = NAMESPACE, json = false, ...opts } = {}) {
    const replica = typeof i === 'number' ? this.replicas[i] : i;
    const full = [`--addr=${replica.address}`];
    if (tokenFile !== null) full.push(`--token-file=${tokenFile}`);
    full.push(...args);
    if (namespace !== null) full.push('-n', namespace);
    if (json) full.push('--json');
    return runDroverctl(full, opts);
  }

  // `droverctl status --json` through replica i, parsed; fails on a non-zero exit.
  async status(i) {
    const r = await this.ctl(i, ['status'], { json: true });
    if (r.code !== 0) throw new Error(`status via replica ${i} failed:\n${r.describe()}`);
    try {
      return JSON.parse(r.stdout);
    } catch (err) {
      throw new Error(`status --json via replica ${i} is not JSON (${err.message}):\n${r.stdout}`);
    }
  }

  // The replica (a Controller) whose /status lists pod `name` among its subscribers, or null.
  async streamOf(name) {
    for (const x of this.replicas) {
      if (x.alive && findSubscriber(await x.status(), NAMESPACE, name)) return x;
    }
    return null;
  }

  // Waits until `droverctl status --json` through every replica lists every replica reachable
  // and `check(status)` holds for each; resolves the statuses by replica index.
  async waitStatus(check, what, { timeoutMs = 15000 } = {}) {
    let seen = [];
    try {
      await waitFor(
        async () => {
          seen = [];
          for (let i = 0; i < this.replicas.length; i++) {
            const st = await this.status(i);
            seen.push(st);
            const reps = st.replicas || [];
            if (reps.length !== this.replicas.length || !reps.every((r) => r.reachable)) return false;
            if (!check(st, i)) return false;
          }
          return true;
        },
        { timeoutMs, intervalMs: 100, what },
      );
    } catch (err) {
      err.message += `\nlast statuses:\n${JSON.stringify(seen, null, 1).slice(0, 6000)}\n${await this.c.describe()}`;
      throw err;
    }
    return seen;
  }
}

// Worker pids of a pod's sidecar, one per slot (null while a slot has none or two).
export function podPids(pod) {
  return pod.sc.singlePids(pod.workers);
}

// Sets up the standard scene (see the top of this file). Options:
//   simOptions   for kube-sim (e.g. tokens)
//   controllerFlags   more flags for both replicas
//   pods         names of the app pods (web-a, web-b, web-c)
//   spread       (i) -> the replica indices pod i streams from
//   replicas     how many controller replicas (2)
//   kubeToken    the controllers use a kubeconfig with this bearer token instead of --kube-api
export async function adminCluster(t, { simOptions = {}, controllerFlags = [], pods = ['web-a', 'web-b', 'web-c'], spread = (i) => (i === 0 ? [0] : i === 1 ? [1] : [0, 1]), replicas = 2, kubeToken } = {}) {
  const dir = tempDir(t, 'drover-e2e-admin-');
  const files = {
    dir,
    adminToken: randomToken(),
    sidecarToken: randomToken(),
    adminTokenFile: path.join(dir, 'admin-token'),
    sidecarTokenFile: path.join(dir, 'sidecar-token'),
    wrongTokenFile: path.join(dir, 'wrong-token'),
  };
  fs.writeFileSync(files.adminTokenFile, `${files.adminToken}\n`);
  fs.writeFileSync(files.sidecarTokenFile, `${files.sidecarToken}\n`);
  fs.writeFileSync(files.wrongTokenFile, `${files.adminToken.slice(0, -2)}zz\n`);

  const c = cluster(t);
  await c.startSim(simOptions);
  const a = new AdminCluster(c, files);
  createWebDeployment(c.sim, 3);
  const flags = [
    `--admin-token-file=${files.adminTokenFile}`,
    `--sidecar-token-file=${files.sidecarTokenFile}`,
    `--replica-selector=${REPLICA_SELECTOR}`,
    `--replica-namespace=${NAMESPACE}`,
    ...controllerFlags,
  ];
  if (kubeToken !== undefined) {
    // The controller reaches kube-sim through a kubeconfig whose user has this bearer token
    // (sent over plain http too; kube-sim checks it against its `tokens`).
    files.kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(files.kubeconfig, kubeconfigText(c.sim.url, kubeToken));
    const edit = (args) => args.map((x) => (x.startsWith('--kube-api=') ? `--kubeconfig=${files.kubeconfig}` : x));
    for (let i = 0; i < replicas; i++) a.replicas.push(await startEditedController(c, { flags, edit }));
  } else {
    for (let i = 0; i < replicas; i++) a.replicas.push(await c.startController({ flags }));
  }
  for (const x of a.replicas) putReplicaPod(c.sim, x);

  const list = await Promise.all(
    pods.map((name, i) =>
      c.addPod(name, {
        controllers: spread(i).map((k) => a.replicas[k].address),
        flags: [`--controller-token-file=${files.sidecarTokenFile}`],
      }),
    ),
  );
  a.pods = list;
  a.version = await c.waitTables('web', Object.fromEntries(pods.map((p) => [p, 'ready'])), { timeoutMs: 20000 });
  // Every replica answers for every sidecar, with its report in (workers ready).
  await a.waitStatus(
    (st) =>
      pods.every((p) => {
        const m = (st.members || []).find((x) => x.id === p);
        return m && m.connected && m.workersReady === 2 && m.appliedVersion === a.version;
      }),
    'every member connected, 2/2 workers, at the current version, through every replica',
    { timeoutMs: 20000 },
  );
  return a;
}

// A controller like Cluster.startController's (tracked by the cluster, stopped at the end),
// whose command line `edit(args)` may change: e.g. --verify-peer-ip=true, or --kubeconfig in
// place of --kube-api.
export async function startEditedController(c, { flags = [], edit = (args) => args, waitReady = true } = {}) {
  const ctl = new Controller(c, {
    name: `drover-controller-${c.controllers.length}`,
    grpcPort: await freePortOn('127.0.0.1'),
    httpPort: await freePortOn('127.0.0.1'),
    flags,
  });
  const args = ctl.args.bind(ctl);
  ctl.args = () => edit(args());
  c.controllers.push(ctl);
  c.defer(() => ctl.cleanup());
  await ctl.start({ waitReady });
  return ctl;
}
