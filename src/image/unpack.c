/* SPDX-License-Identifier: Apache-2.0 */
/* unpack.c - apply an OCI layer (a tar stream) onto a directory, safely
 *
 * Theory of operation: every entry's path is split into components; an
 * absolute path, a ".." component or an empty name is refused. The parent
 * directories are walked from the root with openat(O_NOFOLLOW|O_DIRECTORY),
 * so a symlink anywhere on the way (one the layer made itself, say, "etc ->
 * /etc" followed by "etc/passwd") fails the walk instead of being followed:
 * nothing is ever created outside the root. Hard links are resolved the
 * same way and must name an earlier entry inside the root. Counts and sizes
 * are capped (a decompression bomb hits the byte cap, not the disk).
 *
 * OCI whiteouts (image-spec §layer "Whiteouts") become overlayfs's own
 * (Documentation/filesystems/overlayfs.rst): ".wh.NAME" a character device
 * 0:0 named NAME, ".wh..wh..opq" the xattr trusted.overlay.opaque="y" on its
 * directory. When several layers are merged into one directory (images with
 * more layers than disks), a later layer's deletions are first applied to
 * what the earlier ones made (unpack_deletions()), then its entries are
 * written with the whiteouts kept, so the disks below stay hidden too.
 *
 * Owners, modes, device nodes and xattrs are asked for as the layer says;
 * msb-unpack runs this without privileges, under fakeroot(1), which
 * records them for mkfs.erofs, and behind a seccomp filter that keeps
 * setuid bits and device nodes off the host filesystem (msb-unpack.c).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "unpack.h"
#include "util.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OPAQUE_XATTR "trusted.overlay.opaque"

struct ctx {
	int rootfd;
	const struct unpack_limits *lim;
	uint64_t *entries, *bytes;
	char *why;
	size_t whyn;
	int nospace;    /* a failure was the disk being full */
	/* directories' mtimes, set again once the layer is unpacked: each
	 * entry made in a directory moves its mtime */
	struct dir_time {
		char *path;
		struct timespec ts;
	} *dirs;
	size_t ndirs, cap;
};

static void remember_dir(struct ctx *c, const char *path,
			 struct archive_entry *e)
{
	if (c->ndirs == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct dir_time *v = realloc(c->dirs, nc * sizeof(*v));

		if (!v)
			return; /* only a timestamp is lost */
		c->dirs = v;
		c->cap = nc;
	}
	c->dirs[c->ndirs].path = strdup(path);
	if (!c->dirs[c->ndirs].path)
		return;
	c->dirs[c->ndirs].ts.tv_sec = archive_entry_mtime(e);
	c->dirs[c->ndirs].ts.tv_nsec = archive_entry_mtime_nsec(e);
	c->ndirs++;
}

static int fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (errno == ENOSPC || errno == EDQUOT)
		c->nospace = 1;
	va_start(ap, fmt);
	vsnprintf(c->why, c->whyn, fmt, ap);
	va_end(ap);
	return -1;
}

int unpack_split(char *p, char **comp, int max)
{
	int n = 0;

	if (p[0] == '/')
		return -1;
	for (char *s = strtok(p, "/"); s; s = strtok(NULL, "/")) {
		if (!strcmp(s, "."))
			continue;
		if (!strcmp(s, "..") || n == max)
			return -1;
		comp[n++] = s;
	}
	return n;
}

static int is_whiteout(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

static int set_opaque(int dfd, const char *name)
{
	char p[64 + NAME_MAX];

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, name ? name : "");
	return lsetxattr(p, OPAQUE_XATTR, "y", 1, 0);
}

/* walk() - open the parent directory of comp[0..n-2], creating missing
 * ones (0755, like Docker), never following a symlink. @create 0: a missing
 * one is -ENOENT. Return: the parent's fd, or -1 with c->why set. */
