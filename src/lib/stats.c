/* SPDX-License-Identifier: Apache-2.0 */
/* stats.c - msb_sandbox_stats(): the `stats` method, and what a stopped
 * sandbox still takes */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "client.h"
#include "jsonx.h"
#include "util.h"

static uint64_t u64(json_object *o, const char *k)
{
	int64_t v = json_object_get_int64(msb_jget(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

static void from_record(const msb_sandbox_info *i, msb_stats *out)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct stat st;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", i->name);
	snprintf(out->status, sizeof(out->status), "%s", i->status);
	out->cpus = i->cpus;
	out->memory_limit_bytes = i->memory_mib << 20;
	if (msb_sandbox_dir(i->name, dir, sizeof(dir)) == 0) {
		snprintf(path, sizeof(path), "%s/upper.ext4", dir);
		if (stat(path, &st) == 0)
			out->disk_bytes = (uint64_t)st.st_blocks * 512;
	}
}

static void from_result(json_object *r, msb_stats *out)
{
	json_object *g = msb_jget(r, "guest");

	out->running = 1;
	/* paused for lack of host disk space (docs/api-protocol.md §7) */
	if (json_object_is_type(msb_jget(r, "paused"), json_type_object))
		snprintf(out->status, sizeof(out->status), "paused");
	out->uptime_ms = u64(r, "uptime_ms");
	out->cpu_percent = json_object_get_double(msb_jget(r, "cpu_percent"));
	out->cpu_time_ns = u64(r, "cpu_time_ns");
	out->memory_rss_bytes = u64(r, "memory_rss_bytes");
	out->memory_used_bytes = out->memory_rss_bytes;
	if (u64(r, "disk_bytes"))
		out->disk_bytes = u64(r, "disk_bytes");
	out->net_rx_bytes = u64(r, "net_rx_bytes");
	out->net_tx_bytes = u64(r, "net_tx_bytes");
	out->net_rx_packets = u64(r, "net_rx_packets");
	out->net_tx_packets = u64(r, "net_tx_packets");
	if (!g || !json_object_is_type(g, json_type_object))
		return;
	out->guest = 1;
	out->memory_total_bytes = u64(g, "memory_total_bytes");
	if (out->memory_total_bytes >= u64(g, "memory_available_bytes"))
		out->memory_used_bytes = out->memory_total_bytes -
					 u64(g, "memory_available_bytes");
	out->disk_total_bytes = u64(g, "disk_total_bytes");
	if (out->disk_total_bytes >= u64(g, "disk_free_bytes"))
		out->disk_used_bytes =
			out->disk_total_bytes - u64(g, "disk_free_bytes");
	out->processes = u64(g, "processes");
}

static int stats_of(const msb_sandbox_info *i, msb_stats *out,
		    msb_error *err)
{
	struct msb_conn c;
	json_object *res = NULL;
	int r;

	from_record(i, out);
	if (!msb_status_is_live(i->status))
		return 0;
	r = msb_conn_open(i->name, &c, err);
	if (r == MSB_E_NOT_RUNNING)
		return 0; /* it stopped in the meantime */
	if (r < 0)
		return r;
	r = msb_conn_call(&c, "stats", NULL, &res, 10000, err);
	msb_conn_close(&c);
	if (r == MSB_E_STOPPED)
		return 0;
	if (r < 0)
		return r;
	from_result(res, out);
	json_object_put(res);
	return 0;
}

MSB_API int msb_sandbox_stats(const char *name, msb_stats *out,
			      msb_error *err)
{
	msb_sandbox_info i;
	int r = msb_sandbox_info_get(name, &i, err);

	if (r < 0)
		return r;
	return stats_of(&i, out, err);
}

MSB_API int msb_stats_list(int all, msb_stats **out, size_t *n,
			   msb_error *err)
{
	msb_sandbox_info *v;
	msb_stats *s;
	size_t cnt, k = 0;
	int r = msb_list(&v, &cnt, err);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	s = calloc(cnt ? cnt : 1, sizeof(*s));
	if (!s) {
		free(v);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < cnt; i++) {
		if (!all && !msb_status_is_live(v[i].status))
			continue;
		/* one that cannot be asked still shows what is known */
		stats_of(&v[i], &s[k], NULL);
		k++;
	}
	free(v);
	*out = s;
	*n = k;
	return 0;
}
