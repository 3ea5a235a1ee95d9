/* SPDX-License-Identifier: Apache-2.0 */
/* overlay.c - a read-only lower backend under a writable upper one
 *
 * Theory of operation: each node the guest holds is an overlay node with
 * up to two inner nodes, one per layer (one lookup held on each). The
 * upper one wins; a directory present in both is merged, unless the upper
 * one is opaque. The lower backend is only ever read.
 *
 * Changes go to the upper layer: a lower object is copied up (its parent
 * directories first, then its data, mode, times and user.* xattrs) before
 * anything modifies it or opens it for writing. Deleting a name that
 * exists in the lower layer leaves a whiteout in the upper directory.
 * Whiteouts and opaque markers are ordinary empty files named ".wh.NAME"
 * and ".wh..wh..opq" (the AUFS convention), so any backend can be the
 * upper one; names starting with ".wh." are therefore reserved: never
 * shown, never created by the guest (EINVAL).
 *
 * Like Linux's overlayfs without redirect_dir, a directory with lower
 * content cannot be renamed (EXDEV: mv copies instead), RENAME_EXCHANGE is
 * EXDEV, and hard links of a lower file break on copy-up. A merged
 * directory's listing is taken when it is opened (offsets are positions
 * in that snapshot).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "backends.h"
#include "htab.h"
#include "util.h"

#define WH ".wh."
#define WH_LEN 4
#define OPQ ".wh..wh..opq"
#define DIR_MAX_ENTRIES (1u << 20)
#define DIR_MAX_BYTES (64u << 20)
/* All open directories' listings together. */
#define LISTINGS_MAX_BYTES (256u << 20)

struct onode {
	uint64_t id;
	uint64_t up, lo;       /* inner node ids, 0 if absent */
	mode_t type;
	uint64_t nlookup;
	uint64_t parent;       /* overlay id of the dir it was found in */
	char *name;            /* under that name (for copy-up) */
	struct msb_hlink by_id, by_up, by_lo;
};

struct ent {
	char *name;
	uint64_t ino;
	uint32_t type;
};

struct ohandle {
	uint64_t fh;
	uint64_t node;
	int upper;             /* which layer @ifh is of */
	uint64_t ifh;
	int dir;
	struct ent *ents;      /* a directory's merged listing */
	size_t nents;
	size_t cost;           /* what it is charged to listings */
	struct msb_hlink link;
};

struct ovl {
	struct msb_fs_backend lower, upper;
	/* nodes by id, and those with an upper (lower) inner node by it */
	struct msb_htab nodes, by_up, by_lo;
	struct msb_htab handles; /* by fh */
	size_t listings;       /* bytes of open directories' listings */
	uint64_t next_id, next_fh;
};

static const struct msb_fs_ctx root_ctx = { 0, 0, 0 };

#define L(o) ((o)->lower.ops)
#define U(o) ((o)->upper.ops)
#define LS(o) ((o)->lower.state)
#define US(o) ((o)->upper.state)

static struct onode *node_get(struct ovl *o, uint64_t id)
{
	return msb_hentry(msb_hfirst(&o->nodes, id), struct onode, by_id);
}

/* The node already standing for inner node @up or @lo, if any. */
static struct onode *node_find(struct ovl *o, uint64_t up, uint64_t lo)
{
	struct onode *n = NULL;

	if (up)
		n = msb_hentry(msb_hfirst(&o->by_up, up), struct onode, by_up);
	if (!n && lo)
		n = msb_hentry(msb_hfirst(&o->by_lo, lo), struct onode, by_lo);
	return n;
}

static void index_up(struct ovl *o, struct onode *n, uint64_t up)
{
	n->up = up;
	msb_hadd(&o->by_up, &n->by_up, up);
}

static void index_lo(struct ovl *o, struct onode *n, uint64_t lo)
{
	n->lo = lo;
	msb_hadd(&o->by_lo, &n->by_lo, lo);
}

static void index_node(struct ovl *o, struct onode *n)
{
	msb_hadd(&o->nodes, &n->by_id, n->id);
	if (n->up)
		index_up(o, n, n->up);
	if (n->lo)
		index_lo(o, n, n->lo);
}

static void inner_forget(struct ovl *o, int upper, uint64_t ino)
{
	const struct msb_fs_ops *ops = upper ? U(o) : L(o);

	if (ino && ops->forget)
		ops->forget(upper ? US(o) : LS(o), ino, 1);
}

static void ov_forget(void *b, uint64_t id, uint64_t nlookup);

static void node_free(struct ovl *o, struct onode *n)
{
	uint64_t parent = n->parent;

	msb_hdel(&o->nodes, &n->by_id);
	if (n->up)
		msb_hdel(&o->by_up, &n->by_up);
	if (n->lo)
		msb_hdel(&o->by_lo, &n->by_lo);
	inner_forget(o, 1, n->up);
	inner_forget(o, 0, n->lo);
	free(n->name);
	free(n);
	/* Each node holds its parent (for copy-up): let it go. */
	ov_forget(o, parent, 1);
}

/* ---- the layers ---------------------------------------------------------- */

static int is_reserved(const char *name)
{
	return !strncmp(name, WH, WH_LEN);
}

