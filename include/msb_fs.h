/* SPDX-License-Identifier: Apache-2.0 */
/* msb_fs.h - filesystem backends: the operations a sandbox volume is made of
 *
 * A volume is served to the guest over virtio-fs: the guest kernel sends
 * FUSE requests, the supervisor's dispatcher checks and decodes them and
 * calls one backend through this table. Built-in backends (passthrough,
 * memory, overlay, proxy) fill it the same way a user's plugin does.
 *
 * Conventions, for every operation:
 * - @b is the backend's own state (what its constructor or plugin entry
 *   returned); @c is who asks: the guest process's pid, uid and gid, as
 *   the guest kernel gave them (untrusted numbers, for logging and policy,
 *   never for host permission checks).
 * - Nodes are named by 64-bit ids the backend chooses; MSB_FS_ROOT_ID is
 *   the volume's root and 0 is never a node. A node id given to the guest
 *   (lookup, mknod, mkdir, symlink, link, create) counts one lookup; the
 *   guest gives lookups back with forget(). The backend may drop a node
 *   when its count reaches zero. Ids the backend does not know must give
 *   -ESTALE (or -ENOENT), never a crash: they come from the guest.
 * - Open files and directories are named by 64-bit handles the backend
 *   chooses, given back in every later call until release/releasedir.
 *   Unknown handles: -EBADF.
 * - Names are one path component: never empty, never containing '/' or
 *   NUL, at most MSB_FS_NAME_MAX bytes, never "." or ".." (the dispatcher
 *   refuses those before a backend sees them). NUL-terminated.
 * - Return 0 (or a byte count where said) on success, a negative errno on
 *   failure. Any op left NULL answers -ENOSYS.
 * - Calls come one at a time, from the volume's thread in the supervisor
 *   (each volume has its own, so a slow call stalls only its volume). A backend
 *   that may be called from several threads at once (several sessions
 *   over it served in parallel) says so with MSB_FS_THREAD_SAFE.
 *
 * Stat results use struct stat; the dispatcher reads st_ino, st_mode,
 * st_nlink, st_uid, st_gid, st_rdev, st_size, st_blocks, st_blksize and
 * st_[amc]tim. st_ino is what the guest's stat() shows and may differ
 * from the node id.
 *
 * Versioning: struct msb_fs_ops starts with @abi (MSB_FS_ABI, changed
 * only by incompatible changes) and @size (sizeof the struct the backend
 * was built with). New operations are only ever appended, so a backend
 * built against an older header is accepted with the ops it knows (the
 * newer ones treated as NULL); a table with another @abi or a @size
 * smaller than MSB_FS_OPS_MIN_SIZE is refused with a clear message.
 */
#ifndef MSB_FS_H
#define MSB_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <fcntl.h>

#define MSB_FS_ABI 1
#define MSB_FS_ROOT_ID 1
#define MSB_FS_NAME_MAX 255
/* "no handle": getattr and setattr may come without an open file. */
#define MSB_FS_NO_FH UINT64_MAX

/**
 * struct msb_fs_ctx - who asks
 * @pid: the guest process (its pid in the guest's namespace)
 * @uid: its fsuid in the guest
 * @gid: its fsgid in the guest
 */
struct msb_fs_ctx {
	uint32_t pid;
	uint32_t uid;
	uint32_t gid;
};

/**
 * struct msb_fs_entry - a node given to the guest (one lookup counted)
 * @ino:        node id
 * @generation: with @ino, unique over the life of the volume (0 is fine
 *              for a backend that never reuses ids)
 * @attr:       its attributes
 */
struct msb_fs_entry {
	uint64_t ino;
	uint64_t generation;
	struct stat attr;
};

/* struct msb_fs_file flags, as FUSE's FOPEN_* (open, opendir, create). */
#define MSB_FS_DIRECT_IO  (1u << 0) /* bypass the guest page cache */
#define MSB_FS_KEEP_CACHE (1u << 1) /* keep the guest's cached pages */
#define MSB_FS_NONSEEKABLE (1u << 2)

/**
 * struct msb_fs_file - an open file or directory
 * @fh:    the handle, chosen by the backend
 * @flags: MSB_FS_DIRECT_IO, MSB_FS_KEEP_CACHE, MSB_FS_NONSEEKABLE
 */
