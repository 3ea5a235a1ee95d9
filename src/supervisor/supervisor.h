/* SPDX-License-Identifier: Apache-2.0 */
/* supervisor.h - one process per sandbox: VM, agent link, API socket
 *
 * Theory of operation: one epoll loop, and a thread per volume (fs.c).
 * Every descriptor's epoll data points at a struct ev_ref whose type says
 * what woke up. Bytes
 * from the guest are hostile: frames are checked by the proto parsers and
 * a guest that breaks the protocol loses its link, never the host process.
 *
 * Flow control runs end to end. The agent may send at most MSB_WINDOW_INIT
 * bytes of output per exec stream before the supervisor grants more, and it
 * grants more only once the client's socket has taken what was sent (the
 * connection's out-queue is below CONN_LOW). A slow or stopped client thus
 * stalls its own exec, never the others, and memory stays bounded by
 * streams x window.
 */
#ifndef MSB_SUPERVISOR_H
#define MSB_SUPERVISOR_H

#include <json-c/json.h>
#include <sqlite3.h>
#include <stdint.h>

#include "buf.h"
#include "engine.h"
#include "proto.h"
#include "guard.h"
#include "logtext.h"
#include "secrets.h"

struct tls_ca;
struct tls_env;

#define MAX_STREAMS 1024
#define MAX_CONNS 256        /* connections served in full */
#define CONN_RESERVED 8      /* more, beyond those: stop, info, ping only */
#define CONN_SLOTS (MAX_CONNS + CONN_RESERVED)
#define CONN_IDLE_US (60 * 1000000ull) /* closed after this long idle */
#define CONN_LOW (512 * 1024)     /* grant output credit below this */
#define CONN_LINE_MAX (4 << 20)   /* longest request line accepted */
#define STDIN_QUEUE_MAX (1 << 20) /* stop reading a client above this */

enum ev_type { EV_AGENT, EV_LISTEN, EV_CONN, EV_SIGNAL, EV_TIMER, EV_NET,
	       EV_ENGINE, EV_TICK, EV_SNAP, EV_CONSOLE, EV_ENGINE_LOG,
	       EV_LAUNCHER, EV_PLUGINS, EV_SPAWN };

#define SUP_MAX_VOLUMES MSB_MAX_FSDEVS
struct sup_vol;

struct ev_ref {
	enum ev_type type;
};

/* A log file of the sandbox that the guest can make grow (log.c): capped
 * at @cap, then rotated to NAME.1; @in is what feeds it (the serial
 * console's socket, QEMU's stderr pipe), watched as @ref. */
#define LOG_CAP_CONSOLE (4ull << 20)
#define LOG_CAP_ENGINE (1ull << 20)
struct sup_logfile {
	struct ev_ref ref;
	char path[4200];
	int fd;             /* -1 until first written */
	uint64_t size, cap;
	uint64_t dropped;   /* bytes lost to rotation so far */
	unsigned rotations;
	struct log_esc esc;
	int in, in_open;
	int indexed;        /* rotations noted in console.idx (logmark.c) */
	uint64_t reserved;  /* blocks allocated ahead up to here (a full
			     * disk still takes msb's lines) */
	uint64_t lost;      /* bytes a full disk refused, to be said */
	struct msb_buf held; /* msb's lines a full disk refused */
};

struct conn {
	struct ev_ref ref;
	int fd;
	struct msb_buf in, out;
	int paused;     /* not reading: a stream's stdin queue is full */
	int want_out;   /* EPOLLOUT armed */
	int dispatching; /* inside conn_dispatch() */
	json_object *stop_ids; /* ids of stop requests, answered at the end */
	uint64_t serial;  /* tells this connection from a later one that
			   * reuses its memory */
	int closing;
	int slot;        /* its index in sup.conns */
	int reserved;    /* in a slot beyond MAX_CONNS: stop, info, ping */
	uint64_t last_us; /* accepted, or its last request line */
	/* an "events" request that follows the log (events.c) */
	int ev_follow;
	int ev_pumping;
	int64_t ev_id;
	uint64_t ev_next;   /* the next seq it is to get */
	char ev_topic[MSB_TOPIC_MAX + 1]; /* its filter (evlog_match) */
};

