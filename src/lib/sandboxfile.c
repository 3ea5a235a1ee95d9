/* SPDX-License-Identifier: Apache-2.0 */
/* sandboxfile.c - a Sandboxfile into a struct msb_project
 *
 * Theory of operation. libyaml loads the file as one document (a tree of
 * nodes that remember where they start); the walker below goes down it
 * with a table of the keys each mapping may hold, so an unknown key, a
 * duplicate one, a wrong type or a bad value stops the load with
 * "FILE:LINE:COL: KEY.PATH: what is wrong; what to write instead". Values
 * are checked by the functions msb run's flags go through (sizes, names,
 * network rules, secrets, TLS names and certificates, volume options), so
 * the file takes exactly what the command line takes. Plain scalars are
 * read as text and interpreted by the key they belong to (8000:8000 is a
 * port, never YAML 1.1's sexagesimal number); booleans are true or false.
 *
 * Anchors and aliases are YAML's own and work anywhere; top-level keys
 * starting with "x-" are ignored, so they can hold what anchors share.
 * Nothing is made or started here: named volumes and host directories are
 * checked when the project comes up.
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sandboxfile.h"
#include "suggest.h"
#include "util.h"

/* ---- memory: everything belongs to the project ---- */

void *sf_alloc(struct msb_project *p, size_t n)
{
	void *m;

	if (p->nmem == p->capmem) {
		size_t cap = p->capmem ? p->capmem * 2 : 64;
		void **v = realloc(p->mem, cap * sizeof(*v));

		if (!v)
			return NULL;
		p->mem = v;
		p->capmem = cap;
	}
	m = calloc(1, n ? n : 1);
	if (m)
		p->mem[p->nmem++] = m;
	return m;
}

char *sf_strdup(struct msb_project *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = sf_alloc(p, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

char *sf_fmt(struct msb_project *p, const char *fmt, ...)
{
	char *t, *d;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&t, fmt, ap);
	va_end(ap);
	if (r < 0)
		return NULL;
	d = sf_strdup(p, t);
	free(t);
	return d;
}

MSB_API void msb_project_free(msb_project *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nmem; i++)
		free(p->mem[i]);
	free(p->mem);
	free(p);
}

int sf_vec_push(struct vec *v, char *s)
{
	if (v->n + 1 >= v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		char **nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
	return 0;
}

char **sf_vec_done(struct msb_project *p, struct vec *v)
{
	char **out = sf_alloc(p, (v->n + 1) * sizeof(char *));

	if (out && v->n)
		memcpy(out, v->v, v->n * sizeof(char *));
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
	return out;
}

/* ---- errors ---- */

struct proj_pos sf_pos(const yaml_node_t *n)
{
	struct proj_pos ps = { 1, 1 };

	if (n) {
		ps.line = (unsigned)n->start_mark.line + 1;
		ps.col = (unsigned)n->start_mark.column + 1;
	}
	return ps;
}

/* sf_fail() - "FILE:LINE:COL: PATH: message" into the error. */
int sf_fail(struct sf *s, const yaml_node_t *n, const char *path,
		const char *fmt, ...)
{
	char msg[900];
	struct proj_pos ps = sf_pos(n);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return msb_fail(s->err, -EINVAL, "%s:%u:%u: %s%s%s", s->show, ps.line,
			ps.col, path && *path ? path : "",
			path && *path ? ": " : "", msg);
}

/* sf_fail_lib() - a check of the library's refused @n: its message, placed. */
int sf_fail_lib(struct sf *s, const yaml_node_t *n, const char *path,
		    const msb_error *why)
{
	return sf_fail(s, n, path, "%s", why->message);
}

int sf_oom(struct sf *s)
{
	return msb_fail(s->err, -ENOMEM, "%s: out of memory", s->show);
}

/* ---- nodes ---- */

yaml_node_t *sf_node(struct sf *s, int id)
{
	return yaml_document_get_node(&s->doc, id);
}

const char *sf_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a single value";
	}
}

const char *sf_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* sf_is_null() - "~", "null" or nothing at all, unquoted. */
int sf_is_null(const yaml_node_t *n)
{
	const char *t;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	t = sf_text(n);
	return !*t || !strcmp(t, "~") || !strcmp(t, "null") ||
	       !strcmp(t, "Null") || !strcmp(t, "NULL");
}

