/* SPDX-License-Identifier: Apache-2.0 */
/* sandboxfile_mount.c - the volumes of a sandbox in a Sandboxfile: the short
 * form as msb run -v writes it, the long form with a type */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "netcfg.h"
#include "sandboxfile.h"
#include "secrets.h"
#include "tlscfg.h"
#include "util.h"
#include "volumes.h"

/* -- volumes of a sandbox -- */

/* sf_host_path() - a host path of the file, resolved against its directory
 * ("~/" is $HOME); not checked to exist until up. */
char *sf_host_path(struct sf *s, const char *t)
{
	const char *home = getenv("HOME");

	if (t[0] == '/')
		return sf_strdup(s->p, t);
	if (t[0] == '~' && (t[1] == '/' || !t[1]) && home)
		return sf_fmt(s->p, "%s%s", home, t + 1);
	if (!strcmp(t, "."))
		return sf_strdup(s->p, s->p->dir);
	if (!strncmp(t, "./", 2))
		t += 2;
	return sf_fmt(s->p, "%s/%s", s->p->dir, t);
}

long sf_volume_index(struct msb_project *p, const char *key)
{
	for (size_t i = 0; i < p->nvols; i++)
		if (!strcmp(p->vols[i].key, key))
			return (long)i;
	return -1;
}

static int guest_check(struct sf *s, yaml_node_t *n, const char *path,
		       const char *guest)
{
	msb_error e = { 0 };

	if (msb_volume_guest_check("volume", guest, &e) < 0)
		return sf_fail_lib(s, n, path, &e);
	return 0;
}

/* named() - source @src names a volume of the project. */
static int named(struct sf *s, yaml_node_t *n, const char *path,
		 const char *src, struct proj_mount *m)
{
	m->named = sf_volume_index(s->p, src);
	if (m->named < 0)
		return sf_fail(s, n, path,
			    "no volume '%s' in the top-level volumes: declare "
			    "it there (volumes: { %s: {} }), or write a host "
			    "directory as ./%s", src, src, src);
	return 0;
}

/* mount_short() - "SOURCE:TARGET[:OPTS]", as msb run -v takes it; a
 * SOURCE that is a plain name (no '/', not starting with '.' or '~') is
 * a named volume of the project, anything else a host directory. */
static int mount_short(struct sf *s, yaml_node_t *n, const char *path,
		       struct proj_mount *m)
{
	msb_error e = { 0 };
	const char *t;
	char *spec;
	int r = sf_scalar(s, n, path, "SOURCE:TARGET[:OPTIONS]", &t);

	if (r < 0)
		return r;
	spec = sf_strdup(s->p, t);
	if (!spec)
		return sf_oom(s);
	if (!strchr(spec, ':'))
		return sf_fail(s, n, path, "invalid volume '%s': write "
			    "SOURCE:TARGET, e.g. ./src:/app or data:/data",
			    t);
	if (msb_volume_parse(MSB_VOLUME_HOST, spec, &m->v, &e) < 0)
		return sf_fail(s, n, path, "%s", e.message);
	if (m->v.kind == MSB_VOLUME_NAMED) {
		r = named(s, n, path, m->v.source, m);
		m->v.source = NULL;
	} else {
		m->v.source = sf_host_path(s, m->v.source);
		if (!m->v.source)
			return sf_oom(s);
	}
	return r < 0 ? r : guest_check(s, n, path, m->v.guest_path);
}

struct mount_long {
	struct proj_mount *m;
	yaml_node_t *type, *source, *target, *size, *plugin, *overlay, *arg;
	char *typ, *src, *plugin_path;
	int ro, direct;
};

#define ML(o) ((struct mount_long *)(o))

static int ml_str(struct sf *s, yaml_node_t *v, const char *path,
		  yaml_node_t **where, char **out)
{
	*where = v;
	return sf_pscalar(s, v, path, "a value", out);
}

