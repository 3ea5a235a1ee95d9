#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# build-erofs-utils.sh DEST - mkfs.erofs of erofs-utils >= 1.8 at DEST, built
# from Debian's source package (a newer release's: Debian 12 ships 1.5).
#
# 1.7 added `mkfs.erofs --tar`, which builds an image straight from a tar
# stream: msb-unpack then converts a layer without writing its files out
# (docs/performance.md, "Image pull"). Without it (this script failed, or
# DEST is removed) msb-unpack unpacks into a directory and runs the system's
# mkfs.erofs, as before: slower, nothing else changes.
#
# The source is Debian 13's (trixie) upstream tarball from deb.debian.org,
# pinned: checked against the SHA-256 its Sources index lists (bump VERSION
# and SHA256 together when the archive drops it). Built once and
# cached in ${MSB_CACHE:-~/.cache/microsandbox}/erofs-utils-VERSION (about
# 30 s on 2 cores). Needs autoconf, automake, libtool, pkg-config, uuid-dev.
set -eu

VERSION=1.8.6
SHA256=5b221dc3fd6d151425b30534ede46fb7a90dc233a8659cba0372796b0a066547
dest=${1:?usage: build-erofs-utils.sh DEST}
case "$dest" in /*) ;; *) dest="$PWD/$dest" ;; esac
cache=${MSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microsandbox}
out="$cache/erofs-utils-$VERSION"
mirror=${MSB_DEBIAN_MIRROR:-http://deb.debian.org/debian}

install_it() {
	mkdir -p "$(dirname "$dest")"
	cp "$out/mkfs.erofs" "$dest.tmp"
	mv "$dest.tmp" "$dest"
}
if [ -x "$out/mkfs.erofs" ]; then
	install_it
	exit 0
fi
for t in autoreconf libtoolize pkg-config curl; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "build-erofs-utils: $t missing: sudo apt-get install autoconf automake libtool pkg-config uuid-dev curl" >&2
		exit 1
	}
done
work=$(mktemp -d "${TMPDIR:-/tmp}/msb-erofs.XXXXXX")
trap 'rm -rf "$work"' EXIT
tarball="erofs-utils_$VERSION.orig.tar.gz"
curl -fsS --retry 2 --connect-timeout 20 -o "$work/$tarball" \
	"$mirror/pool/main/e/erofs-utils/$tarball" || {
	echo "build-erofs-utils: cannot download $tarball from $mirror" >&2
	exit 1
}
got=$(sha256sum "$work/$tarball" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
	echo "build-erofs-utils: $tarball has SHA-256 $got, not $SHA256: refused" >&2
	exit 1
fi
tar -C "$work" -xzf "$work/$tarball"
cd "$work/erofs-utils-$VERSION"
# Only what mkfs.erofs --tar needs: no FUSE, no compressors beyond zlib
# (layers arrive decompressed), one thread.
./autogen.sh >"$work/log" 2>&1 &&
	./configure --disable-fuse --disable-multithreading --without-selinux \
		--without-libdeflate --without-libzstd --without-qpl \
		--without-xxhash --with-zlib >>"$work/log" 2>&1 &&
	make -j"$(nproc)" -C lib >>"$work/log" 2>&1 &&
	make -j"$(nproc)" -C mkfs >>"$work/log" 2>&1 || {
	tail -20 "$work/log" >&2
	echo "build-erofs-utils: the build failed (log above)" >&2
	exit 1
}
mkdir -p "$out"
cp mkfs/mkfs.erofs "$out/mkfs.erofs.tmp"
mv "$out/mkfs.erofs.tmp" "$out/mkfs.erofs"
install_it
echo "erofs-utils: built $out/mkfs.erofs"
