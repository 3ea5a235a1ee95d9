/* SPDX-License-Identifier: Apache-2.0 */
/* pull.c - msb_sandbox_pull(): an artifact from a registry into a stopped
 * sandbox
 *
 * Order, so that a failure leaves nothing: the manifest and the config
 * blob are checked; the disk is assembled in a hidden staging directory
 * beside the sandboxes (sandboxes/.pull-NAME-XXXXXX) through download.c,
 * each chunk either read from the local copy last synced (when its raw
 * sha256 matches, hashed again as it is read) or downloaded and verified;
 * then the image the sandbox needs is pulled; only then does the staging
 * directory take the sandbox's name, and its record and sync state are
 * written in one transaction. A tampered chunk, a truncated blob, a
 * registry gone away or a full disk remove the staging directory and the
 * blobs this pull stored.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

static void resolving(const msb_sync_opts *o)
{
	msb_sync_progress ev = { .phase = "resolving" };

	if (o && o->progress)
		o->progress(o->ctx, &ev);
}

void msb_sync_fetched_free(struct msb_fetched *f)
{
	if (f->cfg_added)
		unlink(f->cfg_path);
	f->cfg_added = 0;
	msb_artifact_free(&f->a);
	msb_artifact_manifest_free(&f->man);
	msb_registry_close(f->reg);
	f->reg = NULL;
}

int msb_sync_fetch(const char *arg, const msb_sync_opts *o, int kind,
		   struct msb_fetched *f, msb_error *err)
{
	char mt[200], *body = NULL, *cbody = NULL;
	const struct msb_disk_map *maps[3];
	size_t clen, nmaps = 0;
	int r, insecure = 0;

	memset(f, 0, sizeof(*f));
	r = msb_sync_target(arg, f->canon, sizeof(f->canon), &insecure, err);
	if (r == 0)
		r = msb_ref_parse(f->canon, &f->ref, err);
	if (r == 0)
		r = msb_store_dirs(err);
	if (r < 0)
		return r;
	resolving(o);
	r = msb_registry_open(&f->ref, insecure || (o && o->insecure),
			      &f->reg, err);
	if (r == 0)
		r = msb_registry_manifest(f->reg,
					  f->ref.digest[0] ? f->ref.digest :
							     f->ref.tag,
					  &body, &f->manifest_len, mt,
					  sizeof(mt), f->digest,
					  sizeof(f->digest), err);
	if (r == -ENOENT)
		r = err->code = MSB_E_IMAGE_NOT_FOUND;
	if (r == 0)
		r = msb_artifact_manifest_parse(body, f->manifest_len, mt,
						&f->man, err);
	free(body);
	if (r < 0)
		return r;
	if (f->man.kind != kind)
		return msb_fail(err, MSB_E_KIND, "%s is %s %s, not a %s%s",
				f->canon,
				f->man.kind == MSB_KIND_IMAGE ? "an" : "a",
				msb_kind_name(f->man.kind),
				msb_kind_name(kind),
				f->man.kind == MSB_KIND_IMAGE ?
					": 'msb pull' of it stores it as an "
					"image" :
					"");
	/* the config blob: what it is, and the maps of its files */
	if (!msb_blob_have(f->man.config_digest)) {
		r = msb_registry_blob(f->reg, f->man.config_digest,
				      f->man.config_size, NULL, NULL, err);
		if (r < 0)
			return r;
		f->cfg_added = 1;
	}
	msb_blob_path(f->man.config_digest, f->cfg_path, sizeof(f->cfg_path));
	cbody = msb_blob_read(f->man.config_digest, MSB_ARTIFACT_CONFIG_MAX,
			      &clen);
	if (!cbody)
		return msb_fail(err, -EIO, "cannot read the %s config %.19s",
				msb_kind_name(kind), f->man.config_digest);
	r = msb_artifact_parse(cbody, clen, kind, &f->a, err);
	free(cbody);
	if (r < 0)
		return r;
	maps[nmaps++] = &f->a.map;
	if (f->a.snap.ram.size)
		maps[nmaps++] = &f->a.snap.ram;
	if (f->a.snap.state.size)
		maps[nmaps++] = &f->a.snap.state;
	for (size_t i = 0; r == 0 && i < nmaps; i++)
		r = msb_check_layers(&f->man, maps[i], err);
	return r;
}

