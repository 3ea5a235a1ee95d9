/* SPDX-License-Identifier: Apache-2.0 */
/* test_virtq.c - the virtqueue walker against hostile rings, and the
 * vhost-user device driven over a real socket as QEMU drives it */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "vhost_user.h"
#include "virtqueue.h"

/* Guest memory: region 0 at gpa 0 (64 KiB), a hole, region 1 right after
 * it at gpa 64 KiB in the guest but elsewhere in the host. */
#define R0 0x10000
#define R1 0x1000
#define DESC 0x0
#define AVAIL 0x1000
#define USED 0x2000
#define UVA 0x7f0000000000ull

struct ring {
	uint8_t *r0, *r1;
	struct vq_mem m;
	struct vq q;
	struct vq_chain c;
};

static void ring_init(struct ring *t, unsigned int num, uint64_t features)
{
	memset(t, 0, sizeof(*t));
	t->r0 = calloc(1, R0);
	t->r1 = calloc(1, R1);
	t->m.r[0] = (struct vq_region){ 0, R0, UVA, t->r0 };
	t->m.r[1] = (struct vq_region){ R0, R1, UVA + 0x100000, t->r1 };
	t->m.n = 2;
	t->q.num = num;
	t->q.features = features;
	t->q.desc_uva = UVA + DESC;
	t->q.avail_uva = UVA + AVAIL;
	t->q.used_uva = UVA + USED;
	CHECK_EQ_INT(vq_map(&t->q, &t->m), 0);
}

static void ring_free(struct ring *t)
{
	free(t->r0);
	free(t->r1);
}

static void put_desc(uint8_t *table, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	struct vq_desc d = { addr, len, flags, next };

	memcpy(table + 16 * i, &d, sizeof(d));
}

/* make_avail() - publish @head as the next available chain. */
static void make_avail(struct ring *t, uint16_t head)
{
	uint16_t idx;

	memcpy(&idx, t->r0 + AVAIL + 2, 2);
	memcpy(t->r0 + AVAIL + 4 + 2 * (idx % t->q.num), &head, 2);
	idx++;
	memcpy(t->r0 + AVAIL + 2, &idx, 2);
}

TEST(virtq_direct_chain_points_into_guest_memory)
{
	struct ring t;
	uint32_t used[2];
	uint16_t uidx;

	ring_init(&t, 8, 0);
	memcpy(t.r0 + 0x3000, "request", 7);
	put_desc(t.r0, 0, 0x3000, 7, VQ_DESC_F_NEXT, 3);
	put_desc(t.r0, 3, 0x4000, 100, VQ_DESC_F_WRITE, 0);
	make_avail(&t, 0);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), 1);
	CHECK_EQ_INT(t.c.head, 0);
	CHECK_EQ_INT(t.c.nin, 1);
	CHECK_EQ_INT(t.c.nout, 1);
	CHECK(t.c.in[0].iov_base == t.r0 + 0x3000);
	CHECK_MEM(t.c.in[0].iov_base, "request", 7);
	CHECK(t.c.out[0].iov_base == t.r0 + 0x4000);
	CHECK_EQ_INT(t.c.out_bytes, 100);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), 0);
	vq_push(&t.q, 0, 42);
	memcpy(&uidx, t.r0 + USED + 2, 2);
	memcpy(used, t.r0 + USED + 4, 8);
	CHECK_EQ_INT(uidx, 1);
	CHECK_EQ_INT(used[0], 0);
	CHECK_EQ_INT(used[1], 42);
	CHECK(vq_need_notify(&t.q, 0));
	ring_free(&t);
}

