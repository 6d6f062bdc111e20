#!/usr/bin/env bash
# The container image test (ctest labels image, image-full; tests/CMakeLists.txt): builds the
# Dockerfile for real with buildah (scripts/image.sh: chroot isolation, vfs store, locally
# made base images, nothing pulled), then checks the image:
#   - the image config's User is 10001 and `id -u` in the image prints 10001;
#   - every expected binary is in /usr/local/bin, owned by root, finds all its libraries
#     (ldd) and `--help` exits 0;
#   - drover-sidecar, run inside the image (buildah run: the image's own rootfs and libraries,
#     the host's network, so 127.0.0.1 is shared), proxies a real HTTP request to a backend
#     on 127.0.0.1, answers its admin /healthz, and exits 0 on SIGTERM;
#   - the image size, printed, is below DROVER_IMAGE_MAX_MB (default 200).
#
# Usage:
#   tests/image/image_test.sh --prebuilt FILE...   the runtime stage with these binaries
#                                                  (Dockerfile target prebuilt)
#   tests/image/image_test.sh --full NAME...       the full multi-stage build of these targets
# A missing buildah is a failure: scripts/setup.sh installs it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR/../..
# shellcheck source=scripts/image.sh
source "$here/../../scripts/image.sh"

max_mb="${DROVER_IMAGE_MAX_MB:-200}"
mode="${1:-}"
shift || true
case "$mode" in
  --prebuilt | --full) ;;
  *) echo "usage: $0 --prebuilt FILE... | --full NAME..." >&2; exit 2 ;;
esac
[ "$#" -gt 0 ] || { echo "image_test: no binaries given" >&2; exit 2; }
names=()
for b in "$@"; do names+=("$(basename "$b")"); done

fail() {
  echo "image_test: FAIL: $*" >&2
  exit 1
}
step() { echo "== image_test: $*"; }

