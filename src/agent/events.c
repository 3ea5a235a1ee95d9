/* SPDX-License-Identifier: Apache-2.0 */
/* events.c - events between the guest's programs and the host
 *
 * Theory of operation: guest programs reach the agent on a unix socket,
 * GUEST_RT_SOCK, speaking the agent protocol's own frames
 * (docs/events.md): GEVENT to emit an event, which the agent passes to
 * the host on stream 0 and answers with RESULT once it is in the port
 * (the link is ordered and reliable, so that is delivery); SUBSCRIBE to
 * wait for the next EVENT from the host on a topic.
 *
 * PEER asks the host about the program's peer sandboxes (docs/spawn.md):
 * the agent gives the request a stream of its own (MSB_PEER_STREAM set),
 * passes it on and relays the host's frames on that stream back to the
 * program as they come, until RESULT or EXIT; a program that goes away
 * first is told to the host (PEER_END). One request a connection. The
 * program grants the host credit for output (WINDOW) as it writes it
 * out, so the agent never holds more than a window of it; its input
 * (STDIN, within the host's WINDOW) and a terminal's size (RESIZE) go
 * to the host as they come.
 *
 * Events from the host are kept (the last HOST_KEEP) until a waiter on
 * their topic takes them: an event sent before anyone waited is not lost,
 * and every waiter present when one arrives gets it. Each guest program
 * is one of at most CLIENT_MAX connections; a connection that sends what
 * is not a frame, or cannot take its answer at once, is closed. The agent
 * never waits on a guest program.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "port.h"
#include "serve.h"

#define CLIENT_MAX 64
#define HOST_KEEP 256

struct client {
	int fd;
	uint32_t gen;
	struct msb_framer *rx;
	char topic[MSB_TOPIC_MAX + 1]; /* waiting for it, or "" */
	uint32_t peer; /* its PEER request's stream, or 0 */
};

struct kept {
	uint8_t *p;   /* the EVENT payload as the host sent it */
	size_t n;
	int taken;
};

static int epfd = -1, lfd = -1;
static struct client clients[CLIENT_MAX];
static uint32_t next_gen = 1, next_peer = 1;
static struct kept kept[HOST_KEEP];
static unsigned kept_head, kept_n; /* oldest, how many */
static uint64_t oom_seen;
static int oom_known;

static int copy_self(void)
{
	char buf[65536];
	int in, out, ret = 0;
	ssize_t n;

	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(GUEST_RT_MSB ".tmp", O_WRONLY | O_CREAT | O_TRUNC |
		   O_CLOEXEC, 0755);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			ret = -EIO;
			break;
		}
	if (n < 0)
		ret = -errno;
	close(in);
	if (close(out) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(GUEST_RT_MSB ".tmp", GUEST_RT_MSB) < 0)
		ret = -errno;
	return ret;
}

static void link_msb(void)
{
	struct stat st;

	if (lstat(GUEST_MSB_LINK, &st) == 0)
		return; /* the image's own, or ours from an earlier boot */
	/* On every default PATH; made in an image that lacks it (busybox) */
	if (mkdir("/usr/local", 0755) < 0 && errno != EEXIST)
		return;
	if (mkdir("/usr/local/bin", 0755) < 0 && errno != EEXIST)
		return;
	if (symlink(GUEST_RT_MSB, GUEST_MSB_LINK) < 0)
		agent_log("msb command not linked in /usr/local/bin: %s",
			  strerror(errno));
}

