/* SPDX-License-Identifier: Apache-2.0 */
/* progress.c - libmsb's progress reports, delivered to a JS callback
 *
 * An image pull or load, a push or pull, a copy and a project's up, down,
 * stop or restart tell how they go through a callback libmsb calls from
 * the threads doing the work, one call at a time, with strings that live
 * only during the call (msb.h). Each report is copied there into one
 * allocation and queued on the call's thread-safe function, which is the
 * callback's ctx; Node-API hands the reports to the JS callback on the
 * loop's thread in the order they were queued. The call that made the
 * function releases it once libmsb has returned, and its finalizer
 * settles the call's promise: Node-API runs it only after every queued
 * report was delivered, so a caller sees each report before the call's
 * result, and none after. What the callback throws does not stop the
 * call, and never reaches Node as an uncaught exception: it is dropped
 * here (lib/progress.js turns it into a process warning first).
 */

#include <stdlib.h>
#include <string.h>

#include "addon.h"

struct report;
typedef napi_value (*report_js)(napi_env env, const struct report *r);

/* The head of every queued report; the event and its strings follow. */
struct report {
	report_js js;   /* the report as the JS callback's argument */
	char *text;     /* where report_str() copies the next string */
};

/* text_len() - the room @s takes in a report (none for NULL). */
static size_t text_len(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* report_new() - a zeroed report of @size bytes (its struct report first)
 * with @text bytes after it for its strings; NULL when out of memory (the
 * report is then dropped: the call goes on). */
static void *report_new(size_t size, size_t text, report_js js)
{
	struct report *r = calloc(1, size + text);

	if (!r)
		return NULL;
	r->js = js;
	r->text = (char *)r + size;
	return r;
}

/* report_str() - @s copied into @r's room; NULL stays NULL. */
static const char *report_str(struct report *r, const char *s)
{
	char *to = r->text;
	size_t n = text_len(s);

	if (!s)
		return NULL;
	memcpy(to, s, n);
	r->text += n;
	return to;
}

/* report_send() - queue @report (NULL: none, for want of memory) on the
 * thread-safe function @ctx; called on libmsb's thread. The queue has no
 * bound, so this never waits. */
static void report_send(void *ctx, void *report)
{
	if (report && napi_call_threadsafe_function(ctx, report,
			napi_tsfn_blocking) != napi_ok)
		free(report);
}

/* On the loop's thread: the JS callback with one report. @env is NULL
 * when the environment is going away; the report is then only freed. */
static void deliver(napi_env env, napi_value fn, void *context, void *data)
{
	struct report *r = data;

	if (env && fn) {
		napi_value v = r->js(env, r), undef, ret, ex;
		bool pending = false;

		napi_get_undefined(env, &undef);
		if (v)
			napi_call_function(env, undef, fn, 1, &v, &ret);
		/* A callback that throws does not stop the call. */
		napi_is_exception_pending(env, &pending);
		if (pending)
			napi_get_and_clear_last_exception(env, &ex);
	}
	free(r);
}

int progress_open(napi_env env, napi_value fn, void *job,
		  napi_finalize settle, napi_threadsafe_function *out)
{
	napi_valuetype t = napi_undefined;
	napi_value name;

	*out = NULL;
	napi_typeof(env, fn, &t);
	if (t != napi_function) {
		throw_msb(env, MSB_E_INVALID, "progress is a function");
		return -1;
	}
	napi_create_string_utf8(env, "msb_progress", NAPI_AUTO_LENGTH, &name);
	return check_napi(env, napi_create_threadsafe_function(env, fn, NULL,
			  name, 0, 1, job, settle, job, deliver, out));
}

/* ---- image pulls and loads ----------------------------------------------------- */

struct pull_report {
	struct report r;
	msb_pull_progress ev; /* its strings in the report */
};

static napi_value pull_event_js(napi_env env, const msb_pull_progress *p)
{
	napi_value o, nul;

	napi_create_object(env, &o);
	napi_get_null(env, &nul);
	set_str(env, o, "phase", p->phase ? p->phase : "");
	set_val(env, o, "digest", p->digest ? js_str(env, p->digest) : nul);
	set_num(env, o, "done", (double)p->done);
	set_num(env, o, "total", (double)p->total);
	set_num(env, o, "index", p->index);
	set_num(env, o, "count", p->count);
	return o;
}

static napi_value pull_js(napi_env env, const struct report *r)
{
	return pull_event_js(env, &((const struct pull_report *)r)->ev);
}

void progress_pull(void *ctx, const msb_pull_progress *p)
{
	struct pull_report *c = report_new(sizeof(*c), text_len(p->phase) +
					   text_len(p->digest), pull_js);

	if (c) {
		c->ev = *p;
		c->ev.phase = report_str(&c->r, p->phase);
		c->ev.digest = report_str(&c->r, p->digest);
	}
	report_send(ctx, c);
}

/* ---- pushes and pulls ------------------------------------------------------------ */

struct sync_report {
	struct report r;
	msb_sync_progress ev;    /* ev.image, when set, is &image */
	msb_pull_progress image;
};

static napi_value sync_js(napi_env env, const struct report *r)
{
	const msb_sync_progress *p = &((const struct sync_report *)r)->ev;
	napi_value o, nul;

	napi_create_object(env, &o);
	napi_get_null(env, &nul);
	set_str(env, o, "phase", p->phase ? p->phase : "");
	set_num(env, o, "done", (double)p->done);
	set_num(env, o, "total", (double)p->total);
	set_num(env, o, "chunksDone", p->chunks_done);
	set_num(env, o, "chunksTotal", p->chunks_total);
	set_val(env, o, "image", p->image ? pull_event_js(env, p->image) : nul);
	return o;
}

void progress_sync(void *ctx, const msb_sync_progress *p)
{
	const msb_pull_progress *img = p->image;
	size_t text = text_len(p->phase) +
		      (img ? text_len(img->phase) + text_len(img->digest) : 0);
	struct sync_report *c = report_new(sizeof(*c), text, sync_js);

	if (c) {
		c->ev = *p;
		c->ev.phase = report_str(&c->r, p->phase);
		if (img) {
			c->image = *img;
			c->image.phase = report_str(&c->r, img->phase);
			c->image.digest = report_str(&c->r, img->digest);
			c->ev.image = &c->image;
		}
	}
	report_send(ctx, c);
}

/* ---- copies ----------------------------------------------------------------------- */

struct copy_report {
	struct report r;
	const char *path;     /* the guest path, in the report */
	uint64_t done, total;
};

static napi_value copy_js(napi_env env, const struct report *r)
{
	const struct copy_report *c = (const struct copy_report *)r;
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "path", c->path ? c->path : "");
	set_num(env, o, "done", (double)c->done);
	set_num(env, o, "total", (double)c->total);
	return o;
}

