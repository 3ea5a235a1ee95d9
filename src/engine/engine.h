/* SPDX-License-Identifier: Apache-2.0 */
/* engine.h - the virtual machine monitor behind a sandbox
 *
 * The supervisor only ever sees this interface, so another engine (our own
 * KVM VMM, Firecracker, Cloud Hypervisor) plugs in without touching devices,
 * agent or CLI: launch, pause, resume, save, restore, stop, wait.
 *
 * Control of a running VM is asynchronous and driven by the owner's event
 * loop: msb_engine_fd() is polled, msb_engine_dispatch() called when it is
 * ready; requests (pause, resume, status) end in a callback, and what the
 * VM reports by itself (stopped, resumed, a disk error, shutdown) arrives
 * as events named as QEMU names them: "STOP", "RESUME", "BLOCK_IO_ERROR"
 * (data: "device", "operation", "action", "nospace"), "SHUTDOWN",
 * "RESET".
 */
#ifndef MSB_ENGINE_H
#define MSB_ENGINE_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "msb.h"

enum msb_accel { MSB_ACCEL_TCG, MSB_ACCEL_KVM };

struct msb_disk {
	const char *path;
	const char *serial;  /* how the agent finds it */
	int readonly;
	const char *format;  /* NULL: "raw"; "qcow2" for a fork's overlay */
};

/* A vhost-user-fs device: @fd is the VM's end of its socket. */
struct msb_fsdev {
	int fd;
	const char *tag;
};

#define MSB_MAX_FSDEVS 16

/* microvm without ACPI has 8 virtio-mmio transports; the agent port, the
 * network and the upper disk take three, image layers and volumes share
 * the rest. */
#define MSB_ENGINE_VIRTIO_SLOTS 8
#define MSB_ENGINE_FIXED_DEVICES 3
#define MSB_ENGINE_SHARED_SLOTS (MSB_ENGINE_VIRTIO_SLOTS - MSB_ENGINE_FIXED_DEVICES)

/* A guest kernel and the initramfs built for it, under share/msb/. */
struct msb_guest {
	const char *name;
	const char *kernel;
	const char *initrd;
	int acpi;       /* devices found through ACPI (else on the command line) */
};

const struct msb_guest *msb_guest_find(const char *name);
/* msb_guest_default() - $MSB_KERNEL, else "msb" when built, else "cloud". */
const char *msb_guest_default(void);
/* msb_guest_paths() - its files, or an error saying how to get them. */
int msb_guest_paths(const char *name, char *kernel, char *initrd, size_t n,
		    const struct msb_guest **out, msb_error *err);

/* An event the VM reported by itself; @data is borrowed (may be NULL). */
typedef void (*msb_engine_event_fn)(void *opaque, const char *event,
				    json_object *data);
/* A request's end: @rc 0, or a negative errno and @why. */
typedef void (*msb_engine_done_fn)(void *opaque, int rc, const char *why);

struct msb_vm_spec {
	int acpi;
	const char *kernel;
	const char *initrd;
	const char *cmdline_extra;
	unsigned cpus;
	uint64_t memory_mib;
	enum msb_accel accel;
	/* Under TCG: the translated-code buffer's size in MiB (0: QEMU's
	 * own, 1 GiB); msb_engine_tcg_tb_check(). Unused under KVM. */
	unsigned tcg_tb_mib;
	int agent_fd;          /* our end is elsewhere; this end goes to the VM */
	const char *net_mac;   /* NULL: no network device */
	int net_fd;            /* with net_mac: the netdev stream's VM end */
	/* @net_fd is instead an O_PATH descriptor of the listening socket
	 * of a vhost-user-net backend (the supervisor's stack,
	 * src/net/vnet.c); RAM must be shared (no @restore_ram) */
	int net_vhost;
	/* The serial console: with @console_fd > 0, a socket the caller
	 * reads (and caps, src/supervisor/log.c); else a file at
	 * @console_log. The monitor's own stdout and stderr: @log_fd > 0, a
	 * pipe the caller reads, else the file @engine_log. */
	const char *console_log;
	const char *engine_log;
	int console_fd;
	int log_fd;
	struct msb_disk disks[16];
	unsigned ndisks;
	struct msb_fsdev fs[MSB_MAX_FSDEVS];
	unsigned nfs;
	msb_engine_event_fn on_event; /* may be NULL */
	void *event_opaque;
	/* A restore: the VM starts frozen, its RAM a private (copy-on-write)
	 * mapping of @restore_ram, and waits for msb_engine_restore() to
	 * load the device state from @restore_state_fd (-1: none). */
	const char *restore_ram;
	int restore_state_fd;
	int ram_fd;            /* set by msb_engine_launch(): the RAM memfd */
};

struct msb_qmp;
struct msb_engine_op;

/* What the last msb_engine_save() wrote and how long it took. */
struct msb_save_info {
	uint64_t state_bytes;   /* device state */
	uint64_t ram_bytes;     /* RAM pages written (the file is sparse) */
	uint64_t ram_size;      /* the file's size: the guest's memory */
	uint64_t state_us, ram_us;
};