void sf_key_path(char *out, const char *path, const char *key)
{
	snprintf(out, PATH_LEN, "%s%s%s", path, *path ? "." : "", key);
}

void sf_index_path(char *out, const char *path, size_t i)
{
	snprintf(out, PATH_LEN, "%s[%zu]", path, i);
}

/* sf_scalar() - the text of a single value; @what says what was expected. */
int sf_scalar(struct sf *s, yaml_node_t *n, const char *path,
		  const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || sf_is_null(n))
		return sf_fail(s, n, path, "expected %s, found %s", what,
			    n->type == YAML_SCALAR_NODE ? "nothing" :
							  sf_kind(n));
	if (strlen(sf_text(n)) != n->data.scalar.length)
		return sf_fail(s, n, path, "a NUL byte in a value");
	*out = sf_text(n);
	return 0;
}

int sf_pscalar(struct sf *s, yaml_node_t *n, const char *path,
		   const char *what, char **out)
{
	const char *t;
	int r = sf_scalar(s, n, path, what, &t);

	if (r < 0)
		return r;
	*out = sf_strdup(s->p, t);
	return *out ? 0 : sf_oom(s);
}

int sf_bool(struct sf *s, yaml_node_t *n, const char *path,
		    int *out)
{
	const char *t;

	if (n->type == YAML_SCALAR_NODE &&
	    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		t = sf_text(n);
		if (!strcmp(t, "true") || !strcmp(t, "True") ||
		    !strcmp(t, "TRUE")) {
			*out = 1;
			return 0;
		}
		if (!strcmp(t, "false") || !strcmp(t, "False") ||
		    !strcmp(t, "FALSE")) {
			*out = 0;
			return 0;
		}
	}
	return sf_fail(s, n, path, "expected true or false, found %s%s%s%s",
		    n->type == YAML_SCALAR_NODE ? "'" : "",
		    n->type == YAML_SCALAR_NODE ? sf_text(n) : sf_kind(n),
		    n->type == YAML_SCALAR_NODE ? "'" : "",
		    n->type == YAML_SCALAR_NODE &&
				    n->data.scalar.style !=
					    YAML_PLAIN_SCALAR_STYLE ?
			    " (quoted: a string)" : "");
}

int sf_uint(struct sf *s, yaml_node_t *n, const char *path,
		    unsigned min, unsigned max, unsigned *out)
{
	const char *t;
	char *end;
	unsigned long v;
	int r = sf_scalar(s, n, path, "a whole number", &t);

	if (r < 0)
		return r;
	errno = 0;
	v = strtoul(t, &end, 10);
	if (!isdigit((unsigned char)*t) || *end || errno || v < min ||
	    v > max)
		return sf_fail(s, n, path,
			    "invalid value '%s': use a whole number from %u "
			    "to %u", t, min, max);
	*out = (unsigned)v;
	return 0;
}

int sf_size(struct sf *s, yaml_node_t *n, const char *path,
		    const char *what, uint64_t min, uint64_t max,
		    uint64_t *mib)
{
	msb_error e = { 0 };
	const char *t;
	int r = sf_scalar(s, n, path, "a size such as 512M or 10G", &t);

	if (r < 0)
		return r;
	if (msb_parse_mib(t, what, min, max, mib, &e) < 0)
		return sf_fail_lib(s, n, path, &e);
	return 0;
}

int sf_duration(struct sf *s, yaml_node_t *n, const char *path,
			uint64_t *ms)
{
	const char *t;
	int r = sf_scalar(s, n, path, "a duration such as 30s or 1m", &t);

	if (r < 0)
		return r;
	if (msb_parse_duration(t, ms) < 0)
		return sf_fail(s, n, path,
			    "invalid duration '%s': use a number of seconds, "
			    "or a number with ms, s, m or h (500ms, 30s, "
			    "1m30s)", t);
	return 0;
}

