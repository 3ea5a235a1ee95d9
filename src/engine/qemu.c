/* SPDX-License-Identifier: Apache-2.0 */
/* qemu.c - QEMU's microvm machine as the sandbox engine
 *
 * Theory of operation: one qemu-system-x86_64 per sandbox, started by the
 * launcher (launcher.c), a small process the supervisor forks before it
 * confines itself: the supervisor keeps no right to fork or exec. QEMU is
 * the launcher's child and receives SIGKILL when the launcher dies, which
 * dies with the supervisor (PR_SET_PDEATHSIG both), so a VM never
 * outlives whoever owns it. Devices are all virtio-mmio, non-legacy
 * (vhost-user backends refuse legacy devices). The QMP monitor is a
 * socketpair, spoken by qmp.c from the owner's event loop.
 *
 * QEMU reaches nothing by path that it does not need (docs/security.md):
 * every file it uses (kernel, initrd, disks and a qcow2 disk's backing
 * file, the console, a restored VM's RAM file) is opened by the
 * supervisor at each launch and handed over as a descriptor (an fdset for disks and the console; its own
 * /proc/self/fd/N for the kernel, the initrd and the RAM memfd, which
 * QEMU 7.2 opens by path), every socket (agent port, network, volumes,
 * QMP) is one end of a socketpair. It runs under its own seccomp filter
 * (-sandbox), the launcher's Landlock rules and, as root, a uid of its own.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bytes.h"
#include "engine.h"
#include "launcher.h"
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

/* Host facts (the TSC rate, a KVM that failed) live in <home>/host, the
 * one directory of the home a confined supervisor may write besides its
 * own sandbox's and the snapshots. */
static int host_path(const char *name, char *buf, size_t n)
{
	return snprintf(buf, n, "%s/host/%s", msb_home(), name) >= (int)n ?
		       -1 :
		       0;
}

static int probe_path(char *buf, size_t n)
{
	return host_path("kvm-broken", buf, n);
}

/* Before <home>/host, the mark was <home>/kvm-broken. */
static int probe_path_old(char *buf, size_t n)
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
	if (probe_path_old(path, sizeof(path)) == 0 && access(path, F_OK) == 0)
		return 0;
	*out = MSB_ACCEL_KVM;
	return 0;
}

/* The buffer holds host code for every guest instruction translated
 * since the last flush; QEMU reserves 1 GiB and flushes it whole only
 * when full, so its resident size only grows: 31 MiB after a boot, 110
 * MiB after a few Python runs, up to the reservation for a sandbox that
 * runs many programs. 64 MiB bounds it at no measured cost (Python:
 * 48 MiB was as fast as 1 GiB; smaller buffers flush and translate
 * again, 16 MiB 2.5 times the CPU, though shell tools and an idle guest
 * fit it; docs/performance.md "TCG's code buffer" says why 64 stays). */
