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
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "netcfg.h"
#include "project.h"
#include "secrets.h"
#include "tlscfg.h"
#include "util.h"
#include "volumes.h"

#define PATH_LEN 256

struct sf {
	struct msb_project *p;
	yaml_document_t doc;
	const char *show;   /* the file as messages name it */
	msb_error *err;
	/* each sandbox's depends_on, resolved once all are read */
	yaml_node_t *dep_nodes[PROJ_SANDBOXES_MAX];
};

/* What a sandbox's keys leave for the checks that need all of them. */
struct sb_nodes {
	yaml_node_t *image, *from_snapshot, *secrets, *depends_on, *command,
		*start, *volumes, *ports, *network, *tls, *allow;
	yaml_node_t *first_restore_bad; /* a key a restore cannot take */
	const char *restore_bad_key;
	char **allow_hosts;             /* network.allow, for secrets */
	char **env_file_env, **env_env;  /* env_file's, then env's */
};

/* ---- memory: everything belongs to the project ---- */

static void *pa(struct msb_project *p, size_t n)
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

static char *pstr(struct msb_project *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = pa(p, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static char *pfmt(struct msb_project *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static char *pfmt(struct msb_project *p, const char *fmt, ...)
{
	char *t, *d;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&t, fmt, ap);
	va_end(ap);
	if (r < 0)
		return NULL;
	d = pstr(p, t);
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

/* A growing NULL-terminated vector, copied into the project when done. */
struct vec {
	char **v;
	size_t n, cap;
};

static int vec_push(struct vec *v, char *s)
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

static char **vec_done(struct msb_project *p, struct vec *v)
{
	char **out = pa(p, (v->n + 1) * sizeof(char *));

	if (out && v->n)
		memcpy(out, v->v, v->n * sizeof(char *));
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
	return out;
}

/* ---- errors ---- */

static struct proj_pos pos_of(const yaml_node_t *n)
{
	struct proj_pos ps = { 1, 1 };

	if (n) {
		ps.line = (unsigned)n->start_mark.line + 1;
		ps.col = (unsigned)n->start_mark.column + 1;
	}
	return ps;
}

/* fail() - "FILE:LINE:COL: PATH: message" into the error. */
static int fail(struct sf *s, const yaml_node_t *n, const char *path,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct sf *s, const yaml_node_t *n, const char *path,
		const char *fmt, ...)
{
	char msg[900];
	struct proj_pos ps = pos_of(n);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return msb_fail(s->err, -EINVAL, "%s:%u:%u: %s%s%s", s->show, ps.line,
			ps.col, path && *path ? path : "",
			path && *path ? ": " : "", msg);
}

/* fail_lib() - a check of the library's refused @n: its message, placed. */
static int fail_lib(struct sf *s, const yaml_node_t *n, const char *path,
		    const msb_error *why)
{
	return fail(s, n, path, "%s", why->message);
}

static int oom(struct sf *s)
{
	return msb_fail(s->err, -ENOMEM, "%s: out of memory", s->show);
}

/* ---- nodes ---- */

static yaml_node_t *node(struct sf *s, int id)
{
	return yaml_document_get_node(&s->doc, id);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a single value";
	}
}

static const char *text_of(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* is_null() - "~", "null" or nothing at all, unquoted. */
static int is_null(const yaml_node_t *n)
{
	const char *t;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	t = text_of(n);
	return !*t || !strcmp(t, "~") || !strcmp(t, "null") ||
	       !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static void sub(char *out, const char *path, const char *key)
{
	snprintf(out, PATH_LEN, "%s%s%s", path, *path ? "." : "", key);
}

static void idx(char *out, const char *path, size_t i)
{
	snprintf(out, PATH_LEN, "%s[%zu]", path, i);
}

/* scalar() - the text of a single value; @what says what was expected. */
static int scalar(struct sf *s, yaml_node_t *n, const char *path,
		  const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail(s, n, path, "expected %s, found %s", what,
			    n->type == YAML_SCALAR_NODE ? "nothing" :
							  kind_name(n));
	if (strlen(text_of(n)) != n->data.scalar.length)
		return fail(s, n, path, "a NUL byte in a value");
	*out = text_of(n);
	return 0;
}

static int pscalar(struct sf *s, yaml_node_t *n, const char *path,
		   const char *what, char **out)
{
	const char *t;
	int r = scalar(s, n, path, what, &t);

	if (r < 0)
		return r;
	*out = pstr(s->p, t);
	return *out ? 0 : oom(s);
}

static int get_bool(struct sf *s, yaml_node_t *n, const char *path,
		    int *out)
{
	const char *t;

	if (n->type == YAML_SCALAR_NODE &&
	    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		t = text_of(n);
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
	return fail(s, n, path, "expected true or false, found %s%s%s%s",
		    n->type == YAML_SCALAR_NODE ? "'" : "",
		    n->type == YAML_SCALAR_NODE ? text_of(n) : kind_name(n),
		    n->type == YAML_SCALAR_NODE ? "'" : "",
		    n->type == YAML_SCALAR_NODE &&
				    n->data.scalar.style !=
					    YAML_PLAIN_SCALAR_STYLE ?
			    " (quoted: a string)" : "");
}

static int get_uint(struct sf *s, yaml_node_t *n, const char *path,
		    unsigned min, unsigned max, unsigned *out)
{
	const char *t;
	char *end;
	unsigned long v;
	int r = scalar(s, n, path, "a whole number", &t);

	if (r < 0)
		return r;
	errno = 0;
	v = strtoul(t, &end, 10);
	if (!isdigit((unsigned char)*t) || *end || errno || v < min ||
	    v > max)
		return fail(s, n, path,
			    "invalid value '%s': use a whole number from %u "
			    "to %u", t, min, max);
	*out = (unsigned)v;
	return 0;
}

static int get_size(struct sf *s, yaml_node_t *n, const char *path,
		    const char *what, uint64_t min, uint64_t max,
		    uint64_t *mib)
{
	msb_error e = { 0 };
	const char *t;
	int r = scalar(s, n, path, "a size such as 512M or 10G", &t);

	if (r < 0)
		return r;
	if (msb_parse_mib(t, what, min, max, mib, &e) < 0)
		return fail_lib(s, n, path, &e);
	return 0;
}

static int get_duration(struct sf *s, yaml_node_t *n, const char *path,
			uint64_t *ms)
{
	const char *t;
	int r = scalar(s, n, path, "a duration such as 30s or 1m", &t);

	if (r < 0)
		return r;
	if (msb_parse_duration(t, ms) < 0)
		return fail(s, n, path,
			    "invalid duration '%s': use a number of seconds, "
			    "or a number with ms, s, m or h (500ms, 30s, "
			    "1m30s)", t);
	return 0;
}

/* get_list() - a list of single values, or (@one) a single value alone. */
static int get_list(struct sf *s, yaml_node_t *n, const char *path,
		    const char *what, int one, char ***out, size_t *count)
{
	struct vec v = { 0 };
	char ip[PATH_LEN];
	size_t i = 0;
	int r;

	if (one && n->type == YAML_SCALAR_NODE && !is_null(n)) {
		char *t;

		r = pscalar(s, n, path, what, &t);
		if (r < 0)
			return r;
		if (vec_push(&v, t) < 0)
			return oom(s);
	} else if (n->type != YAML_SEQUENCE_NODE) {
		return fail(s, n, path, "expected a list of %s, found %s",
			    what, n->type == YAML_SCALAR_NODE && is_null(n) ?
					  "nothing" : kind_name(n));
	} else {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++, i++) {
			char *t;

			idx(ip, path, i);
			if (i == PROJ_LIST_MAX) {
				free(v.v);
				return fail(s, node(s, *it), ip,
					    "too many entries (at most %d)",
					    PROJ_LIST_MAX);
			}
			r = pscalar(s, node(s, *it), ip, what, &t);
			if (r < 0) {
				free(v.v);
				return r;
			}
			if (vec_push(&v, t) < 0) {
				free(v.v);
				return oom(s);
			}
		}
	}
	if (count)
		*count = v.n;
	*out = vec_done(s->p, &v);
	return *out ? 0 : oom(s);
}

/* get_argv() - a command: a string (run by sh -c) or a list (as is). */
static int get_argv(struct sf *s, yaml_node_t *n, const char *path,
		    char ***out)
{
	size_t cnt = 0;
	int r;

	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		char **v = pa(s->p, 4 * sizeof(char *));
		const char *t;

		r = scalar(s, n, path, "a command", &t);
		if (r < 0)
			return r;
		if (!v)
			return oom(s);
		v[0] = "sh";
		v[1] = "-c";
		v[2] = pstr(s->p, t);
		*out = v;
		return v[2] ? 0 : oom(s);
	}
	r = get_list(s, n, path, "command words", 0, out, &cnt);
	if (r == 0 && !cnt)
		return fail(s, n, path,
			    "an empty command: give a string (run by sh -c) "
			    "or a list of words");
	return r;
}

/* ---- mappings ---- */

struct field {
	const char *name;
	int (*fn)(struct sf *s, void *obj, yaml_node_t *key, yaml_node_t *val,
		  const char *path);
};

/* distance() - Levenshtein distance of two short keys (for "did you mean"). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			tmp = row[j];
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

static int unknown_key(struct sf *s, yaml_node_t *k, const char *path,
		       const struct field *f, size_t nf)
{
	char list[600] = "", hint[96] = "";
	size_t best = 3, o = 0;

	for (size_t i = 0; i < nf; i++) {
		size_t d = distance(text_of(k), f[i].name);

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
	return fail(s, k, path, "unknown key '%s'%s: expected one of %s",
		    text_of(k), hint, list);
}

struct kv {
	yaml_node_t *k, *v;
};

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
		return fail(s, n, path, "merge keys (<<) nested too deep");
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(s, pr->key), *v = node(s, pr->value);
		size_t j;

		if (k->type != YAML_SCALAR_NODE || is_null(k))
			return fail(s, k, path, "a key must be a plain name, "
				    "not %s", kind_name(k));
		if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    !strcmp(text_of(k), "<<")) {
			yaml_node_item_t *it = NULL, *end = NULL;
			yaml_node_t *m = v;

			if (v->type == YAML_SEQUENCE_NODE) {
				it = v->data.sequence.items.start;
				end = v->data.sequence.items.top;
				m = it < end ? node(s, *it) : v;
			}
			for (;;) {
				if (m->type != YAML_MAPPING_NODE || nfrom == 16)
					return fail(s, m, path, "a merge key "
						    "(<<) takes a mapping or a "
						    "list of at most 16 of them");
				from[nfrom++] = m;
				if (!it || ++it >= end)
					break;
				m = node(s, *it);
			}
			continue;
		}
		for (j = 0; j < *cnt; j++)
			if (!strcmp(text_of(out[j].k), text_of(k)))
				break;
		if (j >= first && j < *cnt)
			return fail(s, k, path, "'%s' is given twice (first at "
				    "line %u): keep one", text_of(k),
				    pos_of(out[j].k).line);
		if (j < first)
			continue; /* a key of the mapping that merges this */
		if (*cnt == PROJ_LIST_MAX)
			return fail(s, k, path, "too many keys (at most %d)",
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

/* pairs() - the keys of mapping @n with their values, merges applied;
 * free() *@out. */
static int pairs(struct sf *s, yaml_node_t *n, const char *path,
		 const char *expected, struct kv **out, size_t *cnt)
{
	int r;

	*out = NULL;
	*cnt = 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(s, n, path, "expected %s, found %s", expected,
			    is_null(n) ? "nothing" : kind_name(n));
	*out = malloc(PROJ_LIST_MAX * sizeof(**out));
	if (!*out)
		return oom(s);
	r = merge(s, n, path, *out, cnt, 0);
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

/* walk() - each key of mapping @n through its field of @f. With @x,
 * keys starting with "x-" are skipped (extension fields, as Compose's). */
static int walk(struct sf *s, yaml_node_t *n, const char *path,
		const struct field *f, size_t nf, void *obj, int x)
{
	struct kv *kv;
	size_t cnt;
	char kp[PATH_LEN];
	int r = pairs(s, n, path, "a mapping (key: value)", &kv, &cnt);

	for (size_t p = 0; r == 0 && p < cnt; p++) {
		const char *key = text_of(kv[p].k);
		size_t i;

		if (x && !strncmp(key, "x-", 2))
			continue;
		for (i = 0; i < nf && strcmp(f[i].name, key); i++)
			;
		if (i == nf) {
			r = unknown_key(s, kv[p].k, path, f, nf);
			break;
		}
		sub(kp, path, key);
		r = f[i].fn(s, obj, kv[p].k, kv[p].v, kp);
	}
	free(kv);
	return r;
}

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* name_ok() - a key that becomes part of a sandbox or volume name. */
static int name_ok(struct sf *s, yaml_node_t *k, const char *path,
		   const char *what)
{
	msb_error e = { 0 };

	if (msb_name_valid(text_of(k), &e) < 0)
		return fail(s, k, path, "invalid %s name '%s': use letters, "
			    "digits, '-', '_' and '.', starting with a "
			    "letter or digit", what, text_of(k));
	return 0;
}

/* ---- a sandbox ---- */

struct sbctx {
	struct proj_sandbox *sb;
	struct sb_nodes nd;
	struct vec ports, allow, allow_cidr, block_cidr, allow_host;
};

#define SB(o) (((struct sbctx *)(o))->sb)
#define ND(o) (&((struct sbctx *)(o))->nd)

/* restore_only() - note a key that a restored sandbox cannot take. */
static void restore_bad(void *o, yaml_node_t *k)
{
	if (!ND(o)->first_restore_bad) {
		ND(o)->first_restore_bad = k;
		ND(o)->restore_bad_key = text_of(k);
	}
}

static int f_image(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "an image reference", &t);

	if (r == 0)
		SB(o)->cfg.image = t;
	ND(o)->image = k;
	return r;
}

static int f_from_snapshot(struct sf *s, void *o, yaml_node_t *k,
			   yaml_node_t *v, const char *path)
{
	msb_error e = { 0 };
	char *t;
	int r = pscalar(s, v, path, "a snapshot name", &t);

	if (r < 0)
		return r;
	if (msb_name_valid(t, &e) < 0)
		return fail(s, v, path, "invalid snapshot name '%s'", t);
	SB(o)->from_snapshot = t;
	ND(o)->from_snapshot = k;
	return 0;
}

static int f_cpus(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	return get_uint(s, v, path, 1, 64, &SB(o)->cfg.cpus);
}

static int f_memory(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	return get_size(s, v, path, "memory size", 64, 1024 * 1024,
			&SB(o)->cfg.memory_mib);
}

static int f_disk_size(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		       const char *path)
{
	restore_bad(o, k);
	return get_size(s, v, path, "disk size", 64, 1024 * 1024,
			&SB(o)->cfg.disk_mib);
}

static int env_name_ok(const char *k, size_t n)
{
	if (!n || isdigit((unsigned char)k[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_')
			return 0;
	return 1;
}

/* env_kv() - KEY=VALUE, or KEY alone: the host's variable (left out
 * when the host has none, as Compose does). NULL: nothing to add. */
static int env_kv(struct sf *s, yaml_node_t *n, const char *path,
		  const char *key, size_t klen, const char *val, char **out)
{
	*out = NULL;
	if (!env_name_ok(key, klen))
		return fail(s, n, path,
			    "invalid variable name '%.*s': use letters, "
			    "digits and '_', not starting with a digit",
			    (int)klen, key);
	if (!val) {
		char name[256];

		if (klen >= sizeof(name))
			return fail(s, n, path, "variable name too long");
		snprintf(name, sizeof(name), "%.*s", (int)klen, key);
		val = getenv(name);
		if (!val)
			return 0;
	}
	*out = pfmt(s->p, "%.*s=%s", (int)klen, key, val);
	return *out ? 0 : oom(s);
}

static int f_env(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		 const char *path)
{
	struct vec env = { 0 };
	char ip[PATH_LEN];
	int r = 0;

	if (v->type == YAML_MAPPING_NODE) {
		struct kv *kv;
		size_t cnt;

		r = pairs(s, v, path, "a mapping", &kv, &cnt);
		for (size_t i = 0; r == 0 && i < cnt; i++) {
			yaml_node_t *kn = kv[i].k, *vn = kv[i].v;
			const char *val = NULL;
			char *kv_text;

			sub(ip, path, text_of(kn));
			if (!is_null(vn))
				r = scalar(s, vn, ip, "a value (quote it if "
					   "need be)", &val);
			if (r == 0)
				r = env_kv(s, kn, path, text_of(kn),
					   strlen(text_of(kn)), val, &kv_text);
			if (r == 0 && kv_text && vec_push(&env, kv_text) < 0)
				r = oom(s);
		}
		free(kv);
	} else if (v->type == YAML_SEQUENCE_NODE) {
		char **items;
		size_t n = 0;

		r = get_list(s, v, path, "KEY=VALUE entries", 0, &items, &n);
		for (size_t i = 0; r == 0 && i < n; i++) {
			const char *eq = strchr(items[i], '=');
			char *kv;

			idx(ip, path, i);
			r = env_kv(s, node(s, v->data.sequence.items.start[i]),
				   ip, items[i],
				   eq ? (size_t)(eq - items[i]) :
					strlen(items[i]),
				   eq ? eq + 1 : NULL, &kv);
			if (r == 0 && kv && vec_push(&env, kv) < 0)
				r = oom(s);
		}
	} else {
		return fail(s, v, path, "expected a mapping of variables "
			    "(KEY: value) or a list of KEY=VALUE, found %s",
			    is_null(v) ? "nothing" : kind_name(v));
	}
	if (r < 0) {
		free(env.v);
		return r;
	}
	ND(o)->env_env = vec_done(s->p, &env);
	return ND(o)->env_env ? 0 : oom(s);
}

/* read_env_file() - KEY=VALUE lines ('#' comments, blank lines, an
 * optional "export ", values optionally in matching quotes). */
static int read_env_file(struct sf *s, yaml_node_t *n, const char *path,
			 const char *file, struct vec *out)
{
	char full[PATH_MAX], *text, *line, *next;
	size_t len;
	unsigned ln = 0;
	int r = 0;

	if (snprintf(full, sizeof(full), "%s%s%s", file[0] == '/' ? "" :
		     s->p->dir, file[0] == '/' ? "" : "/", file) >=
	    (int)sizeof(full))
		return fail(s, n, path, "path too long");
	{
		struct stat st;

		/* not /dev/zero, a FIFO or a directory */
		if (stat(full, &st) < 0)
			return fail(s, n, path, "cannot read env file %s: %s",
				    full, strerror(errno));
		if (!S_ISREG(st.st_mode) || st.st_size > PROJ_FILE_MAX)
			return fail(s, n, path, "env file %s is not a text "
				    "file of at most 1 MiB", full);
	}
	text = msb_read_file(full, &len);
	if (!text)
		return fail(s, n, path, "cannot read env file %s: %s", full,
			    strerror(errno));
	if (len > PROJ_FILE_MAX || strlen(text) != len) {
		free(text);
		return fail(s, n, path, "env file %s is not a text file of "
			    "at most 1 MiB", full);
	}
	for (line = text; line && r == 0; line = next) {
		char *eq, *val, *kv, *end;

		ln++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		end = line + strlen(line);
		if (end > line && end[-1] == '\r')
			*--end = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		if (!strncmp(line, "export ", 7))
			line += 7;
		eq = strchr(line, '=');
		if (!eq || !env_name_ok(line, (size_t)(eq - line))) {
			r = fail(s, n, path, "env file %s, line %u: expected "
				 "KEY=VALUE (KEY of letters, digits and '_')",
				 full, ln);
			break;
		}
		val = eq + 1;
		end = val + strlen(val);
		if (end - val >= 2 && (*val == '"' || *val == '\'') &&
		    end[-1] == *val) {
			val++;
			end[-1] = '\0';
		}
		kv = pfmt(s->p, "%.*s=%s", (int)(eq - line), line, val);
		if (!kv || vec_push(out, kv) < 0)
			r = oom(s);
		if (r == 0 && out->n > PROJ_LIST_MAX)
			r = fail(s, n, path, "env file %s: too many variables "
				 "(at most %d)", full, PROJ_LIST_MAX);
	}
	free(text);
	return r;
}

static int f_env_file(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	struct vec env = { 0 };
	char **files, ip[PATH_LEN];
	size_t n = 0;
	int r = get_list(s, v, path, "file paths", 1, &files, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		if (v->type == YAML_SEQUENCE_NODE)
			idx(ip, path, i);
		else
			snprintf(ip, sizeof(ip), "%s", path);
		r = read_env_file(s, v->type == YAML_SEQUENCE_NODE ?
				  node(s, v->data.sequence.items.start[i]) : v,
				  ip, files[i], &env);
	}
	if (r < 0) {
		free(env.v);
		return r;
	}
	ND(o)->env_file_env = vec_done(s->p, &env);
	return ND(o)->env_file_env ? 0 : oom(s);
}

static int f_workdir(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "an absolute path", &t);

	if (r < 0)
		return r;
	if (t[0] != '/')
		return fail(s, v, path, "invalid working directory '%s': use "
			    "an absolute path", t);
	restore_bad(o, k);
	SB(o)->cfg.workdir = t;
	return 0;
}

static int f_user(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "a user (name, uid or uid:gid)", &t);

	restore_bad(o, k);
	if (r == 0)
		SB(o)->cfg.user = t;
	return r;
}

static int f_entrypoint(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	char **ep;
	size_t n = 0;
	int r;

	restore_bad(o, k);
	/* A string is one program, as --entrypoint takes it; a list is the
	 * program and its first words; '' or [] is none. */
	if (v->type == YAML_SCALAR_NODE && !is_null(v) && !*text_of(v)) {
		ep = pa(s->p, sizeof(char *));
		if (!ep)
			return oom(s);
	} else {
		r = get_list(s, v, path, "words", 1, &ep, &n);
		if (r < 0)
			return r;
	}
	SB(o)->cfg.entrypoint = (const char *const *)ep;
	return 0;
}

static int f_command(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	ND(o)->command = k;
	return get_argv(s, v, path, &SB(o)->cmd);
}

static int f_kernel(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "msb or cloud", &t);

	if (r < 0)
		return r;
	if (strcmp(t, "msb") && strcmp(t, "cloud"))
		return fail(s, v, path, "invalid kernel '%s': use msb or "
			    "cloud", t);
	restore_bad(o, k);
	SB(o)->cfg.kernel = t;
	return 0;
}

static int f_boot_timeout(struct sf *s, void *o, yaml_node_t *k,
			  yaml_node_t *v, const char *path)
{
	uint64_t ms;
	int r = get_duration(s, v, path, &ms);

	if (r < 0)
		return r;
	if (ms < 1000 || ms > 3600 * 1000)
		return fail(s, v, path, "invalid boot timeout: use 1s to 1h");
	SB(o)->cfg.boot_timeout_ms = (unsigned)ms;
	return 0;
}

static int f_on_violation(struct sf *s, void *o, yaml_node_t *k,
			  yaml_node_t *v, const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "block, log or allow", &t);

	if (r < 0)
		return r;
	if (strcmp(t, "block") && strcmp(t, "log") && strcmp(t, "allow"))
		return fail(s, v, path, "invalid value '%s': use block, log "
			    "or allow", t);
	restore_bad(o, k);
	SB(o)->cfg.on_secret_violation = t;
	return 0;
}

static int f_restart(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	static const char *const names[] = { "no", "on-failure", "always",
					     "unless-stopped" };
	const char *t;
	int r;

	/* "no" unquoted is YAML 1.1's false: both read as "no". */
	if (v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!strcmp(text_of(v), "false") || !strcmp(text_of(v), "no"))) {
		SB(o)->restart = PROJ_RESTART_NO;
		return 0;
	}
	r = scalar(s, v, path, "no, on-failure, always or unless-stopped",
		   &t);
	if (r < 0)
		return r;
	for (size_t i = 0; i < NFIELDS(names); i++)
		if (!strcmp(t, names[i])) {
			SB(o)->restart = (enum proj_restart)i;
			return 0;
		}
	return fail(s, v, path, "invalid restart policy '%s': use no, "
		    "on-failure, always or unless-stopped", t);
}

/* -- volumes of a sandbox -- */

/* host_path() - a host path of the file, resolved against its directory
 * ("~/" is $HOME); not checked to exist until up. */
static char *host_path(struct sf *s, const char *t)
{
	const char *home = getenv("HOME");

	if (t[0] == '/')
		return pstr(s->p, t);
	if (t[0] == '~' && (t[1] == '/' || !t[1]) && home)
		return pfmt(s->p, "%s%s", home, t + 1);
	if (!strcmp(t, "."))
		return pstr(s->p, s->p->dir);
	if (!strncmp(t, "./", 2))
		t += 2;
	return pfmt(s->p, "%s/%s", s->p->dir, t);
}

static long volume_index(struct msb_project *p, const char *key)
{
	for (size_t i = 0; i < p->nvols; i++)
		if (!strcmp(p->vols[i].key, key))
			return (long)i;
	return -1;
}

static int guest_check(struct sf *s, yaml_node_t *n, const char *path,
		       const char *guest)
{
	msb_error e = { 0 };

	if (msb_volume_guest_check("volume", guest, &e) < 0)
		return fail_lib(s, n, path, &e);
	return 0;
}

/* named() - source @src names a volume of the project. */
static int named(struct sf *s, yaml_node_t *n, const char *path,
		 const char *src, struct proj_mount *m)
{
	m->named = volume_index(s->p, src);
	if (m->named < 0)
		return fail(s, n, path,
			    "no volume '%s' in the top-level volumes: declare "
			    "it there (volumes: { %s: {} }), or write a host "
			    "directory as ./%s", src, src, src);
	return 0;
}

/* mount_short() - "SOURCE:TARGET[:OPTS]", as msb run -v takes it; a
 * SOURCE that is a plain name (no '/', not starting with '.' or '~') is
 * a named volume of the project, anything else a host directory. */
static int mount_short(struct sf *s, yaml_node_t *n, const char *path,
		       struct proj_mount *m)
{
	msb_error e = { 0 };
	const char *t;
	char *spec;
	int r = scalar(s, n, path, "SOURCE:TARGET[:OPTIONS]", &t);

	if (r < 0)
		return r;
	spec = pstr(s->p, t);
	if (!spec)
		return oom(s);
	if (!strchr(spec, ':'))
		return fail(s, n, path, "invalid volume '%s': write "
			    "SOURCE:TARGET, e.g. ./src:/app or data:/data",
			    t);
	if (msb_volume_parse(MSB_VOLUME_HOST, spec, &m->v, &e) < 0)
		return fail(s, n, path, "%s", e.message);
	if (m->v.kind == MSB_VOLUME_NAMED) {
		r = named(s, n, path, m->v.source, m);
		m->v.source = NULL;
	} else {
		m->v.source = host_path(s, m->v.source);
		if (!m->v.source)
			return oom(s);
	}
	return r < 0 ? r : guest_check(s, n, path, m->v.guest_path);
}

struct mount_long {
	struct proj_mount *m;
	yaml_node_t *type, *source, *target, *size, *plugin, *overlay, *arg;
	char *typ, *src, *plugin_path;
	int ro, direct;
};

#define ML(o) ((struct mount_long *)(o))

static int ml_str(struct sf *s, yaml_node_t *v, const char *path,
		  yaml_node_t **where, char **out)
{
	*where = v;
	return pscalar(s, v, path, "a value", out);
}

static int ml_type(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	return ml_str(s, v, path, &ML(o)->type, &ML(o)->typ);
}

static int ml_source(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return ml_str(s, v, path, &ML(o)->source, &ML(o)->src);
}

static int ml_target(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	char *t;
	int r = ml_str(s, v, path, &ML(o)->target, &t);

	if (r == 0)
		ML(o)->m->v.guest_path = t;
	return r;
}

static int ml_readonly(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		       const char *path)
{
	return get_bool(s, v, path, &ML(o)->ro);
}

static int ml_direct(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return get_bool(s, v, path, &ML(o)->direct);
}

static int ml_size(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	ML(o)->size = v;
	return get_size(s, v, path, "memory volume size", 1, 64 * 1024,
			&ML(o)->m->v.size_mib);
}

static int ml_overlay(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	int on = 0;

	ML(o)->overlay = v;
	if (v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!strcmp(text_of(v), "true") || !strcmp(text_of(v), "false"))) {
		get_bool(s, v, path, &on);
		ML(o)->m->v.overlay_mib = on ? 256 : 0;
		return 0;
	}
	return get_size(s, v, path, "overlay size", 1, 64 * 1024,
			&ML(o)->m->v.overlay_mib);
}

static int ml_plugin(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return ml_str(s, v, path, &ML(o)->plugin, &ML(o)->plugin_path);
}

static int ml_arg(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	char *t;
	int r = ml_str(s, v, path, &ML(o)->arg, &t);

	if (r == 0)
		ML(o)->m->v.arg = t;
	return r;
}

static const struct field mount_fields[] = {
	{ "type", ml_type },       { "source", ml_source },
	{ "target", ml_target },   { "readonly", ml_readonly },
	{ "direct", ml_direct },   { "overlay", ml_overlay },
	{ "size", ml_size },       { "plugin", ml_plugin },
	{ "arg", ml_arg },
};

/* mount_long() - { type, source, target, ... }. */
static int mount_long(struct sf *s, yaml_node_t *n, const char *path,
		      struct proj_mount *m)
{
	struct mount_long ml = { .m = m };
	yaml_node_t *bad = NULL;
	const char *t;
	char kp[PATH_LEN];
	int r = walk(s, n, path, mount_fields, NFIELDS(mount_fields), &ml, 0);

	if (r < 0)
		return r;
	if (!ml.target)
		return fail(s, n, path, "no target: give the guest path "
			    "(target: /data)");
	t = ml.typ ? ml.typ : ml.plugin_path ? "plugin" : "host";
	sub(kp, path, "type");
	if (!strcmp(t, "host") || !strcmp(t, "bind")) {
		if (!ml.src)
			return fail(s, n, path, "a host volume needs a source "
				    "directory (source: ./data)");
		m->v.kind = MSB_VOLUME_HOST;
		m->v.source = host_path(s, ml.src);
		bad = ml.size ? ml.size : ml.plugin ? ml.plugin : ml.arg;
	} else if (!strcmp(t, "volume")) {
		if (!ml.src)
			return fail(s, n, path, "a named volume needs its name "
				    "(source: data)");
		m->v.kind = MSB_VOLUME_NAMED;
		sub(kp, path, "source");
		r = named(s, ml.source, kp, ml.src, m);
		if (r < 0)
			return r;
		bad = ml.size ? ml.size : ml.plugin ? ml.plugin :
			ml.overlay ? ml.overlay : ml.arg;
	} else if (!strcmp(t, "memory") || !strcmp(t, "tmpfs")) {
		m->v.kind = MSB_VOLUME_MEMORY;
		bad = ml.source ? ml.source : ml.plugin ? ml.plugin :
			ml.overlay ? ml.overlay : ml.arg;
	} else if (!strcmp(t, "plugin")) {
		if (!ml.plugin_path)
			return fail(s, n, path, "a plugin volume needs its "
				    "shared object (plugin: ./fs.so)");
		m->v.kind = MSB_VOLUME_PLUGIN;
		m->v.source = host_path(s, ml.plugin_path);
		if (ml.src && !(m->v.dir = host_path(s, ml.src)))
			return oom(s);
		bad = ml.size ? ml.size : ml.overlay;
	} else {
		return fail(s, ml.type, kp, "invalid volume type '%s': use "
			    "host, volume, memory or plugin", t);
	}
	if (bad)
		return fail(s, bad, path, "this key does not apply to a %s "
			    "volume", t);
	if ((m->v.kind == MSB_VOLUME_HOST || m->v.kind == MSB_VOLUME_PLUGIN) &&
	    m->named < 0 && !m->v.source)
		return oom(s);
	m->v.readonly = ml.ro;
	m->v.direct_io = ml.direct;
	sub(kp, path, "target");
	return guest_check(s, ml.target, kp, m->v.guest_path);
}

static int f_volumes(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	struct proj_sandbox *sb = SB(o);
	char ip[PATH_LEN];
	size_t i = 0;

	restore_bad(o, k);
	ND(o)->volumes = k;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(s, v, path, "expected a list of volumes "
			    "(./src:/app, data:/data), found %s",
			    is_null(v) ? "nothing" : kind_name(v));
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++, i++) {
		yaml_node_t *n = node(s, *it);
		struct proj_mount *m = &sb->mounts[sb->nmounts];
		int r;

		idx(ip, path, i);
		if (sb->nmounts == PROJ_MOUNTS_MAX)
			return fail(s, n, ip, "too many volumes (at most %d; "
				    "the VM's device slots allow fewer)",
				    PROJ_MOUNTS_MAX);
		memset(m, 0, sizeof(*m));
		m->named = -1;
		r = n->type == YAML_MAPPING_NODE ? mount_long(s, n, ip, m) :
						   mount_short(s, n, ip, m);
		if (r < 0)
			return r;
		for (size_t j = 0; j < sb->nmounts; j++)
			if (!strcmp(sb->mounts[j].v.guest_path,
				    m->v.guest_path))
				return fail(s, n, ip, "two volumes at %s: give "
					    "each its own target",
					    m->v.guest_path);
		sb->nmounts++;
	}
	return 0;
}

