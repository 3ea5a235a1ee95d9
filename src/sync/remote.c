/* SPDX-License-Identifier: Apache-2.0 */
/* remote.c - the sync remote: where `msb push NAME` sends a sandbox
 *
 * A remote is REGISTRY[/NAMESPACE] (127.0.0.1:5000/team, ghcr.io/me);
 * sandbox NAME lives at REMOTE/NAME:latest. $MSB_REMOTE wins over the one
 * `msb remote set` keeps in <home>/remote.json, with whether plain http
 * was allowed for it (--insecure; loopback registries need no flag).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "sync.h"
#include "util.h"

static void remote_path(char *buf, size_t n)
{
	snprintf(buf, n, "%s/remote.json", msb_home());
}

/* check() - a registry host first (Docker's rule: a '.' or ':' in the
 * first component, or localhost), then repository path components. */
static int check(const char *remote, msb_error *err)
{
	char probe[700];
	const char *slash = strchr(remote, '/');
	size_t hl = slash ? (size_t)(slash - remote) : strlen(remote);
	struct msb_ref ref;
	int n;
	const char *url = msb_url_tail(remote, &n);

	if (url)
		return msb_fail(err, -EINVAL,
				"invalid remote '%s': give it without a scheme, "
				"as '%.*s'%s",
				remote, n, url,
				strncmp(remote, "http:", 5) ? "" :
				" (a registry on plain http: --insecure)");
	if (!*remote || strlen(remote) > 400 || strchr(remote, '@') ||
	    (slash && strchr(slash, ':')) ||
	    (!memchr(remote, '.', hl) && !memchr(remote, ':', hl) &&
	     strncmp(remote, "localhost", hl)))
		return msb_fail(err, -EINVAL,
				"invalid remote '%s': give REGISTRY or "
				"REGISTRY/NAMESPACE, e.g. ghcr.io/me or "
				"127.0.0.1:5000/team (no tag)",
				remote);
	snprintf(probe, sizeof(probe), "%s/x", remote);
	if (msb_ref_parse(probe, &ref, NULL) < 0 || ref.digest[0])
		return msb_fail(err, -EINVAL,
				"invalid remote '%s': a registry host and "
				"lowercase repository path components",
				remote);
	return 0;
}

MSB_API int msb_remote_get(char *buf, size_t n, int *insecure,
			   msb_error *err)
{
	const char *env = getenv("MSB_REMOTE");
	char path[PATH_MAX], *s;
	json_object *o, *v;
	int r = -ENOENT;

	if (insecure)
		*insecure = 0;
	if (env && *env) {
		r = check(env, err);
		if (r == 0)
			snprintf(buf, n, "%s", env);
		return r;
	}
	remote_path(path, sizeof(path));
	s = msb_read_file(path, NULL);
	o = s ? json_tokener_parse(s) : NULL;
	free(s);
	if (o && json_object_object_get_ex(o, "remote", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    check(json_object_get_string(v), NULL) == 0) {
		snprintf(buf, n, "%s", json_object_get_string(v));
		if (insecure && json_object_object_get_ex(o, "insecure", &v))
			*insecure = json_object_get_boolean(v);
		r = 0;
	}
	json_object_put(o);
	if (r < 0)
		return msb_fail(err, -ENOENT,
				"no sync remote: set one with 'msb remote set "
				"REGISTRY/NAMESPACE' (or $MSB_REMOTE)");
	return 0;
}

MSB_API int msb_remote_set(const char *remote, int insecure, msb_error *err)
{
	char path[PATH_MAX];
	json_object *o;
	const char *s;
	int r;

	remote_path(path, sizeof(path));
	if (!remote || !*remote) {
		if (unlink(path) < 0 && errno != ENOENT)
			return msb_fail_errno(err, -errno, "cannot remove %s",
					      path);
		return 0;
	}
	r = check(remote, err);
	if (r < 0)
		return r;
	r = msb_mkdir_p(msb_home(), 0700);
	if (r < 0)
		return msb_fail_errno(err, r, "cannot create %s", msb_home());
	o = json_object_new_object();
	json_object_object_add(o, "remote", json_object_new_string(remote));
	json_object_object_add(o, "insecure", json_object_new_boolean(insecure));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	r = msb_write_file(path, s, strlen(s), 0600);
	json_object_put(o);
	if (r < 0)
		return msb_fail_errno(err, r, "cannot write %s", path);
	return 0;
}

int msb_sync_target(const char *arg, char *ref, size_t n, int *insecure,
		    msb_error *err)
{
	char remote[512] = "", full[1200];
	struct msb_ref r, rr;
	int rc, rins = 0;

	if (insecure)
		*insecure = 0;
	rc = msb_remote_get(remote, sizeof(remote), &rins, err);
	if (!strchr(arg, '/')) {
		if (rc < 0)
			return rc;
		snprintf(full, sizeof(full), "%s/%s", remote, arg);
		arg = full;
	}
	rc = msb_ref_parse(arg, &r, err);
	if (rc < 0)
		return rc;
	if (!r.tag[0] && !r.digest[0])
		snprintf(r.tag, sizeof(r.tag), "latest");
	msb_ref_format(&r, ref, n);
	/* plain http as the remote allows it, for the remote's registry */
	snprintf(full, sizeof(full), "%s/x", remote);
	if (insecure && rins && remote[0] &&
	    msb_ref_parse(full, &rr, NULL) == 0 &&
	    !strcmp(rr.registry, r.registry))
		*insecure = 1;
	return 0;
}