struct stream {
	uint32_t id;        /* agent stream id */
	struct conn *conn;  /* NULL: detached (output to the log) or orphaned */
	int64_t req_id;     /* client's request id */
	int main;           /* its end stops the sandbox (msb run CMD) */
	int discard;        /* client gone: drop output, keep granting */
	uint32_t owed;      /* output credit to give back to the agent */
	uint32_t stdin_credit;
	struct msb_buf stdin_q;
	int stdin_eof;      /* EOF requested; sent after stdin_q drains */
	int started;
	uint64_t deadline_us; /* exec timeout_ms: killed at this time; 0 none */
	int timed_out;      /* it was killed for its timeout */
	int pid;            /* in the guest, once started */
	int cmd;            /* the sandbox's detached command (run -d CMD),
			     * whose end is recorded (sup.command) */
	int detach;         /* exec -d: answered with its pid once started,
			     * then its output goes to the log */
	uint32_t fop;       /* a FILE stream (files.c): enum msb_fop; 0 = exec */
	struct msb_buf recs; /* LIST output not yet whole records */
	int answered;       /* FILE: the client already has its reply */
	json_object *hook_argv; /* for exec_after: its argv, NULL: no hook */
	uint64_t hook_t0_us;    /* when it was asked for */
};

#define STATS_WAITING 16
/* a stats request waiting for the guest's METRICS */
struct stats_wait {
	struct conn *c;     /* NULL: a free slot */
	uint64_t serial;
	int64_t id;
	uint32_t stream;    /* the STATS frame's stream id */
	uint64_t deadline_us;
};

enum sup_state { ST_BOOTING, ST_RUNNING, ST_STOPPING, ST_DONE };
/* diskfull.c: paused by a full host disk, or resumed to see if it holds */
enum df_state { DF_NONE, DF_PAUSED, DF_RESUMING };

struct sup {
	const char *name;
	char dir[4096];
	char console_log[4200];
	struct sup_logfile clog;   /* console.log */
	struct sup_logfile elog;   /* engine.log */
	sqlite3 *db;
	json_object *config;
	int epfd;
	enum sup_state state;
	struct msb_vm vm;
	struct msb_vm_spec spec;
	uint64_t t0_us;         /* when the create/start call began */
	int accel_forced;       /* MSB_ACCEL set: no falling back to TCG */
	/* logmark.c: the console log's size at the last mark */
	uint64_t mark_at;
	int64_t mark_size;
	int marked;
	uint64_t boot_ms;
	uint64_t ready_us;      /* when READY arrived */
	char fail[512];         /* why it failed, if it did */
	int notify_fd;          /* the creator waits on this for ready/error */

	/* agent link */
	struct ev_ref agent_ref;
	int agent_fd;
	struct msb_framer framer;
	struct msb_buf agent_out;
	int agent_want_out;
	int agent_hello;
	/* the running agent's version (HELLO's, or a restored snapshot's
	 * meta.json), and the longest exec request it takes */
	char agent_version[32];
	uint32_t agent_exec_max;
	uint32_t next_stream;
	/* a snapshot is being taken: frames for the agent wait here */
	int agent_hold;
	struct msb_buf agent_held;
	/* restored from a snapshot ($MSB_RESTORE) */
	char restore_dir[4096];
	char restore_snap[256];
	uint32_t restored_streams; /* ids up to here are the guest's own */
	uint64_t restore_loaded_us;
	json_object *timings;
	/* the detached command's state, for the record's runtime (inspect,
	 * ps, msb wait): argv, status ("running", "exited", "failed",
	 * "killed"), pid, exit_code, signal, error; NULL: none */
	json_object *command;
	/* the restart policy of the detached command (config "restart":
	 * "on-failure", "always" or "unless-stopped"; restart.c): when it
	 * next starts again (0: not waiting), how many times it did, when
	 * it last started */
	uint64_t restart_at_us;
	unsigned restarts;
	uint64_t command_started_us;
	/* published ports as bound: [{"host_ip", "host_port", "guest_port",
	 * "proto"}], for the runtime while it runs; NULL: none */
	json_object *ports;

