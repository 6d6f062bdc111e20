#!/usr/bin/env bash
# Benchmarks drover-sidecar against HAProxy and nginx as HTTP/1.1 reverse proxies, all on
# 127.0.0.1 in front of the same backends, at equal thread counts: throughput and latency
# under wrk, then memory per idle keep-alive client connection. See bench/README.md.
#
#   bench/run.sh [--quick] [--threads N] [--duration SECONDS] [--rounds R]
#                [--connections C] [--idle-conns N] [--proxies drover,haproxy,nginx]
#   env: DROVER_SIDECAR=path (another drover build), DROVER_FLAGS="--sticky=cookie ..."
#
# Results are printed as tables and written to bench/results/latest.json.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$here/bench"
drover_bin="${DROVER_SIDECAR:-$here/build/release/sidecar/drover-sidecar}" # env: another build to try
# env: more drover flags, after the script's own (the last of a repeated flag wins).
read -r -a drover_extra_flags <<<"${DROVER_FLAGS:-}"

usage() {
  cat <<'EOF'
usage: bench/run.sh [options]
  --quick             smoke run: 1 round, 3 s runs, 2000 idle connections
  --threads N         proxy threads/processes for every proxy (default 1)
  --duration S        seconds per measured wrk run (default 10)
  --rounds R          measured rounds, proxies interleaved, medians reported (default 3)
  --connections C     wrk keep-alive connections (default 64)
  --idle-conns N      idle keep-alive connections for the memory test (default 10000; 0 skips)
  --backends B        backend processes (default 2)
  --proxies LIST      comma-separated subset of drover,haproxy,nginx (default all three)
  -h, --help          this text
environment:
  DROVER_SIDECAR=PATH another drover-sidecar binary (default build/release/sidecar/drover-sidecar)
  DROVER_FLAGS="..."  more drover flags, e.g. DROVER_FLAGS=--sticky=cookie
EOF
}

die() {
  echo "bench: error: $*" >&2
  exit 1
}
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- options
quick=0
threads=1
duration=""
rounds=""
connections=64
idle_conns=""
n_backends=2
proxies_csv="drover,haproxy,nginx"
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
    --threads) threads="$value" ;;
    --duration) duration="${value%s}" ;;
    --rounds) rounds="$value" ;;
    --connections) connections="$value" ;;
    --idle-conns) idle_conns="$value" ;;
    --backends) n_backends="$value" ;;
    --proxies) proxies_csv="$value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done

if [ "$quick" = 1 ]; then
  : "${duration:=3}" "${rounds:=1}" "${idle_conns:=2000}"
  warmup=1
else
  : "${duration:=10}" "${rounds:=3}" "${idle_conns:=10000}"
  warmup=3
fi
for v in threads duration rounds connections idle_conns n_backends; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v//_/-} must be a whole number, got '${!v}'"
done
if [ "$threads" -lt 1 ] || [ "$duration" -lt 1 ] || [ "$rounds" -lt 1 ] || [ "$n_backends" -lt 1 ]; then
  die "--threads, --duration, --rounds and --backends must be at least 1"
fi
[ "$connections" -ge "$wrk_threads" ] || die "--connections must be at least $wrk_threads"

IFS=',' read -r -a proxies <<<"$proxies_csv"
for p in "${proxies[@]}"; do
  case "$p" in drover | haproxy | nginx) ;; *) die "unknown proxy '$p' in --proxies" ;; esac
done
has_proxy() {
  local p
  for p in "${proxies[@]}"; do [ "$p" = "$1" ] && return 0; done
  return 1
}

# ---------------------------------------------------------------- tools
for tool in wrk haproxy nginx node curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    # nginx and haproxy live in /usr/sbin, which a non-root PATH may lack.
    if [ -x "/usr/sbin/$tool" ]; then PATH="$PATH:/usr/sbin"; else die "$tool not found (run scripts/setup.sh)"; fi
  fi
done
if has_proxy drover && [ ! -x "$drover_bin" ]; then
  log "building drover-sidecar (release)"
  (cd "$here" && cmake --preset release >/dev/null && cmake --build --preset release) ||
    die "could not build $drover_bin"
  [ -x "$drover_bin" ] || die "build finished but $drover_bin is missing"
