/* SPDX-License-Identifier: Apache-2.0 */
/* dlp_plugin.c - data loss prevention with on_http: block every request
 * whose body matches a pattern (the seeds' "DLP: PII detected" example).
 *
 *   cc -shared -fPIC -I include examples/dlp_plugin.c -o dlp_plugin.so
 *   msb run --net-plugin ./dlp_plugin.so …
 *   msb logs NAME   # secrets: on_http: request to … blocked: DLP: PII detected
 *
 * The pattern is a POSIX extended regular expression, from MSB_DLP_PATTERN
 * in the environment of whoever starts the sandbox; by default a US social
 * security number (123-45-6789). Requests go through on_http on plain HTTP
 * today (docs/secrets.md).
 */

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msb_net_plugin.h>

#define DEFAULT_PATTERN "(^|[^0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}([^0-9]|$)"
#define BODY_MAX (8 << 20)

struct state {
	const struct msb_net_host *host;
	regex_t re;
	unsigned long blocked;
};

static int on_http(void *st, const struct msb_http_request *req,
		   struct msb_http_action *act)
{
	struct state *s = st;
	char *text;
	int hit;

	if (!req->body_len || req->body_len > BODY_MAX)
		return MSB_HTTP_FORWARD;
	/* regexec wants a string; a NUL in the body ends what is searched */
	text = malloc(req->body_len + 1);
	if (!text) {
		snprintf(act->reason, sizeof(act->reason),
			 "DLP: out of memory, refused");
		return MSB_HTTP_BLOCK;
	}
	memcpy(text, req->body, req->body_len);
	text[req->body_len] = '\0';
	hit = regexec(&s->re, text, 0, NULL, 0) == 0;
	free(text);
	if (!hit)
		return MSB_HTTP_FORWARD;
	s->blocked++;
	snprintf(act->reason, sizeof(act->reason), "DLP: PII detected");
	return MSB_HTTP_BLOCK;
}

static void plugin_close(void *st)
{
	struct state *s = st;
	char line[100];

	snprintf(line, sizeof(line), "plugin dlp: %lu requests blocked",
		 s->blocked);
	s->host->log(s->host->ctx, line);
	regfree(&s->re);
	free(s);
}

static const struct msb_net_plugin plugin = {
	.abi = MSB_NET_PLUGIN_ABI,
	.name = "dlp",
	.on_http = on_http,
	.close = plugin_close,
};

const struct msb_net_plugin *msb_net_plugin_open(
	const struct msb_net_host *host, void **state)
{
	const char *pat = getenv("MSB_DLP_PATTERN");
	struct state *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->host = host;
	if (regcomp(&s->re, pat && *pat ? pat : DEFAULT_PATTERN,
		    REG_EXTENDED | REG_NOSUB) != 0) {
		host->log(host->ctx, "plugin dlp: MSB_DLP_PATTERN is not a "
				     "valid extended regular expression");
		free(s);
		return NULL;
	}
	*state = s;
	return &plugin;
}
