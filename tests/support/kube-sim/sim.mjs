// kube-sim: a Kubernetes API server simulator for Drover's tests. Real clients (kubectl,
// @kubernetes/client-node, the controller's own client) talk to it over plain HTTP on
// 127.0.0.1 as they would to kube-apiserver; tests shape the cluster and inject faults through
// the JS object returned here, or through /sim/ endpoints from other processes.
//
//   import { startKubeSim } from '../../support/kube-sim/sim.mjs';
//   const sim = await startKubeSim({ bookmarkIntervalMs: 200 });
//   sim.runPod({ namespace: 'default', name: 'web-0', labels: { app: 'web' }, ip: '127.1.0.10' });
//   sim.injectFault({ match: 'watch', kind: 'error-event', code: 410 });
//   ... point a client at sim.url ...
//   await sim.close();
//
// Served: discovery (/version, /api, /api/v1, /apis, /apis/apps, /apis/apps/v1), pods (+status),
// namespaces, deployments and statefulsets (+status, +scale), with list/watch/get/create/
// update/patch/delete/deletecollection as resources.mjs and store.mjs describe. Options:
// host, port, maxHistory, bookmarkIntervalMs, defaultGraceSeconds, watchExpired ('event' |
// 'status'), tokens, tls (true: a self-signed cert, sim.caCert), log. README.md beside this
// file lists the JS control API and what is not simulated.
//
// Control endpoints (no auth, never faulted, JSON in and out):
//   POST   /sim/compact                       drop watch history: older resourceVersions -> 410
//   POST   /sim/faults        {spec} | [specs] queue faults (see injectFault); {"clear":true} clears
//   GET    /sim/faults                        pending faults;  DELETE /sim/faults clears them
//   POST   /sim/drop-watches[?abrupt=1]       end every open watch now (abrupt: reset the socket)
//   POST   /sim/bookmarks                     send a BOOKMARK now to every watch that allows them
//   GET    /sim/stats                         request counts by verb, path, resource; open watches
//   POST   /sim/stats/reset                   zero the request counters
//   POST   /sim/config    {bookmarkIntervalMs, watchExpired: "event"|"status", defaultGraceSeconds,
//                         maxHistory}
//   POST   /sim/pods      {runPod options} | [..]  create and run pods (see runPod)
//   POST   /sim/pods/{ns}/{name}/ready        {"ready": bool}
//   POST   /sim/pods/{ns}/{name}/phase        {"phase": "Running" | "Pending" | "Succeeded" | "Failed"}
//   POST   /sim/pods/{ns}/{name}/annotate     {"key": "value" | null, ...}
//   POST   /sim/pods/{ns}/{name}/finish-deletion   the kubelet's final delete
//   DELETE /sim/pods/{ns}/{name}[?graceSeconds=N]  delete as an API client would
//   GET    /sim/scale-events                  [{kind, namespace, name, replicas}] in order
//
// Fault specs (each applies to the next `count` (default 1; -1 = until cleared) API requests
// that match; `match` is watch|list|get|create|update|patch|delete|deletecollection|discovery|
// any (any = every resource request, not discovery); optional `resource` ("pods") and `path`
// (a substring of the URL path) narrow it):
//   {"kind":"drop"}                                  close the connection without an answer
//   {"kind":"status","status":429,"retryAfter":1}    a Status answer (429/503/504 carry Retry-After)
//   {"kind":"slow","delayMs":500}                    wait, then serve normally
//   {"kind":"split","chunkBytes":7,"delayMs":1}      serve normally, written in tiny pieces
//   {"kind":"error-event","code":410}                (watch only) a 200 stream with one ERROR event
//                                                    carrying a Status of that code, then the end

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { Store } from './store.mjs';
import { SelectorError } from './selectors.mjs';
import { kubeletStatus, withReady } from './kubelet.mjs';
import {
  kResources,
  apiVersionOf,
  discoveryDocument,
  ApiError,
  apiError,
  badRequest,
  statusForCode,
  toTable,
} from './resources.mjs';

