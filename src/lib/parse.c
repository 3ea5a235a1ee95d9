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

int msb_parse_mib(const char *s, const char *what, uint64_t min,
		  uint64_t max, uint64_t *mib, msb_error *err)
{
	char *end;
	double v, mult;

	if (!s || !*s)
		goto bad;
	/* Digits, at most one '.', then letters for the unit: no signs,
	 * spaces, hex or exponents, all of which strtod would take. */
	{
		const char *q = s;
		int dots = 0;

		if (!isdigit((unsigned char)*s))
			goto bad;
		while (isdigit((unsigned char)*q) || (*q == '.' && !dots++))
			q++;
		for (; *q; q++)
			if (!isalpha((unsigned char)*q))
				goto bad;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v))
		goto bad;
	if (!*end || !strcasecmp(end, "m") || !strcasecmp(end, "mb") ||
	    !strcasecmp(end, "mi") || !strcasecmp(end, "mib"))
		mult = 1;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") ||
		 !strcasecmp(end, "gi") || !strcasecmp(end, "gib"))
		mult = 1024;
	else
		goto bad;
	v *= mult;
	if (v != v || v < (double)min || v > (double)max) {
		char lo[32], hi[32];

		msb_fmt_size_mib(min, lo, sizeof(lo));
		msb_fmt_size_mib(max, hi, sizeof(hi));
		return msb_fail(err, -EINVAL,
				"invalid %s '%s': it must be between %s and %s",
				what, s, lo, hi);
	}
	if (v != (double)(uint64_t)v)
		return msb_fail(err, -EINVAL,
				"invalid %s '%s': use a whole number of MiB",
				what, s);
	*mib = (uint64_t)v;
	return 0;
bad:
	return msb_fail(err, -EINVAL,
			"invalid %s '%s': use a number with M or G, e.g. "
			"512M or 1G",
			what, s ? s : "");
}

MSB_API int msb_parse_memory(const char *s, uint64_t *mib, msb_error *err)
{
	return msb_parse_mib(s, "memory size", MEM_MIN_MIB, MEM_MAX_MIB, mib,
			     err);
}
