/* SPDX-License-Identifier: Apache-2.0 */
/* policy.c - what may leave a sandbox (rules and their order in policy.h) */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bytes.h"
#include "policy.h"
#include "util.h"

/* A binding outlives a short TTL: clients cache answers longer than they
 * should, and a connection refused a minute after a lookup helps nobody. */
#define BIND_MIN_S 300
#define BIND_MAX_S 86400

/**
 * struct builtin - a range of rule 3
 * @exact: this host's own (loopback, unspecified): rule 0, opened only by
 *         a --net-allow-cidr of the exact address, never by a range
 */
struct builtin {
	const char *cidr;
	const char *what;
	int exact;
};

/* Rules 0 and 3: ranges no sandbox reaches unless --net-allow-cidr opens
 * them. */
static const struct builtin builtin_deny[] = {
	{ "0.0.0.0/8", "unspecified (RFC 1122)", 1 },
	{ "127.0.0.0/8", "loopback", 1 },
	{ "10.0.0.0/8", "private (RFC 1918)", 0 },
	{ "172.16.0.0/12", "private (RFC 1918)", 0 },
	{ "192.168.0.0/16", "private (RFC 1918)", 0 },
	{ "100.64.0.0/10", "shared CGNAT (RFC 6598)", 0 },
	{ "169.254.0.0/16", "link-local and cloud metadata", 0 },
	{ "192.0.0.0/24", "IETF protocol assignments (RFC 6890)", 0 },
	{ "198.18.0.0/15", "benchmarking (RFC 2544)", 0 },
	{ "224.0.0.0/4", "multicast", 0 },
	{ "240.0.0.0/4", "reserved and broadcast", 0 },
	{ "::/128", "unspecified", 1 },
	{ "::1/128", "loopback", 1 },
	{ "::ffff:0:0/96", "IPv4-mapped", 0 },
	{ "::/96", "IPv4-compatible (deprecated)", 0 },
	{ "64:ff9b:1::/48", "local-use NAT64 (RFC 8215)", 0 },
	/* (The metadata address first: the log names the narrower rule.) */
	{ "fd00:ec2::254/128", "cloud metadata", 0 },
	{ "fc00::/7", "unique local (ULA)", 0 },
	{ "fe80::/10", "link-local", 0 },
	{ "ff00::/8", "multicast", 0 },
};

#define NBUILTIN (sizeof(builtin_deny) / sizeof(builtin_deny[0]))

static struct net_cidr builtin_cidr[NBUILTIN];
static int builtin_ready;

int net_cidr_parse(const char *s, struct net_cidr *out)
{
	char buf[64], *slash, *end;
	long len;

	if (!s || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	memset(out, 0, sizeof(*out));
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = 4;
		out->len = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = 6;
		out->len = 128;
	} else {
		return -1;
	}
	if (slash) {
		if (!isdigit((unsigned char)slash[1]))
			return -1;
		len = strtol(slash + 1, &end, 10);
		if (*end || len < 0 || len > out->len)
			return -1;
		out->len = (uint8_t)len;
	}
	/* Clear the host bits so matching is a plain prefix compare. */
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 8;

		if (bit >= out->len)
			out->addr[i] = 0;
		else if (bit + 8 > out->len)
			out->addr[i] &= (uint8_t)(0xff << (8 - (out->len - bit)));
	}
	return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full))
		return 0;
	if (!rest)
		return 1;
	return !((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest)));
}

int net_cidr_match(const struct net_cidr *c, const struct net_addr *a)
{
	return c->family == a->family && prefix_match(c->addr, a->b, c->len);
}

struct net_addr net_addr4(uint32_t ip)
{
	struct net_addr a = { .family = 4 };

	msb_put_be32(a.b, ip);
	return a;
}

struct net_addr net_addr6(const uint8_t ip[16])
{
	struct net_addr a = { .family = 6 };

	memcpy(a.b, ip, 16);
	return a;
}

uint32_t net_addr_v4(const struct net_addr *a)
{
	return msb_get_be32(a->b);
}

int net_addr_eq(const struct net_addr *a, const struct net_addr *b)
{
	return a->family == b->family && !memcmp(a->b, b->b, 16);
}

void net_addr_format(const struct net_addr *a, char *buf, size_t n)
{
	char s[INET6_ADDRSTRLEN] = "?";

	if (a->family == 4 || a->family == 6)
		inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, s,
			  sizeof(s));
	snprintf(buf, n, "%s", s);
}

