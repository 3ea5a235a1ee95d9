// SPDX-License-Identifier: Apache-2.0
/* conformance.c - POSIX behaviour of one directory, as a line report
 *
 * Built static (musl) and run inside a guest, on a volume and on a
 * guest-local tmpfs; tests/e2e/test_volumes.py compares the two reports,
 * which must match except where docs/filesystems.md says why. (C rather
 * than Python: the Debian test image's python3-minimal has no mmap, ctypes
 * or json, and busybox cannot reach renameat2, fallocate or xattrs.)
 *
 *   conformance DIR [CHECK...]
 *
 * prints "check: values..." per check. Values depend only on behaviour,
 * never on inode numbers or clocks: results, errno names (E:ENOENT), sizes,
 * modes, contents. Every operation FUSE carries is exercised: lookup,
 * forget, getattr, setattr, readlink, symlink, mknod, mkdir, unlink, rmdir,
 * rename(2) and its flags, link, open, read, write, statfs, release, fsync,
 * xattrs, flush, opendir, readdir(plus), releasedir, fsyncdir, locks,
 * access, create, fallocate, lseek, copy_file_range; plus mmap (shared and
 * private), large and sparse files, 10 000 entries, concurrent writers and
 * permissions (children that drop to uid 1000). Runs as root.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static char out[65536];
static size_t outn;

/* put() - one value of the current check's line */
static void put(const char *fmt, ...)
{
	va_list ap;

	if (outn < sizeof(out) - 2)
		out[outn++] = ' ';
	va_start(ap, fmt);
	outn += (size_t)vsnprintf(out + outn, sizeof(out) - outn, fmt, ap);
	va_end(ap);
	if (outn > sizeof(out) - 2)
		outn = sizeof(out) - 2;
}

static const char *ename(int e)
{
	static char buf[16];
	static const struct {
		int e;
		const char *n;
	} t[] = {
		{ ENOENT, "ENOENT" }, { EEXIST, "EEXIST" }, { EACCES, "EACCES" },
		{ EPERM, "EPERM" }, { ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" },
		{ ENOTEMPTY, "ENOTEMPTY" }, { EINVAL, "EINVAL" },
		{ ENAMETOOLONG, "ENAMETOOLONG" }, { ENODATA, "ENODATA" },
		{ EROFS, "EROFS" }, { ENOSPC, "ENOSPC" }, { EXDEV, "EXDEV" },
		{ EAGAIN, "EAGAIN" }, { ENOSYS, "ENOSYS" },
		{ EOPNOTSUPP, "EOPNOTSUPP" }, { EBADF, "EBADF" }, { EIO, "EIO" },
		{ ENXIO, "ENXIO" }, { EMLINK, "EMLINK" }, { ELOOP, "ELOOP" },
		{ EBUSY, "EBUSY" }, { E2BIG, "E2BIG" }, { ERANGE, "ERANGE" },
		{ EFBIG, "EFBIG" }, { ETXTBSY, "ETXTBSY" },
		{ ENODEV, "ENODEV" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].e == e)
			return t[i].n;
	snprintf(buf, sizeof(buf), "%d", e);
	return buf;
}

/* res() - "ok", a count, or E:NAME for a call's return value */
static void res(long r)
{
	if (r < 0)
		put("E:%s", ename(errno));
	else if (r == 0)
		put("ok");
	else
		put("%ld", r);
}

static void wfile(const char *p, const char *data, size_t n, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0) {
		put("E:%s(create)", ename(errno));
		return;
	}
	if (write(fd, data, n) != (ssize_t)n)
		put("short-write");
	close(fd);
}

