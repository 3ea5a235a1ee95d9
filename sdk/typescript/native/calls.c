/* SPDX-License-Identifier: Apache-2.0 */
/* calls.c - libmsb's calls that wait, as promises
 *
 * A boot, a stop, a snapshot, a push or pull, the state database, a
 * one-shot file request: each runs in libuv's thread pool
 * (napi_async_work), so the event loop goes on meanwhile. A job's arguments are copied into its arena on the
 * loop's thread; the call runs on a pool thread; its result becomes JS
 * values back on the loop's thread (or its msb_error the SDK's error).
 * The pool has UV_THREADPOOL_SIZE threads (4 by default): that many such
 * calls run at once, the rest queue. A call given a progress callback
 * (a pull, a load, a push, a syncing stop, a copy) has its reports
 * delivered by progress.c, and its promise is settled only after the
 * last of them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

struct job;
typedef int (*job_run)(struct job *j);
typedef napi_value (*job_done)(napi_env env, struct job *j);

struct job {
	struct arena a;
	job_run run;       /* pool thread: the libmsb call's return */
	job_done done;     /* loop thread: the promise's value */
	int r;
	msb_error err;
	napi_status completed; /* the async work's status */
	napi_async_work work;
	napi_deferred deferred;
	napi_ref keep[2];  /* JS values the call uses (a handle, a buffer) */
	napi_value progress; /* the JS callback, until job_start() */
	napi_threadsafe_function tsfn; /* its reports' way, or NULL */

	/* arguments */
	const char *s[3];
	int flag;
	unsigned u;
	msb_sandbox *sb;
	const char *const *argv;
	const void *buf;
	size_t len;
	msb_file_opts fo;

	msb_plugins *plugins; /* a create's chain (freed with the job) */
	msb_spawn_policy *spawn; /* a create's spawn policy (freed too) */

	/* results */
	msb_sandbox *out_sb; /* closed unless done() took it */
	void *out;           /* free()d after done() unless it took it */
	size_t n;
	uint64_t u64;
	int status;
	union {
		msb_sandbox_config cfg;
		msb_restore_opts ro;
		msb_exec_opts eo;
		msb_sandbox_info info;
		msb_snapshot_info snap;
		msb_stats stats;
		msb_file_info fi;
		msb_image_info img;
		msb_volume_info vol;
		msb_plugin_info plug;
		struct {
			msb_sync_opts o;
			msb_sync_info info;
		} sync;
		char path[4096];
	} x;
};

static struct job *job_new(napi_env env, job_run run, job_done done)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		throw_msb(env, -ENOMEM, "out of memory");
		return NULL;
	}
	j->run = run;
	j->done = done;
	return j;
}

static void job_free(napi_env env, struct job *j)
{
	for (int i = 0; i < 2; i++)
		if (j->keep[i])
			napi_delete_reference(env, j->keep[i]);
	if (j->work)
		napi_delete_async_work(env, j->work);
	if (j->out_sb)
		msb_sandbox_close(j->out_sb);
	msb_plugins_free(j->plugins);
	msb_spawn_policy_free(j->spawn);
	free(j->out);
	arena_free(&j->a);
	free(j);
}

/* job_keep() - hold @v (a handle, a buffer) until the job is over. */
static int job_keep(napi_env env, struct job *j, napi_value v)
{
	int i = j->keep[0] ? 1 : 0;

	return check_napi(env, napi_create_reference(env, v, 1, &j->keep[i]));
}

static void job_execute(napi_env env, void *data)
{
	struct job *j = data;

	j->r = j->run(j);
}

/* job_settle() - the promise settled with the job's outcome (if it has
 * one: job_start() may fail to make it); the job freed. */
static void job_settle(napi_env env, struct job *j)
{
	napi_value v = NULL;

	if (!j->deferred) {
		/* nobody to tell */
	} else if (j->completed != napi_ok) {
		napi_reject_deferred(env, j->deferred,
				     make_error(env, -ECANCELED,
						"the call was cancelled"));
	} else if (j->r < 0) {
		int code = j->err.code ? j->err.code : j->r;

		napi_reject_deferred(env, j->deferred,
				     make_error(env, code, j->err.message));
	} else {
		v = j->done ? j->done(env, j) : js_undefined(env);
		if (!v) {
			bool pending = false;

			napi_is_exception_pending(env, &pending);
			if (pending)
				napi_get_and_clear_last_exception(env, &v);
			else
				v = make_error(env, -ENOMEM, "out of memory");
			napi_reject_deferred(env, j->deferred, v);
		} else {
			napi_resolve_deferred(env, j->deferred, v);
		}
	}
	job_free(env, j);
}

static void job_finalize(napi_env env, void *data, void *hint)
{
	job_settle(env, data);
}

static void job_complete(napi_env env, napi_status status, void *data)
{
	struct job *j = data;

	j->completed = status;
	if (j->tsfn)  /* settled by job_finalize, after the last report */
		napi_release_threadsafe_function(j->tsfn, napi_tsfn_release);
	else
		job_settle(env, j);
}

/* job_progress() - @fn (absent: none) to be called with the job's
 * progress reports; job_start() checks it and opens their way. */
static void job_progress(napi_env env, struct job *j, napi_value fn)
{
	j->progress = is_absent(env, fn) ? NULL : fn;
}

/* job_start() - queue @j; its promise. */
static napi_value job_start(napi_env env, struct job *j)
{
	napi_value promise, name;

	if (j->progress && progress_open(env, j->progress, j, job_finalize,
					 &j->tsfn) < 0) {
		job_free(env, j);
		return NULL;
	}
	j->progress = NULL;
	if (check_napi(env, napi_create_promise(env, &j->deferred, &promise))) {
		if (j->tsfn) {  /* its finalizer frees the job */
			j->deferred = NULL;
			napi_release_threadsafe_function(j->tsfn,
							 napi_tsfn_abort);
		} else {
			job_free(env, j);
		}
		return NULL;
	}
	napi_create_string_utf8(env, "microsandbox", NAPI_AUTO_LENGTH, &name);
	if (napi_create_async_work(env, NULL, name, job_execute, job_complete, j,
				   &j->work) != napi_ok ||
	    napi_queue_async_work(env, j->work) != napi_ok) {
		j->r = -ENOMEM;
		snprintf(j->err.message, sizeof(j->err.message),
			 "could not queue the call");
		job_complete(env, napi_ok, j); /* rejects the promise */
	}
	return promise;
}

