/* SPDX-License-Identifier: Apache-2.0 */
/* image.h - OCI images: references, registries, the content store, layers
 *
 * Theory of operation: `pull` resolves a reference to a manifest (through an
 * index, for linux/amd64), downloads the config and every layer blob into
 * the content-addressed store <home>/blobs/sha256/HEX (verified against its
 * digest before it is renamed into place: nothing partial is ever visible),
 * converts each layer once into <home>/layers/HEX.erofs (HEX: the layer
 * blob's digest; a layer shared by two images is stored and converted once),
 * and records the image (reference, manifest digest, config, layer list) in
 * the state database. A sandbox of that image gets its layers as read-only
 * virtio-blk disks, top first, under its own writable upper.
 *
 * QEMU's microvm machine without ACPI has 8 virtio-mmio transports; the
 * agent port, the upper disk and (later) the network take three, so at most
 * MSB_IMAGE_MAX_DISKS layer disks are attached. An image with more layers
 * gets its top layers merged into one extra EROFS image (whiteouts kept as
 * overlayfs whiteouts, so the lower disks stay hidden where they should).
 *
 * Everything from a registry or an archive is hostile: JSON is parsed with
 * size limits, digests are checked, tar entries are sanitised (unpack.c,
 * run as a separate helper process, msb-unpack).
 */
#ifndef MSB_IMAGE_H
#define MSB_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "msb.h"

#define MSB_IMAGE_MAX_DISKS 4
#define MSB_IMAGE_MAX_LAYERS 128
/* Manifests, indexes and configs are small; refuse anything bigger. */
#define MSB_MANIFEST_MAX (4u << 20)
#define MSB_CONFIG_MAX (8u << 20)

/* ---- references (ref.c) --------------------------------------------------
 * Docker's rules: "python:3.12" is docker.io/library/python:3.12; a first
 * component with a '.' or ':' or equal to "localhost" is a registry host
 * (with optional port); no tag means "latest"; "@sha256:HEX" pins a digest
 * (a tag may stand beside it and is then informational). docker.io is
 * reached at registry-1.docker.io. */
struct msb_ref {
	char registry[256];   /* "docker.io", "ghcr.io", "127.0.0.1:5000" */
	char repository[256]; /* "library/python" */
	char tag[128];        /* "3.12", "" when only a digest is given */
	char digest[80];      /* "sha256:<64 hex>" or "" */
};

int msb_ref_parse(const char *s, struct msb_ref *r, msb_error *err);
/* msb_url_tail() - what follows "SCHEME://" in @s, without trailing
 * slashes, its length in @n: what to give where a URL was pasted in
 * place of a reference or a registry. NULL when @s is not a URL. */
const char *msb_url_tail(const char *s, int *n);
/* Canonical form: registry/repository[:tag][@digest]. */
void msb_ref_format(const struct msb_ref *r, char *buf, size_t n);
/* Short form for display: "python:3.12", "ghcr.io/x/y:1". */
void msb_ref_short(const struct msb_ref *r, char *buf, size_t n);
/* The host to connect to ("registry-1.docker.io" for docker.io). */
const char *msb_ref_endpoint(const struct msb_ref *r);
/* Loopback registries (localhost, 127.0.0.0/8, [::1]) are spoken to over
 * plain http, like Docker's default insecure registries. */
int msb_ref_is_loopback(const struct msb_ref *r);

/* ---- digests ---------------------------------------------------------- */
/* "sha256:" + 64 lowercase hex. */
int msb_digest_valid(const char *d);

/* ---- manifests and configs (manifest.c) --------------------------------- */
struct msb_layer_desc {
	char digest[80];
	uint64_t size;
	char media_type[128];
};

struct msb_manifest {
	char config_digest[80];
	uint64_t config_size;
	struct msb_layer_desc *layers; /* bottom first */
	unsigned nlayers;
};

/* msb_index_pick() - from an OCI index / Docker manifest list, the digest
 * of the linux/amd64 manifest. -ENOENT (with the platforms there are) when
 * there is none. */
int msb_index_pick(json_object *idx, char *digest, size_t n, msb_error *err);
/* msb_manifest_parse() - an OCI image manifest or Docker v2 schema 2. */
int msb_manifest_parse(json_object *m, struct msb_manifest *out,
		       msb_error *err);
void msb_manifest_free(struct msb_manifest *m);
/* Is this a media type of an index / manifest list? */
int msb_mediatype_is_index(const char *mt);

