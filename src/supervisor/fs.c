/* SPDX-License-Identifier: Apache-2.0 */
/* fs.c - the sandbox's volumes: one vhost-user-fs device server each
 *
 * Theory of operation: each volume in the config ("volumes", written by
 * the library) becomes a backend (passthrough, memory or a plugin,
 * src/fs/backends.h), a FUSE session over it (src/fs/fuse.h, read-only
 * for :ro volumes, which is what enforces them) and a vhost-user device
 * (src/fs/vhost_user.c) on one end of a socketpair whose other end QEMU
 * gets as the chardev of a vhost-user-fs-device.
 *
 * Each volume is served by a thread of its own, with its own epoll over
 * the device's socket and its queues' kick eventfds: it pops requests,
 * calls the backend, writes the replies into the guest's buffers and
 * signals the queue's call eventfd, so a reply never passes through the
 * supervisor's main loop. A backend operation that takes seconds (fsync
 * on a slow disk, a plugin waiting on something) thus stalls only its own
 * volume; the network stack, the agent link and the API socket, served by
 * the main loop, go on (tests/e2e/test_volumes_slow.py). The thread alone
 * touches its volume's device, session and backend while it runs; the main
 * thread starts it once the device is made and stops it (an eventfd, then
 * a join) before freeing anything, so neither backends nor sessions need
 * locks. Ops of one volume still come one at a time, as include/msb_fs.h
 * promises plugins.
 *
 * Locks: the sessions answer fcntl locks in the guest kernel (no
 * posix_locks), since a blocking SETLKW would stall the volume's thread.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends.h"
#include "fuse.h"
#include "hooks.h"
#include "jsonx.h"
#include "supervisor.h"
#include "util.h"
#include "vhost_user.h"

/* virtio-fs: the high-priority queue and one request queue */
#define FS_QUEUES 2
#define MEM_DEFAULT_MIB 64

#define REF_SOCKET (-1)
#define REF_STOP (-2)

/* What a volume thread's epoll entry is: a queue's kick, the socket, or
 * the stop eventfd. */
struct fs_ref {
	int queue; /* >= 0, REF_SOCKET or REF_STOP */
	int fd;    /* what is registered, -1 if nothing */
};

struct sup_vol {
	struct sup *s;
	char tag[16];
	char guest[256];
	int ro;
	struct msb_fs_backend be;
	struct msb_fuse *fuse;
	struct vu_dev dev;
	int dev_up;
	/* the volume's thread and what it waits on */
	pthread_t thread;
	int running;
	int epfd;
	int stop_fd;
	int dead;          /* the socket broke: nothing more to serve */
	/* As root, a directory of another user is served as that user:
	 * the thread's filesystem ids (sup_fs_owner()). */
	int as_owner;
	uid_t owner_uid;
	gid_t owner_gid;
	struct fs_ref sock_ref, stop_ref;
	struct fs_ref kick_ref[FS_QUEUES];
};

static void unwatch(struct sup_vol *v, struct fs_ref *r)
{
	if (r->fd >= 0)
		epoll_ctl(v->epfd, EPOLL_CTL_DEL, r->fd, NULL);
	r->fd = -1;
}

