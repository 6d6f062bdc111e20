// What the simulated cluster serves: the resource types, their discovery documents, the
// defaults the apiserver fills on create, Status objects for errors, and the server-side
// Table printing that `kubectl get` asks for.
//
//   const rt = kResources.pods;                   // { group, version, kind, namespaced, ... }
//   apiError(404, 'NotFound', 'pods "x" not found', { name: 'x', kind: 'pods' })
//   toTable(rt, [pod], { includeObject: 'Metadata', resourceVersion: '7' })

import { randomUUID } from 'node:crypto';

export const kServerVersion = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0-drover-sim',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-08-13T00:00:00Z',
  goVersion: 'go1.22.5',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const kAllVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const kSubVerbs = ['get', 'patch', 'update'];

// Keyed by the plural resource name, as it appears in URLs.
export const kResources = {
  pods: {
    name: 'pods',
    singularName: 'pod',
    group: '',
    version: 'v1',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status'],
  },
  namespaces: {
    name: 'namespaces',
    singularName: 'namespace',
    group: '',
    version: 'v1',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: ['status'],
  },
  deployments: {
    name: 'deployments',
    singularName: 'deployment',
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['scale', 'status'],
  },
  statefulsets: {
    name: 'statefulsets',
    singularName: 'statefulset',
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    namespaced: true,
    shortNames: ['sts'],
    categories: ['all'],
    subresources: ['scale', 'status'],
  },
};

export const apiVersionOf = (rt) => (rt.group ? `${rt.group}/${rt.version}` : rt.version);
export const resourceByKind = (kind) => Object.values(kResources).find((rt) => rt.kind === kind);

function resourceList(group, version) {
  const out = [];
  for (const rt of Object.values(kResources)) {
    if (rt.group !== group || rt.version !== version) continue;
    const entry = {
      name: rt.name,
      singularName: rt.singularName,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs || kAllVerbs,
    };
    if (rt.shortNames) entry.shortNames = rt.shortNames;
    if (rt.categories) entry.categories = rt.categories;
    out.push(entry);
    for (const sub of rt.subresources) {
      if (sub === 'scale') {
        out.push({ name: `${rt.name}/scale`, singularName: '', namespaced: rt.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: kSubVerbs });
      } else {
        out.push({ name: `${rt.name}/${sub}`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: kSubVerbs });
      }
    }
  }
  return out;
}

// The legacy (unaggregated) discovery documents, by path. `address` is host:port for /api.
export function discoveryDocument(path, address) {
  const groups = [...new Set(Object.values(kResources).map((rt) => rt.group))].filter(Boolean);
  const groupDoc = (g) => ({
    name: g,
    versions: [{ groupVersion: `${g}/v1`, version: 'v1' }],
    preferredVersion: { groupVersion: `${g}/v1`, version: 'v1' },
  });
  if (path === '/version') return kServerVersion;
  if (path === '/api') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }],
    };
  }
  if (path === '/api/v1') {
    return { kind: 'APIResourceList', groupVersion: 'v1', resources: resourceList('', 'v1') };
  }
  if (path === '/apis') {
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(groupDoc) };
  }
  for (const g of groups) {
    if (path === `/apis/${g}`) return { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g) };
    if (path === `/apis/${g}/v1`) {
      return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${g}/v1`, resources: resourceList(g, 'v1') };
    }
  }
  return null;
}

// An error the API answers with a Status object; thrown inside the simulator and by its JS API.
export class ApiError extends Error {
  constructor(code, reason, message, details, extra = {}) {
    super(message);
    this.code = code;
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    };
    this.headers = extra.headers || {};
  }
}

export const apiError = (code, reason, message, details, extra) => new ApiError(code, reason, message, details, extra);

const qualified = (rt) => (rt.group ? `${rt.name}.${rt.group}` : rt.name);

export const notFound = (rt, name) =>
  apiError(404, 'NotFound', `${qualified(rt)} "${name}" not found`, { name, group: rt.group || undefined, kind: rt.name });
export const alreadyExists = (rt, name) =>
  apiError(409, 'AlreadyExists', `${qualified(rt)} "${name}" already exists`, { name, group: rt.group || undefined, kind: rt.name });
export const conflict = (rt, name, why) =>
  apiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(rt)} "${name}": ${why || 'the object has been modified; please apply your changes to the latest version and try again'}`,
    { name, group: rt.group || undefined, kind: rt.name },
  );
export const badRequest = (message) => apiError(400, 'BadRequest', message);
export const invalid = (rt, name, message, causes) =>
  apiError(422, 'Invalid', `${rt.kind} "${name}" is invalid: ${message}`, { name, group: rt.group || undefined, kind: rt.kind, causes });