static int wh_name(const char *name, char *buf, size_t n)
{
	if (strlen(name) + WH_LEN > MSB_FS_NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(buf, n, WH "%s", name);
	return 0;
}

/* Does upper directory @dir hold @name? (no lookup kept) */
static int upper_has(struct ovl *o, uint64_t dir, const char *name,
		     struct msb_fs_entry *e)
{
	struct msb_fs_entry tmp;
	int rc;

	if (!dir)
		return 0;
	rc = U(o)->lookup(US(o), &root_ctx, dir, name, e ? e : &tmp);
	if (rc)
		return 0;
	if (!e)
		inner_forget(o, 1, tmp.ino);
	return 1;
}

static int whited_out(struct ovl *o, uint64_t updir, const char *name)
{
	char wh[MSB_FS_NAME_MAX + 8];

	if (!updir || wh_name(name, wh, sizeof(wh)))
		return 0;
	return upper_has(o, updir, wh, NULL);
}

static int is_opaque(struct ovl *o, uint64_t updir)
{
	return updir && upper_has(o, updir, OPQ, NULL);
}

/* ---- lookups ------------------------------------------------------------- */

/* Find @name in overlay directory @p: fills the two inner entries. */
static int resolve(struct ovl *o, const struct msb_fs_ctx *c, struct onode *p,
		   const char *name, struct msb_fs_entry *ue,
		   struct msb_fs_entry *le)
{
	int rc, lower;

	ue->ino = le->ino = 0;
	if (is_reserved(name))
		return -ENOENT;
	if (p->up) {
		rc = U(o)->lookup(US(o), c, p->up, name, ue);
		if (rc && rc != -ENOENT)
			return rc;
		if (rc)
			ue->ino = 0;
	}
	/* The lower layer shows through where the upper has nothing and no
	 * whiteout, or under an upper directory that is not opaque. */
	lower = p->lo && !is_opaque(o, p->up);
	if (lower && ue->ino)
		lower = S_ISDIR(ue->attr.st_mode) && !is_opaque(o, ue->ino);
	else if (lower)
		lower = !whited_out(o, p->up, name);
	if (lower) {
		rc = L(o)->lookup(LS(o), c, p->lo, name, le);
		if (rc)
			le->ino = 0;
		else if (ue->ino && !S_ISDIR(le->attr.st_mode)) {
			inner_forget(o, 0, le->ino);
			le->ino = 0;
		}
	}
	return ue->ino || le->ino ? 0 : -ENOENT;
}

/* Make (or find) the overlay node for a resolved pair; one lookup. */
static int adopt(struct ovl *o, struct onode *p, const char *name,
		 struct msb_fs_entry *ue, struct msb_fs_entry *le,
		 struct msb_fs_entry *e)
{
	struct onode *n = node_find(o, ue->ino, le->ino);
	const struct stat *st = ue->ino ? &ue->attr : &le->attr;

	if (n) {
		/* Already known: drop the extra inner lookups. */
		if (ue->ino && !n->up)
			index_up(o, n, ue->ino);
		else
			inner_forget(o, 1, ue->ino);
		if (le->ino && !n->lo)
			index_lo(o, n, le->ino);
		else
			inner_forget(o, 0, le->ino);
	} else {
		if (o->nodes.n >= MSB_FS_MAX_NODES) {
			inner_forget(o, 1, ue->ino);
			inner_forget(o, 0, le->ino);
			return -ENFILE;
		}
		n = calloc(1, sizeof(*n));
		if (!n || !(n->name = strdup(name))) {
			free(n);
			inner_forget(o, 1, ue->ino);
			inner_forget(o, 0, le->ino);
			return -ENOMEM;
		}
		n->id = o->next_id++;
		n->up = ue->ino;
		n->lo = le->ino;
		n->type = st->st_mode & S_IFMT;
		n->parent = p->id;
		p->nlookup++; /* held by the child */
		index_node(o, n);
	}
	n->nlookup++;
	e->ino = n->id;
	e->generation = 0;
	e->attr = *st;
	return 0;
}

static int ov_lookup(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, struct msb_fs_entry *e)
{
	struct ovl *o = b;
	struct onode *p = node_get(o, parent);
	struct msb_fs_entry ue, le;
	int rc;

	if (!p)
		return -ESTALE;
	if (!S_ISDIR(p->type))
		return -ENOTDIR;
	if ((rc = resolve(o, c, p, name, &ue, &le)))
		return rc;
	return adopt(o, p, name, &ue, &le, e);
}

static void ov_forget(void *b, uint64_t id, uint64_t nlookup)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);

	if (!n)
		return;
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	if (!n->nlookup && n->id != MSB_FS_ROOT_ID)
		node_free(o, n);
}

static int ov_getattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      uint64_t fh, struct stat *st)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);

	if (!n)
		return -ESTALE;
	if (n->up)
		return U(o)->getattr(US(o), c, n->up, MSB_FS_NO_FH, st);
	return L(o)->getattr(LS(o), c, n->lo, MSB_FS_NO_FH, st);
}

/* ---- copy-up ------------------------------------------------------------- */

static int copy_data(struct ovl *o, uint64_t lo, uint64_t up, uint64_t ufh)
{
	struct msb_fs_file lf;
	const size_t bufsize = 1u << 16;
	uint8_t *buf = malloc(bufsize);
	uint64_t off = 0;
	int rc;

	if (!buf)
		return -ENOMEM;
	if ((rc = L(o)->open(LS(o), &root_ctx, lo, O_RDONLY, &lf))) {
		free(buf);
		return rc;
	}
	for (;;) {
		struct iovec v = { buf, bufsize };
		ssize_t n = L(o)->read(LS(o), &root_ctx, lo, lf.fh, &v, 1, off);

		if (n <= 0) {
			rc = (int)n;
			break;
		}
		v.iov_len = (size_t)n;
		n = U(o)->write(US(o), &root_ctx, up, ufh, &v, 1, off, 0);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		off += (uint64_t)n;
	}
	if (L(o)->release)
		L(o)->release(LS(o), &root_ctx, lo, lf.fh, O_RDONLY, 0);
	free(buf);
	return rc;
}

static void copy_xattrs(struct ovl *o, uint64_t lo, uint64_t up)
{
	char names[4096], val[4096];
	ssize_t n;

	if (!L(o)->listxattr || !L(o)->getxattr || !U(o)->setxattr)
		return;
	n = L(o)->listxattr(LS(o), &root_ctx, lo, names, sizeof(names));
	for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t v;

		if (strncmp(names + i, "user.", 5))
			continue;
		v = L(o)->getxattr(LS(o), &root_ctx, lo, names + i, val,
				   sizeof(val));
		if (v >= 0)
			U(o)->setxattr(US(o), &root_ctx, up, names + i, val,
				       (size_t)v, 0);
	}
}

static int copy_up(struct ovl *o, struct onode *n, int depth);

