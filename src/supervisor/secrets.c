/* SPDX-License-Identifier: Apache-2.0 */
/* secrets.c - the sandbox's secrets in its network: every guest TCP flow
 * of a sandbox with secrets (or a plugin's on_http, on_http_response or
 * http_response_head) goes through the
 * interception filter (src/tls/intercept.h), whose plaintext, TLS or not,
 * goes through the guard (src/secrets/guard.c); the guest trusts the CA
 * the intercepted names are signed with (docs/secrets.md).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ca.h"
#include "guard.h"
#include "hooks.h"
#include "intercept.h"
#include "net.h"
#include "supervisor.h"
#include "util.h"

static void guard_log(void *ctx, const char *line)
{
	sup_log(ctx, "secrets: %s", line);
	/* A request a secret's placeholder was refused for, or sent
	 * without its value (guard.c's "secret NAME: ..." lines). */
	if (!strncmp(line, "secret ", 7)) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "message",
				       json_object_new_string(line));
		sup_event(ctx, "msb.secret.violation", d);
	}
}

/* http_seen() - a plugin sees HTTP: every flow is inspected */
static int http_seen(struct sup *s)
{
	return (s->net && net_plugin_has_http(s->net)) ||
	       sup_hook_wants(s, HOOK_HTTP_RESPONSE_HEAD);
}

static int tls_inspect(void *ctx, const char *sni)
{
	struct sup *s = ctx;

	if (sup_tls_bypassed(s, sni))
		return 0;
	if (http_seen(s))
		return 1; /* the hook sees every request */
	for (size_t i = 0; i < s->vault.n; i++)
		if (secret_host_allowed(&s->vault.s[i].spec, sni))
			return 1;
	return 0;
}

static int tls_resolved(void *ctx, const char *sni,
			const struct sockaddr_storage *dst)
{
	struct sup *s = ctx;
	struct net_addr a = { 0 };

	if (dst->ss_family == AF_INET) {
		a.family = 4;
		memcpy(a.b, &((const struct sockaddr_in *)dst)->sin_addr, 4);
	} else {
		a.family = 6;
		memcpy(a.b, &((const struct sockaddr_in6 *)dst)->sin6_addr,
		       16);
	}
	return net_name_resolved(s->net, sni, &a);
}

static void *tls_inner(void *ctx, const struct msb_flow_info *info, int tls,
		       const struct msb_flow_filter **ops)
{
	struct sup *s = ctx;

	*ops = &guard_filter;
	return guard_new(&s->guard, info, tls);
}

static void tls_log(void *ctx, const char *line)
{
	sup_log(ctx, "%s", line);
}

/* ca_ready() - the home's CA, opened once. Return: 0 or -1 (logged) */
static int ca_ready(struct sup *s)
{
	char dir[4200];
	msb_error err = { 0 };

	if (s->ca)
		return 0;
	snprintf(dir, sizeof(dir), "%s/ca", msb_home());
	if (tls_ca_open(dir, &s->ca, &err) < 0) {
		sup_log(s, "secrets: no interception CA: %s", err.message);
		return -1;
	}
	return 0;
}

/* tls_ready() - what filtered flows share, made at the first. Without
 * the CA (logged once) it is made all the same, without interception: TLS
 * then passes untouched (a placeholder in it is only a string) and plain
 * HTTP is still guarded. Return: 0, or -1 (no memory) */
static int tls_ready(struct sup *s)
{
	struct tls_hooks h = { tls_inspect, tls_resolved, tls_inner, tls_log,
			       s };
	msb_error err = { 0 };

	if (s->tls)
		return 0;
	if (s->tls_failed)
		return -1;
	if (ca_ready(s) < 0)
		sup_log(s, "tls: no interception: secrets are not swapped in "
			   "over TLS (the guard still refuses them elsewhere)");
	if (tls_env_new(s->ca, s->tls_upstream_pem, &h, &s->tls, &err) < 0) {
		sup_log(s, "tls: interception unavailable: %s", err.message);
		s->tls_failed = 1;
		return -1;
	}
	return 0;
}

