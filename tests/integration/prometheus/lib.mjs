// A real Prometheus (Debian's `prometheus` package) scraping a real drover-sidecar and a real
// drover-controller, for the tests in this folder:
//
//   const stack = await startStack(t);            // kube-sim, controller, sidecar, traffic
//   const prom = await startPrometheus(t, stack.targets());
//   await prom.waitUp(['drover-sidecar', 'drover-controller']);
//   const r = await prom.query('sum(drover_worker_up)');   // the API's data: { resultType, result }
//   const lint = await promtoolCheckMetrics(await stack.sidecarMetricsText());
//
// Everything listens on 127.0.0.1 and is stopped when the test ends (t.after). Binaries:
// DROVER_SIDECAR and DROVER_CONTROLLER (else build/release/...), PROMETHEUS and PROMTOOL (else
// found on PATH, as scripts/setup.sh installs them). Nothing here sleeps to wait for a
// condition: every wait polls until a deadline and then fails naming what it waited for.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/sidecar.mjs';
import { track, exited, withDeadline, waitFor } from '../lib/proc.mjs';
import { request, freePort } from '../lib/backends.mjs';
import { startKubeSim } from '../../support/kube-sim/sim.mjs';
import { supervisorScope, helloCmd, tempDir } from '../supervisor/lib/supervisor.mjs';

export { REPO_ROOT, waitFor, tempDir, request };

export const NAMESPACE = 'shop';
export const SELECTOR = 'app.kubernetes.io/part-of=drover';
export const SIDECAR_JOB = 'drover-sidecar';
export const CONTROLLER_JOB = 'drover-controller';
// DROVER_DASHBOARD points the dashboard test at another file (to try a change, or to see the test
// fail on a bad query).
export const DASHBOARD = process.env.DROVER_DASHBOARD
  ? path.resolve(process.env.DROVER_DASHBOARD)
  : path.join(REPO_ROOT, 'deploy/helm/drover/dashboards/drover.json');

const kKeep = 1 << 20; // characters of output kept per stream

// ---------------------------------------------------------------------------------------------
// Binaries

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(':')) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

function tool(envName, name) {
  const file = process.env[envName] || findOnPath(name) || (fs.existsSync(`/usr/bin/${name}`) ? `/usr/bin/${name}` : null);
  if (!file) {
    throw new Error(`${name} not found (set ${envName}, or install the Debian package prometheus: bash scripts/setup.sh)`);
  }
  return file;
}

export const prometheusBinary = () => tool('PROMETHEUS', 'prometheus');
export const promtoolBinary = () => tool('PROMTOOL', 'promtool');

export function controllerBinary() {
  const file = process.env.DROVER_CONTROLLER
    ? path.resolve(process.env.DROVER_CONTROLLER)
    : path.join(REPO_ROOT, 'build/release/controller/drover-controller');
  if (!fs.existsSync(file)) {
    throw new Error(`drover-controller binary not found at ${file} (build it, or set DROVER_CONTROLLER)`);
  }
  return file;
}

// A child process whose output is kept (bounded) for failure messages.
function spawnLogged(file, args, opts = {}) {
  const child = track(spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
  const p = { child, file, args, stdout: '', stderr: '', exit: exited(child) };
  for (const stream of ['stdout', 'stderr']) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (d) => {
      p[stream] += d;
      if (p[stream].length > kKeep) p[stream] = p[stream].slice(-kKeep / 2);
    });
  }
  p.alive = () => child.exitCode === null && child.signalCode === null;
  p.tail = (n = 3000) => {
    const out = `stdout:\n${p.stdout.slice(-n)}\nstderr:\n${p.stderr.slice(-n)}`;
    return out;
  };
  // SIGTERM, then SIGKILL after timeoutMs; resolves { code, signal, killed }.
  p.stop = async (timeoutMs = 10000) => {
    if (!p.alive()) return { ...(await p.exit), killed: false, alreadyExited: true };
    child.kill('SIGTERM');
    try {
      return { ...(await withDeadline(p.exit, timeoutMs, `${path.basename(file)} to exit after SIGTERM`)), killed: false };
    } catch {
      child.kill('SIGKILL');
      return { ...(await p.exit), killed: true };
    }
  };
  return p;
}

