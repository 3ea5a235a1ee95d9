/* SPDX-License-Identifier: Apache-2.0 */
/* backends.h - the built-in filesystem backends and plugin loading
 *
 * Each constructor fills a struct msb_fs_backend (a table from
 * include/msb_fs.h and its state); free it with msb_fs_backend_close().
 * On failure they return a negative errno and say why in @err (which may
 * be NULL), whose code is that errno.
 */
#ifndef MSB_FS_BACKENDS_H
#define MSB_FS_BACKENDS_H

#include <stddef.h>
#include <stdint.h>

#include "msb.h"
#include "msb_fs.h"

/**
 * struct msb_fs_backend - a backend and what keeps it alive
 * @ops:   its table
 * @state: its state
 * @dl:    a plugin's dlopen handle, closed after @ops->destroy
 * @owned: a backend this one uses (a plugin's source), closed after it
 * @host:  what a plugin was given (it may keep the pointer), freed last
 */
struct msb_fs_backend {
	const struct msb_fs_ops *ops;
	void *state;
	void *dl;
	struct msb_fs_backend *owned;
	struct msb_fs_host *host;
};

/* Caps every backend keeps, whatever the guest does. */
#define MSB_FS_MAX_NODES   (1u << 20) /* nodes the guest holds lookups on */
#define MSB_FS_MAX_HANDLES 65536u     /* open files and directories */

/**
 * struct msb_fs_passthrough_opts - see docs/filesystems.md
 * @reserved: none yet (the guest's owners and setuid bits are never the
 *            host's: they live in an xattr, whoever runs the supervisor)
 */
struct msb_fs_passthrough_opts {
	int reserved;
};

/* A host directory, with no way out of @root. */
int msb_fs_passthrough_new(const char *root,
			   const struct msb_fs_passthrough_opts *opts,
			   struct msb_fs_backend *out, msb_error *err);

/* msb_fs_passthrough_owner() - who the host files of a volume at @root
 * belong to: the supervisor's user, or as root the directory's owner (the
 * ids the FUSE session maps to the guest's root). */
void msb_fs_passthrough_owner(const char *root, uid_t *uid, gid_t *gid);

/* A filesystem in RAM holding at most @limit bytes of data and metadata
 * (0: 64 MiB). */
int msb_fs_memory_new(uint64_t limit, struct msb_fs_backend *out,
		      msb_error *err);

/* @lower read-only under @upper writable; the overlay takes ownership of
 * both (on success and on failure). */
int msb_fs_overlay_new(struct msb_fs_backend *lower,
		       struct msb_fs_backend *upper, struct msb_fs_backend *out,
		       msb_error *err);

/* @inner wrapped in @hooks (owned by the proxy from here on, as is
 * @inner). */
int msb_fs_proxy_new(struct msb_fs_backend *inner,
		     const struct msb_fs_hooks *hooks, void *hook_state,
		     struct msb_fs_backend *out, msb_error *err);

/* Load plugin @path with @arg; @inner (may have ops NULL) is the
 * volume's source, handed to the plugin, and owned by the result. */
int msb_fs_plugin_load(const char *path, const char *arg,
		       struct msb_fs_backend *inner,
		       void (*log)(void *ctx, const char *msg), void *log_ctx,
		       struct msb_fs_backend *out, msb_error *err);

/* @inner (owned from here on, on success and on failure) limited to
 * @limit bytes of host disk, counted in file @counter, which every
 * supervisor serving directory @dir shares (src/fs/quota.c). */
int msb_fs_quota_new(struct msb_fs_backend *inner, const char *dir,
		     const char *counter, uint64_t limit,
		     struct msb_fs_backend *out, msb_error *err);

void msb_fs_backend_close(struct msb_fs_backend *b);

#endif
