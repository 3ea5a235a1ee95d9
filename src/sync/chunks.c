/* SPDX-License-Identifier: Apache-2.0 */
/* chunks.c - a sparse disk as content-addressed chunks, and back
 *
 * Windows are fixed and aligned (offset = i * chunk size): a block image
 * changes in place, never by insertion, so a changed file block dirties
 * exactly the windows it lies in and no other (docs/sync.md compares this
 * with content-defined chunking on the same disks). SEEK_DATA skips the
 * file's holes without reading them; a window that reads as zeros anyway
 * (blocks ext4 allocated but never wrote) is a hole too.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "image.h"
#include "sync.h"
#include "util.h"

/* zstd's level 3 (its default): measured in docs/sync.md. */
#define ZSTD_LEVEL 3

void msb_disk_map_free(struct msb_disk_map *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

void msb_sha256_digest(const void *buf, size_t len, char out[72])
{
	unsigned char md[32];

	EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static int all_zero(const unsigned char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w)
			return 0;
	}
	for (; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static int map_add(struct msb_disk_map *m, size_t *cap,
		   const struct msb_chunk *c)
{
	if (m->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct msb_chunk *v = realloc(m->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->v = v;
		*cap = nc;
	}
	m->v[m->n++] = *c;
	return 0;
}

ssize_t msb_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int msb_disk_scan(int fd, uint32_t chunk, struct msb_disk_map *m,
		  void (*progress)(void *ctx, uint64_t done, uint64_t total),
		  void *ctx, msb_error *err)
{
	struct stat st;
	unsigned char *buf;
	size_t cap = 0;
	uint64_t pos = 0;
	int r = 0;

	memset(m, 0, sizeof(*m));
	if (fstat(fd, &st) < 0)
		return msb_fail_errno(err, -errno, "cannot stat the disk");
	if ((uint64_t)st.st_size > MSB_DISK_MAX)
		return msb_fail(err, -EFBIG, "the disk is larger than 1 TiB");
	m->size = (uint64_t)st.st_size;
	m->chunk = chunk;
	buf = malloc(chunk);
	if (!buf)
		return msb_fail(err, -ENOMEM, "out of memory");
	while (pos < m->size) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		struct msb_chunk c = { 0 };
		ssize_t got;

		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0) {
			r = msb_fail_errno(err, -errno, "cannot read the disk");
			break;
		}
		c.off = (uint64_t)d / chunk * chunk;
		c.len = (uint32_t)(m->size - c.off < chunk ? m->size - c.off :
							       chunk);
		got = msb_pread_full(fd, buf, c.len, c.off);
		if (got < 0) {
			r = msb_fail_errno(err, (int)got, "cannot read the disk");
			break;
		}
		/* the file shrank: the rest reads as a hole */
		memset(buf + got, 0, c.len - (size_t)got);
		pos = c.off + c.len;
		if (progress)
			progress(ctx, pos, m->size);
		if (all_zero(buf, c.len))
			continue;
		msb_sha256_digest(buf, c.len, c.raw);
		if (map_add(m, &cap, &c) < 0) {
			r = msb_fail(err, -ENOMEM, "out of memory");
			break;
		}
	}
	free(buf);
	if (r < 0)
		msb_disk_map_free(m);
	else if (progress)
		progress(ctx, m->size, m->size);
	return r;
}

int msb_chunk_pack(const void *raw, size_t len, void **z, size_t *zlen,
		   char digest[72], msb_error *err)
{
	size_t cap = ZSTD_compressBound(len), n;
	void *out = malloc(cap);

	if (!out)
		return msb_fail(err, -ENOMEM, "out of memory");
	n = ZSTD_compress(out, cap, raw, len, ZSTD_LEVEL);
	if (ZSTD_isError(n)) {
		free(out);
		return msb_fail(err, -EIO, "zstd: %s", ZSTD_getErrorName(n));
	}
	msb_sha256_digest(out, n, digest);
	*z = out;
	*zlen = n;
	return 0;
}

int msb_chunk_unpack(const void *z, size_t zlen, void *out, size_t len,
		     const char *raw_digest, msb_error *err)
{
	unsigned long long want = ZSTD_getFrameContentSize(z, zlen);
	char got[72];
	size_t n;

	if (want != len)
		return msb_fail(err, -EBADMSG,
				"a chunk does not hold the %zu bytes its map "
				"says: refused",
				len);
	n = ZSTD_decompress(out, len, z, zlen);
	if (ZSTD_isError(n) || n != len)
		return msb_fail(err, -EBADMSG,
				"a chunk does not decompress (%s): refused",
				ZSTD_isError(n) ? ZSTD_getErrorName(n) :
						  "short");
	msb_sha256_digest(out, len, got);
	if (strcmp(got, raw_digest))
		return msb_fail(err, -EBADMSG,
				"a chunk decompresses to %.19s, not the %.19s "
				"its map says: refused",
				got, raw_digest);
	return 0;
}

int msb_pwrite_sparse(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;
	size_t i = 0;

	while (i < len) {
		size_t blk = len - i < 4096 ? len - i : 4096, run = 0;
		ssize_t w;

		if (all_zero(p + i, blk)) {
			i += blk;
			continue;
		}
		/* one write for a run of non-zero blocks */
		while (i + run < len) {
			size_t b = len - i - run < 4096 ? len - i - run : 4096;

			if (all_zero(p + i + run, b))
				break;
			run += b;
		}
		w = pwrite(fd, p + i, run, (off_t)(off + i));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		i += (size_t)w;
	}
	return 0;
}

json_object *msb_disk_map_json(const struct msb_disk_map *m)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();

	json_object_object_add(o, "size", json_object_new_int64((int64_t)m->size));
	json_object_object_add(o, "chunk_size", json_object_new_int64(m->chunk));
	json_object_object_add(o, "compression", json_object_new_string("zstd"));
	for (size_t i = 0; i < m->n; i++) {
		json_object *c = json_object_new_array();

		json_object_array_add(c, json_object_new_int64((int64_t)m->v[i].off));
		json_object_array_add(c, json_object_new_int64(m->v[i].len));
		json_object_array_add(c, json_object_new_string(m->v[i].digest));
		json_object_array_add(c, json_object_new_string(m->v[i].raw));
		json_object_array_add(c, json_object_new_int64((int64_t)m->v[i].zlen));
		json_object_array_add(a, c);
	}
	json_object_object_add(o, "chunks", a);
	return o;
}