// ---------------------------------------------------------------------------------------------
// drover-controller against kube-sim

const kControllerLineRe = /serving gRPC on (\S+) \(port (\d+)\), HTTP on ([^;\s]+):(\d+)/;

// Starts drover-controller watching `namespace` of the simulator at `kubeApi`, and resolves
// once it printed its listeners and /readyz answers 200 (first list synced, state published).
export async function startController(t, { kubeApi, namespace = NAMESPACE, selector = SELECTOR, flags = [], timeoutMs = 15000 }) {
  const args = [
    `--kube-api=${kubeApi}`,
    `--namespace=${namespace}`,
    `--selector=${selector}`,
    '--listen=127.0.0.1:0',
    '--http-listen=127.0.0.1:0',
    '--verify-peer-ip=false',
    ...flags,
  ];
  const c = spawnLogged(controllerBinary(), args);
  c.httpPort = null;
  c.grpcPort = null;
  t.after(async () => {
    const died = !c.alive();
    const r = await c.stop();
    if (died) throw new Error(`drover-controller died during the test (code ${r.code}, signal ${r.signal})\n${c.tail()}`);
  });
  await withDeadline(
    new Promise((resolve, reject) => {
      const check = () => {
        const m = kControllerLineRe.exec(c.stdout);
        if (m) {
          c.grpcPort = Number(m[2]);
          c.httpPort = Number(m[4]);
          resolve();
        }
      };
      c.child.stdout.on('data', check);
      c.child.once('error', (err) => reject(new Error(`cannot spawn drover-controller: ${err.message}`)));
      c.exit.then(({ code, signal }) =>
        reject(new Error(`drover-controller exited (code ${code}, signal ${signal}) before its listeners line; args: ${args.join(' ')}\n${c.tail()}`)),
      );
      check();
    }),
    timeoutMs,
    `drover-controller's "serving gRPC on ..., HTTP on ..." line\n${c.tail()}`,
  ).catch((err) => {
    err.message += `\n${c.tail()}`;
    throw err;
  });
  await waitFor(async () => (await request(c.httpPort, { path: '/readyz', timeoutMs: 2000 })).status === 200, {
    timeoutMs,
    intervalMs: 50,
    what: `drover-controller /readyz 200\n${c.tail()}`,
  });
  return c;
}

// ---------------------------------------------------------------------------------------------
// The scraped pair: kube-sim with two app pods, drover-controller, and a supervisor-mode
// drover-sidecar (2 workers of examples/hello) that has served plain and sticky requests.

export async function scrapeText(port, what) {
  const r = await request(port, { path: '/metrics', timeoutMs: 5000 });
  if (r.status !== 200) throw new Error(`${what} /metrics answered ${r.status}: ${r.text.slice(0, 300)}`);
  return r.text;
}

function cookiePair(res, name = 'DROVERID') {
  const raw = res.headers['set-cookie'] || [];
  for (const line of Array.isArray(raw) ? raw : [raw]) {
    const first = line.split(';')[0];
    if (first.startsWith(`${name}=`)) return first;
  }
  return null;
}

