/* SPDX-License-Identifier: Apache-2.0 */
/* test_state.c - sandbox records in SQLite and the supervisor liveness lock */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"
#include "state.h"
#include "util.h"

/* A private MSB_HOME for one test; home_end() puts the old one back. */
struct home {
	char dir[PATH_MAX];
	char *saved;
	sqlite3 *db;
};

static int home_begin(struct home *h)
{
	msb_error err = { 0 };
	const char *old = getenv("MSB_HOME");

	memset(h, 0, sizeof(*h));
	h->saved = old ? strdup(old) : NULL;
	if (unit_tmpdir(h->dir, sizeof(h->dir)) < 0)
		return -1;
	setenv("MSB_HOME", h->dir, 1);
	if (msb_db_open(NULL, &h->db, &err) < 0) {
		unit_fail(__FILE__, __LINE__, "msb_db_open: %s", err.message);
		return -1;
	}
	return 0;
}

static void home_end(struct home *h)
{
	if (h->db)
		msb_db_close(h->db);
	if (h->dir[0])
		msb_rm_rf(h->dir);
	if (h->saved)
		setenv("MSB_HOME", h->saved, 1);
	else
		unsetenv("MSB_HOME");
	free(h->saved);
}

static void row_init(struct msb_row *r, const char *name, const char *status,
		     int64_t created)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->info.name, sizeof(r->info.name), "%s", name);
	snprintf(r->info.image, sizeof(r->info.image), "default");
	snprintf(r->info.status, sizeof(r->info.status), "%s", status);
	r->info.cpus = 2;
	r->info.memory_mib = 1536;
	r->info.created_at = created;
}

static int insert(struct home *h, const char *name, const char *status,
		  int64_t created)
{
	struct msb_row r;
	msb_error err = { 0 };
	int rc;

	row_init(&r, name, status, created);
	rc = msb_db_insert(h->db, &r, &err);
	if (rc < 0)
		unit_fail(__FILE__, __LINE__, "insert %s: %s", name,
			  err.message);
	return rc;
}

TEST(state_open_creates_db)
{
	struct home h;
	char p[PATH_MAX + 16];

	if (home_begin(&h) == 0) {
		snprintf(p, sizeof(p), "%s/msb.db", h.dir);
		CHECK_EQ_INT(access(p, R_OK | W_OK), 0);
	}
	home_end(&h);
}

TEST(state_open_nested_home)
{
	struct home h;
	msb_error err = { 0 };
	char nested[PATH_MAX + 32], p[PATH_MAX + 64];
	sqlite3 *db = NULL;

	if (home_begin(&h) == 0) {
		/* A home that does not exist yet is created. */
		snprintf(nested, sizeof(nested), "%s/x/y/home", h.dir);
		setenv("MSB_HOME", nested, 1);
		CHECK_EQ_INT(msb_db_open(NULL, &db, &err), 0);
		if (db)
			msb_db_close(db);
		snprintf(p, sizeof(p), "%s/msb.db", nested);
		CHECK_EQ_INT(access(p, R_OK), 0);
		/* An explicit path in a missing directory fails clearly. */
		db = NULL;
		snprintf(p, sizeof(p), "%s/missing/msb.db", h.dir);
		CHECK_EQ_INT(msb_db_open(p, &db, &err), -EIO);
		CHECK_CONTAINS(err.message, p);
		CHECK(db == NULL);
	}
	home_end(&h);
}