int msb_engine_tcg_tb_check(unsigned *mib, msb_error *err)
{
	const char *env = getenv("MSB_TCG_TB_MIB");
	char *end;
	unsigned long v;

	if (!env || !*env) {
		*mib = MSB_TCG_TB_MIB_DEFAULT;
		return 0;
	}
	errno = 0;
	v = strtoul(env, &end, 10);
	if (errno || *end || env[0] < '0' || env[0] > '9' ||
	    (v && (v < 8 || v > 4096)))
		return msb_fail(err, -EINVAL,
				"invalid MSB_TCG_TB_MIB '%s': the size of "
				"TCG's translated-code buffer in MiB, 8 to "
				"4096 (0 for QEMU's own 1 GiB); unset it for "
				"%d",
				env, MSB_TCG_TB_MIB_DEFAULT);
	*mib = (unsigned)v;
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
	if (host_path("tsc-khz", path, sizeof(path)) < 0)
		return tsc_measure_khz();
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
	/* with a prepared VM: the descriptors it gets, at 3, 4, ... */
	const struct msb_vm *vm;
	int fds[MSB_VMM_MAX_FDS];
	unsigned int nfds;
	unsigned int sets;
	char path[32];  /* file()'s answer */
	char backing[128];
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

/* Files of a prepared VM, in @vm->files in this order (FILE_RAM: a
 * restored VM's RAM file, or -1); three per disk:
 * QEMU opens a read-write disk read-only first (to probe it), and an
 * fdset hands out only a descriptor of the access mode asked for; the
 * third is a qcow2 disk's backing file. */
enum { FILE_KERNEL, FILE_INITRD, FILE_CONSOLE, FILE_RAM, FILE_DISK0 };
#define FILE_DISK(i) (FILE_DISK0 + 3 * (i))

/* fd() - @fd as the VM will know it: itself (paths mode), or the next of
 * the descriptors handed over. */
static int fd(struct argv_b *a, int fd)
{
	if (!a->vm)
		return fd;
	if (a->nfds >= MSB_VMM_MAX_FDS) {
		a->full = 1;
		return -1;
	}
	a->fds[a->nfds] = fd;
	return MSB_VMM_FIRST_FD + (int)a->nfds++;
}

/* fdset() - descriptors @fd0 and @fd1 (-1: none) as a new fdset, the
 * -add-fd options emitted here; Return: its path, in @buf. */
static const char *fdset(struct argv_b *a, int fd0, int fd1, char *buf,
			 size_t n)
{
	unsigned int set = ++a->sets;

	add(a, "-add-fd");
	add(a, "fd=%d,set=%u", fd(a, fd0), set);
	if (fd1 >= 0) {
		add(a, "-add-fd");
		add(a, "fd=%d,set=%u", fd(a, fd1), set);
	}
	snprintf(buf, n, "/dev/fdset/%u", set);
	return buf;
}

/* file() - how QEMU opens file @k of a prepared VM, or @path without one.
 * Valid until the next call. */
static const char *file(struct argv_b *a, unsigned int k, const char *path)
{
	const int *f = a->vm ? a->vm->files : NULL;

	if (!a->vm)
		return path;
	if (k == FILE_KERNEL || k == FILE_INITRD) {
		/* QEMU 7.2 reads them by path, not through fdsets: their
		 * descriptors' own links. */
		snprintf(a->path, sizeof(a->path), "/proc/self/fd/%d",
			 fd(a, f[k]));
		return a->path;
	}
	return fdset(a, f[k], k >= FILE_DISK0 ? f[k + 1] : -1, a->path,
		     sizeof(a->path));
}

/* val() - @v as a value inside an option string: escaped (a path; an
 * fdset path needs none). Pass it straight to add(). */
static const char *val(struct argv_b *a, const char *v)
{
	return v == a->path ? v : opt(a, v);
}

/* build() - QEMU's argv for @s; with @vm (prepared), its files and the
 * spec's sockets as descriptors, confined if @vm says so. */
static struct argv_b *build(const struct msb_vm_spec *s,
			    const struct msb_vm *vm, const char *qemu,
			    int qmp_fd)
{
	struct argv_b *a = calloc(1, sizeof(*a));
	char tsc[96] = "";
	const char *p;

	if (!a)
		return NULL;
	a->vm = vm;
	add(a, "%s", qemu);
	if (vm && vm->confined) {
		/* first: the launcher checks it is there (launcher.c) */
		add(a, "-sandbox");
		add(a, "%s", MSB_QEMU_SANDBOX);
	}
	add(a, "-M");
	add(a, "microvm,pit=on,rtc=on,isa-serial=on,acpi=%s",
	    s->acpi ? "on" : "off");
	add(a, "-accel");
	if (s->accel == MSB_ACCEL_KVM)
		add(a, "kvm");
	else if (s->tcg_tb_mib)
		add(a, "tcg,tb-size=%u", s->tcg_tb_mib);
	else
		add(a, "tcg");
	add(a, "-cpu");
	add(a, "%s", s->accel == MSB_ACCEL_KVM ? "host" : "max");
	add(a, "-smp");
	add(a, "%u", s->cpus);
	add(a, "-m");
	add(a, "%llu", (unsigned long long)s->memory_mib);
	if (s->restore_ram) {
		/* A restored VM: its RAM is a private, copy-on-write mapping
		 * of the snapshot's file, which it therefore never changes;
		 * every VM restored from it shares the unwritten pages.
		 * QEMU 7.2 opens it by path, read-write: given its own
		 * descriptor's link, it needs no access to the directories
		 * above (root's home, as root); the launcher's Landlock
		 * rules name the file. */
		if (vm)
			snprintf(a->path, sizeof(a->path), "/proc/self/fd/%d",
				 fd(a, vm->files[FILE_RAM]));
		add(a, "-object");
		add(a, "memory-backend-file,id=ram,size=%lluM,mem-path=%s,"
		       "share=off",
		    (unsigned long long)s->memory_mib,
		    vm ? a->path : opt(a, s->restore_ram));
		add(a, "-incoming");
		add(a, "defer");
	} else {
		/* Guest RAM in a memfd of ours (@ram_fd) mapped shared:
		 * vhost-user devices (volumes) map the same pages in the
		 * supervisor, and a snapshot copies them from it. */
		add(a, "-object");
		add(a, "memory-backend-file,id=ram,size=%lluM,"
		       "mem-path=/proc/self/fd/%d,share=on",
		    (unsigned long long)s->memory_mib, fd(a, s->ram_fd));
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
	p = file(a, FILE_KERNEL, s->kernel);
	add(a, "-kernel");
	add(a, "%s", p);
	p = file(a, FILE_INITRD, s->initrd);
	add(a, "-initrd");
	add(a, "%s", p);
	add(a, "-append");
	/* Under TCG the guest has no TSC-deadline timer, so the kernel spends
	 * ~250 ms calibrating and verifying the local APIC timer against the
	 * PIT; without it the PIT (pit=on) drives the clock events instead.
	 * Not with ACPI: microvm's ACPI tables say "hardware-reduced", for
	 * which the kernel sets up no PIT, so the APIC timer is the only one
	 * (without it, sleep never returns). KVM offers TSC-deadline and
	 * skips the calibration by itself. tsc=reliable: TCG's TSC is the
	 * host's, constant and monotonic, but the kernel's clocksource
	 * watchdog checks it against jiffies, whose ticks a busy host delays,
	 * and then marks it unstable: the guest falls back to a 10 ms jiffies
	 * clock that every clock_gettime() must enter the kernel to read
	 * (seen under a load of 10 on 2 CPUs). */
	if (s->accel == MSB_ACCEL_TCG)
		snprintf(tsc, sizeof(tsc), " tsc_early_khz=%lu tsc=reliable%s",
			 vm ? vm->tsc_khz : tsc_khz(),
			 s->acpi ? "" : " noapictimer");
	add(a, "console=ttyS0 quiet loglevel=4 panic=-1 reboot=t%s%s%s", tsc,
	    s->cmdline_extra ? " " : "",
	    s->cmdline_extra ? s->cmdline_extra : "");
	/* Every string below sits inside an option string, where a comma
	 * ends the value unless doubled (QEMU's QemuOpts syntax): a $MSB_HOME
	 * holding one must not split a path into two options. */
	/* The console: a socket the caller reads, or a file. */
	add(a, "-chardev");
	if (s->console_fd > 0) {
		add(a, "socket,id=con,fd=%d", fd(a, s->console_fd));
	} else {
		p = file(a, FILE_CONSOLE, s->console_log);
		add(a, "file,id=con,path=%s,append=on", val(a, p));
	}
	add(a, "-serial");
	add(a, "chardev:con");
	add(a, "-global");
	add(a, "virtio-mmio.force-legacy=false");
	add(a, "-device");
	add(a, "virtio-serial-device,max_ports=2");
	/* The control link: QMP on an inherited socket. */
	add(a, "-chardev");
	add(a, "socket,id=qmp,fd=%d", fd(a, qmp_fd));
	add(a, "-mon");
	add(a, "chardev=qmp,mode=control");
	add(a, "-chardev");
	add(a, "socket,id=agent,fd=%d", fd(a, s->agent_fd));
	add(a, "-device");
	add(a, "virtserialport,chardev=agent,name=msb.agent");
	/* The guest's NIC: frames go to the supervisor's network stack over
	 * a socketpair, each prefixed by its 4-byte big-endian length; or,
	 * with @net_vhost, the supervisor serves its queues itself in guest
	 * memory (vhost-user-net, src/net/vnet.c). */
	if (s->net_mac && s->net_vhost && !s->restore_ram) {
		add(a, "-chardev");
		/* @net_fd: an O_PATH descriptor of the supervisor's
		 * listening socket (QEMU 7.2 passes descriptors only over
		 * a chardev it connected by path) */
		add(a, "socket,id=netc,path=/proc/self/fd/%d",
		    fd(a, s->net_fd));
		add(a, "-netdev");
		add(a, "vhost-user,id=net0,chardev=netc");
	} else if (s->net_mac) {
		add(a, "-netdev");
		add(a, "stream,id=net0,server=off,addr.type=fd,addr.str=%d",
		    fd(a, s->net_fd));
	}
	if (s->net_mac) {
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
		/* A qcow2 disk's backing file would be opened by the path in
		 * its header: it is handed over too, and named instead. */
		a->backing[0] = '\0';
		if (vm && vm->files[FILE_DISK(i) + 2] >= 0) {
			char b[32];

			snprintf(a->backing, sizeof(a->backing),
				 ",backing.driver=raw,backing.file.filename=%s"
				 ",backing.file.locking=off",
				 fdset(a, vm->files[FILE_DISK(i) + 2], -1, b,
				       sizeof(b)));
		}
		/* Handed over, an image's lock bytes would be taken on
		 * descriptors its fdset keeps open (and so never let go as
		 * QEMU reopens the image): no image locking then. One
		 * supervisor per sandbox already holds its disk alone
		 * (sandboxes/NAME/lock); layers are read-only. */
		p = file(a, FILE_DISK(i), s->disks[i].path);
		add(a, "-drive");
		add(a, "if=none,id=d%u,file=%s,format=%s,%s%s%s", i, val(a, p),
		    s->disks[i].format ? s->disks[i].format : "raw",
		    s->disks[i].readonly ? "readonly=on,rerror=report" :
					   "cache=writeback,discard=unmap,"
					   "werror=enospc,rerror=report",
		    vm ? ",file.locking=off" : "", a->backing);
		add(a, "-device");
		add(a, "virtio-blk-device,drive=d%u,serial=%s", i,
		    opt(a, s->disks[i].serial));
	}
	/* Volumes: vhost-user-fs devices whose sockets the supervisor
	 * serves (src/supervisor/fs.c). */
	for (unsigned i = 0; i < s->nfs; i++) {
		add(a, "-chardev");
		add(a, "socket,id=fs%u,fd=%d", i, fd(a, s->fs[i].fd));
		add(a, "-device");
		add(a, "vhost-user-fs-device,chardev=fs%u,tag=%s", i,
		    opt(a, s->fs[i].tag));
	}
	/* Free page reporting: the guest's kernel tells the balloon device
	 * which free pages (in 2 MiB blocks, a few seconds after they are
	 * freed) it no longer needs, and QEMU gives them back to the host
	 * (a hole punched in the RAM memfd; for a restored VM's private
	 * mapping, its pages dropped). Without it the host keeps every page
	 * the guest ever touched. The balloon is never inflated. It takes a
	 * transport, so only when one is left after the devices above
	 * (decided from the configuration alone, so a snapshot's restore
	 * has the same devices). */
	if (s->acpi || 1 + (s->net_mac ? 1u : 0u) + s->ndisks + s->nfs <
			       MSB_ENGINE_VIRTIO_SLOTS) {
		add(a, "-device");
		add(a, "virtio-balloon-device,free-page-reporting=on");
	}
	/* A restored VM's device state comes from this descriptor
	 * (migrate-incoming "fd:N", save.c). */
	if (vm && s->restore_ram && s->restore_state_fd >= 0)
		((struct msb_vm *)vm)->restore_state_vmm_fd =
			fd(a, s->restore_state_fd);
	return a;
}

static int too_long(const struct msb_vm_spec *s, msb_error *err)
{
	return msb_fail(err, -E2BIG,
			"the QEMU command line does not fit in %zu arguments "
			"of %zu bytes in all and %d descriptors (%u disks, %u "
			"volumes): use a shorter $MSB_HOME or fewer volumes",
			sizeof(((struct argv_b *)0)->v) / sizeof(char *) - 1,
			sizeof(((struct argv_b *)0)->store), MSB_VMM_MAX_FDS,
			s->ndisks, s->nfs);
}

int msb_engine_argv(const struct msb_vm_spec *s, const char *qemu,
		    int qmp_fd, char ***argv, msb_error *err)
{
	struct argv_b *a = build(s, NULL, qemu, qmp_fd);

	*argv = NULL;
	if (!a)
		return msb_fail(err, -ENOMEM, "out of memory");
	if (a->full) {
		free(a);
		return too_long(s, err);
	}
	*argv = a->v;
	return 0;
}

static int open_file(const char *path, int flags, const char *what,
		     msb_error *err)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);

	if (fd < 0)
		return msb_fail_errno(err, -errno, "cannot open the %s %s",
				      what, path);
	return fd;
}