/**
 * struct msb_vmm_jail - how the VMM is confined (docs/security.md)
 * @confine: 0 only for benchmarks (MSB_NO_CONFINE=1): no -sandbox, no
 *           Landlock, no uid of its own, the caller's environment
 * @uid:     what the launcher and the VMM run as: as root an
 *           unprivileged uid of the VMM's own (msb_vmm_jail_default()),
 *           else the caller's own (nothing changes)
 * @gid:     the same for the group
 * @kvm_gid: a supplementary group for /dev/kvm (as root), or -1
 */
struct msb_vmm_jail {
	int confine;
	uid_t uid;
	gid_t gid;
	gid_t kvm_gid;
};

struct msb_vm {
	pid_t pid;
	enum msb_accel accel;
	uint64_t launched_us;
	struct msb_qmp *qmp;   /* the control link (QEMU: its QMP monitor) */
	int ram_fd;            /* guest RAM shared with us (-1: private) */
	uint64_t ram_size;
	msb_engine_event_fn on_event;
	void *event_opaque;
	struct msb_engine_op *op; /* a save or restore under way */
	int restore_state_fd;  /* from the spec, for msb_engine_restore() */
	int restore_state_vmm_fd; /* the same, as the VMM numbers it */
	struct msb_save_info saved;
	/* The launcher (msb_engine_prepare(), src/engine/launcher.c): its
	 * socket @link is readable when the VM ended (msb_engine_reap()).
	 * @files: what the VM opens (kernel, initrd, console, a restored
	 * VM's RAM file, two per disk and a qcow2 disk's backing file),
	 * opened at each launch, closed once QEMU has them; @tsc_khz: the
	 * host TSC
	 * rate; @confined: not MSB_NO_CONFINE; @note: how the launcher
	 * confined itself. */
	pid_t launcher;
	int link;
	int files[4 + 3 * 16];
	unsigned int nfiles;
	unsigned long tsc_khz;
	int confined;
	char note[256];
	/* the VM's /proc/PID/stat and statm, opened by the launcher (a
	 * confined supervisor may not open /proc): msb_engine_usage() */
	int usage_fd[2];
};

/* msb_engine_find() - the monitor binary, or an error saying how to install it. */
int msb_engine_find(char *path, size_t n, msb_error *err);
/* msb_engine_accel_check() - the accelerator $MSB_ACCEL asks for: unset,
 * KVM when /dev/kvm opens and has not been found broken here, else TCG;
 * "tcg"; "kvm", which fails when /dev/kvm cannot be opened (*@forced
 * set: no falling back to TCG either). Anything else is an error. */
int msb_engine_accel_check(enum msb_accel *out, int *forced, msb_error *err);
/* msb_engine_tcg_tb_check() - the size of TCG's translated-code buffer,
 * in MiB: $MSB_TCG_TB_MIB (0 for QEMU's own 1 GiB, else 8 to 4096), or
 * MSB_TCG_TB_MIB_DEFAULT when it is unset. Return: 0, or -EINVAL and
 * @err saying what to set. */
#define MSB_TCG_TB_MIB_DEFAULT 64
int msb_engine_tcg_tb_check(unsigned *mib, msb_error *err);
/* msb_engine_accel() - the same, TCG when it fails. */
enum msb_accel msb_engine_accel(void);
/* msb_engine_mark_kvm_broken() - remember that KVM failed on this machine. */
void msb_engine_mark_kvm_broken(const char *why);

/* The argument QEMU confines itself with (its seccomp filter). */
#define MSB_QEMU_SANDBOX \
	"on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
/* Where root's VMMs take their uids: MSB_VMM_UID_BASE + the supervisor's
 * pid (unique among live processes, below pid_max's 2^22 limit), past
 * systemd's container range (which ends at 0x6fffffff). MSB_VMM_UID_BASE
 * itself (no pid is 0) is the group every root VMM has: a snapshot's RAM
 * file is that group's, so that its forks' VMMs may map it. */
#define MSB_VMM_UID_BASE 0x70000000u
#define MSB_VMM_UID_COUNT (1u << 22)
#define MSB_VMM_GID ((gid_t)MSB_VMM_UID_BASE)

/* msb_vmm_jail_default() - @confine as given; as root, an unprivileged
 * uid and gid of its own for the VMM of the supervisor with pid @pid
 * (and /dev/kvm's group); otherwise the caller's own. */
void msb_vmm_jail_default(struct msb_vmm_jail *j, pid_t pid, int confine);
/* msb_vmm_kvm_reachable() - whether the VMM, run as @j says, can open
 * /dev/kvm (as root with a /dev/kvm that only root may open, it cannot:
 * the caller then boots under TCG and says why). */
int msb_vmm_kvm_reachable(const struct msb_vmm_jail *j);

/**
 * msb_engine_prepare() - what launching needs that a confined supervisor
 * can no longer do: find the VMM binary, measure the TSC rate, and fork
 * the launcher, which starts (and kills) the VMM on request from then on
 * (src/engine/launcher.c). Call it before confining the caller and before
 * it holds secrets (the launcher is a copy of it). The caller must still
 * be able to open @spec's files at each launch (its Landlock rules name
 * them: src/supervisor/confine.c).
 * Return: 0 or -errno with @err set.
 */
