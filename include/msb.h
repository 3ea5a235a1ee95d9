/* SPDX-License-Identifier: Apache-2.0 */
/* msb.h - the microsandbox C SDK
 *
 * Everything the `msb` command line does goes through these calls. A sandbox
 * is a microVM owned by one supervisor process; this library starts
 * supervisors, records state in SQLite under $MSB_HOME (default
 * ~/.microsandbox) and talks to a running sandbox over its API socket
 * (docs/api-protocol.md).
 *
 * Errors: every fallible call returns 0 on success or a negative code (one
 * of the MSB_E_* below), and fills @err (when not NULL) with a one-line
 * message that says what happened and what to do.
 *
 * Threads: the library starts none that outlive a call (a pull fetches
 * layers, and msb_project_up() starts sandboxes, on threads joined before
 * they return). Every call may be made from any thread,
 * concurrently with calls on other handles; one handle (an msb_exec) is
 * used by one thread at a time, with one exception: an exec's writer calls
 * (msb_exec_write, _close_stdin, _signal, _resize; one thread at a time)
 * may run beside its reader (msb_exec_next), so stdin can be written while
 * output is read, as it must be (docs/api-protocol.md §8). The streaming
 * calls give a descriptor to poll instead of blocking.
 *
 * Locale: the process's locale changes nothing. Numbers are read
 * ("1.5G", "1.5s") and written (JSON) with a decimal point, also when
 * the program has set LC_NUMERIC to a locale with a decimal comma.
 */
#ifndef MSB_H
#define MSB_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MSB_VERSION "0.1.0"

#ifndef MSB_API
#define MSB_API __attribute__((visibility("default")))
#endif

typedef struct msb_error {
	int code;          /* negative MSB_E_* code, 0 when none */
	char message[1024];
} msb_error;

/* Error codes: what a negative return means, for callers (and SDKs) to
 * map to their own error types. Those equal to an errno value keep
 * errno's meaning; the library's own are at -1000 and below, where no
 * errno value falls. Codes not listed (-ENOMEM, -ENOSPC, -EISDIR, ...)
 * are errno values with their usual meaning. */
#define MSB_E_NOT_FOUND       (-ENOENT)    /* no such sandbox, local image,
					    * or file in the guest */
#define MSB_E_EXISTS          (-EEXIST)    /* the name is taken; the guest
					    * file exists (exclusive write) */
#define MSB_E_INVALID         (-EINVAL)    /* bad input: a name, an option,
					    * a path, a config value */
#define MSB_E_NOT_RUNNING     (-ENOTCONN)  /* the sandbox is not running
					    * (stopped, failed, or still
					    * booting or stopping) */
#define MSB_E_ALREADY         (-EALREADY)  /* start of a running sandbox,
					    * stop of a stopped one */
#define MSB_E_BUSY            (-EBUSY)     /* remove of a running sandbox
					    * without force; too many
					    * connections to a sandbox; its
					    * VM paused for a full host
					    * disk (exec, files, snapshot) */
#define MSB_E_TIMEOUT         (-ETIMEDOUT) /* a wait ran out of time */
#define MSB_E_STOPPED         (-EPIPE)     /* the sandbox stopped during the
					    * call; an exec already over */
#define MSB_E_PERMISSION      (-EACCES)    /* refused by file permissions in
					    * the guest, or by a registry (a
					    * login, a push, a plugin's
					    * publish: a refused pull is
					    * MSB_E_PULL, its message saying
					    * why) */
#define MSB_E_PROTOCOL        (-EPROTO)    /* a peer broke its protocol */
#define MSB_E_PULL            (-1001)      /* an image could not be pulled */
#define MSB_E_IMAGE_NOT_FOUND (-1002)      /* the registry has no such
					    * image (a kind of MSB_E_PULL) */
#define MSB_E_BOOT            (-1003)      /* the sandbox did not boot; its
					    * log says why */
#define MSB_E_POLICY          (-1004)      /* refused by a security policy
					    * (e.g. a secret with its
					    * private ranges opened) */
#define MSB_E_EXEC            (-1005)      /* the guest could not start the
					    * command (unknown user, ...) */
#define MSB_E_DAMAGED         (-1006)      /* stored files do not match
					    * their record: a snapshot's
					    * (truncated, edited: it is not
					    * restored), an installed
					    * plugin's, or an image's layer
					    * damaged with its blob gone or
					    * damaged too: pull it again */
#define MSB_E_KIND            (-1007)      /* the reference names the other
					    * kind: a sandbox where an image
					    * was wanted, or an image where
					    * a sandbox was */
#define MSB_E_CONFLICT        (-1008)      /* a push or pull would lose
					    * changes made since the last
					    * one (force to replace them) */

/* msb_abi_sizeof() - sizeof the public struct named @type
 * ("msb_sandbox_config"), 0 for a name it does not know: bindings that lay
 * structs out by hand check theirs against it when they load. */
MSB_API size_t msb_abi_sizeof(const char *type);

/* msb_error_name() - the symbolic name of a code ("MSB_E_NOT_FOUND", or
 * "ENOSPC" for other errno values, "MSB_E_UNKNOWN" if it is neither). */
MSB_API const char *msb_error_name(int code);

/* Sandbox names: 1-63 of [a-zA-Z0-9_.-], starting with a letter or digit. */
MSB_API int msb_name_valid(const char *name, msb_error *err);

/* Parses "512M", "1G", "1.5GiB", "2048" (MiB) into MiB. */
MSB_API int msb_parse_memory(const char *s, uint64_t *mib, msb_error *err);

/* ---- sandboxes ---------------------------------------------------------- */

/* What may leave a sandbox (docs/network.md). The guest's only way out is
 * the supervisor's userspace network stack; by default the public internet
 * is reachable and loopback, private, CGNAT, link-local (cloud metadata),
 * ULA, multicast and the host's own addresses are not. Lists are
 * NULL-terminated; NULL means none; an empty or blank entry is refused. */
typedef struct msb_net_config {
	int deny_all;                  /* nothing leaves but what is allowed here */
	const char *const *allow;      /* names: "example.com", "*.example.com";
					* with any, only the addresses our resolver
					* returned for them are reachable */
	const char *const *allow_cidr; /* ranges opened, even default-denied ones;
					* loopback and the host's own addresses
					* only by their exact address */
	const char *const *block_cidr; /* ranges closed */
	const char *dns_nameserver;    /* "IP[:PORT]" the stack resolves with
					* ("[IPv6]:PORT" with a port); NULL =
					* the host's first nameserver */
	const char *const *ports;      /* published: "HOST:GUEST", "IP:HOST:GUEST"
					* ("[IPv6]:HOST:GUEST"; optionally
					* "/tcp"); host connections to
					* IP (default 127.0.0.1):HOST reach the
					* guest's GUEST port. HOST 0, "IP::GUEST"
					* or "GUEST" alone: a free host port,
					* told by msb_sandbox_ports() */
	const char *plugin;            /* a shared object with network hooks
					* (msb_net_plugin.h); NULL = none */
	const char *const *allow_host; /* TCP ports ("11434") of the host's
					* loopback the guest may reach: a
					* connection to the gateway
					* (10.0.2.2, fd6d:7362::2, the name
					* host.msb.internal) at PORT is made to
					* 127.0.0.1:PORT. Opt-in only: NULL =
					* none, and loopback stays closed */
} msb_net_config;

/* A volume: a filesystem served by the host and mounted in the guest
 * (docs/filesystems.md). Files written on either side are seen by the
 * other at once; a read-only volume is enforced by the host. */
typedef enum msb_volume_kind {
	MSB_VOLUME_HOST,   /* @source: a host directory, passed through */
	MSB_VOLUME_MEMORY, /* a filesystem in host RAM of @size_mib (0 = 64) */
	MSB_VOLUME_PLUGIN, /* @source: a shared object implementing
			    * include/msb_fs.h, given @arg */
	MSB_VOLUME_NAMED,  /* @source: a named volume's name (made, with no
			    * size limit, when it does not exist yet;
			    * msb_volume_create() below) */
} msb_volume_kind;

/* What the guest's kernel may cache of a volume (docs/filesystems.md,
 * virtiofsd's cache= modes). DEFAULT: file data in its page cache (dropped
 * at each open), names and attributes not at all, so a change on either
 * side is seen at the next call (MEMORY volumes: ALWAYS, only this
 * sandbox can change them). NEVER: nothing, data bypasses the page cache
 * (the same as @direct_io). AUTO: names and attributes for the timeout
 * (1 s), data until an open or a changed mtime. ALWAYS: names and
 * attributes for the timeout (a day), data across opens: for a volume
 * only this sandbox writes. */
typedef enum msb_volume_cache {
	MSB_VOLUME_CACHE_DEFAULT,
	MSB_VOLUME_CACHE_NEVER,
	MSB_VOLUME_CACHE_AUTO,
	MSB_VOLUME_CACHE_ALWAYS,
} msb_volume_cache;

