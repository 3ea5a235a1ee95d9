/* SPDX-License-Identifier: Apache-2.0 */
/* fileop.c - FILE streams: read, write, list and change files as a user
 *
 * Each FILE request forks a process that switches to the request's user
 * (groups, gid, uid, as exec.c does), moves to CWD and performs one
 * operation (docs/agent-protocol.md §7a) with ordinary system calls: the
 * guest kernel checks permissions exactly as for that user's programs.
 * Its stdout is a pipe carrying READ's bytes or LIST's records, relayed by
 * the agent within the host's output credit (flow.c); WRITE's bytes come in
 * on its stdin pipe within the stdin window; its stderr carries the RESULT
 * payload, written once at the end. Files larger than RAM stream through
 * (splice, no copy in the agent beyond one frame), and the agent's loop
 * never waits on a disk.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileop.h"
#include "log.h"
#include "proto.h"
#include "user.h"

#define LIST_DEPTH_MAX 128
#define SPLICE_CHUNK (1 << 20)

/* ---- the request ---------------------------------------------------------- */

static int is_str(uint8_t tag)
{
	return tag == MSB_T_PATH || tag == MSB_T_PATH2 || tag == MSB_T_USER ||
	       tag == MSB_T_CWD;
}

int file_req_parse(const uint8_t *p, size_t n, struct file_req *r,
		   struct agent_err *e)
{
	struct msb_tlv_r tr;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	size_t bytes = 0;
	char *s;
	int rc;

	memset(r, 0, sizeof(*r));
	msb_tlv_r_init(&tr, p, n);
	while ((rc = msb_tlv_next(&tr, &tag, &v, &len)) == 1) {
		if (is_str(tag)) {
			if (len > MSB_FPATH_MAX || memchr(v, '\0', len))
				return agent_fail(e, 0, "FILE: tag %u: a NUL "
						  "byte or over %d bytes",
						  tag, MSB_FPATH_MAX);
			bytes += (size_t)len + 1;
		} else if (tag == MSB_T_FOP || tag == MSB_T_MODE ||
			   tag == MSB_T_FLAGS) {
			if (len != 4)
				return agent_fail(e, 0, "FILE: tag %u is not "
						  "a u32", tag);
			if (tag == MSB_T_FOP)
				r->op = msb_get_be32(v);
			else if (tag == MSB_T_FLAGS)
				r->flags = msb_get_be32(v);
			else {
				r->mode = msb_get_be32(v) & 07777;
				r->has_mode = 1;
			}
		}
	}
	if (rc < 0)
		return agent_fail(e, 0, "FILE: truncated TLV record");
	if (r->op < MSB_FOP_READ || r->op > MSB_FOP_SYMLINK)
		return agent_fail(e, 0, "FILE: unknown operation %u", r->op);
	if (r->flags & ~(uint32_t)MSB_FOP_F_ALL)
		return agent_fail(e, 0, "FILE: unknown flags %#x", r->flags);
	r->mem = calloc(1, bytes + 1);
	if (!r->mem)
		return agent_fail(e, ENOMEM, "FILE");
	s = r->mem;
	msb_tlv_r_init(&tr, p, n);
	while (msb_tlv_next(&tr, &tag, &v, &len) == 1) {
		if (!is_str(tag))
			continue;
		memcpy(s, v, len);
		s[len] = '\0';
		if (tag == MSB_T_PATH)
			r->path = s;
		else if (tag == MSB_T_PATH2)
			r->path2 = s;
		else if (tag == MSB_T_USER)
			r->user = s;
		else
			r->cwd = s;
		s += len + 1;
	}
	if (!r->path || !*r->path) {
		file_req_free(r);
		return agent_fail(e, 0, "FILE: no PATH");
	}
	if ((r->op == MSB_FOP_RENAME || r->op == MSB_FOP_SYMLINK) &&
	    (!r->path2 || !*r->path2)) {
		file_req_free(r);
		return agent_fail(e, 0, "FILE: no PATH2");
	}
	return 0;
}

