#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite: formatting, then unit,
# fuzz, integration and long tests in a release build and again under ASan+UBSan.
# Usage: scripts/test.sh [--release-only]
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
  echo "== build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "== test: $preset"
  DROVER_SIDECAR="$PWD/build/$preset/sidecar/drover-sidecar" \
    ctest --preset "$preset" --timeout 900
}

run_preset release

echo "== lint: clang-tidy (.clang-tidy) over the C++ sources, one process per core"
mapfile -t units < <(git ls-files --cached --others --exclude-standard '*.cc' \
  | grep -E '^(sidecar|common|controller|droverctl)/')
printf '%s\n' "${units[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p build/release --quiet
if [ "${1:-}" != "--release-only" ]; then
  run_preset asan
fi
echo "test.sh: all suites passed"
