#!/usr/bin/env bash
# Benchmarks drover-controller's push path: how fast a one-pod change reaches every subscribed
# sidecar (the last ACK), what each subscribed sidecar costs the controller in memory, and how
# many bytes a one-pod change sends each sidecar, at 1,000 and 10,000 simulated sidecars.
#
#   bench/controller.sh [--quick] [--sizes 1000,10000] [--changes K] [--interval S]
#                       [--connections C] [--max-pending P] [--debounce D] [--debounce-max D]
#   env: DROVER_CONTROLLER=path, SIDECAR_SWARM=path (other builds)
#
# For each size N, with a fresh simulator and controller: the Kubernetes API simulator
# (tests/support/kube-sim) holds N Running, Ready pods of one app group; drover-controller
# watches them; bench/controller/sidecar_swarm opens N Subscribe streams, one TCP connection
# each, saying hello as those pods; once all hold the table it flips one pod's readiness K times
# through the simulator's API and times each change from just before the PATCH to each
# sidecar's ACK. See bench/README.md ("Controller push"). Results: bench/results/controller.json
# (controller-quick.json with --quick).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$here/bench"
kube_sim="$here/tests/support/kube-sim/main.mjs"
pods_js="$bench/controller/pods.mjs"

# The first binary of each list that exists, else the first (which the build makes).
pick_bin() {
  local b
  for b in "$@"; do [ -x "$b" ] && { echo "$b"; return; }; done
  echo "$1"
}
controller_bin="${DROVER_CONTROLLER:-$(pick_bin "$here/build/release/controller/drover-controller" \
  "$here/build/bench/controller/drover-controller")}"
swarm_bin="${SIDECAR_SWARM:-$(pick_bin "$here/build/release/bench/controller/sidecar_swarm" \
  "$here/build/bench/bench/controller/sidecar_swarm")}"

usage() {
  cat <<'EOF'
usage: bench/controller.sh [options]
  --quick             smoke run: 50 sidecars, 2 changes (~20 s)
  --sizes LIST        sidecar counts, one run each (default 1000,10000)
  --changes K         one-pod changes measured per size (default 10)
  --interval S        seconds between changes (default 3; longer than --debounce-max)
  --connections C     0: a TCP connection per sidecar (default); C: sidecars share C connections
  --max-pending P     sidecars connecting at once (default 256)
  --debounce D        the controller's --debounce (default 100ms)
  --debounce-max D    the controller's --debounce-max (default 1s)
  --report-interval D each sidecar's Report period (default 10s)
  -h, --help          this text
environment:
  DROVER_CONTROLLER=PATH  drover-controller (default build/release/controller/drover-controller)
  SIDECAR_SWARM=PATH      sidecar_swarm (default build/release/bench/controller/sidecar_swarm)
EOF
}

# ---------------------------------------------------------------- reused from run.sh
# As bench/sticky.sh does: run.sh's process helpers, read out of it by name, so that every
# benchmark starts and stops its processes the same way (and cleans up on Ctrl-C).
run_sh="$bench/run.sh"
reuse() {
  local name body
  for name in "$@"; do
    body="$(awk -v name="$name" 'found == 0 && index($0, name "() {") == 1 { found = 1 }
      found == 1 { print; if ($0 ~ /^}$/ || $0 ~ /; }$/) exit }' "$run_sh")"
    [ -n "$body" ] || { echo "bench: error: function $name not found in $run_sh" >&2; exit 1; }
    eval "$body"
  done
}
reuse die log stop_pid cleanup start_bg free_ports

# ---------------------------------------------------------------- options
quick=0
sizes_csv=""
changes=""
interval=""
connections=0
max_pending=256
debounce=100ms
debounce_max=1s
report_interval=10s

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
    --sizes) sizes_csv="$value" ;;
    --changes) changes="$value" ;;
    --interval) interval="${value%s}" ;;
    --connections) connections="$value" ;;
    --max-pending) max_pending="$value" ;;
    --debounce) debounce="$value" ;;
    --debounce-max) debounce_max="$value" ;;
    --report-interval) report_interval="$value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done
if [ "$quick" = 1 ]; then
  : "${sizes_csv:=50}" "${changes:=2}" "${interval:=1.5}"
  settle=0.5s
else
  : "${sizes_csv:=1000,10000}" "${changes:=10}" "${interval:=3}"
  settle=2s
