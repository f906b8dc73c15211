#!/usr/bin/env bash
# Fetches the bubblewrap sources pinned in third_party/bubblewrap.lock into
# third_party/bubblewrap/, for the codex-bwrap crate to build. Fails closed:
# the tarball's SHA-256 is checked before anything is unpacked, and on a
# mismatch nothing is left behind. Does nothing when the pinned sources are
# already in place. Safe to re-run.
#
# Usage: scripts/vendor-bwrap.sh [TARBALL]
#   TARBALL  use this local copy of the release tarball instead of
#            downloading it (it is checked against the same digest).
set -euo pipefail
cd "$(dirname "$0")/.."

lock=third_party/bubblewrap.lock
dest=third_party/bubblewrap
stamp="$dest/.codex-vendored"

lock_value() {
  local value
  value="$(sed -n "s/^$1 = \"\(.*\)\"\$/\1/p" "$lock")"
  if [ -z "$value" ]; then
    echo "vendor-bwrap: $lock has no '$1 = \"...\"' line" >&2
    exit 1
  fi
  printf '%s' "$value"
}

version="$(lock_value version)"
url="$(lock_value url)"
expected="$(lock_value sha256)"
if ! [[ "$expected" =~ ^[0-9a-f]{64}$ ]]; then
  echo "vendor-bwrap: sha256 in $lock is not 64 lower-case hex digits: $expected" >&2
  exit 1
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version $expected" ]; then
  echo "vendor-bwrap: bubblewrap $version already in $dest"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$work/bubblewrap.tar.xz"
if [ $# -ge 1 ]; then
  cp -- "$1" "$tarball"
else
  echo "vendor-bwrap: downloading bubblewrap $version from $url"
  if ! curl --fail --silent --show-error --location --retry 3 --output "$tarball" "$url"; then
    echo "vendor-bwrap: download of $url failed; pass a local copy of the tarball as the first argument" >&2
    exit 1
  fi
fi

actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$actual" != "$expected" ]; then
  echo "vendor-bwrap: SHA-256 mismatch for bubblewrap $version: expected $expected (from $lock), got $actual; nothing was unpacked" >&2
  exit 1
fi

mkdir "$work/unpacked"
tar -xJf "$tarball" -C "$work/unpacked"
top="$(find "$work/unpacked" -mindepth 1 -maxdepth 1)"
if [ "$(printf '%s\n' "$top" | wc -l)" -ne 1 ] || [ ! -f "$top/bubblewrap.c" ]; then
  echo "vendor-bwrap: the tarball does not hold a single bubblewrap source directory" >&2
  exit 1
fi
rm -rf "$dest"
mv "$top" "$dest"
echo "$version $expected" >"$stamp"
echo "vendor-bwrap: bubblewrap $version unpacked into $dest (SHA-256 $expected)"
