/* SPDX-License-Identifier: Apache-2.0 */
/* policy.h - what may leave a sandbox: CIDR rules, domain rules, bindings
 *
 * Every flow the guest opens and every name it asks for is decided here,
 * in this order:
 *
 *   0. this host           loopback, unspecified, and the host's own
 *                          addresses (asked of the kernel at each decision:
 *                          a route of type local), also inside an
 *                          IPv4-mapped, IPv4-compatible or NAT64 address:
 *                          deny, unless a --net-allow-cidr names that
 *                          exact address (a /32 or /128; a range such as
 *                          0.0.0.0/0 does not open them)
 *   1. --net-allow-cidr    the destination is in an allowed range: allow
 *   2. --net-block-cidr    in a blocked range: deny
 *   3. built-in ranges     RFC 1918, CGNAT, link-local (with cloud
 *                          metadata), IETF protocol assignments
 *                          192.0.0.0/24, benchmarking 198.18.0.0/15,
 *                          multicast, broadcast, ULA, IPv4-mapped, local-use
 *                          NAT64 64:ff9b:1::/48: deny; a NAT64 address
 *                          (64:ff9b::/96) is also judged as the IPv4
 *                          address it carries
 *   4. --net-deny-all      deny, unless 5 allows
 *   5. --net-allow NAMES   with domain rules, only addresses our resolver
 *                          returned to this guest for an allowed name are
 *                          allowed (DNS-to-IP binding); everything else
 *                          is denied
 *   6. allow (public internet)
 *
 * Documentation ranges (RFC 5737, 2001:db8::/32) are deliberately not in 3,
 * so tests can build a fake internet with them. Names: with domain rules,
 * a name that matches none of them gets NXDOMAIN at once; so does every
 * name under --net-deny-all without domain rules. Answers that fall in 0-3's
 * denied ranges are dropped by the resolver (rebinding protection).
 *
 * No allocation: the tables are fixed arrays inside the policy.
 */
#ifndef MSB_NET_POLICY_H
#define MSB_NET_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "msb.h"

#define NET_CIDR_MAX     64   /* per list */
#define NET_DOMAIN_MAX   64
#define NET_DOMAIN_LEN   253
#define NET_BIND_MAX     1024 /* addresses bound to allowed names */

/**
 * struct net_cidr - an IPv4 or IPv6 range
 * @family: 4 or 6
 * @len:    prefix length
 * @addr:   network order; IPv4 in the first 4 bytes
 */
struct net_cidr {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
};

/**
 * struct net_addr - an IPv4 or IPv6 address, as the stack passes them
 * @family: 4 or 6 (0: none)
 * @b:      network order; IPv4 in the first 4 bytes, the rest zero, so
 *          two addresses are equal when their bytes are (net_addr_eq())
 */
struct net_addr {
	uint8_t family;
	uint8_t b[16];
};

/* net_addr4() - @ip (host order) as an address. */
struct net_addr net_addr4(uint32_t ip);

/* net_addr6() - 16 bytes, network order, as an address. */
struct net_addr net_addr6(const uint8_t ip[16]);

/* net_addr_v4() - an IPv4 address's value in host order. */
uint32_t net_addr_v4(const struct net_addr *a);

int net_addr_eq(const struct net_addr *a, const struct net_addr *b);

/* net_addr_format() - "a.b.c.d" or an RFC 5952 IPv6 text into @buf. */
void net_addr_format(const struct net_addr *a, char *buf, size_t n);

/**
 * net_endpoint_parse() - "a.b.c.d", "a.b.c.d:port", "x::y" or "[x::y]:port"
 * @s:    text
 * @a:    the address
 * @port: the port, or @defport when none is given
 *
 * Return: 0, or -1 if @s is none of those (ports 1-65535)
 */
int net_endpoint_parse(const char *s, struct net_addr *a, uint16_t *port,
		       uint16_t defport);

/* net_sockaddr() - @a:@port as a socket address. Return: its length */
socklen_t net_sockaddr(const struct net_addr *a, uint16_t port,
		       struct sockaddr_storage *ss);

/* net_endpoint_format() - "a.b.c.d:port" or "[x::y]:port" into @buf. */
void net_endpoint_format(const struct net_addr *a, uint16_t port, char *buf,
			 size_t n);

struct net_bind {
	struct net_addr ip; /* family 0: free */
	uint64_t expires_ms;
};

/**
 * struct net_policy - the rules of one sandbox
 * @deny_all:   --net-deny-all
 * @allow:      --net-allow-cidr ranges
 * @block:      --net-block-cidr ranges
 * @domain:     --net-allow names, lowercase; "*.x.com" matches below x.com
 * @bind:       addresses returned for allowed names, until they expire
 */
struct net_policy {
	int deny_all;
	struct net_cidr allow[NET_CIDR_MAX], block[NET_CIDR_MAX];
	unsigned nallow, nblock;
	char domain[NET_DOMAIN_MAX][NET_DOMAIN_LEN + 1];
	unsigned ndomain;
	struct net_bind bind[NET_BIND_MAX];
};

