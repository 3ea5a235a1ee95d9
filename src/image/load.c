/* SPDX-License-Identifier: Apache-2.0 */
/* load.c - msb_image_load(): an OCI image layout (a directory or a tar of
 * one) or a `docker save` archive -> verified blobs -> the end of a pull
 *
 * Every file of the archive is first copied into <home>/blobs/tmp and
 * hashed. Nothing is renamed into the store until every blob the image
 * needs is there and matches its digest, so a tampered or truncated
 * archive leaves nothing behind. What "matches" means:
 *  - OCI layout (image-spec v1.1 §image-layout): blobs/sha256/HEX must hash
 *    to HEX, every one of them, used or not;
 *  - `docker save`: the config is named by its digest (HEX.json, or
 *    blobs/sha256/HEX since Docker 25), and each layer must hash to its
 *    name's digest or to the config's rootfs.diff_ids entry (an
 *    uncompressed layer.tar). A Docker v2 manifest is written for it.
 * From there the layers are converted and the image recorded exactly as a
 * pull does (msb_image_finish()).
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "image.h"
#include "jsonx.h"
#include "util.h"

#define LOAD_MAX_FILES 4096
#define LOAD_MAX_DEPTH 4
#define PAX_MAX (1u << 20)

struct file {
	char *name;
	char *link;       /* a link entry: the name it stands for */
	char tmp[PATH_MAX];
	char hex[65];
	uint64_t size;
};

struct load {
	struct file *f;
	unsigned n;
	json_object *extra;   /* manifest (and index) digests of the image */
	char added[MSB_IMAGE_MAX_LAYERS + 8][80]; /* blobs this load stored */
	unsigned nadded;
};

/* normalize() - "./a/b/../c" -> "a/c": a name is a key, never a path. */
static void normalize(const char *in, char *out, size_t n)
{
	size_t o = 0;

	while (*in) {
		const char *s = strchr(in, '/');
		size_t l = s ? (size_t)(s - in) : strlen(in);

		if (l == 2 && !strncmp(in, "..", 2)) {
			while (o && out[o - 1] != '/')
				o--;
			if (o)
				o--;
		} else if (l && !(l == 1 && in[0] == '.') && o + l + 2 < n) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, in, l);
			o += l;
		}
		in += l + (s ? 1 : 0);
	}
	out[o] = '\0';
}

static struct file *add_file(struct load *l, const char *name, msb_error *err)
{
	char norm[MSB_TAR_NAME_MAX];
	struct file *f;

	if (l->n >= LOAD_MAX_FILES) {
		msb_fail(err, -E2BIG, "the archive holds more than %d files",
			 LOAD_MAX_FILES);
		return NULL;
	}
	if (!(l->n & 63)) {
		f = realloc(l->f, (l->n + 64) * sizeof(*f));
		if (!f) {
			msb_fail(err, -ENOMEM, "out of memory");
			return NULL;
		}
		l->f = f;
	}
	f = &l->f[l->n];
	memset(f, 0, sizeof(*f));
	normalize(name, norm, sizeof(norm));
	f->name = strdup(norm);
	if (!f->name) {
		msb_fail(err, -ENOMEM, "out of memory");
		return NULL;
	}
	l->n++;
	return f;
}

static struct file *find(struct load *l, const char *name)
{
	char cur[MSB_TAR_NAME_MAX];

	normalize(name, cur, sizeof(cur));
	for (int hops = 0; hops < 8; hops++) {
		struct file *hit = NULL;

		for (unsigned i = 0; i < l->n; i++)
			if (!strcmp(l->f[i].name, cur))
				hit = &l->f[i];
		if (!hit || !hit->link)
			return hit;
		snprintf(cur, sizeof(cur), "%s", hit->link);
	}
	return NULL;
}

static struct file *find_hex(struct load *l, const char *hex)
{
	for (unsigned i = 0; i < l->n; i++)
		if (!l->f[i].link && l->f[i].tmp[0] &&
		    !strcmp(l->f[i].hex, hex))
			return &l->f[i];
	return NULL;
}

