/* SPDX-License-Identifier: Apache-2.0 */
/* ratelimit.c - the rate-limiter built-in: execs and connections a
 * second, and the bytes a second of the guest's network
 *
 * `--plugin rate-limiter[:exec=N,connect=N,bytes=RATE]` refuses an exec
 * (exec_before) or a new guest flow (connect) beyond N a second, each a
 * token bucket holding up to N tokens, refilled at N a second (so a burst
 * of N passes after a quiet second). bytes=RATE is a bucket of the same
 * shape on the guest's link, each way, kept by the network stack itself
 * (net_set_byte_rate(): a byte is not a hook call) and set by the
 * supervisor from this plugin's options. Unset rates are unlimited; with
 * no option at all the defaults are exec=100 and connect=100.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "util.h"

#define DEFAULT_RATE 100

struct bucket {
	double rate;    /* per second; 0: unlimited */
	double tokens;
	uint64_t at_us; /* when tokens was last brought up to date */
};

struct limiter {
	pthread_mutex_t mu;
	struct bucket exec, conn;
};

static int limiter_open(json_object *opts, const struct builtin_env *env,
			void **st, uint32_t *hooks, uint64_t *fs_ops,
			char *why, size_t wn)
{
	struct limiter *l = calloc(1, sizeof(*l));
	int any = 0;

	if (!l) {
		snprintf(why, wn, "rate-limiter: out of memory");
		return -1;
	}
	json_object_object_foreach(opts, k, v) {
		double *d;

		if (!strcmp(k, "bytes")) {
			uint64_t bps;

			if (ratelimit_bytes_check(json_object_get_string(v),
						  &bps, why, wn) < 0) {
				free(l);
				return -1;
			}
			any = 1;
			continue;
		}
		d = !strcmp(k, "exec") ? &l->exec.rate :
			    !strcmp(k, "connect") ? &l->conn.rate :
						    NULL;

		if (!d) {
			snprintf(why, wn, "rate-limiter: unknown option '%s' "
				 "(exec=N, connect=N, bytes=RATE: a second)",
				 k);
			free(l);
			return -1;
		}
		if (ratelimit_rate(k, json_object_get_string(v), d, why,
				   wn) < 0) {
			free(l);
			return -1;
		}
		any = 1;
	}
	if (!any)
		l->exec.rate = l->conn.rate = DEFAULT_RATE;
	l->exec.tokens = l->exec.rate;
	l->conn.tokens = l->conn.rate;
	l->exec.at_us = l->conn.at_us = msb_now_us();
	pthread_mutex_init(&l->mu, NULL);
	*hooks = 0;
	if (l->exec.rate)
		*hooks |= 1u << HOOK_EXEC_BEFORE;
	if (l->conn.rate)
		*hooks |= 1u << HOOK_CONNECT;
	*st = l;
	return 0;
}

/* take() - one token from @b if it has one. Return: 1 taken, 0 not. */
static int take(struct bucket *b)
{
	uint64_t now = msb_now_us();

	b->tokens += (double)(now - b->at_us) / 1e6 * b->rate;
	if (b->tokens > b->rate)
		b->tokens = b->rate;
	b->at_us = now;
	if (b->tokens < 1)
		return 0;
	b->tokens -= 1;
	return 1;
}

static void limiter_hook(void *st, enum hook_id h, json_object *args,
			 struct hook_reply *r)
{
	struct limiter *l = st;
	struct bucket *b = h == HOOK_EXEC_BEFORE ? &l->exec :
			   h == HOOK_CONNECT ? &l->conn :
					       NULL;
	int ok;

	if (!b || !r || !b->rate)
		return;
	pthread_mutex_lock(&l->mu);
	ok = take(b);
	pthread_mutex_unlock(&l->mu);
	if (ok)
		return;
	r->verdict = HV_DENY;
	snprintf(r->reason, sizeof(r->reason), "more than %g %s a second",
		 b->rate, h == HOOK_EXEC_BEFORE ? "execs" : "connections");
}

static void limiter_close(void *st)
{
	struct limiter *l = st;

	pthread_mutex_destroy(&l->mu);
	free(l);
}

const struct builtin builtin_rate_limiter = {
	.name = "rate-limiter",
	.open = limiter_open,
	.hook = limiter_hook,
	.close = limiter_close,
};
