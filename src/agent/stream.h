/* SPDX-License-Identifier: Apache-2.0 */
/* stream.h - exec streams: output credit, stdin window, exit reporting */
#ifndef MSB_AGENT_STREAM_H
#define MSB_AGENT_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* Concurrent exec streams; one more EXEC gets an ERROR. */
#define STREAM_MAX 1024

/**
 * streams_init() - set up the stream table
 * @epfd: the serving loop's epoll instance; stream fds are registered there
 *        with EV_STREAM references (serve.h)
 */
void streams_init(int epfd);

/* stream_exec() - EXEC on @id: start the process, answer STARTED or ERROR */
void stream_exec(uint32_t id, const uint8_t *p, size_t n);
/* stream_exec_part() - EXEC_PART: a piece of stream @id's EXEC request,
 * kept until its EXEC brings the last */
void stream_exec_part(uint32_t id, const uint8_t *p, size_t n);

/* stream_file() - FILE on @id: start the file process; its RESULT ends
 * the stream (a refused request: RESULT at once) */
void stream_file(uint32_t id, const uint8_t *p, size_t n);

/* stream_stdin() - STDIN on @id: @n bytes for the process, 0 = end of input */
void stream_stdin(uint32_t id, const uint8_t *p, size_t n);

/* stream_window() - WINDOW on @id: the host accepts @credit more output bytes */
void stream_window(uint32_t id, uint32_t credit);

/* stream_signal() - SIGNAL on @id: deliver @sig to the process group */
void stream_signal(uint32_t id, uint32_t sig);

/* stream_resize() - RESIZE on @id: new pty size */
void stream_resize(uint32_t id, uint16_t rows, uint16_t cols);

/**
 * stream_event() - readiness of one of a stream's fds
 * @ref:    the epoll reference it was registered with
 * @events: epoll events
 */
void stream_event(uint64_t ref, uint32_t events);

/**
 * streams_reap() - waitpid() every exited child (PID 1 adopts orphans);
 * those that belong to a stream end it once its output is drained
 */
void streams_reap(void);

/* streams_active() - streams that have not sent EXIT yet */
int streams_active(void);

#endif
