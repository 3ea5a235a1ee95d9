/* SPDX-License-Identifier: Apache-2.0 */
/* plugmeta.c - a plugin artifact's metadata, manifest and the registry's
 * index, parsed as hostile input (src/lib/plugreg.h)
 *
 * Nothing here does I/O: fuzz/plugin_meta.c calls these directly.
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "image.h"
#include "jsonx.h"
#include "plugreg.h"
#include "util.h"

/* The hooks of docs/plugins.md a plugin may ask for. */
static const char *const hooks[] = {
	"lifecycle", "exec_before", "exec_after", "dns", "connect",
	"http_request", "fs", "http_response", "http_response_head",
};

static const char *const builtin_names[] = { "audit-log", "rate-limiter" };

void msb_plugin_manifest_free(struct msb_plugin_manifest *m)
{
	free(m->files);
	memset(m, 0, sizeof(*m));
}

static int is_sep(char c)
{
	return c == '.' || c == '_' || c == '-';
}

int msb_plugin_name_check(const char *name, msb_error *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > 63)
		return msb_fail(err, MSB_E_INVALID, "a plugin's name has 1 to "
				"63 characters");
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) ||
		      is_sep(c)))
			return msb_fail(err, MSB_E_INVALID, "plugin name '%s': "
					"only lowercase letters, digits, '.', "
					"'_' and '-'", name);
		if (is_sep(c) && (i == 0 || i == n - 1 || is_sep(name[i - 1])))
			return msb_fail(err, MSB_E_INVALID, "plugin name '%s': "
					"'.', '_' and '-' go between letters "
					"or digits, one at a time", name);
	}
	for (size_t b = 0; b < sizeof(builtin_names) / sizeof(*builtin_names);
	     b++)
		if (!strcmp(name, builtin_names[b]))
			return msb_fail(err, MSB_E_INVALID, "'%s' is a "
					"built-in plugin's name", name);
	if (!strcmp(name, MSB_PLUGIN_INDEX_REPO))
		return msb_fail(err, MSB_E_INVALID, "'%s' is the registry "
				"index's name, not a plugin's", name);
	return 0;
}