static long wfile_r(const char *p, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static ssize_t rfile(const char *p, char *buf, size_t n)
{
	int fd = open(p, O_RDONLY);
	ssize_t k;

	if (fd < 0)
		return -1;
	k = read(fd, buf, n);
	close(fd);
	return k;
}

static void put_file(const char *p)
{
	char b[256];
	ssize_t k = rfile(p, b, sizeof(b) - 1);

	if (k < 0)
		put("E:%s", ename(errno));
	else
		put("'%.*s'", (int)k, b);
}

static char P[4096];

/* path() - DIR/fmt, in a static buffer of its own (four in rotation) */
static const char *path(const char *dir, const char *fmt, ...)
{
	static char bufs[4][4096];
	static int i;
	char *b = bufs[i++ & 3];
	size_t n = (size_t)snprintf(b, 4096, "%s/", dir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b + n, 4096 - n, fmt, ap);
	va_end(ap);
	return b;
}

/* as_user() - run @fn(@dir) in a child with uid/gid 1000; its output is
 * appended to the line through a pipe. */
static void as_user(void (*fn)(const char *), const char *dir)
{
	int pfd[2];
	pid_t pid;
	char buf[4096];
	ssize_t k;

	if (pipe(pfd) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		outn = 0;
		if (setgroups(0, NULL) || setgid(1000) || setuid(1000))
			put("cannot-drop");
		else
			fn(dir);
		if (write(pfd[1], out, outn) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	while ((k = read(pfd[0], buf, sizeof(buf))) > 0) {
		if (outn + (size_t)k < sizeof(out) - 2) {
			memcpy(out + outn, buf, (size_t)k);
			outn += (size_t)k;
		}
	}
	close(pfd[0]);
	waitpid(pid, NULL, 0);
}

/* ---- files ---------------------------------------------------------------- */

static void c_create_write_read(const char *d)
{
	struct stat st;

	wfile(path(d, "f"), "hello world", 11, 0644);
	stat(path(d, "f"), &st);
	put_file(path(d, "f"));
	put("%lld %o %d %lu", (long long)st.st_size, st.st_mode,
	    S_ISREG(st.st_mode), (unsigned long)st.st_nlink);
}

static void c_create_exclusive(const char *d)
{
	struct stat st;
	int fd = open(path(d, "x"), O_CREAT | O_EXCL | O_WRONLY, 0600);

	close(fd);
	stat(path(d, "x"), &st);
	put("%o", st.st_mode & 07777);
	res(open(path(d, "x"), O_CREAT | O_EXCL | O_WRONLY, 0600));
	res(open(path(d, "nope"), O_RDONLY));
	res(stat(path(d, "nope/deeper"), &st));
	res(stat(path(d, "x/deeper"), &st));
}

static void c_pread_pwrite_append(const char *d)
{
	char b[16] = { 0 };
	int fd;

	wfile(path(d, "rw"), "0123456789", 10, 0644);
	fd = open(path(d, "rw"), O_RDWR);
	pwrite(fd, "AB", 2, 3);
	pread(fd, b, 4, 2);
	close(fd);
	put("'%s'", b);
	fd = open(path(d, "rw"), O_WRONLY | O_APPEND);
	write(fd, "END", 3);
	close(fd);
	put_file(path(d, "rw"));
	fd = open(path(d, "rw"), O_RDONLY);
	res(write(fd, "x", 1));
	close(fd);
	res(open(d, O_WRONLY));
}

static void c_truncate(const char *d)
{
	char big[8192];
	struct stat st;
	int fd, zero = 1;

	memset(big, 'x', 5000);
	wfile(path(d, "t"), big, 5000, 0644);
	res(truncate(path(d, "t"), 10));
	stat(path(d, "t"), &st);
	put("%lld", (long long)st.st_size);
	fd = open(path(d, "t"), O_RDWR);
	res(ftruncate(fd, 8192));
	pread(fd, big, 8192, 0);
	for (int i = 10; i < 8192; i++)
		zero &= big[i] == 0;
	close(fd);
	put("%d %.10s", zero, big);
	fd = open(path(d, "t"), O_RDWR | O_TRUNC);
	fstat(fd, &st);
	put("%lld", (long long)st.st_size);
	close(fd);
}

static void c_setattr(const char *d)
{
	struct timespec ts[2] = { { 1000000000, 123456789 },
				  { 2000000000, 987654321 } };
	struct stat st;

	wfile(path(d, "attr"), "a", 1, 0644);
	res(chmod(path(d, "attr"), 04751));
	stat(path(d, "attr"), &st);
	put("%o", st.st_mode);
	res(chown(path(d, "attr"), 1234, 5678));
	stat(path(d, "attr"), &st);
	put("%u:%u %o", st.st_uid, st.st_gid, st.st_mode);
	res(utimensat(AT_FDCWD, path(d, "attr"), ts, 0));
	stat(path(d, "attr"), &st);
	put("%lld.%09ld %lld.%09ld", (long long)st.st_atim.tv_sec,
	    st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec,
	    st.st_mtim.tv_nsec);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = (struct timespec){ 42, 0 };
	res(utimensat(AT_FDCWD, path(d, "attr"), ts, 0));
	stat(path(d, "attr"), &st);
	put("%lld %lld", (long long)st.st_atim.tv_sec,
	    (long long)st.st_mtim.tv_sec);
}

static void u_write_suid(const char *d)
{
	int fd = open(path(d, "suid"), O_WRONLY);

	res(fd < 0 ? -1 : write(fd, "b", 1));
	close(fd);
}

static void c_write_clears_setuid(const char *d)
{
	struct stat st;

	wfile(path(d, "suid"), "a", 1, 0777);
	chown(path(d, "suid"), 1000, 1000);
	chmod(path(d, "suid"), 06777);
	as_user(u_write_suid, d);
	stat(path(d, "suid"), &st);
	put("%o", st.st_mode);
}

static void c_fsync(const char *d)
{
	int fd = open(path(d, "sync"), O_WRONLY | O_CREAT, 0644);

	write(fd, "data", 4);
	res(fsync(fd));
	res(fdatasync(fd));
	res(syncfs(fd));
	close(fd);
	fd = open(d, O_RDONLY | O_DIRECTORY);
	res(fsync(fd));
	close(fd);
}

static void c_statfs(const char *d)
{
	struct statvfs s;

	res(statvfs(d, &s));
	put("%d %d %lu", s.f_bsize > 0, s.f_blocks > 0, s.f_namemax);
}

static void u_access(const char *d)
{
	res(access(path(d, "acc"), R_OK));
	res(access(path(d, "acc"), W_OK));
	res(access(path(d, "pub"), R_OK));
	res(access(path(d, "pub"), W_OK));
	res(faccessat(AT_FDCWD, path(d, "pub"), R_OK, AT_EACCESS));
}

static void c_access(const char *d)
{
	wfile(path(d, "acc"), "", 0, 0640);
	wfile(path(d, "pub"), "", 0, 0644);
	res(access(path(d, "acc"), R_OK | W_OK));
	res(access(path(d, "acc"), X_OK));
	res(access(path(d, "missing"), F_OK));
	as_user(u_access, d);
}

/* ---- names ---------------------------------------------------------------- */

static void c_mkdir_rmdir(const char *d)
{
	struct stat st;

	res(mkdir(path(d, "dir"), 0750));
	stat(path(d, "dir"), &st);
	put("%o %lu", st.st_mode, (unsigned long)st.st_nlink);
	mkdir(path(d, "dir/sub"), 0755);
	stat(path(d, "dir"), &st);
	put("%lu", (unsigned long)st.st_nlink);
	res(rmdir(path(d, "dir")));
	res(mkdir(path(d, "dir"), 0755));
	rmdir(path(d, "dir/sub"));
	res(rmdir(path(d, "dir")));
	wfile(path(d, "file"), "", 0, 0644);
	res(rmdir(path(d, "file")));
	mkdir(path(d, "dir2"), 0755);
	res(unlink(path(d, "dir2")));
	res(rmdir(path(d, "dir2/.")));
}

static void c_unlink_open_file(const char *d)
{
	char b[32] = { 0 };
	struct stat st;
	int fd;

	wfile(path(d, "gone"), "still readable", 14, 0644);
	fd = open(path(d, "gone"), O_RDONLY);
	res(unlink(path(d, "gone")));
	res(access(path(d, "gone"), F_OK));
	read(fd, b, sizeof(b) - 1);
	fstat(fd, &st);
	put("'%s' %lu", b, (unsigned long)st.st_nlink);
	close(fd);
	res(unlink(path(d, "gone")));
}

static void c_symlink_readlink(const char *d)
{
	char b[256];
	struct stat st;
	ssize_t n;

	res(symlink("target/../x", path(d, "ln")));
	res(symlink("/absolute/elsewhere", path(d, "abs")));
	wfile(path(d, "real"), "R", 1, 0644);
	symlink("real", path(d, "rel"));
	n = readlink(path(d, "ln"), b, sizeof(b));
	put("'%.*s'", (int)(n > 0 ? n : 0), b);
	n = readlink(path(d, "abs"), b, sizeof(b));
	put("'%.*s'", (int)(n > 0 ? n : 0), b);
	lstat(path(d, "ln"), &st);
	put("%d %lld %o", S_ISLNK(st.st_mode), (long long)st.st_size,
	    st.st_mode);
	put_file(path(d, "rel"));
	res(readlink(path(d, "real"), b, sizeof(b)));
	res(stat(path(d, "abs"), &st));
	res(symlink("x", path(d, "real")));
	symlink("loop2", path(d, "loop1"));
	symlink("loop1", path(d, "loop2"));
	res(open(path(d, "loop1"), O_RDONLY));
	res(open(path(d, "rel"), O_RDONLY | O_NOFOLLOW));
}

static void c_hard_links(const char *d)
{
	struct stat a, b;
	int fd;

	wfile(path(d, "h1"), "same", 4, 0644);
	res(link(path(d, "h1"), path(d, "h2")));
	stat(path(d, "h1"), &a);
	stat(path(d, "h2"), &b);
	put("%lu %d", (unsigned long)a.st_nlink, a.st_ino == b.st_ino);
	fd = open(path(d, "h2"), O_WRONLY | O_APPEND);
	write(fd, "+", 1);
	close(fd);
	put_file(path(d, "h1"));
	unlink(path(d, "h1"));
	stat(path(d, "h2"), &b);
	put("%lu", (unsigned long)b.st_nlink);
	mkdir(path(d, "hd"), 0755);
	res(link(path(d, "hd"), path(d, "hd2")));
	res(link(path(d, "h2"), path(d, "h2")));
}

static void c_rename(const char *d)
{
	wfile(path(d, "a"), "A", 1, 0644);
	wfile(path(d, "b"), "B", 1, 0644);
	res(rename(path(d, "a"), path(d, "b")));
	res(access(path(d, "a"), F_OK));
	put_file(path(d, "b"));
	mkdir(path(d, "d1"), 0755);
	mkdir(path(d, "d2"), 0755);
	wfile(path(d, "d2/f"), "", 0, 0644);
	res(rename(path(d, "d1"), path(d, "d2")));
	res(rename(path(d, "b"), path(d, "d1")));
	res(rename(path(d, "d1"), path(d, "b")));
	res(rename(path(d, "d1"), path(d, "d1/inside")));
	res(rename(path(d, "d2/f"), path(d, "d1/moved")));
	res(access(path(d, "d1/moved"), F_OK));
	mkdir(path(d, "d3"), 0755);
	res(rename(path(d, "d3"), path(d, "d2/f-gone")));
	res(rename(path(d, "b"), path(d, "b")));
}

static long renameat2(const char *a, const char *b, unsigned int flags)
{
	return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

static void c_renameat2(const char *d)
{
	wfile(path(d, "x"), "X", 1, 0644);
	wfile(path(d, "y"), "Y", 1, 0644);
	res(renameat2(path(d, "x"), path(d, "y"), 1)); /* RENAME_NOREPLACE */
	res(renameat2(path(d, "x"), path(d, "y"), 2)); /* RENAME_EXCHANGE */
	put_file(path(d, "x"));
	put_file(path(d, "y"));
	res(renameat2(path(d, "x"), path(d, "z"), 1));
	res(renameat2(path(d, "y"), path(d, "none"), 2));
	res(renameat2(path(d, "y"), path(d, "w"), 4)); /* RENAME_WHITEOUT */
}

static void c_mknod(const char *d)
{
	struct stat st;

	res(mkfifo(path(d, "fifo"), 0644));
	stat(path(d, "fifo"), &st);
	put("%o", st.st_mode);
	res(mknod(path(d, "null"), S_IFCHR | 0644, makedev(1, 3)));
	if (stat(path(d, "null"), &st) == 0)
		put("%o %u:%u", st.st_mode, major(st.st_rdev),
		    minor(st.st_rdev));
	res(open(path(d, "null"), O_RDONLY));
	res(mknod(path(d, "sock"), S_IFSOCK | 0644, 0));
	res(mknod(path(d, "reg"), S_IFREG | 0600, 0));
	if (stat(path(d, "reg"), &st) == 0)
		put("%o", st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void c_readdir(const char *d)
{
	char *names[16];
	int n = 0;
	DIR *dir;
	struct dirent *e;

	mkdir(path(d, "ls"), 0755);
	wfile(path(d, "ls/b"), "b", 1, 0644);
	wfile(path(d, "ls/a"), "aa", 2, 0644);
	mkdir(path(d, "ls/sub"), 0755);
	symlink("a", path(d, "ls/link"));
	mkfifo(path(d, "ls/pipe"), 0644);
	dir = opendir(path(d, "ls"));
	while ((e = readdir(dir)) && n < 16) {
		char *s;
		struct stat st;

		lstat(path(d, "ls/%s", e->d_name), &st);
		if (asprintf(&s, "%s:%d:%lld", e->d_name, e->d_type,
			     S_ISDIR(st.st_mode) ? 0ll : (long long)st.st_size) < 0)
			break;
		names[n++] = s;
	}
	/* rewinddir and read again: the same count */
	rewinddir(dir);
	{
		int again = 0;

		while (readdir(dir))
			again++;
		put("%d %d", n, again);
	}
	closedir(dir);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		put("%s", names[i]);
		free(names[i]);
	}
	res(opendir(path(d, "ls/a")) ? 0 : -1);
}

static void c_ten_thousand(const char *d)
{
	static char seen[10000];
	int n = 0, bad = 0, dots = 0, left = 0;
	DIR *dir;
	struct dirent *e;

	mkdir(path(d, "many"), 0755);
	for (int i = 0; i < 10000; i++)
		if (wfile_r(path(d, "many/entry-%05d", i), 0644) < 0)
			bad++;
	dir = opendir(path(d, "many"));
	while ((e = readdir(dir))) {
		int k;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
			dots++;
			continue;
		}
		if (sscanf(e->d_name, "entry-%d", &k) == 1 && k >= 0 &&
		    k < 10000 && !seen[k])
			seen[k] = 1, n++;
		else
			bad++;
	}
	closedir(dir);
	for (int i = 0; i < 10000; i += 2)
		unlink(path(d, "many/entry-%05d", i));
	dir = opendir(path(d, "many"));
	while ((e = readdir(dir)))
		left += e->d_name[0] != '.';
	closedir(dir);
	put("%d %d %d %d", n, bad, dots, left);
}

/* Not in the default run (named only): 2000 files made, read, looked at and
 * removed one after another, for a test that the server lets go of what
 * the guest forgets. */
static void c_churn(const char *d)
{
	int bad = 0;

	for (int i = 0; i < 2000; i++) {
		char buf[16];
		struct stat st;
		int fd;

		int n = snprintf(buf, sizeof(buf), "%d\n", i);

		fd = open(path(d, "f%d", i), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, (size_t)n) != n)
			bad++;
		if (fd >= 0)
			close(fd);
		fd = open(path(d, "f%d", i), O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof(buf)) < 0)
			bad++;
		if (fd >= 0)
			close(fd);
		if (stat(path(d, "f%d", i), &st) < 0 || unlink(path(d, "f%d", i)) < 0)
			bad++;
	}
	put("2000 %d", bad);
}

static void c_long_names(const char *d)
{
	char name[300];

	memset(name, 'n', 255);
	name[255] = '\0';
	res(wfile_r(path(d, "%s", name), 0644));
	name[255] = 'n';
	name[256] = '\0';
	res(wfile_r(path(d, "%s", name), 0644));
}

/* ---- data ----------------------------------------------------------------- */

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void c_large_file(const char *d)
{
	static unsigned char chunk[1 << 20], back[1 << 20];
	uint64_t hw = 14695981039346656037ull, hr = hw;
	struct stat st;
	int fd;

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (unsigned char)(i * 2654435761u >> 13);
	fd = open(path(d, "large"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < 48; i++) {
		chunk[0] = (unsigned char)i;
		if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			put("short-write");
		hw = fnv(chunk, sizeof(chunk), hw);
	}
	close(fd);
	fd = open(path(d, "large"), O_RDONLY);
	for (;;) {
		ssize_t k = read(fd, back, sizeof(back));

		if (k <= 0)
			break;
		hr = fnv(back, (size_t)k, hr);
	}
	fstat(fd, &st);
	close(fd);
	put("%lld %d", (long long)st.st_size, hw == hr);
}

static void c_sparse_file(const char *d)
{
	char b[8] = { 1 };
	struct stat st;
	off_t o;
	int fd = open(path(d, "sparse"), O_RDWR | O_CREAT, 0644);

	pwrite(fd, "start", 5, 0);
	pwrite(fd, "end", 3, 5ll << 30);
	fstat(fd, &st);
	pread(fd, b, 8, 1ll << 30);
	put("%lld %d %d", (long long)st.st_size, st.st_blocks * 512 < (1 << 20),
	    !memcmp(b, "\0\0\0\0\0\0\0\0", 8));
	res(lseek(fd, 0, SEEK_DATA));
	o = lseek(fd, 4096, SEEK_DATA);
	put("%d", o >= 4096 && o <= 5ll << 30);
	o = lseek(fd, 0, SEEK_HOLE);
	put("%d", o >= 5 && o <= 5ll << 30);
	res(lseek(fd, 6ll << 30, SEEK_DATA));
	res(lseek(fd, 0, SEEK_END));
	close(fd);
}

static void c_fallocate(const char *d)
{
	char ff[65536], b[4];
	struct stat st;
	int fd = open(path(d, "falloc"), O_RDWR | O_CREAT, 0644);

	res(fallocate(fd, 0, 0, 1 << 20));
	fstat(fd, &st);
	put("%lld", (long long)st.st_size);
	memset(ff, 0xff, sizeof(ff));
	pwrite(fd, ff, sizeof(ff), 0);
	res(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192));
	pread(fd, b, 4, 4096);
	put("%d", !memcmp(b, "\0\0\0\0", 4));
	pread(fd, b, 4, 0);
	put("%d", !memcmp(b, "\xff\xff\xff\xff", 4));
	res(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20));
	fstat(fd, &st);
	put("%lld", (long long)st.st_size);
	res(posix_fallocate(fd, 0, 2 << 20) ? (errno = EOPNOTSUPP, -1) : 0);
	close(fd);
}

static void c_copy_file_range(const char *d)
{
	char src[10000], b[16] = { 0 };
	loff_t in = 5000, o = 0;
	struct stat st;
	int a, w;

	for (int i = 0; i < 10000; i++)
		src[i] = (char)('0' + i % 10);
	wfile(path(d, "src"), src, sizeof(src), 0644);
	a = open(path(d, "src"), O_RDONLY);
	w = open(path(d, "dst"), O_WRONLY | O_CREAT, 0644);
	res(syscall(SYS_copy_file_range, a, &in, w, &o, 10, 0));
	close(a);
	close(w);
	rfile(path(d, "dst"), b, 12);
	stat(path(d, "dst"), &st);
	put("'%s' %lld", b, (long long)st.st_size);
}

static void c_mmap_shared(const char *d)
{
	char zero[8192] = { 0 }, b[8] = { 0 };
	int fd;
	char *m;

	wfile(path(d, "mm"), zero, sizeof(zero), 0644);
	fd = open(path(d, "mm"), O_RDWR);
	m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		put("E:%s", ename(errno));
		close(fd);
		return;
	}
	memcpy(m + 100, "hello", 5);
	res(msync(m, 8192, MS_SYNC));
	pread(fd, b, 5, 100);
	put("'%s'", b);
	pwrite(fd, "WORLD", 5, 200);
	put("'%.5s'", m + 200);
	munmap(m, 8192);
	close(fd);
	fd = open(path(d, "mm"), O_RDONLY);
	pread(fd, b, 5, 100);
	close(fd);
	put("'%s'", b);
	/* a shared writable map of a read-only descriptor */
	fd = open(path(d, "mm"), O_RDONLY);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	put("%s", m == MAP_FAILED ? ename(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, 4096);
	close(fd);
}

static void c_mmap_private(const char *d)
{
	char a[4096], b[8] = { 0 };
	int fd;
	char *m;

	memset(a, 'A', sizeof(a));
	wfile(path(d, "mp"), a, sizeof(a), 0644);
	fd = open(path(d, "mp"), O_RDONLY);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		put("E:%s", ename(errno));
		close(fd);
		return;
	}
	memcpy(m, "BBBBB", 5);
	put("'%.5s'", m);
	munmap(m, 4096);
	close(fd);
	rfile(path(d, "mp"), b, 5);
	put("'%s'", b);
}