/* qcow2_backing() - the backing file named in a qcow2 image's header
 * (QEMU's docs/interop/qcow2.txt: offset 8, u64 BE; size 16, u32 BE), as
 * a path (relative to the image's directory if relative); "" if none.
 * Return: 0 or -errno. */
static int qcow2_backing(int fd, const char *image, char *out, size_t n)
{
	uint8_t h[20];
	uint64_t off;
	uint32_t len;
	char name[1024];
	const char *slash;

	out[0] = '\0';
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h, "QFI\xfb", 4))
		return -EINVAL;
	off = msb_get_be64(h + 8);
	len = msb_get_be32(h + 16);
	if (!off || !len)
		return 0;
	if (len >= sizeof(name) ||
	    pread(fd, name, len, (off_t)off) != (ssize_t)len)
		return -EINVAL;
	name[len] = '\0';
	slash = strrchr(image, '/');
	if (name[0] == '/' || !slash)
		snprintf(out, n, "%s", name);
	else
		snprintf(out, n, "%.*s/%s", (int)(slash - image), image, name);
	return 0;
}

static void close_files(struct msb_vm *vm)
{
	for (unsigned int i = 0; i < vm->nfiles; i++)
		if (vm->files[i] >= 0)
			close(vm->files[i]);
	vm->nfiles = 0;
}

