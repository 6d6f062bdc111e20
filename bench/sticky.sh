#!/usr/bin/env bash
# Benchmarks cookie-sticky proxying: drover-sidecar (--sticky=cookie, leastconn) against HAProxy
# 2.6 (`cookie DROVERID insert indirect nocache`, `balance leastconn`), both at one thread, in
# front of the same nginx backends as bench/run.sh, under the same wrk load. Two paths:
#
#   hit  every request carries a valid DROVERID cookie (one obtained from a first request to
#        that proxy for each backend; requests rotate over them): the sticky-hit path
#   new  no cookie: every request is a new session and its response sets one
#
# and two for a session cookie the app issues (SESS, set by the backends' /app location when the
# request has none), with a second pair of proxies: drover-sidecar --sticky=app-cookie:SESS
# against HAProxy `cookie SESS prefix` (each prefixes the app's value with the server's route
# and strips it from requests):
#
#   app-hit  every request carries a prefixed SESS (one per backend, obtained from that proxy)
#   app-new  no cookie: the app sets SESS on every response and the proxy prefixes it
#
# Rounds are interleaved (drover, haproxy, drover, haproxy, ...); the table gives medians and
# the drover/HAProxy ratios. Results also go to bench/results/sticky.json.
#
#   bench/sticky.sh [--quick] [--duration S] [--rounds R] [--connections C] [--backends B]
#
# Backend config (bench/backend/nginx.conf.in), HAProxy config (bench/haproxy.cfg.in, with the
# cookie lines passed in as part of its server list), the wrk report script and the process
# helpers are bench/run.sh's own, read from it at start (see "reused from run.sh" below).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$here/bench"
drover_bin="${DROVER_SIDECAR:-}"
if [ -z "$drover_bin" ]; then
  drover_bin="$here/build/release/sidecar/drover-sidecar"
  [ -x "$drover_bin" ] || drover_bin="$here/build/dev/sidecar/drover-sidecar"
fi

usage() {
  cat <<'EOF'
usage: bench/sticky.sh [options]
  --quick           smoke run: 1 round of 3 s per path and proxy (~30 s in all)
  --duration S      seconds per measured wrk run (default 10)
  --rounds R        measured rounds, proxies interleaved, medians reported (default 3)
  --connections C   wrk keep-alive connections (default 64)
  --backends B      nginx backends (default 2)
  --paths LIST      hit,new,app-hit,app-new (default all)
  -h, --help        this text
EOF
}

# ---------------------------------------------------------------- reused from run.sh
# run.sh is a script, not a library: its helper functions are read out of it by name (from
# "NAME() {" to the first line that is "}" or ends in "; }") and defined here, so that both
# benchmarks start, time and stop their processes the same way.
run_sh="$bench/run.sh"
reuse() {
  local name body
  for name in "$@"; do
    body="$(awk -v name="$name" 'found == 0 && index($0, name "() {") == 1 { found = 1 }
      found == 1 { print; if ($0 ~ /^}$/ || $0 ~ /; }$/) exit }' "$run_sh")"
    if [ -z "$body" ]; then
      echo "bench: error: function $name not found in $run_sh" >&2
      exit 1
    fi
    eval "$body"
    declare -F "$name" >/dev/null || { echo "bench: error: could not define $name from $run_sh" >&2; exit 1; }
  done
}
reuse die log stop_pid cleanup start_bg free_ports render wait_http proxy_pids proxy_cpu_ticks \
  check_alive run_wrk median ratio json_list json_num version_of
# The wrk script's done() that prints the WRK-RESULT line run_wrk parses.
wrk_report="$(sed -n '/^cat >"$workdir\/report.lua" <<.EOF.$/,/^EOF$/p' "$run_sh" | sed '1d;$d')"
[ -n "$wrk_report" ] || die "the wrk report script was not found in $run_sh"

