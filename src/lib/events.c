/* SPDX-License-Identifier: Apache-2.0 */
/* events.c - a sandbox's events from the host: read, follow, send
 * (docs/events.md). A reader has a connection of its own. */

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "client.h"
#include "jsonx.h"
#include "util.h"

struct msb_events {
	struct msb_conn c;
	int64_t id;
	int done;
	uint64_t next;
	json_object *cur;   /* the message the last event points into */
};

/* json_value() - @text as one JSON value (0, *@out; NULL for null), or
 * -1 if it is not exactly one */
static int json_value(const char *text, json_object **out)
{
	json_tokener *tok = json_tokener_new_ex(64);
	size_t n = strlen(text), at;
	int r = -1;

	*out = NULL;
	if (!tok)
		return -1;
	/* the terminator too: it ends a bare number */
	*out = json_tokener_parse_ex(tok, text, (int)n + 1);
	if (json_tokener_get_error(tok) == json_tokener_success) {
		at = json_tokener_get_parse_end(tok);
		while (at < n && strchr(" \t\r\n", text[at]))
			at++;
		r = at >= n ? 0 : -1;
	}
	json_tokener_free(tok);
	if (r < 0) {
		json_object_put(*out);
		*out = NULL;
	}
	return r;
}

int msb_events_open(const char *name, const char *topic, int64_t since,
		    int follow, msb_events **out, msb_error *err)
{
	msb_events *e;
	json_object *req, *p;
	int r;

	*out = NULL;
	if (since < -1)
		return msb_fail(err, MSB_E_INVALID,
				"since is an event's seq, 0 for the oldest "
				"kept or -1 for only those to come");
	e = calloc(1, sizeof(*e));
	if (!e)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = msb_conn_open_named(name, &e->c, err);
	if (r < 0) {
		free(e);
		return r;
	}
	e->id = e->c.next_id++;
	req = json_object_new_object();
	p = json_object_new_object();
	json_object_object_add(p, "since", json_object_new_int64(since));
	json_object_object_add(p, "follow", json_object_new_boolean(follow));
	if (topic && *topic)
		json_object_object_add(p, "topic", json_object_new_string(topic));
	json_object_object_add(req, "id", json_object_new_int64(e->id));
	json_object_object_add(req, "method", json_object_new_string("events"));
	json_object_object_add(req, "params", p);
	r = msb_conn_send(&e->c, req, err);
	json_object_put(req);
	if (r < 0) {
		msb_events_free(e);
		return r;
	}
	*out = e;
	return 0;
}

int msb_events_fd(const msb_events *e)
{
	return e->c.fd;
}

uint64_t msb_events_next_seq(const msb_events *e)
{
	return e->next;
}

int msb_events_next(msb_events *e, msb_event *ev, int timeout_ms,
		    msb_error *err)
{
	memset(ev, 0, sizeof(*ev));
	json_object_put(e->cur);
	e->cur = NULL;
	for (;;) {
		json_object *msg, *o;
		int r;

		if (e->done)
			return msb_fail(err, MSB_E_STOPPED,
					"no more events: the log was read to "
					"its end, or the sandbox stopped");
		r = msb_conn_recv(&e->c, &msg, timeout_ms, err);
		if (r <= 0) {
			if (r == -EPIPE)
				e->done = 1;
			return r;
		}
		if (msb_jget(msg, "error")) {
			r = msb_conn_error(msg, err);
			json_object_put(msg);
			e->done = 1;
			return r;
		}
		if (json_object_get_int64(msb_jget(msg, "id")) != e->id) {
			json_object_put(msg);
			continue;
		}
		if ((o = msb_jget(msg, "result"))) {
			e->next = (uint64_t)json_object_get_int64(msb_jget(o, "next"));
			e->done = 1;
			json_object_put(msg);
			continue;
		}
		if ((o = msb_jget(msg, "dropped"))) {
			ev->dropped = (uint64_t)json_object_get_int64(o);
			e->cur = msg;
			return 1;
		}
		o = msb_jget(msg, "event");
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(msg);
			continue;
		}
		e->cur = msg;
		ev->seq = (uint64_t)json_object_get_int64(msb_jget(o, "seq"));
		e->next = ev->seq + 1;
		ev->time = json_object_get_double(msb_jget(o, "time"));
		ev->source = json_object_get_string(msb_jget(o, "source"));
		ev->topic = json_object_get_string(msb_jget(o, "topic"));
		ev->data = json_object_to_json_string_ext(
			msb_jget(o, "data"), JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE);
		ev->json = json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!ev->source || !ev->topic) {
			json_object_put(msg);
			e->cur = NULL;
			return msb_fail(err, MSB_E_PROTOCOL,
					"an event without its source or topic");
		}
		return 1;
	}
}

void msb_events_free(msb_events *e)
{
	if (!e)
		return;
	json_object_put(e->cur);
	msb_conn_close(&e->c);
	free(e);
}

int msb_event_send(const char *name, const char *topic, const char *data,
		   uint64_t *seq, msb_error *err)
{
	struct msb_conn c;
	json_object *p, *d = NULL, *res = NULL;
	int r;

	if (data && *data && json_value(data, &d) < 0) {
		return msb_fail(err, MSB_E_INVALID,
					"the event's data is not one JSON "
					"value: %s", data);
	}
	if (!topic || !*topic)
		return msb_fail(err, MSB_E_INVALID, "an event needs a topic");
	r = msb_conn_open_named(name, &c, err);
	if (r < 0) {
		json_object_put(d);
		return r;
	}
	p = json_object_new_object();
	json_object_object_add(p, "topic", json_object_new_string(topic ? topic : ""));
	json_object_object_add(p, "data", d);
	r = msb_conn_call(&c, "event_send", p, &res, 30000, err);
	msb_conn_close(&c);
	if (r == 0 && seq)
		*seq = (uint64_t)json_object_get_int64(msb_jget(res, "seq"));
	json_object_put(res);
	return r;
}
