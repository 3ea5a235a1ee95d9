/* SPDX-License-Identifier: Apache-2.0 */
/* vhost_user.c - the device side of vhost-user (QEMU docs/interop/vhost-user.rst)
 *
 * Theory of operation: QEMU, the front-end, drives a strict
 * request/reply exchange on the socket; each message is a 12-byte header
 * (request, flags, payload size) and a payload, with descriptors riding
 * along as SCM_RIGHTS. QEMU is our own child and trusted to speak the
 * protocol, but the sizes and indexes it sends are still checked, so a
 * confused front-end costs the link, never memory safety.
 *
 * A queue runs once it has a kick eventfd and is enabled ("started" and
 * "enabled" in the spec's terms; rings start disabled when
 * VHOST_USER_F_PROTOCOL_FEATURES is negotiated), and stops at
 * GET_VRING_BASE. Guest memory comes as memfds in SET_MEM_TABLE, mapped
 * shared; ring addresses are in QEMU's address space, buffers in guest
 * physical addresses, both translated by virtqueue.c.
 */

#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#include "vhost_user.h"

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
};

#define VU_VERSION 1
#define VU_FLAG_VERSION_MASK 3
#define VU_FLAG_REPLY 4
#define VU_FLAG_NEED_REPLY 8
#define VU_F_PROTOCOL_FEATURES 30
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_VRING_INDEX_MASK 0xff
#define VU_VRING_NOFD 0x100

/* What we offer. Packed rings and IOMMU are not. */
#define VU_FEATURES                                                         \
	(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_INDIRECT_DESC | \
	 1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VU_F_PROTOCOL_FEATURES)
#define VU_PROTOCOL (1ull << VU_PROTOCOL_F_MQ | 1ull << VU_PROTOCOL_F_REPLY_ACK)

struct vu_hdr {
	uint32_t request, flags, size;
};

struct vu_region_msg {
	uint64_t gpa, size, uva, mmap_offset;
};

struct vu_msg {
	struct vu_hdr h;
	union {
		uint64_t u64;
		struct {
			uint32_t index, num;
		} state;
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} addr;
		struct {
			uint32_t nregions, padding;
			struct vu_region_msg r[VQ_MAX_REGIONS];
		} mem;
		uint8_t raw[VU_MSG_MAX];
	};
	int fds[VQ_MAX_REGIONS];
	int nfds;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void queue_stop(struct vu_dev *d, unsigned int i)
{
	struct vu_queue *q = &d->q[i];

	if (q->kick >= 0 && d->watch)
		d->watch(d->opaque, i, -1);
	close_fd(&q->kick);
	q->started = 0;
}

static void flush_queue(struct vu_dev *d, unsigned int qi);

static void queue_reset(struct vu_dev *d, unsigned int i)
{
	struct vu_queue *q = &d->q[i];

	flush_queue(d, i);
	queue_stop(d, i);
	close_fd(&q->call);
	close_fd(&q->err);
	memset(&q->vq, 0, sizeof(q->vq));
	q->enabled = 0;
}

static void mem_unmap(struct vu_dev *d)
{
	for (unsigned int i = 0; i < VQ_MAX_REGIONS; i++) {
		if (d->maps[i])
			munmap(d->maps[i], d->map_len[i]);
		d->maps[i] = NULL;
	}
	memset(&d->mem, 0, sizeof(d->mem));
	for (unsigned int i = 0; i < d->nqueues; i++) {
		d->q[i].vq.desc = NULL;
		d->q[i].vq.avail = NULL;
		d->q[i].vq.used = NULL;
	}
}

int vu_dev_init(struct vu_dev *d, int fd, unsigned int nqueues,
		vu_handler handle, vu_watch watch, void *opaque)
{
	memset(d, 0, sizeof(*d));
	d->fd = fd;
	if (!nqueues || nqueues > VU_MAX_QUEUES)
		return -EINVAL;
	d->nqueues = nqueues;
	d->handle = handle;
	d->watch = watch;
	d->opaque = opaque;
	for (unsigned int i = 0; i < VU_MAX_QUEUES; i++)
		d->q[i].kick = d->q[i].call = d->q[i].err = -1;
	d->chain = malloc(sizeof(*d->chain));
	return d->chain ? 0 : -ENOMEM;
}