void file_req_free(struct file_req *r)
{
	free(r->mem);
	memset(r, 0, sizeof(*r));
}

/* ---- in the file process -------------------------------------------------- */

/* The RESULT payload, built as the operation goes. */
static uint8_t res_buf[FILE_RESULT_MAX];
static struct msb_tlv_w res;

/* finish() - send the RESULT payload (fd 2) and end the process */
static void __attribute__((noreturn)) finish(int err, const char *fmt, ...)
{
	if (err) {
		char msg[512];
		va_list ap;
		int k;

		va_start(ap, fmt);
		k = vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (k >= 0 && (size_t)k < sizeof(msg))
			snprintf(msg + k, sizeof(msg) - (size_t)k, ": %s",
				 strerror(err));
		/* The error replaces whatever was gathered before it. */
		msb_tlv_w_init(&res, res_buf, sizeof(res_buf));
		msb_tlv_put_u32(&res, MSB_T_ERRNO, (uint32_t)err);
		msb_tlv_put_str(&res, MSB_T_MESSAGE, msg);
	} else {
		msb_tlv_put_u32(&res, MSB_T_ERRNO, 0);
	}
	agent_write_all(2, res_buf, res.len);
	_exit(0);
}

static void stat_put(uint8_t out[MSB_FSTAT_LEN], const struct stat *st)
{
	struct msb_fstat f = {
		.mode = st->st_mode,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.nlink = (uint32_t)st->st_nlink,
		.size = (uint64_t)st->st_size,
		.mtime = st->st_mtim.tv_sec,
		.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
	};

	msb_fstat_encode(out, &f);
}

/* copy_fd() - @in to @out until end of file: splice, or read/write where
 * either end cannot splice. Return: bytes, or -errno */
static long long copy_fd(int in, int out)
{
	static char buf[65536];
	long long total = 0;
	int can_splice = 1;

	for (;;) {
		ssize_t n;

		if (can_splice) {
			n = splice(in, NULL, out, NULL, SPLICE_CHUNK,
				   SPLICE_F_MOVE);
			if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
				can_splice = 0;
				continue;
			}
		} else {
			n = read(in, buf, sizeof(buf));
			if (n > 0 && agent_write_all(out, buf, (size_t)n) < 0)
				return -(errno ? errno : EIO);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return total;
		total += n;
	}
}

static void op_read(const struct file_req *r)
{
	struct stat st;
	long long n;
	int fd;

	fd = open(r->path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		finish(errno, "open %s", r->path);
	if (fstat(fd, &st) < 0)
		finish(errno, "stat %s", r->path);
	if (S_ISDIR(st.st_mode))
		finish(EISDIR, "read %s", r->path);
	n = copy_fd(fd, 1);
	if (n == -EPIPE)
		_exit(0); /* the host stopped reading: nobody to tell */
	if (n < 0)
		finish((int)-n, "read %s", r->path);
	msb_tlv_put_u64(&res, MSB_T_SIZE, (uint64_t)n);
	finish(0, NULL);
}

/* mkdir_p() - make @path and its missing parents (0755, umask applied);
 * an existing directory is fine. Return: 0 or -errno */
static int mkdir_p(const char *path, mode_t mode)
{
	char p[MSB_FPATH_MAX + 1];
	size_t n = strlen(path);

	if (n > MSB_FPATH_MAX)
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		struct stat st;

		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, i == n ? mode : 0755) < 0 &&
		    (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode)))
			return errno == EEXIST ? -ENOTDIR : -errno;
		if (i < n)
			p[i] = '/';
	}
	return 0;
}

