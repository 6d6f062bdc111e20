// The example app chart (examples/helm/drover-app) with the real helm 3.17: lint, render,
// every object valid for Kubernetes, drover-sidecar as the entrypoint with one workers value
// behind --workers, the annotation and the CPU limit, the grace periods in the right order,
// and a pod the controller chart's defaults select, reach and authenticate.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  kAppChart,
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

const kValuesFiles = [[], ['app-custom.yaml']];
const label = (values) => (values.length ? values.join(' + ') : 'defaults');

function appPod(objects) {
  const deploy = only(objects, 'Deployment');
  const spec = podSpecOf(deploy);
  assert.equal(spec.containers.length, 1);
  return { deploy, spec, c: spec.containers[0], meta: deploy.spec.template.metadata };
}

// The seconds of a sidecar duration flag such as --grace-period=30s.
function seconds(value) {
  const m = /^(\d+)s$/.exec(value ?? '');
  assert.ok(m, `not a duration in seconds: ${value}`);
  return Number(m[1]);
}

// helm lint --strict passes on the chart alone and with the custom values.
test('helm lint --strict passes', async () => {
  for (const values of kValuesFiles) {
    const args = ['lint', '--strict', kAppChart, '--namespace', kNamespace];
    for (const v of values) args.push('--values', path.join(kRepo, 'tests/integration/helm/values', v));
    const r = await helm(args);
    assert.equal(r.code, 0, `helm lint (${label(values)}) failed:\n${r.stdout}\n${r.stderr}`);
  }
});

// Every object matches the Kubernetes schemas and has no unknown field.
test('every rendered object is valid Kubernetes', async () => {
  for (const values of kValuesFiles) {
    const { objects } = await render(kAppChart, { release: 'web', values });
    for (const o of objects) await assertValidObject(o);
  }
  const { objects } = await render(kAppChart, { release: 'web' });
  assert.deepEqual(kindsOf(objects), ['Deployment', 'Secret', 'Service']);
});

// drover-sidecar is the entrypoint and runs the Node app after `--`, with the flags the issue
// names; --workers, drover.io/workers and the CPU limit come from one value.
test('drover-sidecar runs the app with the listed flags', async () => {
  const { objects } = await render(kAppChart, { release: 'web' });
  const { c, meta } = appPod(objects);
  assert.equal(c.image, 'drover-hello:0.1.0');
  assert.deepEqual(c.command, ['/usr/local/bin/drover-sidecar']);
  assert.deepEqual(c.args, [
    '--listen=0.0.0.0:8080',
    '--peer-listen=0.0.0.0:8081',
    '--admin=0.0.0.0:9901',
    '--workers=2',
    '--controller=drover:7000',
    '--controller-token-file=/var/run/drover/sidecar/token',
    '--cookie-secret-file=/var/run/drover/cookie/secret',
    '--drain-delay=5s',
    '--grace-period=30s',
    '--',
    'node',
    '/app/server.js',
  ]);
  assert.equal(meta.annotations['drover.io/workers'], '2');
  assert.equal(meta.annotations['drover.io/peer-port'], '8081');
  assert.equal(c.resources.limits.cpu, '2');
});

// For any workers value, --workers = drover.io/workers = the CPU limit, and the peer port
// annotation names the --peer-listen port.
test('workers and peer port: one value each, everywhere', async () => {
  for (const [set, values] of [
    [{}, []],
    [{ workers: '1' }, []],
    [{ workers: '7', peerPort: '9100' }, []],
    [{}, ['app-custom.yaml']],
  ]) {
    const { objects } = await render(kAppChart, { release: 'web', set, values });
    const { c, meta } = appPod(objects);
    const workers = flag(c.args, 'workers');
    assert.match(workers, /^\d+$/);
    assert.equal(meta.annotations['drover.io/workers'], workers, JSON.stringify(set));
    assert.equal(c.resources.limits.cpu, workers, 'one core per worker');
    const peerPort = flag(c.args, 'peer-listen').split(':').pop();
    assert.equal(meta.annotations['drover.io/peer-port'], peerPort);
    assert.ok(c.ports.some((p) => p.name === 'peer' && String(p.containerPort) === peerPort));
    assert.equal(flag(c.args, 'admin'), '0.0.0.0:9901');
  }
});

// The pod knows who it is: POD_NAME, POD_NAMESPACE, POD_IP and POD_UID from the Downward API.
test('Downward API env', async () => {
  const { objects } = await render(kAppChart, { release: 'web' });
  const { c } = appPod(objects);
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.valueFrom.fieldRef.fieldPath]));
  assert.deepEqual(env, {
    POD_NAME: 'metadata.name',
    POD_NAMESPACE: 'metadata.namespace',
    POD_IP: 'status.podIP',
    POD_UID: 'metadata.uid',
  });
});

