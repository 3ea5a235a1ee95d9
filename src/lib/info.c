/* SPDX-License-Identifier: Apache-2.0 */
/* info.c - what sandboxes' records say: list, info, ports, wait, inspect
 *
 * Theory of operation: the database is the truth for what exists, a
 * supervisor's lock for what runs (state.h), so every record is read
 * reconciled (msb_row_get(), msb_row_load()): one whose supervisor died
 * reads failed. A record in a state that changes by itself soon, a boot
 * or a stop under way, is settling (msb_row_settling()): a wait does not
 * end on it. Only what a record cannot hold is asked of a live sandbox's
 * supervisor (why its VM is paused).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "info.h"
#include "state.h"
#include "util.h"

int msb_row_get(sqlite3 *db, const char *name, struct msb_row *row,
		msb_error *err)
{
	int r = msb_name_valid(name, err);

	if (r < 0)
		return r;
	r = msb_db_get(db, name, row, err);
	if (r < 0)
		return r;
	r = msb_db_reconcile(db, row, err);
	if (r < 0)
		msb_row_free(row);
	return r;
}

/* msb_row_load() - a sandbox's record, reconciled, without keeping the
 * database open. */
int msb_row_load(const char *name, struct msb_row *row, msb_error *err)
{
	sqlite3 *db;
	int r = msb_db_open(NULL, &db, err);

	if (r < 0)
		return r;
	r = msb_row_get(db, name, row, err);
	msb_db_close(db);
	return r;
}

MSB_API int msb_status_is_live(const char *status)
{
	return !strcmp(status, "starting") || !strcmp(status, "running") ||
	       !strcmp(status, "stopping");
}

/* Long enough for a record's "created" to become "starting": the create
 * makes the disk and spawns the supervisor in between. */
#define CREATED_GRACE_S 60

/* msb_row_settling() - a state that changes by itself soon: a boot under
 * way (created, starting) or, with @stops, a stop: "stopping", or "stopped"
 * or "failed" while the supervisor that wrote it still holds the lock (it
 * writes its end, then exits; a start in between spawned a supervisor
 * that found the lock taken, took the sandbox for running and was told
 * so, and the old one then left it stopped). */
int msb_row_settling(const struct msb_row *row, int stops)
{
	return !strcmp(row->info.status, "starting") ||
	       (stops && !strcmp(row->info.status, "stopping")) ||
	       (!strcmp(row->info.status, "created") &&
		msb_wall_s() - row->info.created_at < CREATED_GRACE_S) ||
	       (stops && !msb_status_is_live(row->info.status) &&
		strcmp(row->info.status, "created") &&
		msb_supervisor_alive(row->info.name));
}

/* info_cmd() - the detached command's state, from the record's runtime,
 * into @row->info. One the record says runs, of a sandbox no longer
 * live, went with its VM (a supervisor killed before it could say). */
static void info_cmd(struct msb_row *row)
{
	json_object *rt = json_tokener_parse(row->runtime), *c, *v;

	row->info.cmd_state = MSB_CMD_NONE;
	row->info.cmd_exit_code = 0;
	if (rt && json_object_is_type(rt, json_type_object) &&
	    json_object_object_get_ex(rt, "command", &c) &&
	    json_object_object_get_ex(c, "status", &v)) {
		if (strcmp(json_object_get_string(v), "running")) {
			row->info.cmd_state = MSB_CMD_ENDED;
			row->info.cmd_exit_code = json_object_get_int(
				json_object_object_get(c, "exit_code"));
		} else if (msb_status_is_live(row->info.status)) {
			row->info.cmd_state = MSB_CMD_RUNNING;
		} else {
			row->info.cmd_state = MSB_CMD_ENDED;
			row->info.cmd_exit_code = 128 + SIGKILL;
		}
	}
	json_object_put(rt);
}

/* row_info() - what msb_list() and msb_sandbox_info_get() give of @row:
 * its info, its detached command's state and the snapshot it came from. */