/* ---- registry client (registry.c) -------------------------------------- */
struct msb_registry;

int msb_registry_open(const struct msb_ref *ref, int insecure,
		      struct msb_registry **out, msb_error *err);
void msb_registry_close(struct msb_registry *reg);
/* msb_registry_manifest() - GET a manifest by tag or digest; @body
 * NUL-terminated (free() it), @media_type and @digest (of the bytes) set. */
int msb_registry_manifest(struct msb_registry *reg, const char *tag_or_digest,
			  char **body, size_t *len, char *media_type,
			  size_t mtn, char *digest, size_t dn, msb_error *err);
/* msb_registry_blob() - download a blob into the store (store.c verifies
 * and renames it). Thread-safe: each call has its own connection.
 * @progress (may be NULL) is called with bytes so far. */
typedef void (*msb_blob_progress)(void *ctx, uint64_t done);
int msb_registry_blob(struct msb_registry *reg, const char *digest,
		      uint64_t size, msb_blob_progress progress, void *ctx,
		      msb_error *err);
/* msb_registry_blob_then() - msb_registry_blob(), and @then (@ctx) called
 * with the downloaded file's path once its digest is verified, before it
 * is synced and renamed into the store: what @then does with it overlaps
 * the sync (started first). With @tee >= 0 (a socket, closed here before
 * @then is called or the call fails), each byte of the body is also sent
 * there as it arrives, once and in order; a download that starts over, or
 * a send that fails, ends that early. @then's @whole: 1 when all of the
 * blob, as verified, went to @tee. */
int msb_registry_blob_then(struct msb_registry *reg, const char *digest,
			   uint64_t size, msb_blob_progress progress, int tee,
			   void (*then)(void *ctx, const char *path, int whole),
			   void *ctx, msb_error *err);

/* msb_registry_check_login() - does the registry take @user and @password
 * (a GET of /v2/ with them, through its challenge)? Return: 0, or -EACCES
 * when it refused them (the message says so), or the failure to ask. */
int msb_registry_check_login(struct msb_registry *reg, const char *user,
			     const char *password, msb_error *err);

/* Uploads (distribution spec §push). msb_registry_want_push() - tokens
 * for this registry's requests ask for "pull,push" (call it right after
 * the open). */
void msb_registry_want_push(struct msb_registry *reg);
/* msb_registry_blob_head() - Return: 1 if the registry has blob @digest
 * of @size bytes, 0 if not, <0 on failure. */
int msb_registry_blob_head(struct msb_registry *reg, const char *digest,
			   uint64_t size, msb_error *err);
/* msb_registry_blob_push() - upload @len bytes hashing to @digest (POST a
 * session, PUT the body; the registry checks the digest), retried with a
 * fresh session. @from (may be NULL): a repository of the same registry
 * that may hold it, mounted instead of uploaded when it does (*@mounted
 * set). Thread-safe like msb_registry_blob(). */
int msb_registry_blob_push(struct msb_registry *reg, const char *digest,
			   const void *data, size_t len, const char *from,
			   int *mounted, msb_error *err);
/* msb_registry_manifest_put() - PUT a manifest under @tag (or its digest);
 * @digest receives the sha256 of @body, which the registry must agree
 * with. */
int msb_registry_manifest_put(struct msb_registry *reg, const char *tag,
			      const char *body, size_t len,
			      const char *media_type, char *digest, size_t dn,
			      msb_error *err);

/* ---- credentials (auth.c): <home>/auth.json, mode 0600 ------------------ */
/* msb_auth_get() - "user:password" for @registry into @buf; -ENOENT if none. */
int msb_auth_get(const char *registry, char *buf, size_t n);

/* ---- tar archives around images (tar.c) -------------------------------- */
#define MSB_TAR_NAME_MAX 1024
struct msb_tar_entry {
	char name[MSB_TAR_NAME_MAX];
	char link[MSB_TAR_NAME_MAX];
	char type;           /* '0' file, '2' symlink, '5' dir, 'x' pax, ... */
	uint64_t size;
	int pax_size;        /* the size came from a pax record */
};
/* msb_tar_header() - parse one 512-byte header; Return: 1 an entry, 0 an
 * end-of-archive block, <0 a bad header. */
int msb_tar_header(const unsigned char h[512], struct msb_tar_entry *e,
		   msb_error *err);
/* msb_tar_pax() - apply a pax extended header's path, linkpath and size
 * records (@p, @n: its data) to the next entry @e. */
