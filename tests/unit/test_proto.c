/* SPDX-License-Identifier: Apache-2.0 */
/* test_proto.c - frame headers, stream reassembly and TLV of the agent link */

#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "proto.h"

/* ---- headers ------------------------------------------------------------ */

TEST(proto_hdr_layout)
{
	static const uint8_t want[MSB_FRAME_HDR] = {
		0x00, 0x01, 0x02, 0x03, /* len, big-endian */
		0xa0, 0xb0, 0xc0, 0xd0, /* stream */
		MSB_F_STDOUT, 0, 0, 0,
	};
	uint8_t out[MSB_FRAME_HDR];

	memset(out, 0xee, sizeof(out));
	msb_frame_encode_hdr(out, 0x00010203, 0xa0b0c0d0, MSB_F_STDOUT);
	CHECK_MEM(out, want, sizeof(want));
}

TEST(proto_hdr_round_trip)
{
	static const uint32_t lens[] = { 0, 1, 4, 255, 256, 65535,
					 MSB_FRAME_MAX - 1, MSB_FRAME_MAX };
	static const uint32_t streams[] = { 0, 1, 0x7fffffff, 0xffffffff };
	uint8_t b[MSB_FRAME_HDR];

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(streams); j++) {
			for (unsigned type = 0; type < 256; type += 17) {
				struct msb_frame_hdr h;

				memset(&h, 0x55, sizeof(h));
				msb_frame_encode_hdr(b, lens[i], streams[j],
						     (uint8_t)type);
				CHECK_EQ_INT(msb_frame_decode_hdr(b, &h), 0);
				CHECK_EQ_INT(h.len, lens[i]);
				CHECK_EQ_INT(h.stream, streams[j]);
				CHECK_EQ_INT(h.type, type);
				CHECK_EQ_INT(h.flags, 0);
				CHECK_EQ_INT(h.reserved, 0);
			}
		}
	}
}

TEST(proto_hdr_rejects_long_frames)
{
	static const uint32_t bad[] = { MSB_FRAME_MAX + 1, MSB_FRAME_MAX * 2,
					0x80000000u, 0xffffffffu };
	struct msb_frame_hdr h;
	uint8_t b[MSB_FRAME_HDR];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		msb_frame_encode_hdr(b, bad[i], 1, MSB_F_STDOUT);
		CHECK_EQ_INT(msb_frame_decode_hdr(b, &h), -1);
	}
	msb_frame_encode_hdr(b, MSB_FRAME_MAX, 1, MSB_F_STDOUT);
	CHECK_EQ_INT(msb_frame_decode_hdr(b, &h), 0);
}

TEST(proto_hdr_rejects_flags_and_reserved)
{
	struct msb_frame_hdr h;
	uint8_t b[MSB_FRAME_HDR];

	/* Every single bit of the flags byte and the reserved u16. */
	for (int byte = 9; byte < 12; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			msb_frame_encode_hdr(b, 4, 1, MSB_F_EXIT);
			b[byte] |= (uint8_t)(1u << bit);
			CHECK_EQ_INT(msb_frame_decode_hdr(b, &h), -1);
		}
	}
}

/* ---- framer ------------------------------------------------------------- */

struct got {
	size_t n;
	struct msb_frame_hdr h[64];
	size_t off[64];      /* where the payload landed in @data */
	uint8_t data[1 << 20];
	size_t used;
	int bad;             /* take() said corrupt */
};

/* take_all() - take every waiting frame, copying payloads out. */
static void take_all(struct msb_framer *f, struct got *g)
{
	struct msb_frame_hdr h;
	const uint8_t *p;
	int r;

	while ((r = msb_framer_take(f, &h, &p)) == 1) {
		if (g->n >= ARRAY_SIZE(g->h) ||
		    g->used + h.len > sizeof(g->data)) {
			unit_fail(__FILE__, __LINE__, "too many frames");
			return;
		}
		g->h[g->n] = h;
		g->off[g->n] = g->used;
		memcpy(g->data + g->used, p, h.len);
		g->used += h.len;
		g->n++;
	}
	if (r < 0)
		g->bad = 1;
}

