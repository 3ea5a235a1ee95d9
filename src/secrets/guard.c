/* SPDX-License-Identifier: Apache-2.0 */
/* guard.c - the secrets filter (see guard.h): frames the guest's requests
 * with http1.c, decides per secret whether its value may go and where,
 * rewrites or refuses; the answers are guard_resp.c's */

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "guard_priv.h"

int guard_mode_parse(const char *s, enum guard_mode *out)
{
	if (!strcmp(s, "block"))
		*out = GUARD_BLOCK;
	else if (!strcmp(s, "log"))
		*out = GUARD_LOG;
	else if (!strcmp(s, "allow"))
		*out = GUARD_ALLOW;
	else
		return -EINVAL;
	return 0;
}

void *guard_new(const struct guard_env *env, const struct msb_flow_info *info,
		int tls)
{
	struct guard *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->env = env;
	g->info = *info;
	g->tls = tls;
	return g;
}

/* why_not() - the first condition of guard.h that fails for @sec in a
 * request to @host, or NULL when its value may go. */
static const char *why_not(const struct guard *g,
			   const struct msb_vault_secret *sec, const char *host)
{
	if (!g->tls)
		return "not over intercepted TLS";
	if (!g->info.sni[0])
		return "no TLS server name";
	if (!secret_host_allowed(&sec->spec, g->info.sni))
		return "the server name is not one of the secret's hosts";
	if (!g->info.resolved_sni)
		return "the address was not resolved by the sandbox for the "
		       "server name";
	if (strcmp(host, g->info.sni))
		return "the Host header differs from the server name";
	return NULL;
}

void guard_say(const struct guard *g, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!g->env->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	g->env->log(g->env->ctx, line);
}

void guard_answer(struct msb_buf *reply, int code, const char *why)
{
	char b[512];
	int n = snprintf(b, sizeof(b),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
			 code,
			 code == 403 ? "Forbidden" :
			 code == 502 ? "Bad Gateway" :
				       "Bad Request",
			 strlen(why) + 1, why);

	if (reply)
		msb_buf_append(reply, b, (size_t)n);
}

/* hook() - the plugin's on_http. Return: 0 (@req's body may have been
 * replaced), or -EACCES with the 403 in @reply */
static int hook(struct guard *g, struct http1_req *req, const char *dst,
		struct msb_buf *reply)
{
	struct msb_http_request hr = {
		.tls = g->tls,
		.host = req->host,
		.head = (const char *)msb_buf_data(&g->h.in),
		.head_len = req->head_len,
		.body = req->body_len ? msb_buf_data(&g->h.body) : NULL,
		.body_len = req->body_len,
		.body_streamed = req->stream_chunked ? SIZE_MAX :
						       req->stream_len,
	};
	struct msb_http_action act;
	char why[256];
	int v = g->env->on_http(g->env->ctx, &hr, &act);

	if (v == MSB_HTTP_BLOCK) {
		guard_say(g, "on_http: request to %s (Host '%s') blocked: %s", dst,
		    req->host, act.reason);
		snprintf(why, sizeof(why), "msb: refused: %s", act.reason);
		guard_answer(reply, 403, why);
		return -EACCES;
	}
	if (v == MSB_HTTP_MODIFY && (req->stream_len || req->stream_chunked)) {
		guard_say(g, "on_http: request to %s (Host '%s') refused: its body "
		       "is over 8 MiB, passed as it comes, and cannot be "
		       "replaced", dst, req->host);
		guard_answer(reply, 403, "msb: refused: a body over 8 MiB cannot be "
				   "modified");
		return -EACCES;
	}
	if (v == MSB_HTTP_MODIFY) {
		g->h.body.len = 0;
		if (act.body_len &&
		    msb_buf_append(&g->h.body, act.body, act.body_len) < 0)
			return -ENOMEM;
		req->body_len = act.body_len;
	}
	return 0;
}

/* answer_flags() - what the framed request @r tells of its answer (P_*) */
static unsigned answer_flags(const struct http1 *h, const struct http1_req *r)
{
	const char *head = (const char *)msb_buf_data(&h->in);
	const char *eol = memchr(head, '\r', r->head_len);
	unsigned f = 0;

	if (!strncmp(head, "HEAD ", 5))
		f |= P_HEAD;
	if (!strncmp(head, "CONNECT ", 8))
		f |= P_CONNECT;
	if (eol && eol - head >= 8 && !memcmp(eol - 8, "HTTP/1.0", 8))
		f |= P_HTTP10;
	for (size_t i = 0; i + 10 < r->head_len; i++)
		if (head[i] == '\n' && !strncasecmp(head + i + 1, "upgrade:", 8))
			f |= P_UPGRADE;
	return f;
}

/* stray_text() - where a placeholder was that its value may not go, and
 * the --secret-inject place that would let it */
