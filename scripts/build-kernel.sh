#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# build-kernel.sh DEST - build the project's microVM kernel from Debian's
# linux-source-6.1 and kernel/microvm.config, and copy it to DEST/vmlinux-msb.
#
# The result is cached in ${MSB_CACHE:-~/.cache/microsandbox}/kernel-KEY,
# KEY covering the config, the build recipe below (RECIPE: bump it when the
# way of building changes) and the source package version, so a machine
# builds each config once (about 7 minutes on 2 cores).
set -eu

RECIPE=1
dest=${1:?usage: build-kernel.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${MSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microsandbox}
src=/usr/src/linux-source-6.1.tar.xz
if [ ! -r "$src" ]; then
	echo "build-kernel: $src is missing: sudo apt-get install linux-source-6.1" >&2
	exit 1
fi
ver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %s "$src")
hash=$( (cat "$here/kernel/microvm.config"; echo "recipe $RECIPE") | sha256sum | cut -c1-16)
key="$hash-$ver"
out="$cache/kernel-$key"
mkdir -p "$dest"
if [ -s "$out/vmlinux" ]; then
	cp "$out/vmlinux" "$dest/vmlinux-msb"
	echo "kernel: cached $out/vmlinux"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/msb-kernel.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "kernel: building from $src (once per config; ~7 min on 2 cores)"
tar -C "$work" -xf "$src"
cd "$work/linux-source-6.1"
make -s tinyconfig
scripts/kconfig/merge_config.sh -m -O . .config "$here/kernel/microvm.config" >/dev/null
make -s olddefconfig
# Every line of the fragment must have survived olddefconfig: a silently
# dropped option is a driver missing at boot.
missing=$(grep -E '^(CONFIG_[A-Z0-9_]+=.*|# CONFIG_[A-Z0-9_]+ is not set)$' \
	"$here/kernel/microvm.config" | while read -r line; do
	grep -qxF "$line" .config || echo "$line"
done)
if [ -n "$missing" ]; then
	echo "build-kernel: options not applied (missing dependencies?):" >&2
	echo "$missing" >&2
	exit 1
fi
make -s -j"$(nproc)" vmlinux
mkdir -p "$out"
cp vmlinux "$out/vmlinux.tmp"
cp .config "$out/config"
mv "$out/vmlinux.tmp" "$out/vmlinux"
cp "$out/vmlinux" "$dest/vmlinux-msb"
echo "kernel: built $out/vmlinux"
