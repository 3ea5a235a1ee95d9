/* SPDX-License-Identifier: Apache-2.0 */
/* plugins.c - the sandbox's chain of plugins and the hook protocol's
 * calling side (hooks.h, docs/plugins.md)
 *
 * Theory of operation: the record's "plugins" list is the chain, in
 * order. A built-in is a table of functions; a process plugin is a
 * command the keeper (src/plugins/keeper.c, forked before confinement)
 * runs with a socketpair; a socket plugin is an SDK's callback server the
 * supervisor connects to before confinement. Processes and sockets speak
 * the hook protocol (src/plugins/wire.h): a hello, then calls answered by
 * id within the plugin's deadline, and events that need no answer.
 *
 * A call blocks its caller (the main loop, or a volume's thread) until
 * the answer or the deadline: that is the price of a hook written in
 * another process, and why a plugin says which hooks it wants (no call is
 * made for the others). A plugin that misses a deadline denies that call;
 * three missed in a row, an answer that is not one, a message too big or
 * a closed channel, and its channel is dropped and its process killed;
 * the keeper starts it again within its restart budget (socket plugins
 * are not restarted). Until it is back every call it wanted denies: a
 * policy hook fails closed. Events to a plugin that is down are lost.
 *
 * Each plugin's channel has a mutex: the volumes' threads and the main
 * loop may call the same plugin, one call at a time.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builtin.h"
#include "bytes.h"
#include "hooks.h"
#include "jsonx.h"
#include "keeper.h"
#include "msb_fs.h"
#include "net.h"
#include "plugreg.h"
#include "supervisor.h"
#include "util.h"

#define PLUGINS_MAX 16
#define DEFAULT_DEADLINE_MS 1000
#define DEFAULT_RESTARTS 3
#define HELLO_MS 10000        /* a command's start: an interpreter's load */
#define REHELLO_MS 3000       /* a restart's, answered in the main loop */
#define TIMEOUTS_MAX 3        /* missed deadlines in a row, then killed */
#define STALE_MAX 64          /* late answers dropped within one call */

enum plug_kind { PK_BUILTIN, PK_PROCESS, PK_SOCKET };

struct plug {
	enum plug_kind kind;
	char name[HOOK_NAME_MAX];  /* from its hello, or the built-in's */
	char what[160];            /* how it was given, for messages */
	uint32_t hooks;
	uint64_t fs_ops;
	/* built-in */
	const struct builtin *b;
	void *bst;
	/* process, socket */
	unsigned kidx;             /* its index among the keeper's commands */
	pthread_mutex_t mu;
	int fd;                    /* -1: down */
	int gave_up;               /* not coming back */
	int64_t next_id;
	unsigned timeouts;         /* missed in a row */
	uint8_t hdr[4];            /* a message being read, across calls */
	size_t hgot, need, got;
	uint8_t *buf;
};

struct sup_plugins {
	struct plug p[PLUGINS_MAX];
	unsigned n;
	uint32_t hooks;            /* every plugin's, together */
	uint64_t fs_ops;
	unsigned deadline_ms;
	struct ev_ref ref;
	int ctl;                   /* the keeper's control socket, or -1 */
	pid_t keeper;
	struct keeper_cmd cmds[PLUGINS_MAX];
	unsigned ncmds;
	struct plug *by_kidx[PLUGINS_MAX];
	int log_fd;
	/* the network's table, and an http body (a response's head) the
	 * chain changed, kept until the next */
	struct msb_net_plugin net;
	uint8_t *http_body;
	uint8_t *resp_body;
	char *resp_head;
};

/* ---- the channel --------------------------------------------------------- */

static int left_ms(uint64_t deadline_us)
{
	uint64_t now = msb_now_us();

	return now >= deadline_us ? 0 : (int)((deadline_us - now + 999) / 1000);
}

/* chan_write() - all of @f, by @deadline_us. Return: 0, -ETIMEDOUT with
 * nothing sent (the channel is still whole), or -EPIPE (it is not). */
static int chan_write(int fd, const uint8_t *f, size_t n, uint64_t deadline_us)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(fd, f + off, n - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		struct pollfd pf = { fd, POLLOUT, 0 };

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -EPIPE;
		if (!left_ms(deadline_us) ||
		    poll(&pf, 1, left_ms(deadline_us)) == 0)
			return off ? -EPIPE : -ETIMEDOUT;
	}
	return 0;
}

/* chan_read() - one whole message, by @deadline_us; a message cut by the
 * deadline is kept and finished at the next call. Return: 1 (*@msg,
 * *@n: the caller frees), 0 at the deadline, -1 if the channel is broken
 * (@why). */