static void c_concurrent_writers(const char *d)
{
	static char data[64 * 4096];
	pid_t pids[5];
	int fd, lines = 0, bad = 0, per[4] = { 0 }, blocks = 1;
	char line[64];
	FILE *f;

	wfile(path(d, "log"), "", 0, 0644);
	wfile(path(d, "blocks"), "", 0, 0644);
	for (int w = 0; w < 4; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			fd = open(path(d, "log"), O_WRONLY | O_APPEND);
			for (int i = 0; i < 500; i++) {
				int n = snprintf(line, sizeof(line),
						 "writer%d line%04d\n", w, i);

				write(fd, line, (size_t)n);
			}
			_exit(0);
		}
	}
	pids[4] = fork();
	if (pids[4] == 0) {
		fd = open(path(d, "blocks"), O_WRONLY);
		for (int i = 0; i < 64; i += 2) {
			memset(data, i, 4096);
			pwrite(fd, data, 4096, (off_t)i * 4096);
		}
		_exit(0);
	}
	fd = open(path(d, "blocks"), O_WRONLY);
	for (int i = 1; i < 64; i += 2) {
		char blk[4096];

		memset(blk, i, sizeof(blk));
		pwrite(fd, blk, 4096, (off_t)i * 4096);
	}
	close(fd);
	for (int i = 0; i < 5; i++)
		waitpid(pids[i], NULL, 0);
	f = fopen(path(d, "log"), "r");
	while (f && fgets(line, sizeof(line), f)) {
		int w, i;

		lines++;
		if (strlen(line) != 17 ||
		    sscanf(line, "writer%d line%d", &w, &i) != 2 || w < 0 ||
		    w > 3)
			bad++;
		else
			per[w]++;
	}
	if (f)
		fclose(f);
	rfile(path(d, "blocks"), data, sizeof(data));
	fd = open(path(d, "blocks"), O_RDONLY);
	read(fd, data, sizeof(data));
	close(fd);
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < 4096; j++)
			blocks &= data[i * 4096 + j] == (char)i;
	put("%d %d %d %d %d %d %d", lines, bad, per[0], per[1], per[2], per[3],
	    blocks);
}

