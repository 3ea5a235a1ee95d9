/* SPDX-License-Identifier: Apache-2.0 */
/* net.c - the supervisor's side of the sandbox network (src/net/)
 *
 * The sandbox's "net" config (written by the library from msb run's
 * --net-* flags) becomes the stack's policy; the stack's end of a
 * socketpair is its link, the other end becomes QEMU's `-netdev stream`
 * (inherited like the agent port's); the stack's one epoll descriptor is
 * watched as EV_NET; INIT tells the agent how to set up eth0.
 *
 *   "net": { "deny_all": bool, "allow": [NAME...], "allow_cidr": [CIDR...],
 *            "block_cidr": [CIDR...], "dns": "IP[:PORT]",
 *            "ports": ["[IP:]HOST:GUEST[/tcp]"...], "plugin": PATH,
 *            "allow_host": [PORT...] }
 *
 * Published ports are bound and the plugin loaded here, before the VM is
 * launched: a taken port or a plugin that does not load fails the start
 * with what to fix, and nothing runs.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net.h"
#include "supervisor.h"
#include "util.h"

/* The guest NIC's MAC, as net_config_default() has it. */
#define GUEST_MAC "52:54:00:12:34:56"

static void net_log(void *opaque, const char *msg)
{
	sup_log(opaque, "%s", msg);
	/* A flow or a name the policy refused is an event too (these lines
	 * are already limited to a number a second, net.c). */
	if (!strncmp(msg, "net: denied ", 12)) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "message",
				       json_object_new_string(msg + 5));
		sup_event(opaque, "msb.net.denied", d);
	}
}

static int add_rules(struct net_config *c, json_object *net, const char *key,
		     const char *kind, msb_error *err)
{
	json_object *a;

	if (!json_object_object_get_ex(net, key, &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *v = json_object_get_string(
			json_object_array_get_idx(a, i));

		if (!v)
			return msb_fail(err, -EINVAL, "bad network rule");
		if (net_policy_add(&c->policy, kind, v, err) < 0)
			return -EINVAL;
	}
	return 0;
}

/* record_port() - a published port as it is bound (a free host port
 * picked for "-p 80"), for the record's runtime: msb ps, inspect, port. */
static void record_port(struct sup *s, const struct net_port *p)
{
	json_object *o = json_object_new_object();
	char ip[64];

	if (!s->ports)
		s->ports = json_object_new_array();
	net_addr_format(&p->bind, ip, sizeof(ip));
	json_object_object_add(o, "host_ip", json_object_new_string(ip));
	json_object_object_add(o, "host_port",
			       json_object_new_int(p->host_port));
	json_object_object_add(o, "guest_port",
			       json_object_new_int(p->guest_port));
	json_object_object_add(o, "proto", json_object_new_string("tcp"));
	json_object_array_add(s->ports, o);
}

/* publish() - the config's published ports and plugin, into the stack */
static int publish(struct sup *s, json_object *net, msb_error *err)
{
	json_object *a, *v;
	int r;

	if (json_object_object_get_ex(net, "ports", &a) &&
	    json_object_is_type(a, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			const char *p = json_object_get_string(
				json_object_array_get_idx(a, i));
			struct net_port port;

			if (!p)
				return msb_fail(err, -EINVAL, "bad port");
			r = net_port_parse(p, &port, err);
			if (r < 0)
				return r;
			r = net_publish(s->net, &port, err);
			if (r < 0)
				return r;
			record_port(s, &port);
			sup_log(s, "net: published %s (host port %u)", p,
				port.host_port);
		}
	}
	if (json_object_object_get_ex(net, "plugin", &v) &&
	    json_object_get_string(v)) {
		r = net_plugin_load(s->net, json_object_get_string(v), err);
		if (r < 0)
			return r;
		sup_log(s, "net: plugin %s loaded", json_object_get_string(v));
	}
	return 0;
}

int sup_net_setup(struct sup *s, msb_error *err)
{
	static struct net_config c;
	json_object *net = NULL, *v;
	int r;

	net_config_default(&c);
	c.log = net_log;
	c.opaque = s;
	/* the guard: for secrets, and for a plugin's on_http */
	c.flow_filter = sup_flow_filter;
	if (s->vault.n) {
		c.dns_refused = sup_dns_refused;
		c.bind_names = 1; /* which name each address answered */
	}
	json_object_object_get_ex(s->config, "net", &net);
	if (net && json_object_is_type(net, json_type_object)) {
		if (json_object_object_get_ex(net, "deny_all", &v))
			c.policy.deny_all = json_object_get_boolean(v);
		if ((r = add_rules(&c, net, "allow", "allow", err)) < 0 ||
		    (r = add_rules(&c, net, "allow_cidr", "allow-cidr", err)) < 0 ||
		    (r = add_rules(&c, net, "block_cidr", "block-cidr", err)) < 0)
			return r;
		if (json_object_object_get_ex(net, "allow_host", &v) &&
		    json_object_is_type(v, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(v) &&
					   c.nhost_ports < NET_HOST_PORTS_MAX;
			     i++) {
				int port = json_object_get_int(
					json_object_array_get_idx(v, i));

				if (port < 1 || port > 65535)
					return msb_fail(err, -EINVAL,
							"bad --net-allow-host "
							"port %d", port);
				c.host_ports[c.nhost_ports++] = (uint16_t)port;
			}
		}
		if (json_object_object_get_ex(net, "dns", &v) &&
		    net_endpoint_parse(json_object_get_string(v),
				       &c.dns_upstream, &c.dns_port, 53) < 0)
			return msb_fail(err, -EINVAL,
					"invalid --dns-nameserver '%s': use "
					"IP, IPv4:PORT or [IPv6]:PORT",
					json_object_get_string(v));
	}
	s->net = net_new(&c);
	if (!s->net)
		return msb_fail_errno(err, -errno, "network stack");
	if (net && json_object_is_type(net, json_type_object) &&
	    (r = publish(s, net, err)) < 0)
		return r;
	s->net_ref.type = EV_NET;
	{
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &s->net_ref };

		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, net_fd(s->net), &ev) < 0)
			return msb_fail_errno(err, -errno, "network stack");
	}
	s->spec.net_mac = GUEST_MAC;
	return 0;
}

