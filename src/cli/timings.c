/* SPDX-License-Identifier: Apache-2.0 */
/* timings.c - msb run --timings: where a start's time went
 *
 * Host milestones (from the supervisor) and guest milestones (from the
 * agent's READY, in the guest's CLOCK_BOOTTIME) meet at the moment READY
 * arrived: the guest's clock started ready_us before that, which places the
 * kernel's start on the host timeline. What lies between QEMU's launch and
 * that point is QEMU itself, the firmware (none with PVH) and loading the
 * kernel and initramfs.
 */

#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"

static void row(const char *what, double ms, const char *note)
{
	fprintf(stderr, "  %-16s %8.1f ms  %s\n", what, ms, note);
}

char *cli_fetch_timings(const char *name)
{
	msb_error err = { 0 };
	char *json;

	if (msb_inspect_json(name, &json, &err) < 0) {
		cli_err("timings: %s", err.message);
		return NULL;
	}
	return json;
}

void cli_print_timings(const char *name, char *json, double exec_ms)
{
	json_object *o, *rt, *g;
	int64_t launch, ready, start, modules, port, init, rootfs, gready;
	double entry;

	if (!json)
		return;
	o = json_tokener_parse(json);
	free(json);
	rt = o ? json_object_object_get(o, "runtime") : NULL;
	g = rt ? json_object_object_get(rt, "guest_timings_us") : NULL;
	launch = msb_jint(rt, "host_launch_us", -1);
	ready = msb_jint(rt, "host_ready_us", -1);
	start = msb_jint(g, "start", -1);
	modules = msb_jint(g, "modules", -1);
	port = msb_jint(g, "port", -1);
	init = msb_jint(g, "init_received", -1);
	rootfs = msb_jint(g, "rootfs", -1);
	gready = msb_jint(g, "ready", -1);
	if (launch < 0 || ready < 0 || start < 0 || gready < 0) {
		cli_err("timings: not recorded for %s", name);
		json_object_put(o);
		return;
	}
	entry = (double)(ready - gready); /* guest clock zero, host timeline */
	fprintf(stderr, "timings for %s (%s):\n", name,
		json_object_get_string(json_object_object_get(rt, "accel")));
	row("host setup", launch / 1e3, "checks, state, disk, supervisor, QEMU spawn");
	row("qemu+firmware", (entry - launch) / 1e3,
	    "QEMU start, kernel and initramfs load, to the guest clock's start");
	row("kernel", start / 1e3, "kernel init, to /init (the agent)");
	row("agent modules", (modules - start) / 1e3, "mounts, module loading");
	row("agent port", (port - modules) / 1e3, "waiting for the agent port");
	row("handshake", (init - port) / 1e3, "HELLO, INIT from the host");
	row("rootfs", (rootfs - init) / 1e3, "clock, layers, upper, overlay, switch root");
	row("ready", (ready - entry - rootfs) / 1e3, "READY sent and received");
	if (exec_ms >= 0)
		row("first exec", exec_ms, "the command, from request to exit");
	row("total", ready / 1e3 + (exec_ms > 0 ? exec_ms : 0), "");
	json_object_put(o);
}
