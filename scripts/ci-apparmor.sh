#!/usr/bin/env bash
# Lets bwrap create user namespaces where AppArmor restricts them (Ubuntu
# 23.10 and later, kernel.apparmor_restrict_unprivileged_userns=1), the way
# `codex sandbox doctor` recommends: an unconfined profile allowing `userns`
# for the system bwrap, and one for the bundled bwrap of a codex build
# (codex-resources/bwrap anywhere). Does nothing where nothing is restricted.
# Run as root (the GitHub workflows do, on their Ubuntu runners).
set -euo pipefail

restricted="$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns 2>/dev/null || echo 0)"
if [ "$restricted" != 1 ]; then
  echo "ci-apparmor: user namespaces are not restricted by AppArmor here; nothing to do"
  exit 0
fi
cat > /etc/apparmor.d/codex-bwrap <<'PROFILE'
abi <abi/4.0>,
include <tunables/global>

profile bwrap /usr/bin/bwrap flags=(unconfined) {
  userns,
}

profile codex-bundled-bwrap /**/codex-resources/bwrap flags=(unconfined) {
  userns,
}
PROFILE
apparmor_parser -r /etc/apparmor.d/codex-bwrap
echo "ci-apparmor: loaded /etc/apparmor.d/codex-bwrap"
