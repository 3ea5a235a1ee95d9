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

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "image.h"
#include "msb.h"

#define MSB_SANDBOX_ARTIFACT "application/vnd.microsandbox.sandbox.v1+json"
#define MSB_SANDBOX_CONFIG "application/vnd.microsandbox.sandbox.config.v1+json"
#define MSB_SNAPSHOT_ARTIFACT "application/vnd.microsandbox.snapshot.v1+json"
#define MSB_SNAPSHOT_CONFIG "application/vnd.microsandbox.snapshot.config.v1+json"
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
/* A snapshot's device state: ~230 KB measured (docs/snapshots.md). */
#define MSB_SNAP_STATE_MAX (64ull << 20)

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
/* msb_pread_full() - read @len bytes at @off, retrying short reads.
 * Return: the bytes read, fewer than @len only where the file ends;
 * -errno on failure. */
ssize_t msb_pread_full(int fd, void *buf, size_t len, uint64_t off);
/* msb_sha256_hex() - "sha256:HEX" of @len bytes. */
void msb_sha256_digest(const void *buf, size_t len, char out[72]);

/* The map as JSON: {"size", "chunk_size", "chunks": [[off, len, digest,
 * raw, zlen], ...]}, and back (checked: sorted, aligned, inside the disk,
 * valid digests; the config of a pulled artifact is hostile). */
json_object *msb_disk_map_json(const struct msb_disk_map *m);
int msb_disk_map_parse(json_object *o, struct msb_disk_map *m,
		       msb_error *err);

/* ---- the artifact (artifact.c) ----------------------------------------- */
/* What a manifest is: an image (anything not ours), a sandbox, a snapshot
 * (a sandbox's memory and device state too, docs/snapshots.md). */
enum { MSB_KIND_IMAGE = 0, MSB_KIND_SANDBOX, MSB_KIND_SNAPSHOT };
/* msb_kind_name() - "image", "sandbox", "snapshot". */
const char *msb_kind_name(int kind);
/* msb_artifact_kind_of() - the kind an artifactType, else a config
 * mediaType, names (either may be NULL). */
int msb_artifact_kind_of(const char *artifact_type, const char *config_type);

struct msb_artifact {
	int kind;              /* MSB_KIND_SANDBOX or MSB_KIND_SNAPSHOT */
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
	/* a snapshot's: what it is (docs/snapshots.md's meta.json) */
	struct {
		char kind[8];          /* "full" or "disk" */
		char reason[256];
		char engine[64];       /* QEMU's version (full) */
		char agent[32];        /* the guest agent's version (full) */
		char source[64];       /* the sandbox it was taken of */
		int64_t created_at;
		int64_t next_stream;
		struct msb_disk_map ram, state; /* full only */
	} snap;
};

void msb_artifact_free(struct msb_artifact *a);
/* msb_artifact_parse() - a config blob of a @kind artifact, checked
 * field by field. */
int msb_artifact_parse(const char *buf, size_t len, int kind,
		       struct msb_artifact *a, msb_error *err);

/* The manifest: what a pull needs from it. */
struct msb_artifact_manifest {
	int kind;              /* artifactType or config mediaType say so */
	char config_digest[80];
	uint64_t config_size;
	struct { char digest[72]; uint64_t size; } *layers;
	size_t nlayers;
};
void msb_artifact_manifest_free(struct msb_artifact_manifest *m);
/* msb_artifact_manifest_parse() - @media_type is the Content-Type the
 * registry sent (may be ""). kind MSB_KIND_IMAGE and nothing else for an
 * image's manifest or an index. */
int msb_artifact_manifest_parse(const char *buf, size_t len,
				const char *media_type,
				struct msb_artifact_manifest *m,
				msb_error *err);
/* msb_artifact_manifest_json() - the manifest of a @kind artifact whose
 * config blob is @cfg_digest (@cfg_size bytes) and whose files are
 * @maps: their distinct chunk blobs as layers, in file and offset order
 * of first use. */
char *msb_artifact_manifest_json(int kind, const char *cfg_digest,
				 uint64_t cfg_size,
				 const struct msb_disk_map *const *maps,
				 size_t nmaps, const char *name);

/* msb_sync_record_config() - a record config from an artifact's @in,
 * every key checked and rebuilt as msb_sandbox_create() builds it. With
 * @trust the settings that reach into this host (volumes, secret
 * sources, a network plugin, opened ranges, published ports, extra CAs)
 * are kept; without, they are dropped and named in @dropped. */
int msb_sync_record_config(json_object *in, int trust, json_object **out,
			   char *dropped, size_t dn, msb_error *err);

/* msb_sync_max_disks() - how many image disks a sandbox of the record
 * config @cfg may have: the shared slots its volumes leave, at most
 * MSB_IMAGE_MAX_DISKS. */
unsigned msb_sync_max_disks(json_object *cfg);

/* msb_sync_stage() - a new directory <home>/@dir/@tmpl (a mkdtemp()
 * template) in @stage, <home>/@dir made if missing. Return: 0, or a
 * negative errno with @err set and @stage "". */
