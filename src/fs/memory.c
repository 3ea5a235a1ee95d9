/* SPDX-License-Identifier: Apache-2.0 */
/* memory.c - a filesystem in host RAM with a size limit
 *
 * Nodes live in a hash table keyed by node id (= st_ino, never reused:
 * a 64-bit counter); names in a second one keyed by (directory, name).
 * Every request finds its node through the table, so an id the guest
 * holds after the node is gone is just unknown (ESTALE). A node is freed
 * when it has no name, no lookups held by the guest and no open handle.
 * Handles are node ids with an open count.
 *
 * File data is kept in 4 KiB pages in a sorted array per file; a page
 * never written (or punched out) is a hole. Everything the guest can make
 * us allocate (pages, nodes, names, xattrs, symlink targets) is charged to
 * the volume's limit: beyond it, ENOSPC.
 *
 * Permissions are checked here against the caller's guest uid/gid (this
 * volume exists only for the guest, so guest ids are its owners).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "backends.h"
#include "htab.h"
#include "util.h"

#define PAGE 4096u
#define NODE_COST 256u /* what a node is charged, beyond its data */
#define DIR_ENTRY_COST 64u

struct page {
	uint64_t idx;
	uint8_t *data;
};

struct xattr {
	char *name;
	void *value;
	size_t size;
};

struct dentry;

struct mnode {
	uint64_t ino;
	struct stat st;
	uint64_t nlookup;
	uint32_t opens;
	struct msb_hlink link; /* in the node table */
	/* regular files */
	struct page *pages;
	size_t npages, cappages;
	/* directories: entries in cookie order */
	struct dentry **ents;
	size_t nents, capents;
	uint64_t next_cookie;
	uint64_t parent;      /* for ".." */
	/* symlinks */
	char *target;
	struct xattr *xattrs;
	size_t nxattrs;
};

struct dentry {
	struct mnode *dir;
	struct mnode *node;
	uint64_t cookie;
	struct msb_hlink link; /* in the name table */
	char name[];
};

struct memfs {
	uint64_t limit, used;
	uint64_t next_ino;
	uint32_t handles;
	struct msb_htab nodes; /* by ino */
	struct msb_htab names; /* by (directory, name) */
};

/* ---- accounting ---------------------------------------------------------- */

static int charge(struct memfs *m, uint64_t n)
{
	if (n > m->limit - m->used)
		return -ENOSPC;
	m->used += n;
	return 0;
}

static void refund(struct memfs *m, uint64_t n)
{
	m->used = n > m->used ? 0 : m->used - n;
}

static void now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* ---- tables -------------------------------------------------------------- */

/* The name table's key: a hash of (@dir, @name), compared in full after. */
static uint64_t name_key(uint64_t dir, const char *name)
{
	return msb_hstr(msb_hmix(dir), name);
}

static struct mnode *node_get(struct memfs *m, uint64_t ino)
{
	if (!ino)
		return NULL;
	return msb_hentry(msb_hfirst(&m->nodes, ino), struct mnode, link);
}

static struct dentry *name_get(struct memfs *m, struct mnode *dir,
			       const char *name)
{
	for (struct msb_hlink *l = msb_hfirst(&m->names,
					      name_key(dir->ino, name));
	     l; l = msb_hnext(l)) {
		struct dentry *d = msb_hentry(l, struct dentry, link);

		if (d->dir == dir && !strcmp(d->name, name))
			return d;
	}
	return NULL;
}

/* ---- nodes --------------------------------------------------------------- */

static struct mnode *node_new(struct memfs *m, const struct msb_fs_ctx *c,
			      mode_t mode, int *err)
{
	struct mnode *n;

	if (m->nodes.n >= MSB_FS_MAX_NODES) {
		*err = -ENOSPC;
		return NULL;
	}
	if ((*err = charge(m, NODE_COST)))
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n) {
		refund(m, NODE_COST);
		*err = -ENOMEM;
		return NULL;
	}
	n->ino = m->next_ino++;
	n->st.st_ino = n->ino;
	n->st.st_mode = mode;
	n->st.st_nlink = 0;
	n->st.st_uid = c ? c->uid : 0;
	n->st.st_gid = c ? c->gid : 0;
	n->st.st_blksize = PAGE;
	now(&n->st.st_atim);
	n->st.st_mtim = n->st.st_ctim = n->st.st_atim;
	n->next_cookie = 3; /* 1 and 2 are "." and ".." */
	msb_hadd(&m->nodes, &n->link, n->ino);
	return n;
}

static void free_pages(struct memfs *m, struct mnode *n, size_t from)
{
	for (size_t i = from; i < n->npages; i++) {
		free(n->pages[i].data);
		refund(m, PAGE);
	}
	n->npages = from;
}

static void node_destroy(struct memfs *m, struct mnode *n)
{
	msb_hdel(&m->nodes, &n->link);
	free_pages(m, n, 0);
	free(n->pages);
	free(n->ents);
	if (n->target)
		refund(m, strlen(n->target));
	free(n->target);
	for (size_t i = 0; i < n->nxattrs; i++) {
		refund(m, strlen(n->xattrs[i].name) + n->xattrs[i].size);
		free(n->xattrs[i].name);
		free(n->xattrs[i].value);
	}
	free(n->xattrs);
	refund(m, NODE_COST);
	free(n);
}

