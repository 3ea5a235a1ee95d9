/* SPDX-License-Identifier: Apache-2.0 */
/* qmp.h - a non-blocking client of QEMU's machine protocol (QMP)
 *
 * QMP is JSON objects separated by line breaks, both ways. QEMU opens with
 * a greeting ({"QMP": ...}), accepts only "qmp_capabilities" until that is
 * sent, then answers each command with {"return": ...} or {"error":
 * {"class", "desc"}}, echoing the command's "id", and sends asynchronous
 * {"event": NAME, "data": ...} objects at any time (STOP, RESUME,
 * BLOCK_IO_ERROR, SHUTDOWN, MIGRATION...).
 *
 * The client never blocks: the owner polls msb_qmp_fd() in its own event
 * loop, calls msb_qmp_on_readable() when it is readable and
 * msb_qmp_on_writable() when msb_qmp_want_write() says output is queued.
 * Replies go to the callback given with each command, in the order QEMU
 * answers; events go to one callback. msb_qmp_call() is the blocking form
 * for callers without a loop (tests, tools); events that arrive meanwhile
 * are dispatched as usual.
 *
 * Bytes from QEMU are trusted no more than they must be: a line longer than
 * QMP_LINE_MAX, a line that is not a JSON object, or a reply to no command
 * breaks the link (every pending command is answered with an error).
 */
#ifndef MSB_QMP_H
#define MSB_QMP_H

#include <json-c/json.h>

#include "msb.h"

#define QMP_LINE_MAX (1 << 20)

struct msb_qmp;

/* A command's answer: @ret is its "return" value (borrowed, valid during
 * the call) on success; else @ret is NULL and @eclass/@edesc say why
 * (QEMU's error class and text, or "Disconnected" when the link broke). */
typedef void (*msb_qmp_reply_fn)(void *opaque, json_object *ret,
				 const char *eclass, const char *edesc);
/* An event: its name and "data" (borrowed; NULL when it has none). */
typedef void (*msb_qmp_event_fn)(void *opaque, const char *event,
				 json_object *data);

/* msb_qmp_new() - a client on @fd (taken: made non-blocking, closed by
 * msb_qmp_free()); "qmp_capabilities" is queued at once. */
struct msb_qmp *msb_qmp_new(int fd, msb_qmp_event_fn on_event, void *opaque);
void msb_qmp_free(struct msb_qmp *q);

int msb_qmp_fd(const struct msb_qmp *q);
/* msb_qmp_ready() - the greeting came and capabilities were accepted. */
int msb_qmp_ready(const struct msb_qmp *q);
/* msb_qmp_broken() - the link is gone; nothing more will be answered. */
int msb_qmp_broken(const struct msb_qmp *q);
int msb_qmp_want_write(const struct msb_qmp *q);

/* msb_qmp_send() - queue @cmd with @args (taken; may be NULL); @cb (may be
 * NULL) gets the answer. Return: 0, or an error when the link is broken. */
int msb_qmp_send(struct msb_qmp *q, const char *cmd, json_object *args,
		 msb_qmp_reply_fn cb, void *opaque, msb_error *err);

/* msb_qmp_send_fd() - the same, with @fd passed along (SCM_RIGHTS), as
 * "getfd" and "add-fd" want; only when no output is queued (-EBUSY). */
int msb_qmp_send_fd(struct msb_qmp *q, const char *cmd, json_object *args,
		    int fd, msb_qmp_reply_fn cb, void *opaque, msb_error *err);

/* msb_qmp_on_readable() - read what is there and dispatch whole lines.
 * Return: 0, or a negative errno once the link is broken (EOF included). */
int msb_qmp_on_readable(struct msb_qmp *q, msb_error *err);
/* msb_qmp_on_writable() - write queued output. Return: 0 or -errno. */
int msb_qmp_on_writable(struct msb_qmp *q);

/* msb_qmp_call() - send @cmd and wait up to @timeout_ms for its answer;
 * *@ret (if @ret) gets a reference to the "return" value to put.
 * Return: 0, or an error carrying QEMU's message. */
int msb_qmp_call(struct msb_qmp *q, const char *cmd, json_object *args,
		 json_object **ret, int timeout_ms, msb_error *err);

/* msb_qmp_feed() - dispatch @n bytes as if read from the link (what
 * msb_qmp_on_readable() does with what it reads; the fuzzer's entry).
 * Return: 0, or -EPROTO once the link is broken. */
int msb_qmp_feed(struct msb_qmp *q, const char *data, size_t n);

#endif
