/* SPDX-License-Identifier: Apache-2.0 */
/* guard_resp.c - the server's answers on a guarded flow, scrubbed of every
 * secret value before the guest reads them (docs/secrets.md)
 *
 * Theory of operation. A server a value may go to can send it back (an
 * echo, an error page quoting the request, a model asked to repeat it).
 * So in a sandbox with secrets, every byte a guarded flow's server sends
 * passes through the vault's scrub (scrub.h: each value, raw,
 * percent-, JSON- and base64-encoded, becomes its placeholder) and the
 * flow's own (the Basic credentials the guard rewrote, back to what the
 * guest wrote). A value's length is not its placeholder's, so answers are
 * framed (http1.h: the head, then a body by length, chunked, until close,
 * or none, as the request each answers says) and written out again with
 * their new framing:
 *   - the head, scrubbed whole (a value echoed in a header or the status);
 *   - a body by length up to HTTP1_BODY_MAX: held whole, scrubbed, sent
 *     with its new Content-Length;
 *   - a longer one: scrubbed as it comes and sent chunked (to a guest that
 *     reads HTTP/1.1) or until close (Content-Length removed, the
 *     connection closed after it);
 *   - chunked: decoded (a value cut across chunks is whole again),
 *     scrubbed as it comes, sent as new chunks, the trailer scrubbed;
 *   - until close: scrubbed as bytes, the held tail sent when the server
 *     closes;
 *   - after the head of the answer to a CONNECT or an Upgrade request
 *     (whose side guard.c no longer frames): each read scrubbed whole,
 *     nothing held back (bytes());
 *   - after a 101 to websocket: frame by frame, each with its new length
 *     (guard_ws.c).
 * Where a value could go with the request (P_BOUND), the request asked
 * for identity (http1_rewrite.identity); an answer compressed anyway
 * cannot be scrubbed and is refused with 502. Elsewhere a compressed body
 * passes as its bytes (no value went there to be compressed). An answer
 * that cannot be framed is refused (502 if none of it was sent).
 *
 * With a response hook (guard_env.on_http_response) every answer is
 * framed, secrets or not, and held until the hook decides: its head, and
 * a body up to HTTP1_BODY_MAX whole (by length, chunked or until close;
 * decoded and scrubbed first, so the hook sees placeholders, never a
 * value). The hook may pass it, block it (our 403, the connection ends)
 * or give a new head and/or body; what goes to the guest is then framed
 * by its length. A longer body is shown as its head alone, then streamed
 * as above; a body cut short by the close never reaches the guest (502).
 * Interim (1xx) answers and those that open a tunnel are not shown.
 *
 * With a head observer (guard_env.on_http_response_head) every answer is
 * framed too, and its head, scrubbed, is shown to it as it comes from the
 * server, before any of it goes to the guest and before the response hook
 * (which may change it) is asked. The observer answers nothing and holds
 * nothing: without values to scrub or a response hook, a body by length
 * goes as it comes with its head unchanged, and a chunked one as it is
 * decoded.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "guard_priv.h"

/* A flow keeps the forms of this many Basic credentials it rewrote (the
 * newest). */
#define BASIC_MAX 8

int guard_expect(struct guard *g, unsigned flags, const char *host,
		 const char *line, size_t ll)
{
	size_t at, hl;
	char *req = NULL;

	if (g->p_len == PENDING_MAX)
		return -ENOBUFS;
	if (g->env->on_http_response || g->env->on_http_response_head) {
		hl = strlen(host);
		req = malloc(hl + ll + 2);
		if (!req)
			return -ENOMEM;
		memcpy(req, host, hl + 1);
		memcpy(req + hl + 1, line, ll);
		req[hl + 1 + ll] = '\0';
	}
	at = (g->p_first + g->p_len++) % PENDING_MAX;
	g->pending[at] = (uint8_t)flags;
	g->preq[at] = req;
	return 0;
}

void guard_basic(void *ctx, const char *sent, size_t sl, const char *orig,
		 size_t ol)
{
	struct guard *g = ctx;

	if (g->basic.n >= BASIC_MAX * 11)
		scrub_free(&g->basic);
	scrub_add_forms(&g->basic, sent, sl, orig, ol);
}

