/* SPDX-License-Identifier: Apache-2.0 */
/* addon.c - the binding's module: errors, arguments, sandbox handles
 *
 * Loaded by lib/native.js as build/msb.node. Theory of operation in
 * addon.h; the calls themselves are in calls.c (thread pool) and
 * streams.c (exec and file streams on the event loop).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

struct instance {
	napi_ref factory; /* (code, name, message) => Error, from lib/errors.js */
};

/* ---- memory ------------------------------------------------------------------ */

void *arena_alloc(struct arena *a, size_t n)
{
	void *p;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		void **np = realloc(a->p, cap * sizeof(*np));

		if (!np)
			return NULL;
		a->p = np;
		a->cap = cap;
	}
	p = calloc(1, n ? n : 1);
	if (p)
		a->p[a->n++] = p;
	return p;
}

void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
	memset(a, 0, sizeof(*a));
}

/* ---- errors ------------------------------------------------------------------- */

napi_value make_error(napi_env env, int code, const char *message)
{
	struct instance *in = NULL;
	napi_value fn = NULL, argv[3], global, out = NULL;

	napi_get_instance_data(env, (void **)&in);
	napi_create_int32(env, code, &argv[0]);
	napi_create_string_utf8(env, msb_error_name(code), NAPI_AUTO_LENGTH,
				&argv[1]);
	napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &argv[2]);
	if (in && in->factory)
		napi_get_reference_value(env, in->factory, &fn);
	napi_get_global(env, &global);
	if (!fn || napi_call_function(env, global, fn, 3, argv, &out) != napi_ok) {
		napi_value msg;
		bool pending = false;

		napi_is_exception_pending(env, &pending);
		if (pending) {
			napi_value ignored;

			napi_get_and_clear_last_exception(env, &ignored);
		}
		napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
		napi_create_error(env, NULL, msg, &out);
		napi_set_named_property(env, out, "code", argv[1]);
		napi_set_named_property(env, out, "errno", argv[0]);
	}
	return out;
}

napi_value throw_msb(napi_env env, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	napi_throw(env, make_error(env, code, msg));
	return NULL;
}

int check_napi(napi_env env, napi_status s)
{
	const napi_extended_error_info *info = NULL;
	bool pending = false;

	if (s == napi_ok)
		return 0;
	napi_is_exception_pending(env, &pending);
	if (!pending) {
		napi_get_last_error_info(env, &info);
		throw_msb(env, MSB_E_INVALID, "%s",
			  info && info->error_message ? info->error_message :
							"Node-API call failed");
	}
	return -1;
}

/* setErrorFactory(fn): the function that makes the SDK's errors. */
static napi_value js_set_error_factory(napi_env env, napi_callback_info info)
{
	struct instance *in = NULL;
	size_t argc = 1;
	napi_value argv[1];

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	napi_get_instance_data(env, (void **)&in);
	if (in->factory)
		napi_delete_reference(env, in->factory);
	if (check_napi(env, napi_create_reference(env, argv[0], 1, &in->factory)))
		return NULL;
	return NULL;
}

/* ---- arguments ----------------------------------------------------------------- */

int is_absent(napi_env env, napi_value v)
{
	napi_valuetype t;

	if (!v || napi_typeof(env, v, &t) != napi_ok)
		return 1;
	return t == napi_undefined || t == napi_null;
}

int get_prop(napi_env env, napi_value obj, const char *key, napi_value *out)
{
	*out = NULL;
	if (is_absent(env, obj))
		return 0;
	if (check_napi(env, napi_get_named_property(env, obj, key, out)))
		return -1;
	if (is_absent(env, *out))
		*out = NULL;
	return 0;
}

int arg_str(napi_env env, napi_value v, struct arena *a, const char *what,
	    const char **out)
{
	size_t len;
	char *s;

	*out = NULL;
	if (is_absent(env, v))
		return 0;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		throw_msb(env, MSB_E_INVALID, "%s must be a string", what);
		return -1;
	}
	s = arena_alloc(a, len + 1);
	if (!s) {
		throw_msb(env, -ENOMEM, "out of memory");
		return -1;
	}
	napi_get_value_string_utf8(env, v, s, len + 1, &len);
	if (strlen(s) != len) {
		throw_msb(env, MSB_E_INVALID,
			  "%s '%s...' holds a NUL byte, which C would cut it "
			  "short at: remove it",
			  what, s);
		return -1;
	}
	*out = s;
	return 0;
}