TEST(virtq_buffer_across_regions_splits)
{
	struct ring t;

	ring_init(&t, 4, 0);
	/* ends 16 bytes into region 1 */
	put_desc(t.r0, 0, R0 - 16, 32, VQ_DESC_F_WRITE, 0);
	make_avail(&t, 0);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), 1);
	CHECK_EQ_INT(t.c.nout, 2);
	CHECK(t.c.out[0].iov_base == t.r0 + R0 - 16);
	CHECK_EQ_INT(t.c.out[0].iov_len, 16);
	CHECK(t.c.out[1].iov_base == t.r1);
	CHECK_EQ_INT(t.c.out[1].iov_len, 16);
	ring_free(&t);
}

/* hostile() - one bad chain at head 0: vq_pop refuses it, says why, and
 * the queue stays dead. */
static void hostile(struct ring *t, const char *why)
{
	make_avail(t, 0);
	CHECK_EQ_INT(vq_pop(&t->q, &t->m, &t->c), -EINVAL);
	CHECK_CONTAINS(t->q.broken, why);
	CHECK_EQ_INT(vq_pop(&t->q, &t->m, &t->c), -EINVAL);
	ring_free(t);
}

TEST(virtq_refuses_loops)
{
	struct ring t;

	ring_init(&t, 8, 0);
	put_desc(t.r0, 0, 0x3000, 1, VQ_DESC_F_NEXT, 1);
	put_desc(t.r0, 1, 0x3000, 1, VQ_DESC_F_NEXT, 0);
	hostile(&t, "loops");
}

TEST(virtq_refuses_next_out_of_range)
{
	struct ring t;

	ring_init(&t, 8, 0);
	put_desc(t.r0, 0, 0x3000, 1, VQ_DESC_F_NEXT, 8);
	hostile(&t, "next index");
}

TEST(virtq_refuses_head_out_of_range)
{
	struct ring t;

	ring_init(&t, 8, 0);
	memcpy(t.r0 + AVAIL + 4, &(uint16_t){ 9 }, 2);
	memcpy(t.r0 + AVAIL + 2, &(uint16_t){ 1 }, 2);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), -EINVAL);
	CHECK_CONTAINS(t.q.broken, "head index");
	ring_free(&t);
}

TEST(virtq_refuses_avail_index_jump)
{
	struct ring t;

	ring_init(&t, 8, 0);
	memcpy(t.r0 + AVAIL + 2, &(uint16_t){ 9 }, 2);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), -EINVAL);
	CHECK_CONTAINS(t.q.broken, "available index");
	ring_free(&t);
}

TEST(virtq_refuses_addresses_outside_memory)
{
	struct ring t;

	/* in the hole between the regions */
	ring_init(&t, 8, 0);
	put_desc(t.r0, 0, R0 + R1 + 8, 8, 0, 0);
	hostile(&t, "outside guest memory");
	/* running off the end of the last region */
	ring_init(&t, 8, 0);
	put_desc(t.r0, 0, R0 + R1 - 8, 16, VQ_DESC_F_WRITE, 0);
	hostile(&t, "outside guest memory");
	/* addr + len wraps around 2^64 */
	ring_init(&t, 8, 0);
	put_desc(t.r0, 0, UINT64_MAX - 4, 0x1000, 0, 0);
	hostile(&t, "outside guest memory");
}

TEST(virtq_refuses_readable_after_writable)
{
	struct ring t;

	ring_init(&t, 8, 0);
	put_desc(t.r0, 0, 0x3000, 8, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
	put_desc(t.r0, 1, 0x3100, 8, 0, 0);
	hostile(&t, "readable buffer after a writable");
}

TEST(virtq_refuses_huge_totals)
{
	const size_t big = 4u << 20;
	struct ring t;
	uint8_t *mem = mmap(NULL, big, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	/* 200 descriptors of 2 MiB each over the same bytes: 400 MiB */
	ring_init(&t, 256, 0);
	t.m.r[0] = (struct vq_region){ 0, big, UVA, mem };
	t.m.n = 1;
	CHECK_EQ_INT(vq_map(&t.q, &t.m), 0);
	for (unsigned int i = 0; i < 200; i++)
		put_desc(mem, i, 0x100000, 2u << 20, VQ_DESC_F_NEXT,
			 (uint16_t)(i + 1));
	memcpy(mem + AVAIL + 2, &(uint16_t){ 1 }, 2);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), -EINVAL);
	CHECK_CONTAINS(t.q.broken, "too many bytes");
	ring_free(&t);
	munmap(mem, big);
}

