/* SPDX-License-Identifier: Apache-2.0 */
/* test_plugins.c - the hook protocol's parser (src/plugins/wire.c), the
 * keeper of plugin processes (keeper.c) and the built-ins (audit.c,
 * ratelimit.c), without a sandbox */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builtin.h"
#include "harness.h"
#include "keeper.h"
#include "msb.h"
#include "msb_fs.h"
#include "util.h"
#include "wire.h"

static int reply(enum hook_id h, const char *s, int64_t id,
		 struct hook_reply *r, char *why, size_t wn)
{
	return hook_reply_parse(h, (const uint8_t *)s, strlen(s), id, r, why,
				wn);
}

TEST(plugin_reply_verdicts_each_hook_may_give)
{
	struct hook_reply r;
	char why[300];

	CHECK_EQ_INT(reply(HOOK_DNS, "{\"type\":\"reply\",\"id\":7,"
			   "\"verdict\":\"answer\",\"addrs\":[\"192.0.2.1\","
			   "\"2001:db8::1\"]}", 7, &r, why, sizeof(why)), 0);
	CHECK_EQ_INT(r.verdict, HV_ANSWER);
	CHECK_EQ_INT(r.naddrs, 2);
	CHECK_EQ_INT(r.addrs[0].family, 4);
	CHECK_EQ_INT(r.addrs[0].addr[3], 1);
	CHECK_EQ_INT(r.addrs[1].family, 6);
	hook_reply_free(&r);
	/* answer is for dns only, modify for http_request only */
	CHECK_EQ_INT(reply(HOOK_CONNECT, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"answer\",\"addrs\":[]}", 1, &r, why,
			   sizeof(why)), -1);
	CHECK_CONTAINS(why, "not one connect may give");
	CHECK_EQ_INT(reply(HOOK_HTTP_REQUEST, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"body_b64\":\"aGk=\"}", 1,
			   &r, why, sizeof(why)), 0);
	CHECK_EQ_INT(r.verdict, HV_MODIFY);
	CHECK_EQ_INT(r.body_len, 2);
	CHECK_MEM(r.body, "hi", 2);
	hook_reply_free(&r);
	CHECK_EQ_INT(reply(HOOK_HTTP_REQUEST, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"body_b64\":\"!!\"}", 1, &r,
			   why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "not base64");
	/* a reason is one line for the log */
	CHECK_EQ_INT(reply(HOOK_EXEC_BEFORE, "{\"type\":\"reply\",\"id\":2,"
			   "\"verdict\":\"deny\",\"reason\":\"a\\nb\"}", 2, &r,
			   why, sizeof(why)), 0);
	CHECK_EQ_INT(r.verdict, HV_DENY);
	CHECK_STR(r.reason, "a b");
	hook_reply_free(&r);
	CHECK_EQ_INT(reply(HOOK_FS, "{\"type\":\"reply\",\"id\":3,"
			   "\"verdict\":\"deny\",\"errno\":2}", 3, &r, why,
			   sizeof(why)), 0);
	CHECK_EQ_INT(r.errnum, 2);
	CHECK_EQ_INT(reply(HOOK_FS, "{\"type\":\"reply\",\"id\":3,"
			   "\"verdict\":\"deny\",\"errno\":99999}", 3, &r, why,
			   sizeof(why)), -1);
}

TEST(plugin_reply_http_response_modify)
{
	struct hook_reply r;
	char why[300];

	/* a head alone, a body alone, both */
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"head\":\"HTTP/1.1 200 "
			   "OK\\r\\n\\r\\n\"}", 1, &r, why, sizeof(why)), 0);
	CHECK_EQ_INT(r.verdict, HV_MODIFY);
	CHECK_STR(r.head, "HTTP/1.1 200 OK\r\n\r\n");
	CHECK_EQ_INT(r.head_len, 19);
	CHECK(r.body == NULL);
	hook_reply_free(&r);
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"body_b64\":\"\"}", 1, &r,
			   why, sizeof(why)), 0);
	CHECK(r.head == NULL && r.body != NULL && r.body_len == 0);
	hook_reply_free(&r);
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"head\":\"H\","
			   "\"body_b64\":\"aGk=\"}", 1, &r, why, sizeof(why)), 0);
	CHECK(r.head_len == 1 && r.body_len == 2);
	hook_reply_free(&r);
	/* neither, a head that is not a string, holds a NUL, or is empty */
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\"}", 1, &r, why, sizeof(why)),
		     -1);
	CHECK_CONTAINS(why, "without a \"head\" or a \"body_b64\"");
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"head\":7}", 1, &r, why,
			   sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"head\":\"a\\u0000b\"}", 1,
			   &r, why, sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"modify\",\"head\":\"\"}", 1, &r, why,
			   sizeof(why)), -1);
	CHECK_CONTAINS(why, "\"head\" must be a string");
	/* deny and allow as for every call; answer is not one it may give */
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"deny\",\"reason\":\"DLP\"}", 1, &r,
			   why, sizeof(why)), 0);
	CHECK_EQ_INT(r.verdict, HV_DENY);
	hook_reply_free(&r);
	CHECK_EQ_INT(reply(HOOK_HTTP_RESPONSE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"answer\",\"addrs\":[]}", 1, &r, why,
			   sizeof(why)), -1);
	CHECK_EQ_INT(hook_parse_name("http_response"), HOOK_HTTP_RESPONSE);
	CHECK(hook_is_call(HOOK_HTTP_RESPONSE));
	/* the head alone is an event: nothing waits for an answer */
	CHECK_EQ_INT(hook_parse_name("http_response_head"),
		     HOOK_HTTP_RESPONSE_HEAD);
	CHECK(!hook_is_call(HOOK_HTTP_RESPONSE_HEAD));
}

