/* SPDX-License-Identifier: Apache-2.0 */
/* imagecfg.c - the image's config merged into a sandbox's (Docker's rules)
 *
 * Theory of operation: at create, the image's Env, WorkingDir, User,
 * Entrypoint and Cmd go into the sandbox's record under what the caller
 * asked for (msb_image_config_apply()). The record keeps the merged
 * "entrypoint" and "image_cmd", so what a sandbox runs for a user's
 * command (msb_sandbox_command()) is told from the record alone, with no
 * image at hand. Records made before images were pulled name no layers:
 * msb_image_legacy_layers() gives the built-in image's.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "imagecfg.h"
#include "jsonx.h"
#include "info.h"
#include "state.h"
#include "util.h"

/* msb_image_legacy_layers() - records made before images were pulled
 * name only the built-in image's directory. */
json_object *msb_image_legacy_layers(const char *image)
{
	char rel[PATH_MAX], p[PATH_MAX];
	json_object *a = json_object_new_array();

	snprintf(rel, sizeof(rel), "images/%s/layer.erofs", image);
	msb_share_path(rel, p, sizeof(p));
	json_object_array_add(a, json_object_new_string(p));
	return a;
}

/* image_field() - a field of the image config's "config" object, when it
 * has the type wanted. */
static json_object *image_field(json_object *icfg, const char *k,
				json_type t)
{
	json_object *c, *v;

	if (!icfg || !json_object_object_get_ex(icfg, "config", &c) ||
	    !json_object_object_get_ex(c, k, &v) || !json_object_is_type(v, t))
		return NULL;
	if (t == json_type_array)
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!json_object_is_type(json_object_array_get_idx(v, i),
						 json_type_string))
				return NULL;
	return v;
}

static json_object *concat(json_object *a, json_object *b)
{
	json_object *o = json_object_new_array();

	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		json_object_array_add(o, json_object_get(json_object_array_get_idx(a, i)));
	for (size_t i = 0; b && i < json_object_array_length(b); i++)
		json_object_array_add(o, json_object_get(json_object_array_get_idx(b, i)));
	return o;
}

/* msb_image_config_apply() - the image's Env, WorkingDir, User,
 * Entrypoint and Cmd under what the caller asked for (Docker's rules),
 * into @cfg. */
void msb_image_config_apply(json_object *cfg, const msb_sandbox_config *c,
			    json_object *icfg, int builtin)
{
	json_object *ienv = image_field(icfg, "Env", json_type_array);
	json_object *uenv = msb_jstrv(c->env), *ep, *cmd, *v;
	const char *wd = NULL, *user = NULL;

	json_object_object_add(cfg, "env", concat(ienv, uenv));
	json_object_put(uenv);
	if (c->workdir)
		wd = c->workdir;
	else if ((v = image_field(icfg, "WorkingDir", json_type_string)) &&
		 json_object_get_string(v)[0] == '/')
		wd = json_object_get_string(v);
	if (wd)
		json_object_object_add(cfg, "workdir", json_object_new_string(wd));
	if (c->user && *c->user)
		user = c->user;
	else if ((v = image_field(icfg, "User", json_type_string)) &&
		 *json_object_get_string(v))
		user = json_object_get_string(v);
	if (user)
		json_object_object_add(cfg, "user", json_object_new_string(user));
	if (c->entrypoint)
		ep = msb_jstrv(c->entrypoint[0] && *c->entrypoint[0] ?
				       c->entrypoint :
				       NULL);
	else
		ep = concat(image_field(icfg, "Entrypoint", json_type_array),
			    NULL);
	/* --entrypoint drops the image's Cmd too, as Docker does. */
	if (builtin) {
		const char *sh[] = { "/bin/sh", NULL };

		cmd = msb_jstrv(sh);
	} else if (c->entrypoint) {
		cmd = json_object_new_array();
	} else {
		cmd = concat(image_field(icfg, "Cmd", json_type_array), NULL);
	}
	json_object_object_add(cfg, "entrypoint", ep);
	json_object_object_add(cfg, "image_cmd", cmd);
	if (c->cmd && c->cmd[0]) {
		json_object *u = msb_jstrv(c->cmd);

		json_object_object_add(cfg, "cmd", concat(ep, u));
		json_object_put(u);
	} else if (c->image_cmd && !builtin &&
		   json_object_array_length(ep) + json_object_array_length(cmd)) {
		json_object_object_add(cfg, "cmd", concat(ep, cmd));
	}
}

MSB_API int msb_sandbox_command(const char *name, const char *const *cmd,
				char ***argv, msb_error *err)
{
	struct msb_row row;
	json_object *cfg, *ep = NULL, *ic = NULL, *all, *user;
	size_t n, bytes = 0;
	char **v, *p;
	int r;

	r = msb_row_load(name, &row, err);
	if (r < 0)
		return r;
	cfg = json_tokener_parse(row.config);
	msb_row_free(&row);
	if (cfg) {
		json_object_object_get_ex(cfg, "entrypoint", &ep);
		json_object_object_get_ex(cfg, "image_cmd", &ic);
	}
	if (!ic && !ep) {
		const char *sh[] = { "/bin/sh", NULL };

		ic = msb_jstrv(sh);
		json_object_object_add(cfg ? cfg : (cfg = json_object_new_object()),
				       "image_cmd", ic);
	}
	user = msb_jstrv(cmd);
	all = concat(ep, cmd && cmd[0] ? user : ic);
	json_object_put(user);
	n = json_object_array_length(all);
	for (size_t i = 0; i < n; i++)
		bytes += strlen(json_object_get_string(
				 json_object_array_get_idx(all, i))) + 1;
	if (!n) {
		json_object_put(all);
		json_object_put(cfg);
		return msb_fail(err, -EINVAL,
				"the image of '%s' names no command (no "
				"Entrypoint or Cmd): give one after '--'",
				name);
	}
	v = malloc((n + 1) * sizeof(char *) + bytes);
	if (!v) {
		json_object_put(all);
		json_object_put(cfg);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	p = (char *)(v + n + 1);
	for (size_t i = 0; i < n; i++) {
		const char *a = json_object_get_string(
			json_object_array_get_idx(all, i));

		v[i] = p;
		p = stpcpy(p, a) + 1;
	}
	v[n] = NULL;
	*argv = v;
	json_object_put(all);
	json_object_put(cfg);
	return 0;
}
