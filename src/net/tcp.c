/* SPDX-License-Identifier: Apache-2.0 */
/* tcp.c - guest TCP, terminated here and re-originated from host sockets
 *
 * Theory of operation (RFC 9293 terms): the guest's SYN is checked against
 * the policy; if allowed, a non-blocking host socket connects to the same
 * destination, and only once that connect succeeds does the guest get its
 * SYN-ACK (a refused or unreachable destination gets an RST, so the guest
 * sees what a real network would show). From then on each side is its own
 * connection and this file moves bytes between them:
 *
 * - guest -> host: an in-order segment is written straight to the host
 *   socket and acknowledged only as far as the socket took it; nothing is
 *   buffered here. The window we advertise is the free space of the host
 *   socket's send buffer, so a slow remote reader slows the guest's sender
 *   and nothing else. When it is full we advertise zero and wait for
 *   EPOLLOUT, then send a window update.
 * - host -> guest: we read from the host socket into the flow's ring
 *   (NET_TCP_RING bytes) only while it has room, send from the ring within
 *   the guest's advertised window, and free ring bytes only when the guest
 *   acknowledges them. Unacknowledged data is sent again from the ring when
 *   the retransmission timer fires (go-back-N from snd_una, with
 *   exponential backoff; the link is a local socket, so loss only happens
 *   when our own output queue overflows).
 * - FIN each way becomes shutdown(SHUT_WR) or a FIN to the guest once the
 *   ring has drained; RST each way becomes an RST (SO_LINGER 0) or an RST
 *   to the guest. A flow ends when both directions are closed and our FIN
 *   is acknowledged.
 *
 * Published ports (fwd.c) run the other way: the host socket is an
 * accepted connection, and this file sends the SYN to the guest
 * (TF_SYN_SENT) from the gateway's address; once the guest's SYN-ACK
 * arrives the flow is established and the rules above apply unchanged.
 *
 * IPv4 and IPv6 flows are the same code: a flow's addresses are struct
 * net_addr, the host socket is of their family, and only the header
 * length (the MSS we offer) differs.
 *
 * Out-of-order segments from the guest are dropped with a duplicate ACK
 * (the guest's fast retransmit recovers); guest options honoured: MSS and
 * window scale (RFC 7323); we offer window scale 7 when the guest does.
 *
 * ACKs for the guest's data are delayed as a receiving kernel delays them
 * (RFC 1122 §4.2.3.2, RFC 9293 §3.8.6.3): an in-order segment the host
 * socket took whole is acknowledged at once only when more than one
 * full-size segment (the largest the guest has sent) or half the window
 * we advertised is unacknowledged, else within TCP_DELACK_MS (ack_fd), or
 * sooner with data of ours going its way. The guest's Nagle algorithm
 * holds a short write while an earlier one is unacknowledged, so it then
 * gathers what its program writes into full-size segments, and under TCG
 * each frame it does not send, and each ACK it does not take, is time
 * saved. A FIN, a segment out of order or already seen, one the host
 * socket did not take whole (the window closes), and a window update are
 * acknowledged at once. A flow through a filter is acknowledged the same
 * way: the filter's bytes are written to the host socket before the ACK
 * is decided, and what it answers the guest carries the ACK as any data
 * of ours does. (A CONNECT tunnel through a proxy that stalled under load
 * with delayed ACKs, and was given ACKs at once for a while, stalled on
 * the secrets guard instead: it held the last byte of the server's TLS
 * flight back as the possible start of a value, which a tunnel no longer
 * does, src/secrets/guard_resp.c bytes(); the ACKs were not the cause.)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "filter.h"
#include "stack.h"

/* Filtered bytes held for a host socket that does not take them; above
 * this the guest's bytes are not acknowledged (it sends them again). */
#define TCP_FILTER_BACKLOG (256 * 1024)

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

#define TCP_GUEST_MSS_DEFAULT 536
#define TCP_WS 7
#define TCP_RTO_MIN_MS 200
#define TCP_RTO_MAX_MS 8000
#define TCP_RETRIES 10
#define TCP_CONNECT_TIMEOUT_MS 30000
#define TCP_SYN_OPTLEN 8
#define TCP_DELACK_MS 10

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_LE(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((a) - (b)) > 0)

/**
 * struct tcp_seg - a parsed, checksummed segment from the guest
 * @ws: the window scale option, -1 if absent
 */
struct tcp_seg {
	uint16_t sport, dport, win, mss;
	uint32_t seq, ack;
	uint8_t flags;
	int ws;
	const uint8_t *data;
	size_t dlen;
};