/* feed_all() - push @n bytes through @f in chunks of at most @chunk,
 * honouring short feeds, taking frames as they complete. */
static void feed_all(struct msb_framer *f, struct got *g, const uint8_t *d,
		     size_t n, size_t chunk)
{
	size_t off = 0;
	int stuck = 0;

	while (off < n) {
		size_t want = n - off < chunk ? n - off : chunk;
		size_t used = msb_framer_feed(f, d + off, want);

		if (used > want) {
			unit_fail(__FILE__, __LINE__, "fed %zu, used %zu",
				  want, used);
			return;
		}
		off += used;
		take_all(f, g);
		if (g->bad)
			return;
		/* A feed that takes nothing must be followed by a take that
		 * frees room; twice in a row would be a livelock. */
		stuck = used ? 0 : stuck + 1;
		if (stuck > 1) {
			unit_fail(__FILE__, __LINE__, "framer stuck at %zu",
				  off);
			return;
		}
	}
}

static size_t put_frame(uint8_t *out, uint32_t stream, uint8_t type,
			const void *payload, uint32_t len)
{
	msb_frame_encode_hdr(out, len, stream, type);
	if (len)
		memcpy(out + MSB_FRAME_HDR, payload, len);
	return MSB_FRAME_HDR + len;
}

static struct msb_framer *framer_new(void)
{
	struct msb_framer *f = calloc(1, sizeof(*f));

	if (!f)
		unit_fail(__FILE__, __LINE__, "out of memory");
	return f;
}

/* A stream of frames with assorted lengths, including empty ones. */
struct sample {
	uint8_t bytes[4096];
	size_t n;
	uint32_t lens[8];
	size_t nframes;
};

static void make_sample(struct sample *s)
{
	static const uint32_t lens[] = { 5, 0, 1, 300, 0, 12, 1000, 0 };
	uint8_t payload[1000];

	s->n = 0;
	s->nframes = ARRAY_SIZE(lens);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		for (uint32_t k = 0; k < lens[i]; k++)
			payload[k] = (uint8_t)(i * 31 + k);
		s->lens[i] = lens[i];
		s->n += put_frame(s->bytes + s->n, (uint32_t)i + 1,
				  (uint8_t)(MSB_F_STDOUT + (i & 1)), payload,
				  lens[i]);
	}
}

static void check_sample(const struct sample *s, const struct got *g)
{
	CHECK_EQ_INT(g->bad, 0);
	CHECK_EQ_INT(g->n, s->nframes);
	if (g->n != s->nframes)
		return;
	for (size_t i = 0; i < s->nframes; i++) {
		CHECK_EQ_INT(g->h[i].len, s->lens[i]);
		CHECK_EQ_INT(g->h[i].stream, i + 1);
		CHECK_EQ_INT(g->h[i].type, MSB_F_STDOUT + (i & 1));
		for (uint32_t k = 0; k < s->lens[i]; k++)
			if (g->data[g->off[i] + k] != (uint8_t)(i * 31 + k)) {
				unit_fail(__FILE__, __LINE__,
					  "frame %zu byte %u differs", i, k);
				break;
			}
	}
}

TEST(proto_framer_byte_by_byte)
{
	struct msb_framer *f = framer_new();
	struct got *g = calloc(1, sizeof(*g));
	struct sample s;

	if (!f || !g)
		goto out;
	make_sample(&s);
	feed_all(f, g, s.bytes, s.n, 1);
	check_sample(&s, g);
	CHECK_EQ_INT(f->have, 0);
out:
	free(g);
	free(f);
}

