/* SPDX-License-Identifier: Apache-2.0 */
/* stack.h - the stack's insides, shared by its protocol files
 *
 * Limits (memory is bounded by them; nothing grows with what the guest
 * sends):
 *   NET_TCP_MAX flows, each with a NET_TCP_RING byte ring of host data not
 *   yet acknowledged by the guest (allocated when the flow opens);
 *   NET_UDP_MAX flows; NET_DNS_PENDING queries in flight upstream; one
 *   input buffer and one output queue of fixed size.
 */
#ifndef MSB_NET_STACK_H
#define MSB_NET_STACK_H

#include <stdint.h>

#include "msb_net_plugin.h"
#include "net.h"

#define NET_FRAME_MAX  65536        /* longest frame taken from the link */
#define NET_IN_BUF     (256 * 1024)
#define NET_OUT_BUF    (1024 * 1024) /* frames waiting for the link */
#define NET_TCP_MAX    512
#define NET_TCP_RING   (256 * 1024)
#define NET_UDP_MAX    128
#define NET_PING_MAX   16
#define NET_DNS_PENDING 64
#define NET_DNS_TCP_MAX 8           /* DNS-over-TCP connections at a time */
#define NET_DNS_TCP_MSG 1024        /* longest query taken over TCP */
#define NET_DNS_TCP_OUT 65536       /* answers held for a guest slow to
				     * read them, per connection */

#define ETH_HLEN 14
#define IP4_HLEN 20
#define IP6_HLEN 40
#define TCP_HLEN 20
#define UDP_HLEN 8

/* What woke up in the stack's epoll: kind in the top 32 bits of data.u64,
 * a table index in the low ones. */
enum net_ev { NEV_LINK = 1, NEV_TIMER, NEV_TCP, NEV_UDP, NEV_DNS, NEV_FWD,
	      NEV_DNS_TCP, NEV_PING, NEV_VU, NEV_VU_KICK,
	      NEV_VU_LISTEN, NEV_ACK_TIMER };

/**
 * struct ip_pkt - a parsed, checked IPv4 or IPv6 packet from the guest
 * @src, @dst: its addresses (the family is theirs)
 * @proto:     IPPROTO_* (IPv6: the next header, with no extension headers)
 * @ttl:       TTL or hop limit
 * @l4:        its payload (the transport header on)
 * @l4len:     payload length, as the IP header says, within the frame
 * @hdr:       the IP header, for ICMP errors quoting it
 * @hlen:      its length
 */
struct ip_pkt {
	struct net_addr src, dst;
	uint8_t proto, ttl;
	const uint8_t *l4;
	size_t l4len;
	const uint8_t *hdr;
	size_t hlen;
};

/* Why a packet was refused, as an ICMP or ICMPv6 error (icmp_unreach()). */
enum net_unreach {
	UNREACH_ADMIN,  /* the policy: administratively prohibited */
	UNREACH_PORT,
	UNREACH_HOST,
	UNREACH_PROTO,
};

enum tcp_flow_state {
	TF_FREE = 0,
	TF_CONNECTING,  /* guest SYN seen, host connect() under way */
	TF_SYN_RCVD,    /* SYN-ACK sent to the guest */
	TF_ESTABLISHED, /* (closing halves are in the flags) */
	TF_SYN_SENT,    /* a published port's connection: our SYN to the guest */
};

/**
 * struct tcp_flow - one guest TCP connection, terminated here
 *
 * Sequence space toward the guest: @snd_una is the oldest byte it has not
 * acknowledged, which is @ring's first byte; @snd_nxt the next we send.
 * Toward the host nothing is kept: a guest segment is acknowledged only as
 * far as the host socket took it.
 */
struct tcp_flow {
	uint8_t state;
	int fd;
	struct net_addr gaddr, daddr; /* guest, remote */
	uint16_t gport, dport;
	uint32_t rcv_nxt;       /* next byte expected from the guest */
	uint32_t iss, snd_una, snd_nxt;
	uint32_t gwnd;          /* guest's window, bytes */
	uint16_t gmss;
	uint8_t gws, ws;        /* guest's and our window scale shifts */
	uint8_t *ring;
	uint32_t rhead, rlen;   /* ring: offset of snd_una, bytes held */
	uint8_t host_eof, fin_sent, fin_acked, guest_fin, host_blocked;
	uint8_t ack_pending;    /* an ACK goes out when this round ends */
	uint32_t rcv_acked;     /* rcv_nxt as our last ACK said it */
	uint32_t rcv_mss;       /* the guest's largest segment: "full-size" */
	uint64_t delack_at;     /* a delayed ACK is due then; 0: none */
	uint32_t events;        /* epoll events armed */
	uint64_t rto_at;        /* 0: no retransmission timer */
	uint32_t rto_ms;
	uint8_t retries;
	uint64_t deadline;      /* connect timeout */
	uint32_t last_wnd;      /* window we advertised last, bytes */
	/* a filter between the guest and the host socket (filter.h) */
	const struct msb_flow_filter *filt;
	void *filt_st;
	struct msb_buf *up;     /* filtered bytes the host socket has not taken */
	struct msb_buf *down;   /* filtered bytes the ring has no room for yet */
	uint8_t filt_done;      /* the filter refused: guest bytes are dropped */
	uint8_t host_rd_eof;    /* filtered: the host socket is done (host_eof
				 * follows once @down is in the ring) */
};

