// Runs an app under Node's own cluster module, the way a cluster-based deployment would:
// round-robin connection scheduling, WORKERS workers, a dead worker forked again at once.
//
//   WORKERS=2 PORT=8080 node bench/cluster-app.js examples/hello/server.js
//
// Workers get NODE_APP_INSTANCE=i (like PM2). SIGTERM/SIGINT stop the workers and then exit.
'use strict';

const cluster = require('node:cluster');
const path = require('node:path');

cluster.schedulingPolicy = cluster.SCHED_RR; // before the first fork

if (cluster.isPrimary) {
  const app = process.argv[2];
  if (!app) {
    console.error('usage: node bench/cluster-app.js APP.js');
    process.exit(2);
  }
  const n = Number(process.env.WORKERS || 2);
  const instanceOf = new Map(); // worker.id -> instance number
  let stopping = false;
  const fork = (instance) => {
    const w = cluster.fork({ NODE_APP_INSTANCE: String(instance), CLUSTER_APP: path.resolve(app) });
    instanceOf.set(w.id, instance);
  };
  for (let i = 0; i < n; i++) fork(i);
  cluster.on('exit', (worker) => {
    const instance = instanceOf.get(worker.id);
    instanceOf.delete(worker.id);
    if (!stopping) fork(instance);
    else if (Object.keys(cluster.workers).length === 0) process.exit(0);
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  require(process.env.CLUSTER_APP);
}
