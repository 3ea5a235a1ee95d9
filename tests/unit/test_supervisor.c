/* SPDX-License-Identifier: Apache-2.0 */
/* test_supervisor.c - the API socket and agent link of msb-supervisor,
 * driven without a VM
 *
 * api.c and agent.c are compiled into this file, with main.c's few hooks
 * stubbed: a socketpair plays the guest agent (frames in, frames out) and a
 * real unix socket plays the client (JSON lines). Each test calls the
 * supervisor's event handlers by hand where its epoll loop would, so the
 * exact bytes of docs/api-protocol.md can be checked.
 *
 * Tests named regress_* pin down defects found and fixed.
 */

#include "../../src/supervisor/api.c"
#include "../../src/supervisor/agent.c"
#include "../../src/supervisor/net.c"
#include "../../src/supervisor/fs.c"
#include "../../src/supervisor/secrets.c"
#include "../../src/supervisor/tick.c"
#include "../../src/supervisor/log.c"
#include "../../src/supervisor/logtext.c"
#include "../../src/supervisor/logmark.c"
#include "../../src/supervisor/diskfull.c"
#include "../../src/supervisor/snapshot.c"
#include "../../src/supervisor/files.c"
#include "../../src/supervisor/stats.c"
#include "../../src/supervisor/restart.c"
#include "../../src/supervisor/plugins.c"
#include "../../src/supervisor/events.c"
#include "../../src/supervisor/evlog.c"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>

#include "harness.h"

/* ---- main.c stand-ins --------------------------------------------------- */

/* Peer requests (spawn.c) have tests of their own (test_spawn.c). */
void sup_spawn_guest(struct sup *s, uint32_t stream, const uint8_t *p,
		     uint32_t n)
{
	(void)s, (void)stream, (void)p, (void)n;
}

void sup_spawn_end(struct sup *s, uint32_t stream)
{
	(void)s, (void)stream;
}

void sup_spawn_drained(struct sup *s)
{
	(void)s;
}

void sup_spawn_window(struct sup *s, uint32_t stream, const uint8_t *p)
{
	(void)s, (void)stream, (void)p;
}

void sup_spawn_input(struct sup *s, uint32_t stream, uint8_t type,
		     const uint8_t *p, uint32_t n)
{
	(void)s, (void)stream, (void)type, (void)p, (void)n;
}

static int stop_calls;
static unsigned stop_timeout;

void sup_ready(struct sup *s)
{
	s->state = ST_RUNNING;
}

void sup_begin_stop(struct sup *s, unsigned timeout_s)
{
	stop_calls++;
	stop_timeout = timeout_s;
	if (s->state == ST_RUNNING || s->state == ST_BOOTING) {
		s->state = ST_STOPPING;
		if (!s->stop_started_us)
			s->stop_started_us = msb_now_us();
		if (!timeout_s)
			s->stop_forced = 1;
	}
}

void sup_arm_timer(struct sup *s, uint64_t ms)
{
}

static int runtime_saves;

void sup_save_runtime(struct sup *s)
{
	runtime_saves++;
}

/* ---- fixture ------------------------------------------------------------ */

struct fx {
	struct sup *s;
	int guest;              /* the agent's end of the link */
	int client;             /* a client's end of the API socket */
	struct conn *c;
	struct msb_framer fr;   /* frames the supervisor sent the guest */
	uint8_t gbuf[65536];    /* read from the link, not yet framed */
	size_t goff, glen;
	char tmp[PATH_MAX];
	char lines[1 << 18];    /* what the client has read, not yet taken */
	size_t nlines;
};

static struct sup sup_storage;

static int fx_begin(struct fx *f)
{
	struct sup *s = &sup_storage;
	struct epoll_event ev = { .events = EPOLLIN };
	char sock[PATH_MAX + 16];
	int sv[2];

	memset(f, 0, sizeof(*f));
	memset(s, 0, sizeof(*s));
	f->s = s;
	f->guest = f->client = -1;
	stop_calls = 0;
	stop_timeout = 0;
	if (unit_tmpdir(f->tmp, sizeof(f->tmp)) < 0)
		return -1;
	s->name = "unit";
	snprintf(s->console_log, sizeof(s->console_log), "%s/console.log",
		 f->tmp);
	s->config = json_tokener_parse("{\"env\":[\"SBX=1\"],"
				       "\"workdir\":\"/work\"}");
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	s->agent_fd = sv[0];
	f->guest = sv[1];
	msb_set_nonblock(s->agent_fd, 1);
	msb_set_nonblock(f->guest, 1);
	s->agent_ref.type = EV_AGENT;
	ev.data.ptr = &s->agent_ref;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->agent_fd, &ev);
	s->agent_hello = 1;
	agent_set_version(s, MSB_AGENT_VERSION);
	s->state = ST_RUNNING;
	if (sup_tick_setup(s) < 0)
		return -1;

	snprintf(sock, sizeof(sock), "%s/api.sock", f->tmp);
	s->listen_fd = msb_unix_listen(sock, 8);
	f->client = msb_unix_connect(sock);
	if (s->listen_fd < 0 || f->client < 0)
		return -1;
	msb_set_nonblock(f->client, 1);
	api_on_accept(s);
	f->c = s->conns[0];
	if (!f->c) {
		unit_fail(__FILE__, __LINE__, "connection not accepted");
		return -1;
	}
	return 0;
}

static void fx_end(struct fx *f)
{
	struct sup *s = f->s;

	if (!s)
		return;
	api_close_all(s);
	sup_logs_close(s);
	for (int i = 0; i < MAX_STREAMS; i++)
		if (s->streams[i])
			stream_free(s, s->streams[i]);
	if (s->agent_fd >= 0)
		close(s->agent_fd);
	if (s->listen_fd > 0)
		close(s->listen_fd);
	if (s->epfd > 0)
		close(s->epfd);
	if (s->tick_fd > 0)
		close(s->tick_fd);
	msb_buf_free(&s->agent_out);
	json_object_put(s->config);
	json_object_put(s->timings);
	if (f->guest >= 0)
		close(f->guest);
	if (f->client >= 0)
		close(f->client);
	if (f->tmp[0])
		msb_rm_rf(f->tmp);
}

/* conn_alive() - is @c still one of the supervisor's connections? */
static int conn_alive(struct fx *f)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (f->s->conns[i] && f->s->conns[i] == f->c)
			return 1;
	return 0;
}

/* send_line() - the client writes @line (a newline is added) and the
 * supervisor handles its readable event; a line longer than the socket
 * holds is read by the supervisor as it is written. */
static void send_line(struct fx *f, const char *line)
{
	size_t n = strlen(line), off = 0;
	int stuck = 0;

	while (off <= n && stuck < 100) {
		ssize_t w = off < n ? write(f->client, line + off, n - off) :
				      write(f->client, "\n", 1);

		if (w > 0) {
			off += (size_t)w;
			stuck = 0;
			continue;
		}
		if (!conn_alive(f))
			break;
		api_on_conn(f->s, f->c, EPOLLIN);
		stuck++;
	}
	if (off <= n)
		unit_fail(__FILE__, __LINE__, "client write failed");
	if (conn_alive(f))
		api_on_conn(f->s, f->c, EPOLLIN);
}

/* next_line() - the next line the supervisor sent the client, without its
 * newline, in @out; 0 if none is waiting. */
static int next_line(struct fx *f, char *out, size_t n)
{
	char *nl;
	ssize_t r;

	for (;;) {
		nl = memchr(f->lines, '\n', f->nlines);
		if (nl)
			break;
		if (f->nlines == sizeof(f->lines))
			return 0;
		r = read(f->client, f->lines + f->nlines,
			 sizeof(f->lines) - f->nlines);
		if (r <= 0)
			return 0;
		f->nlines += (size_t)r;
	}
	snprintf(out, n, "%.*s", (int)(nl - f->lines), f->lines);
	f->nlines -= (size_t)(nl + 1 - f->lines);
	memmove(f->lines, nl + 1, f->nlines);
	return 1;
}

#define EXPECT_LINE(f, want)                                                \
	do {                                                                \
		char unit_l_[8192];                                         \
		if (!next_line((f), unit_l_, sizeof(unit_l_)))              \
			unit_fail(__FILE__, __LINE__, "no line; want %s",   \
				  (want));                                  \
		else                                                        \
			CHECK_STR(unit_l_, (want));                         \
	} while (0)

#define EXPECT_NO_LINE(f)                                                   \
	do {                                                                \
		char unit_l_[8192];                                         \
		if (next_line((f), unit_l_, sizeof(unit_l_)))               \
			unit_fail(__FILE__, __LINE__, "unexpected: %.300s", \
				  unit_l_);                                 \
	} while (0)

/* guest_take() - the next frame the supervisor sent the guest. Return: 1,
 * or 0 if none is waiting. @payload is valid until the next call. */
static int guest_take(struct fx *f, struct msb_frame_hdr *h,
		      const uint8_t **payload)
{
	for (;;) {
		int r = msb_framer_take(&f->fr, h, payload);
		ssize_t n;

		if (r)
			return r > 0;
		if (f->goff < f->glen) {
			f->goff += msb_framer_feed(&f->fr, f->gbuf + f->goff,
						   f->glen - f->goff);
			continue;
		}
		n = read(f->guest, f->gbuf, sizeof(f->gbuf));
		if (n <= 0 && f->s->agent_fd >= 0 && f->s->agent_out.len) {
			/* The link was full: what epoll's EPOLLOUT does. */
			agent_on_writable(f->s);
			n = read(f->guest, f->gbuf, sizeof(f->gbuf));
		}
		if (n <= 0)
			return 0;
		f->goff = 0;
		f->glen = (size_t)n;
	}
}

/* guest_expect() - skip to the next frame of @type on @stream. */
static int guest_expect(struct fx *f, uint32_t stream, uint8_t type,
			struct msb_frame_hdr *h, const uint8_t **p)
{
	while (guest_take(f, h, p))
		if (h->stream == stream && h->type == type)
			return 1;
	return 0;
}

static void guest_send(struct fx *f, uint32_t stream, uint8_t type,
		       const void *payload, uint32_t n)
{
	uint8_t hdr[MSB_FRAME_HDR];

	msb_frame_encode_hdr(hdr, n, stream, type);
	if (write(f->guest, hdr, sizeof(hdr)) != sizeof(hdr) ||
	    (n && write(f->guest, payload, n) != (ssize_t)n))
		unit_fail(__FILE__, __LINE__, "guest write failed");
	agent_on_readable(f->s);
}

static void guest_send_u32(struct fx *f, uint32_t stream, uint8_t type,
			   uint32_t v)
{
	uint8_t b[4];

	msb_put_be32(b, v);
	guest_send(f, stream, type, b, 4);
}

static void guest_exit(struct fx *f, uint32_t stream, int32_t code,
		       uint32_t sig)
{
	uint8_t b[8];

	msb_put_be32(b, (uint32_t)code);
	msb_put_be32(b + 4, sig);
	guest_send(f, stream, MSB_F_EXIT, b, 8);
}

/* drain_guest() - let the supervisor flush its queue to the guest, and
 * throw the frames away. */
static void drain_guest(struct fx *f)
{
	struct msb_frame_hdr h;
	const uint8_t *p;

	while (guest_take(f, &h, &p))
		;
}

/* ---- requests without an exec -------------------------------------------- */

TEST(sup_ping_info)
{
	struct fx f;

	if (fx_begin(&f) == 0) {
		send_line(&f, "{\"id\":1,\"method\":\"ping\"}");
		EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"version\":1}}");
		/* Any JSON id is echoed back as it came. */
		send_line(&f, "{\"id\":\"a-string\",\"method\":\"ping\","
			      "\"params\":{}}");
		EXPECT_LINE(&f, "{\"id\":\"a-string\",\"result\":"
				"{\"version\":1}}");
		send_line(&f, "{\"method\":\"info\",\"id\":2}");
		{
			char l[4096];
			json_object *o, *r, *v;

			CHECK(next_line(&f, l, sizeof(l)));
			o = json_tokener_parse(l);
			CHECK(o && json_object_object_get_ex(o, "result", &r));
			if (o && r) {
				CHECK(json_object_object_get_ex(r, "name", &v));
				CHECK_STR(json_object_get_string(v), "unit");
				CHECK(json_object_object_get_ex(r, "status",
								&v));
				CHECK_STR(json_object_get_string(v), "running");
				CHECK(json_object_object_get_ex(r, "pid", &v));
				CHECK_EQ_INT(json_object_get_int(v), getpid());
				CHECK(json_object_object_get_ex(r, "boot_ms",
								&v));
				CHECK(json_object_object_get_ex(r, "accel",
								&v));
				CHECK_STR(json_object_get_string(v), "tcg");
			}
			json_object_put(o);
		}
		EXPECT_NO_LINE(&f);
	}
	fx_end(&f);
}

TEST(sup_request_errors)
{
	struct fx f;

	if (fx_begin(&f) == 0) {
		send_line(&f, "not json");
		EXPECT_LINE(&f, "{\"id\":null,\"error\":{\"code\":"
				"\"parse_error\",\"message\":\"each line must "
				"be one JSON object\"}}");
		send_line(&f, "[1,2]");
		EXPECT_LINE(&f, "{\"id\":null,\"error\":{\"code\":"
				"\"parse_error\",\"message\":\"each line must "
				"be one JSON object\"}}");
		send_line(&f, "{\"id\":3}");
		EXPECT_LINE(&f, "{\"id\":3,\"error\":{\"code\":"
				"\"invalid_request\",\"message\":\"a message "
				"needs a \\\"method\\\" string\"}}");
		send_line(&f, "{\"method\":\"ping\"}");
		EXPECT_LINE(&f, "{\"id\":null,\"error\":{\"code\":"
				"\"invalid_request\",\"message\":\"method ping "
				"needs an \\\"id\\\"\"}}");
		send_line(&f, "{\"id\":4,\"method\":\"reboot\"}");
		EXPECT_LINE(&f, "{\"id\":4,\"error\":{\"code\":"
				"\"method_not_found\",\"message\":\"unknown "
				"method 'reboot'\"}}");
		/* Blank lines are skipped; the connection stays usable. */
		send_line(&f, "");
		send_line(&f, "{\"id\":5,\"method\":\"ping\"}");
		EXPECT_LINE(&f, "{\"id\":5,\"result\":{\"version\":1}}");
		/* Notifications for an exec that does not exist: silence. */
		send_line(&f, "{\"method\":\"signal\",\"params\":{\"exec\":9,"
			      "\"signal\":15}}");
		send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":9,"
			      "\"data\":\"aGk=\"}}");
		send_line(&f, "{\"method\":\"resize\",\"params\":{\"exec\":9,"
			      "\"rows\":1,\"cols\":1}}");
		EXPECT_NO_LINE(&f);
		CHECK(conn_alive(&f));
	}
	fx_end(&f);
}