static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* ingest() - copy @size bytes of @fd into a temporary blob, hashing. */
static int ingest(struct load *l, const char *name, int fd, uint64_t size,
		  msb_error *err)
{
	struct file *f = add_file(l, name, err);
	unsigned char buf[65536], md[32];
	EVP_MD_CTX *ctx;
	int out, r = 0;

	if (!f)
		return err->code;
	out = msb_blob_tmp(f->tmp, sizeof(f->tmp), err);
	if (out < 0) {
		f->tmp[0] = '\0';
		return out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		r = msb_fail(err, -ENOMEM, "cannot hash: out of memory");
	for (uint64_t left = size; r == 0 && left;) {
		size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t got = read_full(fd, buf, want);

		if (got < 0)
			r = msb_fail_errno(err, (int)got, "cannot read %s", name);
		else if ((size_t)got < want)
			r = msb_fail(err, -EBADMSG,
				     "the archive is truncated (in %.200s)", name);
		else if ((r = msb_write_all(out, buf, want)) < 0)
			r = r == -ENOSPC ?
				    msb_fail_nospace(err, "loading an archive") :
				    msb_fail_errno(err, r, "cannot write %s",
						   f->tmp);
		else
			EVP_DigestUpdate(ctx, buf, want);
		left -= want;
	}
	close(out);
	if (r == 0) {
		EVP_DigestFinal_ex(ctx, md, NULL);
		for (int i = 0; i < 32; i++)
			snprintf(f->hex + 2 * i, 3, "%02x", md[i]);
		f->size = size;
	}
	EVP_MD_CTX_free(ctx);
	return r;
}

static int add_link(struct load *l, const char *name, const char *target,
		    int hard, msb_error *err)
{
	char joined[2 * MSB_TAR_NAME_MAX], norm[MSB_TAR_NAME_MAX];
	const char *slash = strrchr(name, '/');
	struct file *f;

	/* a symlink is relative to its directory, a hard link to the root */
	if (hard || target[0] == '/' || !slash)
		snprintf(joined, sizeof(joined), "%s", target);
	else
		snprintf(joined, sizeof(joined), "%.*s/%s",
			 (int)(slash - name), name, target);
	normalize(joined, norm, sizeof(norm));
	f = add_file(l, name, err);
	if (!f)
		return err->code;
	f->link = strdup(norm);
	return f->link ? 0 : msb_fail(err, -ENOMEM, "out of memory");
}

static int skip(int fd, uint64_t n, msb_error *err)
{
	char buf[4096];

	while (n) {
		size_t want = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		ssize_t got = read_full(fd, buf, want);

		if (got < 0)
			return msb_fail_errno(err, (int)got, "cannot read the "
					      "archive");
		if ((size_t)got < want)
			return msb_fail(err, -EBADMSG, "the archive is truncated");
		n -= want;
	}
	return 0;
}

/* read_tar() - every regular file of a tar stream into temporary blobs. */
static int read_tar(struct load *l, int fd, msb_error *err)
{
	unsigned char h[512];
	struct msb_tar_entry e;
	char *pax = NULL, longname[MSB_TAR_NAME_MAX] = "",
	     longlink[MSB_TAR_NAME_MAX] = "";
	size_t paxn = 0;
	int r = 0, first = 1;

	for (;;) {
		ssize_t got = read_full(fd, h, sizeof(h));
		uint64_t pad;

		if (got == 0 && !first)
			break; /* no end-of-archive blocks: accept, as tar does */
		if (got < 0) {
			r = msb_fail_errno(err, (int)got, "cannot read the archive");
			break;
		}
		if (first && got >= 2 && h[0] == 0x1f && h[1] == 0x8b) {
			r = msb_fail(err, -EINVAL,
				     "the archive is gzip-compressed: give msb "
				     "load the tar (gunzip it first)");
			break;
		}
		if (got < (ssize_t)sizeof(h)) {
			r = msb_fail(err, -EBADMSG, "the archive is truncated "
				     "or not a tar archive");
			break;
		}
		first = 0;
		r = msb_tar_header(h, &e, err);
		if (r <= 0)
			break;
		r = 0;
		if (pax) {
			r = msb_tar_pax(pax, paxn, &e, err);
			free(pax);
			pax = NULL;
			if (r < 0)
				break;
		}
		if (longname[0]) {
			snprintf(e.name, sizeof(e.name), "%s", longname);
			longname[0] = '\0';
		}
		if (longlink[0]) {
			snprintf(e.link, sizeof(e.link), "%s", longlink);
			longlink[0] = '\0';
		}
		pad = (512 - e.size % 512) % 512;
		switch (e.type) {
		case 'x':
		case 'L':
		case 'K':
			if (e.size >= (e.type == 'x' ? PAX_MAX : MSB_TAR_NAME_MAX)) {
				r = msb_fail(err, -E2BIG, "a tar extended header "
					     "is too big");
				break;
			}
			if (e.type == 'x') {
				pax = malloc(e.size + 1);
				if (!pax) {
					r = msb_fail(err, -ENOMEM, "out of memory");
					break;
				}
			}
			{
				char *dst = e.type == 'x' ? pax :
					    e.type == 'L' ? longname : longlink;

				got = read_full(fd, dst, e.size);
				if (got != (ssize_t)e.size) {
					r = msb_fail(err, -EBADMSG,
						     "the archive is truncated");
					break;
				}
				dst[e.size] = '\0';
				paxn = e.size;
			}
			r = skip(fd, pad, err);
			break;
		case '0':
		case '7':
			r = ingest(l, e.name, fd, e.size, err);
			if (r == 0)
				r = skip(fd, pad, err);
			break;
		case '1':
		case '2':
			r = add_link(l, e.name, e.link, e.type == '1', err);
			if (r == 0)
				r = skip(fd, e.size + pad, err);
			break;
		default: /* directories, globals, devices: nothing to keep */
			r = skip(fd, e.size + pad, err);
		}
		if (r < 0)
			break;
	}
	free(pax);
	return r;
}

/* read_dir() - every regular file under an unpacked layout. */
static int read_dir(struct load *l, int dfd, const char *rel, int depth,
		    msb_error *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(dfd);
		return msb_fail_errno(err, -errno, "cannot read %s", rel);
	}
	while (r == 0 && (de = readdir(d))) {
		char name[MSB_TAR_NAME_MAX];
		struct stat st;
		int fd;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "",
			 de->d_name);
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = msb_fail_errno(err, -errno, "cannot open %s", name);
			if (fd >= 0)
				close(fd);
			break;
		}
		if (S_ISDIR(st.st_mode) && depth < LOAD_MAX_DEPTH) {
			r = read_dir(l, fd, name, depth + 1, err);
			continue;
		}
		if (S_ISREG(st.st_mode))
			r = ingest(l, name, fd, (uint64_t)st.st_size, err);
		close(fd);
	}
	closedir(d);
	return r;
}

