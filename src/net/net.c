/* SPDX-License-Identifier: Apache-2.0 */
/* net.c - the stack's link to QEMU, its event loop and shared helpers
 *
 * Theory of operation: QEMU's `-netdev stream` writes each guest frame as
 * a 4-byte big-endian length and the frame; we read as much as the socket
 * has into a fixed buffer and hand every whole frame to eth_input(). Frames
 * to the guest are built in place in a fixed output queue (already framed)
 * and written when a dispatch round ends, so one write() carries many
 * frames. When the queue cannot take a frame, ARP/ICMP/UDP replies are
 * dropped as a NIC would; TCP asks first (net_out_room()) and sends later,
 * when the link drains (tcp_link_ready()).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "stack.h"

#define TICK_MS 50
#define LOG_PER_S 20

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void net_logf(struct net *n, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	/* A guest can make denials as fast as it likes; the log must not
	 * follow it. */
	if (n->now - n->log_window_ms >= 1000) {
		if (n->log_window_n > LOG_PER_S)
			snprintf(line, sizeof(line),
				 "net: %u more lines suppressed",
				 n->log_window_n - LOG_PER_S);
		n->log_window_ms = n->now;
		if (n->log_window_n > LOG_PER_S && n->cfg.log)
			n->cfg.log(n->cfg.opaque, line);
		n->log_window_n = 0;
	}
	if (++n->log_window_n > LOG_PER_S || !n->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n->cfg.log(n->cfg.opaque, line);
}

/* resolv_conf_upstream() - the host's first nameserver of either family
 * (one with a zone, fe80::1%eth0, is skipped), else 127.0.0.1 */
static void resolv_conf_upstream(struct net_config *c)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/etc/resolv.conf", "re");

	c->dns_upstream = net_addr4(0x7f000001);
	c->dns_port = 53;
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char addr[64];
		struct net_addr a;
		uint16_t port;

		if (sscanf(line, " nameserver %63s", addr) == 1 &&
		    !strchr(addr, '[') &&
		    net_endpoint_parse(addr, &a, &port, 53) == 0) {
			c->dns_upstream = a;
			break;
		}
	}
	free(line);
	fclose(f);
}

void net_config_default(struct net_config *c)
{
	static const uint8_t gmac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t hmac[6] = { 0x52, 0x54, 0x00, 0x12, 0x35, 0x02 };
	static const uint8_t g6[16] = NET_GUEST_IP6, gw6[16] = NET_GW_IP6,
			     d6[16] = NET_DNS_IP6;

	memset(c, 0, sizeof(*c));
	memcpy(c->guest_mac, gmac, 6);
	memcpy(c->gw_mac, hmac, 6);
	c->guest_ip = NET_GUEST_IP;
	c->gw_ip = NET_GW_IP;
	c->dns_ip = NET_DNS_IP;
	c->prefix = NET_PREFIX;
	memcpy(c->guest_ip6, g6, 16);
	memcpy(c->gw_ip6, gw6, 16);
	memcpy(c->dns_ip6, d6, 16);
	c->prefix6 = NET_PREFIX6;
	c->mtu = NET_MTU;
	resolv_conf_upstream(c);
	net_policy_init(&c->policy);
}

int net_watch(struct net *n, int fd, uint32_t events, enum net_ev kind,
	      unsigned idx, int op)
{
	struct epoll_event ev = { .events = events };

	ev.data.u64 = (uint64_t)kind << 32 | idx;
	return epoll_ctl(n->epfd, op, fd, &ev);
}

void net_rewatch(struct net *n, int fd, uint32_t *watched, uint32_t want,
		 enum net_ev kind, unsigned idx)
{
	if (want == *watched)
		return;
	/* Not watching at all is a DEL: EPOLLHUP is reported whatever the
	 * mask, and a closed socket would wake us forever. */
	if (!want)
		epoll_ctl(n->epfd, EPOLL_CTL_DEL, fd, NULL);
	else
		net_watch(n, fd, want, kind, idx,
			  *watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
	*watched = want;
}

struct net *net_new(const struct net_config *cfg)
{
	struct net *n = calloc(1, sizeof(*n));
	struct itimerspec it = { .it_interval = { 0, TICK_MS * 1000000 },
				 .it_value = { 0, TICK_MS * 1000000 } };

