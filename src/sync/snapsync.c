/* SPDX-License-Identifier: Apache-2.0 */
/* snapsync.c - msb_snapshot_push(), msb_snapshot_pull(): snapshots to and
 * from a registry, so a sandbox resumes on another machine with its
 * processes running
 *
 * A snapshot artifact is a sandbox artifact (docs/sync.md) with its own
 * artifactType and config mediaType, whose config blob also says what the
 * snapshot is (docs/snapshots.md's meta.json: kind, reason, the QEMU that
 * wrote its state, its source, when it was taken) and maps two more
 * files, the guest's RAM and its device state, chunked as the disk is.
 * RAM pages the guest never touched are holes in the snapshot's file and
 * are stored nowhere; only the chunks the registry lacks go up, so the
 * disk's chunks already pushed with its sandbox are not sent again.
 *
 * The config blob holds nothing that moves between two pushes of the same
 * snapshot (its time is the snapshot's), so the same snapshot gives the
 * same manifest: a second push to the same tag is "up to date".
 *
 * A pull takes the chunks that a sandbox here named as the snapshot's
 * source holds (its disk is mostly theirs), downloads the rest, assembles
 * the files in a hidden staging directory under snapshots/ (never listed,
 * never restored), pulls the image pinned to its digest, writes meta.json
 * with a fresh integrity record (the sizes and change times of the files
 * made here) and renames the directory into place, as msb_snapshot_create() does: a failed pull leaves no
 * snapshot and no blob. A full restore then checks, as always, that this
 * host's QEMU is the one that wrote the state.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "jsonx.h"
#include "snapshot.h"
#include "state.h"
#include "sync.h"
#include "util.h"

/* The files of a snapshot, in the order of the artifact's maps. */
static const char *const snap_files[] = { "upper.ext4", "ram", "state" };

/* snapshot_doc() - the config blob of snapshot @name (its meta.json
 * @meta), whose files @u has scanned. */
static json_object *snapshot_doc(const char *name, json_object *meta,
				 json_object *img, struct msb_upload *u)
{
	json_object *doc = json_object_new_object(), *s, *cfg, *v;

	json_object_object_add(doc, "format", json_object_new_int(1));
	json_object_object_add(doc, "name", json_object_new_string(name));
	json_object_object_add(doc, "msb_version",
			       json_object_new_string(msb_jstr(meta, "msb_version", "")));
	json_object_object_add(doc, "created",
			       json_object_new_int64(msb_jint(meta, "created_at", 0)));
	json_object_object_add(doc, "image", json_object_get(img));
	json_object_object_add(doc, "cpus",
			       json_object_new_int((int)msb_jint(meta, "cpus", 0)));
	json_object_object_add(doc, "memory_mib",
			       json_object_new_int64(msb_jint(meta, "memory_mib", 0)));
	cfg = NULL;
	if (!json_object_object_get_ex(meta, "config", &v) ||
	    json_object_deep_copy(v, &cfg, NULL) < 0 || !cfg)
		cfg = json_object_new_object();
	msb_sync_strip_local(cfg);
	json_object_object_add(doc, "config", cfg);
	json_object_object_add(doc, "disk", msb_disk_map_json(&u->files[0].map));
	s = json_object_new_object();
	json_object_object_add(s, "kind",
			       json_object_new_string(msb_jstr(meta, "kind", "")));
	if (*msb_jstr(meta, "reason", ""))
		json_object_object_add(s, "reason",
				       json_object_new_string(msb_jstr(meta, "reason", "")));
	if (*msb_jstr(meta, "engine", ""))
		json_object_object_add(s, "engine",
				       json_object_new_string(msb_jstr(meta, "engine", "")));
	if (*msb_jstr(meta, "agent", ""))
		json_object_object_add(s, "agent",
				       json_object_new_string(msb_jstr(meta, "agent", "")));
	json_object_object_add(s, "source",
			       json_object_new_string(msb_jstr(meta, "source", "")));
	json_object_object_add(s, "created_at",
			       json_object_new_int64(msb_jint(meta, "created_at", 0)));
	json_object_object_add(s, "next_stream",
			       json_object_new_int64(msb_jint(meta, "next_stream", 0)));
	if (u->nfiles == 3) {
		json_object_object_add(s, "ram",
				       msb_disk_map_json(&u->files[1].map));
		json_object_object_add(s, "state",
				       msb_disk_map_json(&u->files[2].map));
	}
	json_object_object_add(doc, "snapshot", s);
	return doc;
}

