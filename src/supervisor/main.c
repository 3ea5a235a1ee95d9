/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - msb-supervisor: boots one sandbox and serves it until it stops
 *
 * Started detached by the library (msb_sandbox_create/start) as
 *   msb-supervisor NAME NOTIFY_FD
 * with $MSB_HOME and $MSB_PREFIX set. It holds an exclusive lock on
 * sandboxes/NAME/lock for its whole life (how everyone else tells that it is
 * alive), writes "ready MS" or "error MESSAGE" to NOTIFY_FD once the guest is
 * up or has failed, and exits when the VM does, leaving the state database
 * saying what happened.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "confine.h"
#include "hooks.h"
#include "net.h"
#include "state.h"
#include "supervisor.h"
#include "util.h"

/* A KVM that fails does so within moments of launch, before the guest
 * says anything. */
#define KVM_FAIL_WINDOW_US (5 * 1000000ull)
#define DEFAULT_BOOT_TIMEOUT_MS 60000
/* After the grace period given to guest processes, how long the guest may
 * take to sync and power off before it is killed. */
#define POWEROFF_MARGIN_MS 5000
/* Layers and volumes share the engine's free virtio slots; images are
 * built to need at most 4 layers (src/image/image.h). */
#define MAX_LAYER_DISKS MSB_ENGINE_SHARED_SLOTS