	struct ev_ref listen_ref;
	int listen_fd;
	struct ev_ref sig_ref;
	int sig_fd;
	struct ev_ref timer_ref;
	int timer_fd;
	/* the VM's launcher (src/engine/launcher.c): its socket says when
	 * the VM ended */
	struct ev_ref launcher_ref;
	uid_t vmm_uid;          /* what the VMM runs as */
	/* the engine's control link (QMP), polled in the loop */
	struct ev_ref engine_ref;
	int engine_fd;          /* as registered in epoll, or -1 */
	int engine_want_out;
	char vm_status[32];     /* from the last STOP/RESUME event */
	/* diskfull.c: a pause for lack of host disk space */
	enum df_state df_state;
	uint64_t df_since_us;   /* when it paused (monotonic) */
	int64_t df_since_unix;
	uint64_t df_next_us;    /* the next look at the free space */
	uint64_t df_wait_us;    /* between looks, doubled at each failed try */
	uint64_t df_resumed_us; /* the last resume */
	/* tick.c: deadlines of running things (exec timeouts) */
	struct ev_ref tick_ref;
	int tick_fd;
	/* stats.c: requests waiting for the guest, the CPU samples */
	struct stats_wait stats_wait[STATS_WAITING];
	uint32_t stats_seq;
	uint64_t stats_next_us;   /* the next CPU sample, 0: none */
	uint64_t stats_cpu_ns, stats_cpu_us; /* the last sample */
	double stats_cpu_pct;     /* CPU use between the last two samples */
	/* the network stack (src/net/): one epoll descriptor of its own */
	struct net *net;
	struct ev_ref net_ref;
	uint64_t stop_started_us;
	int stop_forced;

	/* volumes: vhost-user-fs device servers (fs.c) */
	struct sup_vol *vols[SUP_MAX_VOLUMES];
	unsigned int nvols;

	/* real values of the sandbox's secrets (src/secrets/) */
	struct msb_vault vault;
	struct guard_env guard; /* what violations get, where they are logged */
	char *ca_pem;           /* the interception CA the guest trusts, or NULL */
	struct tls_ca *ca;      /* the same, with its key, once a flow needs it */
	struct tls_env *tls;    /* what intercepted flows share (secrets.c) */
	int tls_failed;         /* it could not be made: logged once */
	/* TLS interception options (tlsconf.c), from "tls_bypass" and
	 * "tls_upstream_ca": names never intercepted (lowercase, "*.x" for
	 * names below x), and the extra CAs for upstream servers (all their
	 * PEM text, NUL-terminated; NULL if none) */
	char **tls_bypass;
	size_t ntls_bypass;
	char *tls_upstream_pem;

	/* the chain of plugins (plugins.c, hooks.h); NULL: none */
	struct sup_plugins *plugins;
	/* spawn.c: the spawn broker (broker.h), with --allow-spawn */
	struct ev_ref spawn_ref;
	int spawn_ctl;          /* its channel, or -1 */
	int spawn_paused;       /* not read: the agent link is behind */
	pid_t spawn_pid;
	int exec_denied;        /* agent_exec()'s NULL was a plugin's no */

	struct stream *streams[MAX_STREAMS];
	struct conn *conns[CONN_SLOTS];

	/* events.c: the sandbox's event log, and how fast the guest may add
	 * to it (a token bucket: EV_GUEST_RATE a second) */
	struct evlog *events;
	double ev_tokens;
	uint64_t ev_refill_us;
	uint64_t ev_dropped;    /* guest events refused since last said */
	uint64_t ev_dropped_total;
	uint64_t ev_said_us;    /* when msb.events.dropped was last added */
};

