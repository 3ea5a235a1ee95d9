/* SPDX-License-Identifier: Apache-2.0 */
/* vnet.c - the guest's NIC as a vhost-user-net device served by the stack
 *
 * Theory of operation: with MSB_NET_VHOST_USER=1 QEMU's virtio-net has a
 * `-netdev vhost-user` backend whose socket is ours (net_attach_vhost()):
 * the supervisor maps guest RAM (src/fs/vhost_user.c, the same code that
 * serves volumes) and takes frames off the transmit queue and puts frames
 * on the receive queue itself, with no copy through QEMU. Every frame
 * carries a virtio-net header (virtio 1.2 §5.1.6), which is what lets the
 * guest skip its checksums under TCG, where each byte it touches is costly:
 *
 *   - VIRTIO_NET_F_CSUM: the guest sends TCP and UDP with the checksum
 *     left for us (NEEDS_CSUM, csum_start, csum_offset). It is completed
 *     here, on the host, before eth_input() sees the frame, so the stack
 *     checks every checksum as it always did: one that is wrong after
 *     completion is still dropped there.
 *   - VIRTIO_NET_F_GUEST_CSUM: frames to the guest say DATA_VALID (the
 *     stack computed their checksums; the guest need not check them).
 *   - GUEST_TSO4/6: offered so that the Linux driver gives the receive
 *     queue buffers of 64 KiB and more (its "big packets"): the link's MTU
 *     is 65520, so every frame the stack sends fits one buffer and none is
 *     a GSO frame. The guest's own TSO (HOST_TSO4/6) is not offered: at
 *     that MTU a TCP segment is already as large as TSO would make it, and
 *     the guest sends none larger than one frame; a frame that asks for
 *     segmentation anyway is dropped.
 *
 * The transmit queue's chains are copied out of guest memory once, into
 * @buf, before anything in them is read: the guest can change its memory
 * at any time, so the header and the frame are parsed from our copy.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bytes.h"
#include "stack.h"
#include "vhost_user.h"

#define VNET_F_CSUM 0
#define VNET_F_GUEST_CSUM 1
#define VNET_F_GUEST_TSO4 7
#define VNET_F_GUEST_TSO6 8
#define VNET_F_MRG_RXBUF 15
#define VNET_FEATURES                                                   \
	(1ull << VNET_F_CSUM | 1ull << VNET_F_GUEST_CSUM |              \
	 1ull << VNET_F_GUEST_TSO4 | 1ull << VNET_F_GUEST_TSO6)

#define VNET_RXQ 0
#define VNET_TXQ 1

struct vnet {
	struct vu_dev dev;
	struct net *n;
	uint8_t buf[VNET_HDR_MAX + NET_FRAME_MAX];
};

/* vnet_hdr_len() - the header's length for the features in force: 12 with
 * VERSION_1 or mergeable buffers (num_buffers), else 10. */
static size_t vnet_hdr_len(uint64_t features)
{
	return features & (1ull << VIRTIO_F_VERSION_1 |
			   1ull << VNET_F_MRG_RXBUF) ?
		       VNET_HDR_MAX : VNET_HDR_MAX - 2;
}

int vnet_tx_frame(const uint8_t *hdr, uint8_t *f, size_t len)
{
	unsigned start, off;
	uint16_t c;

	if (hdr[1] != VNET_GSO_NONE)
		return -1;
	if (!(hdr[0] & VNET_HDR_F_NEEDS_CSUM))
		return 0;
	start = msb_get_le16(hdr + 6);
	off = msb_get_le16(hdr + 8);
	/* the checksum field lies in the frame, after @start */
	if (start >= len || off > len - start || len - start - off < 2)
		return -1;
	/* The field holds the pseudo-header's sum (not complemented): the
	 * sum from @start to the end, folded and complemented, is the
	 * checksum (virtio 1.2 §5.1.6.2, as skb_checksum_help() does). */
	c = net_csum_fold(net_csum_add(0, f + start, len - start));
	msb_put_be16(f + start + off, c);
	return 0;
}

/* tx() - one chain of the transmit queue: a header and a frame. */
static size_t tx(void *opaque, unsigned int queue, const struct iovec *in,
		 int nin, const struct iovec *out, int nout)
{
	struct vnet *v = opaque;
	struct net *n = v->n;
	size_t hlen = vnet_hdr_len(v->dev.features), len = 0;

	if (queue != VNET_TXQ)
		return 0;
	for (int i = 0; i < nin; i++) {
		if (in[i].iov_len > sizeof(v->buf) - len) {
			n->st.rx_dropped++;
			return 0;
		}
		memcpy(v->buf + len, in[i].iov_base, in[i].iov_len);
		len += in[i].iov_len;
	}
	if (len < hlen || vnet_tx_frame(v->buf, v->buf + hlen, len - hlen)) {
		n->st.rx_dropped++;
		return 0;
	}
	if (n->bytes_in.rate)
		n->bytes_in.tokens -= (double)(len - hlen);
	net_input(n, v->buf + hlen, len - hlen);
	return 0;
}

/* gate() - with a byte rate (net_set_byte_rate()), no frame is taken off
 * the transmit queue without tokens: the rest waits in the guest's ring
 * until net_tick() refills them and kicks us. */