static void row_info(struct msb_row *row, msb_sandbox_info *out)
{
	json_object *c = json_tokener_parse(row->config), *f;

	info_cmd(row);
	*out = row->info;
	if (c && json_object_object_get_ex(c, "from_snapshot", &f) &&
	    json_object_is_type(f, json_type_string))
		snprintf(out->from_snapshot, sizeof(out->from_snapshot), "%s",
			 json_object_get_string(f));
	json_object_put(c);
}

MSB_API int msb_list(msb_sandbox_info **out, size_t *n, msb_error *err)
{
	struct msb_row *rows;
	msb_sandbox_info *v;
	size_t cnt;
	sqlite3 *db;
	int r;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_db_list(db, &rows, &cnt, err);
	if (r < 0)
		goto out;
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	for (size_t i = 0; i < cnt; i++) {
		msb_db_reconcile(db, &rows[i], NULL);
		if (v)
			row_info(&rows[i], &v[i]);
		msb_row_free(&rows[i]);
	}
	free(rows);
	if (!v) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	*out = v;
	*n = cnt;
out:
	msb_db_close(db);
	return r;
}

MSB_API int msb_sandbox_info_get(const char *name, msb_sandbox_info *out,
				 msb_error *err)
{
	struct msb_row row;
	int r = msb_row_load(name, &row, err);

	if (r == 0) {
		row_info(&row, out);
		msb_row_free(&row);
	}
	return r;
}

MSB_API int msb_sandbox_ports(const char *name, msb_port **ports, size_t *n,
			      msb_error *err)
{
	json_object *rt = NULL, *a;
	struct msb_row row;
	msb_port *v;
	size_t cnt = 0;
	int r;

	*ports = NULL;
	*n = 0;
	r = msb_row_load(name, &row, err);
	if (r < 0)
		return r;
	if (msb_status_is_live(row.info.status))
		rt = json_tokener_parse(row.runtime);
	msb_row_free(&row);
	if (!rt || !json_object_object_get_ex(rt, "ports", &a) ||
	    !json_object_is_type(a, json_type_array) ||
	    !json_object_array_length(a)) {
		json_object_put(rt);
		return 0;
	}
	v = calloc(json_object_array_length(a), sizeof(*v));
	if (!v) {
		json_object_put(rt);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *o = json_object_array_get_idx(a, i);
		const char *ip = json_object_get_string(
			json_object_object_get(o, "host_ip"));

		snprintf(v[cnt].host_ip, sizeof(v[cnt].host_ip), "%s",
			 ip ? ip : "");
		v[cnt].host_port = (uint16_t)json_object_get_int(
			json_object_object_get(o, "host_port"));
		v[cnt].guest_port = (uint16_t)json_object_get_int(
			json_object_object_get(o, "guest_port"));
		cnt++;
	}
	json_object_put(rt);
	*ports = v;
	*n = cnt;
	return 0;
}

MSB_API int msb_sandbox_wait(const char *name, unsigned timeout_ms,
			     int *status, msb_error *err)
{
	uint64_t end = msb_now_ms() + timeout_ms;
	struct msb_row row;
	int r;

	for (;;) {
		r = msb_row_load(name, &row, err);
		if (r < 0)
			return r;
		info_cmd(&row);
		if (row.info.cmd_state == MSB_CMD_ENDED) {
			*status = row.info.cmd_exit_code;
			break;
		}
		if (!msb_status_is_live(row.info.status) &&
		    !msb_row_settling(&row, 1)) {
			if (!strcmp(row.info.status, "failed"))
				r = msb_fail(err, -EIO, "sandbox '%s' failed: %s",
					     name, row.info.error);
			*status = 0;
			break;
		}
		msb_row_free(&row);
		if (timeout_ms && msb_now_ms() >= end)
			return msb_fail(err, -ETIMEDOUT,
					"sandbox '%s' is still running", name);
		usleep(50000);
	}
	msb_row_free(&row);
	return r;
}

