/* SPDX-License-Identifier: Apache-2.0 */
/* tarstream.c - a layer as a clean tar stream, for mkfs.erofs --tar
 *
 * Theory of operation: the same rules as unpack_layer() (unpack.c), applied
 * to a stream instead of a directory. libarchive reads the hostile layer;
 * each entry is checked (counts, sizes, names: no absolute path, no "..",
 * nothing through a symlink or a file, hard links only to an earlier file
 * of the layer, only user.*, security.* and trusted.* xattrs and never
 * trusted.overlay.*) and written again, with its name normalised, as a
 * pax entry to @outfd, where mkfs.erofs --tar --aufs builds the image from
 * it. So mkfs.erofs's own tar reader only ever sees what libarchive wrote,
 * and nothing of the layer is written to a filesystem of the host.
 *
 * What the directory unpacker gets from the filesystem, this file keeps in
 * a table of the paths the layer made: a parent missing from the layer is
 * written first as a directory (0755, root's, as mkdir made it), a
 * whiteout of a name the layer itself made is dropped (the entry wins: a
 * whiteout is for the layers below), and a directory made where the layer
 * put a whiteout is opaque (trusted.overlay.opaque, so the layers below
 * stay hidden). mkfs.erofs --aufs turns ".wh.NAME" into overlayfs's
 * whiteout (a character device 0:0) and ".wh..wh..opq" into the opaque
 * xattr of its directory, as unpack.c does.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "unpack.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OPAQUE_XATTR "trusted.overlay.opaque"

/* What the layer made at a path. */
enum {
	MADE = 1,       /* an entry (not a whiteout) */
	MADE_DIR = 2,   /* ... and it is a directory */
	WHITEOUT = 4,   /* a whiteout of this layer hides the name */
};

struct slot {
	char *path;
	unsigned flags;
};

struct ts {
	struct archive *out;
	const struct unpack_limits *lim;
	uint64_t *entries, *bytes;
	char *why;
	size_t whyn;
	struct archive_entry *root;     /* the layer's "./" entry, if any */
	int root_opaque;                /* "./.wh..wh..opq" was seen */
	struct slot *tab;       /* open addressing, a power of two */
	size_t cap, used;
};

/* what a sparse entry's holes are written with */
static const char zeros[65536];

static int fail(struct ts *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ts *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, t->whyn, fmt, ap);
	va_end(ap);
	return -1;
}

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* find() - the slot of @path: its own, or the empty one it would take. */
static struct slot *find(struct slot *tab, size_t cap, const char *path)
{
	size_t i = hash(path) & (cap - 1);

	while (tab[i].path && strcmp(tab[i].path, path))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static unsigned flags_of(struct ts *t, const char *path)
{
	return t->cap ? find(t->tab, t->cap, path)->flags : 0;
}

/* set_flags() - @path's flags become @flags. Return: 0 or -1 (memory). */
static int set_flags(struct ts *t, const char *path, unsigned flags)
{
	struct slot *s;

	if (2 * (t->used + 1) > t->cap) {
		size_t nc = t->cap ? 2 * t->cap : 1024;
		struct slot *nt = calloc(nc, sizeof(*nt));

		if (!nt)
			return fail(t, "out of memory");
		for (size_t i = 0; i < t->cap; i++)
			if (t->tab[i].path)
				*find(nt, nc, t->tab[i].path) = t->tab[i];
		free(t->tab);
		t->tab = nt;
		t->cap = nc;
	}
	s = find(t->tab, t->cap, path);
	if (!s->path) {
		s->path = strdup(path);
		if (!s->path)
			return fail(t, "out of memory");
		t->used++;
	}
	s->flags = flags;
	return 0;
}

/* join() - comp[0..n-1] as "a/b/c" in @buf. */
static void join(char **comp, int n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? "/" : "", comp[i]);
}

static int write_header(struct ts *t, struct archive_entry *e,
			const char *path)
{
	int r = archive_write_header(t->out, e);

	if (r == ARCHIVE_OK)
		return 0;
	if (archive_errno(t->out) == EPIPE)
		return fail(t, "mkfs.erofs stopped reading at '%s'", path);
	return fail(t, "cannot pass on '%s': %s", path,
		    archive_error_string(t->out));
}