static int walk(struct ctx *c, char **comp, int n, int create,
		const char *path)
{
	int dfd = dup(c->rootfd);

	for (int i = 0; dfd >= 0 && i < n - 1; i++) {
		int fd = openat(dfd, comp[i],
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0 && create && is_whiteout(dfd, comp[i])) {
			/* Deleted by an earlier merged layer, made again:
			 * an opaque directory hides the disks below. */
			if (unlinkat(dfd, comp[i], 0) == 0 &&
			    mkdirat(dfd, comp[i], 0755) == 0)
				set_opaque(dfd, comp[i]);
			fd = openat(dfd, comp[i], O_RDONLY | O_DIRECTORY |
							  O_NOFOLLOW | O_CLOEXEC);
		} else if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(dfd, comp[i], 0755) < 0 && errno != EEXIST) {
				close(dfd);
				return fail(c, "cannot create '%s': %s", path,
					    strerror(errno));
			}
			fd = openat(dfd, comp[i], O_RDONLY | O_DIRECTORY |
							  O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			int e = errno;

			close(dfd);
			if (!create && e == ENOENT)
				return -2;
			if (e == ELOOP || e == ENOTDIR)
				return fail(c,
					    "entry '%s' goes through a symlink "
					    "or a file ('%s'): refused",
					    path, comp[i]);
			return fail(c, "cannot open '%s': %s", path,
				    strerror(e));
		}
		close(dfd);
		dfd = fd;
	}
	if (dfd < 0)
		return fail(c, "dup: %s", strerror(errno));
	return dfd;
}

/* clear_dir() - remove every entry of an open directory. */
static int clear_dir(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	char p[64 + NAME_MAX];
	int r = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, e->d_name);
		if (msb_rm_rf(p) < 0)
			r = -1;
	}
	closedir(d);
	return r;
}

static int remove_at(int dfd, const char *name)
{
	char p[64 + NAME_MAX];

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, name);
	return msb_rm_rf(p);
}

/* Only the compressions OCI layers use. */
static void layer_filters(struct archive *a)
{
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_none(a);
}

