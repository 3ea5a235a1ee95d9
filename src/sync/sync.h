/* SPDX-License-Identifier: Apache-2.0 */
/* sync.h - sandboxes as OCI artifacts: push to a registry, pull anywhere
 *
 * Theory of operation (docs/sync.md): a pushed sandbox is an OCI image
 * manifest whose artifactType is MSB_SANDBOX_ARTIFACT. Its config blob
 * (MSB_SANDBOX_CONFIG) holds what the sandbox is made of (its image by
 * digest, cpus, memory, env, volumes, network policy, secret specs: never a
 * secret's value) and the map of its writable disk; its layers are that
 * disk in chunks. The disk (a sparse ext4 image) is cut at fixed,
 * chunk-aligned offsets; a window with no data, or only zeros, is a hole
 * and is not stored. Each chunk is compressed with zstd and stored as a
 * blob named by the sha256 of the compressed bytes; the map also keeps the
 * sha256 of the raw bytes, checked again when a pull writes them. The same
 * bytes give the same blob, so a second push uploads only the chunks that
 * changed, and a pull fetches only the chunks it cannot take from the
 * local copy it last synced.
 *
 * What a sandbox last synced (the artifact it was pushed as or pulled
 * from, the disk map of that moment) is kept in the state database's sync
 * table: the next push names it as its parent, and a pull refuses to
 * replace a local sandbox whose disk has changed since.
 */
#ifndef MSB_SYNC_H
#define MSB_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "msb.h"

#define MSB_SANDBOX_ARTIFACT "application/vnd.microsandbox.sandbox.v1+json"
#define MSB_SANDBOX_CONFIG "application/vnd.microsandbox.sandbox.config.v1+json"
#define MSB_CHUNK_MEDIA "application/vnd.microsandbox.disk.chunk.v1+zstd"
#define MSB_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"

/* The chunk size of new pushes (docs/sync.md has the measurements that
 * chose it); a pull takes any power of two in [MIN, MAX]. */
#define MSB_CHUNK_SIZE (1u << 20)
#define MSB_CHUNK_MIN (64u << 10)
#define MSB_CHUNK_MAX (64u << 20)
/* A disk of at most 1 TiB, an artifact config of at most 64 MiB. */
#define MSB_DISK_MAX (1ull << 40)
#define MSB_ARTIFACT_CONFIG_MAX (64u << 20)
#define MSB_ARTIFACT_MANIFEST_MAX (32u << 20)

/* ---- the disk map (chunks.c) ------------------------------------------- */
struct msb_chunk {
	uint64_t off;
	uint32_t len;          /* raw bytes: the chunk size, less at the end */
	uint64_t zlen;         /* the blob's size (0 while unknown) */
	char digest[72];       /* the blob: sha256 of the compressed bytes */
	char raw[72];          /* sha256 of the raw bytes */
};

struct msb_disk_map {
	uint64_t size;         /* of the disk file */
	uint32_t chunk;        /* chunk size */
	struct msb_chunk *v;   /* by offset */
	size_t n;
};

void msb_disk_map_free(struct msb_disk_map *m);

/* msb_disk_scan() - the chunks of the disk open at @fd: the raw sha256 of
 * every chunk-aligned window holding a non-zero byte (digest[] left
 * empty). @progress (may be NULL) gets the bytes of the file passed. */
int msb_disk_scan(int fd, uint32_t chunk, struct msb_disk_map *m,
		  void (*progress)(void *ctx, uint64_t done, uint64_t total),
		  void *ctx, msb_error *err);

/* msb_chunk_pack() - compress @len raw bytes into *@z (malloc'd, *@zlen
 * bytes) and name the blob (@digest). */
int msb_chunk_pack(const void *raw, size_t len, void **z, size_t *zlen,
		   char digest[72], msb_error *err);
/* msb_chunk_unpack() - a blob back into exactly @len raw bytes at @out,
 * which must hash to @raw_digest. Hostile input: bounded, checked. */
int msb_chunk_unpack(const void *z, size_t zlen, void *out, size_t len,
		     const char *raw_digest, msb_error *err);
/* msb_pwrite_sparse() - write @len bytes at @off, skipping whole 4 KiB
 * blocks of zeros so the file stays sparse. */
