/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - libmsb's option structs from the plain objects lib/ builds
 *
 * lib/config.js turns the SDK's options (the seeds' shapes) into objects
 * whose keys are msb.h's fields in camelCase; here they are copied into
 * the C structs, strings into the call's arena. Nothing is decided here:
 * libmsb checks every value and says what is wrong.
 */

#include <string.h>

#include "addon.h"

static int kind_of(napi_env env, const char *s, const char *const *names,
		   int n, const char *what, int *out)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	throw_msb(env, MSB_E_INVALID, "unknown %s '%s'", what, s ? s : "");
	return -1;
}

static int config_net(napi_env env, napi_value o, struct arena *a,
		      msb_net_config *n)
{
	if (!o)
		return 0;
	if (prop_bool(env, o, "denyAll", &n->deny_all) < 0 ||
	    prop_strv(env, o, "allow", a, &n->allow, NULL) < 0 ||
	    prop_strv(env, o, "allowCidr", a, &n->allow_cidr, NULL) < 0 ||
	    prop_strv(env, o, "blockCidr", a, &n->block_cidr, NULL) < 0 ||
	    prop_str(env, o, "dnsNameserver", a, &n->dns_nameserver) < 0 ||
	    prop_strv(env, o, "ports", a, &n->ports, NULL) < 0 ||
	    prop_str(env, o, "plugin", a, &n->plugin) < 0 ||
	    prop_strv(env, o, "allowHost", a, &n->allow_host, NULL) < 0)
		return -1;
	return 0;
}

