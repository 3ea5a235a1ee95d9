/* SPDX-License-Identifier: Apache-2.0 */
/* passthrough.c - a host directory as a volume, with no way out of it
 *
 * Theory of operation: every node the guest knows is an O_PATH file
 * descriptor held open here, found again by (st_dev, st_ino). A name is
 * only ever resolved one component at a time, relative to its parent's
 * descriptor, with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV-free) and O_NOFOLLOW: the dispatcher has already refused
 * "", ".", "..", and names with '/', and a symlink is opened as itself,
 * never followed. So every node is reached from the root by a chain of
 * lookups inside it, and every operation is *at() on a node's descriptor:
 * - ".." and "/" cannot be named;
 * - symlinks are data for the guest's own kernel to resolve in its own
 *   namespace; we never follow one (a lookup below a symlink is ENOTDIR);
 * - rename and link only take names under nodes already inside;
 * - /proc/self/fd/N is used only by us, on our own descriptors, to reopen
 *   a node we hold (the kernel's magic link lands on that very inode).
 * What can still move things out is the host: a host process moving a
 * directory out of the root takes it, and the guest's handle on it, along.
 *
 * A node the guest makes is opened as itself (O_PATH, no symlink followed)
 * right after it is made, checked to be what was made, and its mode and
 * owner are set on that descriptor: nothing is done by name once a node
 * exists, since another writer of the same host directory may have put a
 * symlink to a host file under that name in between.
 *
 * Files are opened for I/O through /proc/self/fd of the node and only if
 * they are regular files or directories (never a device, fifo or socket:
 * the guest's kernel opens those itself and has no business opening the
 * host's; CREATE over an existing name looks at it with O_PATH first). Device nodes cannot be created. Writes of security.* and
 * trusted.* xattrs are refused: a file capability set from the guest must
 * not become a host privilege.
 *
 * Ownership (docs/filesystems.md, "Owners and modes"): the host file
 * always belongs to the volume's owner: what the guest creates is ours
 * and, as root, given to the owner of the volume's directory. The guest's
 * own view of owners and of the mode bits the host must not carry (setuid,
 * setgid on files) is kept in the xattr user.containers.override_stat
 * ("UID:GID:0MODE", the one containers/storage, fuse-overlayfs and libkrun
 * use): a guest chown never reaches the host's chown(2), and a setuid
 * program made in the guest is an ordinary file on the host. The guest
 * can neither see nor set that xattr.
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends.h"
#include "htab.h"
#include "util.h"

struct pnode {
	uint64_t id;
	dev_t dev;
	ino_t ino;
	int fd;            /* O_PATH */
	mode_t type;
	uint64_t nlookup;
	struct msb_hlink by_id, by_key;
};

struct phandle {
	uint64_t fh;
	uint64_t node;
	int fd;
	int dir;
	uint64_t dir_pos;  /* the offset getdents resumes from */
	struct msb_hlink link;
};

struct ptfs {
	struct msb_htab by_id, by_key; /* nodes by id, by (dev, ino) */
	uid_t owner_uid;    /* who the host files belong to */
	gid_t owner_gid;
	int give_away;      /* (root) new nodes are given to the owner */
	size_t max_nodes;
	struct msb_htab handles;       /* by fh */
	size_t max_handles;
	uint64_t next_id, next_fh;
	mode_t umask;       /* the process's, which the host applies */
};

#define OVERRIDE_XATTR "user.containers.override_stat"

/* ---- tables -------------------------------------------------------------- */

/* The by_key table's key: (dev, ino) folded, compared in full after. */
static uint64_t key_of(dev_t dev, ino_t ino)
{
	return (uint64_t)ino * 31 + (uint64_t)dev;
}

static struct pnode *node_get(struct ptfs *p, uint64_t id)
{
	return msb_hentry(msb_hfirst(&p->by_id, id), struct pnode, by_id);
}

static struct pnode *node_by_key(struct ptfs *p, dev_t dev, ino_t ino)
{
	for (struct msb_hlink *l = msb_hfirst(&p->by_key, key_of(dev, ino)); l;
	     l = msb_hnext(l)) {
		struct pnode *n = msb_hentry(l, struct pnode, by_key);

		if (n->dev == dev && n->ino == ino)
			return n;
	}
	return NULL;
}

static void node_link(struct ptfs *p, struct pnode *n)
{
	msb_hadd(&p->by_id, &n->by_id, n->id);
	msb_hadd(&p->by_key, &n->by_key, key_of(n->dev, n->ino));
}

static void node_drop(struct ptfs *p, struct pnode *n)
{
	msb_hdel(&p->by_id, &n->by_id);
	msb_hdel(&p->by_key, &n->by_key);
	close(n->fd);
	free(n);
}

static struct phandle *handle_get(struct ptfs *p, uint64_t node, uint64_t fh)
{
	struct phandle *h = msb_hentry(msb_hfirst(&p->handles, fh),
				       struct phandle, link);

	return h && h->node == node ? h : NULL;
}

static int handle_new(struct ptfs *p, uint64_t node, int fd, int dir,
		      struct msb_fs_file *f)
{
	struct phandle *h;