/* Give @n an upper node: its parents first, then itself. */
static int copy_up(struct ovl *o, struct onode *n, int depth)
{
	struct onode *p;
	struct msb_fs_entry ue = { 0 };
	struct msb_fs_file f;
	struct stat st, out;
	int rc;

	if (n->up)
		return 0;
	if (depth > 4096 || !(p = node_get(o, n->parent)) || p == n)
		return -EIO;
	if ((rc = copy_up(o, p, depth + 1)))
		return rc;
	if ((rc = L(o)->getattr(LS(o), &root_ctx, n->lo, MSB_FS_NO_FH, &st)))
		return rc;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		rc = U(o)->mkdir(US(o), &root_ctx, p->up, n->name, st.st_mode,
				 0, &ue);
		break;
	case S_IFREG:
		rc = U(o)->create(US(o), &root_ctx, p->up, n->name,
				  st.st_mode | 0200, O_WRONLY | O_EXCL, 0, &ue,
				  &f);
		if (!rc) {
			rc = copy_data(o, n->lo, ue.ino, f.fh);
			if (U(o)->release)
				U(o)->release(US(o), &root_ctx, ue.ino, f.fh,
					      O_WRONLY, 0);
		}
		break;
	case S_IFLNK: {
		char target[PATH_MAX + 1];
		ssize_t len = L(o)->readlink(LS(o), &root_ctx, n->lo, target,
					     PATH_MAX);

		if (len < 0)
			return (int)len;
		target[len] = 0;
		rc = U(o)->symlink(US(o), &root_ctx, p->up, n->name, target,
				   &ue);
		break;
	}
	default:
		rc = U(o)->mknod(US(o), &root_ctx, p->up, n->name, st.st_mode,
				 st.st_rdev, 0, &ue);
	}
	if (rc)
		return rc;
	copy_xattrs(o, n->lo, ue.ino);
	if (!S_ISLNK(st.st_mode)) {
		uint32_t valid = MSB_FS_SET_ATIME | MSB_FS_SET_MTIME |
				 MSB_FS_SET_MODE;

		/* The owner first (it may be refused: a passthrough upper
		 * layer of an ordinary user cannot give files away), then
		 * mode and times (a chown clears setuid). */
		U(o)->setattr(US(o), &root_ctx, ue.ino, &st,
			      MSB_FS_SET_UID | MSB_FS_SET_GID, MSB_FS_NO_FH,
			      &out);
		U(o)->setattr(US(o), &root_ctx, ue.ino, &st, valid,
			      MSB_FS_NO_FH, &out);
	}
	index_up(o, n, ue.ino);
	return 0;
}

/* The parent directory, made writable: its upper node. */
static int upper_dir(struct ovl *o, uint64_t parent, struct onode **pp)
{
	struct onode *p = node_get(o, parent);
	int rc;

	if (!p)
		return -ESTALE;
	if (!S_ISDIR(p->type))
		return -ENOTDIR;
	if ((rc = copy_up(o, p, 0)))
		return rc;
	*pp = p;
	return 0;
}

/* Is @name visible in @p (either layer)? */
static int exists(struct ovl *o, struct onode *p, const char *name)
{
	struct msb_fs_entry ue, le;

	if (resolve(o, &root_ctx, p, name, &ue, &le))
		return 0;
	inner_forget(o, 1, ue.ino);
	inner_forget(o, 0, le.ino);
	return 1;
}

/* Before a new name in @p's upper dir: the name is free in the merge,
 * and any whiteout for it goes (Return: 1 if there was one). */
static int clear_whiteout(struct ovl *o, struct onode *p, const char *name)
{
	char wh[MSB_FS_NAME_MAX + 8];

	if (wh_name(name, wh, sizeof(wh)) || !upper_has(o, p->up, wh, NULL))
		return 0;
	U(o)->unlink(US(o), &root_ctx, p->up, wh);
	return 1;
}

static int put_whiteout(struct ovl *o, struct onode *p, const char *name)
{
	char wh[MSB_FS_NAME_MAX + 8];
	struct msb_fs_entry e;
	struct msb_fs_file f;
	int rc;

	if ((rc = wh_name(name, wh, sizeof(wh))))
		return rc;
	rc = U(o)->create(US(o), &root_ctx, p->up, wh, S_IFREG | 0000,
			  O_WRONLY, 0, &e, &f);
	if (rc == -EEXIST)
		return 0;
	if (rc)
		return rc;
	if (U(o)->release)
		U(o)->release(US(o), &root_ctx, e.ino, f.fh, O_WRONLY, 0);
	inner_forget(o, 1, e.ino);
	return 0;
}

/* Does the lower layer have @name under @p (so deleting it needs a
 * whiteout)? */
static int lower_has(struct ovl *o, struct onode *p, const char *name)
{
	struct msb_fs_entry le;

	if (!p->lo || is_opaque(o, p->up))
		return 0;
	if (L(o)->lookup(LS(o), &root_ctx, p->lo, name, &le))
		return 0;
	inner_forget(o, 0, le.ino);
	return 1;
}

/* ---- operations that change things --------------------------------------- */

static int ov_setattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      const struct stat *in, uint32_t valid, uint64_t fh,
		      struct stat *out);
static struct ohandle *handle_get(struct ovl *o, uint64_t node, uint64_t fh);

static int ov_setattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      const struct stat *in, uint32_t valid, uint64_t fh,
		      struct stat *out)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	struct ohandle *h = fh != MSB_FS_NO_FH ? handle_get(o, id, fh) : NULL;
	int rc;

	if (!n)
		return -ESTALE;
	if ((rc = copy_up(o, n, 0)))
		return rc;
	return U(o)->setattr(US(o), c, n->up, in, valid,
			     h && h->upper ? h->ifh : MSB_FS_NO_FH, out);
}

static ssize_t ov_readlink(void *b, const struct msb_fs_ctx *c, uint64_t id,
			   char *buf, size_t size)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);

	if (!n)
		return -ESTALE;
	if (n->up)
		return U(o)->readlink(US(o), c, n->up, buf, size);
	return L(o)->readlink(LS(o), c, n->lo, buf, size);
}

/* A new name in the upper dir of @parent; on success @ue is its upper
 * entry, taken into an overlay node in @e. */
#define MAKE(o, c, parent, name, e, call)                                  \
	do {                                                               \
		struct onode *p_;                                          \
		struct msb_fs_entry ue_ = { 0 }, le_ = { 0 };              \
		int rc_, wh_;                                              \
		if (is_reserved(name))                                     \
			return -EINVAL;                                    \
		if ((rc_ = upper_dir(o, parent, &p_)))                     \
			return rc_;                                        \
		if (exists(o, p_, name))                                   \
			return -EEXIST;                                    \
		wh_ = clear_whiteout(o, p_, name);                         \
		rc_ = (call);                                              \
		if (rc_) {                                                 \
			if (wh_)                                           \
				put_whiteout(o, p_, name);                 \
			return rc_;                                        \
		}                                                          \
		(void)wh_;                                                 \
		return adopt(o, p_, name, &ue_, &le_, e);                  \
	} while (0)

