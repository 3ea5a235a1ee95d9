/* SPDX-License-Identifier: Apache-2.0 */
/* sandboxfile.c - libFuzzer target: Sandboxfiles into the project loader
 *
 * A Sandboxfile may come from anyone (a repository cloned, a file
 * downloaded): its YAML (anchors, aliases, merge keys, tags, odd
 * encodings), the walk over it and every value check must survive
 * anything, end in a project or in one message naming a line and column,
 * and leak nothing. A project that loads is also printed resolved, as
 * 'msb project config' does.
 *
 * Build and run: make build/fuzz/sandboxfile &&
 *   build/fuzz/sandboxfile -max_total_time=60 fuzz/corpus/sandboxfile
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msb.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msb_project *p = NULL;
	msb_error err = { 0 };
	char *json = NULL;
	int r;

	r = msb_project_parse((const char *)data, size,
			      "/nonexistent/fuzz/Sandboxfile", &p, &err);
	if (r < 0) {
		/* one message, naming the file */
		if (p || !err.message[0] ||
		    strncmp(err.message, "/nonexistent/fuzz/Sandboxfile", 29))
			abort();
		return 0;
	}
	if (!p || msb_project_count(p) == 0)
		abort();
	if (msb_project_config_json(p, &json, &err) == 0)
		free(json);
	for (size_t i = 0; i < msb_project_count(p); i++) {
		const char *name = NULL;

		if (!msb_project_sandbox(p, i, &name) || !name)
			abort();
	}
	msb_project_free(p);
	return 0;
}
