/* SPDX-License-Identifier: Apache-2.0 */
/* stats.c - the `stats` method: what a sandbox uses, from both sides
 *
 * From the host: the VM's CPU time and resident memory (QEMU's
 * /proc/PID/stat and statm, which the engine's launcher opened:
 * msb_engine_usage()), the blocks its upper disk holds, and the
 * bytes through the network stack. CPU use is sampled once a second by the
 * tick timer while the sandbox runs, so a single request can say how busy
 * it is now. From the guest, asked with STATS and answered with METRICS
 * (docs/agent-protocol.md §4): memory in use, its root filesystem, its
 * processes. A guest that does not answer within a second costs only its
 * own numbers: the reply goes out with "guest": null. Every number from the
 * guest is a u64 in a TLV record, read with bounds checks and taken as
 * information, never as a size to allocate.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonx.h"
#include "net.h"
#include "supervisor.h"
#include "util.h"

#define STATS_WAIT_US 1000000 /* for the guest's part */
#define SAMPLE_US 1000000     /* CPU use, sampled this often */

void sup_stats_sample(struct sup *s)
{
	uint64_t now = msb_now_us(), cpu, rss;

	s->stats_next_us = 0;
	if (s->state != ST_RUNNING)
		return;
	s->stats_next_us = now + SAMPLE_US;
	if (msb_engine_usage(&s->vm, &cpu, &rss) < 0)
		return;
	if (s->stats_cpu_us && now > s->stats_cpu_us && cpu >= s->stats_cpu_ns)
		s->stats_cpu_pct = (double)(cpu - s->stats_cpu_ns) * 100.0 /
				   ((double)(now - s->stats_cpu_us) * 1000.0);
	else if (s->vm.launched_us && now > s->vm.launched_us)
		/* the first sample: the average since the VM started */
		s->stats_cpu_pct = (double)cpu * 100.0 /
				   ((double)(now - s->vm.launched_us) * 1000.0);
	s->stats_cpu_ns = cpu;
	s->stats_cpu_us = now;
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* host_json() - the host's side of a stats result */
static json_object *host_json(struct sup *s)
{
	json_object *o = json_object_new_object();
	uint64_t now = msb_now_us(), cpu = 0, rss = 0, disk = 0;
	struct net_stats ns = { 0 };
	struct stat st;
	double pct = s->stats_cpu_pct;

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "status", json_object_new_string(
						    s->state == ST_RUNNING ?
							    "running" :
						    s->state == ST_BOOTING ?
							    "starting" :
							    "stopping"));
	/* null, or why the VM is paused (diskfull.c) */
	json_object_object_add(o, "paused", sup_diskfull_json(s));
	add_u64(o, "uptime_ms", s->ready_us && now > s->ready_us ?
					(now - s->ready_us) / 1000 :
					0);
	add_u64(o, "cpus", s->spec.cpus);
	if (msb_engine_usage(&s->vm, &cpu, &rss) == 0 && !s->stats_cpu_us &&
	    s->vm.launched_us && now > s->vm.launched_us)
		/* no sample yet: the average since the VM started */
		pct = (double)cpu * 100.0 /
		      ((double)(now - s->vm.launched_us) * 1000.0);
	json_object_object_add(o, "cpu_percent",
			       msb_jdouble(pct, 1));
	add_u64(o, "cpu_time_ns", cpu);
	add_u64(o, "memory_limit_bytes", (uint64_t)s->spec.memory_mib << 20);
	add_u64(o, "memory_rss_bytes", rss);
	if (s->spec.ndisks && s->spec.disks[0].path &&
	    stat(s->spec.disks[0].path, &st) == 0)
		disk = (uint64_t)st.st_blocks * 512;
	add_u64(o, "disk_bytes", disk);
	if (s->net)
		net_get_stats(s->net, &ns);
	/* the guest's view: received is what the stack sent it */
	add_u64(o, "net_rx_bytes", ns.tx_bytes);
	add_u64(o, "net_tx_bytes", ns.rx_bytes);
	add_u64(o, "net_rx_packets", ns.tx_frames);
	add_u64(o, "net_tx_packets", ns.rx_frames);
	return o;
}