/* A job whose arguments could not be taken. */
static napi_value job_fail(napi_env env, struct job *j)
{
	job_free(env, j);
	return NULL;
}

#define ARGS(n)                                                                \
	size_t argc = (n);                                                     \
	napi_value argv[(n)];                                                  \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

/* ---- results as JS values ------------------------------------------------------- */

static napi_value done_sandbox(napi_env env, struct job *j)
{
	napi_value v = wrap_sandbox(env, j->out_sb);

	j->out_sb = NULL; /* the JS value owns it now (or wrap closed it) */
	return v;
}

static napi_value done_u64(napi_env env, struct job *j)
{
	return js_num(env, (double)j->u64);
}

static napi_value done_status(napi_env env, struct job *j)
{
	return js_num(env, j->status);
}

static napi_value done_string(napi_env env, struct job *j)
{
	return js_str(env, j->out);
}

static napi_value done_path(napi_env env, struct job *j)
{
	return js_str(env, j->x.path);
}

static napi_value info_js(napi_env env, const msb_sandbox_info *i)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "name", i->name);
	set_str(env, o, "image", i->image);
	set_str(env, o, "status", i->status);
	set_num(env, o, "cpus", i->cpus);
	set_num(env, o, "memoryMib", (double)i->memory_mib);
	set_num(env, o, "pid", i->pid);
	set_num(env, o, "createdAt", (double)i->created_at);
	set_num(env, o, "startedAt", (double)i->started_at);
	set_num(env, o, "stoppedAt", (double)i->stopped_at);
	set_str(env, o, "error", i->error);
	set_str(env, o, "cmdState", i->cmd_state == MSB_CMD_RUNNING ? "running" :
				    i->cmd_state == MSB_CMD_ENDED   ? "ended" :
								      "none");
	set_num(env, o, "cmdExitCode", i->cmd_exit_code);
	set_str(env, o, "fromSnapshot", i->from_snapshot);
	return o;
}

static napi_value snap_js(napi_env env, const msb_snapshot_info *s)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "name", s->name);
	set_str(env, o, "source", s->source);
	set_str(env, o, "kind", s->kind);
	set_str(env, o, "reason", s->reason);
	set_str(env, o, "image", s->image);
	set_num(env, o, "cpus", s->cpus);
	set_num(env, o, "memoryMib", (double)s->memory_mib);
	set_num(env, o, "createdAt", (double)s->created_at);
	set_num(env, o, "ramBytes", (double)s->ram_bytes);
	set_num(env, o, "diskBytes", (double)s->disk_bytes);
	set_num(env, o, "sizeBytes", (double)s->size_bytes);
	set_num(env, o, "users", s->users);
	return o;
}

static napi_value stats_js(napi_env env, const msb_stats *s)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "name", s->name);
	set_str(env, o, "status", s->status);
	set_bool(env, o, "running", s->running);
	set_bool(env, o, "guest", s->guest);
	set_num(env, o, "cpus", s->cpus);
	set_num(env, o, "memoryLimitBytes", (double)s->memory_limit_bytes);
	set_num(env, o, "uptimeMs", (double)s->uptime_ms);
	set_num(env, o, "cpuPercent", s->cpu_percent);
	set_num(env, o, "cpuTimeNs", (double)s->cpu_time_ns);
	set_num(env, o, "memoryRssBytes", (double)s->memory_rss_bytes);
	set_num(env, o, "memoryUsedBytes", (double)s->memory_used_bytes);
	set_num(env, o, "memoryTotalBytes", (double)s->memory_total_bytes);
	set_num(env, o, "diskBytes", (double)s->disk_bytes);
	set_num(env, o, "diskUsedBytes", (double)s->disk_used_bytes);
	set_num(env, o, "diskTotalBytes", (double)s->disk_total_bytes);
	set_num(env, o, "netRxBytes", (double)s->net_rx_bytes);
	set_num(env, o, "netTxBytes", (double)s->net_tx_bytes);
	set_num(env, o, "netRxPackets", (double)s->net_rx_packets);
	set_num(env, o, "netTxPackets", (double)s->net_tx_packets);
	set_num(env, o, "processes", (double)s->processes);
	return o;
}

static napi_value image_js(napi_env env, const msb_image_info *i)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "reference", i->reference);
	set_str(env, o, "canonical", i->canonical);
	set_str(env, o, "digest", i->digest);
	set_str(env, o, "id", i->id);
	set_num(env, o, "size", (double)i->size);
	set_num(env, o, "layers", i->layers);
	set_num(env, o, "pulledAt", (double)i->pulled_at);
	set_num(env, o, "fetched", i->fetched);
	set_bool(env, o, "builtin", i->builtin);
	return o;
}

/* done_array() - j->out as j->n JS values made by @one. */
static napi_value array_of(napi_env env, struct job *j, size_t size,
			   napi_value (*one)(napi_env, const void *))
{
	napi_value arr;

	napi_create_array_with_length(env, j->n, &arr);
	for (size_t i = 0; i < j->n; i++)
		napi_set_element(env, arr, (uint32_t)i,
				 one(env, (const char *)j->out + i * size));
	return arr;
}

static napi_value one_info(napi_env env, const void *p) { return info_js(env, p); }
static napi_value one_snap(napi_env env, const void *p) { return snap_js(env, p); }
static napi_value one_stats(napi_env env, const void *p) { return stats_js(env, p); }
static napi_value one_image(napi_env env, const void *p) { return image_js(env, p); }
static napi_value one_file(napi_env env, const void *p) { return file_info_js(env, p); }

static napi_value one_port(napi_env env, const void *p)
{
	const msb_port *port = p;
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "hostIp", port->host_ip);
	set_num(env, o, "hostPort", port->host_port);
	set_num(env, o, "guestPort", port->guest_port);
	return o;
}

/* ---- sandboxes ---------------------------------------------------------------------- */

static int run_create(struct job *j)
{
	return msb_sandbox_create_full(&j->x.cfg, j->plugins, j->spawn,
				       &j->out_sb, &j->err);
}

/* spawn_of() - @o ({ max, images: [ref], cpus, memoryMib, totalMemoryMib },
 * lib/config.js's spawnPolicy) as an msb_spawn_policy; NULL when absent
 * (spawning off). libmsb checks the count and each image. */
