// SPDX-License-Identifier: Apache-2.0
/* layercheck.c - what checking an image's layers costs a boot (not part
 * of msb; build it against the build's static library):
 *
 *   cc -Iinclude -Isrc/common -Isrc/image -Isrc/lib -o /tmp/layercheck \
 *      bench/layercheck.c build/lib/libmsb.a -ljson-c -lsqlite3 -lssl \
 *      -lcrypto -lyaml -lzstd -lpthread -ldl -lm
 *   MSB_HOME=... /tmp/layercheck IMAGE [ROUNDS]
 *
 * IMAGE pulled in that home. Prints the median and 90th percentile of
 * ROUNDS (default 2000) calls, in microseconds, of: msb_layers_ready()
 * over the image's disks, opening the state database itself (as 'msb
 * start' does) and given the connection msb_image_resolve() has open (as
 * 'msb run' does): each disk's recorded size looked up, the disk opened,
 * stat'd, its first 4 KiB read and its superblock checked;
 * msb_layer_whole() alone for each disk; and, the peer in the same run,
 * access(2) of each disk (what a boot did before).
 */

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "state.h"

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

static void show(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%-34s median %7.1f us   p90 %7.1f us\n", what, v[n / 2],
	       v[n * 9 / 10]);
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	double *t = calloc((size_t)rounds, sizeof(double));
	json_object *disks, *cfg;
	msb_error err = { 0 };
	char canon[700], why[200];
	sqlite3 *db;
	size_t nd;

	if (argc < 2 || rounds < 10 || !t) {
		fprintf(stderr, "usage: layercheck IMAGE [ROUNDS]\n");
		return 2;
	}
	if (msb_image_resolve(argv[1], MSB_IMAGE_MAX_DISKS, &disks, &cfg,
			      canon, sizeof(canon), &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	nd = json_object_array_length(disks);
	printf("%s: %zu disks\n", canon, nd);
	for (int i = 0; i < rounds; i++) {
		double t0 = now_us();

		if (msb_layers_ready(NULL, disks, canon, &err) < 0) {
			fprintf(stderr, "%s\n", err.message);
			return 1;
		}
		t[i] = now_us() - t0;
	}
	show("msb_layers_ready, own connection", t, rounds);
	if (msb_db_open(NULL, &db, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	for (int i = 0; i < rounds; i++) {
		double t0 = now_us();

		if (msb_layers_ready(db, disks, canon, &err) < 0) {
			fprintf(stderr, "%s\n", err.message);
			return 1;
		}
		t[i] = now_us() - t0;
	}
	msb_db_close(db);
	show("msb_layers_ready, given one", t, rounds);
	for (int i = 0; i < rounds; i++) {
		double t0 = now_us();

		for (size_t d = 0; d < nd; d++)
			if (!msb_layer_whole(json_object_get_string(
					json_object_array_get_idx(disks, d)),
					     0, why, sizeof(why)))
				return 1;
		t[i] = now_us() - t0;
	}
	show("msb_layer_whole (all disks)", t, rounds);
	for (int i = 0; i < rounds; i++) {
		double t0 = now_us();

		for (size_t d = 0; d < nd; d++)
			if (access(json_object_get_string(
					   json_object_array_get_idx(disks, d)),
				   R_OK) < 0)
				return 1;
		t[i] = now_us() - t0;
	}
	show("access (all disks; before)", t, rounds);
	json_object_put(disks);
	json_object_put(cfg);
	free(t);
	return 0;
}