# ---------------------------------------------------------------- options
quick=0
duration=""
rounds=""
connections=64
n_backends=2
paths_csv="hit,new,app-hit,app-new"
threads=1
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
    --duration) duration="${value%s}" ;;
    --rounds) rounds="$value" ;;
    --connections) connections="$value" ;;
    --backends) n_backends="$value" ;;
    --paths) paths_csv="$value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $opt" ;;
  esac
done
if [ "$quick" = 1 ]; then
  : "${duration:=3}" "${rounds:=1}"
  warmup=1
else
  : "${duration:=10}" "${rounds:=3}"
  warmup=3
fi
for v in duration rounds connections n_backends; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v//_/-} must be a whole number, got '${!v}'"
done
if [ "$duration" -lt 1 ] || [ "$rounds" -lt 1 ] || [ "$n_backends" -lt 1 ] || [ "$connections" -lt 1 ]; then
  die "--duration, --rounds, --connections and --backends must be at least 1"
fi
IFS=',' read -r -a paths <<<"$paths_csv"
for p in "${paths[@]}"; do
  case "$p" in hit | new | app-hit | app-new) ;; *) die "unknown path '$p' in --paths (hit, new, app-hit, app-new)" ;; esac
done
proxies=(drover haproxy)

for tool in wrk haproxy nginx node curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ -x "/usr/sbin/$tool" ]; then PATH="$PATH:/usr/sbin"; else die "$tool not found (run scripts/setup.sh)"; fi
  fi
done
[ -x "$drover_bin" ] || die "drover-sidecar not found at $drover_bin (build it: cmake --preset release && cmake --build --preset release, or set DROVER_SIDECAR)"

ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -Sn)"
if [ "$nofile" = unlimited ]; then nofile=1048576; fi
maxconn=$((connections + 1024))
clk_tck="$(getconf CLK_TCK)" # run_wrk's CPU figures

# ---------------------------------------------------------------- processes (run.sh's cleanup)
workdir="$(mktemp -d "${TMPDIR:-/tmp}/drover-bench-sticky.XXXXXX")"
started_pids=()
keep_workdir=0
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r -a ports <<<"$(free_ports $((n_backends + 6)))"
# drover-app and haproxy-app: the second pair, for the app-issued cookie (app-* paths).
declare -A proxy_port=([drover]="${ports[n_backends]}" [haproxy]="${ports[n_backends + 1]}"
  [drover-app]="${ports[n_backends + 3]}" [haproxy-app]="${ports[n_backends + 4]}")
drover_admin_port="${ports[n_backends + 2]}"
drover_app_admin_port="${ports[n_backends + 5]}"
declare -A proxy_pid=()

backend_csv=""
# HAProxy's cookie directive goes in its backend section, which the template's server list is.
haproxy_servers="    cookie DROVERID insert indirect nocache"$'\n'
haproxy_app_servers="    cookie SESS prefix"$'\n'
# The backends' /app location plays an app with its own session cookie: a request without SESS
# gets one (nginx adds no header whose value is empty).
app_location='        location /app {
            set $sess_set "";
            if ($cookie_SESS = "") { set $sess_set "SESS=$request_id; Path=/; HttpOnly"; }
            add_header Set-Cookie $sess_set;
            return 200 "hello from @NAME@\n";
        }'
for ((i = 0; i < n_backends; i++)); do
  port="${ports[i]}"
  name="backend$((i + 1))"
  render "$bench/backend/nginx.conf.in" "$workdir/$name.conf" NAME="$name" PORT="$port" DIR="$workdir" NOFILE="$nofile"
  awk -v block="${app_location//@NAME@/$name}" '/^        location \/ \{$/ { print block } { print }' \
    "$workdir/$name.conf" >"$workdir/$name.conf.tmp" && mv "$workdir/$name.conf.tmp" "$workdir/$name.conf"
  start_bg "$name" nginx -p "$workdir" -e "$workdir/$name-error.log" -c "$workdir/$name.conf"
  wait_http "$name" "$started_pid" "$port"
  backend_csv+="${backend_csv:+,}127.0.0.1:$port"
  haproxy_servers+="    server $name 127.0.0.1:$port cookie b$((i + 1))"$'\n'
  haproxy_app_servers+="    server $name 127.0.0.1:$port cookie b$((i + 1))"$'\n'
