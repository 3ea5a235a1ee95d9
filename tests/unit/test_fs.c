/* SPDX-License-Identifier: Apache-2.0 */
/* test_fs.c - the FUSE dispatcher and the filesystem backends, driven by
 * real FUSE request bytes (<linux/fuse.h>) split across iovecs as a
 * virtqueue might split them, against real temp directories. */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends.h"
#include "fuse.h"
#include "harness.h"
#include "util.h"

#define OUT_MAX ((2u << 20) + 4096)

/* One session under test. */
struct ts {
	struct msb_fuse *f;
	struct msb_fs_backend be;
	uint8_t *out;
	uint64_t unique;
	size_t rlen;          /* reply body length */
	uint8_t *body;        /* reply body */
	size_t outcap;        /* writable room offered (default OUT_MAX) */
	int split;            /* split requests and replies into pieces */
	uint32_t uid, gid;    /* the caller */
	int nonodes;          /* READDIRPLUS entries without a node */
};

/* Split [0, len) into up to 8 iovecs over @base, some empty. */
static int split_iov(uint8_t *base, size_t len, struct iovec *iov, int split)
{
	size_t cuts[9];
	int n = split ? 1 + (int)(unit_rand() % 8) : 1;

	for (int i = 0; i < n - 1; i++)
		cuts[i] = len ? unit_rand() % (len + 1) : 0;
	cuts[n - 1] = len;
	/* sort */
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (cuts[j] < cuts[i]) {
				size_t t = cuts[i];

				cuts[i] = cuts[j];
				cuts[j] = t;
			}
	for (int i = 0, prev = 0; i < n; i++) {
		iov[i].iov_base = base + prev;
		iov[i].iov_len = cuts[i] - (size_t)prev;
		prev = (int)cuts[i];
	}
	return n;
}

/* Send a request of opcode @op on @nodeid with argument parts (pointer,
 * length pairs, NULL-terminated). Return: the reply's error (0 or -errno),
 * or 1 if there was no reply. */
static int call(struct ts *t, uint32_t op, uint64_t nodeid, ...)
{
	static uint8_t req[(1u << 20) + 65536];
	struct fuse_in_header h = { .opcode = op, .nodeid = nodeid,
				    .unique = ++t->unique, .uid = t->uid,
				    .gid = t->gid,
				    .pid = 4242 };
	struct iovec in[8], out[8];
	size_t len = sizeof(h), olen;
	struct fuse_out_header oh;
	const void *p;
	va_list ap;
	int nin, nout;

	va_start(ap, nodeid);
	while ((p = va_arg(ap, const void *))) {
		size_t l = va_arg(ap, size_t);

		memcpy(req + len, p, l);
		len += l;
	}
	va_end(ap);
	h.len = (uint32_t)len;
	memcpy(req, &h, sizeof(h));
	nin = split_iov(req, len, in, t->split);
	memset(t->out, 0xa5, 64);
	nout = split_iov(t->out, t->outcap ? t->outcap : OUT_MAX, out,
			 t->split);
	olen = msb_fuse_handle(t->f, in, nin, out, nout);
	if (!olen)
		return 1;
	memcpy(&oh, t->out, sizeof(oh));
	CHECK_EQ_INT(oh.len, olen);
	CHECK_EQ_INT(oh.unique, h.unique);
	t->body = t->out + sizeof(oh);
	t->rlen = olen - sizeof(oh);
	if (oh.error)
		CHECK_EQ_INT(t->rlen, 0);
	return oh.error;
}

#define END NULL

static int ts_open(struct ts *t, struct msb_fs_backend *be,
		   const struct msb_fuse_opts *o)
{
	struct fuse_init_in in = { .major = 7, .minor = 37,
				   .max_readahead = 1 << 20,
				   .flags = 0xffffffffu };
	struct fuse_init_out io;

	memset(t, 0, sizeof(*t));
	t->be = *be;
	t->f = msb_fuse_new(be->ops, be->state, o);
	t->out = malloc(OUT_MAX);
	t->split = 1;
	if (!t->f || !t->out)
		return -1;
	CHECK_EQ_INT(call(t, FUSE_INIT, 0, &in, sizeof(in), END), 0);
	CHECK_EQ_INT(t->rlen, sizeof(io));
	memcpy(&io, t->body, sizeof(io));
	CHECK_EQ_INT(io.major, 7);
	CHECK_EQ_INT(io.max_write, MSB_FUSE_MAX_WRITE);
	CHECK(io.flags & FUSE_DO_READDIRPLUS);
	CHECK(io.flags & FUSE_HANDLE_KILLPRIV_V2);
	CHECK(!(io.flags & (FUSE_SPLICE_READ | FUSE_SPLICE_WRITE |
			    FUSE_SPLICE_MOVE | FUSE_WRITEBACK_CACHE)));
	CHECK_EQ_INT(io.max_pages, 256);
	return 0;
}

static void ts_close(struct ts *t)
{
	msb_fuse_free(t->f);
	msb_fs_backend_close(&t->be);
	free(t->out);
}

static int lookup(struct ts *t, uint64_t dir, const char *name,
		  struct fuse_entry_out *e)
{
	int rc = call(t, FUSE_LOOKUP, dir, name, strlen(name) + 1, END);

	if (!rc) {
		CHECK_EQ_INT(t->rlen, sizeof(*e));
		memcpy(e, t->body, sizeof(*e));
		CHECK(e->nodeid != 0);
	}
	return rc;
}

static int create(struct ts *t, uint64_t dir, const char *name, uint32_t mode,
		  uint32_t flags, struct fuse_entry_out *e, uint64_t *fh)
{
	struct fuse_create_in in = { .flags = flags, .mode = S_IFREG | mode,
				     .umask = 022 };
	struct fuse_open_out oo;
	int rc = call(t, FUSE_CREATE, dir, &in, sizeof(in), name,
		      strlen(name) + 1, END);

	if (!rc) {
		CHECK_EQ_INT(t->rlen, sizeof(*e) + sizeof(oo));
		memcpy(e, t->body, sizeof(*e));
		memcpy(&oo, t->body + sizeof(*e), sizeof(oo));
		*fh = oo.fh;
	}
	return rc;
}

static int mkdir_(struct ts *t, uint64_t dir, const char *name,
		  struct fuse_entry_out *e)
{
	struct fuse_mkdir_in in = { .mode = 0755, .umask = 022 };
	int rc = call(t, FUSE_MKDIR, dir, &in, sizeof(in), name,
		      strlen(name) + 1, END);

	if (!rc)
		memcpy(e, t->body, sizeof(*e));
	return rc;
}

static int open_(struct ts *t, uint64_t ino, uint32_t flags, uint64_t *fh,
		 int dir)
{
	struct fuse_open_in in = { .flags = flags };
	int rc = call(t, dir ? FUSE_OPENDIR : FUSE_OPEN, ino, &in, sizeof(in),
		      END);

	if (!rc) {
		struct fuse_open_out oo;

		memcpy(&oo, t->body, sizeof(oo));
		*fh = oo.fh;
	}
	return rc;
}

static int release(struct ts *t, uint64_t ino, uint64_t fh, int dir)
{
	struct fuse_release_in in = { .fh = fh };

	return call(t, dir ? FUSE_RELEASEDIR : FUSE_RELEASE, ino, &in,
		    sizeof(in), END);
}

static long write_(struct ts *t, uint64_t ino, uint64_t fh, uint64_t off,
		   const void *data, size_t len)
{
	struct fuse_write_in in = { .fh = fh, .offset = off,
				    .size = (uint32_t)len };
	struct fuse_write_out wo;
	int rc = call(t, FUSE_WRITE, ino, &in, sizeof(in), data, len, END);

	if (rc)
		return rc;
	memcpy(&wo, t->body, sizeof(wo));
	return wo.size;
}

static long read_(struct ts *t, uint64_t ino, uint64_t fh, uint64_t off,
		  void *buf, size_t len)
{
	struct fuse_read_in in = { .fh = fh, .offset = off,
				   .size = (uint32_t)len };
	int rc = call(t, FUSE_READ, ino, &in, sizeof(in), END);

	if (rc)
		return rc;
	CHECK(t->rlen <= len);
	memcpy(buf, t->body, t->rlen);
	return (long)t->rlen;
}

static void forget(struct ts *t, uint64_t ino, uint64_t n)
{
	struct fuse_forget_in in = { .nlookup = n };

	CHECK_EQ_INT(call(t, FUSE_FORGET, ino, &in, sizeof(in), END), 1);
}

/* READDIR(PLUS) the whole of @dir in small batches; @names gets the names
 * joined by ',' in order; Return the number of entries. */
static int list(struct ts *t, uint64_t dir, int plus, char *names, size_t n,
		int *err)
{
	uint64_t fh, off = 0;
	int count = 0;

	*names = 0;
	*err = open_(t, dir, O_RDONLY, &fh, 1);
	if (*err)
		return 0;
	for (int rounds = 0; rounds < 100000; rounds++) {
		struct fuse_read_in in = { .fh = fh, .offset = off,
					   .size = 700 };
		size_t pos = 0;
		int got = 0;

		*err = call(t, plus ? FUSE_READDIRPLUS : FUSE_READDIR, dir, &in,
			    sizeof(in), END);
		if (*err)
			break;
		CHECK(t->rlen <= 700);
		while (pos < t->rlen) {
			struct fuse_dirent de;
			size_t hdr = plus ? sizeof(struct fuse_entry_out) : 0;
			const char *nm;

			memcpy(&de, t->body + pos + hdr, sizeof(de));
			nm = (const char *)t->body + pos + hdr +
			     FUSE_NAME_OFFSET;
			if (plus) {
				struct fuse_entry_out e;

				memcpy(&e, t->body + pos, sizeof(e));
				/* (no node: . and .., or a name the caller
				 * cannot look up) */
				CHECK_EQ_INT(e.attr.ino, de.ino);
				if (e.nodeid)
					forget(t, e.nodeid, 1);
				else
					t->nonodes++;
			}
			if (strlen(names) + de.namelen + 2 < n) {
				strncat(names, nm, de.namelen);
				strcat(names, ",");
			}
			off = de.off;
			pos += (hdr + FUSE_NAME_OFFSET + de.namelen + 7) & ~7ul;
			count++;
			got++;
		}
		CHECK_EQ_INT(pos, t->rlen);
		if (!got)
			break;
	}
	CHECK_EQ_INT(release(t, dir, fh, 1), 0);
	return count;
}

static int has_name(const char *names, const char *name)
{
	char pat[300];

	snprintf(pat, sizeof(pat), ",%s,", name);
	char all[70000];

	snprintf(all, sizeof(all), ",%s", names);
	return strstr(all, pat) != NULL;
}

/* ---- the operations every backend must get right -------------------------- */