const kVerbClasses = ['watch', 'list', 'get', 'create', 'update', 'patch', 'delete', 'deletecollection', 'discovery', 'any'];
const kMaxBody = 3 * 1024 * 1024;

// Writes a response body, or a watch stream's lines, either at once or (under a split fault)
// in `chunkBytes` pieces with `delayMs` between them, so that clients must reassemble.
class Output {
  constructor(res, split) {
    this.res = res;
    this.split = split;
    this.queue = [];
    this.pumping = false;
    this.ending = false;
  }
  write(text) {
    if (this.res.destroyed || this.res.writableEnded) return;
    if (!this.split) {
      this.res.write(text);
      return;
    }
    this.queue.push(Buffer.from(text));
    this.pump();
  }
  end() {
    if (this.res.writableEnded) return;
    if (!this.split) {
      this.res.end();
      return;
    }
    this.ending = true;
    this.pump();
  }
  async pump() {
    if (this.pumping) return;
    this.pumping = true;
    const size = Math.max(1, this.split.chunkBytes || 7);
    while (this.queue.length && !this.res.destroyed) {
      const buf = this.queue[0];
      const piece = buf.subarray(0, size);
      if (piece.length === buf.length) this.queue.shift();
      else this.queue[0] = buf.subarray(size);
      this.res.write(piece);
      await delay(this.split.delayMs ?? 1);
    }
    this.pumping = false;
    if (this.ending && !this.res.writableEnded && !this.res.destroyed) this.res.end();
  }
}

function parseRoute(pathname, method, query) {
  const seg = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let group;
  let version;
  let rest;
  if (seg[0] === 'api' && seg.length >= 2) {
    group = '';
    version = seg[1];
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 3) {
    group = seg[1];
    version = seg[2];
    rest = seg.slice(3);
  } else {
    return null;
  }
  if (rest.length === 0) return null;
  let watch = query.get('watch') === 'true' || query.get('watch') === '1';
  if (rest[0] === 'watch') {
    watch = true;
    rest = rest.slice(1);
  }
  let namespace = '';
  let resourceName;
  let name;
  let subresource = '';
  if (rest[0] === 'namespaces' && rest.length >= 3 && kResources[rest[2]]?.namespaced) {
    namespace = rest[1];
    [resourceName, name, subresource = ''] = rest.slice(2);
    if (rest.length > 5) return null;
  } else {
    [resourceName, name, subresource = ''] = rest;
    if (rest.length > 3) return null;
  }
  const rt = kResources[resourceName];
  if (!rt || rt.group !== group || rt.version !== version) return null;
  if (rt.namespaced && name !== undefined && !namespace) return null;
  if (subresource && !rt.subresources.includes(subresource)) return null;
  let verb;
  if (method === 'GET') verb = watch ? 'watch' : name === undefined ? 'list' : 'get';
  else if (method === 'POST') verb = name === undefined ? 'create' : null;
  else if (method === 'PUT') verb = name === undefined ? null : 'update';
  else if (method === 'PATCH') verb = name === undefined ? null : 'patch';
  else if (method === 'DELETE') verb = name === undefined ? 'deletecollection' : 'delete';
  return { rt, namespace, name, subresource, verb };
}

function bearer(req) {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '');
  return m ? m[1].trim() : null;
}

// RBAC in miniature: a token's `allow` rules ({verbs, resources, namespaces}, '*' or absent =
// any) decide; a token without `allow` may do everything.
function allowed(entry, route) {
  if (!entry.allow) return true;
  const resource = route.subresource ? `${route.rt.name}/${route.subresource}` : route.rt.name;
  const has = (list, v) => !list || list.includes('*') || list.includes(v);
  return entry.allow.some(
    (r) => has(r.verbs, route.verb) && has(r.resources, resource) && (route.namespace ? has(r.namespaces, route.namespace) : !r.namespaces || r.namespaces.includes('*')),
  );
}

