/* SPDX-License-Identifier: Apache-2.0 */
/* connloop.c - new TCP connections from one guest process (bench/net.py)
 *
 *   connloop ADDR PORT N
 *
 * Opens N connections to ADDR:PORT one after another, reads each to the
 * server's EOF and closes it, and prints "N SECONDS": the network stack's
 * handshake and teardown with no process started per connection (the
 * bench's nc loop pays the guest's fork and exec of nc each time, which
 * under TCG is most of it). Built static with musl-gcc and copied into
 * the guest; timed on the guest's monotonic clock over the whole loop.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char buf[512];
	double t0;
	int n;

	if (argc != 4 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 ||
	    (n = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: connloop ADDR PORT N\n");
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	t0 = now();
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("connloop: connect");
			return 1;
		}
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	printf("%d %.6f\n", n, now() - t0);
	return 0;
}
