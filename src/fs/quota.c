/* SPDX-License-Identifier: Apache-2.0 */
/* quota.c - a size limit over a backend, shared by every sandbox serving it
 *
 * Theory of operation. A named volume (docs/filesystems.md) is one host
 * directory that several sandboxes may mount at once, each served by its
 * own supervisor; its size limit is the whole volume's. The bytes in use
 * are one counter in a small file beside the directory, mapped shared by
 * every supervisor serving the volume and changed with atomic adds, so
 * all of them see one number without talking to each other.
 *
 * What counts is what the host's filesystem allocates (st_blocks), taken
 * from the node before and after each operation that can change it:
 * write, copy_file_range, fallocate, setattr of the size, create, mknod,
 * mkdir, symlink; unlink, rmdir and rename over a file give the space of
 * a last link back. A write first reserves the bytes it may allocate (none
 * when it overwrites allocated bytes inside the file); past the limit it
 * is cut short to what is left, and a write with nothing left gets ENOSPC,
 * as a full disk answers. After the call the reservation is replaced by
 * what the host really allocated. Two sandboxes writing at the same
 * instant can each take what the other reserved back a moment later, so
 * the limit holds to within one write of each.
 *
 * The counter starts from a walk of the directory by the first supervisor
 * to serve the volume (an exclusive flock on the counter file, turned
 * shared once the walk is done; later ones take it shared), so files put
 * there from the host while nobody served it are counted too. statfs
 * shows the guest the limit as the filesystem's size (df).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends.h"
#include "util.h"

#define QUOTA_MAGIC 0x6d7362766f6c7531ull /* "msbvolu1" */

/* The counter file's page. */
struct quota_page {
	uint64_t magic;
	uint64_t used;  /* bytes allocated on the host, all files */
};

struct quota {
	struct msb_fs_backend in;
	struct quota_page *page;
	int fd;
	uint64_t limit;
};

#define INNER(q) ((q)->in.ops)
#define IN(q) ((q)->in.state)

static uint64_t used(const struct quota *q)
{
	return __atomic_load_n(&q->page->used, __ATOMIC_RELAXED);
}