/**
 * net_cidr_parse() - "10.0.0.0/8", "fd00::/8", "1.2.3.4" (a /32), "::1"
 * @s:   text
 * @out: result; host bits are cleared
 *
 * Return: 0, or -1 if @s is not an address with an optional prefix length
 */
int net_cidr_parse(const char *s, struct net_cidr *out);

/* net_cidr_match() - is @a in @c? (Families must agree.) */
int net_cidr_match(const struct net_cidr *c, const struct net_addr *a);

/* net_cidr_format() - "a.b.c.d/n" or "x::/n" into @buf. */
void net_cidr_format(const struct net_cidr *c, char *buf, size_t n);

/**
 * net_domain_valid() - a domain pattern as --net-allow and --tls-bypass
 * take it: letters, digits, '-', '.', '_', an optional leading "*."
 * @d: the pattern, lowercased in place
 *
 * Return: 1 if valid, 0 if not
 */
int net_domain_valid(char *d);

/* net_domain_match() - @name (lowercase) is @rule (lowercase), or below x
 * for a @rule "*.x" ("*.x.com" matches a.x.com and a.b.x.com, not x.com). */
int net_domain_match(const char *rule, const char *name);

/* net_policy_init() - the default policy (no user rules). */
void net_policy_init(struct net_policy *p);

/**
 * net_policy_add() - one user rule
 * @p:    policy
 * @kind: "allow-cidr", "block-cidr" or "allow" (a domain pattern)
 * @arg:  the rule's value
 * @err:  why it was refused
 *
 * Return: 0, or -EINVAL with @err set
 */
int net_policy_add(struct net_policy *p, const char *kind, const char *arg,
		   msb_error *err);

/* net_addr_local() - does the kernel deliver @a to this host now (its
 * route is of type local or broadcast)? An address that cannot be looked
 * up counts as the host's. Return: 1 or 0 */
int net_addr_local(const struct net_addr *a);

/**
 * net_policy_ip() - may the guest open a flow to @ip?
 * @p:   policy
 * @ip:  destination, either family
 * @now: monotonic ms, for bindings
 * @why: the rule that decided, for the log
 * @n:   size of @why
 *
 * Return: 1 allow, 0 deny
 */
int net_policy_ip(const struct net_policy *p, const struct net_addr *ip,
		  uint64_t now, char *why, size_t n);

/**
 * net_policy_name() - may the guest resolve @name?
 * @p:    policy
 * @name: lowercase, no trailing dot
 * @bind: set to 1 when the name matched a domain rule (bind its answers)
 * @why:  the rule that denied it
 * @n:    size of @why
 *
 * Return: 1 allow, 0 deny
 */
int net_policy_name(const struct net_policy *p, const char *name, int *bind,
		    char *why, size_t n);

/**
 * net_policy_answer() - may a resolver answer (A or AAAA) hand out @ip?
 *
 * Rebinding protection: addresses of this host (rule 0, unless allowed
 * exactly) and in the denied ranges (rules 2 and 3, unless --net-allow-cidr
 * opens them) never reach the guest.
 * Return: 1 keep, 0 drop
 */
int net_policy_answer(const struct net_policy *p, const struct net_addr *ip);

/* net_bind_expiry() - until when an answer of @ttl_s seconds given at
 * @now stays bound: the TTL, but at least 5 minutes (a guest keeps using
 * an answer a while after its TTL) and at most a day. */
uint64_t net_bind_expiry(uint32_t ttl_s, uint64_t now);

/* net_policy_bind() - @ip was returned for an allowed name; keep it until
 * net_bind_expiry(). */
void net_policy_bind(struct net_policy *p, const struct net_addr *ip,
		     uint32_t ttl_s, uint64_t now);

/**
 * struct net_port - a published port: host connections to @bind:@host_port
 * become TCP connections to the guest's @guest_port (over IPv4, whatever
 * @bind's family)
 * @bind: 127.0.0.1 unless the rule named an address (IPv4 or IPv6)
 */
struct net_port {
	struct net_addr bind;
	uint16_t host_port, guest_port; /* host_port 0: any free one */
};

#define NET_PORT_MAX 32 /* published ports per sandbox */

/**
 * net_port_parse() - "HOST:GUEST", "IPv4:HOST:GUEST", "[IPv6]:HOST:GUEST",
 * each with an optional "/tcp"; HOST 0 (or empty after an address, "IP::GUEST"),
 * or "GUEST" alone, leaves @host_port 0: net_publish() takes a free one
 * @s:   text, as `msb run -p` takes it
 * @out: result
 * @err: what is wrong with @s
 *
 * Return: 0, or -EINVAL with @err set
 */
int net_port_parse(const char *s, struct net_port *out, msb_error *err);

#endif
