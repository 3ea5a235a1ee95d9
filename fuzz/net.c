/* SPDX-License-Identifier: Apache-2.0 */
/* net.c - libFuzzer target: the network stack under a hostile guest
 *
 * The input is a script of operations on one stack:
 *
 *   op & 3 == 0  a frame from the guest: u16 length, bytes; with op & 0x80
 *                its IPv4 header and TCP/UDP/ICMP checksums, or its
 *                IPv6 TCP/UDP/ICMPv6 checksum, are fixed up first, so the
 *                fuzzer gets past them
 *   op & 3 == 1  the newest host socket's peer writes u8 length bytes
 *   op & 3 == 2  time passes: u8 * 50 ms, timers run
 *   op & 3 == 3  the newest host socket's peer closes (EOF, or a reset)
 *
 * Host sockets (TCP, UDP and ping sockets alike) are socketpairs (config
 * open_socket), so no packet leaves
 * the machine and connects complete at once; the stack's own epoll is run
 * after every operation as the supervisor would.
 *
 * Build and run: make build/fuzz/net &&
 *   build/fuzz/net -max_total_time=60 fuzz/corpus/net
 */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "stack.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define PEERS_MAX 64

static int peers[PEERS_MAX];
static int npeers;
/* Every host socket's peer and the guest link's far end, so that only
 * those with something to read are read after each operation: reading
 * every one was half of this target's time. */
static int watch = -1;

static void watch_fd(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	(void)epoll_ctl(watch, EPOLL_CTL_ADD, fd, &ev);
}

