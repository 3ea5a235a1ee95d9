/* SPDX-License-Identifier: Apache-2.0 */
/* streams.c - exec, file and event streams on the event loop
 *
 * An exec, a streaming file operation or an events reader is a connection
 * of its own to the sandbox's supervisor; libmsb gives its descriptor to
 * poll (msb_exec_fd(), msb_file_fd(), msb_events_fd()). Here that descriptor gets a uv_poll_t
 * on Node's loop, and its readiness is handed to a JS callback, which
 * then asks libmsb for events with a zero timeout (execNext, fileNext)
 * until there are none: one read can bring several events that libmsb
 * holds, so a wake-up is drained whole (lib/stream.js). Writes (stdin, a
 * file's data) are made once the socket polls writable, at most one
 * libmsb message (48 KiB) at a time, so they do not block the loop
 * either.
 *
 * Lifetime: streamFree() stops the poll and closes it; libmsb's handle
 * (and with it the descriptor) is freed once libuv has closed the poll,
 * never under it. A stream dropped without streamFree() is freed the same
 * way when its JS value is collected.
 */

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addon.h"

struct stream {
	msb_exec *e;        /* an exec, or */
	msb_file *f;        /* a file operation, or */
	msb_events *ev;     /* an events reader (events.c) */
	int fd;
	uv_poll_t poll;
	int poll_live;      /* initialised and not yet closed */
	int released;       /* streamFree() or collected: being freed */
	int ended;          /* libmsb's handle freed */
	int collected;      /* the JS value is gone */
	napi_env env;
	napi_ref cb;        /* (status, events) => void */
	napi_async_context actx;
};

static const napi_type_tag stream_tag = { 0x6d73625f73747265ULL,
					  0x616d5f68616e646cULL };

static void stream_end(struct stream *s)
{
	if (s->e)
		msb_exec_free(s->e);
	if (s->f)
		msb_file_free(s->f);
	if (s->ev)
		msb_events_free(s->ev);
	s->e = NULL;
	s->f = NULL;
	s->ev = NULL;
	if (s->actx) {
		napi_async_destroy(s->env, s->actx);
		s->actx = NULL;
	}
	s->ended = 1;
	if (s->collected)
		free(s);
}

static void on_closed(uv_handle_t *h)
{
	struct stream *s = h->data;

	s->poll_live = 0;
	stream_end(s);
}

static void stream_release(struct stream *s)
{
	if (s->released)
		return;
	s->released = 1;
	if (s->cb) {
		napi_delete_reference(s->env, s->cb);
		s->cb = NULL;
	}
	if (s->poll_live) {
		uv_poll_stop(&s->poll);
		uv_close((uv_handle_t *)&s->poll, on_closed);
	} else {
		stream_end(s);
	}
}

static void stream_finalize(napi_env env, void *data, void *hint)
{
	struct stream *s = data;

	s->collected = 1;
	if (!s->released)
		stream_release(s);
	else if (s->ended)
		free(s);
}

/* stream_make() - the JS value of a new stream over @e, @f or @ev. */
static napi_value stream_make(napi_env env, msb_exec *e, msb_file *f,
			      msb_events *ev)
{
	struct stream *s = calloc(1, sizeof(*s));
	napi_value v, resource, name;

	if (!s) {
		msb_exec_free(e);
		msb_file_free(f);
		msb_events_free(ev);
		return throw_msb(env, -ENOMEM, "out of memory");
	}
	s->e = e;
	s->f = f;
	s->ev = ev;
	s->fd = e ? msb_exec_fd(e) : f ? msb_file_fd(f) : msb_events_fd(ev);
	s->env = env;
	s->poll.data = s;
	napi_create_object(env, &resource);
	napi_create_string_utf8(env, e ? "microsandbox:exec" :
				f ? "microsandbox:file" : "microsandbox:events",
				NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, resource, name, &s->actx);
	if (napi_create_external(env, s, stream_finalize, NULL, &v) != napi_ok) {
		s->collected = 1;
		stream_release(s);
		return throw_msb(env, -ENOMEM, "out of memory");
	}
	napi_type_tag_object(env, v, &stream_tag);
	return v;
}

static napi_value stream_new(napi_env env, msb_exec *e, msb_file *f)
{
	return stream_make(env, e, f, NULL);
}

napi_value stream_wrap_events(napi_env env, msb_events *ev)
{
	return stream_make(env, NULL, NULL, ev);
}