function forbidden(user, route) {
  const resource = route.subresource ? `${route.rt.name}/${route.subresource}` : route.rt.name;
  const where = route.namespace ? `in the namespace "${route.namespace}"` : 'at the cluster scope';
  const details = { kind: route.rt.name };
  if (route.name) details.name = route.name;
  return apiError(403, 'Forbidden', `${route.name ? `${route.rt.name} "${route.name}"` : route.rt.name} is forbidden: User "${user}" cannot ${route.verb} resource "${resource}" in API group "${route.rt.group}" ${where}`, details);
}

const wantsTable = (req) => /as=Table/.test(req.headers.accept || '');

function acceptsJson(req) {
  const accept = req.headers.accept;
  return !accept || /json|\*\/\*/.test(accept);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > kMaxBody) throw apiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding request body: ${err.message}`);
  }
}

// A self-signed certificate for 127.0.0.1 and localhost, made by the openssl CLI (which
// Debian's ca-certificates depends on): { key, cert } in PEM.
function selfSignedCert() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-sim-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2',
      '-subj', '/CN=kube-sim', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startKubeSim(options = {}) {
  const config = {
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60000,
    watchExpired: options.watchExpired ?? 'event',
    log: options.log || null,
  };
  const store = new Store({
    maxHistory: options.maxHistory ?? 10000,
    defaultGraceSeconds: options.defaultGraceSeconds ?? 30,
    log: (m) => config.log?.(m),
  });
  const tokens = options.tokens || null;
  let faults = [];
  const openWatches = new Set();
  const scaleEvents = [];
  const scaleHooks = [];
  let nextIp = 0;
  // Pod IPs 127.1.0.1, 127.1.0.2, ...: loopback addresses, so a test can listen on them.
  const allocateIp = () => {
    const ip = `127.1.${Math.floor(nextIp / 250)}.${(nextIp % 250) + 1}`;
    nextIp += 1;
    return ip;
  };
  const stats = { requests: 0, byVerb: {}, byPath: {}, byVerbResource: {}, watchesStarted: 0, faultsApplied: 0 };
  const bump = (obj, key) => {
    obj[key] = (obj[key] || 0) + 1;
  };

  store.replicaHooks.push((kind, namespace, name, replicas) => {
    scaleEvents.push({ kind, namespace, name, replicas });
    for (const hook of scaleHooks) hook(kind, namespace, name, replicas);
  });

  function takeFault(verb, route, pathname) {
    const i = faults.findIndex((f) => {
      if (f.kind === 'error-event' && verb !== 'watch') return false;
      const m = f.match || 'any';
      const classOk = m === verb || (m === 'any' && verb !== 'discovery');
      return classOk && (!f.resource || f.resource === route?.rt.name) && (!f.path || pathname.includes(f.path));
    });
    if (i < 0) return null;
    const f = faults[i];
    if (f.count !== -1) {
      f.count = (f.count ?? 1) - 1;
      if (f.count <= 0) faults.splice(i, 1);
    }
    stats.faultsApplied += 1;
    return f;
  }

  function sendJson(res, code, body, headers = {}, split = null) {
    const text = JSON.stringify(body);
    const h = { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', ...headers };
    if (!split) h['Content-Length'] = Buffer.byteLength(text);
    res.writeHead(code, h);
    const out = new Output(res, split);
    out.write(text);
    out.end();
  }

  function sendError(res, err, split) {
    if (err instanceof SelectorError) err = badRequest(err.message);
    if (!(err instanceof ApiError)) {
      config.log?.(`kube-sim: internal error: ${err?.stack || err}`);
      err = apiError(500, 'InternalError', `Internal error occurred: ${err?.message || err}`);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, err.code, err.status, err.headers, split);
  }

  // --- watch streams ---------------------------------------------------------------------

  function serveWatch(req, res, route, q, split) {
    const { rt } = route;
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const initial = q.get('sendInitialEvents') === 'true';
    if (initial && (!bookmarks || q.get('resourceVersionMatch') !== 'NotOlderThan')) {
      throw apiError(422, 'Invalid', 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks to true');
    }
    const table = wantsTable(req);
    const out = new Output(res, split);
    const ws = { rt, route, out, res, bookmarks, timers: [], watcher: null, closed: false };
    const start = () => {
      if (res.headersSent) return;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
      res.flushHeaders();
    };
    ws.event = (type, object) => {
      start();
      let obj = object;
      if (table && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')) {
        obj = toTable(rt, [object], { includeObject: q.get('includeObject') || 'Metadata' });
      }
      out.write(`${JSON.stringify({ type, object: obj })}\n`);
    };
    ws.bookmark = (annotations) => {
      const metadata = { resourceVersion: String(store.rv) };
      if (annotations) metadata.annotations = annotations;
      ws.event('BOOKMARK', { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata });
    };
    ws.close = (abrupt) => {
      if (ws.closed) return;
      ws.closed = true;
      for (const t of ws.timers) clearTimeout(t);
      ws.watcher?.close();
      openWatches.delete(ws);
      if (abrupt) res.destroy();
      else {
        start();
        out.end();
      }
    };
    ws.armBookmarks = () => {
      clearInterval(ws.bookmarkTimer);
      if (!ws.bookmarks || ws.closed) return;
      ws.bookmarkTimer = setInterval(() => ws.bookmark(), config.bookmarkIntervalMs);
      ws.timers.push(ws.bookmarkTimer);
    };
    let fieldSelector = q.get('fieldSelector') || '';
    if (route.name !== undefined) {
      fieldSelector = [fieldSelector, `metadata.name=${route.name}`].filter(Boolean).join(',');
    }
    try {
      ws.watcher = store.watch(rt, {
        namespace: route.namespace,
        labelSelector: q.get('labelSelector') || '',
        fieldSelector,
        resourceVersion: q.get('resourceVersion') ?? '',
        sendInitialEvents: initial,
        send: (type, obj) => ws.event(type, obj),
      });
    } catch (err) {
      if (err instanceof ApiError && err.code === 410 && config.watchExpired !== 'status' && !res.headersSent) {
        ws.event('ERROR', err.status);
        out.end();
        return;
      }
      throw err;
    }
    stats.watchesStarted += 1;
    openWatches.add(ws);
    start();
    if (initial) ws.bookmark({ 'k8s.io/initial-events-end': 'true' });
    ws.armBookmarks();
    const timeout = Number(q.get('timeoutSeconds'));
    if (timeout > 0) ws.timers.push(setTimeout(() => ws.close(false), timeout * 1000));
    res.on('close', () => ws.close(true));
  }

  function serveErrorEvent(res, fault, split) {
    const code = fault.code ?? 410;
    const err = code === 410 ? apiError(410, 'Expired', `too old resource version: 1 (${store.rv})`) : statusForCode(code, fault.retryAfter);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    const out = new Output(res, split);
    out.write(`${JSON.stringify({ type: 'ERROR', object: err.status })}\n`);
    out.end();
  }

  // --- resource requests -----------------------------------------------------------------

  function serveResource(req, res, route, q, body, split) {
    const { rt, namespace: ns, name, subresource, verb } = route;
    const dryRun = q.getAll('dryRun').includes('All');
    const reply = (code, obj) => sendJson(res, code, obj, {}, split);
    const table = wantsTable(req);
    switch (verb) {
      case 'watch':
        return serveWatch(req, res, route, q, split);
      case 'list': {
        const r = store.list(rt, ns, {
          labelSelector: q.get('labelSelector') || '',
          fieldSelector: q.get('fieldSelector') || '',
          limit: q.get('limit') || 0,
          continue: q.get('continue') || '',
          resourceVersion: q.get('resourceVersion') ?? '',
          resourceVersionMatch: q.get('resourceVersionMatch') || '',
          copy: false,
        });
        if (table) {
          return reply(200, toTable(rt, r.items, { includeObject: q.get('includeObject') || 'Metadata', resourceVersion: r.resourceVersion, continueToken: r.continue }));
        }
        const metadata = { resourceVersion: r.resourceVersion };
        if (r.continue) metadata.continue = r.continue;
        if (r.remainingItemCount !== undefined) metadata.remainingItemCount = r.remainingItemCount;
        return reply(200, { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata, items: r.items });
      }
      case 'get': {
        if (subresource === 'scale') return reply(200, store.getScale(rt, ns, name));
        const obj = store.current(rt, ns, name);
        if (table && !subresource) return reply(200, toTable(rt, [obj], { includeObject: q.get('includeObject') || 'Metadata', resourceVersion: obj.metadata.resourceVersion }));
        return reply(200, obj);
      }
      case 'create':
        return reply(201, store.create(rt, ns, body, { dryRun }));
      case 'update':
        if (subresource === 'scale') return reply(200, store.updateScale(rt, ns, name, body, { dryRun }));
        return reply(200, store.update(rt, ns, name, body, { subresource, dryRun }));
      case 'patch': {
        if (body === undefined) throw badRequest('the body of the request was empty');
        const type = req.headers['content-type'];
        if (subresource === 'scale') return reply(200, store.patchScale(rt, ns, name, body, type, { dryRun }));
        return reply(200, store.patch(rt, ns, name, body, type, { subresource, dryRun }));
      }
      case 'delete':
      case 'deletecollection': {
        const opts = body && typeof body === 'object' ? { ...body } : {};
        if (q.has('gracePeriodSeconds')) opts.gracePeriodSeconds = Number(q.get('gracePeriodSeconds'));
        if (opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds !== null) {
          opts.gracePeriodSeconds = Number(opts.gracePeriodSeconds);
        } else {
          delete opts.gracePeriodSeconds;
        }
        opts.dryRun = dryRun || (opts.dryRun || []).includes?.('All');
        if (verb === 'delete') return reply(200, store.delete(rt, ns, name, opts));
        const r = store.deleteCollection(rt, ns, { labelSelector: q.get('labelSelector') || '', fieldSelector: q.get('fieldSelector') || '' }, opts);
        return reply(200, { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: r.resourceVersion }, items: r.items });
      }
      default:
        throw apiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  // --- the control surface (/sim/...) ----------------------------------------------------

  async function serveControl(req, res, url) {
    const p = url.pathname;
    const body = req.method === 'GET' ? undefined : await readBody(req);
    const ok = (obj) => sendJson(res, 200, obj ?? { ok: true });
    const pod = /^\/sim\/pods\/([^/]+)\/([^/]+)(?:\/([a-z-]+))?$/.exec(p);
    if (p === '/sim/compact' && req.method === 'POST') return ok({ resourceVersion: api.compact() });
    if (p === '/sim/faults') {
      if (req.method === 'GET') return ok(faults);
      if (req.method === 'DELETE' || body?.clear) {
        api.clearFaults();
        return ok({ pending: 0 });
      }
      for (const spec of Array.isArray(body) ? body : [body]) api.injectFault(spec);
      return ok({ pending: faults.length });
    }
    if (p === '/sim/drop-watches' && req.method === 'POST') {
      return ok({ dropped: api.dropWatches({ abrupt: ['1', 'true'].includes(url.searchParams.get('abrupt')) }) });
    }
    if (p === '/sim/bookmarks' && req.method === 'POST') return ok({ sent: api.sendBookmarks() });
    if (p === '/sim/stats' && req.method === 'GET') return ok(api.stats());
    if (p === '/sim/stats/reset' && req.method === 'POST') return ok(api.resetStats());
    if (p === '/sim/config' && req.method === 'POST') return ok(api.setConfig(body || {}));
    if (p === '/sim/scale-events' && req.method === 'GET') return ok(scaleEvents);
    if (p === '/sim/pods' && req.method === 'POST') {
      return ok(Array.isArray(body) ? body.map((o) => api.runPod(o)) : api.runPod(body || {}));
    }
    if (pod) {
      const [, ns, name, action] = pod;
      if (req.method === 'DELETE' && !action) {
        const g = url.searchParams.get('graceSeconds');
        return ok(api.deletePod(ns, name, g === null ? {} : { graceSeconds: Number(g) }));
      }
      if (req.method === 'POST' && action === 'ready') return ok(api.setReady(ns, name, body?.ready !== false));
      if (req.method === 'POST' && action === 'phase') return ok(api.setPhase(ns, name, body?.phase));
      if (req.method === 'POST' && action === 'annotate') return ok(api.annotate(ns, name, body || {}));
      if (req.method === 'POST' && action === 'finish-deletion') return ok(api.finishDeletion(ns, name));
    }
    throw apiError(404, 'NotFound', `no simulator control endpoint ${req.method} ${p}`);
  }

  // --- the request handler ---------------------------------------------------------------

  async function handle(req, res) {
    const url = new URL(req.url, 'http://sim');
    const q = url.searchParams;
    if (url.pathname.startsWith('/sim/')) return serveControl(req, res, url);
    config.log?.(`kube-sim: ${req.method} ${req.url}`);
    stats.requests += 1;
    bump(stats.byPath, `${req.method} ${url.pathname}`);
    const route = parseRoute(url.pathname, req.method, q);
    const doc = req.method === 'GET' ? discoveryDocument(url.pathname, `${req.socket.localAddress}:${req.socket.localPort}`) : null;
    const verb = route ? route.verb : doc || /^\/(openapi|healthz|livez|readyz)/.test(url.pathname) ? 'discovery' : null;
    if (verb) bump(stats.byVerb, verb);
    if (route?.verb) bump(stats.byVerbResource, `${route.verb} ${route.rt.name}${route.subresource ? `/${route.subresource}` : ''}`);

    if (tokens) {
      const token = bearer(req);
      const entry = token ? tokens[token] : undefined;
      if (!entry) throw apiError(401, 'Unauthorized', 'Unauthorized');
      if (route?.verb && !allowed(entry, route)) throw forbidden(entry.user || 'unknown', route);
    }
    // OpenAPI is not served: /openapi/v2 and /openapi/v3 are 404 whatever the Accept header
    // asks (kubectl's client-side validation then needs --validate=false).
    if (!acceptsJson(req) && !url.pathname.startsWith('/openapi/')) {
      throw apiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io');
    }

    const fault = verb ? takeFault(verb, route, url.pathname) : null;
    let split = null;
    if (fault) {
      config.log?.(`kube-sim: fault ${JSON.stringify(fault)} on ${req.method} ${req.url}`);
      if (fault.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      if (fault.kind === 'status') throw statusForCode(fault.status ?? 500, fault.retryAfter);
      if (fault.kind === 'slow') await delay(fault.delayMs ?? 1000);
      if (fault.kind === 'split') split = { chunkBytes: fault.chunkBytes ?? 7, delayMs: fault.delayMs ?? 1 };
      if (fault.kind === 'error-event') return serveErrorEvent(res, fault, split);
    }
    try {
      if (doc) return sendJson(res, 200, doc, {}, split);
      if (/^\/(healthz|livez|readyz)$/.test(url.pathname)) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        return res.end('ok');
      }
      if (!route) throw apiError(404, 'NotFound', 'the server could not find the requested resource', {});
      if (!route.verb) throw apiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
      const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(req.method) ? await readBody(req) : undefined;
      return serveResource(req, res, route, q, body, split);
    } catch (err) {
      return sendError(res, err, split);
    }
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((err) => sendError(res, err));
  };
  const tls = options.tls ? (options.tls === true ? selfSignedCert() : options.tls) : null;
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = 30000;
  server.on(tls ? 'secureConnection' : 'connection', (socket) => socket.setNoDelay(true));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address();

  const pods = kResources.pods;
  const api = {
    url: `${tls ? 'https' : 'http'}://${address}:${port}`,
    port,
    host: address,
    // The server certificate (PEM) when serving TLS: the CA a client should trust.
    caCert: tls ? tls.cert : null,
    store,
    get resourceVersion() {
      return String(store.rv);
    },

    // Generic access to any served resource ('pods', 'deployments', ...), through the same
    // code paths as HTTP requests.
    create: (resource, ns, obj, opts) => store.create(kResources[resource], ns, obj, opts),
    get: (resource, ns, name) => store.get(kResources[resource], ns, name),
    list: (resource, ns, q) => store.list(kResources[resource], ns, q).items,
    update: (resource, ns, name, obj, opts) => store.update(kResources[resource], ns, name, obj, opts),
    patch: (resource, ns, name, body, contentType = 'application/merge-patch+json', opts) =>
      store.patch(kResources[resource], ns, name, body, contentType, opts),
    delete: (resource, ns, name, opts) => store.delete(kResources[resource], ns, name, opts),

    createPod: (ns, pod) => store.create(pods, ns, pod),
    getPod(ns, name) {
      try {
        return store.get(pods, ns, name);
      } catch (err) {
        if (err.code === 404) return null;
        throw err;
      }
    },
    listPods: (ns = '', q = {}) => store.list(pods, ns, q).items,

    // Creates a pod scheduled on node "sim-node", then writes the status a kubelet would:
    // phase, podIP/podIPs (a fresh 127.1.x.y unless `ip` is given; none while Pending),
    // hostIP 127.0.0.1, conditions with Ready True/False, container statuses.
    runPod({ namespace = 'default', name, generateName, labels, annotations, ip, ready = true, phase = 'Running', containers, nodeName = 'sim-node', spec = {} } = {}) {
      const created = store.create(pods, namespace, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, generateName: name ? undefined : generateName || 'pod-', labels, annotations },
        spec: { ...spec, nodeName, containers: containers || spec.containers || [{ name: 'app', image: 'drover-sim/app:latest' }] },
      });
      const podIp = ip || (phase !== 'Pending' ? allocateIp() : undefined);
      return api.setPodStatus(namespace, created.metadata.name, kubeletStatus(created, { phase, ip: podIp, ready }), { replace: true });
    },
    // Merges `status` into the pod's status (replace: true writes it whole), via pods/status.
    setPodStatus(ns, name, status, { replace = false } = {}) {
      if (replace) {
        const cur = store.get(pods, ns, name);
        return store.update(pods, ns, name, { ...cur, status }, { subresource: 'status' });
      }
      return store.patch(pods, ns, name, { status }, 'application/strategic-merge-patch+json', { subresource: 'status' });
    },
    setReady(ns, name, ready) {
      const cur = store.get(pods, ns, name);
      return store.update(pods, ns, name, { ...cur, status: withReady(cur.status, cur.spec, Boolean(ready)) }, { subresource: 'status' });
    },
    // Moves the pod to `phase`. Entering Running from another phase makes it Ready (its
    // containers start) with an IP; staying Running keeps its readiness; other phases are
    // not Ready. `ready` overrides.
    setPhase(ns, name, phase, { ready } = {}) {
      const cur = store.get(pods, ns, name);
      const wasReady = cur.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      const isReady = ready ?? (phase === 'Running' && (wasReady || cur.status?.phase !== 'Running'));
      const ip = cur.status?.podIP || (phase === 'Running' ? allocateIp() : undefined);
      const status = kubeletStatus(cur, { phase, ip, ready: isReady });
      return store.update(pods, ns, name, { ...cur, status }, { subresource: 'status' });
    },
    annotate: (ns, name, annotations) => store.patch(pods, ns, name, { metadata: { annotations } }, 'application/merge-patch+json'),
    label: (ns, name, labels) => store.patch(pods, ns, name, { metadata: { labels } }, 'application/merge-patch+json'),
    deletePod: (ns, name, { graceSeconds } = {}) => store.delete(pods, ns, name, graceSeconds === undefined ? {} : { gracePeriodSeconds: graceSeconds }),
    finishDeletion: (ns, name) => store.finishDeletion(pods, ns, name),

    // A Deployment or StatefulSet from a whole object, or from {name, replicas, labels}
    // (selector and template labels default to {app: name}).
    createDeployment: (ns, spec) => store.create(kResources.deployments, ns, workload('Deployment', spec)),
    createStatefulSet: (ns, spec) => store.create(kResources.statefulsets, ns, workload('StatefulSet', spec)),
    getDeployment: (ns, name) => store.get(kResources.deployments, ns, name),
    getStatefulSet: (ns, name) => store.get(kResources.statefulsets, ns, name),
    // Scales through the scale subresource, as `kubectl scale` does. kind: Deployment|StatefulSet.
    scale: (kind, ns, name, replicas) =>
      store.updateScale(kind === 'StatefulSet' ? kResources.statefulsets : kResources.deployments, ns, name, { spec: { replicas } }),
    // fn(kind, namespace, name, replicas) runs after every write that changes the spec.replicas
    // of a Deployment or StatefulSet. Returns a function that removes it.
    onScale(fn) {
      scaleHooks.push(fn);
      return () => scaleHooks.splice(scaleHooks.indexOf(fn) >>> 0, 1);
    },
    scaleEvents: () => scaleEvents.map((e) => ({ ...e })),

    compact() {
      store.compact();
      return String(store.rv);
    },
    injectFault(spec) {
      if (!spec || typeof spec !== 'object') throw badRequest('a fault spec must be an object');
      if (!['drop', 'status', 'slow', 'split', 'error-event'].includes(spec.kind)) throw badRequest(`unknown fault kind: ${spec.kind}`);
      if (spec.match && !kVerbClasses.includes(spec.match)) throw badRequest(`unknown fault match: ${spec.match}`);
      faults.push({ ...spec });
    },
    clearFaults() {
      faults = [];
    },
    pendingFaults: () => faults.map((f) => ({ ...f })),
    // Ends every open watch (abrupt: resets the connection instead of ending the stream).
    dropWatches({ abrupt = false } = {}) {
      const all = [...openWatches];
      for (const ws of all) ws.close(abrupt);
      return all.length;
    },
    sendBookmarks() {
      let n = 0;
      for (const ws of openWatches) {
        if (!ws.bookmarks) continue;
        ws.bookmark();
        n += 1;
      }
      return n;
    },
    setBookmarkInterval(ms) {
      config.bookmarkIntervalMs = ms;
      for (const ws of openWatches) ws.armBookmarks();
    },
    setConfig(c) {
      if (c.bookmarkIntervalMs !== undefined) api.setBookmarkInterval(Number(c.bookmarkIntervalMs));
      if (c.watchExpired !== undefined) {
        if (!['event', 'status'].includes(c.watchExpired)) throw badRequest('watchExpired must be "event" or "status"');
        config.watchExpired = c.watchExpired;
      }
      if (c.defaultGraceSeconds !== undefined) store.defaultGraceSeconds = Number(c.defaultGraceSeconds);
      if (c.maxHistory !== undefined) store.maxHistory = Number(c.maxHistory);
      return { bookmarkIntervalMs: config.bookmarkIntervalMs, watchExpired: config.watchExpired, defaultGraceSeconds: store.defaultGraceSeconds, maxHistory: store.maxHistory };
    },
    stats() {
      const byResource = {};
      for (const ws of openWatches) bump(byResource, ws.rt.name);
      return {
        requests: stats.requests,
        byVerb: { ...stats.byVerb },
        byPath: { ...stats.byPath },
        byVerbResource: { ...stats.byVerbResource },
        openWatches: openWatches.size,
        openWatchesByResource: byResource,
        watchesStarted: stats.watchesStarted,
        faultsApplied: stats.faultsApplied,
        pendingFaults: faults.length,
        resourceVersion: String(store.rv),
        compactedResourceVersion: String(store.compactedRv),
        objects: Object.fromEntries(Object.entries(store.objects).map(([k, m]) => [k, m.size])),
      };
    },
    resetStats() {
      Object.assign(stats, { requests: 0, byVerb: {}, byPath: {}, byVerbResource: {}, watchesStarted: 0, faultsApplied: 0 });
      return api.stats();
    },
    async close() {
      api.dropWatches({ abrupt: true });
      store.close();
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}

function workload(kind, spec = {}) {
  if (spec.metadata) return { apiVersion: 'apps/v1', kind, ...spec };
  const { name, replicas = 1, labels, annotations } = spec;
  const match = labels || { app: name };
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, labels: match, annotations },
    spec: {
      replicas,
      selector: { matchLabels: match },
      ...(kind === 'StatefulSet' ? { serviceName: name } : {}),
      template: {
        metadata: { labels: match },
        spec: { containers: [{ name: 'app', image: 'drover-sim/app:latest' }] },
      },
    },
  };
}
