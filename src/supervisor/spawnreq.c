/* SPDX-License-Identifier: Apache-2.0 */
/* spawnreq.c - a guest's PEER request, checked (spawnreq.h) */

#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto.h"
#include "spawnreq.h"

#define JSON_DEPTH 6
#define NAME_MAX_LEN 63

struct field {
	const char *key;
	int (*check)(json_object *v, json_object *out, const char *key,
		     char *why, size_t wn);
};

static int fail(char *why, size_t wn, const char *fmt, const char *a)
{
	snprintf(why, wn, fmt, a);
	return -1;
}

/* A string of 1..@max bytes with no control character. */
static int text_ok(json_object *v, size_t max)
{
	const char *s;
	size_t n;

	if (!json_object_is_type(v, json_type_string))
		return 0;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (!n || n > max || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > NAME_MAX_LEN ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("-_.", s[i])))
			return 0;
	return 1;
}

static int f_name(json_object *v, json_object *out, const char *key,
		  char *why, size_t wn)
{
	if (!json_object_is_type(v, json_type_string) ||
	    !name_ok(json_object_get_string(v)))
		return fail(why, wn, "invalid %s: a sandbox name is 1-63 "
			    "letters, digits, '-', '_' and '.', a letter or a "
			    "digit first", key);
	json_object_object_add(out, key, json_object_get(v));
	return 0;
}

static int f_text(json_object *v, json_object *out, const char *key,
		  char *why, size_t wn)
{
	if (!text_ok(v, 255))
		return fail(why, wn, "invalid %s: a string of 1-255 printable "
			    "characters", key);
	json_object_object_add(out, key, json_object_get(v));
	return 0;
}

static int f_cpus(json_object *v, json_object *out, const char *key,
		  char *why, size_t wn)
{
	int64_t n = json_object_get_int64(v);

	if (!json_object_is_type(v, json_type_int) || n < 1 || n > 64)
		return fail(why, wn, "invalid %s: 1 to 64", key);
	json_object_object_add(out, key, json_object_new_int((int)n));
	return 0;
}

static int f_bool(json_object *v, json_object *out, const char *key,
		  char *why, size_t wn)
{
	if (!json_object_is_type(v, json_type_boolean))
		return fail(why, wn, "invalid %s: true or false", key);
	json_object_object_add(out, key,
			       json_object_new_boolean(json_object_get_boolean(v)));
	return 0;
}

/* An array of 1..@max strings of at most SPAWN_STR_MAX bytes each. */
static int strings(json_object *v, json_object *out, const char *key,
		   size_t max, int kv, char *why, size_t wn)
{
	size_t n;
	json_object *a;

	if (!json_object_is_type(v, json_type_array) ||
	    !(n = json_object_array_length(v)) || n > max) {
		snprintf(why, wn, "invalid %s: a list of 1 to %zu strings", key,
			 max);
		return -1;
	}
	a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i);
		const char *t;

		if (!json_object_is_type(s, json_type_string) ||
		    (size_t)json_object_get_string_len(s) > SPAWN_STR_MAX ||
		    strlen(json_object_get_string(s)) !=
			    (size_t)json_object_get_string_len(s) ||
		    (kv && !text_ok(s, SPAWN_STR_MAX))) {
			json_object_put(a);
			return fail(why, wn, "invalid %s: strings of at most "
				    "4096 bytes, no NUL", key);
		}
		t = json_object_get_string(s);
		if (kv && (!strchr(t, '=') || t[0] == '=')) {
			json_object_put(a);
			return fail(why, wn, "invalid %s: each one K=V", key);
		}
		json_object_array_add(a, json_object_get(s));
	}
	json_object_object_add(out, key, a);
	return 0;
}

static int f_argv(json_object *v, json_object *out, const char *key,
		  char *why, size_t wn)
{
	return strings(v, out, key, SPAWN_ARGV_MAX, 0, why, wn);
}

static int f_env(json_object *v, json_object *out, const char *key,
		 char *why, size_t wn)
{
	return strings(v, out, key, SPAWN_ENV_MAX, 1, why, wn);
}

static int f_net(json_object *v, json_object *out, const char *key,
		 char *why, size_t wn)
{
	size_t n = json_object_is_type(v, json_type_array) ?
			   json_object_array_length(v) : 0;

	for (size_t i = 0; i < n; i++)
		if (!text_ok(json_object_array_get_idx(v, i), 253))
			return fail(why, wn, "invalid %s: names or ranges of "
				    "1-253 printable characters", key);
	return strings(v, out, key, SPAWN_NET_MAX, 0, why, wn);
}

static int f_workdir(json_object *v, json_object *out, const char *key,
		     char *why, size_t wn)
{
	if (!text_ok(v, SPAWN_STR_MAX) || json_object_get_string(v)[0] != '/')
		return fail(why, wn, "invalid %s: an absolute path", key);
	json_object_object_add(out, key, json_object_get(v));
	return 0;
}

