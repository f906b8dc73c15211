#!/usr/bin/env bash
# Runs the whole test suite with cargo-nextest as the invoking user. When
# that user is root, the compiled suite then runs again as an unprivileged
# user ($CODEX_TEST_USER, default `sandboxer`): bwrap behaves differently
# for uid 0 and for ordinary users, and both must hold.
#
# Root's home (rustup, cargo) is usually closed to other users, so the
# second pass runs from a nextest archive in a world-readable directory,
# with a plain PATH and no access to root's toolchain.
#
# The launcher tests run the release layout (target/dist: codex with its
# bundled bwrap and that bwrap's digest compiled in) and the packaged
# tarball (target/release-local), so both are built first.
#
# As root, the container tests also run: the release build in real Docker
# and Podman containers (scripts/container-image.sh makes the image offline,
# scripts/container-engines.sh starts the daemons); the unprivileged pass
# says it skips them. Last, the sandbox suites run inside Podman's default
# container as uid 1000.
#
# Each user runs the sandbox's effect suites (codex-linux-sandbox) three times:
# once as everything else (the default pipeline: the inner stage with the
# protected-name guard), and once more without the guard, where bwrap
# installs the seccomp filter itself (CODEX_TEST_NO_GUARD=1), with the
# bundled bwrap first on PATH, so both pipelines and both bwrap versions
# (the system's and ours) see every test. A third run passes --no-proc
# (CODEX_TEST_NO_PROC=1): the sandbox without a /proc of its own, as in a
# container that masks parts of /proc, where the guard's supervisor reads
# the command's calls through the outer stage's /proc. A fourth runs the
# guard's and the escape suites, and the legacy pipeline's own, under the
# legacy Landlock pipeline (CODEX_TEST_LEGACY=1), as in Docker's default
# container: no namespace, no mount, codex itself supervising the command.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/vendor-bwrap.sh
scripts/release-local.sh
# The container tests (codex-rs/cli/tests/containers.rs) need root: the
# image, made once and kept under target/containers, and the runtimes,
# started here and stopped on exit. Where they cannot be had, CI
# (CODEX_REQUIRE_SANDBOX=1) fails; elsewhere the tests say they skip.
if [ "$(id -u)" -eq 0 ]; then
  trap 'scripts/container-engines.sh stop' EXIT
  if scripts/container-image.sh && scripts/container-engines.sh start; then
    export CODEX_CONTAINER_TESTS=1
  elif [ "${CODEX_REQUIRE_SANDBOX:-}" = 1 ]; then
    echo "test: the container tests cannot run here (see above)" >&2
    exit 1
  else
    echo "test: the container tests cannot run here (see above); they will say they skip" >&2
  fi
fi
cargo nextest run --workspace --no-fail-fast
echo "test: the sandbox suites again, unguarded pipeline (bwrap --seccomp), bundled bwrap"
PATH="$PWD/target/dist/codex-resources:$PATH" CODEX_TEST_NO_GUARD=1 \
  cargo nextest run -p codex-linux-sandbox --no-fail-fast
echo "test: the sandbox suites again without a /proc of the sandbox's own (--no-proc, as in a container that masks /proc)"
CODEX_TEST_NO_PROC=1 cargo nextest run -p codex-linux-sandbox --no-fail-fast
legacy_suites="-E 'package(codex-linux-sandbox) & (binary(guard) | binary(escape) | binary(landlock))'"
echo "test: the guard's, the escape and the legacy suites under the legacy Landlock pipeline"
eval CODEX_TEST_LEGACY=1 cargo nextest run --no-fail-fast "$legacy_suites"

if [ "$(id -u)" -ne 0 ]; then
  exit 0
fi

user="${CODEX_TEST_USER:-sandboxer}"
if ! id "$user" >/dev/null 2>&1; then
  echo "test: running as root, but the unprivileged pass needs user '$user'; create it (useradd -m $user) or set CODEX_TEST_USER" >&2
  exit 1
