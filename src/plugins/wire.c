/* SPDX-License-Identifier: Apache-2.0 */
/* wire.c - the hook protocol's messages, made and checked (wire.h)
 *
 * A plugin is the sandbox owner's code, but it runs in a process of its
 * own and may be buggy, slow or hostile: nothing it sends is used before
 * it is checked here, and anything out of shape is refused as a whole
 * (the hook then takes its safe default, docs/plugins.md).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"
#include "msb_fs.h"
#include "util.h"
#include "wire.h"

static const char *const hook_names[HOOK_COUNT] = {
	[HOOK_LIFECYCLE] = "lifecycle",
	[HOOK_EXEC_BEFORE] = "exec_before",
	[HOOK_EXEC_AFTER] = "exec_after",
	[HOOK_DNS] = "dns",
	[HOOK_CONNECT] = "connect",
	[HOOK_HTTP_REQUEST] = "http_request",
	[HOOK_FS] = "fs",
	[HOOK_HTTP_RESPONSE] = "http_response",
	[HOOK_HTTP_RESPONSE_HEAD] = "http_response_head",
};
_Static_assert(sizeof(hook_names) / sizeof(hook_names[0]) == HOOK_COUNT,
	       "a name for every hook");

static const char *const fs_op_names[MSB_FS_OP_COUNT] = {
	"lookup", "forget", "getattr", "setattr", "readlink", "symlink",
	"mknod", "mkdir", "unlink", "rmdir", "rename", "link", "open",
	"read", "write", "statfs", "release", "fsync", "setxattr",
	"getxattr", "listxattr", "removexattr", "flush", "opendir",
	"readdir", "releasedir", "fsyncdir", "getlk", "setlk", "access",
	"create", "fallocate", "lseek", "copy_file_range", "syncfs",
};
_Static_assert(sizeof(fs_op_names) / sizeof(fs_op_names[0]) ==
		       MSB_FS_OP_COUNT,
	       "a name for every filesystem operation");

const char *hook_name(enum hook_id h)
{
	return (unsigned)h < HOOK_COUNT ? hook_names[h] : "?";
}

int hook_parse_name(const char *s)
{
	for (int i = 0; s && i < HOOK_COUNT; i++)
		if (!strcmp(s, hook_names[i]))
			return i;
	return -1;
}

int hook_is_call(enum hook_id h)
{
	return h != HOOK_LIFECYCLE && h != HOOK_EXEC_AFTER &&
	       h != HOOK_HTTP_RESPONSE_HEAD;
}

const char *hook_fs_op_name(int op)
{
	return op >= 0 && op < MSB_FS_OP_COUNT ? fs_op_names[op] : NULL;
}

int hook_fs_op_parse(const char *s)
{
	for (int i = 0; s && i < MSB_FS_OP_COUNT; i++)
		if (!strcmp(s, fs_op_names[i]))
			return i;
	return -1;
}

void hook_reply_free(struct hook_reply *r)
{
	json_object_put(r->argv);
	json_object_put(r->env);
	free(r->body);
	free(r->head);
	memset(r, 0, sizeof(*r));
}

/* parse() - @msg as one JSON object, all of it. */
static json_object *parse(const uint8_t *msg, size_t n, char *why, size_t wn)
{
	json_tokener *tok;
	json_object *o;

	if (n == 0 || n > HOOK_MSG_MAX) {
		snprintf(why, wn, "a message of %zu bytes", n);
		return NULL;
	}
	tok = json_tokener_new_ex(64);
	if (!tok) {
		snprintf(why, wn, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, (const char *)msg, (int)n);
	if (!o || json_tokener_get_parse_end(tok) != n ||
	    !json_object_is_type(o, json_type_object)) {
		snprintf(why, wn, "a message that is not one JSON object");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* strings() - @v as an array of at most HOOK_ARGV_MAX strings without
 * NUL bytes (each at most 64 KiB), non-empty if @nonempty; with @kv each
 * "KEY=VALUE" with a non-empty KEY. */
static int strings(json_object *v, int nonempty, int kv)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return 0;
	n = json_object_array_length(v);
	if ((nonempty && !n) || n > HOOK_ARGV_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(v, i);
		const char *s;
		size_t len;

		if (!json_object_is_type(e, json_type_string))
			return 0;
		s = json_object_get_string(e);
		len = (size_t)json_object_get_string_len(e);
		if (len > 65536 || strlen(s) != len)
			return 0;
		if (kv && (!strchr(s, '=') || s[0] == '='))
			return 0;
	}
	return 1;
}

static int parse_addrs(json_object *a, struct hook_reply *r, char *why,
		       size_t wn)
{
	size_t n;

	if (!json_object_is_type(a, json_type_array) ||
	    (n = json_object_array_length(a)) > HOOK_ADDRS_MAX) {
		snprintf(why, wn, "\"addrs\" must be a list of at most %d "
			 "addresses", HOOK_ADDRS_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		const char *s = json_object_is_type(e, json_type_string) ?
					json_object_get_string(e) :
					NULL;

		memset(r->addrs[i].addr, 0, 16);
		if (s && inet_pton(AF_INET, s, r->addrs[i].addr) == 1)
			r->addrs[i].family = 4;
		else if (s && inet_pton(AF_INET6, s, r->addrs[i].addr) == 1)
			r->addrs[i].family = 6;
		else {
			snprintf(why, wn, "\"addrs\" holds something that is "
				 "not an IPv4 or IPv6 address");
			return -1;
		}
	}
	r->naddrs = (unsigned)n;
	return 0;
}

static int parse_body(json_object *o, struct hook_reply *r, char *why,
		      size_t wn)
{
	const char *b64 = msb_jstr(o, "body_b64", NULL);
	size_t len;
	long got;

	if (!b64) {
		snprintf(why, wn, "\"modify\" without a \"body_b64\" string");
		return -1;
	}
	len = strlen(b64);
	r->body = malloc(len / 4 * 3 + 3);
	if (!r->body) {
		snprintf(why, wn, "out of memory");
		return -1;
	}
	got = msb_b64_decode(b64, len, r->body);
	if (got < 0) {
		snprintf(why, wn, "\"body_b64\" is not base64");
		return -1;
	}
	r->body_len = (size_t)got;
	return 0;
}

/* parse_response() - an http_response's modify: "head" (a string of at
 * most HOOK_HEAD_MAX bytes, no NUL) and/or "body_b64" */
static int parse_response(json_object *o, struct hook_reply *r, char *why,
			  size_t wn)
{
	json_object *v;
	int has_head = json_object_object_get_ex(o, "head", &v);

	if (has_head) {
		size_t len;

		if (!json_object_is_type(v, json_type_string) ||
		    (len = (size_t)json_object_get_string_len(v)) == 0 ||
		    len > HOOK_HEAD_MAX ||
		    strlen(json_object_get_string(v)) != len) {
			snprintf(why, wn, "\"head\" must be a string of 1 to "
				 "%d bytes without NUL", HOOK_HEAD_MAX);
			return -1;
		}
		r->head = strdup(json_object_get_string(v));
		if (!r->head) {
			snprintf(why, wn, "out of memory");
			return -1;
		}
		r->head_len = len;
	}
	if (json_object_object_get_ex(o, "body_b64", &v))
		return parse_body(o, r, why, wn);
	if (!has_head) {
		snprintf(why, wn, "\"modify\" without a \"head\" or a "
			 "\"body_b64\"");
		return -1;
	}
	return 0;
}

/* verdicts each hook may answer with */
static int verdict_ok(enum hook_id h, enum hook_verdict v)
{
	switch (v) {
	case HV_ALLOW:
	case HV_DENY:
		return 1;
	case HV_ANSWER:
		return h == HOOK_DNS;
	case HV_MODIFY:
		return h == HOOK_HTTP_REQUEST || h == HOOK_HTTP_RESPONSE;
	}
	return 0;
}

int hook_reply_parse(enum hook_id h, const uint8_t *msg, size_t n, int64_t id,
		     struct hook_reply *r, char *why, size_t wn)
{
	static const char *const names[] = { "allow", "deny", "answer",
					     "modify" };
	json_object *o, *v;
	const char *type, *verdict, *reason;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	o = parse(msg, n, why, wn);
	if (!o)
		return -1;
	type = msb_jstr(o, "type", NULL);
	if (!type || strcmp(type, "reply")) {
		snprintf(why, wn, "a message of type '%.40s' where a reply "
			 "was due", type ? type : "(none)");
		goto out;
	}
	if (!json_object_object_get_ex(o, "id", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		snprintf(why, wn, "a reply without an integer \"id\"");
		goto out;
	}
	r->id = json_object_get_int64(v);
	if (r->id < id && r->id > 0) {
		rc = 1; /* the answer to a call that timed out */
		goto out;
	}
	if (r->id != id) {
		snprintf(why, wn, "a reply to call %lld, which was never made",
			 (long long)r->id);
		goto out;
	}
	verdict = msb_jstr(o, "verdict", NULL);
	r->verdict = (enum hook_verdict)-1;
	for (unsigned i = 0; verdict && i < 4; i++)
		if (!strcmp(verdict, names[i]))
			r->verdict = (enum hook_verdict)i;
	if ((int)r->verdict < 0 || !verdict_ok(h, r->verdict)) {
		snprintf(why, wn, "verdict '%.40s' is not one %s may give",
			 verdict ? verdict : "(none)", hook_name(h));
		goto out;
	}
	reason = msb_jstr(o, "reason", NULL);
	if (reason) {
		/* one line for the log: control characters become spaces */
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
		for (char *p = r->reason; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
	}
	if (h == HOOK_EXEC_BEFORE && r->verdict == HV_ALLOW) {
		if (json_object_object_get_ex(o, "argv", &v)) {
			if (!strings(v, 1, 0)) {
				snprintf(why, wn, "\"argv\" must be a non-empty "
					 "list of strings");
				goto out;
			}
			r->argv = json_object_get(v);
		}
		if (json_object_object_get_ex(o, "env", &v)) {
			if (!strings(v, 0, 1)) {
				snprintf(why, wn, "\"env\" must be a list of "
					 "\"KEY=VALUE\" strings");
				goto out;
			}
			r->env = json_object_get(v);
		}
	}
	if (h == HOOK_DNS && r->verdict == HV_ANSWER) {
		if (!json_object_object_get_ex(o, "addrs", &v)) {
			snprintf(why, wn, "\"answer\" without \"addrs\"");
			goto out;
		}
		if (parse_addrs(v, r, why, wn) < 0)
			goto out;
	}
	if (h == HOOK_HTTP_REQUEST && r->verdict == HV_MODIFY &&
	    parse_body(o, r, why, wn) < 0)
		goto out;
	if (h == HOOK_HTTP_RESPONSE && r->verdict == HV_MODIFY &&
	    parse_response(o, r, why, wn) < 0)
		goto out;
	if (h == HOOK_FS && r->verdict == HV_DENY) {
		r->errnum = EACCES;
		if (json_object_object_get_ex(o, "errno", &v)) {
			int64_t e = json_object_get_int64(v);

			if (!json_object_is_type(v, json_type_int) || e < 1 ||
			    e > 4095) {
				snprintf(why, wn, "\"errno\" must be an "
					 "integer from 1 to 4095");
				goto out;
			}
			r->errnum = (int)e;
		}
	}
	rc = 0;
out:
	json_object_put(o);
	if (rc != 0) {
		int64_t keep = r->id;

		hook_reply_free(r);
		r->id = keep;
	}
	return rc;
}

int hook_hello_parse(const uint8_t *msg, size_t n, struct hook_hello *h,
		     char *why, size_t wn)
{
	json_object *o, *v;
	const char *type, *name;
	int rc = -1;

	memset(h, 0, sizeof(*h));
	o = parse(msg, n, why, wn);
	if (!o)
		return -1;
	type = msb_jstr(o, "type", NULL);
	name = msb_jstr(o, "name", NULL);
	if (!type || strcmp(type, "hello")) {
		snprintf(why, wn, "its first message is not a hello");
		goto out;
	}
	if (!name || !*name || strlen(name) >= sizeof(h->name)) {
		snprintf(why, wn, "its hello has no \"name\" of 1 to %d "
			 "characters", HOOK_NAME_MAX - 1);
		goto out;
	}
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			snprintf(why, wn, "its name has spaces or control "
				 "characters");
			goto out;
		}
	snprintf(h->name, sizeof(h->name), "%s", name);
	if (!json_object_object_get_ex(o, "hooks", &v) ||
	    !json_object_is_type(v, json_type_array)) {
		snprintf(why, wn, "its hello has no \"hooks\" list");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);
		int k = json_object_is_type(e, json_type_string) ?
				hook_parse_name(json_object_get_string(e)) :
				-1;

		if (k < 0) {
			snprintf(why, wn, "its hello names an unknown hook "
				 "'%.40s'",
				 json_object_get_string(e));
			goto out;
		}
		h->hooks |= 1u << k;
	}
	if (json_object_object_get_ex(o, "fs_ops", &v)) {
		if (!json_object_is_type(v, json_type_array))
			goto bad_ops;
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *e = json_object_array_get_idx(v, i);
			int k = json_object_is_type(e, json_type_string) ?
					hook_fs_op_parse(
						json_object_get_string(e)) :
					-1;

			/* forget cannot be refused or waited on */
			if (k < 0 || k == MSB_FS_OP_FORGET)
				goto bad_ops;
			h->fs_ops |= 1ull << k;
		}
	}
	if ((h->hooks & (1u << HOOK_FS)) && !h->fs_ops) {
		snprintf(why, wn, "it wants the fs hook but names no "
			 "\"fs_ops\"");
		goto out;
	}
	rc = 0;
	goto out;
bad_ops:
	snprintf(why, wn, "\"fs_ops\" must list filesystem operations by "
		 "name (docs/plugins.md; forget cannot be hooked)");
out:
	json_object_put(o);
	return rc;
}

uint8_t *hook_frame(json_object *msg, size_t *len)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&n);
	uint8_t *f;

	if (!s || n > HOOK_MSG_MAX)
		return NULL;
	f = malloc(n + 4);
	if (!f)
		return NULL;
	f[0] = (uint8_t)(n >> 24);
	f[1] = (uint8_t)(n >> 16);
	f[2] = (uint8_t)(n >> 8);
	f[3] = (uint8_t)n;
	memcpy(f + 4, s, n);
	*len = n + 4;
	return f;
}
