/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c - registry credentials in <home>/auth.json (mode 0600)
 *
 * The file has Docker's config.json shape, {"auths": {"HOST": {"auth":
 * base64("user:password")}}}, written whole to a temporary file created
 * 0600 and renamed over the old one: never readable by others, never half
 * written.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

static void auth_path(char *buf, size_t n)
{
	snprintf(buf, n, "%s/auth.json", msb_home());
}

/* auth_load() - auth.json's object into @out (an empty one when there is
 * no file). One that cannot be read, or is not a JSON object (edited by
 * hand, say), is an error: a login or logout must not write over the
 * logins it holds. Return: 0, or -errno with @err set. */
static int auth_load(json_object **out, msb_error *err)
{
	char path[PATH_MAX];
	char *s;
	json_object *o;
	int r;

	*out = NULL;
	auth_path(path, sizeof(path));
	/* (Never credentials from a home someone else may have planted.) */
	r = msb_home_ready(err);
	if (r < 0)
		return r;
	s = msb_read_file(path, NULL);
	if (!s && errno != ENOENT)
		return msb_fail_errno(err, -errno, "cannot read %s", path);
	o = s ? json_tokener_parse(s) : json_object_new_object();
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return msb_fail(err, -EINVAL,
				"%s is not a JSON object (Docker's config.json "
				"shape, {\"auths\": {...}}): fix it, or remove it "
				"and log in again; nothing was changed", path);
	}
	*out = o;
	return 0;
}

static int auth_save(json_object *o, msb_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	int fd, r;

	r = msb_home_ready(err);
	if (r < 0)
		return r;
	auth_path(path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return msb_fail_errno(err, -errno, "cannot write %s", tmp);
	r = msb_write_all(fd, s, strlen(s));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return msb_fail_errno(err, r, "cannot write %s", path);
	}
	return 0;
}

/* auth_auths() - the "auths" object of auth.json's @o, added when there
 * is none. Return: 0, or -EINVAL when it is there and is not an object. */
static int auth_auths(json_object *o, json_object **auths, msb_error *err)
{
	char path[PATH_MAX];

	if (!json_object_object_get_ex(o, "auths", auths)) {
		*auths = json_object_new_object();
		json_object_object_add(o, "auths", *auths);
		return 0;
	}
	if (json_object_is_type(*auths, json_type_object))
		return 0;
	auth_path(path, sizeof(path));
	return msb_fail(err, -EINVAL,
			"%s has an \"auths\" that is not a JSON object: fix "
			"it, or remove the file and log in again; nothing was "
			"changed", path);
}

int msb_auth_get(const char *registry, char *buf, size_t n)
{
	json_object *o, *auths, *h, *a;
	const char *b64;
	long len;
	int r = -ENOENT;

	/* (An auth.json that cannot be read holds no credentials for a
	 * pull: it goes anonymously, and a refusal says to log in, which
	 * then says what is wrong with the file.) */
	if (auth_load(&o, NULL) < 0)
		return -ENOENT;
	if (json_object_object_get_ex(o, "auths", &auths) &&
	    json_object_object_get_ex(auths, registry, &h) &&
	    json_object_object_get_ex(h, "auth", &a) &&
	    json_object_is_type(a, json_type_string)) {
		b64 = json_object_get_string(a);
		if ((strlen(b64) / 4) * 3 < n) {
			len = msb_b64_decode(b64, strlen(b64), (uint8_t *)buf);
			if (len > 0 && memchr(buf, ':', (size_t)len)) {
				buf[len] = '\0';
				r = 0;
			}
		}
	}
	json_object_put(o);
	return r;
}