/* sf_list() - a list of single values, or (@one) a single value alone. */
int sf_list(struct sf *s, yaml_node_t *n, const char *path,
		    const char *what, int one, char ***out, size_t *count)
{
	struct vec v = { 0 };
	char ip[PATH_LEN];
	size_t i = 0;
	int r;

	if (one && n->type == YAML_SCALAR_NODE && !sf_is_null(n)) {
		char *t;

		r = sf_pscalar(s, n, path, what, &t);
		if (r < 0)
			return r;
		if (sf_vec_push(&v, t) < 0)
			return sf_oom(s);
	} else if (n->type != YAML_SEQUENCE_NODE) {
		return sf_fail(s, n, path, "expected a list of %s, found %s",
			    what, n->type == YAML_SCALAR_NODE && sf_is_null(n) ?
					  "nothing" : sf_kind(n));
	} else {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++, i++) {
			char *t;

			sf_index_path(ip, path, i);
			if (i == PROJ_LIST_MAX) {
				free(v.v);
				return sf_fail(s, sf_node(s, *it), ip,
					    "too many entries (at most %d)",
					    PROJ_LIST_MAX);
			}
			r = sf_pscalar(s, sf_node(s, *it), ip, what, &t);
			if (r < 0) {
				free(v.v);
				return r;
			}
			if (sf_vec_push(&v, t) < 0) {
				free(v.v);
				return sf_oom(s);
			}
		}
	}
	if (count)
		*count = v.n;
	*out = sf_vec_done(s->p, &v);
	return *out ? 0 : sf_oom(s);
}

/* sf_argv() - a command: a string (run by sh -c) or a list (as is). */
int sf_argv(struct sf *s, yaml_node_t *n, const char *path,
		    char ***out)
{
	size_t cnt = 0;
	int r;

	if (n->type == YAML_SCALAR_NODE && !sf_is_null(n)) {
		char **v = sf_alloc(s->p, 4 * sizeof(char *));
		const char *t;

		r = sf_scalar(s, n, path, "a command", &t);
		if (r < 0)
			return r;
		if (!v)
			return sf_oom(s);
		v[0] = "sh";
		v[1] = "-c";
		v[2] = sf_strdup(s->p, t);
		*out = v;
		return v[2] ? 0 : sf_oom(s);
	}
	r = sf_list(s, n, path, "command words", 0, out, &cnt);
	if (r == 0 && !cnt)
		return sf_fail(s, n, path,
			    "an empty command: give a string (run by sh -c) "
			    "or a list of words");
	return r;
}

/* ---- mappings ---- */

static int unknown_key(struct sf *s, yaml_node_t *k, const char *path,
		       const struct field *f, size_t nf)
{
	char list[600] = "", hint[96] = "";
	size_t best = 3, o = 0;

	for (size_t i = 0; i < nf; i++) {
		size_t d = msb_edit_distance(sf_text(k), strlen(sf_text(k)),
					     f[i].name, strlen(f[i].name));

		o += (size_t)snprintf(list + o, o < sizeof(list) ?
					      sizeof(list) - o : 0,
				      "%s%s", i ? ", " : "", f[i].name);
		if (o >= sizeof(list))
			o = sizeof(list) - 1;
		if (d < best) {
			best = d;
			snprintf(hint, sizeof(hint), " (did you mean '%s'?)",
				 f[i].name);
		}
	}
	return sf_fail(s, k, path, "unknown key '%s'%s: expected one of %s",
		    sf_text(k), hint, list);
}

/* merge() - add the keys of mapping @n to @out[*@cnt], then those of its
 * merge keys ("<<: *base", or a list of such: YAML 1.1's merge, as
 * Compose files use it), each key only if no earlier one has it. A key
 * @n gives twice is an error. */
static int merge(struct sf *s, yaml_node_t *n, const char *path,
		 struct kv *out, size_t *cnt, int depth)
{
	yaml_node_t *from[16];
	size_t nfrom = 0, first = *cnt;

	if (depth > 8)
		return sf_fail(s, n, path, "merge keys (<<) nested too deep");
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = sf_node(s, pr->key), *v = sf_node(s, pr->value);
		size_t j;

