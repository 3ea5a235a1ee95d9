/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot.c - snapshots of sandboxes: take, restore, list, remove
 * (docs/snapshots.md)
 *
 * A snapshot is a directory <home>/snapshots/NAME (renamed by moving it
 * and rewriting the name in its meta.json, never while it is used):
 *   meta.json        what it is (kind, source, image, config, sizes, the
 *                    integrity record of every file below)
 *   meta.json.sha256 the hash of meta.json
 *   state            the VM's device state (full snapshots)
 *   ram              the guest's RAM, sparse (full snapshots)
 *   upper.ext4       the sandbox's writable disk, sparse
 * It is made in a hidden directory beside, and appears by rename() once
 * every file is written and synced, so a failed or interrupted snapshot
 * leaves nothing that looks like one. Its files never change afterwards:
 * restored sandboxes map the RAM file private (copy-on-write) and put a
 * qcow2 overlay over the disk.
 *
 * Integrity: a restore first checks every file against meta.json: the
 * size and the change time (ctime, which only the kernel sets: any write,
 * truncate or chmod moves it) of each, and the SHA-256 of the device state
 * and of meta.json. Hashing the RAM and the disk at every restore would
 * cost more than the restore itself (docs/snapshots.md has the numbers).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "client.h"
#include "engine.h"
#include "jsonx.h"
#include "project.h"
#include "snapshot.h"
#include "state.h"
#include "sync.h"
#include "util.h"

#define SNAP_FORMAT 1
#define SNAPSHOT_TIMEOUT_MS 300000

static const char *const snap_files[] = { "state", "ram", "upper.ext4" };

static int snap_dir(const char *name, char *buf, size_t n)
{
	return snprintf(buf, n, "%s/snapshots/%s", msb_home(), name) >= (int)n ?
		       -ENAMETOOLONG :
		       0;
}

