/* SPDX-License-Identifier: Apache-2.0 */
/* volumes.h - mount the sandbox's virtio-fs volumes */
#ifndef MSB_AGENT_VOLUMES_H
#define MSB_AGENT_VOLUMES_H

#include "initcfg.h"
#include "log.h"

/**
 * volumes_mount() - mount each volume's tag at its path in the entered root
 * @c: INIT configuration
 * @e: which volume failed and why
 *
 * Mount points are created (with their parents). A volume asked for but
 * not mountable fails the boot: the user counts on it being there.
 * Return: 0 or -errno
 */
int volumes_mount(const struct init_cfg *c, struct agent_err *e);

#endif
