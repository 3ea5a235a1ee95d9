/* SPDX-License-Identifier: Apache-2.0 */
/* qemu.c - QEMU's microvm machine as the sandbox engine
 *
 * Theory of operation: one qemu-system-x86_64 per sandbox, a child of the
 * supervisor that receives SIGKILL when the supervisor dies
 * (PR_SET_PDEATHSIG), so a VM never outlives whoever owns it. Devices are all
 * virtio-mmio, non-legacy (vhost-user backends refuse legacy devices). The
 * agent link is a virtio-serial port whose chardev is one end of a
 * socketpair, handed over as an inherited descriptor: no socket path to race
 * for or to outgrow sun_path. The QMP monitor is another socketpair,
 * spoken by qmp.c from the owner's event loop.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "engine.h"
#include "qmp.h"
#include "save.h"
#include "util.h"

#define QEMU "qemu-system-x86_64"
/* Under TCG the guest's TSC is the host's (QEMU reads it with rdtsc), and
 * the kernel's own calibration of it can spin forever; giving it the
 * frequency (with pit=on) removed every hang seen in 36 boots. The value
 * must be the host's real rate: a wrong one makes the guest clock run fast
 * or slow by the same factor (2 GHz given on a 2.6 GHz host: 30% fast). */
#define TSC_FALLBACK_KHZ 2000000ul

int msb_engine_find(char *path, size_t n, msb_error *err)
{
	const char *env = getenv("MSB_QEMU");

	if (env && *env) {
		if (access(env, X_OK) == 0) {
			snprintf(path, n, "%s", env);
			return 0;
		}
		return msb_fail(err, -ENOENT,
				"MSB_QEMU=%s is not an executable", env);
	}
	if (msb_have_exe(QEMU, path, n))
		return 0;
	return msb_fail(err, -ENOENT,
			"%s not found: install it with 'sudo apt-get install "
			"qemu-system-x86'",
			QEMU);
}

static int probe_path(char *buf, size_t n)
{
	return snprintf(buf, n, "%s/kvm-broken", msb_home()) >= (int)n ? -1 : 0;
}

int msb_engine_accel_check(enum msb_accel *out, int *forced, msb_error *err)
{
	const char *env = getenv("MSB_ACCEL");
	char path[PATH_MAX];
	int fd, e;

	if (forced)
		*forced = env && *env;
	if (env && !strcmp(env, "tcg")) {
		*out = MSB_ACCEL_TCG;
		return 0;
	}
	if (env && *env && strcmp(env, "kvm"))
		return msb_fail(err, -EINVAL,
				"invalid MSB_ACCEL '%s': use kvm or tcg, or "
				"unset it to use KVM when it works",
				env);
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	e = errno;
	if (fd >= 0)
		close(fd);
	/* Forced: KVM or nothing. */
	if (env && *env) {
		if (fd < 0)
			return msb_fail(err, -e,
					"MSB_ACCEL=kvm, but /dev/kvm cannot be "
					"opened: %s%s; unset MSB_ACCEL to run "
					"under TCG",
					strerror(e),
					e == EACCES ? " (join the kvm group)" :
						      "");
		*out = MSB_ACCEL_KVM;
		return 0;
	}
	*out = MSB_ACCEL_TCG;
	if (fd < 0)
		return 0;
	/* A /dev/kvm that opens can still fail to run a vCPU (seen with
	 * nested virtualisation: QEMU aborts setting an MSR). The supervisor
	 * records such a failure and falls back to TCG from then on. */
	if (probe_path(path, sizeof(path)) == 0 && access(path, F_OK) == 0)
		return 0;
	*out = MSB_ACCEL_KVM;
	return 0;
}

enum msb_accel msb_engine_accel(void)
{
	enum msb_accel a = MSB_ACCEL_TCG;

	msb_engine_accel_check(&a, NULL, NULL);
	return a;
}

void msb_engine_mark_kvm_broken(const char *why)
{
	char path[PATH_MAX];

	if (probe_path(path, sizeof(path)) == 0)
		msb_write_file(path, why, strlen(why), 0644);
}

