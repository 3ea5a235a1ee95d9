/* SPDX-License-Identifier: Apache-2.0 */
/* stream.c - exec streams: output credit, stdin window, exit reporting
 *
 * Theory of operation
 *
 * A stream is one process started by EXEC and the agent's ends of its stdio:
 * stdout and stderr pipes (or one pty master) and an optional stdin pipe.
 *
 * Output: the host grants credit, MSB_WINDOW_INIT at EXEC and more with
 * WINDOW frames. Each STDOUT/STDERR payload byte spends one unit, and a read
 * never asks for more than what is left. With no credit the output fds are
 * removed from epoll (not just masked: epoll reports EPOLLHUP whatever the
 * mask, and a closed pipe would spin the loop), so a process that outruns
 * the host blocks on its full pipe: back-pressure reaches it.
 *
 * Stdin: the host may have MSB_WINDOW_INIT bytes unacknowledged. What the
 * pipe does not take at once is buffered (at most that window) and written
 * when epoll says the pipe is writable; every byte written, or discarded
 * because the process closed its stdin, is acknowledged with WINDOW.
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
#include "log.h"
#include "port.h"
#include "serve.h"
#include "stream.h"

enum { SFD_OUT, SFD_ERR, SFD_IN, SFD_N };

#define HASH_SIZE 256

/**
 * struct stream - one exec
 * @id:      stream id, 0 when the slot is free
 * @gen:     bumped when the slot is freed (stale epoll events)
 * @next:    next slot in the same hash bucket, or -1
 * @pid:     process, also its process group and session
 * @tty:     @fd[SFD_OUT] is a pty master that also takes stdin
 * @fd:      agent's ends of stdout, stderr, stdin; -1 when closed
 * @armed:   epoll events currently registered for each fd (0 = not added)
 * @credit:  output bytes the host still accepts
 * @in_eof:  the host ended stdin
 * @in_dead: stdin goes nowhere (none asked for, closed, or the process
 *           stopped reading): acknowledge and drop
 * @in_buf:  stdin the process has not taken yet, MSB_WINDOW_INIT bytes
 * @in_head: offset of the first pending byte in @in_buf
 * @in_len:  pending bytes
 * @exited:  the process was reaped
 * @status:  its wait status
 */
struct stream {
	uint32_t id;
	uint32_t gen;
	int next;
	pid_t pid;
	int tty;
	int fd[SFD_N];
	uint32_t armed[SFD_N];
	uint64_t credit;
	int in_eof, in_dead;
	uint8_t *in_buf;
	size_t in_head, in_len;
	int exited, status;
};

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

/* arm() - make the epoll registration of one fd match @want */
static void arm(struct stream *s, int which, uint32_t want)
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

static void rearm(struct stream *s)
{
	uint32_t out = s->credit ? EPOLLIN : 0;
	uint32_t in = s->in_len && !s->in_dead ? EPOLLOUT : 0;

	if (s->tty) {
		arm(s, SFD_OUT, out | in);
		return;
	}
	arm(s, SFD_OUT, out);
	arm(s, SFD_ERR, out);
	arm(s, SFD_IN, in);
}

static void close_fd(struct stream *s, int which)
{
	if (s->fd[which] < 0)
		return;
	/* Remove before close: a child between fork and exec still holds
	 * the file, and epoll keeps reporting it until every holder closed. */
	arm(s, which, 0);
	close(s->fd[which]);
	s->fd[which] = -1;
}

static int stdin_fd(const struct stream *s)
{
	return s->fd[s->tty ? SFD_OUT : SFD_IN];
}

/* ack() - give the host back @n bytes of stdin window */
static void ack(struct stream *s, size_t n)
{
	if (n)
		port_send_u32(s->id, MSB_F_WINDOW, (uint32_t)n);
}

/* stdin_write() - Return: bytes the process took, -1 if its stdin is gone */
static ssize_t stdin_write(struct stream *s, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(stdin_fd(s), p + done, n - done);

		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		return -1; /* EPIPE: read end closed; EIO: pty hung up */
	}
	return (ssize_t)done;
}

/* stdin_discard() - the process will read no more: drop and acknowledge */
static void stdin_discard(struct stream *s)
{
	if (s->in_dead)
		return;
	ack(s, s->in_len);
	free(s->in_buf);
	s->in_buf = NULL;
	s->in_head = s->in_len = 0;
	s->in_dead = 1;
	if (!s->tty)
		close_fd(s, SFD_IN);
}

/* stdin_close() - end of input: close the pipe, or type VEOF on a pty */
static void stdin_close(struct stream *s)
{
	if (s->tty) {
		struct termios t;
		char eof = 4; /* ^D */

		/* tcgetattr() on the master reads the pair's settings */
		if (!tcgetattr(s->fd[SFD_OUT], &t) && t.c_cc[VEOF])
			eof = (char)t.c_cc[VEOF];
		if (write(s->fd[SFD_OUT], &eof, 1) < 0)
			agent_log("stream %u: pty EOF: %s", s->id, strerror(errno));
	} else {
		close_fd(s, SFD_IN);
	}
	s->in_dead = 1;
}

