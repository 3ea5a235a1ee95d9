/* SPDX-License-Identifier: Apache-2.0 */
/* broker.c - the spawn broker's process (broker.h)
 *
 * Theory of operation: one poll loop over the channel to the supervisor
 * and a signalfd for SIGCHLD. Each request gets a worker, the
 * supervisor's program run afresh (`msb-supervisor --peer-worker`: a
 * plain fork would carry the supervisor's SQLite handles, which must not
 * cross a fork) with the request on descriptor 4; it runs it with libmsb
 * (peers.c) and writes its frames straight to the channel (a SOCK_SEQPACKET message is never interleaved
 * with another), then exits. A worker that dies before its last frame is
 * answered for; a cancelled one (its guest program went away) is killed,
 * and so is its process group: the exec it held ends with its
 * connection. The supervisor's death kills the broker (PR_SET_PDEATHSIG),
 * whose end kills its workers. Peers themselves are sandboxes of their
 * own, with supervisors of their own, and outlive both.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "proto.h"
#include "util.h"

struct worker {
	pid_t pid;
	uint32_t stream;
	int in; /* the write end of its pipe (PEER_IN_FD), non-blocking */
};

/* The supervisor's program, for its workers. */
static char self_exe[4096];

int broker_send(int ctl, uint32_t stream, uint32_t kind, const void *p,
		size_t n)
{
	struct broker_hdr h = { .stream = stream, .kind = kind };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, n } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n ? 2 : 1 };

	if (n > BROKER_MSG_MAX - sizeof(h))
		return -EMSGSIZE;
	for (;;) {
		if (sendmsg(ctl, &m, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static void result(int ctl, uint32_t stream, int err, const char *msg)
{
	uint8_t buf[4200];
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, (uint32_t)err);
	if (msg)
		msb_tlv_put_str(&w, MSB_T_MESSAGE, msg);
	broker_send(ctl, stream, MSB_F_RESULT, buf, w.len);
}

static void start_worker(struct worker *ws, const char *parent,
			 json_object *config, const uint8_t *p, size_t n,
			 uint32_t stream, int ctl)
{
	struct worker *w = NULL;
	json_object *req;
	int pipefd[2];
	pid_t pid;

	for (int i = 0; i < BROKER_WORKERS; i++)
		if (!ws[i].pid) {
			w = &ws[i];
			break;
		}
	if (!w) {
		result(ctl, stream, EBUSY, "too many peer requests at once "
		       "(at most 16): try again when one is done");
		return;
	}
	req = json_tokener_parse(n ? (const char *)p : "");
	if (!req) {
		result(ctl, stream, EINVAL, "a bad request");
		return;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		result(ctl, stream, errno, "the host could not start a worker "
		       "for the request");
		json_object_put(req);
		return;
	}
	pid = fork();
	if (pid < 0) {
		result(ctl, stream, errno, "the host could not start a worker "
		       "for the request");
		json_object_put(req);
		close(pipefd[0]);
		close(pipefd[1]);
		return;
	}
	if (pid == 0) {
		json_object *job = json_object_new_object();
		const char *t;
		sigset_t none;
		char sid[16];
		int fd;

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		json_object_object_add(job, "parent",
				       json_object_new_string(parent));
		json_object_object_add(job, "config", json_object_get(config));
		json_object_object_add(job, "req", req);
		t = json_object_to_json_string_ext(job, JSON_C_TO_STRING_PLAIN);
		fd = memfd_create("msb-peer-request", MFD_CLOEXEC);
		if (fd < 0 || msb_write_all(fd, t, strlen(t)) < 0 ||
		    lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 4) < 0 ||
		    (pipefd[0] == PEER_IN_FD ?
			     fcntl(PEER_IN_FD, F_SETFD, 0) :
			     dup2(pipefd[0], PEER_IN_FD)) < 0)
			_exit(1);
		close_range(PEER_IN_FD + 1, ~0u, 0);
		snprintf(sid, sizeof(sid), "%u", stream);
		execl(self_exe, self_exe, "--peer-worker", sid, (char *)NULL);
		_exit(1);
	}
	setpgid(pid, pid);
	json_object_put(req);
	close(pipefd[0]);
	/* Never waits on a worker: one whose pipe is full was sent more
	 * than its windows allow, and goes (tell()). */
	fcntl(pipefd[1], F_SETPIPE_SZ, PEER_IN_PIPE);
	fcntl(pipefd[1], F_SETFL, O_NONBLOCK);
	w->pid = pid;
	w->stream = stream;
	w->in = pipefd[1];
}

/* tell() - one message for worker @w's pipe: the word (@kind, @v) and
 * @n bytes. Return: 0, or -1 when it does not fit whole. */
static int tell(struct worker *w, unsigned kind, uint32_t v, const void *p,
		size_t n)
{
	uint8_t h[4];
	struct iovec iov[2] = { { h, 4 }, { (void *)p, n } };
	ssize_t k;

	msb_put_be32(h, (uint32_t)kind << 24 | (v & 0xffffff));
	do
		k = writev(w->in, iov, n ? 2 : 1);
	while (k < 0 && errno == EINTR);
	return k == (ssize_t)(4 + n) ? 0 : -1;
}

/* to_worker() - a message from the supervisor for the worker of its
 * stream: cancel, output credit, input, a terminal's size. */
static void to_worker(struct worker *w, uint32_t kind, const uint8_t *p,
		      size_t n)
{
	int bad = 0;

	switch (kind) {
	case BK_CANCEL:
		bad = 1;
		break;
	case BK_WINDOW: {
		uint32_t v = n == 4 ? msb_get_be32(p) : 0;

		bad = n != 4 ||
		      tell(w, PIN_CREDIT, v > 0xffffff ? 0xffffff : v, NULL,
			   0) < 0;
		break;
	}
	case BK_STDIN:
		bad = n > 0xffffff || tell(w, PIN_STDIN, (uint32_t)n, p, n) < 0;
		break;
	case BK_RESIZE:
		bad = n != 4 || tell(w, PIN_RESIZE, 0, p, 4) < 0;
		break;
	}
	/* cancelled, or stuck: it goes, and its group with it */
	if (bad)
		kill(-w->pid, SIGKILL);
}

static void reaped(struct worker *ws, pid_t pid, int st, int ctl)
{
	for (int i = 0; i < BROKER_WORKERS; i++) {
		if (ws[i].pid != pid)
			continue;
		ws[i].pid = 0;
		close(ws[i].in);
		kill(-pid, SIGKILL); /* what it left in its group */
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			result(ctl, ws[i].stream, EIO, "the host's worker for "
			       "this request ended before it answered");
		return;
	}
}

/* stop_peers() - the sandbox is down: its peers go too, stopped by a
 * process that outlives this one (the supervisor's end kills it), in a
 * session of its own. */
static void stop_peers(const char *parent, int ctl)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;

		setsid();
		prctl(PR_SET_PDEATHSIG, 0);
		signal(SIGCHLD, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* a grandchild: nobody waits for this one */
		if (fork() != 0)
			_exit(0);
		close_range(3, ~0u, 0);
		execl(self_exe, self_exe, "--stop-peers", parent, (char *)NULL);
		_exit(1);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	broker_send(ctl, 0, BK_STOPPING, NULL, 0);
}

static void broker_main(const char *parent, json_object *config, int ctl)
{
	static uint8_t buf[BROKER_MSG_MAX + 1];
	struct worker ws[BROKER_WORKERS] = { 0 };
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	for (;;) {
		struct pollfd pf[2] = { { ctl, POLLIN, 0 }, { sfd, POLLIN, 0 } };

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents) {
			struct signalfd_siginfo si;
			pid_t pid;
			int st;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				reaped(ws, pid, st, ctl);
		}
		if (pf[0].revents) {
			struct broker_hdr h;
			ssize_t got = recv(ctl, buf, BROKER_MSG_MAX, 0);

			if (got <= 0)
				break;
			/* a request is text: it ends here, not at what an
			 * earlier, longer message left after it */
			buf[got] = 0;
			if ((size_t)got < sizeof(h))
				continue;
			memcpy(&h, buf, sizeof(h));
			if (h.kind == BK_STOP_PEERS) {
				stop_peers(parent, ctl);
				continue;
			}
			if (h.kind == BK_REQ) {
				start_worker(ws, parent, config,
					     buf + sizeof(h),
					     (size_t)got - sizeof(h), h.stream,
					     ctl);
				continue;
			}
			for (int i = 0; i < BROKER_WORKERS; i++)
				if (ws[i].pid && ws[i].stream == h.stream)
					to_worker(&ws[i], h.kind,
						  buf + sizeof(h),
						  (size_t)got - sizeof(h));
		}
	}
	for (int i = 0; i < BROKER_WORKERS; i++)
		if (ws[i].pid)
			kill(-ws[i].pid, SIGKILL);
}

