/* SPDX-License-Identifier: Apache-2.0 */
/* net.h - the sandbox's userspace network stack, as the supervisor drives it
 *
 * The guest's only way out. QEMU hands us the guest's Ethernet frames on a
 * unix stream socket (`-netdev stream`), each prefixed by its length as a
 * 4-byte big-endian integer, and takes frames back the same way. The stack
 * answers ARP, ICMP echo and DNS itself and terminates the guest's TCP and
 * UDP flows here, re-originating each allowed one from an ordinary host
 * socket: nothing the guest sends is ever forwarded as a packet.
 *
 * The stack owns an epoll descriptor of its own (the link, every host
 * socket, its timer); the supervisor watches that one descriptor and calls
 * net_dispatch() when it is readable. The stack is thus testable and
 * fuzzable without a supervisor.
 *
 * Addresses the guest sees (IPv4 as QEMU's user networking, so familiar;
 * IPv6 in a unique local prefix, RFC 4193, whose global ID is "msb" in
 * ASCII, with the same host parts):
 *
 *   guest     10.0.2.15/24  fd6d:7362::15/64  MAC 52:54:00:12:34:56
 *   gateway   10.0.2.2      fd6d:7362::2      MAC 52:54:00:12:35:02
 *                                             (answers ARP, NDP and ping)
 *   resolver  10.0.2.3      fd6d:7362::3      UDP and TCP 53, dns.c
 *
 * The agent configures eth0 statically from INIT (no DHCP, no router
 * advertisements): addresses, default routes, MTU and /etc/resolv.conf.
 */
#ifndef MSB_NET_H
#define MSB_NET_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "policy.h"

#define NET_GUEST_IP  0x0a00020f /* 10.0.2.15 */
#define NET_GW_IP     0x0a000202 /* 10.0.2.2 */
#define NET_DNS_IP    0x0a000203 /* 10.0.2.3 */
#define NET_PREFIX    24
/* The guest link's MTU: 65520, as passt gives its guests. Under TCG the
 * guest's cost is per packet (each frame a virtqueue round, an interrupt,
 * its own trip through the guest's stack), so fewer, larger frames are
 * the throughput lever; the host side re-originates every flow from its
 * own sockets, so nothing past the link ever sees these frames. 65520 +
 * the Ethernet header fits NET_FRAME_MAX and an IPv4 total length. */
#define NET_MTU       65520
/* fd6d:7362::15, ::2, ::3, in a /64 */
#define NET_PREFIX6   64
#define NET_IP6(last) { 0xfd, 0x6d, 0x73, 0x62, 0, 0, 0, 0, \
			0, 0, 0, 0, 0, 0, 0, (last) }
#define NET_GUEST_IP6 NET_IP6(0x15)
#define NET_GW_IP6    NET_IP6(0x02)
#define NET_DNS_IP6   NET_IP6(0x03)
/* The name that resolves to the gateway when --net-allow-host opened a
 * port of the host's (as Docker's host.docker.internal). */
#define NET_HOST_NAME "host.msb.internal"
#define NET_HOST_PORTS_MAX 32

struct net;
struct msb_flow_filter;

/**
 * struct net_config - what the owner decides about a sandbox's network
 * @guest_mac:   the guest NIC's MAC (also given to QEMU)
 * @gw_mac:      the MAC the gateway and resolver answer from
 * @guest_ip:    the guest's address, host byte order
 * @gw_ip:       the gateway's address
 * @dns_ip:      the resolver's address
 * @prefix:      the guest subnet's prefix length
 * @guest_ip6, @gw_ip6, @dns_ip6, @prefix6: the same for IPv6 (network
 *               order); a zero @prefix6 turns IPv6 off
 * @mtu:         the guest link's MTU
 * @dns_upstream: the host-side resolver the stack asks (UDP), of either
 *               family, at @dns_port
 * @host_ports:  --net-allow-host: TCP ports of the host's loopback the
 *               guest reaches at the gateway's address (10.0.2.2:PORT or
 *               [fd6d:7362::2]:PORT, and the name host.msb.internal):
 *               connected to 127.0.0.1:PORT, past the policy (the user
 *               named them); @nhost_ports of them, none by default
 * @policy:      what may leave (policy.h); copied
 * @log:         one line for the owner's log, without a newline
 * @open_socket: NULL for real host sockets; tests and the fuzzer give
 *               their own: a non-blocking socket of @type and @proto (0,
 *               or IPPROTO_ICMP / IPPROTO_ICMPV6 for ping sockets)
 *               "connected" to @dst, or -errno
 * @opaque:      passed to @log and @open_socket
 */
