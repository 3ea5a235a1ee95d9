/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.c - a network plugin (include/msb_net_plugin.h), loaded and called
 *
 * One plugin per sandbox, loaded by the supervisor before the VM starts.
 * Its hooks run after the policy (they can only narrow it) and their
 * answers are bounded like the guest's input: at most MSB_NET_DNS_ADDRS
 * addresses, verdicts outside the enum are taken as a denial.
 */

#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "msb_net_plugin.h"
#include "stack.h"

static void host_log(void *ctx, const char *msg)
{
	struct net *n = ctx;

	/* (A plugin may log from its open function, before it has a name.) */
	net_logf(n, "net: plugin %s: %s", n->plugin ? n->plugin->name : "",
		 msg);
}

static int host_emit(void *ctx, const uint8_t *frame, size_t len)
{
	struct net *n = ctx;
	uint8_t *f;

	if (len < ETH_HLEN || len > NET_FRAME_MAX)
		return -1;
	f = net_frame_begin(n, len);
	if (!f)
		return -1;
	memcpy(f, frame, len);
	net_frame_commit(n, f, len);
	return 0;
}

int net_plugin_load(struct net *n, const char *path, char *why, size_t len)
{
	struct msb_net_host *host = &n->plugin_host;
	msb_net_plugin_open_fn open_fn;
	const struct msb_net_plugin *p;
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!dl) {
		snprintf(why, len, "cannot load network plugin: %s", dlerror());
		return -1;
	}
	*(void **)&open_fn = dlsym(dl, MSB_NET_PLUGIN_ENTRY);
	if (!open_fn) {
		snprintf(why, len, "network plugin %s has no %s function",
			 path, MSB_NET_PLUGIN_ENTRY);
		dlclose(dl);
		return -1;
	}
	host->ctx = n;
	host->log = host_log;
	host->emit_frame = host_emit;
	n->plugin_state = NULL;
	p = open_fn(host, &n->plugin_state);
	if (!p || (p->abi != MSB_NET_PLUGIN_ABI && p->abi != 2) || !p->name) {
		snprintf(why, len, "network plugin %s %s", path,
			 !p ? "refused to start" :
			 !p->name ? "has no name" :
				    "was built for another ABI version "
				    "(rebuild it against msb_net_plugin.h)");
		if (p && p->close)
			p->close(n->plugin_state);
		dlclose(dl);
		return -1;
	}
	n->plugin = p;
	n->plugin_dl = dl;
	return 0;
}

void plugin_unload(struct net *n)
{
	if (!n->plugin)
		return;
	if (n->plugin->close)
		n->plugin->close(n->plugin_state);
	n->plugin = NULL;
	dlclose(n->plugin_dl);
	n->plugin_dl = NULL;
}

int plugin_frame(struct net *n, const uint8_t *frame, size_t len)
{
	if (!n->plugin || !n->plugin->on_frame)
		return MSB_NET_ALLOW;
	return n->plugin->on_frame(n->plugin_state, frame, len) ==
			       MSB_NET_ALLOW ?
		       MSB_NET_ALLOW :
		       MSB_NET_DENY;
}

int net_plugin_has_http(const struct net *n)
{
	return n->plugin && n->plugin->abi >= 3 && n->plugin->on_http;
}

int net_plugin_http(struct net *n, const struct msb_http_request *req,
		    struct msb_http_action *act)
{
	int v;

	if (!net_plugin_has_http(n))
		return MSB_HTTP_FORWARD;
	memset(act, 0, sizeof(*act));
	v = n->plugin->on_http(n->plugin_state, req, act);
	act->reason[sizeof(act->reason) - 1] = '\0';
	if (v == MSB_HTTP_MODIFY && !act->body && act->body_len)
		v = MSB_HTTP_BLOCK; /* a body promised and not given */
	return v == MSB_HTTP_BLOCK || v == MSB_HTTP_MODIFY ? v :
							     MSB_HTTP_FORWARD;
}

int plugin_connect(struct net *n, int proto, const struct net_addr *dst,
		   uint16_t port)
{
	struct msb_net_addr a = { .family = dst->family };

	if (!n->plugin || !n->plugin->on_connect)
		return MSB_NET_ALLOW;
	memcpy(a.addr, dst->b, 16);
	return n->plugin->on_connect(n->plugin_state, proto, &a, port) ==
			       MSB_NET_ALLOW ?
		       MSB_NET_ALLOW :
		       MSB_NET_DENY;
}

int plugin_dns(struct net *n, const char *name, uint16_t qtype,
	       struct net_addr *addr, unsigned *naddr)
{
	struct msb_net_addr got[MSB_NET_DNS_ADDRS];
	unsigned k = 0;
	int v;

	*naddr = 0;
	if (!n->plugin || !n->plugin->on_dns)
		return MSB_NET_ALLOW;
	memset(got, 0, sizeof(got));
	v = n->plugin->on_dns(n->plugin_state, name, qtype, got, &k);
	if (v != MSB_NET_ANSWER)
		return v == MSB_NET_ALLOW ? MSB_NET_ALLOW : MSB_NET_DENY;
	if (k > MSB_NET_DNS_ADDRS)
		k = MSB_NET_DNS_ADDRS;
	/* Only well-formed addresses: a family the stack knows. */
	for (unsigned i = 0; i < k; i++) {
		if (got[i].family != 4 && got[i].family != 6)
			continue;
		addr[*naddr].family = got[i].family;
		memcpy(addr[*naddr].b, got[i].addr, 16);
		if (got[i].family == 4)
			memset(addr[*naddr].b + 4, 0, 12);
		(*naddr)++;
	}
	return v;
}