/* -- network -- */

/* net_item() - one entry of a network list, checked as the flag's. */
static int net_item(struct sf *s, yaml_node_t *n, const char *path,
		    msb_net_config *one)
{
	msb_error e = { 0 };

	if (msb_net_config_check_syntax(one, &e) < 0)
		return fail_lib(s, n, path, &e);
	return 0;
}

static int net_list(struct sf *s, yaml_node_t *v, const char *path,
		    const char *what, int which, struct vec *out)
{
	char **items, ip[PATH_LEN];
	size_t n = 0;
	int r;

	if (v->type == YAML_SCALAR_NODE && !is_null(v) && strchr(text_of(v), ','))
		return fail(s, v, path, "expected a list ([a, b]), not a "
			    "comma-separated string");
	r = get_list(s, v, path, what, 1, &items, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *one[2] = { items[i], NULL };
		msb_net_config nc = { 0 };
		yaml_node_t *in = v->type == YAML_SEQUENCE_NODE ?
			node(s, v->data.sequence.items.start[i]) : v;

		if (v->type == YAML_SEQUENCE_NODE)
			idx(ip, path, i);
		else
			snprintf(ip, sizeof(ip), "%s", path);
		switch (which) {
		case 0: nc.allow = one; break;
		case 1: nc.allow_cidr = one; break;
		case 2: nc.block_cidr = one; break;
		case 3: nc.allow_host = one; break;
		default: nc.ports = one; break;
		}
		r = net_item(s, in, ip, &nc);
		if (r == 0 && vec_push(out, items[i]) < 0)
			r = oom(s);
	}
	return r;
}