/* add() - @delta bytes more (or fewer) in use; never below zero. */
static void add(struct quota *q, int64_t delta)
{
	if (delta >= 0) {
		__atomic_add_fetch(&q->page->used, (uint64_t)delta,
				   __ATOMIC_RELAXED);
		return;
	}
	uint64_t cur = used(q), want;

	do {
		want = cur > (uint64_t)-delta ? cur - (uint64_t)-delta : 0;
	} while (!__atomic_compare_exchange_n(&q->page->used, &cur, want, 0,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
}

/* reserve() - take up to @want bytes of what is left; Return: taken. */
static uint64_t reserve(struct quota *q, uint64_t want)
{
	uint64_t cur = used(q), take;

	do {
		take = cur >= q->limit ? 0 :
		       q->limit - cur < want ? q->limit - cur : want;
	} while (take &&
		 !__atomic_compare_exchange_n(&q->page->used, &cur, cur + take,
					      0, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return take;
}

static int64_t blocks(struct quota *q, uint64_t ino, uint64_t fh)
{
	struct stat st;
	struct msb_fs_ctx c = { 0 };

	if (!INNER(q)->getattr ||
	    INNER(q)->getattr(IN(q), &c, ino, fh, &st) < 0)
		return -1;
	return (int64_t)st.st_blocks * 512;
}

/* settle() - replace the reservation @took by what @ino's allocation
 * changed from @before (-1: unknown, the reservation stands). */
static void settle(struct quota *q, uint64_t ino, uint64_t fh,
		   int64_t before, uint64_t took)
{
	int64_t after = before >= 0 ? blocks(q, ino, fh) : -1;

	if (after >= 0)
		add(q, after - before - (int64_t)took);
}

/* ---- the operations that allocate or free ---- */

static ssize_t q_write(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, const struct iovec *iov, int iovcnt,
		       uint64_t off, int flags)
{
	struct quota *q = b;
	struct iovec cut[64];
	size_t len = 0;
	uint64_t want, took;
	int64_t before;
	struct stat st;
	ssize_t r;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (!INNER(q)->write)
		return -ENOSYS;
	/* Bytes inside the file that are all allocated take nothing new. */
	want = len;
	if (INNER(q)->getattr &&
	    INNER(q)->getattr(IN(q), c, ino, fh, &st) == 0) {
		before = (int64_t)st.st_blocks * 512;
		if (!(flags & O_APPEND) && off + len <= (uint64_t)st.st_size &&
		    (uint64_t)before >= (uint64_t)st.st_size)
			want = 0;
	} else {
		before = -1;
	}
	took = want ? reserve(q, want) : 0;
	if (want && !took)
		return -ENOSPC;
	if (took < want) {
		/* What is left: a short write, the next one ENOSPC. */
		size_t left = took;
		int n = 0;

		if (iovcnt > 64)
			iovcnt = 64;
		for (int i = 0; i < iovcnt && left; i++, n++) {
			cut[n] = iov[i];
			if (cut[n].iov_len > left)
				cut[n].iov_len = left;
			left -= cut[n].iov_len;
		}
		iov = cut;
		iovcnt = n;
	}
	r = INNER(q)->write(IN(q), c, ino, fh, iov, iovcnt, off, flags);
	if (r < 0) {
		add(q, -(int64_t)took);
		return r;
	}
	settle(q, ino, fh, before, took);
	return r;
}

static ssize_t q_copy_file_range(void *b, const struct msb_fs_ctx *c,
				 uint64_t ino_in, uint64_t fh_in,
				 uint64_t off_in, uint64_t ino_out,
				 uint64_t fh_out, uint64_t off_out, size_t len,
				 int flags)
{
	struct quota *q = b;
	int64_t before = blocks(q, ino_out, fh_out);
	uint64_t took;
	ssize_t r;

	if (!INNER(q)->copy_file_range)
		return -ENOSYS;
	took = reserve(q, len);
	if (!took && len)
		return -ENOSPC;
	r = INNER(q)->copy_file_range(IN(q), c, ino_in, fh_in, off_in,
				      ino_out, fh_out, off_out, (size_t)took,
				      flags);
	if (r < 0) {
		add(q, -(int64_t)took);
		return r;
	}
	settle(q, ino_out, fh_out, before, took);
	return r;
}

static int q_fallocate(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, int mode, uint64_t off, uint64_t len)
{
	struct quota *q = b;
	int64_t before = blocks(q, ino, fh);
	/* punching a hole frees; anything else may allocate all of it */
	uint64_t want = (mode & FALLOC_FL_PUNCH_HOLE) ? 0 : len, took;
	int r;

	if (!INNER(q)->fallocate)
		return -ENOSYS;
	took = want ? reserve(q, want) : 0;
	if (took < want) {
		add(q, -(int64_t)took);
		return -ENOSPC;
	}
	r = INNER(q)->fallocate(IN(q), c, ino, fh, mode, off, len);
	if (r < 0) {
		add(q, -(int64_t)took);
		return r;
	}
	settle(q, ino, fh, before, took);
	return r;
}

static int q_setattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     const struct stat *in, uint32_t valid, uint64_t fh,
		     struct stat *out)
{
	struct quota *q = b;
	int64_t before = (valid & MSB_FS_SET_SIZE) ?
				 blocks(q, ino, (valid & MSB_FS_SET_FH) ? fh :
						MSB_FS_NO_FH) : -1;
	int r;

	if (!INNER(q)->setattr)
		return -ENOSYS;
	r = INNER(q)->setattr(IN(q), c, ino, in, valid, fh, out);
	if (r == 0 && before >= 0)
		add(q, (int64_t)out->st_blocks * 512 - before);
	return r;
}

/* made() - a new node @e takes its blocks (a directory's, a long
 * symlink's); refused when nothing is left. */
static void made(struct quota *q, const struct msb_fs_entry *e)
{
	add(q, (int64_t)e->attr.st_blocks * 512);
}

static int full(struct quota *q)
{
	return used(q) >= q->limit;
}

static int q_create(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, mode_t mode, int flags, mode_t umask,
		    struct msb_fs_entry *e, struct msb_fs_file *f)
{
	struct quota *q = b;
	int r;

	if (!INNER(q)->create)
		return -ENOSYS;
	r = INNER(q)->create(IN(q), c, parent, name, mode, flags, umask, e, f);
	if (r == 0)
		made(q, e);
	return r;
}

static int q_mknod(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		   const char *name, mode_t mode, dev_t rdev, mode_t umask,
		   struct msb_fs_entry *e)
{
	struct quota *q = b;
	int r;

	if (!INNER(q)->mknod)
		return -ENOSYS;
	r = INNER(q)->mknod(IN(q), c, parent, name, mode, rdev, umask, e);
	if (r == 0)
		made(q, e);
	return r;
}

static int q_mkdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		   const char *name, mode_t mode, mode_t umask,
		   struct msb_fs_entry *e)
{
	struct quota *q = b;
	int r;

	if (!INNER(q)->mkdir)
		return -ENOSYS;
	if (full(q))
		return -ENOSPC;
	r = INNER(q)->mkdir(IN(q), c, parent, name, mode, umask, e);
	if (r == 0)
		made(q, e);
	return r;
}

static int q_symlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, const char *target,
		     struct msb_fs_entry *e)
{
	struct quota *q = b;
	int r;

	if (!INNER(q)->symlink)
		return -ENOSYS;
	if (full(q))
		return -ENOSPC;
	r = INNER(q)->symlink(IN(q), c, parent, name, target, e);
	if (r == 0)
		made(q, e);
	return r;
}

/* freed_by() - the bytes removing @parent/@name gives back (its last
 * link's blocks), found before it goes; 0 if none or unknown. */
static int64_t freed_by(struct quota *q, const struct msb_fs_ctx *c,
			uint64_t parent, const char *name)
{
	struct msb_fs_entry e;
	int64_t n = 0;

	if (!INNER(q)->lookup ||
	    INNER(q)->lookup(IN(q), c, parent, name, &e) < 0)
		return 0;
	if (S_ISDIR(e.attr.st_mode) || e.attr.st_nlink <= 1)
		n = (int64_t)e.attr.st_blocks * 512;
	if (INNER(q)->forget)
		INNER(q)->forget(IN(q), e.ino, 1);
	return n;
}

static int q_unlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name)
{
	struct quota *q = b;
	int64_t n = freed_by(q, c, parent, name);
	int r;

	if (!INNER(q)->unlink)
		return -ENOSYS;
	r = INNER(q)->unlink(IN(q), c, parent, name);
	if (r == 0)
		add(q, -n);
	return r;
}

