/* SPDX-License-Identifier: Apache-2.0 */
/* record.c - a pulled sandbox's configuration, checked as a create checks
 *
 * The config blob of an artifact is whatever its pusher (or anyone who
 * could write the registry) put there, and the supervisor trusts its
 * record. So nothing is copied as it is: every key is type-checked, and
 * the network policy, volumes, secrets and TLS options are rebuilt
 * through the functions msb_sandbox_create() builds them with, which
 * check them the same way.
 *
 * Some settings reach into the pulling host: volumes (its directories),
 * secrets (its variables and files, sent to the hosts the artifact names),
 * a network plugin (a shared object loaded in the supervisor), opened
 * address ranges and published ports (its network), extra CAs (trusted
 * for intercepted TLS). They are kept only when the caller trusts the
 * artifact (msb pull --trust); otherwise they are dropped and named, so
 * pulling a stranger's sandbox can never read a secret of the puller's.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "image.h"
#include "jsonx.h"
#include "netcfg.h"
#include "secrets.h"
#include "sync.h"
#include "tlscfg.h"
#include "util.h"
#include "volumes.h"

#define STRV_MAX 4096

static void note(char *dropped, size_t n, const char *what)
{
	size_t l = strlen(dropped);

	if (l + 1 < n)
		snprintf(dropped + l, n - l, "%s%s", l ? ", " : "", what);
}

/* strv() - a JSON array of strings as a NULL-terminated vector pointing
 * into it (free() the vector). Return: 0, -1 when it is not one. */
static int strv(json_object *a, const char ***out)
{
	size_t n;
	const char **v;

	*out = NULL;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array) ||
	    (n = json_object_array_length(a)) > STRV_MAX)
		return -1;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(a, i);

		if (!json_object_is_type(s, json_type_string)) {
			free(v);
			return -1;
		}
		v[i] = json_object_get_string(s);
	}
	*out = v;
	return 0;
}

static int bad(msb_error *err, const char *what)
{
	return msb_fail(err, -EPROTO,
			"the sandbox config's %s is malformed: refused", what);
}

/* net() - the policy, rebuilt through msb_net_config_check(). */
static int net(json_object *in, int trust, int with_secrets,
	       json_object *cfg, char *dropped, size_t dn, msb_error *err)
{
	msb_net_config nc = { 0 };
	const char **allow = NULL, **acidr = NULL, **bcidr = NULL,
		   **ports = NULL;
	json_object *v;
	int r = -1;

	if (!in)
		return 0;
	if (!json_object_is_type(in, json_type_object))
		return bad(err, "network policy");
	if (strv(msb_jget(in, "allow"), &allow) < 0 ||
	    strv(msb_jget(in, "allow_cidr"), &acidr) < 0 ||
	    strv(msb_jget(in, "block_cidr"), &bcidr) < 0 ||
	    strv(msb_jget(in, "ports"), &ports) < 0) {
		r = bad(err, "network policy");
		goto out;
	}
	nc.allow = allow;
	nc.block_cidr = bcidr;
	nc.deny_all = (v = msb_jget(in, "deny_all")) &&
		      json_object_is_type(v, json_type_boolean) &&
		      json_object_get_boolean(v);
	nc.dns_nameserver = msb_jstr(in, "dns", NULL);
	if (trust) {
		nc.allow_cidr = acidr;
		nc.ports = ports;
		nc.plugin = msb_jstr(in, "plugin", NULL);
	} else {
		if (acidr && acidr[0])
			note(dropped, dn, "opened address ranges");
		if (ports && ports[0])
			note(dropped, dn, "published ports");
		if (msb_jstr(in, "plugin", NULL))
			note(dropped, dn, "a network plugin");
	}
	r = msb_net_config_check(&nc, err);
	/* as a create refuses it: secrets with private ranges opened */
	if (r == 0 && with_secrets)
		r = msb_secrets_net_check(&nc, err);
	if (r == 0)
		json_object_object_add(cfg, "net", msb_net_config_json(&nc));
out:
	free(allow);
	free(acidr);
	free(bcidr);
	free(ports);
	return r;
}