#define SBC(o) ((struct sbctx *)(o))

static int n_allow(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	SBC(o)->nd.allow = v;
	return net_list(s, v, path, "domain names", 0, &SBC(o)->allow);
}

static int n_allow_cidr(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	return net_list(s, v, path, "CIDR ranges", 1, &SBC(o)->allow_cidr);
}

static int n_block_cidr(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	return net_list(s, v, path, "CIDR ranges", 2, &SBC(o)->block_cidr);
}

static int n_allow_host(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	return net_list(s, v, path, "TCP ports", 3, &SBC(o)->allow_host);
}

static int n_deny_all(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	return get_bool(s, v, path, &SB(o)->cfg.net.deny_all);
}

static int n_plugin(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "a shared object's path", &t);

	if (r < 0)
		return r;
	SB(o)->cfg.net.plugin = host_path(s, t);
	return SB(o)->cfg.net.plugin ? 0 : oom(s);
}

static int d_nameserver(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
			const char *path)
{
	msb_net_config nc = { 0 };
	char *t;
	int r = pscalar(s, v, path, "an address (IP or IP:PORT)", &t);

	if (r < 0)
		return r;
	nc.dns_nameserver = t;
	r = net_item(s, v, path, &nc);
	if (r == 0)
		SB(o)->cfg.net.dns_nameserver = t;
	return r;
}