int msb_plugin_path_check(const char *path, msb_error *err)
{
	size_t n = path ? strlen(path) : 0;
	const char *p = path;

	if (n < 1 || n >= MSB_PLUGIN_PATH_MAX || path[0] == '/')
		return msb_fail(err, MSB_E_INVALID, "a plugin file's path is "
				"relative, of 1 to %d bytes",
				MSB_PLUGIN_PATH_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return msb_fail(err, MSB_E_INVALID, "a plugin file's "
					"path holds a control character");
	while (*p) {
		size_t c = strcspn(p, "/");

		if (c == 0 || (c == 1 && p[0] == '.') ||
		    (c == 2 && p[0] == '.' && p[1] == '.'))
			return msb_fail(err, MSB_E_INVALID, "plugin file path "
					"'%s': empty, '.' or '..' component",
					path);
		p += c;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* text() - a string field of 0 (@min) to @max - 1 bytes, without control
 * characters, into @out. */
static int text(json_object *o, const char *key, char *out, size_t max,
		size_t min, msb_error *err)
{
	json_object *v;
	const char *s;
	size_t n;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(
		    v, json_type_null)) {
		if (min)
			return msb_fail(err, MSB_E_INVALID, "plugin metadata: "
					"\"%s\" is missing", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return msb_fail(err, MSB_E_INVALID, "plugin metadata: \"%s\" "
				"is not a string", key);
	s = json_object_get_string(v);
	n = strlen(s);
	if (n != (size_t)json_object_get_string_len(v) || n < min || n >= max)
		return msb_fail(err, MSB_E_INVALID, "plugin metadata: \"%s\" "
				"has %zu to %zu bytes", key, min, max - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return msb_fail(err, MSB_E_INVALID, "plugin metadata: "
					"\"%s\" holds a control character",
					key);
	memcpy(out, s, n + 1);
	return 0;
}

static int version_check(const char *v, msb_error *err)
{
	if (!isalnum((unsigned char)v[0]) || !strcmp(v, "latest"))
		return msb_fail(err, MSB_E_INVALID, "plugin version '%s': it "
				"starts with a letter or digit and is not "
				"'latest'", v);
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !is_sep(*p))
			return msb_fail(err, MSB_E_INVALID, "plugin version "
					"'%s': letters, digits, '.', '_' and "
					"'-' only (it is a registry tag)", v);
	return 0;
}

/* meta_from() - the metadata fields of object @o into @i. */
static int meta_from(json_object *o, msb_plugin_info *i, msb_error *err)
{
	json_object *h;
	size_t nh, used = 0;
	unsigned seen = 0;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return msb_fail(err, MSB_E_INVALID, "plugin metadata is not a "
				"JSON object");
	if ((r = text(o, "name", i->name, sizeof(i->name), 1, err)) < 0 ||
	    (r = text(o, "version", i->version, sizeof(i->version), 1,
		      err)) < 0 ||
	    (r = text(o, "kind", i->kind, sizeof(i->kind), 1, err)) < 0 ||
	    (r = text(o, "language", i->language, sizeof(i->language), 0,
		      err)) < 0 ||
	    (r = text(o, "command", i->command, sizeof(i->command), 1,
		      err)) < 0 ||
	    (r = text(o, "description", i->description,
		      sizeof(i->description), 0, err)) < 0)
		return r;
	if ((r = msb_plugin_name_check(i->name, err)) < 0 ||
	    (r = version_check(i->version, err)) < 0)
		return r;
	if (strcmp(i->kind, "process"))
		return msb_fail(err, MSB_E_INVALID, "plugin %s is of kind "
				"'%s': only 'process' plugins (a command "
				"speaking the hook protocol) are published",
				i->name, i->kind);
	for (const char *p = i->language; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
		    !strchr("+#._-", *p))
			return msb_fail(err, MSB_E_INVALID, "plugin %s: "
					"\"language\" is a lowercase word "
					"(python, node, go)", i->name);
	if (!json_object_object_get_ex(o, "hooks", &h) ||
	    !json_object_is_type(h, json_type_array) ||
	    !(nh = json_object_array_length(h)) ||
	    nh > sizeof(hooks) / sizeof(*hooks))
		return msb_fail(err, MSB_E_INVALID, "plugin %s: \"hooks\" is "
				"a list of the hooks it asks for (lifecycle, "
				"exec_before, exec_after, dns, connect, "
				"http_request, http_response, "
				"http_response_head, fs)", i->name);
	i->hooks[0] = '\0';
	for (size_t k = 0; k < nh; k++) {
		json_object *e = json_object_array_get_idx(h, k);
		const char *s = json_object_is_type(e, json_type_string) ?
					json_object_get_string(e) : NULL;
		size_t j;

		for (j = 0; s && j < sizeof(hooks) / sizeof(*hooks); j++)
			if (!strcmp(s, hooks[j]))
				break;
		if (!s || j == sizeof(hooks) / sizeof(*hooks))
			return msb_fail(err, MSB_E_INVALID, "plugin %s: no "
					"hook named '%.40s' (docs/plugins.md)",
					i->name, s ? s : "(not a string)");
		seen |= 1u << j;
	}
	for (size_t j = 0; j < sizeof(hooks) / sizeof(*hooks); j++)
		if (seen & (1u << j))
			used += (size_t)snprintf(i->hooks + used,
						 sizeof(i->hooks) - used,
						 "%s%s", used ? "," : "",
						 hooks[j]);
	return 0;
}

static json_object *parse_bounded(const char *buf, size_t len, size_t max,
				  const char *what, msb_error *err)
{
	json_tokener *t;
	json_object *o;

	if (len > max) {
		msb_fail(err, MSB_E_INVALID, "%s: larger than %zu bytes", what,
			 max);
		return NULL;
	}
	t = json_tokener_new_ex(32);
	if (!t) {
		msb_fail(err, -ENOMEM, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(t, buf, (int)len);
	if (!o || json_tokener_get_error(t) != json_tokener_success ||
	    json_tokener_get_parse_end(t) != len) {
		json_object_put(o);
		o = NULL;
		msb_fail(err, MSB_E_INVALID, "%s is not one JSON document",
			 what);
	}
	json_tokener_free(t);
	return o;
}

int msb_plugin_meta_parse(const char *buf, size_t len, msb_plugin_info *i,
			  msb_error *err)
{
	json_object *o = parse_bounded(buf, len, MSB_PLUGIN_META_MAX,
				       "plugin metadata", err);
	int r;

	if (!o)
		return err ? err->code : MSB_E_INVALID;
	r = meta_from(o, i, err);
	json_object_put(o);
	return r;
}

static json_object *meta_obj(const msb_plugin_info *i)
{
	json_object *o = json_object_new_object(), *h = json_object_new_array();
	char hk[sizeof(i->hooks)], *save = NULL;

	json_object_object_add(o, "name", json_object_new_string(i->name));
	json_object_object_add(o, "version",
			       json_object_new_string(i->version));
	json_object_object_add(o, "kind", json_object_new_string(i->kind));
	json_object_object_add(o, "language",
			       json_object_new_string(i->language));
	snprintf(hk, sizeof(hk), "%s", i->hooks);
	for (char *t = strtok_r(hk, ",", &save); t;
	     t = strtok_r(NULL, ",", &save))
		json_object_array_add(h, json_object_new_string(t));
	json_object_object_add(o, "hooks", h);
	json_object_object_add(o, "command",
			       json_object_new_string(i->command));
	json_object_object_add(o, "description",
			       json_object_new_string(i->description));
	return o;
}

static char *to_text(json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

char *msb_plugin_meta_json(const msb_plugin_info *i)
{
	return to_text(meta_obj(i));
}

/* desc() - a descriptor's digest and size (1 to @max bytes). */
static int desc(json_object *d, char *digest, size_t dn, uint64_t *size,
		uint64_t max)
{
	const char *dg = msb_jstr(d, "digest", NULL);
	json_object *v;
	int64_t sz;

	if (!dg || !msb_digest_valid(dg) ||
	    !json_object_object_get_ex(d, "size", &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	sz = json_object_get_int64(v);
	if (sz < 0 || (uint64_t)sz > max)
		return -1;
	snprintf(digest, dn, "%s", dg);
	*size = (uint64_t)sz;
	return 0;
}

int msb_plugin_manifest_parse(const char *buf, size_t len, int index,
			      struct msb_plugin_manifest *m, msb_error *err)
{
	const char *want_at = index ? MSB_PLUGIN_INDEX_ARTIFACT :
				      MSB_PLUGIN_ARTIFACT;
	const char *want_ct = index ? MSB_PLUGIN_INDEX_CONFIG :
				      MSB_PLUGIN_CONFIG;
	json_object *o, *cfg, *layers = NULL, *v;
	const char *at, *ct;
	uint64_t total = 0;
	size_t n = 0;
	int r = 0;

	memset(m, 0, sizeof(*m));
	o = parse_bounded(buf, len, MSB_MANIFEST_MAX, "the plugin's manifest",
			  err);
	if (!o)
		return err ? err->code : MSB_E_INVALID;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object)) {
		r = msb_fail(err, MSB_E_KIND, "not a %s: a manifest with no "
			     "config", index ? "plugin index" : "plugin");
		goto out;
	}
	at = msb_jstr(o, "artifactType", NULL);
	ct = msb_jstr(cfg, "mediaType", NULL);
	if (!(at && !strcmp(at, want_at)) && !(ct && !strcmp(ct, want_ct))) {
		r = msb_fail(err, MSB_E_KIND, "not a %s (its type is %.100s)",
			     index ? "plugin index" : "plugin",
			     at ? at : ct ? ct : "unknown");
		goto out;
	}
	if (!json_object_object_get_ex(o, "schemaVersion", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int(v) != 2) {
		r = msb_fail(err, MSB_E_PROTOCOL, "the plugin's manifest "
			     "schemaVersion is not 2");
		goto out;
	}
	if (desc(cfg, m->config_digest, sizeof(m->config_digest),
		 &m->config_size, index ? MSB_PLUGIN_INDEX_MAX :
					  MSB_PLUGIN_META_MAX) < 0 ||
	    !m->config_size) {
		r = msb_fail(err, MSB_E_PROTOCOL, "the plugin's manifest has a "
			     "bad config descriptor");
		goto out;
	}
	if (json_object_object_get_ex(o, "layers", &layers) &&
	    !json_object_is_type(layers, json_type_array)) {
		r = msb_fail(err, MSB_E_PROTOCOL, "the plugin's manifest "
			     "\"layers\" is not a list");
		goto out;
	}
	n = layers ? json_object_array_length(layers) : 0;
	if (index)
		n = 0;        /* the index's layers, if any, are not read */
	if (n > MSB_PLUGIN_FILES_MAX) {
		r = msb_fail(err, MSB_E_PROTOCOL, "the plugin has %zu files: "
			     "at most %d", n, MSB_PLUGIN_FILES_MAX);
		goto out;
	}
	m->files = n ? calloc(n, sizeof(*m->files)) : NULL;
	if (n && !m->files) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		json_object *d = json_object_array_get_idx(layers, k), *ann;
		struct msb_plugin_file *f = &m->files[k];
		const char *mt = msb_jstr(d, "mediaType", NULL), *t = NULL, *mode;

		if (json_object_object_get_ex(d, "annotations", &ann))
			t = msb_jstr(ann, MSB_PLUGIN_TITLE_KEY, NULL);
		mode = json_object_object_get_ex(d, "annotations", &ann) ?
			       msb_jstr(ann, MSB_PLUGIN_MODE_KEY, NULL) : NULL;
		if (!mt || strcmp(mt, MSB_PLUGIN_FILE) ||
		    desc(d, f->digest, sizeof(f->digest), &f->size,
			 MSB_PLUGIN_FILE_MAX) < 0 || !t) {
			r = msb_fail(err, MSB_E_PROTOCOL, "the plugin's layer %zu "
				     "is not a plugin file (a %s with a "
				     "digest, a size and a title)", k,
				     MSB_PLUGIN_FILE);
			goto out;
		}
		r = msb_plugin_path_check(t, err);
		if (r < 0)
			goto out;
		snprintf(f->path, sizeof(f->path), "%s", t);
		f->mode = mode && !strcmp(mode, "0755") ? 0755 : 0644;
		total += f->size;
		for (size_t j = 0; j < k; j++) {
			size_t lj = strlen(m->files[j].path), lk = strlen(t);

			/* the same path twice, or a file under another */
			if (!strcmp(m->files[j].path, t) ||
			    (lj < lk && !strncmp(m->files[j].path, t, lj) &&
			     t[lj] == '/') ||
			    (lk < lj && !strncmp(m->files[j].path, t, lk) &&
			     m->files[j].path[lk] == '/')) {
				r = msb_fail(err, MSB_E_PROTOCOL, "the plugin "
					     "names '%s' twice", t);
				goto out;
			}
		}
		m->nfiles = k + 1;
	}
	if (total > MSB_PLUGIN_TOTAL_MAX)
		r = msb_fail(err, MSB_E_PROTOCOL, "the plugin's files take more "
			     "than %llu MiB",
			     (unsigned long long)(MSB_PLUGIN_TOTAL_MAX >> 20));
out:
	json_object_put(o);
	if (r < 0)
		msb_plugin_manifest_free(m);
	return r;
}

int msb_plugin_index_parse(const char *buf, size_t len, msb_plugin_info **out,
			   size_t *n, msb_error *err)
{
	json_object *o, *list;
	msb_plugin_info *v = NULL;
	size_t cnt;
	int r = 0;

	*out = NULL;
	*n = 0;
	o = parse_bounded(buf, len, MSB_PLUGIN_INDEX_MAX, "the plugin index",
			  err);
	if (!o)
		return err ? err->code : MSB_E_INVALID;
	if (!json_object_object_get_ex(o, "plugins", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    (cnt = json_object_array_length(list)) > MSB_PLUGIN_INDEX_ENTRIES) {
		r = msb_fail(err, MSB_E_PROTOCOL, "the plugin index has no "
			     "\"plugins\" list (of at most %d)",
			     MSB_PLUGIN_INDEX_ENTRIES);
		goto out;
	}
	v = cnt ? calloc(cnt, sizeof(*v)) : NULL;
	if (cnt && !v) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < cnt; k++) {
		json_object *e = json_object_array_get_idx(list, k);
		msb_error why = { 0 };

		r = meta_from(e, &v[k], &why);
		if (r == 0)
			r = text(e, "reference", v[k].reference,
				 sizeof(v[k].reference), 1, &why);
		if (r == 0)
			r = text(e, "digest", v[k].digest, sizeof(v[k].digest),
				 1, &why);
		if (r == 0 && !msb_digest_valid(v[k].digest))
			r = msb_fail(&why, MSB_E_PROTOCOL, "a bad digest");
		if (r < 0) {
			r = msb_fail(err, MSB_E_PROTOCOL, "the plugin index's "
				     "entry %zu is bad: %s", k, why.message);
			goto out;
		}
	}
	*out = v;
	*n = cnt;
	v = NULL;
out:
	free(v);
	json_object_put(o);
	return r;
}

char *msb_plugin_index_json(const msb_plugin_info *v, size_t n)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();

	for (size_t k = 0; k < n; k++) {
		json_object *e = meta_obj(&v[k]);

		json_object_object_add(e, "reference",
				       json_object_new_string(v[k].reference));
		json_object_object_add(e, "digest",
				       json_object_new_string(v[k].digest));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "plugins", a);
	return to_text(o);
}