struct net_config {
	uint8_t guest_mac[6];
	uint8_t gw_mac[6];
	uint32_t guest_ip, gw_ip, dns_ip;
	unsigned prefix;
	uint8_t guest_ip6[16], gw_ip6[16], dns_ip6[16];
	unsigned prefix6;
	unsigned mtu;
	struct net_addr dns_upstream;
	uint16_t dns_port;
	uint16_t host_ports[NET_HOST_PORTS_MAX];
	unsigned nhost_ports;
	struct net_policy policy;
	void (*log)(void *opaque, const char *msg);
	int (*open_socket)(void *opaque, int type, int proto,
			   const struct sockaddr *dst, socklen_t len);
	/* A filter for a new guest TCP flow (src/tls/filter.h), chosen at
	 * connect time: its state, with *@ops set, or NULL to let the
	 * flow's bytes pass untouched. NULL: no filters. */
	void *(*flow_filter)(void *opaque, const struct net_addr *dst,
			     uint16_t dport, const struct msb_flow_filter **ops);
	/* Whether a guest's DNS query for @name is refused before the
	 * policy (1, with @why), e.g. one carrying a secret's placeholder.
	 * NULL: none is. */
	int (*dns_refused)(void *opaque, const char *name, char *why,
			   size_t len);
	/* Keep which name each answer was for, for net_name_resolved()
	 * (the DNS-to-IP binding the secrets need). */
	int bind_names;
	void *opaque;
};

/**
 * net_config_default() - the addresses above, the host's resolver, the
 * default policy
 * @c: filled in
 */
void net_config_default(struct net_config *c);

/**
 * net_name_resolved() - did our resolver answer @name with @ip (and is the
 * answer still live)? Only kept when net_config.bind_names is set.
 * @name: lowercase, no trailing dot
 * Return: 1 or 0
 */
int net_name_resolved(const struct net *n, const char *name,
		      const struct net_addr *ip);

/**
 * net_new() - a stack with no link yet
 * @cfg: copied
 *
 * Return: the stack, or NULL if its descriptors or memory could not be had
 */
struct net *net_new(const struct net_config *cfg);

/**
 * net_attach() - take @link_fd (the stack's end of QEMU's netdev stream)
 * @n:       stack
 * @link_fd: becomes the stack's; any previous link and every flow is closed
 */
void net_attach(struct net *n, int link_fd);

/**
 * net_attach_vhost() - take @fd, the stack's end of the socket of QEMU's
 * `-netdev vhost-user`: the stack serves the guest's virtio-net queues
 * itself, in guest memory, with checksum offloads (vnet.c)
 * @n:  stack
 * @fd: becomes the stack's; any previous link and every flow is closed
 *
 * Return: 0, or -errno
 */
int net_attach_vhost(struct net *n, int fd);

/**
 * net_listen_vhost() - as net_attach_vhost() for the first connection to
 * @lfd, a listening socket (QEMU 7.2 connects its vhost-user chardev by
 * path: a socketpair's end cannot pass descriptors there)
 * @lfd: becomes the stack's, closed once a connection came
 *
 * Return: 0, or -errno
 */
int net_listen_vhost(struct net *n, int lfd);

