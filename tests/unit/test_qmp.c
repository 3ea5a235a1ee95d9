/* SPDX-License-Identifier: Apache-2.0 */
/* test_qmp.c - the QMP client against a real QEMU, and against bytes fed by
 * hand for what a real QEMU never sends
 *
 * The QEMU is a "-M none" machine (no guest, no kernel): it speaks the
 * same monitor as a sandbox's VM and starts in milliseconds.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "harness.h"
#include "qmp.h"
#include "util.h"

struct evlog {
	char names[16][32];
	int n;
};

static void log_event(void *opaque, const char *event, json_object *data)
{
	struct evlog *l = opaque;

	if (l->n < 16)
		snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", event);
}

/* A QEMU with no machine whose monitor is the other end of *@fd. */
static pid_t qemu_none(int *fd)
{
	char qemu[PATH_MAX], chardev[64];
	int sv[2];
	pid_t pid;

	if (msb_engine_find(qemu, sizeof(qemu), NULL) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	snprintf(chardev, sizeof(chardev), "socket,id=m,fd=%d", sv[1]);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		fcntl(sv[1], F_SETFD, 0);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execl(qemu, qemu, "-M", "none", "-nodefaults", "-display",
		      "none", "-S", "-chardev", chardev, "-mon",
		      "chardev=m,mode=control", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

static void reap(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Run the client's loop until @cond or 10 s. */
#define PUMP_UNTIL(q, cond)                                                \
	do {                                                               \
		uint64_t end_ = msb_now_ms() + 10000;                      \
		while (!(cond) && msb_now_ms() < end_ &&                   \
		       !msb_qmp_broken(q)) {                               \
			struct pollfd p_ = { msb_qmp_fd(q), POLLIN, 0 };   \
			if (msb_qmp_want_write(q))                         \
				p_.events |= POLLOUT;                      \
			poll(&p_, 1, 100);                                 \
			if (p_.revents & POLLOUT)                          \
				msb_qmp_on_writable(q);                    \
			if (p_.revents & (POLLIN | POLLHUP))               \
				msb_qmp_on_readable(q, NULL);              \
		}                                                          \
	} while (0)

struct answer {
	int done;
	char status[32];
	char eclass[64];
};

static void on_answer(void *opaque, json_object *ret, const char *eclass,
		      const char *edesc)
{
	struct answer *a = opaque;
	json_object *v;

	a->done++;
	if (ret && json_object_object_get_ex(ret, "status", &v))
		snprintf(a->status, sizeof(a->status), "%s",
			 json_object_get_string(v));
	if (eclass)
		snprintf(a->eclass, sizeof(a->eclass), "%s", eclass);
}

TEST(qmp_real_qemu_commands_and_events)
{
	struct evlog ev = { 0 };
	struct answer a = { 0 }, b = { 0 }, c = { 0 };
	struct msb_qmp *q;
	json_object *ret = NULL, *v;
	msb_error err = { 0 };
	int fd;
	pid_t pid = qemu_none(&fd);

	CHECK(pid > 0);
	if (pid <= 0)
		return;
	q = msb_qmp_new(fd, log_event, &ev);
	CHECK(q != NULL);
	if (!q) {
		reap(pid);
		return;
	}
	/* Started with -S: paused before its first instruction. */
	CHECK_EQ_INT(msb_qmp_send(q, "query-status", NULL, on_answer, &a,
				  &err),
		     0);
	PUMP_UNTIL(q, a.done);
	CHECK(msb_qmp_ready(q));
	CHECK_EQ_INT(a.done, 1);
	CHECK_STR(a.status, "prelaunch");

	/* Run, then pause: each answered, each announced by an event. */
	CHECK_EQ_INT(msb_qmp_call(q, "cont", NULL, NULL, 5000, &err), 0);
	CHECK_EQ_INT(msb_qmp_call(q, "stop", NULL, NULL, 5000, &err), 0);
	PUMP_UNTIL(q, ev.n >= 2);
	CHECK_EQ_INT(ev.n, 2);
	CHECK_STR(ev.names[0], "RESUME");
	CHECK_STR(ev.names[1], "STOP");
	CHECK_EQ_INT(msb_qmp_call(q, "query-status", NULL, &ret, 5000, &err),
		     0);
	CHECK(ret && json_object_object_get_ex(ret, "status", &v) &&
	      !strcmp(json_object_get_string(v), "paused"));
	json_object_put(ret);

	/* A command QEMU does not know: its error class and text. */
	CHECK(msb_qmp_call(q, "no-such-command", NULL, NULL, 5000, &err) < 0);
	CHECK_CONTAINS(err.message, "no-such-command");
	CHECK_CONTAINS(err.message, "CommandNotFound");
	/* Bad arguments: refused, the link still good. */
	CHECK_EQ_INT(msb_qmp_send(q, "query-status",
				  json_tokener_parse("{\"x\":1}"), on_answer,
				  &b, &err),
		     0);
	PUMP_UNTIL(q, b.done);
	CHECK_STR(b.eclass, "GenericError");
	CHECK(!msb_qmp_broken(q));

	/* QEMU goes away: what was pending is answered "Disconnected". */
	CHECK_EQ_INT(msb_qmp_send(q, "quit", NULL, NULL, NULL, &err), 0);
	CHECK_EQ_INT(msb_qmp_send(q, "query-status", NULL, on_answer, &c,
				  &err),
		     0);
	PUMP_UNTIL(q, c.done);
	CHECK_EQ_INT(c.done, 1);
	CHECK_STR(c.eclass, "Disconnected");
	CHECK(msb_qmp_broken(q));
	CHECK(ev.n >= 3 && !strcmp(ev.names[ev.n - 1], "SHUTDOWN"));
	CHECK(msb_qmp_send(q, "query-status", NULL, NULL, NULL, &err) < 0);
	msb_qmp_free(q);
	reap(pid);
}

/* A client on one end of a socketpair; the test writes QEMU's side. */
static struct msb_qmp *fed(struct evlog *ev, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	*peer = sv[1];
	return msb_qmp_new(sv[0], log_event, ev);
}

TEST(qmp_fed_lines_split_anywhere)
{
	static const char in[] =
		"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n"
		"{\"return\": {}, \"id\": 1}\n"
		"{\"event\": \"STOP\", \"timestamp\": {}}\n"
		"{\"return\": {\"status\": \"paused\"}, \"id\": 2}\n"
		"{\"event\": \"BLOCK_IO_ERROR\", \"data\": {\"nospace\": true}}\n";
	/* Every split point of the stream gives the same dispatch. */
	for (size_t cut = 1; cut < sizeof(in) - 1; cut += 7) {
		struct evlog ev = { 0 };
		struct answer a = { 0 };
		int peer;
		struct msb_qmp *q = fed(&ev, &peer);

		if (!q)
			return;
		msb_qmp_send(q, "query-status", NULL, on_answer, &a, NULL);
		CHECK_EQ_INT(msb_qmp_feed(q, in, cut), 0);
		CHECK_EQ_INT(msb_qmp_feed(q, in + cut, sizeof(in) - 1 - cut),
			     0);
		CHECK(msb_qmp_ready(q));
		CHECK_EQ_INT(a.done, 1);
		CHECK_STR(a.status, "paused");
		CHECK_EQ_INT(ev.n, 2);
		CHECK_STR(ev.names[1], "BLOCK_IO_ERROR");
		msb_qmp_free(q);
		close(peer);
	}
}

TEST(qmp_fed_garbage_breaks_the_link)
{
	static const char *const bad[] = {
		"[1,2]\n",                          /* not an object */
		"{\"return\": {}, \"id\": 99}\n",   /* answers nothing sent */
		"{\"return\": {}}\n",               /* no id */
		"{\"what\": 1}\n",                  /* no known kind */
		"{\"return\": {}, \"id\": \n",      /* cut JSON */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct evlog ev = { 0 };
		struct answer a = { 0 };
		int peer;
		struct msb_qmp *q = fed(&ev, &peer);

		if (!q)
			return;
		msb_qmp_send(q, "query-status", NULL, on_answer, &a, NULL);
		CHECK(msb_qmp_feed(q, bad[i], strlen(bad[i])) < 0);
		CHECK(msb_qmp_broken(q));
		CHECK_EQ_INT(a.done, 1);
		CHECK_STR(a.eclass, "Disconnected");
		msb_qmp_free(q);
		close(peer);
	}
}

TEST(qmp_fed_overlong_line_is_refused)
{
	struct evlog ev = { 0 };
	int peer;
	struct msb_qmp *q = fed(&ev, &peer);
	char *big = malloc(QMP_LINE_MAX + 2);

	if (!q || !big) {
		free(big);
		msb_qmp_free(q);
		return;
	}
	memset(big, ' ', QMP_LINE_MAX + 2);
	CHECK(msb_qmp_feed(q, big, QMP_LINE_MAX + 2) < 0);
	CHECK(msb_qmp_broken(q));
	free(big);
	msb_qmp_free(q);
	close(peer);
}

TEST(qmp_call_times_out_and_a_late_answer_is_harmless)
{
	struct evlog ev = { 0 };
	msb_error err = { 0 };
	int peer;
	struct msb_qmp *q = fed(&ev, &peer);
	static const char late[] = "{\"return\": {}, \"id\": 1}\n"
				   "{\"return\": {}, \"id\": 2}\n";

	if (!q)
		return;
	CHECK_EQ_INT(msb_qmp_call(q, "stop", NULL, NULL, 50, &err),
		     -ETIMEDOUT);
	CHECK_CONTAINS(err.message, "did not answer stop");
	/* The answer arrives after its caller gave up. */
	CHECK_EQ_INT(msb_qmp_feed(q, late, sizeof(late) - 1), 0);
	CHECK(!msb_qmp_broken(q));
	msb_qmp_free(q);
	close(peer);
}