/* arg_stream() - the stream of @v, refusing one already freed. */
static int arg_stream(napi_env env, napi_value v, struct stream **out)
{
	bool ok = false;

	*out = NULL;
	if (!is_absent(env, v))
		napi_check_object_type_tag(env, v, &stream_tag, &ok);
	if (!ok || napi_get_value_external(env, v, (void **)out) != napi_ok) {
		throw_msb(env, MSB_E_INVALID, "not a stream handle");
		return -1;
	}
	if ((*out)->released) {
		throw_msb(env, -EBADF, "the stream was closed");
		return -1;
	}
	return 0;
}

static int arg_buffer(napi_env env, napi_value v, void **data, size_t *len)
{
	bool is_buf = false;

	napi_is_buffer(env, v, &is_buf);
	if (!is_buf || napi_get_buffer_info(env, v, data, len) != napi_ok) {
		throw_msb(env, MSB_E_INVALID, "data must be a Buffer");
		return -1;
	}
	return 0;
}

#define ARGS(n)                                                                \
	size_t argc = (n);                                                     \
	napi_value argv[(n)];                                                  \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

/* ---- starting ---------------------------------------------------------------------- */

/* execStart(handle, argv, opts): the command's stream, once its request is
 * sent (its STARTED event, or why it could not start, follows). */
static napi_value js_exec_start(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct arena a = { 0 };
	msb_sandbox *sb;
	const char *const *cargv;
	msb_exec_opts o;
	msb_exec *e = NULL;
	msb_error err = { 0 };
	napi_value out = NULL;

	if (arg_sandbox(env, argv[0], &sb) == 0 &&
	    arg_strv(env, argv[1], &a, "argv", &cargv, NULL) == 0 &&
	    config_exec(env, argv[2], &a, &o) == 0) {
		static const char *const none[] = { NULL };
		int r = msb_exec_start(sb, cargv ? cargv : none, &o, &e, &err);

		if (r < 0)
			napi_throw(env, make_error(env, err.code ? err.code : r,
						   err.message));
		else
			out = stream_new(env, e, NULL);
	}
	arena_free(&a);
	return out;
}

/* fileOpen(handle, "read" | "write" | "list", path, opts) */
static napi_value js_file_open(napi_env env, napi_callback_info info)
{
	ARGS(4);
	struct arena a = { 0 };
	msb_sandbox *sb;
	const char *op, *path;
	msb_file_opts o;
	msb_file *f = NULL;
	msb_error err = { 0 };
	napi_value out = NULL;

	if (arg_sandbox(env, argv[0], &sb) == 0 &&
	    arg_str(env, argv[1], &a, "operation", &op) == 0 &&
	    arg_str(env, argv[2], &a, "path", &path) == 0 &&
	    config_file(env, argv[3], &a, &o) == 0) {
		msb_file_op fop = !op                   ? 0 :
				  !strcmp(op, "read")  ? MSB_FILE_READ :
				  !strcmp(op, "write") ? MSB_FILE_WRITE :
				  !strcmp(op, "list")  ? MSB_FILE_LIST :
							 0;
		int r = msb_file_open(sb, fop, path ? path : "", &o, &f, &err);

		if (r < 0)
			napi_throw(env, make_error(env, err.code ? err.code : r,
						   err.message));
		else
			out = stream_new(env, NULL, f);
	}
	arena_free(&a);
	return out;
}

/* ---- polling ------------------------------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct stream *s = h->data;
	napi_env env = s->env;
	napi_handle_scope scope;
	napi_value cb, argv[2], recv;

	if (s->released || !s->cb)
		return;
	napi_open_handle_scope(env, &scope);
	napi_get_reference_value(env, s->cb, &cb);
	napi_create_int32(env, status, &argv[0]);
	napi_create_int32(env, events, &argv[1]);
	napi_get_global(env, &recv);
	/* make_callback, not call_function: promises the callback settles
	 * run their reactions before the loop goes on. */
	if (napi_make_callback(env, s->actx, recv, cb, 2, argv, NULL) != napi_ok) {
		bool pending = false;

		napi_is_exception_pending(env, &pending);
		if (pending) {
			napi_value exc;

			napi_get_and_clear_last_exception(env, &exc);
			napi_fatal_exception(env, exc);
		}
	}
	napi_close_handle_scope(env, scope);
}

/* streamWatch(stream, events, callback): poll for @events (1 readable,
 * 2 writable; 0 stops), calling callback(status, events) on each; a
 * callback given replaces the last. */