static int snapshot_push(const char *snap, const msb_sync_opts *o,
			 msb_sync_info *out, msb_error *err)
{
	struct msb_upload u;
	struct msb_sync_row last = { 0 }, src = { 0 }, now = { 0 };
	struct msb_registry *reg = NULL;
	struct msb_ref ref;
	json_object *meta = NULL, *img = NULL, *doc = NULL, *cfg;
	char dir[PATH_MAX], path[PATH_MAX + 32], canon[700], held[80] = "",
	     digest[80];
	sqlite3 *db = NULL;
	int r, insecure, have_last = 0, full;

	msb_upload_init(&u, o);
	if (out)
		memset(out, 0, sizeof(*out));
	/* every file checked against its record: a damaged snapshot is
	 * not sent anywhere */
	r = msb_snapshot_load(snap, dir, sizeof(dir), &meta, 1, err);
	if (r == 0)
		r = msb_db_open(NULL, &db, err);
	if (r < 0)
		goto out;
	full = !strcmp(msb_jstr(meta, "kind", ""), "full");
	r = msb_snap_sync_get(db, snap, &last, err);
	if (r == 0)
		have_last = 1;
	else if (r != -ENOENT)
		goto out;
	r = msb_sync_push_target(snap, o, last.reference, &ref, &insecure,
				 err);
	if (r < 0)
		goto out;
	msb_ref_format(&ref, canon, sizeof(canon));
	if (!json_object_object_get_ex(meta, "config", &cfg)) {
		r = msb_fail(err, MSB_E_DAMAGED, "snapshot '%s' has no config",
			     snap);
		goto out;
	}
	r = msb_sync_image_of(db, cfg, msb_jstr(meta, "image", ""), &img, err);
	if (r < 0)
		goto out;

	msb_upload_report(&u, "resolving");
	r = msb_registry_open(&ref, insecure, &reg, err);
	if (r < 0)
		goto out;
	u.reg = reg;
	msb_registry_want_push(reg);
	r = msb_tag_digest(reg, ref.tag, held, sizeof(held), err);
	if (r < 0)
		goto out;
	if (r == 1 && have_last && !strcmp(held, last.digest) &&
	    !strcmp(last.reference, canon)) {
		/* a snapshot never changes: that push is this one */
		if (out) {
			msb_sync_info_fill(out, snap, canon, held, NULL, 0);
			out->up_to_date = 1;
		}
		goto out;
	}
	if (r == 1 && !(o && o->force)) {
		r = msb_fail(err, MSB_E_CONFLICT,
			     "%s holds %.19s, which is not snapshot '%s' as "
			     "it was pushed or pulled here: push it to another "
			     "tag, or replace it with 'msb push --force'",
			     canon, held, snap);
		goto out;
	}
	/* its disk's chunks are likely in its sandbox's repository */
	if (msb_sync_db_get(db, msb_jstr(meta, "source", ""), &src, NULL) == 0) {
		struct msb_ref sr;

		if (msb_ref_parse(src.reference, &sr, NULL) == 0 &&
		    !strcmp(sr.registry, ref.registry) &&
		    strcmp(sr.repository, ref.repository))
			snprintf(u.from, sizeof(u.from), "%s", sr.repository);
	}
	for (size_t f = 0; f < (full ? 3u : 1u); f++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, snap_files[f]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = msb_fail_errno(err, -errno, "cannot read %s", path);
			goto out;
		}
		r = msb_upload_scan(&u, fd, msb_sync_chunk_size(), err);
		if (r < 0)
			goto out;
	}
	r = msb_upload_chunks(&u, err);
	if (r < 0)
		goto out;
	doc = snapshot_doc(snap, meta, img, &u);
	r = msb_upload_artifact(&u, MSB_KIND_SNAPSHOT, doc, snap, ref.tag,
				digest, sizeof(digest), err);
	if (r < 0)
		goto out;
	r = msb_sync_row_set(&now, snap, canon, digest, NULL, err);
	if (r == 0)
		r = msb_snap_sync_put(db, &now, err);
	if (r < 0)
		goto out;
	if (out) {
		msb_sync_pushed(out, snap, canon, digest, &u);
		out->up_to_date = !strcmp(held, digest);
	}
out:
	json_object_put(doc);
	json_object_put(img);
	json_object_put(meta);
	msb_upload_free(&u);
	msb_sync_row_free(&last);
	msb_sync_row_free(&src);
	msb_registry_close(reg);
	if (db)
		msb_db_close(db);
	return r;
}

MSB_API int msb_snapshot_push(const char *snap, const msb_sync_opts *o,
			      msb_sync_info *out, msb_error *err)
{
	msb_error local = { 0 };

	return snapshot_push(snap, o, out, err ? err : &local);
}

/* local_copy() - the disk of sandbox @source here, if there is one, as
 * the copy a pull takes chunks from instead of downloading them (each
 * hashed again as it is read, so a disk written meanwhile only costs a
 * download): a snapshot's disk is mostly its sandbox's, which may have
 * been pulled here before. */