	if (p->handles.n >= p->max_handles)
		return -ENFILE;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fh = p->next_fh++;
	h->node = node;
	h->fd = fd;
	h->dir = dir;
	msb_hadd(&p->handles, &h->link, h->fh);
	f->fh = h->fh;
	f->flags = 0;
	return 0;
}

static void handle_drop(struct ptfs *p, struct phandle *h)
{
	msb_hdel(&p->handles, &h->link);
	close(h->fd);
	free(h);
}

/* ---- resolving ----------------------------------------------------------- */

static int proc_path(int fd, char *buf, size_t n)
{
	snprintf(buf, n, "/proc/self/fd/%d", fd);
	return 0;
}

/* Open @name under directory @dirfd, never leaving it, never following a
 * symlink. */
static int open_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static int dir_fd(struct ptfs *p, uint64_t id, int *fd)
{
	struct pnode *n = node_get(p, id);

	if (!n)
		return -ESTALE;
	if (!S_ISDIR(n->type))
		return -ENOTDIR;
	*fd = n->fd;
	return 0;
}

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ?
		       -errno :
		       0;
}

/* ---- the guest's owners and modes ---------------------------------------- */

/**
 * struct ovr - what the guest sees of a node where it differs from the host
 * @uid, @gid: its owner (as the FUSE layer hands ids over)
 * @mode:      its permission bits, setuid, setgid and sticky included
 */
struct ovr {
	uid_t uid;
	gid_t gid;
	mode_t mode;
};

/* ovr_get() - @fd's override. Return: 1 with @o set, 0 if it has none
 * (or an unreadable one: the host's view then stands) */