/* vhost_wanted() - MSB_NET_VHOST_USER: 1 serves the guest's NIC as a
 * vhost-user-net device (src/net/vnet.c), 0 or unset over QEMU's netdev
 * stream. A restored VM's RAM is a private copy the stack cannot map, so
 * it always has the stream. Return: 0 or 1, -EINVAL (@err set) */
static int vhost_wanted(struct sup *s, msb_error *err)
{
	const char *v = getenv("MSB_NET_VHOST_USER");

	if (!v || !*v || !strcmp(v, "0"))
		return 0;
	if (strcmp(v, "1"))
		return msb_fail(err, -EINVAL,
				"invalid MSB_NET_VHOST_USER '%s': 1 serves the "
				"guest's network device over vhost-user, 0 (the "
				"default) over a stream", v);
	return s->spec.restore_ram ? 0 : 1;
}

/* vhost_link() - a listening socket for QEMU's vhost-user chardev, which
 * QEMU 7.2 passes descriptors over only when it connected by path: bound
 * in the sandbox's directory, handed to QEMU as an O_PATH descriptor (it
 * connects to /proc/self/fd/N, src/engine/qemu.c) and unlinked at once,
 * so no one else can reach it by name. The stack takes the first
 * connection and closes the listener. */
static int vhost_link(struct sup *s, int *vm_end, msb_error *err)
{
	char path[PATH_MAX], *slash;
	int lfd, pfd, r;

	if (msb_api_sock_path(s->name, path, sizeof(path)) < 0 ||
	    !(slash = strrchr(path, '/')) ||
	    (size_t)(slash - path) + sizeof("/net.sock") > sizeof(path))
		return msb_fail(err, -ENAMETOOLONG, "network link: the "
				"sandbox's directory path is too long");
	strcpy(slash, "/net.sock");
	lfd = msb_unix_listen(path, 1);
	if (lfd < 0)
		return msb_fail_errno(err, lfd, "network link: cannot listen "
				      "on %s", path);
	/* QEMU runs as a uid of its own (as root): it may connect */
	chmod(path, 0666);
	pfd = open(path, O_PATH | O_CLOEXEC);
	r = pfd < 0 ? -errno : 0;
	unlink(path);
	if (r < 0) {
		close(lfd);
		return msb_fail_errno(err, r, "network link: %s", path);
	}
	r = net_listen_vhost(s->net, lfd);
	if (r < 0) {
		close(pfd);
		return msb_fail_errno(err, r, "network link (vhost-user)");
	}
	s->spec.net_vhost = 1;
	*vm_end = pfd;
	return 0;
}

int sup_net_link(struct sup *s, int *vm_end, msb_error *err)
{
	int sv[2], vhost;

	*vm_end = -1;
	s->spec.net_vhost = 0;
	if (!s->net)
		return 0;
	vhost = vhost_wanted(s, err);
	if (vhost < 0)
		return vhost;
	if (vhost)
		return vhost_link(s, vm_end, err);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return msb_fail_errno(err, -errno, "network link");
	net_attach(s->net, sv[0]);
	*vm_end = sv[1];
	return 0;
}

void sup_net_init_tlvs(struct sup *s, struct msb_tlv_w *w)
{
	uint8_t a[5];

	if (!s->net)
		return;
	msb_put_be32(a, NET_GUEST_IP);
	a[4] = NET_PREFIX;
	msb_tlv_put(w, MSB_T_NET_IP4, a, 5);
	msb_put_be32(a, NET_GW_IP);
	msb_tlv_put(w, MSB_T_NET_GW4, a, 4);
	msb_put_be32(a, NET_DNS_IP);
	msb_tlv_put(w, MSB_T_NET_DNS4, a, 4);
	msb_tlv_put_u32(w, MSB_T_NET_MTU, NET_MTU);
	{
		uint8_t a6[17] = NET_GUEST_IP6, gw6[16] = NET_GW_IP6,
			dns6[16] = NET_DNS_IP6;

		a6[16] = NET_PREFIX6;
		msb_tlv_put(w, MSB_T_NET_IP6, a6, 17);
		msb_tlv_put(w, MSB_T_NET_GW6, gw6, 16);
		msb_tlv_put(w, MSB_T_NET_DNS6, dns6, 16);
	}
}
