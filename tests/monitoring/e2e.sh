#!/usr/bin/env bash
# The monitoring end-to-end test (tests/monitoring/e2e.py): real busybox
# containers, liblog_capturer.so through the Python binding serving
# /metrics, and a real Prometheus on loopback that scrapes it, loads
# monitoring/prometheus/log-capturer.rules.yml and runs the dashboard's
# queries. From a fresh checkout: installs Prometheus when missing, builds
# the release library when it is out of date, and brings up the bench
# (dockerd + test image).
#
#   tests/monitoring/e2e.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

tests/monitoring/deps.sh
${CARGO:-cargo} build --release --lib --quiet
scripts/bench.sh
# Containers left by killed test processes (of any test) go first.
scripts/clean-containers.sh

# The real interpreter, not a shim: pyenv's runs Python as a child, so a
# signal sent to the shim would not reach the test's cleanup.
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
status=0
timeout 300 "$PYTHON" tests/monitoring/e2e.py || status=$?
case $status in
    0) ;;
    124) echo "monitoring: the end-to-end test did not finish within 5 minutes" >&2; exit 1 ;;
    *) exit "$status" ;;
esac