static void notify(struct sup *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void notify(struct sup *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (s->notify_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	msb_write_all(s->notify_fd, buf, (size_t)n);
	close(s->notify_fd);
	s->notify_fd = -1;
}

void sup_arm_timer(struct sup *s, uint64_t ms)
{
	struct itimerspec it = { 0 };

	it.it_value.tv_sec = (time_t)(ms / 1000);
	it.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	if (!ms)
		it.it_value.tv_nsec = 1;
	timerfd_settime(s->timer_fd, 0, &it, NULL);
}

void sup_save_runtime(struct sup *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "accel",
			       json_object_new_string(s->vm.accel ==
							      MSB_ACCEL_KVM ?
						      "kvm" :
						      "tcg"));
	/* Only while the VM is there: a stopped sandbox has none. */
	if (s->state != ST_DONE)
		json_object_object_add(o, "vm_pid",
				       json_object_new_int(s->vm.pid));
	if (s->command)
		json_object_object_add(o, "command",
				       json_object_get(s->command));
	if (s->ports && s->state != ST_DONE)
		json_object_object_add(o, "ports", json_object_get(s->ports));
	json_object_object_add(o, "confined",
			       json_object_new_boolean(s->vm.confined));
	json_object_object_add(o, "vmm_uid",
			       json_object_new_int64((int64_t)s->vmm_uid));
	json_object_object_add(o, "boot_ms",
			       json_object_new_int64((int64_t)s->boot_ms));
	if (s->timings)
		json_object_object_add(o, "guest_timings_us",
				       json_object_get(s->timings));
	/* Host milestones, microseconds since the create/start call. */
	json_object_object_add(o, "host_launch_us",
			       json_object_new_int64((int64_t)(s->vm.launched_us -
							       s->t0_us)));
	json_object_object_add(o, "host_ready_us",
			       json_object_new_int64((int64_t)(s->ready_us -
							       s->t0_us)));
	if (s->restore_dir[0]) {
		json_object_object_add(o, "restored_from",
				       json_object_new_string(s->restore_snap));
		json_object_object_add(
			o, "host_state_loaded_us",
			json_object_new_int64(
				(int64_t)(s->restore_loaded_us - s->t0_us)));
	}
	msb_db_set_runtime(s->db, s->name,
			   json_object_to_json_string_ext(
				   o, JSON_C_TO_STRING_PLAIN),
			   NULL);
	json_object_put(o);
}

/* mark_ready() - keep (@on) or drop the ready file (msb_ready_path()):
 * libmsb opens a sandbox whose supervisor holds its lock and has it
 * without reading the database. Kept only in ST_RUNNING. */
static void mark_ready(struct sup *s, int on)
{
	char path[PATH_MAX];
	int fd;

	if (msb_ready_path(s->name, path, sizeof(path)) < 0)
		return;
	if (!on) {
		unlink(path);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		sup_log(s, "cannot write %s: %s (msb exec reads the record "
			"instead)", path, strerror(errno));
	else
		close(fd);
}

void sup_ready(struct sup *s)
{
	s->ready_us = msb_now_us();
	s->boot_ms = (s->ready_us - s->t0_us) / 1000;
	s->state = ST_RUNNING;
	{
		struct itimerspec off = { 0 };

		timerfd_settime(s->timer_fd, 0, &off, NULL);
	}
	sup_save_runtime(s);
	sup_stats_sample(s);
	sup_tick_rearm(s);
	msb_db_set_status(s->db, s->name, "running", getpid(), NULL, NULL);
	mark_ready(s, 1);
	sup_log(s, "ready in %llu ms (%s)", (unsigned long long)s->boot_ms,
		s->vm.accel == MSB_ACCEL_KVM ? "kvm" : "tcg");
	{
		json_object *x = json_object_new_object();

		json_object_object_add(x, "boot_ms",
				       json_object_new_int64((int64_t)s->boot_ms));
		if (s->restore_dir[0])
			json_object_object_add(
				x, "snapshot",
				json_object_new_string(s->restore_snap));
		sup_hook_lifecycle(s, s->restore_dir[0] ? "restore" : "start",
				   x);
	}
	{
		json_object *d = json_object_new_object();

		json_object_object_add(d, "boot_ms", json_object_new_int64(
						     (int64_t)s->boot_ms));
		sup_event(s, "msb.started", d);
	}
	sup_command_start(s);
	/* Last: whoever waits for the boot (msb run -d, start) returns to
	 * a record that already shows the detached command running, so a
	 * ps or wait right after it sees the command. */
	notify(s, "ready %llu", (unsigned long long)s->boot_ms);
}

void sup_begin_stop(struct sup *s, unsigned timeout_s)
{
	if (s->state == ST_STOPPING) {
		if (!timeout_s) {
			s->stop_forced = 1;
			msb_engine_kill(&s->vm);
		}
		return;
	}
	if (s->state == ST_DONE)
		return;
	if (!s->stop_started_us)
		s->stop_started_us = msb_now_us();
	mark_ready(s, 0);
	if (s->state == ST_BOOTING || !timeout_s || s->agent_fd < 0) {
		s->state = ST_STOPPING;
		s->stop_forced = 1;
		msb_db_set_status(s->db, s->name, "stopping", getpid(), NULL,
				  NULL);
		msb_engine_kill(&s->vm);
		return;
	}
	s->state = ST_STOPPING;
	msb_db_set_status(s->db, s->name, "stopping", getpid(), NULL, NULL);
	sup_log(s, "stopping (grace %us)", timeout_s);
	agent_send_u32(s, 0, MSB_F_SHUTDOWN, timeout_s * 1000);
	sup_arm_timer(s, (uint64_t)timeout_s * 1000 + POWEROFF_MARGIN_MS);
	sup_diskfull_stop(s);
}

static int on_timer(struct sup *s)
{
	uint64_t x;

	if (read(s->timer_fd, &x, sizeof(x)) < 0)
		return 0;
	if (s->state == ST_BOOTING) {
		json_object *t;
		unsigned ms = DEFAULT_BOOT_TIMEOUT_MS;

		if (json_object_object_get_ex(s->config, "boot_timeout_ms",
					      &t))
			ms = (unsigned)json_object_get_int(t);
		/* The creator adds the console's last lines. */
		snprintf(s->fail, sizeof(s->fail),
			 "guest did not report ready within %u ms; killed it",
			 ms);
		sup_log(s, "%s", s->fail);
		msb_engine_kill(&s->vm);
	} else if (s->state == ST_STOPPING) {
		sup_log(s, "guest did not power off in time; killing it");
		s->stop_forced = 1;
		msb_engine_kill(&s->vm);
	}
	return 0;
}

static int setup_agent_link(struct sup *s, int *vm_end)
{
	int sv[2];
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.ptr = &s->agent_ref };

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	s->agent_fd = sv[0];
	*vm_end = sv[1];
	msb_set_nonblock(s->agent_fd, 1);
	memset(&s->framer, 0, sizeof(s->framer));
	msb_buf_free(&s->agent_out);
	s->agent_want_out = 0;
	s->agent_hello = 0;
	s->agent_ref.type = EV_AGENT;
	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->agent_fd, &ev) < 0 ? -errno :
									   0;
}