TEST(plugin_reply_exec_rewrites_are_checked)
{
	struct hook_reply r;
	char why[300];

	CHECK_EQ_INT(reply(HOOK_EXEC_BEFORE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"allow\",\"argv\":[\"a\",\"b\"],"
			   "\"env\":[\"K=V\"]}", 1, &r, why, sizeof(why)), 0);
	CHECK_EQ_INT((int)json_object_array_length(r.argv), 2);
	CHECK_EQ_INT((int)json_object_array_length(r.env), 1);
	hook_reply_free(&r);
	CHECK_EQ_INT(reply(HOOK_EXEC_BEFORE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"allow\",\"argv\":[]}", 1, &r, why,
			   sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_EXEC_BEFORE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"allow\",\"argv\":[1]}", 1, &r, why,
			   sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_EXEC_BEFORE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"allow\",\"env\":[\"=x\"]}", 1, &r,
			   why, sizeof(why)), -1);
	/* a NUL inside a string would cut it short in the guest */
	CHECK_EQ_INT(reply(HOOK_EXEC_BEFORE, "{\"type\":\"reply\",\"id\":1,"
			   "\"verdict\":\"allow\",\"argv\":[\"a\\u0000b\"]}", 1,
			   &r, why, sizeof(why)), -1);
}

TEST(plugin_reply_ids_late_answers_and_garbage)
{
	struct hook_reply r;
	char why[300];

	/* the answer to a call that timed out is dropped, not an error */
	CHECK_EQ_INT(reply(HOOK_DNS, "{\"type\":\"reply\",\"id\":4,"
			   "\"verdict\":\"allow\"}", 5, &r, why, sizeof(why)), 1);
	CHECK_EQ_INT(reply(HOOK_DNS, "{\"type\":\"reply\",\"id\":6,"
			   "\"verdict\":\"allow\"}", 5, &r, why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "never made");
	CHECK_EQ_INT(reply(HOOK_DNS, "{\"type\":\"reply\",\"id\":5}", 5, &r,
			   why, sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_DNS, "{\"type\":\"reply\",\"id\":5,"
			   "\"verdict\":\"allow\"} trailing", 5, &r, why,
			   sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_DNS, "[1,2]", 5, &r, why, sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_DNS, "\x00\x01", 5, &r, why, sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_DNS, "{\"type\":\"hello\",\"id\":5}", 5, &r,
			   why, sizeof(why)), -1);
	CHECK_EQ_INT(reply(HOOK_DNS, "{\"type\":\"reply\",\"id\":5,"
			   "\"verdict\":\"answer\",\"addrs\":[\"no\"]}", 5, &r,
			   why, sizeof(why)), -1);
}

TEST(plugin_hello_names_hooks_and_fs_ops)
{
	struct hook_hello h;
	char why[300];
	const char *ok = "{\"type\":\"hello\",\"name\":\"x\",\"hooks\":"
			 "[\"dns\",\"fs\"],\"fs_ops\":[\"open\",\"create\"]}";

	CHECK_EQ_INT(hook_hello_parse((const uint8_t *)ok, strlen(ok), &h, why,
				      sizeof(why)), 0);
	CHECK_STR(h.name, "x");
	CHECK_EQ_INT((int)h.hooks, (1 << HOOK_DNS) | (1 << HOOK_FS));
	CHECK(h.fs_ops == ((1ull << MSB_FS_OP_OPEN) |
			   (1ull << MSB_FS_OP_CREATE)));
	static const char *const bad[] = {
		"{\"type\":\"hello\",\"name\":\"x\",\"hooks\":[\"nope\"]}",
		"{\"type\":\"hello\",\"name\":\"a b\",\"hooks\":[]}",
		"{\"type\":\"hello\",\"hooks\":[]}",
		"{\"type\":\"hello\",\"name\":\"x\",\"hooks\":[\"fs\"]}",
		"{\"type\":\"hello\",\"name\":\"x\",\"hooks\":[\"fs\"],"
		"\"fs_ops\":[\"forget\"]}",
		"{\"type\":\"reply\",\"name\":\"x\",\"hooks\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(hook_hello_parse((const uint8_t *)bad[i],
					      strlen(bad[i]), &h, why,
					      sizeof(why)), -1);
}