/* made() - an entry the layer does not have, made now (as mkdir and
 * mknod would): a directory (@type AE_IFDIR, opaque if @opaque) or an
 * empty marker file for mkfs.erofs's --aufs (AE_IFREG). */
static int made(struct ts *t, const char *path, int type, int opaque)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return fail(t, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (opaque)
		archive_entry_xattr_add_entry(e, OPAQUE_XATTR, "y", 1);
	r = write_header(t, e, path);
	archive_entry_free(e);
	return r;
}

/* made_dir() - a directory at @path (missing from the layer, or where the
 * layer put a whiteout), as unpack.c's walk() makes one. */
static int made_dir(struct ts *t, const char *path, int opaque)
{
	if (made(t, path, AE_IFDIR, opaque) < 0)
		return -1;
	return set_flags(t, path, MADE | MADE_DIR);
}

/* parents() - comp[0..n-2] must be directories: each one the layer has
 * not made yet is made; a file or symlink on the way is refused. */
static int parents(struct ts *t, char **comp, int n, const char *orig)
{
	char p[PATH_MAX];

	for (int i = 1; i < n; i++) {
		unsigned f;

		join(comp, i, p, sizeof(p));
		f = flags_of(t, p);
		if ((f & MADE) && !(f & MADE_DIR))
			return fail(t, "entry '%s' goes through a symlink or a "
				       "file ('%s'): refused",
				    orig, comp[i - 1]);
		if (!(f & MADE) && made_dir(t, p, (f & WHITEOUT) != 0) < 0)
			return -1;
	}
	return 0;
}

static int copy_data(struct ts *t, struct archive *a, const char *path,
		     int64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int64_t at = 0;
	int r;

	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < at || (uint64_t)off + len > (uint64_t)size)
			return fail(t, "entry '%s' has more data than its size",
				    path);
		if (unpack_count_bytes(t->lim, t->bytes, len, t->why,
				       t->whyn) < 0)
			return -1;
		/* A hole of a sparse entry: zeros, the stream has no holes */
		while (at < off) {
			size_t z = (size_t)(off - at) < sizeof(zeros) ?
					   (size_t)(off - at) : sizeof(zeros);

			if (archive_write_data(t->out, zeros, z) != (la_ssize_t)z)
				return fail(t, "mkfs.erofs stopped reading at "
					       "'%s'", path);
			at += (int64_t)z;
		}
		if (len && archive_write_data(t->out, buf, len) !=
				   (la_ssize_t)len)
			return fail(t, "mkfs.erofs stopped reading at '%s'",
				    path);
		at += (int64_t)len;
	}
	if (r != ARCHIVE_EOF)
		return fail(t, "layer archive damaged at '%s': %s", path,
			    archive_error_string(a));
	/* (libarchive pads the rest of the entry's size with zeros, as
	 * ftruncate() does for the directory unpacker) */
	return 0;
}

/* keep_xattrs() - only the xattrs unpack.c's set_xattrs() keeps. */
static void keep_xattrs(struct archive_entry *from, struct archive_entry *to)
{
	const char *name;
	const void *val;
	size_t len;

	archive_entry_xattr_clear(to);
	archive_entry_xattr_reset(from);
	while (archive_entry_xattr_next(from, &name, &val, &len) == ARCHIVE_OK) {
		if (strncmp(name, "user.", 5) && strncmp(name, "security.", 9) &&
		    strncmp(name, "trusted.", 8))
			continue;
		if (!strncmp(name, "trusted.overlay.", 16))
			continue;
		archive_entry_xattr_add_entry(to, name, val, len);
	}
}

