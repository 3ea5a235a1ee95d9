/* SPDX-License-Identifier: Apache-2.0 */
/* test_volumes.c - msb run's volume flags and the record they become */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "msb.h"
#include "state.h"
#include "util.h"
#include "volumes.h"

static int parse(msb_volume_kind k, const char *spec, msb_volume *v,
		 msb_error *err)
{
	static char buf[8][512];
	static int i;
	char *b = buf[i++ & 7];

	snprintf(b, 512, "%s", spec);
	return msb_volume_parse(k, b, v, err);
}

TEST(volume_parse_host)
{
	msb_volume v;
	msb_error err = { 0 };

	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "./data:/data", &v, &err), 0);
	CHECK_STR(v.source, "./data");
	CHECK_STR(v.guest_path, "/data");
	CHECK_EQ_INT(v.readonly, 0);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:ro", &v, &err), 0);
	CHECK_STR(v.source, "/h");
	CHECK_STR(v.guest_path, "/g");
	CHECK_EQ_INT(v.readonly, 1);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:rw", &v, &err), 0);
	CHECK_EQ_INT(v.readonly, 0);
	/* host paths may hold ':'; read from the right */
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/a:b/c:/g:ro", &v, &err), 0);
	CHECK_STR(v.source, "/a:b/c");
	CHECK_STR(v.guest_path, "/g");
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:ro,direct", &v, &err), 0);
	CHECK_EQ_INT(v.readonly, 1);
	CHECK_EQ_INT(v.direct_io, 1);
	CHECK_STR(v.guest_path, "/g");
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:direct", &v, &err), 0);
	CHECK_EQ_INT(v.readonly, 0);
	CHECK_EQ_INT(v.direct_io, 1);
	CHECK_EQ_INT(v.overlay_mib, 0);
	/* overlay: the default upper, or one of a given size */
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:overlay", &v, &err), 0);
	CHECK_EQ_INT(v.overlay_mib, 256);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:direct,overlay=1G", &v, &err),
		     0);
	CHECK_EQ_INT(v.overlay_mib, 1024);
	CHECK_EQ_INT(v.direct_io, 1);
	CHECK_STR(v.guest_path, "/g");
	/* An option we do not know after HOSTDIR:/GUEST is named as one, not
	 * taken for a guest path. */
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:overlay=lots", &v, &err),
		     -EINVAL);
	CHECK_CONTAINS(err.message, "invalid --volume option 'overlay=lots' "
				    "in '/h:/g:overlay=lots'");
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:overlay=0", &v, &err),
		     -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:ro,bogus", &v, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "option 'bogus'");
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "./d:/data:rx", &v, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "option 'rx'");
	CHECK_CONTAINS(err.message, "use ro, rw, direct, overlay[=SIZE], "
				    "cache=auto|always|never or "
				    "timeout=SECONDS");
	/* cache modes, and how long names and attributes may be kept */
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:ro,cache=always", &v, &err),
		     0);
	CHECK_EQ_INT(v.cache, MSB_VOLUME_CACHE_ALWAYS);
	CHECK_EQ_INT(v.cache_timeout_ms, 0);
	CHECK_EQ_INT(v.direct_io, 0);
	CHECK_EQ_INT(v.readonly, 1);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:cache=auto,timeout=2.5", &v,
			   &err), 0);
	CHECK_EQ_INT(v.cache, MSB_VOLUME_CACHE_AUTO);
	CHECK_EQ_INT(v.cache_timeout_ms, 2500);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:timeout=86400", &v, &err), 0);
	CHECK_EQ_INT(v.cache, MSB_VOLUME_CACHE_DEFAULT);
	CHECK_EQ_INT(v.cache_timeout_ms, 86400000);
	/* never is virtiofsd's: data bypasses the guest's page cache too */
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:cache=never", &v, &err), 0);
	CHECK_EQ_INT(v.cache, MSB_VOLUME_CACHE_NEVER);
	CHECK_EQ_INT(v.direct_io, 1);
	const char *badc[] = { "/h:/g:cache=sometimes", "/h:/g:cache=",
			       "/h:/g:timeout=86400.001", "/h:/g:timeout=-1",
			       "/h:/g:timeout=1.", "/h:/g:timeout=0.0001",
			       "/h:/g:timeout=99999999999999999999",
			       "/h:/g:timeout=1s" };
	for (size_t i = 0; i < sizeof(badc) / sizeof(badc[0]); i++) {
		CHECK_EQ_INT(parse(MSB_VOLUME_HOST, badc[i], &v, &err), -EINVAL);
		CHECK_CONTAINS(err.message, "invalid --volume option");
	}
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "data:/d:cache=always", &v, &err), 0);
	CHECK_EQ_INT(v.kind, MSB_VOLUME_NAMED);
	CHECK_EQ_INT(v.cache, MSB_VOLUME_CACHE_ALWAYS);
	/* a host path with ':' and no options is still read from the right */
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/a:rx:/g", &v, &err), 0);
	CHECK_STR(v.source, "/a:rx");
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:/g:", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/only", &v, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "HOSTDIR:GUESTPATH[:ro]");
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, ":/g", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "/h:ro", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "", &v, &err), -EINVAL);
}

