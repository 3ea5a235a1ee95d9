/* SPDX-License-Identifier: Apache-2.0 */
/* inject.c - a test's hand inside a running QEMU (tests/e2e/test_escape.py):
 * makes one system call in process PID's main thread, as a guest that took
 * QEMU over would, and prints what it returned. QEMU's own filters and its
 * Landlock rules judge the call, since the thread makes it itself.
 *
 *   msb-inject PID open PATH        openat(AT_FDCWD, PATH, O_RDONLY)
 *   msb-inject PID execve PATH      execve(PATH, NULL, NULL)
 *
 * Prints "= N" (the call's return, -errno on failure) or "killed by
 * signal N" when the process died of the call; exits 1 on its own
 * failure, with why on stderr.
 *
 * How: the thread is seized and interrupted (no signal is sent: the rest
 * of the process runs on), which leaves it just after the `syscall`
 * instruction of the call it was waiting in (QEMU's main loop waits in
 * ppoll). Its registers are saved; the instruction is run again, one
 * step, with the call's number and arguments (the path on its stack, far
 * below the red zone); the registers are put back and the thread let go,
 * so the call it was waiting in is restarted. gdb does the same with its
 * `call` command, but it also writes the thread's whole extended state,
 * which its version in Debian 12 cannot do on CPUs with AMX. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "msb-inject: %s: %s\n", what, strerror(errno));
	return 1;
}

/* stopped() - wait for @pid's next stop. Return: 0 stopped, 1 it died (said
 * on stdout), -1 error. */
static int stopped(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, __WALL) < 0)
		return -1;
	if (WIFSIGNALED(st)) {
		printf("killed by signal %d\n", WTERMSIG(st));
		return 1;
	}
	if (WIFEXITED(st)) {
		printf("exited with status %d\n", WEXITSTATUS(st));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct user_regs_struct saved, r;
	pid_t pid;
	long word;
	int fd, s;
	unsigned long long where;
	char mem[64];

	if (argc != 4 || (strcmp(argv[2], "open") && strcmp(argv[2], "execve"))) {
		fprintf(stderr, "usage: msb-inject PID open|execve PATH\n");
		return 2;
	}
	pid = (pid_t)atoi(argv[1]);
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
		return die("seize");
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0)
		return die("interrupt");
	s = stopped(pid);
	if (s)
		return s < 0 ? die("wait") : 0;
	if (ptrace(PTRACE_GETREGS, pid, 0, &saved) < 0)
		return die("registers");
	errno = 0;
	word = ptrace(PTRACE_PEEKTEXT, pid, saved.rip - 2, 0);
	if (errno)
		return die("reading its code");
	if ((word & 0xffff) != 0x050f || (long long)saved.orig_rax < 0) {
		fprintf(stderr, "msb-inject: thread %d is not waiting in a "
				"system call; try again\n", pid);
		ptrace(PTRACE_DETACH, pid, 0, 0);
		return 1;
	}
	/* the path, on its stack */
	where = (saved.rsp - 8192) & ~15ull;
	snprintf(mem, sizeof(mem), "/proc/%d/mem", pid);
	fd = open(mem, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, argv[3], strlen(argv[3]) + 1, (off_t)where) < 0)
		return die("writing the path");
	close(fd);
	r = saved;
	r.rip = saved.rip - 2;
	r.orig_rax = (unsigned long long)-1; /* no restart of the old call */
	if (!strcmp(argv[2], "open")) {
		r.rax = SYS_openat;
		r.rdi = (unsigned long long)AT_FDCWD;
		r.rsi = where;
		r.rdx = O_RDONLY;
	} else {
		r.rax = SYS_execve;
		r.rdi = where;
		r.rsi = 0;
		r.rdx = 0;
	}
	if (ptrace(PTRACE_SETREGS, pid, 0, &r) < 0 ||
	    ptrace(PTRACE_SINGLESTEP, pid, 0, 0) < 0)
		return die("the call");
	s = stopped(pid);
	if (s)
		return s < 0 ? die("wait") : 0;
	if (ptrace(PTRACE_GETREGS, pid, 0, &r) < 0)
		return die("registers after");
	printf("= %lld\n", (long long)r.rax);
	if (ptrace(PTRACE_SETREGS, pid, 0, &saved) < 0 ||
	    ptrace(PTRACE_DETACH, pid, 0, 0) < 0)
		return die("letting it go");
	return 0;
}
