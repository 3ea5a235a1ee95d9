// SPDX-License-Identifier: Apache-2.0
/* fsbench.c - the guest side of bench/fs.py: one measurement, in seconds
 *
 * Built static by bench/fs.py and run inside the guest on a volume:
 *
 *   fsbench seqwrite FILE MIB [BLOCK]
 *                                 write MIB MiB in blocks of BLOCK bytes
 *                                 (1 MiB unless given), fsync
 *   fsbench seqread FILE          drop the guest's caches, read it all
 *   fsbench randread FILE N       drop caches, N 4 KiB preads at random
 *                                 4 KiB-aligned offsets (fixed seed)
 *   fsbench meta DIR N            create N empty files, stat each, unlink
 *                                 each: three times
 *   fsbench cycle DIR N           N times: create a file, stat it, unlink it
 *
 * prints "seconds [seconds...] checksum" on one line. Times are the
 * guest's CLOCK_MONOTONIC; both servers are measured by the same guest,
 * so their ratio does not depend on how well the guest keeps time.
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
}

static int die(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 20];
	uint64_t sum = 0;
	double t0;

	if (argc < 3)
		return fprintf(stderr, "usage: see fsbench.c\n"), 2;
	if (!strcmp(argv[1], "seqwrite") && (argc == 4 || argc == 5)) {
		long mib = atol(argv[3]);
		size_t block = argc == 5 ? (size_t)atol(argv[4]) : sizeof(buf);
		int fd;

		if (!block || block > sizeof(buf) || sizeof(buf) % block)
			return fprintf(stderr, "BLOCK: a divisor of %zu\n",
				       sizeof(buf)), 2;
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (unsigned char)(i * 2654435761u >> 11);
		t0 = now();
		fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return die("open");
		for (long i = 0; i < mib; i++) {
			buf[0] = (unsigned char)i;
			for (size_t o = 0; o < sizeof(buf); o += block)
				if (write(fd, buf + o, block) != (ssize_t)block)
					return die("write");
		}
		if (fsync(fd) < 0)
			return die("fsync");
		close(fd);
		printf("%.3f %ld\n", now() - t0, mib);
	} else if (!strcmp(argv[1], "seqread") && argc == 3) {
		ssize_t n;
		int fd;

		drop_caches();
		t0 = now();
		fd = open(argv[2], O_RDONLY);
		if (fd < 0)
			return die("open");
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			sum += (uint64_t)n + buf[0];
		close(fd);
		printf("%.3f %llu\n", now() - t0, (unsigned long long)sum);
	} else if (!strcmp(argv[1], "randread") && argc == 4) {
		long n = atol(argv[3]);
		uint64_t x = 88172645463325252ull, blocks;
		struct stat st;
		int fd = open(argv[2], O_RDONLY);

		if (fd < 0 || fstat(fd, &st) < 0)
			return die("open");
		blocks = (uint64_t)st.st_size / 4096;
		drop_caches();
		t0 = now();
		for (long i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (pread(fd, buf, 4096, (off_t)(x % blocks) * 4096) != 4096)
				return die("pread");
			sum += buf[0];
		}
		printf("%.3f %llu\n", now() - t0, (unsigned long long)sum);
		close(fd);
	} else if (!strcmp(argv[1], "meta") && argc == 4) {
		long n = atol(argv[3]);
		char p[4096];
		struct stat st;
		double t1, t2;

		t0 = now();
		for (long i = 0; i < n; i++) {
			int fd;

			snprintf(p, sizeof(p), "%s/f%06ld", argv[2], i);
			fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				return die("create");
			close(fd);
		}
		t1 = now();
		for (long i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/f%06ld", argv[2], i);
			if (stat(p, &st) < 0)
				return die("stat");
			sum += (uint64_t)st.st_size;
		}
		t2 = now();
		for (long i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/f%06ld", argv[2], i);
			if (unlink(p) < 0)
				return die("unlink");
		}
		printf("%.3f %.3f %.3f %llu\n", t1 - t0, t2 - t1, now() - t2,
		       (unsigned long long)sum);
	} else if (!strcmp(argv[1], "cycle") && argc == 4) {
		long n = atol(argv[3]);
		char p[4096];
		struct stat st;

		t0 = now();
		for (long i = 0; i < n; i++) {
			int fd;

			snprintf(p, sizeof(p), "%s/c%06ld", argv[2], i);
			fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				return die("create");
			close(fd);
			if (stat(p, &st) < 0)
				return die("stat");
			if (unlink(p) < 0)
				return die("unlink");
			sum += (uint64_t)st.st_nlink;
		}
		printf("%.3f %llu\n", now() - t0, (unsigned long long)sum);
	} else {
		fprintf(stderr, "usage: see fsbench.c\n");
		return 2;
	}
	return 0;
}