	if (!n)
		return NULL;
	n->cfg = *cfg;
	n->link_fd = -1;
	n->vu_listen = -1;
	/* The link buffers are not zeroed: only what was read or written
	 * into them is ever looked at. */
	n->in = malloc(NET_IN_BUF);
	n->out = malloc(NET_OUT_BUF);
	if (!n->in || !n->out || (cfg->bind_names &&
	    !(n->names = calloc(NET_NAMES_MAX, sizeof(*n->names))))) {
		free(n->in);
		free(n->out);
		free(n->names);
		free(n);
		return NULL;
	}
	for (unsigned i = 0; i < NET_UDP_MAX; i++)
		n->udp[i].fd = -1;
	for (unsigned i = 0; i < NET_PING_MAX; i++)
		n->ping[i].fd = -1;
	for (unsigned i = 0; i < NET_DNS_TCP_MAX; i++)
		n->dns_tcp[i].fd = -1;
	for (unsigned i = 0; i < NET_DNS_PENDING; i++)
		n->dnsq[i].fd = -1;
	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	n->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
	n->ack_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (n->epfd < 0 || n->timer_fd < 0 || n->ack_fd < 0) {
		net_free(n);
		return NULL;
	}
	/* Host sockets are re-originated flows: initial sequence numbers
	 * the guest cannot predict cost nothing. */
	if (getrandom(&n->isn_seed, sizeof(n->isn_seed), GRND_NONBLOCK) < 0)
		n->isn_seed = (uint32_t)mono_ms() * 2654435761u;
	timerfd_settime(n->timer_fd, 0, &it, NULL);
	net_watch(n, n->timer_fd, EPOLLIN, NEV_TIMER, 0, EPOLL_CTL_ADD);
	net_watch(n, n->ack_fd, EPOLLIN, NEV_ACK_TIMER, 0, EPOLL_CTL_ADD);
	n->now = mono_ms();
	return n;
}

void net_ack_timer(struct net *n, uint64_t at_ms)
{
	struct itimerspec it = { .it_value = {
		(time_t)(at_ms / 1000), (long)(at_ms % 1000) * 1000000 } };

	if (n->ack_fd_at && n->ack_fd_at <= at_ms)
		return;
	/* (0 would disarm it: the clock's first millisecond is long past) */
	if (!at_ms || timerfd_settime(n->ack_fd, TFD_TIMER_ABSTIME, &it,
				      NULL) < 0)
		return; /* the 50 ms tick sends it instead */
	n->ack_fd_at = at_ms;
}

static void link_close(struct net *n)
{
	vnet_close(n);
	if (n->link_fd < 0)
		return;
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, n->link_fd, NULL);
	close(n->link_fd);
	n->link_fd = -1;
}

void net_attach(struct net *n, int link_fd)
{
	link_close(n);
	tcp_close_all(n);
	udp_close_all(n);
	icmp_close_all(n);
	dns_close(n);
	n->in_len = n->out_off = n->out_len = 0;
	n->out_armed = 0;
	n->link_fd = link_fd;
	if (link_fd >= 0) {
		fcntl(link_fd, F_SETFL, fcntl(link_fd, F_GETFL) | O_NONBLOCK);
		net_watch(n, link_fd, EPOLLIN, NEV_LINK, 0, EPOLL_CTL_ADD);
	}
}

int net_attach_vhost(struct net *n, int fd)
{
	net_attach(n, -1);
	return vnet_open(n, fd);
}

static void listen_close(struct net *n)
{
	if (n->vu_listen < 0)
		return;
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, n->vu_listen, NULL);
	close(n->vu_listen);
	n->vu_listen = -1;
}

int net_listen_vhost(struct net *n, int lfd)
{
	net_attach(n, -1);
	listen_close(n);
	n->vu_listen = lfd;
	if (net_watch(n, lfd, EPOLLIN, NEV_VU_LISTEN, 0, EPOLL_CTL_ADD) < 0) {
		int e = -errno;

		listen_close(n);
		return e;
	}
	return 0;
}

/* vu_accept() - QEMU connected: its one connection is the link, and the
 * listener is done. */
