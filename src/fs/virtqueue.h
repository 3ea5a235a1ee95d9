/* SPDX-License-Identifier: Apache-2.0 */
/* virtqueue.h - split virtqueues over guest memory shared with the device
 *
 * The guest writes the descriptor table and the available ring; every value
 * read from them is hostile. vq_pop() turns one descriptor chain into iovecs
 * that point straight into guest memory, after checking each index, each
 * address range and the chain's length; anything out of bounds marks the
 * queue broken (virtio 1.2 §2.1.2: the device may stop using it) and
 * never touches memory outside the regions the VMM gave us.
 */
#ifndef MSB_FS_VIRTQUEUE_H
#define MSB_FS_VIRTQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* vhost-user's SET_MEM_TABLE carries at most 8 regions. */
#define VQ_MAX_REGIONS 8
/* virtio 1.2 §2.7: a split queue has at most 32768 entries. */
#define VQ_MAX_SIZE 32768
/* iovecs a chain may turn into, direct and indirect descriptors together.
 * Linux's virtio-fs sends at most max_pages (256) data pages plus a few
 * headers per request. */
#define VQ_MAX_SEGS 1024
/* bytes a chain may describe in each direction */
#define VQ_MAX_BYTES (256u << 20)

/* Feature bits of the ring layout (virtio 1.2 §6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/**
 * struct vq_region - one piece of guest memory mapped into this process
 * @gpa:  guest physical address of its start
 * @size: its length
 * @uva:  where the VMM has it mapped (ring addresses come in that space)
 * @host: where we have it mapped
 */
struct vq_region {
	uint64_t gpa, size, uva;
	uint8_t *host;
};

struct vq_mem {
	struct vq_region r[VQ_MAX_REGIONS];
	unsigned int n;
};

/* vq_mem_gpa() - host pointer to [gpa, gpa+len) if wholly inside one
 * region, else NULL. */
void *vq_mem_gpa(const struct vq_mem *m, uint64_t gpa, uint64_t len);
/* vq_mem_uva() - the same for an address in the VMM's address space. */
void *vq_mem_uva(const struct vq_mem *m, uint64_t uva, uint64_t len);

/* virtio 1.2 §2.7.5: a descriptor as the guest lays it out (little endian) */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1

/**
 * struct vq - one split virtqueue
 * @num:        queue size (power of two, <= VQ_MAX_SIZE); 0 until set
 * @desc_uva:   ring addresses as SET_VRING_ADDR gave them
 * @desc:       ...and mapped, by vq_map()
 * @last_avail: next available ring entry to take
 * @used_idx:   next used ring entry to fill
 * @features:   negotiated virtio features (INDIRECT_DESC, EVENT_IDX)
 * @broken:     why the queue stopped, or NULL
 */
struct vq {
	unsigned int num;
	uint64_t desc_uva, avail_uva, used_uva;
	volatile struct vq_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[num], used_event */
	volatile uint8_t *used;   /* flags, idx, {id, len}[num], avail_event */
	uint16_t last_avail, used_idx;
	uint64_t features;
	const char *broken;
};

/**
 * struct vq_chain - one popped descriptor chain
 * @head: its head index, to give back with vq_push()
 * @in:   device-readable buffers, in order; @nin of them
 * @out:  device-writable buffers, in order; @nout of them
 * @in_bytes/@out_bytes: their total lengths
 */
struct vq_chain {
	uint16_t head;
	int nin, nout;
	uint64_t in_bytes, out_bytes;
	struct iovec in[VQ_MAX_SEGS];
	struct iovec out[VQ_MAX_SEGS];
};

/* vq_map() - translate the ring addresses through @m.
 * Return: 0, or -EINVAL (with @q->broken set) if they are not mapped. */
int vq_map(struct vq *q, const struct vq_mem *m);

/* vq_pop() - take the next available chain.
 * Return: 1 with @c filled, 0 if none is available, -EINVAL if the guest
 * broke the ring (@q->broken says how; the queue is dead from then on). */
int vq_pop(struct vq *q, const struct vq_mem *m, struct vq_chain *c);

/* vq_push() - give a chain back with @len bytes written. */
void vq_push(struct vq *q, uint16_t head, uint32_t len);

/* vq_need_notify() - whether the driver wants an interrupt now, after
 * the used entries up to @old_used were pushed (virtio 1.2 §2.7.7.2). */
int vq_need_notify(const struct vq *q, uint16_t old_used);

#endif
