/* SPDX-License-Identifier: Apache-2.0 */
/* plugreg.c - msb_plugin_publish(), _install(), _search(): plugins to and
 * from an OCI registry with the image store's client (src/lib/plugreg.h)
 *
 * A publish sends each file's blob (those the registry lacks), the
 * metadata as the config blob, the manifest under VERSION and latest,
 * then the index: read, its entry for the plugin replaced, put again
 * under latest. Two publishers at once may lose one's index entry (the
 * registry has no compare-and-swap); publishing again puts it back.
 * An install checks every blob against its digest as it is stored (the
 * store's msb_blob_commit()), writes the files and the record under a
 * temporary name and renames it into place.
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "image.h"
#include "plugreg.h"
#include "sync.h"
#include "util.h"

/* ---- where -------------------------------------------------------------- */

/* registry_of() - @registry or $MSB_PLUGIN_REGISTRY, without a trailing
 * '/', into @out: REGISTRY/NAMESPACE, its first component a host. */
static int registry_of(const char *registry, char *out, size_t n,
		       msb_error *err)
{
	const char *r = registry && *registry ? registry :
						getenv("MSB_PLUGIN_REGISTRY");
	struct msb_ref ref;
	char probe[800];
	size_t l;

	if (!r || !*r)
		return msb_fail(err, MSB_E_INVALID, "no plugin registry: give "
				"--registry REGISTRY/NAMESPACE (e.g. "
				"ghcr.io/me/plugins) or set "
				"$MSB_PLUGIN_REGISTRY");
	l = strlen(r);
	while (l && r[l - 1] == '/')
		l--;
	if (!l || l >= n || strchr(r, '@'))
		return msb_fail(err, MSB_E_INVALID, "bad plugin registry '%s'",
				r);
	memcpy(out, r, l);
	out[l] = '\0';
	snprintf(probe, sizeof(probe), "%s/%s:latest", out,
		 MSB_PLUGIN_INDEX_REPO);
	if (msb_ref_parse(probe, &ref, err) < 0)
		return msb_fail(err, MSB_E_INVALID, "bad plugin registry "
				"'%s': %s", out, err ? err->message : "");
	if (!strcmp(ref.registry, "docker.io") &&
	    strncmp(out, "docker.io/", 10))
		return msb_fail(err, MSB_E_INVALID, "plugin registry '%s' "
				"names no registry host: write "
				"HOST[:PORT]/NAMESPACE", out);
	return 0;
}

static int open_repo(const char *reg, const char *repo, const char *tag,
		     int push, struct msb_ref *ref, struct msb_registry **out,
		     msb_error *err)
{
	char s[800];
	int r;

	snprintf(s, sizeof(s), "%s/%s%s%s", reg, repo, tag[0] == '@' ? "" : ":",
		 tag);
	r = msb_ref_parse(s, ref, err);
	if (r == 0)
		r = msb_registry_open(ref, 0, out, err);
	if (r == 0 && push)
		msb_registry_want_push(*out);
	return r;
}

/* fetch_small() - blob @digest (@size bytes, at most @max) from @reg,
 * checked against its digest; the store keeps it only if it had it. */
static char *fetch_small(struct msb_registry *reg, const char *digest,
			 uint64_t size, size_t max, size_t *len,
			 msb_error *err)
{
	int added = !msb_blob_have(digest);
	char *buf, p[4200];

	if (added && msb_registry_blob(reg, digest, size, NULL, NULL, err) < 0)
		return NULL;
	buf = msb_blob_read(digest, max, len);
	if (added) {
		msb_blob_path(digest, p, sizeof(p));
		unlink(p);
	}
	if (!buf)
		msb_fail(err, -EIO, "cannot read blob %.19s", digest);
	return buf;
}

