/* SPDX-License-Identifier: Apache-2.0 */
/* secret.c - secrets as the C API and the CLI give them: checked, recorded
 * and sealed for the supervisor (see secrets.h for the theory of
 * operation; spec.c parses and reads them) */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "jsonx.h"
#include "policy.h"
#include "secrets.h"
#include "util.h"

static const char *const source_names[] = {
	[MSB_SECRET_ENV] = "env",
	[MSB_SECRET_FILE] = "file",
	[MSB_SECRET_VALUE] = "value",
};

MSB_API int msb_secret_parse(char *spec, msb_secret *s, msb_error *err)
{
	struct secret_spec *ss = malloc(sizeof(*ss));
	char *eq, *ref, *hosts;
	int r;

	memset(s, 0, sizeof(*s));
	if (!ss)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = secret_spec_parse(spec, ss, err);
	free(ss);
	if (r < 0)
		return r;
	/* Well formed: cut it up in place. */
	eq = strchr(spec, '=');
	*eq = '\0';
	s->env = spec;
	s->source = eq[2] == 'e' ? MSB_SECRET_ENV : MSB_SECRET_FILE;
	ref = strchr(eq + 1, ':') + 1;
	hosts = strrchr(ref, ':');
	*hosts++ = '\0';
	s->ref = ref;
	s->hosts = hosts;
	return 0;
}

/* to_spec() - @s as spec.c's struct, through its one parser (a VALUE's
 * name and hosts are checked the same way; its ref is unused). */
static int to_spec(const char *env, const char *source, const char *ref,
		   const char *hosts, struct secret_spec *out, msb_error *err)
{
	char *text;
	int r;

	/* the parser takes the hosts after the last ':' */
	if (hosts && strchr(hosts, ':'))
		return msb_fail(err, -EINVAL,
				"secret %s: '%s' is not a host name or "
				"*.domain list",
				env ? env : "", hosts);
	if (asprintf(&text, "%s=@%s:%s:%s", env ? env : "",
		     strcmp(source, "file") ? "env" : "file",
		     strcmp(source, "value") && ref ? ref : "_",
		     hosts ? hosts : "") < 0)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = secret_spec_parse(text, out, err);
	free(text);
	return r;
}

/* places_json() - @spec's places as the record keeps them: an array of
 * what secret_places_parse() reads, "authorization" first */
static json_object *places_json(const struct secret_spec *spec)
{
	char text[SECRET_PLACES_TEXT_MAX];
	json_object *a = json_object_new_array();

	secret_places_text(spec, text, sizeof(text));
	for (char *p = text, *c; p; p = c) {
		c = strchr(p, ',');
		if (c)
			*c++ = '\0';
		json_object_array_add(a, json_object_new_string(p));
	}
	return a;
}

int msb_secrets_json(const msb_secret *s, size_t n, json_object **out,
		     msb_error *err)
{
	struct secret_spec *spec;
	json_object *a;
	int r = 0;

	*out = NULL;
	if (!n)
		return 0;
	if (n > MSB_SECRETS_MAX)
		return msb_fail(err, -E2BIG, "%zu secrets: at most %d", n,
				MSB_SECRETS_MAX);
	spec = malloc(sizeof(*spec));
	if (!spec)
		return msb_fail(err, -ENOMEM, "out of memory");
	a = json_object_new_array();
	for (size_t i = 0; i < n && r == 0; i++) {
		json_object *o, *hosts;
		char ph[MSB_PLACEHOLDER_LEN + 1];

		if (s[i].source > MSB_SECRET_VALUE || !s[i].ref ||
		    (s[i].source != MSB_SECRET_VALUE && !*s[i].ref)) {
			r = msb_fail(err, -EINVAL,
				     "secret %s has no source: give a "
				     "variable (@env:VAR), a file "
				     "(@file:PATH) or a value",
				     s[i].env ? s[i].env : "");
			break;
		}
		r = to_spec(s[i].env, source_names[s[i].source], s[i].ref,
			    s[i].hosts, spec, err);
		if (r == 0)
			r = secret_places_parse(s[i].inject, spec, err);
		for (size_t j = 0; j < i && r == 0; j++)
			if (!strcmp(s[i].env, s[j].env))
				r = msb_fail(err, -EINVAL,
					     "secret %s is given twice",
					     s[i].env);
		if (r == 0 && secret_placeholder(ph, sizeof(ph)) < 0)
			r = msb_fail_errno(err, -errno, "getrandom");
		if (r < 0)
			break;
		o = json_object_new_object();
		hosts = json_object_new_array();
		json_object_array_add(a, o);
		json_object_object_add(o, "env", json_object_new_string(spec->name));
		json_object_object_add(o, "hosts", hosts);
		for (size_t h = 0; h < spec->nhosts; h++)
			json_object_array_add(hosts,
					      json_object_new_string(spec->hosts[h]));
		json_object_object_add(o, "inject", places_json(spec));
		json_object_object_add(
			o, "source",
			json_object_new_string(source_names[s[i].source]));
		json_object_object_add(o, "placeholder",
				       json_object_new_string(ph));
		if (s[i].source == MSB_SECRET_FILE) {
			/* A start may run from another directory. */
			char *abs = realpath(s[i].ref, NULL);

			if (!abs) {
				r = msb_fail_errno(err, -errno,
						   "secret %s: cannot read %s",
						   s[i].env, s[i].ref);
				break;
			}
			json_object_object_add(o, "ref",
					       json_object_new_string(abs));
			free(abs);
		} else if (s[i].source == MSB_SECRET_ENV) {
			json_object_object_add(o, "ref",
					       json_object_new_string(s[i].ref));
		}
	}
	free(spec);
	if (r < 0) {
		json_object_put(a);
		return r;
	}
	*out = a;
	return 0;
}