int net_endpoint_parse(const char *s, struct net_addr *a, uint16_t *port,
		       uint16_t defport)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *p = NULL, *end;
	size_t hl;

	memset(a, 0, sizeof(*a));
	*port = defport;
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -1;
		hl = (size_t)(end - s - 1);
		s++;
		if (end[1])
			p = end + 2;
	} else if (strchr(s, ':') == strrchr(s, ':')) {
		/* One colon at most: IPv4 with a port, or none. */
		end = strchr(s, ':');
		hl = end ? (size_t)(end - s) : strlen(s);
		if (end)
			p = end + 1;
	} else {
		hl = strlen(s); /* a bare IPv6 address */
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, a->b) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, host, a->b) == 1)
		a->family = 6;
	else
		return -1;
	if (p) {
		unsigned long v = 0;

		if (!*p || strlen(p) > 5)
			return -1;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v < 1 || v > 65535)
			return -1;
		*port = (uint16_t)v;
	}
	return 0;
}

socklen_t net_sockaddr(const struct net_addr *a, uint16_t port,
		       struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, a->b, 16);
		return sizeof(*in6);
	}
	{
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, a->b, 4);
		return sizeof(*in);
	}
}

void net_endpoint_format(const struct net_addr *a, uint16_t port, char *buf,
			 size_t n)
{
	char s[INET6_ADDRSTRLEN + 1];

	net_addr_format(a, s, sizeof(s));
	snprintf(buf, n, a->family == 6 ? "[%s]:%u" : "%s:%u", s, port);
}

void net_cidr_format(const struct net_cidr *c, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof(a));
	snprintf(buf, n, "%s/%u", a, c->len);
}

static void builtin_init(void)
{
	if (builtin_ready)
		return;
	for (unsigned i = 0; i < NBUILTIN; i++)
		net_cidr_parse(builtin_deny[i].cidr, &builtin_cidr[i]);
	builtin_ready = 1;
}

void net_policy_init(struct net_policy *p)
{
	memset(p, 0, sizeof(*p));
	builtin_init();
}

int net_domain_valid(char *d)
{
	char *p = d;
	size_t len = strlen(d);

	if (!len || len > NET_DOMAIN_LEN)
		return 0;
	if (!strncmp(p, "*.", 2))
		p += 2;
	if (!*p || *p == '.' || p[strlen(p) - 1] == '.' || strstr(p, ".."))
		return 0;
	for (; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
		    *p != '_')
			return 0;
	}
	return 1;
}

int net_policy_add(struct net_policy *p, const char *kind, const char *arg,
		   msb_error *err)
{
	struct net_cidr c;

	if (!strcmp(kind, "allow")) {
		char d[NET_DOMAIN_LEN + 2];

		if (p->ndomain == NET_DOMAIN_MAX)
			return msb_fail(err, -EINVAL, "more than %d "
					"--net-allow names", NET_DOMAIN_MAX);
		snprintf(d, sizeof(d), "%s", arg);
		if (strlen(arg) > NET_DOMAIN_LEN || !net_domain_valid(d))
			return msb_fail(err, -EINVAL, "invalid --net-allow "
					"name '%s': use a domain such as "
					"example.com or *.example.com", arg);
		strcpy(p->domain[p->ndomain++], d);
		return 0;
	}
	if (net_cidr_parse(arg, &c) < 0)
		return msb_fail(err, -EINVAL, "invalid --net-%s '%s': use an "
				"address with an optional prefix, such as "
				"10.0.0.0/8 or fd00::/8", kind, arg);
	if (!strcmp(kind, "allow-cidr") && p->nallow < NET_CIDR_MAX) {
		p->allow[p->nallow++] = c;
		return 0;
	}
	if (!strcmp(kind, "block-cidr") && p->nblock < NET_CIDR_MAX) {
		p->block[p->nblock++] = c;
		return 0;
	}
	return msb_fail(err, -EINVAL, "too many --net-%s rules (at most %d)",
			kind, NET_CIDR_MAX);
}

/* route_type() - the type of the kernel's route to @a (RTN_LOCAL for an
 * address of this host), asked over rtnetlink as `ip route get` does.
 * Return: the type, RTN_UNREACHABLE when there is no route, or -errno */
