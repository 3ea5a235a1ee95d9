/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox.c - create, start, open, stop and remove sandboxes
 *
 * Theory of operation: a create checks the configuration and the host
 * (check.c), resolves its image (pulling it if need be) and merges the
 * image's config into the record (imagecfg.c), inserts the record, makes
 * the sandbox's directory and upper disk, and starts its supervisor
 * (launch.c), which keeps the record from then on. A start checks the
 * host again and starts a supervisor for the record as it stands; a stop
 * asks the supervisor over its socket; a remove stops by force when told
 * to, then deletes the directory and the record. What records say is read
 * in info.c.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "check.h"
#include "client.h"
#include "engine.h"
#include "image.h"
#include "imagecfg.h"
#include "info.h"
#include "launch.h"
#include "netcfg.h"
#include "plugreg.h"
#include "project.h"
#include "secrets.h"
#include "snapshot.h"
#include "state.h"
#include "tlscfg.h"
#include "util.h"
#include "volumes.h"

#define DEFAULT_IMAGE "default"
#define DEFAULT_CPUS 1
#define DEFAULT_BOOT_TIMEOUT_MS 60000
#define DEFAULT_DISK_MIB 4096

struct msb_sandbox {
	char name[64];
	uint64_t boot_ms;
};

MSB_API void msb_sandbox_config_init(msb_sandbox_config *c)
{
	memset(c, 0, sizeof(*c));
}

MSB_API const char *msb_sandbox_name(const msb_sandbox *sb)
{
	return sb->name;
}

MSB_API uint64_t msb_sandbox_boot_ms(const msb_sandbox *sb)
{
	return sb->boot_ms;
}

MSB_API void msb_sandbox_close(msb_sandbox *sb)
{
	free(sb);
}

static int new_handle(const char *name, uint64_t boot_ms, msb_sandbox **out,
		      msb_error *err)
{
	msb_sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return msb_fail(err, -ENOMEM, "out of memory");
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	sb->boot_ms = boot_ms;
	*out = sb;
	return 0;
}