done
log "backends: $backend_csv (nginx, one worker each)"

start_bg drover "$drover_bin" --listen="127.0.0.1:${proxy_port[drover]}" --backends="$backend_csv" \
  --threads="$threads" --balance=leastconn --sticky=cookie --member-id=bench \
  --admin="127.0.0.1:$drover_admin_port" --max-connections="$maxconn" --idle-timeout=60s
proxy_pid[drover]="$started_pid"
wait_http drover "$started_pid" "${proxy_port[drover]}"
render "$bench/haproxy.cfg.in" "$workdir/haproxy.cfg" THREADS="$threads" MAXCONN="$maxconn" \
  NOFILE="$nofile" PORT="${proxy_port[haproxy]}" SERVERS="${haproxy_servers%$'\n'}"
start_bg haproxy haproxy -db -f "$workdir/haproxy.cfg"
proxy_pid[haproxy]="$started_pid"
wait_http haproxy "$started_pid" "${proxy_port[haproxy]}"
log "drover on 127.0.0.1:${proxy_port[drover]} (pid ${proxy_pid[drover]}, $drover_bin), haproxy on 127.0.0.1:${proxy_port[haproxy]} (pid ${proxy_pid[haproxy]})"
start_bg drover-app "$drover_bin" --listen="127.0.0.1:${proxy_port[drover-app]}" --backends="$backend_csv" \
  --threads="$threads" --balance=leastconn --sticky=app-cookie:SESS --member-id=bench \
  --admin="127.0.0.1:$drover_app_admin_port" --max-connections="$maxconn" --idle-timeout=60s
proxy_pid[drover-app]="$started_pid"
wait_http drover-app "$started_pid" "${proxy_port[drover-app]}"
render "$bench/haproxy.cfg.in" "$workdir/haproxy-app.cfg" THREADS="$threads" MAXCONN="$maxconn" \
  NOFILE="$nofile" PORT="${proxy_port[haproxy-app]}" SERVERS="${haproxy_app_servers%$'\n'}"
start_bg haproxy-app haproxy -db -f "$workdir/haproxy-app.cfg"
proxy_pid[haproxy-app]="$started_pid"
wait_http haproxy-app "$started_pid" "${proxy_port[haproxy-app]}"
log "drover-app (--sticky=app-cookie:SESS) on 127.0.0.1:${proxy_port[drover-app]}, haproxy-app (cookie SESS prefix) on 127.0.0.1:${proxy_port[haproxy-app]}"

# ---------------------------------------------------------------- cookies, and a check that both stick
# cookie_for PROXY BACKEND_NAME: a DROVERID value that PROXY issued for a session on that backend
# (new sessions until one lands there; at most 20).
declare -A cookies=()
for p in "${proxies[@]}"; do
  for ((i = 0; i < 20; i++)); do
    resp="$(curl -si --max-time 2 "http://127.0.0.1:${proxy_port[$p]}/")" || die "request to $p failed"
    name="$(grep -o 'hello from backend[0-9]*' <<<"$resp" | awk '{print $3}')"
    value="$(tr -d '\r' <<<"$resp" | grep -i '^set-cookie: DROVERID=' | sed 's/^[^=]*=//; s/;.*//')" ||
      die "$p did not set DROVERID on a new session:"$'\n'"$resp"
    # drover marks every response that sets the cookie private (docs/sidecar-cli.md); HAProxy's
    # nocache does so only for responses it deems cacheable, which the backends' are not.
    if [ "$p" = drover ] && ! grep -qi '^cache-control: private' <<<"$(tr -d '\r' <<<"$resp")"; then
      die "$p: no Cache-Control: private on a new session:"$'\n'"$resp"
    fi
    [ -n "${cookies[$p/$name]:-}" ] || cookies[$p/$name]="$value"
    n=0
    for ((b = 1; b <= n_backends; b++)); do [ -n "${cookies[$p/backend$b]:-}" ] && n=$((n + 1)); done
    [ "$n" -eq "$n_backends" ] && break
  done
  for ((b = 1; b <= n_backends; b++)); do
    value="${cookies[$p/backend$b]:-}"
    [ -n "$value" ] || die "$p: no session on backend$b after 20 new sessions (leastconn should spread them)"
    for ((i = 0; i < 10; i++)); do
      resp="$(curl -si --max-time 2 -H "Cookie: DROVERID=$value" "http://127.0.0.1:${proxy_port[$p]}/")"
      grep -q "hello from backend$b\$" <<<"$(tr -d '\r' <<<"$resp")" || die "$p: cookie $value did not stick to backend$b:"$'\n'"$resp"
      if grep -qi '^set-cookie:' <<<"$resp"; then die "$p: a request with a valid cookie got a new one:"$'\n'"$resp"; fi
    done
  done
  log "$p cookies: $(for ((b = 1; b <= n_backends; b++)); do printf 'backend%d=%s ' "$b" "${cookies[$p/backend$b]}"; done)"
