/* SPDX-License-Identifier: Apache-2.0 */
/* http1.h - HTTP/1.1 requests from the guest, framed and rewritten
 *
 * The guest's side of an intercepted (or plain) HTTP/1.1 connection goes
 * through here: bytes are fed as they come (any split), http1_next() says
 * when a whole request is in (pipelined requests follow one another), and
 * http1_emit() writes it out with secret placeholders replaced by their
 * values where each secret's places allow - the Authorization header
 * (Basic credentials are decoded, replaced and encoded again), headers it
 * names, the path, the query string, the body (Content-Length or chunked,
 * RFC 9112 §6-7) - and left as they are everywhere else, telling the
 * caller where each secret's placeholder was that its value may not go.
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

/* Places in a request (the bits of http1_secret.places and
 * http1_stray.where; spec.h's SECRET_IN_* have the same values). */
enum http1_place {
	HTTP1_IN_AUTH = 1 << 0,   /* Authorization, Basic credentials too */
	HTTP1_IN_HEADER = 1 << 1, /* a header of http1_secret.headers; as a
				   * stray: any header but Authorization */
	HTTP1_IN_PATH = 1 << 2,   /* the request-target before any '?' */
	HTTP1_IN_QUERY = 1 << 3,  /* the request-target from the '?' on */
	HTTP1_IN_BODY = 1 << 4,   /* the body */
	HTTP1_IN_ALL = 0x1f,
};

#define HTTP1_NAME_MAX 64

/**
 * struct http1_secret - a placeholder the guest holds and its value
 * @placeholder: what the guest sends
 * @value:       what it stands for; NULL: never put anywhere
 * @places:      HTTP1_IN_*: where @value may go
 * @headers:     the headers of HTTP1_IN_HEADER: lowercase names,
 *               comma-separated ("x-api-key,x-goog-api-key")
 */
struct http1_secret {
	const char *placeholder;
	const char *value;
	unsigned places;
	const char *headers;
};

/**
 * struct http1_stray - where a secret's placeholder was that its value may
 * not go (it was left as it is there)
 * @where:  HTTP1_IN_* bits
 * @header: the first such header's name, as the guest wrote it (cut at
 *          HTTP1_NAME_MAX bytes); "" if none
 */
struct http1_stray {
	unsigned where;
	char header[HTTP1_NAME_MAX + 1];
};

/**
 * struct http1_rewrite - what a caller of http1_emit() asks and is told
 * @identity: replace the guest's Accept-Encoding by "Accept-Encoding:
 *            identity" (RFC 9110 §12.5.3) and drop the WebSocket
 *            extensions it offers (RFC 6455 §9.1: permessage-deflate), so
 *            the answer and the frames after it come uncompressed, where
 *            a value can be found
 * @stray:    NULL, or one per secret, zeroed: where each secret's
 *            placeholder was that its places do not allow
 * @basic:    NULL, or told each Basic credential a value was put in: the
 *            base64 that goes (@sent) and the one the guest wrote (@orig)
 * @ctx:      for @basic
 */
