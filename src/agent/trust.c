/* SPDX-License-Identifier: Apache-2.0 */
/* trust.c - the host's interception CA in the guest's trust store
 * (docs/secrets.md): the host swaps secrets in only inside TLS it
 * intercepts, which the guest's clients must trust */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"
#include "log.h"
#include "trust.h"

/* holds() - whether the file at @path already contains @pem. */
static int holds(const char *path, const char *pem)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	int found = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (64 << 20) &&
	    (buf = malloc((size_t)st.st_size))) {
		ssize_t r = read(fd, buf, (size_t)st.st_size);

		found = r > 0 && memmem(buf, (size_t)r, pem, strlen(pem));
		free(buf);
	}
	close(fd);
	return found;
}

int trust_install(const char *pem, struct agent_err *e)
{
	size_t n = strlen(pem);
	int fd;

	mkdir_p("/etc", 0755);
	mkdir_p("/etc/ssl", 0755);
	mkdir_p("/etc/ssl/certs", 0755);
	fd = open(TRUST_CA_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || agent_write_all(fd, pem, n) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		return agent_fail(e, err, "write " TRUST_CA_FILE);
	}
	close(fd);
	if (holds(TRUST_BUNDLE, pem))
		return 0;
	fd = open(TRUST_BUNDLE, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	/* a bundle that does not end with a line break gets one first */
	if (fd < 0 || agent_write_all(fd, "\n", 1) < 0 ||
	    agent_write_all(fd, pem, n) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		return agent_fail(e, err, "append to " TRUST_BUNDLE);
	}
	close(fd);
	return 0;
}