void events_setup(int fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_LOCAL_LISTEN };
	int r;

	epfd = fd;
	for (int i = 0; i < CLIENT_MAX; i++)
		clients[i].fd = -1;
	events_check_oom(); /* the count before any program ran */
	if (mkdir(GUEST_RT_DIR, 0755) < 0 && errno != EEXIST) {
		agent_log("mkdir " GUEST_RT_DIR ": %s", strerror(errno));
		return;
	}
	chmod(GUEST_RT_DIR, 0755);
	r = copy_self();
	if (r < 0)
		agent_log("the msb command (" GUEST_RT_MSB ") not made: %s",
			  strerror(-r));
	else
		link_msb();
	unlink(GUEST_RT_SOCK);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", GUEST_RT_SOCK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    chmod(GUEST_RT_SOCK, 0666) < 0 || listen(lfd, 64) < 0) {
		agent_log("events socket " GUEST_RT_SOCK ": %s",
			  strerror(errno));
		if (lfd >= 0)
			close(lfd);
		lfd = -1;
		return;
	}
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
}

static void client_close(struct client *c)
{
	if (c->fd < 0)
		return;
	if (c->peer)
		port_send(c->peer, MSB_F_PEER_END, NULL, 0);
	c->peer = 0;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->topic[0] = 0;
	free(c->rx);
	c->rx = NULL;
}

void events_on_listen(void)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct client *c = NULL;

		if (fd < 0)
			return;
		for (int i = 0; i < CLIENT_MAX; i++)
			if (!clients[i].rx) {
				c = &clients[i];
				break;
			}
		if (c)
			c->rx = calloc(1, sizeof(*c->rx));
		if (!c || !c->rx) {
			close(fd); /* too many: the program is told "closed" */
			continue;
		}
		c->fd = fd;
		c->gen = next_gen++;
		c->topic[0] = 0;
		c->peer = 0;
		ev.data.u64 = ev_ref(EV_LOCAL, 0, (unsigned)(c - clients),
				     c->gen);
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* client_send() - one whole frame, or the client is closed: a guest
 * program that does not read its answer never makes the agent wait. */
static int client_send(struct client *c, uint8_t type, const void *p,
		       size_t n)
{
	uint8_t hdr[MSB_FRAME_HDR];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)p, n } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t w;

	msb_frame_encode_hdr(hdr, (uint32_t)n, 0, type);
	w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w != (ssize_t)(sizeof(hdr) + n)) {
		client_close(c);
		return -1;
	}
	return 0;
}

static void client_result(struct client *c, int err, const char *msg)
{
	uint8_t buf[600];
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, (uint32_t)err);
	if (msg)
		msb_tlv_put_str(&w, MSB_T_MESSAGE, msg);
	client_send(c, MSB_F_RESULT, buf, w.len);
}

static int topic_is(const uint8_t *p, size_t n, const char *topic)
{
	struct msb_event_rec ev;

	return msb_event_parse(p, n, &ev) == 0 &&
	       ev.topic_len == strlen(topic) &&
	       !memcmp(ev.topic, topic, ev.topic_len);
}

static void on_subscribe(struct client *c, const uint8_t *p, size_t n)
{
	struct msb_event_rec ev;

	if (msb_event_parse(p, n, &ev) < 0) {
		client_result(c, EINVAL, "SUBSCRIBE needs a valid TOPIC");
		return;
	}
	memcpy(c->topic, ev.topic, ev.topic_len);
	c->topic[ev.topic_len] = 0;
	/* One the host sent before anyone waited for it. */
	for (unsigned i = 0; i < kept_n; i++) {
		struct kept *k = &kept[(kept_head + i) % HOST_KEEP];

		if (!k->taken && topic_is(k->p, k->n, c->topic)) {
			k->taken = 1;
			c->topic[0] = 0;
			client_send(c, MSB_F_EVENT, k->p, k->n);
			return;
		}
	}
}

static void on_emit(struct client *c, const uint8_t *p, size_t n)
{
	struct msb_event_rec ev;

	if (msb_event_parse(p, n, &ev) < 0) {
		client_result(c, EINVAL, "an event needs a topic of 1-128 "
			      "characters from [A-Za-z0-9._:/-] and at most "
			      "32 KiB of JSON data");
		return;
	}
	if (ev.topic_len >= 4 && !memcmp(ev.topic, "msb.", 4)) {
		client_result(c, EINVAL, "topics beginning with 'msb.' are the "
			      "sandbox's own");
		return;
	}
	if (port_send(0, MSB_F_GEVENT, p, n) < 0) {
		client_result(c, EPIPE, "the host is gone");
		return;
	}
	client_result(c, 0, NULL);
}

