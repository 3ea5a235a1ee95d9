/* SPDX-License-Identifier: Apache-2.0 */
/* fuse.c - the FUSE request dispatcher (src/fs/fuse.h)
 *
 * Theory of operation: a request is one virtio-fs descriptor chain. Its
 * device-readable part is the fuse_in_header, the opcode's arguments and,
 * for WRITE, the payload; its device-writable part receives the
 * fuse_out_header and the reply. Headers and arguments (at most
 * MSB_FUSE_MAX_ARGS) are copied into the session's own buffer and parsed
 * there with bounds-checked readers; WRITE payloads and READ data are
 * never copied: the backend gets iovecs over the guest's buffers. Other
 * replies are built in the session's reply buffer and copied out.
 *
 * Everything is checked against the FUSE protocol as <linux/fuse.h>
 * (7.38) defines it: a request's length against the chain, every name for
 * NUL termination, length, '/', "." and "..", sizes and offsets against
 * the negotiated limits and overflow. Error codes from backends are
 * clamped to -1..-4095 before they reach the guest.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fuse.h"
#include "util.h"

#define MAX_IOV 1024
/* The reply buffer: the largest non-data reply (a READDIR(PLUS) page
 * batch, an xattr value or list). */
#define REPLY_MAX (128u << 10)
#define XATTR_MAX 65536
#define XATTR_LIST_MAX_ 65536
#define COPY_MAX (16u << 20)
#define OFF_MAX INT64_MAX

struct msb_fuse {
	struct msb_fs_ops ops; /* the backend's, NULL-padded to this size */
	void *b;
	struct msb_fuse_opts o;
	int inited;
	int locks;             /* FUSE_POSIX_LOCKS negotiated */
	uint32_t minor;        /* the guest's protocol minor */
	uint8_t args[sizeof(struct fuse_in_header) + MSB_FUSE_MAX_ARGS + 1]
		__attribute__((aligned(8)));
	uint8_t reply[sizeof(struct fuse_out_header) + REPLY_MAX]
		__attribute__((aligned(8)));
	struct iovec iov[MAX_IOV];
};

/* One request being answered. */
struct req {
	struct msb_fuse *f;
	struct fuse_in_header h;
	struct msb_fs_ctx c;
	const uint8_t *a; /* arguments, after the header */
	size_t alen;
	size_t pos;
	size_t rlen;      /* reply body built in f->reply */
	size_t outcap;    /* writable bytes in the chain */
};

int msb_fs_ops_check(const struct msb_fs_ops *ops, msb_error *err)
{
	if (!ops)
		return msb_fail(err, -EINVAL, "no filesystem backend table");
	if (ops->abi != MSB_FS_ABI) {
		msb_fail(err, -EINVAL,
			 "filesystem backend %s was built for interface "
			 "version %u, this msb speaks %u: rebuild it against "
			 "this msb's msb_fs.h",
			 ops->size >= offsetof(struct msb_fs_ops, flags) &&
					 ops->name ? ops->name : "(unnamed)",
			 ops->abi, MSB_FS_ABI);
		return -EINVAL;
	}
	if (ops->size < MSB_FS_OPS_MIN_SIZE) {
		msb_fail(err, -EINVAL,
			 "filesystem backend %s has a table of %u bytes, "
			 "less than version %u's %zu: set .size = "
			 "sizeof(struct msb_fs_ops) and rebuild",
			 ops->size >= offsetof(struct msb_fs_ops, flags) &&
					 ops->name ? ops->name : "(unnamed)",
			 ops->size, MSB_FS_ABI, (size_t)MSB_FS_OPS_MIN_SIZE);
		return -EINVAL;
	}
	return 0;
}

struct msb_fuse *msb_fuse_new(const struct msb_fs_ops *ops, void *backend,
			      const struct msb_fuse_opts *opts)
{
	struct msb_fuse *f;

	if (msb_fs_ops_check(ops, NULL))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	/* A table built against an older header: the ops it lacks are NULL. */
	memcpy(&f->ops, ops,
	       ops->size < sizeof(f->ops) ? ops->size : sizeof(f->ops));
	f->ops.size = sizeof(f->ops);
	f->b = backend;
	if (opts)
		f->o = *opts;
	return f;
}

void msb_fuse_free(struct msb_fuse *f)
{
	free(f);
}

/* ---- bytes in and out ---------------------------------------------------- */

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > SIZE_MAX - t)
			return SIZE_MAX;
		t += iov[i].iov_len;
	}
	return t;
}

/* Copy @len bytes at @off of the chain @iov into @dst. */
static void iov_copy_from(void *dst, const struct iovec *iov, int n,
			  size_t off, size_t len)
{
	uint8_t *d = dst;

	for (int i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len)
			l = len;
		memcpy(d, (const uint8_t *)iov[i].iov_base + off, l);
		d += l;
		len -= l;
		off = 0;
	}
}

static void iov_copy_to(const struct iovec *iov, int n, size_t off,
			const void *src, size_t len)
{
	const uint8_t *s = src;

	for (int i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len)
			l = len;
		memcpy((uint8_t *)iov[i].iov_base + off, s, l);
		s += l;
		len -= l;
		off = 0;
	}
}

/* Fill @dst (room for @max) with the slice [@off, @off + @len) of the
 * chain. Return: the number of iovecs, or -1 if they do not fit. */
static int iov_slice(struct iovec *dst, int max, const struct iovec *iov,
		     int n, size_t off, size_t len)
{
	int k = 0;

	for (int i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len)
			l = len;
		if (k == max)
			return -1;
		dst[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[k].iov_len = l;
		k++;
		len -= l;
		off = 0;
	}
	return k;
}

/* Copy the next fixed-size argument struct: at least @min bytes must be
 * there; a shorter one (an older guest) is zero-padded to @size. */
