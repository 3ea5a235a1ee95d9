/* SPDX-License-Identifier: Apache-2.0 */
/* agent.c - the supervisor's end of the guest agent link
 *
 * Everything read here comes from inside the guest and is treated as
 * hostile: frames are validated by msb_framer, payloads by the TLV reader,
 * stream ids are looked up (never indexed blindly), and a guest that breaks
 * the protocol loses its link. See docs/agent-protocol.md.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "jsonx.h"
#include "supervisor.h"
#include "util.h"

static void agent_update_events(struct sup *s)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.ptr = &s->agent_ref };
	int want = s->agent_out.len > 0;

	if (want == s->agent_want_out)
		return;
	if (want)
		ev.events |= EPOLLOUT;
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->agent_fd, &ev);
	s->agent_want_out = want;
}

void agent_send(struct sup *s, uint32_t stream, uint8_t type,
		const void *payload, size_t n)
{
	uint8_t hdr[MSB_FRAME_HDR];
	struct msb_buf *q = s->agent_hold ? &s->agent_held : &s->agent_out;

	if (s->agent_fd < 0)
		return;
	msb_frame_encode_hdr(hdr, (uint32_t)n, stream, type);
	if (msb_buf_append(q, hdr, sizeof(hdr)) < 0 ||
	    (n && msb_buf_append(q, payload, n) < 0)) {
		sup_log(s, "out of memory queueing a frame for the agent");
		return;
	}
	agent_on_writable(s);
}

void agent_send_u32(struct sup *s, uint32_t stream, uint8_t type, uint32_t v)
{
	uint8_t b[4];

	msb_put_be32(b, v);
	agent_send(s, stream, type, b, 4);
}

void agent_on_writable(struct sup *s)
{
	long w = msb_buf_write_to(&s->agent_out, s->agent_fd);

	if (w < 0 && w != -EAGAIN)
		sup_log(s, "agent link write failed: %s", strerror((int)-w));
	agent_update_events(s);
	sup_spawn_drained(s);
}

struct stream *stream_get(struct sup *s, uint32_t id)
{
	if (!id)
		return NULL;
	for (int i = 0; i < MAX_STREAMS; i++)
		if (s->streams[i] && s->streams[i]->id == id)
			return s->streams[i];
	return NULL;
}

struct stream *stream_new(struct sup *s)
{
	for (int i = 0; i < MAX_STREAMS; i++) {
		if (s->streams[i])
			continue;
		s->streams[i] = calloc(1, sizeof(struct stream));
		if (!s->streams[i])
			return NULL;
		s->streams[i]->id = ++s->next_stream;
		s->streams[i]->stdin_credit = MSB_WINDOW_INIT;
		return s->streams[i];
	}
	return NULL;
}

void stream_free(struct sup *s, struct stream *st)
{
	struct conn *c = st->conn;

	for (int i = 0; i < MAX_STREAMS; i++) {
		if (s->streams[i] == st) {
			s->streams[i] = NULL;
			break;
		}
	}
	msb_buf_free(&st->stdin_q);
	msb_buf_free(&st->recs);
	json_object_put(st->hook_argv);
	free(st);
	/* Its stdin queue may have been what paused the connection; with
	 * its last exec gone, it may be idle from now on. */
	if (c) {
		c->last_us = msb_now_us();
		api_resume(s, c);
		sup_tick_rearm(s);
	}
}

/* Send queued stdin within the credit the agent gave. */
void agent_flush_stdin(struct sup *s, struct stream *st)
{
	while (st->stdin_q.len && st->stdin_credit) {
		size_t n = st->stdin_q.len;

		if (n > st->stdin_credit)
			n = st->stdin_credit;
		if (n > MSB_FRAME_MAX)
			n = MSB_FRAME_MAX;
		agent_send(s, st->id, MSB_F_STDIN, msb_buf_data(&st->stdin_q),
			   n);
		msb_buf_consume(&st->stdin_q, n);
		st->stdin_credit -= (uint32_t)n;
	}
	if (!st->stdin_q.len && st->stdin_eof == 1) {
		agent_send(s, st->id, MSB_F_STDIN, NULL, 0);
		st->stdin_eof = 2;
	}
	if (st->conn && st->conn->paused &&
	    st->stdin_q.len < STDIN_QUEUE_MAX / 2)
		api_resume(s, st->conn);
}

