// The simulated cluster state, with etcd's and kube-apiserver's write semantics: one global
// resourceVersion bumped by every write, a bounded history of events for watches to resume
// from (older resourceVersions are "compacted": 410 Expired), optimistic concurrency,
// graceful pod deletion, finalizers, and the scale subresource.
//
//   const store = new Store({ maxHistory: 10000, defaultGraceSeconds: 30 });
//   const pod = store.create(kResources.pods, 'default', { metadata: { name: 'a' }, spec: ... });
//   store.patch(kResources.pods, 'default', 'a', { metadata: { labels: { x: '1' } } },
//               'application/merge-patch+json');
//   const w = store.watch(kResources.pods, { namespace: 'default', resourceVersion: pod.metadata.resourceVersion,
//                                            send: (type, obj) => ... });
//
// Every method throws an ApiError (resources.mjs) that the HTTP layer turns into a Status
// response; the JS control API sees the same errors. Objects handed out are copies.

import { isDeepStrictEqual } from 'node:util';
import {
  kResources,
  apiVersionOf,
  notFound,
  alreadyExists,
  conflict,
  badRequest,
  invalid,
  expired,
  tooLarge,
  apiError,
  defaultOnCreate,
} from './resources.mjs';
import { applyPatch, PatchError } from './patch.mjs';
import { labelSelectorToString, parseFieldSelector, parseLabelSelector } from './selectors.mjs';

// Stored objects are never changed in place (every write stores a new one), so readers that
// only serialize may share them; everything handed to a caller that might change it is a copy.
const clone = (v) => JSON.parse(JSON.stringify(v));
const kNameChars = 'bcdfghjklmnpqrstvwxz2456789';
const kDnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const kDnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function randomSuffix() {
  let s = '';
  for (let i = 0; i < 5; i++) s += kNameChars[Math.floor(Math.random() * kNameChars.length)];
  return s;
}

// What JSON keeps of an object, without the empty maps and lists that the apiserver's
// omitempty fields drop (labels: {} reads back as no labels).
function normalize(obj) {
  const out = JSON.parse(JSON.stringify(obj));
  const m = out.metadata || {};
  for (const f of ['labels', 'annotations']) if (m[f] && !Object.keys(m[f]).length) delete m[f];
  for (const f of ['finalizers', 'ownerReferences']) if (Array.isArray(m[f]) && !m[f].length) delete m[f];
  return out;
}

// Equal apart from the resourceVersion: such a write is a no-op, as in the apiserver.
function sameObject(a, b) {
  const strip = (o) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return isDeepStrictEqual(strip(a), strip(b));
}

export class Store {
  constructor({ maxHistory = 10000, defaultGraceSeconds = 30, log = () => {} } = {}) {
    this.maxHistory = maxHistory;
    this.defaultGraceSeconds = defaultGraceSeconds;
    this.log = log;
    this.rv = 0;
    this.compactedRv = 0;
    this.history = []; // { rv, resource, type, key, object, prev }
    this.objects = Object.fromEntries(Object.keys(kResources).map((r) => [r, new Map()])); // key "ns/name"
    this.watchers = new Set();
    this.graceTimers = new Map();
    this.replicaHooks = [];
    this.ensureNamespace('default');
    this.ensureNamespace('kube-system');
    this.ensureNamespace('kube-public');
  }

  close() {
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
    for (const w of [...this.watchers]) w.close();
  }

  // --- reads -----------------------------------------------------------------------------

  key(rt, ns, name) {
    return `${rt.namespaced ? ns : ''}/${name}`;
  }

  current(rt, ns, name) {
    const obj = this.objects[rt.name].get(this.key(rt, ns, name));
    if (!obj) throw notFound(rt, name);
    return obj;
  }

  get(rt, ns, name) {
    return clone(this.current(rt, ns, name));
  }

  // The objects of `rt` as they were at resourceVersion `rv` (rv >= compactedRv), by key.
  stateAt(rt, rv) {
    const state = new Map(this.objects[rt.name]);
    for (let i = this.history.length - 1; i >= 0 && this.history[i].rv > rv; i--) {
      const e = this.history[i];
      if (e.resource !== rt.name) continue;
      if (e.prev) state.set(e.key, e.prev);
      else state.delete(e.key);
    }
    return state;
  }

