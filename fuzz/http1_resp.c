/* SPDX-License-Identifier: Apache-2.0 */
/* http1_resp.c - libFuzzer target: a server's bytes into the guard's
 * answers side (src/secrets/guard_resp.c over src/http/http1_resp.c and
 * src/secrets/scrub.c)
 *
 * The first byte picks how the input is split into reads, which requests
 * the guest sent before (GET, HEAD, CONNECT, an Upgrade, HTTP/1.0;
 * pipelined) and whether the server closes at the end. The rest is what
 * the server sends. Nothing the guest gets may hold a value of the vault
 * (whatever the framing: chunks cut it, a head holds it, the stream ends
 * in it), and a chunked body decodes the same in pieces as whole. Two
 * bits of the first byte add a response hook (on_http_response) that
 * passes, rewrites (a good head, a bad one, a body) or blocks each answer:
 * what it is shown must be scrubbed and within the bounds too. The third
 * byte adds a head observer (on_http_response_head: shown a whole head,
 * scrubbed, never a body), may empty the vault (answers then framed
 * for the hooks alone), and may have the guest send the start of a TLS
 * record (or two other bytes) halfway through the server's reads. In a
 * tunnel (after CONNECT, or an Upgrade other than websocket) the
 * server's bytes are scrubbed as each read comes, with no tail held back
 * (guard_resp.c, bytes()), so a value cut across two reads may pass
 * there, by design: each read's bytes are checked alone. After a 101 to
 * websocket the server's bytes are frames (guard_ws.c), each scrubbed
 * whole or as fragments (seeds websocket-frames*): nothing else may come,
 * and no frame's payload may hold a value.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "guard_priv.h"
#include "http1.h"
#include "ws.h"

/* values no framing of ours can complete (no CR, LF, hex digit, no
 * "HTTP/1.") */
static const char *const VALUES[] = { "!SECRET@@zz!", "@@@@####" };
static const char *const PH[] = {
	"msb_placeholder_0123456789abcdef0123456789abcdef",
	"msb_placeholder_fedcba9876543210fedcba9876543210",
};
static const char *const REQS[] = {
	"GET / HTTP/1.1\r\nHost: api.test\r\n\r\n",
	"HEAD / HTTP/1.1\r\nHost: api.test\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: api.test\r\n\r\n",
	"CONNECT api.test:443 HTTP/1.1\r\nHost: api.test\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: api.test\r\nUpgrade: websocket\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: api.test\r\nAuthorization: Basic "
	"dTptc2JfcGxhY2Vob2xkZXJfMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	"\r\n\r\n",
};

static struct msb_vault vault, novault;
static struct guard_env env;
static unsigned hook_turn;

/* no_value() - @p holds no value of the vault in use (the empty vault's
 * flows have none: the same bytes are no secret of theirs and pass as
 * any bytes do) */
static void no_value(const void *p, size_t n)
{
	for (size_t i = 0; env.vault == &vault && i < 2; i++)
		if (n && memmem(p, n, VALUES[i], strlen(VALUES[i])))
			abort();
}

/* the response hook: sees no value and no more than the bounds say, and
 * answers in turn */
static int resp_hook(void *ctx, const struct msb_http_response *r,
		     struct msb_http_response_action *act)
{
	static const char *const heads[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 101 Switching\r\n\r\n",
		"garbage",
	};
	unsigned k = hook_turn++;

	(void)ctx;
	no_value(r->head, r->head_len);
	no_value(r->body, r->body_len);
	no_value(r->request, strlen(r->request));
	if (r->body_len > HTTP1_BODY_MAX || (r->body_streamed && r->body) ||
	    r->head_len < 4 || memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4))
		abort();
	switch (k % 4) {
	case 0:
		return MSB_HTTP_FORWARD;
	case 1:
		snprintf(act->reason, sizeof(act->reason), "no");
		return MSB_HTTP_BLOCK;
	case 2:
		act->head = heads[(k / 4) % 5];
		act->head_len = strlen(act->head);
		/* fall through */
	default:
		if (k & 8) {
			act->body = (const uint8_t *)VALUES[0]; /* scrubbed too */
			act->body_len = strlen(VALUES[0]);
		}
		return MSB_HTTP_MODIFY;
	}
}