static int ov_symlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, const char *target,
		      struct msb_fs_entry *e)
{
	struct ovl *o = b;

	MAKE(o, c, parent, name, e,
	     U(o)->symlink(US(o), c, p_->up, name, target, &ue_));
}

static int ov_mknod(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, mode_t mode, dev_t rdev, mode_t umask,
		    struct msb_fs_entry *e)
{
	struct ovl *o = b;

	MAKE(o, c, parent, name, e,
	     U(o)->mknod(US(o), c, p_->up, name, mode, rdev, umask, &ue_));
}

static int ov_mkdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, mode_t mode, mode_t umask,
		    struct msb_fs_entry *e)
{
	struct ovl *o = b;
	struct onode *p;
	struct msb_fs_entry ue = { 0 }, le = { 0 }, oe;
	struct msb_fs_file f;
	int rc, wh;

	if (is_reserved(name))
		return -EINVAL;
	if ((rc = upper_dir(o, parent, &p)))
		return rc;
	if (exists(o, p, name))
		return -EEXIST;
	wh = clear_whiteout(o, p, name);
	if ((rc = U(o)->mkdir(US(o), c, p->up, name, mode, umask, &ue))) {
		if (wh)
			put_whiteout(o, p, name);
		return rc;
	}
	/* Over a deleted lower directory: opaque, or its old entries would
	 * show through. */
	if (wh && !U(o)->create(US(o), &root_ctx, ue.ino, OPQ, S_IFREG | 0,
				O_WRONLY, 0, &oe, &f)) {
		if (U(o)->release)
			U(o)->release(US(o), &root_ctx, oe.ino, f.fh,
				      O_WRONLY, 0);
		inner_forget(o, 1, oe.ino);
	}
	return adopt(o, p, name, &ue, &le, e);
}

/* Empty an upper directory of our markers (before removing it). */
static int empty_markers(struct ovl *o, uint64_t up);

static int remove_name(struct ovl *o, const struct msb_fs_ctx *c,
		       uint64_t parent, const char *name, int dir);

static int ov_unlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name)
{
	return remove_name(b, c, parent, name, 0);
}

static int ov_rmdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name)
{
	return remove_name(b, c, parent, name, 1);
}

static int merged_list(struct ovl *o, struct onode *n, struct ent **out,
		       size_t *nout);
static void free_list(struct ent *v, size_t n);

static int remove_name(struct ovl *o, const struct msb_fs_ctx *c,
		       uint64_t parent, const char *name, int dir)
{
	struct onode *p;
	struct msb_fs_entry ue, le;
	int rc, in_lower;

	if (is_reserved(name))
		return -ENOENT;
	if (!(p = node_get(o, parent)))
		return -ESTALE;
	if ((rc = resolve(o, c, p, name, &ue, &le)))
		return rc;
	{
		const struct stat *st = ue.ino ? &ue.attr : &le.attr;

		rc = 0;
		if (dir && !S_ISDIR(st->st_mode))
			rc = -ENOTDIR;
		if (!dir && S_ISDIR(st->st_mode))
			rc = -EISDIR;
	}
	if (!rc && dir) {
		/* Empty in the merge? */
		struct onode tmp = { .up = ue.ino, .lo = le.ino,
				     .type = S_IFDIR };
		struct ent *v;
		size_t nv;

		if (!(rc = merged_list(o, &tmp, &v, &nv))) {
			if (nv > 2)
				rc = -ENOTEMPTY;
			free_list(v, nv);
		}
	}
	inner_forget(o, 0, le.ino);
	if (rc) {
		inner_forget(o, 1, ue.ino);
		return rc;
	}
	if ((rc = copy_up(o, p, 0))) {
		inner_forget(o, 1, ue.ino);
		return rc;
	}
	in_lower = lower_has(o, p, name);
	if (ue.ino) {
		if (dir)
			empty_markers(o, ue.ino);
		inner_forget(o, 1, ue.ino);
		rc = dir ? U(o)->rmdir(US(o), c, p->up, name) :
			   U(o)->unlink(US(o), c, p->up, name);
		if (rc)
			return rc;
	}
	return in_lower ? put_whiteout(o, p, name) : 0;
}

static int rename_node(struct ovl *o, const struct msb_fs_ctx *c,
		       struct onode *p, const char *name, struct onode *np,
		       const char *newname, uint32_t flags, struct onode *n);

static int ov_rename(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, uint64_t newparent, const char *newname,
		     uint32_t flags)
{
	struct ovl *o = b;
	struct onode *p, *np;
	struct msb_fs_entry ue, le, e;
	int rc;

	if (is_reserved(name) || is_reserved(newname))
		return is_reserved(name) ? -ENOENT : -EINVAL;
	if (flags & MSB_FS_RENAME_EXCHANGE)
		return -EXDEV;
	if ((rc = upper_dir(o, parent, &p)) ||
	    (rc = upper_dir(o, newparent, &np)))
		return rc;
	if ((rc = resolve(o, c, p, name, &ue, &le)))
		return rc;
	if ((rc = adopt(o, p, name, &ue, &le, &e)))
		return rc;
	/* (the lookup taken here keeps the node alive until the end) */
	rc = rename_node(o, c, p, name, np, newname, flags,
			 node_get(o, e.ino));
	ov_forget(o, e.ino, 1);
	return rc;
}

