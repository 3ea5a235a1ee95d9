/* SPDX-License-Identifier: Apache-2.0 */
/* engine.h - the virtual machine monitor behind a sandbox
 *
 * The supervisor only ever sees this interface, so another engine (our own
 * KVM VMM, Firecracker, Cloud Hypervisor) plugs in without touching devices,
 * agent or CLI. Pause, resume, save and restore join it with snapshots.
 */
#ifndef MSB_ENGINE_H
#define MSB_ENGINE_H

#include <stdint.h>
#include <sys/types.h>

#include "msb.h"

enum msb_accel { MSB_ACCEL_TCG, MSB_ACCEL_KVM };

struct msb_disk {
	const char *path;
	const char *serial;  /* how the agent finds it */
	int readonly;
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

struct msb_vm_spec {
	int acpi;
	const char *kernel;
	const char *initrd;
	const char *cmdline_extra;
	unsigned cpus;
	uint64_t memory_mib;
	enum msb_accel accel;
	int agent_fd;          /* our end is elsewhere; this end goes to the VM */
	const char *net_mac;   /* NULL: no network device */
	int net_fd;            /* with net_mac: the netdev stream's VM end */
	const char *console_log;
	const char *engine_log; /* the monitor's own stderr */
	struct msb_disk disks[16];
	unsigned ndisks;
	struct msb_fsdev fs[MSB_MAX_FSDEVS];
	unsigned nfs;
};

struct msb_vm {
	pid_t pid;
	enum msb_accel accel;
	uint64_t launched_us;
};

/* msb_engine_find() - the monitor binary, or an error saying how to install it. */
int msb_engine_find(char *path, size_t n, msb_error *err);
/* msb_engine_accel() - KVM when /dev/kvm is usable and not known broken. */
enum msb_accel msb_engine_accel(void);
/* msb_engine_mark_kvm_broken() - remember that KVM failed on this machine. */
void msb_engine_mark_kvm_broken(const char *why);
/* msb_engine_launch() - start the VM; it dies with the calling process. */
int msb_engine_launch(const struct msb_vm_spec *spec, struct msb_vm *vm,
		      msb_error *err);
/* msb_engine_kill() - stop it at once. */
void msb_engine_kill(struct msb_vm *vm);

#endif
