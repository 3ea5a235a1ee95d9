/* SPDX-License-Identifier: Apache-2.0 */
/* volumes.c - mount the sandbox's virtio-fs volumes
 *
 * Each volume is a vhost-user-fs device served by the supervisor; its tag
 * names it. Read-only volumes are mounted MS_RDONLY for the guest's own
 * sake (tools see a read-only mount), but that is not the protection: the
 * host's FUSE session refuses every write, remount or not.
 */

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

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
	}
	return 0;
}