static int chan_read(struct plug *p, uint64_t deadline_us, uint8_t **msg,
		     size_t *n, char *why, size_t wn)
{
	for (;;) {
		struct pollfd pf = { p->fd, POLLIN, 0 };
		ssize_t r;

		if (p->hgot < 4) {
			r = recv(p->fd, p->hdr + p->hgot, 4 - p->hgot,
				 MSG_DONTWAIT);
		} else {
			r = recv(p->fd, p->buf + p->got, p->need - p->got,
				 MSG_DONTWAIT);
		}
		if (r == 0) {
			snprintf(why, wn, "closed its channel");
			return -1;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN) {
			snprintf(why, wn, "channel error: %s", strerror(errno));
			return -1;
		}
		if (r > 0 && p->hgot < 4) {
			p->hgot += (size_t)r;
			if (p->hgot < 4)
				continue;
			p->need = msb_get_be32(p->hdr);
			if (p->need == 0 || p->need > HOOK_MSG_MAX) {
				snprintf(why, wn, "sent a message of %zu bytes "
					 "(1 to %u may be sent)",
					 p->need, HOOK_MSG_MAX);
				return -1;
			}
			p->buf = malloc(p->need);
			p->got = 0;
			if (!p->buf) {
				snprintf(why, wn, "out of memory");
				return -1;
			}
			continue;
		}
		if (r > 0) {
			p->got += (size_t)r;
			if (p->got < p->need)
				continue;
			*msg = p->buf;
			*n = p->need;
			p->buf = NULL;
			p->hgot = p->got = p->need = 0;
			return 1;
		}
		if (!left_ms(deadline_us) ||
		    poll(&pf, 1, left_ms(deadline_us)) == 0)
			return 0;
	}
}

/* chan_drop() - the channel is broken: closed, its process killed (the
 * keeper starts it again). Under p->mu. */
static void chan_drop(struct sup *s, struct plug *p, const char *why)
{
	if (p->fd < 0)
		return;
	sup_log(s, "plugin %s %s: dropped%s", p->name, why,
		p->kind == PK_PROCESS ? ", its process killed" : "");
	close(p->fd);
	p->fd = -1;
	free(p->buf);
	p->buf = NULL;
	p->hgot = p->got = p->need = 0;
	p->timeouts = 0;
	if (p->kind == PK_PROCESS)
		keeper_send(s->plugins->ctl, p->kidx, KM_KILL);
	else
		p->gave_up = 1;
}

/* message() - "type" and the hook's @args (their keys are shared, not
 * copied). */
static json_object *message(const char *type, int64_t id, enum hook_id h,
			    json_object *args, unsigned deadline_ms)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "type", json_object_new_string(type));
	if (id)
		json_object_object_add(m, "id", json_object_new_int64(id));
	json_object_object_add(m, "hook", json_object_new_string(hook_name(h)));
	if (id)
		json_object_object_add(m, "deadline_ms",
				       json_object_new_int(deadline_ms));
	json_object_object_foreach(args, k, v)
		json_object_object_add(m, k, json_object_get(v));
	return m;
}

/**
 * plug_call() - one call to a process or socket plugin.
 * Return: 0 (*@r is its answer), or -1 (@why: it did not answer; the
 * caller denies).
 */
