/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp.c - the supervisor's system calls: an allow-list, and who needs each
 *
 * Theory of operation: once set up (its files opened, its sockets bound,
 * its plugins loaded, the VMM's launcher forked) and before it reads the
 * guest's first byte, the supervisor installs this filter on all its
 * threads (src/supervisor/confine.c). Every system call not listed here
 * traps: the SIGSYS handler below writes one line to the sandbox's log
 * (`msb logs`), naming the call, then the process dies of that SIGSYS.
 * So a forbidden call is seen where the user looks, with no audit daemon
 * needed, and a supervisor that made one is gone (its VM with it: the
 * launcher and QEMU have it as their parent-death signal).
 *
 * Adding a system call: when a change needs one (the log says "forbidden
 * system call NAME"), add it to the table below beside the others of its
 * kind, and say who needs it, as the entries do; a call whose arguments
 * can be narrowed (clone, socket, prctl, ioctl) gets a rule in
 * add_narrowed() instead. Then run the end-to-end tests of that feature:
 * the filter is on in every test run. docs/security.md says the same.
 *
 * glibc's pthread_create tries clone3 first and falls back to clone when
 * the kernel says ENOSYS; clone3 passes its flags in memory, where a
 * filter cannot look, so clone3 answers ENOSYS and clone is allowed only
 * with CLONE_THREAD: threads, never processes.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "confine.h"

struct sc {
	const char *name;
	const char *who;
};

/* Allowed as they come, whatever their arguments. */
static const struct sc allowed[] = {
	/* the event loops: main (main.c), network (src/net/), volumes (fs.c) */
	{ "epoll_create1", "main loop, network stack, each volume's thread" },
	{ "epoll_ctl", "every loop" },
	{ "epoll_wait", "every loop" },
	{ "epoll_pwait", "every loop (glibc may use it for epoll_wait)" },
	{ "eventfd2", "a volume thread's stop eventfd (fs.c)" },
	{ "timerfd_create", "boot and stop deadlines (main.c), stack timers" },
	{ "timerfd_settime", "the same" },
	{ "timerfd_gettime", "the same" },
	{ "signalfd4", "SIGCHLD, SIGTERM... as events (main.c)" },
	{ "read", "every descriptor" },
	{ "write", "every descriptor, the log" },
	{ "readv", "sockets, passthrough reads" },
	{ "writev", "sockets, passthrough writes" },
	{ "close", "every descriptor" },
	{ "close_range", "glibc and libraries closing descriptors" },
	{ "dup", "libraries (OpenSSL BIO, stdio)" },
	{ "dup3", "the same" },
	{ "fcntl", "O_NONBLOCK, close-on-exec, locks (SQLite, passthrough)" },
	{ "poll", "libraries that wait on one descriptor (OpenSSL, curl)" },
	{ "ppoll", "the same" },
	{ "pipe2", "libraries" },

	/* sockets: agent link, API, network stack, vhost-user, launcher */
	{ "socketpair", "each launch: agent, network, volume sockets (AF_UNIX)" },
	{ "bind", "UDP flows and DNS queries of the network stack" },
	{ "listen", "published ports, the API socket (set up before)" },
	{ "accept4", "API clients, published ports" },
	{ "connect", "guest flows to the outside, DNS upstreams" },
	{ "shutdown", "TCP half-closes of guest flows" },
	{ "sendto", "UDP, DNS, ICMP echo, rtnetlink route lookups" },
	{ "recvfrom", "the same" },
	{ "sendmsg", "vhost-user replies, the launcher (descriptors)" },
	{ "recvmsg", "vhost-user messages (guest memory as memfds)" },
	{ "sendmmsg", "UDP" },
	{ "recvmmsg", "UDP" },
	{ "getsockname", "the network stack (flows, published ports)" },
	{ "getpeername", "the network stack" },
	{ "getsockopt", "SO_ERROR of connects, TCP_INFO, SO_MEMINFO" },
	{ "setsockopt", "TCP_NODELAY, SO_REUSEADDR, timeouts, buffer sizes" },

	/* files: passthrough volumes (src/fs/passthrough.c), logs, SQLite */
	{ "openat", "volumes, logs, the state database, CA and trust files" },
	{ "openat2", "passthrough: RESOLVE_BENEATH lookups (no escape)" },
	{ "open", "libraries built for old kernels" },
	{ "creat", "the same" },
	{ "newfstatat", "stat of every kind" },
	{ "fstat", "the same" },
	{ "statx", "the same" },
	{ "stat", "the same" },
	{ "lstat", "the same" },
	{ "lseek", "SQLite, passthrough lseek" },
	{ "pread64", "SQLite, passthrough reads" },
	{ "pwrite64", "SQLite, passthrough writes" },
	{ "preadv", "passthrough reads into guest memory" },
	{ "pwritev", "passthrough writes from guest memory" },
	{ "preadv2", "the same" },
	{ "pwritev2", "the same" },
	{ "fsync", "guest fsync, SQLite" },
	{ "fdatasync", "guest fdatasync, SQLite" },
	{ "syncfs", "guest syncfs" },
	{ "sync_file_range", "libraries" },
	{ "ftruncate", "guest truncate, SQLite" },
	{ "truncate", "the same" },
	{ "fallocate", "guest fallocate" },
	{ "copy_file_range", "guest copy_file_range" },
	{ "getdents64", "guest readdir" },
	{ "mkdirat", "guest mkdir" },
	{ "mkdir", "the same" },
	{ "mknodat", "guest mknod, mkfifo" },
	{ "symlinkat", "guest symlink" },
	{ "linkat", "guest link" },
	{ "unlinkat", "guest unlink, rmdir" },
	{ "unlink", "the same, and the API socket at exit" },
	{ "rmdir", "the same, msb run --rm removing its sandbox" },
	{ "renameat", "guest rename" },
	{ "renameat2", "guest rename with flags" },
	{ "rename", "the same" },
	{ "readlinkat", "guest readlink" },
	{ "readlink", "the same" },
	{ "fchmod", "guest chmod" },
	{ "fchmodat", "the same" },
	{ "chmod", "the same" },
	{ "fchown", "guest chown (ids mapped)" },
	{ "fchownat", "the same" },
	{ "lchown", "the same" },
	{ "chown", "the same" },
	{ "utimensat", "guest utimes" },
	{ "faccessat", "guest access, file checks" },
	{ "faccessat2", "the same" },
	{ "access", "the same" },
	{ "getxattr", "guest xattrs" },
	{ "lgetxattr", "the same" },
	{ "fgetxattr", "the same" },
	{ "setxattr", "the same" },
	{ "lsetxattr", "the same" },
	{ "fsetxattr", "the same" },
	{ "listxattr", "the same" },
	{ "llistxattr", "the same" },
	{ "flistxattr", "the same" },
	{ "removexattr", "the same" },
	{ "lremovexattr", "the same" },
	{ "fremovexattr", "the same" },
	{ "statfs", "guest statfs" },
	{ "fstatfs", "the same" },
	{ "flock", "the sandbox's liveness lock, SQLite" },
	{ "umask", "passthrough creates with the guest's umask" },
	{ "fchdir", "libraries" },
	{ "getcwd", "libraries" },

	/* memory */
	{ "memfd_create", "guest RAM at each launch (engine/qemu.c), which "
			  "a snapshot copies" },
	{ "mmap", "malloc, guest memory of volumes (vhost-user)" },
	{ "munmap", "the same" },
	{ "mremap", "realloc" },
	{ "mprotect", "malloc, thread stacks' guard pages" },
	{ "madvise", "malloc, freed thread stacks" },
	{ "brk", "malloc" },
	{ "mincore", "libraries" },
	{ "mlock", "secret values and the patterns that scrub them out of "
		   "answers, kept out of swap (vault.c, scrub.c: each "
		   "intercepted flow)" },
	{ "munlock", "the same, when a flow ends" },

	/* threads: one per volume (fs.c); the clone rule is below */
	{ "futex", "mutexes, thread joins" },
	{ "set_robust_list", "each new thread (glibc)" },
	{ "get_robust_list", "glibc" },
	{ "rseq", "each new thread (glibc)" },
	{ "set_tid_address", "each new thread" },
	{ "exit", "a thread ending" },
	{ "exit_group", "the supervisor ending" },
	{ "sched_yield", "glibc, SQLite" },
	{ "sched_getaffinity", "glibc: how many CPUs (malloc arenas)" },
	{ "gettid", "glibc, the SIGSYS handler" },
	{ "membarrier", "glibc" },

	/* signals */
	{ "rt_sigaction", "signal setup, the SIGSYS handler" },
	{ "rt_sigprocmask", "signalfd's mask, thread creation" },
	{ "rt_sigreturn", "returning from a handler" },
	{ "sigaltstack", "glibc" },

	/* processes and identity */
	{ "wait4", "reaping the launcher" },
	{ "waitid", "the same" },
	{ "getpid", "logs, the SIGSYS handler" },
	{ "getppid", "libraries" },
	{ "getuid", "volume id mapping (fs.c)" },
	{ "geteuid", "the same, OpenSSL" },
	{ "getgid", "the same" },
	{ "getegid", "the same" },
	{ "getgroups", "libraries" },
	{ "getresuid", "libraries" },
	{ "getresgid", "libraries" },
	{ "prlimit64", "getrlimit (open file limit)" },
	{ "getrlimit", "the same" },
	{ "getrusage", "libraries" },
	{ "uname", "OpenSSL, glibc" },
	{ "sysinfo", "libraries" },
	{ "getrandom", "DNS ids and ports, OpenSSL, hash seeds" },
	{ "setfsuid", "as root, a volume's thread as the directory's owner "
		      "(fs.c; without capabilities only to the saved uid)" },
	{ "setfsgid", "the same" },

	/* time */
	{ "clock_gettime", "every timestamp (when the vDSO is not used)" },
	{ "clock_getres", "libraries" },
	{ "gettimeofday", "the same" },
	{ "time", "the same" },
	{ "nanosleep", "SQLite's busy wait, retries" },
	{ "clock_nanosleep", "the same" },
	{ "restart_syscall", "a sleep interrupted by a signal" },
};

/* Allowed in builds under AddressSanitizer only (make asan): its runtime
 * reads /proc/self/maps and, at exit, LeakSanitizer stops the world with
 * a ptrace-ing task. Never in a normal build. */
#if defined(__SANITIZE_ADDRESS__)
static const struct sc asan_only[] = {
	{ "ptrace", "LeakSanitizer" },
	{ "clone", "LeakSanitizer's tracer task" },
	{ "prctl", "LeakSanitizer" },
	{ "sched_yield", "LeakSanitizer" },
	{ "readlink", "ASan's symbolizer" },
	{ "execve", "ASan's symbolizer (llvm-symbolizer)" },
	{ "fork", "the same" },
	{ "vfork", "the same" },
	{ "pipe", "the same" },
	{ "getdents", "LeakSanitizer" },
};
#endif

/* What the SIGSYS handler needs: the log, and each call's name. The log
 * is opened again at the signal (log.c may have rotated it since); the
 * descriptor opened at install time is for when that fails. */
#define NAMES_MAX 512
static int log_fd = -1;
static char log_path[4096];
static const char *names[NAMES_MAX];

static size_t put(char *b, size_t at, size_t n, const char *s)
{
	while (*s && at < n)
		b[at++] = *s++;
	return at;
}

static size_t put_num(char *b, size_t at, size_t n, long v)
{
	char d[24];
	int k = 0;

	if (v < 0) {
		at = put(b, at, n, "-");
		v = -v;
	}
	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10) && k < (int)sizeof(d));
	while (k && at < n)
		b[at++] = d[--k];
	return at;
}

