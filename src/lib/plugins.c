/* SPDX-License-Identifier: Apache-2.0 */
/* plugins.c - a sandbox's chain of plugins, as the caller gives it
 * (include/msb.h, docs/plugins.md)
 *
 * The chain goes into the record as "plugins": [{"kind": "builtin",
 * "name", "options"}, {"kind": "process", "cmd", "cwd"}, {"kind":
 * "socket", "path"}], with "plugin_timeout_ms" and "plugin_restarts";
 * the supervisor starts it (src/supervisor/plugins.c). Options are
 * checked here, so a typo fails before anything is made.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "plugreg.h"
#include "project.h"
#include "util.h"

#define PLUGINS_MAX 16
#define CMD_MAX 4096

struct msb_plugins {
	json_object *list;
	unsigned timeout_ms;
	unsigned restarts;
	int restarts_set;
};

/* The built-ins and the options each takes. */
static const struct {
	const char *name;
	const char *keys[4];
} builtins[] = {
	{ "audit-log", { "dir", "fs", NULL } },
	{ "rate-limiter", { "exec", "connect", "bytes", NULL } },
};

msb_plugins *msb_plugins_new(void)
{
	msb_plugins *p = calloc(1, sizeof(*p));

	if (p)
		p->list = json_object_new_array();
	return p;
}

void msb_plugins_free(msb_plugins *p)
{
	if (!p)
		return;
	json_object_put(p->list);
	free(p);
}

static int room(msb_plugins *p, msb_error *err)
{
	if (!p)
		return msb_fail(err, MSB_E_INVALID, "no plugin list");
	if (json_object_array_length(p->list) >= PLUGINS_MAX)
		return msb_fail(err, MSB_E_INVALID, "too many plugins (at most "
				"%d a sandbox)", PLUGINS_MAX);
	return 0;
}

/* add_installed() - an installed plugin (msb plugin install): its command,
 * run in its files, pinned to the digest it has now and verified again
 * by the supervisor at each start. */
static int add_installed(msb_plugins *p, const char *name, const char *options,
			 msb_error *err)
{
	msb_plugin_info i;
	json_object *o;
	int r;

	if (!name || msb_plugin_name_check(name, NULL) < 0)
		return msb_fail(err, MSB_E_INVALID, "unknown plugin '%s': the "
				"built-ins are audit-log and rate-limiter (a "
				"command of your own goes in "
				"--plugin-process)", name ? name : "");
	r = msb_home_ready(err);
	if (r == 0)
		r = msb_plugin_verify(name, NULL, &i, err);
	if (r == MSB_E_NOT_FOUND)
		return msb_fail(err, MSB_E_INVALID, "unknown plugin '%s': the "
				"built-ins are audit-log and rate-limiter, and "
				"no installed plugin has that name ('msb "
				"plugin ls'; 'msb plugin install %s'); a "
				"command of your own goes in --plugin-process",
				name, name);
	if (r < 0)
		return r;
	if (options && *options)
		return msb_fail(err, MSB_E_INVALID, "plugin %s is an installed "
				"plugin: it takes no options", name);
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string("process"));
	json_object_object_add(o, "cmd", json_object_new_string(i.command));
	json_object_object_add(o, "cwd", json_object_new_string(i.path));
	json_object_object_add(o, "installed", json_object_new_string(name));
	json_object_object_add(o, "digest", json_object_new_string(i.digest));
	json_object_array_add(p->list, o);
	return 0;
}

