/* SPDX-License-Identifier: Apache-2.0 */
/* exec.c - start a process for an EXEC request
 *
 * Everything that can be checked in the agent is (user, pty, pipes); what
 * depends on the new process's credentials (cwd, PATH lookup, exec
 * permission) is checked in the child after dropping privileges, and
 * reported on the child's own stderr with shell exit codes: 127 not found,
 * 126 found but not executable, or no such working directory.
 *
 * The child shares the agent's memory until its execve (clone with
 * CLONE_VM, on x86-64): neither the agent's page tables nor a page it
 * writes afterwards are copied (a fork's copy-on-write faults, each
 * emulated under TCG). Not CLONE_VFORK: the agent goes on meanwhile, for
 * a child's chdir or execve can wait on a volume whose server is held up,
 * or on a FUSE daemon in the guest that waits for the agent to drain its
 * output. So the child runs beside the agent in the same memory, and
 *
 * - everything it reads is in its own block (struct spawn: the request,
 *   ids, descriptors, environment and its stack), which the agent never
 *   changes, and frees only once the child is reaped (exec_spawn_free());
 * - it makes system calls only through sys() (inline, no libc): libc's
 *   wrappers set errno, which is the agent's own (the child has no
 *   thread of its own: the same thread pointer), and the agent reads
 *   errno after every call that fails with EAGAIN;
 * - it writes nothing but its stack and its own kernel state
 *   (descriptors, credentials, session, signal dispositions: those are
 *   copied, no CLONE_FILES or CLONE_SIGHAND).
 *
 * Elsewhere it forks, and sys() is syscall(2).
 */

#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "exec.h"
#include "user.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* 1024 streams with three fds each, plus the agent's own. */
#define AGENT_NOFILE 4096

static struct rlimit child_nofile = { 1024, 4096 };
/* /dev/null, opened once, for the stdin of commands that take none */
static int devnull = -1;

#if defined(__x86_64__)
#define SHARED_MEMORY_CHILD 1
/* sys() - a system call, its error as -errno: errno is left alone. */
static long sys(long n, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
#define SHARED_MEMORY_CHILD 0
static long sys(long n, long a, long b, long c, long d)
{
	long r = syscall(n, a, b, c, d);

	return r < 0 ? -errno : r;
}
#endif

void exec_init(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &child_nofile) < 0)
		return;
	rl = child_nofile;
	if (rl.rlim_max < AGENT_NOFILE)
		rl.rlim_max = AGENT_NOFILE;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int env_has(char *const *env, const char *key)
{
	size_t k = strlen(key);

	for (; *env; env++)
		if (!strncmp(*env, key, k) && (*env)[k] == '=')
			return 1;
	return 0;
}

static const char *env_get(char *const *env, const char *key)
{
	size_t k = strlen(key);

	for (; *env; env++)
		if (!strncmp(*env, key, k) && (*env)[k] == '=')
			return *env + k + 1;
	return NULL;
}

/**
 * struct exec_env - the child's environment: the request's plus defaults
 * @v:    NULL-terminated vector
 * @home: "HOME=..." storage
 * @host: "HOSTNAME=..." storage
 */
struct exec_env {
	char **v;
	char home[300];
	char host[80];
};

static int env_build(const struct exec_req *r, const struct user_ids *u,
		     struct exec_env *env)
{
	char name[65] = "";
	size_t n = r->envc;

	env->v = malloc((r->envc + 5) * sizeof(char *));
	if (!env->v)
		return -ENOMEM;
	/* Later entries win (the sandbox's env comes first, the exec's
	 * after it): keep only the last entry of each name. */
	n = 0;
	for (size_t i = 0; i < r->envc; i++) {
		size_t klen = strcspn(r->env[i], "=");
		int later = 0;

		for (size_t j = i + 1; j < r->envc && !later; j++)
			later = !strncmp(r->env[j], r->env[i], klen) &&
				r->env[j][klen] == '=';
		if (!later)
			env->v[n++] = r->env[i];
	}
	env->v[n] = NULL;
	if (!env_has(r->env, "PATH"))
		env->v[n++] = "PATH=" DEFAULT_PATH;
	if (!env_has(r->env, "HOME")) {
		snprintf(env->home, sizeof(env->home), "HOME=%s", u->home);
		env->v[n++] = env->home;
	}
	if (!env_has(r->env, "HOSTNAME")) {
		gethostname(name, sizeof(name) - 1);
		snprintf(env->host, sizeof(env->host), "HOSTNAME=%s", name);
		env->v[n++] = env->host;
	}
	if (r->tty && !env_has(r->env, "TERM"))
		env->v[n++] = "TERM=xterm";
	env->v[n] = NULL;
	return 0;
}

/* child_fail() - report on the child's stderr and exit (vsnprintf
 * neither allocates nor sets errno) */
