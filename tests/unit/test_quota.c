/* SPDX-License-Identifier: Apache-2.0 */
/* test_quota.c - a named volume's size limit (src/fs/quota.c): writes cut
 * short then refused at the limit, space given back, one counter shared
 * by two backends over one directory (two sandboxes), what was there
 * counted, df showing the limit */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends.h"
#include "harness.h"
#include "util.h"

#define KIB 1024u
#define LIMIT (1024u * KIB)

static const struct msb_fs_ctx ctx = { 1, 0, 0 };

static int open_vol(const char *dir, const char *counter, uint64_t limit,
		    struct msb_fs_backend *out)
{
	struct msb_fs_backend pt = { 0 };
	msb_error err = { 0 };

	if (msb_fs_passthrough_new(dir, NULL, &pt, &err) < 0) {
		unit_fail(__FILE__, __LINE__, "passthrough: %s", err.message);
		return -1;
	}
	if (msb_fs_quota_new(&pt, dir, counter, limit, out, &err) < 0) {
		unit_fail(__FILE__, __LINE__, "quota: %s", err.message);
		return -1;
	}
	return 0;
}

static int mkfile(struct msb_fs_backend *b, const char *name, uint64_t *ino,
		  uint64_t *fh)
{
	struct msb_fs_entry e;
	struct msb_fs_file f;
	int r = b->ops->create(b->state, &ctx, MSB_FS_ROOT_ID, name, 0644,
			       O_RDWR, 022, &e, &f);

	*ino = e.ino;
	*fh = f.fh;
	return r;
}

static ssize_t put(struct msb_fs_backend *b, uint64_t ino, uint64_t fh,
		   uint64_t off, size_t len)
{
	static char buf[512 * 1024];
	struct iovec iov = { buf, len };

	memset(buf, 'x', sizeof(buf));
	return b->ops->write(b->state, &ctx, ino, fh, &iov, 1, off, O_RDWR);
}

static void done(struct msb_fs_backend *b, uint64_t ino, uint64_t fh)
{
	b->ops->release(b->state, &ctx, ino, fh, O_RDWR, 0);
	b->ops->forget(b->state, ino, 1);
}

TEST(quota_limits_writes_and_gives_space_back)
{
	char dir[256], data[300], counter[300];
	struct msb_fs_backend v;
	struct statvfs sv;
	uint64_t ino, fh, ino2, fh2;
	ssize_t n, total = 0;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(counter, sizeof(counter), "%s/usage", dir);
	mkdir(data, 0755);
	if (open_vol(data, counter, LIMIT, &v) < 0)
		goto out;
	/* df in the guest: the limit is the size, all of it free */
	CHECK_EQ_INT(v.ops->statfs(v.state, &ctx, MSB_FS_ROOT_ID, &sv), 0);
	CHECK_EQ_INT((uint64_t)sv.f_blocks * sv.f_frsize, LIMIT);
	CHECK((uint64_t)sv.f_bavail * sv.f_frsize >= LIMIT - 16 * KIB);
	CHECK_EQ_INT(mkfile(&v, "a", &ino, &fh), 0);
	/* filling it: whole writes, then a short one, then ENOSPC */
	for (int i = 0; i < 8; i++) {
		n = put(&v, ino, fh, (uint64_t)total, 256 * KIB);
		if (n <= 0)
			break;
		total += n;
	}
	CHECK_EQ_INT(n, -ENOSPC);
	CHECK(total <= (ssize_t)LIMIT);
	CHECK(total >= (ssize_t)(LIMIT - 16 * KIB)); /* a directory's blocks */
	CHECK_EQ_INT(v.ops->statfs(v.state, &ctx, MSB_FS_ROOT_ID, &sv), 0);
	CHECK_EQ_INT(sv.f_bavail, 0);
	/* overwriting what is allocated takes nothing: allowed when full */
	CHECK_EQ_INT(put(&v, ino, fh, 0, 64 * KIB), 64 * KIB);
	/* a new file's data is refused, a new directory too */
	CHECK_EQ_INT(mkfile(&v, "b", &ino2, &fh2), 0);
	CHECK_EQ_INT(put(&v, ino2, fh2, 0, 4096), -ENOSPC);
	{
		struct msb_fs_entry e;

		CHECK_EQ_INT(v.ops->mkdir(v.state, &ctx, MSB_FS_ROOT_ID, "d",
					  0755, 022, &e), -ENOSPC);
	}
	/* truncating gives space back */
	{
		struct stat in = { .st_size = 0 }, o;

		CHECK_EQ_INT(v.ops->setattr(v.state, &ctx, ino, &in,
					    MSB_FS_SET_SIZE, MSB_FS_NO_FH, &o),
			     0);
	}
	CHECK_EQ_INT(put(&v, ino2, fh2, 0, 256 * KIB), 256 * KIB);
	/* and so does removing a file */
	done(&v, ino2, fh2);
	CHECK_EQ_INT(v.ops->unlink(v.state, &ctx, MSB_FS_ROOT_ID, "b"), 0);
	CHECK_EQ_INT(v.ops->statfs(v.state, &ctx, MSB_FS_ROOT_ID, &sv), 0);
	CHECK((uint64_t)sv.f_bavail * sv.f_frsize >= LIMIT - 16 * KIB);
	/* fallocate past what is left is refused whole */
	CHECK_EQ_INT(v.ops->fallocate(v.state, &ctx, ino, fh, 0, 0, 2 * LIMIT),
		     -ENOSPC);
	CHECK_EQ_INT(v.ops->fallocate(v.state, &ctx, ino, fh, 0, 0, 128 * KIB),
		     0);
	done(&v, ino, fh);
	msb_fs_backend_close(&v);
out:
	msb_rm_rf(dir);
}