TEST(virtq_indirect_tables)
{
	const uint64_t ind = 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	struct ring t;

	/* a good one */
	ring_init(&t, 4, ind);
	put_desc(t.r0, 0, 0x5000, 32, VQ_DESC_F_INDIRECT, 0);
	put_desc(t.r0 + 0x5000, 0, 0x3000, 8, VQ_DESC_F_NEXT, 1);
	put_desc(t.r0 + 0x5000, 1, 0x3100, 8, VQ_DESC_F_WRITE, 0);
	make_avail(&t, 0);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), 1);
	CHECK_EQ_INT(t.c.nin, 1);
	CHECK_EQ_INT(t.c.nout, 1);
	CHECK(t.c.out[0].iov_base == t.r0 + 0x3100);
	ring_free(&t);

	/* not negotiated */
	ring_init(&t, 4, 0);
	put_desc(t.r0, 0, 0x5000, 32, VQ_DESC_F_INDIRECT, 0);
	hostile(&t, "not negotiated");

	/* nested */
	ring_init(&t, 4, ind);
	put_desc(t.r0, 0, 0x5000, 16, VQ_DESC_F_INDIRECT, 0);
	put_desc(t.r0 + 0x5000, 0, 0x5000, 16, VQ_DESC_F_INDIRECT, 0);
	hostile(&t, "inside an indirect");

	/* a loop inside the table */
	ring_init(&t, 4, ind);
	put_desc(t.r0, 0, 0x5000, 32, VQ_DESC_F_INDIRECT, 0);
	put_desc(t.r0 + 0x5000, 0, 0x3000, 8, VQ_DESC_F_NEXT, 1);
	put_desc(t.r0 + 0x5000, 1, 0x3000, 8, VQ_DESC_F_NEXT, 0);
	hostile(&t, "loop");

	/* length not a multiple of a descriptor */
	ring_init(&t, 4, ind);
	put_desc(t.r0, 0, 0x5000, 24, VQ_DESC_F_INDIRECT, 0);
	hostile(&t, "multiple of 16");

	/* INDIRECT together with NEXT */
	ring_init(&t, 4, ind);
	put_desc(t.r0, 0, 0x5000, 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
	hostile(&t, "with NEXT");

	/* the table itself outside memory */
	ring_init(&t, 4, ind);
	put_desc(t.r0, 0, R0 - 8, 16, VQ_DESC_F_INDIRECT, 0);
	hostile(&t, "table outside");
}

TEST(virtq_map_refuses_bad_rings)
{
	struct ring t;

	ring_init(&t, 8, 0);
	t.q.num = 6;
	CHECK_EQ_INT(vq_map(&t.q, &t.m), -EINVAL);
	t.q.num = 8;
	t.q.used_uva = UVA + R0 - 8; /* runs off the region */
	CHECK_EQ_INT(vq_map(&t.q, &t.m), -EINVAL);
	CHECK_CONTAINS(t.q.broken, "outside");
	t.q.used_uva = UVA + USED + 2; /* misaligned */
	CHECK_EQ_INT(vq_map(&t.q, &t.m), -EINVAL);
	CHECK(t.q.desc == NULL);
	/* a broken queue pops nothing */
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), -EINVAL);
	ring_free(&t);
}

