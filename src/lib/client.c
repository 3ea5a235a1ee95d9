/* SPDX-License-Identifier: Apache-2.0 */
/* client.c - the library's end of a sandbox's API socket, and exec
 *
 * Each exec gets a connection of its own, so back-pressure from one
 * (a caller that stops reading) never stalls another.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "buf.h"
#include "client.h"
#include "jsonx.h"
#include "util.h"

#define LINE_MAX_BYTES (16 << 20)

struct msb_exec {
	struct msb_conn c;
	struct msb_buf data; /* the last event's bytes */
	int done;
	int stdin_open;
};

int msb_conn_open(const char *name, struct msb_conn *c, msb_error *err)
{
	char path[PATH_MAX];
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	/* the name becomes a path: "../x" must not reach another socket */
	fd = msb_name_valid(name, err);
	if (fd < 0)
		return fd;
	msb_api_sock_path(name, path, sizeof(path));
	fd = msb_unix_connect(path);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return msb_fail(err, MSB_E_NOT_RUNNING,
				"sandbox '%s' is not running; start it with "
				"'msb start %s'",
				name, name);
	if (fd < 0)
		return msb_fail(err, fd,
				"cannot reach sandbox '%s' (its API socket "
				"%s: %s)",
				name, path, strerror(-fd));
	c->fd = fd;
	c->next_id = 1;
	return 0;
}

int msb_conn_open_named(const char *name, struct msb_conn *c, msb_error *err)
{
	msb_sandbox_info info;
	msb_error none;
	int r = msb_conn_open(name, c, err);

	/* The record, not the directory, says whether it exists: a running
	 * sandbox whose directory was deleted is still there to stop. */
	if (r == MSB_E_NOT_RUNNING &&
	    msb_sandbox_info_get(name, &info, &none) == MSB_E_NOT_FOUND)
		return msb_fail(err, MSB_E_NOT_FOUND, "%s", none.message);
	return r;
}

void msb_conn_close(struct msb_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	msb_buf_free(&c->in);
}

/* closed_why() - the supervisor closed the connection before taking a
 * request: what it said first, if anything ("too many connections"). */
static int closed_why(struct msb_conn *c, msb_error *err)
{
	json_object *msg = NULL;
	int r;

	if (msb_conn_recv(c, &msg, 1000, NULL) == 1 && msb_jget(msg, "error")) {
		r = msb_conn_error(msg, err);
		json_object_put(msg);
		return r;
	}
	if (msg)
		json_object_put(msg);
	return msb_fail(err, MSB_E_STOPPED,
			"the sandbox closed the connection (its supervisor "
			"is stopping, or refused it)");
}

/* send_line() - @msg and its line break; a peer that closed the
 * connection is looked into (closed_why()) only when @ask, since that
 * reads from it. */
static int send_line(struct msb_conn *c, json_object *msg, int ask,
		     msb_error *err)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		msg, JSON_C_TO_STRING_PLAIN, &n);
	struct msb_buf b = { 0 };
	int r;

	if (msb_buf_append(&b, s, n) < 0 || msb_buf_append(&b, "\n", 1) < 0) {
		msb_buf_free(&b);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	r = msb_send_all(c->fd, msb_buf_data(&b), b.len);
	msb_buf_free(&b);
	if ((r == -EPIPE || r == -ECONNRESET) && ask)
		return closed_why(c, err);
	if (r == -EPIPE || r == -ECONNRESET)
		return msb_fail(err, MSB_E_STOPPED,
				"the sandbox closed the connection (the command "
				"is over, or its supervisor is stopping)");
	if (r < 0)
		return msb_fail_errno(err, r, "sandbox API socket");
	return 0;
}

int msb_conn_send(struct msb_conn *c, json_object *msg, msb_error *err)
{
	return send_line(c, msg, 1, err);
}

int msb_conn_notify(struct msb_conn *c, json_object *msg, msb_error *err)
{
	return send_line(c, msg, 0, err);
}