static int config_volumes(napi_env env, napi_value list, struct arena *a,
			  msb_sandbox_config *c)
{
	static const char *const kinds[] = { "host", "memory", "plugin",
					     "named" };
	static const msb_volume_kind kind_val[] = { MSB_VOLUME_HOST,
						    MSB_VOLUME_MEMORY,
						    MSB_VOLUME_PLUGIN,
						    MSB_VOLUME_NAMED };
	/* indexed by msb_volume_cache */
	static const char *const caches[] = { "default", "never", "auto",
					      "always" };
	uint32_t n = 0;
	msb_volume *vs;

	if (!list)
		return 0;
	napi_get_array_length(env, list, &n);
	vs = arena_alloc(a, (n ? n : 1) * sizeof(*vs));
	if (!vs) {
		throw_msb(env, -ENOMEM, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		msb_volume *v = &vs[i];
		napi_value o;
		const char *kind, *cache;
		unsigned timeout = 0;
		int k, m = MSB_VOLUME_CACHE_DEFAULT;

		napi_get_element(env, list, i, &o);
		if (prop_str(env, o, "kind", a, &kind) < 0 ||
		    kind_of(env, kind, kinds, 4, "volume kind", &k) < 0)
			return -1;
		v->kind = kind_val[k];
		if (prop_str(env, o, "guestPath", a, &v->guest_path) < 0 ||
		    prop_str(env, o, "source", a, &v->source) < 0 ||
		    prop_str(env, o, "arg", a, &v->arg) < 0 ||
		    prop_str(env, o, "dir", a, &v->dir) < 0 ||
		    prop_u64(env, o, "sizeMib", &v->size_mib) < 0 ||
		    prop_bool(env, o, "readonly", &v->readonly) < 0 ||
		    prop_bool(env, o, "directIo", &v->direct_io) < 0 ||
		    prop_u64(env, o, "overlayMib", &v->overlay_mib) < 0 ||
		    prop_str(env, o, "cache", a, &cache) < 0 ||
		    (cache && kind_of(env, cache, caches, 4, "cache mode",
				      &m) < 0) ||
		    prop_u32(env, o, "cacheTimeoutMs", &timeout) < 0)
			return -1;
		v->cache = (msb_volume_cache)m;
		v->cache_timeout_ms = timeout;
	}
	c->volumes = vs;
	c->nvolumes = n;
	return 0;
}

static int config_secrets(napi_env env, napi_value list, struct arena *a,
			  msb_sandbox_config *c)
{
	static const char *const sources[] = { "env", "file", "value" };
	static const msb_secret_source source_val[] = {
		MSB_SECRET_ENV, MSB_SECRET_FILE, MSB_SECRET_VALUE
	};
	uint32_t n = 0;
	msb_secret *ss;

	if (!list)
		return 0;
	napi_get_array_length(env, list, &n);
	ss = arena_alloc(a, (n ? n : 1) * sizeof(*ss));
	if (!ss) {
		throw_msb(env, -ENOMEM, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		msb_secret *s = &ss[i];
		napi_value o;
		const char *source;
		int k;

		napi_get_element(env, list, i, &o);
		if (prop_str(env, o, "source", a, &source) < 0 ||
		    kind_of(env, source, sources, 3, "secret source", &k) < 0)
			return -1;
		s->source = source_val[k];
		if (prop_str(env, o, "env", a, &s->env) < 0 ||
		    prop_str(env, o, "ref", a, &s->ref) < 0 ||
		    prop_str(env, o, "hosts", a, &s->hosts) < 0 ||
		    prop_str(env, o, "inject", a, &s->inject) < 0)
			return -1;
	}
	c->secrets = ss;
	c->nsecrets = n;
	return 0;
}

int config_sandbox(napi_env env, napi_value o, struct arena *a,
		   msb_sandbox_config *c)
{
	napi_value net, vols, secrets, ep;
	size_t n;

	msb_sandbox_config_init(c);
	if (prop_str(env, o, "name", a, &c->name) < 0 ||
	    prop_str(env, o, "image", a, &c->image) < 0 ||
	    prop_u32(env, o, "cpus", &c->cpus) < 0 ||
	    prop_u64(env, o, "memoryMib", &c->memory_mib) < 0 ||
	    prop_u64(env, o, "diskMib", &c->disk_mib) < 0 ||
	    prop_strv(env, o, "env", a, &c->env, NULL) < 0 ||
	    prop_str(env, o, "workdir", a, &c->workdir) < 0 ||
	    prop_u32(env, o, "bootTimeoutMs", &c->boot_timeout_ms) < 0 ||
	    prop_strv(env, o, "cmd", a, &c->cmd, NULL) < 0 ||
	    prop_bool(env, o, "ephemeral", &c->ephemeral) < 0 ||
	    prop_str(env, o, "kernel", a, &c->kernel) < 0 ||
	    prop_str(env, o, "user", a, &c->user) < 0 ||
	    prop_bool(env, o, "imageCmd", &c->image_cmd) < 0 ||
	    prop_str(env, o, "onSecretViolation", a, &c->on_secret_violation) < 0 ||
	    prop_strv(env, o, "tlsBypass", a, &c->tls_bypass, &n) < 0)
		return -1;
	c->ntls_bypass = n;
	if (prop_strv(env, o, "tlsUpstreamCa", a, &c->tls_upstream_ca, &n) < 0)
		return -1;
	c->ntls_upstream_ca = n;
	/* An empty entrypoint is "none" ({ NULL }), not the image's (NULL). */
	if (get_prop(env, o, "entrypoint", &ep) < 0 ||
	    arg_strv(env, ep, a, "entrypoint", &c->entrypoint, NULL) < 0)
		return -1;
	if (get_prop(env, o, "net", &net) < 0 || config_net(env, net, a, &c->net) < 0 ||
	    get_prop(env, o, "volumes", &vols) < 0 ||
	    config_volumes(env, vols, a, c) < 0 ||
	    get_prop(env, o, "secrets", &secrets) < 0 ||
	    config_secrets(env, secrets, a, c) < 0)
		return -1;
	return 0;
}

int config_restore(napi_env env, napi_value o, struct arena *a,
		   msb_restore_opts *r)
{
	msb_restore_opts_init(r);
	if (prop_str(env, o, "name", a, &r->name) < 0 ||
	    prop_strv(env, o, "env", a, &r->env, NULL) < 0 ||
	    prop_u32(env, o, "cpus", &r->cpus) < 0 ||
	    prop_u64(env, o, "memoryMib", &r->memory_mib) < 0 ||
	    prop_bool(env, o, "diskOnly", &r->disk_only) < 0 ||
	    prop_bool(env, o, "ephemeral", &r->ephemeral) < 0 ||
	    prop_u32(env, o, "bootTimeoutMs", &r->boot_timeout_ms) < 0)
		return -1;
	return 0;
}

int config_exec(napi_env env, napi_value o, struct arena *a, msb_exec_opts *e)
{
	memset(e, 0, sizeof(*e));
	if (prop_strv(env, o, "env", a, &e->env, NULL) < 0 ||
	    prop_str(env, o, "workdir", a, &e->workdir) < 0 ||
	    prop_str(env, o, "user", a, &e->user) < 0 ||
	    prop_bool(env, o, "tty", &e->tty) < 0 ||
	    prop_u32(env, o, "rows", &e->rows) < 0 ||
	    prop_u32(env, o, "cols", &e->cols) < 0 ||
	    prop_bool(env, o, "stdin", &e->stdin) < 0 ||
	    prop_u32(env, o, "timeoutMs", &e->timeout_ms) < 0)
		return -1;
	return 0;
}

int config_file(napi_env env, napi_value o, struct arena *a, msb_file_opts *f)
{
	memset(f, 0, sizeof(*f));
	if (prop_str(env, o, "user", a, &f->user) < 0 ||
	    prop_u32(env, o, "mode", &f->mode) < 0 ||
	    prop_bool(env, o, "parents", &f->parents) < 0 ||
	    prop_bool(env, o, "recursive", &f->recursive) < 0 ||
	    prop_bool(env, o, "exclusive", &f->exclusive) < 0 ||
	    prop_bool(env, o, "append", &f->append) < 0 ||
	    prop_bool(env, o, "nofollow", &f->nofollow) < 0)
		return -1;
	return 0;
}

napi_value file_info_js(napi_env env, const msb_file_info *fi)
{
	static const char *const types[] = { "", "file", "dir", "symlink",
					     "fifo", "socket", "char",
					     "block", "other" };
	napi_value o;
	unsigned t = (unsigned)fi->type;

	napi_create_object(env, &o);
	set_str(env, o, "name", fi->name);
	set_str(env, o, "type", t < sizeof(types) / sizeof(types[0]) && t ?
					types[t] : "other");
	set_num(env, o, "mode", fi->mode);
	set_num(env, o, "uid", fi->uid);
	set_num(env, o, "gid", fi->gid);
	set_num(env, o, "nlink", fi->nlink);
	set_num(env, o, "size", (double)fi->size);
	set_num(env, o, "mtimeMs",
		(double)fi->mtime * 1000.0 + (double)fi->mtime_nsec / 1e6);
	set_str(env, o, "link", fi->link);
	return o;
}