		if (k->type != YAML_SCALAR_NODE || sf_is_null(k))
			return sf_fail(s, k, path, "a key must be a plain name, "
				    "not %s", sf_kind(k));
		if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    !strcmp(sf_text(k), "<<")) {
			yaml_node_item_t *it = NULL, *end = NULL;
			yaml_node_t *m = v;

			if (v->type == YAML_SEQUENCE_NODE) {
				it = v->data.sequence.items.start;
				end = v->data.sequence.items.top;
				m = it < end ? sf_node(s, *it) : v;
			}
			for (;;) {
				if (m->type != YAML_MAPPING_NODE || nfrom == 16)
					return sf_fail(s, m, path, "a merge key "
						    "(<<) takes a mapping or a "
						    "list of at most 16 of them");
				from[nfrom++] = m;
				if (!it || ++it >= end)
					break;
				m = sf_node(s, *it);
			}
			continue;
		}
		for (j = 0; j < *cnt; j++)
			if (!strcmp(sf_text(out[j].k), sf_text(k)))
				break;
		if (j >= first && j < *cnt)
			return sf_fail(s, k, path, "'%s' is given twice (first at "
				    "line %u): keep one", sf_text(k),
				    sf_pos(out[j].k).line);
		if (j < first)
			continue; /* a key of the mapping that merges this */
		if (*cnt == PROJ_LIST_MAX)
			return sf_fail(s, k, path, "too many keys (at most %d)",
				    PROJ_LIST_MAX);
		out[*cnt].k = k;
		out[*cnt].v = v;
		(*cnt)++;
	}
	for (size_t i = 0; i < nfrom; i++) {
		int r = merge(s, from[i], path, out, cnt, depth + 1);

		if (r < 0)
			return r;
	}
	return 0;
}

/* sf_pairs() - the keys of mapping @n with their values, merges applied;
 * free() *@out. */