static void put_strings(struct msb_tlv_w *w, uint8_t tag, json_object *arr)
{
	size_t n;

	if (!arr || !json_object_is_type(arr, json_type_array))
		return;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		if (json_object_is_type(e, json_type_string))
			msb_tlv_put_str(w, tag, json_object_get_string(e));
	}
}

static int strings_ok(json_object *arr, int need)
{
	size_t n;

	if (!arr)
		return !need;
	if (!json_object_is_type(arr, json_type_array))
		return 0;
	n = json_object_array_length(arr);
	if (need && !n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(arr, i),
					 json_type_string))
			return 0;
	return 1;
}

/* exec_before() - the plugins' word on an exec (hooks.h): @argv and
 * @env as they left them (references the caller puts), or -1 with @why
 * and s->exec_denied set. */
static int exec_before(struct sup *s, json_object *p, json_object **argv,
		       json_object **env, char *why, size_t n)
{
	json_object *a = json_object_new_object(), *v;
	struct hook_reply r;
	char who[HOOK_NAME_MAX];
	const char *str;

	json_object_object_add(a, "argv", json_object_get(*argv));
	json_object_object_add(a, "env", *env ? json_object_get(*env) :
						json_object_new_array());
	if ((str = msb_jstr(p, "cwd", NULL)) || (str = msb_jstr(s->config, "workdir", NULL)))
		json_object_object_add(a, "cwd", json_object_new_string(str));
	if ((str = msb_jstr(p, "user", NULL)) || (str = msb_jstr(s->config, "user", NULL)))
		json_object_object_add(a, "user", json_object_new_string(str));
	if (json_object_object_get_ex(p, "tty", &v))
		json_object_object_add(a, "tty", json_object_new_boolean(1));
	if (sup_hook_call(s, HOOK_EXEC_BEFORE, a, &r, who, sizeof(who)) ==
	    HV_DENY) {
		snprintf(why, n, "exec denied by plugin %s%s%s", who,
			 r.reason[0] ? ": " : "", r.reason);
		sup_log(s, "%s", why);
		s->exec_denied = 1;
		hook_reply_free(&r);
		json_object_put(a);
		return -1;
	}
	hook_reply_free(&r);
	*argv = json_object_get(json_object_object_get(a, "argv"));
	*env = json_object_get(json_object_object_get(a, "env"));
	json_object_put(a);
	return 0;
}

static struct stream *agent_exec_built(struct sup *s, json_object *p,
				       json_object *argv, json_object *env,
				       json_object *cenv, char *why, size_t n)
{
	static uint8_t buf[MSB_EXEC_MAX];
	struct msb_tlv_w w;
	size_t off;
	json_object *tty = NULL, *v;
	const char *cwd, *user;
	struct stream *st;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	put_strings(&w, MSB_T_ARG, argv);
	/* The trust store's variables, then the sandbox's env: the agent
	 * lets later entries win. */
	sup_trust_exec_env(s, &w);
	put_strings(&w, MSB_T_ENV, cenv);
	put_strings(&w, MSB_T_ENV, env);
	cwd = msb_jstr(p, "cwd", NULL);
	if (!cwd)
		cwd = msb_jstr(s->config, "workdir", NULL);
	if (cwd && *cwd)
		msb_tlv_put_str(&w, MSB_T_CWD, cwd);
	user = msb_jstr(p, "user", NULL);
	if (!user || !*user)
		user = msb_jstr(s->config, "user", NULL);
	if (user && *user)
		msb_tlv_put_str(&w, MSB_T_USER, user);
	if (json_object_object_get_ex(p, "tty", &tty) &&
	    json_object_is_type(tty, json_type_object)) {
		uint8_t ws[4];
		int rows = 24, cols = 80;

		if (json_object_object_get_ex(tty, "rows", &v))
			rows = json_object_get_int(v);
		if (json_object_object_get_ex(tty, "cols", &v))
			cols = json_object_get_int(v);
		msb_put_be16(ws, (uint16_t)(rows > 0 && rows < 65536 ? rows : 24));
		msb_put_be16(ws + 2,
			     (uint16_t)(cols > 0 && cols < 65536 ? cols : 80));
		msb_tlv_put(&w, MSB_T_TTY, ws, 4);
	}
	if (json_object_object_get_ex(p, "stdin", &v) &&
	    json_object_get_boolean(v))
		msb_tlv_put_u32(&w, MSB_T_STDIN, 1);
	if (json_object_object_get_ex(p, "detach", &v) &&
	    json_object_get_boolean(v))
		msb_tlv_put_u32(&w, MSB_T_DETACH, 1);
	if (w.overflow) {
		snprintf(why, n,
			 "command, environment and options exceed %d bytes "
			 "(2 MiB, as Linux's own limit): pass large data as a "
			 "file or on stdin",
			 MSB_EXEC_MAX);
		return NULL;
	}
	if (w.len > s->agent_exec_max) {
		snprintf(why, n,
			 "command, environment and options exceed %u bytes, "
			 "the most this sandbox's guest agent (%s, from an "
			 "older msb's snapshot) takes: pass large data as a "
			 "file or on stdin, or run a new sandbox for requests "
			 "up to 2 MiB",
			 s->agent_exec_max, s->agent_version);
		return NULL;
	}
	st = stream_new(s);
	if (!st) {
		snprintf(why, n, "too many concurrent execs (limit %d)",
			 MAX_STREAMS);
		return NULL;
	}
	/* A request longer than a frame goes in pieces, back to back on the
	 * queue: no other frame for the agent comes between them. */
	for (off = 0; w.len - off > MSB_FRAME_MAX; off += MSB_FRAME_MAX)
		agent_send(s, st->id, MSB_F_EXEC_PART, buf + off,
			   MSB_FRAME_MAX);
	agent_send(s, st->id, MSB_F_EXEC, buf + off, w.len - off);
	if (sup_hook_wants(s, HOOK_EXEC_AFTER)) {
		st->hook_argv = json_object_get(argv);
		st->hook_t0_us = msb_now_us();
	}
	return st;
}

