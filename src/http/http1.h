/* SPDX-License-Identifier: Apache-2.0 */
/* http1.h - HTTP/1.1 requests from the guest, framed and rewritten
 *
 * The guest's side of an intercepted (or plain) HTTP/1.1 connection goes
 * through here: bytes are fed as they come (any split), http1_next() says
 * when a whole request is in (pipelined requests follow one another), and
 * http1_emit() writes it out with secret placeholders replaced by their
 * values - in the request line (path, query string), in every header
 * (Authorization: Basic is decoded, replaced and encoded again) and in the
 * body (Content-Length or chunked, RFC 9112 §6-7) - or verbatim, counting
 * the placeholders either way so the caller can tell a violation.
 *
 * Every byte is hostile: the framing is strict where laxness lets two
 * parties disagree on where a request ends (RFC 9112 §6.1, §6.3, §11.2):
 * both Transfer-Encoding and Content-Length, differing Content-Lengths,
 * obsolete line folding, bare CR or LF in the head, codings other than
 * chunked: all refused. A head over HTTP1_HEAD_MAX is refused too. Bodies
 * are held to rewrite their length, up to HTTP1_BODY_MAX; a longer one is
 * streamed, never rewritten.
 */
#ifndef MSB_HTTP_HTTP1_H
#define MSB_HTTP_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define HTTP1_HEAD_MAX (64 * 1024)
#define HTTP1_BODY_MAX (8 * 1024 * 1024)
#define HTTP1_HOST_MAX 255

/* http1_secret - a placeholder the guest holds and the value it stands for */
struct http1_secret {
	const char *placeholder;
	const char *value;
};

/**
 * struct http1_req - the request at the front of the stream
 * @head_len: request line and headers, through the empty line
 * @total:    all of the request's bytes as the guest sent them
 * @host:     the Host header, lowercase, port removed ("" if none)
 * @chunked:  the body came chunked
 * @body:     the decoded body (chunks joined), @body_len bytes, in http1
 * @stream_len: a Content-Length body over HTTP1_BODY_MAX: not held, not
 *            rewritten; @total is the head alone, and the body's bytes
 *            follow it in the stream for the caller to pass on
 * @stream_chunked: likewise for a chunked body over HTTP1_BODY_MAX: its
 *            bytes (framing and all) follow, http1_chunks_walk() tells
 *            where it ends
 */
struct http1_req {
	size_t head_len, total;
	char host[HTTP1_HOST_MAX + 1];
	int chunked;
	size_t body_len;
	size_t stream_len;
	int stream_chunked;
};

/* struct http1_chunks - where a streamed chunked body's walk is; zero it
 * at the body's start */
struct http1_chunks {
	int st;
	uint64_t left; /* of the chunk's data */
};

/**
 * http1_chunks_walk() - follow a streamed chunked body's framing, exactly
 * as the framer reads a held one (RFC 9112 §7.1: sizes, extensions, the
 * CRLF after each chunk, trailer fields, the empty line)
 * @c:    the walk so far
 * @p:    the body's next bytes, from where the last call stopped
 * @n:    how many
 * @done: set to 1 when the body ended (the bytes returned include its last)
 *
 * Return: how many of the bytes the walk went past (a line not yet whole
 * is left for the next call, with more after it), or -EBADMSG for framing
 * the framer would refuse, or -E2BIG for an endless line.
 */
long http1_chunks_walk(struct http1_chunks *c, const uint8_t *p, size_t n,
		       int *done);

/* struct http1 - one connection's guest-to-server stream; zero it to start */
struct http1 {
	struct msb_buf in;
	struct msb_buf body;
};

/* http1_feed() - add guest bytes. Return: 0, or -ENOMEM. */
int http1_feed(struct http1 *h, const void *data, size_t n);

/**
 * http1_next() - frame the request at the front of what was fed
 * @h: the stream
 * @r: filled when a whole request is in
 *
 * Return: 1 with @r filled, 0 if more bytes are needed, -EBADMSG for a
 * malformed or ambiguous request, -E2BIG for a head over HTTP1_HEAD_MAX,
 * (a body over HTTP1_BODY_MAX is not held but streamed:
 * http1_req.stream_len, stream_chunked). After an error the stream is
 * done.
 */
int http1_next(struct http1 *h, struct http1_req *r);

/**
 * http1_emit() - write the framed request out and drop it from the stream
 * @h:     the stream http1_next() framed @r from
 * @r:     as it filled it
 * @s:     the secrets, @ns of them
 * @subst: replace placeholders by values (0: leave the bytes as they are)
 * @out:   appended to
 *
 * A rewritten body is sent with its new Content-Length, or as one chunk if
 * it came chunked (trailers are dropped). Values put in the request line
 * are percent-encoded where not visible ASCII; a value with CR or LF is
 * never put in a header, and an empty value nowhere (-EINVAL: the caller
 * refuses the request).
 * Return: how many placeholders the request held (>= 0), -ENOMEM or
 * -EINVAL. On error, @out may hold part of the request: discard it.
 */
long http1_emit(struct http1 *h, const struct http1_req *r,
		const struct http1_secret *s, size_t ns, int subst,
		struct msb_buf *out);

/**
 * http1_count() - how many of @s's placeholders the framed request @r holds,
 * where http1_emit() looks (request-target, header values, Basic
 * credentials, the decoded body), leaving the stream as it is.
 * Return: the count (>= 0), or -ENOMEM.
 */
long http1_count(struct http1 *h, const struct http1_req *r,
		 const struct http1_secret *s, size_t ns);

void http1_free(struct http1 *h);

#endif