/* paused_json() - why a live sandbox's VM is paused (its supervisor's
 * info: a full host disk), or NULL: the record cannot say, since the
 * database may not be written then. */
static json_object *paused_json(const char *name)
{
	struct msb_conn c;
	json_object *res = NULL, *p = NULL;

	if (msb_conn_open(name, &c, NULL) < 0)
		return NULL;
	if (msb_conn_call(&c, "info", NULL, &res, 5000, NULL) == 0 &&
	    json_object_object_get_ex(res, "paused", &p) &&
	    json_object_is_type(p, json_type_object))
		json_object_get(p);
	else
		p = NULL;
	json_object_put(res);
	msb_conn_close(&c);
	return p;
}

MSB_API int msb_inspect_json(const char *name, char **json, msb_error *err)
{
	struct msb_row row;
	json_object *o, *paths;
	char dir[PATH_MAX], p[PATH_MAX + 32];
	int r;

	r = msb_row_load(name, &row, err);
	if (r < 0)
		return r;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(row.info.name));
	json_object_object_add(o, "image",
			       json_object_new_string(row.info.image));
	json_object_object_add(o, "status",
			       json_object_new_string(row.info.status));
	json_object_object_add(o, "paused",
			       msb_status_is_live(row.info.status) ?
				       paused_json(name) :
				       NULL);
	json_object_object_add(o, "cpus", json_object_new_int((int)row.info.cpus));
	json_object_object_add(o, "memory_mib",
			       json_object_new_int64((int64_t)row.info.memory_mib));
	json_object_object_add(o, "pid", json_object_new_int(row.info.pid));
	json_object_object_add(o, "created_at",
			       json_object_new_int64(row.info.created_at));
	json_object_object_add(o, "started_at",
			       json_object_new_int64(row.info.started_at));
	json_object_object_add(o, "stopped_at",
			       json_object_new_int64(row.info.stopped_at));
	json_object_object_add(o, "error",
			       row.info.error[0] ?
				       json_object_new_string(row.info.error) :
				       NULL);
	json_object_object_add(o, "config", json_tokener_parse(row.config));
	{
		json_object *rt = json_tokener_parse(row.runtime);

		/* The VM's pid only while there is one (a supervisor
		 * killed outright could not take it out). */
		if (rt && json_object_is_type(rt, json_type_object) &&
		    !msb_status_is_live(row.info.status)) {
			json_object_object_del(rt, "vm_pid");
			json_object_object_del(rt, "ports");
		}
		json_object_object_add(o, "runtime", rt);
	}
	msb_sandbox_dir(name, dir, sizeof(dir));
	paths = json_object_new_object();
	json_object_object_add(paths, "dir", json_object_new_string(dir));
	snprintf(p, sizeof(p), "%s/console.log", dir);
	json_object_object_add(paths, "log", json_object_new_string(p));
	snprintf(p, sizeof(p), "%s/upper.ext4", dir);
	json_object_object_add(paths, "disk", json_object_new_string(p));
	snprintf(p, sizeof(p), "%s/api.sock", dir);
	json_object_object_add(paths, "api_socket", json_object_new_string(p));
	json_object_object_add(o, "paths", paths);
	*json = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	msb_row_free(&row);
	if (!*json)
		return msb_fail(err, -ENOMEM, "out of memory");
	return 0;
}

MSB_API int msb_sandbox_logs_path(const char *name, char *buf, size_t n,
				  msb_error *err)
{
	struct msb_row row;
	sqlite3 *db;
	int r;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_name_valid(name, err);
	if (r == 0)
		r = msb_db_get(db, name, &row, err);
	msb_db_close(db);
	if (r < 0)
		return r;
	msb_row_free(&row);
	if (snprintf(buf, n, "%s/sandboxes/%s/console.log", msb_home(), name) >=
	    (int)n)
		return msb_fail(err, -ENAMETOOLONG, "path too long");
	return 0;
}
