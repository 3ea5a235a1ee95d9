/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.c - the VMM's parent: starts QEMU for a supervisor that may not
 *
 * Theory of operation: the supervisor confines itself before it reads the
 * guest's first byte, and a confined supervisor cannot fork or exec
 * (src/supervisor/seccomp.c). Yet it starts QEMU again when KVM turns out
 * not to work, and later features start more. So before confining itself
 * (and before it holds secrets, since this is a copy of it) it forks this
 * launcher, which keeps exactly what starting the VMM takes and nothing
 * else:
 *
 *   - no descriptor but its socket (and /dev/null);
 *   - as root, the VMM's own unprivileged uid and gid from the start, so
 *     it has no capability and can still kill its child (and the VMMs'
 *     group, MSB_VMM_GID, which snapshots' RAM files have); otherwise the
 *     caller's uid;
 *   - non-dumpable, parent-death signal, no_new_privs;
 *   - the VMM's Landlock rules (vmm_rules below), which QEMU inherits: it
 *     can execute and read /usr (itself, its libraries, its firmware),
 *     read the kernel and initrd it is given, use /dev/kvm, open a
 *     restored VM's RAM file, and write nothing else anywhere; no TCP
 *     bind or connect, no signal or abstract socket out of its domain.
 *
 * The launcher itself may also read /proc, which the VMM may not: each
 * VMM gets the launcher's rules and, on top, a ruleset of its own without
 * /proc, enforced in its process before it executes QEMU. That lets the
 * launcher open the VMM's /proc/PID/stat and statm for the supervisor
 * (its CPU time and memory for `msb stats`), files a confined supervisor
 * could not open itself.
 *
 * It serves a SOCK_SEQPACKET socketpair, one message per packet: SPAWN
 * (argv, and the descriptors as SCM_RIGHTS) is answered with STARTED (the
 * pid and the VMM's /proc/PID/stat and statm, or -errno); KILL kills the
 * VM; EXITED reports its end, as waitpid()
 * saw it. It starts only the VMM binary it was given, and when confining,
 * only with "-sandbox MSB_QEMU_SANDBOX" first and no other -sandbox or
 * -readconfig. When the supervisor goes (its socket closes, or its death
 * signal) the VM is killed with it.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isolation.h"
#include "launcher.h"
#include "util.h"

enum { LN_SPAWN = 1, LN_KILL, LN_STARTED, LN_EXITED, LN_READY };

/* @val: STARTED: 0 or -errno; EXITED: the wait status; READY: 0 or
 * -errno, with a note after the header */
struct ln_hdr {
	uint32_t type;
	int32_t pid;
	int32_t val;
	uint32_t nfds;
};

#define LN_MSG_MAX (sizeof(struct ln_hdr) + 20000)

extern char **environ;

/* The VMM's environment when confined: nothing of the caller's. */
static char *const vmm_env[] = { "PATH=/usr/bin:/bin", NULL };

static int send_msg(int fd, uint32_t type, pid_t pid, int val,
		    const void *body, size_t n, const int *fds,
		    unsigned int nfds)
{
	struct ln_hdr h = { type, pid, val, nfds };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, n } };
	char cbuf[CMSG_SPACE(sizeof(int) * (MSB_VMM_MAX_FDS + 1))];
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n ? 2 : 1 };
	ssize_t w;

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		w = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w < 0 ? -errno : 0;
}

/* recv_msg() - one packet into @buf (@len bytes); its descriptors into
 * @fds (up to MSB_VMM_MAX_FDS + 1, the rest closed).
 * Return: its length, 0 at EOF, or -errno. */
static ssize_t recv_msg(int fd, void *buf, size_t len, int *fds,
			unsigned int *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * (MSB_VMM_MAX_FDS + 1))];
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (c = CMSG_FIRSTHDR(&m); n >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int x;

			memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(x));
			if (*nfds < MSB_VMM_MAX_FDS + 1)
				fds[(*nfds)++] = x;
			else
				close(x);
		}
	}
	if (n < 0)
		return -errno;
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return n;
}

/* ---- the launcher process ------------------------------------------------ */

