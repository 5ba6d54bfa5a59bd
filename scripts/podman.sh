#!/usr/bin/env bash
# The Podman bench: Debian's podman serving the Docker-compatible API on its
# own socket, and the busybox test image, beside (never instead of) the
# Docker bench of scripts/bench.sh.
#
# Idempotent and quiet when everything is already there. Installs Debian's
# podman and busybox-static when missing; gives containers the rlimits this
# engine can grant (below); starts `podman system service` when the socket
# does not answer; imports the test image from the same tarball as Docker's.
# Podman's install and service leave dockerd, containerd, runc and the
# firewall alone (checked by hand: same binaries, same ruleset, same links);
# containers run with --network none, so netavark is never called.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${LOG_CAPTURER_BENCH_DIR:-$ROOT/target/bench}
SOCK=${LOG_CAPTURER_PODMAN_SOCK:-/run/podman/podman.sock}
IMAGE=${LOG_CAPTURER_TEST_IMAGE:-log-capturer-test/busybox:latest}
mkdir -p "$STATE"
say() { echo "podman: $*" >&2; }
. "$ROOT/scripts/bench-lib.sh"
bench_lock

need_pkgs=()
[ -x /usr/bin/podman ] || need_pkgs+=(podman)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v curl >/dev/null || need_pkgs+=(curl)
install_missing "$STATE/apt-podman.log" "${need_pkgs[@]}"

# The engine's defaults, pinned so every machine runs what was measured:
# - Rootful podman writes RLIMIT_NOFILE and RLIMIT_NPROC of 1048576 into
#   every container's spec unless told otherwise. Raising a hard limit needs
#   CAP_SYS_RESOURCE, which a sandboxed machine (this one) may lack even for
#   root; runc then fails every start ("error setting rlimit type 7:
#   operation not permitted"). Docker sets no rlimits by default. NPROC is
#   never enforced on uid 0 anyway.
# - The k8s-file log driver and the file events log: journald is the default
#   where a journal runs, and behaves differently (and is absent here).
# The podman CLI and the API (docker CLI) both take these defaults; the
# service reads them when it starts.
CONF=/etc/containers/containers.conf.d/log-capturer-test.conf
WANT_CONF='# Written by log-capturer scripts/podman.sh (the test bench); see there why.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
events_logger = "file"'
if [ "$(cat "$CONF" 2>/dev/null)" != "$WANT_CONF" ]; then
    mkdir -p "$(dirname "$CONF")"
    printf '%s\n' "$WANT_CONF" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    say "wrote $CONF (a service already running reads it only when it restarts)"
fi

# The service runs in a memory cgroup of its own, capped: podman 4.3.1
# joins the pieces of a line still being written by string concatenation for
# every `tail` read (quadratic: a 64 MiB line took 58 s and 1.2 GiB per
# request); a 1 GiB line grew it to 23 GiB and starved the whole machine,
# the Docker tests running beside it included. Over the cap the kernel kills
# the service alone; the next test's bench call starts it again.
MEMORY_CAP=${LOG_CAPTURER_PODMAN_MEMORY:-$((2 * 1024 * 1024 * 1024))}
into_capped_cgroup() {
    local v1=/sys/fs/cgroup/memory/log-capturer-podman v2=/sys/fs/cgroup/log-capturer-podman
    if [ -d /sys/fs/cgroup/memory ]; then
        mkdir -p "$v1" && echo "$MEMORY_CAP" >"$v1/memory.limit_in_bytes" && echo $BASHPID >"$v1/cgroup.procs"
    elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        mkdir -p "$v2" && echo "$MEMORY_CAP" >"$v2/memory.max" && echo $BASHPID >"$v2/cgroup.procs"
    else
        false
    fi
}

if ! answers "$SOCK"; then
    say "starting podman system service on $SOCK (log: $STATE/podman.log)"
    mkdir -p "$(dirname "$SOCK")"
    rm -f "$SOCK"
    # --time=0: never exits when idle. 9>&-: it must not hold the lock.
    (
        into_capped_cgroup 2>/dev/null || say "no memory cgroup to cap the service in; running it uncapped"
        exec setsid /usr/bin/podman system service --time=0 "unix://$SOCK" >"$STATE/podman.log" 2>&1 </dev/null 9>&-
    ) &
    echo $! >"$STATE/podman.pid"
    await_answer "$SOCK" podman "$STATE/podman.log"
fi

if ! timeout 60 podman image exists "$IMAGE"; then
    say "importing $IMAGE"
    "$ROOT/scripts/busybox-rootfs.sh" "$STATE/busybox-rootfs.tar"
    timeout 120 podman import -q -c 'ENV PATH=/bin' "$STATE/busybox-rootfs.tar" "$IMAGE" >/dev/null
fi