int msb_pwrite_sparse(int fd, const void *buf, size_t len, uint64_t off);
/* msb_sha256_hex() - "sha256:HEX" of @len bytes. */
void msb_sha256_digest(const void *buf, size_t len, char out[72]);

/* The map as JSON: {"size", "chunk_size", "chunks": [[off, len, digest,
 * raw, zlen], ...]}, and back (checked: sorted, aligned, inside the disk,
 * valid digests; the config of a pulled artifact is hostile). */
json_object *msb_disk_map_json(const struct msb_disk_map *m);
int msb_disk_map_parse(json_object *o, struct msb_disk_map *m,
		       msb_error *err);

/* ---- the artifact (artifact.c) ----------------------------------------- */
struct msb_artifact {
	json_object *doc;      /* the whole config blob */
	char name[64];         /* the sandbox it was pushed from */
	char parent[80];       /* the push it was based on, or "" */
	char image[700];       /* canonical reference, or "default" */
	char image_digest[80]; /* its manifest (or index) digest, or "" */
	char image_display[256];
	unsigned cpus;
	uint64_t memory_mib;
	json_object *config;   /* the sandbox's record config (borrowed) */
	struct msb_disk_map map;
};

void msb_artifact_free(struct msb_artifact *a);
/* msb_artifact_parse() - a config blob, checked field by field. */
int msb_artifact_parse(const char *buf, size_t len, struct msb_artifact *a,
		       msb_error *err);

/* The manifest: what a pull needs from it. */
struct msb_artifact_manifest {
	int is_sandbox;        /* artifactType or config mediaType say so */
	char config_digest[80];
	uint64_t config_size;
	struct { char digest[72]; uint64_t size; } *layers;
	size_t nlayers;
};
void msb_artifact_manifest_free(struct msb_artifact_manifest *m);
/* msb_artifact_manifest_parse() - @media_type is the Content-Type the
 * registry sent (may be ""). is_sandbox set and nothing else for an image's
 * manifest or an index. */
int msb_artifact_manifest_parse(const char *buf, size_t len,
				const char *media_type,
				struct msb_artifact_manifest *m,
				msb_error *err);
/* msb_artifact_manifest_json() - the manifest of an artifact whose config
 * blob is @cfg_digest (@cfg_size bytes) and whose disk is @map: its
 * distinct chunk blobs as layers, by first offset. */
char *msb_artifact_manifest_json(const char *cfg_digest, uint64_t cfg_size,
				 const struct msb_disk_map *map,
				 const char *name);

/* msb_sync_record_config() - a record config from an artifact's @in,
 * every key checked and rebuilt as msb_sandbox_create() builds it. With
 * @trust the settings that reach into this host (volumes, secret
 * sources, a network plugin, opened ranges, published ports, extra CAs)
 * are kept; without, they are dropped and named in @dropped. */
int msb_sync_record_config(json_object *in, int trust, json_object **out,
			   char *dropped, size_t dn, msb_error *err);

/* ---- the sync table (syncdb.c) ------------------------------------------ */
struct msb_sync_row {
	char name[64];
	char reference[700];   /* canonical: pushed to / pulled from */
	char digest[80];       /* that artifact's manifest */
	char *map;             /* JSON disk map of that moment */
	int64_t disk_mtime_ns; /* of upper.ext4 then */
	int64_t synced_at;
};
void msb_sync_row_free(struct msb_sync_row *r);
/* Return: 0, -ENOENT when the sandbox was never synced. */
int msb_sync_db_get(sqlite3 *db, const char *name, struct msb_sync_row *r,
		    msb_error *err);
int msb_sync_db_put(sqlite3 *db, const struct msb_sync_row *r,
		    msb_error *err);

/* ---- the remote (remote.c) ---------------------------------------------- */
/* msb_sync_target() - the canonical reference @arg names: a reference with
 * a registry host as it is, a bare sandbox name under the remote
 * (REMOTE/NAME:latest). @insecure set when the remote was set so.
 * Return: 0, -ENOENT for a bare name with no remote set. */
int msb_sync_target(const char *arg, char *ref, size_t n, int *insecure,
		    msb_error *err);

#endif