static int plug_call(struct sup *s, struct plug *p, enum hook_id h,
		     json_object *args, struct hook_reply *r, char *why,
		     size_t wn)
{
	unsigned ms = s->plugins->deadline_ms;
	uint64_t deadline = msb_now_us() + (uint64_t)ms * 1000;
	json_object *m;
	uint8_t *f;
	size_t n;
	int64_t id;
	int rc = -1, stale = 0;

	pthread_mutex_lock(&p->mu);
	if (p->fd < 0) {
		snprintf(why, wn, "is not running%s",
			 p->gave_up ? " (it failed for good)" : "");
		goto out;
	}
	id = ++p->next_id;
	m = message("call", id, h, args, ms);
	f = hook_frame(m, &n);
	json_object_put(m);
	if (!f) {
		snprintf(why, wn, "could not be asked: the call is over %u "
			 "bytes", HOOK_MSG_MAX);
		goto out;
	}
	rc = chan_write(p->fd, f, n, deadline);
	free(f);
	if (rc == -EPIPE) {
		snprintf(why, wn, "stopped reading its channel");
		chan_drop(s, p, why);
		rc = -1;
		goto out;
	}
	if (rc == -ETIMEDOUT) {
		rc = -1;
		goto timeout;
	}
	rc = -1;
	for (;;) {
		uint8_t *msg;
		size_t len;
		int got = chan_read(p, deadline, &msg, &len, why, wn);
		int pr;

		if (got == 0)
			goto timeout;
		if (got < 0) {
			chan_drop(s, p, why);
			goto out;
		}
		pr = hook_reply_parse(h, msg, len, id, r, why, wn);
		free(msg);
		if (pr == 0) {
			p->timeouts = 0;
			rc = 0;
			goto out;
		}
		if (pr < 0 || ++stale > STALE_MAX) {
			char w[300];

			snprintf(w, sizeof(w), "broke the protocol: %s",
				 pr < 0 ? why : "too many late answers");
			snprintf(why, wn, "%s", w);
			chan_drop(s, p, why);
			goto out;
		}
	}
timeout:
	snprintf(why, wn, "did not answer within %u ms", ms);
	if (++p->timeouts >= TIMEOUTS_MAX)
		chan_drop(s, p, "missed 3 deadlines in a row");
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void plug_event(struct sup *s, struct plug *p, enum hook_id h,
		       json_object *args)
{
	uint64_t deadline = msb_now_us() +
			    (uint64_t)s->plugins->deadline_ms * 1000;
	json_object *m;
	uint8_t *f;
	size_t n;

	pthread_mutex_lock(&p->mu);
	if (p->fd < 0)
		goto out;
	m = message("event", 0, h, args, 0);
	f = hook_frame(m, &n);
	json_object_put(m);
	if (f && chan_write(p->fd, f, n, deadline) == -EPIPE)
		chan_drop(s, p, "stopped reading its channel");
	free(f);
out:
	pthread_mutex_unlock(&p->mu);
}

/* hello() - greet a new channel, within @ms. Return: 0, or -1 (@why). */
static int hello(struct sup *s, struct plug *p, int fd, unsigned ms,
		 char *why, size_t wn)
{
	uint64_t deadline = msb_now_us() + (uint64_t)ms * 1000;
	json_object *m = json_object_new_object(), *a;
	struct hook_hello hh;
	uint8_t *f, *msg;
	size_t n;
	int r;

	json_object_object_add(m, "type", json_object_new_string("hello"));
	json_object_object_add(m, "protocol",
			       json_object_new_int(HOOK_PROTOCOL));
	json_object_object_add(m, "sandbox", json_object_new_string(s->name));
	a = json_object_new_array();
	for (int i = 0; i < HOOK_COUNT; i++)
		json_object_array_add(a, json_object_new_string(
						 hook_name((enum hook_id)i)));
	json_object_object_add(m, "hooks", a);
	f = hook_frame(m, &n);
	json_object_put(m);
	msb_set_nonblock(fd, 1);
	pthread_mutex_lock(&p->mu);
	p->fd = fd;
	r = f ? chan_write(fd, f, n, deadline) : -ENOMEM;
	free(f);
	if (r < 0) {
		snprintf(why, wn, "did not take its hello");
		goto fail;
	}
	r = chan_read(p, deadline, &msg, &n, why, wn);
	if (r == 0)
		snprintf(why, wn, "did not answer its hello within %u ms",
			 ms);
	if (r <= 0)
		goto fail;
	r = hook_hello_parse(msg, n, &hh, why, wn);
	free(msg);
	if (r < 0)
		goto fail;
	snprintf(p->name, sizeof(p->name), "%s", hh.name);
	p->hooks = hh.hooks;
	p->fs_ops = hh.fs_ops;
	p->timeouts = 0;
	pthread_mutex_unlock(&p->mu);
	return 0;
fail:
	p->fd = -1;
	free(p->buf);
	p->buf = NULL;
	p->hgot = p->got = p->need = 0;
	pthread_mutex_unlock(&p->mu);
	close(fd);
	return -1;
}

/* ---- the chain ----------------------------------------------------------- */

static int wants(const struct plug *p, enum hook_id h, json_object *args)
{
	json_object *op;

	if (!(p->hooks & (1u << h)))
		return 0;
	if (h != HOOK_FS)
		return 1;
	op = json_object_object_get(args, "op");
	return (p->fs_ops >> hook_fs_op_parse(json_object_get_string(op))) & 1;
}

int sup_hook_wants(struct sup *s, enum hook_id h)
{
	return s->plugins && (s->plugins->hooks & (1u << h));
}

int sup_hook_wants_fs(struct sup *s, int op)
{
	return s->plugins && op >= 0 && op < 64 &&
	       ((s->plugins->fs_ops >> op) & 1);
}

void sup_hook_event(struct sup *s, enum hook_id h, json_object *args)
{
	struct sup_plugins *ps = s->plugins;

	for (unsigned i = 0; ps && i < ps->n; i++) {
		struct plug *p = &ps->p[i];

		if (!wants(p, h, args))
			continue;
		if (p->kind == PK_BUILTIN)
			p->b->hook(p->bst, h, args, NULL);
		else
			plug_event(s, p, h, args);
	}
	json_object_put(args);
}

void sup_hook_lifecycle(struct sup *s, const char *event, json_object *extra)
{
	json_object *a;

	if (!sup_hook_wants(s, HOOK_LIFECYCLE)) {
		json_object_put(extra);
		return;
	}
	a = json_object_new_object();
	json_object_object_add(a, "event", json_object_new_string(event));
	json_object_object_add(a, "sandbox", json_object_new_string(s->name));
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(a, k, json_object_get(v));
		json_object_put(extra);
	}
	sup_hook_event(s, HOOK_LIFECYCLE, a);
}