/* log.c */
/* sup_log() - one of msb's own lines in console.log ("[msb T] ..."),
 * escaped to one line whatever it quotes; any thread may call it. */
void sup_log(struct sup *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* sup_log_guest() - guest bytes (a detached command's output) into
 * console.log, escaped (logtext.h). */
void sup_log_guest(struct sup *s, const void *p, size_t n);
/* sup_logs_link() - fresh feeds for a launch: the serial console's socket
 * and QEMU's stderr pipe; their VM ends in *@console_vm, *@engine_vm. */
int sup_logs_link(struct sup *s, int *console_vm, int *engine_vm);
/* sup_logs_read() - take a batch from @lf's feed. Return: 1 if more may
 * be waiting, 0 if not (drained, or the feed closed). */
int sup_logs_read(struct sup *s, struct sup_logfile *lf);
/* sup_logs_retry() - write what a full disk refused, if it can now. */
void sup_logs_retry(struct sup *s);
/* sup_logs_drain() - everything the feeds still hold (QEMU has exited). */
void sup_logs_drain(struct sup *s);
void sup_logs_close(struct sup *s);

/* main.c */
void sup_ready(struct sup *s);
void sup_begin_stop(struct sup *s, unsigned timeout_s);
void sup_arm_timer(struct sup *s, uint64_t ms);
/* sup_engine_event() - what the VM reports by itself (engine.h). */
void sup_engine_event(void *opaque, const char *event, json_object *data);
/* sup_engine_update() - poll the engine's link for output when needed. */
void sup_engine_update(struct sup *s);
/* diskfull.c */
/* sup_diskfull_event() - QEMU's @event seen for a full disk. Return: 1 if
 * it was handled (and is not to be logged as it is). */
int sup_diskfull_event(struct sup *s, const char *event, json_object *data);
/* sup_diskfull_paused() - the VM is paused for lack of host disk space. */
int sup_diskfull_paused(const struct sup *s);
/* sup_diskfull_json() - {"reason", "since", "dir"} while paused, or NULL. */
json_object *sup_diskfull_json(const struct sup *s);
uint64_t sup_diskfull_deadline(const struct sup *s);
void sup_diskfull_tick(struct sup *s, uint64_t now_us);
/* sup_diskfull_stop() - a stop begins: resume a paused VM to let it. */
void sup_diskfull_stop(struct sup *s);

/* logmark.c */
#define SUP_LOG_MARK_MS 1000
/* sup_log_mark() - note in console.idx when the console log grew (at most
 * once a second unless @force), for msb logs --since. */
void sup_log_mark(struct sup *s, int force);
/* sup_log_mark_rotated() - note in the console.idx beside @console_log
 * that the log began again now (a mark of size 0); any thread. */
void sup_log_mark_rotated(const char *console_log);

/* sup_save_runtime() - the record's runtime (accel, timings, the VM's
 * pid, the detached command) as it is now. */
void sup_save_runtime(struct sup *s);

/* stats.c */
/* sup_stats_request() - API "stats": answered at once with the host's
 * numbers, or once the guest's arrive (at most a second later). */
void sup_stats_request(struct sup *s, struct conn *c, int64_t id,
		       json_object *params);
/* sup_stats_metrics() - a METRICS frame from the guest. */
void sup_stats_metrics(struct sup *s, uint32_t stream, const uint8_t *p,
		       uint32_t n);
/* sup_stats_sample() - take the CPU sample now, the next in a second. */
void sup_stats_sample(struct sup *s);
/* sup_stats_deadline() - when stats.c next needs the tick, or 0. */
uint64_t sup_stats_deadline(struct sup *s);
/* sup_stats_tick() - answer requests the guest left waiting, sample. */
void sup_stats_tick(struct sup *s, uint64_t now);

/* restart.c */
/* sup_command_start() - start the config's detached command (after boot,
 * and again by the restart policy). */
void sup_command_start(struct sup *s);
/* sup_command_ended() - the detached command exited with @code: start it
 * again later if the restart policy says so. */
void sup_command_ended(struct sup *s, int code);
/* sup_restart_deadline() / sup_restart_tick() - for tick.c. */
uint64_t sup_restart_deadline(struct sup *s);
void sup_restart_tick(struct sup *s, uint64_t now);

/* tick.c */
/* sup_tick_setup() - the deadline timer, in the loop as EV_TICK. */
int sup_tick_setup(struct sup *s);
/* sup_tick_rearm() - wake at the earliest deadline (after one changed). */
void sup_tick_rearm(struct sup *s);
/* sup_on_tick() - act on every deadline that passed. */
void sup_on_tick(struct sup *s);

/* net.c */
/* sup_net_setup() - the stack, from the config's "net" object. */
int sup_net_setup(struct sup *s, msb_error *err);
/* sup_net_link() - a fresh link for a launch; *@vm_end goes to QEMU, and
 * @spec.net_vhost says what it is (MSB_NET_VHOST_USER). */
int sup_net_link(struct sup *s, int *vm_end, msb_error *err);
/* sup_net_init_tlvs() - eth0's configuration, for INIT. */
void sup_net_init_tlvs(struct sup *s, struct msb_tlv_w *w);

/* secrets.c */
/* sup_secrets_prepare() - what interception needs from the home (its CA
 * and key) and the system (the trust store), loaded before the supervisor
 * is confined, when the sandbox's flows will be inspected. */
void sup_secrets_prepare(struct sup *s);
/* sup_secrets_setup() - the guard's settings, from "secret_violation". */
int sup_secrets_setup(struct sup *s, msb_error *err);
struct net_addr;
/* sup_trust_init_tlvs() - the interception CA for INIT, when the sandbox's
 * traffic is inspected (secrets, on_http); made on first use. */
void sup_trust_init_tlvs(struct sup *s, struct msb_tlv_w *w);
/* sup_trust_exec_env() - SSL_CERT_FILE and friends, for every exec. */
void sup_trust_exec_env(struct sup *s, struct msb_tlv_w *w);
/* sup_dns_refused() - net_config.dns_refused: names with a placeholder. */
int sup_dns_refused(void *opaque, const char *name, char *why, size_t len);
/* sup_flow_filter() - net_config.flow_filter: every guest TCP flow of a
 * sandbox with secrets or on_http is sniffed (src/tls/intercept.h). */
void *sup_flow_filter(void *opaque, const struct net_addr *dst,
		      uint16_t dport, const struct msb_flow_filter **ops);

/* sup_secrets_free() - the interception state, at exit. */
void sup_secrets_free(struct sup *s);

/* tlsconf.c */
/* sup_tls_config() - s->tls_bypass and s->tls_upstream_pem, from the
 * record, checked again as the library checked them at create. */
int sup_tls_config(struct sup *s, msb_error *err);
/* sup_tls_bypassed() - 1 if TLS to @sni is to pass untouched: @sni is a
 * --tls-bypass name, or below a "*." one (case-insensitive); else 0. */
int sup_tls_bypassed(const struct sup *s, const char *sni);
void sup_tls_free(struct sup *s);

/* fs.c */
/* sup_fs_setup() - backends and FUSE sessions, from "volumes". */
int sup_fs_setup(struct sup *s, msb_error *err);
/**
 * sup_fs_owner() - as root, the one user (not root) whose directories
 * are served as theirs: each such volume's thread takes their ids as its
 * filesystem ids (setfsuid), which a root without capabilities may only
 * do for its saved ids, so sup_confine() makes them its saved ones.
 * Return: 1 (*@uid, *@gid set), 0 when there is none, or -EINVAL when
 * directories of two users are asked for (@why says so).
 */
int sup_fs_owner(struct sup *s, uid_t *uid, gid_t *gid, char *why,
		 size_t n);
/* sup_fs_link() - fresh vhost-user sockets for a launch, in @s->spec. */
int sup_fs_link(struct sup *s, msb_error *err);
/* sup_fs_launched() - close the VM's ends once QEMU has them. */
void sup_fs_launched(struct sup *s);
/* sup_fs_init_tlvs() - the VOLUME records of INIT. */
void sup_fs_init_tlvs(struct sup *s, struct msb_tlv_w *w);
void sup_fs_free(struct sup *s);

/* agent.c */
void agent_send(struct sup *s, uint32_t stream, uint8_t type,
		const void *payload, size_t n);
void agent_send_u32(struct sup *s, uint32_t stream, uint8_t type, uint32_t v);
/* agent_notice_execs() - tell every client waiting on an exec's end that
 * the sandbox is paused (@paused 1) or runs again (0), in words (@text):
 * the event "notice" (docs/api-protocol.md). */
void agent_notice_execs(struct sup *s, int paused, const char *text);
void agent_on_readable(struct sup *s);
void agent_on_writable(struct sup *s);
void agent_flush_stdin(struct sup *s, struct stream *st);
/* agent_on_window() - a WINDOW from the guest: stdin credit back. */
void agent_on_window(struct sup *s, struct stream *st, const uint8_t *p,
		     uint32_t n);
struct stream *stream_get(struct sup *s, uint32_t id);
struct stream *stream_new(struct sup *s);
void stream_free(struct sup *s, struct stream *st);
/* agent_set_version() - the guest agent is version @v ("MAJOR.MINOR.PATCH";
 * NULL, "" or anything but digits and dots: taken for 0.1.0, as a
 * snapshot's from before versions were kept). */
void agent_set_version(struct sup *s, const char *v);
/* Start an exec from its JSON params; Return: the stream or NULL with @why. */
struct stream *agent_exec(struct sup *s, json_object *params, char *why,
			  size_t n);
/* agent_command_end() - the detached command ended (or never started):
 * @status "exited", "failed" or "killed"; recorded and saved. */
void agent_command_end(struct sup *s, const char *status, int code, int sig,
		       const char *error);

/* snapshot.c */
/* sup_snapshot_start() - API "snapshot" {"dir"}: answered when done. */
void sup_snapshot_start(struct sup *s, struct conn *c, int64_t id,
			json_object *params);
/* sup_snapshot_quiesced() - the agent's QUIESCED arrived. */
void sup_snapshot_quiesced(struct sup *s);
void sup_snapshot_timer(struct sup *s);
/* sup_restore_prepare() - the launch maps the snapshot's RAM and waits
 * for its device state (@dir: the snapshot's directory). */
int sup_restore_prepare(struct sup *s, const char *dir, msb_error *err);
/* sup_restore_start() - once launched: load the state, then RESTORED. */
int sup_restore_start(struct sup *s, msb_error *err);
/* files.c */
/* sup_file_op() - the FILE operation of API method @meth ("fs_read"), or
 * 0 if it is not one. */
uint32_t sup_file_op(const char *meth);
/* sup_file_request() - a checked fs_* request (a running sandbox, an
 * integer @id not in use, a @params object): start its FILE stream, or
 * answer why not. */
void sup_file_request(struct sup *s, struct conn *c, int64_t id,
		      uint32_t fop, json_object *params);
/* sup_file_frame() - a frame from the guest for FILE stream @st. */
void sup_file_frame(struct sup *s, struct stream *st,
		    const struct msb_frame_hdr *h, const uint8_t *p);

/* events.c (docs/events.md) */
#define EV_GUEST_RATE 2000  /* guest events a second, and the burst */
/* sup_events_setup() - an empty log. Return: 0 or -ENOMEM. */
int sup_events_setup(struct sup *s);
/* spawn.c: a guest's requests about its peers (docs/spawn.md) */
/* sup_spawn_fork() - the broker, before confinement (with "spawn"). */
int sup_spawn_fork(struct sup *s, msb_error *err);
/* sup_spawn_setup() - its channel in the loop (EV_SPAWN). */
void sup_spawn_setup(struct sup *s);
/* sup_spawn_guest() - a PEER frame from the guest. */
void sup_spawn_guest(struct sup *s, uint32_t stream, const uint8_t *p,
		     uint32_t n);
/* sup_spawn_end() - PEER_END: its program went away. */
void sup_spawn_end(struct sup *s, uint32_t stream);
/* sup_spawn_window() - WINDOW on a peer stream: the guest program took
 * that much of its output (u32 at @p). */
void sup_spawn_window(struct sup *s, uint32_t stream, const uint8_t *p);
/* sup_spawn_input() - STDIN or RESIZE on a peer stream: the request's
 * input, a terminal's size. */
void sup_spawn_input(struct sup *s, uint32_t stream, uint8_t type,
		     const uint8_t *p, uint32_t n);
/* sup_spawn_readable() - the broker's answers, to the guest. */
void sup_spawn_readable(struct sup *s);
void sup_spawn_free(struct sup *s);
/* sup_spawn_stop_peers() - the sandbox is down: the broker has its peers
 * stopped by a process that outlives both (waited for up to 2 s to be
 * under way). */
void sup_spawn_stop_peers(struct sup *s);
/* sup_spawn_drained() - the agent link took its queue: read the broker
 * again if it waited for that. */
void sup_spawn_drained(struct sup *s);

/* sup_event() - one of the supervisor's own events ("msb.*"), @data a
 * JSON object (consumed; NULL: null). */
void sup_event(struct sup *s, const char *topic, json_object *data);
/* sup_events_guest() - a GEVENT frame from the guest. */
void sup_events_guest(struct sup *s, const uint8_t *p, uint32_t n);
/* sup_events_request() - API "events": the log, and with follow what
 * comes after it. */
void sup_events_request(struct sup *s, struct conn *c, int64_t id,
			json_object *params);
/* sup_events_send() - API "event_send": an event for the guest. */
void sup_events_send(struct sup *s, struct conn *c, int64_t id,
		     json_object *params);
/* sup_events_pump() - give follower @c what it has room for. */
void sup_events_pump(struct sup *s, struct conn *c);
/* sup_events_close() - the sandbox is ending: @c's follow is answered. */
void sup_events_close(struct sup *s, struct conn *c);
void sup_events_free(struct sup *s);

/* api.c */
/* api_conn_alive() - @c is still the connection of @serial. */
int api_conn_alive(struct sup *s, struct conn *c, uint64_t serial);
void api_reply_result(struct sup *s, struct conn *c, int64_t id,
		      json_object *result);
void api_on_accept(struct sup *s);
void api_on_conn(struct sup *s, struct conn *c, uint32_t events);
void api_send(struct sup *s, struct conn *c, json_object *msg);
/* api_flush() - write @c's out-queue as far as its socket takes it. */
void api_flush(struct sup *s, struct conn *c);
void api_grant_credit(struct sup *s, struct conn *c);
void api_close_all(struct sup *s);
/* api_idle_deadline() - when the next idle connection is due to be
 * closed (0: none); api_expire_idle() closes those due at @now_us. */
uint64_t api_idle_deadline(struct sup *s);
void api_expire_idle(struct sup *s, uint64_t now_us);
void conn_update_events(struct sup *s, struct conn *c);
/* api_resume() - read a paused connection again, starting with the request
 * lines it already holds. */
void api_resume(struct sup *s, struct conn *c);
/* api_let_go() - @st's client hears no more of it (the client went away,
 * or the guest is paused and it is told so): its process goes on, its
 * output is dropped; a main exec's sandbox is stopped. */
void api_let_go(struct sup *s, struct stream *st);
/* api_paused_text() - why requests that need the guest are refused while
 * it is paused for lack of disk space. Return: its length. */
size_t api_paused_text(const struct sup *s, char *buf, size_t n);
/* api_reply_error() - an error reply to a request. */
void api_reply_error(struct sup *s, struct conn *c, int64_t id,
		     const char *code, const char *message);
/* api_id_in_use() - a running request of @c has this id. */
int api_id_in_use(struct sup *s, struct conn *c, int64_t id);

#endif