/* seg_parse() - header, options and checksum (RFC 9293 §3.1). Return: 0, -1 */
static int seg_parse(const struct ip_pkt *ip, struct tcp_seg *s)
{
	const uint8_t *p = ip->l4;
	size_t hlen, o;

	if (ip->l4len < TCP_HLEN)
		return -1;
	hlen = (size_t)(p[12] >> 4) * 4;
	if (hlen < TCP_HLEN || hlen > ip->l4len)
		return -1;
	if (net_csum_fold(net_csum_add(net_pseudo(&ip->src, &ip->dst,
						  IPPROTO_TCP, ip->l4len),
				       p, ip->l4len)) != 0)
		return -1;
	s->sport = msb_get_be16(p);
	s->dport = msb_get_be16(p + 2);
	s->seq = msb_get_be32(p + 4);
	s->ack = msb_get_be32(p + 8);
	s->flags = p[13] & 0x3f;
	s->win = msb_get_be16(p + 14);
	s->mss = 0;
	s->ws = -1;
	s->data = p + hlen;
	s->dlen = ip->l4len - hlen;
	for (o = TCP_HLEN; o < hlen;) {
		uint8_t kind = p[o], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			continue;
		}
		if (o + 2 > hlen)
			break;
		len = p[o + 1];
		if (len < 2 || o + len > hlen)
			break;
		if (kind == 2 && len == 4)
			s->mss = msb_get_be16(p + o + 2);
		else if (kind == 3 && len == 3)
			s->ws = p[o + 2] > 14 ? 14 : p[o + 2];
		o += len;
	}
	return 0;
}

static void ring_copy(const struct tcp_flow *t, uint32_t off, uint8_t *dst,
		      uint32_t len)
{
	uint32_t pos = (t->rhead + off) % NET_TCP_RING;
	uint32_t first = NET_TCP_RING - pos;

	if (first > len)
		first = len;
	memcpy(dst, t->ring + pos, first);
	memcpy(dst + first, t->ring, len - first);
}

/* host_wnd() - what the host socket can take now, as a window
 *
 * The kernel takes data while its queued memory (payload plus overhead,
 * SK_MEMINFO_WMEM_QUEUED) is below SO_SNDBUF, and reports EPOLLOUT once a
 * third of it is free. We advertise three quarters of the free memory, and
 * a window smaller than a segment, or than a quarter of the buffer when
 * that is less (a 64 KiB segment of a large-MTU link can exceed the whole
 * of a new socket's buffer), as zero (receiver silly window avoidance,
 * RFC 1122 §4.2.3.3: min(MSS, buffer / 2), here a quarter): EPOLLOUT then
 * says when it opened, and at that point the window is at least a quarter
 * of the buffer, so never zero again at once.
 */
static uint32_t host_wnd(struct tcp_flow *t)
{
	uint32_t mi[SK_MEMINFO_VARS] = { 0 }, q, w;
	socklen_t l = sizeof(mi);

	if (t->fd < 0 || t->guest_fin)
		return t->last_wnd;
	if (t->host_blocked)
		return 0;
	if (getsockopt(t->fd, SOL_SOCKET, SO_MEMINFO, mi, &l) < 0 ||
	    !mi[SK_MEMINFO_SNDBUF])
		return 65535;
	q = mi[SK_MEMINFO_WMEM_QUEUED] > mi[SK_MEMINFO_WMEM_ALLOC] ?
		    mi[SK_MEMINFO_WMEM_QUEUED] :
		    mi[SK_MEMINFO_WMEM_ALLOC];
	w = mi[SK_MEMINFO_SNDBUF] > q ? (mi[SK_MEMINFO_SNDBUF] - q) / 4 * 3 : 0;
	if (w < t->gmss && w < mi[SK_MEMINFO_SNDBUF] / 4) {
		t->host_blocked = 1;
		return 0;
	}
	return w;
}

/* seg_out() - one segment to the guest; @off is the payload's offset in
 * the ring from snd_una. Return: 0, or -1 if the link queue is full. */
static int seg_out(struct net *n, struct tcp_flow *t, uint8_t flags,
		   uint32_t seq, uint32_t off, uint32_t len)
{
	size_t optlen = (flags & F_SYN) ? TCP_SYN_OPTLEN : 0;
	size_t l4 = TCP_HLEN + optlen + len;
	uint32_t wnd = t->last_wnd;
	uint8_t *f, *h;
	uint16_t c;

	h = eth_ip_begin(n, t->gaddr.family, &f, l4);
	if (!h)
		return -1;
	msb_put_be16(h, t->dport);
	msb_put_be16(h + 2, t->gport);
	msb_put_be32(h + 4, seq);
	msb_put_be32(h + 8, (flags & F_ACK) ? t->rcv_nxt : 0);
	h[12] = (uint8_t)(((TCP_HLEN + optlen) / 4) << 4);
	h[13] = flags;
	/* The window in a SYN is never scaled (RFC 7323 §2.2). */
	if (flags & F_SYN)
		msb_put_be16(h + 14, (uint16_t)(wnd > 0xffff ? 0xffff : wnd));
	else
		msb_put_be16(h + 14, (uint16_t)((wnd >> t->ws) > 0xffff ?
						 0xffff :
						 wnd >> t->ws));
	msb_put_be16(h + 16, 0);
	msb_put_be16(h + 18, 0);
	if (optlen) {
		uint16_t mss = (uint16_t)(n->cfg.mtu -
					  eth_ip_hlen(t->gaddr.family) -
					  TCP_HLEN);

		h[20] = 2;
		h[21] = 4;
		msb_put_be16(h + 22, mss);
		h[24] = 1;
		h[25] = 3;
		h[26] = 3;
		h[27] = t->ws;
		if (!t->ws) /* the guest offered no scaling: no option */
			h[25] = h[26] = h[27] = 1;
	}
	if (len)
		ring_copy(t, off, h + TCP_HLEN + optlen, len);
	c = net_csum_fold(net_csum_add(
		net_pseudo(&t->daddr, &t->gaddr, IPPROTO_TCP, l4), h, l4));
	msb_put_be16(h + 16, c);
	eth_ip_commit(n, f, &t->daddr, &t->gaddr, IPPROTO_TCP, l4);
	if (flags & F_ACK) {
		t->ack_pending = 0;
		t->delack_at = 0;
		t->rcv_acked = t->rcv_nxt;
	}
	return 0;
}

