/* SPDX-License-Identifier: Apache-2.0 */
/* autosync.c - msb_sandbox_set_sync(): a sandbox that pushes itself
 *
 * The setting is a key of the sandbox's record config ("sync"), read when
 * msb_sandbox_stop_sync() has stopped it (src/lib/sandbox.c). It is a call
 * of its own, not a field of msb_sandbox_config, so that turning it on or
 * off never needs a new sandbox (a pulled one keeps what it was pushed
 * with).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "state.h"
#include "sync.h"
#include "util.h"

MSB_API int msb_sandbox_set_sync(const char *name, int on, msb_error *err)
{
	msb_error local = { 0 };
	struct msb_row row = { 0 };
	struct msb_sync_row last = { 0 };
	json_object *cfg = NULL;
	char remote[512];
	sqlite3 *db = NULL;
	int r;

	if (!err)
		err = &local;
	r = msb_name_valid(name, err);
	if (r == 0)
		r = msb_db_open(NULL, &db, err);
	if (r == 0)
		r = msb_db_get(db, name, &row, err);
	if (r < 0)
		goto out;
	if (on && msb_sync_db_get(db, name, &last, NULL) < 0 &&
	    msb_remote_get(remote, sizeof(remote), NULL, NULL) < 0) {
		r = msb_fail(err, -ENOENT,
			     "sync needs a place to push to: set a remote with "
			     "'msb remote set REGISTRY/NAMESPACE' (or "
			     "$MSB_REMOTE)");
		goto out;
	}
	cfg = json_tokener_parse(row.config ? row.config : "{}");
	if (!cfg || !json_object_is_type(cfg, json_type_object)) {
		r = msb_fail(err, -EPROTO, "the record of '%s' is damaged",
			     name);
		goto out;
	}
	if (on)
		json_object_object_add(cfg, "sync", json_object_new_boolean(1));
	else
		json_object_object_del(cfg, "sync");
	r = msb_db_set_config(db, name,
			      json_object_to_json_string_ext(
				      cfg, JSON_C_TO_STRING_PLAIN),
			      err);
out:
	json_object_put(cfg);
	msb_sync_row_free(&last);
	msb_row_free(&row);
	if (db)
		msb_db_close(db);
	return r;
}
