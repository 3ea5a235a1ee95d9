/* SPDX-License-Identifier: Apache-2.0 */
/* test_net.c - the network stack's policy and parsers (src/net/) */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "harness.h"
#include "policy.h"

static uint32_t ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return 0;
	return ntohl(a.s_addr);
}

TEST(net_cidr_parse_and_match)
{
	struct net_cidr c;
	uint8_t v6[16];
	char buf[64];

	CHECK_EQ_INT(net_cidr_parse("10.1.2.3/8", &c), 0);
	CHECK_EQ_INT(c.family, 4);
	CHECK_EQ_INT(c.len, 8);
	net_cidr_format(&c, buf, sizeof(buf));
	CHECK_STR(buf, "10.0.0.0/8"); /* host bits cleared */
	CHECK(net_cidr_match4(&c, ip("10.255.0.1")));
	CHECK(!net_cidr_match4(&c, ip("11.0.0.1")));

	CHECK_EQ_INT(net_cidr_parse("100.64.0.0/10", &c), 0);
	CHECK(net_cidr_match4(&c, ip("100.127.255.255")));
	CHECK(!net_cidr_match4(&c, ip("100.128.0.0")));

	CHECK_EQ_INT(net_cidr_parse("1.2.3.4", &c), 0);
	CHECK_EQ_INT(c.len, 32);
	CHECK(net_cidr_match4(&c, ip("1.2.3.4")));
	CHECK(!net_cidr_match4(&c, ip("1.2.3.5")));

	CHECK_EQ_INT(net_cidr_parse("0.0.0.0/0", &c), 0);
	CHECK(net_cidr_match4(&c, ip("203.0.113.9")));

	CHECK_EQ_INT(net_cidr_parse("fc00::/7", &c), 0);
	CHECK_EQ_INT(c.family, 6);
	inet_pton(AF_INET6, "fdff::1", v6);
	CHECK(net_cidr_match6(&c, v6));
	inet_pton(AF_INET6, "fe00::1", v6);
	CHECK(!net_cidr_match6(&c, v6));
	CHECK(!net_cidr_match4(&c, ip("1.2.3.4"))); /* families differ */

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
		CHECK(!net_policy_ip4(&p, ip(denied[i]), 0, why, sizeof(why)));
		CHECK_CONTAINS(why, "default deny");
		CHECK(!net_policy_answer4(&p, ip(denied[i])));
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		CHECK(net_policy_ip4(&p, ip(allowed[i]), 0, why, sizeof(why)));
		CHECK(net_policy_answer4(&p, ip(allowed[i])));
	}
	CHECK(!net_policy_ip4(&p, ip("169.254.169.254"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "metadata");
}

TEST(net_policy_user_rules)
{
	static struct net_policy p;
	char why[160], err[256];
	int bind;

	net_policy_init(&p);
	CHECK_EQ_INT(net_policy_add(&p, "allow-cidr", "10.9.0.0/16", err,
				    sizeof(err)), 0);
	CHECK_EQ_INT(net_policy_add(&p, "block-cidr", "198.51.100.0/24", err,
				    sizeof(err)), 0);
	CHECK_EQ_INT(net_policy_add(&p, "block-cidr", "nope", err,
				    sizeof(err)), -1);
	CHECK_CONTAINS(err, "--net-block-cidr 'nope'");

	/* An allowed range opens part of a default-denied one. */
	CHECK(net_policy_ip4(&p, ip("10.9.3.4"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "--net-allow-cidr 10.9.0.0/16");
	CHECK(net_policy_answer4(&p, ip("10.9.3.4")));
	CHECK(!net_policy_ip4(&p, ip("10.8.3.4"), 0, why, sizeof(why)));
	CHECK(!net_policy_ip4(&p, ip("198.51.100.9"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "--net-block-cidr 198.51.100.0/24");
	CHECK(!net_policy_answer4(&p, ip("198.51.100.9")));
	CHECK(net_policy_ip4(&p, ip("203.0.113.1"), 0, why, sizeof(why)));

	/* Deny-all: names refused, addresses refused, allowed ranges kept. */
	p.deny_all = 1;
	CHECK(!net_policy_ip4(&p, ip("203.0.113.1"), 0, why, sizeof(why)));
	CHECK_CONTAINS(why, "--net-deny-all");
	CHECK(net_policy_ip4(&p, ip("10.9.3.4"), 0, why, sizeof(why)));
	CHECK(!net_policy_name(&p, "example.com", &bind, why, sizeof(why)));
}

TEST(net_policy_domains_bind_addresses)
{
	static struct net_policy p;
	char why[160], err[256];
	int bind;

	net_policy_init(&p);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "Example.COM", err,
				    sizeof(err)), 0);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "*.stripe.com", err,
				    sizeof(err)), 0);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "bad..name", err,
				    sizeof(err)), -1);
	CHECK_EQ_INT(net_policy_add(&p, "allow", "*.", err, sizeof(err)), -1);

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
	CHECK(!net_policy_ip4(&p, ip("203.0.113.5"), 1000, why, sizeof(why)));
	CHECK_CONTAINS(why, "no allowed name resolved");
	net_policy_bind4(&p, ip("203.0.113.5"), 10, 1000);
	CHECK(net_policy_ip4(&p, ip("203.0.113.5"), 1000, why, sizeof(why)));
	CHECK(!net_policy_ip4(&p, ip("203.0.113.6"), 1000, why, sizeof(why)));
	/* At least five minutes, whatever the TTL. */
	CHECK(net_policy_ip4(&p, ip("203.0.113.5"), 1000 + 299000, why,
			     sizeof(why)));
	CHECK(!net_policy_ip4(&p, ip("203.0.113.5"), 1000 + 301000, why,
			      sizeof(why)));
	/* A full table recycles the binding that expires first. */
	for (uint32_t i = 0; i < NET_BIND_MAX + 5; i++)
		net_policy_bind4(&p, 0xcb007100u + i, 600, 2000 + i);
	CHECK(net_policy_ip4(&p, 0xcb007100u + NET_BIND_MAX + 4, 3000, why,
			     sizeof(why)));
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
	CHECK(da.addr[0] == ip("198.51.100.7"));
	CHECK_EQ_INT(da.min_ttl, 30);
	for (size_t n = 0; n < sizeof(a); n++)
		CHECK_EQ_INT(dns_parse_answer(a, n, &da), -1);
	/* A pointer loop ends, refused. */
	memcpy(bad, a, sizeof(a));
	bad[29] = 0xc0;
	bad[30] = 29;
	CHECK_EQ_INT(dns_parse_answer(bad, 31, &da), -1);
}

