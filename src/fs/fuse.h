/* SPDX-License-Identifier: Apache-2.0 */
/* fuse.h - the FUSE request dispatcher: one session between a guest's
 * virtio-fs client and a backend (include/msb_fs.h)
 *
 * The device server (vhost-user-fs) hands over each descriptor chain as
 * it is, split anywhere into device-readable and device-writable buffers;
 * msb_fuse_handle() parses the request from the former and writes the
 * reply into the latter. Nothing in a request is trusted: lengths, opcodes,
 * node ids, handles, names and offsets are checked before use, and a bad
 * request gets an error reply (EINVAL, EIO, ENOSYS...), never a crash.
 *
 * Memory is bounded per session whatever the guest sends: a session owns
 * a 68 KiB argument buffer and a 128 KiB reply buffer and allocates
 * nothing per request; WRITE payloads and READ data are passed to
 * backends as iovecs over the guest's buffers. Node and handle tables are
 * the backends', each capped (see docs/filesystems.md).
 *
 * A session answers one request at a time (its buffers are its own):
 * call msb_fuse_handle() from one thread per session.
 */
#ifndef MSB_FS_FUSE_H
#define MSB_FS_FUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "msb.h"
#include "msb_fs.h"

/* The largest WRITE (and READ) negotiated with the guest. */
#define MSB_FUSE_MAX_WRITE (1u << 20)
/* The largest request header + arguments (names, xattr values) accepted:
 * a WRITE may carry MSB_FUSE_MAX_WRITE more. */
#define MSB_FUSE_MAX_ARGS (68u << 10)

/**
 * struct msb_fuse_opts - a session's options (all-zero is a sane default:
 * read-write, no attribute caching in the guest, ids shown as they are)
 * @read_only:       answer EROFS to every modifying request, whatever the
 *                   backend would do (enforced here, on the host)
 * @posix_locks:     negotiate FUSE_POSIX_LOCKS: the guest's fcntl locks go
 *                   to the backend (GETLK/SETLK/SETLKW), so host processes
 *                   see them; SETLKW then blocks the calling thread until
 *                   granted. Off: the guest kernel keeps locks itself (they
 *                   work between guest processes).
 * @direct_io:       open every file with FOPEN_DIRECT_IO: reads and writes
 *                   bypass the guest's page cache and go straight to the
 *                   backend (fast streaming under TCG, where the guest's
 *                   page-cache copies are most of the cost); the guest's
 *                   kernel (6.1) then refuses shared mmap of those files
 *                   (ENODEV)
 * @keep_cache:      open every regular file with FOPEN_KEEP_CACHE: the
 *                   guest keeps a file's cached pages across opens (they
 *                   are still dropped when its attributes, fetched again
 *                   after @attr_timeout_ms, show another mtime or size:
 *                   FUSE_AUTO_INVAL_DATA)
 * @entry_timeout_ms: how long the guest may cache names
 * @attr_timeout_ms: how long it may cache attributes
 * @map_ids:         translate ownership: attributes owned by @host_uid /
 *                   @host_gid are shown to the guest as @guest_uid /
 *                   @guest_gid, and chown to @guest_uid / @guest_gid is
 *                   done as @host_uid / @host_gid
 * @host_uid:        see @map_ids
 * @host_gid:        see @map_ids
 * @guest_uid:       see @map_ids
 * @guest_gid:       see @map_ids
 */
struct msb_fuse_opts {
	int read_only;
	int posix_locks;
	int direct_io;
	int keep_cache;
	uint32_t entry_timeout_ms;
	uint32_t attr_timeout_ms;
	int map_ids;
	uint32_t host_uid, host_gid;
	uint32_t guest_uid, guest_gid;
};

/* One FUSE session: a backend + options. */
struct msb_fuse;

/**
 * msb_fuse_new() - a session over a backend
 * @ops:     the backend's table (check a plugin's with msb_fs_ops_check()
 *           first, for the message: here a bad table just gives NULL)
 * @backend: its state, passed to every op
 * @opts:    options (NULL: all zero)
 *
 * The session does not own the backend: msb_fuse_free() leaves it alone
 * (call ops->destroy yourself).
 * Return: the session, or NULL (out of memory, or a table msb_fs_ops_check()
 * refuses).
 */
struct msb_fuse *msb_fuse_new(const struct msb_fs_ops *ops, void *backend,
			      const struct msb_fuse_opts *opts);

/* msb_fs_ops_check() - is @ops a table this build can call? Return 0, or
 * -EINVAL with what is wrong (and what to do) in @err (may be NULL). */
int msb_fs_ops_check(const struct msb_fs_ops *ops, msb_error *err);
void msb_fuse_free(struct msb_fuse *f);

/**
 * msb_fuse_handle() - answer one request
 * @f:    the session
 * @in:   the device-readable buffers of one descriptor chain (fuse_in_header
 *        + arguments + write payload, split anywhere)
 * @nin:  how many
 * @out:  the device-writable buffers
 * @nout: how many
 *
 * Writes the reply (fuse_out_header + body) into @out.
 * Return: its length, or 0 when no reply is due (FORGET, BATCH_FORGET,
 * INTERRUPT, or a request too broken to answer: shorter than a
 * fuse_in_header, or @out too small for a fuse_out_header). FORGET and
 * BATCH_FORGET are handled with @nout 0, as virtio-fs sends them.
 */
size_t msb_fuse_handle(struct msb_fuse *f, const struct iovec *in, int nin,
		       const struct iovec *out, int nout);

#endif