fi
user_home="$(getent passwd "$user" | cut -d: -f6)"

# Not in /tmp: codex refuses to run from inside a writable root, and the
# suites make /tmp writable.
work="$(mktemp -d /var/tmp/codex-user-tests.XXXXXX)"
trap 'rm -rf "$work"; scripts/container-engines.sh stop' EXIT
mkdir "$work/src"
cargo nextest archive --workspace --archive-file "$work/tests.tar.zst"
tar --exclude=./target --exclude=./.git -cf - . | tar -xf - -C "$work/src"
cp -r target/dist "$work/dist"
cp -r target/release-local "$work/release"
# The real Codex, when installed, for the compatibility suite's side-by-side
# runs (tests/compat.rs reads CODEX_REFERENCE_CODEX).
reference=""
codex_reference=target/tools/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex
if [ -x "$codex_reference" ]; then
  cp "$codex_reference" "$work/codex-reference"
  reference="CODEX_REFERENCE_CODEX=$work/codex-reference"
fi
chmod -R a+rX "$work"
mkdir "$work/extracted" && chown "$user" "$work/extracted"

# Runs the archived suite as $user with extra environment $1 (PATH
# included) and extra nextest arguments $2.
as_user() {
  su "$user" -s /bin/sh -c "cd '$work/src' && exec env -i HOME='$user_home' CODEX_REQUIRE_SANDBOX='${CODEX_REQUIRE_SANDBOX:-}' CODEX_DIST_DIR='$work/dist' CODEX_RELEASE_DIR='$work/release' $reference $1 \
    cargo-nextest nextest run --archive-file '$work/tests.tar.zst' --workspace-remap '$work/src' --extract-to '$work/extracted' --extract-overwrite --no-fail-fast $2"
}

echo "test: running the suite again as unprivileged user '$user'"
as_user "PATH=/usr/local/bin:/usr/bin:/bin" ""
echo "test: the sandbox suites again as '$user', unguarded pipeline (bwrap --seccomp), bundled bwrap"
as_user "PATH=$work/dist/codex-resources:/usr/local/bin:/usr/bin:/bin CODEX_TEST_NO_GUARD=1" "-E 'package(codex-linux-sandbox)'"
echo "test: the sandbox suites again as '$user', without a /proc of the sandbox's own (--no-proc)"
as_user "PATH=/usr/local/bin:/usr/bin:/bin CODEX_TEST_NO_PROC=1" "-E 'package(codex-linux-sandbox)'"
echo "test: the guard's, the escape and the legacy suites again as '$user', under the legacy Landlock pipeline"
as_user "PATH=/usr/local/bin:/usr/bin:/bin CODEX_TEST_LEGACY=1" "$legacy_suites"

# The sandbox suites once more inside Podman's default container, as uid
# 1000: a masked /proc (the supervisor reads codex's), the container's
# seccomp profile and mounts, with every test run from the same archive.
if [ "${CODEX_CONTAINER_TESTS:-}" = 1 ]; then
  echo "test: the sandbox suites inside Podman's default container, as uid 1000"
  mkdir "$work/extracted-container" && chown 1000:1000 "$work/extracted-container"
  podman --cgroup-manager=cgroupfs --events-backend=file --runtime runc run --rm --network none \
    --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --user 1000 \
    -v "$(command -v cargo-nextest)":/usr/local/bin/cargo-nextest:ro -v "$work":/ct \
    -e CODEX_TEST_NO_PROC=1 -e CODEX_REQUIRE_SANDBOX="${CODEX_REQUIRE_SANDBOX:-}" -e HOME=/home/dev \
    -e CODEX_TEST_PROBES_DIR=/ct/src/codex-rs/linux-sandbox/tests/probes \
    -w /ct/src codex-test-debian12 \
    cargo-nextest nextest run --archive-file /ct/tests.tar.zst --workspace-remap /ct/src \
    --extract-to /ct/extracted-container --extract-overwrite --no-fail-fast -E 'package(codex-linux-sandbox)'
fi