export async function startStack(t) {
  const sim = await startKubeSim({ bookmarkIntervalMs: 500 });
  t.after(() => sim.close());
  for (const [i, name] of ['web-0', 'web-1'].entries()) {
    sim.runPod({
      namespace: NAMESPACE,
      name,
      labels: { 'app.kubernetes.io/part-of': 'drover', 'app.kubernetes.io/name': 'web' },
      annotations: { 'drover.io/workers': '2' },
      ip: `127.1.0.${10 + i}`,
    });
  }
  const controller = await startController(t, { kubeApi: sim.url });
  // The controller has published the group's table once its version shows in /metrics.
  await waitFor(async () => /drover_controller_version_info\{[^}]*group="web"/.test(await scrapeText(controller.httpPort, 'controller')), {
    timeoutMs: 10000,
    intervalMs: 50,
    what: `drover_controller_version_info{group="web"} in the controller's /metrics\n${controller.tail()}`,
  });

  // The sidecar's member table comes from a --peers file naming itself (the version metric
  // needs a table in force); its slot count matches --workers.
  const dir = tempDir(t, 'drover-prom-sc-');
  const peers = path.join(dir, 'peers');
  fs.writeFileSync(peers, `web-0 127.0.0.1:${await freePort()} 2\n`);
  const sup = supervisorScope(t);
  const sidecar = await sup.start({
    workers: 2,
    cmd: helloCmd(),
    flags: ['--member-id=web-0', `--peers=${peers}`],
    timeoutMs: 15000,
  });
  await sidecar.waitAllReady({ timeoutMs: 15000 });
  await waitFor(async () => /drover_membership_version_info\{/.test(await scrapeText(sidecar.adminPort, 'sidecar')), {
    timeoutMs: 10000,
    intervalMs: 50,
    what: 'drover_membership_version_info in the sidecar /metrics',
  });

  // What an idle pair exposes: no request served, no sidecar subscribed, no update answered.
  const idle = {
    sidecar: await scrapeText(sidecar.adminPort, 'drover-sidecar'),
    controller: await scrapeText(controller.httpPort, 'drover-controller'),
  };

  // Traffic: new sessions (Set-Cookie), sticky hits (the cookie sent back), a 404 and a 405.
  let hits = 0;
  for (let i = 0; i < 4; i++) {
    const first = await request(sidecar.port, { path: '/' });
    if (first.status !== 200) throw new Error(`GET / through the sidecar answered ${first.status}: ${first.text}`);
    const cookie = cookiePair(first);
    if (!cookie) throw new Error(`no DROVERID Set-Cookie on a new session: ${JSON.stringify(first.headers)}`);
    for (let j = 0; j < 3; j++) {
      const again = await request(sidecar.port, { path: '/', headers: { cookie } });
      if (again.status !== 200) throw new Error(`sticky GET / answered ${again.status}: ${again.text}`);
      hits++;
    }
  }
  await request(sidecar.port, { path: '/no-such-page' });
  await request(sidecar.port, { method: 'POST', path: '/', body: 'x' });

  return {
    sim,
    controller,
    sidecar,
    hits,
    idle,
    sidecarMetricsText: () => scrapeText(sidecar.adminPort, 'drover-sidecar'),
    controllerMetricsText: () => scrapeText(controller.httpPort, 'drover-controller'),
    // Scrape targets as Prometheus should see them (namespace and pod labels as the Prometheus
    // Operator adds them, which the dashboard's tables group by).
    targets: () => [
      { job: SIDECAR_JOB, port: sidecar.adminPort, labels: { namespace: NAMESPACE, pod: 'web-0' } },
      { job: CONTROLLER_JOB, port: controller.httpPort, labels: { namespace: NAMESPACE, pod: 'drover-controller-0' } },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Prometheus

// The configuration file (JSON is YAML): 1 s scrapes of each target's /metrics.
export function prometheusConfig(targets) {
  return {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: targets.map(({ job, port, labels = {} }) => ({
      job_name: job,
      metrics_path: '/metrics',
      static_configs: [{ targets: [`127.0.0.1:${port}`], labels }],
    })),
  };
}

class Prometheus {
  constructor(proc, port, dir) {
    this.proc = proc;
    this.port = port;
    this.dir = dir;
  }

  tail() {
    return this.proc.tail();
  }

  // GET /api/v1/...; resolves { status (HTTP), body (parsed JSON) }.
  async api(pathAndQuery) {
    const r = await request(this.port, { path: `/api/v1/${pathAndQuery}`, timeoutMs: 5000 });
    let body;
    try {
      body = JSON.parse(r.text);
    } catch {
      throw new Error(`Prometheus /api/v1/${pathAndQuery} answered ${r.status} with no JSON: ${r.text.slice(0, 300)}`);
    }
    return { status: r.status, body };
  }

  // Instant query; resolves the whole answer { status: 'success'|'error', data, errorType, error }.
  async queryRaw(expr) {
    return (await this.api(`query?query=${encodeURIComponent(expr)}`)).body;
  }

  // Instant query that must succeed; resolves data.result (a vector: [{ metric, value }]).
  async query(expr) {
    const a = await this.queryRaw(expr);
    if (a.status !== 'success') throw new Error(`query ${expr} failed: ${a.errorType}: ${a.error}`);
    return a.data.result;
  }

  // Waits until `up` is 1 for every named job.
  async waitUp(jobs, timeoutMs = 20000) {
    let last = [];
    try {
      await waitFor(
        async () => {
          last = await this.query('up');
          return jobs.every((job) => last.some((s) => s.metric.job === job && s.value[1] === '1'));
        },
        { timeoutMs, intervalMs: 200, what: `up == 1 for ${jobs.join(', ')}` },
      );
    } catch (err) {
      let targets = '';
      try {
        targets = JSON.stringify((await this.api('targets')).body.data.activeTargets.map((x) => ({ job: x.labels.job, health: x.health, lastError: x.lastError })));
      } catch {
        // keep the first error
      }
      err.message += `\nlast up: ${JSON.stringify(last)}\ntargets: ${targets}\n${this.tail()}`;
      throw err;
    }
    return last;
  }
}

// Starts Prometheus with its own configuration and storage in a temporary directory, on a free
// port of 127.0.0.1 (Prometheus cannot take port 0: a port is picked by binding and closing it,
// and another is tried if Prometheus then finds it taken). Resolves once /-/ready answers 200.
export async function startPrometheus(t, targets, { timeoutMs = 30000 } = {}) {
  const bin = prometheusBinary();
  const dir = tempDir(t, 'drover-prom-');
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, JSON.stringify(prometheusConfig(targets), null, 2));
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    const data = path.join(dir, `data-${attempt}`);
    const proc = spawnLogged(bin, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${data}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=info',
    ], { cwd: dir });
    let stopped = false;
    t.after(async () => {
      if (stopped) return;
      const died = !proc.alive();
      const r = await proc.stop();
      if (died) throw new Error(`prometheus died during the test (code ${r.code}, signal ${r.signal})\n${proc.tail()}`);
    });
    const prom = new Prometheus(proc, port, dir);
    try {
      await waitFor(
        async () => {
          if (!proc.alive()) return 'exited';
          const r = await request(port, { path: '/-/ready', timeoutMs: 2000 });
          return r.status === 200 ? 'ready' : false;
        },
        { timeoutMs: Math.max(1000, deadline - Date.now()), intervalMs: 100, what: `prometheus /-/ready on 127.0.0.1:${port}` },
      ).then((state) => {
        if (state === 'exited') throw new Error(`prometheus exited before it was ready (code ${proc.child.exitCode}, signal ${proc.child.signalCode})`);
      });
      // /-/ready could come from someone else's server on a port taken in between: make sure it
      // is ours (it still runs and answers the API).
      if (!proc.alive()) throw new Error('prometheus exited');
      const info = await prom.api('status/buildinfo');
      if (info.body.status !== 'success') throw new Error(`status/buildinfo: ${JSON.stringify(info.body)}`);
      return prom;
    } catch (err) {
      await proc.stop();
      stopped = true;
      lastError = new Error(`${err.message}\n${proc.tail()}`);
      if (/address already in use/.test(proc.stderr) && Date.now() < deadline) continue; // port collision: another port
      throw lastError;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// promtool

// Pipes `text` into `promtool check metrics`; resolves { code, output } (output: its stdout and
// stderr, which list the problems it found).
export async function promtoolCheckMetrics(text, { timeoutMs = 20000 } = {}) {
  const child = track(spawn(promtoolBinary(), ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  child.stdin.on('error', () => {}); // promtool may exit before reading everything
  child.stdin.end(text);
  const done = exited(child);
  try {
    const { code, signal } = await withDeadline(done, timeoutMs, 'promtool check metrics to exit');
    await Promise.all(['stdout', 'stderr'].map((s) => new Promise((r) => (child[s].readableEnded ? r() : child[s].once('close', r)))));
    return { code, signal, output };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Exposition text and dashboard queries

// Families and sample names of a text exposition: { types: Map family -> type, samples: Set of
// sample names, helps: Map family -> help }.
export function exposition(text) {
  const types = new Map();
  const helps = new Map();
  const samples = new Set();
  for (const line of text.split('\n')) {
    let m;
    if ((m = /^# TYPE (\S+) (\S+)/.exec(line))) types.set(m[1], m[2]);
    else if ((m = /^# HELP (\S+) ?(.*)$/.exec(line))) helps.set(m[1], m[2]);
    else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[\s{]/.exec(line))) samples.add(m[1]);
  }
  return { types, helps, samples };
}

// Whether `name`, as a query names it, is in the exposition: a sample of that name exists, and it
// is a family of its own or a histogram's _bucket/_sum/_count (a summary's _sum/_count). Resolves
// { ok, family, why }.
export function findInExposition(name, exp) {
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (suffix) {
    const [, base, part] = suffix;
    const type = exp.types.get(base);
    if (type === 'histogram' || (type === 'summary' && part !== 'bucket')) {
      if (exp.samples.has(name)) return { ok: true, family: base };
      return { ok: false, family: base, why: `${type} ${base} is declared but has no ${name} series` };
    }
  }
  if (exp.types.has(name)) {
    const type = exp.types.get(name);
    if (type === 'histogram' || type === 'summary') {
      return { ok: false, family: name, why: `${name} is a ${type}: a query must name its _bucket, _sum or _count series` };
    }
    if (exp.samples.has(name)) return { ok: true, family: name };
    return { ok: false, family: name, why: `${name} is declared (# TYPE ${type}) but has no series: expose it at zero` };
  }
  if (exp.samples.has(name)) return { ok: true, family: name };
  return { ok: false, family: null, why: `${name} is not in the exposition` };
}

// Every query of a dashboard: [{ panel, refId, expr }] from panels[].targets[].expr, panels
// nested in rows (panels[].panels[]) and in collapsed rows included.
export function dashboardQueries(dashboard) {
  const out = [];
  const walk = (panels, where) => {
    for (const p of panels || []) {
      const title = [...where, p.title || `panel ${p.id}`].join(' / ');
      for (const target of p.targets || []) {
        if (typeof target.expr === 'string' && target.expr.trim() !== '') {
          out.push({ panel: title, refId: target.refId, expr: target.expr });
        }
      }
      if (Array.isArray(p.panels)) walk(p.panels, p.type === 'row' ? [...where, p.title || 'row'] : [...where, p.title]);
    }
  };
  walk(dashboard.panels, []);
  for (const row of dashboard.rows || []) walk(row.panels, [row.title || 'row']); // old schema
  return out;
}

// Grafana's built-in interval variables become a plain duration; any other $variable becomes a
// regex that matches anything (the dashboard's README promises none inside queries).
export function expandGrafanaVariables(expr) {
  return expr
    .replace(/\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?/g, '5m')
    .replace(/\$\{([A-Za-z0-9_]+)(:[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, '.*');
}

const kKeywords = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless',
  'offset', 'inf', 'nan', 'atan2',
]);

// The metric names a PromQL expression selects: identifiers that are neither functions nor
// aggregations (followed by "("), keywords, label names (inside {...} matchers or by/without/on/
// ignoring/group_x lists), strings or durations; plus names given as {__name__="..."}.
export function metricNamesInExpr(expr) {
  const names = new Set();
  let s = expandGrafanaVariables(expr);
  // Label matchers: keep __name__="..." (and =~ with a plain name), drop the rest with strings.
  s = s.replace(/\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}/g, (_, inner) => {
    const m = /__name__\s*=~?\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"/.exec(inner);
    if (m) names.add(m[1]);
    return ' ';
  });
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' '); // strings left (function args)
  s = s.replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  s = s.replace(/#[^\n]*/g, ' '); // comments
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/\boffset\s+-?[0-9a-z]+/g, ' ');
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  let m;
  while ((m = re.exec(s)) !== null) {
    const id = m[0];
    const before = s[m.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // part of a number like 1e3 or 0x1f
    if (kKeywords.has(id.toLowerCase())) continue;
    if (/^\s*\(/.test(s.slice(m.index + id.length))) continue; // a function or aggregation
    names.add(id);
  }
  return names;
}

export function readDashboard() {
  if (!fs.existsSync(DASHBOARD)) {
    throw new Error(
      `the Grafana dashboard ${path.relative(REPO_ROOT, DASHBOARD)} does not exist: the Helm chart must ship it ` +
        '(issue 10, "Prometheus and Grafana"), and this test checks every metric its queries name',
    );
  }
  try {
    return JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  } catch (err) {
    throw new Error(`${path.relative(REPO_ROOT, DASHBOARD)} is not valid JSON: ${err.message}`);
  }
}