tag="localhost/drover-test:$$-${RANDOM}"
ctr=""
work="$(mktemp -d)"
pids=()
# A process and its descendants, one pid a line.
tree_of() {
  local tree=("$1") child i
  for ((i = 0; i < ${#tree[@]}; i++)); do
    for child in $(ps -o pid= --ppid "${tree[i]}" 2>/dev/null); do tree+=("$child"); done
  done
  printf '%s\n' "${tree[@]}"
}
# Stops a process this test started, and what it started in turn: SIGTERM first, SIGKILL to
# whatever is left after 10 s.
stop_tree() {
  local pid=$1 tree=() child
  mapfile -t tree < <(tree_of "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  for child in "${tree[@]}"; do kill -KILL "$child" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do if [ -n "$pid" ]; then stop_tree "$pid"; fi; done
  if [ -n "$ctr" ]; then image_buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  if [ "${DROVER_IMAGE_KEEP:-0}" = 1 ]; then
    echo "image_test: kept image $tag (scripts/image.sh buildah rmi $tag)"
  else
    image_buildah rmi --force "$tag" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

t_all=$EPOCHREALTIME
step "base images"
image_base
t0=$EPOCHREALTIME
if [ "$mode" = --prebuilt ]; then
  step "build: runtime stage with the suite's binaries (${names[*]})"
  image_build_prebuilt "$tag" "$@"
else
  step "build: full multi-stage build (${names[*]})"
  image_build_full "$tag" "${names[*]}"
fi
echo "image_test: image built in $(image_since "$t0") s"

step "user"
user="$(image_buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")"
[ "${user%%:*}" = 10001 ] || fail "the image config's User is '$user', not 10001"
ctr="$(image_buildah from --pull=never "$tag")"
run() { image_buildah run --isolation chroot --network host "$ctr" -- "$@"; }
uid="$(run id -u)"
[ "$uid" = 10001 ] || fail "id -u in the image prints '$uid', not 10001"
echo "image_test: User $user, id -u $uid"

step "binaries"
for b in "${names[@]}"; do
  owner="$(run stat -c %U "/usr/local/bin/$b" 2>/dev/null)" || fail "/usr/local/bin/$b is not in the image"
  [ "$owner" = root ] || fail "/usr/local/bin/$b is owned by $owner, not root"
  if run ldd "/usr/local/bin/$b" | grep 'not found'; then fail "$b misses the libraries above"; fi
  run "$b" --help >"$work/$b.help" 2>&1 || {
    cat "$work/$b.help" >&2
    fail "$b --help exited non-zero in the image"
  }
  echo "image_test: $b --help: ok ($(wc -l <"$work/$b.help") lines)"
done

if printf '%s\n' "${names[@]}" | grep -qx drover-sidecar; then
  step "drover-sidecar serving a request inside the image"
  node "$here/backend.mjs" >"$work/backend.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/backend.out" ] && break; sleep 0.1; done
  backend_port="$(head -n 1 "$work/backend.out")"
  [[ "$backend_port" =~ ^[0-9]+$ ]] || fail "the backend did not start: $(cat "$work/backend.out")"
  "${image_buildah_cmd[@]}" run --isolation chroot --network host "$ctr" -- \
    drover-sidecar --listen=127.0.0.1:0 --admin=127.0.0.1:0 --threads=1 --drain-delay=0 \
    --backends="127.0.0.1:$backend_port" >"$work/sidecar.log" 2>&1 &
  sidecar=$!
  pids+=("$sidecar")
  port="" admin=""
  for _ in $(seq 300); do
    port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/sidecar.log" | head -n 1)"
    admin="$(sed -n 's/.*admin on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/sidecar.log" | head -n 1)"
    [ -n "$port" ] && [ -n "$admin" ] && break
    kill -0 "$sidecar" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ] || [ -z "$admin" ]; then
    cat "$work/sidecar.log" >&2
    fail "drover-sidecar in the image did not report its listeners"
  fi
  body="$(curl -sS --max-time 10 "http://127.0.0.1:$port/through-the-image?x=1")" ||
    fail "no answer from the sidecar on 127.0.0.1:$port"
  echo "image_test: proxied answer: $body"
  [[ "$body" == *'"backend":"image-test"'* && "$body" == *'"path":"/through-the-image?x=1"'* &&
    "$body" == *'"xForwardedFor":"127.0.0.1"'* ]] || fail "unexpected answer through the sidecar: $body"
  code="$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/healthz")"
  [ "$code" = 200 ] || fail "admin /healthz answered $code"
  echo "image_test: admin /healthz: 200"
  # SIGTERM to the sidecar itself, as a pod deletion sends it (buildah run, when it gets one,
  # ends its process with SIGKILL instead): it drains, exits 0, and buildah run with it.
  sidecar_pid=""
  for p in $(tree_of "$sidecar"); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = drover-sidecar ]; then sidecar_pid=$p; fi
  done
  [ -n "$sidecar_pid" ] || fail "no drover-sidecar process under buildah run (pid $sidecar)"
  kill -TERM "$sidecar_pid"
  for _ in $(seq 150); do kill -0 "$sidecar" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$sidecar" 2>/dev/null && fail "drover-sidecar still runs 15 s after SIGTERM"
  status=0
  wait "$sidecar" || status=$?
  pids=("${pids[@]/$sidecar/}")
  echo "image_test: sidecar's log:"
  sed 's/^/  /' "$work/sidecar.log"
  [ "$status" -eq 0 ] || fail "drover-sidecar exited with status $status after SIGTERM"
  echo "image_test: SIGTERM: drover-sidecar drained and exited 0"
fi

step "size"
# The unpacked root filesystem (what a node stores; registries hold it gzip-compressed).
rootfs_mb() {
  local c m bytes
  c="$(image_buildah from --pull=never "$1")"
  m="$(image_buildah mount "$c")"
  bytes="$(du -sb "$m" | cut -f1)"
  image_buildah rm "$c" >/dev/null
  echo $((bytes / 1000000))
}
size_mb="$(rootfs_mb "$tag")"
base_mb="$(rootfs_mb "${image_base_tags[1]}")"
echo "image_test: image size ${size_mb} MB (debian:bookworm-slim base ${base_mb} MB, Drover's layer $((size_mb - base_mb)) MB); bound ${max_mb} MB"
[ "$size_mb" -lt "$max_mb" ] || fail "the image is ${size_mb} MB, over the ${max_mb} MB bound"

echo "image_test: all checks passed in $(image_since "$t_all") s"
