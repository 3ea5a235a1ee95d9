/* SPDX-License-Identifier: Apache-2.0 */
/* plugevent.c - the lifecycle event no supervisor is there to send:
 * "remove" (docs/plugins.md)
 *
 * A sandbox is removed by the library, stopped: its supervisor and the
 * plugin processes it kept are gone. So the library tells each plugin of
 * the record itself, one at a time, with the hook protocol: a process
 * plugin is started for the occasion (as its supervisor starts it, but
 * with the remover's environment), a socket plugin is connected to; each
 * gets the hello, and the event if it wants lifecycle, then the end of
 * its channel, a second to exit, SIGTERM, another second, SIGKILL. The
 * audit-log built-in appends its line when its directory outlives the
 * sandbox's. Nothing here can fail the remove: a plugin that does not
 * answer its hello within HELLO_MS is skipped (what events to a plugin
 * that is down get, too).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bytes.h"
#include "jsonx.h"
#include "plugreg.h"
#include "util.h"

#define HELLO_MS 3000
#define HELLO_MAX (64u << 10)

extern char **environ;

static int send_msg(int fd, json_object *m)
{
	const char *s = json_object_to_json_string_ext(
		m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	uint32_t n = (uint32_t)strlen(s);
	unsigned char h[4] = { n >> 24, n >> 16, n >> 8, n };
	int r = msb_send_all(fd, h, 4);

	return r < 0 ? r : msb_send_all(fd, s, n);
}

/* read_full() - @n bytes by @deadline (msb_now_ms()). */
static int read_full(int fd, void *buf, size_t n, uint64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = msb_now_ms();
		ssize_t k;

		if (now >= deadline ||
		    poll(&p, 1, (int)(deadline - now)) <= 0)
			return -ETIMEDOUT;
		k = read(fd, (char *)buf + got, n - got);
		if (k <= 0)
			return k < 0 && errno == EINTR ? 0 : -EPIPE;
		got += (size_t)k;
	}
	return 0;
}

/* wants_lifecycle() - the hello exchange; 1 when the plugin wants the
 * lifecycle hook, 0 when not, <0 when it did not say hello. */
static int wants_lifecycle(int fd, const char *sandbox)
{
	static const char *const hooks[] = {
		"lifecycle", "exec_before", "exec_after", "dns", "connect",
		"http_request", "fs", "http_response", "http_response_head",
	};
	json_object *m = json_object_new_object(), *a = json_object_new_array();
	uint64_t deadline = msb_now_ms() + HELLO_MS;
	unsigned char h[4];
	uint32_t n;
	char *buf;
	int r;

	for (size_t i = 0; i < sizeof(hooks) / sizeof(*hooks); i++)
		json_object_array_add(a, json_object_new_string(hooks[i]));
	json_object_object_add(m, "type", json_object_new_string("hello"));
	json_object_object_add(m, "protocol", json_object_new_int(1));
	json_object_object_add(m, "sandbox", json_object_new_string(sandbox));
	json_object_object_add(m, "hooks", a);
	r = send_msg(fd, m);
	json_object_put(m);
	if (r < 0 || read_full(fd, h, 4, deadline) < 0)
		return -EPROTO;
	n = msb_get_be32(h);
	if (!n || n > HELLO_MAX || !(buf = calloc(1, n + 1)))
		return -EPROTO;
	r = read_full(fd, buf, n, deadline);
	m = r == 0 ? json_tokener_parse(buf) : NULL;
	free(buf);
	r = -EPROTO;
	if (m && json_object_object_get_ex(m, "hooks", &a) &&
	    json_object_is_type(a, json_type_array)) {
		r = 0;
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *e = json_object_array_get_idx(a, i);

			if (json_object_is_type(e, json_type_string) &&
			    !strcmp(json_object_get_string(e), "lifecycle"))
				r = 1;
		}
	}
	json_object_put(m);
	return r;
}

static void tell(int fd, const char *sandbox, const char *event)
{
	json_object *m;

	if (wants_lifecycle(fd, sandbox) != 1)
		return;
	m = json_object_new_object();
	json_object_object_add(m, "type", json_object_new_string("event"));
	json_object_object_add(m, "hook", json_object_new_string("lifecycle"));
	json_object_object_add(m, "event", json_object_new_string(event));
	json_object_object_add(m, "sandbox", json_object_new_string(sandbox));
	send_msg(fd, m);
	json_object_put(m);
}

