/* SPDX-License-Identifier: Apache-2.0 */
/* guard.c - the secrets filter (see guard.h): frames the guest's requests
 * with http1.c, decides per secret whether its value may go, rewrites or
 * refuses */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "http1.h"

struct guard {
	const struct guard_env *env;
	struct msb_flow_info info;
	int tls;
	int done;   /* refused: everything after is dropped */
	int opaque; /* after CONNECT or Upgrade: no longer HTTP, passed as
		     * it is (never with a value in it) */
	/* a streamed body (http1_req.stream_len, stream_chunked): 1 by its
	 * length (@stream_left bytes still to pass), 2 chunked (@walked
	 * bytes at the front of the stream known to be the body's); whether
	 * a placeholder in it was told already */
	int streaming;
	size_t stream_left, walked;
	struct http1_chunks chunks;
	int stream_told;
	struct http1 h;
};

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

static void dst_text(const struct guard *g, char *buf, size_t n)
{
	const struct sockaddr_storage *d = &g->info.dst;
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (d->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)d;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
		snprintf(buf, n, "%s:%u", ip, port);
	} else if (d->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)d;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		snprintf(buf, n, "[%s]:%u", ip, port);
	} else {
		snprintf(buf, n, "?");
	}
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

static void say(const struct guard *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const struct guard *g, const char *fmt, ...)
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

static void answer(struct msb_buf *reply, int code, const char *why)
{
	char b[512];
	int n = snprintf(b, sizeof(b),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
			 code, code == 403 ? "Forbidden" : "Bad Request",
			 strlen(why) + 1, why);

	if (reply)
		msb_buf_append(reply, b, (size_t)n);
}

/* one() - the request at the front: rewritten to @out, or refused.
 * Return: 0, or a negative errno (the flow is reset). */
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
		say(g, "on_http: request to %s (Host '%s') blocked: %s", dst,
		    req->host, act.reason);
		snprintf(why, sizeof(why), "msb: refused: %s", act.reason);
		answer(reply, 403, why);
		return -EACCES;
	}
	if (v == MSB_HTTP_MODIFY && (req->stream_len || req->stream_chunked)) {
		say(g, "on_http: request to %s (Host '%s') refused: its body "
		       "is over 8 MiB, passed as it comes, and cannot be "
		       "replaced", dst, req->host);
		answer(reply, 403, "msb: refused: a body over 8 MiB cannot be "
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

static int one(struct guard *g, const struct http1_req *framed,
	       struct msb_buf *out, struct msb_buf *reply)
{
	const struct msb_vault *v = g->env->vault;
	struct http1_secret ok[MSB_SECRETS_MAX];
	struct http1_req r = *framed, *req = &r;
	size_t nok = 0;
	char dst[64];
	long f;
	int e;

	dst_text(g, dst, sizeof(dst));
	if (g->env->on_http && (e = hook(g, req, dst, reply)) < 0)
		return e;
	for (size_t i = 0; i < v->n; i++) {
		const struct msb_vault_secret *sec = &v->s[i];
		struct http1_secret s = { sec->placeholder, sec->value };
		const char *why = why_not(g, sec, req->host);

		if (!why) {
			ok[nok++] = s;
			continue;
		}
		f = http1_count(&g->h, req, &s, 1);
		if (f < 0)
			return (int)f;
		if (!f || g->env->mode == GUARD_ALLOW)
			continue;
		say(g, "secret %s: request to %s (Host '%s', server name '%s') "
		       "%s: %s",
		    sec->spec.name, dst, req->host, g->info.sni,
		    g->env->mode == GUARD_BLOCK ?
			    "blocked" :
			    "sent with the placeholder",
		    why);
		if (g->env->mode == GUARD_BLOCK) {
			answer(reply, 403,
			       "msb: refused: a secret's placeholder may only "
			       "go to the secret's hosts");
			return -EACCES;
		}
	}
	f = http1_emit(&g->h, req, ok, nok, 1, out);
	return f < 0 ? (int)f : 0;
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
		dst_text(g, dst, sizeof(dst));
		say(g, "secret %s: request to %s (server name '%s') %s: its "
		       "body is over 8 MiB, passed as it comes and never "
		       "rewritten",
		    sec->spec.name, dst, g->info.sni,
		    g->env->mode == GUARD_BLOCK ? "cut short" :
						  "sent with the placeholder");
		if (g->env->mode == GUARD_BLOCK) {
			answer(reply, 403,
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

/* ends_http() - whether the framed request is the connection's last in
 * HTTP: a CONNECT (a proxy's tunnel) or one asking for an Upgrade
 * (WebSocket). Placeholders after it are never replaced: they leave as the
 * meaningless strings they are, and the server sees no value. */
static int ends_http(const struct http1 *h, const struct http1_req *r)
{
	const char *head = (const char *)msb_buf_data(&h->in);
	size_t n = r->head_len;

	if (n >= 8 && !memcmp(head, "CONNECT ", 8))
		return 1;
	for (size_t i = 0; i + 10 < n; i++)
		if (head[i] == '\n' && !strncasecmp(head + i + 1, "upgrade:", 8))
			return 1;
	return 0;
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
		tunnel = ends_http(&g->h, &req);
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

		dst_text(g, dst, sizeof(dst));
		say(g, "HTTP request to %s refused: %s", dst,
		    r == -E2BIG    ? "its head is over 64 KiB" :
		    r == -EFBIG    ? "its body is over 8 MiB" :
		    r == -EBADMSG  ? "malformed or ambiguous framing" :
				     strerror(-r));
		answer(reply, 400,
		       "msb: refused: a request that could not be read "
		       "safely as HTTP/1.1");
	}
	if (r < 0) {
		g->done = 1;
		return r;
	}
	return 0;
}

/* Responses are not looked into: nothing of a secret is in them that the
 * server did not put there. */
static int to_guest(void *st, const uint8_t *p, size_t n,
		    struct msb_buf *host, struct msb_buf *guest)
{
	(void)st;
	(void)host;
	return msb_buf_append(guest, p, n) < 0 ? -ENOMEM : 0;
}

static void guard_close(void *st)
{
	struct guard *g = st;

	http1_free(&g->h);
	free(g);
}

const struct msb_flow_filter guard_filter = {
	.to_upstream = to_upstream,
	.to_guest = to_guest,
	.close = guard_close,
};
