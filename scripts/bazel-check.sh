#!/usr/bin/env bash
# What can be checked of the Bazel description on a machine without the
# Bazel it needs (see scripts/bazel-check.py): buildifier's format and lint
# on every Bazel file, then the consistency check against Cargo.
# buildifier comes from the npm registry (@bazel/buildifier), installed by
# scripts/setup.sh into target/tools.
set -euo pipefail
cd "$(dirname "$0")/.."

buildifier=target/tools/node_modules/.bin/buildifier
if [ ! -x "$buildifier" ]; then
  echo "bazel-check: buildifier is not installed; run scripts/setup.sh" >&2
  exit 1
fi
mapfile -t files < <(git ls-files --cached --others --exclude-standard \
  'MODULE.bazel' '*BUILD.bazel' '*.bzl' 'third_party/*.BUILD')
"$buildifier" --mode=check --lint=warn "${files[@]}"
echo "bazel-check: buildifier found nothing in ${#files[@]} files"
python3 scripts/bazel-check.py