static int rename_node(struct ovl *o, const struct msb_fs_ctx *c,
		       struct onode *p, const char *name, struct onode *np,
		       const char *newname, uint32_t flags, struct onode *n)
{
	int rc, src_lower, dst_exists;
	char *nm;

	/* A directory with lower content would have to move its lower
	 * half too: as overlayfs without redirect_dir, EXDEV. */
	if (S_ISDIR(n->type) && n->lo)
		return -EXDEV;
	if ((rc = copy_up(o, n, 0)))
		return rc;
	if (p == np && !strcmp(name, newname))
		return 0;
	/* (a directory into itself or below: the upper backend refuses) */
	dst_exists = exists(o, np, newname);
	if (dst_exists && (flags & MSB_FS_RENAME_NOREPLACE))
		return -EEXIST;
	if (dst_exists) {
		/* Replace: the target goes the way unlink would take it. */
		struct msb_fs_entry tu, tl;

		if ((rc = resolve(o, c, np, newname, &tu, &tl)))
			return rc;
		inner_forget(o, 1, tu.ino);
		inner_forget(o, 0, tl.ino);
		if (!S_ISDIR((tu.ino ? tu.attr : tl.attr).st_mode) !=
		    !S_ISDIR(n->type))
			return S_ISDIR(n->type) ? -ENOTDIR : -EISDIR;
		if (!tu.ino || (S_ISDIR(n->type) && tl.ino)) {
			rc = remove_name(o, c, np->id, newname,
					 S_ISDIR(n->type));
			if (rc)
				return rc;
		} else if (S_ISDIR(n->type)) {
			struct onode tmp = { .up = tu.ino };
			struct ent *v;
			size_t nv;

			if ((rc = merged_list(o, &tmp, &v, &nv)))
				return rc;
			free_list(v, nv);
			if (nv > 2)
				return -ENOTEMPTY;
			empty_markers(o, tu.ino);
		}
	}
	src_lower = lower_has(o, p, name);
	clear_whiteout(o, np, newname);
	rc = U(o)->rename(US(o), c, p->up, name, np->up, newname, 0);
	if (rc)
		return rc;
	if (S_ISDIR(n->type) && lower_has(o, np, newname)) {
		/* (a directory over a deleted lower one: opaque) */
		struct msb_fs_entry oe;
		struct msb_fs_file f;

		if (!U(o)->create(US(o), &root_ctx, n->up, OPQ, S_IFREG,
				  O_WRONLY, 0, &oe, &f)) {
			if (U(o)->release)
				U(o)->release(US(o), &root_ctx, oe.ino, f.fh,
					      O_WRONLY, 0);
			inner_forget(o, 1, oe.ino);
		}
	}
	/* The node now lives there: move its hold on the parent. */
	if ((nm = strdup(newname))) {
		free(n->name);
		n->name = nm;
	}
	if (n->parent != np->id) {
		uint64_t old = n->parent;

		np->nlookup++;
		n->parent = np->id;
		ov_forget(o, old, 1);
	}
	return src_lower ? put_whiteout(o, p, name) : 0;
}

static int ov_link(void *b, const struct msb_fs_ctx *c, uint64_t id,
		   uint64_t newparent, const char *newname,
		   struct msb_fs_entry *e)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	int rc;

	if (!n)
		return -ESTALE;
	if ((rc = copy_up(o, n, 0)))
		return rc;
	MAKE(o, c, newparent, newname, e,
	     U(o)->link(US(o), c, n->up, p_->up, newname, &ue_));
}

/* ---- files --------------------------------------------------------------- */

static struct ohandle *handle_get(struct ovl *o, uint64_t node, uint64_t fh)
{
	struct ohandle *h = msb_hentry(msb_hfirst(&o->handles, fh),
				       struct ohandle, link);

	return h && h->node == node ? h : NULL;
}

static struct ohandle *handle_new(struct ovl *o, uint64_t node, int upper,
				  uint64_t ifh, int dir)
{
	struct ohandle *h;

	if (o->handles.n >= MSB_FS_MAX_HANDLES || !(h = calloc(1, sizeof(*h))))
		return NULL;
	h->fh = o->next_fh++;
	h->node = node;
	h->upper = upper;
	h->ifh = ifh;
	h->dir = dir;
	msb_hadd(&o->handles, &h->link, h->fh);
	return h;
}

static void handle_drop(struct ovl *o, struct ohandle *h)
{
	msb_hdel(&o->handles, &h->link);
	free_list(h->ents, h->nents);
	o->listings -= h->cost;
	free(h);
}

static int ov_open(void *b, const struct msb_fs_ctx *c, uint64_t id,
		   int flags, struct msb_fs_file *f)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	struct msb_fs_file inf;
	struct ohandle *h;
	int rc, wr = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);

	if (!n)
		return -ESTALE;
	if (wr && (rc = copy_up(o, n, 0)))
		return rc;
	if (n->up)
		rc = U(o)->open(US(o), c, n->up, flags, &inf);
	else
		rc = L(o)->open(LS(o), c, n->lo, flags, &inf);
	if (rc)
		return rc;
	h = handle_new(o, id, !!n->up, inf.fh, 0);
	if (!h) {
		const struct msb_fs_ops *ops = n->up ? U(o) : L(o);

		if (ops->release)
			ops->release(n->up ? US(o) : LS(o), c,
				     n->up ? n->up : n->lo, inf.fh, flags, 0);
		return -ENFILE;
	}
	f->fh = h->fh;
	f->flags = inf.flags;
	return 0;
}

/* The layer, inner node and inner handle behind overlay handle @fh. */
#define HANDLE(o, id, fh, h, n)                                            \
	struct ohandle *h = handle_get(o, id, fh);                         \
	struct onode *n = node_get(o, id);                                 \
	if (!h || !n || h->dir)                                            \
		return -EBADF
#define LAYER(o, h) ((h)->upper ? U(o) : L(o))
#define LSTATE(o, h) ((h)->upper ? US(o) : LS(o))
#define INODE(h, n) ((h)->upper ? (n)->up : (n)->lo)

static ssize_t ov_read(void *b, const struct msb_fs_ctx *c, uint64_t id,
		       uint64_t fh, const struct iovec *iov, int iovcnt,
		       uint64_t off)
{
	struct ovl *o = b;
	HANDLE(o, id, fh, h, n);

	return LAYER(o, h)->read(LSTATE(o, h), c, INODE(h, n), h->ifh, iov,
				 iovcnt, off);
}

static ssize_t ov_write(void *b, const struct msb_fs_ctx *c, uint64_t id,
			uint64_t fh, const struct iovec *iov, int iovcnt,
			uint64_t off, int flags)
{
	struct ovl *o = b;
	HANDLE(o, id, fh, h, n);

	if (!h->upper)
		return -EBADF;
	return U(o)->write(US(o), c, n->up, h->ifh, iov, iovcnt, off, flags);
}

static int ov_statfs(void *b, const struct msb_fs_ctx *c, uint64_t id,
		     struct statvfs *st)
{
	struct ovl *o = b;

	return U(o)->statfs ? U(o)->statfs(US(o), c, MSB_FS_ROOT_ID, st) :
			      -ENOSYS;
}