void msb_vmm_jail_default(struct msb_vmm_jail *j, pid_t pid, int confine)
{
	struct stat st;

	j->confine = confine;
	j->uid = getuid();
	j->gid = getgid();
	j->kvm_gid = (gid_t)-1;
	if (!confine || geteuid() != 0)
		return;
	j->uid = (uid_t)(MSB_VMM_UID_BASE + 1 +
			 (unsigned)pid % (MSB_VMM_UID_COUNT - 1));
	j->gid = (gid_t)j->uid;
	/* /dev/kvm is root:kvm 0660 where udev made it (Debian): the VMM's
	 * uid gets that group. Never root's group. */
	if (stat("/dev/kvm", &st) == 0 && (st.st_mode & 0060) == 0060 &&
	    st.st_gid != 0)
		j->kvm_gid = st.st_gid;
}

int msb_vmm_kvm_reachable(const struct msb_vmm_jail *j)
{
	struct stat st;

	if (!j->confine || geteuid() != 0)
		return 1;
	if (stat("/dev/kvm", &st) < 0)
		return 0;
	return (st.st_mode & 0006) == 0006 ||
	       (j->kvm_gid != (gid_t)-1 && st.st_gid == j->kvm_gid);
}

/* open_files() - what the VM opens, as @vm->files (see FILE_*). Each
 * launch opens them afresh and closes them once QEMU has its copies: QEMU
 * locks disk images on its descriptors (OFD locks), which must be its
 * own open files, let go when it closes them. */
