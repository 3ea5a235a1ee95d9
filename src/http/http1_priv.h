/* SPDX-License-Identifier: Apache-2.0 */
/* http1_priv.h - what the request (http1.c) and response (http1_resp.c)
 * sides of the HTTP/1.1 module share */
#ifndef MSB_HTTP_HTTP1_PRIV_H
#define MSB_HTTP_HTTP1_PRIV_H

#include <stdint.h>
#include <string.h>

/* The states of struct http1_chunks */
enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_DONE };

/* A chunk bigger than this is no message's: refused (and the size cannot
 * overflow while it is read). */
#define CHUNK_MAX (1ull << 40)

/* tchar of RFC 9110 §5.6.2 */
static inline int http1_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static inline int http1_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The longest chunk-size line taken, extensions included, without its
 * line end. One not whole yet is refused once more than this and a CR
 * came, so that a line is taken or refused alike whether it arrives in
 * one read or in several. */
#define HTTP1_SIZE_LINE_MAX 1024
#define HTTP1_SIZE_LINE_TOO_LONG(partial) ((partial) > HTTP1_SIZE_LINE_MAX + 1)

/**
 * http1_size_line() - the chunk-size line [@p, @eol): hex digits, then
 * nothing, or an extension after ';' or whitespace, and no CR (RFC 9112
 * §7.1), at most HTTP1_SIZE_LINE_MAX bytes
 * Return: 0 with *@size, -EFBIG for a size over @cap, -EBADMSG.
 */
int http1_size_line(const uint8_t *p, const uint8_t *eol, uint64_t cap,
		    uint64_t *size);

#endif
