/* SPDX-License-Identifier: Apache-2.0 */
/* parse.c - validation of names and sizes given by users */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define NAME_MAX_LEN 63
/* Guests below this do not boot the kernel and agent; above it the host's
 * memory is the limit, checked when QEMU maps it. */
#define MEM_MIN_MIB 64
#define MEM_MAX_MIB (1024 * 1024)

MSB_API int msb_name_valid(const char *name, msb_error *err)
{
	size_t n;

	if (!name || !*name)
		return msb_fail(err, -EINVAL, "a sandbox name is required");
	n = strlen(name);
	if (n > NAME_MAX_LEN)
		return msb_fail(err, -EINVAL,
				"invalid name '%.80s': at most %d characters",
				name, NAME_MAX_LEN);
	if (!isalnum((unsigned char)name[0]))
		return msb_fail(err, -EINVAL,
				"invalid name '%s': it must start with a "
				"letter or a digit",
				name);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return msb_fail(err, -EINVAL,
					"invalid name '%s': use only letters, "
					"digits, '-', '_' and '.'",
					name);
	}
	return 0;
}

MSB_API int msb_parse_memory(const char *s, uint64_t *mib, msb_error *err)
{
	return msb_parse_mib(s, "memory size", MEM_MIN_MIB, MEM_MAX_MIB, mib,
			     err);
}
