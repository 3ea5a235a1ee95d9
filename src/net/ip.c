/* SPDX-License-Identifier: Apache-2.0 */
/* ip.c - IPv4 from the guest: checked, then handed to its protocol
 *
 * RFC 791 and RFC 1122 §3.2.1: version, header length, total length within
 * the frame, header checksum. Fragments are dropped (the guest's own
 * transports never need them: its TCP sets DF, and datagrams larger than
 * the MTU are rare enough to refuse); so are packets from anyone but the
 * guest's address.
 */

#include <netinet/in.h>

#include "stack.h"

int ip4_parse(const uint8_t *p, size_t len, struct ip4_pkt *out)
{
	size_t hlen, tot;

	if (len < IP4_HLEN || (p[0] >> 4) != 4)
		return -1;
	hlen = (size_t)(p[0] & 0xf) * 4;
	tot = (size_t)p[2] << 8 | p[3];
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
	out->src = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 |
		   (uint32_t)p[14] << 8 | p[15];
	out->dst = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 |
		   (uint32_t)p[18] << 8 | p[19];
	out->l4 = p + hlen;
	out->l4len = tot - hlen;
	return 0;
}

void ip4_input(struct net *n, const uint8_t *p, size_t len)
{
	struct ip4_pkt ip;

	if (ip4_parse(p, len, &ip) < 0 || ip.src != n->cfg.guest_ip) {
		n->st.rx_dropped++;
		return;
	}
	switch (ip.proto) {
	case IPPROTO_TCP:
		tcp_input(n, &ip);
		break;
	case IPPROTO_UDP:
		udp_input(n, &ip);
		break;
	case IPPROTO_ICMP:
		icmp_input(n, &ip);
		break;
	default:
		icmp_unreach(n, &ip, 2); /* protocol unreachable */
		break;
	}
}