fi

# Every connection is a file descriptor: in the idle test, the client holds idle_conns of them
# and each proxy holds as many plus its upstream connections. Raise the limit as far as allowed.
hard_nofile="$(ulimit -Hn)"
if [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt 65536 ]; then
  ulimit -Hn 65536 2>/dev/null || true # works only with CAP_SYS_RESOURCE
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -Sn)"
if [ "$nofile" = unlimited ]; then nofile=1048576; fi
if [ "$idle_conns" -gt $((nofile - 1000)) ]; then
  log "warning: open-file limit is $nofile; testing $((nofile - 1000)) idle connections instead of $idle_conns"
  idle_conns=$((nofile - 1000))
  [ "$idle_conns" -ge 0 ] || idle_conns=0
fi
# Limit on client connections given to every proxy: room for the idle test and wrk.
maxconn=$((idle_conns + connections + 1024))

# ---------------------------------------------------------------- process bookkeeping
workdir="$(mktemp -d "${TMPDIR:-/tmp}/drover-bench.XXXXXX")"
started_pids=()
keep_workdir=0

stop_pid() {
  local pid="$1" i
  # SIGINT: a fast, clean stop for all of them (drover drains for --drain-delay on SIGTERM).
  kill -INT "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$? i
  trap - EXIT INT TERM
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    [ -n "${started_pids[i]}" ] && stop_pid "${started_pids[i]}"
  done
  # Keep the logs after a failure (not after Ctrl-C) or a run with warnings.
  if { [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ "$status" -ne 143 ]; } || [ "$keep_workdir" = 1 ]; then
    echo "bench: logs and configs kept in $workdir" >&2
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

# Prints N distinct free TCP ports on 127.0.0.1 (held open together, so they differ).
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

# Fills a template: render TEMPLATE OUT KEY=VALUE... replaces each @KEY@ with VALUE.
render() {
  local template="$1" out="$2" text pair
  shift 2
  text="$(<"$template")"
  for pair in "$@"; do text="${text//"@${pair%%=*}@"/"${pair#*=}"}"; done
  printf '%s\n' "$text" >"$out"
}

# Waits until http://127.0.0.1:PORT/ answers 200 through process PID; at most ~10 s.
wait_http() {
  local name="$1" pid="$2" port="$3" i code
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || {
      cat "$workdir/$name.log" >&2 || true
      die "$name exited at start (log above)"
    }
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/" || true)"
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  die "$name did not answer 200 on 127.0.0.1:$port within 10 s (last status '$code'; log: $workdir/$name.log)"
}

# ---------------------------------------------------------------- start everything
read -r -a ports <<<"$(free_ports $((n_backends + 4)))"
declare -A proxy_port=([drover]="${ports[n_backends]}" [haproxy]="${ports[n_backends + 1]}"
  [nginx]="${ports[n_backends + 2]}")
drover_admin_port="${ports[n_backends + 3]}"
declare -A proxy_pid=()

backend_csv=""
haproxy_servers=""
nginx_servers=""
for ((i = 0; i < n_backends; i++)); do
  port="${ports[i]}"
  name="backend$((i + 1))"
  render "$bench/backend/nginx.conf.in" "$workdir/$name.conf" \
    NAME="$name" PORT="$port" DIR="$workdir" NOFILE="$nofile"
  start_bg "$name" nginx -p "$workdir" -e "$workdir/$name-error.log" -c "$workdir/$name.conf"
  wait_http "$name" "$started_pid" "$port"
  backend_csv+="${backend_csv:+,}127.0.0.1:$port"
  haproxy_servers+="    server $name 127.0.0.1:$port"$'\n'
  nginx_servers+="        server 127.0.0.1:$port;"$'\n'
done
log "backends: $backend_csv (nginx, one worker each)"

start_proxy() {
  local p="$1" port="${proxy_port[$1]}"
  case "$p" in
    drover)
      start_bg drover "$drover_bin" --listen="127.0.0.1:$port" --backends="$backend_csv" \
        --threads="$threads" --balance=leastconn --sticky=none --admin="127.0.0.1:$drover_admin_port" \
        --max-connections="$maxconn" --idle-timeout=60s "${drover_extra_flags[@]}"
      ;;
    haproxy)
      render "$bench/haproxy.cfg.in" "$workdir/haproxy.cfg" THREADS="$threads" \
        MAXCONN="$maxconn" NOFILE="$nofile" PORT="$port" SERVERS="${haproxy_servers%$'\n'}"
      start_bg haproxy haproxy -db -f "$workdir/haproxy.cfg"
      ;;
    nginx)
      render "$bench/nginx.conf.in" "$workdir/nginx.conf" THREADS="$threads" \
        MAXCONN="$maxconn" NOFILE="$nofile" PORT="$port" DIR="$workdir" \
        SERVERS="${nginx_servers%$'\n'}"
      start_bg nginx nginx -p "$workdir" -e "$workdir/nginx-proxy-error.log" -c "$workdir/nginx.conf"
      ;;
  esac
  proxy_pid[$p]="$started_pid"
  wait_http "$p" "$started_pid" "$port"
  log "$p on 127.0.0.1:$port (pid $started_pid)"
}
for p in "${proxies[@]}"; do start_proxy "$p"; done

