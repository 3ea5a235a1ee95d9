/* SPDX-License-Identifier: Apache-2.0 */
/* icmp.c - echo for the gateway's addresses, errors for refused packets
 *
 * RFC 792. Echo requests to the gateway and the resolver are answered
 * here; to anyone else they get "communication administratively
 * prohibited" (RFC 1812 §5.2.7.1, code 13): the stack re-originates flows,
 * not packets, and does not ping on the guest's behalf.
 */

#include <netinet/in.h>
#include <string.h>

#include "stack.h"

#define ICMP_ECHOREPLY 0
#define ICMP_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_HLEN 8

static void set_csum(uint8_t *icmp, size_t len)
{
	uint16_t c;

	icmp[2] = icmp[3] = 0;
	c = net_csum_fold(net_csum_add(0, icmp, len));
	icmp[2] = (uint8_t)(c >> 8);
	icmp[3] = (uint8_t)c;
}

void icmp_input(struct net *n, const struct ip4_pkt *ip)
{
	uint8_t *f, *out;

	if (ip->l4len < ICMP_HLEN ||
	    net_csum_fold(net_csum_add(0, ip->l4, ip->l4len)) != 0) {
		n->st.rx_dropped++;
		return;
	}
	if (ip->l4[0] != ICMP_ECHO)
		return;
	if (ip->dst != n->cfg.gw_ip && ip->dst != n->cfg.dns_ip) {
		icmp_unreach(n, ip, 13);
		return;
	}
	out = eth_ip4_begin(n, &f, ip->l4len);
	if (!out)
		return;
	memcpy(out, ip->l4, ip->l4len);
	out[0] = ICMP_ECHOREPLY;
	set_csum(out, ip->l4len);
	eth_ip4_commit(n, f, ip->dst, ip->src, IPPROTO_ICMP, ip->l4len);
}

void icmp_unreach(struct net *n, const struct ip4_pkt *ip, uint8_t code)
{
	/* The offending header and 8 bytes of its payload (RFC 792). */
	size_t quote = ip->hlen + (ip->l4len < 8 ? ip->l4len : 8);
	uint8_t *f, *out;

	/* Never an error about an error (RFC 1122 §3.2.2). */
	if (ip->proto == IPPROTO_ICMP && ip->l4len && ip->l4[0] != ICMP_ECHO)
		return;
	out = eth_ip4_begin(n, &f, ICMP_HLEN + quote);
	if (!out)
		return;
	memset(out, 0, ICMP_HLEN);
	out[0] = ICMP_UNREACH;
	out[1] = code;
	memcpy(out + ICMP_HLEN, ip->hdr, quote);
	set_csum(out, ICMP_HLEN + quote);
	eth_ip4_commit(n, f, n->cfg.gw_ip, ip->src, IPPROTO_ICMP,
		       ICMP_HLEN + quote);
}
