/* SPDX-License-Identifier: Apache-2.0 */
/* keeper.c - plugin processes started, restarted and ended (keeper.h)
 *
 * Theory of operation: one poll loop over the control socket and a
 * signalfd for SIGCHLD. A command that exits is started again after a
 * back-off (100 ms, doubled each time, at most 5 s) while it has restarts
 * left; then the supervisor is told the keeper gave up on it, and the
 * hooks it had take their safe defaults from then on. Each command runs
 * in a process group of its own so that what its shell started goes with
 * it.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"
#include "util.h"

#define KEEPER_MAX 32
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define QUIT_GRACE_MS 2000

struct kept {
	const struct keeper_cmd *c;
	pid_t pid;          /* 0: not running */
	unsigned restarts;  /* done so far */
	uint64_t start_at;  /* ms: start again then (0: not waiting) */
	int gave_up;
};

int keeper_send(int ctl, uint32_t index, uint32_t kind)
{
	struct keeper_msg m = { .index = index, .kind = kind };

	return send(ctl, &m, sizeof(m), MSG_NOSIGNAL) == sizeof(m) ? 0 :
								     -errno;
}

static int send_fd(int ctl, const struct keeper_msg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(ctl, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int keeper_recv(int ctl, struct keeper_msg *m, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (n != sizeof(*m) || (mh.msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return 1;
}

/* spawn() - start @k; its channel goes to the supervisor. */
static void spawn(struct kept *k, unsigned index, int ctl, const char *sandbox,
		  int log_fd)
{
	struct keeper_msg m = { .index = index, .kind = KM_CHANNEL,
				.restarts = k->restarts };
	int sv[2];
	pid_t pid;

	k->start_at = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto failed;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		goto failed;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (null >= 0)
			dup2(null, 0);
		if (log_fd >= 0) {
			dup2(log_fd, 1);
			dup2(log_fd, 2);
		}
		dup2(sv[1], 3);
		close_range(4, ~0u, 0);
		setenv("MSB_PLUGIN_FD", "3", 1);
		setenv("MSB_SANDBOX", sandbox, 1);
		if (k->c->cwd && chdir(k->c->cwd) < 0)
			fprintf(stderr, "msb: plugin: cannot enter %s: %s\n",
				k->c->cwd, strerror(errno));
		execl("/bin/sh", "sh", "-c", k->c->cmd, (char *)NULL);
		fprintf(stderr, "msb: plugin: cannot run /bin/sh: %s\n",
			strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(sv[1]);
	k->pid = pid;
	send_fd(ctl, &m, sv[0]);
	close(sv[0]);
	return;
failed:
	/* (as if it exited at once: the next restart is its retry) */
	k->pid = 0;
	k->start_at = msb_now_ms() + BACKOFF_MAX_MS;
}

static void reaped(struct kept *ks, unsigned n, pid_t pid, int status,
		   int ctl, int quitting)
{
	for (unsigned i = 0; i < n; i++) {
		struct kept *k = &ks[i];
		struct keeper_msg m = { .index = i, .status = status };
		unsigned back;

		if (k->pid != pid)
			continue;
		k->pid = 0;
		/* what its shell left behind in its group goes with it */
		kill(-pid, SIGKILL);
		if (quitting)
			return;
		if (k->restarts >= k->c->restarts) {
			k->gave_up = 1;
			m.kind = KM_GAVE_UP;
			send_fd(ctl, &m, -1);
			return;
		}
		back = BACKOFF_MIN_MS << (k->restarts < 6 ? k->restarts : 6);
		if (back > BACKOFF_MAX_MS)
			back = BACKOFF_MAX_MS;
		k->restarts++;
		k->start_at = msb_now_ms() + back;
		m.kind = KM_EXITED;
		send_fd(ctl, &m, -1);
		return;
	}
}

/* wait_all() - reap the commands until none is left or @ms pass.
 * Return: how many are left. */
static int wait_all(struct kept *ks, unsigned n, unsigned ms)
{
	uint64_t until = msb_now_ms() + ms;
	int left;

	do {
		pid_t pid;
		int st;

		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (unsigned i = 0; i < n; i++)
				if (ks[i].pid == pid)
					ks[i].pid = 0;
		left = 0;
		for (unsigned i = 0; i < n; i++)
			left += ks[i].pid > 0;
		if (left)
			usleep(10000);
	} while (left && msb_now_ms() < until);
	return left;
}

/* quit() - the sandbox stops: its channels are closed, so a command sees
 * its end and may finish on its own (writing down the stop event); then
 * SIGTERM, then SIGKILL. */
static void quit(struct kept *ks, unsigned n)
{
	if (!wait_all(ks, n, QUIT_GRACE_MS / 2))
		return;
	for (unsigned i = 0; i < n; i++)
		if (ks[i].pid > 0)
			kill(-ks[i].pid, SIGTERM);
	if (!wait_all(ks, n, QUIT_GRACE_MS / 2))
		return;
	for (unsigned i = 0; i < n; i++)
		if (ks[i].pid > 0)
			kill(-ks[i].pid, SIGKILL);
}

static void keeper_main(const struct keeper_cmd *cmds, unsigned n,
			const char *sandbox, int log_fd, int ctl)
{
	struct kept ks[KEEPER_MAX] = { 0 };
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	for (unsigned i = 0; i < n; i++) {
		ks[i].c = &cmds[i];
		spawn(&ks[i], i, ctl, sandbox, log_fd);
	}
	for (;;) {
		struct pollfd pf[2] = { { ctl, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		uint64_t now = msb_now_ms(), next = 0;
		int timeout = -1;

		for (unsigned i = 0; i < n; i++)
			if (ks[i].start_at && (!next || ks[i].start_at < next))
				next = ks[i].start_at;
		if (next)
			timeout = next > now ? (int)(next - now) : 0;
		if (poll(pf, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pf[1].revents) {
			struct signalfd_siginfo si;
			pid_t pid;
			int st;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				reaped(ks, n, pid, st, ctl, 0);
		}
		if (pf[0].revents) {
			struct keeper_msg m;
			ssize_t got = recv(ctl, &m, sizeof(m), 0);

			if (got <= 0 || m.kind == KM_QUIT)
				break;
			if (got == sizeof(m) && m.kind == KM_KILL &&
			    m.index < n && ks[m.index].pid > 0)
				kill(-ks[m.index].pid, SIGKILL);
		}
		now = msb_now_ms();
		for (unsigned i = 0; i < n; i++)
			if (ks[i].start_at && ks[i].start_at <= now &&
			    !ks[i].gave_up)
				spawn(&ks[i], i, ctl, sandbox, log_fd);
	}
	quit(ks, n);
}

int keeper_start(const struct keeper_cmd *cmds, unsigned n,
		 const char *sandbox, int log_fd, pid_t *pid, int *ctl)
{
	int sv[2];
	pid_t parent = getpid();

	if (n > KEEPER_MAX)
		return -E2BIG;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		prctl(PR_SET_NAME, "msb-plugins");
		int c = fcntl(sv[1], F_DUPFD, 100),
		    l = log_fd >= 0 ? fcntl(log_fd, F_DUPFD, 100) : -1;

		/* Only its control socket and the log: not the sandbox's
		 * lock, database or sockets. */
		if (c < 0 || dup2(c, 3) < 0 || (l >= 0 && dup2(l, 4) < 0))
			_exit(1);
		close_range(l >= 0 ? 5 : 4, ~0u, 0);
		keeper_main(cmds, n, sandbox, log_fd >= 0 ? 4 : -1, 3);
		_exit(0);
	}
	close(sv[1]);
	*ctl = sv[0];
	return 0;
}
