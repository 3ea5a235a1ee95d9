/* SPDX-License-Identifier: Apache-2.0 */
/* test_net.c - the network stack's policy and parsers, and TCP abuse from
 * the guest fed to the stack directly (src/net/) */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dns.h"
#include "filter.h"
#include "harness.h"
#include "netseg.h"
#include "policy.h"
#include "stack.h"

/* ip() - @s as an address of either family, in one of a few rotating
 * slots (so a CHECK may use two at once) */
static const struct net_addr *ip(const char *s)
{
	static struct net_addr slot[8];
	static unsigned next;
	struct net_addr *a = &slot[next++ % 8];

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->b) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, s, a->b) == 1)
		a->family = 6;
	return a;
}

TEST(net_cidr_parse_and_match)
{
	struct net_cidr c;
	char buf[64];

	CHECK_EQ_INT(net_cidr_parse("10.1.2.3/8", &c), 0);
	CHECK_EQ_INT(c.family, 4);
	CHECK_EQ_INT(c.len, 8);
	net_cidr_format(&c, buf, sizeof(buf));
	CHECK_STR(buf, "10.0.0.0/8"); /* host bits cleared */
	CHECK(net_cidr_match(&c, ip("10.255.0.1")));
	CHECK(!net_cidr_match(&c, ip("11.0.0.1")));

	CHECK_EQ_INT(net_cidr_parse("100.64.0.0/10", &c), 0);
	CHECK(net_cidr_match(&c, ip("100.127.255.255")));
	CHECK(!net_cidr_match(&c, ip("100.128.0.0")));

	CHECK_EQ_INT(net_cidr_parse("1.2.3.4", &c), 0);
	CHECK_EQ_INT(c.len, 32);
	CHECK(net_cidr_match(&c, ip("1.2.3.4")));
	CHECK(!net_cidr_match(&c, ip("1.2.3.5")));

	CHECK_EQ_INT(net_cidr_parse("0.0.0.0/0", &c), 0);
	CHECK(net_cidr_match(&c, ip("203.0.113.9")));

	CHECK_EQ_INT(net_cidr_parse("fc00::/7", &c), 0);
	CHECK_EQ_INT(c.family, 6);
	CHECK(net_cidr_match(&c, ip("fdff::1")));
	CHECK(!net_cidr_match(&c, ip("fe00::1")));
	CHECK(!net_cidr_match(&c, ip("1.2.3.4"))); /* families differ */

	CHECK_EQ_INT(net_cidr_parse("10.0.0.0/33", &c), -1);
	CHECK_EQ_INT(net_cidr_parse("10.0.0.0/", &c), -1);
	CHECK_EQ_INT(net_cidr_parse("10.0.0.0/-1", &c), -1);
	CHECK_EQ_INT(net_cidr_parse("10.0.0/8", &c), -1);
	CHECK_EQ_INT(net_cidr_parse("example.com", &c), -1);
	CHECK_EQ_INT(net_cidr_parse("::/129", &c), -1);
	CHECK_EQ_INT(net_cidr_parse(NULL, &c), -1);
}

