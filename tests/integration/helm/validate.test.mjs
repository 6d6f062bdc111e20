// The validator the chart tests rely on (lib.mjs) refuses what the API server would: a wrong
// type, a missing required field, an unknown field, a bad name. Without this, a validator that
// accepts everything would make every chart test pass.

import test from 'node:test';
import assert from 'node:assert/strict';
import { assertValidObject, assertPrometheusMonitor } from './lib.mjs';

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'web:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
    },
  },
});

// A correct Deployment passes; each kind of mistake fails with the path that is wrong.
test('assertValidObject accepts a good object and refuses each kind of mistake', async () => {
  await assertValidObject(deployment());

  const wrongType = deployment();
  wrongType.spec.template.spec.containers[0].ports[0].containerPort = '8080';
  await assert.rejects(assertValidObject(wrongType), /containerPort must be integer/);

  const missing = deployment();
  delete missing.spec.selector;
  await assert.rejects(assertValidObject(missing), /selector/);

  const unknown = deployment();
  unknown.spec.template.spec.containers[0].readinessProbes = { httpGet: { path: '/readyz', port: 9901 } };
  await assert.rejects(assertValidObject(unknown), /readinessProbes/);

  const nestedUnknown = deployment();
  nestedUnknown.spec.template.spec.containers[0].securityContext = { readOnlyRootFS: true };
  await assert.rejects(assertValidObject(nestedUnknown), /securityContext\.readOnlyRootFS/);

  const badName = deployment();
  badName.metadata.name = 'Web_1';
  await assert.rejects(assertValidObject(badName), /DNS-1123/);

  const longName = deployment();
  longName.metadata.name = 'w'.repeat(64);
  await assert.rejects(assertValidObject(longName), /longer than 63/);

  await assert.rejects(assertValidObject({ ...deployment(), kind: 'Deploymnet' }), /Deploymnet/);
});

// The hand-written ServiceMonitor check refuses a misspelt field and a numeric port.
test('assertPrometheusMonitor refuses a bad ServiceMonitor', () => {
  const sm = () => ({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 'drover' },
    spec: { selector: { matchLabels: { a: 'b' } }, endpoints: [{ port: 'http-metrics', interval: '30s' }] },
  });
  assertPrometheusMonitor(sm());
  const typo = sm();
  typo.spec.endpoint = typo.spec.endpoints;
  assert.throws(() => assertPrometheusMonitor(typo), /unknown spec fields/);
  const numeric = sm();
  numeric.spec.endpoints[0].port = 9902;
  assert.throws(() => assertPrometheusMonitor(numeric), /port name/);
  const interval = sm();
  interval.spec.endpoints[0].interval = '30 seconds';
  assert.throws(() => assertPrometheusMonitor(interval), /interval/);
});
