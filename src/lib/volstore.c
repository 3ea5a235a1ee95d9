/* SPDX-License-Identifier: Apache-2.0 */
/* volstore.c - named volumes: <home>/volumes/NAME (docs/filesystems.md)
 *
 * A named volume is a directory the host keeps for sandboxes, apart from
 * any one of them: <home>/volumes/NAME/data holds its files, meta.json
 * what it is (size, when made, the project that made it), and usage the
 * bytes in use, a counter every supervisor serving the volume shares
 * (src/fs/quota.c). Sandboxes mount it by name (msb run -v NAME:/path, a
 * Sandboxfile's volumes); several may at once, each served by its own
 * supervisor over the same directory, so what one writes the others see.
 * Who uses it is read from the sandboxes' records ("volume" in each
 * mount), never kept twice.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "jsonx.h"
#include "state.h"
#include "util.h"
#include "volstore.h"

#define VOL_MAX_MIB (1024ull * 1024)

static int vol_dir(const char *name, char *buf, size_t n)
{
	return snprintf(buf, n, "%s/volumes/%s", msb_home(), name) >= (int)n ?
		       -ENAMETOOLONG : 0;
}

int msb_volstore_paths(const char *name, char *data, char *counter, size_t n)
{
	char dir[PATH_MAX];

	if (vol_dir(name, dir, sizeof(dir)) < 0 ||
	    snprintf(data, n, "%s/data", dir) >= (int)n ||
	    snprintf(counter, n, "%s/usage", dir) >= (int)n)
		return -ENAMETOOLONG;
	return 0;
}

static json_object *read_meta(const char *name)
{
	char path[PATH_MAX + 16], dir[PATH_MAX];
	json_object *m;

	if (vol_dir(name, dir, sizeof(dir)) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	m = json_object_from_file(path);
	if (m && !json_object_is_type(m, json_type_object)) {
		json_object_put(m);
		m = NULL;
	}
	return m;
}

/* users() - the sandboxes whose record mounts volume @name: each
 * appended to the array @names (may be NULL) by name, or as "NAME
 * (STATUS)" with @status, and counts of all and live ones. */
static void users(const char *name, json_object *names, int status,
		  unsigned *all, unsigned *live)
{
	struct msb_row *rows = NULL;
	size_t nrows = 0;
	sqlite3 *db;

	*all = *live = 0;
	if (msb_db_open(NULL, &db, NULL) < 0)
		return;
	if (msb_db_list(db, &rows, &nrows, NULL) < 0) {
		msb_db_close(db);
		return;
	}
	for (size_t i = 0; i < nrows; i++) {
		json_object *cfg = json_tokener_parse(rows[i].config), *vols;
		int uses = 0;

		if (cfg && json_object_object_get_ex(cfg, "volumes", &vols) &&
		    json_object_is_type(vols, json_type_array))
			for (size_t k = 0; k < json_object_array_length(vols);
			     k++)
				if (!strcmp(msb_jstr(json_object_array_get_idx(vols,
									    k),
						 "volume", ""),
					    name))
					uses = 1;
		json_object_put(cfg);
		if (uses) {
			msb_db_reconcile(db, &rows[i], NULL);
			(*all)++;
			if (msb_status_is_live(rows[i].info.status))
				(*live)++;
			if (names) {
				char one[160];

				snprintf(one, sizeof(one), status ? "%s (%s)" :
					 "%s", rows[i].info.name,
					 rows[i].info.status);
				json_object_array_add(names,
						      json_object_new_string(one));
			}
		}
		msb_row_free(&rows[i]);
	}
	free(rows);
	msb_db_close(db);
}