static json_object *file_json(struct file *f, size_t max, msb_error *err)
{
	char *body;
	size_t len;
	json_object *j;

	if (!f) {
		msb_fail(err, -ENOENT, "a file of the archive is missing");
		return NULL;
	}
	if (f->size > max) {
		msb_fail(err, -EFBIG, "%s is %llu bytes (limit %zu)", f->name,
			 (unsigned long long)f->size, max);
		return NULL;
	}
	body = msb_read_file(f->tmp, &len);
	j = body ? json_tokener_parse(body) : NULL;
	free(body);
	if (!j)
		msb_fail(err, -EPROTO, "%s in the archive is not JSON", f->name);
	return j;
}

/* blob_json() - a manifest or index by digest: in the archive (verified)
 * or already in the store. */
static json_object *blob_json(struct load *l, const char *digest,
			      msb_error *err)
{
	struct file *f = msb_digest_valid(digest) ? find_hex(l, digest + 7) :
						    NULL;
	char *body;
	size_t len;
	json_object *j;

	if (f)
		return file_json(f, MSB_MANIFEST_MAX, err);
	body = msb_digest_valid(digest) ?
		       msb_blob_read(digest, MSB_MANIFEST_MAX, &len) : NULL;
	j = body ? json_tokener_parse(body) : NULL;
	free(body);
	if (!j)
		msb_fail(err, -ENOENT, "the archive has no blob %.80s", digest);
	return j;
}

/* verify_layout() - every blobs/sha256/HEX of an OCI layout hashes to HEX. */
static int verify_layout(struct load *l, msb_error *err)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct file *f = &l->f[i];

		if (f->link || strncmp(f->name, "blobs/sha256/", 13))
			continue;
		if (strcmp(f->name + 13, f->hex))
			return msb_fail(err, -EBADMSG,
					"digest mismatch: %s in the archive has "
					"sha256:%s; the archive is corrupt or "
					"tampered (nothing was stored)",
					f->name, f->hex);
	}
	return 0;
}