/* Free @n if nothing refers to it any more. */
static void node_maybe_free(struct memfs *m, struct mnode *n)
{
	if (n->ino != MSB_FS_ROOT_ID && !n->st.st_nlink && !n->nlookup &&
	    !n->opens)
		node_destroy(m, n);
}

static void touch(struct mnode *n, int mtime)
{
	now(&n->st.st_ctim);
	if (mtime)
		n->st.st_mtim = n->st.st_ctim;
}

/* ---- permissions --------------------------------------------------------- */

static int perm(const struct mnode *n, const struct msb_fs_ctx *c, int mask)
{
	mode_t m = n->st.st_mode;
	int bits;

	if (!c || c->uid == 0) {
		/* Root: anything but executing what nobody may execute. */
		if ((mask & X_OK) && !S_ISDIR(m) && !(m & 0111))
			return -EACCES;
		return 0;
	}
	if (c->uid == n->st.st_uid)
		bits = (m >> 6) & 7;
	else if (c->gid == n->st.st_gid)
		bits = (m >> 3) & 7;
	else
		bits = m & 7;
	return (bits & mask) == mask ? 0 : -EACCES;
}

static int owner_or_root(const struct mnode *n, const struct msb_fs_ctx *c)
{
	return c->uid == 0 || c->uid == n->st.st_uid ? 0 : -EPERM;
}

/* ---- directories --------------------------------------------------------- */

static struct mnode *dir_get(struct memfs *m, uint64_t ino, int *err)
{
	struct mnode *d = node_get(m, ino);

	if (!d) {
		*err = -ESTALE;
		return NULL;
	}
	if (!S_ISDIR(d->st.st_mode)) {
		*err = -ENOTDIR;
		return NULL;
	}
	/* A removed directory takes no new names. */
	if (!d->st.st_nlink) {
		*err = -ENOENT;
		return NULL;
	}
	return d;
}

/* dir_add_in() - name @n @name in @dir, in entry @d if given (allocated
 * for @name's length; taken either way). */
static int dir_add_in(struct memfs *m, struct mnode *dir, const char *name,
		      struct mnode *n, struct dentry *d)
{
	size_t len = strlen(name);
	int e;

	if ((e = charge(m, DIR_ENTRY_COST + len))) {
		free(d);
		return e;
	}
	if (dir->nents == dir->capents) {
		size_t cap = dir->capents ? dir->capents * 2 : 8;
		struct dentry **t = realloc(dir->ents, cap * sizeof(*t));

		if (!t)
			goto nomem;
		dir->ents = t;
		dir->capents = cap;
	}
	if (!d)
		d = malloc(sizeof(*d) + len + 1);
	if (!d)
		goto nomem;
	memcpy(d->name, name, len + 1);
	d->dir = dir;
	d->node = n;
	d->cookie = dir->next_cookie++;
	msb_hadd(&m->names, &d->link, name_key(dir->ino, name));
	dir->ents[dir->nents++] = d;
	n->st.st_nlink++;
	if (S_ISDIR(n->st.st_mode)) {
		dir->st.st_nlink++;
		n->parent = dir->ino;
	}
	touch(dir, 1);
	return 0;
nomem:
	free(d);
	refund(m, DIR_ENTRY_COST + len);
	return -ENOMEM;
}

static int dir_add(struct memfs *m, struct mnode *dir, const char *name,
		   struct mnode *n)
{
	return dir_add_in(m, dir, name, n, NULL);
}

static size_t dir_index(const struct mnode *dir, uint64_t cookie)
{
	size_t lo = 0, hi = dir->nents;

	/* The first entry whose cookie is >= @cookie. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dir->ents[mid]->cookie < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Unlink @d. @gone: the node loses this name for good (not a rename's
 * move): a directory loses its "." too, and the node is freed if that was
 * its last reference. */
static void dir_remove(struct memfs *m, struct dentry *d, int gone)
{
	struct mnode *dir = d->dir, *n = d->node;
	size_t i = dir_index(dir, d->cookie);

	msb_hdel(&m->names, &d->link);
	memmove(&dir->ents[i], &dir->ents[i + 1],
		(dir->nents - i - 1) * sizeof(*dir->ents));
	dir->nents--;
	refund(m, DIR_ENTRY_COST + strlen(d->name));
	free(d);
	n->st.st_nlink--;
	if (S_ISDIR(n->st.st_mode)) {
		dir->st.st_nlink--;
		if (gone)
			n->st.st_nlink = 0; /* its own "." */
	}
	touch(dir, 1);
	touch(n, 0);
	if (gone)
		node_maybe_free(m, n);
}

/* ---- operations ---------------------------------------------------------- */

static void fill_entry(struct mnode *n, struct msb_fs_entry *e)
{
	n->nlookup++;
	e->ino = n->ino;
	e->generation = 0;
	e->attr = n->st;
	e->attr.st_blocks = (blkcnt_t)(n->npages * (PAGE / 512));
}

static void stat_of(const struct mnode *n, struct stat *st)
{
	*st = n->st;
	st->st_blocks = (blkcnt_t)(n->npages * (PAGE / 512));
}

static int mem_lookup(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, struct msb_fs_entry *e)
{
	struct memfs *m = b;
	struct dentry *d;
	struct mnode *dir;
	int err;

	if (!(dir = dir_get(m, parent, &err)))
		return err;
	if ((err = perm(dir, c, X_OK)))
		return err;
	if (!(d = name_get(m, dir, name)))
		return -ENOENT;
	fill_entry(d->node, e);
	return 0;
}

static void mem_forget(void *b, uint64_t ino, uint64_t nlookup)
{
	struct memfs *m = b;
	struct mnode *n = node_get(m, ino);

	if (!n)
		return;
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	node_maybe_free(m, n);
}

static int mem_getattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, struct stat *st)
{
	struct mnode *n = node_get(b, ino);

	if (!n)
		return -ESTALE;
	stat_of(n, st);
	return 0;
}