fi
IFS=',' read -r -a sizes <<<"$sizes_csv"
for n in "${sizes[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "--sizes takes positive whole numbers, got '$n'"
done
for v in changes connections max_pending; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v//_/-} must be a whole number, got '${!v}'"
done
[[ "$interval" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--interval must be a number of seconds, got '$interval'"

for tool in node curl taskset timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/setup.sh)"
done
[ -f "$kube_sim" ] || die "the Kubernetes API simulator is missing: $kube_sim"
if [ ! -x "$controller_bin" ] || [ ! -x "$swarm_bin" ]; then
  [ -z "${DROVER_CONTROLLER:-}${SIDECAR_SWARM:-}" ] || die "not found: $controller_bin or $swarm_bin"
  log "building drover-controller and sidecar_swarm (release)"
  (cd "$here" && cmake --preset release >/dev/null &&
    cmake --build --preset release --target drover-controller sidecar_swarm) ||
    die "could not build drover-controller and sidecar_swarm"
  controller_bin="$here/build/release/controller/drover-controller"
  swarm_bin="$here/build/release/bench/controller/sidecar_swarm"
fi

# Each connection is a descriptor in the swarm and another in the controller (separate
# processes, separate limits); both inherit this.
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -Sn)"
[ "$nofile" = unlimited ] && nofile=1048576
for n in "${sizes[@]}"; do
  c=$n
  [ "$connections" -gt 0 ] && c=$connections
  [ $((c + 512)) -le "$nofile" ] ||
    die "the open-file limit is $nofile: too low for $c connections (raise the hard limit, ulimit -Hn, as root)"
done

# The load generator on one CPU, the system under test (controller and
# simulator) on the other, so the figures do not measure how the scheduler shares the cores.
mapfile -t cpus < <(taskset -pc $$ | sed 's/.*: //' | tr ',' '\n' | while IFS=- read -r a b; do
  seq "$a" "${b:-$a}"; done)
if [ "${#cpus[@]}" -ge 2 ]; then
  pin_load=(taskset -c "${cpus[0]}")
  pin_sut=(taskset -c "${cpus[1]}")
  pinning="swarm on CPU ${cpus[0]}, controller and simulator on CPU ${cpus[1]}"
else
  pin_load=()
  pin_sut=()
  pinning="unpinned (only ${#cpus[@]} CPU available)"
  log "warning: fewer than 2 CPUs; running unpinned, figures will mix the swarm's and the controller's CPU"
fi

# ---------------------------------------------------------------- processes (run.sh's cleanup)
workdir="$(mktemp -d "${TMPDIR:-/tmp}/drover-bench-controller.XXXXXX")"
started_pids=()
keep_workdir=0
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Stops a process started with start_bg and forgets it, so cleanup does not signal its pid again.
stop_started() {
  local pid="$1" i
  stop_pid "$pid"
  for i in "${!started_pids[@]}"; do [ "${started_pids[i]}" = "$pid" ] && started_pids[i]=""; done
  return 0
}

# Waits until process PID's log NAME.log has a line matching REGEX; prints the match. ~SECONDS s.
wait_log() {
  local name="$1" pid="$2" regex="$3" seconds="$4" i line
  for ((i = 0; i < seconds * 10; i++)); do
    line="$(grep -m1 -oE "$regex" "$workdir/$name.log" 2>/dev/null || true)"
    [ -n "$line" ] && { echo "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$workdir/$name.log" >&2; die "$name exited at start (log above)"; }
    sleep 0.1
  done
  die "$name did not print /$regex/ within $seconds s (log: $workdir/$name.log)"
}