# The process and its children (nginx workers; HAProxy and drover are one process each).
proxy_pids() {
  local pid="${proxy_pid[$1]}"
  echo "$pid"
  pgrep -P "$pid" 2>/dev/null || true
}

# Memory of a proxy in KiB: the sum of Pss over its processes (VmRSS where smaps_rollup is
# missing). Pss splits pages shared between nginx's master and workers instead of counting them
# once per process.
proxy_mem_kib() {
  local total=0 pid kib
  for pid in $(proxy_pids "$1"); do
    if [ -r "/proc/$pid/smaps_rollup" ]; then
      kib="$(awk '/^Pss:/ {print $2; exit}' "/proc/$pid/smaps_rollup")"
    else
      kib="$(awk '/^VmRSS:/ {print $2; exit}' "/proc/$pid/status")"
    fi
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

check_alive() {
  kill -0 "${proxy_pid[$1]}" 2>/dev/null || {
    tail -n 20 "$workdir/$1.log" >&2 || true
    die "$1 (pid ${proxy_pid[$1]}) died (last log lines above)"
  }
}

# ---------------------------------------------------------------- throughput and latency
# wrk prints one machine-readable line at the end: requests, duration (us), p50, p99 (us),
# and the error counters.
cat >"$workdir/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK-RESULT %d %d %.1f %.1f %d %d %d %d %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
EOF

# CPU time used so far by a proxy's processes, in clock ticks (utime + stime).
clk_tck="$(getconf CLK_TCK)"
proxy_cpu_ticks() {
  local total=0 pid stat rest f
  for pid in $(proxy_pids "$1"); do
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    rest="${stat##*) }" # fields after the command name, which may contain spaces
    read -r -a f <<<"$rest"
    total=$((total + f[11] + f[12])) # fields 14 and 15 of the whole line
  done
  echo "$total"
}

# run_wrk PROXY SECONDS LABEL: prints "rps p50_ms p99_ms socket_errors http_errors cpu_percent
# req_per_cpu_s", cpu_percent being the proxy's CPU use over the run (100 = one core busy all the
# time) and req_per_cpu_s the requests it served per second of its own CPU time.
run_wrk() {
  local p="$1" secs="$2" label="$3" out cpu0 cpu1 t0 t1
  out="$workdir/wrk-$p-$label.txt"
  cpu0="$(proxy_cpu_ticks "$p")"
  t0="$(date +%s%N)"
  wrk -t"$wrk_threads" -c"$connections" -d"${secs}s" --latency -s "$workdir/report.lua" \
    "http://127.0.0.1:${proxy_port[$p]}/" >"$out" 2>&1 || {
    cat "$out" >&2
    die "wrk against $p failed"
  }
  t1="$(date +%s%N)"
  cpu1="$(proxy_cpu_ticks "$p")"
  check_alive "$p"
  awk -v cpu="$((cpu1 - cpu0))" -v hz="$clk_tck" -v ns="$((t1 - t0))" '$1 == "WRK-RESULT" {
         printf "%.0f %.3f %.3f %d %d %.0f %.0f\n", $2 / ($3 / 1e6), $4 / 1000, $5 / 1000,
                $6 + $7 + $8 + $9, $10, 100 * (cpu / hz) / (ns / 1e9), (cpu > 0 ? $2 / (cpu / hz) : 0)
         found = 1 }
       END { exit !found }' "$out" || die "no result from wrk against $p (see $out)"
}

