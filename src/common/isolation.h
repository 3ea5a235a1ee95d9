/* SPDX-License-Identifier: Apache-2.0 */
/* isolation.h - Landlock, capabilities and no_new_privs for the processes
 * that face the guest: the supervisor and the VMM (docs/security.md)
 *
 * Landlock is applied best effort, as its documentation asks: the rights
 * a kernel's ABI does not know are left out, and a kernel without Landlock
 * gets none (the caller logs it). A rule names a path and a class of
 * access; directories cover what is beneath them, files themselves.
 */
#ifndef MSB_ISOLATION_H
#define MSB_ISOLATION_H

#include <stddef.h>
#include <stdint.h>

/* Access classes of a rule. */
enum msb_ll_access {
	MSB_LL_READ,   /* read files, list directories */
	MSB_LL_EXEC,   /* the same, and execute */
	MSB_LL_RW,     /* everything a filesystem offers, device nodes
			* excepted (no mknod of char or block devices) */
	MSB_LL_DEV,    /* a device file: read, write, ioctl */
	MSB_LL_RMDIR,  /* remove (empty) directories beneath, nothing else */
};

/**
 * struct msb_ll_rule - one Landlock rule
 * @path:     absolute path (NULL: the entry is skipped)
 * @access:   what is allowed on it and beneath it
 * @optional: a path that does not exist is skipped (else an error)
 * @who:      who needs it, for messages and for readers of the table
 */
struct msb_ll_rule {
	const char *path;
	enum msb_ll_access access;
	int optional;
	const char *who;
};

/* Flags of msb_landlock_apply(). */
#define MSB_LL_NO_TCP (1u << 0) /* no TCP bind or connect (ABI 4) */
#define MSB_LL_SCOPE  (1u << 1) /* no signals or abstract unix sockets
				 * out of the domain (ABI 6) */
#define MSB_LL_NO_TCP_BIND (1u << 2) /* no TCP bind (ABI 4) */

/* msb_landlock_abi() - the kernel's Landlock ABI version, 0 if it has
 * none (not built, not enabled at boot, or seccomp refused the call). */
int msb_landlock_abi(void);

/**
 * msb_landlock_apply() - restrict this thread (and what it starts) to
 * @rules. Sets no_new_privs, which Landlock needs.
 * @why: the message when it fails, or what was left out (kernel too old)
 * Return: the ABI applied (> 0), 0 when the kernel has no Landlock (@why
 * says so), or -errno (@why says why: a rule's path cannot be opened).
 */
int msb_landlock_apply(const struct msb_ll_rule *rules, size_t n,
		       unsigned int flags, char *why, size_t len);

/**
 * msb_landlock_make() - the ruleset of msb_landlock_apply(), made now
 * (while @rules' paths can be opened) and enforced later, on this
 * process or on a child before it executes something, with
 * msb_landlock_enforce().
 * @abi: the kernel's Landlock ABI (0: none)
 * Return: the ruleset's descriptor (close-on-exec), -ENOSYS when the
 * kernel has no Landlock, or -errno (@why says why).
 */
int msb_landlock_make(const struct msb_ll_rule *rules, size_t n,
		      unsigned int flags, int *abi, char *why, size_t len);

/* msb_landlock_enforce() - no_new_privs, then @ruleset on this thread
 * (and what it starts), on top of any it already has. Return: 0 or
 * -errno. */
int msb_landlock_enforce(int ruleset);

/* msb_no_new_privs() - PR_SET_NO_NEW_PRIVS; Return: 0 or -errno. */
int msb_no_new_privs(void);

/* msb_caps_drop_bounding() - empty the bounding and ambient sets: what
 * the process has stays (a root that still has to change uid can), what
 * it or its children could ever get is nothing. Return: 0 or -errno. */
int msb_caps_drop_bounding(void);

/* msb_caps_drop_all() - no capability left in any set, bounding and
 * ambient included (with CAP_SETPCAP, which root has, until the end).
 * Return: 0 or -errno. */
int msb_caps_drop_all(void);

#endif
