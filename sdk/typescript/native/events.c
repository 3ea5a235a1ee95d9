/* SPDX-License-Identifier: Apache-2.0 */
/* events.c - a sandbox's events (docs/events.md) from Node
 *
 * A reader is a connection of its own (msb_events_open()): opened in the
 * thread pool (it connects to the supervisor), then handed to streams.c
 * as a stream whose descriptor a uv_poll_t watches; lib/events.js asks
 * eventsNext() with a zero timeout on each wake-up, so no thread waits
 * for events and the loop never blocks. Sending (msb_event_send()) waits
 * for the supervisor's answer: in the thread pool too.
 */

#include <stdlib.h>
#include <string.h>

#include "addon.h"

struct ev_job {
	napi_async_work work;
	napi_deferred deferred;
	struct arena a;
	/* arguments */
	const char *name, *topic, *data;
	int64_t since;
	int follow;
	/* results */
	int r;
	msb_error err;
	msb_events *ev;
	uint64_t seq;
};

#define ARGS(n)                                                                \
	size_t argc = (n);                                                     \
	napi_value argv[(n)];                                                  \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

static void job_free(napi_env env, struct ev_job *j)
{
	if (j->work)
		napi_delete_async_work(env, j->work);
	msb_events_free(j->ev);
	arena_free(&j->a);
	free(j);
}

static void open_run(napi_env env, void *data)
{
	struct ev_job *j = data;

	j->r = msb_events_open(j->name, j->topic, j->since, j->follow, &j->ev,
			       &j->err);
}

static void send_run(napi_env env, void *data)
{
	struct ev_job *j = data;

	j->r = msb_event_send(j->name, j->topic, j->data, &j->seq, &j->err);
}

static void job_done(napi_env env, napi_status status, void *data)
{
	struct ev_job *j = data;
	napi_value v = NULL;

	if (status != napi_ok) {
		v = make_error(env, -ECANCELED, "the call was cancelled");
	} else if (j->r < 0) {
		v = make_error(env, j->err.code ? j->err.code : j->r,
			       j->err.message);
	} else if (j->ev) {
		napi_value s = stream_wrap_events(env, j->ev);

		j->ev = NULL; /* the stream owns it now (or freed it) */
		if (s) {
			napi_resolve_deferred(env, j->deferred, s);
			job_free(env, j);
			return;
		}
		napi_get_and_clear_last_exception(env, &v);
	} else {
		napi_resolve_deferred(env, j->deferred, js_num(env, (double)j->seq));
		job_free(env, j);
		return;
	}
	napi_reject_deferred(env, j->deferred, v);
	job_free(env, j);
}

static napi_value job_start(napi_env env, struct ev_job *j,
			    napi_async_execute_callback run)
{
	napi_value promise, name;

	if (check_napi(env, napi_create_promise(env, &j->deferred, &promise))) {
		job_free(env, j);
		return NULL;
	}
	napi_create_string_utf8(env, "microsandbox:events", NAPI_AUTO_LENGTH,
				&name);
	if (napi_create_async_work(env, NULL, name, run, job_done, j,
				   &j->work) != napi_ok ||
	    napi_queue_async_work(env, j->work) != napi_ok) {
		job_free(env, j);
		return throw_msb(env, -ENOMEM, "could not queue the call");
	}
	return promise;
}

/* eventsOpen(name, topic, since, follow): a promise of the reader's
 * stream. @topic null: every topic; @since -1: only those to come. */
static napi_value js_events_open(napi_env env, napi_callback_info info)
{
	ARGS(4);
	struct ev_job *j = calloc(1, sizeof(*j));
	double since = -1;

	if (!j)
		return throw_msb(env, -ENOMEM, "out of memory");
	if (arg_str(env, argv[0], &j->a, "name", &j->name) < 0 ||
	    arg_str(env, argv[1], &j->a, "topic", &j->topic) < 0 ||
	    arg_bool(env, argv[3], &j->follow) < 0)
		goto fail;
	if (!j->name) {
		throw_msb(env, MSB_E_INVALID, "a sandbox's name is needed");
		goto fail;
	}
	if (!is_absent(env, argv[2]) &&
	    (napi_get_value_double(env, argv[2], &since) != napi_ok ||
	     since != (double)(int64_t)since || since < -1 ||
	     since > 9007199254740991.0)) {
		throw_msb(env, MSB_E_INVALID,
			  "since is an event's seq, 0 for the oldest kept or "
			  "-1 for only those to come");
		goto fail;
	}
	j->since = (int64_t)since;
	return job_start(env, j, open_run);
fail:
	job_free(env, j);
	return NULL;
}

/* eventSend(name, topic, json): a promise of the event's seq. */
static napi_value js_event_send(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct ev_job *j = calloc(1, sizeof(*j));

	if (!j)
		return throw_msb(env, -ENOMEM, "out of memory");
	if (arg_str(env, argv[0], &j->a, "name", &j->name) < 0 ||
	    arg_str(env, argv[1], &j->a, "topic", &j->topic) < 0 ||
	    arg_str(env, argv[2], &j->a, "data", &j->data) < 0) {
		job_free(env, j);
		return NULL;
	}
	if (!j->name) {
		job_free(env, j);
		return throw_msb(env, MSB_E_INVALID, "a sandbox's name is needed");
	}
	return job_start(env, j, send_run);
}

/* eventsNext(stream): the next event held or readable now, or null;
 * { dropped } when the log moved past events this reader missed,
 * { end: true } once there are no more (MSB_E_STOPPED: the log read to
 * its end without follow, or the sandbox stopped); throws on failure. */
static napi_value js_events_next(napi_env env, napi_callback_info info)
{
	ARGS(1);
	msb_events *e = stream_events(env, argv[0]);
	msb_event ev;
	msb_error err = { 0 };
	napi_value o;
	int r;

	if (!e)
		return NULL;
	r = msb_events_next(e, &ev, 0, &err);
	if (r == MSB_E_STOPPED) {
		napi_create_object(env, &o);
		set_bool(env, o, "end", 1);
		return o;
	}
	if (r < 0) {
		napi_throw(env, make_error(env, err.code ? err.code : r,
					   err.message));
		return NULL;
	}
	if (r == 0) {
		napi_get_null(env, &o);
		return o;
	}
	napi_create_object(env, &o);
	if (ev.dropped) {
		set_num(env, o, "dropped", (double)ev.dropped);
		return o;
	}
	set_num(env, o, "seq", (double)ev.seq);
	set_num(env, o, "time", ev.time);
	set_str(env, o, "source", ev.source);
	set_str(env, o, "topic", ev.topic);
	set_str(env, o, "data", ev.data ? ev.data : "null");
	return o;
}

const struct export events_exports[] = {
	{ "eventsOpen", js_events_open },
	{ "eventsNext", js_events_next },
	{ "eventSend", js_event_send },
	{ NULL, NULL },
};
