/* SPDX-License-Identifier: Apache-2.0 */
/* spawn.c - the host's side of sandboxes that spawn peers (docs/spawn.md)
 *
 * The policy a sandbox is created with goes into its record as "spawn";
 * its supervisor forks a spawn broker for it (src/supervisor/broker.c),
 * which enforces it. A peer's record says who spawned it ("spawned_by")
 * and whose quota it counts against ("spawn_root").
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "project.h"
#include "state.h"
#include "util.h"

#define MAX_PEERS 64
#define MAX_IMAGES 32

struct msb_spawn_policy {
	unsigned max;
	json_object *images;
	unsigned cpus;
	uint64_t memory_mib, total_memory_mib;
};

msb_spawn_policy *msb_spawn_policy_new(unsigned max_peers)
{
	msb_spawn_policy *p;

	if (!max_peers || max_peers > MAX_PEERS)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->max = max_peers;
	p->images = json_object_new_array();
	return p;
}

void msb_spawn_policy_free(msb_spawn_policy *p)
{
	if (!p)
		return;
	json_object_put(p->images);
	free(p);
}

int msb_spawn_policy_add_image(msb_spawn_policy *p, const char *image,
			       msb_error *err)
{
	if (!p || !image || !*image || strlen(image) > 255 ||
	    strpbrk(image, " \t\n"))
		return msb_fail(err, MSB_E_INVALID, "invalid --spawn-image "
				"'%s': an image reference",
				image ? image : "");
	if (json_object_array_length(p->images) >= MAX_IMAGES)
		return msb_fail(err, MSB_E_INVALID, "too many --spawn-image "
				"(at most %d)", MAX_IMAGES);
	json_object_array_add(p->images, json_object_new_string(image));
	return 0;
}

void msb_spawn_policy_set_limits(msb_spawn_policy *p, unsigned cpus,
				 uint64_t memory_mib, uint64_t total_memory_mib)
{
	if (!p)
		return;
	p->cpus = cpus;
	p->memory_mib = memory_mib;
	p->total_memory_mib = total_memory_mib;
}

void msb_spawn_policy_record(const msb_spawn_policy *p,
			     const msb_sandbox_config *c, json_object *x)
{
	json_object *o, *imgs;
	uint64_t mem;

	if (!p)
		return;
	o = json_object_new_object();
	imgs = json_object_new_array();
	json_object_array_add(imgs, json_object_new_string(
					    c->image && *c->image ? c->image :
								    "default"));
	for (size_t i = 0; i < json_object_array_length(p->images); i++)
		json_object_array_add(imgs, json_object_get(
					json_object_array_get_idx(p->images, i)));
	mem = p->memory_mib ? p->memory_mib :
	      c->memory_mib ? c->memory_mib : DEFAULT_MEM_MIB;
	json_object_object_add(o, "max", json_object_new_int((int)p->max));
	json_object_object_add(o, "images", imgs);
	json_object_object_add(o, "cpus", json_object_new_int(
		(int)(p->cpus ? p->cpus : c->cpus ? c->cpus : 1)));
	json_object_object_add(o, "memory_mib",
			       json_object_new_int64((int64_t)mem));
	json_object_object_add(o, "total_memory_mib", json_object_new_int64(
		(int64_t)(p->total_memory_mib ? p->total_memory_mib :
						mem * p->max)));
	json_object_object_add(x, "spawn", o);
}

int msb_sandbox_create_full(const msb_sandbox_config *c, const msb_plugins *pl,
			    const msb_spawn_policy *sp, msb_sandbox **out,
			    msb_error *err)
{
	json_object *x = json_object_new_object();
	int r;

	msb_plugins_record(pl, x);
	msb_spawn_policy_record(sp, c, x);
	r = msb_sandbox_create_extra(c, x, out, err);
	json_object_put(x);
	return r;
}

/* spawned_by() - the record's "spawned_by", into @buf ("" if none). */
static void spawned_by(const char *config, char *buf, size_t n)
{
	json_object *cfg = json_tokener_parse(config ? config : ""), *v;

	buf[0] = '\0';
	if (cfg && json_object_object_get_ex(cfg, "spawned_by", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(buf, n, "%s", json_object_get_string(v));
	json_object_put(cfg);
}

int msb_sandbox_parent(const char *name, char *buf, size_t n, msb_error *err)
{
	struct msb_row row;
	sqlite3 *db;
	int r;

	if (n)
		buf[0] = '\0';
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_db_get(db, name, &row, err);
	msb_db_close(db);
	if (r < 0)
		return r;
	spawned_by(row.config, buf, n);
	msb_row_free(&row);
	return 0;
}

/* peers_of() - the names of the sandboxes @parent spawned (with @live,
 * only those a supervisor owns), at most @max. Return: how many. */
static size_t peers_of(const char *parent, int live, char (*names)[64],
		       size_t max)
{
	struct msb_row *rows;
	char by[64];
	size_t n, k = 0;
	sqlite3 *db;

	if (msb_db_open(NULL, &db, NULL) < 0)
		return 0;
	if (msb_db_list(db, &rows, &n, NULL) < 0) {
		msb_db_close(db);
		return 0;
	}
	msb_db_close(db);
	for (size_t i = 0; i < n; i++) {
		spawned_by(rows[i].config, by, sizeof(by));
		if (!strcmp(by, parent) && k < max &&
		    (!live || msb_status_is_live(rows[i].info.status)))
			snprintf(names[k++], 64, "%s", rows[i].info.name);
		msb_row_free(&rows[i]);
	}
	free(rows);
	return k;
}

void msb_peers_remove(const char *parent)
{
	char names[MAX_PEERS * 4][64];
	size_t k = peers_of(parent, 0, names, MAX_PEERS * 4);

	/* each one removes its own peers in turn */
	for (size_t i = 0; i < k; i++)
		msb_sandbox_remove(names[i], 1, NULL);
}

void msb_peers_stop(const char *parent, unsigned timeout_s)
{
	char names[MAX_PEERS * 4][64];
	size_t k = peers_of(parent, 1, names, MAX_PEERS * 4);

	/* each one stops its own peers in turn (msb_sandbox_stop()) */
	for (size_t i = 0; i < k; i++)
		msb_sandbox_stop(names[i], timeout_s, NULL, NULL);
}
