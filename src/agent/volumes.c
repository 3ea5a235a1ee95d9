/* SPDX-License-Identifier: Apache-2.0 */
/* volumes.c - mount the sandbox's virtio-fs volumes
 *
 * Each volume is a vhost-user-fs device served by the supervisor; its tag
 * names it. Read-only volumes are mounted MS_RDONLY for the guest's own
 * sake (tools see a read-only mount), but that is not the protection: the
 * host's FUSE session refuses every write, remount or not.
 *
 * Readahead: the guest's FUSE client starts each mount's readahead window
 * at 128 KiB whatever the server offers in INIT (it only ever lowers it),
 * so a sequential read of a cached file is one READ round trip per
 * 128 KiB. Under TCG a round trip costs far more than the data in it, so
 * each volume's window is raised to MSB_FUSE_MAX_WRITE's 1 MiB (the
 * largest READ the server answers, docs/filesystems.md): 8 times fewer
 * round trips for the same bytes. A guest user may set it back in
 * /sys/class/bdi/MAJ:MIN/read_ahead_kb.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "boot.h"
#include "volumes.h"

/* mkdirs() - @path and its parents, like mkdir -p. Return: 0 or -errno */
static int mkdirs(const char *path)
{
	char p[INIT_VOLPATH_MAX + 1];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir_p(p, 0755) < 0)
			return -errno;
		*s = '/';
	}
	return mkdir_p(p, 0755) < 0 ? -errno : 0;
}

/* MSB_FUSE_MAX_WRITE (src/fs/fuse.h), in KiB */
#define VOLUME_READAHEAD_KIB 1024

/* set_readahead() - the mount at @path reads ahead @kib KiB at a time.
 * Return: 0 or -errno */
static int set_readahead(const char *path, unsigned int kib)
{
	char p[64], v[16];
	struct stat st;
	int fd, n, r = 0;

	if (stat(path, &st) < 0)
		return -errno;
	snprintf(p, sizeof(p), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(v, sizeof(v), "%u", kib);
	if (write(fd, v, (size_t)n) != n)
		r = -errno;
	close(fd);
	return r;
}

int volumes_mount(const struct init_cfg *c, struct agent_err *e)
{
	for (unsigned int i = 0; i < c->nvol; i++) {
		const struct init_volume *v = &c->vol[i];
		int r = mkdirs(v->path);

		if (r < 0)
			return agent_fail(e, -r, "volume %s: mkdir", v->path);
		if (mount(v->tag, v->path, "virtiofs",
			  MS_NOSUID | MS_NODEV | (v->ro ? MS_RDONLY : 0), NULL) < 0)
			return agent_fail(e, errno, "volume %s: mount virtiofs tag %s",
					  v->path, v->tag);
		/* A slower volume is still a volume: say so, go on. */
		r = set_readahead(v->path, VOLUME_READAHEAD_KIB);
		if (r < 0)
			agent_log("volume %s: readahead left as it was: %s",
				  v->path, strerror(-r));
	}
	return 0;
}
