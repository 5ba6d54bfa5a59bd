#!/usr/bin/env bash
# `make demo`: starts a few demo containers (chatty, idle, stderr, one long
# line, a TTY, one short-lived), runs the capturer through its C ABI for
# DEMO_SECONDS (30), then removes the containers.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/bench.sh"
IMAGE=log-capturer-test/busybox:latest
PREFIX="lct-$$-demo-"
SECONDS_TO_RUN=${DEMO_SECONDS:-30}
names=()
run() {
    local name="$PREFIX$1"; shift
    docker run -d --network none --label log-capturer-test=1 --name "$name" "$@" >/dev/null
    names+=("$name")
}
cleanup() { [ ${#names[@]} -eq 0 ] || docker rm -f "${names[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT

run chatty   $IMAGE sh -c 'i=0; while true; do i=$((i+1)); echo "chatty line $i"; sleep 0.5; done'
run idle     $IMAGE sleep 3600
run stderr   $IMAGE sh -c 'i=0; while true; do i=$((i+1)); echo "warning $i" >&2; sleep 2; done'
run longline $IMAGE sh -c 'head -c 40000 /dev/zero | tr "\0" x; echo; echo "after the long line"; sleep 3600'
run tty -t   $IMAGE sh -c 'echo "hello from a terminal"; sleep 3600'
# A short-lived container that starts while the capture runs: it is found by
# its start event and read to its end although it lives a few milliseconds.
names+=("${PREFIX}shortlived")
(sleep 3; docker run -d --network none --label log-capturer-test=1 --name "${PREFIX}shortlived" \
    $IMAGE sh -c 'seq 1 5' >/dev/null) &
cargo run --quiet --release --example demo -- "$PREFIX" "$SECONDS_TO_RUN"
wait