static void watch(struct sup_vol *v, struct fs_ref *r, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = r };

	unwatch(v, r);
	if (fd >= 0 && epoll_ctl(v->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		r->fd = fd;
}

/* Called by vhost_user.c, on the volume's thread (or by vu_dev_free()
 * once it is stopped). */
static void kick_watch(void *opaque, unsigned int queue, int fd)
{
	struct sup_vol *v = opaque;

	if (queue < FS_QUEUES)
		watch(v, &v->kick_ref[queue], fd);
}

static size_t serve_request(void *opaque, unsigned int queue,
			    const struct iovec *in, int nin,
			    const struct iovec *out, int nout)
{
	struct sup_vol *v = opaque;

	/* FORGET and BATCH_FORGET come with no writable buffer (virtio 1.2
	 * §5.11.6.1): the dispatcher answers them with 0, and the chain goes
	 * back with nothing written. */
	return msb_fuse_handle(v->fuse, in, nin, out, nout);
}

static void plugin_log(void *ctx, const char *msg)
{
	struct sup_vol *v = ctx;

	sup_log(v->s, "volume %s: %s", v->guest, msg);
}

/* vol_open() - the backend and session of one config entry. */
/* hook_before() - an operation a plugin hooks (hooks.h), asked on the
 * volume's thread: the plugin allows (the backend runs it natively) or
 * answers with an errno. Operations no plugin names never leave. */
static int hook_before(void *state, const struct msb_fs_call *call)
{
	struct sup_vol *v = state;
	json_object *a;
	struct hook_reply r;
	int rc = 0;

	if (!sup_hook_wants_fs(v->s, (int)call->op))
		return 0;
	a = json_object_new_object();
	json_object_object_add(a, "volume", json_object_new_string(v->guest));
	json_object_object_add(a, "op", json_object_new_string(
						hook_fs_op_name((int)call->op)));
	json_object_object_add(a, "ino", json_object_new_int64((int64_t)call->ino));
	if (call->name)
		json_object_object_add(a, "name",
				       json_object_new_string(call->name));
	if (call->newname) {
		json_object_object_add(a, "newname",
				       json_object_new_string(call->newname));
		json_object_object_add(a, "newparent",
				       json_object_new_int64(
					       (int64_t)call->newparent));
	}
	json_object_object_add(a, "flags",
			       json_object_new_int64((int64_t)call->flags));
	if (call->ctx) {
		json_object_object_add(a, "pid",
				       json_object_new_int64(call->ctx->pid));
		json_object_object_add(a, "uid",
				       json_object_new_int64(call->ctx->uid));
	}
	if (sup_hook_call(v->s, HOOK_FS, a, &r, NULL, 0) == HV_DENY)
		rc = -(r.errnum ? r.errnum : EACCES);
	hook_reply_free(&r);
	json_object_put(a);
	return rc;
}

static const struct msb_fs_hooks fs_plugin_hooks = {
	.abi = MSB_FS_ABI,
	.size = sizeof(struct msb_fs_hooks),
	.name = "plugins",
	.before = hook_before,
};

/* vol_cache() - what the guest may cache (docs/filesystems.md): the
 * record's "cache" mode and "cache_timeout_ms"; without a mode, a memory
 * volume (which only this sandbox can change) is "always", any other
 * caches data only, dropped at each open. */
static void vol_cache(json_object *o, const char *kind,
		      struct msb_fuse_opts *fo)
{
	const char *mode = msb_jstr(o, "cache", NULL);
	uint32_t ms = 0;
	json_object *x;

	if (!mode && !strcmp(kind, "memory"))
		mode = "always";
	if (!mode || !strcmp(mode, "never")) {
		ms = 0;
		if (mode)
			fo->direct_io = 1;
	} else if (!strcmp(mode, "auto")) {
		ms = 1000;
	} else if (!strcmp(mode, "always")) {
		ms = 86400000;
		fo->keep_cache = 1;
	}
	if (json_object_object_get_ex(o, "cache_timeout_ms", &x)) {
		int64_t t = json_object_get_int64(x);

		if (t >= 0 && t <= 86400000)
			ms = (uint32_t)t;
	}
	fo->entry_timeout_ms = ms;
	fo->attr_timeout_ms = ms;
}

static int vol_open(struct sup *s, struct sup_vol *v, json_object *o,
		    msb_error *err)
{
	const char *kind = msb_jstr(o, "kind", NULL), *src = msb_jstr(o, "source", NULL),
		   *guest = msb_jstr(o, "guest", NULL);
	json_object *x;
	msb_error why = { 0 };
	struct msb_fuse_opts fo = { 0 };
	uid_t owner_uid = getuid();
	gid_t owner_gid = getgid();
	int r;

	if (!kind || !guest || strlen(guest) >= sizeof(v->guest))
		return msb_fail(err, -EINVAL, "bad volume entry in the sandbox "
				"record: remove the sandbox and create it again");
	snprintf(v->guest, sizeof(v->guest), "%s", guest);
	v->ro = json_object_object_get_ex(o, "ro", &x) &&
		json_object_get_boolean(x);
	/* Whose the host files are (as root: the directory's owner's). */
	if ((!strcmp(kind, "host") || !strcmp(kind, "volume")) && src)
		msb_fs_passthrough_owner(src, &owner_uid, &owner_gid);
	else if (!strcmp(kind, "plugin") && msb_jstr(o, "dir", NULL))
		msb_fs_passthrough_owner(msb_jstr(o, "dir", NULL), &owner_uid,
					 &owner_gid);
	if (!strcmp(kind, "host") && src &&
	    json_object_object_get_ex(o, "overlay_mib", &x)) {
		/* The host directory under a RAM upper: the guest's changes
		 * stay in the sandbox. */
		struct msb_fs_passthrough_opts po = { 0 };
		struct msb_fs_backend lower = { 0 }, upper = { 0 };

		r = msb_fs_passthrough_new(src, &po, &lower, &why);
		if (r == 0)
			r = msb_fs_memory_new((uint64_t)json_object_get_int64(x)
						      << 20,
					      &upper, &why);
		if (r == 0)
			r = msb_fs_overlay_new(&lower, &upper, &v->be, &why);
		else
			msb_fs_backend_close(&lower);
	} else if (!strcmp(kind, "host") && src) {
		struct msb_fs_passthrough_opts po = { 0 };

		r = msb_fs_passthrough_new(src, &po, &v->be, &why);
	} else if (!strcmp(kind, "volume") && src && msb_jstr(o, "counter", NULL)) {
		/* A named volume: its directory, under its size limit
		 * (src/fs/quota.c) when it has one, counted with every other
		 * sandbox that mounts it. */
		struct msb_fs_passthrough_opts po = { 0 };
		struct msb_fs_backend dir = { 0 };
		uint64_t mib = 0;

		if (json_object_object_get_ex(o, "size_mib", &x))
			mib = (uint64_t)json_object_get_int64(x);
		r = msb_fs_passthrough_new(src, &po, mib ? &dir : &v->be, &why);
		if (r == 0 && mib)
			r = msb_fs_quota_new(&dir, src, msb_jstr(o, "counter", NULL),
					     mib << 20, &v->be, &why);
	} else if (!strcmp(kind, "memory")) {
		uint64_t mib = MEM_DEFAULT_MIB;

		if (json_object_object_get_ex(o, "size_mib", &x))
			mib = (uint64_t)json_object_get_int64(x);
		r = msb_fs_memory_new(mib << 20, &v->be, &why);
	} else if (!strcmp(kind, "plugin") && src) {
		struct msb_fs_backend inner = { 0 };
		const char *dir = msb_jstr(o, "dir", NULL);

		r = 0;
		if (dir) {
			struct msb_fs_passthrough_opts po = { 0 };

			r = msb_fs_passthrough_new(dir, &po, &inner, &why);
		}
		if (r == 0)
			r = msb_fs_plugin_load(src, msb_jstr(o, "arg", NULL), &inner,
					       plugin_log, v, &v->be, &why);
	} else {
		return msb_fail(err, -EINVAL, "volume %s: unknown kind '%s'",
				guest, kind);
	}
	/* The plugins' filesystem hooks: a proxy around the backend, which
	 * asks them about the operations they named only. */
	if (r == 0 && s->plugins && sup_hook_wants(s, HOOK_FS)) {
		struct msb_fs_backend inner = v->be;

		r = msb_fs_proxy_new(&inner, &fs_plugin_hooks, v, &v->be, &why);
	}
	if (r < 0)
		return msb_fail(err, r, "volume %s: %s", guest,
				why.message[0] ? why.message : strerror(-r));
	fo.read_only = v->ro;
	fo.direct_io = json_object_object_get_ex(o, "direct_io", &x) &&
		       json_object_get_boolean(x);
	vol_cache(o, kind, &fo);
	/* Files of the volume's owner (the supervisor's user, or as root
	 * the directory's owner) are root's in the guest, and what guest
	 * root creates is theirs on the host. */
	v->as_owner = geteuid() == 0 && owner_uid != 0;
	v->owner_uid = owner_uid;
	v->owner_gid = owner_gid;
	fo.map_ids = 1;
	fo.host_uid = owner_uid;
	fo.host_gid = owner_gid;
	v->fuse = msb_fuse_new(v->be.ops, v->be.state, &fo);
	if (!v->fuse)
		return msb_fail(err, -ENOMEM, "volume %s: cannot start a FUSE "
				"session over its backend", guest);
	return 0;
}

int sup_fs_setup(struct sup *s, msb_error *err)
{
	json_object *vols;
	size_t n;

	if (!json_object_object_get_ex(s->config, "volumes", &vols) ||
	    !json_object_is_type(vols, json_type_array))
		return 0;
	n = json_object_array_length(vols);
	if (n > SUP_MAX_VOLUMES)
		return msb_fail(err, -E2BIG, "%zu volumes: at most %d", n,
				SUP_MAX_VOLUMES);
	for (size_t i = 0; i < n; i++) {
		struct sup_vol *v = calloc(1, sizeof(*v));
		int r;

		if (!v)
			return msb_fail(err, -ENOMEM, "out of memory");
		v->s = s;
		snprintf(v->tag, sizeof(v->tag), "msbvol%zu", i);
		v->sock_ref = (struct fs_ref){ REF_SOCKET, -1 };
		v->stop_ref = (struct fs_ref){ REF_STOP, -1 };
		for (int q = 0; q < FS_QUEUES; q++)
			v->kick_ref[q] = (struct fs_ref){ q, -1 };
		v->epfd = epoll_create1(EPOLL_CLOEXEC);
		v->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		s->vols[s->nvols++] = v;
		if (v->epfd < 0 || v->stop_fd < 0)
			return msb_fail_errno(err, -errno, "volume %zu", i);
		watch(v, &v->stop_ref, v->stop_fd);
		r = vol_open(s, v, json_object_array_get_idx(vols, i), err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* on_socket() - a vhost-user message from QEMU. */
static void on_socket(struct sup_vol *v)
{
	if (vu_on_socket(&v->dev) < 0) {
		/* QEMU is gone (its exit says why) or confused: this device
		 * is over until the next launch makes a new one. */
		if (v->dev.err.code != VU_CLOSED)
			sup_log(v->s, "volume %s: %s", v->guest,
				v->dev.err.message);
		unwatch(v, &v->sock_ref);
		for (int q = 0; q < FS_QUEUES; q++)
			unwatch(v, &v->kick_ref[q]);
		v->dead = 1;
	} else if (v->dev.err.code) {
		/* a request failed, the device goes on */
		sup_log(v->s, "volume %s: %s", v->guest, v->dev.err.message);
		v->dev.err.code = 0;
	}
}

/* vol_thread() - serve one volume until told to stop. */
static void *vol_thread(void *arg)
{
	struct sup_vol *v = arg;
	struct epoll_event evs[FS_QUEUES + 2];
	char name[16];

	snprintf(name, sizeof(name), "msb-%s", v->tag);
	prctl(PR_SET_NAME, name);
	/* This thread's file system calls as the directory's owner: what
	 * it makes is theirs, what it opens it opens as they may. A root
	 * supervisor without capabilities may take these ids only because
	 * they are its saved ones (sup_fs_owner()). setfsuid() says no
	 * error: asking again tells whether it took. */
	if (v->as_owner) {
		setfsgid(v->owner_gid);
		setfsuid(v->owner_uid);
		if ((uid_t)setfsuid(v->owner_uid) != v->owner_uid ||
		    (gid_t)setfsgid(v->owner_gid) != v->owner_gid)
			sup_log(v->s, "volume %s: cannot act as its owner "
				"(uid %u): served as root, which may only do "
				"what 'other' may there", v->guest,
				(unsigned)v->owner_uid);
	}
	for (;;) {
		/* a forget's interrupt held back waits this long at most
		 * for a reply's to go with (vu_dev @lazy) */
		int n = epoll_wait(v->epfd, evs, FS_QUEUES + 2,
				   vu_owed(&v->dev) ? VU_LAZY_MS : -1);

		if (n == 0)
			vu_flush(&v->dev);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sup_log(v->s, "volume %s: epoll: %s; no longer served",
				v->guest, strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct fs_ref *r = evs[i].data.ptr;

			if (r->queue == REF_STOP)
				return NULL;
			/* An earlier message in this batch may have ended
			 * the device or replaced this kick. */
			if (v->dead || r->fd < 0)
				continue;
			if (r->queue == REF_SOCKET) {
				on_socket(v);
			} else if (vu_on_kick(&v->dev,
					      (unsigned int)r->queue) < 0) {
				/* The guest broke its own ring: that queue
				 * is dead, the sandbox and every other
				 * volume go on. */
				sup_log(v->s, "volume %s: %s", v->guest,
					v->dev.err.message);
				unwatch(v, r);
			}
		}
	}
}

/* dev_down() - stop the volume's thread, then end its device. */
static void dev_down(struct sup_vol *v)
{
	if (v->running) {
		uint64_t one = 1;

		if (write(v->stop_fd, &one, sizeof(one)) < 0)
			sup_log(v->s, "volume %s: cannot stop its thread: %s",
				v->guest, strerror(errno));
		pthread_join(v->thread, NULL);
		v->running = 0;
		/* consumed, so that the next launch's thread runs */
		if (read(v->stop_fd, &one, sizeof(one)) < 0)
			one = 0;
	}
	if (!v->dev_up)
		return;
	unwatch(v, &v->sock_ref);
	vu_dev_free(&v->dev); /* unwatches the kicks through kick_watch */
	for (int q = 0; q < FS_QUEUES; q++)
		unwatch(v, &v->kick_ref[q]);
	v->dev_up = 0;
	v->dead = 0;
}

/* dev_start() - the volume's thread, with every signal blocked (the main
 * loop takes them from its signalfd). */
static int dev_start(struct sup_vol *v)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&v->thread, NULL, vol_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	v->running = 1;
	return 0;
}

int sup_fs_owner(struct sup *s, uid_t *uid, gid_t *gid, char *why,
		 size_t n)
{
	const struct sup_vol *first = NULL;

	for (unsigned int i = 0; i < s->nvols; i++) {
		const struct sup_vol *v = s->vols[i];

		if (!v->as_owner)
			continue;
		if (!first) {
			first = v;
			continue;
		}
		if (v->owner_uid != first->owner_uid ||
		    v->owner_gid != first->owner_gid) {
			snprintf(why, n, "the volumes %s (uid %u, gid %u) and "
				 "%s (uid %u, gid %u) belong to different "
				 "users: a sandbox run by root serves each "
				 "directory as its owner, and can be one other "
				 "user only (docs/security.md); give them one "
				 "owner, or run the sandbox as that user",
				 first->guest, (unsigned)first->owner_uid,
				 (unsigned)first->owner_gid, v->guest,
				 (unsigned)v->owner_uid,
				 (unsigned)v->owner_gid);
			return -EINVAL;
		}
	}
	if (!first)
		return 0;
	*uid = first->owner_uid;
	*gid = first->owner_gid;
	return 1;
}

int sup_fs_link(struct sup *s, msb_error *err)
{
	s->spec.nfs = 0;
	for (unsigned int i = 0; i < s->nvols; i++) {
		struct sup_vol *v = s->vols[i];
		int sv[2], r;

		dev_down(v);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return msb_fail_errno(err, -errno, "volume socket");
		r = vu_dev_init(&v->dev, sv[0], FS_QUEUES, serve_request,
				kick_watch, v);
		if (r < 0) {
			close(sv[1]);
			vu_dev_free(&v->dev);
			return msb_fail_errno(err, r, "volume %s", v->guest);
		}
		v->dev.lazy = 1u << 0; /* the high-priority queue: forgets */
		v->dev_up = 1;
		watch(v, &v->sock_ref, sv[0]);
		r = dev_start(v);
		if (r < 0) {
			close(sv[1]);
			return msb_fail_errno(err, r, "volume %s: thread",
					      v->guest);
		}
		s->spec.fs[s->spec.nfs++] = (struct msb_fsdev){ sv[1], v->tag };
	}
	return 0;
}

void sup_fs_launched(struct sup *s)
{
	for (unsigned int i = 0; i < s->spec.nfs; i++)
		close(s->spec.fs[i].fd);
	s->spec.nfs = 0;
}

void sup_fs_init_tlvs(struct sup *s, struct msb_tlv_w *w)
{
	for (unsigned int i = 0; i < s->nvols; i++) {
		struct sup_vol *v = s->vols[i];
		uint8_t val[1 + sizeof(v->tag) + sizeof(v->guest)];
		size_t t = strlen(v->tag), g = strlen(v->guest);

		val[0] = v->ro ? MSB_VOLUME_RO : 0;
		memcpy(val + 1, v->tag, t + 1);
		memcpy(val + 2 + t, v->guest, g);
		msb_tlv_put(w, MSB_T_VOLUME, val, 2 + t + g);
	}
}

void sup_fs_free(struct sup *s)
{
	for (unsigned int i = 0; i < s->nvols; i++) {
		struct sup_vol *v = s->vols[i];

		dev_down(v);
		if (v->fuse)
			msb_fuse_free(v->fuse);
		if (v->be.ops)
			msb_fs_backend_close(&v->be);
		if (v->epfd >= 0)
			close(v->epfd);
		if (v->stop_fd >= 0)
			close(v->stop_fd);
		free(v);
	}
	s->nvols = 0;
}
