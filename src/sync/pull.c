/* SPDX-License-Identifier: Apache-2.0 */
/* pull.c - msb_sandbox_pull(): an artifact from a registry into a stopped
 * sandbox
 *
 * Order, so that a failure leaves nothing: the manifest and the config
 * blob are checked; the disk is assembled in a hidden staging directory
 * beside the sandboxes (sandboxes/.pull-NAME-XXXXXX), each chunk either
 * read from the local copy last synced (when its raw sha256 matches,
 * hashed again as it is read) or downloaded into the store (verified
 * against its digest as it streams), decompressed, checked against its raw
 * digest, written sparse, and dropped from the store; then the image the
 * sandbox needs is pulled; only then does the staging directory take the
 * sandbox's name, and its record and sync state are written in one
 * transaction. A tampered chunk, a truncated blob, a registry gone away
 * or a full disk remove the staging directory and the blobs this pull
 * stored.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "image.h"
#include "state.h"
#include "sync.h"
#include "util.h"

#define PULL_THREADS 4

/* One distinct blob and the offsets it fills. */
struct group {
	size_t first, count;   /* in pull.order */
};

struct pull {
	const msb_sync_opts *o;
	struct msb_registry *reg;
	const struct msb_disk_map *map;
	size_t *order;         /* chunk indices sorted by blob digest */
	struct group *groups;
	size_t ngroups;
	/* the local copy: its fd and chunks sorted by raw digest */
	int local_fd;
	struct msb_disk_map local;
	int fd;                /* the disk being made */
	pthread_mutex_t lock;
	size_t next;
	int failed;
	msb_error err;
	uint64_t done, total, bytes;
	unsigned fetched, reused, chunks_done;
	char (*added)[80];     /* blobs this pull stored */
	size_t nadded;
};

static void report(struct pull *p, const char *phase, uint64_t done,
		   uint64_t total, const msb_pull_progress *img)
{
	msb_sync_progress ev = { .phase = phase, .done = done, .total = total,
				 .chunks_done = p->chunks_done,
				 .chunks_total = p->map ? (unsigned)p->map->n : 0,
				 .image = img };

	if (p->o && p->o->progress)
		p->o->progress(p->o->ctx, &ev);
}

static const struct msb_disk_map *sort_map;

static int by_digest(const void *a, const void *b)
{
	const struct msb_chunk *x = &sort_map->v[*(const size_t *)a],
			       *y = &sort_map->v[*(const size_t *)b];
	int c = strcmp(x->digest, y->digest);

	return c ? c : (x->off < y->off ? -1 : x->off > y->off);
}

static int by_raw(const void *a, const void *b)
{
	return strcmp(((const struct msb_chunk *)a)->raw,
		      ((const struct msb_chunk *)b)->raw);
}

/* group_chunks() - the chunks by blob, so a blob used at several offsets
 * is fetched once. */