/* reap() - wait up to @ms for @pid; Return: 1 when it has ended. */
static int reap(pid_t pid, unsigned ms)
{
	for (unsigned t = 0;; t += 10) {
		pid_t w = waitpid(pid, NULL, WNOHANG);

		if (w == pid || (w < 0 && errno == ECHILD))
			return 1;
		if (t >= ms)
			return 0;
		usleep(10000);
	}
}

static void tell_process(const char *sandbox, const char *cmd,
			 const char *cwd, const char *event)
{
	char fdvar[] = "MSB_PLUGIN_FD=3", sbvar[128];
	size_t n = 0, k = 0;
	char **envp;
	int sv[2], devnull;
	pid_t pid;

	while (environ[n])
		n++;
	envp = calloc(n + 3, sizeof(*envp));
	if (!envp)
		return;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MSB_PLUGIN_FD=", 14) &&
		    strncmp(environ[i], "MSB_SANDBOX=", 12))
			envp[k++] = environ[i];
	snprintf(sbvar, sizeof(sbvar), "MSB_SANDBOX=%s", sandbox);
	envp[k++] = fdvar;
	envp[k++] = sbvar;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		if (devnull >= 0)
			close(devnull);
		free(envp);
		return;
	}
	pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls from here */
		setpgid(0, 0);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		dup2(sv[1], 3);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		execve("/bin/sh", (char *[]){ "sh", "-c", (char *)cmd, NULL },
		       envp);
		_exit(127);
	}
	close(sv[1]);
	close(devnull);
	free(envp);
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	tell(sv[0], sandbox, event);
	close(sv[0]);
	if (!reap(pid, 1000)) {
		kill(-pid, SIGTERM);
		if (!reap(pid, 1000)) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
}

static void tell_audit(const char *sandbox, json_object *opts,
		       const char *event)
{
	json_object *d, *o;
	struct timespec ts;
	const char *line;
	char path[4200];
	int fd;

	/* the default directory is the sandbox's own, removed with it */
	if (!json_object_object_get_ex(opts, "dir", &d) ||
	    json_object_get_string(d)[0] != '/')
		return;
	snprintf(path, sizeof(path), "%s/%s.jsonl", json_object_get_string(d),
		 sandbox);
	clock_gettime(CLOCK_REALTIME, &ts);
	o = json_object_new_object();
	json_object_object_add(o, "time",
			       msb_jdouble((double)ts.tv_sec + ts.tv_nsec / 1e9,
					   6));
	json_object_object_add(o, "sandbox", json_object_new_string(sandbox));
	json_object_object_add(o, "hook", json_object_new_string("lifecycle"));
	json_object_object_add(o, "event", json_object_new_string(event));
	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		if (msb_write_all(fd, line, strlen(line)) == 0)
			msb_write_all(fd, "\n", 1);
		close(fd);
	}
	json_object_put(o);
}

void msb_plugins_tell(const char *sandbox, const char *config,
		      const char *event)
{
	json_object *cfg = config ? json_tokener_parse(config) : NULL, *list;

	if (!cfg || !json_object_object_get_ex(cfg, "plugins", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		json_object_put(cfg);
		return;
	}
	/* (msb_send_all() sends with MSG_NOSIGNAL: a plugin that closes
	 * first is no SIGPIPE) */
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *o = json_object_array_get_idx(list, i), *opts;
		const char *kind = msb_jstr(o, "kind", NULL);

		if (!kind)
			continue;
		if (!strcmp(kind, "builtin") && msb_jstr(o, "name", NULL) &&
		    !strcmp(msb_jstr(o, "name", NULL), "audit-log") &&
		    json_object_object_get_ex(o, "options", &opts)) {
			tell_audit(sandbox, opts, event);
		} else if (!strcmp(kind, "process") && msb_jstr(o, "cmd", NULL)) {
			msb_plugin_info info;

			/* an installed plugin whose files changed is not run */
			if (msb_jstr(o, "installed", NULL) &&
			    msb_plugin_verify(msb_jstr(o, "installed", NULL),
					      msb_jstr(o, "digest", NULL), &info,
					      NULL) < 0)
				continue;
			tell_process(sandbox, msb_jstr(o, "cmd", NULL), msb_jstr(o, "cwd", NULL),
				     event);
		} else if (!strcmp(kind, "socket") && msb_jstr(o, "path", NULL)) {
			int fd = msb_unix_connect(msb_jstr(o, "path", NULL));

			if (fd >= 0) {
				tell(fd, sandbox, event);
				close(fd);
			}
		}
	}
	json_object_put(cfg);
}
