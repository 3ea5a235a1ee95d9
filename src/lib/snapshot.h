/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot.h - what snapshot.c needs from sandbox.c */
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

/* msb_run_tool() - run a host tool; its output goes into the error. */
int msb_run_tool(char *const argv[], msb_error *err);

#endif
