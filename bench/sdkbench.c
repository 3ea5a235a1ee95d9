// SPDX-License-Identifier: Apache-2.0
/* sdkbench.c - the C API's side of bench/sdk.py: one measurement
 *
 * Built by bench/sdk.py against the build's libmsb:
 *
 *   sdkbench NAME exec N            N round trips of `true` (msb_exec_capture)
 *   sdkbench NAME write GUEST HOST  HOST's bytes into GUEST (msb_file_write_fd)
 *   sdkbench NAME read GUEST HOST   GUEST's bytes into HOST (msb_file_read_fd)
 *
 * prints microseconds, one line per call for exec, one line otherwise.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msb.h"

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	msb_sandbox *sb;
	msb_error err = { 0 };
	long long t0;
	int r = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: sdkbench NAME exec N | write|read GUEST HOST\n");
		return 2;
	}
	if (msb_sandbox_open(argv[1], &sb, &err) < 0) {
		fprintf(stderr, "sdkbench: %s\n", err.message);
		return 1;
	}
	if (!strcmp(argv[2], "exec")) {
		static const char *const cmd[] = { "true", NULL };
		int n = atoi(argv[3]);

		for (int i = 0; i < n && r == 0; i++) {
			msb_output out;

			t0 = now_us();
			r = msb_exec_capture(sb, cmd, NULL, &out, &err);
			if (r == 0) {
				printf("%lld\n", now_us() - t0);
				msb_output_free(&out);
			}
		}
	} else if (argc == 5) {
		int wr = !strcmp(argv[2], "write");
		int fd = wr ? open(argv[4], O_RDONLY) :
			      open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0) {
			perror(argv[4]);
			return 1;
		}
		t0 = now_us();
		r = wr ? msb_file_write_fd(sb, argv[3], fd, NULL, NULL, &err) :
			 msb_file_read_fd(sb, argv[3], fd, NULL, NULL, &err);
		if (r == 0)
			printf("%lld\n", now_us() - t0);
		close(fd);
	}
	if (r < 0)
		fprintf(stderr, "sdkbench: %s\n", err.message);
	msb_sandbox_close(sb);
	return r < 0;
}
