// Reading processes from /proc: what the supervisor started, with which environment, CPU
// affinity and process group, and whether any of them is left over or a zombie.
//
//   const kids = childrenOf(sc.pid);              // [{ pid, ppid, pgrp, state, comm }]
//   environOf(kids[0].pid).DROVER_WORKER_ID;      // '0'
//   cpusAllowed(kids[0].pid);                     // [1]
//   zombieChildren(sc.pid);                       // [] unless the sidecar fails to reap
//   processesWithEnv('DROVER_TEST_TAG', tag);     // every process that inherited a tag

import fs from 'node:fs';

// Fields of /proc/PID/stat, or null when the process is gone. The command name is in
// parentheses and may itself contain ') ', so the fields are counted from the last ')'.
export function statOf(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state), f[1] field 4 (ppid), f[2] field 5 (pgrp), f[3] field 6 (session).
  return { pid: Number(pid), comm, state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]) };
}

// The environment of `pid` as an object, or null when it is gone or unreadable.
export function environOf(pid) {
  let raw;
  try {
    raw = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return null;
  }
  const env = {};
  for (const entry of raw.split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return env;
}

// Expands a CPU list such as "0-2,5" into [0, 1, 2, 5].
export function parseCpuList(list) {
  const cpus = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) cpus.push(c);
  }
  return cpus;
}

// The CPUs `pid` may run on (Cpus_allowed_list of /proc/PID/status), or null when it is gone.
export function cpusAllowed(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(text);
  return m ? parseCpuList(m[1]) : null;
}

function allPids() {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

// Every process whose parent is `ppid`, zombies included.
export function childrenOf(ppid) {
  const out = [];
  for (const pid of allPids()) {
    const s = statOf(pid);
    if (s && s.ppid === ppid) out.push(s);
  }
  return out;
}

export function zombieChildren(ppid) {
  return childrenOf(ppid).filter((s) => s.state === 'Z');
}

// True while `pid` exists and is not a zombie.
export function isRunning(pid) {
  const s = statOf(pid);
  return s !== null && s.state !== 'Z';
}

// Every live (non-zombie) process whose environment has `key`=`value`. Zombies have no readable
// environment, so they are not found here.
export function processesWithEnv(key, value) {
  const out = [];
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    const env = environOf(pid);
    if (env && env[key] === value) {
      const s = statOf(pid);
      if (s && s.state !== 'Z') out.push({ ...s, env });
    }
  }
  return out;
}

// SIGKILLs every process listed; ignores those already gone.
export function killAll(procs) {
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
