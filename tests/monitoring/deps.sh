#!/usr/bin/env bash
# Installs Debian's `prometheus` package (promtool and the Prometheus server)
# when either is missing. Idempotent and quiet when both are there; locked
# like scripts/deps.sh, whose lock it shares.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

have_both() {
    command -v promtool >/dev/null && { [ -x /usr/bin/prometheus ] || command -v prometheus >/dev/null; }
}
have_both && exit 0

exec 8>/tmp/log-capturer-deps.lock
flock 8
have_both && exit 0
echo "monitoring: installing prometheus" >&2
mkdir -p "$ROOT/target/bench"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus >"$ROOT/target/bench/apt-prometheus.log" 2>&1 \
    || { cat "$ROOT/target/bench/apt-prometheus.log" >&2; exit 1; }
