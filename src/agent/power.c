/* SPDX-License-Identifier: Apache-2.0 */
/* power.c - ending the VM: fatal errors, orderly shutdown, power-off */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

#include "port.h"
#include "power.h"
#include "rootfs.h"

/* Processes in uninterruptible sleep may take a moment to die. */
#define KILL_WAIT_MS 2000

/* power_off() - end the VM. QEMU always runs with -no-reboot, so a reset
 * ends it just as a power-off would, and every kernel can reset (reboot=t:
 * a triple fault, instant), whereas the project's kernel has no ACPI and
 * would only halt on RB_POWER_OFF. */
void power_off(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	agent_log("reset: %s; powering off", strerror(errno));
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

void agent_fatal(const struct agent_err *e)
{
	agent_log("fatal: %s", e->msg);
	if (port_fd() >= 0) {
		port_send_str(0, MSB_F_ERROR, e->msg);
		/* The port write returns once the buffer is queued; QEMU
		 * forwards it on the kick, unless the host socket is full.
		 * Give its main loop a moment before the VM is gone. */
		usleep(100000);
	}
	power_off();
}

void system_shutdown(void)
{
	uint64_t deadline = clock_mono_ms() + KILL_WAIT_MS;

	kill(-1, SIGKILL);
	for (;;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid < 0 || clock_mono_ms() >= deadline)
			break; /* ECHILD: all gone */
		if (pid == 0)
			usleep(5000);
	}
	sync();
	rootfs_unmount();
	power_off();
}