done

# The same for the app's SESS cookie through the app-* pair: a prefixed value per backend, which
# must stick, reach the app unprefixed (nginx would set a new SESS otherwise) and get no new one.
declare -A app_cookies=()
for p in "${proxies[@]}"; do
  for ((i = 0; i < 20; i++)); do
    resp="$(curl -si --max-time 2 "http://127.0.0.1:${proxy_port[$p-app]}/app")" || die "request to $p-app failed"
    name="$(grep -o 'hello from backend[0-9]*' <<<"$resp" | awk '{print $3}')"
    value="$(tr -d '\r' <<<"$resp" | grep -i '^set-cookie: SESS=' | sed 's/^[^=]*=//; s/;.*//')" ||
      die "$p-app did not pass on the app's SESS cookie:"$'\n'"$resp"
    [[ "$value" == *"~"* ]] || die "$p-app did not prefix SESS: $value"
    [ -n "${app_cookies[$p/$name]:-}" ] || app_cookies[$p/$name]="$value"
    n=0
    for ((b = 1; b <= n_backends; b++)); do [ -n "${app_cookies[$p/backend$b]:-}" ] && n=$((n + 1)); done
    [ "$n" -eq "$n_backends" ] && break
  done
  for ((b = 1; b <= n_backends; b++)); do
    value="${app_cookies[$p/backend$b]:-}"
    [ -n "$value" ] || die "$p-app: no SESS session on backend$b after 20 new sessions"
    for ((i = 0; i < 10; i++)); do
      resp="$(curl -si --max-time 2 -H "Cookie: SESS=$value" "http://127.0.0.1:${proxy_port[$p-app]}/app")"
      grep -q "hello from backend$b\$" <<<"$(tr -d '\r' <<<"$resp")" || die "$p-app: SESS $value did not stick to backend$b:"$'\n'"$resp"
      if grep -qi '^set-cookie:' <<<"$resp"; then die "$p-app: the app did not get its own SESS back (it set a new one):"$'\n'"$resp"; fi
    done
  done
  log "$p-app SESS: $(for ((b = 1; b <= n_backends; b++)); do printf 'backend%d=%s ' "$b" "${app_cookies[$p/backend$b]}"; done)"
done