int msb_sync_stage(char *stage, size_t n, const char *dir, const char *tmpl,
		   msb_error *err);

/* ---- uploads (upload.c) --------------------------------------------------- */
#define MSB_SYNC_FILES 3   /* a snapshot's: upper.ext4, ram, state */

struct msb_upload_file {
	int fd;                /* owned */
	struct msb_disk_map map;
};

struct msb_upload {
	const msb_sync_opts *o;
	struct msb_registry *reg;      /* not owned */
	struct msb_upload_file files[MSB_SYNC_FILES];
	size_t nfiles;
	const struct msb_disk_map *prev; /* the last sync's, sorted by raw */
	int trusted;           /* the tag still holds the last sync */
	char from[256];        /* a repository to mount blobs from, or "" */
	pthread_mutex_t lock;
	size_t next;
	int failed;
	msb_error err;
	uint64_t done, total, bytes;
	unsigned sent, done_chunks, nchunks;
};

void msb_upload_init(struct msb_upload *u, const msb_sync_opts *o);
void msb_upload_free(struct msb_upload *u);
/* msb_upload_report() - a progress event of @phase with no counts. */
void msb_upload_report(struct msb_upload *u, const char *phase);
/* msb_upload_scan() - add the file open at @fd (taken over, closed by
 * msb_upload_free() even on failure) and scan it into chunks. */
int msb_upload_scan(struct msb_upload *u, int fd, uint32_t chunk,
		    msb_error *err);
/* msb_upload_chunks() - name every chunk of every file and send the blobs
 * the registry lacks; bytes and sent count what went up. */
int msb_upload_chunks(struct msb_upload *u, msb_error *err);
/* msb_upload_artifact() - @doc as the config blob, then the manifest
 * under @tag; @digest gets the manifest's. */
int msb_upload_artifact(struct msb_upload *u, int kind, json_object *doc,
			const char *title, const char *tag, char *digest,
			size_t dn, msb_error *err);
/* msb_tag_digest() - what @tag holds now: 1 with @digest, 0 if nothing,
 * <0 on failure. */
int msb_tag_digest(struct msb_registry *reg, const char *tag, char *digest,
		   size_t n, msb_error *err);
/* msb_sync_chunk_size() - MSB_CHUNK_SIZE; $MSB_SYNC_CHUNK_KIB (a power of
 * two from 64 to 65536) changes it, for measuring other sizes
 * (bench/sync.py). */
uint32_t msb_sync_chunk_size(void);
/* The chunks of a map sorted by raw digest, and one of them found. */
void msb_chunks_sort_raw(struct msb_disk_map *m);
const struct msb_chunk *msb_chunks_find_raw(const struct msb_disk_map *m,
					    const char *raw);

/* ---- downloads (download.c) ----------------------------------------------- */
struct msb_download {
	const msb_sync_opts *o;
	struct msb_registry *reg;      /* not owned */
	int local_fd;          /* a local copy to take chunks from, or -1 */
	struct msb_disk_map local; /* its chunks, sorted by raw */
	pthread_mutex_t lock;
	int failed;
	msb_error err;
	uint64_t done, total, bytes;
	uint64_t shown;        /* the most "downloading" reported */
	unsigned fetched, reused, chunks_done, chunks_total;
	char (*added)[80];     /* blobs this pull stored */
	size_t nadded;
};

void msb_download_init(struct msb_download *d, const msb_sync_opts *o,
		       struct msb_registry *reg);
void msb_download_free(struct msb_download *d);
/* msb_download_plan() - the totals progress reports count against. */
void msb_download_plan(struct msb_download *d,
		       const struct msb_disk_map *const *maps, size_t n);
void msb_download_report(struct msb_download *d, const char *phase,
			 const msb_pull_progress *img);
/* msb_download_file() - the file @map describes, into @fd (sized, written
 * sparse, synced). */
int msb_download_file(struct msb_download *d, const struct msb_disk_map *map,
		      int fd, msb_error *err);
/* msb_download_take_back() - the blobs this pull stored go again. */
void msb_download_take_back(struct msb_download *d);
/* msb_check_layers() - every chunk's blob is a layer of the manifest, of
 * the size the map says (the registry keeps what a manifest names). */
int msb_check_layers(const struct msb_artifact_manifest *m,
		     const struct msb_disk_map *map, msb_error *err);

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
/* msb_sync_row_set() - @r says @name was synced now with @reference
 * (canonical), whose manifest is @digest; with @map (NULL for a
 * snapshot), @r->map is that disk map as JSON. Return: 0, or -ENOMEM. */
int msb_sync_row_set(struct msb_sync_row *r, const char *name,
		     const char *reference, const char *digest,
		     const struct msb_disk_map *map, msb_error *err);
/* msb_sync_info_fill() - @out (zeroed) says @name went to or came from
 * @reference, whose manifest is @digest and whose files are the @n @maps
 * (their chunks and data bytes counted). */