static void exercise(struct msb_fs_backend *be, const char *what)
{
	int overlay = !strcmp(what, "overlay");
	struct ts t;
	struct fuse_entry_out e, d, e2;
	struct fuse_attr_out ao;
	uint64_t fh, fh2, dfh;
	static uint8_t big[(1u << 20) + 10], back[(1u << 20) + 10];
	static char names[65536];
	int err;

	if (ts_open(&t, be, NULL))
		return;
	/* CREATE, WRITE (split), READ (split) */
	CHECK_EQ_INT(create(&t, 1, "a.txt", 0644, O_RDWR, &e, &fh), 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ_INT(e.attr.mode & 0777, 0644);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 11));
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, big, 1u << 20), 1 << 20);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 1u << 20, "tail", 4), 4);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, back, 1u << 20), 1 << 20);
	CHECK_MEM(back, big, 1u << 20);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, (1u << 20) - 2, back, 100), 6);
	CHECK_MEM(back + 2, "tail", 4);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 5u << 20, back, 100), 0);
	/* GETATTR with and without the handle */
	{
		struct fuse_getattr_in gi = { .getattr_flags = FUSE_GETATTR_FH,
					      .fh = fh };

		CHECK_EQ_INT(call(&t, FUSE_GETATTR, e.nodeid, &gi, sizeof(gi),
				  END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.size, (1 << 20) + 4);
		CHECK_EQ_INT(call(&t, FUSE_GETATTR, 1, END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK(S_ISDIR(ao.attr.mode));
	}
	/* SETATTR: truncate and chmod */
	{
		struct fuse_setattr_in si = { .valid = FATTR_SIZE | FATTR_MODE,
					      .size = 10, .mode = 0600 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.size, 10);
		CHECK_EQ_INT(ao.attr.mode & 07777, 0600);
	}
	/* LSEEK over a sparse file, FALLOCATE punching a hole */
	{
		struct fuse_lseek_in li = { .fh = fh, .offset = 0,
					    .whence = SEEK_HOLE };
		struct fuse_lseek_out lo;
		struct fuse_fallocate_in fi = { .fh = fh, .offset = 0,
						.length = 4096,
						.mode = FALLOC_FL_PUNCH_HOLE |
							FALLOC_FL_KEEP_SIZE };

		CHECK_EQ_INT(write_(&t, e.nodeid, fh, 8u << 20, "end", 3), 3);
		CHECK_EQ_INT(call(&t, FUSE_LSEEK, e.nodeid, &li, sizeof(li),
				  END), 0);
		memcpy(&lo, t.body, sizeof(lo));
		CHECK(lo.offset >= 10 && lo.offset < (8u << 20));
		li.whence = SEEK_DATA;
		li.offset = 1u << 20;
		CHECK_EQ_INT(call(&t, FUSE_LSEEK, e.nodeid, &li, sizeof(li),
				  END), 0);
		memcpy(&lo, t.body, sizeof(lo));
		CHECK(lo.offset > (1u << 20) && lo.offset <= (8u << 20));
		CHECK_EQ_INT(call(&t, FUSE_FALLOCATE, e.nodeid, &fi, sizeof(fi),
				  END), 0);
		CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, back, 10), 10);
		CHECK(!memcmp(back, "\0\0\0\0\0\0\0\0\0\0", 10));
	}
	/* xattrs */
	{
		struct fuse_setxattr_in si = { .size = 5 };
		struct fuse_getxattr_in gi = { .size = 0 };
		struct fuse_getxattr_out go;

		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, e.nodeid, &si, 8,
				  "user.k", (size_t)7, "hello", (size_t)5, END),
			     0);
		CHECK_EQ_INT(call(&t, FUSE_GETXATTR, e.nodeid, &gi, sizeof(gi),
				  "user.k", (size_t)7, END), 0);
		memcpy(&go, t.body, sizeof(go));
		CHECK_EQ_INT(go.size, 5);
		gi.size = 64;
		CHECK_EQ_INT(call(&t, FUSE_GETXATTR, e.nodeid, &gi, sizeof(gi),
				  "user.k", (size_t)7, END), 0);
		CHECK_EQ_INT(t.rlen, 5);
		CHECK_MEM(t.body, "hello", 5);
		gi.size = 2;
		CHECK_EQ_INT(call(&t, FUSE_GETXATTR, e.nodeid, &gi, sizeof(gi),
				  "user.k", (size_t)7, END), -ERANGE);
		gi.size = 256;
		CHECK_EQ_INT(call(&t, FUSE_LISTXATTR, e.nodeid, &gi, sizeof(gi),
				  END), 0);
		CHECK(t.rlen >= 7 && memmem(t.body, t.rlen, "user.k", 7));
		CHECK_EQ_INT(call(&t, FUSE_REMOVEXATTR, e.nodeid, "user.k",
				  (size_t)7, END), 0);
		CHECK_EQ_INT(call(&t, FUSE_GETXATTR, e.nodeid, &gi, sizeof(gi),
				  "user.k", (size_t)7, END), -ENODATA);
		si.flags = XATTR_REPLACE;
		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, e.nodeid, &si, 8,
				  "user.k", (size_t)7, "hello", (size_t)5, END),
			     -ENODATA);
	}
	/* MKDIR, LINK, SYMLINK, READLINK, RENAME (plain, NOREPLACE,
	 * EXCHANGE) */
	CHECK_EQ_INT(mkdir_(&t, 1, "dir", &d), 0);
	CHECK(S_ISDIR(d.attr.mode));
	{
		struct fuse_link_in li = { .oldnodeid = e.nodeid };
		struct fuse_rename2_in ri = { .newdir = d.nodeid };
		struct fuse_rename_in r1 = { .newdir = 1 };

		CHECK_EQ_INT(call(&t, FUSE_LINK, d.nodeid, &li, sizeof(li),
				  "hard", (size_t)5, END), 0);
		memcpy(&e2, t.body, sizeof(e2));
		CHECK_EQ_INT(e2.nodeid, e.nodeid);
		CHECK_EQ_INT(e2.attr.nlink, 2);
		forget(&t, e2.nodeid, 1);
		CHECK_EQ_INT(call(&t, FUSE_SYMLINK, 1, "sym", (size_t)4,
				  "a.txt", (size_t)6, END), 0);
		memcpy(&e2, t.body, sizeof(e2));
		CHECK(S_ISLNK(e2.attr.mode));
		CHECK_EQ_INT(call(&t, FUSE_READLINK, e2.nodeid, END), 0);
		CHECK_EQ_INT(t.rlen, 5);
		CHECK_MEM(t.body, "a.txt", 5);
		forget(&t, e2.nodeid, 1);
		/* a.txt -> dir/b.txt */
		CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri), "a.txt",
				  (size_t)6, "b.txt", (size_t)6, END), 0);
		CHECK_EQ_INT(lookup(&t, 1, "a.txt", &e2), -ENOENT);
		CHECK_EQ_INT(lookup(&t, d.nodeid, "b.txt", &e2), 0);
		CHECK_EQ_INT(e2.nodeid, e.nodeid);
		forget(&t, e2.nodeid, 1);
		/* NOREPLACE onto an existing name */
		ri.flags = RENAME_NOREPLACE;
		CHECK_EQ_INT(call(&t, FUSE_RENAME2, d.nodeid, &ri, sizeof(ri),
				  "b.txt", (size_t)6, "hard", (size_t)5, END),
			     -EEXIST);
		/* EXCHANGE the symlink (in /) and dir/hard (the overlay
		 * refuses as overlayfs does: EXDEV; do it by hand there) */
		ri.flags = RENAME_EXCHANGE;
		ri.newdir = d.nodeid;
		if (overlay) {
			struct fuse_rename2_in r2 = { .newdir = 1 };

			CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri),
					  "sym", (size_t)4, "hard", (size_t)5,
					  END), -EXDEV);
			CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri),
					  "sym", (size_t)4, "tmp", (size_t)4,
					  END), -EXDEV);
			ri.flags = 0;
			CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri),
					  "sym", (size_t)4, "tmp", (size_t)4,
					  END), 0);
			CHECK_EQ_INT(call(&t, FUSE_RENAME2, d.nodeid, &r2,
					  sizeof(r2), "hard", (size_t)5, "sym",
					  (size_t)4, END), 0);
			r2.newdir = d.nodeid;
			CHECK_EQ_INT(call(&t, FUSE_RENAME2, d.nodeid, &r2,
					  sizeof(r2), "tmp", (size_t)4, "hard",
					  (size_t)5, END), 0);
		} else {
			CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri),
					  "sym", (size_t)4, "hard", (size_t)5,
					  END), 0);
		}
		CHECK_EQ_INT(lookup(&t, d.nodeid, "hard", &e2), 0);
		CHECK(S_ISLNK(e2.attr.mode));
		forget(&t, e2.nodeid, 1);
		CHECK_EQ_INT(lookup(&t, 1, "sym", &e2), 0);
		CHECK_EQ_INT(e2.nodeid, e.nodeid);
		forget(&t, e2.nodeid, 1);
		/* whiteout is not for guests; both flags at once neither */
		ri.flags = RENAME_WHITEOUT;
		CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri), "sym",
				  (size_t)4, "x", (size_t)2, END), -EINVAL);
		ri.flags = RENAME_EXCHANGE | RENAME_NOREPLACE;
		CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri), "sym",
				  (size_t)4, "x", (size_t)2, END), -EINVAL);
		/* plain RENAME back up */
		CHECK_EQ_INT(call(&t, FUSE_RENAME, d.nodeid, &r1, sizeof(r1),
				  "hard", (size_t)5, "sym2", (size_t)5, END), 0);
		/* a directory into itself */
		ri.flags = 0;
		ri.newdir = d.nodeid;
		CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri), "dir",
				  (size_t)4, "in", (size_t)3, END), -EINVAL);
	}
	/* RMDIR of a non-empty directory, UNLINK of a file still open */
	CHECK_EQ_INT(call(&t, FUSE_RMDIR, 1, "dir", (size_t)4, END),
		     -ENOTEMPTY);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, d.nodeid, "b.txt", (size_t)6, END),
		     0);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "sym", (size_t)4, END), 0);
	/* (open and unlinked: still readable) */
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, (8u << 20), back, 10), 3);
	CHECK_MEM(back, "end", 3);
	CHECK_EQ_INT(call(&t, FUSE_RMDIR, 1, "dir", (size_t)4, END), 0);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	forget(&t, d.nodeid, 1);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "sym2", (size_t)5, END), 0);
	/* READDIR and READDIRPLUS over many entries, in small batches, with
	 * names removed while reading */
	for (int i = 0; i < 300; i++) {
		char nm[32];

		snprintf(nm, sizeof(nm), "file-%03d-%s", i, what);
		CHECK_EQ_INT(create(&t, 1, nm, 0600, O_WRONLY, &e2, &fh2), 0);
		CHECK_EQ_INT(release(&t, e2.nodeid, fh2, 0), 0);
		forget(&t, e2.nodeid, 1);
	}
	CHECK_EQ_INT(list(&t, 1, 0, names, sizeof(names), &err), 302);
	CHECK_EQ_INT(err, 0);
	CHECK(has_name(names, "."));
	CHECK(has_name(names, ".."));
	CHECK(has_name(names, "file-000-memory") || has_name(names,
							      "file-000-passthrough") ||
	      strstr(names, "file-000-"));
	t.nonodes = 0;
	CHECK_EQ_INT(list(&t, 1, 1, names, sizeof(names), &err), 302);
	CHECK_EQ_INT(t.nonodes, 2);
	CHECK(strstr(names, "file-299-") != NULL);
	/* half of them removed between two batches: nothing left over
	 * twice, the rest all still listed */
	CHECK_EQ_INT(open_(&t, 1, O_RDONLY, &dfh, 1), 0);
	{
		struct fuse_read_in in = { .fh = dfh, .size = 400 };
		int seen = 0, again = 0;

		CHECK_EQ_INT(call(&t, FUSE_READDIR, 1, &in, sizeof(in), END),
			     0);
		for (size_t pos = 0; pos < t.rlen;) {
			struct fuse_dirent de;

			memcpy(&de, t.body + pos, sizeof(de));
			in.offset = de.off;
			pos += (FUSE_NAME_OFFSET + de.namelen + 7) & ~7ul;
			seen++;
		}
		for (int i = 0; i < 300; i += 2) {
			char nm[32];

			snprintf(nm, sizeof(nm), "file-%03d-%s", i, what);
			CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, nm,
					  strlen(nm) + 1, END), 0);
		}
		for (;;) {
			size_t pos = 0;

			CHECK_EQ_INT(call(&t, FUSE_READDIR, 1, &in, sizeof(in),
					  END), 0);
			if (!t.rlen)
				break;
			while (pos < t.rlen) {
				struct fuse_dirent de;
				char nm[300] = "";

				memcpy(&de, t.body + pos, sizeof(de));
				memcpy(nm, t.body + pos + FUSE_NAME_OFFSET,
				       de.namelen);
				/* odd ones must all come */
				if (!strncmp(nm, "file-", 5) &&
				    atoi(nm + 5) % 2 == 1)
					again++;
				in.offset = de.off;
				pos += (FUSE_NAME_OFFSET + de.namelen + 7) &
				       ~7ul;
			}
		}
		CHECK(seen > 2);
		/* every odd file not in the first batch came */
		CHECK(again >= 150 - seen);
	}
	CHECK_EQ_INT(release(&t, 1, dfh, 1), 0);
	/* STATFS, ACCESS, FSYNC */
	CHECK_EQ_INT(call(&t, FUSE_STATFS, 1, END), 0);
	CHECK_EQ_INT(t.rlen, sizeof(struct fuse_statfs_out));
	{
		struct fuse_access_in ai = { .mask = R_OK | X_OK };

		CHECK_EQ_INT(call(&t, FUSE_ACCESS, 1, &ai, sizeof(ai), END), 0);
	}
	/* COPY_FILE_RANGE between two files */
	{
		struct fuse_entry_out a, b;
		uint64_t fa, fb;
		struct fuse_copy_file_range_in ci;
		struct fuse_write_out wo;

		CHECK_EQ_INT(create(&t, 1, "src", 0644, O_RDWR, &a, &fa), 0);
		CHECK_EQ_INT(create(&t, 1, "dst", 0644, O_RDWR, &b, &fb), 0);
		CHECK_EQ_INT(write_(&t, a.nodeid, fa, 0, big, 100000), 100000);
		ci = (struct fuse_copy_file_range_in){
			.fh_in = fa, .off_in = 1000, .nodeid_out = b.nodeid,
			.fh_out = fb, .off_out = 0, .len = 50000 };
		CHECK_EQ_INT(call(&t, FUSE_COPY_FILE_RANGE, a.nodeid, &ci,
				  sizeof(ci), END), 0);
		memcpy(&wo, t.body, sizeof(wo));
		CHECK_EQ_INT(wo.size, 50000);
		CHECK_EQ_INT(read_(&t, b.nodeid, fb, 0, back, 60000), 50000);
		CHECK_MEM(back, big + 1000, 50000);
		/* FSYNC, FLUSH */
		{
			struct fuse_fsync_in fi = { .fh = fb };
			struct fuse_flush_in fl = { .fh = fb };

			CHECK_EQ_INT(call(&t, FUSE_FSYNC, b.nodeid, &fi,
					  sizeof(fi), END), 0);
			/* Locks stay in the guest's kernel here: a
			 * backend with no flush, or one that only drops
			 * locks, has nothing to do at a close, and the
			 * guest is told so once (it then sends none). */
			int none = !be->ops->flush ||
				   (be->ops->flags & MSB_FS_FLUSH_LOCKS_ONLY);

			CHECK_EQ_INT(call(&t, FUSE_FLUSH, b.nodeid, &fl,
					  sizeof(fl), END), none ? -ENOSYS : 0);
		}
		/* a handle of another node is no handle */
		CHECK(read_(&t, a.nodeid, fb, 0, back, 10) < 0);
		CHECK_EQ_INT(release(&t, a.nodeid, fa, 0), 0);
		CHECK_EQ_INT(release(&t, b.nodeid, fb, 0), 0);
		/* released twice */
		CHECK(release(&t, b.nodeid, fb, 0) < 0);
		forget(&t, a.nodeid, 1);
		forget(&t, b.nodeid, 1);
	}
	/* CREATE O_EXCL on an existing name */
	CHECK_EQ_INT(create(&t, 1, "src", 0644, O_RDWR | O_EXCL, &e2, &fh2),
		     -EEXIST);
	/* names the dispatcher refuses */
	CHECK_EQ_INT(lookup(&t, 1, "..", &e2), -EINVAL);
	CHECK_EQ_INT(lookup(&t, 1, ".", &e2), -EINVAL);
	CHECK_EQ_INT(lookup(&t, 1, "a/b", &e2), -EINVAL);
	CHECK_EQ_INT(lookup(&t, 1, "", &e2), -EINVAL);
	{
		char longname[300];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		CHECK_EQ_INT(lookup(&t, 1, longname, &e2), -ENAMETOOLONG);
	}
	/* unknown nodes and handles */
	CHECK(lookup(&t, 999999, "x", &e2) < 0);
	CHECK(read_(&t, 999999, 5, 0, back, 10) < 0);
	forget(&t, 999999, 5);
	forget(&t, 0, 1);
	/* DESTROY, then nothing but INIT */
	CHECK_EQ_INT(call(&t, FUSE_DESTROY, 0, END), 0);
	CHECK_EQ_INT(lookup(&t, 1, "src", &e2), -EIO);
	ts_close(&t);
}

