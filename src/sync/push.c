/* SPDX-License-Identifier: Apache-2.0 */
/* push.c - msb_sandbox_push(): a sandbox to a registry
 *
 * The disk goes up in chunks through upload.c: only the blobs the
 * registry lacks are sent, the config blob and the manifest last.
 *
 * The disk read is one instant's: a stopped sandbox's own, read under
 * its liveness lock held shared (so no supervisor can start and write it
 * meanwhile); a running sandbox's, a copy its supervisor makes with the
 * guest's filesystems synced and its vCPUs paused (the snapshot
 * machinery, disk only: src/supervisor/snapshot.c); a restored sandbox's
 * qcow2 overlay, flattened with its backing file by qemu-img.
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "image.h"
#include "snapshot.h"
#include "state.h"
#include "sync.h"
#include "util.h"

/* As long as a snapshot may take (src/lib/snapshot.c). */
#define PUSH_COPY_TIMEOUT_MS 300000

/* Keys of the record config a push leaves out: paths of this machine's
 * store, and what only made sense here. */
static const char *const local_keys[] = {
	"layers", "image_ref", "ephemeral", "kernel_cmdline", "upper",
	"disk_mib", "from_snapshot", "restore_env", NULL,
};

void msb_sync_strip_local(json_object *cfg)
{
	for (const char *const *k = local_keys; *k; k++)
		json_object_object_del(cfg, *k);
}

void msb_sync_pushed(msb_sync_info *out, const char *name,
		     const char *reference, const char *digest,
		     const struct msb_upload *u)
{
	const struct msb_disk_map *maps[MSB_SYNC_FILES];

	for (size_t f = 0; f < u->nfiles; f++)
		maps[f] = &u->files[f].map;
	msb_sync_info_fill(out, name, reference, digest, maps, u->nfiles);
	out->transferred = u->sent;
	out->bytes = u->bytes;
}

int msb_sync_push_target(const char *name, const msb_sync_opts *o,
			 const char *last, struct msb_ref *ref, int *insecure,
			 msb_error *err)
{
	char buf[1200];
	int r;

	*insecure = 0;
	if (o && o->ref && strchr(o->ref, '/')) {
		r = msb_sync_target(o->ref, buf, sizeof(buf), insecure, err);
	} else {
		if (last && last[0]) {
			r = msb_sync_target(last, buf, sizeof(buf),
					    insecure, err);
		} else {
			r = msb_sync_target(name, buf, sizeof(buf), insecure,
					    err);
			if (r == -ENOENT)
				return msb_fail(err, -ENOENT,
						"nowhere to push '%s': set a "
						"remote with 'msb remote set "
						"REGISTRY/NAMESPACE', or give "
						"a reference",
						name);
		}
		if (r == 0 && o && o->ref && *o->ref) {
			struct msb_ref t;
			const char *tag = o->ref;

			/* a tag of the default repository (distribution
			 * spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}) */
			if (!isalnum((unsigned char)tag[0]) && tag[0] != '_')
				tag = NULL;
			for (const char *c = tag; c && *c; c++)
				if (!isalnum((unsigned char)*c) &&
				    !strchr("._-", *c))
					tag = NULL;
			if (!tag || strlen(tag) > 127)
				return msb_fail(err, -EINVAL,
						"invalid reference '%s': give "
						"REGISTRY/REPOSITORY[:TAG] or "
						"a TAG",
						o->ref);
			if (msb_ref_parse(buf, &t, err) < 0)
				return -EINVAL;
			t.digest[0] = '\0';
			snprintf(t.tag, sizeof(t.tag), "%s", tag);
			msb_ref_format(&t, buf, sizeof(buf));
		}
	}
	if (r < 0)
		return r;
	r = msb_ref_parse(buf, ref, err);
	if (r == 0 && ref->digest[0])
		r = msb_fail(err, -EINVAL,
			     "push to a tag, not a digest ('%s')", buf);
	if (r == 0 && o && o->insecure)
		*insecure = 1;
	return r;
}