/* on_sigsys() - async-signal-safe: one line, then death by SIGSYS. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[300];
	size_t n = 0;
	int nr = si->si_syscall, fd;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t s;

	n = put(line, n, sizeof(line),
		"[msb] seccomp: the supervisor made a forbidden system call, ");
	n = put(line, n, sizeof(line),
		nr >= 0 && nr < NAMES_MAX && names[nr] ? names[nr] : "?");
	n = put(line, n, sizeof(line), " (");
	n = put_num(line, n, sizeof(line), nr);
	n = put(line, n, sizeof(line), "), and is killed; "
		"if msb itself made it, report it (docs/security.md)\n");
	fd = open(log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		fd = log_fd;
	if (fd >= 0 && write(fd, line, n) < 0)
		n = 0;
	sigaction(SIGSYS, &dfl, NULL);
	sigemptyset(&s);
	sigaddset(&s, SIGSYS);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(SIGSYS);
	_exit(128 + SIGSYS);
}

static int allow(scmp_filter_ctx f, const char *name, unsigned int *n)
{
	int nr = seccomp_syscall_resolve_name(name);

	/* A name this architecture does not have (open on arm64...). */
	if (nr == __NR_SCMP_ERROR || nr < 0)
		return 0;
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0) < 0)
		return -1;
	(*n)++;
	return 0;
}

