/* SPDX-License-Identifier: Apache-2.0 */
/* volstore.h - named volumes under <home>/volumes, for the library's own use */
#ifndef MSB_LIB_VOLSTORE_H
#define MSB_LIB_VOLSTORE_H

#include <stdint.h>

#include "msb.h"

/* msb_volstore_paths() - volume @name's data directory and usage counter
 * (each into a buffer of @n bytes). */
int msb_volstore_paths(const char *name, char *data, char *counter, size_t n);

/* msb_volstore_create() - msb_volume_create(), recording @project (may be
 * NULL) as the project that made it. */
int msb_volstore_create(const char *name, uint64_t size_mib,
			const char *project, msb_volume_info *info,
			msb_error *err);

/* msb_volstore_size() - volume @name's size limit in MiB (0: none).
 * Return: 0, or -ENOENT when there is no such volume. */
int msb_volstore_size(const char *name, uint64_t *size_mib);

/* msb_volstore_set_size() - a new size limit, for the sandboxes that
 * mount it from now on. */
int msb_volstore_set_size(const char *name, uint64_t size_mib,
			  msb_error *err);

#endif
