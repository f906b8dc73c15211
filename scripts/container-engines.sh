#!/usr/bin/env bash
# Starts or stops the Docker engine the container tests use, on a machine
# without a service manager (CI): `start` runs containerd and dockerd in the
# background (their logs and PIDs under target/containers/engines), waits
# until `docker info` answers, and imports the test image
# (scripts/container-image.sh) into Docker and Podman where it is missing;
# `stop` ends the daemons by the PIDs recorded at start. Podman needs no
# daemon. Needs root, Debian's docker.io and podman.
set -euo pipefail
cd "$(dirname "$0")/.."

state="$PWD/target/containers/engines"
mkdir -p "$state"

image=codex-test-debian12

# Imports the newest image tarball under $image into both runtimes, unless
# that very tarball (its name, labelled on the image) is there already.
import_image() {
  local tar source
  tar="$(find target/containers -maxdepth 1 -name 'debian12*.tar' | head -n1)"
  if [ -z "$tar" ]; then
    echo "container-engines: no image tarball; run scripts/container-image.sh" >&2
    exit 1
  fi
  source="$(basename "$tar")"
  if [ "$(docker image inspect -f '{{ index .Config.Labels "codex.source" }}' "$image" 2>/dev/null)" != "$source" ]; then
    docker import --change "LABEL codex.source=$source" "$tar" "$image" >/dev/null
  fi
  if [ "$(podman image inspect -f '{{ index .Labels "codex.source" }}' "$image" 2>/dev/null)" != "$source" ]; then
    podman import --change "LABEL codex.source=$source" "$tar" "$image" >/dev/null
  fi
  echo "container-engines: $image ($source) is in docker and podman"
}

start() {
  start_docker
  import_image
}

start_docker() {
  if docker info >/dev/null 2>&1; then
    echo "container-engines: docker already answers"
    return
  fi
  if ! pgrep -x containerd >/dev/null; then
    containerd > "$state/containerd.log" 2>&1 &
    echo $! > "$state/containerd.pid"
  fi
  for _ in $(seq 1 100); do
    [ -S /run/containerd/containerd.sock ] && break
    sleep 0.1
  done
  if [ ! -S /run/containerd/containerd.sock ]; then
    echo "container-engines: containerd did not come up; its log:" >&2
    tail -n 20 "$state/containerd.log" >&2
    exit 1
  fi
  # No bridge, no iptables: the tests run with --network none.
  dockerd --containerd=/run/containerd/containerd.sock --bridge=none \
    --iptables=false --ip-masq=false > "$state/dockerd.log" 2>&1 &
  echo $! > "$state/dockerd.pid"
  for _ in $(seq 1 300); do
    if docker info >/dev/null 2>&1; then
      echo "container-engines: docker is up"
      return
    fi
    sleep 0.1
  done
  echo "container-engines: dockerd did not come up; its log:" >&2
  tail -n 20 "$state/dockerd.log" >&2
  exit 1
}

stop() {
  for daemon in dockerd containerd; do
    if [ -s "$state/$daemon.pid" ]; then
      pid="$(cat "$state/$daemon.pid")"
      # Only the daemon started here, not whatever has its PID since.
      if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$daemon" ]; then
        kill "$pid" 2>/dev/null || true
      fi
      rm -f "$state/$daemon.pid"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