# write_wrk_script PROXY PATH: $workdir/report.lua (the file run_wrk runs) for that load.
write_wrk_script() {
  local p="$1" path="$2" b
  {
    if [ "$path" = hit ] || [ "$path" = app-hit ]; then
      # Every request carries one of the proxy's session cookies, rotating over the backends:
      # DROVERID on / for `hit`, the app's prefixed SESS on /app for `app-hit`.
      local url=/
      [ "$path" = app-hit ] && url=/app
      echo "-- every request carries one of $p's session cookies ($path), rotating over the backends"
      echo "local url = \"$url\""
      echo "local cookies = {"
      for ((b = 1; b <= n_backends; b++)); do
        if [ "$path" = hit ]; then
          echo "  \"DROVERID=${cookies[$p/backend$b]}\","
        else
          echo "  \"SESS=${app_cookies[$p/backend$b]}\","
        fi
      done
      echo "}"
      cat <<'EOF'
local requests = {}
local next_request = 0
init = function(args)
  for i, c in ipairs(cookies) do requests[i] = wrk.format("GET", url, { ["Cookie"] = c }) end
end
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
EOF
    elif [ "$path" = app-new ]; then
      echo "-- no cookie: the app sets SESS on every response"
      echo 'local req = nil'
      echo 'init = function(args) req = wrk.format("GET", "/app") end'
      echo 'request = function() return req end'
    fi
    printf '%s\n' "$wrk_report"
  } >"$workdir/report.lua"
}

# drover's sticky decision counters as "hit new invalid remapped no_key" of the instance whose
# admin port is $1.
drover_sticky() {
  curl -s --max-time 2 "http://127.0.0.1:$1/metrics" | awk '
    /^drover_sticky_decisions_total\{result="hit"\}/ { h = $2 }
    /^drover_sticky_decisions_total\{result="new"\}/ { n = $2 }
    /^drover_sticky_decisions_total\{result="invalid"\}/ { i = $2 }
    /^drover_sticky_decisions_total\{result="remapped"\}/ { r = $2 }
    /^drover_sticky_decisions_total\{result="no_key"\}/ { k = $2 }
    END { printf "%d %d %d %d %d\n", h, n, i, r, k }'
}

# measure PROXY PATH SECONDS LABEL: sets `measured` to run_wrk's figures ("rps p50 p99 socket_errors
# http_errors cpu", and from newer run.sh versions on, requests per CPU-second); for drover it also checks that the path measured was the one meant (all
# hits for "hit", all new sessions for "new") and notes any difference in path_check.
declare -A path_check=()
measured=""
measure() {
  local p="$1" path="$2" secs="$3" label="$4" h0 n0 i0 r0 k0 h1 n1 i1 r1 k1 reqs inst="$1" admin="$drover_admin_port"
  case "$path" in app-*) inst="$p-app" admin="$drover_app_admin_port" ;; esac
  write_wrk_script "$p" "$path"
  if [ "$p" = drover ]; then read -r h0 n0 i0 r0 k0 <<<"$(drover_sticky "$admin")"; fi
  measured="$(run_wrk "$inst" "$secs" "$path-$label")"
  [ "$p" = drover ] || return 0
  read -r h1 n1 i1 r1 k1 <<<"$(drover_sticky "$admin")"
  reqs="$(awk '$1 == "WRK-RESULT" { print $2 }' "$workdir/wrk-$inst-$path-$label.txt")"
  if [ "$path" = app-hit ] && { [ $((k1 - k0 + i1 - i0 + r1 - r0)) -ne 0 ] || [ $((h1 - h0)) -lt "$reqs" ]; }; then
    path_check[$p/$path]="$label: $((h1 - h0)) hits, $((k1 - k0)) without a key, $((i1 - i0)) invalid, $((r1 - r0)) remapped for $reqs requests"
  fi
  if [ "$path" = app-new ] && [ $((k1 - k0)) -lt "$reqs" ]; then
    path_check[$p/$path]="$label: $((k1 - k0)) requests without a key for $reqs requests"
  fi
  if [ "$path" = hit ] && { [ $((n1 - n0 + i1 - i0 + r1 - r0)) -ne 0 ] || [ $((h1 - h0)) -lt "$reqs" ]; }; then
    path_check[$p/$path]="$label: $((h1 - h0)) hits, $((n1 - n0)) new, $((i1 - i0)) invalid, $((r1 - r0)) remapped for $reqs requests"
  fi
  if [ "$path" = new ] && [ $((n1 - n0)) -lt "$reqs" ]; then
    path_check[$p/$path]="$label: $((n1 - n0)) new sessions for $reqs requests"
  fi
  return 0
}

