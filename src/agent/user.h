/* SPDX-License-Identifier: Apache-2.0 */
/* user.h - resolve an EXEC USER against the sandbox's /etc/passwd and /etc/group */
#ifndef MSB_AGENT_USER_H
#define MSB_AGENT_USER_H

#include <sys/types.h>

#include "log.h"

#define USER_GROUPS_MAX 64

/**
 * struct user_ids - who a process runs as
 * @uid:     user id
 * @gid:     primary group id
 * @groups:  supplementary groups, @gid included
 * @ngroups: entries in @groups
 * @home:    home directory, for HOME
 */
struct user_ids {
	uid_t uid;
	gid_t gid;
	gid_t groups[USER_GROUPS_MAX];
	int ngroups;
	char home[256];
};

/**
 * user_resolve() - turn a USER spec into ids
 * @spec: NULL or "" for root; "name", "uid", "name:group", "uid:gid" (either
 *        side by name or number)
 * @u:    result
 * @e:    why it failed
 *
 * Like OCI runtimes: a numeric uid absent from /etc/passwd is allowed (gid
 * 0, HOME "/"); a name must exist. Supplementary groups come from
 * /etc/group unless a group was given explicitly.
 * Return: 0 or -errno
 */
int user_resolve(const char *spec, struct user_ids *u, struct agent_err *e);

#endif
