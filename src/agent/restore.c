/* SPDX-License-Identifier: Apache-2.0 */
/* restore.c - snapshots from the guest's side (docs/agent-protocol.md §11)
 *
 * Theory of operation: the host takes a snapshot between two whole frames.
 * It sends QUIESCE last; the agent answers QUIESCED last and then reads the
 * port only, so when the host has QUIESCED in hand nothing is in flight
 * either way and the VM can be frozen. The frozen copy wakes up in this
 * same loop: the VM that was snapshotted gets THAW, every restored copy
 * gets RESTORED, on a link whose other end is a new supervisor.
 *
 * A restored copy must become its own machine (the "fork
 * semantics"): its hostname, the wall clock (frozen at the snapshot), and
 * above all the kernel's random state, which every copy would otherwise
 * share: the host's bytes are mixed in and credited (RNDADDENTROPY) and
 * the CRNG reseeded at once (RNDRESEEDCRNG), so two copies never produce
 * the same /dev/urandom bytes.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "port.h"
#include "restore.h"
#include "system.h"

/* linux/random.h, which musl's headers lack. */
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#define RNDRESEEDCRNG _IO('R', 0x07)
struct rand_pool_info {
	int entropy_count;
	int buf_size;
};

/* A host that never says THAW is gone (its end closes) or broken: after
 * this long the agent goes on by itself. */
#define HOLD_MAX_MS 120000

static int reseed(const uint8_t *v, uint32_t len)
{
	struct {
		struct rand_pool_info info;
		uint8_t buf[512];
	} req;
	int fd, r = 0;

	if (len > sizeof(req.buf))
		len = sizeof(req.buf);
	req.info.entropy_count = (int)len * 8;
	req.info.buf_size = (int)len;
	memcpy(req.buf, v, len);
	fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, RNDADDENTROPY, &req) < 0)
		r = -errno;
	/* Credited entropy reaches the CRNG at its next reseed, which may
	 * be minutes away: force it now. */
	if (ioctl(fd, RNDRESEEDCRNG) < 0 && !r)
		r = -errno;
	close(fd);
	memset(&req, 0, sizeof(req));
	return r;
}

/* Write the overrides where restored processes can read them; the file is
 * replaced whole (rename) so a reader never sees half of it. */
static int write_env(const uint8_t *p, size_t n)
{
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	FILE *f;
	int ret = 0;

	mkdir("/run", 0755);
	mkdir("/run/msb", 0755);
	f = fopen(RESTORE_ENV_FILE ".tmp", "we");
	if (!f)
		return -errno;
	msb_tlv_r_init(&r, p, n);
	while (msb_tlv_next(&r, &tag, &v, &len) == 1)
		if (tag == MSB_T_ENV && !memchr(v, '\n', len))
			fprintf(f, "%.*s\n", (int)len, (const char *)v);
	if (fclose(f) != 0)
		ret = -errno;
	if (!ret && rename(RESTORE_ENV_FILE ".tmp", RESTORE_ENV_FILE) < 0)
		ret = -errno;
	return ret;
}

int restore_apply(const uint8_t *p, size_t n)
{
	struct msb_tlv_r r;
	struct agent_err e;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	int ret = 0, x;

	msb_tlv_r_init(&r, p, n);
	while (msb_tlv_next(&r, &tag, &v, &len) == 1) {
		char name[65];

		x = 0;
		switch (tag) {
		case MSB_T_HOSTNAME:
			if (len >= sizeof(name))
				break;
			memcpy(name, v, len);
			name[len] = '\0';
			x = system_set_hostname(name, &e);
			break;
		case MSB_T_TIME:
			if (len == 8)
				x = system_set_clock(msb_get_be64(v), &e);
			break;
		case MSB_T_ENTROPY:
			x = reseed(v, len);
			if (x < 0)
				agent_log("reseeding the random pool failed: %s",
					  strerror(-x));
			break;
		}
		if (x < 0 && !ret)
			ret = x;
	}
	x = write_env(p, n);
	if (x < 0) {
		agent_log("writing " RESTORE_ENV_FILE " failed: %s",
			  strerror(-x));
		if (!ret)
			ret = x;
	}
	return ret;
}

static void restored(const uint8_t *p, size_t n)
{
	uint64_t t0 = clock_mono_ms();
	uint8_t buf[64];
	struct msb_tlv_w w;
	char kv[48];

	restore_apply(p, n);
	msb_tlv_w_init(&w, buf, sizeof(buf));
	snprintf(kv, sizeof(kv), "restore_apply=%llu",
		 (unsigned long long)(clock_mono_ms() - t0) * 1000);
	msb_tlv_put_str(&w, MSB_T_TIMING, kv);
	port_send(0, MSB_F_READY, buf, w.len);
}

void restore_hold(void (*dispatch)(const struct msb_frame_hdr *h,
				   const uint8_t *p))
{
	uint64_t until = clock_mono_ms() + HOLD_MAX_MS;

	/* The disk alone must hold every file written so far: a disk-only
	 * restore (or msb run --from-snapshot of a full one) boots it
	 * without this RAM's page cache. */
	sync();
	if (port_send(0, MSB_F_QUIESCED, NULL, 0) < 0)
		return;
	for (;;) {
		struct pollfd pfd = { .fd = port_fd(), .events = POLLIN };
		struct msb_frame_hdr h;
		const uint8_t *p;
		int r;

		/* Frames already read come first (QUIESCE may have arrived
		 * with others behind it). */
		while ((r = port_next(&h, &p)) == 1) {
			if (h.stream == 0 && h.type == MSB_F_THAW)
				return;
			if (h.stream == 0 && h.type == MSB_F_RESTORED) {
				restored(p, h.len);
				return;
			}
			dispatch(&h, p);
		}
		if (r < 0)
			return; /* the serve loop reports the corrupt stream */
		if (clock_mono_ms() >= until) {
			agent_log("no word from the host %d s after QUIESCE; "
				  "going on",
				  HOLD_MAX_MS / 1000);
			return;
		}
		/* A restored VM's clocks jump; poll()'s timeout is only a
		 * bound, the loop re-reads the time. */
		poll(&pfd, 1, 1000);
		r = port_fill();
		if (r == 0)
			return; /* the host is gone: the serve loop sees it */
		if (r < 0 && r != -EAGAIN)
			return;
	}
}