static void op_write(const struct file_req *r)
{
	int fl = O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, fd;
	long long n;

	if (r->flags & MSB_FOP_F_PARENTS) {
		char dir[MSB_FPATH_MAX + 1], *slash;

		snprintf(dir, sizeof(dir), "%s", r->path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			int e;

			*slash = '\0';
			e = mkdir_p(dir, 0755);
			if (e < 0)
				finish(-e, "mkdir %s", dir);
		}
	}
	fl |= r->flags & MSB_FOP_F_APPEND ? O_APPEND : O_TRUNC;
	if (r->flags & MSB_FOP_F_EXCL)
		fl |= O_EXCL;
	fd = open(r->path, fl, r->has_mode ? r->mode : 0644);
	if (fd < 0)
		finish(errno, "open %s", r->path);
	if (r->has_mode && fchmod(fd, r->mode) < 0)
		finish(errno, "chmod %s", r->path);
	n = copy_fd(0, fd);
	if (n < 0)
		finish((int)-n, "write %s", r->path);
	if (close(fd) < 0)
		finish(errno, "write %s", r->path);
	msb_tlv_put_u64(&res, MSB_T_SIZE, (uint64_t)n);
	finish(0, NULL);
}

/* ---- LIST: records on stdout ------------------------------------------- */

static uint8_t out_buf[65536];
static size_t out_len;
static uint64_t listed;

static void out_flush(void)
{
	if (out_len && agent_write_all(1, out_buf, out_len) < 0)
		_exit(0); /* the host stopped reading */
	out_len = 0;
}

/* out_entry() - an ENTRY record: stat, name, a symlink's target */
static void out_entry(const uint8_t stb[MSB_FSTAT_LEN], const char *name,
		      size_t nn, const char *link, size_t ln)
{
	size_t len = MSB_FSTAT_LEN + 2 + nn + ln;
	uint8_t *p;

	if (sizeof(out_buf) - out_len < 5 + len)
		out_flush();
	p = out_buf + out_len;
	p[0] = MSB_T_ENTRY;
	msb_put_be32(p + 1, (uint32_t)len);
	memcpy(p + 5, stb, MSB_FSTAT_LEN);
	msb_put_be16(p + 5 + MSB_FSTAT_LEN, (uint16_t)nn);
	memcpy(p + 5 + MSB_FSTAT_LEN + 2, name, nn);
	if (ln)
		memcpy(p + 5 + MSB_FSTAT_LEN + 2 + nn, link, ln);
	out_len += 5 + len;
}

/* list_dir() - the entries of @dfd (consumed), names prefixed by @rel */
static void list_dir(int dfd, const char *rel, int recursive, int depth)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);

	if (!d)
		finish(errno, "list %s", *rel ? rel : ".");
	while ((errno = 0, de = readdir(d))) {
		char name[MSB_FPATH_MAX + 1], link[MSB_FPATH_MAX + 1];
		uint8_t stb[MSB_FSTAT_LEN];
		struct stat st;
		ssize_t l = 0;
		int k;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		k = snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "",
			     de->d_name);
		if (k < 0 || (size_t)k >= sizeof(name))
			finish(ENAMETOOLONG, "list %s/%s", rel, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone since readdir */
		stat_put(stb, &st);
		if (S_ISLNK(st.st_mode))
			l = readlinkat(dirfd(d), de->d_name, link,
				       sizeof(link) - 1);
		out_entry(stb, name, (size_t)k, link, l > 0 ? (size_t)l : 0);
		listed++;
		if (recursive && S_ISDIR(st.st_mode)) {
			int sub;

			if (depth >= LIST_DEPTH_MAX)
				finish(ELOOP, "list %s", name);
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (sub < 0)
				finish(errno, "list %s", name);
			list_dir(sub, name, recursive, depth + 1);
		}
	}
	if (errno)
		finish(errno, "list %s", *rel ? rel : ".");
	closedir(d);
}

static void op_list(const struct file_req *r)
{
	int fd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		finish(errno, "list %s", r->path);
	list_dir(fd, "", !!(r->flags & MSB_FOP_F_RECURSIVE), 0);
	out_flush();
	msb_tlv_put_u64(&res, MSB_T_SIZE, listed);
	finish(0, NULL);
}

/* ---- the rest ------------------------------------------------------------ */

