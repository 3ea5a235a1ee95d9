/* SPDX-License-Identifier: Apache-2.0 */
/* bytes.h - integers read from and written to byte buffers in a fixed
 * byte order: network order (big-endian) for the agent protocol and the
 * network stack, little-endian for virtio headers and EROFS. No alignment
 * is assumed. Header-only and libc-free, for the guest agent (musl) and
 * the fuzz targets alike. */
#ifndef MSB_BYTES_H
#define MSB_BYTES_H

#include <stdint.h>

static inline uint16_t msb_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t msb_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t msb_get_be64(const uint8_t *p)
{
	return (uint64_t)msb_get_be32(p) << 32 | msb_get_be32(p + 4);
}

static inline void msb_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void msb_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void msb_put_be64(uint8_t *p, uint64_t v)
{
	msb_put_be32(p, (uint32_t)(v >> 32));
	msb_put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t msb_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t msb_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

#endif
