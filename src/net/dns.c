/* SPDX-License-Identifier: Apache-2.0 */
/* dns.c - the sandbox's resolver at 10.0.2.3: policy first, then upstream
 *
 * Theory of operation: a guest query (RFC 1035 §4.1), to the resolver's
 * IPv4 or IPv6 address, is parsed by dns_parse_query(); the name is checked
 * against the policy (a denied name gets NXDOMAIN at once, never a
 * timeout), A and AAAA queries (RFC 3596) are forwarded to the host-side
 * upstream (IPv4 or IPv6), each from a socket of its own (so from a fresh
 * source port the kernel picks at random) with a random id, and only an
 * answer that comes back on that socket (connected: from the server asked)
 * with that id and that question is taken (RFC 5452 §9.1); the answer is
 * not passed through: dns_parse_answer() takes the records of the asked type out of
 * it (addresses of either family, one code path), those
 * in denied ranges are dropped (rebinding protection), those for names
 * matching --net-allow are bound to the name's rule in the policy, and a
 * new answer is built with every record owned by the question's name. CNAME
 * chains are thus flattened, and nothing but addresses the policy has seen
 * reaches the guest. Other types are refused. Query names longer than
 * DNS_NAME_LIMIT and more than DNS_RATE queries a second are refused:
 * both are how DNS tunnels look. A plugin's on_dns (msb_net_plugin.h) runs
 * after the policy and may deny or answer itself.
 *
 * Over TCP (RFC 7766): tcp.c makes a guest's connection to the resolver's
 * port 53 a flow whose host socket is one end of a socketpair; the other
 * end is a session here, which takes length-prefixed queries and sends
 * each answer back on it (struct dns_to says which way an answer goes).
 */

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "dns.h"
#include "msb_net_plugin.h"
#include "stack.h"

#define DNS_HLEN 12
#define DNS_TIMEOUT_MS 5000
#define DNS_NAME_LIMIT 180
#define DNS_RATE 200
#define DNS_MAX_ADDRS 16
#define DNS_PLUGIN_TTL 60
#define DNS_TCP_IDLE_MS 10000
/* the longest answer reply() writes: its question and DNS_ADDR_MAX AAAA */
#define DNS_REPLY_MAX (DNS_HLEN + NET_DOMAIN_LEN + 6 + DNS_ADDR_MAX * 28)

enum { RC_OK = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3,
       RC_REFUSED = 5 };
enum { T_A = 1, T_CNAME = 5, T_AAAA = 28 };

int dns_read_name(const uint8_t *p, size_t len, size_t *off, char *name)
{
	size_t o = *off, out = 0;

	for (;;) {
		uint8_t l;

		if (o >= len)
			return -1;
		l = p[o++];
		if (!l)
			break;
		/* Pointers (and the reserved 01/10 forms) have no place in
		 * a question's name. */
		if (l > 63 || o + l > len)
			return -1;
		/* At most NET_DOMAIN_LEN characters, dots included, and the
		 * NUL after them. */
		if (out + (out ? 1 : 0) + l > NET_DOMAIN_LEN)
			return -1;
		if (out)
			name[out++] = '.';
		for (unsigned i = 0; i < l; i++) {
			uint8_t c = p[o + i];

			if (c <= ' ' || c > '~' || c == '.')
				return -1;
			name[out++] = (char)tolower(c);
		}
		o += l;
	}
	name[out] = '\0';
	*off = o;
	return 0;
}

int dns_skip_name(const uint8_t *p, size_t len, size_t *off)
{
	size_t o = *off;

	for (unsigned labels = 0; labels < 128; labels++) {
		uint8_t l;

		if (o >= len)
			return -1;
		l = p[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2; /* a pointer ends the name */
			return 0;
		}
		if (l & 0xc0)
			return -1;
		o += 1 + (size_t)l;
		if (!l) {
			*off = o;
			return 0;
		}
	}
	return -1;
}

