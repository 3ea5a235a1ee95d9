/* SPDX-License-Identifier: Apache-2.0 */
/* auditfs.c - AuditFs: a host directory, every open logged with its pid
 *
 * A filesystem plugin that gives hooks rather than a whole backend: it
 * asks the host for a passthrough of the directory it is given and the
 * supervisor runs the hooks around every operation on it (the proxy
 * backend), so the plugin forwards nothing by hand.
 *
 *   cc -shared -fPIC -I include examples/auditfs.c -o auditfs.so
 *   msb run --volume-plugin $PWD/auditfs.so:/data:$PWD/data -- cat /data/x
 *   msb logs NAME     # ... open ino=2 flags=0x8000 pid=57
 *
 * The argument is DIR, an absolute host directory, optionally followed by
 * ",deny-writes": then opening anything for writing, or creating, gets
 * EACCES from the host, whatever the guest does. Given no DIR, it wraps the
 * volume's own source, if the volume has one.
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
	static const char flag[] = "deny-writes";
	char dir[4096];
	const char *comma;
	struct audit *a;
	int rc;

	if (host->abi != MSB_FS_ABI) {
		snprintf(err, errlen, "built for msb_fs.h version %u, host "
			 "speaks %u", MSB_FS_ABI, host->abi);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->host = host;
	/* DIR[,deny-writes] or deny-writes */
	comma = strrchr(arg, ',');
	if (!strcmp(comma ? comma + 1 : arg, flag)) {
		a->deny_writes = 1;
		snprintf(dir, sizeof(dir), "%.*s",
			 comma ? (int)(comma - arg) : 0, arg);
	} else {
		snprintf(dir, sizeof(dir), "%s", arg);
	}
	if (dir[0]) {
		if (dir[0] != '/' || strchr(dir, ',')) {
			snprintf(err, errlen, "\"%s\": give an absolute host "
				 "directory, then optionally ,%s", arg, flag);
			free(a);
			return -EINVAL;
		}
		rc = host->passthrough(dir, &out->ops, &out->state, err,
				       errlen);
		if (rc) {
			free(a);
			return rc;
		}
	} else if (!host->inner) {
		snprintf(err, errlen, "give the directory to audit as the "
			 "argument (DIR[,%s])", flag);
		free(a);
		return -EINVAL;
	}
	out->hooks = &hooks;
	out->hook_state = a;
	return 0;
}
