/* SPDX-License-Identifier: Apache-2.0 */
/* http1.c - framing and rewriting guest HTTP/1.1 requests (RFC 9112) */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1.h"
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

/* tchar of RFC 9110 §5.6.2 */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
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

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
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
				if (!is_tchar(*c))
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
				if (!is_tchar(*c))
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

/* size_line() - the chunk-size line [@p, @eol): hex digits, then nothing,
 * or an extension after ';' or whitespace, and no CR (§7.1). Return: 0
 * with *@size, -EFBIG for a size over @cap, -EBADMSG. */
static int size_line(const uint8_t *p, const uint8_t *eol, uint64_t cap,
		     uint64_t *size)
{
	size_t digits = 0;

	*size = 0;
	for (; p + digits < eol; digits++) {
		int v = hexval(p[digits]);

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
			return n - at > 1024 ? -EBADMSG : 0;
		if (eol == p + n)
			return -EBADMSG;
		if ((rc = size_line(p + at, eol, HTTP1_BODY_MAX, &size)) < 0)
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

enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_DONE };

/* A chunk bigger than this is no upload's: refused (and the size cannot
 * overflow while it is read). */
#define CHUNK_MAX (1ull << 40)

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
				return n - at > 1024 ? -EBADMSG : (long)at;
			if (eol == p + n ||
			    size_line(p + at, eol, CHUNK_MAX, &size) < 0)
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

/* put() - append @p[0..n) with every placeholder replaced (if @subst);
 * Return: placeholders seen, -ENOMEM, or -EINVAL for a value that cannot
 * go @where. */
static long put(struct msb_buf *out, const uint8_t *p, size_t n,
		const struct http1_secret *s, size_t ns, int subst,
		enum where where)
{
	long found = 0;
	size_t i = 0, from = 0;

	if (n == 0)
		return 0;
	while (i < n) {
		size_t k;

		for (k = 0; k < ns; k++) {
			size_t pl = strlen(s[k].placeholder);

			if (pl && pl <= n - i &&
			    !memcmp(p + i, s[k].placeholder, pl)) {
				found++;
				if (subst) {
					long rc;

					if (msb_buf_append(out, p + from,
							   i - from) < 0)
						return -ENOMEM;
					rc = put_value(out, s[k].value, where);
					if (rc < 0)
						return rc;
					from = i + pl;
				}
				i += pl;
				break;
			}
		}
		if (k == ns)
			i++;
	}
	if (!subst)
		from = 0;
	if (msb_buf_append(out, p + from, n - from) < 0)
		return -ENOMEM;
	return found;
}

/* An Authorization (or Proxy-Authorization) Basic credential: decoded,
 * replaced, encoded again (RFC 7617). Return: placeholders, -1 if it is not
 * one (the line goes through put()), or -ENOMEM. */
static long put_basic(struct msb_buf *out, const uint8_t *line, size_t n,
		      const struct http1_secret *s, size_t ns, int subst)
{
	const uint8_t *colon = memchr(line, ':', n), *v, *end = line + n;
	struct msb_buf plain = { 0 }, tmp = { 0 };
	cleanup_free uint8_t *dec = NULL;
	cleanup_free char *enc = NULL;
	long found, dl;

	if (!colon)
		return -1;
	if (!((colon - line == 13 &&
	       !strncasecmp((const char *)line, "authorization", 13)) ||
	      (colon - line == 19 &&
	       !strncasecmp((const char *)line, "proxy-authorization", 19))))
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
	found = put(&plain, dec, dl, s, ns, subst, IN_BODY);
	if (found < 0)
		return found;
	if (found == 0) {
		msb_buf_free(&plain);
		return -1;
	}
	if (!subst) {
		msb_buf_free(&plain);
		return msb_buf_append(out, line, n) < 0 ? -ENOMEM : found;
	}
	enc = malloc(msb_b64_encoded_len(plain.len) + 1);
	if (!enc ||
	    msb_buf_append(&tmp, line, v - line) < 0 ||
	    msb_buf_append(&tmp, enc,
			   msb_b64_encode(msb_buf_data(&plain), plain.len,
					  enc)) < 0 ||
	    msb_buf_append(out, msb_buf_data(&tmp), tmp.len) < 0)
		found = -ENOMEM;
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

static long emit(struct http1 *h, const struct http1_req *r,
		 const struct http1_secret *s, size_t ns, int subst,
		 struct msb_buf *out, int consume)
{
	const uint8_t *p = msb_buf_data(&h->in), *line = p;
	const uint8_t *end = p + r->head_len - 2; /* before the empty line */
	struct msb_buf body = { 0 };
	long found = 0, f;
	char num[64];

	f = put(&body, r->body_len ? msb_buf_data(&h->body) : NULL, r->body_len,
		s, ns, subst,
		IN_BODY);
	if (f < 0)
		goto fail;
	found += f;
	while (line < end) {
		const uint8_t *eol = memchr(line, '\n', end - line) + 1;
		size_t n = eol - line - 2;

		if (line != p && (is_header(line, n, "content-length") ||
				  is_header(line, n, "transfer-encoding"))) {
			line = eol;
			continue;
		}
		/* Host names where the request goes, which the caller checked:
		 * it is never rewritten. */
		if (line != p && is_header(line, n, "host")) {
			if (msb_buf_append(out, line, n + 2) < 0)
				goto nomem;
			line = eol;
			continue;
		}
		f = put_basic(out, line, n, s, ns, subst);
		if (f == -1) {
			/* Only the request-target and header values are
			 * rewritten: the method, the version and header names
			 * keep their bytes, so the framing cannot change. */
			const uint8_t *from = line == p
				? (const uint8_t *)memchr(line, ' ', n) + 1
				: (const uint8_t *)memchr(line, ':', n) + 1;
			size_t tail = line == p ? 9 : 0;

			if (msb_buf_append(out, line, from - line) < 0)
				goto nomem;
			f = put(out, from, n - (from - line) - tail, s, ns,
				subst, line == p ? IN_LINE : IN_HEADER);
			if (f >= 0 && tail &&
			    msb_buf_append(out, line + n - tail, tail) < 0)
				goto nomem;
		}
		if (f < 0 || msb_buf_append(out, "\r\n", 2) < 0)
			goto fail;
		found += f;
		line = eol;
	}
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
	if (consume)
		msb_buf_consume(&h->in, r->total);
	return found;
nomem:
	f = -ENOMEM;
fail:
	msb_buf_free(&body);
	return f;
}

long http1_emit(struct http1 *h, const struct http1_req *r,
		const struct http1_secret *s, size_t ns, int subst,
		struct msb_buf *out)
{
	return emit(h, r, s, ns, subst, out, 1);
}

long http1_count(struct http1 *h, const struct http1_req *r,
		 const struct http1_secret *s, size_t ns)
{
	struct msb_buf scratch = { 0 };
	long f = emit(h, r, s, ns, 0, &scratch, 0);

	msb_buf_free(&scratch);
	return f;
}