int broker_start(const char *parent, json_object *config, pid_t *pid,
		 int *ctl)
{
	int sv[2], big = 1 << 20;
	pid_t sup = getpid();

	{
		ssize_t k = readlink("/proc/self/exe", self_exe,
				     sizeof(self_exe) - 1);

		if (k <= 0)
			return -errno;
		self_exe[k] = 0;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* room for a few whole frames each way */
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	*pid = fork();
	if (*pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (*pid == 0) {
		int c;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != sup)
			_exit(0);
		prctl(PR_SET_NAME, "msb-spawn");
		/* Only its channel: not the sandbox's lock, database,
		 * notify pipe or sockets. */
		c = fcntl(sv[1], F_DUPFD, 100);
		if (c < 0 || dup2(c, 3) < 0)
			_exit(1);
		close_range(4, ~0u, 0);
		{
			int null = open("/dev/null", O_RDWR);

			/* the supervisor's stdio is nobody's to write */
			if (null >= 0) {
				dup2(null, 0);
				dup2(null, 1);
				dup2(null, 2);
				if (null > 3)
					close(null);
			}
		}
		broker_main(parent, config, 3);
		_exit(0);
	}
	close(sv[1]);
	*ctl = sv[0];
	return 0;
}

int peer_worker_main(const char *stream)
{
	size_t n = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	json_object *job, *cfg, *req;
	const char *parent;
	ssize_t k;

	signal(SIGPIPE, SIG_IGN);
	while (buf && (k = read(4, buf + n, cap - n - 1)) > 0) {
		n += (size_t)k;
		if (n + 1 == cap) {
			char *m = realloc(buf, cap *= 2);

			if (!m)
				break;
			buf = m;
		}
	}
	close(4);
	if (!buf)
		return 1;
	buf[n] = 0;
	job = json_tokener_parse(buf);
	explicit_bzero(buf, n);
	free(buf);
	if (!job || !json_object_object_get_ex(job, "config", &cfg) ||
	    !json_object_object_get_ex(job, "req", &req) ||
	    !(parent = json_object_get_string(
		      json_object_object_get(job, "parent"))))
		return 1;
	peer_run(parent, cfg, json_object_get(req),
		 (uint32_t)strtoul(stream, NULL, 10), 3);
	json_object_put(job);
	return 0;
}
