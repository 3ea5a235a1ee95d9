/* SPDX-License-Identifier: Apache-2.0 */
/* check.h - a sandbox's configuration checked, and the host for its boot
 * (check.c) */
#ifndef MSB_LIB_CHECK_H
#define MSB_LIB_CHECK_H

#include <stdint.h>

#include <json-c/json.h>

#include "msb.h"

/* The memory a sandbox has when its configuration names none. */
#define DEFAULT_MEM_MIB 512

/* msb_sandbox_config_check() - @c's values each valid on its own (name,
 * cpus, memory, disk, environment, working directory, network, secret
 * violation, TLS), its memory no more than the host has. Return: 0, or a
 * negative errno with a message naming the value and what to give. */
int msb_sandbox_config_check(const msb_sandbox_config *c, msb_error *err);

/* msb_host_check() - the host has what a boot of a sandbox needs: the
 * engine, its accelerator, @memory_mib, guest kernel @kernel, and the
 * layer disks @layers of image @image (NULL: none to check). Return: 0, or
 * a negative errno with a message saying how to get what is missing. */
int msb_host_check(json_object *layers, const char *image,
		   const char *kernel, uint64_t memory_mib, msb_error *err);

#endif
