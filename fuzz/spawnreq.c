/* SPDX-License-Identifier: Apache-2.0 */
/* spawnreq.c - libFuzzer target: a hostile guest's peer requests
 *
 * The input is a PEER payload (docs/spawn.md), copied to an exactly sized
 * buffer (so AddressSanitizer sees a read past it) and checked as the
 * supervisor checks it (spawn_req_parse). A request it takes must be an
 * object whose "op" is a known verb and whose every field is one that
 * verb takes; a refusal must say why. Host patterns are matched against
 * names cut from the same input (spawn_host_covers): a name covers
 * itself.
 *
 * Seeds: fuzz/corpus/spawnreq, one request of each verb.
 *
 * Build and run: make build/fuzz/spawnreq &&
 *   build/fuzz/spawnreq -max_total_time=60 fuzz/corpus/spawnreq
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proto.h"
#include "spawnreq.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define CHECK(c)                   \
	do {                       \
		if (!(c))          \
			abort();   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const known[] = { "op", "name", "image", "cpus",
		"memory", "env", "net_deny_all", "net_allow", "net_allow_cidr",
		"secrets", "argv", "workdir", "json", "stdin", "tty", "rows",
		"cols", "path", "user", "raw", "contents", "snapshot", NULL };
	uint8_t *buf = malloc(size ? size : 1);
	json_object *o = NULL, *op;
	char why[512] = "";
	int r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = spawn_req_parse(buf, size, &o, why, sizeof(why));
	if (r < 0) {
		CHECK(!o && why[0]);
	} else {
		CHECK(o && json_object_is_type(o, json_type_object));
		CHECK(json_object_object_get_ex(o, "op", &op));
		json_object_object_foreach(o, k, v) {
			int ok = 0;

			(void)v;
			for (int i = 0; known[i]; i++)
				ok |= !strcmp(k, known[i]);
			CHECK(ok);
		}
		json_object_put(o);
	}
	/* host patterns: the input split in two at its first NUL or ',' */
	if (size < 600) {
		char a[600], *b;

		memcpy(a, data, size);
		a[size] = 0;
		b = strchr(a, ',');
		if (b)
			*b++ = 0;
		if (*a)
			CHECK(spawn_host_covers(a, a));
		if (b)
			(void)spawn_host_covers(a, b);
	}
	free(buf);
	return 0;
}