# ---------------------------------------------------------------- runs
log "warm-up ${warmup}s per proxy and path, then $rounds round(s) of ${duration}s: wrk -t$wrk_threads -c$connections, proxies at $threads thread"
for path in "${paths[@]}"; do
  for p in "${proxies[@]}"; do measure "$p" "$path" "$warmup" warmup; done
done
declare -A rps_all=() p50_all=() p99_all=() cpu_all=() per_cpu_all=() sockerr=() non2xx=()
for path in "${paths[@]}"; do
  for p in "${proxies[@]}"; do sockerr[$p/$path]=0; non2xx[$p/$path]=0; done
done
for ((r = 1; r <= rounds; r++)); do
  for path in "${paths[@]}"; do
    for p in "${proxies[@]}"; do
      measure "$p" "$path" "$duration" "round$r"
      read -r rps p50 p99 serr bad cpu per_cpu _ <<<"$measured"
      k="$p/$path"
      rps_all[$k]+="$rps "
      p50_all[$k]+="$p50 "
      p99_all[$k]+="$p99 "
      cpu_all[$k]+="$cpu "
      per_cpu_all[$k]+="${per_cpu:-} "
      sockerr[$k]=$((sockerr[$k] + serr))
      non2xx[$k]=$((non2xx[$k] + bad))
      log "round $r/$rounds $(printf '%-7s %-8s %9s req/s  p50 %7s ms  p99 %7s ms  cpu %4s%%' "$path" "$p" "$rps" "$p50" "$p99" "$cpu")"
    done
  done
done

declare -A rps_med=() p50_med=() p99_med=() cpu_med=() per_cpu_med=()
for path in "${paths[@]}"; do
  for p in "${proxies[@]}"; do
    k="$p/$path"
    rps_med[$k]="$(median %.0f <<<"${rps_all[$k]}")"
    p50_med[$k]="$(median %.3f <<<"${p50_all[$k]}")"
    p99_med[$k]="$(median %.3f <<<"${p99_all[$k]}")"
    cpu_med[$k]="$(median %.0f <<<"${cpu_all[$k]}")"
    per_cpu_med[$k]="$(median %.0f <<<"${per_cpu_all[$k]}")"
  done
done

# ---------------------------------------------------------------- report
echo
echo "Cookie-sticky proxying: wrk -t$wrk_threads -c$connections, ${duration}s x $rounds round(s), median; proxies at $threads thread, $n_backends nginx backends"
echo "  hit: every request carries a valid DROVERID (rotating over one session per backend); new: no cookie, every response sets one"
echo "  app-hit/app-new: the app's own SESS cookie (drover --sticky=app-cookie:SESS, HAProxy cookie SESS prefix): a prefixed SESS on every request / none, the app sets it"
printf '%-7s %-8s %10s %9s %9s %9s %10s %14s %12s\n' path proxy "req/s" "p50 ms" "p99 ms" "proxy CPU" "req/CPU-s" "socket errors" "HTTP errors"
for path in "${paths[@]}"; do
  for p in "${proxies[@]}"; do
    k="$p/$path"
    printf '%-7s %-8s %10s %9s %9s %8s%% %10s %14s %12s\n' "$path" "$p" "${rps_med[$k]}" "${p50_med[$k]}" "${p99_med[$k]}" \
      "${cpu_med[$k]}" "${per_cpu_med[$k]}" "${sockerr[$k]}" "${non2xx[$k]}"
  done
done
for path in "${paths[@]}"; do
  printf 'drover/haproxy %-7s req/s x%s   p99 x%s   req/CPU-s x%s\n' "$path" \
    "$(ratio "${rps_med[drover/$path]}" "${rps_med[haproxy/$path]}")" "$(ratio "${p99_med[drover/$path]}" "${p99_med[haproxy/$path]}")" \
    "$(ratio "${per_cpu_med[drover/$path]}" "${per_cpu_med[haproxy/$path]}")"
