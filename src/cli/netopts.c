/* SPDX-License-Identifier: Apache-2.0 */
/* netopts.c - msb run's network flags, into an msb_net_config
 *
 * The values are checked by the library (msb_sandbox_create), which says
 * which flag and value it refused.
 */

#include <stdlib.h>
#include <string.h>

#include "netopts.h"

#define VALUES_MAX 256

struct strv {
	const char *v[VALUES_MAX + 1];
	size_t n;
};

static struct strv allow, allow_cidr, block_cidr, ports, allow_host;

/* split() - "a,b,c" appended to @l; empty items ("", "a,,b", ",") are
 * kept, for the library to refuse with the flag's name: dropping them
 * would turn "--net-allow $UNSET" into no restriction at all. */
static int split(struct strv *l, const char *arg)
{
	char *copy = strdup(arg), *tok, *comma;

	if (!copy)
		return -1;
	for (tok = copy;; tok = comma + 1) {
		comma = strchr(tok, ',');
		if (comma)
			*comma = '\0';
		if (l->n == VALUES_MAX)
			return -1;
		l->v[l->n++] = tok; /* lives as long as the process */
		if (!comma)
			break;
	}
	l->v[l->n] = NULL;
	return 0;
}

int netopts_take(msb_net_config *nc, int opt, const char *arg)
{
	struct strv *l;

	switch (opt) {
	case OPT_NET_ALLOW:
		l = &allow;
		nc->allow = allow.v;
		break;
	case OPT_NET_ALLOW_CIDR:
		l = &allow_cidr;
		nc->allow_cidr = allow_cidr.v;
		break;
	case OPT_NET_BLOCK_CIDR:
		l = &block_cidr;
		nc->block_cidr = block_cidr.v;
		break;
	case OPT_NET_ALLOW_HOST:
		l = &allow_host;
		nc->allow_host = allow_host.v;
		break;
	case OPT_NET_DENY_ALL:
		nc->deny_all = 1;
		return 1;
	case OPT_DNS_NAMESERVER:
		nc->dns_nameserver = arg;
		return 1;
	case OPT_NET_PLUGIN:
		nc->plugin = arg;
		return 1;
	case OPT_PUBLISH:
		/* One port a flag, as docker's -p. */
		if (ports.n == VALUES_MAX)
			return -1;
		ports.v[ports.n++] = arg;
		ports.v[ports.n] = NULL;
		nc->ports = ports.v;
		return 1;
	default:
		return 0;
	}
	return split(l, arg) < 0 ? -1 : 1;
}