TEST(state_insert_get)
{
	struct home h;
	struct msb_row r, got;
	msb_error err = { 0 };

	if (home_begin(&h) == 0) {
		row_init(&r, "dev", "created", 1700000000);
		r.config = "{\"env\":[\"A=1\"],\"ephemeral\":false}";
		CHECK_EQ_INT(msb_db_insert(h.db, &r, &err), 0);
		CHECK_EQ_INT(msb_db_get(h.db, "dev", &got, &err), 0);
		CHECK_STR(got.info.name, "dev");
		CHECK_STR(got.info.image, "default");
		CHECK_STR(got.info.status, "created");
		CHECK_EQ_INT(got.info.cpus, 2);
		CHECK_EQ_INT(got.info.memory_mib, 1536);
		CHECK_EQ_INT(got.info.pid, 0);
		CHECK_EQ_INT(got.info.created_at, 1700000000);
		CHECK_EQ_INT(got.info.started_at, 0);
		CHECK_EQ_INT(got.info.stopped_at, 0);
		CHECK_STR(got.info.error, "");
		CHECK_STR(got.config, r.config);
		CHECK_STR(got.runtime, "{}");
		msb_row_free(&got);
		CHECK(got.config == NULL && got.runtime == NULL);

		/* No config: "{}". Odd characters are data, not SQL. */
		row_init(&r, "it's; DROP TABLE sandboxes;--", "created", 1);
		CHECK_EQ_INT(msb_db_insert(h.db, &r, &err), 0);
		CHECK_EQ_INT(msb_db_get(h.db, r.info.name, &got, &err), 0);
		CHECK_STR(got.config, "{}");
		msb_row_free(&got);
		CHECK_EQ_INT(msb_db_get(h.db, "dev", &got, &err), 0);
		msb_row_free(&got);
	}
	home_end(&h);
}

TEST(state_insert_duplicate)
{
	struct home h;
	struct msb_row r;
	msb_error err = { 0 };

	if (home_begin(&h) == 0) {
		insert(&h, "dup", "created", 1);
		row_init(&r, "dup", "created", 2);
		CHECK_EQ_INT(msb_db_insert(h.db, &r, &err), -EEXIST);
		CHECK_EQ_INT(err.code, -EEXIST);
		CHECK_CONTAINS(err.message, "'dup'");
		CHECK_CONTAINS(err.message, "already exists");
		CHECK_CONTAINS(err.message, "msb rm dup");
		/* The first one is untouched. */
		{
			struct msb_row got;

			CHECK_EQ_INT(msb_db_get(h.db, "dup", &got, &err), 0);
			CHECK_EQ_INT(got.info.created_at, 1);
			msb_row_free(&got);
		}
	}
	home_end(&h);
}

TEST(state_get_missing)
{
	struct home h;
	struct msb_row got;
	msb_error err = { 0 };

	if (home_begin(&h) == 0) {
		CHECK_EQ_INT(msb_db_get(h.db, "ghost", &got, &err), -ENOENT);
		CHECK_EQ_INT(err.code, -ENOENT);
		CHECK_CONTAINS(err.message, "'ghost'");
		CHECK_EQ_INT(msb_db_get(h.db, "ghost", &got, NULL), -ENOENT);
	}
	home_end(&h);
}

TEST(state_set_status_stamps)
{
	struct home h;
	struct msb_row got;
	msb_error err = { 0 };
	int64_t t0 = msb_wall_s(), started;

	if (home_begin(&h) != 0)
		goto out;
	insert(&h, "sb", "created", t0);
	CHECK_EQ_INT(msb_db_set_status(h.db, "sb", "starting", 42, NULL, &err),
		     0);
	CHECK_EQ_INT(msb_db_get(h.db, "sb", &got, &err), 0);
	CHECK_STR(got.info.status, "starting");
	CHECK_EQ_INT(got.info.pid, 42);
	CHECK_EQ_INT(got.info.started_at, 0);
	CHECK_EQ_INT(got.info.stopped_at, 0);
	msb_row_free(&got);

	CHECK_EQ_INT(msb_db_set_status(h.db, "sb", "running", 42, NULL, &err),
		     0);
	CHECK_EQ_INT(msb_db_get(h.db, "sb", &got, &err), 0);
	CHECK_STR(got.info.status, "running");
	CHECK(got.info.started_at >= t0 && got.info.started_at <= msb_wall_s());
	CHECK_EQ_INT(got.info.stopped_at, 0);
	started = got.info.started_at;
	msb_row_free(&got);

	CHECK_EQ_INT(msb_db_set_status(h.db, "sb", "stopping", 42, NULL, &err),
		     0);
	CHECK_EQ_INT(msb_db_set_status(h.db, "sb", "stopped", 0, NULL, &err),
		     0);
	CHECK_EQ_INT(msb_db_get(h.db, "sb", &got, &err), 0);
	CHECK_STR(got.info.status, "stopped");
	CHECK_EQ_INT(got.info.pid, 0);
	CHECK_EQ_INT(got.info.started_at, started);
	CHECK(got.info.stopped_at >= started &&
	      got.info.stopped_at <= msb_wall_s());
	CHECK_STR(got.info.error, "");
	msb_row_free(&got);

	/* failed keeps its reason; the next status clears it. */
	CHECK_EQ_INT(msb_db_set_status(h.db, "sb", "failed", 0, "it broke",
				       &err),
		     0);
	CHECK_EQ_INT(msb_db_get(h.db, "sb", &got, &err), 0);
	CHECK_STR(got.info.status, "failed");
	CHECK_STR(got.info.error, "it broke");
	CHECK(got.info.stopped_at >= started);
	msb_row_free(&got);
	CHECK_EQ_INT(msb_db_set_status(h.db, "sb", "starting", 7, NULL, &err),
		     0);
	CHECK_EQ_INT(msb_db_get(h.db, "sb", &got, &err), 0);
	CHECK_STR(got.info.error, "");
	msb_row_free(&got);
out:
	home_end(&h);
}

