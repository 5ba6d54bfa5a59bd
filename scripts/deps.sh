#!/usr/bin/env bash
# Installs what the tests need beyond the bench (scripts/bench.sh): Go,
# promtool, valgrind, a C compiler, pkg-config and binutils (make install),
# and a Python venv with pytest. Idempotent and quiet when all is there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE="$ROOT/target/bench"
mkdir -p "$STATE"
exec 8>/tmp/log-capturer-deps.lock
flock -w 600 8 || { echo "deps: another deps.sh held the lock for 10 minutes" >&2; exit 1; }

need=()
command -v go >/dev/null || need+=(golang-go)
command -v promtool >/dev/null || need+=(prometheus)
command -v valgrind >/dev/null || need+=(valgrind)
command -v gcc >/dev/null || need+=(gcc)
command -v curl >/dev/null || need+=(curl)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v objcopy >/dev/null || need+=(binutils)
# tests/clock.rs puts a capture's clock behind the daemon's with it.
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || need+=(faketime)
if [ ${#need[@]} -gt 0 ]; then
    echo "deps: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >"$STATE/apt-deps.log" 2>&1 \
        || { cat "$STATE/apt-deps.log" >&2; exit 1; }
fi

VENV="$ROOT/target/venv"
if [ ! -x "$VENV/bin/pytest" ]; then
    echo "deps: creating $VENV with pytest" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q pytest >"$STATE/pip.log" 2>&1 || { cat "$STATE/pip.log" >&2; exit 1; }
fi