TEST(proto_framer_one_chunk)
{
	struct msb_framer *f = framer_new();
	struct got *g = calloc(1, sizeof(*g));
	struct sample s;
	size_t used;

	if (!f || !g)
		goto out;
	make_sample(&s);
	/* One feed takes exactly the first frame, then stops for a take. */
	used = msb_framer_feed(f, s.bytes, s.n);
	CHECK_EQ_INT(used, MSB_FRAME_HDR + s.lens[0]);
	CHECK_EQ_INT(msb_framer_feed(f, s.bytes + used, s.n - used), 0);
	take_all(f, g);
	CHECK_EQ_INT(g->n, 1);
	memset(g, 0, sizeof(*g));
	memset(f, 0, sizeof(*f));
	feed_all(f, g, s.bytes, s.n, s.n);
	check_sample(&s, g);
out:
	free(g);
	free(f);
}

TEST(proto_framer_split_everywhere)
{
	struct msb_framer *f = framer_new();
	struct got *g = calloc(1, sizeof(*g));
	struct sample s;

	if (!f || !g)
		goto out;
	make_sample(&s);
	for (size_t cut = 0; cut <= s.n; cut++) {
		memset(f, 0, sizeof(*f));
		memset(g, 0, sizeof(*g));
		feed_all(f, g, s.bytes, cut, s.n);
		feed_all(f, g, s.bytes + cut, s.n - cut, s.n);
		check_sample(&s, g);
		CHECK_EQ_INT(f->have, 0);
	}
	/* Two cuts, every pair around the header/payload boundaries of the
	 * first two frames. */
	for (size_t a = 0; a < 40; a++) {
		for (size_t b = a; b < 60; b++) {
			memset(f, 0, sizeof(*f));
			memset(g, 0, sizeof(*g));
			feed_all(f, g, s.bytes, a, s.n);
			feed_all(f, g, s.bytes + a, b - a, s.n);
			feed_all(f, g, s.bytes + b, s.n - b, s.n);
			check_sample(&s, g);
		}
	}
out:
	free(g);
	free(f);
}

TEST(proto_framer_random_chunks)
{
	struct msb_framer *f = framer_new();
	struct got *g = calloc(1, sizeof(*g));
	uint8_t *stream = malloc(1 << 20);
	uint32_t lens[64];
	size_t n = 0, nf = 0;

	if (!f || !g || !stream)
		goto out;
	/* Frames up to the maximum, random content. */
	while (nf < ARRAY_SIZE(lens)) {
		uint64_t r = unit_rand();
		uint32_t len = r % 8 == 0 ? MSB_FRAME_MAX :
			       r % 8 == 1 ? 0 :
					    (uint32_t)(r >> 16) % 5000;

		if (n + MSB_FRAME_HDR + len > (1 << 20))
			break;
		msb_frame_encode_hdr(stream + n, len, (uint32_t)nf, MSB_F_STDERR);
		for (uint32_t k = 0; k < len; k++)
			stream[n + MSB_FRAME_HDR + k] = (uint8_t)(k ^ nf);
		lens[nf++] = len;
		n += MSB_FRAME_HDR + len;
	}
	for (int round = 0; round < 20; round++) {
		size_t off = 0;

		memset(f, 0, sizeof(*f));
		memset(g, 0, sizeof(*g));
		while (off < n) {
			size_t chunk = 1 + unit_rand() % 70000;

			if (chunk > n - off)
				chunk = n - off;
			feed_all(f, g, stream + off, chunk, chunk);
			off += chunk;
		}
		CHECK_EQ_INT(g->bad, 0);
		CHECK_EQ_INT(g->n, nf);
		for (size_t i = 0; i < g->n && i < nf; i++) {
			CHECK_EQ_INT(g->h[i].len, lens[i]);
			CHECK_EQ_INT(g->h[i].stream, i);
			for (uint32_t k = 0; k < lens[i]; k++)
				if (g->data[g->off[i] + k] != (uint8_t)(k ^ i)) {
					unit_fail(__FILE__, __LINE__,
						  "frame %zu byte %u", i, k);
					break;
				}
		}
	}
out:
	free(stream);
	free(g);
	free(f);
}