/* fetch_index() - @reg's index entries; none (0) when it has no index. */
static int fetch_index(const char *regname, msb_plugin_info **v, size_t *n,
		       int push, struct msb_registry **keep, msb_error *err)
{
	struct msb_plugin_manifest m = { 0 };
	struct msb_registry *reg = NULL;
	struct msb_ref ref;
	char *body = NULL, *cfg = NULL, mt[200], dg[80];
	size_t len;
	int r;

	*v = NULL;
	*n = 0;
	r = open_repo(regname, MSB_PLUGIN_INDEX_REPO, "latest", push, &ref,
		      &reg, err);
	if (r == 0)
		r = msb_registry_manifest(reg, "latest", &body, &len, mt,
					  sizeof(mt), dg, sizeof(dg), err);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r == 0)
		r = msb_plugin_manifest_parse(body, len, 1, &m, err);
	if (r == 0) {
		cfg = fetch_small(reg, m.config_digest, m.config_size,
				  MSB_PLUGIN_INDEX_MAX, &len, err);
		r = cfg ? msb_plugin_index_parse(cfg, len, v, n, err) :
			  err->code;
	}
out:
	if (r == 0 && keep) {
		*keep = reg;
		reg = NULL;
	}
	msb_registry_close(reg);
	msb_plugin_manifest_free(&m);
	free(body);
	free(cfg);
	return r;
}

/* ---- publish ------------------------------------------------------------ */

struct pub_file {
	char path[MSB_PLUGIN_PATH_MAX];
	unsigned mode;
	uint64_t size;
};

struct pub {
	struct pub_file *v;
	size_t n, cap;
	uint64_t total;
};

/* walk() - the regular files under @root/@rel, depth first. */
static int walk(const char *root, const char *rel, int depth, struct pub *p,
		msb_error *err)
{
	char dir[4600];
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (depth > 16)
		return msb_fail(err, MSB_E_INVALID, "plugin directory %s: "
				"nested more than 16 deep", root);
	snprintf(dir, sizeof(dir), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(dir);
	if (!d)
		return msb_fail_errno(err, -errno, "cannot read %s", dir);
	while (r == 0 && (e = readdir(d))) {
		char sub[MSB_PLUGIN_PATH_MAX + 260], full[4900];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
			     e->d_name) >= MSB_PLUGIN_PATH_MAX) {
			r = msb_fail(err, MSB_E_INVALID, "plugin file path "
				     "'%s' is too long", sub);
			break;
		}
		if (!*rel && !strcmp(e->d_name, "plugin.json"))
			continue;
		snprintf(full, sizeof(full), "%s/%s", root, sub);
		if (lstat(full, &st) < 0) {
			r = msb_fail_errno(err, -errno, "%s", full);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			r = walk(root, sub, depth + 1, p, err);
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			r = msb_fail(err, MSB_E_INVALID, "plugin file %s is not "
				     "a regular file (a plugin publishes "
				     "files and directories only)", full);
			break;
		}
		r = msb_plugin_path_check(sub, err);
		if (r < 0)
			break;
		if ((uint64_t)st.st_size > MSB_PLUGIN_FILE_MAX ||
		    p->total + (uint64_t)st.st_size > MSB_PLUGIN_TOTAL_MAX ||
		    p->n == MSB_PLUGIN_FILES_MAX) {
			r = msb_fail(err, MSB_E_INVALID, "plugin directory %s "
				     "is too big: at most %d files, %llu MiB "
				     "each, %llu MiB in all", root,
				     MSB_PLUGIN_FILES_MAX,
				     (unsigned long long)(MSB_PLUGIN_FILE_MAX >> 20),
				     (unsigned long long)(MSB_PLUGIN_TOTAL_MAX >> 20));
			break;
		}
		if (p->n == p->cap) {
			struct pub_file *nv;

			p->cap = p->cap ? 2 * p->cap : 16;
			nv = realloc(p->v, p->cap * sizeof(*nv));
			if (!nv) {
				r = msb_fail(err, -ENOMEM, "out of memory");
				break;
			}
			p->v = nv;
		}
		snprintf(p->v[p->n].path, sizeof(p->v[p->n].path), "%s", sub);
		p->v[p->n].mode = st.st_mode & 0111 ? 0755 : 0644;
		p->v[p->n].size = (uint64_t)st.st_size;
		p->total += (uint64_t)st.st_size;
		p->n++;
	}
	closedir(d);
	return r;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct pub_file *)a)->path,
		      ((const struct pub_file *)b)->path);
}