static int f_dim(json_object *v, json_object *out, const char *key,
		 char *why, size_t wn)
{
	int64_t n = json_object_get_int64(v);

	if (!json_object_is_type(v, json_type_int) || n < 1 || n > 65535)
		return fail(why, wn, "invalid %s: 1 to 65535", key);
	json_object_object_add(out, key, json_object_new_int((int)n));
	return 0;
}

static int f_path(json_object *v, json_object *out, const char *key,
		  char *why, size_t wn)
{
	if (!text_ok(v, SPAWN_STR_MAX - 1))
		return fail(why, wn, "invalid %s: a path of 1-4095 printable "
			    "characters", key);
	json_object_object_add(out, key, json_object_get(v));
	return 0;
}

static int env_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 128 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int f_secrets(json_object *v, json_object *out, const char *key,
		     char *why, size_t wn)
{
	size_t n;
	json_object *a;

	if (!json_object_is_type(v, json_type_array) ||
	    !(n = json_object_array_length(v)) || n > SPAWN_SECRETS_MAX)
		return fail(why, wn, "invalid %s: a list of 1 to 16 secrets",
			    key);
	a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i), *o, *e, *ph,
			    *h = NULL;
		size_t keys = 0;

		if (!json_object_is_type(s, json_type_object))
			goto bad;
		json_object_object_foreach(s, k, x) {
			(void)k;
			(void)x;
			keys++;
		}
		if (!json_object_object_get_ex(s, "env", &e) ||
		    !json_object_object_get_ex(s, "placeholder", &ph) ||
		    !text_ok(e, 128) || !env_name_ok(json_object_get_string(e)) ||
		    !text_ok(ph, 128))
			goto bad;
		if (json_object_object_get_ex(s, "hosts", &h) &&
		    !text_ok(h, 1024))
			goto bad;
		if (keys != 2u + (h != NULL))
			goto bad;
		o = json_object_new_object();
		json_object_object_add(o, "env", json_object_get(e));
		json_object_object_add(o, "placeholder", json_object_get(ph));
		if (h)
			json_object_object_add(o, "hosts", json_object_get(h));
		json_object_array_add(a, o);
	}
	json_object_object_add(out, key, a);
	return 0;
bad:
	json_object_put(a);
	return fail(why, wn, "invalid %s: each one {\"env\": NAME, "
		    "\"placeholder\": TEXT, \"hosts\": \"a,b\" (optional)}",
		    key);
}

static const struct field start_fields[] = {
	{ "name", f_name },	  { "image", f_text },
	{ "cpus", f_cpus },	  { "memory", f_text },
	{ "env", f_env },	  { "net_deny_all", f_bool },
	{ "net_allow", f_net },	  { "net_allow_cidr", f_net },
	{ "secrets", f_secrets }, { NULL, NULL },
};
static const struct field exec_fields[] = {
	{ "name", f_name },	  { "argv", f_argv }, { "env", f_env },
	{ "workdir", f_workdir }, { "stdin", f_bool }, { "tty", f_bool },
	{ "rows", f_dim },	  { "cols", f_dim },  { NULL, NULL },
};
static const struct field cp_fields[] = {
	{ "name", f_name }, { "path", f_path },	    { "user", f_text },
	{ "raw", f_bool },  { "contents", f_bool }, { NULL, NULL },
};
static const struct field snap_fields[] = {
	{ "name", f_name }, { "snapshot", f_name }, { NULL, NULL },
};
static const struct field snap_rm_fields[] = {
	{ "snapshot", f_name }, { NULL, NULL },
};
static const struct field name_fields[] = {
	{ "name", f_name }, { NULL, NULL },
};
static const struct field ps_fields[] = {
	{ "json", f_bool }, { NULL, NULL },
};

static const struct verb {
	const char *op;
	const struct field *fields;
	const char *required[3];
} verbs[] = {
	{ "start", start_fields, { "name", NULL } },
	{ "exec", exec_fields, { "name", "argv", NULL } },
	{ "stop", name_fields, { "name", NULL } },
	{ "rm", name_fields, { "name", NULL } },
	{ "logs", name_fields, { "name", NULL } },
	{ "ps", ps_fields, { NULL } },
	{ "cp_in", cp_fields, { "name", "path", NULL } },
	{ "cp_out", cp_fields, { "name", "path", NULL } },
	{ "snapshot", snap_fields, { "name", "snapshot", NULL } },
	{ "snapshot_ls", ps_fields, { NULL } },
	{ "snapshot_rm", snap_rm_fields, { "snapshot", NULL } },
	{ "restore", snap_fields, { "name", "snapshot", NULL } },
};

