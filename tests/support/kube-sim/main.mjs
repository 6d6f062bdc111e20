#!/usr/bin/env node
// kube-sim as a process, for tests and benchmarks outside Node (the C++ controller tests,
// shell scripts):
//
//   node tests/support/kube-sim/main.mjs [--port=N] [--host=127.0.0.1] [--max-history=N]
//        [--bookmark-interval-ms=60000] [--default-grace-seconds=30]
//        [--watch-expired=event|status] [--token-file=tokens.json]
//        [--tls --ca-out=ca.pem] [--verbose]
//
// Prints "kube-sim listening on http://127.0.0.1:PORT" (https with --tls) as its first line on
// stdout, then serves until SIGTERM or SIGINT. --tls serves a self-signed certificate for
// 127.0.0.1, written to --ca-out for clients to trust (kubectl and client-go send bearer
// tokens only over https). Drive it with the /sim/ endpoints listed in sim.mjs.
// --token-file holds {"TOKEN": {"user": "...", "allow": [{"verbs": [...], "resources": [...],
// "namespaces": [...]}]}}; without it every request is allowed.

import fs from 'node:fs';
import { startKubeSim } from './sim.mjs';

function usage(message) {
  process.stderr.write(`kube-sim: ${message}\n`);
  process.exit(2);
}

const options = {};
for (const arg of process.argv.slice(2)) {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
  if (!m) usage(`unexpected argument ${arg}`);
  const [, flag, value] = m;
  const int = () => {
    if (!/^\d+$/.test(value ?? '')) usage(`--${flag} needs a non-negative integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
  switch (flag) {
    case 'port':
      options.port = int();
      break;
    case 'host':
      if (!value) usage('--host needs an address');
      options.host = value;
      break;
    case 'max-history':
      options.maxHistory = int();
      break;
    case 'bookmark-interval-ms':
      options.bookmarkIntervalMs = int();
      break;
    case 'default-grace-seconds':
      options.defaultGraceSeconds = int();
      break;
    case 'watch-expired':
      if (value !== 'event' && value !== 'status') usage('--watch-expired is event or status');
      options.watchExpired = value;
      break;
    case 'token-file':
      try {
        options.tokens = JSON.parse(fs.readFileSync(value, 'utf8'));
      } catch (err) {
        usage(`--token-file: ${err.message}`);
      }
      break;
    case 'tls':
      options.tls = true;
      break;
    case 'ca-out':
      if (!value) usage('--ca-out needs a path');
      options.caOut = value;
      break;
    case 'verbose':
      options.log = (line) => process.stderr.write(`${line}\n`);
      break;
    default:
      usage(`unknown flag --${flag}`);
  }
}

if (options.caOut && !options.tls) usage('--ca-out needs --tls');
const sim = await startKubeSim(options);
if (options.caOut) fs.writeFileSync(options.caOut, sim.caCert);
process.stdout.write(`kube-sim listening on ${sim.url}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    await sim.close();
    process.exit(0);
  });
}
