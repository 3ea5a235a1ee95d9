/* SPDX-License-Identifier: Apache-2.0 */
/* gatefs.c - a volume whose fsync waits at a gate the test holds
 *
 * A filesystem plugin (include/msb_fs.h) of hooks over the volume's own
 * directory: every FSYNC first writes GATE/held, then waits until
 * GATE/open exists (at most 60 s), then goes on to the real fsync and
 * writes GATE/done. It stands for a slow disk or a plugin that blocks, so
 * a test can show the rest of the sandbox (its network, its API) answering
 * while a volume operation is stuck (tests/e2e/test_volumes_slow.py).
 *
 *   msb run -v DIR:/v --volume-plugin gatefs.so:/v:DIR/GATE ...
 *
 * GATE is inside the volume's directory: a plugin runs in the confined
 * supervisor, which reaches no other host path once the guest runs.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msb_fs.h>

#define GATE_MAX_WAIT_MS 60000

struct gate {
	const struct msb_fs_host *host;
	char dir[4000];
};

static void touch(const struct gate *g, const char *name)
{
	char p[4100];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", g->dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

static int before(void *state, const struct msb_fs_call *call)
{
	struct gate *g = state;
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	char open_path[4100];

	if (call->op != MSB_FS_OP_FSYNC)
		return 0;
	snprintf(open_path, sizeof(open_path), "%s/open", g->dir);
	touch(g, "held");
	g->host->log(g->host->ctx, "gatefs: fsync held at the gate");
	for (int ms = 0; ms < GATE_MAX_WAIT_MS && access(open_path, F_OK) < 0;
	     ms += 20)
		nanosleep(&nap, NULL);
	return 0;
}

static void after(void *state, const struct msb_fs_call *call,
		  long long result, const struct msb_fs_entry *e)
{
	if (call->op == MSB_FS_OP_FSYNC)
		touch(state, "done");
}

static void close_gate(void *state)
{
	free(state);
}

static const struct msb_fs_hooks hooks = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_hooks),
	.name = "gatefs",
	.before = before,
	.after = after,
	.close = close_gate,
};

int msb_fs_plugin_open(const struct msb_fs_host *host, const char *arg,
		       struct msb_fs_plugin *out, char *err, size_t errlen);

int msb_fs_plugin_open(const struct msb_fs_host *host, const char *arg,
		       struct msb_fs_plugin *out, char *err, size_t errlen)
{
	struct gate *g;

	if (!host->inner || !arg || arg[0] != '/') {
		snprintf(err, errlen, "gatefs needs -v DIR on its guest path "
			 "and a gate directory as its argument");
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->host = host;
	snprintf(g->dir, sizeof(g->dir), "%s", arg);
	out->hooks = &hooks;
	out->hook_state = g;
	return 0;
}
