/* SPDX-License-Identifier: Apache-2.0 */
/* logmark.c - when the console log grew: an index for msb logs --since
 *
 * Most of console.log has no time of its own (the guest's console, a
 * detached command's output). At most once a second, when the log has
 * grown, the supervisor appends "UNIX_MS SIZE\n" to console.idx: every
 * byte past SIZE was written after UNIX_MS. A size below the one before
 * means the log started again (it was rotated to console.log.1): log.c
 * writes "UNIX_MS 0" at each rotation, so that holds however soon after
 * a mark the rotation came. `msb logs --since T` starts at the last mark
 * at or before T: one second of resolution, erring towards showing more. The index is kept below
 * IDX_MAX by dropping its older half.
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

#define IDX_MAX (256 * 1024)

static void idx_path(const char *console_log, char *buf, size_t n)
{
	const char *slash = strrchr(console_log, '/');

	snprintf(buf, n, "%.*s/console.idx",
		 slash ? (int)(slash - console_log) : 1,
		 slash ? console_log : ".");
}

/* compact() - keep the newer half of the index, whole lines. */
static void compact(const char *path)
{
	size_t len;
	char *all = msb_read_file(path, &len), *half;

	if (!all)
		return;
	half = memchr(all + len / 2, '\n', len - len / 2);
	if (half)
		msb_write_file(path, half + 1, len - (size_t)(half + 1 - all),
			       0600);
	free(all);
}

/* append() - one line to the index, kept below IDX_MAX. A rotation may
 * be noted from a volume thread (its log line filled the file): one
 * writer at a time, so a compaction loses no line. */
static void append(const char *path, const char *line, size_t n)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct stat ist;
	int fd;

	pthread_mutex_lock(&lock);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		msb_write_all(fd, line, n);
		if (fstat(fd, &ist) == 0 && ist.st_size > IDX_MAX) {
			close(fd);
			compact(path);
		} else {
			close(fd);
		}
	}
	pthread_mutex_unlock(&lock);
}

void sup_log_mark(struct sup *s, int force)
{
	char path[PATH_MAX + 16], line[64];
	struct timespec ts;
	struct stat st;
	uint64_t now = msb_now_ms();
	int n;

	if (!force && now - s->mark_at < SUP_LOG_MARK_MS)
		return;
	s->mark_at = now;
	if (stat(s->console_log, &st) < 0)
		return;
	if (s->marked && st.st_size == s->mark_size)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld %lld\n",
		     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
		     (long long)st.st_size);
	idx_path(s->console_log, path, sizeof(path));
	append(path, line, (size_t)n);
	s->mark_size = (int64_t)st.st_size;
	s->marked = 1;
}

void sup_log_mark_rotated(const char *console_log)
{
	char path[PATH_MAX + 16], line[64];
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld 0\n",
		     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	idx_path(console_log, path, sizeof(path));
	append(path, line, (size_t)n);
}
