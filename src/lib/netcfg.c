/* SPDX-License-Identifier: Apache-2.0 */
/* netcfg.c - a sandbox's network rules, from msb_net_config to its record
 *
 * The rules are checked with the stack's own parser (src/net/policy.c), so
 * a bad one fails msb_sandbox_create() before anything is made, with the
 * flag's name in the message.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcfg.h"
#include "policy.h"
#include "util.h"

struct list {
	const char *key, *kind;
	const char *const *(*get)(const msb_net_config *nc);
};

static const char *const *get_allow(const msb_net_config *nc)
{
	return nc->allow;
}

static const char *const *get_allow_cidr(const msb_net_config *nc)
{
	return nc->allow_cidr;
}

static const char *const *get_block_cidr(const msb_net_config *nc)
{
	return nc->block_cidr;
}

static const struct list lists[] = {
	{ "allow", "allow", get_allow },
	{ "allow_cidr", "allow-cidr", get_allow_cidr },
	{ "block_cidr", "block-cidr", get_block_cidr },
};

#define NLISTS (sizeof(lists) / sizeof(lists[0]))

/* dns_ok() - "IPv4" or "IPv4:PORT" */
static int dns_ok(const char *s)
{
	struct net_cidr ip;
	char host[64], *end;
	const char *colon = strchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	long port = 53;

	if (hl >= sizeof(host))
		return 0;
	snprintf(host, sizeof(host), "%.*s", (int)hl, s);
	if (colon) {
		port = strtol(colon + 1, &end, 10);
		if (!colon[1] || *end)
			return 0;
	}
	return !strchr(host, '/') && net_cidr_parse(host, &ip) == 0 &&
	       ip.family == 4 && port >= 1 && port <= 65535;
}

int msb_net_config_check(const msb_net_config *nc, msb_error *err)
{
	struct net_policy *p = calloc(1, sizeof(*p));
	char why[512];

	if (!p)
		return msb_fail(err, -ENOMEM, "out of memory");
	net_policy_init(p);
	for (size_t i = 0; i < NLISTS; i++) {
		for (const char *const *v = lists[i].get(nc); v && *v; v++) {
			if (net_policy_add(p, lists[i].kind, *v, why,
					   sizeof(why)) < 0) {
				free(p);
				return msb_fail(err, -EINVAL, "%s", why);
			}
		}
	}
	free(p);
	if (nc->dns_nameserver && !dns_ok(nc->dns_nameserver))
		return msb_fail(err, -EINVAL,
				"invalid --dns-nameserver '%s': use an IPv4 "
				"address, optionally with :PORT",
				nc->dns_nameserver);
	return 0;
}

json_object *msb_net_config_json(const msb_net_config *nc)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < NLISTS; i++) {
		json_object *a = json_object_new_array();

		for (const char *const *v = lists[i].get(nc); v && *v; v++)
			json_object_array_add(a, json_object_new_string(*v));
		json_object_object_add(o, lists[i].key, a);
	}
	json_object_object_add(o, "deny_all",
			       json_object_new_boolean(nc->deny_all));
	if (nc->dns_nameserver)
		json_object_object_add(o, "dns", json_object_new_string(
							 nc->dns_nameserver));
	return o;
}
