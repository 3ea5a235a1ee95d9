/* SPDX-License-Identifier: Apache-2.0 */
/* pull.c - msb_image_pull(): reference -> verified blobs -> EROFS layers ->
 * an image record
 *
 * Blobs already in the store are not fetched again, layers already
 * converted are not converted again: a second pull of the same image, or
 * of one sharing layers, costs a manifest request. Missing layers download
 * in parallel (PULL_THREADS connections), each verified as it streams.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "state.h"
#include "sync.h"
#include "util.h"

#define PULL_THREADS 4

struct pull {
	const msb_pull_opts *o;
	struct msb_registry *reg;
	struct msb_manifest man;
	pthread_mutex_t lock;
	unsigned next;        /* next layer to fetch */
	int failed;
	msb_error err;        /* the first failure */
	unsigned fetched;
	/* the config's diff_ids, to convert each layer that will be a disk of
	 * its own as soon as it is here (NULL: after the download, as
	 * msb_image_disks() does anyway) */
	const char *ids[MSB_IMAGE_MAX_LAYERS];
	unsigned early;       /* layers 0..early-1 convert that way */
	char added[MSB_IMAGE_MAX_LAYERS + 4][80]; /* blobs this pull stored */
	unsigned nadded;
	unsigned repaired;    /* stored layers found damaged, made again */
};

static void added(struct pull *p, const char *digest)
{
	pthread_mutex_lock(&p->lock);
	if (p->nadded < sizeof(p->added) / sizeof(p->added[0]))
		snprintf(p->added[p->nadded++], sizeof(p->added[0]), "%s",
			 digest);
	pthread_mutex_unlock(&p->lock);
}

/* take_back() - a pull that ran out of space, or whose image turned out
 * bad, removes the blobs it stored: the store is as it was. (A download
 * that failed otherwise keeps them, so the next pull resumes.) */
static void take_back(struct pull *p)
{
	char path[PATH_MAX];

	for (unsigned i = 0; i < p->nadded; i++) {
		msb_blob_path(p->added[i], path, sizeof(path));
		unlink(path);
	}
}

struct job {
	struct pull *p;
	unsigned index;
	/* the layer's conversion started on its download as it comes (NULL:
	 * none, or no longer) */
	struct msb_layer_stream *stream;
};

static void report(struct pull *p, const char *phase, const char *digest,
		   uint64_t done, uint64_t total, unsigned index)
{
	msb_pull_progress ev = { phase, digest, done, total, index,
				 p->man.nlayers };

	if (!p->o || !p->o->progress)
		return;
	pthread_mutex_lock(&p->lock);
	p->o->progress(p->o->ctx, &ev);
	pthread_mutex_unlock(&p->lock);
}

static void on_bytes(void *ctx, uint64_t done)
{
	struct job *j = ctx;
	const struct msb_layer_desc *d = &j->p->man.layers[j->index];

	report(j->p, "downloading", d->digest, done, d->size, j->index);
}

/* convert_early() - layer @i, downloaded (in the store, or at @path: its
 * digest verified, not yet synced and renamed), converted now while the
 * others still download (conversion is CPU, downloads wait on the
 * network). Only an optimisation: a failure is left for
 * msb_image_disks() to meet again and report, with the pull's usual
 * clean-up; a success is found there, verified, and not converted twice. */
static void convert_early(struct pull *p, unsigned i, const char *path)
{
	const struct msb_layer_desc *d = &p->man.layers[i];
	char stored[PATH_MAX];
	const char *blob = path ? path : stored;
	msb_error e = { 0 };
	unsigned repaired = 0;

	if (i >= p->early)
		return;
	if (!path)
		msb_blob_path(d->digest, stored, sizeof(stored));
	if (msb_layer_ready(d->digest + 7, &p->ids[i], 1))
		return;
	report(p, "converting", d->digest, 0, 0, i);
	msb_layer_convert(&blob, &p->ids[i], 1, d->digest + 7, &repaired, &e);
	if (repaired)
		report(p, "repaired", d->digest, 0, 0, i);
}

