#!/usr/bin/env bash
# Every test of the monitoring assets, from a fresh checkout:
#
#   1. promtool check rules   monitoring/prometheus/log-capturer.rules.yml
#   2. promtool test rules    monitoring/prometheus/log-capturer.rules.test.yml
#   3. the dashboard's structure, and every query parsed by promtool
#      (tests/monitoring/check_dashboard.py)
#   4. the end-to-end test (tests/monitoring/e2e.sh)
#
#   tests/monitoring/test.sh
#
# Installs Debian's prometheus package when promtool or the server is
# missing. Runs every step even when one fails, ends with
# "monitoring: N passed, N failed", and exits non-zero when any failed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

tests/monitoring/deps.sh

passed=0
failed=()
step() {
    local name=$1
    shift
    echo "monitoring: $name" >&2
    if "$@"; then
        passed=$((passed + 1))
    else
        failed+=("$name")
    fi
}
step "promtool check rules" promtool check rules monitoring/prometheus/log-capturer.rules.yml
step "promtool test rules" promtool test rules monitoring/prometheus/log-capturer.rules.test.yml
step "dashboard" python3 tests/monitoring/check_dashboard.py
step "end-to-end" tests/monitoring/e2e.sh

if [ ${#failed[@]} -gt 0 ]; then
    echo "monitoring: failed: ${failed[*]}" >&2
fi
echo "monitoring: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
