// Child-process bookkeeping and small waiting helpers shared by every integration test.
//
//   const child = track(spawn(...));   // killed with SIGKILL if the test process exits early
//   await waitFor(() => stats.requests >= 3, { what: 'three requests at the backend' });
//
// Nothing here sleeps to wait for a condition: waitFor polls the condition until a deadline and
// then fails with a message naming what it waited for.

import { setTimeout as delay } from 'node:timers/promises';
import fs from 'node:fs';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const live = new Set();

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

// Registers a child process so that it is killed if this process exits before the test's own
// cleanup ran (a crash, a runner timeout, Ctrl-C).
export function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

// Resolves with { code, signal } when `child` has exited (at once when it already has).
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

// Races `promise` against a deadline; on timeout rejects with "timed out after N ms: what".
export async function withDeadline(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Polls `condition` (sync or async; a truthy result ends the wait and is returned) every
// `intervalMs` until `timeoutMs` has passed, then throws naming `what` and the last value seen.
export async function waitFor(condition, { timeoutMs = 5000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastError;
  for (let i = 0; ; i++) {
    try {
      last = await condition();
      lastError = undefined;
      if (last) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError ? `last error: ${lastError.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${i + 1} tries; ${detail})`);
    }
    await delay(intervalMs);
  }
}

// Resident set size of `pid` in bytes, from /proc/PID/status (VmRSS), or null if it has exited.
export function readRssBytes(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

// Samples the RSS of `pid` every `intervalMs` until stop() is called; stop() returns
// { max, samples, first, last } in bytes. Sampling is observation, not waiting.
export function sampleRss(pid, intervalMs = 50) {
  const values = [];
  const take = () => {
    const v = readRssBytes(pid);
    if (v !== null) values.push(v);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return {
        max: Math.max(...values),
        samples: values.length,
        first: values[0],
        last: values[values.length - 1],
      };
    },
  };
}

// Like sampleRss, but samples from a separate process so that a busy test process (generating
// and hashing data) does not miss peaks. `await stop()` returns the same summary.
export async function sampleRssInChild(pid, intervalMs = 20) {
  const script = fileURLToPath(new URL('./rss-sampler.mjs', import.meta.url));
  const child = track(fork(script, [String(pid), String(intervalMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    async stop() {
      const result = new Promise((resolve) => child.once('message', resolve));
      child.send('stop');
      return withDeadline(result, 5000, 'the RSS sampler to report');
    },
  };
}

export const MiB = 1024 * 1024;
