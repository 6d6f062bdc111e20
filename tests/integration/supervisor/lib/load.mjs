// A bounded HTTP load from the test process itself: `concurrency` loops of sequential GETs over
// keep-alive connections (one http.Agent), until `durationMs` has passed, `maxRequests` were
// sent, or stop() is called. Every answer is counted by the pid it names (pidOf).
//
//   const load = startLoad({ port: sc.port, concurrency: 8, durationMs: 5000 });
//   await waitFor(() => load.stats.ok >= 100);
//   ... kill a worker, reload ...
//   const st = await load.done;       // { ok, sent, non2xx: [...], errors: [...], byPid: Map }
//   st.timesByPid.get(pid)            // when each answer from pid arrived (ms epoch), in order
//
// A response counts as ok when its status is 2xx; any other status is kept in non2xx, and a
// socket error or timeout in errors, with the time it happened (ms from the start).

import http from 'node:http';
import { pidOf } from './supervisor.mjs';

export function startLoad({ port, path = '/', concurrency = 4, durationMs = 5000, maxRequests = Infinity, timeoutMs = 10000, host = '127.0.0.1' }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const t0 = Date.now();
  const stats = { ok: 0, sent: 0, non2xx: [], errors: [], byPid: new Map(), timesByPid: new Map(), elapsedMs: 0, connections: 0 };
  let stopped = false;
  const one = () =>
    new Promise((resolve) => {
      const at = Date.now() - t0;
      const req = http.request({ host, port, path, agent, method: 'GET' }, (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          if (res.statusCode >= 200 && res.statusCode < 300) {
            stats.ok++;
            const pid = pidOf(text);
            if (pid !== null) {
              stats.byPid.set(pid, (stats.byPid.get(pid) || 0) + 1);
              if (!stats.timesByPid.has(pid)) stats.timesByPid.set(pid, []);
              stats.timesByPid.get(pid).push(Date.now());
            }
          } else {
            stats.non2xx.push({ at, status: res.statusCode, body: text.slice(0, 200) });
          }
          resolve();
        });
        res.on('error', (err) => {
          stats.errors.push({ at, message: `response: ${err.message}`, code: err.code });
          resolve();
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('socket', (s) => {
        if (!s.droverCounted) {
          s.droverCounted = true;
          stats.connections++;
        }
      });
      req.on('error', (err) => {
        stats.errors.push({ at, message: err.message, code: err.code });
        resolve();
      });
      req.end();
    });
  const loop = async () => {
    while (!stopped && Date.now() - t0 < durationMs && stats.sent < maxRequests) {
      stats.sent++;
      await one();
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    stats.elapsedMs = Date.now() - t0;
    agent.destroy();
    return stats;
  });
  return {
    stats,
    done,
    // Stops sending; requests in flight finish. Resolves the final stats.
    stop() {
      stopped = true;
      return done;
    },
  };
}

// A one-line summary of load stats for failure messages.
export function summarize(st) {
  const pids = [...st.byPid].map(([p, n]) => `${p}:${n}`).join(' ');
  return `sent ${st.sent}, ok ${st.ok}, non-2xx ${st.non2xx.length} ${JSON.stringify(st.non2xx.slice(0, 5))}, errors ${st.errors.length} ${JSON.stringify(st.errors.slice(0, 5))}, by pid {${pids}}`;
}