static int take(struct req *r, void *dst, size_t size, size_t min)
{
	size_t have = r->alen - r->pos;

	if (have < min)
		return -EINVAL;
	if (have > size)
		have = size;
	memcpy(dst, r->a + r->pos, have);
	memset((uint8_t *)dst + have, 0, size - have);
	r->pos += have;
	return 0;
}

/* The next NUL-terminated string of at most @max bytes. */
static int take_str(struct req *r, const char **s, size_t max)
{
	const uint8_t *p = r->a + r->pos;
	const uint8_t *nul = memchr(p, 0, r->alen - r->pos);
	size_t len;

	if (!nul)
		return -EINVAL;
	len = (size_t)(nul - p);
	if (len > max)
		return -ENAMETOOLONG;
	*s = (const char *)p;
	r->pos += len + 1;
	return 0;
}

/* A name of one path component, as every backend may assume (msb_fs.h). */
static int take_name(struct req *r, const char **name)
{
	int e = take_str(r, name, MSB_FS_NAME_MAX);

	if (e)
		return e;
	if (!**name || strchr(*name, '/'))
		return -EINVAL;
	if (!strcmp(*name, ".") || !strcmp(*name, ".."))
		return -EINVAL;
	return 0;
}

static void *reply_body(struct req *r)
{
	return r->f->reply + sizeof(struct fuse_out_header);
}

/* Append @len bytes to the reply body. */
static int put(struct req *r, const void *p, size_t len)
{
	if (len > REPLY_MAX - r->rlen)
		return -EIO;
	memcpy((uint8_t *)reply_body(r) + r->rlen, p, len);
	r->rlen += len;
	return 0;
}

/* A backend's error, made fit for the guest. */
static int clamp_err(long long e)
{
	if (e < 0 && e >= -4095)
		return (int)e;
	return -EIO;
}

/* ---- attributes ---------------------------------------------------------- */

static uint32_t guest_uid(const struct msb_fuse *f, uint32_t uid)
{
	return f->o.map_ids && uid == f->o.host_uid ? f->o.guest_uid : uid;
}

static uint32_t guest_gid(const struct msb_fuse *f, uint32_t gid)
{
	return f->o.map_ids && gid == f->o.host_gid ? f->o.guest_gid : gid;
}

