/* SPDX-License-Identifier: Apache-2.0 */
/* api.c - the sandbox's API socket: JSON lines (docs/api-protocol.md)
 *
 * Requests carry an "id" and get exactly one reply, a "result" or an
 * "error", possibly after events with the same id. Messages without an id
 * (stdin, signal, resize) are notifications and get no reply unless they
 * are invalid.
 *
 * Connections: MAX_CONNS are served in full. A connection with nothing
 * going on (no exec, no stop waiting for its answer) is idle: it is closed
 * after CONN_IDLE_US, and the longest idle one makes room for a newcomer
 * when every slot is taken, so idle connections can never lock clients
 * out. When all MAX_CONNS are busy, a newcomer gets one of CONN_RESERVED
 * slots kept for stop, info and ping, so a sandbox can always be stopped;
 * past those, it is told "too many connections" and closed.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

void conn_update_events(struct sup *s, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = &c->ref };

	ev.events = (c->paused || c->closing ? 0 : EPOLLIN) |
		    (c->out.len ? EPOLLOUT : 0);
	c->want_out = c->out.len > 0;
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

void api_let_go(struct sup *s, struct stream *st)
{
	st->conn = NULL;
	st->discard = 1;
	if (st->owed)
		agent_send_u32(s, st->id, MSB_F_WINDOW, st->owed);
	st->owed = 0;
	if (!st->stdin_eof) {
		st->stdin_eof = 1;
		msb_buf_free(&st->stdin_q);
		agent_flush_stdin(s, st);
	}
	if (st->main && s->state == ST_RUNNING)
		sup_begin_stop(s, 0);
}

static void conn_free(struct sup *s, struct conn *c)
{
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *st = s->streams[i];

		if (!st || st->conn != c)
			continue;
		/* The client went away mid-exec (killed, or it closed):
		 * hang up the process like a closed terminal would and drop
		 * whatever it still prints. */
		agent_send_u32(s, st->id, MSB_F_SIGNAL, SIGHUP);
		api_let_go(s, st);
	}
	for (int i = 0; i < CONN_SLOTS; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	msb_buf_free(&c->in);
	msb_buf_free(&c->out);
	json_object_put(c->stop_ids);
	free(c);
}

static void conn_flush(struct sup *s, struct conn *c)
{
	long w = msb_buf_write_to(&c->out, c->fd);

	if (w < 0) {
		c->closing = 1;
		msb_buf_free(&c->out);
	}
	api_grant_credit(s, c);
	if (c->want_out != (c->out.len > 0))
		conn_update_events(s, c);
	/* a follower of the events gets more as its queue empties */
	if (c->ev_follow && !c->ev_pumping && c->out.len < CONN_LOW)
		sup_events_pump(s, c);
}

void api_flush(struct sup *s, struct conn *c)
{
	conn_flush(s, c);
}

void api_send(struct sup *s, struct conn *c, json_object *msg)
{
	size_t n;
	const char *txt;

	if (!c || c->closing) {
		json_object_put(msg);
		return;
	}
	txt = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN,
						&n);
	if (msb_buf_append(&c->out, txt, n) < 0 ||
	    msb_buf_append(&c->out, "\n", 1) < 0)
		c->closing = 1;
	json_object_put(msg);
	conn_flush(s, c);
}

void api_grant_credit(struct sup *s, struct conn *c)
{
	if (c->out.len >= CONN_LOW)
		return;
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *st = s->streams[i];

		if (st && st->conn == c && st->owed) {
			agent_send_u32(s, st->id, MSB_F_WINDOW, st->owed);
			st->owed = 0;
		}
	}
}