/* ---- locks ---------------------------------------------------------------- */

static int setlk(int fd, short type, off_t start, off_t len)
{
	struct flock l = { .l_type = type, .l_whence = SEEK_SET,
			   .l_start = start, .l_len = len };

	return fcntl(fd, F_SETLK, &l);
}

static void c_posix_locks(const char *d)
{
	int fd, pfd[2];
	pid_t pid;
	char buf[256];
	ssize_t k;

	wfile(path(d, "lock"), "xxxxxxxxxxxxxxxxxxxx", 20, 0644);
	fd = open(path(d, "lock"), O_RDWR);
	res(setlk(fd, F_WRLCK, 0, 10));
	pipe(pfd);
	pid = fork();
	if (pid == 0) {
		int f2 = open(path(d, "lock"), O_RDWR);
		struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				   .l_start = 5, .l_len = 1 };

		outn = 0;
		res(setlk(f2, F_WRLCK, 0, 10));
		res(setlk(f2, F_RDLCK, 5, 1));
		res(setlk(f2, F_WRLCK, 10, 10));
		fcntl(f2, F_GETLK, &l);
		put("%d %lld %lld %d", l.l_type == F_WRLCK, (long long)l.l_start,
		    (long long)l.l_len, l.l_pid == getppid());
		write(pfd[1], out, outn);
		_exit(0);
	}
	close(pfd[1]);
	waitpid(pid, NULL, 0);
	while ((k = read(pfd[0], buf, sizeof(buf))) > 0)
		if (outn + (size_t)k < sizeof(out) - 2) {
			memcpy(out + outn, buf, (size_t)k);
			outn += (size_t)k;
		}
	close(pfd[0]);
	res(setlk(fd, F_UNLCK, 0, 10));
	close(fd);
}

