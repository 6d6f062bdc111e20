// Helpers for the Helm chart tests: the real helm 3.17 (tests/.tools/bin, see
// tests/support/kube-tools.mjs), rendered manifests parsed with `yaml`, and every object
// checked twice: against the Kubernetes OpenAPI schemas with kubernetes-models (types,
// required fields, enums, formats), and for unknown fields with @kubernetes/client-node's
// generated models (what the API server's strict field validation would refuse, and
// kubernetes-models lets through).
//
//   const { objects } = await render(kControllerChart, { values: ['tls.yaml'] });
//   for (const o of objects) assertValidObject(o);
//   const deploy = only(objects, 'Deployment');
//   const r = await helm(['template', 'x', kControllerChart, '--set', 'replicas=-1']);

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import * as k8s from '@kubernetes/client-node';
import { kubeTools } from '../../support/kube-tools.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kRepo = path.resolve(here, '..', '..', '..');
export const kControllerChart = path.join(kRepo, 'deploy', 'helm', 'drover');
export const kAppChart = path.join(kRepo, 'examples', 'helm', 'drover-app');
export const kValuesDir = path.join(here, 'values');
export const kNamespace = 'shop';

// helm keeps its cache, config and data under $HOME by default: give it a directory of its own.
const helmHome = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-helm-test-'));
process.on('exit', () => fs.rmSync(helmHome, { recursive: true, force: true }));