static int spawn_of(napi_env env, napi_value o, struct arena *a,
		    msb_spawn_policy **out)
{
	msb_error err = { 0 };
	msb_spawn_policy *p;
	const char *const *images = NULL;
	unsigned max = 0, cpus = 0;
	uint64_t mem = 0, total = 0;

	*out = NULL;
	if (is_absent(env, o))
		return 0;
	if (prop_u32(env, o, "max", &max) < 0 ||
	    prop_strv(env, o, "images", a, &images, NULL) < 0 ||
	    prop_u32(env, o, "cpus", &cpus) < 0 ||
	    prop_u64(env, o, "memoryMib", &mem) < 0 ||
	    prop_u64(env, o, "totalMemoryMib", &total) < 0)
		return -1;
	p = msb_spawn_policy_new(max);
	if (!p) {
		throw_msb(env, MSB_E_INVALID,
			  "allowSpawn %u: give 1 to 64 live peers", max);
		return -1;
	}
	for (size_t i = 0; images && images[i]; i++)
		if (msb_spawn_policy_add_image(p, images[i], &err) < 0) {
			napi_throw(env, make_error(env, err.code ? err.code :
							 MSB_E_INVALID,
						   err.message));
			msb_spawn_policy_free(p);
			return -1;
		}
	msb_spawn_policy_set_limits(p, cpus, mem, total);
	*out = p;
	return 0;
}

/* plugins_of() - @o ({ builtins: [{ name, options }], processes: [cmd],
 * sockets: [path], timeoutMs, restarts }) as an msb_plugins, checked by
 * libmsb; restarts absent keeps libmsb's default. */
static int plugins_of(napi_env env, napi_value o, struct arena *a,
		      msb_plugins **out)
{
	static const char *const lists[] = { "builtins", "processes", "sockets" };
	msb_error err = { 0 };
	msb_plugins *p;
	unsigned timeout, nrestarts = 0;
	napi_value restarts;

	*out = NULL;
	if (is_absent(env, o))
		return 0;
	p = msb_plugins_new();
	if (!p) {
		throw_msb(env, -ENOMEM, "out of memory");
		return -1;
	}
	for (size_t l = 0; l < 3; l++) {
		napi_value list;
		uint32_t n = 0;

		if (get_prop(env, o, lists[l], &list) < 0)
			goto fail;
		if (list)
			napi_get_array_length(env, list, &n);
		for (uint32_t i = 0; i < n; i++) {
			napi_value e;
			const char *s = NULL, *opts = NULL;
			int r;

			napi_get_element(env, list, i, &e);
			if (l == 0) {
				if (prop_str(env, e, "name", a, &s) < 0 ||
				    prop_str(env, e, "options", a, &opts) < 0)
					goto fail;
				r = msb_plugins_add(p, s ? s : "",
						    opts && *opts ? opts : NULL,
						    &err);
			} else {
				if (arg_str(env, e, a, lists[l], &s) < 0)
					goto fail;
				r = l == 1 ? msb_plugins_add_process(p, s ? s : "", &err) :
					     msb_plugins_add_socket(p, s ? s : "", &err);
			}
			if (r < 0) {
				napi_throw(env, make_error(env, err.code ? err.code : r,
							   err.message));
				goto fail;
			}
		}
	}
	if (prop_u32(env, o, "timeoutMs", &timeout) < 0 ||
	    get_prop(env, o, "restarts", &restarts) < 0 ||
	    (restarts && arg_u32(env, restarts, "restarts", &nrestarts) < 0))
		goto fail;
	if (timeout)
		msb_plugins_set_timeout(p, timeout);
	if (restarts)
		msb_plugins_set_restarts(p, nrestarts);
	*out = p;
	return 0;
fail:
	msb_plugins_free(p);
	return -1;
}

/* sandboxCreate(config, plugins?): a handle once the guest is ready;
 * config.spawn, when given, is its spawn policy. */
static napi_value js_sandbox_create(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct job *j = job_new(env, run_create, done_sandbox);
	napi_value spawn;

	if (!j)
		return NULL;
	if (config_sandbox(env, argv[0], &j->a, &j->x.cfg) < 0 ||
	    plugins_of(env, argc > 1 ? argv[1] : NULL, &j->a, &j->plugins) < 0 ||
	    get_prop(env, argv[0], "spawn", &spawn) < 0 ||
	    spawn_of(env, spawn, &j->a, &j->spawn) < 0)
		return job_fail(env, j);
	return job_start(env, j);
}

static int run_parent(struct job *j)
{
	return msb_sandbox_parent(j->s[0], j->x.path, sizeof(j->x.path),
				  &j->err);
}

static int run_start(struct job *j)
{
	return msb_sandbox_start(j->s[0], &j->out_sb, &j->err);
}

static int run_open(struct job *j)
{
	return msb_sandbox_open(j->s[0], &j->out_sb, &j->err);
}

static int run_stop(struct job *j)
{
	return msb_sandbox_stop(j->s[0], j->u, &j->u64, &j->err);
}

static int run_remove(struct job *j)
{
	return msb_sandbox_remove(j->s[0], j->flag, &j->err);
}

static int run_info(struct job *j)
{
	return msb_sandbox_info_get(j->s[0], &j->x.info, &j->err);
}

static napi_value done_info(napi_env env, struct job *j)
{
	return info_js(env, &j->x.info);
}

static int run_list(struct job *j)
{
	msb_sandbox_info *arr = NULL;
	int r = msb_list(&arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static napi_value done_list(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_sandbox_info), one_info);
}

static int run_inspect(struct job *j)
{
	char *json = NULL;
	int r = msb_inspect_json(j->s[0], &json, &j->err);

	j->out = json;
	return r;
}

static int run_logs_path(struct job *j)
{
	return msb_sandbox_logs_path(j->s[0], j->x.path, sizeof(j->x.path),
				     &j->err);
}

static int run_ports(struct job *j)
{
	msb_port *ports = NULL;
	int r = msb_sandbox_ports(j->s[0], &ports, &j->n, &j->err);

	j->out = ports;
	return r;
}

static napi_value done_ports(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_port), one_port);
}

static int run_wait(struct job *j)
{
	return msb_sandbox_wait(j->s[0], j->u, &j->status, &j->err);
}

static int run_stats(struct job *j)
{
	return msb_sandbox_stats(j->s[0], &j->x.stats, &j->err);
}

static napi_value done_stats(napi_env env, struct job *j)
{
	return stats_js(env, &j->x.stats);
}

static int run_stats_list(struct job *j)
{
	msb_stats *arr = NULL;
	int r = msb_stats_list(j->flag, &arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static napi_value done_stats_list(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_stats), one_stats);
}

/* A call taking a name (and a number or flag, and for those that report
 * progress a callback): @what names the string. */
