/* SPDX-License-Identifier: Apache-2.0 */
/* sandboxfile_net.c - the network, ports, TLS options and secrets of a sandbox in
 * a Sandboxfile, each entry checked as msb run's flag is */

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

/* -- network -- */

/* net_item() - one entry of a network list, checked as the flag's. */
static int net_item(struct sf *s, yaml_node_t *n, const char *path,
		    msb_net_config *one)
{
	msb_error e = { 0 };

	if (msb_net_config_check_syntax(one, &e) < 0)
		return sf_fail_lib(s, n, path, &e);
	return 0;
}

static int net_list(struct sf *s, yaml_node_t *v, const char *path,
		    const char *what, int which, struct vec *out)
{
	char **items, ip[PATH_LEN];
	size_t n = 0;
	int r;

	if (v->type == YAML_SCALAR_NODE && !sf_is_null(v) && strchr(sf_text(v), ','))
		return sf_fail(s, v, path, "expected a list ([a, b]), not a "
			    "comma-separated string");
	r = sf_list(s, v, path, what, 1, &items, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *one[2] = { items[i], NULL };
		msb_net_config nc = { 0 };
		yaml_node_t *in = v->type == YAML_SEQUENCE_NODE ?
			sf_node(s, v->data.sequence.items.start[i]) : v;

		if (v->type == YAML_SEQUENCE_NODE)
			sf_index_path(ip, path, i);
		else
			snprintf(ip, sizeof(ip), "%s", path);
		switch (which) {
		case 0: nc.allow = one; break;
		case 1: nc.allow_cidr = one; break;
		case 2: nc.block_cidr = one; break;
		case 3: nc.allow_host = one; break;
		default: nc.ports = one; break;
		}
		r = net_item(s, in, ip, &nc);
		if (r == 0 && sf_vec_push(out, items[i]) < 0)
			r = sf_oom(s);
	}
	return r;
}

static int n_allow(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	SBC(o)->nd.allow = v;
	return net_list(s, v, path, "domain names", 0, &SBC(o)->allow);
}

static int n_allow_cidr(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	return net_list(s, v, path, "CIDR ranges", 1, &SBC(o)->allow_cidr);
}

static int n_block_cidr(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	return net_list(s, v, path, "CIDR ranges", 2, &SBC(o)->block_cidr);
}

static int n_allow_host(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	return net_list(s, v, path, "TCP ports", 3, &SBC(o)->allow_host);
}

static int n_deny_all(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	return sf_bool(s, v, path, &SB(o)->cfg.net.deny_all);
}

static int n_plugin(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "a shared object's path", &t);

	if (r < 0)
		return r;
	SB(o)->cfg.net.plugin = sf_host_path(s, t);
	return SB(o)->cfg.net.plugin ? 0 : sf_oom(s);
}

static int d_nameserver(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
			const char *path)
{
	msb_net_config nc = { 0 };
	char *t;
	int r = sf_pscalar(s, v, path, "an address (IP or IP:PORT)", &t);

	if (r < 0)
		return r;
	nc.dns_nameserver = t;
	r = net_item(s, v, path, &nc);
	if (r == 0)
		SB(o)->cfg.net.dns_nameserver = t;
	return r;
}

static int d_rebind(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	const char *t;
	int r = sf_scalar(s, v, path, "strict", &t);

	/* Answers in denied ranges are always dropped (docs/network.md):
	 * strict is what every sandbox gets, and the only setting. */
	if (r == 0 && strcmp(t, "strict"))
		return sf_fail(s, v, path, "invalid value '%s': rebinding "
			    "protection is always on and strict (answers in "
			    "denied ranges are dropped); write strict or leave "
			    "it out", t);
	return r;
}

static const struct field dns_fields[] = {
	{ "nameserver", d_nameserver },
	{ "rebind_protection", d_rebind },
};

static int n_dns(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		 const char *path)
{
	return sf_walk(s, v, path, dns_fields, NFIELDS(dns_fields), o, 0);
}

static const struct field net_fields[] = {
	{ "allow", n_allow },           { "allow_cidr", n_allow_cidr },
	{ "block_cidr", n_block_cidr }, { "deny_all", n_deny_all },
	{ "allow_host", n_allow_host }, { "dns", n_dns },
	{ "plugin", n_plugin },
};

int sf_key_network(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	sf_restore_bad(o, k);
	ND(o)->network = k;
	return sf_walk(s, v, path, net_fields, NFIELDS(net_fields), o, 0);
}

