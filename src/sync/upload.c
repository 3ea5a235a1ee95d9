/* SPDX-License-Identifier: Apache-2.0 */
/* upload.c - files up to a registry in chunks, and the artifact naming them
 *
 * What a sandbox push and a snapshot push share (push.c, snapsync.c): each
 * file is scanned (the raw sha256 of each chunk), each chunk the last sync
 * did not already name is compressed and named, and only the blobs the
 * registry lacks are uploaded (HEAD first; none at all for chunks of the
 * last push when the tag still holds it). The config blob and the
 * manifest go last: until the manifest is put, the tag still names the
 * previous push, and a push that failed half way leaves blobs that the
 * next run finds with HEAD and does not send again.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "sync.h"
#include "util.h"

#define UPLOAD_THREADS 4

void msb_upload_init(struct msb_upload *u, const msb_sync_opts *o)
{
	memset(u, 0, sizeof(*u));
	u->o = o;
	pthread_mutex_init(&u->lock, NULL);
	for (size_t i = 0; i < MSB_SYNC_FILES; i++)
		u->files[i].fd = -1;
}

void msb_upload_free(struct msb_upload *u)
{
	for (size_t i = 0; i < MSB_SYNC_FILES; i++) {
		if (u->files[i].fd >= 0)
			close(u->files[i].fd);
		msb_disk_map_free(&u->files[i].map);
	}
	pthread_mutex_destroy(&u->lock);
}

static void report(struct msb_upload *u, const char *phase, uint64_t done,
		   uint64_t total)
{
	msb_sync_progress ev = { .phase = phase, .done = done, .total = total,
				 .chunks_done = u->done_chunks,
				 .chunks_total = u->nchunks };

	if (u->o && u->o->progress)
		u->o->progress(u->o->ctx, &ev);
}

void msb_upload_report(struct msb_upload *u, const char *phase)
{
	report(u, phase, 0, 0);
}

static void on_scan(void *ctx, uint64_t done, uint64_t total)
{
	report(ctx, "reading", done, total);
}

int msb_upload_scan(struct msb_upload *u, int fd, uint32_t chunk,
		    msb_error *err)
{
	struct msb_upload_file *f;
	int r;

	if (u->nfiles == MSB_SYNC_FILES) {
		close(fd);
		return msb_fail(err, -E2BIG, "too many files in one artifact");
	}
	f = &u->files[u->nfiles++];
	f->fd = fd;
	r = msb_disk_scan(fd, chunk, &f->map, on_scan, u, err);
	if (r == 0)
		u->nchunks += (unsigned)f->map.n;
	return r;
}

static int by_raw(const void *a, const void *b)
{
	return strcmp(((const struct msb_chunk *)a)->raw,
		      ((const struct msb_chunk *)b)->raw);
}

void msb_chunks_sort_raw(struct msb_disk_map *m)
{
	if (m->n)
		qsort(m->v, m->n, sizeof(*m->v), by_raw);
}

const struct msb_chunk *msb_chunks_find_raw(const struct msb_disk_map *m,
					    const char *raw)
{
	struct msb_chunk key;

	if (!m || !m->n)
		return NULL;
	snprintf(key.raw, sizeof(key.raw), "%s", raw);
	return bsearch(&key, m->v, m->n, sizeof(key), by_raw);
}

static int read_chunk(int fd, void *buf, const struct msb_chunk *c,
		      msb_error *err)
{
	ssize_t n = msb_pread_full(fd, buf, c->len, c->off);
	char got[72];

	if (n != (ssize_t)c->len)
		return msb_fail_errno(err, n < 0 ? (int)n : -EIO,
				      "cannot read the disk");
	msb_sha256_digest(buf, c->len, got);
	if (strcmp(got, c->raw))
		return msb_fail(err, -EAGAIN,
				"the disk changed while it was pushed: push "
				"again once nothing writes it");
	return 0;
}

/* one_chunk() - name chunk @c of the file at @fd and make sure the
 * registry has its blob. */