static int ml_type(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	return ml_str(s, v, path, &ML(o)->type, &ML(o)->typ);
}

static int ml_source(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return ml_str(s, v, path, &ML(o)->source, &ML(o)->src);
}

static int ml_target(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	char *t;
	int r = ml_str(s, v, path, &ML(o)->target, &t);

	if (r == 0)
		ML(o)->m->v.guest_path = t;
	return r;
}

static int ml_readonly(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		       const char *path)
{
	return sf_bool(s, v, path, &ML(o)->ro);
}

static int ml_direct(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return sf_bool(s, v, path, &ML(o)->direct);
}

static int ml_cache(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	const char *t;
	int r = sf_scalar(s, v, path, "auto, always or never", &t);

	if (r < 0)
		return r;
	if (!strcmp(t, "auto"))
		ML(o)->m->v.cache = MSB_VOLUME_CACHE_AUTO;
	else if (!strcmp(t, "always"))
		ML(o)->m->v.cache = MSB_VOLUME_CACHE_ALWAYS;
	else if (!strcmp(t, "never"))
		ML(o)->m->v.cache = MSB_VOLUME_CACHE_NEVER;
	else
		return sf_fail(s, v, path, "invalid cache mode '%s': use auto, "
			       "always or never", t);
	/* never is direct I/O too (as -v's cache=never) */
	if (ML(o)->m->v.cache == MSB_VOLUME_CACHE_NEVER)
		ML(o)->direct = 1;
	return 0;
}

static int ml_cache_timeout(struct sf *s, void *o, yaml_node_t *k,
			    yaml_node_t *v, const char *path)
{
	uint64_t ms;
	int r = sf_duration(s, v, path, &ms);

	if (r < 0)
		return r;
	if (ms > 86400000)
		return sf_fail(s, v, path, "a cache timeout of %llu ms is more "
			       "than a day: use at most 24h",
			       (unsigned long long)ms);
	ML(o)->m->v.cache_timeout_ms = (uint32_t)ms;
	return 0;
}

static int ml_size(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	ML(o)->size = v;
	return sf_size(s, v, path, "memory volume size", 1, 64 * 1024,
			&ML(o)->m->v.size_mib);
}

static int ml_overlay(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	int on = 0;

	ML(o)->overlay = v;
	if (v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!strcmp(sf_text(v), "true") || !strcmp(sf_text(v), "false"))) {
		sf_bool(s, v, path, &on);
		ML(o)->m->v.overlay_mib = on ? 256 : 0;
		return 0;
	}
	return sf_size(s, v, path, "overlay size", 1, 64 * 1024,
			&ML(o)->m->v.overlay_mib);
}

static int ml_plugin(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return ml_str(s, v, path, &ML(o)->plugin, &ML(o)->plugin_path);
}

static int ml_arg(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	char *t;
	int r = ml_str(s, v, path, &ML(o)->arg, &t);

	if (r == 0)
		ML(o)->m->v.arg = t;
	return r;
}

static const struct field mount_fields[] = {
	{ "type", ml_type },       { "source", ml_source },
	{ "target", ml_target },   { "readonly", ml_readonly },
	{ "direct", ml_direct },   { "overlay", ml_overlay },
	{ "size", ml_size },       { "plugin", ml_plugin },
	{ "arg", ml_arg },         { "cache", ml_cache },
	{ "cache_timeout", ml_cache_timeout },
};

/* mount_long() - { type, source, target, ... }. */
static int mount_long(struct sf *s, yaml_node_t *n, const char *path,
		      struct proj_mount *m)
{
	struct mount_long ml = { .m = m };
	yaml_node_t *bad = NULL;
	const char *t;
	char kp[PATH_LEN];
	int r = sf_walk(s, n, path, mount_fields, NFIELDS(mount_fields), &ml, 0);