static int sha256_file(const char *path, char hex[65], msb_error *err)
{
	unsigned char md[32];
	unsigned char *buf = malloc(1 << 20);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	ssize_t n;

	if (fd < 0 || !buf || !ctx ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = msb_fail_errno(err, fd < 0 ? -errno : -ENOMEM,
				   "cannot read %s", path);
		goto out;
	}
	while ((n = read(fd, buf, 1 << 20)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	if (n < 0) {
		r = msb_fail_errno(err, -errno, "cannot read %s", path);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}

static int64_t ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* Sync every file of @dir and the directory itself. */
static int sync_dir(const char *dir, msb_error *err)
{
	char path[PATH_MAX + 32];
	int fd;

	for (size_t i = 0; i < sizeof(snap_files) / sizeof(snap_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, snap_files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fsync(fd) < 0) {
			int e = errno;

			close(fd);
			return msb_fail_errno(err, -e, "writing %s", path);
		}
		close(fd);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* The integrity record of the files in @dir, into meta's "files". */
static int record_files(const char *dir, json_object *meta, msb_error *err)
{
	json_object *files = json_object_new_object();
	char path[PATH_MAX + 32], hex[65];
	struct stat st;
	int r;

	json_object_object_add(meta, "files", files);
	for (size_t i = 0; i < sizeof(snap_files) / sizeof(snap_files[0]); i++) {
		json_object *f;

		snprintf(path, sizeof(path), "%s/%s", dir, snap_files[i]);
		if (stat(path, &st) < 0)
			continue;
		f = json_object_new_object();
		json_object_object_add(f, "size",
				       json_object_new_int64(st.st_size));
		json_object_object_add(f, "stored",
				       json_object_new_int64(st.st_blocks * 512));
		json_object_object_add(f, "ctime_ns",
				       json_object_new_int64(ctime_ns(&st)));
		if (!strcmp(snap_files[i], "state")) {
			r = sha256_file(path, hex, err);
			if (r < 0)
				return r;
			json_object_object_add(f, "sha256",
					       json_object_new_string(hex));
		}
		json_object_object_add(files, snap_files[i], f);
	}
	return 0;
}

static int write_meta(const char *dir, json_object *meta, msb_error *err)
{
	char path[PATH_MAX + 32], hex[65];
	const char *text = json_object_to_json_string_ext(
		meta, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	int r;

	snprintf(path, sizeof(path), "%s/meta.json", dir);
	r = msb_write_file(path, text, strlen(text), 0600);
	if (r < 0)
		return msb_fail_errno(err, r, "cannot write %s", path);
	r = sha256_file(path, hex, err);
	if (r < 0)
		return r;
	hex[64] = '\n';
	snprintf(path, sizeof(path), "%s/meta.json.sha256", dir);
	r = msb_write_file(path, hex, 65, 0600);
	if (r < 0)
		return msb_fail_errno(err, r, "cannot write %s", path);
	return 0;
}

/* ram_for_vmms() - as root, a restored VM's VMM runs as a uid of its
 * own, in the VMMs' group: the RAM file it maps (a saved or a pulled
 * one) is that group's (docs/security.md). Before the integrity record,
 * which holds the change time. */
static int ram_for_vmms(const char *dir, msb_error *err)
{
	char ram[PATH_MAX + 16];

	if (geteuid() != 0)
		return 0;
	snprintf(ram, sizeof(ram), "%s/ram", dir);
	if (access(ram, F_OK) < 0)
		return 0;
	if (chown(ram, (uid_t)-1, MSB_VMM_GID) < 0 || chmod(ram, 0660) < 0)
		return msb_fail_errno(err, -errno, "%s", ram);
	return 0;
}

int msb_snapshot_seal(const char *tmp, const char *dir, json_object *meta,
		      msb_error *err)
{
	char parent[PATH_MAX + 16];
	int r = sync_dir(tmp, err), dfd;

	if (r == 0)
		r = ram_for_vmms(tmp, err);
	if (r == 0)
		r = record_files(tmp, meta, err);
	if (r == 0)
		r = write_meta(tmp, meta, err);
	if (r == 0 && rename(tmp, dir) < 0)
		r = msb_fail_errno(err, -errno, "cannot move %s to %s", tmp,
				   dir);
	if (r < 0)
		return r;
	snprintf(parent, sizeof(parent), "%s/snapshots", msb_home());
	dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int msb_snapshot_load(const char *name, char *dir, size_t n,
		      json_object **meta, int verify, msb_error *err)
{
	char path[PATH_MAX + 32], hex[65], *want;
	json_object *m, *files, *v;
	int r = msb_name_valid(name, err);

	if (r < 0)
		return r;
	if (snap_dir(name, dir, n) < 0)
		return msb_fail(err, -ENAMETOOLONG, "MSB_HOME is too long");
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	if (access(dir, F_OK) < 0)
		return msb_fail(err, -ENOENT,
				"no snapshot named '%s' (see 'msb snapshot "
				"ls')",
				name);
	if (verify) {
		r = sha256_file(path, hex, err);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), "%s/meta.json.sha256", dir);
		want = msb_read_file(path, NULL);
		if (!want || strncmp(want, hex, 64)) {
			free(want);
			return msb_fail(err, MSB_E_DAMAGED,
					"snapshot '%s' is damaged: its meta.json "
					"does not match its checksum; remove it "
					"with 'msb snapshot rm %s'",
					name, name);
		}
		free(want);
		snprintf(path, sizeof(path), "%s/meta.json", dir);
	}
	{
		char *text = msb_read_file(path, NULL);

		m = text ? json_tokener_parse(text) : NULL;
		free(text);
	}
	if (!m || !json_object_object_get_ex(m, "format", &v) ||
	    json_object_get_int(v) != SNAP_FORMAT) {
		json_object_put(m);
		return msb_fail(err, MSB_E_DAMAGED,
				"snapshot '%s' has no meta.json this msb can "
				"read (format %d expected)",
				name, SNAP_FORMAT);
	}
	if (verify && json_object_object_get_ex(m, "files", &files)) {
		json_object_object_foreach(files, fname, f)
		{
			struct stat st;
			json_object *sz, *ct, *sha;

			if (strchr(fname, '/'))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, fname);
			json_object_object_get_ex(f, "size", &sz);
			json_object_object_get_ex(f, "ctime_ns", &ct);
			if (stat(path, &st) < 0 || !sz ||
			    st.st_size != json_object_get_int64(sz)) {
				r = msb_fail(err, MSB_E_DAMAGED,
					     "snapshot '%s' is damaged: %s is "
					     "missing or not its recorded size "
					     "(truncated?); remove it with 'msb "
					     "snapshot rm %s'",
					     name, fname, name);
				break;
			}
			if (!ct || ctime_ns(&st) != json_object_get_int64(ct)) {
				r = msb_fail(err, MSB_E_DAMAGED,
					     "snapshot '%s' is damaged: %s was "
					     "changed after the snapshot was "
					     "taken; remove it with 'msb snapshot "
					     "rm %s'",
					     name, fname, name);
				break;
			}
			if (json_object_object_get_ex(f, "sha256", &sha)) {
				r = sha256_file(path, hex, err);
				if (r == 0 &&
				    strcmp(hex, json_object_get_string(sha)))
					r = msb_fail(err, MSB_E_DAMAGED,
						     "snapshot '%s' is damaged: "
						     "%s does not match its "
						     "checksum",
						     name, fname);
				if (r < 0)
					break;
			}
		}
		if (r < 0) {
			json_object_put(m);
			return r;
		}
	}
	*meta = m;
	return 0;
}

json_object *msb_snapshot_users(const char *name)
{
	json_object *a = json_object_new_array();
	struct msb_row *rows = NULL;
	size_t n = 0;
	sqlite3 *db;

	if (msb_db_open(NULL, &db, NULL) < 0)
		return a;
	if (msb_db_list(db, &rows, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			json_object *c = json_tokener_parse(rows[i].config);

			if (c && !strcmp(msb_jstr(c, "from_snapshot", ""), name))
				json_object_array_add(
					a, json_object_new_string(
						   rows[i].info.name));
			json_object_put(c);
			msb_row_free(&rows[i]);
		}
		free(rows);
	}
	msb_db_close(db);
	return a;
}

static void fill_info(const char *dir, json_object *m, msb_snapshot_info *i)
{
	json_object *files, *f, *u;
	DIR *d;
	struct dirent *e;

	memset(i, 0, sizeof(*i));
	snprintf(i->name, sizeof(i->name), "%s", msb_jstr(m, "name", ""));
	snprintf(i->source, sizeof(i->source), "%s", msb_jstr(m, "source", ""));
	snprintf(i->kind, sizeof(i->kind), "%s", msb_jstr(m, "kind", ""));
	snprintf(i->reason, sizeof(i->reason), "%s", msb_jstr(m, "reason", ""));
	snprintf(i->image, sizeof(i->image), "%s", msb_jstr(m, "image", ""));
	i->cpus = (unsigned)msb_jint(m, "cpus", 0);
	i->memory_mib = (uint64_t)msb_jint(m, "memory_mib", 0);
	i->created_at = msb_jint(m, "created_at", 0);
	if (json_object_object_get_ex(m, "files", &files)) {
		if (json_object_object_get_ex(files, "ram", &f))
			i->ram_bytes = (uint64_t)msb_jint(f, "stored", 0);
		if (json_object_object_get_ex(files, "upper.ext4", &f))
			i->disk_bytes = (uint64_t)msb_jint(f, "stored", 0);
	}
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char p[PATH_MAX + 300];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.' && stat(p, &st) == 0)
			i->size_bytes += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	u = msb_snapshot_users(i->name);
	i->users = (unsigned)json_object_array_length(u);
	json_object_put(u);
}

/* flatten_upper() - @dir/upper.qcow2 (with its backing file) into one
 * raw @dir/upper.ext4; the overlay goes. */
static int flatten_upper(const char *dir, msb_error *err)
{
	char src[PATH_MAX + 32], dst[PATH_MAX + 32], tool[PATH_MAX];
	int r;

	snprintf(src, sizeof(src), "%s/upper.qcow2", dir);
	snprintf(dst, sizeof(dst), "%s/upper.ext4", dir);
	if (!msb_have_exe("qemu-img", tool, sizeof(tool)))
		return msb_fail(err, -ENOENT,
				"qemu-img not found: install it with "
				"'sudo apt-get install qemu-utils'");
	char *argv[] = { tool, "convert", "-q", "-f", "qcow2", "-O", "raw",
			 src, dst, NULL };
	r = msb_run_tool(argv, err);
	unlink(src);
	return r;
}

/* A stopped sandbox's disk, copied into @dir/upper.ext4. */
static int copy_disk(const char *sandbox, json_object *cfg, const char *dir,
		     msb_error *err)
{
	char src[PATH_MAX + 64], dst[PATH_MAX + 32], tool[PATH_MAX];
	struct stat st;
	int64_t n;
	int fd;

	msb_sandbox_dir(sandbox, src, sizeof(src));
	snprintf(dst, sizeof(dst), "%s/upper.ext4", dir);
	if (*msb_jstr(cfg, "upper", "")) {
		size_t l = strlen(src);

		snprintf(src + l, sizeof(src) - l, "/%s", msb_jstr(cfg, "upper", ""));
		if (!msb_have_exe("qemu-img", tool, sizeof(tool)))
			return msb_fail(err, -ENOENT,
					"qemu-img not found: install it with "
					"'sudo apt-get install qemu-utils'");
		char *argv[] = { tool, "convert", "-q", "-f", "qcow2", "-O",
				 "raw", src, dst, NULL };
		return msb_run_tool(argv, err);
	}
	strncat(src, "/upper.ext4", sizeof(src) - strlen(src) - 1);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return msb_fail_errno(err, -e, "cannot read %s", src);
	}
	n = msb_copy_sparse(fd, dst, (uint64_t)st.st_size, err);
	close(fd);
	return n < 0 ? (int)n : 0;
}

MSB_API int msb_snapshot_create(const char *sandbox, const char *name,
				msb_snapshot_info *info, msb_error *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64], qv[64] = "";
	struct msb_row row = { 0 };
	json_object *meta = NULL, *cfg = NULL, *res = NULL;
	sqlite3 *db;
	int r = msb_name_valid(name, err), live;

	if (r < 0)
		return r;
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_db_get(db, sandbox, &row, err);
	if (r == 0)
		msb_db_reconcile(db, &row, NULL);
	msb_db_close(db);
	if (r < 0)
		return r;
	live = msb_status_is_live(row.info.status);
	if (live && strcmp(row.info.status, "running")) {
		r = msb_fail(err, -EBUSY,
			     "sandbox '%s' is %s: snapshot it once it is "
			     "running or stopped",
			     sandbox, row.info.status);
		goto out;
	}
	if (snap_dir(name, dir, sizeof(dir)) < 0) {
		r = msb_fail(err, -ENAMETOOLONG, "MSB_HOME is too long");
		goto out;
	}
	if (access(dir, F_OK) == 0) {
		r = msb_fail(err, -EEXIST,
			     "a snapshot named '%s' already exists: pick "
			     "another name or 'msb snapshot rm %s' first",
			     name, name);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/snapshots/.%s.tmp-%d", msb_home(), name,
		 (int)getpid());
	msb_rm_rf(tmp);
	r = msb_mkdir_p(tmp, 0700);
	if (r < 0) {
		msb_fail_errno(err, r, "cannot create %s", tmp);
		goto out;
	}
	cfg = json_tokener_parse(row.config);
	if (!cfg)
		cfg = json_object_new_object();
	meta = json_object_new_object();
	json_object_object_add(meta, "format", json_object_new_int(SNAP_FORMAT));
	json_object_object_add(meta, "name", json_object_new_string(name));
	json_object_object_add(meta, "source", json_object_new_string(sandbox));
	json_object_object_add(meta, "created_at",
			       json_object_new_int64(msb_wall_s()));
	json_object_object_add(meta, "image",
			       json_object_new_string(row.info.image));
	json_object_object_add(meta, "cpus",
			       json_object_new_int((int)row.info.cpus));
	json_object_object_add(meta, "memory_mib",
			       json_object_new_int64((int64_t)row.info.memory_mib));
	json_object_object_add(meta, "msb_version",
			       json_object_new_string(MSB_VERSION));
	if (live) {
		struct msb_conn c;
		json_object *p = json_object_new_object(), *v;

		json_object_object_add(p, "dir", json_object_new_string(tmp));
		r = msb_conn_open(sandbox, &c, err);
		if (r == 0) {
			r = msb_conn_call(&c, "snapshot", p, &res,
					  SNAPSHOT_TIMEOUT_MS, err);
			msb_conn_close(&c);
		} else {
			json_object_put(p);
		}
		if (r < 0)
			goto fail;
		json_object_object_add(meta, "kind", json_object_new_string(
							     msb_jstr(res, "kind", "")));
		if (*msb_jstr(res, "reason", ""))
			json_object_object_add(
				meta, "reason",
				json_object_new_string(msb_jstr(res, "reason", "")));
		json_object_object_add(meta, "next_stream",
				       json_object_new_int64(
					       msb_jint(res, "next_stream", 0)));
		if (*msb_jstr(res, "agent", ""))
			json_object_object_add(
				meta, "agent",
				json_object_new_string(msb_jstr(res, "agent", "")));
		if (json_object_object_get_ex(res, "timings", &v))
			json_object_object_add(meta, "timings",
					       json_object_get(v));
		/* A restored sandbox's disk came as its qcow2 overlay (the
		 * supervisor runs no program): one raw disk from it. */
		if (!strcmp(msb_jstr(res, "upper_format", ""), "qcow2")) {
			r = flatten_upper(tmp, err);
			if (r < 0)
				goto fail;
		}
		if (!strcmp(msb_jstr(res, "kind", ""), "full")) {
			r = msb_engine_version(qv, sizeof(qv), err);
			if (r < 0)
				goto fail;
			json_object_object_add(meta, "engine",
					       json_object_new_string(qv));
		}
	} else {
		r = copy_disk(sandbox, cfg, tmp, err);
		if (r < 0)
			goto fail;
		json_object_object_add(meta, "kind",
				       json_object_new_string("disk"));
		json_object_object_add(meta, "reason",
				       json_object_new_string(
					       "the sandbox was stopped"));
	}
	/* What a restore needs to make the same machine again; a restored
	 * sandbox's own origin is not part of its snapshots. */
	json_object_object_del(cfg, "upper");
	json_object_object_del(cfg, "restore_env");
	json_object_object_del(cfg, "from_snapshot");
	json_object_object_add(meta, "config", json_object_get(cfg));
	r = msb_snapshot_seal(tmp, dir, meta, err);
	if (r < 0)
		goto fail;
	if (info)
		fill_info(dir, meta, info);
	goto out;
fail:
	/* Nothing half-written is left behind. */
	msb_rm_rf(tmp);
out:
	json_object_put(res);
	json_object_put(meta);
	json_object_put(cfg);
	msb_row_free(&row);
	return r;
}

MSB_API void msb_restore_opts_init(msb_restore_opts *o)
{
	memset(o, 0, sizeof(*o));
}

MSB_API int msb_snapshot_restore(const char *snapshot,
				 const msb_restore_opts *o, msb_sandbox **out,
				 msb_error *err)
{
	return msb_snapshot_restore_extra(snapshot, o, NULL, out, err);
}

int msb_snapshot_restore_extra(const char *snapshot, const msb_restore_opts *o,
			       json_object *extra, msb_sandbox **out,
			       msb_error *err)
{
	char dir[PATH_MAX], backing[PATH_MAX + 32], qv[64];
	msb_error local = { 0 };
	msb_sandbox_info info;
	json_object *meta = NULL, *cfg, *env, *ov;
	int r, full;

	if (!err)
		err = &local;
	if (!o || !o->name)
		return msb_fail(err, -EINVAL, "a restore needs a name for the "
					      "new sandbox");
	r = msb_name_valid(o->name, err);
	if (r < 0)
		return r;
	for (const char *const *v = o->env; v && *v; v++)
		if (!strchr(*v, '=') || **v == '=' || strchr(*v, '\n'))
			return msb_fail(err, -EINVAL,
					"invalid environment entry '%s': use "
					"KEY=VALUE",
					*v);
	r = msb_snapshot_load(snapshot, dir, sizeof(dir), &meta, 1, err);
	if (r < 0)
		return r;
	full = !strcmp(msb_jstr(meta, "kind", ""), "full") && !o->disk_only;
	memset(&info, 0, sizeof(info));
	snprintf(info.name, sizeof(info.name), "%s", o->name);
	snprintf(info.image, sizeof(info.image), "%s", msb_jstr(meta, "image", ""));
	info.cpus = o->cpus ? o->cpus : (unsigned)msb_jint(meta, "cpus", 0);
	info.memory_mib = o->memory_mib ? o->memory_mib :
					  (uint64_t)msb_jint(meta, "memory_mib", 0);
	if (full && (info.cpus != (unsigned)msb_jint(meta, "cpus", 0) ||
		     info.memory_mib != (uint64_t)msb_jint(meta, "memory_mib", 0))) {
		r = msb_fail(err, -EINVAL,
			     "snapshot '%s' holds a running machine with %u "
			     "CPU(s) and %lluM of memory, which a memory "
			     "restore cannot change (QEMU 7.2); boot a fresh "
			     "sandbox from its disk instead: 'msb run "
			     "--from-snapshot %s --cpus N --memory M'",
			     snapshot, (unsigned)msb_jint(meta, "cpus", 0),
			     (unsigned long long)msb_jint(meta, "memory_mib", 0),
			     snapshot);
		goto out;
	}
	if (full) {
		r = msb_engine_version(qv, sizeof(qv), err);
		if (r < 0)
			goto out;
		if (strcmp(qv, msb_jstr(meta, "engine", ""))) {
			r = msb_fail(err, -EINVAL,
				     "snapshot '%s' was taken with QEMU %s and "
				     "this host has QEMU %s, which may not load "
				     "its state; boot from its disk instead: "
				     "'msb run --from-snapshot %s'",
				     snapshot, msb_jstr(meta, "engine", ""), qv,
				     snapshot);
			goto out;
		}
	}
	if (!json_object_object_get_ex(meta, "config", &cfg)) {
		r = msb_fail(err, MSB_E_DAMAGED, "snapshot '%s' has no config",
			     snapshot);
		goto out;
	}
	cfg = json_object_get(cfg);
	json_object_object_add(cfg, "from_snapshot",
			       json_object_new_string(snapshot));
	json_object_object_add(cfg, "ephemeral",
			       json_object_new_boolean(o->ephemeral));
	if (o->boot_timeout_ms)
		json_object_object_add(cfg, "boot_timeout_ms",
				       json_object_new_int(
					       (int)o->boot_timeout_ms));
	/* The overrides apply to every later exec (after the snapshot's
	 * own variables, so they win) and reach the restored guest. */
	if (!json_object_object_get_ex(cfg, "env", &env) ||
	    !json_object_is_type(env, json_type_array)) {
		env = json_object_new_array();
		json_object_object_add(cfg, "env", env);
	}
	ov = json_object_new_array();
	for (const char *const *v = o->env; v && *v; v++) {
		json_object_array_add(env, json_object_new_string(*v));
		json_object_array_add(ov, json_object_new_string(*v));
	}
	json_object_object_add(cfg, "restore_env", ov);
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(cfg, k, json_object_get(v));
	}
	/* Published ports stay with the snapshot's sandbox: many restored
	 * copies cannot all listen on its host ports. */
	{
		json_object *net;

		if (json_object_object_get_ex(cfg, "net", &net) &&
		    json_object_is_type(net, json_type_object))
			json_object_object_del(net, "ports");
	}
	/* The command running at the snapshot goes on in a full restore;
	 * a fresh boot from the disk starts it again. */
	if (full)
		json_object_object_del(cfg, "cmd");
	snprintf(backing, sizeof(backing), "%s/upper.ext4", dir);
	r = msb_sandbox_create_from(&info, cfg, backing, full ? dir : NULL,
				    out, err);
	json_object_put(cfg);
out:
	json_object_put(meta);
	return r;
}

MSB_API int msb_snapshot_info_get(const char *name, msb_snapshot_info *out,
				  msb_error *err)
{
	char dir[PATH_MAX];
	json_object *m;
	int r = msb_snapshot_load(name, dir, sizeof(dir), &m, 0, err);

	if (r < 0)
		return r;
	fill_info(dir, m, out);
	json_object_put(m);
	return 0;
}

static int by_created(const void *a, const void *b)
{
	const msb_snapshot_info *x = a, *y = b;

	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return strcmp(x->name, y->name);
}

MSB_API int msb_snapshot_list(msb_snapshot_info **out, size_t *n,
			      msb_error *err)
{
	char dir[PATH_MAX];
	msb_snapshot_info *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/snapshots", msb_home());
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char sd[PATH_MAX];
		json_object *m;

		if (e->d_name[0] == '.' ||
		    msb_snapshot_load(e->d_name, sd, sizeof(sd), &m, 0, NULL) < 0)
			continue;
		if (cnt == cap) {
			msb_snapshot_info *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				json_object_put(m);
				break;
			}
			v = nv;
		}
		fill_info(sd, m, &v[cnt++]);
		json_object_put(m);
	}
	if (d)
		closedir(d);
	if (!v && !(v = calloc(1, sizeof(*v))))
		return msb_fail(err, -ENOMEM, "out of memory");
	qsort(v, cnt, sizeof(*v), by_created);
	*out = v;
	*n = cnt;
	return 0;
}