TEST(virtq_event_idx_suppresses_interrupts)
{
	struct ring t;

	ring_init(&t, 8, 1ull << VIRTIO_RING_F_EVENT_IDX);
	put_desc(t.r0, 0, 0x3000, 8, VQ_DESC_F_WRITE, 0);
	make_avail(&t, 0);
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), 1);
	/* empty now: the device asks for a kick at entry 1 (avail_event) */
	CHECK_EQ_INT(vq_pop(&t.q, &t.m, &t.c), 0);
	CHECK_EQ_INT(*(uint16_t *)(t.r0 + USED + 4 + 8 * 8), 1);
	/* used_event = 5: the driver wants no interrupt for entry 0 */
	memcpy(t.r0 + AVAIL + 4 + 2 * 8, &(uint16_t){ 5 }, 2);
	vq_push(&t.q, 0, 0);
	CHECK(!vq_need_notify(&t.q, 0));
	/* used_event = 0: it does */
	memcpy(t.r0 + AVAIL + 4 + 2 * 8, &(uint16_t){ 0 }, 2);
	CHECK(vq_need_notify(&t.q, 0));
	ring_free(&t);
}

/* ---- vhost-user over a socketpair, QEMU's side played by the test ---- */

struct fe {
	int sock;          /* our end */
	int memfd;
	uint8_t *mem;      /* the "guest RAM", 64 KiB at gpa 0 */
	int kick, call;
	unsigned int served;
	int watched[VU_MAX_QUEUES];
};

static size_t echo_handler(void *opaque, unsigned int queue,
			   const struct iovec *in, int nin,
			   const struct iovec *out, int nout)
{
	struct fe *f = opaque;
	size_t n = 0;

	f->served++;
	if (nin >= 1 && nout >= 1) {
		n = in[0].iov_len < out[0].iov_len ? in[0].iov_len :
						     out[0].iov_len;
		memcpy(out[0].iov_base, in[0].iov_base, n);
	}
	return n;
}

static void watch_cb(void *opaque, unsigned int queue, int fd)
{
	struct fe *f = opaque;

	f->watched[queue] = fd;
}

/* fe_send() - one message with optional descriptors; and its reply. */
static int fe_send(struct fe *f, struct vu_dev *d, uint32_t req, int need_reply,
		   const void *p, uint32_t n, const int *fds, int nfds,
		   void *reply, uint32_t rn)
{
	uint8_t buf[12 + 512];
	uint32_t h[3] = { req, 1 | (need_reply ? 8 : 0), n };
	struct iovec iov = { buf, 12 + n };
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int r;

	memcpy(buf, h, 12);
	if (n)
		memcpy(buf + 12, p, n);
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	if (sendmsg(f->sock, &mh, 0) < 0)
		return -errno;
	r = vu_on_socket(d);
	if (r < 0)
		return r;
	if (reply) {
		uint8_t rb[12 + 64];
		ssize_t k = recv(f->sock, rb, sizeof(rb), MSG_DONTWAIT);

		if (k != (ssize_t)(12 + rn))
			return -EPROTO;
		memcpy(h, rb, 12);
		if (h[0] != req || !(h[1] & 4) || h[2] != rn)
			return -EPROTO;
		memcpy(reply, rb + 12, rn);
	}
	return 0;
}