/**
 * net_publish() - listen on a host port for the guest (fwd.c)
 * @n:   stack
 * @p:   the host address and port, the guest's port; a host port of 0
 *       becomes the free one the kernel gave
 * @err: what failed, for the user
 *
 * Return: 0, or -errno (-EADDRINUSE: the port is taken) with @err set
 */
int net_publish(struct net *n, struct net_port *p, msb_error *err);

/**
 * net_plugin_load() - load a network plugin (msb_net_plugin.h) into @n
 * @path: the shared object
 * @err:  what failed
 *
 * Return: 0, or -EINVAL with @err set
 */
int net_plugin_load(struct net *n, const char *path, msb_error *err);

struct msb_http_request;
struct msb_http_action;
struct msb_http_response;
struct msb_http_response_action;
/* net_plugin_has_http() - whether the loaded plugin or the chain has
 * on_http or on_http_response (the flows are then inspected). */
int net_plugin_has_http(const struct net *n);
/* net_plugin_has_http_response() - whether either has on_http_response */
int net_plugin_has_http_response(const struct net *n);
/* net_plugin_http_response() - on_http_response for @resp, the loaded
 * plugin's then the chain's: MSB_HTTP_FORWARD, BLOCK or MODIFY, @act
 * filled (its head and body: NULL where unchanged). */
int net_plugin_http_response(struct net *n,
			     const struct msb_http_response *resp,
			     struct msb_http_response_action *act);
/* net_plugin_http() - the plugin's on_http for @req: MSB_HTTP_FORWARD,
 * BLOCK or MODIFY (an unknown verdict is FORWARD), @act filled. */
int net_plugin_http(struct net *n, const struct msb_http_request *req,
		    struct msb_http_action *act);

/* net_set_hooks() - the owner's chain of hooks (a table shaped as a
 * plugin's), asked after the loaded plugin, if any; each can only narrow
 * what was allowed before it. net_hook_denied_by() - the chain says who
 * refused, for the log line. */
struct msb_net_plugin;
void net_set_hooks(struct net *n, const struct msb_net_plugin *h, void *state);
void net_hook_denied_by(struct net *n, const char *who);

/* net_set_byte_rate() - at most @bps bytes a second through the guest's
 * link, each way (0: no limit): a token bucket holding a second's worth.
 * Out of tokens, the stack stops reading the guest's frames (QEMU and
 * then the guest's own TCP hold them back) and TCP stops sending data to
 * the guest (as when the link is full); other frames to the guest (ACKs,
 * DNS, UDP, ICMP) are counted but never held. */
void net_set_byte_rate(struct net *n, uint64_t bps);

/* net_fd() - the descriptor the owner watches for EPOLLIN. */
int net_fd(const struct net *n);

/* net_dispatch() - handle every ready link, socket and timer event. */
void net_dispatch(struct net *n);

/**
 * net_input() - one Ethernet frame from the guest
 * @n:     stack
 * @frame: the frame, from the destination MAC on
 * @len:   its length
 *
 * Anything malformed is dropped. Replies are queued for the link; call
 * net_flush() (net_dispatch() does) to write them.
 */
void net_input(struct net *n, const uint8_t *frame, size_t len);

/* net_flush() - write queued frames to the link, as far as it takes them. */
void net_flush(struct net *n);

/* net_tick() - timers: retransmission, idle flows; @now_ms is monotonic. */
void net_tick(struct net *n, uint64_t now_ms);

/* net_free() - close every flow and descriptor, free @n. */
void net_free(struct net *n);

/**
 * struct net_stats - counters, for tests and the log
 */
struct net_stats {
	uint64_t rx_frames, tx_frames, rx_dropped, tx_dropped;
	uint64_t rx_bytes, tx_bytes; /* Ethernet frames from / to the guest */
	uint64_t tcp_flows, udp_flows, denied, dns_queries;
};

void net_get_stats(const struct net *n, struct net_stats *st);

#endif
