/* SPDX-License-Identifier: Apache-2.0 */
/* syncdb.c - the sync tables: what each sandbox last pushed or pulled,
 * and what each snapshot was pushed as or pulled from */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "sync.h"
#include "util.h"

void msb_sync_row_free(struct msb_sync_row *r)
{
	free(r->map);
	r->map = NULL;
}

int msb_sync_row_set(struct msb_sync_row *r, const char *name,
		     const char *reference, const char *digest,
		     const struct msb_disk_map *map, msb_error *err)
{
	json_object *mj;

	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->reference, sizeof(r->reference), "%s", reference);
	snprintf(r->digest, sizeof(r->digest), "%s", digest);
	r->synced_at = msb_wall_s();
	if (!map)
		return 0;
	mj = msb_disk_map_json(map);
	r->map = strdup(json_object_to_json_string_ext(mj,
						       JSON_C_TO_STRING_PLAIN));
	json_object_put(mj);
	return r->map ? 0 : msb_fail(err, -ENOMEM, "out of memory");
}

void msb_sync_info_fill(msb_sync_info *out, const char *name,
			const char *reference, const char *digest,
			const struct msb_disk_map *const *maps, size_t n)
{
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->reference, sizeof(out->reference), "%s", reference);
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	for (size_t f = 0; f < n; f++) {
		out->chunks += (unsigned)maps[f]->n;
		for (size_t i = 0; i < maps[f]->n; i++)
			out->disk_bytes += maps[f]->v[i].len;
	}
}

static int db_fail(sqlite3 *db, msb_error *err, const char *what)
{
	return msb_fail(err, -EIO, "state database: %s: %s", what,
			sqlite3_errmsg(db));
}

/* A row of the sync table (with_map) or of snapshot_sync by name: both
 * begin with reference, digest, synced_at; the sync table's map and disk
 * time follow. 0, -ENOENT when there is none, or an error. */
static int row_get(sqlite3 *db, int with_map, const char *name,
		   struct msb_sync_row *r, msb_error *err)
{
	const char *what = with_map ? "select sync" : "select snapshot sync";
	sqlite3_stmt *st;
	int rc;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(db, with_map ?
			       "SELECT reference, digest, synced_at, map, "
			       "disk_mtime_ns FROM sync WHERE name = ?" :
			       "SELECT reference, digest, synced_at FROM "
			       "snapshot_sync WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, what);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t;

		snprintf(r->name, sizeof(r->name), "%s", name);
		t = sqlite3_column_text(st, 0);
		snprintf(r->reference, sizeof(r->reference), "%s",
			 t ? (const char *)t : "");
		t = sqlite3_column_text(st, 1);
		snprintf(r->digest, sizeof(r->digest), "%s",
			 t ? (const char *)t : "");
		r->synced_at = sqlite3_column_int64(st, 2);
		if (with_map) {
			t = sqlite3_column_text(st, 3);
			r->map = strdup(t ? (const char *)t : "{}");
			r->disk_mtime_ns = sqlite3_column_int64(st, 4);
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return !with_map || r->map ? 0 :
			msb_fail(err, -ENOMEM, "out of memory");
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return db_fail(db, err, what);
}

int msb_sync_db_get(sqlite3 *db, const char *name, struct msb_sync_row *r,
		    msb_error *err)
{
	return row_get(db, 1, name, r, err);
}

int msb_sync_db_put(sqlite3 *db, const struct msb_sync_row *r,
		    msb_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO sync (name, reference, "
			       "digest, map, disk_mtime_ns, synced_at) VALUES "
			       "(?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "record sync");
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->reference, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->map ? r->map : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, r->disk_mtime_ns);
	sqlite3_bind_int64(st, 6, r->synced_at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, err, "record sync");
}

int msb_snap_sync_get(sqlite3 *db, const char *name, struct msb_sync_row *r,
		      msb_error *err)
{
	return row_get(db, 0, name, r, err);
}

int msb_snap_sync_put(sqlite3 *db, const struct msb_sync_row *r,
		      msb_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO snapshot_sync (name, "
			       "reference, digest, synced_at) VALUES "
			       "(?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "record snapshot sync");
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->reference, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->synced_at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, err, "record snapshot sync");
}

void msb_snap_sync_forget(const char *name)
{
	sqlite3_stmt *st;
	sqlite3 *db;

	if (msb_db_open(NULL, &db, NULL) < 0)
		return;
	if (sqlite3_prepare_v2(db, "DELETE FROM snapshot_sync WHERE name = ?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	msb_db_close(db);
}

void msb_snap_sync_rename(const char *name, const char *new_name)
{
	sqlite3_stmt *st;
	sqlite3 *db;

	if (msb_db_open(NULL, &db, NULL) < 0)
		return;
	if (sqlite3_prepare_v2(db,
			       "UPDATE snapshot_sync SET name = ? WHERE name = ?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, new_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	msb_db_close(db);
}