/* fe_setup() - what QEMU does for a vhost-user-fs device with 2 queues. */
static void fe_setup(struct fe *f, struct vu_dev *d)
{
	uint64_t v;
	int sv[2];

	memset(f, 0, sizeof(*f));
	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->sock = sv[0];
	CHECK_EQ_INT(vu_dev_init(d, sv[1], 2, echo_handler, watch_cb, f), 0);
	f->memfd = memfd_create("guest", MFD_CLOEXEC);
	CHECK_EQ_INT(ftruncate(f->memfd, R0), 0);
	f->mem = mmap(NULL, R0, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	f->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	CHECK_EQ_INT(fe_send(f, d, 1, 0, NULL, 0, NULL, 0, &v, 8), 0);
	CHECK(v & (1ull << VIRTIO_F_VERSION_1));
	CHECK(v & (1ull << 30));
	CHECK_EQ_INT(fe_send(f, d, 15, 0, NULL, 0, NULL, 0, &v, 8), 0);
	CHECK(v & (1ull << 3)); /* REPLY_ACK */
	v = 1ull << 3 | 1;
	CHECK_EQ_INT(fe_send(f, d, 16, 0, &v, 8, NULL, 0, NULL, 0), 0);
	CHECK_EQ_INT(fe_send(f, d, 17, 0, NULL, 0, NULL, 0, &v, 8), 0);
	CHECK_EQ_INT(v, 2);
	CHECK_EQ_INT(fe_send(f, d, 3, 0, NULL, 0, NULL, 0, NULL, 0), 0);
	v = 1ull << VIRTIO_F_VERSION_1 | 1ull << 30;
	CHECK_EQ_INT(fe_send(f, d, 2, 0, &v, 8, NULL, 0, NULL, 0), 0);
	{
		/* one region: gpa 0, QEMU's address UVA, mmap_offset 0 */
		uint64_t mt[1 + 4] = { 1, 0, R0, UVA, 0 };

		CHECK_EQ_INT(fe_send(f, d, 5, 1, mt, sizeof(mt), &f->memfd, 1,
				     &v, 8), 0);
		CHECK_EQ_INT(v, 0);
	}
	{
		uint32_t st[2] = { 1, 8 };
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} a = { 1, 0, UVA + DESC, UVA + USED, UVA + AVAIL, 0 };

		CHECK_EQ_INT(fe_send(f, d, 8, 0, st, 8, NULL, 0, NULL, 0), 0);
		st[1] = 0;
		CHECK_EQ_INT(fe_send(f, d, 10, 0, st, 8, NULL, 0, NULL, 0), 0);
		CHECK_EQ_INT(fe_send(f, d, 9, 1, &a, sizeof(a), NULL, 0, &v, 8), 0);
		CHECK_EQ_INT(v, 0);
	}
	v = 1;
	CHECK_EQ_INT(fe_send(f, d, 13, 0, &v, 8, &f->call, 1, NULL, 0), 0);
	CHECK_EQ_INT(fe_send(f, d, 12, 0, &v, 8, &f->kick, 1, NULL, 0), 0);
	CHECK(f->watched[1] >= 0);
}

static void fe_free(struct fe *f, struct vu_dev *d)
{
	vu_dev_free(d);
	munmap(f->mem, R0);
	close(f->memfd);
	close(f->kick);
	close(f->call);
	close(f->sock);
}

TEST(vhost_user_serves_a_queue_after_enable)
{
	struct vu_dev d;
	struct fe f;
	uint64_t v;
	uint32_t st[2] = { 1, 1 };

	fe_setup(&f, &d);
	/* a request: "ping" in, 16 bytes out */
	memcpy(f.mem + 0x3000, "ping", 4);
	put_desc(f.mem, 0, 0x3000, 4, VQ_DESC_F_NEXT, 1);
	put_desc(f.mem, 1, 0x3100, 16, VQ_DESC_F_WRITE, 0);
	memcpy(f.mem + AVAIL + 4, &(uint16_t){ 0 }, 2);
	memcpy(f.mem + AVAIL + 2, &(uint16_t){ 1 }, 2);
	v = 1;
	CHECK_EQ_INT(write(f.kick, &v, 8), 8);
	/* the ring starts disabled (protocol features): nothing served */
	CHECK_EQ_INT(vu_on_kick(&d, 1), 0);
	CHECK_EQ_INT(f.served, 0);
	/* SET_VRING_ENABLE serves what was waiting */
	CHECK_EQ_INT(fe_send(&f, &d, 18, 0, st, 8, NULL, 0, NULL, 0), 0);
	CHECK_EQ_INT(f.served, 1);
	CHECK_MEM(f.mem + 0x3100, "ping", 4);
	CHECK_EQ_INT(*(uint16_t *)(f.mem + USED + 2), 1);
	CHECK_EQ_INT(*(uint32_t *)(f.mem + USED + 8), 4);
	CHECK_EQ_INT(read(f.call, &v, 8), 8);
	/* GET_VRING_BASE stops the ring and says where it got to */
	st[1] = 0;
	CHECK_EQ_INT(fe_send(&f, &d, 11, 0, st, 8, NULL, 0, st, 8), 0);
	CHECK_EQ_INT(st[0], 1);
	CHECK_EQ_INT(st[1], 1);
	CHECK(f.watched[1] < 0);
	fe_free(&f, &d);
}

