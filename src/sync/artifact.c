/* SPDX-License-Identifier: Apache-2.0 */
/* artifact.c - a sandbox's OCI artifact: its manifest and its config blob
 *
 * The manifest is an OCI image manifest (image-spec v1.1 §manifest) with
 * artifactType MSB_SANDBOX_ARTIFACT and a config blob of mediaType
 * MSB_SANDBOX_CONFIG; either one marks it as a sandbox (v1.1 §guidelines
 * for artifact usage: artifactType, else config.mediaType, names the
 * kind). Its layers are the disk's distinct chunk blobs, in the order of
 * their first offset. What comes from a registry is hostile: both
 * documents are parsed with size limits and every field is checked here
 * before anything is made from it (fuzz/fuzz_artifact.c).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "jsonx.h"
#include "sync.h"
#include "util.h"

static json_object *parse_doc(const char *buf, size_t len, size_t max,
			      const char *what, msb_error *err)
{
	struct json_tokener *t;
	json_object *o;

	if (len > max) {
		msb_fail(err, -EFBIG, "the %s is %zu bytes (limit %zu)", what,
			 len, max);
		return NULL;
	}
	t = json_tokener_new();
	if (!t) {
		msb_fail(err, -ENOMEM, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(t, buf, (int)len);
	if (!o || json_tokener_get_error(t) != json_tokener_success ||
	    t->char_offset != (int)len ||
	    !json_object_is_type(o, json_type_object)) {
		/* trailing whitespace is fine */
		int ok = o && json_object_is_type(o, json_type_object);

		for (size_t i = ok ? (size_t)t->char_offset : len; i < len; i++)
			if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\r' &&
			    buf[i] != '\t')
				ok = 0;
		if (!ok) {
			json_object_put(o);
			o = NULL;
			msb_fail(err, -EPROTO, "the %s is not a JSON object",
				 what);
		}
	}
	json_tokener_free(t);
	return o;
}

const char *msb_kind_name(int kind)
{
	return kind == MSB_KIND_SANDBOX	 ? "sandbox" :
	       kind == MSB_KIND_SNAPSHOT ? "snapshot" :
					   "image";
}

int msb_artifact_kind_of(const char *artifact_type, const char *config_type)
{
	if (artifact_type && !strcmp(artifact_type, MSB_SANDBOX_ARTIFACT))
		return MSB_KIND_SANDBOX;
	if (artifact_type && !strcmp(artifact_type, MSB_SNAPSHOT_ARTIFACT))
		return MSB_KIND_SNAPSHOT;
	/* registries that drop unknown fields keep the config's type */
	if (config_type && !strcmp(config_type, MSB_SANDBOX_CONFIG))
		return MSB_KIND_SANDBOX;
	if (config_type && !strcmp(config_type, MSB_SNAPSHOT_CONFIG))
		return MSB_KIND_SNAPSHOT;
	return MSB_KIND_IMAGE;
}

