/* SPDX-License-Identifier: Apache-2.0 */
/* qmp.c - a non-blocking client of QEMU's machine protocol (see qmp.h)
 *
 * Theory of operation: output is a byte queue written as the socket takes
 * it; input is split at line breaks and each line parsed on its own with
 * json-c. Commands carry increasing integer ids; the pending ones wait in
 * a FIFO, and a reply is matched to its entry by id (QEMU answers in order
 * on one monitor, so the match is normally the head). A link that breaks
 * answers every pending command with class "Disconnected", once.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "qmp.h"
#include "util.h"

struct pending {
	int64_t id;
	msb_qmp_reply_fn cb;
	void *opaque;
	struct pending *next;
};

struct msb_qmp {
	int fd;
	struct msb_buf in, out;
	msb_qmp_event_fn on_event;
	void *opaque;
	struct pending *head, **tail;
	int64_t next_id;
	int greeted, ready, broken;
	char why[256];
};

static void caps_done(void *opaque, json_object *ret, const char *eclass,
		      const char *edesc)
{
	struct msb_qmp *q = opaque;

	if (ret)
		q->ready = 1;
}

struct msb_qmp *msb_qmp_new(int fd, msb_qmp_event_fn on_event, void *opaque)
{
	struct msb_qmp *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->fd = fd;
	q->on_event = on_event;
	q->opaque = opaque;
	q->tail = &q->head;
	q->next_id = 1;
	msb_set_nonblock(fd, 1);
	/* Commands may be sent before the greeting is read: QEMU reads them
	 * in order, and this one goes first. */
	if (msb_qmp_send(q, "qmp_capabilities", NULL, caps_done, q, NULL) < 0) {
		free(q);
		return NULL;
	}
	return q;
}

/* Answer every pending command with @why; the link takes nothing more. */
static void fail_all(struct msb_qmp *q, const char *why)
{
	if (!q->broken) {
		q->broken = 1;
		snprintf(q->why, sizeof(q->why), "%s", why);
	}
	while (q->head) {
		struct pending *p = q->head;

		q->head = p->next;
		if (!q->head)
			q->tail = &q->head;
		if (p->cb)
			p->cb(p->opaque, NULL, "Disconnected", q->why);
		free(p);
	}
}

void msb_qmp_free(struct msb_qmp *q)
{
	if (!q)
		return;
	fail_all(q, "the client was closed");
	if (q->fd >= 0)
		close(q->fd);
	msb_buf_free(&q->in);
	msb_buf_free(&q->out);
	free(q);
}

int msb_qmp_fd(const struct msb_qmp *q)
{
	return q->fd;
}

int msb_qmp_ready(const struct msb_qmp *q)
{
	return q->ready && !q->broken;
}

int msb_qmp_broken(const struct msb_qmp *q)
{
	return q->broken;
}

int msb_qmp_want_write(const struct msb_qmp *q)
{
	return !q->broken && q->out.len > 0;
}

int msb_qmp_on_writable(struct msb_qmp *q)
{
	long w;

	if (q->broken)
		return -EPIPE;
	w = msb_buf_write_to(&q->out, q->fd);
	if (w < 0) {
		fail_all(q, "QEMU's monitor connection broke");
		return (int)w;
	}
	return 0;
}

