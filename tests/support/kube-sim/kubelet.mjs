// Pod status as a kubelet would write it: phase, IPs, conditions and container statuses.
// The simulator has no kubelet; tests call these (through runPod, setReady, setPhase) and the
// result is written through the pods/status subresource like any other status update.
//
//   const status = kubeletStatus(pod, { phase: 'Running', ip: '127.1.0.7', ready: true });
//   const next = withReady(pod.status, pod.spec, false);

import { randomBytes } from 'node:crypto';
import { nowRfc3339 } from './resources.mjs';

const condition = (type, ok, now, reason, message) => {
  const c = { type, status: ok ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: now };
  if (!ok && reason) Object.assign(c, { reason, message });
  return c;
};

function containerStatuses(spec, { ready, phase, now }) {
  return (spec?.containers || []).map((c) => {
    const base = { name: c.name, image: c.image, imageID: '', restartCount: 0, ready, started: phase === 'Running' };
    if (phase === 'Running') {
      return { ...base, containerID: `containerd://${randomBytes(32).toString('hex')}`, state: { running: { startedAt: now } } };
    }
    if (phase === 'Succeeded' || phase === 'Failed') {
      const exitCode = phase === 'Succeeded' ? 0 : 1;
      const reason = phase === 'Succeeded' ? 'Completed' : 'Error';
      return { ...base, ready: false, started: false, state: { terminated: { exitCode, reason, startedAt: now, finishedAt: now } } };
    }
    return { ...base, ready: false, started: false, state: { waiting: { reason: 'ContainerCreating' } } };
  });
}

// The whole status of a pod that the kubelet runs in `phase` (Pending, Running, Succeeded,
// Failed) with IP `ip`; Ready only when Running and `ready`.
export function kubeletStatus(pod, { phase = 'Running', ip, ready = true, hostIP = '127.0.0.1' }) {
  const now = nowRfc3339();
  const isReady = phase === 'Running' && ready;
  const names = (pod.spec?.containers || []).map((c) => c.name).join(' ');
  const notReady = ['ContainersNotReady', `containers with unready status: [${names}]`];
  const status = {
    phase,
    conditions: [
      condition('PodReadyToStartContainers', phase !== 'Pending', now),
      condition('Initialized', true, now),
      condition('Ready', isReady, now, ...notReady),
      condition('ContainersReady', isReady, now, ...notReady),
      condition('PodScheduled', true, now),
    ],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    startTime: pod.status?.startTime || now,
    containerStatuses: containerStatuses(pod.spec, { ready: isReady, phase, now }),
    qosClass: pod.status?.qosClass || 'BestEffort',
  };
  if (ip && phase !== 'Pending') {
    status.podIP = ip;
    status.podIPs = [{ ip }];
  }
  return status;
}

// `status` with the Ready and ContainersReady conditions (and each container) set to `ready`;
// lastTransitionTime moves only on a change, as the kubelet does it.
export function withReady(status, spec, ready) {
  const now = nowRfc3339();
  const out = structuredClone(status || {});
  const names = (spec?.containers || []).map((c) => c.name).join(' ');
  out.conditions ||= [];
  for (const type of ['Ready', 'ContainersReady']) {
    let c = out.conditions.find((x) => x.type === type);
    if (!c) {
      c = { type, lastProbeTime: null };
      out.conditions.push(c);
    }
    const want = ready ? 'True' : 'False';
    if (c.status !== want) c.lastTransitionTime = now;
    c.status = want;
    if (ready) {
      delete c.reason;
      delete c.message;
    } else {
      c.reason = 'ContainersNotReady';
      c.message = `containers with unready status: [${names}]`;
    }
  }
  for (const cs of out.containerStatuses || []) cs.ready = ready;
  return out;
}