typedef struct msb_volume {
	msb_volume_kind kind;
	const char *guest_path;    /* absolute; created in the guest; not
				    * /proc, /sys, /dev, /run/msb or below,
				    * nor /run or /etc (docs/filesystems.md) */
	const char *source;        /* HOST and PLUGIN (relative: to the cwd) */
	const char *arg;           /* PLUGIN: its argument, may be NULL */
	const char *dir;           /* PLUGIN: a host directory handed to it as
				    * its source (a passthrough it may wrap,
				    * e.g. examples/auditfs.c); NULL: none */
	uint64_t size_mib;         /* MEMORY */
	int readonly;
	int direct_io;             /* reads and writes bypass the guest's page
				    * cache (fast streaming; shared mmap of its
				    * files fails with ENODEV) */
	uint64_t overlay_mib;      /* HOST: 0, or the directory is the read-only
				    * lower layer under a RAM upper of this
				    * size: the guest's changes stay in the
				    * sandbox, the host's directory is never
				    * written */
	msb_volume_cache cache;    /* what the guest may cache (below) */
	uint32_t cache_timeout_ms; /* how long the guest may keep names and
				    * attributes; 0 = the mode's own
				    * (NEVER and DEFAULT 0, AUTO 1 s, ALWAYS
				    * 86400 s); at most 86400000 */
} msb_volume;

/* msb_volume_parse() - a volume as msb run's flags write it, into @v:
 * HOST "HOSTDIR:GUESTPATH[:OPTS]" (OPTS comma-separated: ro, rw,
 * direct, overlay[=SIZE] (default 256M), cache=auto|always|never,
 * timeout=SECONDS (up to 3 decimals)), MEMORY "GUESTPATH[:SIZE]", PLUGIN
 * "PATH.so:GUESTPATH[:ARG]". A HOST spec whose source is a plain name (no
 * '/', not starting with '.' or '~': "data:/data") is a named volume, as
 * Docker reads -v: @v->kind is then MSB_VOLUME_NAMED (all but overlay
 * apply). @spec is cut up in place and @v points into
 * it. Paths are checked by msb_sandbox_create(). A HOST and a PLUGIN
 * volume at the same path (msb run -v DIR:/p --volume-plugin X.so:/p)
 * are one: give the PLUGIN @dir and drop the HOST one. */
MSB_API int msb_volume_parse(msb_volume_kind kind, char *spec, msb_volume *v,
			     msb_error *err);

/* A secret (docs/secrets.md): the guest's variable @env holds a random
 * placeholder (msb_placeholder_...); the real value stays in the sandbox's
 * supervisor, which swaps it in only inside verified TLS connections to
 * @hosts, and only in the places of a request @inject names; responses
 * from there have the value turned back into the placeholder before the
 * guest reads them. The value is never stored: ENV and FILE sources are
 * read again by every create and start, in the calling process. */
typedef enum msb_secret_source {
	MSB_SECRET_ENV,   /* @ref: a variable of the caller's environment */
	MSB_SECRET_FILE,  /* @ref: a file (one trailing line break dropped) */
	MSB_SECRET_VALUE, /* @ref: the value itself; kept nowhere, so the
			   * sandbox cannot be started again once stopped */
} msb_secret_source;

typedef struct msb_secret {
	const char *env;           /* the guest's variable name */
	msb_secret_source source;
	const char *ref;           /* the variable, the path or the value */
	const char *hosts;         /* comma-separated: "api.example.com",
				    * "*.example.com" for names below it */
	const char *inject;        /* where in a request the value may go
				    * besides the Authorization header (which
				    * always may): comma-separated places,
				    * "header:NAME", "path", "query", "body";
				    * NULL or "": Authorization only. A
				    * placeholder anywhere else is a violation
				    * (on_secret_violation) */
} msb_secret;

/* msb_secret_parse() - a secret as msb run --secret-env writes it:
 * "NAME=@env:VAR:HOSTS" or "NAME=@file:PATH:HOSTS". @spec is cut up in
 * place and @s points into it (@s->inject is NULL: msb run
 * --secret-inject NAME=PLACES sets it); checked by msb_sandbox_create(). */
MSB_API int msb_secret_parse(char *spec, msb_secret *s, msb_error *err);

/* msb_tls_ca_read() - the PEM text of a file of CA certificates, as msb
 * run --tls-upstream-ca reads it, for msb_sandbox_config.tls_upstream_ca.
 * Checked as msb_sandbox_create() checks it (every block a certificate
 * that parses, at least one, no private key); the message names @path.
 * Free *@pem with free(). */
MSB_API int msb_tls_ca_read(const char *path, char **pem, msb_error *err);

typedef struct msb_sandbox_config {
	const char *name;          /* required */
	const char *image;         /* NULL = "default" */
	unsigned cpus;             /* 0 = 1 */
	uint64_t memory_mib;       /* 0 = 512 */
	uint64_t disk_mib;         /* the writable disk (everything the guest
				    * writes outside volumes): 0 = 4096; 64 to
				    * 1048576 (1 TiB); sparse, so only what is
				    * written takes host disk */
	const char *const *env;    /* NULL-terminated "K=V": default env of every exec */
	const char *workdir;       /* default working directory of every exec */
	unsigned boot_timeout_ms;  /* 0 = $MSB_BOOT_TIMEOUT or 60000 */
	const char *const *cmd;    /* NULL-terminated: run detached after boot (run -d CMD) */
	msb_net_config net;        /* network policy; zeroed = the default */
	int ephemeral;             /* removed when its supervisor exits (run --rm),
				    * and when its boot fails (as Docker's --rm) */
	const char *kernel;        /* "msb" (built by the setup) or "cloud" (Debian's);
				    * NULL = $MSB_KERNEL, else msb when built */
	const char *user;          /* default user of every exec; NULL = the image's */
	const char *const *entrypoint; /* NULL = the image's; { NULL } = none */
	int image_cmd;             /* no cmd: run the image's Entrypoint + Cmd
				    * detached after boot (run -d IMAGE) */
	const msb_volume *volumes; /* mounted in order, @nvolumes of them */
	size_t nvolumes;
	const msb_secret *secrets; /* @nsecrets of them (at most 64) */
	size_t nsecrets;
	const char *on_secret_violation; /* a placeholder sent where its value
				    * may not go: "block" (NULL: answered
				    * 403, logged, the connection closed),
				    * "log" (sent as it is, logged) or
				    * "allow" (sent as it is) */
	const char *const *tls_bypass; /* @ntls_bypass names (at most 64)
				    * whose TLS is never intercepted but
				    * passed through untouched: "x.com", or
				    * "*.x.com" for every name below x.com */
	size_t ntls_bypass;
	const char *const *tls_upstream_ca; /* @ntls_upstream_ca PEM texts
				    * (at most 8, each at most 1 MiB; texts,
				    * not paths: msb_tls_ca_read() reads a
				    * file) of CA certificates trusted, with
				    * the host's, for the servers of
				    * intercepted TLS; kept in the record */
	size_t ntls_upstream_ca;
} msb_sandbox_config;

typedef struct msb_sandbox msb_sandbox;

MSB_API void msb_sandbox_config_init(msb_sandbox_config *c);

/* msb_sandbox_create() - make a sandbox and boot it; returns once its agent is
 * ready. Memory beyond the host's, and an $MSB_ACCEL that cannot be had
 * (or is unknown), fail before anything is made. On a boot failure
 * (MSB_E_BOOT) the message ends with the guest console's last lines; the
 * sandbox is kept, marked failed, with its console log
 * (msb_sandbox_logs_path()), unless it is ephemeral: then it is removed.
 * More cpus than the host has are allowed (slow: each is a host thread). */
MSB_API int msb_sandbox_create(const msb_sandbox_config *c, msb_sandbox **out,
		       msb_error *err);

/* msb_sandbox_start() - boot an existing stopped sandbox again; one booting
 * or stopping is waited for first. MSB_E_ALREADY if it runs. A peer that
 * holds secrets given at its creation (docs/spawn.md) cannot:
 * MSB_E_POLICY, saying to start a new peer. */
MSB_API int msb_sandbox_start(const char *name, msb_sandbox **out, msb_error *err);

/* msb_sandbox_open() - a handle on a running sandbox. */
MSB_API int msb_sandbox_open(const char *name, msb_sandbox **out, msb_error *err);

/* msb_sandbox_stop() - ask the guest to power off, waiting up to @timeout_s
 * seconds before killing it. 0 kills at once. @elapsed_ms may be NULL.
 * The peers it spawned are stopped with it, each given @timeout_s
 * (also when it had stopped by itself: MSB_E_ALREADY is still returned);
 * a later start does not start them (docs/spawn.md). */
