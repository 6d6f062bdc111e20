#!/usr/bin/env bash
# Installs everything Drover needs on Debian 12 (bookworm). Idempotent: a second run
# installs nothing new. Run as root, or with sudo available.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl procps iproute2
  clang clang-format clang-tidy libclang-rt-14-dev
  libabsl-dev prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libssl-dev libcpprest-dev libyaml-cpp-dev
  nodejs
  wrk haproxy nginx-light prometheus
  unzip
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  buildah debootstrap
)

# --build-deps-only (the Dockerfile's build stage): only what building the release binaries
# needs, i.e. the build tools and every -dev package above; no servers, benchmark peers,
# sanitizer runtimes, Node.js, npm clients or kube tools.
build_deps_only=0
if [ "${1:-}" = "--build-deps-only" ]; then
  build_deps_only=1
  build_tools=" build-essential cmake ninja-build pkg-config ca-certificates protobuf-compiler protobuf-compiler-grpc "
  kept=()
  for p in "${packages[@]}"; do
    case "$p" in libclang-rt-*) continue ;; esac
    if [[ "$p" == *-dev || "$build_tools" == *" $p "* ]]; then kept+=("$p"); fi
  done
  packages=("${kept[@]}")
elif [ "$#" -gt 0 ]; then
  echo "setup: unknown argument '$1' (usage: scripts/setup.sh [--build-deps-only])" >&2
  exit 2
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
if [ "$build_deps_only" -eq 1 ]; then exit 0; fi
# Debian's haproxy, nginx and prometheus packages start system services; the tests and
# benchmarks start their own instances on loopback, so stop the system ones where a service
# manager runs.
for svc in haproxy nginx prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl stop "$svc" || true
  fi
done

# npm ships with Node.js on most machines; Debian's nodejs package does not include it.
if ! command -v npm >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
# Test clients (ws, socket.io-client), example apps (socket.io) and benchmark peers (pm2) come
# from npm, pinned by each folder's package-lock.json; a folder already installed is skipped.
for dir in tests examples/socketio bench; do
  [ -f "$here/$dir/package.json" ] || continue
  if [ -f "$here/$dir/node_modules/.package-lock.json" ] &&
    [ "$here/$dir/node_modules/.package-lock.json" -nt "$here/$dir/package-lock.json" ]; then
    continue
  fi
  echo "setup: npm packages for $dir"
  (cd "$here/$dir" && if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi)
done
bash "$here/scripts/kube-tools.sh"
