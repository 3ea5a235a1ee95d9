/* SPDX-License-Identifier: Apache-2.0 */
/* proto.c - frame header, TLV and stream reassembly for the agent protocol */

#include <string.h>

#include "proto.h"

void msb_frame_encode_hdr(uint8_t out[MSB_FRAME_HDR], uint32_t len,
			  uint32_t stream, uint8_t type)
{
	msb_put_be32(out, len);
	msb_put_be32(out + 4, stream);
	out[8] = type;
	out[9] = 0;
	msb_put_be16(out + 10, 0);
}

int msb_frame_decode_hdr(const uint8_t in[MSB_FRAME_HDR],
			 struct msb_frame_hdr *h)
{
	h->len = msb_get_be32(in);
	h->stream = msb_get_be32(in + 4);
	h->type = in[8];
	h->flags = in[9];
	h->reserved = msb_get_be16(in + 10);
	if (h->len > MSB_FRAME_MAX || h->flags || h->reserved)
		return -1;
	return 0;
}

void msb_tlv_w_init(struct msb_tlv_w *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = 0;
}

void msb_tlv_put(struct msb_tlv_w *w, uint8_t tag, const void *v, size_t n)
{
	if (w->overflow || n > UINT32_MAX || w->cap - w->len < 5 ||
	    w->cap - w->len - 5 < n) {
		w->overflow = 1;
		return;
	}
	w->buf[w->len] = tag;
	msb_put_be32(w->buf + w->len + 1, (uint32_t)n);
	if (n)
		memcpy(w->buf + w->len + 5, v, n);
	w->len += 5 + n;
}

void msb_tlv_put_str(struct msb_tlv_w *w, uint8_t tag, const char *s)
{
	msb_tlv_put(w, tag, s, strlen(s));
}

void msb_tlv_put_u32(struct msb_tlv_w *w, uint8_t tag, uint32_t v)
{
	uint8_t b[4];

	msb_put_be32(b, v);
	msb_tlv_put(w, tag, b, 4);
}

void msb_tlv_put_u64(struct msb_tlv_w *w, uint8_t tag, uint64_t v)
{
	uint8_t b[8];

	msb_put_be64(b, v);
	msb_tlv_put(w, tag, b, 8);
}

void msb_tlv_r_init(struct msb_tlv_r *r, const void *buf, size_t n)
{
	r->p = buf;
	r->end = r->p + n;
}

int msb_tlv_next(struct msb_tlv_r *r, uint8_t *tag, const uint8_t **val,
		 uint32_t *n)
{
	size_t left = (size_t)(r->end - r->p);
	uint32_t len;

	if (!left)
		return 0;
	if (left < 5)
		return -1;
	len = msb_get_be32(r->p + 1);
	if (len > left - 5)
		return -1;
	*tag = r->p[0];
	*val = r->p + 5;
	*n = len;
	r->p += 5 + (size_t)len;
	return 1;
}

size_t msb_framer_feed(struct msb_framer *f, const uint8_t *data, size_t n)
{
	size_t used = 0;

	while (used < n && !f->bad) {
		size_t want, take;

		if (f->have >= MSB_FRAME_HDR) {
			struct msb_frame_hdr h;

			if (msb_frame_decode_hdr(f->buf, &h) < 0) {
				f->bad = 1;
				return n;
			}
			if (f->have == MSB_FRAME_HDR + h.len)
				break; /* whole frame waiting to be taken */
			want = MSB_FRAME_HDR + h.len - f->have;
		} else {
			want = MSB_FRAME_HDR - f->have;
		}
		take = n - used < want ? n - used : want;
		memcpy(f->buf + f->have, data + used, take);
		f->have += take;
		used += take;
	}
	return f->bad ? n : used;
}

int msb_framer_take(struct msb_framer *f, struct msb_frame_hdr *h,
		    const uint8_t **payload)
{
	if (f->bad)
		return -1;
	if (f->have < MSB_FRAME_HDR)
		return 0;
	if (msb_frame_decode_hdr(f->buf, h) < 0) {
		f->bad = 1;
		return -1;
	}
	if (f->have < MSB_FRAME_HDR + h->len)
		return 0;
	*payload = f->buf + MSB_FRAME_HDR;
	f->have = 0;
	return 1;
}
