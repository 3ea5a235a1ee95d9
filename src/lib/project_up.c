/* SPDX-License-Identifier: Apache-2.0 */
/* project_up.c - a project's sandboxes brought up, down and restarted
 *
 * Theory of operation. Every sandbox a project makes carries, in its
 * record, the project's name, its key in the file and the hash of its
 * definition (sandboxfile.c), so what exists is read from the records and
 * never kept twice. 'up' compares each sandbox of the file with its
 * record: missing is created (or restored, from_snapshot), a different
 * hash is removed and created again, stopped is started, running with the
 * same hash is left alone; so a second 'up' does nothing and an edit
 * recreates only what it changed.
 *
 * Starts follow depends_on: a sandbox starts once everything it depends
 * on is up (and, for condition: healthy, has passed its health check),
 * each on a thread of its own, so independent sandboxes boot at the same
 * time; the calling thread schedules them and joins them all before it
 * returns (none outlives the call). A failure stops the scheduling: nothing that has not started yet
 * starts, what runs is waited for, and the error names the sandbox and
 * ends with its log's last lines. 'down' stops and removes in the reverse
 * order, the project's sandboxes that left the file (orphans) first.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "jsonx.h"
#include "project.h"
#include "state.h"
#include "util.h"
#include "volstore.h"

#define LOG_TAIL_LINES 12

MSB_API void msb_project_opts_init(msb_project_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stop_timeout_s = 10;
}

/* ---- progress ---- */

struct run {
	const struct msb_project *p;
	const msb_project_opts *o;
	pthread_mutex_t mu;      /* the scheduler's state and progress calls */
	pthread_cond_t cv;
};

static void say(struct run *r, const struct proj_sandbox *s,
		const char *name, const char *what, uint64_t ms,
		const char *detail)
{
	msb_project_event e = {
		.sandbox = s ? s->key : NULL,
		.name = s ? s->name : name,
		.what = what,
		.ms = ms,
		.detail = detail,
	};

	if (!r->o || !r->o->progress)
		return;
	pthread_mutex_lock(&r->mu);
	r->o->progress(r->o->ctx, &e);
	pthread_mutex_unlock(&r->mu);
}

/* ---- records ---- */

/* label() - the "project" object of sandbox @name's record, or NULL
 * (*@found says whether the sandbox exists at all; @row is filled). */
static json_object *label(const char *name, struct msb_row *row, int *found)
{
	json_object *cfg, *pj = NULL;
	sqlite3 *db;

	*found = 0;
	memset(row, 0, sizeof(*row));
	if (msb_db_open(NULL, &db, NULL) < 0)
		return NULL;
	if (msb_db_get(db, name, row, NULL) == 0) {
		*found = 1;
		msb_db_reconcile(db, row, NULL);
		cfg = json_tokener_parse(row->config);
		if (cfg && json_object_object_get_ex(cfg, "project", &pj) &&
		    json_object_is_type(pj, json_type_object))
			pj = json_object_get(pj);
		else
			pj = NULL;
		json_object_put(cfg);
	}
	msb_db_close(db);
	return pj;
}

/* labels() - what a sandbox of @p records about its project. */
static json_object *labels(const struct msb_project *p,
			   const struct proj_sandbox *s)
{
	static const char *const restart[] = {
		[PROJ_RESTART_NO] = NULL,
		[PROJ_RESTART_ON_FAILURE] = "on-failure",
		[PROJ_RESTART_ALWAYS] = "always",
		[PROJ_RESTART_UNLESS_STOPPED] = "unless-stopped",
	};
	json_object *x = json_object_new_object(), *pj = json_object_new_object();

	json_object_object_add(pj, "name", json_object_new_string(p->name));
	json_object_object_add(pj, "sandbox", json_object_new_string(s->key));
	json_object_object_add(pj, "hash", json_object_new_string(s->hash));
	json_object_object_add(pj, "file", json_object_new_string(p->file));
	json_object_object_add(x, "project", pj);
	if (restart[s->restart])
		json_object_object_add(x, "restart", json_object_new_string(
						restart[s->restart]));
	return x;
}