static void local_copy(sqlite3 *db, const char *source, uint32_t chunk,
		       struct msb_download *d)
{
	struct msb_row row;
	struct msb_sync_row last = { 0 };
	json_object *cfg, *j;
	char path[PATH_MAX + 16];
	struct stat st;
	int fd, overlay;

	if (!source[0] || msb_db_get(db, source, &row, NULL) < 0)
		return;
	cfg = json_tokener_parse(row.config);
	overlay = cfg && json_object_object_get_ex(cfg, "upper", NULL);
	json_object_put(cfg);
	msb_row_free(&row);
	if (overlay) /* a restored sandbox's qcow2 overlay: not read here */
		return;
	msb_sandbox_dir(source, path, sizeof(path));
	strncat(path, "/upper.ext4", sizeof(path) - strlen(path) - 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	/* its map as last synced when the disk is as it was then, else
	 * what it holds now */
	if (msb_sync_db_get(db, source, &last, NULL) == 0 &&
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec ==
		    last.disk_mtime_ns &&
	    (j = json_tokener_parse(last.map))) {
		if (msb_disk_map_parse(j, &d->local, NULL) < 0)
			msb_disk_map_free(&d->local);
		json_object_put(j);
	}
	if (!d->local.n && msb_disk_scan(fd, chunk, &d->local, NULL, NULL,
					 NULL) < 0) {
		msb_sync_row_free(&last);
		close(fd);
		return;
	}
	msb_sync_row_free(&last);
	msb_chunks_sort_raw(&d->local);
	d->local_fd = fd;
}

/* meta_of() - the meta.json of a pulled snapshot @name: what the artifact
 * @a says it is, and the record config @cfg it restores with. */
static json_object *meta_of(const char *name, const struct msb_artifact *a,
			    json_object *cfg, const char *from)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "format", json_object_new_int(1));
	json_object_object_add(m, "name", json_object_new_string(name));
	json_object_object_add(m, "source",
			       json_object_new_string(a->snap.source));
	json_object_object_add(m, "created_at",
			       json_object_new_int64(a->snap.created_at));
	json_object_object_add(m, "image",
			       json_object_new_string(a->image_display));
	json_object_object_add(m, "cpus", json_object_new_int((int)a->cpus));
	json_object_object_add(m, "memory_mib",
			       json_object_new_int64((int64_t)a->memory_mib));
	json_object_object_add(m, "msb_version",
			       json_object_new_string(MSB_VERSION));
	json_object_object_add(m, "kind", json_object_new_string(a->snap.kind));
	if (a->snap.reason[0])
		json_object_object_add(m, "reason",
				       json_object_new_string(a->snap.reason));
	json_object_object_add(m, "next_stream",
			       json_object_new_int64(a->snap.next_stream));
	if (a->snap.engine[0])
		json_object_object_add(m, "engine",
				       json_object_new_string(a->snap.engine));
	if (a->snap.agent[0])
		json_object_object_add(m, "agent",
				       json_object_new_string(a->snap.agent));
	json_object_object_add(m, "pulled_from", json_object_new_string(from));
	json_object_object_add(m, "config", json_object_get(cfg));
	return m;
}

