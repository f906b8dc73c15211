# Recipes for developing the sandbox. `just --list` shows them.

# Show the recipes.
default:
    @just --list

# Format every crate.
fmt:
    cargo fmt --all

# Apply clippy's fixes, then format (e.g. `just fix -p codex-sandboxing`).
fix *ARGS:
    cargo clippy --fix --allow-dirty --allow-staged --all-targets {{ARGS}}
    cargo fmt --all

# Check formatting, lints and the GitHub workflows exactly as CI does.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings
    scripts/lint-workflows.sh

# Run the escape suite alone and print its table (attack, sandboxed, unsandboxed control), then the guard's table of planted names, then the isolation suite.
escape:
    cargo nextest run -p codex-linux-sandbox --test escape --no-capture
    cargo nextest run -p codex-linux-sandbox --test guard --no-capture -E 'test(no_new_protected_entry_can_be_planted)'
    cargo nextest run -p codex-linux-sandbox --test isolation

# Fuzz the config parser + resolver and the planner + renderer, each for SECONDS (default 60; nightly, cargo-fuzz).
fuzz SECONDS="60":
    scripts/fuzz.sh {{SECONDS}}

# Check the Bazel description: buildifier format and lint, and its match with Cargo (what runs without Bazel).
bazel-check:
    scripts/bazel-check.sh

# Fetch the bubblewrap sources pinned in third_party/bubblewrap.lock (SHA-256 checked).
vendor-bwrap *TARBALL:
    scripts/vendor-bwrap.sh {{TARBALL}}

# Run the whole test suite (as root, also again as an unprivileged user).
test:
    scripts/test.sh

# Build the release layout target/dist/ (codex + codex-resources/bwrap, digest compiled in).
release:
    scripts/release.sh

# Package the release layout as release.yml does: target/release-local/*.tar.gz and SHA256SUMS.
release-local:
    scripts/release-local.sh

# Time start-up (system and bundled bwrap), the start-up scan, the proxy route and file-heavy commands (both pipelines), against baselines in the same run.
bench: release
    CODEX_BENCH_BIN="$PWD/target/dist/codex" cargo bench -p codex-cli --bench startup
    CODEX_BENCH_BIN="$PWD/target/dist/codex" cargo bench -p codex-cli --bench scan
    CODEX_BENCH_BIN="$PWD/target/dist/codex" cargo bench -p codex-cli --bench proxy
    CODEX_BENCH_BIN="$PWD/target/dist/codex" cargo bench -p codex-cli --bench held_call
    CODEX_BENCH_BIN="$PWD/target/dist/codex" cargo bench -p codex-cli --bench files

# What the protected-name guard costs a build: `cargo build` of this project
# unsandboxed, sandboxed without and with the guard (minutes per round).
bench-build: release
    CODEX_BENCH_BIN="$PWD/target/dist/codex" cargo bench -p codex-cli --bench build