/* reset_reply() - RST for a segment no flow takes (RFC 9293 §3.10.7.1) */
static void reset_reply(struct net *n, const struct ip_pkt *ip,
			const struct tcp_seg *s)
{
	struct tcp_flow tmp = { 0 };

	if (s->flags & F_RST)
		return;
	tmp.gaddr = ip->src;
	tmp.gport = s->sport;
	tmp.daddr = ip->dst;
	tmp.dport = s->dport;
	if (s->flags & F_ACK) {
		seg_out(n, &tmp, F_RST, s->ack, 0, 0);
	} else {
		tmp.rcv_nxt = s->seq + (uint32_t)s->dlen +
			      ((s->flags & F_SYN) ? 1 : 0) +
			      ((s->flags & F_FIN) ? 1 : 0);
		seg_out(n, &tmp, F_RST | F_ACK, 0, 0, 0);
	}
}

static void update_events(struct net *n, struct tcp_flow *t)
{
	uint32_t want = 0;

	if (t->fd < 0)
		return;
	if (t->state == TF_CONNECTING)
		want = EPOLLOUT;
	else if (t->state == TF_ESTABLISHED && t->filt && t->down)
		want = (!t->host_rd_eof &&
				t->down->len < TCP_FILTER_BACKLOG ? EPOLLIN : 0) |
		       (t->host_blocked ? EPOLLOUT : 0);
	else if (t->state == TF_ESTABLISHED)
		want = (!t->host_eof && t->rlen < NET_TCP_RING ? EPOLLIN : 0) |
		       (t->host_blocked ? EPOLLOUT : 0);
	net_rewatch(n, t->fd, &t->events, want, NEV_TCP,
		    (unsigned)(t - n->tcp));
}

/* flow_free() - forget @t; @rst_host resets the host side, @rst_guest the
 * guest's; otherwise a pending ACK goes out first. */
static void flow_free(struct net *n, struct tcp_flow *t, int rst_host,
		      int rst_guest)
{
	if (rst_guest)
		seg_out(n, t, F_RST | F_ACK, t->snd_nxt, 0, 0);
	else if ((t->ack_pending || t->delack_at) &&
		 t->state == TF_ESTABLISHED)
		seg_out(n, t, F_ACK, t->snd_nxt, 0, 0);
	if (t->fd >= 0) {
		if (rst_host) {
			struct linger lg = { 1, 0 };

			setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg,
				   sizeof(lg));
		}
		if (t->events)
			epoll_ctl(n->epfd, EPOLL_CTL_DEL, t->fd, NULL);
		close(t->fd);
	}
	if (t->filt)
		t->filt->close(t->filt_st);
	if (t->up) {
		msb_buf_free(t->up);
		free(t->up);
	}
	if (t->down) {
		msb_buf_free(t->down);
		free(t->down);
	}
	free(t->ring);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	while (n->tcp_hi && n->tcp[n->tcp_hi - 1].state == TF_FREE)
		n->tcp_hi--;
}

void tcp_close_all(struct net *n)
{
	for (unsigned i = 0; i < n->tcp_hi; i++)
		if (n->tcp[i].state != TF_FREE)
			flow_free(n, &n->tcp[i], 1, 0);
	n->tcp_hi = 0;
}

static struct tcp_flow *flow_find(struct net *n, uint16_t gport,
				  const struct net_addr *daddr, uint16_t dport)
{
	for (unsigned i = 0; i < n->tcp_hi; i++) {
		struct tcp_flow *t = &n->tcp[i];

		if (t->state != TF_FREE && t->gport == gport &&
		    t->dport == dport && net_addr_eq(&t->daddr, daddr))
			return t;
	}
	return NULL;
}