/* One answer of our resolver: @ip was given for @name until @expires_ms. */
#define NET_NAMES_MAX 1024
struct net_name {
	char name[NET_DOMAIN_LEN + 1];
	struct net_addr ip; /* family 0: free */
	uint64_t expires_ms;
};

/* dns_name_bind() - remember that @ip answered @name (cfg.bind_names) */
void dns_name_bind(struct net *n, const char *name, const struct net_addr *ip,
		   uint32_t ttl_s);

struct udp_flow {
	int fd;                 /* -1: free */
	struct net_addr gaddr, daddr;
	uint16_t gport, dport;
	uint64_t last_ms;
};

/**
 * struct ping_flow - the guest's echo requests to one destination, sent
 * from an unprivileged ICMP socket (icmp.c)
 * @fd:    -1: free
 * @id:    the guest's echo identifier (the kernel picks the socket's own)
 */
struct ping_flow {
	int fd;
	struct net_addr gaddr, daddr;
	uint16_t id;
	uint64_t last_ms;
};

/**
 * struct dns_to - where a resolver answer goes
 * @tcp: 0 for UDP to @gaddr:@gport; else a DNS-over-TCP session's index
 *       plus one, while its generation is still @gen
 */
struct dns_to {
	struct net_addr gaddr, server; /* @server: the address asked */
	uint16_t gport;
	uint8_t tcp;
	uint32_t gen;
};

/* struct dns_tcp - our end of a guest's TCP connection to the resolver
 * (the flow's "host socket" is the other end of a socketpair) */
struct dns_tcp {
	int fd;                 /* -1: free */
	uint32_t gen;
	uint64_t last_ms;
	uint8_t eof;            /* the guest half-closed: close once answered */
	uint32_t watch;         /* the epoll events @fd is registered for */
	size_t len;             /* bytes in @buf */
	uint8_t buf[2 + NET_DNS_TCP_MSG];
	size_t olen;            /* answers in @out that @fd could not take
				 * yet (its socket buffer counts each small
				 * write at about 800 bytes: a burst of a
				 * few hundred answers fills it) */
	uint8_t out[NET_DNS_TCP_OUT];
};

/* struct dns_query - a guest's query forwarded upstream, from a socket of
 * its own (@fd: a fresh random source port) with a random id @up_id */
struct dns_query {
	uint8_t used, bind;
	int fd;
	uint16_t guest_id, up_id, qtype;
	struct dns_to to;
	uint64_t deadline;
	char name[NET_DOMAIN_LEN + 1];
};

struct vnet;

struct net {
	struct net_config cfg;
	int epfd, timer_fd, link_fd;
	int ack_fd;             /* timerfd of the earliest delayed ACK */
	uint64_t ack_fd_at;     /* when it is set to fire; 0: disarmed */
	struct vnet *vnet;      /* the link is vhost-user-net (vnet.c) */
	int vu_listen;          /* where QEMU's vhost-user connects; -1 */
	uint64_t now;           /* monotonic ms, updated per dispatch */
	struct net_stats st;

	uint8_t *in;            /* NET_IN_BUF bytes from the link */
	size_t in_len;
	uint8_t *out;           /* NET_OUT_BUF bytes to it */
	size_t out_off, out_len;
	int out_armed;          /* EPOLLOUT on the link */
	int link_blocked;       /* a frame was refused for lack of room */
	/* net_set_byte_rate(): one bucket for each way, in bytes */
	struct { double rate, tokens; uint64_t at_ms; } bytes_in, bytes_out;
	int in_paused;          /* EPOLLIN off on the link: out of tokens */

	struct tcp_flow tcp[NET_TCP_MAX];
	unsigned tcp_hi;        /* one past the highest used slot */
	uint32_t isn_seed;
	struct udp_flow udp[NET_UDP_MAX];
	struct ping_flow ping[NET_PING_MAX];
	int ping_refused;       /* the host forbids ICMP sockets: logged once */