TEST(sup_pipelined_requests)
{
	struct fx f;
	const char *two = "{\"id\":1,\"method\":\"ping\"}\n"
			  "{\"id\":2,\"method\":\"ping\"}\n{\"id\":3,";

	if (fx_begin(&f) == 0) {
		/* Several requests in one write, and one split across
		 * writes. */
		CHECK_EQ_INT(write(f.client, two, strlen(two)),
			     (ssize_t)strlen(two));
		api_on_conn(f.s, f.c, EPOLLIN);
		EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"version\":1}}");
		EXPECT_LINE(&f, "{\"id\":2,\"result\":{\"version\":1}}");
		EXPECT_NO_LINE(&f);
		send_line(&f, "\"method\":\"ping\"}");
		EXPECT_LINE(&f, "{\"id\":3,\"result\":{\"version\":1}}");
	}
	fx_end(&f);
}

/* ---- exec ---------------------------------------------------------------- */

static const char *tag_name(uint8_t tag)
{
	switch (tag) {
	case MSB_T_ARG:
		return "ARG";
	case MSB_T_ENV:
		return "ENV";
	case MSB_T_CWD:
		return "CWD";
	case MSB_T_USER:
		return "USER";
	case MSB_T_TTY:
		return "TTY";
	case MSB_T_STDIN:
		return "STDIN";
	case MSB_T_DETACH:
		return "DETACH";
	default:
		return "?";
	}
}

/* exec_req() - the next EXEC frame the supervisor sent the guest, its TLV
 * summarised as e.g. "ARG=sh ARG=-c ENV=SBX=1 CWD=/work".
 * Return: its stream id, 0 if there was none. */
static uint32_t exec_req(struct fx *f, char *sum, size_t n)
{
	struct msb_frame_hdr h;
	const uint8_t *p, *v;
	struct msb_tlv_r r;
	uint32_t len;
	uint8_t tag;
	size_t o = 0;

	sum[0] = '\0';
	while (guest_take(f, &h, &p)) {
		if (h.type != MSB_F_EXEC)
			continue;
		msb_tlv_r_init(&r, p, h.len);
		while (msb_tlv_next(&r, &tag, &v, &len) == 1 && o < n) {
			const char *sep = o ? " " : "";

			if (tag == MSB_T_TTY && len == 4)
				o += (size_t)snprintf(sum + o, n - o,
						      "%sTTY=%ux%u", sep,
						      msb_get_be16(v),
						      msb_get_be16(v + 2));
			else if ((tag == MSB_T_STDIN || tag == MSB_T_DETACH) &&
				 len == 4)
				o += (size_t)snprintf(sum + o, n - o, "%s%s=%u",
						      sep, tag_name(tag),
						      msb_get_be32(v));
			else
				o += (size_t)snprintf(sum + o, n - o,
						      "%s%s=%.*s", sep,
						      tag_name(tag), (int)len,
						      (const char *)v);
		}
		return h.stream;
	}
	return 0;
}

/* start_exec() - send an exec request and answer it as the agent would,
 * with STARTED. Return: the agent stream id. */
static uint32_t start_exec(struct fx *f, const char *req, uint32_t pid)
{
	char sum[4096];
	uint32_t id;

	send_line(f, req);
	id = exec_req(f, sum, sizeof(sum));
	if (!id) {
		unit_fail(__FILE__, __LINE__, "no EXEC frame for %s", req);
		return 0;
	}
	guest_send_u32(f, id, MSB_F_STARTED, pid);
	return id;
}

/* The example session of docs/api-protocol.md, byte for byte. */
TEST(sup_exec_transcript)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	char sum[4096];
	uint32_t id, credit = 0;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":"
		      "[\"sh\",\"-c\",\"echo hi; echo oops >&2; exit 3\"]}}");
	id = exec_req(&f, sum, sizeof(sum));
	CHECK_EQ_INT(id, 1);
	/* The sandbox's env and workdir come with every exec. */
	CHECK_STR(sum, "ARG=sh ARG=-c ARG=echo hi; echo oops >&2; exit 3 "
		       "ENV=SBX=1 CWD=/work");
	EXPECT_NO_LINE(&f);
	guest_send_u32(&f, id, MSB_F_STARTED, 211);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":211}");
	guest_send(&f, id, MSB_F_STDOUT, "hi\n", 3);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"stdout\",\"data\":\"aGkK\"}");
	guest_send(&f, id, MSB_F_STDERR, "oops\n", 5);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"stderr\","
			"\"data\":\"b29wcwo=\"}");
	guest_exit(&f, id, 3, 0);
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"exit_code\":3,\"signal\":0}}");
	EXPECT_NO_LINE(&f);
	/* Output the client took was credited back to the guest. */
	while (guest_take(&f, &h, &p))
		if (h.stream == id && h.type == MSB_F_WINDOW && h.len == 4)
			credit += msb_get_be32(p);
	CHECK_EQ_INT(credit, 8);
	/* The stream is gone; the id may be used again. */
	CHECK(stream_get(f.s, id) == NULL);
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":"
		      "[\"true\"]}}");
	CHECK_EQ_INT(exec_req(&f, sum, sizeof(sum)), 2);
out:
	fx_end(&f);
}

TEST(sup_exec_signal_exit)
{
	struct fx f;
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":5,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"sleep\",\"100\"]}}", 9);
	EXPECT_LINE(&f, "{\"id\":5,\"event\":\"started\",\"pid\":9}");
	guest_exit(&f, id, 128 + 9, 9);
	EXPECT_LINE(&f, "{\"id\":5,\"result\":{\"exit_code\":137,"
			"\"signal\":9}}");
	/* Output with bytes that are not text, and base64 with '/'. */
	id = start_exec(&f, "{\"id\":6,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"x\"]}}", 10);
	EXPECT_LINE(&f, "{\"id\":6,\"event\":\"started\",\"pid\":10}");
	guest_send(&f, id, MSB_F_STDOUT, "\xff\xfe\x00\x3f", 4);
	/* json-c escapes '/' as "\/": valid JSON, so parse, never grep. */
	EXPECT_LINE(&f, "{\"id\":6,\"event\":\"stdout\",\"data\":"
			"\"\\/\\/4APw==\"}");
	/* An empty output frame is passed on as an empty event. */
	guest_send(&f, id, MSB_F_STDOUT, NULL, 0);
	EXPECT_LINE(&f, "{\"id\":6,\"event\":\"stdout\",\"data\":\"\"}");
	/* A short EXIT payload: exit_code -1. */
	guest_send(&f, id, MSB_F_EXIT, NULL, 0);
	EXPECT_LINE(&f, "{\"id\":6,\"result\":{\"exit_code\":-1,"
			"\"signal\":0}}");
out:
	fx_end(&f);
}

/* timeout_ms: the host's clock kills the process's group with SIGKILL,
 * and the result says so. */
TEST(sup_exec_timeout)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	uint32_t id, id2;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":"
		      "[\"sleep\",\"9\"],\"timeout_ms\":-1}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"timeout_ms must be a non-negative "
			"integer (milliseconds; 0 for none)\"}}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":"
		      "[\"sleep\",\"9\"],\"timeout_ms\":\"5\"}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"timeout_ms must be a non-negative "
			"integer (milliseconds; 0 for none)\"}}");
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{"
			    "\"argv\":[\"sleep\",\"9\"],\"timeout_ms\":20}}", 9);
	/* a second, without a timeout, is left alone */
	id2 = start_exec(&f, "{\"id\":2,\"method\":\"exec\",\"params\":{"
			     "\"argv\":[\"sleep\",\"9\"],\"timeout_ms\":0}}", 10);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":9}");
	EXPECT_LINE(&f, "{\"id\":2,\"event\":\"started\",\"pid\":10}");
	drain_guest(&f);
	/* An early tick (the time not yet up) kills nothing. */
	sup_on_tick(f.s);
	CHECK(!guest_take(&f, &h, &p));
	{
		struct pollfd pf = { .fd = f.s->tick_fd, .events = POLLIN };

		CHECK_EQ_INT(poll(&pf, 1, 5000), 1);
	}
	sup_on_tick(f.s);
	CHECK(guest_expect(&f, id, MSB_F_SIGNAL, &h, &p));
	CHECK(h.len == 4 && msb_get_be32(p) == SIGKILL);
	CHECK(!guest_take(&f, &h, &p));
	guest_exit(&f, id, 137, 9);
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"exit_code\":137,"
			"\"signal\":9,\"timed_out\":true}}");
	guest_exit(&f, id2, 0, 0);
	EXPECT_LINE(&f, "{\"id\":2,\"result\":{\"exit_code\":0,"
			"\"signal\":0}}");
out:
	fx_end(&f);
}

TEST(sup_exec_options)
{
	struct fx f;
	char sum[4096];

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{"
		      "\"argv\":[\"bash\"],\"env\":[\"A=1\",\"SBX=2\"],"
		      "\"cwd\":\"/tmp\",\"user\":\"1000:1000\","
		      "\"tty\":{\"rows\":50,\"cols\":132},\"stdin\":true,"
		      "\"main\":true}}");
	exec_req(&f, sum, sizeof(sum));
	/* Request env after the sandbox's: later entries win in the guest. */
	CHECK_STR(sum, "ARG=bash ENV=SBX=1 ENV=A=1 ENV=SBX=2 CWD=/tmp "
		       "USER=1000:1000 TTY=50x132 STDIN=1");
	CHECK(f.s->streams[0] && f.s->streams[0]->main);
	/* tty without a size, or a nonsense one: 24x80. */
	send_line(&f, "{\"id\":2,\"method\":\"exec\",\"params\":{"
		      "\"argv\":[\"sh\"],\"tty\":{},\"cwd\":\"\"}}");
	exec_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "ARG=sh ENV=SBX=1 TTY=24x80");
	send_line(&f, "{\"id\":3,\"method\":\"exec\",\"params\":{"
		      "\"argv\":[\"sh\"],\"tty\":{\"rows\":-1,\"cols\":70000},"
		      "\"stdin\":false,\"user\":\"\"}}");
	exec_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "ARG=sh ENV=SBX=1 CWD=/work TTY=24x80");
	/* tty: true is not an object: no terminal. */
	send_line(&f, "{\"id\":4,\"method\":\"exec\",\"params\":{"
		      "\"argv\":[\"sh\"],\"tty\":true}}");
	exec_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "ARG=sh ENV=SBX=1 CWD=/work");
	EXPECT_NO_LINE(&f);
out:
	fx_end(&f);
}

/* exec -d: the reply is the pid once it runs; then its output goes to
 * the log and its connection may go without hanging it up. */
TEST(sup_exec_detach)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	char sum[4096], *log;
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{"
		      "\"argv\":[\"server\"],\"detach\":true,"
		      "\"stdin\":true}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"a detached exec takes no stdin, tty or "
			"main\"}}");
	send_line(&f, "{\"id\":2,\"method\":\"exec\",\"params\":{"
		      "\"argv\":[\"server\"],\"detach\":true}}");
	id = exec_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "ARG=server ENV=SBX=1 CWD=/work DETACH=1");
	EXPECT_NO_LINE(&f);
	guest_send_u32(&f, id, MSB_F_STARTED, 42);
	EXPECT_LINE(&f, "{\"id\":2,\"result\":{\"pid\":42}}");
	/* Gone from the connection: closing it sends no SIGHUP. */
	close(f.client);
	f.client = -1;
	api_on_conn(f.s, f.c, EPOLLIN | EPOLLHUP);
	guest_send(&f, id, MSB_F_STDOUT, "listening\n", 10);
	while (guest_take(&f, &h, &p))
		CHECK(!(h.stream == id && h.type == MSB_F_SIGNAL));
	log = msb_read_file(f.s->console_log, NULL);
	CHECK(log && strstr(log, "listening\n"));
	free(log);
	guest_exit(&f, id, 0, 0);
	CHECK(!stream_get(f.s, id));
out:
	fx_end(&f);
}

/* The detached command's start and end go into the record (runtime). */
TEST(sup_command_recorded)
{
	struct fx f;
	json_object *p, *v;
	char why[256];
	struct stream *st;
	uint32_t id;
	int saves;

	if (fx_begin(&f) != 0)
		goto out;
	p = json_tokener_parse("{\"argv\":[\"nosuchcmd\"],\"detach\":true}");
	st = agent_exec(f.s, p, why, sizeof(why));
	json_object_put(p);
	CHECK(st != NULL);
	if (!st)
		goto out;
	st->cmd = 1;
	id = st->id;
	f.s->command = json_tokener_parse("{\"status\":\"running\"}");
	saves = runtime_saves;
	guest_send_u32(&f, id, MSB_F_STARTED, 77);
	CHECK(runtime_saves == saves + 1);
	CHECK(json_object_object_get_ex(f.s->command, "pid", &v) &&
	      json_object_get_int(v) == 77);
	guest_exit(&f, id, 127, 0);
	CHECK(runtime_saves == saves + 2);
	CHECK_STR(json_object_to_json_string_ext(f.s->command,
						 JSON_C_TO_STRING_PLAIN),
		  "{\"status\":\"exited\",\"pid\":77,\"exit_code\":127,"
		  "\"signal\":0}");
	/* One the guest refused never ran: failed, 126, with why. */
	json_object_put(f.s->command);
	f.s->command = json_tokener_parse("{\"status\":\"running\"}");
	p = json_tokener_parse("{\"argv\":[\"x\"]}");
	st = agent_exec(f.s, p, why, sizeof(why));
	json_object_put(p);
	if (!st)
		goto out;
	st->cmd = 1;
	guest_send(&f, st->id, MSB_F_ERROR, "user x: no such user", 20);
	CHECK_STR(json_object_to_json_string_ext(f.s->command,
						 JSON_C_TO_STRING_PLAIN),
		  "{\"status\":\"failed\",\"exit_code\":126,\"signal\":0,"
		  "\"error\":\"user x: no such user\"}");
out:
	json_object_put(f.s->command);
	f.s->command = NULL;
	fx_end(&f);
}