/* carry() - what an allowing plugin changed, into @args for the next. */
static void carry(enum hook_id h, json_object *args, struct hook_reply *r,
		  struct hook_reply *out)
{
	if (h == HOOK_EXEC_BEFORE && r->argv)
		json_object_object_add(args, "argv", json_object_get(r->argv));
	if (h == HOOK_EXEC_BEFORE && r->env)
		json_object_object_add(args, "env", json_object_get(r->env));
	if (h == HOOK_HTTP_REQUEST && r->verdict == HV_MODIFY) {
		char *b64 = malloc(msb_b64_encoded_len(r->body_len) + 1);

		if (b64) {
			size_t l = msb_b64_encode(r->body, r->body_len, b64);

			json_object_object_add(
				args, "body_b64",
				json_object_new_string_len(b64, (int)l));
			free(b64);
		}
		free(out->body);
		out->body = r->body;
		out->body_len = r->body_len;
		r->body = NULL;
		out->verdict = HV_MODIFY;
	}
	if (h == HOOK_HTTP_RESPONSE && r->verdict == HV_MODIFY) {
		/* what it gave replaces, what it did not stays */
		if (r->head) {
			json_object_object_add(
				args, "head",
				json_object_new_string_len(r->head,
							   (int)r->head_len));
			free(out->head);
			out->head = r->head;
			out->head_len = r->head_len;
			r->head = NULL;
		}
		if (r->body) {
			char *b64 = malloc(msb_b64_encoded_len(r->body_len) +
					   1);

			if (b64) {
				size_t l = msb_b64_encode(r->body, r->body_len,
							  b64);

				json_object_object_add(
					args, "body_b64",
					json_object_new_string_len(b64,
								   (int)l));
				free(b64);
			}
			free(out->body);
			out->body = r->body;
			out->body_len = r->body_len;
			r->body = NULL;
		}
		out->verdict = HV_MODIFY;
	}
}

int sup_hook_call(struct sup *s, enum hook_id h, json_object *args,
		  struct hook_reply *out, char *who, size_t wn)
{
	struct sup_plugins *ps = s->plugins;

	memset(out, 0, sizeof(*out));
	out->verdict = HV_ALLOW;
	if (who && wn)
		who[0] = '\0';
	for (unsigned i = 0; ps && i < ps->n; i++) {
		struct plug *p = &ps->p[i];
		struct hook_reply r = { .verdict = HV_ALLOW };
		char why[400];

		if (!wants(p, h, args))
			continue;
		if (p->kind == PK_BUILTIN) {
			p->b->hook(p->bst, h, args, &r);
		} else if (plug_call(s, p, h, args, &r, why, sizeof(why)) < 0) {
			/* the safe default: a call that was not answered
			 * is refused */
			r.verdict = HV_DENY;
			snprintf(r.reason, sizeof(r.reason), "plugin %s",
				 why);
			r.errnum = EACCES;
		}
		if (r.verdict == HV_DENY || r.verdict == HV_ANSWER) {
			free(out->body);
			free(out->head);
			*out = r;
			if (out->verdict == HV_DENY && !out->errnum)
				out->errnum = EACCES;
			if (who)
				snprintf(who, wn, "%s", p->name);
			return out->verdict;
		}
		carry(h, args, &r, out);
		hook_reply_free(&r);
	}
	return out->verdict;
}

/* ---- the network's table ------------------------------------------------- */

static const char *proto_name(int proto)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	default:
		return "icmp";
	}
}

static json_object *addr_json(const struct msb_net_addr *a)
{
	struct net_addr na = { .family = a->family };
	char ip[64];

	memcpy(na.b, a->addr, 16);
	net_addr_format(&na, ip, sizeof(ip));
	return json_object_new_string(ip);
}

static void said_who(struct sup *s, const char *who, const char *reason)
{
	char w[80];

	snprintf(w, sizeof(w), "%s%s%.40s", who, reason[0] ? ": " : "",
		 reason);
	net_hook_denied_by(s->net, w);
}

static int net_dns(void *st, const char *name, uint16_t qtype,
		   struct msb_net_addr *addrs, unsigned *naddrs)
{
	struct sup *s = st;
	json_object *a = json_object_new_object();
	struct hook_reply r;
	char who[HOOK_NAME_MAX];
	int v;

	json_object_object_add(a, "name", json_object_new_string(name));
	json_object_object_add(a, "qtype", json_object_new_int(qtype));
	v = sup_hook_call(s, HOOK_DNS, a, &r, who, sizeof(who));
	json_object_put(a);
	if (v == HV_DENY)
		said_who(s, who, r.reason);
	if (v == HV_ANSWER) {
		for (unsigned i = 0; i < r.naddrs; i++) {
			addrs[i].family = r.addrs[i].family;
			memcpy(addrs[i].addr, r.addrs[i].addr, 16);
		}
		*naddrs = r.naddrs;
	}
	hook_reply_free(&r);
	return v == HV_DENY ? MSB_NET_DENY :
	       v == HV_ANSWER ? MSB_NET_ANSWER :
				MSB_NET_ALLOW;
}

static int net_connect(void *st, int proto, const struct msb_net_addr *dst,
		       uint16_t port)
{
	struct sup *s = st;
	json_object *a = json_object_new_object();
	struct hook_reply r;
	char who[HOOK_NAME_MAX];
	int v;

	json_object_object_add(a, "proto",
			       json_object_new_string(proto_name(proto)));
	json_object_object_add(a, "ip", addr_json(dst));
	json_object_object_add(a, "port", json_object_new_int(port));
	v = sup_hook_call(s, HOOK_CONNECT, a, &r, who, sizeof(who));
	json_object_put(a);
	if (v == HV_DENY)
		said_who(s, who, r.reason);
	hook_reply_free(&r);
	return v == HV_DENY ? MSB_NET_DENY : MSB_NET_ALLOW;
}

