// drover-sidecar's listeners belong to one process (docs/sidecar-cli.md): a second sidecar on a
// port that the first holds exits 1 naming the flag, and the first keeps serving. And the
// command line's exit codes: an unknown flag exits 2, --version and --help exit 0.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, runSidecar } from './lib/sidecar.mjs';
import { scope, backendsFlag } from './lib/scope.mjs';
import { request } from './lib/backends.mjs';

function nonEmptyLines(text) {
  return text.split('\n').filter((l) => l.trim() !== '');
}

// The listener flags of a second sidecar, each pointed at one port of the first.
const kClashes = [
  { flag: 'listen', port: (sc) => sc.port },
  { flag: 'admin', port: (sc) => sc.adminPort },
  { flag: 'peer-listen', port: (sc) => sc.peerPort },
];

// For each of --listen, --admin and --peer-listen: a second sidecar given a port of a running
// one (which has two threads, so its listeners form a SO_REUSEPORT group) exits 1 with one line
// naming the flag and "address already in use"; the first still answers on every port.
test('a second sidecar on a port the first holds exits 1 naming the flag', async (t) => {
  const s = scope(t);
  const b = await s.httpBackend();
  const sc = await s.sidecar([backendsFlag(b), '--threads=2', '--peer-listen=127.0.0.1:0']);
  sc.peerPort = Number(/drover-sidecar: peers on 127\.0\.0\.1:(\d+)/.exec(sc.stderr)[1]);
  for (const clash of kClashes) {
    await t.test(`--${clash.flag}`, async () => {
      const flags = { listen: '127.0.0.1:0', admin: '127.0.0.1:0', 'peer-listen': '127.0.0.1:0' };
      flags[clash.flag] = `127.0.0.1:${clash.port(sc)}`;
      const args = [backendsFlag(b), '--threads=2', ...Object.entries(flags).map(([k, v]) => `--${k}=${v}`)];
      const r = await runSidecar(args, { timeoutMs: 5000 });
      assert.equal(r.code, 1, `exit code; stderr:\n${r.stderr}`);
      const lines = nonEmptyLines(r.stderr).filter((l) => !/backend .* is down/.test(l));
      assert.equal(lines.length, 1, `expected one error line:\n${r.stderr}`);
      assert.equal(lines[0], `drover-sidecar: --${clash.flag} 127.0.0.1:${clash.port(sc)}: address already in use (another process holds it)`);
      assert.equal((await request(sc.port, { path: '/still', timeoutMs: 3000 })).status, 200);
      assert.equal((await request(sc.adminPort, { path: '/healthz', timeoutMs: 3000 })).status, 200);
      assert.equal((await request(sc.peerPort, { path: '/peer', timeoutMs: 3000 })).status, 200);
    });
  }
});

// An unknown flag is a usage error: exit 2, one line naming it.
test('an unknown flag exits 2', async () => {
  const r = await runSidecar(['--admin=', '--listen=127.0.0.1:0', '--backends=127.0.0.1:1', '--no-such-flag=1']);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(nonEmptyLines(r.stderr), ['drover-sidecar: unknown flag --no-such-flag (see --help)']);
});

// --version prints the project's version (CMakeLists.txt) and exits 0.
test('--version prints the project version', async () => {
  const cmake = fs.readFileSync(path.join(REPO_ROOT, 'CMakeLists.txt'), 'utf8');
  const version = /project\(drover VERSION (\S+)/.exec(cmake)[1];
  const r = await runSidecar(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `drover-sidecar ${version}\n`);
});

// --help exits 0 and names no source file or path of the machine that built the binary.
test('--help exits 0 and shows no build path', async () => {
  const r = await runSidecar(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /--admin-token-file|--admin_token_file/);
  assert.doesNotMatch(r.stdout, /\/work\/|\.cc\b|\.h\b/);
});
