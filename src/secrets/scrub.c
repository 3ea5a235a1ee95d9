/* SPDX-License-Identifier: Apache-2.0 */
/* scrub.c - secret values turned back into placeholders in what servers
 * send (see scrub.h) */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "scrub.h"
#include "util.h"

/* A set this big is never made (64 secrets, a dozen forms each, the
 * flow's Basic credentials): the matcher's positions live on the stack. */
#define SCRUB_MAX 1024
/* base64 forms shorter than this would match unrelated text */
#define B64_MIN 12

static void *hidden(size_t n)
{
	void *p = malloc(n ? n : 1);

	/* Best effort, as the vault's values: patterns are values too. */
	if (p) {
		memset(p, 0, n);
		mlock(p, n);
		madvise((void *)((uintptr_t)p & ~(uintptr_t)4095),
			n + ((uintptr_t)p & 4095), MADV_DONTDUMP);
	}
	return p;
}

static void wipe(void *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		munlock(p, n);
		free(p);
	}
}

int scrub_add(struct scrub *s, const void *from, size_t flen, const void *to,
	      size_t tlen)
{
	struct scrub_pat *p;

	if (!flen)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++)
		if (s->p[i].flen == flen && !memcmp(s->p[i].from, from, flen))
			return 0;
	if (s->n == SCRUB_MAX)
		return -ENOMEM;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *np = realloc(s->p, cap * sizeof(*s->p));

		if (!np)
			return -ENOMEM;
		s->p = np;
		s->cap = cap;
	}
	p = &s->p[s->n];
	p->from = hidden(flen);
	p->to = malloc(tlen ? tlen : 1);
	if (!p->from || !p->to) {
		wipe(p->from, flen);
		free(p->to);
		return -ENOMEM;
	}
	memcpy(p->from, from, flen);
	if (tlen)
		memcpy(p->to, to, tlen);
	p->flen = flen;
	p->tlen = tlen;
	s->n++;
	return 0;
}

void scrub_free(struct scrub *s)
{
	for (size_t i = 0; i < s->n; i++) {
		wipe(s->p[i].from, s->p[i].flen);
		free(s->p[i].to);
	}
	free(s->p);
	memset(s, 0, sizeof(*s));
}

/* --- the forms of a value ------------------------------------------------ */

static int unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* percent() - @v percent-encoded (uppercase hex), @keep kept as it is */
static char *percent(const char *v, size_t n, const char *keep, size_t *out)
{
	char *e = hidden(3 * n + 1);
	size_t o = 0;

	if (!e)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (unreserved(c) || (c && strchr(keep, c)))
			e[o++] = (char)c;
		else
			o += (size_t)snprintf(e + o, 4, "%%%02X", c);
	}
	*out = o;
	return e;
}

/* json() - @v as a JSON string's content (RFC 8259 §7) */
static char *json(const char *v, size_t n, int slash, size_t *out)
{
	char *e = hidden(6 * n + 1);
	size_t o = 0;

	if (!e)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '"' || c == '\\' || (slash && c == '/')) {
			e[o++] = '\\';
			e[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(e + o, 7, "\\u%04x", c);
		} else {
			e[o++] = (char)c;
		}
	}
	*out = o;
	return e;
}

/* b64_core() - the base64 characters of @v that depend on it alone, when
 * @lead bytes of its 3-byte group come before it: the whole groups from
 * byte (3 - lead) % 3 on; @url: the URL-safe alphabet */
static char *b64_core(const char *v, size_t n, unsigned lead, int url,
		      size_t *out)
{
	size_t s = (3 - lead) % 3, groups = n > s ? (n - s) / 3 : 0;
	char *e = hidden(4 * (n / 3) + 8);

	if (!e)
		return NULL;
	*out = msb_b64_encode((const uint8_t *)v + s, 3 * groups, e);
	for (size_t i = 0; url && i < *out; i++)
		e[i] = e[i] == '+' ? '-' : e[i] == '/' ? '_' : e[i];
	return e;
}

/* form() - form @k of @v (0, 1: percent-encoded, '/' kept by 1; 2, 3:
 * JSON, '/' escaped by 3; 4-9: base64 core after (k - 4) % 3 leading bytes,
 * URL-safe from 7 on), with the size it was given in *@cap */