TEST(net_port_parse)
{
	struct net_port p;
	char why[256];

	CHECK_EQ_INT(net_port_parse("8080:80", &p, why, sizeof(why)), 0);
	CHECK_EQ_INT(p.bind_ip, ip("127.0.0.1"));
	CHECK_EQ_INT(p.host_port, 8080);
	CHECK_EQ_INT(p.guest_port, 80);
	CHECK_EQ_INT(net_port_parse("0.0.0.0:1:65535/tcp", &p, why,
				    sizeof(why)), 0);
	CHECK_EQ_INT(p.bind_ip, 0);
	CHECK_EQ_INT(p.host_port, 1);
	CHECK_EQ_INT(p.guest_port, 65535);
	CHECK_EQ_INT(net_port_parse("192.0.2.1:443:8443", &p, why,
				    sizeof(why)), 0);
	CHECK_EQ_INT(p.bind_ip, ip("192.0.2.1"));
	static const char *const bad[] = {
		"80", "80:", ":80", "0:80", "80:65536", "a:80", "1:2:3",
		"::1:80:80", "10.0.0.0/8:80:80", "80:80/udp", "80:80/", "",
		"123456:80", "80:80:80:80", "-1:80",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ_INT(net_port_parse(bad[i], &p, why, sizeof(why)), -1);
		CHECK(strstr(why, "invalid port") != NULL);
	}
}
