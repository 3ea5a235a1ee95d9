#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fetch-kernel.sh - unpack Debian's cloud kernel and the few modules the guest
# needs into DEST, without installing it on the host.
#
#   DEST/vmlinuz-cloud         the kernel
#   DEST/modules-cloud/*.ko    modules the agent loads, in DEST/modules-cloud/order
#   DEST/release-cloud         its `uname -r`
#
# The .deb is cached in ${MSB_CACHE:-~/.cache/microsandbox} so a machine
# downloads it once.
set -eu

dest=${1:?usage: fetch-kernel.sh DEST}
cache=${MSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microsandbox}
mkdir -p "$dest" "$cache"

# Modules in load order; each one's dependencies come before it.
mods="virtio_ring virtio virtio_mmio virtio_console virtio_blk failover
net_failover virtio_net fuse virtiofs overlay libcrc32c erofs"

pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$pkg" ]; then
	echo "fetch-kernel: cannot resolve linux-image-cloud-amd64; run 'apt-get update' first" >&2
	exit 1
fi
deb=$(ls "$cache"/"$pkg"_*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
	(cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) || {
		echo "fetch-kernel: 'apt-get download $pkg' failed; check your Debian package sources" >&2
		exit 1
	}
	deb=$(ls "$cache"/"$pkg"_*.deb | head -n 1)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
release=$(ls "$tmp/lib/modules")
cp "$tmp/boot/vmlinuz-$release" "$dest/vmlinuz-cloud"
rm -rf "$dest/modules-cloud"
mkdir -p "$dest/modules-cloud"
: > "$dest/modules-cloud/order"
for m in $mods; do
	f=$(find "$tmp/lib/modules/$release" -name "$m.ko*" | head -n 1)
	if [ -z "$f" ]; then
		echo "fetch-kernel: module $m missing from $pkg" >&2
		exit 1
	fi
	case "$f" in
	*.ko.xz) xz -dc "$f" > "$dest/modules-cloud/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" > "$dest/modules-cloud/$m.ko" ;;
	*) cp "$f" "$dest/modules-cloud/$m.ko" ;;
	esac
	echo "$m.ko" >> "$dest/modules-cloud/order"
done
echo "$release" > "$dest/release-cloud"
echo "kernel $release -> $dest"
