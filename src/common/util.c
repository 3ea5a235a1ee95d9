/* SPDX-License-Identifier: Apache-2.0 */
/* util.c - errors, files, sockets, base64 and paths */

#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "util.h"

int msb_fail(msb_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

int msb_fail_errno(msb_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t l;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		l = strlen(err->message);
		snprintf(err->message + l, sizeof(err->message) - l, ": %s",
			 strerror(-code));
	}
	return code;
}

int msb_fail_over(msb_error *err, int code, const char *fmt, ...)
{
	char msg[sizeof(err->message)];
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		err->code = code;
		memcpy(err->message, msg, sizeof(msg));
	}
	return code;
}

uint64_t msb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t msb_now_ms(void)
{
	return msb_now_us() / 1000;
}

int64_t msb_wall_s(void)
{
	return (int64_t)time(NULL);
}

int msb_mkdir_p(const char *path, int mode)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = i == n ? '\0' : '/';
	}
	{
		struct stat st;

		if (stat(path, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
}

static int rm_at(int dfd, const char *name)
{
	struct stat st;
	int fd, r = 0;
	DIR *d;
	struct dirent *e;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (rm_at(fd, e->d_name) < 0)
			r = -errno;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

int msb_rm_rf(const char *path)
{
	return rm_at(AT_FDCWD, path);
}

int msb_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int msb_send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		/* MSG_NOSIGNAL: a peer that went away is an EPIPE to report,
		 * never a SIGPIPE that kills the caller (an SDK's host
		 * process) without a word. */
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };

				poll(&pf, 1, -1);
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int msb_write_file(const char *path, const void *buf, size_t n, int mode)
{
	char tmp[PATH_MAX];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = msb_write_all(fd, buf, n);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

char *msb_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	while (buf) {
		ssize_t r;

		if (cap - n < 2) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			buf = NULL;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = n;
	}
	return buf;
}

int msb_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

int msb_have_exe(const char *name, char *found, size_t n)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];
	const char *p, *q;

	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return 0;
		if (found)
			snprintf(found, n, "%s", name);
		return 1;
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	/* Tools such as mke2fs live in sbin, which an ordinary user's PATH
	 * may lack. */
	for (int pass = 0; pass < 2; pass++) {
		for (p = pass ? "/usr/local/sbin:/usr/sbin:/sbin" : path; *p;
		     p = *q ? q + 1 : q) {
			q = strchrnul(p, ':');
			if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)(q - p),
				     p, name) >= (int)sizeof(buf))
				continue;
			if (access(buf, X_OK) == 0) {
				if (found)
					snprintf(found, n, "%s", buf);
				return 1;
			}
		}
	}
	return 0;
}

/* A sockaddr for @path; when it is too long for sun_path, a short alias via
 * /proc/self/fd/N of its directory, with *@dfd holding that directory. */
static int unix_addr(const char *path, struct sockaddr_un *a, int *dfd)
{
	const char *slash;
	char dir[PATH_MAX];

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	*dfd = -1;
	if (strlen(path) < sizeof(a->sun_path)) {
		strcpy(a->sun_path, path);
		return 0;
	}
	slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0)
		return -errno;
	if (snprintf(a->sun_path, sizeof(a->sun_path), "/proc/self/fd/%d/%s",
		     *dfd, slash + 1) >= (int)sizeof(a->sun_path)) {
		close(*dfd);
		*dfd = -1;
		return -ENAMETOOLONG;
	}
	return 0;
}

int msb_unix_listen(const char *path, int backlog)
{
	struct sockaddr_un a;
	int fd, dfd, r;

	r = unix_addr(path, &a, &dfd);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, backlog) < 0) {
		r = -errno;
		close(fd);
		goto out;
	}
	r = fd;
out:
	if (dfd >= 0)
		close(dfd);
	return r;
}

int msb_unix_connect(const char *path)
{
	struct sockaddr_un a;
	int fd, dfd, r;

	r = unix_addr(path, &a, &dfd);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		r = -errno;
		close(fd);
		goto out;
	}
	r = fd;
out:
	if (dfd >= 0)
		close(dfd);
	return r;
}