static int route_type(const struct net_addr *a)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		struct rtattr dst;
		uint8_t addr[16];
	} req;
	union {
		struct nlmsghdr nh;
		uint8_t b[4096];
	} resp;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 1 };
	size_t alen = a->family == 6 ? 16 : 4;
	ssize_t r;
	int fd, type;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = (uint32_t)(NLMSG_LENGTH(sizeof(req.rt)) +
				      RTA_LENGTH(alen));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.rt.rtm_family = a->family == 6 ? AF_INET6 : AF_INET;
	req.rt.rtm_dst_len = (uint8_t)(alen * 8);
	req.dst.rta_len = (unsigned short)RTA_LENGTH(alen);
	req.dst.rta_type = RTA_DST;
	memcpy(req.addr, a->b, alen);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		type = -errno;
		close(fd);
		return type;
	}
	r = recv(fd, &resp, sizeof(resp), 0);
	type = r < 0 ? -errno : -EPROTO;
	close(fd);
	if (r < (ssize_t)sizeof(struct nlmsghdr) ||
	    !NLMSG_OK(&resp.nh, (size_t)r))
		return type;
	if (resp.nh.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&resp.nh);

		if (resp.nh.nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EPROTO;
		/* No route (ENETUNREACH, EHOSTUNREACH...): not ours. */
		return e->error ? RTN_UNREACHABLE : -EPROTO;
	}
	if (resp.nh.nlmsg_type != RTM_NEWROUTE ||
	    resp.nh.nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
		return -EPROTO;
	return ((const struct rtmsg *)NLMSG_DATA(&resp.nh))->rtm_type;
}

int net_addr_local(const struct net_addr *a)
{
	int t = route_type(a);

	/* Unknown counts as ours: closed is the safe way to be wrong. */
	return t < 0 || t == RTN_LOCAL || t == RTN_BROADCAST;
}

static const struct net_cidr *find(const struct net_cidr *list, unsigned n,
				   const struct net_addr *ip)
{
	for (unsigned i = 0; i < n; i++)
		if (net_cidr_match(&list[i], ip))
			return &list[i];
	return NULL;
}

static struct net_addr last32(const struct net_addr *ip)
{
	return net_addr4(msb_get_be32(ip->b + 12));
}

/* nat64_embedded() - the IPv4 address a NAT64 address (RFC 6052's
 * well-known prefix 64:ff9b::/96) leads to, so that a host with NAT64
 * cannot be a way around the IPv4 rules. Return: 1 with @v4 set, or 0 */
static int nat64_embedded(const struct net_addr *ip, struct net_addr *v4)
{
	static const uint8_t wkp[12] = { 0, 0x64, 0xff, 0x9b };

	if (ip->family != 6 || memcmp(ip->b, wkp, 12))
		return 0;
	*v4 = last32(ip);
	return 1;
}

/* v4_embedded() - the IPv4 address an IPv6 one stands for: IPv4-mapped
 * (::ffff:a.b.c.d, which an IPv6 socket sends over IPv4),
 * IPv4-compatible (::a.b.c.d) or NAT64. Return: 1 with @v4 set, or 0 */
static int v4_embedded(const struct net_addr *ip, struct net_addr *v4)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t compat[12];

	if (ip->family != 6)
		return 0;
	if (!memcmp(ip->b, mapped, 12) || !memcmp(ip->b, compat, 12)) {
		*v4 = last32(ip);
		return 1;
	}
	return nat64_embedded(ip, v4);
}

/* exact_allowed() - a --net-allow-cidr rule names @ip alone (a /32 or a
 * /128), not a range around it */
static int exact_allowed(const struct net_policy *p, const struct net_addr *ip)
{
	for (unsigned i = 0; i < p->nallow; i++)
		if (p->allow[i].family == ip->family &&
		    p->allow[i].len == (ip->family == 6 ? 128 : 32) &&
		    !memcmp(p->allow[i].addr, ip->b, ip->family == 6 ? 16 : 4))
			return 1;
	return 0;
}

/* this_host() - is @ip (not embedded) loopback, unspecified or an address
 * of this host, as the kernel sees it now? Return: 1 and @why, or 0 */
