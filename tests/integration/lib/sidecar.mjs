// Starts the real drover-sidecar binary and learns its ports from the start-up lines it prints
// on stderr (docs/sidecar-cli.md):
//
//   drover-sidecar: listening on 127.0.0.1:43210 (http, 2 threads)
//   drover-sidecar: admin on 127.0.0.1:9901
//
//   const sc = await startSidecar([`--backends=127.0.0.1:${b.port}`]);
//   ... requests to sc.port, admin requests to sc.adminPort ...
//   const { code } = await sc.stop();          // SIGTERM, then SIGKILL after the deadline
//
// The binary comes from env DROVER_SIDECAR, else build/release/sidecar/drover-sidecar under the
// repository root. Unless the caller passes them, --listen, --admin and --threads default to
// 127.0.0.1:0, 127.0.0.1:0 and 1 (one thread keeps balancing counts exact; env
// DROVER_TEST_THREADS overrides it to run the suite multi-threaded), and --drain-delay to 0s so
// that stopping is quick.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { track, exited, withDeadline } from './proc.mjs';

export const REPO_ROOT = path.resolve(fileURLToPath(new URL('../../../', import.meta.url)));

export function sidecarBinary() {
  const fromEnv = process.env.DROVER_SIDECAR;
  if (fromEnv) return path.resolve(fromEnv);
  return path.join(REPO_ROOT, 'build/release/sidecar/drover-sidecar');
}

// Throws a clear error when the binary is missing, instead of a bare ENOENT from spawn.
export function requireBinary() {
  const bin = sidecarBinary();
  if (!fs.existsSync(bin)) {
    throw new Error(`drover-sidecar binary not found at ${bin} (build it, or set DROVER_SIDECAR)`);
  }
  return bin;
}

// Tolerates extra fields after the thread count; cli.test.mjs checks the documented form exactly.
const kListeningRe = /drover-sidecar: listening on (\S+):(\d+) \((\w+), (\d+) threads?[,)]/;
const kAdminRe = /drover-sidecar: admin on (\S+):(\d+)/;

function flagName(flag) {
  const m = /^--([^=]+)/.exec(flag);
  return m ? m[1].replace(/_/g, '-') : null;
}

function withDefaults(flags, defaults) {
  const given = new Set(flags.map(flagName));
  const out = [...flags];
  for (const [name, value] of Object.entries(defaults)) {
    if (!given.has(name)) out.push(`--${name}=${value}`);
  }
  return out;
}

export class Sidecar {
  constructor(child, args) {
    this.child = child;
    this.args = args;
    this.pid = child.pid;
    this.stderr = '';
    this.stdout = '';
    this.port = null;
    this.host = null;
    this.mode = null;
    this.threads = null;
    this.adminPort = null;
    this.stopping = false;
    this.exit = exited(child);
  }

  // True while the process has not exited.
  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  // The last `n` characters of stderr, for failure messages.
  tail(n = 4000) {
    return this.stderr.length > n ? `...${this.stderr.slice(-n)}` : this.stderr;
  }

  // Sends `signal` and waits up to `timeoutMs` for the exit; then SIGKILLs. Returns
  // { code, signal, ms, killed } where ms is the time from the signal to the exit.
  async stop(signal = 'SIGTERM', timeoutMs = 5000) {
    this.stopping = true;
    const t0 = Date.now();
    if (!this.alive) return { ...(await this.exit), ms: 0, killed: false, alreadyExited: true };
    this.child.kill(signal);
    try {
      const r = await withDeadline(this.exit, timeoutMs, `drover-sidecar exit after ${signal}`);
      return { ...r, ms: Date.now() - t0, killed: false };
    } catch {
      this.child.kill('SIGKILL');
      const r = await this.exit;
      return { ...r, ms: Date.now() - t0, killed: true };
    }
  }
}

// Spawns the sidecar with `flags` (plus defaults) and resolves once it printed its listening
// line (and its admin line, unless --admin is empty). Rejects with its stderr if it exits or
// stays silent for `timeoutMs`.
export async function startSidecar(flags, { timeoutMs = 10000, env = {}, defaults = {} } = {}) {
  const bin = requireBinary();
  const args = withDefaults(flags, {
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    threads: process.env.DROVER_TEST_THREADS || '1',
    'drain-delay': '0s',
    ...defaults,
  });
  const adminFlag = args.find((f) => flagName(f) === 'admin');
  const wantAdmin = adminFlag !== undefined && adminFlag.split('=').slice(1).join('=') !== '';
  const child = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  const sc = new Sidecar(child, args);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    sc.stdout += d;
    if (sc.stdout.length > 1 << 20) sc.stdout = sc.stdout.slice(-(1 << 19));
  });
  const ready = new Promise((resolve, reject) => {
    const check = () => {
      if (sc.port === null) {
        const m = kListeningRe.exec(sc.stderr);
        if (m) {
          sc.host = m[1];
          sc.port = Number(m[2]);
          sc.mode = m[3];
          sc.threads = Number(m[4]);
        }
      }
      if (wantAdmin && sc.adminPort === null) {
        const m = kAdminRe.exec(sc.stderr);
        if (m) sc.adminPort = Number(m[2]);
      }
      if (sc.port !== null && (!wantAdmin || sc.adminPort !== null)) resolve(sc);
    };
    child.stderr.on('data', (d) => {
      sc.stderr += d;
      if (sc.stderr.length > 1 << 20) sc.stderr = sc.stderr.slice(-(1 << 19));
      check();
    });
    child.once('error', (err) => reject(new Error(`cannot spawn ${bin}: ${err.message}`)));
    sc.exit.then(({ code, signal }) =>
      reject(
        new Error(
          `drover-sidecar exited (code ${code}, signal ${signal}) before it was listening; ` +
            `args: ${args.join(' ')}\nstderr:\n${sc.tail()}`,
        ),
      ),
    );
  });
  try {
    return await withDeadline(ready, timeoutMs, `"listening on" line from drover-sidecar ${args.join(' ')}`);
  } catch (err) {
    child.kill('SIGKILL');
    err.message += `\nstderr so far:\n${sc.tail()}`;
    throw err;
  }
}

// Runs the sidecar to completion (CLI tests): resolves { code, signal, stdout, stderr, ms }.
// Kills it and rejects if it has not exited within `timeoutMs`.
export async function runSidecar(args, { timeoutMs = 10000 } = {}) {
  const bin = requireBinary();
  const t0 = Date.now();
  const child = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = exited(child);
  try {
    const { code, signal } = await withDeadline(done, timeoutMs, `drover-sidecar ${args.join(' ')} to exit`);
    // Let the pipes drain: 'exit' may come before the last 'data'.
    await Promise.all([
      new Promise((r) => (child.stdout.readableEnded ? r() : child.stdout.once('close', r))),
      new Promise((r) => (child.stderr.readableEnded ? r() : child.stderr.once('close', r))),
    ]);
    return { code, signal, stdout, stderr, ms: Date.now() - t0 };
  } catch (err) {
    child.kill('SIGKILL');
    err.message += `\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    throw err;
  }
}