void msb_sockaddr_format(const struct sockaddr_storage *sa, char *buf,
			 size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, n, "%s:%u", ip, ntohs(a->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, n, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(buf, n, "?");
	}
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t msb_b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t msb_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long msb_b64_decode(const char *in, size_t n, uint8_t *out)
{
	size_t i, o = 0;

	if (n % 4)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1;
			v[k] = b64_val((unsigned char)in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = x >> 16;
		if (pad < 2)
			out[o++] = (x >> 8) & 0xff;
		if (pad < 1)
			out[o++] = x & 0xff;
	}
	return (long)o;
}

void msb_fmt_size_mib(uint64_t mib, char *buf, size_t n)
{
	if (mib >= 1024 && mib % 1024 == 0)
		snprintf(buf, n, "%lluG", (unsigned long long)(mib / 1024));
	else
		snprintf(buf, n, "%lluM", (unsigned long long)mib);
}

void msb_fmt_mib(uint64_t mib, char *buf, size_t n)
{
	if (mib >= 1024 && mib % 1024 == 0)
		snprintf(buf, n, "%lluGi", (unsigned long long)(mib / 1024));
	else
		snprintf(buf, n, "%lluMi", (unsigned long long)mib);
}

/* home_path() - $MSB_HOME, else ~/.microsandbox, else (no $HOME and no
 * home directory in the password database) /tmp/.microsandbox-UID.
 * Return: 1 for that last one, 0 otherwise */
static int home_path(char *buf, size_t n)
{
	const char *h = getenv("MSB_HOME");

	if (h && *h) {
		snprintf(buf, n, "%s", h);
		return 0;
	}
	h = getenv("HOME");
	if (!h || !*h) {
		struct passwd *pw = getpwuid(getuid());

		h = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
	}
	if (h) {
		snprintf(buf, n, "%s/.microsandbox", h);
		return 0;
	}
	snprintf(buf, n, "/tmp/.microsandbox-%u", (unsigned)getuid());
	return 1;
}

/* Both below are called from the pull's download and conversion threads:
 * each thread has its own buffer, never one another thread is writing. */
MSB_API const char *msb_home(void)
{
	static __thread char home[PATH_MAX];

	home_path(home, sizeof(home));
	return home;
}

int msb_fail_state_dir(msb_error *err, int r, const char *path)
{
	if (r == -EACCES || r == -EROFS)
		return msb_fail(err, r, "cannot create %s: %s (" MSB_HOME_HINT
				")", path, strerror(-r));
	return msb_fail_errno(err, r, "cannot create %s", path);
}

int msb_home_ready(msb_error *err)
{
	char home[PATH_MAX];
	int fallback = home_path(home, sizeof(home)), r;
	struct stat st;

	r = msb_mkdir_p(home, 0700);
	if (r < 0)
		return msb_fail_state_dir(err, r, home);
	if (!fallback)
		return 0;
	/* In /tmp anyone may have made it first, to read or plant our
	 * state: it must be a directory (not a link) of ours that no one
	 * else can enter. /tmp's sticky bit keeps it ours from then on. */
	if (lstat(home, &st) < 0)
		return msb_fail_errno(err, -errno, "cannot stat %s", home);
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077))
		return msb_fail(err, -EPERM,
				"%s is not a private directory of ours (%s, "
				"owner uid %u, mode %03o): with neither "
				"$MSB_HOME nor $HOME set and no home directory "
				"for uid %u, msb keeps its state there, and "
				"someone else may have made it first; set "
				"MSB_HOME to a directory of your own",
				home,
				S_ISLNK(st.st_mode) ? "a symbolic link" :
				S_ISDIR(st.st_mode) ? "a directory" :
						      "not a directory",
				(unsigned)st.st_uid,
				(unsigned)(st.st_mode & 07777),
				(unsigned)getuid());
	return 0;
}

int msb_sandbox_dir(const char *name, char *buf, size_t n)
{
	if (snprintf(buf, n, "%s/sandboxes/%s", msb_home(), name) >= (int)n)
		return -ENAMETOOLONG;
	return 0;
}

int msb_api_sock_path(const char *name, char *buf, size_t n)
{
	if (snprintf(buf, n, "%s/sandboxes/%s/api.sock", msb_home(), name) >=
	    (int)n)
		return -ENAMETOOLONG;
	return 0;
}

int msb_ready_path(const char *name, char *buf, size_t n)
{
	if (snprintf(buf, n, "%s/sandboxes/%s/ready", msb_home(), name) >=
	    (int)n)
		return -ENAMETOOLONG;
	return 0;
}

#ifndef MSB_DEFAULT_PREFIX
#define MSB_DEFAULT_PREFIX "/usr/local"
#endif

