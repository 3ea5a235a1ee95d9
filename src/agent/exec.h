/* SPDX-License-Identifier: Apache-2.0 */
/* exec.h - start a process for an EXEC request */
#ifndef MSB_AGENT_EXEC_H
#define MSB_AGENT_EXEC_H

#include <sys/types.h>

#include "execreq.h"
#include "log.h"

/**
 * struct exec_child - a started process and the agent's ends of its stdio
 * @pid: its pid; it leads its own session and process group
 * @in:  write end of its stdin pipe, or -1 (stdin is /dev/null, or a tty)
 * @out: read end of its stdout pipe, or the pty master with a tty
 * @err: read end of its stderr pipe, or -1 with a tty
 * @spawn: what the child read before its execve (exec_spawn_free()), or
 *         NULL
 *
 * All fds are non-blocking and close-on-exec.
 */
struct spawn;

struct exec_child {
	pid_t pid;
	int in, out, err;
	struct spawn *spawn;
};

/**
 * exec_init() - raise the agent's fd limit for many concurrent streams
 *
 * Children get the original soft limit back, so programs that still use
 * select() see the usual 1024.
 */
void exec_init(void);

/**
 * exec_spawn() - resolve the user, build the environment and fork/exec
 * @r: the request, whose memory is the started child's from then on
 *     (exec_req_free(@r) still may, and must, be called)
 * @c: the started process; @c->spawn to exec_spawn_free() once reaped
 * @e: why nothing was started
 *
 * Errors found in the child (cwd, command not found, not executable) are
 * not errors here: the child prints "msb: ..." on its stderr and exits
 * 1, 127 or 126, like a shell would.
 * Return: 0 or -errno
 */
int exec_spawn(struct exec_req *r, struct exec_child *c,
	       struct agent_err *e);

/**
 * exec_spawn_free() - the block a child of exec_spawn() read (its request,
 * environment and stack: exec.c), once the child is reaped; NULL is none
 */
void exec_spawn_free(struct spawn *s);

#endif