TEST(proto_framer_empty_payloads)
{
	struct msb_framer *f = framer_new();
	uint8_t b[MSB_FRAME_HDR * 3];
	struct msb_frame_hdr h;
	const uint8_t *p = NULL;

	if (!f)
		return;
	for (int i = 0; i < 3; i++)
		msb_frame_encode_hdr(b + i * MSB_FRAME_HDR, 0, 7 + (uint32_t)i,
				     MSB_F_STDIN);
	/* An empty frame is whole as soon as its header is. */
	CHECK_EQ_INT(msb_framer_feed(f, b, sizeof(b)), MSB_FRAME_HDR);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), 1);
	CHECK_EQ_INT(h.len, 0);
	CHECK_EQ_INT(h.stream, 7);
	CHECK(p != NULL);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), 0);
	CHECK_EQ_INT(msb_framer_feed(f, b + MSB_FRAME_HDR, MSB_FRAME_HDR * 2),
		     MSB_FRAME_HDR);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), 1);
	CHECK_EQ_INT(h.stream, 8);
	CHECK_EQ_INT(msb_framer_feed(f, b + MSB_FRAME_HDR * 2, MSB_FRAME_HDR),
		     MSB_FRAME_HDR);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), 1);
	CHECK_EQ_INT(h.stream, 9);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), 0);
	/* Feeding nothing is harmless. */
	CHECK_EQ_INT(msb_framer_feed(f, b, 0), 0);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), 0);
	free(f);
}

TEST(proto_framer_partial_header_waits)
{
	struct msb_framer *f = framer_new();
	uint8_t b[MSB_FRAME_HDR + 3];
	struct msb_frame_hdr h;
	const uint8_t *p;

	if (!f)
		return;
	put_frame(b, 1, MSB_F_STDOUT, "abc", 3);
	for (size_t i = 0; i < sizeof(b); i++) {
		CHECK_EQ_INT(msb_framer_take(f, &h, &p), 0);
		CHECK_EQ_INT(msb_framer_feed(f, b + i, 1), 1);
	}
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), 1);
	CHECK_EQ_INT(h.len, 3);
	CHECK_MEM(p, "abc", 3);
	free(f);
}

TEST(proto_framer_max_frame)
{
	struct msb_framer *f = framer_new();
	struct got *g = calloc(1, sizeof(*g));
	uint8_t *b = malloc(2 * (MSB_FRAME_HDR + MSB_FRAME_MAX));
	size_t n = 0;

	if (!f || !g || !b)
		goto out;
	memset(b, 0, 2 * (MSB_FRAME_HDR + MSB_FRAME_MAX));
	msb_frame_encode_hdr(b, MSB_FRAME_MAX, 3, MSB_F_STDOUT);
	memset(b + MSB_FRAME_HDR, 'x', MSB_FRAME_MAX);
	n = MSB_FRAME_HDR + MSB_FRAME_MAX;
	msb_frame_encode_hdr(b + n, MSB_FRAME_MAX, 4, MSB_F_STDOUT);
	memset(b + n + MSB_FRAME_HDR, 'y', MSB_FRAME_MAX);
	n *= 2;
	feed_all(f, g, b, n, n);
	CHECK_EQ_INT(g->bad, 0);
	CHECK_EQ_INT(g->n, 2);
	CHECK_EQ_INT(g->h[0].len, MSB_FRAME_MAX);
	CHECK_EQ_INT(g->data[g->off[0] + MSB_FRAME_MAX - 1], 'x');
	CHECK_EQ_INT(g->data[g->off[1]], 'y');
out:
	free(b);
	free(g);
	free(f);
}

