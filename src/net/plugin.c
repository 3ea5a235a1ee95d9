/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.c - a network plugin (include/msb_net_plugin.h), loaded and called
 *
 * One plugin per sandbox, loaded by the supervisor before the VM starts.
 * Its hooks run after the policy (they can only narrow it) and their
 * answers are bounded like the guest's input: at most MSB_NET_DNS_ADDRS
 * addresses, verdicts outside the enum are taken as a denial.
 */

#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "msb_net_plugin.h"
#include "stack.h"
#include "util.h"

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

int net_plugin_load(struct net *n, const char *path, msb_error *err)
{
	struct msb_net_host *host = &n->plugin_host;
	msb_net_plugin_open_fn open_fn;
	const struct msb_net_plugin *p;
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!dl)
		return msb_fail(err, -EINVAL, "cannot load network plugin: %s",
				dlerror());
	*(void **)&open_fn = dlsym(dl, MSB_NET_PLUGIN_ENTRY);
	if (!open_fn) {
		dlclose(dl);
		return msb_fail(err, -EINVAL, "network plugin %s has no %s "
				"function", path, MSB_NET_PLUGIN_ENTRY);
	}
	host->ctx = n;
	host->log = host_log;
	host->emit_frame = host_emit;
	n->plugin_state = NULL;
	p = open_fn(host, &n->plugin_state);
	if (!p || p->abi < 2 || p->abi > MSB_NET_PLUGIN_ABI || !p->name) {
		msb_fail(err, -EINVAL, "network plugin %s %s", path,
			 !p ? "refused to start" :
			 !p->name ? "has no name" :
				    "was built for another ABI version "
				    "(rebuild it against msb_net_plugin.h)");
		if (p && p->close)
			p->close(n->plugin_state);
		dlclose(dl);
		return -EINVAL;
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

void net_set_hooks(struct net *n, const struct msb_net_plugin *h, void *state)
{
	n->hooks = h;
	n->hooks_state = state;
}

void net_hook_denied_by(struct net *n, const char *who)
{
	snprintf(n->denied_by, sizeof(n->denied_by), "%s", who);
}

static void denied_by_plugin(struct net *n)
{
	snprintf(n->denied_by, sizeof(n->denied_by), "%s", n->plugin->name);
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

static int so_has_http(const struct net *n)
{
	return n->plugin && n->plugin->abi >= 3 && n->plugin->on_http;
}

static int so_has_http_response(const struct net *n)
{
	return n->plugin && n->plugin->abi >= 4 && n->plugin->on_http_response;
}

int net_plugin_has_http_response(const struct net *n)
{
	return so_has_http_response(n) ||
	       (n->hooks && n->hooks->on_http_response);
}

int net_plugin_has_http(const struct net *n)
{
	return so_has_http(n) || (n->hooks && n->hooks->on_http) ||
	       net_plugin_has_http_response(n);
}

/* The loaded plugin first, then the chain, which sees the request as the
 * plugin left it (its new body, if it gave one). */
int net_plugin_http(struct net *n, const struct msb_http_request *req,
		    struct msb_http_action *act)
{
	struct msb_http_request mod;
	int v = MSB_HTTP_FORWARD;

	memset(act, 0, sizeof(*act));
	if (so_has_http(n)) {
		v = n->plugin->on_http(n->plugin_state, req, act);
		act->reason[sizeof(act->reason) - 1] = '\0';
		if (v == MSB_HTTP_MODIFY && !act->body && act->body_len)
			v = MSB_HTTP_BLOCK; /* a body promised and not given */
		if (v != MSB_HTTP_BLOCK && v != MSB_HTTP_MODIFY)
			v = MSB_HTTP_FORWARD;
	}
	if (v == MSB_HTTP_BLOCK || !n->hooks || !n->hooks->on_http)
		return v;
	if (v == MSB_HTTP_MODIFY) {
		mod = *req;
		mod.body = act->body;
		mod.body_len = act->body_len;
		req = &mod;
	}
	{
		struct msb_http_action act2;
		int v2;

		memset(&act2, 0, sizeof(act2));
		v2 = n->hooks->on_http(n->hooks_state, req, &act2);
		if (v2 == MSB_HTTP_FORWARD)
			return v; /* the plugin's body, if it changed it */
		*act = act2;
		act->reason[sizeof(act->reason) - 1] = '\0';
		return v2 == MSB_HTTP_MODIFY ? MSB_HTTP_MODIFY : MSB_HTTP_BLOCK;
	}
}

/* resp_verdict() - @v as one of the three, @act checked: a body or a head
 * promised and not given blocks */
static int resp_verdict(int v, struct msb_http_response_action *act)
{
	act->reason[sizeof(act->reason) - 1] = '\0';
	if (v == MSB_HTTP_MODIFY &&
	    ((!act->body && act->body_len) || (!act->head && act->head_len))) {
		snprintf(act->reason, sizeof(act->reason),
			 "a hook's new answer was promised and not given");
		return MSB_HTTP_BLOCK;
	}
	return v == MSB_HTTP_BLOCK || v == MSB_HTTP_MODIFY ? v :
							     MSB_HTTP_FORWARD;
}

/* As net_plugin_http(): the loaded plugin first, then the chain, which
 * sees the answer as the plugin left it. */
int net_plugin_http_response(struct net *n,
			     const struct msb_http_response *resp,
			     struct msb_http_response_action *act)
{
	struct msb_http_response mod = *resp;
	struct msb_http_response_action act2;
	int v = MSB_HTTP_FORWARD, v2;

	memset(act, 0, sizeof(*act));
	if (so_has_http_response(n)) {
		v = resp_verdict(n->plugin->on_http_response(n->plugin_state,
							     resp, act),
				 act);
		if (v == MSB_HTTP_BLOCK)
			return v;
	}
	if (!n->hooks || !n->hooks->on_http_response)
		return v;
	if (v == MSB_HTTP_MODIFY) {
		if (act->head) {
			mod.head = act->head;
			mod.head_len = act->head_len;
		}
		if (act->body) {
			mod.body = act->body;
			mod.body_len = act->body_len;
		}
	}
	memset(&act2, 0, sizeof(act2));
	v2 = resp_verdict(n->hooks->on_http_response(n->hooks_state, &mod,
						     &act2),
			  &act2);
	if (v2 == MSB_HTTP_FORWARD)
		return v; /* the plugin's changes, if it made any */
	if (v2 == MSB_HTTP_MODIFY && v == MSB_HTTP_MODIFY) {
		/* what the chain left unchanged stays the plugin's */
		if (!act2.head) {
			act2.head = act->head;
			act2.head_len = act->head_len;
		}
		if (!act2.body) {
			act2.body = act->body;
			act2.body_len = act->body_len;
		}
	}
	*act = act2;
	return v2;
}

int plugin_connect(struct net *n, int proto, const struct net_addr *dst,
		   uint16_t port)
{
	struct msb_net_addr a = { .family = dst->family };

	memcpy(a.addr, dst->b, 16);
	if (n->plugin && n->plugin->on_connect &&
	    n->plugin->on_connect(n->plugin_state, proto, &a, port) !=
		    MSB_NET_ALLOW) {
		denied_by_plugin(n);
		return MSB_NET_DENY;
	}
	if (n->hooks && n->hooks->on_connect &&
	    n->hooks->on_connect(n->hooks_state, proto, &a, port) !=
		    MSB_NET_ALLOW)
		return MSB_NET_DENY; /* (the chain named who) */
	return MSB_NET_ALLOW;
}

/* answer() - a hook's addresses, only well-formed ones, into @addr. */
static void answer(const struct msb_net_addr *got, unsigned k,
		   struct net_addr *addr, unsigned *naddr)
{
	if (k > MSB_NET_DNS_ADDRS)
		k = MSB_NET_DNS_ADDRS;
	for (unsigned i = 0; i < k; i++) {
		if (got[i].family != 4 && got[i].family != 6)
			continue;
		addr[*naddr].family = got[i].family;
		memcpy(addr[*naddr].b, got[i].addr, 16);
		if (got[i].family == 4)
			memset(addr[*naddr].b + 4, 0, 12);
		(*naddr)++;
	}
}

static int dns_of(struct net *n, const struct msb_net_plugin *p, void *st,
		  const char *name, uint16_t qtype, struct net_addr *addr,
		  unsigned *naddr)
{
	struct msb_net_addr got[MSB_NET_DNS_ADDRS];
	unsigned k = 0;
	int v;

	memset(got, 0, sizeof(got));
	v = p->on_dns(st, name, qtype, got, &k);
	if (v == MSB_NET_ANSWER) {
		answer(got, k, addr, naddr);
		return v;
	}
	return v == MSB_NET_ALLOW ? MSB_NET_ALLOW : MSB_NET_DENY;
}

int plugin_dns(struct net *n, const char *name, uint16_t qtype,
	       struct net_addr *addr, unsigned *naddr)
{
	int v = MSB_NET_ALLOW;

	*naddr = 0;
	if (n->plugin && n->plugin->on_dns) {
		v = dns_of(n, n->plugin, n->plugin_state, name, qtype, addr,
			   naddr);
		if (v == MSB_NET_DENY)
			denied_by_plugin(n);
		if (v != MSB_NET_ALLOW)
			return v;
	}
	if (n->hooks && n->hooks->on_dns)
		v = dns_of(n, n->hooks, n->hooks_state, name, qtype, addr,
			   naddr);
	return v;
}
