#!/usr/bin/env bash
# The C tests, from a fresh checkout: builds the release library, brings up
# the bench (dockerd, the test image) and the tools, then
#   1. builds examples/c/tail.c and tests/c/abi_misuse.c with
#      -Wall -Wextra -Wpedantic -Werror (C11);
#   2. runs abi_misuse under AddressSanitizer + UBSan (LeakSanitizer on);
#   3. runs tail under the same against real containers: `seq 1 500` must
#      come out as JSON lines 1..500 exactly once each, an awkward line must
#      be escaped right, and SIGINT/SIGTERM must stop it cleanly.
# When LeakSanitizer cannot run here, the same runs go through
# `valgrind --leak-check=full --error-exitcode=1` instead (a non-ASan build).
# Exits non-zero on the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT="$ROOT/target/c-tests"
mkdir -p "$OUT"
IMAGE=log-capturer-test/busybox:latest
PREFIX="lct-$$-ctest-"
PASSED=0

say() { echo "c-tests: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
pass() { PASSED=$((PASSED + 1)); say "ok: $*"; }

CONTAINERS=()
TAILS=()
cleanup() {
    for pid in "${TAILS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ ${#CONTAINERS[@]} -gt 0 ]; then docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# `make build`: the cargo build plus its SONAME link, which programs linked
# against target/release load.
make -s build >/dev/null
scripts/bench.sh
scripts/deps.sh

LIB="$ROOT/target/release"
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -I"$ROOT/include")
LDFLAGS=(-L"$LIB" -llog_capturer -Wl,-rpath,"$LIB" -pthread)
SAN=(-O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

# 1. Strict builds.
for src in examples/c/tail.c tests/c/abi_misuse.c; do
    gcc "${CFLAGS[@]}" -O2 "$src" -o "$OUT/$(basename "$src" .c)" "${LDFLAGS[@]}"
done
pass "tail.c and abi_misuse.c build with -Wall -Wextra -Wpedantic -Werror"

# Can LeakSanitizer run here (it needs ptrace-like access to the process)?
# C_TESTS_CHECKER=valgrind forces the fallback.
printf '#include <stdlib.h>\nvoid *kept;\nint main(void){ kept = malloc(7); kept = 0; return 0; }\n' >"$OUT/leak.c"
gcc -fsanitize=address -g "$OUT/leak.c" -o "$OUT/leak"
if [ "${C_TESTS_CHECKER:-}" = valgrind ]; then
    lsan=no
elif ASAN_OPTIONS=detect_leaks=1 "$OUT/leak" 2>"$OUT/leak.log"; then
    lsan=no
elif grep -q "detected memory leaks" "$OUT/leak.log"; then
    lsan=yes
else
    lsan=no
fi

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=86:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"
if [ "$lsan" = yes ]; then
    say "checking with AddressSanitizer + LeakSanitizer + UBSan"
    for src in examples/c/tail.c tests/c/abi_misuse.c; do
        gcc "${CFLAGS[@]}" "${SAN[@]}" "$src" -o "$OUT/$(basename "$src" .c)-checked" "${LDFLAGS[@]}"
    done
    CHECKER=()
else
    say "checking with valgrind --leak-check=full (LeakSanitizer cannot run here, or C_TESTS_CHECKER=valgrind)"
    for src in examples/c/tail.c tests/c/abi_misuse.c; do
        cp "$OUT/$(basename "$src" .c)" "$OUT/$(basename "$src" .c)-checked"
    done
    CHECKER=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=86)
fi
checked() { "${CHECKER[@]}" "$@"; }

# A sanitizer's report in a log is a failure even when the exit status hid it.
no_reports() {
    if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|definitely lost: [1-9]|Invalid (read|write|free)" "$1" >/dev/null; then
        cat "$1" >&2
        fail "$2: sanitizer report"
    fi
}

# 2. ABI misuse.
if ! checked "$OUT/abi_misuse-checked" >"$OUT/abi_misuse.out" 2>"$OUT/abi_misuse.err"; then
    cat "$OUT/abi_misuse.out" "$OUT/abi_misuse.err" >&2
    fail "abi_misuse"
fi
no_reports "$OUT/abi_misuse.err" abi_misuse
pass "abi_misuse: $(tail -1 "$OUT/abi_misuse.out")"

# 3. tail against real containers.
run_container() { # name script [docker options…]
    local name="$PREFIX$1" script="$2"
    shift 2
    CONTAINERS+=("$name")
    docker run -d --network none --label log-capturer-test=1 --name "$name" "$@" "$IMAGE" sh -c "$script" >/dev/null
}

wait_exit() { # pid seconds what: waits for a background tail; its status in $STATUS
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "$3: still running after $2 s"
        sleep 0.1
    done
    STATUS=0
    wait "$pid" || STATUS=$?
}

wait_lines() { # file count seconds what
    local deadline=$((SECONDS + $3))
    until [ "$(wc -l <"$1")" -ge "$2" ]; do
        [ $SECONDS -lt $deadline ] || fail "$4: $(wc -l <"$1") lines after $3 s, want $2"
        sleep 0.1
    done
}

# The gate: a container running before each tail starts, read from its
# beginning ("since": "all"). Its line in tail's output shows the capture has
# subscribed to the daemon's events, so containers started from then on
# cannot be missed however slowly tail starts (valgrind). See the report on
# the library's start-up window.
run_container gate 'echo ready; exec sleep 600'
start_tail() { # name [tail options…] CONFIG_JSON: tail in the background, $TAIL_PID
    local name=$1
    shift
    "${CHECKER[@]}" "$OUT/tail-checked" "$@" >"$OUT/$name.jsonl" 2>"$OUT/$name.err" &
    TAIL_PID=$!
    TAILS+=("$TAIL_PID")
    wait_lines "$OUT/$name.jsonl" 1 60 "$name: the gate's line"
}

config="{\"include_containers\": [\"${PREFIX}gate\", \"${PREFIX}seq\", \"${PREFIX}esc\"], \"since\": \"all\"}"
start_tail tail --max-records 504 --exit-after-ms 90000 --stats "$config"
tail_pid=$TAIL_PID
run_container seq 'seq 1 500'
# Quote, backslash, tab, a control byte, an invalid byte, 2-, 3- and 4-byte UTF-8.
run_container esc "printf 'q\"b\\\\\\\\t\\tc\\001i\\377e\\303\\251\\342\\202\\254\\360\\237\\230\\200\\n'; echo err >&2; echo 'a  <b> & c'"
wait_exit "$tail_pid" 120 "tail --max-records 504"
[ "$STATUS" = 0 ] || { cat "$OUT/tail.err" >&2; fail "tail exited with $STATUS"; }
no_reports "$OUT/tail.err" tail

python3 - "$OUT/tail.jsonl" "$PREFIX" <<'EOF'
import json, sys, datetime
path, prefix = sys.argv[1], sys.argv[2]
lines = open(path, "rb").read().decode("utf-8").splitlines()
records = [json.loads(line) for line in lines]
def of(name, stream):
    return [r["message"] for r in records if r["container_name"] == prefix + name and r["stream"] == stream]
seq = of("seq", "stdout")
want = [str(i) for i in range(1, 501)]
if seq != want:
    dup = sorted({m for m in seq if seq.count(m) > 1})[:5]
    missing = [m for m in want if m not in set(seq)][:5]
    sys.exit(f"seq: {len(seq)} lines, want 500; repeated {dup}; missing {missing}")
esc = of("esc", "stdout")
want_esc = ['q"b\\\\t\tc\x01i\ufffde\u00e9\u20ac\U0001F600', "a  <b> & c"]
if esc != want_esc:
    sys.exit(f"esc: {esc!r}, want {want_esc!r}")
if of("esc", "stderr") != ["err"]:
    sys.exit(f"esc stderr: {of('esc', 'stderr')!r}")
if of("gate", "stdout") != ["ready"]:
    sys.exit(f"gate: {of('gate', 'stdout')!r}")
if len(records) != 504:
    sys.exit(f"{len(records)} records, want 504")
for r in records:
    ns = r["timestamp_ns"]
    t = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if r["time"] != f"{t}.{ns % 10**9:09d}Z":
        sys.exit(f"time {r['time']} does not match timestamp_ns {ns}")
    if r["container_image"] != "log-capturer-test/busybox:latest" or len(r["container_id"]) != 64:
        sys.exit(f"record {r}")
    if r["partial"] or r["truncated"]:
        sys.exit(f"flags on {r}")
EOF
pass "tail: seq 1 500 printed exactly once in order, escaping right, under the checker"
grep -q '"containers"' "$OUT/tail.err" || fail "tail --stats printed no statistics"
pass "tail --stats prints the statistics"

# Signals: tail runs with no limit until SIGINT / SIGTERM stops it.
for sig in INT TERM; do
    start_tail "tail-$sig" "{\"include_containers\": [\"${PREFIX}gate\", \"${PREFIX}sig$sig\"], \"since\": \"all\"}"
    tail_pid=$TAIL_PID
    run_container "sig$sig" 'seq 1 50'
    wait_lines "$OUT/tail-$sig.jsonl" 51 60 "tail before SIG$sig"
    kill -"$sig" "$tail_pid"
    wait_exit "$tail_pid" 10 "tail after SIG$sig"
    [ "$STATUS" = 0 ] || { cat "$OUT/tail-$sig.err" >&2; fail "tail exited with $STATUS after SIG$sig"; }
    no_reports "$OUT/tail-$sig.err" "tail SIG$sig"
    [ "$(wc -l <"$OUT/tail-$sig.jsonl")" = 51 ] || fail "tail SIG$sig: $(wc -l <"$OUT/tail-$sig.jsonl") lines, want 51"
    pass "tail stops cleanly on SIG$sig"
done

# Exit after a time; a refused config; a usage error.
start=$SECONDS
checked "$OUT/tail-checked" --exit-after-ms 300 '{"include_containers": ["lct-no-such-container-"]}' \
    >"$OUT/tail-idle.jsonl" 2>"$OUT/tail-idle.err" || fail "tail --exit-after-ms exited with $?"
[ $((SECONDS - start)) -le 5 ] || fail "tail --exit-after-ms 300 took $((SECONDS - start)) s"
[ ! -s "$OUT/tail-idle.jsonl" ] || fail "tail --exit-after-ms printed records of no container"
no_reports "$OUT/tail-idle.err" "tail --exit-after-ms"
status=0
checked "$OUT/tail-checked" '{"read_timeout": "-5s"}' >/dev/null 2>"$OUT/tail-bad.err" || status=$?
[ "$status" = 1 ] && grep -q read_timeout "$OUT/tail-bad.err" || { cat "$OUT/tail-bad.err" >&2; fail "bad config: status $status"; }
no_reports "$OUT/tail-bad.err" "tail with a bad config"
status=0
"$OUT/tail" --max-records nope >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "usage error: status $status, want 2"
pass "tail --exit-after-ms, a refused config (names the key), a usage error"

say "all $PASSED C checks passed"