int unpack_open_archive(struct archive **out, int fd)
{
	struct archive *a = archive_read_new();

	if (!a)
		return -1;
	layer_filters(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (unpack_open_fd(a, fd, NULL, NULL) != ARCHIVE_OK) {
		archive_read_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

struct archive *unpack_open_raw(int fd, const unsigned char **mem,
				size_t *len, char *why, size_t whyn)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	if (mem)
		*mem = NULL;
	if (!a) {
		snprintf(why, whyn, "out of memory");
		return NULL;
	}
	layer_filters(a);
	archive_read_support_format_raw(a);
	if (unpack_open_fd(a, fd, mem, len) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		snprintf(why, whyn, "not a valid layer archive: %s",
			 archive_error_string(a) ? archive_error_string(a) :
						   "empty");
		archive_read_free(a);
		if (mem)
			*mem = NULL;
		return NULL;
	}
	/* (the memory is what the reader gives only if no filter is left
	 * to strip from it: a gzip inside the gzip, say) */
	if (mem && *mem && archive_filter_count(a) != 1)
		*mem = NULL;
	return a;
}

/* A DiffID is over the decompressed stream, not the tar entries: read it
 * again as one raw entry. */
int unpack_diff_id(int fd, char hex[65], char *why, size_t whyn)
{
	struct ctx c = { .why = why, .whyn = whyn };
	struct archive *a = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[32];
	const void *buf;
	size_t len;
	la_int64_t off;
	int r = -1;

	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		fail(&c, "out of memory");
		goto out;
	}
	a = unpack_open_raw(fd, NULL, NULL, why, whyn);
	if (!a)
		goto out;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
		EVP_DigestUpdate(md, buf, len);
	if (r != ARCHIVE_EOF) {
		r = fail(&c, "layer archive damaged: %s",
			 archive_error_string(a));
		goto out;
	}
	EVP_DigestFinal_ex(md, out, NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	r = 0;
out:
	EVP_MD_CTX_free(md);
	if (a)
		archive_read_free(a);
	return r;
}

int unpack_entry_path(const struct unpack_limits *lim, uint64_t *entries,
		      const char *orig, char path[PATH_MAX],
		      char *comp[PATH_MAX / 2], char *why, size_t whyn)
{
	int n;

	if (++*entries > lim->max_entries) {
		snprintf(why, whyn, "the layer has more than %llu entries: "
				    "refused",
			 (unsigned long long)lim->max_entries);
		return -1;
	}
	if (!orig || strlen(orig) >= PATH_MAX) {
		snprintf(why, whyn, "an entry has no name or a name too long: "
				    "refused");
		return -1;
	}
	snprintf(path, PATH_MAX, "%s", orig);
	n = unpack_split(path, comp, PATH_MAX / 2);
	if (n < 0)
		snprintf(why, whyn, "entry '%s' escapes the layer's root (an "
				    "absolute path or '..'): refused",
			 orig);
	return n;
}

int unpack_count_bytes(const struct unpack_limits *lim, uint64_t *bytes,
		       size_t len, char *why, size_t whyn)
{
	*bytes += len;
	if (*bytes <= lim->max_bytes)
		return 0;
	snprintf(why, whyn, "the layer unpacks to more than %llu bytes "
			    "(a decompression bomb?): refused",
		 (unsigned long long)lim->max_bytes);
	return -1;
}

static int next_header(struct ctx *c, struct archive *a,
		       struct archive_entry **e)
{
	int r = archive_read_next_header(a, e);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return fail(c, "not a valid layer archive: %s",
			    archive_error_string(a));
	return 1;
}

int unpack_deletions(int fd, int rootfd, char *why, size_t whyn)
{
	struct ctx c = { .rootfd = rootfd, .why = why, .whyn = whyn };
	struct archive *a;
	struct archive_entry *e;
	char path[PATH_MAX], *comp[PATH_MAX / 2];
	int n, r, dfd;

	if (unpack_open_archive(&a, fd) < 0)
		return fail(&c, "cannot read the layer archive");
	while ((r = next_header(&c, a, &e)) == 1) {
		const char *leaf;

		snprintf(path, sizeof(path), "%s",
			 archive_entry_pathname(e) ? archive_entry_pathname(e) :
						     "");
		n = unpack_split(path, comp, (int)(sizeof(comp) / sizeof(comp[0])));
		if (n <= 0)
			continue; /* refused by the writing pass */
		leaf = comp[n - 1];
		if (strncmp(leaf, WH_PREFIX, strlen(WH_PREFIX)))
			continue;
		dfd = walk(&c, comp, n, 0, path);
		if (dfd == -2)
			continue;
		if (dfd < 0)
			break;
		if (!strcmp(leaf, WH_OPAQUE))
			clear_dir(dfd);
		else
			remove_at(dfd, leaf + strlen(WH_PREFIX));
		close(dfd);
	}
	archive_read_free(a);
	return r < 0 || (r == 1) ? -1 : 0;
}

static int write_data(struct ctx *c, struct archive *a, int fd,
		      const char *path, int64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off + len > (uint64_t)size)
			return fail(c, "entry '%s' has more data than its size",
				    path);
		if (unpack_count_bytes(c->lim, c->bytes, len, c->why,
				       c->whyn) < 0)
			return -1;
		ssize_t w = pwrite(fd, buf, len, off);

		if (w >= 0 && (size_t)w < len)
			errno = ENOSPC; /* a short write to a file: full */
		if (w != (ssize_t)len)
			return fail(c, "cannot write '%s': %s", path,
				    errno == ENOSPC ? "disk full" :
						      strerror(errno));
	}
	if (r != ARCHIVE_EOF)
		return fail(c, "layer archive damaged at '%s': %s", path,
			    archive_error_string(a));
	if (ftruncate(fd, size) < 0)
		return fail(c, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

/* set_xattrs() - the entry's user.*, security.* and trusted.* xattrs, as
 * the image says; Return 0 or -1 (a filesystem under <home> that cannot
 * hold them must not silently lose, say, a file's capabilities). */
static int set_xattrs(struct ctx *c, int dfd, const char *leaf,
		      const char *path, struct archive_entry *e)
{
	const char *name;
	const void *val;
	size_t len;
	char p[64 + NAME_MAX];

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, leaf);
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK) {
		/* The overlay's own xattrs are ours to set, never an image's. */
		if (strncmp(name, "user.", 5) && strncmp(name, "security.", 9) &&
		    strncmp(name, "trusted.", 8))
			continue;
		if (!strncmp(name, "trusted.overlay.", 16))
			continue;
		if (lsetxattr(p, name, val, len, 0) < 0)
			return fail(c, "cannot keep the xattr %s of '%s': %s "
				    "(the filesystem of MSB_HOME must support "
				    "user xattrs)", name, path, strerror(errno));
	}
	return 0;
}

