/* SPDX-License-Identifier: Apache-2.0 */
/* vhost_user.h - the device side of the vhost-user protocol
 *
 * One struct vu_dev per vhost-user device (a virtio-fs volume). QEMU, the
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

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtqueue.h"

/* virtio-fs: one high-priority queue plus request queues (virtio 1.2 §5.11.2) */
#define VU_MAX_QUEUES 8
/* the largest message payload we accept (SET_MEM_TABLE is 264 bytes) */
#define VU_MSG_MAX 512
/* chains served per kick before letting the rest of the loop run */
#define VU_BATCH 64

/* vu_handler - serve one request: @in is what the driver wrote, @out where
 * the reply goes. Return: bytes written to @out. */
typedef size_t (*vu_handler)(void *opaque, unsigned int queue,
			     const struct iovec *in, int nin,
			     const struct iovec *out, int nout);
/* vu_watch - start (@fd >= 0) or stop (@fd < 0) watching a kick eventfd. */
typedef void (*vu_watch)(void *opaque, unsigned int queue, int fd);

struct vu_queue {
	struct vq vq;
	int kick, call, err;
	int started; /* kick fd given and not stopped by GET_VRING_BASE */
	int enabled; /* SET_VRING_ENABLE (or no protocol features) */
};

/**
 * struct vu_dev - one device
 * @fd:        the socket to the front-end
 * @features:  virtio features the front-end acked
 * @protocol:  vhost-user protocol features it acked
 * @mem:       guest memory, mapped; @maps/@map_len what to munmap
 * @q:         the queues; @nqueues of them
 * @chain:     scratch for one popped chain
 * @err:       why the last call failed
 * @served:    requests answered, all queues
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
	char err[256];
	uint64_t served;
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

#endif