int msb_conn_recv(struct msb_conn *c, json_object **msg, int timeout_ms,
		  msb_error *err)
{
	uint64_t deadline = timeout_ms >= 0 ? msb_now_ms() + (uint64_t)timeout_ms :
					      0;

	for (;;) {
		uint8_t *nl = c->in.len ? memchr(msb_buf_data(&c->in), '\n',
						 c->in.len) :
					  NULL;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - msb_buf_data(&c->in));

			{
				char *line = strndup(
					(const char *)msb_buf_data(&c->in), l);

				*msg = line ? json_tokener_parse(line) : NULL;
				free(line);
			}
			msb_buf_consume(&c->in, l + 1);
			if (!*msg || !json_object_is_type(*msg,
							  json_type_object)) {
				json_object_put(*msg);
				return msb_fail(err, -EPROTO,
						"bad message from the supervisor");
			}
			return 1;
		}
		if (c->in.len > LINE_MAX_BYTES)
			return msb_fail(err, -EPROTO,
					"oversized message from the supervisor");
		if (timeout_ms >= 0) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			uint64_t now = msb_now_ms();
			int left = now >= deadline ? 0 : (int)(deadline - now);
			int pr = poll(&p, 1, left);

			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0)
				return 0;
		}
		if (msb_buf_reserve(&c->in, 65536) < 0)
			return msb_fail(err, -ENOMEM, "out of memory");
		n = read(c->fd, msb_buf_data(&c->in) + c->in.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return msb_fail_errno(err, -errno, "sandbox API socket");
		if (n == 0)
			return msb_fail(err, -EPIPE,
					"the sandbox stopped (its supervisor "
					"closed the connection)");
		c->in.len += (size_t)n;
	}
}

int msb_conn_error(json_object *msg, msb_error *err)
{
	json_object *e = msb_jget(msg, "error");
	const char *code = json_object_get_string(msb_jget(e, "code"));
	const char *m = json_object_get_string(msb_jget(e, "message"));

	int r = MSB_E_INVALID;

	if (code && !strcmp(code, "not_running"))
		r = MSB_E_NOT_RUNNING;
	else if (code && !strcmp(code, "exec_failed"))
		r = MSB_E_EXEC;
	else if (code && !strcmp(code, "denied"))
		r = MSB_E_POLICY; /* a plugin's exec_before (docs/plugins.md) */
	else if (code && !strcmp(code, "fs_failed")) {
		int en = msb_errno_parse(
			json_object_get_string(msb_jget(e, "errno")));

		r = en ? -en : -EIO;
	} else if (code && !strcmp(code, "method_not_found")) {
		r = -EOPNOTSUPP;
	} else if (code && (!strcmp(code, "too_many_connections") ||
			    !strcmp(code, "paused"))) {
		r = MSB_E_BUSY;
	}
	return msb_fail(err, r, "%s",
			m ? m : "the supervisor refused the request");
}

int msb_conn_call(struct msb_conn *c, const char *method, json_object *params,
		  json_object **result, int timeout_ms, msb_error *err)
{
	json_object *req = json_object_new_object(), *msg;
	int64_t id = c->next_id++;
	int r;

	json_object_object_add(req, "id", json_object_new_int64(id));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(req, "params", params);
	r = msb_conn_send(c, req, err);
	json_object_put(req);
	if (r < 0)
		return r;
	for (;;) {
		r = msb_conn_recv(c, &msg, timeout_ms, err);
		if (r == 0)
			return msb_fail(err, -ETIMEDOUT,
					"the sandbox did not answer '%s' in "
					"time",
					method);
		if (r < 0)
			return r;
		/* An error without an id is about the connection itself
		 * (refused: too many connections): it answers this call. */
		if (msb_jget(msg, "error") && !msb_jget(msg, "id")) {
			r = msb_conn_error(msg, err);
			json_object_put(msg);
			return r;
		}
		if (json_object_get_int64(msb_jget(msg, "id")) != id ||
		    msb_jget(msg, "event")) {
			json_object_put(msg);
			continue;
		}
		if (msb_jget(msg, "error")) {
			r = msb_conn_error(msg, err);
			json_object_put(msg);
			return r;
		}
		if (result)
			*result = json_object_get(msb_jget(msg, "result"));
		json_object_put(msg);
		return 0;
	}
}

