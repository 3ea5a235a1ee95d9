/* SPDX-License-Identifier: Apache-2.0 */
/* vhost_user.h - the device side of the vhost-user protocol
 *
 * One struct vu_dev per vhost-user device (a virtio-fs volume, the guest's
 * virtio-net link: src/net/vnet.c). QEMU, the
 * front-end, sends the messages of QEMU's docs/interop/vhost-user.rst on a
 * unix socket: features, the guest memory table (memfds we map), and per
 * queue its size, ring addresses and eventfds. Requests then arrive on the
 * queues; each descriptor chain goes to the handler, whose reply goes back
 * in the same chain.
 *
 * Nothing here blocks on or polls anything by itself: the owner watches the
 * socket and the kick eventfds (the watch callback says which) and calls
 * vu_on_socket() and vu_on_kick() when they are readable.
 */
#ifndef MSB_FS_VHOST_USER_H
#define MSB_FS_VHOST_USER_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "msb.h"
#include "virtqueue.h"

/* virtio-fs: one high-priority queue plus request queues (virtio 1.2
 * §5.11.2); virtio-net: a receive and a transmit queue */
#define VU_MAX_QUEUES 8
/* vu_on_socket()'s code when the front-end closed the socket */
#define VU_CLOSED (-ESHUTDOWN)
/* the largest message payload we accept (SET_MEM_TABLE is 264 bytes) */
#define VU_MSG_MAX 512
/* chains served per kick before letting the rest of the loop run */
#define VU_BATCH 64
/* how long an owner lets a lazy queue's held-back interrupt wait when
 * nothing else sends one (struct vu_dev @lazy, vu_owed()) */
#define VU_LAZY_MS 20

/* vu_handler - serve one request: @in is what the driver wrote, @out where
 * the reply goes. Return: bytes written to @out. */
typedef size_t (*vu_handler)(void *opaque, unsigned int queue,
			     const struct iovec *in, int nin,
			     const struct iovec *out, int nout);
/* vu_watch - start (@fd >= 0) or stop (@fd < 0) watching a kick eventfd. */
typedef void (*vu_watch)(void *opaque, unsigned int queue, int fd);
/* vu_ready - a queue the owner fills itself (struct vu_dev @manual) was
 * kicked or started: the driver may have given it buffers. */
typedef void (*vu_ready)(void *opaque, unsigned int queue);
/* vu_gate - may queue @queue's next chain be served now? 0 leaves it in
 * the ring, and the owner calls vu_on_kick() when it may (a byte rate). */
typedef int (*vu_gate)(void *opaque, unsigned int queue);

struct vu_queue {
	struct vq vq;
	int kick, call, err;
	int started; /* kick fd given and not stopped by GET_VRING_BASE */
	int enabled; /* SET_VRING_ENABLE (or no protocol features) */
	int owed;    /* a lazy queue's interrupt held back... */
	uint16_t owed_from; /* ...for the used entries from here on */
};

/**
 * struct vu_dev - one device
 * @fd:        the socket to the front-end
 * @features:  virtio features the front-end acked
 * @protocol:  vhost-user protocol features it acked
 * @mem:       guest memory, mapped; @maps/@map_len what to munmap
 * @q:         the queues; @nqueues of them
 * @chain:     scratch for one popped chain
 * @err:       why the last call failed (code VU_CLOSED: the front-end
 *             closed the socket, which ends a device without a fault)
 * @served:    requests answered, all queues
 * @dev_features: the device type's own virtio features, offered beside
 *             the ring's (set after vu_dev_init(); 0 for virtio-fs)
 * @manual:    queues (bit per index) whose buffers the owner fills when it
 *             has something for them (a NIC's receive queue), told by
 *             @ready, instead of one request and reply per chain
 * @lazy:      queues (bit per index) whose completions nobody waits for
 *             (virtio-fs's high-priority queue: FORGETs, no reply): their
 *             used entries are published at once, but the interrupt is
 *             held back until another queue of the device sends one (the
 *             driver's handler then finds both; virtio-mmio has a single
 *             interrupt per device anyway), half the ring is used, or the
 *             owner calls vu_flush() after VU_LAZY_MS with nothing else
 *             to do. It saves the guest an interrupt, and the VMM a
 *             wakeup, per forgotten inode.
 */
struct vu_dev {
	int fd;
	uint64_t features, protocol;
	struct vq_mem mem;
	void *maps[VQ_MAX_REGIONS];
	size_t map_len[VQ_MAX_REGIONS];
	struct vu_queue q[VU_MAX_QUEUES];
	unsigned int nqueues;
	vu_handler handle;
	vu_watch watch;
	void *opaque;
	struct vq_chain *chain;
	msb_error err;
	uint64_t served;
	uint64_t dev_features;
	uint32_t manual;
	vu_ready ready;
	vu_gate gate; /* NULL: always */
	uint32_t lazy;
};

/* vu_dev_init() - a device on @fd (ours from then on) with @nqueues queues.
 * Return: 0 or -errno. */
int vu_dev_init(struct vu_dev *d, int fd, unsigned int nqueues,
		vu_handler handle, vu_watch watch, void *opaque);
/* vu_dev_free() - unmap guest memory, close every descriptor. */
void vu_dev_free(struct vu_dev *d);

/* vu_on_socket() - read and act on one message.
 * Return: 0, or -errno when the link is over (closed by the front-end or
 * broken; @d->err says which). */
int vu_on_socket(struct vu_dev *d);

/* vu_on_kick() - serve queue @qi after its kick eventfd fired.
 * Return: 0, or -EINVAL if the guest broke the queue (@d->err says how). */
int vu_on_kick(struct vu_dev *d, unsigned int qi);

/* vu_queue_live() - queue @qi is started, enabled, mapped and not broken.
 * Return: its ring, or NULL. */
struct vq *vu_queue_live(struct vu_dev *d, unsigned int qi);

/* vu_notify() - interrupt the driver of queue @qi if it wants one after
 * the used entries from @old_used on. */
void vu_notify(struct vu_dev *d, unsigned int qi, uint16_t old_used);

/* vu_owed() - whether a lazy queue's interrupt is held back (the owner
 * then waits at most VU_LAZY_MS before calling vu_flush()). */
int vu_owed(const struct vu_dev *d);

/* vu_flush() - send every interrupt held back. */
void vu_flush(struct vu_dev *d);

#endif
