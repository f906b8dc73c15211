#!/usr/bin/env bash
# Builds the release layout in target/dist/:
#
#   target/dist/codex                   statically linked
#   target/dist/codex-resources/bwrap   built from third_party/bubblewrap
#
# with the SHA-256 of that bwrap compiled into codex (CODEX_BWRAP_SHA256), so
# codex refuses a bundled bwrap that differs by a single byte. Needs the
# bubblewrap sources (scripts/vendor-bwrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Static linking only for the final binaries: proc-macro crates cannot be
# built with crt-static. The dynamic loader was ~5% of sandbox start-up.
static=(-C target-feature=+crt-static)
# bwrap is stripped: codex hashes the whole file on every start that uses it.
cargo rustc -q --release -p codex-bwrap --bin bwrap -- "${static[@]}" -C strip=symbols
digest="$(sha256sum target/release/bwrap | cut -d' ' -f1)"
CODEX_BWRAP_SHA256="$digest" cargo rustc -q --release -p codex-cli --bin codex -- "${static[@]}"

dist=target/dist
rm -rf "$dist"
mkdir -p "$dist/codex-resources"
cp target/release/codex "$dist/codex"
cp target/release/bwrap "$dist/codex-resources/bwrap"
echo "release: $dist/codex with $dist/codex-resources/bwrap (SHA-256 $digest compiled in)"
