/* SPDX-License-Identifier: Apache-2.0 */
/* vhost_user.c - libFuzzer target: the vhost-user device end to end
 *
 * QEMU's messages (features, the memory table, rings, their eventfds)
 * and then the guest's memory, both from the input, into
 * src/fs/vhost_user.c over a real socketpair, with real memfds and
 * eventfds riding along as SCM_RIGHTS. A record is:
 *
 *   u8 op (mod 3)
 *   0: a message: u8 request (mod 24), u8 flags (version bits and
 *      NEED_REPLY from the input), u16 LE size (mod 640: past the 512
 *      the device accepts), u8 descriptors (mod 4: none, one memfd, two
 *      memfds, one eventfd), then size payload bytes
 *   1: a kick: u8 queue (mod 3; with bit 7 set, vu_flush() after it,
 *      as the owner does when a held-back interrupt's time is up)
 *   2: guest memory: u16 LE offset, u8 length, length bytes written
 *      into the last memfd given
 *
 * The handler reads every device-readable byte and fills every writable
 * one, as the FUSE dispatcher may, so ASan sees any iovec outside the
 * mapped regions. A message the device fails ends the run, as the
 * supervisor ends the device.
 *
 * Built with -DFUZZ_VNET (build/fuzz/vnet) the device is the network
 * stack's virtio-net (src/net/vnet.c) instead: the same records drive
 * net_attach_vhost()'s device, queue 1's chains are the guest's frames
 * behind their virtio-net headers (checksums to complete, GSO asked for),
 * and whatever the stack answers goes into queue 0's buffers.
 *
 * Build and run: make build/fuzz/vhost_user && build/fuzz/vhost_user fuzz/corpus/vhost_user
 *   (make build/fuzz/vnet && build/fuzz/vnet fuzz/corpus/vnet)
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost_user.h"
#ifdef FUZZ_VNET
#include "stack.h"
#endif

#define MEM_SIZE (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static size_t handle(void *opaque, unsigned int queue, const struct iovec *in,
		     int nin, const struct iovec *out, int nout)
{
	volatile uint8_t sink = 0;
	size_t w = 0;

	for (int i = 0; i < nin; i++)
		for (size_t k = 0; k < in[i].iov_len; k++)
			sink ^= ((const uint8_t *)in[i].iov_base)[k];
	for (int i = 0; i < nout; i++) {
		memset(out[i].iov_base, 0xa5, out[i].iov_len);
		w += out[i].iov_len;
	}
	(void)sink;
	return w;
}

static void watch(void *opaque, unsigned int queue, int fd)
{
}

#ifdef FUZZ_VNET
/* Host sockets are socketpairs: no packet leaves the machine. */
#define PEERS_MAX 32
static int peers[PEERS_MAX];
static int npeers;

static int open_socket(void *opaque, int type, int proto,
		       const struct sockaddr *dst, socklen_t dlen)
{
	int sv[2];

	if (npeers == PEERS_MAX ||
	    socketpair(AF_UNIX, (type == SOCK_STREAM ? SOCK_STREAM : SOCK_DGRAM) |
				 SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -24; /* -EMFILE */
	peers[npeers++] = sv[1];
	return sv[0];
}
#endif

static void drain(int fd)
{
	char buf[1024];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* send_msg() - header and payload in one write, with @nfds descriptors */
static int send_msg(int fd, const uint8_t *msg, size_t len, const int *fds,
		    int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 2)];
	struct iovec iov = { (void *)msg, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static uint8_t msg[12 + 640];
	struct vu_dev d;
#ifdef FUZZ_VNET
	static struct net_config cfg;
	struct net *n_;
#endif
	uint8_t *mem = NULL;
	size_t i = 0;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* A message shorter than it says would block a blocking socket;
	 * here it fails as truncated. */
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
#ifdef FUZZ_VNET
	net_config_default(&cfg);
	cfg.open_socket = open_socket;
	cfg.dns_upstream = net_addr4(0xc0000235);
	n_ = net_new(&cfg);
	if (!n_ || net_attach_vhost(n_, sv[0]) < 0)
		abort();
	(void)d;
#else
	if (vu_dev_init(&d, sv[0], 2, handle, watch, NULL) < 0)
		abort();
	d.lazy = 1u << 0; /* as the supervisor's volumes */
#endif
	while (i < n) {
		uint8_t op = data[i++] % 3;

		if (op == 0 && i + 5 <= n) {
			uint32_t req = data[i] % 24, flags = data[i + 1] & 0x0f;
			uint32_t size = (uint32_t)(data[i + 2] | data[i + 3] << 8) %
					640;
			int kind = data[i + 4] % 4, fds[2], nfds = 0, r;
			size_t take;

			i += 5;
			take = n - i < size ? n - i : size;
			memcpy(msg, &req, 4);
			memcpy(msg + 4, &flags, 4);
			memcpy(msg + 8, &size, 4);
			memset(msg + 12, 0, size);
			memcpy(msg + 12, data + i, take);
			i += take;
			for (int k = 0; kind && kind < 3 && k < kind; k++) {
				fds[k] = memfd_create("guest", MFD_CLOEXEC);
				if (fds[k] < 0 || ftruncate(fds[k], MEM_SIZE) < 0)
					abort();
				nfds++;
			}
			if (kind == 3)
				fds[nfds++] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (kind == 1 || kind == 2) {
				if (mem)
					munmap(mem, MEM_SIZE);
				mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
					   MAP_SHARED, fds[nfds - 1], 0);
				if (mem == MAP_FAILED)
					abort();
			}
			r = send_msg(sv[1], msg, 12 + size, fds, nfds);
			for (int k = 0; k < nfds; k++)
				close(fds[k]);
			if (r < 0)
				break;
#ifdef FUZZ_VNET
			r = vnet_socket_event(n_);
			net_dispatch(n_);
#else
			r = vu_on_socket(&d);
#endif
			drain(sv[1]);
			if (r < 0)
				break;
		} else if (op == 1 && i + 1 <= n) {
#ifdef FUZZ_VNET
			vnet_kick(n_, data[i++] % 3);
			net_dispatch(n_);
#else
			vu_on_kick(&d, data[i] % 3);
			if (data[i++] & 0x80)
				vu_flush(&d);
#endif
		} else if (op == 2 && i + 3 <= n) {
			size_t off = (size_t)(data[i] | data[i + 1] << 8);
			size_t len = data[i + 2];

			i += 3;
			if (len > n - i)
				len = n - i;
			if (mem && off + len <= MEM_SIZE)
				memcpy(mem + off, data + i, len);
			i += len;
		} else {
			break;
		}
	}
#ifdef FUZZ_VNET
	net_free(n_);
	while (npeers)
		close(peers[--npeers]);
#else
	vu_dev_free(&d);
#endif
	if (mem)
		munmap(mem, MEM_SIZE);
	close(sv[1]);
	return 0;
}
