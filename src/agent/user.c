/* SPDX-License-Identifier: Apache-2.0 */
/* user.c - resolve an EXEC USER against the sandbox's /etc/passwd and /etc/group
 *
 * musl's getpwnam() would do, but it also consults nscd; the sandbox's files
 * are all there is, so they are parsed here with a small line splitter.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "user.h"

#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"

/* split() - cut @line at ':' into at most @max fields. Return: field count */
static int split(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

/* parse_id() - a decimal id below 2^32-1. Return: 0, -1 if not a number */
static int parse_id(const char *s, unsigned int *id)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned int)(*s - '0');
		if (v >= 0xffffffffu)
			return -1;
	}
	*id = (unsigned int)v;
	return 0;
}

/* read_line() - fgets() that drops the rest of lines too long for @buf */
static int read_line(FILE *f, char *buf, int cap)
{
	size_t n;

	if (!fgets(buf, cap, f))
		return 0;
	n = strlen(buf);
	if (n && buf[n - 1] != '\n' && !feof(f)) {
		int c;

		while ((c = fgetc(f)) != EOF && c != '\n')
			;
		buf[0] = '\0'; /* an overlong entry is no entry */
	}
	return 1;
}

/* passwd_find() - entry by @name, or by @uid when @name is NULL.
 * Return: 1 found (fills @u and @found_name), 0 not found */
static int passwd_find(const char *name, uid_t uid, struct user_ids *u,
		       char *found_name, size_t cap)
{
	char line[1024], *f[7];
	unsigned int id, gid;
	FILE *fp;
	int ret = 0;

	fp = fopen(PASSWD_FILE, "re");
	if (!fp)
		return 0;
	while (read_line(fp, line, sizeof(line))) {
		if (split(line, f, 7) != 7 || parse_id(f[2], &id) ||
		    parse_id(f[3], &gid))
			continue;
		if (name ? strcmp(f[0], name) : id != uid)
			continue;
		u->uid = id;
		u->gid = gid;
		snprintf(u->home, sizeof(u->home), "%s", f[5][0] ? f[5] : "/");
		snprintf(found_name, cap, "%s", f[0]);
		ret = 1;
		break;
	}
	fclose(fp);
	return ret;
}

/* group_find() - gid of the group called @name. Return: 1 found, 0 not */
static int group_find(const char *name, gid_t *gid)
{
	char line[4096], *f[4];
	unsigned int id;
	FILE *fp;
	int ret = 0;

	fp = fopen(GROUP_FILE, "re");
	if (!fp)
		return 0;
	while (read_line(fp, line, sizeof(line))) {
		if (split(line, f, 4) < 3 || parse_id(f[2], &id))
			continue;
		if (!strcmp(f[0], name)) {
			*gid = id;
			ret = 1;
			break;
		}
	}
	fclose(fp);
	return ret;
}

static void add_group(struct user_ids *u, gid_t g)
{
	int i;

	for (i = 0; i < u->ngroups; i++)
		if (u->groups[i] == g)
			return;
	if (u->ngroups < USER_GROUPS_MAX)
		u->groups[u->ngroups++] = g;
}

/* member_groups() - add every group listing @user among its members */
static void member_groups(const char *user, struct user_ids *u)
{
	char line[4096], *f[4], *m, *save;
	unsigned int id;
	FILE *fp;

	fp = fopen(GROUP_FILE, "re");
	if (!fp)
		return;
	while (read_line(fp, line, sizeof(line))) {
		if (split(line, f, 4) != 4 || parse_id(f[2], &id))
			continue;
		for (m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
			if (!strcmp(m, user))
				add_group(u, id);
	}
	fclose(fp);
}

int user_resolve(const char *spec, struct user_ids *u, struct agent_err *e)
{
	char buf[256], name[256] = "", *group;
	unsigned int id;
	int found;

	memset(u, 0, sizeof(*u));
	snprintf(buf, sizeof(buf), "%s", spec && *spec ? spec : "0");
	group = strchr(buf, ':');
	if (group)
		*group++ = '\0';

	if (!parse_id(buf, &id)) {
		found = passwd_find(NULL, id, u, name, sizeof(name));
		if (!found) {
			u->uid = id;
			u->gid = 0;
			snprintf(u->home, sizeof(u->home), "%s", id ? "/" : "/root");
		}
	} else if (!passwd_find(buf, 0, u, name, sizeof(name))) {
		return agent_fail(e, 0, "user \"%s\" not found in " PASSWD_FILE, buf);
	}

	if (group) {
		if (parse_id(group, &id) == 0)
			u->gid = id;
		else if (!group_find(group, &u->gid))
			return agent_fail(e, 0, "group \"%s\" not found in " GROUP_FILE,
					  group);
		add_group(u, u->gid);
		return 0;
	}
	add_group(u, u->gid);
	if (name[0])
		member_groups(name, u);
	return 0;
}
