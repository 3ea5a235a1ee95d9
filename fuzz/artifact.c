/* SPDX-License-Identifier: Apache-2.0 */
/* artifact.c - libFuzzer target: a sandbox or snapshot artifact as a registry may
 * send it (src/sync/artifact.c, chunks.c, record.c)
 *
 * The first byte picks what the rest is: 0 a manifest, 1 a config blob
 * (the next byte's low bit: a sandbox's or a snapshot's; parsed, and if
 * it passes, made a record config as an untrusted pull makes it), 2 a
 * chunk blob decompressed into the size the next two bytes give. Nothing may read or write out of bounds, and what passes must hold
 * what the checks promise.
 *
 * Build and run: make build/fuzz/artifact && build/fuzz/artifact -max_total_time=60
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static void check_map(const struct msb_disk_map *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].off + m->v[i].len > m->size ||
		    m->v[i].len > m->chunk ||
		    (i && m->v[i].off <= m->v[i - 1].off))
			__builtin_trap();
}

static void config(const char *p, size_t n)
{
	struct msb_artifact a;
	json_object *cfg;
	char dropped[256];
	msb_error err;

	if (n < 1 || msb_artifact_parse(p + 1, n - 1,
					p[0] & 1 ? MSB_KIND_SNAPSHOT :
						   MSB_KIND_SANDBOX,
					&a, &err) < 0)
		return;
	if (a.cpus < 1 || a.cpus > 64 || !a.config)
		__builtin_trap();
	check_map(&a.map);
	check_map(&a.snap.ram);
	check_map(&a.snap.state);
	if (a.snap.ram.size && a.snap.ram.size != a.memory_mib << 20)
		__builtin_trap();
	if (msb_sync_record_config(a.config, 0, &cfg, dropped,
				   sizeof(dropped), &err) == 0) {
		if (json_object_object_get_ex(cfg, "volumes", NULL) ||
		    json_object_object_get_ex(cfg, "secrets", NULL))
			__builtin_trap(); /* untrusted: never kept */
		json_object_put(cfg);
	}
	msb_artifact_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct msb_artifact_manifest m;
	msb_error err;

	if (n < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (msb_artifact_manifest_parse((const char *)data + 1, n - 1,
						"", &m, &err) == 0)
			msb_artifact_manifest_free(&m);
		break;
	case 1:
		config((const char *)data + 1, n - 1);
		break;
	case 2: {
		size_t len;
		unsigned char *out;

		if (n < 3)
			return 0;
		len = ((size_t)data[1] << 8 | data[2]) + 1;
		out = malloc(len);
		if (out)
			msb_chunk_unpack(data + 3, n - 3, out, len,
					 "sha256:00", &err);
		free(out);
		break;
	}
	}
	return 0;
}
