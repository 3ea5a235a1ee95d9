/* SPDX-License-Identifier: Apache-2.0 */
/* restore.h - snapshots from the guest's side: hold still while one is
 * taken, and become a new machine when restored from one */
#ifndef MSB_AGENT_RESTORE_H
#define MSB_AGENT_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* The file where restored processes read the --env overrides of the last
 * restore, one "K=V" a line (docs/snapshots.md). */
#define RESTORE_ENV_FILE "/run/msb/env"

/**
 * restore_hold() - answer QUIESCE and send nothing until the host says
 * THAW (the snapshot is taken) or RESTORED (this is a restored copy)
 * @dispatch: what to do with any other frame that arrives meanwhile
 *
 * Only the port is read meanwhile: the streams' output and exits wait in
 * their pipes, so no frame is cut by the snapshot in either direction.
 */
void restore_hold(void (*dispatch)(const struct msb_frame_hdr *h,
				   const uint8_t *p));

/* restore_apply() - RESTORED's TLVs: hostname, clock, entropy, env.
 * Return: 0, or -errno of the first that failed (the rest are applied). */
int restore_apply(const uint8_t *p, size_t n);

#endif
