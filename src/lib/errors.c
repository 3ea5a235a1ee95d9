/* SPDX-License-Identifier: Apache-2.0 */
/* errors.c - names of the library's error codes (msb.h, MSB_E_*) and of
 * the errno values that travel by name in the API protocol
 *
 * SDKs map codes to their own error types; a name makes a code readable in
 * their messages and logs without a table of errno values per language.
 * File operations in the guest report an errno, which the supervisor
 * sends by name ("ENOSPC"), so no peer depends on another's numbering.
 */

#include <errno.h>
#include <string.h>

#include "msb.h"
#include "util.h"

static const struct {
	int code;
	const char *name;
} msb_names[] = {
	{ MSB_E_NOT_FOUND, "MSB_E_NOT_FOUND" },
	{ MSB_E_EXISTS, "MSB_E_EXISTS" },
	{ MSB_E_INVALID, "MSB_E_INVALID" },
	{ MSB_E_NOT_RUNNING, "MSB_E_NOT_RUNNING" },
	{ MSB_E_ALREADY, "MSB_E_ALREADY" },
	{ MSB_E_BUSY, "MSB_E_BUSY" },
	{ MSB_E_TIMEOUT, "MSB_E_TIMEOUT" },
	{ MSB_E_STOPPED, "MSB_E_STOPPED" },
	{ MSB_E_PERMISSION, "MSB_E_PERMISSION" },
	{ MSB_E_PROTOCOL, "MSB_E_PROTOCOL" },
	{ MSB_E_PULL, "MSB_E_PULL" },
	{ MSB_E_IMAGE_NOT_FOUND, "MSB_E_IMAGE_NOT_FOUND" },
	{ MSB_E_BOOT, "MSB_E_BOOT" },
	{ MSB_E_POLICY, "MSB_E_POLICY" },
	{ MSB_E_EXEC, "MSB_E_EXEC" },
	{ MSB_E_DAMAGED, "MSB_E_DAMAGED" },
	{ MSB_E_KIND, "MSB_E_KIND" },
	{ MSB_E_CONFLICT, "MSB_E_CONFLICT" },
};

#define E(x) { x, #x }
static const struct {
	int code;
	const char *name;
} errno_names[] = {
	E(EPERM), E(ENOENT), E(EIO), E(E2BIG), E(ENOEXEC), E(EBADF),
	E(EAGAIN), E(ENOMEM), E(EACCES), E(EBUSY), E(EEXIST), E(EXDEV),
	E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ETXTBSY),
	E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE),
	E(ENAMETOOLONG), E(ENOTEMPTY), E(ELOOP), E(EOVERFLOW), E(EDQUOT),
	E(ENOTCONN), E(ETIMEDOUT), E(EALREADY), E(EPROTO), E(EHOSTUNREACH),
	E(EBADMSG), E(EOPNOTSUPP), E(ENODEV), E(ENXIO), E(EINTR),
	E(ECONNREFUSED), E(ESTALE), E(ENOSYS), E(ERANGE),
};
#undef E

const char *msb_errno_name(int e)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]);
	     i++)
		if (errno_names[i].code == e)
			return errno_names[i].name;
	return NULL;
}

int msb_errno_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(errno_names) /
						  sizeof(errno_names[0]);
	     i++)
		if (!strcmp(errno_names[i].name, name))
			return errno_names[i].code;
	return 0;
}

MSB_API const char *msb_error_name(int code)
{
	const char *n;

	for (size_t i = 0; i < sizeof(msb_names) / sizeof(msb_names[0]); i++)
		if (msb_names[i].code == code)
			return msb_names[i].name;
	n = code < 0 ? msb_errno_name(-code) : NULL;
	return n ? n : "MSB_E_UNKNOWN";
}