static void reply_error(struct sup *s, struct conn *c, json_object *id,
			const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void reply_error(struct sup *s, struct conn *c, json_object *id,
			const char *code, const char *fmt, ...)
{
	json_object *m = json_object_new_object(), *e = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(m, "id", id ? json_object_get(id) : NULL);
	json_object_object_add(m, "error", e);
	api_send(s, c, m);
}

void api_reply_error(struct sup *s, struct conn *c, int64_t id,
		     const char *code, const char *message)
{
	json_object *jid = json_object_new_int64(id);

	reply_error(s, c, jid, code, "%s", message);
	json_object_put(jid);
}

size_t api_paused_text(const struct sup *s, char *buf, size_t n)
{
	int k = snprintf(buf, n, "sandbox %s is paused: the host disk under "
			 "%s is full. It resumes by itself once there is room "
			 "there; 'msb stop %s' stops it", s->name, s->dir,
			 s->name);

	return k < 0 ? 0 : (size_t)k >= n ? n - 1 : (size_t)k;
}

static void reply_result(struct sup *s, struct conn *c, json_object *id,
			 json_object *result)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "id", json_object_get(id));
	json_object_object_add(m, "result", result);
	api_send(s, c, m);
}

void api_reply_result(struct sup *s, struct conn *c, int64_t id,
		      json_object *result)
{
	json_object *jid = json_object_new_int64(id);

	reply_result(s, c, jid, result);
	json_object_put(jid);
}

int api_conn_alive(struct sup *s, struct conn *c, uint64_t serial)
{
	for (int i = 0; i < CONN_SLOTS; i++)
		if (s->conns[i] == c)
			return c->serial == serial && !c->closing;
	return 0;
}

static const char *state_name(enum sup_state st)
{
	switch (st) {
	case ST_BOOTING:
		return "starting";
	case ST_RUNNING:
		return "running";
	case ST_STOPPING:
		return "stopping";
	default:
		return "stopped";
	}
}

static json_object *info_json(struct sup *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "status",
			       json_object_new_string(state_name(s->state)));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "boot_ms",
			       json_object_new_int64((int64_t)s->boot_ms));
	json_object_object_add(o, "accel",
			       json_object_new_string(s->vm.accel ==
							      MSB_ACCEL_KVM ?
						      "kvm" :
						      "tcg"));
	/* null, or why the VM is paused (diskfull.c) */
	json_object_object_add(o, "paused", sup_diskfull_json(s));
	if (s->timings)
		json_object_object_add(o, "guest_timings_us",
				       json_object_get(s->timings));
	return o;
}

static struct stream *find_exec(struct sup *s, struct conn *c, json_object *p)
{
	json_object *v;
	int64_t id;

	if (!p || !json_object_object_get_ex(p, "exec", &v))
		return NULL;
	id = json_object_get_int64(v);
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *st = s->streams[i];

		if (st && st->conn == c && st->req_id == id)
			return st;
	}
	return NULL;
}

static void on_stdin(struct sup *s, struct conn *c, json_object *p)
{
	struct stream *st = find_exec(s, c, p);
	json_object *v;

	if (!st || st->stdin_eof)
		return;
	if (json_object_object_get_ex(p, "data", &v) &&
	    json_object_is_type(v, json_type_string)) {
		const char *d = json_object_get_string(v);
		size_t n = (size_t)json_object_get_string_len(v);
		uint8_t *raw = malloc(n / 4 * 3 + 3);
		long l;

		if (!raw)
			return;
		l = msb_b64_decode(d, n, raw);
		if (l < 0) {
			free(raw);
			reply_error(s, c, NULL, "invalid_params",
				    "stdin data is not valid base64");
			return;
		}
		msb_buf_append(&st->stdin_q, raw, (size_t)l);
		free(raw);
	}
	if (json_object_object_get_ex(p, "eof", &v) &&
	    json_object_get_boolean(v))
		st->stdin_eof = 1;
	agent_flush_stdin(s, st);
	if (st->stdin_q.len >= STDIN_QUEUE_MAX && !c->paused) {
		c->paused = 1;
		conn_update_events(s, c);
	}
}

int api_id_in_use(struct sup *s, struct conn *c, int64_t id)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		if (s->streams[i] && s->streams[i]->conn == c &&
		    s->streams[i]->req_id == id)
			return 1;
	return 0;
}

/* stream_request_ok() - what every request that opens a guest stream
 * (exec, fs_*) needs; answers and returns 0 when it is missing. */