TEST(fs_memory_ops)
{
	struct msb_fs_backend be;
	msb_error err = { 0 };

	CHECK_EQ_INT(msb_fs_memory_new(64u << 20, &be, &err), 0);
	exercise(&be, "memory");
}

TEST(fs_passthrough_ops)
{
	struct msb_fs_backend be;
	msb_error err = { 0 };
	char dir[256];

	int fd0 = unit_lowest_fd();

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &be, &err), 0);
	exercise(&be, "passthrough");
	/* every node and handle given back */
	CHECK_EQ_INT(unit_lowest_fd(), fd0);
	msb_rm_rf(dir);
}

/* ---- FUSE_HANDLE_KILLPRIV_V2: setuid and setgid killed where flagged ---- */

static uint32_t mode_of(struct ts *t, uint64_t ino)
{
	struct fuse_attr_out ao;

	CHECK_EQ_INT(call(t, FUSE_GETATTR, ino, END), 0);
	memcpy(&ao, t->body, sizeof(ao));
	return ao.attr.mode & 07777;
}

static void chmod_(struct ts *t, uint64_t ino, uint32_t mode)
{
	struct fuse_setattr_in si = { .valid = FATTR_MODE, .mode = mode };

	CHECK_EQ_INT(call(t, FUSE_SETATTR, ino, &si, sizeof(si), END), 0);
}

/* OPEN @ino with @flags and FUSE's @open_flags, RELEASE it; Return: the
 * node's mode after. */
static uint32_t mode_after_open(struct ts *t, uint64_t ino, uint32_t flags,
				uint32_t open_flags)
{
	struct fuse_open_in oi = { .flags = flags, .open_flags = open_flags };
	struct fuse_open_out oo;

	CHECK_EQ_INT(call(t, FUSE_OPEN, ino, &oi, sizeof(oi), END), 0);
	memcpy(&oo, t->body, sizeof(oo));
	CHECK_EQ_INT(release(t, ino, oo.fh, 0), 0);
	return mode_of(t, ino);
}

/* The guest's kernel, with KILLPRIV_V2 negotiated, no longer turns a
 * write, a truncate or a chown into a chmod of its own: it flags the
 * request and the server must do it. Root writes here, so nothing but
 * the flag clears the bits (the memory backend also clears them on a
 * write by anyone else, as the passthrough's host does). */
static void kill_suidgid_checks(struct msb_fs_backend *be)
{
	struct ts t;
	struct fuse_entry_out e;
	uint64_t fh;

	if (ts_open(&t, be, NULL))
		return;
	CHECK_EQ_INT(create(&t, 1, "s", 0755, O_RDWR, &e, &fh), 0);
	/* a write without the flag (CAP_FSETID) keeps them */
	chmod_(&t, e.nodeid, 06755);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, "a", 1), 1);
	CHECK_EQ_INT(mode_of(&t, e.nodeid), 06755);
	/* flagged: setuid goes, setgid with group execute too */
	{
		struct fuse_write_in in = { .fh = fh, .size = 1,
					    .write_flags =
						    FUSE_WRITE_KILL_SUIDGID };

		CHECK_EQ_INT(call(&t, FUSE_WRITE, e.nodeid, &in, sizeof(in),
				  "b", (size_t)1, END), 0);
		CHECK_EQ_INT(mode_of(&t, e.nodeid), 0755);
		/* setgid without group execute is a lock mark: it stays */
		chmod_(&t, e.nodeid, 06745);
		CHECK_EQ_INT(call(&t, FUSE_WRITE, e.nodeid, &in, sizeof(in),
				  "c", (size_t)1, END), 0);
		CHECK_EQ_INT(mode_of(&t, e.nodeid), 02745);
	}
	/* a truncate flagged, and one not */
	{
		struct fuse_setattr_in si = { .valid = FATTR_SIZE, .size = 1 };

		chmod_(&t, e.nodeid, 06755);
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		CHECK_EQ_INT(mode_of(&t, e.nodeid), 06755);
		si.valid |= FATTR_KILL_SUIDGID;
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		/* the reply carries the attributes after the kill */
		{
			struct fuse_attr_out ao;

			memcpy(&ao, t.body, sizeof(ao));
			CHECK_EQ_INT(ao.attr.mode & 07777, 0755);
		}
		CHECK_EQ_INT(mode_of(&t, e.nodeid), 0755);
	}
	/* a truncating open flagged, and one not; the flag alone, without
	 * O_TRUNC, does nothing */
	chmod_(&t, e.nodeid, 06755);
	CHECK_EQ_INT(mode_after_open(&t, e.nodeid, O_WRONLY | O_TRUNC, 0),
		     06755);
	CHECK_EQ_INT(mode_after_open(&t, e.nodeid, O_WRONLY | O_TRUNC,
				     FUSE_OPEN_KILL_SUIDGID), 0755);
	chmod_(&t, e.nodeid, 06755);
	CHECK_EQ_INT(mode_after_open(&t, e.nodeid, O_WRONLY,
				     FUSE_OPEN_KILL_SUIDGID), 06755);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	ts_close(&t);
}

TEST(fs_kill_suidgid)
{
	struct msb_fs_backend be;
	msb_error err = { 0 };
	char dir[256];

	CHECK_EQ_INT(msb_fs_memory_new(64u << 20, &be, &err), 0);
	kill_suidgid_checks(&be);
	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &be, &err), 0);
	kill_suidgid_checks(&be);
	msb_rm_rf(dir);
}

/* ---- passthrough: the host sees what the guest does, and nothing leaks -- */

TEST(fs_passthrough_host_view)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e, d;
	msb_error err = { 0 };
	char dir[256], path[512];
	uint64_t fh;
	struct stat st;
	char buf[64] = "";
	int fd0 = unit_lowest_fd();

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	/* guest root creates: the file is ours on the host, mode as asked */
	CHECK_EQ_INT(create(&t, 1, "g.txt", 0664, O_RDWR, &e, &fh), 0);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, "from guest", 10), 10);
	snprintf(path, sizeof(path), "%s/g.txt", dir);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_uid, geteuid());
	CHECK_EQ_INT(st.st_mode & 0777, 0664 & ~022);
	CHECK_EQ_INT(st.st_size, 10);
	{
		int fd = open(path, O_RDONLY);

		CHECK(read(fd, buf, sizeof(buf)) == 10);
		close(fd);
		CHECK_MEM(buf, "from guest", 10);
	}
	/* the host writes: the guest reads it at once */
	{
		int fd = open(path, O_WRONLY | O_TRUNC);

		CHECK(write(fd, "from host!!", 11) == 11);
		close(fd);
	}
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, buf, sizeof(buf)), 11);
	CHECK_MEM(buf, "from host!!", 11);
	/* files the host made are found */
	snprintf(path, sizeof(path), "%s/hostdir", dir);
	mkdir(path, 0755);
	CHECK_EQ_INT(lookup(&t, 1, "hostdir", &d), 0);
	CHECK(S_ISDIR(d.attr.mode));
	/* devices cannot be made; fifos can, and are never opened here */
	{
		struct fuse_mknod_in mi = { .mode = S_IFCHR | 0666,
					    .rdev = makedev(1, 3) };
		struct fuse_entry_out f;
		uint64_t ffh;

		CHECK_EQ_INT(call(&t, FUSE_MKNOD, 1, &mi, sizeof(mi), "null",
				  (size_t)5, END), -EPERM);
		mi.mode = S_IFIFO | 0644;
		CHECK_EQ_INT(call(&t, FUSE_MKNOD, 1, &mi, sizeof(mi), "fifo",
				  (size_t)5, END), 0);
		memcpy(&f, t.body, sizeof(f));
		CHECK(S_ISFIFO(f.attr.mode));
		CHECK_EQ_INT(open_(&t, f.nodeid, O_RDONLY, &ffh, 0), -ENXIO);
		CHECK_EQ_INT(create(&t, 1, "fifo", 0644, O_RDONLY, &f, &ffh),
			     -EEXIST);
		forget(&t, f.nodeid, 1);
	}
	/* setuid and setgid are the guest's only, root or not: kept in the
	 * override, never on the host file (directories keep setgid) */
	{
		struct fuse_setattr_in si = { .valid = FATTR_MODE,
					      .mode = 04755 };
		struct fuse_entry_out f;
		struct fuse_attr_out ao;
		uint64_t ffh;
		char gpath[600];

		snprintf(gpath, sizeof(gpath), "%s/g.txt", dir);
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.mode, S_IFREG | 04755);
		CHECK_EQ_INT(stat(gpath, &st), 0);
		CHECK_EQ_INT(st.st_mode & 07777, 0755);
		si.mode = 02755;
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.mode, S_IFREG | 02755);
		CHECK_EQ_INT(stat(gpath, &st), 0);
		CHECK_EQ_INT(st.st_mode & 07777, 0755);
		/* back to plain: no override left on the host file */
		si.mode = 0755;
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		CHECK(getxattr(gpath, "user.containers.override_stat", NULL,
			       0) < 0);
		CHECK_EQ_INT(create(&t, 1, "suid", 04755, O_RDWR, &f, &ffh), 0);
		CHECK_EQ_INT(f.attr.mode, S_IFREG | 04755);
		snprintf(gpath, sizeof(gpath), "%s/suid", dir);
		CHECK_EQ_INT(stat(gpath, &st), 0);
		CHECK_EQ_INT(st.st_mode & 07777, 0755);
		CHECK_EQ_INT(release(&t, f.nodeid, ffh, 0), 0);
		forget(&t, f.nodeid, 1);
		si.mode = 02775;
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, d.nodeid, &si, sizeof(si),
				  END), 0);
		CHECK_EQ_INT(stat(path, &st), 0);
		CHECK_EQ_INT(st.st_mode & 07777, 02775);
	}
	/* security.* cannot be set (it would be a host privilege) */
	{
		struct fuse_setxattr_in si = { .size = 4 };

		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, e.nodeid, &si, 8,
				  "security.capability", (size_t)20, "abcd",
				  (size_t)4, END), -EPERM);
	}
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	forget(&t, d.nodeid, 1);
	ts_close(&t);
	/* every descriptor the backend held is closed */
	CHECK_EQ_INT(unit_lowest_fd(), fd0);
	msb_rm_rf(dir);
}

/* ---- passthrough: nothing by name once a node is made -------------------- */

/* A second writer of the volume's host directory, acting at the worst
 * moment: right after the backend made a node, before its next step, the
 * name is swapped for a symlink to a host file outside the volume. These
 * stand in front of libc's mknodat and mkdirat for the whole test binary
 * and only call the kernel unless a test arms them. */
static struct {
	const char *name;
	const char *target;
	int swaps;
} racer;

static void race(int dfd, const char *name, int isdir)
{
	if (!racer.name || strcmp(name, racer.name))
		return;
	if (isdir && renameat(dfd, name, dfd, "moved-aside"))
		return;
	if (!symlinkat(racer.target, dfd, "racer.tmp") &&
	    !renameat(dfd, "racer.tmp", dfd, name))
		racer.swaps++;
}

int mknodat(int dfd, const char *path, mode_t mode, dev_t dev)
{
	long r = syscall(SYS_mknodat, dfd, path, mode, dev);

	if (r == 0)
		race(dfd, path, 0);
	return (int)r;
}

int mkdirat(int dfd, const char *path, mode_t mode)
{
	long r = syscall(SYS_mkdirat, dfd, path, mode);

	if (r == 0)
		race(dfd, path, 1);
	return (int)r;
}

static int fifo_writer_in;