MSB_API int msb_sandbox_stop(const char *name, unsigned timeout_s, uint64_t *elapsed_ms,
		     msb_error *err);

/* msb_sandbox_stop_sync() - msb_sandbox_stop(), and for a sandbox that
 * syncs (msb_sandbox_set_sync()), its push once the guest is down,
 * reported through @o's progress (@o may be NULL; its ref, name, force
 * and trust are not used) and into @pushed (may be NULL; its name is ""
 * when no push was tried).
 * A push that fails leaves the sandbox stopped and returns its error
 * (with @pushed's name set). */
struct msb_sync_opts;
struct msb_sync_info;
MSB_API int msb_sandbox_stop_sync(const char *name, unsigned timeout_s,
				  const struct msb_sync_opts *o,
				  struct msb_sync_info *pushed,
				  uint64_t *elapsed_ms, msb_error *err);

/* msb_sandbox_remove() - delete a stopped sandbox and its disk. With @force a
 * running one is killed first. One whose create is still under way (its
 * supervisor not yet started, or still setting up) is waited for until
 * its supervisor has started (at most a minute), then stopped: removing
 * it never leaves a supervisor behind. */
MSB_API int msb_sandbox_remove(const char *name, int force, msb_error *err);

MSB_API const char *msb_sandbox_name(const msb_sandbox *sb);
/* Milliseconds from the create/start call to the agent's ready report. */
MSB_API uint64_t msb_sandbox_boot_ms(const msb_sandbox *sb);
MSB_API void msb_sandbox_close(msb_sandbox *sb);

typedef struct msb_sandbox_info {
	char name[64];
	char image[256];
	char status[16];   /* created starting running stopping stopped failed */
	unsigned cpus;
	uint64_t memory_mib;
	int pid;           /* supervisor pid while running, else 0 */
	int64_t created_at, started_at, stopped_at; /* unix seconds, 0 = never */
	char error[512];   /* why it failed, when it did */
	/* its detached command (msb run -d -- CMD, or -d IMAGE's own) in its
	 * last run */
	int cmd_state;     /* MSB_CMD_NONE, _RUNNING or _ENDED */
	int cmd_exit_code; /* ENDED: its status, 128+N if signal N killed
			    * it (137 when the sandbox stopped first), 126
			    * if it could not start */
	char from_snapshot[64]; /* the snapshot it was restored from, or "" */
} msb_sandbox_info;

enum { MSB_CMD_NONE = 0, MSB_CMD_RUNNING = 1, MSB_CMD_ENDED = 2 };

/* msb_status_is_live() - starting, running or stopping: a supervisor owns it. */
MSB_API int msb_status_is_live(const char *status);

/* msb_list() - every sandbox, with the truth about supervisors that died. */
MSB_API int msb_list(msb_sandbox_info **out, size_t *n, msb_error *err);
MSB_API int msb_sandbox_info_get(const char *name, msb_sandbox_info *out,
			 msb_error *err);
/* A published port as bound (msb run -p, msb port). */
typedef struct msb_port {
	char host_ip[64];          /* "127.0.0.1", "::1", "0.0.0.0" */
	uint16_t host_port;        /* a free one the kernel gave for host port
				    * 0 or a guest port alone ("-p 80") */
	uint16_t guest_port;
} msb_port;

/* msb_sandbox_ports() - the published ports of sandbox @name while it
 * runs (none otherwise), in the order given; free() *@ports. */
MSB_API int msb_sandbox_ports(const char *name, msb_port **ports, size_t *n,
			      msb_error *err);

/* msb_sandbox_wait() - wait until sandbox @name's detached command has
 * ended, or, without one, until the sandbox is no longer running (as
 * `docker wait`); @timeout_ms 0 waits for ever. *@status: the command's
 * exit status, or 0 for a sandbox that stopped (a failed one is an error,
 * its reason the message). -ETIMEDOUT when the time ran out. */
MSB_API int msb_sandbox_wait(const char *name, unsigned timeout_ms,
			     int *status, msb_error *err);
/* msb_inspect_json() - full state as a JSON document; free() the result.
 * "paused" is null, or {"reason": "host disk full", "since", "dir"} while
 * the VM waits for disk space (asked of its supervisor). */
MSB_API int msb_inspect_json(const char *name, char **json, msb_error *err);
/* Path of the log holding the guest console and agent messages. */
MSB_API int msb_sandbox_logs_path(const char *name, char *buf, size_t n,
			  msb_error *err);

/* ---- snapshots (docs/snapshots.md) ---------------------------------------- */

typedef struct msb_snapshot_info {
	char name[64];
	char source[64];      /* the sandbox it was taken of */
	char kind[8];         /* "full": memory, vCPU and device state and the
			       * disk, restored running; "disk": the disk only,
			       * restored by booting it */
	char reason[192];     /* kind "disk": why ("the sandbox was stopped",
			       * "the sandbox has volumes"...) */
	char image[256];
	unsigned cpus;
	uint64_t memory_mib;
	int64_t created_at;   /* unix seconds */
	uint64_t ram_bytes;   /* guest RAM stored (only touched pages) */
	uint64_t disk_bytes;  /* upper disk stored */
	uint64_t size_bytes;  /* host disk the snapshot takes in all */
	unsigned users;       /* sandboxes restored from it that still exist */
} msb_snapshot_info;

/* msb_snapshot_create() - snapshot @sandbox as @name. A running sandbox is
 * paused (not stopped) while its memory, vCPU and device state and its
 * disk are saved at one instant, then resumes untouched; a stopped one,
 * or one with volumes, gives a disk-only snapshot (@info->kind says
 * which). @info may be NULL. Nothing is left behind when it fails. */
MSB_API int msb_snapshot_create(const char *sandbox, const char *name,
				msb_snapshot_info *info, msb_error *err);

typedef struct msb_restore_opts {
	const char *name;           /* the new sandbox; required */
	const char *const *env;     /* NULL-terminated "K=V": every later exec
				     * gets them, restored processes read
				     * them from /run/msb/env */
	unsigned cpus;              /* 0: the snapshot's (a full restore
				     * cannot change it) */
	uint64_t memory_mib;        /* 0: the snapshot's (likewise) */
	int disk_only;              /* boot fresh from the snapshot's disk
				     * (what msb run --from-snapshot does) */
	int ephemeral;              /* removed when it stops */
	unsigned boot_timeout_ms;   /* 0: the snapshot's sandbox's */
} msb_restore_opts;

MSB_API void msb_restore_opts_init(msb_restore_opts *o);
/* msb_snapshot_restore() - a new sandbox continuing from @snapshot (a
 * full one: its processes keep running; a disk-only one: booted). Its
 * files are checked first: a damaged snapshot is refused, nothing started. */
MSB_API int msb_snapshot_restore(const char *snapshot,
				 const msb_restore_opts *o, msb_sandbox **out,
				 msb_error *err);
/* msb_snapshot_list() - every snapshot, oldest first; free() *@out. */
MSB_API int msb_snapshot_list(msb_snapshot_info **out, size_t *n,
			      msb_error *err);
MSB_API int msb_snapshot_info_get(const char *name, msb_snapshot_info *out,
				  msb_error *err);
/* msb_snapshot_inspect_json() - its meta.json with "path", "size_bytes"
 * and "used_by"; free() the result. */
MSB_API int msb_snapshot_inspect_json(const char *name, char **json,
				      msb_error *err);
/* msb_snapshot_rename() - @name becomes @new_name (its files are checked
 * first, as a restore checks them). Refused while sandboxes restored from
 * it exist (MSB_E_BUSY: they find it by name), and when @new_name is
 * taken (MSB_E_EXISTS). An SDK's unnamed snapshot gets its name so. */
MSB_API int msb_snapshot_rename(const char *name, const char *new_name,
				msb_error *err);
/* msb_snapshot_remove() - refused while sandboxes restored from it exist,
 * unless @force (they can then no longer start). */
MSB_API int msb_snapshot_remove(const char *name, int force, msb_error *err);

/* ---- metrics ------------------------------------------------------------ */

/* What a sandbox uses. The host measures the VM from outside (CPU time and
 * resident memory of its process, the blocks of its writable disk, the
 * bytes through its network stack); the guest reports what only it knows
 * (memory in use, its root filesystem, its processes). */
