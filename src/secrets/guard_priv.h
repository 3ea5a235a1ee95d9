/* SPDX-License-Identifier: Apache-2.0 */
/* guard_priv.h - one flow's guard, shared by its two sides: the guest's
 * requests (guard.c) and the server's answers (guard_resp.c) */
#ifndef MSB_SECRETS_GUARD_PRIV_H
#define MSB_SECRETS_GUARD_PRIV_H

#include "guard.h"
#include "http1.h"
#include "scrub.h"
#include "util.h"
#include "ws.h"

/* What a request tells of the answer it will get (a byte each, in
 * order, until the answer's head came). */
#define P_HEAD HTTP1_REQ_HEAD       /* no body */
#define P_CONNECT HTTP1_REQ_CONNECT /* a 2xx opens a tunnel */
#define P_UPGRADE 4                 /* a 101 switches protocols */
#define P_HTTP10 8                  /* the guest reads HTTP/1.0 only */
#define P_BOUND 16                  /* a value could go with it */
#define PENDING_MAX 256

/* Where the answers are (guard_resp.c) */
enum resp_state {
	R_HEAD,    /* waiting for a head */
	R_HELD,    /* a body by length, held whole */
	R_LENGTH,  /* a body by length, streamed */
	R_CHUNKED, /* a chunked body, streamed */
	R_CLOSE,   /* a body until the server closes */
	R_RAW,     /* no longer HTTP: bytes, scrubbed */
	R_WS,      /* a WebSocket's frames, each scrubbed (guard_ws.c) */
	R_DONE,    /* closed: nothing more goes */
};

struct guard {
	const struct guard_env *env;
	struct msb_flow_info info;
	int tls;
	int done;   /* refused: everything after is dropped */
	int opaque; /* after CONNECT or Upgrade: no longer HTTP, passed as
		     * it is (never with a value in it) */
	/* a streamed body (http1_req.stream_len, stream_chunked): 1 by its
	 * length (@stream_left bytes still to pass), 2 chunked (@walked
	 * bytes at the front of the stream known to be the body's); whether
	 * a placeholder in it was told already */
	int streaming;
	size_t stream_left, walked;
	struct http1_chunks chunks;
	int stream_told;
	struct http1 h;

	/* the answers: the requests waiting for theirs (P_*), a ring; with
	 * a response hook, each one's Host and request line too
	 * ("host\0line", malloc'd; NULL if none) */
	uint8_t pending[PENDING_MAX];
	char *preq[PENDING_MAX];
	char *cur_req;          /* the answer being framed: its request's */
	int hold;               /* its body held for the hook (chunked,
				 * until close: until whole or too big) */
	struct http1_resp cur;  /* its head, as framed */
	unsigned cur_flags;     /* its request's P_* */
	size_t p_first, p_len;
	enum resp_state rst;
	struct msb_buf rin;     /* the server's bytes not yet framed */
	struct msb_buf plain;   /* a body's bytes not yet scrubbed */
	struct msb_buf rhead;   /* a held body's head */
	struct msb_buf trailer; /* a chunked body's trailer */
	struct http1_chunks rch;
	uint64_t rleft;         /* of a body by length, or of a WebSocket
				 * frame's payload (R_WS) */
	int rechunk;            /* a streamed body goes out chunked */
	int reclose;            /* the connection ends after the body */
	int raw_after;          /* bytes after this answer (the guest's
				 * side went opaque) */
	int eof;                /* the server closed */
	/* R_WS: the frame being read (its head, once @ws_in; @rleft the
	 * bytes of its payload still to come), how it goes on (guard_ws.c)
	 * and whether a piece of it went */
	int ws; /* the answers went over to a WebSocket's frames */
	struct ws_frame wsf;
	int ws_in, ws_how, ws_sent;
	struct scrub basic;     /* Basic credentials rewritten here */
};

/* guard_say() - one line in the sandbox's log */
void guard_say(const struct guard *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* guard_answer() - an answer of ours to the guest, closing the connection */
void guard_answer(struct msb_buf *reply, int code, const char *why);

/* guard_expect() - the request just sent will get an answer: what it
 * tells of it (P_*), and with a response hook its @host and request line
 * (@line, @ll bytes). Return: 0, -ENOBUFS when PENDING_MAX wait, -ENOMEM */
int guard_expect(struct guard *g, unsigned flags, const char *host,
		 const char *line, size_t ll);

/* guard_basic() - http1_rewrite.basic: answers get @orig back for @sent */
void guard_basic(void *ctx, const char *sent, size_t sl, const char *orig,
		 size_t ol);

/* guard_to_guest() - the filter's to_guest (guard_resp.c) */
int guard_to_guest(void *st, const uint8_t *p, size_t n,
		   struct msb_buf *host, struct msb_buf *guest);

/* bytes_at() - a buffer's bytes (NULL when it never held any) */
static inline const uint8_t *bytes_at(const struct msb_buf *b)
{
	return b->p ? msb_buf_data(b) : NULL;
}

/* guard_scrub() - @p[0..n) scrubbed of the vault's values and the flow's
 * Basic credentials into @out. Return: bytes taken (see scrub_run()), or
 * -ENOMEM */
long guard_scrub(const struct guard *g, const uint8_t *p, size_t n,
		 int final, struct msb_buf *out);

/* guard_take() - up to @g->rleft of the server's bytes (@g->rin) into
 * @into, @g->rleft counting them off. Return: 0, -ENOMEM */
int guard_take(struct guard *g, struct msb_buf *into);

/* guard_refuse() - an answer that cannot go to the guest (@why, logged):
 * our 502 instead if none of it went, and the connection ends. Return: @e */
int guard_refuse(struct guard *g, int e, const char *why,
		 struct msb_buf *guest);

/* guard_resp_ws() - R_WS: the server's frames at the front of @g->rin
 * (guard_ws.c). Return: 1 a step was made, 0 more is needed, or a
 * negative errno (refused) */
int guard_resp_ws(struct guard *g, struct msb_buf *guest);

/* guard_resp_free() - what the answers' side holds */
void guard_resp_free(struct guard *g);

#endif