/* add_message() - an HTTP message's "head" and its body to a hook's
 * arguments @a: "body_b64", or "body_streamed" (its size, -1 when not
 * known) when the body streams past the hook. */
static void add_message(json_object *a, const char *head, size_t head_len,
			const void *body, size_t body_len, size_t streamed)
{
	json_object_object_add(a, "head",
			       json_object_new_string_len(head, (int)head_len));
	if (streamed) {
		json_object_object_add(
			a, "body_streamed",
			json_object_new_int64(streamed == SIZE_MAX ?
						      -1 :
						      (int64_t)streamed));
	} else {
		char *b64 = malloc(msb_b64_encoded_len(body_len) + 1);
		size_t l = b64 ? msb_b64_encode(body, body_len, b64) : 0;

		json_object_object_add(a, "body_b64",
				       json_object_new_string_len(b64 ? b64 : "",
								  (int)l));
		free(b64);
	}
}

/* response_args() - what both answer hooks (http_response and the
 * http_response_head event) are told of @resp before its head: tls,
 * host, the request it answers and its status. */
static json_object *response_args(const struct msb_http_response *resp)
{
	json_object *a = json_object_new_object();

	json_object_object_add(a, "tls", json_object_new_boolean(resp->tls));
	json_object_object_add(a, "host", json_object_new_string(resp->host));
	json_object_object_add(a, "request",
			       json_object_new_string(resp->request));
	json_object_object_add(a, "status", json_object_new_int(resp->status));
	return a;
}

static int net_http(void *st, const struct msb_http_request *req,
		    struct msb_http_action *act)
{
	struct sup *s = st;
	struct sup_plugins *ps = s->plugins;
	json_object *a = json_object_new_object();
	struct hook_reply r;
	char who[HOOK_NAME_MAX];
	int v;

	json_object_object_add(a, "tls", json_object_new_boolean(req->tls));
	json_object_object_add(a, "host", json_object_new_string(req->host));
	add_message(a, req->head, req->head_len, req->body, req->body_len,
		    req->body_streamed);
	v = sup_hook_call(s, HOOK_HTTP_REQUEST, a, &r, who, sizeof(who));
	json_object_put(a);
	if (v == HV_DENY) {
		snprintf(act->reason, sizeof(act->reason), "plugin %s%s%s",
			 who, r.reason[0] ? ": " : "", r.reason);
		hook_reply_free(&r);
		return MSB_HTTP_BLOCK;
	}
	if (v == HV_MODIFY) {
		free(ps->http_body);
		ps->http_body = r.body; /* kept until the next request */
		act->body = r.body;
		act->body_len = r.body_len;
		r.body = NULL;
		hook_reply_free(&r);
		return MSB_HTTP_MODIFY;
	}
	hook_reply_free(&r);
	return MSB_HTTP_FORWARD;
}

static int net_http_response(void *st, const struct msb_http_response *resp,
			     struct msb_http_response_action *act)
{
	struct sup *s = st;
	struct sup_plugins *ps = s->plugins;
	json_object *a = response_args(resp);
	struct hook_reply r;
	char who[HOOK_NAME_MAX];
	int v;

	add_message(a, resp->head, resp->head_len, resp->body, resp->body_len,
		    resp->body_streamed);
	v = sup_hook_call(s, HOOK_HTTP_RESPONSE, a, &r, who, sizeof(who));
	json_object_put(a);
	if (v == HV_DENY) {
		snprintf(act->reason, sizeof(act->reason), "plugin %s%s%s",
			 who, r.reason[0] ? ": " : "", r.reason);
		hook_reply_free(&r);
		return MSB_HTTP_BLOCK;
	}
	if (v == HV_MODIFY) {
		/* kept until the next answer */
		free(ps->resp_head);
		free(ps->resp_body);
		ps->resp_head = r.head;
		ps->resp_body = r.body;
		act->head = r.head;
		act->head_len = r.head_len;
		act->body = r.body;
		act->body_len = r.body_len;
		r.head = NULL;
		r.body = NULL;
		hook_reply_free(&r);
		return MSB_HTTP_MODIFY;
	}
	hook_reply_free(&r);
	return MSB_HTTP_FORWARD;
}

void sup_hook_http_response_head(struct sup *s,
				 const struct msb_http_response *resp)
{
	json_object *a = response_args(resp);

	json_object_object_add(a, "head",
			       json_object_new_string_len(resp->head,
							  (int)resp->head_len));
	json_object_object_add(
		a, "body_length",
		json_object_new_int64(resp->body_streamed == SIZE_MAX ?
					      -1 :
					      (int64_t)resp->body_streamed));
	sup_hook_event(s, HOOK_HTTP_RESPONSE_HEAD, a);
}

