/* SPDX-License-Identifier: Apache-2.0 */
/* http1.c - framing and rewriting guest HTTP/1.1 requests (RFC 9112) */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1.h"
#include "http1_priv.h"
#include "util.h"

int http1_feed(struct http1 *h, const void *data, size_t n)
{
	return msb_buf_append(&h->in, data, n);
}

void http1_free(struct http1 *h)
{
	msb_buf_free(&h->in);
	msb_buf_free(&h->body);
}

/* find_crlf() - the CR of the first line end in [@p, @end): NULL if there
 * is no LF yet, @end if the first LF has no CR before it (bare LF). */
static const uint8_t *find_crlf(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *lf = memchr(p, '\n', end - p);

	if (!lf)
		return NULL;
	return lf > p && lf[-1] == '\r' ? lf - 1 : end;
}

/* The head: request line, header lines, empty line; each ends in CRLF and
 * holds no other CR or LF. */
static int parse_head(const uint8_t *p, size_t hl, struct http1_req *r,
		      long *clen, int *te)
{
	const uint8_t *end = p + hl, *line = p, *eol;
	int first = 1;

	*clen = -1;
	*te = 0;
	while ((eol = find_crlf(line, end)) && eol != end) {
		size_t n = eol - line;

		if (memchr(line, '\r', n))
			return -EBADMSG;
		if (n == 0)
			return first ? -EBADMSG : 0;
		if (first) {
			/* method SP target SP HTTP/1.x (§3) */
			const uint8_t *sp1 = memchr(line, ' ', n), *sp2;

			if (!sp1 || sp1 == line)
				return -EBADMSG;
			for (const uint8_t *c = line; c < sp1; c++)
				if (!http1_tchar(*c))
					return -EBADMSG;
			sp2 = memchr(sp1 + 1, ' ', eol - sp1 - 1);
			if (!sp2 || sp2 == sp1 + 1 || eol - sp2 != 9 ||
			    memcmp(sp2 + 1, "HTTP/1.", 7) ||
			    (sp2[8] != '0' && sp2[8] != '1'))
				return -EBADMSG;
			first = 0;
		} else {
			const uint8_t *colon = memchr(line, ':', n), *v, *ve;
			size_t nl;

			/* no obs-fold (§5.2), no space before the colon (§5.1) */
			if (!colon || colon == line)
				return -EBADMSG;
			for (const uint8_t *c = line; c < colon; c++)
				if (!http1_tchar(*c))
					return -EBADMSG;
			nl = colon - line;
			v = colon + 1;
			ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			for (const uint8_t *c = v; c < ve; c++)
				if (*c == 0)
					return -EBADMSG;
			if (nl == 14 && !strncasecmp((const char *)line,
						     "content-length", 14)) {
				long v2 = 0;

				if (v == ve || ve - v > 10)
					return -EBADMSG;
				for (const uint8_t *c = v; c < ve; c++) {
					if (*c < '0' || *c > '9')
						return -EBADMSG;
					v2 = v2 * 10 + (*c - '0');
				}
				if (*clen >= 0 && *clen != v2)
					return -EBADMSG;
				*clen = v2;
			} else if (nl == 17 &&
				   !strncasecmp((const char *)line,
						"transfer-encoding", 17)) {
				/* only "chunked", once (§6.1) */
				if (*te || ve - v != 7 ||
				    strncasecmp((const char *)v, "chunked", 7))
					return -EBADMSG;
				*te = 1;
			} else if (nl == 4 &&
				   !strncasecmp((const char *)line, "host", 4)) {
				size_t k = 0;

				if (r->host[0] || v == ve)
					return -EBADMSG; /* one Host (§3.2) */
				/* [IPv6]:port or name:port (RFC 3986 §3.2.2) */
				int br = *v == '[';

				for (const uint8_t *c = v + br;
				     c < ve && *c != (br ? ']' : ':'); c++) {
					if (k == HTTP1_HOST_MAX)
						return -EBADMSG;
					r->host[k++] = *c >= 'A' && *c <= 'Z'
							       ? *c | 0x20
							       : *c;
				}
				r->host[k] = '\0';
				if (!k)
					return -EBADMSG;
			}
		}
		line = eol + 2;
	}
	return -EBADMSG;
}