const char *msb_prefix(void)
{
	static __thread char prefix[PATH_MAX];
	const char *env = getenv("MSB_PREFIX");
	Dl_info info;
	char *p;

	if (env && *env)
		return env;
	if (prefix[0])
		return prefix;
	/* The object holding this code is PREFIX/lib/libmsb.so,
	 * PREFIX/bin/msb or PREFIX/libexec/msb/msb-supervisor. */
	if (!(dladdr((void *)msb_prefix, &info) && info.dli_fname &&
	      strchr(info.dli_fname, '/') && realpath(info.dli_fname, prefix))) {
		ssize_t l = readlink("/proc/self/exe", prefix, sizeof(prefix) - 1);

		prefix[l > 0 ? l : 0] = '\0';
	}
	if (prefix[0]) {
		p = strrchr(prefix, '/');
		if (p)
			*p = '\0';
		p = strrchr(prefix, '/');
		if (p && !strcmp(p, "/msb")) {
			*p = '\0';
			p = strrchr(prefix, '/');
		}
		if (p) {
			*p = '\0';
			return prefix;
		}
	}
	snprintf(prefix, sizeof(prefix), "%s", MSB_DEFAULT_PREFIX);
	return prefix;
}

int msb_share_path(const char *rel, char *buf, size_t n)
{
	const char *data = getenv("MSB_DATA_DIR");

	if (data && *data) {
		if (snprintf(buf, n, "%s/%s", data, rel) >= (int)n)
			return -ENAMETOOLONG;
		return 0;
	}
	if (snprintf(buf, n, "%s/share/msb/%s", msb_prefix(), rel) >= (int)n)
		return -ENAMETOOLONG;
	return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_make(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

double msb_strtod(const char *s, char **end)
{
	pthread_once(&c_locale_once, c_locale_make);
	return c_locale ? strtod_l(s, end, c_locale) : strtod(s, end);
}

int msb_parse_duration(const char *s, uint64_t *ms)
{
	double total = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		char *end;
		double v, unit = 1000;

		if (!(*s >= '0' && *s <= '9') && *s != '.')
			return -EINVAL;
		errno = 0;
		v = msb_strtod(s, &end);
		if (errno || end == s || v < 0)
			return -EINVAL;
		s = end;
		switch (*s) {
		case 'd':
			unit *= 24;
			/* fall through */
		case 'h':
			unit *= 60;
			/* fall through */
		case 'm':
			if (s[0] == 'm' && s[1] == 's') {
				unit = 1;
				s++;
			} else {
				unit *= 60;
			}
			/* fall through */
		case 's':
			s++;
			break;
		case '\0':
			break;
		default:
			return -EINVAL;
		}
		total += v * unit;
	}
	if (total > 1e15)
		return -ERANGE;
	*ms = (uint64_t)(total + 0.5);
	return 0;
}

/* tree_walk() - the bytes the tree under @dirfd allocates (st_blocks). */
static uint64_t tree_walk(int dirfd, int depth)
{
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;

	if (depth > 256)
		return 0;
	d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		total += (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);

			if (fd >= 0)
				total += tree_walk(fd, depth + 1);
		}
	}
	closedir(d);
	return total;
}

uint64_t msb_tree_bytes(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? 0 : tree_walk(fd, 0);
}

int msb_parse_mib(const char *s, const char *what, uint64_t min,
		  uint64_t max, uint64_t *mib, msb_error *err)
{
	char *end;
	double v, mult;

	if (!s || !*s)
		goto bad;
	/* Digits, at most one '.', then letters for the unit: no signs,
	 * spaces, hex or exponents, all of which strtod would take. */
	{
		const char *q = s;
		int dots = 0;

		if (!isdigit((unsigned char)*s))
			goto bad;
		while (isdigit((unsigned char)*q) || (*q == '.' && !dots++))
			q++;
		for (; *q; q++)
			if (!isalpha((unsigned char)*q))
				goto bad;
	}
	errno = 0;
	v = msb_strtod(s, &end);
	if (errno || end == s || !isfinite(v))
		goto bad;
	if (!*end || !strcasecmp(end, "m") || !strcasecmp(end, "mb") ||
	    !strcasecmp(end, "mi") || !strcasecmp(end, "mib"))
		mult = 1;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") ||
		 !strcasecmp(end, "gi") || !strcasecmp(end, "gib"))
		mult = 1024;
	else
		goto bad;
	v *= mult;
	if (v != v || v < (double)min || v > (double)max) {
		char lo[32], hi[32];

		msb_fmt_size_mib(min, lo, sizeof(lo));
		msb_fmt_size_mib(max, hi, sizeof(hi));
		return msb_fail(err, -EINVAL,
				"invalid %s '%s': it must be between %s and %s",
				what, s, lo, hi);
	}
	if (v != (double)(uint64_t)v)
		return msb_fail(err, -EINVAL,
				"invalid %s '%s': use a whole number of MiB",
				what, s);
	*mib = (uint64_t)v;
	return 0;
bad:
	return msb_fail(err, -EINVAL,
			"invalid %s '%s': use a number with M or G, e.g. "
			"512M or 1G",
			what, s ? s : "");
}
