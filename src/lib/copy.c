/* SPDX-License-Identifier: Apache-2.0 */
/* copy.c - msb_copy_in() and msb_copy_out(): `docker cp`'s rules over the
 * file operations of files.c
 *
 * Into the guest: the host tree is walked with openat(O_NOFOLLOW) and each
 * directory, file and symlink made in the guest. Out of the guest: one
 * recursive LIST streams the tree (parents before their children) and
 * each entry is made on the host below the destination. The names come
 * from the guest: each is checked again (msb_fname_ok: relative, no "..")
 * and reached one component at a time with O_NOFOLLOW, so neither a name
 * nor a symlink the copy itself made can lead outside the destination.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "files.h"
#include "proto.h"
#include "util.h"

struct cp {
	msb_sandbox *sb;
	msb_file_opts fo;
	const msb_copy_opts *o;
	msb_error *err;
};

/* contents_only() - a source ending in "/." copies what is in it */
static int contents_only(const char *p)
{
	size_t n = strlen(p);

	return n >= 2 && p[n - 1] == '.' && p[n - 2] == '/';
}

static int ends_with_slash(const char *p)
{
	size_t n = strlen(p);

	return n && p[n - 1] == '/';
}

static int join(char *out, size_t n, const char *dir, const char *name,
		msb_error *err)
{
	if (msb_path_join(out, n, dir, name) < 0)
		return msb_fail(err, -ENAMETOOLONG, "path too long: %s/%s",
				dir, name);
	return 0;
}

static struct msb_progress progress(struct cp *c, const char *path,
				    uint64_t total)
{
	struct msb_progress p = { c->o ? c->o->progress : NULL,
				  c->o ? c->o->ctx : NULL, path, total };

	return p;
}

/* ---- into the guest --------------------------------------------------------- */

static int in_symlink(struct cp *c, const char *target, const char *gpath)
{
	int r = msb_file_symlink(c->sb, target, gpath, &c->fo, c->err);

	if (r == MSB_E_EXISTS) {
		/* as cp does: replace what is there, unless a directory */
		r = msb_file_remove(c->sb, gpath, &c->fo, c->err);
		if (r == 0)
			r = msb_file_symlink(c->sb, target, gpath, &c->fo,
					     c->err);
	}
	return r;
}

static int in_file(struct cp *c, int fd, const struct stat *st,
		   const char *gpath)
{
	struct msb_progress p = progress(c, gpath, (uint64_t)st->st_size);
	msb_file_opts fo = c->fo;

	fo.mode = st->st_mode & 07777;
	return msb_file_write_fd_p(c->sb, gpath, fd, &fo, &p, NULL, c->err);
}

static int in_dir(struct cp *c, const char *gpath, mode_t mode)
{
	msb_file_opts fo = c->fo;

	fo.parents = 1; /* an existing directory is fine */
	fo.mode = mode & 07777;
	return msb_file_mkdir(c->sb, gpath, &fo, c->err);
}

static int in_tree(struct cp *c, int dfd, const char *gdir, int depth)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);
	int r = 0;

	if (!d) {
		close(dfd);
		return msb_fail_errno(c->err, -errno, "cannot read the host "
				      "directory for %s", gdir);
	}
	while (!r && (errno = 0, de = readdir(d))) {
		char gpath[PATH_MAX], link[PATH_MAX];
		struct stat st;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = join(gpath, sizeof(gpath), gdir, de->d_name, c->err);
		if (r < 0)
			break;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth > 128) {
				r = msb_fail(c->err, -ELOOP,
					     "%s: directories nested too deep",
					     gpath);
				break;
			}
			r = in_dir(c, gpath, st.st_mode);
			fd = r ? -1 :
				 openat(dirfd(d), de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
			if (!r && fd < 0)
				r = msb_fail_errno(c->err, -errno,
						   "cannot open the host "
						   "directory for %s", gpath);
			if (!r)
				r = in_tree(c, fd, gpath, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			fd = openat(dirfd(d), de->d_name,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				r = msb_fail_errno(c->err, -errno,
						   "cannot open the host file "
						   "for %s", gpath);
				break;
			}
			r = in_file(c, fd, &st, gpath);
			close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlinkat(dirfd(d), de->d_name, link,
					       sizeof(link) - 1);

			if (l > 0) {
				link[l] = '\0';
				r = in_symlink(c, link, gpath);
			}
		}
		/* sockets, fifos and devices are not copied */
	}
	if (!r && errno)
		r = msb_fail_errno(c->err, -errno, "reading a host directory");
	closedir(d);
	return r;
}

