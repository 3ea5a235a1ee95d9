/* SPDX-License-Identifier: Apache-2.0 */
/* manifest.c - OCI indexes and manifests, Docker manifest lists and v2
 * schema 2 manifests (image-spec v1.1 §image-index, §manifest)
 *
 * The JSON comes from a registry and is hostile: every field is checked for
 * its type, digests for their form, counts for bounds.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "jsonx.h"
#include "util.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

int msb_mediatype_is_index(const char *mt)
{
	return mt && (!strncmp(mt, MT_OCI_INDEX, strlen(MT_OCI_INDEX)) ||
		      !strncmp(mt, MT_DOCKER_LIST, strlen(MT_DOCKER_LIST)));
}

int msb_index_pick(json_object *idx, char *digest, size_t n, msb_error *err)
{
	json_object *ms;
	char seen[512] = "";
	size_t off = 0;

	if (!json_object_object_get_ex(idx, "manifests", &ms) ||
	    !json_object_is_type(ms, json_type_array))
		return msb_fail(err, -EPROTO,
				"the registry sent an index without manifests");
	for (size_t i = 0; i < json_object_array_length(ms); i++) {
		json_object *m = json_object_array_get_idx(ms, i), *p = NULL;
		const char *os, *arch, *d;

		json_object_object_get_ex(m, "platform", &p);
		os = msb_jstr(p, "os", NULL);
		arch = msb_jstr(p, "architecture", NULL);
		d = msb_jstr(m, "digest", NULL);
		if (!os || !arch || !d)
			continue;
		if (!strcmp(os, "linux") && !strcmp(arch, "amd64")) {
			if (!msb_digest_valid(d))
				return msb_fail(err, -EPROTO,
						"the registry sent an invalid "
						"digest '%.80s'",
						d);
			snprintf(digest, n, "%s", d);
			return 0;
		}
		/* attestation manifests say unknown/unknown; keep them out */
		if (strcmp(os, "unknown") && off < sizeof(seen) - 40)
			off += (size_t)snprintf(seen + off, sizeof(seen) - off,
						"%s%.16s/%.16s", off ? ", " : "",
						os, arch);
	}
	return msb_fail(err, -ENOENT,
			"no linux/amd64 image in this index (it has: %s)",
			off ? seen : "nothing usable");
}

static int desc_parse(json_object *o, char *digest, size_t dn, uint64_t *size,
		      msb_error *err)
{
	const char *d = msb_jstr(o, "digest", NULL);
	int64_t sz = msb_jint(o, "size", -1);

	if (!d || !msb_digest_valid(d))
		return msb_fail(err, -EPROTO,
				"the manifest has a missing or unsupported "
				"digest '%.80s' (only sha256 is supported)",
				d ? d : "");
	if (sz < 0)
		return msb_fail(err, -EPROTO,
				"the manifest has a descriptor without a size");
	snprintf(digest, dn, "%s", d);
	*size = (uint64_t)sz;
	return 0;
}

int msb_manifest_parse(json_object *m, struct msb_manifest *out,
		       msb_error *err)
{
	json_object *cfg, *layers;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	if (msb_jint(m, "schemaVersion", -1) != 2)
		return msb_fail(err, -EPROTO,
				"unsupported manifest (schemaVersion is not 2; "
				"Docker's old v1 manifests are not supported)");
	if (!json_object_object_get_ex(m, "config", &cfg) ||
	    !json_object_object_get_ex(m, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return msb_fail(err, -EPROTO,
				"the manifest has no config or layers");
	r = desc_parse(cfg, out->config_digest, sizeof(out->config_digest),
		       &out->config_size, err);
	if (r < 0)
		return r;
	if (out->config_size > MSB_CONFIG_MAX)
		return msb_fail(err, -EFBIG,
				"the image config is %llu bytes (limit %u)",
				(unsigned long long)out->config_size,
				MSB_CONFIG_MAX);
	n = json_object_array_length(layers);
	if (n > MSB_IMAGE_MAX_LAYERS)
		return msb_fail(err, -E2BIG,
				"the image has %zu layers (limit %d)", n,
				MSB_IMAGE_MAX_LAYERS);
	out->layers = calloc(n ? n : 1, sizeof(*out->layers));
	if (!out->layers)
		return msb_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		struct msb_layer_desc *d = &out->layers[i];
		const char *mt = msb_jstr(l, "mediaType", NULL);

		r = desc_parse(l, d->digest, sizeof(d->digest), &d->size, err);
		if (r < 0) {
			msb_manifest_free(out);
			return r;
		}
		snprintf(d->media_type, sizeof(d->media_type), "%s",
			 mt ? mt : "");
		/* Foreign (non-distributable) layers and encrypted ones are
		 * not tar streams we can use. */
		if (mt && (strstr(mt, "encrypted") || strstr(mt, "foreign") ||
			   strstr(mt, "nondistributable"))) {
			msb_manifest_free(out);
			return msb_fail(err, -ENOTSUP,
					"unsupported layer type %s", mt);
		}
		out->nlayers++;
	}
	return 0;
}

void msb_manifest_free(struct msb_manifest *m)
{
	free(m->layers);
	m->layers = NULL;
	m->nlayers = 0;
}
