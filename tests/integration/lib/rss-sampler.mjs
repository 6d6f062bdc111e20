// Samples the RSS of process argv[2] every argv[3] ms in its own process (so a busy test process
// does not skip samples) until the parent sends 'stop'; then replies { max, first, last, samples }
// in bytes and exits. Forked by sampleRssInChild() in proc.mjs.

import fs from 'node:fs';

const pid = Number(process.argv[2]);
const intervalMs = Number(process.argv[3] || 20);
const values = [];

function take() {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) values.push(Number(m[1]) * 1024);
  } catch {
    // the process is gone; keep what we have
  }
}

take();
const timer = setInterval(take, intervalMs);
process.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  take();
  process.send({ max: Math.max(...values), first: values[0], last: values[values.length - 1], samples: values.length }, () => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
