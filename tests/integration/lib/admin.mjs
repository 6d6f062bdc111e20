// Waiting on the sidecar's admin endpoints.
//
//   await waitReady(sc);                       // /readyz answers 200
//   await waitBackendsUp(sc, [b1.port, b2.port]);  // drover_backend_up is 1 for each

import { request, scrape, samplesMentioning } from './backends.mjs';
import { waitFor } from './proc.mjs';

export async function readyzStatus(sc) {
  return (await request(sc.adminPort, { path: '/readyz', timeoutMs: 2000 })).status;
}

export async function waitReadyz(sc, want = 200, timeoutMs = 8000) {
  let last;
  await waitFor(
    async () => {
      last = await readyzStatus(sc);
      return last === want;
    },
    { timeoutMs, intervalMs: 50, what: `/readyz to answer ${want}` },
  );
  return last;
}

export const waitReady = (sc, timeoutMs) => waitReadyz(sc, 200, timeoutMs);

// Waits until drover_backend_up reads `value` for every listed port.
export async function waitBackendsUp(sc, ports, { value = 1, timeoutMs = 8000 } = {}) {
  await waitFor(
    async () => {
      const m = await scrape(sc.adminPort);
      return ports.every((p) => {
        const s = samplesMentioning(m, 'drover_backend_up', `127.0.0.1:${p}`);
        return s.length > 0 && s.every((x) => x.value === value);
      });
    },
    { timeoutMs, intervalMs: 50, what: `drover_backend_up == ${value} for ports ${ports.join(',')}` },
  );
}