MSB_API int msb_copy_in(msb_sandbox *sb, const char *host,
			const char *guest, const msb_copy_opts *o,
			msb_error *err)
{
	struct cp c = { sb, { 0 }, o, err };
	msb_file_info *gi = malloc(sizeof(*gi));
	char target[PATH_MAX], base[NAME_MAX + 1];
	struct stat st;
	int r, gexists, gdir, fd;

	if (!gi)
		return msb_fail(err, -ENOMEM, "out of memory");
	c.fo.user = o ? o->user : NULL;
	if (lstat(host, &st) < 0) {
		r = msb_fail_errno(err, -errno, "%s", host);
		goto out;
	}
	r = msb_file_stat(sb, guest, &c.fo, gi, err);
	if (r < 0 && r != -ENOENT)
		goto out;
	gexists = r == 0;
	gdir = gexists && gi->type == MSB_FILE_DIR;
	msb_path_base(host, base, sizeof(base));
	snprintf(target, sizeof(target), "%s", guest);
	if (S_ISDIR(st.st_mode)) {
		if (gexists && !gdir) {
			r = msb_fail(err, -ENOTDIR, "cannot copy the directory "
				     "%s onto the file %s", host, guest);
			goto out;
		}
		if (gdir && !contents_only(host)) {
			r = join(target, sizeof(target), guest, base, err);
			if (r == 0)
				r = in_dir(&c, target, st.st_mode);
		} else if (!gexists) {
			msb_file_opts fo = c.fo;

			fo.mode = st.st_mode & 07777;
			r = msb_file_mkdir(sb, guest, &fo, err);
		}
		if (r < 0)
			goto out;
		fd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			r = msb_fail_errno(err, -errno, "%s", host);
			goto out;
		}
		r = in_tree(&c, fd, target, 0);
		goto out;
	}
	if (gdir) {
		r = join(target, sizeof(target), guest, base, err);
		if (r < 0)
			goto out;
	} else if (!gexists && ends_with_slash(guest)) {
		r = msb_fail(err, MSB_E_NOT_FOUND,
			     "no directory %s in the guest", guest);
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		char link[PATH_MAX];
		ssize_t l = readlink(host, link, sizeof(link) - 1);

		if (l < 0) {
			r = msb_fail_errno(err, -errno, "%s", host);
			goto out;
		}
		link[l] = '\0';
		r = in_symlink(&c, link, target);
	} else if (S_ISREG(st.st_mode)) {
		fd = open(host, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = msb_fail_errno(err, -errno, "%s", host);
			goto out;
		}
		r = in_file(&c, fd, &st, target);
		close(fd);
	} else {
		r = msb_fail(err, MSB_E_INVALID,
			     "%s is not a file, a directory or a symlink",
			     host);
	}
out:
	free(gi);
	return r;
}

/* ---- out of the guest ------------------------------------------------------- */

/* parent_beneath() - the directory holding @rel below @rootfd, reached one
 * component at a time without following symlinks; *@leaf its last
 * component. Return: a descriptor, or -errno. */
