/* SPDX-License-Identifier: Apache-2.0 */
/* state.c - sandbox records in SQLite */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "state.h"
#include "util.h"

/* Each version's schema is the one before plus what it adds, all of it
 * IF NOT EXISTS: a database of an older version is brought up to this one
 * by running it again (2: the layers table). */
#define SCHEMA_VERSION 2

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS sandboxes ("
	" name TEXT PRIMARY KEY,"
	" image TEXT NOT NULL,"
	" cpus INTEGER NOT NULL,"
	" memory_mib INTEGER NOT NULL,"
	" status TEXT NOT NULL,"
	" pid INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" started_at INTEGER NOT NULL DEFAULT 0,"
	" stopped_at INTEGER NOT NULL DEFAULT 0,"
	" error TEXT,"
	" config TEXT NOT NULL DEFAULT '{}',"
	" runtime TEXT NOT NULL DEFAULT '{}');"
	/* Pulled images (src/image/images.c). */
	"CREATE TABLE IF NOT EXISTS images ("
	" reference TEXT PRIMARY KEY,"
	" digest TEXT NOT NULL,"
	" config_digest TEXT NOT NULL,"
	" config TEXT NOT NULL,"
	" layers TEXT NOT NULL,"
	" disks TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" pulled_at INTEGER NOT NULL,"
	" extra TEXT NOT NULL DEFAULT '[]');"
	/* Each layer disk's size when it was made (src/image/layercheck.c):
	 * the disk is renamed into place unsynced, this row is synced. */
	"CREATE TABLE IF NOT EXISTS layers ("
	" name TEXT PRIMARY KEY,"
	" size INTEGER NOT NULL,"
	" made_at INTEGER NOT NULL);"
	/* What each sandbox last pushed or pulled (src/sync/syncdb.c). */
	"CREATE TABLE IF NOT EXISTS sync ("
	" name TEXT PRIMARY KEY,"
	" reference TEXT NOT NULL,"
	" digest TEXT NOT NULL,"
	" map TEXT NOT NULL,"
	" disk_mtime_ns INTEGER NOT NULL,"
	" synced_at INTEGER NOT NULL);"
	/* What each snapshot was last pushed as or pulled from. */
	"CREATE TABLE IF NOT EXISTS snapshot_sync ("
	" name TEXT PRIMARY KEY,"
	" reference TEXT NOT NULL,"
	" digest TEXT NOT NULL,"
	" synced_at INTEGER NOT NULL);";

void msb_row_free(struct msb_row *r)
{
	free(r->config);
	free(r->runtime);
	r->config = r->runtime = NULL;
}

static int db_fail(sqlite3 *db, msb_error *err, const char *what)
{
	return msb_fail(err, -EIO, "state database: %s: %s", what,
			sqlite3_errmsg(db));
}

/* db_user_version() - PRAGMA user_version (a read), or -1. */
static int db_user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* db_init() - WAL and the schema, written only when not already there: a
 * database that is current is opened without a single write, so reading
 * verbs (and those that free space) work on a full disk. */
static int db_init(sqlite3 *db)
{
	sqlite3_stmt *st;
	int wal = 0, rc;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) !=
	    SQLITE_OK)
		return sqlite3_errcode(db);
	if (sqlite3_step(st) == SQLITE_ROW)
		wal = !sqlite3_stricmp(
			(const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	/* Many processes (CLI calls, supervisors) share the file: WAL lets
	 * readers go on during a write. The mode is kept in the file. */
	if (!wal && (rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL,
				       NULL, NULL)) != SQLITE_OK)
		return rc;
	if (db_user_version(db) == SCHEMA_VERSION)
		return SQLITE_OK;
	/* One transaction: one commit to sync, where each statement was
	 * one of its own (five syncs on a new home's first command). */
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d;",
			 SCHEMA_VERSION);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	return rc;
}

/* open_readonly() - @path read-only; @immutable: without locks or WAL
 * index (SQLite's "immutable" URI parameter). */