void sup_plugins_net(struct sup *s)
{
	struct sup_plugins *ps = s->plugins;

	json_object *list, *o, *opts, *v;

	if (!ps || !s->net)
		return;
	/* rate-limiter's bytes=: kept by the stack itself, on every byte */
	json_object_object_get_ex(s->config, "plugins", &list);
	for (unsigned i = 0; i < ps->n; i++) {
		uint64_t bps;

		o = json_object_array_get_idx(list, i);
		if (ps->p[i].kind == PK_BUILTIN && msb_jstr(o, "name", NULL) &&
		    !strcmp(msb_jstr(o, "name", NULL), "rate-limiter") &&
		    json_object_object_get_ex(o, "options", &opts) &&
		    json_object_object_get_ex(opts, "bytes", &v) &&
		    ratelimit_bytes(json_object_get_string(v), &bps) == 0) {
			net_set_byte_rate(s->net, bps);
			sup_log(s, "network: at most %s bytes a second each way "
				   "(rate-limiter)", json_object_get_string(v));
		}
	}
	ps->net.abi = MSB_NET_PLUGIN_ABI;
	ps->net.name = "plugins";
	if (ps->hooks & (1u << HOOK_DNS))
		ps->net.on_dns = net_dns;
	if (ps->hooks & (1u << HOOK_CONNECT))
		ps->net.on_connect = net_connect;
	if (ps->hooks & (1u << HOOK_HTTP_REQUEST))
		ps->net.on_http = net_http;
	if (ps->hooks & (1u << HOOK_HTTP_RESPONSE))
		ps->net.on_http_response = net_http_response;
	if (ps->net.on_dns || ps->net.on_connect || ps->net.on_http ||
	    ps->net.on_http_response)
		net_set_hooks(s->net, &ps->net, s);
}

/* ---- setup, the keeper, the end ----------------------------------------- */

static int add_builtin(struct sup *s, struct plug *p, json_object *o,
		       msb_error *err)
{
	struct builtin_env env = { s->name, s->dir };
	json_object *opts = NULL;
	char why[400] = "";

	p->b = builtin_find(msb_jstr(o, "name", NULL));
	if (!p->b)
		return msb_fail(err, -EINVAL, "unknown built-in plugin '%s' "
				"(audit-log, rate-limiter)", msb_jstr(o, "name", NULL));
	json_object_object_get_ex(o, "options", &opts);
	if (!opts)
		opts = json_object_new_object();
	else
		json_object_get(opts);
	if (p->b->open(opts, &env, &p->bst, &p->hooks, &p->fs_ops, why,
		       sizeof(why)) < 0) {
		json_object_put(opts);
		p->b = NULL;    /* nothing to close */
		return msb_fail(err, -EINVAL, "%s", why);
	}
	json_object_put(opts);
	snprintf(p->name, sizeof(p->name), "%s", p->b->name);
	return 0;
}

/* exit_status() - a command whose hello failed may have exited: its
 * status from the keeper, if it says within a moment. Return: the exit
 * code (128 + N for signal N), or -1. */
static int exit_status(struct sup_plugins *ps, unsigned index)
{
	uint64_t deadline = msb_now_us() + 1000000;

	while (left_ms(deadline)) {
		struct pollfd pf = { ps->ctl, POLLIN, 0 };
		struct keeper_msg m;
		int fd;

		if (poll(&pf, 1, left_ms(deadline)) <= 0 ||
		    keeper_recv(ps->ctl, &m, &fd) <= 0)
			return -1;
		if (fd >= 0)
			close(fd);
		if (m.index == index &&
		    (m.kind == KM_EXITED || m.kind == KM_GAVE_UP))
			return WIFEXITED(m.status) ? WEXITSTATUS(m.status) :
						     128 + WTERMSIG(m.status);
	}
	return -1;
}

/* wait_channels() - every command's first channel, greeted. */
static int wait_channels(struct sup *s, msb_error *err)
{
	struct sup_plugins *ps = s->plugins;
	uint64_t deadline = msb_now_us() + (uint64_t)HELLO_MS * 1000;
	unsigned up = 0;

	while (up < ps->ncmds) {
		struct pollfd pf = { ps->ctl, POLLIN, 0 };
		struct keeper_msg m;
		struct plug *p;
		char why[300];
		int fd, r;

		if (!left_ms(deadline) || poll(&pf, 1, left_ms(deadline)) <= 0)
			return msb_fail(err, -ETIMEDOUT, "plugin processes "
					"did not start within %d s (their "
					"output: %s/plugins.log)",
					HELLO_MS / 1000, s->dir);
		r = keeper_recv(ps->ctl, &m, &fd);
		if (r <= 0)
			return msb_fail(err, -EPROTO, "the plugin keeper "
					"ended");
		if (m.index >= ps->ncmds) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		p = ps->by_kidx[m.index];
		if (m.kind != KM_CHANNEL) {
			return msb_fail(err, -ECHILD, "plugin process '%s' "
					"exited (status %d) before it said "
					"hello; its output is in "
					"%s/plugins.log",
					p->what, WIFEXITED(m.status) ?
					WEXITSTATUS(m.status) :
					128 + WTERMSIG(m.status),
					s->dir);
		}
		if (fd < 0 || hello(s, p, fd, HELLO_MS, why, sizeof(why)) < 0) {
			int code = exit_status(ps, m.index);

			if (code >= 0)
				return msb_fail(err, -ECHILD, "plugin process "
						"'%s' exited (status %d) before "
						"it said hello; its output is "
						"in %s/plugins.log",
						p->what, code, s->dir);
			return msb_fail(err, -EPROTO, "plugin process '%s' %s "
					"(docs/plugins.md; its output is in "
					"%s/plugins.log)",
					p->what, fd < 0 ? "has no channel" : why,
					s->dir);
		}
		sup_log(s, "plugin %s started ('%s')", p->name, p->what);
		up++;
	}
	return 0;
}