static void c_flock(const char *d)
{
	int a, b;

	wfile(path(d, "flock"), "", 0, 0644);
	a = open(path(d, "flock"), O_RDONLY);
	b = open(path(d, "flock"), O_RDONLY);
	res(flock(a, LOCK_EX));
	res(flock(b, LOCK_EX | LOCK_NB));
	res(flock(b, LOCK_SH | LOCK_NB));
	res(flock(a, LOCK_UN));
	res(flock(b, LOCK_SH | LOCK_NB));
	close(a);
	close(b);
}

/* ---- xattrs --------------------------------------------------------------- */

static void c_xattrs(const char *d)
{
	const char *p = path(d, "xa");
	char b[256];
	ssize_t n;

	wfile(p, "", 0, 0644);
	res(setxattr(p, "user.one", "value-1", 7, 0));
	res(setxattr(p, "user.two", "", 0, 0));
	n = getxattr(p, "user.one", b, sizeof(b));
	if (n < 0)
		put("E:%s", ename(errno));
	else
		put("'%.*s'", (int)n, b);
	res(getxattr(p, "user.one", NULL, 0));
	res(getxattr(p, "user.one", b, 2));
	n = listxattr(p, b, sizeof(b));
	{
		/* the user.* names, in order (others, like security.*,
		 * depend on the filesystem) */
		int one = 0, two = 0;

		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(b + i) + 1) {
			one |= !strcmp(b + i, "user.one");
			two |= !strcmp(b + i, "user.two");
		}
		put("list:%d%d", one, two);
	}
	res(getxattr(p, "user.missing", b, sizeof(b)));
	res(setxattr(p, "user.one", "x", 1, XATTR_CREATE));
	res(setxattr(p, "user.new", "x", 1, XATTR_REPLACE));
	res(removexattr(p, "user.one"));
	res(removexattr(p, "user.one"));
	res(setxattr(p, "trusted.t", "root only", 9, 0));
	res(lsetxattr(path(d, "nolink"), "user.x", "1", 1, 0));
	mkdir(path(d, "xd"), 0755);
	res(setxattr(path(d, "xd"), "user.dir", "d", 1, 0));
}

