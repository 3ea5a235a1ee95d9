/* SPDX-License-Identifier: Apache-2.0 */
/* dlp_plugin.c - data loss prevention with on_http: block every request
 * whose body matches a pattern (the seeds' "DLP: PII detected" example),
 * and with on_http_response: every match in an answer's body becomes
 * "[redacted]" before the guest reads it.
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
	unsigned long blocked, redacted;
	char *body; /* the last answer's new body: ours until the next */
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

#define REDACTED "[redacted]"

static int on_http_response(void *st, const struct msb_http_response *resp,
			    struct msb_http_response_action *act)
{
	struct state *s = st;
	char *text, *out, *at;
	size_t n = 0, hits = 0;
	regmatch_t m;

	if (!resp->body_len)
		return MSB_HTTP_FORWARD;
	text = malloc(resp->body_len + 1);
	/* each match at most as long as the body: room for them all */
	out = malloc(resp->body_len * (sizeof(REDACTED)) + 1);
	if (!text || !out) {
		free(text);
		free(out);
		snprintf(act->reason, sizeof(act->reason),
			 "DLP: out of memory, refused");
		return MSB_HTTP_BLOCK;
	}
	memcpy(text, resp->body, resp->body_len);
	text[resp->body_len] = '\0';
	for (at = text; *at && regexec(&s->re, at, 1, &m, at == text ? 0 :
				      REG_NOTBOL) == 0 &&
			m.rm_eo > m.rm_so;
	     at += m.rm_eo) {
		memcpy(out + n, at, (size_t)m.rm_so);
		n += (size_t)m.rm_so;
		memcpy(out + n, REDACTED, sizeof(REDACTED) - 1);
		n += sizeof(REDACTED) - 1;
		hits++;
	}
	if (!hits) {
		free(text);
		free(out);
		return MSB_HTTP_FORWARD;
	}
	/* the rest, NULs and all */
	memcpy(out + n, at, resp->body_len - (size_t)(at - text));
	n += resp->body_len - (size_t)(at - text);
	free(text);
	free(s->body);
	s->body = out;
	s->redacted += hits;
	act->body = (const uint8_t *)out;
	act->body_len = n;
	return MSB_HTTP_MODIFY;
}

static void plugin_close(void *st)
{
	struct state *s = st;
	char line[100];

	snprintf(line, sizeof(line),
		 "plugin dlp: %lu requests blocked, %lu matches redacted",
		 s->blocked, s->redacted);
	s->host->log(s->host->ctx, line);
	regfree(&s->re);
	free(s->body);
	free(s);
}

static const struct msb_net_plugin plugin = {
	.abi = MSB_NET_PLUGIN_ABI,
	.name = "dlp",
	.on_http = on_http,
	.close = plugin_close,
	.on_http_response = on_http_response,
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
		    REG_EXTENDED) != 0) {
		host->log(host->ctx, "plugin dlp: MSB_DLP_PATTERN is not a "
				     "valid extended regular expression");
		free(s);
		return NULL;
	}
	*state = s;
	return &plugin;
}