TEST(volume_parse_memory_and_plugin)
{
	msb_volume v;
	msb_error err = { 0 };

	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/cache", &v, &err), 0);
	CHECK_STR(v.guest_path, "/cache");
	CHECK_EQ_INT(v.size_mib, 0);
	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/c:16M", &v, &err), 0);
	CHECK_EQ_INT(v.size_mib, 16);
	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/c:2g", &v, &err), 0);
	CHECK_EQ_INT(v.size_mib, 2048);
	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/c:100", &v, &err), 0);
	CHECK_EQ_INT(v.size_mib, 100);
	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/c:0", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/c:1.5G", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/c:-1M", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(MSB_VOLUME_MEMORY, "/c:99999999999999999999M", &v,
			   &err), -EINVAL);
	CHECK_CONTAINS(err.message, "e.g. 16M or 1G");
	CHECK_EQ_INT(parse(MSB_VOLUME_PLUGIN, "/p.so:/g:a:b,c", &v, &err), 0);
	CHECK_STR(v.source, "/p.so");
	CHECK_STR(v.guest_path, "/g");
	CHECK_STR(v.arg, "a:b,c");
	CHECK_EQ_INT(parse(MSB_VOLUME_PLUGIN, "/p.so:/g", &v, &err), 0);
	CHECK(v.arg == NULL);
	CHECK_EQ_INT(parse(MSB_VOLUME_PLUGIN, "/p.so", &v, &err), -EINVAL);
	CHECK_EQ_INT(parse(42, "/x", &v, &err), -EINVAL);
}

TEST(volumes_json_checks_and_records)
{
	char dir[256], file[300], real[4096];
	msb_volume v[3] = { 0 };
	msb_error err = { 0 };
	json_object *a = NULL, *o, *x;

	if (unit_tmpdir(dir, sizeof(dir)) < 0)
		return;
	snprintf(file, sizeof(file), "%s/file", dir);
	CHECK_EQ_INT(msb_write_file(file, "x", 1, 0644), 0);
	CHECK(realpath(dir, real) != NULL);

	v[0] = (msb_volume){ .kind = MSB_VOLUME_HOST, .guest_path = "/data",
			     .source = dir, .readonly = 1 };
	v[1] = (msb_volume){ .kind = MSB_VOLUME_MEMORY, .guest_path = "/cache" };
	v[2] = (msb_volume){ .kind = MSB_VOLUME_PLUGIN, .guest_path = "/p",
			     .source = file, .arg = "arg" };
	CHECK_EQ_INT(msb_volumes_json(v, 3, &a, &err), 0);
	CHECK(a && json_object_array_length(a) == 3);
	o = json_object_array_get_idx(a, 0);
	CHECK(json_object_object_get_ex(o, "source", &x));
	CHECK_STR(json_object_get_string(x), real);
	CHECK(json_object_object_get_ex(o, "ro", &x) && json_object_get_boolean(x));
	o = json_object_array_get_idx(a, 1);
	CHECK(json_object_object_get_ex(o, "size_mib", &x) &&
	      json_object_get_int(x) == MSB_VOLUME_MEM_DEFAULT_MIB);
	o = json_object_array_get_idx(a, 2);
	CHECK(json_object_object_get_ex(o, "arg", &x));
	CHECK_STR(json_object_get_string(x), "arg");
	json_object_put(a);

	/* none: no array */
	CHECK_EQ_INT(msb_volumes_json(NULL, 0, &a, &err), 0);
	CHECK(a == NULL);
	/* bad guest paths */
	{
		const char *bad[] = { "data", "/", "/a/../b", "/a/.", "/a//b",
				      "/a:b", "/a/", "/..", "" };

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			v[1].guest_path = bad[i];
			CHECK_EQ_INT(msb_volumes_json(&v[1], 1, &a, &err), -EINVAL);
			CHECK_CONTAINS(err.message, "use an absolute path");
			CHECK(a == NULL);
		}
		v[1].guest_path = "/cache";
	}
	/* a file where a directory must be, a missing one, a directory as
	 * a plugin */
	v[0].source = file;
	CHECK_EQ_INT(msb_volumes_json(v, 1, &a, &err), -ENOTDIR);
	CHECK_CONTAINS(err.message, "is not a directory");
	v[0].source = "/nonexistent-msb-unit";
	CHECK(msb_volumes_json(v, 1, &a, &err) < 0);
	CHECK_CONTAINS(err.message, "cannot use '/nonexistent-msb-unit'");
	v[0].source = dir;
	v[2].source = dir;
	CHECK_EQ_INT(msb_volumes_json(&v[2], 1, &a, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "not a shared object file");
	/* two at one path */
	v[1].guest_path = "/data";
	CHECK_EQ_INT(msb_volumes_json(v, 2, &a, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "two volumes at /data");
	/* too big a memory volume, too many volumes */
	v[1].guest_path = "/cache";
	v[1].size_mib = 1ull << 40;
	CHECK_EQ_INT(msb_volumes_json(&v[1], 1, &a, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "more than");
	CHECK_EQ_INT(msb_volumes_json(v, MSB_VOLUMES_MAX + 1, &a, &err), -E2BIG);
	msb_rm_rf(dir);
}

/* Neighbours of the guest paths msb keeps for itself are volume targets
 * like any other (test_lib.c shows the reserved ones refused). */
TEST(volume_reserved_neighbours_allowed)
{
	static const char *const good[] = { "/procfs", "/devices", "/system",
					    "/run/secrets", "/running",
					    "/etc/app", "/etcetera" };
	msb_error err = { 0 };
	msb_volume v;
	json_object *a = NULL;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&v, 0, sizeof(v));
		v.kind = MSB_VOLUME_MEMORY;
		v.guest_path = good[i];
		CHECK_EQ_INT(msb_volumes_json(&v, 1, &a, &err), 0);
		json_object_put(a);
		a = NULL;
	}
}