static napi_value js_stream_watch(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct stream *s;
	unsigned events;
	uv_loop_t *loop;
	int r;

	if (arg_stream(env, argv[0], &s) < 0 ||
	    arg_u32(env, argv[1], "events", &events) < 0)
		return NULL;
	if (!is_absent(env, argv[2])) {
		if (s->cb)
			napi_delete_reference(env, s->cb);
		s->cb = NULL;
		if (check_napi(env, napi_create_reference(env, argv[2], 1, &s->cb)))
			return NULL;
	}
	if (!s->poll_live) {
		if (!events)
			return NULL;
		napi_get_uv_event_loop(env, &loop);
		r = uv_poll_init(loop, &s->poll, s->fd);
		if (r < 0)
			return throw_msb(env, r, "cannot poll the stream: %s",
					 uv_strerror(r));
		s->poll_live = 1;
	}
	r = events ? uv_poll_start(&s->poll,
				   (events & 1 ? UV_READABLE : 0) |
					   (events & 2 ? UV_WRITABLE : 0),
				   on_poll) :
		     uv_poll_stop(&s->poll);
	if (r < 0)
		return throw_msb(env, r, "cannot poll the stream: %s",
				 uv_strerror(r));
	return NULL;
}

/* streamWritable(stream): whether a write would be taken now. */
static napi_value js_stream_writable(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct stream *s;
	struct pollfd p;

	if (arg_stream(env, argv[0], &s) < 0)
		return NULL;
	p.fd = s->fd;
	p.events = POLLOUT;
	p.revents = 0;
	return js_bool(env, poll(&p, 1, 0) == 1 && (p.revents & POLLOUT));
}

/* streamFree(stream): the end of it (a command still running is hung
 * up; a file operation not done is abandoned). Freeing twice is fine. */
static napi_value js_stream_free(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct stream *s;
	bool ok = false;

	if (!is_absent(env, argv[0]))
		napi_check_object_type_tag(env, argv[0], &stream_tag, &ok);
	if (ok && napi_get_value_external(env, argv[0], (void **)&s) == napi_ok)
		stream_release(s);
	return NULL;
}

/* ---- exec ----------------------------------------------------------------------------- */

static napi_value throw_err(napi_env env, int r, const msb_error *err)
{
	napi_throw(env, make_error(env, err->code ? err->code : r, err->message));
	return NULL;
}

static napi_value buffer_of(napi_env env, const uint8_t *data, size_t len)
{
	napi_value buf;
	void *copy;

	napi_create_buffer_copy(env, len, len ? data : (const uint8_t *)"", &copy,
				&buf);
	return buf;
}

/* execNext(stream): the next event held or readable now, or null. */
static napi_value js_exec_next(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct stream *s;
	msb_exec_event ev;
	msb_error err = { 0 };
	napi_value o, nul;
	int r;

	if (arg_stream(env, argv[0], &s) < 0)
		return NULL;
	if (!s->e)
		return throw_msb(env, MSB_E_INVALID, "not an exec stream");
	r = msb_exec_next(s->e, &ev, 0, &err);
	if (r < 0)
		return throw_err(env, r, &err);
	if (r == 0) {
		napi_get_null(env, &nul);
		return nul;
	}
	napi_create_object(env, &o);
	switch (ev.type) {
	case MSB_EXEC_STARTED:
		set_str(env, o, "type", "started");
		set_num(env, o, "pid", ev.pid);
		break;
	case MSB_EXEC_STDOUT:
	case MSB_EXEC_STDERR:
		set_str(env, o, "type",
			ev.type == MSB_EXEC_STDOUT ? "stdout" : "stderr");
		set_val(env, o, "data", buffer_of(env, ev.data, ev.len));
		break;
	case MSB_EXEC_EXIT:
		set_str(env, o, "type", "exit");
		set_num(env, o, "exitCode", ev.exit_code);
		set_num(env, o, "signal", ev.signal);
		set_bool(env, o, "timedOut", ev.timed_out);
		break;
	case MSB_EXEC_PAUSED:
	case MSB_EXEC_RESUMED:
		set_str(env, o, "type",
			ev.type == MSB_EXEC_PAUSED ? "paused" : "resumed");
		/* (libmsb ends the words with a NUL) */
		set_str(env, o, "message", (const char *)ev.data);
		break;
	}
	return o;
}

static struct stream *exec_arg(napi_env env, napi_value v)
{
	struct stream *s;

	if (arg_stream(env, v, &s) < 0)
		return NULL;
	if (!s->e) {
		throw_msb(env, MSB_E_INVALID, "not an exec stream");
		return NULL;
	}
	return s;
}

/* execWrite(stream, buffer): stdin, sent whole (call it once the stream
 * polls writable, with at most 48 KiB, and it does not block). */