static void stray_text(const struct http1_stray *st, char *where, size_t wn,
		       char *place, size_t pn)
{
	if (st->where & HTTP1_IN_PATH) {
		snprintf(where, wn, "the path");
		snprintf(place, pn, "path");
	} else if (st->where & HTTP1_IN_QUERY) {
		snprintf(where, wn, "the query");
		snprintf(place, pn, "query");
	} else if (st->where & (HTTP1_IN_HEADER | HTTP1_IN_AUTH)) {
		snprintf(where, wn, "header %s", st->header);
		snprintf(place, pn, "header:%s", st->header);
	} else {
		snprintf(where, wn, "the body");
		snprintf(place, pn, "body");
	}
}

/* one() - the request at the front: each secret's placeholder replaced
 * where the secret may go (every condition of guard.h holds, and the
 * place is one of its places), any other is a violation.
 * Return: 0, or a negative errno (the flow is reset; the guest's answer
 * is in @reply) */
static int one(struct guard *g, const struct http1_req *framed,
	       struct msb_buf *out, struct msb_buf *reply)
{
	const struct msb_vault *v = g->env->vault;
	struct http1_secret s[MSB_SECRETS_MAX];
	struct http1_stray stray[MSB_SECRETS_MAX];
	const char *why[MSB_SECRETS_MAX];
	struct http1_req r = *framed, *req = &r;
	struct http1_rewrite rw = { 0, stray, guard_basic, g };
	size_t mark = out->len, ll = 0;
	char line[1024];
	unsigned expect;
	int bound = 0, e;
	char dst[64];
	long f;

	msb_sockaddr_format(&g->info.dst, dst, sizeof(dst));
	if (g->env->on_http && (e = hook(g, req, dst, reply)) < 0)
		return e;
	for (size_t i = 0; i < v->n; i++) {
		const struct msb_vault_secret *sec = &v->s[i];

		why[i] = why_not(g, sec, req->host);
		s[i] = (struct http1_secret){ sec->placeholder,
					      why[i] ? NULL : sec->value,
					      sec->spec.places,
					      sec->spec.headers };
		bound |= !why[i];
	}
	memset(stray, 0, sizeof(stray));
	expect = answer_flags(&g->h, req) | (bound ? P_BOUND : 0);
	if (g->p_len == PENDING_MAX)
		return -ENOBUFS;
	/* Where a value may go, the answer is asked for uncompressed: it is
	 * scrubbed before the guest reads it (guard_resp.c); and where a
	 * hook reads it. */
	rw.identity = bound || g->env->on_http_response;
	if (g->env->on_http_response || g->env->on_http_response_head) {
		/* the request line as the guest wrote it (placeholders, never
		 * values), for the hooks that see its answer */
		const char *head = (const char *)msb_buf_data(&g->h.in);
		const char *eol = memchr(head, '\r', req->head_len);

		ll = eol ? (size_t)(eol - head) : 0;
		if (ll >= sizeof(line))
			ll = sizeof(line) - 1;
		memcpy(line, head, ll);
	}
	f = http1_emit(&g->h, req, s, v->n, &rw, out);
	if (f < 0)
		return (int)f;
	for (size_t i = 0; i < v->n; i++) {
		const struct msb_vault_secret *sec = &v->s[i];
		char where[128], place[128], because[320];

		if (!stray[i].where || g->env->mode == GUARD_ALLOW)
			continue;
		if (why[i]) {
			snprintf(because, sizeof(because), "%s", why[i]);
		} else {
			stray_text(&stray[i], where, sizeof(where), place,
				   sizeof(place));
			snprintf(because, sizeof(because),
				 "its placeholder is in %s, where its value "
				 "may not go (--secret-inject %s=%s allows it)",
				 where, sec->spec.name, place);
		}
		guard_say(g, "secret %s: request to %s (Host '%s', server name '%s') "
		       "%s: %s",
		    sec->spec.name, dst, req->host, g->info.sni,
		    g->env->mode == GUARD_BLOCK ?
			    "blocked" :
			    "sent with the placeholder",
		    because);
		if (g->env->mode == GUARD_BLOCK) {
			out->len = mark;
			guard_answer(reply, 403,
			       why[i] ? "msb: refused: a secret's placeholder "
					"may only go to the secret's hosts" :
					"msb: refused: a secret's placeholder "
					"where its value may not go");
			return -EACCES;
		}
	}
	return guard_expect(g, expect, req->host, line, ll);
}

/* stream() - the front of a streamed body, passed on as far as it is safe:
 * every placeholder of the vault is looked for in what is there, and the
 * last bytes that could begin one are held until the rest comes. Such a
 * body is never rewritten, so a placeholder in it is a violation wherever
 * it goes. Return: 0, or -EACCES with the 403 in @reply */
