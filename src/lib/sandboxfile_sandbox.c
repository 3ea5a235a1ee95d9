/* SPDX-License-Identifier: Apache-2.0 */
/* sandboxfile_sandbox.c - a sandbox of a Sandboxfile: its keys (but its volumes,
 * network, TLS and secrets), dependencies, health check and scripts */

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

/* ---- a sandbox ---- */

/* sf_restore_bad() - note a key that a restored sandbox cannot take. */
void sf_restore_bad(void *o, yaml_node_t *k)
{
	if (!ND(o)->first_restore_bad) {
		ND(o)->first_restore_bad = k;
		ND(o)->restore_bad_key = sf_text(k);
	}
}

static int f_image(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		   const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "an image reference", &t);

	if (r == 0)
		SB(o)->cfg.image = t;
	ND(o)->image = k;
	return r;
}

static int f_from_snapshot(struct sf *s, void *o, yaml_node_t *k,
			   yaml_node_t *v, const char *path)
{
	msb_error e = { 0 };
	char *t;
	int r = sf_pscalar(s, v, path, "a snapshot name", &t);

	if (r < 0)
		return r;
	if (msb_name_valid(t, &e) < 0)
		return sf_fail(s, v, path, "invalid snapshot name '%s'", t);
	SB(o)->from_snapshot = t;
	ND(o)->from_snapshot = k;
	return 0;
}

static int f_cpus(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	return sf_uint(s, v, path, 1, 64, &SB(o)->cfg.cpus);
}

static int f_memory(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	return sf_size(s, v, path, "memory size", 64, 1024 * 1024,
			&SB(o)->cfg.memory_mib);
}

static int f_disk_size(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		       const char *path)
{
	sf_restore_bad(o, k);
	return sf_size(s, v, path, "disk size", 64, 1024 * 1024,
			&SB(o)->cfg.disk_mib);
}