void guard_resp_free(struct guard *g)
{
	for (size_t i = 0; i < PENDING_MAX; i++)
		free(g->preq[i]);
	free(g->cur_req);
	msb_buf_free(&g->rin);
	msb_buf_free(&g->plain);
	msb_buf_free(&g->rhead);
	msb_buf_free(&g->trailer);
	scrub_free(&g->basic);
}

long guard_scrub(const struct guard *g, const uint8_t *p, size_t n,
		  int final, struct msb_buf *out)
{
	const struct scrub *sets[] = { &g->env->vault->scrub, &g->basic };

	return scrub_run(sets, 2, p, n, final, out, NULL);
}

/* front() - what the request the next answer is for told (P_*); 0 for
 * an answer nobody asked for */
static unsigned front(const struct guard *g)
{
	return g->p_len ? g->pending[g->p_first] : 0;
}

static void pop(struct guard *g)
{
	free(g->cur_req);
	g->cur_req = NULL;
	if (g->p_len) {
		g->cur_req = g->preq[g->p_first];
		g->preq[g->p_first] = NULL;
		g->p_first = (g->p_first + 1) % PENDING_MAX;
		g->p_len--;
	}
}

/* the framing an answer's head goes out with */
enum frame {
	F_KEEP,    /* as it came */
	F_LENGTH,  /* Content-Length: the scrubbed body's */
	F_CHUNKED, /* Content-Length dropped, Transfer-Encoding: chunked */
	F_CLOSE,   /* Content-Length dropped, Connection: close */
	F_TE,      /* chunked as it came: a Content-Length beside it dropped
		    * (RFC 9112 §6.3 rule 3) */
};

static int is_field(const uint8_t *l, size_t name, const char *f)
{
	return name == strlen(f) && !strncasecmp((const char *)l, f, name);
}

/* put_head() - an answer's head to @guest: its lines scrubbed, its
 * framing @how (@len for F_LENGTH) said where its Content-Length was,
 * every line ending in CRLF; an answer nothing is changed in goes as it
 * came */
static int put_head(const struct guard *g, const uint8_t *head, size_t hl,
		    enum frame how, uint64_t len, struct msb_buf *guest)
{
	struct msb_buf tmp = { 0 };
	const uint8_t *line;
	size_t at = 0, n, name;
	char fr[64] = "";
	int r = 0, put = 0;

	if (how == F_LENGTH)
		snprintf(fr, sizeof(fr), "Content-Length: %llu",
			 (unsigned long long)len);
	else if (how == F_CHUNKED)
		snprintf(fr, sizeof(fr), "Transfer-Encoding: chunked");
	else if (how == F_CLOSE)
		snprintf(fr, sizeof(fr), "Connection: close");
	while (http1_resp_field(head, hl, &at, &line, &n, &name)) {
		if (how != F_KEEP && is_field(line, name, "content-length")) {
			/* ours in the place of the first */
			line = (const uint8_t *)fr;
			n = put ? 0 : strlen(fr);
			put = 1;
		} else if (how != F_KEEP && how != F_TE &&
			   is_field(line, name, "transfer-encoding")) {
			/* (a hook's head: the framing is ours) */
			continue;
		} else if (how == F_CLOSE &&
			   (is_field(line, name, "connection") ||
			    is_field(line, name, "keep-alive"))) {
			continue;
		}
		if (n && (msb_buf_append(&tmp, line, n) < 0 ||
			  msb_buf_append(&tmp, "\r\n", 2) < 0)) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (guard_scrub(g, bytes_at(&tmp), tmp.len, 1, guest) < 0 ||
	    (!put && fr[0] && (msb_buf_append(guest, fr, strlen(fr)) < 0 ||
		       msb_buf_append(guest, "\r\n", 2) < 0)) ||
	    msb_buf_append(guest, "\r\n", 2) < 0)
		r = -ENOMEM;
out:
	msb_buf_free(&tmp);
	return r;
}

/* put_body() - what is in @g->plain, scrubbed as far as it can be (all of
 * it if @final), to @guest: as a chunk if @g->rechunk */
static int put_body(struct guard *g, int final, struct msb_buf *guest)
{
	struct msb_buf out = { 0 };
	long took = guard_scrub(g, bytes_at(&g->plain), g->plain.len, final,
			  g->rechunk ? &out : guest);
	char size[32];
	int r = 0;

	if (took < 0)
		return -ENOMEM;
	msb_buf_consume(&g->plain, (size_t)took);
	if (g->rechunk && out.len) {
		snprintf(size, sizeof(size), "%zx\r\n", out.len);
		if (msb_buf_append(guest, size, strlen(size)) < 0 ||
		    msb_buf_append(guest, bytes_at(&out), out.len) < 0 ||
		    msb_buf_append(guest, "\r\n", 2) < 0)
			r = -ENOMEM;
	}
	msb_buf_free(&out);
	return r;
}

int guard_refuse(struct guard *g, int e, const char *why,
		  struct msb_buf *guest)
{
	char dst[64];

