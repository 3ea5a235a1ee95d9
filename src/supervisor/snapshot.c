/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot.c - taking a snapshot of the running sandbox, and waking up as
 * a restored one (docs/snapshots.md)
 *
 * Theory of operation, taking one (API "snapshot", params {"dir"}, and
 * "disk_only" for the disk alone, as a push of a running sandbox asks):
 *   1. QUIESCE goes to the agent, after everything queued before it;
 *      whatever the supervisor has for the agent from then on is held
 *      back. The agent answers QUIESCED as its last frame, so once it is
 *      here no frame is in flight either way.
 *   2. The VM is paused (QEMU drains and flushes its disks).
 *   3. The engine saves the device state and the RAM (a full snapshot);
 *      a sandbox with volumes (vhost-user-fs cannot migrate in QEMU 7.2),
 *      one whose NIC is vhost-user-net (MSB_NET_VHOST_USER=1: the same)
 *      and a restored one (its RAM is a private copy) get the disk only.
 *   4. The upper disk is copied, sparse, at the same instant (a restored
 *      sandbox's qcow2 overlay as it is: the library flattens it).
 *   5. The VM runs again, THAW and then the held frames go to the agent,
 *      and the client gets the facts the library writes into meta.json.
 * Every failure after step 1 still goes through 5: the sandbox is never
 * left paused. The library owns the directory and removes it on failure.
 *
 * Waking up restored ($MSB_RESTORE names the snapshot's directory): the VM
 * is launched waiting for its device state, the engine loads it, and the
 * agent, which was holding still since QUIESCE, gets RESTORED instead of
 * THAW: the new hostname, the wall clock, host randomness to reseed with,
 * and the --env overrides. Its READY makes the sandbox ready.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "jsonx.h"
#include "supervisor.h"
#include "util.h"

/* How long the agent may take to answer QUIESCE (it syncs filesystems). */
#define QUIESCE_TIMEOUT_MS 30000

enum snap_step { SNAP_IDLE, SNAP_QUIESCING, SNAP_PAUSING, SNAP_SAVING,
		 SNAP_RESUMING };

struct sup_snap {
	enum snap_step step;
	struct conn *conn;
	uint64_t conn_serial;
	int64_t req_id;
	char dir[PATH_MAX];
	int full;
	char reason[160];       /* why only the disk, if so */
	char fail[512];
	int paused;
	uint64_t t0, t_quiesced, t_paused, t_saved, t_disk, t_resumed;
	uint64_t disk_bytes;
	int upper_qcow2;        /* the disk was copied as upper.qcow2 */
};

static struct sup_snap snap;
static struct ev_ref timer_ref = { EV_SNAP };
static int timer_fd = -1;

static void arm(struct sup *s, uint64_t ms)
{
	struct itimerspec it = { 0 };
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.ptr = &timer_ref };

	if (timer_fd < 0) {
		timer_fd = timerfd_create(CLOCK_MONOTONIC,
					       TFD_NONBLOCK | TFD_CLOEXEC);
		if (timer_fd < 0)
			return;
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, timer_fd, &ev);
	}
	it.it_value.tv_sec = (time_t)(ms / 1000);
	it.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	timerfd_settime(timer_fd, 0, &it, NULL);
}

static void finish(struct sup *s);
static void resume(struct sup *s);

