#!/usr/bin/env bash
# The Fluent Bit input plugin's test, from a fresh checkout: builds the
# release library, brings up the bench (dockerd and the test image), installs
# Debian's gcc and msgpack-c when missing, then builds the C test host
# (tests/fluentbit/host.c) with AddressSanitizer and UndefinedBehaviorSanitizer
# and runs it against real containers. Any sanitizer report fails the test.
#
#   tests/fluentbit/test.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STATE="$ROOT/target/bench"
IMAGE=${LOG_CAPTURER_TEST_IMAGE:-log-capturer-test/busybox:latest}
mkdir -p "$STATE"

need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
dpkg -s libmsgpack-dev >/dev/null 2>&1 || need+=(libmsgpack-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "fluentbit test: installing ${need[*]}" >&2
    (
        flock 8
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${need[@]}" >"$STATE/apt-fluentbit.log" 2>&1 \
            || { cat "$STATE/apt-fluentbit.log" >&2; exit 1; }
    ) 8>/tmp/log-capturer-deps.lock
fi

cargo build --release
scripts/bench.sh

# The msgpack encoding against a real decoder (rmpv), and the properties.
cargo test --release --lib -- fluentbit:: config::

HOST="$ROOT/target/fluentbit-host"
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -g -O1 -fno-omit-frame-pointer \
    -fsanitize=address,undefined -o "$HOST" tests/fluentbit/host.c -lmsgpackc -ldl -lpthread

LOG="$ROOT/target/fluentbit-host.log"
status=0
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$HOST" "$ROOT/target/release/liblog_capturer.so" "$IMAGE" 2>"$LOG" || status=$?
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$LOG"; then
    echo "fluentbit test: sanitizer errors (see $LOG):" >&2
    grep -A20 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$LOG" | head -60 >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "fluentbit test: the host failed ($status); its log:" >&2
    tail -60 "$LOG" >&2
    exit "$status"
fi
echo "fluentbit test: passed, no sanitizer errors"