TEST(plugin_frame_is_length_prefixed)
{
	json_object *m = json_object_new_object();
	uint8_t *f;
	size_t n;

	json_object_object_add(m, "a", json_object_new_string("b/c"));
	f = hook_frame(m, &n);
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT((int)n, 4 + 11);
		CHECK_MEM(f, "\0\0\0\x0b{\"a\":\"b/c\"}", n);
	}
	free(f);
	json_object_put(m);
}

/* A built-in's options are checked when it is added (msb_plugins_add),
 * as its supervisor will read them: nothing is made with a bad one. */
TEST(plugin_builtin_options_checked_when_added)
{
	static const struct {
		const char *name, *opts, *why;
	} bad[] = {
		{ "rate-limiter", "bogus=1", "has no option 'bogus'" },
		{ "rate-limiter", "exec=abc", "rate-limiter: exec=abc: give a "
					      "number of events a second" },
		{ "rate-limiter", "connect=0", "connect=0" },
		{ "rate-limiter", "bytes=5", "rate-limiter: bytes=5: give bytes "
					     "a second" },
		{ "audit-log", "fs=open+nope", "audit-log: fs=open+nope: 'nope' "
					       "is not a filesystem operation" },
		{ "audit-log", "fs=forget", "'forget' is not" },
		{ "audit-log", "fs=+", "name filesystem operations" },
	};
	msb_plugins *p = msb_plugins_new();
	msb_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK_EQ_INT(msb_plugins_add(p, bad[i].name, bad[i].opts, &err),
			     MSB_E_INVALID);
		CHECK_CONTAINS(err.message, bad[i].why);
	}
	CHECK_EQ_INT(msb_plugins_add(p, "rate-limiter",
				     "exec=20,connect=2.5,bytes=1.5m", &err),
		     0);
	CHECK_EQ_INT(msb_plugins_add(p, "audit-log", "dir=/tmp/x,fs=open+rename",
				     &err),
		     0);
	msb_plugins_free(p);
}

TEST(plugin_rate_limiter_refuses_beyond_its_rate)
{
	json_object *o = json_object_new_object();
	struct builtin_env env = { "t", "/nonexistent" };
	uint32_t hooks = 0;
	uint64_t ops = 0;
	void *st = NULL;
	char why[200];
	int denied = 0;

	json_object_object_add(o, "exec", json_object_new_string("3"));
	CHECK_EQ_INT(builtin_rate_limiter.open(o, &env, &st, &hooks, &ops,
					       why, sizeof(why)), 0);
	CHECK_EQ_INT((int)hooks, 1 << HOOK_EXEC_BEFORE);
	for (int i = 0; i < 5; i++) {
		struct hook_reply r = { .verdict = HV_ALLOW };

		builtin_rate_limiter.hook(st, HOOK_EXEC_BEFORE, o, &r);
		denied += r.verdict == HV_DENY;
		if (r.verdict == HV_DENY)
			CHECK_STR(r.reason, "more than 3 execs a second");
	}
	CHECK_EQ_INT(denied, 2);
	builtin_rate_limiter.close(st);
	json_object_object_add(o, "exec", json_object_new_string("0"));
	CHECK_EQ_INT(builtin_rate_limiter.open(o, &env, &st, &hooks, &ops,
					       why, sizeof(why)), -1);
	json_object_put(o);
}