# Waits until URL answers 200, for at most SECONDS s, while PID lives.
wait_200() {
  local name="$1" pid="$2" url="$3" seconds="$4" i code=""
  for ((i = 0; i < seconds * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$workdir/$name.log" >&2; die "$name exited (log above)"; }
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)"
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  die "$name: $url did not answer 200 within $seconds s (last status '$code'; log: $workdir/$name.log)"
}

namespace=drover-bench
declare -A jsonl=() swarm_rc=()
load_at_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${sizes[@]}"; do
  log "---- $n sidecars (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  read -r grpc_port http_port <<<"$(free_ports 2)"

  start_bg "kube-sim-$n" "${pin_sut[@]}" node "$kube_sim" --port=0
  sim_pid="$started_pid"
  sim_url="$(wait_log "kube-sim-$n" "$sim_pid" 'http://127\.0\.0\.1:[0-9]+' 20)"
  "${pin_sut[@]}" node "$pods_js" --api="$sim_url" --namespace="$namespace" --count="$n" \
    --uids-out="$workdir/uids-$n.txt" >&2 || die "creating $n pods failed"

  # Shared connections come from 127.0.0.1, not from each pod's IP: the controller must not
  # check the source address then.
  peer_check=()
  [ "$connections" -gt 0 ] && peer_check=(--verify-peer-ip=false)
  start_bg "controller-$n" "${pin_sut[@]}" "$controller_bin" --kube-api="$sim_url" \
    --namespace="$namespace" --selector=app.kubernetes.io/name=swarm \
    --listen="127.0.0.1:$grpc_port" --http-listen="127.0.0.1:$http_port" \
    --debounce="$debounce" --debounce-max="$debounce_max" "${peer_check[@]}"
  controller_pid="$started_pid"
  wait_200 "controller-$n" "$controller_pid" "http://127.0.0.1:$http_port/readyz" 120
  log "controller pid $controller_pid on 127.0.0.1:$grpc_port (gRPC), 127.0.0.1:$http_port (HTTP); simulator $sim_url; $pinning"

  # Bounded: the ramp, then each change's interval and timeout, with room to spare.
  budget=$((240 + changes * (${interval%.*} + 31) + n / 50))
  jsonl[$n]="$workdir/swarm-$n.jsonl"
  rc=0
  timeout --signal=INT --kill-after=15 "$budget" "${pin_load[@]}" "$swarm_bin" \
    --controller="127.0.0.1:$grpc_port" --streams="$n" --connections="$connections" \
    --max-pending="$max_pending" --namespace="$namespace" --pod-uids="$workdir/uids-$n.txt" \
    --kube-api="$sim_url" --changes="$changes" --change-interval="${interval}s" \
    --report-interval="$report_interval" --controller-pid="$controller_pid" --settle="$settle" \
    --label="n$n" >"${jsonl[$n]}" 2> >(tee "$workdir/swarm-$n.log" >&2) || rc=$?
  swarm_rc[$n]=$rc
  [ "$rc" = 0 ] || { log "warning: sidecar_swarm exited with status $rc at $n sidecars"; keep_workdir=1; }
  curl -s --max-time 5 "http://127.0.0.1:$http_port/metrics" >"$workdir/metrics-$n.txt" || true
  kill -0 "$controller_pid" 2>/dev/null || { log "warning: the controller died (log: $workdir/controller-$n.log)"; keep_workdir=1; }
  stop_started "$controller_pid"
  stop_started "$sim_pid"
done

# ---------------------------------------------------------------- report
mkdir -p "$bench/results"
results="$bench/results/controller.json"
[ "$quick" = 1 ] && results="$bench/results/controller-quick.json"
report_args=()
for n in "${sizes[@]}"; do report_args+=("$n" "${jsonl[$n]}" "${swarm_rc[$n]}" "$workdir/metrics-$n.txt"); done
config="$(printf '{"quick": %s, "changes": %s, "interval_s": %s, "connections": %s, "max_pending": %s, "debounce": "%s", "debounce_max": "%s", "report_interval": "%s", "pinning": "%s", "cpus": %s, "loadavg_at_start": "%s", "loadavg_at_end": "%s", "drover": "%s", "controller_binary": "%s"}' \
  "$([ "$quick" = 1 ] && echo true || echo false)" "$changes" "$interval" "$connections" "$max_pending" \
  "$debounce" "$debounce_max" "$report_interval" "$pinning" "$(nproc)" "$load_at_start" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$controller_bin")"
node - "$results" "$config" "${report_args[@]}" <<'EOF'
// Reads sidecar_swarm's JSON lines for each size, prints the table and the targets, writes the
// results file. Exit status 1 when a run is incomplete (not a missed target: that is a finding).
const fs = require('node:fs');
const [results, configJson, ...rest] = process.argv.slice(2);
const config = JSON.parse(configJson);
const runs = [];
for (let i = 0; i < rest.length; i += 4) {
  const [n, file, rc, metricsFile] = rest.slice(i, i + 4);
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  const of = (type) => lines.filter((l) => l.type === type);
  // The controller's own push metrics, as it exported them at the end.
  const metrics = fs.existsSync(metricsFile)
    ? fs.readFileSync(metricsFile, 'utf8').split('\n').filter((l) => /^drover_controller_/.test(l))
    : [];
  runs.push({ n: Number(n), exit_status: Number(rc), ramp: of('ramp')[0] || null, subscribed: of('subscribed')[0] || null,
    changes: of('change'), summary: of('summary')[0] || null, controller_metrics: metrics });
}
const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : Number(v).toFixed(d));
const pad = (s, w) => String(s).padStart(w);
console.log('');
console.log(`Controller push: ${config.changes} one-pod changes (a pod's Ready flipped), ${config.interval_s} s apart; ` +
  `controller --debounce=${config.debounce} --debounce-max=${config.debounce_max}; ` +
  `${config.connections > 0 ? `sidecars over ${config.connections} connections` : 'one TCP connection per sidecar'}; ${config.pinning}`);