static int q_rmdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		   const char *name)
{
	struct quota *q = b;
	int64_t n = freed_by(q, c, parent, name);
	int r;

	if (!INNER(q)->rmdir)
		return -ENOSYS;
	r = INNER(q)->rmdir(IN(q), c, parent, name);
	if (r == 0)
		add(q, -n);
	return r;
}

static int q_rename(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, uint64_t newparent, const char *newname,
		    uint32_t flags)
{
	struct quota *q = b;
	/* a file replaced by the rename goes with its blocks */
	int64_t n = (flags & (MSB_FS_RENAME_EXCHANGE |
			      MSB_FS_RENAME_NOREPLACE)) ?
			    0 : freed_by(q, c, newparent, newname);
	int r;

	if (!INNER(q)->rename)
		return -ENOSYS;
	r = INNER(q)->rename(IN(q), c, parent, name, newparent, newname,
			     flags);
	if (r == 0)
		add(q, -n);
	return r;
}

static int q_statfs(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    struct statvfs *st)
{
	struct quota *q = b;
	uint64_t u = used(q), bs;
	fsblkcnt_t free_blocks;
	int r;

	if (!INNER(q)->statfs)
		return -ENOSYS;
	r = INNER(q)->statfs(IN(q), c, ino, st);
	if (r < 0)
		return r;
	/* The volume's size is the limit; what is free is what is left of
	 * it, or of the host's disk when that is less. */
	bs = st->f_frsize ? st->f_frsize : st->f_bsize ? st->f_bsize : 4096;
	free_blocks = (fsblkcnt_t)((u < q->limit ? q->limit - u : 0) / bs);
	st->f_blocks = (fsblkcnt_t)(q->limit / bs);
	if (st->f_bfree > free_blocks)
		st->f_bfree = free_blocks;
	if (st->f_bavail > free_blocks)
		st->f_bavail = free_blocks;
	return 0;
}

