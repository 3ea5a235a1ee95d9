/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox.c - create, start, stop, remove and list sandboxes
 *
 * No daemon: creating a sandbox starts its supervisor as a detached
 * process (its own session, reparented away from the caller) and waits on a
 * pipe for the word that the guest is ready, or why it is not.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "engine.h"
#include "netcfg.h"
#include "plugreg.h"
#include "volumes.h"
#include "image.h"
#include "secrets.h"
#include "project.h"
#include "snapshot.h"
#include "state.h"
#include "tlscfg.h"
#include "util.h"

#define DEFAULT_IMAGE "default"
#define DEFAULT_CPUS 1
#define DEFAULT_MEM_MIB 512
#define DEFAULT_BOOT_TIMEOUT_MS 60000
#define MAX_CPUS 64
#define DEFAULT_DISK_MIB 4096
#define MIN_DISK_MIB 64
#define MAX_DISK_MIB (1ull << 20) /* 1 TiB */

extern char **environ;

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

/* run_tool() - run a host tool, its output kept for the error message. */
static int run_tool(char *const argv[], msb_error *err)
{
	return msb_run_tool(argv, err);
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
	return run_tool(argv, err);
}

/* host_memory_mib() - the host's RAM, 0 if unknown. */
static uint64_t host_memory_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ?
		       (uint64_t)pages * (uint64_t)size / (1024 * 1024) :
		       0;
}

/* check_memory() - guest RAM is only taken as it is touched, so more than
 * is free may boot; more than the host has cannot (the boot would wait
 * for its timeout, or the OOM killer come later). */
static int check_memory(uint64_t memory_mib, msb_error *err)
{
	uint64_t host = host_memory_mib();
	char want[32], have[32];

	if (!host || memory_mib <= host)
		return 0;
	msb_fmt_mib(memory_mib, want, sizeof(want));
	msb_fmt_mib(host, have, sizeof(have));
	return msb_fail(err, -ENOMEM,
			"cannot give the sandbox %s of memory: this host has "
			"%s in all; ask for less with --memory",
			want, have);
}

/* check_host() - what a boot needs, each missing piece with how to get it:
 * the engine and its accelerator, memory, the kernel, and the sandbox's
 * layer disks (of image @image; NULL: msb_image_resolve() saw to them),
 * each one whole (made again from its blobs if not: msb_layers_ready()). */
static int check_host(json_object *layers, const char *image,
		      const char *kernel, uint64_t memory_mib, msb_error *err)
{
	char p[PATH_MAX], rel[PATH_MAX];
	enum msb_accel accel;
	unsigned tb_mib;
	int r;

	r = msb_engine_find(p, sizeof(p), err);
	if (r < 0)
		return r;
	r = msb_engine_accel_check(&accel, NULL, err);
	if (r < 0)
		return r;
	r = msb_engine_tcg_tb_check(&tb_mib, err);
	if (r < 0)
		return r;
	r = check_memory(memory_mib, err);
	if (r < 0)
		return r;
	r = msb_guest_paths(kernel, p, rel, sizeof(p), NULL, err);
	if (r < 0)
		return r;
	return layers ? msb_layers_ready(NULL, layers, image, err) : 0;
}

/* legacy_layers() - records made before images were pulled name only the
 * built-in image's directory. */
static json_object *legacy_layers(const char *image)
{
	char rel[PATH_MAX], p[PATH_MAX];
	json_object *a = json_object_new_array();

	snprintf(rel, sizeof(rel), "images/%s/layer.erofs", image);
	msb_share_path(rel, p, sizeof(p));
	json_object_array_add(a, json_object_new_string(p));
	return a;
}

static json_object *strv_json(const char *const *v);

/* image_field() - a field of the image config's "config" object, when it
 * has the type wanted. */
static json_object *image_field(json_object *icfg, const char *k,
				json_type t)
{
	json_object *c, *v;

	if (!icfg || !json_object_object_get_ex(icfg, "config", &c) ||
	    !json_object_object_get_ex(c, k, &v) || !json_object_is_type(v, t))
		return NULL;
	if (t == json_type_array)
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!json_object_is_type(json_object_array_get_idx(v, i),
						 json_type_string))
				return NULL;
	return v;
}

static json_object *concat(json_object *a, json_object *b)
{
	json_object *o = json_object_new_array();

	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		json_object_array_add(o, json_object_get(json_object_array_get_idx(a, i)));
	for (size_t i = 0; b && i < json_object_array_length(b); i++)
		json_object_array_add(o, json_object_get(json_object_array_get_idx(b, i)));
	return o;
}

/* apply_image() - the image's Env, WorkingDir, User, Entrypoint and Cmd
 * under what the caller asked for (Docker's rules), into @cfg. */