/* name_of() - the image's name in an OCI index entry: containerd's full
 * name, else ref.name when it is a reference and not a bare tag. */
static void name_of(json_object *desc, char *buf, size_t n)
{
	json_object *a = NULL;
	const char *s;

	buf[0] = '\0';
	json_object_object_get_ex(desc, "annotations", &a);
	s = msb_jstr(a, "io.containerd.image.name", NULL);
	if (!s) {
		s = msb_jstr(a, "org.opencontainers.image.ref.name", NULL);
		if (s && !strpbrk(s, ":/"))
			s = NULL;
	}
	if (s)
		snprintf(buf, n, "%s", s);
}

static int load_oci(struct load *l, struct msb_manifest *man, char *top,
		    char *name, size_t nn, msb_error *err)
{
	json_object *idx, *ms, *desc = NULL, *m = NULL;
	char digest[80];
	const char *d;
	int r;

	r = verify_layout(l, err);
	if (r < 0)
		return r;
	idx = file_json(find(l, "index.json"), MSB_MANIFEST_MAX, err);
	if (!idx)
		return err->code;
	if (!json_object_object_get_ex(idx, "manifests", &ms) ||
	    !json_object_is_type(ms, json_type_array) ||
	    !json_object_array_length(ms)) {
		json_object_put(idx);
		return msb_fail(err, -EPROTO, "index.json lists no image");
	}
	/* One entry: that image; several: the linux/amd64 one. */
	if (json_object_array_length(ms) == 1) {
		desc = json_object_array_get_idx(ms, 0);
	} else {
		r = msb_index_pick(idx, digest, sizeof(digest), err);
		for (size_t i = 0; r == 0 && i < json_object_array_length(ms); i++)
			if ((d = msb_jstr(json_object_array_get_idx(ms, i),
					"digest", NULL)) && !strcmp(d, digest))
				desc = json_object_array_get_idx(ms, i);
		if (r < 0) {
			json_object_put(idx);
			return r;
		}
	}
	d = msb_jstr(desc, "digest", NULL);
	if (!d || !msb_digest_valid(d)) {
		json_object_put(idx);
		return msb_fail(err, -EPROTO, "index.json has an entry without "
				"a sha256 digest");
	}
	snprintf(top, 80, "%s", d);
	snprintf(digest, sizeof(digest), "%s", d);
	name_of(desc, name, nn);
	json_object_put(idx);
	for (int depth = 0; depth < 2; depth++) {
		m = blob_json(l, digest, err);
		if (!m)
			return err->code;
		json_object_array_add(l->extra, json_object_new_string(digest));
		if (!msb_mediatype_is_index(msb_jstr(m, "mediaType", NULL)) &&
		    !json_object_object_get_ex(m, "manifests", NULL))
			break;
		r = depth ? msb_fail(err, -EPROTO, "an index inside an index") :
			    msb_index_pick(m, digest, sizeof(digest), err);
		json_object_put(m);
		m = NULL;
		if (r < 0)
			return r;
	}
	if (!m)
		return msb_fail(err, -EPROTO, "an index inside an index");
	r = msb_manifest_parse(m, man, err);
	json_object_put(m);
	return r;
}

/* digest_in_name() - the HEX of ".../HEX" or ".../HEX.json", or NULL. */
static const char *digest_in_name(const char *name)
{
	const char *b = strrchr(name, '/');

	b = b ? b + 1 : name;
	if (strlen(b) >= 64 && strspn(b, "0123456789abcdef") == 64 &&
	    (!b[64] || !strcmp(b + 64, ".json")))
		return b;
	return NULL;
}