static int http_response_hook(void *ctx, const struct msb_http_response *resp,
			      struct msb_http_response_action *act)
{
	struct sup *s = ctx;

	return net_plugin_http_response(s->net, resp, act);
}

static void http_response_head_hook(void *ctx,
				    const struct msb_http_response *resp)
{
	sup_hook_http_response_head(ctx, resp);
}

void sup_secrets_prepare(struct sup *s)
{
	/* (the network's plugins are known by now) */
	if (s->net && net_plugin_has_http_response(s->net))
		s->guard.on_http_response = http_response_hook;
	if (sup_hook_wants(s, HOOK_HTTP_RESPONSE_HEAD))
		s->guard.on_http_response_head = http_response_head_hook;
	if (s->vault.n || http_seen(s))
		tls_ready(s);
}

void *sup_flow_filter(void *opaque, const struct net_addr *dst,
		      uint16_t dport, const struct msb_flow_filter **ops)
{
	struct sup *s = opaque;
	struct sockaddr_storage ss = { 0 };

	if (!s->vault.n && !http_seen(s))
		return NULL;
	net_sockaddr(dst, dport, &ss);
	if (tls_ready(s) < 0)
		return NULL;
	*ops = &tls_flow_filter;
	return tls_flow_new(s->tls, &ss);
}

int sup_dns_refused(void *opaque, const char *name, char *why, size_t len)
{
	struct sup *s = opaque;

	/* Any placeholder-shaped label, not only this sandbox's: the name
	 * goes to the upstream resolver, and nothing secret-looking should
	 * (issue 5). */
	if (!s->vault.n || !strcasestr(name, MSB_PLACEHOLDER_PREFIX))
		return 0;
	snprintf(why, len, "its name carries a secret's placeholder");
	return 1;
}

static int http_hook(void *ctx, const struct msb_http_request *req,
		     struct msb_http_action *act)
{
	struct sup *s = ctx;

	return net_plugin_http(s->net, req, act);
}

/* The paths the agent writes (src/agent/trust.h). */
#define GUEST_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define GUEST_CA "/etc/ssl/certs/msb-ca.pem"

void sup_trust_init_tlvs(struct sup *s, struct msb_tlv_w *w)
{
	/* Only a sandbox whose traffic is to be inspected trusts the CA. */
	if (!s->vault.n && !http_seen(s))
		return;
	if (!s->ca_pem) {
		if (ca_ready(s) < 0 || !(s->ca_pem = strdup(tls_ca_pem(s->ca))))
			return;
	}
	msb_tlv_put_str(w, MSB_T_CA_PEM, s->ca_pem);
}

void sup_secrets_free(struct sup *s)
{
	tls_env_free(s->tls);
	tls_ca_free(s->ca);
	s->tls = NULL;
	s->ca = NULL;
	free(s->ca_pem);
	s->ca_pem = NULL;
}

void sup_trust_exec_env(struct sup *s, struct msb_tlv_w *w)
{
	static const char *const env[] = {
		"SSL_CERT_FILE=" GUEST_BUNDLE,
		"REQUESTS_CA_BUNDLE=" GUEST_BUNDLE,
		"CURL_CA_BUNDLE=" GUEST_BUNDLE,
		"GIT_SSL_CAINFO=" GUEST_BUNDLE,
		"NODE_EXTRA_CA_CERTS=" GUEST_CA,
	};

	if (!s->ca_pem)
		return;
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		msb_tlv_put_str(w, MSB_T_ENV, env[i]);
}

int sup_secrets_setup(struct sup *s, msb_error *err)
{
	json_object *v;

	s->guard.on_http = http_hook;
	s->guard.vault = &s->vault;
	s->guard.mode = GUARD_BLOCK;
	s->guard.log = guard_log;
	s->guard.ctx = s;
	if (json_object_object_get_ex(s->config, "secret_violation", &v) &&
	    guard_mode_parse(json_object_get_string(v), &s->guard.mode) < 0)
		return msb_fail(err, -EINVAL,
				"invalid on-secret-violation '%s' in the "
				"record: use block, log or allow",
				json_object_get_string(v));
	return 0;
}
