#!/usr/bin/env bash
# `make bench` / `make bench-smoke`: the capturer measured next to its
# references (curl on the raw socket, `docker logs`) in one run; prints the
# table the README's "Performance" section shows. BENCH_SMOKE=1 (or
# --smoke) is the short CI run. Exits non-zero only when a figure could not
# be measured, never because a target was missed.
#
# Every container is named `lct-<pid of this script>-…`, carries the
# label log-capturer-test=1 and runs with --network none; they are removed
# on every exit path (and by scripts/clean-containers.sh if this process
# is killed outright).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX="lct-$$-"
CARGO=${CARGO:-cargo}
SOCK=${LOG_CAPTURER_DOCKER_SOCK:-/var/run/docker.sock}

cleanup() {
    local names
    names=$(docker ps -a --filter label=log-capturer-test=1 --filter "name=$PREFIX" \
        --format '{{.Names}}' 2>/dev/null | grep "^$PREFIX" || true)
    if [ -n "$names" ]; then
        # shellcheck disable=SC2086
        docker rm -f $names >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# scripts/bench.sh takes a machine-wide lock; when dockerd answers and the
# test image is there, there is nothing for it to do.
if ! curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1 ||
    ! docker image inspect log-capturer-test/busybox:latest >/dev/null 2>&1; then
    "$ROOT/scripts/bench.sh"
fi
(cd "$ROOT" && $CARGO build --quiet --release --example bench_run)
"$ROOT/target/release/examples/bench_run" run --prefix "$PREFIX" "$@"
