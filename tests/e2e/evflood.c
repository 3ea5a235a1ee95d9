/* SPDX-License-Identifier: Apache-2.0 */
/* evflood TOPIC COUNT - a guest program that emits COUNT events on TOPIC
 * ({"i":N}, N from 1) through the agent's socket as fast as it takes
 * them, in one process (a shell loop of `msb event emit` pays a fork and
 * an exec per event, which under TCG is most of the time). Writes a
 * window of frames ahead of their answers. Prints "sent N refused M
 * seconds S". Built static by the test, copied in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 32

static int fd;
static unsigned char rbuf[1 << 16];
static size_t rlen;

/* answer() - read one RESULT; Return: its errno, -1 if the link closed */
static int answer(void)
{
	for (;;) {
		if (rlen >= 12) {
			unsigned len = (unsigned)rbuf[0] << 24 | rbuf[1] << 16 |
				       rbuf[2] << 8 | rbuf[3];
			if (rlen >= 12 + len) {
				/* ERRNO is the first record: tag, u32 len, u32 */
				int err = len >= 9 ? rbuf[12 + 5 + 3] : -1;

				memmove(rbuf, rbuf + 12 + len, rlen - 12 - len);
				rlen -= 12 + len;
				return err;
			}
		}
		ssize_t n = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (n <= 0)
			return -1;
		rlen += (size_t)n;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timespec t0, t1;
	long count, sent = 0, refused = 0, inflight = 0;
	size_t tlen;

	if (argc != 3)
		return 2;
	tlen = strlen(argv[1]);
	count = atol(argv[2]);
	strcpy(a.sun_path, "/run/microsandbox/agent.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sent < count || inflight) {
		if (sent < count && inflight < WINDOW) {
			unsigned char f[512];
			char data[32];
			size_t dl = (size_t)snprintf(data, sizeof(data),
						     "{\"i\":%ld}", sent + 1);
			size_t pl = 5 + tlen + 5 + dl, o = 12;

			memset(f, 0, 12);
			f[0] = pl >> 24, f[1] = pl >> 16, f[2] = pl >> 8, f[3] = pl;
			f[8] = 75; /* GEVENT */
			f[o++] = 45, f[o++] = 0, f[o++] = 0, f[o++] = 0,
			f[o++] = (unsigned char)tlen;
			memcpy(f + o, argv[1], tlen), o += tlen;
			f[o++] = 46, f[o++] = 0, f[o++] = 0, f[o++] = 0,
			f[o++] = (unsigned char)dl;
			memcpy(f + o, data, dl), o += dl;
			if (write(fd, f, o) != (ssize_t)o)
				return 1;
			sent++;
			inflight++;
			continue;
		}
		int e = answer();
		if (e < 0)
			return 1;
		if (e)
			refused++;
		inflight--;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("sent %ld refused %ld seconds %.3f\n", sent, refused,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