static int env_name_ok(const char *k, size_t n)
{
	if (!n || isdigit((unsigned char)k[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_')
			return 0;
	return 1;
}

/* env_kv() - KEY=VALUE, or KEY alone: the host's variable (left out
 * when the host has none, as Compose does). NULL: nothing to add. */
static int env_kv(struct sf *s, yaml_node_t *n, const char *path,
		  const char *key, size_t klen, const char *val, char **out)
{
	*out = NULL;
	if (!env_name_ok(key, klen))
		return sf_fail(s, n, path,
			    "invalid variable name '%.*s': use letters, "
			    "digits and '_', not starting with a digit",
			    (int)klen, key);
	if (!val) {
		char name[256];

		if (klen >= sizeof(name))
			return sf_fail(s, n, path, "variable name too long");
		snprintf(name, sizeof(name), "%.*s", (int)klen, key);
		val = getenv(name);
		if (!val)
			return 0;
	}
	*out = sf_fmt(s->p, "%.*s=%s", (int)klen, key, val);
	return *out ? 0 : sf_oom(s);
}

static int f_env(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		 const char *path)
{
	struct vec env = { 0 };
	char ip[PATH_LEN];
	int r = 0;

	if (v->type == YAML_MAPPING_NODE) {
		struct kv *kv;
		size_t cnt;

		r = sf_pairs(s, v, path, "a mapping", &kv, &cnt);
		for (size_t i = 0; r == 0 && i < cnt; i++) {
			yaml_node_t *kn = kv[i].k, *vn = kv[i].v;
			const char *val = NULL;
			char *kv_text;

			sf_key_path(ip, path, sf_text(kn));
			if (!sf_is_null(vn))
				r = sf_scalar(s, vn, ip, "a value (quote it if "
					   "need be)", &val);
			if (r == 0)
				r = env_kv(s, kn, path, sf_text(kn),
					   strlen(sf_text(kn)), val, &kv_text);
			if (r == 0 && kv_text && sf_vec_push(&env, kv_text) < 0)
				r = sf_oom(s);
		}
		free(kv);
	} else if (v->type == YAML_SEQUENCE_NODE) {
		char **items;
		size_t n = 0;

		r = sf_list(s, v, path, "KEY=VALUE entries", 0, &items, &n);
		for (size_t i = 0; r == 0 && i < n; i++) {
			const char *eq = strchr(items[i], '=');
			char *kv;

			sf_index_path(ip, path, i);
			r = env_kv(s, sf_node(s, v->data.sequence.items.start[i]),
				   ip, items[i],
				   eq ? (size_t)(eq - items[i]) :
					strlen(items[i]),
				   eq ? eq + 1 : NULL, &kv);
			if (r == 0 && kv && sf_vec_push(&env, kv) < 0)
				r = sf_oom(s);
		}
	} else {
		return sf_fail(s, v, path, "expected a mapping of variables "
			    "(KEY: value) or a list of KEY=VALUE, found %s",
			    sf_is_null(v) ? "nothing" : sf_kind(v));
	}
	if (r < 0) {
		free(env.v);
		return r;
	}
	ND(o)->env_env = sf_vec_done(s->p, &env);
	return ND(o)->env_env ? 0 : sf_oom(s);
}

/* read_env_file() - KEY=VALUE lines ('#' comments, blank lines, an
 * optional "export ", values optionally in matching quotes). */
static int read_env_file(struct sf *s, yaml_node_t *n, const char *path,
			 const char *file, struct vec *out)
{
	char full[PATH_MAX], *text, *line, *next;
	size_t len;
	unsigned ln = 0;
	int r = 0;

	if (snprintf(full, sizeof(full), "%s%s%s", file[0] == '/' ? "" :
		     s->p->dir, file[0] == '/' ? "" : "/", file) >=
	    (int)sizeof(full))
		return sf_fail(s, n, path, "path too long");
	{
		struct stat st;

		/* not /dev/zero, a FIFO or a directory */
		if (stat(full, &st) < 0)
			return sf_fail(s, n, path, "cannot read env file %s: %s",
				    full, strerror(errno));
		if (!S_ISREG(st.st_mode) || st.st_size > PROJ_FILE_MAX)
			return sf_fail(s, n, path, "env file %s is not a text "
				    "file of at most 1 MiB", full);
	}
	text = msb_read_file(full, &len);
	if (!text)
		return sf_fail(s, n, path, "cannot read env file %s: %s", full,
			    strerror(errno));
	if (len > PROJ_FILE_MAX || strlen(text) != len) {
		free(text);
		return sf_fail(s, n, path, "env file %s is not a text file of "
			    "at most 1 MiB", full);
	}
	for (line = text; line && r == 0; line = next) {
		char *eq, *val, *kv, *end;

		ln++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		end = line + strlen(line);
		if (end > line && end[-1] == '\r')
			*--end = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		if (!strncmp(line, "export ", 7))
			line += 7;
		eq = strchr(line, '=');
		if (!eq || !env_name_ok(line, (size_t)(eq - line))) {
			r = sf_fail(s, n, path, "env file %s, line %u: expected "
				 "KEY=VALUE (KEY of letters, digits and '_')",
				 full, ln);
			break;
		}
		val = eq + 1;
		end = val + strlen(val);
		if (end - val >= 2 && (*val == '"' || *val == '\'') &&
		    end[-1] == *val) {
			val++;
			end[-1] = '\0';
		}
		kv = sf_fmt(s->p, "%.*s=%s", (int)(eq - line), line, val);
		if (!kv || sf_vec_push(out, kv) < 0)
			r = sf_oom(s);
		if (r == 0 && out->n > PROJ_LIST_MAX)
			r = sf_fail(s, n, path, "env file %s: too many variables "
				 "(at most %d)", full, PROJ_LIST_MAX);
	}
	free(text);
	return r;
}

static int f_env_file(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	struct vec env = { 0 };
	char **files, ip[PATH_LEN];
	size_t n = 0;
	int r = sf_list(s, v, path, "file paths", 1, &files, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		if (v->type == YAML_SEQUENCE_NODE)
			sf_index_path(ip, path, i);
		else
			snprintf(ip, sizeof(ip), "%s", path);
		r = read_env_file(s, v->type == YAML_SEQUENCE_NODE ?
				  sf_node(s, v->data.sequence.items.start[i]) : v,
				  ip, files[i], &env);
	}
	if (r < 0) {
		free(env.v);
		return r;
	}
	ND(o)->env_file_env = sf_vec_done(s->p, &env);
	return ND(o)->env_file_env ? 0 : sf_oom(s);
}

static int f_workdir(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "an absolute path", &t);

	if (r < 0)
		return r;
	if (t[0] != '/')
		return sf_fail(s, v, path, "invalid working directory '%s': use "
			    "an absolute path", t);
	sf_restore_bad(o, k);
	SB(o)->cfg.workdir = t;
	return 0;
}

static int f_user(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "a user (name, uid or uid:gid)", &t);

	sf_restore_bad(o, k);
	if (r == 0)
		SB(o)->cfg.user = t;
	return r;
}

static int f_entrypoint(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	char **ep;
	size_t n = 0;
	int r;

	sf_restore_bad(o, k);
	/* A string is one program, as --entrypoint takes it; a list is the
	 * program and its first words; '' or [] is none. */
	if (v->type == YAML_SCALAR_NODE && !sf_is_null(v) && !*sf_text(v)) {
		ep = sf_alloc(s->p, sizeof(char *));
		if (!ep)
			return sf_oom(s);
	} else {
		r = sf_list(s, v, path, "words", 1, &ep, &n);
		if (r < 0)
			return r;
	}
	SB(o)->cfg.entrypoint = (const char *const *)ep;
	return 0;
}

static int f_command(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	ND(o)->command = k;
	return sf_argv(s, v, path, &SB(o)->cmd);
}

static int f_kernel(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		    const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "msb or cloud", &t);

	if (r < 0)
		return r;
	if (strcmp(t, "msb") && strcmp(t, "cloud"))
		return sf_fail(s, v, path, "invalid kernel '%s': use msb or "
			    "cloud", t);
	sf_restore_bad(o, k);
	SB(o)->cfg.kernel = t;
	return 0;
}

