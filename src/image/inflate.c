/* SPDX-License-Identifier: Apache-2.0 */
/* inflate.c - a gzip layer decompressed in one call, for libarchive
 *
 * Most image layers are gzip (image-spec's "tar+gzip"), and inflating them
 * is most of a pull's conversion: zlib, which libarchive's gzip filter
 * runs, took 0.20 s for the 48 MB Debian layer of the tests where
 * libdeflate takes 0.07 s (docs/performance.md). libdeflate only inflates
 * whole buffers, so a layer that is gzip and decompresses to at most
 * INFLATE_MAX bytes is inflated here, from its mapped blob into anonymous
 * memory reserved up front (only the size the gzip trailer gives is
 * touched, made ready on a second thread as libdeflate writes), and
 * libarchive reads that through the same filters as a file (so what it
 * accepts is what it accepted before: the filters find nothing more to
 * strip from a tar). Anything else, or anything unexpected on the way
 * (a member libdeflate calls bad, bytes after the last member that are
 * not one, more than INFLATE_MAX), leaves libarchive to read the blob
 * as it streams: its results and errors are the ones users saw before,
 * the speed alone differs.
 */

#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <archive.h>
#include <libdeflate.h>

#include "unpack.h"

/* What a layer may decompress to and take this path: above it, memory
 * would grow with the layer, which streaming does not. */
#define INFLATE_MAX (256ull << 20)

struct mem {
	unsigned char *p;
	size_t len;
	int given;
};

static la_ssize_t mem_read(struct archive *a, void *data, const void **buf)
{
	struct mem *m = data;

	(void)a;
	if (m->given)
		return 0;
	m->given = 1;
	*buf = m->p;
	return (la_ssize_t)m->len;
}

static int mem_close(struct archive *a, void *data)
{
	struct mem *m = data;

	(void)a;
	munmap(m->p, INFLATE_MAX);
	free(m);
	return ARCHIVE_OK;
}

/* inflate_all() - the gzip members that are the whole of @in into @out
 * (INFLATE_MAX bytes). Return: the bytes written, or -1. */
static long long inflate_all(const unsigned char *in, size_t n,
			     unsigned char *out)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	size_t off = 0, len = 0, used, made;
	long long r = -1;

	if (!d)
		return -1;
	while (off < n) {
		if (n - off < 18 || in[off] != 0x1f || in[off + 1] != 0x8b)
			goto out;
		if (libdeflate_gzip_decompress_ex(d, in + off, n - off,
						  out + len, INFLATE_MAX - len,
						  &used, &made) !=
		    LIBDEFLATE_SUCCESS)
			goto out;
		off += used;
		len += made;
	}
	r = (long long)len;
out:
	libdeflate_free_decompressor(d);
	return r;
}

struct prefault {
	unsigned char *p;
	size_t len;
};

static void *prefault(void *arg)
{
	struct prefault *f = arg;

	madvise(f->p, f->len, MADV_POPULATE_WRITE);
	return NULL;
}

/* inflate_open() - @a reading the layer in @fd decompressed from memory,
 * which @mem and @len are set to (when not NULL). Return: 0, or -1 when
 * the layer does not take this path (nothing of @a or @fd was touched). */
static int inflate_open(struct archive *a, int fd, const unsigned char **mem,
			size_t *len_out)
{
	struct stat st;
	unsigned char *in;
	struct mem *m;
	struct prefault f;
	pthread_t th;
	long long len;
	int gz, ready;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 18 ||
	    (unsigned long long)st.st_size > INFLATE_MAX)
		return -1;
	in = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (in == MAP_FAILED)
		return -1;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail;
	m->p = mmap(NULL, INFLATE_MAX, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->p == MAP_FAILED)
		goto fail;
	/* The memory it will take (the size the last gzip member says: all
	 * of it for a layer of one member) made ready on a second thread
	 * while libdeflate fills it; faulted in a page at a time as it was
	 * written, it was a sixth of the inflating (docs/performance.md). A
	 * wrong size costs only memory touched for nothing, at most what
	 * DEFLATE can make of the blob (1032 times it) and INFLATE_MAX. */
	f.p = m->p;
	f.len = (size_t)in[st.st_size - 4] | (size_t)in[st.st_size - 3] << 8 |
		(size_t)in[st.st_size - 2] << 16 |
		(size_t)in[st.st_size - 1] << 24;
	if (f.len > 1032 * (size_t)st.st_size)
		f.len = 1032 * (size_t)st.st_size;
	if (f.len > INFLATE_MAX)
		f.len = INFLATE_MAX;
	gz = in[0] == 0x1f && in[1] == 0x8b;
	ready = gz && f.len >= (1u << 20) &&
		pthread_create(&th, NULL, prefault, &f) == 0;
	len = gz ? inflate_all(in, st.st_size, m->p) : -1;
	if (ready)
		pthread_join(th, NULL);
	if (len < 0)
		goto fail;
	munmap(in, st.st_size);
	m->len = (size_t)len;
	if (mem) {
		*mem = m->p;
		*len_out = m->len;
	}
	return archive_read_open(a, m, NULL, mem_read, mem_close) ==
			       ARCHIVE_OK ?
		       0 :
		       -2;
fail:
	munmap(in, st.st_size);
	if (m && m->p != MAP_FAILED && m->p)
		munmap(m->p, INFLATE_MAX);
	free(m);
	return -1;
}

int unpack_open_fd(struct archive *a, int fd, const unsigned char **mem,
		   size_t *len)
{
	int r;

	if (mem)
		*mem = NULL;
	r = inflate_open(a, fd, mem, len);

	if (r == 0)
		return ARCHIVE_OK;
	if (r == -2)
		return ARCHIVE_FATAL;
	return archive_read_open_fd(a, fd, 1 << 16);
}
