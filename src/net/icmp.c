/* SPDX-License-Identifier: Apache-2.0 */
/* icmp.c - ICMP and ICMPv6: echo, errors, neighbour discovery
 *
 * Theory of operation: both families share one path, with the type
 * numbers of each (RFC 792 for IPv4, RFC 4443 for IPv6, whose checksum
 * also covers the pseudo-header):
 *
 * - Echo requests to the gateway and the resolver are answered here.
 * - Echo requests to anyone else are checked against the policy like a
 *   new flow. Denied ones get "communication administratively prohibited"
 *   (RFC 1812 §5.2.7.1; RFC 4443 §3.1 code 1) and a log line. Allowed
 *   ones are re-originated from an unprivileged ICMP socket (SOCK_DGRAM,
 *   IPPROTO_ICMP or IPPROTO_ICMPV6: the kernel's "ping socket"), one per
 *   (destination, guest identifier): the kernel replaces the identifier
 *   with the socket's own and delivers only the replies to it, which go
 *   back to the guest with the guest's identifier. A host whose
 *   net.ipv4.ping_group_range leaves the supervisor out refuses those
 *   sockets: the guest then gets "administratively prohibited" and the
 *   log says why, once. Idle sockets close after PING_IDLE_MS.
 * - Neighbour solicitations for the gateway's and the resolver's IPv6
 *   addresses are answered with the gateway's MAC (RFC 4861 §7.2.4), as
 *   ARP is in eth.c. The guest's other neighbour discovery (router
 *   solicitations, its duplicate address detection) meets silence: the
 *   agent configures addresses and routes itself.
 */

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "stack.h"

#define ICMP_HLEN 8
#define PING_IDLE_MS 10000

enum {
	ICMP4_ECHOREPLY = 0, ICMP4_UNREACH = 3, ICMP4_ECHO = 8,
	ICMP6_UNREACH = 1, ICMP6_PARAMPROB = 4, ICMP6_ECHO = 128,
	ICMP6_ECHOREPLY = 129, ND_NEIGHBOR_SOLICIT = 135,
	ND_NEIGHBOR_ADVERT = 136,
};

#define ND_NA_ROUTER    0x80
#define ND_NA_SOLICITED 0x40
#define ND_NA_OVERRIDE  0x20
#define ND_OPT_SOURCE_LL 1
#define ND_OPT_TARGET_LL 2

/* The most of an offending packet an ICMPv6 error quotes: the error must
 * fit the IPv6 minimum MTU (RFC 4443 §2.4 (c)). */
#define ICMP6_QUOTE_MAX (1280 - IP6_HLEN - ICMP_HLEN)

