/* SPDX-License-Identifier: Apache-2.0 */
/* fileop.h - FILE streams: read, write, list and change files as a user */
#ifndef MSB_AGENT_FILEOP_H
#define MSB_AGENT_FILEOP_H

#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "log.h"

/**
 * struct file_req - a parsed FILE payload; strings NUL-terminated
 * @op:       enum msb_fop
 * @path:     PATH
 * @path2:    PATH2 (RENAME's new path, SYMLINK's target), or NULL
 * @user:     USER, or NULL (root)
 * @cwd:      CWD, against which relative paths resolve, or NULL ("/")
 * @mode:     MODE, when @has_mode
 * @has_mode: MODE was given
 * @flags:    MSB_FOP_F_*
 * @mem:      the one allocation holding the strings
 */
struct file_req {
	uint32_t op;
	char *path, *path2, *user, *cwd;
	uint32_t mode;
	int has_mode;
	uint32_t flags;
	void *mem;
};

/**
 * file_req_parse() - decode and check a FILE payload
 *
 * Return: 0, -EINVAL (unknown operation, no PATH, a path over
 * MSB_FPATH_MAX or with a NUL, a missing PATH2, unknown flag bits, a
 * wrongly sized number) with @e saying why, or -ENOMEM
 */
int file_req_parse(const uint8_t *p, size_t n, struct file_req *r,
		   struct agent_err *e);
void file_req_free(struct file_req *r);

/**
 * file_spawn() - start the process that performs @r as its user
 * @r: the request
 * @c: the process: @c->out carries READ's bytes and LIST's records,
 *     @c->err the RESULT payload it writes last, @c->in WRITE's bytes
 *     (-1 for other operations)
 * @e: why nothing started
 *
 * A separate process takes the user's credentials, so the kernel checks
 * every access as it would for that user's own programs, and its blocking
 * file I/O never stalls the agent's loop.
 * Return: 0 or -errno (a user that does not exist: -EINVAL)
 */
int file_spawn(const struct file_req *r, struct exec_child *c,
	       struct agent_err *e);

/* Longest RESULT payload a file process writes. */
#define FILE_RESULT_MAX 8192

#endif