int dns_parse_query(const uint8_t *p, size_t len, struct dns_q *q)
{
	size_t off = DNS_HLEN;

	if (len < DNS_HLEN)
		return -1;
	q->id = msb_get_be16(p);
	q->flags = msb_get_be16(p + 2);
	/* A standard query (QR 0, opcode 0) with one question. */
	if ((q->flags & 0xf800) || msb_get_be16(p + 4) != 1)
		return -1;
	if (dns_read_name(p, len, &off, q->name) < 0 || off + 4 > len)
		return -1;
	q->qtype = msb_get_be16(p + off);
	q->qclass = msb_get_be16(p + off + 2);
	q->qend = off + 4;
	return 0;
}

int dns_parse_answer(const uint8_t *p, size_t len, struct dns_a *a)
{
	size_t off = DNS_HLEN;
	unsigned qd, an;

	if (len < DNS_HLEN)
		return -1;
	a->id = msb_get_be16(p);
	if (!(msb_get_be16(p + 2) & 0x8000))
		return -1;
	a->qtype = a->qclass = 0;
	a->rcode = p[3] & 0xf;
	qd = msb_get_be16(p + 4);
	an = msb_get_be16(p + 6);
	a->naddr = 0;
	a->min_ttl = UINT32_MAX;
	if (qd != 1 || dns_read_name(p, len, &off, a->name) < 0 ||
	    off + 4 > len)
		return -1;
	a->qtype = msb_get_be16(p + off);
	a->qclass = msb_get_be16(p + off + 2);
	off += 4;
	for (unsigned i = 0; i < an; i++) {
		uint16_t type, class, rdlen;
		uint32_t ttl;

		if (dns_skip_name(p, len, &off) < 0 || off + 10 > len)
			return -1;
		type = msb_get_be16(p + off);
		class = msb_get_be16(p + off + 2);
		ttl = msb_get_be32(p + off + 4);
		rdlen = msb_get_be16(p + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -1;
		if (class == 1 && type == a->qtype && a->naddr < DNS_ADDR_MAX &&
		    ((type == T_A && rdlen == 4) ||
		     (type == T_AAAA && rdlen == 16))) {
			struct net_addr *ad = &a->addr[a->naddr++];

			memset(ad, 0, sizeof(*ad));
			ad->family = type == T_A ? 4 : 6;
			memcpy(ad->b, p + off, rdlen);
			if (ttl < a->min_ttl)
				a->min_ttl = ttl;
		}
		off += rdlen;
	}
	if (a->min_ttl == UINT32_MAX)
		a->min_ttl = 0;
	return 0;
}

static void tcp_session_close(struct net *n, struct dns_tcp *c);

/* pending() - queries of session @c still waiting for the upstream */
static unsigned pending(const struct net *n, const struct dns_tcp *c)
{
	unsigned k = 0, idx = (unsigned)(c - n->dns_tcp) + 1;

	for (unsigned i = 0; i < NET_DNS_PENDING; i++)
		k += n->dnsq[i].used && n->dnsq[i].to.tcp == idx &&
		     n->dnsq[i].to.gen == c->gen;
	return k;
}

/* tcp_rewatch() - session @c registered for what it waits for: queries
 * until the guest half-closed, and room for the answers it holds. */
static void tcp_rewatch(struct net *n, struct dns_tcp *c)
{
	uint32_t ev = (c->eof ? 0 : EPOLLIN) | (c->olen ? EPOLLOUT : 0);

	net_rewatch(n, c->fd, &c->watch, ev, NEV_DNS_TCP,
		    (unsigned)(c - n->dns_tcp));
}

/* tcp_done() - close session @c if the guest is done asking and every
 * answer went. Return: 1 if closed. */
static int tcp_done(struct net *n, struct dns_tcp *c)
{
	if (!c->eof || c->olen || pending(n, c))
		return 0;
	tcp_session_close(n, c);
	return 1;
}

/* tcp_flush() - the answers @c holds, as far as its socket takes them.
 * Return: 0, or -1 with the session closed. */
static int tcp_flush(struct net *n, struct dns_tcp *c)
{
	while (c->olen) {
		ssize_t w = write(c->fd, c->out, c->olen);

		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w <= 0) {
			tcp_session_close(n, c);
			return -1;
		}
		memmove(c->out, c->out + w, c->olen - (size_t)w);
		c->olen -= (size_t)w;
	}
	tcp_rewatch(n, c);
	return 0;
}

