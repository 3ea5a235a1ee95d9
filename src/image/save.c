/* SPDX-License-Identifier: Apache-2.0 */
/* save.c - msb_image_save(): an image of the store as a tar of an OCI
 * image layout (image-spec v1.1 §image-layout), optionally with the
 * manifest.json `docker load` reads (the shape Docker 25 writes)
 *
 *   oci-layout               {"imageLayoutVersion": "1.0.0"}
 *   index.json               the image manifest, named by annotations
 *   blobs/sha256/HEX         the manifest, the config, the layers as pulled
 *   manifest.json            (docker) Config, RepoTags, Layers by path
 *
 * The blobs are written as they are in the store (the layers compressed as
 * the registry sent them), so a save loads back to the same digests.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "state.h"
#include "util.h"

static int put(int fd, const char *name, const void *buf, uint64_t size,
	       int src, msb_error *err)
{
	unsigned char h[512], chunk[65536];
	static const unsigned char zero[512];
	uint64_t pad = (512 - size % 512) % 512;
	int r;

	msb_tar_make(h, name, '0', size, 0644);
	r = msb_write_all(fd, h, sizeof(h));
	if (r == 0 && buf)
		r = msb_write_all(fd, buf, (size_t)size);
	for (uint64_t left = src >= 0 ? size : 0; r == 0 && left;) {
		size_t want = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
		ssize_t got = read(src, chunk, want);

		if (got <= 0)
			return msb_fail(err, -EIO, "cannot read %s from the "
					"store: it changed or is damaged", name);
		r = msb_write_all(fd, chunk, (size_t)got);
		left -= (uint64_t)got;
	}
	if (r == 0 && pad)
		r = msb_write_all(fd, zero, (size_t)pad);
	return r < 0 ? msb_fail_errno(err, r, "cannot write the archive") : 0;
}

static int put_blob(int fd, const char *digest, msb_error *err)
{
	char p[PATH_MAX], name[100];
	struct stat st;
	int src, r;

	msb_blob_path(digest, p, sizeof(p));
	src = open(p, O_RDONLY | O_CLOEXEC);
	if (src < 0 || fstat(src, &st) < 0) {
		if (src >= 0)
			close(src);
		return msb_fail_errno(err, -errno, "blob %.19s of the image is "
				      "missing from the store (pull it again)",
				      digest);
	}
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	r = put(fd, name, NULL, (uint64_t)st.st_size, src, err);
	close(src);
	return r;
}

static int put_json(int fd, const char *name, json_object *j, msb_error *err)
{
	const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);

	return put(fd, name, s, strlen(s), -1, err);
}

/* image_manifest() - the image's own manifest: the record's digest, or
 * its linux/amd64 entry when that is an index. */
static json_object *image_manifest(const char *top, char *digest,
				   size_t *len, msb_error *err)
{
	snprintf(digest, 80, "%s", top);
	for (int depth = 0; depth < 2; depth++) {
		char *body = msb_blob_read(digest, MSB_MANIFEST_MAX, len);
		json_object *m = body ? json_tokener_parse(body) : NULL;

		free(body);
		if (!m) {
			msb_fail(err, -ENOENT, "manifest %.19s is missing from "
				 "the store (pull the image again)", digest);
			return NULL;
		}
		if (!json_object_object_get_ex(m, "manifests", NULL))
			return m;
		if (msb_index_pick(m, digest, 80, err) < 0) {
			json_object_put(m);
			return NULL;
		}
		json_object_put(m);
	}
	msb_fail(err, -EPROTO, "an index inside an index");
	return NULL;
}

