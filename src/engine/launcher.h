/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.h - the VMM's parent, inside the engine (launcher.c) */
#ifndef MSB_ENGINE_LAUNCHER_H
#define MSB_ENGINE_LAUNCHER_H

#include "engine.h"

/* Descriptors the VMM gets are numbered from 3 (0 is /dev/null, 1 and 2
 * its log). */
#define MSB_VMM_FIRST_FD 3
#define MSB_VMM_MAX_FDS 48

/* msb_launcher_start() - fork the launcher (see msb_engine_prepare()):
 * it confines itself as @j says, for the VMM @qemu of @spec (which reads
 * its kernel and initrd, and maps a restored VM's RAM file).
 * Return: 0 (@vm->link, @vm->launcher set) or -errno. */
int msb_launcher_start(struct msb_vm *vm, const char *qemu,
		       const struct msb_vm_spec *spec,
		       const struct msb_vmm_jail *j, msb_error *err);

/* msb_launcher_spawn() - start @argv (whose [0] must be the launcher's
 * VMM) with @logfd as its stdout and stderr and @fds[i] as its
 * descriptor 3 + i. @usage gets the VMM's /proc/PID/stat and statm,
 * opened by the launcher (-1 each if it could not; the caller closes
 * them). Return: 0 (@vm->pid set) or -errno. */
int msb_launcher_spawn(struct msb_vm *vm, char *const *argv, int logfd,
		       const int *fds, unsigned int nfds, int usage[2],
		       msb_error *err);

/* msb_launcher_kill() - SIGKILL to the VM, by the launcher. */
void msb_launcher_kill(struct msb_vm *vm);

/* msb_vmm_root() - as root, in the launcher: a mount namespace whose root
 * holds only what the VMM reads by path (vmmroot.c), the host's root
 * detached. Return: 0; 1 when root may not make mounts here (@why says
 * why; the host's root stays); or -errno with @why set (a half-made
 * root: the launcher must not go on). */
int msb_vmm_root(char *why, size_t n);

#endif