static int ovr_get(int fd, struct ovr *o)
{
	char path[64], buf[64], *end;
	unsigned long u, g, m;
	ssize_t n;

	proc_path(fd, path, sizeof(path));
	n = getxattr(path, OVERRIDE_XATTR, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "UID:GID:MODE[:TYPE...]": decimal ids, an octal mode, each
	 * digits only (strtoul alone would take spaces and signs). */
	if (!isdigit((unsigned char)buf[0]))
		return 0;
	u = strtoul(buf, &end, 10);
	if (*end != ':' || !isdigit((unsigned char)end[1]))
		return 0;
	g = strtoul(end + 1, &end, 10);
	if (*end != ':' || !isdigit((unsigned char)end[1]))
		return 0;
	m = strtoul(end + 1, &end, 8);
	if ((*end && *end != ':') || u > UINT32_MAX - 1 ||
	    g > UINT32_MAX - 1)
		return 0;
	o->uid = (uid_t)u;
	o->gid = (gid_t)g;
	o->mode = (mode_t)m & 07777;
	return 1;
}

/* host_bits() - what of the guest's @mode the host file may carry: no
 * setuid, and no setgid except on a directory (where it only hands the
 * group down). */
static mode_t host_bits(mode_t type, mode_t mode)
{
	return mode & (S_ISDIR(type) ? 03777 : 01777);
}

/* ovr_put() - make @fd's override say @o, or remove it when the host's
 * own attributes (@st) already say all of it. Return: 0 or -errno
 * (-ENOTSUP when the filesystem cannot keep user xattrs) */
static int ovr_put(int fd, const struct stat *st, const struct ovr *o)
{
	char path[64], buf[64];
	int n;

	proc_path(fd, path, sizeof(path));
	if (o->uid == st->st_uid && o->gid == st->st_gid &&
	    o->mode == (st->st_mode & 07777)) {
		if (removexattr(path, OVERRIDE_XATTR) && errno != ENODATA &&
		    errno != ENOTSUP)
			return -errno;
		return 0;
	}
	n = snprintf(buf, sizeof(buf), "%u:%u:0%o", (unsigned)o->uid,
		     (unsigned)o->gid, (unsigned)o->mode);
	if (setxattr(path, OVERRIDE_XATTR, buf, (size_t)n, 0))
		return -errno;
	return 0;
}

/* node_stat() - @fd's attributes as the guest sees them. */
static int node_stat(int fd, struct stat *st)
{
	struct ovr o;
	int err = stat_fd(fd, st);

	if (!err && !S_ISLNK(st->st_mode) && ovr_get(fd, &o)) {
		st->st_uid = o.uid;
		st->st_gid = o.gid;
		st->st_mode = (st->st_mode & S_IFMT) | o.mode;
	}
	return err;
}

/* Take @fd (O_PATH, ours from now on) as the node for one more lookup. */
static int adopt(struct ptfs *p, int fd, struct msb_fs_entry *e)
{
	struct pnode *n;
	struct stat st;
	int err = node_stat(fd, &st);

	if (err) {
		close(fd);
		return err;
	}
	n = node_by_key(p, st.st_dev, st.st_ino);
	if (n) {
		close(fd);
	} else {
		if (p->by_id.n >= p->max_nodes) {
			close(fd);
			return -ENFILE;
		}
		n = calloc(1, sizeof(*n));
		if (!n) {
			close(fd);
			return -ENOMEM;
		}
		n->id = p->next_id++;
		n->dev = st.st_dev;
		n->ino = st.st_ino;
		n->fd = fd;
		n->type = st.st_mode & S_IFMT;
		node_link(p, n);
	}
	n->nlookup++;
	e->ino = n->id;
	e->generation = 0;
	e->attr = st;
	return 0;
}

static int lookup_at(struct ptfs *p, int dfd, const char *name,
		     struct msb_fs_entry *e)
{
	int fd = open_beneath(dfd, name, O_PATH, 0);

	if (fd < 0)
		return fd == -EXDEV ? -EACCES : fd;
	return adopt(p, fd, e);
}

/* made() - the node just created at @name in @dfd, opened as itself
 * (O_PATH, no symlink followed) and checked to be of @type: another writer
 * of the same host directory may have put something else there since, so
 * nothing is ever done by name after a node is made, only on this
 * descriptor. Return: the descriptor, or -errno */
static int made(int dfd, const char *name, mode_t type)
{
	struct stat st;
	int fd = open_beneath(dfd, name, O_PATH, 0), err;

	if (fd < 0)
		return fd == -EXDEV ? -EACCES : fd;
	err = stat_fd(fd, &st);
	if (!err && (st.st_mode & S_IFMT) != type)
		err = -EEXIST; /* swapped under us: not ours to touch */
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* keeps_ovr() - whether a node of @type can carry the override: user
 * xattrs exist on regular files and directories only (xattr(7)). */
static int keeps_ovr(mode_t type)
{
	return S_ISREG(type) || S_ISDIR(type);
}

/* made_meta() - the owner and mode of a node just made from @fd in the
 * directory @dfd by the guest's @c, on that descriptor: the host file
 * given to the volume's owner (as root), its mode the guest's (not what
 * the host's umask left of it) less what the host must not carry, and the
 * guest's view kept in the override where it differs: the creator's ids
 * (the guest's root is the volume's owner, as the FUSE session maps it),
 * a setgid directory's group handed down as the guest sees it (and its
 * setgid to a new directory). @set_mode 0: a symlink (no mode, no xattr).
 * Return: 0 or -errno */
static int made_meta(struct ptfs *p, const struct msb_fs_ctx *c, int dfd,
		     int fd, int set_mode, mode_t want)
{
	char path[64];
	struct stat st, pv;
	struct ovr o;
	int err = stat_fd(fd, &st), sgid;

	if (err)
		return err;
	if (p->give_away && st.st_uid != p->owner_uid) {
		/* (a group a setgid directory handed down stays) */
		gid_t g = st.st_gid == getegid() ? p->owner_gid : (gid_t)-1;

		if (fchownat(fd, "", p->owner_uid, g,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			return -errno;
		if ((err = stat_fd(fd, &st)))
			return err;
	}
	if (!set_mode)
		return 0;
	sgid = !node_stat(dfd, &pv) && (pv.st_mode & S_ISGID);
	o.uid = c && c->uid ? c->uid : st.st_uid;
	o.gid = sgid ? pv.st_gid : c && c->gid ? c->gid : st.st_gid;
	o.mode = want | (sgid && S_ISDIR(st.st_mode) ? S_ISGID : 0);
	proc_path(fd, path, sizeof(path));
	if ((st.st_mode & 07777) != host_bits(st.st_mode, o.mode)) {
		if (fchmodat(AT_FDCWD, path, host_bits(st.st_mode, o.mode), 0))
			return -errno;
		if ((err = stat_fd(fd, &st)))
			return err;
	}
	if (!keeps_ovr(st.st_mode) ||
	    (o.uid == st.st_uid && o.gid == st.st_gid &&
	     o.mode == (st.st_mode & 07777)))
		return 0; /* (a new node has no override to remove) */
	/* A filesystem without user xattrs (or a sticky directory of another
	 * host user's) cannot keep the guest's view: the node stays, shown
	 * as the host has it (docs/filesystems.md, "Owners and modes"). */
	err = ovr_put(fd, &st, &o);
	return err == -ENOTSUP || err == -EPERM ? 0 : err;
}

/* finish_made() - a node just made in @dfd: its owner and mode, then the
 * node itself for the guest (@fd is consumed). */
static int finish_made(struct ptfs *p, const struct msb_fs_ctx *c, int dfd,
		       int fd, int set_mode, mode_t want,
		       struct msb_fs_entry *e)
{
	int err = made_meta(p, c, dfd, fd, set_mode, want);

	if (err) {
		close(fd);
		return err;
	}
	return adopt(p, fd, e);
}

/* ---- operations ---------------------------------------------------------- */

static int pt_lookup(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, struct msb_fs_entry *e)
{
	int dfd, err = dir_fd(b, parent, &dfd);

	return err ? err : lookup_at(b, dfd, name, e);
}

static void pt_forget(void *b, uint64_t id, uint64_t nlookup)
{
	struct ptfs *p = b;
	struct pnode *n = node_get(p, id);

	if (!n)
		return;
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	if (!n->nlookup && n->id != MSB_FS_ROOT_ID)
		node_drop(p, n);
}

static int pt_getattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      uint64_t fh, struct stat *st)
{
	struct pnode *n = node_get(b, id);

	return n ? node_stat(n->fd, st) : -ESTALE;
}

static int pt_setattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      const struct stat *in, uint32_t valid, uint64_t fh,
		      struct stat *out)
{
	struct ptfs *p = b;
	struct pnode *n = node_get(p, id);
	struct phandle *h = fh != MSB_FS_NO_FH ? handle_get(p, id, fh) : NULL;
	char path[64];

	if (!n)
		return -ESTALE;
	proc_path(n->fd, path, sizeof(path));
	if (valid & MSB_FS_SET_MODE && S_ISLNK(n->type))
		return -EOPNOTSUPP;
	/* Owners and modes: the guest's go to the override, the host file
	 * keeps its owner and gets only the mode bits it may carry. (A
	 * symlink, a fifo or a socket cannot hold the xattr: a chown of one
	 * is taken and not kept, its owner stays the volume's.) */
	if (valid & (MSB_FS_SET_MODE | MSB_FS_SET_UID | MSB_FS_SET_GID) &&
	    !S_ISLNK(n->type)) {
		struct stat host, view;
		struct ovr o;
		int err;

		if ((err = stat_fd(n->fd, &host)) ||
		    (err = node_stat(n->fd, &view)))
			return err;
		/* chown(2)'s rule, which the host no longer applies: only
		 * root gives a file away; its owner may change its group. */
		if (c->uid != 0 &&
		    ((valid & MSB_FS_SET_UID && in->st_uid != view.st_uid) ||
		     (valid & MSB_FS_SET_GID && in->st_gid != view.st_gid &&
		      c->uid != view.st_uid)))
			return -EPERM;
		o.uid = valid & MSB_FS_SET_UID ? in->st_uid : view.st_uid;
		o.gid = valid & MSB_FS_SET_GID ? in->st_gid : view.st_gid;
		o.mode = valid & MSB_FS_SET_MODE ? in->st_mode & 07777 :
						  view.st_mode & 07777;
		if ((host.st_mode & 07777) != host_bits(n->type, o.mode)) {
			if (fchmodat(AT_FDCWD, path, host_bits(n->type, o.mode),
				     0))
				return -errno;
			if ((err = stat_fd(n->fd, &host)))
				return err;
		}
		/* (without user xattrs, what the guest asked cannot be kept
		 * without giving it to the host: refused) */
		if (keeps_ovr(n->type) && (err = ovr_put(n->fd, &host, &o)))
			return err == -ENOTSUP ? -EPERM : err;
	}
	if (valid & MSB_FS_SET_SIZE) {
		int rc;

		if (!S_ISREG(n->type))
			return S_ISDIR(n->type) ? -EISDIR : -EINVAL;
		if (h && !h->dir) {
			rc = ftruncate(h->fd, in->st_size);
		} else {
			int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);

			if (fd < 0)
				return -errno;
			rc = ftruncate(fd, in->st_size) ? -errno : 0;
			close(fd);
			if (rc)
				return rc;
		}
		if (rc)
			return -errno;
	}
	if (valid & (MSB_FS_SET_ATIME | MSB_FS_SET_MTIME)) {
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
		int rc;

		if (valid & MSB_FS_SET_ATIME)
			ts[0] = valid & MSB_FS_SET_ATIME_NOW ?
					(struct timespec){ 0, UTIME_NOW } :
					in->st_atim;
		if (valid & MSB_FS_SET_MTIME)
			ts[1] = valid & MSB_FS_SET_MTIME_NOW ?
					(struct timespec){ 0, UTIME_NOW } :
					in->st_mtim;
		/* (a symlink's times would need its parent and name) */
		if (S_ISLNK(n->type))
			return -EPERM;
		rc = h ? futimens(h->fd, ts) : utimensat(AT_FDCWD, path, ts, 0);
		if (rc)
			return -errno;
	}
	return node_stat(n->fd, out);
}

static ssize_t pt_readlink(void *b, const struct msb_fs_ctx *c, uint64_t id,
			   char *buf, size_t size)
{
	struct pnode *n = node_get(b, id);
	char tmp[PATH_MAX + 1];
	ssize_t len;

	if (!n)
		return -ESTALE;
	if (!S_ISLNK(n->type))
		return -EINVAL;
	len = readlinkat(n->fd, "", tmp, sizeof(tmp));
	if (len < 0)
		return -errno;
	if ((size_t)len > size)
		return -ENAMETOOLONG;
	memcpy(buf, tmp, (size_t)len);
	return len;
}

static int pt_symlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, const char *target,
		      struct msb_fs_entry *e)
{
	int dfd, fd, err = dir_fd(b, parent, &dfd);

