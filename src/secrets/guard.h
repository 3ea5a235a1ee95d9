/* SPDX-License-Identifier: Apache-2.0 */
/* guard.h - the secrets filter: a flow's plaintext HTTP/1.1 requests with
 * placeholders swapped for values where every condition holds, and a
 * violation (blocked, logged or let through with the placeholder) anywhere
 * else
 *
 * A placeholder becomes its value only when all of these hold for the
 * request it is in (issue 5, docs/secrets.md):
 *   - the flow is TLS the stack intercepted and verified upstream (@tls),
 *   - its SNI is one of the secret's hosts,
 *   - our resolver gave the destination address for that SNI
 *     (msb_flow_info.resolved_sni: the DNS-to-IP binding),
 *   - the request's Host is the SNI.
 * A request holding a placeholder of a secret for which one of them fails
 * is a violation. It plugs into a flow through src/tls/filter.h.
 */
#ifndef MSB_SECRETS_GUARD_H
#define MSB_SECRETS_GUARD_H

#include "filter.h"
#include "msb_net_plugin.h"
#include "secrets.h"

enum guard_mode {
	GUARD_BLOCK, /* answer 403, log the rule, reset the flow (default) */
	GUARD_LOG,   /* send the request with the placeholder, log it */
	GUARD_ALLOW, /* send the request with the placeholder, silently */
};

/* guard_mode_parse() - "block", "log" or "allow". Return: 0 or -EINVAL. */
int guard_mode_parse(const char *s, enum guard_mode *out);

/**
 * struct guard_env - what every flow's guard shares (the supervisor's)
 * @vault: the secrets
 * @mode:  what a violation gets
 * @log:   one line in the sandbox's log; never given a value
 * @ctx:   for @log and @on_http
 * @on_http: a plugin's hook, asked first about every request (NULL: none);
 *         returns MSB_HTTP_FORWARD, BLOCK or MODIFY
 * @on_http_response: a plugin's hook on every answer (NULL: none), shown
 *         each answer scrubbed and held until it decides (guard_resp.c);
 *         with it, requests ask for uncompressed answers
 * @on_http_response_head: an observer of every answer's head (NULL:
 *         none), told as the head comes from the server, scrubbed, with
 *         body NULL and body_streamed the body's length (0: none;
 *         SIZE_MAX: not known yet); it answers nothing, and nothing of
 *         the answer is held for it
 */
struct guard_env {
	const struct msb_vault *vault;
	enum guard_mode mode;
	void (*log)(void *ctx, const char *line);
	void *ctx;
	int (*on_http)(void *ctx, const struct msb_http_request *req,
		       struct msb_http_action *act);
	int (*on_http_response)(void *ctx,
				const struct msb_http_response *resp,
				struct msb_http_response_action *act);
	void (*on_http_response_head)(void *ctx,
				      const struct msb_http_response *resp);
};

/* The filter's operations; its state comes from guard_new(). */
extern const struct msb_flow_filter guard_filter;

/**
 * guard_new() - a guard for one flow
 * @env:  shared, outlives the flow
 * @info: the flow, copied
 * @tls:  the flow is intercepted TLS (plaintext here); 0: plain TCP
 *
 * Return: the state for guard_filter's operations, or NULL (no memory)
 */
void *guard_new(const struct guard_env *env, const struct msb_flow_info *info,
		int tls);

#endif