static void *fifo_writer(void *path)
{
	int fd = open(path, O_WRONLY); /* blocks until someone reads */

	__atomic_store_n(&fifo_writer_in, 1, __ATOMIC_SEQ_CST);
	if (fd >= 0)
		close(fd);
	return NULL;
}

TEST(fs_passthrough_nothing_by_name_after_create)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	char top[256], vol[512], outside[512], path[600];
	struct stat st;
	mode_t old = umask(022); /* so the guest's 0666 needs a chmod */
	uint64_t fh;

	if (unit_tmpdir(top, sizeof(top)))
		return;
	snprintf(vol, sizeof(vol), "%s/vol", top);
	mkdir(vol, 0755);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	msb_write_file(outside, "host", 4, 0600);
	CHECK_EQ_INT(msb_fs_passthrough_new(vol, NULL, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		goto out;
	racer.target = outside;
	/* A fifo, then a directory, each swapped for a symlink to the
	 * outside file the moment it is made: the mode the guest asked for
	 * must not land on that file, and the guest gets no node for it. */
	{
		struct fuse_mknod_in mi = { .mode = S_IFIFO | 0666 };
		struct fuse_mkdir_in di = { .mode = 0777 };

		racer.name = "fifo";
		CHECK_EQ_INT(call(&t, FUSE_MKNOD, 1, &mi, sizeof(mi), "fifo",
				  (size_t)5, END), -EEXIST);
		racer.name = "dir";
		CHECK_EQ_INT(call(&t, FUSE_MKDIR, 1, &di, sizeof(di), "dir",
				  (size_t)4, END), -EEXIST);
		racer.name = NULL;
		CHECK_EQ_INT(racer.swaps, 2);
		CHECK_EQ_INT(stat(outside, &st), 0);
		CHECK_EQ_INT(st.st_mode & 07777, 0600);
		/* Left alone, both are made with the guest's mode. */
		CHECK_EQ_INT(call(&t, FUSE_MKNOD, 1, &mi, sizeof(mi), "fifo2",
				  (size_t)6, END), 0);
		memcpy(&e, t.body, sizeof(e));
		CHECK_EQ_INT(e.attr.mode, S_IFIFO | 0666);
		forget(&t, e.nodeid, 1);
		CHECK_EQ_INT(call(&t, FUSE_MKDIR, 1, &di, sizeof(di), "dir2",
				  (size_t)5, END), 0);
		memcpy(&e, t.body, sizeof(e));
		CHECK_EQ_INT(e.attr.mode, S_IFDIR | 0777);
		forget(&t, e.nodeid, 1);
	}
	/* CREATE over an existing fifo looks before it opens: a writer
	 * waiting for a reader stays waiting. */
	{
		pthread_t th;

		snprintf(path, sizeof(path), "%s/pipe", vol);
		CHECK_EQ_INT(mkfifo(path, 0666), 0);
		__atomic_store_n(&fifo_writer_in, 0, __ATOMIC_SEQ_CST);
		CHECK_EQ_INT(pthread_create(&th, NULL, fifo_writer, path), 0);
		usleep(20000);
		CHECK_EQ_INT(create(&t, 1, "pipe", 0644, O_RDONLY, &e, &fh),
			     -EEXIST);
		usleep(50000);
		CHECK_EQ_INT(__atomic_load_n(&fifo_writer_in, __ATOMIC_SEQ_CST),
			     0);
		/* (now we read, and the writer goes) */
		{
			int fd = open(path, O_RDONLY | O_NONBLOCK);

			pthread_join(th, NULL);
			if (fd >= 0)
				close(fd);
		}
	}
	/* Over an existing regular file it opens that file, as O_TRUNC asks. */
	snprintf(path, sizeof(path), "%s/reg", vol);
	msb_write_file(path, "data", 4, 0644);
	CHECK_EQ_INT(create(&t, 1, "reg", 0644, O_RDWR | O_TRUNC, &e, &fh), 0);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_size, 0);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	ts_close(&t);
out:
	umask(old);
	msb_rm_rf(top);
}

/* ---- passthrough: the guest's owners never become the host's ------------- */

#define OVR "user.containers.override_stat"

TEST(fs_passthrough_guest_owners)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e, d;
	struct fuse_attr_out ao;
	msb_error err = { 0 };
	char dir[256], path[512], val[64];
	uid_t ou = geteuid() == 0 ? 4242 : geteuid();
	gid_t og = geteuid() == 0 ? 4343 : getegid();
	struct stat st;
	uint64_t fh;
	ssize_t n;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	/* As root, the volume is another user's: what the guest makes is
	 * given to that user. */
	if (geteuid() == 0)
		CHECK_EQ_INT(chown(dir, ou, og), 0);
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		goto out;
	CHECK_EQ_INT(create(&t, 1, "f", 0644, O_RDWR, &e, &fh), 0);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	CHECK_EQ_INT(mkdir_(&t, 1, "d", &d), 0);
	snprintf(path, sizeof(path), "%s/f", dir);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_uid, ou);
	CHECK_EQ_INT(st.st_gid, og);
	CHECK_EQ_INT(e.attr.uid, ou);
	/* A chown in the guest: its view changes, the host file does not. */
	{
		struct fuse_setattr_in si = { .valid = FATTR_UID | FATTR_GID,
					      .uid = 1234, .gid = 5678 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.uid, 1234);
		CHECK_EQ_INT(ao.attr.gid, 5678);
		CHECK_EQ_INT(stat(path, &st), 0);
		CHECK_EQ_INT(st.st_uid, ou);
		CHECK_EQ_INT(st.st_gid, og);
		n = getxattr(path, OVR, val, sizeof(val) - 1);
		CHECK(n > 0);
		val[n > 0 ? n : 0] = '\0';
		CHECK_STR(val, "1234:5678:0644");
		/* and it stays: a fresh lookup sees it */
		forget(&t, e.nodeid, 1);
		CHECK_EQ_INT(lookup(&t, 1, "f", &e), 0);
		CHECK_EQ_INT(e.attr.uid, 1234);
		/* setuid on top of it: the guest's, not the host's */
		si.valid = FATTR_MODE;
		si.mode = 04711;
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.mode, S_IFREG | 04711);
		CHECK_EQ_INT(ao.attr.uid, 1234);
		CHECK_EQ_INT(stat(path, &st), 0);
		CHECK_EQ_INT(st.st_mode & 07777, 0711);
		CHECK_EQ_INT(st.st_uid, ou);
	}
	/* The guest can neither read, list, set nor remove the override. */
	{
		struct fuse_getxattr_in gi = { .size = 256 };
		struct fuse_setxattr_in xi = { .size = 5 };

		CHECK_EQ_INT(call(&t, FUSE_GETXATTR, e.nodeid, &gi, sizeof(gi),
				  OVR, sizeof(OVR), END), -ENODATA);
		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, e.nodeid, &xi, 8, OVR,
				  sizeof(OVR), "0:0:0", (size_t)5, END), -EPERM);
		CHECK_EQ_INT(call(&t, FUSE_REMOVEXATTR, e.nodeid, OVR,
				  sizeof(OVR), END), -EPERM);
		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, e.nodeid, &xi, 8,
				  "user.mine", (size_t)10, "hello", (size_t)5,
				  END), 0);
		CHECK_EQ_INT(call(&t, FUSE_LISTXATTR, e.nodeid, &gi, sizeof(gi),
				  END), 0);
		CHECK_EQ_INT(t.rlen, 10);
		CHECK_MEM(t.body, "user.mine", 10);
		gi.size = 0;
		CHECK_EQ_INT(call(&t, FUSE_LISTXATTR, e.nodeid, &gi, sizeof(gi),
				  END), 0);
		CHECK_EQ_INT(((struct fuse_getxattr_out *)t.body)->size, 10);
	}
	/* Back to the host's own owner and a plain mode: nothing kept. */
	{
		struct fuse_setattr_in si = { .valid = FATTR_UID | FATTR_GID |
							FATTR_MODE,
					      .uid = ou, .gid = og,
					      .mode = 0644 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), 0);
		CHECK(getxattr(path, OVR, NULL, 0) < 0 && errno == ENODATA);
	}
	/* What a directory holds: the same. */
	{
		struct fuse_setattr_in si = { .valid = FATTR_UID, .uid = 7 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, d.nodeid, &si, sizeof(si),
				  END), 0);
		snprintf(path, sizeof(path), "%s/d", dir);
		CHECK_EQ_INT(stat(path, &st), 0);
		CHECK_EQ_INT(st.st_uid, ou);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.uid, 7);
	}
	/* A setgid directory of the guest's group hands it down, as the
	 * guest sees it, and its setgid to a new directory. */
	{
		struct fuse_setattr_in si = { .valid = FATTR_GID | FATTR_MODE,
					      .gid = 4321, .mode = 02775 };
		struct fuse_entry_out c, sd;
		struct fuse_mkdir_in mi = { .mode = 0755 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, d.nodeid, &si, sizeof(si),
				  END), 0);
		CHECK_EQ_INT(create(&t, d.nodeid, "child", 0644, O_RDWR, &c,
				    &fh), 0);
		CHECK_EQ_INT(c.attr.gid, 4321);
		CHECK_EQ_INT(release(&t, c.nodeid, fh, 0), 0);
		CHECK_EQ_INT(call(&t, FUSE_MKDIR, d.nodeid, &mi, sizeof(mi),
				  "sub", (size_t)4, END), 0);
		memcpy(&sd, t.body, sizeof(sd));
		CHECK_EQ_INT(sd.attr.mode, S_IFDIR | 02755);
		CHECK_EQ_INT(sd.attr.gid, 4321);
		forget(&t, c.nodeid, 1);
		forget(&t, sd.nodeid, 1);
	}
	/* A guest user's new nodes are theirs in the guest (what the file
	 * channel writes as a user stays that user's to write again), the
	 * volume owner's on the host. A fifo cannot carry the override: it
	 * is made, and chmod works on it, shown as the host has it. */
	{
		struct fuse_entry_out u, f;
		struct fuse_mknod_in mi = { .mode = S_IFIFO | 0644 };
		struct fuse_setattr_in si = { .valid = FATTR_MODE,
					      .mode = 0600 };

		t.uid = 1000;
		t.gid = 1001;
		CHECK_EQ_INT(create(&t, 1, "byuser", 0640, O_RDWR, &u, &fh), 0);
		CHECK_EQ_INT(u.attr.uid, 1000);
		CHECK_EQ_INT(u.attr.gid, 1001);
		CHECK_EQ_INT(u.attr.mode, S_IFREG | 0640);
		CHECK_EQ_INT(release(&t, u.nodeid, fh, 0), 0);
		snprintf(path, sizeof(path), "%s/byuser", dir);
		CHECK_EQ_INT(stat(path, &st), 0);
		CHECK_EQ_INT(st.st_uid, ou);
		CHECK_EQ_INT(st.st_gid, og);
		n = getxattr(path, OVR, val, sizeof(val) - 1);
		CHECK(n > 0);
		val[n > 0 ? n : 0] = '\0';
		CHECK_STR(val, "1000:1001:0640");
		/* in a setgid directory: its group, as the guest sees it */
		CHECK_EQ_INT(call(&t, FUSE_MKNOD, d.nodeid, &mi, sizeof(mi),
				  "fifo", (size_t)5, END), 0);
		memcpy(&f, t.body, sizeof(f));
		CHECK_EQ_INT(f.attr.mode, S_IFIFO | 0644);
		CHECK_EQ_INT(f.attr.uid, ou);
		CHECK_EQ_INT(call(&t, FUSE_SETATTR, f.nodeid, &si, sizeof(si),
				  END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.mode, S_IFIFO | 0600);
		t.uid = t.gid = 0;
		forget(&t, u.nodeid, 1);
		forget(&t, f.nodeid, 1);
	}
	forget(&t, e.nodeid, 1);
	forget(&t, d.nodeid, 1);
	ts_close(&t);
out:
	msb_rm_rf(dir);
}

