/* SPDX-License-Identifier: Apache-2.0 */
/* unpack.c - libFuzzer target: image layers into src/image/unpack.c
 *
 * A layer is a tar stream from a registry (or a file given to msb load),
 * hostile in every header: names, link targets, types, modes, sizes,
 * whiteouts, pax records, and the compression around them. Each input is
 * such a stream, applied as msb-unpack applies a layer that is merged
 * with others: its deletions first (unpack_deletions), then its entries
 * (unpack_layer), onto a fresh directory "root" in a temporary directory
 * that also holds "outside/sentinel".
 *
 * Checks, beyond the sanitizers: afterwards the temporary directory holds
 * exactly "root" and "outside", and "outside" exactly the sentinel, with
 * its contents: nothing was made, changed or removed outside the root.
 *
 * Build and run: make build/fuzz/unpack && build/fuzz/unpack fuzz/corpus/unpack
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

#define SENTINEL "not to be touched\n"

static char top[64], root[96], sentinel[128];

static int chmod_dirs(const char *p, const struct stat *st, int type,
		      struct FTW *ftw)
{
	if (type == FTW_D)
		chmod(p, 0700);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int type,
		  struct FTW *ftw)
{
	remove(p);
	return 0;
}

static void rm_root(void)
{
	nftw(root, chmod_dirs, 16, FTW_PHYS);
	nftw(root, rm_one, 16, FTW_PHYS | FTW_DEPTH);
}

/* only_these() - @dir holds exactly @a and @b (or only @a if @b NULL) */
static int only_these(const char *dir, const char *a, const char *b)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0, ok = 1;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		if (strcmp(e->d_name, a) && (!b || strcmp(e->d_name, b)))
			ok = 0;
	}
	closedir(d);
	return ok && n == (b ? 2 : 1);
}

static void cleanup(void)
{
	char outside[96];

	rm_root();
	snprintf(outside, sizeof(outside), "%s/outside", top);
	unlink(sentinel);
	rmdir(outside);
	rmdir(top);
}

static void setup(void)
{
	char outside[96];
	int fd;

	/* tmpfs when there is one: faster, and nothing left on a disk */
	snprintf(top, sizeof(top), "%s/msb-fuzz-unpack-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(top))
		abort();
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", outside);
	if (mkdir(outside, 0755) < 0)
		abort();
	fd = open(sentinel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, SENTINEL, strlen(SENTINEL)) < 0)
		abort();
	close(fd);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct unpack_limits lim = { 2000, 8u << 20 };
	uint64_t entries = 0, bytes = 0;
	char why[512], buf[64], outside[96];
	int fd, rootfd;
	ssize_t got;

	if (!top[0])
		setup();
	fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n))
		abort();
	if (mkdir(root, 0755) < 0)
		abort();
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		abort();
	lseek(fd, 0, SEEK_SET);
	unpack_deletions(fd, rootfd, why, sizeof(why));
	lseek(fd, 0, SEEK_SET);
	unpack_layer(fd, rootfd, &lim, &entries, &bytes, why, sizeof(why));
	close(rootfd);
	close(fd);

	snprintf(outside, sizeof(outside), "%s/outside", top);
	if (!only_these(top, "root", "outside") ||
	    !only_these(outside, "sentinel", NULL))
		__builtin_trap();
	fd = open(sentinel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	got = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)strlen(SENTINEL) || memcmp(buf, SENTINEL, (size_t)got))
		__builtin_trap();
	rm_root();
	return 0;
}
