/* SPDX-License-Identifier: Apache-2.0 */
/* ip.c - IPv4 and IPv6 from the guest: checked, then handed to their
 * protocol
 *
 * IPv4: RFC 791 and RFC 1122 §3.2.1: version, header length, total length
 * within the frame, header checksum. IPv6: RFC 8200: version and payload
 * length within the frame. Fragments are dropped in both (the guest's own
 * transports never need them: its TCP sets DF and fits the MTU, and
 * datagrams larger than the MTU are rare enough to refuse), and so are
 * IPv6 extension headers of any kind (the guest sends them only for MLD
 * and fragments). Packets from anyone but the guest's address are dropped,
 * except neighbour discovery, which the guest sends from its link-local
 * or the unspecified address (icmp.c decides).
 */

#include <netinet/in.h>
#include <string.h>

#include "bytes.h"
#include "stack.h"

int ip4_parse(const uint8_t *p, size_t len, struct ip_pkt *out)
{
	size_t hlen, tot;

	if (len < IP4_HLEN || (p[0] >> 4) != 4)
		return -1;
	hlen = (size_t)(p[0] & 0xf) * 4;
	tot = msb_get_be16(p + 2);
	if (hlen < IP4_HLEN || tot < hlen || tot > len)
		return -1;
	if (net_csum_fold(net_csum_add(0, p, hlen)) != 0)
		return -1;
	/* More fragments, or a fragment offset: a fragment. */
	if ((p[6] & 0x20) || ((p[6] & 0x1f) | p[7]))
		return -1;
	out->hdr = p;
	out->hlen = hlen;
	out->ttl = p[8];
	out->proto = p[9];
	out->src = net_addr4(msb_get_be32(p + 12));
	out->dst = net_addr4(msb_get_be32(p + 16));
	out->l4 = p + hlen;
	out->l4len = tot - hlen;
	return 0;
}

int ip6_parse(const uint8_t *p, size_t len, struct ip_pkt *out)
{
	size_t plen;

	if (len < IP6_HLEN || (p[0] >> 4) != 6)
		return -1;
	plen = msb_get_be16(p + 4);
	/* (A zero length with a hop-by-hop header is a jumbogram, RFC 2675:
	 * no Ethernet frame is one.) */
	if (plen > len - IP6_HLEN)
		return -1;
	out->hdr = p;
	out->hlen = IP6_HLEN;
	out->proto = p[6];
	out->ttl = p[7];
	out->src = net_addr6(p + 8);
	out->dst = net_addr6(p + 24);
	out->l4 = p + IP6_HLEN;
	out->l4len = plen;
	return 0;
}

static void transport(struct net *n, const struct ip_pkt *ip)
{
	switch (ip->proto) {
	case IPPROTO_TCP:
		tcp_input(n, ip);
		break;
	case IPPROTO_UDP:
		udp_input(n, ip);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((ip->proto == IPPROTO_ICMPV6) == (ip->src.family == 6))
			icmp_input(n, ip);
		else
			icmp_unreach(n, ip, UNREACH_PROTO);
		break;
	default:
		icmp_unreach(n, ip, UNREACH_PROTO);
		break;
	}
}

void ip4_input(struct net *n, const uint8_t *p, size_t len)
{
	struct ip_pkt ip;

	if (ip4_parse(p, len, &ip) < 0 ||
	    net_addr_v4(&ip.src) != n->cfg.guest_ip) {
		n->st.rx_dropped++;
		return;
	}
	transport(n, &ip);
}

void ip6_input(struct net *n, const uint8_t *p, size_t len)
{
	struct net_addr me = net_guest_addr(n, 6);
	struct ip_pkt ip;

	if (ip6_parse(p, len, &ip) < 0) {
		n->st.rx_dropped++;
		return;
	}
	switch (ip.proto) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_DSTOPTS:
	case IPPROTO_NONE:
	case IPPROTO_AH:
	case IPPROTO_ESP:
		n->st.rx_dropped++;
		return;
	}
	if (!net_addr_eq(&ip.src, &me)) {
		if (ip.proto == IPPROTO_ICMPV6)
			icmp_input(n, &ip); /* neighbour discovery only */
		else
			n->st.rx_dropped++;
		return;
	}
	/* Multicast is for the link, and nothing on it but us listens. */
	if (ip.dst.b[0] == 0xff && ip.proto != IPPROTO_ICMPV6) {
		n->st.rx_dropped++;
		return;
	}
	transport(n, &ip);
}