static int f_boot_timeout(struct sf *s, void *o, yaml_node_t *k,
			  yaml_node_t *v, const char *path)
{
	uint64_t ms;
	int r = sf_duration(s, v, path, &ms);

	if (r < 0)
		return r;
	if (ms < 1000 || ms > 3600 * 1000)
		return sf_fail(s, v, path, "invalid boot timeout: use 1s to 1h");
	SB(o)->cfg.boot_timeout_ms = (unsigned)ms;
	return 0;
}

static int f_on_violation(struct sf *s, void *o, yaml_node_t *k,
			  yaml_node_t *v, const char *path)
{
	char *t;
	int r = sf_pscalar(s, v, path, "block, log or allow", &t);

	if (r < 0)
		return r;
	if (strcmp(t, "block") && strcmp(t, "log") && strcmp(t, "allow"))
		return sf_fail(s, v, path, "invalid value '%s': use block, log "
			    "or allow", t);
	sf_restore_bad(o, k);
	SB(o)->cfg.on_secret_violation = t;
	return 0;
}

static int f_restart(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	static const char *const names[] = { "no", "on-failure", "always",
					     "unless-stopped" };
	const char *t;
	int r;

	/* "no" unquoted is YAML 1.1's false: both read as "no". */
	if (v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!strcmp(sf_text(v), "false") || !strcmp(sf_text(v), "no"))) {
		SB(o)->restart = PROJ_RESTART_NO;
		return 0;
	}
	r = sf_scalar(s, v, path, "no, on-failure, always or unless-stopped",
		   &t);
	if (r < 0)
		return r;
	for (size_t i = 0; i < NFIELDS(names); i++)
		if (!strcmp(t, names[i])) {
			SB(o)->restart = (enum proj_restart)i;
			return 0;
		}
	return sf_fail(s, v, path, "invalid restart policy '%s': use no, "
		    "on-failure, always or unless-stopped", t);
}

/* -- depends_on (resolved once every sandbox is known) -- */

static int f_depends_on(struct sf *s, void *o, yaml_node_t *k,
			yaml_node_t *v, const char *path)
{
	if (v->type != YAML_SEQUENCE_NODE && v->type != YAML_MAPPING_NODE)
		return sf_fail(s, v, path, "expected a list of sandboxes ([api]) "
			    "or a mapping (api: {condition: healthy}), found "
			    "%s", sf_is_null(v) ? "nothing" : sf_kind(v));
	ND(o)->depends_on = v;
	return 0;
}

/* -- healthcheck -- */

#define HC(o) ((struct proj_health *)(o))

static int h_test(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	return sf_argv(s, v, path, &HC(o)->test);
}

static int h_interval(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		      const char *path)
{
	int r = sf_duration(s, v, path, &HC(o)->interval_ms);

	if (r == 0 && (HC(o)->interval_ms < 100 ||
		       HC(o)->interval_ms > 3600 * 1000))
		return sf_fail(s, v, path, "invalid interval: use 100ms to 1h");
	return r;
}

