#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# mkinitramfs.sh - pack msb-agent (as /init) and the guest's kernel modules
# into an uncompressed newc cpio.
#
#   mkinitramfs.sh AGENT_BINARY MODULE_DIR_OR_EMPTY OUT.cpio
#
# MODULE_DIR holds *.ko and an "order" file (one name per line, dependencies
# first), as written by fetch-kernel.sh; pass "" for a kernel with every
# driver built in. The archive is uncompressed: under TCG the kernel's
# decompressor costs more boot time than reading a few more megabytes.
# No device nodes: the agent mounts devtmpfs first. Runs as any user:
# ownership is forced to root by cpio.
set -eu

usage() {
	echo "usage: mkinitramfs.sh AGENT_BINARY MODULE_DIR_OR_EMPTY OUT.cpio" >&2
	exit 2
}
[ $# -eq 3 ] || usage
agent=$1
mods=$2
out=$3

[ -f "$agent" ] || { echo "mkinitramfs: agent binary $agent not found" >&2; exit 1; }
command -v cpio >/dev/null || { echo "mkinitramfs: cpio not found; install cpio" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"
for d in dev proc sys run newroot tmp; do
	mkdir -m 0755 "$root/$d"
done
chmod 1777 "$root/tmp"
cp "$agent" "$root/init"
chmod 0755 "$root/init"

if [ -n "$mods" ]; then
	[ -f "$mods/order" ] || { echo "mkinitramfs: $mods/order missing" >&2; exit 1; }
	mkdir -p "$root/lib/modules"
	while IFS= read -r m; do
		[ -n "$m" ] || continue
		[ -f "$mods/$m" ] || { echo "mkinitramfs: module $mods/$m missing" >&2; exit 1; }
		cp "$mods/$m" "$root/lib/modules/$m"
		chmod 0644 "$root/lib/modules/$m"
		echo "$m" >> "$root/lib/modules/order"
	done < "$mods/order"
fi

# Fixed timestamps make the archive reproducible.
find "$root" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$out")"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
