/* SPDX-License-Identifier: Apache-2.0 */
/* download.c - a file assembled from its chunks, and what a pull stored
 *
 * What a sandbox pull and a snapshot pull share (pull.c, snapsync.c).
 * The chunks are grouped by blob, so a blob used at several offsets is
 * fetched once; each group is either read from a local copy (when its raw
 * sha256 matches, hashed again as it is read) or downloaded into the
 * store (verified against its digest as it streams), decompressed,
 * checked against its raw digest, written sparse, and dropped from the
 * store. The blobs a pull stored are listed so that a failed one takes
 * them back.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "sync.h"
#include "util.h"

#define DOWNLOAD_THREADS 4

/* One distinct blob and the offsets it fills. */
struct group {
	size_t first, count;   /* in order[] */
};

struct job {
	struct msb_download *d;
	const struct msb_disk_map *map;
	int fd;
	size_t *order;         /* chunk indices sorted by blob digest */
	struct group *groups;
	size_t ngroups, next;
	uint64_t base;         /* for on_bytes */
};

void msb_download_init(struct msb_download *d, const msb_sync_opts *o,
		       struct msb_registry *reg)
{
	memset(d, 0, sizeof(*d));
	d->o = o;
	d->reg = reg;
	d->local_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
}

void msb_download_free(struct msb_download *d)
{
	if (d->local_fd >= 0)
		close(d->local_fd);
	msb_disk_map_free(&d->local);
	free(d->added);
	pthread_mutex_destroy(&d->lock);
}

void msb_download_plan(struct msb_download *d,
		       const struct msb_disk_map *const *maps, size_t n)
{
	for (size_t f = 0; f < n; f++) {
		d->chunks_total += (unsigned)maps[f]->n;
		for (size_t i = 0; i < maps[f]->n; i++)
			d->total += maps[f]->v[i].len;
	}
}

/* report() - one progress event (under d->lock, or before the workers).
 * The workers' bytes in flight are each counted from where their job
 * began, so what "downloading" reports never goes back: a progress bar
 * only grows. */
static void report(struct msb_download *d, const char *phase, uint64_t done,
		   uint64_t total, const msb_pull_progress *img)
{
	msb_sync_progress ev = { .phase = phase, .done = done, .total = total,
				 .chunks_done = d->chunks_done,
				 .chunks_total = d->chunks_total,
				 .image = img };

	if (!img && !strcmp(phase, "downloading")) {
		if (done < d->shown)
			ev.done = d->shown;
		d->shown = ev.done;
	}
	if (d->o && d->o->progress)
		d->o->progress(d->o->ctx, &ev);
}

void msb_download_report(struct msb_download *d, const char *phase,
			 const msb_pull_progress *img)
{
	report(d, phase, img ? img->done : d->done, img ? img->total : d->total,
	       img);
}

static const struct msb_disk_map *sort_map;

static int by_digest(const void *a, const void *b)
{
	const struct msb_chunk *x = &sort_map->v[*(const size_t *)a],
			       *y = &sort_map->v[*(const size_t *)b];
	int c = strcmp(x->digest, y->digest);

	return c ? c : (x->off < y->off ? -1 : x->off > y->off);
}

static int group_chunks(struct job *j, msb_error *err)
{
	const struct msb_disk_map *m = j->map;
	static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
	char (*added)[80];

	j->order = calloc(m->n ? m->n : 1, sizeof(*j->order));
	j->groups = calloc(m->n ? m->n : 1, sizeof(*j->groups));
	added = realloc(j->d->added,
			(j->d->nadded + m->n + 1) * sizeof(*added));
	if (added)
		j->d->added = added;
	if (!j->order || !j->groups || !added)
		return msb_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++)
		j->order[i] = i;
	pthread_mutex_lock(&sort_lock);
	sort_map = m;
	qsort(j->order, m->n, sizeof(*j->order), by_digest);
	pthread_mutex_unlock(&sort_lock);
	for (size_t i = 0; i < m->n; i++) {
		const struct msb_chunk *c = &m->v[j->order[i]];

		if (!i || strcmp(c->digest, m->v[j->order[i - 1]].digest) ||
		    c->len != m->v[j->order[i - 1]].len) {
			j->groups[j->ngroups].first = i;
			j->ngroups++;
		}
		j->groups[j->ngroups - 1].count++;
	}
	return 0;
}

/* from_local() - the raw bytes of @c from the local copy, if it has them
 * (checked by hashing them again). Return: 1 found, 0 not. */
static int from_local(struct msb_download *d, const struct msb_chunk *c,
		      void *buf)
{
	const struct msb_chunk *k;
	char got[72];

	if (d->local_fd < 0)
		return 0;
	k = msb_chunks_find_raw(&d->local, c->raw);
	if (!k || k->len != c->len ||
	    msb_pread_full(d->local_fd, buf, c->len, k->off) !=
		    (ssize_t)c->len)
		return 0;
	msb_sha256_digest(buf, c->len, got);
	return !strcmp(got, c->raw);
}

static void on_bytes(void *ctx, uint64_t done)
{
	struct job *j = ctx;

	pthread_mutex_lock(&j->d->lock);
	report(j->d, "downloading", j->base + done, j->d->total, NULL);
	pthread_mutex_unlock(&j->d->lock);
}

/* fetch() - the raw bytes of a blob's chunk @c into @buf: from the store
 * (downloaded first when missing), decompressed and checked. */
