/* SPDX-License-Identifier: Apache-2.0 */
/* proto.c - frame header, TLV and stream reassembly for the agent protocol */

#include <stdio.h>
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

/* ---- file operations (docs/agent-protocol.md §7a) ------------------------ */

void msb_fstat_encode(uint8_t out[MSB_FSTAT_LEN], const struct msb_fstat *st)
{
	msb_put_be32(out, st->mode);
	msb_put_be32(out + 4, st->uid);
	msb_put_be32(out + 8, st->gid);
	msb_put_be32(out + 12, st->nlink);
	msb_put_be64(out + 16, st->size);
	msb_put_be64(out + 24, (uint64_t)st->mtime);
	msb_put_be32(out + 32, st->mtime_nsec);
	msb_put_be32(out + 36, 0);
}

int msb_fstat_decode(const uint8_t *p, size_t n, struct msb_fstat *st)
{
	if (n != MSB_FSTAT_LEN)
		return -1;
	st->mode = msb_get_be32(p);
	st->uid = msb_get_be32(p + 4);
	st->gid = msb_get_be32(p + 8);
	st->nlink = msb_get_be32(p + 12);
	st->size = msb_get_be64(p + 16);
	st->mtime = (int64_t)msb_get_be64(p + 24);
	st->mtime_nsec = msb_get_be32(p + 32);
	return st->mtime_nsec < 1000000000u ? 0 : -1;
}

/* path_ok() - a path from the guest: 1..MSB_FPATH_MAX bytes, no NUL */
static int path_ok(const uint8_t *p, size_t n)
{
	return n && n <= MSB_FPATH_MAX && !memchr(p, '\0', n);
}

int msb_fresult_parse(const uint8_t *p, size_t n, struct msb_fresult *r)
{
	struct msb_tlv_r tr;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	int rc, has_err = 0;

	memset(r, 0, sizeof(*r));
	msb_tlv_r_init(&tr, p, n);
	while ((rc = msb_tlv_next(&tr, &tag, &v, &len)) == 1) {
		switch (tag) {
		case MSB_T_ERRNO:
			if (len != 4 || msb_get_be32(v) > 4095)
				return -1;
			r->err = msb_get_be32(v);
			has_err = 1;
			break;
		case MSB_T_MESSAGE:
			if (len > 4096)
				return -1;
			r->msg = v;
			r->msg_len = len;
			break;
		case MSB_T_SIZE:
			if (len != 8)
				return -1;
			r->size = msb_get_be64(v);
			r->has_size = 1;
			break;
		case MSB_T_STAT:
			if (msb_fstat_decode(v, len, &r->st) < 0)
				return -1;
			r->has_stat = 1;
			break;
		case MSB_T_LINK:
			if (!path_ok(v, len))
				return -1;
			r->link = v;
			r->link_len = len;
			break;
		default:
			break;
		}
	}
	return rc < 0 || !has_err ? -1 : 0;
}

int msb_fname_ok(const uint8_t *name, size_t n)
{
	size_t i = 0;

	if (!path_ok(name, n) || name[0] == '/')
		return 0;
	while (i < n) {
		size_t j = i;

		while (j < n && name[j] != '/')
			j++;
		if (j == i || (j - i == 1 && name[i] == '.') ||
		    (j - i == 2 && name[i] == '.' && name[i + 1] == '.'))
			return 0;
		i = j + 1;
		if (j < n && i == n)
			return 0; /* a trailing '/' */
	}
	return 1;
}

size_t msb_pcp_rec(uint8_t *out, int type, uint32_t mode, const char *name,
		   const char *link)
{
	size_t nl = strlen(name), ll = link ? strlen(link) : 0, len = 7;

	if (nl > MSB_PCP_NAME_MAX || ll > MSB_PCP_NAME_MAX)
		return 0;
	out[0] = (uint8_t)type;
	msb_put_be32(out + 1, mode & 07777);
	msb_put_be16(out + 5, (uint16_t)nl);
	memcpy(out + len, name, nl);
	len += nl;
	if (type == MSB_PCP_LINK) {
		msb_put_be16(out + len, (uint16_t)ll);
		memcpy(out + len + 2, link, ll);
		len += 2 + ll;
	}
	return len;
}

void msb_path_base(const char *p, char *out, size_t n)
{
	size_t len = strlen(p);
	const char *s;

	while (len > 1 && p[len - 1] == '/')
		len--;
	s = p + len;
	while (s > p && s[-1] != '/')
		s--;
	snprintf(out, n, "%.*s", (int)(len - (size_t)(s - p)), s);
}

int msb_path_join(char *out, size_t n, const char *dir, const char *name)
{
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	return snprintf(out, n, "%.*s%s%s", (int)dl, dir,
			dl && dir[dl - 1] == '/' ? "" : "/", name) >= (int)n ?
		       -1 :
		       0;
}

int msb_tlv_peek(const uint8_t *p, size_t n, size_t max_val, size_t *rec)
{
	uint32_t len;

	if (n < 5)
		return 0;
	len = msb_get_be32(p + 1);
	if (len > max_val)
		return -1;
	if (n - 5 < len)
		return 0;
	*rec = 5 + (size_t)len;
	return 1;
}

int msb_fentry_parse(const uint8_t *v, size_t n, struct msb_fstat *st,
		     const uint8_t **name, size_t *name_len,
		     const uint8_t **link, size_t *link_len)
{
	size_t nl;

	if (n < MSB_FSTAT_LEN + 2 ||
	    msb_fstat_decode(v, MSB_FSTAT_LEN, st) < 0)
		return -1;
	nl = msb_get_be16(v + MSB_FSTAT_LEN);
	if (n - MSB_FSTAT_LEN - 2 < nl ||
	    !msb_fname_ok(v + MSB_FSTAT_LEN + 2, nl))
		return -1;
	*name = v + MSB_FSTAT_LEN + 2;
	*name_len = nl;
	*link = *name + nl;
	*link_len = n - MSB_FSTAT_LEN - 2 - nl;
	if (*link_len && !path_ok(*link, *link_len))
		return -1;
	return 0;
}

int msb_topic_ok(const uint8_t *t, size_t n)
{
	if (!n || n > MSB_TOPIC_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '/' || c == '-'))
			return 0;
	}
	return 1;
}

int msb_event_parse(const uint8_t *p, size_t n, struct msb_event_rec *ev)
{
	struct msb_tlv_r tr;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	int rc;

	memset(ev, 0, sizeof(*ev));
	msb_tlv_r_init(&tr, p, n);
	while ((rc = msb_tlv_next(&tr, &tag, &v, &len)) == 1) {
		switch (tag) {
		case MSB_T_TOPIC:
			if (!msb_topic_ok(v, len))
				return -1;
			ev->topic = v;
			ev->topic_len = len;
			break;
		case MSB_T_DATA:
			if (len > MSB_EVDATA_MAX || memchr(v, 0, len))
				return -1;
			ev->data = v;
			ev->data_len = len;
			break;
		case MSB_T_SEQ:
			if (len != 8)
				return -1;
			ev->seq = msb_get_be64(v);
			ev->has_seq = 1;
			break;
		case MSB_T_TIME:
			if (len != 8)
				return -1;
			ev->time_ns = msb_get_be64(v);
			ev->has_time = 1;
			break;
		default:
			break;
		}
	}
	return rc < 0 || !ev->topic ? -1 : 0;
}
