/* SPDX-License-Identifier: Apache-2.0 */
/* ws.c - WebSocket frame heads (see ws.h) */

#include <errno.h>

#include "ws.h"

int ws_frame_head(const uint8_t *p, size_t n, struct ws_frame *f)
{
	unsigned op, ext;
	size_t at = 2;
	uint64_t len;

	if (n < 2)
		return 0;
	op = p[0] & WS_OP;
	/* §5.2: opcodes 3-7 and 11-15 are reserved */
	if ((op > 2 && op < 8) || op > 10)
		return -EBADMSG;
	len = p[1] & 0x7f;
	ext = len == 126 ? 2 : len == 127 ? 8 : 0;
	if (n < at + ext)
		return 0;
	if (ext) {
		len = 0;
		for (unsigned i = 0; i < ext; i++)
			len = len << 8 | p[at + i];
		at += ext;
		/* "the most significant bit MUST be 0" */
		if (len >> 63)
			return -EBADMSG;
	}
	/* §5.5: a control frame is short and whole */
	if (op >= WS_OP_CLOSE && (len > WS_CONTROL_MAX || !(p[0] & WS_FIN)))
		return -EBADMSG;
	f->masked = !!(p[1] & 0x80);
	if (f->masked)
		at += 4;
	if (n < at)
		return 0;
	f->b0 = p[0];
	f->len = len;
	f->head_len = at;
	return 1;
}

int ws_frame_put(struct msb_buf *out, uint8_t b0, uint64_t len)
{
	uint8_t h[10] = { b0 };
	size_t n = 2;

	if (len < 126) {
		h[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		n = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	return msb_buf_append(out, h, n);
}