static int int64_of(json_object *o, int64_t *v)
{
	if (!o || !json_object_is_type(o, json_type_int))
		return -1;
	errno = 0;
	*v = json_object_get_int64(o);
	return errno ? -1 : 0;
}

int msb_disk_map_parse(json_object *o, struct msb_disk_map *m,
		       msb_error *err)
{
	json_object *v, *a;
	int64_t size, chunk;
	const char *comp;
	size_t n;

	memset(m, 0, sizeof(*m));
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "size", &v) || int64_of(v, &size) ||
	    !json_object_object_get_ex(o, "chunk_size", &v) ||
	    int64_of(v, &chunk) ||
	    !json_object_object_get_ex(o, "chunks", &a) ||
	    !json_object_is_type(a, json_type_array))
		return msb_fail(err, -EPROTO,
				"the disk map has no size, chunk_size or "
				"chunks");
	comp = json_object_object_get_ex(o, "compression", &v) ?
		       json_object_get_string(v) :
		       NULL;
	if (!comp || strcmp(comp, "zstd"))
		return msb_fail(err, -ENOTSUP,
				"the disk's chunks are compressed with '%.20s'; "
				"this msb reads zstd",
				comp ? comp : "");
	if (size <= 0 || (uint64_t)size > MSB_DISK_MAX)
		return msb_fail(err, -EPROTO, "the disk size %lld is out of "
				"range (1 byte to 1 TiB)", (long long)size);
	if (chunk < MSB_CHUNK_MIN || chunk > MSB_CHUNK_MAX ||
	    (chunk & (chunk - 1)))
		return msb_fail(err, -EPROTO,
				"the chunk size %lld is not a power of two "
				"from 64 KiB to 64 MiB",
				(long long)chunk);
	n = json_object_array_length(a);
	if (n > (uint64_t)size / (uint64_t)chunk + 1)
		return msb_fail(err, -EPROTO,
				"the disk map has more chunks than the disk");
	m->size = (uint64_t)size;
	m->chunk = (uint32_t)chunk;
	m->v = calloc(n ? n : 1, sizeof(*m->v));
	if (!m->v)
		return msb_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(a, i);
		struct msb_chunk *k = &m->v[i];
		int64_t off, len, zlen;
		const char *d, *raw;
		uint64_t end;

		if (!json_object_is_type(c, json_type_array) ||
		    json_object_array_length(c) != 5 ||
		    int64_of(json_object_array_get_idx(c, 0), &off) ||
		    int64_of(json_object_array_get_idx(c, 1), &len) ||
		    int64_of(json_object_array_get_idx(c, 4), &zlen) ||
		    !json_object_is_type(json_object_array_get_idx(c, 2),
					 json_type_string) ||
		    !json_object_is_type(json_object_array_get_idx(c, 3),
					 json_type_string))
			goto bad;
		d = json_object_get_string(json_object_array_get_idx(c, 2));
		raw = json_object_get_string(json_object_array_get_idx(c, 3));
		if (off < 0 || off % chunk || len <= 0 || len > chunk ||
		    zlen <= 0 || (uint64_t)zlen > ZSTD_compressBound((size_t)chunk) ||
		    !msb_digest_valid(d) || !msb_digest_valid(raw))
			goto bad;
		end = (uint64_t)off + (uint64_t)len;
		/* whole windows, except the disk's last */
		if (end > (uint64_t)size ||
		    (len != chunk && end != (uint64_t)size) ||
		    (i && (uint64_t)off <= m->v[i - 1].off))
			goto bad;
		k->off = (uint64_t)off;
		k->len = (uint32_t)len;
		k->zlen = (uint64_t)zlen;
		snprintf(k->digest, sizeof(k->digest), "%s", d);
		snprintf(k->raw, sizeof(k->raw), "%s", raw);
		m->n++;
	}
	return 0;
bad:
	msb_disk_map_free(m);
	return msb_fail(err, -EPROTO,
			"the disk map has a bad chunk entry (offsets must be "
			"whole chunks, sorted, inside the disk; digests "
			"sha256)");
}