TEST(fs_passthrough_no_escape)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e, s, d;
	msb_error err = { 0 };
	char top[256], root[512], outside[512], path[1024];
	uint64_t fh;
	struct stat st;

	if (unit_tmpdir(top, sizeof(top)))
		return;
	/* top/vol is the volume; top/secret and top/outdir are outside */
	snprintf(root, sizeof(root), "%s/vol", top);
	mkdir(root, 0755);
	snprintf(outside, sizeof(outside), "%s/secret", top);
	msb_write_file(outside, "secret", 6, 0600);
	snprintf(path, sizeof(path), "%s/outdir", top);
	mkdir(path, 0755);
	/* a host symlink in the volume pointing out, and one to /etc */
	snprintf(path, sizeof(path), "%s/out", root);
	CHECK_EQ_INT(symlink("../outdir", path), 0);
	snprintf(path, sizeof(path), "%s/etc", root);
	CHECK_EQ_INT(symlink("/etc", path), 0);
	snprintf(path, sizeof(path), "%s/sec", root);
	CHECK_EQ_INT(symlink("../secret", path), 0);
	CHECK_EQ_INT(msb_fs_passthrough_new(root, NULL, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	/* ".." from the root, or anywhere */
	CHECK(lookup(&t, 1, "..", &e) < 0);
	CHECK_EQ_INT(mkdir_(&t, 1, "sub", &d), 0);
	CHECK(lookup(&t, d.nodeid, "..", &e) < 0);
	/* names with '/' */
	CHECK(lookup(&t, 1, "../secret", &e) < 0);
	CHECK(lookup(&t, 1, "/etc/passwd", &e) < 0);
	CHECK(create(&t, 1, "../made", 0644, O_RDWR, &e, &fh) < 0);
	/* /proc tricks: only one component, and it is under the root */
	CHECK(lookup(&t, 1, "proc", &e) < 0);
	/* symlinks to the outside: looked up as themselves; never walked */
	CHECK_EQ_INT(lookup(&t, 1, "etc", &s), 0);
	CHECK(S_ISLNK(s.attr.mode));
	CHECK_EQ_INT(lookup(&t, s.nodeid, "passwd", &e), -ENOTDIR);
	CHECK(create(&t, s.nodeid, "made", 0644, O_RDWR, &e, &fh) < 0);
	CHECK(mkdir_(&t, s.nodeid, "made", &e) < 0);
	CHECK(open_(&t, s.nodeid, O_RDONLY, &fh, 1) < 0);
	CHECK(open_(&t, s.nodeid, O_RDONLY, &fh, 0) < 0);
	forget(&t, s.nodeid, 1);
	CHECK_EQ_INT(lookup(&t, 1, "sec", &s), 0);
	CHECK(open_(&t, s.nodeid, O_RDONLY, &fh, 0) < 0);
	CHECK(open_(&t, s.nodeid, O_WRONLY | O_TRUNC, &fh, 0) < 0);
	{
		struct fuse_setattr_in si = { .valid = FATTR_SIZE, .size = 0 };
		struct fuse_setxattr_in xi = { .size = 1 };

		CHECK(call(&t, FUSE_SETATTR, s.nodeid, &si, sizeof(si), END) <
		      0);
		si.valid = FATTR_MODE;
		si.mode = 0777;
		CHECK(call(&t, FUSE_SETATTR, s.nodeid, &si, sizeof(si), END) <
		      0);
		CHECK(call(&t, FUSE_SETXATTR, s.nodeid, &xi, 8, "user.x",
			   (size_t)7, "1", (size_t)1, END) < 0);
	}
	/* a hard link of the symlink is the symlink, not the secret */
	{
		struct fuse_link_in li = { .oldnodeid = s.nodeid };
		struct fuse_entry_out l;

		if (!call(&t, FUSE_LINK, 1, &li, sizeof(li), "hl", (size_t)3,
			  END)) {
			memcpy(&l, t.body, sizeof(l));
			CHECK(S_ISLNK(l.attr.mode));
			forget(&t, l.nodeid, 1);
		}
	}
	forget(&t, s.nodeid, 1);
	/* the guest's own symlink out, then through it */
	CHECK_EQ_INT(call(&t, FUSE_SYMLINK, 1, "up", (size_t)3, "..",
			  (size_t)3, END), 0);
	memcpy(&s, t.body, sizeof(s));
	CHECK_EQ_INT(lookup(&t, s.nodeid, "secret", &e), -ENOTDIR);
	CHECK(create(&t, s.nodeid, "made", 0644, O_RDWR, &e, &fh) < 0);
	{
		struct fuse_rename2_in ri = { .newdir = s.nodeid };

		/* rename into the symlink (as a directory) */
		CHECK(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri), "sub",
			   (size_t)4, "moved", (size_t)6, END) < 0);
	}
	forget(&t, s.nodeid, 1);
	/* node ids the guest never got */
	for (uint64_t id = 2; id < 40; id++) {
		struct fuse_link_in li = { .oldnodeid = id + 1000 };

		CHECK(call(&t, FUSE_LINK, 1, &li, sizeof(li), "x", (size_t)2,
			   END) < 0);
	}
	/* nothing outside changed, nothing was made outside */
	CHECK_EQ_INT(stat(outside, &st), 0);
	CHECK_EQ_INT(st.st_size, 6);
	CHECK_EQ_INT(st.st_nlink, 1);
	snprintf(path, sizeof(path), "%s/made", top);
	CHECK(stat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/outdir/made", top);
	CHECK(stat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/moved", top);
	CHECK(stat(path, &st) < 0);
	{
		DIR *dd;
		struct dirent *de;
		int n = 0;

		dd = opendir(top);
		while (dd && (de = readdir(dd)))
			n++;
		if (dd)
			closedir(dd);
		CHECK_EQ_INT(n, 5); /* . .. vol secret outdir */
	}
	forget(&t, d.nodeid, 1);
	ts_close(&t);
	msb_rm_rf(top);
}

/* ---- read-only sessions: EROFS from the host ------------------------------ */

TEST(fs_read_only_session)
{
	struct msb_fs_backend be;
	struct msb_fuse_opts o = { .read_only = 1 };
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	char dir[256], path[512];
	uint64_t fh;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(path, sizeof(path), "%s/f", dir);
	msb_write_file(path, "data", 4, 0644);
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &be, &err), 0);
	if (ts_open(&t, &be, &o))
		return;
	CHECK_EQ_INT(lookup(&t, 1, "f", &e), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDWR, &fh, 0), -EROFS);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDONLY | O_TRUNC, &fh, 0), -EROFS);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDONLY, &fh, 0), 0);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, "x", 1), -EROFS);
	CHECK_EQ_INT(create(&t, 1, "new", 0644, O_RDWR, &e, &fh), -EROFS);
	CHECK_EQ_INT(mkdir_(&t, 1, "d", &e), -EROFS);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "f", (size_t)2, END), -EROFS);
	{
		struct fuse_setattr_in si = { .valid = FATTR_SIZE };
		struct fuse_access_in ai = { .mask = W_OK };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, e.nodeid, &si, sizeof(si),
				  END), -EROFS);
		CHECK_EQ_INT(call(&t, FUSE_ACCESS, e.nodeid, &ai, sizeof(ai),
				  END), -EROFS);
	}
	ts_close(&t);
	{
		char *s = msb_read_file(path, NULL);

		CHECK_STR(s, "data");
		free(s);
	}
	msb_rm_rf(dir);
}

/* ---- locks (POSIX locks negotiated: OFD locks on the host) ---------------- */

TEST(fs_passthrough_locks)
{
	struct msb_fs_backend be;
	struct msb_fuse_opts o = { .posix_locks = 1 };
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	char dir[256];
	uint64_t f1, f2;
	struct fuse_lk_in li;
	struct fuse_lk_out lo;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &be, &err), 0);
	if (ts_open(&t, &be, &o))
		return;
	CHECK_EQ_INT(create(&t, 1, "l", 0644, O_RDWR, &e, &f1), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDWR, &f2, 0), 0);
	li = (struct fuse_lk_in){ .fh = f1, .owner = 1,
				  .lk = { .start = 0, .end = 99,
					  .type = F_WRLCK, .pid = 10 } };
	CHECK_EQ_INT(call(&t, FUSE_SETLK, e.nodeid, &li, sizeof(li), END), 0);
	/* another open file sees the conflict, and cannot take it */
	li.fh = f2;
	li.owner = 2;
	li.lk.start = 50;
	li.lk.end = INT64_MAX;
	CHECK_EQ_INT(call(&t, FUSE_GETLK, e.nodeid, &li, sizeof(li), END), 0);
	memcpy(&lo, t.body, sizeof(lo));
	CHECK_EQ_INT(lo.lk.type, F_WRLCK);
	CHECK_EQ_INT(lo.lk.start, 0);
	CHECK_EQ_INT(lo.lk.end, 99);
	CHECK_EQ_INT(call(&t, FUSE_SETLK, e.nodeid, &li, sizeof(li), END),
		     -EAGAIN);
	/* past the lock there is room */
	li.lk.start = 100;
	CHECK_EQ_INT(call(&t, FUSE_SETLK, e.nodeid, &li, sizeof(li), END), 0);
	/* the host sees the lock too */
	{
		char path[512];
		int fd;
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = 0, .l_len = 10 };

		snprintf(path, sizeof(path), "%s/l", dir);
		fd = open(path, O_RDWR);
		CHECK_EQ_INT(fcntl(fd, F_OFD_GETLK, &fl), 0);
		CHECK_EQ_INT(fl.l_type, F_WRLCK);
		close(fd);
	}
	/* unlock, then the other takes it */
	li.fh = f1;
	li.lk = (struct fuse_file_lock){ .start = 0, .end = 99,
					 .type = F_UNLCK };
	CHECK_EQ_INT(call(&t, FUSE_SETLK, e.nodeid, &li, sizeof(li), END), 0);
	li.fh = f2;
	li.lk = (struct fuse_file_lock){ .start = 0, .end = 99,
					 .type = F_RDLCK };
	CHECK_EQ_INT(call(&t, FUSE_SETLKW, e.nodeid, &li, sizeof(li), END), 0);
	/* bad ranges and types */
	li.lk = (struct fuse_file_lock){ .start = 10, .end = 5,
					 .type = F_RDLCK };
	CHECK_EQ_INT(call(&t, FUSE_SETLK, e.nodeid, &li, sizeof(li), END),
		     -EINVAL);
	li.lk = (struct fuse_file_lock){ .start = 0, .end = 5, .type = 77 };
	CHECK_EQ_INT(call(&t, FUSE_SETLK, e.nodeid, &li, sizeof(li), END),
		     -EINVAL);
	/* A close (FLUSH) drops what it holds: f2's read lock. */
	{
		struct fuse_flush_in fl = { .fh = f2, .lock_owner = 2 };
		char path[512];
		struct flock hl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = 0, .l_len = 10 };
		int fd;

		CHECK_EQ_INT(call(&t, FUSE_FLUSH, e.nodeid, &fl, sizeof(fl),
				  END), 0);
		snprintf(path, sizeof(path), "%s/l", dir);
		fd = open(path, O_RDWR);
		CHECK_EQ_INT(fcntl(fd, F_OFD_GETLK, &hl), 0);
		CHECK_EQ_INT(hl.l_type, F_UNLCK);
		close(fd);
	}
	CHECK_EQ_INT(release(&t, e.nodeid, f1, 0), 0);
	CHECK_EQ_INT(release(&t, e.nodeid, f2, 0), 0);
	forget(&t, e.nodeid, 1);
	ts_close(&t);
	/* Without POSIX locks passed, a close has nothing to drop: the
	 * guest is answered ENOSYS, and sends no more FLUSH. */
	o.posix_locks = 0;
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &be, &err), 0);
	if (ts_open(&t, &be, &o))
		return;
	CHECK_EQ_INT(create(&t, 1, "m", 0644, O_RDWR, &e, &f1), 0);
	{
		struct fuse_flush_in fl = { .fh = f1, .lock_owner = 1 };

		CHECK_EQ_INT(call(&t, FUSE_FLUSH, e.nodeid, &fl, sizeof(fl),
				  END), -ENOSYS);
	}
	CHECK_EQ_INT(release(&t, e.nodeid, f1, 0), 0);
	forget(&t, e.nodeid, 1);
	ts_close(&t);
	msb_rm_rf(dir);
}

/* ---- bad requests --------------------------------------------------------- */

static size_t raw(struct msb_fuse *f, const void *req, size_t len,
		  uint8_t *out, size_t outlen)
{
	struct iovec in = { (void *)req, len }, o = { out, outlen };

	return msb_fuse_handle(f, &in, 1, &o, 1);
}

