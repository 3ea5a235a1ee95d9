/* SPDX-License-Identifier: Apache-2.0 */
/* frame.c - libFuzzer target: the supervisor's parsing of guest bytes
 *
 * The input is what a hostile guest writes on the agent link. It goes
 * through msb_framer in chunks whose sizes come from the input itself (as
 * read() would cut it), every frame taken out is copied to an exactly sized
 * heap buffer (so AddressSanitizer sees any read past the payload) and
 * walked with the TLV reader, and the frames are checked against a
 * straightforward reference parse of the same bytes. Headers are also
 * decoded directly at every offset, and the whole input is walked as TLV.
 * Every payload also goes where a FILE stream's would (docs/agent-protocol.md
 * §7a): the RESULT parser, and the LIST record splitter with its entry
 * parser, whose names must never lead out of the listed directory.
 *
 * Build and run: make build/fuzz/frame &&
 *   build/fuzz/frame -max_total_time=60 fuzz/corpus/frame
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Recoverable UBSan checks (the build does not pass -fno-sanitize-recover)
 * must still stop the fuzzer. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define CHECK(c)                   \
	do {                       \
		if (!(c))          \
			abort();   \
	} while (0)

/* walk_tlv() - read every record; values must lie inside the buffer and
 * the reader must always make progress. */
static void walk_tlv(const uint8_t *buf, size_t n)
{
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	size_t seen = 0, records = 0;
	volatile uint8_t sink = 0;
	int rc;

	msb_tlv_r_init(&r, buf, n);
	while ((rc = msb_tlv_next(&r, &tag, &v, &len)) == 1) {
		CHECK(v >= buf + 5 && v + len <= buf + n);
		seen += 5 + (size_t)len;
		records++;
		CHECK(records <= n / 5);
		/* Touch the value's ends, as a consumer would. */
		if (len) {
			sink ^= v[0];
			sink ^= v[len - 1];
		}
		/* The fixed-size values the host reads. */
		if (len == 4)
			sink ^= (uint8_t)msb_get_be32(v);
		if (len == 8)
			sink ^= (uint8_t)msb_get_be64(v);
	}
	CHECK(rc == 0 || rc == -1);
	CHECK(seen <= n);
	CHECK(rc != 0 || seen == n);
	(void)sink;
}

/* name_escapes() - does a name accepted by msb_fname_ok() climb out? */
static int name_escapes(const uint8_t *n, size_t len)
{
	int depth = 0;

	if (!len || n[0] == '/')
		return 1;
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && n[j] != '/')
			j++;
		if (j - i == 2 && n[i] == '.' && n[i + 1] == '.')
			depth--;
		else if (!(j - i == 1 && n[i] == '.'))
			depth++;
		if (depth < 0 || j == i)
			return 1;
		i = j + 1;
	}
	return memchr(n, 0, len) != NULL;
}

/* file_payload() - @buf (exactly @n bytes on the heap) as a RESULT and as
 * LIST output, the way src/supervisor/files.c reads them. */
static void file_payload(const uint8_t *buf, size_t n)
{
	struct msb_fresult r;
	size_t off = 0, rec;
	volatile uint8_t sink = 0;
	int rc;

	if (msb_fresult_parse(buf, n, &r) == 0) {
		CHECK(r.err <= 4095);
		CHECK(!r.msg || (r.msg >= buf && r.msg + r.msg_len <= buf + n));
		CHECK(!r.link || (r.link >= buf &&
				  r.link + r.link_len <= buf + n &&
				  r.link_len && r.link_len <= MSB_FPATH_MAX));
		CHECK(!r.has_stat || r.st.mtime_nsec < 1000000000u);
		if (r.msg_len)
			sink ^= r.msg[r.msg_len - 1];
	}
	while ((rc = msb_tlv_peek(buf + off, n - off, MSB_FENTRY_MAX, &rec)) ==
	       1) {
		const uint8_t *name, *link;
		size_t nl, ll;
		struct msb_fstat st;

		CHECK(rec >= 5 && rec <= n - off && rec <= 5 + MSB_FENTRY_MAX);
		if (msb_fentry_parse(buf + off + 5, rec - 5, &st, &name, &nl,
				     &link, &ll) == 0) {
			CHECK(name >= buf + off + 5 && name + nl <= buf + off + rec);
			CHECK(link == name + nl && link + ll == buf + off + rec);
			CHECK(!name_escapes(name, nl));
			CHECK(ll <= MSB_FPATH_MAX);
			sink ^= name[nl - 1];
		}
		off += rec;
	}
	CHECK(rc == 0 || rc == -1);
	CHECK(off <= n);
	if (msb_fname_ok(buf, n))
		CHECK(!name_escapes(buf, n));
	(void)sink;
}

