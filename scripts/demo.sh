#!/usr/bin/env bash
# Demo: three copies of examples/hello behind drover-sidecar, all on 127.0.0.1.
#
#   scripts/demo.sh                  # proxy on 127.0.0.1:8080, admin on 127.0.0.1:9901; Ctrl-C stops
#   DEMO_PORT=8081 scripts/demo.sh   # another proxy port (DEMO_ADMIN_PORT likewise)
#   DEMO_SELFTEST=1 scripts/demo.sh  # curls by itself, checks that more than one backend
#                                    # answered, exits 0 (ports default to free ones)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
drover_bin="${DROVER_SIDECAR:-$here/build/release/sidecar/drover-sidecar}" # env: another build to try
app="$here/examples/hello/server.js"
selftest="${DEMO_SELFTEST:-0}"
n_apps=3
if [ "$selftest" = 1 ]; then
  listen_port="${DEMO_PORT:-0}"
  admin_port="${DEMO_ADMIN_PORT:-0}"
else
  listen_port="${DEMO_PORT:-8080}"
  admin_port="${DEMO_ADMIN_PORT:-9901}"
fi

die() {
  echo "demo: error: $*" >&2
  exit 1
}

# The README's first command: install what is missing (idempotent), build, run. The test suite
# runs the self-test after its own setup, so it skips this step.
if [ "$selftest" != "1" ]; then
  bash "$here/scripts/setup.sh" || die "setup failed"
fi
command -v node >/dev/null 2>&1 || die "node not found (run scripts/setup.sh)"
command -v curl >/dev/null 2>&1 || die "curl not found (run scripts/setup.sh)"
if [ ! -x "$drover_bin" ] || [ "$selftest" != "1" ]; then
  echo "demo: building drover-sidecar (release)" >&2
  (cd "$here" && cmake --preset release >/dev/null && cmake --build --preset release) ||
    die "could not build $drover_bin"
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/drover-demo.XXXXXX")"
pids=()