	msb_sockaddr_format(&g->info.dst, dst, sizeof(dst));
	guard_say(g, "secrets: answer from %s (server name '%s') refused: %s",
		  dst, g->info.sni, why);
	if (g->rst == R_HEAD)
		guard_answer(guest, 502, "msb: refused: an answer that could "
					 "not be scrubbed of secrets");
	g->rst = R_DONE;
	g->done = 1;
	return e;
}

/* answered() - the current answer is through */
static void answered(struct guard *g)
{
	g->rechunk = g->reclose = g->hold = 0;
	g->rst = g->raw_after ? R_RAW : R_HEAD;
}

/* hook_refuse() - an answer the response hook refused, or whose new form
 * cannot go: ours (@code, @text) instead, and the connection ends */
static int hook_refuse(struct guard *g, int e, int code, const char *text,
		       const char *why, struct msb_buf *guest)
{
	const char *host = g->cur_req ? g->cur_req : "";
	char dst[64];

	msb_sockaddr_format(&g->info.dst, dst, sizeof(dst));
	guard_say(g, "on_http_response: answer from %s (Host '%s') to "
		     "'%.200s' %s",
		  dst, host, g->cur_req ? host + strlen(host) + 1 : "", why);
	guard_answer(guest, code, text);
	g->rst = R_DONE;
	g->done = 1;
	return e;
}

/**
 * ask() - the response hook on the current answer, then what goes to the
 * guest: the head (the server's or the hook's, scrubbed) and, unless it is
 * @streamed, the body, framed by its length
 * @head:     the head as the server sent it, @hl bytes
 * @body:     the whole body, scrubbed (NULL: none)
 * @streamed: 0, or a body over HTTP1_BODY_MAX that follows (its length,
 *            SIZE_MAX if unknown): the head goes with framing @how
 *
 * Return: 1, or a negative errno (refused: our answer is in @guest)
 */
static int ask(struct guard *g, const uint8_t *head, size_t hl,
	       const struct msb_buf *body, size_t streamed, enum frame how,
	       struct msb_buf *guest)
{
	const char *host = g->cur_req ? g->cur_req : "";
	struct msb_buf seen = { 0 }, nb = { 0 };
	struct msb_http_response_action act;
	struct msb_http_response resp;
	const uint8_t *fh, *fb;
	size_t fl, fbl;
	struct http1_resp fr = g->cur;
	char text[256], why[300];
	int v, r = 1;