static napi_value by_name(napi_env env, napi_callback_info info, job_run run,
			  job_done done, const char *what)
{
	ARGS(3);
	struct job *j = job_new(env, run, done);
	napi_valuetype t;

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, what, &j->s[0]) < 0)
		return job_fail(env, j);
	napi_typeof(env, argv[1], &t);
	if (t == napi_boolean) {
		arg_bool(env, argv[1], &j->flag);
	} else {
		if (arg_u32(env, argv[1], "number", &j->u) < 0)
			return job_fail(env, j);
		j->flag = j->u != 0;
	}
	job_progress(env, j, argv[2]);
	if (!j->s[0])
		j->s[0] = "";
	return job_start(env, j);
}

/* A call taking nothing, or one flag. */
static napi_value no_name(napi_env env, napi_callback_info info, job_run run,
			  job_done done)
{
	ARGS(1);
	struct job *j = job_new(env, run, done);

	if (!j)
		return NULL;
	if (arg_bool(env, argv[0], &j->flag) < 0)
		return job_fail(env, j);
	return job_start(env, j);
}

/* sandboxParent(name): the sandbox that spawned it, "" for the host's. */
static napi_value js_sandbox_parent(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_parent, done_path, "name");
}

static napi_value js_sandbox_start(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_start, done_sandbox, "name");
}

static napi_value js_sandbox_open(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_open, done_sandbox, "name");
}

/* sandboxStop(name, graceSeconds): the milliseconds it took. */
static napi_value js_sandbox_stop(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_stop, done_u64, "name");
}

/* sandboxRemove(name, force) */
static napi_value js_sandbox_remove(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_remove, NULL, "name");
}

static napi_value js_sandbox_info(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_info, done_info, "name");
}

static napi_value js_list(napi_env env, napi_callback_info info)
{
	return no_name(env, info, run_list, done_list);
}

static napi_value js_inspect(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_inspect, done_string, "name");
}

static napi_value js_logs_path(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_logs_path, done_path, "name");
}

static napi_value js_ports(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_ports, done_ports, "name");
}

/* sandboxWait(name, timeoutMs): the detached command's status. */
static napi_value js_wait(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_wait, done_status, "name");
}

static napi_value js_stats(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_stats, done_stats, "name");
}

static napi_value js_stats_list(napi_env env, napi_callback_info info)
{
	return no_name(env, info, run_stats_list, done_stats_list);
}

static int run_exec_detach(struct job *j)
{
	return msb_exec_detach(j->sb, j->argv, &j->x.eo, &j->status, &j->err);
}

/* execDetach(handle, argv, opts): the pid of a command left running. */
static napi_value js_exec_detach(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct job *j = job_new(env, run_exec_detach, done_status);

	if (!j)
		return NULL;
	if (arg_sandbox(env, argv[0], &j->sb) < 0 || job_keep(env, j, argv[0]) < 0 ||
	    arg_strv(env, argv[1], &j->a, "argv", &j->argv, NULL) < 0 ||
	    config_exec(env, argv[2], &j->a, &j->x.eo) < 0)
		return job_fail(env, j);
	return job_start(env, j);
}

/* ---- snapshots ---------------------------------------------------------------------- */

static int run_snapshot_create(struct job *j)
{
	return msb_snapshot_create(j->s[0], j->s[1], &j->x.snap, &j->err);
}

static napi_value done_snap(napi_env env, struct job *j)
{
	return snap_js(env, &j->x.snap);
}

/* snapshotCreate(sandbox, name): its record. */
static napi_value js_snapshot_create(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct job *j = job_new(env, run_snapshot_create, done_snap);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "sandbox", &j->s[0]) < 0 ||
	    arg_str(env, argv[1], &j->a, "snapshot name", &j->s[1]) < 0)
		return job_fail(env, j);
	if (!j->s[0] || !j->s[1]) {
		job_free(env, j);
		return throw_msb(env, MSB_E_INVALID,
				 "a snapshot needs a sandbox and a name");
	}
	return job_start(env, j);
}

static int run_restore(struct job *j)
{
	return msb_snapshot_restore(j->s[0], &j->x.ro, &j->out_sb, &j->err);
}

/* snapshotRestore(snapshot, opts): a handle on the new sandbox. */
static napi_value js_snapshot_restore(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct job *j = job_new(env, run_restore, done_sandbox);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "snapshot", &j->s[0]) < 0 ||
	    config_restore(env, argv[1], &j->a, &j->x.ro) < 0)
		return job_fail(env, j);
	if (!j->s[0])
		j->s[0] = "";
	return job_start(env, j);
}

static int run_snapshot_list(struct job *j)
{
	msb_snapshot_info *arr = NULL;
	int r = msb_snapshot_list(&arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static napi_value done_snapshot_list(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_snapshot_info), one_snap);
}

static int run_snapshot_info(struct job *j)
{
	return msb_snapshot_info_get(j->s[0], &j->x.snap, &j->err);
}

static int run_snapshot_inspect(struct job *j)
{
	char *json = NULL;
	int r = msb_snapshot_inspect_json(j->s[0], &json, &j->err);

	j->out = json;
	return r;
}

static int run_snapshot_remove(struct job *j)
{
	return msb_snapshot_remove(j->s[0], j->flag, &j->err);
}

static napi_value js_snapshot_list(napi_env env, napi_callback_info info)
{
	return no_name(env, info, run_snapshot_list, done_snapshot_list);
}

static napi_value js_snapshot_info(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_snapshot_info, done_snap, "snapshot");
}

static napi_value js_snapshot_inspect(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_snapshot_inspect, done_string, "snapshot");
}

static int run_snapshot_rename(struct job *j)
{
	return msb_snapshot_rename(j->s[0], j->s[1], &j->err);
}

/* snapshotRename(name, newName) */
static napi_value js_snapshot_rename(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct job *j = job_new(env, run_snapshot_rename, NULL);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "snapshot", &j->s[0]) < 0 ||
	    arg_str(env, argv[1], &j->a, "new snapshot name", &j->s[1]) < 0)
		return job_fail(env, j);
	if (!j->s[0] || !j->s[1]) {
		job_free(env, j);
		return throw_msb(env, MSB_E_INVALID,
				 "a rename needs the snapshot and its new name");
	}
	return job_start(env, j);
}

/* snapshotRemove(name, force) */
static napi_value js_snapshot_remove(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_snapshot_remove, NULL, "snapshot");
}