static int group_chunks(struct pull *p, msb_error *err)
{
	const struct msb_disk_map *m = p->map;
	static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

	p->order = calloc(m->n ? m->n : 1, sizeof(*p->order));
	p->groups = calloc(m->n ? m->n : 1, sizeof(*p->groups));
	p->added = calloc(m->n + 1, sizeof(*p->added));
	if (!p->order || !p->groups || !p->added)
		return msb_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++)
		p->order[i] = i;
	pthread_mutex_lock(&sort_lock);
	sort_map = m;
	qsort(p->order, m->n, sizeof(*p->order), by_digest);
	pthread_mutex_unlock(&sort_lock);
	for (size_t i = 0; i < m->n; i++) {
		const struct msb_chunk *c = &m->v[p->order[i]];

		if (!i || strcmp(c->digest, m->v[p->order[i - 1]].digest) ||
		    c->len != m->v[p->order[i - 1]].len) {
			p->groups[p->ngroups].first = i;
			p->ngroups++;
		}
		p->groups[p->ngroups - 1].count++;
		p->total += c->len;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* from_local() - the raw bytes of @c from the local copy, if it has them
 * (checked by hashing them again). Return: 1 found, 0 not. */
static int from_local(struct pull *p, const struct msb_chunk *c, void *buf)
{
	struct msb_chunk key;
	const struct msb_chunk *k;
	char got[72];

	if (p->local_fd < 0 || !p->local.n)
		return 0;
	snprintf(key.raw, sizeof(key.raw), "%s", c->raw);
	k = bsearch(&key, p->local.v, p->local.n, sizeof(key), by_raw);
	if (!k || k->len != c->len ||
	    read_full(p->local_fd, buf, c->len, k->off) < 0)
		return 0;
	msb_sha256_digest(buf, c->len, got);
	return !strcmp(got, c->raw);
}

struct job {
	struct pull *p;
	uint64_t base;
};

static void on_bytes(void *ctx, uint64_t done)
{
	struct job *j = ctx;

	pthread_mutex_lock(&j->p->lock);
	report(j->p, "downloading", j->base + done, j->p->total, NULL);
	pthread_mutex_unlock(&j->p->lock);
}

/* fetch() - the raw bytes of a blob's chunk @c into @buf: from the store
 * (downloaded first when missing), decompressed and checked. */
static int fetch(struct pull *p, const struct msb_chunk *c, void *buf,
		 msb_error *err)
{
	char path[PATH_MAX];
	struct job j = { p, 0 };
	size_t zlen = 0;
	void *z;
	int r, added = 0;

	if (!msb_blob_have(c->digest)) {
		pthread_mutex_lock(&p->lock);
		j.base = p->done;
		pthread_mutex_unlock(&p->lock);
		r = msb_registry_blob(p->reg, c->digest, c->zlen, on_bytes, &j,
				      err);
		if (r < 0)
			return r;
		added = 1;
		pthread_mutex_lock(&p->lock);
		snprintf(p->added[p->nadded++], sizeof(p->added[0]), "%s",
			 c->digest);
		p->fetched++;
		p->bytes += c->zlen;
		pthread_mutex_unlock(&p->lock);
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
	/* written into the disk: the store need not keep a second copy */
	if (added && r == 0)
		unlink(path);
	return r;
}

static int one_group(struct pull *p, const struct group *g, void *buf,
		     msb_error *err)
{
	const struct msb_chunk *c = &p->map->v[p->order[g->first]];
	int r = 0, local = from_local(p, c, buf);

	if (!local)
		r = fetch(p, c, buf, err);
	for (size_t i = 0; r == 0 && i < g->count; i++) {
		const struct msb_chunk *at = &p->map->v[p->order[g->first + i]];

		r = msb_pwrite_sparse(p->fd, buf, at->len, at->off);
		if (r < 0)
			r = r == -ENOSPC ?
				    msb_fail_nospace(err, "writing the disk") :
				    msb_fail_errno(err, r, "cannot write the "
						   "disk");
	}
	if (r == 0 && local) {
		pthread_mutex_lock(&p->lock);
		p->reused += (unsigned)g->count;
		pthread_mutex_unlock(&p->lock);
	}
	return r;
}

static void *worker(void *arg)
{
	struct pull *p = arg;
	void *buf = malloc(p->map->chunk);

	for (;;) {
		msb_error e = { 0 };
		const struct group *g;
		int r;

		pthread_mutex_lock(&p->lock);
		if (!buf && !p->failed) {
			p->failed = 1;
			msb_fail(&p->err, -ENOMEM, "out of memory");
		}
		if (p->failed || p->next >= p->ngroups) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		g = &p->groups[p->next++];
		pthread_mutex_unlock(&p->lock);
		r = one_group(p, g, buf, &e);
		pthread_mutex_lock(&p->lock);
		if (r < 0 && !p->failed) {
			p->failed = 1;
			p->err = e;
		}
		for (size_t i = 0; i < g->count; i++)
			p->done += p->map->v[p->order[g->first + i]].len;
		p->chunks_done += (unsigned)g->count;
		if (!p->failed)
			report(p, "downloading", p->done, p->total, NULL);
		pthread_mutex_unlock(&p->lock);
	}
	free(buf);
	return NULL;
}

static int write_disk(struct pull *p, msb_error *err)
{
	pthread_t t[PULL_THREADS];
	unsigned started = 0;

	for (unsigned i = 0; i < PULL_THREADS && i < p->ngroups; i++)
		if (pthread_create(&t[i], NULL, worker, p) == 0)
			started++;
	if (!started && p->ngroups)
		worker(p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (p->failed) {
		*err = p->err;
		return p->err.code ? p->err.code : -EIO;
	}
	if (fsync(p->fd) < 0)
		return errno == ENOSPC ?
			       msb_fail_nospace(err, "writing the disk") :
			       msb_fail_errno(err, -errno,
					      "cannot write the disk");
	return 0;
}

/* take_back() - the blobs this pull stored go again. */
static void take_back(struct pull *p)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < p->nadded; i++) {
		msb_blob_path(p->added[i], path, sizeof(path));
		unlink(path);
	}
}

/* check_layers() - every chunk's blob is a layer of the manifest, of the
 * size the map says (the registry keeps what a manifest names). */
static int check_layers(const struct msb_artifact_manifest *m,
			const struct msb_disk_map *map, msb_error *err)
{
	for (size_t i = 0; i < map->n; i++) {
		int found = 0;

		for (size_t k = 0; k < m->nlayers && !found; k++)
			found = !strcmp(m->layers[k].digest, map->v[i].digest) &&
				m->layers[k].size == map->v[i].zlen;
		if (!found)
			return msb_fail(err, -EPROTO,
					"the sandbox's disk map names %.19s, "
					"which its manifest does not: refused",
					map->v[i].digest);
	}
	return 0;
}

static int mtime_ns(int fd, int64_t *ns)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

static int same_raw(const struct msb_disk_map *a, const struct msb_disk_map *b)
{
	if (a->n != b->n || a->size != b->size)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].off != b->v[i].off || a->v[i].len != b->v[i].len ||
		    strcmp(a->v[i].raw, b->v[i].raw))
			return 0;
	return 1;
}