static void on_peer(struct client *c, const uint8_t *p, size_t n)
{
	int big = 1 << 20;

	if (c->peer) {
		client_result(c, EBUSY, "one peer request a connection");
		return;
	}
	if (!n || n > MSB_PEER_REQ_MAX) {
		client_result(c, EINVAL, "a peer request is one JSON object of "
			      "at most 60 KiB");
		return;
	}
	c->peer = MSB_PEER_STREAM | (next_peer++ & ~MSB_PEER_STREAM);
	if (!(c->peer & ~MSB_PEER_STREAM))
		c->peer = MSB_PEER_STREAM | next_peer++;
	/* Room for an exec's output as it comes: the agent never waits on
	 * a program, one that falls this far behind is dropped. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (port_send(c->peer, MSB_F_PEER, p, n) < 0) {
		c->peer = 0;
		client_result(c, EPIPE, "the host is gone");
	}
}

void events_peer_from_host(const struct msb_frame_hdr *h, const uint8_t *p)
{
	for (int i = 0; i < CLIENT_MAX; i++) {
		struct client *c = &clients[i];

		if (c->fd < 0 || c->peer != h->stream)
			continue;
		if (h->type == MSB_F_RESULT || h->type == MSB_F_EXIT)
			c->peer = 0; /* the host is done with it */
		client_send(c, h->type, p, h->len);
		return;
	}
}

static void client_frame(struct client *c, const struct msb_frame_hdr *h,
			 const uint8_t *p)
{
	switch (h->type) {
	case MSB_F_PEER:
		on_peer(c, p, h->len);
		break;
	case MSB_F_WINDOW: /* the program took this much of the output */
		if (c->peer && h->len == 4)
			port_send(c->peer, MSB_F_WINDOW, p, 4);
		break;
	case MSB_F_STDIN:  /* the request's input, within the host's window */
	case MSB_F_RESIZE: /* its terminal's size */
		if (c->peer)
			port_send(c->peer, h->type, p, h->len);
		break;
	case MSB_F_GEVENT:
		on_emit(c, p, h->len);
		break;
	case MSB_F_SUBSCRIBE:
		on_subscribe(c, p, h->len);
		break;
	default:
		client_result(c, ENOSYS, "this agent does not know that request");
		break;
	}
}