static void apply_image(json_object *cfg, const msb_sandbox_config *c,
			json_object *icfg, int builtin)
{
	json_object *ienv = image_field(icfg, "Env", json_type_array);
	json_object *uenv = strv_json(c->env), *ep, *cmd, *v;
	const char *wd = NULL, *user = NULL;

	json_object_object_add(cfg, "env", concat(ienv, uenv));
	json_object_put(uenv);
	if (c->workdir)
		wd = c->workdir;
	else if ((v = image_field(icfg, "WorkingDir", json_type_string)) &&
		 json_object_get_string(v)[0] == '/')
		wd = json_object_get_string(v);
	if (wd)
		json_object_object_add(cfg, "workdir", json_object_new_string(wd));
	if (c->user && *c->user)
		user = c->user;
	else if ((v = image_field(icfg, "User", json_type_string)) &&
		 *json_object_get_string(v))
		user = json_object_get_string(v);
	if (user)
		json_object_object_add(cfg, "user", json_object_new_string(user));
	if (c->entrypoint)
		ep = strv_json(c->entrypoint[0] && *c->entrypoint[0] ?
				       c->entrypoint :
				       NULL);
	else
		ep = concat(image_field(icfg, "Entrypoint", json_type_array),
			    NULL);
	/* --entrypoint drops the image's Cmd too, as Docker does. */
	if (builtin) {
		const char *sh[] = { "/bin/sh", NULL };

		cmd = strv_json(sh);
	} else if (c->entrypoint) {
		cmd = json_object_new_array();
	} else {
		cmd = concat(image_field(icfg, "Cmd", json_type_array), NULL);
	}
	json_object_object_add(cfg, "entrypoint", ep);
	json_object_object_add(cfg, "image_cmd", cmd);
	if (c->cmd && c->cmd[0]) {
		json_object *u = strv_json(c->cmd);

		json_object_object_add(cfg, "cmd", concat(ep, u));
		json_object_put(u);
	} else if (c->image_cmd && !builtin &&
		   json_object_array_length(ep) + json_object_array_length(cmd)) {
		json_object_object_add(cfg, "cmd", concat(ep, cmd));
	}
}

static int supervisor_path(char *buf, size_t n)
{
	const char *env = getenv("MSB_SUPERVISOR");

	if (env && *env)
		return snprintf(buf, n, "%s", env) >= (int)n ? -1 : 0;
	return snprintf(buf, n, "%s/libexec/msb/msb-supervisor",
			msb_prefix()) >= (int)n ?
		       -1 :
		       0;
}

