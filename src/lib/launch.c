/* SPDX-License-Identifier: Apache-2.0 */
/* launch.c - a sandbox's supervisor started, and its first word awaited
 *
 * Theory of operation: there is no daemon. Creating or starting a sandbox
 * starts its supervisor as a detached process (its own session,
 * reparented away from the caller) and waits on a pipe, the supervisor's
 * descriptor 3, for one line: "ready MS" once the guest is ready, or
 * "error WHY" (msb_supervisor_spawn()). A boot that failed gets the guest
 * console's last lines in its message, and an ephemeral sandbox is removed
 * (msb_boot_failed()). The supervisor holds its sandbox's lock for its
 * whole life: msb_supervisor_wait_gone() waits for it to let go. (The
 * supervisor starts QEMU in turn: src/engine/launcher.c.)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "launch.h"
#include "secrets.h"
#include "state.h"
#include "util.h"

extern char **environ;

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

/* msb_supervisor_spawn() - start the supervisor detached and wait for its
 * first word. */
int msb_supervisor_spawn(const char *name, unsigned timeout_ms,
			 uint64_t t0_us, json_object *secrets, int secrets_fd,
			 uint64_t *boot_ms, const char *restore_dir,
			 int creating, msb_error *err)
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

/* Wait for the supervisor (its lock, or process @pid holding it) to go:
 * then the record is final. */
void msb_supervisor_wait_gone(const char *name, int pid, unsigned ms)
{
	uint64_t end = msb_now_ms() + ms;

	while (msb_supervisor_alive_pid(name, pid) && msb_now_ms() < end)
		usleep(2000);
}

/* msb_boot_failed() - a create or start whose boot failed: the message gets
 * the console's last lines; an ephemeral sandbox (msb run --rm) is removed
 * as Docker's --rm does, any other is kept, failed, and the message says
 * so and how to remove it. */
void msb_boot_failed(sqlite3 *db, const char *name, int ephemeral,
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
		msb_supervisor_wait_gone(name, 0, 10000);
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