/* same_repository() - @canon names @ref's registry and repository: a
 * newer push of the sandbox here, which a pull may bring in. */
static int same_repository(const char *canon, const struct msb_ref *ref)
{
	struct msb_ref r;

	return msb_ref_parse(canon, &r, NULL) == 0 &&
	       !strcmp(r.registry, ref->registry) &&
	       !strcmp(r.repository, ref->repository);
}

struct local {
	int exists;
	int changed;          /* since its last sync (or never synced) */
	struct msb_sync_row last;
	int lockfd;
	int64_t mtime;
};

/* look_local() - the sandbox @name already here: may it be replaced, and
 * which of its chunks can the new disk take? */
static int look_local(sqlite3 *db, const char *name, struct pull *p,
		      struct local *l, msb_error *err)
{
	struct msb_row row;
	char path[PATH_MAX * 2], dir[PATH_MAX], overlay[PATH_MAX] = "";
	json_object *cfg, *v;
	struct stat st;
	int r, fd;

	r = msb_db_get(db, name, &row, NULL);
	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = msb_db_reconcile(db, &row, err);
	if (r < 0)
		return r;
	l->exists = 1;
	msb_lock_path(name, path, sizeof(path));
	l->lockfd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (msb_status_is_live(row.info.status) || l->lockfd < 0 ||
	    flock(l->lockfd, LOCK_SH | LOCK_NB) < 0) {
		msb_row_free(&row);
		return msb_fail(err, MSB_E_BUSY,
				"sandbox '%s' is running: stop it first ('msb "
				"stop %s') to pull over it",
				name, name);
	}
	cfg = json_tokener_parse(row.config);
	if (cfg && json_object_object_get_ex(cfg, "upper", &v))
		snprintf(overlay, sizeof(overlay), "%s", json_object_get_string(v));
	json_object_put(cfg);
	msb_row_free(&row);
	r = msb_sync_db_get(db, name, &l->last, err);
	if (r < 0 && r != -ENOENT)
		return r;
	l->changed = r == -ENOENT;
	msb_sandbox_dir(name, dir, sizeof(dir));
	if (overlay[0]) {
		/* a restored sandbox's qcow2 overlay: as it was synced only
		 * if its file is untouched; its chunks are not read here */
		snprintf(path, sizeof(path), "%s/%s", dir, overlay);
		if (stat(path, &st) < 0 || !l->last.disk_mtime_ns ||
		    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec !=
			    l->last.disk_mtime_ns)
			l->changed = 1;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/upper.ext4", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		l->changed = 1;
		return 0;
	}
	p->local_fd = fd;
	if (r == 0 && mtime_ns(fd, &l->mtime) == 0 && l->mtime &&
	    l->mtime == l->last.disk_mtime_ns) {
		json_object *j = json_tokener_parse(l->last.map);

		if (msb_disk_map_parse(j, &p->local, NULL) < 0)
			l->changed = 1;
		json_object_put(j);
	} else {
		/* its disk was written since: see what it holds now */
		struct msb_disk_map then = { 0 };
		json_object *j = l->last.map ? json_tokener_parse(l->last.map) :
					       NULL;

		if (msb_disk_scan(fd, MSB_CHUNK_SIZE, &p->local, NULL, NULL,
				  err) < 0) {
			json_object_put(j);
			return err->code;
		}
		if (!l->changed)
			l->changed = msb_disk_map_parse(j, &then, NULL) < 0 ||
				     !same_raw(&then, &p->local);
		msb_disk_map_free(&then);
		json_object_put(j);
	}
	qsort(p->local.v, p->local.n, sizeof(*p->local.v), by_raw);
	return 0;
}