static char *form(int k, const char *v, size_t n, size_t *out, size_t *cap)
{
	if (k < 2) {
		*cap = 3 * n + 1;
		return percent(v, n, k ? "/" : "", out);
	}
	if (k < 4) {
		*cap = 6 * n + 1;
		return json(v, n, k == 3, out);
	}
	*cap = 4 * (n / 3) + 8;
	return b64_core(v, n, (unsigned)(k - 4) % 3, k >= 7, out);
}

int scrub_add_forms(struct scrub *s, const char *from, size_t flen,
		    const char *to, size_t tlen)
{
	int r;

	if (!flen)
		return -EINVAL;
	r = scrub_add(s, from, flen, to, tlen);
	for (int k = 0; k < 10 && r == 0; k++) {
		size_t fl = 0, tl = 0, fc = 0, tc = 0;
		char *f = form(k, from, flen, &fl, &fc);
		char *t = form(k, to, tlen, &tl, &tc);

		if (!f || !t)
			r = -ENOMEM;
		/* base64 shorter than B64_MIN would match unrelated text */
		else if (k < 4 || fl >= B64_MIN)
			r = scrub_add(s, f, fl, t, tl);
		wipe(f, fc);
		wipe(t, tc);
	}
	return r;
}

/* --- the matcher ---------------------------------------------------------- */

/* partial() - the earliest @at in [@from, @n) where @p[at..n) is a proper
 * beginning of @pat; @n if none */
static size_t partial(const struct scrub_pat *pat, const uint8_t *p,
		      size_t from, size_t n)
{
	size_t at = n - from < pat->flen ? from : n - pat->flen + 1;

	while (at < n) {
		const uint8_t *c = memchr(p + at, pat->from[0], n - at);

		if (!c)
			return n;
		at = (size_t)(c - p);
		if (!memcmp(c, pat->from, n - at))
			return at;
		at++;
	}
	return n;
}

long scrub_run(const struct scrub *const *sets, size_t nsets,
	       const uint8_t *p, size_t n, int final, struct msb_buf *out,
	       size_t *hits)
{
	const struct scrub_pat *pats[SCRUB_MAX];
	size_t next[SCRUB_MAX], np = 0, pos = 0, done = 0;

	if (!n)
		return 0;
	for (size_t i = 0; i < nsets; i++)
		for (size_t j = 0; sets[i] && j < sets[i]->n && np < SCRUB_MAX;
		     j++) {
			pats[np] = &sets[i]->p[j];
			next[np++] = 0; /* not looked for yet */
		}
	for (;;) {
		size_t best = n, blen = 0, hold = n;
		const struct scrub_pat *bp = NULL;

		for (size_t k = 0; k < np; k++) {
			const uint8_t *m;

			if (next[k] < pos + 1 && next[k] != SIZE_MAX) {
				m = n - pos >= pats[k]->flen ?
					    memmem(p + pos, n - pos,
						   pats[k]->from,
						   pats[k]->flen) :
					    NULL;
				/* stored one past, so 0 means not looked */
				next[k] = m ? (size_t)(m - p) + 1 : SIZE_MAX;
			}
			if (next[k] == SIZE_MAX)
				continue;
			if (next[k] - 1 < best ||
			    (next[k] - 1 == best && pats[k]->flen > blen)) {
				best = next[k] - 1;
				blen = pats[k]->flen;
				bp = pats[k];
			}
		}
		/* A tail that may yet become a match starting earlier than
		 * (or as early as, and longer than) the best one waits. */
		for (size_t k = 0; !final && k < np; k++) {
			size_t at = partial(pats[k], p, pos, n);

			if (at < hold)
				hold = at;
		}
		if (!bp || best >= hold) {
			size_t upto = final ? n : hold;

			if (msb_buf_append(out, p + done, upto - done) < 0)
				return -ENOMEM;
			return (long)upto;
		}
		if (msb_buf_append(out, p + done, best - done) < 0 ||
		    msb_buf_append(out, bp->to, bp->tlen) < 0)
			return -ENOMEM;
		if (hits)
			(*hits)++;
		pos = done = best + bp->flen;
	}
}