typedef struct msb_stats {
	char name[64];
	char status[16];            /* as msb_sandbox_info's, or "paused":
				     * its VM waits for host disk space
				     * (docs/api-protocol.md §11.4) */
	int running;                /* 0: only the limits and disk_bytes */
	int guest;                  /* 1: the guest's own numbers are in
				     * (it answered within a second) */
	unsigned cpus;
	uint64_t memory_limit_bytes;
	uint64_t uptime_ms;         /* since it became ready */
	double cpu_percent;         /* the VM's CPU use over the last
				     * second; 100 = one CPU busy */
	uint64_t cpu_time_ns;       /* the VM's CPU time on the host */
	uint64_t memory_rss_bytes;  /* host memory the VM holds now */
	uint64_t memory_used_bytes; /* in use in the guest (its total less
				     * what is available); without the guest's
				     * numbers, the host's RSS */
	uint64_t memory_total_bytes; /* the guest kernel's total */
	uint64_t disk_bytes;        /* host disk the sandbox's writable disk
				     * takes (also when stopped) */
	uint64_t disk_used_bytes, disk_total_bytes; /* the guest's root */
	uint64_t net_rx_bytes, net_tx_bytes;       /* into / out of the guest,
						    * Ethernet frames */
	uint64_t net_rx_packets, net_tx_packets;
	uint64_t processes;         /* in the guest */
} msb_stats;

/* msb_sandbox_stats() - one sandbox's numbers (waits up to about a second
 * for the guest's part). */
MSB_API int msb_sandbox_stats(const char *name, msb_stats *out,
			      msb_error *err);
/* msb_stats_list() - every running sandbox's numbers (with @all, every
 * sandbox's), as msb_list() orders them; free() *@out. */
MSB_API int msb_stats_list(int all, msb_stats **out, size_t *n,
			   msb_error *err);

/* ---- exec --------------------------------------------------------------- */

typedef struct msb_exec_opts {
	const char *const *env;  /* NULL-terminated "K=V", on top of the sandbox's */
	const char *workdir;
	const char *user;        /* name, uid or uid:gid */
	int tty;                 /* allocate a pseudo-terminal */
	unsigned rows, cols;     /* its size */
	int stdin;               /* stdin will be streamed with msb_exec_write() */
	int main;                /* the sandbox stops when this command ends or
				  * its caller goes away (msb run CMD) */
	unsigned timeout_ms;     /* 0 = none; else the supervisor kills the
				  * process's group (SIGKILL) this long after
				  * the start, and its EXIT says timed_out */
} msb_exec_opts;

typedef struct msb_exec msb_exec;

enum msb_exec_event_type {
	MSB_EXEC_STARTED = 1,
	MSB_EXEC_STDOUT,
	MSB_EXEC_STDERR,
	MSB_EXEC_EXIT,
	/* The sandbox was paused while the command ran (its host disk is
	 * full), or runs again: @data/@len say so in words. The command
	 * itself goes on when the sandbox runs again. */
	MSB_EXEC_PAUSED,
	MSB_EXEC_RESUMED,
};

typedef struct msb_exec_event {
	enum msb_exec_event_type type;
	const uint8_t *data;  /* STDOUT/STDERR (PAUSED/RESUMED: the words),
			       * valid until the next read */
	size_t len;
	int pid;              /* STARTED */
	int exit_code;        /* EXIT: status, or 128+signal (137 when
			       * timeout_ms killed it: timed_out says so;
			       * msb exec then exits 124, as timeout(1)) */
	int signal;           /* EXIT: the killing signal, 0 if it exited */
	int timed_out;        /* EXIT: killed by msb_exec_opts.timeout_ms */
} msb_exec_event;

MSB_API int msb_exec_start(msb_sandbox *sb, const char *const *argv,
		   const msb_exec_opts *o, msb_exec **out, msb_error *err);
/* msb_exec_fd() - a descriptor to poll for readability. One read can bring
 * several events, which the library then holds: after the descriptor polls
 * readable, call msb_exec_next(e, &ev, 0) until it returns 0. */
MSB_API int msb_exec_fd(const msb_exec *e);
/* msb_exec_next() - next event; 1 with @ev filled, 0 if none within
 * @timeout_ms (-1 waits), negative on error. After EXIT it returns -EPIPE. */
MSB_API int msb_exec_next(msb_exec *e, msb_exec_event *ev, int timeout_ms,
		  msb_error *err);
/* msb_exec_write() - stdin for the command (msb_exec_opts.stdin); blocks
 * while the sandbox takes no more. It and _close_stdin, _signal and
 * _resize never read, so another thread may be in msb_exec_next(): a
 * connection closed under them is MSB_E_STOPPED, the reader getting the
 * events that came before. Sends on one handle must not
 * overlap each other. */
MSB_API int msb_exec_write(msb_exec *e, const void *buf, size_t n, msb_error *err);
MSB_API int msb_exec_close_stdin(msb_exec *e, msb_error *err);
MSB_API int msb_exec_signal(msb_exec *e, int sig, msb_error *err);
MSB_API int msb_exec_resize(msb_exec *e, unsigned rows, unsigned cols, msb_error *err);
/* msb_exec_free() - once no call on @e is running, on either side. */
MSB_API void msb_exec_free(msb_exec *e);

typedef struct msb_output {
	char *out, *err;      /* NUL-terminated, free() them */
	size_t out_len, err_len;
	int exit_code;
	int signal;
	int timed_out;        /* killed by msb_exec_opts.timeout_ms */
} msb_output;

/* msb_exec_capture() - run to completion, collecting stdout and stderr. */
MSB_API int msb_exec_capture(msb_sandbox *sb, const char *const *argv,
		     const msb_exec_opts *o, msb_output *out, msb_error *err);
MSB_API void msb_output_free(msb_output *o);

/* msb_exec_detach() - start @argv in the background (msb exec -d) and
 * return once it runs, with its pid in the guest; its output goes to the
 * sandbox's log, and it lives on when the caller goes. @o's stdin, tty and
 * main must be 0 (its timeout_ms applies). */
MSB_API int msb_exec_detach(msb_sandbox *sb, const char *const *argv,
			    const msb_exec_opts *o, int *pid, msb_error *err);

/* msb_sandbox_command() - what to run in sandbox @name for a user's @cmd
 * (NULL: none given): the image's Entrypoint (or --entrypoint) followed by
 * @cmd, else by the image's Cmd (Docker's rules). A NULL-terminated vector,
 * one allocation: free() it. */
MSB_API int msb_sandbox_command(const char *name, const char *const *cmd,
				char ***argv, msb_error *err);

/* ---- files in the guest --------------------------------------------------- *
 * Files are read, written and changed by the guest agent as a user of the
 * sandbox (msb_file_opts.user; by default the one exec uses), so the guest's
 * permissions apply. Relative paths start at the sandbox's working
 * directory. Data streams both ways with flow control: files larger than
 * RAM pass through in bounded memory. Errors in the guest come back as
 * their errno (MSB_E_NOT_FOUND, MSB_E_EXISTS, MSB_E_PERMISSION, -EISDIR,
 * -ENOTDIR, -ENOTEMPTY, -ENOSPC, ...) with the guest's message. */

typedef enum msb_file_type {
	MSB_FILE_REGULAR = 1,
	MSB_FILE_DIR,
	MSB_FILE_SYMLINK,
	MSB_FILE_FIFO,
	MSB_FILE_SOCKET,
	MSB_FILE_CHAR,
	MSB_FILE_BLOCK,
	MSB_FILE_OTHER,
} msb_file_type;

typedef struct msb_file_info {
	char name[4096];      /* list: relative to the listed directory
			       * ("a/b" in a recursive list); stat: "" */
	msb_file_type type;
	uint32_t mode;        /* permission bits (07777) */
	uint32_t uid, gid, nlink;
	uint64_t size;
	int64_t mtime;        /* seconds since the epoch */
	uint32_t mtime_nsec;
	char link[4096];      /* a symlink's target; "" otherwise */
} msb_file_info;

typedef struct msb_file_opts {
	const char *user;     /* name, uid or uid:gid; NULL = as exec */
	unsigned mode;        /* write, mkdir: exact permission bits
			       * (0 = 0644 for a new file, 0755 for a
			       * directory, less the umask 022) */
	int parents;          /* mkdir: make missing parents, an existing
			       * directory is fine (mkdir -p); write: make
			       * the file's missing parent directories */
	int recursive;        /* list: the whole tree; remove: a directory
			       * and everything in it */
	int exclusive;        /* write, mkdir, rename: MSB_E_EXISTS if the
			       * path (rename: the new path) exists */
	int append;           /* write: at the end, not truncated */
	int nofollow;         /* stat: a symlink itself, not its target */
} msb_file_opts;

/* Streaming: msb_file_open() starts one operation on its own connection. */
typedef struct msb_file msb_file;

typedef enum msb_file_op {
	MSB_FILE_READ = 1,    /* events: DATA..., DONE (size = bytes) */
	MSB_FILE_WRITE,       /* msb_file_write()..., msb_file_close_write(),
			       * then DONE (size = bytes written) */
	MSB_FILE_LIST,        /* events: ENTRY..., DONE (size = entries) */
} msb_file_op;

enum msb_file_event_type {
	MSB_FILE_DATA = 1,
	MSB_FILE_ENTRY,
	MSB_FILE_DONE,
};

