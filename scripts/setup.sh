#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine for this project and builds the release
# binary: bubblewrap and the test tools from apt, `just`, cargo-nextest.
# Needs a Rust toolchain (rustup) already installed. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) and re-run" >&2
  exit 1
fi

echo "setup: installing apt packages (bubblewrap, ripgrep for the start-up scan, git, a C compiler for test probes)"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  bubblewrap ripgrep git gcc libc6-dev ca-certificates python3 >/dev/null

if ! command -v just >/dev/null 2>&1; then
  echo "setup: installing just (PyPI package rust-just)"
  python3 -m pip install -q rust-just 2>/dev/null \
    || python3 -m pip install -q --break-system-packages rust-just 2>/dev/null \
    || cargo install -q --locked just
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install -q --locked cargo-nextest
fi

echo "setup: building the release binary (target/release/codex, statically linked)"
# Static linking only for the final binary: proc-macro crates cannot be
# built with crt-static. The dynamic loader was ~5% of sandbox start-up.
cargo rustc -q --release -p codex-cli --bin codex -- -C target-feature=+crt-static