static int set_size(struct memfs *m, struct mnode *n, uint64_t size)
{
	uint64_t keep = (size + PAGE - 1) / PAGE;
	size_t i;

	/* Drop whole pages past the end, zero the tail of the last one. */
	for (i = 0; i < n->npages && n->pages[i].idx < keep; i++)
		;
	free_pages(m, n, i);
	if (size % PAGE && i && n->pages[i - 1].idx == size / PAGE)
		memset(n->pages[i - 1].data + size % PAGE, 0,
		       PAGE - size % PAGE);
	n->st.st_size = (off_t)size;
	touch(n, 1);
	return 0;
}

static int mem_setattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       const struct stat *in, uint32_t valid, uint64_t fh,
		       struct stat *out)
{
	struct memfs *m = b;
	struct mnode *n = node_get(m, ino);
	int e;

	if (!n)
		return -ESTALE;
	if ((valid & MSB_FS_SET_MODE) && (e = owner_or_root(n, c)))
		return e;
	if ((valid & (MSB_FS_SET_UID | MSB_FS_SET_GID)) && c->uid) {
		/* Only root gives files away; the owner may change the
		 * group to one of its own (here: its primary). */
		if ((valid & MSB_FS_SET_UID) && in->st_uid != n->st.st_uid)
			return -EPERM;
		if ((valid & MSB_FS_SET_GID) &&
		    (c->uid != n->st.st_uid || in->st_gid != c->gid))
			return -EPERM;
	}
	if (valid & MSB_FS_SET_SIZE) {
		if (S_ISDIR(n->st.st_mode))
			return -EISDIR;
		if (!S_ISREG(n->st.st_mode))
			return -EINVAL;
		if (fh == MSB_FS_NO_FH && (e = perm(n, c, W_OK)))
			return e;
	}
	if ((valid & (MSB_FS_SET_ATIME | MSB_FS_SET_MTIME)) &&
	    !(valid & (MSB_FS_SET_ATIME_NOW | MSB_FS_SET_MTIME_NOW)) &&
	    (e = owner_or_root(n, c)))
		return e;
	if (valid & MSB_FS_SET_MODE)
		n->st.st_mode = (n->st.st_mode & S_IFMT) | (in->st_mode & 07777);
	if (valid & MSB_FS_SET_UID)
		n->st.st_uid = in->st_uid;
	if (valid & MSB_FS_SET_GID)
		n->st.st_gid = in->st_gid;
	if (valid & MSB_FS_SET_SIZE)
		set_size(m, n, (uint64_t)in->st_size);
	if (valid & MSB_FS_SET_ATIME_NOW)
		now(&n->st.st_atim);
	else if (valid & MSB_FS_SET_ATIME)
		n->st.st_atim = in->st_atim;
	if (valid & MSB_FS_SET_MTIME_NOW)
		now(&n->st.st_mtim);
	else if (valid & MSB_FS_SET_MTIME)
		n->st.st_mtim = in->st_mtim;
	now(&n->st.st_ctim);
	if (valid & MSB_FS_SET_CTIME)
		n->st.st_ctim = in->st_ctim;
	stat_of(n, out);
	return 0;
}

static ssize_t mem_readlink(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			    char *buf, size_t size)
{
	struct mnode *n = node_get(b, ino);
	size_t len;

	if (!n)
		return -ESTALE;
	if (!S_ISLNK(n->st.st_mode))
		return -EINVAL;
	len = strlen(n->target);
	if (len > size)
		return -ENAMETOOLONG;
	memcpy(buf, n->target, len);
	return (ssize_t)len;
}

/* Make a node @name in @parent: the shared part of mknod, mkdir, symlink
 * and create. */
static struct mnode *make(struct memfs *m, const struct msb_fs_ctx *c,
			  uint64_t parent, const char *name, mode_t mode,
			  int *err)
{
	struct mnode *dir, *n;

	if (!(dir = dir_get(m, parent, err)))
		return NULL;
	if ((*err = perm(dir, c, W_OK | X_OK)))
		return NULL;
	if (name_get(m, dir, name)) {
		*err = -EEXIST;
		return NULL;
	}
	if (!(n = node_new(m, c, mode, err)))
		return NULL;
	/* setgid directories hand their group down (as ext4). */
	if (dir->st.st_mode & S_ISGID) {
		n->st.st_gid = dir->st.st_gid;
		if (S_ISDIR(mode))
			n->st.st_mode |= S_ISGID;
	}
	if (S_ISDIR(mode))
		n->st.st_nlink = 1; /* "." */
	if ((*err = dir_add(m, dir, name, n))) {
		n->st.st_nlink = 0;
		node_destroy(m, n);
		return NULL;
	}
	return n;
}

static int mem_symlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		       const char *name, const char *target,
		       struct msb_fs_entry *e)
{
	struct memfs *m = b;
	size_t len = strlen(target);
	struct mnode *n;
	int err;