TEST(net_policy_default_ranges)
{
	static struct net_policy p;
	char why[160];
	static const char *const denied[] = {
		"127.0.0.1", "10.0.2.2", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "100.64.0.1", "169.254.169.254", "224.0.0.1",
		"255.255.255.255", "0.0.0.0",
	};
	static const char *const allowed[] = {
		"1.1.1.1", "8.8.8.8", "192.0.2.1", "198.51.100.7",
		"203.0.113.200", "172.32.0.1", "100.128.0.1",
	};

	net_policy_init(&p);
	for (size_t i = 0; i < ARRAY_SIZE(denied); i++) {
		CHECK(!net_policy_ip(&p, ip(denied[i]), 0, why, sizeof(why)));
		CHECK_CONTAINS(why, "default deny");
		CHECK(!net_policy_answer(&p, ip(denied[i])));
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		CHECK(net_policy_ip(&p, ip(allowed[i]), 0, why, sizeof(why)));
		CHECK(net_policy_answer(&p, ip(allowed[i])));
	}
	CHECK(!net_policy_ip(&p, ip("169.254.169.254"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "metadata");
}

TEST(net_policy_user_rules)
{
	static struct net_policy p;
	char why[160];
	msb_error err;
	int bind;

	net_policy_init(&p);
	CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", "10.9.0.0/16", &err), 0);
	CHECK_EQ_INT(net_policy_add(&p, "block-cidr", "198.51.100.0/24",
					    &err), 0);
	CHECK_EQ_INT(net_policy_add(&p, "block-cidr", "nope", &err), -EINVAL);
	CHECK_CONTAINS(err.message, "--net-block-cidr 'nope'");

	/* An allowed range opens part of a default-denied one. */
	CHECK(net_policy_ip(&p, ip("10.9.3.4"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "--net-allow-cidr 10.9.0.0/16");
	CHECK(net_policy_answer(&p, ip("10.9.3.4")));
	CHECK(!net_policy_ip(&p, ip("10.8.3.4"), 0, why, sizeof(why)));
	CHECK(!net_policy_ip(&p, ip("198.51.100.9"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "--net-block-cidr 198.51.100.0/24");
	CHECK(!net_policy_answer(&p, ip("198.51.100.9")));
	CHECK(net_policy_ip(&p, ip("203.0.113.1"), 0, why, sizeof(why)));

	/* Deny-all: names refused, addresses refused, allowed ranges kept. */
	p.deny_all = 1;
	CHECK(!net_policy_ip(&p, ip("203.0.113.1"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "--net-deny-all");
	CHECK(net_policy_ip(&p, ip("10.9.3.4"), 0, why, sizeof(why)));
	CHECK(!net_policy_name(&p, "example.com", &bind, why, sizeof(why)));
}

/* host_addr() - an address of one of this machine's interfaces other
 * than loopback and link-local, as text. Return: 1, or 0 if it has none */
static int host_addr(char *buf, size_t n)
{
	struct ifaddrs *ifa, *i;
	int found = 0;

	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i && !found; i = i->ifa_next) {
		const void *a;

		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		a = i->ifa_addr->sa_family == AF_INET ?
			    (const void *)&((struct sockaddr_in *)i->ifa_addr)
				    ->sin_addr :
			    (const void *)&((struct sockaddr_in6 *)i->ifa_addr)
				    ->sin6_addr;
		inet_ntop(i->ifa_addr->sa_family, a, buf, (socklen_t)n);
		found = strncmp(buf, "127.", 4) && strcmp(buf, "::1") &&
			strncmp(buf, "fe80", 4) && strncmp(buf, "169.254.", 8);
	}
	freeifaddrs(ifa);
	return found;
}

/* Rule 0: the host is closed unless a --net-allow-cidr names the exact
 * address; ranges, even 0.0.0.0/0 and ::/0, never open it. */
TEST(net_policy_host_closed_unless_exact)
{
	static struct net_policy p;
	char why[160], mine[64];
	msb_error err;
	static const char *const host[] = {
		"127.0.0.1", "127.1.2.3", "0.0.0.0", "::1", "::",
		"::ffff:127.0.0.1", "::127.0.0.2", "64:ff9b::7f00:1",
		"::ffff:0.0.0.0",
	};
	static const char *const ranges[] = {
		"0.0.0.0/0", "::/0", "127.0.0.0/8", "::ffff:0:0/96",
		"64:ff9b::/96", "0.0.0.0/8",
	};

	net_policy_init(&p);
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++)
		CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", ranges[i],
						    &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(host); i++) {
		CHECK(!net_policy_ip(&p, ip(host[i]), 0, why, sizeof(why)));
		CHECK_CONTAINS(why, "default deny");
		CHECK(!net_policy_answer(&p, ip(host[i])));
	}
	/* The ranges open everything else, private ranges included. */
	CHECK(net_policy_ip(&p, ip("10.1.2.3"), 0, why, sizeof(why)));
	CHECK(net_policy_ip(&p, ip("8.8.8.8"), 0, why, sizeof(why)));
	CHECK(net_policy_ip(&p, ip("::ffff:8.8.8.8"), 0, why, sizeof(why)));
	/* An address of one of this machine's interfaces is the host too,
	 * asked of the kernel at the time of the decision. */
	if (host_addr(mine, sizeof(mine))) {
		CHECK(net_addr_local(ip(mine)));
		CHECK(!net_policy_ip(&p, ip(mine), 0, why, sizeof(why)));
		CHECK_CONTAINS(why, "an address of this host");
		CHECK(!net_policy_answer(&p, ip(mine)));
		CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", mine, &err), 0);
		CHECK(net_policy_ip(&p, ip(mine), 0, why, sizeof(why)));
	}
	CHECK(net_addr_local(ip("127.0.0.1")));
	CHECK(!net_addr_local(ip("192.0.2.1")));
	/* The exact address opens that address, in its IPv4-mapped form
	 * too, and nothing beside it. */
	CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", "127.0.0.1", &err), 0);
	CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", "::1", &err), 0);
	CHECK(net_policy_ip(&p, ip("127.0.0.1"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "--net-allow-cidr");
	CHECK(net_policy_answer(&p, ip("127.0.0.1")));
	CHECK(net_policy_ip(&p, ip("::ffff:127.0.0.1"), 0, why, sizeof(why)));
	CHECK(net_policy_ip(&p, ip("::1"), 0, why, sizeof(why)));
	CHECK(!net_policy_ip(&p, ip("127.0.0.2"), 0, why, sizeof(why)));
	CHECK(!net_policy_ip(&p, ip("0.0.0.0"), 0, why, sizeof(why)));
}

TEST(net_policy_special_purpose_ranges)
{
	static struct net_policy p;
	char why[160];
	msb_error err;
	static const char *const denied[][2] = {
		{ "192.0.0.8", "192.0.0.0/24" },
		{ "198.18.0.1", "198.18.0.0/15" },
		{ "198.19.255.254", "198.18.0.0/15" },
		{ "64:ff9b:1::a00:1", "64:ff9b:1::/48" },
	};

	net_policy_init(&p);
	for (size_t i = 0; i < ARRAY_SIZE(denied); i++) {
		CHECK(!net_policy_ip(&p, ip(denied[i][0]), 0, why, sizeof(why)));
		CHECK_CONTAINS(why, denied[i][1]);
		CHECK(!net_policy_answer(&p, ip(denied[i][0])));
	}
	CHECK(net_policy_ip(&p, ip("198.20.0.1"), 0, why, sizeof(why)));
	CHECK(net_policy_ip(&p, ip("192.0.1.1"), 0, why, sizeof(why)));
	/* Like every rule-3 range, --net-allow-cidr opens them. */
	CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", "198.18.0.0/15",
					    &err), 0);
	CHECK(net_policy_ip(&p, ip("198.18.0.1"), 0, why, sizeof(why)));
}

TEST(net_policy_domains_bind_addresses)
{
	static struct net_policy p;
	char why[160];
	msb_error err;
	int bind;

	net_policy_init(&p);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "Example.COM", &err), 0);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "*.stripe.com", &err), 0);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "bad..name", &err), -EINVAL);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "*.", &err), -EINVAL);

	CHECK(net_policy_name(&p, "example.com", &bind, why, sizeof(why)));
	CHECK_EQ_INT(bind, 1);
	CHECK(!net_policy_name(&p, "www.example.com", &bind, why,
			       sizeof(why)));
	CHECK(net_policy_name(&p, "api.stripe.com", &bind, why, sizeof(why)));
	CHECK(net_policy_name(&p, "a.b.stripe.com", &bind, why, sizeof(why)));
	CHECK(!net_policy_name(&p, "stripe.com", &bind, why, sizeof(why)));
	CHECK(!net_policy_name(&p, "evilstripe.com", &bind, why, sizeof(why)));
	CHECK_CONTAINS(why, "not an allowed name");

	/* Only addresses our resolver returned for an allowed name. */
	CHECK(!net_policy_ip(&p, ip("203.0.113.5"), 1000, why, sizeof(why)));
	CHECK_CONTAINS(why, "no allowed name resolved");
	net_policy_bind(&p, ip("203.0.113.5"), 10, 1000);
	CHECK(net_policy_ip(&p, ip("203.0.113.5"), 1000, why, sizeof(why)));
	CHECK(!net_policy_ip(&p, ip("203.0.113.6"), 1000, why, sizeof(why)));
	/* At least five minutes, whatever the TTL. */
	CHECK(net_policy_ip(&p, ip("203.0.113.5"), 1000 + 299000, why,
			     sizeof(why)));
	CHECK(!net_policy_ip(&p, ip("203.0.113.5"), 1000 + 301000, why,
			      sizeof(why)));
	/* A full table recycles the binding that expires first. */
	for (uint32_t i = 0; i < NET_BIND_MAX + 5; i++) {
		struct net_addr a = net_addr4(0xcb007100u + i);

		net_policy_bind(&p, &a, 600, 2000 + i);
	}
	{
		struct net_addr a = net_addr4(0xcb007100u + NET_BIND_MAX + 4);

		CHECK(net_policy_ip(&p, &a, 3000, why, sizeof(why)));
	}
}