TEST(proto_framer_corrupt_is_sticky)
{
	struct msb_framer *f = framer_new();
	struct got *g = calloc(1, sizeof(*g));
	uint8_t b[256];
	size_t n = 0;
	struct msb_frame_hdr h;
	const uint8_t *p;

	if (!f || !g)
		goto out;
	n += put_frame(b + n, 1, MSB_F_STDOUT, "good", 4);
	msb_frame_encode_hdr(b + n, 4, 2, MSB_F_STDOUT);
	b[n + 9] = 1; /* flags */
	n += MSB_FRAME_HDR;
	memcpy(b + n, "evil", 4);
	n += 4;
	n += put_frame(b + n, 3, MSB_F_STDOUT, "late", 4);

	feed_all(f, g, b, n, n);
	CHECK_EQ_INT(g->n, 1);
	CHECK_EQ_INT(g->bad, 1);
	/* Once bad, everything is swallowed and nothing comes out. */
	CHECK_EQ_INT(msb_framer_feed(f, b, n), n);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), -1);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), -1);
	put_frame(b, 4, MSB_F_STDOUT, "ok", 2);
	CHECK_EQ_INT(msb_framer_feed(f, b, MSB_FRAME_HDR + 2),
		     MSB_FRAME_HDR + 2);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), -1);
out:
	free(g);
	free(f);
}

TEST(proto_framer_corrupt_header_alone)
{
	struct msb_framer *f = framer_new();
	uint8_t b[MSB_FRAME_HDR + 8];
	struct msb_frame_hdr h;
	const uint8_t *p;

	if (!f)
		return;
	/* Too long: noticed by take() when the header ends the chunk. */
	msb_frame_encode_hdr(b, MSB_FRAME_MAX + 1, 1, MSB_F_STDOUT);
	CHECK_EQ_INT(msb_framer_feed(f, b, MSB_FRAME_HDR), MSB_FRAME_HDR);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), -1);
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), -1);
	/* ...and by feed() when more bytes follow it. */
	memset(f, 0, sizeof(*f));
	msb_frame_encode_hdr(b, 2, 1, MSB_F_STDOUT);
	b[10] = 0x80; /* reserved */
	CHECK_EQ_INT(msb_framer_feed(f, b, sizeof(b)), sizeof(b));
	CHECK_EQ_INT(msb_framer_take(f, &h, &p), -1);
	CHECK_EQ_INT(f->bad, 1);
	CHECK(f->have <= MSB_FRAME_HDR);
	free(f);
}

/* ---- TLV ---------------------------------------------------------------- */

TEST(proto_tlv_round_trip)
{
	uint8_t buf[512];
	struct msb_tlv_w w;
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t n;
	uint8_t tag;
	static const uint8_t bin[] = { 0, 1, 0, 0xff, '=' };

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_ARG, "sh");
	msb_tlv_put_str(&w, MSB_T_ARG, "");
	msb_tlv_put_str(&w, MSB_T_ENV, "K=V with spaces");
	msb_tlv_put_u32(&w, MSB_T_VERSION, 0xdeadbeef);
	msb_tlv_put_u64(&w, MSB_T_TIME, 0x0102030405060708ull);
	msb_tlv_put(&w, MSB_T_TTY, bin, sizeof(bin));
	msb_tlv_put(&w, MSB_T_STDIN, NULL, 0);
	CHECK_EQ_INT(w.overflow, 0);
	CHECK_EQ_INT(w.len, 5 * 7 + 2 + 0 + 15 + 4 + 8 + 5 + 0);
	/* Wire layout of the first record: tag, u32 BE length, value. */
	CHECK_EQ_INT(buf[0], MSB_T_ARG);
	CHECK_MEM(buf + 1, "\0\0\0\2sh", 6);

	msb_tlv_r_init(&r, buf, w.len);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(tag, MSB_T_ARG);
	CHECK_EQ_INT(n, 2);
	CHECK_MEM(v, "sh", 2);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(tag, MSB_T_ARG);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(tag, MSB_T_ENV);
	CHECK_EQ_INT(n, 15);
	CHECK_MEM(v, "K=V with spaces", 15);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(tag, MSB_T_VERSION);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(msb_get_be32(v), 0xdeadbeef);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(tag, MSB_T_TIME);
	CHECK_EQ_INT(n, 8);
	CHECK(msb_get_be64(v) == 0x0102030405060708ull);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(tag, MSB_T_TTY);
	CHECK_EQ_INT(n, sizeof(bin));
	CHECK_MEM(v, bin, sizeof(bin));
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(tag, MSB_T_STDIN);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 0);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 0);
}

