/* SPDX-License-Identifier: Apache-2.0 */
/* secrets.c - the sandbox's secrets in its network: which flows the guard
 * (src/secrets/guard.c) watches
 *
 * Today: plain HTTP, every guest TCP flow to port 80, so a placeholder sent
 * there is a violation (docs/secrets.md). Intercepted TLS flows are to get
 * the guard on their plaintext once the interception lands.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ca.h"
#include "guard.h"
#include "net.h"
#include "supervisor.h"
#include "util.h"

static void guard_log(void *ctx, const char *line)
{
	sup_log(ctx, "secrets: %s", line);
}

void *sup_flow_filter(void *opaque, const struct net_addr *dst,
		      uint16_t dport, const struct msb_flow_filter **ops)
{
	struct sup *s = opaque;
	struct msb_flow_info info = { 0 };

	if (dport != 80 || (!s->vault.n && !net_plugin_has_http(s->net)))
		return NULL;
	if (dst->family == 4) {
		struct sockaddr_in *a = (struct sockaddr_in *)&info.dst;

		a->sin_family = AF_INET;
		a->sin_port = htons(dport);
		memcpy(&a->sin_addr, dst->b, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&info.dst;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(dport);
		memcpy(&a->sin6_addr, dst->b, 16);
	}
	*ops = &guard_filter;
	return guard_new(&s->guard, &info, 0);
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
	char dir[4200];
	struct tls_ca *ca;
	msb_error err = { 0 };

	/* Only a sandbox whose traffic is to be inspected trusts the CA. */
	if (!s->vault.n && !net_plugin_has_http(s->net))
		return;
	if (!s->ca_pem) {
		snprintf(dir, sizeof(dir), "%s/ca", msb_home());
		if (tls_ca_open(dir, &ca, &err) < 0) {
			sup_log(s, "secrets: no interception CA: %s",
				err.message);
			return;
		}
		s->ca_pem = strdup(tls_ca_pem(ca));
		tls_ca_free(ca);
		if (!s->ca_pem)
			return;
	}
	msb_tlv_put_str(w, MSB_T_CA_PEM, s->ca_pem);
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
