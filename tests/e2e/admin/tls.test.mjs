// End to end (issue 10): TLS and mTLS on the controller's gRPC port. A sidecar trusting the CA
// (--controller-tls-ca) gets its table over TLS and droverctl (--tls-ca) reads the status; with
// --tls-client-ca, a sidecar without a client certificate never gets a table while one with a
// certificate from that CA does, and droverctl needs its certificate too.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { cluster } from '../lib/cluster.mjs';
import { runDroverctl, randomToken, tempDir, metric, waitFor } from './lib.mjs';

// A throw-away CA, a server certificate for 127.0.0.1 (IP SAN) and a client certificate.
function certificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=drover-e2e-ca', '-days', '1');
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1'], ['client', 'extendedKeyUsage=clientAuth']]) {
    fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  }
  const f = (n) => path.join(dir, n);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}

async function setup(t, { mtls }) {
  const dir = tempDir(t, 'drover-e2e-tls-');
  const certs = certificates(dir);
  const tokenFile = path.join(dir, 'admin-token');
  fs.writeFileSync(tokenFile, `${randomToken()}\n`);
  const c = cluster(t);
  await c.startSim();
  const flags = [`--admin-token-file=${tokenFile}`, `--tls-cert=${certs.cert}`, `--tls-key=${certs.key}`];
  if (mtls) flags.push(`--tls-client-ca=${certs.ca}`);
  const ctl = await c.startController({ flags });
  return { c, ctl, certs, tokenFile };
}

test('TLS: the sidecar and droverctl trust the controller through its CA', { timeout: 90000 }, async (t) => {
  const { c, ctl, certs, tokenFile } = await setup(t, { mtls: false });
  await c.addPod('web-a', { controllers: [ctl.address], flags: [`--controller-tls-ca=${certs.ca}`] });
  await c.addPod('web-b', { controllers: [ctl.address], flags: [`--controller-tls-ca=${certs.ca}`] });
  await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' }, { timeoutMs: 20000 });
  const r = await runDroverctl(['status', '-n', 'shop', '--json', `--addr=${ctl.address}`, `--token-file=${tokenFile}`, `--tls-ca=${certs.ca}`]);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout);
  assert.deepEqual(status.members.map((m) => m.id).sort(), ['web-a', 'web-b']);
  // Without TLS the same port does not answer droverctl.
  const plain = await runDroverctl(['status', '-n', 'shop', `--addr=${ctl.address}`, `--token-file=${tokenFile}`, '--timeout=3s']);
  assert.equal(plain.code, 3, plain.stdout + plain.stderr);
});

test('mTLS: a sidecar without a client certificate gets no table; with one it does', { timeout: 90000 }, async (t) => {
  const { c, ctl, certs, tokenFile } = await setup(t, { mtls: true });
  const anonymous = await c.addPod('web-a', { controllers: [ctl.address], flags: [`--controller-tls-ca=${certs.ca}`] });
  const client = [`--controller-tls-ca=${certs.ca}`, `--controller-tls-cert=${certs.clientCert}`, `--controller-tls-key=${certs.clientKey}`];
  const withCert = await c.addPod('web-b', { controllers: [ctl.address], flags: client });
  await c.waitTables('web', { 'web-a': 'ready', 'web-b': 'ready' }, { pods: [withCert], timeoutMs: 20000 });
  await waitFor(async () => (await metric(anonymous, 'drover_controller_reconnects_total')) >= 2, {
    timeoutMs: 20000,
    what: 'the sidecar without a certificate to have been refused twice',
  });
  const m = await anonymous.membership();
  assert.equal(m.version, null, JSON.stringify(m));
  const base = ['status', '-n', 'shop', `--addr=${ctl.address}`, `--token-file=${tokenFile}`, `--tls-ca=${certs.ca}`, '--timeout=5s'];
  const refused = await runDroverctl(base);
  assert.notEqual(refused.code, 0, 'droverctl without a client certificate is refused');
  const ok = await runDroverctl([...base, `--tls-cert=${certs.clientCert}`, `--tls-key=${certs.clientKey}`]);
  assert.equal(ok.code, 0, ok.stderr);
});
