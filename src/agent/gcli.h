/* SPDX-License-Identifier: Apache-2.0 */
/* gcli.h - the `msb` command inside a sandbox: what its verbs share */
#ifndef MSB_AGENT_GCLI_H
#define MSB_AGENT_GCLI_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define EXIT_USAGE 2
#define EXIT_MSB 125

/* gcli_die() - "msb: " and the message on stderr. Return: EXIT_MSB. */
int gcli_die(const char *fmt, const char *a);
/* gcli_json_ok() - Return: 1 if @s is one JSON value (RFC 8259). */
int gcli_json_ok(const char *s);
/* gcli_connect() - the agent's socket. Return: a descriptor or -errno. */
int gcli_connect(void);
/* gcli_send_frame() - one frame on stream 0. Return: 0 or -1. */
int gcli_send_frame(int fd, uint8_t type, const uint8_t *p, size_t n);
/* gcli_read_frame() - one frame. Return: 1, 0 on timeout (@timeout_ms,
 * -1 waits), -1 when the agent closed or sent garbage. */
int gcli_read_frame(int fd, struct msb_framer *f, struct msb_frame_hdr *h,
		    const uint8_t **p, int timeout_ms);

/* gcli_peer_verb() - Return: 1 if @verb is one of the peer verbs. */
int gcli_peer_verb(const char *verb);
/* gcli_peer() - msb start/exec/stop/rm/ps/logs (docs/spawn.md); @argv[0]
 * is the verb. Return: the exit status. */
int gcli_peer(int argc, char **argv);

#endif
