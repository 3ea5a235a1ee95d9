/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs.h - assemble the sandbox root (EROFS layers + ext4 upper) and enter it */
#ifndef MSB_AGENT_ROOTFS_H
#define MSB_AGENT_ROOTFS_H

#include "initcfg.h"
#include "log.h"

/* Where the pieces are mounted; /run moves into the new root, so they stay
 * visible there. */
#define ROOTFS_RUN "/run/msb"
#define ROOTFS_UPPER ROOTFS_RUN "/upper"
#define ROOTFS_NEW "/newroot"

/**
 * rootfs_setup() - mount layers and upper, overlay them, switch root into it
 * @c: INIT configuration; without an upper disk nothing is done and the
 *     initramfs stays the root
 * @e: which step failed and why
 *
 * Return: 0 or -errno
 */
int rootfs_setup(const struct init_cfg *c, struct agent_err *e);

/**
 * rootfs_unmount() - make the upper disk consistent before power-off
 *
 * Remounts the overlay root and the upper read-only so the ext4 journal is
 * committed and the filesystem marked clean. Failures are only logged.
 */
void rootfs_unmount(void);

#endif
