/* SPDX-License-Identifier: Apache-2.0 */
/* test_secrets_scrub.c - values turned back into placeholders in what
 * servers send, whatever the split (src/secrets/scrub.c) */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "scrub.h"
#include "util.h"

#define PH "msb_placeholder_00112233445566778899aabbccddeeff"

/* stream() - @p through @s in pieces of @step, as a caller keeps what
 * scrub_run() leaves; Return: the hits */
static size_t stream(const struct scrub *s, const uint8_t *p, size_t n,
		     size_t step, struct msb_buf *out)
{
	struct msb_buf in = { 0 };
	size_t hits = 0;

	for (size_t at = 0; at < n; at += step) {
		long took;

		msb_buf_append(&in, p + at, at + step > n ? n - at : step);
		took = scrub_run(&s, 1, msb_buf_data(&in), in.len, 0, out, &hits);
		CHECK(took >= 0);
		msb_buf_consume(&in, (size_t)took);
	}
	if (in.len)
		CHECK_EQ_INT(scrub_run(&s, 1, msb_buf_data(&in), in.len, 1, out,
				       &hits),
			     (long)in.len);
	msb_buf_free(&in);
	return hits;
}

/* Split anyhow, the stream comes out as it does whole. */
TEST(scrub_any_split_is_the_whole)
{
	struct scrub s = { 0 };
	const char *values[] = { "sk-live-9f8e7d6c5b4a", "aaab", "xyzxyzxya" };
	struct msb_buf text = { 0 }, whole = { 0 };
	size_t want;

	for (size_t i = 0; i < ARRAY_SIZE(values); i++)
		CHECK_EQ_INT(scrub_add_forms(&s, values[i], strlen(values[i]),
					     PH, strlen(PH)),
			     0);
	/* text made of pieces of the values, the values, and noise */
	for (int i = 0; i < 400; i++) {
		const char *v = values[unit_rand() % ARRAY_SIZE(values)];
		size_t cut = unit_rand() % (strlen(v) + 1);

		if (unit_rand() % 3)
			msb_buf_append(&text, v, unit_rand() % 2 ? strlen(v) : cut);
		else
			msb_buf_append(&text, "a x", 1 + unit_rand() % 3);
	}
	want = 0;
	CHECK_EQ_INT(scrub_run((const struct scrub *const[]){ &s }, 1,
			       msb_buf_data(&text), text.len, 1, &whole, &want),
		     (long)text.len);
	CHECK(want > 50);
	for (size_t i = 0; i < ARRAY_SIZE(values); i++)
		CHECK(!memmem(msb_buf_data(&whole), whole.len, values[i],
			      strlen(values[i])));
	for (size_t step = 1; step < 64; step += 1 + step / 4) {
		struct msb_buf out = { 0 };
		size_t hits = stream(&s, msb_buf_data(&text), text.len, step, &out);

		if (hits != want || out.len != whole.len ||
		    memcmp(msb_buf_data(&out), msb_buf_data(&whole), out.len))
			unit_fail(__FILE__, __LINE__, "step %zu: %zu hits of %zu",
				  step, hits, want);
		msb_buf_free(&out);
	}
	msb_buf_free(&text);
	msb_buf_free(&whole);
	scrub_free(&s);
}

/* Only a tail that could begin a value waits. */
TEST(scrub_holds_only_what_could_begin_a_value)
{
	struct scrub s = { 0 };
	const struct scrub *set = &s;
	struct msb_buf out = { 0 };

	CHECK_EQ_INT(scrub_add(&s, "secret", 6, "PH", 2), 0);
	CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)"data: hello\n\n", 13,
			       0, &out, NULL),
		     13);
	CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)"one sec", 7, 0, &out,
			       NULL),
		     4);
	CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)"secre", 5, 0, &out,
			       NULL),
		     0);
	/* (its last "s" could begin one too) */
	CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)"secrets", 7, 0, &out,
			       NULL),
		     6);
	CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)"s", 1, 1, &out, NULL),
		     1);
	CHECK(out.len == 20 && !memcmp(msb_buf_data(&out),
				       "data: hello\n\none PHs", 20));
	CHECK_EQ_INT(scrub_add(&s, "", 0, "x", 1), -EINVAL);
	/* the same pattern twice is kept once */
	CHECK_EQ_INT(scrub_add(&s, "secret", 6, "other", 5), 0);
	CHECK_EQ_INT(s.n, 1);
	msb_buf_free(&out);
	scrub_free(&s);
}

