// SockJS (Meteor's transport) behind one sidecar with 4 workers, --sticky=path:2: SockJS URLs
// are /PREFIX/SERVER/SESSION/TRANSPORT, and the client picks SERVER (three random digits) for
// load balancers to stick on, so a hash of path segment 2 keeps every request of a session on
// one worker. Real sockjs-client clients (it runs in Node) over xhr-streaming and xhr-polling.

import test from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import SockJS from 'sockjs-client';
import { supervisorScope } from '../supervisor/lib/supervisor.mjs';
import { withDeadline } from '../lib/proc.mjs';
import { stickyCounts, histogram, pool } from './lib/sticky.mjs';

const APP = fileURLToPath(new URL('./apps/sockjs-app.cjs', import.meta.url));
const kClients = Number(process.env.STICKY_SOCKJS_CLIENTS || 200);

// One SockJS session: open, `messages` round trips, close. Resolves what the workers answered.
function session(url, transport, messages) {
  return new Promise((resolve, reject) => {
    const sock = new SockJS(url, null, { transports: [transport] });
    const replies = [];
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`${transport} session ${sock.url}: ${replies.length} of ${messages} replies in 20 s`));
    }, 20000);
    let opened = null;
    sock.onopen = () => {
      opened = { transport: sock.transport, url: sock._transport?.url };
      sock.send('0');
    };
    sock.onmessage = (e) => {
      replies.push(JSON.parse(e.data));
      if (replies.length < messages) {
        sock.send(String(replies.length));
      } else {
        clearTimeout(timer);
        sock.close();
        resolve({ ...opened, replies });
      }
    };
    sock.onclose = (e) => {
      if (replies.length < messages) {
        clearTimeout(timer);
        reject(new Error(`${transport} session closed after ${replies.length} replies: ${e.code} ${e.reason}`));
      }
    };
  });
}

test(`${kClients} SockJS sessions (xhr-streaming, xhr-polling) on 4 workers with path:2: each on one worker`, { timeout: 120000 }, async (t) => {
  const s = supervisorScope(t);
  const sc = await s.start({ workers: 4, cmd: [process.execPath, APP], flags: ['--pin=false', '--ready-path=/whoami', '--sticky=path:2'], timeoutMs: 20000 });
  await sc.waitAllReady({ timeoutMs: 30000 });
  const url = `http://127.0.0.1:${sc.port}/echo`;
  const sessions = await withDeadline(
    pool(kClients, 25, (i) => session(url, i % 2 ? 'xhr-polling' : 'xhr-streaming', 4)),
    100000,
    `${kClients} SockJS sessions`,
  );
  for (const [i, x] of sessions.entries()) {
    assert.equal(x.transport, i % 2 ? 'xhr-polling' : 'xhr-streaming');
    assert.deepEqual(x.replies.map((r) => r.data), ['0', '1', '2', '3']);
    assert.match(x.url ?? '', /\/echo\/\d{3}\/[^/]+$/, `session ${i}: a SockJS session URL`);
    assert.equal(new Set(x.replies.map((r) => r.pid)).size, 1, `session ${i} on one worker: ${JSON.stringify(x.replies)}`);
  }
  const perWorker = histogram(sessions.map((x) => x.replies[0].worker));
  assert.equal(Object.keys(perWorker).length, 4, `sessions on every worker: ${JSON.stringify(perWorker)}`);
  const counts = await stickyCounts(sc.adminPort);

  t.diagnostic(`sessions per worker ${JSON.stringify(perWorker)}; sticky ${JSON.stringify(counts)}`);
});
