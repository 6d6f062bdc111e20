#!/usr/bin/env bash
# Benchmarks drover-sidecar's supervisor mode against Node's own cluster module and PM2's cluster
# mode, all running the same app (examples/hello/server.js) with the same number of workers on
# 127.0.0.1, in one run:
#
#   1. throughput: wrk keep-alive load, requests/s, p50/p99 latency, rounds interleaved;
#   2. evenness: requests per worker during the measured rounds (max/min), counted inside every
#      worker by a module preloaded with NODE_OPTIONS=--require (count-requests.js below);
#   3. crash recovery: time from kill -9 of a worker to an answer from its replacement, minus the
#      app's own start time (the app spawned alone until its port accepts).
#
#   bench/supervisor.sh [--quick] [--workers N] [--duration S] [--rounds R] [--connections C]
#                       [--drover-threads T] [--contenders drover,cluster,pm2]
#
# Needs wrk, node, curl, and PM2 from bench/node_modules (npm ci in bench/). Prints a table and
# writes bench/results/supervisor.json. Everything it starts it stops, also on Ctrl-C.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$here/bench"
drover_bin="${DROVER_SIDECAR:-$here/build/release/sidecar/drover-sidecar}" # env: another build
app="$here/examples/hello/server.js"
pm2_bin="$bench/node_modules/.bin/pm2"

usage() {
  cat <<'EOF'
usage: bench/supervisor.sh [options]
  --quick               smoke run: 1 round of 3 s, 1 s warm-up, 3 start-time samples
  --workers N           workers under every supervisor (default 2)
  --duration S          seconds per measured wrk run (default 10)
  --rounds R            measured rounds, contenders interleaved, medians reported (default 3)
  --connections C       wrk keep-alive connections (default 64)
  --drover-threads T    drover-sidecar --threads (default 0: one per usable CPU)
  --contenders LIST     comma-separated subset of drover,cluster,pm2 (default all three)
  -h, --help            this text
EOF
}

die() {
  echo "bench: error: $*" >&2
  exit 1
}
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- options
quick=0
workers=2
duration=""
rounds=""
connections=64
drover_threads=0
contenders_csv="drover,cluster,pm2"
wrk_threads=1

need_value() { [ "$#" -ge 2 ] || die "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  opt="$1"
  value=""
  case "$opt" in
    --*=*) value="${opt#*=}"; opt="${opt%%=*}"; shift ;;
    --quick | -h | --help) shift ;;
    --*) need_value "$@"; value="$2"; shift 2 ;;
    *) usage >&2; die "unexpected argument: $opt" ;;
  esac
  case "$opt" in
    --quick) quick=1 ;;
    --workers) workers="$value" ;;
    --duration) duration="${value%s}" ;;
    --rounds) rounds="$value" ;;
    --connections) connections="$value" ;;
    --drover-threads) drover_threads="$value" ;;
    --contenders) contenders_csv="$value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done

if [ "$quick" = 1 ]; then
  : "${duration:=3}" "${rounds:=1}"
  warmup=1
  startup_runs=3
else
  : "${duration:=10}" "${rounds:=3}"
  warmup=3
  startup_runs=7
fi
for v in workers duration rounds connections drover_threads; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v//_/-} must be a whole number, got '${!v}'"
done
if [ "$workers" -lt 1 ] || [ "$duration" -lt 1 ] || [ "$rounds" -lt 1 ] || [ "$connections" -lt 1 ]; then
  die "--workers, --duration, --rounds and --connections must be at least 1"
fi

IFS=',' read -r -a contenders <<<"$contenders_csv"
for c in "${contenders[@]}"; do
  case "$c" in drover | cluster | pm2) ;; *) die "unknown contender '$c' in --contenders" ;; esac
done
has() {
  local c
  for c in "${contenders[@]}"; do [ "$c" = "$1" ] && return 0; done
  return 1
}

# ---------------------------------------------------------------- tools
for tool in wrk node curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/setup.sh)"
done
if has pm2 && [ ! -x "$pm2_bin" ]; then
  die "PM2 not installed: run 'npm ci' in bench/ (or leave pm2 out with --contenders drover,cluster)"