int http1_size_line(const uint8_t *p, const uint8_t *eol, uint64_t cap,
		    uint64_t *size)
{
	size_t digits = 0;

	*size = 0;
	if (eol - p > HTTP1_SIZE_LINE_MAX)
		return -EBADMSG;
	for (; p + digits < eol; digits++) {
		int v = http1_hexval(p[digits]);

		if (v < 0)
			break;
		if (*size > cap)
			return -EFBIG;
		*size = *size * 16 + (uint64_t)v;
	}
	if (!digits || (p + digits < eol && p[digits] != ';' &&
			p[digits] != ' ' && p[digits] != '\t'))
		return -EBADMSG;
	if (memchr(p, '\r', eol - p))
		return -EBADMSG;
	return 0;
}

/* Decode a chunked body at @p (@n bytes available) into @body.
 * Return: bytes of the message it took, 0 if more are needed, or -errno. */
static long dechunk(const uint8_t *p, size_t n, struct msb_buf *body)
{
	size_t at = 0;

	body->len = 0;
	body->off = 0;
	for (;;) {
		const uint8_t *eol = find_crlf(p + at, p + n);
		uint64_t size;
		int rc;

		if (!eol)
			return HTTP1_SIZE_LINE_TOO_LONG(n - at) ? -EBADMSG : 0;
		if (eol == p + n)
			return -EBADMSG;
		if ((rc = http1_size_line(p + at, eol, HTTP1_BODY_MAX, &size)) < 0)
			return rc;
		at = eol + 2 - p;
		if (size == 0)
			break;
		if (body->len + size > HTTP1_BODY_MAX)
			return -EFBIG;
		if (n - at < size + 2)
			return 0;
		if (p[at + size] != '\r' || p[at + size + 1] != '\n')
			return -EBADMSG;
		if (msb_buf_append(body, p + at, size) < 0)
			return -ENOMEM;
		at += size + 2;
	}
	/* trailer fields, then the empty line (§7.1.2) */
	for (;;) {
		const uint8_t *eol = find_crlf(p + at, p + n);

		if (!eol)
			return n - at > HTTP1_HEAD_MAX ? -E2BIG : 0;
		if (eol == p + n || memchr(p + at, '\r', eol - (p + at)))
			return -EBADMSG;
		if (eol == p + at)
			return eol + 2 - p;
		at = eol + 2 - p;
	}
}

long http1_chunks_walk(struct http1_chunks *c, const uint8_t *p, size_t n,
		       int *done)
{
	size_t at = 0;

	*done = 0;
	while (c->st != CH_DONE) {
		const uint8_t *eol;
		uint64_t size = 0;

		switch (c->st) {
		case CH_SIZE: /* chunk-size [; ext] CRLF, as dechunk() */
			eol = find_crlf(p + at, p + n);
			if (!eol)
				return HTTP1_SIZE_LINE_TOO_LONG(n - at) ?
				       -EBADMSG : (long)at;
			if (eol == p + n ||
			    http1_size_line(p + at, eol, CHUNK_MAX, &size) < 0)
				return -EBADMSG;
			at = eol + 2 - p;
			c->left = size;
			c->st = size ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			if (at == n)
				return (long)at;
			size = n - at < c->left ? n - at : c->left;
			at += size;
			c->left -= size;
			if (!c->left)
				c->st = CH_DATA_END;
			break;
		case CH_DATA_END:
			if (n - at < 2)
				return (long)at;
			if (p[at] != '\r' || p[at + 1] != '\n')
				return -EBADMSG;
			at += 2;
			c->st = CH_SIZE;
			break;
		case CH_TRAILER: /* fields, then the empty line (§7.1.2) */
			eol = find_crlf(p + at, p + n);
			if (!eol)
				return n - at > HTTP1_HEAD_MAX ? -E2BIG : (long)at;
			if (eol == p + n || memchr(p + at, '\r', eol - (p + at)))
				return -EBADMSG;
			if (eol == p + at)
				c->st = CH_DONE;
			at = eol + 2 - p;
			break;
		}
	}
	*done = 1;
	return (long)at;
}

