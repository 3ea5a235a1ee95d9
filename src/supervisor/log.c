/* SPDX-License-Identifier: Apache-2.0 */
/* log.c - the sandbox's logs on the host, capped and rotated
 *
 * Theory of operation: everything a guest can make the host write goes
 * through here, into one of two files of the sandbox's directory, each
 * written by this process alone:
 *   - console.log: the guest's serial console (a socket QEMU writes, read
 *     in the loop), a detached command's output, and msb's own lines;
 *   - engine.log: QEMU's stdout and stderr (a pipe, read in the loop).
 * A file that reaches its cap (LOG_CAP_CONSOLE, LOG_CAP_ENGINE) becomes
 * NAME.1, replacing the one before, whose bytes are dropped; the new file
 * opens with a line saying so. So a guest that writes without end (a
 * detached command, root writing to /dev/console) costs the host at most
 * twice the cap per file. Guest bytes are escaped on the way in
 * (logtext.h), so a line that starts "[msb " is msb's own.
 *
 * A full host disk must not silence msb: each file keeps LOG_AHEAD bytes
 * allocated past its end (fallocate, the size unchanged), so msb's lines
 * (the one saying the VM paused for lack of space, diskfull.c) still
 * land. When even that is used up, msb's lines are held in memory (up to
 * LOG_HELD_MAX) and guest bytes dropped; once writes succeed again the
 * held lines go in, then a line saying how many bytes were lost. A write
 * that fails never stops the loop.
 * Volume threads (fs.c) log too: console.log is written under a lock.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

#define LOG_AHEAD (64u << 10)    /* allocated past a log's end */
#define LOG_HELD_MAX (16u << 10) /* msb's lines held while the disk is full */

static const char *const file_name[] = { "console.log", "engine.log" };
static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;

static void logfile_init(struct sup *s, struct sup_logfile *lf, int which)
{
	if (lf->path[0])
		return;
	snprintf(lf->path, sizeof(lf->path), "%s/%s",
		 which ? s->dir : "", file_name[which]);
	if (!which) /* the unit tests know only console_log */
		snprintf(lf->path, sizeof(lf->path), "%s", s->console_log);
	lf->cap = which ? LOG_CAP_ENGINE : LOG_CAP_CONSOLE;
	lf->indexed = !which;
	lf->fd = -1;
}

static int logfile_open(struct sup_logfile *lf, int trunc)
{
	struct stat st;

	lf->fd = open(lf->path,
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			      (trunc ? O_TRUNC : 0),
		      0644);
	if (lf->fd < 0)
		return -errno;
	lf->size = fstat(lf->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	lf->reserved = 0;
	return 0;
}

/* ahead() - keep LOG_AHEAD bytes allocated past the end of @lf
 * (FALLOC_FL_KEEP_SIZE: readers see no change), renewed when half is
 * used: on a full disk, writes into them still succeed. */
static void ahead(struct sup_logfile *lf)
{
	if (lf->size + LOG_AHEAD / 2 <= lf->reserved)
		return;
	if (fallocate(lf->fd, FALLOC_FL_KEEP_SIZE, (off_t)lf->size,
		      LOG_AHEAD) == 0)
		lf->reserved = lf->size + LOG_AHEAD;
}

/* release() - give back what ahead() allocated: the file is done with. */
static void release(struct sup_logfile *lf)
{
	if (lf->fd >= 0 && lf->reserved > lf->size)
		fallocate(lf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)lf->size, (off_t)(lf->reserved - lf->size));
	lf->reserved = 0;
}

/* resync() - after a refused write: where the file really ends, and
 * whether that is a line's start (what comes next depends on it). */
static void resync(struct sup_logfile *lf)
{
	struct stat st;
	char last = '\n';

	if (lf->fd < 0 || fstat(lf->fd, &st) < 0)
		return;
	lf->size = (uint64_t)st.st_size;
	if (st.st_size > 0 && pread(lf->fd, &last, 1, st.st_size - 1) != 1)
		last = 'x';
	lf->esc.mid = last != '\n';
}

static size_t stamp(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	return (size_t)snprintf(out, n, "[msb %02d:%02d:%02d.%03ld] ",
				tm.tm_hour, tm.tm_min, tm.tm_sec,
				ts.tv_nsec / 1000000);
}

static int put(struct sup_logfile *lf, const char *p, size_t n);

/* The first line of a file that a rotation started; when the file is
 * itself rotated away and the one before it dropped, the line is
 * rewritten in place to say so (same length: the wording stays true
 * wherever msb logs shows it). */
#define STAMP_LEN 19 /* "[msb HH:MM:SS.mmm] " */
static const char rot_kept[] = "log rotated: %s passed %llu MiB; the output "
			       "before this line is in %s.1";
static const char rot_dropped[] = "log rotated: %s passed %llu MiB; the output "
				  "before this line was dropped";