static int stream_request_ok(struct sup *s, struct conn *c, json_object *id,
			     json_object *p, const char *meth)
{
	if (s->state != ST_RUNNING) {
		reply_error(s, c, id, "not_running", "sandbox %s is %s",
			    s->name, state_name(s->state));
		return 0;
	}
	if (sup_diskfull_paused(s)) {
		char why[1024];

		api_paused_text(s, why, sizeof(why));
		reply_error(s, c, id, "paused", "%s", why);
		return 0;
	}
	if (!json_object_is_type(id, json_type_int)) {
		reply_error(s, c, id, "invalid_request",
			    "%s needs an integer id", meth);
		return 0;
	}
	if (!p || !json_object_is_type(p, json_type_object)) {
		reply_error(s, c, id, "invalid_params", "%s needs params",
			    meth);
		return 0;
	}
	if (api_id_in_use(s, c, json_object_get_int64(id))) {
		reply_error(s, c, id, "invalid_request",
			    "id %lld is already in use",
			    (long long)json_object_get_int64(id));
		return 0;
	}
	return 1;
}

static void on_exec(struct sup *s, struct conn *c, json_object *id,
		    json_object *p)
{
	struct stream *st;
	json_object *v;
	char why[256];
	int detach = 0;
	int64_t timeout_ms = 0;

	if (!stream_request_ok(s, c, id, p, "exec"))
		return;
	/* A relative one would be taken from wherever the agent is. */
	if (json_object_object_get_ex(p, "cwd", &v) && v &&
	    (!json_object_is_type(v, json_type_string) ||
	     (*json_object_get_string(v) && *json_object_get_string(v) != '/'))) {
		reply_error(s, c, id, "invalid_params",
			    "cwd must be an absolute path (\"\" for /)");
		return;
	}
	if (json_object_object_get_ex(p, "detach", &v) &&
	    json_object_get_boolean(v)) {
		detach = 1;
		if ((json_object_object_get_ex(p, "stdin", &v) &&
		     json_object_get_boolean(v)) ||
		    (json_object_object_get_ex(p, "main", &v) &&
		     json_object_get_boolean(v)) ||
		    (json_object_object_get_ex(p, "tty", &v) &&
		     json_object_is_type(v, json_type_object))) {
			reply_error(s, c, id, "invalid_params",
				    "a detached exec takes no stdin, tty or "
				    "main");
			return;
		}
	}
	if (json_object_object_get_ex(p, "timeout_ms", &v) && v) {
		timeout_ms = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || timeout_ms < 0) {
			reply_error(s, c, id, "invalid_params",
				    "timeout_ms must be a non-negative integer "
				    "(milliseconds; 0 for none)");
			return;
		}
	}
	st = agent_exec(s, p, why, sizeof(why));
	if (!st) {
		reply_error(s, c, id,
			    s->exec_denied ? "denied" : "invalid_params", "%s",
			    why);
		return;
	}
	if (timeout_ms) {
		st->deadline_us = msb_now_us() + (uint64_t)timeout_ms * 1000;
		sup_tick_rearm(s);
	}
	st->conn = c;
	st->req_id = json_object_get_int64(id);
	st->detach = detach;
	if (json_object_object_get_ex(p, "main", &v) &&
	    json_object_get_boolean(v))
		st->main = 1;
	if (!(json_object_object_get_ex(p, "stdin", &v) &&
	      json_object_get_boolean(v)))
		st->stdin_eof = 2; /* the agent gave it /dev/null */
}

static void on_signal(struct sup *s, struct conn *c, json_object *p)
{
	struct stream *st = find_exec(s, c, p);
	json_object *v;
	int sig;

	if (!st || !json_object_object_get_ex(p, "signal", &v))
		return;
	sig = json_object_get_int(v);
	if (sig <= 0 || sig >= 65)
		return;
	agent_send_u32(s, st->id, MSB_F_SIGNAL, (uint32_t)sig);
	if (sup_diskfull_paused(s)) {
		/* The guest gets it when it runs again; its client, which
		 * may have been told to go (SIGTERM), is not kept waiting
		 * for that: it is told why and let go. */
		char why[1024];
		size_t n = api_paused_text(s, why, sizeof(why));

		snprintf(why + n, sizeof(why) - n,
			 " (signal %d reaches the command when it runs again)",
			 sig);
		api_reply_error(s, c, st->req_id, "paused", why);
		api_let_go(s, st);
	}
}