/* Measure the host TSC against CLOCK_MONOTONIC_RAW over 20 ms. */
static unsigned long tsc_measure_khz(void)
{
	struct timespec a, b, nap = { .tv_nsec = 20 * 1000 * 1000 };
	uint64_t t0, t1, ns;

	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	t0 = __rdtsc();
	nanosleep(&nap, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	t1 = __rdtsc();
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull +
	     (uint64_t)(b.tv_nsec - a.tv_nsec);
	if (!ns || t1 <= t0)
		return TSC_FALLBACK_KHZ;
	return (unsigned long)((t1 - t0) * 1000000ull / ns);
}

/* The host TSC rate, measured once per host boot and kept in <home>. */
static unsigned long tsc_khz(void)
{
	char path[PATH_MAX], boot_id[64] = "", *cached, want[128];
	unsigned long khz;
	char *b = msb_read_file("/proc/sys/kernel/random/boot_id", NULL);

	if (b) {
		snprintf(boot_id, sizeof(boot_id), "%.36s", b);
		free(b);
	}
	snprintf(path, sizeof(path), "%s/tsc-khz", msb_home());
	cached = msb_read_file(path, NULL);
	if (cached && boot_id[0] && !strncmp(cached, boot_id, strlen(boot_id)) &&
	    cached[strlen(boot_id)] == ' ') {
		khz = strtoul(cached + strlen(boot_id) + 1, NULL, 10);
		free(cached);
		if (khz)
			return khz;
	}
	free(cached);
	khz = tsc_measure_khz();
	snprintf(want, sizeof(want), "%s %lu\n", boot_id, khz);
	if (boot_id[0])
		msb_write_file(path, want, strlen(want), 0644);
	return khz;
}

/* The monitor's argv: pointers and the strings they point to in one
 * allocation (free() the argv array frees all). An argument that does not
 * fit marks the builder full, and the launch fails: a command line with a
 * device or a path silently missing would boot a different VM. */
/* The monitor's argv: pointers and the strings they point to in one
 * allocation (freeing the argv array frees all). An argument that does not
 * fit marks the builder full and the launch fails: a command line with a
 * device or a path silently missing would boot a different VM. */
struct argv_b {
	char *v[128];
	int n;
	int full;
	size_t used;    /* arguments, from the start of @store */
	size_t tail;    /* escaped values for the next argument, from its end */
	char store[32768];
};

_Static_assert(offsetof(struct argv_b, v) == 0,
	       "free(argv) must free the builder");

static void add(struct argv_b *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(struct argv_b *a, const char *fmt, ...)
{
	size_t room = sizeof(a->store) - a->used - a->tail;
	va_list ap;
	int w;

	if (a->full || a->n >= (int)(sizeof(a->v) / sizeof(a->v[0])) - 1) {
		a->full = 1;
		return;
	}
	va_start(ap, fmt);
	w = vsnprintf(a->store + a->used, room, fmt, ap);
	va_end(ap);
	a->tail = 0;
	if (w < 0 || (size_t)w >= room) {
		a->full = 1;
		return;
	}
	a->v[a->n++] = a->store + a->used;
	a->v[a->n] = NULL;
	a->used += (size_t)w + 1;
}

size_t msb_qemu_opt_escape(const char *s, char *out, size_t n)
{
	size_t o = 0;

	for (; *s; s++) {
		if (o + (*s == ',' ? 2 : 1) >= n)
			return (size_t)-1;
		if (*s == ',')
			out[o++] = ',';
		out[o++] = *s;
	}
	if (o >= n)
		return (size_t)-1;
	out[o] = '\0';
	return o;
}

/* opt() - @s escaped for a value inside a QEMU option string, kept at the
 * end of the builder's store until the next add() has copied it; "" (and
 * the builder full) if it does not fit. */
static const char *opt(struct argv_b *a, const char *s)
{
	size_t need = strlen(s) * 2 + 1;
	char *dst;

	if (a->used + a->tail + need > sizeof(a->store)) {
		a->full = 1;
		return "";
	}
	a->tail += need;
	dst = a->store + sizeof(a->store) - a->tail;
	msb_qemu_opt_escape(s, dst, need);
	return dst;
}

int msb_engine_argv(const struct msb_vm_spec *s, const char *qemu,
		    int qmp_fd, char ***argv, msb_error *err)
{
	struct argv_b *a = calloc(1, sizeof(*a));
	char tsc[64] = "";

	*argv = NULL;
	if (!a)
		return msb_fail(err, -ENOMEM, "out of memory");
	add(a, "%s", qemu);
	add(a, "-M");
	add(a, "microvm,pit=on,rtc=on,isa-serial=on,acpi=%s",
	    s->acpi ? "on" : "off");
	add(a, "-accel");
	add(a, "%s", s->accel == MSB_ACCEL_KVM ? "kvm" : "tcg");
	add(a, "-cpu");
	add(a, "%s", s->accel == MSB_ACCEL_KVM ? "host" : "max");
	add(a, "-smp");
	add(a, "%u", s->cpus);
	add(a, "-m");
	add(a, "%llu", (unsigned long long)s->memory_mib);
	if (s->restore_ram) {
		/* A restored VM: its RAM is a private, copy-on-write mapping
		 * of the snapshot's file, which it therefore never changes;
		 * every VM restored from it shares the unwritten pages. */
		add(a, "-object");
		add(a, "memory-backend-file,id=ram,size=%lluM,mem-path=%s,"
		       "share=off",
		    (unsigned long long)s->memory_mib, opt(a, s->restore_ram));
		add(a, "-incoming");
		add(a, "defer");
	} else {
		/* Guest RAM in a memfd of ours (@ram_fd) mapped shared:
		 * vhost-user devices (volumes) map the same pages in the
		 * supervisor, and a snapshot copies them from it. */
		add(a, "-object");
		add(a, "memory-backend-file,id=ram,size=%lluM,"
		       "mem-path=/proc/self/fd/%d,share=on",
		    (unsigned long long)s->memory_mib, s->ram_fd);
	}
	add(a, "-machine");
	add(a, "memory-backend=ram");
	add(a, "-nodefaults");
	add(a, "-no-user-config");
	add(a, "-nographic");
	add(a, "-display");
	add(a, "none");
	add(a, "-no-reboot");
	/* -kernel, -initrd and -append take their value whole (no option
	 * string to escape it from). */
	add(a, "-kernel");
	add(a, "%s", s->kernel);
	add(a, "-initrd");
	add(a, "%s", s->initrd);
	add(a, "-append");
	/* Under TCG the guest has no TSC-deadline timer, so the kernel spends
	 * ~250 ms calibrating and verifying the local APIC timer against the
	 * PIT; without it the PIT (pit=on) drives the clock events instead.
	 * Not with ACPI: microvm's ACPI tables say "hardware-reduced", for
	 * which the kernel sets up no PIT, so the APIC timer is the only one
	 * (without it, sleep never returns). KVM offers TSC-deadline and
	 * skips the calibration by itself. */
	if (s->accel == MSB_ACCEL_TCG)
		snprintf(tsc, sizeof(tsc), " tsc_early_khz=%lu%s", tsc_khz(),
			 s->acpi ? "" : " noapictimer");
	add(a, "console=ttyS0 quiet loglevel=4 panic=-1 reboot=t%s%s%s", tsc,
	    s->cmdline_extra ? " " : "",
	    s->cmdline_extra ? s->cmdline_extra : "");
	/* Every string below sits inside an option string, where a comma
	 * ends the value unless doubled (QEMU's QemuOpts syntax): a $MSB_HOME
	 * holding one must not split a path into two options. */
	add(a, "-chardev");
	if (s->console_fd > 0)
		add(a, "socket,id=con,fd=%d", s->console_fd);
	else
		add(a, "file,id=con,path=%s,append=on", opt(a, s->console_log));
	add(a, "-serial");
	add(a, "chardev:con");
	add(a, "-global");
	add(a, "virtio-mmio.force-legacy=false");
	add(a, "-device");
	add(a, "virtio-serial-device,max_ports=2");
	/* The control link: QMP on an inherited socket. */
	add(a, "-chardev");
	add(a, "socket,id=qmp,fd=%d", qmp_fd);
	add(a, "-mon");
	add(a, "chardev=qmp,mode=control");
	add(a, "-chardev");
	add(a, "socket,id=agent,fd=%d", s->agent_fd);
	add(a, "-device");
	add(a, "virtserialport,chardev=agent,name=msb.agent");
	/* The guest's NIC: frames go to the supervisor's network stack over
	 * a socketpair, each prefixed by its 4-byte big-endian length. */
	if (s->net_mac) {
		add(a, "-netdev");
		add(a, "stream,id=net0,server=off,addr.type=fd,addr.str=%d",
		    s->net_fd);
		add(a, "-device");
		add(a, "virtio-net-device,netdev=net0,mac=%s",
		    opt(a, s->net_mac));
	}
	/* A write that finds the host disk full is held and the VM paused
	 * (werror=enospc, named rather than left to QEMU's default): the
	 * guest never sees it fail, so its filesystem neither goes
	 * read-only nor loses the data, and the supervisor resumes the VM
	 * when there is room again (src/supervisor/diskfull.c). Any other
	 * error is the guest's to see (report). */
	for (unsigned i = 0; i < s->ndisks; i++) {
		add(a, "-drive");
		add(a, "if=none,id=d%u,file=%s,format=%s,%s", i,
		    opt(a, s->disks[i].path),
		    s->disks[i].format ? s->disks[i].format : "raw",
		    s->disks[i].readonly ? "readonly=on,rerror=report" :
					   "cache=writeback,discard=unmap,"
					   "werror=enospc,rerror=report");
		add(a, "-device");
		add(a, "virtio-blk-device,drive=d%u,serial=%s", i,
		    opt(a, s->disks[i].serial));
	}
	/* Volumes: vhost-user-fs devices whose sockets the supervisor
	 * serves (src/supervisor/fs.c). */
	for (unsigned i = 0; i < s->nfs; i++) {
		add(a, "-chardev");
		add(a, "socket,id=fs%u,fd=%d", i, s->fs[i].fd);
		add(a, "-device");
		add(a, "vhost-user-fs-device,chardev=fs%u,tag=%s", i,
		    opt(a, s->fs[i].tag));
	}
	if (a->full) {
		int r = msb_fail(err, -E2BIG,
				 "the QEMU command line does not fit in %zu "
				 "arguments of %zu bytes in all (%u disks, %u "
				 "volumes): use a shorter $MSB_HOME or fewer "
				 "volumes",
				 sizeof(a->v) / sizeof(a->v[0]) - 1,
				 sizeof(a->store), s->ndisks, s->nfs);

		free(a);
		return r;
	}
	*argv = a->v;
	return 0;
}

int msb_engine_launch(const struct msb_vm_spec *s, struct msb_vm *vm,
		      msb_error *err)
{
	char qemu[PATH_MAX], **argv = NULL;
	int r, logfd = -1, qmp[2] = { -1, -1 }, ram = -1;
	pid_t parent = getpid(), pid;
	struct msb_vm_spec sp = *s;

	r = msb_engine_find(qemu, sizeof(qemu), err);
	if (r < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0)
		return msb_fail_errno(err, -errno, "QMP socketpair");
	if (!s->restore_ram) {
		ram = memfd_create("msb-guest-ram", MFD_CLOEXEC);
		if (ram < 0 ||
		    ftruncate(ram, (off_t)(s->memory_mib << 20)) < 0) {
			r = msb_fail_errno(err, -errno, "guest RAM (memfd)");
			goto out;
		}
	}
	sp.ram_fd = ram;
	r = msb_engine_argv(&sp, qemu, qmp[1], &argv, err);
	if (r < 0)
		goto out;

	logfd = s->log_fd > 0 ? dup(s->log_fd) :
				open(s->engine_log,
				     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				     0644);
	pid = fork();
	if (pid < 0) {
		r = msb_fail_errno(err, -errno, "fork");
		goto out;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(null, 0);
		dup2(logfd >= 0 ? logfd : null, 1);
		dup2(logfd >= 0 ? logfd : null, 2);
		/* The agent link descriptor must survive exec. */
		fcntl(s->agent_fd, F_SETFD, 0);
		if (s->console_fd > 0)
			fcntl(s->console_fd, F_SETFD, 0);
		fcntl(qmp[1], F_SETFD, 0);
		if (ram >= 0)
			fcntl(ram, F_SETFD, 0);
		if (s->restore_ram && s->restore_state_fd >= 0)
			fcntl(s->restore_state_fd, F_SETFD, 0);
		if (s->net_mac)
			fcntl(s->net_fd, F_SETFD, 0);
		for (unsigned i = 0; i < s->nfs; i++)
			fcntl(s->fs[i].fd, F_SETFD, 0);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		/* The exact command line, for debugging and for bench/,
		 * which boots the same VM with no msb around it. */
		dprintf(2, "argv");
		for (int i = 0; argv[i]; i++)
			dprintf(2, "%s%s", i ? "\x1f" : " ", argv[i]);
		dprintf(2, "\n");
		execv(qemu, argv);
		dprintf(2, "exec %s: %s\n", qemu, strerror(errno));
		_exit(127);
	}
	vm->pid = pid;
	vm->accel = s->accel;
	vm->launched_us = msb_now_us();
	msb_engine_close(vm);
	vm->on_event = s->on_event;
	vm->event_opaque = s->event_opaque;
	vm->qmp = msb_qmp_new(qmp[0], msb_engine_on_event, vm);
	qmp[0] = -1;
	vm->ram_fd = ram;
	vm->ram_size = s->memory_mib << 20;
	vm->restore_state_fd = s->restore_ram ? s->restore_state_fd : -1;
	ram = -1;
	r = 0;
out:
	if (ram >= 0)
		close(ram);
	if (logfd >= 0)
		close(logfd);
	if (qmp[0] >= 0)
		close(qmp[0]);
	if (qmp[1] >= 0)
		close(qmp[1]);
	free(argv);
	return r;
}

void msb_engine_kill(struct msb_vm *vm)
{
	if (vm->pid > 0)
		kill(vm->pid, SIGKILL);
}

void msb_engine_close(struct msb_vm *vm)
{
	msb_qmp_free(vm->qmp);
	vm->qmp = NULL;
	msb_engine_op_end(vm, -EPIPE, "the VM is gone");
	if (vm->ram_fd > 0)
		close(vm->ram_fd);
	vm->ram_fd = -1;
}

int msb_engine_fd(const struct msb_vm *vm)
{
	return vm->qmp && !msb_qmp_broken(vm->qmp) ? msb_qmp_fd(vm->qmp) : -1;
}

int msb_engine_want_write(const struct msb_vm *vm)
{
	return vm->qmp && msb_qmp_want_write(vm->qmp);
}

int msb_engine_dispatch(struct msb_vm *vm, uint32_t events, msb_error *err)
{
	int r = 0;

	if (!vm->qmp)
		return msb_fail(err, -ENOTCONN, "the VM has no control link");
	if (events & EPOLLOUT)
		r = msb_qmp_on_writable(vm->qmp);
	if (r == 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		r = msb_qmp_on_readable(vm->qmp, err);
	else if (r < 0)
		msb_fail_errno(err, r, "QEMU's monitor");
	return r;
}

struct done_ctx {
	msb_engine_done_fn done;
	void *opaque;
};

static void done_reply(void *opaque, json_object *ret, const char *eclass,
		       const char *edesc)
{
	struct done_ctx *d = opaque;

	if (d->done)
		d->done(d->opaque, ret ? 0 : -EIO, ret ? NULL : edesc);
	free(d);
}

static int send_done(struct msb_vm *vm, const char *cmd, json_object *args,
		     msb_engine_done_fn done, void *opaque, msb_error *err)
{
	struct done_ctx *d;
	int r;

	if (!vm->qmp) {
		json_object_put(args);
		return msb_fail(err, -ENOTCONN, "the VM has no control link");
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		json_object_put(args);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	d->done = done;
	d->opaque = opaque;
	/* On failure the callback has not run and will not. */
	r = msb_qmp_send(vm->qmp, cmd, args, done_reply, d, err);
	if (r < 0)
		free(d);
	return r;
}

int msb_engine_pause(struct msb_vm *vm, msb_engine_done_fn done, void *opaque,
		     msb_error *err)
{
	/* "stop" returns once the vCPUs are stopped and every disk drained
	 * and flushed (QEMU's vm_stop). */
	return send_done(vm, "stop", NULL, done, opaque, err);
}

int msb_engine_resume(struct msb_vm *vm, msb_engine_done_fn done,
		      void *opaque, msb_error *err)
{
	return send_done(vm, "cont", NULL, done, opaque, err);
}

struct status_ctx {
	msb_engine_status_fn cb;
	void *opaque;
};

static void status_reply(void *opaque, json_object *ret, const char *eclass,
			 const char *edesc)
{
	struct status_ctx *c = opaque;
	json_object *st = NULL, *run = NULL;

	if (ret) {
		json_object_object_get_ex(ret, "status", &st);
		json_object_object_get_ex(ret, "running", &run);
	}
	if (c->cb)
		c->cb(c->opaque,
		      st && json_object_is_type(st, json_type_string) ?
			      json_object_get_string(st) :
			      NULL,
		      run ? json_object_get_boolean(run) : 0);
	free(c);
}

int msb_engine_status(struct msb_vm *vm, msb_engine_status_fn cb,
		      void *opaque, msb_error *err)
{
	struct status_ctx *c;
	int r;

	if (!vm->qmp)
		return msb_fail(err, -ENOTCONN, "the VM has no control link");
	c = calloc(1, sizeof(*c));
	if (!c)
		return msb_fail(err, -ENOMEM, "out of memory");
	c->cb = cb;
	c->opaque = opaque;
	r = msb_qmp_send(vm->qmp, "query-status", NULL, status_reply, c, err);
	if (r < 0)
		free(c);
	return r;
}
