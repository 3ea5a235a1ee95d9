/* SPDX-License-Identifier: Apache-2.0 */
/* evlog.c - a sandbox's event log (evlog.h) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "evlog.h"
#include "proto.h"

#define JSON_DEPTH 32

static const char *const source_name[] = { "msb", "guest", "host" };

void evlog_init(struct evlog *l)
{
	memset(l, 0, sizeof(*l));
	l->next = 1;
}

static void drop_oldest(struct evlog *l)
{
	struct evrec *r = &l->r[l->head];

	l->bytes -= r->len;
	free(r->json);
	r->json = NULL;
	l->head = (l->head + 1) % EVLOG_MAX;
	l->n--;
}

void evlog_free(struct evlog *l)
{
	while (l->n)
		drop_oldest(l);
}

uint64_t evlog_add(struct evlog *l, enum evlog_source src, const char *topic,
		   const char *data, int64_t time_ns)
{
	size_t need = strlen(topic) + (data ? strlen(data) : 4) + 160;
	char *json = malloc(need);
	struct evrec *r;
	int k;

	if (!json)
		return 0;
	/* topic is [A-Za-z0-9._:/-] only: nothing in it needs escaping */
	k = snprintf(json, need,
		     "{\"seq\":%llu,\"time\":%lld.%06lld,\"source\":\"%s\","
		     "\"topic\":\"%s\",\"data\":%s}",
		     (unsigned long long)l->next,
		     (long long)(time_ns / 1000000000),
		     (long long)(time_ns % 1000000000 / 1000),
		     source_name[src], topic, data ? data : "null");
	if (k < 0 || (size_t)k >= need) {
		free(json);
		return 0;
	}
	while (l->n && (l->n == EVLOG_MAX || l->bytes + (size_t)k > EVLOG_BYTES))
		drop_oldest(l);
	r = &l->r[(l->head + l->n) % EVLOG_MAX];
	r->seq = l->next++;
	r->json = json;
	r->len = (size_t)k;
	snprintf(r->topic, sizeof(r->topic), "%s", topic);
	l->bytes += r->len;
	l->n++;
	return r->seq;
}

char *evlog_json_value(const char *text, size_t n)
{
	json_tokener *tok;
	json_object *o = NULL;
	char *buf, *out = NULL;

	if (n > MSB_EVDATA_MAX || memchr(text, 0, n))
		return NULL;
	buf = malloc(n + 1);
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!buf || !tok)
		goto out;
	memcpy(buf, text, n);
	buf[n] = 0;
	/* The terminator is given too: it ends a bare number ("12"), which
	 * json-c would otherwise wait to see continue. */
	o = json_tokener_parse_ex(tok, buf, (int)n + 1);
	if (json_tokener_get_error(tok) == json_tokener_success) {
		size_t at = json_tokener_get_parse_end(tok);

		/* one whole value: only blanks after it */
		while (at < n && strchr(" \t\r\n", buf[at]))
			at++;
		if (at >= n && !o)
			out = strdup("null"); /* json-c's null is no object */
		else if (at >= n)
			out = strdup(json_object_to_json_string_ext(
				o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE));
	}
out:
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	free(buf);
	return out;
}

uint64_t evlog_guest(struct evlog *l, const uint8_t *p, size_t n,
		     int64_t time_ns, char *why, size_t wn)
{
	struct msb_event_rec ev;
	char topic[MSB_TOPIC_MAX + 1], *data = NULL;
	uint64_t seq;

	if (msb_event_parse(p, n, &ev) < 0) {
		snprintf(why, wn, "not a valid event (topic, data)");
		return 0;
	}
	memcpy(topic, ev.topic, ev.topic_len);
	topic[ev.topic_len] = 0;
	if (!strncmp(topic, "msb.", 4) && strcmp(topic, "msb.oom")) {
		snprintf(why, wn, "topic %s is the sandbox's own", topic);
		return 0;
	}
	if (ev.data) {
		data = evlog_json_value((const char *)ev.data, ev.data_len);
		if (!data) {
			snprintf(why, wn, "the data of %s is not one JSON value",
				 topic);
			return 0;
		}
	}
	seq = evlog_add(l, EVS_GUEST, topic, data, time_ns);
	free(data);
	if (!seq)
		snprintf(why, wn, "out of memory");
	return seq;
}

uint64_t evlog_oldest(const struct evlog *l)
{
	return l->n ? l->r[l->head].seq : l->next;
}

const struct evrec *evlog_get(const struct evlog *l, uint64_t seq)
{
	uint64_t first = evlog_oldest(l);

	if (seq < first || seq >= l->next)
		return NULL;
	return &l->r[(l->head + (seq - first)) % EVLOG_MAX];
}

int evlog_match(const char *filter, const char *topic)
{
	size_t n = strlen(filter);

	if (!n)
		return 1;
	if (n >= 2 && filter[n - 1] == '*' && filter[n - 2] == '.')
		return !strncmp(filter, topic, n - 1);
	return !strcmp(filter, topic);
}