static void __attribute__((noreturn, format(printf, 2, 3)))
child_fail(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0)
		sys(SYS_write, 2, (long)msg,
		    (size_t)n < sizeof(msg) ? n : (long)sizeof(msg) - 1, 0);
	for (;;)
		sys(SYS_exit_group, code, 0, 0, 0);
}

/* child_exec() - execve() @file, searching PATH like a shell does */
static void __attribute__((noreturn))
child_exec(const char *file, char *const argv[], char *const envp[])
{
	const char *path = env_get(envp, "PATH"), *p, *colon;
	char buf[4096];
	int denied = 0;
	long err;

	if (strchr(file, '/')) {
		err = -sys(SYS_execve, (long)file, (long)argv, (long)envp, 0);
		if (err == ENOENT)
			child_fail(127, "msb: %s: command not found\n", file);
		child_fail(126, "msb: %s: %s\n", file, strerror((int)err));
	}
	for (p = path ? path : DEFAULT_PATH;; p = colon + 1) {
		size_t dl;

		colon = strchr(p, ':');
		dl = colon ? (size_t)(colon - p) : strlen(p);
		/* an empty PATH entry means the current directory */
		if (snprintf(buf, sizeof(buf), "%.*s%s%s", (int)dl, p, dl ? "/" : "",
			     file) < (int)sizeof(buf)) {
			err = -sys(SYS_execve, (long)buf, (long)argv,
				   (long)envp, 0);
			switch (err) {
			case EACCES:
				denied = 1;
				/* fall through */
			case ENOENT:
			case ENOTDIR:
			case ENAMETOOLONG:
			case ELOOP:
				break;
			default:
				child_fail(126, "msb: %s: %s\n", file,
					   strerror((int)err));
			}
		}
		if (!colon)
			break;
	}
	if (denied)
		child_fail(126, "msb: %s: %s\n", file, strerror(EACCES));
	child_fail(127, "msb: %s: command not found\n", file);
}

/**
 * struct exec_fds - both ends of the child's stdio while spawning
 * @in:     stdin pipe, or -1s
 * @out:    stdout pipe
 * @err:    stderr pipe
 * @master: pty master, or -1
 * @slave:  pty slave, or -1
 */
struct exec_fds {
	int in[2], out[2], err[2];
	int master, slave;
};

static void __attribute__((noreturn))
child(const struct exec_req *r, const struct user_ids *u,
      const struct exec_fds *f, char *const envp[])
{
	const char *cwd = r->cwd && *r->cwd ? r->cwd : "/";
	/* the kernel's struct sigaction: SIG_DFL, no flags, empty mask */
	unsigned long dfl[4] = { 0 }, none = 0;
	long err;

	/* execve() resets every handled signal to its default; only an
	 * ignored one stays ignored, and the agent ignores SIGPIPE alone
	 * (main.c). One call, not one per signal: each system call is
	 * emulated under TCG, and this runs at every exec. */
	sys(SYS_rt_sigaction, SIGPIPE, (long)dfl, 0, 8);

	sys(SYS_setsid, 0, 0, 0, 0);
	if (r->tty) {
		sys(SYS_ioctl, f->slave, TIOCSCTTY, 0, 0);
		sys(SYS_dup2, f->slave, 0, 0, 0);
		sys(SYS_dup2, f->slave, 1, 0, 0);
		sys(SYS_dup2, f->slave, 2, 0, 0);
	} else {
		sys(SYS_dup2, f->err[1], 2, 0, 0);
		sys(SYS_dup2, f->out[1], 1, 0, 0);
		if (f->in[0] >= 0)
			sys(SYS_dup2, f->in[0], 0, 0, 0);
		else if (devnull >= 0)
			sys(SYS_dup2, devnull, 0, 0, 0);
		else
			sys(SYS_close, 0, 0, 0, 0);
	}
	/* Everything else the agent holds is O_CLOEXEC. */
	sys(SYS_prlimit64, 0, RLIMIT_NOFILE, (long)&child_nofile, 0);

	if ((err = -sys(SYS_setgroups, u->ngroups, (long)u->groups, 0, 0)) ||
	    (err = -sys(SYS_setgid, u->gid, 0, 0, 0)) ||
	    (err = -sys(SYS_setuid, u->uid, 0, 0, 0)))
		child_fail(126, "msb: cannot switch to user %s: %s\n",
			   r->user ? r->user : "root", strerror((int)err));
	/* 126, as for a command that cannot run (Docker's exec -w too). */
	if ((err = -sys(SYS_chdir, (long)cwd, 0, 0, 0)))
		child_fail(126, "msb: cannot change directory to %s: %s\n", cwd,
			   strerror((int)err));
	sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8);
	child_exec(r->argv[0], r->argv, envp);
}

/* devnull_open() - /dev/null at 3 or above (0 to 2 are the child's to
 * replace), close-on-exec; -1 if it cannot be opened */
static int devnull_open(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), hi;

	if (fd < 0 || fd > 2)
		return fd;
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return hi;
}