static const struct {
	uint8_t tag;
	const char *key;
} guest_keys[] = {
	{ MSB_T_G_MEM_TOTAL, "memory_total_bytes" },
	{ MSB_T_G_MEM_AVAIL, "memory_available_bytes" },
	{ MSB_T_G_CPU_NS, "cpu_time_ns" },
	{ MSB_T_G_UPTIME_NS, "uptime_ns" },
	{ MSB_T_G_PROCS, "processes" },
	{ MSB_T_G_DISK_TOTAL, "disk_total_bytes" },
	{ MSB_T_G_DISK_FREE, "disk_free_bytes" },
};

/* guest_json() - a METRICS payload; records of the wrong size, and
 * numbers JSON cannot hold exactly, are left out. */
static json_object *guest_json(const uint8_t *p, uint32_t n)
{
	json_object *o = json_object_new_object();
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;

	msb_tlv_r_init(&r, p, n);
	while (msb_tlv_next(&r, &tag, &v, &len) == 1) {
		uint64_t x;

		if (len != 8)
			continue;
		x = msb_get_be64(v);
		if (x > (1ull << 53))
			continue;
		if (tag == MSB_T_G_LOAD1) {
			json_object_object_add(o, "load1",
					       msb_jdouble((double)x / 1000.0,
							   3));
			continue;
		}
		for (size_t i = 0; i < sizeof(guest_keys) / sizeof(guest_keys[0]);
		     i++)
			if (guest_keys[i].tag == tag)
				json_object_object_add(o, guest_keys[i].key,
						       json_object_new_int64(
							       (int64_t)x));
	}
	return o;
}

static void answer(struct sup *s, struct stats_wait *w, json_object *guest)
{
	json_object *res = host_json(s);

	json_object_object_add(res, "guest", guest);
	if (api_conn_alive(s, w->c, w->serial))
		api_reply_result(s, w->c, w->id, res);
	else
		json_object_put(res);
	w->c = NULL;
}

void sup_stats_request(struct sup *s, struct conn *c, int64_t id,
		       json_object *params)
{
	struct stats_wait *w = NULL;
	json_object *v;

	/* "guest": false asks for the host's numbers alone, at once; a
	 * paused guest could not answer */
	if (s->state != ST_RUNNING || s->agent_fd < 0 ||
	    sup_diskfull_paused(s) ||
	    (params && json_object_object_get_ex(params, "guest", &v) &&
	     json_object_is_type(v, json_type_boolean) &&
	     !json_object_get_boolean(v))) {
		json_object *res = host_json(s);

		json_object_object_add(res, "guest", NULL);
		api_reply_result(s, c, id, res);
		return;
	}
	for (int i = 0; i < STATS_WAITING; i++)
		if (!s->stats_wait[i].c) {
			w = &s->stats_wait[i];
			break;
		}
	if (!w) {
		json_object *res = host_json(s);

		json_object_object_add(res, "guest", NULL);
		api_reply_result(s, c, id, res);
		return;
	}
	w->c = c;
	w->serial = c->serial;
	w->id = id;
	w->stream = ++s->stats_seq ? s->stats_seq : ++s->stats_seq;
	w->deadline_us = msb_now_us() + STATS_WAIT_US;
	agent_send(s, w->stream, MSB_F_STATS, NULL, 0);
	sup_tick_rearm(s);
}

void sup_stats_metrics(struct sup *s, uint32_t stream, const uint8_t *p,
		       uint32_t n)
{
	for (int i = 0; i < STATS_WAITING; i++) {
		struct stats_wait *w = &s->stats_wait[i];

		if (w->c && w->stream == stream) {
			answer(s, w, guest_json(p, n));
			return;
		}
	}
}

uint64_t sup_stats_deadline(struct sup *s)
{
	uint64_t next = s->stats_next_us;

	for (int i = 0; i < STATS_WAITING; i++)
		if (s->stats_wait[i].c &&
		    (!next || s->stats_wait[i].deadline_us < next))
			next = s->stats_wait[i].deadline_us;
	return next;
}

void sup_stats_tick(struct sup *s, uint64_t now)
{
	for (int i = 0; i < STATS_WAITING; i++) {
		struct stats_wait *w = &s->stats_wait[i];

		if (w->c && (w->deadline_us <= now || s->state != ST_RUNNING))
			answer(s, w, NULL);
	}
	if (s->stats_next_us && s->stats_next_us <= now)
		sup_stats_sample(s);
}
