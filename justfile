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

# Check formatting and lints exactly as CI does.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# Run the whole test suite (as root, also again as an unprivileged user).
test:
    scripts/test.sh

# Build the release binary as shipped: statically linked (see README).
release:
    cargo rustc --release -p codex-cli --bin codex -- -C target-feature=+crt-static

# Time sandbox start-up (the shipped binary) against raw bwrap, then the
# start-up scan against rg --files and 100 masks against none, each in one run.
# (cargo bench rebuilds target/release/codex, so the static build is copied aside.)
bench: release
    cp target/release/codex target/codex-static
    CODEX_BENCH_BIN="$PWD/target/codex-static" cargo bench -p codex-cli --bench startup
    CODEX_BENCH_BIN="$PWD/target/codex-static" cargo bench -p codex-cli --bench scan