/* ---- files (one-shot) ----------------------------------------------------------------- */

/* A file call on a sandbox handle: (handle, path[, path2 | buffer], opts
 * [, progress]). */
static napi_value file_call(napi_env env, napi_callback_info info, job_run run,
			    job_done done, int paths, int buffer)
{
	ARGS(5);
	struct job *j = job_new(env, run, done);
	size_t o = 2;

	if (!j)
		return NULL;
	if (arg_sandbox(env, argv[0], &j->sb) < 0 || job_keep(env, j, argv[0]) < 0 ||
	    arg_str(env, argv[1], &j->a, "path", &j->s[0]) < 0)
		return job_fail(env, j);
	if (paths == 2 && arg_str(env, argv[o++], &j->a, "path", &j->s[1]) < 0)
		return job_fail(env, j);
	if (buffer) {
		bool is_buf = false;
		void *data = NULL;

		napi_is_buffer(env, argv[o], &is_buf);
		if (!is_buf) {
			job_free(env, j);
			return throw_msb(env, MSB_E_INVALID, "data must be a Buffer");
		}
		napi_get_buffer_info(env, argv[o], &data, &j->len);
		j->buf = data;
		if (job_keep(env, j, argv[o++]) < 0)
			return job_fail(env, j);
	}
	if (config_file(env, argv[o], &j->a, &j->fo) < 0)
		return job_fail(env, j);
	job_progress(env, j, argv[o + 1]);
	if (!j->s[0])
		j->s[0] = "";
	if (paths == 2 && !j->s[1])
		j->s[1] = "";
	return job_start(env, j);
}

static int run_file_stat(struct job *j)
{
	return msb_file_stat(j->sb, j->s[0], &j->fo, &j->x.fi, &j->err);
}

static napi_value done_file_info(napi_env env, struct job *j)
{
	return file_info_js(env, &j->x.fi);
}

static int run_file_exists(struct job *j)
{
	int r = msb_file_exists(j->sb, j->s[0], &j->fo, &j->err);

	j->status = r > 0;
	return r < 0 ? r : 0;
}

static napi_value done_bool(napi_env env, struct job *j)
{
	return js_bool(env, j->status);
}

static int run_file_list(struct job *j)
{
	msb_file_info *arr = NULL;
	int r = msb_file_list(j->sb, j->s[0], &j->fo, &arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static napi_value done_file_list(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_file_info), one_file);
}

static int run_file_mkdir(struct job *j)
{
	return msb_file_mkdir(j->sb, j->s[0], &j->fo, &j->err);
}

static int run_file_remove(struct job *j)
{
	return msb_file_remove(j->sb, j->s[0], &j->fo, &j->err);
}

static int run_file_rename(struct job *j)
{
	return msb_file_rename(j->sb, j->s[0], j->s[1], &j->fo, &j->err);
}

static int run_file_symlink(struct job *j)
{
	/* (target, path) as msb_file_symlink() takes them */
	return msb_file_symlink(j->sb, j->s[0], j->s[1], &j->fo, &j->err);
}

static int run_file_read_all(struct job *j)
{
	void *data = NULL;
	int r = msb_file_read_all(j->sb, j->s[0], &j->fo, &data, &j->n, &j->err);

	j->out = data;
	return r;
}

static void free_data(napi_env env, void *data, void *hint)
{
	free(data);
}

static napi_value done_read_all(napi_env env, struct job *j)
{
	napi_value buf;

	if (napi_create_external_buffer(env, j->n, j->out, free_data, NULL,
					&buf) != napi_ok) {
		/* Runtimes that refuse external buffers get a copy. */
		void *copy;

		if (napi_create_buffer_copy(env, j->n, j->out, &copy, &buf) != napi_ok)
			return NULL;
		return buf;
	}
	j->out = NULL;
	return buf;
}

static int run_file_write_all(struct job *j)
{
	return msb_file_write_all(j->sb, j->s[0], j->buf, j->len, &j->fo, &j->err);
}

static int run_copy_in(struct job *j)
{
	msb_copy_opts o = { .user = j->fo.user,
			    .progress = j->tsfn ? progress_copy : NULL,
			    .ctx = j->tsfn };

	return msb_copy_in(j->sb, j->s[0], j->s[1], &o, &j->err);
}

static int run_copy_out(struct job *j)
{
	msb_copy_opts o = { .user = j->fo.user,
			    .progress = j->tsfn ? progress_copy : NULL,
			    .ctx = j->tsfn };

	return msb_copy_out(j->sb, j->s[0], j->s[1], &o, &j->err);
}

static napi_value js_file_stat(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_stat, done_file_info, 1, 0);
}

static napi_value js_file_exists(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_exists, done_bool, 1, 0);
}

static napi_value js_file_list(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_list, done_file_list, 1, 0);
}

static napi_value js_file_mkdir(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_mkdir, NULL, 1, 0);
}

static napi_value js_file_remove(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_remove, NULL, 1, 0);
}

static napi_value js_file_rename(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_rename, NULL, 2, 0);
}

/* fileSymlink(handle, target, path, opts) */
static napi_value js_file_symlink(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_symlink, NULL, 2, 0);
}

static napi_value js_file_read_all(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_read_all, done_read_all, 1, 0);
}

/* fileWriteAll(handle, path, buffer, opts) */
static napi_value js_file_write_all(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_file_write_all, NULL, 1, 1);
}

/* copyIn(handle, hostPath, guestPath, {user}, progress) */
static napi_value js_copy_in(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_copy_in, NULL, 2, 0);
}

/* copyOut(handle, guestPath, hostPath, {user}, progress) */
static napi_value js_copy_out(napi_env env, napi_callback_info info)
{
	return file_call(env, info, run_copy_out, NULL, 2, 0);
}

/* ---- images ---------------------------------------------------------------------- */

static int run_image_pull(struct job *j)
{
	msb_pull_opts o = { .insecure = j->flag,
			    .progress = j->tsfn ? progress_pull : NULL,
			    .ctx = j->tsfn };

	return msb_image_pull(j->s[0], &o, &j->x.img, &j->err);
}

static int run_image_load(struct job *j)
{
	msb_load_opts o = { .tag = j->s[1],
			    .progress = j->tsfn ? progress_pull : NULL,
			    .ctx = j->tsfn };

	return msb_image_load(j->s[0], &o, &j->x.img, &j->err);
}

static napi_value done_image(napi_env env, struct job *j)
{
	return image_js(env, &j->x.img);
}

