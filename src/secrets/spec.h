/* SPDX-License-Identifier: Apache-2.0 */
/* spec.h - secret specifications: NAME=@env:VAR:HOSTS or NAME=@file:PATH:HOSTS
 *
 * A spec names where a secret's value is read (never the value itself, so
 * no argv, environment of msb or database ever holds it) and the hosts it
 * may be sent to: a comma-separated list of names, each exact or "*.domain"
 * (any name under domain, not domain itself).
 *
 * And where in a request to those hosts the value may be put (its places,
 * msb run --secret-inject NAME=PLACES): always the Authorization header
 * (Basic credentials included); besides, only the places given, a
 * comma-separated list of "header:NAME", "path", "query", "body". A place
 * nobody asked for keeps the placeholder, so a value cannot be steered
 * into what a server echoes or publishes (docs/secrets.md).
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
#define SECRET_HEADERS_MAX 8
#define SECRET_HEADER_MAX 64
#define SECRET_PLACES_TEXT_MAX 1024

enum secret_source { SECRET_ENV, SECRET_FILE };

/* Where a value may go: the bits of secret_spec.places. The same values as
 * http1.h's HTTP1_IN_* (the rewriter takes them as they are). */
enum secret_place {
	SECRET_IN_AUTH = 1 << 0,   /* Authorization (always) */
	SECRET_IN_HEADER = 1 << 1, /* the headers of secret_spec.headers */
	SECRET_IN_PATH = 1 << 2,   /* the request-target before any '?' */
	SECRET_IN_QUERY = 1 << 3,  /* the request-target from the '?' on */
	SECRET_IN_BODY = 1 << 4,   /* a body of up to 8 MiB */
};

struct secret_spec {
	char name[SECRET_NAME_MAX + 1];
	enum secret_source source;
	char ref[4096]; /* the variable or the path */
	char hosts[SECRET_HOSTS_MAX][SECRET_HOST_MAX + 1];
	size_t nhosts;
	unsigned places; /* SECRET_IN_*: SECRET_IN_AUTH at least */
	/* the named headers, lowercase, comma-separated ("" if none) */
	char headers[SECRET_HEADERS_MAX * (SECRET_HEADER_MAX + 1)];
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
 * secret_places_parse() - where @out's value may go, besides Authorization
 * @s:   "header:NAME", "path", "query", "body" (and "authorization", which
 *       is always in), comma-separated; NULL or "" for none
 * @out: a parsed spec; its places and headers are set
 * @err: which place is wrong, and how to write one
 *
 * A header that frames or routes the request (Host, Content-Length,
 * Transfer-Encoding) is never a place. Return: 0 or -EINVAL.
 */
int secret_places_parse(const char *s, struct secret_spec *out,
			msb_error *err);

/**
 * secret_places_text() - @spec's places as secret_places_parse() reads
 * them, "authorization" first ("authorization,header:x-api-key,query")
 * into @buf (SECRET_PLACES_TEXT_MAX bytes suffice)
 */
void secret_places_text(const struct secret_spec *spec, char *buf, size_t n);

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