static int h_timeout(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	int r = sf_duration(s, v, path, &HC(o)->timeout_ms);

	if (r == 0 && (HC(o)->timeout_ms < 100 ||
		       HC(o)->timeout_ms > 3600 * 1000))
		return sf_fail(s, v, path, "invalid timeout: use 100ms to 1h");
	return r;
}

static int h_start_period(struct sf *s, void *o, yaml_node_t *k,
			  yaml_node_t *v, const char *path)
{
	int r = sf_duration(s, v, path, &HC(o)->start_period_ms);

	if (r == 0 && HC(o)->start_period_ms > 3600 * 1000)
		return sf_fail(s, v, path, "invalid start period: at most 1h");
	return r;
}

static int h_retries(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	return sf_uint(s, v, path, 1, 1000, &HC(o)->retries);
}

static const struct field health_fields[] = {
	{ "test", h_test },         { "interval", h_interval },
	{ "timeout", h_timeout },   { "retries", h_retries },
	{ "start_period", h_start_period },
};

static int f_healthcheck(struct sf *s, void *o, yaml_node_t *k,
			 yaml_node_t *v, const char *path)
{
	struct proj_health *h = sf_alloc(s->p, sizeof(*h));
	int r;

	if (!h)
		return sf_oom(s);
	h->interval_ms = 1000;
	h->timeout_ms = 10000;
	h->retries = 30;
	r = sf_walk(s, v, path, health_fields, NFIELDS(health_fields), h, 0);
	if (r < 0)
		return r;
	if (!h->test)
		return sf_fail(s, v, path, "no test: give the command that "
			    "succeeds once the sandbox is healthy (test: "
			    "curl -fs localhost:8000)");
	SB(o)->health = h;
	return 0;
}

/* -- scripts -- */

static int f_scripts(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		     const char *path)
{
	struct proj_sandbox *sb = SB(o);
	char kp[PATH_LEN];
	struct kv *kv;
	size_t n;
	int r = sf_pairs(s, v, path, "a mapping of scripts (start: python "
		      "app.py)", &kv, &n);

	if (r < 0)
		return r;
	sb->scripts = sf_alloc(s->p, (n ? n : 1) * sizeof(*sb->scripts));
	if (!sb->scripts)
		r = sf_oom(s);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *name = sf_text(kv[i].k);

		if (msb_name_valid(name, NULL) < 0) {
			r = sf_fail(s, kv[i].k, path, "invalid script name '%s': "
				 "use letters, digits, '-', '_' and '.'",
				 name);
			break;
		}
		sf_key_path(kp, path, name);
		sb->scripts[i].name = sf_strdup(s->p, name);
		if (!sb->scripts[i].name) {
			r = sf_oom(s);
			break;
		}
		r = sf_argv(s, kv[i].v, kp, &sb->scripts[i].argv);
		if (r < 0)
			break;
		sb->nscripts++;
		if (!strcmp(name, "start"))
			ND(o)->start = kv[i].k;
	}
	free(kv);
	return r;
}

static int f_sync(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
		  const char *path)
{
	return sf_bool(s, v, path, &SB(o)->sync);
}

static const struct field sandbox_fields[] = {
	{ "image", f_image },
	{ "from_snapshot", f_from_snapshot },
	{ "cpus", f_cpus },
	{ "memory", f_memory },
	{ "disk_size", f_disk_size },
	{ "env", f_env },
	{ "env_file", f_env_file },
	{ "workdir", f_workdir },
	{ "user", f_user },
	{ "entrypoint", f_entrypoint },
	{ "command", f_command },
	{ "volumes", sf_key_volumes },
	{ "ports", sf_key_ports },
	{ "network", sf_key_network },
	{ "secrets", sf_key_secrets },
	{ "on_secret_violation", f_on_violation },
	{ "tls", sf_key_tls },
	{ "kernel", f_kernel },
	{ "boot_timeout", f_boot_timeout },
	{ "depends_on", f_depends_on },
	{ "healthcheck", f_healthcheck },
	{ "scripts", f_scripts },
	{ "restart", f_restart },
	{ "sync", f_sync },
};

/* merge_env() - env_file's variables, then env's (which win: a later
 * entry of the same name replaces the earlier one). */
