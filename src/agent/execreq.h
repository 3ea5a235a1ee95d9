/* SPDX-License-Identifier: Apache-2.0 */
/* execreq.h - the EXEC request: what to run, as whom, with which stdio */
#ifndef MSB_AGENT_EXECREQ_H
#define MSB_AGENT_EXECREQ_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

/**
 * struct exec_req - a parsed EXEC payload; every string NUL-terminated
 * @argv:        ARG values, NULL-terminated, at least one
 * @argc:        number of @argv entries
 * @env:         ENV values ("K=V"), NULL-terminated
 * @envc:        number of @env entries
 * @cwd:         CWD, or NULL
 * @user:        USER, or NULL
 * @tty:         a pty was asked for (TTY)
 * @rows:        initial pty rows
 * @cols:        initial pty columns
 * @want_stdin:  the host will send STDIN frames
 * @detach:      DETACH: informational only
 * @mem:         the one allocation holding all of the above
 */
struct exec_req {
	char **argv;
	size_t argc;
	char **env;
	size_t envc;
	char *cwd;
	char *user;
	int tty;
	uint16_t rows, cols;
	int want_stdin;
	int detach;
	void *mem;
};

/**
 * exec_req_parse() - decode and bounds-check an EXEC payload
 * @p: payload
 * @n: its length
 * @r: result, to be released with exec_req_free()
 * @e: why it was refused
 *
 * Return: 0, -EINVAL (truncated record, NUL in a string, no ARG, ENV without
 * '=', wrongly sized number) or -ENOMEM
 */
int exec_req_parse(const uint8_t *p, size_t n, struct exec_req *r,
		   struct agent_err *e);

/* exec_req_free() - release what exec_req_parse() allocated */
void exec_req_free(struct exec_req *r);

#endif
