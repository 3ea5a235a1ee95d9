/* SPDX-License-Identifier: Apache-2.0 */
/* net_plugin.c - a network plugin: log every DNS query, deny one name,
 * answer another, refuse one port, count the guest's frames.
 *
 *   cc -shared -fPIC -I include examples/net_plugin.c -o net_plugin.so
 *   msb run --net-plugin ./net_plugin.so -- nslookup example.com
 *   msb logs NAME     # net: plugin example: dns example.com (type 1) ...
 *
 * The names and port are the example's own: blocked.test gets NXDOMAIN,
 * plugin.test resolves to 192.0.2.77 and 2001:db8::77 (no upstream
 * asked), and connections
 * to port 9 (discard) are refused.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msb_net_plugin.h>

struct state {
	const struct msb_net_host *host;
	unsigned long frames;
};

static int on_dns(void *st, const char *name, uint16_t qtype,
		  struct msb_net_addr *addrs, unsigned *naddrs)
{
	struct state *s = st;
	char line[300];

	snprintf(line, sizeof(line), "dns %s (type %u)", name, qtype);
	s->host->log(s->host->ctx, line);
	if (!strcmp(name, "blocked.test"))
		return MSB_NET_DENY;
	if (!strcmp(name, "plugin.test")) {
		/* Both families: the stack keeps the asked type's. */
		static const struct msb_net_addr a4 = { 4, { 192, 0, 2, 77 } },
			a6 = { 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x77 } };

		addrs[0] = a4;
		addrs[1] = a6;
		*naddrs = 2;
		return MSB_NET_ANSWER;
	}
	return MSB_NET_ALLOW;
}

static int on_connect(void *st, int proto, const struct msb_net_addr *dst,
		      uint16_t port)
{
	return port == 9 ? MSB_NET_DENY : MSB_NET_ALLOW;
}

static int on_frame(void *st, const uint8_t *frame, size_t len)
{
	((struct state *)st)->frames++;
	return MSB_NET_ALLOW; /* the stack handles it */
}

static void on_close(void *st)
{
	struct state *s = st;
	char line[64];

	snprintf(line, sizeof(line), "%lu frames seen", s->frames);
	s->host->log(s->host->ctx, line);
	free(s);
}

static const struct msb_net_plugin plugin = {
	.abi = MSB_NET_PLUGIN_ABI,
	.name = "example",
	.on_dns = on_dns,
	.on_connect = on_connect,
	.on_frame = on_frame,
	.close = on_close,
};

const struct msb_net_plugin *msb_net_plugin_open(
	const struct msb_net_host *host, void **state)
{
	struct state *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->host = host;
	*state = s;
	return &plugin;
}