void vu_dev_free(struct vu_dev *d)
{
	for (unsigned int i = 0; i < d->nqueues; i++)
		queue_reset(d, i);
	mem_unmap(d);
	close_fd(&d->fd);
	free(d->chain);
	d->chain = NULL;
}

/* recv_msg() - one whole message and its descriptors. */
static int recv_msg(struct vu_dev *d, struct vu_msg *m)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VQ_MAX_REGIONS)];
	struct iovec iov = { &m->h, sizeof(m->h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	m->nfds = 0;
	do
		n = recvmsg(d->fd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(fd));
			if (m->nfds < VQ_MAX_REGIONS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0)
		return msb_fail(&d->err, VU_CLOSED,
				"the VMM closed the vhost-user socket");
	if (n < 0)
		return msb_fail_errno(&d->err, -errno, "vhost-user socket");
	if (n != sizeof(m->h) || (mh.msg_flags & MSG_CTRUNC))
		return msb_fail(&d->err, -EPROTO,
				"truncated vhost-user header");
	if ((m->h.flags & VU_FLAG_VERSION_MASK) != VU_VERSION)
		return msb_fail(&d->err, -EPROTO,
				"vhost-user version %u, want %u",
				m->h.flags & VU_FLAG_VERSION_MASK, VU_VERSION);
	if (m->h.size > VU_MSG_MAX)
		return msb_fail(&d->err, -EPROTO,
				"vhost-user message %u: %u bytes",
				m->h.request, m->h.size);
	if (!m->h.size)
		return 0;
	do
		n = recv(d->fd, m->raw, m->h.size, MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)m->h.size)
		return msb_fail(&d->err, -EPROTO,
				"truncated vhost-user message %u",
				m->h.request);
	return 0;
}

static int send_reply(struct vu_dev *d, const struct vu_msg *req,
		      const void *payload, uint32_t n)
{
	struct {
		struct vu_hdr h;
		uint8_t p[VU_MSG_MAX];
	} r;
	size_t len = sizeof(r.h) + n;

	r.h.request = req->h.request;
	r.h.flags = VU_VERSION | VU_FLAG_REPLY;
	r.h.size = n;
	memcpy(r.p, payload, n);
	if (send(d->fd, &r, len, MSG_NOSIGNAL) != (ssize_t)len)
		return msb_fail(&d->err, -EPIPE, "vhost-user reply: %s",
				strerror(errno));
	return 0;
}

static int reply_u64(struct vu_dev *d, const struct vu_msg *m, uint64_t v)
{
	return send_reply(d, m, &v, sizeof(v));
}

/* need() - the payload is at least @n bytes. */
static int need(struct vu_dev *d, const struct vu_msg *m, uint32_t n)
{
	if (m->h.size < n)
		return msb_fail(&d->err, -EPROTO,
				"vhost-user message %u: %u bytes, want %u",
				m->h.request, m->h.size, n);
	return 0;
}

static struct vu_queue *queue_at(struct vu_dev *d, uint32_t index)
{
	if (index >= d->nqueues) {
		msb_fail(&d->err, -ERANGE, "vhost-user: queue %u of %u",
			 index, d->nqueues);
		return NULL;
	}
	return &d->q[index];
}

/* set_mem_table() - map the regions; the old map goes once the new one is
 * in (rings are re-translated through it). */