console.log('  latency: from just before the PATCH to each sidecar\'s ACK (debounce included), pooled over the changes;');
console.log('  us/push: CPU time per sidecar per change from the trigger to the last ACK (controller, and the swarm that');
console.log(`  simulates every sidecar on one CPU); load average ${config.loadavg_at_start} at the start, ${config.loadavg_at_end} at the end`);
const widths = [8, 10, 7, 9, 7, 7, 7, 9, 9, 15, 12, 13, 6, 9];
console.log(['sidecars', 'subscribed', 'ramp s', 'table KB', 'p50 ms', 'p99 ms', 'max ms', 'worst p99', 'B/sidecar',
  'ctrl KB/sidecar', 'ctrl us/push', 'swarm us/push', 'NACKs', 'complete']
  .map((h, i) => (i === 0 ? h.padEnd(widths[i]) : pad(h, widths[i]))).join(' '));
for (const r of runs) {
  const s = r.summary || {};
  const ack = s.ack_ms || {};
  r.kb_per_sidecar = s.controller_kib_per_sidecar == null ? null : (s.controller_kib_per_sidecar * 1024) / 1000;
  console.log([String(r.n).padEnd(8), pad(s.subscribed ?? 'n/a', 10), pad(fmt(r.ramp?.elapsed_s, 1), 7),
    pad(fmt((s.table_bytes ?? NaN) / 1000, 1), 9), pad(fmt(ack.p50, 1), 7), pad(fmt(ack.p99, 1), 7), pad(fmt(ack.max, 1), 7),
    pad(fmt(s.worst_change_p99_ms, 1), 9), pad(fmt(s.max_bytes_per_sidecar), 9), pad(fmt(r.kb_per_sidecar, 1), 15),
    pad(fmt(s.controller_us_per_push), 12), pad(fmt(s.swarm_us_per_push), 13),
    pad(s.nacks ?? 'n/a', 6), pad(`${s.changes_complete ?? 0}/${config.changes}`, 9)].join(' '));
}
// Targets from issue 7; "KB" is 1000 bytes.
const targets = [];
const check = (name, value, limit, unit, applies) => {
  if (!applies) return;
  const met = value !== null && value !== undefined && !Number.isNaN(value) && value <= limit;
  targets.push({ target: name, value, limit, unit, met });
};
for (const r of runs) {
  const s = r.summary || {};
  const p99 = s.ack_ms?.p99;
  // 500 ms up to 1,000 sidecars, 1 s up to 10,000; the goal is 200 ms at 10,000.
  check(`p99 push latency <= 500 ms at ${r.n} sidecars`, p99, 500, 'ms', r.n <= 1000);
  check(`p99 push latency <= 1 s at ${r.n} sidecars`, p99, 1000, 'ms', r.n > 1000);
  check(`goal: p99 push latency <= 200 ms at ${r.n} sidecars`, p99, 200, 'ms', r.n >= 10000);
  check(`controller memory <= 100 KB per sidecar (${r.n})`, r.kb_per_sidecar, 100, 'KB', true);
  check(`<= 1 KB per sidecar for a one-pod change (${r.n})`, s.max_bytes_per_sidecar, 1000, 'B', config.changes > 0);
}
console.log('');
console.log('Targets:');
for (const t of targets) {
  console.log(`  ${t.target.padEnd(52)} ${pad(fmt(t.value, 1), 9)} ${t.unit.padEnd(2)}  ${t.met ? 'met' : 'NOT MET'}`);
}
let incomplete = 0;
for (const r of runs) {
  const s = r.summary;
  if (!s || !s.ok || r.exit_status !== 0) {
    incomplete++;
    console.error(`WARNING: the run at ${r.n} sidecars is incomplete or had errors` +
      (s ? `: ${s.changes_complete}/${s.changes} changes complete, ${s.nacks} NACKs, ${s.subscribed}/${s.streams} subscribed, ` +
        `${s.streams - s.live_at_end} streams lost${s.first_error ? `; first error: ${s.first_error}` : ''}` : ' (no summary)'));
  }
}
fs.writeFileSync(results, `${JSON.stringify({ date: new Date().toISOString(), config, runs, targets }, null, 2)}\n`);
console.log('');
console.log(`results: ${results}`);
process.exit(incomplete ? 1 : 0);
EOF