void sup_engine_event(void *opaque, const char *event, json_object *data)
{
	struct sup *s = opaque;

	if (!strcmp(event, "STOP"))
		snprintf(s->vm_status, sizeof(s->vm_status), "paused");
	else if (!strcmp(event, "RESUME"))
		snprintf(s->vm_status, sizeof(s->vm_status), "running");
	if (sup_diskfull_event(s, event, data))
		return;
	/* The NIC's chatter is not news. */
	if (!strncmp(event, "NETDEV_", 7) || !strncmp(event, "NIC_", 4))
		return;
	sup_log(s, "engine event %s%s%s", event, data ? " " : "",
		data ? json_object_to_json_string_ext(data,
						      JSON_C_TO_STRING_PLAIN) :
		       "");
}

void sup_engine_update(struct sup *s)
{
	int fd = msb_engine_fd(&s->vm);
	int want = msb_engine_want_write(&s->vm);
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0),
				  .data.ptr = &s->engine_ref };

	if (fd != s->engine_fd) {
		/* A closed descriptor left epoll by itself. */
		s->engine_fd = fd;
		s->engine_want_out = want;
		if (fd >= 0)
			epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
		return;
	}
	if (fd >= 0 && want != s->engine_want_out) {
		s->engine_want_out = want;
		epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev);
	}
}

static void on_engine(struct sup *s, uint32_t events)
{
	msb_error err = { 0 };

	if (msb_engine_dispatch(&s->vm, events, &err) < 0) {
		/* QEMU is going away: its exit (SIGCHLD) says how. */
		if (s->engine_fd >= 0)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->engine_fd, NULL);
		msb_engine_close(&s->vm);
		s->engine_fd = -1;
	}
}

static int launch(struct sup *s, msb_error *err)
{
	int vm_end = -1, net_end = -1, r;

	r = setup_agent_link(s, &vm_end);
	if (r < 0)
		return msb_fail_errno(err, r, "agent link");
	s->spec.agent_fd = vm_end;
	r = sup_net_link(s, &net_end, err);
	if (r < 0) {
		close(vm_end);
		return r;
	}
	s->spec.net_fd = net_end;
	r = sup_logs_link(s, &s->spec.console_fd, &s->spec.log_fd);
	if (r < 0) {
		close(vm_end);
		if (net_end >= 0)
			close(net_end);
		return msb_fail_errno(err, r, "console link");
	}
	s->spec.on_event = sup_engine_event;
	s->spec.event_opaque = s;
	r = sup_fs_link(s, err);
	/* (prepared before the first launch: main()) */
	if (r == 0 && s->restore_dir[0] && s->spec.restore_state_fd < 0)
		r = sup_restore_prepare(s, s->restore_dir, err);
	if (r == 0)
		r = msb_engine_launch(&s->spec, &s->vm, err);
	if (s->spec.restore_state_fd >= 0 && r < 0)
		close(s->spec.restore_state_fd);
	s->spec.restore_state_fd = -1;
	s->engine_ref.type = EV_ENGINE;
	s->engine_fd = -1; /* a relaunch's new link is added afresh */
	if (r == 0 && s->restore_dir[0])
		r = sup_restore_start(s, err);
	if (r == 0)
		sup_engine_update(s);
	sup_fs_launched(s);
	close(vm_end);
	if (net_end >= 0)
		close(net_end);
	close(s->spec.console_fd);
	close(s->spec.log_fd);
	s->spec.console_fd = s->spec.log_fd = -1;
	return r;
}

