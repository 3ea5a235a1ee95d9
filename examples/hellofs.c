/* SPDX-License-Identifier: Apache-2.0 */
/* hellofs.c - a filesystem backend of its own: one read-only file
 *
 * The smallest complete backend: a root directory holding "hello", whose
 * contents are the plugin's argument (or a greeting). Every operation it
 * leaves NULL answers ENOSYS to the guest; those it has check the node
 * ids and handles they get, as any backend must (they come from the
 * guest).
 *
 *   cc -shared -fPIC -I include examples/hellofs.c -o hellofs.so
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <msb_fs.h>

#define HELLO_ID 2

struct hello {
	char *text;
	size_t len;
};

static void attr(struct hello *h, uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = ino == MSB_FS_ROOT_ID ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = ino == MSB_FS_ROOT_ID ? 2 : 1;
	st->st_size = ino == MSB_FS_ROOT_ID ? 0 : (off_t)h->len;
	st->st_blksize = 4096;
}

static int h_lookup(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, struct msb_fs_entry *e)
{
	if (parent != MSB_FS_ROOT_ID)
		return -ENOTDIR;
	if (strcmp(name, "hello"))
		return -ENOENT;
	e->ino = HELLO_ID;
	e->generation = 0;
	attr(b, HELLO_ID, &e->attr);
	return 0;
}

static int h_getattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, struct stat *st)
{
	if (ino != MSB_FS_ROOT_ID && ino != HELLO_ID)
		return -ESTALE;
	attr(b, ino, st);
	return 0;
}

static int h_open(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		  int flags, struct msb_fs_file *f)
{
	if (ino != HELLO_ID)
		return ino == MSB_FS_ROOT_ID ? -EISDIR : -ESTALE;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	f->fh = 0;
	f->flags = MSB_FS_KEEP_CACHE;
	return 0;
}

static ssize_t h_read(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      uint64_t fh, const struct iovec *iov, int iovcnt,
		      uint64_t off)
{
	struct hello *h = b;
	size_t done = 0;

	if (ino != HELLO_ID)
		return -EBADF;
	for (int i = 0; i < iovcnt && off < h->len; i++) {
		size_t n = iov[i].iov_len;

		if (n > h->len - off)
			n = h->len - (size_t)off;
		memcpy(iov[i].iov_base, h->text + off, n);
		off += n;
		done += n;
	}
	return (ssize_t)done;
}

static int h_opendir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     int flags, struct msb_fs_file *f)
{
	if (ino != MSB_FS_ROOT_ID)
		return ino == HELLO_ID ? -ENOTDIR : -ESTALE;
	f->fh = 0;
	f->flags = 0;
	return 0;
}

static int h_readdir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, uint64_t off, msb_fs_fill_fn fill,
		     void *fill_ctx)
{
	static const struct msb_fs_dirent ents[] = {
		{ MSB_FS_ROOT_ID, 1, DT_DIR, "." },
		{ MSB_FS_ROOT_ID, 2, DT_DIR, ".." },
		{ HELLO_ID, 3, DT_REG, "hello" },
	};

	if (ino != MSB_FS_ROOT_ID)
		return -EBADF;
	for (uint64_t i = off; i < 3; i++)
		if (fill(fill_ctx, &ents[i]))
			break;
	return 0;
}

static int h_statfs(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    struct statvfs *st)
{
	memset(st, 0, sizeof(*st));
	st->f_bsize = st->f_frsize = 4096;
	st->f_files = 2;
	st->f_namemax = MSB_FS_NAME_MAX;
	return 0;
}

static void h_destroy(void *b)
{
	struct hello *h = b;

	free(h->text);
	free(h);
}

static const struct msb_fs_ops hello_ops = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_ops),
	.name = "hellofs",
	.destroy = h_destroy,
	.lookup = h_lookup,
	.getattr = h_getattr,
	.open = h_open,
	.read = h_read,
	.opendir = h_opendir,
	.readdir = h_readdir,
	.statfs = h_statfs,
};

int msb_fs_plugin_open(const struct msb_fs_host *host, const char *arg,
		       struct msb_fs_plugin *out, char *err, size_t errlen);

int msb_fs_plugin_open(const struct msb_fs_host *host, const char *arg,
		       struct msb_fs_plugin *out, char *err, size_t errlen)
{
	struct hello *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->text = strdup(*arg ? arg : "hello from a plugin\n");
	if (!h->text) {
		free(h);
		return -ENOMEM;
	}
	h->len = strlen(h->text);
	out->ops = &hello_ops;
	out->state = h;
	return 0;
}
