/* SPDX-License-Identifier: Apache-2.0 */
/* boot.c - first mounts, the console, and the /dev of the final root */

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"

int mkdir_p(const char *path, unsigned int mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int mount_fs(const char *src, const char *dir, const char *type,
		    unsigned long flags, const char *data, struct agent_err *e)
{
	if (mkdir_p(dir, 0755) < 0)
		return agent_fail(e, errno, "mkdir %s", dir);
	/* EBUSY: already mounted (a kernel with CONFIG_DEVTMPFS_MOUNT that
	 * mounted /dev itself, for instance). */
	if (mount(src, dir, type, flags, data) < 0 && errno != EBUSY)
		return agent_fail(e, errno, "mount %s on %s", type, dir);
	return 0;
}

static void console_open(void)
{
	int fd, i;

	/* O_NOCTTY: PID 1 must not get a controlling terminal, or a hangup
	 * on the serial line would signal it. */
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	/* Without a console, still occupy 0-2: pipes created later for
	 * children must never land on them. */
	if (fd < 0)
		fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	for (i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

int boot_early(struct agent_err *e)
{
	const unsigned long nosuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int ret;

	ret = mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", e);
	if (ret)
		return ret;
	console_open();
	ret = mount_fs("proc", "/proc", "proc", nosuid, NULL, e);
	if (!ret)
		ret = mount_fs("sysfs", "/sys", "sysfs", nosuid, NULL, e);
	if (!ret)
		ret = mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV,
			       "mode=0755", e);
	return ret;
}

int boot_dev_extras(struct agent_err *e)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	unsigned int i;
	int ret;

	/* newinstance + ptmxmode=0666: a private devpts whose ptmx any user
	 * may open; /dev/ptmx from devtmpfs finds it through /dev/pts/ptmx
	 * (Linux >= 4.7 resolves "pts" next to the ptmx node). */
	ret = mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		       "newinstance,ptmxmode=0666,mode=0620", e);
	if (!ret)
		ret = mount_fs("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
			       "mode=1777", e);
	if (ret)
		return ret;
	/* devtmpfs does not provide these; shells and many tools expect them */
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			return agent_fail(e, errno, "symlink %s", links[i][1]);
	return 0;
}