static int set_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	struct vq_mem mem = { 0 };
	struct stat st;
	void *maps[VQ_MAX_REGIONS] = { 0 };
	size_t lens[VQ_MAX_REGIONS] = { 0 };
	uint32_t n;

	if (need(d, m, 8))
		return -EPROTO;
	n = m->mem.nregions;
	if (n > VQ_MAX_REGIONS || m->h.size < 8 + n * sizeof(m->mem.r[0]))
		return msb_fail(&d->err, -EPROTO,
				"SET_MEM_TABLE: %u regions in %u bytes", n,
				m->h.size);
	if ((int)n != m->nfds)
		return msb_fail(&d->err, -EINVAL,
				"SET_MEM_TABLE: %u regions, %d descriptors", n,
				m->nfds);
	for (uint32_t i = 0; i < n; i++) {
		const struct vu_region_msg *r = &m->mem.r[i];
		uint64_t len = r->size + r->mmap_offset;
		void *p;

		if (!r->size || len < r->size || len > SIZE_MAX ||
		    r->gpa + r->size < r->gpa || r->uva + r->size < r->uva) {
			msb_fail(&d->err, -EINVAL,
				 "SET_MEM_TABLE: region %u does not fit", i);
			goto fail;
		}
		/* Pages past the end of the file would map, but touching
		 * them kills this process (SIGBUS): a region must lie
		 * within its memfd (found by fuzz/vhost_user.c). */
		if (fstat(m->fds[i], &st) < 0 || st.st_size < 0 ||
		    (uint64_t)st.st_size < len) {
			msb_fail(&d->err, -EINVAL,
				 "SET_MEM_TABLE: region %u (%llu bytes at "
				 "offset %llu) is larger than its file", i,
				 (unsigned long long)r->size,
				 (unsigned long long)r->mmap_offset);
			goto fail;
		}
		p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_NORESERVE, m->fds[i], 0);
		if (p == MAP_FAILED) {
			msb_fail(&d->err, -errno,
				 "SET_MEM_TABLE: mmap region %u: %s (guest RAM "
				 "must be memfd-backed with share=on)", i,
				 strerror(errno));
			goto fail;
		}
		maps[i] = p;
		lens[i] = (size_t)len;
		mem.r[i] = (struct vq_region){ r->gpa, r->size, r->uva,
					       (uint8_t *)p + r->mmap_offset };
	}
	mem.n = n;
	vu_flush(d); /* while the rings it reads are still mapped */
	mem_unmap(d);
	memcpy(d->maps, maps, sizeof(maps));
	memcpy(d->map_len, lens, sizeof(lens));
	d->mem = mem;
	for (unsigned int i = 0; i < d->nqueues; i++)
		if (d->q[i].vq.num && d->q[i].vq.desc_uva)
			vq_map(&d->q[i].vq, &d->mem);
	return 0;
fail:
	for (uint32_t i = 0; i < n; i++)
		if (maps[i])
			munmap(maps[i], lens[i]);
	return -EINVAL;
}

/* take_fd() - the descriptor of a SET_VRING_KICK/CALL/ERR message. */
static int take_fd(struct vu_dev *d, struct vu_msg *m, struct vu_queue **q)
{
	int fd;

	if (need(d, m, 8))
		return -EPROTO;
	*q = queue_at(d, (uint32_t)(m->u64 & VU_VRING_INDEX_MASK));
	if (!*q)
		return -ERANGE;
	if (m->u64 & VU_VRING_NOFD)
		return -1;
	if (m->nfds != 1)
		return msb_fail(&d->err, -EPROTO,
				"vring descriptor message without an fd");
	fd = m->fds[0];
	m->nfds = 0;
	return fd;
}

static int serve(struct vu_dev *d, unsigned int qi);

/* handle() - act on one message. Return: 1 if it carried its own reply,
 * 0 done, -errno failed. */