/* How the VM ended, once its process is gone. Return: 1 if it was relaunched. */
static int on_vm_exit(struct sup *s, int status)
{
	char engine_log[PATH_MAX], *log, *last = NULL;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	char how[64];

	/* What QEMU still had to say is in its pipe. */
	sup_logs_drain(s);
	snprintf(engine_log, sizeof(engine_log), "%s/engine.log", s->dir);
	log = msb_read_file(engine_log, NULL);
	if (log) {
		/* Its last line says why QEMU gave up, if it did: a line
		 * of its own, after the command line we logged before it
		 * (log_argv(), ending with the "files" line). */
		char *own = log, *f, *p = log + strlen(log);

		while (p > log && (p[-1] == '\n' || p[-1] == ' '))
			*--p = '\0';
		for (f = log; (f = strstr(f, "files")); f++)
			if (f == log || f[-1] == '\n')
				own = f;
		if (own != log || !strncmp(log, "files", 5)) {
			own = strchr(own, '\n');
			own = own ? own + 1 : p;
		}
		last = strrchr(own, '\n');
		last = last ? last + 1 : own;
		if (!*last)
			last = NULL;
	}
	if (s->state == ST_BOOTING && s->vm.accel == MSB_ACCEL_KVM &&
	    !s->agent_hello && code != 0 &&
	    msb_now_us() - s->vm.launched_us < KVM_FAIL_WINDOW_US &&
	    s->accel_forced) {
		snprintf(s->fail, sizeof(s->fail),
			 "KVM failed (qemu -accel kvm exited %d: %.300s) and "
			 "MSB_ACCEL=kvm forbids falling back to TCG; unset "
			 "MSB_ACCEL to let msb choose",
			 code, last ? last : "no message");
		free(log);
		return 0;
	}
	if (s->state == ST_BOOTING && s->vm.accel == MSB_ACCEL_KVM &&
	    !s->agent_hello && code != 0 &&
	    msb_now_us() - s->vm.launched_us < KVM_FAIL_WINDOW_US) {
		msb_error err = { 0 };
		char why[600];

		snprintf(why, sizeof(why), "qemu -accel kvm exited %d: %s\n",
			 code, last ? last : "");
		sup_log(s, "KVM is not usable here (%s); using TCG from now on",
			last ? last : "no message");
		msb_engine_mark_kvm_broken(why);
		s->spec.accel = MSB_ACCEL_TCG;
		free(log);
		if (launch(s, &err) == 0)
			return 1;
		snprintf(s->fail, sizeof(s->fail), "%s", err.message);
		return 0;
	}
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d, SIG%s",
			 WTERMSIG(status),
			 sigabbrev_np(WTERMSIG(status)) ?
			 sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(how, sizeof(how), "status %d", code);
	if (s->state == ST_BOOTING && !s->fail[0]) {
		if ((last || WIFSIGNALED(status)) && code != 0)
			snprintf(s->fail, sizeof(s->fail),
				 "the VM exited during boot (%s)%s%.300s", how,
				 last ? ": " : "", last ? last : "");
		else
			snprintf(s->fail, sizeof(s->fail),
				 "the guest stopped during boot (kernel panic "
				 "or bad initramfs?)");
	} else if (s->state == ST_RUNNING && code != 0 && !s->fail[0]) {
		snprintf(s->fail, sizeof(s->fail),
			 "the VM exited unexpectedly (%s)%s%.300s", how,
			 last ? ": " : "", last ? last : "");
	}
	free(log);
	return 0;
}

static void run_loop(struct sup *s)
{
	struct epoll_event evs[64];

	while (s->state != ST_DONE) {
		/* Woken each second too, to mark the log's growth. */
		int n = epoll_wait(s->epfd, evs, 64, SUP_LOG_MARK_MS);

		sup_log_mark(s, 0);
		if (n < 0 && errno == EINTR)
			continue;
		for (int i = 0; i < n; i++) {
			struct ev_ref *ref = evs[i].data.ptr;

			switch (ref->type) {
			case EV_AGENT:
				if (s->agent_fd < 0)
					break;
				if (evs[i].events & EPOLLOUT)
					agent_on_writable(s);
				if (evs[i].events & (EPOLLIN | EPOLLHUP |
						     EPOLLERR))
					agent_on_readable(s);
				break;
			case EV_LISTEN:
				api_on_accept(s);
				break;
			case EV_CONN:
				api_on_conn(s, (struct conn *)ref,
					    evs[i].events);
				break;
			case EV_TIMER:
				on_timer(s);
				break;
			case EV_TICK:
				sup_on_tick(s);
				break;
			case EV_NET:
				net_dispatch(s->net);
				break;
			case EV_ENGINE:
				on_engine(s, evs[i].events);
				break;
			case EV_SNAP:
				sup_snapshot_timer(s);
				break;
			case EV_CONSOLE:
			case EV_ENGINE_LOG:
				sup_logs_read(s, (struct sup_logfile *)ref);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(s->sig_fd, &si, sizeof(si)) ==
				       sizeof(si)) {
					if (si.ssi_signo == SIGTERM ||
					    si.ssi_signo == SIGINT ||
					    si.ssi_signo == SIGHUP) {
						sup_begin_stop(s, 10);
						continue;
					}
					/* The launcher is the only child; the
					 * VM's end shows on its socket. */
					while (waitpid(-1, NULL, WNOHANG) > 0)
						;
				}
				break;
			}
			case EV_PLUGINS:
				sup_plugins_keeper(s);
				break;
			case EV_SPAWN:
				if (s->spawn_ctl >= 0)
					sup_spawn_readable(s);
				break;
			case EV_LAUNCHER: {
				int st;

				if (msb_engine_reap(&s->vm, &st) &&
				    !on_vm_exit(s, st))
					s->state = ST_DONE;
				break;
			}
			}
			/* Handlers may have closed what later events in
			 * this batch point at; take a fresh batch. */
			if (s->state == ST_DONE)
				break;
		}
		sup_engine_update(s);
	}
}