/* add_narrowed() - calls allowed with some arguments only. */
static int add_narrowed(scmp_filter_ctx f, unsigned int *n)
{
	static const int domains[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };
	static const int options[] __attribute__((unused)) = {
		PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_SET_DUMPABLE
	};
	static const unsigned long ioctls[] = { FIONREAD, FIONBIO, TCGETS,
						FIOCLEX, FIONCLEX };
	int r = 0;

#if !defined(__SANITIZE_ADDRESS__) /* there, allowed whole (above) */
	/* threads only (each volume's), never a new process */
	r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
				      CLONE_THREAD));
	/* thread names (fs.c), reading dumpability */
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				      SCMP_A0(SCMP_CMP_EQ,
					      (scmp_datum_t)options[i]));
#endif
	/* abort() and raise() (the SIGSYS handler): signals to this
	 * process's own threads only; the supervisor signals no one else */
	r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	/* glibc then uses clone, which the rule above can check */
	r |= seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* the network stack's sockets, the API's, rtnetlink route lookups
	 * (net/policy.c); no raw packets, no other families */
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_EQ,
					      (scmp_datum_t)domains[i]));
	/* pending bytes, non-blocking mode, stdio's tty check */
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_EQ,
					      (scmp_datum_t)ioctls[i]));
	*n += 6;
	return r ? -1 : 0;
}