typedef struct msb_file_event {
	enum msb_file_event_type type;
	const uint8_t *data;         /* DATA: valid until the next call */
	size_t len;
	const msb_file_info *entry;  /* ENTRY: valid until the next call */
	uint64_t size;               /* DONE */
} msb_file_event;

MSB_API int msb_file_open(msb_sandbox *sb, msb_file_op op, const char *path,
			  const msb_file_opts *o, msb_file **out,
			  msb_error *err);
/* msb_file_fd() - a descriptor to poll for readability, as msb_exec_fd():
 * after it polls readable, call msb_file_next(f, &ev, 0) until it
 * returns 0. */
MSB_API int msb_file_fd(const msb_file *f);
/* msb_file_next() - 1 with @ev filled, 0 if none within @timeout_ms (-1
 * waits), negative if the operation failed (the guest's errno, e.g.
 * MSB_E_NOT_FOUND, with its message) or, after DONE, MSB_E_STOPPED. */
MSB_API int msb_file_next(msb_file *f, msb_file_event *ev, int timeout_ms,
			  msb_error *err);
/* msb_file_write() - @n bytes for a WRITE (blocking while the guest's
 * window and the socket are full). A failure the guest already reported
 * (no such directory, no space) is returned here at once. */
MSB_API int msb_file_write(msb_file *f, const void *buf, size_t n,
			   msb_error *err);
/* msb_file_close_write() - the end of a WRITE's data; DONE follows. */
MSB_API int msb_file_close_write(msb_file *f, msb_error *err);
/* msb_file_free() - end the handle; an operation not yet DONE is abandoned
 * (a write stops where it is). */
MSB_API void msb_file_free(msb_file *f);

/* Whole-file and one-shot helpers (each blocks until done). */
/* msb_file_read_all() - the whole file in memory, NUL-terminated (the NUL
 * not counted in @len); free() *@data. */
MSB_API int msb_file_read_all(msb_sandbox *sb, const char *path,
			      const msb_file_opts *o, void **data, size_t *len,
			      msb_error *err);
MSB_API int msb_file_write_all(msb_sandbox *sb, const char *path,
			       const void *data, size_t len,
			       const msb_file_opts *o, msb_error *err);
/* msb_file_read_fd() / msb_file_write_fd() - a guest file to or from a
 * host descriptor, streamed; @done (may be NULL) gets the bytes moved. */
MSB_API int msb_file_read_fd(msb_sandbox *sb, const char *path, int fd,
			     const msb_file_opts *o, uint64_t *done,
			     msb_error *err);
MSB_API int msb_file_write_fd(msb_sandbox *sb, const char *path, int fd,
			      const msb_file_opts *o, uint64_t *done,
			      msb_error *err);
MSB_API int msb_file_stat(msb_sandbox *sb, const char *path,
			  const msb_file_opts *o, msb_file_info *out,
			  msb_error *err);
/* msb_file_exists() - 1 if @path exists, 0 if not, negative on error. */
MSB_API int msb_file_exists(msb_sandbox *sb, const char *path,
			    const msb_file_opts *o, msb_error *err);
/* msb_file_list() - every entry (sorted by name); free() *@entries. */
MSB_API int msb_file_list(msb_sandbox *sb, const char *path,
			  const msb_file_opts *o, msb_file_info **entries,
			  size_t *n, msb_error *err);
MSB_API int msb_file_mkdir(msb_sandbox *sb, const char *path,
			   const msb_file_opts *o, msb_error *err);
MSB_API int msb_file_remove(msb_sandbox *sb, const char *path,
			    const msb_file_opts *o, msb_error *err);
MSB_API int msb_file_rename(msb_sandbox *sb, const char *from, const char *to,
			    const msb_file_opts *o, msb_error *err);
/* msb_file_symlink() - make @path a symlink pointing at @target. */
MSB_API int msb_file_symlink(msb_sandbox *sb, const char *target,
			     const char *path, const msb_file_opts *o,
			     msb_error *err);

/* Copies between the host and a guest, files and directories, with
 * `docker cp`'s rules (msb cp): a file to an existing directory lands in
 * it under its own name; a directory to a path that does not exist
 * becomes it; to an existing directory, it lands inside it, or only its
 * contents with a source ending in "/.". Modes are kept; symlinks are
 * copied as symlinks. Copying out refuses guest names that would land
 * outside the destination, and never follows a symlink on the host
 * below it. */
typedef struct msb_copy_opts {
	const char *user;     /* the guest user, as msb_file_opts.user */
	/* called for each file as bytes move: @path the guest path */
	void (*progress)(void *ctx, const char *path, uint64_t done,
			 uint64_t total);
	void *ctx;
} msb_copy_opts;

MSB_API int msb_copy_in(msb_sandbox *sb, const char *host_path,
			const char *guest_path, const msb_copy_opts *o,
			msb_error *err);
MSB_API int msb_copy_out(msb_sandbox *sb, const char *guest_path,
			 const char *host_path, const msb_copy_opts *o,
			 msb_error *err);

/* ---- images ------------------------------------------------------------- *
 * References as Docker users write them: "python:3.12" is
 * docker.io/library/python:3.12; "host:port/repo:tag", "repo@sha256:...".
 * The store is <home>/blobs (content by digest) and <home>/layers (each
 * layer once, as an EROFS image); docs/images.md. "default" is the built-in
 * image and needs no pull. */

typedef struct msb_pull_progress {
	const char *phase;       /* "resolving", "downloading", "converting",
				  * "repaired" (a stored layer image was
				  * damaged and is made again) */
	const char *digest;      /* the blob, when there is one */
	uint64_t done, total;    /* bytes of that blob */
	unsigned index, count;   /* which layer, of how many */
} msb_pull_progress;

typedef struct msb_pull_opts {
	int insecure;            /* plain http to a non-loopback registry */
	/* called from the pulling threads, one call at a time */
	void (*progress)(void *ctx, const msb_pull_progress *p);
	void *ctx;
} msb_pull_opts;

typedef struct msb_image_info {
	char reference[600];     /* as shown: "python:3.12" */
	char canonical[600];     /* "docker.io/library/python:3.12" */
	char digest[80];         /* of the manifest (or index) it resolved to */
	char id[80];             /* of its config */
	uint64_t size;           /* compressed layers */
	unsigned layers;
	int64_t pulled_at;       /* the built-in: when it was built */
	unsigned fetched;        /* pull: blobs downloaded (0: all were here) */
	int builtin;             /* "default", made by the setup (no digest;
				  * size: its one disk) */
} msb_image_info;

MSB_API int msb_image_pull(const char *ref, const msb_pull_opts *o,
			   msb_image_info *out, msb_error *err);
/* Local images without a registry. msb_image_load() - @path is an OCI
 * image layout (a directory, or a tar of one) or a `docker save` archive;
 * "-" reads a tar from stdin. Every blob is verified against its digest
 * before any is stored; the layers are converted as a pull does. */
typedef struct msb_load_opts {
	const char *tag;         /* the image's name (default: the archive's) */
	void (*progress)(void *ctx, const msb_pull_progress *p);
	void *ctx;
} msb_load_opts;
MSB_API int msb_image_load(const char *path, const msb_load_opts *o,
			   msb_image_info *out, msb_error *err);
/* msb_image_save() - @ref as a tar at @path ("-": stdout): an OCI image
 * layout; MSB_SAVE_DOCKER adds the manifest.json `docker load` reads. */
enum { MSB_SAVE_OCI = 0, MSB_SAVE_DOCKER = 1 };
MSB_API int msb_image_save(const char *ref, const char *path, int format,
			   msb_error *err);
/* msb_image_list() - the built-in "default" image first (when built),
 * then every pulled or loaded one. */
MSB_API int msb_image_list(msb_image_info **out, size_t *n, msb_error *err);
/* msb_image_similar() - the local images of @ref's repository, as shown
 * ("mybox:1, mybox:latest"), into @buf, for telling someone who asked for
 * a tag that is not here what is. Return: how many (0: none, @buf ""). */
MSB_API int msb_image_similar(const char *ref, char *buf, size_t n);
/* msb_image_remove() - forget @ref and delete what no other image and no
 * sandbox uses. */
MSB_API int msb_image_remove(const char *ref, msb_error *err);
/* msb_image_inspect_json() - reference, digests, config, layers; free(). */
MSB_API int msb_image_inspect_json(const char *ref, char **json,
				   msb_error *err);
/* msb_image_prune() - delete blobs and layers no image and no sandbox
 * uses, and debris of interrupted pulls. */
MSB_API int msb_image_prune(uint64_t *freed_bytes, unsigned *files,
			    msb_error *err);
