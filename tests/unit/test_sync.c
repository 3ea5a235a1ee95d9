/* SPDX-License-Identifier: Apache-2.0 */
/* test_sync.c - sandbox artifacts: the disk as chunks, the manifest and
 * config blob as a registry may send them, a pulled configuration */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "sync.h"
#include "util.h"

#define C64 (64u << 10)

static int sparse_file(char *dir, char *path, size_t n)
{
	if (unit_tmpdir(dir, PATH_MAX) < 0)
		return -1;
	snprintf(path, n, "%s/disk", dir);
	return open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

TEST(sync_scan_skips_holes_and_zeros)
{
	char dir[PATH_MAX], path[PATH_MAX + 8];
	unsigned char *buf = malloc(C64);
	struct msb_disk_map m;
	msb_error err = { 0 };
	int fd = sparse_file(dir, path, sizeof(path));

	CHECK(fd >= 0 && buf);
	if (fd < 0 || !buf)
		goto out;
	CHECK(ftruncate(fd, 16 * C64) == 0);
	/* window 1: data at its end; window 4: written zeros; window 9:
	 * one byte; window 15 (the last): data */
	memset(buf, 0xab, 100);
	CHECK(pwrite(fd, buf, 100, 2 * C64 - 100) == 100);
	memset(buf, 0, C64);
	CHECK(pwrite(fd, buf, C64, 4 * C64) == (ssize_t)C64);
	CHECK(pwrite(fd, "x", 1, 9 * C64 + 7) == 1);
	CHECK(pwrite(fd, "end", 3, 16 * C64 - 3) == 3);
	CHECK_EQ_INT(msb_disk_scan(fd, C64, &m, NULL, NULL, &err), 0);
	CHECK_EQ_INT(m.size, 16 * C64);
	CHECK_EQ_INT(m.n, 3);
	if (m.n == 3) {
		CHECK_EQ_INT(m.v[0].off, C64);
		CHECK_EQ_INT(m.v[1].off, 9 * C64);
		CHECK_EQ_INT(m.v[2].off, 15 * C64);
		CHECK_EQ_INT(m.v[2].len, C64);
		/* the raw digest is of the whole window, holes as zeros */
		memset(buf, 0, C64);
		buf[7] = 'x';
		{
			char want[72];

			msb_sha256_digest(buf, C64, want);
			CHECK_STR(m.v[1].raw, want);
		}
	}
	msb_disk_map_free(&m);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	msb_rm_rf(dir);
}

TEST(sync_chunk_round_trip_and_tampering)
{
	size_t n = C64, zlen;
	unsigned char *raw = malloc(n), *back = malloc(n);
	char digest[72], rawd[72], again[72];
	msb_error err = { 0 };
	void *z = NULL;

	for (size_t i = 0; i < n; i++)
		raw[i] = (unsigned char)(i % 251 < 40 ? unit_rand() : 'a');
	msb_sha256_digest(raw, n, rawd);
	CHECK_EQ_INT(msb_chunk_pack(raw, n, &z, &zlen, digest, &err), 0);
	CHECK(zlen < n);
	msb_sha256_digest(z, zlen, again);
	CHECK_STR(digest, again);
	CHECK_EQ_INT(msb_chunk_unpack(z, zlen, back, n, rawd, &err), 0);
	CHECK_MEM(raw, back, n);
	/* the same bytes, the same blob: what makes a second push small */
	{
		void *z2;
		size_t zl2;
		char d2[72];

		CHECK_EQ_INT(msb_chunk_pack(raw, n, &z2, &zl2, d2, &err), 0);
		CHECK_STR(d2, digest);
		free(z2);
	}
	/* wrong raw digest, wrong length, a flipped byte, a cut blob */
	CHECK_EQ_INT(msb_chunk_unpack(z, zlen, back, n, digest, &err), -EBADMSG);
	CHECK_EQ_INT(msb_chunk_unpack(z, zlen, back, n / 2, rawd, &err),
		     -EBADMSG);
	((unsigned char *)z)[zlen / 2] ^= 0x55;
	CHECK(msb_chunk_unpack(z, zlen, back, n, rawd, &err) < 0);
	((unsigned char *)z)[zlen / 2] ^= 0x55;
	CHECK(msb_chunk_unpack(z, zlen - 9, back, n, rawd, &err) < 0);
	free(z);
	free(raw);
	free(back);
}

TEST(sync_pwrite_sparse_keeps_holes)
{
	char dir[PATH_MAX], path[PATH_MAX + 8];
	unsigned char *buf = calloc(1, C64), *back = malloc(C64);
	struct stat st;
	int fd = sparse_file(dir, path, sizeof(path));

	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	buf[5000] = 1;            /* block 1 */
	buf[C64 - 1] = 2;         /* the last block */
	CHECK(ftruncate(fd, 4 * C64) == 0);
	CHECK_EQ_INT(msb_pwrite_sparse(fd, buf, C64, C64), 0);
	CHECK(pread(fd, back, C64, C64) == (ssize_t)C64);
	CHECK_MEM(buf, back, C64);
	CHECK(fstat(fd, &st) == 0);
	/* two 4 KiB blocks, not sixteen */
	CHECK(st.st_blocks * 512 <= 2 * 4096 + 4096);
	close(fd);
out:
	free(buf);
	free(back);
	msb_rm_rf(dir);
}

TEST(sync_pread_full_reads_to_the_end)
{
	char dir[PATH_MAX], path[PATH_MAX + 8], back[300];
	unsigned char buf[256];
	int fd = sparse_file(dir, path, sizeof(path));

	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	CHECK(pwrite(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
	/* whole, from an offset, short at the end, nothing past it */
	CHECK_EQ_INT(msb_pread_full(fd, back, 256, 0), 256);
	CHECK_MEM(back, buf, 256);
	CHECK_EQ_INT(msb_pread_full(fd, back, 16, 100), 16);
	CHECK_MEM(back, buf + 100, 16);
	CHECK_EQ_INT(msb_pread_full(fd, back, sizeof(back), 200), 56);
	CHECK_MEM(back, buf + 200, 56);
	CHECK_EQ_INT(msb_pread_full(fd, back, 10, 256), 0);
	CHECK_EQ_INT(msb_pread_full(fd, back, 0, 0), 0);
	close(fd);
	/* an error is -errno */
	CHECK_EQ_INT(msb_pread_full(fd, back, 10, 0), -EBADF);
out:
	msb_rm_rf(dir);
}

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static int map_of(const char *json, struct msb_disk_map *m)
{
	json_object *o = json_tokener_parse(json);
	msb_error err = { 0 };
	int r = msb_disk_map_parse(o, m, &err);

	json_object_put(o);
	return r;
}

TEST(sync_disk_map_json_checked)
{
	struct msb_disk_map m = { 0 }, back;
	json_object *j;

	m.size = 4u << 20;
	m.chunk = 1u << 20;
	m.v = calloc(2, sizeof(*m.v));
	m.n = 2;
	m.v[0] = (struct msb_chunk){ .off = 0, .len = 1u << 20, .zlen = 10 };
	m.v[1] = (struct msb_chunk){ .off = 3u << 20, .len = 1u << 20, .zlen = 20 };
	snprintf(m.v[0].digest, 72, D1);
	snprintf(m.v[0].raw, 72, D2);
	snprintf(m.v[1].digest, 72, D2);
	snprintf(m.v[1].raw, 72, D1);
	j = msb_disk_map_json(&m);
	CHECK_EQ_INT(msb_disk_map_parse(j, &back, NULL), 0);
	CHECK_EQ_INT(back.n, 2);
	CHECK_EQ_INT(back.v[1].off, 3u << 20);
	CHECK_STR(back.v[1].digest, D2);
	msb_disk_map_free(&back);
	json_object_put(j);
	msb_disk_map_free(&m);

#define MAP(chunks)                                                         \
	"{\"size\":4194304,\"chunk_size\":1048576,\"compression\":\"zstd\","  \
	"\"chunks\":[" chunks "]}"
#define E(off, len) "[" #off "," #len ",\"" D1 "\",\"" D2 "\",5]"
	CHECK_EQ_INT(map_of(MAP(E(0, 1048576) "," E(1048576, 1048576)), &m), 0);
	msb_disk_map_free(&m);
	/* unaligned, out of the disk, unsorted, short (not the last),
	 * overlapping, a chunk size that is no power of two */
	CHECK(map_of(MAP(E(5, 1048576)), &m) < 0);
	CHECK(map_of(MAP(E(4194304, 1048576)), &m) < 0);
	CHECK(map_of(MAP(E(1048576, 1048576) "," E(0, 1048576)), &m) < 0);
	CHECK(map_of(MAP(E(0, 100)), &m) < 0);
	CHECK(map_of(MAP(E(0, 1048576) "," E(0, 1048576)), &m) < 0);
	CHECK(map_of(MAP(E(0, 2097152)), &m) < 0);
	CHECK(map_of("{\"size\":4194304,\"chunk_size\":1000000,"
		     "\"compression\":\"zstd\",\"chunks\":[]}", &m) < 0);
	CHECK(map_of("{\"size\":4194304,\"chunk_size\":1048576,"
		     "\"compression\":\"gzip\",\"chunks\":[]}", &m) < 0);
	CHECK(map_of("{\"size\":-1,\"chunk_size\":1048576,"
		     "\"compression\":\"zstd\",\"chunks\":[]}", &m) < 0);
	CHECK(map_of(MAP("[0,1048576,\"md5:x\",\"" D2 "\",5]"), &m) < 0);
	CHECK(map_of(MAP("[0,1048576,\"" D1 "\",\"" D2 "\"]"), &m) < 0);
#undef E
#undef MAP
}

TEST(sync_manifest_kinds)
{
	struct msb_artifact_manifest m;
	msb_error err = { 0 };
	char *built;
	struct msb_disk_map map = { .size = 2u << 20, .chunk = 1u << 20 };
	struct msb_chunk c[3] = { { .off = 0, .len = 1u << 20, .zlen = 9 },
				  { .off = 1u << 20, .len = 1u << 20, .zlen = 9 } };
	const struct msb_disk_map *maps[2];
	static const char image[] =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
		"manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd."
		"oci.image.config.v1+json\",\"digest\":\"" D1 "\",\"size\":3},"
		"\"layers\":[]}";
	static const char index[] =
		"{\"schemaVersion\":2,\"manifests\":[]}";

	CHECK_EQ_INT(msb_artifact_manifest_parse(image, strlen(image), "", &m,
						 &err), 0);
	CHECK_EQ_INT(m.kind, MSB_KIND_IMAGE);
	msb_artifact_manifest_free(&m);
	CHECK_EQ_INT(msb_artifact_manifest_parse(index, strlen(index),
		"application/vnd.oci.image.index.v1+json", &m, &err), 0);
	CHECK_EQ_INT(m.kind, MSB_KIND_IMAGE);
	msb_artifact_manifest_free(&m);

	/* ours, as a push writes it: the same chunk twice is one layer */
	snprintf(c[0].digest, 72, D2);
	snprintf(c[1].digest, 72, D2);
	map.v = c;
	map.n = 2;
	maps[0] = &map;
	built = msb_artifact_manifest_json(MSB_KIND_SANDBOX, D1, 77, maps, 1,
					   "dev");
	CHECK_EQ_INT(msb_artifact_manifest_parse(built, strlen(built),
						 MSB_OCI_MANIFEST, &m, &err), 0);
	CHECK_EQ_INT(m.kind, MSB_KIND_SANDBOX);
	CHECK_EQ_INT(m.nlayers, 1);
	CHECK_STR(m.config_digest, D1);
	CHECK_EQ_INT(m.config_size, 77);
	msb_artifact_manifest_free(&m);
	CHECK_CONTAINS(built, "\"artifactType\":\"" MSB_SANDBOX_ARTIFACT "\"");
	free(built);

	/* a snapshot's: a blob shared by its disk and its RAM is one layer,
	 * listed where it is first used; the kind read back either by its
	 * artifactType or, a registry having dropped that, by its config */
	{
		struct msb_disk_map ram = { .size = 1u << 20, .chunk = 1u << 20 };
		struct msb_chunk rc[2] = { { .off = 0, .len = 1u << 20, .zlen = 9 } };
		char *p;

		snprintf(c[1].digest, 72, D3);
		snprintf(rc[0].digest, 72, D2);
		ram.v = rc;
		ram.n = 1;
		maps[1] = &ram;
		built = msb_artifact_manifest_json(MSB_KIND_SNAPSHOT, D1, 77,
						   maps, 2, "snap");
		CHECK_EQ_INT(msb_artifact_manifest_parse(built, strlen(built),
							 "", &m, &err), 0);
		CHECK_EQ_INT(m.kind, MSB_KIND_SNAPSHOT);
		CHECK_EQ_INT(m.nlayers, 2);
		CHECK_STR(m.layers[0].digest, D2);
		CHECK_STR(m.layers[1].digest, D3);
		msb_artifact_manifest_free(&m);
		p = strstr(built, "\"artifactType\"");
		CHECK(p != NULL);
		if (p)
			memcpy(p, "\"artifactTypX\"", 14);
		CHECK_EQ_INT(msb_artifact_manifest_parse(built, strlen(built),
							 "", &m, &err), 0);
		CHECK_EQ_INT(m.kind, MSB_KIND_SNAPSHOT);
		msb_artifact_manifest_free(&m);
		free(built);
	}

	/* a sandbox manifest with a layer of another kind, or garbage */
	{
		static const char bad[] =
			"{\"schemaVersion\":2,\"artifactType\":\""
			MSB_SANDBOX_ARTIFACT "\",\"config\":{\"digest\":\"" D1
			"\",\"size\":3},\"layers\":[{\"mediaType\":\"application/"
			"vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2
			"\",\"size\":5}]}";

		CHECK(msb_artifact_manifest_parse(bad, strlen(bad), "", &m,
						  &err) < 0);
		CHECK(msb_artifact_manifest_parse("{\"a\":", 5, "", &m, &err) < 0);
		CHECK(msb_artifact_manifest_parse("[1]", 3, "", &m, &err) < 0);
	}
}

static const char good_cfg[] =
	"{\"format\":1,\"name\":\"dev\",\"image\":{\"reference\":\"default\"},"
	"\"cpus\":2,\"memory_mib\":512,\"config\":{\"env\":[\"A=b\","
	"\"KEY=msb_placeholder_0123456789abcdef0123456789abcdef\"],"
	"\"workdir\":\"/w\",\"layers\":[\"/etc/passwd\"],\"volumes\":[{"
	"\"guest\":\"/data\",\"kind\":\"host\",\"source\":\"/\",\"ro\":false}],"
	"\"secrets\":[{\"env\":\"KEY\",\"source\":\"env\",\"ref\":\"HOME\","
	"\"hosts\":[\"evil.test\"],\"placeholder\":"
	"\"msb_placeholder_0123456789abcdef0123456789abcdef\"}],"
	"\"net\":{\"allow\":[],\"allow_cidr\":[\"10.0.0.0/8\"],"
	"\"block_cidr\":[],\"deny_all\":false}},"
	"\"disk\":{\"size\":1048576,\"chunk_size\":1048576,\"compression\":"
	"\"zstd\",\"chunks\":[]}}";

TEST(sync_artifact_config_checked)
{
	struct msb_artifact a;
	msb_error err = { 0 };
	char bad[sizeof(good_cfg) + 64];

	CHECK_EQ_INT(msb_artifact_parse(good_cfg, strlen(good_cfg), MSB_KIND_SANDBOX, &a,
					&err), 0);
	CHECK_STR(a.name, "dev");
	CHECK_EQ_INT(a.cpus, 2);
	CHECK_STR(a.image, "default");
	/* a key a record has but a pull must make itself is gone */
	CHECK(!json_object_object_get_ex(a.config, "layers", NULL));
	msb_artifact_free(&a);
	/* out of range, wrong types, a bad name, an image without digest */
	static const struct { const char *from, *to; } edits[] = {
		{ "\"cpus\":2", "\"cpus\":65" },
		{ "\"cpus\":2", "\"cpus\":\"2\"" },
		{ "\"memory_mib\":512", "\"memory_mib\":1" },
		{ "\"name\":\"dev\"", "\"name\":\"../x\"" },
		{ "\"format\":1", "\"format\":2" },
		{ "{\"reference\":\"default\"}", "{\"reference\":\"x.io/a:1\"}" },
		{ "\"disk\":", "\"nodisk\":" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		const char *at = strstr(good_cfg, edits[i].from);
		size_t pre = (size_t)(at - good_cfg);

		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)pre, good_cfg,
			 edits[i].to, at + strlen(edits[i].from));
		if (msb_artifact_parse(bad, strlen(bad), MSB_KIND_SANDBOX, &a,
				       &err) == 0) {
			unit_fail(__FILE__, __LINE__, "accepted edit %zu", i);
			msb_artifact_free(&a);
		}
	}
}

TEST(sync_pulled_config_drops_host_reach_unless_trusted)
{
	struct msb_artifact a;
	msb_error err = { 0 };
	json_object *cfg, *v;
	char dropped[256];

	CHECK_EQ_INT(msb_artifact_parse(good_cfg, strlen(good_cfg), MSB_KIND_SANDBOX, &a,
					&err), 0);
	/* untrusted: the volume of '/', the secret reading $HOME for
	 * evil.test and the opened 10/8 go; so does the placeholder */
	CHECK_EQ_INT(msb_sync_record_config(a.config, 0, &cfg, dropped,
					    sizeof(dropped), &err), 0);
	CHECK_CONTAINS(dropped, "volumes");
	CHECK_CONTAINS(dropped, "secrets");
	CHECK_CONTAINS(dropped, "opened address ranges");
	CHECK(!json_object_object_get_ex(cfg, "volumes", NULL));
	CHECK(!json_object_object_get_ex(cfg, "secrets", NULL));
	CHECK(json_object_object_get_ex(cfg, "env", &v) &&
	      json_object_array_length(v) == 1);
	CHECK(json_object_object_get_ex(cfg, "net", &v) &&
	      json_object_object_get_ex(v, "allow_cidr", &v) &&
	      json_object_array_length(v) == 0);
	json_object_put(cfg);
	/* trusted: kept, checked as a create checks them (the secret with
	 * 10/8 opened is refused as msb run refuses it) */
	CHECK_EQ_INT(msb_sync_record_config(a.config, 1, &cfg, dropped,
					    sizeof(dropped), &err),
		     MSB_E_POLICY);
	msb_artifact_free(&a);
}

/* A snapshot's config: a full one's RAM map is exactly the guest's memory
 * and comes with its device state and the QEMU that wrote it. */
static const char snap_cfg[] =
	"{\"format\":1,\"name\":\"s\",\"image\":{\"reference\":\"default\"},"
	"\"cpus\":1,\"memory_mib\":64,\"config\":{},"
	"\"disk\":{\"size\":1048576,\"chunk_size\":1048576,\"compression\":"
	"\"zstd\",\"chunks\":[]},\"snapshot\":{\"kind\":\"full\","
	"\"engine\":\"7.2.19\",\"agent\":\"0.2.0\",\"source\":\"dev\","
	"\"created_at\":5,"
	"\"next_stream\":9,\"ram\":{\"size\":67108864,\"chunk_size\":1048576,"
	"\"compression\":\"zstd\",\"chunks\":[]},\"state\":{\"size\":"
	"4096,\"chunk_size\":1048576,\"compression\":\"zstd\","
	"\"chunks\":[]}}}";

TEST(sync_snapshot_config_checked)
{
	struct msb_artifact a;
	msb_error err = { 0 };
	char bad[sizeof(snap_cfg) + 64];
	static const struct { const char *from, *to; } edits[] = {
		{ "\"size\":67108864", "\"size\":67108865" }, /* not the RAM */
		{ "\"kind\":\"full\"", "\"kind\":\"fuller\"" },
		{ "\"engine\":\"7.2.19\",", "" },
		{ "\"source\":\"dev\"", "\"source\":\"../x\"" },
		{ "\"next_stream\":9", "\"next_stream\":-1" },
		{ "\"agent\":\"0.2.0\"", "\"agent\":\"0.2\\n\"" },
		{ "\"agent\":\"0.2.0\"", "\"agent\":\"0.2 (new)\"" },
		{ ",\"state\":{", ",\"stat\":{" },
		{ "\"snapshot\":", "\"snapshoot\":" },
	};

	CHECK_EQ_INT(msb_artifact_parse(snap_cfg, strlen(snap_cfg),
					MSB_KIND_SNAPSHOT, &a, &err), 0);
	CHECK_STR(a.snap.kind, "full");
	CHECK_STR(a.snap.engine, "7.2.19");
	CHECK_STR(a.snap.agent, "0.2.0");
	CHECK_STR(a.snap.source, "dev");
	CHECK_EQ_INT(a.snap.next_stream, 9);
	CHECK_EQ_INT(a.snap.ram.size, 64u << 20);
	CHECK_EQ_INT(a.snap.state.size, 4096);
	msb_artifact_free(&a);
	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		const char *at = strstr(snap_cfg, edits[i].from);
		size_t pre = (size_t)(at - snap_cfg);

		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)pre, snap_cfg,
			 edits[i].to, at + strlen(edits[i].from));
		if (msb_artifact_parse(bad, strlen(bad), MSB_KIND_SNAPSHOT, &a,
				       &err) == 0) {
			unit_fail(__FILE__, __LINE__, "accepted edit %zu", i);
			msb_artifact_free(&a);
		}
	}
	/* a disk snapshot has no memory to map */
	snprintf(bad, sizeof(bad), "%s", snap_cfg);
	memcpy(strstr(bad, "\"full\""), "\"disk\"", 6);
	CHECK_EQ_INT(msb_artifact_parse(bad, strlen(bad), MSB_KIND_SNAPSHOT, &a,
					&err), 0);
	CHECK_EQ_INT(a.snap.ram.size, 0);
	msb_artifact_free(&a);
}
