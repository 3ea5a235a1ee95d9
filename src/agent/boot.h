/* SPDX-License-Identifier: Apache-2.0 */
/* boot.h - first mounts, the console, and the /dev of the final root */
#ifndef MSB_AGENT_BOOT_H
#define MSB_AGENT_BOOT_H

#include "log.h"

/**
 * boot_early() - mount devtmpfs, proc, sysfs and /run; console on fds 0-2
 * @e: failure message
 *
 * The initramfs holds no device nodes, so devtmpfs comes first and the
 * console is opened right after it: every later message has somewhere to go.
 * Return: 0 or -errno
 */
int boot_early(struct agent_err *e);

/**
 * boot_dev_extras() - devpts, /dev/shm and the /dev/fd links, in the final root
 * @e: failure message
 *
 * Return: 0 or -errno
 */
int boot_dev_extras(struct agent_err *e);

/* mkdir_p() - mkdir() that accepts an existing directory. Return: 0 or -errno */
int mkdir_p(const char *path, unsigned int mode);

#endif
