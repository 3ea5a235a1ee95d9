/* SPDX-License-Identifier: Apache-2.0 */
/* serve.c - the agent's epoll loop after READY
 *
 * One thread, one epoll instance: the port (host frames), a signalfd for
 * SIGCHLD, and the stdio fds of every stream (stream.c). Host frames are
 * dispatched by type; frames the agent does not know, and frames for
 * streams it does not know, are ignored so newer hosts can talk to it.
 */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"
#include "metrics.h"
#include "port.h"
#include "power.h"
#include "restore.h"
#include "serve.h"
#include "stream.h"

/* Grace given to processes when the host end of the port goes away. */
#define HOST_GONE_GRACE_MS 1000

static int epfd = -1, sigfd = -1;
static int shutting_down;
static uint64_t shutdown_deadline;

static void shutdown_begin(uint32_t grace_ms)
{
	if (shutting_down)
		return;
	shutting_down = 1;
	shutdown_deadline = clock_mono_ms() + grace_ms;
	kill(-1, SIGTERM); /* everyone but PID 1 */
}

/* no_children() - nothing left to wait for; WNOWAIT keeps exit statuses for
 * streams_reap() */
static int no_children(void)
{
	siginfo_t si;

	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
	       errno == ECHILD;
}

static void dispatch(const struct msb_frame_hdr *h, const uint8_t *p)
{
	if (h->stream & MSB_PEER_STREAM) {
		events_peer_from_host(h, p);
		return;
	}
	switch (h->type) {
	case MSB_F_EXEC:
		if (shutting_down)
			port_send_str(h->stream, MSB_F_ERROR,
				      "EXEC: the sandbox is shutting down");
		else
			stream_exec(h->stream, p, h->len);
		break;
	case MSB_F_EXEC_PART:
		if (!shutting_down)
			stream_exec_part(h->stream, p, h->len);
		break;
	case MSB_F_FILE:
		if (shutting_down)
			port_send_str(h->stream, MSB_F_ERROR,
				      "FILE: the sandbox is shutting down");
		else
			stream_file(h->stream, p, h->len);
		break;
	case MSB_F_STDIN:
		stream_stdin(h->stream, p, h->len);
		break;
	case MSB_F_WINDOW:
		if (h->len >= 4)
			stream_window(h->stream, msb_get_be32(p));
		break;
	case MSB_F_SIGNAL:
		if (h->len >= 4)
			stream_signal(h->stream, msb_get_be32(p));
		break;
	case MSB_F_RESIZE:
		if (h->len >= 4)
			stream_resize(h->stream, msb_get_be16(p), msb_get_be16(p + 2));
		break;
	case MSB_F_PING:
		port_send(h->stream, MSB_F_PONG, p, h->len);
		break;
	case MSB_F_STATS:
		metrics_send(h->stream);
		break;
	case MSB_F_EVENT:
		if (!h->stream)
			events_from_host(p, h->len);
		break;
	case MSB_F_SHUTDOWN:
		if (!h->stream)
			shutdown_begin(h->len >= 4 ? msb_get_be32(p) : 0);
		break;
	case MSB_F_QUIESCE:
		if (!h->stream)
			restore_hold(dispatch);
		break;
	default:
		break; /* INIT again, PONG, or a type from a newer host */
	}
}

static void port_drain(void)
{
	struct msb_frame_hdr h;
	const uint8_t *p;
	struct agent_err e;
	int r;

	while ((r = port_next(&h, &p)) == 1)
		dispatch(&h, p);
	if (r < 0) {
		/* The host is trusted: a bad header is a bug on its side and
		 * the byte stream cannot be resynchronised. */
		agent_fail(&e, EPROTO, "corrupt frame header from the host");
		agent_fatal(&e);
	}
}

static void on_port(void)
{
	struct agent_err e;
	int r = port_fill();

	if (r > 0) {
		port_drain();
	} else if (r == 0) {
		agent_log("host closed the port; shutting down");
		epoll_ctl(epfd, EPOLL_CTL_DEL, port_fd(), NULL);
		port_disconnect();
		shutdown_begin(HOST_GONE_GRACE_MS);
	} else if (r != -EAGAIN) {
		agent_fail(&e, -r, "read from the port");
		agent_fatal(&e);
	}
}

static void on_signal(void)
{
	struct signalfd_siginfo si[16];

	/* SIGCHLD coalesces: drain, then reap until nothing is left. */
	while (read(sigfd, si, sizeof(si)) > 0)
		;
	streams_reap();
	events_check_oom();
}

static void serve_setup(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct agent_err e;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sigfd < 0 || epfd < 0) {
		agent_fail(&e, errno, "serve: epoll/signalfd");
		agent_fatal(&e);
	}
	ev.data.u64 = EV_PORT;
	epoll_ctl(epfd, EPOLL_CTL_ADD, port_fd(), &ev);
	ev.data.u64 = EV_SIGNAL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev);
	streams_init(epfd);
	events_setup(epfd);
}

void serve(void)
{
	struct epoll_event evs[64];
	int i, n;

	serve_setup();
	/* Frames that arrived right behind INIT are already read. */
	port_drain();
	for (;;) {
		int timeout = -1;

		if (shutting_down) {
			uint64_t now = clock_mono_ms();

			timeout = now >= shutdown_deadline ? 0 :
				  (int)(shutdown_deadline - now);
			if (timeout > 50)
				timeout = 50; /* poll for the last child */
		}
		n = epoll_wait(epfd, evs, 64, timeout);
		for (i = 0; i < n; i++) {
			uint64_t ref = evs[i].data.u64;

			switch (ref & 0xff) {
			case EV_PORT:
				on_port();
				break;
			case EV_SIGNAL:
				on_signal();
				break;
			case EV_STREAM:
				stream_event(ref, evs[i].events);
				break;
			case EV_LOCAL_LISTEN:
				events_on_listen();
				break;
			case EV_LOCAL:
				events_on_client(ref, evs[i].events);
				break;
			}
		}
		/* Done when every process is gone and every stream has sent
		 * its EXIT (their pipes are at EOF by then, unless the host
		 * withholds credit: the deadline bounds that). */
		if (shutting_down &&
		    ((no_children() && !streams_active()) ||
		     clock_mono_ms() >= shutdown_deadline))
			system_shutdown();
	}
}