/* entry() - one entry of the layer at @path (normalised), @n components. */
static int entry(struct ts *t, struct archive *a, struct archive_entry *in,
		 const char *path, const char *orig)
{
	mode_t type = archive_entry_filetype(in);
	const char *hl = archive_entry_hardlink(in);
	char tpath[PATH_MAX], tnorm[PATH_MAX], *tc[PATH_MAX / 2];
	unsigned was = flags_of(t, path);
	struct archive_entry *e;
	int tn, r;

	if (!hl && type != AE_IFDIR && type != AE_IFREG && type != AE_IFLNK &&
	    type != AE_IFCHR && type != AE_IFBLK && type != AE_IFIFO)
		return 0; /* sockets and the like: not part of an image */
	if (hl) {
		snprintf(tpath, sizeof(tpath), "%s", hl);
		tn = unpack_split(tpath, tc, (int)(sizeof(tc) / sizeof(tc[0])));
		if (tn <= 0)
			return fail(t, "hard link '%s' points outside the layer "
				       "('%s'): refused",
				    orig, hl);
		join(tc, tn, tnorm, sizeof(tnorm));
		if ((flags_of(t, tnorm) & (MADE | MADE_DIR)) != MADE ||
		    !strcmp(tnorm, path))
			return fail(t, "hard link '%s' names '%s', which is not "
				       "an earlier file of the layer: refused",
				    orig, hl);
	} else if (type == AE_IFREG &&
		   (archive_entry_size(in) < 0 ||
		    (uint64_t)archive_entry_size(in) >
			    t->lim->max_bytes - *t->bytes)) {
		return fail(t, "the layer unpacks to more than %llu bytes (a "
			       "decompression bomb?): refused",
			    (unsigned long long)t->lim->max_bytes);
	}
	e = archive_entry_clone(in);
	if (!e)
		return fail(t, "out of memory");
	archive_entry_sparse_clear(e);
	archive_entry_set_pathname(e, path);
	if (hl) {
		archive_entry_set_hardlink(e, tnorm);
		archive_entry_set_size(e, 0);
		archive_entry_xattr_clear(e);
	} else {
		archive_entry_set_perm(e, archive_entry_perm(in) & 07777);
		if (type != AE_IFREG)
			archive_entry_set_size(e, 0);
		keep_xattrs(in, e);
		/* A directory where this layer put a whiteout replaces the
		 * name in the layers below: opaque. (A directory made again
		 * keeps what it was.) */
		if ((type == AE_IFDIR && (was & WHITEOUT) && !(was & MADE_DIR)) ||
		    (!strcmp(path, ".") && t->root_opaque))
			archive_entry_xattr_add_entry(e, OPAQUE_XATTR, "y", 1);
	}
	r = write_header(t, e, path);
	if (r == 0 && !hl && type == AE_IFREG)
		r = copy_data(t, a, orig, archive_entry_size(in));
	archive_entry_free(e);
	if (r < 0)
		return -1;
	return set_flags(t, path, MADE | (!hl && type == AE_IFDIR ? MADE_DIR : 0));
}

/* whiteout() - ".wh.NAME" in the directory @dir (normalised, "" for the
 * root), passed on unless this layer made NAME itself. */
static int whiteout(struct ts *t, const char *dir, const char *leaf,
		    const char *orig)
{
	const char *name = leaf + strlen(WH_PREFIX);
	char target[PATH_MAX], path[PATH_MAX];
	unsigned f;

	if (!*name || !strcmp(name, ".."))
		return fail(t, "bad whiteout '%s': refused", orig);
	snprintf(target, sizeof(target), "%s%s%s", dir, *dir ? "/" : "", name);
	f = flags_of(t, target);
	if (f & MADE)
		return 0;
	snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", leaf);
	if (made(t, path, AE_IFREG, 0) < 0)
		return -1;
	return set_flags(t, target, f | WHITEOUT);
}

/* The layer is decompressed once: a raw reader (the filters OCI layers
 * use) feeds the tar reader, and hashes what it feeds for the DiffID.
 * When that is memory the layer was inflated into in one call (inflate.c,
 * nothing left to strip), all of it is there from the start: a second
 * thread hashes it while this one checks and rewrites the entries (the
 * hash was an eighth of a conversion's CPU, all on its critical path). */
struct src {
	struct archive *raw;
	EVP_MD_CTX *md;
	const unsigned char *mem; /* hashed by @hasher, when not NULL */
	size_t len;
	pthread_t hasher;
	int hashing;              /* @hasher runs, or ran, and is not joined */
	atomic_int stop;          /* @hasher gives up (a refused layer) */
	int sock;                 /* the layer arrives on a socket */
};

static void *hash_mem(void *arg)
{
	struct src *s = arg;
	size_t chunk = 1 << 20;

	for (size_t off = 0; off < s->len && !atomic_load(&s->stop);
	     off += chunk)
		EVP_DigestUpdate(s->md, s->mem + off,
				 s->len - off < chunk ? s->len - off : chunk);
	return NULL;
}