	if (r < 0)
		return r;
	if (!ml.target)
		return sf_fail(s, n, path, "no target: give the guest path "
			    "(target: /data)");
	t = ml.typ ? ml.typ : ml.plugin_path ? "plugin" : "host";
	sf_key_path(kp, path, "type");
	if (!strcmp(t, "host") || !strcmp(t, "bind")) {
		if (!ml.src)
			return sf_fail(s, n, path, "a host volume needs a source "
				    "directory (source: ./data)");
		m->v.kind = MSB_VOLUME_HOST;
		m->v.source = sf_host_path(s, ml.src);
		bad = ml.size ? ml.size : ml.plugin ? ml.plugin : ml.arg;
	} else if (!strcmp(t, "volume")) {
		if (!ml.src)
			return sf_fail(s, n, path, "a named volume needs its name "
				    "(source: data)");
		m->v.kind = MSB_VOLUME_NAMED;
		sf_key_path(kp, path, "source");
		r = named(s, ml.source, kp, ml.src, m);
		if (r < 0)
			return r;
		bad = ml.size ? ml.size : ml.plugin ? ml.plugin :
			ml.overlay ? ml.overlay : ml.arg;
	} else if (!strcmp(t, "memory") || !strcmp(t, "tmpfs")) {
		m->v.kind = MSB_VOLUME_MEMORY;
		bad = ml.source ? ml.source : ml.plugin ? ml.plugin :
			ml.overlay ? ml.overlay : ml.arg;
	} else if (!strcmp(t, "plugin")) {
		if (!ml.plugin_path)
			return sf_fail(s, n, path, "a plugin volume needs its "
				    "shared object (plugin: ./fs.so)");
		m->v.kind = MSB_VOLUME_PLUGIN;
		m->v.source = sf_host_path(s, ml.plugin_path);
		if (ml.src && !(m->v.dir = sf_host_path(s, ml.src)))
			return sf_oom(s);
		bad = ml.size ? ml.size : ml.overlay;
	} else {
		return sf_fail(s, ml.type, kp, "invalid volume type '%s': use "
			    "host, volume, memory or plugin", t);
	}
	if (bad)
		return sf_fail(s, bad, path, "this key does not apply to a %s "
			    "volume", t);
	if ((m->v.kind == MSB_VOLUME_HOST || m->v.kind == MSB_VOLUME_PLUGIN) &&
	    m->named < 0 && !m->v.source)
		return sf_oom(s);
	m->v.readonly = ml.ro;
	m->v.direct_io = ml.direct;
	sf_key_path(kp, path, "target");
	return guest_check(s, ml.target, kp, m->v.guest_path);
}

int sf_key_volumes(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	struct proj_sandbox *sb = SB(o);
	char ip[PATH_LEN];
	size_t i = 0;

	sf_restore_bad(o, k);
	ND(o)->volumes = k;
	if (v->type != YAML_SEQUENCE_NODE)
		return sf_fail(s, v, path, "expected a list of volumes "
			    "(./src:/app, data:/data), found %s",
			    sf_is_null(v) ? "nothing" : sf_kind(v));
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++, i++) {
		yaml_node_t *n = sf_node(s, *it);
		struct proj_mount *m = &sb->mounts[sb->nmounts];
		int r;

		sf_index_path(ip, path, i);
		if (sb->nmounts == PROJ_MOUNTS_MAX)
			return sf_fail(s, n, ip, "too many volumes (at most %d; "
				    "the VM's device slots allow fewer)",
				    PROJ_MOUNTS_MAX);
		memset(m, 0, sizeof(*m));
		m->named = -1;
		r = n->type == YAML_MAPPING_NODE ? mount_long(s, n, ip, m) :
						   mount_short(s, n, ip, m);
		if (r < 0)
			return r;
		for (size_t j = 0; j < sb->nmounts; j++)
			if (!strcmp(sb->mounts[j].v.guest_path,
				    m->v.guest_path))
				return sf_fail(s, n, ip, "two volumes at %s: give "
					    "each its own target",
					    m->v.guest_path);
		sb->nmounts++;
	}
	return 0;
}
