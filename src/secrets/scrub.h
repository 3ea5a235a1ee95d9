/* SPDX-License-Identifier: Apache-2.0 */
/* scrub.h - what a server sends back, with every secret value turned back
 * into its placeholder before the guest reads it
 *
 * A server a value may go to can send it back: an echo, an error page
 * quoting the request, a model asked to repeat it, a paste read again.
 * Responses that reach the guest through the guard pass through a scrub:
 * a set of patterns, each a form of a value and what replaces it:
 *   - the value itself, percent-encoded (RFC 3986, every byte outside
 *     the unreserved set, and the same with '/' kept) and JSON-escaped
 *     (RFC 8259, with and without '/' escaped): by the placeholder;
 *   - its base64 (RFC 4648 §4 and §5) at each of the three alignments it
 *     can have in an encoded text: the characters that depend on the value
 *     alone, by those of the placeholder at the same alignment (the one or
 *     two characters at each end, which mix the value's first and last
 *     bytes with its neighbours, stay: values of 9 bytes or more);
 *   - a Basic credential the guard rewrote on the flow, in all the forms
 *     above: back to the one the guest sent (in the same form).
 * A stream is scrubbed as it comes: a match is replaced whatever the
 * split, since the tail of what has come that could begin a pattern is
 * held until the rest arrives (only that: a tail that cannot be the start
 * of a value goes at once). Leftmost match first, the longest of those
 * starting there.
 */
#ifndef MSB_SECRETS_SCRUB_H
#define MSB_SECRETS_SCRUB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* one pattern: @from (@flen bytes) becomes @to (@tlen) */
struct scrub_pat {
	uint8_t *from, *to;
	size_t flen, tlen;
};

/* struct scrub - a set of patterns; zero it to start */
struct scrub {
	struct scrub_pat *p;
	size_t n, cap;
};

/* scrub_add() - one pattern (a copy of each side; the same @from twice is
 * kept once, the first @to). Return: 0, -EINVAL for an empty @from,
 * -ENOMEM */
int scrub_add(struct scrub *s, const void *from, size_t flen, const void *to,
	      size_t tlen);

/**
 * scrub_add_forms() - @from (a value) and each of its forms above, each
 * becoming the same form of @to (its placeholder)
 * Return: 0, -EINVAL (an empty @from), -ENOMEM
 */
int scrub_add_forms(struct scrub *s, const char *from, size_t flen,
		    const char *to, size_t tlen);

/* scrub_free() - wipe the patterns (they hold values) and free them */
void scrub_free(struct scrub *s);

/**
 * scrub_run() - @p[0..@n) into @out with each pattern of @sets replaced
 * @sets:  @nsets sets (NULL entries are skipped)
 * @final: nothing follows: everything is written
 * @hits:  incremented by the replacements made (may be NULL)
 *
 * Return: how many bytes of @p were taken; unless @final, a tail that
 * could begin a pattern is left: give it again, with what follows it, to
 * the next call. -ENOMEM.
 */
long scrub_run(const struct scrub *const *sets, size_t nsets,
	       const uint8_t *p, size_t n, int final, struct msb_buf *out,
	       size_t *hits);

#endif