static int d_rebind(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	const char *t;
	int r = scalar(s, v, path, "strict", &t);

	/* Answers in denied ranges are always dropped (docs/network.md):
	 * strict is what every sandbox gets, and the only setting. */
	if (r == 0 && strcmp(t, "strict"))
		return fail(s, v, path, "invalid value '%s': rebinding "
			    "protection is always on and strict (answers in "
			    "denied ranges are dropped); write strict or leave "
			    "it out", t);
	return r;
}

static const struct field dns_fields[] = {
	{ "nameserver", d_nameserver },
	{ "rebind_protection", d_rebind },
};

static int n_dns(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		 const char *path)
{
	return walk(s, v, path, dns_fields, NFIELDS(dns_fields), o, 0);
}

static const struct field net_fields[] = {
	{ "allow", n_allow },           { "allow_cidr", n_allow_cidr },
	{ "block_cidr", n_block_cidr }, { "deny_all", n_deny_all },
	{ "allow_host", n_allow_host }, { "dns", n_dns },
	{ "plugin", n_plugin },
};

static int f_network(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	restore_bad(o, k);
	ND(o)->network = k;
	return walk(s, v, path, net_fields, NFIELDS(net_fields), o, 0);
}

static int f_ports(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	restore_bad(o, k);
	ND(o)->ports = k;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(s, v, path, "expected a list of ports "
			    "([8000:8000, 80]), found %s",
			    is_null(v) ? "nothing" : kind_name(v));
	return net_list(s, v, path, "ports (HOST:GUEST)", 4, &SBC(o)->ports);
}