static void to_attr(const struct msb_fuse *f, const struct stat *st,
		    struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = st->st_size < 0 ? 0 : (uint64_t)st->st_size;
	a->blocks = st->st_blocks < 0 ? 0 : (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = guest_uid(f, st->st_uid);
	a->gid = guest_gid(f, st->st_gid);
	a->rdev = (uint32_t)st->st_rdev;
	a->blksize = st->st_blksize > 0 ? (uint32_t)st->st_blksize : 4096;
}

static void split_ms(uint32_t ms, uint64_t *sec, uint32_t *nsec)
{
	*sec = ms / 1000;
	*nsec = (ms % 1000) * 1000000u;
}

static void to_entry(const struct msb_fuse *f, const struct msb_fs_entry *e,
		     struct fuse_entry_out *o)
{
	memset(o, 0, sizeof(*o));
	o->nodeid = e->ino;
	o->generation = e->generation;
	split_ms(f->o.entry_timeout_ms, &o->entry_valid, &o->entry_valid_nsec);
	split_ms(f->o.attr_timeout_ms, &o->attr_valid, &o->attr_valid_nsec);
	to_attr(f, &e->attr, &o->attr);
}

static int reply_entry(struct req *r, const struct msb_fs_entry *e)
{
	struct fuse_entry_out o;

	/* 0 is never a node; the backend just broke its promise. */
	if (!e->ino)
		return -EIO;
	to_entry(r->f, e, &o);
	return put(r, &o, sizeof(o));
}

static int reply_attr(struct req *r, const struct stat *st)
{
	struct fuse_attr_out o = { 0 };

	split_ms(r->f->o.attr_timeout_ms, &o.attr_valid, &o.attr_valid_nsec);
	to_attr(r->f, st, &o.attr);
	return put(r, &o, sizeof(o));
}

static int reply_open(struct req *r, const struct msb_fs_file *fl, int dir)
{
	struct fuse_open_out o = { .fh = fl->fh };

	if ((fl->flags & MSB_FS_DIRECT_IO) || (r->f->o.direct_io && !dir))
		o.open_flags |= FOPEN_DIRECT_IO;
	if ((fl->flags & MSB_FS_KEEP_CACHE) ||
	    (r->f->o.keep_cache && !dir && !(o.open_flags & FOPEN_DIRECT_IO)))
		o.open_flags |= FOPEN_KEEP_CACHE;
	if (fl->flags & MSB_FS_NONSEEKABLE)
		o.open_flags |= FOPEN_NONSEEKABLE;
	return put(r, &o, sizeof(o));
}

/* The open(2) flags a backend may see: no O_CREAT, O_EXCL, O_NOFOLLOW,
 * O_PATH, O_DIRECTORY or O_TMPFILE games, no O_DIRECT (guest buffers are
 * not aligned for it), no O_NOATIME (EPERM when not the owner). */
static int open_flags(uint32_t fl, int *out)
{
	const uint32_t keep = O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC |
			      O_DSYNC | O_NONBLOCK;

	if ((fl & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	*out = (int)(fl & keep);
	return 0;
}

static int modifies(const struct msb_fuse *f, int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* ---- operations ---------------------------------------------------------- */

#define OP(name) (r->f->ops.name)
#define NEED(name)                         \
	do {                               \
		if (!r->f->ops.name)       \
			return -ENOSYS;    \
	} while (0)

static int do_init(struct req *r)
{
	struct fuse_init_in in;
	struct fuse_init_out o = { 0 };
	uint32_t want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC |
			FUSE_BIG_WRITES | FUSE_AUTO_INVAL_DATA |
			FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO |
			FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS |
			FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS |
			FUSE_HANDLE_KILLPRIV_V2;
	int e;

	e = take(r, &in, sizeof(in), 8);
	if (e)
		return e;
	o.major = FUSE_KERNEL_VERSION;
	o.minor = FUSE_KERNEL_MINOR_VERSION;
	/* A newer major: answer ours alone and let the guest retry. */
	if (in.major > FUSE_KERNEL_VERSION)
		return put(r, &o, FUSE_COMPAT_INIT_OUT_SIZE);
	/* 7.31 brings MAX_PAGES and everything else we rely on. */
	if (in.major < FUSE_KERNEL_VERSION || in.minor < 31)
		return -EPROTO;
	if (r->f->o.posix_locks && r->f->ops.getlk && r->f->ops.setlk)
		want |= FUSE_POSIX_LOCKS;
	o.flags = in.flags & want;
	o.max_readahead = in.max_readahead < MSB_FUSE_MAX_WRITE ?
				  in.max_readahead : MSB_FUSE_MAX_WRITE;
	o.max_background = 64;
	o.congestion_threshold = 48;
	o.max_write = MSB_FUSE_MAX_WRITE;
	o.time_gran = 1;
	o.max_pages = MSB_FUSE_MAX_WRITE / 4096;
	r->f->minor = in.minor;
	r->f->locks = !!(o.flags & FUSE_POSIX_LOCKS);
	r->f->inited = 1;
	return put(r, &o, sizeof(o));
}

static int do_lookup(struct req *r)
{
	struct msb_fs_entry e = { 0 };
	const char *name;
	int rc = take_name(r, &name);

	if (rc)
		return rc;
	NEED(lookup);
	rc = OP(lookup)(r->f->b, &r->c, r->h.nodeid, name, &e);
	if (rc == -ENOENT && r->f->o.entry_timeout_ms) {
		/* A name the guest may keep may be kept as missing too: node
		 * 0 with a timeout is a negative entry (as virtiofsd answers
		 * in its caching modes), so a search of a path or of
		 * imports asks once, not at every try. */
		struct fuse_entry_out o = { 0 };

		split_ms(r->f->o.entry_timeout_ms, &o.entry_valid,
			 &o.entry_valid_nsec);
		return put(r, &o, sizeof(o));
	}
	return rc ? rc : reply_entry(r, &e);
}

/* kill_suidgid() - what FUSE_HANDLE_KILLPRIV_V2 asks of the server when
 * the guest's kernel flags a write, a truncate or a chown (the writer
 * lacks CAP_FSETID; a chown always): setuid goes, and setgid where group
 * execute is set, as the VFS does. With it negotiated the guest's kernel
 * marks a file it found free of both as such (S_NOSEC) and stops asking
 * for security.capability before every write(2): one round trip a write,
 * half of a small write's cost under TCG (docs/performance.md). @st, if
 * not NULL, gets the node's attributes after. */
static int kill_suidgid(struct req *r, uint64_t ino, struct stat *st)
{
	struct stat cur = { 0 }, want = { 0 }, out = { 0 };
	mode_t m;
	int rc;

	NEED(getattr);
	rc = OP(getattr)(r->f->b, &r->c, ino, MSB_FS_NO_FH, &cur);
	if (rc)
		return rc;
	m = cur.st_mode & 07777;
	if (m & S_ISUID)
		m &= ~(mode_t)S_ISUID;
	if ((m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		m &= ~(mode_t)S_ISGID;
	if (m == (cur.st_mode & 07777)) {
		if (st)
			*st = cur;
		return 0;
	}
	if (!OP(setattr))
		return 0; /* a backend that cannot change modes keeps them */
	want.st_mode = m;
	rc = OP(setattr)(r->f->b, &r->c, ino, &want, MSB_FS_SET_MODE,
			 MSB_FS_NO_FH, &out);
	if (!rc && st)
		*st = out;
	return rc;
}

static int do_getattr(struct req *r)
{
	struct fuse_getattr_in in;
	struct stat st = { 0 };
	int rc = take(r, &in, sizeof(in), 0);

	if (rc)
		return rc;
	NEED(getattr);
	rc = OP(getattr)(r->f->b, &r->c, r->h.nodeid,
			 in.getattr_flags & FUSE_GETATTR_FH ? in.fh :
							      MSB_FS_NO_FH,
			 &st);
	return rc ? rc : reply_attr(r, &st);
}

static int do_setattr(struct req *r)
{
	const uint32_t known = FATTR_MODE | FATTR_UID | FATTR_GID |
			       FATTR_SIZE | FATTR_ATIME | FATTR_MTIME |
			       FATTR_FH | FATTR_ATIME_NOW | FATTR_MTIME_NOW |
			       FATTR_CTIME;
	struct fuse_setattr_in in;
	struct stat st = { 0 }, out = { 0 };
	const struct msb_fuse *f = r->f;
	uint32_t valid;
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	valid = in.valid & known;
	if ((valid & FATTR_SIZE) && in.size > OFF_MAX)
		return -EFBIG;
	if (in.atimensec >= 1000000000u || in.mtimensec >= 1000000000u ||
	    in.ctimensec >= 1000000000u)
		return -EINVAL;
	st.st_mode = in.mode & 07777;
	st.st_uid = f->o.map_ids && in.uid == f->o.guest_uid ? f->o.host_uid :
							       in.uid;
	st.st_gid = f->o.map_ids && in.gid == f->o.guest_gid ? f->o.host_gid :
							       in.gid;
	st.st_size = (off_t)in.size;
	st.st_atim.tv_sec = (time_t)in.atime;
	st.st_atim.tv_nsec = in.atimensec;
	st.st_mtim.tv_sec = (time_t)in.mtime;
	st.st_mtim.tv_nsec = in.mtimensec;
	st.st_ctim.tv_sec = (time_t)in.ctime;
	st.st_ctim.tv_nsec = in.ctimensec;
	NEED(setattr);
	rc = OP(setattr)(f->b, &r->c, r->h.nodeid, &st, valid,
			 valid & FATTR_FH ? in.fh : MSB_FS_NO_FH, &out);
	if (!rc && (in.valid & FATTR_KILL_SUIDGID) && S_ISREG(out.st_mode))
		rc = kill_suidgid(r, r->h.nodeid, &out);
	return rc ? rc : reply_attr(r, &out);
}

static int do_readlink(struct req *r)
{
	char *buf = reply_body(r);
	ssize_t n;

	NEED(readlink);
	n = OP(readlink)(r->f->b, &r->c, r->h.nodeid, buf, PATH_MAX);
	if (n < 0)
		return (int)n;
	if (n > PATH_MAX)
		return -EIO;
	r->rlen = (size_t)n;
	return 0;
}

static int do_symlink(struct req *r)
{
	struct msb_fs_entry e = { 0 };
	const char *name, *target;
	int rc;

	if ((rc = take_name(r, &name)) || (rc = take_str(r, &target,
							  PATH_MAX - 1)))
		return rc;
	if (!*target)
		return -ENOENT;
	NEED(symlink);
	rc = OP(symlink)(r->f->b, &r->c, r->h.nodeid, name, target, &e);
	return rc ? rc : reply_entry(r, &e);
}

static int do_mknod(struct req *r)
{
	struct fuse_mknod_in in;
	struct msb_fs_entry e = { 0 };
	const char *name;
	int rc;

	if ((rc = take(r, &in, sizeof(in), sizeof(in))) ||
	    (rc = take_name(r, &name)))
		return rc;
	switch (in.mode & S_IFMT) {
	case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		break;
	default:
		return -EINVAL;
	}
	NEED(mknod);
	rc = OP(mknod)(r->f->b, &r->c, r->h.nodeid, name, in.mode, in.rdev,
		       in.umask & 0777, &e);
	return rc ? rc : reply_entry(r, &e);
}

static int do_mkdir(struct req *r)
{
	struct fuse_mkdir_in in;
	struct msb_fs_entry e = { 0 };
	const char *name;
	int rc;

	if ((rc = take(r, &in, sizeof(in), sizeof(in))) ||
	    (rc = take_name(r, &name)))
		return rc;
	NEED(mkdir);
	rc = OP(mkdir)(r->f->b, &r->c, r->h.nodeid, name,
		       S_IFDIR | (in.mode & 07777), in.umask & 0777, &e);
	return rc ? rc : reply_entry(r, &e);
}

static int do_unlink(struct req *r, int dir)
{
	const char *name;
	int rc = take_name(r, &name);

	if (rc)
		return rc;
	if (dir) {
		NEED(rmdir);
		return OP(rmdir)(r->f->b, &r->c, r->h.nodeid, name);
	}
	NEED(unlink);
	return OP(unlink)(r->f->b, &r->c, r->h.nodeid, name);
}

static int do_rename(struct req *r, int two)
{
	struct fuse_rename2_in in = { 0 };
	const char *name, *newname;
	int rc;

	if (two)
		rc = take(r, &in, sizeof(in), sizeof(in));
	else
		rc = take(r, &in, sizeof(struct fuse_rename_in),
			  sizeof(struct fuse_rename_in));
	if (rc || (rc = take_name(r, &name)) || (rc = take_name(r, &newname)))
		return rc;
	if (in.flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((in.flags & RENAME_NOREPLACE) && (in.flags & RENAME_EXCHANGE))
		return -EINVAL;
	NEED(rename);
	return OP(rename)(r->f->b, &r->c, r->h.nodeid, name, in.newdir,
			  newname,
			  (in.flags & RENAME_NOREPLACE ?
				   MSB_FS_RENAME_NOREPLACE : 0) |
				  (in.flags & RENAME_EXCHANGE ?
					   MSB_FS_RENAME_EXCHANGE : 0));
}

static int do_link(struct req *r)
{
	struct fuse_link_in in;
	struct msb_fs_entry e = { 0 };
	const char *name;
	int rc;

	if ((rc = take(r, &in, sizeof(in), sizeof(in))) ||
	    (rc = take_name(r, &name)))
		return rc;
	NEED(link);
	rc = OP(link)(r->f->b, &r->c, in.oldnodeid, r->h.nodeid, name, &e);
	return rc ? rc : reply_entry(r, &e);
}

static int do_open(struct req *r, int dir)
{
	struct fuse_open_in in;
	struct msb_fs_file fl = { 0 };
	int flags, rc;

	if ((rc = take(r, &in, sizeof(in), sizeof(in))) ||
	    (rc = open_flags(in.flags, &flags)))
		return rc;
	if (dir) {
		NEED(opendir);
		rc = OP(opendir)(r->f->b, &r->c, r->h.nodeid, flags, &fl);
	} else {
		if (r->f->o.read_only && modifies(r->f, flags))
			return -EROFS;
		/* A truncating open: the bits go first, as the VFS's
		 * truncate takes them with the size. (CREATE can carry the
		 * flag too, for a file that appeared after the guest found
		 * the name free: there it is not applied.) */
		if ((flags & O_TRUNC) &&
		    (in.open_flags & FUSE_OPEN_KILL_SUIDGID) &&
		    (rc = kill_suidgid(r, r->h.nodeid, NULL)))
			return rc;
		NEED(open);
		rc = OP(open)(r->f->b, &r->c, r->h.nodeid, flags, &fl);
	}
	return rc ? rc : reply_open(r, &fl, dir);
}

static int do_create(struct req *r)
{
	struct fuse_create_in in;
	struct msb_fs_entry e = { 0 };
	struct msb_fs_file fl = { 0 };
	const char *name;
	int flags, rc;

	if ((rc = take(r, &in, sizeof(in), sizeof(in))) ||
	    (rc = take_name(r, &name)) || (rc = open_flags(in.flags, &flags)))
		return rc;
	NEED(create);
	rc = OP(create)(r->f->b, &r->c, r->h.nodeid, name,
			S_IFREG | (in.mode & 07777),
			flags | (int)(in.flags & O_EXCL), in.umask & 0777, &e,
			&fl);
	if (rc)
		return rc;
	if (!e.ino)
		return -EIO;
	rc = reply_entry(r, &e);
	return rc ? rc : reply_open(r, &fl, 0);
}

/* READ: the backend fills the guest's buffers after the out header. */
static int do_read(struct req *r, const struct iovec *out, int nout,
		   size_t *datalen)
{
	struct fuse_read_in in;
	size_t room;
	ssize_t n;
	int k, rc = take(r, &in, sizeof(in), FUSE_COMPAT_WRITE_IN_SIZE);

	if (rc)
		return rc;
	if (in.offset > OFF_MAX)
		return -EINVAL;
	if (in.size > MSB_FUSE_MAX_WRITE)
		in.size = MSB_FUSE_MAX_WRITE;
	room = r->outcap - sizeof(struct fuse_out_header);
	if (in.size > room)
		in.size = (uint32_t)room;
	k = iov_slice(r->f->iov, MAX_IOV, out, nout,
		      sizeof(struct fuse_out_header), in.size);
	if (k < 0)
		return -EINVAL;
	NEED(read);
	n = OP(read)(r->f->b, &r->c, r->h.nodeid, in.fh, r->f->iov, k,
		     in.offset);
	if (n < 0)
		return clamp_err(n);
	if ((size_t)n > in.size)
		return -EIO;
	*datalen = (size_t)n;
	return 0;
}

/* WRITE: the payload stays where the guest put it. */
static int do_write(struct req *r, const struct iovec *in_iov, int nin,
		    size_t payload_off, size_t payload_len)
{
	struct fuse_write_in in;
	struct fuse_write_out o = { 0 };
	ssize_t n;
	int k, rc = take(r, &in, sizeof(in), FUSE_COMPAT_WRITE_IN_SIZE);

	if (rc)
		return rc;
	if (in.size > MSB_FUSE_MAX_WRITE || in.size > payload_len)
		return -EINVAL;
	if (in.offset > OFF_MAX || in.size > OFF_MAX - in.offset)
		return -EFBIG;
	if (r->f->o.read_only)
		return -EROFS;
	/* before the bytes, as the VFS's write takes them */
	if ((in.write_flags & FUSE_WRITE_KILL_SUIDGID) &&
	    (rc = kill_suidgid(r, r->h.nodeid, NULL)))
		return rc;
	k = iov_slice(r->f->iov, MAX_IOV, in_iov, nin, payload_off, in.size);
	if (k < 0)
		return -EINVAL;
	NEED(write);
	n = OP(write)(r->f->b, &r->c, r->h.nodeid, in.fh, r->f->iov, k,
		      in.offset, (int)(in.flags & ~(uint32_t)O_CREAT));
	if (n < 0)
		return clamp_err(n);
	if ((size_t)n > in.size)
		return -EIO;
	o.size = (uint32_t)n;
	return put(r, &o, sizeof(o));
}

static int do_statfs(struct req *r)
{
	struct statvfs sv = { 0 };
	struct fuse_statfs_out o = { 0 };
	int rc;

	NEED(statfs);
	rc = OP(statfs)(r->f->b, &r->c, r->h.nodeid, &sv);
	if (rc)
		return rc;
	o.st.blocks = sv.f_blocks;
	o.st.bfree = sv.f_bfree;
	o.st.bavail = sv.f_bavail;
	o.st.files = sv.f_files;
	o.st.ffree = sv.f_ffree;
	o.st.bsize = (uint32_t)sv.f_bsize;
	o.st.namelen = MSB_FS_NAME_MAX;
	o.st.frsize = (uint32_t)sv.f_frsize;
	return put(r, &o, sizeof(o));
}

static int do_release(struct req *r, int dir)
{
	struct fuse_release_in in;
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	if (dir)
		return OP(releasedir) ? OP(releasedir)(r->f->b, &r->c,
							r->h.nodeid, in.fh) :
					0;
	return OP(release) ? OP(release)(r->f->b, &r->c, r->h.nodeid, in.fh,
					 (int)in.flags, in.lock_owner) :
			     0;
}

static int do_fsync(struct req *r, int dir)
{
	struct fuse_fsync_in in;
	int rc = take(r, &in, sizeof(in), sizeof(in));
	int ds;

	if (rc)
		return rc;
	ds = !!(in.fsync_flags & FUSE_FSYNC_FDATASYNC);
	if (dir) {
		NEED(fsyncdir);
		return OP(fsyncdir)(r->f->b, &r->c, r->h.nodeid, in.fh, ds);
	}
	NEED(fsync);
	return OP(fsync)(r->f->b, &r->c, r->h.nodeid, in.fh, ds);
}

static int do_flush(struct req *r)
{
	struct fuse_flush_in in;
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	/* Nothing to do at a close (include/msb_fs.h): ENOSYS, and the
	 * guest's kernel sends no more FLUSH on this mount. */
	if (!OP(flush) ||
	    (!r->f->locks && (r->f->ops.flags & MSB_FS_FLUSH_LOCKS_ONLY)))
		return -ENOSYS;
	return OP(flush)(r->f->b, &r->c, r->h.nodeid, in.fh, in.lock_owner);
}

static int do_setxattr(struct req *r)
{
	struct fuse_setxattr_in in;
	const char *name;
	int rc;

	/* FUSE_SETXATTR_EXT is not negotiated: the 8-byte form. */
	if ((rc = take(r, &in, FUSE_COMPAT_SETXATTR_IN_SIZE,
		       FUSE_COMPAT_SETXATTR_IN_SIZE)) ||
	    (rc = take_str(r, &name, XATTR_NAME_MAX)))
		return rc;
	if (!*name)
		return -EINVAL;
	if (in.size > XATTR_MAX)
		return -E2BIG;
	if (in.size > r->alen - r->pos)
		return -EINVAL;
	if (in.flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	NEED(setxattr);
	return OP(setxattr)(r->f->b, &r->c, r->h.nodeid, name, r->a + r->pos,
			    in.size, (int)in.flags);
}

static int do_getxattr(struct req *r, int list)
{
	struct fuse_getxattr_in in;
	struct fuse_getxattr_out o = { 0 };
	const char *name = NULL;
	size_t size;
	ssize_t n;
	int rc;

	if ((rc = take(r, &in, sizeof(in), sizeof(in))))
		return rc;
	if (!list && (rc = take_str(r, &name, XATTR_NAME_MAX)))
		return rc;
	if (name && !*name)
		return -EINVAL;
	size = in.size > XATTR_MAX ? XATTR_MAX : in.size;
	if (size > r->outcap - sizeof(struct fuse_out_header))
		return -ERANGE;
	if (list) {
		NEED(listxattr);
		n = OP(listxattr)(r->f->b, &r->c, r->h.nodeid,
				  size ? reply_body(r) : NULL, size);
	} else {
		NEED(getxattr);
		n = OP(getxattr)(r->f->b, &r->c, r->h.nodeid, name,
				 size ? reply_body(r) : NULL, size);
	}
	if (n < 0)
		return clamp_err(n);
	if (!in.size) {
		o.size = n > XATTR_MAX ? XATTR_MAX : (uint32_t)n;
		return put(r, &o, sizeof(o));
	}
	if ((size_t)n > size)
		return -ERANGE;
	r->rlen = (size_t)n;
	return 0;
}

static int do_removexattr(struct req *r)
{
	const char *name;
	int rc = take_str(r, &name, XATTR_NAME_MAX);

	if (rc)
		return rc;
	if (!*name)
		return -EINVAL;
	NEED(removexattr);
	return OP(removexattr)(r->f->b, &r->c, r->h.nodeid, name);
}

/* fuse_file_lock has an inclusive end (OFFSET_MAX: to the end of file);
 * struct flock a length (0: to the end). */
static int lk_to_flock(const struct fuse_file_lock *l, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	if (l->type != F_RDLCK && l->type != F_WRLCK && l->type != F_UNLCK)
		return -EINVAL;
	if (l->start > OFF_MAX || l->end < l->start)
		return -EINVAL;
	fl->l_type = (short)l->type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)l->start;
	fl->l_len = l->end >= OFF_MAX ? 0 : (off_t)(l->end - l->start + 1);
	fl->l_pid = (pid_t)l->pid;
	return 0;
}

static int do_lock(struct req *r, int op)
{
	struct fuse_lk_in in;
	struct fuse_lk_out o = { 0 };
	struct flock fl;
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	/* FUSE_FLOCK_LOCKS is not negotiated: the guest does flock() itself. */
	if (in.lk_flags & FUSE_LK_FLOCK)
		return -ENOSYS;
	if ((rc = lk_to_flock(&in.lk, &fl)))
		return rc;
	if (op != FUSE_GETLK) {
		NEED(setlk);
		return OP(setlk)(r->f->b, &r->c, r->h.nodeid, in.fh, in.owner,
				 &fl, op == FUSE_SETLKW);
	}
	NEED(getlk);
	if ((rc = OP(getlk)(r->f->b, &r->c, r->h.nodeid, in.fh, in.owner,
			    &fl)))
		return rc;
	o.lk.type = (uint32_t)fl.l_type;
	if (fl.l_type != F_UNLCK) {
		o.lk.start = fl.l_start < 0 ? 0 : (uint64_t)fl.l_start;
		o.lk.end = fl.l_len <= 0 ? (uint64_t)OFF_MAX :
					   o.lk.start + (uint64_t)fl.l_len - 1;
		o.lk.pid = fl.l_pid < 0 ? 0 : (uint32_t)fl.l_pid;
	}
	return put(r, &o, sizeof(o));
}

static int do_access(struct req *r)
{
	struct fuse_access_in in;
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	if (in.mask & ~(uint32_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	if (r->f->o.read_only && (in.mask & W_OK))
		return -EROFS;
	NEED(access);
	return OP(access)(r->f->b, &r->c, r->h.nodeid, (int)in.mask);
}

static int do_fallocate(struct req *r)
{
	struct fuse_fallocate_in in;
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	if (in.offset > OFF_MAX || !in.length || in.length > OFF_MAX - in.offset)
		return -EINVAL;
	NEED(fallocate);
	return OP(fallocate)(r->f->b, &r->c, r->h.nodeid, in.fh, (int)in.mode,
			     in.offset, in.length);
}

static int do_lseek(struct req *r)
{
	struct fuse_lseek_in in;
	struct fuse_lseek_out o = { 0 };
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	if (in.whence != SEEK_DATA && in.whence != SEEK_HOLE)
		return -EINVAL;
	if (in.offset > OFF_MAX)
		return -ENXIO;
	NEED(lseek);
	rc = OP(lseek)(r->f->b, &r->c, r->h.nodeid, in.fh, in.offset,
		       (int)in.whence, &o.offset);
	return rc ? rc : put(r, &o, sizeof(o));
}

static int do_copy_file_range(struct req *r)
{
	struct fuse_copy_file_range_in in;
	struct fuse_write_out o = { 0 };
	ssize_t n;
	int rc = take(r, &in, sizeof(in), sizeof(in));

	if (rc)
		return rc;
	if (in.flags)
		return -EINVAL;
	if (in.len > COPY_MAX)
		in.len = COPY_MAX;
	if (in.off_in > OFF_MAX || in.off_out > OFF_MAX ||
	    in.len > OFF_MAX - in.off_out || in.len > OFF_MAX - in.off_in)
		return -EINVAL;
	NEED(copy_file_range);
	n = OP(copy_file_range)(r->f->b, &r->c, r->h.nodeid, in.fh_in,
				in.off_in, in.nodeid_out, in.fh_out,
				in.off_out, (size_t)in.len, 0);
	if (n < 0)
		return clamp_err(n);
	if ((uint64_t)n > in.len)
		return -EIO;
	o.size = (uint32_t)n;
	return put(r, &o, sizeof(o));
}

static int do_syncfs(struct req *r)
{
	if (!OP(syncfs))
		return 0;
	return OP(syncfs)(r->f->b, &r->c, r->h.nodeid);
}

static void do_forget(struct req *r)
{
	struct fuse_forget_in in;

	if (take(r, &in, sizeof(in), sizeof(in)) || !r->f->ops.forget)
		return;
	r->f->ops.forget(r->f->b, r->h.nodeid, in.nlookup);
}

static void do_batch_forget(struct req *r)
{
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;

	if (take(r, &in, sizeof(in), sizeof(in)))
		return;
	/* As many as the request holds, whatever @count claims. */
	for (uint32_t i = 0; i < in.count; i++) {
		if (take(r, &one, sizeof(one), sizeof(one)))
			return;
		if (r->f->ops.forget)
			r->f->ops.forget(r->f->b, one.nodeid, one.nlookup);
	}
}

/* ---- READDIR and READDIRPLUS --------------------------------------------- */

struct dirfill {
	struct req *r;
	size_t cap;  /* bytes the guest asked for */
	int plus;
};

static int fill_one(void *ctx, const struct msb_fs_dirent *d)
{
	struct dirfill *df = ctx;
	struct req *r = df->r;
	size_t namelen, ent;
	uint8_t *p;

	if (!d || !d->name)
		return 1;
	namelen = strnlen(d->name, MSB_FS_NAME_MAX + 1);
	/* A backend's bad name is skipped, not passed on. */
	if (!namelen || namelen > MSB_FS_NAME_MAX || memchr(d->name, '/',
							    namelen))
		return 0;
	ent = (df->plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET) +
	      namelen;
	ent = (ent + 7) & ~(size_t)7;
	if (ent > df->cap - r->rlen)
		return 1;
	p = (uint8_t *)reply_body(r) + r->rlen;
	memset(p, 0, ent);
	if (df->plus) {
		struct fuse_direntplus *dp = (struct fuse_direntplus *)p;
		int dot = !strcmp(d->name, ".") || !strcmp(d->name, "..");

		if (dot) {
			/* No node and no lookup for . and .. (as libfuse). */
			dp->entry_out.attr.ino = d->ino;
			dp->entry_out.attr.mode = (d->type & 017) << 12;
		} else {
			struct msb_fs_entry e = { 0 };
			int rc = r->f->ops.lookup ?
					 r->f->ops.lookup(r->f->b, &r->c,
							  r->h.nodeid, d->name,
							  &e) :
					 -ENOSYS;

			if (rc == -ENOENT)
				return 0; /* gone since: skip it */
			if (!rc && !e.ino)
				return 0; /* (a backend's broken promise) */
			/* A name that cannot be looked up (a directory the
			 * caller may read but not search) is sent without a
			 * node, which the kernel takes as "no attributes". */
			if (rc) {
				dp->entry_out.attr.ino = d->ino;
				dp->entry_out.attr.mode = (d->type & 017) << 12;
			} else {
				to_entry(r->f, &e, &dp->entry_out);
			}
		}
		dp->dirent.ino = d->ino;
		dp->dirent.off = d->off;
		dp->dirent.namelen = (uint32_t)namelen;
		dp->dirent.type = d->type & 017;
		memcpy(dp->dirent.name, d->name, namelen);
	} else {
		struct fuse_dirent *de = (struct fuse_dirent *)p;

		de->ino = d->ino;
		de->off = d->off;
		de->namelen = (uint32_t)namelen;
		de->type = d->type & 017;
		memcpy(de->name, d->name, namelen);
	}
	r->rlen += ent;
	return 0;
}

static int do_readdir(struct req *r, int plus)
{
	struct fuse_read_in in;
	struct dirfill df = { .r = r, .plus = plus };
	int rc = take(r, &in, sizeof(in), FUSE_COMPAT_WRITE_IN_SIZE);

	if (rc)
		return rc;
	df.cap = in.size;
	if (df.cap > REPLY_MAX)
		df.cap = REPLY_MAX;
	if (df.cap > r->outcap - sizeof(struct fuse_out_header))
		df.cap = r->outcap - sizeof(struct fuse_out_header);
	NEED(readdir);
	rc = OP(readdir)(r->f->b, &r->c, r->h.nodeid, in.fh, in.offset,
			 fill_one, &df);
	/* Entries already in the reply were counted as lookups: send them. */
	if (r->rlen)
		return 0;
	return rc;
}

/* ---- the dispatcher ------------------------------------------------------ */

static int is_modifying(uint32_t op)
{
	switch (op) {
	case FUSE_SETATTR: case FUSE_SYMLINK: case FUSE_MKNOD:
	case FUSE_MKDIR: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME:
	case FUSE_RENAME2: case FUSE_LINK: case FUSE_WRITE:
	case FUSE_SETXATTR: case FUSE_REMOVEXATTR: case FUSE_CREATE:
	case FUSE_FALLOCATE: case FUSE_COPY_FILE_RANGE: case FUSE_TMPFILE:
		return 1;
	}
	return 0;
}

static int dispatch(struct req *r, const struct iovec *in, int nin,
		    const struct iovec *out, int nout, size_t *datalen)
{
	uint32_t op = r->h.opcode;

	if (op == FUSE_INIT)
		return do_init(r);
	if (!r->f->inited)
		return -EIO;
	if (r->f->o.read_only && is_modifying(op))
		return -EROFS;
	switch (op) {
	case FUSE_DESTROY:
		r->f->inited = 0;
		return 0;
	case FUSE_LOOKUP: return do_lookup(r);
	case FUSE_GETATTR: return do_getattr(r);
	case FUSE_SETATTR: return do_setattr(r);
	case FUSE_READLINK: return do_readlink(r);
	case FUSE_SYMLINK: return do_symlink(r);
	case FUSE_MKNOD: return do_mknod(r);
	case FUSE_MKDIR: return do_mkdir(r);
	case FUSE_UNLINK: return do_unlink(r, 0);
	case FUSE_RMDIR: return do_unlink(r, 1);
	case FUSE_RENAME: return do_rename(r, 0);
	case FUSE_RENAME2: return do_rename(r, 1);
	case FUSE_LINK: return do_link(r);
	case FUSE_OPEN: return do_open(r, 0);
	case FUSE_OPENDIR: return do_open(r, 1);
	case FUSE_CREATE: return do_create(r);
	case FUSE_READ: return do_read(r, out, nout, datalen);
	case FUSE_WRITE:
		return do_write(r, in, nin,
				sizeof(struct fuse_in_header) + r->alen,
				r->h.len - sizeof(struct fuse_in_header) -
					r->alen);
	case FUSE_STATFS: return do_statfs(r);
	case FUSE_RELEASE: return do_release(r, 0);
	case FUSE_RELEASEDIR: return do_release(r, 1);
	case FUSE_FSYNC: return do_fsync(r, 0);
	case FUSE_FSYNCDIR: return do_fsync(r, 1);
	case FUSE_FLUSH: return do_flush(r);
	case FUSE_SETXATTR: return do_setxattr(r);
	case FUSE_GETXATTR: return do_getxattr(r, 0);
	case FUSE_LISTXATTR: return do_getxattr(r, 1);
	case FUSE_REMOVEXATTR: return do_removexattr(r);
	case FUSE_READDIR: return do_readdir(r, 0);
	case FUSE_READDIRPLUS: return do_readdir(r, 1);
	case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW:
		return do_lock(r, (int)op);
	case FUSE_ACCESS: return do_access(r);
	case FUSE_FALLOCATE: return do_fallocate(r);
	case FUSE_LSEEK: return do_lseek(r);
	case FUSE_COPY_FILE_RANGE: return do_copy_file_range(r);
	case FUSE_SYNCFS: return do_syncfs(r);
	}
	/* IOCTL, POLL, BMAP, SETUPMAPPING (no DAX), TMPFILE, NOTIFY_REPLY... */
	return -ENOSYS;
}

size_t msb_fuse_handle(struct msb_fuse *f, const struct iovec *in, int nin,
		       const struct iovec *out, int nout)
{
	struct req r = { .f = f };
	struct fuse_out_header oh = { 0 };
	size_t inlen, datalen = 0, arglen;
	int rc, noreply;

	if (!f || nin < 0 || nout < 0 || nin > MAX_IOV || nout > MAX_IOV)
		return 0;
	inlen = iov_total(in, nin);
	r.outcap = iov_total(out, nout);
	if (inlen < sizeof(r.h))
		return 0;
	iov_copy_from(&r.h, in, nin, 0, sizeof(r.h));
	oh.unique = r.h.unique;
	r.c.pid = r.h.pid;
	r.c.uid = r.h.uid;
	r.c.gid = r.h.gid;

	/* Forgets and interrupts are never answered, not even when broken;
	 * they come with no writable buffer at all (virtio 1.2 §5.11.6.1). */
	noreply = r.h.opcode == FUSE_FORGET ||
		  r.h.opcode == FUSE_BATCH_FORGET ||
		  r.h.opcode == FUSE_INTERRUPT;
	if (!noreply && r.outcap < sizeof(oh))
		return 0;
	if (r.h.len < sizeof(r.h) || r.h.len > inlen) {
		if (noreply)
			return 0;
		rc = -EINVAL;
		goto reply;
	}
	arglen = r.h.len - sizeof(r.h);
	/* A WRITE's payload is not copied: only its fuse_write_in is. */
	if (r.h.opcode == FUSE_WRITE && arglen > sizeof(struct fuse_write_in))
		arglen = f->minor < 9 ? FUSE_COMPAT_WRITE_IN_SIZE :
					sizeof(struct fuse_write_in);
	if (arglen > MSB_FUSE_MAX_ARGS) {
		if (r.h.opcode == FUSE_FORGET || r.h.opcode == FUSE_BATCH_FORGET)
			arglen = MSB_FUSE_MAX_ARGS; /* forget what fits */
		else {
			rc = -E2BIG;
			goto reply;
		}
	}
	iov_copy_from(f->args, in, nin, sizeof(r.h), arglen);
	r.a = f->args;
	r.alen = arglen;

	switch (r.h.opcode) {
	case FUSE_FORGET:
		if (f->inited)
			do_forget(&r);
		return 0;
	case FUSE_BATCH_FORGET:
		if (f->inited)
			do_batch_forget(&r);
		return 0;
	case FUSE_INTERRUPT:
		/* Requests are answered in order, one at a time: nothing to
		 * interrupt. */
		return 0;
	}
	rc = dispatch(&r, in, nin, out, nout, &datalen);

reply:
	if (rc > 0)
		rc = -EIO;
	if (rc) {
		oh.error = clamp_err(rc);
		r.rlen = 0;
		datalen = 0;
	}
	if (r.rlen > r.outcap - sizeof(oh)) {
		/* The guest gave less room than the reply needs. */
		oh.error = -EINVAL;
		r.rlen = 0;
		datalen = 0;
	}
	oh.len = (uint32_t)(sizeof(oh) + r.rlen + datalen);
	iov_copy_to(out, nout, 0, &oh, sizeof(oh));
	if (r.rlen)
		iov_copy_to(out, nout, sizeof(oh), reply_body(&r), r.rlen);
	return oh.len;
}