int arg_strv(napi_env env, napi_value v, struct arena *a, const char *what,
	     const char *const **out, size_t *n)
{
	bool is_array = false;
	uint32_t len;
	const char **vec;

	*out = NULL;
	if (n)
		*n = 0;
	if (is_absent(env, v))
		return 0;
	if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) {
		throw_msb(env, MSB_E_INVALID, "%s must be an array of strings",
			  what);
		return -1;
	}
	napi_get_array_length(env, v, &len);
	vec = arena_alloc(a, (len + 1) * sizeof(*vec));
	if (!vec) {
		throw_msb(env, -ENOMEM, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < len; i++) {
		napi_value e;

		napi_get_element(env, v, i, &e);
		if (is_absent(env, e)) {
			throw_msb(env, MSB_E_INVALID,
				  "%s must be an array of strings", what);
			return -1;
		}
		if (arg_str(env, e, a, what, &vec[i]) < 0)
			return -1;
	}
	*out = vec;
	if (n)
		*n = len;
	return 0;
}

static int arg_number(napi_env env, napi_value v, const char *what, double lo,
		      double hi, double *out)
{
	if (napi_get_value_double(env, v, out) != napi_ok || *out != *out ||
	    *out < lo || *out > hi || *out != (double)(int64_t)*out) {
		throw_msb(env, MSB_E_INVALID,
			  "%s must be a whole number from %.0f to %.0f", what,
			  lo, hi);
		return -1;
	}
	return 0;
}

int arg_u32(napi_env env, napi_value v, const char *what, unsigned *out)
{
	double d;

	*out = 0;
	if (is_absent(env, v))
		return 0;
	if (arg_number(env, v, what, 0, 4294967295.0, &d) < 0)
		return -1;
	*out = (unsigned)d;
	return 0;
}

int arg_u64(napi_env env, napi_value v, const char *what, uint64_t *out)
{
	double d;

	*out = 0;
	if (is_absent(env, v))
		return 0;
	if (arg_number(env, v, what, 0, 9007199254740991.0, &d) < 0)
		return -1;
	*out = (uint64_t)d;
	return 0;
}

int arg_i32(napi_env env, napi_value v, const char *what, int *out)
{
	double d;

	*out = 0;
	if (is_absent(env, v))
		return 0;
	if (arg_number(env, v, what, -2147483648.0, 2147483647.0, &d) < 0)
		return -1;
	*out = (int)d;
	return 0;
}

int arg_bool(napi_env env, napi_value v, int *out)
{
	bool b = false;

	*out = 0;
	if (is_absent(env, v))
		return 0;
	napi_coerce_to_bool(env, v, &v);
	napi_get_value_bool(env, v, &b);
	*out = b;
	return 0;
}

int prop_str(napi_env env, napi_value obj, const char *key, struct arena *a,
	     const char **out)
{
	napi_value v;

	*out = NULL;
	return get_prop(env, obj, key, &v) < 0 ? -1 : arg_str(env, v, a, key, out);
}

int prop_strv(napi_env env, napi_value obj, const char *key, struct arena *a,
	      const char *const **out, size_t *n)
{
	napi_value v;

	*out = NULL;
	return get_prop(env, obj, key, &v) < 0 ? -1 :
						 arg_strv(env, v, a, key, out, n);
}

int prop_u32(napi_env env, napi_value obj, const char *key, unsigned *out)
{
	napi_value v;

	*out = 0;
	return get_prop(env, obj, key, &v) < 0 ? -1 : arg_u32(env, v, key, out);
}

int prop_u64(napi_env env, napi_value obj, const char *key, uint64_t *out)
{
	napi_value v;

	*out = 0;
	return get_prop(env, obj, key, &v) < 0 ? -1 : arg_u64(env, v, key, out);
}

int prop_bool(napi_env env, napi_value obj, const char *key, int *out)
{
	napi_value v;

	*out = 0;
	return get_prop(env, obj, key, &v) < 0 ? -1 : arg_bool(env, v, out);
}

/* ---- results ------------------------------------------------------------------- */

napi_value js_str(napi_env env, const char *s)
{
	napi_value v;

	napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v);
	return v;
}

napi_value js_num(napi_env env, double d)
{
	napi_value v;

	napi_create_double(env, d, &v);
	return v;
}

napi_value js_bool(napi_env env, int b)
{
	napi_value v;

	napi_get_boolean(env, b != 0, &v);
	return v;
}

napi_value js_undefined(napi_env env)
{
	napi_value v;

	napi_get_undefined(env, &v);
	return v;
}

void set_val(napi_env env, napi_value obj, const char *key, napi_value v)
{
	napi_set_named_property(env, obj, key, v);
}

void set_str(napi_env env, napi_value obj, const char *key, const char *s)
{
	set_val(env, obj, key, js_str(env, s));
}

void set_num(napi_env env, napi_value obj, const char *key, double d)
{
	set_val(env, obj, key, js_num(env, d));
}

void set_bool(napi_env env, napi_value obj, const char *key, int b)
{
	set_val(env, obj, key, js_bool(env, b));
}

/* ---- sandbox handles ------------------------------------------------------------- */

static const napi_type_tag sandbox_tag = { 0x6d73625f73616e64ULL,
					   0x626f785f68616e64ULL };

static void sandbox_finalize(napi_env env, void *data, void *hint)
{
	msb_sandbox_close(data);
}