	memset(&act, 0, sizeof(act));
	/* what the hook sees: the head with CRLF line ends, scrubbed */
	if (put_head(g, head, hl, F_KEEP, 0, &seen) < 0)
		return -ENOMEM;
	resp = (struct msb_http_response){
		.tls = g->tls,
		.host = host,
		.request = g->cur_req ? host + strlen(host) + 1 : "",
		.status = g->cur.status,
		.head = (const char *)bytes_at(&seen),
		.head_len = seen.len,
		.body = body && body->len ? bytes_at(body) : NULL,
		.body_len = body ? body->len : 0,
		.body_streamed = streamed,
	};
	v = g->env->on_http_response(g->env->ctx, &resp, &act);
	act.reason[sizeof(act.reason) - 1] = '\0';
	if (v == MSB_HTTP_BLOCK) {
		snprintf(why, sizeof(why), "blocked: %s", act.reason);
		snprintf(text, sizeof(text), "msb: refused: %s", act.reason);
		r = hook_refuse(g, -EACCES, 403, text, why, guest);
		goto out;
	}
	fh = resp.head ? (const uint8_t *)resp.head : (const uint8_t *)"";
	fl = resp.head_len;
	fb = resp.body;
	fbl = resp.body_len;
	if (v == MSB_HTTP_MODIFY && act.head) {
		int pr;

		fh = (const uint8_t *)act.head;
		fl = act.head_len;
		/* it must frame an answer as the guest will read it */
		pr = fl ? http1_resp_head(fh, fl, g->cur_flags & (P_HEAD |
								  P_CONNECT),
					  &fr) :
			  0;
		if (pr != 1 || fr.head_len != fl || fr.interim ||
		    fr.body == HTTP1_BODY_TUNNEL ||
		    (streamed && fr.body == HTTP1_BODY_NONE)) {
			r = hook_refuse(g, -EPROTO, 502,
					"msb: refused: a hook's answer that is "
					"not HTTP/1.1",
					"refused: the hook's new head is not "
					"a whole HTTP/1.1 answer's head of "
					"its kind",
					guest);
			goto out;
		}
	}
	if (v == MSB_HTTP_MODIFY && act.body) {
		if (streamed) {
			r = hook_refuse(g, -EPROTO, 502,
					"msb: refused: a body over 8 MiB cannot "
					"be replaced",
					"refused: its body is over 8 MiB, "
					"passed as it comes, and cannot be "
					"replaced",
					guest);
			goto out;
		}
		/* (scrubbed like the server's: the guest never gets a
		 * value from anywhere) */
		if (act.body_len &&
		    guard_scrub(g, act.body, act.body_len, 1, &nb) < 0) {
			r = -ENOMEM;
			goto out;
		}
		fb = bytes_at(&nb);
		fbl = nb.len;
	}
	if (streamed) {
		if (put_head(g, fh, fl, how, 0, guest) < 0)
			r = -ENOMEM;
	} else if (fr.body == HTTP1_BODY_NONE) {
		if (fbl) {
			r = hook_refuse(g, -EPROTO, 502,
					"msb: refused: a hook's answer that is "
					"not HTTP/1.1",
					"refused: the hook gave a body to an "
					"answer that has none",
					guest);
			goto out;
		}
		if (put_head(g, fh, fl, F_KEEP, 0, guest) < 0)
			r = -ENOMEM;
	} else if (put_head(g, fh, fl, F_LENGTH, fbl, guest) < 0 ||
		   (fbl && msb_buf_append(guest, fb, fbl) < 0)) {
		r = -ENOMEM;
	}
out:
	msb_buf_free(&seen);
	msb_buf_free(&nb);
	return r;
}

/* observe() - the head observer (guard_env.on_http_response_head) told
 * of the current answer as the server sent it, scrubbed; @len: its
 * body's length, 0 for none, SIZE_MAX when its head does not say.
 * Nothing waits for it. Return: 0, or -ENOMEM */
static int observe(struct guard *g, const uint8_t *head, size_t hl,
		   size_t len)
{
	const char *host = g->cur_req ? g->cur_req : "";
	struct msb_buf seen = { 0 };
	struct msb_http_response resp;

	if (!g->env->on_http_response_head)
		return 0;
	if (put_head(g, head, hl, F_KEEP, 0, &seen) < 0) {
		msb_buf_free(&seen);
		return -ENOMEM;
	}
	resp = (struct msb_http_response){
		.tls = g->tls,
		.host = host,
		.request = g->cur_req ? host + strlen(host) + 1 : "",
		.status = g->cur.status,
		.head = (const char *)bytes_at(&seen),
		.head_len = seen.len,
		.body_streamed = len,
	};
	g->env->on_http_response_head(g->env->ctx, &resp);
	msb_buf_free(&seen);
	return 0;
}

/* cut_short() - a held answer the server closed before its end: the hook
 * never saw it whole, and none of it goes */
static int cut_short(struct guard *g, struct msb_buf *guest)
{
	g->plain.len = 0;
	g->rhead.len = 0;
	return hook_refuse(g, -EPIPE, 502,
			   "msb: refused: an answer cut short",
			   "refused: the server closed before its end, so "
			   "its hook never saw it whole",
			   guest);
}

/* head() - the head at the front of @g->rin. Return: 1 framed (the state
 * moved on), 0 more is needed, or a negative errno (refused) */
static int head(struct guard *g, struct msb_buf *guest)
{
	const uint8_t *p = bytes_at(&g->rin);
	unsigned req = front(g);
	struct http1_resp r;
	char why[128];
	int hooked;
	int rc = http1_resp_head(p, g->rin.len, req & (P_HEAD | P_CONNECT),
				 &r);

	if (rc == 0 && !g->eof)
		return 0;
	if (rc == 0) {
		/* cut short by the close: half a head is no answer (and
		 * might end what the last one began) */
		g->rin.len = 0;
		g->rst = R_DONE;
		return 0;
	}
	if (rc < 0)
		return guard_refuse(g, rc,
			      rc == -E2BIG ? "its head is over 64 KiB" :
					     "malformed or ambiguous framing",
			      guest);
	if (r.coding[0] && (req & P_BOUND) && r.body != HTTP1_BODY_NONE &&
	    r.body != HTTP1_BODY_TUNNEL) {
		snprintf(why, sizeof(why),
			 "it is compressed (Content-Encoding %s) though the "
			 "request asked for identity",
			 r.coding);
		return guard_refuse(g, -EPROTO, why, guest);
	}
	if (r.interim) {
		/* 100 Continue and the like: the final answer follows */
		rc = put_head(g, p, r.head_len, F_KEEP, 0, guest);
		msb_buf_consume(&g->rin, r.head_len);
		return rc < 0 ? rc : 1;
	}
	pop(g);
	g->cur = r;
	g->cur_flags = req;
	if ((req & (P_CONNECT | P_UPGRADE)) && r.body != HTTP1_BODY_NONE) {
		/* The guest's side is no longer framed (guard.c): whatever
		 * the answer, what follows its head is bytes, scrubbed as
		 * one stream; or a WebSocket's frames, each scrubbed. */
		rc = put_head(g, p, r.head_len, F_KEEP, 0, guest);
		g->rst = (req & P_UPGRADE) && r.status == 101 && r.websocket ?
				 R_WS :
				 R_RAW;
		g->ws = g->rst == R_WS;
		g->ws_in = 0;
		msb_buf_consume(&g->rin, r.head_len);
		return rc < 0 ? rc : 1;
	}
	g->raw_after = !!(req & (P_CONNECT | P_UPGRADE));
	if (r.body != HTTP1_BODY_TUNNEL &&
	    observe(g, p, r.head_len,
		    r.body == HTTP1_BODY_NONE ? 0 :
		    r.body == HTTP1_BODY_LENGTH && r.length < SIZE_MAX ?
						(size_t)r.length :
						SIZE_MAX) < 0)
		return -ENOMEM;
	hooked = g->env->on_http_response != NULL;
	if (hooked && (r.body == HTTP1_BODY_CHUNKED ||
		       r.body == HTTP1_BODY_CLOSE)) {
		/* held for the hook until whole (or too long to hold) */
		g->hold = 1;
		g->rhead.len = 0;
		rc = msb_buf_append(&g->rhead, p, r.head_len);
	}
	switch (r.body) {
	case HTTP1_BODY_NONE:
		rc = hooked ? ask(g, p, r.head_len, NULL, 0, F_KEEP, guest) :
			      put_head(g, p, r.head_len, F_KEEP, 0, guest);
		if (rc < 0)
			return rc;
		answered(g);
		break;
	case HTTP1_BODY_TUNNEL:
		rc = put_head(g, p, r.head_len, F_KEEP, 0, guest);
		g->rst = R_RAW;
		break;
	case HTTP1_BODY_LENGTH:
		g->rleft = r.length;
		if (!g->env->vault->n && !hooked) {
			/* nothing to scrub nor to hold it for (framed for
			 * the head's observer alone): as it comes */
			rc = put_head(g, p, r.head_len, F_KEEP, 0, guest);
			g->rst = R_LENGTH;
			break;
		}
		if (r.length <= HTTP1_BODY_MAX) {
			/* its head goes with the body's new length */
			g->rhead.len = 0;
			rc = msb_buf_append(&g->rhead, p, r.head_len);
			g->rst = R_HELD;
			break;
		}
		g->rechunk = r.minor == 1 && !(req & P_HTTP10);
		g->reclose = !g->rechunk;
		if (hooked) {
			rc = ask(g, p, r.head_len, NULL, (size_t)r.length,
				 g->rechunk ? F_CHUNKED : F_CLOSE, guest);
			if (rc < 0)
				return rc;
		} else {
			rc = put_head(g, p, r.head_len,
				      g->rechunk ? F_CHUNKED : F_CLOSE, 0,
				      guest);
		}
		g->rst = R_LENGTH;
		break;
	case HTTP1_BODY_CHUNKED:
		g->rch = (struct http1_chunks){ 0 };
		g->trailer.len = 0;
		g->rechunk = 1;
		if (!hooked)
			rc = put_head(g, p, r.head_len, F_TE, 0, guest);
		g->rst = R_CHUNKED;
		break;
	case HTTP1_BODY_CLOSE:
		if (!hooked)
			rc = put_head(g, p, r.head_len, F_KEEP, 0, guest);
		g->rst = R_CLOSE;
		break;
	}
	msb_buf_consume(&g->rin, r.head_len);
	return rc < 0 ? rc : 1;
}

int guard_take(struct guard *g, struct msb_buf *into)
{
	size_t n = g->rin.len < g->rleft ? g->rin.len : (size_t)g->rleft;

	if (n && msb_buf_append(into, bytes_at(&g->rin), n) < 0)
		return -ENOMEM;
	msb_buf_consume(&g->rin, n);
	g->rleft -= n;
	return 0;
}

/* held() - a body by length, held whole: out with its new length once
 * in (or, cut short by the close, with what came) */
static int held(struct guard *g, struct msb_buf *guest)
{
	struct msb_buf body = { 0 };
	int r;

	if (guard_take(g, &g->plain) < 0)
		return -ENOMEM;
	if (g->rleft && !g->eof)
		return 0;
	if (g->env->on_http_response && g->rleft)
		return cut_short(g, guest);
	if (guard_scrub(g, bytes_at(&g->plain), g->plain.len, 1, &body) < 0)
		r = -ENOMEM;
	else if (g->env->on_http_response)
		r = ask(g, bytes_at(&g->rhead), g->rhead.len, &body, 0, F_KEEP,
			guest);
	else
		r = put_head(g, bytes_at(&g->rhead), g->rhead.len,
			     g->rleft ? F_KEEP : F_LENGTH, body.len, guest);
	if (r == 0 && body.len &&
	    msb_buf_append(guest, bytes_at(&body), body.len) < 0)
		r = -ENOMEM;
	if (r < 0) {
		msb_buf_free(&body);
		return r;
	}
	msb_buf_free(&body);
	g->plain.len = 0;
	g->rhead.len = 0;
	if (g->rleft)
		g->rst = R_DONE;
	else
		answered(g);
	return r < 0 ? r : 1;
}

/* streamed() - a body by length over HTTP1_BODY_MAX, as it comes */
static int streamed(struct guard *g, struct msb_buf *guest)
{
	int end;

	if (guard_take(g, &g->plain) < 0)
		return -ENOMEM;
	end = !g->rleft;
	if (put_body(g, end || g->eof, guest) < 0)
		return -ENOMEM;
	if (!end)
		return g->eof ? (g->rst = R_DONE, 0) : 0;
	if (g->rechunk && msb_buf_append(guest, "0\r\n\r\n", 5) < 0)
		return -ENOMEM;
	if (g->reclose) {
		/* the connection ends here: said in its head */
		g->rst = R_DONE;
		g->done = 1;
		return -ECONNRESET;
	}
	answered(g);
	return 1;
}

/**
 * held_body() - a chunked or until-close body held for the hook
 * @whole:    it is all in @g->plain: the hook sees it, then it goes
 * @streamed: otherwise, SIZE_MAX: the length if it turns out too long
 * @how:      the framing its head then goes with
 *
 * Return: 1 when the hook was asked (the answer's head, and if @whole its
 * body, are in @guest; @g->hold is 0: what follows streams), 0 while it
 * is held, or a negative errno (refused).
 */
static int held_body(struct guard *g, int whole, size_t streamed,
		     enum frame how, struct msb_buf *guest)
{
	struct msb_buf body = { 0 };
	int r;

