/* SPDX-License-Identifier: Apache-2.0 */
/* http1_resp.c - framing HTTP/1.1 responses as a client reads them
 * (RFC 9112 §4-7; see http1.h) */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http1.h"
#include "http1_priv.h"

/* next_line() - the line at @p: its end (the CR of a CRLF, or the bare
 * LF) in *@eol, and where the next one starts. Return: that, or NULL if
 * no LF came yet. */
static const uint8_t *next_line(const uint8_t *p, const uint8_t *end,
				const uint8_t **eol)
{
	const uint8_t *lf = memchr(p, '\n', end - p);

	if (!lf)
		return NULL;
	*eol = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
	return lf + 1;
}

int http1_resp_field(const uint8_t *p, size_t head_len, size_t *at,
		     const uint8_t **line, size_t *len, size_t *name)
{
	const uint8_t *eol, *next, *colon;

	next = *at < head_len ? next_line(p + *at, p + head_len, &eol) : NULL;
	if (!next)
		return 0;
	*line = p + *at;
	*len = (size_t)(eol - *line);
	if (!*len)
		return 0;
	colon = *at ? memchr(*line, ':', *len) : NULL;
	*name = colon ? (size_t)(colon - *line) : 0;
	*at = (size_t)(next - p);
	return 1;
}

/* element() - the next comma-separated element of a field value
 * [@v, @end), without its whitespace: in @e (@el bytes). Return: where the
 * one after it starts, or NULL at the end. */
static const uint8_t *element(const uint8_t *v, const uint8_t *end,
			      const uint8_t **e, size_t *el)
{
	const uint8_t *c;

	if (v >= end)
		return NULL;
	c = memchr(v, ',', end - v);
	if (!c)
		c = end;
	while (v < c && (*v == ' ' || *v == '\t'))
		v++;
	*e = v;
	*el = (size_t)(c - v);
	while (*el && (v[*el - 1] == ' ' || v[*el - 1] == '\t'))
		(*el)--;
	return c + 1;
}

static int is(const uint8_t *p, size_t n, const char *w)
{
	return n == strlen(w) && !strncasecmp((const char *)p, w, n);
}

static void note_coding(struct http1_resp *r, const uint8_t *c, size_t n)
{
	if (!r->coding[0])
		snprintf(r->coding, sizeof(r->coding), "%.*s",
			 (int)(n < sizeof(r->coding) - 1 ? n :
							   sizeof(r->coding) - 1),
			 (const char *)c);
}

/* status_line() - HTTP/1.x SP 3DIGIT [SP reason] (§4) */
static int status_line(const uint8_t *l, size_t n, struct http1_resp *r)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) || (l[7] != '0' && l[7] != '1') ||
	    l[8] != ' ')
		return -EBADMSG;
	for (size_t i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return -EBADMSG;
	if (l[9] == '0' || (n > 12 && l[12] != ' '))
		return -EBADMSG;
	r->minor = l[7] - '0';
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	return 0;
}

int http1_resp_head(const uint8_t *p, size_t n, unsigned req,
		    struct http1_resp *r)
{
	const uint8_t *end = p + (n > HTTP1_HEAD_MAX ? HTTP1_HEAD_MAX : n);
	const uint8_t *line = p, *eol, *next;
	int64_t clen = -1;
	int te = 0, chunked_last = 0, first = 1;

