/* SPDX-License-Identifier: Apache-2.0 */
/* check.c - a sandbox's configuration checked, and the host for its boot
 *
 * Theory of operation: a create refuses a configuration before it makes
 * anything (msb_sandbox_config_check(): each value on its own, and the
 * memory against the host's); once its image is resolved, it checks that
 * the host has what a boot of it needs (msb_host_check()). A start and a
 * restore check the host again, since it may have changed: each missing
 * piece is named with how to get it, before a supervisor is spawned that
 * could only time out.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "check.h"
#include "engine.h"
#include "image.h"
#include "netcfg.h"
#include "tlscfg.h"
#include "util.h"

#define MAX_CPUS 64
#define MIN_DISK_MIB 64
#define MAX_DISK_MIB (1ull << 20) /* 1 TiB */

/* host_memory_mib() - the host's RAM, 0 if unknown. */
static uint64_t host_memory_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ?
		       (uint64_t)pages * (uint64_t)size / (1024 * 1024) :
		       0;
}

/* check_memory() - guest RAM is only taken as it is touched, so more than
 * is free may boot; more than the host has cannot (the boot would wait
 * for its timeout, or the OOM killer come later). */
static int check_memory(uint64_t memory_mib, msb_error *err)
{
	uint64_t host = host_memory_mib();
	char want[32], have[32];

	if (!host || memory_mib <= host)
		return 0;
	msb_fmt_mib(memory_mib, want, sizeof(want));
	msb_fmt_mib(host, have, sizeof(have));
	return msb_fail(err, -ENOMEM,
			"cannot give the sandbox %s of memory: this host has "
			"%s in all; ask for less with --memory",
			want, have);
}

/* msb_sandbox_config_check() - each value on its own, before anything is
 * made: the memory asked for also against what the host has. */
int msb_sandbox_config_check(const msb_sandbox_config *c, msb_error *err)
{
	int r;

	r = msb_name_valid(c->name, err);
	if (r < 0)
		return r;
	if (c->cpus > MAX_CPUS)
		return msb_fail(err, -EINVAL,
				"invalid cpu count %u: at most %d", c->cpus,
				MAX_CPUS);
	if (c->memory_mib && (c->memory_mib < 64 || c->memory_mib > 1048576))
		return msb_fail(err, -EINVAL,
				"invalid memory size %lluM: it must be between "
				"64M and 1024G",
				(unsigned long long)c->memory_mib);
	r = check_memory(c->memory_mib ? c->memory_mib : DEFAULT_MEM_MIB, err);
	if (r < 0)
		return r;
	if (c->disk_mib && (c->disk_mib < MIN_DISK_MIB ||
			    c->disk_mib > MAX_DISK_MIB))
		return msb_fail(err, -EINVAL,
				"invalid disk size %lluM: it must be between "
				"64M and 1024G",
				(unsigned long long)c->disk_mib);
	for (const char *const *v = c->env; v && *v; v++)
		if (!strchr(*v, '=') || **v == '=')
			return msb_fail(err, -EINVAL,
					"invalid environment entry '%s': use "
					"KEY=VALUE",
					*v);
	if (c->workdir && c->workdir[0] != '/')
		return msb_fail(err, -EINVAL,
				"invalid working directory '%s': it must be an "
				"absolute path",
				c->workdir);
	r = msb_net_config_check(&c->net, err);
	if (r < 0)
		return r;
	if (c->on_secret_violation && strcmp(c->on_secret_violation, "block") &&
	    strcmp(c->on_secret_violation, "log") &&
	    strcmp(c->on_secret_violation, "allow"))
		return msb_fail(err, -EINVAL,
				"invalid on-secret-violation '%s': use block, "
				"log or allow",
				c->on_secret_violation);
	r = msb_tls_config_json(c, NULL, err);
	if (r < 0)
		return r;
	return 0;
}

/* msb_host_check() - what a boot needs, each missing piece with how to get
 * it: the engine and its accelerator, memory, the kernel, and the sandbox's
 * layer disks (of image @image; NULL: msb_image_resolve() saw to them),
 * each one whole (made again from its blobs if not: msb_layers_ready()). */
int msb_host_check(json_object *layers, const char *image,
		   const char *kernel, uint64_t memory_mib, msb_error *err)
{
	char p[PATH_MAX], rel[PATH_MAX];
	enum msb_accel accel;
	unsigned tb_mib;
	int r;

	r = msb_engine_find(p, sizeof(p), err);
	if (r < 0)
		return r;
	r = msb_engine_accel_check(&accel, NULL, err);
	if (r < 0)
		return r;
	r = msb_engine_tcg_tb_check(&tb_mib, err);
	if (r < 0)
		return r;
	r = check_memory(memory_mib, err);
	if (r < 0)
		return r;
	r = msb_guest_paths(kernel, p, rel, sizeof(p), NULL, err);
	if (r < 0)
		return r;
	return layers ? msb_layers_ready(NULL, layers, image, err) : 0;
}
