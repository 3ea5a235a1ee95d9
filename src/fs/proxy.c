/* SPDX-License-Identifier: Apache-2.0 */
/* proxy.c - wraps any backend and calls hooks before and after each op
 *
 * before() may answer for the backend (a negative errno: the backend is
 * not called); after() sees the result. forget() cannot be refused (the
 * guest has already dropped the node), so it only gets after(). The
 * proxy owns the backend it wraps.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "util.h"

struct proxy {
	struct msb_fs_backend in;
	struct msb_fs_hooks hooks; /* NULL-padded to this build's size */
	void *hs;
};

#define INNER(px) ((px)->in.ops)
#define IN(px) ((px)->in.state)

static int before(struct proxy *px, const struct msb_fs_call *call)
{
	int rc;

	if (!px->hooks.before)
		return 0;
	rc = px->hooks.before(px->hs, call);
	if (rc > 0 || rc < -4095)
		return -EPERM; /* a hook's nonsense is a denial */
	return rc;
}

static void after(struct proxy *px, const struct msb_fs_call *call,
		  long long result, const struct msb_fs_entry *e)
{
	if (px->hooks.after)
		px->hooks.after(px->hs, call, result, e);
}

/* The body every op shares: ask, call if allowed (or ENOSYS), report. */
#define PROXY(px, call, op, e, ...)                                        \
	do {                                                               \
		long long rc_ = before(px, &(call));                       \
		if (!rc_)                                                  \
			rc_ = INNER(px)->op ? INNER(px)->op(IN(px), __VA_ARGS__) \
					    : -ENOSYS;                     \
		after(px, &(call), rc_, rc_ >= 0 ? (e) : NULL);            \
		return rc_;                                                \
	} while (0)

#define CALL(o, ...) \
	struct msb_fs_call call = { .op = MSB_FS_OP_##o, .ctx = c, \
				    .fh = MSB_FS_NO_FH, __VA_ARGS__ }

static int px_lookup(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, struct msb_fs_entry *e)
{
	CALL(LOOKUP, .ino = parent, .name = name);
	PROXY((struct proxy *)b, call, lookup, e, c, parent, name, e);
}

static void px_forget(void *b, uint64_t ino, uint64_t nlookup)
{
	struct proxy *px = b;
	struct msb_fs_call call = { .op = MSB_FS_OP_FORGET, .ino = ino,
				    .fh = MSB_FS_NO_FH, .len = nlookup };

	if (INNER(px)->forget)
		INNER(px)->forget(IN(px), ino, nlookup);
	after(px, &call, 0, NULL);
}

static int px_getattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      uint64_t fh, struct stat *st)
{
	CALL(GETATTR, .ino = ino);
	call.fh = fh;
	PROXY((struct proxy *)b, call, getattr, NULL, c, ino, fh, st);
}

static int px_setattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      const struct stat *in, uint32_t valid, uint64_t fh,
		      struct stat *out)
{
	CALL(SETATTR, .ino = ino, .flags = valid,
	     .len = (uint64_t)in->st_size);
	call.fh = fh;
	PROXY((struct proxy *)b, call, setattr, NULL, c, ino, in, valid, fh,
	      out);
}

static ssize_t px_readlink(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			   char *buf, size_t size)
{
	CALL(READLINK, .ino = ino, .len = size);
	PROXY((struct proxy *)b, call, readlink, NULL, c, ino, buf, size);
}

static int px_symlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, const char *target,
		      struct msb_fs_entry *e)
{
	CALL(SYMLINK, .ino = parent, .name = name, .newname = target);
	PROXY((struct proxy *)b, call, symlink, e, c, parent, name, target, e);
}

static int px_mknod(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, mode_t mode, dev_t rdev, mode_t umask,
		    struct msb_fs_entry *e)
{
	CALL(MKNOD, .ino = parent, .name = name, .flags = mode);
	PROXY((struct proxy *)b, call, mknod, e, c, parent, name, mode, rdev,
	      umask, e);
}

static int px_mkdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, mode_t mode, mode_t umask,
		    struct msb_fs_entry *e)
{
	CALL(MKDIR, .ino = parent, .name = name, .flags = mode);
	PROXY((struct proxy *)b, call, mkdir, e, c, parent, name, mode, umask,
	      e);
}

static int px_unlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name)
{
	CALL(UNLINK, .ino = parent, .name = name);
	PROXY((struct proxy *)b, call, unlink, NULL, c, parent, name);
}

static int px_rmdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name)
{
	CALL(RMDIR, .ino = parent, .name = name);
	PROXY((struct proxy *)b, call, rmdir, NULL, c, parent, name);
}

static int px_rename(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, uint64_t newparent, const char *newname,
		     uint32_t flags)
{
	CALL(RENAME, .ino = parent, .name = name, .newparent = newparent,
	     .newname = newname, .flags = flags);
	PROXY((struct proxy *)b, call, rename, NULL, c, parent, name,
	      newparent, newname, flags);
}