int msb_sync_image_of(sqlite3 *db, json_object *cfg, const char *display,
		      json_object **out, msb_error *err)
{
	json_object *v, *o = json_object_new_object();
	struct msb_image_row row;
	const char *ref = json_object_object_get_ex(cfg, "image_ref", &v) ?
				  json_object_get_string(v) :
				  "default";
	int r;

	*out = o;
	json_object_object_add(o, "reference", json_object_new_string(ref));
	json_object_object_add(o, "display", json_object_new_string(display));
	if (!strcmp(ref, "default"))
		return 0;
	r = msb_image_db_get(db, ref, &row, NULL);
	if (r < 0)
		return msb_fail(err, -ENOENT,
				"the sandbox's image %s is no longer in the "
				"store (removed with msb rmi), so another "
				"machine could not get it: 'msb pull %s' "
				"first",
				display, display);
	json_object_object_add(o, "digest", json_object_new_string(row.digest));
	msb_image_row_free(&row);
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

/* copy_running() - the disk of running sandbox @name into @dir, by its
 * supervisor: the guest syncs its filesystems, is paused while the disk
 * is copied (sparse), and runs on (the snapshot machinery, disk only). */
static int copy_running(const char *name, const char *dir, msb_error *err)
{
	json_object *p = json_object_new_object();
	struct msb_conn c;
	int r;

	json_object_object_add(p, "dir", json_object_new_string(dir));
	json_object_object_add(p, "disk_only", json_object_new_boolean(1));
	r = msb_conn_open(name, &c, err);
	if (r < 0) {
		json_object_put(p);
		return r;
	}
	r = msb_conn_call(&c, "snapshot", p, NULL, PUSH_COPY_TIMEOUT_MS, err);
	msb_conn_close(&c);
	return r;
}

/* disk_source() - open the bytes to push: a stopped sandbox's own disk,
 * else a copy of one instant in a private directory inside the sandbox's
 * (@tmp, removed by the caller): a running sandbox's made by its supervisor, a restored one's
 * qcow2 overlay flattened with its backing file. @mt: the disk file's
 * mtime, 0 for a running sandbox's (it moves on). */
static int disk_source(const char *name, json_object *cfg, int running,
		       char *tmp, size_t tn, char *path, size_t pn, int *fd,
		       int64_t *mt, msb_error *err)
{
	json_object *v;
	const char *overlay = json_object_object_get_ex(cfg, "upper", &v) ?
				      json_object_get_string(v) :
				      NULL;
	char dir[PATH_MAX];
	int r;

	*mt = 0;
	msb_sandbox_dir(name, dir, sizeof(dir));
	if (running || overlay) {
		/* inside the sandbox's own directory: the only one its
		 * confined supervisor may write besides snapshots */
		snprintf(tmp, tn, "%s/.push-XXXXXX", dir);
		if (!mkdtemp(tmp)) {
			r = msb_fail_errno(err, -errno, "cannot create %s", tmp);
			tmp[0] = '\0';
			return r;
		}
		snprintf(path, pn, "%s/upper.ext4", tmp);
	}
	if (running) {
		r = copy_running(name, tmp, err);
		if (r < 0)
			return r;
	} else if (overlay) {
		char src[PATH_MAX * 2], tool[PATH_MAX];
		struct stat st;

		snprintf(src, sizeof(src), "%s/%s", dir, overlay);
		if (stat(src, &st) == 0)
			*mt = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			      st.st_mtim.tv_nsec;
		if (!msb_have_exe("qemu-img", tool, sizeof(tool)))
			return msb_fail(err, -ENOENT,
					"qemu-img not found: install it with "
					"'sudo apt-get install qemu-utils'");
		char *argv[] = { tool, "convert", "-q", "-f", "qcow2", "-O",
				 "raw", src, path, NULL };
		r = msb_run_tool(argv, err);
		if (r < 0)
			return r;
	} else {
		snprintf(path, pn, "%s/upper.ext4", dir);
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return msb_fail_errno(err, -errno, "cannot open %s", path);
	if (!running && !overlay) {
		r = mtime_ns(*fd, mt);
		if (r < 0)
			return msb_fail_errno(err, r, "cannot stat %s", path);
	}
	return 0;
}

static int sandbox_push(const char *name, const msb_sync_opts *o,
			msb_sync_info *out, msb_error *err)
{
	struct msb_upload u;
	struct msb_row row = { 0 };
	struct msb_sync_row last = { 0 }, now = { 0 };
	struct msb_disk_map prev = { 0 };
	struct msb_ref ref;
	json_object *cfg = NULL, *doc = NULL, *img = NULL, *prevj = NULL;
	char path[PATH_MAX], canon[700], remote_digest[80] = "", digest[80];
	sqlite3 *db = NULL;
	struct msb_registry *reg = NULL;
	char tmp[PATH_MAX] = "";
	int r, insecure, lockfd = -1, have_last = 0, held, running, fd = -1;
	int64_t mt = 0;

	msb_upload_init(&u, o);
	if (out)
		memset(out, 0, sizeof(*out));
	r = msb_name_valid(name, err);
	if (r == 0)
		r = msb_db_open(NULL, &db, err);
	if (r < 0)
		goto out;
	r = msb_db_get(db, name, &row, err);
	if (r == 0)
		r = msb_db_reconcile(db, &row, err);
	if (r < 0)
		goto out;
	/* The disk must not change while it is read: a stopped sandbox's
	 * is read under the lock a supervisor takes (shared), so none can
	 * start meanwhile; a running one's is copied at one instant. */
	running = !strcmp(row.info.status, "running");
	if (msb_status_is_live(row.info.status) && !running) {
		r = msb_fail(err, MSB_E_BUSY,
			     "sandbox '%s' is %s: push it once it is running "
			     "or stopped",
			     name, row.info.status);
		goto out;
	}
	if (!running) {
		msb_lock_path(name, path, sizeof(path));
		lockfd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
		if (lockfd < 0) {
			r = msb_fail_errno(err, -errno, "cannot open %s", path);
			goto out;
		}
		held = flock(lockfd, LOCK_SH | LOCK_NB) == 0;
		/* a supervisor that recorded the stop may still be exiting */
		for (int i = 0; !held && i < 1000; i++) {
			usleep(10000);
			held = flock(lockfd, LOCK_SH | LOCK_NB) == 0;
		}
		if (!held) {
			r = msb_fail(err, MSB_E_BUSY,
				     "sandbox '%s' is being started: push it "
				     "once it runs, or stop it first ('msb "
				     "stop %s')",
				     name, name);
			goto out;
		}
	}
	r = msb_sync_db_get(db, name, &last, err);
	if (r == 0) {
		have_last = 1;
		prevj = json_tokener_parse(last.map);
		if (msb_disk_map_parse(prevj, &prev, NULL) == 0) {
			msb_chunks_sort_raw(&prev);
			u.prev = &prev;
		}
	} else if (r != -ENOENT) {
		goto out;
	}
	r = msb_sync_push_target(name, o, last.reference, &ref, &insecure,
				 err);
	if (r < 0)
		goto out;
	msb_ref_format(&ref, canon, sizeof(canon));
	cfg = json_tokener_parse(row.config);
	if (!cfg) {
		r = msb_fail(err, -EPROTO, "the record of '%s' is damaged",
			     name);
		goto out;
	}
	r = msb_sync_image_of(db, cfg, row.info.image, &img, err);
	if (r < 0)
		goto out;

	msb_upload_report(&u, "resolving");
	r = msb_registry_open(&ref, insecure, &reg, err);
	if (r < 0)
		goto out;
	u.reg = reg;
	msb_registry_want_push(reg);
	r = msb_tag_digest(reg, ref.tag, remote_digest, sizeof(remote_digest),
			   err);
	if (r < 0)
		goto out;
	if (r == 1 && (!have_last || strcmp(remote_digest, last.digest)) &&
	    !(o && o->force)) {
		r = msb_fail(err, MSB_E_CONFLICT,
			     "%s holds %.19s, which '%s' was not %s from: "
			     "another push replaced it (pull it with 'msb "
			     "pull --force', or replace it with 'msb push "
			     "--force')",
			     canon, remote_digest, name,
			     have_last ? "last pushed or pulled" : "pulled");
		goto out;
	}
	/* the tag still names our last push: its blobs are all there */
	u.trusted = r == 1 && have_last && !strcmp(remote_digest, last.digest) &&
		    !strcmp(last.reference, canon);
	if (have_last) {
		struct msb_ref lr;

		if (msb_ref_parse(last.reference, &lr, NULL) == 0 &&
		    !strcmp(lr.registry, ref.registry) &&
		    strcmp(lr.repository, ref.repository))
			snprintf(u.from, sizeof(u.from), "%s", lr.repository);
	}

	r = disk_source(name, cfg, running, tmp, sizeof(tmp), path,
			sizeof(path), &fd, &mt, err);
	if (r < 0)
		goto out;
	/* the tag holds the last sync and the disk is as it was then */
	if (u.trusted && mt && mt == last.disk_mtime_ns) {
		if (out) {
			const struct msb_disk_map *maps[] = { &prev };

			msb_sync_info_fill(out, name, canon, last.digest, maps,
					   1);
			out->up_to_date = 1;
		}
		goto out;
	}
	r = msb_upload_scan(&u, fd, msb_sync_chunk_size(), err);
	fd = -1;
	if (r == 0)
		r = msb_upload_chunks(&u, err);
	if (r < 0)
		goto out;

	/* the config blob: what the sandbox is, never a secret's value */
	msb_sync_strip_local(cfg);
	doc = json_object_new_object();
	json_object_object_add(doc, "format", json_object_new_int(1));
	json_object_object_add(doc, "name", json_object_new_string(name));
	json_object_object_add(doc, "msb_version",
			       json_object_new_string(MSB_VERSION));
	json_object_object_add(doc, "created",
			       json_object_new_int64(msb_wall_s()));
	if (have_last)
		json_object_object_add(doc, "parent",
				       json_object_new_string(last.digest));
	json_object_object_add(doc, "image", img);
	img = NULL;
	json_object_object_add(doc, "cpus",
			       json_object_new_int((int)row.info.cpus));
	json_object_object_add(doc, "memory_mib",
			       json_object_new_int64((int64_t)row.info.memory_mib));
	json_object_object_add(doc, "config", cfg);
	cfg = NULL;
	json_object_object_add(doc, "disk", msb_disk_map_json(&u.files[0].map));
	r = msb_upload_artifact(&u, MSB_KIND_SANDBOX, doc, name, ref.tag,
				digest, sizeof(digest), err);
	if (r < 0)
		goto out;

	r = msb_sync_row_set(&now, name, canon, digest, &u.files[0].map, err);
	now.disk_mtime_ns = mt;
	if (r == 0)
		r = msb_sync_db_put(db, &now, err);
	if (r < 0)
		goto out;
	if (out) {
		msb_sync_pushed(out, name, canon, digest, &u);
		if (have_last)
			snprintf(out->parent, sizeof(out->parent), "%s",
				 last.digest);
		out->up_to_date = have_last && !strcmp(digest, last.digest);
	}
out:
	free(now.map);
	json_object_put(doc);
	json_object_put(cfg);
	json_object_put(img);
	json_object_put(prevj);
	msb_disk_map_free(&prev);
	msb_upload_free(&u);
	msb_sync_row_free(&last);
	msb_row_free(&row);
	msb_registry_close(reg);
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		msb_rm_rf(tmp);
	if (lockfd >= 0)
		close(lockfd);
	if (db)
		msb_db_close(db);
	return r;
}

MSB_API int msb_sandbox_push(const char *name, const msb_sync_opts *o,
			     msb_sync_info *out, msb_error *err)
{
	msb_error local = { 0 };

	return sandbox_push(name, o, out, err ? err : &local);
}
