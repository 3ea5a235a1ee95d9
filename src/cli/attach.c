/* SPDX-License-Identifier: Apache-2.0 */
/* attach.c - connect the local terminal to a running exec
 *
 * stdout and stderr stay separate; Ctrl-C and other terminating signals
 * reach the guest process (with -t the terminal is raw and Ctrl-C travels as
 * a byte to the guest's pty, like ssh); SIGWINCH becomes a resize. A closed
 * stdout (the reader of a pipe gone) ends the attach with 141, the
 * connection's close hanging the command up (SIGHUP). A pause of the
 * sandbox (its host disk full) and its end are said on stderr. Local
 * stdin is read only while the API socket can take more, so a guest that
 * does not read its input slows us down instead of filling memory.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static struct termios saved;
static int raw_on;

static void restore_tty(void)
{
	if (raw_on)
		tcsetattr(0, TCSADRAIN, &saved);
	raw_on = 0;
}

static void make_raw(void)
{
	struct termios t;

	if (tcgetattr(0, &saved) < 0)
		return;
	t = saved;
	cfmakeraw(&t);
	if (tcsetattr(0, TCSADRAIN, &t) == 0) {
		raw_on = 1;
		atexit(restore_tty);
	}
}

static void send_size(msb_exec *e)
{
	struct winsize ws;

	if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		msb_exec_resize(e, ws.ws_row, ws.ws_col, NULL);
}

int cli_attach(msb_exec *e, struct attach_opts *o)
{
	sigset_t mask;
	msb_error err = { 0 };
	int sfd, stdin_open = o->interactive, status = EXIT_MSB, sock_full = 0;
	uint8_t buf[48 * 1024];

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (o->tty && isatty(0)) {
		make_raw();
		send_size(e);
	}
	if (!o->interactive && o->tty)
		stdin_open = 0;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = msb_exec_fd(e),
			  .events = POLLIN | (sock_full ? POLLOUT : 0) },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = stdin_open && !sock_full ? 0 : -1,
			  .events = POLLIN },
		};
		msb_exec_event ev;
		int r;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH)
					send_size(e);
				else
					msb_exec_signal(e, (int)si.ssi_signo,
							NULL);
			}
		}
		if (sock_full && (p[0].revents & POLLOUT))
			sock_full = 0;
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* Read local stdin only when the socket has room
			 * for it; otherwise wait for that first. */
			struct pollfd w = { .fd = msb_exec_fd(e),
					    .events = POLLOUT };

			if (poll(&w, 1, 0) <= 0) {
				sock_full = 1;
			} else {
				ssize_t n = read(0, buf, sizeof(buf));

				if (n > 0) {
					if (msb_exec_write(e, buf, (size_t)n,
							   &err) < 0)
						stdin_open = 0;
				} else if (n == 0 ||
					   (errno != EINTR && errno != EAGAIN)) {
					stdin_open = 0;
					msb_exec_close_stdin(e, NULL);
				}
			}
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		/* Drain every whole message already received. */
		while ((r = msb_exec_next(e, &ev, 0, &err)) > 0) {
			if (ev.type == MSB_EXEC_STDOUT) {
				if (msb_write_all(1, ev.data, ev.len) ==
				    -EPIPE) {
					/* Whoever read our stdout is gone
					 * (`| head`): stop, as a writer in a
					 * local pipeline would. Closing the
					 * connection hangs the command up. */
					status = 128 + SIGPIPE;
					goto done;
				}
			} else if (ev.type == MSB_EXEC_STDERR) {
				msb_write_all(2, ev.data, ev.len);
			} else if (ev.type == MSB_EXEC_PAUSED ||
				   ev.type == MSB_EXEC_RESUMED) {
				/* (a raw terminal needs its carriage return) */
				dprintf(2, "%smsb: %.*s%s\n",
					raw_on ? "\r" : "", (int)ev.len,
					(const char *)ev.data,
					raw_on ? "\r" : "");
			}
			else if (ev.type == MSB_EXEC_EXIT) {
				/* Killed at its timeout: 124, as timeout(1)
				 * says it. */
				status = ev.timed_out ? 124 : ev.exit_code;
				o->timed_out = ev.timed_out;
				goto done;
			}
		}
		if (r < 0) {
			restore_tty();
			cli_err("%s", err.message);
			status = EXIT_MSB;
			goto done;
		}
	}
done:
	restore_tty();
	close(sfd);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	return status;
}
