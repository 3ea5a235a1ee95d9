/* SPDX-License-Identifier: Apache-2.0 */
/* serve.h - the agent's epoll loop after READY */
#ifndef MSB_AGENT_SERVE_H
#define MSB_AGENT_SERVE_H

#include <stdint.h>

/**
 * enum ev_kind - what an epoll reference points at
 * @EV_PORT:   the virtio port
 * @EV_SIGNAL: the signalfd (SIGCHLD)
 * @EV_STREAM: a stream's fd: bits 8-15 which fd, 16-31 slot, 32-63 generation
 * @EV_LOCAL_LISTEN: the guest programs' socket (events.c)
 * @EV_LOCAL: a guest program's connection: bits 16-31 slot, 32-63 generation
 */
enum ev_kind {
	EV_PORT = 1,
	EV_SIGNAL,
	EV_STREAM,
	EV_LOCAL_LISTEN,
	EV_LOCAL,
};

static inline uint64_t ev_ref(enum ev_kind kind, unsigned int which,
			      unsigned int slot, uint32_t gen)
{
	return (uint64_t)kind | (uint64_t)(which & 0xff) << 8 |
	       (uint64_t)(slot & 0xffff) << 16 | (uint64_t)gen << 32;
}

/**
 * serve() - handle host frames, child output and exits until SHUTDOWN
 *
 * Never returns: the VM powers off at the end.
 */
void serve(void) __attribute__((noreturn));

#endif