/* push_blob() - @len bytes up, unless the registry has them. */
static int push_blob(struct msb_registry *reg, const void *buf, size_t len,
		     char digest[72], msb_error *err)
{
	int r;

	msb_sha256_digest(buf, len, digest);
	r = msb_registry_blob_head(reg, digest, len, err);
	if (r == 0)
		r = msb_registry_blob_push(reg, digest, buf, len, NULL, NULL,
					   err);
	return r < 0 ? r : 0;
}

static json_object *descriptor(const char *mt, const char *digest,
			       uint64_t size)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "mediaType", json_object_new_string(mt));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

/* put_manifest() - an OCI manifest of @artifact_type whose config is
 * @cfg (of @cfg_type) and whose layers are @layers (taken), under each of
 * @tags; @digest gets its digest. */
static int put_manifest(struct msb_registry *reg, const char *artifact_type,
			const char *cfg_type, const char *cfg,
			json_object *layers, json_object *ann,
			const char *const *tags, size_t ntags, char *digest,
			size_t dn, msb_error *err)
{
	json_object *m = json_object_new_object();
	char cd[72];
	const char *text;
	int r = push_blob(reg, cfg, strlen(cfg), cd, err);

	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType",
			       json_object_new_string(MSB_OCI_MANIFEST));
	json_object_object_add(m, "artifactType",
			       json_object_new_string(artifact_type));
	json_object_object_add(m, "config",
			       descriptor(cfg_type, cd, strlen(cfg)));
	json_object_object_add(m, "layers", layers);
	if (ann)
		json_object_object_add(m, "annotations", ann);
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	for (size_t t = 0; r == 0 && t < ntags; t++)
		r = msb_registry_manifest_put(reg, tags[t], text, strlen(text),
					      MSB_OCI_MANIFEST, digest, dn, err);
	json_object_put(m);
	return r;
}

static int by_info_name(const void *a, const void *b)
{
	return strcmp(((const msb_plugin_info *)a)->name,
		      ((const msb_plugin_info *)b)->name);
}

/* index_enter() - @i into the index of @regname. */
static int index_enter(const char *regname, const msb_plugin_info *i,
		       msb_error *err)
{
	struct msb_registry *reg = NULL;
	msb_plugin_info *v = NULL, *nv;
	const char *tags[] = { "latest" };
	char *cfg = NULL, dg[80];
	size_t n = 0, k;
	int r = fetch_index(regname, &v, &n, 1, &reg, err);

	if (r < 0)
		goto out;
	for (k = 0; k < n && strcmp(v[k].name, i->name); k++)
		;
	if (k == n) {
		if (n >= MSB_PLUGIN_INDEX_ENTRIES) {
			r = msb_fail(err, MSB_E_INVALID, "the plugin index of "
				     "%s is full (%d plugins)", regname,
				     MSB_PLUGIN_INDEX_ENTRIES);
			goto out;
		}
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			r = msb_fail(err, -ENOMEM, "out of memory");
			goto out;
		}
		v = nv;
		n++;
	}
	v[k] = *i;
	v[k].path[0] = '\0';
	qsort(v, n, sizeof(*v), by_info_name);
	cfg = msb_plugin_index_json(v, n);
	if (!cfg) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = put_manifest(reg, MSB_PLUGIN_INDEX_ARTIFACT,
			 MSB_PLUGIN_INDEX_CONFIG, cfg, json_object_new_array(),
			 NULL, tags, 1, dg, sizeof(dg), err);
out:
	if (r < 0 && err && !strstr(err->message, "index"))
		msb_fail_over(err, err->code, "%s:%s is published, but the "
			      "index of %s was not updated (publish again): "
			      "%s", i->name, i->version, regname,
			      err->message);
	msb_registry_close(reg);
	free(cfg);
	free(v);
	return r;
}