/* is_gzip() - a layer media type of gzip (image-spec's, Docker's). */
static int is_gzip(const char *mt)
{
	size_t n = strlen(mt);

	return (n > 8 && !strcmp(mt + n - 8, "tar+gzip")) ||
	       (n > 8 && !strcmp(mt + n - 8, "tar.gzip"));
}

/* stream_start() - layer @i (gzip, one that converts early) converted as
 * it downloads: its inflating, checking and mkfs.erofs go on beside the
 * download, where they came after it (the biggest layer's conversion was
 * half of a cold pull). Return: the socket the download is to be sent
 * to, or -1 (converted after the download, as before). */
static int stream_start(struct job *j)
{
	struct pull *p = j->p;
	const struct msb_layer_desc *d = &p->man.layers[j->index];
	msb_error e = { 0 };
	int in = -1;

	if (j->index >= p->early || !is_gzip(d->media_type) ||
	    msb_layer_stream_start(p->ids[j->index], d->digest + 7, &in,
				   &j->stream, &e) < 0)
		return -1;
	return in;
}

/* (a downloaded layer converted before its blob is synced, the two at
 * once: the sync was a tenth of the biggest layer's way to its disk) */
static void on_verified(void *ctx, const char *path, int whole)
{
	struct job *j = ctx;
	struct msb_layer_stream *s = j->stream;

	/* Converted as it came, from all of the blob, its digest now
	 * verified: kept. Anything else (the download started over, the
	 * conversion failed) is discarded and the layer converted from the
	 * file, which reports what is wrong with it. */
	j->stream = NULL;
	if (s) {
		report(j->p, "converting", j->p->man.layers[j->index].digest,
		       0, 0, j->index);
		if (msb_layer_stream_end(s, whole, NULL) == 0 && whole)
			return;
	}
	convert_early(j->p, j->index, path);
}

static void *fetch_worker(void *arg)
{
	struct pull *p = arg;

	for (;;) {
		struct job j = { p, 0, NULL };
		msb_error e = { 0 };
		const struct msb_layer_desc *d;
		int r;

		pthread_mutex_lock(&p->lock);
		if (p->failed || p->next >= p->man.nlayers) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		j.index = p->next++;
		pthread_mutex_unlock(&p->lock);
		d = &p->man.layers[j.index];
		if (msb_blob_have(d->digest)) {
			convert_early(p, j.index, NULL);
			/* (unless its layer was damaged and it turned out
			 * damaged too: then it was removed, fetch it) */
			if (msb_blob_have(d->digest))
				continue;
		}
		r = msb_registry_blob_then(p->reg, d->digest, d->size, on_bytes,
					   stream_start(&j), on_verified, &j,
					   &e);
		/* A blob that is not what its digest says (or did not all
		 * come): what was made of it as it came is removed, never
		 * stored. */
		msb_layer_stream_end(j.stream, 0, NULL);
		if (r < 0) {
			pthread_mutex_lock(&p->lock);
			if (!p->failed) {
				p->failed = 1;
				p->err = e;
			}
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		added(p, d->digest);
		pthread_mutex_lock(&p->lock);
		p->fetched++;
		pthread_mutex_unlock(&p->lock);
	}
}

static int fetch_layers(struct pull *p, msb_error *err)
{
	pthread_t t[PULL_THREADS];
	unsigned n = p->man.nlayers < PULL_THREADS ? p->man.nlayers :
						     PULL_THREADS, started = 0;

	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fetch_worker, p) == 0)
			started++;
	if (!started && n)
		fetch_worker(p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (p->failed) {
		*err = p->err;
		return p->err.code ? p->err.code : -EIO;
	}
	return 0;
}

/* is_plugin() - a plugin's artifact (docs/plugins.md, "The registry"),
 * or the plugin registry's index. */