int sf_pairs(struct sf *s, yaml_node_t *n, const char *path,
		 const char *expected, struct kv **out, size_t *cnt)
{
	int r;

	*out = NULL;
	*cnt = 0;
	if (n->type != YAML_MAPPING_NODE)
		return sf_fail(s, n, path, "expected %s, found %s", expected,
			    sf_is_null(n) ? "nothing" : sf_kind(n));
	*out = malloc(PROJ_LIST_MAX * sizeof(**out));
	if (!*out)
		return sf_oom(s);
	r = merge(s, n, path, *out, cnt, 0);
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

/* sf_walk() - each key of mapping @n through its field of @f. With @x,
 * keys starting with "x-" are skipped (extension fields, as Compose's). */
int sf_walk(struct sf *s, yaml_node_t *n, const char *path,
		const struct field *f, size_t nf, void *obj, int x)
{
	struct kv *kv;
	size_t cnt;
	char kp[PATH_LEN];
	int r = sf_pairs(s, n, path, "a mapping (key: value)", &kv, &cnt);

	for (size_t p = 0; r == 0 && p < cnt; p++) {
		const char *key = sf_text(kv[p].k);
		size_t i;

		if (x && !strncmp(key, "x-", 2))
			continue;
		for (i = 0; i < nf && strcmp(f[i].name, key); i++)
			;
		if (i == nf) {
			r = unknown_key(s, kv[p].k, path, f, nf);
			break;
		}
		sf_key_path(kp, path, key);
		r = f[i].fn(s, obj, kv[p].k, kv[p].v, kp);
	}
	free(kv);
	return r;
}

/* sf_name_ok() - a key that becomes part of a sandbox or volume name. */
int sf_name_ok(struct sf *s, yaml_node_t *k, const char *path,
		   const char *what)
{
	msb_error e = { 0 };

	if (msb_name_valid(sf_text(k), &e) < 0)
		return sf_fail(s, k, path, "invalid %s name '%s': use letters, "
			    "digits, '-', '_' and '.', starting with a "
			    "letter or digit", what, sf_text(k));
	return 0;
}

/* ---- top level ---- */

struct volctx {
	struct proj_volume *v;
	yaml_node_t *size;
};

static int v_size(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	((struct volctx *)o)->size = v;
	return sf_size(s, v, path, "volume size", 1, 1ull << 30,
			&((struct volctx *)o)->v->size_mib);
}

static int v_external(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	return sf_bool(s, v, path, &((struct volctx *)o)->v->external);
}

static const struct field volume_fields[] = {
	{ "size", v_size },
	{ "external", v_external },
};

static int one_volume(struct sf *s, yaml_node_t *kn, yaml_node_t *vn,
		      const char *path);

static int top_volumes(struct sf *s, yaml_node_t *v, const char *path)
{
	struct msb_project *p = s->p;
	size_t n;
	struct kv *kv;
	int r = sf_pairs(s, v, path, "a mapping of volumes (data: {size: 10G})",
		      &kv, &n);

	if (r < 0)
		return r;
	if (n > PROJ_VOLUMES_MAX) {
		r = sf_fail(s, v, path, "too many volumes (at most %d)",
			 PROJ_VOLUMES_MAX);
		free(kv);
		return r;
	}
	p->vols = sf_alloc(p, (n ? n : 1) * sizeof(*p->vols));
	if (!p->vols)
		r = sf_oom(s);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = one_volume(s, kv[i].k, kv[i].v, path);
	free(kv);
	return r;
}

static int one_volume(struct sf *s, yaml_node_t *kn, yaml_node_t *vn,
		      const char *path)
{
	struct msb_project *p = s->p;
	struct proj_volume *pv = &p->vols[p->nvols];
	struct volctx c = { .v = pv };
	char kp[PATH_LEN];
	int r = sf_name_ok(s, kn, path, "volume");

	if (r < 0)
		return r;
	sf_key_path(kp, path, sf_text(kn));
	pv->key = sf_strdup(p, sf_text(kn));
	if (!pv->key)
		return sf_oom(s);
	pv->pos = sf_pos(kn);
	if (!sf_is_null(vn)) {
		r = sf_walk(s, vn, kp, volume_fields, NFIELDS(volume_fields), &c,
			 0);
		if (r < 0)
			return r;
	}
	if (pv->external && c.size)
		return sf_fail(s, c.size, kp, "an external volume keeps the size "
			    "it was made with: leave size out");
	if (snprintf(pv->name, sizeof(pv->name), "%s%s%s",
		     pv->external ? "" : p->name, pv->external ? "" : "-",
		     pv->key) >= (int)sizeof(pv->name))
		return sf_fail(s, kn, kp, "the volume's name '%s-%s' is longer "
			    "than 63 characters: shorten the project's name or "
			    "the volume's", p->name, pv->key);
	p->nvols++;
	return 0;
}

static int one_dep(struct sf *s, struct proj_sandbox *sb, yaml_node_t *kn,
		   yaml_node_t *vn, int map, size_t i, const char *path,
		   char *ip);

/* deps() - resolve each sandbox's depends_on to indices. */
static int deps(struct sf *s, struct proj_sandbox *sb, yaml_node_t *v,
		const char *path)
{
	int map = v->type == YAML_MAPPING_NODE;
	struct kv *kv = NULL;
	size_t n = 0;
	char ip[PATH_LEN];
	int r = 0;

	if (map)
		r = sf_pairs(s, v, path, "a mapping", &kv, &n);
	else
		n = (size_t)(v->data.sequence.items.top -
			     v->data.sequence.items.start);
	if (r == 0 && !(sb->deps = sf_alloc(s->p, (n ? n : 1) * sizeof(*sb->deps))))
		r = sf_oom(s);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = one_dep(s, sb, map ? kv[i].k :
			    sf_node(s, v->data.sequence.items.start[i]),
			    map ? kv[i].v : NULL, map, i, path, ip);
	free(kv);
	return r;
}

static int dep_condition(struct sf *s, void *o, yaml_node_t *k,
			 yaml_node_t *v, const char *path)
{
	const char *cond;
	int r = sf_scalar(s, v, path, "started or healthy", &cond);

	if (r < 0)
		return r;
	if (!strcmp(cond, "healthy") || !strcmp(cond, "service_healthy"))
		*(int *)o = 1;
	else if (strcmp(cond, "started") && strcmp(cond, "service_started"))
		return sf_fail(s, v, path, "invalid condition '%s': use started "
			    "or healthy", cond);
	return 0;
}

static const struct field dep_fields[] = {
	{ "condition", dep_condition },
};

/* one_dep() - the @i-th dependency: a key (@kn) and, in the mapping form,
 * its condition (@vn); @ip is room for its path. */
static int one_dep(struct sf *s, struct proj_sandbox *sb, yaml_node_t *kn,
		   yaml_node_t *vn, int map, size_t i, const char *path,
		   char *ip)
{
	struct proj_dep *d = &sb->deps[sb->ndeps];
	struct proj_sandbox *dep;
	const char *key;
	int r;

	if (map)
		sf_key_path(ip, path, sf_text(kn));
	else
		sf_index_path(ip, path, i);
	r = sf_scalar(s, kn, ip, "a sandbox of this file", &key);
	if (r < 0)
		return r;
	dep = proj_find(s->p, key);
	if (!dep)
		return sf_fail(s, kn, ip, "no sandbox '%s' in this file", key);
	if (dep == sb)
		return sf_fail(s, kn, ip, "%s depends on itself", key);
	for (size_t j = 0; j < sb->ndeps; j++)
		if (sb->deps[j].sb == (size_t)(dep - s->p->sbs))
			return sf_fail(s, kn, ip, "%s is given twice: keep one",
				    key);
	d->sb = (size_t)(dep - s->p->sbs);
	d->pos = sf_pos(kn);
	if (vn && !sf_is_null(vn)) {
		r = sf_walk(s, vn, ip, dep_fields, NFIELDS(dep_fields),
			 &d->healthy, 0);
		if (r < 0)
			return r;
		if (d->healthy && !dep->health)
			return sf_fail(s, vn, ip, "%s has no healthcheck to wait "
				    "for: give it one, or depend on it being "
				    "started", key);
	}
	sb->ndeps++;
	return 0;
}

/* order() - dependencies first (depth-first); a cycle is an error that
 * names it. */
static int visit(struct sf *s, size_t i, unsigned char *state,
		 size_t *stack, size_t depth, size_t *out, size_t *nout)
{
	struct msb_project *p = s->p;
	struct proj_sandbox *sb = &p->sbs[i];

	if (state[i] == 2)
		return 0;
	stack[depth] = i;
	if (state[i] == 1) {
		char cyc[900] = "";
		size_t o = 0, from = 0;

		while (stack[from] != i)
			from++;
		for (size_t k = from; k <= depth && o < sizeof(cyc); k++)
			o += (size_t)snprintf(cyc + o, sizeof(cyc) - o, "%s%s",
					      k > from ? " -> " : "",
					      p->sbs[stack[k]].key);
		return msb_fail(s->err, -EINVAL,
				"%s:%u:%u: sandboxes.%s.depends_on: a "
				"dependency cycle: %s; remove one of these "
				"depends_on", s->show, p->sbs[stack[from]].pos.line,
				p->sbs[stack[from]].pos.col,
				p->sbs[stack[from]].key, cyc);
	}
	state[i] = 1;
	for (size_t d = 0; d < sb->ndeps; d++) {
		int r = visit(s, sb->deps[d].sb, state, stack, depth + 1, out,
			      nout);

		if (r < 0)
			return r;
	}
	state[i] = 2;
	out[(*nout)++] = i;
	return 0;
}

static int order(struct sf *s)
{
	struct msb_project *p = s->p;
	unsigned char *state = sf_alloc(p, p->nsbs + 1);
	size_t *stack = sf_alloc(p, (p->nsbs + 1) * sizeof(size_t)), n = 0;

	p->order = sf_alloc(p, (p->nsbs + 1) * sizeof(size_t));
	if (!state || !stack || !p->order)
		return sf_oom(s);
	for (size_t i = 0; i < p->nsbs; i++) {
		int r = visit(s, i, state, stack, 0, p->order, &n);

		if (r < 0)
			return r;
	}
	return 0;
}

static int top_sandboxes(struct sf *s, yaml_node_t *v, const char *path)
{
	struct msb_project *p = s->p;
	char kp[PATH_LEN];
	size_t n;

	struct kv *kv;
	int r = sf_pairs(s, v, path, "a mapping of sandboxes (api: {image: "
		      "python:3.12})", &kv, &n);

	if (r < 0)
		return r;
	if (!n)
		r = sf_fail(s, v, path, "no sandboxes: give at least one");
	else if (n > PROJ_SANDBOXES_MAX)
		r = sf_fail(s, v, path, "too many sandboxes (at most %d)",
			 PROJ_SANDBOXES_MAX);
	else if (!(p->sbs = sf_alloc(p, n * sizeof(*p->sbs))))
		r = sf_oom(s);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = sf_name_ok(s, kv[i].k, path, "sandbox");
		if (r < 0)
			break;
		sf_key_path(kp, path, sf_text(kv[i].k));
		r = sf_sandbox(s, &p->sbs[p->nsbs], kv[i].k, kv[i].v, kp);
		if (r == 0)
			p->nsbs++;
	}
	free(kv);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->nsbs; i++) {
		struct proj_sandbox *sb = &p->sbs[i];

		snprintf(kp, sizeof(kp), "sandboxes.%s.depends_on", sb->key);
		if (s->dep_nodes[i]) {
			r = deps(s, sb, s->dep_nodes[i], kp);
			if (r < 0)
				return r;
		}
	}
	return order(s);
}

