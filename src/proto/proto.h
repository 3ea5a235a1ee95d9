/* SPDX-License-Identifier: Apache-2.0 */
/* proto.h - host <-> guest agent wire protocol (docs/agent-protocol.md)
 *
 * Shared verbatim by the host (supervisor) and the guest (msb-agent, built
 * with musl). Nothing here allocates or depends on libc beyond memcpy, so the
 * parsers can be fuzzed directly.
 *
 * A frame is a 12-byte header followed by its payload:
 *
 *   0  u32 BE  payload length (<= MSB_FRAME_MAX)
 *   4  u32 BE  stream id (0 = control)
 *   8  u8      type (enum msb_frame_type)
 *   9  u8      flags (must be 0 in version 1)
 *  10  u16 BE  reserved (must be 0)
 *
 * Structured payloads are TLV records: u8 tag, u32 BE length, value.
 */
#ifndef MSB_PROTO_H
#define MSB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MSB_PROTO_VERSION 1
#define MSB_FRAME_HDR 12
#define MSB_FRAME_MAX (64 * 1024)
/* Initial per-stream credit, in payload bytes, for output and for stdin. */
#define MSB_WINDOW_INIT (256 * 1024)

enum msb_frame_type {
	/* host -> guest */
	MSB_F_INIT = 1,     /* stream 0: TLV init config */
	MSB_F_EXEC = 2,     /* new stream: TLV exec request */
	MSB_F_STDIN = 3,    /* raw bytes; empty payload = EOF */
	MSB_F_SIGNAL = 4,   /* u32 signal number */
	MSB_F_RESIZE = 5,   /* u16 rows, u16 cols */
	MSB_F_SHUTDOWN = 6, /* stream 0: u32 grace period in ms */
	MSB_F_QUIESCE = 10, /* stream 0: stop sending until THAW or RESTORED
			     * (a snapshot is about to be taken) */
	MSB_F_THAW = 11,    /* stream 0: the snapshot is taken; go on */
	MSB_F_RESTORED = 12, /* stream 0: TLV; this VM is a restored copy:
			      * HOSTNAME, TIME, ENTROPY, ENV; answered READY */
	/* both directions */
	MSB_F_WINDOW = 7,   /* u32 credit: host grants output, guest grants stdin */
	MSB_F_PING = 8,     /* echoed back as PONG with the same payload */
	MSB_F_PONG = 9,
	/* guest -> host */
	MSB_F_HELLO = 64,   /* stream 0: TLV version, agent version */
	MSB_F_READY = 65,   /* stream 0: TLV timings; reply to INIT */
	MSB_F_STARTED = 66, /* u32 pid */
	MSB_F_STDOUT = 67,  /* raw bytes */
	MSB_F_STDERR = 68,  /* raw bytes */
	MSB_F_EXIT = 69,    /* i32 exit code, u32 signal; stream ends */
	MSB_F_ERROR = 70,   /* UTF-8 message; on stream 0 a fatal agent error */
	MSB_F_LOG = 71,     /* stream 0: UTF-8 log line from the agent */
	MSB_F_QUIESCED = 72, /* stream 0: reply to QUIESCE; the last frame
			      * before THAW or RESTORED */
};

/* TLV tags. Which tags a payload may carry is given per frame type in the
 * protocol document; unknown tags are skipped so either side can extend. */