TEST(plugin_audit_log_writes_json_lines)
{
	char dir[4096], path[4200], *text;
	json_object *o = json_object_new_object(), *a;
	struct builtin_env env = { "box", NULL };
	uint32_t hooks = 0;
	uint64_t ops = 0;
	void *st = NULL;
	char why[200];

	if (unit_tmpdir(dir, sizeof(dir)) < 0)
		return;
	env.dir = dir;
	json_object_object_add(o, "fs", json_object_new_string("open+nope"));
	CHECK_EQ_INT(builtin_audit_log.open(o, &env, &st, &hooks, &ops, why,
					    sizeof(why)), -1);
	CHECK_CONTAINS(why, "'nope' is not a filesystem operation");
	json_object_object_add(o, "fs", json_object_new_string("open"));
	CHECK_EQ_INT(builtin_audit_log.open(o, &env, &st, &hooks, &ops, why,
					    sizeof(why)), 0);
	CHECK(ops == 1ull << MSB_FS_OP_OPEN);
	CHECK(hooks & (1u << HOOK_FS));
	/* answers by their heads alone, never held */
	CHECK(hooks & (1u << HOOK_HTTP_RESPONSE_HEAD));
	CHECK(!(hooks & (1u << HOOK_HTTP_RESPONSE)));
	a = json_object_new_object();
	json_object_object_add(a, "event", json_object_new_string("start"));
	json_object_object_add(a, "body_b64", json_object_new_string("eA=="));
	builtin_audit_log.hook(st, HOOK_LIFECYCLE, a, NULL);
	builtin_audit_log.close(st);
	snprintf(path, sizeof(path), "%s/audit/box.jsonl", dir);
	text = msb_read_file(path, NULL);
	CHECK(text != NULL);
	if (text) {
		CHECK_CONTAINS(text, "\"hook\":\"lifecycle\",\"event\":\"start\"");
		CHECK(!strstr(text, "body_b64"));
		CHECK(text[strlen(text) - 1] == '\n');
	}
	free(text);
	json_object_put(a);
	json_object_put(o);
	msb_rm_rf(dir);
}

/* The keeper starts a command, hands over its channel, starts it again
 * when it exits, and gives up after its budget. */
TEST(plugin_keeper_restarts_then_gives_up)
{
	struct keeper_cmd c = { "read x <&3; echo \"$MSB_SANDBOX:$x\" >&3",
				"/", 1 };
	struct keeper_msg m;
	pid_t pid;
	int ctl, fd, kinds[8] = { 0 }, n = 0;
	char buf[64];

	CHECK_EQ_INT(keeper_start(&c, 1, "box", -1, &pid, &ctl), 0);
	while (n < 8) {
		struct pollfd pf = { ctl, POLLIN, 0 };

		if (poll(&pf, 1, 10000) <= 0 || keeper_recv(ctl, &m, &fd) <= 0)
			break;
		kinds[n++] = (int)m.kind;
		if (m.kind == KM_CHANNEL) {
			ssize_t got;

			CHECK(fd >= 0);
			CHECK(send(fd, "hi\n", 3, MSG_NOSIGNAL) == 3);
			got = read(fd, buf, sizeof(buf) - 1);
			CHECK(got == 7);
			if (got > 0) {
				buf[got] = '\0';
				CHECK_STR(buf, "box:hi\n");
			}
			close(fd);
		}
		if (m.kind == KM_GAVE_UP)
			break;
	}
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(kinds[0], KM_CHANNEL);
	CHECK_EQ_INT(kinds[1], KM_EXITED);
	CHECK_EQ_INT(kinds[2], KM_CHANNEL);
	CHECK_EQ_INT(kinds[3], KM_GAVE_UP);
	keeper_send(ctl, 0, KM_QUIT);
	close(ctl);
	CHECK_EQ_INT(waitpid(pid, NULL, 0), pid);
}