static int ov_release(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      uint64_t fh, int flags, uint64_t owner)
{
	struct ovl *o = b;
	HANDLE(o, id, fh, h, n);

	if (LAYER(o, h)->release)
		LAYER(o, h)->release(LSTATE(o, h), c, INODE(h, n), h->ifh,
				     flags, owner);
	handle_drop(o, h);
	return 0;
}

static int ov_fsync(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, int datasync)
{
	struct ovl *o = b;
	HANDLE(o, id, fh, h, n);

	if (!h->upper || !U(o)->fsync)
		return 0;
	return U(o)->fsync(US(o), c, n->up, h->ifh, datasync);
}

static int ov_flush(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, uint64_t owner)
{
	struct ovl *o = b;
	HANDLE(o, id, fh, h, n);

	if (!LAYER(o, h)->flush)
		return 0;
	return LAYER(o, h)->flush(LSTATE(o, h), c, INODE(h, n), h->ifh, owner);
}

static int ov_fallocate(void *b, const struct msb_fs_ctx *c, uint64_t id,
			uint64_t fh, int mode, uint64_t off, uint64_t len)
{
	struct ovl *o = b;
	HANDLE(o, id, fh, h, n);

	if (!h->upper)
		return -EBADF;
	if (!U(o)->fallocate)
		return -EOPNOTSUPP;
	return U(o)->fallocate(US(o), c, n->up, h->ifh, mode, off, len);
}

static int ov_lseek(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, uint64_t off, int whence, uint64_t *result)
{
	struct ovl *o = b;
	HANDLE(o, id, fh, h, n);

	if (!LAYER(o, h)->lseek)
		return -ENOSYS;
	return LAYER(o, h)->lseek(LSTATE(o, h), c, INODE(h, n), h->ifh, off,
				  whence, result);
}

static ssize_t ov_copy_file_range(void *b, const struct msb_fs_ctx *c,
				  uint64_t id_in, uint64_t fh_in,
				  uint64_t off_in, uint64_t id_out,
				  uint64_t fh_out, uint64_t off_out,
				  size_t len, int flags)
{
	struct ovl *o = b;
	struct ohandle *hi = handle_get(o, id_in, fh_in);
	struct ohandle *ho = handle_get(o, id_out, fh_out);
	struct onode *ni = node_get(o, id_in), *no = node_get(o, id_out);

	if (!hi || !ho || !ni || !no || hi->dir || ho->dir || !ho->upper)
		return -EBADF;
	/* Across layers the guest kernel falls back to read and write. */
	if (!hi->upper || !U(o)->copy_file_range)
		return -EXDEV;
	return U(o)->copy_file_range(US(o), c, ni->up, hi->ifh, off_in, no->up,
				     ho->ifh, off_out, len, flags);
}

/* ---- xattrs -------------------------------------------------------------- */

static int ov_setxattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
		       const char *name, const void *value, size_t size,
		       int flags)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	int rc;

	if (!n)
		return -ESTALE;
	if ((rc = copy_up(o, n, 0)))
		return rc;
	return U(o)->setxattr ? U(o)->setxattr(US(o), c, n->up, name, value,
					      size, flags) :
				-EOPNOTSUPP;
}

static ssize_t ov_getxattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
			   const char *name, void *buf, size_t size)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	const struct msb_fs_ops *ops;

	if (!n)
		return -ESTALE;
	ops = n->up ? U(o) : L(o);
	if (!ops->getxattr)
		return -EOPNOTSUPP;
	return ops->getxattr(n->up ? US(o) : LS(o), c, n->up ? n->up : n->lo,
			     name, buf, size);
}

static ssize_t ov_listxattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
			    char *buf, size_t size)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	const struct msb_fs_ops *ops;

	if (!n)
		return -ESTALE;
	ops = n->up ? U(o) : L(o);
	if (!ops->listxattr)
		return 0;
	return ops->listxattr(n->up ? US(o) : LS(o), c, n->up ? n->up : n->lo,
			      buf, size);
}

static int ov_removexattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
			  const char *name)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	int rc;

	if (!n)
		return -ESTALE;
	if ((rc = copy_up(o, n, 0)))
		return rc;
	return U(o)->removexattr ? U(o)->removexattr(US(o), c, n->up, name) :
				   -EOPNOTSUPP;
}

/* ---- directories --------------------------------------------------------- */

static void free_list(struct ent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

struct collect {
	struct ent *v;
	size_t n, cap, bytes;
	int err;
	int upper;          /* collecting the upper layer */
	int opaque;
	/* whiteouts seen in the upper layer */
	char **wh;
	size_t nwh, capwh;
	/* the upper layer's names and whiteouts, hashed, for the lower pass */
	const char **set;
	size_t setmask;
};

static size_t name_hash(const char *s)
{
	return (size_t)msb_hmix(msb_hstr(0, s));
}

static void set_add(struct collect *cl, const char *name)
{
	size_t i = name_hash(name) & cl->setmask;

	while (cl->set[i])
		i = (i + 1) & cl->setmask;
	cl->set[i] = name;
}

/* Index what the upper layer showed (names and whiteouts). */
static int set_build(struct collect *cl)
{
	size_t want = 2 * (cl->n + cl->nwh) + 2, size = 16;

	while (size < want)
		size *= 2;
	cl->set = calloc(size, sizeof(*cl->set));
	if (!cl->set)
		return -ENOMEM;
	cl->setmask = size - 1;
	for (size_t i = 0; i < cl->n; i++)
		set_add(cl, cl->v[i].name);
	for (size_t i = 0; i < cl->nwh; i++)
		set_add(cl, cl->wh[i]);
	return 0;
}

static int seen(struct collect *cl, const char *name)
{
	for (size_t i = name_hash(name) & cl->setmask; cl->set[i];
	     i = (i + 1) & cl->setmask)
		if (!strcmp(cl->set[i], name))
			return 1;
	return 0;
}

static int collect_one(void *ctx, const struct msb_fs_dirent *d)
{
	struct collect *cl = ctx;
	size_t len = strlen(d->name);

	if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
		return 0;
	if (cl->upper && !strcmp(d->name, OPQ)) {
		cl->opaque = 1;
		return 0;
	}
	if (cl->upper && is_reserved(d->name)) {
		char *w;

		if (cl->nwh == cl->capwh) {
			size_t cap = cl->capwh ? cl->capwh * 2 : 16;
			char **t = realloc(cl->wh, cap * sizeof(*t));

			if (!t)
				goto nomem;
			cl->wh = t;
			cl->capwh = cap;
		}
		if (!(w = strdup(d->name + WH_LEN)))
			goto nomem;
		cl->wh[cl->nwh++] = w;
		return 0;
	}
	if (is_reserved(d->name))
		return 0;
	/* (quadratic in the worst case; bounded by DIR_MAX_ENTRIES) */
	if (!cl->upper && seen(cl, d->name))
		return 0;
	if (cl->n >= DIR_MAX_ENTRIES || cl->bytes + len > DIR_MAX_BYTES) {
		cl->err = -ENOMEM;
		return 1;
	}
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 32;
		struct ent *t = realloc(cl->v, cap * sizeof(*t));

		if (!t)
			goto nomem;
		cl->v = t;
		cl->cap = cap;
	}
	if (!(cl->v[cl->n].name = strdup(d->name)))
		goto nomem;
	cl->v[cl->n].ino = d->ino;
	cl->v[cl->n].type = d->type;
	cl->n++;
	cl->bytes += len;
	return 0;
nomem:
	cl->err = -ENOMEM;
	return 1;
}