static size_t rot_text(char *out, size_t n, const char *fmt, const char *base,
		       uint64_t cap)
{
	return (size_t)snprintf(out, n, fmt, base, (unsigned long long)(cap >> 20),
				base);
}

/* mark_dropped() - @path's first line, if a rotation wrote it, now says
 * that what preceded it is gone. */
static void mark_dropped(const char *path, const char *base, uint64_t cap)
{
	char kept[256], dropped[256], got[256];
	size_t k = rot_text(kept, sizeof(kept), rot_kept, base, cap);
	size_t d = rot_text(dropped, sizeof(dropped), rot_dropped, base, cap);
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	if (pread(fd, got, STAMP_LEN + k + 1, 0) == (ssize_t)(STAMP_LEN + k + 1) &&
	    !memcmp(got, "[msb ", 5) && !memcmp(got + STAMP_LEN, kept, k) &&
	    got[STAMP_LEN + k] == '\n') {
		memset(dropped + d, ' ', k - d);
		if (pwrite(fd, dropped, k, STAMP_LEN) != (ssize_t)k) {
			/* the line keeps its first wording */
		}
	}
	close(fd);
}

/* rotate() - the file becomes NAME.1; a new one starts with a line saying
 * where the rest is. */
static void rotate(struct sup_logfile *lf)
{
	char old[sizeof(lf->path) + 2], line[512];
	const char *base = strrchr(lf->path, '/');
	struct stat st;
	size_t n;

	base = base ? base + 1 : lf->path;
	snprintf(old, sizeof(old), "%s.1", lf->path);
	/* A line cut by the rotation ends where the file does. */
	if (lf->esc.mid && msb_write_all(lf->fd, "\n", 1) == 0)
		lf->esc.mid = 0;
	if (stat(old, &st) == 0) {
		lf->dropped += (uint64_t)st.st_size;
		mark_dropped(lf->path, base, lf->cap);
	}
	release(lf);
	close(lf->fd);
	lf->fd = -1;
	if (rename(lf->path, old) < 0 || logfile_open(lf, 1) < 0) {
		/* Cannot rotate: start over in place rather than grow. */
		lf->dropped += lf->size;
		if (logfile_open(lf, 1) < 0)
			return;
	}
	lf->rotations++;
	/* msb logs --since must know the log began again, however soon
	 * after the last mark (once a second) that happened. */
	if (lf->indexed)
		sup_log_mark_rotated(lf->path);
	n = stamp(line, sizeof(line));
	n += rot_text(line + n, sizeof(line) - n, rot_kept, base, lf->cap);
	line[n++] = '\n';
	lf->esc.mid = 0;
	put(lf, line, n);
}

/* put() - bytes as they are, rotating first when they would pass the
 * cap. Return: 0, or -1 if the file refused them (in part or whole). */
static int put(struct sup_logfile *lf, const char *p, size_t n)
{
	if (!n)
		return 0;
	if (lf->fd < 0 && logfile_open(lf, 0) < 0)
		return -1;
	if (lf->size && lf->size + n > lf->cap) {
		rotate(lf);
		if (lf->fd < 0)
			return -1;
	}
	if (msb_write_all(lf->fd, p, n) < 0) {
		resync(lf);
		return -1;
	}
	lf->size += n;
	ahead(lf);
	return 0;
}

/* catch_up() - what a full disk refused before: msb's held lines, then
 * how much was lost. Return: 0 when nothing is left owed, else -1. */
static int catch_up(struct sup_logfile *lf)
{
	char note[160];
	size_t n;

	if (!lf->held.len && !lf->lost)
		return 0;
	if (lf->esc.mid && put(lf, "\n", 1) < 0)
		return -1;
	lf->esc.mid = 0;
	while (lf->held.len) {
		const char *d = (const char *)msb_buf_data(&lf->held);
		const char *nl = memchr(d, '\n', lf->held.len);
		size_t k = nl ? (size_t)(nl - d) + 1 : lf->held.len;

		if (put(lf, d, k) < 0)
			return -1;
		msb_buf_consume(&lf->held, k);
	}
	msb_buf_free(&lf->held);
	if (!lf->lost)
		return 0;
	n = stamp(note, sizeof(note));
	n += (size_t)snprintf(note + n, sizeof(note) - n,
			      "%llu bytes of this log were lost: the host "
			      "disk was full\n",
			      (unsigned long long)lf->lost);
	if (put(lf, note, n) < 0)
		return -1;
	lf->lost = 0;
	return 0;
}

/* guest() - guest bytes, escaped, into @lf; dropped (and counted) while
 * the disk refuses them. */
static void guest(struct sup_logfile *lf, const void *p, size_t n)
{
	char out[LOG_ESC_MAX(4096)];

	while (n) {
		size_t k = n > 4096 ? 4096 : n;
		size_t o = log_esc_guest(&lf->esc, p, k, out);

		if (catch_up(lf) < 0 || put(lf, out, o) < 0) {
			lf->lost += o;
			resync(lf);
		}
		p = (const uint8_t *)p + k;
		n -= k;
	}
}