struct msb_fs_file {
	uint64_t fh;
	uint32_t flags;
};

/**
 * struct msb_fs_dirent - one directory entry, as readdir gives it
 * @ino:  the inode number shown to the guest (st_ino, not a node id: no
 *        lookup is counted)
 * @off:  the offset of the NEXT entry: readdir called with it resumes
 *        after this one. Never 0.
 * @type: DT_REG, DT_DIR, ... (DT_UNKNOWN if not known)
 * @name: NUL-terminated, at most MSB_FS_NAME_MAX bytes ("." and ".."
 *        included, as a directory has them)
 */
struct msb_fs_dirent {
	uint64_t ino;
	uint64_t off;
	uint32_t type;
	const char *name;
};

/* msb_fs_fill_fn() - readdir's sink. Return 0 when the entry was taken,
 * 1 when the reply is full: stop, and do not count that entry as read. */
typedef int (*msb_fs_fill_fn)(void *fill_ctx, const struct msb_fs_dirent *d);

/* setattr's @valid bits (the values of FUSE's FATTR_*). */
#define MSB_FS_SET_MODE      (1u << 0)
#define MSB_FS_SET_UID       (1u << 1)
#define MSB_FS_SET_GID       (1u << 2)
#define MSB_FS_SET_SIZE      (1u << 3)
#define MSB_FS_SET_ATIME     (1u << 4)
#define MSB_FS_SET_MTIME     (1u << 5)
#define MSB_FS_SET_FH        (1u << 6) /* @fh is valid */
#define MSB_FS_SET_ATIME_NOW (1u << 7)
#define MSB_FS_SET_MTIME_NOW (1u << 8)
#define MSB_FS_SET_CTIME     (1u << 10)

/* rename's @flags: RENAME_NOREPLACE and RENAME_EXCHANGE (renameat2(2));
 * RENAME_WHITEOUT is refused by the dispatcher. */
#define MSB_FS_RENAME_NOREPLACE (1u << 0)
#define MSB_FS_RENAME_EXCHANGE  (1u << 1)