/* -v NAME:/path is a named volume, made on first use; its record names
 * the volume, its directory and the counter its supervisors share. */
TEST(volume_named)
{
	char home[256], *old = getenv("MSB_HOME") ? strdup(getenv("MSB_HOME")) :
						    NULL;
	msb_error err = { 0 };
	msb_volume v[2];
	msb_volume_info info, *list = NULL;
	json_object *a = NULL, *o;
	size_t n = 0;

	if (unit_tmpdir(home, sizeof(home)))
		return;
	setenv("MSB_HOME", home, 1);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "data:/data:ro", &v[0], &err), 0);
	CHECK_EQ_INT(v[0].kind, MSB_VOLUME_NAMED);
	CHECK_STR(v[0].source, "data");
	CHECK_EQ_INT(v[0].readonly, 1);
	/* a directory is written as one */
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "./data:/d", &v[1], &err), 0);
	CHECK_EQ_INT(v[1].kind, MSB_VOLUME_HOST);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "~/data:/d", &v[1], &err), 0);
	CHECK_EQ_INT(v[1].kind, MSB_VOLUME_HOST);
	CHECK_EQ_INT(parse(MSB_VOLUME_HOST, "data:/d:overlay", &v[1], &err),
		     -EINVAL);
	CHECK_CONTAINS(err.message, "a named volume takes no overlay");
	/* made on first use, with no limit */
	CHECK_EQ_INT(msb_volume_info_get("data", &info, &err), MSB_E_NOT_FOUND);
	CHECK_EQ_INT(msb_volumes_json(v, 1, &a, &err), 0);
	CHECK_EQ_INT(msb_volume_info_get("data", &info, &err), 0);
	CHECK_EQ_INT(info.size_mib, 0);
	o = a ? json_object_array_get_idx(a, 0) : NULL;
	if (o) {
		json_object *x;
		char want[400];

		CHECK(json_object_object_get_ex(o, "kind", &x));
		CHECK_STR(json_object_get_string(x), "volume");
		CHECK(json_object_object_get_ex(o, "volume", &x));
		CHECK_STR(json_object_get_string(x), "data");
		snprintf(want, sizeof(want), "%s/volumes/data/data", home);
		CHECK(json_object_object_get_ex(o, "source", &x));
		CHECK_STR(json_object_get_string(x), want);
		snprintf(want, sizeof(want), "%s/volumes/data/usage", home);
		CHECK(json_object_object_get_ex(o, "counter", &x));
		CHECK_STR(json_object_get_string(x), want);
		CHECK(!json_object_object_get_ex(o, "size_mib", &x));
	}
	json_object_put(a);
	/* one with a size carries it into the record */
	CHECK_EQ_INT(msb_volume_create("sized", 16, &info, &err), 0);
	CHECK_EQ_INT(info.size_mib, 16);
	CHECK_EQ_INT(msb_volume_create("sized", 16, NULL, &err), MSB_E_EXISTS);
	CHECK_EQ_INT(msb_volume_create("bad/name", 0, NULL, &err), -EINVAL);
	CHECK_EQ_INT(msb_volume_create("huge", 2u << 20, NULL, &err), -EINVAL);
	v[0].source = "sized";
	CHECK_EQ_INT(msb_volumes_json(v, 1, &a, &err), 0);
	o = a ? json_object_array_get_idx(a, 0) : NULL;
	if (o) {
		json_object *x;

		CHECK(json_object_object_get_ex(o, "size_mib", &x));
		CHECK_EQ_INT(json_object_get_int(x), 16);
	}
	json_object_put(a);
	CHECK_EQ_INT(msb_volume_list(&list, &n, &err), 0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_STR(list[0].name, "data");
		CHECK_STR(list[1].name, "sized");
	}
	free(list);
	CHECK_EQ_INT(msb_volume_remove("sized", 0, &err), 0);
	CHECK_EQ_INT(msb_volume_remove("sized", 0, &err), MSB_E_NOT_FOUND);
	CHECK_EQ_INT(msb_volume_remove("data", 0, &err), 0);
	if (old) {
		setenv("MSB_HOME", old, 1);
		free(old);
	} else {
		unsetenv("MSB_HOME");
	}
	msb_rm_rf(home);
}

