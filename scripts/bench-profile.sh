#!/usr/bin/env bash
# Where the capturer's time goes while it drains a finished container of
# PROFILE_LINES (1,000,000) 100-byte lines: syscall counts (strace -c), CPU,
# context switches (perf stat) and a per-thread profile (perf record), for
# the capturer through its C ABI (`bench_run drain`) next to curl reading the
# same log, and next to a bare reader that reads in small pieces or, pausing
# 1 ms between reads, in large ones. Writes target/bench/profile/; prints a
# summary.
#
# Needs perf and strace. The container is named `lct-<pid>-profile-0` and
# removed on every exit path.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/target/bench/profile"
LINES=${PROFILE_LINES:-1000000}
SOCK=${LOG_CAPTURER_DOCKER_SOCK:-/var/run/docker.sock}
IMAGE=log-capturer-test/busybox:latest
NAME="lct-$$-profile-0"
CARGO=${CARGO:-cargo}
mkdir -p "$OUT"

cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in perf strace curl; do
    command -v "$tool" >/dev/null || { echo "bench-profile: $tool is needed" >&2; exit 2; }
done
# scripts/bench.sh takes a machine-wide lock; when dockerd answers and the
# test image is there, there is nothing for it to do.
if ! curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1 ||
    ! docker image inspect log-capturer-test/busybox:latest >/dev/null 2>&1; then
    "$ROOT/scripts/bench.sh"
fi
(cd "$ROOT" && $CARGO build --quiet --release --example bench_run)
BIN="$ROOT/target/release/examples/bench_run"
DOCKERD=$(cat /var/run/docker.pid 2>/dev/null || pgrep -x dockerd)

LINE=$(printf 'log-capturer bench line %075d' 0)
docker run -d --network none --label log-capturer-test=1 --name "$NAME" "$IMAGE" \
    sh -c "yes $LINE | head -n $LINES" >/dev/null
docker wait "$NAME" >/dev/null
URL="http://localhost/containers/$NAME/logs?follow=0&stdout=1&stderr=1&timestamps=1&tail=all"
DRAIN=("$BIN" drain --prefix "$NAME" --expect "$LINES" --timeout 300 --dockerd "$DOCKERD")

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== curl: strace -c"
strace -f -c -o "$OUT/curl.strace" curl -sS --unix-socket "$SOCK" "$URL" -o /dev/null
head -8 "$OUT/curl.strace"
echo "== capturer: strace -c (the engine's thread and the host's poll thread)"
strace -f -c -o "$OUT/capturer.strace" "${DRAIN[@]}" >/dev/null
head -8 "$OUT/capturer.strace"
# dockerd's CPU seconds (utime + stime).
dockerd_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$DOCKERD/stat"; }
echo "== curl: perf stat"
before=$(dockerd_cpu)
perf stat -e task-clock,context-switches -o "$OUT/curl.perfstat" \
    curl -sS --unix-socket "$SOCK" "$URL" -o /dev/null
echo "dockerd CPU: $(awk -v a="$before" -v b="$(dockerd_cpu)" 'BEGIN { printf "%.2f s", b - a }')"
grep -E "task-clock|context-switches|elapsed|user|sys" "$OUT/curl.perfstat"
echo "== capturer: perf stat"
perf stat -e task-clock,context-switches -o "$OUT/capturer.perfstat" "${DRAIN[@]}"
grep -E "task-clock|context-switches|elapsed|user|sys" "$OUT/capturer.perfstat"
echo "== capturer: perf stat, host pausing 1 ms after a batch under 1024 records"
perf stat -e task-clock,context-switches -o "$OUT/capturer-pause.perfstat" "${DRAIN[@]}" --poll-pause-ms 1
grep -E "task-clock|context-switches|elapsed|user|sys" "$OUT/capturer-pause.perfstat"
echo "== reference reader (bench_run rawread): blocking reads, 256 KiB buffer, no decoding"
RAW=("$BIN" rawread --socket "$SOCK" --dockerd "$DOCKERD"
    --path "/containers/$NAME/logs?follow=0&stdout=1&stderr=1&timestamps=1&tail=all")
"${RAW[@]}" | tee "$OUT/rawread.json"
echo "== reference reader, sleeping 1 ms after each read under 128 KiB (reads coalesce)"
"${RAW[@]}" --pause-us 1000 | tee "$OUT/rawread-pause.json"
echo "== capturer: perf record (per thread, then the top symbols)"
perf record -q -F 999 -g -o "$OUT/capturer.perf.data" "${DRAIN[@]}" >/dev/null 2>&1
perf report -i "$OUT/capturer.perf.data" --no-children --sort comm,dso --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -8
perf report -i "$OUT/capturer.perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -20
echo "profile files: $OUT"