TEST(vhost_user_refuses_bad_messages_and_survives)
{
	struct vu_dev d;
	struct fe f;
	uint64_t v;
	int lowest = unit_lowest_fd();

	fe_setup(&f, &d);
	/* a queue that does not exist: fails that request (REPLY_ACK says
	 * so), the link lives */
	{
		uint32_t st[2] = { 7, 8 };

		CHECK_EQ_INT(fe_send(&f, &d, 8, 1, st, 8, NULL, 0, &v, 8), 0);
		CHECK_EQ_INT(v, 1);
		CHECK_CONTAINS(d.err.message, "queue 7");
		CHECK_EQ_INT(d.err.code, -ERANGE);
	}
	/* a table with more regions than descriptors */
	{
		uint64_t mt[1 + 8] = { 2, 0, R0, UVA, 0, R0, R0, UVA + R0, 0 };

		CHECK_EQ_INT(fe_send(&f, &d, 5, 1, mt, sizeof(mt), &f.memfd, 1,
				     &v, 8), 0);
		CHECK_EQ_INT(v, 1);
	}
	/* a region larger than its memfd: mapping it would "work", and the
	 * first touch past the file's end would kill the process (SIGBUS) */
	{
		uint64_t mt[1 + 4] = { 1, 0, 2 * R0, UVA, 0 };

		CHECK_EQ_INT(fe_send(&f, &d, 5, 1, mt, sizeof(mt), &f.memfd, 1,
				     &v, 8), 0);
		CHECK_EQ_INT(v, 1);
		CHECK_CONTAINS(d.err.message, "larger than its file");
	}
	/* an unknown request */
	CHECK_EQ_INT(fe_send(&f, &d, 999, 1, NULL, 0, NULL, 0, &v, 8), 0);
	CHECK_EQ_INT(v, 1);
	/* a ring address outside guest memory */
	{
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} a = { 1, 0, UVA + R0, UVA + USED, UVA + AVAIL, 0 };

		CHECK_EQ_INT(fe_send(&f, &d, 9, 1, &a, sizeof(a), NULL, 0, &v, 8), 0);
		CHECK_EQ_INT(v, 1);
	}
	/* a payload size beyond any message: the link is over */
	CHECK(fe_send(&f, &d, 1, 0, NULL, 0, NULL, 0, NULL, 0) == 0);
	{
		uint32_t h[3] = { 1, 1, 100000 };

		CHECK_EQ_INT(write(f.sock, h, 12), 12);
		CHECK_EQ_INT(vu_on_socket(&d), -EPROTO);
		CHECK_EQ_INT(d.err.code, -EPROTO);
	}
	fe_free(&f, &d);
	CHECK_EQ_INT(unit_lowest_fd(), lowest);
}

/* The front-end going away ends the device with its own code, which the
 * owners (vnet.c, supervisor/fs.c) do not log as a fault. */
TEST(vhost_user_front_end_closing_is_told_apart)
{
	struct vu_dev d;
	struct fe f;

	fe_setup(&f, &d);
	CHECK_EQ_INT(d.err.code, 0);
	CHECK_EQ_INT(shutdown(f.sock, SHUT_WR), 0);
	CHECK_EQ_INT(vu_on_socket(&d), VU_CLOSED);
	CHECK_EQ_INT(d.err.code, VU_CLOSED);
	CHECK_CONTAINS(d.err.message, "closed the vhost-user socket");
	fe_free(&f, &d);
}