static int snapshot_pull(const char *arg, const msb_sync_opts *o,
			 msb_sync_info *out, msb_error *err)
{
	struct msb_fetched f;
	struct msb_download d;
	struct msb_sync_row last = { 0 }, now = { 0 };
	struct msb_artifact *a = &f.a;
	const struct msb_disk_map *maps[MSB_SYNC_FILES];
	json_object *cfg = NULL, *layers = NULL, *meta = NULL, *users;
	char name[64], dir[PATH_MAX], stage[PATH_MAX] = "", old[PATH_MAX] = "",
	     path[PATH_MAX + 32], icanon[700], from[800], dropped[256] = "";
	sqlite3 *db = NULL;
	size_t nmaps = 1;
	unsigned max_disks;
	int r, exists;

	if (out)
		memset(out, 0, sizeof(*out));
	r = msb_sync_fetch(arg, o, MSB_KIND_SNAPSHOT, &f, err);
	msb_download_init(&d, o, f.reg);
	if (r < 0)
		goto out;
	maps[0] = &a->map;
	if (!strcmp(a->snap.kind, "full")) {
		maps[nmaps++] = &a->snap.ram;
		maps[nmaps++] = &a->snap.state;
	}

	msb_sync_pull_name(&f, o, name, sizeof(name));
	r = msb_name_valid(name, err);
	if (r == 0)
		r = msb_db_open(NULL, &db, err);
	if (r < 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s/snapshots/%s", msb_home(), name);
	exists = access(dir, F_OK) == 0;
	if (exists && msb_snap_sync_get(db, name, &last, NULL) == 0 &&
	    !strcmp(last.digest, f.digest)) {
		if (out) {
			msb_sync_info_fill(out, name, f.canon, f.digest, maps,
					   nmaps);
			out->up_to_date = 1;
		}
		goto out;
	}
	if (exists && !(o && o->force)) {
		r = msb_fail(err, MSB_E_EXISTS,
			     "a snapshot named '%s' exists here (not %s as "
			     "pulled here): pull under another --name, or "
			     "replace it with 'msb pull --force'",
			     name, f.canon);
		goto out;
	}
	users = exists ? msb_snapshot_users(name) : NULL;
	if (users && json_object_array_length(users)) {
		char list[512];

		r = msb_fail(err, MSB_E_BUSY,
			     "snapshot '%s' is the base of %s, which read its "
			     "files: remove %s first, or pull under another "
			     "--name", name,
			     msb_jnames(users, list, sizeof(list)),
			     json_object_array_length(users) > 1 ? "them" :
								   "it");
		json_object_put(users);
		goto out;
	}
	json_object_put(users);

	/* its configuration, checked as a create checks it */
	r = msb_sync_record_config(a->config, o && o->trust, &cfg, dropped,
				   sizeof(dropped), err);
	if (r < 0)
		goto out;
	if (nmaps > 1 && json_object_object_get_ex(cfg, "volumes", NULL)) {
		/* a full snapshot is never taken of a sandbox with volumes
		 * (docs/snapshots.md): a device state would not match */
		r = msb_fail(err, -EPROTO,
			     "the snapshot holds a running machine and names "
			     "volumes, which no snapshot of msb's does: "
			     "refused");
		goto out;
	}
	max_disks = msb_sync_max_disks(cfg);

	/* the files, in a staging directory no listing shows */
	snprintf(path, sizeof(path), ".%s.pull-XXXXXX", name);
	r = msb_sync_stage(stage, sizeof(stage), "snapshots", path, err);
	if (r < 0)
		goto out;
	local_copy(db, a->snap.source, a->map.chunk, &d);
	msb_download_plan(&d, maps, nmaps);
	for (size_t i = 0; i < nmaps; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", stage, snap_files[i]);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = msb_fail_errno(err, -errno, "cannot create %s",
					   path);
			goto out;
		}
		r = msb_download_file(&d, maps[i], fd, err);
		close(fd);
		if (r < 0)
			goto out;
	}
	r = msb_sync_need_image(&d, a, max_disks, &layers, icanon,
				sizeof(icanon), err);
	if (r < 0)
		goto out;

	/* what msb_snapshot_create() would have recorded here */
	json_object_object_add(cfg, "layers", layers);
	layers = NULL;
	json_object_object_add(cfg, "image_ref", json_object_new_string(icanon));
	json_object_object_add(cfg, "disk_mib",
			       json_object_new_int64((int64_t)(a->map.size >> 20)));
	if (!json_object_object_get_ex(cfg, "kernel", NULL))
		json_object_object_add(cfg, "kernel",
				       json_object_new_string(msb_guest_default()));
	snprintf(from, sizeof(from), "%s@%s", f.canon, f.digest);
	meta = meta_of(name, a, cfg, from);
	if (exists) {
		snprintf(old, sizeof(old), "%s/snapshots/.%s.rm-%d", msb_home(),
			 name, (int)getpid());
		if (rename(dir, old) < 0) {
			r = msb_fail_errno(err, -errno, "cannot replace %s",
					   dir);
			old[0] = '\0';
			goto out;
		}
	}
	r = msb_snapshot_seal(stage, dir, meta, err);
	if (r < 0) {
		/* the old one back; kept aside if even that fails */
		if (old[0])
			rename(old, dir);
		old[0] = '\0';
		goto out;
	}
	stage[0] = '\0';
	r = msb_sync_row_set(&now, name, f.canon, f.digest, NULL, err);
	if (r == 0)
		r = msb_snap_sync_put(db, &now, err);
	if (r < 0)
		goto out;
	if (out)
		msb_sync_pulled(out, name, &f, &d, maps, nmaps, dropped);
out:
	if (old[0])
		msb_rm_rf(old);
	json_object_put(meta);
	json_object_put(cfg);
	json_object_put(layers);
	msb_sync_row_free(&last);
	msb_sync_pull_end(&d, &f, stage, r);
	if (db)
		msb_db_close(db);
	return r;
}

MSB_API int msb_snapshot_pull(const char *ref, const msb_sync_opts *o,
			      msb_sync_info *out, msb_error *err)
{
	msb_error local = { 0 };

	return snapshot_pull(ref, o, out, err ? err : &local);
}