/* read_value() - a secret's value from its source; secret_wipe() it. */
static int read_value(json_object *o, const msb_secret *given, size_t n,
		      char **out, msb_error *err)
{
	const char *env = msb_jstr(o, "env", NULL), *src = msb_jstr(o, "source", NULL);
	struct secret_spec *spec;
	const char *v = NULL;
	size_t len;
	int r;

	*out = NULL;
	if (!env || !src)
		return msb_fail(err, -EINVAL, "a secret in the record is "
					      "malformed: recreate the sandbox");
	if (strcmp(src, "value")) {
		spec = malloc(sizeof(*spec));
		if (!spec)
			return msb_fail(err, -ENOMEM, "out of memory");
		r = to_spec(env, src, msb_jstr(o, "ref", NULL), "h", spec, err);
		if (r == 0)
			r = secret_read(spec, out, err);
		free(spec);
		return r;
	}
	if (!given)
		return msb_fail(err, -ENOKEY,
				"secret %s was given as a value through the C "
				"API and is kept nowhere: remove the sandbox "
				"and create it again with the value",
				env);
	for (size_t i = 0; i < n; i++)
		if (given[i].env && !strcmp(given[i].env, env))
			v = given[i].ref;
	len = v ? strlen(v) : 0;
	/* the same rule as secret_read(): it must fit on one header line */
	if (!len || len > SECRET_VALUE_MAX || strpbrk(v, "\r\n"))
		return msb_fail(err, -EINVAL,
				"secret %s: the value must be 1 to %d bytes "
				"with no NUL, CR or LF",
				env, SECRET_VALUE_MAX);
	*out = strdup(v);
	return *out ? 0 : msb_fail(err, -ENOMEM, "out of memory");
}

int msb_secrets_seal(json_object *rec, const msb_secret *given, size_t n,
		     int *fd, msb_error *err)
{
	json_object *vals;
	const char *text;
	size_t count = rec ? json_object_array_length(rec) : 0, tlen;
	int r = 0, mfd;

	*fd = -1;
	if (!count)
		return 0;
	vals = json_object_new_object();
	for (size_t i = 0; i < count && r == 0; i++) {
		json_object *o = json_object_array_get_idx(rec, i);
		char *v;

		r = read_value(o, given, n, &v, err);
		if (r < 0)
			break;
		json_object_object_add(vals, msb_jstr(o, "env", NULL),
				       json_object_new_string(v));
		secret_wipe(v);
	}
	if (r < 0)
		goto out;
	mfd = memfd_create("msb-secrets", MFD_CLOEXEC);
	if (mfd < 0) {
		r = msb_fail_errno(err, -errno, "memfd_create");
		goto out;
	}
	text = json_object_to_json_string_ext(vals, JSON_C_TO_STRING_PLAIN);
	tlen = strlen(text);
	if (msb_write_all(mfd, text, tlen) < 0 || lseek(mfd, 0, SEEK_SET) < 0) {
		r = msb_fail_errno(err, -errno, "writing secrets to a memfd");
		close(mfd);
	} else {
		*fd = mfd;
	}
	explicit_bzero((char *)text, tlen);
out:
	/* json-c keeps copies of the strings: wipe them before freeing.
	 * (A block: the loop declares, and a label cannot precede a
	 * declaration before C23, which clang enforces.) */
	{
		json_object_object_foreach(vals, k, val)
		{
			(void)k;
			explicit_bzero((char *)json_object_get_string(val),
				       (size_t)json_object_get_string_len(val));
		}
	}
	json_object_put(vals);
	return r;
}

int msb_secrets_net_check(const msb_net_config *nc, msb_error *err)
{
	/* one address of each range the default policy denies: loopback,
	 * this network, RFC 1918, CGNAT, link-local and cloud metadata (v4
	 * and v6), ULA */
	static const char *const guarded[] = {
		"127.0.0.1", "0.0.0.1", "10.0.0.1", "172.16.0.1",
		"192.168.0.1", "100.64.0.1", "169.254.169.254", "::1",
		"fd00:ec2::254", "fc00::1", "fe80::1",
	};

	for (const char *const *v = nc->allow_cidr; v && *v; v++) {
		struct net_cidr c;

		if (net_cidr_parse(*v, &c) < 0)
			continue; /* msb_net_config_check() says why */
		for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]);
		     i++) {
			struct net_cidr g;
			struct net_addr ga;

			net_cidr_parse(guarded[i], &g);
			ga.family = g.family;
			memcpy(ga.b, g.addr, sizeof(ga.b));
			if (g.family == c.family && net_cidr_match(&c, &ga))
				return msb_fail(
					err, MSB_E_POLICY,
					"--net-allow-cidr %s opens %s, which "
					"a sandbox with secrets keeps closed "
					"(metadata blocking and rebinding "
					"protection stay on): allow narrower "
					"public ranges",
					*v, guarded[i]);
		}
	}
	return 0;
}

int msb_secrets_env_source(json_object *rec, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t count = rec ? json_object_array_length(rec) : 0;

	if (!eq)
		return 0;
	for (size_t i = 0; i < count; i++) {
		json_object *o = json_object_array_get_idx(rec, i);
		const char *src = msb_jstr(o, "source", NULL), *ref = msb_jstr(o, "ref", NULL);

		if (src && ref && !strcmp(src, "env") &&
		    strlen(ref) == (size_t)(eq - kv) &&
		    !strncmp(ref, kv, (size_t)(eq - kv)))
			return 1;
	}
	return 0;
}
