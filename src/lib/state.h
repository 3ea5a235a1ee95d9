/* SPDX-License-Identifier: Apache-2.0 */
/* state.h - sandbox records in <home>/msb.db (SQLite)
 *
 * The database is the truth for what exists; whether a supervisor is alive is
 * told by its lock on <home>/sandboxes/NAME/lock, never by a stored pid alone.
 */
#ifndef MSB_STATE_H
#define MSB_STATE_H

#include <sqlite3.h>

#include "msb.h"

struct msb_row {
	msb_sandbox_info info;
	char *config;   /* JSON: env, workdir, cmd, boot_timeout_ms, ephemeral */
	char *runtime;  /* JSON: accel, boot timings, qemu pid; set by the supervisor */
};

void msb_row_free(struct msb_row *r);

/* msb_db_open() - open (creating, migrating) the state database at @path, or
 * <home>/msb.db when @path is NULL. */
int msb_db_open(const char *path, sqlite3 **db, msb_error *err);
void msb_db_close(sqlite3 *db);

/* Return: 0, -EEXIST if the name is taken. */
int msb_db_insert(sqlite3 *db, const struct msb_row *r, msb_error *err);
/* Return: 0, -ENOENT if there is no such sandbox. */
int msb_db_get(sqlite3 *db, const char *name, struct msb_row *r,
	       msb_error *err);
int msb_db_list(sqlite3 *db, struct msb_row **rows, size_t *n, msb_error *err);
int msb_db_delete(sqlite3 *db, const char *name, msb_error *err);

/* msb_db_set_status() - status and the columns that go with it: pid, error
 * text (NULL clears it), started_at/stopped_at stamped by status. */
int msb_db_set_status(sqlite3 *db, const char *name, const char *status,
		      int pid, const char *error, msb_error *err);
int msb_db_set_runtime(sqlite3 *db, const char *name, const char *json,
		       msb_error *err);
/* msb_db_set_config() - replace a record's config (JSON). */
int msb_db_set_config(sqlite3 *db, const char *name, const char *json,
		      msb_error *err);

/* msb_lock_path() / msb_supervisor_alive() - the liveness lock. */
int msb_lock_path(const char *name, char *buf, size_t n);
int msb_supervisor_alive(const char *name);
/* msb_supervisor_alive_pid() - alive by the lock, or (its directory
 * deleted or replaced under it) by process @pid still holding the lock
 * file of that path open: a running VM is never taken for gone. */
int msb_supervisor_alive_pid(const char *name, int pid);

/* msb_db_reconcile() - a row that says starting/running/stopping with no
 * live supervisor is rewritten as failed; @r is updated to match. */
int msb_db_reconcile(sqlite3 *db, struct msb_row *r, msb_error *err);

#endif