void msb_artifact_manifest_free(struct msb_artifact_manifest *m)
{
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

int msb_artifact_manifest_parse(const char *buf, size_t len,
				const char *media_type,
				struct msb_artifact_manifest *m,
				msb_error *err)
{
	json_object *o, *cfg = NULL, *layers = NULL, *v;
	const char *at, *cmt, *mt;
	int r = 0;

	memset(m, 0, sizeof(*m));
	o = parse_doc(buf, len, MSB_ARTIFACT_MANIFEST_MAX, "manifest", err);
	if (!o)
		return err && err->code ? err->code : -EPROTO;
	mt = msb_jstr(o, "mediaType", NULL);
	if ((media_type && msb_mediatype_is_index(media_type)) ||
	    (mt && msb_mediatype_is_index(mt)) ||
	    json_object_object_get_ex(o, "manifests", NULL))
		goto out; /* an index: an image */
	json_object_object_get_ex(o, "config", &cfg);
	at = msb_jstr(o, "artifactType", NULL);
	cmt = msb_jstr(cfg, "mediaType", NULL);
	m->kind = msb_artifact_kind_of(at, cmt);
	if (m->kind == MSB_KIND_IMAGE)
		goto out;
	if (!json_object_object_get_ex(o, "schemaVersion", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int(v) != 2) {
		r = msb_fail(err, -EPROTO, "the artifact's manifest "
			     "schemaVersion is not 2");
		goto out;
	}
	{
		const char *d = msb_jstr(cfg, "digest", NULL);
		int64_t sz = -1;

		if (json_object_object_get_ex(cfg, "size", &v) &&
		    json_object_is_type(v, json_type_int))
			sz = json_object_get_int64(v);
		if (!d || !msb_digest_valid(d) || sz <= 0 ||
		    sz > MSB_ARTIFACT_CONFIG_MAX) {
			r = msb_fail(err, -EPROTO, "the artifact's manifest "
				     "has a bad config descriptor (a sha256 "
				     "digest and a size up to 64 MiB)");
			goto out;
		}
		snprintf(m->config_digest, sizeof(m->config_digest), "%s", d);
		m->config_size = (uint64_t)sz;
	}
	if (!json_object_object_get_ex(o, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array)) {
		r = msb_fail(err, -EPROTO, "the artifact's manifest has no "
			     "layers");
		goto out;
	}
	m->nlayers = json_object_array_length(layers);
	m->layers = calloc(m->nlayers ? m->nlayers : 1, sizeof(*m->layers));
	if (!m->layers) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->nlayers; i++) {
		json_object *l = json_object_array_get_idx(layers, i);
		const char *d = msb_jstr(l, "digest", NULL), *lmt = msb_jstr(l, "mediaType", NULL);
		int64_t sz = -1;

		if (json_object_object_get_ex(l, "size", &v) &&
		    json_object_is_type(v, json_type_int))
			sz = json_object_get_int64(v);
		if (!d || !msb_digest_valid(d) || sz <= 0 ||
		    (uint64_t)sz > 2ull * MSB_CHUNK_MAX || !lmt ||
		    strcmp(lmt, MSB_CHUNK_MEDIA)) {
			r = msb_fail(err, -EPROTO,
				     "the artifact's layer %zu is not "
				     "a disk chunk this msb reads (%s, sha256, "
				     "at most 128 MiB)",
				     i, MSB_CHUNK_MEDIA);
			goto out;
		}
		snprintf(m->layers[i].digest, sizeof(m->layers[i].digest),
			 "%s", d);
		m->layers[i].size = (uint64_t)sz;
	}
out:
	if (r < 0)
		msb_artifact_manifest_free(m);
	json_object_put(o);
	return r;
}

struct layer {
	const struct msb_chunk *c;
	size_t order;
};

static int layer_by_digest(const void *a, const void *b)
{
	const struct layer *x = a, *y = b;
	int c = strcmp(x->c->digest, y->c->digest);

	return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

static int layer_by_order(const void *a, const void *b)
{
	const struct layer *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

char *msb_artifact_manifest_json(int kind, const char *cfg_digest,
				 uint64_t cfg_size,
				 const struct msb_disk_map *const *maps,
				 size_t nmaps, const char *name)
{
	json_object *o, *c, *layers, *ann;
	struct layer *v;
	size_t n = 0, k = 0;
	char *out;

	for (size_t f = 0; f < nmaps; f++)
		n += maps[f]->n;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t f = 0; f < nmaps; f++)
		for (size_t i = 0; i < maps[f]->n; i++, k++)
			v[k] = (struct layer){ &maps[f]->v[i], k };
	/* distinct blobs, each where it is first used */
	qsort(v, n, sizeof(*v), layer_by_digest);
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || strcmp(v[k - 1].c->digest, v[i].c->digest))
			v[k++] = v[i];
	n = k;
	qsort(v, n, sizeof(*v), layer_by_order);

	o = json_object_new_object();
	json_object_object_add(o, "schemaVersion", json_object_new_int(2));
	json_object_object_add(o, "mediaType",
			       json_object_new_string(MSB_OCI_MANIFEST));
	json_object_object_add(o, "artifactType",
			       json_object_new_string(
				       kind == MSB_KIND_SNAPSHOT ?
					       MSB_SNAPSHOT_ARTIFACT :
					       MSB_SANDBOX_ARTIFACT));
	c = json_object_new_object();
	json_object_object_add(c, "mediaType",
			       json_object_new_string(
				       kind == MSB_KIND_SNAPSHOT ?
					       MSB_SNAPSHOT_CONFIG :
					       MSB_SANDBOX_CONFIG));
	json_object_object_add(c, "digest", json_object_new_string(cfg_digest));
	json_object_object_add(c, "size", json_object_new_int64((int64_t)cfg_size));
	json_object_object_add(o, "config", c);
	layers = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_new_object();

		json_object_object_add(l, "mediaType",
				       json_object_new_string(MSB_CHUNK_MEDIA));
		json_object_object_add(l, "digest",
				       json_object_new_string(v[i].c->digest));
		json_object_object_add(l, "size",
				       json_object_new_int64((int64_t)v[i].c->zlen));
		json_object_array_add(layers, l);
	}
	free(v);
	json_object_object_add(o, "layers", layers);
	ann = json_object_new_object();
	json_object_object_add(ann, "org.opencontainers.image.title",
			       json_object_new_string(name));
	json_object_object_add(o, "annotations", ann);
	out = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

void msb_artifact_free(struct msb_artifact *a)
{
	json_object_put(a->doc);
	msb_disk_map_free(&a->map);
	msb_disk_map_free(&a->snap.ram);
	msb_disk_map_free(&a->snap.state);
	memset(a, 0, sizeof(*a));
}

/* copy() - a string field into @dst, which it must fit. */
static int copy(json_object *o, const char *k, char *dst, size_t n,
		int required)
{
	const char *s = msb_jstr(o, k, NULL);

	if (!s)
		return required ? -1 : 0;
	if (strlen(s) >= n || memchr(s, '\n', strlen(s)))
		return -1;
	snprintf(dst, n, "%s", s);
	return 0;
}

/* The record config's keys a pulled sandbox takes; anything else in a
 * config blob is dropped. Host paths in them (volumes, secret files, a
 * network plugin) are the pushing machine's: they must exist where the
 * sandbox starts, and say so when they do not. */
static const char *const config_keys[] = {
	"env", "workdir", "user", "entrypoint", "image_cmd", "cmd",
	"boot_timeout_ms", "kernel", "net", "volumes", "secrets",
	"secret_violation", "tls_bypass", "tls_upstream_ca", "sync", NULL,
};

/* snapshot() - a snapshot artifact's "snapshot" object: what
 * docs/snapshots.md's meta.json says, and the maps of its RAM (exactly the
 * guest's memory) and device state. */
static int snapshot(json_object *o, struct msb_artifact *a, msb_error *err)
{
	json_object *s, *v;
	int64_t n;
	int r, full;

	if (!json_object_object_get_ex(o, "snapshot", &s) ||
	    !json_object_is_type(s, json_type_object) ||
	    copy(s, "kind", a->snap.kind, sizeof(a->snap.kind), 1) < 0 ||
	    (strcmp(a->snap.kind, "full") && strcmp(a->snap.kind, "disk")) ||
	    copy(s, "reason", a->snap.reason, sizeof(a->snap.reason), 0) < 0 ||
	    copy(s, "engine", a->snap.engine, sizeof(a->snap.engine), 0) < 0 ||
	    copy(s, "agent", a->snap.agent, sizeof(a->snap.agent), 0) < 0 ||
	    a->snap.agent[strspn(a->snap.agent, "0123456789.")] ||
	    copy(s, "source", a->snap.source, sizeof(a->snap.source), 0) < 0 ||
	    (a->snap.source[0] && msb_name_valid(a->snap.source, NULL) < 0))
		goto malformed;
	if (json_object_object_get_ex(s, "created_at", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    (n = json_object_get_int64(v)) < 0)
			goto malformed;
		a->snap.created_at = n;
	}
	if (json_object_object_get_ex(s, "next_stream", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    (n = json_object_get_int64(v)) < 0 || n > INT32_MAX)
			goto malformed;
		a->snap.next_stream = n;
	}
	full = !strcmp(a->snap.kind, "full");
	if (!full)
		return 0;
	if (!a->snap.engine[0] ||
	    !json_object_object_get_ex(s, "ram", &v) ||
	    !json_object_object_get_ex(s, "state", NULL))
		goto malformed;
	r = msb_disk_map_parse(v, &a->snap.ram, err);
	if (r == 0 && json_object_object_get_ex(s, "state", &v))
		r = msb_disk_map_parse(v, &a->snap.state, err);
	if (r < 0)
		return r;
	/* the RAM file is mapped as the guest's memory: exactly its size */
	if (a->snap.ram.size != a->memory_mib << 20 ||
	    a->snap.state.size > MSB_SNAP_STATE_MAX)
		return msb_fail(err, -EPROTO,
				"the snapshot's memory is %llu bytes for a "
				"guest of %llu MiB, or its device state over "
				"64 MiB: refused",
				(unsigned long long)a->snap.ram.size,
				(unsigned long long)a->memory_mib);
	return 0;
malformed:
	return msb_fail(err, -EPROTO,
			"the snapshot's description (kind, reason, engine, "
			"agent, source, its memory and state maps) is "
			"malformed: "
			"refused");
}

int msb_artifact_parse(const char *buf, size_t len, int kind,
		       struct msb_artifact *a, msb_error *err)
{
	json_object *o, *v, *img, *cfg, *disk, *clean;
	const char *what = kind == MSB_KIND_SNAPSHOT ? "snapshot" : "sandbox";
	int64_t n;
	int r;

	memset(a, 0, sizeof(*a));
	a->kind = kind;
	o = parse_doc(buf, len, MSB_ARTIFACT_CONFIG_MAX,
		      kind == MSB_KIND_SNAPSHOT ? "snapshot config" :
						  "sandbox config",
		      err);
	if (!o)
		return err && err->code ? err->code : -EPROTO;
	a->doc = o;
	if (!json_object_object_get_ex(o, "format", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int(v) != 1) {
		r = msb_fail(err, -ENOTSUP, "the %s was pushed in a format "
			     "this msb does not read (format 1)", what);
		goto bad;
	}
	if (copy(o, "name", a->name, sizeof(a->name), 1) < 0 ||
	    msb_name_valid(a->name, NULL) < 0 ||
	    copy(o, "parent", a->parent, sizeof(a->parent), 0) < 0 ||
	    (a->parent[0] && !msb_digest_valid(a->parent)))
		goto malformed;
	if (!json_object_object_get_ex(o, "image", &img) ||
	    copy(img, "reference", a->image, sizeof(a->image), 1) < 0 ||
	    copy(img, "digest", a->image_digest, sizeof(a->image_digest),
		 0) < 0 ||
	    copy(img, "display", a->image_display, sizeof(a->image_display),
		 0) < 0 ||
	    (a->image_digest[0] && !msb_digest_valid(a->image_digest)))
		goto malformed;
	if (strcmp(a->image, "default")) {
		struct msb_ref ref;

		if (!a->image_digest[0] ||
		    msb_ref_parse(a->image, &ref, NULL) < 0)
			goto malformed;
	}
	if (!a->image_display[0])
		snprintf(a->image_display, sizeof(a->image_display), "%s",
			 a->image);
	if (!json_object_object_get_ex(o, "cpus", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (n = json_object_get_int64(v)) < 1 || n > 64)
		goto malformed;
	a->cpus = (unsigned)n;
	if (!json_object_object_get_ex(o, "memory_mib", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (n = json_object_get_int64(v)) < 64 || n > 1048576)
		goto malformed;
	a->memory_mib = (uint64_t)n;
	if (!json_object_object_get_ex(o, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object))
		goto malformed;
	/* only the keys a record has; the library checks their values at
	 * every start as it does its own records' */
	clean = json_object_new_object();
	for (const char *const *k = config_keys; *k; k++)
		if (json_object_object_get_ex(cfg, *k, &v))
			json_object_object_add(clean, *k, json_object_get(v));
	json_object_object_add(o, "config", clean);
	a->config = clean;
	if (!json_object_object_get_ex(o, "disk", &disk)) {
		r = msb_fail(err, -EPROTO, "the %s config has no disk", what);
		goto bad;
	}
	r = msb_disk_map_parse(disk, &a->map, err);
	if (r == 0 && kind == MSB_KIND_SNAPSHOT)
		r = snapshot(o, a, err);
	if (r < 0)
		goto bad;
	return 0;
malformed:
	r = msb_fail(err, -EPROTO,
		     "the %s config is malformed (its name, image, cpus, "
		     "memory or config): refused", what);
bad:
	msb_artifact_free(a);
	return r;
}