	if ((err = charge(m, len)))
		return err;
	n = make(m, c, parent, name, S_IFLNK | 0777, &err);
	if (n)
		n->target = strdup(target);
	if (n && !n->target) {
		struct dentry *d = name_get(m, node_get(m, parent), name);

		dir_remove(m, d, 1);
		err = -ENOMEM;
		n = NULL;
	}
	if (!n) {
		refund(m, len);
		return err;
	}
	n->st.st_size = (off_t)len;
	fill_entry(n, e);
	return 0;
}

static int mem_mknod(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, dev_t rdev, mode_t umask,
		     struct msb_fs_entry *e)
{
	struct mnode *n;
	int err;

	/* Device nodes are only for root (as mknod(2) without
	 * CAP_MKNOD). */
	if ((S_ISCHR(mode) || S_ISBLK(mode)) && c->uid)
		return -EPERM;
	n = make(b, c, parent, name, (mode & S_IFMT) | (mode & 07777 & ~umask),
		 &err);
	if (!n)
		return err;
	n->st.st_rdev = rdev;
	fill_entry(n, e);
	return 0;
}

static int mem_mkdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, mode_t umask,
		     struct msb_fs_entry *e)
{
	struct mnode *n;
	int err;

	n = make(b, c, parent, name, S_IFDIR | (mode & 07777 & ~umask), &err);
	if (!n)
		return err;
	n->st.st_size = PAGE;
	fill_entry(n, e);
	return 0;
}

/* Sticky directories: only the owner of the entry or of the dir. */
static int sticky_ok(const struct mnode *dir, const struct mnode *n,
		     const struct msb_fs_ctx *c)
{
	if (!(dir->st.st_mode & S_ISVTX) || !c->uid ||
	    c->uid == dir->st.st_uid || c->uid == n->st.st_uid)
		return 0;
	return -EPERM;
}

static int mem_remove(struct memfs *m, const struct msb_fs_ctx *c,
		      uint64_t parent, const char *name, int isdir)
{
	struct mnode *dir;
	struct dentry *d;
	int err;

	if (!(dir = dir_get(m, parent, &err)))
		return err;
	if ((err = perm(dir, c, W_OK | X_OK)))
		return err;
	if (!(d = name_get(m, dir, name)))
		return -ENOENT;
	if ((err = sticky_ok(dir, d->node, c)))
		return err;
	if (isdir && !S_ISDIR(d->node->st.st_mode))
		return -ENOTDIR;
	if (!isdir && S_ISDIR(d->node->st.st_mode))
		return -EISDIR;
	if (isdir && d->node->nents)
		return -ENOTEMPTY;
	dir_remove(m, d, 1);
	return 0;
}

static int mem_unlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name)
{
	return mem_remove(b, c, parent, name, 0);
}

static int mem_rmdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name)
{
	return mem_remove(b, c, parent, name, 1);
}

/* Is @a an ancestor of (or the same as) @n? */
static int is_ancestor(struct memfs *m, const struct mnode *a,
		       const struct mnode *n)
{
	for (int depth = 0; n && depth < 100000; depth++) {
		if (n == a)
			return 1;
		if (n->ino == MSB_FS_ROOT_ID)
			return 0;
		n = node_get(m, n->parent);
	}
	return 1; /* (cannot happen: refuse) */
}

static int mem_rename(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, uint64_t newparent,
		      const char *newname, uint32_t flags)
{
	struct memfs *m = b;
	struct mnode *dir, *ndir, *n, *victim;
	struct dentry *d, *nd, *pre;
	int err;

	if (!(dir = dir_get(m, parent, &err)) ||
	    !(ndir = dir_get(m, newparent, &err)))
		return err;
	if ((err = perm(dir, c, W_OK | X_OK)) ||
	    (err = perm(ndir, c, W_OK | X_OK)))
		return err;
	if (!(d = name_get(m, dir, name)))
		return -ENOENT;
	n = d->node;
	nd = name_get(m, ndir, newname);
	victim = nd ? nd->node : NULL;
	if ((err = sticky_ok(dir, n, c)) ||
	    (victim && (err = sticky_ok(ndir, victim, c))))
		return err;
	if ((flags & MSB_FS_RENAME_NOREPLACE) && victim)
		return -EEXIST;
	if ((flags & MSB_FS_RENAME_EXCHANGE) && !victim)
		return -ENOENT;
	if (victim == n)
		return 0;
	/* No directory into itself or below (and, exchanging, the other
	 * way round too). */
	if (S_ISDIR(n->st.st_mode) && is_ancestor(m, n, ndir))
		return -EINVAL;
	if ((flags & MSB_FS_RENAME_EXCHANGE) && S_ISDIR(victim->st.st_mode) &&
	    is_ancestor(m, victim, dir))
		return -EINVAL;
	if (flags & MSB_FS_RENAME_EXCHANGE) {
		/* Swap what the two names point at, and the parents. */
		int ddir = S_ISDIR(n->st.st_mode), vdir = S_ISDIR(
							  victim->st.st_mode);

		d->node = victim;
		nd->node = n;
		if (ddir != vdir && dir != ndir) {
			dir->st.st_nlink += vdir - ddir;
			ndir->st.st_nlink += ddir - vdir;
		}
		if (ddir)
			n->parent = ndir->ino;
		if (vdir)
			victim->parent = dir->ino;
		touch(dir, 1);
		touch(ndir, 1);
		touch(n, 0);
		touch(victim, 0);
		return 0;
	}
	if (victim) {
		if (S_ISDIR(n->st.st_mode) && !S_ISDIR(victim->st.st_mode))
			return -ENOTDIR;
		if (!S_ISDIR(n->st.st_mode) && S_ISDIR(victim->st.st_mode))
			return -EISDIR;
		if (S_ISDIR(victim->st.st_mode) && victim->nents)
			return -ENOTEMPTY;
	}
	/* The new name's entry is had before anything changes. Then the
	 * victim goes, whose room pays for the new name (the same name) and
	 * whose slot leaves room in @ndir's array: replacing cannot fail
	 * past this point, and a plain move that fails changes nothing. */
	pre = malloc(sizeof(*pre) + strlen(newname) + 1);
	if (!pre)
		return -ENOMEM;
	n->nlookup++; /* keep @n alive across the two steps */
	if (victim)
		dir_remove(m, nd, 1);
	err = dir_add_in(m, ndir, newname, n, pre);
	if (!err) {
		d = name_get(m, dir, name);
		dir_remove(m, d, 0);
	}
	n->nlookup--;
	return err;
}