static int handle(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_queue *q;
	int fd, r;
	unsigned int qi;

	switch (m->h.request) {
	case VU_GET_FEATURES:
		return reply_u64(d, m, VU_FEATURES | d->dev_features) ?: 1;
	case VU_SET_FEATURES:
		if (need(d, m, 8))
			return -EPROTO;
		if (m->u64 & ~(VU_FEATURES | d->dev_features))
			return msb_fail(&d->err, -EINVAL,
					"SET_FEATURES: unoffered bits %#llx",
					(unsigned long long)(m->u64 &
					~(VU_FEATURES | d->dev_features)));
		d->features = m->u64;
		for (unsigned int i = 0; i < d->nqueues; i++)
			d->q[i].vq.features = d->features;
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		return reply_u64(d, m, VU_PROTOCOL) ?: 1;
	case VU_SET_PROTOCOL_FEATURES:
		if (need(d, m, 8))
			return -EPROTO;
		d->protocol = m->u64 & VU_PROTOCOL;
		return 0;
	case VU_GET_QUEUE_NUM:
		return reply_u64(d, m, d->nqueues) ?: 1;
	case VU_SET_OWNER:
		return 0;
	case VU_RESET_OWNER:
		for (unsigned int i = 0; i < d->nqueues; i++)
			queue_reset(d, i);
		d->features = 0;
		return 0;
	case VU_SET_MEM_TABLE:
		return set_mem_table(d, m);
	case VU_SET_VRING_NUM:
		if (need(d, m, 8))
			return -EPROTO;
		if (!(q = queue_at(d, m->state.index)))
			return -ERANGE;
		if (!m->state.num || m->state.num > VQ_MAX_SIZE ||
		    (m->state.num & (m->state.num - 1)))
			return msb_fail(&d->err, -EINVAL,
					"SET_VRING_NUM: size %u",
					m->state.num);
		q->vq.num = m->state.num;
		/* A ring already addressed was checked against guest memory
		 * for its old size: check it again for this one, or stop
		 * using it (a bigger size would reach past it). */
		if (q->vq.desc && vq_map(&q->vq, &d->mem))
			return msb_fail(&d->err, -EINVAL,
					"SET_VRING_NUM: queue %u: %s",
					m->state.index, q->vq.broken);
		return 0;
	case VU_SET_VRING_ADDR:
		if (need(d, m, sizeof(m->addr)))
			return -EPROTO;
		if (!(q = queue_at(d, m->addr.index)))
			return -ERANGE;
		q->vq.desc_uva = m->addr.desc;
		q->vq.used_uva = m->addr.used;
		q->vq.avail_uva = m->addr.avail;
		if (vq_map(&q->vq, &d->mem))
			return msb_fail(&d->err, -EINVAL,
					"SET_VRING_ADDR: queue %u: %s",
					m->addr.index, q->vq.broken);
		/* The used index is where the last owner of the ring left it. */
		q->vq.used_idx = le16toh(*(volatile uint16_t *)(q->vq.used + 2));
		return 0;
	case VU_SET_VRING_BASE:
		if (need(d, m, 8))
			return -EPROTO;
		if (!(q = queue_at(d, m->state.index)))
			return -ERANGE;
		q->vq.last_avail = (uint16_t)m->state.num;
		return 0;
	case VU_GET_VRING_BASE:
		if (need(d, m, 8))
			return -EPROTO;
		if (!(q = queue_at(d, m->state.index)))
			return -ERANGE;
		qi = m->state.index;
		flush_queue(d, qi);
		queue_stop(d, qi);
		close_fd(&q->call);
		m->state.num = q->vq.last_avail;
		return send_reply(d, m, &m->state, sizeof(m->state)) ?: 1;
	case VU_SET_VRING_KICK:
		fd = take_fd(d, m, &q);
		if (fd < -1)
			return fd;
		if (fd < 0)
			return msb_fail(&d->err, -ENOTSUP,
					"polled rings are not supported");
		qi = (unsigned int)(q - d->q);
		queue_stop(d, qi);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		q->kick = fd;
		q->started = 1;
		/* Without protocol features a ring is enabled at once. */
		if (!(d->features & (1ull << VU_F_PROTOCOL_FEATURES)))
			q->enabled = 1;
		if (d->watch)
			d->watch(d->opaque, qi, fd);
		/* The guest may have queued requests already. */
		r = serve(d, qi);
		return r < 0 ? r : 0;
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		fd = take_fd(d, m, &q);
		if (fd < -1)
			return fd;
		if (m->h.request == VU_SET_VRING_CALL) {
			close_fd(&q->call);
			q->call = fd;
		} else {
			close_fd(&q->err);
			q->err = fd;
		}
		return 0;
	case VU_SET_VRING_ENABLE:
		if (need(d, m, 8))
			return -EPROTO;
		if (!(q = queue_at(d, m->state.index)))
			return -ERANGE;
		q->enabled = !!m->state.num;
		r = q->enabled ? serve(d, m->state.index) : 0;
		return r < 0 ? r : 0;
	case VU_SET_LOG_BASE:
	case VU_SET_LOG_FD:
		return msb_fail(&d->err, -ENOTSUP,
				"dirty logging (migration) is not supported "
				"by msb's vhost-user devices");
	default:
		return msb_fail(&d->err, -ENOTSUP,
				"vhost-user request %u not supported",
				m->h.request);
	}
}

int vu_on_socket(struct vu_dev *d)
{
	struct vu_msg m;
	int r;

	memset(&m.h, 0, sizeof(m.h));
	r = recv_msg(d, &m);
	if (r == 0) {
		r = handle(d, &m);
		/* REPLY_ACK: a status for every message that asked for one
		 * and carries no reply of its own (0 = success). */
		if (r <= 0 && (m.h.flags & VU_FLAG_NEED_REPLY) &&
		    (d->protocol & (1ull << VU_PROTOCOL_F_REPLY_ACK)) &&
		    reply_u64(d, &m, r < 0))
			r = -EPIPE;
		/* Unsupported requests fail that request, not the link. */
		if (r == -ENOTSUP || r == -ERANGE || r == -EINVAL)
			r = 0;
		else if (r > 0)
			r = 0;
	}
	for (int i = 0; i < m.nfds; i++)
		close(m.fds[i]);
	return r;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return;
}

