/* SPDX-License-Identifier: Apache-2.0 */
/* ref.c - image references as Docker users write them
 *
 * Grammar (distribution/reference): [HOST[:PORT]/]PATH[:TAG][@DIGEST];
 * PATH components are [a-z0-9] joined by '.', '_', '__' or '-'; a TAG is
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
 */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "util.h"

int msb_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 71)
		return 0;
	for (const char *p = d + 7; *p; p++)
		if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
			return 0;
	return 1;
}

static int tag_valid(const char *t)
{
	size_t n = strlen(t);

	if (!n || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
			return 0;
	return 1;
}

static int path_valid(const char *p)
{
	size_t n = strlen(p);

	if (!n || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if ((c >= 'a' && c <= 'z') || isdigit((unsigned char)c))
			continue;
		/* Separators never start or end a component, nor double
		 * except "__". */
		if (!strchr("._-/", c) || i == 0 || i == n - 1 ||
		    p[i - 1] == '/' || p[i + 1] == '/')
			return 0;
		if (c == '/' && p[i + 1] == '/')
			return 0;
	}
	return 1;
}

static int host_valid(const char *h)
{
	if (!*h || strlen(h) > 255)
		return 0;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
			return 0;
	return 1;
}

const char *msb_url_tail(const char *s, int *n)
{
	const char *t = strstr(s, "://");
	size_t len;

	if (!t)
		return NULL;
	t += 3;
	len = strlen(t);
	while (len && t[len - 1] == '/')
		len--;
	*n = len > INT_MAX ? INT_MAX : (int)len;
	return t;
}

int msb_ref_parse(const char *s, struct msb_ref *r, msb_error *err)
{
	char buf[700], *at, *slash, *colon, *rest;
	const char *url;
	int n;

	memset(r, 0, sizeof(*r));
	if (!s || !*s || strlen(s) >= sizeof(buf))
		return msb_fail(err, -EINVAL, "invalid image reference '%s'",
				s ? s : "");
	url = msb_url_tail(s, &n);
	if (url)
		return msb_fail(err, -EINVAL,
				"'%s' is a URL: give the image reference "
				"without its scheme, as '%.*s'",
				s, n, url);
	snprintf(buf, sizeof(buf), "%s", s);
	at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (!msb_digest_valid(at + 1))
			return msb_fail(err, -EINVAL,
					"invalid digest in '%s': use "
					"@sha256:<64 lowercase hex digits>",
					s);
		snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
	}
	rest = buf;
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (strchr(buf, '.') || strchr(buf, ':') ||
		    !strcmp(buf, "localhost")) {
			if (!host_valid(buf))
				return msb_fail(err, -EINVAL,
						"invalid registry host '%s' in "
						"'%s'",
						buf, s);
			snprintf(r->registry, sizeof(r->registry), "%s", buf);
			rest = slash + 1;
		} else {
			*slash = '/';
		}
	}
	if (!r->registry[0])
		snprintf(r->registry, sizeof(r->registry), "docker.io");
	/* A tag is after the last ':' that follows the last '/'. */
	slash = strrchr(rest, '/');
	colon = strrchr(slash ? slash : rest, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_valid(colon + 1))
			return msb_fail(err, -EINVAL,
					"invalid tag '%s' in '%s'", colon + 1,
					s);
		snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
	} else if (!r->digest[0]) {
		snprintf(r->tag, sizeof(r->tag), "latest");
	}
	if (!path_valid(rest))
		return msb_fail(err, -EINVAL,
				"invalid repository name '%s' in '%s': use "
				"lowercase letters, digits and . _ - /",
				rest, s);
	if (!strcmp(r->registry, "docker.io") && !strchr(rest, '/'))
		snprintf(r->repository, sizeof(r->repository), "library/%s",
			 rest);
	else
		snprintf(r->repository, sizeof(r->repository), "%s", rest);
	return 0;
}

void msb_ref_format(const struct msb_ref *r, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s%s%s%s%s", r->registry, r->repository,
		 r->tag[0] ? ":" : "", r->tag, r->digest[0] ? "@" : "",
		 r->digest);
}

void msb_ref_short(const struct msb_ref *r, char *buf, size_t n)
{
	const char *repo = r->repository;
	char name[600];

	if (!strcmp(r->registry, "docker.io")) {
		if (!strncmp(repo, "library/", 8))
			repo += 8;
		snprintf(name, sizeof(name), "%s", repo);
	} else {
		snprintf(name, sizeof(name), "%s/%s", r->registry, repo);
	}
	snprintf(buf, n, "%s%s%s%s%s", name, r->tag[0] ? ":" : "", r->tag,
		 r->digest[0] && !r->tag[0] ? "@" : "",
		 r->digest[0] && !r->tag[0] ? r->digest : "");
}

const char *msb_ref_endpoint(const struct msb_ref *r)
{
	if (!strcmp(r->registry, "docker.io"))
		return "registry-1.docker.io";
	return r->registry;
}

int msb_ref_is_loopback(const struct msb_ref *r)
{
	char host[256], *c;

	snprintf(host, sizeof(host), "%s", r->registry);
	if (host[0] == '[')
		return !strncmp(host, "[::1]", 5);
	c = strchr(host, ':');
	if (c)
		*c = '\0';
	return !strcmp(host, "localhost") || !strncmp(host, "127.", 4);
}
