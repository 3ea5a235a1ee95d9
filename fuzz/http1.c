/* SPDX-License-Identifier: Apache-2.0 */
/* http1.c - libFuzzer target: guest bytes into the HTTP/1.1 request framer
 * and rewriter (src/http/http1.c)
 *
 * The first byte picks how the input is split into reads and whether
 * placeholders are replaced (where each one's places allow; the answer
 * then asked for uncompressed). Whatever the rewriter emits for a request must
 * frame again as exactly one request with the same body (a streamed body,
 * over the limit, as a head declaring the same length): what the server
 * reads is what was checked. A chunked body the framer took whole must be
 * walked to the same end when streamed (http1_chunks_walk()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

/* every place, one header named, no place at all */
static const struct http1_secret SEC[] = {
	{ "msb_placeholder_a", "VALUE-1", HTTP1_IN_ALL, "x-a,x-b" },
	{ "PH", "a b%\x01", HTTP1_IN_AUTH | HTTP1_IN_HEADER, "x-key" },
	{ "dXNl", "a much longer value than its placeholder", HTTP1_IN_ALL,
	  "" },
};
static const struct http1_secret NONE[] = {
	{ "msb_placeholder_a", "VALUE-1", 0, "" },
	{ "PH", "a b%\x01", 0, "" },
	{ "dXNl", "a much longer value than its placeholder", 0, "" },
};

static void check_one(const uint8_t *p, size_t n, size_t body_len,
		      size_t stream_len, int stream_chunked, int subst)
{
	struct http1 h = { 0 };
	struct http1_req r;

	/* A streamed body is not emitted: the head must say its length, or
	 * be chunked (then an empty body ends it). */
	http1_feed(&h, p, n);
	if (stream_chunked) {
		http1_feed(&h, "0\r\n\r\n", 5);
		n += 5;
	}
	if (http1_next(&h, &r) != 1 || r.total != n ||
	    r.stream_len != stream_len ||
	    (!subst && r.body_len != body_len))
		abort();
	http1_free(&h);
}

/* check_walk() - a chunked body the framer took whole (@n bytes) is walked
 * to its exact end when streamed, in pieces of @step */
static void check_walk(const uint8_t *p, size_t n, size_t step)
{
	struct http1_chunks c = { 0 };
	size_t walked = 0, have = 0;
	int done = 0;

	while (!done && have < n) {
		long w;

		have = have + step > n ? n : have + step;
		w = http1_chunks_walk(&c, p + walked, have - walked, &done);
		if (w < 0)
			abort();
		walked += (size_t)w;
	}
	if (!done || walked != n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1 h = { 0 };
	struct http1_req r;
	size_t step, at;
	int subst, rc = 0;

	if (size < 1)
		return 0;
	step = (data[0] & 0x7f) + 1;
	subst = data[0] >> 7;
	data++;
	size--;
	for (at = 0; at < size && rc >= 0; at += step) {
		size_t n = size - at < step ? size - at : step;

		if (http1_feed(&h, data + at, n) < 0)
			break;
		while ((rc = http1_next(&h, &r)) == 1) {
			struct msb_buf out = { 0 };
			size_t body_len = r.body_len;

			if (r.chunked && !r.stream_chunked)
				check_walk(msb_buf_data(&h.in) + r.head_len,
					   r.total - r.head_len, step);
			struct http1_stray stray[3] = { 0 };
			struct http1_rewrite rw = { subst, stray, NULL, NULL };

			if (http1_emit(&h, &r, subst ? SEC : NONE, 3, &rw,
				       &out) < 0)
				abort();
			for (size_t k = 0; k < 3; k++)
				if (stray[k].where & ~(unsigned)HTTP1_IN_ALL)
					abort();
			check_one(msb_buf_data(&out), out.len, body_len,
				  r.stream_len, r.stream_chunked, subst);
			msb_buf_free(&out);
		}
	}
	http1_free(&h);
	return 0;
}