/* ---- the rest go through as they are ---- */

#define FWD(op, ...) \
	(INNER((struct quota *)b)->op ? \
	 INNER((struct quota *)b)->op(IN((struct quota *)b), __VA_ARGS__) : \
	 -ENOSYS)

static int q_lookup(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, struct msb_fs_entry *e)
{
	return FWD(lookup, c, parent, name, e);
}

static void q_forget(void *b, uint64_t ino, uint64_t nlookup)
{
	struct quota *q = b;

	if (INNER(q)->forget)
		INNER(q)->forget(IN(q), ino, nlookup);
}

static int q_getattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, struct stat *st)
{
	return FWD(getattr, c, ino, fh, st);
}

static ssize_t q_readlink(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			  char *buf, size_t size)
{
	return FWD(readlink, c, ino, buf, size);
}

static int q_link(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		  uint64_t newparent, const char *newname,
		  struct msb_fs_entry *e)
{
	return FWD(link, c, ino, newparent, newname, e);
}

static int q_open(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		  int flags, struct msb_fs_file *f)
{
	return FWD(open, c, ino, flags, f);
}

static ssize_t q_read(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      uint64_t fh, const struct iovec *iov, int iovcnt,
		      uint64_t off)
{
	return FWD(read, c, ino, fh, iov, iovcnt, off);
}

static int q_release(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, int flags, uint64_t lock_owner)
{
	return FWD(release, c, ino, fh, flags, lock_owner);
}

static int q_fsync(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		   uint64_t fh, int datasync)
{
	return FWD(fsync, c, ino, fh, datasync);
}

static int q_setxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      const char *name, const void *value, size_t size,
		      int flags)
{
	return FWD(setxattr, c, ino, name, value, size, flags);
}

static ssize_t q_getxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			  const char *name, void *buf, size_t size)
{
	return FWD(getxattr, c, ino, name, buf, size);
}

static ssize_t q_listxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			   char *buf, size_t size)
{
	return FWD(listxattr, c, ino, buf, size);
}

static int q_removexattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			 const char *name)
{
	return FWD(removexattr, c, ino, name);
}

static int q_flush(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		   uint64_t fh, uint64_t lock_owner)
{
	return FWD(flush, c, ino, fh, lock_owner);
}

static int q_opendir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     int flags, struct msb_fs_file *f)
{
	return FWD(opendir, c, ino, flags, f);
}

static int q_readdir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, uint64_t off, msb_fs_fill_fn fill,
		     void *fill_ctx)
{
	return FWD(readdir, c, ino, fh, off, fill, fill_ctx);
}

static int q_releasedir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			uint64_t fh)
{
	return FWD(releasedir, c, ino, fh);
}

static int q_fsyncdir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      uint64_t fh, int datasync)
{
	return FWD(fsyncdir, c, ino, fh, datasync);
}

