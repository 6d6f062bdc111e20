// The controller chart (deploy/helm/drover) with the real helm 3.17: lint, render over several
// values files, every object valid for Kubernetes, exactly the RBAC the controller needs, a
// hardened pod, the flags the binary takes, tokens generated once and kept, the schema
// refusing bad values, and a dashboard whose queries name real metrics.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  kControllerChart,
  kNamespace,
  kRepo,
  helm,
  render,
  renderFails,
  only,
  ofKind,
  kindsOf,
  assertValidObject,
  assertSecretFile,
  podSpecOf,
  selectorMatches,
  flag,
  startSecretsApi,
  renderNotes,
} from './lib.mjs';

const kValuesFiles = [
  [],
  ['controller-monitoring.yaml'],
  ['controller-existing-secrets.yaml'],
  ['controller-tls.yaml'],
  ['controller-resources.yaml'],
  ['controller-cluster-wide.yaml'],
];
const label = (values) => (values.length ? values.join(' + ') : 'defaults');

// Every rule the controller gets, as (apiGroup, resource, verb) triples: pods to watch and
// annotate (Drain), the scale subresource for Scale. Nothing else.
const kExpectedPermissions = [
  ...['get', 'list', 'watch', 'patch'].map((v) => `/pods/${v}`),
  ...['deployments/scale', 'statefulsets/scale'].flatMap((r) => ['get', 'patch', 'update'].map((v) => `apps/${r}/${v}`)),
].sort();

function permissions(rules) {
  const out = [];
  for (const rule of rules) {
    assert.deepEqual(
      Object.keys(rule).sort(),
      ['apiGroups', 'resources', 'verbs'],
      `a rule with more than groups, resources and verbs: ${JSON.stringify(rule)}`,
    );
    for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) out.push(`${g}/${r}/${v}`);
  }
  for (const p of out) assert.ok(!p.includes('*'), `wildcard in RBAC: ${p}`);
  return out.sort();
}

const controllerContainer = (objects) => {
  const spec = podSpecOf(only(objects, 'Deployment'));
  assert.equal(spec.containers.length, 1);
  return spec.containers[0];
};