static int run_image_list(struct job *j)
{
	msb_image_info *arr = NULL;
	int r = msb_image_list(&arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static napi_value done_image_list(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_image_info), one_image);
}

static int run_image_remove(struct job *j)
{
	return msb_image_remove(j->s[0], &j->err);
}

static int run_image_inspect(struct job *j)
{
	char *json = NULL;
	int r = msb_image_inspect_json(j->s[0], &json, &j->err);

	j->out = json;
	return r;
}

/* imagePull(ref, insecure, progress) */
static napi_value js_image_pull(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_image_pull, done_image, "image reference");
}

/* imageLoad(path, tag, progress) */
static napi_value js_image_load(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct job *j = job_new(env, run_image_load, done_image);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "path", &j->s[0]) < 0 ||
	    arg_str(env, argv[1], &j->a, "tag", &j->s[1]) < 0)
		return job_fail(env, j);
	job_progress(env, j, argv[2]);
	if (!j->s[0])
		j->s[0] = "";
	return job_start(env, j);
}

static napi_value js_image_list(napi_env env, napi_callback_info info)
{
	return no_name(env, info, run_image_list, done_image_list);
}

static napi_value js_image_remove(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_image_remove, NULL, "image reference");
}

static napi_value js_image_inspect(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_image_inspect, done_string,
		       "image reference");
}

static int run_image_save(struct job *j)
{
	return msb_image_save(j->s[0], j->s[1], j->flag ? MSB_SAVE_DOCKER :
							  MSB_SAVE_OCI, &j->err);
}

/* imageSave(ref, path, docker): the tar written (an OCI layout; with
 * docker, also the manifest.json docker load reads). */
static napi_value js_image_save(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct job *j = job_new(env, run_image_save, NULL);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "image reference", &j->s[0]) < 0 ||
	    arg_str(env, argv[1], &j->a, "path", &j->s[1]) < 0 ||
	    arg_bool(env, argv[2], &j->flag) < 0)
		return job_fail(env, j);
	if (!j->s[0] || !j->s[1]) {
		job_free(env, j);
		return throw_msb(env, MSB_E_INVALID,
				 "a save needs an image and a path");
	}
	return job_start(env, j);
}

static int run_image_prune(struct job *j)
{
	return msb_image_prune(&j->u64, &j->u, &j->err);
}

static napi_value done_prune(napi_env env, struct job *j)
{
	napi_value o;

	napi_create_object(env, &o);
	set_num(env, o, "freedBytes", (double)j->u64);
	set_num(env, o, "files", j->u);
	return o;
}

/* imagePrune(): {freedBytes, files}. */
static napi_value js_image_prune(napi_env env, napi_callback_info info)
{
	struct job *j = job_new(env, run_image_prune, done_prune);

	return j ? job_start(env, j) : NULL;
}

/* ---- registry credentials ------------------------------------------------------------ */

static int run_registry_login(struct job *j)
{
	msb_login_options o = { .insecure = j->flag };

	return msb_registry_login_with(j->s[0], j->s[1], j->s[2], &o, &j->err);
}

static int run_registry_logout(struct job *j)
{
	return msb_registry_logout(j->s[0], &j->err);
}

/* registryLogin(registry, user, password, insecure): checked with the
 * registry before it is stored. */
static napi_value js_registry_login(napi_env env, napi_callback_info info)
{
	ARGS(4);
	struct job *j = job_new(env, run_registry_login, NULL);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "registry", &j->s[0]) < 0 ||
	    arg_str(env, argv[1], &j->a, "user", &j->s[1]) < 0 ||
	    arg_str(env, argv[2], &j->a, "password", &j->s[2]) < 0 ||
	    arg_bool(env, argv[3], &j->flag) < 0)
		return job_fail(env, j);
	for (int i = 0; i < 3; i++)
		if (!j->s[i])
			j->s[i] = "";
	return job_start(env, j);
}

/* registryLogout(registry) */
static napi_value js_registry_logout(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_registry_logout, NULL, "registry");
}

/* ---- named volumes ------------------------------------------------------------------- */

static napi_value vol_js(napi_env env, const msb_volume_info *v)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "name", v->name);
	set_num(env, o, "sizeMib", (double)v->size_mib);
	set_num(env, o, "usedBytes", (double)v->used_bytes);
	set_num(env, o, "createdAt", (double)v->created_at);
	set_str(env, o, "project", v->project);
	set_str(env, o, "path", v->path);
	set_num(env, o, "users", v->users);
	set_num(env, o, "running", v->running);
	return o;
}

static napi_value one_vol(napi_env env, const void *p) { return vol_js(env, p); }

static napi_value done_vol(napi_env env, struct job *j)
{
	return vol_js(env, &j->x.vol);
}

static int run_volume_create(struct job *j)
{
	return msb_volume_create(j->s[0], j->u64, &j->x.vol, &j->err);
}

/* volumeCreate(name, sizeMib): its record. */
static napi_value js_volume_create(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct job *j = job_new(env, run_volume_create, done_vol);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "volume name", &j->s[0]) < 0 ||
	    arg_u64(env, argv[1], "size", &j->u64) < 0)
		return job_fail(env, j);
	if (!j->s[0])
		j->s[0] = "";
	return job_start(env, j);
}

static int run_volume_info(struct job *j)
{
	return msb_volume_info_get(j->s[0], &j->x.vol, &j->err);
}

static int run_volume_inspect(struct job *j)
{
	char *json = NULL;
	int r = msb_volume_inspect_json(j->s[0], &json, &j->err);

	j->out = json;
	return r;
}

static int run_volume_list(struct job *j)
{
	msb_volume_info *arr = NULL;
	int r = msb_volume_list(&arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static napi_value done_volume_list(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_volume_info), one_vol);
}

static int run_volume_remove(struct job *j)
{
	return msb_volume_remove(j->s[0], j->flag, &j->err);
}

static napi_value js_volume_info(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_volume_info, done_vol, "volume name");
}

/* volumeInspect(name): msb volume inspect's JSON, with "used_by". */
static napi_value js_volume_inspect(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_volume_inspect, done_string,
		       "volume name");
}

static napi_value js_volume_list(napi_env env, napi_callback_info info)
{
	return no_name(env, info, run_volume_list, done_volume_list);
}

/* volumeRemove(name, force) */
static napi_value js_volume_remove(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_volume_remove, NULL, "volume name");
}

/* ---- cloud sync (docs/sync.md) ------------------------------------------------------ */