static void on_image(void *ctx, const msb_pull_progress *ip)
{
	struct pull *p = ctx;

	report(p, "image", ip->done, ip->total, ip);
}

/* need_image() - the sandbox's image here: found by digest, else pulled
 * pinned to it. @canon gets its local reference. */
static int need_image(struct pull *p, const struct msb_artifact *a,
		      unsigned max_disks, json_object **layers, char *canon,
		      size_t cn, msb_error *err)
{
	json_object *icfg = NULL;
	struct msb_ref ref;
	char pin[900];
	msb_pull_opts po = { .insecure = p->o ? p->o->insecure : 0,
			     .progress = on_image, .ctx = p };
	int r;

	if (!strcmp(a->image, "default"))
		return msb_image_resolve("default", max_disks, layers, &icfg,
					 canon, cn, err);
	r = msb_image_resolve(a->image_digest, max_disks, layers, &icfg,
			      canon, cn, err);
	if (r == -ENOENT) {
		/* not here: pulled pinned to the digest it was pushed with */
		r = msb_ref_parse(a->image, &ref, err);
		if (r == 0) {
			snprintf(ref.digest, sizeof(ref.digest), "%s",
				 a->image_digest);
			msb_ref_format(&ref, pin, sizeof(pin));
			r = msb_image_pull(pin, &po, NULL, err);
		}
		if (r == 0)
			r = msb_image_resolve(a->image_digest, max_disks,
					      layers, &icfg, canon, cn, err);
	}
	json_object_put(icfg);
	return r;
}

/* commit() - the staging directory becomes sandbox @name, with its record
 * and sync state; an older sandbox of that name goes. */
