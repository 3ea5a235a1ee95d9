/* SPDX-License-Identifier: Apache-2.0 */
/* test_vnet.c - the virtio-net header of the guest's frames (vnet.c):
 * a checksum left to the device is completed as the guest's own stack
 * would have written it; a checksum field outside the frame, or a
 * segmentation request, drops the frame */

#include <string.h>

#include "harness.h"
#include "stack.h"

/* udp_frame() - an IPv4 UDP frame 10.0.2.15:40000 -> 10.0.2.3:53 with
 * @len payload bytes; its UDP checksum is the full one when @full, else
 * the pseudo-header's sum as a guest leaves it with NEEDS_CSUM.
 * Return: the frame's length */
static size_t udp_frame(uint8_t *f, size_t len, int full)
{
	uint8_t *ip = f + ETH_HLEN, *u = ip + IP4_HLEN;
	size_t l4 = UDP_HLEN + len;
	uint32_t src = 0x0a00020f, dst = 0x0a000203, ps;
	uint16_t c;

	memset(f, 0, ETH_HLEN + IP4_HLEN + l4);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((IP4_HLEN + l4) >> 8);
	ip[3] = (uint8_t)(IP4_HLEN + l4);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x03", 8);
	u[0] = 0x9c;
	u[1] = 0x40;
	u[3] = 53;
	u[4] = (uint8_t)(l4 >> 8);
	u[5] = (uint8_t)l4;
	for (size_t i = 0; i < len; i++)
		u[UDP_HLEN + i] = (uint8_t)(i * 7 + 1);
	ps = net_pseudo4(src, dst, 17, l4);
	if (full) {
		c = net_csum_fold(net_csum_add(ps, u, l4));
	} else {
		while (ps >> 16)
			ps = (ps & 0xffff) + (ps >> 16);
		c = (uint16_t)ps;
	}
	u[6] = (uint8_t)(c >> 8);
	u[7] = (uint8_t)c;
	return ETH_HLEN + IP4_HLEN + l4;
}

static void hdr(uint8_t *h, uint8_t flags, uint8_t gso, uint16_t start,
		uint16_t off)
{
	memset(h, 0, VNET_HDR_MAX);
	h[0] = flags;
	h[1] = gso;
	h[6] = (uint8_t)start;
	h[7] = (uint8_t)(start >> 8);
	h[8] = (uint8_t)off;
	h[9] = (uint8_t)(off >> 8);
}

TEST(vnet_completes_a_checksum_left_to_the_device)
{
	static uint8_t want[2048], got[2048];
	uint8_t h[VNET_HDR_MAX];
	const uint16_t start = ETH_HLEN + IP4_HLEN;

	/* odd and even lengths: the last byte pads the sum */
	for (size_t len = 0; len < 40; len += 13) {
		size_t n = udp_frame(want, len, 1);

		udp_frame(got, len, 0);
		hdr(h, VNET_HDR_F_NEEDS_CSUM, VNET_GSO_NONE, start, 6);
		CHECK_EQ_INT(vnet_tx_frame(h, got, n), 0);
		CHECK_MEM(got, want, n);
	}
	/* no flag: the frame is taken as it is */
	udp_frame(got, 5, 0);
	hdr(h, 0, VNET_GSO_NONE, 0, 0);
	CHECK_EQ_INT(vnet_tx_frame(h, got, udp_frame(want, 5, 0)), 0);
	CHECK_MEM(got, want, udp_frame(want, 5, 0));
}

TEST(vnet_drops_a_bad_header)
{
	static uint8_t f[2048];
	uint8_t h[VNET_HDR_MAX];
	size_t n = udp_frame(f, 10, 0);

	/* the checksum field past the frame's end, or half in it */
	hdr(h, VNET_HDR_F_NEEDS_CSUM, VNET_GSO_NONE, (uint16_t)n, 0);
	CHECK_EQ_INT(vnet_tx_frame(h, f, n), -1);
	hdr(h, VNET_HDR_F_NEEDS_CSUM, VNET_GSO_NONE, (uint16_t)(n - 1), 0);
	CHECK_EQ_INT(vnet_tx_frame(h, f, n), -1);
	hdr(h, VNET_HDR_F_NEEDS_CSUM, VNET_GSO_NONE, 34, 0xffff);
	CHECK_EQ_INT(vnet_tx_frame(h, f, n), -1);
	hdr(h, VNET_HDR_F_NEEDS_CSUM, VNET_GSO_NONE, 0xffff, 0xffff);
	CHECK_EQ_INT(vnet_tx_frame(h, f, n), -1);
	/* the last two bytes are a field that fits */
	hdr(h, VNET_HDR_F_NEEDS_CSUM, VNET_GSO_NONE, (uint16_t)(n - 2), 0);
	CHECK_EQ_INT(vnet_tx_frame(h, f, n), 0);
	/* segmentation was never offered: TCPv4 (1), UDP (3), TCPv6 (4) */
	for (uint8_t gso = 1; gso < 6; gso++) {
		hdr(h, 0, gso, 0, 0);
		CHECK_EQ_INT(vnet_tx_frame(h, f, n), -1);
	}
}