static void op_stat(const struct file_req *r)
{
	uint8_t stb[MSB_FSTAT_LEN];
	struct stat st;

	if (fstatat(AT_FDCWD, r->path, &st,
		    r->flags & MSB_FOP_F_NOFOLLOW ? AT_SYMLINK_NOFOLLOW : 0) < 0)
		finish(errno, "stat %s", r->path);
	stat_put(stb, &st);
	msb_tlv_put(&res, MSB_T_STAT, stb, sizeof(stb));
	if (S_ISLNK(st.st_mode)) {
		char link[MSB_FPATH_MAX + 1];
		ssize_t l = readlink(r->path, link, sizeof(link) - 1);

		if (l > 0)
			msb_tlv_put(&res, MSB_T_LINK, link, (size_t)l);
	}
	finish(0, NULL);
}

static void op_mkdir(const struct file_req *r)
{
	mode_t mode = r->has_mode ? r->mode : 0755;
	struct stat st;
	int e = 0;

	if ((r->flags & MSB_FOP_F_PARENTS) &&
	    !((r->flags & MSB_FOP_F_EXCL) && stat(r->path, &st) == 0))
		e = mkdir_p(r->path, mode);
	else if (mkdir(r->path, mode) < 0)
		e = -errno;
	if (e < 0)
		finish(-e, "mkdir %s", r->path);
	if (r->has_mode && chmod(r->path, mode) < 0)
		finish(errno, "chmod %s", r->path);
	finish(0, NULL);
}

/* rm_children() - empty the directory @dfd (consumed), not following
 * symlinks. Return: 0 or -errno, with @what naming the entry */
