#!/usr/bin/env bash
# Runs each fuzz target (fuzz/fuzz_targets: config, planner) for SECONDS
# (default 60) with cargo fuzz on the nightly toolchain, starting from the
# committed seeds (fuzz/seeds) and the corpus kept in fuzz/corpus (not
# committed). A crash is written to fuzz/artifacts and fails the run.
# Without a sanitizer: the code is safe Rust, and AddressSanitizer cut the
# planner's speed fourfold.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is not installed; run \`cargo install cargo-fuzz\`" >&2
  exit 1
fi
for target in config planner; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  cargo +nightly fuzz run -O --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1
done