int sup_seccomp_install(const char *path, char *why, size_t len)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys,
				.sa_flags = SA_SIGINFO };
	scmp_filter_ctx f;
	unsigned int n = 0;
	int r;

	for (int i = 0; i < NAMES_MAX; i++)
		names[i] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
							    i);
	snprintf(log_path, sizeof(log_path), "%s", path);
	log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0644);
	if (log_fd < 0) {
		snprintf(why, len, "%s: %s", log_path, strerror(errno));
		return -errno;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		snprintf(why, len, "SIGSYS handler: %s", strerror(errno));
		return -errno;
	}
	f = seccomp_init(SCMP_ACT_TRAP);
	if (!f) {
		snprintf(why, len, "seccomp_init failed");
		return -ENOMEM;
	}
	/* all threads, and no_new_privs (which Landlock set already) */
	r = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0)
		r = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 1);
	for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]);
	     i++)
		r = allow(f, allowed[i].name, &n);
#if defined(__SANITIZE_ADDRESS__)
	for (size_t i = 0; r == 0 && i < sizeof(asan_only) / sizeof(asan_only[0]);
	     i++)
		r = allow(f, asan_only[i].name, &n);
#endif
	if (r == 0)
		r = add_narrowed(f, &n);
	if (r == 0)
		r = seccomp_load(f);
	seccomp_release(f);
	if (r < 0) {
		snprintf(why, len, "cannot load the seccomp filter: %s",
			 strerror(r < -1 ? -r : EINVAL));
		return r < -1 ? r : -EINVAL;
	}
	return (int)n;
}
