#!/usr/bin/env bash
# The Go binding's tests, from a fresh checkout: brings up the bench
# (dockerd, the test image) and the tools (Debian's Go, pkg-config), installs
# the library into a prefix outside the checkout (`make install`, the way users get it;
# the binding finds it with pkg-config), then
#   1. gofmt, go vet (shared and static) and `go test -race` against the
#      real daemon, plus a static-library test run;
#   2. examples/go/tail built both ways and run once;
#   3. a fresh module in the scratch directory, outside the checkout (its
#      own go.mod, a `replace` to the binding), built against the installed
#      library (shared and -tags logcapturer_static), reading a real
#      container's lines.
# Standard library only: GOPROXY=off, nothing is fetched. Exits non-zero on
# the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export GOPROXY=off GOFLAGS= CGO_ENABLED=1
OUT="$ROOT/target/go-tests"
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /tmp/lct-go.XXXXXX)
IMAGE=log-capturer-test/busybox:latest
CONTAINERS=()
cleanup() {
    if [ ${#CONTAINERS[@]} -gt 0 ]; then docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

say() { echo "go-tests: $*" >&2; }

scripts/bench.sh
scripts/deps.sh
say "$(go version)"
# The prefix keeps its path from run to run (one per checkout, outside it):
# the go command caches a cgo package without the flags pkg-config gave,
# so a package built against a prefix since removed would not link.
PREFIX="/tmp/lct-go-prefix-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)"
rm -rf "$PREFIX"
make -s install PREFIX="$PREFIX"
# A private prefix: pkg-config and the loader are told where it is.
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" LD_LIBRARY_PATH="$PREFIX/lib"

# 1. The binding's own suite.
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

# 2. The example.
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

# 3. A module of a user's, outside the checkout.
MODULE="$SCRATCH/app"
mkdir -p "$MODULE"
cat >"$MODULE/go.mod" <<EOF
module example.com/lctapp

go 1.19

require github.com/log-capturer/log-capturer/bindings/go v0.0.0

replace github.com/log-capturer/log-capturer/bindings/go => $ROOT/bindings/go
EOF
cat >"$MODULE/main.go" <<'EOF'
// Reads the lines of the container named in os.Args[1] and prints them.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	logcapturer "github.com/log-capturer/log-capturer/bindings/go"
)

func main() {
	capture, err := logcapturer.Start(logcapturer.Config{IncludeContainers: []string{os.Args[1]}, Since: "all"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer capture.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for read := 0; read < 100; {
		records, err := capture.Poll(ctx, 100-read)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, r := range records {
			fmt.Println(string(r.Message))
		}
		read += len(records)
	}
}
EOF
name="lct-$$-goapp"
CONTAINERS+=("$name")
docker run -d --network none --label log-capturer-test=1 --name "$name" "$IMAGE" sh -c 'seq 1 100; exec sleep 600' >/dev/null
seq 1 100 >"$SCRATCH/want"
for tags in "" logcapturer_static; do
    (cd "$MODULE" && go build -tags "$tags" -o "$SCRATCH/app-bin" .)
    needs=$(readelf -d "$SCRATCH/app-bin" | grep -c 'NEEDED.*liblog_capturer' || true)
    [ "$needs" = "$([ -z "$tags" ] && echo 1 || echo 0)" ] || { say "app (tags '$tags') links liblog_capturer $needs times"; exit 1; }
    (cd "$SCRATCH" && timeout 90 ./app-bin "$name" >"$SCRATCH/got") || { say "app (tags '$tags') failed"; exit 1; }
    cmp -s "$SCRATCH/want" "$SCRATCH/got" || { say "app (tags '$tags') printed $(wc -l <"$SCRATCH/got") lines, want seq 1 100"; exit 1; }
done
say "a module outside the checkout builds against the installed library (pkg-config, shared and static) and reads a container"
say "all Go checks passed"
