/* SPDX-License-Identifier: Apache-2.0 */
/* stream.c - exec streams: the table, lifecycle, signals and exit reporting
 *
 * A stream is one process started by EXEC and the agent's ends of its stdio:
 * stdout and stderr pipes (or one pty master) and an optional stdin pipe.
 * Flow control (output credit, stdin window) is in flow.c.
 *
 * End: EXIT is sent once the process has been reaped and both output fds
 * reached end of file, so it is always the stream's last frame. Stream slots
 * carry a generation so an epoll event that was already queued for a stream
 * that ended in the same batch is recognised and dropped.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "exec.h"
#include "fileop.h"
#include "log.h"
#include "port.h"
#include "serve.h"
#include "stream.h"
#include "stream_priv.h"

#define HASH_SIZE 256

static struct stream slots[STREAM_MAX];
static int buckets[HASH_SIZE];
static int nactive;
static int epfd = -1;

void streams_init(int fd)
{
	unsigned int i;

	epfd = fd;
	for (i = 0; i < HASH_SIZE; i++)
		buckets[i] = -1;
}

static struct stream *lookup(uint32_t id)
{
	int i;

	for (i = buckets[id % HASH_SIZE]; i >= 0; i = slots[i].next)
		if (slots[i].id == id)
			return &slots[i];
	return NULL;
}

static void __attribute__((format(printf, 2, 3)))
stream_error(uint32_t id, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	port_send_str(id, MSB_F_ERROR, msg);
}

void stream_arm(struct stream *s, int which, uint32_t want)
{
	struct epoll_event ev = {
		.events = want,
		.data.u64 = ev_ref(EV_STREAM, (unsigned int)which,
				   (unsigned int)(s - slots), s->gen),
	};
	int op;

	if (s->fd[which] < 0 || s->armed[which] == want)
		return;
	if (!want)
		op = EPOLL_CTL_DEL;
	else
		op = s->armed[which] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(epfd, op, s->fd[which], &ev) < 0)
		agent_log("stream %u: epoll_ctl: %s", s->id, strerror(errno));
	s->armed[which] = want;
}

void stream_close_fd(struct stream *s, int which)
{
	if (s->fd[which] < 0)
		return;
	/* Remove before close: a child between fork and exec still holds
	 * the file, and epoll keeps reporting it until every holder closed. */
	stream_arm(s, which, 0);
	close(s->fd[which]);
	s->fd[which] = -1;
}

static void release(struct stream *s)
{
	int *pp, i = (int)(s - slots);

	for (pp = &buckets[s->id % HASH_SIZE]; *pp >= 0; pp = &slots[*pp].next) {
		if (*pp == i) {
			*pp = s->next;
			break;
		}
	}
	stream_close_fd(s, SFD_OUT);
	stream_close_fd(s, SFD_ERR);
	stream_close_fd(s, SFD_IN);
	free(s->in_buf);
	s->in_buf = NULL;
	free(s->res);
	s->res = NULL;
	/* reaped by now: its child no longer reads it */
	exec_spawn_free(s->spawn);
	s->spawn = NULL;
	s->res_len = 0;
	s->file = 0;
	s->id = 0;
	s->gen++;
	nactive--;
}

/* send_result() - a RESULT of one errno and its message */
static void send_result(uint32_t id, int err, const char *msg)
{
	uint8_t b[512];
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, b, sizeof(b));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, (uint32_t)err);
	msb_tlv_put(&w, MSB_T_MESSAGE, msg, strnlen(msg, 400));
	port_send(id, MSB_F_RESULT, b, w.len);
}

/* file_finish() - the file process's RESULT, or why there is none */
static void file_finish(struct stream *s)
{
	char msg[128];

	if (WIFEXITED(s->status) && !WEXITSTATUS(s->status) && s->res_len) {
		port_send(s->id, MSB_F_RESULT, s->res, s->res_len);
		return;
	}
	if (WIFSIGNALED(s->status))
		snprintf(msg, sizeof(msg), "the file operation was killed "
			 "by signal %d", WTERMSIG(s->status));
	else
		snprintf(msg, sizeof(msg), "the file operation ended "
			 "without a result");
	send_result(s->id, WIFSIGNALED(s->status) ? EINTR : EIO, msg);
}

/* file_result_read() - take what the file process wrote on its result
 * pipe; at its end, close it */
