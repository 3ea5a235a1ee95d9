/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot.h - what snapshot.c needs from sandbox.c, and what src/sync/
 * needs of snapshots */
#ifndef MSB_LIB_SNAPSHOT_H
#define MSB_LIB_SNAPSHOT_H

#include <json-c/json.h>

#include "msb.h"

/* msb_sandbox_create_from() - a new sandbox @info->name with config @cfg
 * (a snapshot's), its upper disk a qcow2 overlay over @backing; with
 * @restore_dir its supervisor continues that snapshot's machine, else it
 * boots fresh. */
int msb_sandbox_create_from(const msb_sandbox_info *info, json_object *cfg,
			    const char *backing, const char *restore_dir,
			    msb_sandbox **out, msb_error *err);

/* msb_snapshot_load() - snapshot @name's directory into @dir and its
 * meta.json into *@meta, with @verify every file checked against its
 * integrity record (MSB_E_DAMAGED). */
int msb_snapshot_load(const char *name, char *dir, size_t n,
		      json_object **meta, int verify, msb_error *err);
/* msb_snapshot_seal() - the files written in @tmp synced, their integrity
 * recorded into @meta, meta.json written, and @tmp renamed to @dir: a
 * snapshot appears whole or not at all. */
int msb_snapshot_seal(const char *tmp, const char *dir, json_object *meta,
		      msb_error *err);
/* msb_snapshot_users() - the names of the sandboxes restored from @name
 * that still exist (a JSON array). */
json_object *msb_snapshot_users(const char *name);

/* msb_run_tool() - run a host tool; its output goes into the error. */
int msb_run_tool(char *const argv[], msb_error *err);

#endif