static int exec_start(const char *name, const char *const *argv,
		      const msb_exec_opts *o, int detach, msb_exec **out,
		      msb_error *err)
{
	json_object *req, *p;
	msb_exec *e;
	int r;

	if (!argv || !argv[0] || !argv[0][0])
		return msb_fail(err, -EINVAL, "a command to run is required");
	for (const char *const *v = o ? o->env : NULL; v && *v; v++)
		if (!strchr(*v, '=') || **v == '=')
			return msb_fail(err, -EINVAL,
					"invalid environment entry '%s': use "
					"KEY=VALUE",
					*v);
	e = calloc(1, sizeof(*e));
	if (!e)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = msb_conn_open_named(name, &e->c, err);
	if (r < 0) {
		free(e);
		return r;
	}
	p = json_object_new_object();
	json_object_object_add(p, "argv", msb_jstrv(argv));
	if (o && o->env)
		json_object_object_add(p, "env", msb_jstrv(o->env));
	if (o && o->workdir)
		json_object_object_add(p, "cwd",
				       json_object_new_string(o->workdir));
	if (o && o->user)
		json_object_object_add(p, "user",
				       json_object_new_string(o->user));
	if (o && o->tty) {
		json_object *t = json_object_new_object();

		json_object_object_add(t, "rows",
				       json_object_new_int((int)(o->rows ? o->rows : 24)));
		json_object_object_add(t, "cols",
				       json_object_new_int((int)(o->cols ? o->cols : 80)));
		json_object_object_add(p, "tty", t);
	}
	if (o && o->stdin) {
		json_object_object_add(p, "stdin", json_object_new_boolean(1));
		e->stdin_open = 1;
	}
	if (o && o->main)
		json_object_object_add(p, "main", json_object_new_boolean(1));
	if (o && o->timeout_ms)
		json_object_object_add(p, "timeout_ms",
				       json_object_new_int64(o->timeout_ms));
	if (detach)
		json_object_object_add(p, "detach", json_object_new_boolean(1));
	req = json_object_new_object();
	json_object_object_add(req, "id", json_object_new_int64(1));
	json_object_object_add(req, "method", json_object_new_string("exec"));
	json_object_object_add(req, "params", p);
	r = msb_conn_send(&e->c, req, err);
	json_object_put(req);
	if (r < 0) {
		msb_exec_free(e);
		return r;
	}
	*out = e;
	return 0;
}

MSB_API int msb_exec_start(msb_sandbox *sb, const char *const *argv,
			   const msb_exec_opts *o, msb_exec **out,
			   msb_error *err)
{
	return exec_start(msb_sandbox_name(sb), argv, o, 0, out, err);
}

MSB_API int msb_exec_detach(msb_sandbox *sb, const char *const *argv,
			    const msb_exec_opts *o, int *pid, msb_error *err)
{
	msb_exec *e;
	json_object *msg;
	int r;

	if (o && (o->stdin || o->tty || o->main))
		return msb_fail(err, -EINVAL,
				"a detached command takes no stdin, terminal "
				"or main");
	r = exec_start(msb_sandbox_name(sb), argv, o, 1, &e, err);
	if (r < 0)
		return r;
	/* One reply: the pid once it runs, or why it could not. */
	for (;;) {
		r = msb_conn_recv(&e->c, &msg, -1, err);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		if (msb_jget(msg, "event")) {
			json_object_put(msg);
			continue;
		}
		if (msb_jget(msg, "error"))
			r = msb_conn_error(msg, err);
		else if (pid)
			*pid = json_object_get_int(msb_jget(msb_jget(msg, "result"),
							"pid"));
		json_object_put(msg);
		break;
	}
	msb_exec_free(e);
	return r < 0 ? r : 0;
}

MSB_API int msb_exec_fd(const msb_exec *e)
{
	return e->c.fd;
}