static int volumes(json_object *in, json_object *cfg, msb_error *err)
{
	msb_volume v[MSB_VOLUMES_MAX];
	json_object *out = NULL;
	size_t n;
	int r;

	if (!in)
		return 0;
	if (!json_object_is_type(in, json_type_array) ||
	    (n = json_object_array_length(in)) > MSB_VOLUMES_MAX)
		return bad(err, "volumes");
	memset(v, 0, sizeof(v));
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(in, i), *x;
		const char *kind = msb_jstr(o, "kind", NULL);

		if (!kind || !msb_jstr(o, "guest", NULL))
			return bad(err, "volumes");
		v[i].guest_path = msb_jstr(o, "guest", NULL);
		v[i].source = msb_jstr(o, "source", NULL);
		v[i].arg = msb_jstr(o, "arg", NULL);
		v[i].dir = msb_jstr(o, "dir", NULL);
		if (!strcmp(kind, "host"))
			v[i].kind = MSB_VOLUME_HOST;
		else if (!strcmp(kind, "plugin"))
			v[i].kind = MSB_VOLUME_PLUGIN;
		else if (!strcmp(kind, "memory"))
			v[i].kind = MSB_VOLUME_MEMORY;
		else
			return bad(err, "volumes");
		if ((x = msb_jget(o, "size_mib")) && json_object_is_type(x, json_type_int))
			v[i].size_mib = (uint64_t)json_object_get_int64(x);
		if ((x = msb_jget(o, "overlay_mib")) &&
		    json_object_is_type(x, json_type_int))
			v[i].overlay_mib = (uint64_t)json_object_get_int64(x);
		v[i].readonly = (x = msb_jget(o, "ro")) && json_object_get_boolean(x);
		v[i].direct_io = (x = msb_jget(o, "direct_io")) &&
				 json_object_get_boolean(x);
		if ((x = msb_jget(o, "cache")) && json_object_is_type(x, json_type_string)) {
			const char *c = json_object_get_string(x);

			if (!strcmp(c, "never"))
				v[i].cache = MSB_VOLUME_CACHE_NEVER;
			else if (!strcmp(c, "auto"))
				v[i].cache = MSB_VOLUME_CACHE_AUTO;
			else if (!strcmp(c, "always"))
				v[i].cache = MSB_VOLUME_CACHE_ALWAYS;
			else
				return bad(err, "volumes");
		}
		if ((x = msb_jget(o, "cache_timeout_ms")) &&
		    json_object_is_type(x, json_type_int)) {
			int64_t ms = json_object_get_int64(x);

			if (ms < 0 || ms > 86400000)
				return bad(err, "volumes");
			v[i].cache_timeout_ms = (uint32_t)ms;
		}
	}
	r = msb_volumes_json(v, n, &out, err);
	if (r == 0 && out)
		json_object_object_add(cfg, "volumes", out);
	return r;
}

/* secrets() - the specs rebuilt, keeping the placeholders the guest has
 * seen (files in the disk may hold them). */