static int rm_children(int dfd, int depth, char *what, size_t wn)
{
	DIR *d = fdopendir(dfd);
	int again = 1, r = 0;

	if (!d)
		return -errno;
	while (again && !r) {
		struct dirent *de;

		again = 0;
		rewinddir(d);
		while (!r && (de = readdir(d))) {
			struct stat st;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (fstatat(dirfd(d), de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (S_ISDIR(st.st_mode)) {
				int sub = depth >= LIST_DEPTH_MAX ? -1 :
					openat(dirfd(d), de->d_name,
					       O_RDONLY | O_DIRECTORY |
						       O_NOFOLLOW | O_CLOEXEC);

				if (sub < 0)
					r = depth >= LIST_DEPTH_MAX ? -ELOOP :
								      -errno;
				else
					r = rm_children(sub, depth + 1, what,
							wn);
				if (!r && unlinkat(dirfd(d), de->d_name,
						   AT_REMOVEDIR) < 0)
					r = -errno;
			} else if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
				r = -errno;
			}
			if (r && !*what)
				snprintf(what, wn, "%s", de->d_name);
			again = 1;
		}
	}
	closedir(d);
	return r;
}

static void op_remove(const struct file_req *r)
{
	struct stat st;
	char what[256] = "";
	int fd, e;

	if (!(r->flags & MSB_FOP_F_RECURSIVE)) {
		if (unlink(r->path) == 0)
			finish(0, NULL);
		if (errno != EISDIR && errno != EPERM)
			finish(errno, "remove %s", r->path);
		if (rmdir(r->path) < 0)
			finish(errno, "remove %s", r->path);
		finish(0, NULL);
	}
	if (lstat(r->path, &st) < 0)
		finish(errno, "remove %s", r->path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(r->path) < 0)
			finish(errno, "remove %s", r->path);
		finish(0, NULL);
	}
	fd = open(r->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		finish(errno, "remove %s", r->path);
	e = rm_children(fd, 0, what, sizeof(what));
	if (e < 0)
		finish(-e, "remove %s (at %s)", r->path, what);
	if (rmdir(r->path) < 0)
		finish(errno, "remove %s", r->path);
	finish(0, NULL);
}

static void op_rename(const struct file_req *r)
{
	if (r->flags & MSB_FOP_F_EXCL) {
		/* RENAME_NOREPLACE (Linux 3.15) */
		if (syscall(SYS_renameat2, AT_FDCWD, r->path, AT_FDCWD,
			    r->path2, 1) < 0)
			finish(errno, "rename %s to %s", r->path, r->path2);
	} else if (rename(r->path, r->path2) < 0) {
		finish(errno, "rename %s to %s", r->path, r->path2);
	}
	finish(0, NULL);
}

static void op_symlink(const struct file_req *r)
{
	if (symlink(r->path2, r->path) < 0)
		finish(errno, "symlink %s", r->path);
	finish(0, NULL);
}

static void __attribute__((noreturn))
file_child(const struct file_req *r, const struct user_ids *u, int in,
	   int out, int resfd)
{
	const char *cwd = r->cwd && *r->cwd ? r->cwd : "/";
	sigset_t none;
	int null;

	signal(SIGPIPE, SIG_DFL); /* the agent's only ignored signal (exec.c) */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	/* stdin: WRITE's bytes (else /dev/null), stdout: data, stderr: the
	 * RESULT. Nothing else of the agent's stays open: a file process
	 * must not hold another stream's pipe. */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	dup2(in >= 0 ? in : null, 0);
	dup2(out, 1);
	dup2(resfd, 2);
	if (syscall(SYS_close_range, 3, ~0u, 0) < 0)
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
	msb_tlv_w_init(&res, res_buf, sizeof(res_buf));
	if (setgroups((size_t)u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 ||
	    setuid(u->uid) < 0)
		finish(errno, "switch to user %s", r->user ? r->user : "root");
	umask(022);
	if (chdir(cwd) < 0 && r->path[0] != '/')
		finish(errno, "change directory to %s", cwd);
	switch (r->op) {
	case MSB_FOP_READ:
		op_read(r);
		break;
	case MSB_FOP_WRITE:
		op_write(r);
		break;
	case MSB_FOP_LIST:
		op_list(r);
		break;
	case MSB_FOP_STAT:
		op_stat(r);
		break;
	case MSB_FOP_MKDIR:
		op_mkdir(r);
		break;
	case MSB_FOP_REMOVE:
		op_remove(r);
		break;
	case MSB_FOP_RENAME:
		op_rename(r);
		break;
	case MSB_FOP_SYMLINK:
		op_symlink(r);
		break;
	}
	finish(EINVAL, "operation %u", r->op);
}

/* ---- in the agent ------------------------------------------------------------ */

int file_spawn(const struct file_req *r, struct exec_child *c,
	       struct agent_err *e)
{
	int in[2] = { -1, -1 }, out[2], res[2];
	struct user_ids u;
	pid_t pid;
	int ret;

	ret = user_resolve(r->user, &u, e);
	if (ret)
		return ret;
	if (pipe2(out, O_CLOEXEC) < 0)
		return agent_fail(e, errno, "FILE: pipe");
	if (pipe2(res, O_CLOEXEC) < 0) {
		ret = agent_fail(e, errno, "FILE: pipe");
		goto close_out;
	}
	if (r->op == MSB_FOP_WRITE && pipe2(in, O_CLOEXEC) < 0) {
		ret = agent_fail(e, errno, "FILE: pipe");
		goto close_res;
	}
	pid = fork();
	if (pid < 0) {
		ret = agent_fail(e, errno, "FILE: fork");
		goto close_in;
	}
	if (pid == 0)
		file_child(r, &u, in[0], out[1], res[1]);
	close(out[1]);
	close(res[1]);
	if (in[0] >= 0)
		close(in[0]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(res[0], F_SETFL, O_NONBLOCK);
	if (in[1] >= 0)
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->out = out[0];
	c->err = res[0];
	c->in = in[1];
	return 0;
close_in:
	if (in[0] >= 0) {
		close(in[0]);
		close(in[1]);
	}
close_res:
	close(res[0]);
	close(res[1]);
close_out:
	close(out[0]);
	close(out[1]);
	return ret;
}