/* ref_csum() - the checksum word by word as RFC 1071 §4.1 writes it */
static uint16_t ref_csum(uint32_t sum, const uint8_t *b, size_t len)
{
	uint64_t acc = sum;

	for (; len > 1; b += 2, len -= 2)
		acc += (uint32_t)b[0] << 8 | b[1];
	if (len)
		acc += (uint32_t)b[0] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

TEST(net_checksum_matches_rfc1071)
{
	/* RFC 1071 §3's example: the sum of these 8 bytes is 0xddf2 */
	static const uint8_t ex[] = { 0x00, 0x01, 0xf2, 0x03,
				      0xf4, 0xf5, 0xf6, 0xf7 };
	static const uint32_t sums[] = { 0, 1, 0xffff, 0x1fffe, 0x7fffffff,
					 0xfffffffe, 0xffffffff };
	uint8_t buf[2100], ones[64];

	CHECK_EQ_INT(net_csum_fold(net_csum_add(0, ex, sizeof(ex))),
		     (uint16_t)~0xddf2);
	/* an odd tail is the high byte of a word; chained calls add up */
	CHECK_EQ_INT(net_csum_fold(net_csum_add(0, ex, 3)),
		     (uint16_t)~(0x0001 + 0xf200));
	CHECK_EQ_INT(net_csum_fold(net_csum_add(net_csum_add(0, ex, 4),
						ex + 4, 4)),
		     (uint16_t)~0xddf2);
	CHECK_EQ_INT(net_csum_fold(net_csum_add(0, ex, 0)), 0xffff);
	/* all ones: no carry is lost at any length */
	memset(ones, 0xff, sizeof(ones));
	for (size_t len = 0; len <= sizeof(ones); len++)
		CHECK_EQ_INT(net_csum_fold(net_csum_add(0, ones, len)),
			     ref_csum(0, ones, len));
	/* every length and alignment, any starting sum */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)unit_rand();
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf);
		     len += len < 80 ? 1 : 61)
			for (size_t k = 0; k < ARRAY_SIZE(sums); k++)
				CHECK_EQ_INT(net_csum_fold(net_csum_add(
						     sums[k], buf + off, len)),
					     ref_csum(sums[k], buf + off, len));
}

TEST(net_dns_parsers)
{
	static const uint8_t q[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 1, 0, 1,
	};
	static const uint8_t a[] = {
		0x77, 0x77, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 1, 0, 1,
		/* CNAME to a name, then two A records, one via pointer */
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12,
		0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 198, 51, 100, 7,
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1,
	};
	struct dns_q dq;
	struct dns_a da;
	uint8_t bad[sizeof(a)];

	CHECK_EQ_INT(dns_parse_query(q, sizeof(q), &dq), 0);
	CHECK_STR(dq.name, "example.com");
	CHECK_EQ_INT(dq.qtype, 1);
	CHECK_EQ_INT(dq.qend, sizeof(q));
	for (size_t n = 0; n < sizeof(q); n++)
		CHECK_EQ_INT(dns_parse_query(q, n, &dq), -1);

	CHECK_EQ_INT(dns_parse_answer(a, sizeof(a), &da), 0);
	CHECK_STR(da.name, "example.com");
	CHECK_EQ_INT(da.naddr, 2);
	CHECK(net_addr_eq(&da.addr[0], ip("198.51.100.7")));
	CHECK_EQ_INT(da.min_ttl, 30);
	for (size_t n = 0; n < sizeof(a); n++)
		CHECK_EQ_INT(dns_parse_answer(a, n, &da), -1);
	/* A pointer loop ends, refused. */
	memcpy(bad, a, sizeof(a));
	bad[29] = 0xc0;
	bad[30] = 29;
	CHECK_EQ_INT(dns_parse_answer(bad, 31, &da), -1);
}

/* name_wire() - a name of @total characters in labels of at most 63, in
 * wire form at @p. Return: its length */
