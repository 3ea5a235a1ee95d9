/* SPDX-License-Identifier: Apache-2.0 */
/* forbid.c - a test's hand inside a confined supervisor (LD_PRELOAD)
 *
 * tests/e2e/test_escape.py starts a sandbox with this library preloaded
 * and MSB_TEST_FORBID=PATH (a file in the sandbox's own directory). In
 * msb-supervisor only, the main loop's epoll_wait is wrapped: it waits at
 * most 100 ms at a time and each time looks for PATH. A line found there
 * names an action, which the main thread (confined like the rest of the
 * supervisor) then tries; what the call returned is appended to PATH.out,
 * unless it killed the process. PATH is read once and unlinked, so it is
 * to appear whole (written beside it and renamed into place). Nothing of
 * this is in msb itself: a test that can set the supervisor's environment
 * can preload anything.
 *
 *   read FILE     open FILE for reading (Landlock: refused outside)
 *   create FILE   create FILE (likewise)
 *   exec          execve("/bin/true") (seccomp: killed)
 *   ptrace        ptrace(PTRACE_TRACEME) (seccomp: killed)
 *   socket        a raw AF_PACKET socket (seccomp: killed)
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char *program_invocation_short_name;

static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static const char *trigger;

__attribute__((constructor)) static void forbid_init(void)
{
	real_epoll_wait = (int (*)(int, struct epoll_event *, int, int))
		dlsym(RTLD_NEXT, "epoll_wait");
	if (!strcmp(program_invocation_short_name, "msb-supervisor"))
		trigger = getenv("MSB_TEST_FORBID");
}

static void report(const char *action, long r, int e)
{
	char path[4200], line[4300];
	int fd, n;

	snprintf(path, sizeof(path), "%s.out", trigger);
	n = snprintf(line, sizeof(line), "%s %ld %s\n", action, r,
		     r < 0 ? strerrorname_np(e) : "OK");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) < 0)
			n = 0;
		close(fd);
	}
}

static void act(const char *line)
{
	char *argv[] = { "true", NULL };
	long r;

	if (!strncmp(line, "read ", 5)) {
		r = open(line + 5, O_RDONLY | O_CLOEXEC);
	} else if (!strncmp(line, "create ", 7)) {
		r = open(line + 7, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			 0644);
	} else if (!strcmp(line, "exec")) {
		r = syscall(SYS_execve, "/bin/true", argv, environ);
	} else if (!strcmp(line, "ptrace")) {
		r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	} else if (!strcmp(line, "socket")) {
		r = socket(AF_PACKET, SOCK_RAW, 0);
	} else {
		report("unknown", -1, EINVAL);
		return;
	}
	report(line, r, errno);
	if (r >= 0)
		close((int)r);
}

static void poll_trigger(void)
{
	char buf[4200];
	ssize_t n;
	int fd = open(trigger, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(trigger);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		act(l);
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	int r;

	if (!trigger || syscall(SYS_gettid) != getpid())
		return real_epoll_wait(epfd, ev, max, timeout);
	r = real_epoll_wait(epfd, ev, max,
			    timeout < 0 || timeout > 100 ? 100 : timeout);
	poll_trigger();
	return r;
}
