/* SPDX-License-Identifier: Apache-2.0 */
/* msb-unpack.c - the helper that turns layer archives into an EROFS image
 *
 *   msb-unpack OUT.erofs TMPDIR [sha256:DIFFID=]LAYER...
 *
 * Checks that each LAYER decompresses to its DIFFID when one is given,
 * unpacks each LAYER (bottom first) into a fresh directory under TMPDIR
 * (unpack.c: sanitised, whiteouts made overlayfs ones), packs it with
 * mkfs.erofs into OUT.erofs, and removes the directory. A separate process
 * so that a hostile archive meets libarchive away from the caller, and so
 * that an ordinary user can run it under fakeroot(1): the owners, device
 * nodes and xattrs it fakes are seen by mkfs.erofs, its child in the same
 * fakeroot session. Prints one line saying what was wrong on failure and
 * exits 1, or 3 when that was a full disk.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unpack.h"
#include "util.h"

static uint64_t env_limit(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	n = strtoull(v, NULL, 10);
	return n && n < dflt ? n : dflt;
}

static const char *short_name(const char *blob)
{
	const char *b = strrchr(blob, '/');

	return b ? b + 1 : blob;
}

#define EXIT_NOSPACE 3

/* layer_arg() - split "sha256:HEX=PATH" into @diff_id ("" if absent) and
 * the returned PATH. */
static const char *layer_arg(const char *arg, char diff_id[65])
{
	diff_id[0] = '\0';
	if (strncmp(arg, "sha256:", 7) || strlen(arg) < 7 + 64 + 1 ||
	    arg[7 + 64] != '=')
		return arg;
	memcpy(diff_id, arg + 7, 64);
	diff_id[64] = '\0';
	return arg + 7 + 64 + 1;
}

/* check_diff_id() - the layer in @fd must decompress to @want. */
static int check_diff_id(int fd, const char *want, char *why, size_t n)
{
	char got[65];

	if (unpack_diff_id(fd, got, why, n) < 0)
		return -1;
	if (strcmp(got, want)) {
		snprintf(why, n,
			 "it decompresses to sha256:%.12s but the image config "
			 "says its diff_id is sha256:%.12s: the image is "
			 "corrupt or tampered (refused)",
			 got, want);
		return -1;
	}
	return lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

/* almost_full() - is the filesystem of @dir out of space (mkfs.erofs says
 * only that it failed)? */
static int almost_full(const char *dir)
{
	struct statvfs s;

	return statvfs(dir, &s) == 0 &&
	       (uint64_t)s.f_bavail * s.f_frsize < (1u << 20);
}

static int mkfs(const char *out, const char *dir)
{
	char *argv[] = { "mkfs.erofs", "--quiet", "-x1", (char *)out,
			 (char *)dir, NULL };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "msb-unpack: mkfs.erofs not found: install "
				"erofs-utils\n");
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct unpack_limits lim = {
		env_limit("MSB_LAYER_MAX_ENTRIES", UNPACK_MAX_ENTRIES),
		env_limit("MSB_LAYER_MAX_BYTES", UNPACK_MAX_BYTES),
	};
	uint64_t entries = 0, bytes = 0;
	char dir[PATH_MAX], why[1024] = "", diff_id[65];
	int rootfd, rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: msb-unpack OUT.erofs TMPDIR "
				"[sha256:DIFFID=]LAYER...\n");
		return 2;
	}
	umask(022);
	snprintf(dir, sizeof(dir), "%s/unpack.XXXXXX", argv[2]);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "cannot create a directory in %s: %s\n",
			argv[2], strerror(errno));
		return 1;
	}
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || fchmod(rootfd, 0755) < 0)
		goto out;
	for (int i = 3; i < argc; i++) {
		const char *layer = layer_arg(argv[i], diff_id);
		int fd = open(layer, O_RDONLY | O_CLOEXEC), r;

		if (fd < 0) {
			snprintf(why, sizeof(why), "cannot open: %s",
				 strerror(errno));
			r = -1;
		} else {
			r = 0;
			if (diff_id[0])
				r = check_diff_id(fd, diff_id, why, sizeof(why));
			if (r == 0 && i > 3) {
				r = unpack_deletions(fd, rootfd, why,
						     sizeof(why));
				if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
					r = -1;
			}
			if (r == 0)
				r = unpack_layer(fd, rootfd, &lim, &entries,
						 &bytes, why, sizeof(why));
			close(fd);
		}
		if (r == -ENOSPC) {
			rc = EXIT_NOSPACE;
			fprintf(stderr, "unpacking layer sha256:%.12s: %s\n",
				short_name(layer), why);
			goto out;
		}
		if (r < 0) {
			fprintf(stderr, "layer sha256:%.12s: %s\n",
				short_name(layer), why);
			goto out;
		}
	}
	if (mkfs(argv[1], dir) < 0) {
		if (almost_full(argv[2]))
			rc = EXIT_NOSPACE;
		fprintf(stderr, "mkfs.erofs failed to pack %llu entries%s\n",
			(unsigned long long)entries,
			rc == EXIT_NOSPACE ? "" : " (is the disk full?)");
		goto out;
	}
	rc = 0;
out:
	if (rootfd >= 0)
		close(rootfd);
	msb_rm_rf(dir);
	if (rc)
		unlink(argv[1]);
	return rc;
}