fi
if has drover && [ ! -x "$drover_bin" ]; then
  log "building drover-sidecar (release)"
  (cd "$here" && cmake --preset release >/dev/null && cmake --build --preset release) ||
    die "could not build $drover_bin"
  [ -x "$drover_bin" ] || die "build finished but $drover_bin is missing"
fi

# ---------------------------------------------------------------- process bookkeeping
workdir="$(mktemp -d "${TMPDIR:-/tmp}/drover-bench-sup.XXXXXX")"
started_pids=()
pm2_home="$workdir/pm2"
pm2_started=0
keep_workdir=0

# pm2 with its state in the work directory; PM2 talks to its daemon through files there.
pm2() { PM2_HOME="$pm2_home" "$pm2_bin" "$@"; }

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$? i pid
  trap - EXIT INT TERM
  if [ "$pm2_started" = 1 ]; then
    pm2 kill >/dev/null 2>&1 || true
    # The daemon, should `pm2 kill` have failed to reach it.
    pid="$(cat "$pm2_home/pm2.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  fi
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    [ -n "${started_pids[i]}" ] && stop_pid "${started_pids[i]}"
  done
  # Workers left by a supervisor that died: they carry this run's count directory.
  for pid in $(grep -l "BENCH_COUNT_DIR=$workdir/" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    [ "$pid" != "$$" ] && kill -KILL "$pid" 2>/dev/null || true
  done
  if { [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ "$status" -ne 143 ]; } || [ "$keep_workdir" = 1 ]; then
    echo "bench: logs kept in $workdir" >&2
  else
    rm -rf "$workdir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in the background with output to $workdir/$name.log; sets started_pid.
start_bg() {
  local name="$1"
  shift
  "$@" >"$workdir/$name.log" 2>&1 &
  started_pid=$!
  started_pids+=("$started_pid")
}

# Prints N distinct free TCP ports on 127.0.0.1.
free_ports() {
  node -e '
    const net = require("node:net");
    const n = Number(process.argv[1]);
    const servers = [];
    (async () => {
      for (let i = 0; i < n; i++) {
        const s = net.createServer();
        await new Promise((ok, fail) => { s.once("error", fail); s.listen(0, "127.0.0.1", ok); });
        servers.push(s);
      }
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    })().catch((e) => { console.error(e.message); process.exit(1); });
  ' "$1"
}

# Prints a base port B such that B..B+N-1 are free, below the ephemeral port range.
free_port_block() {
  node -e '
    const net = require("node:net");
    const fs = require("node:fs");
    const n = Number(process.argv[1]);
    const eph = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0]) || 32768;
    const bind = (p) => new Promise((ok) => { const s = net.createServer(); s.once("error", () => ok(null));
      s.listen({ port: p, host: "127.0.0.1", exclusive: true }, () => ok(s)); });
    (async () => {
      for (let a = 0; a < 50; a++) {
        const base = 20000 + Math.floor(Math.random() * (Math.min(40000, eph) - n - 20000));
        const held = [];
        for (let p = base; p < base + n; p++) { const s = await bind(p); if (!s) break; held.push(s); }
        held.forEach((s) => s.close());
        if (held.length === n) { console.log(base); return; }
      }
      console.error("no block of free ports"); process.exit(1);
    })();
  ' "$1"
}

check_alive() {
  local c="$1" pid="${sup_pid[$1]}"
  if [ "$c" = pm2 ]; then
    pid="$(cat "$pm2_home/pm2.pid" 2>/dev/null || true)"
  fi
  kill -0 "$pid" 2>/dev/null || {
    tail -n 20 "$workdir/$c.log" >&2 || true
    die "$c (pid $pid) died (last log lines above)"
  }
}