int msb_plugin_publish(const char *dir, const char *registry,
		       msb_plugin_info *out, msb_error *err)
{
	struct msb_registry *reg = NULL;
	struct pub p = { 0 };
	msb_plugin_info i = { 0 };
	struct msb_ref ref;
	json_object *layers = NULL, *ann;
	char regname[700], path[4200], *meta = NULL, *cfg = NULL;
	const char *tags[2];
	size_t len;
	int r;

	r = registry_of(registry, regname, sizeof(regname), err);
	if (r < 0)
		return r;
	if (!dir || !*dir)
		return msb_fail(err, MSB_E_INVALID, "publish needs the plugin's "
				"directory");
	snprintf(path, sizeof(path), "%s/plugin.json", dir);
	meta = msb_read_file(path, &len);
	if (!meta)
		return msb_fail_errno(err, errno ? -errno : -EIO, "cannot read "
				      "%s (a plugin's directory holds its "
				      "metadata there: docs/plugins.md)", path);
	r = msb_plugin_meta_parse(meta, len, &i, err);
	if (r < 0) {
		msb_fail_over(err, r, "%s: %s", path, err ? err->message : "");
		goto out;
	}
	r = walk(dir, "", 0, &p, err);
	if (r < 0)
		goto out;
	if (!p.n) {
		r = msb_fail(err, MSB_E_INVALID, "plugin directory %s has no "
			     "files besides plugin.json", dir);
		goto out;
	}
	if (p.n > 1)
		qsort(p.v, p.n, sizeof(*p.v), by_path);
	r = open_repo(regname, i.name, i.version, 1, &ref, &reg, err);
	if (r < 0)
		goto out;
	layers = json_object_new_array();
	for (size_t k = 0; r == 0 && k < p.n; k++) {
		char full[4600], dg[72], *buf;
		size_t blen;
		json_object *d, *a;

		snprintf(full, sizeof(full), "%s/%s", dir, p.v[k].path);
		buf = msb_read_file(full, &blen);
		if (!buf) {
			r = msb_fail_errno(err, errno ? -errno : -EIO,
					   "cannot read %s", full);
			break;
		}
		r = push_blob(reg, buf, blen, dg, err);
		free(buf);
		if (r < 0)
			break;
		d = descriptor(MSB_PLUGIN_FILE, dg, blen);
		a = json_object_new_object();
		json_object_object_add(a, MSB_PLUGIN_TITLE_KEY,
				       json_object_new_string(p.v[k].path));
		json_object_object_add(a, MSB_PLUGIN_MODE_KEY,
				       json_object_new_string(
					       p.v[k].mode == 0755 ? "0755" :
								     "0644"));
		json_object_object_add(d, "annotations", a);
		json_object_array_add(layers, d);
		i.size += blen;
		i.files++;
	}
	if (r < 0)
		goto out;
	cfg = msb_plugin_meta_json(&i);
	ann = json_object_new_object();
	json_object_object_add(ann, MSB_PLUGIN_TITLE_KEY,
			       json_object_new_string(i.name));
	json_object_object_add(ann, "org.opencontainers.image.version",
			       json_object_new_string(i.version));
	tags[0] = i.version;
	tags[1] = "latest";
	r = put_manifest(reg, MSB_PLUGIN_ARTIFACT, MSB_PLUGIN_CONFIG, cfg,
			 layers, ann, tags, 2, i.digest, sizeof(i.digest), err);
	layers = NULL;
	if (r < 0)
		goto out;
	snprintf(i.reference, sizeof(i.reference), "%s/%s:%s", regname,
		 i.name, i.version);
	r = index_enter(regname, &i, err);
	if (r == 0 && out)
		*out = i;
out:
	json_object_put(layers);
	msb_registry_close(reg);
	free(p.v);
	free(meta);
	free(cfg);
	return r;
}

/* ---- search ------------------------------------------------------------- */