static int this_host(const struct net_addr *ip, char *why, size_t n)
{
	for (unsigned i = 0; i < NBUILTIN; i++) {
		if (builtin_deny[i].exact &&
		    net_cidr_match(&builtin_cidr[i], ip)) {
			snprintf(why, n, "default deny %s, %s",
				 builtin_deny[i].cidr, builtin_deny[i].what);
			return 1;
		}
	}
	if (net_addr_local(ip)) {
		snprintf(why, n, "default deny: an address of this host");
		return 1;
	}
	return 0;
}

/* host_closed() - rule 0: the host itself (loopback, unspecified, its own
 * addresses, read from the kernel at each decision since they come and
 * go), directly or embedded in an IPv6 address, is closed unless a
 * --net-allow-cidr names that exact address: a range such as 0.0.0.0/0
 * never opens it. Return: 1 and @why if @ip is closed, or 0 */
static int host_closed(const struct net_policy *p, const struct net_addr *ip,
		       char *why, size_t n)
{
	struct net_addr v4;
	char w[96];

	if (this_host(ip, w, sizeof(w)) && !exact_allowed(p, ip)) {
		snprintf(why, n, "%s", w);
		return 1;
	}
	if (v4_embedded(ip, &v4) && this_host(&v4, w, sizeof(w)) &&
	    !exact_allowed(p, ip) && !exact_allowed(p, &v4)) {
		snprintf(why, n, "an IPv4 address of this host inside: %s", w);
		return 1;
	}
	return 0;
}

/* denied_range() - rules 2 and 3. Return: 1 and @why if @ip is in one */
static int denied_range(const struct net_policy *p,
			const struct net_addr *ip, char *why, size_t n)
{
	const struct net_cidr *c;
	struct net_addr v4;
	char a[64];

	if ((c = find(p->block, p->nblock, ip))) {
		net_cidr_format(c, a, sizeof(a));
		snprintf(why, n, "--net-block-cidr %s", a);
		return 1;
	}
	for (unsigned i = 0; i < NBUILTIN; i++) {
		if (net_cidr_match(&builtin_cidr[i], ip)) {
			snprintf(why, n, "default deny %s, %s",
				 builtin_deny[i].cidr, builtin_deny[i].what);
			return 1;
		}
	}
	if (nat64_embedded(ip, &v4) && !find(p->allow, p->nallow, &v4) &&
	    denied_range(p, &v4, a, sizeof(a))) {
		snprintf(why, n, "NAT64 to a denied IPv4 address: %s", a);
		return 1;
	}
	return 0;
}

static int bound(const struct net_policy *p, const struct net_addr *ip,
		 uint64_t now)
{
	for (unsigned i = 0; i < NET_BIND_MAX; i++)
		if (net_addr_eq(&p->bind[i].ip, ip) &&
		    p->bind[i].expires_ms > now)
			return 1;
	return 0;
}

int net_policy_ip(const struct net_policy *p, const struct net_addr *ip,
		  uint64_t now, char *why, size_t n)
{
	const struct net_cidr *c;
	char a[64];

	builtin_init();
	if (host_closed(p, ip, why, n))
		return 0;
	if ((c = find(p->allow, p->nallow, ip))) {
		net_cidr_format(c, a, sizeof(a));
		snprintf(why, n, "--net-allow-cidr %s", a);
		return 1;
	}
	if (denied_range(p, ip, why, n))
		return 0;
	if (p->ndomain) {
		if (bound(p, ip, now)) {
			snprintf(why, n, "--net-allow (resolved name)");
			return 1;
		}
		snprintf(why, n,
			 "--net-allow: no allowed name resolved to this "
			 "address");
		return 0;
	}
	if (p->deny_all) {
		snprintf(why, n, "--net-deny-all");
		return 0;
	}
	snprintf(why, n, "default allow");
	return 1;
}

int net_domain_match(const char *rule, const char *name)
{
	size_t rl, nl;

	if (strncmp(rule, "*.", 2))
		return !strcmp(rule, name);
	rule += 1; /* ".x.com" */
	rl = strlen(rule);
	nl = strlen(name);
	return nl > rl && !strcmp(name + nl - rl, rule);
}

int net_policy_name(const struct net_policy *p, const char *name, int *bind,
		    char *why, size_t n)
{
	*bind = 0;
	if (p->ndomain) {
		for (unsigned i = 0; i < p->ndomain; i++) {
			if (net_domain_match(p->domain[i], name)) {
				*bind = 1;
				return 1;
			}
		}
		snprintf(why, n, "--net-allow: not an allowed name");
		return 0;
	}
	if (p->deny_all) {
		snprintf(why, n, "--net-deny-all");
		return 0;
	}
	return 1;
}