static void failed(struct sup *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void failed(struct sup *s, const char *fmt, ...)
{
	va_list ap;

	if (!snap.fail[0]) {
		va_start(ap, fmt);
		vsnprintf(snap.fail, sizeof(snap.fail), fmt, ap);
		va_end(ap);
	}
	resume(s);
}

/* copy_upper() - the upper disk at this instant (the VM is paused, its
 * disks flushed), sparse. A restored sandbox's is a qcow2 overlay: it is
 * copied as it is, to upper.qcow2 (its backing file is named in it), and
 * the library makes it one raw upper.ext4 (the supervisor runs no
 * program: docs/security.md). */
static int copy_upper(struct sup *s, msb_error *err)
{
	const struct msb_disk *d = &s->spec.disks[0];
	char out[PATH_MAX + 16];
	struct stat st;
	int64_t n;
	int fd;

	snap.upper_qcow2 = d->format && !strcmp(d->format, "qcow2");
	snprintf(out, sizeof(out), "%s/%s", snap.dir,
		 snap.upper_qcow2 ? "upper.qcow2" : "upper.ext4");
	fd = open(d->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return msb_fail_errno(err, -e, "cannot read %s", d->path);
	}
	n = msb_copy_sparse(fd, out, (uint64_t)st.st_size, err);
	close(fd);
	if (n < 0)
		return (int)n;
	snap.disk_bytes = (uint64_t)n;
	return 0;
}

static void resumed(void *opaque, int rc, const char *why)
{
	struct sup *s = opaque;

	if (rc < 0) {
		/* A VM that will not run again is of no use: say so and
		 * let it go. */
		sup_log(s, "the VM did not resume after the snapshot: %s; "
			   "stopping",
			why);
		failed(s, "the VM did not resume: %s", why);
		msb_engine_kill(&s->vm);
	}
	snap.paused = 0;
	snap.t_resumed = msb_now_us();
	finish(s);
}

/* Run again and let the agent go on, whatever happened before. */
static void resume(struct sup *s)
{
	msb_error err = { 0 };

	if (snap.step == SNAP_RESUMING)
		return;
	snap.step = SNAP_RESUMING;
	arm(s, 0);
	if (!snap.paused) {
		finish(s);
		return;
	}
	if (msb_engine_resume(&s->vm, resumed, s, &err) < 0)
		resumed(s, err.code, err.message);
}

static void saved(void *opaque, int rc, const char *why)
{
	struct sup *s = opaque;
	msb_error err = { 0 };

	if (rc < 0) {
		failed(s, "%s", why);
		return;
	}
	snap.t_saved = msb_now_us();
	if (copy_upper(s, &err) < 0) {
		failed(s, "%s", err.message);
		return;
	}
	snap.t_disk = msb_now_us();
	resume(s);
}

static void paused(void *opaque, int rc, const char *why)
{
	struct sup *s = opaque;
	msb_error err = { 0 };

	if (rc < 0) {
		failed(s, "the VM could not be paused: %s", why);
		return;
	}
	snap.paused = 1;
	snap.t_paused = msb_now_us();
	snap.step = SNAP_SAVING;
	if (!snap.full) {
		saved(s, 0, NULL);
		return;
	}
	if (msb_engine_save(&s->vm, snap.dir, saved, s, &err) < 0)
		failed(s, "%s", err.message);
}

void sup_snapshot_quiesced(struct sup *s)
{
	msb_error err = { 0 };

	if (snap.step != SNAP_QUIESCING)
		return;
	snap.t_quiesced = msb_now_us();
	snap.step = SNAP_PAUSING;
	if (msb_engine_pause(&s->vm, paused, s, &err) < 0)
		failed(s, "the VM could not be paused: %s", err.message);
}

void sup_snapshot_timer(struct sup *s)
{
	uint64_t x;

	if (read(timer_fd, &x, sizeof(x)) < 0)
		return;
	if (snap.step == SNAP_QUIESCING)
		failed(s, "the guest agent did not answer QUIESCE within %d s",
		       QUIESCE_TIMEOUT_MS / 1000);
}

static json_object *ms(uint64_t a, uint64_t b)
{
	return msb_jdouble(b > a ? (double)(b - a) / 1000.0 : 0.0, 3);
}

static void finish(struct sup *s)
{
	struct conn *c = snap.conn;
	json_object *r, *t;

	/* The agent goes on first, then whatever was held for it. */
	if (s->agent_hold) {
		struct msb_buf held = s->agent_held;

		s->agent_hold = 0;
		memset(&s->agent_held, 0, sizeof(s->agent_held));
		agent_send(s, 0, MSB_F_THAW, NULL, 0);
		if (held.len)
			msb_buf_append(&s->agent_out, msb_buf_data(&held),
				       held.len);
		msb_buf_free(&held);
		agent_on_writable(s);
	}
	snap.step = SNAP_IDLE;
	if (!c || !api_conn_alive(s, c, snap.conn_serial))
		return;
	if (snap.fail[0]) {
		sup_log(s, "snapshot failed: %s", snap.fail);
		api_reply_error(s, c, snap.req_id, "snapshot_failed",
				snap.fail);
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "kind", json_object_new_string(
						  snap.full ? "full" : "disk"));
	if (!snap.full)
		json_object_object_add(r, "reason",
				       json_object_new_string(snap.reason));
	json_object_object_add(r, "next_stream",
			       json_object_new_int64(s->next_stream));
	/* A full snapshot's guest is this agent, whatever msb restores it. */
	if (snap.full)
		json_object_object_add(r, "agent", json_object_new_string(
							   s->agent_version));
	json_object_object_add(r, "disk_bytes",
			       json_object_new_int64((int64_t)snap.disk_bytes));
	if (snap.upper_qcow2)
		json_object_object_add(r, "upper_format",
				       json_object_new_string("qcow2"));
	if (snap.full) {
		json_object_object_add(r, "state_bytes",
				       json_object_new_int64(
					       (int64_t)s->vm.saved.state_bytes));
		json_object_object_add(r, "ram_bytes",
				       json_object_new_int64(
					       (int64_t)s->vm.saved.ram_bytes));
		json_object_object_add(r, "ram_size",
				       json_object_new_int64(
					       (int64_t)s->vm.saved.ram_size));
	}
	t = json_object_new_object();
	json_object_object_add(t, "quiesce_ms", ms(snap.t0, snap.t_quiesced));
	json_object_object_add(t, "pause_ms", ms(snap.t_quiesced, snap.t_paused));
	if (snap.full) {
		json_object_object_add(t, "state_ms",
				       msb_jdouble((double)s->vm.saved.state_us /
							   1000,
						   3));
		json_object_object_add(t, "ram_ms",
				       msb_jdouble((double)s->vm.saved.ram_us /
							   1000,
						   3));
	}
	json_object_object_add(t, "disk_ms", ms(snap.t_saved, snap.t_disk));
	json_object_object_add(t, "paused_ms", ms(snap.t_paused, snap.t_resumed));
	json_object_object_add(t, "total_ms", ms(snap.t0, snap.t_resumed));
	json_object_object_add(r, "timings", t);
	sup_log(s, "snapshot taken (%s, guest paused %.1f ms)",
		snap.full ? "full" : "disk only",
		(double)(snap.t_resumed - snap.t_paused) / 1000);
	{
		json_object *x = json_object_new_object();

		json_object_object_add(x, "full",
				       json_object_new_boolean(snap.full));
		sup_hook_lifecycle(s, "snapshot", x);
	}
	api_reply_result(s, c, snap.req_id, r);
}

void sup_snapshot_start(struct sup *s, struct conn *c, int64_t id,
			json_object *params)
{
	json_object *v;
	const char *dir = NULL;
	struct stat st;

	if (params && json_object_object_get_ex(params, "dir", &v))
		dir = json_object_get_string(v);
	if (!dir || dir[0] != '/' || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		api_reply_error(s, c, id, "invalid_params",
				"snapshot needs \"dir\": an existing absolute "
				"directory");
		return;
	}
	if (s->state != ST_RUNNING) {
		api_reply_error(s, c, id, "not_running",
				"the sandbox is not running");
		return;
	}
	if (sup_diskfull_paused(s)) {
		char why[1024];

		api_paused_text(s, why, sizeof(why));
		api_reply_error(s, c, id, "paused", why);
		return;
	}
	if (snap.step != SNAP_IDLE) {
		api_reply_error(s, c, id, "busy",
				"a snapshot of this sandbox is already under "
				"way");
		return;
	}
	memset(&snap, 0, sizeof(snap));
	snap.conn = c;
	snap.conn_serial = c->serial;
	snap.req_id = id;
	snprintf(snap.dir, sizeof(snap.dir), "%s", dir);
	snap.full = 1;
	if (params && json_object_object_get_ex(params, "disk_only", &v) &&
	    json_object_get_boolean(v)) {
		/* a push of the running sandbox (src/sync/push.c) */
		snap.full = 0;
		snprintf(snap.reason, sizeof(snap.reason),
			 "only the disk was asked for");
	} else if (s->nvols) {
		snap.full = 0;
		snprintf(snap.reason, sizeof(snap.reason),
			 "the sandbox has volumes (virtio-fs devices cannot "
			 "be migrated by QEMU 7.2)");
	} else if (s->spec.net_vhost) {
		snap.full = 0;
		snprintf(snap.reason, sizeof(snap.reason),
			 "the sandbox's network device is served over "
			 "vhost-user (MSB_NET_VHOST_USER=1), which QEMU 7.2 "
			 "cannot migrate without dirty logging");
	} else if (s->vm.ram_fd <= 0) {
		snap.full = 0;
		snprintf(snap.reason, sizeof(snap.reason),
			 "the sandbox was itself restored from a snapshot "
			 "(its memory is a private copy-on-write mapping)");
	}
	snap.t0 = msb_now_us();
	snap.step = SNAP_QUIESCING;
	agent_send(s, 0, MSB_F_QUIESCE, NULL, 0);
	s->agent_hold = 1;
	arm(s, QUIESCE_TIMEOUT_MS);
}

/* ---- waking up restored ------------------------------------------------- */

int sup_restore_prepare(struct sup *s, const char *dir, msb_error *err)
{
	static char ram[PATH_MAX + 8];
	char path[PATH_MAX + 16], *meta;
	json_object *m, *v;
	int fd;

	if (dir != s->restore_dir)
		snprintf(s->restore_dir, sizeof(s->restore_dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	meta = msb_read_file(path, NULL);
	m = meta ? json_tokener_parse(meta) : NULL;
	free(meta);
	if (!m)
		return msb_fail(err, -EINVAL, "the snapshot's %s is missing "
					      "or unreadable",
				path);
	if (json_object_object_get_ex(m, "next_stream", &v))
		s->next_stream = (uint32_t)json_object_get_int64(v);
	/* The guest's own streams (execs running at the snapshot) keep
	 * their ids; ours start far above them. */
	s->restored_streams = s->next_stream;
	s->next_stream += 1000;
	agent_set_version(s, json_object_object_get_ex(m, "agent", &v) &&
					     json_object_is_type(v, json_type_string) ?
				     json_object_get_string(v) :
				     NULL);
	if (json_object_object_get_ex(m, "name", &v))
		snprintf(s->restore_snap, sizeof(s->restore_snap), "%s",
			 json_object_get_string(v));
	json_object_put(m);
	snprintf(path, sizeof(path), "%s/state", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return msb_fail_errno(err, -errno, "cannot open %s", path);
	snprintf(ram, sizeof(ram), "%s/ram", dir);
	s->spec.restore_ram = ram;
	s->spec.restore_state_fd = fd;
	return 0;
}

static void restore_loaded(void *opaque, int rc, const char *why)
{
	struct sup *s = opaque;
	static uint8_t buf[16384];
	struct msb_tlv_w w;
	struct timespec ts;
	uint8_t rnd[64];
	json_object *env;

	if (rc < 0) {
		snprintf(s->fail, sizeof(s->fail),
			 "restoring the snapshot failed: %s", why);
		sup_log(s, "%s", s->fail);
		msb_engine_kill(&s->vm);
		return;
	}
	s->restore_loaded_us = msb_now_us();
	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_HOSTNAME, s->name);
	clock_gettime(CLOCK_REALTIME, &ts);
	msb_tlv_put_u64(&w, MSB_T_TIME,
			(uint64_t)ts.tv_sec * 1000000000ull +
				(uint64_t)ts.tv_nsec);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(s->fail, sizeof(s->fail),
			 "no host randomness to reseed the guest with");
		msb_engine_kill(&s->vm);
		return;
	}
	msb_tlv_put(&w, MSB_T_ENTROPY, rnd, sizeof(rnd));
	memset(rnd, 0, sizeof(rnd));
	msb_tlv_put_str(&w, MSB_T_SNAPSHOT, s->restore_snap);
	if (json_object_object_get_ex(s->config, "restore_env", &env) &&
	    json_object_is_type(env, json_type_array))
		for (size_t i = 0; i < json_object_array_length(env); i++)
			msb_tlv_put_str(&w, MSB_T_ENV,
					json_object_get_string(
						json_object_array_get_idx(env,
									  i)));
	/* The agent is already past HELLO and INIT: it was holding still
	 * since QUIESCE. */
	s->agent_hello = 1;
	agent_send(s, 0, MSB_F_RESTORED, buf, w.len);
}

int sup_restore_start(struct sup *s, msb_error *err)
{
	return msb_engine_restore(&s->vm, restore_loaded, s, err);
}
