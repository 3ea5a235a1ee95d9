/* SPDX-License-Identifier: Apache-2.0 */
/* netseg.c - IPv4 TCP segments from the guest for the stack's tests */

#include <netinet/in.h>
#include <string.h>

#include "netseg.h"
#include "stack.h"

void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

size_t netseg_tcp4(uint8_t *f, uint32_t dst, uint16_t sport, uint16_t dport,
		   uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		   const void *data, size_t dlen)
{
	uint8_t *ip = f + ETH_HLEN, *t = ip + IP4_HLEN;
	size_t l4 = TCP_HLEN + dlen;

	memset(f, 0, ETH_HLEN + IP4_HLEN + TCP_HLEN);
	memcpy(f, "\x52\x54\x00\x12\x35\x02\x52\x54\x00\x12\x34\x56", 12);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP4_HLEN + l4));
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	put32(ip + 12, NET_GUEST_IP);
	put32(ip + 16, dst);
	put16(ip + 10, net_csum_fold(net_csum_add(0, ip, IP4_HLEN)));
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, win);
	if (data)
		memcpy(t + TCP_HLEN, data, dlen);
	else
		memset(t + TCP_HLEN, 'x', dlen);
	put16(t + 16, net_csum_fold(net_csum_add(
		net_pseudo4(NET_GUEST_IP, dst, IPPROTO_TCP, l4), t, l4)));
	return ETH_HLEN + IP4_HLEN + l4;
}
