// SPDX-License-Identifier: Apache-2.0
/* chunkstat.c - what a second push would send under a chunking scheme
 * (bench/sync.py builds and runs it; not part of msb)
 *
 *   chunkstat fixed KIB OLD NEW     windows of KIB KiB at fixed offsets,
 *                                   holes and zero windows skipped (what
 *                                   src/sync/chunks.c does)
 *   chunkstat cdc KIB OLD NEW       content-defined chunks averaging KIB
 *                                   KiB (a gear rolling hash, FastCDC's
 *                                   kind; cut where the hash's top bits
 *                                   are zero, between KIB/4 and 4*KIB),
 *                                   all-zero chunks skipped
 *
 * prints "chunks_old bytes_old chunks_new_unseen bytes_new_unseen":
 * NEW's chunks whose sha256 is not among OLD's are what the second push
 * sends (before compression, which applies to every scheme alike).
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

struct set {
	unsigned char (*v)[32];
	size_t n, cap;
};

static void add(struct set *s, const unsigned char d[32])
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * 32);
		if (!s->v)
			exit(1);
	}
	memcpy(s->v[s->n++], d, 32);
}

static int cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static unsigned char *map_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	unsigned char *buf;
	size_t done = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		exit(1);
	*len = (size_t)st.st_size;
	buf = calloc(1, *len ? *len : 1);
	if (!buf)
		exit(1);
	/* only the data is read: the holes stay zeros */
	while (done < *len) {
		off_t d = lseek(fd, (off_t)done, SEEK_DATA), h;

		if (d < 0)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		if (pread(fd, buf + d, (size_t)(h - d), d) != h - d)
			exit(1);
		done = (size_t)h;
	}
	close(fd);
	return buf;
}

static uint64_t gear[256];

/* chunks() - cut @buf, hash every non-zero chunk into @s (when @seen is
 * NULL) or count those not in @seen. */
static void chunks(const char *how, size_t kib, const unsigned char *buf,
		   size_t len, struct set *s, const struct set *seen,
		   size_t *nchunks, size_t *bytes)
{
	size_t avg = kib << 10, pos = 0;
	uint64_t mask = avg - 1; /* avg: a power of two */

	*nchunks = *bytes = 0;
	while (pos < len) {
		size_t end;
		unsigned char d[32];

		if (!strcmp(how, "fixed")) {
			end = pos + avg < len ? pos + avg : len;
		} else {
			size_t min = pos + avg / 4, max = pos + avg * 4;
			uint64_t h = 0;

			if (max > len)
				max = len;
			end = max;
			for (size_t i = min < max ? min : max; i < max; i++) {
				h = (h << 1) + gear[buf[i]];
				if (!(h >> 40 & mask)) {
					end = i + 1;
					break;
				}
			}
		}
		if (!zero(buf + pos, end - pos)) {
			EVP_Digest(buf + pos, end - pos, d, NULL, EVP_sha256(),
				   NULL);
			if (!seen) {
				add(s, d);
				(*nchunks)++;
				*bytes += end - pos;
			} else if (!bsearch(d, seen->v, seen->n, 32, cmp)) {
				(*nchunks)++;
				*bytes += end - pos;
			}
		}
		pos = end;
	}
}

int main(int argc, char **argv)
{
	struct set old = { 0 };
	size_t ol, nl, oc, ob, nc, nb, kib;
	unsigned char *o, *n;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	if (argc != 5 || (strcmp(argv[1], "fixed") && strcmp(argv[1], "cdc"))) {
		fprintf(stderr, "usage: chunkstat fixed|cdc KIB OLD NEW\n");
		return 2;
	}
	kib = strtoul(argv[2], NULL, 10);
	if (!kib || (kib & (kib - 1))) {
		fprintf(stderr, "KIB: a power of two\n");
		return 2;
	}
	for (int i = 0; i < 256; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		gear[i] = x;
	}
	o = map_file(argv[3], &ol);
	n = map_file(argv[4], &nl);
	chunks(argv[1], kib, o, ol, &old, NULL, &oc, &ob);
	qsort(old.v, old.n, 32, cmp);
	chunks(argv[1], kib, n, nl, NULL, &old, &nc, &nb);
	printf("%zu %zu %zu %zu\n", oc, ob, nc, nb);
	return 0;
}