TEST(fs_malformed_requests)
{
	struct msb_fs_backend be;
	struct ts t;
	msb_error err = { 0 };
	uint8_t req[512], out[4096];
	struct fuse_in_header h;
	struct fuse_out_header oh;
	size_t n;

	CHECK_EQ_INT(msb_fs_memory_new(1u << 20, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	/* shorter than a header: no answer */
	CHECK_EQ_INT(raw(t.f, "abc", 3, out, sizeof(out)), 0);
	/* no room for an out header: no answer */
	h = (struct fuse_in_header){ .len = sizeof(h), .opcode = FUSE_STATFS,
				     .unique = 7, .nodeid = 1 };
	CHECK_EQ_INT(raw(t.f, &h, sizeof(h), out, 8), 0);
	/* a length beyond the chain, and below the header */
	h.len = 4000;
	n = raw(t.f, &h, sizeof(h), out, sizeof(out));
	memcpy(&oh, out, sizeof(oh));
	CHECK_EQ_INT(n, sizeof(oh));
	CHECK_EQ_INT(oh.error, -EINVAL);
	CHECK_EQ_INT(oh.unique, 7);
	h.len = 3;
	n = raw(t.f, &h, sizeof(h), out, sizeof(out));
	memcpy(&oh, out, sizeof(oh));
	CHECK_EQ_INT(oh.error, -EINVAL);
	/* a huge length with a huge chain claim */
	h.len = UINT32_MAX;
	n = raw(t.f, &h, sizeof(h), out, sizeof(out));
	memcpy(&oh, out, sizeof(oh));
	CHECK_EQ_INT(oh.error, -EINVAL);
	/* unknown opcodes, and ones we do not do */
	h.len = sizeof(h);
	h.opcode = 9999;
	n = raw(t.f, &h, sizeof(h), out, sizeof(out));
	memcpy(&oh, out, sizeof(oh));
	CHECK_EQ_INT(oh.error, -ENOSYS);
	h.opcode = FUSE_IOCTL;
	n = raw(t.f, &h, sizeof(h), out, sizeof(out));
	memcpy(&oh, out, sizeof(oh));
	CHECK_EQ_INT(oh.error, -ENOSYS);
	/* arguments cut short */
	h.opcode = FUSE_SETATTR;
	h.len = sizeof(h) + 10;
	memset(req, 0, sizeof(req));
	memcpy(req, &h, sizeof(h));
	n = raw(t.f, req, h.len, out, sizeof(out));
	memcpy(&oh, out, sizeof(oh));
	CHECK_EQ_INT(oh.error, -EINVAL);
	/* a name without its NUL */
	h.opcode = FUSE_LOOKUP;
	h.len = sizeof(h) + 4;
	memcpy(req, &h, sizeof(h));
	memcpy(req + sizeof(h), "abcd", 4);
	n = raw(t.f, req, h.len, out, sizeof(out));
	memcpy(&oh, out, sizeof(oh));
	CHECK_EQ_INT(oh.error, -EINVAL);
	/* a WRITE whose size claims more than it carries */
	{
		struct fuse_write_in wi = { .fh = 1, .size = 1000 };

		h.opcode = FUSE_WRITE;
		h.len = sizeof(h) + sizeof(wi) + 10;
		memcpy(req, &h, sizeof(h));
		memcpy(req + sizeof(h), &wi, sizeof(wi));
		n = raw(t.f, req, h.len, out, sizeof(out));
		memcpy(&oh, out, sizeof(oh));
		CHECK_EQ_INT(oh.error, -EINVAL);
		wi.size = (1u << 20) + 1;
		memcpy(req + sizeof(h), &wi, sizeof(wi));
		n = raw(t.f, req, h.len, out, sizeof(out));
		memcpy(&oh, out, sizeof(oh));
		CHECK_EQ_INT(oh.error, -EINVAL);
		wi.size = 4;
		wi.offset = UINT64_MAX - 2;
		memcpy(req + sizeof(h), &wi, sizeof(wi));
		n = raw(t.f, req, h.len, out, sizeof(out));
		memcpy(&oh, out, sizeof(oh));
		CHECK_EQ_INT(oh.error, -EFBIG);
	}
	/* a BATCH_FORGET claiming more than it holds: forgets what is
	 * there, answers nothing */
	{
		struct fuse_batch_forget_in bi = { .count = 1000000 };
		struct fuse_forget_one one = { .nodeid = 12345, .nlookup = 9 };

		h.opcode = FUSE_BATCH_FORGET;
		h.len = sizeof(h) + sizeof(bi) + sizeof(one);
		memcpy(req, &h, sizeof(h));
		memcpy(req + sizeof(h), &bi, sizeof(bi));
		memcpy(req + sizeof(h) + sizeof(bi), &one, sizeof(one));
		CHECK_EQ_INT(raw(t.f, req, h.len, out, sizeof(out)), 0);
		h.opcode = FUSE_FORGET;
		h.len = 5;
		CHECK_EQ_INT(raw(t.f, &h, sizeof(h), out, sizeof(out)), 0);
		h.opcode = FUSE_INTERRUPT;
		h.len = sizeof(h);
		CHECK_EQ_INT(raw(t.f, &h, sizeof(h), out, sizeof(out)), 0);
	}
	/* a reply bigger than the room given: an error, never an overflow */
	{
		struct fuse_init_in ii = { 0 };

		(void)ii;
		h.opcode = FUSE_LOOKUP;
		h.nodeid = 1;
		memcpy(req, &h, sizeof(h));
		t.outcap = sizeof(struct fuse_out_header) + 10;
		CHECK_EQ_INT(call(&t, FUSE_MKDIR, 1,
				  &(struct fuse_mkdir_in){ .mode = 0755 },
				  sizeof(struct fuse_mkdir_in), "small",
				  (size_t)6, END), -EINVAL);
		t.outcap = 0;
	}
	/* arguments past 68 KiB (a WRITE's payload aside), or an xattr past
	 * 64 KiB: E2BIG; a 64 KiB value is taken */
	{
		static uint8_t val[70000];
		struct fuse_setxattr_in si = { .size = sizeof(val) };
		struct fuse_entry_out fe;
		uint64_t ffh;

		CHECK_EQ_INT(create(&t, 1, "xa", 0644, O_RDWR, &fe, &ffh), 0);
		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, fe.nodeid, &si, 8,
				  "user.big", (size_t)9, val, sizeof(val), END),
			     -E2BIG);
		si.size = 65537;
		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, fe.nodeid, &si, 8,
				  "user.big", (size_t)9, val, (size_t)65537,
				  END), -E2BIG);
		/* XATTR_SIZE_MAX itself, as tmpfs takes */
		si.size = 65536;
		CHECK_EQ_INT(call(&t, FUSE_SETXATTR, fe.nodeid, &si, 8,
				  "user.big", (size_t)9, val, (size_t)65536,
				  END), 0);
		CHECK_EQ_INT(release(&t, fe.nodeid, ffh, 0), 0);
		forget(&t, fe.nodeid, 1);
	}
	/* requests before INIT */
	{
		struct msb_fuse *g = msb_fuse_new(be.ops, be.state, NULL);

		h = (struct fuse_in_header){ .len = sizeof(h),
					     .opcode = FUSE_STATFS, .unique = 1,
					     .nodeid = 1 };
		n = raw(g, &h, sizeof(h), out, sizeof(out));
		memcpy(&oh, out, sizeof(oh));
		CHECK_EQ_INT(oh.error, -EIO);
		msb_fuse_free(g);
	}
	ts_close(&t);
}

TEST(fs_table_versions)
{
	struct msb_fs_ops ops = { .abi = MSB_FS_ABI + 1,
				  .size = sizeof(ops), .name = "x" };
	msb_error err = { 0 };

	CHECK_EQ_INT(msb_fs_ops_check(&ops, &err), -EINVAL);
	CHECK_EQ_INT(err.code, -EINVAL);
	CHECK_CONTAINS(err.message, "rebuild");
	CHECK_EQ_INT(msb_fs_ops_check(&ops, NULL), -EINVAL);
	CHECK(msb_fuse_new(&ops, NULL, NULL) == NULL);
	ops.abi = MSB_FS_ABI;
	ops.size = 16;
	CHECK_EQ_INT(msb_fs_ops_check(&ops, &err), -EINVAL);
	ops.size = (uint32_t)MSB_FS_OPS_MIN_SIZE;
	CHECK_EQ_INT(msb_fs_ops_check(&ops, &err), 0);
}

/* ---- memory: the size limit ----------------------------------------------- */

TEST(fs_memory_limit)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	static uint8_t buf[1u << 20];
	uint64_t fh;
	long n = 0, w;

	CHECK_EQ_INT(msb_fs_memory_new(4u << 20, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(create(&t, 1, "fill", 0644, O_RDWR, &e, &fh), 0);
	for (int i = 0; i < 8; i++) {
		w = write_(&t, e.nodeid, fh, (uint64_t)n, buf, sizeof(buf));
		if (w < 0) {
			CHECK_EQ_INT(w, -ENOSPC);
			break;
		}
		n += w;
	}
	CHECK(n < (4 << 20) && n > (3 << 20));
	/* a sparse file far out costs only what is written */
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "fill", (size_t)5, END), 0);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	CHECK_EQ_INT(create(&t, 1, "sparse", 0644, O_RDWR, &e, &fh), 0);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 1ull << 40, "x", 1), 1);
	{
		struct fuse_attr_out ao;

		CHECK_EQ_INT(call(&t, FUSE_GETATTR, e.nodeid, END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.size, (1ull << 40) + 1);
		CHECK_EQ_INT(ao.attr.blocks, 8);
	}
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	ts_close(&t);
}

/* A full memory filesystem still renames a file over another (the
 * replaced name's room pays for the new one), and a move to a new name
 * that does not fit changes nothing. */
TEST(fs_memory_rename_when_full)
{
	struct msb_fs_backend be;
	struct fuse_rename2_in ri = { .newdir = 1 };
	struct fuse_entry_out e;
	struct fuse_link_in li = { 0 };
	struct ts t;
	msb_error err = { 0 };
	char name[64];
	uint64_t fh;
	int i, r = 0;

	CHECK_EQ_INT(msb_fs_memory_new(1u << 20, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(create(&t, 1, "a", 0644, O_RDWR, &e, &fh), 0);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	li.oldnodeid = e.nodeid;
	/* nodes until no more fit, then names of "a" until none does */
	for (i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "filler-%06d", i);
		r = create(&t, 1, name, 0644, O_RDWR, &e, &fh);
		if (r)
			break;
		CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
		forget(&t, e.nodeid, 1);
	}
	CHECK_EQ_INT(r, -ENOSPC);
	for (i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "l-%05d", i);
		r = call(&t, FUSE_LINK, 1, &li, sizeof(li), name,
			 strlen(name) + 1, END);
		if (r)
			break;
		forget(&t, li.oldnodeid, 1);
	}
	CHECK_EQ_INT(r, -ENOSPC);
	/* a move to a name that does not fit: both names as they were */
	CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri), "filler-000001",
			  (size_t)14, "a-much-longer-name-than-any-room-left-"
			  "for-it-in-this-filesystem", (size_t)64, END),
		     -ENOSPC);
	CHECK_EQ_INT(lookup(&t, 1, "filler-000001", &e), 0);
	forget(&t, e.nodeid, 1);
	/* "a" over the first filler: the replaced name's room pays */
	CHECK_EQ_INT(call(&t, FUSE_RENAME2, 1, &ri, sizeof(ri), "a", (size_t)2,
			  "filler-000000", (size_t)14, END), 0);
	CHECK_EQ_INT(lookup(&t, 1, "a", &e), -ENOENT);
	CHECK_EQ_INT(lookup(&t, 1, "filler-000000", &e), 0);
	CHECK_EQ_INT(e.nodeid, li.oldnodeid);
	forget(&t, e.nodeid, 2);
	ts_close(&t);
}

/* ---- overlay: a passthrough lower under a memory upper -------------------- */

static void host_file(const char *dir, const char *rel, const char *data)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	msb_write_file(path, data, strlen(data), 0644);
}

static int overlay_on(const char *lowerdir, struct msb_fs_backend *out)
{
	struct msb_fs_backend lo, up;
	msb_error err = { 0 };

	if (msb_fs_passthrough_new(lowerdir, NULL, &lo, &err) ||
	    msb_fs_memory_new(64u << 20, &up, &err))
		return -1;
	return msb_fs_overlay_new(&lo, &up, out, &err);
}

TEST(fs_overlay_ops)
{
	struct msb_fs_backend be;
	char dir[256];

	int fd0 = unit_lowest_fd();

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(overlay_on(dir, &be), 0);
	exercise(&be, "overlay");
	CHECK_EQ_INT(unit_lowest_fd(), fd0);
	/* the lower directory was never written */
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		int n = 0;

		while (d && (de = readdir(d)))
			n++;
		if (d)
			closedir(d);
		CHECK_EQ_INT(n, 2);
	}
	msb_rm_rf(dir);
}

