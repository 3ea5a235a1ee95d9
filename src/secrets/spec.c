/* SPDX-License-Identifier: Apache-2.0 */
/* spec.c - secret specifications, their values and their placeholders */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "spec.h"
#include "util.h"

static const char USAGE[] =
	"write NAME=@env:VAR:HOST[,HOST...] or NAME=@file:PATH:HOST[,HOST...] "
	"(a HOST is a name or *.domain)";

static int host_ok(const char *h, size_t n)
{
	size_t label = 0;

	if (n >= 2 && h[0] == '*' && h[1] == '.') {
		h += 2;
		n -= 2;
	}
	if (n == 0 || n > SECRET_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (!label)
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

int secret_spec_parse(const char *s, struct secret_spec *out, msb_error *err)
{
	const char *eq = strchr(s, '='), *src, *ref, *hosts, *h;
	size_t nl;

	memset(out, 0, sizeof(*out));
	out->places = SECRET_IN_AUTH;
	if (!eq || eq == s)
		return msb_fail(err, -EINVAL, "secret '%s': no NAME=; %s", s,
				USAGE);
	nl = eq - s;
	if (nl > SECRET_NAME_MAX)
		return msb_fail(err, -EINVAL, "secret name too long (at most %d)",
				SECRET_NAME_MAX);
	for (size_t i = 0; i < nl; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      s[i] == '_' || (i && s[i] >= '0' && s[i] <= '9')))
			return msb_fail(err, -EINVAL,
					"secret name '%.*s' is not an environment "
					"variable name ([A-Za-z_][A-Za-z0-9_]*)",
					(int)nl, s);
	memcpy(out->name, s, nl);
	src = eq + 1;
	if (!strncmp(src, "@env:", 5)) {
		out->source = SECRET_ENV;
		ref = src + 5;
	} else if (!strncmp(src, "@file:", 6)) {
		out->source = SECRET_FILE;
		ref = src + 6;
	} else {
		return msb_fail(err, -EINVAL,
				"secret %s: the value is never given on the "
				"command line; %s", out->name, USAGE);
	}
	hosts = strrchr(ref, ':');
	if (!hosts || hosts == ref || (size_t)(hosts - ref) >= sizeof(out->ref))
		return msb_fail(err, -EINVAL,
				"secret %s: no variable or path, or no hosts; %s",
				out->name, USAGE);
	memcpy(out->ref, ref, hosts - ref);
	for (h = hosts + 1;;) {
		const char *c = strchr(h, ',');
		size_t n = c ? (size_t)(c - h) : strlen(h);

		if (!host_ok(h, n))
			return msb_fail(err, -EINVAL,
					"secret %s: '%.*s' is not a host name or "
					"*.domain; %s", out->name, (int)n, h, USAGE);
		if (out->nhosts == SECRET_HOSTS_MAX)
			return msb_fail(err, -EINVAL,
					"secret %s: more than %d hosts", out->name,
					SECRET_HOSTS_MAX);
		for (size_t i = 0; i < n; i++)
			out->hosts[out->nhosts][i] =
				h[i] >= 'A' && h[i] <= 'Z' ? h[i] | 0x20 : h[i];
		out->nhosts++;
		if (!c)
			break;
		h = c + 1;
	}
	return 0;
}

static const char PLACES_USAGE[] =
	"write places as header:NAME, path, query or body, comma-separated "
	"(the Authorization header is always one)";

/* token_ok() - an HTTP field name (RFC 9110 §5.1: a token) */
static int token_ok(const char *p, size_t n)
{
	if (!n || n > SECRET_HEADER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c)))
			return 0;
	}
	return 1;
}

static int is_word(const char *p, size_t n, const char *w)
{
	return n == strlen(w) && !strncasecmp(p, w, n);
}