/* log_tail() - the last lines of sandbox @name's log, after @msg. */
static void log_tail(const char *name, msb_error *err)
{
	char path[PATH_MAX], *text, *start;
	size_t len, used;
	int lines = 0;

	if (!err || msb_sandbox_logs_path(name, path, sizeof(path), NULL) < 0)
		return;
	text = msb_read_file(path, &len);
	if (!text)
		return;
	for (start = text + len; start > text; start--)
		if (start[-1] == '\n' && start != text + len &&
		    ++lines > LOG_TAIL_LINES)
			break;
	used = strlen(err->message);
	snprintf(err->message + used, sizeof(err->message) - used,
		 "\n--- the last lines of its log ('msb logs %s'):\n%s", name,
		 start);
	used = strlen(err->message);
	while (used && err->message[used - 1] == '\n')
		err->message[--used] = '\0';
	free(text);
}

/* ---- health ---- */

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* healthy() - run @s's health check until it passes (0) or has failed
 * its retries (an error with its last output). */
static int healthy(struct run *run, const struct proj_sandbox *s,
		   msb_error *err)
{
	const struct proj_health *h = s->health;
	uint64_t t0 = msb_now_ms();
	unsigned failures = 0;
	msb_exec_opts eo = { 0 };
	char last[300] = "";

	eo.timeout_ms = (unsigned)h->timeout_ms;
	say(run, s, NULL, "waiting", 0, "for its healthcheck");
	for (;;) {
		msb_sandbox *sb;
		msb_output out = { 0 };
		msb_error e = { 0 };
		int r = msb_sandbox_open(s->name, &sb, &e);

		if (r < 0)
			return msb_fail(err, r, "%s", e.message);
		r = msb_exec_capture(sb, (const char *const *)h->test, &eo,
				     &out, &e);
		msb_sandbox_close(sb);
		if (r == 0 && out.exit_code == 0 && !out.timed_out) {
			msb_output_free(&out);
			say(run, s, NULL, "healthy", msb_now_ms() - t0, NULL);
			return 0;
		}
		if (r < 0)
			snprintf(last, sizeof(last), "%s", e.message);
		else if (out.timed_out)
			snprintf(last, sizeof(last), "timed out after %llu ms",
				 (unsigned long long)h->timeout_ms);
		else
			snprintf(last, sizeof(last), "exit status %d: %.200s",
				 out.exit_code, out.err && *out.err ? out.err :
				 out.out ? out.out : "");
		msb_output_free(&out);
		if (r == MSB_E_NOT_RUNNING || r == MSB_E_STOPPED)
			break;
		if (msb_now_ms() - t0 >= h->start_period_ms &&
		    ++failures >= h->retries)
			break;
		sleep_ms(h->interval_ms);
	}
	{
		size_t n = strlen(last);

		while (n && last[n - 1] == '\n')
			last[--n] = '\0';
	}
	return msb_fail(err, MSB_E_EXEC,
			"its healthcheck did not pass (%u failures; the "
			"last: %s)", failures, last);
}

/* ---- one sandbox up ---- */

static int create(const struct msb_project *p, const struct proj_sandbox *s,
		  msb_error *err)
{
	msb_sandbox_config c = s->cfg;
	msb_volume vols[PROJ_MOUNTS_MAX];
	json_object *x = labels(p, s);
	msb_sandbox *sb = NULL;
	int r;

	for (size_t i = 0; i < s->nmounts; i++) {
		vols[i] = s->mounts[i].v;
		if (s->mounts[i].named >= 0) {
			vols[i].kind = MSB_VOLUME_NAMED;
			vols[i].source = p->vols[s->mounts[i].named].name;
		}
	}
	c.volumes = s->nmounts ? vols : NULL;
	c.nvolumes = s->nmounts;
	c.cmd = (const char *const *)s->cmd;
	/* no command: the image's Entrypoint and Cmd, as Compose runs */
	c.image_cmd = !s->cmd;
	r = msb_sandbox_create_extra(&c, x, &sb, err);
	json_object_put(x);
	msb_sandbox_close(sb);
	return r;
}