/**
 * struct msb_fs_ops - a backend
 * @abi:   MSB_FS_ABI
 * @size:  sizeof(struct msb_fs_ops) as the backend was compiled
 * @name:  for messages ("passthrough", "memory", a plugin's name)
 * @flags: MSB_FS_THREAD_SAFE if calls may come from several threads;
 *         MSB_FS_FLUSH_LOCKS_ONLY if @flush does nothing but release the
 *         closing owner's POSIX locks: while the guest's kernel keeps its
 *         locks itself (the session does not pass them to the backend),
 *         there is nothing to do then, and FLUSH is answered ENOSYS, after
 *         which the guest sends none (a round trip fewer at each close(2))
 *
 * @destroy:  the volume goes away: free @b. Every handle and node is
 *            implicitly released (no release/forget calls follow).
 * @lookup:   find @name in directory @parent; fill @e (one lookup).
 *            -ENOENT when absent.
 * @forget:   the guest drops @nlookup lookups of @ino. No reply, no error:
 *            unknown ids and counts larger than held are ignored.
 * @getattr:  attributes of @ino (@fh is MSB_FS_NO_FH or an open handle).
 * @setattr:  change the attributes named by @valid (MSB_FS_SET_*) to
 *            those in @in (st_mode, st_uid, st_gid, st_size, st_atim,
 *            st_mtim, st_ctim); SET_SIZE truncates or extends; fill @out
 *            with the result.
 * @readlink: the target of symlink @ino into @buf (not NUL-terminated).
 *            Return: its length (at most @size; longer targets -ENAMETOOLONG).
 * @symlink:  create symlink @name in @parent pointing at @target (any
 *            bytes; a backend must never follow it itself). Fill @e.
 * @mknod:    create a regular file, fifo, socket or device node @name;
 *            @mode has the type and the permissions, @umask is the
 *            caller's (apply it, or let the host's apply). Fill @e.
 * @mkdir:    create directory @name (@mode, @umask as for mknod). Fill @e.
 * @unlink:   remove non-directory @name from @parent.
 * @rmdir:    remove empty directory @name from @parent.
 * @rename:   move @parent/@name to @newparent/@newname, atomically,
 *            MSB_FS_RENAME_* @flags as renameat2(2).
 * @link:     a new name @newparent/@newname for @ino (not a directory).
 *            Fill @e (one lookup of @ino).
 * @open:     open @ino with open(2) @flags (O_ACCMODE, O_APPEND, O_TRUNC,
 *            O_SYNC...; never O_CREAT, O_EXCL or O_NOFOLLOW-dependent
 *            semantics). Fill @f.
 * @read:     read up to iov_length(@iov) bytes at @off into @iov (the
 *            guest's buffers: read straight into them). Return: bytes
 *            read, 0 at end of file.
 * @write:    write @iov at @off (@flags: the open(2) flags of the file,
 *            O_APPEND means "at the end"). Return: bytes written.
 * @statfs:   filesystem statistics for the volume holding @ino.
 * @release:  the last reference to open file @fh is gone. @flags are the
 *            open flags; @lock_owner identifies the closing file table
 *            (release its locks if the backend keeps per-owner locks).
 * @fsync:    flush @fh to stable storage (data only if @datasync).
 * @setxattr: set extended attribute @name to @size bytes of @value,
 *            @flags XATTR_CREATE / XATTR_REPLACE.
 * @getxattr: value of @name into @buf. With @size 0: Return its length.
 *            Otherwise Return: its length, -ERANGE if larger than @size,
 *            -ENODATA if absent.
 * @listxattr: the NUL-separated names into @buf, same size rules.
 * @removexattr: remove @name (-ENODATA if absent).
 * @flush:    close(2) was called on a descriptor of @fh (may happen many
 *            times per open). @lock_owner as for release. A backend
 *            without @flush gets none: the guest is answered ENOSYS
 *            and stops sending them.
 * @opendir:  open directory @ino for reading. Fill @f.
 * @readdir:  call @fill for entries from offset @off (0: the start; other
 *            values: a @off a previous fill gave) until it returns 1 or
 *            the directory ends. Return: 0 or -errno. Readdirplus is made
 *            by the dispatcher from readdir and lookup: @fill may call
 *            @lookup on this backend (on this directory) before it
 *            returns, so readdir must not hold anything lookup needs.
 * @releasedir: directory handle @fh is closed.
 * @fsyncdir: fsync an open directory.
 * @getlk:    test POSIX lock @lk (l_type, l_whence = SEEK_SET, l_start,
 *            l_len; 0 = to end) held by @owner; on return @lk describes a
 *            conflicting lock, or l_type = F_UNLCK.
 * @setlk:    take or release (F_UNLCK) POSIX lock @lk for @owner; @wait
 *            set: block until it is granted (SETLKW), else -EAGAIN on
 *            conflict.
 * @access:   access(2) check of @mask (R_OK, W_OK, X_OK, F_OK).
 * @create:   create and open regular file @name (@mode, @umask as for
 *            mknod, @flags as for open plus O_EXCL). Fill @e and @f.
 * @fallocate: fallocate(2) @mode (0, FALLOC_FL_KEEP_SIZE,
 *            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, ...) over
 *            [@off, @off + @len).
 * @lseek:    SEEK_DATA or SEEK_HOLE from @off (other whences are the
 *            guest kernel's). Fill *@result.
 * @copy_file_range: copy @len bytes from @ino_in/@fh_in at @off_in to
 *            @ino_out/@fh_out at @off_out (same backend). Return: bytes
 *            copied.
 * @syncfs:   sync the whole volume.
 */
struct msb_fs_ops {
	uint32_t abi;
	uint32_t size;
	const char *name;
	uint32_t flags;
#define MSB_FS_THREAD_SAFE (1u << 0)
#define MSB_FS_FLUSH_LOCKS_ONLY (1u << 1)