static int parent_beneath(int rootfd, const char *rel, const char **leaf)
{
	char comp[NAME_MAX + 1];
	const char *p = rel, *slash;
	int fd = dup(rootfd);

	while (fd >= 0 && (slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		int next;

		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		next = openat(fd, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next < 0 ? -errno : next;
		p = slash + 1;
		if (fd < 0)
			return fd;
	}
	*leaf = p;
	return fd < 0 ? -errno : fd;
}

struct out_dir {
	char name[PATH_MAX];
	mode_t mode;
};

static int out_entry(struct cp *c, int rootfd, const char *gsrc,
		     const msb_file_info *e, struct out_dir **dirs,
		     size_t *ndirs)
{
	char gpath[PATH_MAX];
	const char *leaf;
	int pfd, fd, r = 0;

	if (!msb_fname_ok((const uint8_t *)e->name, strlen(e->name)))
		return msb_fail(c->err, MSB_E_PROTOCOL,
				"the guest listed '%s', which is not a name "
				"below %s: not copied",
				e->name, gsrc);
	pfd = parent_beneath(rootfd, e->name, &leaf);
	if (pfd < 0)
		return msb_fail_errno(c->err, pfd, "cannot reach the host "
				      "directory for %s", e->name);
	switch (e->type) {
	case MSB_FILE_DIR:
		if (mkdirat(pfd, leaf, 0700) < 0 && errno != EEXIST) {
			r = msb_fail_errno(c->err, -errno, "mkdir %s", e->name);
			break;
		}
		{
			struct out_dir *nd = realloc(*dirs, (*ndirs + 1) *
								    sizeof(**dirs));

			if (!nd) {
				r = msb_fail(c->err, -ENOMEM, "out of memory");
				break;
			}
			*dirs = nd;
			snprintf(nd[*ndirs].name, sizeof(nd[*ndirs].name), "%s",
				 e->name);
			nd[*ndirs].mode = e->mode;
			(*ndirs)++;
		}
		break;
	case MSB_FILE_REGULAR:
		r = join(gpath, sizeof(gpath), gsrc, e->name, c->err);
		if (r < 0)
			break;
		fd = openat(pfd, leaf,
			    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				    O_CLOEXEC,
			    0600);
		if (fd < 0) {
			r = msb_fail_errno(c->err, -errno, "cannot create the "
					   "host file for %s", e->name);
			break;
		}
		{
			struct msb_progress p = progress(c, gpath, e->size);

			r = msb_file_read_fd_p(c->sb, gpath, fd, &c->fo, &p,
					       NULL, c->err);
		}
		if (!r)
			fchmod(fd, e->mode & 07777);
		close(fd);
		break;
	case MSB_FILE_SYMLINK:
		unlinkat(pfd, leaf, 0);
		if (symlinkat(e->link, pfd, leaf) < 0)
			r = msb_fail_errno(c->err, -errno, "symlink %s",
					   e->name);
		break;
	default:
		break; /* sockets, fifos and devices are not copied */
	}
	close(pfd);
	return r;
}

/* out_tree() - every entry of the guest directory @gsrc below @rootfd */
static int out_tree(struct cp *c, const char *gsrc, int rootfd)
{
	struct out_dir *dirs = NULL;
	size_t ndirs = 0;
	msb_file_opts fo = c->fo;
	msb_file_event ev;
	msb_file *f;
	int r;

	fo.recursive = 1;
	r = msb_file_open(c->sb, MSB_FILE_LIST, gsrc, &fo, &f, c->err);
	if (r < 0)
		return r;
	while ((r = msb_file_next(f, &ev, -1, c->err)) >= 0) {
		if (r == 0 || ev.type == MSB_FILE_DATA)
			continue;
		if (ev.type == MSB_FILE_DONE)
			break;
		r = out_entry(c, rootfd, gsrc, ev.entry, &dirs, &ndirs);
		if (r < 0)
			break;
	}
	msb_file_free(f);
	/* Directories get their modes last (one without write permission
	 * could not have been filled), deepest first. */
	for (size_t i = ndirs; r >= 0 && i-- > 0;) {
		const char *leaf;
		int pfd = parent_beneath(rootfd, dirs[i].name, &leaf);

		if (pfd >= 0) {
			fchmodat(pfd, leaf, dirs[i].mode & 07777, 0);
			close(pfd);
		}
	}
	free(dirs);
	return r < 0 ? r : 0;
}

MSB_API int msb_copy_out(msb_sandbox *sb, const char *guest,
			 const char *host, const msb_copy_opts *o,
			 msb_error *err)
{
	struct cp c = { sb, { 0 }, o, err };
	msb_file_info *gi = malloc(sizeof(*gi));
	char target[PATH_MAX], base[NAME_MAX + 1];
	struct stat st;
	int r, hexists, hdir, fd, made = 0;

	if (!gi)
		return msb_fail(err, -ENOMEM, "out of memory");
	c.fo.user = o ? o->user : NULL;
	c.fo.nofollow = 1;
	r = msb_file_stat(sb, guest, &c.fo, gi, err);
	c.fo.nofollow = 0;
	if (r < 0)
		goto out;
	hexists = stat(host, &st) == 0;
	hdir = hexists && S_ISDIR(st.st_mode);
	msb_path_base(guest, base, sizeof(base));
	snprintf(target, sizeof(target), "%s", host);
	if (gi->type == MSB_FILE_DIR) {
		if (hexists && !hdir) {
			r = msb_fail(err, -ENOTDIR, "cannot copy the directory "
				     "%s onto the file %s", guest, host);
			goto out;
		}
		if (hdir && !contents_only(guest)) {
			r = join(target, sizeof(target), host, base, err);
			made = r == 0 && mkdir(target, 0700) == 0;
			if (r == 0 && !made && errno != EEXIST)
				r = msb_fail_errno(err, -errno, "mkdir %s",
						   target);
		} else if (!hexists) {
			made = mkdir(host, 0700) == 0;
			if (!made)
				r = msb_fail_errno(err, -errno, "mkdir %s",
						   host);
		}
		if (r < 0)
			goto out;
		fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			r = msb_fail_errno(err, -errno, "%s", target);
			goto out;
		}
		r = out_tree(&c, guest, fd);
		if (r == 0 && made)
			fchmod(fd, gi->mode & 07777);
		close(fd);
		goto out;
	}
	if (hdir) {
		r = join(target, sizeof(target), host, base, err);
		if (r < 0)
			goto out;
	} else if (!hexists && ends_with_slash(host)) {
		r = msb_fail(err, MSB_E_NOT_FOUND, "no directory %s on the host",
			     host);
		goto out;
	}
	if (gi->type == MSB_FILE_SYMLINK) {
		unlink(target);
		if (symlink(gi->link, target) < 0)
			r = msb_fail_errno(err, -errno, "symlink %s", target);
	} else if (gi->type == MSB_FILE_REGULAR) {
		struct msb_progress p = progress(&c, guest, gi->size);

		fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0600);
		if (fd < 0) {
			r = msb_fail_errno(err, -errno, "%s", target);
			goto out;
		}
		r = msb_file_read_fd_p(sb, guest, fd, &c.fo, &p, NULL, err);
		if (r == 0)
			fchmod(fd, gi->mode & 07777);
		close(fd);
	} else {
		r = msb_fail(err, MSB_E_INVALID,
			     "%s is not a file, a directory or a symlink",
			     guest);
	}
out:
	free(gi);
	return r;
}
