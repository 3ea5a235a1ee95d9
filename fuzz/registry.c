/* SPDX-License-Identifier: Apache-2.0 */
/* registry.c - libFuzzer target: what a registry sends back
 *
 * A registry is hostile: its indexes, manifests, error bodies and
 * WWW-Authenticate challenges all come from the network. The first byte
 * picks the parser, the rest is its input:
 *
 *   0  an image manifest (msb_manifest_parse, src/image/manifest.c)
 *   1  an index or manifest list (msb_index_pick)
 *   2  a Bearer challenge's parameters (challenge_param, registry.c)
 *   3  a JSON error body (error_detail, registry.c)
 *
 * Checks, beyond the sanitizers: a parsed manifest's digests are valid
 * and its layer count within the limit; a picked digest is valid; what a
 * challenge gives fits its buffer.
 *
 * Build and run: make build/fuzz/registry && build/fuzz/registry fuzz/corpus/registry
 */

/* The parsers that are static there (first: it sets _GNU_SOURCE). */
#include "../src/image/registry.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	char *s, out[512], digest[128];
	msb_error err = { 0 };
	json_object *o;

	if (n < 1 || n > (1 << 20))
		return 0;
	s = malloc(n);
	if (!s)
		return 0;
	memcpy(s, data + 1, n - 1);
	s[n - 1] = '\0';
	switch (data[0] % 4) {
	case 0: {
		struct msb_manifest m;

		o = json_tokener_parse(s);
		if (o && msb_manifest_parse(o, &m, &err) == 0) {
			if (!msb_digest_valid(m.config_digest) ||
			    m.nlayers > MSB_IMAGE_MAX_LAYERS)
				__builtin_trap();
			for (unsigned i = 0; i < m.nlayers; i++)
				if (!msb_digest_valid(m.layers[i].digest))
					__builtin_trap();
			msb_manifest_free(&m);
		}
		json_object_put(o);
		break;
	}
	case 1:
		o = json_tokener_parse(s);
		if (o && msb_index_pick(o, digest, sizeof(digest), &err) == 0 &&
		    !msb_digest_valid(digest))
			__builtin_trap();
		json_object_put(o);
		break;
	case 2: {
		static const char *keys[] = { "realm", "service", "scope" };

		for (size_t i = 0; i < 3; i++)
			if (challenge_param(s, keys[i], out, sizeof(out)) == 0 &&
			    strlen(out) >= sizeof(out))
				__builtin_trap();
		break;
	}
	case 3: {
		struct resp r = { .fd = -1, .body = s };

		error_detail(&r, out, sizeof(out));
		if (strlen(out) >= sizeof(out))
			__builtin_trap();
		break;
	}
	}
	free(s);
	return 0;
}
