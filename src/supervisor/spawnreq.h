/* SPDX-License-Identifier: Apache-2.0 */
/* spawnreq.h - a guest's PEER request, checked (docs/spawn.md)
 *
 * The request is the guest's word: bytes from inside the sandbox. It is
 * parsed here, in the confined supervisor, into a fresh object holding
 * only the fields its verb takes, each of the right type and size; only
 * that object goes on to the spawn broker. Nothing here reads a clock, a
 * file or a socket, so a fuzzer drives it (fuzz/spawnreq.c).
 */
#ifndef MSB_SUP_SPAWNREQ_H
#define MSB_SUP_SPAWNREQ_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define SPAWN_ARGV_MAX 256
#define SPAWN_ENV_MAX 64
#define SPAWN_NET_MAX 16
#define SPAWN_SECRETS_MAX 16
#define SPAWN_STR_MAX 4096

/**
 * spawn_req_parse() - check a PEER payload
 * @p, @n: the payload (at most MSB_PEER_REQ_MAX bytes)
 * @out:   the request rebuilt from what was checked (free with
 *         json_object_put)
 * @why:   what is wrong, for the guest program (@wn bytes)
 *
 * The verbs and their fields: start (name; image, cpus 1-64, memory,
 * env, net_deny_all, net_allow, net_allow_cidr, secrets [{env,
 * placeholder, hosts}]), exec (name, argv; env, workdir, stdin, tty,
 * rows, cols 1-65535), stop, rm, logs (name), ps (json), cp_in and cp_out
 * (name, path; user, raw, contents), snapshot and restore (name,
 * snapshot), snapshot_ls (json), snapshot_rm (snapshot). An unknown field
 * is refused, not ignored: a guest that asks for more than the host gives
 * is told so.
 * Return: 0, or -1 with @why set.
 */
int spawn_req_parse(const uint8_t *p, size_t n, json_object **out, char *why,
		    size_t wn);

/* One record of a copy's archive (proto.h's MSB_PCP_*). */
struct spawn_pcp {
	int type;         /* MSB_PCP_DIR, _FILE, _LINK or _END */
	uint32_t mode;    /* permission bits (07777) */
	const char *name; /* in the bytes given, not NUL-terminated */
	size_t name_len;
	const char *link; /* a symlink's target, likewise */
	size_t link_len;
};

/**
 * spawn_pcp_rec() - the record at @p, as a guest program sent it into a
 * peer (msb cp): its type known, its name a base name for the first
 * (@root: at most 255 bytes, no '/' but "/" itself) and a name below it
 * for the others (msb_fname_ok()), END's empty, a symlink's target 1 to
 * MSB_PCP_NAME_MAX bytes, no NUL in either
 * Return: the record's length with @r filled, 0 if the @n bytes are too
 * few to tell, -1 if it is not a record msb cp writes.
 */
int spawn_pcp_rec(const uint8_t *p, size_t n, int root, struct spawn_pcp *r);

/**
 * spawn_host_covers() - whether a parent's host pattern @have covers a
 * peer's @want: the same name, or below "*.domain" (a name under domain,
 * or "*.sub.domain" under it). Names compare without case.
 * Return: 1 or 0.
 */
int spawn_host_covers(const char *have, const char *want);

#endif
