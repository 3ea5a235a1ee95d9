/* SPDX-License-Identifier: Apache-2.0 */
/* virtqueue.c - split virtqueues over shared guest memory (virtio 1.2 §2.7)
 *
 * Theory of operation: the rings live in guest memory, which the guest can
 * change under us at any moment. Every field is therefore read once, into a
 * local, and checked there (no double fetch): ring indexes against the
 * queue size, descriptor indexes against the table, each buffer against the
 * mapped regions (a buffer crossing from one region into the next becomes
 * two iovecs), chain length against the table size (a loop cannot spin),
 * segments and bytes against fixed caps. A guest that breaks a rule gets the
 * queue marked broken and nothing more.
 */

#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtqueue.h"

static int region_find(const struct vq_mem *m, uint64_t a, int by_uva)
{
	for (unsigned int i = 0; i < m->n && i < VQ_MAX_REGIONS; i++) {
		const struct vq_region *r = &m->r[i];
		uint64_t base = by_uva ? r->uva : r->gpa;

		if (a >= base && a - base < r->size)
			return (int)i;
	}
	return -1;
}

static void *mem_xlate(const struct vq_mem *m, uint64_t a, uint64_t len,
		       int by_uva)
{
	int i = region_find(m, a, by_uva);
	const struct vq_region *r;
	uint64_t off;

	if (i < 0)
		return NULL;
	r = &m->r[i];
	off = a - (by_uva ? r->uva : r->gpa);
	if (len > r->size - off)
		return NULL;
	return r->host + off;
}

void *vq_mem_gpa(const struct vq_mem *m, uint64_t gpa, uint64_t len)
{
	return mem_xlate(m, gpa, len, 0);
}

void *vq_mem_uva(const struct vq_mem *m, uint64_t uva, uint64_t len)
{
	return mem_xlate(m, uva, len, 1);
}

static int fail(struct vq *q, const char *why)
{
	q->broken = why;
	return -EINVAL;
}

int vq_map(struct vq *q, const struct vq_mem *m)
{
	uint64_t n = q->num;

	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
	if (!n || n > VQ_MAX_SIZE || (n & (n - 1)))
		return fail(q, "queue size is not a power of two up to 32768");
	/* virtio 1.2 §2.7: alignment of the three parts */
	if ((q->desc_uva & 15) || (q->avail_uva & 1) || (q->used_uva & 3))
		return fail(q, "ring address misaligned");
	q->desc = vq_mem_uva(m, q->desc_uva, 16 * n);
	q->avail = vq_mem_uva(m, q->avail_uva, 6 + 2 * n);
	q->used = vq_mem_uva(m, q->used_uva, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used) {
		q->desc = NULL;
		q->avail = NULL;
		q->used = NULL;
		return fail(q, "ring outside guest memory");
	}
	q->broken = NULL;
	return 0;
}

static uint16_t avail_idx(const struct vq *q)
{
	return le16toh(__atomic_load_n(&q->avail[1], __ATOMIC_ACQUIRE));
}

/* add_buf() - one descriptor's buffer as iovecs, split at region ends. */
static int add_buf(struct vq *q, const struct vq_mem *m, struct vq_chain *c,
		   uint64_t addr, uint32_t len, int writable)
{
	uint64_t *total = writable ? &c->out_bytes : &c->in_bytes;

	if (writable == 0 && c->nout)
		return fail(q, "device-readable buffer after a writable one");
	if (len > VQ_MAX_BYTES - *total)
		return fail(q, "chain describes too many bytes");
	*total += len;
	while (len) {
		int i = region_find(m, addr, 0);
		const struct vq_region *r;
		uint64_t off, piece;
		struct iovec *iov;
		int *nseg = writable ? &c->nout : &c->nin;

		if (i < 0)
			return fail(q, "buffer outside guest memory");
		r = &m->r[i];
		off = addr - r->gpa;
		piece = r->size - off < len ? r->size - off : len;
		if (c->nin + c->nout >= VQ_MAX_SEGS)
			return fail(q, "chain has too many segments");
		iov = writable ? &c->out[*nseg] : &c->in[*nseg];
		iov->iov_base = r->host + off;
		iov->iov_len = (size_t)piece;
		(*nseg)++;
		addr += piece;
		len -= (uint32_t)piece;
	}
	return 0;
}

