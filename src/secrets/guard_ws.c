/* SPDX-License-Identifier: Apache-2.0 */
/* guard_ws.c - a WebSocket's frames from the server, scrubbed of every
 * secret value before the guest reads them (docs/secrets.md)
 *
 * Theory of operation. After a 101 that switched an Upgrade request to
 * websocket (RFC 6455), what the server sends is frames (ws.h). A value's
 * length is not its placeholder's, so each frame is read and written out
 * again with the length of its scrubbed payload:
 *   - a frame up to HTTP1_BODY_MAX (every control frame among them) is
 *     held whole, scrubbed, and sent with its new length; a control frame
 *     the scrub made longer than 125 bytes keeps a close's status code
 *     alone, or goes empty (§5.5);
 *   - a longer one is scrubbed as it comes and sent as fragments of the
 *     same message (§5.4), the last with the frame's own FIN; the tail
 *     that could begin a value waits only for more of the frame's payload,
 *     which the server has said is coming;
 *   - a frame an extension marked (an RSV bit: permessage-deflate's
 *     compression, in which no value can be seen) is refused where a value
 *     could have gone with the upgrade, as the guard did not let the guest
 *     offer an extension there (http1_rewrite.identity); elsewhere it
 *     passes as it is, no value having gone there.
 * So nothing is held back once a frame is through: a server that sends a
 * message and then waits for the guest does not wait on a held tail, as
 * it would if the stream were scrubbed as bytes. A value cut across frames
 * (the fragments of one message) is not found, as a value split into
 * pieces is not; a frame no server may send (masked, a reserved opcode, a
 * control frame over 125 bytes or fragmented) ends the connection.
 */

#include <errno.h>

#include "guard_priv.h"

/* how the frame being read goes on */
enum { WS_WHOLE, WS_SPLIT, WS_PASS };

/* begin() - the head at the front of @g->rin. Return: 1 read, 0 more is
 * needed, or a negative errno (refused) */
static int begin(struct guard *g, struct msb_buf *guest)
{
	struct ws_frame *f = &g->wsf;
	int r = ws_frame_head(bytes_at(&g->rin), g->rin.len, f);

	if (r == 0)
		return 0;
	if (r < 0)
		return guard_refuse(g, r, "a WebSocket frame no server may "
					  "send (RFC 6455 §5.2, §5.5)", guest);
	if (f->masked)
		return guard_refuse(g, -EPROTO, "a masked WebSocket frame (a "
						"server's never are, RFC "
						"6455 §5.1)", guest);
	if ((f->b0 & WS_RSV) && (g->cur_flags & P_BOUND))
		return guard_refuse(g, -EPROTO,
				    "a WebSocket frame an extension compressed, "
				    "where a value may have gone and none was "
				    "offered", guest);
	msb_buf_consume(&g->rin, f->head_len);
	g->ws_in = 1;
	g->rleft = f->len;
	g->ws_sent = 0;
	g->plain.len = 0;
	if (f->b0 & WS_RSV) {
		g->ws_how = WS_PASS;
		return ws_frame_put(guest, f->b0, f->len) < 0 ? -ENOMEM : 1;
	}
	g->ws_how = f->len <= HTTP1_BODY_MAX ? WS_WHOLE : WS_SPLIT;
	return 1;
}

/* whole() - a frame held whole: out with its new length once it is in */
static int whole(struct guard *g, struct msb_buf *guest)
{
	struct msb_buf out = { 0 };
	uint8_t b0 = g->wsf.b0;
	size_t n;
	int r = 0;

	if (guard_take(g, &g->plain) < 0)
		return -ENOMEM;
	if (g->rleft)
		return 0;
	if (guard_scrub(g, bytes_at(&g->plain), g->plain.len, 1, &out) < 0) {
		msb_buf_free(&out);
		return -ENOMEM;
	}
	n = out.len;
	if ((b0 & WS_OP) >= WS_OP_CLOSE && n > WS_CONTROL_MAX)
		n = (b0 & WS_OP) == WS_OP_CLOSE ? 2 : 0;
	if (ws_frame_put(guest, b0, n) < 0 ||
	    msb_buf_append(guest, bytes_at(&out), n) < 0)
		r = -ENOMEM;
	msb_buf_free(&out);
	g->plain.len = 0;
	g->ws_in = 0;
	return r < 0 ? r : 1;
}

/* split() - a frame too long to hold: what came of it, scrubbed, as the
 * next fragment of its message */
static int split(struct guard *g, struct msb_buf *guest)
{
	struct msb_buf out = { 0 };
	int last, r = 0;
	uint8_t b0;
	long took;

	if (guard_take(g, &g->plain) < 0)
		return -ENOMEM;
	last = !g->rleft;
	took = guard_scrub(g, bytes_at(&g->plain), g->plain.len, last, &out);
	if (took < 0) {
		msb_buf_free(&out);
		return -ENOMEM;
	}
	msb_buf_consume(&g->plain, (size_t)took);
	if (out.len || last) {
		/* the first piece is the frame's opcode, the rest go on with
		 * it (§5.4); the last carries its FIN */
		b0 = g->ws_sent ? WS_OP_CONT : (g->wsf.b0 & WS_OP);
		if (last)
			b0 |= g->wsf.b0 & WS_FIN;
		if (ws_frame_put(guest, b0, out.len) < 0 ||
		    msb_buf_append(guest, bytes_at(&out), out.len) < 0)
			r = -ENOMEM;
		g->ws_sent = 1;
	}
	msb_buf_free(&out);
	if (last)
		g->ws_in = 0;
	return r < 0 ? r : last;
}

int guard_resp_ws(struct guard *g, struct msb_buf *guest)
{
	int r;

	if (!g->ws_in) {
		r = g->rin.len ? begin(g, guest) : 0;
		if (r == 0 && g->eof) {
			/* half a head is no frame */
			g->rin.len = 0;
			g->rst = R_DONE;
		}
		return r;
	}
	switch (g->ws_how) {
	case WS_PASS:
		r = guard_take(g, guest);
		if (r == 0 && !g->rleft)
			g->ws_in = 0;
		r = r < 0 ? r : !g->ws_in;
		break;
	case WS_WHOLE:
		r = whole(g, guest);
		break;
	default:
		r = split(g, guest);
		break;
	}
	if (r == 0 && g->eof) {
		/* the server closed inside a frame: what was held of it (a
		 * value's first bytes, maybe) stays */
		g->rin.len = 0;
		g->rst = R_DONE;
	}
	return r;
}
