/* SPDX-License-Identifier: Apache-2.0 */
/* builtin.h - plugins built into the supervisor, picked by name
 *
 * `--plugin audit-log[:dir=DIR,fs=OPS]` and
 * `--plugin rate-limiter[:exec=N,connect=N,bytes=RATE]` take their place in a
 * sandbox's chain of plugins like `--plugin-process` commands do and see
 * the same hook arguments (docs/plugins.md), without a process or a
 * socket: they are called in the supervisor (on the volumes' threads too,
 * so they lock what they share).
 */
#ifndef MSB_PLUGINS_BUILTIN_H
#define MSB_PLUGINS_BUILTIN_H

#include <stdint.h>

#include <json-c/json.h>

#include "wire.h"

/* What a built-in is told about its sandbox. */
struct builtin_env {
	const char *sandbox; /* its name */
	const char *dir;     /* its directory (<home>/sandboxes/NAME) */
};

/**
 * struct builtin - a built-in plugin
 * @name:  what --plugin calls it
 * @open:  read @opts (an object of strings), set *@hooks (and *@fs_ops)
 *         as a process's hello would. Before confinement: files it needs
 *         are opened here. Return 0, or -1 with @why.
 * @hook:  one hook: @r is NULL for events; for calls it holds HV_ALLOW
 *         on entry and the built-in may deny (with a reason)
 * @close: the sandbox stops
 */
struct builtin {
	const char *name;
	int (*open)(json_object *opts, const struct builtin_env *env,
		    void **st, uint32_t *hooks, uint64_t *fs_ops, char *why,
		    size_t wn);
	void (*hook)(void *st, enum hook_id h, json_object *args,
		     struct hook_reply *r);
	void (*close)(void *st);
};

extern const struct builtin builtin_audit_log;
extern const struct builtin builtin_rate_limiter;

/* The built-ins' options (options.c, in the library too). */

/* ratelimit_bytes() - rate-limiter's bytes=RATE ("65536", "64k", "1.5m",
 * "1g": bytes, KiB, MiB, GiB a second; 1 KiB to 10 GiB) into @bps.
 * Return 0, or -1 (@bps untouched). The network applies it
 * (net_set_byte_rate()); the built-in only checks it. */
int ratelimit_bytes(const char *s, uint64_t *bps);
/* ratelimit_bytes_check() - the same, saying why not in @why */
int ratelimit_bytes_check(const char *s, uint64_t *bps, char *why, size_t wn);
/* ratelimit_rate() - exec=N or connect=N (@k): events a second, above 0
 * and at most a million. Return 0, or -1 with @why. */
int ratelimit_rate(const char *k, const char *s, double *out, char *why,
		   size_t wn);
/* audit_fs_ops() - audit-log's fs=OP+OP... into bits of enum msb_fs_op.
 * Return 0, or -1 with @why. */
int audit_fs_ops(const char *s, uint64_t *ops, char *why, size_t wn);
/* builtin_option_check() - built-in @name's option @key=@value as its
 * open() will read it (keys it does not know are the caller's to refuse).
 * Return 0, or -1 with @why. */
int builtin_option_check(const char *name, const char *key,
			 const char *value, char *why, size_t wn);

/* builtin_find() - the built-in called @name, or NULL. */
const struct builtin *builtin_find(const char *name);

#endif