static int px_link(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		   uint64_t newparent, const char *newname,
		   struct msb_fs_entry *e)
{
	CALL(LINK, .ino = ino, .newparent = newparent, .newname = newname);
	PROXY((struct proxy *)b, call, link, e, c, ino, newparent, newname, e);
}

static int px_open(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		   int flags, struct msb_fs_file *f)
{
	CALL(OPEN, .ino = ino, .flags = (uint64_t)flags);
	PROXY((struct proxy *)b, call, open, NULL, c, ino, flags, f);
}

static ssize_t px_read(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, const struct iovec *iov, int iovcnt,
		       uint64_t off)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	CALL(READ, .ino = ino, .off = off, .len = len);
	call.fh = fh;
	PROXY((struct proxy *)b, call, read, NULL, c, ino, fh, iov, iovcnt,
	      off);
}

static ssize_t px_write(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			uint64_t fh, const struct iovec *iov, int iovcnt,
			uint64_t off, int flags)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	CALL(WRITE, .ino = ino, .off = off, .len = len,
	     .flags = (uint64_t)flags);
	call.fh = fh;
	PROXY((struct proxy *)b, call, write, NULL, c, ino, fh, iov, iovcnt,
	      off, flags);
}

static int px_statfs(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     struct statvfs *st)
{
	CALL(STATFS, .ino = ino);
	PROXY((struct proxy *)b, call, statfs, NULL, c, ino, st);
}

static int px_release(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      uint64_t fh, int flags, uint64_t owner)
{
	CALL(RELEASE, .ino = ino, .flags = (uint64_t)flags);
	call.fh = fh;
	PROXY((struct proxy *)b, call, release, NULL, c, ino, fh, flags, owner);
}

static int px_fsync(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    uint64_t fh, int datasync)
{
	CALL(FSYNC, .ino = ino, .flags = (uint64_t)datasync);
	call.fh = fh;
	PROXY((struct proxy *)b, call, fsync, NULL, c, ino, fh, datasync);
}

static int px_setxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       const char *name, const void *value, size_t size,
		       int flags)
{
	CALL(SETXATTR, .ino = ino, .name = name, .len = size,
	     .flags = (uint64_t)flags);
	PROXY((struct proxy *)b, call, setxattr, NULL, c, ino, name, value,
	      size, flags);
}

static ssize_t px_getxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			   const char *name, void *buf, size_t size)
{
	CALL(GETXATTR, .ino = ino, .name = name, .len = size);
	PROXY((struct proxy *)b, call, getxattr, NULL, c, ino, name, buf, size);
}

static ssize_t px_listxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			    char *buf, size_t size)
{
	CALL(LISTXATTR, .ino = ino, .len = size);
	PROXY((struct proxy *)b, call, listxattr, NULL, c, ino, buf, size);
}

static int px_removexattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			  const char *name)
{
	CALL(REMOVEXATTR, .ino = ino, .name = name);
	PROXY((struct proxy *)b, call, removexattr, NULL, c, ino, name);
}

static int px_flush(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    uint64_t fh, uint64_t owner)
{
	struct proxy *px = b;
	CALL(FLUSH, .ino = ino);
	call.fh = fh;
	/* A backend without flush has nothing to flush: not ENOSYS. */
	if (!INNER(px)->flush) {
		long long rc = before(px, &call);

		after(px, &call, rc, NULL);
		return (int)rc;
	}
	PROXY(px, call, flush, NULL, c, ino, fh, owner);
}

static int px_opendir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      int flags, struct msb_fs_file *f)
{
	CALL(OPENDIR, .ino = ino, .flags = (uint64_t)flags);
	PROXY((struct proxy *)b, call, opendir, NULL, c, ino, flags, f);
}

static int px_readdir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      uint64_t fh, uint64_t off, msb_fs_fill_fn fill,
		      void *fill_ctx)
{
	CALL(READDIR, .ino = ino, .off = off);
	call.fh = fh;
	PROXY((struct proxy *)b, call, readdir, NULL, c, ino, fh, off, fill,
	      fill_ctx);
}

static int px_releasedir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			 uint64_t fh)
{
	CALL(RELEASEDIR, .ino = ino);
	call.fh = fh;
	PROXY((struct proxy *)b, call, releasedir, NULL, c, ino, fh);
}

static int px_fsyncdir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, int datasync)
{
	CALL(FSYNCDIR, .ino = ino, .flags = (uint64_t)datasync);
	call.fh = fh;
	PROXY((struct proxy *)b, call, fsyncdir, NULL, c, ino, fh, datasync);
}

static int px_getlk(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    uint64_t fh, uint64_t owner, struct flock *lk)
{
	CALL(GETLK, .ino = ino, .off = (uint64_t)lk->l_start,
	     .len = (uint64_t)lk->l_len);
	call.fh = fh;
	PROXY((struct proxy *)b, call, getlk, NULL, c, ino, fh, owner, lk);
}