static napi_value sync_js(napi_env env, const msb_sync_info *s)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "name", s->name);
	set_str(env, o, "reference", s->reference);
	set_str(env, o, "digest", s->digest);
	set_str(env, o, "parent", s->parent);
	set_num(env, o, "diskBytes", (double)s->disk_bytes);
	set_num(env, o, "chunks", s->chunks);
	set_num(env, o, "transferred", s->transferred);
	set_num(env, o, "bytes", (double)s->bytes);
	set_num(env, o, "reused", s->reused);
	set_bool(env, o, "upToDate", s->up_to_date);
	set_str(env, o, "dropped", s->dropped);
	return o;
}

static int config_sync(napi_env env, napi_value o, struct arena *a,
		       msb_sync_opts *s)
{
	memset(s, 0, sizeof(*s));
	if (prop_str(env, o, "ref", a, &s->ref) < 0 ||
	    prop_str(env, o, "name", a, &s->name) < 0 ||
	    prop_bool(env, o, "insecure", &s->insecure) < 0 ||
	    prop_bool(env, o, "force", &s->force) < 0 ||
	    prop_bool(env, o, "trust", &s->trust) < 0)
		return -1;
	return 0;
}

/* sync_opts() - the job's msb_sync_opts, reporting to its callback. */
static const msb_sync_opts *sync_opts(struct job *j)
{
	j->x.sync.o.progress = j->tsfn ? progress_sync : NULL;
	j->x.sync.o.ctx = j->tsfn;
	return &j->x.sync.o;
}

static int run_push(struct job *j)
{
	return msb_sandbox_push(j->s[0], sync_opts(j), &j->x.sync.info, &j->err);
}

static int run_pull(struct job *j)
{
	return msb_sandbox_pull(j->s[0], sync_opts(j), &j->x.sync.info, &j->err);
}

static int run_snapshot_push(struct job *j)
{
	return msb_snapshot_push(j->s[0], sync_opts(j), &j->x.sync.info,
				 &j->err);
}

static int run_snapshot_pull(struct job *j)
{
	return msb_snapshot_pull(j->s[0], sync_opts(j), &j->x.sync.info,
				 &j->err);
}

static napi_value done_sync(napi_env env, struct job *j)
{
	return sync_js(env, &j->x.sync.info);
}

/* A push or pull: (name or reference, opts, progress). */
static napi_value sync_call(napi_env env, napi_callback_info info, job_run run,
			    const char *what)
{
	ARGS(3);
	struct job *j = job_new(env, run, done_sync);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, what, &j->s[0]) < 0 ||
	    config_sync(env, argv[1], &j->a, &j->x.sync.o) < 0)
		return job_fail(env, j);
	job_progress(env, j, argv[2]);
	if (!j->s[0])
		j->s[0] = "";
	return job_start(env, j);
}

/* sandboxPush(name, {ref, force, insecure}, progress): where it went. */
static napi_value js_sandbox_push(napi_env env, napi_callback_info info)
{
	return sync_call(env, info, run_push, "name");
}

/* sandboxPull(ref, {name, force, trust, insecure}, progress): the
 * stopped sandbox made. */
static napi_value js_sandbox_pull(napi_env env, napi_callback_info info)
{
	return sync_call(env, info, run_pull, "reference");
}

/* snapshotPush(name, {ref, force, insecure}, progress): where it went. */
static napi_value js_snapshot_push(napi_env env, napi_callback_info info)
{
	return sync_call(env, info, run_snapshot_push, "snapshot");
}

/* snapshotPull(ref, {name, force, insecure}, progress): the snapshot made. */
static napi_value js_snapshot_pull(napi_env env, napi_callback_info info)
{
	return sync_call(env, info, run_snapshot_pull, "reference");
}

static int run_stop_sync(struct job *j)
{
	return msb_sandbox_stop_sync(j->s[0], j->u, sync_opts(j),
				     &j->x.sync.info, &j->u64, &j->err);
}

static napi_value done_stop_sync(napi_env env, struct job *j)
{
	napi_value o, nul;

	napi_create_object(env, &o);
	set_num(env, o, "elapsedMs", (double)j->u64);
	napi_get_null(env, &nul);
	set_val(env, o, "pushed", j->x.sync.info.name[0] ?
					  sync_js(env, &j->x.sync.info) : nul);
	return o;
}

/* sandboxStopSync(name, graceSeconds, progress): stopped, and pushed
 * (reporting to progress) if it syncs. */
static napi_value js_sandbox_stop_sync(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_stop_sync, done_stop_sync, "name");
}

static int run_set_sync(struct job *j)
{
	return msb_sandbox_set_sync(j->s[0], j->flag, &j->err);
}

/* sandboxSetSync(name, on) */
static napi_value js_sandbox_set_sync(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_set_sync, NULL, "name");
}

static int run_remote_get(struct job *j)
{
	return msb_remote_get(j->x.path, sizeof(j->x.path), &j->flag, &j->err);
}

static napi_value done_remote(napi_env env, struct job *j)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "remote", j->x.path);
	set_bool(env, o, "insecure", j->flag);
	return o;
}

static int run_remote_set(struct job *j)
{
	return msb_remote_set(j->s[0], j->flag, &j->err);
}

/* remoteGet(): {remote, insecure}; NotFound, saying how to set one, if none. */
static napi_value js_remote_get(napi_env env, napi_callback_info info)
{
	struct job *j = job_new(env, run_remote_get, done_remote);

	return j ? job_start(env, j) : NULL;
}

/* remoteSet(remote, insecure); null or "" forgets it. */
static napi_value js_remote_set(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct job *j = job_new(env, run_remote_set, NULL);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, "remote", &j->s[0]) < 0 ||
	    arg_bool(env, argv[1], &j->flag) < 0)
		return job_fail(env, j);
	return job_start(env, j);
}

/* ---- the plugin registry (docs/plugins.md) ---------------------------------------- */

static napi_value plugin_js(napi_env env, const msb_plugin_info *p)
{
	napi_value o;

	napi_create_object(env, &o);
	set_str(env, o, "name", p->name);
	set_str(env, o, "version", p->version);
	set_str(env, o, "kind", p->kind);
	set_str(env, o, "language", p->language);
	set_str(env, o, "hooks", p->hooks);
	set_str(env, o, "command", p->command);
	set_str(env, o, "description", p->description);
	set_str(env, o, "reference", p->reference);
	set_str(env, o, "digest", p->digest);
	set_str(env, o, "path", p->path);
	set_num(env, o, "size", (double)p->size);
	set_num(env, o, "files", p->files);
	set_num(env, o, "installedAt", (double)p->installed_at);
	set_bool(env, o, "verified", p->verified);
	return o;
}