static int one_chunk(struct msb_upload *u, int fd, struct msb_chunk *c,
		     void *buf, msb_error *err)
{
	const struct msb_chunk *k = msb_chunks_find_raw(u->prev, c->raw);
	void *z = NULL;
	size_t zlen = 0;
	int r, mounted = 0;

	if (k) {
		snprintf(c->digest, sizeof(c->digest), "%s", k->digest);
		c->zlen = k->zlen;
		if (u->trusted)
			return 0;
		r = msb_registry_blob_head(u->reg, c->digest, c->zlen, err);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	r = read_chunk(fd, buf, c, err);
	if (r == 0)
		r = msb_chunk_pack(buf, c->len, &z, &zlen, c->digest, err);
	if (r < 0)
		return r;
	c->zlen = zlen;
	if (!k) {
		r = msb_registry_blob_head(u->reg, c->digest, c->zlen, err);
		if (r != 0) {
			free(z);
			return r < 0 ? r : 0;
		}
	}
	r = msb_registry_blob_push(u->reg, c->digest, z, zlen,
				   u->from[0] ? u->from : NULL, &mounted, err);
	free(z);
	if (r == 0 && !mounted) {
		pthread_mutex_lock(&u->lock);
		u->sent++;
		u->bytes += zlen;
		pthread_mutex_unlock(&u->lock);
	}
	return r;
}

/* at() - the @i-th chunk of all files, in file order. */
static struct msb_chunk *at(struct msb_upload *u, size_t i, int *fd)
{
	for (size_t f = 0; f < u->nfiles; f++) {
		if (i < u->files[f].map.n) {
			*fd = u->files[f].fd;
			return &u->files[f].map.v[i];
		}
		i -= u->files[f].map.n;
	}
	return NULL;
}

static void *worker(void *arg)
{
	struct msb_upload *u = arg;
	size_t chunk = 0;
	void *buf;

	for (size_t f = 0; f < u->nfiles; f++)
		if (u->files[f].map.chunk > chunk)
			chunk = u->files[f].map.chunk;
	buf = malloc(chunk ? chunk : 1);
	for (;;) {
		msb_error e = { 0 };
		struct msb_chunk *c;
		size_t i;
		int r, fd = -1;

		pthread_mutex_lock(&u->lock);
		if (u->failed || u->next >= u->nchunks || !buf) {
			if (!buf && !u->failed) {
				u->failed = 1;
				msb_fail(&u->err, -ENOMEM, "out of memory");
			}
			pthread_mutex_unlock(&u->lock);
			break;
		}
		i = u->next++;
		pthread_mutex_unlock(&u->lock);
		c = at(u, i, &fd);
		r = one_chunk(u, fd, c, buf, &e);
		pthread_mutex_lock(&u->lock);
		if (r < 0 && !u->failed) {
			u->failed = 1;
			u->err = e;
		}
		u->done += c->len;
		u->done_chunks++;
		if (!u->failed)
			report(u, "uploading", u->done, u->total);
		pthread_mutex_unlock(&u->lock);
	}
	free(buf);
	return NULL;
}

int msb_upload_chunks(struct msb_upload *u, msb_error *err)
{
	pthread_t t[UPLOAD_THREADS];
	unsigned started = 0;

	for (size_t f = 0; f < u->nfiles; f++)
		for (size_t i = 0; i < u->files[f].map.n; i++)
			u->total += u->files[f].map.v[i].len;
	report(u, "uploading", 0, u->total);
	for (unsigned i = 0; i < UPLOAD_THREADS && i < u->nchunks; i++)
		if (pthread_create(&t[i], NULL, worker, u) == 0)
			started++;
	if (!started && u->nchunks)
		worker(u);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (u->failed) {
		*err = u->err;
		return u->err.code ? u->err.code : -EIO;
	}
	return 0;
}

int msb_upload_artifact(struct msb_upload *u, int kind, json_object *doc,
			const char *title, const char *tag, char *digest,
			size_t dn, msb_error *err)
{
	const struct msb_disk_map *maps[MSB_SYNC_FILES];
	const char *json = json_object_to_json_string_ext(
		doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(json);
	char cfg_digest[72], *manifest;
	int r;

	/* the config blob */
	msb_sha256_digest(json, len, cfg_digest);
	r = msb_registry_blob_head(u->reg, cfg_digest, len, err);
	if (r == 0) {
		r = msb_registry_blob_push(u->reg, cfg_digest, json, len, NULL,
					   NULL, err);
		if (r == 0)
			u->bytes += len;
	}
	if (r < 0)
		return r;
	for (size_t f = 0; f < u->nfiles; f++)
		maps[f] = &u->files[f].map;
	manifest = msb_artifact_manifest_json(kind, cfg_digest, len, maps,
					      u->nfiles, title);
	if (!manifest)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = msb_registry_manifest_put(u->reg, tag, manifest, strlen(manifest),
				      MSB_OCI_MANIFEST, digest, dn, err);
	if (r == 0)
		u->bytes += strlen(manifest);
	free(manifest);
	return r;
}

int msb_tag_digest(struct msb_registry *reg, const char *tag, char *digest,
		   size_t n, msb_error *err)
{
	char *body = NULL, mt[200];
	size_t len;
	int r = msb_registry_manifest(reg, tag, &body, &len, mt, sizeof(mt),
				      digest, n, err);

	free(body);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

uint32_t msb_sync_chunk_size(void)
{
	const char *e = getenv("MSB_SYNC_CHUNK_KIB");
	unsigned long k = e ? strtoul(e, NULL, 10) : 0;

	if (k >= MSB_CHUNK_MIN >> 10 && k <= MSB_CHUNK_MAX >> 10 &&
	    !(k & (k - 1)))
		return (uint32_t)(k << 10);
	return MSB_CHUNK_SIZE;
}
