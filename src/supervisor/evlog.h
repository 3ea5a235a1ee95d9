/* SPDX-License-Identifier: Apache-2.0 */
/* evlog.h - a sandbox's event log: bounded, ordered, each event numbered
 *
 * Every event of a running sandbox, whoever sent it (docs/events.md), in
 * the order the supervisor took it, as the JSON object readers get:
 *   {"seq":N,"time":T,"source":"guest"|"host"|"msb","topic":..,"data":..}
 * At most EVLOG_MAX events and EVLOG_BYTES of them are kept; the oldest
 * go first, and a reader that falls behind them is told how many it
 * missed. Nothing here reads a clock or a socket, so a fuzzer drives it.
 */
#ifndef MSB_SUP_EVLOG_H
#define MSB_SUP_EVLOG_H

#include <stddef.h>
#include <stdint.h>

#define EVLOG_MAX 4096
#define EVLOG_BYTES (4u << 20)

enum evlog_source { EVS_MSB, EVS_GUEST, EVS_HOST };

struct evrec {
	uint64_t seq;
	char *json;     /* the whole event object, one line, NUL-terminated */
	size_t len;
	char topic[129];
};

struct evlog {
	struct evrec r[EVLOG_MAX];
	unsigned head, n;  /* the oldest kept, how many */
	size_t bytes;
	uint64_t next;     /* the next event's seq (the first is 1) */
};

void evlog_init(struct evlog *l);
void evlog_free(struct evlog *l);

/**
 * evlog_add() - keep an event
 * @topic:  valid (msb_topic_ok), NUL-terminated
 * @data:   one JSON value, as plain JSON text (already checked); NULL: null
 * @time_ns: wall clock, ns since the epoch
 *
 * Return: its seq, or 0 when out of memory (nothing kept).
 */
uint64_t evlog_add(struct evlog *l, enum evlog_source src, const char *topic,
		   const char *data, int64_t time_ns);

/**
 * evlog_guest() - an event the guest sent (a GEVENT payload), checked as
 * hostile bytes: a valid TLV payload, a topic not of the sandbox's own
 * ('msb.', but the agent's msb.oom), data that is one JSON value (nested
 * at most 32 deep), re-serialised before it is kept
 *
 * Return: its seq, or 0 with @why (@n bytes) saying what was wrong.
 */
uint64_t evlog_guest(struct evlog *l, const uint8_t *p, size_t n,
		     int64_t time_ns, char *why, size_t wn);

/* evlog_oldest() - the seq of the oldest event kept (evlog.next if none) */
uint64_t evlog_oldest(const struct evlog *l);

/* evlog_get() - the event numbered @seq, or NULL if not kept */
const struct evrec *evlog_get(const struct evlog *l, uint64_t seq);

/* evlog_match() - @topic is chosen by @filter: "" (all), the same topic,
 * or "prefix.*" (every topic that begins with "prefix."). */
int evlog_match(const char *filter, const char *topic);

/* evlog_json_value() - @text (@n bytes) parsed as one JSON value (at most
 * 32 deep) and written again as plain JSON text into a new string.
 * Return: it (free it), or NULL if @text is not one JSON value. */
char *evlog_json_value(const char *text, size_t n);

#endif