static int open_readonly(const char *path, int immutable, sqlite3 **db)
{
	char uri[PATH_MAX * 3 + 32], *o = uri;
	int rc, v;

	o += sprintf(o, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		o += sprintf(o, (*p == '/' || *p == '.' || *p == '-' ||
				 *p == '_' || (*p >= '0' && *p <= '9') ||
				 ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) ?
					"%c" : "%%%02X",
			     *p);
	if (immutable)
		sprintf(o, "?immutable=1");
	rc = sqlite3_open_v2(uri, db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
				     SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_busy_timeout(*db, 10000);
	/* (an older version, not brought up to date on a full disk, reads
	 * the same but for what later versions added) */
	v = db_user_version(*db);
	return v >= 1 && v <= SCHEMA_VERSION ? SQLITE_OK : SQLITE_CANTOPEN;
}

int msb_db_open(const char *path, sqlite3 **out, msb_error *err)
{
	char buf[PATH_MAX];
	sqlite3 *db = NULL;
	int r, rc;

	if (!path) {
		r = msb_home_ready(err);
		if (r < 0)
			return r;
		snprintf(buf, sizeof(buf), "%s/msb.db", msb_home());
		path = buf;
	}
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc == SQLITE_OK) {
		/* The timeout absorbs short waits for another writer. */
		sqlite3_busy_timeout(db, 10000);
		rc = db_init(db);
	}
	if (rc != SQLITE_OK && db && access(path, F_OK) == 0) {
		/* A full disk (or a read-only one) under a current database:
		 * it can still be read, and whatever fails to be written
		 * says so with its own message. */
		sqlite3_close(db);
		db = NULL;
		rc = open_readonly(path, 0, &db);
		/* No one has it open and its WAL index cannot be made (a
		 * full disk): the file alone, as it is. Its WAL is then
		 * empty, for the last to close it checkpointed it. */
		if (rc != SQLITE_OK) {
			sqlite3_close(db);
			db = NULL;
			rc = open_readonly(path, 1, &db);
		}
	}
	if (rc != SQLITE_OK && access(path, F_OK) < 0 && errno == ENOENT) {
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (slash && access(dir, W_OK) < 0 && errno == EACCES) {
			r = msb_fail(err, -EACCES, "cannot create state "
				     "database %s: %s is not writable by this "
				     "user (" MSB_HOME_HINT ")", path, dir);
			sqlite3_close(db);
			return r;
		}
	}
	if (rc != SQLITE_OK) {
		r = msb_fail(err, -EIO, "cannot open state database %s: %s",
			     path, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return r;
	}
	*out = db;
	return 0;
}

void msb_db_close(sqlite3 *db)
{
	sqlite3_close(db);
}

int msb_db_insert(sqlite3 *db, const struct msb_row *r, msb_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO sandboxes (name, image, cpus, "
			       "memory_mib, status, created_at, config) "
			       "VALUES (?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "insert");
	sqlite3_bind_text(st, 1, r->info.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->info.image, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)r->info.cpus);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)r->info.memory_mib);
	sqlite3_bind_text(st, 5, r->info.status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, r->info.created_at);
	sqlite3_bind_text(st, 7, r->config ? r->config : "{}", -1,
			  SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return msb_fail(err, -EEXIST,
				"a sandbox named '%s' already exists; remove it "
				"with 'msb rm %s' or choose another --name",
				r->info.name, r->info.name);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "insert");
	return 0;
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return strdup(t ? (const char *)t : "{}");
}

#define ROW_COLS                                                              \
	"name, image, cpus, memory_mib, status, pid, created_at, started_at," \
	" stopped_at, error, config, runtime"

static void read_row(sqlite3_stmt *st, struct msb_row *r)
{
	memset(r, 0, sizeof(*r));
	copy_col(st, 0, r->info.name, sizeof(r->info.name));
	copy_col(st, 1, r->info.image, sizeof(r->info.image));
	r->info.cpus = (unsigned)sqlite3_column_int(st, 2);
	r->info.memory_mib = (uint64_t)sqlite3_column_int64(st, 3);
	copy_col(st, 4, r->info.status, sizeof(r->info.status));
	r->info.pid = sqlite3_column_int(st, 5);
	r->info.created_at = sqlite3_column_int64(st, 6);
	r->info.started_at = sqlite3_column_int64(st, 7);
	r->info.stopped_at = sqlite3_column_int64(st, 8);
	copy_col(st, 9, r->info.error, sizeof(r->info.error));
	r->config = dup_col(st, 10);
	r->runtime = dup_col(st, 11);
}

int msb_db_get(sqlite3 *db, const char *name, struct msb_row *r,
	       msb_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT " ROW_COLS
			       " FROM sandboxes WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "select");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_row(st, r);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return msb_fail(err, -ENOENT,
				"no sandbox named '%s' (see 'msb ps -a')",
				name);
	return db_fail(db, err, "select");
}

int msb_db_list(sqlite3 *db, struct msb_row **rows, size_t *n,
		msb_error *err)
{
	sqlite3_stmt *st;
	struct msb_row *v = NULL;
	size_t cnt = 0;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT " ROW_COLS
			       " FROM sandboxes ORDER BY created_at, name",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "list");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct msb_row *nv = realloc(v, (cnt + 1) * sizeof(*v));

		if (!nv) {
			rc = SQLITE_NOMEM;
			break;
		}
		v = nv;
		read_row(st, &v[cnt++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < cnt; i++)
			msb_row_free(&v[i]);
		free(v);
		return db_fail(db, err, "list");
	}
	*rows = v;
	*n = cnt;
	return 0;
}

static int exec_stmt(sqlite3 *db, const char *sql, msb_error *err,
		     const char *what, int nargs, const char **args)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, what);
	for (int i = 0; i < nargs; i++)
		sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, what);
	return 0;
}

