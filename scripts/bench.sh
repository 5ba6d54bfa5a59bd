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
# Test processes (and checkouts) call this at once; one at a time does the work.
exec 9>/tmp/log-capturer-bench.lock
flock -w 300 9 || { echo "bench: another bench.sh held the lock for 5 minutes" >&2; exit 1; }

say() { echo "bench: $*" >&2; }

need_pkgs=()
[ -x /usr/sbin/dockerd ] || need_pkgs+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v curl >/dev/null || need_pkgs+=(curl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need_pkgs[@]}" >"$STATE/apt.log" 2>&1 || { cat "$STATE/apt.log" >&2; exit 1; }
fi

ping_daemon() {
    curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1
}

if ! ping_daemon; then
    say "starting dockerd (log: $STATE/dockerd.log)"
    # containerd is started by dockerd itself when none runs.
    # 9>&-: the daemon must not inherit (and hold forever) the lock.
    setsid /usr/sbin/dockerd --bridge=none --iptables=false --ip6tables=false \
        --host "unix://$SOCK" >"$STATE/dockerd.log" 2>&1 < /dev/null 9>&- &
    echo $! >"$STATE/dockerd.pid"
    for _ in $(seq 1 120); do
        ping_daemon && break
        sleep 0.5
    done
    ping_daemon || { say "dockerd did not answer within 60 s"; tail -20 "$STATE/dockerd.log" >&2; exit 1; }
fi

if ! $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
    say "building $IMAGE"
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs/bin" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for tool in sh echo sleep seq yes head date cat printf tr dd true kill; do
        ln -sf busybox "$rootfs/bin/$tool"
    done
    tar -C "$rootfs" -cf "$STATE/busybox-rootfs.tar" .
    $DOCKER import -c 'ENV PATH=/bin' "$STATE/busybox-rootfs.tar" "$IMAGE" >/dev/null
fi