int msb_run_tool(char *const argv[], msb_error *err)
{
	char out[2048];
	int pfd[2], status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return msb_fail_errno(err, -errno, "pipe");
	pid = fork();
	if (pid < 0)
		return msb_fail_errno(err, -errno, "fork");
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((r = read(pfd[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return msb_fail(err, -EIO, "%s failed: %s", argv[0],
				n ? out : "no output");
	return 0;
}

static int make_upper(const char *dir, uint64_t mib, msb_error *err)
{
	char mke2fs[PATH_MAX], path[PATH_MAX], size[32];

	if (!msb_have_exe("mke2fs", mke2fs, sizeof(mke2fs)))
		return msb_fail(err, -ENOENT,
				"mke2fs not found: install it with 'sudo "
				"apt-get install e2fsprogs'");
	snprintf(path, sizeof(path), "%s/upper.ext4", dir);
	/* A sparse file: only what the guest writes takes host disk. */
	char *argv[] = { mke2fs, "-q", "-F", "-t", "ext4", "-m", "0", "-E",
			 "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
			 path, size, NULL };

	snprintf(size, sizeof(size), "%lluM", (unsigned long long)mib);
	return msb_run_tool(argv, err);
}

/* running_unrecorded() - the error for a name whose directory's lock is
 * held by a supervisor that has no record. */
static int running_unrecorded(const char *name, msb_error *err)
{
	char lock[PATH_MAX];

	msb_lock_path(name, lock, sizeof(lock));
	return msb_fail(err, MSB_E_EXISTS,
			"a sandbox named '%s' is running without a record "
			"(its supervisor holds %s); stop and remove it with "
			"'msb rm -f %s', or choose another --name",
			name, lock, name);
}

MSB_API int msb_sandbox_create(const msb_sandbox_config *c, msb_sandbox **out,
			       msb_error *err)
{
	return msb_sandbox_create_extra(c, NULL, out, err);
}

/* boot_recorded() - boot the sandbox a create just recorded (@sfd: its
 * sealed secrets, closed here; @restore_dir: a snapshot to resume, or
 * NULL) and return its handle. A failed boot leaves the record, marked
 * failed with why and its console log, unless the supervisor never got to
 * it (msb_boot_failed() removes an @ephemeral one). */
static int boot_recorded(sqlite3 *db, const char *name, unsigned timeout,
			 uint64_t t0, json_object *secrets, int sfd,
			 const char *restore_dir, int ephemeral,
			 msb_sandbox **out, msb_error *err)
{
	uint64_t boot_ms = 0;
	struct msb_row now;
	int r;

	r = msb_supervisor_spawn(name, timeout, t0, secrets, sfd, &boot_ms,
				 restore_dir, 1, err);
	if (sfd >= 0)
		close(sfd);
	if (r == 0)
		return new_handle(name, boot_ms, out, err);
	if (msb_db_get(db, name, &now, NULL) == 0) {
		if (!strcmp(now.info.status, "created"))
			msb_db_set_status(db, name, "failed", 0, err->message,
					  NULL);
		msb_row_free(&now);
		if (r == MSB_E_BOOT)
			msb_boot_failed(db, name, ephemeral, err);
	}
	return r;
}

int msb_sandbox_create_extra(const msb_sandbox_config *c, json_object *extra,
			     msb_sandbox **out, msb_error *err)
{
	uint64_t t0 = msb_now_us();
	struct msb_row row = { 0 };
	msb_error local = { 0 };
	const char *image = c->image && *c->image ? c->image : DEFAULT_IMAGE;
	const char *kernel;
	char dir[PATH_MAX], canon[700];
	json_object *cfg, *layers = NULL, *icfg = NULL, *vols = NULL;
	json_object *secrets = NULL;
	sqlite3 *db;
	unsigned timeout, max_disks;
	int r, sfd = -1;

	if (!err)
		err = &local; /* its message is recorded on a failed boot */
	r = msb_sandbox_config_check(c, err);
	if (r < 0)
		return r;
	kernel = c->kernel && *c->kernel ? c->kernel : msb_guest_default();
	/* Every value is read once here, so a missing one stops the create
	 * before anything is made, and again just before the spawn. */
	r = msb_secrets_json(c->secrets, c->nsecrets, &secrets, err);
	if (r == 0 && c->nsecrets)
		r = msb_secrets_net_check(&c->net, err);
	if (r == 0)
		r = msb_secrets_seal(secrets, c->secrets, c->nsecrets, &sfd,
				     err);
	if (sfd >= 0)
		close(sfd);
	sfd = -1;
	if (r < 0) {
		json_object_put(secrets);
		return r;
	}
	r = msb_volumes_json(c->volumes, c->nvolumes, &vols, err);
	if (r < 0) {
		json_object_put(secrets);
		return r;
	}
	/* Layer disks and volumes share the VM's free virtio slots: with
	 * volumes, the image's top layers are merged into fewer disks. */
	if (c->nvolumes >= MSB_ENGINE_SHARED_SLOTS) {
		json_object_put(vols);
		json_object_put(secrets);
		return msb_fail(err, -E2BIG,
				"%zu volumes do not fit: use at most %d "
				"volumes (a sandbox has %d device slots for "
				"its image's layer disks and its volumes, and "
				"the image needs one)",
				c->nvolumes, MSB_ENGINE_SHARED_SLOTS - 1,
				MSB_ENGINE_SHARED_SLOTS);
	}
	max_disks = MSB_ENGINE_SHARED_SLOTS - (unsigned)c->nvolumes;
	if (max_disks > MSB_IMAGE_MAX_DISKS)
		max_disks = MSB_IMAGE_MAX_DISKS;
	r = msb_image_resolve(image, max_disks, &layers, &icfg, canon,
			      sizeof(canon), err);
	if (r == -ENOENT && strcmp(image, DEFAULT_IMAGE)) {
		/* Not here yet: pull it, as 'docker run' does. */
		r = msb_image_pull(image, NULL, NULL, err);
		if (r < 0) {
			/* Often a mistyped tag: say it is not here, and
			 * what is, before why the pull failed. */
			char like[256];

			if (msb_image_similar(image, like, sizeof(like)))
				msb_fail_over(err, r,
					      "no image '%s' here (here: %s), "
					      "and pulling it failed: %s",
					      image, like, err->message);
			else
				msb_fail_over(err, r,
					      "no image '%s' here, and pulling "
					      "it failed: %s",
					      image, err->message);
		}
		if (r == 0)
			r = msb_image_resolve(image, max_disks, &layers, &icfg,
					      canon, sizeof(canon), err);
	}
	if (r == 0)
		r = msb_host_check(NULL, canon, kernel,
				   c->memory_mib ? c->memory_mib :
						   DEFAULT_MEM_MIB,
				   err);
	if (r < 0) {
		json_object_put(layers);
		json_object_put(icfg);
		json_object_put(vols);
		json_object_put(secrets);
		return r;
	}

	timeout = c->boot_timeout_ms;
	if (!timeout && getenv("MSB_BOOT_TIMEOUT"))
		timeout = (unsigned)(msb_strtod(getenv("MSB_BOOT_TIMEOUT"),
					      NULL) * 1000);
	if (!timeout)
		timeout = DEFAULT_BOOT_TIMEOUT_MS;
	cfg = json_object_new_object();
	msb_image_config_apply(cfg, c, icfg, !strcmp(image, DEFAULT_IMAGE));
	json_object_put(icfg);
	json_object_object_add(cfg, "layers", layers);
	json_object_object_add(cfg, "image_ref", json_object_new_string(canon));
	json_object_object_add(cfg, "boot_timeout_ms",
			       json_object_new_int((int)timeout));
	json_object_object_add(cfg, "ephemeral",
			       json_object_new_boolean(c->ephemeral));
	json_object_object_add(cfg, "disk_mib",
			       json_object_new_int64((int64_t)(c->disk_mib ?
					c->disk_mib : DEFAULT_DISK_MIB)));
	json_object_object_add(cfg, "kernel", json_object_new_string(kernel));
	json_object_object_add(cfg, "net", msb_net_config_json(&c->net));
	if (vols)
		json_object_object_add(cfg, "volumes", vols);
	if (secrets) {
		json_object *env;

		/* The guest sees placeholders, after the image's and the
		 * user's variables so they win. */
		json_object_object_get_ex(cfg, "env", &env);
		for (size_t i = 0; i < json_object_array_length(secrets); i++) {
			json_object *o = json_object_array_get_idx(secrets, i),
				    *e, *ph;
			char kv[256];

			json_object_object_get_ex(o, "env", &e);
			json_object_object_get_ex(o, "placeholder", &ph);
			snprintf(kv, sizeof(kv), "%s=%s",
				 json_object_get_string(e),
				 json_object_get_string(ph));
			json_object_array_add(env, json_object_new_string(kv));
		}
		json_object_object_add(cfg, "secrets", secrets);
	}
	if (c->on_secret_violation)
		json_object_object_add(
			cfg, "secret_violation",
			json_object_new_string(c->on_secret_violation));
	r = msb_tls_config_json(c, cfg, err);
	if (r < 0)
		goto out_cfg;
	/* What the caller adds to the record (a project's labels and
	 * restart policy): keys of its own, never ours. */
	if (extra) {
		json_object_object_foreach(extra, k, v)
			if (!json_object_object_get_ex(cfg, k, NULL))
				json_object_object_add(cfg, k,
						       json_object_get(v));
	}
	/* A debugging knob: extra guest kernel parameters. */
	if (getenv("MSB_KERNEL_CMDLINE"))
		json_object_object_add(
			cfg, "kernel_cmdline",
			json_object_new_string(getenv("MSB_KERNEL_CMDLINE")));

	snprintf(row.info.name, sizeof(row.info.name), "%s", c->name);
	{
		struct msb_ref ref;

		if (strcmp(image, DEFAULT_IMAGE) &&
		    msb_ref_parse(canon, &ref, NULL) == 0)
			msb_ref_short(&ref, row.info.image,
				      sizeof(row.info.image));
		else
			snprintf(row.info.image, sizeof(row.info.image), "%s",
				 image);
	}
	snprintf(row.info.status, sizeof(row.info.status), "created");
	row.info.cpus = c->cpus ? c->cpus : DEFAULT_CPUS;
	row.info.memory_mib = c->memory_mib ? c->memory_mib : DEFAULT_MEM_MIB;
	row.info.created_at = msb_wall_s();
	row.config = (char *)json_object_to_json_string_ext(
		cfg, JSON_C_TO_STRING_PLAIN);

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		goto out_cfg;
	r = msb_db_insert(db, &row, err);
	if (r == -EEXIST) {
		struct msb_row old;

		/* One that runs is removed only by force. */
		if (msb_row_get(db, c->name, &old, NULL) == 0) {
			if (msb_status_is_live(old.info.status))
				msb_fail(err, -EEXIST,
					 "a sandbox named '%s' already exists "
					 "and is %s; remove it with 'msb rm -f "
					 "%s' or choose another --name",
					 c->name, old.info.status, c->name);
			msb_row_free(&old);
		}
	}
	if (r < 0)
		goto out_db;
	msb_sandbox_dir(c->name, dir, sizeof(dir));
	/* A leftover directory with no record is debris from a crash,
	 * unless its lock is held: then it is a running sandbox whose
	 * record was lost, and its disk is left alone. */
	if (msb_supervisor_alive(c->name)) {
		r = running_unrecorded(c->name, err);
		msb_db_delete(db, c->name, NULL);
		goto out_db;
	}
	msb_rm_rf(dir);
	r = msb_mkdir_p(dir, 0700);
	if (r < 0) {
		msb_fail_errno(err, r, "cannot create %s", dir);
		goto undo;
	}
	r = make_upper(dir, c->disk_mib ? c->disk_mib : DEFAULT_DISK_MIB, err);
	if (r < 0)
		goto undo;
	r = msb_secrets_seal(secrets, c->secrets, c->nsecrets, &sfd, err);
	if (r < 0)
		goto undo;
	r = boot_recorded(db, c->name, timeout, t0, secrets, sfd, NULL,
			  c->ephemeral, out, err);
	goto out_db;
undo:
	msb_rm_rf(dir);
	msb_db_delete(db, c->name, NULL);
out_db:
	msb_db_close(db);
out_cfg:
	json_object_put(cfg);
	return r;
}

/* boot_timeout_of() - the sandbox's boot timeout, from its record. */
static unsigned boot_timeout_of(const struct msb_row *row)
{
	json_object *cfg = json_tokener_parse(row->config), *t;
	unsigned ms = DEFAULT_BOOT_TIMEOUT_MS;

	if (cfg && json_object_object_get_ex(cfg, "boot_timeout_ms", &t) &&
	    json_object_get_int(t) > 0)
		ms = (unsigned)json_object_get_int(t);
	json_object_put(cfg);
	return ms;
}

/* load_settled() - the record once a boot (or, with @stops, a stop) under
 * way has ended (at most its boot timeout and a margin, polled), or as it
 * is then. */
static int load_settled(const char *name, struct msb_row *row, int stops,
			msb_error *err)
{
	uint64_t end = 0;
	int r;

	for (;;) {
		r = msb_row_load(name, row, err);
		if (r < 0 || !msb_row_settling(row, stops))
			return r;
		if (!end)
			end = msb_now_ms() + boot_timeout_of(row) + 10000;
		if (msb_now_ms() >= end)
			return 0;
		msb_row_free(row);
		usleep(20000);
	}
}

/* peer_secrets_gone() - a peer whose secrets came as values from its
 * parent's vault (docs/spawn.md) cannot boot again: they are kept
 * nowhere. Return: 0, or MSB_E_POLICY saying to start a new peer. */
static int peer_secrets_gone(const char *name, json_object *cfg,
			     json_object *secrets, msb_error *err)
{
	json_object *by, *src;
	size_t n = secrets && json_object_is_type(secrets, json_type_array) ?
			   json_object_array_length(secrets) : 0;

	if (!cfg || !json_object_object_get_ex(cfg, "spawned_by", &by))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (json_object_object_get_ex(json_object_array_get_idx(secrets,
									i),
					      "source", &src) &&
		    !strcmp(json_object_get_string(src), "value"))
			return msb_fail(err, MSB_E_POLICY,
					"'%s' is a peer of '%s' holding "
					"secrets given at its creation, which "
					"are kept nowhere: it cannot be started "
					"again; start a new peer instead ('msb "
					"start NEW --secret-env ...' inside "
					"'%s'), and 'msb rm %s' this one",
					name, json_object_get_string(by),
					json_object_get_string(by), name);
	return 0;
}

MSB_API int msb_sandbox_start(const char *name, msb_sandbox **out,
			      msb_error *err)
{
	uint64_t t0 = msb_now_us(), boot_ms = 0;
	struct msb_row row;
	json_object *cfg, *t, *secrets = NULL;
	unsigned timeout = DEFAULT_BOOT_TIMEOUT_MS;
	int r, sfd = -1;

	/* A boot under way is waited for (then it is already running); a
	 * stop under way too (then it boots again). */
	r = load_settled(name, &row, 1, err);
	if (r < 0)
		return r;
	if (msb_status_is_live(row.info.status)) {
		r = msb_fail(err, -EALREADY, "sandbox '%s' is already %s",
			     name, row.info.status);
		goto out_row;
	}
	cfg = json_tokener_parse(row.config);
	timeout = boot_timeout_of(&row);
	{
		json_object *l = NULL, *legacy = NULL;

		if (!cfg || !json_object_object_get_ex(cfg, "layers", &l))
			l = legacy = msb_image_legacy_layers(row.info.image);
		r = msb_host_check(l, row.info.image,
				   cfg && json_object_object_get_ex(cfg,
								    "kernel",
								    &t) ?
					   json_object_get_string(t) :
					   "cloud",
				   row.info.memory_mib, err);
		json_object_put(legacy);
	}
	if (cfg && !json_object_object_get_ex(cfg, "secrets", &secrets))
		secrets = NULL;
	if (r == 0)
		r = peer_secrets_gone(name, cfg, secrets, err);
	if (r == 0)
		r = msb_secrets_seal(secrets, NULL, 0, &sfd, err);
	if (r == 0)
		r = msb_supervisor_spawn(name, timeout, t0, secrets, sfd,
					 &boot_ms, NULL, 0, err);
	if (sfd >= 0)
		close(sfd);
	if (r == MSB_E_BOOT) {
		sqlite3 *db;

		if (msb_db_open(NULL, &db, NULL) == 0) {
			msb_boot_failed(db, name,
					cfg && json_object_get_boolean(
						       json_object_object_get(
							       cfg,
							       "ephemeral")),
					err);
			msb_db_close(db);
		}
	}
	json_object_put(cfg);
	if (r < 0)
		goto out_row;
	if (r == 0)
		r = new_handle(name, boot_ms, out, err);
out_row:
	msb_row_free(&row);
	return r;
}

/* ready_now() - @name's supervisor is alive and has its guest ready: it
 * keeps its ready file from "running" until it begins to stop, and holds
 * its lock for its whole life (a file left by one killed is stale). */
static int ready_now(const char *name)
{
	char path[PATH_MAX];

	return msb_name_valid(name, NULL) == 0 &&
	       msb_ready_path(name, path, sizeof(path)) == 0 &&
	       access(path, F_OK) == 0 && msb_supervisor_alive(name);
}

MSB_API int msb_sandbox_open(const char *name, msb_sandbox **out,
			     msb_error *err)
{
	struct msb_row row;
	int r;

	/* A running sandbox is opened without the database: reading its
	 * record (loading SQLite, its schema, the WAL's locks) cost an
	 * exec as much CPU as the rest of the CLI's own work. */
	r = msb_home_ready(err);
	if (r < 0)
		return r;
	if (ready_now(name))
		return new_handle(name, 0, out, err);
	/* A sandbox still booting is waited for, as long as its boot may
	 * take. */
	r = load_settled(name, &row, 0, err);

	if (r < 0)
		return r;
	if (!strcmp(row.info.status, "running"))
		r = new_handle(name, 0, out, err);
	else if (!strcmp(row.info.status, "starting") ||
		 !strcmp(row.info.status, "created"))
		r = msb_fail(err, -ENOTCONN,
			     "sandbox '%s' is still starting after its boot "
			     "timeout; see 'msb logs %s'",
			     name, name);
	else if (!strcmp(row.info.status, "stopping"))
		r = msb_fail(err, -ENOTCONN,
			     "sandbox '%s' is stopping: it runs no new "
			     "commands ('msb start %s' boots it again once it "
			     "has stopped)",
			     name, name);
	else if (!strcmp(row.info.status, "failed"))
		r = msb_fail(err, -ENOTCONN,
			     "sandbox '%s' failed (%s); start it again with "
			     "'msb start %s'",
			     name, row.info.error[0] ? row.info.error :
			     "see 'msb logs'", name);
	else
		r = msb_fail(err, -ENOTCONN,
			     "sandbox '%s' is %s; start it with 'msb start %s'",
			     name, row.info.status, name);
	msb_row_free(&row);
	return r;
}

/* stop_by_socket() - ask the supervisor behind NAME's socket to stop;
 * Return: 0 once it has (or has gone), or the error. */
static int stop_by_socket(const char *name, unsigned timeout_s,
			  json_object **res, msb_error *err)
{
	struct msb_conn c;
	json_object *p;
	int r = msb_conn_open(name, &c, err);

	if (r < 0)
		return r;
	p = json_object_new_object();
	json_object_object_add(p, "timeout", json_object_new_int((int)timeout_s));
	r = msb_conn_call(&c, "stop", p, res, (int)(timeout_s * 1000 + 30000),
			  err);
	msb_conn_close(&c);
	/* A supervisor that exits before answering has still done what
	 * was asked. */
	return r == -EPIPE ? 0 : r;
}

static int stop_guest(const char *name, unsigned timeout_s,
		      uint64_t *elapsed_ms, msb_error *err);

MSB_API int msb_sandbox_stop(const char *name, unsigned timeout_s,
			     uint64_t *elapsed_ms, msb_error *err)
{
	return msb_sandbox_stop_sync(name, timeout_s, NULL, NULL, elapsed_ms,
				     err);
}

/* auto_push() - a sandbox made with sync goes to its registry at stop. */
static int auto_push(const char *name, const msb_sync_opts *o,
		     msb_sync_info *pushed, msb_error *err)
{
	struct msb_row row;
	json_object *cfg, *v;
	msb_sync_opts po = { 0 };
	msb_error e = { 0 };
	int want, r;

	if (msb_row_load(name, &row, NULL) < 0)
		return 0;
	cfg = json_tokener_parse(row.config);
	want = cfg && json_object_object_get_ex(cfg, "sync", &v) &&
	       json_object_get_boolean(v);
	json_object_put(cfg);
	msb_row_free(&row);
	if (!want)
		return 0;
	if (o) {
		po.insecure = o->insecure;
		po.progress = o->progress;
		po.ctx = o->ctx;
	}
	r = msb_sandbox_push(name, &po, pushed, &e);
	/* the name says a push was tried, even when it failed */
	if (pushed)
		snprintf(pushed->name, sizeof(pushed->name), "%s", name);
	if (r < 0)
		return msb_fail(err, r,
				"'%s' stopped, but its push failed: %s (push "
				"it with 'msb push %s')",
				name, e.message, name);
	return 0;
}

MSB_API int msb_sandbox_stop_sync(const char *name, unsigned timeout_s,
				  const msb_sync_opts *so,
				  msb_sync_info *pushed, uint64_t *elapsed_ms,
				  msb_error *err)
{
	int r;

	if (pushed)
		memset(pushed, 0, sizeof(*pushed));
	r = stop_guest(name, timeout_s, elapsed_ms, err);
	/* Its peers stop with it, also when it had already stopped by
	 * itself; they stay stopped when it starts again (docs/spawn.md). */
	if (r == 0 || r == -EALREADY)
		msb_peers_stop(name, timeout_s);
	return r < 0 ? r : auto_push(name, so, pushed, err);
}

/* stop_guest() - power the guest off; no push (msb_sandbox_remove()). */
static int stop_guest(const char *name, unsigned timeout_s,
		      uint64_t *elapsed_ms, msb_error *err)
{
	struct msb_row row;
	json_object *res = NULL;
	uint64_t t0 = msb_now_ms();
	unsigned wait_ms = 10000;
	int r, pid;

	r = msb_row_load(name, &row, err);
	if (r < 0)
		return r;
	if (!msb_status_is_live(row.info.status)) {
		r = msb_fail(err, -EALREADY, "sandbox '%s' is not running (%s)",
			     name, row.info.status);
		msb_row_free(&row);
		return r;
	}
	pid = row.info.pid;
	msb_row_free(&row);
	r = stop_by_socket(name, timeout_s, &res, err);
	if (r == MSB_E_NOT_RUNNING && pid > 0 &&
	    msb_supervisor_alive_pid(name, pid)) {
		/* Its directory (socket and lock) was deleted under it: the
		 * process still holding the lock is told directly, and
		 * stops as on any SIGTERM (SIGKILL: at once, its VM with
		 * it). */
		r = kill(pid, timeout_s ? SIGTERM : SIGKILL) < 0 ?
			    msb_fail_errno(err, -errno,
					   "cannot signal the supervisor of '%s'",
					   name) :
			    0;
		wait_ms = timeout_s ? 20000 : 5000;
	}
	if (r < 0 && msb_supervisor_alive_pid(name, pid))
		return r;
	msb_supervisor_wait_gone(name, pid, wait_ms);
	if (elapsed_ms)
		*elapsed_ms = res ? (uint64_t)json_object_get_int64(
					    json_object_object_get(res,
								   "elapsed_ms")) :
				    msb_now_ms() - t0;
	json_object_put(res);
	return 0;
}

/* remove_unrecorded() - NAME has no record, yet its directory's lock is
 * held: a supervisor runs it untracked (its record lost). With @force it
 * is stopped and its directory removed; never is a held one deleted. */
static int remove_unrecorded(const char *name, int force, msb_error *err)
{
	char dir[PATH_MAX], lock[PATH_MAX];
	int r;

	msb_sandbox_dir(name, dir, sizeof(dir));
	msb_lock_path(name, lock, sizeof(lock));
	if (!force)
		return msb_fail(err, MSB_E_BUSY,
				"sandbox '%s' has no record, but a supervisor "
				"still runs it (it holds %s): 'msb rm -f %s' "
				"stops and removes it",
				name, lock, name);
	r = stop_by_socket(name, 0, NULL, err);
	msb_supervisor_wait_gone(name, 0, 10000);
	if (msb_supervisor_alive(name))
		return r < 0 ? r :
			       msb_fail(err, MSB_E_BUSY,
					"sandbox '%s' (no record) is still "
					"running after a forced stop; try again",
					name);
	r = msb_rm_rf(dir);
	return r < 0 ? msb_fail_errno(err, r, "cannot remove %s", dir) : 0;
}

/* wait_created() - a record still "created" belongs to a create under
 * way (until its supervisor, set up, writes "starting" and its pid): it
 * has no process to stop yet, and its supervisor may already hold the
 * lock. Wait, at most the grace a create has, until it has a pid or the
 * create is over; then the remove stops what there is to stop, instead
 * of refusing a supervisor it cannot name, or deleting a directory one
 * is about to boot from. */
static int wait_created(sqlite3 *db, const char *name, struct msb_row *row,
			msb_error *err)
{
	int r;

	while (!strcmp(row->info.status, "created") &&
	       msb_row_settling(row, 0)) {
		msb_row_free(row);
		usleep(20000);
		r = msb_row_get(db, name, row, err);
		if (r < 0)
			return r;
	}
	return 0;
}

MSB_API int msb_sandbox_remove(const char *name, int force, msb_error *err)
{
	struct msb_row row;
	char *cfg = NULL;
	char dir[PATH_MAX];
	sqlite3 *db;
	int r, pid;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_row_get(db, name, &row, err);
	if (r == 0)
		r = wait_created(db, name, &row, err);
	if (r == MSB_E_NOT_FOUND && msb_supervisor_alive(name)) {
		msb_db_close(db);
		return remove_unrecorded(name, force, err);
	}
	if (r < 0)
		goto out;
	pid = row.info.pid;
	if (msb_status_is_live(row.info.status)) {
		if (!force) {
			r = msb_fail(err, -EBUSY,
				     "sandbox '%s' is %s: stop it first, or "
				     "use 'msb rm -f %s'",
				     name, row.info.status, name);
			msb_row_free(&row);
			goto out;
		}
		r = stop_guest(name, 0, NULL, err);
		if (r < 0 && r != -EALREADY) {
			msb_row_free(&row);
			goto out;
		}
	}
	/* kept for the plugins' remove event, once it is gone */
	cfg = row.config;
	row.config = NULL;
	msb_row_free(&row);
	/* Never delete a directory a running supervisor holds. */
	if (msb_supervisor_alive_pid(name, pid)) {
		r = msb_fail(err, -EBUSY,
			     "sandbox '%s' is still running after a forced "
			     "stop; try again",
			     name);
		goto out;
	}
	msb_sandbox_dir(name, dir, sizeof(dir));
	r = msb_rm_rf(dir);
	if (r < 0) {
		msb_fail_errno(err, r, "cannot remove %s", dir);
		goto out;
	}
	/* Opened read-only on a full disk: the space is free now. */
	if (sqlite3_db_readonly(db, "main") == 1) {
		msb_db_close(db);
		r = msb_db_open(NULL, &db, err);
		if (r < 0)
			return r;
	}
	r = msb_db_delete(db, name, err);
	if (r == 0)
		msb_plugins_tell(name, cfg, "remove");
	/* Its peers go with it (docs/spawn.md). */
	if (r == 0)
		msb_peers_remove(name);
out:
	free(cfg);
	msb_db_close(db);
	return r;
}

int msb_sandbox_create_from(const msb_sandbox_info *info, json_object *cfg,
			    const char *backing, const char *restore_dir,
			    msb_sandbox **out, msb_error *err)
{
	uint64_t t0 = msb_now_us();
	struct msb_row row = { 0 };
	char dir[PATH_MAX], overlay[PATH_MAX + 16], tool[PATH_MAX];
	json_object *secrets = NULL, *t, *l;
	unsigned timeout = DEFAULT_BOOT_TIMEOUT_MS;
	sqlite3 *db;
	int r, sfd = -1;

	if (json_object_object_get_ex(cfg, "boot_timeout_ms", &t) &&
	    json_object_get_int(t) > 0)
		timeout = (unsigned)json_object_get_int(t);
	r = msb_host_check(json_object_object_get_ex(cfg, "layers", &l) ? l :
									 NULL,
			   info->image,
			   json_object_object_get_ex(cfg, "kernel", &t) ?
				   json_object_get_string(t) :
				   "cloud",
			   info->memory_mib, err);
	if (r < 0)
		return r;
	if (!msb_have_exe("qemu-img", tool, sizeof(tool)))
		return msb_fail(err, -ENOENT,
				"qemu-img not found: install it with 'sudo "
				"apt-get install qemu-utils'");
	json_object_object_get_ex(cfg, "secrets", &secrets);
	/* The values are read again now, as at every start. */
	r = msb_secrets_seal(secrets, NULL, 0, &sfd, err);
	if (sfd >= 0)
		close(sfd);
	sfd = -1;
	if (r < 0)
		return r;
	json_object_object_add(cfg, "upper", json_object_new_string(
						     "upper.qcow2"));
	row.info = *info;
	snprintf(row.info.status, sizeof(row.info.status), "created");
	row.info.created_at = msb_wall_s();
	row.info.pid = 0;
	row.config = (char *)json_object_to_json_string_ext(
		cfg, JSON_C_TO_STRING_PLAIN);
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_db_insert(db, &row, err);
	if (r < 0)
		goto out_db;
	msb_sandbox_dir(info->name, dir, sizeof(dir));
	msb_rm_rf(dir);
	r = msb_mkdir_p(dir, 0700);
	if (r < 0) {
		msb_fail_errno(err, r, "cannot create %s", dir);
		goto undo;
	}
	/* Copy-on-write: the fork writes its own clusters; every unwritten
	 * one is read from the snapshot's disk, shared by all its forks. */
	snprintf(overlay, sizeof(overlay), "%s/upper.qcow2", dir);
	{
		char *argv[] = { tool, "create", "-q", "-f", "qcow2", "-F",
				 "raw", "-b", (char *)backing, overlay, NULL };

		r = msb_run_tool(argv, err);
	}
	if (r < 0)
		goto undo;
	r = msb_secrets_seal(secrets, NULL, 0, &sfd, err);
	if (r < 0)
		goto undo;
	r = boot_recorded(db, info->name, timeout, t0, secrets, sfd,
			  restore_dir,
			  json_object_get_boolean(
				  json_object_object_get(cfg, "ephemeral")),
			  out, err);
	goto out_db;
undo:
	msb_rm_rf(dir);
	msb_db_delete(db, info->name, NULL);
out_db:
	msb_db_close(db);
	return r;
}