struct http1_rewrite {
	int identity;
	struct http1_stray *stray;
	void (*basic)(void *ctx, const char *sent, size_t sl, const char *orig,
		      size_t ol);
	void *ctx;
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
	uint64_t left;   /* of the chunk's data */
	size_t trailer;  /* bytes of trailer so far (decode) */
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
 * @rw:    NULL, or what the caller asks and is told (above)
 * @out:   appended to
 *
 * Placeholders are looked for in the request-target, header values (not
 * Host, Content-Length or Transfer-Encoding, which are never rewritten),
 * the Basic credentials of Authorization and Proxy-Authorization, and the
 * decoded body. Each is replaced by its value where the secret's places
 * allow, and left as it is elsewhere. A rewritten body is sent with its
 * new Content-Length, or as one chunk if it came chunked (trailers are
 * dropped). Values put in the request line are percent-encoded where not
 * visible ASCII; a value with CR or LF is never put in a header, and an
 * empty value nowhere (-EINVAL: the caller refuses the request).
 * Return: how many placeholders the request held (>= 0), -ENOMEM or
 * -EINVAL. On error, @out may hold part of the request: discard it.
 */
long http1_emit(struct http1 *h, const struct http1_req *r,
		const struct http1_secret *s, size_t ns,
		const struct http1_rewrite *rw, struct msb_buf *out);

void http1_free(struct http1 *h);

/* ---- responses: the server's side (http1_resp.c) -------------------------
 *
 * A response is framed as RFC 9112 §6.3 says a client reads it, so that
 * whatever sits between the server and the guest can rewrite a body and
 * say its new length: the head first (held whole, at most HTTP1_HEAD_MAX),
 * then a body by its length, chunked, until the connection closes, or none
 * at all (an answer to HEAD, 1xx, 204, 304; a 2xx to CONNECT and a 101
 * open a tunnel instead). What an honest server sends is taken (a bare LF
 * for a line end, §2.2); what two readers could frame differently is
 * refused (differing Content-Lengths, Transfer-Encoding in HTTP/1.0, a
 * chunked coding that is not the last or comes twice, obsolete line
 * folding, a header without a name or with a space before its colon).
 */

enum http1_body {
	HTTP1_BODY_NONE,    /* the head is all */
	HTTP1_BODY_LENGTH,  /* http1_resp.length bytes */
	HTTP1_BODY_CHUNKED, /* chunks (http1_chunks_decode()) */
	HTTP1_BODY_CLOSE,   /* until the server closes */
	HTTP1_BODY_TUNNEL,  /* no longer HTTP: bytes both ways */
};

/* What the request a response answers tells of its framing */
#define HTTP1_REQ_HEAD 1    /* HEAD: no body, whatever the head says */
#define HTTP1_REQ_CONNECT 2 /* CONNECT: a 2xx opens a tunnel */

/**
 * struct http1_resp - the head of the response at the front of the stream
 * @head_len: the status line through the empty line
 * @status:   its code, 100 to 999
 * @minor:    the version: HTTP/1.@minor (0 or 1)
 * @body:     how its body is framed
 * @length:   for HTTP1_BODY_LENGTH
 * @interim:  a 1xx other than 101: the final answer to the same request
 *            follows it
 * @coding:   the first content or transfer coding that is not identity or
 *            chunked ("gzip"), cut at 31 bytes; "" if none: a body that is
 *            not in the clear
 * @websocket: an Upgrade field names websocket (RFC 6455 §4.1, any case,
 *            among others in a list): with a 101, what follows is frames
 */
struct http1_resp {
	size_t head_len;
	int status;
	int minor;
	enum http1_body body;
	uint64_t length;
	int interim;
	char coding[32];
	int websocket;
};

/**
 * http1_resp_head() - frame the response head at @p
 * @p:   the server's bytes from the start of a response
 * @n:   how many
 * @req: HTTP1_REQ_* of the request it answers
 * @r:   filled when the whole head is in
 *
 * Return: 1 with @r filled, 0 if more bytes are needed, -EBADMSG for a
 * head that is malformed or ambiguous, -E2BIG for one over HTTP1_HEAD_MAX.
 */
int http1_resp_head(const uint8_t *p, size_t n, unsigned req,
		    struct http1_resp *r);

/**
 * http1_resp_field() - the next line of a framed head, for a caller that
 * writes the head out again
 * @p:        the head
 * @head_len: its length (http1_resp.head_len)
 * @at:       where the last call stopped: 0 at first (the status line
 *            comes first), then as it sets it
 * @line:     set to the line, without its line end (@len bytes)
 * @name:     set to the length of the field's name (0 for the status line)
 *
 * Return: 1 with a line, 0 at the empty line that ends the head.
 */
int http1_resp_field(const uint8_t *p, size_t head_len, size_t *at,
		     const uint8_t **line, size_t *len, size_t *name);

/**
 * http1_chunks_decode() - a chunked response body, as far as it came
 * @c:       the decoding so far; zero it at the body's start
 * @p:       the body's next bytes
 * @n:       how many
 * @data:    the chunks' data appended to it
 * @trailer: the trailer's field lines appended to it, each with CRLF
 * @done:    set to 1 at the body's end (the bytes taken include its last)
 *
 * Like http1_chunks_walk(), with a bare LF taken for a line end.
 * Return: how many of the bytes were taken (a line not yet whole is left
 * for the next call), -EBADMSG for bad framing, -E2BIG for an endless
 * line or trailer, -ENOMEM.
 */
long http1_chunks_decode(struct http1_chunks *c, const uint8_t *p, size_t n,
			 struct msb_buf *data, struct msb_buf *trailer,
			 int *done);

#endif