/* tcp_answer() - @msg, length-prefixed (RFC 1035 §4.2.2), to its session
 * if that is still the one that asked, in order: what its socket does not
 * take now is held until it does. A session holding more than
 * NET_DNS_TCP_OUT (a guest that asks and does not read) is closed: the
 * guest's resolver retries. */
static void tcp_answer(struct net *n, const struct dns_to *to,
		       const uint8_t *msg, size_t len)
{
	struct dns_tcp *c = &n->dns_tcp[to->tcp - 1];
	uint8_t frame[2 + DNS_REPLY_MAX];
	size_t sent = 0;

	if (c->fd < 0 || c->gen != to->gen || len > sizeof(frame) - 2)
		return;
	msb_put_be16(frame, (uint16_t)len);
	memcpy(frame + 2, msg, len);
	if (!c->olen) {
		ssize_t w = write(c->fd, frame, len + 2);

		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			tcp_session_close(n, c);
			return;
		}
		sent = w < 0 ? 0 : (size_t)w;
	}
	if (sent < len + 2) {
		if (len + 2 - sent > sizeof(c->out) - c->olen) {
			net_logf(n, "net: closed a dns-over-tcp connection: "
				    "more than %d bytes of answers unread",
				 NET_DNS_TCP_OUT);
			tcp_session_close(n, c);
			return;
		}
		memcpy(c->out + c->olen, frame + sent, len + 2 - sent);
		c->olen += len + 2 - sent;
		tcp_rewatch(n, c);
		return;
	}
	tcp_done(n, c);
}