/* -- TLS -- */

static int t_bypass(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	struct proj_sandbox *sb = SB(o);
	msb_sandbox_config c;
	msb_error e = { 0 };
	char **items;
	size_t n = 0;
	int r = get_list(s, v, path, "domain names", 1, &items, &n);

	if (r < 0)
		return r;
	if (n > PROJ_TLS_BYPASS_MAX)
		return fail(s, v, path, "too many names (at most %d)",
			    PROJ_TLS_BYPASS_MAX);
	msb_sandbox_config_init(&c);
	c.tls_bypass = (const char *const *)items;
	c.ntls_bypass = n;
	if (msb_tls_config_json(&c, NULL, &e) < 0)
		return fail_lib(s, v, path, &e);
	sb->cfg.tls_bypass = (const char *const *)items;
	sb->cfg.ntls_bypass = n;
	return 0;
}

static int t_upstream_ca(struct sf *s, void *o, yaml_node_t *k,
			 yaml_node_t *v, const char *path)
{
	struct proj_sandbox *sb = SB(o);
	char **files, **pems, ip[PATH_LEN];
	size_t n = 0;
	int r = get_list(s, v, path, "PEM files", 1, &files, &n);

	if (r < 0)
		return r;
	if (n > PROJ_TLS_CA_MAX)
		return fail(s, v, path, "too many files (at most %d; a file "
			    "may hold many certificates)", PROJ_TLS_CA_MAX);
	pems = pa(s->p, (n + 1) * sizeof(char *));
	if (!pems)
		return oom(s);
	for (size_t i = 0; i < n; i++) {
		msb_error e = { 0 };
		char *pem;

		if (v->type == YAML_SEQUENCE_NODE)
			idx(ip, path, i);
		else
			snprintf(ip, sizeof(ip), "%s", path);
		files[i] = host_path(s, files[i]);
		if (!files[i])
			return oom(s);
		if (msb_tls_ca_read(files[i], &pem, &e) < 0)
			return fail_lib(s, v->type == YAML_SEQUENCE_NODE ?
					node(s, v->data.sequence.items.start[i]) :
					v, ip, &e);
		pems[i] = pstr(s->p, pem);
		free(pem);
		if (!pems[i])
			return oom(s);
	}
	sb->ca_files = files;
	sb->cfg.tls_upstream_ca = (const char *const *)pems;
	sb->cfg.ntls_upstream_ca = n;
	return 0;
}