	if (whole) {
		if (guard_scrub(g, bytes_at(&g->plain), g->plain.len, 1, &body) < 0)
			return -ENOMEM;
		r = ask(g, bytes_at(&g->rhead), g->rhead.len, &body, 0, how,
			guest);
		msb_buf_free(&body);
		g->plain.len = 0;
		g->trailer.len = 0;
	} else if (g->eof && how == F_CHUNKED) {
		return cut_short(g, guest);
	} else if (g->plain.len > HTTP1_BODY_MAX) {
		r = ask(g, bytes_at(&g->rhead), g->rhead.len, NULL, streamed,
			how, guest);
		if (how == F_CLOSE)
			g->reclose = 1;
	} else {
		return 0;
	}
	g->hold = 0;
	g->rhead.len = 0;
	return r;
}

/* chunked() - a chunked body: decoded, scrubbed, chunked again */
static int chunked(struct guard *g, struct msb_buf *guest)
{
	int done;
	long w = http1_chunks_decode(&g->rch, bytes_at(&g->rin),
				     g->rin.len, &g->plain, &g->trailer, &done);

	if (w < 0)
		return guard_refuse(g, (int)w, "its chunked framing is malformed",
			      guest);
	msb_buf_consume(&g->rin, (size_t)w);
	if (g->hold) {
		int r = held_body(g, done, done ? 0 : SIZE_MAX, F_CHUNKED,
				  guest);

		if (r < 0)
			return r;
		if (r == 0)
			return 0;
		if (done) {
			answered(g);
			return 1;
		}
		/* too long to hold: the rest streamed, as without a hook */
	}
	if (put_body(g, done || g->eof, guest) < 0)
		return -ENOMEM;
	if (!done)
		return g->eof ? (g->rst = R_DONE, 0) : 0;
	if (msb_buf_append(guest, "0\r\n", 3) < 0 ||
	    guard_scrub(g, bytes_at(&g->trailer), g->trailer.len, 1, guest) < 0 ||
	    msb_buf_append(guest, "\r\n", 2) < 0)
		return -ENOMEM;
	g->trailer.len = 0;
	answered(g);
	return 1;
}

/* bytes() - until close, or a tunnel: all of it, scrubbed; in a tunnel
 * each read whole, nothing held back. No value goes into a tunnel (the
 * guest's side of it is never rewritten, guard.c), and what it carries
 * is often the guest's own TLS, or a protocol whose server speaks and
 * then waits for the guest (SSH): a tail held because it could begin a
 * value would then never go, and both sides would wait on each other. */
static int bytes(struct guard *g, struct msb_buf *guest)
{
	if (g->rin.len &&
	    msb_buf_append(&g->plain, bytes_at(&g->rin), g->rin.len) < 0)
		return -ENOMEM;
	g->rin.len = 0;
	if (g->hold) {
		int r = held_body(g, g->eof, g->eof ? 0 : SIZE_MAX, F_CLOSE,
				  guest);

		if (r < 0)
			return r;
		if (r == 1 && g->eof) {
			g->rst = R_DONE;
			return 0;
		}
		if (r == 0)
			return 0;
	}
	if (put_body(g, g->eof || g->rst == R_RAW, guest) < 0)
		return -ENOMEM;
	if (g->eof)
		g->rst = R_DONE;
	return 0;
}

int guard_to_guest(void *st, const uint8_t *p, size_t n,
		   struct msb_buf *host, struct msb_buf *guest)
{
	struct guard *g = st;
	int r = 1;

	(void)host;
	/* No value to scrub and no hook to show them to: the answers pass
	 * as they come. */
	if (!g->env->vault->n && !g->env->on_http_response &&
	    !g->env->on_http_response_head)
		return n && msb_buf_append(guest, p, n) < 0 ? -ENOMEM : 0;
	if (g->rst == R_DONE)
		return 0;
	if (n && msb_buf_append(&g->rin, p, n) < 0)
		return -ENOMEM;
	if (!n)
		g->eof = 1;
	while (r > 0 && g->rst != R_DONE) {
		switch (g->rst) {
		case R_HEAD:
			r = g->rin.len ? head(g, guest) : 0;
			if (!g->rin.len && g->eof)
				g->rst = R_DONE;
			break;
		case R_HELD:
			r = held(g, guest);
			break;
		case R_LENGTH:
			r = streamed(g, guest);
			break;
		case R_CHUNKED:
			r = chunked(g, guest);
			break;
		case R_CLOSE:
		case R_RAW:
			r = bytes(g, guest);
			break;
		case R_WS:
			r = guard_resp_ws(g, guest);
			break;
		case R_DONE:
			break;
		}
	}
	return r < 0 ? r : 0;
}