static int merge_env(struct sf *s, struct sbctx *c)
{
	struct vec out = { 0 };
	char **lists[2] = { c->nd.env_file_env, c->nd.env_env };

	for (int l = 0; l < 2; l++)
		for (char **v = lists[l]; v && *v; v++) {
			size_t kl = strcspn(*v, "=");
			size_t j;

			for (j = 0; j < out.n; j++)
				if (!strncmp(out.v[j], *v, kl) &&
				    out.v[j][kl] == '=')
					break;
			if (j < out.n)
				out.v[j] = *v;
			else if (sf_vec_push(&out, *v) < 0) {
				free(out.v);
				return sf_oom(s);
			}
		}
	if (!out.n)
		return 0;
	c->sb->cfg.env = (const char *const *)sf_vec_done(s->p, &out);
	return c->sb->cfg.env ? 0 : sf_oom(s);
}

int sf_sandbox(struct sf *s, struct proj_sandbox *sb, yaml_node_t *k,
		   yaml_node_t *v, const char *path)
{
	struct sbctx c = { .sb = sb };
	int r;

	msb_sandbox_config_init(&sb->cfg);
	sb->key = sf_strdup(s->p, sf_text(k));
	if (!sb->key)
		return sf_oom(s);
	sb->pos = sf_pos(k);
	if (snprintf(sb->name, sizeof(sb->name), "%s-%s", s->p->name,
		     sb->key) >= (int)sizeof(sb->name))
		return sf_fail(s, k, path, "the sandbox's name '%s-%s' is longer "
			    "than 63 characters: shorten the project's name "
			    "or the sandbox's", s->p->name, sb->key);
	sb->cfg.name = sb->name;
	if (sf_is_null(v))
		r = 0; /* a sandbox of the defaults */
	else
		r = sf_walk(s, v, path, sandbox_fields, NFIELDS(sandbox_fields),
			 &c, 0);
	if (r == 0 && c.nd.image && c.nd.from_snapshot)
		r = sf_fail(s, c.nd.from_snapshot, path, "give image or "
			 "from_snapshot, not both (a restored sandbox runs "
			 "its snapshot's image)");
	if (r == 0 && c.nd.from_snapshot && c.nd.first_restore_bad)
		r = sf_fail(s, c.nd.first_restore_bad, path,
			 "%s cannot be given with from_snapshot: a restored "
			 "sandbox keeps its snapshot's settings (with it: "
			 "cpus, memory, env, env_file, boot_timeout, "
			 "command, scripts, depends_on, healthcheck, "
			 "restart, sync)", c.nd.restore_bad_key);
	if (r == 0 && c.nd.command && c.nd.start)
		r = sf_fail(s, c.nd.start, path, "give command or scripts.start, "
			 "not both (both are what up runs)");
	if (r == 0 && c.nd.secrets) {
		char sp[PATH_LEN];

		sf_key_path(sp, path, "secrets");
		r = sf_secrets(s, &c, sp);
	}
	if (r == 0)
		r = merge_env(s, &c);
	if (r == 0) {
		struct vec *lists[] = { &c.allow, &c.allow_cidr, &c.block_cidr,
					&c.allow_host, &c.ports };
		const char *const **dst[] = { &sb->cfg.net.allow,
					      &sb->cfg.net.allow_cidr,
					      &sb->cfg.net.block_cidr,
					      &sb->cfg.net.allow_host,
					      &sb->cfg.net.ports };

		for (size_t i = 0; i < NFIELDS(lists); i++) {
			if (!lists[i]->n)
				continue;
			*dst[i] = (const char *const *)sf_vec_done(s->p,
								lists[i]);
			if (!*dst[i])
				r = sf_oom(s);
		}
	}
	if (r == 0 && sb->cfg.nsecrets) {
		msb_error e = { 0 };

		if (msb_secrets_net_check(&sb->cfg.net, &e) < 0)
			r = sf_fail_lib(s, c.nd.network ? c.nd.network : k, path,
				     &e);
	}
	if (r == 0 && !sb->cmd)
		for (size_t i = 0; i < sb->nscripts; i++)
			if (!strcmp(sb->scripts[i].name, "start"))
				sb->cmd = sb->scripts[i].argv;
	if (r == 0)
		s->dep_nodes[sb - s->p->sbs] = c.nd.depends_on;
	free(c.allow.v);
	free(c.allow_cidr.v);
	free(c.block_cidr.v);
	free(c.allow_host.v);
	free(c.ports.v);
	return r;
}