int net_policy_answer(const struct net_policy *p, const struct net_addr *ip)
{
	char why[128];

	builtin_init();
	if (host_closed(p, ip, why, sizeof(why)))
		return 0;
	if (find(p->allow, p->nallow, ip))
		return 1;
	return !denied_range(p, ip, why, sizeof(why));
}

uint64_t net_bind_expiry(uint32_t ttl_s, uint64_t now)
{
	if (ttl_s < BIND_MIN_S)
		ttl_s = BIND_MIN_S;
	if (ttl_s > BIND_MAX_S)
		ttl_s = BIND_MAX_S;
	return now + (uint64_t)ttl_s * 1000;
}

void net_policy_bind(struct net_policy *p, const struct net_addr *ip,
		     uint32_t ttl_s, uint64_t now)
{
	struct net_bind *slot = NULL;
	uint64_t exp = net_bind_expiry(ttl_s, now);
	for (unsigned i = 0; i < NET_BIND_MAX; i++) {
		struct net_bind *b = &p->bind[i];

		if (net_addr_eq(&b->ip, ip)) {
			if (b->expires_ms < exp)
				b->expires_ms = exp;
			return;
		}
		/* Else a free slot, or the one that expires first. */
		if (!slot || (slot->ip.family &&
			      (!b->ip.family ||
			       b->expires_ms < slot->expires_ms)))
			slot = b;
	}
	slot->ip = *ip;
	slot->expires_ms = exp;
}

static int port_num(const char *s, size_t len, uint16_t *out)
{
	unsigned long v = 0;

	if (!len || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int net_port_parse(const char *s, struct net_port *out, msb_error *err)
{
	char buf[96], *guest;
	size_t l = strlen(s);

	if (l >= sizeof(buf))
		goto bad;
	memcpy(buf, s, l + 1);
	if (l > 4 && !strcmp(buf + l - 4, "/tcp"))
		buf[l - 4] = '\0';
	else if (strchr(buf, '/'))
		return msb_fail(err, -EINVAL, "invalid port '%s': only TCP "
				"ports can be published (HOST:GUEST or "
				"HOST:GUEST/tcp)", s);
	memset(out, 0, sizeof(*out));
	out->bind = net_addr4(0x7f000001);
	guest = strrchr(buf, ':');
	/* "GUEST" alone: a free host port, as docker run -p 80 picks. */
	if (!guest) {
		if (port_num(buf, strlen(buf), &out->guest_port) < 0)
			goto bad;
		return 0;
	}
	*guest++ = '\0';
	if (port_num(guest, strlen(guest), &out->guest_port) < 0)
		goto bad;
	if (!strchr(buf, ':')) {
		if (!strcmp(buf, "0"))
			return 0;
		if (port_num(buf, strlen(buf), &out->host_port) < 0)
			goto bad;
		return 0;
	}
	/* "IP::GUEST" or "IP:0:GUEST": a free port on that address. */
	l = strlen(buf);
	if (buf[l - 1] == ':' || (l > 2 && !strcmp(buf + l - 2, ":0"))) {
		buf[buf[l - 1] == ':' ? l - 1 : l - 2] = '\0';
		if (buf[0] == '[' && buf[strlen(buf) - 1] == ']') {
			buf[strlen(buf) - 1] = '\0';
			memmove(buf, buf + 1, strlen(buf));
		} else if (strchr(buf, ':')) {
			goto bad; /* IPv6 without brackets */
		}
		if (net_endpoint_parse(buf, &out->bind, &out->host_port, 0) < 0 ||
		    out->host_port)
			goto bad;
		return 0;
	}
	/* "IPv4:HOST" or "[IPv6]:HOST": an address and a port, which a bare
	 * IPv6 address (no brackets, so no port) is not. */
	if (net_endpoint_parse(buf, &out->bind, &out->host_port, 0) < 0 ||
	    !out->host_port)
		goto bad;
	return 0;
bad:
	return msb_fail(err, -EINVAL, "invalid port '%s': use "
			"HOST_PORT:GUEST_PORT, IPv4:HOST_PORT:GUEST_PORT, "
			"[IPv6]:HOST_PORT:GUEST_PORT or GUEST_PORT, ports "
			"1-65535 (host port 0: a free one)", s);
}
