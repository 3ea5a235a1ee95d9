/* SPDX-License-Identifier: Apache-2.0 */
/* addon.h - the Node-API binding of libmsb: what its files share
 *
 * The binding is thin: each export is one libmsb call, its arguments
 * taken from plain values the JS layer (lib/) has shaped, its failures
 * turned into the SDK's typed errors by a factory the JS layer registers
 * (setErrorFactory). Calls that may wait (a boot, a stop, the state
 * database, a one-shot file request) run in libuv's thread pool
 * (napi_async_work) and return promises. Streams (an exec, a file read,
 * write or list) give their descriptor to a uv_poll_t on the event loop,
 * and libmsb is then asked with a zero timeout: nothing waits on the
 * loop's thread, and no thread waits for a stream.
 */
#ifndef MSB_NODE_ADDON_H
#define MSB_NODE_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>

#include <msb.h>

/* ---- memory of one call ---------------------------------------------------- */

/* Every allocation a call makes for libmsb's arguments, freed together. */
struct arena {
	void **p;
	size_t n, cap;
};

void *arena_alloc(struct arena *a, size_t n); /* zeroed; NULL: no memory */
void arena_free(struct arena *a);

/* ---- errors ----------------------------------------------------------------- */

/* make_error() - the SDK's error for libmsb @code and @message (the JS
 * factory's, or a plain Error before one is registered). */
napi_value make_error(napi_env env, int code, const char *message);
/* throw_msb() - throw make_error(); returns NULL for the caller to return. */
napi_value throw_msb(napi_env env, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* napi_ok(), or throw what Node-API said went wrong. */
int check_napi(napi_env env, napi_status s);

/* ---- arguments -------------------------------------------------------------- *
 * Each returns 0, or -1 with a JS exception pending. Absent (undefined or
 * null) values give NULL / 0 / the default. */

int is_absent(napi_env env, napi_value v);
/* get_prop() - @obj[@key] into *@out; NULL when absent. */
int get_prop(napi_env env, napi_value obj, const char *key, napi_value *out);
/* A string copied into @a; one holding a NUL byte is refused (C would cut
 * it short). */
int arg_str(napi_env env, napi_value v, struct arena *a, const char *what,
	    const char **out);
/* An array of strings as a NULL-terminated vector, *@n its length. */
int arg_strv(napi_env env, napi_value v, struct arena *a, const char *what,
	     const char *const **out, size_t *n);
int arg_u32(napi_env env, napi_value v, const char *what, unsigned *out);
int arg_u64(napi_env env, napi_value v, const char *what, uint64_t *out);
int arg_i32(napi_env env, napi_value v, const char *what, int *out);
int arg_bool(napi_env env, napi_value v, int *out);

/* The same for @obj[@key]. */
int prop_str(napi_env env, napi_value obj, const char *key, struct arena *a,
	     const char **out);
int prop_strv(napi_env env, napi_value obj, const char *key, struct arena *a,
	      const char *const **out, size_t *n);
int prop_u32(napi_env env, napi_value obj, const char *key, unsigned *out);
int prop_u64(napi_env env, napi_value obj, const char *key, uint64_t *out);
int prop_bool(napi_env env, napi_value obj, const char *key, int *out);

/* ---- results ---------------------------------------------------------------- */

napi_value js_str(napi_env env, const char *s);
napi_value js_num(napi_env env, double d);
napi_value js_bool(napi_env env, int b);
napi_value js_undefined(napi_env env);
void set_str(napi_env env, napi_value obj, const char *key, const char *s);
void set_num(napi_env env, napi_value obj, const char *key, double d);
void set_bool(napi_env env, napi_value obj, const char *key, int b);
void set_val(napi_env env, napi_value obj, const char *key, napi_value v);

/* ---- sandbox handles -------------------------------------------------------- */

/* A JS value owning an msb_sandbox (closed when it is collected). */
napi_value wrap_sandbox(napi_env env, msb_sandbox *sb);
/* The msb_sandbox of such a value; -1 with an exception if it is not one. */
int arg_sandbox(napi_env env, napi_value v, msb_sandbox **out);

/* ---- configuration (config.c) ----------------------------------------------- */

int config_sandbox(napi_env env, napi_value o, struct arena *a,
		   msb_sandbox_config *c);
int config_restore(napi_env env, napi_value o, struct arena *a,
		   msb_restore_opts *r);
int config_exec(napi_env env, napi_value o, struct arena *a, msb_exec_opts *e);
int config_file(napi_env env, napi_value o, struct arena *a, msb_file_opts *f);
napi_value file_info_js(napi_env env, const msb_file_info *fi);

/* ---- streams (streams.c) ----------------------------------------------------- */

/* stream_wrap_events() - an events reader as a stream the JS layer polls
 * (streamWatch, streamFree), owning @ev. */
napi_value stream_wrap_events(napi_env env, msb_events *ev);
/* stream_events() - the reader of such a stream; NULL with an exception
 * if @v is not one, or was freed. */
msb_events *stream_events(napi_env env, napi_value v);

/* ---- progress (progress.c) ---------------------------------------------------- *
 * libmsb's progress callbacks, each report copied on libmsb's thread and
 * delivered in order to a JS function on the loop's thread; their ctx is
 * the thread-safe function progress_open() made. */

/* progress_open() - a thread-safe function calling @fn (InvalidArgument
 * unless a function) with each report; @settle(env, @job, NULL) runs on
 * the loop's thread once it was released and the last report delivered:
 * it settles the call's promise. */
int progress_open(napi_env env, napi_value fn, void *job,
		  napi_finalize settle, napi_threadsafe_function *out);

void progress_pull(void *ctx, const msb_pull_progress *p);  /* msb_pull_opts, msb_load_opts */
void progress_sync(void *ctx, const msb_sync_progress *p);  /* msb_sync_opts */
void progress_copy(void *ctx, const char *path, uint64_t done,
		   uint64_t total);                          /* msb_copy_opts */
void progress_project(void *ctx, const msb_project_event *e); /* msb_project_opts */

/* ---- exports of each file --------------------------------------------------- */

struct export {
	const char *name;
	napi_callback fn;
};

extern const struct export calls_exports[];  /* calls.c: thread-pool calls */
extern const struct export stream_exports[]; /* streams.c: exec and files */
extern const struct export project_exports[]; /* project.c: Sandboxfiles */
extern const struct export events_exports[];  /* events.c: a sandbox's events */

#endif