static int load_docker(struct load *l, struct msb_manifest *man, char *top,
		       char *name, size_t nn, msb_error *err)
{
	json_object *mj, *e, *layers = NULL, *tags = NULL, *cfg = NULL,
			    *diff = NULL, *rootfs = NULL, *out = NULL, *ls;
	struct file *cf;
	const char *c, *h;
	char *body = NULL;
	int r = 0;

	mj = file_json(find(l, "manifest.json"), MSB_MANIFEST_MAX, err);
	if (!mj)
		return err->code;
	if (!json_object_is_type(mj, json_type_array) ||
	    json_object_array_length(mj) != 1) {
		json_object_put(mj);
		return msb_fail(err, -EPROTO,
				"manifest.json must list exactly one image (msb "
				"loads one image per archive)");
	}
	e = json_object_array_get_idx(mj, 0);
	c = msb_jstr(e, "Config", NULL);
	json_object_object_get_ex(e, "Layers", &layers);
	json_object_object_get_ex(e, "RepoTags", &tags);
	if (!c || !layers || !json_object_is_type(layers, json_type_array) ||
	    json_object_array_length(layers) > MSB_IMAGE_MAX_LAYERS) {
		r = msb_fail(err, -EPROTO, "manifest.json has no Config or "
			     "Layers, or too many layers");
		goto out;
	}
	if (tags && json_object_is_type(tags, json_type_array) &&
	    json_object_array_length(tags) &&
	    json_object_is_type(json_object_array_get_idx(tags, 0),
				json_type_string))
		snprintf(name, nn, "%s",
			 json_object_get_string(json_object_array_get_idx(tags, 0)));
	cf = find(l, c);
	h = digest_in_name(c);
	if (!cf || !h) {
		r = msb_fail(err, -EPROTO, "the archive has no config %.200s "
			     "named by its digest", c);
		goto out;
	}
	if (strncmp(cf->hex, h, 64)) {
		r = msb_fail(err, -EBADMSG, "digest mismatch: the config %.200s "
			     "has sha256:%s; the archive is corrupt or "
			     "tampered (nothing was stored)", c, cf->hex);
		goto out;
	}
	cfg = file_json(cf, MSB_CONFIG_MAX, err);
	if (!cfg) {
		r = err->code;
		goto out;
	}
	json_object_object_get_ex(cfg, "rootfs", &rootfs);
	json_object_object_get_ex(rootfs, "diff_ids", &diff);
	out = json_object_new_object();
	json_object_object_add(out, "schemaVersion", json_object_new_int(2));
	json_object_object_add(out, "mediaType", json_object_new_string(
		"application/vnd.docker.distribution.manifest.v2+json"));
	e = json_object_new_object();
	json_object_object_add(e, "mediaType", json_object_new_string(
		"application/vnd.docker.container.image.v1+json"));
	json_object_object_add(e, "size", json_object_new_int64((int64_t)cf->size));
	snprintf(top, 80, "sha256:%s", cf->hex);
	json_object_object_add(e, "digest", json_object_new_string(top));
	json_object_object_add(out, "config", e);
	ls = json_object_new_array();
	json_object_object_add(out, "layers", ls);
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		json_object *li = json_object_array_get_idx(layers, i),
			    *di = diff ? json_object_array_get_idx(diff, i) : NULL;
		const char *ln = json_object_is_type(li, json_type_string) ?
					 json_object_get_string(li) : "";
		const char *dd = di && json_object_is_type(di, json_type_string) ?
					 json_object_get_string(di) : "";
		struct file *lf = find(l, ln);
		int plain = !strncmp(dd, "sha256:", 7) && lf &&
			    !strcmp(dd + 7, lf->hex);

		h = digest_in_name(ln);
		if (!lf) {
			r = msb_fail(err, -EPROTO, "the archive has no layer "
				     "%.200s", ln);
			goto out;
		}
		if (!plain && !(h && !strncmp(h, lf->hex, 64))) {
			r = msb_fail(err, -EBADMSG,
				     "digest mismatch: layer %.200s has sha256:%s, "
				     "neither its name nor the config's diff_id; "
				     "the archive is corrupt or tampered (nothing "
				     "was stored)", ln, lf->hex);
			goto out;
		}
		e = json_object_new_object();
		json_object_object_add(e, "mediaType", json_object_new_string(
			plain ? "application/vnd.docker.image.rootfs.diff.tar" :
				"application/vnd.docker.image.rootfs.diff.tar.gzip"));
		json_object_object_add(e, "size",
				       json_object_new_int64((int64_t)lf->size));
		snprintf(top, 80, "sha256:%s", lf->hex);
		json_object_object_add(e, "digest", json_object_new_string(top));
		json_object_array_add(ls, e);
	}
	r = msb_manifest_parse(out, man, err);
	if (r < 0)
		goto out;
	/* the manifest this archive did not have: written, stored, named */
	body = strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	if (!body) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	{
		unsigned char md[32];

		EVP_Digest(body, strlen(body), md, NULL, EVP_sha256(), NULL);
		memcpy(top, "sha256:", 8);
		for (int i = 0; i < 32; i++)
			snprintf(top + 7 + 2 * i, 3, "%02x", md[i]);
	}
	if (!msb_blob_have(top)) {
		r = msb_blob_put(top, body, strlen(body), err);
		if (r == 0)
			snprintf(l->added[l->nadded++], 80, "%s", top);
	}
	if (r == 0)
		json_object_array_add(l->extra, json_object_new_string(top));
