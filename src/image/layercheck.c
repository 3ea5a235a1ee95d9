/* SPDX-License-Identifier: Apache-2.0 */
/* layercheck.c - a stored layer image checked where it is used, and made
 * again from its blobs when it is damaged
 *
 * Theory of operation: a pull syncs every blob it stores, but renames each
 * converted layer image into <home>/layers unsynced (an fsync there cost a
 * third of a pull, docs/performance.md). After a power cut or a crash, an
 * image the state database says is pulled can be short, zero-filled or
 * gone. So before a sandbox boots from its layers, each one in the store
 * is checked, for the price of a stat and a 4 KiB read: it is there, it is
 * the size recorded when it was made (the layers table; a disk made before
 * that table existed has no size recorded, and its superblock alone
 * speaks), and its EROFS superblock is sane (the magic, a block size the
 * guest can mount, the superblock's checksum, and a block count that is
 * the file's size). A damaged one is converted again from its blobs, which
 * are verified against their digests first, and replaced by rename(2)
 * under an flock(2) on <home>/layers, so two msb processes finding the same
 * damage do not both convert: the second finds it whole when its turn
 * comes. What cannot be made again here (a blob gone or itself damaged) is
 * MSB_E_DAMAGED, saying which image to pull; a pull then fetches what is
 * missing and repairs the layer.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "image.h"
#include "state.h"
#include "util.h"

/* EROFS on-disk format (linux/fs/erofs/erofs_fs.h): the superblock is 128
 * bytes at byte 1024 of the image. */
#define EROFS_SUPER_OFFSET 1024
#define EROFS_SUPER_SIZE 128
#define EROFS_SUPER_MAGIC 0xE0F5E1E2u
#define EROFS_FEATURE_COMPAT_SB_CHKSUM 0x1u
#define SB_CHECKSUM 4
#define SB_FEATURE_COMPAT 8
#define SB_BLKSZBITS 12
#define SB_BLOCKS 36

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & -(c & 1));
		crc_table[i] = c;
	}
}

/* crc32c() - CRC-32C (Castagnoli, reflected), from @crc, without the
 * final inversion: the kernel's crc32c(), which EROFS's checksum uses. */
static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
	pthread_once(&crc_once, crc_init);
	while (n--)
		crc = (crc >> 8) ^ crc_table[(crc ^ *p++) & 0xff];
	return crc;
}

int msb_erofs_check(const unsigned char *buf, size_t len, uint64_t size,
		    char *why, size_t n)
{
	const unsigned char *sb = buf + EROFS_SUPER_OFFSET;
	unsigned char copy[4096 - EROFS_SUPER_OFFSET];
	uint32_t magic, blocks, sum;
	unsigned bits;
	size_t i;

	if (len < EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE) {
		snprintf(why, n, "it is %llu bytes, too short for an EROFS "
			 "superblock", (unsigned long long)size);
		return -1;
	}
	magic = msb_get_le32(sb);
	if (magic != EROFS_SUPER_MAGIC) {
		for (i = 0; i < EROFS_SUPER_SIZE && !sb[i]; i++)
			;
		if (i == EROFS_SUPER_SIZE)
			snprintf(why, n, "its EROFS superblock is zeroed");
		else
			snprintf(why, n, "it has no EROFS superblock (0x%08x "
				 "where the magic 0x%08x goes)",
				 magic, EROFS_SUPER_MAGIC);
		return -1;
	}
	/* 512 bytes to a page: what the kernel mounts */
	bits = sb[SB_BLKSZBITS];
	if (bits < 9 || bits > 12) {
		snprintf(why, n, "its EROFS superblock gives a block size of "
			 "2^%u bytes", bits);
		return -1;
	}
	blocks = msb_get_le32(sb + SB_BLOCKS);
	if ((uint64_t)blocks << bits != size) {
		snprintf(why, n, "its EROFS superblock counts %u blocks of %u "
			 "bytes (%llu) but it is %llu bytes",
			 blocks, 1u << bits,
			 (unsigned long long)blocks << bits,
			 (unsigned long long)size);
		return -1;
	}
	/* The checksum covers the rest of the superblock's block, its own
	 * field taken as 0 (linux/fs/erofs/super.c,
	 * erofs_superblock_csum_verify()); with 4 KiB blocks, all a 6.1
	 * guest mounts, that is bytes 1024 to 4096. */
	if ((msb_get_le32(sb + SB_FEATURE_COMPAT) &
	     EROFS_FEATURE_COMPAT_SB_CHKSUM) && bits == 12) {
		if (len < 4096) {
			snprintf(why, n, "it is %llu bytes, shorter than its "
				 "first block", (unsigned long long)size);
			return -1;
		}
		memcpy(copy, sb, sizeof(copy));
		memset(copy + SB_CHECKSUM, 0, 4);
		sum = crc32c(~0u, copy, sizeof(copy));
		if (sum != msb_get_le32(sb + SB_CHECKSUM)) {
			snprintf(why, n, "its EROFS superblock's checksum is "
				 "wrong (0x%08x, computed 0x%08x)",
				 msb_get_le32(sb + SB_CHECKSUM), sum);
			return -1;
		}
	}
	return 0;
}