	void (*destroy)(void *b);
	int (*lookup)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, struct msb_fs_entry *e);
	void (*forget)(void *b, uint64_t ino, uint64_t nlookup);
	int (*getattr)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, struct stat *st);
	int (*setattr)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       const struct stat *in, uint32_t valid, uint64_t fh,
		       struct stat *out);
	ssize_t (*readlink)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			    char *buf, size_t size);
	int (*symlink)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		       const char *name, const char *target,
		       struct msb_fs_entry *e);
	int (*mknod)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, dev_t rdev, mode_t umask,
		     struct msb_fs_entry *e);
	int (*mkdir)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name, mode_t mode, mode_t umask,
		     struct msb_fs_entry *e);
	int (*unlink)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name);
	int (*rmdir)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		     const char *name);
	int (*rename)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, uint64_t newparent,
		      const char *newname, uint32_t flags);
	int (*link)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    uint64_t newparent, const char *newname,
		    struct msb_fs_entry *e);
	int (*open)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		    int flags, struct msb_fs_file *f);
	ssize_t (*read)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			uint64_t fh, const struct iovec *iov, int iovcnt,
			uint64_t off);
	ssize_t (*write)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			 uint64_t fh, const struct iovec *iov, int iovcnt,
			 uint64_t off, int flags);
	int (*statfs)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      struct statvfs *st);
	int (*release)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, int flags, uint64_t lock_owner);
	int (*fsync)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, int datasync);
	int (*setxattr)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			const char *name, const void *value, size_t size,
			int flags);
	ssize_t (*getxattr)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			    const char *name, void *buf, size_t size);
	ssize_t (*listxattr)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			     char *buf, size_t size);
	int (*removexattr)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			   const char *name);
	int (*flush)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, uint64_t lock_owner);
	int (*opendir)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       int flags, struct msb_fs_file *f);
	int (*readdir)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		       uint64_t fh, uint64_t off, msb_fs_fill_fn fill,
		       void *fill_ctx);
	int (*releasedir)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			  uint64_t fh);
	int (*fsyncdir)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			uint64_t fh, int datasync);
	int (*getlk)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, uint64_t owner, struct flock *lk);
	int (*setlk)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, uint64_t owner, const struct flock *lk,
		     int wait);
	int (*access)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		      int mask);
	int (*create)(void *b, const struct msb_fs_ctx *c, uint64_t parent,
		      const char *name, mode_t mode, int flags, mode_t umask,
		      struct msb_fs_entry *e, struct msb_fs_file *f);
	int (*fallocate)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
			 uint64_t fh, int mode, uint64_t off, uint64_t len);
	int (*lseek)(void *b, const struct msb_fs_ctx *c, uint64_t ino,
		     uint64_t fh, uint64_t off, int whence, uint64_t *result);
	ssize_t (*copy_file_range)(void *b, const struct msb_fs_ctx *c,
				   uint64_t ino_in, uint64_t fh_in,
				   uint64_t off_in, uint64_t ino_out,
				   uint64_t fh_out, uint64_t off_out,
				   size_t len, int flags);
	int (*syncfs)(void *b, const struct msb_fs_ctx *c, uint64_t ino);
};

/* The smallest table accepted: every op of ABI 1 up to syncfs. */
#define MSB_FS_OPS_MIN_SIZE \
	(offsetof(struct msb_fs_ops, syncfs) + sizeof(void *))

/* ---- hooks (the proxy backend) ------------------------------------------ */

/* Operation numbers for hooks, in the table's order. */
enum msb_fs_op {
	MSB_FS_OP_LOOKUP, MSB_FS_OP_FORGET, MSB_FS_OP_GETATTR,
	MSB_FS_OP_SETATTR, MSB_FS_OP_READLINK, MSB_FS_OP_SYMLINK,
	MSB_FS_OP_MKNOD, MSB_FS_OP_MKDIR, MSB_FS_OP_UNLINK, MSB_FS_OP_RMDIR,
	MSB_FS_OP_RENAME, MSB_FS_OP_LINK, MSB_FS_OP_OPEN, MSB_FS_OP_READ,
	MSB_FS_OP_WRITE, MSB_FS_OP_STATFS, MSB_FS_OP_RELEASE,
	MSB_FS_OP_FSYNC, MSB_FS_OP_SETXATTR, MSB_FS_OP_GETXATTR,
	MSB_FS_OP_LISTXATTR, MSB_FS_OP_REMOVEXATTR, MSB_FS_OP_FLUSH,
	MSB_FS_OP_OPENDIR, MSB_FS_OP_READDIR, MSB_FS_OP_RELEASEDIR,
	MSB_FS_OP_FSYNCDIR, MSB_FS_OP_GETLK, MSB_FS_OP_SETLK,
	MSB_FS_OP_ACCESS, MSB_FS_OP_CREATE, MSB_FS_OP_FALLOCATE,
	MSB_FS_OP_LSEEK, MSB_FS_OP_COPY_FILE_RANGE, MSB_FS_OP_SYNCFS,
	MSB_FS_OP_COUNT
};