static int open_files(const struct msb_vm_spec *s, struct msb_vm *vm,
		      msb_error *err)
{
	int r;

	vm->nfiles = 0;
	r = open_file(s->kernel, O_RDONLY, "kernel", err);
	if (r >= 0)
		vm->files[vm->nfiles++] = r;
	if (r >= 0 && (r = open_file(s->initrd, O_RDONLY, "initrd", err)) >= 0)
		vm->files[vm->nfiles++] = r;
	/* the console is a file only when the caller gives no socket */
	if (r >= 0 && s->console_fd > 0)
		vm->files[vm->nfiles++] = -1;
	else if (r >= 0 && (r = open_file(s->console_log,
					  O_WRONLY | O_APPEND | O_CREAT,
					  "console log", err)) >= 0)
		vm->files[vm->nfiles++] = r;
	if (r >= 0 && !s->restore_ram)
		vm->files[vm->nfiles++] = -1;
	else if (r >= 0 && (r = open_file(s->restore_ram, O_RDWR,
					  "snapshot's memory", err)) >= 0)
		vm->files[vm->nfiles++] = r;
	for (unsigned int i = 0; r >= 0 && i < s->ndisks; i++) {
		const struct msb_disk *d = &s->disks[i];
		char backing[PATH_MAX];
		int ro;

		r = ro = open_file(d->path, O_RDONLY, "disk", err);
		if (r < 0)
			break;
		vm->files[vm->nfiles++] = ro;
		if (d->readonly)
			vm->files[vm->nfiles++] = -1;
		else if ((r = open_file(d->path, O_RDWR, "disk", err)) >= 0)
			vm->files[vm->nfiles++] = r;
		if (r < 0)
			break;
		backing[0] = '\0';
		if (d->format && !strcmp(d->format, "qcow2") &&
		    (r = qcow2_backing(ro, d->path, backing,
				       sizeof(backing))) < 0) {
			r = msb_fail_errno(err, r, "cannot read the qcow2 "
					   "header of %s", d->path);
			break;
		}
		if (!backing[0])
			vm->files[vm->nfiles++] = -1;
		else if ((r = open_file(backing, O_RDONLY, "backing disk",
					err)) >= 0)
			vm->files[vm->nfiles++] = r;
	}
	if (r < 0)
		close_files(vm);
	return r < 0 ? r : 0;
}

