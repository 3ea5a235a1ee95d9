/* SPDX-License-Identifier: Apache-2.0 */
/* spawnfloor.c - the guest's own cost of running a command, the floor of
 * an exec round trip (bench/exec.py)
 *
 * spawnfloor N [fork|vfork|spawn] [dist]: runs /bin/true N times
 * (fork+execve, vfork+execve, or posix_spawn; each waited for) and prints
 * the mean in microseconds; with "dist", also the median and the 99th
 * percentile of single runs (the guest keeps the TSC as its clock under
 * TCG, tsc=reliable; on a jiffies clock only the mean would mean much).
 */

#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	char *av[] = { "true", NULL };
	int n = argc > 1 ? atoi(argv[1]) : 100;
	const char *how = argc > 2 ? argv[2] : "fork";
	int dist = argc > 3 && !strcmp(argv[3], "dist");
	double t0, t1, *one;
	pid_t p;
	int st;

	if (n <= 0 || !(one = calloc((size_t)n, sizeof(*one))))
		return 2;
	t0 = t1 = now_us();
	for (int i = 0; i < n; i++) {
		if (!strcmp(how, "spawn")) {
			if (posix_spawn(&p, "/bin/true", NULL, NULL, av, environ))
				return 1;
		} else {
			p = strcmp(how, "vfork") ? fork() : vfork();
			if (p == 0) {
				execve("/bin/true", av, environ);
				_exit(127);
			}
		}
		if (p < 0 || waitpid(p, &st, 0) != p || st)
			return 1;
		if (dist) {
			double t = now_us();

			one[i] = t - t1;
			t1 = t;
		}
	}
	printf("%.1f", (now_us() - t0) / n);
	if (dist) {
		qsort(one, (size_t)n, sizeof(*one), cmp);
		printf(" %.1f %.1f", one[(n - 1) / 2],
		       one[(int)((n - 1) * 0.99 + 0.5)]);
	}
	printf("\n");
	return 0;
}