# median FORMAT: the median of the whitespace-separated numbers on stdin, printf-formatted.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk -v fmt="$1\n" '{ v[NR] = $1 } END {
  if (NR == 0) print "nan"; else printf fmt, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# ratio A B: A/B with 2 decimals, "n/a" if either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0 || a == "nan" || b == "nan") print "n/a"; else printf "%.2f\n", a / b }'; }

log "warm-up: ${warmup}s per proxy, then $rounds round(s) of ${duration}s, wrk -t$wrk_threads -c$connections, proxies at $threads thread(s)"
for p in "${proxies[@]}"; do run_wrk "$p" "$warmup" warmup >/dev/null; done

declare -A rps_all=() p50_all=() p99_all=() cpu_all=() eff_all=() sockerr=() non2xx=()
for p in "${proxies[@]}"; do sockerr[$p]=0; non2xx[$p]=0; done
for ((r = 1; r <= rounds; r++)); do
  for p in "${proxies[@]}"; do
    result="$(run_wrk "$p" "$duration" "round$r")" # a failure here ends the script (set -e)
    read -r rps p50 p99 serr bad cpu eff <<<"$result"
    [[ "$rps" =~ ^[0-9]+$ && "$eff" =~ ^[0-9]+$ ]] || die "unreadable wrk result for $p: '$result'"
    rps_all[$p]+="$rps "
    cpu_all[$p]+="$cpu "
    eff_all[$p]+="$eff "
    p50_all[$p]+="$p50 "
    p99_all[$p]+="$p99 "
    sockerr[$p]=$((sockerr[$p] + serr))
    non2xx[$p]=$((non2xx[$p] + bad))
    log "round $r/$rounds $(printf '%-8s %9s req/s  p50 %7s ms  p99 %7s ms  cpu %4s%%' "$p" "$rps" "$p50" "$p99" "$cpu")"
  done
done

declare -A rps_med=() p50_med=() p99_med=() cpu_med=() eff_med=()
for p in "${proxies[@]}"; do
  rps_med[$p]="$(median %.0f <<<"${rps_all[$p]}")"
  p50_med[$p]="$(median %.3f <<<"${p50_all[$p]}")"
  p99_med[$p]="$(median %.3f <<<"${p99_all[$p]}")"
  cpu_med[$p]="$(median %.0f <<<"${cpu_all[$p]}")"
  eff_med[$p]="$(median %.0f <<<"${eff_all[$p]}")"
done

# ---------------------------------------------------------------- memory per idle connection
declare -A mem_before=() mem_after=() mem_conns=() mem_per_conn=() mem_failed=() mem_peer_closed=()
idle_test() {
  local p="$1" out ipid i line ok failed
  mem_before[$p]="$(proxy_mem_kib "$p")"
  start_bg "idle-$p" node "$bench/idle_conns.js" --port="${proxy_port[$p]}" \
    --count="$idle_conns" --concurrency=100 --timeout-ms=120000
  ipid="$started_pid"
  out="$workdir/idle-$p.log"
  for ((i = 0; i < 1300; i++)); do # at most ~130 s; idle_conns.js gives up at 120 s
    grep -q '^ready ' "$out" 2>/dev/null && break
    kill -0 "$ipid" 2>/dev/null || { cat "$out" >&2; die "idle_conns.js against $p exited early"; }
    sleep 0.1
  done
  line="$(grep '^ready ' "$out")" || die "idle connections to $p never became ready"
  read -r _ ok failed <<<"$line"
  sleep 1 # let the proxy settle (buffers released after the first request, timers armed)
  check_alive "$p"
  mem_after[$p]="$(proxy_mem_kib "$p")"
  stop_pid "$ipid"
  for i in "${!started_pids[@]}"; do # forget it: its pid may be reused
    [ "${started_pids[i]}" != "$ipid" ] || started_pids[i]=""
  done
  mem_conns[$p]="$ok"
  mem_failed[$p]="$failed"
  line="$(grep '^done ' "$out" || true)"
  mem_peer_closed[$p]="$(awk '{print $4}' <<<"$line")"
  mem_per_conn[$p]="$(awk -v a="${mem_before[$p]}" -v b="${mem_after[$p]}" -v n="$ok" \
    'BEGIN { if (n > 0) printf "%.2f\n", (b - a) / n; else print "nan" }')"
  log "idle $p: $ok connections ($failed failed, ${mem_peer_closed[$p]:-?} closed by the proxy while idle), ${mem_before[$p]} -> ${mem_after[$p]} KiB"
  # Give the proxy a moment to close its side before the next test.
  sleep 1
}
if [ "$idle_conns" -gt 0 ]; then
  for p in "${proxies[@]}"; do idle_test "$p"; done