static void file_result_read(struct stream *s)
{
	char scratch[512];
	ssize_t n;

	if (!s->res) {
		s->res = malloc(FILE_RESULT_MAX);
		if (!s->res) {
			stream_close_fd(s, SFD_ERR);
			return;
		}
	}
	for (;;) {
		size_t room = FILE_RESULT_MAX - s->res_len;

		/* More than a result holds is read and dropped. */
		n = room ? read(s->fd[SFD_ERR], s->res + s->res_len, room) :
			   read(s->fd[SFD_ERR], scratch, sizeof(scratch));
		if (n > 0 && room)
			s->res_len += (size_t)n;
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		stream_close_fd(s, SFD_ERR);
		return;
	}
}

/* maybe_finish() - send EXIT once the process is gone and output drained */
static void maybe_finish(struct stream *s)
{
	uint32_t code, sig = 0;
	uint8_t b[8];

	if (!s->exited || s->fd[SFD_OUT] >= 0 || s->fd[SFD_ERR] >= 0)
		return;
	if (s->file) {
		file_finish(s);
		release(s);
		return;
	}
	if (WIFEXITED(s->status)) {
		code = (uint32_t)WEXITSTATUS(s->status);
	} else {
		sig = (uint32_t)WTERMSIG(s->status);
		code = 128 + sig;
	}
	msb_put_be32(b, code);
	msb_put_be32(b + 4, sig);
	port_send(s->id, MSB_F_EXIT, b, sizeof(b));
	release(s);
}

void stream_event(uint64_t ref, uint32_t events)
{
	unsigned int which = (unsigned int)(ref >> 8) & 0xff;
	unsigned int i = (unsigned int)(ref >> 16) & 0xffff;
	struct stream *s;

	if (i >= STREAM_MAX || which >= SFD_N)
		return;
	s = &slots[i];
	if (!s->id || s->gen != (uint32_t)(ref >> 32) || s->fd[which] < 0)
		return;
	if (which == SFD_IN) {
		flow_stdin_flush(s);
	} else if (s->file && which == SFD_ERR) {
		file_result_read(s);
	} else {
		if (s->tty && (events & (EPOLLHUP | EPOLLERR)))
			flow_stdin_discard(s); /* the slave side is closed */
		else if (s->tty && (events & EPOLLOUT))
			flow_stdin_flush(s);
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			flow_output(s, (int)which);
	}
	flow_rearm(s);
	maybe_finish(s);
}

void stream_stdin(uint32_t id, const uint8_t *p, size_t n)
{
	struct stream *s = lookup(id);

	if (!s)
		return;
	flow_stdin(s, p, n);
	flow_rearm(s);
}

void stream_window(uint32_t id, uint32_t credit)
{
	struct stream *s = lookup(id);

	if (!s)
		return;
	s->credit += credit;
	flow_rearm(s);
}

void stream_signal(uint32_t id, uint32_t sig)
{
	struct stream *s = lookup(id);

	if (!s || !sig || sig >= _NSIG)
		return;
	/* The process leads its own group: signal everything it started.
	 * Once reaped its pid may be reused, so only the group (which keeps
	 * the id reserved while members live) is signalled then. */
	if (kill(-s->pid, (int)sig) < 0 && !s->exited)
		kill(s->pid, (int)sig);
}

void stream_resize(uint32_t id, uint16_t rows, uint16_t cols)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	struct stream *s = lookup(id);

	if (s && s->tty && s->fd[SFD_OUT] >= 0 &&
	    ioctl(s->fd[SFD_OUT], TIOCSWINSZ, &ws) < 0)
		agent_log("stream %u: resize: %s", id, strerror(errno));
}

/* stream_start() - take slot @s for a started process */
static void stream_start(struct stream *s, uint32_t id,
			 const struct exec_child *c, int tty, int want_stdin,
			 int file)
{
	s->id = id;
	s->pid = c->pid;
	s->tty = tty;
	s->file = file;
	s->fd[SFD_OUT] = c->out;
	s->fd[SFD_ERR] = c->err;
	s->fd[SFD_IN] = c->in;
	memset(s->armed, 0, sizeof(s->armed));
	s->credit = MSB_WINDOW_INIT;
	s->in_eof = 0;
	s->in_dead = !want_stdin;
	s->in_buf = NULL;
	s->in_head = s->in_len = 0;
	s->exited = s->status = 0;
	s->res = NULL;
	s->res_len = 0;
	s->spawn = c->spawn;
	s->next = buckets[id % HASH_SIZE];
	buckets[id % HASH_SIZE] = (int)(s - slots);
	nactive++;
	flow_rearm(s);
}

static struct stream *slot_alloc(void)
{
	static unsigned int cursor;
	unsigned int k;