/* read_desc() - one descriptor, copied out of guest memory once. */
static void read_desc(const volatile void *src, struct vq_desc *d)
{
	memcpy(d, (const void *)src, sizeof(*d));
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* walk_indirect() - virtio 1.2 §2.7.5.3: a table of descriptors in one
 * buffer; no nesting, no NEXT leaving the table. */
static int walk_indirect(struct vq *q, const struct vq_mem *m,
			 struct vq_chain *c, const struct vq_desc *d)
{
	const uint8_t *table;
	unsigned int n, i, steps = 0;

	if (!(q->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)))
		return fail(q, "indirect descriptor not negotiated");
	if (d->len == 0 || d->len % sizeof(struct vq_desc))
		return fail(q, "indirect table length not a multiple of 16");
	n = d->len / sizeof(struct vq_desc);
	if (n > VQ_MAX_SEGS)
		return fail(q, "indirect table too long");
	table = vq_mem_gpa(m, d->addr, d->len);
	if (!table)
		return fail(q, "indirect table outside guest memory");
	for (i = 0;;) {
		struct vq_desc e;

		if (++steps > n)
			return fail(q, "loop in an indirect table");
		read_desc(table + (size_t)i * sizeof(e), &e);
		if (e.flags & VQ_DESC_F_INDIRECT)
			return fail(q, "indirect descriptor inside an indirect table");
		if (add_buf(q, m, c, e.addr, e.len, !!(e.flags & VQ_DESC_F_WRITE)))
			return -EINVAL;
		if (!(e.flags & VQ_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return fail(q, "indirect next index out of range");
		i = e.next;
	}
}

int vq_pop(struct vq *q, const struct vq_mem *m, struct vq_chain *c)
{
	uint16_t idx, head, i;
	unsigned int steps = 0;

	if (q->broken)
		return -EINVAL;
	if (!q->desc)
		return 0;
	idx = avail_idx(q);
	if ((uint16_t)(idx - q->last_avail) > q->num)
		return fail(q, "available index moved by more than the queue size");
	if (idx == q->last_avail) {
		if (!(q->features & (1ull << VIRTIO_RING_F_EVENT_IDX)))
			return 0;
		/* §2.7.10: ask for a kick at the next entry, then look again
		 * so that one made meanwhile is not missed. */
		__atomic_store_n((uint16_t *)(q->used + 4 + 8 * (size_t)q->num),
				 htole16(q->last_avail), __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		idx = avail_idx(q);
		if (idx == q->last_avail)
			return 0;
		if ((uint16_t)(idx - q->last_avail) > q->num)
			return fail(q, "available index moved by more than the queue size");
	}
	head = le16toh(__atomic_load_n(&q->avail[2 + q->last_avail % q->num],
				       __ATOMIC_RELAXED));
	if (head >= q->num)
		return fail(q, "head index out of range");
	q->last_avail++;
	c->head = head;
	c->nin = c->nout = 0;
	c->in_bytes = c->out_bytes = 0;
	for (i = head;;) {
		struct vq_desc d;

		/* §2.7.5.2: a chain is no longer than the queue. */
		if (++steps > q->num)
			return fail(q, "descriptor chain loops");
		read_desc(&q->desc[i], &d);
		if (d.flags & VQ_DESC_F_INDIRECT) {
			/* §2.7.5.3.1: INDIRECT and NEXT are exclusive. */
			if (d.flags & VQ_DESC_F_NEXT)
				return fail(q, "indirect descriptor with NEXT");
			return walk_indirect(q, m, c, &d) ? -EINVAL : 1;
		}
		if (add_buf(q, m, c, d.addr, d.len, !!(d.flags & VQ_DESC_F_WRITE)))
			return -EINVAL;
		if (!(d.flags & VQ_DESC_F_NEXT))
			return 1;
		if (d.next >= q->num)
			return fail(q, "next index out of range");
		i = d.next;
	}
}

void vq_push(struct vq *q, uint16_t head, uint32_t len)
{
	volatile uint8_t *e;
	uint32_t v[2] = { htole32(head), htole32(len) };

	if (!q->used)
		return;
	e = q->used + 4 + 8 * (size_t)(q->used_idx % q->num);
	memcpy((void *)e, v, sizeof(v));
	q->used_idx++;
	/* §2.7.8: the entry is visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(q->used + 2), htole16(q->used_idx),
			 __ATOMIC_RELEASE);
}

int vq_need_notify(const struct vq *q, uint16_t old_used)
{
	uint16_t ev, now = q->used_idx;

	if (!q->avail)
		return 0;
	/* The driver's flags or used_event are read after our index write. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(q->features & (1ull << VIRTIO_RING_F_EVENT_IDX)))
		return !(le16toh(q->avail[0]) & VQ_AVAIL_F_NO_INTERRUPT);
	ev = le16toh(q->avail[2 + q->num]);
	/* §2.7.10.2: interrupt if used_event lies in [old_used, now). */
	return (uint16_t)(now - ev - 1) < (uint16_t)(now - old_used);
}