static int load_config(struct sup *s, struct msb_row *row, msb_error *err)
{
	char path[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];
	static char layers[MAX_LAYER_DISKS][PATH_MAX], serials[MAX_LAYER_DISKS][16];
	static char upper[PATH_MAX], kpath[PATH_MAX], ipath[PATH_MAX],
		console[PATH_MAX], elog[PATH_MAX];
	json_object *v;
	size_t nlayers;
	int r;

	s->config = json_tokener_parse(row->config);
	if (!s->config)
		s->config = json_object_new_object();
	{
		const struct msb_guest *g;
		json_object *k;

		r = msb_guest_paths(json_object_object_get_ex(s->config,
							      "kernel", &k) ?
					    json_object_get_string(k) :
					    "cloud",
				    kernel, initrd, sizeof(kernel), &g, err);
		if (r < 0)
			return r;
		s->spec.acpi = g->acpi;
	}
	/* The image's layer disks, top first (overlayfs's lowerdir order);
	 * records from before pulled images name the built-in image. */
	if (json_object_object_get_ex(s->config, "layers", &v) &&
	    json_object_is_type(v, json_type_array)) {
		nlayers = json_object_array_length(v);
		if (!nlayers || nlayers > MAX_LAYER_DISKS)
			return msb_fail(err, -E2BIG,
					"the sandbox has %zu layer disks (1 to "
					"%d can be attached)",
					nlayers, MAX_LAYER_DISKS);
		for (size_t i = 0; i < nlayers; i++) {
			const char *l = json_object_get_string(
				json_object_array_get_idx(v, i));

			if (!l || access(l, R_OK) < 0)
				return msb_fail(err, -ENOENT,
						"layer disk %s is missing: pull "
						"the image '%s' again",
						l ? l : "?", row->info.image);
			snprintf(layers[i], sizeof(layers[i]), "%s", l);
		}
	} else {
		snprintf(path, sizeof(path), "images/%s/layer.erofs",
			 row->info.image);
		r = msb_share_path(path, layers[0], sizeof(layers[0]));
		if (r < 0 || access(layers[0], R_OK) < 0)
			return msb_fail(err, -ENOENT,
					"image '%s' has no layer at %s",
					row->info.image, layers[0]);
		nlayers = 1;
	}
	if (json_object_object_get_ex(s->config, "volumes", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    nlayers + json_object_array_length(v) > MSB_ENGINE_SHARED_SLOTS)
		return msb_fail(err, -E2BIG,
				"the sandbox needs %zu virtio devices (agent, "
				"network, upper disk, %zu image layers, %zu "
				"volumes) but the VM has %d: use at most %zu "
				"volumes with this image",
				MSB_ENGINE_FIXED_DEVICES + nlayers +
					json_object_array_length(v),
				nlayers, json_object_array_length(v),
				MSB_ENGINE_VIRTIO_SLOTS,
				MSB_ENGINE_SHARED_SLOTS - nlayers);
	snprintf(kpath, sizeof(kpath), "%s", kernel);
	snprintf(ipath, sizeof(ipath), "%s", initrd);
	snprintf(upper, sizeof(upper), "%s/upper.ext4", s->dir);
	snprintf(console, sizeof(console), "%s", s->console_log);
	snprintf(elog, sizeof(elog), "%s/engine.log", s->dir);

	s->spec.kernel = kpath;
	s->spec.initrd = ipath;
	s->spec.cpus = row->info.cpus;
	s->spec.memory_mib = row->info.memory_mib;
	s->spec.console_log = console;
	s->spec.engine_log = elog;
	s->spec.disks[0] = (struct msb_disk){ .path = upper,
					      .serial = "upper" };
	/* A restored sandbox's upper is an overlay over its snapshot's. */
	if (json_object_object_get_ex(s->config, "upper", &v)) {
		snprintf(upper, sizeof(upper), "%s/%s", s->dir,
			 json_object_get_string(v));
		s->spec.disks[0].format = "qcow2";
	}
	for (size_t i = 0; i < nlayers; i++) {
		snprintf(serials[i], sizeof(serials[i]), "layer%zu", i);
		s->spec.disks[1 + i] = (struct msb_disk){ .path = layers[i],
							  .serial = serials[i],
							  .readonly = 1 };
	}
	s->spec.restore_state_fd = -1;
	s->spec.ndisks = 1 + (unsigned)nlayers;
	r = msb_engine_accel_check(&s->spec.accel, &s->accel_forced, err);
	if (r < 0)
		return r;
	r = msb_engine_tcg_tb_check(&s->spec.tcg_tb_mib, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(s->config, "kernel_cmdline", &v))
		s->spec.cmdline_extra = json_object_get_string(v);
	return 0;
}

static int setup_fds(struct sup *s, msb_error *err)
{
	char sock[PATH_MAX];
	sigset_t mask;
	struct epoll_event ev = { .events = EPOLLIN };

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->epfd < 0 || s->sig_fd < 0 || s->timer_fd < 0)
		return msb_fail_errno(err, -errno, "event setup");
	s->sig_ref.type = EV_SIGNAL;
	ev.data.ptr = &s->sig_ref;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sig_fd, &ev);
	s->timer_ref.type = EV_TIMER;
	ev.data.ptr = &s->timer_ref;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->timer_fd, &ev);
	s->launcher_ref.type = EV_LAUNCHER;
	ev.data.ptr = &s->launcher_ref;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->vm.link, &ev);
	if (sup_tick_setup(s) < 0)
		return msb_fail_errno(err, -errno, "event setup");

	/* One a supervisor killed before it could drop it: stale. */
	mark_ready(s, 0);
	msb_api_sock_path(s->name, sock, sizeof(sock));
	s->listen_fd = msb_unix_listen(sock, 64);
	if (s->listen_fd < 0)
		return msb_fail_errno(err, s->listen_fd,
				      "cannot listen on %s", sock);
	chmod(sock, 0600);
	s->listen_ref.type = EV_LISTEN;
	ev.data.ptr = &s->listen_ref;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev);
	return 0;
}

