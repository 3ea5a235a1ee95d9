/* SPDX-License-Identifier: Apache-2.0 */
/* plugin_meta.c - libFuzzer target: a plugin artifact as a registry may send
 * it (src/lib/plugmeta.c)
 *
 * The first byte picks what the rest is: 0 a plugin's manifest, 1 the
 * index's manifest, 2 a plugin's metadata (config blob), 3 the index's
 * config blob. What passes must hold what the checks promise: safe
 * relative paths, sizes within bounds, names that are names.
 *
 * Build and run: make build/fuzz/plugin_meta &&
 *                build/fuzz/plugin_meta -max_total_time=60
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugreg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static void check_info(const msb_plugin_info *i)
{
	if (msb_plugin_name_check(i->name, NULL) < 0 ||
	    strcmp(i->kind, "process") || !i->command[0] || !i->hooks[0])
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *p = (const char *)data + 1;
	struct msb_plugin_manifest m;
	msb_plugin_info i, *v;
	msb_error err;
	size_t cnt;

	if (n < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
	case 1:
		if (msb_plugin_manifest_parse(p, n - 1, data[0] & 1, &m,
					      &err) == 0) {
			uint64_t total = 0;

			for (size_t k = 0; k < m.nfiles; k++) {
				if (msb_plugin_path_check(m.files[k].path,
							  NULL) < 0 ||
				    m.files[k].size > MSB_PLUGIN_FILE_MAX)
					__builtin_trap();
				total += m.files[k].size;
			}
			if (total > MSB_PLUGIN_TOTAL_MAX ||
			    m.nfiles > MSB_PLUGIN_FILES_MAX)
				__builtin_trap();
			msb_plugin_manifest_free(&m);
		}
		break;
	case 2:
		if (msb_plugin_meta_parse(p, n - 1, &i, &err) == 0) {
			char *again = msb_plugin_meta_json(&i);
			msb_plugin_info j;

			check_info(&i);
			/* what is published parses back the same */
			if (!again ||
			    msb_plugin_meta_parse(again, strlen(again), &j,
						  &err) < 0 ||
			    strcmp(i.hooks, j.hooks) || strcmp(i.name, j.name))
				__builtin_trap();
			free(again);
		}
		break;
	default:
		if (msb_plugin_index_parse(p, n - 1, &v, &cnt, &err) == 0) {
			for (size_t k = 0; k < cnt; k++)
				check_info(&v[k]);
			free(v);
		}
		break;
	}
	return 0;
}