int secret_places_parse(const char *s, struct secret_spec *out,
			msb_error *err)
{
	unsigned places = SECRET_IN_AUTH;
	char headers[sizeof(out->headers)] = "";
	size_t nh = 0;

	for (const char *p = s && *s ? s : NULL; p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);

		if (is_word(p, n, "authorization") ||
		    is_word(p, n, "header:authorization")) {
			/* always in */
		} else if (is_word(p, n, "path")) {
			places |= SECRET_IN_PATH;
		} else if (is_word(p, n, "query")) {
			places |= SECRET_IN_QUERY;
		} else if (is_word(p, n, "body")) {
			places |= SECRET_IN_BODY;
		} else if (n > 7 && !strncasecmp(p, "header:", 7)) {
			const char *h = p + 7;
			size_t hl = n - 7, at = strlen(headers);

			if (!token_ok(h, hl))
				return msb_fail(err, -EINVAL,
						"secret %s: '%.*s' is not a header "
						"name; %s",
						out->name, (int)hl, h,
						PLACES_USAGE);
			if (is_word(h, hl, "host") ||
			    is_word(h, hl, "content-length") ||
			    is_word(h, hl, "transfer-encoding"))
				return msb_fail(err, -EINVAL,
						"secret %s: the %.*s header "
						"says where a request goes or "
						"ends and never carries a value",
						out->name, (int)hl, h);
			if (nh == SECRET_HEADERS_MAX)
				return msb_fail(err, -EINVAL,
						"secret %s: more than %d headers",
						out->name, SECRET_HEADERS_MAX);
			if (at)
				headers[at++] = ',';
			for (size_t i = 0; i < hl; i++)
				headers[at + i] = h[i] >= 'A' && h[i] <= 'Z' ?
							  h[i] | 0x20 :
							  h[i];
			headers[at + hl] = '\0';
			places |= SECRET_IN_HEADER;
			nh++;
		} else {
			return msb_fail(err, -EINVAL,
					"secret %s: '%.*s' is not a place its "
					"value can go; %s",
					out->name, (int)n, p, PLACES_USAGE);
		}
		p = c ? c + 1 : NULL;
	}
	out->places = places;
	memcpy(out->headers, headers, sizeof(headers));
	return 0;
}

void secret_places_text(const struct secret_spec *spec, char *buf, size_t n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} words[] = {
		{ SECRET_IN_PATH, ",path" },
		{ SECRET_IN_QUERY, ",query" },
		{ SECRET_IN_BODY, ",body" },
	};
	size_t at;

	snprintf(buf, n, "authorization");
	for (const char *h = spec->headers; *h;) {
		const char *c = strchr(h, ',');
		size_t hl = c ? (size_t)(c - h) : strlen(h);

		at = strlen(buf);
		snprintf(buf + at, n - at, ",header:%.*s", (int)hl, h);
		h += hl + (c ? 1 : 0);
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		at = strlen(buf);
		if (spec->places & words[i].bit)
			snprintf(buf + at, n - at, "%s", words[i].name);
	}
}

void secret_wipe(char *value)
{
	if (value) {
		explicit_bzero(value, strlen(value));
		free(value);
	}
}

int secret_read(const struct secret_spec *spec, char **value, msb_error *err)
{
	char *v;
	size_t n;

	*value = NULL;
	if (spec->source == SECRET_ENV) {
		const char *e = getenv(spec->ref);

		if (!e)
			return msb_fail(err, -ENOENT,
					"secret %s: the variable %s is not set "
					"(export it where msb runs)", spec->name,
					spec->ref);
		n = strlen(e);
		v = strdup(e);
		if (!v)
			return msb_fail(err, -ENOMEM, "out of memory");
	} else {
		v = msb_read_file(spec->ref, &n);
		if (!v)
			return msb_fail_errno(err, -errno,
					      "secret %s: cannot read %s",
					      spec->name, spec->ref);
		if (n && v[n - 1] == '\n')
			v[--n] = '\0';
		if (n && v[n - 1] == '\r')
			v[--n] = '\0';
	}
	if (n == 0 || n > SECRET_VALUE_MAX || memchr(v, '\0', n) ||
	    strpbrk(v, "\r\n")) {
		explicit_bzero(v, n);
		free(v);
		return msb_fail(err, -EINVAL,
				"secret %s: the value must be 1 to %d bytes with "
				"no NUL, CR or LF", spec->name, SECRET_VALUE_MAX);
	}
	*value = v;
	return 0;
}

int secret_host_allowed(const struct secret_spec *spec, const char *host)
{
	size_t hl = strlen(host);

	for (size_t i = 0; i < spec->nhosts; i++) {
		const char *p = spec->hosts[i];

		if (p[0] == '*') {
			size_t dl = strlen(p + 1); /* ".domain" */

			if (hl > dl && !strcmp(host + hl - dl, p + 1))
				return 1;
		} else if (!strcmp(host, p)) {
			return 1;
		}
	}
	return 0;
}

int secret_placeholder(char *buf, size_t n)
{
	unsigned char r[16];

	if (n < SECRET_PLACEHOLDER_LEN + 1)
		return -ENOSPC;
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -errno;
	memcpy(buf, "msb_placeholder_", 16);
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(buf + 16 + 2 * i, 3, "%02x", r[i]);
	return 0;
}
