/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.c - a user's filesystem backend or hooks, from a shared object
 *
 * The object exports MSB_FS_PLUGIN_ENTRY (include/msb_fs.h). It gets the
 * volume's source backend (if any) and gives back either a backend of its
 * own or hooks, which run as a proxy around the source. Tables are checked
 * (abi, size) before anything is called through them.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "fuse.h"
#include "util.h"

void msb_fs_backend_close(struct msb_fs_backend *b)
{
	if (!b)
		return;
	if (b->ops && b->ops->destroy)
		b->ops->destroy(b->state);
	if (b->dl)
		dlclose(b->dl);
	if (b->owned) {
		msb_fs_backend_close(b->owned);
		free(b->owned);
	}
	free(b->host);
	memset(b, 0, sizeof(*b));
}

static void no_log(void *ctx, const char *msg)
{
}

static int host_passthrough(const char *dir, const struct msb_fs_ops **ops,
			    void **state, char *err, size_t errlen)
{
	struct msb_fs_backend b;
	msb_error e = { 0 };
	int rc = msb_fs_passthrough_new(dir, NULL, &b, &e);

	if (rc) {
		/* (the plugin's interface keeps its buffer) */
		snprintf(err, errlen, "%s", e.message);
		return rc;
	}
	*ops = b.ops;
	*state = b.state;
	return 0;
}

int msb_fs_plugin_load(const char *path, const char *arg,
		       struct msb_fs_backend *inner,
		       void (*log)(void *ctx, const char *msg), void *log_ctx,
		       struct msb_fs_backend *out, msb_error *err)
{
	/* The plugin may keep @host: it lives as long as the backend. */
	struct msb_fs_host *host = calloc(1, sizeof(*host));
	struct msb_fs_plugin pl = { 0 };
	msb_fs_plugin_open_fn open_fn;
	char why[512] = "";
	msb_error e = { 0 };
	void *dl;
	int rc;

	if (!host) {
		msb_fs_backend_close(inner);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	*host = (struct msb_fs_host){
		.abi = MSB_FS_ABI,
		.ctx = log_ctx,
		.log = log ? log : no_log,
		.inner = inner ? inner->ops : NULL,
		.inner_state = inner ? inner->state : NULL,
		.passthrough = host_passthrough,
	};
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		rc = msb_fail(err, -ENOENT, "cannot load filesystem plugin: %s",
			      dlerror());
		goto fail;
	}
	*(void **)&open_fn = dlsym(dl, MSB_FS_PLUGIN_ENTRY);
	if (!open_fn) {
		rc = msb_fail(err, -EINVAL,
			      "filesystem plugin %s has no %s function (see "
			      "include/msb_fs.h)", path, MSB_FS_PLUGIN_ENTRY);
		goto fail;
	}
	rc = open_fn(host, arg ? arg : "", &pl, why, sizeof(why));
	if (rc) {
		rc = msb_fail(err, rc < 0 ? rc : -EINVAL,
			      "filesystem plugin %s refused to start: %s", path,
			      why[0] ? why : strerror(rc < 0 ? -rc : EINVAL));
		goto fail;
	}
	if (pl.ops && !pl.hooks) {
		if ((rc = msb_fs_ops_check(pl.ops, &e))) {
			msb_fail(err, rc, "filesystem plugin %s: %s", path,
				 e.message);
			if (pl.ops->abi == MSB_FS_ABI && pl.ops->destroy)
				pl.ops->destroy(pl.state);
			goto fail;
		}
		/* Its own backend, which may use the source: that lives
		 * until the plugin's backend is destroyed. */
		memset(out, 0, sizeof(*out));
		if (inner && inner->ops) {
			out->owned = malloc(sizeof(*out->owned));
			if (!out->owned) {
				rc = msb_fail(err, -ENOMEM, "out of memory");
				if (pl.ops->destroy)
					pl.ops->destroy(pl.state);
				goto fail;
			}
			*out->owned = *inner;
			memset(inner, 0, sizeof(*inner));
		}
		out->ops = pl.ops;
		out->state = pl.state;
		out->dl = dl;
		out->host = host;
		return 0;
	}
	if (pl.hooks) {
		struct msb_fs_backend src = { 0 };

		if (pl.ops) {
			/* Hooks around a backend the plugin made itself. */
			if ((rc = msb_fs_ops_check(pl.ops, &e))) {
				msb_fail(err, rc, "filesystem plugin %s: %s",
					 path, e.message);
				if (pl.hooks->abi == MSB_FS_ABI &&
				    pl.hooks->close)
					pl.hooks->close(pl.hook_state);
				goto fail;
			}
			src.ops = pl.ops;
			src.state = pl.state;
		} else if (inner && inner->ops) {
			src = *inner;
			memset(inner, 0, sizeof(*inner));
		} else {
			rc = msb_fail(err, -EINVAL,
				      "filesystem plugin %s gives hooks but no "
				      "backend for them to wrap: give it a "
				      "host directory (see its documentation)",
				      path);
			if (pl.hooks->abi == MSB_FS_ABI && pl.hooks->close)
				pl.hooks->close(pl.hook_state);
			goto fail;
		}
		/* (an unused source is freed with the plugin's backend) */
		rc = msb_fs_proxy_new(&src, pl.hooks, pl.hook_state, out, &e);
		if (rc) {
			msb_fail(err, rc, "filesystem plugin %s: %s", path,
				 e.message);
			dlclose(dl);
			free(host);
			msb_fs_backend_close(inner);
			return rc;
		}
		out->dl = dl;
		out->host = host;
		if (inner && inner->ops) {
			out->owned = malloc(sizeof(*out->owned));
			if (out->owned) {
				*out->owned = *inner;
				memset(inner, 0, sizeof(*inner));
			} else {
				msb_fs_backend_close(inner);
			}
		}
		return 0;
	}
	rc = msb_fail(err, -EINVAL,
		      "filesystem plugin %s must give a backend (ops), hooks, "
		      "or both, not nothing", path);
fail:
	if (dl)
		dlclose(dl);
	free(host);
	msb_fs_backend_close(inner);
	return rc;
}
