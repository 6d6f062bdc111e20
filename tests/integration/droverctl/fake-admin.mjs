// A fake drover.v1.Admin server for droverctl's tests, on 127.0.0.1 port 0, built from the
// repository's own proto files with @grpc/grpc-js, so the client is proved against the
// contract rather than against the controller.
//
//   const admin = await startFakeAdmin(t, { GetStatus: (call, cb) => cb(null, statusReply) });
//   const r = await runCtl(['status', `--addr=${admin.addr}`], { env: { DROVER_TOKEN: kToken } });
//   admin.calls[0] -> { method: 'GetStatus', request: { namespace: '' }, authorization: 'Bearer ...' }
//
// Every call is recorded with its request and authorization metadata before the handler runs.
// Without a handler a method answers UNIMPLEMENTED. Unless `token` is null, a call without
// `authorization: Bearer <token>` gets UNAUTHENTICATED, as the controller answers. `credentials`
// (grpc.ServerCredentials) serves TLS; see makeCertificates.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { REPO_ROOT } from '../lib/sidecar.mjs';
import { track, exited, withDeadline } from '../lib/proc.mjs';

export const kToken = 'fake-admin-token-0123456789';

const kMethods = ['Scale', 'GetScale', 'GetStatus', 'ListMembers', 'Drain', 'Undrain', 'RestartWorkers'];

let cachedService;
function adminService() {
  if (!cachedService) {
    const definition = protoLoader.loadSync('drover/v1/admin.proto', {
      includeDirs: [path.join(REPO_ROOT, 'proto')],
      keepCase: true, // requests arrive with the proto's own field names
      longs: String,
      enums: String,
      defaults: true,
    });
    cachedService = grpc.loadPackageDefinition(definition).drover.v1.Admin.service;
  }
  return cachedService;
}

export async function startFakeAdmin(t, handlers = {}, { token = kToken, credentials } = {}) {
  const calls = [];
  const server = new grpc.Server();
  const implementation = {};
  for (const method of kMethods) {
    implementation[method] = (call, callback) => {
      const authorization = call.metadata.get('authorization')[0] ?? null;
      calls.push({ method, request: call.request, authorization });
      const fail = (code, details) => {
        if (callback) callback({ code, details });
        else call.emit('error', { code, details });
      };
      if (token !== null && authorization !== `Bearer ${token}`) {
        fail(grpc.status.UNAUTHENTICATED, 'missing or wrong admin token');
        return;
      }
      const handler = handlers[method];
      if (!handler) {
        fail(grpc.status.UNIMPLEMENTED, `fake Admin has no ${method}`);
        return;
      }
      handler(call, callback);
    };
  }
  server.addService(adminService(), implementation);
  const port = await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  // grpc-js 1.10 and later serve as soon as the port is bound.
  const fake = { port, addr: `127.0.0.1:${port}`, calls, server };
  t.after(() => server.forceShutdown());
  return fake;
}

// A throw-away CA, a server certificate for `serverName` only (no IP address, so connecting
// to 127.0.0.1 needs --tls-server-name) and a client certificate, made with the openssl CLI.
// Returns the PEM file paths and grpc-js server credentials (mTLS when `requireClient`).
export function makeCertificates(dir, serverName, { requireClient = false } = {}) {
  const file = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=droverctl-test-ca', '-days', '1');
  for (const [name, ext] of [['server', `subjectAltName=DNS:${serverName}`], ['client', 'extendedKeyUsage=clientAuth']]) {
    fs.writeFileSync(file(`${name}.ext`), `${ext}\n`);
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  }
  const read = (name) => fs.readFileSync(file(name));
  return {
    ca: file('ca.crt'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    credentials: grpc.ServerCredentials.createSsl(
      read('ca.crt'),
      [{ private_key: read('server.key'), cert_chain: read('server.crt') }],
      requireClient,
    ),
  };
}

export function grpcError(code, details) {
  return { code: grpc.status[code], details };
}

export function droverctlBinary() {
  const bin = process.env.DROVERCTL;
  if (!bin) throw new Error('set DROVERCTL to the droverctl binary (ctest does)');
  return path.resolve(bin);
}

// Spawns droverctl with a clean environment (no DROVER_ADDR or DROVER_TOKEN from the caller's
// shell) plus `env`. Returns the child and a promise of { code, signal, stdout, stderr }.
export function spawnCtl(args, { env = {} } = {}) {
  const base = { ...process.env };
  delete base.DROVER_ADDR;
  delete base.DROVER_TOKEN;
  const child = track(spawn(droverctlBinary(), args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  const result = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    result.stdout += d;
    child.emit('stdout-changed', result.stdout);
  });
  child.stderr.on('data', (d) => {
    result.stderr += d;
  });
  const done = new Promise((resolve) => {
    child.once('close', (code, signal) => resolve({ ...result, code, signal }));
  });
  child.result = result;
  return { child, done };
}

// Runs droverctl to the end (10 s at most).
export async function runCtl(args, options) {
  const { done } = spawnCtl(args, options);
  return withDeadline(done, 10000, `droverctl ${args.join(' ')}`);
}

// Resolves once the child's stdout so far satisfies `predicate` (checked on every chunk).
export function stdoutMatches(child, predicate, what) {
  if (predicate(child.result.stdout)) return Promise.resolve(child.result.stdout);
  return withDeadline(
    new Promise((resolve) => {
      const onChange = (text) => {
        if (predicate(text)) {
          child.off('stdout-changed', onChange);
          resolve(text);
        }
      };
      child.on('stdout-changed', onChange);
    }),
    10000,
    what,
  );
}

export { exited };
