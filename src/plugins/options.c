/* SPDX-License-Identifier: Apache-2.0 */
/* options.c - the built-ins' options, checked (builtin.h)
 *
 * In the library too: msb_plugins_add() checks each option as the
 * built-in will read it at the supervisor's start, so a bad one fails
 * `msb run --plugin` before a sandbox is made, with the same message.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "util.h"
#include "msb_fs.h"

int ratelimit_rate(const char *k, const char *s, double *out, char *why,
		   size_t wn)
{
	char *end;
	double d = msb_strtod(s, &end);

	if (!*s || *end || d <= 0 || d > 1e6) {
		snprintf(why, wn, "rate-limiter: %s=%s: give a number of "
			 "events a second above 0", k, s);
		return -1;
	}
	*out = d;
	return 0;
}

int ratelimit_bytes(const char *s, uint64_t *bps)
{
	char *end;
	double d = msb_strtod(s, &end), mul = 1;

	if (end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		mul = 1024.0, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024.0 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1024.0 * 1024 * 1024, end++;
	d *= mul;
	if (*end || !(d >= 1024) || d > 10.0 * 1024 * 1024 * 1024)
		return -1;
	*bps = (uint64_t)d;
	return 0;
}

int ratelimit_bytes_check(const char *s, uint64_t *bps, char *why, size_t wn)
{
	if (ratelimit_bytes(s, bps) == 0)
		return 0;
	snprintf(why, wn, "rate-limiter: bytes=%s: give bytes a second, 1k to "
		 "10g (64k, 1.5m: KiB, MiB, GiB)", s);
	return -1;
}

int audit_fs_ops(const char *s, uint64_t *ops, char *why, size_t wn)
{
	char buf[512], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	*ops = 0;
	for (char *t = strtok_r(buf, "+", &save); t;
	     t = strtok_r(NULL, "+", &save)) {
		int k = hook_fs_op_parse(t);

		if (k < 0 || k == MSB_FS_OP_FORGET) {
			snprintf(why, wn, "audit-log: fs=%s: '%s' is not a "
				 "filesystem operation (docs/plugins.md)", s, t);
			return -1;
		}
		*ops |= 1ull << k;
	}
	if (!*ops) {
		snprintf(why, wn, "audit-log: fs=%s: name filesystem operations "
			 "joined by '+' (open+create)", s);
		return -1;
	}
	return 0;
}

int builtin_option_check(const char *name, const char *key,
			 const char *value, char *why, size_t wn)
{
	uint64_t u;
	double d;

	if (!strcmp(name, "rate-limiter") &&
	    (!strcmp(key, "exec") || !strcmp(key, "connect")))
		return ratelimit_rate(key, value, &d, why, wn);
	if (!strcmp(name, "rate-limiter") && !strcmp(key, "bytes"))
		return ratelimit_bytes_check(value, &u, why, wn);
	if (!strcmp(name, "audit-log") && !strcmp(key, "fs"))
		return audit_fs_ops(value, &u, why, wn);
	return 0;
}
