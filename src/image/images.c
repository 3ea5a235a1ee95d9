/* SPDX-License-Identifier: Apache-2.0 */
/* images.c - image records in msb.db: list, inspect, remove, prune, and
 * what a sandbox of an image boots from
 *
 * An image's record names every blob (manifest, config, layers) and every
 * EROFS disk it uses; a sandbox's config names the disks it boots from.
 * Prune keeps exactly what some record names: an image removed while a
 * sandbox of it exists keeps that sandbox's disks until the sandbox goes.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "state.h"
#include "util.h"

#define DEFAULT_IMAGE "default"
#define TMP_DEBRIS_AGE_S 3600

void msb_image_row_free(struct msb_image_row *r)
{
	free(r->config);
	free(r->layers);
	free(r->disks);
	free(r->extra);
	r->config = r->layers = r->disks = r->extra = NULL;
}

static int db_fail(sqlite3 *db, msb_error *err, const char *what)
{
	return msb_fail(err, -EIO, "state database: %s: %s", what,
			sqlite3_errmsg(db));
}

int msb_image_db_put(sqlite3 *db, const struct msb_image_row *r,
		     msb_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO images (reference, "
			       "digest, config_digest, config, layers, disks, "
			       "size, pulled_at, extra) VALUES "
			       "(?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "insert image");
	sqlite3_bind_text(st, 1, r->reference, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->config_digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->config, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->layers, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->disks, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)r->size);
	sqlite3_bind_int64(st, 8, r->pulled_at);
	sqlite3_bind_text(st, 9, r->extra ? r->extra : "[]", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, err, "insert image");
}

#define IMG_COLS \
	"reference, digest, config_digest, config, layers, disks, size, pulled_at"

static void read_img(sqlite3_stmt *st, struct msb_image_row *r)
{
	const unsigned char *t;

	memset(r, 0, sizeof(*r));
#define COPY(i, f)                                                  \
	t = sqlite3_column_text(st, i);                             \
	snprintf(r->f, sizeof(r->f), "%s", t ? (const char *)t : "")
	COPY(0, reference);
	COPY(1, digest);
	COPY(2, config_digest);
#undef COPY
#define DUP(i, f)                                                   \
	t = sqlite3_column_text(st, i);                             \
	r->f = strdup(t ? (const char *)t : "[]")
	DUP(3, config);
	DUP(4, layers);
	DUP(5, disks);
#undef DUP
	r->size = (uint64_t)sqlite3_column_int64(st, 6);
	r->pulled_at = sqlite3_column_int64(st, 7);
}

/* canon() - a user's reference as stored: canonical, or "" if unparsable. */
static void canon(const char *ref, char *buf, size_t n)
{
	struct msb_ref r;

	buf[0] = '\0';
	if (msb_ref_parse(ref, &r, NULL) == 0)
		msb_ref_format(&r, buf, n);
}