static size_t name_wire(uint8_t *p, size_t total)
{
	size_t o = 0, left = total;

	while (left) {
		size_t l = left > 63 ? 63 : left;

		/* A label of 63, then a dot, until what is left fits. */
		if (left > 63 && left - 63 < 2)
			l = 61;
		p[o++] = (uint8_t)l;
		memset(p + o, 'a', l);
		o += l;
		left -= l;
		if (left)
			left--; /* the dot the next label brings */
	}
	p[o++] = 0;
	return o;
}

TEST(net_dns_name_at_the_length_limit)
{
	uint8_t wire[300];
	/* Exactly the size the parsers give it, on the heap: one byte past
	 * it is an ASan error. */
	char *name = malloc(NET_DOMAIN_LEN + 1);
	size_t off, len;

	if (!name)
		return;
	for (size_t total = 250; total <= 256; total++) {
		len = name_wire(wire, total);
		off = 0;
		if (total <= NET_DOMAIN_LEN) {
			CHECK_EQ_INT(dns_read_name(wire, len, &off, name), 0);
			CHECK_EQ_INT(strlen(name), total);
			CHECK_EQ_INT(off, len);
		} else {
			CHECK_EQ_INT(dns_read_name(wire, len, &off, name), -1);
		}
	}
	free(name);
}

