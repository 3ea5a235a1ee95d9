/* SPDX-License-Identifier: Apache-2.0 */
/* client.h - JSON-lines connection to a sandbox's API socket */
#ifndef MSB_CLIENT_H
#define MSB_CLIENT_H

#include <json-c/json.h>

#include "buf.h"
#include "msb.h"

struct msb_conn {
	int fd;
	struct msb_buf in;
	int64_t next_id;
};

/* msb_conn_open() - connect to sandbox @name's API socket. Return: 0, or
 * MSB_E_INVALID (not a sandbox name), MSB_E_NOT_RUNNING (no socket: it
 * is stopped, booting, or there is no such sandbox; msb_conn_open_named()
 * tells the last apart), -errno. */
int msb_conn_open(const char *name, struct msb_conn *c, msb_error *err);
/* msb_conn_open_named() - msb_conn_open() for a call given only a name:
 * MSB_E_NOT_FOUND when no sandbox has it. */
int msb_conn_open_named(const char *name, struct msb_conn *c, msb_error *err);
void msb_conn_close(struct msb_conn *c);
int msb_conn_send(struct msb_conn *c, json_object *msg, msb_error *err);
/* msb_conn_notify() - msb_conn_send() that never reads from @c, for a
 * connection another thread may be reading (a closed peer is
 * MSB_E_STOPPED, what it said left to the reader). */
int msb_conn_notify(struct msb_conn *c, json_object *msg, msb_error *err);
/* msb_conn_recv() - 1 and a message, 0 on timeout, negative on error
 * (-EPIPE when the supervisor closed the connection). */
int msb_conn_recv(struct msb_conn *c, json_object **msg, int timeout_ms,
		  msb_error *err);
/* msb_conn_error() - the error reply @msg as a code (MSB_E_*, or the
 * guest's errno for fs_failed) and @err's message. Return: the code. */
int msb_conn_error(json_object *msg, msb_error *err);
/* msb_conn_data() - the base64 "data" of an output or file message @msg,
 * decoded into @b in place of what it held (msb_buf_data(@b), @b->len).
 * Return: its length, or a negative MSB_E_PROTOCOL/-ENOMEM with @err
 * set. */
long msb_conn_data(json_object *msg, struct msb_buf *b, msb_error *err);
/* msb_conn_call() - a request and its result (NULL @result to ignore it);
 * @params is consumed. */
int msb_conn_call(struct msb_conn *c, const char *method, json_object *params,
		  json_object **result, int timeout_ms, msb_error *err);
#endif
