/* SPDX-License-Identifier: Apache-2.0 */
/* test_net6.c - IPv6 in the stack: the policy's IPv6 ranges, neighbour
 * discovery, ICMPv6 echo and errors, TCP over IPv6, and pings beyond the
 * gateway, fed to the stack as a guest's frames (src/net/) */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "policy.h"
#include "stack.h"

static const uint8_t GUEST6[16] = NET_GUEST_IP6, GW6[16] = NET_GW_IP6;
static const uint8_t GMAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t HMAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x35, 0x02 };

static struct net_addr a6(const char *s)
{
	struct net_addr a = { .family = 6 };

	if (inet_pton(AF_INET6, s, a.b) != 1)
		a.family = 0;
	return a;
}

TEST(net6_policy_ranges)
{
	static struct net_policy p;
	char why[160];
	msb_error err;
	static const char *const denied[][2] = {
		{ "::1", "loopback" },
		{ "::", "unspecified" },
		{ "fc00::1", "unique local" },
		{ "fd6d:7362::99", "unique local" },
		{ "fd00:ec2::254", "cloud metadata" },
		{ "fe80::1", "link-local" },
		{ "ff02::1", "multicast" },
		{ "::ffff:10.1.2.3", "IPv4-mapped" },
		{ "::ffff:8.8.8.8", "IPv4-mapped" },
		{ "64:ff9b::a01:203", "NAT64 to a denied IPv4 address: default "
				      "deny 10.0.0.0/8" },
		{ "64:ff9b::a9fe:a9fe", "cloud metadata" },
	};
	static const char *const allowed[] = {
		"2001:db8::1", "2001:db8:64::3", "2606:4700::1111",
		"64:ff9b::808:808", /* NAT64 to 8.8.8.8 */
	};

	net_policy_init(&p);
	for (size_t i = 0; i < ARRAY_SIZE(denied); i++) {
		struct net_addr a = a6(denied[i][0]);

		CHECK(!net_policy_ip(&p, &a, 0, why, sizeof(why)));
		CHECK_CONTAINS(why, denied[i][1]);
		CHECK(!net_policy_answer(&p, &a));
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		struct net_addr a = a6(allowed[i]);

		CHECK(net_policy_ip(&p, &a, 0, why, sizeof(why)));
		CHECK(net_policy_answer(&p, &a));
	}
	/* IPv6 rules, both ways; an IPv4 rule says nothing of IPv6. */
	CHECK_EQ_INT(net_policy_add(&p, "block-cidr", "2001:db8:64::/48",
					    &err), 0);
	CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", "fd00:1::/32", &err), 0);
	CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", "10.0.0.0/8", &err), 0);
	{
		struct net_addr blocked = a6("2001:db8:64::3"),
				other = a6("2001:db8:65::3"),
				opened = a6("fd00:1::5"), ula = a6("fd00:2::5"),
				nat64 = a6("64:ff9b::a01:203");

		CHECK(!net_policy_ip(&p, &blocked, 0, why, sizeof(why)));
		CHECK_CONTAINS(why, "--net-block-cidr 2001:db8:64::/48");
		CHECK(net_policy_ip(&p, &other, 0, why, sizeof(why)));
		CHECK(net_policy_ip(&p, &opened, 0, why, sizeof(why)));
		CHECK_CONTAINS(why, "--net-allow-cidr fd00:1::/32");
		CHECK(!net_policy_ip(&p, &ula, 0, why, sizeof(why)));
		/* 10/8 opened: its NAT64 form follows. */
		CHECK(net_policy_ip(&p, &nat64, 0, why, sizeof(why)));
	}
	/* Bindings hold IPv6 addresses as IPv4 ones. */
	CHECK_EQ_INT(net_policy_add(&p, "allow", "example.com", &err), 0);
	{
		struct net_addr x = a6("2001:db8:1::5"), y = a6("2001:db8:1::6");

		CHECK(!net_policy_ip(&p, &x, 1000, why, sizeof(why)));
		net_policy_bind(&p, &x, 60, 1000);
		CHECK(net_policy_ip(&p, &x, 1000, why, sizeof(why)));
		CHECK(!net_policy_ip(&p, &y, 1000, why, sizeof(why)));
	}
}