static int is_plugin(json_object *m)
{
	json_object *v, *c;
	const char *t;

	if (json_object_object_get_ex(m, "artifactType", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    (t = json_object_get_string(v)) &&
	    !strncmp(t, "application/vnd.microsandbox.plugin.", 36))
		return 1;
	return json_object_object_get_ex(m, "config", &c) &&
	       json_object_object_get_ex(c, "mediaType", &v) &&
	       json_object_is_type(v, json_type_string) &&
	       !strncmp(json_object_get_string(v),
			"application/vnd.microsandbox.plugin.", 36);
}

/* artifact_kind() - a sandbox's or a snapshot's artifact (docs/sync.md):
 * its artifactType, or its config's mediaType, says so. */
static int artifact_kind(json_object *m)
{
	json_object *v, *c;
	const char *at = NULL, *ct = NULL;

	if (json_object_object_get_ex(m, "artifactType", &v) &&
	    json_object_is_type(v, json_type_string))
		at = json_object_get_string(v);
	if (json_object_object_get_ex(m, "config", &c) &&
	    json_object_object_get_ex(c, "mediaType", &v) &&
	    json_object_is_type(v, json_type_string))
		ct = json_object_get_string(v);
	return msb_artifact_kind_of(at, ct);
}

/* resolve() - the image manifest of @ref (through an index), stored. */
static int resolve(struct pull *p, const struct msb_ref *ref, char *top,
		   json_object *extra, msb_error *err)
{
	char *body = NULL, mt[200], digest[80];
	size_t len;
	json_object *m;
	const char *want = ref->digest[0] ? ref->digest : ref->tag;
	int r;

	report(p, "resolving", NULL, 0, 0, 0);
	for (int depth = 0;; depth++) {
		json_object *v;

		r = msb_registry_manifest(p->reg, want, &body, &len, mt,
					  sizeof(mt), digest, sizeof(digest),
					  err);
		if (r < 0)
			return r;
		if (depth == 0)
			snprintf(top, 80, "%s", digest);
		m = json_tokener_parse(body);
		if (!m || !json_object_is_type(m, json_type_object)) {
			json_object_put(m);
			free(body);
			return msb_fail(err, -EPROTO,
					"%s sent a manifest that is not JSON",
					ref->registry);
		}
		if (is_plugin(m)) {
			json_object_put(m);
			free(body);
			return msb_fail(err, MSB_E_INVALID,
					"%s/%s is a plugin, not an image: 'msb "
					"plugin install %s/%s' installs it",
					ref->registry, ref->repository,
					ref->registry, ref->repository);
		}
		if (artifact_kind(m) != MSB_KIND_IMAGE) {
			int kind = artifact_kind(m);

			json_object_put(m);
			free(body);
			return msb_fail(err, MSB_E_KIND,
					"%s/%s is a %s (pushed with 'msb push%s'), "
					"not an image: 'msb pull' makes it a %s",
					ref->registry, ref->repository,
					msb_kind_name(kind),
					kind == MSB_KIND_SNAPSHOT ?
						" --snapshot" :
						"",
					msb_kind_name(kind));
		}
		if (!msb_blob_have(digest))
			added(p, digest);
		r = msb_blob_put(digest, body, len, err);
		free(body);
		if (r < 0) {
			json_object_put(m);
			return r;
		}
		json_object_array_add(extra, json_object_new_string(digest));
		if (!mt[0] && json_object_object_get_ex(m, "mediaType", &v))
			snprintf(mt, sizeof(mt), "%s", json_object_get_string(v));
		if (!msb_mediatype_is_index(mt) &&
		    !json_object_object_get_ex(m, "manifests", NULL))
			break;
		if (depth > 0) {
			json_object_put(m);
			return msb_fail(err, -EPROTO,
					"%s sent an index inside an index",
					ref->registry);
		}
		r = msb_index_pick(m, digest, sizeof(digest), err);
		json_object_put(m);
		if (r < 0)
			return r;
		want = digest;
	}
	r = msb_manifest_parse(m, &p->man, err);
	json_object_put(m);
	return r;
}

static json_object *str_array(const struct msb_manifest *m)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < m->nlayers; i++)
		json_object_array_add(a, json_object_new_string(m->layers[i].digest));
	return a;
}

static void on_disk(void *ctx, const char *digest, unsigned index)
{
	report(ctx, "converting", digest, 0, 0, index);
}

