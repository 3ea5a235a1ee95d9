/* SPDX-License-Identifier: Apache-2.0 */
/* project.h - a Sandboxfile, read and resolved (docs/projects.md)
 *
 * sandboxfile.c reads the YAML (libyaml's document loader, so every node
 * keeps its line and column) into a struct msb_project: every sandbox's
 * msb_sandbox_config, its mounts, scripts, dependencies and health check,
 * the project's named volumes, and a start order. Paths are resolved
 * against the Sandboxfile's directory; values are checked with the same
 * functions msb run's flags go through, and every error names the file,
 * the line, the column and the key. project.c brings a project up and
 * down.
 */
#ifndef MSB_LIB_PROJECT_H
#define MSB_LIB_PROJECT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "msb.h"

#define PROJ_SANDBOXES_MAX 64
#define PROJ_VOLUMES_MAX 64
#define PROJ_FILE_MAX (1u << 20)
#define PROJ_LIST_MAX 1024   /* entries of any one list or mapping */
#define PROJ_MOUNTS_MAX 8     /* as a sandbox takes (volumes.h) */
#define PROJ_SECRETS_MAX 64
#define PROJ_TLS_BYPASS_MAX 64
#define PROJ_TLS_CA_MAX 8

enum proj_restart {
	PROJ_RESTART_NO,
	PROJ_RESTART_ON_FAILURE,
	PROJ_RESTART_ALWAYS,
	PROJ_RESTART_UNLESS_STOPPED,
};

/* where a node starts in the file, 1-based */
struct proj_pos {
	unsigned line, col;
};

/* A named volume of the project (top-level volumes:). */
struct proj_volume {
	char *key;          /* as the file names it: "data" */
	char name[64];      /* the volume's own: "my-project-data", or the
			     * key itself when external */
	uint64_t size_mib;  /* 0: no limit */
	int external;       /* made outside the project: never created or
			     * removed by it */
	struct proj_pos pos;
};

/* One mount of a sandbox: msb_volume, or a named volume. */
struct proj_mount {
	msb_volume v;       /* named: kind MSB_VOLUME_NAMED, source NULL
			     * until up names it */
	long named;         /* index into the project's volumes, or -1 */
};

struct proj_script {
	char *name;
	char **argv;        /* NULL-terminated */
};

struct proj_dep {
	size_t sb;          /* index of the sandbox depended on */
	int healthy;        /* wait for its health check to pass */
	struct proj_pos pos;
};

struct proj_health {
	char **test;        /* NULL-terminated argv */
	uint64_t interval_ms, timeout_ms, start_period_ms;
	unsigned retries;
};

struct proj_sandbox {
	char *key;          /* "api" */
	char name[64];      /* "my-project-api" */
	struct proj_pos pos;
	char *from_snapshot;
	msb_sandbox_config cfg;   /* name, image, resources, env, net,
				   * secrets, tls; volumes are set by up */
	struct proj_mount mounts[PROJ_MOUNTS_MAX];
	size_t nmounts;
	char **cmd;         /* run detached after boot (scripts.start or
			     * command), NULL: the image's own */
	struct proj_script *scripts;
	size_t nscripts;
	struct proj_dep *deps;
	size_t ndeps;
	struct proj_health *health;
	enum proj_restart restart;
	int sync;           /* pushed to the remote whenever a stop, down
			     * or restart stops it (msb_sandbox_set_sync) */
	char **ca_files;    /* tls.upstream_ca as written (resolved) */
	char hash[65];      /* sha256 of its resolved definition */
};

struct msb_project {
	char *file;         /* absolute path of the Sandboxfile */
	char *dir;          /* its directory */
	char *name;
	struct proj_volume *vols;
	size_t nvols;
	struct proj_sandbox *sbs;
	size_t nsbs;
	size_t *order;      /* start order: dependencies first */
	/* every allocation of the project, freed with it */
	void **mem;
	size_t nmem, capmem;
};

/* msb_sandbox_create_extra() / msb_snapshot_restore_extra() - as the
 * public calls, with @extra's keys added to the sandbox's record (keys
 * the record already has are left alone on create): a project's labels
 * ("project") and restart policy ("restart"). */
int msb_sandbox_create_extra(const msb_sandbox_config *c, json_object *extra,
			     msb_sandbox **out, msb_error *err);
/* msb_plugins_record() - @p's keys for the record ("plugins",
 * "plugin_timeout_ms", "plugin_restarts") into @x; nothing for NULL. */
void msb_plugins_record(const msb_plugins *p, json_object *x);
/* msb_spawn_policy_record() - @p as the record's "spawn" into @x, its
 * defaults from @c (nothing for NULL). */
void msb_spawn_policy_record(const msb_spawn_policy *p,
			     const msb_sandbox_config *c, json_object *x);
/* msb_peers_remove() - remove (forced) every sandbox @parent spawned,
 * and theirs: the parent is gone. */
void msb_peers_remove(const char *parent);
/* msb_peers_stop() - stop every live sandbox @parent spawned (and theirs,
 * in turn), each given @timeout_s (docs/spawn.md: a parent's stop is its
 * peers' too). */
void msb_peers_stop(const char *parent, unsigned timeout_s);
int msb_snapshot_restore_extra(const char *snapshot, const msb_restore_opts *o,
			       json_object *extra, msb_sandbox **out,
			       msb_error *err);

/* proj_find() - the sandbox of @key, or NULL. */
struct proj_sandbox *proj_find(const struct msb_project *p, const char *key);

/* proj_sandbox_json() - @s resolved, as 'msb project config' shows it. */
json_object *proj_sandbox_json(const struct msb_project *p,
			       const struct proj_sandbox *s);

#endif
