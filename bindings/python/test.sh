#!/usr/bin/env bash
# The Python binding's tests, from a fresh checkout: builds the release
# library if it is missing, brings up the bench (dockerd + test image) and
# the venv (target/venv with pytest), installs this package into the venv,
# and runs pytest against the installed package and the real daemon.
#
#   bindings/python/test.sh [pytest arguments…]
#
# Exits non-zero when anything fails, including when pytest collects no tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

if [ ! -f target/release/liblog_capturer.so ]; then
    echo "python: building the release library" >&2
    cargo build --release
fi
scripts/bench.sh
scripts/deps.sh
scripts/clean-containers.sh

VENV="$ROOT/target/venv"
# A local directory is rebuilt and reinstalled each time (--force-reinstall:
# the version does not change between edits). Build isolation fetches
# setuptools once; pip caches it.
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./bindings/python

# Run from the repository root with the venv's pytest so that the installed
# package, not bindings/python/log_capturer, is the one imported; it finds
# target/release/liblog_capturer.so by walking up from the venv.
status=0
timeout 600 "$VENV/bin/pytest" -p no:cacheprovider bindings/python/tests "$@" || status=$?
case $status in
    0) ;;
    5) echo "python: pytest collected no tests" >&2; exit 1 ;;
    124) echo "python: the tests did not finish within 10 minutes" >&2; exit 1 ;;
    *) exit "$status" ;;
esac