int sup_plugins_fork(struct sup *s, msb_error *err)
{
	struct sup_plugins *ps;
	json_object *list, *v;
	char path[4200];
	size_t n;
	int r;

	if (!json_object_object_get_ex(s->config, "plugins", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    !(n = json_object_array_length(list)))
		return 0;
	if (n > PLUGINS_MAX)
		return msb_fail(err, -E2BIG, "%zu plugins: at most %d", n,
				PLUGINS_MAX);
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return msb_fail(err, -ENOMEM, "plugins: out of memory");
	s->plugins = ps;
	ps->ctl = -1;
	ps->log_fd = -1;
	ps->deadline_ms = DEFAULT_DEADLINE_MS;
	if (json_object_object_get_ex(s->config, "plugin_timeout_ms", &v) &&
	    json_object_get_int(v) > 0)
		ps->deadline_ms = (unsigned)json_object_get_int(v);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(list, i);
		const char *kind = msb_jstr(o, "kind", NULL);
		struct plug *p;

		/* an installed plugin's files are checked against the digest
		 * the record pinned, at every start */
		if (msb_jstr(o, "installed", NULL)) {
			msb_plugin_info info;

			r = msb_plugin_verify(msb_jstr(o, "installed", NULL),
					      msb_jstr(o, "digest", NULL), &info, err);
			if (r < 0)
				return r;
		}
		p = &ps->p[ps->n++];

		pthread_mutex_init(&p->mu, NULL);
		p->fd = -1;
		if (kind && !strcmp(kind, "builtin")) {
			p->kind = PK_BUILTIN;
			snprintf(p->what, sizeof(p->what), "%s",
				 msb_jstr(o, "name", NULL) ? msb_jstr(o, "name", NULL) : "?");
		} else if (kind && !strcmp(kind, "process") && msb_jstr(o, "cmd", NULL)) {
			struct keeper_cmd *c = &ps->cmds[ps->ncmds];

			p->kind = PK_PROCESS;
			snprintf(p->what, sizeof(p->what), "%s", msb_jstr(o, "cmd", NULL));
			snprintf(p->name, sizeof(p->name), "process%zu", i);
			c->cmd = msb_jstr(o, "cmd", NULL);
			c->cwd = msb_jstr(o, "cwd", NULL);
			c->restarts = DEFAULT_RESTARTS;
			if (json_object_object_get_ex(s->config,
						      "plugin_restarts", &v))
				c->restarts = (unsigned)json_object_get_int(v);
			p->kidx = ps->ncmds;
			ps->by_kidx[ps->ncmds++] = p;
		} else if (kind && !strcmp(kind, "socket") && msb_jstr(o, "path", NULL)) {
			p->kind = PK_SOCKET;
			snprintf(p->what, sizeof(p->what), "%s",
				 msb_jstr(o, "path", NULL));
			snprintf(p->name, sizeof(p->name), "socket%zu", i);
		} else {
			ps->n--;
			return msb_fail(err, -EINVAL, "bad plugin entry in the "
					"sandbox record: remove the sandbox "
					"and create it again");
		}
	}
	if (!ps->ncmds)
		return 0;
	snprintf(path, sizeof(path), "%s/plugins.log", s->dir);
	ps->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0600);
	r = keeper_start(ps->cmds, ps->ncmds, s->name, ps->log_fd, &ps->keeper,
			 &ps->ctl);
	if (r < 0)
		return msb_fail_errno(err, r, "cannot start plugin processes");
	return 0;
}