static const struct field tls_fields[] = {
	{ "bypass", t_bypass },
	{ "upstream_ca", t_upstream_ca },
};

static int f_tls(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		 const char *path)
{
	restore_bad(o, k);
	return walk(s, v, path, tls_fields, NFIELDS(tls_fields), o, 0);
}

/* -- secrets (checked once network.allow is known) -- */

static int f_secrets(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	restore_bad(o, k);
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(s, v, path, "expected a list of secrets "
			    "([OPENAI_API_KEY] or [{name: ..., env: ..., "
			    "hosts: [...]}]), found %s",
			    is_null(v) ? "nothing" : kind_name(v));
	ND(o)->secrets = v;
	return 0;
}

struct secret_long {
	msb_secret *sec;
	yaml_node_t *name, *env, *file, *hosts;
	char **hostv, **injectv;
	size_t nhosts, ninject;
};

#define SL(o) ((struct secret_long *)(o))

static int sl_name(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "the guest's variable name", &t);

	SL(o)->name = v;
	if (r == 0)
		SL(o)->sec->env = t;
	return r;
}

static int sl_env(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "a host variable's name", &t);

	SL(o)->env = v;
	if (r == 0) {
		SL(o)->sec->source = MSB_SECRET_ENV;
		SL(o)->sec->ref = t;
	}
	return r;
}

static int sl_file(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	char *t;
	int r = pscalar(s, v, path, "a file's path", &t);

	SL(o)->file = v;
	if (r == 0) {
		SL(o)->sec->source = MSB_SECRET_FILE;
		SL(o)->sec->ref = host_path(s, t);
		if (!SL(o)->sec->ref)
			return oom(s);
	}
	return r;
}

static int sl_hosts(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	SL(o)->hosts = v;
	return get_list(s, v, path, "host names", 1, &SL(o)->hostv,
			&SL(o)->nhosts);
}

static int sl_inject(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return get_list(s, v, path, "places (header:NAME, path, query, body)",
			1, &SL(o)->injectv, &SL(o)->ninject);
}

static const struct field secret_fields[] = {
	{ "name", sl_name },   { "env", sl_env },       { "file", sl_file },
	{ "hosts", sl_hosts }, { "inject", sl_inject },
};

/* joined() - @v's @n entries comma-separated, in the project. */
static char *joined(struct sf *s, char **v, size_t n)
{
	size_t len = 1;
	char *out;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	out = pa(s->p, len);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, v[i]);
	}
	return out;
}

/* secrets() - each secret: NAME alone reads the host's variable NAME and
 * is bound to the hosts of network.allow; the long form names its source
 * (env: VAR or file: PATH), its hosts and where it may go. */
static int secrets(struct sf *s, struct sbctx *c, const char *path)
{
	yaml_node_t *v = c->nd.secrets;
	struct proj_sandbox *sb = c->sb;
	size_t n = (size_t)(v->data.sequence.items.top -
			    v->data.sequence.items.start);
	size_t nallow = c->allow.n;
	char ip[PATH_LEN];
	msb_secret *sec;

	if (n > PROJ_SECRETS_MAX)
		return fail(s, v, path, "too many secrets (at most %d)",
			    PROJ_SECRETS_MAX);
	sec = pa(s->p, (n ? n : 1) * sizeof(*sec));
	if (!sec)
		return oom(s);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *in = node(s, v->data.sequence.items.start[i]);
		struct secret_long sl = { .sec = &sec[i] };
		json_object *rec = NULL;
		msb_error e = { 0 };
		int r;

		idx(ip, path, i);
		if (in->type == YAML_MAPPING_NODE) {
			r = walk(s, in, ip, secret_fields,
				 NFIELDS(secret_fields), &sl, 0);
			if (r < 0)
				return r;
			if (!sec[i].env)
				return fail(s, in, ip, "no name: give the "
					    "guest's variable (name: API_KEY)");
			if (sl.env && sl.file)
				return fail(s, sl.file, ip, "give env or file, "
					    "not both");
			if (!sl.env && !sl.file) {
				sec[i].source = MSB_SECRET_ENV;
				sec[i].ref = sec[i].env;
			}
			if (sl.ninject &&
			    !(sec[i].inject = joined(s, sl.injectv,
						     sl.ninject)))
				return oom(s);
		} else {
			r = pscalar(s, in, ip, "a variable name or a mapping",
				    (char **)&sec[i].env);
			if (r < 0)
				return r;
			sec[i].source = MSB_SECRET_ENV;
			sec[i].ref = sec[i].env;
		}
		if (!sl.hosts && !nallow)
			return fail(s, in, ip,
				    "secret %s is bound to no host: name the "
				    "hosts it may be sent to in network.allow, "
				    "or give them (- {name: %s, hosts: "
				    "[api.example.com]})", sec[i].env,
				    sec[i].env);
		sec[i].hosts = sl.hosts ? joined(s, sl.hostv, sl.nhosts) :
					  joined(s, c->allow.v, nallow);
		if (!sec[i].hosts)
			return oom(s);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(sec[j].env, sec[i].env))
				return fail(s, in, ip, "secret %s is given "
					    "twice: keep one", sec[i].env);
		/* The library's own check, placeholders drawn and dropped. */
		if (msb_secrets_json(&sec[i], 1, &rec, &e) < 0)
			return fail_lib(s, in, ip, &e);
		json_object_put(rec);
	}
	sb->cfg.secrets = sec;
	sb->cfg.nsecrets = n;
	return 0;
}

