/* SPDX-License-Identifier: Apache-2.0 */
/* abi.c - the sizes of the public structs, for bindings that lay them out
 * by hand (Python's ctypes, Node's FFI): they compare their idea of each
 * struct with the library's at load, so a field added in msb.h is a clear
 * error there instead of memory written past an end. */

#include <string.h>

#include "msb.h"

#define S(t) { #t, sizeof(t) }
static const struct {
	const char *name;
	size_t size;
} sizes[] = {
	S(msb_error),	    S(msb_net_config),	S(msb_volume),
	S(msb_secret),	    S(msb_sandbox_config), S(msb_sandbox_info),
	S(msb_snapshot_info), S(msb_restore_opts), S(msb_stats),
	S(msb_exec_opts),   S(msb_exec_event),	S(msb_output),
	S(msb_file_info),   S(msb_file_opts),	S(msb_file_event),
	S(msb_copy_opts),   S(msb_pull_progress), S(msb_pull_opts),
	S(msb_image_info),  S(msb_load_opts),	S(msb_port),
	S(msb_sync_progress), S(msb_sync_opts), S(msb_sync_info),
	S(msb_volume_info), S(msb_project_event), S(msb_project_opts),
	S(msb_project_entry), S(msb_event), S(msb_plugin_info),
	S(msb_login_options),
};
#undef S

MSB_API size_t msb_abi_sizeof(const char *type)
{
	for (size_t i = 0; type && i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (!strcmp(sizes[i].name, type))
			return sizes[i].size;
	return 0;
}