int sf_key_ports(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	sf_restore_bad(o, k);
	ND(o)->ports = k;
	if (v->type != YAML_SEQUENCE_NODE)
		return sf_fail(s, v, path, "expected a list of ports "
			    "([8000:8000, 80]), found %s",
			    sf_is_null(v) ? "nothing" : sf_kind(v));
	return net_list(s, v, path, "ports (HOST:GUEST)", 4, &SBC(o)->ports);
}

/* -- TLS -- */

static int t_bypass(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	struct proj_sandbox *sb = SB(o);
	msb_sandbox_config c;
	msb_error e = { 0 };
	char **items;
	size_t n = 0;
	int r = sf_list(s, v, path, "domain names", 1, &items, &n);

	if (r < 0)
		return r;
	if (n > PROJ_TLS_BYPASS_MAX)
		return sf_fail(s, v, path, "too many names (at most %d)",
			    PROJ_TLS_BYPASS_MAX);
	msb_sandbox_config_init(&c);
	c.tls_bypass = (const char *const *)items;
	c.ntls_bypass = n;
	if (msb_tls_config_json(&c, NULL, &e) < 0)
		return sf_fail_lib(s, v, path, &e);
	sb->cfg.tls_bypass = (const char *const *)items;
	sb->cfg.ntls_bypass = n;
	return 0;
}

static int t_upstream_ca(struct sf *s, void *o, yaml_node_t *k,
			 yaml_node_t *v, const char *path)
{
	struct proj_sandbox *sb = SB(o);
	char **files, **pems, ip[PATH_LEN];
	size_t n = 0;
	int r = sf_list(s, v, path, "PEM files", 1, &files, &n);

	if (r < 0)
		return r;
	if (n > PROJ_TLS_CA_MAX)
		return sf_fail(s, v, path, "too many files (at most %d; a file "
			    "may hold many certificates)", PROJ_TLS_CA_MAX);
	pems = sf_alloc(s->p, (n + 1) * sizeof(char *));
	if (!pems)
		return sf_oom(s);
	for (size_t i = 0; i < n; i++) {
		msb_error e = { 0 };
		char *pem;

		if (v->type == YAML_SEQUENCE_NODE)
			sf_index_path(ip, path, i);
		else
			snprintf(ip, sizeof(ip), "%s", path);
		files[i] = sf_host_path(s, files[i]);
		if (!files[i])
			return sf_oom(s);
		if (msb_tls_ca_read(files[i], &pem, &e) < 0)
			return sf_fail_lib(s, v->type == YAML_SEQUENCE_NODE ?
					sf_node(s, v->data.sequence.items.start[i]) :
					v, ip, &e);
		pems[i] = sf_strdup(s->p, pem);
		free(pem);
		if (!pems[i])
			return sf_oom(s);
	}
	sb->ca_files = files;
	sb->cfg.tls_upstream_ca = (const char *const *)pems;
	sb->cfg.ntls_upstream_ca = n;
	return 0;
}

static const struct field tls_fields[] = {
	{ "bypass", t_bypass },
	{ "upstream_ca", t_upstream_ca },
};

int sf_key_tls(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		 const char *path)
{
	sf_restore_bad(o, k);
	return sf_walk(s, v, path, tls_fields, NFIELDS(tls_fields), o, 0);
}

/* -- secrets (checked once network.allow is known) -- */

int sf_key_secrets(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	sf_restore_bad(o, k);
	if (v->type != YAML_SEQUENCE_NODE)
		return sf_fail(s, v, path, "expected a list of secrets "
			    "([OPENAI_API_KEY] or [{name: ..., env: ..., "
			    "hosts: [...]}]), found %s",
			    sf_is_null(v) ? "nothing" : sf_kind(v));
	ND(o)->secrets = v;
	return 0;
}

struct secret_long {
	msb_secret *sec;
	yaml_node_t *name, *env, *file, *hosts;
	char **hostv, **injectv;
	size_t nhosts, ninject;
};

#define SL(o) ((struct secret_long *)(o))

static int sl_name(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "the guest's variable name", &t);

	SL(o)->name = v;
	if (r == 0)
		SL(o)->sec->env = t;
	return r;
}

static int sl_env(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "a host variable's name", &t);

	SL(o)->env = v;
	if (r == 0) {
		SL(o)->sec->source = MSB_SECRET_ENV;
		SL(o)->sec->ref = t;
	}
	return r;
}

