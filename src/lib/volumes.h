/* SPDX-License-Identifier: Apache-2.0 */
/* volumes.h - a sandbox's volumes, from msb_volume to its record */
#ifndef MSB_LIB_VOLUMES_H
#define MSB_LIB_VOLUMES_H

#include <json-c/json.h>

#include "msb.h"

/* At most this many volumes; the VM's device slots may allow fewer. */
#define MSB_VOLUMES_MAX 8
#define MSB_VOLUME_MEM_DEFAULT_MIB 64

/* msb_volume_guest_check() - @guest is a path a volume may be mounted at
 * (absolute, not /, nothing msb mounts or writes at boot); the message
 * names @flag. */
int msb_volume_guest_check(const char *flag, const char *guest,
			   msb_error *err);

/**
 * msb_volumes_json() - check @n volumes and make the "volumes" array the
 * supervisor reads (src/supervisor/fs.c): host paths made absolute, each
 * checked to exist.
 * Return: 0 with *@out set (NULL when @n is 0), or -errno with a message
 * naming the volume and what to do.
 */
int msb_volumes_json(const msb_volume *v, size_t n, json_object **out,
		     msb_error *err);

#endif
