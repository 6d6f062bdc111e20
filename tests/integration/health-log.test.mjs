// Proxy-only mode: a backend that goes down at run time is logged once when it goes down and
// once when it comes back, however many health checks (and refused requests) see it meanwhile.

import test from 'node:test';
import assert from 'node:assert/strict';
import { scope, backendsFlag } from './lib/scope.mjs';
import { waitBackendsUp } from './lib/admin.mjs';
import { request, startHttpBackend } from './lib/backends.mjs';
import { waitFor } from './lib/proc.mjs';

function linesMatching(text, re) {
  return text.split('\n').filter((l) => re.test(l));
}

// kill -9 of a backend under requests, ten health intervals down, then back: one line each way.
test('a backend going down and up is logged once each way', { timeout: 30000 }, async (t) => {
  const s = scope(t);
  const a = await s.childBackend('a');
  const b = await s.httpBackend({ name: 'b' });
  const intervalMs = 100;
  const sc = await s.sidecar([backendsFlag(a, b), `--health-interval=${intervalMs}ms`, '--balance=roundrobin']);
  await waitBackendsUp(sc, [a.port, b.port]);
  const name = `127.0.0.1:${a.port}`;
  const down = new RegExp(`backend ${name.replace(/\./g, '\\.')} is down`);
  const up = new RegExp(`backend ${name.replace(/\./g, '\\.')} is up`);

  await a.kill();
  // Requests right away: the first refused connect takes the backend out (passive check),
  // usually before the next active check.
  for (let i = 0; i < 6; i++) assert.equal((await request(sc.port, { path: `/down/${i}` })).status, 200);
  await waitBackendsUp(sc, [a.port], { value: 0 });
  // Ten health intervals with the backend down, and requests meanwhile.
  const until = Date.now() + 10 * intervalMs;
  while (Date.now() < until) assert.equal((await request(sc.port, { path: '/meanwhile' })).status, 200);
  assert.equal(linesMatching(sc.stderr, down).length, 1, `"is down" lines for ${name}:\n${sc.stderr}`);
  assert.equal(linesMatching(sc.stderr, up).length, 0, `"is up" lines for ${name} while down:\n${sc.stderr}`);

  const again = await startHttpBackend({ name: 'a-again', port: a.port });
  s.defer(() => again.close());
  await waitBackendsUp(sc, [a.port]);
  const settle = Date.now() + 5 * intervalMs;
  while (Date.now() < settle) await request(sc.port, { path: '/after' });
  await waitFor(() => linesMatching(sc.stderr, up).length >= 1, { what: `"is up" for ${name}` });
  assert.equal(linesMatching(sc.stderr, up).length, 1, `"is up" lines for ${name}:\n${sc.stderr}`);
  assert.equal(linesMatching(sc.stderr, down).length, 1, `"is down" lines for ${name}:\n${sc.stderr}`);
});
