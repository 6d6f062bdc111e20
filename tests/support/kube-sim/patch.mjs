// The three PATCH body types kube-apiserver accepts for built-in resources.
//
//   applyPatch(obj, body, 'application/merge-patch+json')            // RFC 7386
//   applyPatch(obj, body, 'application/strategic-merge-patch+json')  // merge, lists by key
//   applyPatch(obj, body, 'application/json-patch+json')             // RFC 6902
//
// Each returns a new object and never changes `obj`. A malformed patch throws a PatchError
// with the HTTP code the apiserver answers (400 bad body, 422 failed `test` or bad path,
// 415 unknown content type).

import { isDeepStrictEqual } from 'node:util';

export class PatchError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export const kPatchTypes = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
];

const clone = (v) => (v === undefined ? undefined : structuredClone(v));
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

export function applyPatch(obj, body, contentType) {
  const type = String(contentType || '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json-patch+json') {
    if (!Array.isArray(body)) throw new PatchError(400, 'json patch must be an array of operations');
    return jsonPatch(obj, body);
  }
  if (type === 'application/merge-patch+json') {
    if (!isObject(body)) throw new PatchError(400, 'merge patch must be a JSON object');
    return mergePatch(obj, body);
  }
  if (type === 'application/strategic-merge-patch+json') {
    if (!isObject(body)) throw new PatchError(400, 'strategic merge patch must be a JSON object');
    return strategicMerge(obj, body);
  }
  throw new PatchError(
    415,
    `the body of the request was in an unknown format - accepted media types include: ${kPatchTypes.join(', ')}`,
  );
}

export function mergePatch(target, patch) {
  if (!isObject(patch)) return clone(patch);
  const out = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// patchMergeKey of the list fields that Pod, Deployment and StatefulSet tag with
// patchStrategy "merge" (k8s.io/api struct tags), by field name. Other lists are replaced.
const kMergeKeys = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  conditions: 'type',
  podIPs: 'ip',
  hostIPs: 'ip',
  ownerReferences: 'uid',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  resourceClaims: 'name',
};
const kPrimitiveMergeLists = new Set(['finalizers']);

function strategicMerge(target, patch) {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const rest = { ...patch };
    delete rest.$patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const name = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[name]) && Array.isArray(v)) out[name] = out[name].filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v) && kMergeKeys[k]) {
      out[k] = mergeListByKey(Array.isArray(out[k]) ? out[k] : [], v, kMergeKeys[k], k);
    } else if (Array.isArray(v) && kPrimitiveMergeLists.has(k)) {
      const base = Array.isArray(out[k]) ? [...out[k]] : [];
      for (const x of v) if (!base.includes(x)) base.push(x);
      out[k] = base;
    } else if (isObject(v)) {
      const merged = strategicMerge(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = clone(v);
    }
  }
  return out;
}

function mergeListByKey(base, patch, key, field) {
  const out = base.map(clone);
  for (const item of patch) {
    if (!isObject(item) || item[key] === undefined) {
      throw new PatchError(400, `map: ${JSON.stringify(item)} does not contain declared merge key: ${key} (field ${field})`);
    }
    const idx = out.findIndex((x) => isObject(x) && x[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item);
    else out.push(strategicMerge({}, item));
  }
  return out;
}

function parsePointer(path) {
  if (path === '') return [];
  if (typeof path !== 'string' || path[0] !== '/') throw new PatchError(400, `invalid JSON pointer: ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function walk(doc, tokens, path) {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      const i = Number(t);
      if (!/^\d+$/.test(t) || i >= cur.length) throw new PatchError(422, `unable to find ${path}: index ${t} out of range`);
      cur = cur[i];
    } else if (isObject(cur)) {
      if (!(t in cur)) throw new PatchError(422, `doc is missing path: "${path}"`);
      cur = cur[t];
    } else {
      throw new PatchError(422, `doc is missing path: "${path}"`);
    }
  }
  return cur;
}

function getAt(doc, path) {
  return walk(doc, parsePointer(path), path);
}

function removeAt(doc, path) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new PatchError(422, 'cannot remove the whole document');
  const parent = walk(doc, tokens.slice(0, -1), path);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!/^\d+$/.test(last) || i >= parent.length) throw new PatchError(422, `unable to remove nonexistent key: ${last}: missing value`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(last in parent)) {
    throw new PatchError(422, `unable to remove nonexistent key: ${last}: missing value`);
  }
  const v = parent[last];
  delete parent[last];
  return v;
}

function addAt(doc, path, value, replace) {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const parent = walk(doc, tokens.slice(0, -1), path);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    if (replace) {
      const i = Number(last);
      if (!/^\d+$/.test(last) || i >= parent.length) throw new PatchError(422, `replace operation does not apply: doc is missing key: ${path}`);
      parent[i] = value;
    } else if (last === '-') {
      parent.push(value);
    } else {
      const i = Number(last);
      if (!/^\d+$/.test(last) || i > parent.length) throw new PatchError(422, `add operation does not apply: index ${last} out of bounds`);
      parent.splice(i, 0, value);
    }
  } else if (isObject(parent)) {
    if (replace && !(last in parent)) throw new PatchError(422, `replace operation does not apply: doc is missing key: ${path}`);
    parent[last] = value;
  } else {
    throw new PatchError(422, `add operation does not apply: doc is missing path: "${path}"`);
  }
  return doc;
}

function jsonPatch(obj, ops) {
  let doc = clone(obj);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string') throw new PatchError(400, `invalid json patch operation: ${JSON.stringify(op)}`);
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, clone(op.value), false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, clone(op.value), true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move': {
        const v = removeAt(doc, op.from);
        doc = addAt(doc, op.path, v, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, clone(getAt(doc, op.from)), false);
        break;
      case 'test':
        if (!isDeepStrictEqual(getAt(doc, op.path), op.value)) {
          throw new PatchError(422, `testing value ${op.path} failed: test failed`);
        }
        break;
      default:
        throw new PatchError(400, `Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