static void finish(struct sup *s)
{
	char sock[PATH_MAX];
	json_object *eph;
	const char *status = s->fail[0] ? "failed" : "stopped";

	/* The VM goes with its launcher, if it still runs (a failed start). */
	msb_engine_release(&s->vm);
	mark_ready(s, 0);
	msb_api_sock_path(s->name, sock, sizeof(sock));
	unlink(sock);
	if (s->ready_us) {
		json_object *x = NULL;

		if (s->fail[0]) {
			x = json_object_new_object();
			json_object_object_add(x, "error",
					       json_object_new_string(s->fail));
		}
		sup_hook_lifecycle(s, "stop", x);
	}
	/* Published ports are free again, the plugin closed, before anyone
	 * is told the sandbox stopped. */
	net_free(s->net);
	s->net = NULL;
	sup_fs_free(s);
	sup_plugins_free(s);
	/* its peers stop with it, however it stopped (docs/spawn.md) */
	if (s->ready_us)
		sup_spawn_stop_peers(s);
	sup_spawn_free(s);
	if (s->fail[0])
		sup_log(s, "failed: %s", s->fail);
	else
		sup_log(s, "stopped");
	sup_log_mark(s, 1);
	/* Once it ran: a detached command still running went with the VM,
	 * and the record shows no VM pid and no ports any more. */
	if (s->ready_us) {
		json_object *st = s->command ? json_object_object_get(
						       s->command, "status") :
					       NULL;

		if (st && !strcmp(json_object_get_string(st), "running"))
			agent_command_end(s, "killed", 128 + SIGKILL, SIGKILL,
					  "the sandbox stopped first");
		else
			sup_save_runtime(s);
	}
	/* The record says so before anyone is told: whoever waits for the
	 * boot (msb run) may look at it the moment it hears. An ephemeral
	 * sandbox goes with its supervisor, except one that never booted:
	 * its console log is what tells the user why. */
	if (json_object_object_get_ex(s->config, "ephemeral", &eph) &&
	    json_object_get_boolean(eph) && !(s->fail[0] && !s->boot_ms)) {
		msb_db_delete(s->db, s->name, NULL);
		msb_rm_rf(s->dir);
	} else {
		msb_db_set_status(s->db, s->name, status, 0,
				  s->fail[0] ? s->fail : NULL, NULL);
	}
	notify(s, "error %s", s->fail[0] ? s->fail :
					   "the guest stopped during boot");
	{
		json_object *d = json_object_new_object();

		if (s->ev_dropped)
			json_object_object_add(d, "events_dropped",
					       json_object_new_int64(
						       (int64_t)s->ev_dropped));
		if (s->fail[0])
			json_object_object_add(d, "error",
					       json_object_new_string(s->fail));
		sup_event(s, s->fail[0] ? "msb.failed" : "msb.stopped", d);
	}
	api_close_all(s);
	sup_logs_close(s);
}