static int stream(struct guard *g, struct msb_buf *out, struct msb_buf *reply)
{
	const struct msb_vault *v = g->env->vault;
	const uint8_t *p = msb_buf_data(&g->h.in);
	size_t avail, pass;
	char dst[64];
	int end;

	if (g->streaming == 2) {
		long w = http1_chunks_walk(&g->chunks, p + g->walked,
					   g->h.in.len - g->walked, &end);

		if (w < 0)
			return (int)w;
		avail = g->walked += (size_t)w;
	} else {
		avail = g->h.in.len < g->stream_left ? g->h.in.len :
						       g->stream_left;
		end = avail == g->stream_left;
	}
	pass = end ? avail :
	       avail > MSB_PLACEHOLDER_LEN - 1 ?
		     avail - (MSB_PLACEHOLDER_LEN - 1) :
		     0;
	for (size_t i = 0; i < v->n && !g->stream_told; i++) {
		const struct msb_vault_secret *sec = &v->s[i];

		if (!memmem(p, avail, sec->placeholder, MSB_PLACEHOLDER_LEN))
			continue;
		if (g->env->mode == GUARD_ALLOW)
			break;
		g->stream_told = 1;
		msb_sockaddr_format(&g->info.dst, dst, sizeof(dst));
		guard_say(g, "secret %s: request to %s (server name '%s') %s: its "
		       "body is over 8 MiB, passed as it comes and never "
		       "rewritten",
		    sec->spec.name, dst, g->info.sni,
		    g->env->mode == GUARD_BLOCK ? "cut short" :
						  "sent with the placeholder");
		if (g->env->mode == GUARD_BLOCK) {
			guard_answer(reply, 403,
			       "msb: refused: a secret's placeholder in a body "
			       "over 8 MiB");
			return -EACCES;
		}
	}
	if (pass && msb_buf_append(out, p, pass) < 0)
		return -ENOMEM;
	msb_buf_consume(&g->h.in, pass);
	if (g->streaming == 2)
		g->walked -= pass;
	else
		g->stream_left -= pass;
	if (end) {
		g->streaming = g->stream_told = 0;
		g->walked = g->stream_left = 0;
	}
	return 0;
}

/* ends_http() - whether a request of these P_* flags is the connection's
 * last in HTTP: a CONNECT (a proxy's tunnel) or one asking for an Upgrade
 * (WebSocket). Placeholders after it are never replaced: they leave as
 * the meaningless strings they are, and the server sees no value. */
static int ends_http(unsigned flags)
{
	return !!(flags & (P_CONNECT | P_UPGRADE));
}

static int to_upstream(void *st, const uint8_t *p, size_t n,
		       struct msb_buf *out, struct msb_buf *reply)
{
	struct guard *g = st;
	struct http1_req req;
	int r = 0;

	if (g->done)
		return -ECONNRESET;
	if (g->opaque)
		return msb_buf_append(out, p, n) < 0 ? -ENOMEM : 0;
	if (http1_feed(&g->h, p, n) < 0)
		return -ENOMEM;
	while (!g->opaque) {
		int tunnel;

		if (g->streaming) {
			if ((r = stream(g, out, reply)) < 0 || g->streaming)
				break;
			continue;
		}
		if ((r = http1_next(&g->h, &req)) != 1)
			break;
		tunnel = ends_http(answer_flags(&g->h, &req));
		r = one(g, &req, out, reply);
		if (r < 0)
			break;
		if (req.stream_chunked) {
			g->streaming = 2;
			g->chunks = (struct http1_chunks){ 0 };
			g->walked = 0;
		} else if (req.stream_len) {
			g->streaming = 1;
			g->stream_left = req.stream_len;
		}
		if (tunnel) {
			/* What follows is the tunnel's or the new
			 * protocol's: out as it came. */
			g->opaque = 1;
			if (g->h.in.len &&
			    msb_buf_append(out, msb_buf_data(&g->h.in),
					   g->h.in.len) < 0)
				return -ENOMEM;
			g->h.in.len = 0;
		}
	}
	if (r < 0 && r != -EACCES) {
		char dst[64];

		msb_sockaddr_format(&g->info.dst, dst, sizeof(dst));
		guard_say(g, "HTTP request to %s refused: %s", dst,
		    r == -E2BIG    ? "its head is over 64 KiB" :
		    r == -EFBIG    ? "its body is over 8 MiB" :
		    r == -EBADMSG  ? "malformed or ambiguous framing" :
		    r == -ENOBUFS  ? "256 requests already wait for their "
				     "answers" :
				     strerror(-r));
		guard_answer(reply, 400,
		       "msb: refused: a request that could not be read "
		       "safely as HTTP/1.1");
	}
	if (r < 0) {
		g->done = 1;
		return r;
	}
	return 0;
}

static void guard_close(void *st)
{
	struct guard *g = st;

	http1_free(&g->h);
	guard_resp_free(g);
	free(g);
}

const struct msb_flow_filter guard_filter = {
	.to_upstream = to_upstream,
	.to_guest = guard_to_guest,
	.close = guard_close,
};
