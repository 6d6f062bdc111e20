#!/usr/bin/env bash
# Compares drover-sidecar's worker transports in one run: `--workers=1 -- node hello` with
# --worker-transport=tcp against =unix, wrk keep-alive load, rounds interleaved, medians.
# wrk is pinned to CPU 0, the sidecar and its worker to CPU 1 (unpinned, the ratio would mostly
# measure how the scheduler shares the cores).
#
#   bench/unix-transport.sh [SECONDS per run, default 5] [ROUNDS, default 3] [CONNECTIONS, default 32]
#   env: DROVER_SIDECAR=path (another build)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${DROVER_SIDECAR:-$here/build/release/sidecar/drover-sidecar}"
app="$here/examples/hello/server.js"
secs="${1:-5}"
rounds="${2:-3}"
conns="${3:-32}"
for tool in wrk node taskset curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "bench: no drover-sidecar at $bin" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# run TRANSPORT LABEL: starts the sidecar, waits for /readyz, runs wrk, prints requests/s.
run() {
  local transport="$1" label="$2"
  taskset -c 1 "$bin" --listen=127.0.0.1:0 --admin=127.0.0.1:0 --threads=1 --pin=false \
    --drain-delay=0s --workers=1 --worker-port-base=23700 --worker-transport="$transport" \
    -- node "$app" 2>"$work/$label.err" >/dev/null &
  pid=$!
  local port="" admin="" i
  for i in $(seq 1 200); do
    port="$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/$label.err" 2>/dev/null | head -1)"
    admin="$(sed -n 's/.*admin on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/$label.err" 2>/dev/null | head -1)"
    if [ -n "$port" ] && [ -n "$admin" ] && curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null; then break; fi
    sleep 0.05
  done
  curl -fs "http://127.0.0.1:$port/" >/dev/null || { echo "bench: $transport not serving" >&2; cat "$work/$label.err" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/" >"$work/$label.wrk"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  awk '/Requests\/sec/ {print $2}' "$work/$label.wrk"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

run tcp warmup >/dev/null
run unix warmup >/dev/null
: >"$work/tcp.all"
: >"$work/unix.all"
for r in $(seq 1 "$rounds"); do
  t="$(run tcp "tcp$r")"; echo "$t" >>"$work/tcp.all"
  u="$(run unix "unix$r")"; echo "$u" >>"$work/unix.all"
  echo "round $r: tcp $t req/s, unix $u req/s" >&2
done
tcp="$(median <"$work/tcp.all")"
unix="$(median <"$work/unix.all")"
echo "drover-sidecar --workers=1 -- node hello, wrk -t1 -c$conns ${secs}s x $rounds (medians)"
echo "tcp:  $tcp req/s"
echo "unix: $unix req/s"
awk -v t="$tcp" -v u="$unix" 'BEGIN {printf "unix/tcp: %.3f\n", u / t}'
