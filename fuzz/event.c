/* SPDX-License-Identifier: Apache-2.0 */
/* event.c - libFuzzer target: events from a hostile guest
 *
 * The input is the payload of GEVENT frames (docs/events.md), several cut
 * from one input at lengths the input gives, each copied to an exactly
 * sized buffer (so AddressSanitizer sees a read past it) and taken by the
 * supervisor's event log as it takes the guest's (evlog_guest): parsed,
 * its topic and JSON data checked. Every event the log keeps must be one
 * JSON object a reader can parse, with the seq the log gave it, and the
 * log must stay within its bounds.
 *
 * Build and run: make build/fuzz/event &&
 *   build/fuzz/event -max_total_time=60
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "evlog.h"
#include "proto.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define CHECK(c)                   \
	do {                       \
		if (!(c))          \
			abort();   \
	} while (0)

static struct evlog log_;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];

	evlog_init(&log_);
	while (size >= 2) {
		size_t n = (size_t)(data[0] << 8 | data[1]) % (size - 1);
		uint8_t *p = malloc(n ? n : 1);
		struct msb_event_rec ev;
		uint64_t seq;

		memcpy(p, data + 2, n);
		if (msb_event_parse(p, n, &ev) == 0) {
			CHECK(ev.topic >= p && ev.topic + ev.topic_len <= p + n);
			CHECK(msb_topic_ok(ev.topic, ev.topic_len));
			CHECK(!ev.data || (ev.data >= p &&
					   ev.data + ev.data_len <= p + n));
		}
		seq = evlog_guest(&log_, p, n, 1700000000123456789LL, why,
				  sizeof(why));
		if (seq) {
			const struct evrec *r = evlog_get(&log_, seq);
			json_object *o;

			CHECK(r && r->seq == seq && strlen(r->json) == r->len);
			o = json_tokener_parse(r->json);
			CHECK(o && json_object_is_type(o, json_type_object));
			CHECK((uint64_t)json_object_get_int64(
				      json_object_object_get(o, "seq")) == seq);
			json_object_put(o);
		} else {
			CHECK(why[0]);
		}
		CHECK(log_.n <= EVLOG_MAX && log_.bytes <= EVLOG_BYTES);
		free(p);
		data += 2 + n;
		size -= 2 + n;
	}
	evlog_free(&log_);
	return 0;
}