	if (err)
		return err;
	if (symlinkat(target, dfd, name))
		return -errno;
	if ((fd = made(dfd, name, S_IFLNK)) < 0)
		return fd;
	return finish_made(b, c, dfd, fd, 0, 0, e);
}

static int pt_mknod(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, mode_t mode, dev_t rdev, mode_t umask,
		    struct msb_fs_entry *e)
{
	struct ptfs *p = b;
	mode_t want = mode & 07777 & ~umask;
	int dfd, fd, err = dir_fd(b, parent, &dfd);

	if (err)
		return err;
	/* A device node in a host directory is a door to the host's
	 * devices: never. (The guest has its own /dev.) */
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return -EPERM;
	if (mknodat(dfd, name, (mode & S_IFMT) | host_bits(mode, want), 0))
		return -errno;
	if ((fd = made(dfd, name, mode & S_IFMT)) < 0)
		return fd;
	return finish_made(p, c, dfd, fd, 1, want, e);
}

static int pt_mkdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name, mode_t mode, mode_t umask,
		    struct msb_fs_entry *e)
{
	mode_t want = mode & 07777 & ~umask;
	int dfd, fd, err = dir_fd(b, parent, &dfd);

	if (err)
		return err;
	if (mkdirat(dfd, name, host_bits(S_IFDIR, want)))
		return -errno;
	if ((fd = made(dfd, name, S_IFDIR)) < 0)
		return fd;
	return finish_made(b, c, dfd, fd, 1, want, e);
}

