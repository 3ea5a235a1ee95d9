/* SPDX-License-Identifier: Apache-2.0 */
/* project.c - a Sandboxfile's project (msb_project_*, docs/projects.md)
 *
 * Loading and reading a file are quick and done on the loop's thread; up,
 * down, stop, restart and ps wait on boots, stops and the state database,
 * so they run in libuv's thread pool and return promises. Their progress
 * reports come from the threads libmsb starts, and reach the JS callback
 * through progress.c's thread-safe function; the promise is settled when
 * that function is finalized, which Node-API does only after every queued
 * report has been delivered, so a caller sees all of them before the
 * call's result.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

static const napi_type_tag project_tag = {
	0x6d73625f70726f6aULL, 0x5341424f5846494cULL
};

static void project_finalize(napi_env env, void *data, void *hint)
{
	msb_project_free(data);
}

static napi_value wrap_project(napi_env env, msb_project *p)
{
	napi_value v;

	if (napi_create_external(env, p, project_finalize, NULL, &v) != napi_ok) {
		msb_project_free(p);
		return NULL;
	}
	napi_type_tag_object(env, v, &project_tag);
	return v;
}

static int arg_project(napi_env env, napi_value v, msb_project **out)
{
	bool ok = false;

	*out = NULL;
	if (!is_absent(env, v))
		napi_check_object_type_tag(env, v, &project_tag, &ok);
	if (!ok || napi_get_value_external(env, v, (void **)out) != napi_ok) {
		throw_msb(env, MSB_E_INVALID, "not a project handle");
		return -1;
	}
	return 0;
}

/* projectLoad(path | null): a handle; throws the file's error. */
static napi_value js_project_load(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct arena a = { 0 };
	const char *path;
	msb_project *p = NULL;
	msb_error err = { 0 };
	napi_value out = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_str(env, argc ? argv[0] : NULL, &a, "path", &path) == 0) {
		int r = msb_project_load(path, &p, &err);

		if (r < 0)
			napi_throw(env, make_error(env, r, err.message));
		else
			out = wrap_project(env, p);
	}
	arena_free(&a);
	return out;
}

/* projectParse(text, path): a handle, the file read from @text. */
static napi_value js_project_parse(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	struct arena a = { 0 };
	const char *path;
	char *text = NULL;
	size_t len = 0;
	msb_project *p = NULL;
	msb_error err = { 0 };
	napi_value out = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || arg_str(env, argv[1], &a, "path", &path) < 0)
		goto out;
	if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
		throw_msb(env, MSB_E_INVALID, "a Sandboxfile's text is a string");
		goto out;
	}
	text = arena_alloc(&a, len + 1);
	if (!text) {
		throw_msb(env, -ENOMEM, "out of memory");
		goto out;
	}
	napi_get_value_string_utf8(env, argv[0], text, len + 1, &len);
	if (msb_project_parse(text, len, path ? path : "Sandboxfile", &p,
			      &err) < 0)
		napi_throw(env, make_error(env, err.code, err.message));
	else
		out = wrap_project(env, p);
out:
	arena_free(&a);
	return out;
}

/* projectInfo(h): { name, file, sandboxes: [{ key, name }] } in start
 * order. */
static napi_value js_project_info(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], o, arr;
	msb_project *p;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_project(env, argc ? argv[0] : NULL, &p) < 0)
		return NULL;
	napi_create_object(env, &o);
	set_str(env, o, "name", msb_project_name(p));
	set_str(env, o, "file", msb_project_file(p));
	napi_create_array(env, &arr);
	for (size_t i = 0; i < msb_project_count(p); i++) {
		const char *name = NULL, *key = msb_project_sandbox(p, i, &name);
		napi_value s;

		napi_create_object(env, &s);
		set_str(env, s, "key", key);
		set_str(env, s, "name", name);
		napi_set_element(env, arr, (uint32_t)i, s);
	}
	set_val(env, o, "sandboxes", arr);
	return o;
}

/* projectConfig(h): the resolved project, JSON text. */
static napi_value js_project_config(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	msb_project *p;
	msb_error err = { 0 };
	char *json = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_project(env, argc ? argv[0] : NULL, &p) < 0)
		return NULL;
	if (msb_project_config_json(p, &json, &err) < 0) {
		napi_throw(env, make_error(env, err.code, err.message));
		return NULL;
	}
	out = js_str(env, json);
	free(json);
	return out;
}

/* projectScript(h, key, script): its argv. */
static napi_value js_project_script(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out = NULL;
	struct arena a = { 0 };
	const char *key, *script;
	msb_project *p;
	msb_error err = { 0 };
	char **words = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 3 || arg_project(env, argv[0], &p) < 0 ||
	    arg_str(env, argv[1], &a, "sandbox", &key) < 0 ||
	    arg_str(env, argv[2], &a, "script", &script) < 0)
		goto out;
	if (msb_project_script(p, key ? key : "", script ? script : "", &words,
			       &err) < 0) {
		napi_throw(env, make_error(env, err.code, err.message));
		goto out;
	}
	napi_create_array(env, &out);
	for (uint32_t i = 0; words[i]; i++)
		napi_set_element(env, out, i, js_str(env, words[i]));
	free(words);
out:
	arena_free(&a);
	return out;
}

/* ---- the calls that wait -------------------------------------------------------------- */

enum pcall { P_UP, P_DOWN, P_STOP, P_RESTART, P_PS };

struct pjob {
	struct arena a;
	enum pcall what;
	msb_project *p;
	napi_ref keep;           /* the handle, alive while the call runs */
	msb_project_opts o;
	napi_async_work work;
	napi_deferred deferred;
	napi_threadsafe_function tsfn; /* the progress callback, or NULL */
	int r;
	msb_error err;
	msb_project_entry *entries;
	size_t n;
};