TEST(sup_exec_refused)
{
	struct fx f;
	char *big;
	size_t n;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":\"x\",\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"true\"]}}");
	EXPECT_LINE(&f, "{\"id\":\"x\",\"error\":{\"code\":\"invalid_request\","
			"\"message\":\"exec needs an integer id\"}}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\"}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"exec needs params\"}}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"argv must be a non-empty array of "
			"strings\"}}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[]}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"argv must be a non-empty array of "
			"strings\"}}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"ls\",1]}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"argv must be a non-empty array of "
			"strings\"}}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"ls\"],\"env\":\"A=1\"}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"env must be an array of \\\"KEY=VALUE"
			"\\\" strings\"}}");
	/* More than Linux takes for a program (the request goes to the
	 * agent in pieces up to that: sup_exec_in_parts) */
	n = MSB_EXEC_MAX + 100;
	big = malloc(n + 100);
	if (big) {
		int l = snprintf(big, 100, "{\"id\":1,\"method\":\"exec\","
				 "\"params\":{\"argv\":[\"");

		memset(big + l, 'a', n);
		snprintf(big + l + n, 100, "\"]}}");
		send_line(&f, big);
		free(big);
		EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":"
				"\"invalid_params\",\"message\":\"command, "
				"environment and options exceed 2097152 "
				"bytes (2 MiB, as Linux's own limit): pass "
				"large data as a file or on stdin\"}}");
	}
	/* A working directory that is not absolute, or not a string. */
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"pwd\"],\"cwd\":\"tmp\"}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"cwd must be an absolute path (\\\"\\\" "
			"for \\/)\"}}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"pwd\"],\"cwd\":7}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"cwd must be an absolute path (\\\"\\\" "
			"for \\/)\"}}");
	/* An id in use by a running exec of this connection. */
	start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		       "{\"argv\":[\"sleep\",\"9\"]}}", 3);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":3}");
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"true\"]}}");
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"invalid_request\","
			"\"message\":\"id 1 is already in use\"}}");
	/* Not running. */
	f.s->state = ST_STOPPING;
	send_line(&f, "{\"id\":2,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"true\"]}}");
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"not_running\","
			"\"message\":\"sandbox unit is stopping\"}}");
	f.s->state = ST_BOOTING;
	send_line(&f, "{\"id\":2,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"true\"]}}");
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"not_running\","
			"\"message\":\"sandbox unit is starting\"}}");
	EXPECT_NO_LINE(&f);
out:
	fx_end(&f);
}

/* echo_request() - an exec request (id 1) of echo with one argument of @n
 * 'a's; free() it. */
static char *echo_request(size_t n)
{
	char *big = malloc(n + 100);
	int l;

	if (!big)
		return NULL;
	l = snprintf(big, 100, "{\"id\":1,\"method\":\"exec\",\"params\":"
		     "{\"argv\":[\"echo\",\"");
	memset(big + l, 'a', n);
	snprintf(big + l + n, 100, "\"]}}");
	return big;
}

/* A request longer than an agent frame goes as EXEC_PART frames, each
 * a full frame, and its EXEC with the rest, back to back on one stream:
 * joined, they are the request. */
TEST(sup_exec_in_parts)
{
	static uint8_t joined[MSB_EXEC_MAX];
	struct fx f;
	struct msb_frame_hdr h;
	struct msb_tlv_r r;
	const uint8_t *p, *v;
	size_t n = 3 * MSB_FRAME_MAX, len = 0, k;
	uint32_t id = 0, vlen;
	uint8_t tag;
	int parts = 0, args = 0;
	char *big;

	if (fx_begin(&f) != 0)
		goto out;
	big = echo_request(n);
	if (!big)
		goto out;
	send_line(&f, big);
	free(big);
	while (guest_take(&f, &h, &p)) {
		if (h.type != MSB_F_EXEC_PART && h.type != MSB_F_EXEC)
			continue;
		if (!id)
			id = h.stream;
		CHECK_EQ_INT(h.stream, id);
		if (h.type == MSB_F_EXEC_PART) {
			CHECK_EQ_INT(h.len, MSB_FRAME_MAX);
			parts++;
		}
		if (h.len > sizeof(joined) - len)
			break;
		memcpy(joined + len, p, h.len);
		len += h.len;
		if (h.type == MSB_F_EXEC)
			break;
	}
	CHECK_EQ_INT(h.type, MSB_F_EXEC);
	CHECK_EQ_INT(parts, 3);
	msb_tlv_r_init(&r, joined, len);
	while (msb_tlv_next(&r, &tag, &v, &vlen) == 1) {
		if (tag != MSB_T_ARG)
			continue;
		if (args++ == 0) {
			CHECK(vlen == 4 && !memcmp(v, "echo", 4));
			continue;
		}
		CHECK_EQ_INT(vlen, n);
		for (k = 0; k < vlen && v[k] == 'a'; k++)
			;
		CHECK_EQ_INT(k, n);
	}
	CHECK_EQ_INT(args, 2);
	guest_send_u32(&f, id, MSB_F_STARTED, 9);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":9}");
out:
	fx_end(&f);
}

/* HELLO once a link: the agent's first gets INIT and names its version;
 * another (the guest's own doing) changes nothing and gets nothing. */
TEST(sup_hello_once)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	struct msb_tlv_w w;
	uint8_t b[64];
	int inits = 0;

	if (fx_begin(&f) != 0)
		goto out;
	f.s->agent_hello = 0;
	f.s->state = ST_BOOTING;
	msb_tlv_w_init(&w, b, sizeof(b));
	msb_tlv_put_u32(&w, MSB_T_VERSION, MSB_PROTO_VERSION);
	msb_tlv_put_str(&w, MSB_T_AGENT, "0.3.0");
	guest_send(&f, 0, MSB_F_HELLO, b, w.len);
	while (guest_take(&f, &h, &p))
		inits += h.type == MSB_F_INIT;
	CHECK_EQ_INT(inits, 1);
	CHECK_STR(f.s->agent_version, "0.3.0");
	msb_tlv_w_init(&w, b, sizeof(b));
	msb_tlv_put_u32(&w, MSB_T_VERSION, MSB_PROTO_VERSION);
	msb_tlv_put_str(&w, MSB_T_AGENT, "0.1.0");
	guest_send(&f, 0, MSB_F_HELLO, b, w.len);
	CHECK(!guest_take(&f, &h, &p));
	CHECK_STR(f.s->agent_version, "0.3.0");
	CHECK_EQ_INT(f.s->agent_exec_max, MSB_EXEC_MAX);
out:
	fx_end(&f);
}

/* An agent older than 0.2 (a restored snapshot's) reads a request from
 * one frame: one longer is refused by the supervisor, with what to do,
 * and no EXEC_PART reaches it; one that fits still runs. */
TEST(sup_exec_old_agent)
{
	static const char *const old[] = { NULL, "0.1.0", "0.1.9", "?", "",
					   "9.9.9\n", "2.0.0 (new)" };
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	size_t n = MSB_FRAME_MAX;
	char *big;

	if (fx_begin(&f) != 0)
		goto out;
	big = echo_request(n);
	if (!big)
		goto out;
	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		char want[512];

		agent_set_version(f.s, old[i]);
		send_line(&f, big);
		snprintf(want, sizeof(want),
			 "{\"id\":1,\"error\":{\"code\":\"invalid_params\","
			 "\"message\":\"command, environment and options "
			 "exceed 65536 bytes, the most this sandbox's guest "
			 "agent (%s, from an older msb's snapshot) takes: pass "
			 "large data as a file or on stdin, or run a new "
			 "sandbox for requests up to 2 MiB\"}}",
			 i == 1 || i == 2 ? old[i] : "0.1.0");
		EXPECT_LINE(&f, want);
		while (guest_take(&f, &h, &p))
			CHECK(h.type != MSB_F_EXEC_PART && h.type != MSB_F_EXEC);
	}
	free(big);
	/* A short one goes as one EXEC, as to any agent. */
	send_line(&f, "{\"id\":2,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"true\"]}}");
	CHECK(guest_take(&f, &h, &p));
	CHECK_EQ_INT(h.type, MSB_F_EXEC);
	/* Versions from 0.2 take the pieces. */
	agent_set_version(f.s, "0.2.0");
	CHECK_EQ_INT(f.s->agent_exec_max, MSB_EXEC_MAX);
	agent_set_version(f.s, "1.0.0");
	CHECK_EQ_INT(f.s->agent_exec_max, MSB_EXEC_MAX);
	agent_set_version(f.s, MSB_AGENT_VERSION);
	CHECK_EQ_INT(f.s->agent_exec_max, MSB_EXEC_MAX);
out:
	fx_end(&f);
}

TEST(sup_exec_agent_error)
{
	struct fx f;
	char sum[256];
	uint32_t id;
	static const char msg[] = "user nobody2: no such user";

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":7,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"id\"],\"user\":\"nobody2\"}}");
	id = exec_req(&f, sum, sizeof(sum));
	guest_send(&f, id, MSB_F_ERROR, msg, sizeof(msg) - 1);
	EXPECT_LINE(&f, "{\"id\":7,\"error\":{\"code\":\"exec_failed\","
			"\"message\":\"user nobody2: no such user\"}}");
	EXPECT_NO_LINE(&f);
out:
	fx_end(&f);
}

TEST(sup_exec_ids_per_connection)
{
	struct fx f;
	char sock[PATH_MAX + 16], l[256];
	int other;
	ssize_t n;
	struct conn *c2;
	uint32_t a, b;

	if (fx_begin(&f) != 0)
		goto out;
	/* Two connections may both use id 1; events go to their owner. */
	snprintf(sock, sizeof(sock), "%s/api.sock", f.tmp);
	other = msb_unix_connect(sock);
	CHECK(other >= 0);
	api_on_accept(f.s);
	c2 = f.s->conns[1];
	CHECK(c2 != NULL);
	if (other < 0 || !c2)
		goto out;
	a = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			   "{\"argv\":[\"a\"]}}", 100);
	{
		const char *req = "{\"id\":1,\"method\":\"exec\",\"params\":"
				  "{\"argv\":[\"b\"]}}\n";

		CHECK_EQ_INT(write(other, req, strlen(req)),
			     (ssize_t)strlen(req));
		api_on_conn(f.s, c2, EPOLLIN);
		b = exec_req(&f, l, sizeof(l));
		CHECK_STR(l, "ARG=b ENV=SBX=1 CWD=/work");
	}
	CHECK(a && b && a != b);
	guest_send(&f, b, MSB_F_STDOUT, "B", 1);
	guest_send(&f, a, MSB_F_STDOUT, "A", 1);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":100}");
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"stdout\",\"data\":\"QQ==\"}");
	EXPECT_NO_LINE(&f);
	msb_set_nonblock(other, 1);
	n = read(other, l, sizeof(l) - 1);
	CHECK(n > 0);
	l[n > 0 ? n : 0] = '\0';
	CHECK(strstr(l, "\"data\":\"Qg==\"") != NULL);
	close(other);
out:
	fx_end(&f);
}

/* ---- stdin, signals, resize ------------------------------------------- */

static size_t guest_stdin(struct fx *f, uint32_t id, uint8_t *out,
			  size_t cap, int *eof)
{
	struct msb_frame_hdr h;
	const uint8_t *p;
	size_t n = 0;

	while (guest_take(f, &h, &p)) {
		if (h.stream != id || h.type != MSB_F_STDIN)
			continue;
		if (h.len > MSB_FRAME_MAX)
			unit_fail(__FILE__, __LINE__, "oversized frame");
		if (!h.len)
			*eof = 1;
		else if (*eof)
			unit_fail(__FILE__, __LINE__, "stdin after EOF");
		if (n + h.len <= cap)
			memcpy(out + n, p, h.len);
		n += h.len;
	}
	return n;
}

TEST(sup_exec_stdin)
{
	struct fx f;
	uint8_t got[64];
	uint32_t id;
	int eof = 0;

	if (fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"cat\"],\"stdin\":true}}", 4);
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
		      "\"data\":\"aGVsbG8K\"}}");
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
		      "\"data\":\"\"}}");
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
		      "\"data\":\"d29ybGQK\",\"eof\":true}}");
	CHECK_EQ_INT(guest_stdin(&f, id, got, sizeof(got), &eof), 12);
	CHECK_MEM(got, "hello\nworld\n", 12);
	CHECK_EQ_INT(eof, 1);
	/* After EOF more stdin is ignored. */
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
		      "\"data\":\"eA==\"}}");
	eof = 0;
	CHECK_EQ_INT(guest_stdin(&f, id, got, sizeof(got), &eof), 0);
	/* Bad base64 is refused with an id-less error. */
	id = start_exec(&f, "{\"id\":2,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"cat\"],\"stdin\":true}}", 5);
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":2,"
		      "\"data\":\"not base64!\"}}");
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":4}");
	EXPECT_LINE(&f, "{\"id\":2,\"event\":\"started\",\"pid\":5}");
	EXPECT_LINE(&f, "{\"id\":null,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"stdin data is not valid base64\"}}");
	/* eof alone. */
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":2,"
		      "\"eof\":true}}");
	eof = 0;
	CHECK_EQ_INT(guest_stdin(&f, id, got, sizeof(got), &eof), 0);
	CHECK_EQ_INT(eof, 1);
	/* An exec without "stdin": true has /dev/null; stdin is dropped. */
	id = start_exec(&f, "{\"id\":3,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"cat\"]}}", 6);
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":3,"
		      "\"data\":\"eA==\",\"eof\":true}}");
	eof = 0;
	CHECK_EQ_INT(guest_stdin(&f, id, got, sizeof(got), &eof), 0);
	CHECK_EQ_INT(eof, 0);
out:
	fx_end(&f);
}

