/* SPDX-License-Identifier: Apache-2.0 */
/* syscost.c - what confinement adds to each system call the supervisor
 * makes (not a test; bench/confine.py builds and runs it)
 *
 * The same loops run in child processes confined four ways: not at all,
 * under the supervisor's own seccomp allow-list (src/supervisor/seccomp.c,
 * linked in as it is), under Landlock rules like the supervisor's (a
 * directory read-write, the rest refused), and under both. Each loop
 * prints nanoseconds per call: the best of five runs of N calls in each
 * of ROUNDS rounds that take the four kinds in turn (a loaded host slows
 * them all alike; the best is what the call itself costs):
 *
 *   getppid        the cheapest call: the filter's own cost
 *   pread 4 KiB    a volume read or a socket read, as the stack makes them
 *   open + close   a file opened beneath the allowed directory: Landlock's
 *                  own cost is paid at open, never at read or write
 *
 * Usage: syscost [N]   (default 200000; open + close runs N/4 times)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "confine.h"
#include "isolation.h"

enum { PLAIN, SECCOMP, LANDLOCK, BOTH, NKINDS };
#define ROUNDS 7
static const char *const kind_name[NKINDS] = {
	"none", "seccomp allow-list", "Landlock", "both"
};

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* best() - the fastest of 5 runs of @fn, in ns per call. */
static double best(void (*fn)(long, const char *), long n, const char *dir)
{
	double b = 0;

	for (int r = 0; r < 5; r++) {
		double t0 = now_ns(), t;

		fn(n, dir);
		t = (now_ns() - t0) / (double)n;
		if (!r || t < b)
			b = t;
	}
	return b;
}

static void loop_getppid(long n, const char *dir)
{
	(void)dir;
	for (long i = 0; i < n; i++)
		if (getppid() < 0)
			_exit(3);
}

static int file_fd = -1;

static void loop_pread(long n, const char *dir)
{
	char buf[4096];

	(void)dir;
	for (long i = 0; i < n; i++)
		if (pread(file_fd, buf, sizeof(buf), 0) != sizeof(buf))
			_exit(3);
}

static void loop_open(long n, const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/sub/f", dir);
	for (long i = 0; i < n; i++) {
		int fd = open(p, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			_exit(3);
		close(fd);
	}
}

/* child() - confined as @kind, the three loops; results on @out. */
static void child(int kind, long n, const char *dir, int out)
{
	char why[300], line[256], f[4200], sub[4200];
	struct msb_ll_rule rules[] = {
		{ dir, MSB_LL_RW, 0, "the benchmark's directory" },
	};
	double a, b, c;
	int len;

	snprintf(f, sizeof(f), "%s/sub/f", dir);
	snprintf(sub, sizeof(sub), "%s/log", dir);
	file_fd = open(f, O_RDONLY | O_CLOEXEC);
	if (file_fd < 0)
		_exit(2);
	if ((kind == LANDLOCK || kind == BOTH) &&
	    msb_landlock_apply(rules, 1, 0, why, sizeof(why)) <= 0) {
		dprintf(2, "Landlock: %s\n", why[0] ? why : "none here");
		_exit(2);
	}
	if ((kind == SECCOMP || kind == BOTH) &&
	    sup_seccomp_install(sub, why, sizeof(why)) < 0) {
		dprintf(2, "seccomp: %s\n", why);
		_exit(2);
	}
	a = best(loop_getppid, n, dir);
	b = best(loop_pread, n, dir);
	c = best(loop_open, n / 4, dir);
	len = snprintf(line, sizeof(line), "%.1f %.1f %.1f\n", a, b, c);
	if (write(out, line, (size_t)len) != len)
		_exit(4);
	_exit(0);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	char dir[] = "/tmp/msb-syscost-XXXXXX", p[64];
	double res[NKINDS][3] = { { 0 } };
	char block[4096];
	int fd;

	if (!mkdtemp(dir))
		return perror("mkdtemp"), 1;
	snprintf(p, sizeof(p), "%s/sub", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sub/f", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	memset(block, 'x', sizeof(block));
	if (fd < 0 || write(fd, block, sizeof(block)) != sizeof(block))
		return perror(p), 1;
	close(fd);
	for (int i = 0; i < ROUNDS * NKINDS; i++) {
		int k = i % NKINDS, pp[2], st;
		char line[256] = "";
		double got[3];
		pid_t pid;

		if (pipe2(pp, O_CLOEXEC) < 0)
			return perror("pipe"), 1;
		pid = fork();
		if (pid == 0) {
			close(pp[0]);
			child(k, n, dir, pp[1]);
		}
		close(pp[1]);
		if (read(pp[0], line, sizeof(line) - 1) <= 0 ||
		    waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) ||
		    sscanf(line, "%lf %lf %lf", &got[0], &got[1],
			   &got[2]) != 3) {
			fprintf(stderr, "syscost: the %s run failed\n",
				kind_name[k]);
			return 1;
		}
		close(pp[0]);
		for (int c = 0; c < 3; c++)
			if (i < NKINDS || got[c] < res[k][c])
				res[k][c] = got[c];
	}
	printf("| ns per call (best of %d) | getppid | pread 4 KiB | "
	       "open + close |\n|---|---|---|---|\n", 5 * ROUNDS);
	for (int k = 0; k < NKINDS; k++)
		printf("| %s | %.0f | %.0f | %.0f |\n", kind_name[k], res[k][0],
		       res[k][1], res[k][2]);
	snprintf(p, sizeof(p), "%s/sub/f", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sub", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/log", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}
