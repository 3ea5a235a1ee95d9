/* SPDX-License-Identifier: Apache-2.0 */
/* test_net_fwd.c - a published port through the stack: the host connects,
 * the stack's SYN reaches the guest, the guest's SYN-ACK establishes the
 * flow, bytes move both ways (src/net/fwd.c, tcp.c) */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "netseg.h"
#include "stack.h"

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* guest_seg() - a TCP segment from the guest to the gateway, checksummed */
static size_t guest_seg(uint8_t *f, uint16_t sport, uint16_t dport,
			uint32_t seq, uint32_t ack, uint8_t flags,
			const char *data)
{
	return netseg_tcp4(f, NET_GW_IP, sport, dport, seq, ack, flags, 65535,
			   data ? data : "", data ? strlen(data) : 0);
}

/* next_tcp() - the next TCP segment the stack sent the guest; *@t points
 * at its header, Return: payload length, or -1 if none came */
static int next_tcp(int link, uint8_t *buf, const uint8_t **t)
{
	uint8_t hdr[4];
	uint32_t len;
	struct pollfd pfd = { .fd = link, .events = POLLIN };

	for (;;) {
		if (poll(&pfd, 1, 1000) != 1 || read(link, hdr, 4) != 4)
			return -1;
		len = g32(hdr);
		if (len > NET_FRAME_MAX || read(link, buf, len) != (ssize_t)len)
			return -1;
		if (buf[12] == 0x08 && buf[13] == 0 &&
		    buf[ETH_HLEN + 9] == IPPROTO_TCP)
			break; /* (ARP and the like are not asked for here) */
	}
	*t = buf + ETH_HLEN + IP4_HLEN;
	return (int)(len - ETH_HLEN - IP4_HLEN) - ((*t)[12] >> 4) * 4;
}

TEST(net_published_port_both_ways)
{
	static uint8_t buf[NET_FRAME_MAX], f[2048];
	struct net_config cfg;
	struct net_port port = { .bind = net_addr4(0x7f000001) };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	const uint8_t *t;
	uint32_t seq, gseq = 1000;
	uint16_t sport;
	char got[16] = { 0 };
	msb_error err;
	int link[2], probe, c, dl;
	struct net *n;

	/* A free port, then published. */
	probe = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(0x7f000001);
	CHECK(bind(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	getsockname(probe, (struct sockaddr *)&sa, &sl);
	close(probe);
	port.host_port = ntohs(sa.sin_port);
	port.guest_port = 80;

	net_config_default(&cfg);
	n = net_new(&cfg);
	CHECK(n != NULL);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, link) == 0);
	net_attach(n, link[0]);
	CHECK_EQ_INT(net_publish(n, &port, &err), 0);
	/* The same port again: taken, and the message says so. */
	CHECK_EQ_INT(net_publish(n, &port, &err), -EADDRINUSE);
	CHECK_CONTAINS(err.message, "Address already in use");

	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	net_dispatch(n);

	/* The stack's SYN, from the gateway to guest port 80. */
	CHECK_EQ_INT(next_tcp(link[1], buf, &t), 0);
	CHECK_EQ_INT(t[13], 0x02);
	CHECK_EQ_INT(t[2] << 8 | t[3], 80);
	CHECK_EQ_INT(g32(buf + ETH_HLEN + 12), NET_GW_IP);
	sport = (uint16_t)(t[0] << 8 | t[1]);
	CHECK(sport >= 32768 && sport <= 60999);
	seq = g32(t + 4);

	/* The guest accepts: SYN-ACK; the stack ACKs it. */
	net_input(n, f, guest_seg(f, 80, sport, gseq, seq + 1, 0x12, NULL));
	net_dispatch(n);
	CHECK_EQ_INT(next_tcp(link[1], buf, &t), 0);
	CHECK_EQ_INT(t[13], 0x10);
	CHECK_EQ_INT(g32(t + 8), gseq + 1);
	gseq++;

	/* Host to guest. */
	CHECK_EQ_INT(write(c, "hello", 5), 5);
	for (int i = 0; i < 50 && (dl = next_tcp(link[1], buf, &t)) <= 0; i++)
		net_dispatch(n);
	CHECK_EQ_INT(dl, 5);
	CHECK_MEM(t + (t[12] >> 4) * 4, "hello", 5);
	CHECK_EQ_INT(g32(t + 4), seq + 1);

	/* Guest to host, acknowledging the hello. */
	net_input(n, f, guest_seg(f, 80, sport, gseq, seq + 6, 0x18, "world"));
	net_dispatch(n);
	CHECK_EQ_INT(read(c, got, sizeof(got)), 5);
	CHECK_STR(got, "world");

	/* The guest resets: the host connection is reset too. */
	net_input(n, f, guest_seg(f, 80, sport, gseq + 5, 0, 0x04, NULL));
	net_dispatch(n);
	CHECK(read(c, got, sizeof(got)) < 0 && errno == ECONNRESET);
	close(c);

	net_free(n);
	close(link[1]);
	/* Freed with the stack: the port can be had again. */
	probe = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bind(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(probe);
}

/* Host port 0 (msb run -p 80): the kernel's free port, handed back, and
 * listening. */
TEST(net_published_port_free)
{
	struct net_config cfg;
	struct net_port port = { .bind = net_addr4(0x7f000001),
				 .guest_port = 80 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	msb_error err;
	int c;
	struct net *n;

	net_config_default(&cfg);
	n = net_new(&cfg);
	CHECK(n != NULL);
	if (!n)
		return;
	CHECK_EQ_INT(net_publish(n, &port, &err), 0);
	CHECK(port.host_port != 0);
	sa.sin_addr.s_addr = htonl(0x7f000001);
	sa.sin_port = htons(port.host_port);
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(c);
	net_free(n);
}