TEST(sup_exec_stdin_credit)
{
	struct fx f;
	uint8_t *raw = malloc(300000), *got = malloc(400000);
	char *b64 = malloc(420000), *line = malloc(420100);
	uint32_t id;
	size_t n = 0;
	int eof = 0;

	if (!raw || !got || !b64 || !line || fx_begin(&f) != 0)
		goto out;
	for (size_t i = 0; i < 300000; i++)
		raw[i] = (uint8_t)(i * 7 + 1);
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"cat\"],\"stdin\":true}}", 4);
	b64[msb_b64_encode(raw, 300000, b64)] = '\0';
	snprintf(line, 420100, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
		 "\"data\":\"%s\",\"eof\":true}}", b64);
	/* The line is bigger than one read: feed it in pieces, as the
	 * epoll loop would. */
	{
		size_t len = strlen(line), off = 0;

		while (off < len) {
			ssize_t w = write(f.client, line + off, len - off);

			if (w > 0)
				off += (size_t)w;
			api_on_conn(f.s, f.c, EPOLLIN);
			n += guest_stdin(&f, id, got + n, 400000 - n, &eof);
		}
		CHECK_EQ_INT(write(f.client, "\n", 1), 1);
		api_on_conn(f.s, f.c, EPOLLIN);
	}
	/* Only the initial window went out; the rest waits for credit. */
	n += guest_stdin(&f, id, got + n, 400000 - n, &eof);
	CHECK_EQ_INT(n, MSB_WINDOW_INIT);
	CHECK_EQ_INT(eof, 0);
	/* More credit than a window is capped at a window. */
	guest_send_u32(&f, id, MSB_F_WINDOW, 0xffffffffu);
	n += guest_stdin(&f, id, got + n, 400000 - n, &eof);
	CHECK_EQ_INT(n, 300000);
	CHECK_EQ_INT(eof, 1);
	CHECK_MEM(got, raw, 300000);
out:
	fx_end(&f);
	free(line);
	free(b64);
	free(got);
	free(raw);
}

TEST(sup_exec_signal_resize)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"top\"],\"tty\":{}}}", 4);
	drain_guest(&f);
	send_line(&f, "{\"method\":\"signal\",\"params\":{\"exec\":1,"
		      "\"signal\":15}}");
	CHECK(guest_expect(&f, id, MSB_F_SIGNAL, &h, &p));
	CHECK(h.len == 4 && msb_get_be32(p) == 15);
	send_line(&f, "{\"method\":\"resize\",\"params\":{\"exec\":1,"
		      "\"rows\":40,\"cols\":100}}");
	CHECK(guest_expect(&f, id, MSB_F_RESIZE, &h, &p));
	CHECK(h.len == 4 && msb_get_be16(p) == 40 && msb_get_be16(p + 2) == 100);
	/* Out of range: ignored. */
	send_line(&f, "{\"method\":\"signal\",\"params\":{\"exec\":1,"
		      "\"signal\":0}}");
	send_line(&f, "{\"method\":\"signal\",\"params\":{\"exec\":1,"
		      "\"signal\":65}}");
	send_line(&f, "{\"method\":\"signal\",\"params\":{\"exec\":1}}");
	send_line(&f, "{\"method\":\"resize\",\"params\":{\"exec\":1,"
		      "\"rows\":0,\"cols\":100}}");
	send_line(&f, "{\"method\":\"resize\",\"params\":{\"exec\":1,"
		      "\"rows\":10,\"cols\":65536}}");
	CHECK(!guest_take(&f, &h, &p));
	/* A notification may carry an id; it is still answered by no one. */
	send_line(&f, "{\"id\":99,\"method\":\"signal\",\"params\":"
		      "{\"exec\":1,\"signal\":2}}");
	CHECK(guest_expect(&f, id, MSB_F_SIGNAL, &h, &p));
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":4}");
	EXPECT_NO_LINE(&f);
out:
	fx_end(&f);
}

/* ---- flow control --------------------------------------------------------- */

TEST(sup_output_backpressure)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	static uint8_t chunk[MSB_FRAME_MAX];
	uint64_t sent = 0, credit = 0;
	uint32_t id;
	char l[8192];

	if (fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"yes\"]}}", 4);
	memset(chunk, 'y', sizeof(chunk));
	/* The client reads nothing: once its queue passes CONN_LOW the
	 * supervisor stops granting output credit. */
	while (f.c->out.len < CONN_LOW && sent < (64u << 20)) {
		guest_send(&f, id, MSB_F_STDOUT, chunk, sizeof(chunk));
		sent += sizeof(chunk);
	}
	CHECK(f.c->out.len >= CONN_LOW);
	while (guest_take(&f, &h, &p))
		if (h.type == MSB_F_WINDOW && h.stream == id)
			credit += msb_get_be32(p);
	CHECK(credit < sent);
	guest_send(&f, id, MSB_F_STDOUT, chunk, sizeof(chunk));
	sent += sizeof(chunk);
	CHECK(!guest_take(&f, &h, &p));
	/* The client catches up: credit for everything comes back. */
	while (f.c->out.len) {
		while (next_line(&f, l, sizeof(l)))
			;
		api_on_conn(f.s, f.c, EPOLLOUT);
	}
	while (guest_take(&f, &h, &p))
		if (h.type == MSB_F_WINDOW && h.stream == id)
			credit += msb_get_be32(p);
	CHECK_EQ_INT(credit, sent);
out:
	fx_end(&f);
}

/* ---- disconnects and stop ------------------------------------------------ */

TEST(sup_client_disconnect_mid_exec)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	uint32_t id;
	int hup = 0, eof = 0;

	if (fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"cat\"],\"stdin\":true}}", 4);
	drain_guest(&f);
	close(f.client);
	f.client = -1;
	api_on_conn(f.s, f.c, EPOLLIN | EPOLLHUP);
	CHECK(!conn_alive(&f));
	/* The process is hung up on and its stdin closed. */
	while (guest_take(&f, &h, &p)) {
		if (h.stream == id && h.type == MSB_F_SIGNAL)
			hup = h.len == 4 && msb_get_be32(p) == SIGHUP;
		if (h.stream == id && h.type == MSB_F_STDIN && !h.len)
			eof = 1;
	}
	CHECK(hup);
	CHECK(eof);
	/* What it still prints is dropped, and credited at once. */
	guest_send(&f, id, MSB_F_STDOUT, "late", 4);
	CHECK(guest_expect(&f, id, MSB_F_WINDOW, &h, &p));
	CHECK_EQ_INT(msb_get_be32(p), 4);
	guest_exit(&f, id, 129, 1);
	CHECK(stream_get(f.s, id) == NULL);
	/* Not a main exec: the sandbox keeps running. */
	CHECK_EQ_INT(stop_calls, 0);
	CHECK(f.s->state == ST_RUNNING);
out:
	fx_end(&f);
}

TEST(sup_main_exec)
{
	struct fx f;
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	/* Its end stops the sandbox, with the usual grace period. */
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"true\"],\"main\":true}}", 4);
	guest_exit(&f, id, 0, 0);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":4}");
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"exit_code\":0,\"signal\":0}}");
	CHECK_EQ_INT(stop_calls, 1);
	CHECK_EQ_INT(stop_timeout, 10);
	fx_end(&f);

	/* Its client going away stops the sandbox at once. */
	if (fx_begin(&f) != 0)
		goto out;
	start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		       "{\"argv\":[\"sh\"],\"main\":true}}", 4);
	close(f.client);
	f.client = -1;
	api_on_conn(f.s, f.c, EPOLLIN | EPOLLHUP);
	CHECK_EQ_INT(stop_calls, 1);
	CHECK_EQ_INT(stop_timeout, 0);
out:
	fx_end(&f);
}

TEST(sup_stop_request)
{
	struct fx f;
	char l[512], rest[16];
	json_object *o, *r, *v;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":7,\"method\":\"stop\",\"params\":"
		  "{\"timeout\":3}}");
	CHECK_EQ_INT(stop_calls, 1);
	CHECK_EQ_INT(stop_timeout, 3);
	/* No answer until the VM is gone. */
	EXPECT_NO_LINE(&f);
	send_line(&f, "{\"id\":8,\"method\":\"ping\"}");
	EXPECT_LINE(&f, "{\"id\":8,\"result\":{\"version\":1}}");
	/* The supervisor's end: the result, then the connection closes. */
	api_close_all(f.s);
	CHECK(next_line(&f, l, sizeof(l)));
	o = json_tokener_parse(l);
	CHECK(o && json_object_object_get_ex(o, "id", &v) &&
	      json_object_get_int(v) == 7);
	CHECK(o && json_object_object_get_ex(o, "result", &r));
	if (o && r) {
		CHECK(json_object_object_get_ex(r, "elapsed_ms", &v) &&
		      json_object_is_type(v, json_type_int));
		CHECK(json_object_object_get_ex(r, "forced", &v) &&
		      json_object_is_type(v, json_type_boolean) &&
		      !json_object_get_boolean(v));
	}
	json_object_put(o);
	msb_set_nonblock(f.client, 0);
	CHECK_EQ_INT(read(f.client, rest, sizeof(rest)), 0);
	fx_end(&f);

	/* Default grace 10 s; a negative one means kill now. */
	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"stop\"}");
	CHECK_EQ_INT(stop_timeout, 10);
	f.s->state = ST_RUNNING;
	send_line(&f, "{\"id\":2,\"method\":\"stop\",\"params\":"
		  "{\"timeout\":-5}}");
	CHECK_EQ_INT(stop_timeout, 0);
	api_close_all(f.s);
	/* Both stop requests are answered, each with its own id. */
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"elapsed_ms\":0,"
			"\"forced\":true}}");
	EXPECT_LINE(&f, "{\"id\":2,\"result\":{\"elapsed_ms\":0,"
			"\"forced\":true}}");
out:
	fx_end(&f);
}

TEST(sup_stop_closes_other_connections)
{
	struct fx f;
	char b[16];

	if (fx_begin(&f) != 0)
		goto out;
	start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		       "{\"argv\":[\"sleep\",\"9\"]}}", 4);
	api_close_all(f.s);
	/* Execs in flight get no result: the line ends with the socket. */
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":4}");
	EXPECT_NO_LINE(&f);
	msb_set_nonblock(f.client, 0);
	CHECK_EQ_INT(read(f.client, b, sizeof(b)), 0);
out:
	fx_end(&f);
}

TEST(sup_line_too_long)
{
	struct fx f;
	char *chunk = malloc(1 << 20);
	size_t sent = 0;

	if (!chunk || fx_begin(&f) != 0)
		goto out;
	memset(chunk, ' ', 1 << 20);
	while (sent <= CONN_LINE_MAX && conn_alive(&f)) {
		ssize_t w = write(f.client, chunk, 1 << 20);

		if (w > 0)
			sent += (size_t)w;
		api_on_conn(f.s, f.c, EPOLLIN);
	}
	CHECK(!conn_alive(&f));
	EXPECT_LINE(&f, "{\"id\":null,\"error\":{\"code\":\"parse_error\","
			"\"message\":\"request line longer than 4194304 "
			"bytes\"}}");
out:
	fx_end(&f);
	free(chunk);
}

/* ---- guest protocol errors ---------------------------------------------- */

TEST(sup_guest_breaks_protocol)
{
	struct fx f;
	uint8_t hdr[MSB_FRAME_HDR];

	if (fx_begin(&f) != 0)
		goto out;
	msb_frame_encode_hdr(hdr, MSB_FRAME_MAX + 1, 1, MSB_F_STDOUT);
	CHECK_EQ_INT(write(f.guest, hdr, sizeof(hdr)), sizeof(hdr));
	CHECK_EQ_INT(write(f.guest, "x", 1), 1);
	agent_on_readable(f.s);
	CHECK_EQ_INT(f.s->agent_fd, -1);
	CHECK_CONTAINS(f.s->fail, "broke the agent protocol");
	/* Frames for streams that do not exist are ignored. */
	fx_end(&f);
	if (fx_begin(&f) != 0)
		goto out;
	guest_send(&f, 77, MSB_F_STDOUT, "x", 1);
	guest_exit(&f, 78, 0, 0);
	guest_send_u32(&f, 79, MSB_F_WINDOW, 5);
	CHECK(f.s->agent_fd >= 0);
	EXPECT_NO_LINE(&f);
out:
	fx_end(&f);
}

/* ---- known bugs (reported; these fail until fixed) ------------------------ */

/* fill_stdin() - queue stdin for exec 1 until the supervisor stops reading
 * the connection. The last stdin line goes out in one write together with
 * @tail (more request lines), so both arrive in the same read(). */
static void fill_stdin(struct fx *f, uint32_t id, const char *tail)
{
	static uint8_t raw[30000];
	static char line[41000];
	struct stream *st = stream_get(f->s, id);
	size_t l;
	char *both;

	if (!st)
		return;
	memset(raw, 'i', sizeof(raw));
	l = (size_t)snprintf(line, sizeof(line),
			     "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
			     "\"data\":\"");
	l += msb_b64_encode(raw, sizeof(raw), line + l);
	l += (size_t)snprintf(line + l, sizeof(line) - l, "\"}}");
	while (st->stdin_q.len + sizeof(raw) < STDIN_QUEUE_MAX) {
		send_line(f, line);
		drain_guest(f);
	}
	CHECK(!f->c->paused);
	both = malloc(l + strlen(tail) + 2);
	if (!both)
		return;
	memcpy(both, line, l);
	both[l] = '\n';
	strcpy(both + l + 1, tail);
	CHECK_EQ_INT(write(f->client, both, strlen(both)), (ssize_t)strlen(both));
	free(both);
	api_on_conn(f->s, f->c, EPOLLIN);
	CHECK(f->c->paused);
}

/* run_loop_once() - what the supervisor's epoll loop would do now. */
static void run_loop_once(struct fx *f)
{
	struct epoll_event evs[8];
	int n = epoll_wait(f->s->epfd, evs, 8, 0);

	for (int i = 0; i < n; i++) {
		struct ev_ref *ref = evs[i].data.ptr;

		if (ref->type == EV_CONN && conn_alive(f) &&
		    (struct conn *)ref == f->c)
			api_on_conn(f->s, f->c, evs[i].events);
		else if (ref->type == EV_AGENT && f->s->agent_fd >= 0) {
			if (evs[i].events & EPOLLOUT)
				agent_on_writable(f->s);
			if (evs[i].events & EPOLLIN)
				agent_on_readable(f->s);
		}
	}
}