static int msb_qmp_send_queued(struct msb_qmp *q, const char *cmd,
			       json_object *args, msb_qmp_reply_fn cb,
			       void *opaque, msb_error *err)
{
	json_object *m;
	struct pending *p;
	const char *line;
	int r;

	if (q->broken) {
		json_object_put(args);
		return msb_fail(err, -EPIPE, "QEMU's monitor is gone (%s)",
				q->why);
	}
	p = calloc(1, sizeof(*p));
	m = json_object_new_object();
	if (!p || !m) {
		free(p);
		json_object_put(m);
		json_object_put(args);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	p->id = q->next_id++;
	p->cb = cb;
	p->opaque = opaque;
	json_object_object_add(m, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(m, "arguments", args);
	json_object_object_add(m, "id", json_object_new_int64(p->id));
	line = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN);
	r = msb_buf_append(&q->out, line, strlen(line));
	if (r == 0)
		r = msb_buf_append(&q->out, "\n", 1);
	json_object_put(m);
	if (r < 0) {
		free(p);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	*q->tail = p;
	q->tail = &p->next;
	return 0;
}

int msb_qmp_send(struct msb_qmp *q, const char *cmd, json_object *args,
		 msb_qmp_reply_fn cb, void *opaque, msb_error *err)
{
	int r = msb_qmp_send_queued(q, cmd, args, cb, opaque, err);

	/* Commands are small: the socket nearly always takes one whole. */
	if (r == 0)
		msb_qmp_on_writable(q);
	return r;
}

int msb_qmp_send_fd(struct msb_qmp *q, const char *cmd, json_object *args,
		    int fd, msb_qmp_reply_fn cb, void *opaque, msb_error *err)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = { 0 };
	struct iovec iov;
	struct cmsghdr *c;
	size_t before;
	ssize_t n;
	int r;

	if (q->out.len) {
		json_object_put(args);
		return msb_fail(err, -EBUSY, "QEMU's monitor is still taking "
					     "earlier commands");
	}
	/* Queue it as usual, then hand its first bytes over with the
	 * descriptor; what the socket does not take goes out later. */
	before = q->out.len;
	r = msb_qmp_send_queued(q, cmd, args, cb, opaque, err);
	if (r < 0)
		return r;
	memset(&u, 0, sizeof(u));
	iov.iov_base = msb_buf_data(&q->out) + before;
	iov.iov_len = q->out.len - before;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		/* Nothing went: the command must not go without its
		 * descriptor either. */
		r = n < 0 ? -errno : -EIO;
		fail_all(q, "QEMU's monitor connection broke");
		return msb_fail_errno(err, r, "passing a descriptor to QEMU");
	}
	msb_buf_consume(&q->out, (size_t)n);
	return 0;
}

static void on_reply(struct msb_qmp *q, json_object *m, json_object *idv)
{
	struct pending **pp, *p;
	json_object *ret = NULL, *e = NULL, *v, *empty = NULL;
	const char *eclass = "GenericError", *edesc = "no description";
	int64_t id;

	if (!idv || !json_object_is_type(idv, json_type_int)) {
		fail_all(q, "QEMU answered a command it was not sent");
		return;
	}
	id = json_object_get_int64(idv);
	for (pp = &q->head; *pp && (*pp)->id != id; pp = &(*pp)->next)
		;
	if (!*pp) {
		fail_all(q, "QEMU answered a command it was not sent");
		return;
	}
	p = *pp;
	*pp = p->next;
	if (q->tail == &p->next)
		q->tail = pp;
	if (!json_object_object_get_ex(m, "return", &ret)) {
		json_object_object_get_ex(m, "error", &e);
		if (e && json_object_object_get_ex(e, "class", &v) &&
		    json_object_is_type(v, json_type_string))
			eclass = json_object_get_string(v);
		if (e && json_object_object_get_ex(e, "desc", &v) &&
		    json_object_is_type(v, json_type_string))
			edesc = json_object_get_string(v);
		ret = NULL;
	} else if (!ret) {
		/* "return": null is still a success. */
		ret = empty = json_object_new_object();
	}
	if (p->cb)
		p->cb(p->opaque, ret, ret ? NULL : eclass, ret ? NULL : edesc);
	json_object_put(empty);
	free(p);
}