int msb_engine_prepare(const struct msb_vm_spec *s, struct msb_vm *vm,
		       const struct msb_vmm_jail *j, msb_error *err)
{
	char qemu[PATH_MAX], dir[PATH_MAX];

	vm->nfiles = 0;
	vm->link = -1;
	vm->launcher = 0;
	vm->confined = j->confine;
	vm->restore_state_vmm_fd = -1;
	if (s->ndisks > 16)
		return msb_fail(err, -E2BIG, "%u disks: at most 16", s->ndisks);
	if (msb_engine_find(qemu, sizeof(qemu), err) < 0)
		return err->code;
	/* <home>/host exists before the supervisor is confined (its
	 * Landlock rules name it). */
	snprintf(dir, sizeof(dir), "%s/host", msb_home());
	msb_mkdir_p(dir, 0755);
	vm->tsc_khz = tsc_khz();
	return msb_launcher_start(vm, qemu, s, j, err);
}

/* log_argv() - the exact command line, and which file each descriptor
 * is, for debugging and for bench/, which boots the same VM with no msb
 * around it (bench/rawboot.py). */
static void log_argv(int fd, const struct msb_vm_spec *s,
		     const struct argv_b *a)
{
	const struct msb_vm *vm = a->vm;

	dprintf(fd, "argv");
	for (int i = 0; i < a->n; i++)
		dprintf(fd, "%s%s", i ? "\x1f" : " ", a->v[i]);
	dprintf(fd, "\nfiles");
	for (unsigned int i = 0; i < a->nfds; i++) {
		const char *p = NULL;

		for (unsigned int k = 0; k < FILE_DISK0 && k < vm->nfiles; k++)
			if (vm->files[k] >= 0 && a->fds[i] == vm->files[k])
				p = k == FILE_KERNEL ? s->kernel :
				    k == FILE_INITRD ? s->initrd :
				    k == FILE_CONSOLE ? s->console_log :
							s->restore_ram;
		for (unsigned int k = FILE_DISK0; k < vm->nfiles; k++)
			if (vm->files[k] >= 0 && a->fds[i] == vm->files[k] &&
			    (k - FILE_DISK0) % 3 != 2)
				p = s->disks[(k - FILE_DISK0) / 3].path;
		if (p)
			dprintf(fd, "%s%d=%s", i ? "\x1f" : " ",
				MSB_VMM_FIRST_FD + (int)i, p);
	}
	dprintf(fd, "\n");
}