/* convert() - the EROFS disks of the image, bottom first. */
static int convert(struct pull *p, json_object *cfg, json_object *disks,
		   msb_error *err)
{
	const char *blobs[MSB_IMAGE_MAX_LAYERS], *ids[MSB_IMAGE_MAX_LAYERS];
	unsigned n = p->man.nlayers;
	int r;

	if (n > MSB_IMAGE_MAX_LAYERS)
		return msb_fail(err, -E2BIG, "the image has more than %d layers",
				MSB_IMAGE_MAX_LAYERS);
	r = msb_image_diff_ids(cfg, n, ids, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		blobs[i] = p->man.layers[i].digest;
	r = msb_image_disks(blobs, ids, n, MSB_IMAGE_MAX_DISKS, disks, on_disk,
			    p, &p->repaired, err);
	if (r == 0 && p->repaired)
		report(p, "repaired", NULL, 0, 0, 0);
	return r;
}

/* record() - @row, and the size of each of its @disks as it is now (each
 * converted, or checked whole, by this pull), in one transaction: one
 * sync for both. */
static int record(const struct msb_image_row *row, json_object *disks,
		  msb_error *err)
{
	sqlite3 *db;
	int r = msb_db_open(NULL, &db, err);

	if (r < 0)
		return r;
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	r = msb_image_db_put(db, row, err);
	/* (a size not recorded leaves the superblock to speak alone) */
	for (size_t i = 0; r == 0 && i < json_object_array_length(disks); i++)
		msb_layer_db_record(db, json_object_get_string(
						json_object_array_get_idx(disks,
									  i)));
	sqlite3_exec(db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	msb_db_close(db);
	return r;
}

/* check_config() - the config is JSON for an amd64 Linux image. */
static int check_config(const struct msb_ref *ref, json_object *c,
			msb_error *err)
{
	json_object *v;

	if (!c || !json_object_is_type(c, json_type_object))
		return msb_fail(err, -EPROTO, "the image config is not JSON");
	if (json_object_object_get_ex(c, "architecture", &v) &&
	    strcmp(json_object_get_string(v), "amd64"))
		return msb_fail(err, -ENOEXEC,
				"%s/%s is for %.20s only; msb runs linux/amd64 "
				"images",
				ref->registry, ref->repository,
				json_object_get_string(v));
	if (json_object_object_get_ex(c, "os", &v) &&
	    strcmp(json_object_get_string(v), "linux"))
		return msb_fail(err, -ENOEXEC, "%s/%s is a %.20s image, not Linux",
				ref->registry, ref->repository,
				json_object_get_string(v));
	return 0;
}

int msb_image_finish(const struct msb_ref *ref, const char *top,
		     const struct msb_manifest *man, json_object *extra,
		     const msb_pull_opts *o, unsigned fetched,
		     msb_image_info *out, msb_error *err)
{
	struct pull p = { .o = o, .man = *man };
	struct msb_image_row row = { 0 };
	json_object *disks = json_object_new_array(), *layers = str_array(man),
		    *cfg = NULL;
	char *cbody;
	size_t clen;
	int r;

	pthread_mutex_init(&p.lock, NULL);
	cbody = msb_blob_read(man->config_digest, MSB_CONFIG_MAX, &clen);
	cfg = cbody ? json_tokener_parse(cbody) : NULL;
	r = check_config(ref, cfg, err);
	if (r == 0)
		r = convert(&p, cfg, disks, err);
	if (r < 0)
		goto out;
	msb_ref_format(ref, row.reference, sizeof(row.reference));
	snprintf(row.digest, sizeof(row.digest), "%s", top);
	snprintf(row.config_digest, sizeof(row.config_digest), "%s",
		 man->config_digest);
	row.config = cbody;
	row.layers = (char *)json_object_to_json_string(layers);
	row.disks = (char *)json_object_to_json_string(disks);
	row.extra = (char *)json_object_to_json_string(extra);
	for (unsigned i = 0; i < man->nlayers; i++)
		row.size += man->layers[i].size;
	row.pulled_at = msb_wall_s();
	r = record(&row, disks, err);
	if (r == 0 && out) {
		memset(out, 0, sizeof(*out));
		msb_ref_short(ref, out->reference, sizeof(out->reference));
		snprintf(out->canonical, sizeof(out->canonical), "%s",
			 row.reference);
		snprintf(out->digest, sizeof(out->digest), "%s", top);
		snprintf(out->id, sizeof(out->id), "%s", man->config_digest);
		out->size = row.size;
		out->layers = man->nlayers;
		out->pulled_at = row.pulled_at;
		out->fetched = fetched;
	}
out:
	free(cbody);
	json_object_put(cfg);
	json_object_put(disks);
	json_object_put(layers);
	pthread_mutex_destroy(&p.lock);
	return r;
}

static int image_pull(const char *s, const msb_pull_opts *o,
		      msb_image_info *out, msb_error *err)
{
	struct pull p = { .o = o };
	struct msb_ref ref;
	json_object *extra = json_object_new_array(), *cfg = NULL;
	char top[80] = "", *cbody = NULL;
	size_t clen;
	int r, bad_image = 0;

	pthread_mutex_init(&p.lock, NULL);
	r = msb_ref_parse(s, &ref, err);
	if (r == 0 && !strcmp(s, "default"))
		r = msb_fail(err, -EINVAL,
			     "'default' is the built-in image; it needs no pull");
	if (r == 0)
		r = msb_store_dirs(err);
	if (r == 0)
		r = msb_registry_open(&ref, o ? o->insecure : 0, &p.reg, err);
	if (r == 0)
		r = resolve(&p, &ref, top, extra, err);
	if (r < 0)
		goto out;
	if (!msb_blob_have(p.man.config_digest)) {
		r = msb_registry_blob(p.reg, p.man.config_digest,
				      p.man.config_size, NULL, NULL, err);
		if (r < 0)
			goto out;
		added(&p, p.man.config_digest);
		p.fetched++;
	}
	/* a config for another platform is refused before any layer comes */
	cbody = msb_blob_read(p.man.config_digest, MSB_CONFIG_MAX, &clen);
	cfg = cbody ? json_tokener_parse(cbody) : NULL;
	r = check_config(&ref, cfg, err);
	/* Layers that will be disks of their own (msb_image_disks(): all,
	 * or the lowest MAX_DISKS - 1) convert as they arrive. A config
	 * without one diff_id per layer is msb_image_finish()'s to refuse. */
	if (r == 0 && p.man.nlayers <= MSB_IMAGE_MAX_LAYERS) {
		msb_error e = { 0 };

		if (msb_image_diff_ids(cfg, p.man.nlayers, p.ids, &e) == 0)
			p.early = p.man.nlayers > MSB_IMAGE_MAX_DISKS ?
					  MSB_IMAGE_MAX_DISKS - 1 :
					  p.man.nlayers;
	}
	if (r == 0)
		r = fetch_layers(&p, err);
	if (r == 0) {
		r = msb_image_finish(&ref, top, &p.man, extra, o, p.fetched,
				     out, err);
		bad_image = r < 0;
	}
out:
	if (r == -ENOSPC || bad_image)
		take_back(&p);
	free(cbody);
	json_object_put(cfg);
	json_object_put(extra);
	msb_manifest_free(&p.man);
	msb_registry_close(p.reg);
	pthread_mutex_destroy(&p.lock);
	return r;
}

/* msb_image_pull() - one error class for every way a pull fails, so
 * callers can tell it from bad input; the message keeps the detail. */
MSB_API int msb_image_pull(const char *s, const msb_pull_opts *o,
			   msb_image_info *out, msb_error *err)
{
	msb_error local = { 0 };
	int r;

	if (!err)
		err = &local;
	r = image_pull(s, o, out, err);
	if (r == -ENOENT)
		r = err->code = MSB_E_IMAGE_NOT_FOUND;
	else if (r < 0 && r != -EINVAL && r != -ENOMEM && r != -ENOSPC &&
		 r != MSB_E_KIND)
		r = err->code = MSB_E_PULL;
	return r;
}
