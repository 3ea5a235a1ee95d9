/* SPDX-License-Identifier: Apache-2.0 */
/* hop.c - what a process boundary would cost the supervisor's data path
 *
 * docs/security.md weighs moving the guest-facing parsers out of the
 * process that holds secret values and the interception CA's key (as
 * passt and crosvm split theirs). Every intercepted flow's bytes would
 * then cross from one process to the other and back. This measures that
 * crossing against handing the bytes over in memory, on this host:
 *
 *   copy        MiB/s of 64 KiB chunks memcpy'd (the in-process handoff)
 *   hop         MiB/s of 64 KiB chunks through a socketpair to another
 *               process that sends them back (two crossings)
 *   ping-pong   microseconds for a 1 KiB request and its 1 KiB answer
 *               through that other process (two crossings), p50 and p99
 *
 *   cc -O2 -o hop bench/hop.c && ./hop
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define TOTAL (1024ull << 20)
#define PINGS 20000

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void full(int fd, void *b, size_t n, int wr)
{
	size_t d = 0;

	while (d < n) {
		ssize_t r = wr ? write(fd, (char *)b + d, n - d) :
				 read(fd, (char *)b + d, n - d);

		if (r <= 0)
			exit(1);
		d += (size_t)r;
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	static char a[CHUNK], b[CHUNK];
	static double lat[PINGS];
	int sv[2];
	double t0, copy, hop;
	pid_t pid;

	memset(a, 7, sizeof(a));
	t0 = now();
	for (uint64_t d = 0; d < TOTAL; d += CHUNK) {
		memcpy(b, a, CHUNK);
		__asm__ volatile("" ::"r"(b) : "memory");
	}
	copy = (double)(TOTAL >> 20) / (now() - t0);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		ssize_t n;

		close(sv[0]);
		while ((n = read(sv[1], b, sizeof(b))) > 0)
			full(sv[1], b, (size_t)n, 1);
		_exit(0);
	}
	close(sv[1]);
	t0 = now();
	for (uint64_t d = 0; d < TOTAL; d += CHUNK) {
		full(sv[0], a, CHUNK, 1);
		full(sv[0], b, CHUNK, 0);
	}
	hop = (double)(TOTAL >> 20) / (now() - t0);
	for (int i = 0; i < PINGS; i++) {
		t0 = now();
		full(sv[0], a, 1024, 1);
		full(sv[0], b, 1024, 0);
		lat[i] = (now() - t0) * 1e6;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	qsort(lat, PINGS, sizeof(lat[0]), cmp);
	printf("| | in memory | through another process |\n|---|---|---|\n");
	printf("| 64 KiB chunks, MiB/s | %.0f | %.0f |\n", copy, hop);
	printf("| 1 KiB request + answer, p50 us | - | %.1f |\n",
	       lat[PINGS / 2]);
	printf("| 1 KiB request + answer, p99 us | - | %.1f |\n",
	       lat[PINGS * 99 / 100]);
	return 0;
}
