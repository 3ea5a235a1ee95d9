/* SPDX-License-Identifier: Apache-2.0 */
/* netseg.h - IPv4 TCP segments from the guest, as the unit tests of the
 * network stack (src/net/) feed them to net_input() */
#ifndef MSB_UNIT_NETSEG_H
#define MSB_UNIT_NETSEG_H

#include <stddef.h>
#include <stdint.h>

/* Room for a segment with @dlen bytes of payload. */
#define NETSEG_MAX(dlen) (14 + 20 + 20 + (dlen))

/* put16(), put32() - big-endian into @p */
void put16(uint8_t *p, uint16_t v);
void put32(uint8_t *p, uint32_t v);

/**
 * netseg_tcp4() - an Ethernet frame from the guest (its MAC and address,
 * to the gateway's MAC) holding one TCP segment, both checksums right
 * @f:     at least NETSEG_MAX(@dlen) bytes
 * @dst:   destination address, host order
 * @sport: the guest's port
 * @dport: the destination port
 * @seq:   sequence number
 * @ack:   acknowledgement number
 * @flags: TCP flags (0x02 SYN, 0x10 ACK, ...)
 * @win:   window, unscaled
 * @data:  payload, or NULL for @dlen bytes of 'x'
 * @dlen:  payload length
 *
 * Return: the frame's length.
 */
size_t netseg_tcp4(uint8_t *f, uint32_t dst, uint16_t sport, uint16_t dport,
		   uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		   const void *data, size_t dlen);

#endif