/*
 * Regression (src/supervisor/api.c, api_on_conn/agent_flush_stdin): when a full
 * stdin queue pauses a connection, request lines already read into c->in
 * behind the line that paused it stay there after the queue drains and the
 * connection is resumed; they are parsed only when the client sends more
 * bytes. A client that wrote its last stdin chunk and {"eof":true} together
 * (msb exec -i < bigfile) waits forever for a process waiting for EOF.
 */
TEST(regress_resumed_conn_leaves_buffered_lines)
{
	struct fx f;
	uint8_t *got = malloc(4 << 20);
	uint32_t id;
	int eof = 0;

	if (!got || fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"cat\"],\"stdin\":true}}", 4);
	fill_stdin(&f, id, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
			   "\"eof\":true}}\n");
	/* The guest reads everything, granting credit as it goes. */
	for (int i = 0; i < 100 && !eof; i++) {
		guest_send_u32(&f, id, MSB_F_WINDOW, MSB_WINDOW_INIT);
		run_loop_once(&f);
		guest_stdin(&f, id, got, 4 << 20, &eof);
	}
	CHECK(!f.c->paused);
	CHECK(eof); 
out:
	fx_end(&f);
	free(got);
}

/*
 * Regression (src/supervisor/api.c, api_on_conn): a paused connection whose client
 * hangs up is never freed. epoll reports EPOLLHUP whatever the interest
 * mask, api_on_conn() breaks out of its read loop at once because of
 * c->paused, and the level-triggered HUP comes straight back: the
 * supervisor spins at 100% CPU, and the exec never gets its SIGHUP.
 */
TEST(regress_paused_conn_hangup_spins)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	uint32_t id;
	int hup = 0;

	if (fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"sleep\",\"9\"],\"stdin\":true}}", 4);
	fill_stdin(&f, id, "");
	close(f.client);
	f.client = -1;
	for (int i = 0; i < 5 && conn_alive(&f); i++)
		run_loop_once(&f);
	CHECK(!conn_alive(&f)); 
	while (guest_take(&f, &h, &p))
		if (h.stream == id && h.type == MSB_F_SIGNAL)
			hup = 1;
	CHECK(hup);
out:
	fx_end(&f);
}

/*
 * Regression (src/supervisor/agent.c, stream_free): a connection paused by an
 * exec's full stdin queue is resumed only from agent_flush_stdin(). If that
 * exec ends first (it exits without reading its stdin), nothing resumes the
 * connection: every later request on it goes unanswered.
 */
TEST(regress_paused_conn_stays_paused_after_exit)
{
	struct fx f;
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	id = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
			    "{\"argv\":[\"true\"],\"stdin\":true}}", 4);
	fill_stdin(&f, id, "");
	guest_exit(&f, id, 0, 0);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":4}");
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"exit_code\":0,\"signal\":0}}");
	send_line(&f, "{\"id\":2,\"method\":\"ping\"}");
	run_loop_once(&f);
	EXPECT_LINE(&f, "{\"id\":2,\"result\":{\"version\":1}}"); 
out:
	fx_end(&f);
}

/*
 * Regression (src/supervisor/agent.c, on_frame MSB_F_ERROR): when the agent
 * refuses an exec (unknown user, ENV without '=', sandbox shutting down) it
 * sends ERROR and no EXIT. The supervisor forwards an "error" event but
 * never frees the stream: the request never gets its one reply, the id
 * stays "already in use" on that connection, and after MAX_STREAMS such
 * failures every exec is refused with "too many concurrent execs".
 */
TEST(regress_exec_error_leaks_stream)
{
	struct fx f;
	char sum[256];
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"id\"],\"env\":[\"NOEQUALS\"]}}");
	id = exec_req(&f, sum, sizeof(sum));
	guest_send(&f, id, MSB_F_ERROR, "EXEC: bad ENV", 13);
	EXPECT_LINE(&f, "{\"id\":1,\"error\":{\"code\":\"exec_failed\","
			"\"message\":\"EXEC: bad ENV\"}}");
	CHECK(stream_get(f.s, id) == NULL);
	send_line(&f, "{\"id\":1,\"method\":\"exec\",\"params\":"
		      "{\"argv\":[\"id\"]}}");
	CHECK(exec_req(&f, sum, sizeof(sum)) != 0);
out:
	fx_end(&f);
}

/*
 * Regression (src/supervisor/api.c, on_message "stop"): every other reply echoes
 * the request's id as sent; the stop result carries
 * json_object_get_int64(id), so a string id "s" comes back as 0.
 */
TEST(regress_stop_result_id_not_echoed)
{
	struct fx f;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":\"s\",\"method\":\"stop\",\"params\":"
		      "{\"timeout\":0}}");
	/* Its elapsed_ms is whatever passed: 0 unless the machine is busy. */
	f.s->stop_started_us = msb_now_us();
	api_close_all(f.s);
	{
		char l[4096], *p;

		CHECK(next_line(&f, l, sizeof(l)));
		p = strstr(l, "\"elapsed_ms\":");
		CHECK(p != NULL);
		if (p)
			memmove(p + 13, p + 13 + strspn(p + 13, "0123456789"),
				strlen(p + 13 + strspn(p + 13, "0123456789")) + 1);
		CHECK_STR(l, "{\"id\":\"s\",\"result\":{\"elapsed_ms\":,"
			     "\"forced\":true}}");
	}
out:
	fx_end(&f);
}

/* ---- connection limits -------------------------------------------------- */

/* connect_more() - a new client of @f's socket, accepted by the
 * supervisor; its descriptor (nonblocking), or -1. */
static int connect_more(struct fx *f)
{
	char sock[PATH_MAX + 16];
	int fd;

	snprintf(sock, sizeof(sock), "%s/api.sock", f->tmp);
	fd = msb_unix_connect(sock);
	if (fd < 0)
		return -1;
	msb_set_nonblock(fd, 1);
	api_on_accept(f->s);
	return fd;
}

/* newest() - the supervisor's connection that was accepted, or heard
 * from, last. */
static struct conn *newest(struct fx *f)
{
	struct conn *n = NULL;

	for (int i = 0; i < CONN_SLOTS; i++)
		if (f->s->conns[i] && (!n || f->s->conns[i]->last_us >= n->last_us))
			n = f->s->conns[i];
	return n;
}

static void client_line(struct fx *f, int fd, struct conn *c, const char *l)
{
	if (write(fd, l, strlen(l)) != (ssize_t)strlen(l) || write(fd, "\n", 1) != 1)
		unit_fail(__FILE__, __LINE__, "client write failed");
	api_on_conn(f->s, c, EPOLLIN);
}

/* read_all() - what the supervisor sent @fd, and whether it then closed. */
static size_t read_all(int fd, char *buf, size_t n, int *eof)
{
	size_t got = 0;
	ssize_t r;

	*eof = 0;
	while (got + 1 < n && (r = read(fd, buf + got, n - 1 - got)) > 0)
		got += (size_t)r;
	if (got + 1 < n && read(fd, buf + got, 1) == 0)
		*eof = 1;
	buf[got] = '\0';
	return got;
}

/* 256 idle connections (any process of the user can open them) once made
 * every newcomer be closed unread: msb's verbs died of SIGPIPE. The longest
 * idle one now makes room. */
TEST(sup_conn_idle_evicted_for_newcomer)
{
	static int fds[MAX_CONNS];
	struct fx f;
	char buf[256];
	int n = 0, eof, fd;

	if (fx_begin(&f) != 0)
		goto out;
	f.c->last_us -= 1000; /* the oldest */
	for (; n < MAX_CONNS - 1; n++)
		if ((fds[n] = connect_more(&f)) < 0)
			break;
	CHECK_EQ_INT(n, MAX_CONNS - 1);
	fd = connect_more(&f);
	CHECK(fd >= 0);
	/* The first, idle longest, was closed for it. */
	CHECK(!conn_alive(&f));
	read_all(f.client, buf, sizeof(buf), &eof);
	CHECK(eof);
	CHECK(newest(&f) && !newest(&f)->reserved);
	client_line(&f, fd, newest(&f), "{\"id\":1,\"method\":\"ping\"}");
	read_all(fd, buf, sizeof(buf), &eof);
	CHECK_STR(buf, "{\"id\":1,\"result\":{\"version\":1}}\n");
	if (fd >= 0)
		close(fd);
out:
	while (n > 0)
		close(fds[--n]);
	fx_end(&f);
}

/* With every connection running a command, a newcomer still gets stop,
 * info and ping (slots kept for them); anything else, and a newcomer past
 * those slots, is told "too many connections" rather than closed unread. */
TEST(sup_conn_busy_reserved_for_stop)
{
	static int fds[MAX_CONNS];
	struct fx f;
	char buf[1024];
	int n = 0, eof, fd, stops[CONN_RESERVED];

	memset(stops, -1, sizeof(stops));
	if (fx_begin(&f) != 0)
		goto out;
	client_line(&f, f.client, f.c,
		    "{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":[\"sleep\",\"9\"]}}");
	for (; n < MAX_CONNS - 1; n++) {
		if ((fds[n] = connect_more(&f)) < 0)
			break;
		client_line(&f, fds[n], newest(&f),
			    "{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":[\"sleep\",\"9\"]}}");
		drain_guest(&f);
	}
	CHECK_EQ_INT(n, MAX_CONNS - 1);
	/* An exec beyond the limit is refused with a reason. */
	fd = connect_more(&f);
	CHECK(newest(&f) && newest(&f)->reserved);
	client_line(&f, fd, newest(&f),
		    "{\"id\":5,\"method\":\"exec\",\"params\":{\"argv\":[\"true\"]}}");
	read_all(fd, buf, sizeof(buf), &eof);
	CHECK_CONTAINS(buf, "{\"id\":5,\"error\":{\"code\":\"too_many_connections\"");
	CHECK(eof);
	close(fd);
	/* A stop gets through: one per reserved slot. */
	for (int i = 0; i < CONN_RESERVED; i++) {
		stops[i] = connect_more(&f);
		CHECK(newest(&f) && newest(&f)->reserved);
		client_line(&f, stops[i], newest(&f),
			    i ? "{\"id\":1,\"method\":\"stop\"}" :
				"{\"id\":1,\"method\":\"info\"}");
		if (!i) {
			read_all(stops[i], buf, sizeof(buf), &eof);
			CHECK_CONTAINS(buf, "\"status\":\"running\"");
			client_line(&f, stops[i], newest(&f),
				    "{\"id\":2,\"method\":\"stop\"}");
		}
	}
	CHECK_EQ_INT(stop_calls, CONN_RESERVED);
	/* Past every slot, busy all: refused, with the reason. */
	fd = connect_more(&f);
	read_all(fd, buf, sizeof(buf), &eof);
	CHECK_STR(buf, "{\"id\":null,\"error\":{\"code\":\"too_many_connections\","
		       "\"message\":\"too many connections to this sandbox "
		       "(commands run on all of them); try again when some "
		       "have finished\"}}\n");
	CHECK(eof);
	close(fd);
out:
	/* The stops are answered as the supervisor ends: clients still
	 * there to read. */
	fx_end(&f);
	for (int i = 0; i < CONN_RESERVED; i++)
		if (stops[i] >= 0)
			close(stops[i]);
	while (n > 0)
		close(fds[--n]);
}

/* An idle connection is closed after CONN_IDLE_US; one with an exec is
 * not, however quiet. */
TEST(sup_conn_idle_timeout)
{
	struct fx f;
	struct conn *busy;
	uint64_t now;
	int fd = -1;

	if (fx_begin(&f) != 0)
		goto out;
	now = msb_now_us();
	fd = connect_more(&f);
	busy = newest(&f);
	client_line(&f, fd, busy,
		    "{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":[\"sleep\",\"99\"]}}");
	CHECK_EQ_INT(api_idle_deadline(f.s), f.c->last_us + CONN_IDLE_US);
	api_expire_idle(f.s, now + CONN_IDLE_US / 2);
	CHECK(conn_alive(&f));
	api_expire_idle(f.s, msb_now_us() + CONN_IDLE_US + 1);
	CHECK(!conn_alive(&f));
	{
		int alive = 0;

		for (int i = 0; i < CONN_SLOTS; i++)
			alive |= f.s->conns[i] == busy;
		CHECK(alive);
	}
	/* With only a busy connection left, nothing is due. */
	CHECK_EQ_INT(api_idle_deadline(f.s), 0);
out:
	if (fd >= 0)
		close(fd);
	fx_end(&f);
}

/* ---- files (files.c, docs/api-protocol.md §5.6) --------------------------- */

/* file_req() - the next FILE frame, summarised as "FOP=1 PATH=/x ..."
 * (USER, CWD, PATH2 by value, MODE in octal, FLAGS in hex). */
static uint32_t file_req(struct fx *f, char *sum, size_t n)
{
	struct msb_frame_hdr h;
	const uint8_t *p, *v;
	struct msb_tlv_r r;
	uint32_t len;
	uint8_t tag;
	size_t o = 0;

	sum[0] = '\0';
	while (guest_take(f, &h, &p)) {
		if (h.type != MSB_F_FILE)
			continue;
		msb_tlv_r_init(&r, p, h.len);
		while (msb_tlv_next(&r, &tag, &v, &len) == 1 && o < n) {
			const char *sep = o ? " " : "";

			if (tag == MSB_T_FOP && len == 4)
				o += (size_t)snprintf(sum + o, n - o, "%sFOP=%u",
						      sep, msb_get_be32(v));
			else if (tag == MSB_T_MODE && len == 4)
				o += (size_t)snprintf(sum + o, n - o,
						      "%sMODE=%o", sep,
						      msb_get_be32(v));
			else if (tag == MSB_T_FLAGS && len == 4)
				o += (size_t)snprintf(sum + o, n - o,
						      "%sFLAGS=%#x", sep,
						      msb_get_be32(v));
			else
				o += (size_t)snprintf(
					sum + o, n - o, "%s%s=%.*s", sep,
					tag == MSB_T_PATH ? "PATH" :
					tag == MSB_T_PATH2 ? "PATH2" :
					tag == MSB_T_USER ? "USER" :
					tag == MSB_T_CWD ? "CWD" : "?",
					(int)len, (const char *)v);
		}
		return h.stream;
	}
	return 0;
}

static void guest_result(struct fx *f, uint32_t id, uint32_t e,
			 const char *msg, int64_t size)
{
	uint8_t b[600];
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, b, sizeof(b));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, e);
	if (msg)
		msb_tlv_put_str(&w, MSB_T_MESSAGE, msg);
	if (size >= 0)
		msb_tlv_put_u64(&w, MSB_T_SIZE, (uint64_t)size);
	guest_send(f, id, MSB_F_RESULT, b, (uint32_t)w.len);
}

/* entry_rec() - an ENTRY record for LIST output; Return: its length. */
static size_t entry_rec(uint8_t *out, uint32_t mode, uint64_t size,
			const char *name, const char *link)
{
	struct msb_fstat st = { .mode = mode, .uid = 1000, .gid = 100,
				.nlink = 1, .size = size, .mtime = 1700000000,
				.mtime_nsec = 5 };
	size_t nn = strlen(name), ln = link ? strlen(link) : 0;

	out[0] = MSB_T_ENTRY;
	msb_put_be32(out + 1, (uint32_t)(MSB_FSTAT_LEN + 2 + nn + ln));
	msb_fstat_encode(out + 5, &st);
	msb_put_be16(out + 5 + MSB_FSTAT_LEN, (uint16_t)nn);
	memcpy(out + 7 + MSB_FSTAT_LEN, name, nn);
	if (ln)
		memcpy(out + 7 + MSB_FSTAT_LEN + nn, link, ln);
	return 7 + MSB_FSTAT_LEN + nn + ln;
}

TEST(sup_fs_read)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	char sum[1024];
	uint32_t id, credit = 0;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":4,\"method\":\"fs_read\",\"params\":"
		      "{\"path\":\"notes.txt\",\"user\":\"1000\"}}");
	id = file_req(&f, sum, sizeof(sum));
	CHECK(id != 0);
	/* relative paths from the sandbox's working directory */
	CHECK_STR(sum, "FOP=1 PATH=notes.txt USER=1000 CWD=/work FLAGS=0");
	guest_send(&f, id, MSB_F_STDOUT, "hi\n", 3);
	EXPECT_LINE(&f, "{\"id\":4,\"event\":\"data\",\"data\":\"aGkK\"}");
	guest_result(&f, id, 0, NULL, 3);
	EXPECT_LINE(&f, "{\"id\":4,\"result\":{\"size\":3}}");
	while (guest_take(&f, &h, &p))
		if (h.stream == id && h.type == MSB_F_WINDOW && h.len == 4)
			credit += msb_get_be32(p);
	CHECK_EQ_INT(credit, 3);
	CHECK(stream_get(f.s, id) == NULL);
	/* the guest's errno, by name, with its message */
	send_line(&f, "{\"id\":5,\"method\":\"fs_read\",\"params\":"
		      "{\"path\":\"/nope\"}}");
	id = file_req(&f, sum, sizeof(sum));
	guest_result(&f, id, ENOENT,
		     "open /nope: No such file or directory", -1);
	EXPECT_LINE(&f, "{\"id\":5,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"ENOENT\",\"message\":\"open \\/nope: No "
			"such file or directory\"}}");
	CHECK(stream_get(f.s, id) == NULL);
	/* the agent refusing the stream */
	send_line(&f, "{\"id\":6,\"method\":\"fs_read\",\"params\":"
		      "{\"path\":\"/x\"}}");
	id = file_req(&f, sum, sizeof(sum));
	guest_send(&f, id, MSB_F_ERROR, "FILE: the sandbox is shutting down",
		   34);
	EXPECT_LINE(&f, "{\"id\":6,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EAGAIN\",\"message\":\"FILE: the sandbox "
			"is shutting down\"}}");
