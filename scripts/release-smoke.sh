#!/usr/bin/env bash
# Smoke-tests a packaged release, as the release workflow does after
# packaging: DIR is what scripts/release-local.sh writes (a tarball and
# SHA256SUMS). Checks the checksum, unpacks, runs `codex sandbox doctor`,
# then a sandboxed command with no bwrap on PATH, so only the bundled one
# can run it, and checks its effects from outside.
set -euo pipefail
dir="$(cd "$1" && pwd)"

(cd "$dir" && sha256sum -c SHA256SUMS)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$dir"/*.tar.gz -C "$work"
codex="$(find "$work" -maxdepth 2 -name codex -type f)"
mkdir "$work/empty-path" "$work/ws" "$work/home" "$work/outside"
# Everything here is under /tmp, which :workspace makes writable by default.
printf '[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n' \
  > "$work/home/config.toml"

PATH="$work/empty-path" CODEX_HOME="$work/home" "$codex" sandbox doctor
(cd "$work/ws" && PATH="$work/empty-path" CODEX_HOME="$work/home" "$codex" sandbox -- /bin/sh -c \
  "echo in > in.txt; echo out > '$work/outside/out.txt' 2>/dev/null; exit 0")
if [ "$(cat "$work/ws/in.txt")" != in ] || [ -e "$work/outside/out.txt" ]; then
  echo "release-smoke: the packaged codex did not sandbox the command" >&2
  exit 1
fi
echo "release-smoke: $(basename "$codex") ran a sandboxed command with its bundled bwrap"