TEST(vhost_user_hostile_chain_stops_only_its_queue)
{
	struct vu_dev d;
	struct fe f;
	uint64_t v = 1;
	uint32_t st[2] = { 1, 1 };

	fe_setup(&f, &d);
	CHECK_EQ_INT(fe_send(&f, &d, 18, 0, st, 8, NULL, 0, NULL, 0), 0);
	put_desc(f.mem, 0, 0x3000, 4, VQ_DESC_F_NEXT, 0); /* loops */
	memcpy(f.mem + AVAIL + 2, &(uint16_t){ 1 }, 2);
	CHECK_EQ_INT(write(f.kick, &v, 8), 8);
	CHECK_EQ_INT(vu_on_kick(&d, 1), -EINVAL);
	CHECK_CONTAINS(d.err.message, "loops");
	CHECK_EQ_INT(f.served, 0);
	/* the control link still answers */
	CHECK_EQ_INT(fe_send(&f, &d, 1, 0, NULL, 0, NULL, 0, &v, 8), 0);
	fe_free(&f, &d);
}

/* A ring's size changed after its address: it was checked against guest
 * memory for the old size, and is checked again (the fuzzer's find: a
 * bigger size reached past guest memory, writing the avail_event). */
TEST(vhost_user_ring_size_change_is_checked_again)
{
	struct vu_dev d;
	struct fe f;
	uint64_t v = 1;
	uint32_t st[2] = { 1, 4096 }, on[2] = { 1, 1 };

	fe_setup(&f, &d);
	/* 4096 entries still fit the 64 KiB of guest memory */
	CHECK_EQ_INT(fe_send(&f, &d, 8, 1, st, 8, NULL, 0, &v, 8), 0);
	CHECK_EQ_INT(v, 0);
	/* 8192 do not (16 bytes a descriptor): refused, and the ring is
	 * not used at that size */
	st[1] = 8192;
	CHECK_EQ_INT(fe_send(&f, &d, 8, 1, st, 8, NULL, 0, &v, 8), 0);
	CHECK_EQ_INT(v, 1);
	CHECK_CONTAINS(d.err.message, "SET_VRING_NUM");
	CHECK_EQ_INT(fe_send(&f, &d, 18, 0, on, 8, NULL, 0, NULL, 0), 0);
	/* a head past the old table, inside the new size */
	memcpy(f.mem + AVAIL + 4, &(uint16_t){ 5000 }, 2);
	memcpy(f.mem + AVAIL + 2, &(uint16_t){ 1 }, 2);
	CHECK_EQ_INT(write(f.kick, &v, 8), 8);
	(void)vu_on_kick(&d, 1);
	CHECK_EQ_INT(f.served, 0);
	/* the control link still answers */
	CHECK_EQ_INT(fe_send(&f, &d, 1, 0, NULL, 0, NULL, 0, &v, 8), 0);
	fe_free(&f, &d);
}

/* A second queue (index 0, virtio-fs's high-priority one) beside
 * fe_setup()'s, its rings at 0x4000/0x5000/0x6000, both enabled. */
#define DESC0 0x4000
#define AVAIL0 0x5000
#define USED0 0x6000

static void fe_queue0(struct fe *f, struct vu_dev *d, int kick0, int call0)
{
	uint32_t st[2] = { 0, 8 };
	uint64_t v;
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} a = { 0, 0, UVA + DESC0, UVA + USED0, UVA + AVAIL0, 0 };

	CHECK_EQ_INT(fe_send(f, d, 8, 0, st, 8, NULL, 0, NULL, 0), 0);
	st[1] = 0;
	CHECK_EQ_INT(fe_send(f, d, 10, 0, st, 8, NULL, 0, NULL, 0), 0);
	CHECK_EQ_INT(fe_send(f, d, 9, 1, &a, sizeof(a), NULL, 0, &v, 8), 0);
	CHECK_EQ_INT(v, 0);
	v = 0;
	CHECK_EQ_INT(fe_send(f, d, 13, 0, &v, 8, &call0, 1, NULL, 0), 0);
	CHECK_EQ_INT(fe_send(f, d, 12, 0, &v, 8, &kick0, 1, NULL, 0), 0);
	st[1] = 1;
	CHECK_EQ_INT(fe_send(f, d, 18, 0, st, 8, NULL, 0, NULL, 0), 0);
	st[0] = 1;
	CHECK_EQ_INT(fe_send(f, d, 18, 0, st, 8, NULL, 0, NULL, 0), 0);
}