static void tcp_session_close(struct net *n, struct dns_tcp *c)
{
	if (c->fd < 0)
		return;
	if (c->watch)
		epoll_ctl(n->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->olen = 0;
	c->watch = 0;
}

/* reply() - an answer to the guest: its question, then @naddr A or AAAA
 * records (by each address's family) owned by the question's name (a
 * compression pointer to offset 12). */
static void reply(struct net *n, const struct dns_to *to, uint16_t id,
		  uint16_t qflags, const uint8_t *question, size_t qlen,
		  uint8_t rcode, const struct net_addr *addr, unsigned naddr,
		  uint32_t ttl)
{
	uint8_t buf[DNS_REPLY_MAX];
	size_t off = DNS_HLEN;

	if (qlen > NET_DOMAIN_LEN + 6)
		return;
	msb_put_be16(buf, id);
	/* QR, the query's RD, RA, the code. */
	msb_put_be16(buf + 2, (uint16_t)(0x8080 | (qflags & 0x0100) | rcode));
	msb_put_be16(buf + 4, qlen ? 1 : 0);
	msb_put_be16(buf + 6, (uint16_t)naddr);
	msb_put_be16(buf + 8, 0);
	msb_put_be16(buf + 10, 0);
	if (qlen)
		memcpy(buf + off, question, qlen);
	off += qlen;
	for (unsigned i = 0; i < naddr && i < DNS_ADDR_MAX; i++) {
		uint16_t rdlen = addr[i].family == 6 ? 16 : 4;

		msb_put_be16(buf + off, 0xc00c);
		msb_put_be16(buf + off + 2, rdlen == 16 ? T_AAAA : T_A);
		msb_put_be16(buf + off + 4, 1);
		msb_put_be32(buf + off + 6, ttl);
		msb_put_be16(buf + off + 10, rdlen);
		memcpy(buf + off + 12, addr[i].b, rdlen);
		off += 12 + rdlen;
	}
	msb_put_be16(buf + 6,
		     (uint16_t)(naddr < DNS_ADDR_MAX ? naddr : DNS_ADDR_MAX));
	if (to->tcp)
		tcp_answer(n, to, buf, off);
	else
		udp_send_to_guest(n, &to->server, 53, &to->gaddr, to->gport,
				  buf, off);
}

/* upstream_open() - a socket of @q's own, connected to the upstream: the
 * kernel binds it to a random ephemeral port, and takes datagrams on it
 * from the upstream's address and port only. Return: 0 or -errno */
static int upstream_open(struct net *n, struct dns_query *q)
{
	int fd = net_open_socket(n, SOCK_DGRAM, &n->cfg.dns_upstream,
				 n->cfg.dns_port);

	if (fd < 0)
		return fd;
	q->fd = fd;
	net_watch(n, fd, EPOLLIN, NEV_DNS, (unsigned)(q - n->dnsq),
		  EPOLL_CTL_ADD);
	return 0;
}

/* query_free() - @q answered or given up: its socket goes with it */
static void query_free(struct net *n, struct dns_query *q)
{
	if (q->fd >= 0) {
		epoll_ctl(n->epfd, EPOLL_CTL_DEL, q->fd, NULL);
		close(q->fd);
	}
	memset(q, 0, sizeof(*q));
	q->fd = -1;
}

void dns_close(struct net *n)
{
	for (unsigned i = 0; i < NET_DNS_TCP_MAX; i++)
		tcp_session_close(n, &n->dns_tcp[i]);
	for (unsigned i = 0; i < NET_DNS_PENDING; i++)
		query_free(n, &n->dnsq[i]);
}

/* query() - one query from the guest, over UDP or TCP; the answer goes
 * back the same way */
static void query(struct net *n, const struct dns_to *to, const uint8_t *p,
		  size_t len)
{
	uint8_t out[DNS_HLEN + NET_DOMAIN_LEN + 6];
	struct dns_query *slot = NULL;
	struct dns_q q;
	char why[160];
	int bind;

	n->st.dns_queries++;
	if (dns_parse_query(p, len, &q) < 0) {
		/* Answer FORMERR only when there is an id to answer. */
		if (len >= DNS_HLEN)
			reply(n, to, msb_get_be16(p), 0, NULL, 0,
			      RC_FORMERR, NULL, 0, 0);
		return;
	}
	if (n->now - n->dns_window_ms >= 1000) {
		n->dns_window_ms = n->now;
		n->dns_window_n = 0;
	}
	if (++n->dns_window_n > DNS_RATE || strlen(q.name) > DNS_NAME_LIMIT) {
		if (strlen(q.name) > DNS_NAME_LIMIT)
			net_logf(n, "net: refused dns query for a %zu-character "
				    "name (tunnelling limit: %d)",
				 strlen(q.name), DNS_NAME_LIMIT);
		else if (n->dns_window_n == DNS_RATE + 1)
			net_logf(n, "net: refused dns queries: more than %d a "
				    "second (tunnelling limit)", DNS_RATE);
		reply(n, to, q.id, q.flags, p + DNS_HLEN,
		      q.qend - DNS_HLEN, RC_REFUSED, NULL, 0, 0);
		return;
	}
	if (n->cfg.dns_refused &&
	    n->cfg.dns_refused(n->cfg.opaque, q.name, why, sizeof(why))) {
		n->st.denied++;
		net_logf(n, "net: refused dns query: %s", why);
		reply(n, to, q.id, q.flags, p + DNS_HLEN,
		      q.qend - DNS_HLEN, RC_REFUSED, NULL, 0, 0);
		return;
	}
	/* The host, for --net-allow-host: the gateway's addresses. */
	if (n->cfg.nhost_ports && !strcmp(q.name, NET_HOST_NAME)) {
		struct net_addr gw = { 0 };
		unsigned ngw = 0;

		if (q.qclass == 1 && (q.qtype == T_A || q.qtype == T_AAAA)) {
			gw = net_gw_addr(n, q.qtype == T_A ? 4 : 6);
			ngw = q.qtype == T_A || n->cfg.prefix6 ? 1 : 0;
		}
		reply(n, to, q.id, q.flags, p + DNS_HLEN, q.qend - DNS_HLEN,
		      RC_OK, &gw, ngw, DNS_PLUGIN_TTL);
		return;
	}
	if (!net_policy_name(&n->cfg.policy, q.name, &bind, why,
			     sizeof(why))) {
		n->st.denied++;
		net_logf(n, "net: denied dns %s: %s", q.name, why);
		reply(n, to, q.id, q.flags, p + DNS_HLEN,
		      q.qend - DNS_HLEN, RC_NXDOMAIN, NULL, 0, 0);
		return;
	}
	{
		struct net_addr addr[MSB_NET_DNS_ADDRS], ans[MSB_NET_DNS_ADDRS];
		unsigned na, nans = 0;
		int v = plugin_dns(n, q.name, q.qtype, addr, &na);

		if (v == MSB_NET_DENY) {
			n->st.denied++;
			net_logf(n, "net: denied dns %s: plugin %s", q.name,
				 n->denied_by);
			reply(n, to, q.id, q.flags, p + DNS_HLEN,
			      q.qend - DNS_HLEN, RC_NXDOMAIN, NULL, 0, 0);
			return;
		}
		if (v == MSB_NET_ANSWER) {
			/* The addresses of the asked type's family; for
			 * other types, an empty answer. */
			int fam = q.qclass != 1 ? 0 :
				  q.qtype == T_A    ? 4 :
				  q.qtype == T_AAAA ? 6 : 0;

			for (unsigned i = 0; i < na; i++) {
				if (addr[i].family != fam)
					continue;
				ans[nans++] = addr[i];
				dns_name_bind(n, q.name, &addr[i],
					      DNS_PLUGIN_TTL);
				if (bind)
					net_policy_bind(&n->cfg.policy,
							&addr[i],
							DNS_PLUGIN_TTL, n->now);
			}
			reply(n, to, q.id, q.flags, p + DNS_HLEN,
			      q.qend - DNS_HLEN, RC_OK, ans, nans,
			      DNS_PLUGIN_TTL);
			return;
		}
	}
	if (q.qclass != 1 || (q.qtype != T_A && q.qtype != T_AAAA)) {
		reply(n, to, q.id, q.flags, p + DNS_HLEN,
		      q.qend - DNS_HLEN, RC_REFUSED, NULL, 0, 0);
		return;
	}
	for (unsigned i = 0; i < NET_DNS_PENDING; i++) {
		if (!n->dnsq[i].used) {
			slot = &n->dnsq[i];
			break;
		}
	}
	/* An off-path forger must guess the id and the port (RFC 5452 §4):
	 * both random, never a sequence. */
	if (!slot || getrandom(&slot->up_id, sizeof(slot->up_id),
			       GRND_NONBLOCK) != sizeof(slot->up_id) ||
	    upstream_open(n, slot) < 0) {
		reply(n, to, q.id, q.flags, p + DNS_HLEN,
		      q.qend - DNS_HLEN, RC_SERVFAIL, NULL, 0, 0);
		return;
	}
	slot->used = 1;
	slot->bind = (uint8_t)bind;
	slot->guest_id = q.id;
	slot->to = *to;
	slot->qtype = q.qtype;
	slot->deadline = n->now + DNS_TIMEOUT_MS;
	strcpy(slot->name, q.name);
	/* Our own query: a fresh id, recursion desired, the question. */
	msb_put_be16(out, slot->up_id);
	msb_put_be16(out + 2, 0x0100);
	msb_put_be16(out + 4, 1);
	memset(out + 6, 0, 6);
	memcpy(out + DNS_HLEN, p + DNS_HLEN, q.qend - DNS_HLEN);
	if (send(slot->fd, out, q.qend, MSG_DONTWAIT) < 0) {
		query_free(n, slot);
		reply(n, to, q.id, q.flags, p + DNS_HLEN,
		      q.qend - DNS_HLEN, RC_SERVFAIL, NULL, 0, 0);
	}
}

/* encode_question() - @name as a question for @qtype, class IN */
static size_t encode_question(const char *name, uint16_t qtype,
			      uint8_t *out)
{
	size_t o = 0;
	const char *s = name;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		out[o++] = (uint8_t)l;
		memcpy(out + o, s, l);
		o += l;
		s += l + (dot ? 1 : 0);
	}
	out[o++] = 0;
	msb_put_be16(out + o, qtype);
	msb_put_be16(out + o + 2, 1);
	return o + 4;
}