// Readiness on the sidecar's /readyz, liveness on /healthz, both on the admin port; the pod
// outlives the sidecar's grace period; hardened like the controller.
test('probes, grace periods and security context', async () => {
  for (const values of kValuesFiles) {
    const { objects } = await render(kAppChart, { release: 'web', values });
    const { c, spec } = appPod(objects);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
    assert.ok(c.ports.some((p) => p.name === 'admin' && p.containerPort === 9901));
    const grace = seconds(flag(c.args, 'grace-period'));
    assert.ok(spec.terminationGracePeriodSeconds > grace, `${label(values)}: pod ${spec.terminationGracePeriodSeconds}s <= sidecar ${grace}s`);
    assert.ok(seconds(flag(c.args, 'drain-delay')) < grace);
    assert.equal(spec.securityContext.runAsNonRoot, true);
    assert.deepEqual(spec.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(spec.automountServiceAccountToken, false);
  }
});

// The sidecar token comes from the controller chart's Secret; the cookie secret from one
// Secret of the release, shared by every pod.
test('sidecar token and shared cookie secret', async () => {
  const { objects } = await render(kAppChart, { release: 'web' });
  const { c, spec } = appPod(objects);
  assertSecretFile(spec, c, '/var/run/drover/sidecar/token', 'drover-sidecar-token', 'token');
  const secret = only(objects, 'Secret');
  assert.equal(secret.metadata.name, 'web-drover-app-cookie-secret');
  assert.match(Buffer.from(secret.data.secret, 'base64').toString(), /^[A-Za-z0-9]{48}$/);
  assertSecretFile(spec, c, '/var/run/drover/cookie/secret', secret.metadata.name, 'secret');
});

// On upgrade the cookie secret is looked up and kept (sessions survive the upgrade).
test('lookup keeps the cookie secret on upgrade', async (t) => {
  const kept = Buffer.from('kept-cookie-secret\nprevious-cookie-secret').toString('base64');
  const api = await startSecretsApi(t, { [`${kNamespace}/web-drover-app-cookie-secret`]: { secret: kept } });
  const { objects } = await render(kAppChart, { release: 'web', extra: ['--dry-run=server'], kubeconfig: api.kubeconfig });
  assert.ok(api.requests.includes(`GET /api/v1/namespaces/${kNamespace}/secrets/web-drover-app-cookie-secret`));
  assert.equal(only(objects, 'Secret').data.secret, kept);
});

// The custom values: name, image, command, controller over TLS, existing cookie secret, more
// sidecar flags, resources with cpu request below the limit, and a PodMonitor.
test('custom values', async () => {
  const { objects } = await render(kAppChart, { release: 'web', values: ['app-custom.yaml'] });
  const { deploy, c, spec, meta } = appPod(objects);
  assert.equal(deploy.spec.replicas, 3);
  assert.equal(meta.labels['app.kubernetes.io/name'], 'shop-web');
  assert.equal(c.image, 'registry.example.internal/shop/web:2024.11');
  assert.deepEqual(c.args.slice(c.args.indexOf('--')), ['--', 'node', '--max-old-space-size=384', '/srv/web/index.js']);
  assert.equal(flag(c.args, 'controller'), 'drover-controller.shop.svc:7443');
  assert.equal(flag(c.args, 'controller-tls-ca'), '/var/run/drover/controller-tls/ca.crt');
  assertSecretFile(spec, c, flag(c.args, 'controller-tls-ca'), 'drover-grpc-ca', 'ca.crt');
  assertSecretFile(spec, c, flag(c.args, 'controller-tls-cert'), 'shop-web-drover-client-tls', 'tls.crt');
  assertSecretFile(spec, c, flag(c.args, 'controller-tls-key'), 'shop-web-drover-client-tls', 'tls.key');
  assertSecretFile(spec, c, '/var/run/drover/sidecar/token', 'drover-controller-sidecar-token', 'token');
  assertSecretFile(spec, c, '/var/run/drover/cookie/secret', 'shop-web-cookie', 'current');
  assert.deepEqual(ofKind(objects, 'Secret'), [], 'an existing cookie secret: none generated');
  assert.ok(c.args.includes('--sticky=app-cookie:connect.sid'));
  assert.ok(c.args.indexOf('--max-memory=400M') < c.args.indexOf('--'));
  assert.equal(spec.terminationGracePeriodSeconds, 75);
  assert.equal(flag(c.args, 'grace-period'), '60s');
  assert.deepEqual(c.resources, { requests: { cpu: '2', memory: '1Gi' }, limits: { cpu: '4', memory: '2Gi' } });
  const pm = only(objects, 'PodMonitor');
  assert.deepEqual(pm.spec.podMetricsEndpoints, [{ port: 'admin', path: '/metrics', interval: '15s' }]);
  for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) assert.equal(meta.labels[k], v);
});