static void pjob_execute(napi_env env, void *data)
{
	struct pjob *j = data;

	switch (j->what) {
	case P_UP:
		j->r = msb_project_up(j->p, &j->o, &j->err);
		break;
	case P_DOWN:
		j->r = msb_project_down(j->p, &j->o, &j->err);
		break;
	case P_STOP:
		j->r = msb_project_stop(j->p, &j->o, &j->err);
		break;
	case P_RESTART:
		j->r = msb_project_restart(j->p, &j->o, &j->err);
		break;
	case P_PS:
		j->r = msb_project_ps(j->p, &j->entries, &j->n, &j->err);
		break;
	}
}

static napi_value entries_js(napi_env env, struct pjob *j)
{
	napi_value arr;

	napi_create_array(env, &arr);
	for (size_t i = 0; i < j->n; i++) {
		const msb_project_entry *e = &j->entries[i];
		napi_value o;

		napi_create_object(env, &o);
		set_str(env, o, "key", e->key);
		set_str(env, o, "name", e->name);
		set_str(env, o, "status", e->status);
		set_str(env, o, "state", e->state);
		set_str(env, o, "image", e->image);
		napi_set_element(env, arr, (uint32_t)i, o);
	}
	return arr;
}

/* Settle the promise and free the job. */
static void pjob_settle(napi_env env, struct pjob *j)
{
	if (j->r < 0)
		napi_reject_deferred(env, j->deferred, make_error(env,
			j->err.code ? j->err.code : j->r, j->err.message));
	else
		napi_resolve_deferred(env, j->deferred, j->what == P_PS ?
				      entries_js(env, j) : js_undefined(env));
	if (j->keep)
		napi_delete_reference(env, j->keep);
	if (j->work)
		napi_delete_async_work(env, j->work);
	free(j->entries);
	arena_free(&j->a);
	free(j);
}

static void pjob_finalize(napi_env env, void *data, void *hint)
{
	pjob_settle(env, data);
}

static void pjob_complete(napi_env env, napi_status status, void *data)
{
	struct pjob *j = data;

	if (status != napi_ok && j->r >= 0) {
		j->r = -ECANCELED;
		snprintf(j->err.message, sizeof(j->err.message),
			 "the call was cancelled");
	}
	if (j->tsfn)  /* settled by pjob_finalize, after the last report */
		napi_release_threadsafe_function(j->tsfn, napi_tsfn_release);
	else
		pjob_settle(env, j);
}

/* projectCall(h, what, { only, timeout, volumes }, progress): a promise
 * (of the entries, for "ps"). */
static napi_value js_project_call(napi_env env, napi_callback_info info)
{
	static const char *const names[] = { "up", "down", "stop", "restart",
					     "ps" };
	size_t argc = 4, nonly = 0;
	napi_value argv[4], promise, name;
	struct pjob *j;
	const char *what;
	int found = 0;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	j = calloc(1, sizeof(*j));
	if (!j)
		return throw_msb(env, -ENOMEM, "out of memory");
	if (argc < 4 || arg_project(env, argv[0], &j->p) < 0 ||
	    arg_str(env, argv[1], &j->a, "call", &what) < 0)
		goto fail;
	for (size_t i = 0; what && i < sizeof(names) / sizeof(*names); i++)
		if (!strcmp(what, names[i])) {
			j->what = (enum pcall)i;
			found = 1;
		}
	if (!found) {
		throw_msb(env, MSB_E_INVALID, "no project call '%s'",
			  what ? what : "");
		goto fail;
	}
	msb_project_opts_init(&j->o);
	if (!is_absent(env, argv[2]) &&
	    (prop_strv(env, argv[2], "only", &j->a, &j->o.only, &nonly) < 0 ||
	     prop_u32(env, argv[2], "timeout", &j->o.stop_timeout_s) < 0 ||
	     prop_bool(env, argv[2], "volumes", &j->o.volumes) < 0))
		goto fail;
	if (nonly == 0)
		j->o.only = NULL;
	if (check_napi(env, napi_create_reference(env, argv[0], 1, &j->keep)) < 0)
		goto fail;
	napi_create_string_utf8(env, "msb_project", NAPI_AUTO_LENGTH, &name);
	if (!is_absent(env, argv[3])) {
		if (progress_open(env, argv[3], j, pjob_finalize, &j->tsfn) < 0)
			goto fail;
		j->o.progress = progress_project;
		j->o.ctx = j->tsfn;
	}
	if (check_napi(env, napi_create_async_work(env, NULL, name,
			pjob_execute, pjob_complete, j, &j->work)) < 0 ||
	    check_napi(env, napi_create_promise(env, &j->deferred,
						&promise)) < 0 ||
	    check_napi(env, napi_queue_async_work(env, j->work)) < 0) {
		if (j->tsfn) {  /* its finalizer frees the job */
			j->r = -ECANCELED;
			napi_release_threadsafe_function(j->tsfn,
							 napi_tsfn_abort);
		}
		return NULL;
	}
	return promise;
fail:
	if (j->keep)
		napi_delete_reference(env, j->keep);
	arena_free(&j->a);
	free(j);
	return NULL;
}

const struct export project_exports[] = {
	{ "projectLoad", js_project_load },
	{ "projectParse", js_project_parse },
	{ "projectInfo", js_project_info },
	{ "projectConfig", js_project_config },
	{ "projectScript", js_project_script },
	{ "projectCall", js_project_call },
	{ NULL, NULL },
};