static int mem_link(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    uint64_t newparent, const char *newname,
		    struct msb_fs_entry *e)
{
	struct memfs *m = b;
	struct mnode *n = node_get(m, ino), *dir;
	int err;

	if (!n)
		return -ESTALE;
	if (S_ISDIR(n->st.st_mode))
		return -EPERM;
	if (!n->st.st_nlink)
		return -ENOENT;
	if (!(dir = dir_get(m, newparent, &err)))
		return err;
	if ((err = perm(dir, c, W_OK | X_OK)))
		return err;
	if (name_get(m, dir, newname))
		return -EEXIST;
	if (n->st.st_nlink >= 65000)
		return -EMLINK;
	if ((err = dir_add(m, dir, newname, n)))
		return err;
	touch(n, 0);
	fill_entry(n, e);
	return 0;
}

static int open_node(struct memfs *m, const struct msb_fs_ctx *c,
		     struct mnode *n, int flags, struct msb_fs_file *f)
{
	int mask = 0, err;

	if ((flags & O_ACCMODE) != O_WRONLY)
		mask |= R_OK;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		mask |= W_OK;
	if ((err = perm(n, c, mask)))
		return err;
	if (m->handles >= MSB_FS_MAX_HANDLES)
		return -ENFILE;
	if ((flags & O_TRUNC) && S_ISREG(n->st.st_mode))
		set_size(m, n, 0);
	m->handles++;
	n->opens++;
	f->fh = n->ino;
	f->flags = 0;
	return 0;
}

static int mem_open(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    int flags, struct msb_fs_file *f)
{
	struct mnode *n = node_get(b, ino);

	if (!n)
		return -ESTALE;
	if (S_ISDIR(n->st.st_mode))
		return -EISDIR;
	if (!S_ISREG(n->st.st_mode))
		return -ENXIO; /* fifos, sockets, devices: the guest's */
	return open_node(b, c, n, flags, f);
}

/* The file behind handle @fh of node @ino. */
static struct mnode *open_file(struct memfs *m, uint64_t ino, uint64_t fh)
{
	struct mnode *n = node_get(m, fh);

	if (!n || n->ino != ino || !n->opens)
		return NULL;
	return n;
}

