/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs.c - assemble the sandbox root (EROFS layers + ext4 upper) and enter it
 *
 * Disks are named by their virtio-blk serial (QEMU -device ...,serial=S),
 * which the kernel shows in /sys/block/vdX/serial: the host does not need to
 * know in which order the guest enumerates them.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "boot.h"
#include "rootfs.h"

/* Disks are normally probed by the time virtio_blk.ko is loaded; this only
 * covers slow or asynchronous probing. */
#define DISK_WAIT_MS 2000

static int read_serial(const char *disk, char *out, size_t cap)
{
	char path[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/block/%s/serial", disk);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, out, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	return 0;
}

/* find_disk() - /dev/vdX whose serial is @serial, waiting for probes */
static int find_disk(const char *serial, char *dev, size_t cap,
		     struct agent_err *e)
{
	uint64_t deadline = clock_mono_ms() + DISK_WAIT_MS;
	char got[64];

	for (;;) {
		struct dirent *de;
		DIR *d = opendir("/sys/block");

		while (d && (de = readdir(d))) {
			if (strncmp(de->d_name, "vd", 2))
				continue;
			if (read_serial(de->d_name, got, sizeof(got)) ||
			    strcmp(got, serial))
				continue;
			snprintf(dev, cap, "/dev/%s", de->d_name);
			if (access(dev, F_OK) == 0) {
				closedir(d);
				return 0;
			}
		}
		if (d)
			closedir(d);
		if (clock_mono_ms() >= deadline)
			return agent_fail(e, ENODEV,
					  "no virtio-blk disk with serial \"%s\"", serial);
		usleep(5000);
	}
}

/* Image layers are read mostly whole files at a time (executables,
 * libraries) and every virtio request is costly under emulation: larger
 * readahead means fewer, bigger requests. */
#define LAYER_READAHEAD_KB "1024"

static void set_readahead(const char *dev, const char *kb)
{
	char path[400];
	const char *name = strrchr(dev, '/');
	int fd;

	snprintf(path, sizeof(path), "/sys/block/%s/queue/read_ahead_kb",
		 name ? name + 1 : dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, kb, strlen(kb)) < 0)
		agent_log("readahead %s: %s", dev, strerror(errno));
	close(fd);
}

static int mount_disk(const char *serial, const char *dir, const char *type,
		      unsigned long flags, struct agent_err *e)
{
	char dev[300];
	int ret;

	ret = find_disk(serial, dev, sizeof(dev), e);
	if (ret)
		return ret;
	if (mkdir_p(dir, 0755) < 0)
		return agent_fail(e, errno, "mkdir %s", dir);
	if (flags & MS_RDONLY)
		set_readahead(dev, LAYER_READAHEAD_KB);
	if (mount(dev, dir, type, flags, NULL) < 0)
		return agent_fail(e, errno, "mount %s %s (%s) on %s", type,
				  dev, serial, dir);
	return 0;
}

static int mount_overlay(const struct init_cfg *c, struct agent_err *e)
{
	char opts[4096];
	size_t off;
	unsigned int i;

	if (mkdir_p(ROOTFS_NEW, 0755) < 0)
		return agent_fail(e, errno, "mkdir " ROOTFS_NEW);
	if (!c->nlayers) {
		/* overlayfs needs a lower layer: an image-less sandbox is just
		 * its upper directory. */
		if (mount(ROOTFS_UPPER "/upper", ROOTFS_NEW, NULL, MS_BIND, NULL) < 0)
			return agent_fail(e, errno, "bind upper on " ROOTFS_NEW);
		return 0;
	}
	off = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
	for (i = 0; i < c->nlayers; i++)
		off += (size_t)snprintf(opts + off, sizeof(opts) - off, "%s" ROOTFS_RUN "/layer%u",
				i ? ":" : "", i);
	snprintf(opts + off, sizeof(opts) - off,
		 ",upperdir=" ROOTFS_UPPER "/upper,workdir=" ROOTFS_UPPER "/work");
	if (mount("overlay", ROOTFS_NEW, "overlay", 0, opts) < 0)
		return agent_fail(e, errno, "mount overlay on " ROOTFS_NEW);
	return 0;
}

/* switch_root() - move the API filesystems into ROOTFS_NEW and make it "/"
 *
 * pivot_root() does not work on the initramfs (rootfs cannot be unmounted),
 * so do what switch_root(8) does: mount --move the new root over "/" and
 * chroot into it. The initramfs stays underneath, unreachable.
 */
static int switch_root(struct agent_err *e)
{
	static const char *const moves[] = { "/dev", "/proc", "/sys", "/run" };
	char target[64];
	unsigned int i;

	for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		snprintf(target, sizeof(target), ROOTFS_NEW "%s", moves[i]);
		if (mkdir_p(target, 0755) < 0)
			return agent_fail(e, errno, "mkdir %s", target);
		if (mount(moves[i], target, NULL, MS_MOVE, NULL) < 0)
			return agent_fail(e, errno, "move %s to %s", moves[i], target);
	}
	if (chdir(ROOTFS_NEW) < 0)
		return agent_fail(e, errno, "chdir " ROOTFS_NEW);
	if (mount(ROOTFS_NEW, "/", NULL, MS_MOVE, NULL) < 0)
		return agent_fail(e, errno, "move " ROOTFS_NEW " to /");
	if (chroot(".") < 0)
		return agent_fail(e, errno, "chroot");
	if (chdir("/") < 0)
		return agent_fail(e, errno, "chdir /");
	return 0;
}

int rootfs_setup(const struct init_cfg *c, struct agent_err *e)
{
	char dir[64];
	unsigned int i;
	int ret;

	if (!c->upper[0])
		return 0;
	if (mkdir_p(ROOTFS_RUN, 0700) < 0)
		return agent_fail(e, errno, "mkdir " ROOTFS_RUN);
	for (i = 0; i < c->nlayers; i++) {
		snprintf(dir, sizeof(dir), ROOTFS_RUN "/layer%u", i);
		ret = mount_disk(c->layer[i], dir, "erofs", MS_RDONLY, e);
		if (ret)
			return ret;
	}
	ret = mount_disk(c->upper, ROOTFS_UPPER, "ext4", MS_NOATIME, e);
	if (ret)
		return ret;
	if (mkdir_p(ROOTFS_UPPER "/upper", 0755) < 0 ||
	    mkdir_p(ROOTFS_UPPER "/work", 0755) < 0)
		return agent_fail(e, errno, "mkdir in the upper disk");
	ret = mount_overlay(c, e);
	if (ret)
		return ret;
	return switch_root(e);
}

void rootfs_unmount(void)
{
	/* Only meaningful when the root is the overlay; on the initramfs both
	 * calls fail harmlessly with EINVAL / ENOENT. */
	if (access(ROOTFS_UPPER "/upper", F_OK))
		return;
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		agent_log("remount / read-only: %s", strerror(errno));
	if (mount(NULL, ROOTFS_UPPER, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		agent_log("remount " ROOTFS_UPPER " read-only: %s", strerror(errno));
}