/* forget_last_run() - what the record's runtime says of the last run's
 * VM and detached command no longer holds. */
static void forget_last_run(struct sup *s, const struct msb_row *row)
{
	json_object *rt = json_tokener_parse(row->runtime);

	if (rt && json_object_is_type(rt, json_type_object) &&
	    (json_object_object_get_ex(rt, "command", NULL) ||
	     json_object_object_get_ex(rt, "ports", NULL) ||
	     json_object_object_get_ex(rt, "vm_pid", NULL))) {
		json_object_object_del(rt, "command");
		json_object_object_del(rt, "ports");
		json_object_object_del(rt, "vm_pid");
		msb_db_set_runtime(s->db, s->name,
				   json_object_to_json_string_ext(
					   rt, JSON_C_TO_STRING_PLAIN),
				   NULL);
	}
	json_object_put(rt);
}

/* A passthrough volume holds a descriptor per file the guest has looked
 * up (as virtiofsd does): the soft limit of 1024 runs out at the first
 * big directory, so take what the hard limit allows. */
static void raise_nofile(void)
{
	struct rlimit rl;
	char *nr = msb_read_file("/proc/sys/fs/nr_open", NULL);
	rlim_t want = nr ? (rlim_t)strtoull(nr, NULL, 10) : 0;

	free(nr);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* Root may go past the hard limit, up to the kernel's nr_open. */
	if (want > rl.rlim_max) {
		struct rlimit up = { want, want };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
	static struct sup sup;
	struct sup *s = &sup;
	struct msb_row row;
	msb_error err = { 0 };
	char lock[PATH_MAX];
	int lockfd, r;

	/* A spawn broker's worker (broker.c), not a supervisor. */
	if (argc == 3 && !strcmp(argv[1], "--peer-worker"))
		return peer_worker_main(argv[2]);
	/* Its peers, once it is down (broker.c). */
	if (argc == 3 && !strcmp(argv[1], "--stop-peers"))
		return peer_stopper_main(argv[2]);
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: msb-supervisor NAME NOTIFY_FD [SECRETS_FD]\n"
				"(started by msb; not meant to be run by hand)\n");
		return 2;
	}
	s->name = argv[1];
	s->notify_fd = atoi(argv[2]);
	s->agent_fd = -1;
	s->engine_fd = -1;
	s->spawn_ctl = -1;
	s->vm.link = -1;
	/* Set by msb_snapshot_restore() for the first boot only: later
	 * starts boot the sandbox's own disk. */
	if (getenv("MSB_RESTORE"))
		snprintf(s->restore_dir, sizeof(s->restore_dir), "%s",
			 getenv("MSB_RESTORE"));
	s->t0_us = msb_now_us();
	if (getenv("MSB_T0_US"))
		s->t0_us -= strtoull(getenv("MSB_T0_US"), NULL, 10);
	msb_sandbox_dir(s->name, s->dir, sizeof(s->dir));
	snprintf(s->console_log, sizeof(s->console_log), "%s/console.log",
		 s->dir);

	msb_lock_path(s->name, lock, sizeof(lock));
	lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		notify(s, "error sandbox %s is already running", s->name);
		return 1;
	}
	r = msb_db_open(NULL, &s->db, &err);
	/* Once confined, the supervisor may write the database's own files
	 * only: no temporary file beside them. */
	if (r == 0)
		sqlite3_exec(s->db, "PRAGMA temp_store=MEMORY;", NULL, NULL,
			     NULL);
	if (r == 0)
		r = msb_db_get(s->db, s->name, &row, &err);
	if (r < 0) {
		notify(s, "error %s", err.message);
		return 1;
	}
	/* Nothing may read this process's memory (secret values, the CA's
	 * key, the user's files): no core dumps, no ptrace or /proc/PID/mem
	 * from the user's other processes (QEMU included). */
	prctl(PR_SET_DUMPABLE, 0);
	raise_nofile();
	forget_last_run(s, &row);
	r = load_config(s, &row, &err);
	msb_row_free(&row);
	/* A restored sandbox's snapshot files are opened now: the launcher
	 * needs the RAM file's name for its rules. */
	if (r == 0 && s->restore_dir[0])
		r = sup_restore_prepare(s, s->restore_dir, &err);
	/* The VMM's launcher is forked before any secret is read. */
	if (r == 0) {
		struct msb_vmm_jail j;

		msb_vmm_jail_default(&j, getpid(), sup_confine_wanted());
		s->vmm_uid = j.uid;
		if (s->spec.accel == MSB_ACCEL_KVM &&
		    !msb_vmm_kvm_reachable(&j) && s->accel_forced) {
			r = msb_fail(&err, -EACCES,
				     "MSB_ACCEL=kvm, but /dev/kvm may be opened "
				     "by root only and the VMM runs as a uid of "
				     "its own: give /dev/kvm a group (as udev's "
				     "GROUP=\"kvm\" MODE=\"0660\" does), or "
				     "unset MSB_ACCEL to run under TCG");
		} else if (s->spec.accel == MSB_ACCEL_KVM &&
			   !msb_vmm_kvm_reachable(&j)) {
			sup_log(s, "/dev/kvm may be opened by root only, and the "
				   "VMM runs as a uid of its own: booting under "
				   "TCG (give /dev/kvm a group, as udev's "
				   "GROUP=\"kvm\" MODE=\"0660\" does, for KVM)");
			s->spec.accel = MSB_ACCEL_TCG;
		}
		if (r == 0)
			r = msb_engine_prepare(&s->spec, &s->vm, &j, &err);
	}
	/* The plugin processes' keeper too (src/plugins/keeper.c). */
	if (r == 0)
		r = sup_plugins_fork(s, &err);
	/* The spawn broker too (src/supervisor/broker.c). */
	if (r == 0)
		r = sup_spawn_fork(s, &err);
	if (r == 0) {
		json_object *rec = NULL;

		json_object_object_get_ex(s->config, "secrets", &rec);
		r = msb_vault_load(&s->vault, rec,
				   argc == 4 ? atoi(argv[3]) : -1, &err);
		if (r == 0)
			r = sup_secrets_setup(s, &err);
		if (r == 0)
			r = sup_tls_config(s, &err);
	}
	if (r == 0)
		r = setup_fds(s, &err);
	if (r == 0)
		sup_spawn_setup(s);
	/* Plugins first: their hellos say which hooks the network and the
	 * volumes are to call. */
	if (r == 0)
		r = sup_plugins_setup(s, &err);
	/* The sandbox's first start: it was just made (or restored). */
	if (r == 0 && getenv("MSB_CREATING")) {
		json_object *x = json_object_new_object();
		json_object *img;

		if (json_object_object_get_ex(s->config, "image", &img) &&
		    json_object_is_type(img, json_type_string))
			json_object_object_add(x, "image", json_object_get(img));
		if (json_object_object_get_ex(s->config, "from_snapshot",
					      &img) &&
		    json_object_is_type(img, json_type_string))
			json_object_object_add(x, "snapshot",
					       json_object_get(img));
		sup_hook_lifecycle(s, "create", x);
	}
	if (r == 0 && sup_events_setup(s) < 0)
		r = msb_fail(&err, -ENOMEM, "out of memory for the event log");
	if (r == 0)
		r = sup_net_setup(s, &err);
	if (r == 0)
		sup_plugins_net(s);
	if (r == 0)
		r = sup_fs_setup(s, &err);
	if (r == 0) {
		char why[512];

		sup_secrets_prepare(s);
		r = sup_confine(s, why, sizeof(why));
		if (r < 0)
			msb_fail(&err, r, "%s", why);
	}
	if (r == 0) {
		msb_db_set_status(s->db, s->name, "starting", getpid(), NULL,
				  NULL);
		/* What this run writes starts here. */
		sup_log_mark(s, 1);
		sup_log(s, "booting %s", s->name);
		r = launch(s, &err);
	}
	if (r < 0) {
		snprintf(s->fail, sizeof(s->fail), "%s", err.message);
		finish(s);
		return 1;
	}
	{
		json_object *t;
		unsigned ms = DEFAULT_BOOT_TIMEOUT_MS;

		if (json_object_object_get_ex(s->config, "boot_timeout_ms", &t))
			ms = (unsigned)json_object_get_int(t);
		sup_arm_timer(s, ms);
	}
	run_loop(s);
	msb_engine_close(&s->vm);
	finish(s);
	sup_events_free(s);
	json_object_put(s->command);
	json_object_put(s->ports);
	msb_vault_free(&s->vault);
	sup_secrets_free(s);
	sup_tls_free(s);
	msb_db_close(s->db);
	return s->fail[0] ? 1 : 0;
}