static int restore(struct run *run, const struct proj_sandbox *s,
		   const char **how, msb_error *err)
{
	msb_restore_opts ro;
	msb_snapshot_info si;
	json_object *x = labels(run->p, s);
	msb_sandbox *sb = NULL;
	int r = msb_snapshot_info_get(s->from_snapshot, &si, err);

	if (r < 0) {
		json_object_put(x);
		return r;
	}
	msb_restore_opts_init(&ro);
	ro.name = s->name;
	ro.env = s->cfg.env;
	ro.cpus = s->cfg.cpus;
	ro.memory_mib = s->cfg.memory_mib;
	ro.boot_timeout_ms = s->cfg.boot_timeout_ms;
	/* A running machine cannot change its CPUs or memory (QEMU 7.2):
	 * asked for others, the snapshot's disk boots fresh with them. */
	ro.disk_only = !strcmp(si.kind, "full") &&
		       ((ro.cpus && ro.cpus != si.cpus) ||
			(ro.memory_mib && ro.memory_mib != si.memory_mib));
	*how = strcmp(si.kind, "full") || ro.disk_only ?
		       "booted from the snapshot's disk" :
		       "restored, running where it was";
	if (s->cmd)
		json_object_object_add(x, "cmd", msb_jstrv((const char *const *)
							       s->cmd));
	r = msb_snapshot_restore_extra(s->from_snapshot, &ro, x, &sb, err);
	json_object_put(x);
	msb_sandbox_close(sb);
	return r;
}

/* no_remote() - a sandbox that syncs is made only where it can push:
 * with a remote (msb_remote_get()); 0, or the error saying so. */
static int no_remote(const struct proj_sandbox *s, msb_error *err)
{
	char remote[512];
	msb_error e = { 0 };

	if (msb_remote_get(remote, sizeof(remote), NULL, &e) == 0)
		return 0;
	return msb_fail(err, MSB_E_INVALID, "sandbox %s has sync: true, and there is "
		 "no remote to push it to: set one with 'msb remote set "
		 "REGISTRY[/NAMESPACE]' (or $MSB_REMOTE), or leave sync out "
		 "(%s)", s->key, e.message);
}