/* the head observer: a head, scrubbed, whole; never a body */
static void head_observer(void *ctx, const struct msb_http_response *r)
{
	(void)ctx;
	no_value(r->head, r->head_len);
	no_value(r->request, strlen(r->request));
	if (r->body || r->body_len || r->head_len < 4 ||
	    memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4))
		abort();
}

static void setup(void)
{
	msb_error err;

	for (size_t i = 0; i < 2; i++) {
		struct msb_vault_secret *s = &vault.s[vault.n++];

		if (secret_spec_parse(i ? "B=@env:Y:api.test" :
					  "A=@env:X:api.test",
				      &s->spec, &err) < 0)
			abort();
		strcpy(s->placeholder, PH[i]);
		s->value = strdup(VALUES[i]);
		s->len = strlen(VALUES[i]);
	}
	if (msb_vault_scrub(&vault) < 0)
		abort();
	env = (struct guard_env){ .vault = &vault, .mode = GUARD_LOG };
}

/* frames_end() - where well-formed frames from @p[0..@n) end: @n if all
 * of it is such frames (the last may be cut short if an extension marked
 * it: such a frame passes as it comes, its head first) */
static size_t frames_end(const uint8_t *p, size_t n)
{
	size_t at = 0;
	struct ws_frame f;

	while (at < n && ws_frame_head(p + at, n - at, &f) == 1 && !f.masked) {
		if (f.len > n - at - f.head_len)
			return f.b0 & WS_RSV ? n : at;
		at += f.head_len + (size_t)f.len;
	}
	return at;
}

/* ws_start() - where the frames begin in what one read sent the guest
 * (@from on) as the guard went over to a WebSocket: just after a head's
 * empty line, all the rest frames (the earliest such place; (size_t)-1
 * if there is none: the guard wrote what is no frame) */
static size_t ws_start(const struct msb_buf *b, size_t from)
{
	const uint8_t *p = msb_buf_data(b);

	for (size_t at = from + 4; at <= b->len; at++)
		if (!memcmp(p + at - 4, "\r\n\r\n", 4) &&
		    frames_end(p + at, b->len - at) == b->len - at)
			return at;
	return (size_t)-1;
}

/* no_value_in_frames() - each frame's payload holds no value (one cut
 * across frames, by a frame's head or between fragments, is not looked
 * for: it is a value in pieces, docs/secrets.md) */
static void no_value_in_frames(const uint8_t *p, size_t n)
{
	struct ws_frame f;

	if (frames_end(p, n) != n)
		abort();
	for (size_t at = 0; at < n; at += f.head_len + (size_t)f.len) {
		ws_frame_head(p + at, n - at, &f);
		if (f.len > n - at - f.head_len)
			f.len = n - at - f.head_len;
		no_value(p + at + f.head_len, (size_t)f.len);
	}
}