struct ref_frame {
	size_t off; /* of the header in the input */
	struct msb_frame_hdr h;
};

/* reference() - frames in @data parsed the obvious way. Return: how many;
 * *@bad set when a complete header is invalid. */
static size_t reference(const uint8_t *data, size_t size, struct ref_frame *out,
			size_t max, int *bad)
{
	size_t pos = 0, n = 0;

	*bad = 0;
	while (pos + MSB_FRAME_HDR <= size && n < max) {
		struct msb_frame_hdr h;

		if (msb_frame_decode_hdr(data + pos, &h) < 0) {
			*bad = 1;
			break;
		}
		if (size - pos - MSB_FRAME_HDR < h.len)
			break;
		out[n].off = pos;
		out[n].h = h;
		n++;
		pos += MSB_FRAME_HDR + h.len;
	}
	return n;
}

static uint64_t rng;

static uint64_t next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

/* next_chunk() - how much the next read() returns. */
static size_t next_chunk(unsigned strategy)
{
	switch (strategy) {
	case 0:
		return 1;
	case 1:
		return 1 + next_rand() % 16;
	case 2:
		return 1 + next_rand() % 70000;
	default:
		return SIZE_MAX;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msb_framer f;
	static struct ref_frame ref[4096];
	size_t nref, got = 0, off = 0;
	uint64_t h64 = 1469598103934665603ull;
	unsigned strategy;
	int bad, stuck = 0, took_bad = 0;

	for (size_t i = 0; i < size; i++)
		h64 = (h64 ^ data[i]) * 1099511628211ull;
	rng = h64 | 1;
	strategy = (unsigned)(h64 >> 60) & 3;
	nref = reference(data, size, ref, sizeof(ref) / sizeof(ref[0]), &bad);

	f.have = 0;
	f.bad = 0;
	while (off < size && !took_bad) {
		size_t want = next_chunk(strategy), used;
		struct msb_frame_hdr h;
		const uint8_t *p;
		int r;

		if (want > size - off)
			want = size - off;
		used = msb_framer_feed(&f, data + off, want);
		CHECK(used <= want);
		off += used;
		while ((r = msb_framer_take(&f, &h, &p)) == 1) {
			uint8_t *copy = malloc(h.len ? h.len : 1);

			CHECK(copy);
			CHECK(h.len <= MSB_FRAME_MAX && !h.flags && !h.reserved);
			memcpy(copy, p, h.len);
			walk_tlv(copy, h.len);
			file_payload(copy, h.len);
			/* The same frame the reference found, bytes and all. */
			if (got < nref) {
				const struct ref_frame *rf = &ref[got];

				CHECK(rf->h.len == h.len &&
				      rf->h.stream == h.stream &&
				      rf->h.type == h.type);
				CHECK(!memcmp(copy,
					      data + rf->off + MSB_FRAME_HDR,
					      h.len));
			}
			got++;
			free(copy);
		}
		if (r < 0) {
			/* Corrupt is for good: everything is swallowed. */
			took_bad = 1;
			CHECK(msb_framer_feed(&f, data, size) == size);
			CHECK(msb_framer_take(&f, &h, &p) == -1);
			break;
		}
		/* A feed that took nothing was followed by a take that made
		 * room; two in a row would hang the supervisor. */
		stuck = used ? 0 : stuck + 1;
		CHECK(stuck < 2);
	}
	if (nref < sizeof(ref) / sizeof(ref[0])) {
		CHECK(got == nref);
		CHECK(took_bad == bad);
	}

	/* Headers at every offset: accepted ones are canonical. */
	for (size_t i = 0; i + MSB_FRAME_HDR <= size && i < 4096; i++) {
		struct msb_frame_hdr h;
		uint8_t again[MSB_FRAME_HDR];

		if (msb_frame_decode_hdr(data + i, &h) < 0)
			continue;
		CHECK(h.len <= MSB_FRAME_MAX && !h.flags && !h.reserved);
		msb_frame_encode_hdr(again, h.len, h.stream, h.type);
		CHECK(!memcmp(again, data + i, MSB_FRAME_HDR));
	}

	/* The whole input as one TLV payload, from an exact heap copy. */
	{
		uint8_t *copy = malloc(size ? size : 1);

		CHECK(copy);
		if (size)
			memcpy(copy, data, size);
		walk_tlv(copy, size);
		file_payload(copy, size);
		free(copy);
	}
	return 0;
}