# shellcheck disable=SC2317 # only called through the EXIT trap
cleanup() {
  local status=$? pid i
  trap - EXIT INT TERM
  # Stop the proxy first, then the apps; each gets up to 5 s to exit after SIGINT (drover
  # exits at once on SIGINT; on SIGTERM it would first drain for its --drain-delay).
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -INT "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ "$status" -ne 130 ]; then
    echo "demo: logs kept in $workdir" >&2
  else
    rm -rf "$workdir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 130' INT
trap 'exit 143' TERM

# N distinct free TCP ports on 127.0.0.1 (held open together, so they differ).
free_ports() {
  node -e '
    const net = require("node:net");
    const servers = [];
    (async () => {
      for (let i = 0; i < Number(process.argv[1]); i++) {
        const s = net.createServer();
        await new Promise((ok, fail) => { s.once("error", fail); s.listen(0, "127.0.0.1", ok); });
        servers.push(s);
      }
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    })().catch((e) => { console.error(e.message); process.exit(1); });
  ' "$1"
}

# ---------------------------------------------------------------- the apps
read -r -a app_ports <<<"$(free_ports "$n_apps")"
backends=""
for ((i = 1; i <= n_apps; i++)); do
  port="${app_ports[i - 1]}"
  PORT="$port" DROVER_WORKER_ID="$i" node "$app" >"$workdir/hello-$i.log" 2>&1 &
  pids+=($!)
  backends+="${backends:+,}127.0.0.1:$port"
done
for ((i = 1; i <= n_apps; i++)); do
  port="${app_ports[i - 1]}"
  for ((t = 0; t < 100; t++)); do # at most ~10 s
    curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && break
    kill -0 "${pids[i - 1]}" 2>/dev/null || { cat "$workdir/hello-$i.log" >&2; die "hello app $i exited"; }
    sleep 0.1
  done
  curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" || die "hello app $i is not answering on port $port"
done

# ---------------------------------------------------------------- the proxy
"$drover_bin" --listen="127.0.0.1:$listen_port" --backends="$backends" \
  --admin="127.0.0.1:$admin_port" >"$workdir/drover.log" 2>&1 &
drover_pid=$!
pids+=("$drover_pid")
# Wait for its "listening on HOST:PORT" and "admin on HOST:PORT" lines (the real ports).
proxy_addr=""
admin_addr=""
for ((t = 0; t < 100; t++)); do # at most ~10 s
  proxy_addr="$(sed -n 's/^drover-sidecar: listening on \([^ ]*\).*/\1/p' "$workdir/drover.log" | head -n 1)"
  admin_addr="$(sed -n 's/^drover-sidecar: admin on \([^ ]*\).*/\1/p' "$workdir/drover.log" | head -n 1)"
  [ -n "$proxy_addr" ] && [ -n "$admin_addr" ] && break
  kill -0 "$drover_pid" 2>/dev/null || { cat "$workdir/drover.log" >&2; die "drover-sidecar exited at start"; }
  sleep 0.1
done
if [ -z "$proxy_addr" ] || [ -z "$admin_addr" ]; then
  die "drover-sidecar did not report its listeners within 10 s (log: $workdir/drover.log)"
fi

# ---------------------------------------------------------------- self-test
if [ "$selftest" = 1 ]; then
  declare -A seen=()
  for ((i = 1; i <= 6; i++)); do
    body="$(curl -fsS --max-time 5 "http://$proxy_addr/")" || die "request $i through drover-sidecar failed"
    echo "demo: GET http://$proxy_addr/ -> $body"
    [[ "$body" =~ ^hello\ from\ worker\ ([0-9]+) ]] || die "unexpected answer: $body"
    seen[${BASH_REMATCH[1]}]=1
  done
  [ "${#seen[@]}" -ge 2 ] || die "all answers came from worker(s) ${!seen[*]}; expected more than one"
  # With the default --sticky=cookie, a client that keeps its cookie stays on one worker.
  jar="$workdir/cookies.txt"
  first="$(curl -fsS --max-time 5 -c "$jar" -b "$jar" "http://$proxy_addr/")" || die "request with a cookie jar failed"
  if grep -q DROVERID "$jar"; then
    for ((i = 1; i <= 3; i++)); do
      body="$(curl -fsS --max-time 5 -c "$jar" -b "$jar" "http://$proxy_addr/")" || die "request with a cookie jar failed"
      [ "${body%% (pid*}" = "${first%% (pid*}" ] || die "sticky cookie ignored: '$first' then '$body'"
    done
    echo "demo: with its cookie, a client stays on one worker: ${first%% (pid*}"
  fi
  code="$(curl -s -o "$workdir/metrics.txt" -w '%{http_code}' --max-time 5 "http://$admin_addr/metrics")"
  [ "$code" = 200 ] || die "GET http://$admin_addr/metrics answered $code"
  echo "demo: GET http://$admin_addr/metrics -> 200 ($(wc -l <"$workdir/metrics.txt") lines)"
  echo "demo: ok, answers came from workers $(printf "%s\n" "${!seen[@]}" | sort -n | paste -sd " " -)"
  exit 0
fi

# ---------------------------------------------------------------- interactive
cat <<EOF

drover-sidecar is on http://$proxy_addr/ in front of $n_apps hello apps ($backends).
Try:

  curl -s http://$proxy_addr/
  curl -s http://$proxy_addr/
  curl -s http://$proxy_addr/
  curl -s http://$proxy_addr/healthz
  curl -s http://$admin_addr/metrics

Each answer names the worker that served it. drover inserts a DROVERID cookie (--sticky=cookie,
the default); a client that sends it back stays on one worker:

  curl -s -c /tmp/drover-demo-cookies -b /tmp/drover-demo-cookies http://$proxy_addr/

Logs: $workdir (removed on exit). Press Ctrl-C to stop.
EOF
wait "$drover_pid" || true # returns early on Ctrl-C, whose trap ends the script
cat "$workdir/drover.log" >&2
echo "demo: error: drover-sidecar exited (log above)" >&2
exit 1