int msb_image_db_get(sqlite3 *db, const char *ref, struct msb_image_row *r,
		     msb_error *err)
{
	char c[700];
	sqlite3_stmt *st;
	int rc;

	canon(ref, c, sizeof(c));
	/* By reference, or by an image id / digest (prefix of 12+ hex). */
	if (sqlite3_prepare_v2(db,
			       "SELECT " IMG_COLS " FROM images WHERE "
			       "reference = ?1 OR (length(?2) >= 12 AND "
			       "(substr(config_digest, 8, length(?2)) = ?2 OR "
			       "config_digest = ?2 OR digest = ?2)) "
			       "ORDER BY pulled_at DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "select image");
	sqlite3_bind_text(st, 1, c, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_img(st, r);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return msb_fail(err, -ENOENT,
				"no image '%s' here (see 'msb images'; 'msb "
				"pull %s' fetches it)",
				ref, ref);
	return db_fail(db, err, "select image");
}

static void row_info(const struct msb_image_row *r, msb_image_info *i)
{
	struct msb_ref ref;
	json_object *l = json_tokener_parse(r->layers);

	memset(i, 0, sizeof(*i));
	snprintf(i->canonical, sizeof(i->canonical), "%s", r->reference);
	if (msb_ref_parse(r->reference, &ref, NULL) == 0)
		msb_ref_short(&ref, i->reference, sizeof(i->reference));
	else
		snprintf(i->reference, sizeof(i->reference), "%s",
			 r->reference);
	snprintf(i->digest, sizeof(i->digest), "%s", r->digest);
	snprintf(i->id, sizeof(i->id), "%s", r->config_digest);
	i->size = r->size;
	i->layers = l && json_object_is_type(l, json_type_array) ?
			    (unsigned)json_object_array_length(l) :
			    0;
	i->pulled_at = r->pulled_at;
	json_object_put(l);
}

/* builtin() - the built-in image: its disk, and its config.json (the
 * setup's: cmd, env, workdir) as an image config's "config" object. */
static int builtin(msb_image_info *i, char *disk, size_t n,
		   json_object **cfg)
{
	char path[PATH_MAX];
	struct stat st;

	if (msb_share_path("images/" DEFAULT_IMAGE "/layer.erofs", disk, n) < 0 ||
	    stat(disk, &st) < 0)
		return -ENOENT;
	memset(i, 0, sizeof(*i));
	snprintf(i->reference, sizeof(i->reference), DEFAULT_IMAGE);
	snprintf(i->canonical, sizeof(i->canonical), DEFAULT_IMAGE);
	i->size = (uint64_t)st.st_size;
	i->layers = 1;
	i->pulled_at = st.st_mtime;
	i->builtin = 1;
	if (cfg) {
		json_object *f = NULL, *c = json_object_new_object(), *v;

		if (msb_share_path("images/" DEFAULT_IMAGE "/config.json", path,
				   sizeof(path)) == 0)
			f = json_object_from_file(path);
		if (f && json_object_object_get_ex(f, "cmd", &v))
			json_object_object_add(c, "Cmd", json_object_get(v));
		if (f && json_object_object_get_ex(f, "env", &v))
			json_object_object_add(c, "Env", json_object_get(v));
		if (f && json_object_object_get_ex(f, "workdir", &v))
			json_object_object_add(c, "WorkingDir",
					       json_object_get(v));
		json_object_put(f);
		*cfg = json_object_new_object();
		json_object_object_add(*cfg, "config", c);
	}
	return 0;
}

MSB_API int msb_image_list(msb_image_info **out, size_t *n, msb_error *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	msb_image_info *v = NULL;
	size_t cnt = 0;
	int r, rc;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	if (sqlite3_prepare_v2(db,
			       "SELECT " IMG_COLS
			       " FROM images ORDER BY reference",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(db, err, "list images");
		msb_db_close(db);
		return r;
	}
	{
		msb_image_info b;
		char disk[PATH_MAX];

		if (builtin(&b, disk, sizeof(disk), NULL) == 0) {
			v = malloc(sizeof(*v));
			if (v)
				v[cnt++] = b;
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct msb_image_row row;
		msb_image_info *nv = realloc(v, (cnt + 1) * sizeof(*v));

		if (!nv)
			break;
		v = nv;
		read_img(st, &row);
		row_info(&row, &v[cnt++]);
		msb_image_row_free(&row);
	}
	sqlite3_finalize(st);
	msb_db_close(db);
	if (rc != SQLITE_DONE) {
		free(v);
		return msb_fail(err, -EIO, "cannot list images");
	}
	*out = v;
	*n = cnt;
	return 0;
}

MSB_API int msb_image_similar(const char *ref, char *buf, size_t n)
{
	struct msb_ref want, have;
	msb_image_info *v;
	size_t cnt, used = 0;
	int found = 0;

	if (n)
		buf[0] = '\0';
	if (msb_ref_parse(ref, &want, NULL) < 0 ||
	    msb_image_list(&v, &cnt, NULL) < 0)
		return 0;
	for (size_t i = 0; i < cnt && used < n; i++) {
		if (v[i].builtin || msb_ref_parse(v[i].canonical, &have, NULL) < 0 ||
		    strcmp(want.registry, have.registry) ||
		    strcmp(want.repository, have.repository))
			continue;
		used += (size_t)snprintf(buf + used, n - used, "%s%s",
					 found ? ", " : "", v[i].reference);
		found++;
	}
	free(v);
	return found;
}

MSB_API int msb_image_inspect_json(const char *ref, char **json,
				   msb_error *err)
{
	struct msb_image_row row;
	msb_image_info info;
	json_object *o;
	sqlite3 *db;
	int r;

	if (!strcmp(ref, DEFAULT_IMAGE)) {
		char disk[PATH_MAX];
		json_object *cfg, *a;

		if (builtin(&info, disk, sizeof(disk), &cfg) < 0)
			return msb_fail(err, -ENOENT,
					"the built-in image is not built here "
					"(%s is missing): run ./setup",
					disk);
		o = json_object_new_object();
		json_object_object_add(o, "reference",
				       json_object_new_string(DEFAULT_IMAGE));
		json_object_object_add(o, "canonical",
				       json_object_new_string(DEFAULT_IMAGE));
		json_object_object_add(o, "builtin",
				       json_object_new_boolean(1));
		json_object_object_add(o, "description",
			json_object_new_string(
				"Debian's busybox-static with users root, user "
				"(1000) and nobody, made by the setup; needs no "
				"registry"));
		json_object_object_add(o, "size",
				       json_object_new_int64((int64_t)info.size));
		json_object_object_add(o, "built_at",
				       json_object_new_int64(info.pulled_at));
		a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(disk));
		json_object_object_add(o, "disks", a);
		json_object_object_add(o, "config", cfg);
		*json = strdup(json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
				   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return *json ? 0 : msb_fail(err, -ENOMEM, "out of memory");
	}
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_image_db_get(db, ref, &row, err);
	msb_db_close(db);
	if (r < 0)
		return r;
	row_info(&row, &info);
	o = json_object_new_object();
	json_object_object_add(o, "reference",
			       json_object_new_string(info.reference));
	json_object_object_add(o, "canonical",
			       json_object_new_string(row.reference));
	json_object_object_add(o, "digest", json_object_new_string(row.digest));
	json_object_object_add(o, "id",
			       json_object_new_string(row.config_digest));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)row.size));
	json_object_object_add(o, "pulled_at",
			       json_object_new_int64(row.pulled_at));
	json_object_object_add(o, "layers", json_tokener_parse(row.layers));
	json_object_object_add(o, "disks", json_tokener_parse(row.disks));
	json_object_object_add(o, "config", json_tokener_parse(row.config));
	*json = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	msb_image_row_free(&row);
	return *json ? 0 : msb_fail(err, -ENOMEM, "out of memory");
}

/* ---- what is in use ----------------------------------------------------- */

struct names {
	char **v;
	size_t n;
};

static void names_add(struct names *s, const char *name)
{
	char **nv = realloc(s->v, (s->n + 1) * sizeof(char *));

	if (!nv)
		return;
	s->v = nv;
	s->v[s->n] = strdup(name);
	if (s->v[s->n])
		s->n++;
}

static int names_has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return 1;
	return 0;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* Names from a JSON array of digests ("sha256:HEX" -> HEX) or of disk
 * paths (".../NAME.erofs" -> NAME). */
static void add_json(struct names *s, const char *json)
{
	json_object *a = json ? json_tokener_parse(json) : NULL;

	for (size_t i = 0; a && json_object_is_type(a, json_type_array) &&
			   i < json_object_array_length(a);
	     i++) {
		const char *v = json_object_get_string(
			json_object_array_get_idx(a, i));
		char b[300], *dot;
		const char *base;

		if (!v)
			continue;
		if (!strncmp(v, "sha256:", 7)) {
			names_add(s, v + 7);
			continue;
		}
		base = strrchr(v, '/');
		snprintf(b, sizeof(b), "%s", base ? base + 1 : v);
		dot = strstr(b, ".erofs");
		if (dot)
			*dot = '\0';
		names_add(s, b);
	}
	json_object_put(a);
}

/* The layer disks every snapshot's sandbox config names (docs/snapshots.md):
 * a snapshot outlives its sandbox and its image, and must still boot. */
static void snapshot_layers(struct names *layers)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/snapshots", msb_home());
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char path[PATH_MAX + 300], *text;
		json_object *m, *c, *l;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/meta.json", dir, e->d_name);
		text = msb_read_file(path, NULL);
		m = text ? json_tokener_parse(text) : NULL;
		free(text);
		if (m && json_object_object_get_ex(m, "config", &c) &&
		    json_object_object_get_ex(c, "layers", &l))
			add_json(layers, json_object_to_json_string(l));
		json_object_put(m);
	}
	if (d)
		closedir(d);
}