enum { JOB_PENDING, JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct job {
	struct run *run;
	size_t i;
	int selected;
	int need_health;   /* a dependent waits for it to be healthy */
	int state;
	int rc;
	msb_error err;
	pthread_t th;
	int started;
};

/* up_one() - bring sandbox @j up as its record and definition say. */
static int up_one(struct job *j)
{
	struct run *run = j->run;
	const struct msb_project *p = run->p;
	const struct proj_sandbox *s = &p->sbs[j->i];
	msb_error *err = &j->err;
	struct msb_row row;
	json_object *pj;
	uint64_t t0 = msb_now_ms();
	const char *done = "created", *detail = NULL;
	int found, r;

	pj = label(s->name, &row, &found);
	if (found && strcmp(msb_jstr(pj, "name", ""), p->name)) {
		r = msb_fail(err, MSB_E_EXISTS,
			     "a sandbox named '%s' exists and is not project "
			     "%s's: remove it ('msb rm -f %s') or rename the "
			     "project", s->name, p->name, s->name);
	} else if (found && !strcmp(msb_jstr(pj, "hash", ""), s->hash)) {
		if (msb_status_is_live(row.info.status)) {
			say(run, s, NULL, "up-to-date", 0, row.info.status);
			r = 0;
			done = NULL;
		} else {
			msb_sandbox *sb = NULL;

			say(run, s, NULL, "starting", 0, NULL);
			r = msb_sandbox_start(s->name, &sb, err);
			msb_sandbox_close(sb);
			if (r == -EALREADY)
				r = 0;
			done = "started";
		}
	} else if (s->sync && (r = no_remote(s, err)) < 0) {
		done = NULL;
	} else {
		if (found) {
			say(run, s, NULL, "recreating", 0,
			    "its definition changed");
			r = msb_sandbox_remove(s->name, 1, err);
			done = "recreated";
		} else {
			say(run, s, NULL, s->from_snapshot ? "restoring" :
			    "creating", 0, s->from_snapshot);
			r = 0;
		}
		if (r == 0 && s->from_snapshot) {
			r = restore(run, s, &detail, err);
			if (!found)
				done = "restored";
		} else if (r == 0) {
			r = create(p, s, err);
		}
	}
	json_object_put(pj);
	msb_row_free(&row);
	/* sync is the record's, set at every up: an edit needs no new
	 * sandbox (it is not in the hash) */
	if (r == 0)
		r = msb_sandbox_set_sync(s->name, s->sync, err);
	if (r == 0 && done)
		say(run, s, NULL, done, msb_now_ms() - t0, detail);
	if (r == 0 && j->need_health)
		r = healthy(run, s, err);
	if (r < 0 && r != MSB_E_BOOT && r != MSB_E_EXISTS)
		log_tail(s->name, err);
	return r;
}

static void *job_thread(void *arg)
{
	struct job *j = arg;
	int r = up_one(j);

	pthread_mutex_lock(&j->run->mu);
	j->rc = r;
	j->state = r < 0 ? JOB_FAILED : JOB_DONE;
	pthread_cond_broadcast(&j->run->cv);
	pthread_mutex_unlock(&j->run->mu);
	return NULL;
}

/* select_only() - @only's keys and everything they depend on; Return: 0
 * or MSB_E_NOT_FOUND naming a key the file does not have. */
static int select_only(const struct msb_project *p, const char *const *only,
		       struct job *jobs, int deps, msb_error *err)
{
	int grew = 1;

