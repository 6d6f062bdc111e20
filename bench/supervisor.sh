#!/usr/bin/env bash
# Benchmarks drover-sidecar's supervisor mode as users meet it, in one run, every contender with
# the same number of Node.js workers on 127.0.0.1 (bench/README.md, "Supervisor mode"):
#
#   1. mixed: bench/mixed-app.js (95% of requests burn 0.2 ms of CPU, 5% burn 10 ms) under
#      drover-sidecar (without and with --worker-max-inflight=2), Node's cluster module and PM2;
#      wrk keep-alive at 4 and at 32 connections: requests/s, p50, p99.
#   2. hello: examples/hello/server.js under drover-sidecar, and HAProxy in front of the same
#      supervised workers: requests/s and the proxy's CPU per request; drover with
#      --access-log=json too, for the access log's cost.
#   A "drover (unix sockets)" contender (--worker-transport=unix) joins both parts when
#   drover-sidecar --help mentions --worker-transport.
#
#   bench/supervisor.sh [--quick] [--workers N] [--duration S] [--rounds R]
#                       [--connections 4,32] [--parts mixed,hello]
#
# On 2 or more CPUs, wrk runs on CPU 0 and every contender (proxy and workers) on the others
# (taskset), alike for all, so that no contender shares a core with wrk. Needs wrk, node,
# curl, haproxy, taskset, and PM2 from bench/node_modules (npm ci in bench/). Prints tables and writes
# bench/results/supervisor.json. Everything it starts it stops, also on Ctrl-C.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$here/bench"
drover_bin="${DROVER_SIDECAR:-$here/build/release/sidecar/drover-sidecar}" # env: another build
hello_app="$here/examples/hello/server.js"
mixed_app="$bench/mixed-app.js"
pm2_bin="$bench/node_modules/.bin/pm2"

usage() {
  cat <<'EOF'
usage: bench/supervisor.sh [options]
  --quick               smoke run: 1 round of 2 s, 1 s warm-up
  --workers N           workers under every supervisor (default 2)
  --duration S          seconds per measured wrk run (default 10)
  --rounds R            measured rounds, contenders interleaved, medians reported (default 3)
  --connections LIST    wrk keep-alive connection counts for the mixed app (default 4,32)
  --hello-connections C wrk keep-alive connections for hello-world (default 64)
  --parts LIST          comma-separated subset of mixed,hello (default both)
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
connections_csv="4,32"
hello_connections=64
parts_csv="mixed,hello"

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
    --connections) connections_csv="$value" ;;
    --hello-connections) hello_connections="$value" ;;
    --parts) parts_csv="$value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done
if [ "$quick" = 1 ]; then
  : "${duration:=2}" "${rounds:=1}"
  warmup=1
else
  : "${duration:=10}" "${rounds:=3}"
  warmup=2
fi
for v in workers duration rounds hello_connections; do
  [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || die "--${v//_/-} must be a whole number >= 1, got '${!v}'"
done
IFS=',' read -r -a connection_counts <<<"$connections_csv"
for c in "${connection_counts[@]}"; do [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] || die "bad --connections '$connections_csv'"; done
IFS=',' read -r -a parts <<<"$parts_csv"
for p in "${parts[@]}"; do case "$p" in mixed | hello) ;; *) die "unknown part '$p' in --parts" ;; esac; done
has_part() {
  local p
  for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done
  return 1
}

# ---------------------------------------------------------------- tools
for tool in wrk node curl taskset; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/setup.sh)"
done
haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
[ -x "$haproxy_bin" ] || die "haproxy not found (run scripts/setup.sh)"
[ -x "$pm2_bin" ] || die "PM2 not installed: run 'npm ci' in bench/"
if [ ! -x "$drover_bin" ]; then
  log "building drover-sidecar (release)"
  (cd "$here" && cmake --preset release >/dev/null && cmake --build build/release --target drover-sidecar) ||
    die "could not build $drover_bin"
fi
unix_transport=0
if "$drover_bin" --help 2>&1 | grep -q -- '--worker-transport\|worker_transport'; then unix_transport=1; fi

# Pinning: wrk on CPU 0, the contenders on the rest; one CPU: unpinned, and said so.
cpus="$(nproc)"
if [ "$cpus" -ge 2 ]; then
  load_cpus=0
  rest_cpus="1-$((cpus - 1))"
  pin_load=(taskset -c "$load_cpus")
  pin_rest=(taskset -c "$rest_cpus")
  pinning="wrk on CPU $load_cpus, contenders on CPU $rest_cpus"
else
  pin_load=()
  pin_rest=()
  pinning="unpinned (1 CPU)"
fi

