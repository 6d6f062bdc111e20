// The admin listener: /metrics (documented families, counts that move), /healthz, /readyz.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from './lib/scope.mjs';
import { request, scrape, metricSum, samplesMentioning, freePort } from './lib/backends.mjs';
import { waitReady, waitReadyz, waitBackendsUp } from './lib/admin.mjs';
import { waitFor } from './lib/proc.mjs';
import { rawExchange } from './lib/http1.mjs';

const kFamilies = {
  drover_http_requests_total: 'counter',
  drover_http_request_duration_seconds: 'histogram',
  drover_active_connections: 'gauge',
  drover_backend_outstanding_requests: 'gauge',
  drover_bytes_total: 'counter',
  drover_errors_total: 'counter',
  drover_backend_up: 'gauge',
};

// /metrics declares every documented family with its type.
test('/metrics has the documented metric families and types', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  await waitReady(sc);
  // One request so that families with labels have samples.
  assert.equal((await request(sc.port, { path: '/warm' })).status, 200);
  const r = await request(sc.adminPort, { path: '/metrics' });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] || '', /^text\/plain/);
  const m = await scrape(sc.adminPort);
  for (const [family, type] of Object.entries(kFamilies)) {
    assert.equal(m.types[family], type, `# TYPE ${family} ${type} missing or different (got ${m.types[family]})`);
  }
});

// Counters move with traffic: 5 requests add exactly 5 to drover_http_requests_total and to the
// duration histogram's count; bytes grow by at least the body sizes.
test('request, duration and byte metrics count the traffic', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  await waitReady(sc);
  const before = await scrape(sc.adminPort);
  const body = 'z'.repeat(10000);
  for (let i = 0; i < 5; i++) {
    const r = await request(sc.port, { method: 'POST', path: `/m/${i}`, body, headers: { 'Content-Length': String(body.length) } });
    assert.equal(r.status, 200);
  }
  // Counters may be updated just after the response is written: wait for them with a deadline.
  let after;
  await waitFor(
    async () => {
      after = await scrape(sc.adminPort);
      return metricSum(after, 'drover_http_requests_total') - metricSum(before, 'drover_http_requests_total') >= 5;
    },
    { timeoutMs: 3000, what: 'drover_http_requests_total to grow by 5' },
  );
  assert.equal(metricSum(after, 'drover_http_requests_total') - metricSum(before, 'drover_http_requests_total'), 5, 'drover_http_requests_total delta');
  assert.equal(
    metricSum(after, 'drover_http_request_duration_seconds_count') - metricSum(before, 'drover_http_request_duration_seconds_count'),
    5,
    'drover_http_request_duration_seconds_count delta',
  );
  const bytes = metricSum(after, 'drover_bytes_total') - metricSum(before, 'drover_bytes_total');
  assert.ok(bytes >= 5 * body.length, `drover_bytes_total grew by ${bytes}, less than the ${5 * body.length} body bytes`);
  // The 200s are labelled as such when a code label exists.
  const codeSamples = after.samples.filter((x) => x.name === 'drover_http_requests_total' && x.labels.code !== undefined);
  if (codeSamples.length > 0) {
    const d200 = metricSum(after, 'drover_http_requests_total', { code: (v) => v === '200' || v === '2xx' }) - metricSum(before, 'drover_http_requests_total', { code: (v) => v === '200' || v === '2xx' });
    assert.equal(d200, 5, 'requests with code 200');
  }
});

// drover_errors_total moves after a malformed request (400) and after a 502.
test('drover_errors_total counts rejected requests and backend failures', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  await waitReady(sc);
  const before = metricSum(await scrape(sc.adminPort), 'drover_errors_total');
  const bad = await rawExchange(sc.port, 'GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', { timeoutMs: 3000 });
  assert.match(bad.data.toString('latin1'), /^HTTP\/1\.1 400 /);
  await waitFor(async () => metricSum(await scrape(sc.adminPort), 'drover_errors_total') > before, {
    timeoutMs: 3000,
    what: 'drover_errors_total to grow after a 400',
  });
});

