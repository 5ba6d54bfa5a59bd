#!/usr/bin/env bash
# The Python binding's tests, from a fresh checkout, the way users install
# it, everything in a scratch directory outside the checkout:
#   1. `pip wheel ./bindings/python` builds the Rust library (setuptools-rust,
#      cargo into target/python) and ships it in a py3-none-<platform> wheel;
#   2. a fresh venv gets `pip install ./bindings/python` and pytest, and
#      runs the test suite (against the real daemon) from the scratch
#      directory: the package and the library it loads are the installed ones;
#   3. a second, clean venv installs the wheel alone and reads a real
#      container's lines with it.
#
#   bindings/python/test.sh [pytest arguments…]
#
# Exits non-zero when anything fails, including when pytest collects no tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SCRATCH=$(mktemp -d /tmp/lct-py.XXXXXX)
CONTAINER="lct-$$-py-wheel"
cleanup() {
    docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
say() { echo "python: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

scripts/bench.sh
scripts/deps.sh
scripts/clean-containers.sh
# Neither the environment nor the checkout may hand the tests a library.
unset LOG_CAPTURER_LIB PYTHONPATH
PIP=(--disable-pip-version-check -q)

# 1. The wheel.
# (pip of the tools venv, target/venv, made by scripts/deps.sh)
"$ROOT/target/venv/bin/pip" wheel "${PIP[@]}" --no-deps -w "$SCRATCH/wheels" ./bindings/python
wheels=("$SCRATCH"/wheels/log_capturer-*.whl)
[ ${#wheels[@]} = 1 ] || fail "pip wheel made ${#wheels[@]} wheels"
WHEEL=${wheels[0]}
case "$(basename "$WHEEL")" in *-py3-none-linux_*.whl) ;; *) fail "wheel tag: $(basename "$WHEEL")" ;; esac
python3 -c 'import sys, zipfile; sys.exit("log_capturer/liblog_capturer.abi3.so" not in zipfile.ZipFile(sys.argv[1]).namelist())' \
    "$WHEEL" || fail "the wheel holds no library"
say "ok: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB) holds the library"

# 2. pip install ./bindings/python into a fresh venv; the suite runs from outside.
VENV="$SCRATCH/venv"
python3 -m venv "$VENV"
"$VENV/bin/pip" install "${PIP[@]}" ./bindings/python pytest
cd "$SCRATCH"
status=0
timeout 600 "$VENV/bin/pytest" -p no:cacheprovider "$ROOT/bindings/python/tests" "$@" || status=$?
case $status in
    0) ;;
    5) fail "pytest collected no tests" ;;
    124) fail "the tests did not finish within 10 minutes" ;;
    *) exit "$status" ;;
esac

# 3. The wheel alone, in a second clean venv, reading a real container.
python3 -m venv "$SCRATCH/clean-venv"
"$SCRATCH/clean-venv/bin/pip" install "${PIP[@]}" --no-index "$WHEEL"
docker run -d --network none --label log-capturer-test=1 --name "$CONTAINER" \
    log-capturer-test/busybox:latest sh -c 'seq 1 100; exec sleep 600' >/dev/null
timeout 90 "$SCRATCH/clean-venv/bin/python" - "$CONTAINER" <<'EOF' || fail "the clean venv's capture"
import sys, time
import log_capturer

lines = []
with log_capturer.Capture({"include_containers": [sys.argv[1]], "since": "all"}) as capture:
    deadline = time.monotonic() + 60
    while len(lines) < 100 and time.monotonic() < deadline:
        lines += [r.text for r in capture.poll(100, timeout=1.0)]
    stats = capture.stats()
if lines != [str(i) for i in range(1, 101)]:
    sys.exit(f"{len(lines)} lines, want seq 1 100")
if stats.records != 100 or stats.container(sys.argv[1]) is None:
    sys.exit(f"stats: {stats.records} records")
print(f"python: ok: a clean venv with the wheel alone reads seq 1 100 with {log_capturer.library_path()}", file=sys.stderr)
EOF