static struct page *page_find(struct mnode *n, uint64_t idx, size_t *pos)
{
	size_t lo = 0, hi = n->npages;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (n->pages[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return lo < n->npages && n->pages[lo].idx == idx ? &n->pages[lo] :
							     NULL;
}

static struct page *page_get(struct memfs *m, struct mnode *n, uint64_t idx,
			     int *err)
{
	size_t pos;
	struct page *p = page_find(n, idx, &pos);
	uint8_t *data;

	if (p)
		return p;
	if ((*err = charge(m, PAGE)))
		return NULL;
	if (n->npages == n->cappages) {
		size_t cap = n->cappages ? n->cappages * 2 : 4;
		struct page *t = realloc(n->pages, cap * sizeof(*t));

		if (!t)
			goto nomem;
		n->pages = t;
		n->cappages = cap;
	}
	data = calloc(1, PAGE);
	if (!data)
		goto nomem;
	memmove(&n->pages[pos + 1], &n->pages[pos],
		(n->npages - pos) * sizeof(*n->pages));
	n->pages[pos].idx = idx;
	n->pages[pos].data = data;
	n->npages++;
	return &n->pages[pos];
nomem:
	refund(m, PAGE);
	*err = -ENOMEM;
	return NULL;
}

static ssize_t mem_read(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			uint64_t fh, const struct iovec *iov, int iovcnt,
			uint64_t off)
{
	struct mnode *n = open_file(b, ino, fh);
	size_t done = 0;

	if (!n)
		return -EBADF;
	for (int i = 0; i < iovcnt; i++) {
		uint8_t *dst = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		while (len && off < (uint64_t)n->st.st_size) {
			size_t pos, in = off % PAGE, l = PAGE - in;
			struct page *p = page_find(n, off / PAGE, &pos);

			if (l > len)
				l = len;
			if (l > (uint64_t)n->st.st_size - off)
				l = (size_t)((uint64_t)n->st.st_size - off);
			if (p)
				memcpy(dst, p->data + in, l);
			else
				memset(dst, 0, l);
			dst += l;
			len -= l;
			off += l;
			done += l;
		}
	}
	now(&n->st.st_atim);
	return (ssize_t)done;
}

static ssize_t mem_write(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			 uint64_t fh, const struct iovec *iov, int iovcnt,
			 uint64_t off, int flags)
{
	struct memfs *m = b;
	struct mnode *n = open_file(m, ino, fh);
	size_t done = 0;
	int err = 0;

	if (!n)
		return -EBADF;
	if (flags & O_APPEND)
		off = (uint64_t)n->st.st_size;
	for (int i = 0; i < iovcnt && !err; i++) {
		const uint8_t *src = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		while (len) {
			size_t in = off % PAGE, l = PAGE - in;
			struct page *p = page_get(m, n, off / PAGE, &err);

			if (!p)
				break;
			if (l > len)
				l = len;
			memcpy(p->data + in, src, l);
			src += l;
			len -= l;
			off += l;
			done += l;
		}
	}
	if (off > (uint64_t)n->st.st_size && done)
		n->st.st_size = (off_t)off;
	if (done) {
		/* A write by someone else clears setuid/setgid. */
		if (c->uid)
			n->st.st_mode &= ~(mode_t)(S_ISUID | S_ISGID);
		touch(n, 1);
	}
	return done ? (ssize_t)done : err;
}

static int mem_statfs(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      struct statvfs *st)
{
	struct memfs *m = b;

	memset(st, 0, sizeof(*st));
	st->f_bsize = st->f_frsize = PAGE;
	st->f_blocks = m->limit / PAGE;
	st->f_bfree = st->f_bavail = (m->limit - m->used) / PAGE;
	st->f_files = MSB_FS_MAX_NODES;
	st->f_ffree = st->f_favail = MSB_FS_MAX_NODES - m->nodes.n;
	st->f_namemax = MSB_FS_NAME_MAX;
	return 0;
}

static int mem_release(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, int flags, uint64_t lock_owner)
{
	struct memfs *m = b;
	struct mnode *n = open_file(m, ino, fh);

	if (!n)
		return -EBADF;
	n->opens--;
	m->handles--;
	node_maybe_free(m, n);
	return 0;
}

static int mem_fsync(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, int datasync)
{
	return open_file(b, ino, fh) ? 0 : -EBADF;
}

/* ---- xattrs -------------------------------------------------------------- */

static struct xattr *xattr_find(struct mnode *n, const char *name)
{
	for (size_t i = 0; i < n->nxattrs; i++)
		if (!strcmp(n->xattrs[i].name, name))
			return &n->xattrs[i];
	return NULL;
}

/* user.* only on files and directories, trusted.* and security.* only
 * for root; system.* (ACLs) is not kept. */
static int xattr_allowed(const struct mnode *n, const struct msb_fs_ctx *c,
			 const char *name, int write)
{
	if (!strncmp(name, "user.", 5)) {
		if (!S_ISREG(n->st.st_mode) && !S_ISDIR(n->st.st_mode))
			return write ? -EPERM : -ENODATA;
		return write ? perm(n, c, W_OK) : perm(n, c, R_OK);
	}
	if (!strncmp(name, "trusted.", 8) || !strncmp(name, "security.", 9))
		return c->uid && (write || !strncmp(name, "trusted.", 8)) ?
			       (write ? -EPERM : -ENODATA) :
			       0;
	return -EOPNOTSUPP;
}

static int mem_setxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			const char *name, const void *value, size_t size,
			int flags)
{
	struct memfs *m = b;
	struct mnode *n = node_get(m, ino);
	struct xattr *x;
	void *v;
	int err;

	if (!n)
		return -ESTALE;
	if ((err = xattr_allowed(n, c, name, 1)))
		return err;
	x = xattr_find(n, name);
	if (x && (flags & XATTR_CREATE))
		return -EEXIST;
	if (!x && (flags & XATTR_REPLACE))
		return -ENODATA;
	if (n->nxattrs >= 1024 && !x)
		return -ENOSPC;
	if ((err = charge(m, size + (x ? 0 : strlen(name)))))
		return err;
	v = malloc(size ? size : 1);
	if (!v)
		goto nomem;
	memcpy(v, value, size);
	if (!x) {
		struct xattr *t = realloc(n->xattrs,
					  (n->nxattrs + 1) * sizeof(*t));
		char *nm = strdup(name);

		if (!t || !nm) {
			if (t)
				n->xattrs = t;
			free(nm);
			free(v);
			goto nomem;
		}
		n->xattrs = t;
		x = &n->xattrs[n->nxattrs++];
		x->name = nm;
		x->value = NULL;
		x->size = 0;
	}
	refund(m, x->size);
	free(x->value);
	x->value = v;
	x->size = size;
	touch(n, 0);
	return 0;
nomem:
	refund(m, size + (x ? 0 : strlen(name)));
	return -ENOMEM;
}

static ssize_t mem_getxattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			    const char *name, void *buf, size_t size)
{
	struct mnode *n = node_get(b, ino);
	struct xattr *x;
	int err;

	if (!n)
		return -ESTALE;
	if ((err = xattr_allowed(n, c, name, 0)))
		return err;
	if (!(x = xattr_find(n, name)))
		return -ENODATA;
	if (!size)
		return (ssize_t)x->size;
	if (x->size > size)
		return -ERANGE;
	memcpy(buf, x->value, x->size);
	return (ssize_t)x->size;
}