/* spawn() - start the supervisor detached and wait for its first word. */
static int spawn(const char *name, unsigned timeout_ms, uint64_t t0_us,
		 json_object *secrets, int secrets_fd, uint64_t *boot_ms,
		 const char *restore_dir, int creating, msb_error *err)
{
	char sup[PATH_MAX], dir[PATH_MAX], log[PATH_MAX], fdarg[16];
	char sfdarg[16] = "4";
	char envbuf[4][PATH_MAX + 32];
	char **envp;
	size_t nenv = 0, k = 0;
	char line[1100];
	size_t len = 0;
	int pfd[2], status, logfd, nullfd;
	pid_t pid;
	uint64_t deadline;

	if (supervisor_path(sup, sizeof(sup)) < 0 || access(sup, X_OK) < 0)
		return msb_fail(err, -ENOENT,
				"msb-supervisor not found at %s: reinstall "
				"msb (./setup) or set MSB_PREFIX",
				sup);
	msb_sandbox_dir(name, dir, sizeof(dir));
	snprintf(log, sizeof(log), "%s/supervisor.log", dir);
	/* Everything the child needs is prepared before fork: the caller may
	 * be multi-threaded, so the child only makes async-signal-safe calls. */
	while (environ[nenv])
		nenv++;
	envp = calloc(nenv + 6, sizeof(char *));
	if (!envp)
		return msb_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "MSB_HOME=", 9) &&
		    strncmp(environ[i], "MSB_PREFIX=", 11) &&
		    strncmp(environ[i], "MSB_T0_US=", 10) &&
		    strncmp(environ[i], "MSB_RESTORE=", 12) &&
		    strncmp(environ[i], "MSB_CREATING=", 13) &&
		    /* a secret's source stays with the caller */
		    !msb_secrets_env_source(secrets, environ[i]))
			envp[k++] = environ[i];
	snprintf(envbuf[0], sizeof(envbuf[0]), "MSB_HOME=%s", msb_home());
	snprintf(envbuf[1], sizeof(envbuf[1]), "MSB_PREFIX=%s", msb_prefix());
	snprintf(envbuf[2], sizeof(envbuf[2]), "MSB_T0_US=%llu",
		 (unsigned long long)(msb_now_us() - t0_us));
	envp[k++] = envbuf[0];
	envp[k++] = envbuf[1];
	envp[k++] = envbuf[2];
	if (restore_dir) {
		snprintf(envbuf[3], sizeof(envbuf[3]), "MSB_RESTORE=%s",
			 restore_dir);
		envp[k++] = envbuf[3];
	}
	/* its first start: the plugins hear of the create */
	if (creating)
		envp[k++] = (char *)"MSB_CREATING=1";
	envp[k] = NULL;

	/* Above the descriptors the child rearranges (3 and 4), so its
	 * dup2() never lands on itself and keeps close-on-exec. */
	if (secrets_fd >= 0) {
		secrets_fd = fcntl(secrets_fd, F_DUPFD_CLOEXEC, 10);
		if (secrets_fd < 0) {
			free(envp);
			return msb_fail_errno(err, -errno, "dup");
		}
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		free(envp);
		if (secrets_fd >= 0)
			close(secrets_fd);
		return msb_fail_errno(err, -errno, "pipe");
	}
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	snprintf(fdarg, sizeof(fdarg), "%d", 3);
	pid = fork();
	if (pid < 0) {
		int e = -errno;

		free(envp);
		if (secrets_fd >= 0)
			close(secrets_fd);
		close(pfd[0]);
		close(pfd[1]);
		if (logfd >= 0)
			close(logfd);
		if (nullfd >= 0)
			close(nullfd);
		return msb_fail_errno(err, e, "fork");
	}
	if (pid == 0) {
		char *argv[] = { sup, (char *)name, fdarg,
				 secrets_fd >= 0 ? sfdarg : NULL, NULL };
		sigset_t none;

		setsid();
		if (fork() != 0)
			_exit(0);
		dup2(nullfd, 0);
		dup2(logfd >= 0 ? logfd : nullfd, 1);
		dup2(logfd >= 0 ? logfd : nullfd, 2);
		dup2(pfd[1], 3); /* dup2 clears close-on-exec */
		if (secrets_fd >= 0)
			dup2(secrets_fd, 4);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execve(sup, argv, envp);
		_exit(127);
	}
	free(envp);
	if (secrets_fd >= 0)
		close(secrets_fd);
	close(pfd[1]);
	if (logfd >= 0)
		close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	waitpid(pid, &status, 0);

	deadline = msb_now_ms() + timeout_ms + 30000;
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		uint64_t now = msb_now_ms();
		ssize_t r;

		if (now >= deadline) {
			close(pfd[0]);
			return msb_fail(err, MSB_E_BOOT,
					"the supervisor of '%s' did not report "
					"in time; see %s",
					name, log);
		}
		int pr = poll(&p, 1, (int)(deadline - now));

		if (pr < 0 && errno != EINTR) {
			close(pfd[0]);
			return msb_fail_errno(err, -errno, "waiting for the supervisor");
		}
		if (pr <= 0)
			continue;
		r = read(pfd[0], line + len, sizeof(line) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(line, '\n', len) || len == sizeof(line) - 1)
			break;
	}
	close(pfd[0]);
	line[len] = '\0';
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	if (!strncmp(line, "ready ", 6)) {
		*boot_ms = strtoull(line + 6, NULL, 10);
		return 0;
	}
	/* A second supervisor for the same sandbox (two starts racing)
	 * finds the lock taken: the sandbox runs, it did not fail. */
	if (!strncmp(line, "error ", 6) && strstr(line, " is already running"))
		return msb_fail(err, MSB_E_ALREADY, "%s", line + 6);
	if (!strncmp(line, "error ", 6))
		return msb_fail(err, MSB_E_BOOT, "%s", line + 6);
	return msb_fail(err, MSB_E_BOOT,
			"the supervisor of '%s' exited without a word; see %s",
			name, log);
}