static int in_use(sqlite3 *db, struct names *blobs, struct names *layers,
		  msb_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT digest, config_digest, layers, disks, "
			       "extra FROM images",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "images");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < 2; i++) {
			const char *d = (const char *)sqlite3_column_text(st, i);

			if (d && !strncmp(d, "sha256:", 7))
				names_add(blobs, d + 7);
		}
		add_json(blobs, (const char *)sqlite3_column_text(st, 2));
		add_json(layers, (const char *)sqlite3_column_text(st, 3));
		add_json(blobs, (const char *)sqlite3_column_text(st, 4));
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT config FROM sandboxes", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(db, err, "sandboxes");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object *c = json_tokener_parse(
			(const char *)sqlite3_column_text(st, 0)), *l;

		if (c && json_object_object_get_ex(c, "layers", &l))
			add_json(layers, json_object_to_json_string(l));
		json_object_put(c);
	}
	sqlite3_finalize(st);
	snapshot_layers(layers);
	return 0;
}

static void sweep(const char *dir, const struct names *keep,
		  const char *suffix, int debris, uint64_t *bytes,
		  unsigned *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX], name[300];
	struct stat st;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) < 0)
			continue;
		if (debris) {
			/* a pull in progress elsewhere may own a fresh one */
			if (msb_wall_s() - st.st_mtime < TMP_DEBRIS_AGE_S)
				continue;
		} else {
			size_t sl = strlen(suffix), nl = strlen(e->d_name);

			if (nl <= sl && sl)
				continue;
			if (sl && strcmp(e->d_name + nl - sl, suffix))
				continue;
			snprintf(name, sizeof(name), "%.*s", (int)(nl - sl),
				 e->d_name);
			if (names_has(keep, name))
				continue;
		}
		if (msb_rm_rf(p) == 0) {
			*bytes += (uint64_t)st.st_blocks * 512;
			++*files;
		}
	}
	if (d)
		closedir(d);
}

