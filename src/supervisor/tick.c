/* SPDX-License-Identifier: Apache-2.0 */
/* tick.c - the supervisor's deadlines: exec timeouts, idle connections,
 * stats requests the guest has not answered, the once-a-second CPU sample,
 * the next start of a detached command under a restart policy
 *
 * One timerfd (EV_TICK), armed at the earliest deadline of anything
 * running. A deadline is checked against the host's monotonic clock, never
 * the guest's (under TCG the guest's clock runs fast, docs/agent-protocol.md
 * §12). An exec past its timeout_ms gets SIGKILL on its process group in
 * the guest; its result then says "timed_out" (docs/api-protocol.md §5.3).
 * An API connection idle for CONN_IDLE_US is closed (api.c). stats.c's
 * requests and samples: sup_stats_deadline(), sup_stats_tick().
 */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

int sup_tick_setup(struct sup *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->tick_ref };

	s->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->tick_fd < 0)
		return -errno;
	s->tick_ref.type = EV_TICK;
	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tick_fd, &ev) < 0 ? -errno :
									0;
}

void sup_tick_rearm(struct sup *s)
{
	struct itimerspec it = { 0 };
	uint64_t next = 0, now = msb_now_us();

	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *st = s->streams[i];

		if (st && st->deadline_us && (!next || st->deadline_us < next))
			next = st->deadline_us;
	}
	{
		uint64_t idle = api_idle_deadline(s);
		uint64_t st = sup_stats_deadline(s);
		uint64_t df = sup_diskfull_deadline(s);
		uint64_t rs = sup_restart_deadline(s);

		if (idle && (!next || idle < next))
			next = idle;
		if (st && (!next || st < next))
			next = st;
		if (df && (!next || df < next))
			next = df;
		if (rs && (!next || rs < next))
			next = rs;
	}
	if (next) {
		uint64_t us = next > now ? next - now : 1;

		it.it_value.tv_sec = (time_t)(us / 1000000);
		it.it_value.tv_nsec = (long)(us % 1000000) * 1000;
	}
	timerfd_settime(s->tick_fd, 0, &it, NULL);
}

/* timed_out_paused() - @st's timeout passed while the guest is paused
 * for lack of disk space (diskfull.c): the SIGKILL reaches it when the
 * guest runs again, but the client is answered now, as it asked. */
static void timed_out_paused(struct sup *s, struct stream *st)
{
	json_object *m = json_object_new_object();
	json_object *res = json_object_new_object();

	json_object_object_add(res, "exit_code",
			       json_object_new_int(128 + SIGKILL));
	json_object_object_add(res, "signal", json_object_new_int(SIGKILL));
	json_object_object_add(res, "timed_out", json_object_new_boolean(1));
	json_object_object_add(m, "id", json_object_new_int64(st->req_id));
	json_object_object_add(m, "result", res);
	api_send(s, st->conn, m);
	api_let_go(s, st);
}

void sup_on_tick(struct sup *s)
{
	uint64_t x, now = msb_now_us();

	if (read(s->tick_fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		return;
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *st = s->streams[i];

		if (!st || !st->deadline_us || st->deadline_us > now)
			continue;
		st->deadline_us = 0;
		st->timed_out = 1;
		agent_send_u32(s, st->id, MSB_F_SIGNAL, SIGKILL);
		if (sup_diskfull_paused(s) && st->conn)
			timed_out_paused(s, st);
	}
	api_expire_idle(s, now);
	sup_stats_tick(s, now);
	sup_diskfull_tick(s, now);
	sup_restart_tick(s, now);
	sup_tick_rearm(s);
}
