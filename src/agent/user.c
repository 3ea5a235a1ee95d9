/* SPDX-License-Identifier: Apache-2.0 */
/* user.c - resolve an EXEC USER against the sandbox's /etc/passwd and /etc/group
 *
 * musl's getpwnam() would do, but it also consults nscd; the sandbox's files
 * are all there is, so they are parsed here with a small line splitter.
 *
 * Every exec resolves its user, so the last few answers are kept, each
 * with what stat(2) said of both files when it was read: an answer is
 * used again only while both files are still the same ones, unchanged
 * (device, inode, size, modification and change times; a missing file
 * is recorded as missing). Two stat calls instead of opening, reading
 * and parsing two files: under TCG that was 0.6 to 3 ms of every exec.
 * File times tick coarsely (the kernel's jiffies), so a file changed
 * within the same tick as it was read could look unchanged: files
 * changed less than FRESH_S seconds before they were read are not kept
 * (as git treats an index entry as racy).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

/* What the two files were when an answer was read from them. */
struct files_id {
	dev_t dev[2];
	ino_t ino[2];
	off_t size[2];
	struct timespec mtime[2], ctime[2];
	int err[2];
};

#define USER_CACHE 4
#define FRESH_S 2

static struct user_cached {
	char spec[256];
	struct files_id at;
	struct user_ids u;
	int used;
} user_cache[USER_CACHE];
static unsigned int user_cache_next;

static void files_id(struct files_id *id)
{
	const char *files[2] = { PASSWD_FILE, GROUP_FILE };
	struct stat st;

	memset(id, 0, sizeof(*id));
	for (int i = 0; i < 2; i++) {
		if (stat(files[i], &st) < 0) {
			id->err[i] = errno ? errno : EIO;
			continue;
		}
		id->dev[i] = st.st_dev;
		id->ino[i] = st.st_ino;
		id->size[i] = st.st_size;
		id->mtime[i] = st.st_mtim;
		id->ctime[i] = st.st_ctim;
	}
}

static int files_same(const struct files_id *a, const struct files_id *b)
{
	for (int i = 0; i < 2; i++)
		if (a->err[i] != b->err[i] || a->dev[i] != b->dev[i] ||
		    a->ino[i] != b->ino[i] || a->size[i] != b->size[i] ||
		    a->mtime[i].tv_sec != b->mtime[i].tv_sec ||
		    a->mtime[i].tv_nsec != b->mtime[i].tv_nsec ||
		    a->ctime[i].tv_sec != b->ctime[i].tv_sec ||
		    a->ctime[i].tv_nsec != b->ctime[i].tv_nsec)
			return 0;
	return 1;
}

/* fresh() - either file changed within FRESH_S of @now (or after it) */
static int fresh(const struct files_id *id, const struct timespec *now)
{
	for (int i = 0; i < 2; i++)
		if (!id->err[i] && (now->tv_sec - id->mtime[i].tv_sec < FRESH_S ||
				    now->tv_sec - id->ctime[i].tv_sec < FRESH_S))
			return 1;
	return 0;
}

static int user_resolve_files(const char *spec, struct user_ids *u,
			      struct agent_err *e);

int user_resolve(const char *spec, struct user_ids *u, struct agent_err *e)
{
	const char *key = spec && *spec ? spec : "0";
	struct user_cached *c;
	struct files_id now;
	struct timespec t;
	int ret;

	if (strlen(key) >= sizeof(user_cache[0].spec))
		return user_resolve_files(spec, u, e);
	files_id(&now);
	clock_gettime(CLOCK_REALTIME, &t);
	for (int i = 0; i < USER_CACHE; i++) {
		c = &user_cache[i];
		if (c->used && !strcmp(c->spec, key) && files_same(&c->at, &now)) {
			*u = c->u;
			return 0;
		}
	}
	ret = user_resolve_files(spec, u, e);
	/* Not kept: a refusal (rare, and it says why), or an answer from
	 * files changed just now. */
	if (ret || fresh(&now, &t))
		return ret;
	c = &user_cache[user_cache_next++ % USER_CACHE];
	snprintf(c->spec, sizeof(c->spec), "%s", key);
	c->at = now;
	c->u = *u;
	c->used = 1;
	return 0;
}

static int user_resolve_files(const char *spec, struct user_ids *u,
			      struct agent_err *e)
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