	memset(r, 0, sizeof(*r));
	for (;; line = next) {
		const uint8_t *colon, *v, *ve, *e;
		size_t nl, el;

		next = next_line(line, end, &eol);
		if (!next)
			return n > HTTP1_HEAD_MAX ? -E2BIG : 0;
		if (memchr(line, '\r', eol - line) || memchr(line, 0, eol - line))
			return -EBADMSG;
		if (first) {
			if (status_line(line, eol - line, r) < 0)
				return -EBADMSG;
			first = 0;
			continue;
		}
		if (eol == line)
			break;
		/* no obs-fold (§5.2), no space before the colon (§5.1) */
		colon = memchr(line, ':', eol - line);
		if (!colon || colon == line)
			return -EBADMSG;
		for (const uint8_t *c = line; c < colon; c++)
			if (!http1_tchar(*c))
				return -EBADMSG;
		nl = (size_t)(colon - line);
		v = colon + 1;
		ve = eol;
		if (is(line, nl, "content-length")) {
			int64_t x = 0;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (v == ve || ve - v > 18)
				return -EBADMSG;
			for (; v < ve; v++) {
				if (*v < '0' || *v > '9')
					return -EBADMSG;
				x = x * 10 + (*v - '0');
			}
			if (clen >= 0 && clen != x)
				return -EBADMSG;
			clen = x;
		} else if (is(line, nl, "transfer-encoding")) {
			/* codings in order; chunked only last, once (§6.1) */
			while ((v = element(v, ve, &e, &el))) {
				if (!el)
					continue;
				if (chunked_last)
					return -EBADMSG;
				if (is(e, el, "chunked"))
					chunked_last = 1;
				else
					note_coding(r, e, el);
				te = 1;
			}
		} else if (is(line, nl, "content-encoding")) {
			while ((v = element(v, ve, &e, &el)))
				if (el && !is(e, el, "identity"))
					note_coding(r, e, el);
		} else if (is(line, nl, "upgrade")) {
			while ((v = element(v, ve, &e, &el)))
				if (is(e, el, "websocket"))
					r->websocket = 1;
		}
	}
	r->head_len = (size_t)(next - p);
	if (te && r->minor == 0)
		return -EBADMSG; /* §6.1: faulty framing */
	/* §6.3, in its order */
	if (r->status < 200 || r->status == 204 || r->status == 304 ||
	    (req & HTTP1_REQ_HEAD)) {
		r->body = r->status == 101 ? HTTP1_BODY_TUNNEL : HTTP1_BODY_NONE;
		r->interim = r->status < 200 && r->status != 101;
	} else if ((req & HTTP1_REQ_CONNECT) && r->status < 300) {
		r->body = HTTP1_BODY_TUNNEL;
	} else if (te) {
		r->body = chunked_last ? HTTP1_BODY_CHUNKED : HTTP1_BODY_CLOSE;
	} else if (clen >= 0) {
		r->body = clen ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
		r->length = (uint64_t)clen;
	} else {
		r->body = HTTP1_BODY_CLOSE;
	}
	return 1;
}

long http1_chunks_decode(struct http1_chunks *c, const uint8_t *p, size_t n,
			 struct msb_buf *data, struct msb_buf *trailer,
			 int *done)
{
	const uint8_t *end = p + n;
	size_t at = 0;

	*done = 0;
	while (c->st != CH_DONE) {
		const uint8_t *eol, *next;
		uint64_t size = 0;

		switch (c->st) {
		case CH_SIZE: /* chunk-size [; ext] line end (§7.1) */
			next = next_line(p + at, end, &eol);
			if (!next)
				return HTTP1_SIZE_LINE_TOO_LONG(n - at) ?
				       -EBADMSG : (long)at;
			if (http1_size_line(p + at, eol, CHUNK_MAX, &size) < 0)
				return -EBADMSG;
			at = (size_t)(next - p);
			c->left = size;
			c->st = size ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			if (at == n)
				return (long)at;
			size = n - at < c->left ? n - at : c->left;
			if (msb_buf_append(data, p + at, (size_t)size) < 0)
				return -ENOMEM;
			at += (size_t)size;
			c->left -= size;
			if (!c->left)
				c->st = CH_DATA_END;
			break;
		case CH_DATA_END: /* CRLF, or a bare LF */
			if (at == n || (p[at] == '\r' && n - at < 2))
				return (long)at;
			if (p[at] == '\n')
				at += 1;
			else if (p[at] == '\r' && p[at + 1] == '\n')
				at += 2;
			else
				return -EBADMSG;
			c->st = CH_SIZE;
			break;
		case CH_TRAILER: /* fields, then the empty line (§7.1.2) */
			next = next_line(p + at, end, &eol);
			if (!next)
				return n - at > HTTP1_HEAD_MAX ? -E2BIG : (long)at;
			if (memchr(p + at, '\r', eol - (p + at)))
				return -EBADMSG;
			if (eol == p + at) {
				c->st = CH_DONE;
			} else {
				c->trailer += (size_t)(next - (p + at));
				if (c->trailer > HTTP1_HEAD_MAX)
					return -E2BIG;
				if (msb_buf_append(trailer, p + at,
						   eol - (p + at)) < 0 ||
				    msb_buf_append(trailer, "\r\n", 2) < 0)
					return -ENOMEM;
			}
			at = (size_t)(next - p);
			break;
		}
	}
	*done = 1;
	return (long)at;
}
