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
 *
 * A layer that arrives on a socket (msb-unpack given a pull's download as
 * it comes, store.c's msb_layer_stream_start()) cannot wait
 * to be whole: a second thread inflates it as it is read, with ISA-L's
 * streaming inflate (as fast here as libdeflate's one call, where zlib
 * takes three times as long), into a ring the reader is given in pieces
 * as they are ready, so the layer is checked and written for mkfs.erofs
 * while it downloads. Gzip members follow each other as in a file; a
 * stream that is not gzip (nor begins with a member head as libarchive's
 * gzip filter takes one: DEFLATE, no reserved flag) passes through as it
 * is (libarchive's filters then find what it is); anything wrong in the gzip (a damaged member,
 * bytes after the last member that are not one, a stream that ends in a
 * member; a CRC that does not match, which libarchive lets pass) fails
 * the read: the caller then converts the blob again from its file, where
 * what is accepted and refused is as above. What is accepted here is
 * accepted from the file too, the same image (tests/e2e/test_unpack_tar.py,
 * fuzz/tarstream.c), but for DEFLATE with an incomplete set of Huffman
 * codes, which ISA-L decodes and zlib and libdeflate refuse
 * (docs/images.md).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <isa-l/igzip_lib.h>
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

/* ---- a layer as it arrives ------------------------------------------------ */

/* (fuzz/tarstream.c builds with small ones: each run allocates them, and
 * the ring's wrapping and waits come sooner) */
#ifndef INFLATE_RING
#define INFLATE_RING (8u << 20)
#define INFLATE_PIECE (1u << 20)
#define INFLATE_IN_BUF (256u << 10)
#endif
#define RING INFLATE_RING     /* inflated bytes between the two threads */
#define PIECE INFLATE_PIECE   /* at most this much inflated at a time */
#define IN_BUF INFLATE_IN_BUF /* read from the stream at a time */

struct stream {
	int fd;
	unsigned char *ring, *in;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t th;
	/* bytes of the layer inflated so far, and given to the reader
	 * (what it was given before its last call is free again) */
	unsigned long long made, given, freed;
	int end;        /* 1: all inflated; -1: failed, @why says why */
	int stop;       /* the reader is gone */
	char why[160];
};

/* room() - wait until the ring has room after @s->made; Return: the
 * contiguous room (at most PIECE), or 0 when the reader is gone. */
static size_t room(struct stream *s)
{
	size_t r;

	pthread_mutex_lock(&s->lock);
	while (!s->stop && s->made - s->freed == RING)
		pthread_cond_wait(&s->cond, &s->lock);
	r = s->stop ? 0 : RING - (size_t)(s->made - s->freed);
	pthread_mutex_unlock(&s->lock);
	if (r > RING - (size_t)(s->made % RING))
		r = RING - (size_t)(s->made % RING);
	return r > PIECE ? PIECE : r;
}

static void made(struct stream *s, size_t n)
{
	pthread_mutex_lock(&s->lock);
	s->made += n;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void finish(struct stream *s, int end, const char *why)
{
	pthread_mutex_lock(&s->lock);
	s->end = end;
	if (why)
		snprintf(s->why, sizeof(s->why), "%s", why);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* fill() - more of the stream into @in (what is left of it moved to its
 * start first). Return: bytes now there, 0 at its end, -1 on an error. */
static ssize_t fill(struct stream *s, const unsigned char **next,
		    size_t have)
{
	ssize_t n;

	memmove(s->in, *next, have);
	*next = s->in;
	while ((n = read(s->fd, s->in + have, IN_BUF - have)) < 0 &&
	       errno == EINTR)
		;
	return n < 0 ? -1 : (ssize_t)have + n;
}

/* fill_to() - at least @want bytes of the stream at @next (@have there
 * now), unless it ends first. Return: the bytes there (fewer than @want
 * at its end), -1 on an error. */
static ssize_t fill_to(struct stream *s, const unsigned char **next,
		       size_t have, size_t want)
{
	while (have < want) {
		ssize_t n = fill(s, next, have);

		if (n < 0)
			return -1;
		if ((size_t)n == have)
			break;
		have = (size_t)n;
	}
	return (ssize_t)have;
}

/* passthrough() - a stream that is not gzip, as it is. */
static void passthrough(struct stream *s, size_t have)
{
	const unsigned char *next = s->in;
	ssize_t n = (ssize_t)have;

	while (n > 0) {
		size_t off = 0;

		while (off < (size_t)n) {
			size_t r = room(s), k = (size_t)n - off;

			if (!r)
				return;
			if (k > r)
				k = r;
			memcpy(s->ring + s->made % RING, next + off, k);
			off += k;
			made(s, k);
		}
		n = fill(s, &next, 0);
	}
	finish(s, n < 0 ? -1 : 1, n < 0 ? "cannot read the layer" : NULL);
}

/* member_head() - @p (4 bytes) begins a gzip member as libdeflate and
 * libarchive's gzip filter take one: the magic, DEFLATE and no reserved
 * flag (RFC 1952 §2.3.1). ISA-L reads past reserved flags: a layer it
 * alone inflated would be another layer than the one its file is (whose
 * libarchive takes it for no gzip at all). */
static int member_head(const unsigned char *p)
{
	return p[0] == 0x1f && p[1] == 0x8b && p[2] == 8 && !(p[3] & 0xe0);
}

static void *inflater(void *arg)
{
	struct stream *s = arg;
	struct inflate_state st;
	const unsigned char *next = s->in;
	ssize_t have = 0;
	int member = 0; /* inside a gzip member */
	int full = 0;   /* the last call filled what room it had */

	/* (what it starts with: at least the four bytes of a member's
	 * head) */
	have = fill_to(s, &next, 0, 4);
	if (have < 0) {
		finish(s, -1, "cannot read the layer");
		return NULL;
	}
	if (!have) {
		finish(s, 1, NULL); /* empty: libarchive says */
		return NULL;
	}
	if (have < 4 || !member_head(s->in)) {
		passthrough(s, (size_t)have);
		return NULL;
	}
	for (;;) {
		size_t r;
		int e;

		/* (with nothing more to read, what ISA-L holds still comes
		 * out when it stopped for room) */
		if (!have && !(member && full)) {
			have = fill(s, &next, 0);
			if (have < 0) {
				finish(s, -1, "cannot read the layer");
				return NULL;
			}
			if (!have) {
				/* (the end: between members, or inside one) */
				finish(s, member ? -1 : 1,
				       member ? "the gzip stream ends inside a "
						"member" :
						NULL);
				return NULL;
			}
		}
		if (!member) {
			have = fill_to(s, &next, (size_t)have, 4);
			if (have < 4 || !member_head(next)) {
				finish(s, -1, have < 0 ? "cannot read the layer" :
					      "the gzip stream has bytes after its "
					      "last member that are not one");
				return NULL;
			}
			isal_inflate_init(&st);
			st.crc_flag = ISAL_GZIP;
			member = 1;
		}
		r = room(s);
		if (!r)
			return NULL;
		st.next_in = (uint8_t *)next;
		st.avail_in = (uint32_t)have;
		st.next_out = s->ring + s->made % RING;
		st.avail_out = (uint32_t)r;
		e = isal_inflate(&st);
		if (e < 0) {
			finish(s, -1, "the gzip stream is damaged");
			return NULL;
		}
		next = st.next_in;
		have = st.avail_in;
		full = st.avail_out == 0;
		made(s, r - st.avail_out);
		if (st.block_state == ISAL_BLOCK_FINISH)
			member = 0; /* the next bytes, if any, start one */
	}
}

static la_ssize_t stream_read(struct archive *a, void *data, const void **buf)
{
	struct stream *s = data;
	size_t n;

	pthread_mutex_lock(&s->lock);
	s->freed = s->given; /* the reader is done with it */
	pthread_cond_broadcast(&s->cond);
	while (s->made == s->given && !s->end)
		pthread_cond_wait(&s->cond, &s->lock);
	if (s->made == s->given) {
		pthread_mutex_unlock(&s->lock);
		if (s->end > 0)
			return 0;
		archive_set_error(a, EIO, "%s", s->why);
		return -1;
	}
	n = (size_t)(s->made - s->given);
	if (n > RING - (size_t)(s->given % RING))
		n = RING - (size_t)(s->given % RING);
	*buf = s->ring + s->given % RING;
	s->given += n;
	pthread_mutex_unlock(&s->lock);
	return (la_ssize_t)n;
}

static int stream_close(struct archive *a, void *data)
{
	struct stream *s = data;

	(void)a;
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* (a thread still waiting for the stream: its read ends) */
	shutdown(s->fd, SHUT_RD);
	pthread_join(s->th, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->ring);
	free(s->in);
	free(s);
	return ARCHIVE_OK;
}

/* stream_open() - @a reading the layer arriving on @fd as it is inflated.
 * Return: what archive_read_open() returns. */
static int stream_open(struct archive *a, int fd)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s || !(s->ring = malloc(RING)) || !(s->in = malloc(IN_BUF))) {
		if (s)
			free(s->ring);
		free(s);
		archive_set_error(a, ENOMEM, "out of memory");
		return ARCHIVE_FATAL;
	}
	s->fd = fd;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (pthread_create(&s->th, NULL, inflater, s)) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s->ring);
		free(s->in);
		free(s);
		archive_set_error(a, ENOMEM, "cannot start a thread");
		return ARCHIVE_FATAL;
	}
	return archive_read_open(a, s, NULL, stream_read, stream_close);
}

int unpack_open_fd(struct archive *a, int fd, const unsigned char **mem,
		   size_t *len)
{
	struct stat st;
	int r;

	if (mem)
		*mem = NULL;
	/* (a pipe is streamed by libarchive, as it always was) */
	if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
		return stream_open(a, fd);
	r = inflate_open(a, fd, mem, len);

	if (r == 0)
		return ARCHIVE_OK;
	if (r == -2)
		return ARCHIVE_FATAL;
	return archive_read_open_fd(a, fd, 1 << 16);
}