TEST(net_port_parse)
{
	struct net_port p;
	msb_error err;

	CHECK_EQ_INT(net_port_parse("8080:80", &p, &err), 0);
	CHECK(net_addr_eq(&p.bind, ip("127.0.0.1")));
	CHECK_EQ_INT(p.host_port, 8080);
	CHECK_EQ_INT(p.guest_port, 80);
	CHECK_EQ_INT(net_port_parse("0.0.0.0:1:65535/tcp", &p, &err), 0);
	CHECK(net_addr_eq(&p.bind, ip("0.0.0.0")));
	CHECK_EQ_INT(p.host_port, 1);
	CHECK_EQ_INT(p.guest_port, 65535);
	CHECK_EQ_INT(net_port_parse("192.0.2.1:443:8443", &p, &err), 0);
	CHECK(net_addr_eq(&p.bind, ip("192.0.2.1")));
	CHECK_EQ_INT(net_port_parse("[::1]:8080:80", &p, &err), 0);
	CHECK(net_addr_eq(&p.bind, ip("::1")));
	CHECK_EQ_INT(p.host_port, 8080);
	CHECK_EQ_INT(p.guest_port, 80);
	CHECK_EQ_INT(net_port_parse("[::]:1:2/tcp", &p, &err), 0);
	CHECK(net_addr_eq(&p.bind, ip("::")));
	/* Host port 0, none, or the guest's alone: a free one (docker's). */
	static const struct {
		const char *s, *bind;
	} any[] = {
		{ "80", "127.0.0.1" }, { "80/tcp", "127.0.0.1" },
		{ "0:80", "127.0.0.1" }, { "0.0.0.0:0:80", "0.0.0.0" },
		{ "127.0.0.1::80", "127.0.0.1" }, { "[::1]::80", "::1" },
		{ "[::1]:0:80/tcp", "::1" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(any); i++) {
		CHECK_EQ_INT(net_port_parse(any[i].s, &p, &err), 0);
		CHECK(net_addr_eq(&p.bind, ip(any[i].bind)));
		CHECK_EQ_INT(p.host_port, 0);
		CHECK_EQ_INT(p.guest_port, 80);
	}
	static const char *const bad[] = {
		"80:", ":80", "80:65536", "a:80", "1:2:3", "0", "0:0",
		"::1:80:80", "10.0.0.0/8:80:80", "80:80/udp", "80:80/", "",
		"123456:80", "80:80:80:80", "-1:80", "[::1]:80", "::1::80",
		"[::1:80:80", "::1:80", "[example.com]:80:80", ":::80",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ_INT(net_port_parse(bad[i], &p, &err), -EINVAL);
		CHECK_CONTAINS(err.message, "invalid port");
	}
}

/* TCP abuse: the guest's side of the stack is a socketpair we write frames
 * into; host sockets are socketpairs too (config open_socket), whose other
 * ends this test holds. */

#define ABUSE_SYNS 3000
#define ABUSE_DST 0xc6336402u /* 198.51.100.2, allowed by default */

static int abuse_peer[ABUSE_SYNS * 2];
static unsigned abuse_npeer;
static unsigned abuse_logs_full;

static int abuse_open(void *opaque, int type, int proto,
		      const struct sockaddr *dst, socklen_t len)
{
	int sv[2];

	(void)opaque;
	(void)dst;
	if (type != SOCK_STREAM || abuse_npeer >= ARRAY_SIZE(abuse_peer))
		return -EACCES;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return -errno;
	abuse_peer[abuse_npeer++] = sv[1];
	return sv[0];
}

static void abuse_log(void *opaque, const char *msg)
{
	(void)opaque;
	if (strstr(msg, "too many connections"))
		abuse_logs_full++;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int cnt = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			cnt++;
	closedir(d);
	return cnt - 1; /* opendir's own */
}

static unsigned live_flows(const struct net *n)
{
	unsigned cnt = 0;

	for (unsigned i = 0; i < NET_TCP_MAX; i++)
		cnt += n->tcp[i].state != TF_FREE;
	return cnt;
}

/* abuse_seg() - a checksummed segment from the guest to ABUSE_DST:80 */
static void abuse_seg(struct net *n, uint16_t sport, uint32_t seq,
		      uint32_t ack, uint8_t flags, uint16_t win, size_t dlen)
{
	static uint8_t f[NETSEG_MAX(8192)];

	net_input(n, f, netseg_tcp4(f, ABUSE_DST, sport, 80, seq, ack, flags,
				    win, NULL, dlen));
}

/* ---- DNS over TCP: answers a guest reads slowly ---------------------- */

static char dnstcp_logged[256];

static void dnstcp_log(void *opaque, const char *msg)
{
	(void)opaque;
	snprintf(dnstcp_logged, sizeof(dnstcp_logged), "%s", msg);
}

/* dnstcp_queries() - @count length-prefixed TXT queries for web.test
 * (answered REFUSED at once: no upstream is asked) with ids from 0, into
 * @buf; their length. */
static size_t dnstcp_queries(uint8_t *buf, unsigned count)
{
	static const uint8_t q[] = { 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
				     3, 'w', 'e', 'b', 4, 't', 'e', 's', 't',
				     0, 0, 16, 0, 1 };
	size_t off = 0;

	for (unsigned i = 0; i < count; i++) {
		buf[off] = 0;
		buf[off + 1] = sizeof(q);
		memcpy(buf + off + 2, q, sizeof(q));
		buf[off + 2] = (uint8_t)(i >> 8);
		buf[off + 3] = (uint8_t)i;
		off += 2 + sizeof(q);
	}
	return off;
}

/* dnstcp_read() - the answers waiting on @fd: counts them in *@seen,
 * checking they come in the order asked. Return: 1 at end of stream. */
static int dnstcp_read(int fd, unsigned *seen, uint8_t *buf, size_t *len)
{
	for (;;) {
		ssize_t r = read(fd, buf + *len, 65536 - *len);
		size_t off = 0;

		if (r <= 0)
			return r == 0;
		*len += (size_t)r;
		while (*len - off >= 2 + 12) {
			size_t m = (size_t)buf[off] << 8 | buf[off + 1];

			if (*len - off < 2 + m)
				break;
			CHECK_EQ_INT(buf[off + 2] << 8 | buf[off + 3],
				     (int)*seen);
			CHECK_EQ_INT(buf[off + 5] & 0xf, 5); /* REFUSED */
			(*seen)++;
			off += 2 + m;
		}
		memmove(buf, buf + off, *len - off);
		*len -= off;
	}
}

/* A burst of 400 queries on one connection, the guest reading nothing
 * until all are answered: the socket to the stack takes a few hundred
 * small answers (each counted at about 800 bytes), the rest are held and
 * follow in order; none is dropped with the connection (they were). A
 * guest that asks and never reads is cut off at NET_DNS_TCP_OUT held. */
TEST(net_dns_tcp_holds_answers_for_a_slow_reader)
{
	static uint8_t q[4000 * 30], buf[65536];
	struct net_config cfg;
	struct net *n;
	unsigned seen = 0;
	size_t len = 0, qn;
	int fd, end = 0;

	net_config_default(&cfg);
	cfg.log = dnstcp_log;
	n = net_new(&cfg);
	CHECK(n != NULL);
	if (!n)
		return;
	fd = dns_tcp_open(n);
	CHECK(fd >= 0);
	qn = dnstcp_queries(q, 400);
	CHECK_EQ_INT(write(fd, q, qn), (int)qn);
	shutdown(fd, SHUT_WR);
	dns_tcp_event(n, 0);
	CHECK(n->dns_tcp[0].olen > 0); /* the socket took only part */
	for (int i = 0; i < 100 && !end; i++) {
		end = dnstcp_read(fd, &seen, buf, &len);
		dns_tcp_event(n, 0);
	}
	CHECK_EQ_INT((int)seen, 400);
	CHECK(end);             /* and closed once all went */
	CHECK_EQ_INT(n->dns_tcp[0].fd, -1);
	close(fd);

	/* 4000 unread: closed, said in the log, nothing held after */
	fd = dns_tcp_open(n);
	CHECK(fd >= 0);
	qn = dnstcp_queries(q, 4000);
	for (size_t off = 0, tries = 0; off < qn && tries < 100000; tries++) {
		ssize_t w = write(fd, q + off, qn - off);

		if (w <= 0) {
			dns_tcp_event(n, 0);
			if (n->dns_tcp[0].fd < 0)
				break;
			continue;
		}
		off += (size_t)w;
	}
	dns_tcp_event(n, 0);
	CHECK_EQ_INT(n->dns_tcp[0].fd, -1);
	CHECK_EQ_INT((int)n->dns_tcp[0].olen, 0);
	CHECK_CONTAINS(dnstcp_logged, "answers unread");
	close(fd);
	net_free(n);
}

/* drain() - let the stack run and throw away what it sent the guest */
static void drain(struct net *n, int link)
{
	static uint8_t sink[1 << 16];

	for (int i = 0; i < 4; i++) {
		net_dispatch(n);
		while (recv(link, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
}

TEST(net_tcp_abuse_stays_bounded)
{
	static uint8_t junk[64 * 1024];
	struct net_config cfg;
	struct net *n;
	int link[2], base, stack_fds, before = count_fds();
	unsigned i;

	net_config_default(&cfg);
	cfg.open_socket = abuse_open;
	cfg.log = abuse_log;
	n = net_new(&cfg);
	CHECK(n != NULL);
	if (!n)
		return;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, link) == 0);
	net_attach(n, link[0]);
	base = count_fds();

	/* A SYN flood from 3000 ports: 512 flows, the rest refused with an
	 * RST and logged; host sockets only for the flows. */
	for (i = 0; i < ABUSE_SYNS; i++) {
		abuse_seg(n, (uint16_t)(10000 + i), 1000, 0, 0x02, 65535, 0);
		if (i % 64 == 63)
			drain(n, link[1]);
	}
	drain(n, link[1]);
	CHECK_EQ_INT(live_flows(n), NET_TCP_MAX);
	CHECK(abuse_logs_full > 0);
	stack_fds = count_fds() - base - (int)abuse_npeer;
	CHECK_EQ_INT(stack_fds, NET_TCP_MAX);
	CHECK(n->out_len <= NET_OUT_BUF);

	/* The flood again on the same ports: no flow and no socket more. */
	for (i = 0; i < ABUSE_SYNS; i++)
		abuse_seg(n, (uint16_t)(10000 + i), 1000, 0, 0x02, 65535, 0);
	drain(n, link[1]);
	CHECK_EQ_INT(live_flows(n), NET_TCP_MAX);
	CHECK_EQ_INT(count_fds() - base - (int)abuse_npeer, NET_TCP_MAX);

	/* Establish them (the SYN-ACK's sequence is the flow's iss), then
	 * abuse each: out-of-window data and ACKs for bytes never sent are
	 * ignored, and a zero window holds host data in the ring only. */
	for (i = 0; i < NET_TCP_MAX; i++) {
		struct tcp_flow *t = &n->tcp[i];

		CHECK_EQ_INT(t->state, TF_SYN_RCVD);
		abuse_seg(n, t->gport, 1001, t->iss + 1, 0x10, 0, 0);
		CHECK_EQ_INT(t->state, TF_ESTABLISHED);
		abuse_seg(n, t->gport, 1001 + (1u << 30), t->iss + 1, 0x18, 0,
			  1000);
		abuse_seg(n, t->gport, 1001, t->iss + 1 + (1u << 30), 0x10, 0,
			  0);
		CHECK(t->rcv_nxt == 1001);
		CHECK(t->snd_una == t->iss + 1);
	}
	drain(n, link[1]);
	/* Zero-window flows whose remote keeps sending: rings fill, then the
	 * host socket backs up; nothing else grows. */
	for (i = 0; i < 8; i++) {
		int peer = abuse_peer[abuse_npeer - NET_TCP_MAX + i];

		for (int k = 0; k < 64; k++) {
			if (send(peer, junk, sizeof(junk), MSG_DONTWAIT) < 0)
				break;
			drain(n, link[1]);
		}
	}
	drain(n, link[1]);
	for (i = 0; i < NET_TCP_MAX; i++) {
		CHECK(n->tcp[i].rlen <= NET_TCP_RING);
		CHECK(n->tcp[i].snd_nxt == n->tcp[i].snd_una); /* window 0 */
	}
	CHECK_EQ_INT(n->tcp[0].rlen, NET_TCP_RING);
	CHECK(n->out_len <= NET_OUT_BUF);

	/* An RST storm: every flow ends and its host socket closes; RSTs
	 * for no flow are answered by nothing and open nothing. */
	for (i = 0; i < ABUSE_SYNS; i++)
		abuse_seg(n, (uint16_t)(10000 + i), 1001, 0, 0x04, 0, 0);
	for (i = 0; i < ABUSE_SYNS; i++)
		abuse_seg(n, (uint16_t)(20000 + i), (uint32_t)i * 7919u, 0,
			  0x04, 0, 0);
	drain(n, link[1]);
	CHECK_EQ_INT(live_flows(n), 0);
	CHECK_EQ_INT(n->tcp_hi, 0);
	CHECK_EQ_INT(count_fds() - base - (int)abuse_npeer, 0);

	/* Segments for no flow (stray ACKs, data, FINs) get an RST only. */
	for (i = 0; i < ABUSE_SYNS; i++)
		abuse_seg(n, (uint16_t)(30000 + i), i, i, 0x10 | (i & 1), 100,
			  i % 3 ? 0 : 100);
	drain(n, link[1]);
	CHECK_EQ_INT(live_flows(n), 0);
	CHECK_EQ_INT(count_fds() - base - (int)abuse_npeer, 0);

	/* And the stack still connects. */
	abuse_seg(n, 40000, 5, 0, 0x02, 65535, 0);
	drain(n, link[1]);
	CHECK_EQ_INT(live_flows(n), 1);
	CHECK_EQ_INT(n->tcp[0].state, TF_SYN_RCVD);

	net_free(n);
	close(link[1]);
	for (i = 0; i < abuse_npeer; i++)
		close(abuse_peer[i]);
	CHECK_EQ_INT(count_fds(), before);
}

/* --net-allow-host: the gateway's listed ports are the host's loopback
 * ones; every other gateway port, and every port without the flag, stays
 * closed. */
static struct sockaddr_in host_dst;
static unsigned host_opens;

static int host_open(void *opaque, int type, int proto,
		     const struct sockaddr *dst, socklen_t len)
{
	int sv[2];

	(void)opaque;
	(void)proto;
	host_opens++;
	if (dst->sa_family == AF_INET && len >= sizeof(host_dst))
		memcpy(&host_dst, dst, sizeof(host_dst));
	if (type != SOCK_STREAM ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return -EACCES;
	abuse_peer[abuse_npeer++ % ARRAY_SIZE(abuse_peer)] = sv[1];
	return sv[0];
}

static void syn_to(struct net *n, uint32_t dst, uint16_t dport)
{
	uint8_t f[NETSEG_MAX(0)];

	net_input(n, f, netseg_tcp4(f, dst, 40000, dport, 1000, 0, 0x02,
				    65535, NULL, 0));
}

TEST(net_allow_host_reaches_loopback)
{
	struct net_config cfg;
	struct net *n;
	int link[2];

	for (int with = 0; with < 2; with++) {
		net_config_default(&cfg);
		cfg.open_socket = host_open;
		if (with) {
			cfg.host_ports[0] = 8080;
			cfg.nhost_ports = 1;
		}
		n = net_new(&cfg);
		CHECK(n != NULL);
		if (!n)
			return;
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, link) == 0);
		net_attach(n, link[0]);
		host_opens = 0;
		memset(&host_dst, 0, sizeof(host_dst));
		syn_to(n, NET_GW_IP, 8080);
		drain(n, link[1]);
		CHECK_EQ_INT(live_flows(n), (unsigned)with);
		CHECK_EQ_INT(host_opens, (unsigned)with);
		if (with) {
			CHECK_EQ_INT(ntohl(host_dst.sin_addr.s_addr), 0x7f000001);
			CHECK_EQ_INT(ntohs(host_dst.sin_port), 8080);
		}
		/* Another port of the gateway, or of loopback itself: no. */
		syn_to(n, NET_GW_IP, 8081);
		syn_to(n, 0x7f000001, 8080);
		drain(n, link[1]);
		CHECK_EQ_INT(host_opens, (unsigned)with);
		net_free(n);
		close(link[1]);
	}
}

/* Delayed ACKs (tcp.c): the guest's in-order data is acknowledged on every
 * second full-size segment, by TCP_DELACK_MS otherwise (ack_fd, or the
 * tick), with our own data when some goes its way, and at once for a
 * segment out of order and for a FIN. Between segments the test sends
 * what the stack queued (tcp_flush_acks(), as a dispatch ends) without
 * running its timers, so no delay can expire unasked. */

static int dack_peer = -1;

static int dack_open(void *opaque, int type, int proto,
		     const struct sockaddr *dst, socklen_t len)
{
	int sv[2];

	(void)opaque;
	(void)proto;
	(void)dst;
	(void)len;
	if (type != SOCK_STREAM || dack_peer >= 0)
		return -EACCES;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return -errno;
	dack_peer = sv[1];
	return sv[0];
}

/* dack_seg() - @dlen bytes (and @flags) from the guest's port 41000 to
 * ABUSE_DST:80, window 65535, no options */
static void dack_seg(struct net *n, uint32_t seq, uint32_t ack,
		     uint8_t flags, size_t dlen)
{
	abuse_seg(n, 41000, seq, ack, flags, 65535, dlen);
}

/* What the stack sent the guest since the last look. */
struct dack_seen {
	unsigned acks;   /* pure ACKs */
	unsigned data;   /* segments with payload */
	uint32_t ack;    /* the last acknowledgement number */
	uint32_t seq;    /* the last sequence number */
	uint8_t flags;   /* the last segment's */
};

static struct dack_seen dack_look(int link)
{
	static uint8_t buf[1 << 20];
	static size_t have;
	struct dack_seen s = { 0 };
	ssize_t got;
	size_t off = 0;

	while ((got = recv(link, buf + have, sizeof(buf) - have,
			   MSG_DONTWAIT)) > 0)
		have += (size_t)got;
	while (have - off >= 4) {
		uint32_t flen = (uint32_t)buf[off] << 24 |
				(uint32_t)buf[off + 1] << 16 |
				(uint32_t)buf[off + 2] << 8 | buf[off + 3];
		const uint8_t *t = buf + off + 4 + ETH_HLEN + IP4_HLEN;
		size_t dl;

		if (have - off - 4 < flen)
			break;
		dl = flen - ETH_HLEN - IP4_HLEN - (size_t)(t[12] >> 4) * 4;
		s.flags = t[13];
		s.seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 |
			(uint32_t)t[6] << 8 | t[7];
		s.ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 |
			(uint32_t)t[10] << 8 | t[11];
		if (dl)
			s.data++;
		else if (t[13] == 0x10)
			s.acks++;
		off += 4 + flen;
	}
	memmove(buf, buf + off, have - off);
	have -= off;
	return s;
}

/* dack_round() - what a dispatch sends as it ends, without its timers */
static struct dack_seen dack_round(struct net *n, int link)
{
	tcp_flush_acks(n);
	net_flush(n);
	return dack_look(link);
}

TEST(net_tcp_delayed_ack)
{
	static char sink[1 << 16];
	struct net_config cfg;
	struct dack_seen s;
	struct net *n;
	struct itimerspec it;
	uint32_t iss, seq = 1001;
	uint64_t now;
	unsigned acks = 0;
	int link[2];

	net_config_default(&cfg);
	cfg.open_socket = dack_open;
	dack_peer = -1;
	n = net_new(&cfg);
	CHECK(n != NULL);
	if (!n)
		return;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, link) == 0);
	net_attach(n, link[0]);
	dack_seg(n, 1000, 0, 0x02, 0);
	net_dispatch(n); /* the host socket connected: our SYN-ACK */
	s = dack_look(link[1]);
	CHECK_EQ_INT(s.flags, 0x12);
	iss = s.seq;
	dack_seg(n, seq, iss + 1, 0x10, 0);
	CHECK_EQ_INT(n->tcp[0].state, TF_ESTABLISHED);
	CHECK_EQ_INT(dack_round(n, link[1]).acks, 0);

	/* Ten segments of 4000 bytes: an ACK for every second one, each up
	 * to that segment's end (each ACKed would be ten). */
	for (int i = 0; i < 10; i++) {
		dack_seg(n, seq, iss + 1, 0x18, 4000);
		seq += 4000;
		s = dack_round(n, link[1]);
		CHECK_EQ_INT(s.acks, (unsigned)(i % 2));
		if (s.acks)
			CHECK(s.ack == seq);
		acks += s.acks;
		while (recv(dack_peer, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	CHECK_EQ_INT(acks, 5);

	/* A lone short segment: no ACK yet, the timer set for it; it comes
	 * when the delay is over (here: the tick, then ack_fd). */
	dack_seg(n, seq, iss + 1, 0x18, 100);
	seq += 100;
	CHECK_EQ_INT(dack_round(n, link[1]).acks, 0);
	CHECK(n->tcp[0].delack_at != 0);
	CHECK(timerfd_gettime(n->ack_fd, &it) == 0 &&
	      (it.it_value.tv_sec || it.it_value.tv_nsec));
	now = n->now;
	net_tick(n, now + 1000);
	n->now = now;
	s = dack_round(n, link[1]);
	CHECK_EQ_INT(s.acks, 1);
	CHECK(s.ack == seq);
	dack_seg(n, seq, iss + 1, 0x18, 100);
	seq += 100;
	CHECK_EQ_INT(dack_round(n, link[1]).acks, 0);
	usleep(50 * 1000);
	net_dispatch(n);
	s = dack_look(link[1]);
	CHECK_EQ_INT(s.acks, 1);
	CHECK(s.ack == seq);

	/* Data of ours going the guest's way carries the ACK: no pure one. */
	dack_seg(n, seq, iss + 1, 0x18, 100);
	seq += 100;
	CHECK_EQ_INT(dack_round(n, link[1]).acks, 0);
	CHECK_EQ_INT(send(dack_peer, "pong", 4, 0), 4);
	net_dispatch(n);
	s = dack_look(link[1]);
	CHECK_EQ_INT(s.acks, 0);
	CHECK_EQ_INT(s.data, 1);
	CHECK(s.ack == seq);
	CHECK_EQ_INT(n->tcp[0].delack_at, 0);

	/* A keepalive (the byte before the next): an ACK at once. */
	dack_seg(n, seq - 1, iss + 5, 0x10, 0);
	s = dack_round(n, link[1]);
	CHECK_EQ_INT(s.acks, 1);
	CHECK(s.ack == seq);

	/* Out of order: a duplicate ACK at once; a FIN: its ACK at once. */
	dack_seg(n, seq + 1000, iss + 5, 0x18, 100);
	s = dack_round(n, link[1]);
	CHECK_EQ_INT(s.acks, 1);
	CHECK(s.ack == seq);
	dack_seg(n, seq, iss + 5, 0x11, 0);
	s = dack_round(n, link[1]);
	CHECK_EQ_INT(s.acks, 1);
	CHECK(s.ack == seq + 1);

	net_free(n);
	close(link[1]);
	close(dack_peer);
	dack_peer = -1;
}

/* A filter that passes every byte as it came (filter.h) */
static int pass_up(void *st, const uint8_t *p, size_t n, struct msb_buf *host,
		   struct msb_buf *guest)
{
	(void)st;
	(void)guest;
	return msb_buf_append(host, p, n) < 0 ? -ENOMEM : 0;
}

static int pass_down(void *st, const uint8_t *p, size_t n,
		     struct msb_buf *host, struct msb_buf *guest)
{
	(void)st;
	(void)host;
	return n && msb_buf_append(guest, p, n) < 0 ? -ENOMEM : 0;
}

static void pass_close(void *st)
{
	(void)st;
}

static const struct msb_flow_filter pass_ops = { pass_up, pass_down,
						 pass_close };
static int pass_flows;

static void *pass_filter(void *opaque, const struct net_addr *dst,
			 uint16_t dport, const struct msb_flow_filter **ops)
{
	(void)opaque;
	(void)dst;
	(void)dport;
	*ops = &pass_ops;
	pass_flows++;
	return &pass_flows;
}

/* A flow through a filter (HTTP inspection, TLS interception) has its
 * ACKs delayed as any other: an ACK for every second full segment, a
 * lone one's when the delay is over or with our data. */
TEST(net_tcp_delayed_ack_through_a_filter)
{
	static char sink[1 << 16];
	struct net_config cfg;
	struct dack_seen s;
	struct net *n;
	uint32_t iss, seq = 1001;
	uint64_t now;
	int link[2];

	net_config_default(&cfg);
	cfg.open_socket = dack_open;
	cfg.flow_filter = pass_filter;
	dack_peer = -1;
	pass_flows = 0;
	n = net_new(&cfg);
	CHECK(n != NULL);
	if (!n)
		return;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, link) == 0);
	net_attach(n, link[0]);
	dack_seg(n, 1000, 0, 0x02, 0);
	net_dispatch(n);
	s = dack_look(link[1]);
	CHECK_EQ_INT(s.flags, 0x12);
	iss = s.seq;
	dack_seg(n, seq, iss + 1, 0x10, 0);
	CHECK_EQ_INT(n->tcp[0].state, TF_ESTABLISHED);
	CHECK(n->tcp[0].filt == &pass_ops);
	CHECK_EQ_INT(pass_flows, 1);
	CHECK_EQ_INT(dack_round(n, link[1]).acks, 0);

	for (int i = 0; i < 4; i++) {
		dack_seg(n, seq, iss + 1, 0x18, 4000);
		seq += 4000;
		s = dack_round(n, link[1]);
		CHECK_EQ_INT(s.acks, (unsigned)(i % 2));
		if (s.acks)
			CHECK(s.ack == seq);
	}
	CHECK(recv(dack_peer, sink, sizeof(sink), MSG_DONTWAIT) == 16000);

	dack_seg(n, seq, iss + 1, 0x18, 100);
	seq += 100;
	CHECK_EQ_INT(dack_round(n, link[1]).acks, 0);
	CHECK(n->tcp[0].delack_at != 0);
	now = n->now;
	net_tick(n, now + 1000);
	n->now = now;
	s = dack_round(n, link[1]);
	CHECK_EQ_INT(s.acks, 1);
	CHECK(s.ack == seq);

	dack_seg(n, seq, iss + 1, 0x18, 100);
	seq += 100;
	CHECK_EQ_INT(dack_round(n, link[1]).acks, 0);
	CHECK_EQ_INT(send(dack_peer, "pong", 4, 0), 4);
	net_dispatch(n);
	s = dack_look(link[1]);
	CHECK_EQ_INT(s.acks, 0);
	CHECK_EQ_INT(s.data, 1);
	CHECK(s.ack == seq);

	net_free(n);
	close(link[1]);
	close(dack_peer);
	dack_peer = -1;
}