// Runs helm to completion: { code, stdout, stderr }. No cluster unless `kubeconfig` is given.
export function helm(args, { kubeconfig, timeoutMs = 60000 } = {}) {
  const { helm: bin } = kubeTools();
  const env = {
    ...process.env,
    HOME: helmHome,
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
    KUBECONFIG: kubeconfig ?? path.join(helmHome, 'no-kubeconfig'),
  };
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// Arguments of `helm template` for a chart: values files (names in tests/integration/helm/values/)
// and --set pairs.
function templateArgs(chart, { release = 'drover', namespace = kNamespace, values = [], set = {}, extra = [] }) {
  const args = ['template', release, chart, '--namespace', namespace, '--kube-version', '1.31.0'];
  for (const v of values) args.push('--values', path.join(kValuesDir, v));
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  return [...args, ...extra];
}

// `helm template` that must succeed: { objects, text }.
export async function render(chart, options = {}) {
  const r = await helm(templateArgs(chart, options), { kubeconfig: options.kubeconfig });
  assert.equal(r.code, 0, `helm template ${path.basename(chart)} failed:\n${r.stderr}`);
  return { objects: parseManifests(r.stdout), text: r.stdout };
}

// The chart's NOTES.txt as `helm install` would print it. helm template leaves NOTES out, so
// this renders a copy of the chart with one more template that includes NOTES.txt by its
// template name.
export async function renderNotes(chart, options = {}) {
  const name = path.basename(chart);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-helm-notes-'));
  try {
    const dir = path.join(copy, name);
    fs.cpSync(chart, dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'templates', 'zz-notes-probe.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-probe\ndata:\n' +
        `  notes: {{ include "${name}/templates/NOTES.txt" . | toJson }}\n`,
    );
    const args = templateArgs(dir, options);
    const r = await helm([...args, '--show-only', 'templates/zz-notes-probe.yaml']);
    assert.equal(r.code, 0, `rendering ${name}'s NOTES.txt failed:\n${r.stderr}`);
    return parseManifests(r.stdout)[0].data.notes;
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

// `helm template` that must fail: its stderr.
export async function renderFails(chart, options = {}) {
  const r = await helm(templateArgs(chart, options));
  assert.notEqual(r.code, 0, `helm template ${path.basename(chart)} should have failed; it rendered:\n${r.stdout}`);
  return r.stderr;
}

// Every YAML document of a multi-document stream, empty ones left out; a YAML error throws.
export function parseManifests(text) {
  const out = [];
  for (const doc of parseAllDocuments(text)) {
    assert.deepEqual(doc.errors, [], `bad YAML in helm output: ${doc.errors.join('; ')}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export function ofKind(objects, kind) {
  return objects.filter((o) => o.kind === kind);
}

// The one object of a kind (optionally of a name): fails unless there is exactly one.
export function only(objects, kind, name) {
  const found = ofKind(objects, kind).filter((o) => name === undefined || o.metadata?.name === name);
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0];
}

export const kindsOf = (objects) => objects.map((o) => o.kind).sort();

// --- Validation -------------------------------------------------------------------------

// Resources that come from CRDs: not in the Kubernetes schemas, checked by the tests
// themselves (see assertPrometheusMonitor).
const kCustomGroups = new Set(['monitoring.coreos.com']);

// The kubernetes-models class for an apiVersion and kind, e.g. apps/v1 Deployment.
async function modelClass(apiVersion, kind) {
  const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
  assert.ok(mod[kind], `kubernetes-models has no ${apiVersion} ${kind}`);
  return mod[kind];
}

// @kubernetes/client-node's generated model name for an apiVersion and kind: V1Deployment...
function clientNodeType(apiVersion, kind) {
  const version = apiVersion.split('/').pop();
  return version[0].toUpperCase() + version.slice(1) + kind;
}

// Fields that the generated models do not know at `path`, e.g. "spec.template.spec.containers[0].bogus".
export function unknownFields(value, type, at = '') {
  const out = [];
  const walk = (v, t, p) => {
    if (v === null || v === undefined) return;
    let m;
    if ((m = /^Array<(.+)>$/.exec(t))) {
      if (Array.isArray(v)) v.forEach((item, i) => walk(item, m[1], `${p}[${i}]`));
      return;
    }
    if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(t))) {
      if (v && typeof v === 'object') for (const [k, item] of Object.entries(v)) walk(item, m[1], `${p}.${k}`);
      return;
    }
    const cls = k8s[t];
    if (!cls?.attributeTypeMap || typeof v !== 'object' || Array.isArray(v)) return;
    const fields = new Map(cls.attributeTypeMap.map((a) => [a.baseName, a.type]));
    for (const [k, item] of Object.entries(v)) {
      const where = p ? `${p}.${k}` : k;
      if (!fields.has(k)) out.push(`${where} (not a field of ${t})`);
      else walk(item, fields.get(k), where);
    }
  };
  walk(value, type, at);
  return out;
}

const kDns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// Checks one rendered object: a Kubernetes kind validated by kubernetes-models and free of
// unknown fields, or a Prometheus Operator resource of the minimal shape; a name of at most
// 63 characters, a DNS-1123 label.
export async function assertValidObject(obj) {
  const id = `${obj?.kind} ${obj?.metadata?.name}`;
  assert.equal(typeof obj.apiVersion, 'string', `${id}: no apiVersion`);
  assert.equal(typeof obj.kind, 'string', `${id}: no kind`);
  assert.ok(obj.metadata?.name, `${id}: no metadata.name`);
  assert.ok(obj.metadata.name.length <= 63, `${id}: name longer than 63 characters`);
  assert.match(obj.metadata.name, kDns1123Label, `${id}: name is not a DNS-1123 label`);
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  if (kCustomGroups.has(group)) {
    assertPrometheusMonitor(obj);
    return;
  }
  const Model = await modelClass(obj.apiVersion, obj.kind);
  try {
    new Model(obj).validate();
  } catch (e) {
    assert.fail(`${id} does not match the Kubernetes ${obj.apiVersion} ${obj.kind} schema: ${e.message}`);
  }
  const type = clientNodeType(obj.apiVersion, obj.kind);
  assert.ok(k8s[type]?.attributeTypeMap, `@kubernetes/client-node has no model ${type} for ${id}`);
  assert.deepEqual(unknownFields(obj, type), [], `${id} has fields Kubernetes does not know`);
}

// ServiceMonitor and PodMonitor (monitoring.coreos.com/v1) come from the Prometheus
// Operator's CRDs: check the fields the charts set, with the CRD's types.
export function assertPrometheusMonitor(obj) {
  const id = `${obj.kind} ${obj.metadata.name}`;
  assert.equal(obj.apiVersion, 'monitoring.coreos.com/v1', `${id}: apiVersion`);
  assert.ok(['ServiceMonitor', 'PodMonitor'].includes(obj.kind), `${id}: kind`);
  const allowedTop = ['apiVersion', 'kind', 'metadata', 'spec'];
  assert.deepEqual(Object.keys(obj).filter((k) => !allowedTop.includes(k)), [], `${id}: unknown top-level fields`);
  assert.deepEqual(unknownFields(obj.metadata, 'V1ObjectMeta'), [], `${id}: metadata`);
  const spec = obj.spec;
  const endpointsKey = obj.kind === 'ServiceMonitor' ? 'endpoints' : 'podMetricsEndpoints';
  assert.deepEqual(
    Object.keys(spec).filter((k) => !['selector', 'namespaceSelector', endpointsKey, 'jobLabel'].includes(k)),
    [],
    `${id}: unknown spec fields`,
  );
  assert.deepEqual(unknownFields(spec.selector, 'V1LabelSelector'), [], `${id}: spec.selector`);
  assert.ok(Object.keys(spec.selector.matchLabels ?? {}).length > 0, `${id}: selects nothing`);
  if (spec.namespaceSelector) {
    assert.deepEqual(Object.keys(spec.namespaceSelector).filter((k) => !['any', 'matchNames'].includes(k)), []);
    assert.ok((spec.namespaceSelector.matchNames ?? []).every((n) => typeof n === 'string'));
  }
  assert.ok(Array.isArray(spec[endpointsKey]) && spec[endpointsKey].length > 0, `${id}: no ${endpointsKey}`);
  const duration = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
  for (const ep of spec[endpointsKey]) {
    assert.deepEqual(Object.keys(ep).filter((k) => !['port', 'path', 'interval', 'scrapeTimeout', 'scheme'].includes(k)), []);
    assert.equal(typeof ep.port, 'string', `${id}: endpoint port must be a port name`);
    if (ep.path !== undefined) assert.match(ep.path, /^\//);
    for (const k of ['interval', 'scrapeTimeout']) if (ep[k] !== undefined) assert.match(ep[k], duration, `${id}: ${k}`);
  }
}

// --- Pod template helpers ----------------------------------------------------------------

export const podSpecOf = (workload) => workload.spec.template.spec;

// The volume a container mounts at `mountPath` (fails if none).
export function volumeAt(podSpec, container, mountPath) {
  const mount = (container.volumeMounts ?? []).find((m) => m.mountPath === mountPath);
  assert.ok(mount, `${container.name}: nothing mounted at ${mountPath}`);
  const volume = podSpec.volumes.find((v) => v.name === mount.name);
  assert.ok(volume, `${container.name}: volume ${mount.name} missing`);
  return { mount, volume };
}

// "dir/file" is served by the Secret `secretName`'s key `key`, read-only.
export function assertSecretFile(podSpec, container, file, secretName, key) {
  const dir = path.posix.dirname(file);
  const { mount, volume } = volumeAt(podSpec, container, dir);
  assert.equal(mount.readOnly, true, `${dir} must be mounted read-only`);
  assert.equal(volume.secret?.secretName, secretName, `${file}: from which Secret`);
  const item = (volume.secret.items ?? []).find((i) => i.path === path.posix.basename(file));
  assert.ok(item, `${file}: no item of Secret ${secretName} lands there`);
  assert.equal(item.key, key, `${file}: key of Secret ${secretName}`);
}

// Does a simple equality selector ("a=b,c=d") match these labels?
export function selectorMatches(selector, labels) {
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=').map((s) => s.trim());
    return labels[k] === v;
  });
}

// The value of `--name=` in an argument list (undefined if absent; fails if repeated).
export function flag(args, name) {
  const found = args.filter((a) => a.startsWith(`--${name}=`));
  assert.ok(found.length <= 1, `--${name} given ${found.length} times`);
  return found.length ? found[0].slice(name.length + 3) : undefined;
}

// --- A cluster API with Secrets, for helm's `lookup` ----------------------------------------

// The smallest API server helm's `lookup "v1" "Secret"` needs (discovery of v1 and GET of a
// Secret), holding the Secrets given; every request is recorded. `helm template
// --dry-run=server` against it runs the chart's real lookup path.
//
//   const api = await startSecretsApi(t, { 'shop/drover-admin-token': { token: 'c2VjcmV0' } });
//   await render(chart, { extra: ['--dry-run=server'], kubeconfig: api.kubeconfig });
export async function startSecretsApi(t, secrets) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    requests.push(`${req.method} ${url.pathname}`);
    const send = (code, body) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/version') return send(200, { major: '1', minor: '31', gitVersion: 'v1.31.0' });
    if (url.pathname === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (url.pathname === '/apis') return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (url.pathname === '/api/v1') {
      return send(200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['get', 'list'] }],
      });
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname);
    const data = m && secrets[`${m[1]}/${m[2]}`];
    if (req.method === 'GET' && data) {
      return send(200, { apiVersion: 'v1', kind: 'Secret', metadata: { name: m[2], namespace: m[1] }, type: 'Opaque', data });
    }
    send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${url.pathname} not found` });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-helm-api-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\n' +
      `clusters:\n- name: api\n  cluster:\n    server: http://127.0.0.1:${server.address().port}\n` +
      'users:\n- name: api\n  user: {}\n' +
      'contexts:\n- name: api\n  context:\n    cluster: api\n    user: api\n' +
      'current-context: api\n',
  );
  return { kubeconfig, requests };
}