static int prune_locked(sqlite3 *db, uint64_t *bytes, unsigned *files,
			msb_error *err)
{
	struct names blobs = { 0 }, layers = { 0 };
	char dir[PATH_MAX];
	int r;

	r = in_use(db, &blobs, &layers, err);
	if (r == 0) {
		snprintf(dir, sizeof(dir), "%s/blobs/sha256", msb_home());
		sweep(dir, &blobs, "", 0, bytes, files);
		snprintf(dir, sizeof(dir), "%s/layers", msb_home());
		sweep(dir, &layers, ".erofs", 0, bytes, files);
		sweep(dir, &layers, ".diff_ids", 0, bytes, files);
		snprintf(dir, sizeof(dir), "%s/blobs/tmp", msb_home());
		sweep(dir, NULL, "", 1, bytes, files);
		snprintf(dir, sizeof(dir), "%s/layers/tmp", msb_home());
		sweep(dir, NULL, "", 1, bytes, files);
	}
	names_free(&blobs);
	names_free(&layers);
	return r;
}

/* Pulls and prunes exclude each other: a pull's new blobs are named by no
 * record until it ends. BEGIN IMMEDIATE is the lock. */
MSB_API int msb_image_prune(uint64_t *freed, unsigned *files, msb_error *err)
{
	uint64_t b = 0;
	unsigned f = 0;
	sqlite3 *db;
	int r;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_fail(db, err, "lock");
		msb_db_close(db);
		return r;
	}
	r = prune_locked(db, &b, &f, err);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	msb_db_close(db);
	if (freed)
		*freed = b;
	if (files)
		*files = f;
	return r;
}