	for (size_t i = 0; i < p->nsbs; i++)
		jobs[i].selected = !only;
	for (const char *const *k = only; k && *k; k++) {
		const struct proj_sandbox *s = proj_find(p, *k);

		if (!s)
			return msb_fail(err, MSB_E_NOT_FOUND,
					"no sandbox '%s' in %s", *k, p->file);
		jobs[s - p->sbs].selected = 1;
	}
	while (deps && grew) {
		grew = 0;
		for (size_t i = 0; i < p->nsbs; i++)
			for (size_t d = 0; jobs[i].selected &&
					   d < p->sbs[i].ndeps; d++)
				if (!jobs[p->sbs[i].deps[d].sb].selected) {
					jobs[p->sbs[i].deps[d].sb].selected = 1;
					grew = 1;
				}
	}
	return 0;
}

/* volumes() - the project's named volumes the selected sandboxes mount:
 * made when missing (with their size), their size set when it changed;
 * an external one must exist. */
static int volumes(struct run *run, struct job *jobs, msb_error *err)
{
	const struct msb_project *p = run->p;

	for (size_t v = 0; v < p->nvols; v++) {
		const struct proj_volume *pv = &p->vols[v];
		uint64_t size;
		int used = 0;

		for (size_t i = 0; i < p->nsbs && !used; i++)
			for (size_t m = 0; jobs[i].selected &&
					   m < p->sbs[i].nmounts; m++)
				used |= p->sbs[i].mounts[m].named == (long)v;
		if (!used)
			continue;
		if (msb_volstore_size(pv->name, &size) == 0) {
			if (!pv->external && size != pv->size_mib) {
				int r = msb_volstore_set_size(pv->name,
							      pv->size_mib,
							      err);

				if (r < 0)
					return r;
				say(run, NULL, pv->name, "volume resized", 0,
				    "for the sandboxes that mount it from now");
			}
			continue;
		}
		if (pv->external)
			return msb_fail(err, MSB_E_NOT_FOUND,
					"%s:%u:%u: volume '%s' is external and "
					"does not exist: make it with 'msb "
					"volume create %s'", p->file,
					pv->pos.line, pv->pos.col, pv->name,
					pv->name);
		{
			int r = msb_volstore_create(pv->name, pv->size_mib,
						    p->name, NULL, err);

			if (r < 0 && r != MSB_E_EXISTS)
				return r;
		}
		say(run, NULL, pv->name, "volume created", 0, NULL);
	}
	return 0;
}

MSB_API int msb_project_up(const msb_project *p, const msb_project_opts *o,
			   msb_error *err)
{
	struct run run = { .p = p, .o = o };
	struct job *jobs;
	msb_error local = { 0 };
	int r, failed = -1;

	if (!err)
		err = &local;
	jobs = calloc(p->nsbs ? p->nsbs : 1, sizeof(*jobs));
	if (!jobs)
		return msb_fail(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	r = select_only(p, o ? o->only : NULL, jobs, 1, err);
	if (r == 0)
		r = volumes(&run, jobs, err);
	for (size_t i = 0; r == 0 && i < p->nsbs; i++) {
		jobs[i].run = &run;
		jobs[i].i = i;
		for (size_t d = 0; d < p->sbs[i].ndeps; d++)
			if (jobs[i].selected && p->sbs[i].deps[d].healthy)
				jobs[p->sbs[i].deps[d].sb].need_health = 1;
	}
	pthread_mutex_lock(&run.mu);
	while (r == 0) {
		size_t left = 0;

		/* start everything whose dependencies are up, in the file's
		 * start order, unless something failed */
		for (size_t k = 0; failed < 0 && k < p->nsbs; k++) {
			size_t i = p->order[k];
			struct job *j = &jobs[i];
			int ready = 1;

			if (!j->selected || j->state != JOB_PENDING)
				continue;
			for (size_t d = 0; d < p->sbs[i].ndeps; d++)
				ready &= jobs[p->sbs[i].deps[d].sb].state ==
					 JOB_DONE;
			if (!ready)
				continue;
			j->state = JOB_RUNNING;
			if (pthread_create(&j->th, NULL, job_thread, j) != 0) {
				j->state = JOB_FAILED;
				j->rc = msb_fail(&j->err, -EAGAIN,
						 "cannot start a thread");
				continue;
			}
			j->started = 1;
		}
		for (size_t i = 0; i < p->nsbs; i++) {
			if (jobs[i].state == JOB_FAILED && failed < 0)
				failed = (int)i;
			if (jobs[i].selected && (jobs[i].state == JOB_PENDING ||
						 jobs[i].state == JOB_RUNNING))
				left += jobs[i].state == JOB_RUNNING ||
					failed < 0;
		}
		if (!left)
			break;
		pthread_cond_wait(&run.cv, &run.mu);
	}
	pthread_mutex_unlock(&run.mu);
	for (size_t i = 0; i < p->nsbs; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].th, NULL);
	if (r == 0 && failed >= 0) {
		const struct proj_sandbox *s = &p->sbs[failed];

		r = msb_fail(err, jobs[failed].rc, "sandbox %s (%s) did not "
			     "come up, and nothing that had not started was "
			     "started after it: %s", s->key, s->name,
			     jobs[failed].err.message);
		say(&run, s, NULL, "failed", 0, jobs[failed].err.message);
	}
	pthread_cond_destroy(&run.cv);
	pthread_mutex_destroy(&run.mu);
	free(jobs);
	return r;
}

/* ---- down, restart, ps ---- */

struct member {
	char name[64];
	char key[64];
	char status[16];
	char image[256];
	char hash[65];
	int in_file;       /* its index in the file, or -1: an orphan */
};

/* members() - every sandbox whose record names project @p. */
static int members(const struct msb_project *p, struct member **out,
		   size_t *n, msb_error *err)
{
	struct msb_row *rows = NULL;
	size_t nrows = 0, cnt = 0;
	struct member *m;
	sqlite3 *db;
	int r = msb_db_open(NULL, &db, err);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	r = msb_db_list(db, &rows, &nrows, err);
	if (r < 0) {
		msb_db_close(db);
		return r;
	}
	m = calloc(nrows ? nrows : 1, sizeof(*m));
	for (size_t i = 0; i < nrows; i++) {
		json_object *cfg = json_tokener_parse(rows[i].config), *pj;

		if (m && cfg && json_object_object_get_ex(cfg, "project", &pj) &&
		    !strcmp(msb_jstr(pj, "name", ""), p->name)) {
			const struct proj_sandbox *s =
				proj_find(p, msb_jstr(pj, "sandbox", ""));

			msb_db_reconcile(db, &rows[i], NULL);
			snprintf(m[cnt].name, sizeof(m[cnt].name), "%s",
				 rows[i].info.name);
			snprintf(m[cnt].key, sizeof(m[cnt].key), "%s",
				 msb_jstr(pj, "sandbox", ""));
			snprintf(m[cnt].status, sizeof(m[cnt].status), "%s",
				 rows[i].info.status);
			snprintf(m[cnt].image, sizeof(m[cnt].image), "%s",
				 rows[i].info.image);
			snprintf(m[cnt].hash, sizeof(m[cnt].hash), "%s",
				 msb_jstr(pj, "hash", ""));
			m[cnt].in_file = s && !strcmp(s->name,
						      rows[i].info.name) ?
						 (int)(s - p->sbs) : -1;
			cnt++;
		}
		json_object_put(cfg);
		msb_row_free(&rows[i]);
	}
	free(rows);
	msb_db_close(db);
	if (!m)
		return msb_fail(err, -ENOMEM, "out of memory");
	*out = m;
	*n = cnt;
	return 0;
}

/* rank() - where a member stops: orphans first, then the file's in the
 * reverse of the start order. */
static size_t rank(const struct msb_project *p, const struct member *m)
{
	if (m->in_file < 0)
		return 0;
	for (size_t k = 0; k < p->nsbs; k++)
		if (p->order[k] == (size_t)m->in_file)
			return p->nsbs - k;
	return 0;
}

static const struct msb_project *sort_p;

static int by_stop_order(const void *a, const void *b)
{
	size_t ra = rank(sort_p, a), rb = rank(sort_p, b);

	return ra < rb ? -1 : ra > rb;
}

static int wanted(const msb_project_opts *o, const struct member *m)
{
	if (!o || !o->only)
		return 1;
	for (const char *const *k = o->only; *k; k++)
		if (!strcmp(*k, m->key))
			return 1;
	return 0;
}

static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

/* to_stop() - the members of @p in stop order, once every key of
 * @o->only is found in the file (MSB_E_NOT_FOUND naming one that is not). */
static int to_stop(const struct msb_project *p, const msb_project_opts *o,
		   struct member **m, size_t *n, msb_error *err)
{
	int r;