static int open_socket(void *opaque, int type, int proto,
		       const struct sockaddr *dst, socklen_t dlen)
{
	int sv[2];

	if (npeers == PEERS_MAX)
		return -24; /* -EMFILE */
	if (socketpair(AF_UNIX, (type == SOCK_STREAM ? SOCK_STREAM : SOCK_DGRAM) |
				 SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -24;
	peers[npeers++] = sv[1];
	watch_fd(sv[1]);
	return sv[0];
}

/* drain() - read all that is waiting on the watched sockets */
static void drain(void)
{
	static uint8_t sink[65536];
	struct epoll_event ev[PEERS_MAX + 1];
	int n = epoll_wait(watch, ev, PEERS_MAX + 1, 0);

	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd, type = 0;
		socklen_t tlen = sizeof(type);
		ssize_t r;

		while ((r = read(fd, sink, sizeof(sink))) > 0 ||
		       (r == 0 && !getsockopt(fd, SOL_SOCKET, SO_TYPE, &type,
					      &tlen) && type == SOCK_DGRAM))
			; /* (an empty datagram is not the end) */
		/* At its end a socket stays readable: watch it no more. */
		if (r == 0 || (r < 0 && errno != EAGAIN))
			(void)epoll_ctl(watch, EPOLL_CTL_DEL, fd, NULL);
	}
}

/* l4_csum() - the offset of the checksum field of transport @proto in a
 * payload of @l4len bytes, or -1 */
static int l4_csum(uint8_t proto, size_t l4len)
{
	if (proto == 6 && l4len >= TCP_HLEN)
		return 16;
	if (proto == 17 && l4len >= UDP_HLEN)
		return 6;
	if ((proto == 1 || proto == 58) && l4len >= 4)
		return 2;
	return -1;
}

/* fix_checksums6() - make an IPv6 frame's transport checksum right */
static void fix_checksums6(uint8_t *f, size_t len)
{
	uint8_t *ip = f + ETH_HLEN, *l4 = ip + IP6_HLEN;
	struct net_addr src, dst;
	size_t plen;
	uint16_t c;
	int off;

	if (len < ETH_HLEN + IP6_HLEN)
		return;
	plen = msb_get_be16(ip + 4);
	if (plen > len - ETH_HLEN - IP6_HLEN)
		return;
	off = l4_csum(ip[6], plen);
	if (off < 0)
		return;
	src = net_addr6(ip + 8);
	dst = net_addr6(ip + 24);
	l4[off] = l4[off + 1] = 0;
	c = net_csum_fold(net_csum_add(net_pseudo(&src, &dst, ip[6], plen), l4,
				       plen));
	msb_put_be16(l4 + off, c);
}

/* fix_checksums() - make an IPv4 frame's checksums right */
static void fix_checksums(uint8_t *f, size_t len)
{
	uint8_t *ip = f + ETH_HLEN, *l4;
	size_t hlen, tot, l4len;
	uint32_t src, dst;
	uint16_t c;
	int off;

	if (len >= ETH_HLEN && f[12] == 0x86 && f[13] == 0xdd) {
		fix_checksums6(f, len);
		return;
	}
	if (len < ETH_HLEN + IP4_HLEN || f[12] != 0x08 || f[13] != 0x00)
		return;
	hlen = (size_t)(ip[0] & 0xf) * 4;
	tot = msb_get_be16(ip + 2);
	if (hlen < IP4_HLEN || tot < hlen || tot > len - ETH_HLEN)
		return;
	ip[10] = ip[11] = 0;
	c = net_csum_fold(net_csum_add(0, ip, hlen));
	msb_put_be16(ip + 10, c);
	l4 = ip + hlen;
	l4len = tot - hlen;
	src = msb_get_be32(ip + 12);
	dst = msb_get_be32(ip + 16);
	off = l4_csum(ip[9], l4len);
	if (off < 0 || ip[9] == 58)
		return;
	l4[off] = l4[off + 1] = 0;
	c = net_csum_fold(net_csum_add(
		ip[9] == 1 ? 0 : net_pseudo4(src, dst, ip[9], l4len), l4,
		l4len));
	msb_put_be16(l4 + off, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_config cfg;
	static int ready;
	static uint8_t frame[NET_FRAME_MAX];
	struct net *n;
	uint64_t now = 1000000;
	int link[2];
	size_t i = 0;

	if (!ready) {
		net_config_default(&cfg);
		cfg.open_socket = open_socket;
		cfg.dns_upstream = net_addr4(0xc0000235);
		/* --net-allow-host: the gateway's port 8080 is the host's */
		cfg.host_ports[0] = 8080;
		cfg.nhost_ports = 1;
		signal(SIGPIPE, SIG_IGN);
		watch = epoll_create1(EPOLL_CLOEXEC);
		if (watch < 0)
			abort();
		ready = 1;
	}
	n = net_new(&cfg);
	if (!n)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       link) < 0) {
		net_free(n);
		return 0;
	}
	net_attach(n, link[0]);
	watch_fd(link[1]);
	while (i < size) {
		uint8_t op = data[i++];
		size_t len;

		switch (op & 3) {
		case 0:
			if (i + 2 > size)
				goto out;
			len = msb_get_be16(data + i);
			i += 2;
			if (len > size - i)
				len = size - i;
			memcpy(frame, data + i, len);
			i += len;
			if (op & 0x80)
				fix_checksums(frame, len);
			/* An exactly sized copy: ASan sees any overread. */
			{
				uint8_t *copy = malloc(len ? len : 1);

				memcpy(copy, frame, len);
				net_input(n, copy, len);
				free(copy);
			}
			tcp_flush_acks(n);
			break;
		case 1:
			if (i >= size)
				goto out;
			len = data[i++];
			if (len > size - i)
				len = size - i;
			if (npeers)
				(void)!write(peers[npeers - 1], data + i, len);
			i += len;
			break;
		case 2:
			if (i >= size)
				goto out;
			now += (uint64_t)data[i++] * 50;
			net_tick(n, now);
			break;
		case 3:
			if (op & 8) {
				/* A host connection on a published port: the
				 * stack's SYN to guest port 80 or 81. */
				int fd = open_socket(NULL, SOCK_STREAM, 0, NULL, 0);

				if (fd >= 0 && tcp_connect_guest(
						       n, fd, 80 + (op >> 7)) < 0)
					close(fd);
				break;
			}
			if (npeers) {
				if (op & 4)
					shutdown(peers[npeers - 1], SHUT_WR);
				else
					close(peers[--npeers]);
			}
			break;
		}
		net_dispatch(n);
		/* Keep the stack's clock ours: dispatch reads the real one. */
		n->now = now;
		drain();
	}
out:
	net_free(n);
	close(link[1]);
	while (npeers)
		close(peers[--npeers]);
	return 0;
}