static void on_resize(struct sup *s, struct conn *c, json_object *p)
{
	struct stream *st = find_exec(s, c, p);
	json_object *v;
	uint8_t b[4];
	int rows = 0, cols = 0;

	if (!st)
		return;
	if (json_object_object_get_ex(p, "rows", &v))
		rows = json_object_get_int(v);
	if (json_object_object_get_ex(p, "cols", &v))
		cols = json_object_get_int(v);
	if (rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535)
		return;
	msb_put_be16(b, (uint16_t)rows);
	msb_put_be16(b + 2, (uint16_t)cols);
	agent_send(s, st->id, MSB_F_RESIZE, b, 4);
}

static void on_message(struct sup *s, struct conn *c, const char *line,
		       size_t n)
{
	json_tokener *tok = json_tokener_new();
	json_object *m, *id = NULL, *method = NULL, *params = NULL;
	const char *meth;

	m = json_tokener_parse_ex(tok, line, (int)n);
	if (!m || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(m, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(m);
		reply_error(s, c, NULL, "parse_error",
			    "each line must be one JSON object");
		return;
	}
	json_tokener_free(tok);
	json_object_object_get_ex(m, "id", &id);
	json_object_object_get_ex(m, "method", &method);
	json_object_object_get_ex(m, "params", &params);
	if (!method || !json_object_is_type(method, json_type_string)) {
		reply_error(s, c, id, "invalid_request",
			    "a message needs a \"method\" string");
		goto out;
	}
	meth = json_object_get_string(method);
	c->last_us = msb_now_us();
	if (c->reserved && strcmp(meth, "stop") && strcmp(meth, "info") &&
	    strcmp(meth, "ping")) {
		reply_error(s, c, id, "too_many_connections",
			    "too many connections to this sandbox (commands "
			    "run on all %d of them); beyond that only stop, "
			    "info and ping are served: try again when some have "
			    "finished", MAX_CONNS);
		c->closing = 1;
		goto out;
	}
	if (!strcmp(meth, "stdin")) {
		on_stdin(s, c, params);
	} else if (!strcmp(meth, "signal")) {
		on_signal(s, c, params);
	} else if (!strcmp(meth, "resize")) {
		on_resize(s, c, params);
	} else if (!id) {
		reply_error(s, c, NULL, "invalid_request",
			    "method %s needs an \"id\"", meth);
	} else if (!strcmp(meth, "ping")) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "version",
				       json_object_new_int(1));
		reply_result(s, c, id, r);
	} else if (!strcmp(meth, "info")) {
		reply_result(s, c, id, info_json(s));
	} else if (!strcmp(meth, "exec")) {
		on_exec(s, c, id, params);
	} else if (!strcmp(meth, "snapshot")) {
		if (!json_object_is_type(id, json_type_int))
			reply_error(s, c, id, "invalid_request",
				    "snapshot needs an integer \"id\"");
		else
			sup_snapshot_start(s, c, json_object_get_int64(id),
					   params);
	} else if (!strcmp(meth, "events") || !strcmp(meth, "event_send")) {
		if (!json_object_is_type(id, json_type_int))
			reply_error(s, c, id, "invalid_request",
				    "%s needs an integer id", meth);
		else if (params &&
			 !json_object_is_type(params, json_type_object))
			reply_error(s, c, id, "invalid_params",
				    "%s takes an object of params", meth);
		else if (!strcmp(meth, "events"))
			sup_events_request(s, c, json_object_get_int64(id),
					   params);
		else
			sup_events_send(s, c, json_object_get_int64(id),
					params);
	} else if (!strcmp(meth, "stats")) {
		if (!json_object_is_type(id, json_type_int))
			reply_error(s, c, id, "invalid_request",
				    "stats needs an integer id");
		else
			sup_stats_request(s, c, json_object_get_int64(id),
					  params);
	} else if (sup_file_op(meth)) {
		if (stream_request_ok(s, c, id, params, meth))
			sup_file_request(s, c, json_object_get_int64(id),
					 sup_file_op(meth), params);
	} else if (!strcmp(meth, "stop")) {
		json_object *v;
		int t = 10;

		if (params && json_object_object_get_ex(params, "timeout", &v))
			t = json_object_get_int(v);
		if (t < 0)
			t = 0;
		/* Every stop request gets its answer, with its own id. */
		if (!c->stop_ids)
			c->stop_ids = json_object_new_array();
		json_object_array_add(c->stop_ids, json_object_get(id));
		sup_begin_stop(s, (unsigned)t);
	} else {
		reply_error(s, c, id, "method_not_found",
			    "unknown method '%s'", meth);
	}