static json_object *strv_json(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; v && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
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

#define TAIL_LINES 8
#define TAIL_BYTES 16384
#define TAIL_LINE_MAX 160

/* console_tail() - append to @err's message the last lines the guest
 * printed on its console (not msb's own "[msb ...]" lines, which say what
 * the message already says), so a boot that failed says why without
 * 'msb logs', which an ephemeral sandbox no longer has. */
static void console_tail(const char *name, msb_error *err)
{
	char path[PATH_MAX], buf[TAIL_BYTES + 1], add[1024];
	const char *lines[TAIL_LINES];
	size_t lens[TAIL_LINES], nl = 0, used;
	ssize_t n;
	off_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/sandboxes/%s/console.log",
		 msb_home(), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = size < 0 ? -1 :
		       pread(fd, buf, TAIL_BYTES,
			     size > TAIL_BYTES ? size - TAIL_BYTES : 0);
	close(fd);
	if (n < 0)
		return;
	buf[n] = '\0';
	/* Newest first, from the end, whole lines only. */
	for (char *end = buf + n; end > buf && nl < TAIL_LINES;) {
		char *start = end;

		while (start > buf && start[-1] != '\n')
			start--;
		if (start == buf && size > TAIL_BYTES)
			break; /* cut in the middle */
		size_t len = (size_t)(end - start);

		while (len && (start[len - 1] == '\n' || start[len - 1] == '\r' ||
			       start[len - 1] == ' '))
			len--;
		if (len && strncmp(start, "[msb ", 5)) {
			lines[nl] = start;
			lens[nl++] = len;
		}
		end = start > buf ? start - 1 : buf;
	}
	if (!nl) {
		snprintf(add, sizeof(add),
			 " (the guest printed nothing on its console)");
	} else {
		/* A kernel panic's own line says most; its stack trace,
		 * which ends the log, says little. */
		const char *panic = strstr(buf, "Kernel panic");

		used = (size_t)snprintf(add, sizeof(add),
					"; the guest console's last lines:");
		if (panic && panic < lines[nl - 1]) {
			size_t len = strcspn(panic, "\r\n");

			used += (size_t)snprintf(add + used, sizeof(add) - used,
						 "\n  | %.*s\n  | ...",
						 (int)(len > TAIL_LINE_MAX ?
							       TAIL_LINE_MAX :
							       len),
						 panic);
		}
		for (size_t i = nl; i-- > 0 && used < sizeof(add);) {
			size_t len = lens[i] > TAIL_LINE_MAX ? TAIL_LINE_MAX :
							       lens[i];

			used += (size_t)snprintf(add + used, sizeof(add) - used,
						 "\n  | %.*s", (int)len,
						 lines[i]);
		}
	}
	used = strnlen(err->message, sizeof(err->message) - 1);
	snprintf(err->message + used, sizeof(err->message) - used, "%s", add);
}

static void wait_gone(const char *name, int pid, unsigned ms);
static int get_row(sqlite3 *db, const char *name, struct msb_row *row,
		   msb_error *err);

/* boot_failed() - a create or start whose boot failed: the message gets
 * the console's last lines; an ephemeral sandbox (msb run --rm) is removed
 * as Docker's --rm does, any other is kept, failed, and the message says
 * so and how to remove it. */
static void boot_failed(sqlite3 *db, const char *name, int ephemeral,
			msb_error *err)
{
	char dir[PATH_MAX];
	msb_error none = { 0 };
	size_t used;

	if (!err)
		err = &none; /* the caller wants no message: still clean up */
	console_tail(name, err);
	used = strnlen(err->message, sizeof(err->message) - 1);
	if (ephemeral) {
		/* Its supervisor left the record for us (the log is read). */
		wait_gone(name, 0, 10000);
		if (!msb_supervisor_alive(name)) {
			msb_sandbox_dir(name, dir, sizeof(dir));
			msb_rm_rf(dir);
			msb_db_delete(db, name, NULL);
			return;
		}
	}
	snprintf(err->message + used, sizeof(err->message) - used,
		 "\n'%s' is kept, failed: 'msb logs %s' shows its whole log, "
		 "'msb rm %s' removes it",
		 name, name, name);
}

MSB_API int msb_sandbox_create(const msb_sandbox_config *c, msb_sandbox **out,
			       msb_error *err)
{
	return msb_sandbox_create_extra(c, NULL, out, err);
}

int msb_sandbox_create_extra(const msb_sandbox_config *c, json_object *extra,
			     msb_sandbox **out, msb_error *err)
{
	uint64_t t0 = msb_now_us(), boot_ms = 0;
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
	r = msb_name_valid(c->name, err);
	if (r < 0)
		return r;
	if (c->cpus > MAX_CPUS)
		return msb_fail(err, -EINVAL,
				"invalid cpu count %u: at most %d", c->cpus,
				MAX_CPUS);
	if (c->memory_mib && (c->memory_mib < 64 || c->memory_mib > 1048576))
		return msb_fail(err, -EINVAL,
				"invalid memory size %lluM: it must be between "
				"64M and 1024G",
				(unsigned long long)c->memory_mib);
	r = check_memory(c->memory_mib ? c->memory_mib : DEFAULT_MEM_MIB, err);
	if (r < 0)
		return r;
	if (c->disk_mib && (c->disk_mib < MIN_DISK_MIB ||
			    c->disk_mib > MAX_DISK_MIB))
		return msb_fail(err, -EINVAL,
				"invalid disk size %lluM: it must be between "
				"64M and 1024G",
				(unsigned long long)c->disk_mib);
	for (const char *const *v = c->env; v && *v; v++)
		if (!strchr(*v, '=') || **v == '=')
			return msb_fail(err, -EINVAL,
					"invalid environment entry '%s': use "
					"KEY=VALUE",
					*v);
	if (c->workdir && c->workdir[0] != '/')
		return msb_fail(err, -EINVAL,
				"invalid working directory '%s': it must be an "
				"absolute path",
				c->workdir);
	kernel = c->kernel && *c->kernel ? c->kernel : msb_guest_default();
	r = msb_net_config_check(&c->net, err);
	if (r < 0)
		return r;
	if (c->on_secret_violation && strcmp(c->on_secret_violation, "block") &&
	    strcmp(c->on_secret_violation, "log") &&
	    strcmp(c->on_secret_violation, "allow"))
		return msb_fail(err, -EINVAL,
				"invalid on-secret-violation '%s': use block, "
				"log or allow",
				c->on_secret_violation);
	r = msb_tls_config_json(c, NULL, err);
	if (r < 0)
		return r;
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
			char why[sizeof(err->message)], like[256];

			snprintf(why, sizeof(why), "%s", err->message);
			if (msb_image_similar(image, like, sizeof(like)))
				msb_fail(err, r,
					 "no image '%s' here (here: %s), and "
					 "pulling it failed: %s",
					 image, like, why);
			else
				msb_fail(err, r,
					 "no image '%s' here, and pulling it "
					 "failed: %s",
					 image, why);
		}
		if (r == 0)
			r = msb_image_resolve(image, max_disks, &layers, &icfg,
					      canon, sizeof(canon), err);
	}
	if (r == 0)
		r = check_host(NULL, canon, kernel,
			       c->memory_mib ? c->memory_mib : DEFAULT_MEM_MIB,
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
	apply_image(cfg, c, icfg, !strcmp(image, DEFAULT_IMAGE));
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
		if (get_row(db, c->name, &old, NULL) == 0) {
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
	r = spawn(c->name, timeout, t0, secrets, sfd, &boot_ms, NULL, 1, err);
	if (sfd >= 0)
		close(sfd);
	if (r < 0) {
		/* The record stays, marked failed with its console log,
		 * unless the supervisor never got to it. */
		struct msb_row now;

		if (msb_db_get(db, c->name, &now, NULL) == 0) {
			if (!strcmp(now.info.status, "created"))
				msb_db_set_status(db, c->name, "failed", 0,
						  err->message, NULL);
			msb_row_free(&now);
			if (r == MSB_E_BOOT)
				boot_failed(db, c->name, c->ephemeral, err);
		}
		goto out_db;
	}
	r = new_handle(c->name, boot_ms, out, err);
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

static int get_row(sqlite3 *db, const char *name, struct msb_row *row,
		   msb_error *err)
{
	int r = msb_name_valid(name, err);

	if (r < 0)
		return r;
	r = msb_db_get(db, name, row, err);
	if (r < 0)
		return r;
	r = msb_db_reconcile(db, row, err);
	if (r < 0)
		msb_row_free(row);
	return r;
}

/* load_row() - a sandbox's record, reconciled, without keeping the
 * database open. */
static int load_row(const char *name, struct msb_row *row, msb_error *err)
{
	sqlite3 *db;
	int r = msb_db_open(NULL, &db, err);

	if (r < 0)
		return r;
	r = get_row(db, name, row, err);
	msb_db_close(db);
	return r;
}

MSB_API int msb_status_is_live(const char *status)
{
	return !strcmp(status, "starting") || !strcmp(status, "running") ||
	       !strcmp(status, "stopping");
}

/* Long enough for a record's "created" to become "starting": the create
 * makes the disk and spawns the supervisor in between. */
#define CREATED_GRACE_S 60

/* settling() - a state that changes by itself soon: a boot under way
 * (created, starting) or, with @stops, a stop: "stopping", or "stopped"
 * or "failed" while the supervisor that wrote it still holds the lock (it
 * writes its end, then exits; a start in between spawned a supervisor
 * that found the lock taken, took the sandbox for running and was told
 * so, and the old one then left it stopped). */
static int settling(const struct msb_row *row, int stops)
{
	return !strcmp(row->info.status, "starting") ||
	       (stops && !strcmp(row->info.status, "stopping")) ||
	       (!strcmp(row->info.status, "created") &&
		msb_wall_s() - row->info.created_at < CREATED_GRACE_S) ||
	       (stops && !msb_status_is_live(row->info.status) &&
		strcmp(row->info.status, "created") &&
		msb_supervisor_alive(row->info.name));
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
		r = load_row(name, row, err);
		if (r < 0 || !settling(row, stops))
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
	if (cfg && json_object_object_get_ex(cfg, "boot_timeout_ms", &t))
		timeout = (unsigned)json_object_get_int(t);
	{
		json_object *l = NULL, *legacy = NULL;

		if (!cfg || !json_object_object_get_ex(cfg, "layers", &l))
			l = legacy = legacy_layers(row.info.image);
		r = check_host(l, row.info.image,
			       cfg && json_object_object_get_ex(cfg, "kernel",
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
		r = spawn(name, timeout, t0, secrets, sfd, &boot_ms, NULL, 0,
			  err);
	if (sfd >= 0)
		close(sfd);
	if (r == MSB_E_BOOT) {
		sqlite3 *db;

		if (msb_db_open(NULL, &db, NULL) == 0) {
			boot_failed(db, name,
				    cfg && json_object_get_boolean(
						   json_object_object_get(
							   cfg, "ephemeral")),
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
	else
		r = msb_fail(err, -ENOTCONN,
			     "sandbox '%s' is %s; start it with 'msb start %s'",
			     name, row.info.status, name);
	msb_row_free(&row);
	return r;
}

/* Wait for the supervisor (its lock, or process @pid holding it) to go:
 * then the record is final. */
static void wait_gone(const char *name, int pid, unsigned ms)
{
	uint64_t end = msb_now_ms() + ms;

	while (msb_supervisor_alive_pid(name, pid) && msb_now_ms() < end)
		usleep(2000);
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

	if (load_row(name, &row, NULL) < 0)
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

	r = load_row(name, &row, err);
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
	wait_gone(name, pid, wait_ms);
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
	wait_gone(name, 0, 10000);
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

	while (!strcmp(row->info.status, "created") && settling(row, 0)) {
		msb_row_free(row);
		usleep(20000);
		r = get_row(db, name, row, err);
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
	r = get_row(db, name, &row, err);
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

/* info_cmd() - the detached command's state, from the record's runtime,
 * into @row->info. One the record says runs, of a sandbox no longer
 * live, went with its VM (a supervisor killed before it could say). */
static void info_cmd(struct msb_row *row)
{
	json_object *rt = json_tokener_parse(row->runtime), *c, *v;

	row->info.cmd_state = MSB_CMD_NONE;
	row->info.cmd_exit_code = 0;
	if (rt && json_object_is_type(rt, json_type_object) &&
	    json_object_object_get_ex(rt, "command", &c) &&
	    json_object_object_get_ex(c, "status", &v)) {
		if (strcmp(json_object_get_string(v), "running")) {
			row->info.cmd_state = MSB_CMD_ENDED;
			row->info.cmd_exit_code = json_object_get_int(
				json_object_object_get(c, "exit_code"));
		} else if (msb_status_is_live(row->info.status)) {
			row->info.cmd_state = MSB_CMD_RUNNING;
		} else {
			row->info.cmd_state = MSB_CMD_ENDED;
			row->info.cmd_exit_code = 128 + SIGKILL;
		}
	}
	json_object_put(rt);
}

/* row_info() - what msb_list() and msb_sandbox_info_get() give of @row:
 * its info, its detached command's state and the snapshot it came from. */
static void row_info(struct msb_row *row, msb_sandbox_info *out)
{
	json_object *c = json_tokener_parse(row->config), *f;

	info_cmd(row);
	*out = row->info;
	if (c && json_object_object_get_ex(c, "from_snapshot", &f) &&
	    json_object_is_type(f, json_type_string))
		snprintf(out->from_snapshot, sizeof(out->from_snapshot), "%s",
			 json_object_get_string(f));
	json_object_put(c);
}

MSB_API int msb_list(msb_sandbox_info **out, size_t *n, msb_error *err)
{
	struct msb_row *rows;
	msb_sandbox_info *v;
	size_t cnt;
	sqlite3 *db;
	int r;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_db_list(db, &rows, &cnt, err);
	if (r < 0)
		goto out;
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	for (size_t i = 0; i < cnt; i++) {
		msb_db_reconcile(db, &rows[i], NULL);
		if (v)
			row_info(&rows[i], &v[i]);
		msb_row_free(&rows[i]);
	}
	free(rows);
	if (!v) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	*out = v;
	*n = cnt;
out:
	msb_db_close(db);
	return r;
}

MSB_API int msb_sandbox_info_get(const char *name, msb_sandbox_info *out,
				 msb_error *err)
{
	struct msb_row row;
	int r = load_row(name, &row, err);

	if (r == 0) {
		row_info(&row, out);
		msb_row_free(&row);
	}
	return r;
}

MSB_API int msb_sandbox_ports(const char *name, msb_port **ports, size_t *n,
			      msb_error *err)
{
	json_object *rt = NULL, *a;
	struct msb_row row;
	msb_port *v;
	size_t cnt = 0;
	int r;

	*ports = NULL;
	*n = 0;
	r = load_row(name, &row, err);
	if (r < 0)
		return r;
	if (msb_status_is_live(row.info.status))
		rt = json_tokener_parse(row.runtime);
	msb_row_free(&row);
	if (!rt || !json_object_object_get_ex(rt, "ports", &a) ||
	    !json_object_is_type(a, json_type_array) ||
	    !json_object_array_length(a)) {
		json_object_put(rt);
		return 0;
	}
	v = calloc(json_object_array_length(a), sizeof(*v));
	if (!v) {
		json_object_put(rt);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *o = json_object_array_get_idx(a, i);
		const char *ip = json_object_get_string(
			json_object_object_get(o, "host_ip"));

		snprintf(v[cnt].host_ip, sizeof(v[cnt].host_ip), "%s",
			 ip ? ip : "");
		v[cnt].host_port = (uint16_t)json_object_get_int(
			json_object_object_get(o, "host_port"));
		v[cnt].guest_port = (uint16_t)json_object_get_int(
			json_object_object_get(o, "guest_port"));
		cnt++;
	}
	json_object_put(rt);
	*ports = v;
	*n = cnt;
	return 0;
}

MSB_API int msb_sandbox_wait(const char *name, unsigned timeout_ms,
			     int *status, msb_error *err)
{
	uint64_t end = msb_now_ms() + timeout_ms;
	struct msb_row row;
	int r;

	for (;;) {
		r = load_row(name, &row, err);
		if (r < 0)
			return r;
		info_cmd(&row);
		if (row.info.cmd_state == MSB_CMD_ENDED) {
			*status = row.info.cmd_exit_code;
			break;
		}
		if (!msb_status_is_live(row.info.status) && !settling(&row, 1)) {
			if (!strcmp(row.info.status, "failed"))
				r = msb_fail(err, -EIO, "sandbox '%s' failed: %s",
					     name, row.info.error);
			*status = 0;
			break;
		}
		msb_row_free(&row);
		if (timeout_ms && msb_now_ms() >= end)
			return msb_fail(err, -ETIMEDOUT,
					"sandbox '%s' is still running", name);
		usleep(50000);
	}
	msb_row_free(&row);
	return r;
}

/* paused_json() - why a live sandbox's VM is paused (its supervisor's
 * info: a full host disk), or NULL: the record cannot say, since the
 * database may not be written then. */
static json_object *paused_json(const char *name)
{
	struct msb_conn c;
	json_object *res = NULL, *p = NULL;

	if (msb_conn_open(name, &c, NULL) < 0)
		return NULL;
	if (msb_conn_call(&c, "info", NULL, &res, 5000, NULL) == 0 &&
	    json_object_object_get_ex(res, "paused", &p) &&
	    json_object_is_type(p, json_type_object))
		json_object_get(p);
	else
		p = NULL;
	json_object_put(res);
	msb_conn_close(&c);
	return p;
}

MSB_API int msb_inspect_json(const char *name, char **json, msb_error *err)
{
	struct msb_row row;
	json_object *o, *paths;
	char dir[PATH_MAX], p[PATH_MAX + 32];
	int r;

	r = load_row(name, &row, err);
	if (r < 0)
		return r;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(row.info.name));
	json_object_object_add(o, "image",
			       json_object_new_string(row.info.image));
	json_object_object_add(o, "status",
			       json_object_new_string(row.info.status));
	json_object_object_add(o, "paused",
			       msb_status_is_live(row.info.status) ?
				       paused_json(name) :
				       NULL);
	json_object_object_add(o, "cpus", json_object_new_int((int)row.info.cpus));
	json_object_object_add(o, "memory_mib",
			       json_object_new_int64((int64_t)row.info.memory_mib));
	json_object_object_add(o, "pid", json_object_new_int(row.info.pid));
	json_object_object_add(o, "created_at",
			       json_object_new_int64(row.info.created_at));
	json_object_object_add(o, "started_at",
			       json_object_new_int64(row.info.started_at));
	json_object_object_add(o, "stopped_at",
			       json_object_new_int64(row.info.stopped_at));
	json_object_object_add(o, "error",
			       row.info.error[0] ?
				       json_object_new_string(row.info.error) :
				       NULL);
	json_object_object_add(o, "config", json_tokener_parse(row.config));
	{
		json_object *rt = json_tokener_parse(row.runtime);

		/* The VM's pid only while there is one (a supervisor
		 * killed outright could not take it out). */
		if (rt && json_object_is_type(rt, json_type_object) &&
		    !msb_status_is_live(row.info.status)) {
			json_object_object_del(rt, "vm_pid");
			json_object_object_del(rt, "ports");
		}
		json_object_object_add(o, "runtime", rt);
	}
	msb_sandbox_dir(name, dir, sizeof(dir));
	paths = json_object_new_object();
	json_object_object_add(paths, "dir", json_object_new_string(dir));
	snprintf(p, sizeof(p), "%s/console.log", dir);
	json_object_object_add(paths, "log", json_object_new_string(p));
	snprintf(p, sizeof(p), "%s/upper.ext4", dir);
	json_object_object_add(paths, "disk", json_object_new_string(p));
	snprintf(p, sizeof(p), "%s/api.sock", dir);
	json_object_object_add(paths, "api_socket", json_object_new_string(p));
	json_object_object_add(o, "paths", paths);
	*json = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	msb_row_free(&row);
	if (!*json)
		return msb_fail(err, -ENOMEM, "out of memory");
	return 0;
}

MSB_API int msb_sandbox_logs_path(const char *name, char *buf, size_t n,
				  msb_error *err)
{
	struct msb_row row;
	sqlite3 *db;
	int r;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_name_valid(name, err);
	if (r == 0)
		r = msb_db_get(db, name, &row, err);
	msb_db_close(db);
	if (r < 0)
		return r;
	msb_row_free(&row);
	if (snprintf(buf, n, "%s/sandboxes/%s/console.log", msb_home(), name) >=
	    (int)n)
		return msb_fail(err, -ENAMETOOLONG, "path too long");
	return 0;
}

MSB_API int msb_sandbox_command(const char *name, const char *const *cmd,
				char ***argv, msb_error *err)
{
	struct msb_row row;
	json_object *cfg, *ep = NULL, *ic = NULL, *all, *user;
	size_t n, bytes = 0;
	char **v, *p;
	int r;

	r = load_row(name, &row, err);
	if (r < 0)
		return r;
	cfg = json_tokener_parse(row.config);
	msb_row_free(&row);
	if (cfg) {
		json_object_object_get_ex(cfg, "entrypoint", &ep);
		json_object_object_get_ex(cfg, "image_cmd", &ic);
	}
	if (!ic && !ep) {
		const char *sh[] = { "/bin/sh", NULL };

		ic = strv_json(sh);
		json_object_object_add(cfg ? cfg : (cfg = json_object_new_object()),
				       "image_cmd", ic);
	}
	user = strv_json(cmd);
	all = concat(ep, cmd && cmd[0] ? user : ic);
	json_object_put(user);
	n = json_object_array_length(all);
	for (size_t i = 0; i < n; i++)
		bytes += strlen(json_object_get_string(
				 json_object_array_get_idx(all, i))) + 1;
	if (!n) {
		json_object_put(all);
		json_object_put(cfg);
		return msb_fail(err, -EINVAL,
				"the image of '%s' names no command (no "
				"Entrypoint or Cmd): give one after '--'",
				name);
	}
	v = malloc((n + 1) * sizeof(char *) + bytes);
	if (!v) {
		json_object_put(all);
		json_object_put(cfg);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	p = (char *)(v + n + 1);
	for (size_t i = 0; i < n; i++) {
		const char *a = json_object_get_string(
			json_object_array_get_idx(all, i));

		v[i] = p;
		p = stpcpy(p, a) + 1;
	}
	v[n] = NULL;
	*argv = v;
	json_object_put(all);
	json_object_put(cfg);
	return 0;
}

int msb_sandbox_create_from(const msb_sandbox_info *info, json_object *cfg,
			    const char *backing, const char *restore_dir,
			    msb_sandbox **out, msb_error *err)
{
	uint64_t t0 = msb_now_us(), boot_ms = 0;
	struct msb_row row = { 0 };
	char dir[PATH_MAX], overlay[PATH_MAX + 16], tool[PATH_MAX];
	json_object *secrets = NULL, *t, *l;
	unsigned timeout = DEFAULT_BOOT_TIMEOUT_MS;
	sqlite3 *db;
	int r, sfd = -1;

	if (json_object_object_get_ex(cfg, "boot_timeout_ms", &t))
		timeout = (unsigned)json_object_get_int(t);
	r = check_host(json_object_object_get_ex(cfg, "layers", &l) ? l : NULL,
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

		r = run_tool(argv, err);
	}
	if (r < 0)
		goto undo;
	r = msb_secrets_seal(secrets, NULL, 0, &sfd, err);
	if (r < 0)
		goto undo;
	r = spawn(info->name, timeout, t0, secrets, sfd, &boot_ms, restore_dir,
		  1, err);
	if (sfd >= 0)
		close(sfd);
	if (r < 0) {
		struct msb_row now;

		if (msb_db_get(db, info->name, &now, NULL) == 0) {
			if (!strcmp(now.info.status, "created"))
				msb_db_set_status(db, info->name, "failed", 0,
						  err->message, NULL);
			msb_row_free(&now);
			if (r == MSB_E_BOOT)
				boot_failed(db, info->name,
					    json_object_get_boolean(
						    json_object_object_get(
							    cfg, "ephemeral")),
					    err);
		}
		goto out_db;
	}
	r = new_handle(info->name, boot_ms, out, err);
	goto out_db;
undo:
	msb_rm_rf(dir);
	msb_db_delete(db, info->name, NULL);
out_db:
	msb_db_close(db);
	return r;
}