static ssize_t mem_listxattr(void *b, const struct msb_fs_ctx *c,
			     uint64_t ino, char *buf, size_t size)
{
	struct mnode *n = node_get(b, ino);
	size_t need = 0;

	if (!n)
		return -ESTALE;
	for (size_t i = 0; i < n->nxattrs; i++) {
		size_t l = strlen(n->xattrs[i].name) + 1;

		if (!strncmp(n->xattrs[i].name, "trusted.", 8) && c->uid)
			continue;
		if (size) {
			if (need + l > size)
				return -ERANGE;
			memcpy(buf + need, n->xattrs[i].name, l);
		}
		need += l;
	}
	return (ssize_t)need;
}

static int mem_removexattr(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			   const char *name)
{
	struct memfs *m = b;
	struct mnode *n = node_get(m, ino);
	struct xattr *x;
	int err;

	if (!n)
		return -ESTALE;
	if ((err = xattr_allowed(n, c, name, 1)))
		return err;
	if (!(x = xattr_find(n, name)))
		return -ENODATA;
	refund(m, strlen(x->name) + x->size);
	free(x->name);
	free(x->value);
	*x = n->xattrs[--n->nxattrs];
	touch(n, 0);
	return 0;
}

/* ---- directories, open ones ---------------------------------------------- */

static int mem_opendir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       int flags, struct msb_fs_file *f)
{
	struct mnode *n = node_get(b, ino);

	if (!n)
		return -ESTALE;
	if (!S_ISDIR(n->st.st_mode))
		return -ENOTDIR;
	return open_node(b, c, n, O_RDONLY, f);
}

static int mem_readdir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, uint64_t off, msb_fs_fill_fn fill,
		       void *fill_ctx)
{
	struct memfs *m = b;
	struct mnode *n = open_file(m, ino, fh);
	struct msb_fs_dirent d;

	if (!n)
		return -EBADF;
	if (off < 1) {
		d = (struct msb_fs_dirent){ n->ino, 1, DT_DIR, "." };
		if (fill(fill_ctx, &d))
			return 0;
		off = 1;
	}
	if (off < 2) {
		struct mnode *p = node_get(m, n->parent);

		d = (struct msb_fs_dirent){ p ? p->ino : n->ino, 2, DT_DIR,
					    ".." };
		if (fill(fill_ctx, &d))
			return 0;
		off = 2;
	}
	/* Entries by cookie, so names removed meanwhile skip nothing. A
	 * readdirplus fill looks names up: that changes no entry. */
	for (size_t i = dir_index(n, off + 1); i < n->nents; i++) {
		struct dentry *e = n->ents[i];

		d.ino = e->node->ino;
		d.off = e->cookie;
		d.type = IFTODT(e->node->st.st_mode);
		d.name = e->name;
		if (fill(fill_ctx, &d))
			break;
		/* (the fill may have looked it up: the array is intact) */
	}
	return 0;
}

static int mem_releasedir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			  uint64_t fh)
{
	return mem_release(b, c, ino, fh, 0, 0);
}

static int mem_fsyncdir(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			uint64_t fh, int datasync)
{
	return open_file(b, ino, fh) ? 0 : -EBADF;
}

static int mem_access(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      int mask)
{
	struct mnode *n = node_get(b, ino);

	if (!n)
		return -ESTALE;
	return perm(n, c, mask);
}

static int mem_create(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, mode_t mode, int flags, mode_t umask,
		      struct msb_fs_entry *e, struct msb_fs_file *f)
{
	struct memfs *m = b;
	struct mnode *dir, *n;
	struct dentry *d;
	int err;

	if (!(dir = dir_get(m, parent, &err)))
		return err;
	if ((d = name_get(m, dir, name))) {
		if (flags & O_EXCL)
			return -EEXIST;
		n = d->node;
		if (S_ISDIR(n->st.st_mode))
			return -EISDIR;
		if ((err = open_node(m, c, n, flags, f)))
			return err;
		fill_entry(n, e);
		return 0;
	}
	n = make(m, c, parent, name, S_IFREG | (mode & 07777 & ~umask), &err);
	if (!n)
		return err;
	/* The creator may write what it just made, whatever the mode. */
	if (m->handles >= MSB_FS_MAX_HANDLES) {
		dir_remove(m, name_get(m, dir, name), 1);
		return -ENFILE;
	}
	m->handles++;
	n->opens++;
	f->fh = n->ino;
	f->flags = 0;
	fill_entry(n, e);
	return 0;
}

static int mem_fallocate(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			 uint64_t fh, int mode, uint64_t off, uint64_t len)
{
	struct memfs *m = b;
	struct mnode *n = open_file(m, ino, fh);
	uint64_t end = off + len;
	int err = 0;

	if (!n)
		return -EBADF;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			return -EINVAL;
		for (size_t i = 0; i < n->npages;) {
			struct page *p = &n->pages[i];
			uint64_t ps = p->idx * PAGE, pe = ps + PAGE;

			if (pe <= off || ps >= end) {
				i++;
				continue;
			}
			if (ps >= off && pe <= end) {
				free(p->data);
				refund(m, PAGE);
				memmove(p, p + 1,
					(n->npages - i - 1) * sizeof(*p));
				n->npages--;
				continue;
			}
			memset(p->data + (off > ps ? off - ps : 0), 0,
			       (size_t)((end < pe ? end : pe) -
					(off > ps ? off : ps)));
			i++;
		}
		touch(n, 1);
		return 0;
	}
	/* Reserve: real pages, so later writes cannot meet ENOSPC. */
	if ((len + PAGE - 1) / PAGE > (m->limit - m->used) / PAGE + 1)
		return -ENOSPC;
	for (uint64_t pg = off / PAGE; pg * PAGE < end; pg++)
		if (!page_get(m, n, pg, &err))
			return err;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > (uint64_t)n->st.st_size)
		n->st.st_size = (off_t)end;
	touch(n, 1);
	return 0;
}