static void arm_rto(struct net *n, struct tcp_flow *t)
{
	if (!t->rto_ms)
		t->rto_ms = TCP_RTO_MIN_MS;
	if (!t->rto_at)
		t->rto_at = n->now + t->rto_ms;
}

/* push() - send what the ring holds and the guest's window allows, then
 * our FIN once the host is done and the ring is sent. */
static void push(struct net *n, struct tcp_flow *t)
{
	size_t hlen = eth_ip_hlen(t->gaddr.family);
	uint32_t mss = n->cfg.mtu - (uint32_t)hlen - TCP_HLEN;

	if (t->state != TF_ESTABLISHED)
		return;
	if (t->gmss < mss)
		mss = t->gmss;
	while (!t->fin_sent) {
		uint32_t inflight = t->snd_nxt - t->snd_una, len;

		if (inflight >= t->rlen)
			break;
		len = t->rlen - inflight;
		if (t->gwnd <= inflight)
			break; /* the guest's window update will call us */
		if (len > t->gwnd - inflight)
			len = t->gwnd - inflight;
		if (len > mss)
			len = mss;
		if (!net_out_room(n, ETH_HLEN + hlen + TCP_HLEN + len)) {
			n->link_blocked = 1;
			return;
		}
		seg_out(n, t, F_ACK | (len == t->rlen - inflight ? F_PSH : 0),
			t->snd_nxt, inflight, len);
		t->snd_nxt += len;
		arm_rto(n, t);
	}
	if (t->host_eof && !t->fin_sent && t->snd_nxt - t->snd_una == t->rlen &&
	    seg_out(n, t, F_FIN | F_ACK, t->snd_nxt, 0, 0) == 0) {
		t->snd_nxt++;
		t->fin_sent = 1;
		arm_rto(n, t);
	}
}

/* filter_flush() - filtered bytes to the host socket, as far as it takes
 * them. Return: 0, -1 if the flow was freed */
static int filter_flush(struct net *n, struct tcp_flow *t)
{
	while (t->up && t->up->len) {
		ssize_t w = send(t->fd, msb_buf_data(t->up), t->up->len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				t->host_blocked = 1;
				return 0;
			}
			flow_free(n, t, 0, 1);
			return -1;
		}
		msb_buf_consume(t->up, (size_t)w);
	}
	return 0;
}

/* ring_fill() - a filtered flow's bytes for the guest into the ring, as far
 * as it has room; the host side is done once they all are */
static void ring_fill(struct tcp_flow *t)
{
	struct msb_buf *d = t->down;

	while (d->len && t->rlen < NET_TCP_RING) {
		uint32_t tail = (t->rhead + t->rlen) % NET_TCP_RING;
		uint32_t room = NET_TCP_RING - t->rlen;

		if (room > NET_TCP_RING - tail)
			room = NET_TCP_RING - tail;
		if (room > d->len)
			room = (uint32_t)d->len;
		memcpy(t->ring + tail, msb_buf_data(d), room);
		msb_buf_consume(d, room);
		t->rlen += room;
	}
	if (t->host_rd_eof && !d->len)
		t->host_eof = 1;
}

/* filter_refuse() - the filter refused the flow: its answer (a 403, a TLS
 * alert), already in @down, goes to the guest after what came before,
 * then our FIN; the host socket is shut and the guest's further bytes
 * dropped. */
static void filter_refuse(struct tcp_flow *t)
{
	t->filt_done = 1;
	t->host_rd_eof = 1;
	t->host_blocked = 0;
	t->up->len = 0;
	shutdown(t->fd, SHUT_RDWR);
	ring_fill(t);
}

/* filter_bufs() - a filtered flow's two queues. Return: 0, -1 (no memory:
 * the flow was freed) */
static int filter_bufs(struct net *n, struct tcp_flow *t)
{
	if (!t->up)
		t->up = calloc(1, sizeof(*t->up));
	if (!t->down)
		t->down = calloc(1, sizeof(*t->down));
	if (t->up && t->down)
		return 0;
	flow_free(n, t, 1, 1);
	return -1;
}

/* read_filtered() - the host socket's bytes through the flow's filter
 * into @down and on into the ring. Return: 0, -1 if the flow was freed */
static int read_filtered(struct net *n, struct tcp_flow *t)
{
	uint8_t buf[16384];

	if (filter_bufs(n, t) < 0)
		return -1;
	ring_fill(t);
	while (!t->host_rd_eof && t->down->len < TCP_FILTER_BACKLOG) {
		ssize_t r = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r > 0) {
			if (t->filt->to_guest(t->filt_st, buf, (size_t)r,
					      t->up, t->down) < 0) {
				filter_refuse(t);
				return 0;
			}
			ring_fill(t);
			continue;
		}
		if (r == 0) {
			/* the filter's last bytes, then the end */
			t->host_rd_eof = 1;
			if (t->filt->to_guest(t->filt_st, NULL, 0, t->up,
					      t->down) < 0) {
				filter_refuse(t);
				return 0;
			}
			break;
		}
		if (errno == EAGAIN || errno == EINTR)
			break;
		flow_free(n, t, 0, 1);
		return -1;
	}
	ring_fill(t);
	return filter_flush(n, t);
}