/* The Landlock rulesets, made while their paths can be opened: the
 * launcher's, enforced once it is set up, and the VMM's own, enforced on
 * top of it in each VMM's process before it executes (-1: none). */
static int self_ruleset = -1, vmm_ruleset = -1;

/* vmm_landlock() - what QEMU may reach by path, and the launcher with it
 * (the last rule, /proc, is the launcher's alone), as the two rulesets
 * above. Add a rule here (with who needs it) when the VMM must open
 * something new by path (and, for root's VMMs, to vmmroot.c); prefer
 * handing it a descriptor (see qemu.c). QEMU's probes of /proc
 * (filesystems, mounts, stat, self/status) and of its working directory
 * are refused and it does without them.
 * Return: the kernel's ABI, 0 without Landlock, or -errno. */
static int vmm_landlock(const char *qemu, const struct msb_vm_spec *s,
			char *why, size_t n)
{
	const struct msb_ll_rule rules[] = {
		{ "/usr", MSB_LL_EXEC, 0,
		  "QEMU, its libraries and firmware (/usr/share/qemu)" },
		{ "/lib", MSB_LL_EXEC, 1, "libraries (without merged /usr)" },
		{ "/lib64", MSB_LL_EXEC, 1, "the dynamic loader" },
		{ "/etc/ld.so.cache", MSB_LL_READ, 1, "the dynamic loader" },
		{ qemu, MSB_LL_EXEC, 0, "the VMM ($MSB_QEMU may be elsewhere)" },
		{ s->kernel, MSB_LL_READ, 0,
		  "-kernel, opened as /proc/self/fd/N" },
		{ s->initrd, MSB_LL_READ, 0, "-initrd, likewise" },
		/* QEMU 7.2 opens it read-write, and maps it private */
		{ s->restore_ram, MSB_LL_RW, 0, "a restored VM's RAM file" },
		{ "/dev/kvm", MSB_LL_DEV, 1, "-accel kvm" },
		{ "/dev/null", MSB_LL_DEV, 1, "disks: probing for OFD locks" },
		{ "/dev/urandom", MSB_LL_READ, 1, "glib's random numbers" },
		{ "/sys/devices/system/cpu", MSB_LL_READ, 1,
		  "host CPUs (thread pools)" },
		{ "/sys/devices/system/node", MSB_LL_READ, 1, "NUMA nodes" },
		/* last: the launcher's only */
		{ "/proc", MSB_LL_READ, 0,
		  "the launcher: the VMM's /proc/PID/stat and statm, opened "
		  "for the supervisor's stats" },
	};
	const size_t nr = sizeof(rules) / sizeof(rules[0]);
	const unsigned int flags = MSB_LL_NO_TCP | MSB_LL_SCOPE;
	int abi, r;

	r = msb_landlock_make(rules, nr - 1, flags, &abi, why, n);
	if (r == -ENOSYS && abi <= 0)
		return 0;
	if (r < 0)
		return r;
	vmm_ruleset = r;
	r = msb_landlock_make(rules, nr, flags, &abi, why, n);
	if (r < 0)
		return r;
	self_ruleset = r;
	return abi;
}

/* argv_allowed() - the VMM, confined by its own seccomp filter. */
static int argv_allowed(char *const *argv, const char *qemu, int confine)
{
	if (!argv[0] || strcmp(argv[0], qemu))
		return 0;
	if (!confine)
		return 1;
	if (!argv[1] || !argv[2] || strcmp(argv[1], "-sandbox") ||
	    strcmp(argv[2], MSB_QEMU_SANDBOX))
		return 0;
	for (int i = 3; argv[i]; i++)
		if (!strcmp(argv[i], "-sandbox") ||
		    !strcmp(argv[i], "--sandbox") ||
		    !strcmp(argv[i], "-readconfig") ||
		    !strcmp(argv[i], "--readconfig"))
			return 0;
	return 1;
}

/* The VMM binary, opened before the uid changes (as root, the VMM's uid
 * may not traverse to it: $MSB_QEMU in a private directory). Not
 * close-on-exec: a script's interpreter reads it as /dev/fd/N. */