static int sl_file(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "a file's path", &t);

	SL(o)->file = v;
	if (r == 0) {
		SL(o)->sec->source = MSB_SECRET_FILE;
		SL(o)->sec->ref = sf_host_path(s, t);
		if (!SL(o)->sec->ref)
			return sf_oom(s);
	}
	return r;
}

static int sl_hosts(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	SL(o)->hosts = v;
	return sf_list(s, v, path, "host names", 1, &SL(o)->hostv,
			&SL(o)->nhosts);
}

static int sl_inject(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return sf_list(s, v, path, "places (header:NAME, path, query, body)",
			1, &SL(o)->injectv, &SL(o)->ninject);
}

static const struct field secret_fields[] = {
	{ "name", sl_name },   { "env", sl_env },       { "file", sl_file },
	{ "hosts", sl_hosts }, { "inject", sl_inject },
};

/* joined() - @v's @n entries comma-separated, in the project. */
static char *joined(struct sf *s, char **v, size_t n)
{
	size_t len = 1;
	char *out;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	out = sf_alloc(s->p, len);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, v[i]);
	}
	return out;
}

/* sf_secrets() - each secret: NAME alone reads the host's variable NAME and
 * is bound to the hosts of network.allow; the long form names its source
 * (env: VAR or file: PATH), its hosts and where it may go. */
int sf_secrets(struct sf *s, struct sbctx *c, const char *path)
{
	yaml_node_t *v = c->nd.secrets;
	struct proj_sandbox *sb = c->sb;
	size_t n = (size_t)(v->data.sequence.items.top -
			    v->data.sequence.items.start);
	size_t nallow = c->allow.n;
	char ip[PATH_LEN];
	msb_secret *sec;

	if (n > PROJ_SECRETS_MAX)
		return sf_fail(s, v, path, "too many secrets (at most %d)",
			    PROJ_SECRETS_MAX);
	sec = sf_alloc(s->p, (n ? n : 1) * sizeof(*sec));
	if (!sec)
		return sf_oom(s);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *in = sf_node(s, v->data.sequence.items.start[i]);
		struct secret_long sl = { .sec = &sec[i] };
		json_object *rec = NULL;
		msb_error e = { 0 };
		int r;

		sf_index_path(ip, path, i);
		if (in->type == YAML_MAPPING_NODE) {
			r = sf_walk(s, in, ip, secret_fields,
				 NFIELDS(secret_fields), &sl, 0);
			if (r < 0)
				return r;
			if (!sec[i].env)
				return sf_fail(s, in, ip, "no name: give the "
					    "guest's variable (name: API_KEY)");
			if (sl.env && sl.file)
				return sf_fail(s, sl.file, ip, "give env or file, "
					    "not both");
			if (!sl.env && !sl.file) {
				sec[i].source = MSB_SECRET_ENV;
				sec[i].ref = sec[i].env;
			}
			if (sl.ninject &&
			    !(sec[i].inject = joined(s, sl.injectv,
						     sl.ninject)))
				return sf_oom(s);
		} else {
			r = sf_pscalar(s, in, ip, "a variable name or a mapping",
				    (char **)&sec[i].env);
			if (r < 0)
				return r;
			sec[i].source = MSB_SECRET_ENV;
			sec[i].ref = sec[i].env;
		}
		if (!sl.hosts && !nallow)
			return sf_fail(s, in, ip,
				    "secret %s is bound to no host: name the "
				    "hosts it may be sent to in network.allow, "
				    "or give them (- {name: %s, hosts: "
				    "[api.example.com]})", sec[i].env,
				    sec[i].env);
		sec[i].hosts = sl.hosts ? joined(s, sl.hostv, sl.nhosts) :
					  joined(s, c->allow.v, nallow);
		if (!sec[i].hosts)
			return sf_oom(s);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(sec[j].env, sec[i].env))
				return sf_fail(s, in, ip, "secret %s is given "
					    "twice: keep one", sec[i].env);
		/* The library's own check, placeholders drawn and dropped. */
		if (msb_secrets_json(&sec[i], 1, &rec, &e) < 0)
			return sf_fail_lib(s, in, ip, &e);
		json_object_put(rec);
	}
	sb->cfg.secrets = sec;
	sb->cfg.nsecrets = n;
	return 0;
}