/* join_hasher() - wait for the hashing thread, told to stop first when
 * @stop (its result is not wanted). */
static void join_hasher(struct src *s, int stop)
{
	if (!s->hashing)
		return;
	if (stop)
		atomic_store(&s->stop, 1);
	pthread_join(s->hasher, NULL);
	s->hashing = 0;
}

static la_ssize_t src_read(struct archive *a, void *data, const void **buf)
{
	struct src *s = data;
	size_t len;
	la_int64_t off;
	int r = archive_read_data_block(s->raw, buf, &len, &off);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK) {
		if (a)
			archive_set_error(a, EIO, "%s",
					  archive_error_string(s->raw));
		return -1;
	}
	if (!s->mem)
		EVP_DigestUpdate(s->md, *buf, len);
	return (la_ssize_t)len;
}

/* open_src() - the tar reader @a over the layer in @fd through @s; the
 * DiffID hashed on a thread of its own when @hash and the layer is in
 * memory. */
static int open_src(struct ts *t, struct src *s, struct archive **a, int fd,
		    int hash)
{
	s->md = EVP_MD_CTX_new();
	*a = archive_read_new();
	if (!s->md || !*a ||
	    EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
		return fail(t, "out of memory");
	s->raw = unpack_open_raw(fd, hash ? &s->mem : NULL, &s->len, t->why,
				 t->whyn);
	if (!s->raw)
		return -1;
	if (s->mem) {
		s->hashing = pthread_create(&s->hasher, NULL, hash_mem, s) == 0;
		if (!s->hashing)
			s->mem = NULL; /* (hashed as it is read, then) */
	}
	archive_read_support_format_tar(*a);
	archive_read_support_format_gnutar(*a);
	if (archive_read_open(*a, s, NULL, src_read, NULL) != ARCHIVE_OK)
		return fail(t, "not a valid layer archive: %s",
			    archive_error_string(*a));
	return 0;
}

/* drain() - the rest of the stream read (and hashed). What follows the
 * tar's end must decompress too when the layer arrives on a socket
 * (inflate.c: a pull's download as it comes); from a file or a pipe, as
 * libarchive gives it (a failure there leaves the hash short). Return: 0,
 * or -1 with @t->why set. */
static int drain(struct ts *t, struct src *s)
{
	const void *buf;
	la_ssize_t n;

	while ((n = src_read(NULL, s, &buf)) > 0)
		;
	if (n < 0 && s->sock)
		return fail(t, "layer archive damaged after its last entry: %s",
			    archive_error_string(s->raw));
	return 0;
}

/* check_diff_id() - the rest of the stream hashed too (what follows the
 * tar's end), the digest against @want. */
static int check_diff_id(struct ts *t, struct src *s, const char *want)
{
	unsigned char md[32];
	char got[65];

	if (drain(t, s) < 0) {
		join_hasher(s, 1);
		return -1;
	}
	join_hasher(s, 0);
	EVP_DigestFinal_ex(s->md, md, NULL);
	for (int i = 0; i < 32; i++)
		snprintf(got + 2 * i, 3, "%02x", md[i]);
	if (strcmp(got, want))
		return fail(t, "it decompresses to sha256:%.12s but the image "
			       "config says its diff_id is sha256:%.12s: the "
			       "image is corrupt or tampered (refused)",
			    got, want);
	return 0;
}

static la_ssize_t pipe_write(struct archive *a, void *data, const void *buf,
			     size_t len)
{
	int fd = *(int *)data;
	la_ssize_t n;

	(void)a;
	while ((n = write(fd, buf, len)) < 0 && errno == EINTR)
		;
	if (n < 0)
		archive_set_error(a, errno, "%s", strerror(errno));
	return n;
}

int unpack_to_tar(int fd, int outfd, const char *diff_id,
		  const struct unpack_limits *lim, uint64_t *entries,
		  uint64_t *bytes, char *why, size_t whyn)
{
	struct ts *t = calloc(1, sizeof(*t));
	struct src src = { 0 };
	struct archive *a = NULL;
	struct archive_entry *in;
	char path[PATH_MAX], norm[PATH_MAX], dir[PATH_MAX], *comp[PATH_MAX / 2];
	struct stat st;
	int n, r = 0, ret = 0;

	if (!t) {
		snprintf(why, whyn, "out of memory");
		return -1;
	}
	*t = (struct ts){ .lim = lim, .entries = entries, .bytes = bytes,
			  .why = why, .whyn = whyn };
	t->out = archive_write_new();
	/* Blocks of 64 KiB, not libarchive's 10 KiB: fewer writes, and
	 * fewer times mkfs.erofs waits for one (the stream is the same
	 * bytes, the last block is not padded). */
	if (!t->out || archive_write_set_format_pax_restricted(t->out) ||
	    archive_write_add_filter_none(t->out) ||
	    archive_write_set_bytes_per_block(t->out, 64 << 10) ||
	    archive_write_set_bytes_in_last_block(t->out, 1) ||
	    archive_write_open(t->out, &outfd, NULL, pipe_write, NULL)) {
		ret = fail(t, "cannot start the tar stream: %s",
			   t->out ? archive_error_string(t->out) : "no memory");
		goto out;
	}
	src.sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	if (open_src(t, &src, &a, fd, diff_id && *diff_id) < 0) {
		ret = -1;
		goto out;
	}
	while (ret == 0 && (r = archive_read_next_header(a, &in)) != ARCHIVE_EOF) {
		const char *orig = archive_entry_pathname(in), *leaf;

		if (r < ARCHIVE_WARN) {
			ret = fail(t, "not a valid layer archive: %s",
				   archive_error_string(a));
			break;
		}
		n = unpack_entry_path(lim, entries, orig, path, comp, why, whyn);
		if (n < 0) {
			ret = -1;
			break;
		}
		if (n == 0) {
			if (archive_entry_filetype(in) != AE_IFDIR)
				ret = fail(t, "the layer's root entry is not a "
					      "directory");
			else
				ret = entry(t, a, in, ".", orig);
			if (ret == 0 && !t->root) {
				t->root = archive_entry_clone(in);
				if (!t->root)
					ret = fail(t, "out of memory");
			}
			continue;
		}
		leaf = comp[n - 1];
		join(comp, n - 1, dir, sizeof(dir));
		join(comp, n, norm, sizeof(norm));
		ret = parents(t, comp, n, orig);
		if (ret < 0)
			break;
		if (!strcmp(leaf, WH_OPAQUE) && n == 1) {
			/* The root: mkfs.erofs marks only a named directory
			 * opaque, so the root's entry comes again with it. */
			t->root_opaque = 1;
			if (t->root)
				ret = entry(t, a, t->root, ".", orig);
			else
				ret = made(t, ".", AE_IFDIR, 1);
		} else if (!strcmp(leaf, WH_OPAQUE)) {
			ret = made(t, norm, AE_IFREG, 0);
		} else if (!strncmp(leaf, WH_PREFIX, strlen(WH_PREFIX))) {
			ret = whiteout(t, dir, leaf, orig);
		} else {
			ret = entry(t, a, in, norm, orig);
		}
	}
	/* (before the stream ends: mkfs.erofs's image of a layer that is
	 * not what its config says is then never complete) */
	if (ret == 0 && diff_id && *diff_id)
		ret = check_diff_id(t, &src, diff_id);
	/* (a layer arriving as it downloads is read to its end whatever:
	 * one that goes wrong after the tar's end is not accepted so where
	 * its file would be refused) */
	else if (ret == 0 && src.sock)
		ret = drain(t, &src);
	if (ret == 0 && archive_write_close(t->out) != ARCHIVE_OK)
		ret = fail(t, "mkfs.erofs stopped reading: %s",
			   archive_error_string(t->out));
out:
	/* (before the memory it reads goes with the raw reader) */
	join_hasher(&src, 1);
	if (a)
		archive_read_free(a);
	if (src.raw)
		archive_read_free(src.raw);
	EVP_MD_CTX_free(src.md);
	if (t->root)
		archive_entry_free(t->root);
	if (t->out)
		archive_write_free(t->out);
	for (size_t i = 0; i < t->cap; i++)
		free(t->tab[i].path);
	free(t->tab);
	free(t);
	return ret;
}