static int write_layout(int fd, const struct msb_image_row *row,
			int format, msb_error *err)
{
	json_object *m, *mt, *idx, *ms, *desc, *ann, *dm, *de, *ls;
	struct msb_manifest man;
	struct msb_ref ref;
	char digest[80], shortref[600], path[100];
	static const unsigned char end[1024];
	size_t len;
	int r;

	m = image_manifest(row->digest, digest, &len, err);
	if (!m)
		return err->code;
	r = msb_manifest_parse(m, &man, err);
	if (r < 0) {
		json_object_put(m);
		return r;
	}
	if (msb_ref_parse(row->reference, &ref, NULL) == 0)
		msb_ref_short(&ref, shortref, sizeof(shortref));
	else
		snprintf(shortref, sizeof(shortref), "%s", row->reference);
	desc = json_object_new_object();
	json_object_object_add(desc, "mediaType", json_object_new_string(
		json_object_object_get_ex(m, "mediaType", &mt) ?
			json_object_get_string(mt) :
			"application/vnd.oci.image.manifest.v1+json"));
	json_object_object_add(desc, "digest", json_object_new_string(digest));
	json_object_object_add(desc, "size", json_object_new_int64((int64_t)len));
	ann = json_object_new_object();
	json_object_object_add(ann, "io.containerd.image.name",
			       json_object_new_string(row->reference));
	json_object_object_add(ann, "org.opencontainers.image.ref.name",
			       json_object_new_string(ref.tag[0] ? ref.tag :
							       "latest"));
	json_object_object_add(desc, "annotations", ann);
	ms = json_object_new_array();
	json_object_array_add(ms, desc);
	idx = json_object_new_object();
	json_object_object_add(idx, "schemaVersion", json_object_new_int(2));
	json_object_object_add(idx, "mediaType", json_object_new_string(
		"application/vnd.oci.image.index.v1+json"));
	json_object_object_add(idx, "manifests", ms);

	r = put(fd, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, -1,
		err);
	if (r == 0)
		r = put_json(fd, "index.json", idx, err);
	if (r == 0)
		r = put_blob(fd, digest, err);
	if (r == 0)
		r = put_blob(fd, man.config_digest, err);
	for (unsigned i = 0; r == 0 && i < man.nlayers; i++) {
		unsigned j;

		for (j = 0; j < i; j++)
			if (!strcmp(man.layers[j].digest, man.layers[i].digest))
				break;
		if (j == i)
			r = put_blob(fd, man.layers[i].digest, err);
	}
	if (r == 0 && format == MSB_SAVE_DOCKER) {
		de = json_object_new_object();
		snprintf(path, sizeof(path), "blobs/sha256/%s",
			 man.config_digest + 7);
		json_object_object_add(de, "Config", json_object_new_string(path));
		ls = json_object_new_array();
		json_object_array_add(ls, json_object_new_string(shortref));
		json_object_object_add(de, "RepoTags", ls);
		ls = json_object_new_array();
		for (unsigned i = 0; i < man.nlayers; i++) {
			snprintf(path, sizeof(path), "blobs/sha256/%s",
				 man.layers[i].digest + 7);
			json_object_array_add(ls, json_object_new_string(path));
		}
		json_object_object_add(de, "Layers", ls);
		dm = json_object_new_array();
		json_object_array_add(dm, de);
		r = put_json(fd, "manifest.json", dm, err);
		json_object_put(dm);
	}
	if (r == 0 && msb_write_all(fd, end, sizeof(end)) < 0)
		r = msb_fail_errno(err, -errno, "cannot write the archive");
	json_object_put(idx);
	json_object_put(m);
	msb_manifest_free(&man);
	return r;
}

MSB_API int msb_image_save(const char *refs, const char *path, int format,
			   msb_error *err)
{
	struct msb_image_row row = { 0 };
	char tmp[PATH_MAX];
	sqlite3 *db;
	int fd, r;

	if (!strcmp(refs, "default"))
		return msb_fail(err, -EINVAL, "'default' is the built-in image, "
				"not an OCI image; it cannot be saved");
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_image_db_get(db, refs, &row, err);
	msb_db_close(db);
	if (r < 0)
		return r;
	if (!strcmp(path, "-")) {
		r = write_layout(1, &row, format, err);
		msb_image_row_free(&row);
		return r;
	}
	/* beside the target, renamed over it when complete */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = msb_fail_errno(err, -errno, "cannot create %s", path);
		msb_image_row_free(&row);
		return r;
	}
	fchmod(fd, 0644);
	r = write_layout(fd, &row, format, err);
	if (r == 0 && fsync(fd) < 0)
		r = msb_fail_errno(err, -errno, "cannot write %s", path);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = msb_fail_errno(err, -errno, "cannot create %s", path);
	if (r < 0)
		unlink(tmp);
	msb_image_row_free(&row);
	return r;
}