/* Forty stopped sandboxes with long names mount one volume: inspect lists
 * every one of them (the list was cut at 2 KiB), and a remove refused for
 * them says so in a message of bounded length. */
TEST(volume_inspect_lists_every_user)
{
	char home[256], *old = getenv("MSB_HOME") ? strdup(getenv("MSB_HOME")) :
						    NULL, *json = NULL;
	msb_error err = { 0 };
	json_object *o = NULL, *a;
	sqlite3 *db = NULL;

	if (unit_tmpdir(home, sizeof(home)))
		return;
	setenv("MSB_HOME", home, 1);
	CHECK_EQ_INT(msb_volume_create("shared", 0, NULL, &err), 0);
	CHECK_EQ_INT(msb_db_open(NULL, &db, &err), 0);
	for (int i = 0; db && i < 40; i++) {
		struct msb_row r = { 0 };

		snprintf(r.info.name, sizeof(r.info.name),
			 "a-sandbox-with-a-rather-long-name-number-%02d", i);
		snprintf(r.info.image, sizeof(r.info.image), "default");
		snprintf(r.info.status, sizeof(r.info.status), "stopped");
		r.info.cpus = 1;
		r.info.memory_mib = 512;
		r.config = "{\"volumes\":[{\"kind\":\"volume\","
			   "\"volume\":\"shared\"}]}";
		CHECK_EQ_INT(msb_db_insert(db, &r, &err), 0);
	}
	msb_db_close(db);
	CHECK_EQ_INT(msb_volume_inspect_json("shared", &json, &err), 0);
	if (json)
		o = json_tokener_parse(json);
	CHECK(o && json_object_object_get_ex(o, "used_by", &a));
	if (o && json_object_object_get_ex(o, "used_by", &a)) {
		CHECK_EQ_INT(json_object_array_length(a), 40);
		CHECK_STR(json_object_get_string(json_object_array_get_idx(a, 39)),
			  "a-sandbox-with-a-rather-long-name-number-39");
	}
	CHECK(o && json_object_object_get_ex(o, "running", &a) &&
	      json_object_get_int(a) == 0);
	json_object_put(o);
	free(json);
	CHECK_EQ_INT(msb_volume_remove("shared", 0, &err), MSB_E_BUSY);
	/* the first two, a count, and what to do */
	CHECK_CONTAINS(err.message,
		       "number-00 (stopped), a-sandbox-with-a-rather-long-name-"
		       "number-01 (stopped) and 38 more: remove them first");
	CHECK_EQ_INT(msb_volume_remove("shared", 1, &err), 0);
	if (old) {
		setenv("MSB_HOME", old, 1);
		free(old);
	} else {
		unsetenv("MSB_HOME");
	}
	msb_rm_rf(home);
}