// Two releases of the chart are two Drover groups (their pods never share sessions), and the
// Service selects only its own release's pods.
test('each release is its own group', async () => {
  const a = appPod((await render(kAppChart, { release: 'web' })).objects);
  const b = appPod((await render(kAppChart, { release: 'api' })).objects);
  assert.notEqual(a.meta.labels['app.kubernetes.io/name'], b.meta.labels['app.kubernetes.io/name']);
  const { objects } = await render(kAppChart, { release: 'web' });
  const svc = only(objects, 'Service');
  assert.deepEqual(svc.spec.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
  assert.ok(selectorMatches(Object.entries(svc.spec.selector).map(([k, v]) => `${k}=${v}`).join(','), a.meta.labels));
  assert.ok(!selectorMatches(Object.entries(svc.spec.selector).map(([k, v]) => `${k}=${v}`).join(','), b.meta.labels));
});

// With both charts' defaults (controller released as "drover" in the same namespace), the
// app pods match the controller's --selector and reach its Service on its gRPC port with the
// Secret it mounts as --sidecar-token-file.
test('the app chart fits the controller chart', async () => {
  const controller = (await render(kControllerChart, { release: 'drover' })).objects;
  const cc = podSpecOf(only(controller, 'Deployment')).containers[0];
  const { c, meta } = appPod((await render(kAppChart, { release: 'web' })).objects);
  assert.ok(selectorMatches(flag(cc.args, 'selector'), meta.labels), 'the controller does not select the app pods');
  const svc = only(controller, 'Service');
  const grpc = svc.spec.ports.find((p) => p.name === 'grpc');
  assert.equal(flag(c.args, 'controller'), `${svc.metadata.name}:${grpc.port}`);
  const sidecarMount = cc.volumeMounts.find((m) => m.mountPath === '/var/run/drover/sidecar');
  const sidecarSecret = podSpecOf(only(controller, 'Deployment')).volumes.find((v) => v.name === sidecarMount.name).secret.secretName;
  const appSpec = podSpecOf(only((await render(kAppChart, { release: 'web' })).objects, 'Deployment'));
  assertSecretFile(appSpec, appSpec.containers[0], '/var/run/drover/sidecar/token', sidecarSecret, 'token');
  assert.equal(flag(cc.args, 'peer-port'), meta.annotations['drover.io/peer-port']);
});

// Bad values are refused: by the schema, or by the templates where two values must agree.
test('bad values are rejected with a message', async () => {
  const schema = [
    [{ workers: '0' }, /workers: Must be greater than or equal to 1/],
    [{ workers: '2000' }, /workers: Must be less than or equal to 1024/],
    [{ replicas: '-1' }, /replicas: Must be greater than or equal to 0/],
    [{ peerPort: '8080' }, /peerPort/],
    [{ 'controller.service': 'Drover Controller' }, /controller\.service/],
    [{ 'sidecar.gracePeriod': '30' }, /sidecar: Additional property gracePeriod is not allowed/],
    [{ bogus: '1' }, /Additional property bogus is not allowed/],
  ];
  for (const [set, message] of schema) {
    const err = await renderFails(kAppChart, { release: 'web', set });
    assert.match(err, /values don't meet the specifications of the schema/, JSON.stringify(set));
    assert.match(err, message, `${JSON.stringify(set)}: ${err}`);
  }
  const templates = [
    [{ terminationGracePeriodSeconds: '30' }, /terminationGracePeriodSeconds \(30\) must be larger than sidecar\.gracePeriodSeconds \(30\)/],
    [{ 'sidecar.gracePeriodSeconds': '50' }, /terminationGracePeriodSeconds \(40\) must be larger than sidecar\.gracePeriodSeconds \(50\)/],
    [{ 'sidecar.drainDelaySeconds': '30' }, /sidecar\.drainDelaySeconds \(30\) must be smaller than sidecar\.gracePeriodSeconds \(30\)/],
    [{ 'resources.limits.cpu': '3' }, /resources\.limits\.cpu \(3\) must equal workers \(2\)/],
  ];
  for (const [set, message] of templates) {
    const err = await renderFails(kAppChart, { release: 'web', set });
    assert.match(err, message, `${JSON.stringify(set)}: ${err}`);
  }
});

// NOTES.txt names the controller Service and token Secret the pods rely on and how to try it.
test('NOTES.txt', async () => {
  const notes = await renderNotes(kAppChart, { release: 'web' });
  assert.ok(notes.includes('web-drover-app: 2 pods x 2 workers (node /app/server.js)'), notes);
  assert.ok(notes.includes('Service drover (port 7000)'), notes);
  assert.ok(notes.includes('drover-sidecar-token'), notes);
  assert.ok(notes.includes('port-forward svc/web-drover-app 8080:8080'), notes);
  assert.ok(notes.includes('exec deploy/drover -- \\'), notes);
  const custom = await renderNotes(kAppChart, { release: 'web', values: ['app-custom.yaml'] });
  assert.ok(custom.includes('exec deploy/drover-controller -- \\'), custom);
});