static napi_value js_exec_write(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct stream *s = exec_arg(env, argv[0]);
	msb_error err = { 0 };
	void *data;
	size_t len;
	int r;

	if (!s || arg_buffer(env, argv[1], &data, &len) < 0)
		return NULL;
	r = msb_exec_write(s->e, data, len, &err);
	return r < 0 ? throw_err(env, r, &err) : NULL;
}

static napi_value js_exec_close_stdin(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct stream *s = exec_arg(env, argv[0]);
	msb_error err = { 0 };
	int r;

	if (!s)
		return NULL;
	r = msb_exec_close_stdin(s->e, &err);
	return r < 0 ? throw_err(env, r, &err) : NULL;
}

/* execSignal(stream, signal): to the command's process group. */
static napi_value js_exec_signal(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct stream *s = exec_arg(env, argv[0]);
	msb_error err = { 0 };
	int sig, r;

	if (!s || arg_i32(env, argv[1], "signal", &sig) < 0)
		return NULL;
	r = msb_exec_signal(s->e, sig, &err);
	return r < 0 ? throw_err(env, r, &err) : NULL;
}

/* execResize(stream, rows, cols) */
static napi_value js_exec_resize(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct stream *s = exec_arg(env, argv[0]);
	msb_error err = { 0 };
	unsigned rows, cols;
	int r;

	if (!s || arg_u32(env, argv[1], "rows", &rows) < 0 ||
	    arg_u32(env, argv[2], "cols", &cols) < 0)
		return NULL;
	r = msb_exec_resize(s->e, rows, cols, &err);
	return r < 0 ? throw_err(env, r, &err) : NULL;
}

/* ---- files --------------------------------------------------------------------------- */

static struct stream *file_arg(napi_env env, napi_value v)
{
	struct stream *s;

	if (arg_stream(env, v, &s) < 0)
		return NULL;
	if (!s->f) {
		throw_msb(env, MSB_E_INVALID, "not a file stream");
		return NULL;
	}
	return s;
}

/* fileNext(stream): the next event held or readable now, or null. */
static napi_value js_file_next(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct stream *s = file_arg(env, argv[0]);
	msb_file_event ev;
	msb_error err = { 0 };
	napi_value o, nul;
	int r;

	if (!s)
		return NULL;
	r = msb_file_next(s->f, &ev, 0, &err);
	if (r < 0)
		return throw_err(env, r, &err);
	if (r == 0) {
		napi_get_null(env, &nul);
		return nul;
	}
	napi_create_object(env, &o);
	switch (ev.type) {
	case MSB_FILE_DATA:
		set_str(env, o, "type", "data");
		set_val(env, o, "data", buffer_of(env, ev.data, ev.len));
		break;
	case MSB_FILE_ENTRY:
		set_str(env, o, "type", "entry");
		set_val(env, o, "entry", file_info_js(env, ev.entry));
		break;
	case MSB_FILE_DONE:
		set_str(env, o, "type", "done");
		set_num(env, o, "size", (double)ev.size);
		break;
	}
	return o;
}

/* fileWrite(stream, buffer): a write's data, as execWrite. */
static napi_value js_file_write(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct stream *s = file_arg(env, argv[0]);
	msb_error err = { 0 };
	void *data;
	size_t len;
	int r;

	if (!s || arg_buffer(env, argv[1], &data, &len) < 0)
		return NULL;
	r = msb_file_write(s->f, data, len, &err);
	return r < 0 ? throw_err(env, r, &err) : NULL;
}

static napi_value js_file_close_write(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct stream *s = file_arg(env, argv[0]);
	msb_error err = { 0 };
	int r;

	if (!s)
		return NULL;
	r = msb_file_close_write(s->f, &err);
	return r < 0 ? throw_err(env, r, &err) : NULL;
}

msb_events *stream_events(napi_env env, napi_value v)
{
	struct stream *s;

	if (arg_stream(env, v, &s) < 0)
		return NULL;
	if (!s->ev) {
		throw_msb(env, MSB_E_INVALID, "not an events stream");
		return NULL;
	}
	return s->ev;
}

const struct export stream_exports[] = {
	{ "execStart", js_exec_start },
	{ "execNext", js_exec_next },
	{ "execWrite", js_exec_write },
	{ "execCloseStdin", js_exec_close_stdin },
	{ "execSignal", js_exec_signal },
	{ "execResize", js_exec_resize },
	{ "fileOpen", js_file_open },
	{ "fileNext", js_file_next },
	{ "fileWrite", js_file_write },
	{ "fileCloseWrite", js_file_close_write },
	{ "streamWatch", js_stream_watch },
	{ "streamWritable", js_stream_writable },
	{ "streamFree", js_stream_free },
	{ NULL, NULL },
};
