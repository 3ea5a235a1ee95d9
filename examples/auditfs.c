/* SPDX-License-Identifier: Apache-2.0 */
/* auditfs.c - AuditFs: log every open of a volume with the guest's pid
 *
 * A filesystem plugin that gives hooks instead of a backend of its own:
 * the supervisor wraps the volume's source (a passthrough of the host
 * directory) in a proxy that calls them around every operation, so the
 * plugin sees each call and forwards nothing by hand.
 *
 *   cc -shared -fPIC -I include examples/auditfs.c -o auditfs.so
 *
 * Each open and create becomes a line in the sandbox's log:
 *   open ino=42 flags=0x8001 pid=317
 * With the argument "deny-writes", opening anything for writing gets
 * EACCES, from the host, whatever the guest does.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msb_fs.h>

struct audit {
	const struct msb_fs_host *host;
	int deny_writes;
};

static int before(void *state, const struct msb_fs_call *call)
{
	struct audit *a = state;
	char line[400];

	if (call->op != MSB_FS_OP_OPEN && call->op != MSB_FS_OP_CREATE)
		return 0;
	if (call->op == MSB_FS_OP_OPEN)
		snprintf(line, sizeof(line), "open ino=%llu flags=%#llx pid=%u",
			 (unsigned long long)call->ino,
			 (unsigned long long)call->flags, call->ctx->pid);
	else
		snprintf(line, sizeof(line),
			 "create %s in ino=%llu flags=%#llx pid=%u", call->name,
			 (unsigned long long)call->ino,
			 (unsigned long long)call->flags, call->ctx->pid);
	a->host->log(a->host->ctx, line);
	if (a->deny_writes && (call->op == MSB_FS_OP_CREATE ||
			       (call->flags & O_ACCMODE) != O_RDONLY ||
			       (call->flags & O_TRUNC)))
		return -EACCES;
	return 0;
}

static void close_audit(void *state)
{
	free(state);
}

static const struct msb_fs_hooks hooks = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_hooks),
	.name = "auditfs",
	.before = before,
	.close = close_audit,
};

int msb_fs_plugin_open(const struct msb_fs_host *host, const char *arg,
		       struct msb_fs_plugin *out, char *err, size_t errlen);

int msb_fs_plugin_open(const struct msb_fs_host *host, const char *arg,
		       struct msb_fs_plugin *out, char *err, size_t errlen)
{
	struct audit *a;

	if (host->abi != MSB_FS_ABI) {
		snprintf(err, errlen, "built for msb_fs.h version %u, host "
			 "speaks %u", MSB_FS_ABI, host->abi);
		return -EINVAL;
	}
	if (*arg && strcmp(arg, "deny-writes")) {
		snprintf(err, errlen, "unknown argument \"%s\" (the only one "
			 "is deny-writes)", arg);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->host = host;
	a->deny_writes = !strcmp(arg, "deny-writes");
	out->hooks = &hooks;
	out->hook_state = a;
	return 0;
}