static int pt_unlink(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name)
{
	int dfd, err = dir_fd(b, parent, &dfd);

	if (err)
		return err;
	return unlinkat(dfd, name, 0) ? -errno : 0;
}

static int pt_rmdir(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		    const char *name)
{
	int dfd, err = dir_fd(b, parent, &dfd);

	if (err)
		return err;
	return unlinkat(dfd, name, AT_REMOVEDIR) ? -errno : 0;
}

static int pt_rename(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, uint64_t newparent, const char *newname,
		     uint32_t flags)
{
	unsigned fl = (flags & MSB_FS_RENAME_NOREPLACE ? RENAME_NOREPLACE : 0) |
		      (flags & MSB_FS_RENAME_EXCHANGE ? RENAME_EXCHANGE : 0);
	int dfd, ndfd, err;

	if ((err = dir_fd(b, parent, &dfd)) ||
	    (err = dir_fd(b, newparent, &ndfd)))
		return err;
	return renameat2(dfd, name, ndfd, newname, fl) ? -errno : 0;
}

static int pt_link(void *b, const struct msb_fs_ctx *c, uint64_t id,
		   uint64_t newparent, const char *newname,
		   struct msb_fs_entry *e)
{
	struct pnode *n = node_get(b, id);
	char path[64];
	int dfd, fd, err;

	if (!n)
		return -ESTALE;
	if ((err = dir_fd(b, newparent, &dfd)))
		return err;
	if (S_ISDIR(n->type))
		return -EPERM;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link of our own
	 * descriptor is the same inode without it. */
	if (linkat(n->fd, "", dfd, newname, AT_EMPTY_PATH)) {
		if (errno != ENOENT && errno != EPERM)
			return -errno;
		proc_path(n->fd, path, sizeof(path));
		if (linkat(AT_FDCWD, path, dfd, newname, AT_SYMLINK_FOLLOW))
			return -errno;
	}
	if ((fd = made(dfd, newname, n->type)) < 0)
		return fd;
	return adopt(b, fd, e);
}

/* Reopen node @n for I/O: regular files and directories only. */
static int reopen(struct pnode *n, int flags)
{
	char path[64];
	int fd;

	if (!S_ISREG(n->type) && !S_ISDIR(n->type))
		return -ENXIO;
	proc_path(n->fd, path, sizeof(path));
	/* (the magic link itself must be followed: no O_NOFOLLOW) */
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

static int pt_open(void *b, const struct msb_fs_ctx *c, uint64_t id,
		   int flags, struct msb_fs_file *f)
{
	struct ptfs *p = b;
	struct pnode *n = node_get(p, id);
	int fd, err;

	if (!n)
		return -ESTALE;
	if (S_ISDIR(n->type))
		return -EISDIR;
	if (!S_ISREG(n->type))
		return -ENXIO;
	if (p->handles.n >= p->max_handles)
		return -ENFILE;
	fd = reopen(n, flags & ~(O_CREAT | O_EXCL));
	if (fd < 0)
		return fd;
	if ((err = handle_new(p, id, fd, 0, f)))
		close(fd);
	return err;
}

static ssize_t pt_read(void *b, const struct msb_fs_ctx *c, uint64_t id,
		       uint64_t fh, const struct iovec *iov, int iovcnt,
		       uint64_t off)
{
	struct phandle *h = handle_get(b, id, fh);
	ssize_t n;

	if (!h || h->dir)
		return -EBADF;
	n = preadv(h->fd, iov, iovcnt, (off_t)off);
	return n < 0 ? -errno : n;
}

static ssize_t pt_write(void *b, const struct msb_fs_ctx *c, uint64_t id,
			uint64_t fh, const struct iovec *iov, int iovcnt,
			uint64_t off, int flags)
{
	struct phandle *h = handle_get(b, id, fh);
	ssize_t n;

	if (!h || h->dir)
		return -EBADF;
	/* An O_APPEND descriptor appends whatever the offset. */
	n = pwritev(h->fd, iov, iovcnt, (off_t)off);
	return n < 0 ? -errno : n;
}

static int pt_statfs(void *b, const struct msb_fs_ctx *c, uint64_t id,
		     struct statvfs *st)
{
	struct pnode *n = node_get(b, id);

	if (!n)
		return -ESTALE;
	return fstatvfs(n->fd, st) ? -errno : 0;
}

static int pt_release(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      uint64_t fh, int flags, uint64_t lock_owner)
{
	struct ptfs *p = b;
	struct phandle *h = handle_get(p, id, fh);

	if (!h || h->dir)
		return -EBADF;
	handle_drop(p, h);
	return 0;
}

static int pt_fsync(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, int datasync)
{
	struct phandle *h = handle_get(b, id, fh);

	if (!h)
		return -EBADF;
	return (datasync ? fdatasync(h->fd) : fsync(h->fd)) ? -errno : 0;
}

/* ---- xattrs -------------------------------------------------------------- */

/* security.* (file capabilities, LSM labels) and trusted.* would become
 * host privileges; ACLs (system.*) are the guest kernel's business. */
static int xattr_writable(const char *name)
{
	/* The guest's owners and modes are ours to keep, not its to forge
	 * (a setuid root program made by any guest user). */
	if (!strcmp(name, OVERRIDE_XATTR))
		return -EPERM;
	if (!strncmp(name, "user.", 5))
		return 0;
	if (!strncmp(name, "security.", 9) || !strncmp(name, "trusted.", 8))
		return -EPERM;
	return -EOPNOTSUPP;
}

static int xattr_node(struct ptfs *p, uint64_t id, char *path, size_t n,
		      struct pnode **out)
{
	struct pnode *nd = node_get(p, id);

	if (!nd)
		return -ESTALE;
	/* Path-based calls on the magic link reach the inode; a symlink's
	 * own xattrs (user.* is not allowed on them anyway) are not kept. */
	if (S_ISLNK(nd->type))
		return 1;
	proc_path(nd->fd, path, n);
	*out = nd;
	return 0;
}

static int pt_setxattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
		       const char *name, const void *value, size_t size,
		       int flags)
{
	struct pnode *n;
	char path[64];
	int err = xattr_node(b, id, path, sizeof(path), &n);

	if (err)
		return err < 0 ? err : -EPERM;
	if ((err = xattr_writable(name)))
		return err;
	return setxattr(path, name, value, size, flags) ? -errno : 0;
}

