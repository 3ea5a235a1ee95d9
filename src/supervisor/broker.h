/* SPDX-License-Identifier: Apache-2.0 */
/* broker.h - the spawn broker: peers made on a sandbox's behalf
 *
 * A confined supervisor forks nothing and opens little
 * (src/supervisor/seccomp.c, confine.c), so a sandbox started with
 * --allow-spawn has a broker forked before confinement (as the plugin
 * keeper is, and before any secret is read). The supervisor checks each
 * PEER request of its guest (spawnreq.c), swaps the secrets' placeholders
 * for their values, and passes the request on; the broker runs it with
 * libmsb in a worker process of its own and sends back the frames the
 * guest program gets. Messages on a SOCK_SEQPACKET pair, whole each way:
 * a struct broker_hdr, then the payload.
 */
#ifndef MSB_SUP_BROKER_H
#define MSB_SUP_BROKER_H

#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

struct broker_hdr {
	uint32_t stream; /* the guest's PEER stream */
	uint32_t kind;   /* enum broker_kind, or an agent frame type */
};

enum broker_kind {
	/* supervisor -> broker */
	BK_REQ = 1,      /* the checked request, JSON (secrets' values in) */
	BK_CANCEL = 2,   /* its guest program went away */
	BK_WINDOW = 3,   /* u32 BE: its guest program took this much output
			  * (a worker sends STDOUT and STDERR within the
			  * credit: MSB_WINDOW_INIT, and what is given back) */
	/* broker -> supervisor, besides MSB_F_STDOUT, _STDERR, _EXIT and
	 * _RESULT for the guest */
	BK_SPAWNED = 200, /* a peer was made: JSON {name, image}, for the
			   * event msb.peer.spawned */
};

/* A worker's end of its credit pipe (u32 BE each). */
#define PEER_CREDIT_FD 5

/* The largest message either way: a header and a frame's payload. */
#define BROKER_MSG_MAX (8 + 64 * 1024)
/* Requests run at once; more are refused (EBUSY). */
#define BROKER_WORKERS 16

/**
 * broker_start() - fork the broker
 * @parent:     the sandbox's name
 * @config:     its record's configuration (spawn policy, network, image,
 *              TLS settings), read by the broker's copy of it
 * @pid, @ctl:  the broker's pid and the supervisor's end of the channel
 * Return: 0 or a negative errno.
 */
int broker_start(const char *parent, json_object *config, pid_t *pid,
		 int *ctl);

/**
 * peer_run() - one request, in a worker: its frames go to @ctl, the
 * credit for its output comes on descriptor PEER_CREDIT_FD
 * @parent, @config: as broker_start()'s
 * Return: nothing; the worker exits after it.
 */
void peer_run(const char *parent, json_object *config, json_object *req,
	      uint32_t stream, int ctl);

/* peer_worker_main() - `msb-supervisor --peer-worker STREAM`: one
 * request, as a worker: the job on descriptor 4, the channel on 3.
 * Return: the exit status. */
int peer_worker_main(const char *stream);

/* broker_send() - one message. Return: 0 or -errno. */
int broker_send(int ctl, uint32_t stream, uint32_t kind, const void *p,
		size_t n);

#endif
