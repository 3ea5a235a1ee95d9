/* SPDX-License-Identifier: Apache-2.0 */
/* test_image.c - image references and manifests as registries send them */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "image.h"
#include "util.h"

static void ref_is(const char *in, const char *canon, const char *shortf,
		   int line)
{
	struct msb_ref r;
	msb_error err = { 0 };
	char buf[700];

	if (msb_ref_parse(in, &r, &err) < 0) {
		unit_fail(__FILE__, line, "'%s' refused: %s", in, err.message);
		return;
	}
	msb_ref_format(&r, buf, sizeof(buf));
	if (strcmp(buf, canon))
		unit_fail(__FILE__, line, "'%s' -> '%s', want '%s'", in, buf, canon);
	msb_ref_short(&r, buf, sizeof(buf));
	if (strcmp(buf, shortf))
		unit_fail(__FILE__, line, "'%s' short '%s', want '%s'", in, buf,
			  shortf);
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TEST(image_ref_parse)
{
	struct msb_ref r;

	ref_is("python:3.12", "docker.io/library/python:3.12", "python:3.12", __LINE__);
	ref_is("busybox", "docker.io/library/busybox:latest", "busybox:latest", __LINE__);
	ref_is("org/app", "docker.io/org/app:latest", "org/app:latest", __LINE__);
	ref_is("ghcr.io/pytorch/pytorch:2.3", "ghcr.io/pytorch/pytorch:2.3",
	       "ghcr.io/pytorch/pytorch:2.3", __LINE__);
	ref_is("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest",
	       "127.0.0.1:5000/a/b:latest", __LINE__);
	ref_is("localhost/x:1", "localhost/x:1", "localhost/x:1", __LINE__);
	ref_is("x@sha256:" D64, "docker.io/library/x@sha256:" D64,
	       "x@sha256:" D64, __LINE__);
	ref_is("h.io:443/x:t@sha256:" D64, "h.io:443/x:t@sha256:" D64,
	       "h.io:443/x:t", __LINE__);
	CHECK(msb_ref_parse("Upper/case", &r, NULL) == -EINVAL);
	CHECK(msb_ref_parse("x:bad tag", &r, NULL) == -EINVAL);
	CHECK(msb_ref_parse("x@sha256:abc", &r, NULL) == -EINVAL);
	CHECK(msb_ref_parse("a//b", &r, NULL) == -EINVAL);
	CHECK(msb_ref_parse("", &r, NULL) == -EINVAL);
	CHECK(msb_ref_parse("-x", &r, NULL) == -EINVAL);
	{
		msb_error err = { 0 };

		/* a URL pasted where a reference goes: what to give instead */
		CHECK_EQ_INT(msb_ref_parse("https://ghcr.io/a/b:1/", &r, &err),
			     -EINVAL);
		CHECK_STR(err.message, "'https://ghcr.io/a/b:1/' is a URL: "
				       "give the image reference without its "
				       "scheme, as 'ghcr.io/a/b:1'");
	}
	msb_ref_parse("python", &r, NULL);
	CHECK(!strcmp(msb_ref_endpoint(&r), "registry-1.docker.io"));
	CHECK(!msb_ref_is_loopback(&r));
	msb_ref_parse("127.0.0.1:5000/x", &r, NULL);
	CHECK(msb_ref_is_loopback(&r));
	msb_ref_parse("localhost:5000/x", &r, NULL);
	CHECK(msb_ref_is_loopback(&r));
	CHECK(msb_digest_valid("sha256:" D64));
	CHECK(!msb_digest_valid("sha256:" D64 "0"));
	CHECK(!msb_digest_valid("sha512:" D64));
}

TEST(image_index_and_manifest)
{
	const char *idx =
		"{\"manifests\":[{\"digest\":\"sha256:" D64 "\",\"platform\":"
		"{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		"{\"digest\":\"sha256:" "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		"\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
	const char *arm =
		"{\"manifests\":[{\"digest\":\"sha256:" D64 "\",\"platform\":"
		"{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
	const char *man =
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:" D64
		"\",\"size\":10},\"layers\":[{\"digest\":\"sha256:" D64
		"\",\"size\":5,\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\"}]}";
	json_object *o;
	struct msb_manifest m;
	msb_error err = { 0 };
	char d[80];

	o = json_tokener_parse(idx);
	CHECK(msb_index_pick(o, d, sizeof(d), NULL) == 0);
	CHECK(d[7] == '1');
	json_object_put(o);
	o = json_tokener_parse(arm);
	CHECK(msb_index_pick(o, d, sizeof(d), &err) == -ENOENT);
	CHECK(strstr(err.message, "linux/arm64") != NULL);
	json_object_put(o);
	o = json_tokener_parse(man);
	CHECK(msb_manifest_parse(o, &m, NULL) == 0);
	CHECK(m.nlayers == 1 && m.layers[0].size == 5 && m.config_size == 10);
	msb_manifest_free(&m);
	json_object_put(o);
	o = json_tokener_parse("{\"schemaVersion\":1}");
	CHECK(msb_manifest_parse(o, &m, NULL) == -EPROTO);
	json_object_put(o);
	o = json_tokener_parse("{\"schemaVersion\":2,\"config\":{\"digest\":\"md5:x\",\"size\":1},\"layers\":[]}");
	CHECK(msb_manifest_parse(o, &m, NULL) == -EPROTO);
	json_object_put(o);
	CHECK(msb_mediatype_is_index("application/vnd.oci.image.index.v1+json"));
	CHECK(!msb_mediatype_is_index("application/vnd.oci.image.manifest.v1+json"));
}

TEST(image_tar_headers)
{
	unsigned char h[512];
	struct msb_tar_entry e;
	msb_error err = { 0 };
	static const char pax[] = "31 path=blobs/sha256/long-name\n"
				  "12 size=999\n";

	msb_tar_make(h, "blobs/sha256/" D64, '0', 12345, 0644);
	CHECK(msb_tar_header(h, &e, &err) == 1);
	CHECK(!strcmp(e.name, "blobs/sha256/" D64) && e.size == 12345 &&
	      e.type == '0');
	/* base-256 sizes past 8 GiB survive the trip */
	msb_tar_make(h, "big", '0', 9ull << 33, 0644);
	CHECK(msb_tar_header(h, &e, &err) == 1 && e.size == 9ull << 33);
	h[0] ^= 1; /* checksum now wrong */
	CHECK(msb_tar_header(h, &e, &err) == -EBADMSG);
	memset(h, 0, sizeof(h));
	CHECK(msb_tar_header(h, &e, &err) == 0);
	CHECK(msb_tar_pax(pax, strlen(pax), &e, &err) == 0);
	CHECK(!strcmp(e.name, "blobs/sha256/long-name") && e.size == 999);
	CHECK(msb_tar_pax("99 path=x\n", 10, &e, &err) == -EBADMSG);
	CHECK(msb_tar_pax("5 a=\n", 5, &e, &err) == 0);
	CHECK(msb_tar_pax("3 x", 3, &e, &err) == -EBADMSG);
	CHECK(msb_tar_pax("12 size=1x\n", 11, &e, &err) == -EBADMSG);
}

/* A real image (the system's mkfs.erofs, as the store's merged disks are
 * made) passes msb_erofs_check(); each way a crash or a cut leaves one
 * is refused, and says what it found. */
TEST(image_erofs_superblock_check)
{
	char dir[PATH_MAX], cmd[3 * PATH_MAX], img[PATH_MAX + 16],
		why[200];
	unsigned char buf[4096], bad[4096];
	struct stat st;
	ssize_t got;
	int fd;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/t/etc && echo hi > %s/t/etc/hello && "
		 "head -c 100000 /dev/zero > %s/t/big && "
		 "mkfs.erofs --quiet -x1 %s/img.erofs %s/t >/dev/null 2>&1",
		 dir, dir, dir, dir, dir);
	CHECK_EQ_INT(system(cmd), 0);
	snprintf(img, sizeof(img), "%s/img.erofs", dir);
	fd = open(img, O_RDONLY);
	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	got = pread(fd, buf, sizeof(buf), 0);
	CHECK(fstat(fd, &st) == 0);
	close(fd);
	CHECK_EQ_INT(got, 4096);
	/* it has a checksum, so that path is taken */
	CHECK(buf[1024 + 8] & 1);
	CHECK_EQ_INT(msb_erofs_check(buf, 4096, (uint64_t)st.st_size, why,
				     sizeof(why)), 0);
	CHECK_EQ_INT(msb_layer_whole(img, (uint64_t)st.st_size, why,
				     sizeof(why)), 1);
	CHECK_EQ_INT(msb_layer_whole(img, 0, why, sizeof(why)), 1);

	/* cut short, or longer, than its block count */
	CHECK_EQ_INT(msb_erofs_check(buf, 4096, (uint64_t)st.st_size - 4096,
				     why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "blocks of 4096 bytes");
	CHECK_EQ_INT(msb_erofs_check(buf, 4096, (uint64_t)st.st_size + 1,
				     why, sizeof(why)), -1);
	/* shorter than the superblock's end */
	CHECK_EQ_INT(msb_erofs_check(buf, 1100, 1100, why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "too short");
	/* zeroed */
	memcpy(bad, buf, sizeof(bad));
	memset(bad + 1024, 0, 128);
	CHECK_EQ_INT(msb_erofs_check(bad, 4096, (uint64_t)st.st_size, why,
				     sizeof(why)), -1);
	CHECK_CONTAINS(why, "zeroed");
	/* something else at byte 1024 */
	memcpy(bad, buf, sizeof(bad));
	bad[1024] ^= 1;
	CHECK_EQ_INT(msb_erofs_check(bad, 4096, (uint64_t)st.st_size, why,
				     sizeof(why)), -1);
	CHECK_CONTAINS(why, "no EROFS superblock");
	/* a block size no kernel mounts */
	memcpy(bad, buf, sizeof(bad));
	bad[1024 + 12] = 20;
	CHECK_EQ_INT(msb_erofs_check(bad, 4096, (uint64_t)st.st_size, why,
				     sizeof(why)), -1);
	CHECK_CONTAINS(why, "block size");
	/* a byte of the superblock's block changed: the checksum says so */
	memcpy(bad, buf, sizeof(bad));
	bad[3000] ^= 0x40;
	CHECK_EQ_INT(msb_erofs_check(bad, 4096, (uint64_t)st.st_size, why,
				     sizeof(why)), -1);
	CHECK_CONTAINS(why, "checksum");

	/* on disk: a size other than the one recorded, then a cut, then gone */
	CHECK_EQ_INT(msb_layer_whole(img, (uint64_t)st.st_size + 4096, why,
				     sizeof(why)), 0);
	CHECK_CONTAINS(why, "when it was made");
	CHECK(truncate(img, st.st_size - 4096) == 0);
	CHECK_EQ_INT(msb_layer_whole(img, 0, why, sizeof(why)), 0);
	CHECK_CONTAINS(why, "blocks of 4096 bytes");
	CHECK(truncate(img, 0) == 0);
	CHECK_EQ_INT(msb_layer_whole(img, 0, why, sizeof(why)), 0);
	CHECK_CONTAINS(why, "too short");
	unlink(img);
	CHECK_EQ_INT(msb_layer_whole(img, 0, why, sizeof(why)), 0);
	CHECK_STR(why, "it is missing");
out:
	msb_rm_rf(dir);
}