static ssize_t pt_getxattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
			   const char *name, void *buf, size_t size)
{
	struct pnode *n;
	char path[64];
	ssize_t len;
	int err = xattr_node(b, id, path, sizeof(path), &n);

	if (err)
		return err < 0 ? err : -ENODATA;
	if (!strcmp(name, OVERRIDE_XATTR))
		return -ENODATA;
	len = getxattr(path, name, buf, size);
	return len < 0 ? -errno : len;
}

static ssize_t pt_listxattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
			    char *buf, size_t size)
{
	struct pnode *n;
	char path[64];
	ssize_t len;
	int err = xattr_node(b, id, path, sizeof(path), &n);

	if (err)
		return err < 0 ? err : 0;
	/* The whole list, then without the override's name. */
	for (;;) {
		char *all;
		ssize_t out = 0;

		len = listxattr(path, NULL, 0);
		if (len <= 0)
			return len < 0 ? -errno : 0;
		all = malloc((size_t)len);
		if (!all)
			return -ENOMEM;
		len = listxattr(path, all, (size_t)len);
		if (len < 0) {
			free(all);
			if (errno == ERANGE)
				continue; /* it grew in between */
			return -errno;
		}
		for (ssize_t i = 0; i < len;) {
			size_t l = strnlen(all + i, (size_t)(len - i));

			if (strcmp(all + i, OVERRIDE_XATTR)) {
				if (size && (size_t)out + l + 1 > size) {
					free(all);
					return -ERANGE;
				}
				if (size)
					memcpy(buf + out, all + i, l + 1);
				out += (ssize_t)l + 1;
			}
			i += (ssize_t)l + 1;
		}
		free(all);
		return out;
	}
}

static int pt_removexattr(void *b, const struct msb_fs_ctx *c, uint64_t id,
			  const char *name)
{
	struct pnode *n;
	char path[64];
	int err = xattr_node(b, id, path, sizeof(path), &n);

	if (err)
		return err < 0 ? err : -ENODATA;
	if ((err = xattr_writable(name)))
		return err;
	return removexattr(path, name) ? -errno : 0;
}

/* close(2) of a descriptor: POSIX drops the process's locks; the closest
 * with OFD locks is to drop this description's. */
static int pt_flush(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, uint64_t lock_owner)
{
	struct phandle *h = handle_get(b, id, fh);
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (!h)
		return -EBADF;
	if (!h->dir)
		fcntl(h->fd, F_OFD_SETLK, &fl);
	return 0;
}

/* ---- directories --------------------------------------------------------- */

