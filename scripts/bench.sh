#!/usr/bin/env bash
# The test bench: a real Docker daemon and the busybox test image.
#
# Idempotent and quiet when everything is already there. Called by the tests,
# the demo and CI. Installs Debian's docker.io and busybox-static when missing,
# starts dockerd (no bridge, no iptables: containers run with --network none)
# when the socket does not answer, and builds the test image by `docker
# import` when it is absent.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${LOG_CAPTURER_BENCH_DIR:-$ROOT/target/bench}
SOCK=${LOG_CAPTURER_DOCKER_SOCK:-/var/run/docker.sock}
IMAGE=${LOG_CAPTURER_TEST_IMAGE:-log-capturer-test/busybox:latest}
DOCKER=/usr/bin/docker
mkdir -p "$STATE"
say() { echo "bench: $*" >&2; }
. "$ROOT/scripts/bench-lib.sh"
bench_lock

need_pkgs=()
[ -x /usr/sbin/dockerd ] || need_pkgs+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v curl >/dev/null || need_pkgs+=(curl)
install_missing "$STATE/apt.log" "${need_pkgs[@]}"

if ! answers "$SOCK"; then
    say "starting dockerd (log: $STATE/dockerd.log)"
    # containerd is started by dockerd itself when none runs.
    # 9>&-: the daemon must not inherit (and hold forever) the lock.
    setsid /usr/sbin/dockerd --bridge=none --iptables=false --ip6tables=false \
        --host "unix://$SOCK" >"$STATE/dockerd.log" 2>&1 < /dev/null 9>&- &
    echo $! >"$STATE/dockerd.pid"
    await_answer "$SOCK" dockerd "$STATE/dockerd.log"
fi

if ! $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
    say "building $IMAGE"
    "$ROOT/scripts/busybox-rootfs.sh" "$STATE/busybox-rootfs.tar"
    $DOCKER import -c 'ENV PATH=/bin' "$STATE/busybox-rootfs.tar" "$IMAGE" >/dev/null
fi