static int secrets(json_object *in, json_object *cfg, msb_error *err)
{
	msb_secret s[64];
	char hosts[64][1024];
	json_object *out = NULL;
	size_t n;
	int r;

	if (!in)
		return 0;
	if (!json_object_is_type(in, json_type_array) ||
	    (n = json_object_array_length(in)) > 64)
		return bad(err, "secrets");
	memset(s, 0, sizeof(s));
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(in, i);
		const char *src = msb_jstr(o, "source", NULL), *ph = msb_jstr(o, "placeholder", NULL);
		const char **h = NULL;
		size_t off = 0;

		if (!src || !msb_jstr(o, "env", NULL) || !ph ||
		    strlen(ph) != MSB_PLACEHOLDER_LEN ||
		    strncmp(ph, "msb_placeholder_", 16) ||
		    strspn(ph + 16, "0123456789abcdef") != MSB_PLACEHOLDER_LEN - 16 ||
		    strv(msb_jget(o, "hosts"), &h) < 0 || !h)
			return bad(err, "secrets");
		hosts[i][0] = '\0';
		for (size_t k = 0; h[k]; k++)
			off += (size_t)snprintf(hosts[i] + off,
						off < sizeof(hosts[i]) ?
							sizeof(hosts[i]) - off :
							0,
						"%s%s", k ? "," : "", h[k]);
		free(h);
		if (off >= sizeof(hosts[i]))
			return bad(err, "secrets");
		s[i].env = msb_jstr(o, "env", NULL);
		s[i].hosts = hosts[i];
		s[i].ref = msb_jstr(o, "ref", NULL);
		if (!strcmp(src, "env"))
			s[i].source = MSB_SECRET_ENV;
		else if (!strcmp(src, "file"))
			s[i].source = MSB_SECRET_FILE;
		else if (!strcmp(src, "value"))
			s[i].source = MSB_SECRET_VALUE;
		else
			return bad(err, "secrets");
		if (!s[i].ref)
			s[i].ref = "";
	}
	r = msb_secrets_json(s, n, &out, err);
	if (r < 0)
		return r;
	for (size_t i = 0; out && i < n; i++)
		json_object_object_add(
			json_object_array_get_idx(out, i), "placeholder",
			json_object_new_string(msb_jstr(json_object_array_get_idx(in, i),
						   "placeholder", NULL)));
	if (out)
		json_object_object_add(cfg, "secrets", out);
	return 0;
}

static int tls(json_object *bypass, json_object *cas, int trust,
	       json_object *cfg, char *dropped, size_t dn, msb_error *err)
{
	msb_sandbox_config c;
	const char **b = NULL, *pems[MSB_TLS_CA_MAX];
	size_t npem = 0;
	int r;

	msb_sandbox_config_init(&c);
	if (strv(bypass, &b) < 0)
		return bad(err, "TLS bypass list");
	c.tls_bypass = b;
	for (const char **p = b; p && *p; p++)
		c.ntls_bypass++;
	if (cas && !json_object_is_type(cas, json_type_array)) {
		free(b);
		return bad(err, "TLS CAs");
	}
	if (cas && json_object_array_length(cas) && !trust)
		note(dropped, dn, "extra TLS CAs");
	for (size_t i = 0; trust && cas && i < json_object_array_length(cas);
	     i++) {
		const char *pem = msb_jstr(json_object_array_get_idx(cas, i), "pem", NULL);

		if (!pem || npem == MSB_TLS_CA_MAX) {
			free(b);
			return bad(err, "TLS CAs");
		}
		pems[npem++] = pem;
	}
	c.tls_upstream_ca = npem ? pems : NULL;
	c.ntls_upstream_ca = npem;
	r = msb_tls_config_json(&c, cfg, err);
	free(b);
	return r;
}

static int strv_key(json_object *in, json_object *cfg, const char *k,
		    int need_eq, msb_error *err)
{
	const char **v;
	json_object *a = msb_jget(in, k);

	if (!a)
		return 0;
	if (strv(a, &v) < 0)
		return bad(err, k);
	for (const char **p = v; p && *p; p++)
		if (need_eq && (!strchr(*p, '=') || **p == '=')) {
			free(v);
			return bad(err, k);
		}
	free(v);
	json_object_object_add(cfg, k, json_object_get(a));
	return 0;
}