/* -- depends_on (resolved once every sandbox is known) -- */

static int f_depends_on(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	if (v->type != YAML_SEQUENCE_NODE && v->type != YAML_MAPPING_NODE)
		return fail(s, v, path, "expected a list of sandboxes ([api]) "
			    "or a mapping (api: {condition: healthy}), found "
			    "%s", is_null(v) ? "nothing" : kind_name(v));
	ND(o)->depends_on = v;
	return 0;
}

/* -- healthcheck -- */

#define HC(o) ((struct proj_health *)(o))

static int h_test(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	return get_argv(s, v, path, &HC(o)->test);
}

static int h_interval(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	int r = get_duration(s, v, path, &HC(o)->interval_ms);

	if (r == 0 && (HC(o)->interval_ms < 100 ||
		       HC(o)->interval_ms > 3600 * 1000))
		return fail(s, v, path, "invalid interval: use 100ms to 1h");
	return r;
}

static int h_timeout(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	int r = get_duration(s, v, path, &HC(o)->timeout_ms);

	if (r == 0 && (HC(o)->timeout_ms < 100 ||
		       HC(o)->timeout_ms > 3600 * 1000))
		return fail(s, v, path, "invalid timeout: use 100ms to 1h");
	return r;
}

static int h_start_period(struct sf *s, void *o, yaml_node_t *k,
			  yaml_node_t *v, const char *path)
{
	int r = get_duration(s, v, path, &HC(o)->start_period_ms);

	if (r == 0 && HC(o)->start_period_ms > 3600 * 1000)
		return fail(s, v, path, "invalid start period: at most 1h");
	return r;
}

static int h_retries(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return get_uint(s, v, path, 1, 1000, &HC(o)->retries);
}

static const struct field health_fields[] = {
	{ "test", h_test },         { "interval", h_interval },
	{ "timeout", h_timeout },   { "retries", h_retries },
	{ "start_period", h_start_period },
};

static int f_healthcheck(struct sf *s, void *o, yaml_node_t *k,
			 yaml_node_t *v, const char *path)
{
	struct proj_health *h = pa(s->p, sizeof(*h));
	int r;

	if (!h)
		return oom(s);
	h->interval_ms = 1000;
	h->timeout_ms = 10000;
	h->retries = 30;
	r = walk(s, v, path, health_fields, NFIELDS(health_fields), h, 0);
	if (r < 0)
		return r;
	if (!h->test)
		return fail(s, v, path, "no test: give the command that "
			    "succeeds once the sandbox is healthy (test: "
			    "curl -fs localhost:8000)");
	SB(o)->health = h;
	return 0;
}

/* -- scripts -- */

static int f_scripts(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	struct proj_sandbox *sb = SB(o);
	char kp[PATH_LEN];
	struct kv *kv;
	size_t n;
	int r = pairs(s, v, path, "a mapping of scripts (start: python "
		      "app.py)", &kv, &n);

	if (r < 0)
		return r;
	sb->scripts = pa(s->p, (n ? n : 1) * sizeof(*sb->scripts));
	if (!sb->scripts)
		r = oom(s);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *name = text_of(kv[i].k);

		if (msb_name_valid(name, NULL) < 0) {
			r = fail(s, kv[i].k, path, "invalid script name '%s': "
				 "use letters, digits, '-', '_' and '.'",
				 name);
			break;
		}
		sub(kp, path, name);
		sb->scripts[i].name = pstr(s->p, name);
		if (!sb->scripts[i].name) {
			r = oom(s);
			break;
		}
		r = get_argv(s, kv[i].v, kp, &sb->scripts[i].argv);
		if (r < 0)
			break;
		sb->nscripts++;
		if (!strcmp(name, "start"))
			ND(o)->start = kv[i].k;
	}
	free(kv);
	return r;
}

static int f_sync(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	return fail(s, k, path, "not supported yet: this msb cannot sync a "
		    "sandbox to a registry; leave sync out");
}

static const struct field sandbox_fields[] = {
	{ "image", f_image },
	{ "from_snapshot", f_from_snapshot },
	{ "cpus", f_cpus },
	{ "memory", f_memory },
	{ "disk_size", f_disk_size },
	{ "env", f_env },
	{ "env_file", f_env_file },
	{ "workdir", f_workdir },
	{ "user", f_user },
	{ "entrypoint", f_entrypoint },
	{ "command", f_command },
	{ "volumes", f_volumes },
	{ "ports", f_ports },
	{ "network", f_network },
	{ "secrets", f_secrets },
	{ "on_secret_violation", f_on_violation },
	{ "tls", f_tls },
	{ "kernel", f_kernel },
	{ "boot_timeout", f_boot_timeout },
	{ "depends_on", f_depends_on },
	{ "healthcheck", f_healthcheck },
	{ "scripts", f_scripts },
	{ "restart", f_restart },
	{ "sync", f_sync },
};

/* merge_env() - env_file's variables, then env's (which win: a later
 * entry of the same name replaces the earlier one). */
static int merge_env(struct sf *s, struct sbctx *c)
{
	struct vec out = { 0 };
	char **lists[2] = { c->nd.env_file_env, c->nd.env_env };

	for (int l = 0; l < 2; l++)
		for (char **v = lists[l]; v && *v; v++) {
			size_t kl = strcspn(*v, "=");
			size_t j;

			for (j = 0; j < out.n; j++)
				if (!strncmp(out.v[j], *v, kl) &&
				    out.v[j][kl] == '=')
					break;
			if (j < out.n)
				out.v[j] = *v;
			else if (vec_push(&out, *v) < 0) {
				free(out.v);
				return oom(s);
			}
		}
	if (!out.n)
		return 0;
	c->sb->cfg.env = (const char *const *)vec_done(s->p, &out);
	return c->sb->cfg.env ? 0 : oom(s);
}

static int sandbox(struct sf *s, struct proj_sandbox *sb, yaml_node_t *k,
		   yaml_node_t *v, const char *path)
{
	struct sbctx c = { .sb = sb };
	int r;

	msb_sandbox_config_init(&sb->cfg);
	sb->key = pstr(s->p, text_of(k));
	if (!sb->key)
		return oom(s);
	sb->pos = pos_of(k);
	if (snprintf(sb->name, sizeof(sb->name), "%s-%s", s->p->name,
		     sb->key) >= (int)sizeof(sb->name))
		return fail(s, k, path, "the sandbox's name '%s-%s' is longer "
			    "than 63 characters: shorten the project's name "
			    "or the sandbox's", s->p->name, sb->key);
	sb->cfg.name = sb->name;
	if (is_null(v))
		r = 0; /* a sandbox of the defaults */
	else
		r = walk(s, v, path, sandbox_fields, NFIELDS(sandbox_fields),
			 &c, 0);
	if (r == 0 && c.nd.image && c.nd.from_snapshot)
		r = fail(s, c.nd.from_snapshot, path, "give image or "
			 "from_snapshot, not both (a restored sandbox runs "
			 "its snapshot's image)");
	if (r == 0 && c.nd.from_snapshot && c.nd.first_restore_bad)
		r = fail(s, c.nd.first_restore_bad, path,
			 "%s cannot be given with from_snapshot: a restored "
			 "sandbox keeps its snapshot's settings (with it: "
			 "cpus, memory, env, env_file, boot_timeout, "
			 "command, scripts, depends_on, healthcheck, "
			 "restart)", c.nd.restore_bad_key);
	if (r == 0 && c.nd.command && c.nd.start)
		r = fail(s, c.nd.start, path, "give command or scripts.start, "
			 "not both (both are what up runs)");
	if (r == 0 && c.nd.secrets) {
		char sp[PATH_LEN];

		sub(sp, path, "secrets");
		r = secrets(s, &c, sp);
	}
	if (r == 0)
		r = merge_env(s, &c);
	if (r == 0) {
		struct vec *lists[] = { &c.allow, &c.allow_cidr, &c.block_cidr,
					&c.allow_host, &c.ports };
		const char *const **dst[] = { &sb->cfg.net.allow,
					      &sb->cfg.net.allow_cidr,
					      &sb->cfg.net.block_cidr,
					      &sb->cfg.net.allow_host,
					      &sb->cfg.net.ports };

		for (size_t i = 0; i < NFIELDS(lists); i++) {
			if (!lists[i]->n)
				continue;
			*dst[i] = (const char *const *)vec_done(s->p,
								lists[i]);
			if (!*dst[i])
				r = oom(s);
		}
	}
	if (r == 0 && sb->cfg.nsecrets) {
		msb_error e = { 0 };

		if (msb_secrets_net_check(&sb->cfg.net, &e) < 0)
			r = fail_lib(s, c.nd.network ? c.nd.network : k, path,
				     &e);
	}
	if (r == 0 && !sb->cmd)
		for (size_t i = 0; i < sb->nscripts; i++)
			if (!strcmp(sb->scripts[i].name, "start"))
				sb->cmd = sb->scripts[i].argv;
	if (r == 0)
		s->dep_nodes[sb - s->p->sbs] = c.nd.depends_on;
	free(c.allow.v);
	free(c.allow_cidr.v);
	free(c.block_cidr.v);
	free(c.allow_host.v);
	free(c.ports.v);
	return r;
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
	return get_size(s, v, path, "volume size", 1, 1ull << 30,
			&((struct volctx *)o)->v->size_mib);
}