TEST(state_set_runtime)
{
	struct home h;
	struct msb_row got;
	msb_error err = { 0 };

	if (home_begin(&h) == 0) {
		insert(&h, "rt", "created", 1);
		CHECK_EQ_INT(msb_db_set_runtime(h.db, "rt",
						"{\"boot_ms\":812}", &err),
			     0);
		CHECK_EQ_INT(msb_db_get(h.db, "rt", &got, &err), 0);
		CHECK_STR(got.runtime, "{\"boot_ms\":812}");
		msb_row_free(&got);
	}
	home_end(&h);
}

TEST(state_list_order)
{
	struct home h;
	struct msb_row *rows = NULL;
	size_t n = 99;
	msb_error err = { 0 };

	if (home_begin(&h) != 0)
		goto out;
	CHECK_EQ_INT(msb_db_list(h.db, &rows, &n, &err), 0);
	CHECK_EQ_INT(n, 0);
	free(rows);
	rows = NULL;
	/* By creation time, then by name. */
	insert(&h, "zeta", "created", 300);
	insert(&h, "beta", "stopped", 100);
	insert(&h, "alpha", "running", 200);
	insert(&h, "gamma", "failed", 100);
	CHECK_EQ_INT(msb_db_list(h.db, &rows, &n, &err), 0);
	CHECK_EQ_INT(n, 4);
	if (n == 4) {
		CHECK_STR(rows[0].info.name, "beta");
		CHECK_STR(rows[1].info.name, "gamma");
		CHECK_STR(rows[2].info.name, "alpha");
		CHECK_STR(rows[3].info.name, "zeta");
		CHECK_STR(rows[2].info.status, "running");
		CHECK_EQ_INT(rows[3].info.memory_mib, 1536);
	}
	for (size_t i = 0; i < n; i++)
		msb_row_free(&rows[i]);
	free(rows);
out:
	home_end(&h);
}

TEST(state_delete)
{
	struct home h;
	struct msb_row got;
	msb_error err = { 0 };
	struct msb_row *rows = NULL;
	size_t n = 0;

	if (home_begin(&h) == 0) {
		insert(&h, "gone", "stopped", 1);
		insert(&h, "kept", "stopped", 2);
		CHECK_EQ_INT(msb_db_delete(h.db, "gone", &err), 0);
		CHECK_EQ_INT(msb_db_get(h.db, "gone", &got, &err), -ENOENT);
		/* Deleting what is not there is not an error. */
		CHECK_EQ_INT(msb_db_delete(h.db, "gone", &err), 0);
		CHECK_EQ_INT(msb_db_list(h.db, &rows, &n, &err), 0);
		CHECK_EQ_INT(n, 1);
		if (n == 1)
			CHECK_STR(rows[0].info.name, "kept");
		for (size_t i = 0; i < n; i++)
			msb_row_free(&rows[i]);
		free(rows);
		/* The name is free again. */
		CHECK_EQ_INT(insert(&h, "gone", "created", 3), 0);
	}
	home_end(&h);
}