void dns_name_bind(struct net *n, const char *name, const struct net_addr *ip,
		   uint32_t ttl_s)
{
	struct net_name *slot = NULL;
	uint64_t exp = net_bind_expiry(ttl_s, n->now);

	if (!n->names)
		return;
	for (unsigned i = 0; i < NET_NAMES_MAX; i++) {
		struct net_name *b = &n->names[i];

		if (b->ip.family && net_addr_eq(&b->ip, ip) &&
		    !strcmp(b->name, name)) {
			if (b->expires_ms < exp)
				b->expires_ms = exp;
			return;
		}
		/* Else a free slot, or the one that expires first. */
		if (!slot || (slot->ip.family &&
			      (!b->ip.family ||
			       b->expires_ms < slot->expires_ms)))
			slot = b;
	}
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	slot->ip = *ip;
	slot->expires_ms = exp;
}

int net_name_resolved(const struct net *n, const char *name,
		      const struct net_addr *ip)
{
	for (unsigned i = 0; n->names && i < NET_NAMES_MAX; i++) {
		const struct net_name *b = &n->names[i];

		if (b->ip.family && b->expires_ms > n->now &&
		    net_addr_eq(&b->ip, ip) && !strcmp(b->name, name))
			return 1;
	}
	return 0;
}

static void answer(struct net *n, struct dns_query *q, const struct dns_a *a)
{
	uint8_t question[NET_DOMAIN_LEN + 6];
	struct net_addr keep[DNS_ADDR_MAX];
	unsigned nkeep = 0, dropped = 0;
	uint8_t rcode = a ? a->rcode : RC_SERVFAIL;

	for (unsigned i = 0; a && i < a->naddr; i++) {
		if (!net_policy_answer(&n->cfg.policy, &a->addr[i])) {
			dropped++;
			continue;
		}
		keep[nkeep++] = a->addr[i];
		dns_name_bind(n, q->name, &a->addr[i], a->min_ttl);
		if (q->bind)
			net_policy_bind(&n->cfg.policy, &a->addr[i],
					a->min_ttl, n->now);
	}
	if (dropped)
		net_logf(n, "net: dropped %u answer%s for %s in denied ranges "
			    "(rebinding protection)",
			 dropped, dropped > 1 ? "s" : "", q->name);
	if (rcode != RC_OK && rcode != RC_NXDOMAIN)
		rcode = RC_SERVFAIL;
	/* Free before replying: a half-closed TCP session closes once its
	 * last query is answered. */
	{
		struct dns_query done = *q;

		query_free(n, q);
		reply(n, &done.to, done.guest_id, 0x0100, question,
		      encode_question(done.name, done.qtype, question), rcode,
		      keep, nkeep, a ? a->min_ttl : 0);
	}
}