/* Leftmost first, then the longest starting there; a longer value that
 * may still come waits. */
TEST(scrub_leftmost_longest)
{
	struct scrub s = { 0 };
	const struct scrub *set = &s;
	struct msb_buf out = { 0 };

	CHECK_EQ_INT(scrub_add(&s, "ab", 2, "1", 1), 0);
	CHECK_EQ_INT(scrub_add(&s, "abcd", 4, "2", 1), 0);
	CHECK_EQ_INT(scrub_add(&s, "bc", 2, "3", 1), 0);
	CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)"xabc", 4, 0, &out,
			       NULL),
		     1);
	CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)"abcd abc", 8, 1, &out,
			       NULL),
		     8);
	CHECK(out.len == 5 && !memcmp(msb_buf_data(&out), "x2 1c", 5));
	msb_buf_free(&out);
	scrub_free(&s);
}

/* The forms of a value, each to the same form of the placeholder. */
TEST(scrub_forms_of_a_value)
{
	struct scrub s = { 0 };
	const struct scrub *set = &s;
	const char *v = "k/y+1\"2\\3 4\x01";
	struct {
		const char *in, *out;
	} cases[] = {
		{ "k%2Fy%2B1%222%5C3%204%01", PH },
		{ "k/y%2B1%222%5C3%204%01", PH },
		{ "k/y+1\\\"2\\\\3 4\\u0001", PH },
		{ "k\\/y+1\\\"2\\\\3 4\\u0001", PH },
	};
	char b64[64];
	struct msb_buf out = { 0 };

	CHECK_EQ_INT(scrub_add_forms(&s, v, strlen(v), PH, strlen(PH)), 0);
	CHECK_EQ_INT(scrub_add_forms(&s, "", 0, PH, strlen(PH)), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		out.len = 0;
		scrub_run(&set, 1, (const uint8_t *)cases[i].in,
			  strlen(cases[i].in), 1, &out, NULL);
		if (out.len != strlen(cases[i].out) ||
		    memcmp(msb_buf_data(&out), cases[i].out, out.len))
			unit_fail(__FILE__, __LINE__, "case %zu: '%.*s'", i,
				  (int)out.len, msb_buf_data(&out));
	}
	/* base64 of the value after 0, 1, 2 bytes: decodes to the
	 * placeholder's middle, the value's own characters gone */
	for (int lead = 0; lead < 3; lead++) {
		char plain[64];
		uint8_t dec[128];
		long dl;

		snprintf(plain, sizeof(plain), "%.*s%s", lead, "QQ", v);
		msb_b64_encode((const uint8_t *)plain, strlen(plain), b64);
		b64[msb_b64_encoded_len(strlen(plain))] = '\0';
		out.len = 0;
		scrub_run(&set, 1, (const uint8_t *)b64, strlen(b64), 1, &out,
			  NULL);
		CHECK(out.len > strlen(b64));
		msb_buf_append(&out, "", 1);
		dl = msb_b64_decode((const char *)msb_buf_data(&out),
				    out.len - 1, dec);
		CHECK(dl > 0);
		if (dl > 0) {
			CHECK(memmem(dec, (size_t)dl, "placeholder_00112233", 20));
			CHECK(!memmem(dec, (size_t)dl, "y+1\"2", 5));
		}
	}
	msb_buf_free(&out);
	scrub_free(&s);
}