int msb_tar_pax(const char *p, size_t n, struct msb_tar_entry *e,
		msb_error *err);
/* msb_tar_make() - a ustar header for @name (under 100 bytes), owner 0. */
void msb_tar_make(unsigned char h[512], const char *name, char type,
		  uint64_t size, unsigned mode);

/* ---- the end of a pull or a load (pull.c) ------------------------------- */
/* msb_image_finish() - with the manifest, config and layer blobs of @man in
 * the store: check the config, convert the layers, record the image as
 * @ref with manifest digest @top and other stored blobs @extra. */
int msb_image_finish(const struct msb_ref *ref, const char *top,
		     const struct msb_manifest *man, json_object *extra,
		     const msb_pull_opts *o, unsigned fetched,
		     msb_image_info *out, msb_error *err);

/* ---- the store (store.c) ------------------------------------------------ */
int msb_store_dirs(msb_error *err);
/* Paths: <home>/blobs/sha256/HEX, <home>/layers/HEX.erofs. */
void msb_blob_path(const char *digest, char *buf, size_t n);
void msb_layer_path(const char *name, char *buf, size_t n);
int msb_blob_have(const char *digest);
/* msb_blob_tmp() - an open temporary file under <home>/blobs/tmp. */
int msb_blob_tmp(char *path, size_t n, msb_error *err);
/* msb_blob_commit() - the temp file's sha256 must be @digest: rename it
 * into place, else remove it and fail. */
int msb_blob_commit(const char *tmp, const char *digest, const char *hex_got,
		    msb_error *err);
/* msb_blob_put() - store @len bytes known to hash to @digest. */
int msb_blob_put(const char *digest, const void *buf, size_t len,
		 msb_error *err);
/* msb_fail_nospace() - the one error for a full disk under $MSB_HOME,
 * @doing saying what was being done ("storing blob sha256:..."). */
int msb_fail_nospace(msb_error *err, const char *doing);
/* msb_blob_read() - the whole of a small blob (bounded by @max). */
char *msb_blob_read(const char *digest, size_t max, size_t *len);
/* msb_layer_convert() - run msb-unpack: blobs[] (bottom first) into one
 * EROFS image named @name under <home>/layers, unless it is there and
 * whole (msb_layer_whole()); each blob must decompress to its diff_ids[]
 * entry ("sha256:HEX"). One there but damaged, or recorded and gone, is
 * made again by msb_layer_repair(), and *@repaired (may be NULL) counts
 * it. */
int msb_layer_convert(const char *const *blobs, const char *const *diff_ids,
		      unsigned n, const char *name, unsigned *repaired,
		      msb_error *err);
/* msb_layer_ready() - disk @name is there, whole and verified against
 * @diff_ids: msb_layer_convert() would have nothing to do (a pull then
 * says nothing of converting it). */
int msb_layer_ready(const char *name, const char *const *diff_ids,
		    unsigned n);
/* msb_layer_repair() - disk @name, found damaged (@why; @recorded: its
 * size when made, 0 if not known), made again from blobs[] under a lock
 * on <home>/layers (checked again once it is held: another msb may have
 * made it meanwhile). Each stored blob is verified against its digest
 * first; a missing or damaged one (removed, so a pull fetches it again)
 * is MSB_E_DAMAGED, telling to pull @image (may be NULL) again. A line on
 * stderr says which layer was made again and why. */
int msb_layer_repair(const char *const *blobs, const char *const *diff_ids,
		     unsigned nb, const char *name, uint64_t recorded,
		     const char *why, const char *image, msb_error *err);

/* ---- a stored layer checked where it is used (layercheck.c) ------------ */
/* msb_erofs_check() - @buf, the first @len bytes (up to 4096) of a file of
 * @size bytes, begins with an EROFS superblock a guest mounts for that
 * size: the magic at byte 1024, a block size of 512 to 4096 bytes, a
 * block count that is @size, the superblock's checksum when it has one.
 * Return: 0, or -1 with @why saying what is wrong. */
int msb_erofs_check(const unsigned char *buf, size_t len, uint64_t size,
		    char *why, size_t n);
/* msb_layer_whole() - is the layer image at @path whole: there, a regular
 * file of @recorded bytes (0: not known), its superblock sane. An open, a
 * stat and one 4 KiB read. Return: 1, or 0 with @why set. */
int msb_layer_whole(const char *path, uint64_t recorded, char *why,
		    size_t n);
