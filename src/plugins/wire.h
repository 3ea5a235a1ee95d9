/* SPDX-License-Identifier: Apache-2.0 */
/* wire.h - the hook protocol's messages (docs/plugins.md)
 *
 * Every message is a JSON object, sent as a 4-byte big-endian length and
 * that many bytes. The supervisor sends "hello", "call" and "event"
 * messages; a plugin answers "hello" and every "call" with a message of
 * the same id. What a plugin sends is parsed here, as hostile as a
 * guest's bytes: unknown verdicts, wrong types, oversized strings and
 * lists are refused, and the caller then applies the hook's safe default.
 */
#ifndef MSB_PLUGINS_WIRE_H
#define MSB_PLUGINS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define HOOK_PROTOCOL 1
#define HOOK_MSG_MAX (16u << 20) /* longest message either side sends */
#define HOOK_NAME_MAX 64
#define HOOK_REASON_MAX 200
#define HOOK_ADDRS_MAX 16
#define HOOK_ARGV_MAX 4096      /* exec argv/env entries a rewrite may give */
#define HOOK_HEAD_MAX (64 * 1024) /* an http_response head a plugin gives */

/* The hook points (docs/plugins.md); a new one goes last. */
enum hook_id {
	HOOK_LIFECYCLE,
	HOOK_EXEC_BEFORE,
	HOOK_EXEC_AFTER,
	HOOK_DNS,
	HOOK_CONNECT,
	HOOK_HTTP_REQUEST,
	HOOK_FS,
	HOOK_HTTP_RESPONSE,
	HOOK_HTTP_RESPONSE_HEAD,
	HOOK_COUNT
};

/* hook_name() - the wire name of @h ("exec_before"). */
const char *hook_name(enum hook_id h);
/* hook_parse_name() - the hook called @s, or -1. */
int hook_parse_name(const char *s);
/* hook_is_call() - 1 if @h waits for the plugin's verdict, 0 if it is an
 * event (lifecycle, exec_after, http_response_head: nothing to answer). */
int hook_is_call(enum hook_id h);

enum hook_verdict {
	HV_ALLOW,  /* go on (exec_before may rewrite argv/env with it) */
	HV_DENY,   /* refuse; a reason for the log and the caller */
	HV_ANSWER, /* dns: answer with the addresses given */
	HV_MODIFY, /* http_request: send it with the body given;
		    * http_response: with the head and/or body given */
};

/**
 * struct hook_reply - a plugin's answer to one call, checked
 * @id:      the call's id
 * @verdict: what it decided
 * @reason:  why (deny), NUL-terminated, maybe empty
 * @argv:    exec_before: the new argv (a non-empty array of strings), or
 *           NULL: unchanged; owned by the reply
 * @env:     exec_before: the new env ("K=V" strings), or NULL
 * @addrs:   dns answer: @naddrs addresses, family 4 or 6, network order
 * @body:    http_request, http_response modify: the new body, @body_len
 *           bytes (malloc'd); NULL for a response's: unchanged
 * @head:    http_response modify: the new head, @head_len bytes (at most
 *           HOOK_HEAD_MAX, no NUL; malloc'd and NUL-terminated), or NULL
 * @errnum:  fs deny: the errno the guest gets (1..4095; EACCES if none)
 */
struct hook_reply {
	int64_t id;
	enum hook_verdict verdict;
	char reason[HOOK_REASON_MAX];
	json_object *argv, *env;
	struct {
		uint8_t family;
		uint8_t addr[16];
	} addrs[HOOK_ADDRS_MAX];
	unsigned naddrs;
	uint8_t *body;
	size_t body_len;
	char *head;
	size_t head_len;
	int errnum;
};

void hook_reply_free(struct hook_reply *r);

/**
 * hook_reply_parse() - check a plugin's message as the answer to call @id
 * of hook @h.
 * @msg, @n: the message's bytes (not NUL-terminated)
 * Return: 0 (*@r filled; hook_reply_free() it), 1 if it is a well-formed
 * answer to an earlier call (r->id < @id: late, to be dropped), or -1 if
 * it is not an answer to this call (@why says what was wrong).
 */
int hook_reply_parse(enum hook_id h, const uint8_t *msg, size_t n, int64_t id,
		     struct hook_reply *r, char *why, size_t wn);

/**
 * struct hook_hello - what a plugin says it is
 * @name:   for log lines
 * @hooks:  bit (1 << enum hook_id) for each hook it wants
 * @fs_ops: for HOOK_FS, bit (1 << enum msb_fs_op) for each operation
 */
struct hook_hello {
	char name[HOOK_NAME_MAX];
	uint32_t hooks;
	uint64_t fs_ops;
};

/* hook_hello_parse() - check a plugin's answer to "hello". Return: 0 or
 * -1 (@why). */
int hook_hello_parse(const uint8_t *msg, size_t n, struct hook_hello *h,
		     char *why, size_t wn);

/* hook_fs_op_name() - the wire name of filesystem operation @op ("open"),
 * NULL if out of range; hook_fs_op_parse() the reverse, or -1. */
const char *hook_fs_op_name(int op);
int hook_fs_op_parse(const char *s);

/* hook_frame() - @msg as a frame: a malloc'd buffer of 4 + length bytes.
 * Return: NULL if it does not fit HOOK_MSG_MAX (or no memory). */
uint8_t *hook_frame(json_object *msg, size_t *len);

#endif