/* Credentials in <home>/auth.json (0600), used by pulls and pushes of
 * @registry (a host: "ghcr.io", "docker.io", "host:5000"). A login is
 * checked first, as docker login checks it: the registry is asked with
 * them, and nothing is stored when it refuses them (MSB_E_PERMISSION,
 * "refused the login"), cannot be reached (-EHOSTUNREACH) or has a
 * certificate that cannot be verified (MSB_E_PERMISSION, saying where its
 * CA goes). A registry that asks no credentials at all takes any. */
typedef struct msb_login_options {
	int insecure; /* plain http to a registry not on loopback (pull's
			 insecure); loopback registries are always http */
} msb_login_options;
MSB_API int msb_registry_login(const char *registry, const char *user,
			       const char *password, msb_error *err);
/* msb_registry_login_with() - msb_registry_login() with @opts (NULL: the
 * defaults, all 0). */
MSB_API int msb_registry_login_with(const char *registry, const char *user,
				    const char *password,
				    const msb_login_options *opts,
				    msb_error *err);
MSB_API int msb_registry_logout(const char *registry, msb_error *err);

/* ---- named volumes (docs/filesystems.md) --------------------------------- *
 * A directory the host keeps apart from any sandbox, <home>/volumes/NAME,
 * mounted by name (MSB_VOLUME_NAMED, msb run -v NAME:/path) by as many
 * sandboxes as like at once: what one writes, the others see. Its size, if
 * it has one, holds for all of them together: past it, writes fail with
 * ENOSPC in the guest, and df shows it as the filesystem's size. */

typedef struct msb_volume_info {
	char name[64];
	uint64_t size_mib;       /* 0: no limit but the host's disk */
	uint64_t used_bytes;     /* host disk its files take */
	int64_t created_at;      /* unix seconds */
	char project[64];        /* the project that made it, or "" */
	char path[1024];         /* its files, on the host */
	unsigned users;          /* sandboxes that mount it (any status) */
	unsigned running;        /* of those, the running ones */
} msb_volume_info;

/* msb_volume_create() - a named volume of at most @size_mib MiB (0: no
 * limit; at most 1024G). MSB_E_EXISTS if the name is taken. @info may be
 * NULL. */
MSB_API int msb_volume_create(const char *name, uint64_t size_mib,
			      msb_volume_info *info, msb_error *err);
/* msb_volume_list() - every named volume, by name; free() *@out. */
MSB_API int msb_volume_list(msb_volume_info **out, size_t *n, msb_error *err);
MSB_API int msb_volume_info_get(const char *name, msb_volume_info *out,
				msb_error *err);
/* msb_volume_inspect_json() - its record, with "used_by": the names of
 * the sandboxes that mount it (as a snapshot's "used_by" names those
 * restored from it), and "running": how many of them run; free() the
 * result. */
MSB_API int msb_volume_inspect_json(const char *name, char **json,
				    msb_error *err);
/* msb_volume_remove() - delete the volume and its files. MSB_E_BUSY while
 * a running sandbox mounts it, and (unless @force) while a stopped one
 * does (it could not start again). */
MSB_API int msb_volume_remove(const char *name, int force, msb_error *err);

/* ---- projects (docs/projects.md) ------------------------------------------ *
 * A Sandboxfile declares sandboxes (each what msb run can set, plus
 * scripts, dependencies and a health check) and named volumes. Sandbox KEY
 * of project P is the sandbox "P-KEY"; volume V is the named volume "P-V"
 * (unless external). Relative paths in the file are relative to its
 * directory. Every error in a file names it with the line and column:
 * "Sandboxfile:12:7: sandboxes.api.memory: invalid memory size ...". */

typedef struct msb_project msb_project;

/* msb_project_find() - the Sandboxfile in directory @start (NULL: the
 * current one) or the nearest above it, into @buf. */
MSB_API int msb_project_find(const char *start, char *buf, size_t n,
			     msb_error *err);
/* msb_project_load() - read and check Sandboxfile @path (NULL: found by
 * msb_project_find()). Nothing is made or started. */
MSB_API int msb_project_load(const char *path, msb_project **out,
			     msb_error *err);
/* msb_project_parse() - the same from @len bytes of @text, as if read
 * from @path (which names it in messages and anchors relative paths). */
MSB_API int msb_project_parse(const char *text, size_t len, const char *path,
			      msb_project **out, msb_error *err);
MSB_API void msb_project_free(msb_project *p);
MSB_API const char *msb_project_name(const msb_project *p);
/* msb_project_file() - the Sandboxfile's absolute path. */
MSB_API const char *msb_project_file(const msb_project *p);
/* msb_project_count() / msb_project_sandbox() - the sandboxes in start
 * order (dependencies first): the @i-th's key in the file ("api"), and
 * its sandbox's name ("my-project-api") in *@name (may be NULL). */
MSB_API size_t msb_project_count(const msb_project *p);
MSB_API const char *msb_project_sandbox(const msb_project *p, size_t i,
					const char **name);
/* msb_project_config_json() - the project resolved (paths absolute, env
 * files read, secrets bound to their hosts, each sandbox's definition
 * hash), as 'msb project config' prints it; free() it. */
MSB_API int msb_project_config_json(const msb_project *p, char **json,
				    msb_error *err);
/* msb_project_script() - the command of script @script of sandbox
 * @sandbox (its key), NULL-terminated, one allocation: free() it. */
MSB_API int msb_project_script(const msb_project *p, const char *sandbox,
			       const char *script, char ***argv,
			       msb_error *err);

/* ---- cloud sync (docs/sync.md) ------------------------------------------ *
 * A sandbox goes to any OCI registry as an artifact (its disk in
 * content-addressed chunks, its configuration, never a secret's value) and
 * comes back from it on any machine as a stopped sandbox with the same
 * files. The remote, REGISTRY[/NAMESPACE], says where sandbox NAME goes by
 * default: REMOTE/NAME:latest. Registries are reached as image pulls reach
 * them (credentials from msb_registry_login(), certs.d, retries). */

/* msb_remote_get() - $MSB_REMOTE, else the one msb_remote_set() kept;
 * -ENOENT (with how to set one) when there is none. @insecure (may be
 * NULL): plain http was allowed for it. */
MSB_API int msb_remote_get(char *remote, size_t n, int *insecure,
			   msb_error *err);
/* msb_remote_set() - keep @remote in <home>/remote.json; NULL or ""
 * forgets it. @insecure allows plain http to a non-loopback registry. */
MSB_API int msb_remote_set(const char *remote, int insecure, msb_error *err);

typedef struct msb_sync_progress {
	const char *phase;       /* "resolving", "reading" (the local disk),
				  * "uploading", "image" (pulling the image
				  * the sandbox needs; @image says how far),
				  * "downloading", "writing" */
	uint64_t done, total;    /* bytes of the disk dealt with, of all;
				  * "reading" counts each file it reads in
				  * turn from 0 (a snapshot's memory, state
				  * and disk); in "uploading" and
				  * "downloading" they only grow */
	unsigned chunks_done, chunks_total;
	const msb_pull_progress *image; /* phase "image": that pull's event */
} msb_sync_progress;

typedef struct msb_sync_opts {
	const char *ref;         /* push: REGISTRY/REPO[:TAG], or a TAG of the
				  * default repository; NULL: where it was
				  * last pushed or pulled, else REMOTE/NAME */
	const char *name;        /* pull: the local sandbox or snapshot
				  * (default: the repository's last
				  * component) */
	int insecure;            /* plain http to a non-loopback registry */
	int force;               /* push: replace what another machine pushed
				  * to that tag since; pull: replace a local
				  * sandbox that changed since its last sync */
	int trust;               /* pull: keep the settings that reach into
				  * this host (volumes, secret sources, a
				  * network plugin, opened ranges, published
				  * ports, extra CAs); else dropped */
	/* called from the working threads, one call at a time */
	void (*progress)(void *ctx, const msb_sync_progress *p);
	void *ctx;
} msb_sync_opts;

typedef struct msb_sync_info {
	char name[64];           /* the local sandbox (or snapshot) */
	char reference[600];     /* canonical: where it went or came from */
	char digest[80];         /* the artifact's manifest */
	char parent[80];         /* the push it was based on, "" if none */
	uint64_t disk_bytes;     /* the disk's data (its holes not counted) */
	unsigned chunks;         /* of the disk */
	unsigned transferred;    /* chunks uploaded (push) or downloaded */
	uint64_t bytes;          /* bytes sent (push) or received (pull) */
	unsigned reused;         /* pull: chunks taken from the local disk */
	int up_to_date;          /* nothing had to be sent or fetched */
	char dropped[256];       /* pull: settings dropped (no @trust) */
} msb_sync_info;

/* msb_sandbox_push() - push sandbox @name as it is at one instant: a
 * stopped one's disk, a running one's copied by its supervisor with the
 * guest's filesystems synced and its vCPUs paused meanwhile (it then runs
 * on). Only chunks the registry lacks are sent; an interrupted push run
 * again sends only what is still missing. Refused with MSB_E_CONFLICT
 * when the tag holds a push this sandbox did not start from, unless
 * @o->force. */
