/* SPDX-License-Identifier: Apache-2.0 */
/* modules.c - load the kernel modules shipped in the initramfs */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "modules.h"

static int load_one(const char *dir, const char *name)
{
	char path[512];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		agent_log("module %s: %s", name, strerror(-ret));
		return ret;
	}
	/* EEXIST: already loaded, or built into this kernel. */
	if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) {
		ret = -errno;
		agent_log("module %s: %s", name, strerror(errno));
	}
	close(fd);
	unlink(path);
	return ret;
}

int modules_load(const char *dir)
{
	char path[512], line[256];
	int loaded = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/order", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		if (strchr(line, '/')) {
			agent_log("module order: ignoring path %s", line);
			continue;
		}
		if (!load_one(dir, line))
			loaded++;
	}
	fclose(f);
	return loaded;
}
