/* SPDX-License-Identifier: Apache-2.0 */
/* flow.c - per-stream flow control: output credit and the stdin window
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
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "port.h"
#include "stream_priv.h"

void flow_rearm(struct stream *s)
{
	uint32_t out = s->credit ? EPOLLIN : 0;
	uint32_t in = s->in_len && !s->in_dead ? EPOLLOUT : 0;

	if (s->tty) {
		stream_arm(s, SFD_OUT, out | in);
		return;
	}
	stream_arm(s, SFD_OUT, out);
	/* A FILE stream's result is small and always taken. */
	stream_arm(s, SFD_ERR, s->file ? EPOLLIN : out);
	stream_arm(s, SFD_IN, in);
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

void flow_stdin_discard(struct stream *s)
{
	if (s->in_dead)
		return;
	ack(s, s->in_len);
	free(s->in_buf);
	s->in_buf = NULL;
	s->in_head = s->in_len = 0;
	s->in_dead = 1;
	if (!s->tty)
		stream_close_fd(s, SFD_IN);
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
		stream_close_fd(s, SFD_IN);
	}
	s->in_dead = 1;
}

void flow_stdin_flush(struct stream *s)
{
	ssize_t w;

	if (s->in_dead || !s->in_len)
		return;
	w = stdin_write(s, s->in_buf + s->in_head, s->in_len);
	if (w < 0) {
		flow_stdin_discard(s);
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

void flow_stdin(struct stream *s, const uint8_t *p, size_t n)
{
	ssize_t w;

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
				flow_stdin_discard(s);
				return;
			}
			ack(s, (size_t)w);
			p += w;
			n -= (size_t)w;
		}
		if (n)
			stdin_queue(s, p, n);
	}
}

void flow_output(struct stream *s, int which)
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
		flow_stdin_discard(s);
	stream_close_fd(s, which);
}