static int fetch(struct job *j, const struct msb_chunk *c, void *buf,
		 msb_error *err)
{
	struct msb_download *d = j->d;
	struct job local = *j;
	char path[PATH_MAX];
	size_t zlen = 0;
	void *z;
	int r, added = 0;

	if (!msb_blob_have(c->digest)) {
		pthread_mutex_lock(&d->lock);
		local.base = d->done;
		pthread_mutex_unlock(&d->lock);
		r = msb_registry_blob(d->reg, c->digest, c->zlen, on_bytes,
				      &local, err);
		if (r < 0)
			return r;
		added = 1;
		pthread_mutex_lock(&d->lock);
		snprintf(d->added[d->nadded++], sizeof(d->added[0]), "%s",
			 c->digest);
		d->fetched++;
		d->bytes += c->zlen;
		pthread_mutex_unlock(&d->lock);
	}
	msb_blob_path(c->digest, path, sizeof(path));
	z = msb_read_file(path, &zlen);
	if (!z)
		return msb_fail_errno(err, -errno, "cannot read %s", path);
	r = zlen == c->zlen ?
		    msb_chunk_unpack(z, zlen, buf, c->len, c->raw, err) :
		    msb_fail(err, -EBADMSG, "blob %.19s is %zu bytes, not %llu",
			     c->digest, zlen, (unsigned long long)c->zlen);
	free(z);
	/* written into the file: the store need not keep a second copy */
	if (added && r == 0)
		unlink(path);
	return r;
}

static int one_group(struct job *j, const struct group *g, void *buf,
		     msb_error *err)
{
	const struct msb_chunk *c = &j->map->v[j->order[g->first]];
	int r = 0, local = from_local(j->d, c, buf);

	if (!local)
		r = fetch(j, c, buf, err);
	for (size_t i = 0; r == 0 && i < g->count; i++) {
		const struct msb_chunk *at = &j->map->v[j->order[g->first + i]];

		r = msb_pwrite_sparse(j->fd, buf, at->len, at->off);
		if (r < 0)
			r = r == -ENOSPC ?
				    msb_fail_nospace(err, "writing the disk") :
				    msb_fail_errno(err, r, "cannot write the "
						   "disk");
	}
	if (r == 0 && local) {
		pthread_mutex_lock(&j->d->lock);
		j->d->reused += (unsigned)g->count;
		pthread_mutex_unlock(&j->d->lock);
	}
	return r;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct msb_download *d = j->d;
	void *buf = malloc(j->map->chunk);

	for (;;) {
		msb_error e = { 0 };
		const struct group *g;
		int r;

		pthread_mutex_lock(&d->lock);
		if (!buf && !d->failed) {
			d->failed = 1;
			msb_fail(&d->err, -ENOMEM, "out of memory");
		}
		if (d->failed || j->next >= j->ngroups) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		g = &j->groups[j->next++];
		pthread_mutex_unlock(&d->lock);
		r = one_group(j, g, buf, &e);
		pthread_mutex_lock(&d->lock);
		if (r < 0 && !d->failed) {
			d->failed = 1;
			d->err = e;
		}
		for (size_t i = 0; i < g->count; i++)
			d->done += j->map->v[j->order[g->first + i]].len;
		d->chunks_done += (unsigned)g->count;
		if (!d->failed)
			report(d, "downloading", d->done, d->total, NULL);
		pthread_mutex_unlock(&d->lock);
	}
	free(buf);
	return NULL;
}

int msb_download_file(struct msb_download *d, const struct msb_disk_map *map,
		      int fd, msb_error *err)
{
	struct job j = { .d = d, .map = map, .fd = fd };
	pthread_t t[DOWNLOAD_THREADS];
	unsigned started = 0;
	int r;

	if (ftruncate(fd, (off_t)map->size) < 0)
		return errno == ENOSPC ?
			       msb_fail_nospace(err, "making the disk") :
			       msb_fail_errno(err, -errno,
					      "cannot size the disk");
	r = group_chunks(&j, err);
	if (r < 0)
		goto out;
	report(d, "downloading", d->done, d->total, NULL);
	for (unsigned i = 0; i < DOWNLOAD_THREADS && i < j.ngroups; i++)
		if (pthread_create(&t[i], NULL, worker, &j) == 0)
			started++;
	if (!started && j.ngroups)
		worker(&j);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (d->failed) {
		*err = d->err;
		r = d->err.code ? d->err.code : -EIO;
		goto out;
	}
	if (fsync(fd) < 0)
		r = errno == ENOSPC ?
			    msb_fail_nospace(err, "writing the disk") :
			    msb_fail_errno(err, -errno,
					   "cannot write the disk");
out:
	free(j.order);
	free(j.groups);
	return r;
}

void msb_download_take_back(struct msb_download *d)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < d->nadded; i++) {
		msb_blob_path(d->added[i], path, sizeof(path));
		unlink(path);
	}
	d->nadded = 0;
}

int msb_check_layers(const struct msb_artifact_manifest *m,
		     const struct msb_disk_map *map, msb_error *err)
{
	for (size_t i = 0; i < map->n; i++) {
		int found = 0;

		for (size_t k = 0; k < m->nlayers && !found; k++)
			found = !strcmp(m->layers[k].digest, map->v[i].digest) &&
				m->layers[k].size == map->v[i].zlen;
		if (!found)
			return msb_fail(err, -EPROTO,
					"the artifact's chunk map names %.19s, "
					"which its manifest does not: refused",
					map->v[i].digest);
	}
	return 0;
}
