#!/usr/bin/env bash
# Installs the library the way C libraries are installed (`make install`
# runs this; `make uninstall` runs it with --uninstall):
#
#   $LIBDIR/liblog_capturer.so.X.Y.Z        stripped, SONAME liblog_capturer.so.X, a .gnu_debuglink to:
#   $DEBUGDIR/liblog_capturer.so.X.Y.Z.debug   its debug info (gdb and addr2line find it there)
#   $LIBDIR/liblog_capturer.so.X   -> .so.X.Y.Z   what programs load
#   $LIBDIR/liblog_capturer.so     -> .so.X       what `-llog_capturer` links
#   $LIBDIR/liblog_capturer.a                 debug info stripped
#   $INCLUDEDIR/log_capturer.h
#   $PKGCONFIGDIR/log_capturer.pc             pkg-config --cflags --libs log_capturer
#   $PKGCONFIGDIR/log_capturer-static.pc      the same, linking the .a (cgo cannot ask for --static)
#
# Variables (environment): PREFIX (/usr/local), DESTDIR (staging root, empty),
# LIBDIR ($PREFIX/lib), INCLUDEDIR ($PREFIX/include), PKGCONFIGDIR
# ($LIBDIR/pkgconfig), DEBUGDIR ($LIBDIR/.debug), LDCONFIG (ldconfig).
# The version comes from Cargo.toml, the SONAME from the built library
# (build.rs); the two must agree. Builds the release library first (when
# cargo is on PATH; else installs the existing build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
PKGCONFIGDIR=${PKGCONFIGDIR:-$LIBDIR/pkgconfig}
DEBUGDIR=${DEBUGDIR:-$LIBDIR/.debug}
LDCONFIG=${LDCONFIG:-ldconfig}
# What a program linking liblog_capturer.a needs besides it (rustc
# --print native-static-libs, without -lc and -lgcc_s which cc adds).
STATIC_LIBS="-lutil -lrt -lpthread -lm -ldl"

say() { echo "install: $*" >&2; }
die() { say "$*"; exit 1; }
case "$PREFIX$LIBDIR$INCLUDEDIR$PKGCONFIGDIR$DEBUGDIR" in
    *[[:space:]]*) die "paths with spaces are not supported (pkg-config would split them)" ;;
esac
for dir in "$PREFIX" "$LIBDIR" "$INCLUDEDIR" "$PKGCONFIGDIR" "$DEBUGDIR"; do
    [ "${dir#/}" != "$dir" ] || die "$dir: PREFIX and the directories must be absolute paths"
done

# Cargo.toml's [package] version (no cargo needed: `sudo make install`
# after `make build` often runs without root having cargo on its PATH).
VERSION=$(awk '/^\[/ { package = ($0 == "[package]") } package && /^version *=/ { gsub(/[" ]/, ""); sub(/^version=/, ""); print; exit }' Cargo.toml)
[ -n "$VERSION" ] || die "no version in Cargo.toml's [package]"
MAJOR=${VERSION%%.*}
REAL=liblog_capturer.so.$VERSION
SONAME=liblog_capturer.so.$MAJOR
FILES=("$LIBDIR/$REAL" "$LIBDIR/$SONAME" "$LIBDIR/liblog_capturer.so" "$LIBDIR/liblog_capturer.a"
    "$DEBUGDIR/$REAL.debug" "$INCLUDEDIR/log_capturer.h" "$PKGCONFIGDIR/log_capturer.pc"
    "$PKGCONFIGDIR/log_capturer-static.pc")

if [ "${1:-}" = --uninstall ]; then
    for file in "${FILES[@]}"; do rm -f "$DESTDIR$file"; done
    rmdir "$DESTDIR$DEBUGDIR" 2>/dev/null || true
    say "removed liblog_capturer $VERSION from $DESTDIR$PREFIX"
    exit 0
fi

BUILT=target/release/liblog_capturer.so
if command -v cargo >/dev/null; then
    cargo build --release --quiet
elif [ ! -f "$BUILT" ] || [ ! -f target/release/liblog_capturer.a ]; then
    die "no cargo on PATH and no build in target/release: run \`make build\` first"
fi
built_soname=$(objdump -p "$BUILT" | awk '$1 == "SONAME" { print $2 }')
[ "$built_soname" = "$SONAME" ] || die "$BUILT has SONAME '$built_soname', want $SONAME (Cargo.toml's version $VERSION)"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
# The debug info goes to its own file; the library keeps a link to it
# (file name and CRC), so a debugger finds it next to the library.
objcopy --only-keep-debug "$BUILT" "$STAGE/$REAL.debug"
objcopy --strip-debug --strip-unneeded --add-gnu-debuglink="$STAGE/$REAL.debug" "$BUILT" "$STAGE/$REAL"
cp target/release/liblog_capturer.a "$STAGE/liblog_capturer.a"
strip --strip-debug "$STAGE/liblog_capturer.a"

relative() { # a directory under PREFIX as \${prefix}/…, for pkg-config --define-prefix
    case "$1" in "$PREFIX"/*) echo "\${prefix}${1#"$PREFIX"}" ;; *) echo "$1" ;; esac
}
pc() { # name libs [requires.private-style libs]
    cat <<EOF
prefix=$PREFIX
libdir=$(relative "$LIBDIR")
includedir=$(relative "$INCLUDEDIR")

Name: $1
Description: Follows the logs of every Docker container through the Docker Engine API (C ABI).
Version: $VERSION
Cflags: -I\${includedir}
Libs: $2
EOF
    [ -z "${3:-}" ] || echo "Libs.private: $3"
}
pc log_capturer "-L\${libdir} -llog_capturer" "$STATIC_LIBS" >"$STAGE/log_capturer.pc"
pc log_capturer-static "\${libdir}/liblog_capturer.a $STATIC_LIBS" >"$STAGE/log_capturer-static.pc"

install -d "$DESTDIR$LIBDIR" "$DESTDIR$INCLUDEDIR" "$DESTDIR$PKGCONFIGDIR" "$DESTDIR$DEBUGDIR"
install -m 0755 "$STAGE/$REAL" "$DESTDIR$LIBDIR/$REAL"
ln -sfn "$REAL" "$DESTDIR$LIBDIR/$SONAME"
ln -sfn "$SONAME" "$DESTDIR$LIBDIR/liblog_capturer.so"
install -m 0644 "$STAGE/liblog_capturer.a" "$DESTDIR$LIBDIR/liblog_capturer.a"
install -m 0644 "$STAGE/$REAL.debug" "$DESTDIR$DEBUGDIR/$REAL.debug"
install -m 0644 include/log_capturer.h "$DESTDIR$INCLUDEDIR/log_capturer.h"
install -m 0644 "$STAGE/log_capturer.pc" "$STAGE/log_capturer-static.pc" "$DESTDIR$PKGCONFIGDIR/"
say "installed liblog_capturer $VERSION ($SONAME) into $DESTDIR$PREFIX"

# The loader's cache knows a new library only after ldconfig; refresh it
# when the library went where the loader looks (not into a staging DESTDIR
# or a private prefix, which need LD_LIBRARY_PATH or an rpath).
if [ -z "$DESTDIR" ] && command -v "$LDCONFIG" >/dev/null; then
    searched=$("$LDCONFIG" -v -N -X 2>/dev/null || true)
    if grep -q "^$LIBDIR:" <<<"$searched"; then
        "$LDCONFIG" || say "$LDCONFIG failed: run it as root to load $SONAME from $LIBDIR"
    fi
fi
