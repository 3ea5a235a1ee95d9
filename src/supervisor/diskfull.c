/* SPDX-License-Identifier: Apache-2.0 */
/* diskfull.c - a VM paused by a full host disk: said, resumed, stoppable
 *
 * Theory of operation: the writable disk is given to QEMU with
 * werror=enospc (src/engine/qemu.c). A guest write that finds the host
 * disk under $MSB_HOME full is then not failed to the guest (its
 * filesystem would take it for a broken disk, go read-only or lose the
 * data) but held, and QEMU stops the VM with the event BLOCK_IO_ERROR
 * {"nospace": true, "action": "stop"}. The guest does not see the pause.
 * Here:
 *   - it is said: a line in console.log (which keeps room ahead for msb's
 *     lines, log.c), "paused" in the answers to info and stats, which
 *     msb ps and msb inspect show, and the event "notice" to each client
 *     waiting on an exec (again when the guest runs again), which
 *     msb exec and msb run print;
 *   - while it lasts, what needs the guest is refused at once with the
 *     code "paused" (exec, file streams, snapshots), as docker exec
 *     refuses a paused container; a signal for a running exec is passed
 *     on, delivered when the guest runs again, and the client let go
 *     (api.c); an exec's timeout is answered from here (tick.c);
 *   - every DISKFULL_CHECK_US the free space of the sandbox's directory is
 *     looked at; with DISKFULL_ROOM bytes free the VM is resumed (QEMU
 *     retries the held write). If that write fails again the VM pauses
 *     again, quietly, and the next look waits twice as long (up to
 *     DISKFULL_CHECK_MAX_US). DISKFULL_SETTLE_US after a resume that held,
 *     a line says the guest runs again;
 *   - msb stop resumes it, as docker stop does a paused container, so
 *     that the guest can shut down; if it pauses again, it cannot (there
 *     is no room to finish its writes), and it is killed at once.
 */

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "supervisor.h"
#include "util.h"

#define DISKFULL_ROOM (8ull << 20)
#define DISKFULL_CHECK_US 1000000ull
#define DISKFULL_CHECK_MAX_US 16000000ull
#define DISKFULL_SETTLE_US 2000000ull

static uint64_t free_room(const struct sup *s)
{
	struct statvfs v;

	if (statvfs(s->dir, &v) < 0)
		return 0;
	return (uint64_t)v.f_bavail * v.f_frsize;
}

static void resume_done(void *opaque, int rc, const char *why)
{
	struct sup *s = opaque;

	if (rc < 0)
		sup_log(s, "the guest could not be resumed: %s", why);
}

static void vm_resume(struct sup *s)
{
	msb_error err = { 0 };

	if (msb_engine_resume(&s->vm, resume_done, s, &err) < 0)
		sup_log(s, "the guest could not be resumed: %s", err.message);
}

/* In the log, and to each client waiting on an exec: a command in the
 * foreground would otherwise wait without a word. */
static void say_paused(struct sup *s)
{
	char why[1024];

	sup_log(s, "the guest is paused: the host disk under %s is full "
		   "(its writable disk could not grow). It resumes by "
		   "itself once %llu MiB are free there; 'msb stop %s' "
		   "stops it", s->dir,
		(unsigned long long)(DISKFULL_ROOM >> 20), s->name);
	api_paused_text(s, why, sizeof(why));
	agent_notice_execs(s, 1, why);
}

static void say_runs_again(struct sup *s)
{
	unsigned long long secs =
		(s->df_resumed_us - s->df_since_us) / 1000000;
	char said[512];

	sup_log(s, "the guest runs again: the host disk has room "
		   "(paused %llu s)", secs);
	snprintf(said, sizeof(said), "sandbox %s runs again: the host disk "
		 "has room (paused %llu s)", s->name, secs);
	agent_notice_execs(s, 0, said);
}

int sup_diskfull_event(struct sup *s, const char *event, json_object *data)
{
	json_object *v;
	uint64_t now = msb_now_us();

	if (!strcmp(event, "BLOCK_IO_ERROR") && data &&
	    json_object_object_get_ex(data, "nospace", &v) &&
	    json_object_get_boolean(v) &&
	    json_object_object_get_ex(data, "action", &v) &&
	    !strcmp(json_object_get_string(v), "stop")) {
		if (s->state == ST_STOPPING) {
			if (!s->stop_forced) {
				sup_log(s, "the guest cannot shut down: the "
					   "host disk under %s is full; killing "
					   "it", s->dir);
				s->stop_forced = 1;
				msb_engine_kill(&s->vm);
			}
			return 1;
		}
		if (s->df_state == DF_RESUMING) {
			/* Not room enough yet: look again later. */
			s->df_state = DF_PAUSED;
			if (s->df_wait_us < DISKFULL_CHECK_MAX_US)
				s->df_wait_us *= 2;
			s->df_next_us = now + s->df_wait_us;
			sup_tick_rearm(s);
			return 1;
		}
		if (s->df_state == DF_PAUSED)
			return 1; /* one event per held request */
		s->df_state = DF_PAUSED;
		s->df_since_us = now;
		s->df_since_unix = (int64_t)time(NULL);
		s->df_wait_us = DISKFULL_CHECK_US;
		s->df_next_us = now + s->df_wait_us;
		say_paused(s);
		sup_tick_rearm(s);
		return 1;
	}
	/* The pauses and resumes of a full disk are said once, above. */
	if (s->df_state != DF_NONE &&
	    (!strcmp(event, "STOP") || !strcmp(event, "RESUME") ||
	     !strcmp(event, "BLOCK_IO_ERROR")))
		return 1;
	return 0;
}

int sup_diskfull_paused(const struct sup *s)
{
	return s->df_state == DF_PAUSED;
}

json_object *sup_diskfull_json(const struct sup *s)
{
	json_object *o;

	if (!sup_diskfull_paused(s))
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "reason",
			       json_object_new_string("host disk full"));
	json_object_object_add(o, "since",
			       json_object_new_int64(s->df_since_unix));
	json_object_object_add(o, "dir", json_object_new_string(s->dir));
	return o;
}

uint64_t sup_diskfull_deadline(const struct sup *s)
{
	switch (s->df_state) {
	case DF_PAUSED:
		return s->df_next_us;
	case DF_RESUMING:
		return s->df_resumed_us + DISKFULL_SETTLE_US;
	default:
		return 0;
	}
}

void sup_diskfull_tick(struct sup *s, uint64_t now)
{
	if (s->df_state == DF_NONE)
		return;
	/* What the log could not take while the disk was full. */
	sup_logs_retry(s);
	if (s->df_state == DF_RESUMING &&
	    now >= s->df_resumed_us + DISKFULL_SETTLE_US) {
		s->df_state = DF_NONE;
		if (s->state != ST_RUNNING)
			return; /* resumed to shut down: nothing to say */
		say_runs_again(s);
		return;
	}
	if (s->df_state != DF_PAUSED || now < s->df_next_us)
		return;
	if (free_room(s) < DISKFULL_ROOM) {
		s->df_next_us = now + s->df_wait_us;
		return;
	}
	s->df_state = DF_RESUMING;
	s->df_resumed_us = now;
	vm_resume(s);
}

void sup_diskfull_stop(struct sup *s)
{
	if (s->df_state != DF_PAUSED)
		return;
	/* As docker stop does a paused container: let it run to shut down.
	 * A write it cannot finish pauses it again, and it is killed. */
	s->df_state = DF_RESUMING;
	s->df_resumed_us = msb_now_us();
	vm_resume(s);
}
