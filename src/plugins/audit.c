/* SPDX-License-Identifier: Apache-2.0 */
/* audit.c - the audit-log built-in: every hook as one JSON line
 *
 * `--plugin audit-log[:dir=DIR,fs=OPS]` appends to DIR/NAME.jsonl (DIR:
 * the sandbox's audit/ directory unless given) one line per lifecycle
 * event, exec (before and after), DNS query, connection, HTTP request,
 * HTTP answer (its head, as it comes: http_response_head never holds an
 * answer) and filesystem operation of OPS
 * ("open+create+unlink+mkdir+rmdir+rename" unless given, "+"-separated).
 * It only watches: it never refuses. A line is written with one write()
 * to a file opened O_APPEND, so lines from the volumes' threads never
 * interleave.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "jsonx.h"
#include "msb_fs.h"
#include "util.h"

#define DEFAULT_FS_OPS "open+create+unlink+mkdir+rmdir+rename"

struct audit {
	int fd;
	const char *sandbox;
};

static int audit_open(json_object *opts, const struct builtin_env *env,
		      void **st, uint32_t *hooks, uint64_t *fs_ops, char *why,
		      size_t wn)
{
	char dir[4096], path[4200];
	const char *fs = DEFAULT_FS_OPS;
	struct audit *a;

	snprintf(dir, sizeof(dir), "%s/audit", env->dir);
	json_object_object_foreach(opts, k, v) {
		if (!strcmp(k, "dir") && json_object_get_string(v)[0] == '/')
			snprintf(dir, sizeof(dir), "%s",
				 json_object_get_string(v));
		else if (!strcmp(k, "fs"))
			fs = json_object_get_string(v);
		else {
			snprintf(why, wn, "audit-log: unknown option '%s' "
				 "(dir=ABSOLUTE_DIR, fs=OP+OP...)", k);
			return -1;
		}
	}
	if (audit_fs_ops(fs, fs_ops, why, wn) < 0)
		return -1;
	if (msb_mkdir_p(dir, 0700) < 0) {
		snprintf(why, wn, "audit-log: cannot make %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s.jsonl", dir, env->sandbox);
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(why, wn, "audit-log: out of memory");
		return -1;
	}
	a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (a->fd < 0) {
		snprintf(why, wn, "audit-log: cannot open %s: %s", path,
			 strerror(errno));
		free(a);
		return -1;
	}
	a->sandbox = env->sandbox;
	*hooks = (1u << HOOK_LIFECYCLE) | (1u << HOOK_EXEC_BEFORE) |
		 (1u << HOOK_EXEC_AFTER) | (1u << HOOK_DNS) |
		 (1u << HOOK_CONNECT) | (1u << HOOK_HTTP_REQUEST) |
		 (1u << HOOK_HTTP_RESPONSE_HEAD);
	if (*fs_ops)
		*hooks |= 1u << HOOK_FS;
	*st = a;
	return 0;
}

static void audit_hook(void *st, enum hook_id h, json_object *args,
		       struct hook_reply *r)
{
	struct audit *a = st;
	json_object *o = json_object_new_object();
	struct timespec ts;
	const char *line;
	char *buf;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(o, "time",
			       msb_jdouble((double)ts.tv_sec +
						   ts.tv_nsec / 1e9,
					   6));
	json_object_object_add(o, "sandbox", json_object_new_string(a->sandbox));
	json_object_object_add(o, "hook", json_object_new_string(hook_name(h)));
	json_object_object_foreach(args, k, v) {
		/* bodies are not kept: their size is */
		if (!strcmp(k, "body_b64"))
			continue;
		json_object_object_add(o, k, json_object_get(v));
	}
	line = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	buf = malloc(n + 1);
	if (buf) {
		memcpy(buf, line, n);
		buf[n] = '\n';
		if (write(a->fd, buf, n + 1) < 0)
			n = 0; /* a full disk loses audit lines, not guest calls */
		free(buf);
	}
	json_object_put(o);
	(void)r; /* it only watches */
}

static void audit_close(void *st)
{
	struct audit *a = st;

	close(a->fd);
	free(a);
}

const struct builtin builtin_audit_log = {
	.name = "audit-log",
	.open = audit_open,
	.hook = audit_hook,
	.close = audit_close,
};

const struct builtin *builtin_find(const char *name)
{
	static const struct builtin *const all[] = { &builtin_audit_log,
						     &builtin_rate_limiter };

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}