TEST(fs_overlay_layers)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e, d, x;
	char dir[256], path[600], buf[64];
	static char names[8192];
	uint64_t fh;
	int err;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	host_file(dir, "a", "lower a");
	snprintf(path, sizeof(path), "%s/a", dir);
	if (geteuid() == 0)
		CHECK_EQ_INT(chown(path, 1234, 5678), 0);
	chmod(path, 0640);
	snprintf(path, sizeof(path), "%s/d", dir);
	mkdir(path, 0755);
	host_file(dir, "d/x", "lower x");
	host_file(dir, "d/y", "lower y");
	host_file(dir, "gone", "to delete");
	CHECK_EQ_INT(overlay_on(dir, &be), 0);
	if (ts_open(&t, &be, NULL))
		return;
	/* reads come from below */
	CHECK_EQ_INT(lookup(&t, 1, "a", &e), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDONLY, &fh, 0), 0);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, buf, sizeof(buf)), 7);
	CHECK_MEM(buf, "lower a", 7);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	/* writing copies up: the host file stays as it was */
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDWR, &fh, 0), 0);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, buf, sizeof(buf)), 7);
	CHECK_MEM(buf, "lower a", 7);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, "UPPER", 5), 5);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, buf, sizeof(buf)), 7);
	CHECK_MEM(buf, "UPPER a", 7);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	{
		char *s;

		snprintf(path, sizeof(path), "%s/a", dir);
		s = msb_read_file(path, NULL);
		CHECK_STR(s, "lower a");
		free(s);
	}
	/* copy-up keeps owner, mode and times */
	if (geteuid() == 0) {
		struct fuse_attr_out ao;

		CHECK_EQ_INT(call(&t, FUSE_GETATTR, e.nodeid, END), 0);
		memcpy(&ao, t.body, sizeof(ao));
		CHECK_EQ_INT(ao.attr.uid, 1234);
		CHECK_EQ_INT(ao.attr.gid, 5678);
		CHECK_EQ_INT(ao.attr.mode & 07777, 0640);
	}
	/* a fresh lookup finds the same node, now upper */
	CHECK_EQ_INT(lookup(&t, 1, "a", &x), 0);
	CHECK_EQ_INT(x.nodeid, e.nodeid);
	forget(&t, x.nodeid, 1);
	forget(&t, e.nodeid, 1);
	/* deleting a lower file: gone from the merge, kept on the host */
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "gone", (size_t)5, END), 0);
	CHECK_EQ_INT(lookup(&t, 1, "gone", &x), -ENOENT);
	snprintf(path, sizeof(path), "%s/gone", dir);
	CHECK(access(path, F_OK) == 0);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "gone", (size_t)5, END),
		     -ENOENT);
	/* whiteouts never show and cannot be made */
	CHECK_EQ_INT(lookup(&t, 1, ".wh.gone", &x), -ENOENT);
	CHECK_EQ_INT(create(&t, 1, ".wh.evil", 0644, O_RDWR, &x, &fh),
		     -EINVAL);
	/* a merged directory: lower and upper entries, minus deleted ones */
	CHECK_EQ_INT(lookup(&t, 1, "d", &d), 0);
	CHECK_EQ_INT(create(&t, d.nodeid, "z", 0644, O_RDWR, &x, &fh), 0);
	CHECK_EQ_INT(release(&t, x.nodeid, fh, 0), 0);
	forget(&t, x.nodeid, 1);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, d.nodeid, "x", (size_t)2, END), 0);
	CHECK_EQ_INT(list(&t, d.nodeid, 1, names, sizeof(names), &err), 4);
	CHECK_EQ_INT(err, 0);
	CHECK(has_name(names, "y"));
	CHECK(has_name(names, "z"));
	CHECK(!has_name(names, "x"));
	CHECK(!strstr(names, ".wh."));
	CHECK_EQ_INT(list(&t, 1, 0, names, sizeof(names), &err), 4);
	CHECK(has_name(names, "a") && has_name(names, "d"));
	CHECK(!has_name(names, "gone"));
	/* rmdir of a non-empty merged dir; renaming a lower dir: EXDEV */
	CHECK_EQ_INT(call(&t, FUSE_RMDIR, 1, "d", (size_t)2, END), -ENOTEMPTY);
	{
		struct fuse_rename_in ri = { .newdir = 1 };

		CHECK_EQ_INT(call(&t, FUSE_RENAME, 1, &ri, sizeof(ri), "d",
				  (size_t)2, "d2", (size_t)3, END), -EXDEV);
		/* a lower file renames (copied up, whited out) */
		ri.newdir = d.nodeid;
		CHECK_EQ_INT(call(&t, FUSE_RENAME, 1, &ri, sizeof(ri), "a",
				  (size_t)2, "a-moved", (size_t)8, END), 0);
		CHECK_EQ_INT(lookup(&t, 1, "a", &x), -ENOENT);
		CHECK_EQ_INT(lookup(&t, d.nodeid, "a-moved", &x), 0);
		forget(&t, x.nodeid, 1);
	}
	/* empty it, remove it, make it again: the lower entries stay hidden */
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, d.nodeid, "y", (size_t)2, END), 0);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, d.nodeid, "z", (size_t)2, END), 0);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, d.nodeid, "a-moved", (size_t)8,
			  END), 0);
	forget(&t, d.nodeid, 1);
	CHECK_EQ_INT(call(&t, FUSE_RMDIR, 1, "d", (size_t)2, END), 0);
	CHECK_EQ_INT(lookup(&t, 1, "d", &x), -ENOENT);
	CHECK_EQ_INT(mkdir_(&t, 1, "d", &d), 0);
	CHECK_EQ_INT(lookup(&t, d.nodeid, "y", &x), -ENOENT);
	CHECK_EQ_INT(list(&t, d.nodeid, 0, names, sizeof(names), &err), 2);
	forget(&t, d.nodeid, 1);
	/* the host's lower tree is intact */
	{
		char *s;

		snprintf(path, sizeof(path), "%s/d/y", dir);
		s = msb_read_file(path, NULL);
		CHECK_STR(s, "lower y");
		free(s);
	}
	ts_close(&t);
	msb_rm_rf(dir);
}

/* ---- proxy: hooks see every call, and may deny -------------------------- */

struct seen_ops {
	int opens, creates, reads, writes, lookups_after, forgets;
	uint32_t last_pid;
	char denied[64];
};

static int hook_before(void *state, const struct msb_fs_call *call)
{
	struct seen_ops *s = state;

	if (call->op == MSB_FS_OP_OPEN) {
		s->opens++;
		s->last_pid = call->ctx->pid;
	}
	if (call->op == MSB_FS_OP_CREATE)
		s->creates++;
	if (call->name && s->denied[0] && !strcmp(call->name, s->denied))
		return -EACCES;
	return 0;
}

static void hook_after(void *state, const struct msb_fs_call *call,
		       long long result, const struct msb_fs_entry *e)
{
	struct seen_ops *s = state;

	if (call->op == MSB_FS_OP_READ && result > 0)
		s->reads += (int)result;
	if (call->op == MSB_FS_OP_WRITE && result > 0)
		s->writes += (int)result;
	if (call->op == MSB_FS_OP_LOOKUP && result == 0 && e && e->ino)
		s->lookups_after++;
	if (call->op == MSB_FS_OP_FORGET)
		s->forgets++;
}

TEST(fs_proxy_hooks)
{
	static const struct msb_fs_hooks hooks = {
		.abi = MSB_FS_ABI, .size = sizeof(hooks), .name = "test",
		.before = hook_before, .after = hook_after,
	};
	struct seen_ops seen = { .denied = "secret" };
	struct msb_fs_backend inner, be;
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	char buf[16];
	uint64_t fh;

	CHECK_EQ_INT(msb_fs_memory_new(1u << 20, &inner, &err), 0);
	CHECK_EQ_INT(msb_fs_proxy_new(&inner, &hooks, &seen, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(create(&t, 1, "f", 0644, O_RDWR, &e, &fh), 0);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, "12345", 5), 5);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDONLY, &fh, 0), 0);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, buf, sizeof(buf)), 5);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	CHECK_EQ_INT(create(&t, 1, "secret", 0644, O_RDWR, &e, &fh), -EACCES);
	CHECK_EQ_INT(lookup(&t, 1, "f", &e), 0);
	forget(&t, e.nodeid, 2);
	CHECK_EQ_INT(seen.opens, 1);
	CHECK_EQ_INT(seen.last_pid, 4242);
	CHECK_EQ_INT(seen.creates, 2);
	CHECK_EQ_INT(seen.writes, 5);
	CHECK_EQ_INT(seen.reads, 5);
	CHECK_EQ_INT(seen.lookups_after, 1);
	CHECK_EQ_INT(seen.forgets, 1);
	ts_close(&t);
}

/* ---- plugins: the shipped examples, loaded as the supervisor would ------- */

static int example_path(const char *so, char *buf, size_t n)
{
	char exe[512];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (len < 0)
		return -1;
	exe[len] = 0;
	/* build/tests/unit -> build/examples/SO */
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(buf, n, "%s/../examples/%s", exe, so);
	return access(buf, R_OK);
}

struct logged {
	char lines[8][256];
	int n;
};

static void log_line(void *ctx, const char *msg)
{
	struct logged *l = ctx;

	if (l->n < 8)
		snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s", msg);
}

TEST(fs_plugin_auditfs)
{
	struct msb_fs_backend src, be;
	struct logged log = { .n = 0 };
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	char dir[256], so[600], path[600];
	uint64_t fh;
	int fd0;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(example_path("auditfs.so", so, sizeof(so)), 0);
	host_file(dir, "data", "audited");
	fd0 = unit_lowest_fd();
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &src, &err), 0);
	CHECK_EQ_INT(msb_fs_plugin_load(so, "deny-writes", &src, log_line,
					&log, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(lookup(&t, 1, "data", &e), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDONLY, &fh, 0), 0);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_WRONLY, &fh, 0), -EACCES);
	CHECK_EQ_INT(log.n, 2);
	CHECK_CONTAINS(log.lines[0], "open ino=");
	CHECK_CONTAINS(log.lines[0], "pid=4242");
	forget(&t, e.nodeid, 1);
	ts_close(&t);
	CHECK_EQ_INT(unit_lowest_fd(), fd0);
	snprintf(path, sizeof(path), "%s/data", dir);
	{
		char *s = msb_read_file(path, NULL);

		CHECK_STR(s, "audited");
		free(s);
	}
	/* as the CLI loads it: no source, the directory as the argument */
	log.n = 0;
	CHECK_EQ_INT(msb_fs_plugin_load(so, dir, NULL, log_line, &log, &be,
					&err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(lookup(&t, 1, "data", &e), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDWR, &fh, 0), 0);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, "AUDITED", 7), 7);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	CHECK_EQ_INT(log.n, 1);
	CHECK_CONTAINS(log.lines[0], "pid=4242");
	forget(&t, e.nodeid, 1);
	ts_close(&t);
	{
		char *s = msb_read_file(path, NULL);

		CHECK_STR(s, "AUDITED");
		free(s);
	}
	/* a bad argument: refused with the plugin's reason, source freed */
	CHECK_EQ_INT(msb_fs_passthrough_new(dir, NULL, &src, &err), 0);
	CHECK(msb_fs_plugin_load(so, "relative/dir", &src, log_line, &log, &be,
				 &err) < 0);
	CHECK_CONTAINS(err.message, "absolute host directory");
	CHECK(msb_fs_plugin_load(so, "/nonexistent-dir", NULL, log_line, &log,
				 &be, &err) < 0);
	CHECK_CONTAINS(err.message, "/nonexistent-dir");
	/* hooks without anything to wrap */
	CHECK(msb_fs_plugin_load(so, "", NULL, NULL, NULL, &be, &err) < 0);
	CHECK_CONTAINS(err.message, "directory to audit");
	/* no such file, no entry point */
	CHECK(msb_fs_plugin_load("/nonexistent.so", "", NULL, NULL, NULL, &be,
				 &err) < 0);
	CHECK_CONTAINS(err.message, "cannot load");
	CHECK_EQ_INT(err.code, -ENOENT);
	CHECK_EQ_INT(unit_lowest_fd(), fd0);
	msb_rm_rf(dir);
}

TEST(fs_plugin_backend)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	char so[600], buf[64], names[256];
	uint64_t fh;
	int rc;

	CHECK_EQ_INT(example_path("hellofs.so", so, sizeof(so)), 0);
	CHECK_EQ_INT(msb_fs_plugin_load(so, "plugin text\n", NULL, NULL, NULL,
					&be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(list(&t, 1, 1, names, sizeof(names), &rc), 3);
	CHECK(has_name(names, "hello"));
	CHECK_EQ_INT(lookup(&t, 1, "hello", &e), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDONLY, &fh, 0), 0);
	CHECK_EQ_INT(read_(&t, e.nodeid, fh, 0, buf, sizeof(buf)), 12);
	CHECK_MEM(buf, "plugin text\n", 12);
	/* what it does not implement is ENOSYS, not a crash */
	CHECK_EQ_INT(mkdir_(&t, 1, "d", &e), -ENOSYS);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 0, "x", 1), -ENOSYS);
	ts_close(&t);
}

TEST(fs_overlay_big_merge)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e;
	char dir[256], nm[64];
	static char names[65536];
	uint64_t fh;
	int err;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	for (int i = 0; i < 1000; i++) {
		snprintf(nm, sizeof(nm), "l%04d", i);
		host_file(dir, nm, "x");
	}
	CHECK_EQ_INT(overlay_on(dir, &be), 0);
	if (ts_open(&t, &be, NULL))
		return;
	t.split = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(nm, sizeof(nm), "u%04d", i);
		CHECK_EQ_INT(create(&t, 1, nm, 0644, O_WRONLY, &e, &fh), 0);
		CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
		forget(&t, e.nodeid, 1);
		if (i % 2)
			continue;
		snprintf(nm, sizeof(nm), "l%04d", i);
		CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, nm, strlen(nm) + 1, END),
			     0);
	}
	CHECK_EQ_INT(list(&t, 1, 0, names, sizeof(names), &err), 2 + 1000 + 500);
	CHECK_EQ_INT(err, 0);
	CHECK(has_name(names, "l0001") && !has_name(names, "l0002"));
	CHECK(has_name(names, "u0999"));
	CHECK(!strstr(names, ".wh."));
	ts_close(&t);
	msb_rm_rf(dir);
}

/* FORGET arrives with no writable buffer (the high-priority queue): it
 * must still reach the backend and free what it held. */
TEST(fs_forget_without_reply_buffer)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e;
	struct fuse_statfs_out so;
	msb_error err = { 0 };
	uint64_t fh, ffree;
	struct {
		struct fuse_in_header h;
		struct fuse_forget_in fi;
	} req;
	struct {
		struct fuse_in_header h;
		struct fuse_batch_forget_in bi;
		struct fuse_forget_one one;
	} breq;
	struct iovec in;

	CHECK_EQ_INT(msb_fs_memory_new(1u << 20, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(call(&t, FUSE_STATFS, 1, END), 0);
	memcpy(&so, t.body, sizeof(so));
	ffree = so.st.ffree;
	for (int round = 0; round < 2; round++) {
		CHECK_EQ_INT(create(&t, 1, "f", 0644, O_RDWR, &e, &fh), 0);
		CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
		CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "f", (size_t)2, END), 0);
		CHECK_EQ_INT(call(&t, FUSE_STATFS, 1, END), 0);
		memcpy(&so, t.body, sizeof(so));
		CHECK_EQ_INT(so.st.ffree, ffree - 1); /* held by the guest */
		if (round == 0) {
			req.h = (struct fuse_in_header){
				.len = sizeof(req), .opcode = FUSE_FORGET,
				.unique = 99, .nodeid = e.nodeid };
			req.fi.nlookup = 1;
			in = (struct iovec){ &req, sizeof(req) };
		} else {
			breq.h = (struct fuse_in_header){
				.len = sizeof(breq),
				.opcode = FUSE_BATCH_FORGET, .unique = 99 };
			breq.bi = (struct fuse_batch_forget_in){ .count = 1 };
			breq.one = (struct fuse_forget_one){ e.nodeid, 1 };
			in = (struct iovec){ &breq, sizeof(breq) };
		}
		CHECK_EQ_INT(msb_fuse_handle(t.f, &in, 1, NULL, 0), 0);
		CHECK_EQ_INT(call(&t, FUSE_STATFS, 1, END), 0);
		memcpy(&so, t.body, sizeof(so));
		CHECK_EQ_INT(so.st.ffree, ffree);
	}
	ts_close(&t);
}

