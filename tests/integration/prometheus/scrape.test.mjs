// A real Prometheus scrapes a real drover-sidecar (supervisor mode, 2 workers of examples/hello,
// plain and sticky requests served) and a real drover-controller (watching two app pods in
// kube-sim) every second; through Prometheus's HTTP API both targets are up and every series the
// Grafana dashboard draws is there, with the values this traffic and these pods imply.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, startPrometheus, waitFor, request, SIDECAR_JOB, CONTROLLER_JOB, NAMESPACE } from './lib.mjs';

const hex16 = /^[0-9a-f]{16}$/;
const num = (sample) => Number(sample.value[1]);
const total = (result) => result.reduce((n, s) => n + num(s), 0);

test('Prometheus scrapes the sidecar and the controller and holds every series the dashboard uses', async (t) => {
  const stack = await startStack(t);
  const prom = await startPrometheus(t, stack.targets());
  const up = await prom.waitUp([SIDECAR_JOB, CONTROLLER_JOB]);
  assert.equal(up.filter((s) => s.value[1] === '1').length, 2, JSON.stringify(up));

  const sc = `job="${SIDECAR_JOB}"`;
  const ctl = `job="${CONTROLLER_JOB}"`;
  const minRequests = 4 + stack.hits + 2; // new sessions, sticky hits, the 404 and the 405
  // Each check: a query and what its result must satisfy (returns true, or a string saying why not).
  const checks = [
    // Requests by code, latency.
    [`drover_http_requests_total{${sc}}`, (r) => (r.some((s) => s.metric.code === '200') && total(r) >= minRequests) || `want code="200" and >= ${minRequests} requests`],
    [`drover_http_request_duration_seconds_bucket{${sc},le="+Inf"}`, (r) => (r.length === 1 && num(r[0]) >= minRequests) || `want one +Inf bucket >= ${minRequests}`],
    [`drover_http_request_duration_seconds_bucket{${sc}}`, (r) => r.length >= 5 || 'want several buckets'],
    [`drover_http_request_duration_seconds_count{${sc}}`, (r) => (r.length === 1 && num(r[0]) >= minRequests) || `want a count >= ${minRequests}`],
    // Sticky decisions: every result is exposed; this traffic made new sessions and hits.
    [`drover_sticky_decisions_total{${sc}}`, (r) => r.length === 6 || 'want the 6 results (hit, new, remapped, forwarded, invalid, no_key)'],
    [`drover_sticky_decisions_total{${sc},result="new"}`, (r) => (r.length === 1 && num(r[0]) >= 4) || 'want new >= 4'],
    [`drover_sticky_decisions_total{${sc},result="hit"}`, (r) => (r.length === 1 && num(r[0]) >= stack.hits) || `want hit >= ${stack.hits}`],
    [`drover_errors_total{${sc}}`, (r) => r.length > 0 || 'want the error reasons exposed at zero'],
    // Workers.
    [`drover_worker_up{${sc}}`, (r) => (r.length === 2 && total(r) === 2) || 'want 2 slots, both up'],
    [`drover_worker_ready{${sc}}`, (r) => (r.length === 2 && total(r) === 2) || 'want 2 slots, both ready'],
    [`drover_worker_failed{${sc}}`, (r) => (r.length === 2 && total(r) === 0) || 'want 2 slots, none failed'],
    [`drover_worker_restarts_total{${sc}}`, (r) => (r.length >= 2 && r.every((s) => s.metric.reason && s.metric.slot)) || 'want restarts by slot and reason, at zero'],
    // Membership version per sidecar (its --peers table), as the dashboard's table groups it.
    [`max by (namespace, pod, version) (drover_membership_version_info{${sc}})`, (r) =>
      (r.length === 1 && r[0].metric.namespace === NAMESPACE && r[0].metric.pod === 'web-0' && hex16.test(r[0].metric.version) && num(r[0]) === 1) ||
      'want one series for shop/web-0 with a 16-hex-digit version'],
    // Controller: the web group's version, subscribers, push latency, ACKs and NACKs.
    [`drover_controller_version_info{${ctl},group="web"}`, (r) => (r.length === 1 && hex16.test(r[0].metric.version) && num(r[0]) === 1) || 'want one version for group web'],
    [`drover_controller_subscribers{${ctl}}`, (r) => (r.length === 1 && num(r[0]) === 0) || 'want 0 (no sidecar subscribed)'],
    [`drover_controller_push_seconds_bucket{${ctl},le="+Inf"}`, (r) => r.length === 1 || 'want the +Inf bucket (at zero)'],
    [`drover_controller_push_seconds_count{${ctl}}`, (r) => r.length === 1 || 'want the count (at zero)'],
    [`drover_controller_updates_total{${ctl},result="ack"}`, (r) => r.length === 1 || 'want the ack counter (at zero)'],
    [`drover_controller_updates_total{${ctl},result="nack"}`, (r) => r.length === 1 || 'want the nack counter (at zero)'],
    [`drover_controller_excluded_pods{${ctl}}`, (r) => (r.length === 1 && num(r[0]) === 0) || 'want 0 pods left out'],
    [`drover_controller_watch_events_total{${ctl}}`, (r) => r.length === 5 || 'want the 5 event types (added, modified, deleted, bookmark, error)'],
    [`drover_controller_kube_requests_total{${ctl},verb="list"}`, (r) => r.length >= 1 || 'want the list request counted'],
  ];

  let failures = [];
  try {
    await waitFor(
      async () => {
        failures = [];
        for (const [expr, ok] of checks) {
          const result = await prom.query(expr);
          const verdict = ok(result);
          if (verdict !== true) failures.push(`${expr}: ${verdict}; got ${JSON.stringify(result.map((s) => [s.metric, s.value[1]]))}`);
        }
        return failures.length === 0;
      },
      { timeoutMs: 15000, intervalMs: 250, what: 'every dashboard series in Prometheus' },
    );
  } catch (err) {
    assert.fail(`${err.message}\n${failures.join('\n')}`);
  }

  // The controller's version in Prometheus is the one its /status reports for the group.
  const versions = await prom.query(`drover_controller_version_info{${ctl},group="web"}`);
  const status = JSON.parse((await request(stack.controller.httpPort, { path: '/status' })).text);
  assert.ok(JSON.stringify(status).includes(versions[0].metric.version), `version ${versions[0].metric.version} not in /status: ${JSON.stringify(status).slice(0, 500)}`);
});