/* dns_event() - datagrams on query @idx's socket: the first that answers
 * its id and its question is taken; anything else is dropped (a forger's
 * guess, a late duplicate) and the query keeps waiting */
void dns_event(struct net *n, unsigned idx)
{
	struct dns_query *q;
	uint8_t buf[4096];
	struct dns_a a;

	if (idx >= NET_DNS_PENDING)
		return;
	q = &n->dnsq[idx];
	for (int i = 0; i < 32 && q->used && q->fd >= 0; i++) {
		ssize_t r = recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r < 0)
			break;
		if (dns_parse_answer(buf, (size_t)r, &a) < 0 ||
		    a.id != q->up_id || a.qtype != q->qtype || a.qclass != 1 ||
		    strcmp(a.name, q->name))
			continue;
		answer(n, q, &a);
	}
}

void dns_tick(struct net *n)
{
	/* Idle DNS-over-TCP connections are closed (RFC 7766 §6.2.3). */
	for (unsigned i = 0; i < NET_DNS_TCP_MAX; i++)
		if (n->dns_tcp[i].fd >= 0 &&
		    n->now - n->dns_tcp[i].last_ms > DNS_TCP_IDLE_MS)
			tcp_session_close(n, &n->dns_tcp[i]);
	for (unsigned i = 0; i < NET_DNS_PENDING; i++)
		if (n->dnsq[i].used && n->now > n->dnsq[i].deadline)
			answer(n, &n->dnsq[i], NULL);
}