struct stream *agent_exec(struct sup *s, json_object *p, char *why, size_t n)
{
	json_object *argv = NULL, *env = NULL, *cenv = NULL;
	struct stream *st;

	s->exec_denied = 0;
	json_object_object_get_ex(p, "argv", &argv);
	json_object_object_get_ex(p, "env", &env);
	json_object_object_get_ex(s->config, "env", &cenv);
	if (!strings_ok(argv, 1)) {
		snprintf(why, n, "argv must be a non-empty array of strings");
		return NULL;
	}
	if (!strings_ok(env, 0)) {
		snprintf(why, n, "env must be an array of \"KEY=VALUE\" strings");
		return NULL;
	}
	if (sup_hook_wants(s, HOOK_EXEC_BEFORE)) {
		if (exec_before(s, p, &argv, &env, why, n) < 0)
			return NULL;
		st = agent_exec_built(s, p, argv, env, cenv, why, n);
		json_object_put(argv);
		json_object_put(env);
		return st;
	}
	return agent_exec_built(s, p, argv, env, cenv, why, n);
}

void agent_on_window(struct sup *s, struct stream *st, const uint8_t *p,
		     uint32_t n)
{
	uint64_t c;

	if (n != 4)
		return;
	c = (uint64_t)st->stdin_credit + msb_get_be32(p);
	/* Never more than a window outstanding, whatever the guest claims. */
	st->stdin_credit = c > MSB_WINDOW_INIT ? MSB_WINDOW_INIT : (uint32_t)c;
	agent_flush_stdin(s, st);
}

void agent_set_version(struct sup *s, const char *v)
{
	unsigned major = 0, minor = 0;

	/* The guest says it (HELLO): digits and dots, or taken for the
	 * oldest, as a snapshot that does not say is. */
	if (!v || !*v || v[strspn(v, "0123456789.")] ||
	    strlen(v) >= sizeof(s->agent_version))
		v = "0.1.0";
	snprintf(s->agent_version, sizeof(s->agent_version), "%s", v);
	/* Agents before 0.2 read an exec request from one frame. */
	if (sscanf(s->agent_version, "%u.%u", &major, &minor) == 2 &&
	    (major > 0 || minor >= 2))
		s->agent_exec_max = MSB_EXEC_MAX;
	else
		s->agent_exec_max = MSB_FRAME_MAX;
}