/* Two sandboxes mount one volume: each its own backend over the same
 * directory and counter file; the limit is for both together. */
TEST(quota_shared_by_two_backends)
{
	char dir[256], data[300], counter[300], path[400];
	struct msb_fs_backend a, b;
	uint64_t ia, fa, ib, fb;
	ssize_t n;
	int fd0 = unit_lowest_fd();

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(counter, sizeof(counter), "%s/usage", dir);
	mkdir(data, 0755);
	/* what is there before anyone serves it counts */
	snprintf(path, sizeof(path), "%s/old", data);
	{
		char *buf = calloc(1, 512 * KIB);
		int fd = open(path, O_WRONLY | O_CREAT, 0644);

		memset(buf, 'o', 512 * KIB);
		CHECK(write(fd, buf, 512 * KIB) == 512 * KIB);
		close(fd);
		free(buf);
	}
	if (open_vol(data, counter, LIMIT, &a) < 0)
		goto out;
	if (open_vol(data, counter, LIMIT, &b) < 0) {
		msb_fs_backend_close(&a);
		goto out;
	}
	CHECK_EQ_INT(mkfile(&a, "from-a", &ia, &fa), 0);
	CHECK_EQ_INT(put(&a, ia, fa, 0, 256 * KIB), 256 * KIB);
	/* b sees a's file, and what is left after both */
	CHECK_EQ_INT(mkfile(&b, "from-b", &ib, &fb), 0);
	n = put(&b, ib, fb, 0, 512 * KIB);
	CHECK(n > 0 && n <= (ssize_t)(256 * KIB));
	CHECK_EQ_INT(put(&a, ia, fa, 256 * KIB, 64 * KIB), -ENOSPC);
	/* b removing the old file makes room for a */
	CHECK_EQ_INT(b.ops->unlink(b.state, &ctx, MSB_FS_ROOT_ID, "old"), 0);
	CHECK_EQ_INT(put(&a, ia, fa, 256 * KIB, 64 * KIB), 64 * KIB);
	done(&a, ia, fa);
	done(&b, ib, fb);
	msb_fs_backend_close(&a);
	msb_fs_backend_close(&b);
	CHECK_EQ_INT(unit_lowest_fd(), fd0);
	/* served again later: counted afresh from the directory */
	if (open_vol(data, counter, LIMIT, &a) == 0) {
		struct statvfs sv;
		uint64_t u = msb_tree_bytes(data);

		CHECK_EQ_INT(a.ops->statfs(a.state, &ctx, MSB_FS_ROOT_ID, &sv),
			     0);
		CHECK_EQ_INT((uint64_t)sv.f_bavail * sv.f_frsize,
			     (LIMIT - u) / sv.f_frsize * sv.f_frsize);
		msb_fs_backend_close(&a);
	}
out:
	msb_rm_rf(dir);
}