static int px_setlk(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    uint64_t fh, uint64_t owner, const struct flock *lk,
		    int wait)
{
	CALL(SETLK, .ino = ino, .off = (uint64_t)lk->l_start,
	     .len = (uint64_t)lk->l_len, .flags = (uint64_t)lk->l_type);
	call.fh = fh;
	PROXY((struct proxy *)b, call, setlk, NULL, c, ino, fh, owner, lk,
	      wait);
}

static int px_access(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     int mask)
{
	CALL(ACCESS, .ino = ino, .flags = (uint64_t)mask);
	PROXY((struct proxy *)b, call, access, NULL, c, ino, mask);
}

static int px_create(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, int flags, mode_t umask,
		     struct msb_fs_entry *e, struct msb_fs_file *f)
{
	CALL(CREATE, .ino = parent, .name = name, .flags = (uint64_t)flags);
	PROXY((struct proxy *)b, call, create, e, c, parent, name, mode, flags,
	      umask, e, f);
}

static int px_fallocate(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			uint64_t fh, int mode, uint64_t off, uint64_t len)
{
	CALL(FALLOCATE, .ino = ino, .off = off, .len = len,
	     .flags = (uint64_t)mode);
	call.fh = fh;
	PROXY((struct proxy *)b, call, fallocate, NULL, c, ino, fh, mode, off,
	      len);
}

static int px_lseek(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    uint64_t fh, uint64_t off, int whence, uint64_t *result)
{
	CALL(LSEEK, .ino = ino, .off = off, .flags = (uint64_t)whence);
	call.fh = fh;
	PROXY((struct proxy *)b, call, lseek, NULL, c, ino, fh, off, whence,
	      result);
}

static ssize_t px_copy_file_range(void *b, const struct msb_fs_ctx *c,
				  uint64_t ino_in, uint64_t fh_in,
				  uint64_t off_in, uint64_t ino_out,
				  uint64_t fh_out, uint64_t off_out,
				  size_t len, int flags)
{
	CALL(COPY_FILE_RANGE, .ino = ino_in, .off = off_in, .len = len,
	     .newparent = ino_out);
	call.fh = fh_in;
	PROXY((struct proxy *)b, call, copy_file_range, NULL, c, ino_in, fh_in,
	      off_in, ino_out, fh_out, off_out, len, flags);
}

static int px_syncfs(void *b, const struct msb_fs_ctx *c, uint64_t ino)
{
	CALL(SYNCFS, .ino = ino);
	PROXY((struct proxy *)b, call, syncfs, NULL, c, ino);
}

static void px_destroy(void *b)
{
	struct proxy *px = b;

	if (px->hooks.close)
		px->hooks.close(px->hs);
	msb_fs_backend_close(&px->in);
	free(px);
}

static const struct msb_fs_ops proxy_ops = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_ops),
	.name = "proxy",
	.destroy = px_destroy,
	.lookup = px_lookup,
	.forget = px_forget,
	.getattr = px_getattr,
	.setattr = px_setattr,
	.readlink = px_readlink,
	.symlink = px_symlink,
	.mknod = px_mknod,
	.mkdir = px_mkdir,
	.unlink = px_unlink,
	.rmdir = px_rmdir,
	.rename = px_rename,
	.link = px_link,
	.open = px_open,
	.read = px_read,
	.write = px_write,
	.statfs = px_statfs,
	.release = px_release,
	.fsync = px_fsync,
	.setxattr = px_setxattr,
	.getxattr = px_getxattr,
	.listxattr = px_listxattr,
	.removexattr = px_removexattr,
	.flush = px_flush,
	.opendir = px_opendir,
	.readdir = px_readdir,
	.releasedir = px_releasedir,
	.fsyncdir = px_fsyncdir,
	.getlk = px_getlk,
	.setlk = px_setlk,
	.access = px_access,
	.create = px_create,
	.fallocate = px_fallocate,
	.lseek = px_lseek,
	.copy_file_range = px_copy_file_range,
	.syncfs = px_syncfs,
};

int msb_fs_proxy_new(struct msb_fs_backend *inner,
		     const struct msb_fs_hooks *hooks, void *hook_state,
		     struct msb_fs_backend *out, msb_error *err)
{
	struct proxy *px;

	if (!hooks || hooks->abi != MSB_FS_ABI ||
	    hooks->size < offsetof(struct msb_fs_hooks, close)) {
		msb_fail(err, -EINVAL,
			 "filesystem hooks %s were built for another "
			 "interface version: rebuild them against this msb's "
			 "msb_fs.h",
			 hooks && hooks->name ? hooks->name : "(unnamed)");
		msb_fs_backend_close(inner);
		return -EINVAL;
	}
	px = calloc(1, sizeof(*px));
	if (!px) {
		msb_fs_backend_close(inner);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	px->in = *inner;
	memcpy(&px->hooks, hooks,
	       hooks->size < sizeof(px->hooks) ? hooks->size :
						 sizeof(px->hooks));
	px->hs = hook_state;
	memset(inner, 0, sizeof(*inner));
	out->ops = &proxy_ops;
	out->state = px;
	out->dl = NULL;
	out->owned = NULL;
	out->host = NULL;
	return 0;
}
