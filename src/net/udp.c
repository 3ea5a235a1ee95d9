/* SPDX-License-Identifier: Apache-2.0 */
/* udp.c - guest UDP, re-originated from connected host sockets
 *
 * Theory of operation: a flow is (guest port, destination address and
 * port); its first datagram is checked against the policy and opens a
 * host UDP socket connected to the destination, later ones reuse it, and
 * what the socket receives goes back to the guest as from the destination.
 * A flow idle for UDP_IDLE_MS is closed; when the table is full the flow
 * idle longest makes room. Datagrams to the resolver go to dns.c; DNS to
 * any other server is refused, so names are only ever resolved where the
 * policy sees them.
 */

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bytes.h"
#include "stack.h"

#define UDP_IDLE_MS 60000
#define UDP_READS_PER_EVENT 32

static void flow_close(struct net *n, struct udp_flow *u)
{
	if (u->fd < 0)
		return;
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, u->fd, NULL);
	close(u->fd);
	u->fd = -1;
}

void udp_close_all(struct net *n)
{
	for (unsigned i = 0; i < NET_UDP_MAX; i++)
		flow_close(n, &n->udp[i]);
}

void udp_send_to_guest(struct net *n, const struct net_addr *src,
		       uint16_t sport, const struct net_addr *dst,
		       uint16_t dport, const uint8_t *data, size_t len)
{
	size_t l4 = UDP_HLEN + len;
	uint8_t *f, *u;
	uint16_t c;

	if (eth_ip_hlen(src->family) + l4 > n->cfg.mtu)
		return;
	u = eth_ip_begin(n, src->family, &f, l4);
	if (!u)
		return;
	msb_put_be16(u, sport);
	msb_put_be16(u + 2, dport);
	msb_put_be16(u + 4, (uint16_t)l4);
	u[6] = u[7] = 0;
	memcpy(u + UDP_HLEN, data, len);
	c = net_csum_fold(net_csum_add(net_pseudo(src, dst, IPPROTO_UDP, l4),
				       u, l4));
	if (!c)
		c = 0xffff; /* RFC 768: zero means "no checksum" */
	msb_put_be16(u + 6, c);
	eth_ip_commit(n, f, src, dst, IPPROTO_UDP, l4);
}

static struct udp_flow *flow_find(struct net *n, uint16_t gport,
				  const struct net_addr *daddr, uint16_t dport)
{
	for (unsigned i = 0; i < NET_UDP_MAX; i++) {
		struct udp_flow *u = &n->udp[i];

		if (u->fd >= 0 && u->gport == gport && u->dport == dport &&
		    net_addr_eq(&u->daddr, daddr))
			return u;
	}
	return NULL;
}

static struct udp_flow *flow_slot(struct net *n)
{
	struct udp_flow *oldest = &n->udp[0];

	for (unsigned i = 0; i < NET_UDP_MAX; i++) {
		if (n->udp[i].fd < 0)
			return &n->udp[i];
		if (n->udp[i].last_ms < oldest->last_ms)
			oldest = &n->udp[i];
	}
	flow_close(n, oldest);
	return oldest;
}

void udp_input(struct net *n, const struct ip_pkt *ip)
{
	const uint8_t *p = ip->l4;
	uint16_t sport, dport, ulen, csum;
	struct udp_flow *u;
	char why[160], dst[64];
	int fd;

	if (ip->l4len < UDP_HLEN) {
		n->st.rx_dropped++;
		return;
	}
	sport = msb_get_be16(p);
	dport = msb_get_be16(p + 2);
	ulen = msb_get_be16(p + 4);
	csum = msb_get_be16(p + 6);
	/* IPv6 makes the checksum mandatory (RFC 8200 §8.1). */
	if (ulen < UDP_HLEN || ulen > ip->l4len ||
	    ((csum || ip->src.family == 6) &&
	     net_csum_fold(net_csum_add(
		     net_pseudo(&ip->src, &ip->dst, IPPROTO_UDP, ulen), p,
		     ulen)) != 0)) {
		n->st.rx_dropped++;
		return;
	}
	if (net_is_dns(n, &ip->dst) && dport == 53) {
		dns_input(n, ip, sport, p + UDP_HLEN, ulen - UDP_HLEN);
		return;
	}
	if (net_is_local(n, &ip->dst)) {
		icmp_unreach(n, ip, UNREACH_PORT);
		return;
	}
	u = flow_find(n, sport, &ip->dst, dport);
	if (!u) {
		int ok;

		if (dport == 53) {
			ok = 0;
			snprintf(why, sizeof(why),
				 "DNS goes through the sandbox's resolver only");
		} else {
			ok = net_policy_ip(&n->cfg.policy, &ip->dst, n->now,
					   why, sizeof(why));
			if (ok && plugin_connect(n, IPPROTO_UDP, &ip->dst,
						 dport) != 0) {
				ok = 0;
				snprintf(why, sizeof(why), "plugin %s",
					 n->denied_by);
			}
		}
		if (!ok) {
			n->st.denied++;
			net_endpoint_format(&ip->dst, dport, dst, sizeof(dst));
			net_logf(n, "net: denied udp %s: %s", dst, why);
			icmp_unreach(n, ip, UNREACH_ADMIN);
			return;
		}
		fd = net_open_socket(n, SOCK_DGRAM, &ip->dst, dport);
		if (fd < 0) {
			icmp_unreach(n, ip, UNREACH_HOST);
			return;
		}
		u = flow_slot(n);
		u->fd = fd;
		u->gaddr = ip->src;
		u->gport = sport;
		u->daddr = ip->dst;
		u->dport = dport;
		net_watch(n, fd, EPOLLIN, NEV_UDP, (unsigned)(u - n->udp),
			  EPOLL_CTL_ADD);
		n->st.udp_flows++;
	}
	u->last_ms = n->now;
	if (send(u->fd, p + UDP_HLEN, ulen - UDP_HLEN, MSG_DONTWAIT) < 0 &&
	    errno == ECONNREFUSED)
		icmp_unreach(n, ip, UNREACH_PORT);
}

void udp_event(struct net *n, unsigned idx, uint32_t events)
{
	static uint8_t buf[65536];
	struct udp_flow *u;

	if (idx >= NET_UDP_MAX || n->udp[idx].fd < 0)
		return;
	u = &n->udp[idx];
	for (int i = 0; i < UDP_READS_PER_EVENT; i++) {
		ssize_t r = recv(u->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* ICMP errors from the host side (ECONNREFUSED):
			 * the next send reports them; keep the flow. */
			break;
		}
		u->last_ms = n->now;
		udp_send_to_guest(n, &u->daddr, u->dport, &u->gaddr, u->gport,
				  buf, (size_t)r);
	}
}

void udp_tick(struct net *n)
{
	for (unsigned i = 0; i < NET_UDP_MAX; i++)
		if (n->udp[i].fd >= 0 &&
		    n->now - n->udp[i].last_ms > UDP_IDLE_MS)
			flow_close(n, &n->udp[i]);
}