static void on_hello(struct sup *s, const uint8_t *p, uint32_t n)
{
	static uint8_t buf[16384];
	struct msb_tlv_r r;
	struct msb_tlv_w w;
	const uint8_t *v;
	uint32_t len, version = 0;
	uint8_t tag;
	struct timespec ts;
	char agent[64] = "?";

	/* One a link: the agent's again (after a reboot) comes on a new
	 * one; another on this is the guest's, and changes nothing. */
	if (s->agent_hello) {
		sup_log(s, "agent: a second HELLO, ignored");
		return;
	}
	msb_tlv_r_init(&r, p, n);
	while (msb_tlv_next(&r, &tag, &v, &len) == 1) {
		if (tag == MSB_T_VERSION && len == 4)
			version = msb_get_be32(v);
		if (tag == MSB_T_AGENT && len < sizeof(agent)) {
			memcpy(agent, v, len);
			agent[len] = '\0';
		}
	}
	if (version != MSB_PROTO_VERSION) {
		snprintf(s->fail, sizeof(s->fail),
			 "guest agent speaks protocol %u, this msb speaks %d: "
			 "reinstall msb so its initramfs matches",
			 version, MSB_PROTO_VERSION);
		msb_engine_kill(&s->vm);
		return;
	}
	s->agent_hello = 1;
	agent_set_version(s, agent);
	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_HOSTNAME, s->name);
	for (unsigned i = 0; i < s->spec.ndisks; i++)
		msb_tlv_put_str(&w, s->spec.disks[i].readonly ? MSB_T_LAYER :
								MSB_T_UPPER,
				s->spec.disks[i].serial);
	clock_gettime(CLOCK_REALTIME, &ts);
	msb_tlv_put_u64(&w, MSB_T_TIME,
			(uint64_t)ts.tv_sec * 1000000000ull +
				(uint64_t)ts.tv_nsec);
	sup_net_init_tlvs(s, &w);
	sup_fs_init_tlvs(s, &w);
	sup_trust_init_tlvs(s, &w);
	agent_send(s, 0, MSB_F_INIT, buf, w.len);
	sup_log(s, "agent %s connected; sending init", agent);
}

static void on_ready(struct sup *s, const uint8_t *p, uint32_t n)
{
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;

	if (!s->agent_hello || s->state != ST_BOOTING)
		return;
	json_object_put(s->timings);
	s->timings = json_object_new_object();
	msb_tlv_r_init(&r, p, n);
	while (msb_tlv_next(&r, &tag, &v, &len) == 1) {
		char kv[128], *eq;

		if (tag != MSB_T_TIMING || len >= sizeof(kv))
			continue;
		memcpy(kv, v, len);
		kv[len] = '\0';
		eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		json_object_object_add(s->timings, kv,
				       json_object_new_int64(atoll(eq + 1)));
	}
	sup_ready(s);
}

static void send_event(struct sup *s, struct stream *st, const char *event,
		       json_object *extra)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "id", json_object_new_int64(st->req_id));
	json_object_object_add(m, "event", json_object_new_string(event));
	if (extra) {
		json_object_object_foreach(extra, k, val)
			json_object_object_add(m, k, json_object_get(val));
		json_object_put(extra);
	}
	api_send(s, st->conn, m);
}

void agent_notice_execs(struct sup *s, int paused, const char *text)
{
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *st = s->streams[i];
		json_object *m;

		/* Not a file stream, nor an exec -d not yet answered. */
		if (!st || !st->conn || st->discard || st->fop || st->detach)
			continue;
		m = json_object_new_object();
		json_object_object_add(m, "paused",
				       json_object_new_boolean(paused));
		json_object_object_add(m, "message",
				       json_object_new_string(text));
		send_event(s, st, "notice", m);
	}
}

static void on_output(struct sup *s, struct stream *st, uint8_t type,
		      const uint8_t *p, uint32_t n)
{
	if (!st->conn) {
		/* Detached execs write to the sandbox log; orphaned ones
		 * (client gone) are dropped. Both give credit back at once. */
		if (!st->discard)
			sup_log_guest(s, p, n);
		if (n)
			agent_send_u32(s, st->id, MSB_F_WINDOW, n);
		return;
	}
	{
		json_object *m = json_object_new_object();
		char *b64 = malloc(msb_b64_encoded_len(n) + 1);
		size_t l;

		if (!b64) {
			json_object_put(m);
			return;
		}
		l = msb_b64_encode(p, n, b64);
		json_object_object_add(m, "data",
				       json_object_new_string_len(b64, (int)l));
		free(b64);
		send_event(s, st, type == MSB_F_STDOUT ? "stdout" : "stderr",
			   m);
	}
	st->owed += n;
	api_grant_credit(s, st->conn);
}

void agent_command_end(struct sup *s, const char *status, int code, int sig,
		       const char *error)
{
	if (!s->command)
		return;
	json_object_object_add(s->command, "status",
			       json_object_new_string(status));
	json_object_object_add(s->command, "exit_code",
			       json_object_new_int(code));
	json_object_object_add(s->command, "signal", json_object_new_int(sig));
	if (error)
		json_object_object_add(s->command, "error",
				       json_object_new_string(error));
	sup_save_runtime(s);
}

