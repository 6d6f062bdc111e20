#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite: formatting, then every ctest
# label in a release build (unit, fuzz, proxy, supervisor, sticky, long, smoke, kubesim, helm,
# prometheus, droverctl, e2e, e2e-admin, image), clang-tidy, and the C++-exercising labels again
# under ASan+UBSan (the chart, simulator, Prometheus and image tests check no C++ of ours that
# the release run did not, so they run once).
# Usage: scripts/test.sh [--release-only]   (extra ctest arguments: CTEST_ARGS="-LE image")
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== format: clang-format --dry-run over the C++ sources"
mapfile -t sources < <(git ls-files --cached --others --exclude-standard \
  '*.cc' '*.h' | grep -v '^build/')
if ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "test.sh: unformatted C++ above; run: clang-format -i \$(git ls-files '*.cc' '*.h')" >&2
  exit 1
fi

run_preset() {
  local preset=$1
  shift
  echo "== build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "== test: $preset"
  # shellcheck disable=SC2086
  DROVER_SIDECAR="$PWD/build/$preset/sidecar/drover-sidecar" \
    ctest --preset "$preset" --timeout 900 "$@" ${CTEST_ARGS:-}
}

start=$SECONDS
run_preset release
echo "test.sh: release build and tests took $((SECONDS - start)) s"

echo "== lint: clang-tidy (.clang-tidy) over the C++ sources, one process per core"
mapfile -t units < <(git ls-files --cached --others --exclude-standard '*.cc' \
  | grep -E '^(sidecar|common|controller|droverctl)/')
printf '%s\n' "${units[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p build/release --quiet
if [ "${1:-}" != "--release-only" ]; then
  run_preset asan -LE 'kubesim|helm|prometheus|image|smoke'
fi
echo "test.sh: $((SECONDS - start)) s in all"
echo "test.sh: all suites passed"