/* check_login() - ask @registry whether it takes @user and @password. */
static int check_login(const char *registry, const char *user,
		       const char *password, int insecure, msb_error *err)
{
	struct msb_registry *reg;
	struct msb_ref ref = { 0 };
	int r;

	snprintf(ref.registry, sizeof(ref.registry), "%s", registry);
	r = msb_registry_open(&ref, insecure, &reg, err);
	if (r < 0)
		return r;
	r = msb_registry_check_login(reg, user, password, err);
	msb_registry_close(reg);
	if (r < 0 && err)
		msb_fail_over(err, r, "%s; nothing was stored%s", err->message,
			      r == -EHOSTUNREACH && !insecure &&
					      !msb_ref_is_loopback(&ref) ?
				      " (a registry on plain http: msb "
				      "registry login --insecure)" :
				      "");
	return r;
}

/* url_refused() - @registry is a URL ("https://ghcr.io/"), where a host
 * is wanted: say which (and, for a @login, how plain http is asked for).
 * Return: -EINVAL, or 0 when it is not a URL. */
static int url_refused(const char *registry, int login, msb_error *err)
{
	const char *h = registry ? strstr(registry, "://") : NULL;

	if (!h)
		return 0;
	h += 3;
	return msb_fail(err, -EINVAL,
			"'%s' is a URL: give the registry's host alone, as "
			"'%.*s'%s",
			registry, (int)strcspn(h, "/"), h,
			login ? " (a registry on plain http: --insecure)" : "");
}

MSB_API int msb_registry_login(const char *registry, const char *user,
			       const char *password, msb_error *err)
{
	return msb_registry_login_with(registry, user, password, NULL, err);
}

MSB_API int msb_registry_login_with(const char *registry, const char *user,
				    const char *password,
				    const msb_login_options *opts,
				    msb_error *err)
{
	char plain[600], enc[900];
	json_object *o, *auths, *h;
	int r;

	r = url_refused(registry, 1, err);
	if (r < 0)
		return r;
	if (!registry || !*registry || strchr(registry, '/') || !user ||
	    !*user || strchr(user, ':') || !password)
		return msb_fail(err, -EINVAL,
				"login needs a registry host, a user name "
				"without ':' and a password");
	if (strlen(registry) >= sizeof(((struct msb_ref *)0)->registry) ||
	    strpbrk(registry, " \t\r\n@?#"))
		return msb_fail(err, -EINVAL,
				"'%s' is not a registry host: give one as "
				"ghcr.io, docker.io or host:5000", registry);
	if (snprintf(plain, sizeof(plain), "%s:%s", user, password) >=
	    (int)sizeof(plain))
		return msb_fail(err, -E2BIG, "user name or password too long");
	/* The file first: one that cannot take the login fails before the
	 * registry is asked. */
	r = auth_load(&o, err);
	if (r == 0)
		r = auth_auths(o, &auths, err);
	if (r == 0)
		r = check_login(registry, user, password,
				opts && opts->insecure, err);
	if (r < 0) {
		explicit_bzero(plain, sizeof(plain));
		json_object_put(o);
		return r;
	}
	enc[msb_b64_encode((const uint8_t *)plain, strlen(plain), enc)] = '\0';
	explicit_bzero(plain, sizeof(plain));
	h = json_object_new_object();
	json_object_object_add(h, "auth", json_object_new_string(enc));
	explicit_bzero(enc, sizeof(enc));
	json_object_object_add(auths, registry, h);
	r = auth_save(o, err);
	json_object_put(o);
	return r;
}

MSB_API int msb_registry_logout(const char *registry, msb_error *err)
{
	json_object *o, *auths;
	int r;

	if (!registry || !*registry)
		return msb_fail(err, -EINVAL, "logout needs a registry host");
	r = url_refused(registry, 0, err);
	if (r < 0)
		return r;
	r = auth_load(&o, err);
	if (r == 0)
		r = auth_auths(o, &auths, err);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	if (!json_object_object_get_ex(auths, registry, NULL)) {
		json_object_put(o);
		return msb_fail(err, -ENOENT, "not logged in to %s", registry);
	}
	json_object_object_del(auths, registry);
	r = auth_save(o, err);
	json_object_put(o);
	return r;
}