	struct dns_query dnsq[NET_DNS_PENDING];
	struct dns_tcp dns_tcp[NET_DNS_TCP_MAX];
	uint32_t dns_tcp_gen;
	uint64_t dns_window_ms; /* query rate limit */
	unsigned dns_window_n;

	struct net_fwd {
		int fd;         /* listening; -1: free */
		struct net_port p;
	} fwd[NET_PORT_MAX];
	unsigned nfwd;
	uint16_t fwd_sport;     /* the gateway's next source port toward the guest */

	const struct msb_net_plugin *plugin; /* NULL: none */
	struct msb_net_host plugin_host;     /* what the plugin was given */
	void *plugin_state;
	void *plugin_dl;
	/* the supervisor's chain of plugins (plugin processes, built-ins:
	 * docs/plugins.md), asked after the plugin above; NULL: none */
	const struct msb_net_plugin *hooks;
	void *hooks_state;
	char denied_by[80];     /* who denied the last refused hook */
	struct net_name *names; /* NET_NAMES_MAX, with cfg.bind_names */

	uint64_t log_window_ms; /* log rate limit */
	unsigned log_window_n;
};

/* net.c: the link, the epoll, helpers */
void net_logf(struct net *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* net_frame_begin() - room for a frame of up to @max bytes in the output
 * queue, or NULL (counted as dropped) when the link is that far behind. */
uint8_t *net_frame_begin(struct net *n, size_t max);
void net_frame_commit(struct net *n, uint8_t *frame, size_t len);
/* net_out_room() - could a frame of @len bytes be queued now? */
int net_out_room(const struct net *n, size_t len);
int net_watch(struct net *n, int fd, uint32_t events, enum net_ev kind,
	      unsigned idx, int op);
/* net_rewatch() - @fd registered for @want, given it is for *@watched now
 * (0: not registered): ADD, MOD, or DEL when nothing is wanted; nothing
 * when unchanged. */
void net_rewatch(struct net *n, int fd, uint32_t *watched, uint32_t want,
		 enum net_ev kind, unsigned idx);
/* net_open_socket() - a non-blocking host socket of @type (SOCK_STREAM,
 * SOCK_DGRAM) connecting to @ip:@port, in @ip's family. Return: fd, -errno */
int net_open_socket(struct net *n, int type, const struct net_addr *ip,
		    uint16_t port);
uint16_t net_csum_fold(uint32_t sum);
uint32_t net_csum_add(uint32_t sum, const void *p, size_t len);
/* net_pseudo() - the checksum of the pseudo-header TCP, UDP and ICMPv6
 * cover: RFC 793 §3.1 for IPv4, RFC 8200 §8.1 for IPv6. */
uint32_t net_pseudo(const struct net_addr *src, const struct net_addr *dst,
		    uint8_t proto, size_t len);
uint32_t net_pseudo4(uint32_t src, uint32_t dst, uint8_t proto, size_t len);
/* The stack's own addresses in @family: the guest's, the gateway's and the
 * resolver's. */
struct net_addr net_guest_addr(const struct net *n, int family);
struct net_addr net_gw_addr(const struct net *n, int family);
/* net_host_port() - is @ip:@port one of the host's loopback ports the
 * guest may reach at the gateway (--net-allow-host)? */
int net_host_port(const struct net *n, const struct net_addr *ip,
		  uint16_t port);
struct net_addr net_dns_addr(const struct net *n, int family);
/* net_is_local() - the gateway, the resolver or the guest's own subnet:
 * answered here or nowhere, never re-originated. */
int net_is_local(const struct net *n, const struct net_addr *ip);
/* net_is_dns() - the resolver's address in either family */
int net_is_dns(const struct net *n, const struct net_addr *ip);

/* eth.c */
void eth_input(struct net *n, const uint8_t *f, size_t len);
/* eth_ip_begin() - room for a frame to the guest with Ethernet and IP
 * headers of @family. Return: where the transport header goes, or NULL */
uint8_t *eth_ip_begin(struct net *n, int family, uint8_t **frame,
		      size_t l4max);
/* eth_ip_commit() - write the headers (@src's family) and queue it. */
void eth_ip_commit(struct net *n, uint8_t *frame, const struct net_addr *src,
		   const struct net_addr *dst, uint8_t proto, size_t l4len);
/* eth_ip_hlen() - the IP header's length in @family */
size_t eth_ip_hlen(int family);

/* ip.c */
void ip4_input(struct net *n, const uint8_t *p, size_t len);
void ip6_input(struct net *n, const uint8_t *p, size_t len);
int ip4_parse(const uint8_t *p, size_t len, struct ip_pkt *out);
int ip6_parse(const uint8_t *p, size_t len, struct ip_pkt *out);

/* icmp.c: ICMP (RFC 792) and ICMPv6 (RFC 4443) with neighbour discovery
 * (RFC 4861) */
void icmp_input(struct net *n, const struct ip_pkt *ip);
/* icmp_unreach() - tell the guest @ip could not be delivered. */
void icmp_unreach(struct net *n, const struct ip_pkt *ip,
		  enum net_unreach why);
void icmp_event(struct net *n, unsigned idx);
void icmp_tick(struct net *n);
void icmp_close_all(struct net *n);

/* udp.c */
void udp_input(struct net *n, const struct ip_pkt *ip);
void udp_event(struct net *n, unsigned idx, uint32_t events);
void udp_send_to_guest(struct net *n, const struct net_addr *src,
		       uint16_t sport, const struct net_addr *dst,
		       uint16_t dport, const uint8_t *data, size_t len);
void udp_tick(struct net *n);
void udp_close_all(struct net *n);

/* dns.c */
void dns_input(struct net *n, const struct ip_pkt *ip, uint16_t sport,
	       const uint8_t *q, size_t len);
void dns_event(struct net *n, unsigned idx);
void dns_tick(struct net *n);
void dns_close(struct net *n);
/* dns_tcp_open() - a guest TCP connection to the resolver's port 53.
 * Return: the descriptor the TCP flow uses as its host socket, or -errno */
int dns_tcp_open(struct net *n);
void dns_tcp_event(struct net *n, unsigned idx);

/* tcp.c */
void tcp_input(struct net *n, const struct ip_pkt *ip);
void tcp_event(struct net *n, unsigned idx, uint32_t events);
void tcp_tick(struct net *n);
void tcp_flush_acks(struct net *n);
/* tcp_delayed_acks() - send the delayed ACKs that are due by n->now. */
void tcp_delayed_acks(struct net *n);
/* net_ack_timer() - wake the stack at @at_ms (monotonic) for a delayed
 * ACK, unless it wakes earlier already. */
void net_ack_timer(struct net *n, uint64_t at_ms);
/* tcp_link_ready() - the output queue drained: send what waited for it. */
void tcp_link_ready(struct net *n);
void tcp_close_all(struct net *n);
/* tcp_connect_guest() - @fd, accepted on a published port, becomes a flow
 * from the gateway to the guest's @gport. Return: 0, or -1 (@fd not taken) */
int tcp_connect_guest(struct net *n, int fd, uint16_t gport);

/* vnet.c: the link as a vhost-user-net device */
/* virtio 1.2 §5.1.6: struct virtio_net_hdr, 12 bytes with VERSION_1 */
#define VNET_HDR_MAX 12
#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_HDR_F_DATA_VALID 2
#define VNET_GSO_NONE 0
/* vnet_open() - serve vhost-user on @fd (ours from then on). Return: 0,
 * -errno */
int vnet_open(struct net *n, int fd);
void vnet_close(struct net *n);
/* vnet_socket_event() - a message from QEMU. Return: 0, or -1 when the
 * link is over */
int vnet_socket_event(struct net *n);
void vnet_kick(struct net *n, unsigned int queue);
/* vnet_flush() - frames of the output queue into the receive queue, as
 * far as the guest gave buffers. */
void vnet_flush(struct net *n);
/* vnet_tx_frame() - act on the virtio-net header @hdr of the guest's
 * frame @f (@len bytes): complete a checksum it left to us. Return: 0, or
 * -1 to drop the frame (a checksum field outside it, a GSO request). */
int vnet_tx_frame(const uint8_t *hdr, uint8_t *f, size_t len);

/* fwd.c */
void fwd_event(struct net *n, unsigned idx);
void fwd_close_all(struct net *n);

/* plugin.c: the loaded plugin's hooks (msb_net_plugin.h); each is "allow"
 * without a plugin */
int plugin_frame(struct net *n, const uint8_t *frame, size_t len);
int plugin_connect(struct net *n, int proto, const struct net_addr *dst,
		   uint16_t port);
/* plugin_dns() - Return: MSB_NET_ALLOW, MSB_NET_DENY, or MSB_NET_ANSWER
 * with @addr and @naddr set */
int plugin_dns(struct net *n, const char *name, uint16_t qtype,
	       struct net_addr *addr, unsigned *naddr);
void plugin_unload(struct net *n);

#endif