TEST(proto_tlv_u64_extremes)
{
	static const uint64_t vals[] = { 0, 1, 0xffffffffull, 0x100000000ull,
					 UINT64_MAX };
	uint8_t buf[13];

	for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
		struct msb_tlv_w w;
		struct msb_tlv_r r;
		const uint8_t *v;
		uint32_t n;
		uint8_t tag;

		msb_tlv_w_init(&w, buf, sizeof(buf));
		msb_tlv_put_u64(&w, 200, vals[i]);
		CHECK_EQ_INT(w.overflow, 0);
		CHECK_EQ_INT(w.len, 13);
		msb_tlv_r_init(&r, buf, w.len);
		CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
		CHECK_EQ_INT(tag, 200);
		CHECK(n == 8 && msb_get_be64(v) == vals[i]);
	}
}

TEST(proto_tlv_writer_overflow)
{
	uint8_t buf[32];
	struct msb_tlv_w w;

	/* Exactly full is fine. */
	msb_tlv_w_init(&w, buf, 5 + 4);
	msb_tlv_put_u32(&w, 1, 7);
	CHECK_EQ_INT(w.overflow, 0);
	CHECK_EQ_INT(w.len, 9);
	/* One byte more is not, and leaves the buffer as it was. */
	msb_tlv_put(&w, 2, NULL, 0);
	CHECK_EQ_INT(w.overflow, 1);
	CHECK_EQ_INT(w.len, 9);

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, 1, "0123456789");        /* 15 bytes */
	msb_tlv_put_str(&w, 1, "0123456789abcdef"); /* 21: does not fit */
	CHECK_EQ_INT(w.overflow, 1);
	CHECK_EQ_INT(w.len, 15);
	/* Sticky: a record that would fit is refused after an overflow, so a
	 * payload is never silently missing a record in its middle. */
	msb_tlv_put_u32(&w, 2, 1);
	CHECK_EQ_INT(w.overflow, 1);
	CHECK_EQ_INT(w.len, 15);

	/* Smaller than a record header. */
	msb_tlv_w_init(&w, buf, 4);
	msb_tlv_put(&w, 1, NULL, 0);
	CHECK_EQ_INT(w.overflow, 1);
	CHECK_EQ_INT(w.len, 0);
	msb_tlv_w_init(&w, NULL, 0);
	msb_tlv_put_u64(&w, 1, 1);
	CHECK_EQ_INT(w.overflow, 1);

	/* A length that would wrap size_t arithmetic. */
	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put(&w, 1, buf, SIZE_MAX - 2);
	CHECK_EQ_INT(w.overflow, 1);
	CHECK_EQ_INT(w.len, 0);
}

TEST(proto_tlv_reader_truncated)
{
	uint8_t buf[64];
	struct msb_tlv_w w;
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t n;
	uint8_t tag;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_ARG, "hello");
	msb_tlv_put_str(&w, MSB_T_ARG, "world");
	CHECK_EQ_INT(w.len, 20);
	/* Every cut that is not on a record boundary is truncated. */
	for (size_t cut = 0; cut <= w.len; cut++) {
		int rc, got = 0;

		msb_tlv_r_init(&r, buf, cut);
		while ((rc = msb_tlv_next(&r, &tag, &v, &n)) == 1) {
			CHECK(v + n <= buf + cut);
			got++;
		}
		if (cut == 0 || cut == 10 || cut == 20) {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_INT(got, (int)cut / 10);
		} else {
			CHECK_EQ_INT(rc, -1);
			CHECK_EQ_INT(got, (int)cut / 10);
		}
	}
	/* A length field claiming more than there is, up to 4 GiB - 1. */
	buf[0] = 1;
	msb_put_be32(buf + 1, 0xffffffffu);
	msb_tlv_r_init(&r, buf, 20);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), -1);
	msb_put_be32(buf + 1, 16);
	msb_tlv_r_init(&r, buf, 20);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), -1);
	msb_put_be32(buf + 1, 15);
	msb_tlv_r_init(&r, buf, 20);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 1);
	CHECK_EQ_INT(n, 15);
	CHECK_EQ_INT(msb_tlv_next(&r, &tag, &v, &n), 0);
}