/* hold_lock() - play a live supervisor: an exclusive flock on
 * <home>/sandboxes/NAME/lock. Return: the descriptor, or -1. */
static int hold_lock(const char *name)
{
	char p[PATH_MAX];
	int fd;

	if (msb_sandbox_dir(name, p, sizeof(p)) < 0 || msb_mkdir_p(p, 0700) < 0)
		return -1;
	if (msb_lock_path(name, p, sizeof(p)) < 0)
		return -1;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST(state_lock_path)
{
	struct home h;
	char p[PATH_MAX], want[PATH_MAX + 64];

	if (home_begin(&h) == 0) {
		CHECK_EQ_INT(msb_lock_path("dev", p, sizeof(p)), 0);
		snprintf(want, sizeof(want), "%s/sandboxes/dev/lock", h.dir);
		CHECK_STR(p, want);
		CHECK_EQ_INT(msb_lock_path("dev", p, 10), -ENAMETOOLONG);
	}
	home_end(&h);
}

TEST(state_supervisor_alive)
{
	struct home h;
	int fd;

	if (home_begin(&h) != 0)
		goto out;
	/* No directory, no lock file: dead. */
	CHECK_EQ_INT(msb_supervisor_alive("sb"), 0);
	fd = hold_lock("sb");
	CHECK(fd >= 0);
	CHECK_EQ_INT(msb_supervisor_alive("sb"), 1);
	/* Checking does not disturb the holder. */
	CHECK_EQ_INT(msb_supervisor_alive("sb"), 1);
	if (fd >= 0)
		close(fd);
	/* The file stays, the lock went with the descriptor: dead. */
	CHECK_EQ_INT(msb_supervisor_alive("sb"), 0);
out:
	home_end(&h);
}

TEST(state_reconcile_dead_supervisor)
{
	static const char *const live[] = { "starting", "running", "stopping" };
	struct home h;
	msb_error err = { 0 };

	if (home_begin(&h) != 0)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(live); i++) {
		struct msb_row r, got;
		char name[16];

		snprintf(name, sizeof(name), "dead%zu", i);
		insert(&h, name, "created", 1);
		CHECK_EQ_INT(msb_db_set_status(h.db, name, live[i], 4242, NULL,
					       &err),
			     0);
		CHECK_EQ_INT(msb_db_get(h.db, name, &r, &err), 0);
		CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
		CHECK_STR(r.info.status, "failed");
		CHECK_EQ_INT(r.info.pid, 0);
		CHECK_CONTAINS(r.info.error, "supervisor");
		CHECK_CONTAINS(r.info.error, "4242");
		CHECK_CONTAINS(r.info.error, live[i]);
		/* Written back, not only in memory. */
		CHECK_EQ_INT(msb_db_get(h.db, name, &got, &err), 0);
		CHECK_STR(got.info.status, "failed");
		CHECK_STR(got.info.error, r.info.error);
		CHECK(got.info.stopped_at > 0);
		msb_row_free(&got);
		msb_row_free(&r);
	}
out:
	home_end(&h);
}

TEST(state_reconcile_live_supervisor)
{
	struct home h;
	struct msb_row r, got;
	msb_error err = { 0 };
	int fd;

	if (home_begin(&h) != 0)
		goto out;
	insert(&h, "alive", "created", 1);
	CHECK_EQ_INT(msb_db_set_status(h.db, "alive", "running", 77, NULL,
				       &err),
		     0);
	fd = hold_lock("alive");
	CHECK(fd >= 0);
	CHECK_EQ_INT(msb_db_get(h.db, "alive", &r, &err), 0);
	CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
	CHECK_STR(r.info.status, "running");
	CHECK_EQ_INT(r.info.pid, 77);
	CHECK_EQ_INT(msb_db_get(h.db, "alive", &got, &err), 0);
	CHECK_STR(got.info.status, "running");
	msb_row_free(&got);
	/* The supervisor dies: the same record is now a failure. */
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
	CHECK_STR(r.info.status, "failed");
	msb_row_free(&r);
out:
	home_end(&h);
}