out:
	json_object_put(m);
}

/* busy_map() - @busy[slot] set for each connection that an exec runs on
 * or whose stop waits for its answer: those are never closed as idle. */
static void busy_map(struct sup *s, uint8_t busy[CONN_SLOTS])
{
	memset(busy, 0, CONN_SLOTS);
	for (int i = 0; i < MAX_STREAMS; i++)
		if (s->streams[i] && s->streams[i]->conn)
			busy[s->streams[i]->conn->slot] = 1;
	for (int i = 0; i < CONN_SLOTS; i++)
		if (s->conns[i] && ((s->conns[i]->stop_ids &&
		    json_object_array_length(s->conns[i]->stop_ids)) ||
		    s->conns[i]->ev_follow))
			busy[i] = 1;
}

/* refuse() - the newcomer @fd is told why, and closed: one short line on
 * a fresh socket, which its buffer takes whole. */
static void refuse(int fd)
{
	static const char line[] =
		"{\"id\":null,\"error\":{\"code\":\"too_many_connections\","
		"\"message\":\"too many connections to this sandbox (commands "
		"run on all of them); try again when some have finished\"}}\n";

	if (send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing more can be done for it */
	}
	close(fd);
}

/* evict_idle() - close the longest idle connection in slots [@from, @to)
 * for a newcomer. Return: its slot, or -1 if all are busy. */
static int evict_idle(struct sup *s, int from, int to)
{
	uint8_t busy[CONN_SLOTS];
	struct conn *victim = NULL;

	busy_map(s, busy);
	for (int i = from; i < to; i++) {
		struct conn *c = s->conns[i];

		if (c && !busy[i] && (!victim || c->last_us < victim->last_us))
			victim = c;
	}
	if (!victim)
		return -1;
	from = victim->slot;
	conn_free(s, victim);
	return from;
}

/* free_slot() - a slot for a newcomer: a free one, else the longest idle
 * connection's, else a reserved one (*@reserved set; reserved slots too
 * go to newcomers before idle holders). Return: -1 if none. */
static int free_slot(struct sup *s, int *reserved)
{
	int slot;

	*reserved = 0;
	for (int i = 0; i < MAX_CONNS; i++)
		if (!s->conns[i])
			return i;
	slot = evict_idle(s, 0, MAX_CONNS);
	if (slot >= 0)
		return slot;
	*reserved = 1;
	for (int i = MAX_CONNS; i < CONN_SLOTS; i++)
		if (!s->conns[i])
			return i;
	return evict_idle(s, MAX_CONNS, CONN_SLOTS);
}

void api_on_accept(struct sup *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;
		int slot, reserved;

		if (fd < 0)
			break;
		slot = free_slot(s, &reserved);
		c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			refuse(fd);
			continue;
		}
		c->ref.type = EV_CONN;
		c->fd = fd;
		c->slot = slot;
		c->reserved = reserved;
		c->last_us = msb_now_us();
		{
			static uint64_t serials;

			c->serial = ++serials;
		}
		s->conns[slot] = c;
		ev.data.ptr = &c->ref;
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	sup_tick_rearm(s);
}