TEST(net6_endpoint_parse)
{
	static const struct {
		const char *s;
		int ok, family;
		uint16_t port;
	} cases[] = {
		{ "192.0.2.1", 0, 4, 53 },     { "192.0.2.1:5353", 0, 4, 5353 },
		{ "2001:db8::1", 0, 6, 53 },   { "[2001:db8::1]:99", 0, 6, 99 },
		{ "[::1]", 0, 6, 53 },         { "::1", 0, 6, 53 },
		{ "192.0.2.1:", -1, 0, 0 },    { "192.0.2.1:0", -1, 0, 0 },
		{ "192.0.2.1:65536", -1, 0, 0 }, { "[2001:db8::1]:", -1, 0, 0 },
		{ "[2001:db8::1", -1, 0, 0 },  { "2001:db8::1]:53", -1, 0, 0 },
		{ "[192.0.2.1]x", -1, 0, 0 },  { "example.com", -1, 0, 0 },
		{ "", -1, 0, 0 },              { "1.2.3.4:5:6", -1, 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct net_addr a;
		uint16_t port;
		int r = net_endpoint_parse(cases[i].s, &a, &port, 53);

		CHECK_EQ_INT(r, cases[i].ok);
		if (!r) {
			CHECK_EQ_INT(a.family, cases[i].family);
			CHECK_EQ_INT(port, cases[i].port);
		}
	}
}

/* A stack whose host sockets are socketpairs; the test holds their other
 * ends and sees what each was opened for. */

static int peer[8], npeer, last_family, last_proto;
static uint8_t last_addr[16];
static uint16_t last_port;
static char last_log[512];

static int open6(void *opaque, int type, int proto,
		 const struct sockaddr *dst, socklen_t len)
{
	int sv[2];

	(void)opaque;
	if (npeer == (int)ARRAY_SIZE(peer))
		return -EMFILE;
	last_family = dst->sa_family;
	last_proto = proto;
	if (dst->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)dst;

		memcpy(last_addr, &in6->sin6_addr, 16);
		last_port = ntohs(in6->sin6_port);
	}
	if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	peer[npeer++] = sv[1];
	return sv[0];
}