/* in_use() - is the counter held by a supervisor (a shared lock)? */
static int in_use(const char *counter)
{
	int fd = open(counter, O_RDONLY | O_CLOEXEC), held;

	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/* used_bytes() - from the shared counter while served, else counted. */
static uint64_t used_bytes(const char *data, const char *counter)
{
	if (in_use(counter)) {
		struct {
			uint64_t magic, used;
		} page;
		int fd = open(counter, O_RDONLY | O_CLOEXEC);
		ssize_t r = fd >= 0 ? pread(fd, &page, sizeof(page), 0) : -1;

		if (fd >= 0)
			close(fd);
		if (r == (ssize_t)sizeof(page))
			return page.used;
	}
	return msb_tree_bytes(data);
}

static int fill(const char *name, json_object *m, msb_volume_info *out)
{
	char data[PATH_MAX], counter[PATH_MAX];

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->size_mib = (uint64_t)msb_jint(m, "size_mib", 0);
	out->created_at = msb_jint(m, "created_at", 0);
	snprintf(out->project, sizeof(out->project), "%s", msb_jstr(m, "project", ""));
	if (msb_volstore_paths(name, data, counter, sizeof(data)) < 0)
		return -ENAMETOOLONG;
	snprintf(out->path, sizeof(out->path), "%s", data);
	out->used_bytes = used_bytes(data, counter);
	users(name, NULL, 0, &out->users, &out->running);
	return 0;
}

int msb_volstore_create(const char *name, uint64_t size_mib,
			const char *project, msb_volume_info *info,
			msb_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	json_object *m;
	int r = msb_name_valid(name, err);

	if (r < 0)
		return r;
	if (size_mib > VOL_MAX_MIB)
		return msb_fail(err, -EINVAL, "invalid volume size %lluM: at "
				"most 1024G", (unsigned long long)size_mib);
	r = msb_home_ready(err);
	if (r < 0)
		return r;
	if (vol_dir(name, dir, sizeof(dir)) < 0)
		return msb_fail(err, -ENAMETOOLONG, "MSB_HOME is too long");
	snprintf(path, sizeof(path), "%s/volumes", msb_home());
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return msb_fail_state_dir(err, -errno, path);
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return msb_fail(err, MSB_E_EXISTS,
					"a volume named '%s' already exists "
					"(see 'msb volume ls')", name);
		return msb_fail_errno(err, -errno, "cannot create %s", dir);
	}
	snprintf(path, sizeof(path), "%s/data", dir);
	if (mkdir(path, 0755) < 0) {
		r = msb_fail_errno(err, -errno, "cannot create %s", path);
		msb_rm_rf(dir);
		return r;
	}
	m = json_object_new_object();
	json_object_object_add(m, "name", json_object_new_string(name));
	json_object_object_add(m, "size_mib",
			       json_object_new_int64((int64_t)size_mib));
	json_object_object_add(m, "created_at",
			       json_object_new_int64(msb_wall_s()));
	if (project)
		json_object_object_add(m, "project",
				       json_object_new_string(project));
	{
		const char *t = json_object_to_json_string_ext(
			m, JSON_C_TO_STRING_PRETTY);

		snprintf(path, sizeof(path), "%s/meta.json", dir);
		r = msb_write_file(path, t, strlen(t), 0600);
	}
	if (r < 0) {
		json_object_put(m);
		msb_rm_rf(dir);
		return msb_fail_errno(err, r, "cannot write %s", path);
	}
	if (info)
		fill(name, m, info);
	json_object_put(m);
	return 0;
}

int msb_volstore_size(const char *name, uint64_t *size_mib)
{
	json_object *m = msb_name_valid(name, NULL) < 0 ? NULL : read_meta(name);

	if (!m)
		return -ENOENT;
	*size_mib = (uint64_t)msb_jint(m, "size_mib", 0);
	json_object_put(m);
	return 0;
}

int msb_volstore_set_size(const char *name, uint64_t size_mib,
			  msb_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	json_object *m = read_meta(name);
	const char *t;
	int r;

	if (!m)
		return msb_fail(err, MSB_E_NOT_FOUND, "no volume named '%s'",
				name);
	json_object_object_add(m, "size_mib",
			       json_object_new_int64((int64_t)size_mib));
	vol_dir(name, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	t = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY);
	r = msb_write_file(path, t, strlen(t), 0600);
	json_object_put(m);
	return r < 0 ? msb_fail_errno(err, r, "cannot write %s", path) : 0;
}