// helm lint --strict passes on the chart alone and with each values file.
test('helm lint --strict passes with every values file', async () => {
  for (const values of kValuesFiles) {
    const args = ['lint', '--strict', kControllerChart, '--namespace', kNamespace];
    for (const v of values) args.push('--values', path.join(kRepo, 'tests/integration/helm/values', v));
    const r = await helm(args);
    assert.equal(r.code, 0, `helm lint (${label(values)}) failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

// Every object rendered from every values file matches the Kubernetes schemas, has no field
// Kubernetes does not know, and a name of at most 63 characters.
test('every rendered object is valid Kubernetes', async () => {
  for (const values of kValuesFiles) {
    const { objects } = await render(kControllerChart, { values });
    assert.ok(objects.length >= 8, `${label(values)}: only ${objects.length} objects`);
    for (const o of objects) await assertValidObject(o);
    const names = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    assert.equal(new Set(names).size, names.length, `${label(values)}: duplicate objects`);
  }
});

// Defaults: exactly these objects; no cluster-scoped RBAC, no ServiceMonitor.
test('defaults render the namespaced set of objects', async () => {
  const { objects } = await render(kControllerChart);
  assert.deepEqual(kindsOf(objects), [
    'ConfigMap',
    'Deployment',
    'Pod',
    'PodDisruptionBudget',
    'Role',
    'RoleBinding',
    'Secret',
    'Secret',
    'Service',
    'ServiceAccount',
  ]);
  for (const o of objects) assert.equal(o.metadata.namespace, kNamespace, `${o.kind} ${o.metadata.name} namespace`);
  assert.deepEqual(ofKind(objects, 'ClusterRole'), []);
  assert.deepEqual(ofKind(objects, 'ClusterRoleBinding'), []);
});

// The Role grants exactly pods get/list/watch/patch and deployments|statefulsets/scale
// get/patch/update, bound to the controller's own ServiceAccount.
test('RBAC is exactly the least privilege the controller needs', async () => {
  const { objects } = await render(kControllerChart);
  const role = only(objects, 'Role');
  assert.deepEqual(permissions(role.rules), kExpectedPermissions);
  const binding = only(objects, 'RoleBinding');
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  const sa = only(objects, 'ServiceAccount');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: kNamespace }]);
  const spec = podSpecOf(only(objects, 'Deployment'));
  assert.equal(spec.serviceAccountName, sa.metadata.name);
  assert.equal(spec.automountServiceAccountToken, true, 'the controller needs its token for the cluster API');
});

// rbac.clusterWide=true: a ClusterRole and ClusterRoleBinding with the same rules instead of
// the Role; the controller still watches only its own namespace.
test('rbac.clusterWide renders cluster-scoped RBAC with the same rules', async () => {
  const { objects } = await render(kControllerChart, { values: ['controller-cluster-wide.yaml'] });
  assert.deepEqual(ofKind(objects, 'Role'), []);
  assert.deepEqual(ofKind(objects, 'RoleBinding'), []);
  const role = only(objects, 'ClusterRole');
  assert.equal(role.metadata.namespace, undefined);
  assert.equal(role.metadata.name, `${kNamespace}-drover`, 'cluster-scoped names carry the namespace');
  assert.deepEqual(permissions(role.rules), kExpectedPermissions);
  const binding = only(objects, 'ClusterRoleBinding');
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'drover', namespace: kNamespace }]);
  assert.equal(flag(controllerContainer(objects).args, 'namespace'), '$(POD_NAMESPACE)');
  const off = await render(kControllerChart, { set: { 'rbac.create': 'false' } });
  assert.deepEqual(ofKind(off.objects, 'Role').concat(ofKind(off.objects, 'ClusterRole')), []);
});

// The controller runs with exactly the flags of docs/controller.md and the admin API issue,
// in the image's drover-controller, with the token files from the chart's Secrets.
test('the controller container: command, flags, env and token files', async () => {
  const { objects } = await render(kControllerChart);
  const deploy = only(objects, 'Deployment');
  const c = controllerContainer(objects);
  assert.equal(c.image, 'drover:0.1.0', 'image.tag defaults to the appVersion');
  assert.deepEqual(c.command, ['/usr/local/bin/drover-controller']);
  assert.deepEqual(c.args, [
    '--listen=0.0.0.0:7000',
    '--http-listen=0.0.0.0:9902',
    '--namespace=$(POD_NAMESPACE)',
    '--selector=app.kubernetes.io/part-of=drover',
    '--peer-port=8081',
    '--admin-token-file=/var/run/drover/admin/token',
    '--sidecar-token-file=/var/run/drover/sidecar/token',
    '--replica-selector=app.kubernetes.io/name=drover,app.kubernetes.io/instance=drover',
  ]);
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  assert.equal(env.POD_NAMESPACE, 'metadata.namespace');
  assert.deepEqual(
    c.ports.map((p) => [p.name, p.containerPort]),
    [
      ['grpc', 7000],
      ['http-metrics', 9902],
    ],
  );
  const spec = podSpecOf(deploy);
  assertSecretFile(spec, c, '/var/run/drover/admin/token', 'drover-admin-token', 'token');
  assertSecretFile(spec, c, '/var/run/drover/sidecar/token', 'drover-sidecar-token', 'token');
  // The controller's own pods must not be members: they do not match its selector.
  const selector = flag(c.args, 'selector');
  assert.equal(selectorMatches(selector, deploy.spec.template.metadata.labels), false);
  // ...while the replicas find each other by theirs.
  assert.equal(selectorMatches(flag(c.args, 'replica-selector'), deploy.spec.template.metadata.labels), true);
});

// 2 replicas spread over nodes, probes on /healthz and /readyz of the HTTP port, resources
// set, non-root with a read-only root, no privilege escalation, no capabilities, seccomp.
test('the controller pod: replicas, anti-affinity, probes, resources, security context', async () => {
  const { objects } = await render(kControllerChart);
  const deploy = only(objects, 'Deployment');
  assert.equal(deploy.spec.replicas, 2);
  const spec = podSpecOf(deploy);
  const terms = spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
  assert.equal(terms.length, 1);
  assert.equal(terms[0].podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
  assert.deepEqual(terms[0].podAffinityTerm.labelSelector.matchLabels, deploy.spec.selector.matchLabels);
  for (const [k, v] of Object.entries(deploy.spec.selector.matchLabels)) assert.equal(deploy.spec.template.metadata.labels[k], v);

  const c = controllerContainer(objects);
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http-metrics' });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http-metrics' });
  assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } });

  assert.equal(spec.securityContext.runAsNonRoot, true);
  assert.equal(spec.securityContext.runAsUser, 10001);
  assert.deepEqual(spec.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  assert.equal(c.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
  assert.equal(c.securityContext.privileged, undefined);
});

// The Service exposes gRPC (appProtocol grpc) and the metrics port to the controller pods;
// the PodDisruptionBudget keeps one of them up, and is left out for a single replica.
test('Service ports and PodDisruptionBudget', async () => {
  const { objects } = await render(kControllerChart);
  const deploy = only(objects, 'Deployment');
  const svc = only(objects, 'Service', 'drover');
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.deepEqual(svc.spec.ports, [
    { name: 'grpc', port: 7000, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
    { name: 'http-metrics', port: 9902, targetPort: 'http-metrics', protocol: 'TCP' },
  ]);
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(deploy.spec.template.metadata.labels[k], v);
  const pdb = only(objects, 'PodDisruptionBudget');
  assert.equal(pdb.spec.minAvailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, deploy.spec.selector.matchLabels);

  const single = await render(kControllerChart, { set: { replicas: '1' } });
  assert.deepEqual(ofKind(single.objects, 'PodDisruptionBudget'), [], 'a PDB with minAvailable 1 would block every drain of 1 replica');
});

// The admin and sidecar tokens: 32 random alphanumerics, different in each fresh render
// (helm template cannot look the Secret up, so this is a first install).
test('tokens are generated: 32 alphanumerics, fresh per install', async () => {
  const a = await render(kControllerChart);
  const b = await render(kControllerChart);
  const token = (objects, name) => Buffer.from(only(objects, 'Secret', name).data.token, 'base64').toString();
  for (const name of ['drover-admin-token', 'drover-sidecar-token']) {
    assert.match(token(a.objects, name), /^[A-Za-z0-9]{32}$/);
    assert.notEqual(token(a.objects, name), token(b.objects, name));
  }
  assert.notEqual(token(a.objects, 'drover-admin-token'), token(a.objects, 'drover-sidecar-token'));
});

// An upgrade keeps the tokens: the chart's `lookup` finds the Secret in the cluster and reuses
// its value (helm template --dry-run=server against a cluster API that has the admin Secret
// and not yet the sidecar one).
test('lookup keeps an existing token on upgrade, generates a missing one', async (t) => {
  const kept = Buffer.from('kept-admin-token-0123456789abcdef').toString('base64');
  const api = await startSecretsApi(t, { [`${kNamespace}/drover-admin-token`]: { token: kept } });
  const { objects } = await render(kControllerChart, { extra: ['--dry-run=server'], kubeconfig: api.kubeconfig });
  assert.ok(api.requests.includes(`GET /api/v1/namespaces/${kNamespace}/secrets/drover-admin-token`), api.requests.join('\n'));
  assert.ok(api.requests.includes(`GET /api/v1/namespaces/${kNamespace}/secrets/drover-sidecar-token`), api.requests.join('\n'));
  assert.equal(only(objects, 'Secret', 'drover-admin-token').data.token, kept);
  assert.match(Buffer.from(only(objects, 'Secret', 'drover-sidecar-token').data.token, 'base64').toString(), /^[A-Za-z0-9]{32}$/);
});

// admin.existingSecret / sidecarAuth.existingSecret: the chart creates no token Secret and
// mounts the named ones (their keys as the token files) in the controller and the test pod.
test('existing Secrets replace the generated tokens', async () => {
  const { objects } = await render(kControllerChart, { values: ['controller-existing-secrets.yaml'] });
  assert.deepEqual(ofKind(objects, 'Secret'), []);
  const c = controllerContainer(objects);
  const spec = podSpecOf(only(objects, 'Deployment'));
  assertSecretFile(spec, c, '/var/run/drover/admin/token', 'drover-admin-from-vault', 'admin-token');
  assertSecretFile(spec, c, '/var/run/drover/sidecar/token', 'drover-sidecars-from-vault', 'token');
  const pod = only(objects, 'Pod');
  assertSecretFile(pod.spec, pod.spec.containers[0], '/var/run/drover/admin/token', 'drover-admin-from-vault', 'admin-token');
});

// `helm test`: a hook pod running droverctl status from the same image against the Service,
// with the admin token, hardened like the controller.
test('the helm test hook runs droverctl status against the Service', async () => {
  const { objects } = await render(kControllerChart);
  const pod = only(objects, 'Pod');
  assert.equal(pod.metadata.annotations['helm.sh/hook'], 'test');
  assert.equal(pod.spec.restartPolicy, 'Never');
  const [c] = pod.spec.containers;
  assert.equal(c.image, controllerContainer(objects).image);
  assert.deepEqual(c.command, ['/usr/local/bin/droverctl']);
  assert.deepEqual(c.args, ['status', `--addr=drover.${kNamespace}.svc:7000`, '--token-file=/var/run/drover/admin/token']);
  assertSecretFile(pod.spec, c, '/var/run/drover/admin/token', 'drover-admin-token', 'token');
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  assert.equal(pod.spec.automountServiceAccountToken, false);
  // Not a controller pod: the Service and the PodDisruptionBudget must not select it.
  const matches = (sel) => Object.entries(sel).every(([k, v]) => pod.metadata.labels[k] === v);
  assert.equal(matches(only(objects, 'Service').spec.selector), false);
  assert.equal(matches(only(objects, 'PodDisruptionBudget').spec.selector.matchLabels), false);
});

// tls.secretName: the controller serves TLS from the Secret and, with clientAuth, checks
// client certificates against its ca.crt; the test pod verifies the server and presents its
// own certificate.
test('TLS and mTLS on the gRPC port', async () => {
  const { objects } = await render(kControllerChart, { values: ['controller-tls.yaml'] });
  const c = controllerContainer(objects);
  const spec = podSpecOf(only(objects, 'Deployment'));
  assert.equal(flag(c.args, 'tls-cert'), '/var/run/drover/tls/tls.crt');
  assert.equal(flag(c.args, 'tls-key'), '/var/run/drover/tls/tls.key');
  assert.equal(flag(c.args, 'tls-client-ca'), '/var/run/drover/tls/ca.crt');
  const tls = spec.volumes.find((v) => v.name === c.volumeMounts.find((m) => m.mountPath === '/var/run/drover/tls').name);
  assert.equal(tls.secret.secretName, 'drover-grpc-tls');
  const pod = only(objects, 'Pod');
  const [t] = pod.spec.containers;
  assert.equal(flag(t.args, 'tls-ca'), '/var/run/drover/tls/ca.crt');
  assertSecretFile(pod.spec, t, '/var/run/drover/tls/ca.crt', 'drover-grpc-tls', 'ca.crt');
  assertSecretFile(pod.spec, t, flag(t.args, 'tls-cert'), 'drover-droverctl-tls', 'tls.crt');
  assertSecretFile(pod.spec, t, flag(t.args, 'tls-key'), 'drover-droverctl-tls', 'tls.key');

  const serverOnly = await render(kControllerChart, { set: { 'tls.secretName': 'drover-grpc-tls' } });
  const s = controllerContainer(serverOnly.objects);
  assert.equal(flag(s.args, 'tls-cert'), '/var/run/drover/tls/tls.crt');
  assert.equal(flag(s.args, 'tls-client-ca'), undefined);
  const plain = controllerContainer((await render(kControllerChart)).objects);
  assert.ok(!plain.args.some((a) => a.startsWith('--tls')));
  const err = await renderFails(kControllerChart, { set: { 'tls.clientAuth': 'true' } });
  assert.match(err, /tls\.clientAuth needs tls\.secretName/);
});

// Custom values reach the pod: replicas, image, resources, scheduling, selector, flags.
test('custom resources, scheduling, image and flags', async () => {
  const { objects } = await render(kControllerChart, { values: ['controller-resources.yaml'] });
  const deploy = only(objects, 'Deployment');
  const spec = podSpecOf(deploy);
  const c = controllerContainer(objects);
  assert.equal(deploy.spec.replicas, 3);
  assert.equal(c.image, 'registry.example.internal/platform/drover:0.1.0-rc1');
  assert.equal(c.imagePullPolicy, 'Always');
  assert.deepEqual(spec.imagePullSecrets, [{ name: 'registry-credentials' }]);
  assert.deepEqual(c.resources, {
    requests: { cpu: '250m', memory: '256Mi' },
    limits: { cpu: '2', memory: '1Gi', 'ephemeral-storage': '64Mi' },
  });
  assert.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.equal(spec.tolerations[0].key, 'dedicated');
  assert.equal(spec.topologySpreadConstraints[0].topologyKey, 'topology.kubernetes.io/zone');
  assert.equal(spec.priorityClassName, 'system-cluster-critical');
  assert.equal(deploy.spec.template.metadata.labels.team, 'platform');
  assert.equal(deploy.spec.template.metadata.annotations['example.com/owner'], 'platform');
  assert.equal(flag(c.args, 'selector'), 'app.kubernetes.io/part-of=drover,tier=web');
  assert.equal(flag(c.args, 'peer-port'), '7100');
  assert.deepEqual(c.args.slice(-2), ['--debounce=200ms', '--history=64']);
  assert.equal(only(objects, 'PodDisruptionBudget').spec.minAvailable, 2);
  assert.equal(only(objects, 'Pod').spec.containers[0].image, c.image);
  // Security defaults survive values that set other pod fields.
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
});

// Long names (the longest release name helm allows, a 63-character fullnameOverride): every
// name stays within 63 characters and keeps its suffix.
test('names are truncated to 63 characters, suffixes kept', async () => {
  const release = 'a-very-long-release-name-for-the-controller-in-prod-1';
  assert.equal(release.length, 53);
  for (const options of [{ release }, { set: { fullnameOverride: 'x'.repeat(63) } }]) {
    const { objects } = await render(kControllerChart, options);
    for (const o of objects) await assertValidObject(o);
    for (const suffix of ['-admin-token', '-sidecar-token', '-dashboard', '-test-status']) {
      assert.ok(objects.some((o) => o.metadata.name.endsWith(suffix)), `no name ends with ${suffix}`);
    }
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    assert.equal(new Set(names).size, names.length);
  }
});

// values.schema.json refuses bad values with a message naming them.
test('the values schema rejects bad values', async () => {
  const cases = [
    [{ replicas: '-1' }, /replicas: Must be greater than or equal to 1/],
    [{ bogus: '1' }, /Additional property bogus is not allowed/],
    [{ 'image.pullPolicy': 'Sometimes' }, /image\.pullPolicy must be one of the following/],
    [{ 'resources.limits.cpu': 'lots' }, /resources\.limits\.cpu/],
    [{ 'rbac.clusterWide': 'maybe' }, /rbac\.clusterWide: Invalid type\. Expected: boolean/],
    [{ 'serviceMonitor.enabled': 'true', 'serviceMonitor.interval': '30 seconds' }, /serviceMonitor\.interval/],
    [{ 'admin.existingSecret': 'Not_A_Name' }, /admin\.existingSecret/],
    [{ 'rbac.typo': 'true' }, /rbac: Additional property typo is not allowed/],
    [{ peerPort: '70000' }, /peerPort/],
    [{ selector: '' }, /selector/],
  ];
  for (const [set, message] of cases) {
    const err = await renderFails(kControllerChart, { set });
    assert.match(err, /values don't meet the specifications of the schema/, JSON.stringify(set));
    assert.match(err, message, `${JSON.stringify(set)}: ${err}`);
  }
});

// ServiceMonitor (off by default) scrapes the Service's http-metrics port; the dashboard
// ConfigMap carries grafana_dashboard: "1" and exactly dashboards/drover.json.
test('ServiceMonitor and the Grafana dashboard ConfigMap', async () => {
  const { objects } = await render(kControllerChart, { values: ['controller-monitoring.yaml'] });
  const svc = only(objects, 'Service');
  const sm = only(objects, 'ServiceMonitor');
  assert.equal(sm.metadata.labels.release, 'kube-prometheus-stack');
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v);
  assert.deepEqual(sm.spec.namespaceSelector, { matchNames: [kNamespace] });
  assert.deepEqual(sm.spec.endpoints, [{ port: 'http-metrics', path: '/metrics', interval: '15s', scrapeTimeout: '5s' }]);
  assert.ok(svc.spec.ports.some((p) => p.name === sm.spec.endpoints[0].port));

  const cm = only(objects, 'ConfigMap');
  assert.equal(cm.metadata.namespace, 'monitoring');
  assert.equal(cm.metadata.labels.grafana_dashboard, '1');
  assert.equal(cm.metadata.labels.team, 'platform');
  assert.equal(cm.metadata.annotations.grafana_folder, 'Drover');
  const file = JSON.parse(fs.readFileSync(path.join(kControllerChart, 'dashboards', 'drover.json'), 'utf8'));
  assert.deepEqual(JSON.parse(cm.data['drover.json']), file);

  const defaults = await render(kControllerChart);
  assert.deepEqual(ofKind(defaults.objects, 'ServiceMonitor'), []);
  const off = await render(kControllerChart, { set: { 'dashboards.enabled': 'false' } });
  assert.deepEqual(ofKind(off.objects, 'ConfigMap'), []);
});

// NOTES.txt tells how to run droverctl against the controller and how to point app pods at it,
// with this release's names; it warns when the RBAC is cluster-wide.
test('NOTES.txt: droverctl and app pods', async () => {
  const notes = await renderNotes(kControllerChart);
  assert.ok(notes.includes(`kubectl -n ${kNamespace} exec deploy/drover -- \\`), notes);
  assert.ok(notes.includes('droverctl status --addr=127.0.0.1:7000 --token-file=/var/run/drover/admin/token'), notes);
  assert.ok(notes.includes(`kubectl -n ${kNamespace} port-forward svc/drover 7000:7000`), notes);
  assert.ok(notes.includes(`get secret drover-admin-token -o jsonpath='{.data.token}'`), notes);
  assert.ok(notes.includes(`--controller=drover.${kNamespace}.svc:7000`), notes);
  assert.ok(notes.includes('--controller-token-file=/var/run/drover/sidecar/token'), notes);
  assert.ok(notes.includes('the Secret drover-sidecar-token (key token)'), notes);
  assert.ok(notes.includes('drover.io/workers'), notes);
  assert.ok(!notes.includes('ClusterRole'), notes);
  const wide = await renderNotes(kControllerChart, { values: ['controller-cluster-wide.yaml', 'controller-existing-secrets.yaml'] });
  assert.match(wide, /ClusterRole[\s\S]*still watches only namespace shop/);
  assert.ok(wide.includes(`get secret drover-admin-from-vault -o jsonpath='{.data.admin-token}'`), wide);
  const tls = await renderNotes(kControllerChart, { values: ['controller-tls.yaml'] });
  assert.ok(
    tls.includes(`droverctl status --addr=127.0.0.1:7000 --tls-ca=ca.crt --tls-server-name=drover.${kNamespace}.svc --tls-cert=client.crt --tls-key=client.key`),
    tls,
  );
});

// --- The dashboard -------------------------------------------------------------------------

const dashboardPath = path.join(kControllerChart, 'dashboards', 'drover.json');
const metricNames = (expr) => [...expr.matchAll(/\bdrover_[a-z0-9_]+\b/g)].map((m) => m[0]);
const family = (name) => name.replace(/_(bucket|sum|count)$/, '');

function dashboardTargets() {
  const dash = JSON.parse(fs.readFileSync(dashboardPath, 'utf8'));
  const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
  return { dash, panels, exprs: panels.flatMap((p) => p.targets.map((t) => t.expr)) };
}

// Every panel has plain PromQL targets; together they cover what the issue asks for.
test('dashboard panels query the metrics the issue names', () => {
  const { dash, panels, exprs } = dashboardTargets();
  assert.equal(dash.uid, 'drover');
  for (const p of panels) {
    assert.ok(p.targets.length > 0, `panel ${p.title} has no query`);
    for (const t of p.targets) {
      assert.equal(typeof t.expr, 'string');
      assert.ok(!t.expr.includes('$'), `panel ${p.title}: dashboard variables in ${t.expr}`);
      assert.ok(metricNames(t.expr).length > 0, `panel ${p.title}: no drover metric in ${t.expr}`);
    }
  }
  const all = exprs.join('\n');
  assert.ok(all.includes('sum by (code) (rate(drover_http_requests_total[5m]))'));
  assert.ok(all.includes('histogram_quantile(0.5, sum by (le) (rate(drover_http_request_duration_seconds_bucket[5m])))'));
  assert.ok(all.includes('histogram_quantile(0.99, sum by (le) (rate(drover_http_request_duration_seconds_bucket[5m])))'));
  for (const m of ['drover_worker_up', 'drover_worker_ready', 'drover_worker_restarts_total', 'drover_sticky_decisions_total',
    'drover_membership_version_info', 'drover_controller_push_seconds_bucket']) {
    assert.ok(metricNames(all).includes(m), `no panel queries ${m}`);
  }
  assert.ok(all.includes('drover_controller_updates_total{result="nack"}'));
});

// Each metric the queries name is registered by the sidecar or the controller (by name in
// their sources; the Prometheus test checks the live expositions), and the dashboard README's
// table lists the same metrics.
test('dashboard metrics exist in the sources and match its README', () => {
  const { exprs } = dashboardTargets();
  const used = new Set(exprs.flatMap(metricNames));
  const sources = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.cc')) sources.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(path.join(kRepo, 'sidecar'));
  walk(path.join(kRepo, 'controller'));
  const text = sources.join('\n');
  for (const m of used) assert.ok(text.includes(`"${family(m)}"`), `${m}: no metric family "${family(m)}" in sidecar/ or controller/`);

  const readme = fs.readFileSync(path.join(kControllerChart, 'dashboards', 'README.md'), 'utf8');
  const listed = new Set(
    readme
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| panel'))
      .flatMap((l) => [...l.matchAll(/`(drover_[a-z0-9_]+)/g)].map((m) => m[1])),
  );
  assert.deepEqual([...listed].sort(), [...used].sort());
});