void dns_input(struct net *n, const struct ip_pkt *ip, uint16_t sport,
	       const uint8_t *p, size_t len)
{
	struct dns_to to = { .gaddr = ip->src, .server = ip->dst,
			     .gport = sport };

	query(n, &to, p, len);
}

int dns_tcp_open(struct net *n)
{
	struct dns_tcp *c = NULL;
	int sv[2];

	for (unsigned i = 0; i < NET_DNS_TCP_MAX; i++) {
		if (n->dns_tcp[i].fd < 0) {
			c = &n->dns_tcp[i];
			break;
		}
	}
	if (!c) {
		net_logf(n, "net: refused dns over tcp: more than %d "
			    "connections", NET_DNS_TCP_MAX);
		return -EMFILE;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return -errno;
	c->fd = sv[1];
	c->gen = ++n->dns_tcp_gen;
	c->len = 0;
	c->olen = 0;
	c->eof = 0;
	c->watch = 0;
	c->last_ms = n->now;
	tcp_rewatch(n, c);
	return sv[0];
}

/* dns_tcp_event() - room for the answers a session holds, and
 * length-prefixed queries (RFC 7766 §8) from it; each is answered as a
 * UDP one would be, on the same connection */
void dns_tcp_event(struct net *n, unsigned idx)
{
	struct dns_tcp *c;

	if (idx >= NET_DNS_TCP_MAX || n->dns_tcp[idx].fd < 0)
		return;
	c = &n->dns_tcp[idx];
	c->last_ms = n->now;
	if (tcp_flush(n, c) < 0 || tcp_done(n, c) || c->eof)
		return;
	for (;;) {
		ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		size_t off = 0;

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r < 0) {
			tcp_session_close(n, c);
			return;
		}
		if (r == 0) {
			/* The guest is done asking (RFC 7766 §6.2.4: answer
			 * what is outstanding, then close). */
			c->eof = 1;
			if (!tcp_done(n, c))
				tcp_rewatch(n, c);
			return;
		}
		c->len += (size_t)r;
		while (c->len - off >= 2) {
			size_t m = msb_get_be16(c->buf + off);
			struct dns_to to = { .tcp = (uint8_t)(idx + 1),
					     .gen = c->gen };

			if (m > NET_DNS_TCP_MSG) {
				net_logf(n, "net: refused dns over tcp: a "
					    "%zu-byte query", m);
				tcp_session_close(n, c);
				return;
			}
			if (c->len - off - 2 < m)
				break;
			query(n, &to, c->buf + off + 2, m);
			off += 2 + m;
			if (c->fd < 0)
				return; /* closed while answering */
		}
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
}