int msb_engine_launch(const struct msb_vm_spec *s, struct msb_vm *vm,
		      msb_error *err)
{
	char qemu[PATH_MAX];
	struct argv_b *a = NULL;
	int r, logfd = -1, qmp[2] = { -1, -1 }, ram = -1;
	int usage[2] = { -1, -1 };
	struct msb_vm_spec sp = *s;

	if (vm->link < 0)
		return msb_fail(err, -EINVAL, "the engine was not prepared");
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
	vm->restore_state_vmm_fd = -1;
	r = open_files(s, vm, err);
	if (r < 0)
		goto out;
	a = build(&sp, vm, qemu, qmp[1]);
	if (!a) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (a->full) {
		r = too_long(s, err);
		goto out;
	}
	/* QEMU's stdout and stderr: the caller's pipe, or a file */
	logfd = s->log_fd > 0 ?
			fcntl(s->log_fd, F_DUPFD_CLOEXEC, 0) :
			open(s->engine_log,
			     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		r = msb_fail_errno(err, -errno, "cannot open %s", s->engine_log);
		goto out;
	}
	log_argv(logfd, s, a);
	r = msb_launcher_spawn(vm, a->v, logfd, a->fds, a->nfds, usage, err);
	if (r < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		if (vm->usage_fd[i] >= 0)
			close(vm->usage_fd[i]);
		vm->usage_fd[i] = usage[i];
	}
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
	close_files(vm);
	if (ram >= 0)
		close(ram);
	if (logfd >= 0)
		close(logfd);
	if (qmp[0] >= 0)
		close(qmp[0]);
	if (qmp[1] >= 0)
		close(qmp[1]);
	free(a);
	return r;
}

/* read_proc() - a /proc file of the VM's, from its start, into @buf. */
static int read_proc(int fd, char *buf, size_t n)
{
	ssize_t got = fd < 0 ? -1 : pread(fd, buf, n - 1, 0);

	if (got <= 0)
		return -1;
	buf[got] = '\0';
	return 0;
}

int msb_engine_usage(const struct msb_vm *vm, uint64_t *cpu_ns,
		     uint64_t *rss)
{
	char buf[1024], *p;
	unsigned long long ut = 0, st = 0, pages = 0;
	long hz = sysconf(_SC_CLK_TCK), pg = sysconf(_SC_PAGESIZE);

	if (vm->pid <= 0 || vm->link < 0 ||
	    read_proc(vm->usage_fd[0], buf, sizeof(buf)) < 0)
		return -1;
	/* proc(5): after "pid (comm) ", state is field 3, utime 14 and
	 * stime 15 (clock ticks) */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			 "%*u %llu %llu", &ut, &st) != 2)
		return -1;
	*cpu_ns = (ut + st) * (1000000000ull /
			       (unsigned long long)(hz > 0 ? hz : 100));
	/* statm: size, then resident (pages) */
	if (read_proc(vm->usage_fd[1], buf, sizeof(buf)) == 0)
		sscanf(buf, "%*u %llu", &pages);
	*rss = pages * (unsigned long long)(pg > 0 ? pg : 4096);
	return 0;
}

void msb_engine_kill(struct msb_vm *vm)
{
	msb_launcher_kill(vm);
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