struct top {
	yaml_node_t *name, *volumes, *sandboxes;
};

static int t_name(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	((struct top *)o)->name = v;
	return 0;
}

static int t_volumes(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	((struct top *)o)->volumes = v;
	return 0;
}

static int t_sandboxes(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		       const char *path)
{
	((struct top *)o)->sandboxes = v;
	return 0;
}

static const struct field top_fields[] = {
	{ "name", t_name },
	{ "volumes", t_volumes },
	{ "sandboxes", t_sandboxes },
};

/* default_name() - the directory's name, made a valid name, or "project". */
static char *default_name(struct msb_project *p)
{
	const char *base = strrchr(p->dir, '/');
	char buf[48];
	size_t n = 0;

	base = base ? base + 1 : p->dir;
	for (; *base && n < sizeof(buf) - 1; base++) {
		unsigned char c = (unsigned char)*base;

		if (isalnum(c) || ((c == '-' || c == '_' || c == '.') && n))
			buf[n++] = (char)tolower(c);
	}
	buf[n] = '\0';
	return sf_strdup(p, n ? buf : "project");
}

static int load_doc(struct sf *s, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_node_t *root;
	struct top t = { 0 };
	int r;

	if (!yaml_parser_initialize(&parser))
		return sf_oom(s);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     len);
	if (!yaml_parser_load(&parser, &s->doc)) {
		/* libyaml's own words, at its mark. */
		const yaml_mark_t *m = parser.problem ? &parser.problem_mark :
							&parser.context_mark;

		r = msb_fail(s->err, -EINVAL,
			     "%s:%zu:%zu: not valid YAML: %s%s%s", s->show,
			     m->line + 1, m->column + 1,
			     parser.problem ? parser.problem : "unknown error",
			     parser.context ? " " : "",
			     parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return r;
	}
	yaml_parser_delete(&parser);
	root = yaml_document_get_root_node(&s->doc);
	if (!root)
		return msb_fail(s->err, -EINVAL, "%s:1:1: the file is empty: "
				"give at least a sandboxes: mapping ('msb "
				"project init' writes a starter file)",
				s->show);
	r = sf_walk(s, root, "", top_fields, NFIELDS(top_fields), &t, 1);
	if (r < 0)
		return r;
	if (t.name) {
		r = sf_pscalar(s, t.name, "name", "the project's name",
			    &s->p->name);
		if (r < 0)
			return r;
		if (msb_name_valid(s->p->name, NULL) < 0 ||
		    strlen(s->p->name) > 48)
			return sf_fail(s, t.name, "name", "invalid project name "
				    "'%s': at most 48 letters, digits, '-', "
				    "'_' and '.', starting with a letter or "
				    "digit", s->p->name);
	} else {
		s->p->name = default_name(s->p);
		if (!s->p->name)
			return sf_oom(s);
	}
	if (!t.sandboxes)
		return sf_fail(s, root, "", "no sandboxes: give a sandboxes: "
			    "mapping ('msb project init' writes a starter "
			    "file)");
	if (t.volumes) {
		r = top_volumes(s, t.volumes, "volumes");
		if (r < 0)
			return r;
	}
	r = top_sandboxes(s, t.sandboxes, "sandboxes");
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->p->nsbs; i++) {
		json_object *j = proj_sandbox_json(s->p, &s->p->sbs[i]);
		/* What makes the sandbox: its scripts (but start),
		 * dependencies and health check change none of it. */
		static const char *const keep_out[] = { "depends_on",
			"healthcheck", "scripts", "restart", "sync", "hash", "name" };
		unsigned char md[32];
		unsigned mdlen = 0;
		const char *txt;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		if (!j || !ctx) {
			json_object_put(j);
			EVP_MD_CTX_free(ctx);
			return sf_oom(s);
		}
		for (size_t k = 0; k < NFIELDS(keep_out); k++)
			json_object_object_del(j, keep_out[k]);
		/* json-c keeps keys in the order they were added, which
		 * proj_sandbox_json() fixes: the text is stable. */
		txt = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, txt, strlen(txt));
		for (size_t k = 0; k < s->p->sbs[i].cfg.ntls_upstream_ca; k++)
			EVP_DigestUpdate(ctx, s->p->sbs[i].cfg.tls_upstream_ca[k],
					 strlen(s->p->sbs[i].cfg.tls_upstream_ca[k]));
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		EVP_MD_CTX_free(ctx);
		json_object_put(j);
		for (unsigned k = 0; k < 32; k++)
			snprintf(s->p->sbs[i].hash + 2 * k, 3, "%02x", md[k]);
	}
	return 0;
}