int msb_sync_record_config(json_object *in, int trust, json_object **out,
			   char *dropped, size_t dn, msb_error *err)
{
	json_object *cfg = json_object_new_object(), *v;
	const char *s;
	int r;

	dropped[0] = '\0';
	*out = NULL;
	r = strv_key(in, cfg, "entrypoint", 0, err);
	if (r == 0)
		r = strv_key(in, cfg, "image_cmd", 0, err);
	if (r == 0)
		r = strv_key(in, cfg, "cmd", 0, err);
	if (r == 0 && (s = msb_jstr(in, "workdir", NULL))) {
		if (s[0] != '/')
			r = bad(err, "workdir");
		else
			json_object_object_add(cfg, "workdir",
					       json_object_new_string(s));
	}
	if (r == 0 && (s = msb_jstr(in, "user", NULL)))
		json_object_object_add(cfg, "user", json_object_new_string(s));
	if (r == 0 && (v = msb_jget(in, "boot_timeout_ms"))) {
		int64_t t = json_object_is_type(v, json_type_int) ?
				    json_object_get_int64(v) : -1;

		if (t < 1000 || t > 3600000)
			r = bad(err, "boot timeout");
		else
			json_object_object_add(cfg, "boot_timeout_ms",
					       json_object_new_int((int)t));
	}
	if (r == 0 && (s = msb_jstr(in, "kernel", NULL))) {
		if (strcmp(s, "msb") && strcmp(s, "cloud"))
			r = bad(err, "kernel");
		else
			json_object_object_add(cfg, "kernel",
					       json_object_new_string(s));
	}
	if (r == 0 && (s = msb_jstr(in, "secret_violation", NULL))) {
		if (strcmp(s, "block") && strcmp(s, "log") && strcmp(s, "allow"))
			r = bad(err, "on-secret-violation");
		else
			json_object_object_add(cfg, "secret_violation",
					       json_object_new_string(s));
	}
	/* pushed again at every stop, as where it came from */
	if (r == 0 && (v = msb_jget(in, "sync")) &&
	    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v))
		json_object_object_add(cfg, "sync", json_object_new_boolean(1));
	if (r == 0)
		r = net(msb_jget(in, "net"), trust,
			trust && json_object_is_type(msb_jget(in, "secrets"),
						     json_type_array) &&
				json_object_array_length(msb_jget(in, "secrets")),
			cfg, dropped, dn, err);
	if (r == 0 && msb_jget(in, "volumes")) {
		if (trust)
			r = volumes(msb_jget(in, "volumes"), cfg, err);
		else if (json_object_is_type(msb_jget(in, "volumes"), json_type_array) &&
			 json_object_array_length(msb_jget(in, "volumes")))
			note(dropped, dn, "volumes");
	}
	if (r == 0 && msb_jget(in, "secrets")) {
		if (trust)
			r = secrets(msb_jget(in, "secrets"), cfg, err);
		else if (json_object_is_type(msb_jget(in, "secrets"), json_type_array) &&
			 json_object_array_length(msb_jget(in, "secrets")))
			note(dropped, dn, "secrets");
	}
	if (r == 0)
		r = tls(msb_jget(in, "tls_bypass"), msb_jget(in, "tls_upstream_ca"), trust,
			cfg, dropped, dn, err);
	/* env last: without the secrets, their placeholders go too */
	if (r == 0)
		r = strv_key(in, cfg, "env", 1, err);
	if (r == 0 && !trust && msb_jget(in, "secrets") &&
	    json_object_object_get_ex(cfg, "env", &v)) {
		json_object *keep = json_object_new_array();

		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *e = json_object_get_string(
				json_object_array_get_idx(v, i));
			const char *eq = strchr(e, '=');

			if (eq && !strncmp(eq + 1, "msb_placeholder_", 16))
				continue;
			json_object_array_add(keep, json_object_new_string(e));
		}
		json_object_object_add(cfg, "env", keep);
	}
	if (r < 0) {
		json_object_put(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

unsigned msb_sync_max_disks(json_object *cfg)
{
	json_object *v;
	unsigned n = MSB_ENGINE_SHARED_SLOTS -
		     (unsigned)(json_object_object_get_ex(cfg, "volumes", &v) ?
					json_object_array_length(v) :
					0);

	return n > MSB_IMAGE_MAX_DISKS ? MSB_IMAGE_MAX_DISKS : n;
}

int msb_sync_stage(char *stage, size_t n, const char *dir, const char *tmpl,
		   msb_error *err)
{
	int r;

	snprintf(stage, n, "%s/%s", msb_home(), dir);
	r = msb_mkdir_p(stage, 0700);
	if (r < 0) {
		r = msb_fail_errno(err, r, "cannot create %s", stage);
		stage[0] = '\0';
		return r;
	}
	snprintf(stage, n, "%s/%s/%s", msb_home(), dir, tmpl);
	if (!mkdtemp(stage)) {
		r = msb_fail_errno(err, -errno, "cannot create %s", stage);
		stage[0] = '\0';
		return r;
	}
	return 0;
}