static int gate(void *opaque, unsigned int queue)
{
	struct net *n = ((struct vnet *)opaque)->n;

	if (queue != VNET_TXQ || !n->bytes_in.rate || n->bytes_in.tokens >= 1)
		return 1;
	n->in_paused = 1;
	return 0;
}

static void watch(void *opaque, unsigned int queue, int fd)
{
	struct vnet *v = opaque;

	if (fd >= 0)
		net_watch(v->n, fd, EPOLLIN, NEV_VU_KICK, queue, EPOLL_CTL_ADD);
	else if (v->dev.q[queue].kick >= 0)
		epoll_ctl(v->n->epfd, EPOLL_CTL_DEL, v->dev.q[queue].kick, NULL);
}

/* ready() - the receive queue got buffers: what waited for them goes. */
static void ready(void *opaque, unsigned int queue)
{
	struct vnet *v = opaque;

	if (queue == VNET_RXQ)
		vnet_flush(v->n);
}

int vnet_open(struct net *n, int fd)
{
	struct vnet *v = calloc(1, sizeof(*v));
	int r;

	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	v->n = n;
	r = vu_dev_init(&v->dev, fd, 2, tx, watch, v);
	if (r < 0) {
		vu_dev_free(&v->dev);
		free(v);
		return r;
	}
	v->dev.dev_features = VNET_FEATURES;
	v->dev.manual = 1u << VNET_RXQ;
	v->dev.ready = ready;
	v->dev.gate = gate;
	n->vnet = v;
	if (net_watch(n, fd, EPOLLIN, NEV_VU, 0, EPOLL_CTL_ADD) < 0) {
		r = -errno;
		vnet_close(n);
		return r;
	}
	return 0;
}

void vnet_close(struct net *n)
{
	struct vnet *v = n->vnet;

	if (!v)
		return;
	if (v->dev.fd >= 0)
		epoll_ctl(n->epfd, EPOLL_CTL_DEL, v->dev.fd, NULL);
	vu_dev_free(&v->dev); /* unwatches the kicks through watch() */
	free(v);
	n->vnet = NULL;
}

int vnet_socket_event(struct net *n)
{
	struct vnet *v = n->vnet;

	if (!v)
		return -1;
	if (vu_on_socket(&v->dev) < 0) {
		if (v->dev.err.code != VU_CLOSED)
			net_logf(n, "net: vhost-user link: %s",
				 v->dev.err.message);
		return -1;
	}
	return 0;
}

void vnet_kick(struct net *n, unsigned int queue)
{
	struct vnet *v = n->vnet;

	if (!v || queue >= v->dev.nqueues)
		return;
	if (vu_on_kick(&v->dev, queue) < 0)
		net_logf(n, "net: %s", v->dev.err.message);
	/* A batch of guest segments gets one ACK per flow. */
	if (queue == VNET_TXQ)
		tcp_flush_acks(n);
}

/* put() - copy @len bytes of @src into the chain's buffers from @at on.
 * Return: where the next byte goes, or 0 when they are full. */
static size_t put(const struct iovec *iov, int niov, size_t at,
		  const uint8_t *src, size_t len)
{
	size_t pos = 0;

	for (int i = 0; i < niov && len; i++) {
		size_t l = iov[i].iov_len, k;

		if (at >= pos + l) {
			pos += l;
			continue;
		}
		k = pos + l - at;
		if (k > len)
			k = len;
		memcpy((uint8_t *)iov[i].iov_base + (at - pos), src, k);
		src += k;
		len -= k;
		at += k;
		pos += l;
	}
	return len ? 0 : at;
}

void vnet_flush(struct net *n)
{
	struct vnet *v = n->vnet;
	struct vq *q = vu_queue_live(&v->dev, VNET_RXQ);
	size_t hlen = vnet_hdr_len(v->dev.features);
	uint8_t hdr[VNET_HDR_MAX] = { 0 };
	uint16_t old;
	int sent = 0;

	if (!q)
		return;
	old = q->used_idx;
	if (v->dev.features & (1ull << VNET_F_GUEST_CSUM))
		hdr[0] = VNET_HDR_F_DATA_VALID;
	hdr[10] = 1; /* num_buffers (VERSION_1): one buffer a frame */
	while (n->out_len >= 4) {
		const uint8_t *p = n->out + n->out_off;
		size_t flen = msb_get_be32(p);
		struct vq_chain *c = v->dev.chain;
		size_t w;
		int r = vq_pop(q, &v->dev.mem, c);

		if (r < 0) {
			net_logf(n, "net: the guest broke its receive queue: "
				    "%s", q->broken);
			break;
		}
		if (r == 0)
			break; /* no buffer: the guest's kick brings us back */
		w = put(c->out, c->nout, 0, hdr, hlen);
		if (w)
			w = put(c->out, c->nout, w, p + 4, flen);
		if (!w)
			n->st.tx_dropped++; /* a buffer too small for it */
		vq_push(q, c->head, (uint32_t)w);
		sent++;
		n->out_off += 4 + flen;
		n->out_len -= 4 + flen;
	}
	if (!n->out_len)
		n->out_off = 0;
	if (sent)
		vu_notify(&v->dev, VNET_RXQ, old);
}