int msb_plugins_add(msb_plugins *p, const char *name, const char *options,
		    msb_error *err)
{
	json_object *o, *opts;
	char *copy, *save = NULL;
	size_t b;
	int r = room(p, err);

	if (r < 0)
		return r;
	for (b = 0; b < sizeof(builtins) / sizeof(builtins[0]); b++)
		if (name && !strcmp(name, builtins[b].name))
			break;
	if (b == sizeof(builtins) / sizeof(builtins[0]))
		return add_installed(p, name, options, err);
	opts = json_object_new_object();
	copy = strdup(options ? options : "");
	for (char *kv = copy ? strtok_r(copy, ",", &save) : NULL; kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), abs[PATH_MAX + 256];
		const char *v;
		int known = 0;

		if (!eq || eq == kv || !eq[1]) {
			r = msb_fail(err, MSB_E_INVALID, "plugin %s: option "
				     "'%s' is not KEY=VALUE", name, kv);
			goto out;
		}
		*eq = '\0';
		v = eq + 1;
		for (int k = 0; builtins[b].keys[k]; k++)
			known |= !strcmp(kv, builtins[b].keys[k]);
		if (!known) {
			r = msb_fail(err, MSB_E_INVALID, "plugin %s has no "
				     "option '%s' (it takes %s%s%s%s%s)", name,
				     kv, builtins[b].keys[0],
				     builtins[b].keys[1] ? ", " : "",
				     builtins[b].keys[1] ? builtins[b].keys[1] :
							   "",
				     builtins[b].keys[2] ? ", " : "",
				     builtins[b].keys[2] ? builtins[b].keys[2] :
							   "");
			goto out;
		}
		{
			char why[300];

			/* as the supervisor will read it: a bad value fails
			 * here, before anything is made */
			if (builtin_option_check(name, kv, v, why,
						 sizeof(why)) < 0) {
				r = msb_fail(err, MSB_E_INVALID, "%s", why);
				goto out;
			}
		}
		if (!strcmp(kv, "dir") && v[0] != '/') {
			char cwd[PATH_MAX];

			if (!getcwd(cwd, sizeof(cwd))) {
				r = msb_fail_errno(err, -errno, "plugin %s: "
						   "dir=%s", name, v);
				goto out;
			}
			snprintf(abs, sizeof(abs), "%s/%s", cwd, v);
			v = abs;
		}
		json_object_object_add(opts, kv, json_object_new_string(v));
	}
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string("builtin"));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "options", opts);
	opts = NULL;
	json_object_array_add(p->list, o);
	r = 0;
out:
	json_object_put(opts);
	free(copy);
	return r;
}

int msb_plugins_add_process(msb_plugins *p, const char *cmd, msb_error *err)
{
	char cwd[PATH_MAX];
	json_object *o;
	int r = room(p, err);

	if (r < 0)
		return r;
	if (!cmd || !*cmd || strlen(cmd) > CMD_MAX)
		return msb_fail(err, MSB_E_INVALID, "a plugin process needs a "
				"command of 1 to %d characters", CMD_MAX);
	if (!getcwd(cwd, sizeof(cwd)))
		return msb_fail_errno(err, -errno, "plugin process: the "
				      "current directory");
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string("process"));
	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	json_object_object_add(o, "cwd", json_object_new_string(cwd));
	json_object_array_add(p->list, o);
	return 0;
}

int msb_plugins_add_socket(msb_plugins *p, const char *path, msb_error *err)
{
	json_object *o;
	int r = room(p, err);

	if (r < 0)
		return r;
	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX)
		return msb_fail(err, MSB_E_INVALID, "a hook socket needs an "
				"absolute path");
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string("socket"));
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_array_add(p->list, o);
	return 0;
}

void msb_plugins_set_timeout(msb_plugins *p, unsigned ms)
{
	if (p)
		p->timeout_ms = ms;
}

void msb_plugins_set_restarts(msb_plugins *p, unsigned n)
{
	if (p) {
		p->restarts = n;
		p->restarts_set = 1;
	}
}

void msb_plugins_record(const msb_plugins *p, json_object *x)
{
	if (!p || !json_object_array_length(p->list))
		return;
	json_object_object_add(x, "plugins", json_object_get(p->list));
	if (p->timeout_ms)
		json_object_object_add(x, "plugin_timeout_ms",
				       json_object_new_int((int)p->timeout_ms));
	if (p->restarts_set)
		json_object_object_add(x, "plugin_restarts",
				       json_object_new_int((int)p->restarts));
}

int msb_sandbox_create_with_plugins(const msb_sandbox_config *c,
				    const msb_plugins *p, msb_sandbox **out,
				    msb_error *err)
{
	return msb_sandbox_create_full(c, p, NULL, out, err);
}