	for (const char *const *k = o ? o->only : NULL; k && *k; k++)
		if (!proj_find(p, *k))
			return msb_fail(err, MSB_E_NOT_FOUND,
					"no sandbox '%s' in %s", *k, p->file);
	r = members(p, m, n, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&sort_mu);
	sort_p = p;
	qsort(*m, *n, sizeof(**m), by_stop_order);
	pthread_mutex_unlock(&sort_mu);
	return 0;
}

MSB_API int msb_project_down(const msb_project *p, const msb_project_opts *o,
			     msb_error *err)
{
	struct run run = { .p = p, .o = o };
	unsigned timeout = o ? o->stop_timeout_s : 10;
	struct member *m;
	size_t n;
	int r, rc = 0;

	r = to_stop(p, o, &m, &n, err);
	if (r < 0)
		return r;
	pthread_mutex_init(&run.mu, NULL);
	for (size_t i = 0; i < n; i++) {
		msb_error e = { 0 };
		msb_sync_info pushed = { 0 };
		char detail[700];
		uint64_t t0 = msb_now_ms();
		const struct proj_sandbox *s = m[i].in_file >= 0 ?
			&p->sbs[m[i].in_file] : NULL;

		if (!wanted(o, &m[i]))
			continue;
		if (msb_status_is_live(m[i].status)) {
			say(&run, s, m[i].name, "stopping", 0, NULL);
			r = msb_sandbox_stop_sync(m[i].name, timeout, NULL,
						  &pushed, NULL, &e);
			if (r < 0 && r != -EALREADY && r != MSB_E_NOT_FOUND) {
				if (!rc)
					rc = msb_fail(err, r, "%s", e.message);
				continue;
			}
		}
		r = msb_sandbox_remove(m[i].name, 1, &e);
		if (r < 0 && r != MSB_E_NOT_FOUND) {
			if (!rc)
				rc = msb_fail(err, r, "%s", e.message);
			continue;
		}
		snprintf(detail, sizeof(detail), "%s%s%s",
			 s ? "" : "not in the file any more",
			 !s && pushed.name[0] ? "; " : "",
			 pushed.name[0] ? "pushed to " : "");
		if (pushed.name[0])
			snprintf(detail + strlen(detail),
				 sizeof(detail) - strlen(detail), "%s",
				 pushed.reference);
		say(&run, s, m[i].name, "removed", msb_now_ms() - t0,
		    detail[0] ? detail : NULL);
	}
	free(m);
	if (rc == 0 && o && o->volumes && !o->only) {
		msb_volume_info *v;
		size_t nv;

		r = msb_volume_list(&v, &nv, err);
		for (size_t i = 0; r == 0 && i < nv; i++) {
			msb_error e = { 0 };

			if (strcmp(v[i].project, p->name))
				continue;
			r = msb_volume_remove(v[i].name, 0, &e);
			if (r < 0)
				rc = msb_fail(err, r, "%s", e.message);
			else
				say(&run, NULL, v[i].name, "volume removed", 0,
				    NULL);
			r = 0;
		}
		if (r == 0)
			free(v);
		else
			rc = r;
	}
	pthread_mutex_destroy(&run.mu);
	return rc;
}

/* stop_all() - stop the running ones of @m (in stop order). */
static int stop_all(struct run *run, struct member *m, size_t n,
		    msb_error *err)
{
	const struct msb_project *p = run->p;
	const msb_project_opts *o = run->o;
	unsigned timeout = o ? o->stop_timeout_s : 10;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		msb_error e = { 0 };
		msb_sync_info pushed = { 0 };
		char detail[700];
		uint64_t t0 = msb_now_ms();
		const struct proj_sandbox *s = m[i].in_file >= 0 ?
			&p->sbs[m[i].in_file] : NULL;
		int r;

		if (!wanted(o, &m[i]) || !msb_status_is_live(m[i].status))
			continue;
		say(run, s, m[i].name, "stopping", 0, NULL);
		r = msb_sandbox_stop_sync(m[i].name, timeout, NULL, &pushed,
					  NULL, &e);
		if (r < 0 && r != -EALREADY) {
			if (!rc)
				rc = msb_fail(err, r, "%s", e.message);
			continue;
		}
		if (pushed.name[0])
			snprintf(detail, sizeof(detail), "pushed to %s",
				 pushed.reference);
		say(run, s, m[i].name, "stopped", msb_now_ms() - t0,
		    pushed.name[0] ? detail : NULL);
	}
	return rc;
}