static void on_line(struct msb_qmp *q, const char *line, size_t n)
{
	json_tokener *tok;
	json_object *m, *v;

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
		n--;
	if (!n)
		return;
	tok = json_tokener_new();
	if (!tok) {
		fail_all(q, "out of memory");
		return;
	}
	m = json_tokener_parse_ex(tok, line, (int)n);
	if (!m || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(m, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(m);
		fail_all(q, "QEMU's monitor sent a line that is not a JSON "
			    "object");
		return;
	}
	json_tokener_free(tok);
	if (json_object_object_get_ex(m, "QMP", &v)) {
		q->greeted = 1;
	} else if (json_object_object_get_ex(m, "event", &v)) {
		json_object *data = NULL;

		json_object_object_get_ex(m, "data", &data);
		if (json_object_is_type(v, json_type_string) && q->on_event)
			q->on_event(q->opaque, json_object_get_string(v), data);
	} else if (json_object_object_get_ex(m, "return", &v) ||
		   json_object_object_get_ex(m, "error", &v)) {
		json_object *idv = NULL;

		json_object_object_get_ex(m, "id", &idv);
		on_reply(q, m, idv);
	} else {
		fail_all(q, "QEMU's monitor sent an object of no known kind");
	}
	json_object_put(m);
}

int msb_qmp_feed(struct msb_qmp *q, const char *data, size_t n)
{
	if (q->broken)
		return -EPROTO;
	if (msb_buf_append(&q->in, data, n) < 0) {
		fail_all(q, "out of memory");
		return -EPROTO;
	}
	while (q->in.len) {
		char *p = (char *)msb_buf_data(&q->in);
		char *nl = memchr(p, '\n', q->in.len);

		if (!nl) {
			if (q->in.len > QMP_LINE_MAX) {
				fail_all(q, "QEMU's monitor sent a line over "
					    "1 MiB");
				return -EPROTO;
			}
			break;
		}
		*nl = '\0';
		on_line(q, p, (size_t)(nl - p));
		/* A callback may have broken the link (and cleared @in). */
		if (q->broken)
			return -EPROTO;
		msb_buf_consume(&q->in, (size_t)(nl - p) + 1);
	}
	return 0;
}

int msb_qmp_on_readable(struct msb_qmp *q, msb_error *err)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(q->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			fail_all(q, n == 0 ? "QEMU closed its monitor" :
					     "QEMU's monitor connection broke");
			return msb_fail(err, n == 0 ? -EPIPE : -errno, "%s",
					q->why);
		}
		if (msb_qmp_feed(q, buf, (size_t)n) < 0)
			return msb_fail(err, -EPROTO, "%s", q->why);
	}
}

struct call_wait {
	int done;
	json_object *ret;
	char why[512];
};

static void call_done(void *opaque, json_object *ret, const char *eclass,
		      const char *edesc)
{
	struct call_wait *w = opaque;

	w->done = 1;
	if (ret)
		w->ret = json_object_get(ret);
	else
		snprintf(w->why, sizeof(w->why), "%s (%s)", edesc, eclass);
}

int msb_qmp_call(struct msb_qmp *q, const char *cmd, json_object *args,
		 json_object **ret, int timeout_ms, msb_error *err)
{
	struct call_wait w = { 0 };
	uint64_t deadline = msb_now_ms() + (uint64_t)timeout_ms;
	int r;

	r = msb_qmp_send(q, cmd, args, call_done, &w, err);
	if (r < 0)
		return r;
	while (!w.done) {
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		uint64_t now = msb_now_ms();

		if (now >= deadline) {
			/* The answer may still come: it must find a callback
			 * that no longer points at this stack frame. */
			for (struct pending *p = q->head; p; p = p->next)
				if (p->opaque == &w)
					p->cb = NULL;
			return msb_fail(err, -ETIMEDOUT,
					"QEMU did not answer %s within %d ms",
					cmd, timeout_ms);
		}
		if (msb_qmp_want_write(q))
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return msb_fail_errno(err, -errno, "poll");
		if (pfd.revents & POLLOUT)
			msb_qmp_on_writable(q);
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			msb_qmp_on_readable(q, NULL);
	}
	if (!w.ret)
		return msb_fail(err, -EIO, "QEMU refused %s: %s", cmd, w.why);
	if (ret)
		*ret = w.ret;
	else
		json_object_put(w.ret);
	return 0;
}