/* read_host() - fill the ring from the host socket. Return: 0, -1 if the
 * flow was reset and freed */
static int read_host(struct net *n, struct tcp_flow *t)
{
	if (t->filt)
		return read_filtered(n, t);
	while (t->rlen < NET_TCP_RING && !t->host_eof) {
		uint32_t tail = (t->rhead + t->rlen) % NET_TCP_RING;
		uint32_t room = NET_TCP_RING - t->rlen;
		ssize_t r;

		if (room > NET_TCP_RING - tail)
			room = NET_TCP_RING - tail;
		r = recv(t->fd, t->ring + tail, room, MSG_DONTWAIT);
		if (r > 0) {
			t->rlen += (uint32_t)r;
			continue;
		}
		if (r == 0) {
			t->host_eof = 1;
			break;
		}
		if (errno == EAGAIN || errno == EINTR)
			break;
		flow_free(n, t, 0, 1);
		return -1;
	}
	return 0;
}

/* on_ack() - the guest acknowledged up to @s->ack and opened @s->win */
static void on_ack(struct net *n, struct tcp_flow *t, const struct tcp_seg *s)
{
	uint32_t acked;

	t->gwnd = (uint32_t)s->win << t->gws;
	if (!SEQ_GT(s->ack, t->snd_una))
		return;
	/* After a go-back-N reset snd_nxt is behind what was sent; the ACK
	 * can be for anything up to the FIN. */
	if (SEQ_GT(s->ack, t->snd_una + t->rlen + (t->host_eof ? 1 : 0)))
		return;
	acked = s->ack - t->snd_una;
	if (acked > t->rlen) {
		t->fin_acked = t->fin_sent = 1;
		acked = t->rlen;
	}
	t->rhead = (t->rhead + acked) % NET_TCP_RING;
	t->rlen -= acked;
	t->snd_una = s->ack;
	if (SEQ_LT(t->snd_nxt, t->snd_una))
		t->snd_nxt = t->snd_una;
	t->retries = 0;
	t->rto_ms = TCP_RTO_MIN_MS;
	t->rto_at = t->snd_nxt != t->snd_una ? n->now + t->rto_ms : 0;
}

/* filter_in() - guest bytes through the flow's filter to the host socket.
 * Return: 0, -1 if the flow was freed */
static int filter_in(struct net *n, struct tcp_flow *t, const uint8_t *data,
		     uint32_t len)
{
	int r;

	if (t->filt_done) {
		t->rcv_nxt += len;
		return 0;
	}
	if (filter_bufs(n, t) < 0)
		return -1;
	if (t->up->len >= TCP_FILTER_BACKLOG) {
		t->host_blocked = 1;
		return 0;
	}
	r = t->filt->to_upstream(t->filt_st, data, len, t->up, t->down);
	t->rcv_nxt += len;
	if (r < 0) {
		filter_refuse(t);
		return 0;
	}
	ring_fill(t);
	return filter_flush(n, t);
}

/* ack_later() - @len new bytes were taken whole: acknowledge them at once
 * if more than one full-size segment or half our window is waiting for
 * it, else by TCP_DELACK_MS (or with the next segment we send). */
static void ack_later(struct net *n, struct tcp_flow *t, uint32_t len)
{
	uint32_t mss = n->cfg.mtu - (uint32_t)eth_ip_hlen(t->gaddr.family) -
		       TCP_HLEN;
	uint32_t unacked = t->rcv_nxt - t->rcv_acked;
	/* the window our last ACK gave (a 16-bit field, scaled) */
	uint32_t wnd = t->last_wnd >> t->ws;

	wnd = (wnd > 0xffff ? 0xffff : wnd) << t->ws;
	if (len > t->rcv_mss)
		t->rcv_mss = len < mss ? len : mss;
	if (unacked > t->rcv_mss || unacked >= wnd / 2) {
		t->ack_pending = 1;
		return;
	}
	if (!t->delack_at) {
		t->delack_at = n->now + TCP_DELACK_MS;
		net_ack_timer(n, t->delack_at);
	}
}

/* on_data() - the guest's payload and FIN, in order, to the host socket.
 * Return: 0, -1 if the flow was freed */
