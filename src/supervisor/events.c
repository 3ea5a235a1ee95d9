/* SPDX-License-Identifier: Apache-2.0 */
/* events.c - the sandbox's events: the log, its readers, both directions
 *
 * Theory of operation (docs/events.md): every event, the guest's
 * (GEVENT frames), the host's (API "event_send", passed on to the guest
 * as EVENT) and the supervisor's own ("msb.*"), goes into one bounded
 * log (evlog.h) in the order the supervisor took it. A reader ("events")
 * gets what the log holds from the seq it asks for; a follower then gets
 * each later one as its connection has room (out-queue below CONN_LOW),
 * from its own cursor, so a slow reader costs no memory: when the log
 * has moved past its cursor it is told how many it missed. The guest
 * may add at most EV_GUEST_RATE events a second (a token bucket); those
 * refused are counted and said in an msb.events.dropped event (at most
 * one a second, when the guest's next event is taken, and at the end).
 */

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evlog.h"
#include "supervisor.h"
#include "util.h"

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sup_events_setup(struct sup *s)
{
	s->events = malloc(sizeof(*s->events));
	if (!s->events)
		return -ENOMEM;
	evlog_init(s->events);
	s->ev_tokens = EV_GUEST_RATE;
	s->ev_refill_us = msb_now_us();
	return 0;
}

void sup_events_free(struct sup *s)
{
	if (!s->events)
		return;
	evlog_free(s->events);
	free(s->events);
	s->events = NULL;
}

/* pump_all() - every follower, after the log grew */
static void pump_all(struct sup *s)
{
	for (int i = 0; i < CONN_SLOTS; i++)
		if (s->conns[i] && s->conns[i]->ev_follow)
			sup_events_pump(s, s->conns[i]);
}

void sup_event(struct sup *s, const char *topic, json_object *data)
{
	const char *txt = data ? json_object_to_json_string_ext(
					 data, JSON_C_TO_STRING_PLAIN |
					 JSON_C_TO_STRING_NOSLASHESCAPE) :
				 NULL;

	if (s->events && evlog_add(s->events, EVS_MSB, topic, txt, wall_ns()))
		pump_all(s);
	json_object_put(data);
}

/* say_dropped() - the guest events refused since the last time */
static void say_dropped(struct sup *s)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "dropped",
			       json_object_new_int64((int64_t)s->ev_dropped));
	json_object_object_add(d, "total", json_object_new_int64(
					   (int64_t)s->ev_dropped_total));
	json_object_object_add(d, "why", json_object_new_string(
		"the guest sent events faster than the limit of 2000 a "
		"second"));
	s->ev_dropped = 0;
	sup_event(s, "msb.events.dropped", d);
}

void sup_events_guest(struct sup *s, const uint8_t *p, uint32_t n)
{
	uint64_t now = msb_now_us();
	char why[256];

	if (!s->events)
		return;
	s->ev_tokens += (double)(now - s->ev_refill_us) * EV_GUEST_RATE / 1e6;
	if (s->ev_tokens > EV_GUEST_RATE)
		s->ev_tokens = EV_GUEST_RATE;
	s->ev_refill_us = now;
	if (s->ev_tokens < 1) {
		s->ev_dropped++;
		s->ev_dropped_total++;
		return;
	}
	s->ev_tokens -= 1;
	/* said at most once a second, so a flood does not fill the log
	 * with its own count */
	if (s->ev_dropped && now - s->ev_said_us >= 1000000) {
		s->ev_said_us = now;
		say_dropped(s);
	}
	if (!evlog_guest(s->events, p, n, wall_ns(), why, sizeof(why))) {
		sup_log(s, "events: an event from the guest dropped: %s", why);
		return;
	}
	pump_all(s);
}

/* put_line() - @id's message with @body ("event":{..} or "dropped":N)
 * at the end of @c's out-queue */
static int put_line(struct conn *c, const char *key, const char *body,
		    size_t n)
{
	char head[96];
	int k = snprintf(head, sizeof(head), "{\"id\":%lld,\"%s\":",
			 (long long)c->ev_id, key);

	if (msb_buf_append(&c->out, head, (size_t)k) < 0 ||
	    msb_buf_append(&c->out, body, n) < 0 ||
	    msb_buf_append(&c->out, "}\n", 2) < 0) {
		c->closing = 1;
		return -1;
	}
	return 0;
}

/* fill() - @c's events from its cursor, while its queue is below @room.
 * Return: 1 if all the log holds was given. */
static int fill(struct sup *s, struct conn *c, size_t room)
{
	struct evlog *l = s->events;

	while (c->ev_next < l->next && c->out.len < room && !c->closing) {
		const struct evrec *r;

		if (c->ev_next < evlog_oldest(l)) {
			char num[32];
			int k = snprintf(num, sizeof(num), "%llu",
					 (unsigned long long)(evlog_oldest(l) -
							      c->ev_next));

			put_line(c, "dropped", num, (size_t)k);
			c->ev_next = evlog_oldest(l);
			continue;
		}
		r = evlog_get(l, c->ev_next++);
		if (r && evlog_match(c->ev_topic, r->topic))
			put_line(c, "event", r->json, r->len);
	}
	return c->ev_next >= l->next;
}

