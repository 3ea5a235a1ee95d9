/* SPDX-License-Identifier: Apache-2.0 */
/* hooks.h - the sandbox's chain of plugins, as the supervisor calls it
 *
 * plugins.c holds the chain (docs/plugins.md): `--plugin` built-ins,
 * `--plugin-process` commands and SDK callback sockets, in the order the
 * sandbox was given them. Every hook site (lifecycle in main.c, exec in
 * agent.c, the network through the table net_set_hooks() takes, volumes
 * through a proxy backend in fs.c) asks it here.
 */
#ifndef MSB_SUPERVISOR_HOOKS_H
#define MSB_SUPERVISOR_HOOKS_H

#include <json-c/json.h>

#include "msb.h"
#include "wire.h"

struct sup;

/* sup_plugins_fork() - the config's "plugins" read and, when there are
 * plugin processes, their keeper forked: before any secret is read (the
 * keeper is a copy of the supervisor, as the VMM's launcher is). */
int sup_plugins_fork(struct sup *s, msb_error *err);
/* sup_plugins_setup() - built-ins opened, every process and socket
 * greeted, before the supervisor is confined. A plugin that cannot start
 * fails the start. */
int sup_plugins_setup(struct sup *s, msb_error *err);
/* sup_plugins_net() - the network's table (net_set_hooks()), or NULL
 * when no plugin wants a network hook. */
void sup_plugins_net(struct sup *s);
/* sup_plugins_keeper() - the keeper spoke (EV_PLUGINS). */
void sup_plugins_keeper(struct sup *s);
/* sup_plugins_free() - end them all (the stop event is sent first). */
void sup_plugins_free(struct sup *s);

/* sup_hook_wants() - some plugin wants hook @h. */
int sup_hook_wants(struct sup *s, enum hook_id h);
/* sup_hook_wants_fs() - some plugin wants filesystem operation @op. */
int sup_hook_wants_fs(struct sup *s, int op);

/**
 * sup_hook_event() - tell every plugin that wants @h (an event: nothing
 * is answered); @args is consumed.
 */
void sup_hook_event(struct sup *s, enum hook_id h, json_object *args);

/**
 * sup_hook_call() - ask the chain: each plugin that wants @h in turn,
 * each seeing @args as the previous ones left them (exec_before's argv
 * and env, http_request's body_b64 are updated in @args); a deny (or a
 * dns answer) ends the chain. A plugin that fails to answer in time or
 * answers nonsense denies (the safe default of every call hook).
 * @out:  the outcome: verdict, reason, dns addresses, http body
 *        (hook_reply_free() it)
 * @who:  the plugin that decided a deny or an answer
 * Return: out->verdict.
 */
int sup_hook_call(struct sup *s, enum hook_id h, json_object *args,
		  struct hook_reply *out, char *who, size_t wn);

struct msb_http_response;

/* sup_hook_http_response_head() - the http_response_head event for
 * answer @resp's head (body_streamed: its body's length, SIZE_MAX if not
 * known): told to every plugin that wants it, answered by none. */
void sup_hook_http_response_head(struct sup *s,
				 const struct msb_http_response *resp);

/* sup_hook_lifecycle() - the lifecycle event @event ("start", "stop",
 * "snapshot", "restore"), with @extra's keys (consumed; may be NULL). */
void sup_hook_lifecycle(struct sup *s, const char *event, json_object *extra);

#endif