static void fds_close(struct exec_fds *f)
{
	int *all[] = { &f->in[0], &f->in[1], &f->out[0], &f->out[1],
		       &f->err[0], &f->err[1], &f->master, &f->slave };
	unsigned int i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

static int open_pty(const struct exec_req *r, struct exec_fds *f,
		    struct agent_err *e)
{
	struct winsize ws = { .ws_row = r->rows, .ws_col = r->cols };
	int unlock = 0;

	f->master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (f->master < 0)
		return agent_fail(e, errno, "open /dev/pts/ptmx");
	if (ioctl(f->master, TIOCSPTLCK, &unlock) < 0)
		return agent_fail(e, errno, "unlock pty");
	/* TIOCGPTPEER (Linux 4.13) opens the slave without a path lookup. */
	f->slave = ioctl(f->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (f->slave < 0)
		return agent_fail(e, errno, "open pty slave");
	if (ws.ws_row && ws.ws_col && ioctl(f->master, TIOCSWINSZ, &ws) < 0)
		return agent_fail(e, errno, "set pty size");
	return 0;
}

static int open_pipes(const struct exec_req *r, struct exec_fds *f,
		      struct agent_err *e)
{
	if (r->want_stdin && pipe2(f->in, O_CLOEXEC) < 0)
		return agent_fail(e, errno, "stdin pipe");
	if (pipe2(f->out, O_CLOEXEC) < 0 || pipe2(f->err, O_CLOEXEC) < 0)
		return agent_fail(e, errno, "output pipe");
	/* The agent's ends never block it; the child's ends stay blocking. */
	if (f->in[1] >= 0)
		fcntl(f->in[1], F_SETFL, O_NONBLOCK);
	fcntl(f->out[0], F_SETFL, O_NONBLOCK);
	fcntl(f->err[0], F_SETFL, O_NONBLOCK);
	return 0;
}

/* The child's stack: child_exec()'s path buffer, child_fail()'s message
 * and vsnprintf's own frames, with room to spare. */
#define CHILD_STACK (32u << 10)
/* Blocks kept for the next execs (their stacks' pages stay mapped). */
#define SPAWN_SPARE 4

/**
 * struct spawn - all a child reads until its execve, and its stack; the
 * agent fills it before the clone and leaves it alone until the child is
 * reaped
 */
struct spawn {
	struct exec_req r;
	struct user_ids u;
	struct exec_fds f;
	struct exec_env env;
	char stack[CHILD_STACK] __attribute__((aligned(16)));
};

static struct spawn *spare[SPAWN_SPARE];
static unsigned int nspare;

static int child_main(void *arg)
{
	struct spawn *s = arg;

	child(&s->r, &s->u, &s->f, s->env.v);
}

void exec_spawn_free(struct spawn *s)
{
	if (!s)
		return;
	exec_req_free(&s->r);
	free(s->env.v);
	s->env.v = NULL;
	if (nspare < SPAWN_SPARE)
		spare[nspare++] = s;
	else
		free(s);
}

int exec_spawn(struct exec_req *r, struct exec_child *c,
	       struct agent_err *e)
{
	struct exec_fds f = { { -1, -1 }, { -1, -1 }, { -1, -1 }, -1, -1 };
	struct spawn *s = nspare ? spare[--nspare] : malloc(sizeof(*s));
	pid_t pid;
	int ret;

	if (!s)
		return agent_fail(e, ENOMEM, "exec");
	/* The request is the block's from here (r keeps nothing to free). */
	s->r = *r;
	r->mem = NULL;
	memset(&s->env, 0, sizeof(s->env));
	ret = user_resolve(s->r.user, &s->u, e);
	if (ret)
		goto fail;
	if (env_build(&s->r, &s->u, &s->env) < 0) {
		ret = agent_fail(e, ENOMEM, "environment");
		goto fail;
	}
	ret = s->r.tty ? open_pty(&s->r, &f, e) : open_pipes(&s->r, &f, e);
	if (ret)
		goto out;
	if (devnull < 0)
		devnull = devnull_open();
	/* From the clone on, s->f is the child's: the agent closes its own
	 * copies (f) and never writes s again until the child is reaped. */
	s->f = f;
#if SHARED_MEMORY_CHILD
	pid = clone(child_main, s->stack + sizeof(s->stack), CLONE_VM | SIGCHLD,
		    s);
#else
	pid = fork();
	if (pid == 0)
		child_main(s);
#endif
	if (pid < 0) {
		ret = agent_fail(e, errno, "clone");
		goto out;
	}
	c->pid = pid;
	c->spawn = s;
	s = NULL;
	if (r->tty) {
		c->out = f.master;
		c->in = c->err = -1;
		f.master = -1;
	} else {
		c->in = f.in[1];
		c->out = f.out[0];
		c->err = f.err[0];
		f.in[1] = f.out[0] = f.err[0] = -1;
	}
out:
	fds_close(&f);
fail:
	exec_spawn_free(s);
	return ret;
}