void sup_events_pump(struct sup *s, struct conn *c)
{
	if (!c->ev_follow || c->ev_pumping || !s->events)
		return;
	c->ev_pumping = 1;
	for (;;) {
		int all = fill(s, c, CONN_LOW);
		size_t before = c->out.len;

		/* written as far as the socket takes; EPOLLOUT armed for
		 * the rest, which brings this back */
		api_flush(s, c);
		if (all || c->closing || c->out.len >= CONN_LOW ||
		    c->out.len == before)
			break;
	}
	c->ev_pumping = 0;
}

static void end_reply(struct sup *s, struct conn *c, int64_t id)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "next", json_object_new_int64(
					  (int64_t)c->ev_next));
	api_reply_result(s, c, id, r);
}

void sup_events_request(struct sup *s, struct conn *c, int64_t id,
			json_object *p)
{
	json_object *v;
	int64_t since = 0;
	const char *topic = "";

	if (c->ev_follow) {
		api_reply_error(s, c, id, "invalid_request",
				"this connection already follows the events");
		return;
	}
	if (p && json_object_object_get_ex(p, "since", &v) && v) {
		if (!json_object_is_type(v, json_type_int) ||
		    (since = json_object_get_int64(v)) < -1) {
			api_reply_error(s, c, id, "invalid_params",
					"since must be an event's seq (0: the "
					"oldest kept, -1: only those to come)");
			return;
		}
	}
	if (p && json_object_object_get_ex(p, "topic", &v) && v) {
		const char *t = json_object_get_string(v);
		size_t n = t ? strlen(t) : 0;
		int ok = json_object_is_type(v, json_type_string) &&
			 (msb_topic_ok((const uint8_t *)t, n) ||
			  (n >= 3 && n <= MSB_TOPIC_MAX && t[n - 1] == '*' &&
			   t[n - 2] == '.' &&
			   msb_topic_ok((const uint8_t *)t, n - 1)));

		if (!ok) {
			api_reply_error(s, c, id, "invalid_params",
					"topic must be a topic (1-128 of "
					"A-Z a-z 0-9 . _ : / -) or 'prefix.*'");
			return;
		}
		topic = t;
	}
	snprintf(c->ev_topic, sizeof(c->ev_topic), "%s", topic);
	c->ev_id = id;
	c->ev_next = since < 0 ? s->events->next :
		     since == 0 ? evlog_oldest(s->events) : (uint64_t)since;
	if (p && json_object_object_get_ex(p, "follow", &v) &&
	    json_object_get_boolean(v)) {
		c->ev_follow = 1;
		sup_events_pump(s, c);
		return;
	}
	/* All at once: the log is bounded (EVLOG_BYTES). */
	fill(s, c, (size_t)-1);
	end_reply(s, c, id);
}

void sup_events_close(struct sup *s, struct conn *c)
{
	if (!c->ev_follow || !s->events)
		return;
	c->ev_follow = 0;
	fill(s, c, (size_t)-1);
	end_reply(s, c, c->ev_id);
}

void sup_events_send(struct sup *s, struct conn *c, int64_t id,
		     json_object *p)
{
	uint8_t buf[MSB_EVDATA_MAX + 512];
	struct msb_tlv_w w;
	json_object *v, *r;
	const char *topic = NULL, *data = "null";
	char *norm = NULL;
	uint64_t seq;
	int64_t now = wall_ns();

	if (p && json_object_object_get_ex(p, "topic", &v) &&
	    json_object_is_type(v, json_type_string))
		topic = json_object_get_string(v);
	if (!topic || !msb_topic_ok((const uint8_t *)topic, strlen(topic)) ||
	    !strncmp(topic, "msb.", 4)) {
		api_reply_error(s, c, id, "invalid_params",
				"event_send needs a topic: 1-128 characters of "
				"A-Z a-z 0-9 . _ : / -, not beginning with "
				"'msb.'");
		return;
	}
	if (json_object_object_get_ex(p, "data", &v) && v)
		data = json_object_to_json_string_ext(
			v, JSON_C_TO_STRING_PLAIN |
				   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (strlen(data) > MSB_EVDATA_MAX) {
		api_reply_error(s, c, id, "invalid_params",
				"an event's data is at most 32 KiB of JSON");
		return;
	}
	if (s->state != ST_RUNNING || sup_diskfull_paused(s)) {
		api_reply_error(s, c, id, "not_running",
				"the sandbox's guest is not running: events "
				"are sent to a running one");
		return;
	}
	norm = strdup(data);
	seq = norm ? evlog_add(s->events, EVS_HOST, topic, norm, now) : 0;
	if (!seq) {
		free(norm);
		api_reply_error(s, c, id, "internal", "out of memory");
		return;
	}
	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_TOPIC, topic);
	msb_tlv_put_str(&w, MSB_T_DATA, norm);
	msb_tlv_put_u64(&w, MSB_T_SEQ, seq);
	msb_tlv_put_u64(&w, MSB_T_TIME, (uint64_t)now);
	free(norm);
	agent_send(s, 0, MSB_F_EVENT, buf, w.len);
	r = json_object_new_object();
	json_object_object_add(r, "seq", json_object_new_int64((int64_t)seq));
	api_reply_result(s, c, id, r);
	pump_all(s);
}
