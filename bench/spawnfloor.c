/* SPDX-License-Identifier: Apache-2.0 */
/* spawnfloor.c - the guest's own cost of running a command, the floor of
 * an exec round trip (bench/exec.py)
 *
 * spawnfloor N [fork|vfork|spawn]: runs /bin/true N times (fork+execve,
 * vfork+execve, or posix_spawn; each waited for) and prints the mean in
 * microseconds. Only the total is timed: the guest clock may tick as
 * coarsely as 10 ms (jiffies), so single runs cannot be.
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

int main(int argc, char **argv)
{
	char *av[] = { "true", NULL };
	int n = argc > 1 ? atoi(argv[1]) : 100;
	const char *how = argc > 2 ? argv[2] : "fork";
	double t0;
	pid_t p;
	int st;

	if (n <= 0)
		return 2;
	t0 = now_us();
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
	}
	printf("%.1f\n", (now_us() - t0) / n);
	return 0;
}