static int list_layer(struct ovl *o, int upper, uint64_t ino,
		      struct collect *cl)
{
	const struct msb_fs_ops *ops = upper ? U(o) : L(o);
	void *st = upper ? US(o) : LS(o);
	struct msb_fs_file f;
	int rc;

	if ((rc = ops->opendir(st, &root_ctx, ino, O_RDONLY, &f)))
		return rc;
	cl->upper = upper;
	rc = ops->readdir(st, &root_ctx, ino, f.fh, 0, collect_one, cl);
	if (ops->releasedir)
		ops->releasedir(st, &root_ctx, ino, f.fh);
	return rc ? rc : cl->err;
}

/* The merged listing of @n, with "." and ".." first. */
static int merged_list(struct ovl *o, struct onode *n, struct ent **out,
		       size_t *nout)
{
	struct collect cl = { 0 };
	int rc = 0;

	/* "." and ".." */
	cl.v = calloc(32, sizeof(*cl.v));
	if (!cl.v)
		return -ENOMEM;
	cl.cap = 32;
	cl.v[0] = (struct ent){ strdup("."), n->id, DT_DIR };
	cl.v[1] = (struct ent){ strdup(".."), n->id, DT_DIR };
	cl.n = 2;
	if (!cl.v[0].name || !cl.v[1].name)
		rc = -ENOMEM;
	if (!rc && n->up)
		rc = list_layer(o, 1, n->up, &cl);
	if (!rc && n->lo && !cl.opaque && !(rc = set_build(&cl)))
		rc = list_layer(o, 0, n->lo, &cl);
	/* (the set points at names in cl.v and cl.wh: freed first) */
	free(cl.set);
	for (size_t i = 0; i < cl.nwh; i++)
		free(cl.wh[i]);
	free(cl.wh);
	if (rc) {
		free_list(cl.v, cl.n);
		return rc;
	}
	*out = cl.v;
	*nout = cl.n;
	return 0;
}

static int ov_opendir(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      int flags, struct msb_fs_file *f)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);
	struct ohandle *h;
	struct ent *v;
	size_t nv, cost = 0;
	int rc;

	if (!n)
		return -ESTALE;
	if (!S_ISDIR(n->type))
		return -ENOTDIR;
	if ((rc = merged_list(o, n, &v, &nv)))
		return rc;
	for (size_t i = 0; i < nv; i++)
		cost += sizeof(*v) + strlen(v[i].name) + 1;
	if (cost > LISTINGS_MAX_BYTES - o->listings) {
		free_list(v, nv);
		return -ENOMEM;
	}
	h = handle_new(o, id, 0, 0, 1);
	if (!h) {
		free_list(v, nv);
		return -ENFILE;
	}
	h->ents = v;
	h->nents = nv;
	h->cost = cost;
	o->listings += cost;
	f->fh = h->fh;
	f->flags = 0;
	return 0;
}

static int ov_readdir(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      uint64_t fh, uint64_t off, msb_fs_fill_fn fill,
		      void *fill_ctx)
{
	struct ovl *o = b;
	struct ohandle *h = handle_get(o, id, fh);

	if (!h || !h->dir)
		return -EBADF;
	for (uint64_t i = off; i < h->nents; i++) {
		struct msb_fs_dirent d = { h->ents[i].ino, i + 1,
					   h->ents[i].type, h->ents[i].name };

		if (fill(fill_ctx, &d))
			break;
	}
	return 0;
}

static int ov_releasedir(void *b, const struct msb_fs_ctx *c, uint64_t id,
			 uint64_t fh)
{
	struct ovl *o = b;
	struct ohandle *h = handle_get(o, id, fh);

	if (!h || !h->dir)
		return -EBADF;
	handle_drop(o, h);
	return 0;
}

static int ov_fsyncdir(void *b, const struct msb_fs_ctx *c, uint64_t id,
		       uint64_t fh, int datasync)
{
	struct ovl *o = b;

	return handle_get(o, id, fh) ? 0 : -EBADF;
}

static int empty_markers(struct ovl *o, uint64_t up)
{
	struct collect cl = { 0 };
	int rc = list_layer(o, 1, up, &cl);

	for (size_t i = 0; i < cl.nwh; i++) {
		char wh[MSB_FS_NAME_MAX + 8];

		if (!wh_name(cl.wh[i], wh, sizeof(wh)))
			U(o)->unlink(US(o), &root_ctx, up, wh);
		free(cl.wh[i]);
	}
	if (cl.opaque)
		U(o)->unlink(US(o), &root_ctx, up, OPQ);
	free(cl.wh);
	free_list(cl.v, cl.n);
	return rc;
}

static int ov_access(void *b, const struct msb_fs_ctx *c, uint64_t id,
		     int mask)
{
	struct ovl *o = b;
	struct onode *n = node_get(o, id);

	if (!n)
		return -ESTALE;
	if (n->up)
		return U(o)->access ? U(o)->access(US(o), c, n->up, mask) : 0;
	/* Writing a lower file means copying it up: judge the rest. */
	return L(o)->access ? L(o)->access(LS(o), c, n->lo, mask & ~W_OK) : 0;
}

static int ov_create(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, int flags, mode_t umask,
		     struct msb_fs_entry *e, struct msb_fs_file *f)
{
	struct ovl *o = b;
	struct onode *p;
	struct msb_fs_entry ue = { 0 }, le = { 0 };
	struct msb_fs_file inf;
	struct ohandle *h;
	int rc, wh;