# ---------------------------------------------------------------- process bookkeeping
workdir="$(mktemp -d "${TMPDIR:-/tmp}/drover-bench-sup.XXXXXX")"
started_pids=()
pm2_home="$workdir/pm2"
pm2_started=0
keep_workdir=0
pm2() { PM2_HOME="$pm2_home" "${pin_rest[@]}" "$pm2_bin" "$@"; }

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
stop_pm2() {
  [ "$pm2_started" = 1 ] || return 0
  pm2 kill >/dev/null 2>&1 || true
  local pid
  pid="$(cat "$pm2_home/pm2.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  pm2_started=0
}
stop_all() {
  local i
  stop_pm2
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    [ -n "${started_pids[i]}" ] && stop_pid "${started_pids[i]}"
  done
  started_pids=()
  # Workers left by a supervisor that died carry this run's marker.
  for pid in $(grep -l "BENCH_RUN=$workdir" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    [ "$pid" != "$$" ] && kill -KILL "$pid" 2>/dev/null || true
  done
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_all
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
export BENCH_RUN="$workdir"

start_bg() {
  local name="$1"
  shift
  "${pin_rest[@]}" "$@" >"$workdir/$name.log" 2>&1 &
  started_pid=$!
  started_pids+=("$started_pid")
}

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

# A base port B with B..B+N-1 free, below the ephemeral range.
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

# wait_http NAME PORT [PATH]: until GET answers 200, at most ~20 s.
wait_http() {
  local name="$1" port="$2" path="${3:-/}" i code=""
  for ((i = 0; i < 200; i++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port$path" || true)"
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  tail -n 20 "$workdir/$name.log" >&2 || true
  die "$name did not answer 200 on 127.0.0.1:$port within 20 s (last status '$code')"
}

cat >"$workdir/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK-RESULT %d %d %.1f %.1f %d %d %d %d %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
EOF

clk_tck="$(getconf CLK_TCK)"
# CPU ticks (user + system) used so far by one process (not its children).
cpu_ticks() {
  local stat rest f
  [ -n "$1" ] || { echo 0; return; }
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
  rest="${stat##*) }"
  read -r -a f <<<"$rest"
  echo $((f[11] + f[12]))
}

# run_wrk NAME PORT CONNECTIONS SECONDS PROXY_PID: prints "rps p50_ms p99_ms errors non2xx us_cpu_per_req"
# (the last: the proxy process's CPU per request, when PROXY_PID is given; else 0).
run_wrk() {
  local name="$1" port="$2" conns="$3" secs="$4" proxy_pid="${5:-}" out cpu0 cpu1
  out="$workdir/wrk-$name-c$conns-$RANDOM.txt"
  cpu0="$(cpu_ticks "$proxy_pid")"
  "${pin_load[@]}" wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$workdir/report.lua" \
    "http://127.0.0.1:$port/" >"$out" 2>&1 || { cat "$out" >&2; die "wrk against $name failed"; }
  cpu1="$(cpu_ticks "$proxy_pid")"
  awk -v cpu="$((cpu1 - cpu0))" -v hz="$clk_tck" '$1 == "WRK-RESULT" {
        printf "%.0f %.3f %.3f %d %d %.1f\n", $2 / ($3 / 1e6), $4 / 1000, $5 / 1000, $6 + $7 + $8 + $9, $10,
               ($2 > 0 ? 1e6 * (cpu / hz) / $2 : 0); found = 1 }
      END { exit !found }' "$out" || die "no result from wrk against $name (see $out)"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v fmt="$1\n" '{ v[NR] = $1 } END {
  if (NR == 0) print "nan"; else printf fmt, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'; }

# ---------------------------------------------------------------- contenders
declare -A port=() proxy_pid=() label=()
read -r -a ports <<<"$(free_ports 16)" # one per contender started in a run

# start_drover NAME APP EXTRA_FLAGS...: drover-sidecar supervising WORKERS copies of APP.
start_drover() {
  local name="$1" app="$2" base
  shift 2
  base="$(free_port_block $((2 * workers)))"
  port[$name]="${ports[0]}"
  ports=("${ports[@]:1}")
  start_bg "$name" "$drover_bin" --listen="127.0.0.1:${port[$name]}" --admin= --threads=1 \
    --workers="$workers" --worker-port-base="$base" --pin=false --sticky=none --drain-delay=0s \
    "$@" -- node "$app"
  proxy_pid[$name]="$started_pid"
  worker_base[$name]="$base"
  wait_http "$name" "${port[$name]}"
}
declare -A worker_base=()

start_cluster() {
  local name="$1" app="$2"
  port[$name]="${ports[0]}"
  ports=("${ports[@]:1}")
  start_bg "$name" env WORKERS="$workers" PORT="${port[$name]}" node "$bench/cluster-app.js" "$app"
  proxy_pid[$name]=""
  wait_http "$name" "${port[$name]}"
}

start_pm2() {
  local name="$1" app="$2"
  port[$name]="${ports[0]}"
  ports=("${ports[@]:1}")
  pm2_started=1
  PORT="${port[$name]}" pm2 start "$app" -i "$workers" --name "bench-$name" >"$workdir/$name.log" 2>&1 || {
    cat "$workdir/$name.log" >&2
    die "pm2 start failed"
  }
  proxy_pid[$name]=""
  wait_http "$name" "${port[$name]}"
}

# HAProxy in front of drover-supervised workers (the ones of contender $2).
start_haproxy() {
  local name="$1" of="$2" servers="" i
  port[$name]="${ports[0]}"
  ports=("${ports[@]:1}")
  for ((i = 0; i < workers; i++)); do
    servers+="    server w$i 127.0.0.1:$((worker_base[$of] + i))"$'\n'
  done
  local text
  text="$(<"$bench/haproxy.cfg.in")"
  text="${text//@THREADS@/1}"
  text="${text//@MAXCONN@/10000}"
  text="${text//@PORT@/${port[$name]}}"
  text="${text//@SERVERS@/${servers%$'\n'}}"
  printf '%s\n' "$text" >"$workdir/haproxy.cfg"
  start_bg "$name" "$haproxy_bin" -db -f "$workdir/haproxy.cfg"
  proxy_pid[$name]="$started_pid"
  wait_http "$name" "${port[$name]}"
}

# measure PART CONNECTIONS CONTENDERS...: warm-up, then rounds interleaved; fills the result maps.
declare -A rps=() p50=() p99=() cpu_us=() errors=()
measure() {
  local part="$1" conns="$2" c r result key
  shift 2
  for c in "$@"; do run_wrk "$c" "${port[$c]}" "$conns" "$warmup" >/dev/null; done
  local -A rps_r=() p50_r=() p99_r=() cpu_r=()
  for ((r = 1; r <= rounds; r++)); do
    for c in "$@"; do
      result="$(run_wrk "$c" "${port[$c]}" "$conns" "$duration" "${proxy_pid[$c]}")" || exit 1
      read -r a b d e f g <<<"$result"
      rps_r[$c]+="$a "
      p50_r[$c]+="$b "
      p99_r[$c]+="$d "
      cpu_r[$c]+="$g "
      key="$part/$conns/$c"
      errors[$key]=$((${errors[$key]:-0} + e + f))
      log "$part c=$conns round $r/$rounds $(printf '%-16s %8s req/s  p50 %7s ms  p99 %7s ms' "$c" "$a" "$b" "$d")"
    done
  done
  for c in "$@"; do
    key="$part/$conns/$c"
    rps[$key]="$(median %.0f <<<"${rps_r[$c]}")"
    p50[$key]="$(median %.3f <<<"${p50_r[$c]}")"
    p99[$key]="$(median %.3f <<<"${p99_r[$c]}")"
    cpu_us[$key]="$(median %.1f <<<"${cpu_r[$c]}")"
    if [ "${errors[$key]}" -gt 0 ]; then
      log "WARNING: $c had ${errors[$key]} errors ($part, c=$conns)"
      keep_workdir=1
    fi
  done
}

label[drover]="drover-sidecar"
label[drover-queue]="drover --worker-max-inflight=2"
label[drover-unix]="drover, unix, inflight=1"
label[cluster]="node cluster (SCHED_RR)"
label[pm2]="pm2 -i $workers"
label[hello-drover]="drover-sidecar"
label[hello-drover-json]="drover --access-log=json"
label[hello-drover-unix]="drover, unix sockets"
label[haproxy]="haproxy -> drover's workers"

echo "Supervisor benchmark: $workers workers each; $cpus CPUs, $pinning; ${duration}s x $rounds round(s), median; wrk -t1 keep-alive"

# ---------------------------------------------------------------- part 1: mixed-cost app
mixed_contenders=(drover drover-queue cluster pm2)
if has_part mixed; then
  start_drover drover "$mixed_app"
  start_drover drover-queue "$mixed_app" --worker-max-inflight=2
  if [ "$unix_transport" = 1 ]; then
    start_drover drover-unix "$mixed_app" --worker-max-inflight=1 --worker-transport=unix
    mixed_contenders=(drover drover-queue drover-unix cluster pm2)
  fi
  start_cluster cluster "$mixed_app"
  start_pm2 pm2 "$mixed_app"
  for conns in "${connection_counts[@]}"; do measure mixed "$conns" "${mixed_contenders[@]}"; done
  stop_all
  echo
  echo "1. mixed-cost app (bench/mixed-app.js: 95% 0.2 ms, 5% 10 ms of CPU per request)"
  printf '%-34s %6s %9s %8s %8s %12s %12s\n' contender conns "req/s" "p50 ms" "p99 ms" "req/s x clu" "p99 x clu"
  for conns in "${connection_counts[@]}"; do
    for c in "${mixed_contenders[@]}"; do
      k="mixed/$conns/$c"
      printf '%-34s %6s %9s %8s %8s %12s %12s\n' "${label[$c]}" "$conns" "${rps[$k]}" "${p50[$k]}" "${p99[$k]}" \
        "$(ratio "${rps[$k]}" "${rps[mixed/$conns/cluster]}")" "$(ratio "${p99[$k]}" "${p99[mixed/$conns/cluster]}")"
    done
  done
  echo "(targets: req/s x clu >= 0.95 and p99 x clu <= 1.0 at every connection count; the goal: p99 well below cluster's with the queue on)"
fi

# ---------------------------------------------------------------- part 2: hello-world, proxy cost
hello_contenders=(hello-drover hello-drover-json haproxy)
if has_part hello; then
  start_drover hello-drover "$hello_app"
  start_drover hello-drover-json "$hello_app" --access-log=json
  start_haproxy haproxy hello-drover
  if [ "$unix_transport" = 1 ]; then
    start_drover hello-drover-unix "$hello_app" --worker-transport=unix
    hello_contenders=(hello-drover hello-drover-json hello-drover-unix haproxy)
  fi
  measure hello "$hello_connections" "${hello_contenders[@]}"
  stop_all
  echo
  echo "2. hello-world (examples/hello/server.js); HAProxy (nbthread 1, leastconn) in front of hello-drover's own workers; wrk -c$hello_connections"
  printf '%-34s %9s %8s %8s %14s %12s %14s\n' contender "req/s" "p50 ms" "p99 ms" "proxy us/req" "req/s x hap" "us/req x hap"
  for c in "${hello_contenders[@]}"; do
    k="hello/$hello_connections/$c"
    printf '%-34s %9s %8s %8s %14s %12s %14s\n' "${label[$c]}" "${rps[$k]}" "${p50[$k]}" "${p99[$k]}" "${cpu_us[$k]}" \
      "$(ratio "${rps[$k]}" "${rps[hello/$hello_connections/haproxy]}")" \
      "$(ratio "${cpu_us[$k]}" "${cpu_us[hello/$hello_connections/haproxy]}")"
  done
  k="hello/$hello_connections"
  echo "access log cost: --access-log=json / off: req/s x$(ratio "${rps[$k/hello-drover-json]}" "${rps[$k/hello-drover]}"), proxy CPU per request x$(ratio "${cpu_us[$k/hello-drover-json]}" "${cpu_us[$k/hello-drover]}")"
  echo "(target: drover req/s x hap >= 1.0; proxy us/req: the proxy process's own CPU time per request, workers excluded)"
fi

# ---------------------------------------------------------------- JSON
json_num() { case "$1" in "" | nan | n/a) echo null ;; *) echo "$1" ;; esac; }
mkdir -p "$bench/results"
json="$bench/results/supervisor.json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"quick\": $([ "$quick" = 1 ] && echo true || echo false),"
  echo "  \"config\": {\"workers\": $workers, \"duration_s\": $duration, \"rounds\": $rounds, \"cpus\": $cpus,"
  echo "             \"pinning\": \"$pinning\", \"unix_transport\": $([ "$unix_transport" = 1 ] && echo true || echo false),"
  echo "             \"drover\": \"$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"node\": \"$(node --version)\","
  echo "             \"loadavg_at_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"},"
  echo "  \"results\": ["
  n=0
  for k in $(printf '%s\n' "${!rps[@]}" | sort); do
    IFS=/ read -r part conns c <<<"$k"
    [ "$n" -gt 0 ] && echo ","
    n=$((n + 1))
    printf '    {"part": "%s", "connections": %s, "contender": "%s", "rps": %s, "p50_ms": %s, "p99_ms": %s, "proxy_us_per_req": %s, "errors": %s}' \
      "$part" "$conns" "$c" "$(json_num "${rps[$k]}")" "$(json_num "${p50[$k]}")" "$(json_num "${p99[$k]}")" \
      "$(json_num "${cpu_us[$k]}")" "${errors[$k]:-0}"
  done
  echo
  echo "  ]"
  echo "}"
} >"$json"
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$json" || die "wrote invalid JSON to $json"
echo
echo "results: $json"