TEST(proto_tlv_unknown_tags_skip)
{
	uint8_t buf[128];
	struct msb_tlv_w w;
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t n, version = 0;
	uint8_t tag;
	int unknown = 0;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, 250, "from a newer agent");
	msb_tlv_put_u32(&w, MSB_T_VERSION, 1);
	msb_tlv_put(&w, 0, "\0\0\0", 3);
	msb_tlv_put_u64(&w, 255, 42);
	msb_tlv_put_str(&w, MSB_T_AGENT, "0.1.0");
	CHECK_EQ_INT(w.overflow, 0);
	msb_tlv_r_init(&r, buf, w.len);
	while (msb_tlv_next(&r, &tag, &v, &n) == 1) {
		if (tag == MSB_T_VERSION && n == 4)
			version = msb_get_be32(v);
		else if (tag != MSB_T_AGENT)
			unknown++;
	}
	CHECK_EQ_INT(version, 1);
	CHECK_EQ_INT(unknown, 3);
	CHECK(r.p == r.end);
}

TEST(proto_be_helpers)
{
	uint8_t b[8];

	msb_put_be16(b, 0xbeef);
	CHECK_EQ_INT(b[0], 0xbe);
	CHECK_EQ_INT(b[1], 0xef);
	CHECK_EQ_INT(msb_get_be16(b), 0xbeef);
	msb_put_be32(b, 0x80000001u);
	CHECK_EQ_INT(msb_get_be32(b), 0x80000001u);
	msb_put_be64(b, 0x8000000000000001ull);
	CHECK(msb_get_be64(b) == 0x8000000000000001ull);
	CHECK_EQ_INT(b[0], 0x80);
	CHECK_EQ_INT(b[7], 0x01);
}

/* ---- FILE streams (docs/agent-protocol.md §7a) --------------------------- */

TEST(proto_fname)
{
	static const char *const good[] = { "a", "a/b", ".a", "a..b", "...",
					    "a/.b/c" };
	static const char *const bad[] = { "", "/a", "..", ".", "a/..",
					   "../a", "a//b", "a/", "a/./b" };

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!msb_fname_ok((const uint8_t *)good[i], strlen(good[i])))
			unit_fail(__FILE__, __LINE__, "refused '%s'", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (msb_fname_ok((const uint8_t *)bad[i], strlen(bad[i])))
			unit_fail(__FILE__, __LINE__, "took '%s'", bad[i]);
	CHECK(!msb_fname_ok((const uint8_t *)"a\0b", 3));
	{
		static uint8_t longname[MSB_FPATH_MAX + 1];

		memset(longname, 'x', sizeof(longname));
		CHECK(msb_fname_ok(longname, MSB_FPATH_MAX));
		CHECK(!msb_fname_ok(longname, MSB_FPATH_MAX + 1));
	}
}