/* ---- permissions ---------------------------------------------------------- */

static void u_perm(const char *d)
{
	struct stat st;

	put_file(path(d, "perm/secret"));
	put_file(path(d, "perm/public"));
	res(wfile_r(path(d, "perm/new"), 0644));
	res(wfile_r(path(d, "perm/open/mine"), 0640));
	stat(path(d, "perm/open/mine"), &st);
	put("%o %u:%u", st.st_mode, st.st_uid, st.st_gid);
	res(unlink(path(d, "perm/sticky/roots")));
	res(chmod(path(d, "perm/public"), 0777));
	res(chown(path(d, "perm/open/mine"), 0, 0));
	res(utimensat(AT_FDCWD, path(d, "perm/public"), NULL, 0));
	res(mkdir(path(d, "perm/sub"), 0755));
	res(rename(path(d, "perm/public"), path(d, "perm/open/stolen")));
	res(opendir(path(d, "perm/closed")) ? 0 : -1);
	res(access(path(d, "perm/closed/inner"), F_OK));
}

static void c_permissions(const char *d)
{
	mkdir(path(d, "perm"), 0755);
	wfile(path(d, "perm/secret"), "s", 1, 0600);
	wfile(path(d, "perm/public"), "p", 1, 0644);
	mkdir(path(d, "perm/open"), 0777);
	chmod(path(d, "perm/open"), 0777);
	mkdir(path(d, "perm/sticky"), 01777);
	chmod(path(d, "perm/sticky"), 01777);
	wfile(path(d, "perm/sticky/roots"), "", 0, 0666);
	mkdir(path(d, "perm/closed"), 0700);
	wfile(path(d, "perm/closed/inner"), "", 0, 0644);
	as_user(u_perm, d);
}

