#!/usr/bin/env bash
# The Go binding's tests, from a fresh checkout: builds the release library,
# brings up the bench (dockerd, the test image) and the tools (Debian's Go),
# then runs gofmt, go vet and `go test -race` against the real daemon, builds
# examples/go/tail both ways (shared and static library) and runs it once.
# Standard library only: GOPROXY=off, nothing is fetched. Exits non-zero on
# the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export GOPROXY=off GOFLAGS= CGO_ENABLED=1
OUT="$ROOT/target/go-tests"
mkdir -p "$OUT"

say() { echo "go-tests: $*" >&2; }

cargo build --release --quiet
scripts/bench.sh
scripts/deps.sh
say "$(go version)"

for dir in bindings/go examples/go; do
    unformatted=$(cd "$dir" && gofmt -l .)
    [ -z "$unformatted" ] || { say "not gofmt-clean: $unformatted"; exit 1; }
    (cd "$dir" && go vet ./... && go vet -tags logcapturer_static ./...)
done
say "gofmt and go vet clean"

(cd bindings/go && go test -race -count=1 -timeout 5m -v ./...) 2>&1 | tee "$OUT/go-test.log" |
    grep -E '^(--- |FAIL|ok|PASS|panic)|_test.go:' || true
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || { say "go test failed (log: $OUT/go-test.log)"; exit 1; }
say "go test -race: $(grep -c '^--- PASS' "$OUT/go-test.log") tests passed"

# The static build links liblog_capturer.a: a quick check that it works too.
(cd bindings/go && go test -count=1 -tags logcapturer_static -run 'TestVersion|TestNilAndMisuse|TestStopWakesBlockedPolls' ./... >"$OUT/go-test-static.log" 2>&1) ||
    { cat "$OUT/go-test-static.log" >&2; say "static-library tests failed"; exit 1; }
say "go test -tags logcapturer_static: ok"

(cd examples/go && go build -o "$OUT/tail" ./tail && go build -tags logcapturer_static -o "$OUT/tail-static" ./tail)
for tail in "$OUT/tail" "$OUT/tail-static"; do
    "$tail" -exit-after 300ms -stats '{"include_containers": ["lct-no-such-container-"]}' >"$OUT/tail.out" 2>"$OUT/tail.err" ||
        { cat "$OUT/tail.err" >&2; say "$tail failed"; exit 1; }
    grep -q '"containers"' "$OUT/tail.err" || { say "$tail -stats printed no statistics"; exit 1; }
    status=0
    "$tail" '{"read_timeout": "-5s"}' 2>"$OUT/tail.err" || status=$?
    [ "$status" = 1 ] && grep -q read_timeout "$OUT/tail.err" || { say "$tail with a bad config: status $status"; exit 1; }
done
say "examples/go/tail builds (shared and static) and runs"
say "all Go checks passed"