int msb_engine_prepare(const struct msb_vm_spec *spec, struct msb_vm *vm,
		       const struct msb_vmm_jail *j, msb_error *err);
/* msb_engine_launch() - start the VM through the launcher; it dies with
 * the launcher, which dies with the calling process. */
int msb_engine_launch(const struct msb_vm_spec *spec, struct msb_vm *vm,
		      msb_error *err);
/**
 * msb_engine_reap() - after @vm->link turned readable: how the VM ended.
 * Return: 1 with *@status (as waitpid() gives it) when the VM exited or
 * the launcher is gone (then SIGKILL), 0 if there was nothing to read.
 */
int msb_engine_reap(struct msb_vm *vm, int *status);
/* msb_engine_usage() - the VM's CPU time (ns, all its threads) and
 * resident memory (bytes). Return: 0, or -1 if there is no VM to ask. */
int msb_engine_usage(const struct msb_vm *vm, uint64_t *cpu_ns,
		     uint64_t *rss);
/* msb_engine_release() - end the launcher (and a VM still running). */
void msb_engine_release(struct msb_vm *vm);
/**
 * msb_engine_argv() - the monitor's command line for @spec, every file
 * named by its path (msb_engine_launch() hands descriptors over instead)
 * @spec: the VM
 * @qemu: argv[0]
 * @qmp_fd: the monitor's end of the control link (QMP)
 * @argv: set to a NULL-terminated array; free(*@argv) frees it all
 * @err:  why it could not be built (it does not fit)
 *
 * Return: 0, or a negative errno with @err set
 */
int msb_engine_argv(const struct msb_vm_spec *spec, const char *qemu,
		    int qmp_fd, char ***argv, msb_error *err);

/**
 * msb_qemu_opt_escape() - @s as a value inside a QEMU option string
 * ("key=value,key=value"): every ',' doubled
 * @s:   the value
 * @out: receives it, NUL-terminated
 * @n:   size of @out
 *
 * Return: its length, or (size_t)-1 if it does not fit
 */
size_t msb_qemu_opt_escape(const char *s, char *out, size_t n);

/* msb_engine_kill() - stop it at once. */
void msb_engine_kill(struct msb_vm *vm);
/* msb_engine_close() - drop the control link, once the VM has exited. */
void msb_engine_close(struct msb_vm *vm);

/* msb_engine_fd() - the descriptor to poll (readable; writable as well
 * while msb_engine_want_write()), or -1 when there is none. */
int msb_engine_fd(const struct msb_vm *vm);
int msb_engine_want_write(const struct msb_vm *vm);
/* msb_engine_dispatch() - handle @events (EPOLLIN, EPOLLOUT...) on it:
 * answers go to their callbacks, events to the spec's on_event.
 * Return: 0, or an error once the control link is gone. */
int msb_engine_dispatch(struct msb_vm *vm, uint32_t events, msb_error *err);

/* msb_engine_pause() - stop the vCPUs (the guest is frozen, not shut down;
 * its disks are flushed); @done (may be NULL) once they are. */
int msb_engine_pause(struct msb_vm *vm, msb_engine_done_fn done, void *opaque,
		     msb_error *err);
/* msb_engine_resume() - run the vCPUs again. */
int msb_engine_resume(struct msb_vm *vm, msb_engine_done_fn done,
		      void *opaque, msb_error *err);
/* msb_engine_status() - @cb gets the run state ("running", "paused",
 * "io-error", "shutdown", ...) and whether the vCPUs run; NULL and 0 if the
 * VM could not say. */
typedef void (*msb_engine_status_fn)(void *opaque, const char *status,
				     int running);
int msb_engine_status(struct msb_vm *vm, msb_engine_status_fn cb,
		      void *opaque, msb_error *err);

/* msb_engine_save() - with the VM paused: its device state to @dir/state
 * and its RAM to @dir/ram (sparse: only pages holding data), files that
 * never change afterwards. The VM stays paused. Only a VM whose RAM is
 * shared with us (not a restored one) can be saved. */
int msb_engine_save(struct msb_vm *vm, const char *dir, msb_engine_done_fn done,
		    void *opaque, msb_error *err);
/* msb_engine_restore() - load the device state given at launch and run. */
int msb_engine_restore(struct msb_vm *vm, msb_engine_done_fn done,
		       void *opaque, msb_error *err);
/* msb_engine_version() - the monitor's version, e.g. "7.2.19", for
 * snapshots (whose device state only that version is sure to load). */
int msb_engine_version(char *buf, size_t n, msb_error *err);
/* msb_copy_sparse() - @src's data into a new file @path of @size bytes,
 * holes (and 4 KiB blocks of zeros) left as holes. Return: bytes written,
 * or an error (the file removed). */
int64_t msb_copy_sparse(int src, const char *path, uint64_t size,
			msb_error *err);

#endif
