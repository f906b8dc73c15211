#!/usr/bin/env bash
# Builds the root filesystem the container tests run in, offline from any
# image registry: `debootstrap` of Debian 12 (minbase, with bubblewrap, git,
# python3, curl and a C compiler: what the sandbox's test suites run) from the Debian
# mirror this machine's apt already uses, with a uid-1000 user `dev`.
# Writes target/containers/debian12-PACKAGES.tar, named by its package list
# so a new list makes a new image, and does nothing when it exists. Needs
# root and the `debootstrap` package.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=bubblewrap,git,python3,ca-certificates,curl,gcc,libc6-dev
out="target/containers/debian12-$(echo "$packages" | sha256sum | cut -c1-12).tar"
if [ -s "$out" ]; then
  echo "container-image: $out exists"
  exit 0
fi

# The mirror of this machine's apt sources: the first URI of a .sources
# file that is not the security archive, else of sources.list.
mirror="$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | awk '{ print $2 }' | grep -v -- '-security' | head -n1 || true)"
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
  # The first http(s) address of a `deb` line (after any [options]) that
  # is not the security archive.
  mirror="$(grep -E '^deb[[:space:]]' /etc/apt/sources.list | grep -v -- '-security' \
    | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)"
fi
if [ -z "$mirror" ]; then
  echo "container-image: no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2
  exit 1
fi

mkdir -p target/containers
root="$(mktemp -d target/containers/rootfs.XXXXXX)"
trap 'rm -rf --one-file-system "$root"' EXIT
echo "container-image: debootstrap bookworm from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$packages" \
  bookworm "$root" "$mirror" > target/containers/debootstrap.log 2>&1 || {
  tail -n 20 target/containers/debootstrap.log >&2
  exit 1
}
chroot "$root" useradd -m -u 1000 -s /bin/bash dev
# What the tests mount: the binaries under test, and the directories they
# check from outside.
mkdir -p "$root/opt/codex" "$root/test"
tar -C "$root" -cf "$out.partial" .
mv "$out.partial" "$out"
# Older images go: the engines import the newest.
find target/containers -maxdepth 1 -name 'debian12*.tar' ! -path "$out" -delete
echo "container-image: wrote $out ($(du -h "$out" | cut -f1))"