void msb_sync_info_fill(msb_sync_info *out, const char *name,
			const char *reference, const char *digest,
			const struct msb_disk_map *const *maps, size_t n);
/* Return: 0, -ENOENT when the sandbox was never synced. */
int msb_sync_db_get(sqlite3 *db, const char *name, struct msb_sync_row *r,
		    msb_error *err);
int msb_sync_db_put(sqlite3 *db, const struct msb_sync_row *r,
		    msb_error *err);
/* The same for snapshots (their own table; map and disk_mtime_ns unused):
 * where a snapshot was last pushed or pulled, forgotten when it is
 * removed, following it when it is renamed. */
int msb_snap_sync_get(sqlite3 *db, const char *name, struct msb_sync_row *r,
		      msb_error *err);
int msb_snap_sync_put(sqlite3 *db, const struct msb_sync_row *r,
		      msb_error *err);
void msb_snap_sync_forget(const char *name);
void msb_snap_sync_rename(const char *name, const char *new_name);

/* ---- pulls (pull.c) -------------------------------------------------------- */
/* An artifact's manifest and config blob, fetched and checked. */
struct msb_fetched {
	struct msb_ref ref;
	char canon[700];       /* the reference, canonical */
	char digest[80];       /* the manifest's */
	size_t manifest_len;
	struct msb_registry *reg;
	struct msb_artifact_manifest man;
	struct msb_artifact a;
	char cfg_path[4096];   /* the config blob in the store ... */
	int cfg_added;         /* ... stored by this pull (removed at free) */
};
/* msb_sync_fetch() - the artifact @arg names (msb_sync_target()), which
 * must be of @kind (MSB_E_KIND otherwise, the message saying what it is),
 * its config blob parsed and every chunk checked against its layers. */
int msb_sync_fetch(const char *arg, const msb_sync_opts *o, int kind,
		   struct msb_fetched *f, msb_error *err);
void msb_sync_fetched_free(struct msb_fetched *f);
/* msb_sync_need_image() - the image artifact @a runs, here: found by
 * digest, else pulled pinned to it (progress as phase "image"). @layers
 * gets its disks, @canon its local reference. */
int msb_sync_need_image(struct msb_download *d, const struct msb_artifact *a,
			unsigned max_disks, json_object **layers, char *canon,
			size_t cn, msb_error *err);
/* msb_sync_pull_name() - the name a pull of @f gives what it pulls here:
 * @o->name, else the last part of the repository. */
void msb_sync_pull_name(const struct msb_fetched *f, const msb_sync_opts *o,
			char *name, size_t n);
/* msb_sync_pull_end() - what pull @d of @f leaves: when it failed (@r <
 * 0), none of the blobs it stored; no staging directory @stage (unless
 * ""); @d and @f freed. */
void msb_sync_pull_end(struct msb_download *d, struct msb_fetched *f,
		       const char *stage, int r);
/* msb_sync_pulled() - @out (zeroed) says what pull @d of @f into @name
 * did: its files @maps, what it downloaded and reused, the settings it
 * @dropped. */
void msb_sync_pulled(msb_sync_info *out, const char *name,
		     const struct msb_fetched *f, const struct msb_download *d,
		     const struct msb_disk_map *const *maps, size_t n,
		     const char *dropped);

/* ---- pushes (push.c) ------------------------------------------------------ */
/* msb_sync_push_target() - where a push of @name goes (docs/sync.md):
 * @o->ref when it names a registry, else @last (where it was last synced;
 * may be NULL or "") or REMOTE/NAME, with @o->ref as the tag if it is one.
 * @insecure: plain http allowed. */
int msb_sync_push_target(const char *name, const msb_sync_opts *o,
			 const char *last, struct msb_ref *ref, int *insecure,
			 msb_error *err);
/* msb_sync_pushed() - @out (zeroed) says what upload @u of @name to
 * @reference did, @digest its manifest: its files and what went up. */
void msb_sync_pushed(msb_sync_info *out, const char *name,
		     const char *reference, const char *digest,
		     const struct msb_upload *u);
/* msb_sync_strip_local() - the keys of a record config that only mean
 * something on this machine (paths of its store, a restored sandbox's
 * origin) out of @cfg, before it is pushed. */
void msb_sync_strip_local(json_object *cfg);
/* msb_sync_image_of() - the image of a record config @cfg as the artifact
 * names it: {"reference", "display", "digest"} ("default" has none). */
int msb_sync_image_of(sqlite3 *db, json_object *cfg, const char *display,
		      json_object **out, msb_error *err);

/* ---- the remote (remote.c) ---------------------------------------------- */
/* msb_sync_target() - the canonical reference @arg names: a reference with
 * a registry host as it is, a bare sandbox name under the remote
 * (REMOTE/NAME:latest). @insecure set when the remote was set so.
 * Return: 0, -ENOENT for a bare name with no remote set. */
int msb_sync_target(const char *arg, char *ref, size_t n, int *insecure,
		    msb_error *err);

#endif
