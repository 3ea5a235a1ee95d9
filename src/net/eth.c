/* SPDX-License-Identifier: Apache-2.0 */
/* eth.c - Ethernet demultiplexing, ARP for the gateway's addresses, and
 * the IP headers of frames to the guest
 *
 * The guest's only neighbours are the gateway and the resolver, both
 * answered with the gateway's MAC: by ARP here (RFC 826), by neighbour
 * discovery in icmp.c (RFC 4861). IPv6 frames the stack has no use for
 * (router solicitations, MLD reports) are dropped there.
 */

#include <string.h>

#include "bytes.h"
#include "stack.h"

#define ETHERTYPE_IP4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IP6 0x86dd
#define ARP_LEN 28

/* arp_input() - answer "who has" for the gateway and the resolver */
static void arp_input(struct net *n, const uint8_t *a, size_t len)
{
	uint32_t tpa;
	uint8_t *f;

	/* Ethernet (1), IPv4 (0x0800), 6-byte MACs, 4-byte addresses,
	 * request (1). */
	if (len < ARP_LEN || msb_get_be16(a) != 1 ||
	    msb_get_be16(a + 2) != ETHERTYPE_IP4 || a[4] != 6 || a[5] != 4 ||
	    msb_get_be16(a + 6) != 1)
		return;
	tpa = msb_get_be32(a + 24);
	if (tpa != n->cfg.gw_ip && tpa != n->cfg.dns_ip)
		return;
	f = net_frame_begin(n, ETH_HLEN + ARP_LEN);
	if (!f)
		return;
	memcpy(f, a + 8, 6);
	memcpy(f + 6, n->cfg.gw_mac, 6);
	msb_put_be16(f + 12, ETHERTYPE_ARP);
	memcpy(f + 14, a, 6);
	f[20] = 0;
	f[21] = 2; /* reply */
	memcpy(f + 22, n->cfg.gw_mac, 6);
	msb_put_be32(f + 28, tpa);
	memcpy(f + 32, a + 8, 10); /* the asker's MAC and address */
	net_frame_commit(n, f, ETH_HLEN + ARP_LEN);
}

void eth_input(struct net *n, const uint8_t *f, size_t len)
{
	uint16_t type;

	if (len < ETH_HLEN) {
		n->st.rx_dropped++;
		return;
	}
	type = msb_get_be16(f + 12);
	if (type == ETHERTYPE_ARP)
		arp_input(n, f + ETH_HLEN, len - ETH_HLEN);
	else if (type == ETHERTYPE_IP4)
		ip4_input(n, f + ETH_HLEN, len - ETH_HLEN);
	else if (type == ETHERTYPE_IP6 && n->cfg.prefix6)
		ip6_input(n, f + ETH_HLEN, len - ETH_HLEN);
	else
		n->st.rx_dropped++;
}

size_t eth_ip_hlen(int family)
{
	return family == 6 ? IP6_HLEN : IP4_HLEN;
}

uint8_t *eth_ip_begin(struct net *n, int family, uint8_t **frame,
		      size_t l4max)
{
	size_t hlen = eth_ip_hlen(family);
	uint8_t *f = net_frame_begin(n, ETH_HLEN + hlen + l4max);

	*frame = f;
	return f ? f + ETH_HLEN + hlen : NULL;
}

static void ip4_header(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto,
		       size_t tot)
{
	static uint16_t ip_id;
	uint16_t c;

	ip[0] = 0x45;
	ip[1] = 0;
	msb_put_be16(ip + 2, (uint16_t)tot);
	ip_id++;
	msb_put_be16(ip + 4, ip_id);
	ip[6] = 0x40; /* DF */
	ip[7] = 0;
	ip[8] = 64;
	ip[9] = proto;
	ip[10] = ip[11] = 0;
	msb_put_be32(ip + 12, src);
	msb_put_be32(ip + 16, dst);
	c = net_csum_fold(net_csum_add(0, ip, IP4_HLEN));
	msb_put_be16(ip + 10, c);
}

/* ip6_header() - RFC 8200 §3; neighbour discovery's messages need a hop
 * limit of 255 (RFC 4861 §7.1.2), and any other value would do for the
 * rest, so every packet has it. */
static void ip6_header(uint8_t *ip, const uint8_t *src, const uint8_t *dst,
		       uint8_t proto, size_t plen)
{
	ip[0] = 0x60;
	ip[1] = ip[2] = ip[3] = 0;
	msb_put_be16(ip + 4, (uint16_t)plen);
	ip[6] = proto;
	ip[7] = 255;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
}

void eth_ip_commit(struct net *n, uint8_t *f, const struct net_addr *src,
		   const struct net_addr *dst, uint8_t proto, size_t l4len)
{
	size_t hlen = eth_ip_hlen(src->family);

	memcpy(f, n->cfg.guest_mac, 6);
	memcpy(f + 6, n->cfg.gw_mac, 6);
	if (src->family == 6) {
		msb_put_be16(f + 12, ETHERTYPE_IP6);
		ip6_header(f + ETH_HLEN, src->b, dst->b, proto, l4len);
	} else {
		msb_put_be16(f + 12, ETHERTYPE_IP4);
		ip4_header(f + ETH_HLEN, net_addr_v4(src), net_addr_v4(dst),
			   proto, hlen + l4len);
	}
	net_frame_commit(n, f, ETH_HLEN + hlen + l4len);
}
