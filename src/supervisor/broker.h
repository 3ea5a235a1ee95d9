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
	BK_STDIN = 4,    /* the request's input (an exec's stdin, a copy's
			  * archive), at most MSB_PEER_STDIN_WINDOW bytes
			  * not yet given back by the worker's WINDOW;
			  * empty: its end */
	BK_RESIZE = 5,   /* u16 rows, u16 cols BE: an exec's terminal */
	BK_STOP_PEERS = 6, /* stream 0: the sandbox is down; a process of
			    * the broker's, outliving it, stops its peers
			    * (answered by BK_STOPPING once it is forked) */
	/* broker -> supervisor, besides MSB_F_STDOUT, _STDERR, _EXIT and
	 * _RESULT for the guest */
	BK_SPAWNED = 200, /* a peer was made: JSON {name, image}, for the
			   * event msb.peer.spawned */
	BK_STOPPING = 201, /* stream 0: BK_STOP_PEERS is under way */
};

/* A worker's end of its pipe from the broker: messages of a u32 BE
 * word, its top byte the kind and the rest a number: PIN_CREDIT (output
 * credit of that many bytes), PIN_STDIN (that many bytes of input follow;
 * 0: the input's end), PIN_RESIZE (4 bytes follow: u16 rows, u16 cols). A
 * worker grants its input back with MSB_F_WINDOW frames as it uses it. */
#define PEER_IN_FD 5
enum { PIN_CREDIT = 0, PIN_STDIN = 1, PIN_RESIZE = 2 };
/* The pipe's size: a window of input in the smallest frames fits. */
#define PEER_IN_PIPE (1 << 20)

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
 * credit for its output and its input come on descriptor PEER_IN_FD
 * @parent, @config: as broker_start()'s
 * Return: nothing; the worker exits after it.
 */
void peer_run(const char *parent, json_object *config, json_object *req,
	      uint32_t stream, int ctl);

/* peer_worker_main() - `msb-supervisor --peer-worker STREAM`: one
 * request, as a worker: the job on descriptor 4, the channel on 3.
 * Return: the exit status. */
int peer_worker_main(const char *stream);

/* peer_stopper_main() - `msb-supervisor --stop-peers NAME`: every live
 * peer of NAME stopped, and theirs (docs/spawn.md). Return: 0. */
int peer_stopper_main(const char *parent);

/* broker_send() - one message. Return: 0 or -errno. */
int broker_send(int ctl, uint32_t stream, uint32_t kind, const void *p,
		size_t n);

#endif