static uint8_t proto_of(int family)
{
	return family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

/* csum() - the checksum field of the ICMP message at @m: ICMPv6 covers the
 * pseudo-header (RFC 4443 §2.3), ICMP the message alone. */
static uint16_t csum(const struct net_addr *src, const struct net_addr *dst,
		     const uint8_t *m, size_t len)
{
	uint32_t sum = src->family == 6 ? net_pseudo(src, dst, IPPROTO_ICMPV6,
						     len) : 0;

	return net_csum_fold(net_csum_add(sum, m, len));
}

/* send_msg() - an ICMP message to the guest: the 4 header bytes after
 * type, code and checksum in @rest, then @body. */
static void send_msg(struct net *n, const struct net_addr *src,
		     const struct net_addr *dst, uint8_t type, uint8_t code,
		     const uint8_t rest[4], const uint8_t *body, size_t blen)
{
	size_t len = ICMP_HLEN + blen;
	uint8_t *f, *m;
	uint16_t c;

	if (eth_ip_hlen(src->family) + len > n->cfg.mtu)
		return;
	m = eth_ip_begin(n, src->family, &f, len);
	if (!m)
		return;
	m[0] = type;
	m[1] = code;
	m[2] = m[3] = 0;
	memcpy(m + 4, rest, 4);
	memcpy(m + ICMP_HLEN, body, blen);
	c = csum(src, dst, m, len);
	msb_put_be16(m + 2, c);
	eth_ip_commit(n, f, src, dst, proto_of(src->family), len);
}

void icmp_unreach(struct net *n, const struct ip_pkt *ip,
		  enum net_unreach why)
{
	static const uint8_t code4[] = { [UNREACH_ADMIN] = 13,
					 [UNREACH_PORT] = 3,
					 [UNREACH_HOST] = 1,
					 [UNREACH_PROTO] = 2 };
	static const uint8_t code6[] = { [UNREACH_ADMIN] = 1,
					 [UNREACH_PORT] = 4,
					 [UNREACH_HOST] = 3 };
	struct net_addr gw = net_gw_addr(n, ip->src.family);
	uint8_t rest[4] = { 0 };
	size_t quote;

	if (ip->src.family == 4) {
		/* Never an error about an error (RFC 1122 §3.2.2). */
		if (ip->proto == IPPROTO_ICMP && ip->l4len &&
		    ip->l4[0] != ICMP4_ECHO)
			return;
		/* The offending header and 8 bytes of its payload. */
		quote = ip->hlen + (ip->l4len < 8 ? ip->l4len : 8);
		send_msg(n, &gw, &ip->src, ICMP4_UNREACH, code4[why], rest,
			 ip->hdr, quote);
		return;
	}
	/* RFC 4443 §2.4 (e): not about errors, nor to multicast. */
	if ((ip->proto == IPPROTO_ICMPV6 && ip->l4len && ip->l4[0] < 128) ||
	    ip->dst.b[0] == 0xff)
		return;
	quote = ip->hlen + ip->l4len;
	if (quote > ICMP6_QUOTE_MAX)
		quote = ICMP6_QUOTE_MAX;
	if (why == UNREACH_PROTO) {
		rest[3] = 6; /* the pointer: the next header field */
		send_msg(n, &gw, &ip->src, ICMP6_PARAMPROB, 1, rest, ip->hdr,
			 quote);
		return;
	}
	send_msg(n, &gw, &ip->src, ICMP6_UNREACH, code6[why], rest, ip->hdr,
		 quote);
}

/* neighbor_solicit() - RFC 4861 §7.1.1 checks, then §7.2.4's answer for
 * the gateway's and the resolver's addresses */
static void neighbor_solicit(struct net *n, const struct ip_pkt *ip)
{
	struct net_addr target, gw = net_gw_addr(n, 6),
				dns = net_dns_addr(n, 6);
	uint8_t rest[4] = { ND_NA_SOLICITED | ND_NA_OVERRIDE };
	static const uint8_t zero[16];
	uint8_t body[16 + 8];

	if (ip->ttl != 255 || ip->l4[1] != 0 || ip->l4len < 24)
		return;
	target = net_addr6(ip->l4 + 8);
	if (!net_addr_eq(&target, &gw) && !net_addr_eq(&target, &dns))
		return;
	/* From the unspecified address it is the guest's duplicate address
	 * detection for an address that is ours: silence (§7.2.4 would
	 * answer all nodes; the guest is misconfigured either way). */
	if (!memcmp(ip->src.b, zero, 16))
		return;
	if (net_addr_eq(&target, &gw))
		rest[0] |= ND_NA_ROUTER;
	memcpy(body, target.b, 16);
	body[16] = ND_OPT_TARGET_LL;
	body[17] = 1; /* in units of 8 bytes */
	memcpy(body + 18, n->cfg.gw_mac, 6);
	send_msg(n, &target, &ip->src, ND_NEIGHBOR_ADVERT, 0, rest, body,
		 sizeof(body));
}

static void ping_close(struct net *n, struct ping_flow *p)
{
	if (p->fd < 0)
		return;
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	p->fd = -1;
}

void icmp_close_all(struct net *n)
{
	for (unsigned i = 0; i < NET_PING_MAX; i++)
		ping_close(n, &n->ping[i]);
}

void icmp_tick(struct net *n)
{
	for (unsigned i = 0; i < NET_PING_MAX; i++)
		if (n->ping[i].fd >= 0 &&
		    n->now - n->ping[i].last_ms > PING_IDLE_MS)
			ping_close(n, &n->ping[i]);
}

/* ping_socket() - an unprivileged ICMP socket connected to @dst. Return:
 * the descriptor, or -errno */
static int ping_socket(struct net *n, const struct net_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t len = net_sockaddr(dst, 0, &ss);
	int fd;

	if (n->cfg.open_socket)
		return n->cfg.open_socket(n->cfg.opaque, SOCK_DGRAM,
					  proto_of(dst->family),
					  (struct sockaddr *)&ss, len);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    proto_of(dst->family));
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static struct ping_flow *ping_flow(struct net *n, const struct ip_pkt *ip,
				   uint16_t id, int *err)
{
	struct ping_flow *oldest = &n->ping[0], *p = NULL;
	int fd;

	*err = 0;
	for (unsigned i = 0; i < NET_PING_MAX; i++) {
		struct ping_flow *q = &n->ping[i];

		if (q->fd >= 0 && q->id == id &&
		    net_addr_eq(&q->daddr, &ip->dst))
			return q;
		if (!p && q->fd < 0)
			p = q;
		if (q->last_ms < oldest->last_ms)
			oldest = q;
	}
	fd = ping_socket(n, &ip->dst);
	if (fd < 0) {
		*err = -fd;
		return NULL;
	}
	if (!p) {
		ping_close(n, oldest);
		p = oldest;
	}
	p->fd = fd;
	p->gaddr = ip->src;
	p->daddr = ip->dst;
	p->id = id;
	net_watch(n, fd, EPOLLIN, NEV_PING, (unsigned)(p - n->ping),
		  EPOLL_CTL_ADD);
	return p;
}

static void log_denied(struct net *n, const struct net_addr *dst,
		       const char *why)
{
	char a[INET6_ADDRSTRLEN];

	n->st.denied++;
	net_addr_format(dst, a, sizeof(a));
	net_logf(n, "net: denied icmp echo %s: %s", a, why);
}

/* ping_out() - an echo request beyond the gateway (theory above) */
static void ping_out(struct net *n, const struct ip_pkt *ip)
{
	uint16_t id = msb_get_be16(ip->l4 + 4);
	struct ping_flow *p;
	char why[160];
	int err;

	if (!net_policy_ip(&n->cfg.policy, &ip->dst, n->now, why,
			   sizeof(why))) {
		log_denied(n, &ip->dst, why);
		icmp_unreach(n, ip, UNREACH_ADMIN);
		return;
	}
	if (plugin_connect(n, proto_of(ip->dst.family), &ip->dst, 0) != 0) {
		snprintf(why, sizeof(why), "plugin %s", n->denied_by);
		log_denied(n, &ip->dst, why);
		icmp_unreach(n, ip, UNREACH_ADMIN);
		return;
	}
	p = ping_flow(n, ip, id, &err);
	if (!p) {
		if ((err == EACCES || err == EPERM) && !n->ping_refused) {
			n->ping_refused = 1;
			net_logf(n, "net: cannot ping for the guest: this host "
				    "refuses unprivileged ICMP sockets (let "
				    "the supervisor's group in with sysctl "
				    "net.ipv4.ping_group_range)");
		}
		icmp_unreach(n, ip, err == EACCES || err == EPERM ?
					    UNREACH_ADMIN : UNREACH_HOST);
		return;
	}
	p->last_ms = n->now;
	/* The kernel sets the identifier and the checksum. */
	if (send(p->fd, ip->l4, ip->l4len, MSG_DONTWAIT) < 0 &&
	    (errno == ENETUNREACH || errno == EHOSTUNREACH))
		icmp_unreach(n, ip, UNREACH_HOST);
}

void icmp_event(struct net *n, unsigned idx)
{
	uint8_t buf[NET_MTU];
	struct ping_flow *p;

	if (idx >= NET_PING_MAX || n->ping[idx].fd < 0)
		return;
	p = &n->ping[idx];
	for (int i = 0; i < 32; i++) {
		uint8_t rest[4];
		ssize_t r = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		/* Only echo replies reach a ping socket; anything else the
		 * kernel (or a test's socket) hands us is not passed on. */
		if (r < ICMP_HLEN ||
		    buf[0] != (p->daddr.family == 6 ? ICMP6_ECHOREPLY :
						      ICMP4_ECHOREPLY))
			continue;
		p->last_ms = n->now;
		msb_put_be16(rest, p->id);
		rest[2] = buf[6];
		rest[3] = buf[7];
		send_msg(n, &p->daddr, &p->gaddr, buf[0], 0, rest,
			 buf + ICMP_HLEN, (size_t)r - ICMP_HLEN);
	}
}

void icmp_input(struct net *n, const struct ip_pkt *ip)
{
	struct net_addr me = net_guest_addr(n, ip->src.family);
	int v6 = ip->src.family == 6;
	uint8_t type;

	if (ip->l4len < ICMP_HLEN ||
	    csum(&ip->src, &ip->dst, ip->l4, ip->l4len) != 0) {
		n->st.rx_dropped++;
		return;
	}
	type = ip->l4[0];
	if (v6 && type == ND_NEIGHBOR_SOLICIT) {
		neighbor_solicit(n, ip);
		return;
	}
	if (type != (v6 ? ICMP6_ECHO : ICMP4_ECHO) ||
	    !net_addr_eq(&ip->src, &me) || ip->dst.b[0] == 0xff)
		return;
	if (!net_is_local(n, &ip->dst)) {
		ping_out(n, ip);
		return;
	}
	if (!net_is_dns(n, &ip->dst)) {
		struct net_addr gw = net_gw_addr(n, ip->dst.family);

		if (!net_addr_eq(&ip->dst, &gw)) {
			icmp_unreach(n, ip, UNREACH_HOST);
			return;
		}
	}
	send_msg(n, &ip->dst, &ip->src, v6 ? ICMP6_ECHOREPLY : ICMP4_ECHOREPLY,
		 0, ip->l4 + 4, ip->l4 + ICMP_HLEN, ip->l4len - ICMP_HLEN);
}
