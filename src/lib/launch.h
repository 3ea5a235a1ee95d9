/* SPDX-License-Identifier: Apache-2.0 */
/* launch.h - a sandbox's supervisor started, and its first word awaited
 * (launch.c) */
#ifndef MSB_LIB_LAUNCH_H
#define MSB_LIB_LAUNCH_H

#include <stdint.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "msb.h"

/* msb_supervisor_spawn() - start sandbox @name's supervisor detached and
 * wait (@timeout_ms and a margin) for its word: the guest ready, its boot
 * time into *@boot_ms. @t0_us: when the caller began (boot timings);
 * @secrets and @secrets_fd (-1: none): the sealed secrets it is given;
 * @restore_dir: a snapshot to continue (NULL: boot fresh); @creating: its
 * first start. Return: 0, MSB_E_BOOT with the supervisor's reason,
 * MSB_E_ALREADY if another supervisor runs it, or a negative errno. */
int msb_supervisor_spawn(const char *name, unsigned timeout_ms,
			 uint64_t t0_us, json_object *secrets, int secrets_fd,
			 uint64_t *boot_ms, const char *restore_dir,
			 int creating, msb_error *err);

/* msb_supervisor_wait_gone() - wait, at most @ms, until @name's
 * supervisor (its lock, or process @pid holding it; 0: none known) has
 * gone. */
void msb_supervisor_wait_gone(const char *name, int pid, unsigned ms);

/* msb_boot_failed() - after MSB_E_BOOT from msb_supervisor_spawn(): the
 * guest console's last lines into @err (NULL: no message wanted), and an
 * @ephemeral sandbox removed, any other kept, failed. */
void msb_boot_failed(sqlite3 *db, const char *name, int ephemeral,
		     msb_error *err);

#endif
