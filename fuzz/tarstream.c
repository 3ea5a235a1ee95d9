/* SPDX-License-Identifier: Apache-2.0 */
/* tarstream.c - libFuzzer target: image layers into src/image/tarstream.c
 *
 * The same hostile layers as fuzz/unpack.c (seeded from its corpus), passed
 * through unpack_to_tar() as msb-unpack --mkfs-tar passes them to
 * mkfs.erofs. What comes out is read back with libarchive and checked,
 * beyond the sanitizers: when the layer was accepted, every entry's name is
 * relative and has no "." or ".." component and no empty one, every hard
 * link names an earlier non-directory entry of the stream, and no xattr
 * but trusted.overlay.opaque="y" of ours is in trusted.overlay.*; a
 * refused layer says why; and the layer's own DiffID, when it has one, is
 * never what refused it.
 *
 * Each layer is then passed again on a socket, as a pull sends a layer
 * still downloading (inflated as it arrives, inflate.c's stream): what it
 * accepts so, the file accepted too (unless zlib refuses its DEFLATE
 * itself: ISA-L decodes some that zlib does not), its stream is checked
 * the same way, and its own DiffID never refuses it.
 *
 * Build and run: make build/fuzz/tarstream && build/fuzz/tarstream fuzz/corpus/unpack
 */

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int clean_name(const char *p)
{
	const char *s = p;

	if (!strcmp(p, ".") || !strcmp(p, "./"))
		return 1; /* the root */
	if (!*p || *p == '/')
		return 0;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (len == 0 && e && e[1])
			return 0;
		if ((len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		if (!e)
			break;
		s = e + 1;
	}
	return 1;
}

/* check() - the stream in @fd, as the header says. */
static void check(int fd)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char **names = NULL;
	int *dirs = NULL;
	size_t nn = 0;

	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 4096) != ARCHIVE_OK)
		abort();
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e), *hl;
		const char *name;
		const void *val;
		size_t len;

		if (!p || !clean_name(p))
			abort();
		hl = archive_entry_hardlink(e);
		if (hl) {
			size_t i;

			for (i = 0; i < nn; i++)
				if (!strcmp(names[i], hl) && !dirs[i])
					break;
			if (i == nn)
				abort();
		}
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &name, &val, &len) ==
		       ARCHIVE_OK)
			if (!strncmp(name, "trusted.overlay.", 16) &&
			    (strcmp(name, "trusted.overlay.opaque") || len != 1 ||
			     *(const char *)val != 'y'))
				abort();
		names = realloc(names, (nn + 1) * sizeof(*names));
		dirs = realloc(dirs, (nn + 1) * sizeof(*dirs));
		names[nn] = strdup(p);
		dirs[nn] = archive_entry_filetype(e) == AE_IFDIR && !hl;
		nn++;
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(dirs);
	archive_read_free(a);
}

struct sender {
	int fd;
	const uint8_t *data;
	size_t n;
};

/* (in pieces, as a download comes; a reader that stops ends it) */
static void *send_all(void *arg)
{
	struct sender *s = arg;
	size_t off = 0;

	while (off < s->n) {
		size_t k = s->n - off < 7000 ? s->n - off : 7000;
		ssize_t w = send(s->fd, s->data + off, k, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(s->fd);
	return NULL;
}

/* streamed() - the layer through a socket into unpack_to_tar(). Return:
 * 0 accepted (its stream checked), -1 refused. */
static int streamed(const uint8_t *data, size_t n, const char *id)
{
	struct unpack_limits lim = { 2000, 8u << 20 };
	uint64_t entries = 0, bytes = 0;
	char why[1024] = "";
	int sv[2], out = memfd_create("stream", MFD_CLOEXEC), r;
	struct sender s;
	pthread_t th;

	if (out < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	s = (struct sender){ sv[0], data, n };
	if (pthread_create(&th, NULL, send_all, &s))
		abort();
	r = unpack_to_tar(sv[1], out, id, &lim, &entries, &bytes, why,
			  sizeof(why));
	close(sv[1]);
	pthread_join(th, NULL);
	if (r == 0) {
		lseek(out, 0, SEEK_SET);
		check(out);
	} else if (!why[0]) {
		abort();
	} else if (id && strstr(why, "it decompresses to")) {
		fprintf(stderr, "streamed, its own DiffID refused: %s\n", why);
		abort();
	}
	close(out);
	return r == 0 ? 0 : -1;
}

/* zlib_decodes() - is the layer gzip members only, each of which zlib
 * decodes (or no gzip at all)? ISA-L decodes some DEFLATE that zlib and
 * libdeflate refuse (an incomplete set of Huffman codes, as RFC 1951
 * allows): such a layer is accepted from a socket when its CRC and its
 * DiffID are right, and refused from its file (docs/images.md). */
static int zlib_decodes(const uint8_t *data, size_t n)
{
	unsigned char out[16384];
	size_t off = 0;

	if (n < 2 || data[0] != 0x1f || data[1] != 0x8b)
		return 1;
	while (off < n) {
		z_stream z = { 0 };
		int r;

		if (inflateInit2(&z, 16 + 15) != Z_OK)
			abort();
		z.next_in = (unsigned char *)data + off;
		z.avail_in = (unsigned)(n - off);
		do {
			z.next_out = out;
			z.avail_out = sizeof(out);
			r = inflate(&z, Z_NO_FLUSH);
		} while (r == Z_OK);
		off = n - z.avail_in;
		inflateEnd(&z);
		if (r != Z_STREAM_END)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct unpack_limits lim = { 2000, 8u << 20 };
	uint64_t entries = 0, bytes = 0;
	char why[1024] = "", id[65];
	int in = memfd_create("layer", MFD_CLOEXEC);
	int out = memfd_create("stream", MFD_CLOEXEC);
	int have_id, accepted = 0;

	if (in < 0 || out < 0 || write(in, data, n) != (ssize_t)n ||
	    lseek(in, 0, SEEK_SET) < 0)
		abort();
	/* The layer's own DiffID, hashed as it is read (unpack_diff_id()),
	 * is checked again by unpack_to_tar() (hashed from memory on a
	 * thread of its own when the layer was inflated in one call): it
	 * must agree, whatever the layer, and a refusal must not race the
	 * thread (the sanitizers watch). */
	have_id = unpack_diff_id(in, id, why, sizeof(why)) == 0;
	if (lseek(in, 0, SEEK_SET) < 0)
		abort();
	why[0] = '\0';
	if (unpack_to_tar(in, out, have_id ? id : NULL, &lim, &entries,
			  &bytes, why, sizeof(why)) == 0) {
		lseek(out, 0, SEEK_SET);
		check(out);
		accepted = 1;
	} else if (!why[0]) {
		abort(); /* refused without a word */
	} else if (have_id && strstr(why, "it decompresses to")) {
		fprintf(stderr, "its own DiffID refused: %s\n", why);
		abort();
	}
	if (streamed(data, n, have_id ? id : NULL) == 0 && !accepted &&
	    zlib_decodes(data, n)) {
		fprintf(stderr, "accepted streamed, refused from a file: %s\n",
			why);
		abort();
	}
	close(in);
	close(out);
	return 0;
}