done

warnings=0
for path in "${paths[@]}"; do
  for p in "${proxies[@]}"; do
    k="$p/$path"
    if [ "${sockerr[$k]}" -gt 0 ] || [ "${non2xx[$k]}" -gt 0 ]; then
      echo "WARNING: $p ($path) had ${sockerr[$k]} socket errors and ${non2xx[$k]} HTTP error responses under load" >&2
      warnings=1
    fi
    if [ -n "${path_check[$k]:-}" ]; then
      echo "WARNING: $p did not take the measured path: ${path_check[$k]}" >&2
      warnings=1
    fi
  done
done
[ "$warnings" = 0 ] || keep_workdir=1

# ---------------------------------------------------------------- JSON
mkdir -p "$bench/results"
json="$bench/results/sticky.json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"quick\": $([ "$quick" = 1 ] && echo true || echo false),"
  echo "  \"config\": {\"proxy_threads\": $threads, \"wrk_threads\": $wrk_threads, \"connections\": $connections,"
  echo "             \"duration_s\": $duration, \"rounds\": $rounds, \"warmup_s\": $warmup, \"backends\": $n_backends,"
  echo "             \"cpus\": $(nproc), \"loadavg_at_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "             \"drover\": \"--sticky=cookie --balance=leastconn --threads=$threads\","
  echo "             \"haproxy\": \"cookie DROVERID insert indirect nocache; balance leastconn; nbthread $threads\","
  echo "             \"drover_app\": \"--sticky=app-cookie:SESS --balance=leastconn --threads=$threads\","
  echo "             \"haproxy_app\": \"cookie SESS prefix; balance leastconn; nbthread $threads\"},"
  echo "  \"versions\": {\"drover\": \"$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"drover_binary\": \"$drover_bin\","
  echo "               \"haproxy\": \"$(version_of haproxy -v)\", \"nginx\": \"$(version_of nginx -v)\", \"wrk\": \"$(version_of wrk -v)\"},"
  echo "  \"paths\": {"
  np=0
  for path in "${paths[@]}"; do
    np=$((np + 1))
    echo "    \"$path\": {"
    for p in "${proxies[@]}"; do
      k="$p/$path"
      echo "      \"$p\": {\"rps\": $(json_num "${rps_med[$k]}"), \"p50_ms\": $(json_num "${p50_med[$k]}"), \"p99_ms\": $(json_num "${p99_med[$k]}"), \"cpu_percent\": $(json_num "${cpu_med[$k]}"), \"requests_per_cpu_s\": $(json_num "${per_cpu_med[$k]}"),"
      echo "        \"rounds\": {\"rps\": $(json_list "${rps_all[$k]}"), \"p50_ms\": $(json_list "${p50_all[$k]}"), \"p99_ms\": $(json_list "${p99_all[$k]}"), \"cpu_percent\": $(json_list "${cpu_all[$k]}"), \"requests_per_cpu_s\": $(json_list "${per_cpu_all[$k]}")},"
      echo "        \"socket_errors\": ${sockerr[$k]}, \"http_errors\": ${non2xx[$k]}, \"path_ok\": $([ -z "${path_check[$k]:-}" ] && echo true || echo false)},"
    done
    echo "      \"drover_haproxy\": {\"rps\": $(json_num "$(ratio "${rps_med[drover/$path]}" "${rps_med[haproxy/$path]}")"), \"p99\": $(json_num "$(ratio "${p99_med[drover/$path]}" "${p99_med[haproxy/$path]}")"), \"requests_per_cpu_s\": $(json_num "$(ratio "${per_cpu_med[drover/$path]}" "${per_cpu_med[haproxy/$path]}")")}"
    if [ "$np" -lt "${#paths[@]}" ]; then echo "    },"; else echo "    }"; fi
  done
  echo "  }"
  echo "}"
} >"$json"
echo
echo "results: $json"