out:
	fx_end(&f);
}

TEST(sup_fs_write)
{
	struct fx f;
	char sum[1024];
	uint8_t got[64];
	uint32_t id;
	int eof = 0;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"fs_write\",\"params\":"
		      "{\"path\":\"/tmp/a\",\"mode\":416,\"parents\":true,"
		      "\"exclusive\":true,\"append\":false,"
		      "\"recursive\":true}}");
	id = file_req(&f, sum, sizeof(sum));
	/* "recursive" means nothing to a write and is not sent */
	CHECK_STR(sum, "FOP=2 PATH=/tmp/a MODE=640 CWD=/work FLAGS=0x5");
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
		      "\"data\":\"aGVsbG8K\"}}");
	send_line(&f, "{\"method\":\"stdin\",\"params\":{\"exec\":1,"
		      "\"data\":\"d29ybGQK\",\"eof\":true}}");
	CHECK_EQ_INT(guest_stdin(&f, id, got, sizeof(got), &eof), 12);
	CHECK_MEM(got, "hello\nworld\n", 12);
	CHECK_EQ_INT(eof, 1);
	guest_send_u32(&f, id, MSB_F_WINDOW, 12);
	guest_result(&f, id, 0, NULL, 12);
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"size\":12}}");
	/* bad parameters, answered before anything reaches the guest */
	send_line(&f, "{\"id\":2,\"method\":\"fs_write\",\"params\":{}}");
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"path must be a non-empty string of at "
			"most 4095 bytes without NUL\"}}");
	send_line(&f, "{\"id\":2,\"method\":\"fs_write\",\"params\":"
		      "{\"path\":\"a\\u0000b\"}}");
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"path must be a non-empty string of at "
			"most 4095 bytes without NUL\"}}");
	send_line(&f, "{\"id\":2,\"method\":\"fs_write\",\"params\":"
		      "{\"path\":\"/a\",\"mode\":4096}}");
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"mode must be an integer from 0 to "
			"4095 (07777)\"}}");
	send_line(&f, "{\"id\":2,\"method\":\"fs_write\",\"params\":"
		      "{\"path\":\"/a\",\"parents\":\"yes\"}}");
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"parents must be true or false\"}}");
	send_line(&f, "{\"id\":2,\"method\":\"fs_rename\",\"params\":"
		      "{\"path\":\"/a\"}}");
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"invalid_params\","
			"\"message\":\"to must be a non-empty string of at "
			"most 4095 bytes without NUL\"}}");
	send_line(&f, "{\"id\":\"x\",\"method\":\"fs_stat\",\"params\":"
		      "{\"path\":\"/a\"}}");
	EXPECT_LINE(&f, "{\"id\":\"x\",\"error\":{\"code\":\"invalid_request\","
			"\"message\":\"fs_stat needs an integer id\"}}");
	send_line(&f, "{\"id\":3,\"method\":\"fs_chmod\",\"params\":{}}");
	EXPECT_LINE(&f, "{\"id\":3,\"error\":{\"code\":\"method_not_found\","
			"\"message\":\"unknown method 'fs_chmod'\"}}");
	CHECK(!file_req(&f, sum, sizeof(sum)));
	/* and the other one-shot operations' requests */
	send_line(&f, "{\"id\":7,\"method\":\"fs_rename\",\"params\":"
		      "{\"path\":\"/a\",\"to\":\"/b\",\"exclusive\":true}}");
	id = file_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "FOP=7 PATH=/a PATH2=/b CWD=/work FLAGS=0x4");
	guest_result(&f, id, 0, NULL, -1);
	EXPECT_LINE(&f, "{\"id\":7,\"result\":{}}");
	send_line(&f, "{\"id\":8,\"method\":\"fs_symlink\",\"params\":"
		      "{\"path\":\"/l\",\"target\":\"../t\"}}");
	id = file_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "FOP=8 PATH=/l PATH2=../t CWD=/work FLAGS=0");
	guest_result(&f, id, EEXIST, "symlink /l: File exists", -1);
	EXPECT_LINE(&f, "{\"id\":8,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EEXIST\",\"message\":\"symlink \\/l: File "
			"exists\"}}");
out:
	fx_end(&f);
}

TEST(sup_fs_stat)
{
	struct fx f;
	char sum[1024];
	uint8_t b[200];
	struct msb_tlv_w w;
	struct msb_fstat st = { .mode = 0120777, .uid = 0, .gid = 0,
				.nlink = 1, .size = 11, .mtime = 1700000000,
				.mtime_nsec = 123 };
	uint8_t stb[MSB_FSTAT_LEN];
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"fs_stat\",\"params\":"
		      "{\"path\":\"/l\",\"nofollow\":true}}");
	id = file_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "FOP=4 PATH=/l CWD=/work FLAGS=0x10");
	msb_fstat_encode(stb, &st);
	msb_tlv_w_init(&w, b, sizeof(b));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, 0);
	msb_tlv_put(&w, MSB_T_STAT, stb, sizeof(stb));
	msb_tlv_put_str(&w, MSB_T_LINK, "/etc/hosts");
	guest_send(&f, id, MSB_F_RESULT, b, (uint32_t)w.len);
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"type\":\"symlink\","
			"\"mode\":511,\"size\":11,\"uid\":0,\"gid\":0,"
			"\"nlink\":1,\"mtime\":1700000000,\"mtime_ns\":123,"
			"\"link\":\"\\/etc\\/hosts\"}}");
	/* a stat result without its stat, an errno out of range, a
	 * wrongly sized STAT: the guest broke the protocol */
	send_line(&f, "{\"id\":2,\"method\":\"fs_stat\",\"params\":"
		      "{\"path\":\"/l\"}}");
	id = file_req(&f, sum, sizeof(sum));
	guest_result(&f, id, 0, NULL, -1);
	EXPECT_LINE(&f, "{\"id\":2,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EPROTO\",\"message\":\"the guest sent a "
			"result without the file's status; the operation was "
			"stopped\"}}");
	send_line(&f, "{\"id\":3,\"method\":\"fs_stat\",\"params\":"
		      "{\"path\":\"/l\"}}");
	id = file_req(&f, sum, sizeof(sum));
	guest_result(&f, id, 5000, "no", -1);
	EXPECT_LINE(&f, "{\"id\":3,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EPROTO\",\"message\":\"the guest sent a "
			"malformed result; the operation was stopped\"}}");
	CHECK(stream_get(f.s, id) == NULL);
	send_line(&f, "{\"id\":4,\"method\":\"fs_stat\",\"params\":"
		      "{\"path\":\"/l\"}}");
	id = file_req(&f, sum, sizeof(sum));
	msb_tlv_w_init(&w, b, sizeof(b));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, 0);
	msb_tlv_put(&w, MSB_T_STAT, stb, sizeof(stb) - 1);
	guest_send(&f, id, MSB_F_RESULT, b, (uint32_t)w.len);
	EXPECT_LINE(&f, "{\"id\":4,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EPROTO\",\"message\":\"the guest sent a "
			"malformed result; the operation was stopped\"}}");
	/* an errno this side has no name for is reported as EIO */
	send_line(&f, "{\"id\":5,\"method\":\"fs_stat\",\"params\":"
		      "{\"path\":\"/l\"}}");
	id = file_req(&f, sum, sizeof(sum));
	guest_result(&f, id, 4000, "odd", -1);
	EXPECT_LINE(&f, "{\"id\":5,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EIO\",\"message\":\"odd\"}}");
out:
	fx_end(&f);
}

TEST(sup_fs_list)
{
	struct fx f;
	char sum[1024];
	uint8_t b[4096];
	size_t n = 0;
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"fs_list\",\"params\":"
		      "{\"path\":\"/d\",\"recursive\":true}}");
	id = file_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "FOP=3 PATH=/d CWD=/work FLAGS=0x2");
	n += entry_rec(b + n, 040755, 4096, "sub", NULL);
	n += entry_rec(b + n, 0100644, 3, "sub/a.txt", NULL);
	n += entry_rec(b + n, 0120777, 5, "ln", "a.txt");
	/* records split anywhere across frames */
	guest_send(&f, id, MSB_F_STDOUT, b, 7);
	EXPECT_NO_LINE(&f);
	guest_send(&f, id, MSB_F_STDOUT, b + 7, (uint32_t)(n - 7 - 3));
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"entry\",\"name\":\"sub\","
			"\"type\":\"dir\",\"mode\":493,\"size\":4096,"
			"\"uid\":1000,\"gid\":100,\"nlink\":1,"
			"\"mtime\":1700000000,\"mtime_ns\":5}");
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"entry\",\"name\":\"sub\\/a.txt\","
			"\"type\":\"file\",\"mode\":420,\"size\":3,"
			"\"uid\":1000,\"gid\":100,\"nlink\":1,"
			"\"mtime\":1700000000,\"mtime_ns\":5}");
	EXPECT_NO_LINE(&f);
	guest_send(&f, id, MSB_F_STDOUT, b + n - 3, 3);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"entry\",\"name\":\"ln\","
			"\"type\":\"symlink\",\"mode\":511,\"size\":5,"
			"\"uid\":1000,\"gid\":100,\"nlink\":1,"
			"\"mtime\":1700000000,\"mtime_ns\":5,"
			"\"link\":\"a.txt\"}");
	guest_result(&f, id, 0, NULL, 3);
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"count\":3}}");
out:
	fx_end(&f);
}

/* Names that would lead out of the listed directory, oversized records
 * and records cut short: the client hears EPROTO, the file process is
 * killed, nothing more is passed on. */