TEST(state_reconcile_leaves_settled_rows)
{
	static const char *const settled[] = { "created", "stopped", "failed" };
	struct home h;
	msb_error err = { 0 };

	if (home_begin(&h) != 0)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(settled); i++) {
		struct msb_row r;

		insert(&h, settled[i], settled[i], 1);
		CHECK_EQ_INT(msb_db_get(h.db, settled[i], &r, &err), 0);
		CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
		CHECK_STR(r.info.status, settled[i]);
		CHECK_STR(r.info.error, "");
		msb_row_free(&r);
	}
out:
	home_end(&h);
}

TEST(state_reconcile_rereads_stale_row)
{
	struct home h;
	struct msb_row r;
	msb_error err = { 0 };

	if (home_begin(&h) != 0)
		goto out;
	/* The caller read "running"; the supervisor then finished cleanly
	 * and wrote "stopped" before its lock went. */
	insert(&h, "done", "created", 1);
	msb_db_set_status(h.db, "done", "running", 5, NULL, &err);
	CHECK_EQ_INT(msb_db_get(h.db, "done", &r, &err), 0);
	msb_db_set_status(h.db, "done", "stopped", 0, NULL, &err);
	CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
	CHECK_STR(r.info.status, "stopped");
	CHECK_STR(r.info.error, "");
	msb_row_free(&r);
	CHECK_EQ_INT(msb_db_get(h.db, "done", &r, &err), 0);
	CHECK_STR(r.info.status, "stopped");
	msb_row_free(&r);
out:
	home_end(&h);
}

TEST(state_two_handles)
{
	struct home h;
	sqlite3 *db2 = NULL;
	struct msb_row got;
	msb_error err = { 0 };

	/* CLI calls and supervisors each open the file: they see each
	 * other's writes. */
	if (home_begin(&h) == 0) {
		CHECK_EQ_INT(msb_db_open(NULL, &db2, &err), 0);
		insert(&h, "shared", "created", 1);
		if (db2) {
			CHECK_EQ_INT(msb_db_get(db2, "shared", &got, &err), 0);
			msb_row_free(&got);
			CHECK_EQ_INT(msb_db_set_status(db2, "shared", "failed",
						       0, "x", &err),
				     0);
			msb_db_close(db2);
		}
		CHECK_EQ_INT(msb_db_get(h.db, "shared", &got, &err), 0);
		CHECK_STR(got.info.status, "failed");
		msb_row_free(&got);
	}
	home_end(&h);
}

/* ---- known bugs (reported; these fail until fixed) ------------------------ */

/*
 * Regression (src/lib/state.c, msb_db_reconcile): the row is rewritten as failed
 * with stopped_at stamped in the database, but the in-memory copy, which
 * state.h promises is "updated to match", keeps the old stopped_at (0 for a
 * sandbox that never stopped), so msb_list()/msb_inspect_json() show a
 * failed sandbox that never stopped. Set r->info.stopped_at too (or re-read
 * the row).
 */
TEST(regress_reconcile_leaves_stopped_at_stale)
{
	struct home h;
	struct msb_row r, got;
	msb_error err = { 0 };

	if (home_begin(&h) != 0)
		goto out;
	insert(&h, "crashed", "created", 1);
	msb_db_set_status(h.db, "crashed", "running", 9, NULL, &err);
	CHECK_EQ_INT(msb_db_get(h.db, "crashed", &r, &err), 0);
	CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
	CHECK_EQ_INT(msb_db_get(h.db, "crashed", &got, &err), 0);
	CHECK(got.info.stopped_at > 0);
	CHECK_EQ_INT(r.info.stopped_at, got.info.stopped_at); 
	msb_row_free(&got);
	msb_row_free(&r);
out:
	home_end(&h);
}

/* Opening a database that is already current writes nothing: with another
 * process holding the write lock (or a full disk), reading still works.
 * Before, every open wrote the schema and user_version and waited out the
 * busy timeout here, then failed. */