static void on_exit_frame(struct sup *s, struct stream *st, const uint8_t *p,
			  uint32_t n)
{
	int code = -1, sig = 0, was_main = st->main;

	if (n >= 8) {
		code = (int32_t)msb_get_be32(p);
		sig = (int)msb_get_be32(p + 4);
	}
	{
		json_object *d = json_object_new_object();

		json_object_object_add(d, "exec", json_object_new_int64(st->id));
		json_object_object_add(d, "pid", json_object_new_int(st->pid));
		json_object_object_add(d, "exit_code", json_object_new_int(code));
		json_object_object_add(d, "signal", json_object_new_int(sig));
		sup_event(s, "msb.exec.exited", d);
	}
	if (st->conn) {
		json_object *m = json_object_new_object();
		json_object *res = json_object_new_object();

		json_object_object_add(res, "exit_code",
				       json_object_new_int(code));
		json_object_object_add(res, "signal", json_object_new_int(sig));
		if (st->timed_out)
			json_object_object_add(res, "timed_out",
					       json_object_new_boolean(1));
		json_object_object_add(m, "id",
				       json_object_new_int64(st->req_id));
		json_object_object_add(m, "result", res);
		api_send(s, st->conn, m);
	} else if (!st->discard) {
		sup_log(s, "detached command (pid %d) exited with status %d%s",
			st->pid, code, st->timed_out ? " (timed out)" : "");
	}
	if (st->hook_argv) {
		json_object *a = json_object_new_object();

		json_object_object_add(a, "argv", json_object_get(st->hook_argv));
		json_object_object_add(a, "exit_code", json_object_new_int(code));
		json_object_object_add(a, "signal", json_object_new_int(sig));
		json_object_object_add(a, "duration_ms",
				       msb_jdouble((double)(msb_now_us() -
							    st->hook_t0_us) /
							   1000,
						   3));
		if (st->timed_out)
			json_object_object_add(a, "timed_out",
					       json_object_new_boolean(1));
		sup_hook_event(s, HOOK_EXEC_AFTER, a);
	}
	if (st->cmd) {
		agent_command_end(s, "exited", code, sig, NULL);
		sup_command_ended(s, code);
	}
	stream_free(s, st);
	if (was_main && s->state == ST_RUNNING)
		sup_begin_stop(s, json_object_get_boolean(json_object_object_get(
					  s->config, "ephemeral")) ?
					  0 :
					  10);
}