fi

# ---------------------------------------------------------------- report
echo
echo "Throughput: wrk -t$wrk_threads -c$connections, ${duration}s x $rounds round(s), median; proxies at $threads thread(s), $n_backends nginx backends, keep-alive on both sides"
printf '%-9s %9s %8s %8s %9s %10s %13s %11s\n' proxy "req/s" "p50 ms" "p99 ms" "proxy CPU" "req/CPU-s" \
  "socket errors" "HTTP errors"
for p in "${proxies[@]}"; do
  printf '%-9s %9s %8s %8s %8s%% %10s %13s %11s\n' "$p" "${rps_med[$p]}" "${p50_med[$p]}" "${p99_med[$p]}" \
    "${cpu_med[$p]}" "${eff_med[$p]}" "${sockerr[$p]}" "${non2xx[$p]}"
done
if has_proxy drover; then
  for other in haproxy nginx; do
    has_proxy "$other" || continue
    printf 'drover/%-8s req/s x%s   p99 x%s   req/CPU-s x%s\n' "$other" \
      "$(ratio "${rps_med[drover]}" "${rps_med[$other]}")" "$(ratio "${p99_med[drover]}" "${p99_med[$other]}")" \
      "$(ratio "${eff_med[drover]}" "${eff_med[$other]}")"
  done
fi

if [ "$idle_conns" -gt 0 ]; then
  echo
  echo "Memory per idle keep-alive client connection ($idle_conns connections, each after one request; Pss summed over the proxy's processes)"
  printf '%-9s %8s %12s %12s %10s\n' proxy conns "before KiB" "after KiB" "KiB/conn"
  for p in "${proxies[@]}"; do
    printf '%-9s %8s %12s %12s %10s\n' "$p" "${mem_conns[$p]}" "${mem_before[$p]}" "${mem_after[$p]}" "${mem_per_conn[$p]}"
  done
  if has_proxy drover; then
    for other in haproxy nginx; do
      has_proxy "$other" || continue
      printf 'drover/%-8s KiB/conn x%s\n' "$other" "$(ratio "${mem_per_conn[drover]}" "${mem_per_conn[$other]}")"
    done
  fi
fi

warnings=0
for p in "${proxies[@]}"; do
  if [ "${sockerr[$p]}" -gt 0 ] || [ "${non2xx[$p]}" -gt 0 ]; then
    echo "WARNING: $p had ${sockerr[$p]} socket errors and ${non2xx[$p]} HTTP error responses (status >= 400) under load" >&2
    warnings=1
  fi
  if [ "$idle_conns" -gt 0 ] && { [ "${mem_failed[$p]}" != 0 ] || [ "${mem_peer_closed[$p]:-0}" != 0 ]; }; then
    echo "WARNING: $p: ${mem_failed[$p]} idle connections failed, ${mem_peer_closed[$p]:-?} were closed by the proxy while idle" >&2
    warnings=1
  fi
done
[ "$warnings" = 0 ] || keep_workdir=1