/* The layers table of msb.db: each disk's size when it was made.
 * msb_layer_db_size() - 0 when not recorded; msb_layer_db_record() - the
 * size disk @name has now (only written when it differs). */
uint64_t msb_layer_db_size(sqlite3 *db, const char *name);
int msb_layer_db_record(sqlite3 *db, const char *name);
/* msb_layers_ready() - before a sandbox boots from @paths (a JSON array of
 * its layer disks): each one of the store that is not whole is made again
 * from the layers an image record says it was made of (msb_layer_repair());
 * one from elsewhere (the built-in image) must be readable. @db: the state
 * database, or NULL to open it here (opening it is most of the cost).
 * @image (may be NULL): the image to name in an error. */
int msb_layers_ready(sqlite3 *db, json_object *paths, const char *image,
		     msb_error *err);
/* msb_image_disk_of() - is @name one of the disks msb_image_disks() makes
 * of @n layers (blob digests, bottom first) for at most @max disks: 1 with
 * the layers it is made of (@count from @first), or 0. */
int msb_image_disk_of(const char *const *blobs, unsigned n, unsigned max,
		      const char *name, unsigned *first, unsigned *count);
/* msb_layer_stream_start() - msb_layer_convert() of one layer (@name, its
 * diff_id @diff_id) started on its bytes as they come: what the caller
 * writes to *@in (a socket, its to close when the layer is all written or
 * given up) is inflated, checked against @diff_id and passed to
 * mkfs.erofs as it arrives. Nothing is stored until
 * msb_layer_stream_end(). Fails (nothing started) without msb's
 * mkfs.erofs. */
struct msb_layer_stream;
int msb_layer_stream_start(const char *diff_id, const char *name, int *in,
			   struct msb_layer_stream **out, msb_error *err);
/* msb_layer_stream_end() - wait for the conversion (*@in must be closed)
 * and, when @keep (the caller wrote the whole blob and its digest is what
 * the manifest says), store the image as msb_layer_convert() does;
 * otherwise whatever it made is removed, never stored. Frees @s (NULL: 0).
 * Return: 0, or the conversion's failure (nothing stored). */
int msb_layer_stream_end(struct msb_layer_stream *s, int keep,
			 msb_error *err);

/* The image table in msb.db. */
struct msb_image_row {
	char reference[600];  /* canonical */
	char digest[80];      /* manifest */
	char config_digest[80];
	char *config;         /* the image config JSON */
	char *layers;         /* JSON array of layer blob digests, bottom first */
	char *disks;          /* JSON array of EROFS names, bottom first */
	char *extra;          /* JSON array of other blobs: manifest, index */
	uint64_t size;
	int64_t pulled_at;
};
void msb_image_row_free(struct msb_image_row *r);
int msb_image_db_put(sqlite3 *db, const struct msb_image_row *r,
		     msb_error *err);
/* msb_image_db_get() - by canonical reference, or a digest prefix. */
int msb_image_db_get(sqlite3 *db, const char *ref, struct msb_image_row *r,
		     msb_error *err);

/* msb_image_diff_ids() - the config's rootfs.diff_ids (image-spec
 * §config): one valid digest per layer, bottom first, into @out (pointers
 * into @cfg). */
int msb_image_diff_ids(json_object *cfg, unsigned n, const char **out,
		       msb_error *err);
/* msb_image_disks() - the EROFS disks of @n layers (blob digests and their
 * diff_ids, bottom first), at most @max: one per layer, the top ones
 * merged into one when there are more. Each is converted unless stored
 * (then checked against its recorded diff_ids); their names are appended
 * to @disks, bottom first. @each (may be NULL) is told of each disk before
 * it is made (@digest NULL for a merged one); *@repaired (may be NULL)
 * counts stored ones made again (msb_layer_convert()). */
int msb_image_disks(const char *const *blobs, const char *const *ids,
		    unsigned n, unsigned max, json_object *disks,
		    void (*each)(void *ctx, const char *digest, unsigned index),
		    void *ctx, unsigned *repaired, msb_error *err);

/* msb_image_resolve() - what a sandbox of @image needs: its EROFS paths,
 * top first, as a JSON array (put() it), at most @max of them (the top
 * layers merged into one disk, made now and stored, when the image has
 * more), each checked and made again if damaged (msb_layers_ready()), and
 * its config (put() it). The built-in "default" image is
 * share/msb/images/default. */
int msb_image_resolve(const char *image, unsigned max, json_object **disks,
		      json_object **config, char *canon, size_t cn,
		      msb_error *err);

#endif
