/* SPDX-License-Identifier: Apache-2.0 */
/* port.c - the virtio-serial port to the host: discovery and frame I/O
 *
 * The port is opened non-blocking. Reads are driven by epoll; writes loop
 * until the whole frame is in, waiting with poll() for POLLOUT.
 *
 * Two virtio_console behaviours shape this file (drivers/char/virtio_console.c):
 * - one write() moves at most 32 KiB, so a 64 KiB frame takes several;
 * - while the host end of the port is not open, read() returns 0, poll()
 *   reports POLLHUP without POLLOUT, and write() would block.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "port.h"

#define PORT_SYSFS "/sys/class/virtio-ports"
/* How long a write waits for a host end that is not connected. */
#define PORT_HUP_WAIT_MS 5000

static int port = -1;
static int host_gone;
static struct msb_framer rx;
static uint8_t rbuf[MSB_FRAME_MAX];
static size_t rpos, rlen;
static uint8_t tx[MSB_FRAME_HDR + MSB_FRAME_MAX];

/* port_lookup() - open /dev/vportNpM if its sysfs name is PORT_NAME */
static int port_lookup(void)
{
	char path[300], name[64];
	struct dirent *de;
	int fd, ret = -ENOENT;
	DIR *d;

	d = opendir(PORT_SYSFS);
	if (!d)
		return -ENOENT; /* virtio_console not probed yet */
	while ((de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PORT_SYSFS "/%s/name", de->d_name);
		/* The name attribute appears when the host's PORT_NAME
		 * control message has been handled; until then, retry. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n <= 0)
			continue;
		while (n && (name[n - 1] == '\n' || name[n - 1] == ' '))
			n--;
		name[n] = '\0';
		if (strcmp(name, PORT_NAME))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		ret = fd < 0 ? -errno : fd;
		break;
	}
	closedir(d);
	return ret;
}

int port_open(unsigned int timeout_ms)
{
	uint64_t deadline = clock_mono_ms() + timeout_ms;
	int fd;

	for (;;) {
		fd = port_lookup();
		if (fd >= 0) {
			port = fd;
			return 0;
		}
		if (clock_mono_ms() >= deadline)
			return fd;
		usleep(5000);
	}
}

int port_fd(void)
{
	return port;
}

void port_disconnect(void)
{
	host_gone = 1;
}

uint8_t *port_scratch(void)
{
	return tx + MSB_FRAME_HDR;
}

/* port_wait_writable() - poll for POLLOUT, tolerating a short host absence */
static int port_wait_writable(uint64_t *hup_since)
{
	struct pollfd pfd = { .fd = port, .events = POLLOUT };

	if (poll(&pfd, 1, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd.revents & POLLOUT) {
		*hup_since = 0;
		return 0;
	}
	/* POLLHUP alone: the host end is closed. Give it a moment (the
	 * PORT_OPEN control message may still be on its way), then give up
	 * so that a fatal path can still power the VM off. */
	if (!*hup_since)
		*hup_since = clock_mono_ms();
	else if (clock_mono_ms() - *hup_since > PORT_HUP_WAIT_MS) {
		host_gone = 1;
		return -ENOTCONN;
	}
	usleep(10000);
	return 0;
}

int port_send(uint32_t stream, uint8_t type, const void *payload, size_t len)
{
	size_t off = 0, total = MSB_FRAME_HDR + len;
	uint64_t hup_since = 0;
	int ret;

	if (port < 0 || host_gone)
		return -ENOTCONN;
	if (len > MSB_FRAME_MAX)
		return -EMSGSIZE;
	msb_frame_encode_hdr(tx, (uint32_t)len, stream, type);
	if (len && payload != tx + MSB_FRAME_HDR)
		memcpy(tx + MSB_FRAME_HDR, payload, len);

	while (off < total) {
		ssize_t n = write(port, tx + off, total - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		ret = port_wait_writable(&hup_since);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int port_send_u32(uint32_t stream, uint8_t type, uint32_t v)
{
	uint8_t b[4];

	msb_put_be32(b, v);
	return port_send(stream, type, b, sizeof(b));
}

int port_send_str(uint32_t stream, uint8_t type, const char *s)
{
	size_t n = strlen(s);

	return port_send(stream, type, s, n > MSB_FRAME_MAX ? MSB_FRAME_MAX : n);
}

int port_fill(void)
{
	ssize_t n;

	if (rpos < rlen)
		return (int)(rlen - rpos);
	n = read(port, rbuf, sizeof(rbuf));
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	rpos = 0;
	rlen = (size_t)n;
	return (int)n;
}

int port_next(struct msb_frame_hdr *h, const uint8_t **payload)
{
	for (;;) {
		int r = msb_framer_take(&rx, h, payload);

		if (r)
			return r < 0 ? -EPROTO : 1;
		if (rpos == rlen)
			return 0;
		rpos += msb_framer_feed(&rx, rbuf + rpos, rlen - rpos);
	}
}
