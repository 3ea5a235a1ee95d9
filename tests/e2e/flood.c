/* SPDX-License-Identifier: Apache-2.0 */
/* flood ADDR OPEN_PORT CLOSED_PORT ROUNDS WIDTH - a guest-side connection
 * flood for the network stack's tests, in one process (a shell loop of nc
 * pays a fork and an exec per connection, which under TCG is most of the
 * test's time). Each round opens WIDTH connections to OPEN_PORT, each
 * sending an HTTP/1.0 request and reading the answer to its end, and WIDTH
 * to CLOSED_PORT, each expected to be refused; all of a round at once.
 * Prints "flood ANSWERED REFUSED". Built static by the test, copied in. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_WIDTH 256

struct conn {
	int fd;
	int want_answer;        /* 1: the open port; 0: the closed one */
	int connected;
	size_t got;
	int seen;               /* the answer named the fake internet */
	char buf[512];
};

static const char REQUEST[] = "GET / HTTP/1.0\r\n\r\n";

static int start(struct conn *c, const struct sockaddr_in *to, int answer)
{
	memset(c, 0, sizeof(*c));
	c->want_answer = answer;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, (const struct sockaddr *)to, sizeof(*to)) == 0)
		c->connected = 1;
	else if (errno != EINPROGRESS)
		c->connected = -1;      /* judged at once below */
	return 0;
}

/* One round; adds to *answered and *refused. */
static int round_of(const struct sockaddr_in *open_to,
		    const struct sockaddr_in *closed_to, int width,
		    int *answered, int *refused)
{
	struct conn conns[2 * MAX_WIDTH];
	struct pollfd pfd[2 * MAX_WIDTH];
	int n = 2 * width, left = n;

	for (int i = 0; i < n; i++)
		if (start(&conns[i], i % 2 ? closed_to : open_to, !(i % 2)) < 0)
			return -1;
	while (left > 0) {
		for (int i = 0; i < n; i++) {
			pfd[i].fd = conns[i].fd;
			pfd[i].events = conns[i].connected ? POLLIN : POLLOUT;
		}
		if (poll(pfd, (nfds_t)n, 30000) <= 0)
			return -1;      /* nothing moved in 30 s */
		for (int i = 0; i < n; i++) {
			struct conn *c = &conns[i];
			int done = 0;

			if (c->fd < 0 || !pfd[i].revents)
				continue;
			if (!c->connected) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err) {
					*refused += !c->want_answer &&
						    err == ECONNREFUSED;
					done = 1;
				} else if (!c->want_answer) {
					done = 1;       /* connected: not refused */
				} else {
					c->connected = 1;
					if (write(c->fd, REQUEST, sizeof(REQUEST) - 1) !=
					    (ssize_t)sizeof(REQUEST) - 1)
						done = 1;
				}
			} else {
				ssize_t r = read(c->fd, c->buf + c->got,
						 sizeof(c->buf) - 1 - c->got);

				if (r > 0) {
					c->got += (size_t)r;
					c->buf[c->got] = 0;
					c->seen |= strstr(c->buf, "fake internet") != NULL;
					if (c->got == sizeof(c->buf) - 1)
						c->got = 0;     /* only the start matters */
				} else if (r == 0) {
					*answered += c->seen;
					done = 1;
				} else if (errno != EAGAIN) {
					done = 1;
				}
			}
			if (done) {
				close(c->fd);
				c->fd = -1;
				left--;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in open_to = { .sin_family = AF_INET };
	struct sockaddr_in closed_to;
	int answered = 0, refused = 0, rounds, width;

	if (argc != 6 || inet_pton(AF_INET, argv[1], &open_to.sin_addr) != 1) {
		fprintf(stderr, "usage: flood ADDR OPEN_PORT CLOSED_PORT ROUNDS WIDTH\n");
		return 2;
	}
	closed_to = open_to;
	open_to.sin_port = htons((uint16_t)atoi(argv[2]));
	closed_to.sin_port = htons((uint16_t)atoi(argv[3]));
	rounds = atoi(argv[4]);
	width = atoi(argv[5]);
	if (width < 1 || width > MAX_WIDTH || rounds < 1) {
		fprintf(stderr, "flood: WIDTH 1-%d, ROUNDS at least 1\n", MAX_WIDTH);
		return 2;
	}
	for (int r = 0; r < rounds; r++)
		if (round_of(&open_to, &closed_to, width, &answered, &refused) < 0) {
			perror("flood");
			return 1;
		}
	printf("flood %d %d\n", answered, refused);
	return 0;
}