void events_on_client(uint64_t ref, uint32_t events __attribute__((unused)))
{
	unsigned slot = (unsigned)(ref >> 16) & 0xffff;
	struct client *c = slot < CLIENT_MAX ? &clients[slot] : NULL;
	uint8_t buf[16384];
	ssize_t n;

	if (!c || c->fd < 0 || c->gen != (uint32_t)(ref >> 32))
		return;
	n = read(c->fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	for (size_t off = 0; off < (size_t)n && c->fd >= 0;) {
		struct msb_frame_hdr h;
		const uint8_t *p;
		int r = 0;

		off += msb_framer_feed(c->rx, buf + off, (size_t)n - off);
		while (c->fd >= 0 && (r = msb_framer_take(c->rx, &h, &p)) == 1)
			client_frame(c, &h, p);
		if (c->fd >= 0 && r < 0) {
			client_close(c);
			return;
		}
	}
}

void events_from_host(const uint8_t *p, size_t n)
{
	struct msb_event_rec ev;
	struct kept *k;
	int given = 0;
	char topic[MSB_TOPIC_MAX + 1];

	if (msb_event_parse(p, n, &ev) < 0)
		return;
	memcpy(topic, ev.topic, ev.topic_len);
	topic[ev.topic_len] = 0;
	for (int i = 0; i < CLIENT_MAX; i++) {
		struct client *c = &clients[i];

		if (c->fd >= 0 && c->rx && c->topic[0] &&
		    !strcmp(c->topic, topic)) {
			c->topic[0] = 0;
			client_send(c, MSB_F_EVENT, p, n);
			given = 1;
		}
	}
	if (kept_n == HOST_KEEP) { /* the oldest goes */
		free(kept[kept_head].p);
		kept_head = (kept_head + 1) % HOST_KEEP;
		kept_n--;
	}
	k = &kept[(kept_head + kept_n) % HOST_KEEP];
	k->p = malloc(n ? n : 1);
	if (!k->p)
		return;
	memcpy(k->p, p, n);
	k->n = n;
	k->taken = given;
	kept_n++;
}

static void send_oom(uint64_t kills, const char *proc)
{
	uint8_t *out = port_scratch();
	struct msb_tlv_w w;
	char data[160];

	if (proc && *proc)
		snprintf(data, sizeof(data), "{\"kills\":%llu,\"process\":\"%s\"}",
			 (unsigned long long)kills, proc);
	else
		snprintf(data, sizeof(data), "{\"kills\":%llu}",
			 (unsigned long long)kills);
	msb_tlv_w_init(&w, out, MSB_FRAME_MAX);
	msb_tlv_put_str(&w, MSB_T_TOPIC, "msb.oom");
	msb_tlv_put_str(&w, MSB_T_DATA, data);
	port_send(0, MSB_F_GEVENT, out, w.len);
}

static int kmsg_fd = -2;

/* kmsg_oom() - the OOM killer's "Killed process N (NAME)" records that
 * reached the kernel log since the last look (its "Out of memory" and
 * "Memory cgroup out of memory" lines). Return: how many, with the last
 * one's NAME (JSON-safe characters only) in @proc; -1 without /dev/kmsg. */
static long kmsg_oom(char *proc, size_t n)
{
	char rec[1024];
	long kills = 0;
	ssize_t r;

	if (kmsg_fd == -2) {
		kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (kmsg_fd >= 0)
			lseek(kmsg_fd, 0, SEEK_END); /* what came before is old */
	}
	if (kmsg_fd < 0)
		return -1;
	/* one record a read; EAGAIN when none is left, EPIPE when records
	 * were overwritten before they were read (go on from the next) */
	while ((r = read(kmsg_fd, rec, sizeof(rec) - 1)) > 0 ||
	       (r < 0 && errno == EPIPE)) {
		char *k, *open_p, *close_p;
		size_t j = 0;

		if (r <= 0)
			continue;
		rec[r] = 0;
		k = strstr(rec, "Killed process ");
		if (!k || (!strstr(rec, "Out of memory") &&
			   !strstr(rec, "out of memory")))
			continue;
		kills++;
		open_p = strchr(k, '(');
		close_p = open_p ? strchr(open_p, ')') : NULL;
		for (char *c = open_p ? open_p + 1 : NULL; c && c < close_p &&
		     j + 1 < n; c++)
			if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || strchr("._-/:", *c))
				proc[j++] = *c;
		proc[j] = 0;
	}
	return kills;
}

void events_check_oom(void)
{
	char buf[8192], *at, proc[64] = "";
	uint64_t v;
	ssize_t n;
	long k = kmsg_oom(proc, sizeof(proc));
	int fd;

	if (k > 0) {
		send_oom((uint64_t)k, proc);
		return;
	}
	if (k == 0)
		return;
	/* no kernel log to read: the counter, where the kernel keeps it */
	fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	at = strstr(buf, "\noom_kill ");
	if (!at)
		return;
	v = strtoull(at + 10, NULL, 10);
	if (oom_known && v > oom_seen)
		send_oom(v - oom_seen, NULL);
	oom_seen = v;
	oom_known = 1;
}