MSB_API int msb_image_remove(const char *ref, msb_error *err)
{
	struct msb_image_row row;
	sqlite3_stmt *st;
	sqlite3 *db;
	uint64_t b = 0;
	unsigned f = 0;
	int r;

	if (!strcmp(ref, DEFAULT_IMAGE))
		return msb_fail(err, -EPERM,
				"'default' is the built-in image and cannot be "
				"removed");
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_fail(db, err, "lock");
		goto out;
	}
	r = msb_image_db_get(db, ref, &row, err);
	if (r < 0)
		goto end;
	if (sqlite3_prepare_v2(db, "DELETE FROM images WHERE reference = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(db, err, "delete image");
		msb_image_row_free(&row);
		goto end;
	}
	sqlite3_bind_text(st, 1, row.reference, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_fail(db, err, "delete image");
	sqlite3_finalize(st);
	msb_image_row_free(&row);
	if (r == 0)
		r = prune_locked(db, &b, &f, err);
end:
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	msb_db_close(db);
	return r;
}

/* ---- what a sandbox boots from ------------------------------------------ */

/* fewer_disks() - @row's layers as at most @max disks (replaces @d). */
static int fewer_disks(const struct msb_image_row *row, unsigned max,
		       json_object **d, msb_error *err)
{
	json_object *layers = json_tokener_parse(row->layers),
		    *cfg = json_tokener_parse(row->config), *out;
	const char *blobs[MSB_IMAGE_MAX_LAYERS], *ids[MSB_IMAGE_MAX_LAYERS];
	size_t n = layers && json_object_is_type(layers, json_type_array) ?
			   json_object_array_length(layers) :
			   0;
	int r;

	if (!n || n > MSB_IMAGE_MAX_LAYERS) {
		r = msb_fail(err, -EPROTO, "the record of image '%s' is "
			     "damaged: pull it again", row->reference);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		blobs[i] = json_object_get_string(
			json_object_array_get_idx(layers, i));
	r = msb_image_diff_ids(cfg, (unsigned)n, ids, err);
	if (r < 0)
		goto out;
	out = json_object_new_array();
	r = msb_image_disks(blobs, ids, (unsigned)n, max, out, NULL, NULL, NULL,
			    err);
	/* (a damaged layer whose blob is gone: say which image to pull) */
	if (r == MSB_E_DAMAGED && err &&
	    strstr(err->message, "pull its image again"))
		msb_fail_over(err, r, "%s: 'msb pull %s'", err->message,
			      row->reference);
	if (r < 0) {
		json_object_put(out);
		goto out;
	}
	{
		sqlite3 *db;

		/* (the merged one's size, the first time it is made) */
		if (msb_db_open(NULL, &db, NULL) == 0) {
			for (size_t i = 0; i < json_object_array_length(out);
			     i++)
				msb_layer_db_record(
					db, json_object_get_string(
						    json_object_array_get_idx(
							    out, i)));
			msb_db_close(db);
		}
	}
	json_object_put(*d);
	*d = out;
out:
	json_object_put(layers);
	json_object_put(cfg);
	return r;
}

int msb_image_resolve(const char *image, unsigned max, json_object **disks,
		      json_object **config, char *canon_out, size_t cn,
		      msb_error *err)
{
	struct msb_image_row row;
	json_object *d, *out;
	char p[PATH_MAX];
	sqlite3 *db;
	int r;

	*disks = *config = NULL;
	if (!strcmp(image, DEFAULT_IMAGE)) {
		msb_share_path("images/" DEFAULT_IMAGE "/layer.erofs", p,
			       sizeof(p));
		if (access(p, R_OK) < 0)
			return msb_fail(err, -ENOENT,
					"the built-in image is missing (%s): "
					"run './setup' from the source tree",
					p);
		*disks = json_object_new_array();
		json_object_array_add(*disks, json_object_new_string(p));
		snprintf(canon_out, cn, "%s", DEFAULT_IMAGE);
		return 0;
	}
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_image_db_get(db, image, &row, err);
	if (r < 0) {
		msb_db_close(db);
		return r;
	}
	d = json_tokener_parse(row.disks);
	/* Volumes take the slots of some layer disks: fewer, bigger ones. */
	if (d && json_object_is_type(d, json_type_array) &&
	    json_object_array_length(d) > max)
		r = fewer_disks(&row, max, &d, err);
	if (r < 0) {
		json_object_put(d);
		msb_image_row_free(&row);
		msb_db_close(db);
		return r;
	}
	out = json_object_new_array();
	/* Stored bottom first; the guest's overlay wants the top first. */
	for (size_t i = d ? json_object_array_length(d) : 0; i-- > 0;) {
		msb_layer_path(json_object_get_string(
				       json_object_array_get_idx(d, i)),
			       p, sizeof(p));
		json_object_array_add(out, json_object_new_string(p));
	}
	json_object_put(d);
	/* (through this connection: a second one would cost most of what
	 * the check costs) */
	r = msb_layers_ready(db, out, row.reference, err);
	msb_db_close(db);
	if (r == 0) {
		*disks = out;
		*config = json_tokener_parse(row.config);
		snprintf(canon_out, cn, "%s", row.reference);
	} else {
		json_object_put(out);
	}
	msb_image_row_free(&row);
	return r;
}
