/* SPDX-License-Identifier: Apache-2.0 */
/* restart.c - the detached command, started after boot and again by its
 * restart policy
 *
 * A sandbox's detached command (msb run -d -- CMD, a Sandboxfile's
 * command or scripts.start) runs once per boot. A Sandboxfile's restart
 * policy (config "restart") has its supervisor start it again when it
 * exits while the sandbox runs: "on-failure" when it exited with a status
 * other than 0, "always" and "unless-stopped" whatever its status (a
 * sandbox that is stopped runs nothing; 'msb start' boots it and runs the
 * command again). The supervisor, not a daemon, does it: it lives as long
 * as the sandbox. Starts are spaced as Docker spaces them: 1 s after the
 * first exit, doubling to at most 30 s, back to 1 s once a run lasted
 * 10 s. Each start is a line in the log and counted in the record
 * ("restarts" in the command's state, msb inspect).
 */

#include <string.h>

#include "supervisor.h"
#include "util.h"

#define RESTART_FIRST_US 1000000ull
#define RESTART_MAX_US 30000000ull
#define RESTART_RESET_US 10000000ull

void sup_command_start(struct sup *s)
{
	json_object *cmd, *p;
	struct stream *st;
	char why[256];

	if (!json_object_object_get_ex(s->config, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_array) ||
	    !json_object_array_length(cmd))
		return;
	p = json_object_new_object();
	json_object_object_add(p, "argv", json_object_get(cmd));
	json_object_object_add(p, "detach", json_object_new_boolean(1));
	st = agent_exec(s, p, why, sizeof(why));
	json_object_put(p);
	/* Its state goes into the record, for inspect, ps and msb wait. */
	json_object_put(s->command);
	s->command = json_object_new_object();
	json_object_object_add(s->command, "argv", json_object_get(cmd));
	json_object_object_add(s->command, "status",
			       json_object_new_string("running"));
	if (s->restarts)
		json_object_object_add(s->command, "restarts",
				       json_object_new_int((int)s->restarts));
	s->command_started_us = msb_now_us();
	if (!st) {
		sup_log(s, "cannot start the command: %s", why);
		agent_command_end(s, "failed", 126, 0, why);
		sup_command_ended(s, 126);
		return;
	}
	st->cmd = 1;
	sup_save_runtime(s);
	sup_log(s, "started the command detached; its output follows in "
		   "this log");
}

static const char *policy(struct sup *s)
{
	json_object *r;

	if (!json_object_object_get_ex(s->config, "restart", &r) ||
	    !json_object_is_type(r, json_type_string))
		return "no";
	return json_object_get_string(r);
}

void sup_command_ended(struct sup *s, int code)
{
	const char *p = policy(s);
	uint64_t now = msb_now_us(), delay = RESTART_FIRST_US;

	if (s->state != ST_RUNNING || !strcmp(p, "no") ||
	    (!strcmp(p, "on-failure") && code == 0))
		return;
	if (now - s->command_started_us >= RESTART_RESET_US)
		s->restarts = 0;
	for (unsigned i = 0; i < s->restarts && delay < RESTART_MAX_US; i++)
		delay *= 2;
	if (delay > RESTART_MAX_US)
		delay = RESTART_MAX_US;
	s->restart_at_us = now + delay;
	sup_log(s, "the command exited with status %d; starting it again in "
		"%llu s (restart: %s)", code,
		(unsigned long long)(delay / 1000000), p);
	sup_tick_rearm(s);
}

uint64_t sup_restart_deadline(struct sup *s)
{
	return s->restart_at_us;
}

void sup_restart_tick(struct sup *s, uint64_t now)
{
	if (!s->restart_at_us || s->restart_at_us > now)
		return;
	s->restart_at_us = 0;
	if (s->state != ST_RUNNING)
		return;
	s->restarts++;
	sup_command_start(s);
}