MSB_API int msb_project_parse(const char *text, size_t len, const char *path,
			      msb_project **out, msb_error *err)
{
	struct msb_project *p;
	struct sf s = { .err = err };
	char abs[PATH_MAX], *slash;
	int r;

	*out = NULL;
	if (!path || !*path)
		path = "Sandboxfile";
	if (len > PROJ_FILE_MAX)
		return msb_fail(err, -EFBIG, "%s: larger than 1 MiB: is this a "
				"Sandboxfile?", path);
	if (memchr(text, '\0', len))
		return msb_fail(err, -EINVAL, "%s: a NUL byte: this is not a "
				"text file", path);
	p = calloc(1, sizeof(*p));
	if (!p)
		return msb_fail(err, -ENOMEM, "out of memory");
	s.p = p;
	s.show = path;
	if (path[0] == '/')
		snprintf(abs, sizeof(abs), "%s", path);
	else if (!getcwd(abs, sizeof(abs)) ||
		 strlen(abs) + strlen(path) + 2 > sizeof(abs))
		snprintf(abs, sizeof(abs), "/%s", path);
	else
		snprintf(abs + strlen(abs), sizeof(abs) - strlen(abs), "/%s",
			 path);
	p->file = sf_strdup(p, abs);
	slash = strrchr(abs, '/');
	*slash = '\0';
	p->dir = sf_strdup(p, abs[0] ? abs : "/");
	if (!p->file || !p->dir) {
		msb_project_free(p);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	memset(&s.doc, 0, sizeof(s.doc));
	r = load_doc(&s, text, len);
	yaml_document_delete(&s.doc);
	if (r < 0) {
		msb_project_free(p);
		return r;
	}
	*out = p;
	return 0;
}

MSB_API int msb_project_find(const char *start, char *buf, size_t n,
			     msb_error *err)
{
	char dir[PATH_MAX];

	if (start)
		snprintf(dir, sizeof(dir), "%s", start);
	else if (!getcwd(dir, sizeof(dir)))
		return msb_fail_errno(err, -errno, "getcwd");
	for (;;) {
		char f[PATH_MAX + 16];
		struct stat st;
		char *slash;

		snprintf(f, sizeof(f), "%s/Sandboxfile", strcmp(dir, "/") ?
			 dir : "");
		if (stat(f, &st) == 0 && S_ISREG(st.st_mode)) {
			if (snprintf(buf, n, "%s", f) >= (int)n)
				return msb_fail(err, -ENAMETOOLONG,
						"%s: path too long", f);
			return 0;
		}
		slash = strrchr(dir, '/');
		if (!slash || !strcmp(dir, "/"))
			break;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	return msb_fail(err, -ENOENT,
			"no Sandboxfile in %s or any directory above it: "
			"write one ('msb project init'), or name it with -f "
			"FILE", start ? start : "the current directory");
}

MSB_API int msb_project_load(const char *path, msb_project **out,
			     msb_error *err)
{
	char found[PATH_MAX];
	char *text;
	size_t len;
	int r;

	*out = NULL;
	if (!path) {
		r = msb_project_find(NULL, found, sizeof(found), err);
		if (r < 0)
			return r;
		path = found;
	}
	{
		struct stat st;

		if (stat(path, &st) < 0)
			return msb_fail_errno(err, -errno, "cannot read %s",
					      path);
		if (!S_ISREG(st.st_mode))
			return msb_fail(err, -EINVAL, "%s is not a file", path);
		if (st.st_size > PROJ_FILE_MAX)
			return msb_fail(err, -EFBIG, "%s: larger than 1 MiB: "
					"is this a Sandboxfile?", path);
	}
	text = msb_read_file(path, &len);
	if (!text)
		return msb_fail_errno(err, -errno, "cannot read %s", path);
	r = msb_project_parse(text, len, path, out, err);
	free(text);
	return r;
}
