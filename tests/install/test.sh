#!/usr/bin/env bash
# `make install` as a user runs it, checked from a scratch directory outside
# the checkout:
#   1. into a temporary PREFIX: the versioned, stripped library with its
#      SONAME and links, the debug file found through .gnu_debuglink
#      (addr2line and gdb name the source line of capture_poll from the
#      stripped library), the static library, header and pkg-config files;
#   2. examples/c/tail.c copied out of the tree, built with
#      `pkg-config --cflags --libs log_capturer` (and the static variant),
#      reads a real container's `seq` through the installed library;
#   3. DESTDIR staging keeps the final PREFIX in the pkg-config files, and
#      builds against the staged tree with PKG_CONFIG_SYSROOT_DIR;
#   4. `make uninstall` removes every file it installed.
# Exits non-zero on the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=log-capturer-test/busybox:latest
PREFIX_NAME="lct-$$-install-"
SCRATCH=$(mktemp -d /tmp/lct-install.XXXXXX)
CONTAINERS=()

say() { echo "install-tests: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
cleanup() {
    if [ ${#CONTAINERS[@]} -gt 0 ]; then docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

"$ROOT/scripts/bench.sh"
"$ROOT/scripts/deps.sh"

VERSION=$(cd "$ROOT" && cargo pkgid)
VERSION=${VERSION##*[#@]}
MAJOR=${VERSION%%.*}

# 1. A temporary prefix.
PREFIX="$SCRATCH/prefix"
make -s -C "$ROOT" install PREFIX="$PREFIX"
LIB="$PREFIX/lib"
REAL="$LIB/liblog_capturer.so.$VERSION"
[ -f "$REAL" ] && [ ! -L "$REAL" ] || fail "$REAL is not a file"
[ "$(readlink "$LIB/liblog_capturer.so.$MAJOR")" = "liblog_capturer.so.$VERSION" ] || fail "liblog_capturer.so.$MAJOR link"
[ "$(readlink "$LIB/liblog_capturer.so")" = "liblog_capturer.so.$MAJOR" ] || fail "liblog_capturer.so link"
soname=$(objdump -p "$REAL" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "liblog_capturer.so.$MAJOR" ] || fail "SONAME '$soname', want liblog_capturer.so.$MAJOR"
! readelf -S "$REAL" | grep -q '\.debug_info' || fail "the installed library still holds .debug_info"
readelf -p .gnu_debuglink "$REAL" | grep -q "liblog_capturer.so.$VERSION.debug" || fail "no .gnu_debuglink to the debug file"
[ -f "$LIB/.debug/liblog_capturer.so.$VERSION.debug" ] || fail "no debug file"
[ -f "$LIB/liblog_capturer.a" ] && [ -f "$PREFIX/include/log_capturer.h" ] || fail "static library or header missing"
cmp -s "$PREFIX/include/log_capturer.h" "$ROOT/include/log_capturer.h" || fail "installed header differs from include/"
say "ok: $(du -k "$REAL" | cut -f1) KiB stripped library, SONAME $soname, links, debug file, .a, header"

addr=$(nm -D --defined-only "$REAL" | awk '$3 == "capture_poll" { print $1 }')
[ -n "$addr" ] || fail "capture_poll is not exported"
where=$(addr2line -e "$REAL" "0x$addr")
case "$where" in */src/ffi/*.rs:[0-9]*) ;; *) fail "addr2line on the stripped library: '$where'" ;; esac
if command -v gdb >/dev/null; then
    gdb -batch -ex "info line *0x$addr" "$REAL" 2>&1 | grep -q 'src/ffi/' || fail "gdb did not find the debug file"
fi
say "ok: the stripped library symbolises through its debug file (capture_poll at ${where##*/src/})"

export PKG_CONFIG_PATH="$LIB/pkgconfig"
[ "$(pkg-config --modversion log_capturer)" = "$VERSION" ] || fail "pkg-config --modversion"
say "ok: pkg-config log_capturer $VERSION: $(pkg-config --cflags --libs log_capturer)"

# 2. A C program outside the tree, built and run against the installed library.
mkdir "$SCRATCH/app"
cp "$ROOT/examples/c/tail.c" "$SCRATCH/app/"
cd "$SCRATCH/app"
# shellcheck disable=SC2046 # pkg-config's words are separate flags
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 tail.c -o tail $(pkg-config --cflags --libs log_capturer) -pthread
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 tail.c -o tail-static $(pkg-config --cflags --libs log_capturer-static) -pthread
readelf -d tail | grep -q "NEEDED.*\[liblog_capturer.so.$MAJOR\]" || fail "tail does not need liblog_capturer.so.$MAJOR"
! readelf -d tail-static | grep -q 'liblog_capturer' || fail "tail-static still needs the shared library"
# A private prefix is not where the loader looks: without LD_LIBRARY_PATH
# the program must fail to load (127) naming the SONAME, not find a copy.
status=0
env -u LD_LIBRARY_PATH ./tail --max-records nope >/dev/null 2>tail.err || status=$?
[ "$status" = 127 ] && grep -q "liblog_capturer.so.$MAJOR" tail.err || fail "tail without LD_LIBRARY_PATH: status $status: $(cat tail.err)"
LD_LIBRARY_PATH="$LIB" ldd ./tail | grep -q "liblog_capturer.so.$MAJOR => $LIB/" || fail "ldd: $(LD_LIBRARY_PATH="$LIB" ldd ./tail)"
say "ok: tail.c builds outside the tree with pkg-config (shared and static)"

name="${PREFIX_NAME}seq"
CONTAINERS+=("$name")
docker run -d --network none --label log-capturer-test=1 --name "$name" "$IMAGE" sh -c 'seq 1 300; exec sleep 600' >/dev/null
config="{\"include_containers\": [\"$name\"], \"since\": \"all\"}"
for program in tail tail-static; do
    LD_LIBRARY_PATH="$LIB" timeout 90 "./$program" --max-records 300 --exit-after-ms 60000 "$config" >"$program.jsonl" 2>"$program.err" ||
        { cat "$program.err" >&2; fail "$program exited with $?"; }
    python3 - "$program.jsonl" <<'EOF' || fail "$program: the container's lines"
import json, sys
lines = [json.loads(line)["message"] for line in open(sys.argv[1])]
want = [str(i) for i in range(1, 301)]
sys.exit(None if lines == want else f"{len(lines)} lines, want 1..300 once each in order")
EOF
done
say "ok: both read a real container's seq 1 300 exactly once, in order, from the installed library"
cd "$SCRATCH"

# 3. DESTDIR: staged under it, the pkg-config files still say the final prefix.
STAGE="$SCRATCH/stage"
make -s -C "$ROOT" install DESTDIR="$STAGE" PREFIX=/opt/log-capturer
staged_pc="$STAGE/opt/log-capturer/lib/pkgconfig/log_capturer.pc"
grep -qx 'prefix=/opt/log-capturer' "$staged_pc" || fail "staged pkg-config file: $(head -1 "$staged_pc")"
[ ! -e /opt/log-capturer ] || fail "a DESTDIR install wrote outside DESTDIR"
# shellcheck disable=SC2046
PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$(dirname "$staged_pc")" PKG_CONFIG_SYSROOT_DIR="$STAGE" \
    gcc -std=c11 -O2 "$ROOT/examples/c/tail.c" -o staged-tail $(PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$(dirname "$staged_pc")" \
    PKG_CONFIG_SYSROOT_DIR="$STAGE" pkg-config --cflags --libs log_capturer) -pthread
LD_LIBRARY_PATH="$STAGE/opt/log-capturer/lib" ./staged-tail '{"read_timeout": "-5s"}' 2>staged.err >/dev/null && fail "a refused config succeeded"
grep -q read_timeout staged.err || fail "staged tail: $(cat staged.err)"
say "ok: DESTDIR staging (prefix kept, builds with PKG_CONFIG_SYSROOT_DIR)"

# ldconfig refreshes the loader's cache only when the library went where the
# loader looks: a stand-in ldconfig that "searches" $SCRATCH/system/lib.
cat >"$SCRATCH/ldconfig" <<EOF
#!/bin/sh
if [ "\$*" = "-v -N -X" ]; then echo "$SCRATCH/system/lib: (from a test)"; exit 0; fi
echo "\$*" >>"$SCRATCH/ldconfig.calls"
EOF
chmod +x "$SCRATCH/ldconfig"
make -s -C "$ROOT" install PREFIX="$SCRATCH/private" LDCONFIG="$SCRATCH/ldconfig"
[ ! -e "$SCRATCH/ldconfig.calls" ] || fail "ldconfig ran for a prefix the loader does not search"
make -s -C "$ROOT" install PREFIX="$SCRATCH/system" LDCONFIG="$SCRATCH/ldconfig"
[ -e "$SCRATCH/ldconfig.calls" ] && [ -z "$(cat "$SCRATCH/ldconfig.calls")" ] ||
    fail "ldconfig did not run (without arguments) for a directory the loader searches"
make -s -C "$ROOT" uninstall PREFIX="$SCRATCH/private"
make -s -C "$ROOT" uninstall PREFIX="$SCRATCH/system"
say "ok: ldconfig runs only when the library went where the loader looks"

# 4. Uninstall.
make -s -C "$ROOT" uninstall PREFIX="$PREFIX"
make -s -C "$ROOT" uninstall DESTDIR="$STAGE" PREFIX=/opt/log-capturer
left=$(find "$PREFIX" "$STAGE" "$SCRATCH/private" "$SCRATCH/system" -type f -o -type l)
[ -z "$left" ] || fail "left after uninstall: $left"
say "ok: make uninstall removes every installed file"
say "all install checks passed"
