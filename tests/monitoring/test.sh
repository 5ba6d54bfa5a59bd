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
# missing. Exits non-zero when anything fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
say() { echo "monitoring: $*" >&2; }

tests/monitoring/deps.sh
say "promtool check rules"
promtool check rules monitoring/prometheus/log-capturer.rules.yml
say "promtool test rules"
promtool test rules monitoring/prometheus/log-capturer.rules.test.yml
say "dashboard"
python3 tests/monitoring/check_dashboard.py
say "end-to-end"
tests/monitoring/e2e.sh
say "all passed"
