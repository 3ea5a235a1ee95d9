/* SPDX-License-Identifier: Apache-2.0 */
/* unpack.h - layer archives onto a directory (the msb-unpack helper only:
 * it links libarchive, the library does not) */
#ifndef MSB_UNPACK_H
#define MSB_UNPACK_H

#include <stddef.h>
#include <limits.h>
#include <stdint.h>

/* Defaults; $MSB_LAYER_MAX_ENTRIES and $MSB_LAYER_MAX_BYTES lower them. */
#define UNPACK_MAX_ENTRIES 1000000ull
#define UNPACK_MAX_BYTES (64ull << 30)

struct unpack_limits {
	uint64_t max_entries;   /* entries of all layers of one run */
	uint64_t max_bytes;     /* file data of all layers of one run */
};

/* unpack_layer() - apply the tar stream in @fd (gzip, zstd, xz, bzip2 or
 * none) onto the directory @rootfd, OCI whiteouts made overlayfs ones;
 * @entries and @bytes accumulate. Return: 0, or -ENOSPC (the disk is
 * full) or -1 with @why set. */
int unpack_layer(int fd, int rootfd, const struct unpack_limits *lim,
		 uint64_t *entries, uint64_t *bytes, char *why, size_t n);

/* unpack_diff_id() - the sha256 of the layer in @fd once decompressed
 * (its DiffID, image-spec §config "rootfs.diff_ids") as 64 hex digits in
 * @hex. Return: 0, or -1 with @why set. */
int unpack_diff_id(int fd, char hex[65], char *why, size_t n);

/* unpack_deletions() - apply the whiteouts of the tar stream in @fd to
 * what is already under @rootfd (merging layers). Return: 0 or -1. */
int unpack_deletions(int fd, int rootfd, char *why, size_t n);

/* unpack_to_tar() - the layer in @fd as a tar stream written to @outfd,
 * checked and normalised by unpack_layer()'s rules (tarstream.c), for
 * mkfs.erofs --tar --aufs; decompressed once, and refused before the
 * stream ends if that is not @diff_id (64 hex digits; NULL or "": not
 * checked); @entries and @bytes accumulate. Return: 0, or -1 with @why
 * set. */
int unpack_to_tar(int fd, int outfd, const char *diff_id,
		  const struct unpack_limits *lim, uint64_t *entries,
		  uint64_t *bytes, char *why, size_t n);

/* unpack_split() - the components of a relative tar path in @p (changed
 * in place) into @comp; "." ones dropped. Return: the count, or -1 for an
 * absolute path, a ".." component or more than @max. */
int unpack_split(char *p, char **comp, int max);

/* unpack_entry_path() - the next entry, named @orig, counted against
 * @lim (@entries accumulates), its name copied into @path and split into
 * @comp as unpack_split() does. Return: the count of components, or -1
 * with @why set (too many entries, no name, one too long, or one that
 * escapes the root). */
int unpack_entry_path(const struct unpack_limits *lim, uint64_t *entries,
		      const char *orig, char path[PATH_MAX],
		      char *comp[PATH_MAX / 2], char *why, size_t n);

/* unpack_count_bytes() - @len more bytes of file data against @lim
 * (@bytes accumulates). Return: 0, or -1 with @why set. */
int unpack_count_bytes(const struct unpack_limits *lim, uint64_t *bytes,
		       size_t len, char *why, size_t n);

struct archive;
/* unpack_open_archive() - a libarchive reader of the tar stream in @fd,
 * with only the compressions OCI layers use. Return: 0 or -1. */
int unpack_open_archive(struct archive **out, int fd);

/* unpack_open_raw() - a libarchive reader of the layer in @fd
 * decompressed, as one raw entry whose header is read (for its DiffID).
 * @mem (may be NULL): set to the memory the layer was inflated into
 * (inflate.c) when the reader's data is that memory as it is, @len to its
 * size (both live until the reader is freed); else NULL. Return: the
 * reader, or NULL with @why set. */
struct archive *unpack_open_raw(int fd, const unsigned char **mem,
				size_t *len, char *why, size_t n);

/* unpack_open_fd() - open @a (its filters and formats chosen) on the layer
 * in @fd: a gzip layer of up to 256 MiB decompressed is inflated in one
 * call first (inflate.c), anything else streamed from @fd. @mem (may be
 * NULL): set to the inflated memory, @len to its size, or NULL when the
 * layer is streamed. Return: what archive_read_open() returns. */
int unpack_open_fd(struct archive *a, int fd, const unsigned char **mem,
		   size_t *len);

#endif
