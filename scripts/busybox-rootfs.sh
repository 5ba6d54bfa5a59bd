#!/usr/bin/env bash
# Writes the test image's root filesystem as a tarball to $1 (when it is not
# there yet): Debian's static busybox with the applets the tests use. Every
# engine's test image (`docker import`, `podman import`) comes from it, so all
# engines run the same bytes. Needs busybox-static (scripts/bench.sh installs it).
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh OUT.tar}
[ -s "$out" ] && exit 0
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for tool in sh echo sleep seq yes head date cat printf tr dd true kill; do
    ln -sf busybox "$rootfs/bin/$tool"
done
# Written aside and renamed: a reader never sees half a tarball.
tar -C "$rootfs" -cf "$out.tmp.$$" .
mv "$out.tmp.$$" "$out"
