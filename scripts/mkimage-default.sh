#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# mkimage-default.sh - build the built-in "default" image from Debian's
# busybox-static: OUT_DIR/layer.erofs and OUT_DIR/config.json.
#
#   mkimage-default.sh OUT_DIR
#
# Runs as any user. File ownership in the image: everything root, /home/user
# owned by user (1000:1000). mkfs.erofs 1.5 has no --tar and takes
# ownership from the files themselves, so as a non-root user the tree is
# chowned and packed inside one fakeroot session; without fakeroot it falls
# back to --all-root and /home/user is owned by root in the image.
set -eu

out=${1:?usage: mkimage-default.sh OUT_DIR}
busybox=/bin/busybox

[ -x "$busybox" ] || { echo "mkimage-default: $busybox missing; install busybox-static" >&2; exit 1; }
if ! "$busybox" --list-full >/dev/null 2>&1; then
	echo "mkimage-default: $busybox cannot list its applets; install busybox-static" >&2
	exit 1
fi
case $(file -L "$busybox" 2>/dev/null) in
*dynamically*) echo "mkimage-default: $busybox is not static; install busybox-static" >&2; exit 1 ;;
esac
command -v mkfs.erofs >/dev/null || { echo "mkimage-default: mkfs.erofs missing; install erofs-utils" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -m 0755 "$root"
for d in bin sbin usr usr/bin usr/sbin etc proc sys dev run home var; do
	mkdir -m 0755 "$root/$d"
done
mkdir -m 0700 "$root/root"
mkdir -m 0755 "$root/home/user"
mkdir -m 1777 "$root/tmp"

cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
"$busybox" --list-full | while IFS= read -r app; do
	[ "$app" = bin/busybox ] && continue
	mkdir -p "$root/$(dirname "$app")"
	ln -sf /bin/busybox "$root/$app"
done

cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
user:x:1000:
nogroup:x:65534:
GROUP
cat > "$root/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
: > "$root/etc/hostname"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/hosts" "$root/etc/hostname"

mkdir -p "$out"
# A fixed timestamp and UUID make the image reproducible (SOURCE_DATE_EPOCH
# wins for the timestamp).
epoch=${SOURCE_DATE_EPOCH:-0}
uuid=6d736200-0000-4000-8000-64656661756c
if [ "$(id -u)" = 0 ]; then
	pack="sh -c"
elif command -v fakeroot >/dev/null; then
	pack="fakeroot sh -c"
else
	pack=
	echo "mkimage-default: no fakeroot: /home/user will be owned by root" >&2
fi
if [ -n "$pack" ]; then
	$pack 'chown -hR 0:0 "$1" && chown 1000:1000 "$1/home/user" &&
		mkfs.erofs --quiet -T"$3" -U"$4" "$2" "$1"' sh "$root" "$out/layer.erofs.tmp" "$epoch" "$uuid"
else
	mkfs.erofs --quiet --all-root -T"$epoch" -U"$uuid" "$out/layer.erofs.tmp" "$root"
fi
mv "$out/layer.erofs.tmp" "$out/layer.erofs"

cat > "$out/config.json" <<'JSON'
{"name":"default","cmd":["/bin/sh"],"env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"workdir":"/"}
JSON
