// npm packages that a test needs from a folder of the repository (an example app's own
// node_modules). A missing one fails the test with how to install it: a test that cannot run
// must not pass as skipped.
//
//   test('...', async (t) => {
//     requirePackage('examples/socketio', 'socket.io');
//     ...
//   });

import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './sidecar.mjs';

export function requirePackage(folder, name) {
  const dir = path.join(REPO_ROOT, folder, 'node_modules', name);
  if (!fs.existsSync(path.join(dir, 'package.json'))) {
    throw new Error(
      `npm package ${name} is missing from ${folder}/node_modules: run 'bash scripts/setup.sh' ` +
        `(or 'npm ci' in ${folder})`,
    );
  }
}