  // List semantics of the apiserver: resourceVersion "" (most recent), "0" (any), N with
  // resourceVersionMatch NotOlderThan or Exact; limit and continue paging whose pages are all
  // served at the first page's resourceVersion.
  list(rt, ns, q = {}) {
    const label = parseLabelSelector(q.labelSelector);
    const field = parseFieldSelector(q.fieldSelector, rt.name);
    let rv = this.rv;
    let start = '';
    const limit = q.limit ? Number(q.limit) : 0;
    if (q.continue) {
      if (q.resourceVersion && q.resourceVersion !== '0') {
        throw badRequest('specifying resource version is not allowed when using continue');
      }
      let token;
      try {
        token = JSON.parse(Buffer.from(q.continue, 'base64').toString('utf8'));
      } catch {
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      if (!Number.isInteger(token.rv) || typeof token.start !== 'string') {
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      if (token.rv < this.compactedRv) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      }
      rv = token.rv;
      start = token.start;
    } else if (q.resourceVersion && q.resourceVersion !== '0') {
      const want = Number(q.resourceVersion);
      if (!Number.isInteger(want) || want < 0) throw badRequest(`invalid resource version: ${q.resourceVersion}`);
      const match = q.resourceVersionMatch || (limit ? 'Exact' : 'NotOlderThan');
      if (match !== 'Exact' && match !== 'NotOlderThan') {
        throw badRequest(`resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`);
      }
      if (want > this.rv) throw tooLarge(want, this.rv);
      if (match === 'Exact') {
        if (want < this.compactedRv) throw expired(`The resourceVersion for the provided list is too old.`);
        rv = want;
      }
    } else if (q.resourceVersionMatch) {
      throw badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
    }
    const state = rv === this.rv ? this.objects[rt.name] : this.stateAt(rt, rv);
    const prefix = rt.namespaced && ns ? `${ns}/` : '';
    const keys = [...state.keys()].filter((k) => k.startsWith(prefix) && k >= start).sort();
    const items = [];
    let next = null;
    let i = 0;
    for (; i < keys.length; i++) {
      const obj = state.get(keys[i]);
      if (!label.matches(obj.metadata.labels) || !field.matches(obj)) continue;
      if (limit && items.length === limit) {
        next = keys[i - 1] + '\u0000';
        break;
      }
      items.push(q.copy === false ? obj : clone(obj));
    }
    const out = { items, resourceVersion: String(rv) };
    if (next !== null) {
      out.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: next })).toString('base64');
      if (label.empty && field.empty) out.remainingItemCount = keys.length - i;
    }
    return out;
  }

  // --- writes ----------------------------------------------------------------------------

  ensureNamespace(ns) {
    if (!ns || this.objects.namespaces.has(`/${ns}`)) return;
    const obj = defaultOnCreate(kResources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, this);
    this.commit('ADDED', kResources.namespaces, `/${ns}`, obj, null);
  }

  // Records one write: bumps the resourceVersion, stores or removes the object, keeps the
  // event for watches to resume from and hands it to every open watch.
  commit(type, rt, key, obj, prev) {
    this.rv += 1;
    obj.metadata.resourceVersion = String(this.rv);
    const map = this.objects[rt.name];
    if (type === 'DELETED') {
      map.delete(key);
      const t = this.graceTimers.get(`${rt.name}/${key}`);
      if (t) clearTimeout(t);
      this.graceTimers.delete(`${rt.name}/${key}`);
    } else {
      map.set(key, obj);
    }
    const entry = { rv: this.rv, resource: rt.name, type, key, object: obj, prev };
    this.history.push(entry);
    // Trimmed in batches (at most 10% over) so that a write does not shift the whole array.
    if (this.history.length > this.maxHistory + Math.max(1, Math.floor(this.maxHistory / 10))) {
      const dropped = this.history.splice(0, this.history.length - this.maxHistory);
      this.compactedRv = dropped[dropped.length - 1].rv;
    }
    for (const w of this.watchers) if (w.rt === rt) w.offer(entry);
    if ((rt.name === 'deployments' || rt.name === 'statefulsets') && prev && type === 'MODIFIED') {
      if (prev.spec?.replicas !== obj.spec?.replicas) {
        for (const hook of this.replicaHooks) {
          try {
            hook(rt.kind, obj.metadata.namespace, obj.metadata.name, obj.spec.replicas);
          } catch (err) {
            this.log(`kube-sim: scale hook threw: ${err?.stack || err}`);
          }
        }
      }
    }
    return obj;
  }

  // Stores `next` in place of `prev` (MODIFIED), unless nothing changed; removes the object
  // (DELETED) when it is being deleted with no grace left and no finalizers.
  write(rt, key, nextIn, prev, dryRun) {
    const next = normalize(nextIn);
    if (sameObject(next, prev)) return clone(prev);
    next.metadata.resourceVersion = prev.metadata.resourceVersion;
    if (dryRun) return next;
    const m = next.metadata;
    if (m.deletionTimestamp && m.deletionGracePeriodSeconds === 0 && !(m.finalizers || []).length) {
      return clone(this.commit('DELETED', rt, key, next, prev));
    }
    return clone(this.commit('MODIFIED', rt, key, next, prev));
  }

  compact() {
    this.compactedRv = this.rv;
    this.history = [];
  }

  validateNew(rt, ns, obj) {
    const m = obj.metadata;
    const name = m.name || m.generateName || '';
    const re = rt.name === 'namespaces' ? kDnsLabel : kDnsSubdomain;
    if (!m.name && !m.generateName) {
      throw invalid(rt, '', 'metadata.name: Required value: name or generateName is required', [
        { reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' },
      ]);
    }
    if (m.name && (!re.test(m.name) || m.name.length > (rt.name === 'namespaces' ? 63 : 253))) {
      throw invalid(rt, m.name, `metadata.name: Invalid value: "${m.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, [
        { reason: 'FieldValueInvalid', message: 'Invalid value', field: 'metadata.name' },
      ]);
    }
    if (rt.name === 'pods') {
      const cs = obj.spec?.containers;
      if (!Array.isArray(cs) || cs.length === 0) {
        throw invalid(rt, name, 'spec.containers: Required value', [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' }]);
      }
      cs.forEach((c, i) => {
        if (!c?.name) throw invalid(rt, name, `spec.containers[${i}].name: Required value`);
        if (!c?.image) throw invalid(rt, name, `spec.containers[${i}].image: Required value`);
      });
    }
    if (rt.name === 'deployments' || rt.name === 'statefulsets') {
      const sel = obj.spec?.selector;
      if (!sel || (!Object.keys(sel.matchLabels || {}).length && !(sel.matchExpressions || []).length)) {
        throw invalid(rt, name, 'spec.selector: Required value', [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' }]);
      }
      const templateLabels = obj.spec?.template?.metadata?.labels || {};
      if (!parseLabelSelector(labelSelectorToString(sel)).matches(templateLabels)) {
        throw invalid(rt, name, 'spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`');
      }
      if (obj.spec.replicas !== undefined && (!Number.isInteger(obj.spec.replicas) || obj.spec.replicas < 0)) {
        throw invalid(rt, name, 'spec.replicas: Invalid value: must be greater than or equal to 0');
      }
    }
  }

  create(rt, ns, body, { dryRun = false } = {}) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body of the request must be a JSON object');
    const obj = clone(body);
    if (obj.kind && obj.kind !== rt.kind) {
      throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(rt)})`);
    }
    obj.kind = rt.kind;
    obj.apiVersion = apiVersionOf(rt);
    const m = (obj.metadata ||= {});
    if (rt.namespaced) {
      if (m.namespace && m.namespace !== ns) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      m.namespace = ns;
    } else {
      delete m.namespace;
    }
    this.validateNew(rt, ns, obj);
    if (!m.name) {
      do m.name = m.generateName + randomSuffix();
      while (this.objects[rt.name].has(this.key(rt, ns, m.name)));
    }
    const key = this.key(rt, ns, m.name);
    if (this.objects[rt.name].has(key)) throw alreadyExists(rt, m.name);
    if (rt.namespaced) {
      const nsObj = this.objects.namespaces.get(`/${ns}`);
      if (nsObj?.metadata.deletionTimestamp) {
        throw apiError(403, 'Forbidden', `${rt.name} "${m.name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
          name: m.name,
          kind: rt.name,
          causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
        });
      }
    }
    const created = normalize(defaultOnCreate(rt, obj, this));
    if (dryRun) return created;
    if (rt.namespaced) this.ensureNamespace(ns);
    return clone(this.commit('ADDED', rt, key, created, null));
  }

  // PUT: the whole object (subresource "" keeps the stored status; "status" changes only
  // the status).
  update(rt, ns, name, body, { subresource = '', dryRun = false } = {}) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body of the request must be a JSON object');
    const prev = this.current(rt, ns, name);
    const m = body.metadata || {};
    if (m.name !== undefined && m.name !== name) {
      throw badRequest(`the name of the object (${m.name}) does not match the name on the URL (${name})`);
    }
    if (rt.namespaced && m.namespace && m.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (body.kind && body.kind !== rt.kind) throw badRequest(`the kind in the data (${body.kind}) does not match ${rt.kind}`);
    return this.replace(rt, ns, name, prev, clone(body), subresource, dryRun);
  }

  // The common tail of update and patch: carry over what a client cannot change, check the
  // resourceVersion and uid preconditions, bump generation on spec changes, store.
  replace(rt, ns, name, prev, next, subresource, dryRun) {
    const key = this.key(rt, ns, name);
    const m = (next.metadata ||= {});
    if (m.resourceVersion && m.resourceVersion !== prev.metadata.resourceVersion) throw conflict(rt, name);
    if (m.uid && m.uid !== prev.metadata.uid) {
      throw conflict(rt, name, `Precondition failed: UID in precondition: ${m.uid}, UID in object meta: ${prev.metadata.uid}`);
    }
    let out;
    if (subresource === 'status') {
      out = clone(prev);
      out.status = next.status ?? {};
    } else {
      out = next;
      out.kind = rt.kind;
      out.apiVersion = apiVersionOf(rt);
      out.status = clone(prev.status);
      const pm = prev.metadata;
      Object.assign(m, {
        name: pm.name,
        uid: pm.uid,
        creationTimestamp: pm.creationTimestamp,
      });
      if (rt.namespaced) m.namespace = pm.namespace;
      else delete m.namespace;
      if (pm.generateName) m.generateName = pm.generateName;
      for (const f of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
        if (pm[f] !== undefined) m[f] = pm[f];
        else delete m[f];
      }
      if (pm.generation !== undefined && !isDeepStrictEqual(prev.spec, out.spec)) m.generation = pm.generation + 1;
      if (rt.name === 'pods' && prev.spec?.nodeName && out.spec?.nodeName !== prev.spec.nodeName) {
        throw invalid(rt, name, 'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)');
      }
      if (rt.name === 'deployments' || rt.name === 'statefulsets') {
        const r = out.spec?.replicas;
        if (r !== undefined && (!Number.isInteger(r) || r < 0)) throw invalid(rt, name, 'spec.replicas: Invalid value: must be greater than or equal to 0');
      }
    }
    return this.write(rt, key, out, prev, dryRun);
  }

  patch(rt, ns, name, body, contentType, { subresource = '', dryRun = false } = {}) {
    const prev = this.current(rt, ns, name);
    let patched;
    try {
      patched = applyPatch(prev, body, contentType);
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      if (err.code === 415) throw apiError(415, 'UnsupportedMediaType', err.message);
      if (err.code === 422) throw invalid(rt, name, err.message);
      throw badRequest(err.message);
    }
    if (!patched || typeof patched !== 'object' || Array.isArray(patched)) throw badRequest('the patch did not produce an object');
    // A patch carries the stored resourceVersion along unless it sets one itself.
    if (patched.metadata?.name !== undefined && patched.metadata.name !== name) {
      throw badRequest(`the name of the object (${patched.metadata.name}) does not match the name on the URL (${name})`);
    }
    return this.replace(rt, ns, name, prev, patched, subresource, dryRun);
  }

  // DELETE with the apiserver's graceful deletion for pods: a scheduled pod that has not
  // finished gets deletionTimestamp (now + grace) and deletionGracePeriodSeconds, and is
  // removed when the grace period is over (the kubelet's final delete) or at finishDeletion.
  // Anything else, and grace 0, goes at once unless finalizers hold it.
  delete(rt, ns, name, opts = {}) {
    const prev = this.current(rt, ns, name);
    const key = this.key(rt, ns, name);
    const pre = opts.preconditions || {};
    if (pre.uid && pre.uid !== prev.metadata.uid) {
      throw conflict(rt, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${prev.metadata.uid}`);
    }
    if (pre.resourceVersion && pre.resourceVersion !== prev.metadata.resourceVersion) {
      throw conflict(rt, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${prev.metadata.resourceVersion}`);
    }
    let grace = 0;
    if (rt.name === 'pods') {
      grace = opts.gracePeriodSeconds ?? prev.spec?.terminationGracePeriodSeconds ?? this.defaultGraceSeconds;
      const phase = prev.status?.phase;
      if (!prev.spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') grace = 0;
    }
    if (!Number.isInteger(grace) || grace < 0) grace = 0;
    const pm = prev.metadata;
    if (pm.deletionTimestamp && grace > 0 && pm.deletionGracePeriodSeconds !== undefined && grace >= pm.deletionGracePeriodSeconds) {
      return clone(prev); // already terminating with a grace period no longer than this one
    }
    if (rt.name === 'namespaces') {
      for (const r of Object.values(kResources)) {
        if (!r.namespaced) continue;
        for (const [k, obj] of [...this.objects[r.name]]) {
          if (obj.metadata.namespace !== name || opts.dryRun) continue;
          const gone = clone(obj);
          this.commit('DELETED', r, k, gone, obj);
        }
      }
    }
    const next = clone(prev);
    const nm = next.metadata;
    const finalizers = nm.finalizers || [];
    if (grace === 0 && !finalizers.length) {
      if (opts.dryRun) return next;
      return clone(this.commit('DELETED', rt, key, next, prev));
    }
    nm.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    nm.deletionGracePeriodSeconds = grace;
    if (opts.dryRun) return next;
    const out = this.write(rt, key, next, prev, false);
    if (grace > 0) this.armGraceTimer(rt, ns, name, grace);
    return out;
  }

  deleteCollection(rt, ns, q, opts) {
    const { items } = this.list(rt, ns, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
    const out = [];
    for (const obj of items) {
      out.push(this.delete(rt, obj.metadata.namespace, obj.metadata.name, opts));
    }
    return { items: out, resourceVersion: String(this.rv) };
  }

  armGraceTimer(rt, ns, name, grace) {
    const id = `${rt.name}/${this.key(rt, ns, name)}`;
    clearTimeout(this.graceTimers.get(id));
    const t = setTimeout(() => {
      this.graceTimers.delete(id);
      try {
        this.finishDeletion(rt, ns, name);
      } catch {
        // already gone
      }
    }, grace * 1000);
    t.unref();
    this.graceTimers.set(id, t);
  }

  // The kubelet's final delete (grace 0) of an object that is being deleted.
  finishDeletion(rt, ns, name) {
    const prev = this.current(rt, ns, name);
    if (!prev.metadata.deletionTimestamp) {
      throw apiError(409, 'Conflict', `${rt.name} "${name}" is not being deleted: delete it first`);
    }
    const next = clone(prev);
    next.metadata.deletionGracePeriodSeconds = 0;
    const key = this.key(rt, ns, name);
    if (!(next.metadata.finalizers || []).length) {
      return clone(this.commit('DELETED', rt, key, next, prev));
    }
    return this.write(rt, key, next, prev, false);
  }

  // --- scale subresource -------------------------------------------------------------------

  scaleOf(obj) {
    const m = obj.metadata;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
      spec: { replicas: obj.spec?.replicas ?? 0 },
      status: { replicas: obj.status?.replicas ?? 0, selector: labelSelectorToString(obj.spec?.selector) },
    };
  }

  getScale(rt, ns, name) {
    return this.scaleOf(this.current(rt, ns, name));
  }

  updateScale(rt, ns, name, scale, { dryRun = false } = {}) {
    const prev = this.current(rt, ns, name);
    if (!scale || typeof scale !== 'object') throw badRequest('the body of the request must be a JSON object');
    const m = scale.metadata || {};
    if (m.name !== undefined && m.name !== name) {
      throw badRequest(`the name of the object (${m.name}) does not match the name on the URL (${name})`);
    }
    if (m.resourceVersion && m.resourceVersion !== prev.metadata.resourceVersion) throw conflict(rt, name);
    const replicas = scale.spec?.replicas ?? 0;
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw apiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, {
        name,
        group: 'autoscaling',
        kind: 'Scale',
      });
    }
    const next = clone(prev);
    next.spec.replicas = replicas;
    if (next.spec.replicas !== prev.spec.replicas) next.metadata.generation = (prev.metadata.generation || 1) + 1;
    const out = this.write(rt, this.key(rt, ns, name), next, prev, dryRun);
    return this.scaleOf(out);
  }

  patchScale(rt, ns, name, body, contentType, opts) {
    let patched;
    try {
      patched = applyPatch(this.getScale(rt, ns, name), body, contentType);
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      if (err.code === 415) throw apiError(415, 'UnsupportedMediaType', err.message);
      throw badRequest(err.message);
    }
    return this.updateScale(rt, ns, name, patched, opts);
  }

  // --- watch -------------------------------------------------------------------------------

  // Opens a watch on `rt`. `send(type, object, entry)` gets each event; events are those after
  // `resourceVersion`, or synthetic ADDED for what exists now when it is "" or "0" (or with
  // sendInitialEvents). Throws an ApiError 410 when the resourceVersion is compacted.
  watch(rt, { namespace, labelSelector, fieldSelector, resourceVersion, sendInitialEvents, send, onClose }) {
    const label = parseLabelSelector(labelSelector);
    const field = parseFieldSelector(fieldSelector, rt.name);
    const matches = (o) =>
      Boolean(o) && (!rt.namespaced || !namespace || o.metadata.namespace === namespace) && label.matches(o.metadata.labels) && field.matches(o);
    const w = {
      rt,
      closed: false,
      matches,
      // A change that moves an object into or out of the selection is an ADDED or a DELETED
      // for this watch, as the apiserver's watch cache reports it.
      offer(entry) {
        if (w.closed) return;
        const now = entry.type !== 'DELETED' && matches(entry.object);
        const before = entry.prev !== null && matches(entry.prev);
        let type = null;
        if (entry.type === 'ADDED') type = now ? 'ADDED' : null;
        else if (entry.type === 'DELETED') type = before ? 'DELETED' : null;
        else if (now && before) type = 'MODIFIED';
        else if (now) type = 'ADDED';
        else if (before) type = 'DELETED';
        if (type) send(type, entry.object, entry);
      },
      close: () => {
        if (w.closed) return;
        w.closed = true;
        this.watchers.delete(w);
        onClose?.();
      },
    };
    const rvText = resourceVersion ?? '';
    if (rvText === '' || rvText === '0' || sendInitialEvents) {
      for (const key of [...this.objects[rt.name].keys()].sort()) {
        const obj = this.objects[rt.name].get(key);
        if (matches(obj)) send('ADDED', obj, null);
      }
    } else {
      const rv = Number(rvText);
      if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version: ${rvText}`);
      if (rv < this.compactedRv) throw expired(`too old resource version: ${rv} (${this.compactedRv})`);
      if (rv > this.rv) throw tooLarge(rv, this.rv);
      let i = this.history.length;
      while (i > 0 && this.history[i - 1].rv > rv) i--;
      for (; i < this.history.length; i++) if (this.history[i].resource === rt.name) w.offer(this.history[i]);
    }
    this.watchers.add(w);
    return w;
  }
}