long msb_conn_data(json_object *msg, struct msb_buf *b, msb_error *err)
{
	json_object *d = msb_jget(msg, "data");
	const char *s = json_object_get_string(d);
	size_t n = s ? (size_t)json_object_get_string_len(d) : 0;
	long l;

	b->off = b->len = 0; /* (the last message's bytes, kept until now) */
	if (msb_buf_reserve(b, n / 4 * 3 + 3) < 0)
		return msb_fail(err, -ENOMEM, "out of memory");
	l = s ? msb_b64_decode(s, n, msb_buf_data(b)) : 0;
	if (l < 0)
		return msb_fail(err, MSB_E_PROTOCOL,
				"bad data from the supervisor (not base64)");
	b->len = (size_t)l;
	return l;
}

/* One message of an exec's stream into @ev. Return: 1 filled, 0 a message
 * this library does not know (skipped), negative on error. */
static int exec_event(msb_exec *e, json_object *msg, msb_exec_event *ev,
		      msb_error *err)
{
	const char *event;
	long l;

	if (msb_jget(msg, "error")) {
		e->done = 1;
		return msb_conn_error(msg, err);
	}
	if (msb_jget(msg, "result")) {
		json_object *res = msb_jget(msg, "result");

		ev->type = MSB_EXEC_EXIT;
		ev->exit_code = json_object_get_int(msb_jget(res, "exit_code"));
		ev->signal = json_object_get_int(msb_jget(res, "signal"));
		ev->timed_out = json_object_get_boolean(msb_jget(res, "timed_out"));
		e->done = 1;
		return 1;
	}
	event = json_object_get_string(msb_jget(msg, "event"));
	if (!event)
		return 0;
	if (!strcmp(event, "stdout") || !strcmp(event, "stderr")) {
		l = msb_conn_data(msg, &e->data, err);
		if (l < 0)
			return (int)l;
		ev->type = event[3] == 'o' ? MSB_EXEC_STDOUT : MSB_EXEC_STDERR;
		ev->data = msb_buf_data(&e->data);
		ev->len = (size_t)l;
		return 1;
	}
	if (!strcmp(event, "started")) {
		ev->type = MSB_EXEC_STARTED;
		ev->pid = json_object_get_int(msb_jget(msg, "pid"));
		return 1;
	}
	if (!strcmp(event, "notice")) {
		const char *text =
			json_object_get_string(msb_jget(msg, "message"));
		size_t n = text ? strlen(text) : 0;

		e->data.off = e->data.len = 0;
		if (msb_buf_append(&e->data, text ? text : "", n + 1) < 0)
			return msb_fail(err, -ENOMEM, "out of memory");
		ev->type = json_object_get_boolean(msb_jget(msg, "paused")) ?
			   MSB_EXEC_PAUSED : MSB_EXEC_RESUMED;
		ev->data = msb_buf_data(&e->data);
		ev->len = n;
		return 1;
	}
	return 0;
}

MSB_API int msb_exec_next(msb_exec *e, msb_exec_event *ev, int timeout_ms,
			  msb_error *err)
{
	json_object *msg;
	int r;

	if (e->done)
		return msb_fail(err, -EPIPE, "the command has already exited");
	do {
		memset(ev, 0, sizeof(*ev));
		r = msb_conn_recv(&e->c, &msg, timeout_ms, err);
		if (r == -EPIPE)
			return msb_fail(err, -EPIPE,
					"the sandbox stopped while the "
					"command was running");
		if (r <= 0)
			return r;
		r = exec_event(e, msg, ev, err);
		json_object_put(msg);
		/* A message not known here (a newer supervisor's) is passed
		 * over, and the next one held is read: returning 0 would
		 * tell the caller nothing more is held, and it would wait on
		 * the descriptor for messages already read. */
	} while (r == 0);
	return r;
}

