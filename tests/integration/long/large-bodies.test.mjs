// 1 GiB through the proxy each way with its memory sampled: bodies stream with backpressure and
// are never held whole. Slow (seconds to minutes): runs only with DROVER_LONG_TESTS=1, because
// `node --test tests/integration/` also finds this directory.
//
// The RSS bound is DROVER_RSS_LIMIT_MIB (default 64) over the idle RSS. Under ASan, freed memory
// sits in quarantine: run with ASAN_OPTIONS=quarantine_size_mb=16 or raise the bound.

import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { scope, backendsFlag } from '../lib/scope.mjs';
import { request } from '../lib/backends.mjs';
import { writeGenerated, hashStream } from '../lib/data.mjs';
import { readRssBytes, sampleRssInChild, withDeadline, MiB } from '../lib/proc.mjs';
import { waitReady } from '../lib/admin.mjs';

const kLong = process.env.DROVER_LONG_TESTS === '1';
const kSize = Number(process.env.DROVER_LONG_BYTES || 1024 * MiB);
const kLimit = Number(process.env.DROVER_RSS_LIMIT_MIB || 64) * MiB;
const skip = kLong ? false : 'set DROVER_LONG_TESTS=1 to run the 1 GiB tests';

async function setUp(t) {
  const s = scope(t);
  const child = await s.childBackend('big');
  const sc = await s.sidecar([backendsFlag(child), '--threads=2']);
  await waitReady(sc);
  // Warm up (pools, buffers) before taking the idle RSS.
  for (let i = 0; i < 5; i++) assert.equal((await request(sc.port, { path: `/warm/${i}` })).status, 200);
  const idle = readRssBytes(sc.pid);
  return { s, child, sc, idle };
}

function report(what, idle, rss) {
  return `${what}: idle RSS ${(idle / MiB).toFixed(1)} MiB, max ${(rss.max / MiB).toFixed(1)} MiB over ${rss.samples} samples (bound +${kLimit / MiB} MiB)`;
}

// A 1 GiB Content-Length upload reaches the backend intact while the proxy's RSS stays within
// the bound over its idle RSS.
test('1 GiB upload through the proxy, RSS bounded', { skip, timeout: 600000 }, async (t) => {
  const { sc, idle } = await setUp(t);
  const rss = await sampleRssInChild(sc.pid, 20);
  const req = http.request({ host: '127.0.0.1', port: sc.port, method: 'POST', path: '/upload', headers: { 'Content-Length': String(kSize) }, agent: false });
  const responseP = once(req, 'response');
  const sent = await writeGenerated(req, kSize);
  req.end();
  const [res] = await withDeadline(responseP, 120000, 'upload response');
  const parts = [];
  for await (const d of res) parts.push(d);
  const stats = await rss.stop();
  t.diagnostic(report('upload', idle, stats));
  assert.equal(res.statusCode, 200);
  const received = JSON.parse(Buffer.concat(parts).toString());
  assert.equal(sent.bytes, kSize);
  assert.equal(received.bytes, kSize, 'bytes the backend received');
  assert.equal(received.md5, sent.md5, 'md5 of what the backend received vs what was sent');
  assert.ok(stats.max - idle < kLimit, report('upload', idle, stats));
});

// A 1 GiB chunked download arrives intact (hash compared with what the backend generated) while
// the proxy's RSS stays within the bound; the client reads and hashes, slower than the backend
// writes, so the proxy must apply backpressure.
test('1 GiB download through the proxy, RSS bounded', { skip, timeout: 600000 }, async (t) => {
  const { sc, child, idle } = await setUp(t);
  const rss = await sampleRssInChild(sc.pid, 20);
  const res = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: sc.port, path: `/download?bytes=${kSize}&framing=chunked`, agent: false }, resolve);
    req.on('error', reject);
  });
  assert.equal(res.statusCode, 200);
  const got = await withDeadline(hashStream(res), 300000, 'download body');
  const stats = await rss.stop();
  t.diagnostic(report('download', idle, stats));
  const done = await child.nextMessage((m) => m.event === 'download-done', 10000, 'download-done');
  assert.equal(got.bytes, kSize);
  assert.equal(got.md5, done.md5, 'md5 of the received body vs what the backend generated');
  assert.ok(stats.max - idle < kLimit, report('download', idle, stats));
});