TEST(sup_fs_list_hostile)
{
	static const char *const bad[] = { "../etc/passwd", "/abs", "a//b",
					   "a/../../x", ".", "a/", "" };
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	char sum[1024], req[256];
	uint8_t b[4096];
	uint32_t id;

	if (fx_begin(&f) != 0)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t n;

		snprintf(req, sizeof(req), "{\"id\":%zu,\"method\":\"fs_list\","
			 "\"params\":{\"path\":\"/d\"}}", i + 1);
		send_line(&f, req);
		id = file_req(&f, sum, sizeof(sum));
		n = entry_rec(b, 0100644, 1, bad[i], NULL);
		guest_send(&f, id, MSB_F_STDOUT, b, (uint32_t)n);
		snprintf(req, sizeof(req), "{\"id\":%zu,\"error\":{\"code\":"
			 "\"fs_failed\",\"errno\":\"EPROTO\",\"message\":\"the "
			 "guest sent a malformed directory entry; the "
			 "operation was stopped\"}}", i + 1);
		EXPECT_LINE(&f, req);
		CHECK(guest_expect(&f, id, MSB_F_SIGNAL, &h, &p));
		CHECK(h.len == 4 && msb_get_be32(p) == SIGKILL);
		/* what follows is dropped, its credit given back */
		guest_send(&f, id, MSB_F_STDOUT, b, (uint32_t)n);
		guest_result(&f, id, 0, NULL, 1);
		EXPECT_NO_LINE(&f);
		CHECK(stream_get(f.s, id) == NULL);
	}
	/* a record claiming more than an entry can hold */
	send_line(&f, "{\"id\":20,\"method\":\"fs_list\",\"params\":"
		      "{\"path\":\"/d\"}}");
	id = file_req(&f, sum, sizeof(sum));
	b[0] = MSB_T_ENTRY;
	msb_put_be32(b + 1, MSB_FENTRY_MAX + 1);
	guest_send(&f, id, MSB_F_STDOUT, b, 5);
	EXPECT_LINE(&f, "{\"id\":20,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EPROTO\",\"message\":\"the guest sent an "
			"oversized directory entry; the operation was "
			"stopped\"}}");
	guest_result(&f, id, 0, NULL, 0);
	/* a listing that ends inside a record */
	send_line(&f, "{\"id\":21,\"method\":\"fs_list\",\"params\":"
		      "{\"path\":\"/d\"}}");
	id = file_req(&f, sum, sizeof(sum));
	guest_send(&f, id, MSB_F_STDOUT, b, 3);
	guest_result(&f, id, 0, NULL, 0);
	EXPECT_LINE(&f, "{\"id\":21,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EPROTO\",\"message\":\"the guest sent a "
			"truncated directory entry; the operation was "
			"stopped\"}}");
	/* output for an operation that has none */
	send_line(&f, "{\"id\":22,\"method\":\"fs_mkdir\",\"params\":"
		      "{\"path\":\"/d\",\"parents\":true}}");
	id = file_req(&f, sum, sizeof(sum));
	CHECK_STR(sum, "FOP=5 PATH=/d CWD=/work FLAGS=0x1");
	guest_send(&f, id, MSB_F_STDOUT, "x", 1);
	EXPECT_LINE(&f, "{\"id\":22,\"error\":{\"code\":\"fs_failed\","
			"\"errno\":\"EPROTO\",\"message\":\"the guest sent "
			"output for an operation that has none; the operation "
			"was stopped\"}}");
	guest_result(&f, id, 0, NULL, -1);
	EXPECT_NO_LINE(&f);
	CHECK(conn_alive(&f));
out:
	fx_end(&f);
}

/* ---- stats (stats.c) ------------------------------------------------------ */

TEST(sup_stats)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	uint8_t b[256];
	struct msb_tlv_w w;
	char l[8192];
	json_object *o, *r, *g, *v;

	if (fx_begin(&f) != 0)
		goto out;
	f.s->spec.cpus = 2;
	f.s->spec.memory_mib = 512;
	send_line(&f, "{\"id\":3,\"method\":\"stats\"}");
	/* nothing until the guest has answered */
	EXPECT_NO_LINE(&f);
	CHECK(guest_take(&f, &h, &p));
	CHECK(h.type == MSB_F_STATS && h.len == 0 && h.stream != 0);
	msb_tlv_w_init(&w, b, sizeof(b));
	msb_tlv_put_u64(&w, MSB_T_G_MEM_TOTAL, 500 << 20);
	msb_tlv_put_u64(&w, MSB_T_G_MEM_AVAIL, 400 << 20);
	msb_tlv_put_u64(&w, MSB_T_G_PROCS, 7);
	msb_tlv_put_u64(&w, MSB_T_G_LOAD1, 1500);
	msb_tlv_put_u32(&w, MSB_T_G_DISK_FREE, 9);      /* wrong size: dropped */
	msb_tlv_put_u64(&w, MSB_T_G_DISK_TOTAL, ~0ull); /* not exact in JSON */
	msb_tlv_put_u64(&w, 200, 1);                    /* unknown: skipped */
	/* a METRICS for no request changes nothing */
	guest_send(&f, h.stream + 100, MSB_F_METRICS, b, (uint32_t)w.len);
	EXPECT_NO_LINE(&f);
	guest_send(&f, h.stream, MSB_F_METRICS, b, (uint32_t)w.len);
	CHECK(next_line(&f, l, sizeof(l)));
	o = json_tokener_parse(l);
	CHECK(o && json_object_object_get_ex(o, "result", &r));
	if (o && r) {
		CHECK(json_object_object_get_ex(r, "cpus", &v) &&
		      json_object_get_int(v) == 2);
		CHECK(json_object_object_get_ex(r, "memory_limit_bytes", &v) &&
		      json_object_get_int64(v) == 512ll << 20);
		CHECK(json_object_object_get_ex(r, "cpu_percent", &v));
		CHECK(json_object_object_get_ex(r, "net_rx_bytes", &v));
		CHECK(json_object_object_get_ex(r, "guest", &g) && g);
		CHECK(json_object_object_get_ex(g, "memory_total_bytes", &v) &&
		      json_object_get_int64(v) == 500 << 20);
		CHECK(json_object_object_get_ex(g, "memory_available_bytes",
						&v) &&
		      json_object_get_int64(v) == 400 << 20);
		CHECK(json_object_object_get_ex(g, "processes", &v) &&
		      json_object_get_int64(v) == 7);
		CHECK(json_object_object_get_ex(g, "load1", &v) &&
		      json_object_get_double(v) == 1.5);
		CHECK(!json_object_object_get_ex(g, "disk_free_bytes", &v));
		CHECK(!json_object_object_get_ex(g, "disk_total_bytes", &v));
	}
	json_object_put(o);
	/* a guest that does not answer: the host's numbers, "guest": null,
	 * after the wait */
	send_line(&f, "{\"id\":4,\"method\":\"stats\"}");
	drain_guest(&f);
	EXPECT_NO_LINE(&f);
	{
		struct pollfd pf = { .fd = f.s->tick_fd, .events = POLLIN };

		CHECK_EQ_INT(poll(&pf, 1, 5000), 1);
	}
	sup_on_tick(f.s);
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"id\":4,\"result\":{");
	CHECK_CONTAINS(l, "\"guest\":null");
	/* "guest": false answers at once */
	send_line(&f, "{\"id\":5,\"method\":\"stats\",\"params\":"
		      "{\"guest\":false}}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"id\":5,\"result\":{\"name\":\"unit\"");
	send_line(&f, "{\"id\":\"x\",\"method\":\"stats\"}");
	EXPECT_LINE(&f, "{\"id\":\"x\",\"error\":{\"code\":\"invalid_request\","
			"\"message\":\"stats needs an integer id\"}}");
out:
	fx_end(&f);
}

/* ---- logs: escaping and the cap ------------------------------------------ */

static void esc_case(const char *const *chunks, const char *want, int line)
{
	struct log_esc e = { 0 };
	char out[4096];
	size_t o = 0;

	for (; *chunks; chunks++)
		o += log_esc_guest(&e, (const uint8_t *)*chunks, strlen(*chunks),
				   out + o);
	o += log_esc_flush(&e, out + o);
	out[o] = '\0';
	if (strcmp(out, want))
		unit_fail(__FILE__, line, "escaped to \"%s\", want \"%s\"", out,
			  want);
}

#define ESC(want, ...) esc_case((const char *const[]){ __VA_ARGS__, NULL }, want, __LINE__)

/* A guest cannot write a line that passes for msb's own, move a terminal's
 * cursor or send it escape sequences (issue: guest strings unescaped). */
TEST(logtext_guest_bytes)
{
	char out[256];
	size_t n;

	ESC("hello\nworld\n", "hello\r\nworld\n");
	ESC("\\x1b[31mred\\x07\n", "\x1b[31mred\a\n");
	ESC("a\tb\\x7f\\x01", "a\tb\x7f\x01");
	ESC("\\x5bmsb 12:00:00.000] stopped\n", "[msb 12:00:00.000] stopped\n");
	ESC("ok\n\\x5bmsb x\n", "ok\n[msb x\n");
	ESC("x[msb y\n", "x[msb y\n");
	ESC("[    0.120] kernel\n[msc\n", "[    0.120] kernel\n[msc\n");
	/* split anywhere, the same */
	ESC("\\x5bmsb\n", "[", "m", "sb\n");
	ESC("\\x5bmsb\n", "\n[m" + 1, "sb\n");
	/* a CR anywhere but before LF returns the cursor: escaped */
	ESC("abc\\x0d[msb fake\n", "abc\r[msb fake\n");
	ESC("\n\n", "\r", "\r\n", "\r\r\r\n");
	ESC("a\\x0db\n", "a\r\rb\n");
	/* C1 controls in UTF-8 (U+009B is CSI); other UTF-8 as it is */
	ESC("\\xc2\\x9b2J caf\xc3\xa9 \xc2\xa0", "\xc2\x9b" "2J caf\xc3\xa9 \xc2\xa0");
	ESC("\\xc2\\x85", "\xc2", "\x85");
	/* what is held at the end is escaped: another writer comes next */
	ESC("\\x5bms", "[ms");
	ESC("\\xc2", "\xc2");
	/* msb's own messages stay one line */
	n = log_esc_text("dns evil\n[msb x]\x1b\xc2\x9b\ttab",
			 strlen("dns evil\n[msb x]\x1b\xc2\x9b\ttab"), out);
	out[n] = '\0';
	CHECK_STR(out, "dns evil\\x0a[msb x]\\x1b\\xc2\\x9b\ttab");
	n = log_esc_text("a\0b", 3, out);
	out[n] = '\0';
	CHECK_STR(out, "a\\x00b");
}

/* console.log is capped: past LOG_CAP_CONSOLE it becomes console.log.1
 * and a new file starts with a line saying so; the file before that is
 * dropped, and the line says how much. Before, a guest filled the disk. */
TEST(log_console_capped_and_rotated)
{
	struct fx f;
	static char chunk[65536];
	char old[PATH_MAX + 8], *txt = NULL;
	struct stat st;

	if (fx_begin(&f) != 0)
		goto out;
	memset(chunk, 'g', sizeof(chunk));
	chunk[sizeof(chunk) - 1] = '\n';
	snprintf(old, sizeof(old), "%s.1", f.s->console_log);
	sup_log(f.s, "first line");
	for (uint64_t w = 0; w < LOG_CAP_CONSOLE; w += sizeof(chunk))
		sup_log_guest(f.s, chunk, sizeof(chunk));
	CHECK(stat(old, &st) == 0);
	CHECK((uint64_t)st.st_size <= LOG_CAP_CONSOLE);
	txt = msb_read_file(f.s->console_log, NULL);
	CHECK(txt && !strncmp(txt, "[msb ", 5));
	CHECK_CONTAINS(txt ? txt : "",
		       "] log rotated: console.log passed 4 MiB; the output "
		       "before this line is in console.log.1\n");
	free(txt);
	/* msb logs --since learns that the log began again, at once (the
	 * size marks come once a second: a rotation between two of them
	 * would look like growth). */
	{
		char idx[PATH_MAX + 8];

		snprintf(idx, sizeof(idx), "%s/console.idx", f.tmp);
		txt = msb_read_file(idx, NULL);
		CHECK(txt && strstr(txt, " 0\n"));
		free(txt);
	}
	/* Twice the cap more: the first file is gone, and the line that
	 * heads what msb logs shows now says so. */
	for (uint64_t w = 0; w < 2 * LOG_CAP_CONSOLE; w += sizeof(chunk))
		sup_log_guest(f.s, chunk, sizeof(chunk));
	txt = msb_read_file(old, NULL);
	CHECK(txt && !strstr(txt, "first line"));
	CHECK(txt && !strncmp(txt, "[msb ", 5));
	CHECK_CONTAINS(txt ? txt : "",
		       "] log rotated: console.log passed 4 MiB; the output "
		       "before this line was dropped        \n");
	free(txt);
	txt = msb_read_file(f.s->console_log, NULL);
	CHECK_CONTAINS(txt ? txt : "", "the output before this line is in "
				       "console.log.1\n");
	free(txt);
	CHECK(stat(f.s->console_log, &st) == 0 &&
	      (uint64_t)st.st_size <= LOG_CAP_CONSOLE);
	CHECK(f.s->clog.rotations >= 2);
out:
	fx_end(&f);
}

/* A detached command's output and msb's lines share console.log: a guest
 * line cannot pass for msb's, and msb's lines start lines of their own. */