static int vmm_fd = -1;

/* restored() - does @argv restore a snapshot ("-incoming")? */
static int restored(char *const *argv)
{
	for (int i = 0; argv[i]; i++)
		if (!strcmp(argv[i], "-incoming"))
			return 1;
	return 0;
}

/* A restored VM's RAM is a private mapping of the snapshot's file, and
 * QEMU 7.2 answers the guest's free page reports (the balloon, qemu.c)
 * by punching the pages out of that file, whatever the mapping, which
 * would change the snapshot under every other copy restored from it;
 * the madvise(MADV_DONTNEED) it makes after a punch is what gives the
 * memory back. So a restoring VMM's fallocate(2) calls come to the
 * launcher (a seccomp user notification): on the RAM file it answers
 * "done" without doing it, QEMU drops its private copies of the pages
 * and they read as the snapshot's again; any other file (its disks)
 * goes ahead. A kernel without user notifications (before 5.0) gets the
 * filter below it: fallocate fails with EOPNOTSUPP, QEMU logs the
 * failed discard and keeps the pages, and its disks take EOPNOTSUPP as
 * "no discard" (and write zeroes by writing them). */

/* The restoring VM's RAM file, and the listener of its fallocate(2)
 * calls (-1: none). */
static struct {
	dev_t dev;
	ino_t ino;
	int listener;
} ram = { 0, 0, -1 };

/* ram_file() - the restored VM's RAM file, by @argv's mem-path, among the
 * descriptors it is given (@fds[i] becomes the VMM's MSB_VMM_FIRST_FD +
 * i - 1): into @ram. Return: 0, or -EPROTO (no such descriptor). */
static int ram_file(char *const *argv, const int *fds, unsigned int nfds)
{
	static const char key[] = "mem-path=/proc/self/fd/";
	struct stat st;

	for (int i = 0; argv[i]; i++) {
		const char *p = strstr(argv[i], key);
		char *end;
		long n;

		if (strncmp(argv[i], "memory-backend-file,", 20) || !p)
			continue;
		n = strtol(p + sizeof(key) - 1, &end, 10);
		if (end == p + sizeof(key) - 1 || (*end && *end != ',') ||
		    n < MSB_VMM_FIRST_FD ||
		    n - MSB_VMM_FIRST_FD + 1 >= (long)nfds ||
		    fstat(fds[n - MSB_VMM_FIRST_FD + 1], &st) < 0)
			return -EPROTO;
		ram.dev = st.st_dev;
		ram.ino = st.st_ino;
		return 0;
	}
	return -EPROTO;
}

/* on_fallocate() - a restoring VMM's fallocate(2), told by its filter:
 * on the RAM file "done", undone; on any other file, let it run. If the
 * file cannot be told, it fails (EOPNOTSUPP), as without the listener. */