static napi_value one_plugin(napi_env env, const void *p) { return plugin_js(env, p); }

static napi_value done_plugin(napi_env env, struct job *j)
{
	return plugin_js(env, &j->x.plug);
}

static napi_value done_plugin_list(napi_env env, struct job *j)
{
	return array_of(env, j, sizeof(msb_plugin_info), one_plugin);
}

static int run_plugin_publish(struct job *j)
{
	return msb_plugin_publish(j->s[0], j->s[1], &j->x.plug, &j->err);
}

static int run_plugin_install(struct job *j)
{
	return msb_plugin_install(j->s[0], j->s[1], &j->x.plug, &j->err);
}

static int run_plugin_search(struct job *j)
{
	msb_plugin_info *arr = NULL;
	int r = msb_plugin_search(j->s[0], j->s[1], &arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static int run_plugin_list(struct job *j)
{
	msb_plugin_info *arr = NULL;
	int r = msb_plugin_list(&arr, &j->n, &j->err);

	j->out = arr;
	return r;
}

static int run_plugin_inspect(struct job *j)
{
	return msb_plugin_inspect(j->s[0], &j->x.plug, &j->err);
}

static int run_plugin_remove(struct job *j)
{
	return msb_plugin_remove(j->s[0], &j->err);
}

/* A call taking two strings, either absent (NULL) unless @need says
 * which must be there: (a, b). */
static napi_value two_strings(napi_env env, napi_callback_info info,
			      job_run run, job_done done, const char *what0,
			      const char *what1, int need)
{
	ARGS(2);
	struct job *j = job_new(env, run, done);

	if (!j)
		return NULL;
	if (arg_str(env, argv[0], &j->a, what0, &j->s[0]) < 0 ||
	    arg_str(env, argv[1], &j->a, what1, &j->s[1]) < 0)
		return job_fail(env, j);
	if (need && !j->s[0]) {
		job_free(env, j);
		return throw_msb(env, MSB_E_INVALID, "a %s is needed", what0);
	}
	return job_start(env, j);
}

/* pluginPublish(dir, registry?): what was published. */
static napi_value js_plugin_publish(napi_env env, napi_callback_info info)
{
	return two_strings(env, info, run_plugin_publish, done_plugin,
			   "plugin directory", "plugin registry", 1);
}

/* pluginInstall(what, registry?): what was installed. */
static napi_value js_plugin_install(napi_env env, napi_callback_info info)
{
	return two_strings(env, info, run_plugin_install, done_plugin,
			   "plugin", "plugin registry", 1);
}

/* pluginSearch(registry?, query?): the index's entries that match. */
static napi_value js_plugin_search(napi_env env, napi_callback_info info)
{
	return two_strings(env, info, run_plugin_search, done_plugin_list,
			   "plugin registry", "query", 0);
}

static napi_value js_plugin_list(napi_env env, napi_callback_info info)
{
	struct job *j = job_new(env, run_plugin_list, done_plugin_list);

	return j ? job_start(env, j) : NULL;
}

static napi_value js_plugin_inspect(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_plugin_inspect, done_plugin, "plugin name");
}

static napi_value js_plugin_remove(napi_env env, napi_callback_info info)
{
	return by_name(env, info, run_plugin_remove, NULL, "plugin name");
}

const struct export calls_exports[] = {
	{ "sandboxCreate", js_sandbox_create },
	{ "sandboxStart", js_sandbox_start },
	{ "sandboxParent", js_sandbox_parent },
	{ "sandboxOpen", js_sandbox_open },
	{ "sandboxStop", js_sandbox_stop },
	{ "sandboxRemove", js_sandbox_remove },
	{ "sandboxInfo", js_sandbox_info },
	{ "sandboxList", js_list },
	{ "sandboxInspect", js_inspect },
	{ "sandboxLogsPath", js_logs_path },
	{ "sandboxPorts", js_ports },
	{ "sandboxWait", js_wait },
	{ "sandboxStats", js_stats },
	{ "statsList", js_stats_list },
	{ "execDetach", js_exec_detach },
	{ "snapshotCreate", js_snapshot_create },
	{ "snapshotRestore", js_snapshot_restore },
	{ "snapshotList", js_snapshot_list },
	{ "snapshotInfo", js_snapshot_info },
	{ "snapshotInspect", js_snapshot_inspect },
	{ "snapshotRemove", js_snapshot_remove },
	{ "snapshotRename", js_snapshot_rename },
	{ "snapshotPush", js_snapshot_push },
	{ "snapshotPull", js_snapshot_pull },
	{ "fileStat", js_file_stat },
	{ "fileExists", js_file_exists },
	{ "fileList", js_file_list },
	{ "fileMkdir", js_file_mkdir },
	{ "fileRemove", js_file_remove },
	{ "fileRename", js_file_rename },
	{ "fileSymlink", js_file_symlink },
	{ "fileReadAll", js_file_read_all },
	{ "fileWriteAll", js_file_write_all },
	{ "copyIn", js_copy_in },
	{ "copyOut", js_copy_out },
	{ "imagePull", js_image_pull },
	{ "imageLoad", js_image_load },
	{ "imageList", js_image_list },
	{ "imageRemove", js_image_remove },
	{ "imageInspect", js_image_inspect },
	{ "imageSave", js_image_save },
	{ "imagePrune", js_image_prune },
	{ "registryLogin", js_registry_login },
	{ "registryLogout", js_registry_logout },
	{ "sandboxPush", js_sandbox_push },
	{ "sandboxPull", js_sandbox_pull },
	{ "sandboxStopSync", js_sandbox_stop_sync },
	{ "sandboxSetSync", js_sandbox_set_sync },
	{ "remoteGet", js_remote_get },
	{ "remoteSet", js_remote_set },
	{ "volumeCreate", js_volume_create },
	{ "volumeInfo", js_volume_info },
	{ "volumeInspect", js_volume_inspect },
	{ "volumeList", js_volume_list },
	{ "volumeRemove", js_volume_remove },
	{ "pluginPublish", js_plugin_publish },
	{ "pluginInstall", js_plugin_install },
	{ "pluginSearch", js_plugin_search },
	{ "pluginList", js_plugin_list },
	{ "pluginInspect", js_plugin_inspect },
	{ "pluginRemove", js_plugin_remove },
	{ NULL, NULL },
};
