/* SPDX-License-Identifier: Apache-2.0 */
/* project.c - a loaded project: its sandboxes, and the resolved form
 * 'msb project config' prints (what the definition hashes are made of) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"
#include "project.h"
#include "util.h"

static const char *const restart_names[] = {
	[PROJ_RESTART_NO] = "no",
	[PROJ_RESTART_ON_FAILURE] = "on-failure",
	[PROJ_RESTART_ALWAYS] = "always",
	[PROJ_RESTART_UNLESS_STOPPED] = "unless-stopped",
};

struct proj_sandbox *proj_find(const struct msb_project *p, const char *key)
{
	for (size_t i = 0; i < p->nsbs; i++)
		if (p->sbs[i].key && !strcmp(p->sbs[i].key, key))
			return &p->sbs[i];
	return NULL;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static void add_list(json_object *o, const char *k, const char *const *v)
{
	if (v && *v)
		json_object_object_add(o, k, msb_jstrv(v));
}

static json_object *mount_json(const struct msb_project *p,
			       const struct proj_mount *m)
{
	json_object *o = json_object_new_object();
	const msb_volume *v = &m->v;

	if (m->named >= 0) {
		add_str(o, "type", "volume");
		add_str(o, "source", p->vols[m->named].name);
	} else if (v->kind == MSB_VOLUME_HOST) {
		add_str(o, "type", "host");
		add_str(o, "source", v->source);
	} else if (v->kind == MSB_VOLUME_MEMORY) {
		add_str(o, "type", "memory");
		json_object_object_add(o, "size_mib", json_object_new_int64(
			(int64_t)(v->size_mib ? v->size_mib : 64)));
	} else {
		add_str(o, "type", "plugin");
		add_str(o, "plugin", v->source);
		add_str(o, "source", v->dir);
		add_str(o, "arg", v->arg);
	}
	add_str(o, "target", v->guest_path);
	json_object_object_add(o, "readonly",
			       json_object_new_boolean(v->readonly));
	if (v->direct_io)
		json_object_object_add(o, "direct", json_object_new_boolean(1));
	if (v->cache)
		json_object_object_add(o, "cache", json_object_new_int(v->cache));
	if (v->cache_timeout_ms)
		json_object_object_add(o, "cache_timeout_ms", json_object_new_int64(
			(int64_t)v->cache_timeout_ms));
	if (v->overlay_mib)
		json_object_object_add(o, "overlay_mib", json_object_new_int64(
			(int64_t)v->overlay_mib));
	return o;
}

static json_object *net_json(const msb_net_config *n)
{
	json_object *o = json_object_new_object();

	add_list(o, "allow", n->allow);
	add_list(o, "allow_cidr", n->allow_cidr);
	add_list(o, "block_cidr", n->block_cidr);
	add_list(o, "allow_host", n->allow_host);
	if (n->deny_all)
		json_object_object_add(o, "deny_all",
				       json_object_new_boolean(1));
	add_str(o, "dns_nameserver", n->dns_nameserver);
	add_str(o, "plugin", n->plugin);
	return o;
}

static json_object *secret_json(const msb_secret *s)
{
	json_object *o = json_object_new_object();

	add_str(o, "name", s->env);
	add_str(o, s->source == MSB_SECRET_FILE ? "file" : "env", s->ref);
	add_str(o, "hosts", s->hosts);
	add_str(o, "inject", s->inject);
	return o;
}

json_object *proj_sandbox_json(const struct msb_project *p,
			       const struct proj_sandbox *s)
{
	json_object *o = json_object_new_object(), *a;
	const msb_sandbox_config *c = &s->cfg;

	add_str(o, "name", s->name);
	if (s->from_snapshot)
		add_str(o, "from_snapshot", s->from_snapshot);
	else
		add_str(o, "image", c->image ? c->image : "default");
	if (c->cpus)
		json_object_object_add(o, "cpus", json_object_new_int(
						  (int)c->cpus));
	if (c->memory_mib)
		json_object_object_add(o, "memory_mib", json_object_new_int64(
						  (int64_t)c->memory_mib));
	if (c->disk_mib)
		json_object_object_add(o, "disk_mib", json_object_new_int64(
						  (int64_t)c->disk_mib));
	add_list(o, "env", c->env);
	add_str(o, "workdir", c->workdir);
	add_str(o, "user", c->user);
	if (c->entrypoint)
		json_object_object_add(o, "entrypoint", msb_jstrv(c->entrypoint));
	if (s->cmd)
		json_object_object_add(o, "command", msb_jstrv((const char *const *)
							  s->cmd));
	add_str(o, "kernel", c->kernel);
	if (c->boot_timeout_ms)
		json_object_object_add(o, "boot_timeout_ms",
				       json_object_new_int64(c->boot_timeout_ms));
	if (s->nmounts) {
		a = json_object_new_array();
		for (size_t i = 0; i < s->nmounts; i++)
			json_object_array_add(a, mount_json(p, &s->mounts[i]));
		json_object_object_add(o, "volumes", a);
	}
	add_list(o, "ports", c->net.ports);
	{
		json_object *n = net_json(&c->net);

		if (json_object_object_length(n))
			json_object_object_add(o, "network", n);
		else
			json_object_put(n);
	}
	if (c->nsecrets) {
		a = json_object_new_array();
		for (size_t i = 0; i < c->nsecrets; i++)
			json_object_array_add(a, secret_json(&c->secrets[i]));
		json_object_object_add(o, "secrets", a);
	}
	add_str(o, "on_secret_violation", c->on_secret_violation);
	if (c->ntls_bypass || s->ca_files) {
		json_object *t = json_object_new_object();

		if (c->ntls_bypass)
			json_object_object_add(t, "bypass",
					       msb_jstrv(c->tls_bypass));
		if (s->ca_files)
			json_object_object_add(t, "upstream_ca",
					       msb_jstrv((const char *const *)
						    s->ca_files));
		json_object_object_add(o, "tls", t);
	}
	if (s->nscripts) {
		json_object *sc = json_object_new_object();

		for (size_t i = 0; i < s->nscripts; i++)
			json_object_object_add(sc, s->scripts[i].name,
					       msb_jstrv((const char *const *)
						    s->scripts[i].argv));
		json_object_object_add(o, "scripts", sc);
	}
	if (s->ndeps) {
		a = json_object_new_array();
		for (size_t i = 0; i < s->ndeps; i++) {
			json_object *d = json_object_new_object();

			add_str(d, "sandbox", p->sbs[s->deps[i].sb].key);
			add_str(d, "condition", s->deps[i].healthy ?
				"healthy" : "started");
			json_object_array_add(a, d);
		}
		json_object_object_add(o, "depends_on", a);
	}
	if (s->health) {
		json_object *h = json_object_new_object();

		json_object_object_add(h, "test", msb_jstrv((const char *const *)
						       s->health->test));
		json_object_object_add(h, "interval_ms", json_object_new_int64(
			(int64_t)s->health->interval_ms));
		json_object_object_add(h, "timeout_ms", json_object_new_int64(
			(int64_t)s->health->timeout_ms));
		json_object_object_add(h, "retries", json_object_new_int(
			(int)s->health->retries));
		json_object_object_add(h, "start_period_ms",
				       json_object_new_int64((int64_t)
					       s->health->start_period_ms));
		json_object_object_add(o, "healthcheck", h);
	}
	add_str(o, "restart", restart_names[s->restart]);
	if (s->sync)
		json_object_object_add(o, "sync", json_object_new_boolean(1));
	if (s->hash[0])
		add_str(o, "hash", s->hash);
	return o;
}

MSB_API const char *msb_project_name(const msb_project *p)
{
	return p->name;
}

MSB_API const char *msb_project_file(const msb_project *p)
{
	return p->file;
}

MSB_API size_t msb_project_count(const msb_project *p)
{
	return p->nsbs;
}

MSB_API const char *msb_project_sandbox(const msb_project *p, size_t i,
					const char **name)
{
	const struct proj_sandbox *s;

	if (i >= p->nsbs)
		return NULL;
	s = &p->sbs[p->order[i]];
	if (name)
		*name = s->name;
	return s->key;
}

MSB_API int msb_project_config_json(const msb_project *p, char **json,
				    msb_error *err)
{
	json_object *o = json_object_new_object(), *vols, *sbs, *ord;
	const char *t;

	add_str(o, "name", p->name);
	add_str(o, "file", p->file);
	vols = json_object_new_object();
	for (size_t i = 0; i < p->nvols; i++) {
		json_object *v = json_object_new_object();

		add_str(v, "name", p->vols[i].name);
		json_object_object_add(v, "size_mib", json_object_new_int64(
			(int64_t)p->vols[i].size_mib));
		json_object_object_add(v, "external", json_object_new_boolean(
			p->vols[i].external));
		json_object_object_add(vols, p->vols[i].key, v);
	}
	json_object_object_add(o, "volumes", vols);
	sbs = json_object_new_object();
	ord = json_object_new_array();
	for (size_t i = 0; i < p->nsbs; i++) {
		const struct proj_sandbox *s = &p->sbs[p->order[i]];

		json_object_object_add(sbs, s->key, proj_sandbox_json(p, s));
		json_object_array_add(ord, json_object_new_string(s->key));
	}
	json_object_object_add(o, "sandboxes", sbs);
	json_object_object_add(o, "order", ord);
	t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					   JSON_C_TO_STRING_SPACED |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	*json = strdup(t);
	json_object_put(o);
	if (!*json)
		return msb_fail(err, -ENOMEM, "out of memory");
	return 0;
}

MSB_API int msb_project_script(const msb_project *p, const char *sandbox,
			       const char *script, char ***argv,
			       msb_error *err)
{
	const struct proj_sandbox *s = proj_find(p, sandbox);
	size_t n = 0, len = 0;
	char **v, *o;

	*argv = NULL;
	if (!s)
		return msb_fail(err, MSB_E_NOT_FOUND,
				"no sandbox '%s' in %s", sandbox, p->file);
	for (size_t i = 0; i < s->nscripts; i++) {
		if (strcmp(s->scripts[i].name, script))
			continue;
		for (char **a = s->scripts[i].argv; *a; a++, n++)
			len += strlen(*a) + 1;
		v = malloc((n + 1) * sizeof(char *) + len);
		if (!v)
			return msb_fail(err, -ENOMEM, "out of memory");
		o = (char *)(v + n + 1);
		for (size_t k = 0; k < n; k++) {
			size_t l = strlen(s->scripts[i].argv[k]) + 1;

			v[k] = memcpy(o, s->scripts[i].argv[k], l);
			o += l;
		}
		v[n] = NULL;
		*argv = v;
		return 0;
	}
	{
		char names[512] = "";
		size_t off = 0;

		for (size_t i = 0; i < s->nscripts && off < sizeof(names); i++)
			off += (size_t)snprintf(names + off,
						sizeof(names) - off, "%s%s",
						i ? ", " : "",
						s->scripts[i].name);
		return msb_fail(err, MSB_E_NOT_FOUND,
				"sandbox '%s' has no script '%s' (%s%s)",
				sandbox, script,
				s->nscripts ? "it has: " : "it has none",
				names);
	}
}