static void on_frame(struct sup *s, const struct msb_frame_hdr *h,
		     const uint8_t *p)
{
	struct stream *st;

	if (h->stream == 0) {
		switch (h->type) {
		case MSB_F_HELLO:
			on_hello(s, p, h->len);
			break;
		case MSB_F_READY:
			on_ready(s, p, h->len);
			break;
		case MSB_F_ERROR:
		case MSB_F_LOG:
			sup_log(s, "agent: %.*s", (int)(h->len > 1000 ? 1000 : h->len),
				(const char *)p);
			if (h->type == MSB_F_ERROR && s->state == ST_BOOTING) {
				/* Shown to whoever waits for the boot, and
				 * kept: escaped like a log line. */
				char why[LOG_ESC_MAX(400)];
				size_t n = log_esc_text((const char *)p,
							h->len > 400 ? 400 :
								       h->len,
							why);

				snprintf(s->fail, sizeof(s->fail),
					 "guest agent failed: %.*s", (int)n, why);
			}
			break;
		case MSB_F_PONG:
			break;
		case MSB_F_GEVENT:
			if (s->state == ST_RUNNING)
				sup_events_guest(s, p, h->len);
			break;
		case MSB_F_QUIESCED:
			sup_snapshot_quiesced(s);
			break;
		}
		return;
	}
	if (h->stream & MSB_PEER_STREAM) {
		if (h->type == MSB_F_PEER)
			sup_spawn_guest(s, h->stream, p, h->len);
		else if (h->type == MSB_F_PEER_END)
			sup_spawn_end(s, h->stream);
		else if (h->type == MSB_F_WINDOW && h->len == 4)
			sup_spawn_window(s, h->stream, p);
		else if (h->type == MSB_F_STDIN || h->type == MSB_F_RESIZE)
			sup_spawn_input(s, h->stream, h->type, p, h->len);
		return;
	}
	if (h->type == MSB_F_METRICS) {
		sup_stats_metrics(s, h->stream, p, h->len);
		return;
	}
	st = stream_get(s, h->stream);
	if (!st) {
		/* A restored guest's execs from before the snapshot have
		 * no client here: their output is dropped, and credited
		 * back so they never block on it. */
		if (h->stream <= s->restored_streams &&
		    (h->type == MSB_F_STDOUT || h->type == MSB_F_STDERR) &&
		    h->len)
			agent_send_u32(s, h->stream, MSB_F_WINDOW, h->len);
		return;
	}
	if (st->fop) {
		sup_file_frame(s, st, h, p);
		return;
	}
	switch (h->type) {
	case MSB_F_STARTED:
		if (h->len != 4 || st->started)
			break;
		st->started = 1;
		st->pid = (int)msb_get_be32(p);
		{
			json_object *d = json_object_new_object();

			json_object_object_add(d, "exec",
					       json_object_new_int64(st->id));
			json_object_object_add(d, "pid",
					       json_object_new_int(st->pid));
			sup_event(s, "msb.exec.started", d);
		}
		if (st->conn && st->detach) {
			/* exec -d: the answer is its pid; from now on it is
			 * the sandbox's, its output in the log. */
			json_object *m = json_object_new_object();
			json_object *res = json_object_new_object();

			json_object_object_add(res, "pid",
					       json_object_new_int(st->pid));
			json_object_object_add(m, "id",
					       json_object_new_int64(st->req_id));
			json_object_object_add(m, "result", res);
			api_send(s, st->conn, m);
			st->conn = NULL;
			sup_tick_rearm(s); /* the connection may be idle now */
			sup_log(s, "started a detached command (pid %d); its "
				   "output follows in this log", st->pid);
		} else if (st->conn) {
			json_object *m = json_object_new_object();

			json_object_object_add(m, "pid",
					       json_object_new_int(st->pid));
			send_event(s, st, "started", m);
		}
		if (st->cmd && s->command) {
			json_object_object_add(s->command, "pid",
					       json_object_new_int(st->pid));
			sup_save_runtime(s);
		}
		break;
	case MSB_F_STDOUT:
	case MSB_F_STDERR:
		on_output(s, st, h->type, p, h->len);
		break;
	case MSB_F_WINDOW:
		agent_on_window(s, st, p, h->len);
		break;
	case MSB_F_EXIT:
		on_exit_frame(s, st, p, h->len);
		break;
	case MSB_F_ERROR: {
		/* The agent refused the exec (unknown user, shutting down,
		 * ...): the stream ends here, with no EXIT. */
		static char msg[LOG_ESC_MAX(4096)];
		size_t n = log_esc_text((const char *)p,
					h->len > 4096 ? 4096 : h->len, msg);

		/* Guest text, printed by clients and kept: escaped. */
		msg[n] = '\0';
		if (st->conn)
			api_reply_error(s, st->conn, st->req_id, "exec_failed",
					msg);
		else if (!st->discard)
			sup_log(s, "detached command failed: %s", msg);
		/* It never ran: 126, as for a command that cannot run. */
		if (st->cmd)
			agent_command_end(s, "failed", 126, 0, msg);
		stream_free(s, st);
		break;
	}
	}
}

void agent_on_readable(struct sup *s)
{
	uint8_t buf[65536];

	for (;;) {
		ssize_t n = read(s->agent_fd, buf, sizeof(buf));
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* QEMU closed the link: it is exiting; SIGCHLD
			 * tells the rest. */
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->agent_fd, NULL);
			close(s->agent_fd);
			s->agent_fd = -1;
			return;
		}
		while (off < (size_t)n) {
			struct msb_frame_hdr h;
			const uint8_t *payload;
			int r;

			off += msb_framer_feed(&s->framer, buf + off,
					       (size_t)n - off);
			while ((r = msb_framer_take(&s->framer, &h,
						    &payload)) == 1)
				on_frame(s, &h, payload);
			if (r < 0) {
				sup_log(s, "guest broke the agent protocol; "
					   "dropping the link");
				snprintf(s->fail, sizeof(s->fail),
					 "guest broke the agent protocol");
				epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->agent_fd,
					  NULL);
				close(s->agent_fd);
				s->agent_fd = -1;
				msb_engine_kill(&s->vm);
				return;
			}
		}
	}
}