int http1_next(struct http1 *h, struct http1_req *r)
{
	const uint8_t *p = msb_buf_data(&h->in), *e;
	size_t n = h->in.len, hl;
	long clen, took;
	int te, rc;

	memset(r, 0, sizeof(*r));
	e = n >= 4 ? memmem(p, n, "\r\n\r\n", 4) : NULL;
	if (!e)
		return n > HTTP1_HEAD_MAX ? -E2BIG : 0;
	hl = e + 4 - p;
	if (hl > HTTP1_HEAD_MAX)
		return -E2BIG;
	rc = parse_head(p, hl, r, &clen, &te);
	if (rc < 0)
		return rc;
	if (te && clen >= 0)
		return -EBADMSG; /* §6.1: smuggling */
	r->head_len = hl;
	if (te) {
		took = dechunk(p + hl, n - hl, &h->body);
		if (took == -EFBIG) {
			/* Too big to hold: the caller streams it. */
			h->body.off = h->body.len = 0;
			r->chunked = r->stream_chunked = 1;
			r->total = hl;
			return 1;
		}
		if (took <= 0)
			return took;
		r->chunked = 1;
		r->body_len = h->body.len;
		r->total = hl + took;
		return 1;
	}
	if (clen > HTTP1_BODY_MAX) {
		h->body.off = h->body.len = 0;
		r->stream_len = (size_t)clen;
		r->total = hl;
		return 1;
	}
	if (clen < 0)
		clen = 0;
	if (n - hl < (size_t)clen)
		return 0;
	h->body.off = h->body.len = 0;
	if (msb_buf_append(&h->body, p + hl, clen) < 0)
		return -ENOMEM;
	r->body_len = clen;
	r->total = hl + clen;
	return 1;
}

enum where { IN_BODY, IN_LINE, IN_HEADER };

/* struct loc - where in the request the bytes given to put() are */
struct loc {
	unsigned place;       /* HTTP1_IN_* */
	enum where enc;       /* how a value is written there */
	const uint8_t *name;  /* the header's name (HTTP1_IN_AUTH, _HEADER) */
	size_t nlen;
};

/* listed() - whether header @name is one of the comma-separated @list */
static int listed(const char *list, const uint8_t *name, size_t n)
{
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == n && !strncasecmp(p, (const char *)name, n))
			return 1;
		p += l + (c ? 1 : 0);
	}
	return 0;
}

/* allowed() - whether @s's value may go where @loc is */
static int allowed(const struct http1_secret *s, const struct loc *loc)
{
	if (!s->value || !(s->places & loc->place))
		return 0;
	return loc->place != HTTP1_IN_HEADER ||
	       listed(s->headers, loc->name, loc->nlen);
}

static void stray_at(struct http1_stray *st, const struct loc *loc)
{
	if (!st)
		return;
	if ((loc->place == HTTP1_IN_HEADER || loc->place == HTTP1_IN_AUTH) &&
	    !st->header[0]) {
		size_t n = loc->nlen < HTTP1_NAME_MAX ? loc->nlen : HTTP1_NAME_MAX;

		memcpy(st->header, loc->name, n);
		st->header[n] = '\0';
	}
	st->where |= loc->place;
}

/* put_value() - a secret's value as it may appear @where: in the request
 * line, bytes that are not visible ASCII are percent-encoded (RFC 3986
 * §2.1) so the line keeps its three parts; a header cannot carry CR, LF or
 * NUL (RFC 9110 §5.5) and is refused rather than split; an empty value is
 * refused anywhere (it could empty a request-target). */