static int on_data(struct net *n, struct tcp_flow *t, const struct tcp_seg *s)
{
	const uint8_t *data = s->data;
	uint32_t seq = s->seq, len = (uint32_t)s->dlen;
	int fin = !!(s->flags & F_FIN), quick = 0;

	if (!len && !fin) {
		/* A keepalive or window probe (a byte already acknowledged,
		 * RFC 9293 §3.8.4, §3.8.6.1) gets our ACK, with the window. */
		if (SEQ_LT(seq, t->rcv_nxt))
			t->ack_pending = 1;
		return 0;
	}
	if (t->guest_fin)
		goto ack_now;
	if (SEQ_LT(seq, t->rcv_nxt)) {
		uint32_t skip = t->rcv_nxt - seq;

		if (skip > len)
			goto ack_now; /* all old, FIN included */
		data += skip;
		len -= skip;
		seq = t->rcv_nxt;
		quick = 1; /* a retransmission: it may have missed our ACK */
	}
	if (seq != t->rcv_nxt)
		goto ack_now; /* out of order: the ACK is a duplicate */
	if (t->filt) {
		if (len && filter_in(n, t, data, len) < 0)
			return -1;
		if (t->host_blocked || (t->up && t->up->len))
			goto ack_now; /* the FIN waits for its data */
	} else if (len) {
		ssize_t w = send(t->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				flow_free(n, t, 0, 1);
				return -1;
			}
			w = 0;
		}
		t->rcv_nxt += (uint32_t)w;
		if ((uint32_t)w < len) {
			t->host_blocked = 1;
			goto ack_now; /* the FIN waits for its data */
		}
	}
	if (fin) {
		t->rcv_nxt++;
		t->guest_fin = 1;
		shutdown(t->fd, SHUT_WR);
		goto ack_now;
	}
	if (!quick && len) {
		ack_later(n, t, len);
		return 0;
	}
ack_now:
	t->ack_pending = 1;
	return 0;
}

static uint32_t isn(struct net *n, const struct tcp_flow *t)
{
	uint32_t h = 0;

	for (unsigned i = 0; i < 16; i += 4)
		h ^= msb_get_be32(t->daddr.b + i);
	n->isn_seed = n->isn_seed * 1103515245u + 12345u;
	return n->isn_seed ^ (t->gport * 2654435761u) ^ h ^
	       (uint32_t)(n->now * 250);
}

static void log_flow(struct net *n, const char *what,
		     const struct net_addr *ip, uint16_t port, const char *why)
{
	char dst[64];

	net_endpoint_format(ip, port, dst, sizeof(dst));
	net_logf(n, "net: %stcp %s: %s", what, dst, why);
}

static void log_denied(struct net *n, const struct net_addr *ip,
		       uint16_t port, const char *why)
{
	n->st.denied++;
	log_flow(n, "denied ", ip, port, why);
}

static struct tcp_flow *flow_slot(struct net *n)
{
	for (unsigned i = 0; i < NET_TCP_MAX; i++)
		if (n->tcp[i].state == TF_FREE)
			return &n->tcp[i];
	return NULL;
}
/* flow_open() - a new flow's connect deadline, the table's high-water mark
 * and the count, common to flows from the guest and to it. */
static void flow_open(struct net *n, struct tcp_flow *t)
{
	t->deadline = n->now + TCP_CONNECT_TIMEOUT_MS;
	if ((unsigned)(t - n->tcp) >= n->tcp_hi)
		n->tcp_hi = (unsigned)(t - n->tcp) + 1;
	n->st.tcp_flows++;
}