static int holds(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

int msb_plugin_search(const char *registry, const char *query,
		      msb_plugin_info **out, size_t *n, msb_error *err)
{
	char regname[700];
	msb_plugin_info *v;
	size_t cnt, keep = 0;
	int r;

	*out = NULL;
	*n = 0;
	r = registry_of(registry, regname, sizeof(regname), err);
	if (r == 0)
		r = msb_home_ready(err);
	if (r == 0)
		r = msb_store_dirs(err);
	if (r == 0)
		r = fetch_index(regname, &v, &cnt, 0, NULL, err);
	if (r < 0)
		return r;
	for (size_t k = 0; k < cnt; k++) {
		msb_plugin_info *i = &v[k];

		if (!query || !*query || holds(i->name, query) ||
		    holds(i->description, query) || holds(i->hooks, query) ||
		    holds(i->language, query) || holds(i->kind, query))
			v[keep++] = *i;
	}
	if (!keep) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = keep;
	return 0;
}

/* ---- install ------------------------------------------------------------ */

/* target() - the reference @what names under @registry (or itself). */
static int target(const char *what, const char *registry, struct msb_ref *ref,
		  char *want_name, size_t wn, msb_error *err)
{
	char regname[700], s[1500], name[128];
	size_t l;

	want_name[0] = '\0';
	if (!what || !*what)
		return msb_fail(err, MSB_E_INVALID, "install needs a plugin's "
				"name or reference");
	if (strchr(what, '/'))
		return msb_ref_parse(what, ref, err);
	l = strcspn(what, ":@");
	if (l >= sizeof(name))
		return msb_fail(err, MSB_E_INVALID, "plugin name '%s' is too "
				"long", what);
	memcpy(name, what, l);
	name[l] = '\0';
	if (msb_plugin_name_check(name, err) < 0)
		return err ? err->code : MSB_E_INVALID;
	if (registry_of(registry, regname, sizeof(regname), err) < 0)
		return err ? err->code : MSB_E_INVALID;
	snprintf(want_name, wn, "%s", name);
	snprintf(s, sizeof(s), "%s/%s%s", regname, what,
		 what[l] ? "" : ":latest");
	return msb_ref_parse(s, ref, err);
}

/* write_blob_to() - blob @digest of the store into @dfd/@path (its
 * directories made), mode @mode. */
static int write_blob_to(int dfd, const char *path, const char *digest,
			 unsigned mode, msb_error *err)
{
	char src[4200], dirs[MSB_PLUGIN_PATH_MAX], buf[1 << 16];
	int in, out, r = 0;
	ssize_t k;

	snprintf(dirs, sizeof(dirs), "%s", path);
	for (char *s = strchr(dirs, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dfd, dirs, 0755) < 0 && errno != EEXIST)
			return msb_fail_errno(err, -errno, "plugin file %s",
					      path);
		*s = '/';
	}
	msb_blob_path(digest, src, sizeof(src));
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return msb_fail_errno(err, -errno, "blob %.19s", digest);
	out = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		     O_CLOEXEC, mode);
	if (out < 0) {
		r = msb_fail_errno(err, -errno, "plugin file %s", path);
		close(in);
		return r;
	}
	while ((k = read(in, buf, sizeof(buf))) > 0)
		if (msb_write_all(out, buf, (size_t)k) < 0) {
			k = -1;
			break;
		}
	if (k < 0)
		r = errno == ENOSPC ? msb_fail_nospace(err, "installing a "
						       "plugin") :
			msb_fail_errno(err, -errno, "plugin file %s", path);
	fchmod(out, mode);
	close(out);
	close(in);
	return r;
}

static int write_record(const char *dir, const char *reference,
			const char *digest, const char *man, const char *cfg,
			msb_error *err)
{
	json_object *o = json_object_new_object();
	char path[4200];
	const char *text;
	int r;

	json_object_object_add(o, "reference", json_object_new_string(reference));
	json_object_object_add(o, "digest", json_object_new_string(digest));
	json_object_object_add(o, "installed_at",
			       json_object_new_int64(msb_wall_s()));
	json_object_object_add(o, "manifest", json_object_new_string(man));
	json_object_object_add(o, "config", json_object_new_string(cfg));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(path, sizeof(path), "%s/record.json", dir);
	r = msb_write_file(path, text, strlen(text), 0644);
	json_object_put(o);
	return r < 0 ? msb_fail_errno(err, r, "cannot write %s", path) : 0;
}