int msb_db_delete(sqlite3 *db, const char *name, msb_error *err)
{
	const char *a[] = { name };

	/* its sync state goes with it: a new sandbox of that name is not
	 * the one that was pushed */
	exec_stmt(db, "DELETE FROM sync WHERE name = ?", NULL, "delete", 1, a);
	return exec_stmt(db, "DELETE FROM sandboxes WHERE name = ?", err,
			 "delete", 1, a);
}

int msb_db_set_status(sqlite3 *db, const char *name, const char *status,
		      int pid, const char *error, msb_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(
		    db,
		    "UPDATE sandboxes SET status = ?1, pid = ?2, error = ?3,"
		    " started_at = CASE WHEN ?1 = 'running' THEN ?4"
		    "  ELSE started_at END,"
		    " stopped_at = CASE WHEN ?1 IN ('stopped','failed')"
		    "  THEN ?4 ELSE stopped_at END"
		    " WHERE name = ?5",
		    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "update");
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, pid);
	if (error)
		sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, msb_wall_s());
	sqlite3_bind_text(st, 5, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, err, "update");
	return 0;
}

int msb_db_set_runtime(sqlite3 *db, const char *name, const char *json,
		       msb_error *err)
{
	const char *a[] = { json, name };

	return exec_stmt(db, "UPDATE sandboxes SET runtime = ? WHERE name = ?",
			 err, "update", 2, a);
}

int msb_db_set_config(sqlite3 *db, const char *name, const char *json,
		      msb_error *err)
{
	const char *a[] = { json, name };

	return exec_stmt(db, "UPDATE sandboxes SET config = ? WHERE name = ?",
			 err, "update", 2, a);
}

int msb_lock_path(const char *name, char *buf, size_t n)
{
	if (snprintf(buf, n, "%s/sandboxes/%s/lock", msb_home(), name) >=
	    (int)n)
		return -ENAMETOOLONG;
	return 0;
}

int msb_supervisor_alive(const char *name)
{
	char path[PATH_MAX];
	int fd, alive;

	if (msb_lock_path(name, path, sizeof(path)) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* The supervisor holds an exclusive lock for its whole life; the
	 * kernel drops it when the process dies, however it dies. */
	alive = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return alive;
}

/* holds_lock() - has process @pid the lock file of @name open, at its path
 * or deleted from it? Its descriptors are readable for the same user. */
static int holds_lock(const char *name, int pid)
{
	char home[PATH_MAX], want[PATH_MAX + 64], fddir[64], p[PATH_MAX + 96],
		got[PATH_MAX + 32];
	struct dirent *de;
	size_t wn;
	DIR *d;
	int found = 0;

	if (!realpath(msb_home(), home) ||
	    snprintf(want, sizeof(want), "%s/sandboxes/%s/lock", home, name) >=
		    (int)sizeof(want))
		return 0;
	wn = strlen(want);
	snprintf(fddir, sizeof(fddir), "/proc/%d/fd", pid);
	d = opendir(fddir);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", fddir, de->d_name);
		n = readlink(p, got, sizeof(got) - 1);
		if (n < (ssize_t)wn || memcmp(got, want, wn))
			continue;
		got[n] = '\0';
		found = !got[wn] || !strcmp(got + wn, " (deleted)");
	}
	closedir(d);
	return found;
}

int msb_supervisor_alive_pid(const char *name, int pid)
{
	if (msb_supervisor_alive(name))
		return 1;
	/* The lock file can be gone (the sandbox's directory deleted under
	 * a running supervisor) or replaced by another: the process that
	 * still holds the one at that path says the truth. */
	return pid > 0 && holds_lock(name, pid);
}

int msb_db_reconcile(sqlite3 *db, struct msb_row *r, msb_error *err)
{
	const char *s = r->info.status;
	char why[600];

	if (strcmp(s, "starting") && strcmp(s, "running") &&
	    strcmp(s, "stopping"))
		return 0;
	if (msb_supervisor_alive_pid(r->info.name, r->info.pid))
		return 0;
	/* Re-read: the supervisor may have finished cleanly in between. */
	{
		struct msb_row fresh;

		if (msb_db_get(db, r->info.name, &fresh, NULL) == 0) {
			int same = !strcmp(fresh.info.status, s);

			if (!same) {
				msb_row_free(r);
				*r = fresh;
				return 0;
			}
			msb_row_free(&fresh);
		}
	}
	snprintf(why, sizeof(why),
		 "supervisor (pid %d) exited while the sandbox was %s",
		 r->info.pid, s);
	/* Recorded if it can be (not on a full disk); reported either way. */
	msb_db_set_status(db, r->info.name, "failed", 0, why, NULL);
	snprintf(r->info.status, sizeof(r->info.status), "failed");
	snprintf(r->info.error, sizeof(r->info.error), "%s", why);
	r->info.pid = 0;
	r->info.stopped_at = msb_wall_s();
	return 0;
}