MSB_API int msb_volume_create(const char *name, uint64_t size_mib,
			      msb_volume_info *info, msb_error *err)
{
	return msb_volstore_create(name, size_mib, NULL, info, err);
}

MSB_API int msb_volume_info_get(const char *name, msb_volume_info *out,
				msb_error *err)
{
	json_object *m;
	int r = msb_name_valid(name, err);

	if (r < 0)
		return r;
	m = read_meta(name);
	if (!m)
		return msb_fail(err, MSB_E_NOT_FOUND,
				"no volume named '%s' (see 'msb volume ls')",
				name);
	r = fill(name, m, out);
	json_object_put(m);
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const msb_volume_info *)a)->name,
		      ((const msb_volume_info *)b)->name);
}

MSB_API int msb_volume_list(msb_volume_info **out, size_t *n, msb_error *err)
{
	char dir[PATH_MAX];
	msb_volume_info *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/volumes", msb_home());
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		json_object *m;

		if (e->d_name[0] == '.' || msb_name_valid(e->d_name, NULL) < 0 ||
		    !(m = read_meta(e->d_name)))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			msb_volume_info *nv = realloc(v, nc * sizeof(*v));

			if (!nv) {
				json_object_put(m);
				free(v);
				closedir(d);
				return msb_fail(err, -ENOMEM, "out of memory");
			}
			v = nv;
			cap = nc;
		}
		fill(e->d_name, m, &v[cnt++]);
		json_object_put(m);
	}
	if (d)
		closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), by_name);
	*out = v;
	*n = cnt;
	return 0;
}

MSB_API int msb_volume_inspect_json(const char *name, char **json,
				    msb_error *err)
{
	msb_volume_info i;
	json_object *o;
	int r = msb_volume_info_get(name, &i, err);

	if (r < 0)
		return r;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(i.name));
	json_object_object_add(o, "size_mib",
			       json_object_new_int64((int64_t)i.size_mib));
	json_object_object_add(o, "used_bytes",
			       json_object_new_int64((int64_t)i.used_bytes));
	json_object_object_add(o, "created_at",
			       json_object_new_int64(i.created_at));
	json_object_object_add(o, "path", json_object_new_string(i.path));
	json_object_object_add(o, "project", i.project[0] ?
			       json_object_new_string(i.project) : NULL);
	{
		json_object *a = json_object_new_array();
		unsigned all, live;

		users(name, a, 0, &all, &live);
		json_object_object_add(o, "used_by", a);
		json_object_object_add(o, "running",
				       json_object_new_int64(live));
	}
	*json = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return *json ? 0 : msb_fail(err, -ENOMEM, "out of memory");
}

MSB_API int msb_volume_remove(const char *name, int force, msb_error *err)
{
	char dir[PATH_MAX], data[PATH_MAX], counter[PATH_MAX], list[1024];
	unsigned all, live;
	json_object *m, *names;
	int r = msb_name_valid(name, err);

	if (r < 0)
		return r;
	m = read_meta(name);
	if (!m)
		return msb_fail(err, MSB_E_NOT_FOUND,
				"no volume named '%s' (see 'msb volume ls')",
				name);
	json_object_put(m);
	names = json_object_new_array();
	users(name, names, 1, &all, &live);
	msb_jnames(names, list, sizeof(list));
	json_object_put(names);
	msb_volstore_paths(name, data, counter, sizeof(data));
	if (live || in_use(counter))
		return msb_fail(err, MSB_E_BUSY,
				"volume '%s' is mounted by running sandboxes "
				"(%s): stop them first", name,
				list[0] ? list : "a sandbox is starting");
	if (all && !force)
		return msb_fail(err, MSB_E_BUSY,
				"volume '%s' is used by %s: remove %s first, or "
				"force it (they then cannot start)", name, list,
				all > 1 ? "them" : "it");
	vol_dir(name, dir, sizeof(dir));
	r = msb_rm_rf(dir);
	if (r < 0)
		return msb_fail_errno(err, r, "cannot remove %s", dir);
	return 0;
}