MSB_API int msb_project_stop(const msb_project *p, const msb_project_opts *o,
			     msb_error *err)
{
	struct run run = { .p = p, .o = o };
	struct member *m;
	size_t n;
	int r;

	r = to_stop(p, o, &m, &n, err);
	if (r < 0)
		return r;
	pthread_mutex_init(&run.mu, NULL);
	r = stop_all(&run, m, n, err);
	pthread_mutex_destroy(&run.mu);
	free(m);
	return r;
}

MSB_API int msb_project_restart(const msb_project *p,
				const msb_project_opts *o, msb_error *err)
{
	struct run run = { .p = p, .o = o };
	struct member *m;
	size_t n;
	int r, rc = 0;

	r = to_stop(p, o, &m, &n, err);
	if (r < 0)
		return r;
	if (!n) {
		free(m);
		return msb_fail(err, MSB_E_NOT_FOUND,
				"project %s has no sandboxes: bring it up "
				"first ('msb project up -d')", p->name);
	}
	pthread_mutex_init(&run.mu, NULL);
	rc = stop_all(&run, m, n, err);
	/* started again in the start order: the reverse of the above */
	for (size_t i = n; rc == 0 && i-- > 0;) {
		msb_error e = { 0 };
		msb_sandbox *sb = NULL;
		uint64_t t0 = msb_now_ms();

		if (!wanted(o, &m[i]) || m[i].in_file < 0)
			continue;
		r = msb_sandbox_start(m[i].name, &sb, &e);
		msb_sandbox_close(sb);
		if (r < 0 && r != -EALREADY) {
			rc = msb_fail(err, r, "%s", e.message);
			log_tail(m[i].name, err);
			break;
		}
		say(&run, &p->sbs[m[i].in_file], NULL, "started",
		    msb_now_ms() - t0, NULL);
	}
	free(m);
	pthread_mutex_destroy(&run.mu);
	return rc;
}