TEST(state_open_current_db_writes_nothing)
{
	struct home h;
	msb_error err = { 0 };
	struct msb_row r;
	sqlite3 *other = NULL, *db = NULL;
	uint64_t t0;

	if (home_begin(&h) != 0)
		goto out;
	insert(&h, "a", "stopped", 1);
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/msb.db", h.dir);
		CHECK_EQ_INT(sqlite3_open(p, &other), SQLITE_OK);
		CHECK_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
					  NULL),
			     SQLITE_OK);
	}
	t0 = msb_now_ms();
	CHECK_EQ_INT(msb_db_open(NULL, &db, &err), 0);
	CHECK(msb_now_ms() - t0 < 5000);
	if (db) {
		CHECK_EQ_INT(msb_db_get(db, "a", &r, &err), 0);
		CHECK_STR(r.info.status, "stopped");
		msb_row_free(&r);
		msb_db_close(db);
	}
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
out:
	home_end(&h);
}

/* A record whose supervisor is gone reads as failed even when the fix
 * cannot be written (a read-only or full database). */
TEST(state_reconcile_reports_without_writing)
{
	struct home h;
	msb_error err = { 0 };
	struct msb_row r;
	sqlite3 *ro = NULL;
	char p[PATH_MAX];

	if (home_begin(&h) != 0)
		goto out;
	insert(&h, "gone", "created", 1);
	CHECK_EQ_INT(msb_db_set_status(h.db, "gone", "running", 4242, NULL,
				       &err),
		     0);
	snprintf(p, sizeof(p), "%s/msb.db", h.dir);
	CHECK_EQ_INT(sqlite3_open_v2(p, &ro, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	CHECK_EQ_INT(msb_db_get(ro, "gone", &r, &err), 0);
	CHECK_EQ_INT(msb_db_reconcile(ro, &r, &err), 0);
	CHECK_STR(r.info.status, "failed");
	CHECK_CONTAINS(r.info.error, "supervisor (pid 4242) exited");
	msb_row_free(&r);
	sqlite3_close(ro);
out:
	home_end(&h);
}

/* A supervisor whose directory was deleted (or replaced) under it still
 * holds its lock file open: by that process it is alive, and its record
 * is not rewritten as failed. Before, the path alone decided. */
TEST(state_alive_by_process_when_lock_file_gone)
{
	struct home h;
	msb_error err = { 0 };
	struct msb_row r;
	char dir[PATH_MAX];
	int fd;

	if (home_begin(&h) != 0)
		goto out;
	fd = hold_lock("sb");
	CHECK(fd >= 0);
	msb_sandbox_dir("sb", dir, sizeof(dir));
	CHECK_EQ_INT(msb_rm_rf(dir), 0);
	CHECK_EQ_INT(msb_supervisor_alive("sb"), 0);
	CHECK_EQ_INT(msb_supervisor_alive_pid("sb", getpid()), 1);
	/* Another process, or none, is not it. */
	CHECK_EQ_INT(msb_supervisor_alive_pid("sb", getppid()), 0);
	CHECK_EQ_INT(msb_supervisor_alive_pid("sb", 0), 0);
	CHECK_EQ_INT(msb_supervisor_alive_pid("other", getpid()), 0);
	/* A fresh, unlocked lock file at the path changes nothing. */
	msb_mkdir_p(dir, 0700);
	{
		int f2 = hold_lock("other");

		if (f2 >= 0)
			close(f2);
	}
	insert(&h, "sb", "created", 1);
	CHECK_EQ_INT(msb_db_set_status(h.db, "sb", "running", getpid(), NULL,
				       &err),
		     0);
	CHECK_EQ_INT(msb_db_get(h.db, "sb", &r, &err), 0);
	CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
	CHECK_STR(r.info.status, "running");
	msb_row_free(&r);
	if (fd >= 0)
		close(fd);
	/* The descriptor gone: dead, and reconciled so. */
	CHECK_EQ_INT(msb_db_get(h.db, "sb", &r, &err), 0);
	CHECK_EQ_INT(msb_db_reconcile(h.db, &r, &err), 0);
	CHECK_STR(r.info.status, "failed");
	msb_row_free(&r);
out:
	home_end(&h);
}
