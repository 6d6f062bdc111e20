// The Grafana dashboard the Helm chart ships (deploy/helm/drover/dashboards/drover.json) against
// the real thing: every metric its queries name (panels[].targets[].expr, rows' panels included)
// is in the real /metrics of a drover-sidecar or a drover-controller, with at least one series
// before any event (a NACK counter, a push-latency histogram: exposed at zero), and every query
// answers with data in a real Prometheus scraping both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startStack,
  startPrometheus,
  waitFor,
  readDashboard,
  dashboardQueries,
  metricNamesInExpr,
  exposition,
  findInExposition,
  SIDECAR_JOB,
  CONTROLLER_JOB,
} from './lib.mjs';

const sorted = (set) => [...set].sort();

test('metric names are taken out of PromQL as Grafana panels write it', () => {
  const cases = [
    ['sum by (code) (rate(drover_http_requests_total[5m]))', ['drover_http_requests_total']],
    ['histogram_quantile(0.99, sum by (le) (rate(drover_http_request_duration_seconds_bucket{job=~"a|b"}[$__rate_interval])))', ['drover_http_request_duration_seconds_bucket']],
    ['sum(rate(drover_controller_updates_total{result="nack"}[5m])) / ignoring(result) group_left sum(rate(x_total[5m] offset 1h))', ['drover_controller_updates_total', 'x_total']],
    ['max by (namespace, pod, version) (drover_membership_version_info)', ['drover_membership_version_info']],
    ['sum(a_count) without (le) > bool 0 or on(pod) label_replace(b, "dst", "$1", "src", "(.*)")', ['a_count', 'b']],
    ['{__name__="drover_worker_up", slot="0"} + 1e3 * count_values("v", c)', ['drover_worker_up', 'c']],
    ['topk(5, sum by (reason) (increase(drover_worker_restarts_total[1h:5m])))', ['drover_worker_restarts_total']],
  ];
  for (const [expr, want] of cases) assert.deepEqual(sorted(metricNamesInExpr(expr)), sorted(want), expr);
});

test('the dashboard queries only metrics the sidecar and the controller expose, and each answers in Prometheus', async (t) => {
  const dashboard = readDashboard();
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.length > 0, 'the dashboard has no panels[].targets[].expr');
  const byName = new Map(); // metric name -> panels that query it
  for (const q of queries) {
    const names = metricNamesInExpr(q.expr);
    assert.ok(names.size > 0, `panel "${q.panel}" query ${q.expr} names no metric`);
    for (const n of names) byName.set(n, [...(byName.get(n) || []), q.panel]);
  }

  const stack = await startStack(t);

  // Names the dashboard uses that are missing from the sidecar's and the controller's exposition.
  const missing = (sidecarText, controllerText, skip = new Map()) => {
    const sidecar = exposition(sidecarText);
    const controller = exposition(controllerText);
    const problems = [];
    for (const [name, panels] of [...byName].sort()) {
      const inSidecar = findInExposition(name, sidecar);
      const inController = findInExposition(name, controller);
      if (inSidecar.ok || inController.ok || skip.has(name)) continue;
      const why = [inSidecar, inController].filter((f) => f.family).map((f) => f.why);
      problems.push(`${name} (panels: ${[...new Set(panels)].join('; ')}): ${why.length ? why.join('; ') : 'neither drover-sidecar nor drover-controller exposes it'}`);
    }
    return problems;
  };

  await t.test('every metric named is in the real exposition', async () => {
    const problems = missing(await stack.sidecarMetricsText(), await stack.controllerMetricsText());
    assert.deepEqual(problems, [], `dashboard metrics missing from the real /metrics:\n${problems.join('\n')}`);
  });

  await t.test('every metric named has a series before any event (counters at zero)', async (st) => {
    // Known exception: one series per status code, which appears with the first response of that
    // code; an idle sidecar's "Requests by code" panel shows no data.
    const lazy = new Map([['drover_http_requests_total', 'a series per status code, from its first response']]);
    for (const [name, why] of lazy) if (byName.has(name)) st.diagnostic(`not checked idle: ${name} (${why})`);
    const problems = missing(stack.idle.sidecar, stack.idle.controller, lazy);
    assert.deepEqual(problems, [], `dashboard metrics with no series on an idle sidecar and controller (no request served, no sidecar subscribed):\n${problems.join('\n')}`);
  });

  await t.test('every query succeeds and returns data in Prometheus', async () => {
    const prom = await startPrometheus(t, stack.targets());
    await prom.waitUp([SIDECAR_JOB, CONTROLLER_JOB]);
    // rate() and increase() need two samples of each series: wait (bounded) until every query has
    // data. A query Prometheus refuses ends the wait at once.
    let pending = [];
    let refused = [];
    try {
      await waitFor(
        async () => {
          pending = [];
          refused = [];
          for (const q of queries) {
            const a = await prom.queryRaw(q.expr);
            if (a.status !== 'success') refused.push(`panel "${q.panel}": ${q.expr}: ${a.errorType}: ${a.error}`);
            else if (a.data.result.length === 0) pending.push(`panel "${q.panel}": ${q.expr}`);
          }
          return refused.length > 0 || pending.length === 0;
        },
        { timeoutMs: 20000, intervalMs: 250, what: 'data for every dashboard query' },
      );
    } catch (err) {
      assert.fail(`${err.message}\nqueries with no data:\n${pending.join('\n')}`);
    }
    assert.deepEqual(refused, [], `Prometheus refused dashboard queries:\n${refused.join('\n')}\nno data (yet) for:\n${pending.join('\n')}`);
  });
});