int msb_plugin_install(const char *what, const char *registry,
		       msb_plugin_info *out, msb_error *err)
{
	struct msb_plugin_manifest m = { 0 };
	struct msb_registry *reg = NULL;
	msb_plugin_info i = { 0 };
	struct msb_ref ref;
	char want[128], canon[900], mt[200], dg[80], plugdir[4096];
	char tmp[4300] = "", final[4200], old[4300];
	char *body = NULL, *cfg = NULL;
	size_t len, clen;
	int r, dfd = -1;

	r = target(what, registry, &ref, want, sizeof(want), err);
	if (r == 0)
		r = msb_home_ready(err);
	if (r == 0)
		r = msb_store_dirs(err);
	if (r < 0)
		return r;
	msb_ref_format(&ref, canon, sizeof(canon));
	r = msb_registry_open(&ref, 0, &reg, err);
	if (r == 0)
		r = msb_registry_manifest(reg, ref.digest[0] ? ref.digest :
					  ref.tag, &body, &len, mt, sizeof(mt),
					  dg, sizeof(dg), err);
	if (r == -ENOENT)
		r = msb_fail(err, MSB_E_NOT_FOUND, "%s has no plugin %s "
			     "('msb plugin search' lists what it has)",
			     ref.registry, canon);
	if (r == 0 && strlen(body) != len)
		r = msb_fail(err, MSB_E_PROTOCOL, "%s: its manifest holds a NUL "
			     "byte", canon);
	if (r == 0 && ref.digest[0] && strcmp(dg, ref.digest))
		r = msb_fail(err, MSB_E_DAMAGED, "%s: the registry sent a "
			     "manifest of digest %.19s", canon, dg);
	if (r == 0)
		r = msb_plugin_manifest_parse(body, len, 0, &m, err);
	if (r == MSB_E_KIND)
		msb_fail_over(err, MSB_E_KIND, "%s is %s", canon,
			      err ? err->message : "");
	if (r < 0)
		goto out;
	cfg = fetch_small(reg, m.config_digest, m.config_size,
			  MSB_PLUGIN_META_MAX, &clen, err);
	if (!cfg) {
		r = err ? err->code : -EIO;
		goto out;
	}
	if (strlen(cfg) != clen) {
		r = msb_fail(err, MSB_E_PROTOCOL, "%s: its metadata holds a NUL "
			     "byte", canon);
		goto out;
	}
	r = msb_plugin_meta_parse(cfg, clen, &i, err);
	if (r < 0)
		goto out;
	if (want[0] && strcmp(want, i.name)) {
		r = msb_fail(err, MSB_E_PROTOCOL, "%s holds plugin '%s', not "
			     "'%s'", canon, i.name, want);
		goto out;
	}
	msb_plugins_dir(plugdir, sizeof(plugdir));
	if (msb_mkdir_p(plugdir, 0755) < 0) {
		r = msb_fail_errno(err, -errno, "cannot make %s", plugdir);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/.new-%s-%d", plugdir, i.name,
		 (int)getpid());
	msb_rm_rf(tmp);
	snprintf(final, sizeof(final), "%s/files", tmp);
	if (msb_mkdir_p(final, 0755) < 0) {
		r = msb_fail_errno(err, -errno, "cannot make %s", final);
		goto out;
	}
	dfd = open(final, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t k = 0; r == 0 && k < m.nfiles; k++) {
		struct msb_plugin_file *f = &m.files[k];
		int added = !msb_blob_have(f->digest);
		char p[4200];

		if (added)
			r = msb_registry_blob(reg, f->digest, f->size, NULL,
					      NULL, err);
		if (r == 0)
			r = write_blob_to(dfd, f->path, f->digest, f->mode,
					  err);
		if (added) {
			msb_blob_path(f->digest, p, sizeof(p));
			unlink(p);
		}
	}
	if (r == 0)
		r = write_record(tmp, canon, dg, body, cfg, err);
	if (r < 0)
		goto out;
	/* the new one in place of the old (an upgrade) */
	snprintf(final, sizeof(final), "%s/%s", plugdir, i.name);
	snprintf(old, sizeof(old), "%s/.old-%s-%d", plugdir, i.name,
		 (int)getpid());
	if (rename(final, old) < 0 && errno != ENOENT) {
		r = msb_fail_errno(err, -errno, "cannot replace %s", final);
		goto out;
	}
	if (rename(tmp, final) < 0) {
		r = msb_fail_errno(err, -errno, "cannot install %s", final);
		rename(old, final);
		goto out;
	}
	msb_rm_rf(old);
	snprintf(want, sizeof(want), "%s", i.name);
	r = msb_plugin_verify(want, dg, &i, err);
	if (r == 0 && out)
		*out = i;
out:
	if (dfd >= 0)
		close(dfd);
	if (r < 0 && tmp[0] && strstr(tmp, "/.new-"))
		msb_rm_rf(tmp);
	msb_plugin_manifest_free(&m);
	msb_registry_close(reg);
	free(body);
	free(cfg);
	return r;
}