MSB_API int msb_sandbox_push(const char *name, const msb_sync_opts *o,
			     msb_sync_info *out, msb_error *err);
/* msb_sandbox_pull() - @ref (a reference, or a bare NAME under the
 * remote) into a stopped sandbox: the image it needs is pulled, the
 * chunks the local copy lacks are fetched, everything is verified, and
 * nothing is left behind on failure. An existing sandbox of that name is
 * replaced only when it has not changed since its last push or pull, or
 * with @o->force (MSB_E_CONFLICT otherwise); never while it runs.
 * MSB_E_KIND when @ref holds an image or a snapshot (the message says
 * which: msb_image_pull() or msb_snapshot_pull() takes it). */
MSB_API int msb_sandbox_pull(const char *ref, const msb_sync_opts *o,
			     msb_sync_info *out, msb_error *err);

/* msb_snapshot_push() - push snapshot @snap (docs/snapshots.md) as an
 * artifact of its own type: its disk, and for a full snapshot its RAM
 * (the pages the guest touched) and device state, in chunks as a
 * sandbox's disk goes; checked against its integrity record first
 * (MSB_E_DAMAGED). @o->ref as for msb_sandbox_push(), defaulting to where
 * it was last pushed or pulled, else REMOTE/SNAP. A snapshot never
 * changes, so a push to where it already is sends nothing (up_to_date);
 * a tag holding anything else is replaced only with @o->force
 * (MSB_E_CONFLICT). */
MSB_API int msb_snapshot_push(const char *snap, const msb_sync_opts *o,
			      msb_sync_info *out, msb_error *err);
/* msb_snapshot_pull() - @ref (a reference, or a bare NAME under the
 * remote) into snapshot @o->name (default: the repository's last
 * component), every chunk verified and its image pulled, with a fresh
 * integrity record: msb_snapshot_restore() then resumes its machine here
 * (a full snapshot needs the QEMU version that took it). A snapshot of
 * that name is replaced only with @o->force (MSB_E_EXISTS) and never
 * while sandboxes restored from it exist (MSB_E_BUSY); MSB_E_KIND when
 * @ref holds a sandbox or an image (the message says which). */
MSB_API int msb_snapshot_pull(const char *ref, const msb_sync_opts *o,
			      msb_sync_info *out, msb_error *err);

/* msb_sandbox_set_sync() - with @on, sandbox @name pushes itself
 * (msb_sandbox_push(), to where it was last pushed or pulled, else
 * REMOTE/NAME) whenever msb_sandbox_stop_sync() stops it; -ENOENT, saying
 * how to set one, when it has neither a remote nor a last sync. Kept in
 * its record, and in what it pushes. */
MSB_API int msb_sandbox_set_sync(const char *name, int on, msb_error *err);

/* What up, down and restart report as they go (msb_project_opts.progress;
 * called from the threads that start sandboxes, one call at a time). */
typedef struct msb_project_event {
	const char *sandbox;   /* its key in the file; NULL for a volume, or
				* for a sandbox no longer in the file */
	const char *name;      /* the sandbox's or the volume's name */
	const char *what;      /* "creating", "restoring", "recreating",
				* "starting", "created", "restored",
				* "recreated", "started", "up-to-date",
				* "waiting" (for its healthcheck), "healthy",
				* "failed", "stopping", "stopped",
				* "removed", "volume
				* created", "volume resized", "volume
				* removed" */
	uint64_t ms;           /* how long it took, for what is done */
	const char *detail;    /* more, or NULL */
} msb_project_event;

typedef struct msb_project_opts {
	const char *const *only;   /* NULL-terminated keys; NULL: every
				    * sandbox. up: these and what they
				    * depend on; down, restart: these */
	unsigned stop_timeout_s;   /* down, restart: as msb_sandbox_stop()
				    * (msb_project_opts_init(): 10) */
	int volumes;               /* down (of the whole project): remove
				    * the named volumes it made too */
	void (*progress)(void *ctx, const msb_project_event *e);
	void *ctx;
} msb_project_opts;

MSB_API void msb_project_opts_init(msb_project_opts *o);
/* msb_project_up() - make the project's named volumes that are missing,
 * then create (or restore) each sandbox that is missing, recreate each
 * whose definition changed (its hash), start each that is stopped, and
 * leave the rest: a second up does nothing. Sandboxes start once what
 * they depend on is up (and healthy, for condition: healthy),
 * independent ones in parallel, each on a thread this call starts and
 * joins. A sandbox that fails stops it: nothing not yet started starts,
 * and the error names the sandbox and ends with its log's last lines.
 * @o may be NULL. */
MSB_API int msb_project_up(const msb_project *p, const msb_project_opts *o,
			   msb_error *err);
/* msb_project_down() - stop and remove the project's sandboxes (every
 * sandbox recorded as the project's, also those no longer in the file),
 * in the reverse of the start order; with @o->volumes, the named volumes
 * it made too (kept otherwise). */
MSB_API int msb_project_down(const msb_project *p, const msb_project_opts *o,
			     msb_error *err);
/* msb_project_stop() - stop the project's running sandboxes, in the
 * reverse of the start order (kept, with their disks: up starts them). */
MSB_API int msb_project_stop(const msb_project *p, const msb_project_opts *o,
			     msb_error *err);
/* msb_project_restart() - stop the project's running sandboxes (reverse
 * order) and start them again (start order). */
MSB_API int msb_project_restart(const msb_project *p,
				const msb_project_opts *o, msb_error *err);

typedef struct msb_project_entry {
	char key[64];          /* in the file */
	char name[64];         /* the sandbox */
	char status[16];       /* msb_sandbox_info's, or "missing" */
	char state[16];        /* "current"; "changed" (up recreates it);
				* "missing" (up makes it); "orphan" (the
				* project's, no longer in the file: down
				* removes it) */
	char image[256];       /* its image (or snapshot, when missing) */
} msb_project_entry;

/* msb_project_ps() - the file's sandboxes in start order, then orphans;
 * free() *@out. */
MSB_API int msb_project_ps(const msb_project *p, msb_project_entry **out,
			   size_t *n, msb_error *err);

/* ---- plugins (docs/plugins.md) ------------------------------------------ */

/* A sandbox's chain of plugins, in order: each sees what the previous ones
 * changed, and a denial by any stops the chain. Built-ins run in the
 * supervisor; processes and sockets speak the hook protocol
 * (docs/plugins.md). Kept in the record: a sandbox started again gets
 * them again. */
typedef struct msb_plugins msb_plugins;

MSB_API msb_plugins *msb_plugins_new(void);
MSB_API void msb_plugins_free(msb_plugins *p);
/* msb_plugins_add() - a built-in by @name ("audit-log", "rate-limiter")
 * with @options "KEY=VALUE,KEY=VALUE" (NULL: none): audit-log takes
 * dir=DIR (a relative one is made absolute here) and fs=OP+OP...;
 * rate-limiter takes exec=N and connect=N (a second) and bytes=RATE (the
 * guest network's bytes a second each way: 64k, 1.5m). Any other @name
 * is an installed plugin (msb_plugin_install()), verified now and at
 * each start; it takes no options. */
MSB_API int msb_plugins_add(msb_plugins *p, const char *name,
			    const char *options, msb_error *err);
/* msb_plugins_add_process() - a command the supervisor runs with
 * /bin/sh -c in the caller's current directory, its channel on
 * descriptor 3 ($MSB_PLUGIN_FD), restarted when it exits. */
MSB_API int msb_plugins_add_process(msb_plugins *p, const char *cmd,
				    msb_error *err);
/* msb_plugins_add_socket() - a hook server listening on the unix socket
 * at @path (an SDK process's callbacks): the supervisor connects at each
 * start; a server that is gone fails the start. */
MSB_API int msb_plugins_add_socket(msb_plugins *p, const char *path,
				   msb_error *err);
/* msb_plugins_set_timeout() - each call's deadline (default 1000 ms). */
MSB_API void msb_plugins_set_timeout(msb_plugins *p, unsigned ms);
/* msb_plugins_set_restarts() - how often a plugin process that exits is
 * started again (default 3; 0: never). */
MSB_API void msb_plugins_set_restarts(msb_plugins *p, unsigned n);
/* msb_sandbox_create_with_plugins() - msb_sandbox_create() with @p (may
 * be NULL); a plugin that does not start fails the create. */
MSB_API int msb_sandbox_create_with_plugins(const msb_sandbox_config *c,
					    const msb_plugins *p,
					    msb_sandbox **out, msb_error *err);

/* ---- the plugin registry (docs/plugins.md) ------------------------------ */

