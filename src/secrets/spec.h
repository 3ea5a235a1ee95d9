/* SPDX-License-Identifier: Apache-2.0 */
/* spec.h - secret specifications: NAME=@env:VAR:HOSTS or NAME=@file:PATH:HOSTS
 *
 * A spec names where a secret's value is read (never the value itself, so
 * no argv, environment of msb or database ever holds it) and the hosts it
 * may be sent to: a comma-separated list of names, each exact or "*.domain"
 * (any name under domain, not domain itself).
 */
#ifndef MSB_SECRETS_SPEC_H
#define MSB_SECRETS_SPEC_H

#include <stddef.h>

#include "msb.h"

#define SECRET_NAME_MAX 128
#define SECRET_HOSTS_MAX 16
#define SECRET_HOST_MAX 253
#define SECRET_VALUE_MAX 65536
/* "msb_placeholder_" and 32 hex digits */
#define SECRET_PLACEHOLDER_LEN 48

enum secret_source { SECRET_ENV, SECRET_FILE };

struct secret_spec {
	char name[SECRET_NAME_MAX + 1];
	enum secret_source source;
	char ref[4096]; /* the variable or the path */
	char hosts[SECRET_HOSTS_MAX][SECRET_HOST_MAX + 1];
	size_t nhosts;
};

/**
 * secret_spec_parse() - parse NAME=@env:VAR:HOSTS or NAME=@file:PATH:HOSTS
 * @s:   the spec; PATH may hold ':' (HOSTS starts after the last one)
 * @out: filled
 * @err: what is wrong with it and how to write it
 * Return: 0 or -EINVAL.
 */
int secret_spec_parse(const char *s, struct secret_spec *out, msb_error *err);

/**
 * secret_read() - the value a spec names, read now (at every start)
 * @spec:  as parsed
 * @value: receives a malloc'd NUL-terminated copy; wipe and free it with
 *         secret_wipe()
 * @err:   what went wrong
 *
 * A value must be 1 to SECRET_VALUE_MAX bytes without NUL, CR or LF (one
 * trailing newline of a file is dropped): such bytes could split the HTTP
 * headers it is put in.
 * Return: 0, -ENOENT (no such variable or file), -EINVAL, or -errno.
 */
int secret_read(const struct secret_spec *spec, char **value, msb_error *err);

/* secret_wipe() - zero a value's bytes, then free it. */
void secret_wipe(char *value);

/* secret_host_allowed() - whether @host (lowercase) is one of @spec's. */
int secret_host_allowed(const struct secret_spec *spec, const char *host);

/* secret_placeholder() - a fresh random placeholder into @buf (at least
 * SECRET_PLACEHOLDER_LEN + 1 bytes). Return: 0 or -errno. */
int secret_placeholder(char *buf, size_t n);

#endif