static long put_value(struct msb_buf *out, const char *v, enum where where)
{
	size_t n = strlen(v);

	if (n == 0)
		return -EINVAL; /* an empty target or Basic credential */
	if (where == IN_LINE) {
		for (size_t i = 0; i < n; i++) {
			unsigned char c = v[i];
			char pct[4];

			if (c > 0x20 && c < 0x7f) {
				if (msb_buf_append(out, &c, 1) < 0)
					return -ENOMEM;
				continue;
			}
			snprintf(pct, sizeof(pct), "%%%02X", c);
			if (msb_buf_append(out, pct, 3) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	if (where == IN_HEADER && strpbrk(v, "\r\n"))
		return -EINVAL;
	return msb_buf_append(out, v, n) < 0 ? -ENOMEM : 0;
}

/* put() - append @p[0..n) with every placeholder replaced where its
 * secret may go (@loc), counting the others into @stray; *@subs (if
 * given) counts the replaced ones.
 * Return: placeholders seen, -ENOMEM, or -EINVAL for a value that cannot
 * go there. */
static long put(struct msb_buf *out, const uint8_t *p, size_t n,
		const struct http1_secret *s, size_t ns, const struct loc *loc,
		struct http1_stray *stray, long *subs)
{
	long found = 0;
	size_t i = 0, from = 0;

	if (n == 0)
		return 0;
	while (i < n) {
		size_t k;

		for (k = 0; k < ns; k++) {
			size_t pl = strlen(s[k].placeholder);

			if (!pl || pl > n - i || memcmp(p + i, s[k].placeholder, pl))
				continue;
			found++;
			if (allowed(&s[k], loc)) {
				long rc;

				if (msb_buf_append(out, p + from, i - from) < 0)
					return -ENOMEM;
				rc = put_value(out, s[k].value, loc->enc);
				if (rc < 0)
					return rc;
				from = i + pl;
				if (subs)
					(*subs)++;
			} else {
				stray_at(stray ? &stray[k] : NULL, loc);
			}
			i += pl;
			break;
		}
		if (k == ns)
			i++;
	}
	if (msb_buf_append(out, p + from, n - from) < 0)
		return -ENOMEM;
	return found;
}

/* An Authorization (or Proxy-Authorization) Basic credential: decoded,
 * replaced, encoded again (RFC 7617); left as it came if nothing in it was
 * replaced. Return: placeholders, -1 if it is not one (the line goes
 * through put()), or -ENOMEM. */
static long put_basic(struct msb_buf *out, const uint8_t *line, size_t n,
		      const struct http1_secret *s, size_t ns,
		      const struct http1_rewrite *rw)
{
	struct http1_stray *stray = rw ? rw->stray : NULL;
	const uint8_t *colon = memchr(line, ':', n), *v, *end = line + n;
	struct msb_buf plain = { 0 }, tmp = { 0 };
	cleanup_free uint8_t *dec = NULL;
	cleanup_free char *enc = NULL;
	struct loc loc = { HTTP1_IN_AUTH, IN_BODY, line, 0 };
	long found, dl, subs = 0;
	size_t el;

	if (!colon)
		return -1;
	loc.nlen = (size_t)(colon - line);
	if (loc.nlen == 19 &&
	    !strncasecmp((const char *)line, "proxy-authorization", 19))
		loc.place = HTTP1_IN_HEADER;
	else if (loc.nlen != 13 ||
		 strncasecmp((const char *)line, "authorization", 13))
		return -1;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	if (end - v < 6 || strncasecmp((const char *)v, "basic ", 6))
		return -1;
	v += 6;
	while (v < end && *v == ' ')
		v++;
	dec = malloc(end - v + 1);
	if (!dec)
		return -ENOMEM;
	dl = msb_b64_decode((const char *)v, end - v, dec);
	if (dl < 0)
		return -1;
	found = put(&plain, dec, dl, s, ns, &loc, stray, &subs);
	if (found < 0)
		return found;
	if (found == 0) {
		msb_buf_free(&plain);
		return -1;
	}
	if (!subs) {
		msb_buf_free(&plain);
		return msb_buf_append(out, line, n) < 0 ? -ENOMEM : found;
	}
	enc = malloc(msb_b64_encoded_len(plain.len) + 1);
	if (!enc)
		found = -ENOMEM;
	el = enc ? msb_b64_encode(msb_buf_data(&plain), plain.len, enc) : 0;
	if (enc && (msb_buf_append(&tmp, line, v - line) < 0 ||
		    msb_buf_append(&tmp, enc, el) < 0 ||
		    msb_buf_append(out, msb_buf_data(&tmp), tmp.len) < 0))
		found = -ENOMEM;
	if (found > 0 && rw && rw->basic)
		rw->basic(rw->ctx, enc, el, (const char *)v, (size_t)(end - v));
	if (enc)
		explicit_bzero(enc, el);
	explicit_bzero(msb_buf_data(&plain), plain.len);
	msb_buf_free(&plain);
	msb_buf_free(&tmp);
	return found;
}

static int is_header(const uint8_t *line, size_t n, const char *name)
{
	size_t l = strlen(name);

	return n > l && line[l] == ':' && !strncasecmp((const char *)line,
						      name, l);
}

/* put_line() - the request line, its target as path and query */
static long put_line(struct msb_buf *out, const uint8_t *line, size_t n,
		     const struct http1_secret *s, size_t ns,
		     struct http1_stray *stray)
{
	/* method SP target SP HTTP/1.x: only the target is rewritten, so
	 * the framing cannot change */
	const uint8_t *t = (const uint8_t *)memchr(line, ' ', n) + 1;
	const uint8_t *te = line + n - 9, *q = memchr(t, '?', te - t);
	struct loc path = { HTTP1_IN_PATH, IN_LINE, NULL, 0 };
	struct loc query = { HTTP1_IN_QUERY, IN_LINE, NULL, 0 };
	long f, g;

	if (!q)
		q = te;
	if (msb_buf_append(out, line, t - line) < 0)
		return -ENOMEM;
	f = put(out, t, q - t, s, ns, &path, stray, NULL);
	if (f < 0)
		return f;
	g = put(out, q, te - q, s, ns, &query, stray, NULL);
	if (g < 0)
		return g;
	if (msb_buf_append(out, te, 9) < 0)
		return -ENOMEM;
	return f + g;
}

static long emit(struct http1 *h, const struct http1_req *r,
		 const struct http1_secret *s, size_t ns,
		 const struct http1_rewrite *rw, struct msb_buf *out)
{
	struct http1_stray *stray = rw ? rw->stray : NULL;
	int identity = rw && rw->identity;
	const uint8_t *p = msb_buf_data(&h->in), *line = p;
	const uint8_t *end = p + r->head_len - 2; /* before the empty line */
	struct msb_buf body = { 0 };
	struct loc bl = { HTTP1_IN_BODY, IN_BODY, NULL, 0 };
	long found = 0, f;
	char num[64];

	f = put(&body, r->body_len ? msb_buf_data(&h->body) : NULL, r->body_len,
		s, ns, &bl, stray, NULL);
	if (f < 0)
		goto fail;
	found += f;
	while (line < end) {
		const uint8_t *eol = memchr(line, '\n', end - line) + 1;
		size_t n = eol - line - 2;

		if (line == p) {
			f = put_line(out, line, n, s, ns, stray);
			if (f < 0 || msb_buf_append(out, "\r\n", 2) < 0)
				goto fail;
			found += f;
			line = eol;
			continue;
		}
		if (is_header(line, n, "content-length") ||
		    is_header(line, n, "transfer-encoding") ||
		    (identity && (is_header(line, n, "accept-encoding") ||
				  is_header(line, n,
					    "sec-websocket-extensions")))) {
			line = eol;
			continue;
		}
		/* Host names where the request goes, which the caller checked:
		 * it is never rewritten. */
		if (is_header(line, n, "host")) {
			if (msb_buf_append(out, line, n + 2) < 0)
				goto nomem;
			line = eol;
			continue;
		}
		f = put_basic(out, line, n, s, ns, rw);
		if (f == -1) {
			/* Only header values are rewritten: names keep their
			 * bytes. */
			const uint8_t *from =
				(const uint8_t *)memchr(line, ':', n) + 1;
			struct loc hl = { HTTP1_IN_HEADER, IN_HEADER, line,
					  (size_t)(from - 1 - line) };

			if (is_header(line, n, "authorization"))
				hl.place = HTTP1_IN_AUTH;
			if (msb_buf_append(out, line, from - line) < 0)
				goto nomem;
			f = put(out, from, n - (from - line), s, ns, &hl, stray,
				NULL);
		}
		if (f < 0 || msb_buf_append(out, "\r\n", 2) < 0)
			goto fail;
		found += f;
		line = eol;
	}
	if (identity &&
	    msb_buf_append(out, "Accept-Encoding: identity\r\n", 27) < 0)
		goto nomem;
	if (r->stream_chunked) {
		snprintf(num, sizeof(num), "Transfer-Encoding: chunked\r\n\r\n");
	} else if (r->chunked) {
		if (body.len)
			snprintf(num, sizeof(num),
				 "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
				 body.len);
		else
			snprintf(num, sizeof(num),
				 "Transfer-Encoding: chunked\r\n\r\n");
	} else if (r->stream_len) {
		snprintf(num, sizeof(num), "Content-Length: %zu\r\n\r\n",
			 r->stream_len);
	} else if (r->body_len || body.len) {
		snprintf(num, sizeof(num), "Content-Length: %zu\r\n\r\n",
			 body.len);
	} else {
		snprintf(num, sizeof(num), "\r\n");
	}
	if (msb_buf_append(out, num, strlen(num)) < 0 ||
	    (body.len && msb_buf_append(out, msb_buf_data(&body), body.len) < 0))
		goto nomem;
	if (r->chunked && !r->stream_chunked &&
	    msb_buf_append(out, body.len ? "\r\n0\r\n\r\n" : "0\r\n\r\n",
			   body.len ? 7 : 5) < 0)
		goto nomem;
	msb_buf_free(&body);
	msb_buf_consume(&h->in, r->total);
	return found;
nomem:
	f = -ENOMEM;
fail:
	msb_buf_free(&body);
	return f;
}

long http1_emit(struct http1 *h, const struct http1_req *r,
		const struct http1_secret *s, size_t ns,
		const struct http1_rewrite *rw, struct msb_buf *out)
{
	return emit(h, r, s, ns, rw, out);
}