	for (k = 0; k < STREAM_MAX; k++) {
		struct stream *s = &slots[(cursor + k) % STREAM_MAX];

		if (!s->id) {
			cursor = (cursor + k) % STREAM_MAX;
			return s;
		}
	}
	return NULL;
}

/* An EXEC request longer than a frame, as its EXEC_PART frames bring it:
 * one at a time (the host sends a request's pieces back to back). */
static struct {
	uint32_t id;
	uint8_t *buf;   /* MSB_EXEC_MAX bytes while a request is kept */
	size_t len;
	int over;       /* more than MSB_EXEC_MAX came: refused at its EXEC */
} part;

static void part_drop(void)
{
	free(part.buf);
	memset(&part, 0, sizeof(part));
}

void stream_exec_part(uint32_t id, const uint8_t *p, size_t n)
{
	if (part.id && part.id != id) {
		stream_error(part.id, "EXEC: its request was cut short by "
			     "stream %u's", id);
		part_drop();
	}
	if (!id)
		return;
	part.id = id;
	if (part.over || n > MSB_EXEC_MAX - part.len) {
		part.over = 1;
		return;
	}
	if (!part.buf && !(part.buf = malloc(MSB_EXEC_MAX))) {
		part.over = 1;
		return;
	}
	memcpy(part.buf + part.len, p, n);
	part.len += n;
}

static void exec_one(uint32_t id, const uint8_t *p, size_t n);

void stream_exec(uint32_t id, const uint8_t *p, size_t n)
{
	if (part.id && part.id != id) {
		stream_error(part.id, "EXEC: its request was cut short by "
			     "stream %u's", id);
		part_drop();
	}
	if (!part.id || part.id != id) {
		exec_one(id, p, n);
		return;
	}
	if (part.over || n > MSB_EXEC_MAX - part.len) {
		part_drop();
		stream_error(id, "EXEC: the request is longer than %d bytes",
			     MSB_EXEC_MAX);
		return;
	}
	memcpy(part.buf + part.len, p, n);
	exec_one(id, part.buf, part.len + n);
	part_drop();
}

static void exec_one(uint32_t id, const uint8_t *p, size_t n)
{
	struct agent_err e;
	struct exec_child c = { 0 };
	struct exec_req r;
	struct stream *s;
	int ret, tty, want_stdin;

	if (!id) {
		stream_error(0, "EXEC on stream 0: exec streams are nonzero");
		return;
	}
	if (lookup(id)) {
		stream_error(id, "EXEC: stream %u is already in use", id);
		return;
	}
	s = slot_alloc(); /* taken once s->id is set, below */
	if (!s) {
		stream_error(id, "EXEC: too many concurrent execs (limit %d)",
			     STREAM_MAX);
		return;
	}
	if (exec_req_parse(p, n, &r, &e)) {
		port_send_str(id, MSB_F_ERROR, e.msg);
		return;
	}
	tty = r.tty;
	want_stdin = r.want_stdin;
	ret = exec_spawn(&r, &c, &e);
	exec_req_free(&r);
	if (ret) {
		port_send_str(id, MSB_F_ERROR, e.msg);
		return;
	}

	stream_start(s, id, &c, tty, want_stdin, 0);
	port_send_u32(id, MSB_F_STARTED, (uint32_t)c.pid);
}

void stream_file(uint32_t id, const uint8_t *p, size_t n)
{
	struct agent_err e;
	struct exec_child c = { 0 };
	struct file_req r;
	struct stream *s;
	int ret, want_stdin;

	if (!id) {
		stream_error(0, "FILE on stream 0: file streams are nonzero");
		return;
	}
	if (lookup(id)) {
		stream_error(id, "FILE: stream %u is already in use", id);
		return;
	}
	s = slot_alloc();
	if (!s) {
		stream_error(id, "FILE: too many concurrent streams (limit %d)",
			     STREAM_MAX);
		return;
	}
	ret = file_req_parse(p, n, &r, &e);
	if (ret) {
		send_result(id, -ret, e.msg);
		return;
	}
	want_stdin = r.op == MSB_FOP_WRITE;
	ret = file_spawn(&r, &c, &e);
	file_req_free(&r);
	if (ret) {
		send_result(id, -ret, e.msg);
		return;
	}
	stream_start(s, id, &c, 0, want_stdin, 1);
}

int streams_active(void)
{
	return nactive;
}

void streams_reap(void)
{
	unsigned int i;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < STREAM_MAX; i++) {
			struct stream *s = &slots[i];

			if (s->id && s->pid == pid && !s->exited) {
				s->exited = 1;
				s->status = st;
				maybe_finish(s);
				break;
			}
		}
	}
}
