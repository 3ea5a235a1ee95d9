/* SPDX-License-Identifier: Apache-2.0 */
/* ws.h - WebSocket frame heads (RFC 6455 §5.2), for a filter that reads
 * what a server sends in a WebSocket and writes it out again
 *
 * A frame is a head (FIN, three RSV bits, an opcode, a payload length in
 * 7, 16 or 64 bits, a mask key if masked) and its payload. A server's
 * frames are never masked (§5.1); control frames (opcode 8 and up) carry
 * at most 125 bytes and are never fragmented (§5.5).
 */
#ifndef MSB_HTTP_WS_H
#define MSB_HTTP_WS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WS_FIN 0x80
#define WS_RSV 0x70  /* the bits an extension (compression) sets */
#define WS_OP 0x0f
#define WS_OP_CONT 0x0
#define WS_OP_CLOSE 0x8
#define WS_CONTROL_MAX 125

/**
 * struct ws_frame - one frame's head
 * @b0:       its first byte: FIN, RSV1-3 and the opcode
 * @masked:   the mask bit was set (a client's frame)
 * @len:      the payload's length
 * @head_len: the head's bytes, mask key included
 */
struct ws_frame {
	uint8_t b0;
	int masked;
	uint64_t len;
	size_t head_len;
};

/**
 * ws_frame_head() - the head at @p[0..@n)
 * Return: 1 with @f filled, 0 if more bytes are needed, -EBADMSG for a
 * head no peer may send (a reserved opcode, a control frame fragmented or
 * over 125 bytes, a length over 2^63 - 1).
 */
int ws_frame_head(const uint8_t *p, size_t n, struct ws_frame *f);

/**
 * ws_frame_put() - an unmasked head, @b0 and a payload of @len bytes, its
 * length in the fewest bytes (§5.2), appended to @out
 * Return: 0, -ENOMEM
 */
int ws_frame_put(struct msb_buf *out, uint8_t b0, uint64_t len);

#endif