/* make_entry() - create one entry at @leaf in @dfd; Return 0 or -1. */
static int make_entry(struct ctx *c, struct archive *a,
		      struct archive_entry *e, int dfd, const char *leaf,
		      const char *path)
{
	mode_t type = archive_entry_filetype(e);
	mode_t perm = archive_entry_perm(e) & 07777;
	const char *hl = archive_entry_hardlink(e);
	struct stat st;
	int was_whiteout = 0, fd;

	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode) && type == AE_IFDIR && !hl)
			goto meta; /* a directory again: new metadata */
		was_whiteout = S_ISCHR(st.st_mode) &&
			       st.st_rdev == makedev(0, 0);
		if (remove_at(dfd, leaf) < 0)
			return fail(c, "cannot replace '%s': %s", path,
				    strerror(errno));
	}
	if (hl) {
		char tpath[PATH_MAX], *tc[PATH_MAX / 2];
		int tn, tdfd, r;

		snprintf(tpath, sizeof(tpath), "%s", hl);
		tn = unpack_split(tpath, tc, (int)(sizeof(tc) / sizeof(tc[0])));
		if (tn <= 0)
			return fail(c,
				    "hard link '%s' points outside the layer "
				    "('%s'): refused",
				    path, hl);
		tdfd = walk(c, tc, tn, 0, hl);
		if (tdfd == -2 ||
		    (tdfd >= 0 &&
		     (fstatat(tdfd, tc[tn - 1], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		      S_ISDIR(st.st_mode)))) {
			if (tdfd >= 0)
				close(tdfd);
			return fail(c,
				    "hard link '%s' names '%s', which is not an "
				    "earlier file of the layer: refused",
				    path, hl);
		}
		if (tdfd < 0)
			return -1;
		r = linkat(tdfd, tc[tn - 1], dfd, leaf, 0);
		close(tdfd);
		if (r < 0)
			return fail(c, "cannot link '%s': %s", path,
				    strerror(errno));
		return 0; /* the target carries the metadata */
	}
	switch (type) {
	case AE_IFDIR:
		if (mkdirat(dfd, leaf, 0700) < 0)
			return fail(c, "cannot create '%s': %s", path,
				    strerror(errno));
		if (was_whiteout && set_opaque(dfd, leaf) < 0)
			return fail(c, "cannot mark '%s' opaque: %s", path,
				    strerror(errno));
		break;
	case AE_IFREG:
		fd = openat(dfd, leaf,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0)
			return fail(c, "cannot create '%s': %s", path,
				    strerror(errno));
		if (archive_entry_size(e) < 0 ||
		    (uint64_t)archive_entry_size(e) >
			    c->lim->max_bytes - *c->bytes) {
			close(fd);
			return fail(c,
				    "the layer unpacks to more than %llu bytes "
				    "(a decompression bomb?): refused",
				    (unsigned long long)c->lim->max_bytes);
		}
		if (write_data(c, a, fd, path, archive_entry_size(e)) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		break;
	case AE_IFLNK:
		if (symlinkat(archive_entry_symlink(e) ?
				      archive_entry_symlink(e) :
				      "",
			      dfd, leaf) < 0)
			return fail(c, "cannot create symlink '%s': %s", path,
				    strerror(errno));
		break;
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		if (mknodat(dfd, leaf, type | 0600, archive_entry_rdev(e)) < 0)
			return fail(c, "cannot create device '%s': %s", path,
				    strerror(errno));
		break;
	default:
		return 0; /* sockets and the like: not part of an image */
	}
meta:
	if (fchownat(dfd, leaf, (uid_t)archive_entry_uid(e),
		     (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, "cannot set the owner of '%s': %s", path,
			    strerror(errno));
	if (type != AE_IFLNK) {
		if (fchmodat(dfd, leaf, perm, 0) < 0)
			return fail(c, "cannot set the mode of '%s': %s", path,
				    strerror(errno));
		if (set_xattrs(c, dfd, leaf, path, e) < 0)
			return -1;
	}
	{
		struct timespec ts[2] = {
			{ archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
			{ archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
		};

		utimensat(dfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
		if (type == AE_IFDIR)
			remember_dir(c, path, e);
	}
	return 0;
}

/* dir_times() - the directories' own mtimes again, after their entries
 * (a later entry of the same directory wins, as in the archive). */
static void dir_times(struct ctx *c)
{
	char path[PATH_MAX], *comp[PATH_MAX / 2];

	for (size_t i = 0; i < c->ndirs; i++) {
		struct timespec ts[2] = { c->dirs[i].ts, c->dirs[i].ts };
		int n, dfd;

		snprintf(path, sizeof(path), "%s", c->dirs[i].path);
		n = unpack_split(path, comp, (int)(sizeof(comp) / sizeof(comp[0])));
		if (n <= 0)
			continue;
		dfd = walk(c, comp, n, 0, c->dirs[i].path);
		if (dfd < 0)
			continue; /* gone again (a later whiteout) */
		utimensat(dfd, comp[n - 1], ts, AT_SYMLINK_NOFOLLOW);
		close(dfd);
	}
	for (size_t i = 0; i < c->ndirs; i++)
		free(c->dirs[i].path);
	free(c->dirs);
	c->dirs = NULL;
	c->ndirs = c->cap = 0;
}

static int root_meta(struct ctx *c, struct archive_entry *e)
{
	if (archive_entry_filetype(e) != AE_IFDIR)
		return fail(c, "the layer's root entry is not a directory");
	if (fchown(c->rootfd, (uid_t)archive_entry_uid(e),
		   (gid_t)archive_entry_gid(e)) < 0 ||
	    fchmod(c->rootfd, archive_entry_perm(e) & 07777) < 0)
		return fail(c, "cannot set the root's metadata: %s",
			    strerror(errno));
	return 0;
}

int unpack_layer(int fd, int rootfd, const struct unpack_limits *lim,
		 uint64_t *entries, uint64_t *bytes, char *why, size_t whyn)
{
	struct ctx c = { .rootfd = rootfd, .lim = lim, .entries = entries,
			 .bytes = bytes, .why = why, .whyn = whyn };
	struct archive *a;
	struct archive_entry *e;
	char path[PATH_MAX], *comp[PATH_MAX / 2];
	int n, r, dfd, ret = 0;

	if (unpack_open_archive(&a, fd) < 0)
		return fail(&c, "cannot read the layer archive");
	while (ret == 0 && (r = next_header(&c, a, &e)) == 1) {
		const char *leaf, *orig = archive_entry_pathname(e);

		n = unpack_entry_path(lim, entries, orig, path, comp, why, whyn);
		if (n < 0) {
			ret = -1;
			break;
		}
		if (n == 0) {
			ret = root_meta(&c, e);
			continue;
		}
		leaf = comp[n - 1];
		dfd = walk(&c, comp, n, 1, orig);
		if (dfd < 0) {
			ret = -1;
			break;
		}
		if (!strcmp(leaf, WH_OPAQUE)) {
			if (set_opaque(dfd, NULL) < 0)
				ret = fail(&c, "cannot mark '%s' opaque: %s",
					   orig, strerror(errno));
		} else if (!strncmp(leaf, WH_PREFIX, strlen(WH_PREFIX))) {
			const char *name = leaf + strlen(WH_PREFIX);
			struct stat st;

			if (!*name || !strcmp(name, ".."))
				ret = fail(&c, "bad whiteout '%s': refused",
					   orig);
			/* An entry of this same layer wins over its
			 * whiteout: whiteouts are for the layers below. */
			else if (fstatat(dfd, name, &st,
					 AT_SYMLINK_NOFOLLOW) < 0 &&
				 mknodat(dfd, name, S_IFCHR | 0000,
					 makedev(0, 0)) < 0)
				ret = fail(&c, "cannot create whiteout '%s': %s",
					   orig, strerror(errno));
		} else {
			ret = make_entry(&c, a, e, dfd, leaf, orig);
		}
		close(dfd);
	}
	if (ret == 0 && r < 0)
		ret = -1;
	if (ret == 0)
		dir_times(&c);
	else
		for (size_t i = 0; i < c.ndirs; i++)
			free(c.dirs[i].path);
	if (ret != 0)
		free(c.dirs);
	archive_read_free(a);
	return ret < 0 && c.nospace ? -ENOSPC : ret;
}