/**
 * struct msb_fs_call - one operation as hooks see it
 * @op:      which
 * @ctx:     who asks
 * @ino:     the node it is on (the parent directory for name ops)
 * @fh:      the handle, or MSB_FS_NO_FH
 * @name:    the name, for ops that take one (else NULL)
 * @newname: rename's and link's new name (else NULL); @newparent its dir
 * @newparent: see @newname
 * @flags:   open/create flags, rename flags, setattr valid bits...
 * @off:     read/write/readdir offset
 * @len:     read/write length
 */
struct msb_fs_call {
	enum msb_fs_op op;
	const struct msb_fs_ctx *ctx;
	uint64_t ino;
	uint64_t fh;
	const char *name;
	const char *newname;
	uint64_t newparent;
	uint64_t flags;
	uint64_t off;
	uint64_t len;
};

/**
 * struct msb_fs_hooks - called around every operation of a wrapped backend
 * @abi:    MSB_FS_ABI
 * @size:   sizeof(struct msb_fs_hooks)
 * @name:   for messages
 * @before: before the call; Return 0 to go on, or a negative errno that
 *          is the operation's answer (the backend is not called). Ignored
 *          for forget. NULL: allow all.
 * @after:  after the call with its result (a count or 0 on success, or
 *          -errno; for lookup, create and the like, @e holds the node).
 * @close:  the volume goes away: free @state.
 */
struct msb_fs_hooks {
	uint32_t abi;
	uint32_t size;
	const char *name;
	int (*before)(void *state, const struct msb_fs_call *call);
	void (*after)(void *state, const struct msb_fs_call *call,
		      long long result, const struct msb_fs_entry *e);
	void (*close)(void *state);
};

/* ---- plugins ------------------------------------------------------------ */

#define MSB_FS_PLUGIN_ENTRY "msb_fs_plugin_open"

/**
 * struct msb_fs_host - what the supervisor offers a plugin (valid until
 * the plugin's backend or hooks are destroyed: a plugin may keep it)
 * @abi:         MSB_FS_ABI
 * @ctx:         pass to @log
 * @log:         one line in the sandbox's log (`msb logs`)
 * @inner:       the volume's source backend, if the volume was given one
 *               (NULL otherwise), with its state in @inner_state: what
 *               hooks wrap unless the plugin names another
 * @inner_state: see @inner
 * @passthrough: make a passthrough backend of host directory @dir (as
 *               `--volume` would): fills *@ops and *@state, or returns a
 *               negative errno with a message in @err. For a plugin that
 *               wraps a directory it was given as its argument.
 */
struct msb_fs_host {
	uint32_t abi;
	void *ctx;
	void (*log)(void *ctx, const char *msg);
	const struct msb_fs_ops *inner;
	void *inner_state;
	int (*passthrough)(const char *dir, const struct msb_fs_ops **ops,
			   void **state, char *err, size_t errlen);
};

/**
 * struct msb_fs_plugin - what a plugin's entry gives back
 * @ops:        a backend: the plugin's own, or (with @hooks) the one the
 *              hooks wrap
 * @state:      its state
 * @hooks:      hooks: the supervisor runs them as a proxy around @ops if
 *              set, else around @host->inner (NULL: @ops is the volume)
 * @hook_state: passed to the hooks
 *
 * The supervisor owns what it is given: @ops->destroy and @hooks->close
 * are called when the volume goes away.
 */
struct msb_fs_plugin {
	const struct msb_fs_ops *ops;
	void *state;
	const struct msb_fs_hooks *hooks;
	void *hook_state;
};

/* The plugin's exported entry, named MSB_FS_PLUGIN_ENTRY. @arg is the
 * string given after the plugin's path (or ""). Fill @out; Return 0, or
 * a negative errno and a message in @err (the volume, and the sandbox,
 * do not start). */
typedef int (*msb_fs_plugin_open_fn)(const struct msb_fs_host *host,
				     const char *arg,
				     struct msb_fs_plugin *out, char *err,
				     size_t errlen);

#endif