static void log6(void *opaque, const char *msg)
{
	(void)opaque;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

struct rig {
	struct net *n;
	int link;
};

static int rig_open(struct rig *r)
{
	struct net_config cfg;
	int sv[2];

	net_config_default(&cfg);
	cfg.open_socket = open6;
	cfg.log = log6;
	npeer = 0;
	r->n = net_new(&cfg);
	if (!r->n || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	net_attach(r->n, sv[0]);
	r->link = sv[1];
	return 0;
}

static void rig_close(struct rig *r)
{
	net_free(r->n);
	close(r->link);
	while (npeer)
		close(peer[--npeer]);
}

/* send6() - a frame from the guest: IPv6 from @src to @dst, @proto, @hops,
 * with its transport checksum (at @csum_off in @l4) filled in */
static void send6(struct rig *r, const uint8_t *src, const uint8_t *dst,
		  uint8_t proto, uint8_t hops, uint8_t *l4, size_t l4len,
		  size_t csum_off)
{
	static uint8_t f[ETH_HLEN + IP6_HLEN + 1500];
	uint8_t *ip = f + ETH_HLEN;
	struct net_addr s = net_addr6(src), d = net_addr6(dst);
	uint16_t c;

	memcpy(f, HMAC, 6);
	memcpy(f + 6, GMAC, 6);
	f[12] = 0x86;
	f[13] = 0xdd;
	memset(ip, 0, IP6_HLEN);
	ip[0] = 0x60;
	ip[4] = (uint8_t)(l4len >> 8);
	ip[5] = (uint8_t)l4len;
	ip[6] = proto;
	ip[7] = hops;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
	l4[csum_off] = l4[csum_off + 1] = 0;
	c = net_csum_fold(net_csum_add(net_pseudo(&s, &d, proto, l4len), l4,
				       l4len));
	l4[csum_off] = (uint8_t)(c >> 8);
	l4[csum_off + 1] = (uint8_t)c;
	memcpy(ip + IP6_HLEN, l4, l4len);
	net_input(r->n, f, ETH_HLEN + IP6_HLEN + l4len);
}

/* recv6() - the next frame to the guest (dispatching first), checked as
 * IPv6 with a correct transport checksum. Return: its IPv6 header, or
 * NULL if there is none; *@l4len is the payload's length */
static const uint8_t *recv6(struct rig *r, size_t *l4len)
{
	static uint8_t buf[NET_OUT_BUF];
	static size_t have, off;
	const uint8_t *f, *ip;
	struct net_addr s, d;
	uint32_t flen;
	ssize_t got;

	net_dispatch(r->n);
	memmove(buf, buf + off, have - off);
	have -= off;
	off = 0;
	got = recv(r->link, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
	if (got > 0)
		have += (size_t)got;
	if (have < 4)
		return NULL;
	flen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	       (uint32_t)buf[2] << 8 | buf[3];
	if (have < 4 + flen || flen < ETH_HLEN + IP6_HLEN)
		return NULL;
	off = 4 + flen;
	f = buf + 4;
	CHECK_MEM(f, GMAC, 6);
	CHECK_MEM(f + 6, HMAC, 6);
	CHECK(f[12] == 0x86 && f[13] == 0xdd);
	ip = f + ETH_HLEN;
	*l4len = (size_t)ip[4] << 8 | ip[5];
	CHECK_EQ_INT(*l4len, flen - ETH_HLEN - IP6_HLEN);
	s = net_addr6(ip + 8);
	d = net_addr6(ip + 24);
	CHECK_EQ_INT(net_csum_fold(net_csum_add(net_pseudo(&s, &d, ip[6],
							   *l4len),
						ip + IP6_HLEN, *l4len)),
		     0);
	return ip;
}

static void drain6(struct rig *r)
{
	size_t l;

	while (recv6(r, &l))
		;
}

TEST(net6_neighbor_discovery)
{
	static const uint8_t snm[16] = { 0xff, 0x02, [11] = 1, [12] = 0xff,
					 [15] = 2 };
	static const uint8_t unspec[16];
	uint8_t ns[32], other[16] = NET_IP6(0x99);
	struct rig r;
	const uint8_t *ip;
	size_t l;

	CHECK_EQ_INT(rig_open(&r), 0);
	/* RFC 4861 §4.3: type, code, checksum, reserved, target, and the
	 * source link-layer address option. */
	memset(ns, 0, sizeof(ns));
	ns[0] = 135;
	memcpy(ns + 8, GW6, 16);
	ns[24] = 1;
	ns[25] = 1;
	memcpy(ns + 26, GMAC, 6);
	send6(&r, GUEST6, snm, IPPROTO_ICMPV6, 255, ns, sizeof(ns), 2);
	ip = recv6(&r, &l);
	CHECK(ip != NULL);
	if (ip) {
		const uint8_t *na = ip + IP6_HLEN;

		CHECK_EQ_INT(ip[6], IPPROTO_ICMPV6);
		CHECK_EQ_INT(ip[7], 255); /* §7.1.2 */
		CHECK_MEM(ip + 8, GW6, 16);
		CHECK_MEM(ip + 24, GUEST6, 16);
		CHECK_EQ_INT(l, 32);
		CHECK_EQ_INT(na[0], 136);
		CHECK_EQ_INT(na[4], 0x80 | 0x40 | 0x20); /* router, solicited,
							  * override */
		CHECK_MEM(na + 8, GW6, 16);
		CHECK_EQ_INT(na[24], 2); /* target link-layer address */
		CHECK_MEM(na + 26, HMAC, 6);
	}
	CHECK(recv6(&r, &l) == NULL);
	/* Not answered: a hop limit other than 255 (it came from off the
	 * link), an address that is not ours, duplicate address detection. */
	send6(&r, GUEST6, snm, IPPROTO_ICMPV6, 64, ns, sizeof(ns), 2);
	memcpy(ns + 8, other, 16);
	send6(&r, GUEST6, snm, IPPROTO_ICMPV6, 255, ns, sizeof(ns), 2);
	memcpy(ns + 8, GUEST6, 16);
	send6(&r, unspec, snm, IPPROTO_ICMPV6, 255, ns, sizeof(ns), 2);
	CHECK(recv6(&r, &l) == NULL);
	/* A bad checksum: dropped. */
	{
		uint64_t dropped = r.n->st.rx_dropped;
		static uint8_t f[ETH_HLEN + IP6_HLEN + 32];

		memcpy(ns + 8, GW6, 16);
		send6(&r, GUEST6, snm, IPPROTO_ICMPV6, 255, ns, sizeof(ns), 2);
		drain6(&r);
		memset(f, 0, sizeof(f));
		memcpy(f, HMAC, 6);
		f[12] = 0x86;
		f[13] = 0xdd;
		f[14] = 0x60;
		f[19] = 32;
		f[20] = IPPROTO_ICMPV6;
		f[21] = 255;
		memcpy(f + 22, GUEST6, 16);
		memcpy(f + 38, snm, 16);
		memcpy(f + ETH_HLEN + IP6_HLEN, ns, 32);
		f[ETH_HLEN + IP6_HLEN + 2] ^= 0x55;
		net_input(r.n, f, sizeof(f));
		CHECK(recv6(&r, &l) == NULL);
		CHECK(r.n->st.rx_dropped == dropped + 1);
	}
	rig_close(&r);
}

TEST(net6_echo_and_errors)
{
	uint8_t echo[8 + 5] = { 128, 0, 0, 0, 0x12, 0x34, 0, 7, 'h', 'e',
				'l', 'l', 'o' };
	uint8_t meta[16], there[16];
	struct rig r;
	const uint8_t *ip;
	size_t l;

	CHECK_EQ_INT(rig_open(&r), 0);
	send6(&r, GUEST6, GW6, IPPROTO_ICMPV6, 64, echo, sizeof(echo), 2);
	ip = recv6(&r, &l);
	CHECK(ip != NULL);
	if (ip) {
		CHECK_MEM(ip + 8, GW6, 16);
		CHECK_EQ_INT(l, sizeof(echo));
		CHECK_EQ_INT(ip[IP6_HLEN], 129);
		CHECK_MEM(ip + IP6_HLEN + 4, echo + 4, sizeof(echo) - 4);
	}
	/* To a denied address: administratively prohibited (RFC 4443 §3.1
	 * code 1), quoting the request, and a log line. */
	inet_pton(AF_INET6, "fd00:ec2::254", meta);
	send6(&r, GUEST6, meta, IPPROTO_ICMPV6, 64, echo, sizeof(echo), 2);
	ip = recv6(&r, &l);
	CHECK(ip != NULL);
	if (ip) {
		CHECK_MEM(ip + 8, GW6, 16);
		CHECK_EQ_INT(ip[IP6_HLEN], 1);
		CHECK_EQ_INT(ip[IP6_HLEN + 1], 1);
		CHECK_EQ_INT(l, 8 + IP6_HLEN + sizeof(echo));
		CHECK_MEM(ip + IP6_HLEN + 8 + 24, meta, 16);
	}
	CHECK_CONTAINS(last_log, "denied icmp echo fd00:ec2::254: default "
				 "deny fd00:ec2::254/128, cloud metadata");
	CHECK_EQ_INT(npeer, 0);
	/* Allowed: a ping socket to it; the reply comes back with the
	 * guest's identifier whatever the socket's was. */
	inet_pton(AF_INET6, "2001:db8::7", there);
	send6(&r, GUEST6, there, IPPROTO_ICMPV6, 64, echo, sizeof(echo), 2);
	CHECK_EQ_INT(npeer, 1);
	CHECK_EQ_INT(last_family, AF_INET6);
	CHECK_EQ_INT(last_proto, IPPROTO_ICMPV6);
	if (npeer == 1) {
		uint8_t got[64], reply[sizeof(echo)];

		CHECK_EQ_INT(recv(peer[0], got, sizeof(got), MSG_DONTWAIT),
			     sizeof(echo));
		CHECK_MEM(got + 8, "hello", 5);
		memcpy(reply, echo, sizeof(echo));
		reply[0] = 129;
		reply[4] = 0xab; /* the kernel's identifier */
		CHECK_EQ_INT(send(peer[0], reply, sizeof(reply), 0),
			     sizeof(reply));
		ip = recv6(&r, &l);
		CHECK(ip != NULL);
		if (ip) {
			CHECK_MEM(ip + 8, there, 16);
			CHECK_EQ_INT(ip[IP6_HLEN], 129);
			CHECK_EQ_INT(ip[IP6_HLEN + 4], 0x12);
			CHECK_EQ_INT(ip[IP6_HLEN + 5], 0x34);
			CHECK_MEM(ip + IP6_HLEN + 8, "hello", 5);
		}
	}
	/* UDP to a closed port of the gateway: port unreachable (code 4). */
	{
		uint8_t u[8 + 3] = { 0x13, 0x88, 0, 9, 0, 11, 0, 0, 'a', 'b',
				     'c' };

		send6(&r, GUEST6, GW6, IPPROTO_UDP, 64, u, sizeof(u), 6);
		ip = recv6(&r, &l);
		CHECK(ip != NULL);
		if (ip) {
			CHECK_EQ_INT(ip[IP6_HLEN], 1);
			CHECK_EQ_INT(ip[IP6_HLEN + 1], 4);
		}
	}
	rig_close(&r);
}

TEST(net6_udp_flow)
{
	uint8_t u[8 + 4] = { 0x13, 0x88, 0, 7, 0, 12, 0, 0, 'p', 'i', 'n',
			     'g' };
	uint8_t there[16], got[16];
	struct rig r;
	const uint8_t *ip;
	size_t l;

	inet_pton(AF_INET6, "2001:db8::7", there);
	CHECK_EQ_INT(rig_open(&r), 0);
	/* A datagram opens an IPv6 UDP socket to the same address and port,
	 * and what it receives comes back from there. */
	send6(&r, GUEST6, there, IPPROTO_UDP, 64, u, sizeof(u), 6);
	CHECK_EQ_INT(npeer, 1);
	CHECK_EQ_INT(last_family, AF_INET6);
	CHECK_MEM(last_addr, there, 16);
	CHECK_EQ_INT(last_port, 7);
	if (npeer == 1) {
		CHECK_EQ_INT(recv(peer[0], got, sizeof(got), MSG_DONTWAIT), 4);
		CHECK_MEM(got, "ping", 4);
		CHECK_EQ_INT(send(peer[0], "pong!", 5, 0), 5);
		ip = recv6(&r, &l);
		CHECK(ip != NULL);
		if (ip) {
			CHECK_EQ_INT(ip[6], IPPROTO_UDP);
			CHECK_MEM(ip + 8, there, 16);
			CHECK_MEM(ip + 24, GUEST6, 16);
			CHECK_EQ_INT(l, 8 + 5);
			CHECK_EQ_INT(ip[IP6_HLEN + 1], 7);    /* from port 7 */
			CHECK_EQ_INT(ip[IP6_HLEN + 3], 0x88); /* to 5000 */
			CHECK_MEM(ip + IP6_HLEN + 8, "pong!", 5);
		}
	}
	/* IPv6 makes UDP's checksum mandatory: a zero one is dropped. */
	{
		uint64_t dropped = r.n->st.rx_dropped;
		uint8_t u2[8 + 4] = { 0x13, 0x89, 0, 7, 0, 12, 0, 0, 'x', 'x',
				      'x', 'x' };

		send6(&r, GUEST6, there, IPPROTO_UDP, 64, u2, sizeof(u2), 6);
		CHECK_EQ_INT(npeer, 2); /* (a valid one: a second flow) */
		/* now the same with the checksum zeroed after the fact */
		{
			static uint8_t f[ETH_HLEN + IP6_HLEN + 12];
			uint8_t *ip6 = f + ETH_HLEN;

			memcpy(f, HMAC, 6);
			memcpy(f + 6, GMAC, 6);
			f[12] = 0x86;
			f[13] = 0xdd;
			ip6[0] = 0x60;
			ip6[5] = 12;
			ip6[6] = IPPROTO_UDP;
			ip6[7] = 64;
			memcpy(ip6 + 8, GUEST6, 16);
			memcpy(ip6 + 24, there, 16);
			memcpy(ip6 + IP6_HLEN, u2, sizeof(u2));
			ip6[IP6_HLEN + 1] = 0x8a; /* another port, no flow */
			ip6[IP6_HLEN + 6] = ip6[IP6_HLEN + 7] = 0;
			net_input(r.n, f, sizeof(f));
		}
		CHECK_EQ_INT(npeer, 2);
		CHECK(r.n->st.rx_dropped == dropped + 1);
	}
	rig_close(&r);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* tcp6() - a segment from the guest's port 40000 to @dst port 80 */
static void tcp6(struct rig *r, const uint8_t *dst, uint32_t seq,
		 uint32_t ack, uint8_t flags, const char *data, int syn_opts)
{
	uint8_t t[20 + 8 + 64] = { 0 };
	size_t hlen = syn_opts ? 28 : 20, dlen = data ? strlen(data) : 0;

	t[0] = 40000 >> 8;
	t[1] = 40000 & 0xff;
	t[3] = 80;
	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	t[8] = (uint8_t)(ack >> 24);
	t[9] = (uint8_t)(ack >> 16);
	t[10] = (uint8_t)(ack >> 8);
	t[11] = (uint8_t)ack;
	t[12] = (uint8_t)((hlen / 4) << 4);
	t[13] = flags;
	t[14] = 0xff;
	t[15] = 0xff;
	if (syn_opts) {
		/* MSS 1440, window scale 7 */
		memcpy(t + 20, "\x02\x04\x05\xa0\x01\x03\x03\x07", 8);
	}
	memcpy(t + hlen, data ? data : "", dlen);
	send6(r, GUEST6, dst, IPPROTO_TCP, 64, t, hlen + dlen, 16);
}

TEST(net6_tcp_flow)
{
	uint8_t there[16], meta[16];
	struct rig r;
	const uint8_t *ip;
	uint32_t iss = 0;
	size_t l;

	inet_pton(AF_INET6, "2001:db8::7", there);
	inet_pton(AF_INET6, "fd00:ec2::254", meta);
	CHECK_EQ_INT(rig_open(&r), 0);
	/* Denied: an RST at once, and no socket. */
	tcp6(&r, meta, 1000, 0, 0x02, NULL, 1);
	ip = recv6(&r, &l);
	CHECK(ip != NULL);
	if (ip)
		CHECK_EQ_INT(ip[IP6_HLEN + 13], 0x14); /* RST, ACK */
	CHECK_EQ_INT(npeer, 0);
	CHECK_CONTAINS(last_log, "denied tcp [fd00:ec2::254]:80");

	/* Allowed: an IPv6 host socket to the same address and port, then
	 * the SYN-ACK with an MSS for IPv6's longer header. */
	tcp6(&r, there, 1000, 0, 0x02, NULL, 1);
	CHECK_EQ_INT(npeer, 1);
	CHECK_EQ_INT(last_family, AF_INET6);
	CHECK_MEM(last_addr, there, 16);
	CHECK_EQ_INT(last_port, 80);
	ip = recv6(&r, &l);
	CHECK(ip != NULL);
	if (ip) {
		const uint8_t *t = ip + IP6_HLEN;

		CHECK_MEM(ip + 8, there, 16);
		CHECK_EQ_INT(t[13], 0x12); /* SYN, ACK */
		CHECK_EQ_INT(get32(t + 8), 1001);
		CHECK_EQ_INT(t[20], 2);
		CHECK_EQ_INT(t[22] << 8 | t[23], NET_MTU - IP6_HLEN - TCP_HLEN);
		iss = get32(t + 4);
	}
	tcp6(&r, there, 1001, iss + 1, 0x10, NULL, 0);
	tcp6(&r, there, 1001, iss + 1, 0x18, "GET / HTTP/1.0\r\n\r\n", 0);
	drain6(&r);
	if (npeer == 1) {
		char got[64] = { 0 };

		CHECK_EQ_INT(recv(peer[0], got, sizeof(got) - 1, MSG_DONTWAIT),
			     18);
		CHECK_STR(got, "GET / HTTP/1.0\r\n\r\n");
		CHECK_EQ_INT(send(peer[0], "HTTP/1.0 200 OK\r\n\r\nhi", 21, 0),
			     21);
		ip = recv6(&r, &l);
		CHECK(ip != NULL);
		if (ip) {
			CHECK_EQ_INT(l, TCP_HLEN + 21);
			CHECK_EQ_INT(get32(ip + IP6_HLEN + 4), iss + 1);
			CHECK_MEM(ip + IP6_HLEN + TCP_HLEN, "HTTP/1.0 200", 12);
		}
	}
	CHECK_EQ_INT(r.n->tcp_hi, 1);
	CHECK_EQ_INT(r.n->tcp[0].state, TF_ESTABLISHED);
	/* The guest resets: the flow and its socket go. */
	tcp6(&r, there, 1019, 0, 0x04, NULL, 0);
	CHECK_EQ_INT(r.n->tcp_hi, 0);
	rig_close(&r);
}

/* ---- the resolver's upstream queries ---------------------------------- */

/* dns_msg() - a query (@answer 0) or an answer with one A record @a4 for
 * @name (one label below "test") and @qtype, at @p. Return: its length */
static size_t dns_msg(uint8_t *p, uint16_t id, const char *name,
		      uint16_t qtype, int answer, uint32_t a4)
{
	size_t o = 12, l = strlen(name);

	memset(p, 0, 12);
	p[0] = (uint8_t)(id >> 8);
	p[1] = (uint8_t)id;
	p[2] = answer ? 0x81 : 0x01;
	p[3] = answer ? 0x80 : 0;
	p[5] = 1;
	p[7] = answer ? 1 : 0;
	p[o++] = (uint8_t)l;
	memcpy(p + o, name, l);
	o += l;
	memcpy(p + o, "\x04test\x00", 6);
	o += 6;
	p[o++] = 0;
	p[o++] = (uint8_t)qtype;
	p[o++] = 0;
	p[o++] = 1;
	if (answer) {
		static const uint8_t rr[12] = { 0xc0, 12, 0, 1, 0, 1,
						0, 0, 0, 60, 0, 4 };

		memcpy(p + o, rr, 12);
		o += 12;
		p[o++] = (uint8_t)(a4 >> 24);
		p[o++] = (uint8_t)(a4 >> 16);
		p[o++] = (uint8_t)(a4 >> 8);
		p[o++] = (uint8_t)a4;
	}
	return o;
}

/* udp_to_resolver() - the guest's query from its port @sport */
static void udp_to_resolver(struct rig *r, uint16_t sport, const uint8_t *q,
			    size_t qlen)
{
	static const uint8_t dns6[16] = NET_DNS_IP6;
	uint8_t u[8 + 512];

	u[0] = (uint8_t)(sport >> 8);
	u[1] = (uint8_t)sport;
	u[2] = 0;
	u[3] = 53;
	u[4] = (uint8_t)((8 + qlen) >> 8);
	u[5] = (uint8_t)(8 + qlen);
	memcpy(u + 8, q, qlen);
	send6(r, GUEST6, dns6, IPPROTO_UDP, 64, u, 8 + qlen, 6);
}

/* Upstream queries are what an off-path forger must guess (RFC 5452):
 * each from its own socket (a fresh random port), with a random id, and
 * only an answer on that socket with that id and question is taken. The
 * upstream here is a real UDP socket on loopback. */
TEST(net6_dns_upstream_ids_ports_and_spoofs)
{
	enum { NQ = 8 };
	struct sockaddr_in srv = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_in from[NQ];
	socklen_t sl = sizeof(srv);
	uint16_t id[NQ];
	uint8_t m[512];
	struct net_config cfg;
	struct rig r;
	int s, other, lcg = 1;
	const uint8_t *ip;
	size_t l;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	other = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(s >= 0 && other >= 0);
	CHECK_EQ_INT(bind(s, (struct sockaddr *)&srv, sizeof(srv)), 0);
	CHECK_EQ_INT(getsockname(s, (struct sockaddr *)&srv, &sl), 0);
	net_config_default(&cfg);
	net_policy_init(&cfg.policy);
	cfg.dns_upstream = net_addr4(0x7f000001);
	cfg.dns_port = ntohs(srv.sin_port);
	cfg.log = log6;
	r.n = net_new(&cfg);
	CHECK(r.n != NULL);
	if (!r.n)
		goto out;
	{
		int sv[2];

		CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		net_attach(r.n, sv[0]);
		r.link = sv[1];
	}
	for (int i = 0; i < NQ; i++) {
		char name[8];
		socklen_t fl = sizeof(from[i]);
		ssize_t got;

		snprintf(name, sizeof(name), "q%d", i);
		udp_to_resolver(&r, (uint16_t)(40000 + i), m,
				dns_msg(m, (uint16_t)(0x1000 + i), name, 1, 0, 0));
		net_dispatch(r.n);
		got = recvfrom(s, m, sizeof(m), 0, (struct sockaddr *)&from[i],
			       &fl);
		CHECK(got > 12);
		id[i] = (uint16_t)(m[0] << 8 | m[1]);
		/* Never a port of an earlier query still in flight. */
		for (int j = 0; j < i; j++)
			CHECK(from[i].sin_port != from[j].sin_port);
		if (i && id[i] != (uint16_t)(id[i - 1] * 25173u + 13849u))
			lcg = 0;
	}
	CHECK(!lcg); /* (a sequence from one id is no secret) */

	/* Spoofs of q0's answer, none of which may reach the guest: from
	 * another port, on q1's socket, with another id, for q1's name. */
	sendto(other, m, dns_msg(m, id[0], "q0", 1, 1, 0xc6336407), 0,
	       (struct sockaddr *)&from[0], sizeof(from[0]));
	sendto(s, m, dns_msg(m, id[0], "q0", 1, 1, 0xc6336407), 0,
	       (struct sockaddr *)&from[1], sizeof(from[1]));
	sendto(s, m, dns_msg(m, (uint16_t)(id[0] + 1), "q0", 1, 1, 0xc6336407),
	       0, (struct sockaddr *)&from[0], sizeof(from[0]));
	sendto(s, m, dns_msg(m, id[0], "q1", 1, 1, 0xc6336407), 0,
	       (struct sockaddr *)&from[0], sizeof(from[0]));
	sendto(s, m, dns_msg(m, id[0], "q0", 28, 1, 0xc6336407), 0,
	       (struct sockaddr *)&from[0], sizeof(from[0]));
	usleep(20000);
	CHECK(recv6(&r, &l) == NULL);
	/* The real answer, on q0's socket, is taken and goes to the guest
	 * with the guest's id. */
	sendto(s, m, dns_msg(m, id[0], "q0", 1, 1, 0xc6336407), 0,
	       (struct sockaddr *)&from[0], sizeof(from[0]));
	usleep(20000);
	ip = recv6(&r, &l);
	CHECK(ip != NULL);
	if (ip) {
		const uint8_t *d = ip + IP6_HLEN + 8;

		CHECK_EQ_INT(ip[6], IPPROTO_UDP);
		CHECK_EQ_INT(d[0] << 8 | d[1], 0x1000);
		CHECK_MEM(d + l - 8 - 4, "\xc6\x33\x64\x07", 4);
	}
	net_free(r.n);
	close(r.link);
out:
	close(s);
	close(other);
}