static void on_fallocate(void)
{
	struct seccomp_notif_sizes sz;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	char p[64];
	struct stat st;
	int other = 0, mine = 0;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0)
		return;
	req = calloc(1, sz.seccomp_notif);
	resp = calloc(1, sz.seccomp_notif_resp);
	if (!req || !resp ||
	    ioctl(ram.listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
		goto out;
	snprintf(p, sizeof(p), "/proc/%u/fd/%llu", req->pid,
		 (unsigned long long)req->data.args[0]);
	if (req->data.nr == __NR_fallocate && stat(p, &st) == 0) {
		mine = st.st_dev == ram.dev && st.st_ino == ram.ino;
		other = !mine;
	}
	/* still that call, so the pid was still its caller's */
	if (ioctl(ram.listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0)
		goto out;
	resp->id = req->id;
	if (other)
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (!mine)
		resp->error = -EOPNOTSUPP;
	if (ioctl(ram.listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 &&
	    errno == EINVAL && other) {
		/* (before Linux 5.5, no CONTINUE) */
		resp->flags = 0;
		resp->error = -EOPNOTSUPP;
		(void)ioctl(ram.listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
	}
out:
	free(req);
	free(resp);
}

/* fallocate_filter() - install the filter above in this process and what
 * it executes, @action for fallocate(2), with @flags. Return: what
 * seccomp(2) returns (a listener's descriptor with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER), -1 on error. */
static int fallocate_filter(uint32_t action, unsigned int flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fallocate, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* watch_fallocate() - in a restoring VMM's process: the filter, and its
 * listener sent to the launcher over @chan (nothing sent: the kernel has
 * no user notifications, and fallocate fails instead). Return: 0, -1. */
static int watch_fallocate(int chan)
{
	int l = fallocate_filter(SECCOMP_RET_USER_NOTIF,
				 SECCOMP_FILTER_FLAG_NEW_LISTENER), r;

	if (l < 0)
		return fallocate_filter(SECCOMP_RET_ERRNO | EOPNOTSUPP, 0) < 0 ?
			       -1 : 0;
	r = send_msg(chan, LN_READY, 0, 0, NULL, 0, &l, 1);
	close(l);
	return r < 0 ? -1 : 0;
}

/* vmm_exec() - in the VMM's process: descriptors in place, then exec. */
static void vmm_exec(pid_t launcher, const char *qemu, char *const *argv,
		     const int *fds, unsigned int nfds, int confine, int chan)
{
	int high = MSB_VMM_FIRST_FD + (int)nfds;
	int moved[MSB_VMM_MAX_FDS + 1];
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != launcher)
		_exit(127);
	/* First, while @chan is open: nothing below calls fallocate. */
	if (chan >= 0 && watch_fallocate(chan) < 0) {
		dprintf(fds[0], "seccomp: %s\n", strerror(errno));
		_exit(127);
	}
	if (chan >= 0)
		close(chan);
	/* The VMM's own rules, on top of the launcher's: no /proc. */
	if (vmm_ruleset >= 0 && msb_landlock_enforce(vmm_ruleset) < 0)
		_exit(127);
	/* Above every target first, so that no dup2 lands on a source;
	 * the binary's descriptor first of all, so that it ends at high. */
	int exe = fcntl(vmm_fd, F_DUPFD, high);

	if (exe < 0)
		_exit(127);
	for (unsigned int i = 0; i < nfds; i++) {
		moved[i] = fcntl(fds[i], F_DUPFD, high);
		if (moved[i] < 0)
			_exit(127);
	}
	dup2(moved[0], 1);
	dup2(moved[0], 2);
	for (unsigned int i = 1; i < nfds; i++)
		if (dup2(moved[i], MSB_VMM_FIRST_FD + (int)i - 1) < 0)
			_exit(127);
	/* The binary's descriptor goes just past the others. */
	if (exe != high && dup2(exe, high) < 0)
		_exit(127);
	close_range((unsigned int)(MSB_VMM_FIRST_FD + (int)nfds - 1),
		    (unsigned int)high - 1, 0);
	close_range((unsigned int)high + 1, ~0u, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	syscall(SYS_execveat, high, "", argv, confine ? vmm_env : environ,
		AT_EMPTY_PATH);
	dprintf(2, "exec %s: %s\n", qemu, strerror(errno));
	_exit(127);
}

/* on_spawn() - a SPAWN packet: @buf holds the header and argv. */
static void on_spawn(int link, const char *qemu, int confine, char *buf,
		     size_t n, int *fds, unsigned int nfds, pid_t *vm)
{
	char *argv[200];
	size_t argc = 0, off = sizeof(struct ln_hdr);
	pid_t self = getpid(), pid;
	int r = 0, usage[2] = { -1, -1 }, chan[2] = { -1, -1 };
	unsigned int nusage = 0;

	while (off < n && argc < sizeof(argv) / sizeof(argv[0]) - 1) {
		char *end = memchr(buf + off, '\0', n - off);

		if (!end)
			break;
		argv[argc++] = buf + off;
		off = (size_t)(end - buf) + 1;
	}
	argv[argc] = NULL;
	if (off != n || !nfds)
		r = -EPROTO;
	else if (*vm > 0)
		r = -EBUSY;
	else if (!argv_allowed(argv, qemu, confine))
		r = -EPERM;
	if (r == 0 && restored(argv)) {
		r = ram_file(argv, fds, nfds);
		if (r == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
					 0, chan) < 0)
			r = -errno;
	}
	if (r == 0) {
		pid = fork();
		if (pid == 0)
			vmm_exec(self, qemu, argv, fds, nfds, confine, chan[1]);
		if (pid < 0)
			r = -errno;
		else
			*vm = pid;
	}
	if (chan[1] >= 0)
		close(chan[1]);
	if (chan[0] >= 0) {
		/* its fallocate(2) listener, sent before it executes QEMU
		 * (none: the kernel has none, or it failed) */
		struct ln_hdr h;
		int got[MSB_VMM_MAX_FDS + 1];
		unsigned int ngot = 0;

		if (r == 0 && recv_msg(chan[0], &h, sizeof(h), got, &ngot) > 0 &&
		    ngot == 1)
			ram.listener = got[0];
		else
			for (unsigned int i = 0; i < ngot; i++)
				close(got[i]);
		close(chan[0]);
	}
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	/* Its CPU time and memory, for the supervisor (not yet reaped,
	 * so the pid is still its own). */
	if (r == 0) {
		char p[64];

		snprintf(p, sizeof(p), "/proc/%d/stat", (int)*vm);
		usage[nusage] = open(p, O_RDONLY | O_CLOEXEC);
		nusage += usage[nusage] >= 0;
		snprintf(p, sizeof(p), "/proc/%d/statm", (int)*vm);
		usage[nusage] = open(p, O_RDONLY | O_CLOEXEC);
		nusage += usage[nusage] >= 0;
		if (nusage < 2) {
			if (nusage)
				close(usage[0]);
			nusage = 0;
		}
	}
	send_msg(link, LN_STARTED, r ? 0 : *vm, r, NULL, 0, usage, nusage);
	for (unsigned int i = 0; i < nusage; i++)
		close(usage[i]);
}

/* drop_to() - as root, the VMM's own uid and gid (and /dev/kvm's group):
 * no capability survives the change of uid. */
static int drop_to(const struct msb_vmm_jail *j)
{
	/* the VMMs' group (snapshots' RAM files), /dev/kvm's */
	gid_t groups[2] = { MSB_VMM_GID, j->kvm_gid };

	if (geteuid() != 0 || !j->confine)
		return 0;
	if (msb_caps_drop_bounding() < 0 ||
	    setgroups(j->kvm_gid == (gid_t)-1 ? 1 : 2, groups) < 0 ||
	    setresgid(j->gid, j->gid, j->gid) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		return -errno;
	return 0;
}

static void launcher_main(int link, pid_t parent, const char *qemu,
			  const struct msb_vm_spec *spec,
			  const struct msb_vmm_jail *j)
{
	static char buf[LN_MSG_MAX];
	char note[256] = "";
	int fds[MSB_VMM_MAX_FDS + 1], null, sfd, r = 0;
	unsigned int nfds;
	pid_t vm = 0;
	sigset_t chld;

	/* Nothing of the supervisor's: the link at 3, /dev/null at 0-2. */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(null, 2) < 0 || dup3(link, 3, O_CLOEXEC) < 0)
		_exit(127);
	link = 3;
	close_range(4, ~0u, 0);
	vmm_fd = open(qemu, O_RDONLY);
	if (vmm_fd < 0)
		snprintf(note, sizeof(note), "cannot open %s: %s", qemu,
			 strerror(errno));
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
			signal(s, s == SIGPIPE ? SIG_IGN : SIG_DFL);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	/* Landlock's rules are made while the paths can still be opened
	 * (as root, the VMM's uid may not traverse to them, and its root
	 * holds none of them); as root the VMM's own root comes next, then
	 * Landlock (which forbids mounts), then the uid change. */
	if (vmm_fd < 0)
		r = -EACCES;
	if (r == 0 && j->confine) {
		char why[200];
		int abi = vmm_landlock(qemu, spec, why, sizeof(why));

		if (abi < 0)
			r = abi;
		if (abi > 0)
			snprintf(note, sizeof(note), "Landlock ABI %d%s%s", abi,
				 why[0] ? "; " : "", why);
		else
			snprintf(note, sizeof(note), "%s%s",
				 abi < 0 ? "Landlock failed: " : "no Landlock: ",
				 why);
		if (r == 0 && geteuid() == 0) {
			size_t l = strlen(note);

			r = msb_vmm_root(why, sizeof(why));
			snprintf(note + l, sizeof(note) - l, "; %s",
				 r ? why : "a root of its own");
			if (r > 0)
				r = 0;
		}
		if (r == 0 && self_ruleset >= 0) {
			r = msb_landlock_enforce(self_ruleset);
			if (r < 0)
				snprintf(note, sizeof(note),
					 "landlock_restrict_self: %s",
					 strerror(-r));
		}
		if (self_ruleset >= 0)
			close(self_ruleset);
		self_ruleset = -1;
		if (r == 0)
			r = msb_no_new_privs();
	}
	if (r == 0) {
		r = drop_to(j);
		if (r < 0)
			snprintf(note, sizeof(note), "cannot take uid %u: %s",
				 (unsigned)j->uid, strerror(-r));
	}
	/* After the uid change, which clears it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_DUMPABLE, 0);
	send_msg(link, LN_READY, getpid(), r, note, strlen(note) + 1, NULL, 0);
	if (r < 0 || sfd < 0)
		_exit(1);

	for (;;) {
		struct pollfd p[3] = { { link, POLLIN, 0 }, { sfd, POLLIN, 0 },
				       { ram.listener, POLLIN, 0 } };
		struct signalfd_siginfo si;
		ssize_t n;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[2].revents & POLLIN)
			on_fallocate();
		else if (p[2].revents) {
			/* its VMM is gone (and reaped below) */
			close(ram.listener);
			ram.listener = -1;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
		for (;;) {
			int st;
			pid_t w = waitpid(-1, &st, WNOHANG);

			if (w <= 0)
				break;
			if (w == vm) {
				vm = 0;
				if (ram.listener >= 0)
					close(ram.listener);
				ram.listener = -1;
				send_msg(link, LN_EXITED, w, st, NULL, 0, NULL,
					 0);
			}
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv_msg(link, buf, LN_MSG_MAX, fds, &nfds);
		if (n <= 0 && n != -EMSGSIZE)
			break;
		if (n < (ssize_t)sizeof(struct ln_hdr)) {
			for (unsigned int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		switch (((struct ln_hdr *)buf)->type) {
		case LN_SPAWN:
			on_spawn(link, qemu, j->confine, buf, (size_t)n, fds,
				 nfds, &vm);
			break;
		case LN_KILL:
			if (vm > 0)
				kill(vm, SIGKILL);
			/* fall through */
		default:
			for (unsigned int i = 0; i < nfds; i++)
				close(fds[i]);
		}
	}
	/* The supervisor is gone: so is its VM. */
	if (vm > 0)
		kill(vm, SIGKILL);
	_exit(0);
}

/* ---- the supervisor's side ----------------------------------------------- */

int msb_launcher_start(struct msb_vm *vm, const char *qemu,
		       const struct msb_vm_spec *spec,
		       const struct msb_vmm_jail *j, msb_error *err)
{
	static char buf[LN_MSG_MAX];
	pid_t parent = getpid(), pid;
	int sv[2], fds[MSB_VMM_MAX_FDS + 1];
	unsigned int nfds;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return msb_fail_errno(err, -errno, "launcher socket");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return msb_fail_errno(err, -errno, "fork");
	}
	if (pid == 0) {
		close(sv[0]);
		launcher_main(sv[1], parent, qemu, spec, j);
	}
	close(sv[1]);
	vm->launcher = pid;
	vm->link = sv[0];
	vm->usage_fd[0] = vm->usage_fd[1] = -1;
	n = recv_msg(vm->link, buf, LN_MSG_MAX, fds, &nfds);
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n >= (ssize_t)sizeof(struct ln_hdr) &&
	    ((struct ln_hdr *)buf)->type == LN_READY) {
		const struct ln_hdr *h = (const struct ln_hdr *)buf;

		buf[n - 1] = '\0';
		snprintf(vm->note, sizeof(vm->note), "%s",
			 buf + sizeof(*h));
		if (h->val == 0)
			return 0;
		msb_fail(err, h->val, "cannot confine the VMM: %s", vm->note);
	} else {
		msb_fail(err, -EPROTO, "the VMM's launcher did not start");
	}
	msb_engine_release(vm);
	return err->code;
}

int msb_launcher_spawn(struct msb_vm *vm, char *const *argv, int logfd,
		       const int *fds, unsigned int nfds, int usage[2],
		       msb_error *err)
{
	static char buf[LN_MSG_MAX];
	int all[MSB_VMM_MAX_FDS + 1], got[MSB_VMM_MAX_FDS + 1];
	size_t len = 0;
	unsigned int ngot;
	int r;

	if (nfds > MSB_VMM_MAX_FDS)
		return msb_fail(err, -E2BIG, "%u descriptors for the VMM", nfds);
	for (int i = 0; argv[i]; i++) {
		size_t l = strlen(argv[i]) + 1;

		if (len + l > LN_MSG_MAX - sizeof(struct ln_hdr))
			return msb_fail(err, -E2BIG, "the VMM's command line "
					"is too long");
		memcpy(buf + len, argv[i], l);
		len += l;
	}
	all[0] = logfd;
	if (nfds)
		memcpy(all + 1, fds, sizeof(int) * nfds);
	r = send_msg(vm->link, LN_SPAWN, 0, 0, buf, len, all, nfds + 1);
	if (r < 0)
		return msb_fail_errno(err, r, "the VMM's launcher is gone");
	for (;;) {
		const struct ln_hdr *h = (const struct ln_hdr *)buf;
		ssize_t n = recv_msg(vm->link, buf, LN_MSG_MAX, got, &ngot);
		int started = n >= (ssize_t)sizeof(*h) &&
			      h->type == LN_STARTED && h->val == 0;

		for (unsigned int i = 0; i < ngot; i++) {
			if (started && i < 2 && ngot == 2)
				usage[i] = got[i];
			else
				close(got[i]);
		}
		if (n <= 0)
			return msb_fail(err, n ? (int)n : -EPIPE,
					"the VMM's launcher is gone");
		if (n < (ssize_t)sizeof(*h) || h->type != LN_STARTED)
			continue; /* a late EXITED of an earlier VM */
		if (h->val < 0)
			return msb_fail_errno(err, h->val,
					      h->val == -EPERM ?
						      "the launcher refused the "
						      "VMM's command line" :
						      "cannot start the VMM");
		vm->pid = h->pid;
		return 0;
	}
}

void msb_launcher_kill(struct msb_vm *vm)
{
	if (vm->link >= 0 && vm->pid > 0)
		send_msg(vm->link, LN_KILL, vm->pid, 0, NULL, 0, NULL, 0);
}

int msb_engine_reap(struct msb_vm *vm, int *status)
{
	static char buf[LN_MSG_MAX];
	const struct ln_hdr *h = (const struct ln_hdr *)buf;
	int fds[MSB_VMM_MAX_FDS + 1];
	unsigned int nfds;
	ssize_t n;

	if (vm->link < 0)
		return 0;
	n = recv_msg(vm->link, buf, LN_MSG_MAX, fds, &nfds);
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n == -EAGAIN)
		return 0;
	if (n <= 0) {
		/* The launcher died; its death signal killed the VM. */
		msb_engine_release(vm);
		*status = SIGKILL;
		return 1;
	}
	if (n < (ssize_t)sizeof(*h) || h->type != LN_EXITED ||
	    h->pid != vm->pid)
		return 0;
	*status = h->val;
	return 1;
}

void msb_engine_release(struct msb_vm *vm)
{
	if (vm->link >= 0) {
		for (int i = 0; i < 2; i++)
			if (vm->usage_fd[i] >= 0)
				close(vm->usage_fd[i]);
		vm->usage_fd[0] = vm->usage_fd[1] = -1;
		close(vm->link);
	}
	vm->link = -1;
	if (vm->launcher > 0)
		waitpid(vm->launcher, NULL, 0);
	vm->launcher = 0;
}