# ---------------------------------------------------------------- helper scripts
# count-requests.js is preloaded into every Node.js process; probe.js is the client for the
# start-time, readiness and crash-recovery measurements.
cat >"$workdir/count-requests.js" <<'EOF'
// Preloaded into every Node.js process (NODE_OPTIONS=--require ...):
// counts the requests each HTTP server of this process receives and writes the count to
// $BENCH_COUNT_DIR/<pid> every 100 ms, so the script can see how evenly the workers were used,
// whichever supervisor runs them (drover-sidecar, Node's cluster module, PM2). Processes that
// create no HTTP server (the cluster primary, the PM2 daemon) write nothing.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.BENCH_COUNT_DIR;
if (dir) {
  let requests = 0;
  let written = -1;
  const file = path.join(dir, String(process.pid));
  const flush = () => {
    if (requests === written) return;
    written = requests;
    try {
      fs.writeFileSync(`${file}.tmp`, String(requests));
      fs.renameSync(`${file}.tmp`, file); // readers never see a half-written number
    } catch {
      // the directory is gone: the run is over
    }
  };
  const createServer = http.createServer;
  http.createServer = function countingCreateServer(...args) {
    const server = createServer.apply(this, args);
    server.on('request', () => requests++);
    if (written < 0) {
      flush();
      setInterval(flush, 100).unref();
    }
    return server;
  };
}
EOF
cat >"$workdir/probe.js" <<'EOF'
// Measurements that need a client finer than curl. Each request uses a
// new connection, so that connection-level balancing (Node's cluster, PM2) reaches every worker.
// The app names itself in its answer ("... (pid N)" or JSON "pid":N).
//
//   node probe.js startup RUNS CMD ARGS...
//       runs CMD alone RUNS times with PORT set to a free port; prints the median time in ms
//       from spawn to the port accepting a connection, then every run's time
//   node probe.js pids PORT N
//       prints the pids of N distinct workers answering on PORT (fails after 20 s)
//   node probe.js recover PORT VICTIM KNOWN_PIDS
//       kill -9 VICTIM, then 4 loops of GETs until an answer comes from a pid not in KNOWN_PIDS
//       (comma-separated); prints "ms failed new_pid": the time from the kill to that answer, and
//       how many requests failed (error, or no answer within 2 s) meanwhile (fails after 30 s)
'use strict';

const http = require('node:http');
const net = require('node:net');
const { spawn } = require('node:child_process');

