#!/usr/bin/env bash
# Packages a release the way .github/workflows/release.yml does, on this
# machine: builds the release layout (scripts/release.sh: codex, statically
# linked, with codex-resources/bwrap and that bwrap's SHA-256 compiled in),
# then writes
#
#   target/release-local/codex-<version>-<arch>-linux.tar.gz
#   target/release-local/SHA256SUMS
#
# The tarball unpacks to codex-<version>-<arch>-linux/{codex,codex-resources/bwrap}.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/release.sh
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
arch="$(uname -m)"
name="codex-${version}-${arch}-linux"
out=target/release-local
rm -rf "$out"
mkdir -p "$out/$name"
cp -r target/dist/codex target/dist/codex-resources "$out/$name/"
# Reproducible archive: fixed order, owner and times.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' \
  -C "$out" -czf "$out/$name.tar.gz" "$name"
rm -rf "${out:?}/$name"
(cd "$out" && sha256sum "$name.tar.gz" > SHA256SUMS)
echo "release-local: $out/$name.tar.gz"
cat "$out/SHA256SUMS"