/* line() - one of msb's own lines, which starts a line of its own; held
 * while the disk refuses it. */
static void line(struct sup_logfile *lf, const char *text, size_t n)
{
	char head[LOG_ESC_MAX(0) + 64];
	size_t h = log_esc_flush(&lf->esc, head);

	if (catch_up(lf) == 0) {
		if (lf->esc.mid)
			head[h++] = '\n';
		lf->esc.mid = 0;
		if (put(lf, head, h) == 0 && put(lf, text, n) == 0)
			return;
	} else {
		lf->lost += h;
	}
	if (lf->held.len + n <= LOG_HELD_MAX &&
	    msb_buf_append(&lf->held, text, n) == 0)
		return;
	lf->lost += n;
}

void sup_log(struct sup *s, const char *fmt, ...)
{
	char msg[2048], out[LOG_ESC_MAX(2048) + 64];
	va_list ap;
	size_t n;
	int m;

	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n = stamp(out, sizeof(out));
	/* The message may quote the guest (a name, an agent's words): it
	 * stays one line, without a control byte. */
	n += log_esc_text(msg, (size_t)m < sizeof(msg) ? (size_t)m :
							  sizeof(msg) - 1,
			  out + n);
	out[n++] = '\n';
	pthread_mutex_lock(&console_lock);
	logfile_init(s, &s->clog, 0);
	line(&s->clog, out, n);
	pthread_mutex_unlock(&console_lock);
}

void sup_log_guest(struct sup *s, const void *p, size_t n)
{
	pthread_mutex_lock(&console_lock);
	logfile_init(s, &s->clog, 0);
	guest(&s->clog, p, n);
	pthread_mutex_unlock(&console_lock);
}

/* link_new() - a socketpair or pipe whose read end the loop watches as
 * @type.
 * Return: the write end (for QEMU), or -errno. */
static int link_new(struct sup *s, struct sup_logfile *lf, int pipe_,
		    enum ev_type type)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lf->ref };
	int sv[2];

	if (lf->in >= 0 && lf->in_open) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, lf->in, NULL);
		close(lf->in);
	}
	lf->in_open = 0;
	if (pipe_ ? pipe2(sv, O_CLOEXEC) < 0 :
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	msb_set_nonblock(sv[0], 1);
	lf->ref.type = type;
	lf->in = sv[0];
	lf->in_open = 1;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, lf->in, &ev) < 0) {
		int e = -errno;

		close(sv[0]);
		close(sv[1]);
		lf->in_open = 0;
		return e;
	}
	return sv[1];
}

int sup_logs_link(struct sup *s, int *console_vm, int *engine_vm)
{
	logfile_init(s, &s->clog, 0);
	logfile_init(s, &s->elog, 1);
	*console_vm = link_new(s, &s->clog, 0, EV_CONSOLE);
	if (*console_vm < 0)
		return *console_vm;
	*engine_vm = link_new(s, &s->elog, 1, EV_ENGINE_LOG);
	if (*engine_vm < 0) {
		close(*console_vm);
		return *engine_vm;
	}
	return 0;
}

void sup_logs_retry(struct sup *s)
{
	pthread_mutex_lock(&console_lock);
	if (s->clog.path[0])
		catch_up(&s->clog);
	if (s->elog.path[0])
		catch_up(&s->elog);
	pthread_mutex_unlock(&console_lock);
}

int sup_logs_read(struct sup *s, struct sup_logfile *lf)
{
	char buf[16384];

	/* A bounded batch: a guest that floods its console does not starve
	 * the rest of the loop (epoll comes back for the remainder). */
	for (int i = 0; i < 16 && lf->in_open; i++) {
		ssize_t n = read(lf->in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, lf->in, NULL);
			close(lf->in);
			lf->in_open = 0;
			return 0;
		}
		pthread_mutex_lock(&console_lock);
		guest(lf, buf, (size_t)n);
		pthread_mutex_unlock(&console_lock);
	}
	return lf->in_open;
}

void sup_logs_drain(struct sup *s)
{
	while (sup_logs_read(s, &s->clog))
		;
	while (sup_logs_read(s, &s->elog))
		;
}

void sup_logs_close(struct sup *s)
{
	struct sup_logfile *all[] = { &s->clog, &s->elog };

	pthread_mutex_lock(&console_lock);
	for (size_t i = 0; i < 2; i++) {
		char out[64];
		size_t n;

		if (!all[i]->path[0]) /* never set up: nothing to close */
			continue;
		n = log_esc_flush(&all[i]->esc, out);
		if (catch_up(all[i]) == 0)
			put(all[i], out, n);
		msb_buf_free(&all[i]->held);
		if (all[i]->in_open)
			close(all[i]->in);
		all[i]->in_open = 0;
		release(all[i]);
		if (all[i]->fd >= 0)
			close(all[i]->fd);
		all[i]->fd = -1;
	}
	pthread_mutex_unlock(&console_lock);
}
