// Label and field selectors, parsed and matched as kube-apiserver does.
//
//   const sel = parseLabelSelector('app=web,tier!=db,env in (prod, staging),!legacy');
//   sel.matches({ app: 'web', env: 'prod' }); // true
//   const f = parseFieldSelector('metadata.name=web-0', 'pods');
//   f.matches(podObject);
//
// Label grammar (k8s.io/apimachinery/pkg/labels): comma-separated requirements, all of which
// must hold: `k=v`, `k==v`, `k!=v` (also true when k is absent), `k in (a,b)`,
// `k notin (a,b)` (also true when k is absent), `k` (exists), `!k` (does not exist),
// `k>N`, `k<N` (integer compare). A parse error throws a SelectorError, answered as 400.

export class SelectorError extends Error {}

const kEverything = { empty: true, matches: () => true, toString: () => '' };

export function parseLabelSelector(text) {
  if (text === undefined || text === null || text.trim() === '') return kEverything;
  const reqs = [];
  let i = 0;
  const s = text;
  const skipSpace = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const readKey = () => {
    skipSpace();
    const start = i;
    while (i < s.length && /[A-Za-z0-9._\-/]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  const readValue = () => {
    skipSpace();
    const start = i;
    while (i < s.length && /[A-Za-z0-9._\-]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  const fail = (why) => {
    throw new SelectorError(`unable to parse requirement: ${why} in "${text}"`);
  };
  for (;;) {
    skipSpace();
    let negate = false;
    if (s[i] === '!') {
      negate = true;
      i++;
    }
    const key = readKey();
    if (!key) fail(`found '${s[i] ?? 'end of string'}', expected: identifier`);
    skipSpace();
    if (negate) {
      reqs.push({ key, op: '!' });
    } else if (i >= s.length || s[i] === ',') {
      reqs.push({ key, op: 'exists' });
    } else if (s.startsWith('==', i) || s.startsWith('!=', i)) {
      const op = s.slice(i, i + 2);
      i += 2;
      reqs.push({ key, op: op === '==' ? '=' : '!=', values: [readValue()] });
    } else if (s[i] === '=' || s[i] === '>' || s[i] === '<') {
      const op = s[i];
      i++;
      const v = readValue();
      if ((op === '>' || op === '<') && !/^-?\d+$/.test(v)) fail(`for '${op}' operator, the value must be an integer`);
      reqs.push({ key, op, values: [v] });
    } else {
      const m = /^(in|notin)\s*\(/.exec(s.slice(i));
      if (!m) fail(`found '${s[i]}', expected: in, notin, =, ==, !=, gt, lt`);
      i += m[0].length;
      const values = [];
      for (;;) {
        values.push(readValue());
        skipSpace();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ')') {
          i++;
          break;
        }
        fail(`found '${s[i] ?? 'end of string'}', expected: ',', ')'`);
      }
      reqs.push({ key, op: m[1], values });
    }
    skipSpace();
    if (i >= s.length) break;
    if (s[i] !== ',') fail(`found '${s[i]}', expected: ','`);
    i++;
  }
  return {
    empty: false,
    matches(labels) {
      const l = labels || {};
      return reqs.every((r) => {
        const has = Object.prototype.hasOwnProperty.call(l, r.key);
        const v = l[r.key];
        switch (r.op) {
          case 'exists':
            return has;
          case '!':
            return !has;
          case '=':
          case 'in':
            return has && r.values.includes(v);
          case '!=':
          case 'notin':
            return !has || !r.values.includes(v);
          case '>':
            return has && /^-?\d+$/.test(v) && Number(v) > Number(r.values[0]);
          case '<':
            return has && /^-?\d+$/.test(v) && Number(v) < Number(r.values[0]);
          default:
            return false;
        }
      });
    },
    toString: () => text,
  };
}

// Field paths each resource supports in a fieldSelector (the apiserver rejects any other).
const kFields = {
  common: {
    'metadata.name': (o) => o.metadata?.name,
    'metadata.namespace': (o) => o.metadata?.namespace,
  },
  pods: {
    'spec.nodeName': (o) => o.spec?.nodeName ?? '',
    'spec.restartPolicy': (o) => o.spec?.restartPolicy ?? '',
    'spec.schedulerName': (o) => o.spec?.schedulerName ?? '',
    'spec.serviceAccountName': (o) => o.spec?.serviceAccountName ?? '',
    'spec.hostNetwork': (o) => String(Boolean(o.spec?.hostNetwork)),
    'status.phase': (o) => o.status?.phase ?? '',
    'status.podIP': (o) => o.status?.podIP ?? '',
    'status.nominatedNodeName': (o) => o.status?.nominatedNodeName ?? '',
  },
  namespaces: {
    'status.phase': (o) => o.status?.phase ?? '',
  },
};

export function parseFieldSelector(text, resource) {
  if (text === undefined || text === null || text.trim() === '') return kEverything;
  const reqs = text.split(',').map((part) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!m) throw new SelectorError(`invalid selector: '${text}'; can't understand '${part}'`);
    const get = kFields.common[m[1]] || kFields[resource]?.[m[1]];
    if (!get) throw new SelectorError(`field label not supported: ${m[1]}`);
    return { get, negate: m[2] === '!=', value: m[3] };
  });
  return {
    empty: false,
    matches: (obj) => reqs.every((r) => (String(r.get(obj) ?? '') === r.value) !== r.negate),
    toString: () => text,
  };
}

// The string form of a LabelSelector object ({matchLabels, matchExpressions}), as a Scale's
// status.selector carries it.
export function labelSelectorToString(selector) {
  if (!selector) return '';
  const parts = Object.entries(selector.matchLabels || {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions || []) {
    const values = (e.values || []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