static int v_external(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	return get_bool(s, v, path, &((struct volctx *)o)->v->external);
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
	int r = pairs(s, v, path, "a mapping of volumes (data: {size: 10G})",
		      &kv, &n);

	if (r < 0)
		return r;
	if (n > PROJ_VOLUMES_MAX) {
		r = fail(s, v, path, "too many volumes (at most %d)",
			 PROJ_VOLUMES_MAX);
		free(kv);
		return r;
	}
	p->vols = pa(p, (n ? n : 1) * sizeof(*p->vols));
	if (!p->vols)
		r = oom(s);
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
	int r = name_ok(s, kn, path, "volume");

	if (r < 0)
		return r;
	sub(kp, path, text_of(kn));
	pv->key = pstr(p, text_of(kn));
	if (!pv->key)
		return oom(s);
	pv->pos = pos_of(kn);
	if (!is_null(vn)) {
		r = walk(s, vn, kp, volume_fields, NFIELDS(volume_fields), &c,
			 0);
		if (r < 0)
			return r;
	}
	if (pv->external && c.size)
		return fail(s, c.size, kp, "an external volume keeps the size "
			    "it was made with: leave size out");
	if (snprintf(pv->name, sizeof(pv->name), "%s%s%s",
		     pv->external ? "" : p->name, pv->external ? "" : "-",
		     pv->key) >= (int)sizeof(pv->name))
		return fail(s, kn, kp, "the volume's name '%s-%s' is longer "
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
		r = pairs(s, v, path, "a mapping", &kv, &n);
	else
		n = (size_t)(v->data.sequence.items.top -
			     v->data.sequence.items.start);
	if (r == 0 && !(sb->deps = pa(s->p, (n ? n : 1) * sizeof(*sb->deps))))
		r = oom(s);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = one_dep(s, sb, map ? kv[i].k :
			    node(s, v->data.sequence.items.start[i]),
			    map ? kv[i].v : NULL, map, i, path, ip);
	free(kv);
	return r;
}

static int dep_condition(struct sf *s, void *o, yaml_node_t *k,
			 yaml_node_t *v, const char *path)
{
	const char *cond;
	int r = scalar(s, v, path, "started or healthy", &cond);

	if (r < 0)
		return r;
	if (!strcmp(cond, "healthy") || !strcmp(cond, "service_healthy"))
		*(int *)o = 1;
	else if (strcmp(cond, "started") && strcmp(cond, "service_started"))
		return fail(s, v, path, "invalid condition '%s': use started "
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
		sub(ip, path, text_of(kn));
	else
		idx(ip, path, i);
	r = scalar(s, kn, ip, "a sandbox of this file", &key);
	if (r < 0)
		return r;
	dep = proj_find(s->p, key);
	if (!dep)
		return fail(s, kn, ip, "no sandbox '%s' in this file", key);
	if (dep == sb)
		return fail(s, kn, ip, "%s depends on itself", key);
	for (size_t j = 0; j < sb->ndeps; j++)
		if (sb->deps[j].sb == (size_t)(dep - s->p->sbs))
			return fail(s, kn, ip, "%s is given twice: keep one",
				    key);
	d->sb = (size_t)(dep - s->p->sbs);
	d->pos = pos_of(kn);
	if (vn && !is_null(vn)) {
		r = walk(s, vn, ip, dep_fields, NFIELDS(dep_fields),
			 &d->healthy, 0);
		if (r < 0)
			return r;
		if (d->healthy && !dep->health)
			return fail(s, vn, ip, "%s has no healthcheck to wait "
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
	unsigned char *state = pa(p, p->nsbs + 1);
	size_t *stack = pa(p, (p->nsbs + 1) * sizeof(size_t)), n = 0;

	p->order = pa(p, (p->nsbs + 1) * sizeof(size_t));
	if (!state || !stack || !p->order)
		return oom(s);
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
	int r = pairs(s, v, path, "a mapping of sandboxes (api: {image: "
		      "python:3.12})", &kv, &n);

	if (r < 0)
		return r;
	if (!n)
		r = fail(s, v, path, "no sandboxes: give at least one");
	else if (n > PROJ_SANDBOXES_MAX)
		r = fail(s, v, path, "too many sandboxes (at most %d)",
			 PROJ_SANDBOXES_MAX);
	else if (!(p->sbs = pa(p, n * sizeof(*p->sbs))))
		r = oom(s);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = name_ok(s, kv[i].k, path, "sandbox");
		if (r < 0)
			break;
		sub(kp, path, text_of(kv[i].k));
		r = sandbox(s, &p->sbs[p->nsbs], kv[i].k, kv[i].v, kp);
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
	return pstr(p, n ? buf : "project");
}

static int load_doc(struct sf *s, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_node_t *root;
	struct top t = { 0 };
	int r;

	if (!yaml_parser_initialize(&parser))
		return oom(s);
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
	r = walk(s, root, "", top_fields, NFIELDS(top_fields), &t, 1);
	if (r < 0)
		return r;
	if (t.name) {
		r = pscalar(s, t.name, "name", "the project's name",
			    &s->p->name);
		if (r < 0)
			return r;
		if (msb_name_valid(s->p->name, NULL) < 0 ||
		    strlen(s->p->name) > 48)
			return fail(s, t.name, "name", "invalid project name "
				    "'%s': at most 48 letters, digits, '-', "
				    "'_' and '.', starting with a letter or "
				    "digit", s->p->name);
	} else {
		s->p->name = default_name(s->p);
		if (!s->p->name)
			return oom(s);
	}
	if (!t.sandboxes)
		return fail(s, root, "", "no sandboxes: give a sandboxes: "
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
			"healthcheck", "scripts", "restart", "hash", "name" };
		unsigned char md[32];
		unsigned mdlen = 0;
		const char *txt;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		if (!j || !ctx) {
			json_object_put(j);
			EVP_MD_CTX_free(ctx);
			return oom(s);
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
	p->file = pstr(p, abs);
	slash = strrchr(abs, '/');
	*slash = '\0';
	p->dir = pstr(p, abs[0] ? abs : "/");
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