TEST(proto_fstat_and_result)
{
	struct msb_fstat st = { 0100644, 1, 2, 3, 1ull << 40, -5, 999999999 },
			 back;
	uint8_t b[MSB_FSTAT_LEN], pay[256];
	struct msb_tlv_w w;
	struct msb_fresult r;

	msb_fstat_encode(b, &st);
	CHECK_EQ_INT(msb_fstat_decode(b, sizeof(b), &back), 0);
	CHECK(back.mode == st.mode && back.size == st.size &&
	      back.mtime == -5 && back.mtime_nsec == 999999999);
	CHECK_EQ_INT(msb_fstat_decode(b, sizeof(b) - 1, &back), -1);
	msb_put_be32(b + 32, 1000000000); /* nanoseconds out of range */
	CHECK_EQ_INT(msb_fstat_decode(b, sizeof(b), &back), -1);

	msb_tlv_w_init(&w, pay, sizeof(pay));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, 2);
	msb_tlv_put_str(&w, MSB_T_MESSAGE, "open /x: No such file");
	msb_tlv_put_u64(&w, MSB_T_SIZE, 7);
	CHECK_EQ_INT(msb_fresult_parse(pay, w.len, &r), 0);
	CHECK(r.err == 2 && r.has_size && r.size == 7 && r.msg_len == 21);
	/* no ERRNO, an errno over 4095, a short SIZE, an empty LINK */
	msb_tlv_w_init(&w, pay, sizeof(pay));
	msb_tlv_put_u64(&w, MSB_T_SIZE, 7);
	CHECK_EQ_INT(msb_fresult_parse(pay, w.len, &r), -1);
	msb_tlv_w_init(&w, pay, sizeof(pay));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, 4096);
	CHECK_EQ_INT(msb_fresult_parse(pay, w.len, &r), -1);
	msb_tlv_w_init(&w, pay, sizeof(pay));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, 0);
	msb_tlv_put_u32(&w, MSB_T_SIZE, 7);
	CHECK_EQ_INT(msb_fresult_parse(pay, w.len, &r), -1);
	msb_tlv_w_init(&w, pay, sizeof(pay));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, 0);
	msb_tlv_put(&w, MSB_T_LINK, "", 0);
	CHECK_EQ_INT(msb_fresult_parse(pay, w.len, &r), -1);
	/* a truncated record */
	CHECK_EQ_INT(msb_fresult_parse(pay, 3, &r), -1);
}

TEST(proto_fentry_and_peek)
{
	uint8_t v[MSB_FSTAT_LEN + 2 + 16];
	struct msb_fstat st = { 0120777, 0, 0, 1, 3, 0, 0 }, got;
	const uint8_t *name, *link;
	size_t nl, ll, rec;

	msb_fstat_encode(v, &st);
	msb_put_be16(v + MSB_FSTAT_LEN, 2);
	memcpy(v + MSB_FSTAT_LEN + 2, "lnabc", 5);
	CHECK_EQ_INT(msb_fentry_parse(v, MSB_FSTAT_LEN + 7, &got, &name, &nl,
				      &link, &ll),
		     0);
	CHECK(nl == 2 && !memcmp(name, "ln", 2) && ll == 3 &&
	      !memcmp(link, "abc", 3));
	/* a name length past the end, a name that climbs out */
	msb_put_be16(v + MSB_FSTAT_LEN, 6);
	CHECK_EQ_INT(msb_fentry_parse(v, MSB_FSTAT_LEN + 7, &got, &name, &nl,
				      &link, &ll),
		     -1);
	msb_put_be16(v + MSB_FSTAT_LEN, 2);
	memcpy(v + MSB_FSTAT_LEN + 2, "..", 2);
	CHECK_EQ_INT(msb_fentry_parse(v, MSB_FSTAT_LEN + 7, &got, &name, &nl,
				      &link, &ll),
		     -1);
	CHECK_EQ_INT(msb_fentry_parse(v, 10, &got, &name, &nl, &link, &ll), -1);

	v[0] = MSB_T_ENTRY;
	msb_put_be32(v + 1, 3);
	CHECK_EQ_INT(msb_tlv_peek(v, 4, 10, &rec), 0);
	CHECK_EQ_INT(msb_tlv_peek(v, 7, 10, &rec), 0);
	CHECK_EQ_INT(msb_tlv_peek(v, 8, 10, &rec), 1);
	CHECK_EQ_INT(rec, 8);
	CHECK_EQ_INT(msb_tlv_peek(v, 8, 2, &rec), -1);
}