static void check_chunks(const uint8_t *p, size_t n, size_t step)
{
	struct http1_chunks a = { 0 }, b = { 0 };
	struct msb_buf da = { 0 }, ta = { 0 }, db = { 0 }, tb = { 0 }, in = { 0 };
	int done_a, done_b = 0;
	long wa = http1_chunks_decode(&a, p, n, &da, &ta, &done_a), wb = 0;

	for (size_t at = 0; at < n && !done_b && wb >= 0; at += step) {
		long w;

		msb_buf_append(&in, p + at, at + step > n ? n - at : step);
		w = http1_chunks_decode(&b, msb_buf_data(&in), in.len, &db, &tb,
					&done_b);
		if (w < 0) {
			wb = w;
			break;
		}
		msb_buf_consume(&in, (size_t)w);
		wb += w;
	}
	/* whole and in pieces agree on where it ends and what it holds */
	if (wa >= 0 && done_a &&
	    (wb != wa || !done_b || da.len != db.len ||
	     (da.len && memcmp(msb_buf_data(&da), msb_buf_data(&db), da.len)) ||
	     ta.len != tb.len))
		abort();
	msb_buf_free(&da);
	msb_buf_free(&ta);
	msb_buf_free(&db);
	msb_buf_free(&tb);
	msb_buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msb_flow_info fi = { 0 };
	struct msb_buf up = { 0 }, host = { 0 }, guest = { 0 };
	size_t step;
	unsigned pick;
	void *g;
	size_t checked = 0, ws_from = (size_t)-1;
	int r = 0, sent = 0;

	if (!vault.n)
		setup();
	if (size < 3)
		return 0;
	step = (size_t)(data[0] & 0x1f) * 7 + 1;
	pick = data[1];
	/* the third byte: bit 0 a head observer, bit 1 no values (with
	 * neither values nor a response hook, framed for the observer
	 * alone) */
	env.on_http_response_head = (data[2] & 1) ? head_observer : NULL;
	env.vault = (data[2] & 2) ? &novault : &vault;
	data += 3;
	size -= 3;
	check_chunks(data, size, step);
	snprintf(fi.sni, sizeof(fi.sni), "api.test");
	fi.resolved_sni = 1;
	/* bits 5 and 6: no hook, or one whose turns start at 0, 1, 2 */
	env.on_http_response = (data[-3] & 0x60) ? resp_hook : NULL;
	hook_turn = (unsigned)((data[-3] >> 5) & 3) - 1;
	g = guard_new(&env, &fi, 1);
	if (!g)
		return 0;
	/* one to three requests, pipelined */
	for (unsigned i = 0, k = pick; i < 1 + (pick >> 6) % 3; i++, k /= 6)
		guard_filter.to_upstream(g, (const uint8_t *)REQS[k % 6],
					 strlen(REQS[k % 6]), &up, &guest);
	for (size_t at = 0; at < size && r == 0; at += step) {
		size_t before = guest.len;
		int ws = ((struct guard *)g)->ws;

		/* bits 2 and 3: the guest's bytes halfway (TLS, or not) */
		if ((data[-1] & 4) && !sent && at >= size / 2) {
			static const uint8_t tls[] = { 0x16, 0x03, 0x01 },
					     other[] = { 0x17, 0x03, 0x01 };

			sent = 1;
			r = guard_filter.to_upstream(g, data[-1] & 8 ? other : tls,
						     3, &up, &guest);
			if (r < 0)
				break;
		}
		r = guard_filter.to_guest(g, data + at,
					  at + step > size ? size - at : step,
					  &host, &guest);
		/* after a 101 to websocket, nothing but frames */
		if (!ws && ((struct guard *)g)->ws &&
		    (ws_from = ws_start(&guest, before)) == (size_t)-1)
			abort();
		/* in a tunnel each read is scrubbed whole and nothing is held
		 * back, so a value cut across two reads passes, by design:
		 * what came before is checked whole, then each read alone */
		if (((struct guard *)g)->rst == R_RAW) {
			no_value(msb_buf_data(&guest) + checked,
				 guest.len - checked);
			checked = guest.len;
		}
	}
	if (r == 0 && (data[-3] & 0x80))
		guard_filter.to_guest(g, NULL, 0, &host, &guest);
	if (ws_from != (size_t)-1) {
		no_value(msb_buf_data(&guest), ws_from);
		no_value_in_frames(msb_buf_data(&guest) + ws_from,
				   guest.len - ws_from);
	} else if (guest.len > checked) {
		no_value(msb_buf_data(&guest) + checked, guest.len - checked);
	}
	guard_filter.close(g);
	msb_buf_free(&up);
	msb_buf_free(&host);
	msb_buf_free(&guest);
	return 0;
}