void msb_sync_pull_name(const struct msb_fetched *f, const msb_sync_opts *o,
			char *name, size_t n)
{
	const char *slash = strrchr(f->ref.repository, '/');

	if (o && o->name && *o->name)
		snprintf(name, n, "%s", o->name);
	else
		snprintf(name, n, "%s", slash ? slash + 1 : f->ref.repository);
}

void msb_sync_pull_end(struct msb_download *d, struct msb_fetched *f,
		       const char *stage, int r)
{
	if (r < 0)
		msb_download_take_back(d);
	if (stage[0])
		msb_rm_rf(stage);
	msb_download_free(d);
	msb_sync_fetched_free(f);
}

void msb_sync_pulled(msb_sync_info *out, const char *name,
		     const struct msb_fetched *f, const struct msb_download *d,
		     const struct msb_disk_map *const *maps, size_t n,
		     const char *dropped)
{
	msb_sync_info_fill(out, name, f->canon, f->digest, maps, n);
	out->transferred = d->fetched;
	out->bytes = d->bytes + f->manifest_len + f->man.config_size;
	out->reused = d->reused;
	snprintf(out->dropped, sizeof(out->dropped), "%s", dropped);
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
static int look_local(sqlite3 *db, const char *name, struct msb_download *p,
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
	msb_chunks_sort_raw(&p->local);
	return 0;
}

static void on_image(void *ctx, const msb_pull_progress *ip)
{
	msb_download_report(ctx, "image", ip);
}

int msb_sync_need_image(struct msb_download *d, const struct msb_artifact *a,
			unsigned max_disks, json_object **layers, char *canon,
			size_t cn, msb_error *err)
{
	json_object *icfg = NULL;
	struct msb_ref ref;
	char pin[900];
	msb_pull_opts po = { .insecure = d->o ? d->o->insecure : 0,
			     .progress = on_image, .ctx = d };
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
	struct msb_fetched f;
	struct msb_download d;
	struct local l = { .lockfd = -1 };
	struct msb_row row = { 0 };
	struct msb_sync_row sync = { 0 };
	struct msb_artifact *a = &f.a;
	const struct msb_disk_map *maps[] = { &a->map };
	json_object *cfg = NULL, *layers = NULL;
	char name[64], stage[PATH_MAX] = "", path[PATH_MAX + 16], icanon[700],
	     dropped[256] = "";
	sqlite3 *db = NULL;
	int r, fd = -1;
	unsigned max_disks;
	int64_t mtns = 0;

	if (out)
		memset(out, 0, sizeof(*out));
	r = msb_sync_fetch(arg, o, MSB_KIND_SANDBOX, &f, err);
	msb_download_init(&d, o, f.reg);
	if (r < 0)
		goto out;

	msb_sync_pull_name(&f, o, name, sizeof(name));
	r = msb_name_valid(name, err);
	if (r == 0)
		r = msb_db_open(NULL, &db, err);
	if (r == 0)
		r = look_local(db, name, &d, &l, err);
	if (r < 0)
		goto out;
	if (l.exists && !l.changed && !(o && o->force) &&
	    !same_repository(l.last.reference, &f.ref)) {
		r = msb_fail(err, MSB_E_EXISTS,
			     "a sandbox named '%s' exists here (synced with "
			     "%s, not %s/%s): pull under another --name, or "
			     "replace it with 'msb pull --force'",
			     name, l.last.reference, f.ref.registry,
			     f.ref.repository);
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
	if (l.exists && !l.changed && !strcmp(l.last.digest, f.digest)) {
		if (out) {
			msb_sync_info_fill(out, name, f.canon, f.digest, maps,
					   1);
			snprintf(out->parent, sizeof(out->parent), "%s",
				 a->parent);
			out->up_to_date = 1;
		}
		goto out;
	}

	/* its configuration, checked as a create checks it */
	r = msb_sync_record_config(a->config, o && o->trust, &cfg, dropped,
				   sizeof(dropped), err);
	if (r < 0)
		goto out;
	max_disks = msb_sync_max_disks(cfg);

	/* the disk, in a staging directory */
	snprintf(path, sizeof(path), ".pull-%s-XXXXXX", name);
	r = msb_sync_stage(stage, sizeof(stage), "sandboxes", path, err);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/upper.ext4", stage);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = msb_fail_errno(err, -errno, "cannot create %s", path);
		goto out;
	}
	msb_download_plan(&d, maps, 1);
	r = msb_download_file(&d, &a->map, fd, err);
	if (r == 0)
		r = msb_sync_need_image(&d, a, max_disks, &layers, icanon,
					sizeof(icanon), err);
	if (r == 0 && mtime_ns(fd, &mtns) < 0)
		r = msb_fail_errno(err, -errno, "cannot stat %s", path);
	if (r < 0)
		goto out;

	/* the record: what msb_sandbox_create() would have made */
	json_object_object_add(cfg, "layers", layers);
	layers = NULL;
	json_object_object_add(cfg, "image_ref", json_object_new_string(icanon));
	json_object_object_add(cfg, "ephemeral", json_object_new_boolean(0));
	json_object_object_add(cfg, "disk_mib",
			       json_object_new_int64((int64_t)(a->map.size >> 20)));
	if (!json_object_object_get_ex(cfg, "kernel", NULL))
		json_object_object_add(cfg, "kernel",
				       json_object_new_string(msb_guest_default()));
	snprintf(row.info.name, sizeof(row.info.name), "%s", name);
	snprintf(row.info.image, sizeof(row.info.image), "%s",
		 a->image_display);
	snprintf(row.info.status, sizeof(row.info.status), "stopped");
	row.info.cpus = a->cpus;
	row.info.memory_mib = a->memory_mib;
	row.info.created_at = msb_wall_s();
	row.config = (char *)json_object_to_json_string_ext(
		cfg, JSON_C_TO_STRING_PLAIN);
	r = msb_sync_row_set(&sync, name, f.canon, f.digest, &a->map, err);
	if (f.ref.digest[0] && !f.ref.tag[0]) {
		/* pulled by digest: pushes go back to the repository's
		 * latest */
		struct msb_ref t = f.ref;

		t.digest[0] = '\0';
		snprintf(t.tag, sizeof(t.tag), "latest");
		msb_ref_format(&t, sync.reference, sizeof(sync.reference));
	}
	sync.disk_mtime_ns = mtns;
	close(fd);
	fd = -1;
	if (r == 0)
		r = commit(db, name, stage, &row, &sync, l.exists, err);
	if (r < 0)
		goto out;
	stage[0] = '\0';
	if (out) {
		msb_sync_pulled(out, name, &f, &d, maps, 1, dropped);
		snprintf(out->parent, sizeof(out->parent), "%s", a->parent);
	}
out:
	if (fd >= 0)
		close(fd);
	if (l.lockfd >= 0)
		close(l.lockfd);
	msb_sync_row_free(&l.last);
	free(sync.map);
	json_object_put(cfg);
	json_object_put(layers);
	msb_sync_pull_end(&d, &f, stage, r);
	if (db)
		msb_db_close(db);
	return r;
}

MSB_API int msb_sandbox_pull(const char *arg, const msb_sync_opts *o,
			     msb_sync_info *out, msb_error *err)
{
	msb_error local = { 0 };

	return sandbox_pull(arg, o, out, err ? err : &local);
}
