/* SPDX-License-Identifier: Apache-2.0 */
/* stream_priv.h - the stream record shared by stream.c and flow.c */
#ifndef MSB_AGENT_STREAM_PRIV_H
#define MSB_AGENT_STREAM_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A stream's fds: stdout, stderr (or the one pty master), stdin. */
enum { SFD_OUT, SFD_ERR, SFD_IN, SFD_N };

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
 * @file:    a FILE stream: @fd[SFD_ERR] carries the RESULT payload, read
 *           into @res whatever the credit, and RESULT replaces EXIT
 * @res:     that payload, FILE_RESULT_MAX bytes, allocated on first read
 * @res_len: bytes in @res
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
	int file;
	uint8_t *res;
	size_t res_len;
	struct spawn *spawn; /* exec.c: freed when released (reaped) */
};

/* stream.c: epoll registration of one fd */

/* stream_arm() - make the epoll registration of @which match @events */
void stream_arm(struct stream *s, int which, uint32_t events);

/* stream_close_fd() - deregister and close @which (no-op if closed) */
void stream_close_fd(struct stream *s, int which);

/* flow.c: credit and window accounting */

/* flow_rearm() - register for what the stream can make progress on now */
void flow_rearm(struct stream *s);

/* flow_output() - read one frame's worth of output, within the credit */
void flow_output(struct stream *s, int which);

/* flow_stdin() - take a STDIN payload (@n == 0: end of input) */
void flow_stdin(struct stream *s, const uint8_t *p, size_t n);

/* flow_stdin_flush() - write buffered stdin; the fd became writable */
void flow_stdin_flush(struct stream *s);

/* flow_stdin_discard() - the process will read no more: drop and acknowledge */
void flow_stdin_discard(struct stream *s);

#endif