static int q_getlk(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		   uint64_t fh, uint64_t owner, struct flock *lk)
{
	return FWD(getlk, c, ino, fh, owner, lk);
}

static int q_setlk(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		   uint64_t fh, uint64_t owner, const struct flock *lk,
		   int wait)
{
	return FWD(setlk, c, ino, fh, owner, lk, wait);
}

static int q_access(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    int mask)
{
	return FWD(access, c, ino, mask);
}

static int q_lseek(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		   uint64_t fh, uint64_t off, int whence, uint64_t *result)
{
	return FWD(lseek, c, ino, fh, off, whence, result);
}

static int q_syncfs(void *b, const struct msb_fs_ctx *c, uint64_t ino)
{
	return FWD(syncfs, c, ino);
}

static void q_destroy(void *b)
{
	struct quota *q = b;

	msb_fs_backend_close(&q->in);
	munmap(q->page, sizeof(*q->page));
	close(q->fd); /* drops the shared lock */
	free(q);
}

static const struct msb_fs_ops quota_ops = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_ops),
	.name = "quota",
	.destroy = q_destroy,
	.lookup = q_lookup,
	.forget = q_forget,
	.getattr = q_getattr,
	.setattr = q_setattr,
	.readlink = q_readlink,
	.symlink = q_symlink,
	.mknod = q_mknod,
	.mkdir = q_mkdir,
	.unlink = q_unlink,
	.rmdir = q_rmdir,
	.rename = q_rename,
	.link = q_link,
	.open = q_open,
	.read = q_read,
	.write = q_write,
	.statfs = q_statfs,
	.release = q_release,
	.fsync = q_fsync,
	.setxattr = q_setxattr,
	.getxattr = q_getxattr,
	.listxattr = q_listxattr,
	.removexattr = q_removexattr,
	.flush = q_flush,
	.opendir = q_opendir,
	.readdir = q_readdir,
	.releasedir = q_releasedir,
	.fsyncdir = q_fsyncdir,
	.getlk = q_getlk,
	.setlk = q_setlk,
	.access = q_access,
	.create = q_create,
	.fallocate = q_fallocate,
	.lseek = q_lseek,
	.copy_file_range = q_copy_file_range,
	.syncfs = q_syncfs,
};

int msb_fs_quota_new(struct msb_fs_backend *inner, const char *dir,
		     const char *counter, uint64_t limit,
		     struct msb_fs_backend *out, msb_error *err)
{
	struct quota *q = calloc(1, sizeof(*q));
	int fd = -1, first;

	if (!q)
		goto fail_errno;
	fd = open(counter, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail_errno;
	/* The first to serve the volume counts what is there. */
	first = flock(fd, LOCK_EX | LOCK_NB) == 0;
	if (!first && flock(fd, LOCK_SH) < 0)
		goto fail_errno;
	if (ftruncate(fd, sizeof(struct quota_page)) < 0)
		goto fail_errno;
	q->page = mmap(NULL, sizeof(*q->page), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	if (q->page == MAP_FAILED) {
		q->page = NULL;
		goto fail_errno;
	}
	if (first || q->page->magic != QUOTA_MAGIC) {
		__atomic_store_n(&q->page->used, msb_tree_bytes(dir),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&q->page->magic, QUOTA_MAGIC,
				 __ATOMIC_RELEASE);
	}
	if (first && flock(fd, LOCK_SH) < 0)
		goto fail_errno;
	q->fd = fd;
	q->limit = limit;
	q->in = *inner;
	memset(inner, 0, sizeof(*inner));
	memset(out, 0, sizeof(*out));
	out->ops = &quota_ops;
	out->state = q;
	return 0;
fail_errno:
	{
		int e = errno;

		if (q && q->page)
			munmap(q->page, sizeof(*q->page));
		if (fd >= 0)
			close(fd);
		free(q);
		msb_fs_backend_close(inner);
		return msb_fail_errno(err, -e, "volume size counter %s",
				      counter);
	}
}
