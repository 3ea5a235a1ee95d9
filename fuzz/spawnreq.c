/* SPDX-License-Identifier: Apache-2.0 */
/* spawnreq.c - libFuzzer target: a hostile guest's peer requests
 *
 * The input is a PEER payload (docs/spawn.md), copied to an exactly sized
 * buffer (so AddressSanitizer sees a read past it) and checked as the
 * supervisor checks it (spawn_req_parse). A request it takes must be an
 * object whose "op" is a known verb and whose every field is one that
 * verb takes; a refusal must say why. Host patterns are matched against
 * names cut from the same input (spawn_host_covers): a name covers
 * itself. The input is also read as a copy's archive (spawn_pcp_rec, a
 * file's chunks skipped), the guest's bytes a worker parses for msb cp
 * into a peer.
 *
 * Seeds: fuzz/corpus/spawnreq, one request of each verb and two
 * archives.
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
	/* the same bytes as a copy's archive, record after record: each
	 * one taken is within the input and names what it may */
	for (size_t off = 0, root = 1; off < size; root = 0) {
		struct spawn_pcp rec;
		int k = spawn_pcp_rec(buf + off, size - off, (int)root, &rec);

		if (k <= 0)
			break;
		CHECK((size_t)k <= size - off && k >= 7);
		CHECK(rec.mode <= 07777);
		CHECK(rec.name_len <= MSB_PCP_NAME_MAX);
		CHECK(rec.name + rec.name_len <= (const char *)buf + size);
		if (rec.type == MSB_PCP_END)
			CHECK(!rec.name_len);
		else if (!root)
			CHECK(msb_fname_ok((const uint8_t *)rec.name,
					   rec.name_len));
		else
			CHECK(rec.name_len && rec.name_len <= 255);
		if (rec.type == MSB_PCP_LINK)
			CHECK(rec.link && rec.link_len &&
			      rec.link + rec.link_len <=
				      (const char *)buf + size &&
			      !memchr(rec.link, 0, rec.link_len));
		else
			CHECK(!rec.link);
		off += (size_t)k;
		/* a file's chunks, as the worker takes them */
		while (rec.type == MSB_PCP_FILE && size - off >= 4) {
			uint32_t c = msb_get_be32(buf + off);

			off += 4;
			if (!c || c > MSB_PCP_CHUNK || c > size - off) {
				off = c ? size : off;
				break;
			}
			off += c;
		}
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
