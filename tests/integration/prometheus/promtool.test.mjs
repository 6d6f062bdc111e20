// `promtool check metrics` (Debian's prometheus package) passes on the real /metrics of a
// drover-sidecar (supervisor mode, after plain and sticky requests) and of a drover-controller
// (watching two app pods in kube-sim): the exposition parses and follows Prometheus's naming
// conventions (help text, _total on counters, base units, no type in names, ...).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, promtoolCheckMetrics } from './lib.mjs';

test('promtool finds problems when there are some (the check is not vacuous)', async () => {
  const bad = [
    '# HELP drover_bad_requests Requests.',
    '# TYPE drover_bad_requests counter',
    'drover_bad_requests 1',
    '# TYPE drover_bad_latency_milliseconds gauge',
    'drover_bad_latency_milliseconds 3',
    '',
  ].join('\n');
  const r = await promtoolCheckMetrics(bad);
  assert.notEqual(r.code, 0, `promtool accepted a counter without _total and a metric without help:\n${r.output}`);
  assert.match(r.output, /_total/, r.output);
});

test('promtool check metrics passes on the sidecar and the controller /metrics', async (t) => {
  const stack = await startStack(t);
  for (const [what, scrape] of [
    ['drover-sidecar', stack.sidecarMetricsText],
    ['drover-controller', stack.controllerMetricsText],
  ]) {
    await t.test(what, async () => {
      const text = await scrape();
      assert.ok(/^# TYPE drover_/m.test(text), `${what} /metrics has no drover_ family:\n${text.slice(0, 500)}`);
      const r = await promtoolCheckMetrics(text);
      assert.equal(
        r.code,
        0,
        `promtool check metrics failed on ${what} /metrics (exit ${r.code}, signal ${r.signal}):\n${r.output}\n` +
          `--- the exposition (drover_ families) ---\n${text.split('\n').filter((l) => l.includes('drover_')).join('\n').slice(0, 20000)}`,
      );
    });
  }
});
