/* SPDX-License-Identifier: Apache-2.0 */
/* netcfg.c - a sandbox's network rules, from msb_net_config to its record
 *
 * The rules are checked with the stack's own parser (src/net/policy.c), so
 * a bad one fails msb_sandbox_create() before anything is made, with the
 * flag's name in the message.
 */

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"
#include "net.h"
#include "netcfg.h"
#include "policy.h"
#include "util.h"

struct list {
	const char *key, *kind, *flag;
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
	{ "allow", "allow", "--net-allow", get_allow },
	{ "allow_cidr", "allow-cidr", "--net-allow-cidr", get_allow_cidr },
	{ "block_cidr", "block-cidr", "--net-block-cidr", get_block_cidr },
};

#define NLISTS (sizeof(lists) / sizeof(lists[0]))

/* dns_ok() - "IPv4", "IPv4:PORT", "IPv6" or "[IPv6]:PORT" */
static int dns_ok(const char *s)
{
	struct net_addr a;
	uint16_t port;

	return net_endpoint_parse(s, &a, &port, 53) == 0;
}

/* port_free() - could the supervisor listen on @p now? Checked before
 * anything is made, so a taken port costs nothing; the supervisor's own
 * bind is the one that counts (a port taken in between fails the start). */
static int port_free(const struct net_port *p, const char *arg,
		     msb_error *err)
{
	struct sockaddr_storage sa;
	socklen_t salen = net_sockaddr(&p->bind, p->host_port, &sa);
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1,
	    e;

	if (fd < 0)
		return msb_fail_errno(err, -errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
		e = errno;
		close(fd);
		return msb_fail(err, -e, "cannot publish port '%s': %s%s", arg,
				strerror(e),
				e == EADDRINUSE ? " (another program or "
						  "sandbox listens there; "
						  "choose another host port)" :
						  "");
	}
	close(fd);
	return 0;
}

int msb_list_entry_check(const char *flag, const char *v, msb_error *err)
{
	const char *p = v;

	while (p && (*p == ' ' || *p == '\t' || *p == '\n'))
		p++;
	if (p && *p)
		return 0;
	/* An empty variable in a script ("--net-allow $HOSTS") must not
	 * turn a restriction into no restriction: refused, as Docker
	 * refuses an empty -p or --add-host. */
	return msb_fail(err, -EINVAL,
			"invalid %s '%s': an empty entry (an unset variable, "
			"or a stray comma?); give a value, or leave %s out%s",
			flag, v ? v : "", flag,
			strncmp(flag, "--net-allow", 11) ? "" :
			" (--net-deny-all allows nothing)");
}

static int ports_check(const msb_net_config *nc, int bind, msb_error *err)
{
	struct net_port seen[NET_PORT_MAX];
	unsigned n = 0;
	int r;

	for (const char *const *v = nc->ports; v && *v; v++) {
		struct net_port p;

		r = msb_list_entry_check("--publish", *v, err);
		if (r < 0)
			return r;
		r = net_port_parse(*v, &p, err);
		if (r < 0)
			return r;
		if (n == NET_PORT_MAX)
			return msb_fail(err, -EINVAL, "too many published "
					"ports (at most %d)", NET_PORT_MAX);
		/* Host port 0 is any free one: never taken, never twice. */
		for (unsigned i = 0; i < n && p.host_port; i++)
			if (seen[i].host_port == p.host_port &&
			    net_addr_eq(&seen[i].bind, &p.bind))
				return msb_fail(err, -EINVAL, "port '%s' is "
						"published twice", *v);
		seen[n++] = p;
		r = p.host_port && bind ? port_free(&p, *v, err) : 0;
		if (r < 0)
			return r;
	}
	if (bind && nc->plugin && access(nc->plugin, R_OK) < 0)
		return msb_fail_errno(err, -errno, "invalid --net-plugin '%s'",
				      nc->plugin);
	return 0;
}

/* host_ports() - --net-allow-host's ports, checked, into @a (may be
 * NULL) as numbers. */
static int host_ports(const msb_net_config *nc, json_object *a,
		      msb_error *err)
{
	unsigned n = 0, port;

	for (const char *const *v = nc->allow_host; v && *v; v++) {
		char *end;
		unsigned long u;

		errno = 0;
		u = strtoul(*v, &end, 10);
		if (!**v || *end || errno || u < 1 || u > 65535 ||
		    !((*v)[0] >= '0' && (*v)[0] <= '9'))
			return msb_fail(err, -EINVAL,
					"invalid --net-allow-host '%s': use "
					"the host's TCP port, 1 to 65535",
					*v);
		if (++n > NET_HOST_PORTS_MAX)
			return msb_fail(err, -EINVAL,
					"too many --net-allow-host ports (at "
					"most %d)", NET_HOST_PORTS_MAX);
		port = (unsigned)u;
		if (a)
			json_object_array_add(a, json_object_new_int((int)port));
	}
	return 0;
}

static int config_check(const msb_net_config *nc, int bind, msb_error *err)
{
	struct net_policy *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return msb_fail(err, -ENOMEM, "out of memory");
	net_policy_init(p);
	for (size_t i = 0; i < NLISTS; i++) {
		for (const char *const *v = lists[i].get(nc); v && *v; v++) {
			if (msb_list_entry_check(lists[i].flag, *v, err) < 0) {
				free(p);
				return -EINVAL;
			}
			if (net_policy_add(p, lists[i].kind, *v, err) < 0) {
				free(p);
				return -EINVAL;
			}
		}
	}
	free(p);
	if (nc->dns_nameserver && !dns_ok(nc->dns_nameserver))
		return msb_fail(err, -EINVAL,
				"invalid --dns-nameserver '%s': use an IPv4 "
				"or IPv6 address, optionally with a port "
				"(1.2.3.4:53, [2001:db8::1]:53)",
				nc->dns_nameserver);
	r = host_ports(nc, NULL, err);
	if (r < 0)
		return r;
	return ports_check(nc, bind, err);
}

int msb_net_config_check(const msb_net_config *nc, msb_error *err)
{
	return config_check(nc, 1, err);
}

int msb_net_config_check_syntax(const msb_net_config *nc, msb_error *err)
{
	return config_check(nc, 0, err);
}

json_object *msb_net_config_json(const msb_net_config *nc)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < NLISTS; i++)
		json_object_object_add(o, lists[i].key,
				       msb_jstrv(lists[i].get(nc)));
	json_object_object_add(o, "deny_all",
			       json_object_new_boolean(nc->deny_all));
	if (nc->dns_nameserver)
		json_object_object_add(o, "dns", json_object_new_string(
							 nc->dns_nameserver));
	if (nc->ports)
		json_object_object_add(o, "ports", msb_jstrv(nc->ports));
	if (nc->allow_host) {
		json_object *a = json_object_new_array();

		host_ports(nc, a, NULL);
		json_object_object_add(o, "allow_host", a);
	}
	if (nc->plugin) {
		/* The supervisor runs elsewhere: an absolute path. */
		char abs[PATH_MAX];

		json_object_object_add(o, "plugin", json_object_new_string(
				realpath(nc->plugin, abs) ? abs : nc->plugin));
	}
	return o;
}