MSB_API int msb_project_ps(const msb_project *p, msb_project_entry **out,
			   size_t *n, msb_error *err)
{
	struct member *m;
	size_t nm, cnt = 0;
	msb_project_entry *v;
	int r = members(p, &m, &nm, err);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	v = calloc(p->nsbs + nm + 1, sizeof(*v));
	if (!v) {
		free(m);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < p->nsbs; k++) {
		const struct proj_sandbox *s = &p->sbs[p->order[k]];
		msb_project_entry *e = &v[cnt++];
		size_t i;

		snprintf(e->key, sizeof(e->key), "%s", s->key);
		snprintf(e->name, sizeof(e->name), "%s", s->name);
		for (i = 0; i < nm; i++)
			if (m[i].in_file == (int)(s - p->sbs))
				break;
		if (i == nm) {
			snprintf(e->status, sizeof(e->status), "missing");
			snprintf(e->state, sizeof(e->state), "missing");
			snprintf(e->image, sizeof(e->image), "%s",
				 s->from_snapshot ? s->from_snapshot :
				 s->cfg.image ? s->cfg.image : "default");
			continue;
		}
		snprintf(e->status, sizeof(e->status), "%s", m[i].status);
		snprintf(e->state, sizeof(e->state), "%s",
			 strcmp(m[i].hash, s->hash) ? "changed" : "current");
		snprintf(e->image, sizeof(e->image), "%s", m[i].image);
	}
	for (size_t i = 0; i < nm; i++) {
		msb_project_entry *e;

		if (m[i].in_file >= 0)
			continue;
		e = &v[cnt++];
		snprintf(e->key, sizeof(e->key), "%s", m[i].key);
		snprintf(e->name, sizeof(e->name), "%s", m[i].name);
		snprintf(e->status, sizeof(e->status), "%s", m[i].status);
		snprintf(e->state, sizeof(e->state), "orphan");
		snprintf(e->image, sizeof(e->image), "%s", m[i].image);
	}
	free(m);
	*out = v;
	*n = cnt;
	return 0;
}