static void stdin_flush(struct stream *s)
{
	ssize_t w;

	if (s->in_dead || !s->in_len)
		return;
	w = stdin_write(s, s->in_buf + s->in_head, s->in_len);
	if (w < 0) {
		stdin_discard(s);
		return;
	}
	s->in_head += (size_t)w;
	s->in_len -= (size_t)w;
	ack(s, (size_t)w);
	if (s->in_len)
		return;
	free(s->in_buf);
	s->in_buf = NULL;
	s->in_head = 0;
	if (s->in_eof)
		stdin_close(s);
}

/* stdin_queue() - keep what the process did not take yet, within the window */
static void stdin_queue(struct stream *s, const uint8_t *p, size_t n)
{
	size_t room;

	if (!s->in_buf) {
		s->in_buf = malloc(MSB_WINDOW_INIT);
		s->in_head = 0;
		if (!s->in_buf) {
			agent_log("stream %u: no memory for stdin, dropped", s->id);
			ack(s, n);
			return;
		}
	}
	if (s->in_head + s->in_len + n > MSB_WINDOW_INIT) {
		memmove(s->in_buf, s->in_buf + s->in_head, s->in_len);
		s->in_head = 0;
	}
	room = MSB_WINDOW_INIT - s->in_len;
	if (n > room) {
		agent_log("stream %u: host overran the stdin window by %zu bytes",
			  s->id, n - room);
		ack(s, n - room);
		n = room;
	}
	memcpy(s->in_buf + s->in_head + s->in_len, p, n);
	s->in_len += n;
}

void stream_stdin(uint32_t id, const uint8_t *p, size_t n)
{
	struct stream *s = lookup(id);
	ssize_t w;

	if (!s)
		return;
	if (!n) {
		s->in_eof = 1;
		if (!s->in_len && !s->in_dead)
			stdin_close(s);
	} else if (s->in_dead || s->in_eof) {
		ack(s, n);
	} else {
		/* The common case writes straight through with no copy. */
		if (!s->in_len) {
			w = stdin_write(s, p, n);
			if (w < 0) {
				ack(s, n);
				stdin_discard(s);
				return;
			}
			ack(s, (size_t)w);
			p += w;
			n -= (size_t)w;
		}
		if (n)
			stdin_queue(s, p, n);
	}
	rearm(s);
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
	close_fd(s, SFD_OUT);
	close_fd(s, SFD_ERR);
	close_fd(s, SFD_IN);
	free(s->in_buf);
	s->in_buf = NULL;
	s->id = 0;
	s->gen++;
	nactive--;
}

/* maybe_finish() - send EXIT once the process is gone and output drained */
static void maybe_finish(struct stream *s)
{
	uint32_t code, sig = 0;
	uint8_t b[8];

	if (!s->exited || s->fd[SFD_OUT] >= 0 || s->fd[SFD_ERR] >= 0)
		return;
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

static void output_read(struct stream *s, int which)
{
	size_t want = s->credit < MSB_FRAME_MAX ? (size_t)s->credit : MSB_FRAME_MAX;
	uint8_t *buf = port_scratch();
	ssize_t n;

	if (!want)
		return;
	n = read(s->fd[which], buf, want);
	if (n > 0) {
		port_send(s->id, which == SFD_ERR ? MSB_F_STDERR : MSB_F_STDOUT,
			  buf, (size_t)n);
		s->credit -= (uint64_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* 0: every writer closed the pipe. EIO: every holder of the pty
	 * slave closed it, and with it the only way to read stdin. */
	if (s->tty)
		stdin_discard(s);
	close_fd(s, which);
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
		stdin_flush(s);
	} else {
		if (s->tty && (events & (EPOLLHUP | EPOLLERR)))
			stdin_discard(s); /* the slave side is closed */
		else if (s->tty && (events & EPOLLOUT))
			stdin_flush(s);
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			output_read(s, (int)which);
	}
	rearm(s);
	maybe_finish(s);
}

void stream_window(uint32_t id, uint32_t credit)
{
	struct stream *s = lookup(id);

	if (!s)
		return;
	s->credit += credit;
	rearm(s);
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

static struct stream *slot_alloc(void)
{
	static unsigned int cursor;
	unsigned int k;

	for (k = 0; k < STREAM_MAX; k++) {
		struct stream *s = &slots[(cursor + k) % STREAM_MAX];

		if (!s->id) {
			cursor = (cursor + k + 1) % STREAM_MAX;
			return s;
		}
	}
	return NULL;
}

void stream_exec(uint32_t id, const uint8_t *p, size_t n)
{
	struct agent_err e;
	struct exec_child c;
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
	if (nactive >= STREAM_MAX) {
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

	s = slot_alloc(); /* cannot fail: nactive < STREAM_MAX */
	s->id = id;
	s->pid = c.pid;
	s->tty = tty;
	s->fd[SFD_OUT] = c.out;
	s->fd[SFD_ERR] = c.err;
	s->fd[SFD_IN] = c.in;
	memset(s->armed, 0, sizeof(s->armed));
	s->credit = MSB_WINDOW_INIT;
	s->in_eof = 0;
	s->in_dead = !want_stdin;
	s->in_buf = NULL;
	s->in_head = s->in_len = 0;
	s->exited = s->status = 0;
	s->next = buckets[id % HASH_SIZE];
	buckets[id % HASH_SIZE] = (int)(s - slots);
	nactive++;

	rearm(s);
	port_send_u32(id, MSB_F_STARTED, (uint32_t)c.pid);
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
