/* SPDX-License-Identifier: Apache-2.0 */
/* logs.c - msb logs: the guest console, agent and supervisor messages */

#define _GNU_SOURCE /* strptime, timegm */
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_logs(int argc, char **argv);

const struct verb verb_logs = {
	.name = "logs",
	.summary = "Show a sandbox's console and agent log",
	.fn = cmd_logs,
	.help =
	"Usage: msb logs [OPTIONS] NAME\n"
	"\n"
	"Print NAME's log: the guest kernel console, the agent's messages,\n"
	"the output of a detached command, and msb's own lines ([msb ...]).\n"
	"Kept after the sandbox stops or fails, until 'msb rm'. At most the\n"
	"last 4-8 MiB: past 4 MiB the log is rotated and older output\n"
	"dropped, with a line saying so. Guest bytes that could pass for\n"
	"msb's lines or drive a terminal are shown escaped (\\xNN).\n"
	"\n"
	"Options:\n"
	"  -f, --follow           keep printing as the log grows, until the\n"
	"                         sandbox stops or what reads it goes away\n"
	"                         (| head -1: exits 141)\n"
	"  -n, --tail N           only the last N lines (then follow, with -f)\n"
	"      --since WHEN       only what was written since WHEN: a duration\n"
	"                         back from now (30s, 10m, 1h30m), a time\n"
	"                         (2024-05-01T12:00:00, local; ...Z for UTC)\n"
	"                         or unix seconds; to the second, erring\n"
	"                         towards showing more (the log's lines carry\n"
	"                         no time of their own: msb notes when the log\n"
	"                         grew)\n"
	"  -h, --help             show this help\n",
};

enum { OPT_SINCE = 256 };

static const struct option opts[] = {
	{ "follow", no_argument, NULL, 'f' },
	{ "tail", required_argument, NULL, 'n' },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* parse_since() - WHEN as unix milliseconds: "10m" (a duration back from
 * now), "2024-05-01T12:00:00[Z]" (local time unless Z), or "1714564800"
 * (unix seconds, as docker logs --since reads a bare number). */
static int parse_since(const char *s, int64_t *ms)
{
	struct timespec now;
	struct tm tm = { 0 };
	uint64_t d;
	char *end;

	clock_gettime(CLOCK_REALTIME, &now);
	if (strchr(s, '-') && strchr(s, 'T')) {
		end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!end || (*end && strcmp(end, "Z")))
			return -1;
		tm.tm_isdst = -1;
		*ms = (int64_t)(*end == 'Z' ? timegm(&tm) : mktime(&tm)) * 1000;
		return 0;
	}
	if (strspn(s, "0123456789.") == strlen(s)) {
		double v = msb_strtod(s, &end);

		if (*end || v < 0)
			return -1;
		*ms = (int64_t)(v * 1000);
		return 0;
	}
	if (msb_parse_duration(s, &d) < 0)
		return -1;
	*ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - (int64_t)d;
	return 0;
}

/* since_offset() - where, in the log at @path, what was written at or
 * after @ms begins: the size at the last mark (console.idx, written by
 * the supervisor) at or before @ms, at a line's start. A mark whose size
 * is below the one before, or 0 after any mark, began a new log (the
 * one before became PATH.1): if @ms falls before the current log began, *@in_old says to
 * begin in PATH.1 at the returned offset (0: all of it).
 * Return: the offset. */
static off_t since_offset(const char *path, int64_t ms, int *in_old)
{
	char idx[PATH_MAX + 16];
	long long t, size, prev = -1;
	int gen = 0, found_gen = -1;
	off_t found = 0;
	FILE *f;

	*in_old = 1;
	snprintf(idx, sizeof(idx), "%.*s/console.idx",
		 (int)(strrchr(path, '/') - path), path);
	f = fopen(idx, "re");
	if (!f)
		return 0; /* no marks: all of it */
	while (fscanf(f, "%lld %lld", &t, &size) == 2) {
		/* A rotation's mark is "T 0"; two rotations with no
		 * mark between them (4 MiB in under a second) are two
		 * such marks in a row: a 0 after any mark is a new log. */
		if (prev >= 0 && (size < prev || size == 0))
			gen++;
		prev = size;
		if (t <= ms) {
			found = (off_t)size;
			found_gen = gen;
		}
	}
	fclose(f);
	if (found_gen == gen) {
		*in_old = 0;
		return found;
	}
	if (found_gen == gen - 1)
		return found;
	return 0; /* before the first mark, or the log before PATH.1 */
}

struct text {
	char *d;
	size_t len, cap;
};

static void text_add(struct text *t, const char *p, size_t n)
{
	if (t->len + n > t->cap) {
		size_t cap = (t->len + n) * 2;
		char *d = realloc(t->d, cap);

		if (!d)
			return; /* shown short rather than not at all */
		t->d = d;
		t->cap = cap;
	}
	memcpy(t->d + t->len, p, n);
	t->len += n;
}