/* fe_forgets() - @n chains on queue 0 with nothing to write back (as a
 * FORGET comes), starting at avail entry @at; then the kick. */
static void fe_forgets(struct fe *f, struct vu_dev *d, uint16_t at, int n)
{
	for (int i = 0; i < n; i++) {
		uint16_t slot = (uint16_t)((at + i) % 8);

		put_desc(f->mem + DESC0, slot, 0x7000 + 0x40 * slot, 8, 0, 0);
		memcpy(f->mem + AVAIL0 + 4 + 2 * slot, &slot, 2);
	}
	memcpy(f->mem + AVAIL0 + 2, &(uint16_t){ (uint16_t)(at + n) }, 2);
	CHECK_EQ_INT(vu_on_kick(d, 0), 0);
}

static int fired(int efd)
{
	uint64_t v;

	return read(efd, &v, 8) == 8;
}

TEST(vhost_user_lazy_queue_holds_its_interrupt)
{
	struct vu_dev d;
	struct fe f;
	int kick0 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int call0 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint16_t used;

	fe_setup(&f, &d);
	fe_queue0(&f, &d, kick0, call0);
	/* not lazy: a forget's completion interrupts at once */
	fe_forgets(&f, &d, 0, 1);
	CHECK(fired(call0));
	CHECK(!vu_owed(&d));

	d.lazy = 1u << 0;
	/* lazy: published, but the interrupt waits */
	fe_forgets(&f, &d, 1, 1);
	memcpy(&used, f.mem + USED0 + 2, 2);
	CHECK_EQ_INT(used, 2);
	CHECK(!fired(call0));
	CHECK(vu_owed(&d));
	/* ...for the next reply on the request queue, and goes with it */
	memcpy(f.mem + 0x3000, "ping", 4);
	put_desc(f.mem, 0, 0x3000, 4, VQ_DESC_F_NEXT, 1);
	put_desc(f.mem, 1, 0x3100, 16, VQ_DESC_F_WRITE, 0);
	memcpy(f.mem + AVAIL + 4, &(uint16_t){ 0 }, 2);
	memcpy(f.mem + AVAIL + 2, &(uint16_t){ 1 }, 2);
	CHECK_EQ_INT(vu_on_kick(&d, 1), 0);
	CHECK(fired(f.call));
	CHECK(fired(call0));
	CHECK(!vu_owed(&d));

	/* ...or for the owner's vu_flush() when nothing else comes */
	fe_forgets(&f, &d, 2, 1);
	CHECK(!fired(call0));
	vu_flush(&d);
	CHECK(fired(call0));
	CHECK(!vu_owed(&d));

	/* half the ring used (4 of 8) goes at once */
	fe_forgets(&f, &d, 3, 4);
	CHECK(fired(call0));
	CHECK(!vu_owed(&d));

	/* a queue stopped (GET_VRING_BASE) first sends what it held */
	fe_forgets(&f, &d, 7, 1);
	CHECK(!fired(call0));
	{
		uint32_t st[2] = { 0, 0 };

		CHECK_EQ_INT(fe_send(&f, &d, 11, 0, st, 8, NULL, 0, st, 8), 0);
		CHECK_EQ_INT(st[1], 8);
	}
	CHECK(fired(call0));
	CHECK(!vu_owed(&d));
	CHECK_EQ_INT(f.served, 9);
	fe_free(&f, &d);
	close(kick0);
	close(call0);
}