/* flush_queue() - send queue @qi's held-back interrupt, if the driver
 * wants it for the entries used since it was held. */
static void flush_queue(struct vu_dev *d, unsigned int qi)
{
	struct vu_queue *q = &d->q[qi];

	if (!q->owed)
		return;
	q->owed = 0;
	if (q->vq.used && vq_need_notify(&q->vq, q->owed_from))
		signal_fd(q->call);
}

void vu_flush(struct vu_dev *d)
{
	for (unsigned int i = 0; i < d->nqueues; i++)
		flush_queue(d, i);
}

int vu_owed(const struct vu_dev *d)
{
	for (unsigned int i = 0; i < d->nqueues; i++)
		if (d->q[i].owed)
			return 1;
	return 0;
}

/* notify() - interrupt the driver of queue @qi if it wants one for the
 * entries from @old on; the interrupts held back for lazy queues go with
 * it (one wakeup of the VMM, and on virtio-mmio one interrupt, for all). */
static void notify(struct vu_dev *d, unsigned int qi, uint16_t old)
{
	if (!vq_need_notify(&d->q[qi].vq, old))
		return;
	signal_fd(d->q[qi].call);
	vu_flush(d);
}

/* serve() - up to VU_BATCH chains of queue @qi; more left wakes us again. */
static int serve(struct vu_dev *d, unsigned int qi)
{
	struct vu_queue *q = &d->q[qi];
	uint16_t old = q->vq.used_idx;
	int r = 0, n = 0;

	if (!q->started || !q->enabled || !q->vq.desc || q->vq.broken)
		return 0;
	if (d->manual & (1u << qi)) {
		if (d->ready)
			d->ready(d->opaque, qi);
		return 0;
	}
	while (n < VU_BATCH && (!d->gate || d->gate(d->opaque, qi)) &&
	       (r = vq_pop(&q->vq, &d->mem, d->chain)) == 1) {
		struct vq_chain *c = d->chain;
		size_t len = d->handle(d->opaque, qi, c->in, c->nin, c->out,
				       c->nout);

		if (len > c->out_bytes)
			len = (size_t)c->out_bytes;
		vq_push(&q->vq, c->head, (uint32_t)len);
		d->served++;
		n++;
	}
	if (n && (d->lazy & (1u << qi))) {
		if (!q->owed) {
			q->owed = 1;
			q->owed_from = old;
		}
		/* a driver that sends many (an inode cache dropped) gets
		 * its buffers back before the ring runs dry */
		if ((uint16_t)(q->vq.used_idx - q->owed_from) >= q->vq.num / 2)
			flush_queue(d, qi);
	} else if (n) {
		notify(d, qi, old);
	}
	if (r < 0) {
		signal_fd(q->err);
		return msb_fail(&d->err, -EINVAL, "queue %u stopped: %s",
				qi, q->vq.broken);
	}
	/* Fairness: a full batch leaves the rest for the next turn of the
	 * loop, which our own kick brings back here. */
	if (n == VU_BATCH && (!d->gate || d->gate(d->opaque, qi)))
		signal_fd(q->kick);
	return 0;
}

struct vq *vu_queue_live(struct vu_dev *d, unsigned int qi)
{
	struct vu_queue *q;

	if (qi >= d->nqueues)
		return NULL;
	q = &d->q[qi];
	if (!q->started || !q->enabled || !q->vq.desc || q->vq.broken)
		return NULL;
	return &q->vq;
}

void vu_notify(struct vu_dev *d, unsigned int qi, uint16_t old_used)
{
	if (qi < d->nqueues)
		notify(d, qi, old_used);
}

int vu_on_kick(struct vu_dev *d, unsigned int qi)
{
	uint64_t v;

	if (qi >= d->nqueues)
		return -EINVAL;
	if (d->q[qi].kick >= 0 &&
	    read(d->q[qi].kick, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	return serve(d, qi);
}