	if (is_reserved(name))
		return -EINVAL;
	if ((rc = upper_dir(o, parent, &p)))
		return rc;
	if (exists(o, p, name)) {
		struct msb_fs_entry x;

		/* An existing file: an open, as the kernel would do. */
		if (flags & O_EXCL)
			return -EEXIST;
		if ((rc = ov_lookup(o, c, parent, name, &x)))
			return rc;
		if ((rc = ov_open(o, c, x.ino, flags, f))) {
			ov_forget(o, x.ino, 1);
			return rc;
		}
		*e = x;
		return 0;
	}
	wh = clear_whiteout(o, p, name);
	rc = U(o)->create(US(o), c, p->up, name, mode, flags, umask, &ue, &inf);
	if (rc) {
		if (wh)
			put_whiteout(o, p, name);
		return rc;
	}
	if ((rc = adopt(o, p, name, &ue, &le, e)))
		return rc;
	h = handle_new(o, e->ino, 1, inf.fh, 0);
	if (!h) {
		if (U(o)->release)
			U(o)->release(US(o), c, ue.ino, inf.fh, flags, 0);
		ov_forget(o, e->ino, 1);
		return -ENFILE;
	}
	f->fh = h->fh;
	f->flags = inf.flags;
	return 0;
}

static int ov_syncfs(void *b, const struct msb_fs_ctx *c, uint64_t id)
{
	struct ovl *o = b;

	return U(o)->syncfs ? U(o)->syncfs(US(o), c, MSB_FS_ROOT_ID) : 0;
}

static void ov_destroy(void *b)
{
	struct ovl *o = b;

	struct msb_hlink *l;
	size_t pos = 0;

	while ((l = msb_hpop(&o->handles, &pos)))
		handle_drop(o, msb_hentry(l, struct ohandle, link));
	/* The inner backends go whole: no forgets owed them. */
	pos = 0;
	while ((l = msb_hpop(&o->nodes, &pos))) {
		struct onode *n = msb_hentry(l, struct onode, by_id);

		free(n->name);
		free(n);
	}
	msb_hfini(&o->handles);
	msb_hfini(&o->nodes);
	msb_hfini(&o->by_up);
	msb_hfini(&o->by_lo);
	msb_fs_backend_close(&o->upper);
	msb_fs_backend_close(&o->lower);
	free(o);
}

static const struct msb_fs_ops overlay_ops = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_ops),
	.name = "overlay",
	.destroy = ov_destroy,
	.lookup = ov_lookup,
	.forget = ov_forget,
	.getattr = ov_getattr,
	.setattr = ov_setattr,
	.readlink = ov_readlink,
	.symlink = ov_symlink,
	.mknod = ov_mknod,
	.mkdir = ov_mkdir,
	.unlink = ov_unlink,
	.rmdir = ov_rmdir,
	.rename = ov_rename,
	.link = ov_link,
	.open = ov_open,
	.read = ov_read,
	.write = ov_write,
	.statfs = ov_statfs,
	.release = ov_release,
	.fsync = ov_fsync,
	.setxattr = ov_setxattr,
	.getxattr = ov_getxattr,
	.listxattr = ov_listxattr,
	.removexattr = ov_removexattr,
	.flush = ov_flush,
	.opendir = ov_opendir,
	.readdir = ov_readdir,
	.releasedir = ov_releasedir,
	.fsyncdir = ov_fsyncdir,
	.access = ov_access,
	.create = ov_create,
	.fallocate = ov_fallocate,
	.lseek = ov_lseek,
	.copy_file_range = ov_copy_file_range,
	.syncfs = ov_syncfs,
};

/* The operations the overlay cannot do without. */
static int complete(const struct msb_fs_ops *ops, int upper)
{
	if (!ops->lookup || !ops->getattr || !ops->open || !ops->read ||
	    !ops->opendir || !ops->readdir || !ops->readlink)
		return 0;
	return !upper || (ops->create && ops->write && ops->mkdir &&
			  ops->unlink && ops->rmdir && ops->rename &&
			  ops->setattr && ops->symlink && ops->mknod &&
			  ops->link);
}

int msb_fs_overlay_new(struct msb_fs_backend *lower,
		       struct msb_fs_backend *upper, struct msb_fs_backend *out,
		       msb_error *err)
{
	struct ovl *o = NULL;
	struct onode *root = NULL;
	int r;

	if (!lower->ops || !upper->ops || !complete(lower->ops, 0) ||
	    !complete(upper->ops, 1)) {
		r = msb_fail(err, -EINVAL,
			 "an overlay needs a lower backend that can be read "
			 "and listed and an upper one that can be written");
		goto fail;
	}
	o = calloc(1, sizeof(*o));
	root = calloc(1, sizeof(*root));
	if (!o || !root)
		goto nomem;
	if (msb_hinit(&o->nodes, 64) || msb_hinit(&o->by_up, 64) ||
	    msb_hinit(&o->by_lo, 64) || msb_hinit(&o->handles, 256) ||
	    !(root->name = strdup("")))
		goto nomem;
	o->lower = *lower;
	o->upper = *upper;
	memset(lower, 0, sizeof(*lower));
	memset(upper, 0, sizeof(*upper));
	/* The two roots: no lookups held on them (they are never
	 * forgotten). */
	root->id = MSB_FS_ROOT_ID;
	root->up = MSB_FS_ROOT_ID;
	root->lo = MSB_FS_ROOT_ID;
	root->type = S_IFDIR;
	root->parent = MSB_FS_ROOT_ID;
	root->nlookup = 1;
	index_node(o, root);
	o->next_id = MSB_FS_ROOT_ID + 1;
	o->next_fh = 1;
	out->ops = &overlay_ops;
	out->state = o;
	out->dl = NULL;
	out->owned = NULL;
	out->host = NULL;
	return 0;
nomem:
	r = msb_fail(err, -ENOMEM, "out of memory");
	if (o) {
		msb_hfini(&o->nodes);
		msb_hfini(&o->by_up);
		msb_hfini(&o->by_lo);
		msb_hfini(&o->handles);
	}
	if (root)
		free(root->name);
	free(root);
	free(o);
fail:
	msb_fs_backend_close(lower);
	msb_fs_backend_close(upper);
	return r;
}