/* A plugin is published to an OCI registry as an artifact: a manifest of
 * artifactType application/vnd.microsandbox.plugin.v1+json whose config
 * is its metadata (below) and whose layers are its files. A plugin
 * registry is REGISTRY/NAMESPACE (127.0.0.1:5000/plugins, ghcr.io/me):
 * each plugin is NAMESPACE/NAME:VERSION (and :latest), and
 * NAMESPACE/index:latest is the index that search reads and publish
 * updates. Where @registry is NULL, $MSB_PLUGIN_REGISTRY names it.
 * Loopback registries are spoken to over plain http; credentials come
 * from `msb registry login`. Installed plugins live under
 * <home>/plugins/NAME, pinned by the digest of the manifest they came
 * from; their files are checked against it each time a sandbox loads
 * them (`msb run --plugin NAME`, msb_plugins_add()). */
typedef struct msb_plugin_info {
	char name[64];           /* lowercase letters, digits, '.', '_', '-' */
	char version[64];
	char kind[16];           /* "process": a command speaking the hook
				  * protocol, run in the plugin's files */
	char language[32];       /* informative: "python", "node", "go"... */
	char hooks[256];         /* the hooks it asks for: "dns,connect" */
	char command[1024];      /* run with /bin/sh -c in its files */
	char description[256];
	char reference[700];     /* published as / installed from */
	char digest[80];         /* the artifact's manifest digest */
	char path[1024];         /* installed: its files' directory, else "" */
	uint64_t size;           /* bytes of its files */
	unsigned files;
	int64_t installed_at;    /* Unix seconds; 0 when not installed */
	int verified;            /* msb_plugin_list(): 1 when its files still
				  * match their digests, 0 when not */
} msb_plugin_info;

/* msb_plugin_publish() - the plugin in directory @dir (its metadata in
 * DIR/plugin.json: name, version, kind, hooks, language, command,
 * description; every other regular file under DIR is one of its files)
 * pushed to @registry as NAME:VERSION and NAME:latest, and entered in
 * the registry's index. @out (may be NULL) gets what was published. */
MSB_API int msb_plugin_publish(const char *dir, const char *registry,
			       msb_plugin_info *out, msb_error *err);
/* msb_plugin_install() - @what: NAME, NAME:VERSION or NAME@DIGEST in
 * @registry, or a whole reference (HOST/REPO:TAG): every blob checked
 * against its digest, the files put under <home>/plugins/NAME (an
 * installed one of that name is replaced). MSB_E_NOT_FOUND when the
 * registry has no such plugin, MSB_E_KIND when the reference holds
 * something else. */
MSB_API int msb_plugin_install(const char *what, const char *registry,
			       msb_plugin_info *out, msb_error *err);
/* msb_plugin_search() - the entries of @registry's index whose name,
 * description, language, kind or hooks hold @query (case ignored; NULL
 * or "" for all), by name; free() *@out. */
MSB_API int msb_plugin_search(const char *registry, const char *query,
			      msb_plugin_info **out, size_t *n,
			      msb_error *err);
/* msb_plugin_list() - the installed plugins, by name, each verified;
 * free() *@out. */
MSB_API int msb_plugin_list(msb_plugin_info **out, size_t *n,
			    msb_error *err);
/* msb_plugin_inspect() - one installed plugin, verified: MSB_E_DAMAGED
 * (with @out filled) when its files no longer match its digest,
 * MSB_E_NOT_FOUND when none of that name is installed. */
MSB_API int msb_plugin_inspect(const char *name, msb_plugin_info *out,
			       msb_error *err);
/* msb_plugin_remove() - uninstall; sandboxes that load it then fail to
 * start, saying so. */
MSB_API int msb_plugin_remove(const char *name, msb_error *err);

/* ---- spawning peers (docs/spawn.md) ------------------------------------- */

/* What a sandbox's programs may start beside it (msb start inside it,
 * current_runtime() in the SDKs): without a policy, nothing. With one,
 * at most @max_peers live peers for the sandbox's whole tree (a peer's
 * own peers count against its root), from the sandbox's own image and
 * those added, each within the CPU and memory ceilings, all of them
 * within the total. A peer's network is its parent's or narrower, it
 * gets no volume, its secrets are only values its parent holds (by
 * placeholder) for hosts no wider than its parent's, and a parent acts
 * only on the peers it started. Removing a sandbox removes its peers.
 * Kept in the record: started again, it may spawn again. */
typedef struct msb_spawn_policy msb_spawn_policy;

/* msb_spawn_policy_new() - @max_peers (1 to 64) live peers at most;
 * NULL when @max_peers is out of that range, or out of memory. */
MSB_API msb_spawn_policy *msb_spawn_policy_new(unsigned max_peers);
MSB_API void msb_spawn_policy_free(msb_spawn_policy *p);
/* msb_spawn_policy_add_image() - another image peers may use (the
 * sandbox's own always may; at most 32). Peers never pull: an image
 * not here yet is pulled by their start, so allow only what you trust. */
MSB_API int msb_spawn_policy_add_image(msb_spawn_policy *p,
				       const char *image, msb_error *err);
/* msb_spawn_policy_set_limits() - a peer's most CPUs and memory, and
 * the memory of all live peers of the tree together (0: the defaults,
 * the sandbox's own CPUs and memory per peer, @max_peers times that in
 * total). */
MSB_API void msb_spawn_policy_set_limits(msb_spawn_policy *p, unsigned cpus,
					 uint64_t memory_mib,
					 uint64_t total_memory_mib);
/* msb_sandbox_create_full() - msb_sandbox_create() with plugins (@pl,
 * may be NULL) and a spawn policy (@sp, may be NULL: none). */
MSB_API int msb_sandbox_create_full(const msb_sandbox_config *c,
				    const msb_plugins *pl,
				    const msb_spawn_policy *sp,
				    msb_sandbox **out, msb_error *err);
/* msb_sandbox_parent() - the sandbox that spawned @name into @buf (""
 * for one the host made). */
MSB_API int msb_sandbox_parent(const char *name, char *buf, size_t n,
			       msb_error *err);

/* ---- environment -------------------------------------------------------- */

/* The state directory: $MSB_HOME or ~/.microsandbox (with no home at all,
 * /tmp/.microsandbox-UID, which must be a 0700 directory of that uid's:
 * anything else there is refused when state is opened). */
/* Events (docs/events.md): every sandbox has an ordered, bounded log of
 * events: its guest's programs' (`msb event emit` inside), the host's
 * (msb_event_send(), which its programs get with `msb event wait`) and
 * the sandbox's own ("msb.started", "msb.exec.started", "msb.exec.exited",
 * "msb.stopped", "msb.failed", "msb.oom", "msb.net.denied",
 * "msb.secret.violation", "msb.events.dropped"). */
typedef struct msb_events msb_events;

typedef struct msb_event {
	uint64_t seq;         /* its number in the log, from 1 */
	double time;          /* when the supervisor took it, s since 1970 */
	const char *source;   /* "guest", "host" or "msb" */
	const char *topic;
	const char *data;     /* its data, JSON text ("null" if none) */
	const char *json;     /* the whole event as one JSON object */
	uint64_t dropped;     /* not 0: no event, but this many were missed
			       * here (the log moved past them; the other
			       * fields are empty) */
} msb_event;

/* msb_events_open() - read a sandbox's events on a connection of its
 * own. @topic: NULL or "" for all, a topic, or "prefix.*"; @since: the
 * seq to start at, 0 for the oldest kept, -1 for only those to come;
 * @follow: go on with each new one until the sandbox stops. */
MSB_API int msb_events_open(const char *name, const char *topic,
			    int64_t since, int follow, msb_events **out,
			    msb_error *err);
/* msb_events_fd() - a descriptor to poll for readability (then call
 * msb_events_next(e, &ev, 0) until it returns 0). */
MSB_API int msb_events_fd(const msb_events *e);
/* msb_events_next() - 1 with @ev filled (valid until the next call), 0 if
 * none came within @timeout_ms (-1 waits), MSB_E_STOPPED once there are
 * no more (the log read to its end without follow, or the sandbox
 * stopped), another negative code on error. */
MSB_API int msb_events_next(msb_events *e, msb_event *ev, int timeout_ms,
			    msb_error *err);
/* msb_events_next_seq() - the seq after the last event read: where a
 * later msb_events_open() goes on from. */
MSB_API uint64_t msb_events_next_seq(const msb_events *e);
MSB_API void msb_events_free(msb_events *e);
/* msb_event_send() - an event for the guest's programs: @topic (not
 * "msb." first), @data one JSON value of at most 32 KiB (NULL: null).
 * *@seq (if not NULL) is its number in the log. MSB_E_NOT_RUNNING if the
 * sandbox does not run. */
MSB_API int msb_event_send(const char *name, const char *topic,
			   const char *data, uint64_t *seq, msb_error *err);

MSB_API const char *msb_home(void);

#ifdef __cplusplus
}
#endif
#endif