MSB_API int msb_snapshot_inspect_json(const char *name, char **json,
				      msb_error *err)
{
	char dir[PATH_MAX];
	msb_snapshot_info i;
	json_object *m;
	int r = msb_snapshot_load(name, dir, sizeof(dir), &m, 0, err);

	if (r < 0)
		return r;
	fill_info(dir, m, &i);
	json_object_object_add(m, "path", json_object_new_string(dir));
	json_object_object_add(m, "size_bytes",
			       json_object_new_int64((int64_t)i.size_bytes));
	json_object_object_add(m, "used_by", msb_snapshot_users(name));
	*json = strdup(json_object_to_json_string_ext(
		m, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(m);
	return *json ? 0 : msb_fail(err, -ENOMEM, "out of memory");
}

MSB_API int msb_snapshot_rename(const char *name, const char *new_name,
				msb_error *err)
{
	char dir[PATH_MAX], ndir[PATH_MAX];
	json_object *meta = NULL, *users;
	int r = msb_name_valid(new_name, err);

	if (r < 0)
		return r;
	r = msb_snapshot_load(name, dir, sizeof(dir), &meta, 1, err);
	if (r < 0)
		return r;
	/* Restored sandboxes find their base by its name (their record's
	 * from_snapshot): it keeps it while any exists. */
	users = msb_snapshot_users(name);
	if (json_object_array_length(users)) {
		char list[512];

		r = msb_fail(err, -EBUSY,
			     "snapshot '%s' is the base of %s, which find it "
			     "by its name: remove %s first", name,
			     msb_jnames(users, list, sizeof(list)),
			     json_object_array_length(users) > 1 ? "them" :
								   "it");
		json_object_put(users);
		goto out;
	}
	json_object_put(users);
	if (snap_dir(new_name, ndir, sizeof(ndir)) < 0) {
		r = msb_fail(err, -ENAMETOOLONG, "MSB_HOME is too long");
		goto out;
	}
	/* NOREPLACE: a snapshot made under @new_name meanwhile is never
	 * replaced. */
	if (renameat2(AT_FDCWD, dir, AT_FDCWD, ndir, RENAME_NOREPLACE) < 0) {
		r = errno == EEXIST ?
			    msb_fail(err, -EEXIST,
				     "a snapshot named '%s' already exists: "
				     "pick another name or 'msb snapshot rm "
				     "%s' first",
				     new_name, new_name) :
			    msb_fail_errno(err, -errno, "cannot move %s to %s",
					   dir, ndir);
		goto out;
	}
	/* Its record says its name (msb_snapshot_info.name); the files it
	 * checks are untouched by the move. */
	json_object_object_add(meta, "name", json_object_new_string(new_name));
	r = write_meta(ndir, meta, err);
	if (r < 0)
		(void)!rename(ndir, dir); /* back where its record says */
	else /* where it was pushed or pulled goes with it */
		msb_snap_sync_rename(name, new_name);
out:
	json_object_put(meta);
	return r;
}

MSB_API int msb_snapshot_remove(const char *name, int force, msb_error *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64];
	json_object *users;
	int r = msb_name_valid(name, err);

	if (r < 0)
		return r;
	snap_dir(name, dir, sizeof(dir));
	if (access(dir, F_OK) < 0)
		return msb_fail(err, -ENOENT,
				"no snapshot named '%s' (see 'msb snapshot "
				"ls')",
				name);
	users = msb_snapshot_users(name);
	if (json_object_array_length(users) && !force) {
		char list[512];
		int many = json_object_array_length(users) > 1;

		r = msb_fail(err, -EBUSY,
			     "snapshot '%s' is the base of %s: remove %s "
			     "first, or use --force (%s can then no longer "
			     "start)", name,
			     msb_jnames(users, list, sizeof(list)),
			     many ? "them" : "it", many ? "they" : "it");
		json_object_put(users);
		return r;
	}
	json_object_put(users);
	/* Gone from the listing at once, whatever the removal takes. */
	snprintf(tmp, sizeof(tmp), "%s/snapshots/.%s.rm-%d", msb_home(), name,
		 (int)getpid());
	if (rename(dir, tmp) < 0)
		return msb_fail_errno(err, -errno, "cannot remove %s", dir);
	/* a new snapshot of that name is not the one that was synced */
	msb_snap_sync_forget(name);
	msb_rm_rf(tmp);
	return 0;
}