out:
	free(body);
	json_object_put(out);
	json_object_put(cfg);
	json_object_put(mj);
	return r;
}

/* commit() - rename the blob @digest from the archive into the store. */
static int commit(struct load *l, const char *digest, unsigned *fetched,
		  msb_error *err)
{
	struct file *f;
	int r;

	if (msb_blob_have(digest))
		return 0;
	f = find_hex(l, digest + 7);
	if (!f)
		return msb_fail(err, -ENOENT,
				"the archive lacks blob %.80s of its image",
				digest);
	r = msb_blob_commit(f->tmp, digest, f->hex, err);
	f->tmp[0] = '\0';
	if (r < 0)
		return r;
	snprintf(l->added[l->nadded++], 80, "%s", digest);
	(*fetched)++;
	return 0;
}

MSB_API int msb_image_load(const char *path, const msb_load_opts *o,
			   msb_image_info *out, msb_error *err)
{
	struct load l = { .extra = json_object_new_array() };
	struct msb_manifest man = { 0 };
	msb_pull_opts po = { 0 };
	struct msb_ref ref;
	char top[80] = "", name[600] = "";
	unsigned fetched = 0;
	struct stat st;
	int fd, r;

	r = msb_store_dirs(err);
	if (r < 0)
		goto out;
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(0);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = msb_fail_errno(err, -errno, "cannot open %s", path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	r = S_ISDIR(st.st_mode) ? read_dir(&l, fd, "", 0, err) :
				  read_tar(&l, fd, err);
	if (!S_ISDIR(st.st_mode))
		close(fd);
	if (r < 0)
		goto out;
	if (find(&l, "index.json"))
		r = load_oci(&l, &man, top, name, sizeof(name), err);
	else if (find(&l, "manifest.json"))
		r = load_docker(&l, &man, top, name, sizeof(name), err);
	else
		r = msb_fail(err, -EINVAL,
			     "%s is neither an OCI image layout (no index.json) "
			     "nor a docker save archive (no manifest.json)",
			     path);
	if (r < 0)
		goto out;
	if (o && o->tag)
		snprintf(name, sizeof(name), "%s", o->tag);
	if (!name[0]) {
		r = msb_fail(err, -EINVAL, "the archive does not name its "
			     "image: give it one with --tag NAME");
		goto out;
	}
	r = msb_ref_parse(name, &ref, err);
	if (r == 0 && !strcmp(name, "default"))
		r = msb_fail(err, -EINVAL, "'default' is the built-in image's "
			     "name: load this one under another with --tag");
	for (unsigned i = 0; r == 0 && i < (unsigned)json_object_array_length(l.extra); i++) {
		const char *d = json_object_get_string(
			json_object_array_get_idx(l.extra, i));

		r = commit(&l, d, &fetched, err);
	}
	if (r == 0)
		r = commit(&l, man.config_digest, &fetched, err);
	for (unsigned i = 0; r == 0 && i < man.nlayers; i++)
		r = commit(&l, man.layers[i].digest, &fetched, err);
	if (r < 0)
		goto out;
	if (o) {
		po.progress = o->progress;
		po.ctx = o->ctx;
	}
	r = msb_image_finish(&ref, top, &man, l.extra, &po, fetched, out, err);
out:
	/* a failed load takes back the blobs it stored */
	for (unsigned i = 0; r < 0 && i < l.nadded; i++) {
		char p[PATH_MAX];

		msb_blob_path(l.added[i], p, sizeof(p));
		unlink(p);
	}
	for (unsigned i = 0; i < l.n; i++) {
		if (l.f[i].tmp[0])
			unlink(l.f[i].tmp);
		free(l.f[i].name);
		free(l.f[i].link);
	}
	free(l.f);
	msb_manifest_free(&man);
	json_object_put(l.extra);
	return r;
}
