/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - msb-agent: the guest's PID 1, from boot to the serving loop
 *
 * Boot contract (docs/agent-protocol.md): mount the API filesystems, load
 * modules, open the port, HELLO, wait for INIT, build and enter the root,
 * READY with timings, then serve. Any failure is reported as ERROR on
 * stream 0 and the VM powers off: a half-booted sandbox is of no use.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "events.h"
#include "exec.h"
#include "initcfg.h"
#include "modules.h"
#include "netcfg.h"
#include "trust.h"
#include "port.h"
#include "power.h"
#include "rootfs.h"
#include "serve.h"
#include "system.h"
#include "volumes.h"

/* virtio devices probe asynchronously after their modules load. */
#define PORT_WAIT_MS 10000

/* send_hello() - announce protocol and agent versions. Return: 0 or -errno */
static int send_hello(void)
{
	uint8_t *buf = port_scratch();
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, buf, MSB_FRAME_MAX);
	msb_tlv_put_u32(&w, MSB_T_VERSION, MSB_PROTO_VERSION);
	msb_tlv_put_str(&w, MSB_T_AGENT, MSB_AGENT_VERSION);
	return port_send(0, MSB_F_HELLO, buf, w.len);
}

/* wait_init() - the INIT frame; PINGs are answered, anything else before
 * INIT is dropped (the host must not send it) */
static int wait_init(struct init_cfg *c, struct agent_err *e)
{
	struct pollfd pfd = { .fd = port_fd(), .events = POLLIN };
	struct msb_frame_hdr h;
	const uint8_t *p;
	int r;

	for (;;) {
		while ((r = port_next(&h, &p)) == 1) {
			if (!h.stream && h.type == MSB_F_INIT)
				return init_cfg_parse(p, h.len, c, e);
			if (h.type == MSB_F_PING)
				port_send(h.stream, MSB_F_PONG, p, h.len);
		}
		if (r < 0)
			return agent_fail(e, EPROTO, "corrupt frame header from the host");
		poll(&pfd, 1, -1);
		r = port_fill();
		/* 0: the host end is not open yet (or POLLHUP before the
		 * PORT_OPEN control message); wait for it. */
		if (r == 0)
			usleep(10000);
		else if (r < 0 && r != -EAGAIN)
			return agent_fail(e, -r, "read from the port");
	}
}

/* Boot milestones reported in READY, microseconds of CLOCK_BOOTTIME. */
enum boot_mark {
	MARK_START,	/* /init started */
	MARK_MODULES,	/* modules loaded */
	MARK_PORT,	/* port open */
	MARK_INIT,	/* INIT received */
	MARK_ROOTFS,	/* root assembled and entered, system configured */
	MARK_READY,	/* READY about to be sent */
	BOOT_MARKS
};

static const char *const mark_names[] = {
	"start", "modules", "port", "init_received", "rootfs", "ready",
};
_Static_assert(sizeof(mark_names) / sizeof(mark_names[0]) == BOOT_MARKS,
	       "one name per boot mark");

/* send_ready() - READY with one "name=us" TIMING record per boot mark */
static void send_ready(const uint64_t us[BOOT_MARKS])
{
	uint8_t *buf = port_scratch();
	struct msb_tlv_w w;
	char rec[64];
	int i;

	msb_tlv_w_init(&w, buf, MSB_FRAME_MAX);
	for (i = 0; i < BOOT_MARKS; i++) {
		snprintf(rec, sizeof(rec), "%s=%llu", mark_names[i],
			 (unsigned long long)us[i]);
		msb_tlv_put_str(&w, MSB_T_TIMING, rec);
	}
	port_send(0, MSB_F_READY, buf, w.len);
}

/* enter_sandbox() - everything INIT asks for, in dependency order */
static int enter_sandbox(const struct init_cfg *c, struct agent_err *e)
{
	struct agent_err ne = { "" };
	int ret;

	/* The clock first: files created in the upper get sane times. */
	if (c->has_time) {
		ret = system_set_clock(c->time_ns, e);
		if (ret)
			return ret;
	}
	ret = rootfs_setup(c, e);
	if (!ret)
		ret = boot_dev_extras(e);
	if (!ret)
		ret = volumes_mount(c, e);
	if (!ret && c->hostname[0])
		ret = system_set_hostname(c->hostname, e);
	if (!ret)
		ret = system_loopback_up(e);
	/* A sandbox without its network is still of use: say so, go on. */
	if (!ret && c->has_net && netcfg_setup(c, &ne) < 0)
		agent_log("network not configured: %s", ne.msg);
	if (!ret && c->ca_pem[0] && trust_install(c->ca_pem, &ne) < 0)
		agent_log("interception CA not installed: %s", ne.msg);
	return ret;
}

int main(int argc, char **argv)
{
	uint64_t t[BOOT_MARKS];
	struct agent_err e = { "" };
	static struct init_cfg cfg;
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;

	/* The same binary is the `msb` command inside the sandbox. */
	if (argc > 0 && !strcmp(base ? base + 1 : argv[0], "msb"))
		return guest_cli(argc, argv);

	t[MARK_START] = clock_boot_us();
	/* Writes to a dead pipe must fail with EPIPE, not kill PID 1. */
	signal(SIGPIPE, SIG_IGN);
	if (boot_early(&e) < 0)
		agent_fatal(&e);
	exec_init();

	modules_load(MODULES_DIR);
	t[MARK_MODULES] = clock_boot_us();

	if (port_open(PORT_WAIT_MS) < 0) {
		agent_fail(&e, ENODEV, "virtio port \"" PORT_NAME "\" not found after %d s "
			   "(is virtio_console loaded and the virtserialport named "
			   PORT_NAME "?)", PORT_WAIT_MS / 1000);
		agent_fatal(&e);
	}
	t[MARK_PORT] = clock_boot_us();
	if (send_hello() < 0) {
		agent_fail(&e, ENOTCONN, "send HELLO (is the host end of the port open?)");
		agent_fatal(&e);
	}

	if (wait_init(&cfg, &e) < 0)
		agent_fatal(&e);
	t[MARK_INIT] = clock_boot_us();

	if (enter_sandbox(&cfg, &e) < 0)
		agent_fatal(&e);
	t[MARK_ROOTFS] = clock_boot_us();

	t[MARK_READY] = clock_boot_us();
	send_ready(t);
	serve();
}
