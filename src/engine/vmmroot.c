/* SPDX-License-Identifier: Apache-2.0 */
/* vmmroot.c - as root, the VMM's own filesystem root (launcher.h)
 *
 * Theory of operation: a launcher run by root (launcher.c), before it
 * gives root up, moves into a mount namespace of its own whose root is an
 * empty tmpfs holding only what QEMU reads by path:
 *
 *   /usr                     read-only: QEMU, its libraries, its firmware
 *   /bin /sbin /lib /lib64.. as on the host: links into /usr where /usr is
 *                            merged, read-only directories where it is not
 *   /etc/ld.so.cache         the dynamic loader's
 *   /dev/null /dev/urandom   as QEMU opens them; /dev/kvm when there is one
 *   /dev/fd                  a link to /proc/self/fd ($MSB_QEMU may be a
 *                            script, which its interpreter reads there)
 *   /proc                    QEMU opens the kernel, the initrd and RAM it is
 *                            handed as /proc/self/fd/N; the launcher opens
 *                            its VMM's /proc/PID/stat for the supervisor
 *   /sys/devices/system/{cpu,node}   read-only: host CPUs and NUMA nodes
 *
 * The host's root is then detached (pivot_root, then a lazy unmount of the
 * old root): nothing else of the host's filesystem is left to name, for
 * the launcher and for every QEMU it starts, on kernels without Landlock
 * as on those with it. Everything else QEMU uses reaches it as a
 * descriptor (qemu.c). The namespace goes with the last of its processes.
 *
 * This takes CAP_SYS_ADMIN, so it is done as root only, before the uid
 * changes, and before Landlock (which refuses mounts to the processes it
 * confines). A user's VMM relies on Landlock alone (docs/security.md).
 * Where root may not make mounts (a container without CAP_SYS_ADMIN, an
 * LSM that forbids them), the VMM goes without and the sandbox's log says
 * why: nothing has changed then but the launcher's own namespace.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launcher.h"

/* Where the new root is put together: any directory will do, since the
 * mount is made in the launcher's own namespace and the old root, with
 * this directory in it, is detached afterwards. */
#define STAGE "/tmp"

/* What a failed step says. */
static int fail(char *why, size_t n, const char *what, const char *path)
{
	int e = errno;

	snprintf(why, n, "the VMM's root: %s %s: %s", what, path, strerror(e));
	return -e;
}

#define RO (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define RO_EXEC (MS_RDONLY | MS_NOSUID | MS_NODEV)

/* bind() - @src (absolute) at STAGE@src with mount flags @flags (0: as
 * the host has it): a directory or a file, made as its mount point.
 * Return: 0, 1 when @src does not exist and @optional, or -errno. */
static int bind(const char *src, unsigned long flags, int optional,
		char *why, size_t n)
{
	char dst[PATH_MAX];
	struct stat st;

	if (stat(src, &st) < 0) {
		if (optional && errno == ENOENT)
			return 1;
		return fail(why, n, "cannot find", src);
	}
	snprintf(dst, sizeof(dst), STAGE "%s", src);
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return fail(why, n, "cannot make", dst);
	} else {
		int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			return fail(why, n, "cannot make", dst);
		close(fd);
	}
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail(why, n, "cannot bind", src);
	if (flags && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags,
			   NULL) < 0)
		return fail(why, n, "cannot restrict", dst);
	return 0;
}

/* dir() - an empty directory STAGE@path. */
static int dir(const char *path, char *why, size_t n)
{
	char dst[PATH_MAX];

	snprintf(dst, sizeof(dst), STAGE "%s", path);
	if (mkdir(dst, 0755) < 0 && errno != EEXIST)
		return fail(why, n, "cannot make", dst);
	return 0;
}

/* top() - /NAME as the host has it: a link (merged /usr) or a read-only
 * directory; nothing if it has none. */
static int top(const char *name, char *why, size_t n)
{
	char src[64], dst[PATH_MAX], to[PATH_MAX];
	struct stat st;
	ssize_t len;

	snprintf(src, sizeof(src), "/%s", name);
	if (lstat(src, &st) < 0)
		return errno == ENOENT ? 0 : fail(why, n, "cannot find", src);
	if (!S_ISLNK(st.st_mode))
		return S_ISDIR(st.st_mode) ? bind(src, RO_EXEC, 0, why, n) : 0;
	len = readlink(src, to, sizeof(to) - 1);
	if (len < 0)
		return fail(why, n, "cannot read", src);
	to[len] = '\0';
	snprintf(dst, sizeof(dst), STAGE "%s", src);
	if (symlink(to, dst) < 0)
		return fail(why, n, "cannot make", dst);
	return 0;
}

int msb_vmm_root(char *why, size_t n)
{
	static const char *const tops[] = { "bin", "sbin", "lib", "lib32",
					    "lib64", "libx32" };
	int r = 0;

	if (unshare(CLONE_NEWNS) < 0) {
		fail(why, n, "cannot make", "a mount namespace");
		return 1;
	}
	/* nothing done here reaches the host's namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fail(why, n, "cannot make private", "/");
		return 1;
	}
	if (mount("msb-vmm", STAGE, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755,size=64k") < 0) {
		fail(why, n, "cannot mount a tmpfs on", STAGE);
		return 1;
	}
	r = bind("/usr", RO_EXEC, 0, why, n);
	for (size_t i = 0; r >= 0 && i < sizeof(tops) / sizeof(tops[0]); i++)
		r = top(tops[i], why, n);
	if (r >= 0)
		r = dir("/etc", why, n);
	if (r >= 0)
		r = bind("/etc/ld.so.cache", RO, 1, why, n);
	if (r >= 0)
		r = dir("/dev", why, n);
	if (r >= 0)
		r = bind("/dev/null", 0, 0, why, n);
	if (r >= 0)
		r = bind("/dev/urandom", 0, 1, why, n);
	if (r >= 0)
		r = bind("/dev/kvm", 0, 1, why, n);
	if (r >= 0 && symlink("/proc/self/fd", STAGE "/dev/fd") < 0)
		r = fail(why, n, "cannot make", STAGE "/dev/fd");
	if (r >= 0)
		r = bind("/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, why, n);
	if (r >= 0)
		r = dir("/sys", why, n);
	if (r >= 0)
		r = dir("/sys/devices", why, n);
	if (r >= 0)
		r = dir("/sys/devices/system", why, n);
	if (r >= 0)
		r = bind("/sys/devices/system/cpu", RO, 1, why, n);
	if (r >= 0)
		r = bind("/sys/devices/system/node", RO, 1, why, n);
	if (r < 0) {
		/* the stage and what is bound there go; the host's root stays */
		umount2(STAGE, MNT_DETACH);
		return 1;
	}
	/* pivot_root(".", "."): the old root ends up stacked under the new
	 * one, and is then detached (pivot_root(2), NOTES). */
	if (chdir(STAGE) < 0)
		return fail(why, n, "cannot enter", STAGE);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail(why, n, "cannot pivot to", STAGE);
	if (umount2(".", MNT_DETACH) < 0)
		return fail(why, n, "cannot detach", "the host's root");
	if (chdir("/") < 0)
		return fail(why, n, "cannot enter", "/");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | RO, NULL) < 0)
		return fail(why, n, "cannot make read-only", "/");
	return 0;
}