static void vu_accept(struct net *n)
{
	int fd = accept4(n->vu_listen, NULL, NULL,
			 SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	listen_close(n);
	if (vnet_open(n, fd) < 0)
		net_logf(n, "net: vhost-user link: out of memory");
}

int net_fd(const struct net *n)
{
	return n->epfd;
}

void net_get_stats(const struct net *n, struct net_stats *st)
{
	*st = n->st;
}

void net_set_byte_rate(struct net *n, uint64_t bps)
{
	n->bytes_in.rate = n->bytes_out.rate = (double)bps;
	n->bytes_in.tokens = n->bytes_out.tokens = (double)bps;
	n->bytes_in.at_ms = n->bytes_out.at_ms = mono_ms();
}

/* refill() - @b's tokens brought up to now (at most a second's worth). */
static void refill(struct net *n, __typeof__(n->bytes_in) *b)
{
	uint64_t now = mono_ms();

	if (!b->rate || now <= b->at_ms)
		return;
	b->tokens += (double)(now - b->at_ms) / 1000.0 * b->rate;
	if (b->tokens > b->rate)
		b->tokens = b->rate;
	b->at_ms = now;
}

/* link_watch() - EPOLLIN on the link unless paused, EPOLLOUT when armed. */
static void link_watch(struct net *n)
{
	net_watch(n, n->link_fd,
		  (n->in_paused ? 0 : EPOLLIN) | (n->out_armed ? EPOLLOUT : 0),
		  NEV_LINK, 0, EPOLL_CTL_MOD);
}

int net_out_room(const struct net *n, size_t len)
{
	/* no tokens: TCP holds back as for a full link */
	if (n->bytes_out.rate && n->bytes_out.tokens <= 0)
		return 0;
	return n->out_len + 4 + len <= NET_OUT_BUF;
}

uint8_t *net_frame_begin(struct net *n, size_t max)
{
	/* room only: the byte rate holds back TCP's data (net_out_room()),
	 * never an ACK or a control frame */
	if (n->out_len + 4 + max > NET_OUT_BUF) {
		n->st.tx_dropped++;
		n->link_blocked = 1;
		return NULL;
	}
	if (n->out_off + n->out_len + 4 + max > NET_OUT_BUF) {
		memmove(n->out, n->out + n->out_off, n->out_len);
		n->out_off = 0;
	}
	return n->out + n->out_off + n->out_len + 4;
}

void net_frame_commit(struct net *n, uint8_t *frame, size_t len)
{
	uint8_t *hdr = frame - 4;

	msb_put_be32(hdr, (uint32_t)len);
	n->out_len += 4 + len;
	if (n->bytes_out.rate)
		n->bytes_out.tokens -= (double)len;
	n->st.tx_frames++;
	n->st.tx_bytes += len;
}

void net_flush(struct net *n)
{
	if (n->vnet) {
		vnet_flush(n);
		return;
	}
	while (n->out_len && n->link_fd >= 0) {
		ssize_t w = send(n->link_fd, n->out + n->out_off, n->out_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		n->out_off += (size_t)w;
		n->out_len -= (size_t)w;
	}
	if (!n->out_len)
		n->out_off = 0;
	if (n->link_fd >= 0 && !!n->out_len != n->out_armed) {
		n->out_armed = !!n->out_len;
		link_watch(n);
	}
	if (n->link_fd < 0)
		n->out_off = n->out_len = 0;
}

void net_input(struct net *n, const uint8_t *frame, size_t len)
{
	n->st.rx_frames++;
	n->st.rx_bytes += len;
	if (plugin_frame(n, frame, len) != 0)
		return; /* the plugin's backend took it */
	eth_input(n, frame, len);
}

/* link_read() - whole frames out of what QEMU wrote. Return: 0, or -1 when
 * the link is gone or sent a length no Ethernet frame has. */
static int link_read(struct net *n)
{
	for (int rounds = 0; rounds < 16; rounds++) {
		size_t want = NET_IN_BUF - n->in_len;
		ssize_t r;
		size_t off = 0;

		/* with a byte rate, no more than the tokens allow is taken
		 * off the link: the rest waits in the socket and in QEMU,
		 * and the guest's TCP slows down to the rate */
		if (n->bytes_in.rate) {
			if (n->bytes_in.tokens < 1) {
				n->in_paused = 1;
				link_watch(n);
				return 0;
			}
			if ((double)want > n->bytes_in.tokens)
				want = (size_t)n->bytes_in.tokens;
		}
		r = read(n->link_fd, n->in + n->in_len, want);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			return -1;
		n->in_len += (size_t)r;
		if (n->bytes_in.rate)
			n->bytes_in.tokens -= (double)r;
		while (n->in_len - off >= 4) {
			uint32_t flen = msb_get_be32(n->in + off);

			if (flen > NET_FRAME_MAX) {
				net_logf(n, "net: frame of %u bytes on the "
					    "link; dropping the link", flen);
				return -1;
			}
			if (n->in_len - off - 4 < flen)
				break;
			net_input(n, n->in + off + 4, flen);
			off += 4 + flen;
		}
		memmove(n->in, n->in + off, n->in_len - off);
		n->in_len -= off;
		/* A batch of guest segments gets one ACK per flow. */
		tcp_flush_acks(n);
	}
	return 0;
}

void net_tick(struct net *n, uint64_t now_ms)
{
	n->now = now_ms;
	refill(n, &n->bytes_in);
	refill(n, &n->bytes_out);
	if (n->in_paused && n->bytes_in.tokens > 0 && n->vnet) {
		n->in_paused = 0;
		vnet_kick(n, 1); /* what waited in the transmit queue */
	} else if (n->in_paused && n->bytes_in.tokens > 0 &&
		   n->link_fd >= 0) {
		n->in_paused = 0;
		link_watch(n);
	}
	tcp_tick(n);
	udp_tick(n);
	icmp_tick(n);
	dns_tick(n);
}

void net_dispatch(struct net *n)
{
	struct epoll_event evs[64];
	int cnt;

	n->now = mono_ms();
	cnt = epoll_wait(n->epfd, evs, 64, 0);
	for (int i = 0; i < cnt; i++) {
		unsigned kind = (unsigned)(evs[i].data.u64 >> 32);
		unsigned idx = (unsigned)evs[i].data.u64;
		uint32_t e = evs[i].events;

		switch (kind) {
		case NEV_LINK:
			if (n->link_fd < 0)
				break;
			if (e & EPOLLOUT)
				net_flush(n);
			if ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
			    link_read(n) < 0) {
				link_close(n);
				tcp_close_all(n);
				udp_close_all(n);
				icmp_close_all(n);
			}
			break;
		case NEV_VU:
			if (vnet_socket_event(n) < 0) {
				link_close(n);
				tcp_close_all(n);
				udp_close_all(n);
				icmp_close_all(n);
			}
			break;
		case NEV_VU_KICK:
			vnet_kick(n, idx);
			break;
		case NEV_VU_LISTEN:
			if (n->vu_listen >= 0)
				vu_accept(n);
			break;
		case NEV_TIMER: {
			uint64_t x;

			if (read(n->timer_fd, &x, sizeof(x)) > 0)
				net_tick(n, n->now);
			break;
		}
		case NEV_ACK_TIMER: {
			uint64_t x;

			if (read(n->ack_fd, &x, sizeof(x)) > 0) {
				n->ack_fd_at = 0;
				tcp_delayed_acks(n);
			}
			break;
		}
		case NEV_TCP:
			tcp_event(n, idx, e);
			break;
		case NEV_UDP:
			udp_event(n, idx, e);
			break;
		case NEV_DNS:
			dns_event(n, idx);
			break;
		case NEV_FWD:
			fwd_event(n, idx);
			break;
		case NEV_DNS_TCP:
			dns_tcp_event(n, idx);
			break;
		case NEV_PING:
			icmp_event(n, idx);
			break;
		}
	}
	tcp_flush_acks(n);
	net_flush(n);
	/* Room again: what TCP held back goes now. */
	if (n->link_blocked && n->out_len < NET_OUT_BUF / 2 &&
	    (!n->bytes_out.rate || n->bytes_out.tokens > 0)) {
		n->link_blocked = 0;
		tcp_link_ready(n);
		net_flush(n);
	}
}

void net_free(struct net *n)
{
	if (!n)
		return;
	link_close(n);
	listen_close(n);
	tcp_close_all(n);
	udp_close_all(n);
	icmp_close_all(n);
	dns_close(n);
	fwd_close_all(n);
	plugin_unload(n);
	if (n->timer_fd >= 0)
		close(n->timer_fd);
	if (n->ack_fd >= 0)
		close(n->ack_fd);
	if (n->epfd >= 0)
		close(n->epfd);
	free(n->names);
	free(n->in);
	free(n->out);
	free(n);
}

int net_open_socket(struct net *n, int type, const struct net_addr *ip,
		    uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = net_sockaddr(ip, port, &ss);
	int fd;

	if (n->cfg.open_socket)
		return n->cfg.open_socket(n->cfg.opaque, type, 0,
					  (struct sockaddr *)&ss, len);
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/*
 * The Internet checksum (RFC 1071) of @len bytes at @p, added to @sum.
 * The one's-complement sum does not depend on byte order (RFC 1071 §2(B)):
 * the bytes are summed as native 32-bit words into 64 bits, where no carry
 * is lost before 2^32 words, folded to 16 bits once, and turned into the
 * big-endian value the callers' sums are in. An odd last byte is the high
 * byte of a big-endian word, as if padded with a zero.
 */
uint32_t net_csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t acc = 0;
	uint32_t w32;
	uint16_t w16 = 0;
	uint8_t be[2];

	for (; len >= 16; b += 16, len -= 16) {
		uint64_t a, c;

		memcpy(&a, b, 8);
		memcpy(&c, b + 8, 8);
		acc += (a & 0xffffffffu) + (a >> 32) + (c & 0xffffffffu) +
		       (c >> 32);
	}
	for (; len >= 4; b += 4, len -= 4) {
		memcpy(&w32, b, 4);
		acc += w32;
	}
	if (len >= 2) {
		memcpy(&w16, b, 2);
		acc += w16;
		b += 2;
		len -= 2;
	}
	if (len) {
		w16 = 0;
		memcpy(&w16, b, 1);
		acc += w16;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	w16 = (uint16_t)acc;
	memcpy(be, &w16, 2);
	acc = (uint64_t)sum + msb_get_be16(be);
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net_pseudo4(uint32_t src, uint32_t dst, uint8_t proto, size_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       proto + (uint32_t)len;
}

uint32_t net_pseudo(const struct net_addr *src, const struct net_addr *dst,
		    uint8_t proto, size_t len)
{
	uint32_t sum;

	if (src->family == 4)
		return net_pseudo4(net_addr_v4(src), net_addr_v4(dst), proto,
				   len);
	sum = net_csum_add(0, src->b, 16);
	sum = net_csum_add(sum, dst->b, 16);
	return sum + (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + proto;
}

struct net_addr net_guest_addr(const struct net *n, int family)
{
	return family == 6 ? net_addr6(n->cfg.guest_ip6) :
			     net_addr4(n->cfg.guest_ip);
}

struct net_addr net_gw_addr(const struct net *n, int family)
{
	return family == 6 ? net_addr6(n->cfg.gw_ip6) : net_addr4(n->cfg.gw_ip);
}

struct net_addr net_dns_addr(const struct net *n, int family)
{
	return family == 6 ? net_addr6(n->cfg.dns_ip6) :
			     net_addr4(n->cfg.dns_ip);
}

int net_host_port(const struct net *n, const struct net_addr *ip,
		  uint16_t port)
{
	struct net_addr g = net_gw_addr(n, ip->family);

	if (!net_addr_eq(ip, &g))
		return 0;
	for (unsigned i = 0; i < n->cfg.nhost_ports; i++)
		if (n->cfg.host_ports[i] == port)
			return 1;
	return 0;
}

int net_is_dns(const struct net *n, const struct net_addr *ip)
{
	struct net_addr d = net_dns_addr(n, ip->family);

	return net_addr_eq(ip, &d);
}

int net_is_local(const struct net *n, const struct net_addr *ip)
{
	struct net_cidr subnet = { .family = ip->family };
	struct net_addr g = net_guest_addr(n, ip->family);

	subnet.len = (uint8_t)(ip->family == 6 ? n->cfg.prefix6 :
						 n->cfg.prefix);
	memcpy(subnet.addr, g.b, 16);
	/* (The subnet's host bits need not be clear: the match is a prefix
	 * compare of its first @len bits.) */
	return net_cidr_match(&subnet, ip);
}