TEST(log_detached_output_cannot_forge)
{
	struct fx f;
	char *txt = NULL;

	if (fx_begin(&f) != 0)
		goto out;
	sup_log_guest(f.s, "partial", 7);
	sup_log(f.s, "agent: %s", "evil\n[msb 00:00:00.000] stopped");
	sup_log_guest(f.s, "[msb 00:00:00.000] forged\n", 26);
	sup_logs_close(f.s);
	txt = msb_read_file(f.s->console_log, NULL);
	CHECK(txt != NULL);
	if (txt) {
		const char *l = strchr(txt, '\n');

		if (strncmp(txt, "partial\n[msb ", 13))
			unit_fail(__FILE__, __LINE__, "log: %.300s", txt);
		CHECK_CONTAINS(txt, "] agent: evil\\x0a[msb 00:00:00.000] stopped\n");
		CHECK(l && strstr(l + 1, "\n\\x5bmsb 00:00:00.000] forged\n"));
		/* every line that starts "[msb " is one of ours */
		for (const char *p = txt; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
			if (!strncmp(p, "[msb ", 5))
				CHECK(strstr(p, "] agent: evil") != NULL &&
				      strstr(p, "] agent: evil") < strchr(p, '\n'));
	}
	free(txt);
out:
	fx_end(&f);
}

/* ---- a full host disk ----------------------------------------------------- */

/* QEMU pauses the VM when the host disk is full (werror=enospc): it once
 * did so unseen, execs hanging past SIGTERM and their timeouts. Now the
 * pause is said (info, stats, the log), what needs the guest is refused,
 * a signal lets its client go, and a timeout is answered on time. */
TEST(sup_diskfull_pause)
{
	struct fx f;
	struct msb_frame_hdr h;
	const uint8_t *p;
	char l[8192], *txt = NULL;
	json_object *ev = json_tokener_parse(
		"{\"device\":\"d0\",\"nospace\":true,\"operation\":\"write\","
		"\"action\":\"stop\",\"reason\":\"No space left on device\"}");
	json_object *eio = json_tokener_parse(
		"{\"device\":\"d0\",\"nospace\":false,\"operation\":\"write\","
		"\"action\":\"report\",\"reason\":\"Input/output error\"}");
	uint32_t id1, id2;

	if (fx_begin(&f) != 0)
		goto out;
	snprintf(f.s->dir, sizeof(f.s->dir), "%s", f.tmp);
	/* An error the guest is told of is no pause. */
	CHECK_EQ_INT(sup_diskfull_event(f.s, "BLOCK_IO_ERROR", eio), 0);
	CHECK(!sup_diskfull_paused(f.s));
	id1 = start_exec(&f, "{\"id\":1,\"method\":\"exec\",\"params\":{"
			     "\"argv\":[\"sleep\",\"9\"],\"timeout_ms\":20}}", 9);
	id2 = start_exec(&f, "{\"id\":2,\"method\":\"exec\",\"params\":{"
			     "\"argv\":[\"dd\"]}}", 10);
	EXPECT_LINE(&f, "{\"id\":1,\"event\":\"started\",\"pid\":9}");
	EXPECT_LINE(&f, "{\"id\":2,\"event\":\"started\",\"pid\":10}");
	drain_guest(&f);
	/* One event per held request; said once. */
	CHECK_EQ_INT(sup_diskfull_event(f.s, "BLOCK_IO_ERROR", ev), 1);
	CHECK_EQ_INT(sup_diskfull_event(f.s, "STOP", NULL), 1);
	CHECK_EQ_INT(sup_diskfull_event(f.s, "BLOCK_IO_ERROR", ev), 1);
	CHECK(sup_diskfull_paused(f.s));
	/* each client waiting on an exec is told, once */
	for (int i = 1; i <= 2; i++) {
		char want[64];

		CHECK(next_line(&f, l, sizeof(l)));
		snprintf(want, sizeof(want),
			 "{\"id\":%d,\"event\":\"notice\",\"paused\":true,", i);
		CHECK_CONTAINS(l, want);
		CHECK_CONTAINS(l, "\"message\":\"sandbox unit is paused: the "
				  "host disk under ");
	}
	txt = msb_read_file(f.s->console_log, NULL);
	CHECK_CONTAINS(txt ? txt : "", "] the guest is paused: the host disk "
				       "under ");
	{
		const char *q = txt ? strstr(txt, "the guest is paused") : NULL;

		CHECK(q && !strstr(q + 1, "the guest is paused"));
	}
	free(txt);
	txt = NULL;
	/* info says why */
	send_line(&f, "{\"id\":7,\"method\":\"info\"}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"paused\":{\"reason\":\"host disk full\",\"since\":");
	/* stats answers at once, without asking the frozen guest */
	send_line(&f, "{\"id\":8,\"method\":\"stats\"}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"paused\":{\"reason\":\"host disk full\"");
	CHECK_CONTAINS(l, "\"guest\":null");
	/* a new exec is refused, saying why */
	send_line(&f, "{\"id\":3,\"method\":\"exec\",\"params\":{\"argv\":"
		      "[\"true\"]}}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "{\"id\":3,\"error\":{\"code\":\"paused\",");
	CHECK_CONTAINS(l, "is paused: the host disk under");
	/* a signal goes to the guest, and its client is let go */
	send_line(&f, "{\"method\":\"signal\",\"params\":{\"exec\":2,"
		      "\"signal\":15}}");
	CHECK(guest_expect(&f, id2, MSB_F_SIGNAL, &h, &p));
	CHECK(h.len == 4 && msb_get_be32(p) == 15);
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "{\"id\":2,\"error\":{\"code\":\"paused\",");
	CHECK_CONTAINS(l, "(signal 15 reaches the command when it runs "
			  "again)");
	/* the timeout is answered on the host's clock */
	{
		struct pollfd pf = { .fd = f.s->tick_fd, .events = POLLIN };

		CHECK_EQ_INT(poll(&pf, 1, 5000), 1);
	}
	sup_on_tick(f.s);
	CHECK(guest_expect(&f, id1, MSB_F_SIGNAL, &h, &p));
	CHECK(h.len == 4 && msb_get_be32(p) == SIGKILL);
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"exit_code\":137,"
			"\"signal\":9,\"timed_out\":true}}");
	/* once the guest runs again, their ends go to no one */
	guest_exit(&f, id1, 137, 9);
	guest_exit(&f, id2, 143, 15);
	EXPECT_NO_LINE(&f);
out:
	free(txt);
	json_object_put(ev);
	json_object_put(eio);
	fx_end(&f);
}

/* The serial console (root writing to /dev/console) reaches the log
 * through the supervisor's feed, capped like the rest: it once went
 * straight from QEMU to console.log, without a limit. */
TEST(log_console_feed_capped)
{
	struct fx f;
	static char chunk[65536];
	char old[PATH_MAX + 8];
	struct stat st;
	int vm_con = -1, vm_eng = -1;

	if (fx_begin(&f) != 0)
		goto out;
	snprintf(f.s->dir, sizeof(f.s->dir), "%s", f.tmp);
	snprintf(old, sizeof(old), "%s.1", f.s->console_log);
	CHECK_EQ_INT(sup_logs_link(f.s, &vm_con, &vm_eng), 0);
	memset(chunk, 'c', sizeof(chunk));
	chunk[sizeof(chunk) - 1] = '\n';
	for (uint64_t w = 0; w < 3 * LOG_CAP_CONSOLE; w += sizeof(chunk)) {
		CHECK(msb_write_all(vm_con, chunk, sizeof(chunk)) == 0);
		while (sup_logs_read(f.s, &f.s->clog))
			;
	}
	CHECK(stat(f.s->console_log, &st) == 0 &&
	      (uint64_t)st.st_size <= LOG_CAP_CONSOLE);
	CHECK(stat(old, &st) == 0 && (uint64_t)st.st_size <= LOG_CAP_CONSOLE);
	CHECK(f.s->clog.rotations >= 2);
	/* QEMU's stderr, likewise */
	for (uint64_t w = 0; w < 3 * LOG_CAP_ENGINE; w += sizeof(chunk)) {
		CHECK(msb_write_all(vm_eng, chunk, sizeof(chunk)) == 0);
		while (sup_logs_read(f.s, &f.s->elog))
			;
	}
	CHECK(stat(f.s->elog.path, &st) == 0 &&
	      (uint64_t)st.st_size <= LOG_CAP_ENGINE);
out:
	if (vm_con >= 0)
		close(vm_con);
	if (vm_eng >= 0)
		close(vm_eng);
	fx_end(&f);
}

/* ---- events (events.c, evlog.c; docs/events.md) --------------------------- */

/* guest_event() - the guest emits @topic with @data (NULL: none). */
static void guest_event(struct fx *f, const char *topic, const char *data)
{
	uint8_t buf[MSB_EVDATA_MAX + 256];
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_TOPIC, topic);
	if (data)
		msb_tlv_put_str(&w, MSB_T_DATA, data);
	guest_send(f, 0, MSB_F_GEVENT, buf, (uint32_t)w.len);
}

/* strip_time() - @line with its "time":N.N, removed, for comparison */
static void strip_time(char *line)
{
	char *t = strstr(line, "\"time\":");
	char *e = t ? strchr(t, ',') : NULL;

	if (t && e)
		memmove(t, e + 1, strlen(e + 1) + 1);
}

TEST(sup_events_guest_checked_and_read_in_order)
{
	struct fx f;
	char l[8192];

	if (fx_begin(&f) != 0 || sup_events_setup(f.s) != 0)
		goto out;
	guest_event(&f, "a", "{\"x\": [1, 2]}");
	guest_event(&f, "b", NULL);
	guest_event(&f, "msb.started", "{}");      /* the sandbox's own */
	guest_event(&f, "c", "{\"x\":");           /* not JSON */
	guest_event(&f, "c", "1 2");               /* two values */
	guest_event(&f, "bad topic", "1");         /* not a topic */
	guest_event(&f, "msb.oom", "{\"kills\":1}"); /* the agent's */
	guest_event(&f, "d", "12");
	send_line(&f, "{\"id\":3,\"method\":\"events\"}");
	CHECK(next_line(&f, l, sizeof(l)));
	strip_time(l);
	CHECK_STR(l, "{\"id\":3,\"event\":{\"seq\":1,\"source\":\"guest\","
		     "\"topic\":\"a\",\"data\":{\"x\":[1,2]}}}");
	CHECK(next_line(&f, l, sizeof(l)));
	strip_time(l);
	CHECK_STR(l, "{\"id\":3,\"event\":{\"seq\":2,\"source\":\"guest\","
		     "\"topic\":\"b\",\"data\":null}}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"seq\":3,");
	CHECK_CONTAINS(l, "\"topic\":\"msb.oom\"");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"seq\":4,");
	CHECK_CONTAINS(l, "\"data\":12}");
	EXPECT_LINE(&f, "{\"id\":3,\"result\":{\"next\":5}}");
	/* a topic filter, and a start */
	send_line(&f, "{\"id\":4,\"method\":\"events\",\"params\":"
		      "{\"since\":2,\"topic\":\"msb.*\"}}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"topic\":\"msb.oom\"");
	EXPECT_LINE(&f, "{\"id\":4,\"result\":{\"next\":5}}");
	send_line(&f, "{\"id\":5,\"method\":\"events\",\"params\":"
		      "{\"topic\":\"no topic\"}}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "invalid_params");
out:
	sup_events_free(f.s);
	fx_end(&f);
}

TEST(sup_events_send_reaches_guest)
{
	struct fx f;
	struct msb_frame_hdr h;
	struct msb_event_rec ev;
	const uint8_t *p;
	char l[8192];

	if (fx_begin(&f) != 0 || sup_events_setup(f.s) != 0)
		goto out;
	send_line(&f, "{\"id\":1,\"method\":\"event_send\",\"params\":"
		      "{\"topic\":\"go\",\"data\":{\"n\":5}}}");
	EXPECT_LINE(&f, "{\"id\":1,\"result\":{\"seq\":1}}");
	CHECK(guest_expect(&f, 0, MSB_F_EVENT, &h, &p));
	CHECK_EQ_INT(msb_event_parse(p, h.len, &ev), 0);
	CHECK_MEM(ev.topic, "go", 2);
	CHECK_EQ_INT(ev.data_len, 7);
	CHECK_MEM(ev.data, "{\"n\":5}", 7);
	CHECK(ev.has_seq && ev.seq == 1 && ev.has_time);
	send_line(&f, "{\"id\":2,\"method\":\"event_send\",\"params\":"
		      "{\"topic\":\"msb.started\"}}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "invalid_params");
	f.s->state = ST_BOOTING;
	send_line(&f, "{\"id\":3,\"method\":\"event_send\",\"params\":"
		      "{\"topic\":\"go\"}}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "not_running");
	f.s->state = ST_RUNNING;
	/* the host's event is in the log, between the guest's */
	send_line(&f, "{\"id\":4,\"method\":\"events\"}");
	CHECK(next_line(&f, l, sizeof(l)));
	CHECK_CONTAINS(l, "\"source\":\"host\"");
out:
	sup_events_free(f.s);
	fx_end(&f);
}

TEST(sup_events_follower_bounded_and_told_what_it_missed)
{
	struct fx f;
	char l[8192];
	uint64_t last = 0, missed = 0, got = 0;
	int ended = 0;
	size_t peak = 0;

	if (fx_begin(&f) != 0 || sup_events_setup(f.s) != 0)
		goto out;
	send_line(&f, "{\"id\":9,\"method\":\"events\",\"params\":"
		      "{\"follow\":true,\"since\":-1}}");
	/* A follower that reads nothing while the log wraps twice: its
	 * queue stays near CONN_LOW, whatever the guest sends. The rate
	 * limit is lifted for the test by refilling the bucket. */
	for (int i = 0; i < 3 * EVLOG_MAX; i++) {
		f.s->ev_tokens = EV_GUEST_RATE;
		guest_event(&f, "flood", "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
		if (f.c->out.len > peak)
			peak = f.c->out.len;
	}
	CHECK(peak < CONN_LOW + 4096);
	CHECK(f.s->events->n <= EVLOG_MAX);
	/* It reads: each event once, in order, a gap said as "dropped". */
	for (int rounds = 0; rounds < 100000 && !ended; rounds++) {
		if (!next_line(&f, l, sizeof(l))) {
			api_on_conn(f.s, f.c, EPOLLOUT);
			if (!next_line(&f, l, sizeof(l)))
				break;
		}
		if (strstr(l, "\"dropped\":")) {
			missed += strtoull(strstr(l, "\"dropped\":") + 10,
					   NULL, 10);
			continue;
		}
		if (strstr(l, "\"seq\":")) {
			uint64_t seq = strtoull(strstr(l, "\"seq\":") + 6,
						NULL, 10);

			CHECK(seq > last);
			last = seq;
			got++;
		}
		if (last == 3 * EVLOG_MAX)
			ended = 1;
	}
	CHECK(ended);
	CHECK(missed > 0);
	CHECK_EQ_INT(got + missed, 3 * EVLOG_MAX);
out:
	sup_events_free(f.s);
	fx_end(&f);
}

TEST(sup_events_guest_rate_limited_and_counted)
{
	struct fx f;
	char l[8192];
	int dropped_said = 0;

	if (fx_begin(&f) != 0 || sup_events_setup(f.s) != 0)
		goto out;
	/* all in the same instant, as far as the bucket knows */
	for (int i = 0; i < 2 * EV_GUEST_RATE; i++) {
		f.s->ev_refill_us = msb_now_us();
		guest_event(&f, "burst", "1");
	}
	/* what was refused is counted; what was taken is about the limit
	 * (plus what the bucket refilled while the loop ran) */
	CHECK(f.s->ev_dropped_total >= EV_GUEST_RATE / 2);
	CHECK(f.s->events->n < 2 * EV_GUEST_RATE - EV_GUEST_RATE / 2 + 2);
	/* the next one after the bucket refills says how many went */
	f.s->ev_tokens = 10;
	f.s->ev_said_us = 0;
	guest_event(&f, "after", "1");
	send_line(&f, "{\"id\":1,\"method\":\"events\",\"params\":"
		      "{\"topic\":\"msb.events.dropped\"}}");
	while (next_line(&f, l, sizeof(l)))
		if (strstr(l, "msb.events.dropped"))
			dropped_said = 1;
	CHECK(dropped_said);
	CHECK_EQ_INT(f.s->ev_dropped, 0);
out:
	sup_events_free(f.s);
	fx_end(&f);
}