/* on_syn() - a new connection from the guest */
static void on_syn(struct net *n, const struct ip_pkt *ip,
		   const struct tcp_seg *s)
{
	struct tcp_flow *t = NULL;
	char why[160];
	/* DNS over TCP to our resolver is answered by dns.c (its names go
	 * through the policy there); to anyone else it is refused, as over
	 * UDP, so that every name is seen. */
	int fd, one = 1, to_dns = net_is_dns(n, &ip->dst) && s->dport == 53;
	/* --net-allow-host: the gateway's port is the host's loopback one,
	 * opened by name, so past the policy (a plugin still decides). */
	int to_host = !to_dns && net_host_port(n, &ip->dst, s->dport);
	struct net_addr lo = net_addr4(0x7f000001);

	if (!to_dns && !to_host && net_is_local(n, &ip->dst)) {
		reset_reply(n, ip, s);
		return;
	}
	if (!to_dns && s->dport == 53) {
		log_denied(n, &ip->dst, s->dport,
			   "DNS goes through the sandbox's resolver only");
		reset_reply(n, ip, s);
		return;
	}
	if (!to_dns && !to_host &&
	    !net_policy_ip(&n->cfg.policy, &ip->dst, n->now, why,
			   sizeof(why))) {
		log_denied(n, &ip->dst, s->dport, why);
		reset_reply(n, ip, s);
		return;
	}
	if (!to_dns &&
	    plugin_connect(n, IPPROTO_TCP, &ip->dst, s->dport) != 0) {
		snprintf(why, sizeof(why), "plugin %s", n->denied_by);
		log_denied(n, &ip->dst, s->dport, why);
		reset_reply(n, ip, s);
		return;
	}
	t = flow_slot(n);
	if (!t) {
		log_denied(n, &ip->dst, s->dport,
			   "too many connections (limit 512)");
		reset_reply(n, ip, s);
		return;
	}
	fd = to_dns ? dns_tcp_open(n) :
		      net_open_socket(n, SOCK_STREAM, to_host ? &lo : &ip->dst,
				      s->dport);
	if (fd < 0) {
		reset_reply(n, ip, s);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(t, 0, sizeof(*t));
	t->state = TF_CONNECTING;
	t->fd = fd;
	t->gaddr = ip->src;
	t->gport = s->sport;
	t->daddr = ip->dst;
	t->dport = s->dport;
	t->rcv_nxt = s->seq + 1;
	t->gmss = s->mss ? s->mss : TCP_GUEST_MSS_DEFAULT;
	if (t->gmss < 64)
		t->gmss = 64;
	t->gws = s->ws >= 0 ? (uint8_t)s->ws : 0;
	t->ws = s->ws >= 0 ? TCP_WS : 0;
	t->gwnd = s->win;
	t->iss = isn(n, t);
	t->snd_una = t->snd_nxt = t->iss;
	if (!to_dns && n->cfg.flow_filter) {
		t->filt_st = n->cfg.flow_filter(n->cfg.opaque, &ip->dst,
						s->dport, &t->filt);
		if (!t->filt_st)
			t->filt = NULL;
	}
	flow_open(n, t);
	update_events(n, t);
}

/* send_syn() - our SYN (connecting to the guest) or SYN-ACK (answering it),
 * with the retransmission timer armed either way. */
static void send_syn(struct net *n, struct tcp_flow *t, uint8_t flags)
{
	t->last_wnd = 0xffff;
	if (seg_out(n, t, flags, t->iss, 0, 0) == 0)
		t->snd_nxt = t->iss + 1;
	arm_rto(n, t);
}

int tcp_connect_guest(struct net *n, int fd, uint16_t gport)
{
	struct tcp_flow *t = flow_slot(n);
	int one = 1;

	if (!t) {
		net_logf(n, "net: refused a connection to guest port %u: too "
			    "many connections (limit 512)", gport);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	t->gaddr = net_guest_addr(n, 4);
	t->gport = gport;
	t->daddr = net_gw_addr(n, 4);
	/* The gateway's source ports: 32768-60999, as Linux picks them,
	 * skipping any a live flow to this guest port still uses. */
	for (unsigned tries = 0; tries < 28232; tries++) {
		if (n->fwd_sport < 32768 || n->fwd_sport > 60999)
			n->fwd_sport = 32768;
		t->dport = n->fwd_sport++;
		if (!flow_find(n, gport, &t->daddr, t->dport))
			break;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t->state = TF_SYN_SENT;
	t->fd = fd;
	t->gmss = TCP_GUEST_MSS_DEFAULT;
	t->ws = TCP_WS;
	t->iss = isn(n, t);
	t->snd_una = t->snd_nxt = t->iss;
	flow_open(n, t);
	send_syn(n, t, F_SYN);
	return 0;
}

/* on_synack() - the guest accepted a published port's connection (RFC 9293
 * §3.10.7.3). Return: 0, or -1 if the segment was not the answer */
static int on_synack(struct net *n, struct tcp_flow *t,
		     const struct tcp_seg *s)
{
	if ((s->flags & (F_SYN | F_ACK)) != (F_SYN | F_ACK) ||
	    s->ack != t->iss + 1)
		return -1;
	t->rcv_nxt = s->seq + 1;
	if (s->mss)
		t->gmss = s->mss < 64 ? 64 : s->mss;
	/* Scaling only when both sides offered it (RFC 7323 §1.3). */
	t->gws = s->ws >= 0 ? (uint8_t)s->ws : 0;
	if (s->ws < 0)
		t->ws = 0;
	t->gwnd = s->win; /* a SYN's window is never scaled */
	t->state = TF_ESTABLISHED;
	t->snd_una = t->snd_nxt = t->iss + 1;
	t->rto_at = 0;
	t->retries = 0;
	t->ring = malloc(NET_TCP_RING);
	if (!t->ring) {
		flow_free(n, t, 1, 1);
		return 0;
	}
	t->last_wnd = host_wnd(t);
	t->ack_pending = 1;
	if (read_host(n, t) < 0)
		return 0;
	push(n, t);
	update_events(n, t);
	return 0;
}

void tcp_input(struct net *n, const struct ip_pkt *ip)
{
	struct tcp_seg s;
	struct tcp_flow *t;

	if (seg_parse(ip, &s) < 0) {
		n->st.rx_dropped++;
		return;
	}
	t = flow_find(n, s.sport, &ip->dst, s.dport);
	if (!t) {
		if ((s.flags & (F_SYN | F_ACK | F_RST)) == F_SYN)
			on_syn(n, ip, &s);
		else
			reset_reply(n, ip, &s);
		return;
	}
	if (s.flags & F_RST) {
		flow_free(n, t, 1, 0);
		return;
	}
	switch (t->state) {
	case TF_CONNECTING:
		return; /* a SYN again: the answer waits for the host */
	case TF_SYN_SENT:
		if (on_synack(n, t, &s) < 0 && (s.flags & F_ACK))
			reset_reply(n, ip, &s);
		return;
	case TF_SYN_RCVD:
		if (s.flags & F_SYN) {
			send_syn(n, t, F_SYN | F_ACK); /* ours was lost */
			return;
		}
		if (!(s.flags & F_ACK) || s.ack != t->iss + 1) {
			reset_reply(n, ip, &s);
			return;
		}
		t->state = TF_ESTABLISHED;
		t->snd_una = t->snd_nxt = t->iss + 1;
		t->rto_at = 0;
		t->retries = 0;
		t->ring = malloc(NET_TCP_RING);
		if (!t->ring) {
			flow_free(n, t, 1, 1);
			return;
		}
		t->last_wnd = host_wnd(t);
		break;
	default:
		if (s.flags & F_SYN) {
			t->ack_pending = 1; /* a stray SYN: re-ACK */
			return;
		}
		break;
	}
	if (s.flags & F_ACK)
		on_ack(n, t, &s);
	if (on_data(n, t, &s) < 0)
		return;
	if (t->guest_fin && t->fin_acked) {
		flow_free(n, t, 0, 0);
		return;
	}
	if (read_host(n, t) < 0)
		return;
	push(n, t);
	update_events(n, t);
}

void tcp_event(struct net *n, unsigned idx, uint32_t events)
{
	struct tcp_flow *t;

	if (idx >= n->tcp_hi || n->tcp[idx].state == TF_FREE ||
	    n->tcp[idx].fd < 0)
		return;
	t = &n->tcp[idx];
	if (t->state == TF_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err || (events & EPOLLERR)) {
			log_flow(n, "", &t->daddr, t->dport,
				 strerror(err ? err : ECONNREFUSED));
			flow_free(n, t, 0, 1);
			return;
		}
		t->state = TF_SYN_RCVD;
		update_events(n, t);
		send_syn(n, t, F_SYN | F_ACK);
		return;
	}
	if (t->state != TF_ESTABLISHED)
		return;
	if ((events & EPOLLOUT) && t->host_blocked) {
		t->host_blocked = 0;
		t->ack_pending = 1; /* a window update */
		if (t->filt && filter_flush(n, t) < 0)
			return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && read_host(n, t) < 0)
		return;
	push(n, t);
	update_events(n, t);
}

void tcp_flush_acks(struct net *n)
{
	for (unsigned i = 0; i < n->tcp_hi; i++) {
		struct tcp_flow *t = &n->tcp[i];

		if (t->state != TF_ESTABLISHED || !t->ack_pending)
			continue;
		t->last_wnd = host_wnd(t);
		if (seg_out(n, t, F_ACK, t->snd_nxt, 0, 0) < 0)
			n->link_blocked = 1;
		update_events(n, t);
	}
}

void tcp_delayed_acks(struct net *n)
{
	uint64_t next = 0;

	for (unsigned i = 0; i < n->tcp_hi; i++) {
		struct tcp_flow *t = &n->tcp[i];

		if (!t->delack_at || t->state != TF_ESTABLISHED)
			continue;
		if (t->delack_at <= n->now)
			t->ack_pending = 1; /* tcp_flush_acks() sends it */
		else if (!next || t->delack_at < next)
			next = t->delack_at;
	}
	if (next)
		net_ack_timer(n, next);
}

void tcp_link_ready(struct net *n)
{
	for (unsigned i = 0; i < n->tcp_hi; i++)
		if (n->tcp[i].state == TF_ESTABLISHED)
			push(n, &n->tcp[i]);
}

void tcp_tick(struct net *n)
{
	tcp_delayed_acks(n);
	for (unsigned i = 0; i < n->tcp_hi; i++) {
		struct tcp_flow *t = &n->tcp[i];

		if ((t->state == TF_CONNECTING || t->state == TF_SYN_SENT) &&
		    n->now > t->deadline) {
			log_flow(n, "", &t->daddr, t->dport,
				 "connect timed out");
			flow_free(n, t, 1, 1);
			continue;
		}
		if (!t->rto_at || n->now < t->rto_at)
			continue;
		if (++t->retries > TCP_RETRIES) {
			flow_free(n, t, 1, 1);
			continue;
		}
		t->rto_ms = t->rto_ms * 2 > TCP_RTO_MAX_MS ? TCP_RTO_MAX_MS :
							     t->rto_ms * 2;
		t->rto_at = 0;
		if (t->state == TF_SYN_RCVD) {
			send_syn(n, t, F_SYN | F_ACK);
			continue;
		}
		if (t->state == TF_SYN_SENT) {
			send_syn(n, t, F_SYN);
			continue;
		}
		/* Go back to the oldest unacknowledged byte. */
		t->snd_nxt = t->snd_una;
		if (!t->fin_acked)
			t->fin_sent = 0;
		push(n, t);
	}
}