enum msb_tag {
	MSB_T_VERSION = 1,   /* u32 */
	MSB_T_AGENT = 2,     /* string: agent version */
	MSB_T_ARG = 3,       /* string, repeated: argv in order */
	MSB_T_ENV = 4,       /* string "K=V", repeated */
	MSB_T_CWD = 5,       /* string */
	MSB_T_USER = 6,      /* string: name or uid[:gid] */
	MSB_T_TTY = 7,       /* u16 rows, u16 cols: allocate a pty */
	MSB_T_STDIN = 8,     /* u32 1 = the host will stream stdin */
	MSB_T_HOSTNAME = 9,  /* string */
	MSB_T_UPPER = 10,    /* string: block device serial of the rw upper */
	MSB_T_LAYER = 11,    /* string, repeated: ro layer serials, top first */
	MSB_T_TIME = 12,     /* u64 host wall clock, ns since the epoch */
	MSB_T_TIMING = 13,   /* string "name=microseconds" */
	MSB_T_DETACH = 14,   /* u32 1 = not tied to a client (run -d CMD) */
	MSB_T_NET_IP4 = 15,  /* 4-byte address, u8 prefix length: eth0 */
	MSB_T_NET_GW4 = 16,  /* 4-byte address: the default route */
	MSB_T_NET_DNS4 = 17, /* 4-byte address: /etc/resolv.conf */
	MSB_T_NET_MTU = 18,  /* u32: eth0's MTU */
	MSB_T_VOLUME = 19,   /* u8 flags (1 = read-only), virtio-fs tag, NUL,
			      * guest path; repeated, mounted in order */
	MSB_T_NET_IP6 = 20,  /* 16-byte address, u8 prefix length: eth0 */
	MSB_T_NET_GW6 = 21,  /* 16-byte address: the IPv6 default route */
	MSB_T_NET_DNS6 = 22, /* 16-byte address: /etc/resolv.conf */
	MSB_T_CA_PEM = 23,   /* string: the interception CA's certificate
			      * (PEM), for the trust store */
	MSB_T_ENTROPY = 24,  /* bytes: host randomness to mix in and credit
			      * (RESTORED) */
	MSB_T_SNAPSHOT = 25, /* string: the snapshot restored (RESTORED) */
};

#define MSB_VOLUME_RO 1

struct msb_frame_hdr {
	uint32_t len;
	uint32_t stream;
	uint8_t type;
	uint8_t flags;
	uint16_t reserved;
};

/* msb_frame_encode_hdr() - write a 12-byte header into @out. */
void msb_frame_encode_hdr(uint8_t out[MSB_FRAME_HDR], uint32_t len,
			  uint32_t stream, uint8_t type);

/* msb_frame_decode_hdr() - parse and validate a header.
 * Return: 0, or -1 if the length exceeds MSB_FRAME_MAX or flags/reserved are
 * not zero (a peer speaking something else: the link must be dropped). */
int msb_frame_decode_hdr(const uint8_t in[MSB_FRAME_HDR],
			 struct msb_frame_hdr *h);

/* A growable-free TLV writer over a caller's buffer. */
struct msb_tlv_w {
	uint8_t *buf;
	size_t cap, len;
	int overflow;
};

void msb_tlv_w_init(struct msb_tlv_w *w, uint8_t *buf, size_t cap);
void msb_tlv_put(struct msb_tlv_w *w, uint8_t tag, const void *v, size_t n);
void msb_tlv_put_str(struct msb_tlv_w *w, uint8_t tag, const char *s);
void msb_tlv_put_u32(struct msb_tlv_w *w, uint8_t tag, uint32_t v);
void msb_tlv_put_u64(struct msb_tlv_w *w, uint8_t tag, uint64_t v);

/* A TLV reader. msb_tlv_next() returns 1 with @tag/@val/@n set, 0 at the end,
 * -1 on a truncated record. Values point into the payload, unterminated. */
struct msb_tlv_r {
	const uint8_t *p, *end;
};

void msb_tlv_r_init(struct msb_tlv_r *r, const void *buf, size_t n);
int msb_tlv_next(struct msb_tlv_r *r, uint8_t *tag, const uint8_t **val,
		 uint32_t *n);

static inline uint32_t msb_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t msb_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint64_t msb_get_be64(const uint8_t *p)
{
	return (uint64_t)msb_get_be32(p) << 32 | msb_get_be32(p + 4);
}

static inline void msb_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline void msb_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static inline void msb_put_be64(uint8_t *p, uint64_t v)
{
	msb_put_be32(p, v >> 32);
	msb_put_be32(p + 4, (uint32_t)v);
}

/* Frame reassembly from a byte stream: feed what read() returned, take whole
 * frames out. Bounded: holds at most one frame plus a header. */
struct msb_framer {
	uint8_t buf[MSB_FRAME_HDR + MSB_FRAME_MAX];
	size_t have;
	int bad;
};

/* msb_framer_feed() - append up to @n bytes from @data.
 * Return: how many bytes were consumed (less than @n when a whole frame is
 * waiting to be taken with msb_framer_take()). */
size_t msb_framer_feed(struct msb_framer *f, const uint8_t *data, size_t n);

/* msb_framer_take() - 1 and a frame if one is complete, 0 if more bytes are
 * needed, -1 if the stream is corrupt (sticky). @payload points into @f and
 * stays valid until the next feed. */
int msb_framer_take(struct msb_framer *f, struct msb_frame_hdr *h,
		    const uint8_t **payload);

#endif