static int commit(sqlite3 *db, const char *name, const char *stage,
		  const struct msb_row *row, const struct msb_sync_row *sync,
		  int replace, msb_error *err)
{
	char dir[PATH_MAX], old[PATH_MAX];
	int r, moved_old = 0;

	msb_sandbox_dir(name, dir, sizeof(dir));
	snprintf(old, sizeof(old), "%s/sandboxes/.old-%s-%d", msb_home(), name,
		 (int)getpid());
	if (replace && rename(dir, old) == 0)
		moved_old = 1;
	else if (!replace)
		msb_rm_rf(dir); /* debris of a crash: no record names it */
	if (rename(stage, dir) < 0) {
		r = msb_fail_errno(err, -errno, "cannot create %s", dir);
		if (moved_old)
			rename(old, dir);
		return r;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = msb_fail(err, -EIO, "state database: %s",
			     sqlite3_errmsg(db));
		goto undo;
	}
	r = replace ? msb_db_delete(db, name, err) : 0;
	if (r == 0)
		r = msb_db_insert(db, row, err);
	if (r == 0)
		r = msb_sync_db_put(db, sync, err);
	if (r == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = msb_fail(err, -EIO, "state database: %s",
			     sqlite3_errmsg(db));
	if (r < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto undo;
	}
	if (moved_old)
		msb_rm_rf(old);
	return 0;
undo:
	rename(dir, stage);
	if (moved_old)
		rename(old, dir);
	return r;
}

static int sandbox_pull(const char *arg, const msb_sync_opts *o,
			msb_sync_info *out, msb_error *err)
{
	struct pull p = { .o = o, .local_fd = -1, .fd = -1 };
	struct msb_artifact a = { 0 };
	struct msb_artifact_manifest man = { 0 };
	struct local l = { .lockfd = -1 };
	struct msb_ref ref;
	struct msb_row row = { 0 };
	struct msb_sync_row sync = { 0 };
	json_object *cfg = NULL, *layers = NULL, *v;
	char canon[700], digest[80], mt[200], name[64], stage[PATH_MAX] = "",
	     path[PATH_MAX + 16], icanon[700], cfg_path[PATH_MAX],
	     dropped[256] = "";
	char *body = NULL, *cbody = NULL;
	size_t len, clen;
	sqlite3 *db = NULL;
	int r, insecure = 0, cfg_added = 0;
	unsigned max_disks;
	int64_t mtns = 0;

	pthread_mutex_init(&p.lock, NULL);
	if (out)
		memset(out, 0, sizeof(*out));
	r = msb_sync_target(arg, canon, sizeof(canon), &insecure, err);
	if (r == 0)
		r = msb_ref_parse(canon, &ref, err);
	if (r == 0)
		r = msb_store_dirs(err);
	if (r < 0)
		goto out;
	report(&p, "resolving", 0, 0, NULL);
	r = msb_registry_open(&ref, insecure || (o && o->insecure), &p.reg,
			      err);
	if (r == 0)
		r = msb_registry_manifest(p.reg,
					  ref.digest[0] ? ref.digest : ref.tag,
					  &body, &len, mt, sizeof(mt), digest,
					  sizeof(digest), err);
	if (r == -ENOENT)
		r = err->code = MSB_E_IMAGE_NOT_FOUND;
	if (r == 0)
		r = msb_artifact_manifest_parse(body, len, mt, &man, err);
	if (r == 0 && !man.is_sandbox)
		r = msb_fail(err, MSB_E_KIND,
			     "%s is an image, not a sandbox: 'msb pull' of "
			     "it (msb_image_pull()) stores it as an image",
			     canon);
	if (r < 0)
		goto out;
	/* the config blob: what the sandbox is, and its disk map */
	if (!msb_blob_have(man.config_digest)) {
		r = msb_registry_blob(p.reg, man.config_digest,
				      man.config_size, NULL, NULL, err);
		if (r < 0)
			goto out;
		cfg_added = 1;
	}
	msb_blob_path(man.config_digest, cfg_path, sizeof(cfg_path));
	cbody = msb_blob_read(man.config_digest, MSB_ARTIFACT_CONFIG_MAX, &clen);
	if (!cbody) {
		r = msb_fail(err, -EIO, "cannot read the sandbox config %.19s",
			     man.config_digest);
		goto out;
	}
	r = msb_artifact_parse(cbody, clen, &a, err);
	if (r == 0)
		r = check_layers(&man, &a.map, err);
	if (r < 0)
		goto out;
	p.map = &a.map;

	/* its name here */
	if (o && o->name && *o->name) {
		snprintf(name, sizeof(name), "%s", o->name);
	} else {
		const char *last = strrchr(ref.repository, '/');

		snprintf(name, sizeof(name), "%s",
			 last ? last + 1 : ref.repository);
	}
	r = msb_name_valid(name, err);
	if (r == 0)
		r = msb_db_open(NULL, &db, err);
	if (r == 0)
		r = look_local(db, name, &p, &l, err);
	if (r < 0)
		goto out;
	if (l.exists && !l.changed && !(o && o->force) &&
	    !same_repository(l.last.reference, &ref)) {
		r = msb_fail(err, MSB_E_EXISTS,
			     "a sandbox named '%s' exists here (synced with "
			     "%s, not %s/%s): pull under another --name, or "
			     "replace it with 'msb pull --force'",
			     name, l.last.reference, ref.registry,
			     ref.repository);
		goto out;
	}
	if (l.exists && l.changed && !(o && o->force)) {
		r = msb_fail(err, MSB_E_CONFLICT,
			     "sandbox '%s' exists here and %s: pulling would "
			     "lose its changes; push it first, pull under "
			     "another --name, or replace it with 'msb pull "
			     "--force'",
			     name,
			     l.last.digest[0] ? "has changed since its last "
						"push or pull" :
						"was never pushed or pulled");
		goto out;
	}
	if (l.exists && !l.changed && !strcmp(l.last.digest, digest)) {
		if (out) {
			snprintf(out->name, sizeof(out->name), "%s", name);
			snprintf(out->reference, sizeof(out->reference), "%s",
				 canon);
			snprintf(out->digest, sizeof(out->digest), "%s", digest);
			snprintf(out->parent, sizeof(out->parent), "%s",
				 a.parent);
			out->chunks = (unsigned)a.map.n;
			for (size_t i = 0; i < a.map.n; i++)
				out->disk_bytes += a.map.v[i].len;
			out->up_to_date = 1;
		}
		goto out;
	}

	/* its configuration, checked as a create checks it */
	r = msb_sync_record_config(a.config, o && o->trust, &cfg, dropped,
				   sizeof(dropped), err);
	if (r < 0)
		goto out;
	max_disks = MSB_ENGINE_SHARED_SLOTS -
		    (unsigned)(json_object_object_get_ex(cfg, "volumes", &v) ?
				       json_object_array_length(v) :
				       0);
	if (max_disks > MSB_IMAGE_MAX_DISKS)
		max_disks = MSB_IMAGE_MAX_DISKS;

	/* the disk, in a staging directory */
	snprintf(stage, sizeof(stage), "%s/sandboxes", msb_home());
	r = msb_mkdir_p(stage, 0700);
	if (r < 0) {
		r = msb_fail_errno(err, r, "cannot create %s", stage);
		stage[0] = '\0';
		goto out;
	}
	snprintf(stage, sizeof(stage), "%s/sandboxes/.pull-%s-XXXXXX",
		 msb_home(), name);
	if (!mkdtemp(stage)) {
		r = msb_fail_errno(err, -errno, "cannot create %s", stage);
		stage[0] = '\0';
		goto out;
	}
	snprintf(path, sizeof(path), "%s/upper.ext4", stage);
	p.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (p.fd < 0 || ftruncate(p.fd, (off_t)a.map.size) < 0) {
		r = errno == ENOSPC ? msb_fail_nospace(err, "making the disk") :
			msb_fail_errno(err, -errno, "cannot create %s", path);
		goto out;
	}
	r = group_chunks(&p, err);
	if (r == 0) {
		report(&p, "downloading", 0, p.total, NULL);
		r = write_disk(&p, err);
	}
	if (r == 0)
		r = need_image(&p, &a, max_disks, &layers, icanon,
			       sizeof(icanon), err);
	if (r == 0 && mtime_ns(p.fd, &mtns) < 0)
		r = msb_fail_errno(err, -errno, "cannot stat %s", path);
	if (r < 0)
		goto out;

	/* the record: what msb_sandbox_create() would have made */
	json_object_object_add(cfg, "layers", layers);
	layers = NULL;
	json_object_object_add(cfg, "image_ref", json_object_new_string(icanon));
	json_object_object_add(cfg, "ephemeral", json_object_new_boolean(0));
	json_object_object_add(cfg, "disk_mib",
			       json_object_new_int64((int64_t)(a.map.size >> 20)));
	if (!json_object_object_get_ex(cfg, "kernel", NULL))
		json_object_object_add(cfg, "kernel",
				       json_object_new_string(msb_guest_default()));
	snprintf(row.info.name, sizeof(row.info.name), "%s", name);
	snprintf(row.info.image, sizeof(row.info.image), "%s",
		 a.image_display);
	snprintf(row.info.status, sizeof(row.info.status), "stopped");
	row.info.cpus = a.cpus;
	row.info.memory_mib = a.memory_mib;
	row.info.created_at = msb_wall_s();
	row.config = (char *)json_object_to_json_string_ext(
		cfg, JSON_C_TO_STRING_PLAIN);
	snprintf(sync.name, sizeof(sync.name), "%s", name);
	snprintf(sync.reference, sizeof(sync.reference), "%s", canon);
	if (ref.digest[0] && !ref.tag[0]) {
		/* pulled by digest: pushes go back to the repository's
		 * latest */
		struct msb_ref t = ref;

		t.digest[0] = '\0';
		snprintf(t.tag, sizeof(t.tag), "latest");
		msb_ref_format(&t, sync.reference, sizeof(sync.reference));
	}
	snprintf(sync.digest, sizeof(sync.digest), "%s", digest);
	{
		json_object *mj = msb_disk_map_json(&a.map);

		sync.map = strdup(json_object_to_json_string_ext(
			mj, JSON_C_TO_STRING_PLAIN));
		json_object_put(mj);
	}
	sync.disk_mtime_ns = mtns;
	sync.synced_at = msb_wall_s();
	close(p.fd);
	p.fd = -1;
	r = sync.map ? commit(db, name, stage, &row, &sync, l.exists, err) :
		       msb_fail(err, -ENOMEM, "out of memory");
	if (r < 0)
		goto out;
	stage[0] = '\0';
	if (out) {
		snprintf(out->name, sizeof(out->name), "%s", name);
		snprintf(out->reference, sizeof(out->reference), "%s", canon);
		snprintf(out->digest, sizeof(out->digest), "%s", digest);
		snprintf(out->parent, sizeof(out->parent), "%s", a.parent);
		out->chunks = (unsigned)a.map.n;
		for (size_t i = 0; i < a.map.n; i++)
			out->disk_bytes += a.map.v[i].len;
		out->transferred = p.fetched;
		out->bytes = p.bytes + len + man.config_size;
		out->reused = p.reused;
		snprintf(out->dropped, sizeof(out->dropped), "%s", dropped);
	}
out:
	if (r < 0 && p.added)
		take_back(&p);
	if (cfg_added)
		unlink(cfg_path);
	if (p.fd >= 0)
		close(p.fd);
	if (stage[0])
		msb_rm_rf(stage);
	if (p.local_fd >= 0)
		close(p.local_fd);
	if (l.lockfd >= 0)
		close(l.lockfd);
	msb_sync_row_free(&l.last);
	free(sync.map);
	json_object_put(cfg);
	json_object_put(layers);
	msb_disk_map_free(&p.local);
	msb_artifact_free(&a);
	msb_artifact_manifest_free(&man);
	free(p.order);
	free(p.groups);
	free(p.added);
	free(body);
	free(cbody);
	msb_registry_close(p.reg);
	if (db)
		msb_db_close(db);
	pthread_mutex_destroy(&p.lock);
	return r;
}

MSB_API int msb_sandbox_pull(const char *arg, const msb_sync_opts *o,
			     msb_sync_info *out, msb_error *err)
{
	msb_error local = { 0 };

	return sandbox_pull(arg, o, out, err ? err : &local);
}