/* read_from() - the rest of @fd from @off, backed up to the start of its
 * line, appended to @b. */
static void read_from(int fd, off_t off, struct text *b)
{
	char c, buf[65536];
	ssize_t n;

	while (off > 0 && pread(fd, &c, 1, off - 1) == 1 && c != '\n')
		off--;
	if (lseek(fd, off, SEEK_SET) < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		text_add(b, buf, (size_t)n);
}

/* print_tail() - @b, or its last @tail lines when @tail >= 0. */
static void print_tail(const struct text *b, long tail)
{
	const char *d = b->d ? b->d : "";
	size_t i = b->len, lines = 0;

	if (tail < 0) {
		msb_write_all(1, d, b->len);
		return;
	}
	/* A last line without its newline counts as a line. */
	if (i && d[i - 1] == '\n')
		i--;
	while (tail && i > 0) {
		if (d[i - 1] == '\n' && ++lines == (size_t)tail)
			break;
		i--;
	}
	if (!tail)
		i = b->len;
	msb_write_all(1, d + i, b->len - i);
}

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;
	int any = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		msb_write_all(1, buf, (size_t)n);
		any = 1;
	}
	return any;
}

/* rotated() - has console.log been rotated away from under @fd (a new
 * file at @path)? Then what @fd still holds is the end of the old one. */
static int rotated(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
}

/* open_old() - PATH.1, unless it is the file @fd reads (rotated since
 * @fd was opened). Return: a descriptor, or -1. */
static int open_old(const char *path, int fd)
{
	char old[PATH_MAX + 2];
	struct stat a, b;
	int ofd;

	snprintf(old, sizeof(old), "%s.1", path);
	ofd = open(old, O_RDONLY | O_CLOEXEC);
	if (ofd >= 0 && fstat(fd, &a) == 0 && fstat(ofd, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
		close(ofd);
		ofd = -1;
	}
	return ofd;
}

static int live(const char *name)
{
	msb_sandbox_info i;

	if (msb_sandbox_info_get(name, &i, NULL) < 0)
		return 0;
	return msb_status_is_live(i.status);
}

static int cmd_logs(int argc, char **argv)
{
	msb_error err = { 0 };
	char path[PATH_MAX];
	int c, fd, ofd, follow = 0, since = 0;
	long tail = -1;
	int64_t since_ms = 0;
	unsigned u;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "fn:h", opts)) != -1) {
		switch (c) {
		case 'f':
			follow = 1;
			break;
		case 'n':
			if (cli_parse_uint(optarg, 0, 100000000, &u) < 0)
				return cli_bad_usage(&verb_logs,
					"invalid --tail '%s': use a number of "
					"lines", optarg);
			tail = (long)u;
			break;
		case OPT_SINCE:
			if (parse_since(optarg, &since_ms) < 0)
				return cli_bad_usage(&verb_logs,
					"invalid --since '%s': use a duration "
					"(10m, 1h30m), a time "
					"(2024-05-01T12:00:00, Z for UTC) or "
					"unix seconds", optarg);
			since = 1;
			break;
		case 'h':
			cli_usage(&verb_logs, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_logs, argv, opts);
		}
	}
	if (optind + 1 != argc)
		return cli_bad_usage(&verb_logs, "expected exactly one NAME");
	if (msb_sandbox_logs_path(argv[optind], path, sizeof(path), &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!follow)
			return 0; /* never booted: nothing logged yet */
		while (fd < 0 && live(argv[optind])) {
			usleep(100000);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (fd < 0)
			return 0;
	}
	/* The log before the last rotation comes first (docs/api-protocol.md
	 * §11.2): PATH.1, when the log outgrew its cap. Opened after PATH:
	 * if a rotation came in between, PATH.1 is what @fd reads. */
	ofd = open_old(path, fd);
	if (since || tail >= 0) {
		struct text b = { 0 };
		off_t off = 0;
		int in_old = 1;

		if (since)
			off = since_offset(path, since_ms, &in_old);
		if (in_old) {
			if (ofd >= 0)
				read_from(ofd, off, &b);
			off = 0;
		}
		read_from(fd, off, &b);
		print_tail(&b, tail);
		free(b.d);
	} else {
		if (ofd >= 0)
			copy_out(ofd);
		copy_out(fd);
	}
	if (ofd >= 0)
		close(ofd);
	while (follow) {
		int was_live = live(argv[optind]);

		if (!copy_out(fd)) {
			if (rotated(fd, path)) {
				int nfd = open(path, O_RDONLY | O_CLOEXEC);

				if (nfd >= 0) {
					copy_out(fd);
					close(fd);
					fd = nfd;
					continue;
				}
			}
			if (!was_live) {
				copy_out(fd);
				break;
			}
			if (cli_stdout_gone()) {
				close(fd);
				return 128 + SIGPIPE;
			}
			usleep(100000);
		}
	}
	close(fd);
	return 0;
}