function get(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString();
        const m = /"pid":\s*(\d+)/.exec(text) || /\bpid (\d+)/.exec(text);
        resolve({ ok: res.statusCode >= 200 && res.statusCode < 300, pid: m ? Number(m[1]) : null });
      });
      res.on('error', () => resolve({ ok: false, pid: null }));
    });
    req.setTimeout(2000, () => req.destroy());
    req.on('error', () => resolve({ ok: false, pid: null }));
    req.end();
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function startup(runs, cmd) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'ignore', env: { ...process.env, PORT: String(port) } });
    const exited = new Promise((r) => child.once('exit', r));
    let up = false;
    for (let tries = 0; tries < 20000 && !up; tries++) {
      if (child.exitCode !== null) throw new Error(`${cmd.join(' ')} exited with ${child.exitCode} at start`);
      up = await accepts(port);
      if (!up) await new Promise((r) => setTimeout(r, 1));
    }
    if (!up) throw new Error(`${cmd.join(' ')} did not accept on port ${port}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    child.kill('SIGKILL');
    await exited;
  }
  console.log([median(times), ...times].map((t) => t.toFixed(1)).join(' '));
}

async function pids(port, n) {
  const seen = new Set();
  const deadline = Date.now() + 20000;
  while (seen.size < n) {
    if (Date.now() > deadline) throw new Error(`only ${seen.size} of ${n} workers answered on port ${port}: ${[...seen]}`);
    const rs = await Promise.all(Array.from({ length: 4 }, () => get(port)));
    for (const r of rs) if (r.ok && r.pid) seen.add(r.pid);
  }
  console.log([...seen].join(' '));
}

async function recover(port, victim, known) {
  const knownSet = new Set(known);
  let failed = 0;
  let found = null;
  const t0 = process.hrtime.bigint();
  process.kill(victim, 'SIGKILL');
  const deadline = Date.now() + 30000;
  // Four independent loops, so that one request lost with the dead worker (it then hangs until
  // its timeout) counts as failed without holding up the others.
  const loop = async () => {
    while (found === null && Date.now() < deadline) {
      const r = await get(port);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (!r.ok) failed++;
      else if (r.pid && !knownSet.has(r.pid) && found === null) found = { ms, pid: r.pid };
    }
  };
  await Promise.all(Array.from({ length: 4 }, loop));
  if (found === null) throw new Error(`no answer from a new worker within 30 s of kill -9 ${victim}`);
  console.log(`${found.ms.toFixed(1)} ${failed} ${found.pid}`);
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'startup') return startup(Number(args[0]), args.slice(1));
  if (cmd === 'pids') return pids(Number(args[0]), Number(args[1]));
  if (cmd === 'recover') return recover(Number(args[0]), Number(args[1]), args[2].split(',').map(Number));
  throw new Error(`unknown command ${cmd}; see the header of probe.js`);
}

main().catch((err) => {
  console.error(`probe: ${err.message}`);
  process.exit(1);
});
EOF
probe() { node "$workdir/probe.js" "$@"; }
# Every Node.js process loads the counter (the app alone too, so its start time is comparable);
# worker processes count their requests into their contender's directory ($BENCH_COUNT_DIR).
export NODE_OPTIONS="--require=$workdir/count-requests.js"

# ---------------------------------------------------------------- the app alone
log "app start time alone: $startup_runs runs of node examples/hello/server.js until its port accepts"
result="$(probe startup "$startup_runs" node "$app")" || die "the app does not start alone"
read -r -a startup_ms <<<"$result"
app_start_ms="${startup_ms[0]}"
log "app start: median ${app_start_ms} ms (runs: ${startup_ms[*]:1})"

# ---------------------------------------------------------------- start the contenders
read -r -a ports <<<"$(free_ports 4)"
declare -A port=([drover]="${ports[0]}" [cluster]="${ports[1]}" [pm2]="${ports[2]}")
drover_admin="${ports[3]}"
declare -A sup_pid=()

start_contender() {
  local c="$1" count_dir="$workdir/counts-$1"
  mkdir -p "$count_dir"
  case "$c" in
    drover)
      local base
      base="$(free_port_block $((2 * workers)))"
      start_bg drover env BENCH_COUNT_DIR="$count_dir" "$drover_bin" --listen="127.0.0.1:${port[drover]}" \
        --admin="127.0.0.1:$drover_admin" --threads="$drover_threads" --workers="$workers" \
        --worker-port-base="$base" --drain-delay=0s -- node "$app"
      sup_pid[drover]="$started_pid"
      ;;
    cluster)
      start_bg cluster env BENCH_COUNT_DIR="$count_dir" WORKERS="$workers" PORT="${port[cluster]}" \
        node "$bench/cluster-app.js" "$app"
      sup_pid[cluster]="$started_pid"
      ;;
    pm2)
      pm2_started=1
      BENCH_COUNT_DIR="$count_dir" PORT="${port[pm2]}" pm2 start "$app" -i "$workers" \
        --name hello >"$workdir/pm2.log" 2>&1 || {
        cat "$workdir/pm2.log" >&2
        die "pm2 start failed"
      }
      sup_pid[pm2]="$(cat "$pm2_home/pm2.pid")"
      ;;
  esac
  # Ready when every worker has answered.
  probe pids "${port[$c]}" "$workers" >/dev/null 2>"$workdir/$c-ready.err" || {
    cat "$workdir/$c-ready.err" "$workdir/$c.log" >&2 || true
    die "$c: not all $workers workers answered on 127.0.0.1:${port[$c]}"
  }
  log "$c on 127.0.0.1:${port[$c]} with $workers workers"
}
for c in "${contenders[@]}"; do start_contender "$c"; done

# ---------------------------------------------------------------- per-worker request counts
# Prints "pid count" for every worker that counted requests so far.
counts_snapshot() {
  local f
  for f in "$workdir/counts-$1"/*; do
    [ -f "$f" ] || continue
    case "$f" in *.tmp) continue ;; esac
    echo "$(basename "$f") $(cat "$f")"
  done
}
# Waits until the workers' counters stop changing (they are written every 100 ms when they
# change): two equal snapshots 150 ms apart, at most ~5 s.
settle_counts() {
  local c prev="" cur i
  for ((i = 0; i < 30; i++)); do
    cur="$(for c in "${contenders[@]}"; do counts_snapshot "$c"; done)"
    [ "$i" -gt 0 ] && [ "$cur" = "$prev" ] && return 0
    prev="$cur"
    sleep 0.15
  done
  log "warning: request counters still changing after 5 s"
}

# ---------------------------------------------------------------- throughput
cat >"$workdir/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK-RESULT %d %d %.1f %.1f %d %d %d %d %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
EOF

# run_wrk CONTENDER SECONDS LABEL: prints "rps p50_ms p99_ms socket_errors http_errors".
run_wrk() {
  local c="$1" secs="$2" label="$3" out
  out="$workdir/wrk-$c-$label.txt"
  wrk -t"$wrk_threads" -c"$connections" -d"${secs}s" --latency -s "$workdir/report.lua" \
    "http://127.0.0.1:${port[$c]}/" >"$out" 2>&1 || {
    cat "$out" >&2
    die "wrk against $c failed"
  }
  check_alive "$c"
  awk '$1 == "WRK-RESULT" { printf "%.0f %.3f %.3f %d %d\n", $2 / ($3 / 1e6), $4 / 1000, $5 / 1000,
         $6 + $7 + $8 + $9, $10; found = 1 } END { exit !found }' "$out" ||
    die "no result from wrk against $c (see $out)"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v fmt="$1\n" '{ v[NR] = $1 } END {
  if (NR == 0) print "nan"; else printf fmt, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'; }

log "warm-up: ${warmup}s each, then $rounds round(s) of ${duration}s, wrk -t$wrk_threads -c$connections (keep-alive)"
for c in "${contenders[@]}"; do run_wrk "$c" "$warmup" warmup >/dev/null; done

declare -A rps_all=() p50_all=() p99_all=() sockerr=() httperr=() per_worker=()
for c in "${contenders[@]}"; do sockerr[$c]=0; httperr[$c]=0; done
settle_counts
for c in "${contenders[@]}"; do counts_snapshot "$c" >"$workdir/counts-$c-before.txt"; done
for ((r = 1; r <= rounds; r++)); do
  for c in "${contenders[@]}"; do
    result="$(run_wrk "$c" "$duration" "round$r")" || exit 1 # run_wrk said why
    read -r rps p50 p99 serr bad <<<"$result"
    rps_all[$c]+="$rps "
    p50_all[$c]+="$p50 "
    p99_all[$c]+="$p99 "
    sockerr[$c]=$((sockerr[$c] + serr))
    httperr[$c]=$((httperr[$c] + bad))
    log "round $r/$rounds $(printf '%-8s %8s req/s  p50 %7s ms  p99 %7s ms' "$c" "$rps" "$p50" "$p99")"
  done
done
settle_counts

# Requests per worker during the measured rounds: the counters' growth since the snapshot.
declare -A evenness=()
for c in "${contenders[@]}"; do
  counts_snapshot "$c" >"$workdir/counts-$c-after.txt"
  per_worker[$c]="$(awk 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) printf "%s%d", (n++ ? " " : ""), d }' \
    "$workdir/counts-$c-before.txt" "$workdir/counts-$c-after.txt")"
  evenness[$c]="$(tr ' ' '\n' <<<"${per_worker[$c]}" | grep -v '^$' | awk -v n="$workers" '
    { v[NR] = $1; if (NR == 1 || $1 > max) max = $1; if (NR == 1 || $1 < min) min = $1 }
    END { if (NR < n) { print "inf"; exit } if (min == 0) print "inf"; else printf "%.2f\n", max / min }')"
done

declare -A rps_med=() p50_med=() p99_med=()
for c in "${contenders[@]}"; do
  rps_med[$c]="$(median %.0f <<<"${rps_all[$c]}")"
  p50_med[$c]="$(median %.3f <<<"${p50_all[$c]}")"
  p99_med[$c]="$(median %.3f <<<"${p99_all[$c]}")"
done

# ---------------------------------------------------------------- crash recovery
# One kill -9 per worker (each worker once: drover, like PM2 with exponential backoff, delays the
# respawn of a slot that crashes again soon after its last crash).
declare -A recover_all=() recover_failed=()
for c in "${contenders[@]}"; do
  live_pids="$(probe pids "${port[$c]}" "$workers")" ||
    die "$c: not all $workers workers answer before the crash test"
  read -r -a live <<<"$live_pids"
  known="$(tr ' ' ',' <<<"${live[*]}")"
  recover_failed[$c]=0
  for ((k = 0; k < workers; k++)); do
    victim="${live[k]}"
    result="$(probe recover "${port[$c]}" "$victim" "$known")" ||
      die "$c: no replacement answered after kill -9 $victim"
    read -r ms failed newpid <<<"$result"
    recover_all[$c]+="$ms "
    recover_failed[$c]=$((recover_failed[$c] + failed))
    known+=",$newpid"
    log "$c: kill -9 $victim -> new worker $newpid answered after $ms ms ($failed failed requests meanwhile)"
    # All workers serving again before the next kill.
    probe pids "${port[$c]}" "$workers" >/dev/null ||
      die "$c: not all workers serving after the crash"
  done
  check_alive "$c"
done
declare -A recover_med=() overhead=()
for c in "${contenders[@]}"; do
  recover_med[$c]="$(median %.1f <<<"${recover_all[$c]}")"
  overhead[$c]="$(awk -v a="${recover_med[$c]}" -v b="$app_start_ms" 'BEGIN { printf "%.1f\n", a - b }')"
done

# ---------------------------------------------------------------- report
label() {
  case "$1" in
    drover) echo "drover-sidecar --workers=$workers" ;;
    cluster) echo "node cluster (SCHED_RR)" ;;
    pm2) echo "pm2 -i $workers (cluster mode)" ;;
  esac
}
echo
echo "Throughput and evenness: $workers workers of examples/hello/server.js; wrk -t$wrk_threads -c$connections keep-alive, ${duration}s x $rounds round(s), median; $(nproc) CPUs"
printf '%-30s %9s %8s %8s %7s %7s %9s  %s\n' supervisor "req/s" "p50 ms" "p99 ms" "sockerr" "non2xx" "max/min" "requests per worker"
for c in "${contenders[@]}"; do
  printf '%-30s %9s %8s %8s %7s %7s %9s  %s\n' "$(label "$c")" "${rps_med[$c]}" "${p50_med[$c]}" "${p99_med[$c]}" \
    "${sockerr[$c]}" "${httperr[$c]}" "${evenness[$c]}" "${per_worker[$c]}"
done
if has drover; then
  for other in cluster pm2; do
    has "$other" || continue
    printf 'drover/%-8s req/s x%s   p99 x%s\n' "$other" "$(ratio "${rps_med[drover]}" "${rps_med[$other]}")" \
      "$(ratio "${p99_med[drover]}" "${p99_med[$other]}")"
  done
fi
echo
echo "Crash recovery: kill -9 of a worker -> first answer from its replacement (median of $workers kills, one per worker); the app alone starts in ${app_start_ms} ms"
printf '%-30s %12s %16s %16s  %s\n' supervisor "recovery ms" "minus app start" "failed requests" "each kill (ms)"
for c in "${contenders[@]}"; do
  printf '%-30s %12s %16s %16s  %s\n' "$(label "$c")" "${recover_med[$c]}" "${overhead[$c]}" "${recover_failed[$c]}" "${recover_all[$c]% }"
done
echo "(failed requests: probe GETs, from 4 loops on new connections, that failed or got no answer within 2 s, between the kill and the replacement's first answer)"

for c in "${contenders[@]}"; do
  if [ "${sockerr[$c]}" -gt 0 ] || [ "${httperr[$c]}" -gt 0 ]; then
    echo "WARNING: $c had ${sockerr[$c]} socket errors and ${httperr[$c]} HTTP errors under load" >&2
    keep_workdir=1
  fi
done

# ---------------------------------------------------------------- JSON
json_list() { local s; s="$(tr -s ' ' <<<"$1" | sed 's/^ //; s/ $//; s/ /, /g')"; echo "[$s]"; }
json_num() { case "$1" in "" | nan | n/a | inf) echo null ;; *) echo "$1" ;; esac; }
version_of() { "$@" 2>&1 | head -n 1 | tr -cd '[:alnum:] ._/:()+-' || true; }
mkdir -p "$bench/results"
json="$bench/results/supervisor.json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"quick\": $([ "$quick" = 1 ] && echo true || echo false),"
  echo "  \"config\": {\"workers\": $workers, \"wrk_threads\": $wrk_threads, \"connections\": $connections, \"duration_s\": $duration,"
  echo "             \"rounds\": $rounds, \"warmup_s\": $warmup, \"drover_threads\": $drover_threads, \"cpus\": $(nproc),"
  echo "             \"app\": \"examples/hello/server.js\", \"loadavg_at_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"},"
  echo "  \"versions\": {\"drover\": \"$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"node\": \"$(node --version)\","
  echo "               \"pm2\": \"$( [ -x "$pm2_bin" ] && node -p 'require(process.argv[1]).version' "$bench/node_modules/pm2/package.json" 2>/dev/null || echo none)\", \"wrk\": \"$(version_of wrk -v)\"},"
  echo "  \"app_start_ms\": {\"median\": $app_start_ms, \"runs\": $(json_list "${startup_ms[*]:1}")},"
  echo "  \"contenders\": {"
  n=0
  for c in "${contenders[@]}"; do
    n=$((n + 1))
    echo "    \"$c\": {"
    echo "      \"rps\": $(json_num "${rps_med[$c]}"), \"p50_ms\": $(json_num "${p50_med[$c]}"), \"p99_ms\": $(json_num "${p99_med[$c]}"),"
    echo "      \"rounds\": {\"rps\": $(json_list "${rps_all[$c]}"), \"p50_ms\": $(json_list "${p50_all[$c]}"), \"p99_ms\": $(json_list "${p99_all[$c]}")},"
    echo "      \"socket_errors\": ${sockerr[$c]}, \"http_errors\": ${httperr[$c]},"
    echo "      \"requests_per_worker\": $(json_list "${per_worker[$c]}"), \"evenness_max_over_min\": $(json_num "${evenness[$c]}"),"
    echo "      \"recovery_ms\": $(json_num "${recover_med[$c]}"), \"recovery_runs_ms\": $(json_list "${recover_all[$c]}"),"
    echo "      \"recovery_minus_app_start_ms\": $(json_num "${overhead[$c]}"), \"recovery_failed_requests\": ${recover_failed[$c]}"
    if [ "$n" -lt "${#contenders[@]}" ]; then echo "    },"; else echo "    }"; fi
  done
  echo "  },"
  echo "  \"ratios\": {"
  echo "    \"drover_cluster\": {\"rps\": $(json_num "$(ratio "${rps_med[drover]:-}" "${rps_med[cluster]:-}")"), \"p99\": $(json_num "$(ratio "${p99_med[drover]:-}" "${p99_med[cluster]:-}")"), \"recovery\": $(json_num "$(ratio "${recover_med[drover]:-}" "${recover_med[cluster]:-}")")},"
  echo "    \"drover_pm2\": {\"rps\": $(json_num "$(ratio "${rps_med[drover]:-}" "${rps_med[pm2]:-}")"), \"p99\": $(json_num "$(ratio "${p99_med[drover]:-}" "${p99_med[pm2]:-}")"), \"recovery\": $(json_num "$(ratio "${recover_med[drover]:-}" "${recover_med[pm2]:-}")")}"
  echo "  }"
  echo "}"
} >"$json"
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$json" || die "wrote invalid JSON to $json"
echo
echo "results: $json"