// drover_active_connections follows open client connections; drover_backend_outstanding_requests
// shows a request held at its backend and drops back when it completes.
test('active connection and outstanding request gauges follow the traffic', async (t) => {
  const s = scope(t);
  let release;
  const held = new Promise((r) => (release = r));
  let arrived = false;
  const b = await s.httpBackend({
    name: 'hold',
    handler: async (req, res) => {
      req.resume();
      if (req.url === '/hold') {
        arrived = true;
        await held;
      }
      res.writeHead(200, { 'Content-Length': 2 });
      res.end('ok');
    },
  });
  s.defer(() => release());
  const sc = await s.sidecar([backendsFlag(b)]);
  await waitReady(sc);
  const base = metricSum(await scrape(sc.adminPort), 'drover_active_connections');
  const conns = [];
  for (let i = 0; i < 3; i++) conns.push(await s.connect(sc.port));
  await waitFor(async () => metricSum(await scrape(sc.adminPort), 'drover_active_connections') === base + 3, {
    timeoutMs: 3000,
    what: `drover_active_connections == ${base + 3} with three open clients`,
  });
  await conns[0].write('GET /hold HTTP/1.1\r\nHost: t\r\n\r\n');
  await waitFor(() => arrived, { what: 'the held request at the backend' });
  const mine = `127.0.0.1:${b.port}`;
  await waitFor(
    async () => {
      const m = await scrape(sc.adminPort);
      const x = samplesMentioning(m, 'drover_backend_outstanding_requests', mine);
      return x.length > 0 && x.reduce((n, y) => n + y.value, 0) === 1;
    },
    { timeoutMs: 3000, what: `drover_backend_outstanding_requests{...${mine}} == 1 while a request is held` },
  );
  release();
  assert.equal((await conns[0].readResponse()).status, 200);
  await waitFor(
    async () => {
      const m = await scrape(sc.adminPort);
      return samplesMentioning(m, 'drover_backend_outstanding_requests', mine).reduce((n, y) => n + y.value, 0) === 0;
    },
    { timeoutMs: 3000, what: 'drover_backend_outstanding_requests back to 0' },
  );
  for (const c of conns) c.destroy();
  await waitFor(async () => metricSum(await scrape(sc.adminPort), 'drover_active_connections') === base, {
    timeoutMs: 3000,
    what: `drover_active_connections back to ${base} after the clients closed`,
  });
});

// /healthz is 200 while the process runs, even with every backend down; /readyz is 200 with a
// backend up, 503 with none, and 200 again when the backend comes back; drover_backend_up agrees.
test('/healthz and /readyz follow backend health', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const dead = await freePort();
  const sc = await s.sidecar([backendsFlag(b.port, dead), '--health-interval=200ms', '--connect-timeout=500ms']);
  await waitReadyz(sc, 200);
  await waitBackendsUp(sc, [b.port], { value: 1 });
  await waitBackendsUp(sc, [dead], { value: 0 });
  assert.equal((await request(sc.adminPort, { path: '/healthz' })).status, 200);

  await b.stopListening();
  await waitReadyz(sc, 503);
  await waitBackendsUp(sc, [b.port], { value: 0 });
  assert.equal((await request(sc.adminPort, { path: '/healthz' })).status, 200, '/healthz stays 200 with backends down');

  await b.restart();
  await waitReadyz(sc, 200);
  await waitBackendsUp(sc, [b.port], { value: 1 });
  assert.equal((await request(sc.port, { path: '/back' })).status, 200);
});

// An unknown admin path is a 404, not a crash or a metrics page.
test('unknown admin path is 404', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  assert.equal((await request(sc.adminPort, { path: '/nope' })).status, 404);
  assert.equal((await request(sc.adminPort, { path: '/healthz' })).status, 200);
});

// Every admin answer names its status and its content type: the probes' plain text, and a
// reload refused in proxy-only mode (nothing to reload) as 409 Conflict with the reason.
test('admin answers carry a reason phrase and a Content-Type', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b)]);
  await waitReady(sc);
  for (const path of ['/healthz', '/readyz']) {
    const { data } = await rawExchange(sc.adminPort, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    const head = data.toString('latin1');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/, path);
    assert.match(head, /\r\nContent-Type: text\/plain; charset=utf-8\r\n/, path);
  }
  const { data } = await rawExchange(sc.adminPort, 'POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  const head = data.toString('latin1');
  assert.match(head, /^HTTP\/1\.1 409 Conflict\r\n/);
  assert.match(head, /\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
});