int sup_plugins_setup(struct sup *s, msb_error *err)
{
	struct sup_plugins *ps = s->plugins;
	json_object *list;
	int r;

	if (!ps)
		return 0;
	json_object_object_get_ex(s->config, "plugins", &list);
	for (unsigned i = 0; i < ps->n; i++) {
		json_object *o = json_object_array_get_idx(list, i);
		struct plug *p = &ps->p[i];
		char why[300];
		int fd;

		if (p->kind == PK_BUILTIN) {
			r = add_builtin(s, p, o, err);
			if (r < 0)
				return r;
		} else if (p->kind == PK_SOCKET) {
			fd = msb_unix_connect(p->what);
			if (fd < 0)
				return msb_fail_errno(err, fd, "cannot reach the "
						      "hook socket %s (the "
						      "process that registered "
						      "its hooks is gone?)",
						      p->what);
			if (hello(s, p, fd, HELLO_MS, why, sizeof(why)) < 0)
				return msb_fail(err, -EPROTO, "hook socket %s "
						"%s (docs/plugins.md)",
						p->what, why);
			sup_log(s, "plugin %s connected (%s)", p->name,
				p->what);
		}
	}
	if (ps->ncmds) {
		r = wait_channels(s, err);
		if (r < 0)
			return r;
		{
			struct epoll_event ev = { .events = EPOLLIN,
						  .data.ptr = &ps->ref };

			ps->ref.type = EV_PLUGINS;
			epoll_ctl(s->epfd, EPOLL_CTL_ADD, ps->ctl, &ev);
		}
	}
	for (unsigned i = 0; i < ps->n; i++) {
		ps->hooks |= ps->p[i].hooks;
		ps->fs_ops |= ps->p[i].fs_ops;
	}
	return 0;
}

void sup_plugins_keeper(struct sup *s)
{
	struct sup_plugins *ps = s->plugins;
	struct keeper_msg m;
	struct plug *p;
	char why[300];
	int fd, r;

	r = keeper_recv(ps->ctl, &m, &fd);
	if (r <= 0) {
		if (r == -EAGAIN || r == -EINTR)
			return;
		sup_log(s, "plugins: the keeper ended; plugin processes are "
			   "gone and their hooks deny");
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, ps->ctl, NULL);
		for (unsigned i = 0; i < ps->ncmds; i++) {
			pthread_mutex_lock(&ps->by_kidx[i]->mu);
			ps->by_kidx[i]->gave_up = 1;
			pthread_mutex_unlock(&ps->by_kidx[i]->mu);
		}
		return;
	}
	if (m.index >= ps->ncmds) {
		if (fd >= 0)
			close(fd);
		return;
	}
	p = ps->by_kidx[m.index];
	switch (m.kind) {
	case KM_CHANNEL:
		if (fd < 0)
			break;
		pthread_mutex_lock(&p->mu);
		if (p->fd >= 0) { /* (the old one is finished) */
			close(p->fd);
			p->fd = -1;
		}
		pthread_mutex_unlock(&p->mu);
		/* (the network and the API wait meanwhile: a short wait) */
		if (hello(s, p, fd, REHELLO_MS, why, sizeof(why)) < 0) {
			sup_log(s, "plugin '%s' restarted but %s", p->what, why);
			keeper_send(ps->ctl, p->kidx, KM_KILL);
		} else {
			sup_log(s, "plugin %s restarted (%u so far)", p->name,
				m.restarts);
		}
		break;
	case KM_EXITED:
	case KM_GAVE_UP:
		pthread_mutex_lock(&p->mu);
		if (p->fd >= 0) {
			close(p->fd);
			p->fd = -1;
			free(p->buf);
			p->buf = NULL;
			p->hgot = p->got = p->need = 0;
		}
		if (m.kind == KM_GAVE_UP)
			p->gave_up = 1;
		pthread_mutex_unlock(&p->mu);
		sup_log(s, "plugin %s exited (%s %d)%s", p->name,
			WIFEXITED(m.status) ? "status" : "signal",
			WIFEXITED(m.status) ? WEXITSTATUS(m.status) :
					      WTERMSIG(m.status),
			m.kind == KM_GAVE_UP ?
				"; no restarts left: its call hooks deny from "
				"now on" :
				"; starting it again");
		break;
	default:
		if (fd >= 0)
			close(fd);
	}
}

void sup_plugins_free(struct sup *s)
{
	struct sup_plugins *ps = s->plugins;

	if (!ps)
		return;
	/* Channels closed first: a plugin sees its end and may finish
	 * writing what it keeps before the keeper's SIGTERM. */
	for (unsigned i = 0; i < ps->n; i++) {
		struct plug *p = &ps->p[i];

		if (p->kind == PK_BUILTIN && p->b && p->b->close)
			p->b->close(p->bst);
		if (p->fd >= 0)
			close(p->fd);
		free(p->buf);
		pthread_mutex_destroy(&p->mu);
	}
	if (ps->ctl >= 0) {
		struct pollfd pf = { ps->ctl, POLLIN, 0 };
		uint64_t until = msb_now_ms() + 3000;

		keeper_send(ps->ctl, 0, KM_QUIT);
		/* the keeper's end closes its side */
		while (msb_now_ms() < until &&
		       poll(&pf, 1, (int)(until - msb_now_ms())) > 0) {
			struct keeper_msg m;
			int fd;

			if (keeper_recv(ps->ctl, &m, &fd) <= 0)
				break;
			if (fd >= 0)
				close(fd);
		}
		close(ps->ctl);
		waitpid(ps->keeper, NULL, WNOHANG);
	}
	if (ps->log_fd >= 0)
		close(ps->log_fd);
	free(ps->http_body);
	free(ps->resp_head);
	free(ps->resp_body);
	free(ps);
	s->plugins = NULL;
}