static int pt_opendir(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      int flags, struct msb_fs_file *f)
{
	struct ptfs *p = b;
	struct pnode *n = node_get(p, id);
	int fd, err;

	if (!n)
		return -ESTALE;
	if (!S_ISDIR(n->type))
		return -ENOTDIR;
	if (p->handles.n >= p->max_handles)
		return -ENFILE;
	fd = reopen(n, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if ((err = handle_new(p, id, fd, 1, f)))
		close(fd);
	return err;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int pt_readdir(void *b, const struct msb_fs_ctx *c, uint64_t id,
		      uint64_t fh, uint64_t off, msb_fs_fill_fn fill,
		      void *fill_ctx)
{
	struct phandle *h = handle_get(b, id, fh);
	char buf[16384] __attribute__((aligned(8)));

	if (!h || !h->dir)
		return -EBADF;
	if (off > INT64_MAX)
		return -EINVAL;
	if (h->dir_pos != off || !off) {
		if (lseek(h->fd, (off_t)off, SEEK_SET) < 0)
			return -errno;
		h->dir_pos = off;
	}
	for (;;) {
		long n = syscall(SYS_getdents64, h->fd, buf, sizeof(buf));

		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (long pos = 0; pos < n;) {
			struct linux_dirent64 *d = (void *)(buf + pos);
			struct msb_fs_dirent de = {
				.ino = d->d_ino,
				.off = (uint64_t)d->d_off,
				.type = d->d_type,
				.name = d->d_name,
			};

			pos += d->d_reclen;
			if (fill(fill_ctx, &de)) {
				/* Not taken: the next call starts here. */
				if (lseek(h->fd, (off_t)h->dir_pos, SEEK_SET) <
				    0)
					h->dir_pos = UINT64_MAX;
				return 0;
			}
			h->dir_pos = (uint64_t)d->d_off;
		}
	}
}

static int pt_releasedir(void *b, const struct msb_fs_ctx *c, uint64_t id,
			 uint64_t fh)
{
	struct ptfs *p = b;
	struct phandle *h = handle_get(p, id, fh);

	if (!h || !h->dir)
		return -EBADF;
	handle_drop(p, h);
	return 0;
}

static int pt_fsyncdir(void *b, const struct msb_fs_ctx *c, uint64_t id,
		       uint64_t fh, int datasync)
{
	return pt_fsync(b, c, id, fh, datasync);
}

/* ---- locks --------------------------------------------------------------- */

static int pt_getlk(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, uint64_t owner, struct flock *lk)
{
	struct phandle *h = handle_get(b, id, fh);

	if (!h || h->dir)
		return -EBADF;
	lk->l_pid = 0;
	if (fcntl(h->fd, F_OFD_GETLK, lk))
		return -errno;
	return 0;
}

static int pt_setlk(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, uint64_t owner, const struct flock *lk,
		    int wait)
{
	struct phandle *h = handle_get(b, id, fh);
	struct flock fl = *lk;

	if (!h || h->dir)
		return -EBADF;
	fl.l_pid = 0;
	if (fcntl(h->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl))
		return errno == EACCES ? -EAGAIN : -errno;
	return 0;
}

static int pt_access(void *b, const struct msb_fs_ctx *c, uint64_t id,
		     int mask)
{
	struct pnode *n = node_get(b, id);
	char path[64];

	if (!n)
		return -ESTALE;
	if (S_ISLNK(n->type))
		return 0;
	proc_path(n->fd, path, sizeof(path));
	return faccessat(AT_FDCWD, path, mask, AT_EACCESS) ? -errno : 0;
}

static int pt_create(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, int flags, mode_t umask,
		     struct msb_fs_entry *e, struct msb_fs_file *f)
{
	struct ptfs *p = b;
	mode_t want = mode & 07777 & ~umask;
	char path[64];
	int dfd, fd, pfd, created = 1, err = dir_fd(p, parent, &dfd);

	if (err)
		return err;
	if (p->handles.n >= p->max_handles)
		return -ENFILE;
	/* Create it exclusively first, to know whether it is ours to set
	 * the mode of (the host's umask is not the guest's). */
	fd = open_beneath(dfd, name, O_CREAT | O_EXCL | flags,
			  host_bits(S_IFREG, want));
	if (fd == -EEXIST && !(flags & O_EXCL)) {
		struct stat st;

		/* It exists: look at what it is before opening it for I/O
		 * (opening a device or a fifo is an act on the host), then
		 * open that very inode through its descriptor. */
		created = 0;
		pfd = open_beneath(dfd, name, O_PATH, 0);
		if (pfd < 0)
			return pfd == -EXDEV ? -EACCES : pfd;
		if ((err = stat_fd(pfd, &st)) || !S_ISREG(st.st_mode)) {
			close(pfd);
			return err ? err : -EEXIST;
		}
		proc_path(pfd, path, sizeof(path));
		fd = open(path, (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC |
					O_NOCTTY);
		fd = fd < 0 ? -errno : fd;
		close(pfd);
	}
	if (fd < 0)
		return fd == -EXDEV ? -EACCES : fd;
	proc_path(fd, path, sizeof(path));
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (created && (err = made_meta(p, c, dfd, pfd, 1, want))) {
		close(pfd);
		close(fd);
		return err;
	}
	if ((err = adopt(p, pfd, e))) {
		close(fd);
		return err;
	}
	if ((err = handle_new(p, e->ino, fd, 0, f))) {
		close(fd);
		pt_forget(p, e->ino, 1);
	}
	return err;
}

static int pt_fallocate(void *b, const struct msb_fs_ctx *c, uint64_t id,
			uint64_t fh, int mode, uint64_t off, uint64_t len)
{
	struct phandle *h = handle_get(b, id, fh);

	if (!h || h->dir)
		return -EBADF;
	return fallocate(h->fd, mode, (off_t)off, (off_t)len) ? -errno : 0;
}

static int pt_lseek(void *b, const struct msb_fs_ctx *c, uint64_t id,
		    uint64_t fh, uint64_t off, int whence, uint64_t *result)
{
	struct phandle *h = handle_get(b, id, fh);
	off_t r;

	if (!h || h->dir)
		return -EBADF;
	r = lseek(h->fd, (off_t)off, whence);
	if (r < 0)
		return -errno;
	*result = (uint64_t)r;
	return 0;
}

static ssize_t pt_copy_file_range(void *b, const struct msb_fs_ctx *c,
				  uint64_t id_in, uint64_t fh_in,
				  uint64_t off_in, uint64_t id_out,
				  uint64_t fh_out, uint64_t off_out,
				  size_t len, int flags)
{
	struct phandle *hi = handle_get(b, id_in, fh_in);
	struct phandle *ho = handle_get(b, id_out, fh_out);
	loff_t oi = (loff_t)off_in, oo = (loff_t)off_out;
	ssize_t n;

	if (!hi || !ho || hi->dir || ho->dir)
		return -EBADF;
	n = copy_file_range(hi->fd, &oi, ho->fd, &oo, len, 0);
	return n < 0 ? -errno : n;
}

static int pt_syncfs(void *b, const struct msb_fs_ctx *c, uint64_t id)
{
	struct pnode *n = node_get(b, MSB_FS_ROOT_ID);
	int fd = n ? reopen(n, O_RDONLY | O_DIRECTORY) : -ESTALE;

	if (fd < 0)
		return fd;
	if (syncfs(fd)) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

static void pt_destroy(void *b)
{
	struct ptfs *p = b;

	struct msb_hlink *l;
	size_t pos = 0;

	while ((l = msb_hpop(&p->handles, &pos)))
		handle_drop(p, msb_hentry(l, struct phandle, link));
	pos = 0;
	while ((l = msb_hpop(&p->by_id, &pos)))
		node_drop(p, msb_hentry(l, struct pnode, by_id));
	msb_hfini(&p->handles);
	msb_hfini(&p->by_id);
	msb_hfini(&p->by_key);
	free(p);
}

static const struct msb_fs_ops passthrough_ops = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_ops),
	.name = "passthrough",
	/* pt_flush() only drops OFD locks, which only the guest's locks
	 * passed here (FUSE_POSIX_LOCKS) take. */
	.flags = MSB_FS_FLUSH_LOCKS_ONLY,
	.destroy = pt_destroy,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.symlink = pt_symlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.link = pt_link,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.statfs = pt_statfs,
	.release = pt_release,
	.fsync = pt_fsync,
	.setxattr = pt_setxattr,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
	.flush = pt_flush,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.getlk = pt_getlk,
	.setlk = pt_setlk,
	.access = pt_access,
	.create = pt_create,
	.fallocate = pt_fallocate,
	.lseek = pt_lseek,
	.copy_file_range = pt_copy_file_range,
	.syncfs = pt_syncfs,
};

/* Every node and handle is a descriptor: size the caps to what the
 * process may open (raising its soft limit to the hard one). */
static void fd_budget(size_t *nodes, size_t *handles)
{
	struct rlimit rl;
	size_t avail;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1u << 20;
	avail = rl.rlim_cur > 1024 ? (size_t)rl.rlim_cur - 512 : 512;
	*nodes = avail / 2 < MSB_FS_MAX_NODES ? avail / 2 : MSB_FS_MAX_NODES;
	*handles = avail / 4 < MSB_FS_MAX_HANDLES ? avail / 4 :
						   MSB_FS_MAX_HANDLES;
}

void msb_fs_passthrough_owner(const char *root, uid_t *uid, gid_t *gid)
{
	struct stat st;

	*uid = getuid();
	*gid = getgid();
	/* Root gives what the guest makes to the directory's owner: the
	 * files of a volume from /home/alice stay alice's. */
	if (geteuid() == 0 && stat(root, &st) == 0) {
		*uid = st.st_uid;
		*gid = st.st_gid;
	}
}

int msb_fs_passthrough_new(const char *root,
			   const struct msb_fs_passthrough_opts *opts,
			   struct msb_fs_backend *out, msb_error *err)
{
	struct ptfs *p;
	struct pnode *n;
	struct stat st;
	int fd, e;

	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		return msb_fail(err, e, "cannot open volume directory %s: %s "
				"(give an existing directory)", root,
				strerror(-e));
	}
	if (fstat(fd, &st)) {
		e = -errno;
		close(fd);
		return msb_fail_errno(err, e, "cannot stat %s", root);
	}
	p = calloc(1, sizeof(*p));
	n = calloc(1, sizeof(*n));
	/* (a table left uninitialised by a failure is all zeroes: freeable) */
	if (!p || !n || msb_hinit(&p->by_id, 64) || msb_hinit(&p->by_key, 64) ||
	    msb_hinit(&p->handles, 1024)) {
		if (p) {
			msb_hfini(&p->by_id);
			msb_hfini(&p->by_key);
			msb_hfini(&p->handles);
		}
		free(p);
		free(n);
		close(fd);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	fd_budget(&p->max_nodes, &p->max_handles);
	p->umask = umask(022);
	umask(p->umask);
	msb_fs_passthrough_owner(root, &p->owner_uid, &p->owner_gid);
	p->give_away = geteuid() == 0;
	p->next_id = MSB_FS_ROOT_ID;
	p->next_fh = 1;
	n->id = p->next_id++;
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	n->fd = fd;
	n->type = S_IFDIR;
	n->nlookup = 1;
	node_link(p, n);
	out->ops = &passthrough_ops;
	out->state = p;
	out->dl = NULL;
	out->owned = NULL;
	out->host = NULL;
	return 0;
}
