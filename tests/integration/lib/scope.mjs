// Per-test resource scope: everything started through it is stopped when the test ends, pass
// or fail (registered with t.after), newest first.
//
//   test('...', async (t) => {
//     const s = scope(t);
//     const b = await s.httpBackend({ name: 'a' });
//     const sc = await s.sidecar([`--backends=127.0.0.1:${b.port}`]);
//     const c = await s.connect(sc.port);
//   });
//
// At the end the sidecar gets SIGINT (SIGTERM first drains for --drain-delay, 5 s by default). The test fails if the sidecar had died on its own before
// that (a crash), or exits with a non-zero code (sanitizer reports exit non-zero), and the failure
// carries the tail of its stderr.

import { startSidecar } from './sidecar.mjs';
import { startHttpBackend, startRawBackend, startChildBackend, startScriptedBackend } from './backends.mjs';
import { RawClient } from './http1.mjs';

export function scope(t) {
  const cleanups = [];
  const s = {
    sidecars: [],
    defer(fn) {
      cleanups.push(fn);
    },
    async sidecar(flags, opts) {
      const sc = await startSidecar(flags, opts);
      s.sidecars.push(sc);
      s.defer(async () => {
        const diedBefore = !sc.alive && !sc.stopping;
        const r = await sc.stop('SIGINT', 3000);
        if (diedBefore) {
          throw new Error(`drover-sidecar died during the test (code ${r.code}, signal ${r.signal})\nstderr:\n${sc.tail()}`);
        }
        if (r.code !== null && r.code !== 0) {
          throw new Error(`drover-sidecar exited with code ${r.code} after SIGINT\nstderr:\n${sc.tail()}`);
        }
        if (r.signal !== null && r.signal !== 'SIGTERM' && r.signal !== 'SIGKILL' && r.signal !== 'SIGINT') {
          throw new Error(`drover-sidecar died by ${r.signal}\nstderr:\n${sc.tail()}`);
        }
      });
      return sc;
    },
    async httpBackend(opts) {
      const b = await startHttpBackend(opts);
      s.defer(() => b.close());
      return b;
    },
    async rawBackend(onConnection, opts) {
      const b = await startRawBackend(onConnection, opts);
      s.defer(() => b.close());
      return b;
    },
    async scriptedBackend(respond, opts) {
      const b = await startScriptedBackend(respond, opts);
      s.defer(() => b.close());
      return b;
    },
    async childBackend(name, opts) {
      const b = await startChildBackend(name, opts);
      s.defer(() => b.close());
      return b;
    },
    async connect(port, opts) {
      const c = await RawClient.connect(port, opts);
      s.defer(() => c.destroy());
      return c;
    },
  };
  t.after(async () => {
    const errors = [];
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) throw errors[0];
  });
  return s;
}

// "--backends=127.0.0.1:P1,127.0.0.1:P2" from backends or ports.
export function backendsFlag(...items) {
  return `--backends=${items.map((b) => `127.0.0.1:${typeof b === 'number' ? b : b.port}`).join(',')}`;
}