/* A directory its reader may list but not search: READDIRPLUS still lists
 * the names (without nodes), lookups are refused. */
TEST(fs_memory_permissions)
{
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out d, e;
	msb_error err = { 0 };
	char names[256];
	uint64_t fh;
	int rc;

	CHECK_EQ_INT(msb_fs_memory_new(1u << 20, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(mkdir_(&t, 1, "d", &d), 0);
	CHECK_EQ_INT(create(&t, d.nodeid, "f", 0600, O_RDWR, &e, &fh), 0);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	{
		struct fuse_setattr_in si = { .valid = FATTR_MODE,
					      .mode = 0744 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, d.nodeid, &si, sizeof(si),
				  END), 0);
	}
	t.uid = t.gid = 1000;
	t.nonodes = 0;
	CHECK_EQ_INT(list(&t, d.nodeid, 1, names, sizeof(names), &rc), 3);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(t.nonodes, 3);
	CHECK(has_name(names, "f"));
	CHECK_EQ_INT(lookup(&t, d.nodeid, "f", &e), -EACCES);
	/* not the owner: no chmod, no create in a dir without w */
	{
		struct fuse_setattr_in si = { .valid = FATTR_MODE,
					      .mode = 0777 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, d.nodeid, &si, sizeof(si),
				  END), -EPERM);
	}
	CHECK_EQ_INT(create(&t, d.nodeid, "g", 0644, O_RDWR, &e, &fh),
		     -EACCES);
	/* its own file in its own directory */
	t.uid = t.gid = 0;
	{
		struct fuse_setattr_in si = { .valid = FATTR_MODE,
					      .mode = 0777 };

		CHECK_EQ_INT(call(&t, FUSE_SETATTR, d.nodeid, &si, sizeof(si),
				  END), 0);
	}
	t.uid = t.gid = 1000;
	CHECK_EQ_INT(create(&t, d.nodeid, "g", 0600, O_RDWR, &e, &fh), 0);
	CHECK_EQ_INT(e.attr.uid, 1000);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	/* root's 0600 file: not for uid 1000 */
	CHECK_EQ_INT(lookup(&t, d.nodeid, "f", &e), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_RDONLY, &fh, 0), -EACCES);
	forget(&t, e.nodeid, 1);
	forget(&t, d.nodeid, 1);
	ts_close(&t);
}

TEST(fs_direct_io_option)
{
	struct msb_fs_backend be;
	struct msb_fuse_opts o = { .direct_io = 1, .attr_timeout_ms = 1500,
				   .entry_timeout_ms = 250 };
	struct ts t;
	struct fuse_entry_out e;
	struct fuse_open_out oo;
	msb_error err = { 0 };
	uint64_t fh;

	CHECK_EQ_INT(msb_fs_memory_new(1u << 20, &be, &err), 0);
	if (ts_open(&t, &be, &o))
		return;
	{
		struct fuse_create_in in = { .flags = O_RDWR,
					     .mode = S_IFREG | 0644 };

		CHECK_EQ_INT(call(&t, FUSE_CREATE, 1, &in, sizeof(in), "f",
				  (size_t)2, END), 0);
		memcpy(&e, t.body, sizeof(e));
		memcpy(&oo, t.body + sizeof(e), sizeof(oo));
		CHECK(oo.open_flags & FOPEN_DIRECT_IO);
		CHECK_EQ_INT(e.attr_valid, 1);
		CHECK_EQ_INT(e.attr_valid_nsec, 500000000);
		CHECK_EQ_INT(e.entry_valid, 0);
		CHECK_EQ_INT(e.entry_valid_nsec, 250000000);
		CHECK_EQ_INT(release(&t, e.nodeid, oo.fh, 0), 0);
	}
	{
		struct fuse_open_in in = { .flags = O_RDONLY };

		CHECK_EQ_INT(call(&t, FUSE_OPEN, e.nodeid, &in, sizeof(in), END),
			     0);
		memcpy(&oo, t.body, sizeof(oo));
		CHECK(oo.open_flags & FOPEN_DIRECT_IO);
		CHECK_EQ_INT(release(&t, e.nodeid, oo.fh, 0), 0);
		CHECK_EQ_INT(call(&t, FUSE_OPENDIR, 1, &in, sizeof(in), END), 0);
		memcpy(&oo, t.body, sizeof(oo));
		CHECK(!(oo.open_flags & FOPEN_DIRECT_IO));
		fh = oo.fh;
		CHECK_EQ_INT(release(&t, 1, fh, 1), 0);
	}
	forget(&t, e.nodeid, 1);
	ts_close(&t);
}

/* keep_cache (cache=always): files keep the guest's pages across opens;
 * directories and direct files do not get the flag. */
TEST(fs_keep_cache_option)
{
	struct msb_fs_backend be;
	struct msb_fuse_opts o = { .keep_cache = 1, .attr_timeout_ms = 86400000,
				   .entry_timeout_ms = 86400000 };
	struct ts t;
	struct fuse_entry_out e;
	struct fuse_open_out oo;
	msb_error err = { 0 };

	CHECK_EQ_INT(msb_fs_memory_new(1u << 20, &be, &err), 0);
	if (ts_open(&t, &be, &o))
		return;
	{
		struct fuse_create_in in = { .flags = O_RDWR,
					     .mode = S_IFREG | 0644 };

		CHECK_EQ_INT(call(&t, FUSE_CREATE, 1, &in, sizeof(in), "f",
				  (size_t)2, END), 0);
		memcpy(&e, t.body, sizeof(e));
		memcpy(&oo, t.body + sizeof(e), sizeof(oo));
		CHECK(oo.open_flags & FOPEN_KEEP_CACHE);
		CHECK(!(oo.open_flags & FOPEN_DIRECT_IO));
		CHECK_EQ_INT(e.attr_valid, 86400);
		CHECK_EQ_INT(e.entry_valid, 86400);
		CHECK_EQ_INT(release(&t, e.nodeid, oo.fh, 0), 0);
	}
	{
		struct fuse_open_in in = { .flags = O_RDONLY };

		CHECK_EQ_INT(call(&t, FUSE_OPEN, e.nodeid, &in, sizeof(in), END),
			     0);
		memcpy(&oo, t.body, sizeof(oo));
		CHECK(oo.open_flags & FOPEN_KEEP_CACHE);
		CHECK_EQ_INT(release(&t, e.nodeid, oo.fh, 0), 0);
		CHECK_EQ_INT(call(&t, FUSE_OPENDIR, 1, &in, sizeof(in), END), 0);
		memcpy(&oo, t.body, sizeof(oo));
		CHECK(!(oo.open_flags & FOPEN_KEEP_CACHE));
		CHECK_EQ_INT(release(&t, 1, oo.fh, 1), 0);
	}
	/* a missing name is a negative entry the guest may keep as long */
	CHECK_EQ_INT(call(&t, FUSE_LOOKUP, 1, "nope", (size_t)5, END), 0);
	{
		struct fuse_entry_out n;

		CHECK_EQ_INT(t.rlen, sizeof(n));
		memcpy(&n, t.body, sizeof(n));
		CHECK_EQ_INT(n.nodeid, 0);
		CHECK_EQ_INT(n.entry_valid, 86400);
	}
	forget(&t, e.nodeid, 1);
	ts_close(&t);
}

/* Nodes and handles are capped by the descriptors the process may open:
 * past the cap the guest gets ENFILE, and forgetting makes room again.
 * (In a child, whose open file limit is lowered to 1100.) */
static void node_cap_child(const char *dir)
{
	struct rlimit rl = { 1100, 1100 };
	struct msb_fs_backend be;
	struct ts t;
	struct fuse_entry_out e;
	uint64_t ids[1000], fh;
	msb_error err = { 0 };
	char nm[32];
	int n = 0, rc = 0;

	if (setrlimit(RLIMIT_NOFILE, &rl))
		_exit(10);
	if (msb_fs_passthrough_new(dir, NULL, &be, &err))
		_exit(11);
	if (ts_open(&t, &be, NULL))
		_exit(12);
	t.split = 0;
	while (n < 1000) {
		snprintf(nm, sizeof(nm), "n%d", n);
		rc = create(&t, 1, nm, 0644, O_RDWR, &e, &fh);
		if (rc)
			break;
		release(&t, e.nodeid, fh, 0);
		ids[n++] = e.nodeid;
	}
	/* (1100 - 512) / 2 nodes, the root among them */
	if (rc != -ENFILE || n != 293)
		_exit(20);
	/* a lookup of a new name fails the same way, an old one works */
	if (lookup(&t, 1, "n0", &e) || e.nodeid != ids[0])
		_exit(21);
	forget(&t, ids[0], 1);
	for (int i = 0; i < 10; i++)
		forget(&t, ids[i], 1);
	for (int i = 0; i < 10; i++) {
		snprintf(nm, sizeof(nm), "m%d", i);
		if (create(&t, 1, nm, 0644, O_RDWR, &e, &fh))
			_exit(22);
		release(&t, e.nodeid, fh, 0);
	}
	if (create(&t, 1, "one-more", 0644, O_RDWR, &e, &fh) != -ENFILE)
		_exit(23);
	ts_close(&t);
	_exit(0);
}

TEST(fs_passthrough_node_cap)
{
	char dir[256];
	int status = -1;
	pid_t pid;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	pid = fork();
	if (pid == 0)
		node_cap_child(dir);
	CHECK(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_EQ_INT(WEXITSTATUS(status), 0);
	msb_rm_rf(dir);
}

/* An overlay whose upper layer is a host directory too: the op set, and
 * the host sees copy-ups and whiteouts there, the lower tree untouched. */
TEST(fs_overlay_passthrough_upper)
{
	struct msb_fs_backend lo, up, be;
	struct ts t;
	struct fuse_entry_out e;
	msb_error err = { 0 };
	char top[256], ldir[300], udir[300], path[700];
	uint64_t fh;
	int fd0 = unit_lowest_fd();

	if (unit_tmpdir(top, sizeof(top)))
		return;
	snprintf(ldir, sizeof(ldir), "%s/lower", top);
	snprintf(udir, sizeof(udir), "%s/upper", top);
	mkdir(ldir, 0755);
	mkdir(udir, 0755);
	CHECK_EQ_INT(msb_fs_passthrough_new(ldir, NULL, &lo, &err), 0);
	CHECK_EQ_INT(msb_fs_passthrough_new(udir, NULL, &up, &err), 0);
	CHECK_EQ_INT(msb_fs_overlay_new(&lo, &up, &be, &err), 0);
	exercise(&be, "overlay");
	/* a populated lower layer, a fresh upper one */
	snprintf(udir, sizeof(udir), "%s/upper2", top);
	mkdir(udir, 0755);
	host_file(ldir, "keep", "lower keep");
	host_file(ldir, "del", "lower del");
	CHECK_EQ_INT(msb_fs_passthrough_new(ldir, NULL, &lo, &err), 0);
	CHECK_EQ_INT(msb_fs_passthrough_new(udir, NULL, &up, &err), 0);
	CHECK_EQ_INT(msb_fs_overlay_new(&lo, &up, &be, &err), 0);
	if (ts_open(&t, &be, NULL))
		return;
	CHECK_EQ_INT(lookup(&t, 1, "keep", &e), 0);
	CHECK_EQ_INT(open_(&t, e.nodeid, O_WRONLY | O_APPEND, &fh, 0), 0);
	CHECK_EQ_INT(write_(&t, e.nodeid, fh, 10, "+upper", 6), 6);
	CHECK_EQ_INT(release(&t, e.nodeid, fh, 0), 0);
	forget(&t, e.nodeid, 1);
	CHECK_EQ_INT(call(&t, FUSE_UNLINK, 1, "del", (size_t)4, END), 0);
	ts_close(&t);
	{
		char *s;

		snprintf(path, sizeof(path), "%s/keep", udir);
		s = msb_read_file(path, NULL);
		CHECK_STR(s, "lower keep+upper");
		free(s);
		snprintf(path, sizeof(path), "%s/keep", ldir);
		s = msb_read_file(path, NULL);
		CHECK_STR(s, "lower keep");
		free(s);
		snprintf(path, sizeof(path), "%s/.wh.del", udir);
		CHECK(access(path, F_OK) == 0);
		snprintf(path, sizeof(path), "%s/del", ldir);
		CHECK(access(path, F_OK) == 0);
	}
	CHECK_EQ_INT(unit_lowest_fd(), fd0);
	msb_rm_rf(top);
}