int msb_layer_whole(const char *path, uint64_t recorded, char *why, size_t n)
{
	unsigned char buf[4096];
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), e;

	if (fd < 0) {
		e = errno;
		snprintf(why, n, e == ENOENT ? "it is missing" :
			 "it cannot be opened: %s", strerror(e));
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, n, "it is not a regular file");
		return 0;
	}
	if (recorded && (uint64_t)st.st_size != recorded) {
		close(fd);
		snprintf(why, n, "it is %llu bytes, %llu when it was made",
			 (unsigned long long)st.st_size,
			 (unsigned long long)recorded);
		return 0;
	}
	got = pread(fd, buf, sizeof(buf), 0);
	e = errno;
	close(fd);
	if (got < 0) {
		snprintf(why, n, "it cannot be read: %s", strerror(e));
		return 0;
	}
	return msb_erofs_check(buf, (size_t)got, (uint64_t)st.st_size, why,
			       n) == 0;
}

/* ---- the layers table: each disk's size when it was made ---------------- */

uint64_t msb_layer_db_size(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	uint64_t size = 0;

	/* (no table: a database opened read-only before its migration) */
	if (!db || sqlite3_prepare_v2(db, "SELECT size FROM layers WHERE "
				      "name = ?", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		size = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return size;
}

int msb_layer_db_record(sqlite3 *db, const char *name)
{
	char p[PATH_MAX];
	sqlite3_stmt *st;
	struct stat s;
	int rc;

	msb_layer_path(name, p, sizeof(p));
	if (stat(p, &s) < 0)
		return -errno;
	if (msb_layer_db_size(db, name) == (uint64_t)s.st_size)
		return 0;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO layers (name, "
			       "size, made_at) VALUES (?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)s.st_size);
	sqlite3_bind_int64(st, 3, msb_wall_s());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* ---- before a boot ------------------------------------------------------ */

/* store_name() - NAME of a path <home>/layers/NAME.erofs, into @name;
 * Return: 0, or -1 for a disk from elsewhere (the built-in image). */
static int store_name(const char *path, char *name, size_t n)
{
	char dir[PATH_MAX];
	size_t dl, pl = strlen(path);

	snprintf(dir, sizeof(dir), "%s/layers/", msb_home());
	dl = strlen(dir);
	if (pl <= dl + 6 || strncmp(path, dir, dl) ||
	    strcmp(path + pl - 6, ".erofs") || memchr(path + dl, '/', pl - dl) ||
	    pl - dl - 6 >= n)
		return -1;
	snprintf(name, n, "%.*s", (int)(pl - dl - 6), path + dl);
	return 0;
}

/* sources() - which layers of which image disk @name was made from: an
 * image record whose layers, made into at most 1..MSB_IMAGE_MAX_DISKS
 * disks as msb_image_disks() makes them, give that name. Fills @blobs
 * (store paths, PATH_MAX each) and @ids (diff_ids, 80 each), @ref (the
 * image's reference). Return: the number of layers, 0 if no image here
 * was, or <0. */
static int sources(sqlite3 *db, const char *name, char (*blobs)[PATH_MAX],
		   char (*ids)[80], char *ref, size_t rn)
{
	sqlite3_stmt *st;
	int found = 0;

	if (!db || sqlite3_prepare_v2(db, "SELECT reference, config, layers "
				      "FROM images ORDER BY pulled_at DESC",
				      -1, &st, NULL) != SQLITE_OK)
		return 0;
	while (!found && sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 2);
		json_object *layers = t ? json_tokener_parse(t) : NULL, *cfg;
		const char *dig[MSB_IMAGE_MAX_LAYERS], *id[MSB_IMAGE_MAX_LAYERS];
		size_t nl = layers && json_object_is_type(layers,
							  json_type_array) ?
				    json_object_array_length(layers) :
				    0;
		unsigned first, count;

		t = (const char *)sqlite3_column_text(st, 1);
		cfg = t ? json_tokener_parse(t) : NULL;
		if (!nl || nl > MSB_IMAGE_MAX_LAYERS ||
		    msb_image_diff_ids(cfg, (unsigned)nl, id, NULL) < 0)
			goto next;
		for (size_t i = 0; i < nl; i++) {
			dig[i] = json_object_get_string(
				json_object_array_get_idx(layers, i));
			if (!dig[i] || !msb_digest_valid(dig[i]))
				goto next;
		}
		for (unsigned max = MSB_IMAGE_MAX_DISKS; max && !found; max--) {
			if (!msb_image_disk_of(dig, (unsigned)nl, max, name,
					       &first, &count))
				continue;
			for (unsigned i = 0; i < count; i++) {
				msb_blob_path(dig[first + i], blobs[i],
					      PATH_MAX);
				snprintf(ids[i], 80, "%s", id[first + i]);
			}
			snprintf(ref, rn, "%s",
				 (const char *)sqlite3_column_text(st, 0));
			found = (int)count;
		}
next:
		json_object_put(layers);
		json_object_put(cfg);
	}
	sqlite3_finalize(st);
	return found;
}

/* ready() - disk @name (at @path), found damaged (@why), made again. */
static int ready(sqlite3 *db, const char *name, const char *path,
		 uint64_t recorded, const char *why, const char *image,
		 msb_error *err)
{
	char (*blobs)[PATH_MAX] = malloc(MSB_IMAGE_MAX_LAYERS * PATH_MAX);
	char ids[MSB_IMAGE_MAX_LAYERS][80], ref[600] = "";
	const char *bp[MSB_IMAGE_MAX_LAYERS], *ip[MSB_IMAGE_MAX_LAYERS];
	int nb, r;

	if (!blobs)
		return msb_fail(err, -ENOMEM, "out of memory");
	nb = sources(db, name, blobs, ids, ref, sizeof(ref));
	if (nb <= 0) {
		free(blobs);
		return msb_fail(err, MSB_E_DAMAGED,
				"layer %s of the sandbox's image is damaged "
				"(%s), and no image here says what it was "
				"made from: run 'msb pull %s' again",
				path, why, image && *image ? image : "IMAGE");
	}
	for (int i = 0; i < nb; i++) {
		bp[i] = blobs[i];
		ip[i] = ids[i];
	}
	r = msb_layer_repair(bp, ip, (unsigned)nb, name, recorded, why, ref,
			     err);
	if (r == 0 && db)
		msb_layer_db_record(db, name);
	free(blobs);
	return r;
}

int msb_layers_ready(sqlite3 *given, json_object *paths, const char *image,
		     msb_error *err)
{
	sqlite3 *db = given;
	int r = 0, opened = given != NULL;

	for (size_t i = 0; r == 0 && paths &&
			   i < json_object_array_length(paths);
	     i++) {
		const char *p = json_object_get_string(
			json_object_array_get_idx(paths, i));
		char name[256], why[200];
		uint64_t recorded;

		if (!p || store_name(p, name, sizeof(name)) < 0) {
			if (!p || access(p, R_OK) < 0)
				r = msb_fail(err, -ENOENT,
					     "a layer of the sandbox's image is "
					     "missing (%s): pull the image "
					     "again",
					     p ? p : "?");
			continue;
		}
		/* (without the database, the superblock alone speaks) */
		if (!opened++ && msb_db_open(NULL, &db, NULL) < 0)
			db = NULL;
		recorded = msb_layer_db_size(db, name);
		if (!msb_layer_whole(p, recorded, why, sizeof(why)))
			r = ready(db, name, p, recorded, why, image, err);
	}
	if (db && !given)
		msb_db_close(db);
	return r;
}