void progress_copy(void *ctx, const char *path, uint64_t done, uint64_t total)
{
	struct copy_report *c = report_new(sizeof(*c), text_len(path), copy_js);

	if (c) {
		c->path = report_str(&c->r, path);
		c->done = done;
		c->total = total;
	}
	report_send(ctx, c);
}

/* ---- projects ---------------------------------------------------------------------- */

struct project_report {
	struct report r;
	msb_project_event ev; /* its strings in the report */
};

static napi_value project_js(napi_env env, const struct report *r)
{
	const msb_project_event *e = &((const struct project_report *)r)->ev;
	napi_value o;

	napi_create_object(env, &o);
	if (e->sandbox)
		set_str(env, o, "sandbox", e->sandbox);
	else
		set_val(env, o, "sandbox", js_undefined(env));
	set_str(env, o, "name", e->name ? e->name : "");
	set_str(env, o, "what", e->what ? e->what : "");
	set_num(env, o, "ms", (double)e->ms);
	if (e->detail)
		set_str(env, o, "detail", e->detail);
	return o;
}

void progress_project(void *ctx, const msb_project_event *e)
{
	struct project_report *c = report_new(sizeof(*c), text_len(e->sandbox) +
		text_len(e->name) + text_len(e->what) + text_len(e->detail),
		project_js);

	if (c) {
		c->ev = *e;
		c->ev.sandbox = report_str(&c->r, e->sandbox);
		c->ev.name = report_str(&c->r, e->name);
		c->ev.what = report_str(&c->r, e->what);
		c->ev.detail = report_str(&c->r, e->detail);
	}
	report_send(ctx, c);
}