static int notify(msb_exec *e, const char *method, json_object *p,
		  msb_error *err)
{
	json_object *m = json_object_new_object();
	int r;

	json_object_object_add(p, "exec", json_object_new_int64(1));
	json_object_object_add(m, "method", json_object_new_string(method));
	json_object_object_add(m, "params", p);
	/* Never reads: msb_exec_next() may be reading on another thread. */
	r = msb_conn_notify(&e->c, m, err);
	json_object_put(m);
	return r;
}

MSB_API int msb_exec_write(msb_exec *e, const void *buf, size_t n,
			   msb_error *err)
{
	const uint8_t *p = buf;

	if (!e->stdin_open)
		return msb_fail(err, -EPIPE,
				"stdin is not open (set msb_exec_opts.stdin)");
	while (n) {
		size_t chunk = n > 48 * 1024 ? 48 * 1024 : n;
		char *b64 = malloc(msb_b64_encoded_len(chunk) + 1);
		json_object *jp;
		size_t l;
		int r;

		if (!b64)
			return msb_fail(err, -ENOMEM, "out of memory");
		l = msb_b64_encode(p, chunk, b64);
		jp = json_object_new_object();
		json_object_object_add(jp, "data",
				       json_object_new_string_len(b64, (int)l));
		free(b64);
		r = notify(e, "stdin", jp, err);
		if (r < 0)
			return r;
		p += chunk;
		n -= chunk;
	}
	return 0;
}

MSB_API int msb_exec_close_stdin(msb_exec *e, msb_error *err)
{
	json_object *p;

	if (!e->stdin_open)
		return 0;
	e->stdin_open = 0;
	p = json_object_new_object();
	json_object_object_add(p, "eof", json_object_new_boolean(1));
	return notify(e, "stdin", p, err);
}

MSB_API int msb_exec_signal(msb_exec *e, int sig, msb_error *err)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "signal", json_object_new_int(sig));
	return notify(e, "signal", p, err);
}

MSB_API int msb_exec_resize(msb_exec *e, unsigned rows, unsigned cols,
			    msb_error *err)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "rows", json_object_new_int((int)rows));
	json_object_object_add(p, "cols", json_object_new_int((int)cols));
	return notify(e, "resize", p, err);
}

MSB_API void msb_exec_free(msb_exec *e)
{
	if (!e)
		return;
	msb_conn_close(&e->c);
	msb_buf_free(&e->data);
	free(e);
}

static int append(char **buf, size_t *len, const uint8_t *d, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (!nb)
		return -ENOMEM;
	memcpy(nb + *len, d, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

MSB_API int msb_exec_capture(msb_sandbox *sb, const char *const *argv,
			     const msb_exec_opts *o, msb_output *out,
			     msb_error *err)
{
	msb_exec *e;
	msb_exec_event ev;
	int r;

	memset(out, 0, sizeof(*out));
	out->out = calloc(1, 1);
	out->err = calloc(1, 1);
	if (!out->out || !out->err) {
		msb_output_free(out);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	r = msb_exec_start(sb, argv, o, &e, err);
	if (r < 0) {
		msb_output_free(out);
		return r;
	}
	if (o && o->stdin)
		msb_exec_close_stdin(e, NULL);
	while ((r = msb_exec_next(e, &ev, -1, err)) >= 0) {
		if (r == 0)
			continue;
		if (ev.type == MSB_EXEC_STDOUT &&
		    append(&out->out, &out->out_len, ev.data, ev.len) < 0)
			r = msb_fail(err, -ENOMEM, "out of memory");
		else if (ev.type == MSB_EXEC_STDERR &&
			 append(&out->err, &out->err_len, ev.data, ev.len) < 0)
			r = msb_fail(err, -ENOMEM, "out of memory");
		if (r < 0)
			break;
		if (ev.type == MSB_EXEC_EXIT) {
			out->exit_code = ev.exit_code;
			out->signal = ev.signal;
			out->timed_out = ev.timed_out;
			break;
		}
	}
	msb_exec_free(e);
	if (r < 0)
		msb_output_free(out);
	return r < 0 ? r : 0;
}

MSB_API void msb_output_free(msb_output *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
}