static int mem_lseek(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, uint64_t off, int whence, uint64_t *result)
{
	struct mnode *n = open_file(b, ino, fh);
	uint64_t size, pg;
	size_t pos;

	if (!n)
		return -EBADF;
	size = (uint64_t)n->st.st_size;
	if (off >= size)
		return -ENXIO;
	pg = off / PAGE;
	page_find(n, pg, &pos);
	if (whence == SEEK_DATA) {
		if (pos == n->npages)
			return -ENXIO;
		*result = n->pages[pos].idx == pg ? off :
						    n->pages[pos].idx * PAGE;
		if (*result >= size)
			return -ENXIO;
		return 0;
	}
	/* SEEK_HOLE: the first page from @pg not present, or the end. */
	for (; pos < n->npages && n->pages[pos].idx == pg; pos++, pg++)
		;
	*result = pg * PAGE > off ? pg * PAGE : off;
	if (*result > size)
		*result = size;
	return 0;
}

static ssize_t mem_copy_file_range(void *b, const struct msb_fs_ctx *c,
				   uint64_t ino_in, uint64_t fh_in,
				   uint64_t off_in, uint64_t ino_out,
				   uint64_t fh_out, uint64_t off_out,
				   size_t len, int flags)
{
	struct memfs *m = b;
	struct mnode *src = open_file(m, ino_in, fh_in);
	struct mnode *dst = open_file(m, ino_out, fh_out);
	uint8_t buf[PAGE];
	size_t done = 0;

	if (!src || !dst)
		return -EBADF;
	while (done < len) {
		struct iovec v = { buf, len - done < PAGE ? len - done : PAGE };
		ssize_t n = mem_read(m, c, ino_in, fh_in, &v, 1, off_in + done);

		if (n <= 0)
			return done ? (ssize_t)done : n;
		v.iov_len = (size_t)n;
		n = mem_write(m, c, ino_out, fh_out, &v, 1, off_out + done, 0);
		if (n <= 0)
			return done ? (ssize_t)done : n;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void mem_destroy(void *b)
{
	struct memfs *m = b;
	struct msb_hlink *l;
	size_t pos = 0;

	while ((l = msb_hpop(&m->names, &pos)))
		free(msb_hentry(l, struct dentry, link));
	pos = 0;
	while ((l = msb_hpop(&m->nodes, &pos))) {
		struct mnode *n = msb_hentry(l, struct mnode, link);

		for (size_t j = 0; j < n->npages; j++)
			free(n->pages[j].data);
		free(n->pages);
		free(n->ents);
		free(n->target);
		for (size_t j = 0; j < n->nxattrs; j++) {
			free(n->xattrs[j].name);
			free(n->xattrs[j].value);
		}
		free(n->xattrs);
		free(n);
	}
	msb_hfini(&m->names);
	msb_hfini(&m->nodes);
	free(m);
}

static const struct msb_fs_ops memory_ops = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_ops),
	.name = "memory",
	.destroy = mem_destroy,
	.lookup = mem_lookup,
	.forget = mem_forget,
	.getattr = mem_getattr,
	.setattr = mem_setattr,
	.readlink = mem_readlink,
	.symlink = mem_symlink,
	.mknod = mem_mknod,
	.mkdir = mem_mkdir,
	.unlink = mem_unlink,
	.rmdir = mem_rmdir,
	.rename = mem_rename,
	.link = mem_link,
	.open = mem_open,
	.read = mem_read,
	.write = mem_write,
	.statfs = mem_statfs,
	.release = mem_release,
	.fsync = mem_fsync,
	.setxattr = mem_setxattr,
	.getxattr = mem_getxattr,
	.listxattr = mem_listxattr,
	.removexattr = mem_removexattr,
	.opendir = mem_opendir,
	.readdir = mem_readdir,
	.releasedir = mem_releasedir,
	.fsyncdir = mem_fsyncdir,
	.access = mem_access,
	.create = mem_create,
	.fallocate = mem_fallocate,
	.lseek = mem_lseek,
	.copy_file_range = mem_copy_file_range,
};

int msb_fs_memory_new(uint64_t limit, struct msb_fs_backend *out,
		      msb_error *err)
{
	struct memfs *m = calloc(1, sizeof(*m));
	struct mnode *root;
	int e;

	if (!m)
		goto nomem;
	m->limit = limit ? limit : 64ull << 20;
	m->next_ino = MSB_FS_ROOT_ID;
	if (msb_hinit(&m->nodes, 64) || msb_hinit(&m->names, 64))
		goto nomem;
	root = node_new(m, NULL, S_IFDIR | 0755, &e);
	if (!root)
		goto nomem;
	root->st.st_nlink = 2;
	root->st.st_size = PAGE;
	root->parent = root->ino;
	out->ops = &memory_ops;
	out->state = m;
	out->dl = NULL;
	out->owned = NULL;
	out->host = NULL;
	return 0;
nomem:
	if (m)
		mem_destroy(m);
	return msb_fail(err, -ENOMEM, "out of memory for a memory volume");
}