static int check(json_object *in, json_object *out, char *why, size_t wn)
{
	const struct verb *vb = NULL;
	json_object *op;

	if (!json_object_object_get_ex(in, "op", &op) ||
	    !json_object_is_type(op, json_type_string))
		return fail(why, wn, "%s", "a peer request needs an \"op\": "
			    "start, exec, stop, rm, ps, logs, cp_in, cp_out, "
			    "snapshot, snapshot_ls, snapshot_rm or restore");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(json_object_get_string(op), verbs[i].op))
			vb = &verbs[i];
	if (!vb)
		return fail(why, wn, "unknown peer request '%.40s': start, "
			    "exec, stop, rm, ps, logs, cp_in, cp_out, snapshot, "
			    "snapshot_ls, snapshot_rm or restore",
			    json_object_get_string(op));
	json_object_object_add(out, "op", json_object_new_string(vb->op));
	json_object_object_foreach(in, k, v) {
		const struct field *f = vb->fields;

		if (!strcmp(k, "op"))
			continue;
		while (f->key && strcmp(f->key, k))
			f++;
		if (!f->key) {
			snprintf(why, wn, "%s: unknown field '%.40s'", vb->op, k);
			return -1;
		}
		if (f->check(v, out, f->key, why, wn) < 0)
			return -1;
	}
	for (int i = 0; vb->required[i]; i++)
		if (!json_object_object_get_ex(out, vb->required[i], NULL)) {
			snprintf(why, wn, "%s: '%s' is required", vb->op,
				 vb->required[i]);
			return -1;
		}
	return 0;
}

int spawn_req_parse(const uint8_t *p, size_t n, json_object **out, char *why,
		    size_t wn)
{
	json_tokener *tok;
	json_object *in;
	int r;

	*out = NULL;
	if (!n || n > MSB_PEER_REQ_MAX || memchr(p, 0, n))
		return fail(why, wn, "%s", "a peer request is one JSON object "
			    "of at most 60 KiB");
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return fail(why, wn, "%s", "out of memory");
	in = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	r = json_tokener_get_error(tok) == json_tokener_success &&
	    (size_t)json_tokener_get_parse_end(tok) == n;
	json_tokener_free(tok);
	if (!r || !json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return fail(why, wn, "%s", "a peer request is one JSON object "
			    "of at most 60 KiB");
	}
	*out = json_object_new_object();
	r = check(in, *out, why, wn);
	json_object_put(in);
	if (r < 0) {
		json_object_put(*out);
		*out = NULL;
	}
	return r;
}

int spawn_host_covers(const char *have, const char *want)
{
	size_t hn = strlen(have), wl = strlen(want);

	if (!strcasecmp(have, want))
		return 1;
	if (hn < 3 || strncmp(have, "*.", 2))
		return 0;
	/* "*.d" covers "x.d", "a.b.d" and "*.x.d", never "d" itself */
	if (wl <= hn - 1 || strcasecmp(want + wl - (hn - 1), have + 1))
		return 0;
	return 1;
}

int spawn_pcp_rec(const uint8_t *p, size_t n, int root, struct spawn_pcp *r)
{
	size_t nl, tl = 0, len;

	if (n < 7)
		return 0;
	memset(r, 0, sizeof(*r));
	r->type = p[0];
	r->mode = msb_get_be32(p + 1) & 07777;
	nl = msb_get_be16(p + 5);
	if ((r->type != MSB_PCP_DIR && r->type != MSB_PCP_FILE &&
	     r->type != MSB_PCP_LINK && r->type != MSB_PCP_END) ||
	    nl > MSB_PCP_NAME_MAX || (r->type == MSB_PCP_END && nl))
		return -1;
	len = 7 + nl;
	if (n < len)
		return 0;
	r->name = (const char *)p + 7;
	r->name_len = nl;
	if (memchr(r->name, 0, nl))
		return -1;
	if (r->type != MSB_PCP_END && !root && !msb_fname_ok(p + 7, nl))
		return -1;
	if (r->type != MSB_PCP_END && root) {
		int slash = memchr(r->name, '/', nl) != NULL;
		int dots = (nl == 1 && r->name[0] == '.') ||
			   (nl == 2 && !memcmp(r->name, "..", 2));

		/* a directory may be "/", ".", "..": what is in it */
		if (!nl || nl > 255 ||
		    (r->type == MSB_PCP_DIR ? slash && nl != 1 : slash || dots))
			return -1;
	}
	if (r->type == MSB_PCP_LINK) {
		if (n < len + 2)
			return 0;
		tl = msb_get_be16(p + len);
		if (!tl || tl > MSB_PCP_NAME_MAX)
			return -1;
		if (n < len + 2 + tl)
			return 0;
		r->link = (const char *)p + len + 2;
		r->link_len = tl;
		if (memchr(r->link, 0, tl))
			return -1;
		len += 2 + tl;
	}
	return (int)len;
}