uint64_t api_idle_deadline(struct sup *s)
{
	uint8_t busy[CONN_SLOTS];
	uint64_t next = 0;

	busy_map(s, busy);
	for (int i = 0; i < CONN_SLOTS; i++) {
		struct conn *c = s->conns[i];

		if (c && !busy[i] && (!next || c->last_us + CONN_IDLE_US < next))
			next = c->last_us + CONN_IDLE_US;
	}
	return next;
}

void api_expire_idle(struct sup *s, uint64_t now_us)
{
	uint8_t busy[CONN_SLOTS];

	busy_map(s, busy);
	for (int i = 0; i < CONN_SLOTS; i++) {
		struct conn *c = s->conns[i];

		if (c && !busy[i] && c->last_us + CONN_IDLE_US <= now_us)
			conn_free(s, c);
	}
}

/* Handle every whole request line already read, until one pauses the
 * connection. Not re-entered: a resume from inside a handler leaves the
 * rest to the loop that is already running. */
static void conn_dispatch(struct sup *s, struct conn *c)
{
	uint8_t *nl;

	if (c->dispatching)
		return;
	c->dispatching = 1;
	while (!c->paused && c->in.len &&
	       (nl = memchr(msb_buf_data(&c->in), '\n', c->in.len))) {
		size_t l = (size_t)(nl - msb_buf_data(&c->in));

		if (l)
			on_message(s, c, (const char *)msb_buf_data(&c->in), l);
		msb_buf_consume(&c->in, l + 1);
	}
	c->dispatching = 0;
}

void api_resume(struct sup *s, struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = 0;
	conn_dispatch(s, c);
	conn_update_events(s, c);
}

void api_on_conn(struct sup *s, struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT)
		conn_flush(s, c);
	/* A paused connection is not read, so its hang-up must be taken
	 * from the event itself (epoll reports HUP and ERR regardless). */
	if (c->paused && (events & (EPOLLHUP | EPOLLERR))) {
		conn_free(s, c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n;

			if (c->paused)
				break;
			if (msb_buf_reserve(&c->in, 65536) < 0) {
				c->closing = 1;
				break;
			}
			n = read(c->fd, msb_buf_data(&c->in) + c->in.len,
				 65536);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				conn_free(s, c);
				return;
			}
			c->in.len += (size_t)n;
			conn_dispatch(s, c);
			if (c->in.len > CONN_LINE_MAX) {
				reply_error(s, c, NULL, "parse_error",
					    "request line longer than %d bytes",
					    CONN_LINE_MAX);
				c->closing = 1;
				break;
			}
		}
	}
	if (c->closing && !c->out.len) {
		conn_free(s, c);
		return;
	}
	conn_update_events(s, c);
}

void api_close_all(struct sup *s)
{
	for (int i = 0; i < CONN_SLOTS; i++) {
		struct conn *c = s->conns[i];

		if (!c)
			continue;
		sup_events_close(s, c);
		for (int k = 0; k < MAX_STREAMS; k++)
			if (s->streams[k] && s->streams[k]->conn == c) {
				s->streams[k]->conn = NULL;
				s->streams[k]->discard = 1;
			}
		for (size_t k = 0; c->stop_ids &&
				   k < json_object_array_length(c->stop_ids);
		     k++) {
			json_object *r = json_object_new_object();
			json_object *m = json_object_new_object();

			json_object_object_add(
				r, "elapsed_ms",
				json_object_new_int64(
					(int64_t)((msb_now_us() -
						   s->stop_started_us) /
						  1000)));
			json_object_object_add(r, "forced",
					       json_object_new_boolean(
						       s->stop_forced));
			json_object_object_add(
				m, "id",
				json_object_get(json_object_array_get_idx(
					c->stop_ids, k)));
			json_object_object_add(m, "result", r);
			api_send(s, c, m);
		}
		json_object_put(c->stop_ids);
		/* Best effort, bounded: the process is about to exit. */
		struct timeval tv = { .tv_sec = 1 };

		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		msb_set_nonblock(c->fd, 0);
		msb_buf_write_to(&c->out, c->fd);
		close(c->fd);
		msb_buf_free(&c->in);
		msb_buf_free(&c->out);
		free(c);
		s->conns[i] = NULL;
	}
}