napi_value wrap_sandbox(napi_env env, msb_sandbox *sb)
{
	napi_value v;

	if (napi_create_external(env, sb, sandbox_finalize, NULL, &v) != napi_ok) {
		msb_sandbox_close(sb);
		return NULL;
	}
	napi_type_tag_object(env, v, &sandbox_tag);
	return v;
}

int arg_sandbox(napi_env env, napi_value v, msb_sandbox **out)
{
	bool ok = false;

	*out = NULL;
	if (!is_absent(env, v))
		napi_check_object_type_tag(env, v, &sandbox_tag, &ok);
	if (!ok || napi_get_value_external(env, v, (void **)out) != napi_ok) {
		throw_msb(env, MSB_E_INVALID, "not a sandbox handle");
		return -1;
	}
	return 0;
}

/* ---- small calls that never wait ---------------------------------------------------- */

static napi_value js_error_name(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int code;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_i32(env, argc ? argv[0] : NULL, "code", &code) < 0)
		return NULL;
	return js_str(env, msb_error_name(code));
}

static napi_value js_name_valid(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct arena a = { 0 };
	const char *name;
	msb_error err = { 0 };
	napi_value out = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_str(env, argc ? argv[0] : NULL, &a, "name", &name) == 0) {
		int r = msb_name_valid(name ? name : "", &err);

		if (r < 0)
			napi_throw(env, make_error(env, r, err.message));
		else
			out = js_undefined(env);
	}
	arena_free(&a);
	return out;
}

static napi_value js_parse_memory(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct arena a = { 0 };
	const char *s;
	uint64_t mib = 0;
	msb_error err = { 0 };
	napi_value out = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_str(env, argc ? argv[0] : NULL, &a, "memory", &s) == 0) {
		int r = msb_parse_memory(s ? s : "", &mib, &err);

		if (r < 0)
			napi_throw(env, make_error(env, r, err.message));
		else
			out = js_num(env, (double)mib);
	}
	arena_free(&a);
	return out;
}

static napi_value js_home(napi_env env, napi_callback_info info)
{
	return js_str(env, msb_home());
}

/* tlsCaRead(path): the PEM text of a file of CA certificates, checked. */
static napi_value js_tls_ca_read(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct arena a = { 0 };
	const char *path;
	char *pem = NULL;
	msb_error err = { 0 };
	napi_value out = NULL;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_str(env, argc ? argv[0] : NULL, &a, "path", &path) == 0) {
		int r = msb_tls_ca_read(path ? path : "", &pem, &err);

		if (r < 0)
			napi_throw(env, make_error(env, r, err.message));
		else
			out = js_str(env, pem);
		free(pem);
	}
	arena_free(&a);
	return out;
}

static napi_value js_sandbox_name(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	msb_sandbox *sb;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_sandbox(env, argc ? argv[0] : NULL, &sb) < 0)
		return NULL;
	return js_str(env, msb_sandbox_name(sb));
}

static napi_value js_sandbox_boot_ms(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	msb_sandbox *sb;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (arg_sandbox(env, argc ? argv[0] : NULL, &sb) < 0)
		return NULL;
	return js_num(env, (double)msb_sandbox_boot_ms(sb));
}

static const struct export addon_exports[] = {
	{ "setErrorFactory", js_set_error_factory },
	{ "errorName", js_error_name },
	{ "nameValid", js_name_valid },
	{ "parseMemory", js_parse_memory },
	{ "home", js_home },
	{ "tlsCaRead", js_tls_ca_read },
	{ "sandboxName", js_sandbox_name },
	{ "sandboxBootMs", js_sandbox_boot_ms },
	{ NULL, NULL },
};

/* ---- the module ------------------------------------------------------------------ */

static void instance_free(napi_env env, void *data, void *hint)
{
	struct instance *in = data;

	if (in->factory)
		napi_delete_reference(env, in->factory);
	free(in);
}

static void add_exports(napi_env env, napi_value exports,
			const struct export *list)
{
	for (; list->name; list++) {
		napi_value fn;

		napi_create_function(env, list->name, NAPI_AUTO_LENGTH, list->fn,
				     NULL, &fn);
		napi_set_named_property(env, exports, list->name, fn);
	}
}

static napi_value init(napi_env env, napi_value exports)
{
	struct instance *in = calloc(1, sizeof(*in));

	if (!in || napi_set_instance_data(env, in, instance_free, NULL) != napi_ok) {
		free(in);
		napi_throw_error(env, NULL, "microsandbox: out of memory");
		return NULL;
	}
	add_exports(env, exports, addon_exports);
	add_exports(env, exports, calls_exports);
	add_exports(env, exports, stream_exports);
	add_exports(env, exports, project_exports);
	add_exports(env, exports, events_exports);
	set_str(env, exports, "version", MSB_VERSION);
	return exports;
}

NAPI_MODULE_INIT()
{
	return init(env, exports);
}