static void c_umask_setgid(const char *d)
{
	struct stat st;
	mode_t old = umask(027);

	wfile(path(d, "um"), "", 0, 0666);
	mkdir(path(d, "umd"), 0777);
	umask(old);
	stat(path(d, "um"), &st);
	put("%o", st.st_mode);
	stat(path(d, "umd"), &st);
	put("%o", st.st_mode);
	mkdir(path(d, "sg"), 0775);
	chown(path(d, "sg"), 0, 4321);
	chmod(path(d, "sg"), 02775);
	wfile(path(d, "sg/child"), "", 0, 0644);
	mkdir(path(d, "sg/subdir"), 0755);
	stat(path(d, "sg/child"), &st);
	put("%u", st.st_gid);
	stat(path(d, "sg/subdir"), &st);
	put("%o %u", st.st_mode, st.st_gid);
}

static const struct {
	const char *name;
	void (*fn)(const char *dir);
} checks[] = {
	{ "create_write_read", c_create_write_read },
	{ "create_exclusive", c_create_exclusive },
	{ "pread_pwrite_append", c_pread_pwrite_append },
	{ "truncate", c_truncate },
	{ "setattr", c_setattr },
	{ "write_clears_setuid", c_write_clears_setuid },
	{ "fsync", c_fsync },
	{ "statfs", c_statfs },
	{ "access", c_access },
	{ "mkdir_rmdir", c_mkdir_rmdir },
	{ "unlink_open_file", c_unlink_open_file },
	{ "symlink_readlink", c_symlink_readlink },
	{ "hard_links", c_hard_links },
	{ "rename", c_rename },
	{ "renameat2", c_renameat2 },
	{ "mknod", c_mknod },
	{ "readdir", c_readdir },
	{ "ten_thousand_entries", c_ten_thousand },
	{ "long_names", c_long_names },
	{ "large_file", c_large_file },
	{ "sparse_file", c_sparse_file },
	{ "fallocate", c_fallocate },
	{ "copy_file_range", c_copy_file_range },
	{ "mmap_shared", c_mmap_shared },
	{ "mmap_private", c_mmap_private },
	{ "concurrent_writers", c_concurrent_writers },
	{ "posix_locks", c_posix_locks },
	{ "flock", c_flock },
	{ "xattrs", c_xattrs },
	{ "permissions", c_permissions },
	{ "umask_setgid", c_umask_setgid },
	{ "churn", c_churn },   /* run only when named */
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: conformance DIR [CHECK...]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		int want = argc == 2 && checks[i].fn != c_churn;

		for (int a = 2; a < argc; a++)
			want |= !strcmp(argv[a], checks[i].name);
		if (!want)
			continue;
		snprintf(P, sizeof(P), "%s/%s", argv[1], checks[i].name);
		if (mkdir(P, 0755) < 0) {
			printf("%s: E:%s(mkdir)\n", checks[i].name, ename(errno));
			continue;
		}
		outn = 0;
		checks[i].fn(P);
		out[outn] = '\0';
		printf("%s:%s\n", checks[i].name, out);
	}
	return 0;
}