export const expired = (message) => apiError(410, 'Expired', message);
export const tooLarge = (rv, current) =>
  apiError(504, 'Timeout', `Timeout: Too large resource version: ${rv}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });

// Reason and message for a bare status code (used by injected faults).
export function statusForCode(code, retryAfter) {
  const table = {
    400: ['BadRequest', 'the server rejected our request for an unknown reason'],
    401: ['Unauthorized', 'Unauthorized'],
    403: ['Forbidden', 'forbidden'],
    404: ['NotFound', 'the server could not find the requested resource'],
    409: ['Conflict', 'the server reported a conflict'],
    410: ['Expired', 'too old resource version'],
    429: ['TooManyRequests', 'Too many requests, please try again later.'],
    500: ['InternalError', 'Internal error occurred: injected fault'],
    503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
    504: ['Timeout', 'the server was unable to return a response in the time allotted'],
  };
  const [reason, message] = table[code] || ['InternalError', `injected status ${code}`];
  const details = code === 429 || code === 503 || code === 504 ? { retryAfterSeconds: retryAfter ?? 1 } : undefined;
  const headers = details ? { 'Retry-After': String(retryAfter ?? 1) } : {};
  return apiError(code, reason, message, details, { headers });
}

export const nowRfc3339 = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

// Fills what the apiserver's defaulting and create strategy fill. `opts.defaultGraceSeconds`
// becomes a pod's spec.terminationGracePeriodSeconds when the pod names none.
export function defaultOnCreate(rt, obj, opts) {
  const m = obj.metadata;
  m.uid = randomUUID();
  m.creationTimestamp = nowRfc3339();
  delete m.deletionTimestamp;
  delete m.deletionGracePeriodSeconds;
  delete m.resourceVersion;
  if (rt.name === 'pods') {
    const spec = (obj.spec ||= {});
    spec.containers ||= [];
    spec.restartPolicy ||= 'Always';
    spec.dnsPolicy ||= 'ClusterFirst';
    spec.schedulerName ||= 'default-scheduler';
    spec.serviceAccountName ||= 'default';
    spec.enableServiceLinks ??= true;
    spec.terminationGracePeriodSeconds ??= opts.defaultGraceSeconds;
    obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
  } else if (rt.name === 'deployments' || rt.name === 'statefulsets') {
    m.generation = 1;
    const spec = (obj.spec ||= {});
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    if (rt.name === 'deployments') {
      spec.progressDeadlineSeconds ??= 600;
      spec.strategy ||= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
    } else {
      spec.podManagementPolicy ||= 'OrderedReady';
      spec.updateStrategy ||= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
    }
    obj.status = {};
  } else if (rt.name === 'namespaces') {
    obj.spec = { finalizers: ['kubernetes'] };
    obj.status = { phase: 'Active' };
    m.labels = { ...(m.labels || {}), 'kubernetes.io/metadata.name': m.name };
  }
  return obj;
}

// "5s", "3m", "2h", "4d": the short ages kubectl shows.
function age(ts) {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const col = (name, type, description, priority = 0, format = '') => ({ name, type, format, description, priority });

const kColumns = {
  pods: [
    col('Name', 'string', 'Name must be unique within a namespace.', 0, 'name'),
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted.'),
    col('Age', 'string', 'CreationTimestamp of the object.'),
    col('IP', 'string', 'IP address allocated to the pod.', 1),
    col('Node', 'string', 'Name of the node where the pod is scheduled.', 1),
  ],
  deployments: [
    col('Name', 'string', 'Name must be unique within a namespace.', 0, 'name'),
    col('Ready', 'string', 'Number of the pod with ready state'),
    col('Up-to-date', 'integer', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    col('Available', 'integer', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    col('Age', 'string', 'CreationTimestamp of the object.'),
  ],
  statefulsets: [
    col('Name', 'string', 'Name must be unique within a namespace.', 0, 'name'),
    col('Ready', 'string', 'Number of the pod with ready state'),
    col('Age', 'string', 'CreationTimestamp of the object.'),
  ],
  namespaces: [
    col('Name', 'string', 'Name must be unique within a namespace.', 0, 'name'),
    col('Status', 'string', 'The status of the namespace'),
    col('Age', 'string', 'CreationTimestamp of the object.'),
  ],
};

function cells(rt, o) {
  const st = o.status || {};
  switch (rt.name) {
    case 'pods': {
      const cs = st.containerStatuses || [];
      const total = (o.spec?.containers || []).length;
      const ready = cs.filter((c) => c.ready).length;
      const restarts = cs.reduce((n, c) => n + (c.restartCount || 0), 0);
      const status = o.metadata.deletionTimestamp ? 'Terminating' : st.reason || st.phase || 'Unknown';
      return [o.metadata.name, `${ready}/${total}`, status, restarts, age(o.metadata.creationTimestamp), st.podIP || '<none>', o.spec?.nodeName || '<none>'];
    }
    case 'deployments':
      return [o.metadata.name, `${st.readyReplicas || 0}/${o.spec?.replicas ?? 0}`, st.updatedReplicas || 0, st.availableReplicas || 0, age(o.metadata.creationTimestamp)];
    case 'statefulsets':
      return [o.metadata.name, `${st.readyReplicas || 0}/${o.spec?.replicas ?? 0}`, age(o.metadata.creationTimestamp)];
    default:
      return [o.metadata.name, st.phase || '', age(o.metadata.creationTimestamp)];
  }
}

// A meta.k8s.io/v1 Table of `objects`, as the apiserver answers an Accept of
// `application/json;as=Table;v=v1;g=meta.k8s.io`. includeObject: None | Metadata | Object.
export function toTable(rt, objects, { includeObject = 'Metadata', resourceVersion, continueToken } = {}) {
  const rows = objects.map((o) => {
    const row = { cells: cells(rt, o) };
    if (includeObject === 'Object') row.object = o;
    else if (includeObject !== 'None') {
      row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
    }
    return row;
  });
  const metadata = {};
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  if (continueToken) metadata.continue = continueToken;
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata, columnDefinitions: kColumns[rt.name], rows };
}