# ---------------------------------------------------------------- JSON
json_list() { local s; s="$(tr -s ' ' <<<"$1" | sed 's/^ //; s/ $//; s/ /, /g')"; echo "[$s]"; }
json_num() { case "$1" in "" | nan | n/a) echo null ;; *) echo "$1" ;; esac; }
# First line of a tool's version output, keeping only characters that need no JSON escaping.
version_of() { "$@" 2>&1 | head -n 1 | tr -cd '[:alnum:] ._/:()+-' || true; }
mkdir -p "$bench/results"
json="$bench/results/latest.json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"quick\": $([ "$quick" = 1 ] && echo true || echo false),"
  echo "  \"config\": {\"proxy_threads\": $threads, \"wrk_threads\": $wrk_threads, \"connections\": $connections,"
  echo "             \"duration_s\": $duration, \"rounds\": $rounds, \"warmup_s\": $warmup, \"backends\": $n_backends,"
  echo "             \"idle_conns\": $idle_conns, \"cpus\": $(nproc), \"loadavg_at_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"},"
  echo "  \"versions\": {\"drover\": \"$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)\","
  echo "               \"haproxy\": \"$(version_of haproxy -v)\", \"nginx\": \"$(version_of nginx -v)\", \"wrk\": \"$(version_of wrk -v)\"},"
  echo "  \"proxies\": {"
  n=0
  for p in "${proxies[@]}"; do
    n=$((n + 1))
    echo "    \"$p\": {"
    echo "      \"rps\": $(json_num "${rps_med[$p]}"), \"p50_ms\": $(json_num "${p50_med[$p]}"), \"p99_ms\": $(json_num "${p99_med[$p]}"), \"cpu_percent\": $(json_num "${cpu_med[$p]}"), \"req_per_cpu_s\": $(json_num "${eff_med[$p]}"),"
    echo "      \"rounds\": {\"rps\": $(json_list "${rps_all[$p]}"), \"p50_ms\": $(json_list "${p50_all[$p]}"), \"p99_ms\": $(json_list "${p99_all[$p]}"), \"cpu_percent\": $(json_list "${cpu_all[$p]}"), \"req_per_cpu_s\": $(json_list "${eff_all[$p]}")},"
    echo "      \"socket_errors\": ${sockerr[$p]}, \"http_errors\": ${non2xx[$p]},"
    echo "      \"idle\": {\"conns\": $(json_num "${mem_conns[$p]:-}"), \"failed\": $(json_num "${mem_failed[$p]:-}"), \"closed_by_proxy\": $(json_num "${mem_peer_closed[$p]:-}"),"
    echo "               \"mem_before_kib\": $(json_num "${mem_before[$p]:-}"), \"mem_after_kib\": $(json_num "${mem_after[$p]:-}"), \"kib_per_conn\": $(json_num "${mem_per_conn[$p]:-}")}"
    if [ "$n" -lt "${#proxies[@]}" ]; then echo "    },"; else echo "    }"; fi
  done
  echo "  },"
  echo "  \"ratios\": {"
  echo "    \"drover_haproxy\": {\"rps\": $(json_num "$(ratio "${rps_med[drover]:-}" "${rps_med[haproxy]:-}")"), \"p99\": $(json_num "$(ratio "${p99_med[drover]:-}" "${p99_med[haproxy]:-}")"), \"req_per_cpu_s\": $(json_num "$(ratio "${eff_med[drover]:-}" "${eff_med[haproxy]:-}")"), \"kib_per_conn\": $(json_num "$(ratio "${mem_per_conn[drover]:-}" "${mem_per_conn[haproxy]:-}")")},"
  echo "    \"drover_nginx\": {\"rps\": $(json_num "$(ratio "${rps_med[drover]:-}" "${rps_med[nginx]:-}")"), \"p99\": $(json_num "$(ratio "${p99_med[drover]:-}" "${p99_med[nginx]:-}")"), \"req_per_cpu_s\": $(json_num "$(ratio "${eff_med[drover]:-}" "${eff_med[nginx]:-}")"), \"kib_per_conn\": $(json_num "$(ratio "${mem_per_conn[drover]:-}" "${mem_per_conn[nginx]:-}")")}"
  echo "  }"
  echo "}"
} >"$json"
echo
echo "results: $json"
