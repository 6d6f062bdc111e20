#!/usr/bin/env node
// Creates the pods that sidecar_swarm's simulated sidecars claim to be, in the Kubernetes API
// simulator (tests/support/kube-sim): ordinary pods, Running and Ready.
//
//   node bench/controller/pods.mjs --api=http://127.0.0.1:PORT --namespace=NS --count=N
//        [--prefix=swarm-] [--app=swarm] [--workers=2] [--peer-port-base=20000]
//        [--via=sim|api] [--concurrency=32] [--uids-out=FILE]
//
// Pod i is PREFIXi with label app.kubernetes.io/name=APP, annotations drover.io/workers=WORKERS
// and drover.io/peer-port=PEER_PORT_BASE+i, and podIP 127.0.0.(2 + i % 254): the identity
// sidecar_swarm's sidecar i says hello with (PodIp and PeerPort in bench/controller/swarm.cc).
// --via=sim (default) creates them 500 at a time through the simulator's POST /sim/pods, which
// writes each pod and then its status as a kubelet would (10,000 pods in about 10 s);
// --via=api goes through the Kubernetes API alone, POST the pod then PATCH pods/status, one
// request each (about 8 ms per pod here: 10,000 take well over a minute).
// --uids-out writes "NAME UID" lines for sidecar_swarm --pod-uids. Prints one line when done.

import fs from 'node:fs';

function usage(message) {
  process.stderr.write(`pods.mjs: ${message}\n`);
  process.exit(2);
}

const opts = { prefix: 'swarm-', app: 'swarm', workers: '2', 'peer-port-base': '20000', concurrency: '32', via: 'sim' };
for (const arg of process.argv.slice(2)) {
  const m = /^--([a-z-]+)=(.*)$/.exec(arg);
  if (!m) usage(`unexpected argument ${arg}`);
  opts[m[1]] = m[2];
}
for (const key of ['api', 'namespace', 'count']) if (!opts[key]) usage(`--${key} is required`);
const count = Number(opts.count);
const portBase = Number(opts['peer-port-base']);
const concurrency = Number(opts.concurrency);
if (!Number.isInteger(count) || count < 1) usage('--count must be a positive integer');
if (!Number.isInteger(portBase) || portBase < 1 || portBase + count > 65536) usage('bad --peer-port-base');
if (!Number.isInteger(concurrency) || concurrency < 1) usage('--concurrency must be a positive integer');
if (opts.via !== 'sim' && opts.via !== 'api') usage('--via is sim or api');
const api = opts.api.replace(/\/$/, '');
const ns = opts.namespace;

const podIp = (i) => `127.0.0.${2 + (i % 254)}`;

async function call(method, path, body, contentType = 'application/json') {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { 'content-type': contentType, accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

const labels = { 'app.kubernetes.io/name': opts.app };
const annotations = (i) => ({ 'drover.io/workers': opts.workers, 'drover.io/peer-port': String(portBase + i) });

// Pods [from, to) in one request to the simulator's control endpoint.
async function runPods(from, to) {
  const batch = [];
  for (let i = from; i < to; i++) {
    batch.push({ namespace: ns, name: `${opts.prefix}${i}`, labels, annotations: annotations(i), ip: podIp(i), ready: true, phase: 'Running' });
  }
  const res = await call('POST', '/sim/pods', batch);
  if (res.status !== 200) throw new Error(`POST /sim/pods: HTTP ${res.status} ${res.text.slice(0, 200)}`);
  return res.json.map((pod) => [pod.metadata.name, pod.metadata.uid]);
}

// Pod i through the Kubernetes API: create, then the kubelet's status write.
async function createPod(i) {
  const name = `${opts.prefix}${i}`;
  const created = await call('POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels, annotations: annotations(i) },
    spec: { nodeName: 'sim-node', containers: [{ name: 'app', image: 'drover-bench/swarm:latest' }] },
  });
  if (created.status !== 201 && created.status !== 200) {
    throw new Error(`POST pod ${name}: HTTP ${created.status} ${created.text.slice(0, 200)}`);
  }
  const ip = podIp(i);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const cond = (type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
  const patched = await call(
    'PATCH',
    `/api/v1/namespaces/${ns}/pods/${name}/status`,
    {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        hostIP: '127.0.0.1',
        startTime: now,
        conditions: [cond('Initialized'), cond('Ready'), cond('ContainersReady'), cond('PodScheduled')],
      },
    },
    'application/merge-patch+json',
  );
  if (patched.status !== 200) {
    throw new Error(`PATCH ${name}/status: HTTP ${patched.status} ${patched.text.slice(0, 200)}`);
  }
  return [name, created.json.metadata.uid];
}

const started = Date.now();
const ensured = await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
if (ensured.status !== 201 && ensured.status !== 200 && ensured.status !== 409) {
  usage(`creating namespace ${ns}: HTTP ${ensured.status} ${ensured.text.slice(0, 200)}`);
}
let uids = new Array(count);
let next = 0;
async function worker() {
  while (next < count) {
    const i = next++;
    uids[i] = await createPod(i);
  }
}
try {
  if (opts.via === 'sim') {
    uids = [];
    for (let from = 0; from < count; from += 500) uids.push(...(await runPods(from, Math.min(count, from + 500))));
  } else {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  }
} catch (err) {
  process.stderr.write(`pods.mjs: ${err.message}\n`);
  process.exit(1);
}
if (opts['uids-out']) fs.writeFileSync(opts['uids-out'], uids.map(([n, u]) => `${n} ${u}\n`).join(''));
process.stdout.write(`pods.mjs: ${count} pods ${opts.prefix}0..${opts.prefix}${count - 1} Running and Ready in ${ns} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
