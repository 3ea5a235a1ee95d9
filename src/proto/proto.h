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

#include "bytes.h"

#define MSB_PROTO_VERSION 1
/* The guest agent this tree builds (HELLO's AGENT). 0.2.0: an exec
 * request over one frame comes as EXEC_PART pieces; the host keeps a
 * full snapshot's agent version so a restore knows what it takes. */
#define MSB_AGENT_VERSION "0.2.0"
#define MSB_FRAME_HDR 12
#define MSB_FRAME_MAX (64 * 1024)
/* The longest EXEC request, in EXEC_PART frames and its EXEC: what Linux
 * takes for a program's arguments and environment (ARG_MAX, 2 MiB with
 * the usual 8 MiB stack) */
#define MSB_EXEC_MAX (2 * 1024 * 1024)
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
	MSB_F_FILE = 13,    /* new stream: TLV file operation (FOP, PATH...) */
	MSB_F_STATS = 14,   /* any stream: the guest's numbers, as METRICS */
	MSB_F_EVENT = 15,   /* stream 0: TLV TOPIC, DATA, SEQ, TIME: an event
			     * from the host for the guest's programs */
	MSB_F_SUBSCRIBE = 16, /* local socket only (guest program -> agent):
			       * TLV TOPIC; answered by the next EVENT on it */
	MSB_F_EXEC_PART = 17, /* new stream: the first pieces of an EXEC
			       * request longer than a frame, in order; its
			       * EXEC brings the last (MSB_EXEC_MAX in all) */
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
	MSB_F_RESULT = 73,  /* TLV: how a FILE stream ended; its last frame */
	MSB_F_METRICS = 74, /* same stream as the STATS: TLV G_* numbers */
	MSB_F_GEVENT = 75,  /* stream 0: TLV TOPIC, DATA: an event from a
			     * guest program (or the agent's own) */
	MSB_F_PEER = 76,    /* a new guest stream (MSB_PEER_STREAM set): a
			     * guest program's request about its peer
			     * sandboxes, one JSON object (docs/spawn.md);
			     * on the local socket, stream 0 */
	MSB_F_PEER_END = 77, /* that stream: its program went away (the
			      * host may cancel what it does for it) */
	/* The host answers a PEER on its stream with STDOUT and STDERR
	 * frames ended by RESULT (ERRNO, MESSAGE) or, for an exec, EXIT. */
};

/* Streams a guest opens (PEER) have this bit set; the host's never do. */
#define MSB_PEER_STREAM 0x80000000u
/* Longest PEER request. */
#define MSB_PEER_REQ_MAX (60 * 1024)
/* The input a guest program may send on a PEER stream (STDIN) before the
 * host gives it back (WINDOW): docs/agent-protocol.md §7c. */
#define MSB_PEER_STDIN_WINDOW (128 * 1024)
/* A copy to or from a peer (docs/spawn.md, "msb cp") streams an archive:
 * records of a type byte (MSB_PCP_*), u32 BE permission bits, u16 BE name
 * length and the name; a symlink adds u16 BE target length and its
 * target; a file is followed by chunks of u32 BE length (1 to
 * MSB_PCP_CHUNK) and bytes, a 0 length ending it. The first record is
 * the copied item, named by its base name; the others by their path below
 * it (msb_fname_ok()), a directory before its contents; MSB_PCP_END ends
 * the archive. */
enum {
	MSB_PCP_DIR = 'D',
	MSB_PCP_FILE = 'F',
	MSB_PCP_LINK = 'L',
	MSB_PCP_END = 'E',
};
#define MSB_PCP_CHUNK (64 * 1024)
#define MSB_PCP_NAME_MAX 4095
/* The longest record before a file's chunks: a symlink's. */
#define MSB_PCP_REC_MAX (7 + MSB_PCP_NAME_MAX + 2 + MSB_PCP_NAME_MAX)

/* msb_pcp_rec() - a record of @type (MSB_PCP_*) with permission bits
 * @mode, @name and, for MSB_PCP_LINK, its target @link, into @out
 * (MSB_PCP_REC_MAX bytes). The one writer of both sides (the supervisor
 * packs a peer's files, the agent its own).
 * Return: the record's length, or 0 if @name or @link is longer than
 * MSB_PCP_NAME_MAX. */
size_t msb_pcp_rec(uint8_t *out, int type, uint32_t mode, const char *name,
		   const char *link);

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
	MSB_T_FOP = 26,      /* u32 enum msb_fop: FILE's operation */
	MSB_T_PATH = 27,     /* string: FILE's path */
	MSB_T_PATH2 = 28,    /* string: RENAME's new path, SYMLINK's target */
	MSB_T_MODE = 29,     /* u32 permission bits (07777) */
	MSB_T_FLAGS = 30,    /* u32 MSB_FOP_F_* */
	MSB_T_ERRNO = 31,    /* u32: RESULT's errno, 0 = done */
	MSB_T_MESSAGE = 32,  /* string: RESULT's error text */
	MSB_T_SIZE = 33,     /* u64: RESULT's bytes read/written, entries */
	MSB_T_STAT = 34,     /* MSB_FSTAT_LEN bytes (msb_fstat_decode) */
	MSB_T_ENTRY = 35,    /* LIST output: MSB_FSTAT_LEN bytes, u16 name
			      * length, name, a symlink's target */
	MSB_T_LINK = 36,     /* string: a symlink's target, after STAT */
	/* METRICS, each a u64 */
	MSB_T_G_MEM_TOTAL = 37, /* bytes: /proc/meminfo MemTotal */
	MSB_T_G_MEM_AVAIL = 38, /* bytes: MemAvailable */
	MSB_T_G_CPU_NS = 39,    /* CPU time busy, all CPUs, since boot */
	MSB_T_G_UPTIME_NS = 40, /* CLOCK_BOOTTIME */
	MSB_T_G_PROCS = 41,     /* processes */
	MSB_T_G_DISK_TOTAL = 42, /* bytes of the root filesystem */
	MSB_T_G_DISK_FREE = 43, /* bytes free in it (for unprivileged users) */
	MSB_T_G_LOAD1 = 44,     /* 1-minute load average, times 1000 */
	/* EVENT, GEVENT, SUBSCRIBE */
	MSB_T_TOPIC = 45,    /* string: an event's topic (msb_topic_ok) */
	MSB_T_DATA = 46,     /* string: its data, one JSON value */
	MSB_T_SEQ = 47,      /* u64: its number in the host's event log */
};

/* FILE operations (docs/agent-protocol.md §7a). */
enum msb_fop {
	MSB_FOP_READ = 1,    /* STDOUT: the file's bytes */
	MSB_FOP_WRITE = 2,   /* STDIN: the file's bytes, empty = end */
	MSB_FOP_LIST = 3,    /* STDOUT: ENTRY (and LINK) records */
	MSB_FOP_STAT = 4,    /* RESULT: STAT (and LINK) */
	MSB_FOP_MKDIR = 5,
	MSB_FOP_REMOVE = 6,
	MSB_FOP_RENAME = 7,  /* PATH to PATH2 */
	MSB_FOP_SYMLINK = 8, /* PATH, a new symlink, pointing at PATH2 */
};

#define MSB_FOP_F_PARENTS 1    /* MKDIR -p; WRITE: make missing parents */
#define MSB_FOP_F_RECURSIVE 2  /* LIST the tree; REMOVE a directory tree */
#define MSB_FOP_F_EXCL 4       /* WRITE, MKDIR: fail if it exists */
#define MSB_FOP_F_APPEND 8     /* WRITE at the end, not truncated */
#define MSB_FOP_F_NOFOLLOW 16  /* STAT: a symlink itself */
#define MSB_FOP_F_ALL 31

/* Longest path or name a FILE carries (PATH_MAX less its NUL). */
#define MSB_FPATH_MAX 4095

/* A file's metadata, as STAT and ENTRY carry it: 40 bytes,
 *   u32 mode (st_mode: type and permission bits), u32 uid, u32 gid,
 *   u32 nlink, u64 size, i64 mtime seconds, u32 mtime nanoseconds,
 *   u32 reserved (0). */
#define MSB_FSTAT_LEN 40

struct msb_fstat {
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_nsec;
};

void msb_fstat_encode(uint8_t out[MSB_FSTAT_LEN], const struct msb_fstat *st);
/* msb_fstat_decode() - Return: 0, -1 if @n is not MSB_FSTAT_LEN or the
 * nanoseconds are not below 10^9. */
int msb_fstat_decode(const uint8_t *p, size_t n, struct msb_fstat *st);

/**
 * struct msb_fresult - a RESULT payload, parsed; pointers into it
 * @err:      errno (0: the operation was done)
 * @msg:      its message (@msg_len bytes, not terminated), or NULL
 * @size:     SIZE, when @has_size
 * @st:       STAT, when @has_stat
 * @link:     LINK (@link_len bytes), or NULL
 */
struct msb_fresult {
	uint32_t err;
	const uint8_t *msg;
	uint32_t msg_len;
	uint64_t size;
	int has_size;
	struct msb_fstat st;
	int has_stat;
	const uint8_t *link;
	uint32_t link_len;
};

/* msb_fresult_parse() - Return: 0, -1 if the payload is not a valid
 * RESULT (truncated record, no ERRNO, an errno over 4095, a wrongly sized
 * SIZE or STAT, a message over 4096 bytes, a LINK that is not a path). */
int msb_fresult_parse(const uint8_t *p, size_t n, struct msb_fresult *r);

/* msb_fname_ok() - a LIST entry's name: 1..MSB_FPATH_MAX bytes, relative,
 * no NUL, no empty, "." or ".." component (so joined under a directory it
 * stays below it). Return: 1 or 0. */
int msb_fname_ok(const uint8_t *name, size_t n);

/* msb_path_base() - the last component of @p into @out, trailing slashes
 * ignored ("a/b/" gives "b"): a copied item's name in the archive. */
void msb_path_base(const char *p, char *out, size_t n);

/* msb_path_join() - @dir "/" @name into @out, @dir's trailing slashes
 * folded into one. Return: 0, or -1 when it does not fit in @n. */
int msb_path_join(char *out, size_t n, const char *dir, const char *name);

/* Longest ENTRY value: stat, name length, name, target. */
#define MSB_FENTRY_MAX (MSB_FSTAT_LEN + 2 + 2 * MSB_FPATH_MAX)

/* msb_fentry_parse() - an ENTRY value: its stat, its name (checked with
 * msb_fname_ok) and a symlink's target (@link_len 0 for other files; at
 * most MSB_FPATH_MAX bytes, no NUL). Return: 0 or -1. */
int msb_fentry_parse(const uint8_t *v, size_t n, struct msb_fstat *st,
		     const uint8_t **name, size_t *name_len,
		     const uint8_t **link, size_t *link_len);

/* msb_tlv_peek() - is a whole record at the start of @p (@n bytes)?
 * Return: 1 and *@rec its length (header included), 0 if more bytes are
 * needed, -1 if its header claims a value over @max_val bytes. */
int msb_tlv_peek(const uint8_t *p, size_t n, size_t max_val, size_t *rec);

#define MSB_VOLUME_RO 1

/* Events (docs/events.md): a topic is 1..MSB_TOPIC_MAX bytes of
 * [A-Za-z0-9._:/-]; data is one JSON value of at most MSB_EVDATA_MAX bytes
 * (checked as JSON by the host, which trusts no guest). */
#define MSB_TOPIC_MAX 128
#define MSB_EVDATA_MAX (32 * 1024)

/* msb_topic_ok() - Return: 1 if @t (@n bytes) is a valid topic, else 0. */
int msb_topic_ok(const uint8_t *t, size_t n);

/**
 * struct msb_event_rec - an EVENT, GEVENT or SUBSCRIBE payload, parsed;
 * pointers into it
 * @topic: the topic (@topic_len bytes, valid per msb_topic_ok)
 * @data:  the data (@data_len bytes, at most MSB_EVDATA_MAX, no NUL), or
 *         NULL when absent
 * @seq:   SEQ, when @has_seq
 * @time_ns: TIME, when @has_time
 */
struct msb_event_rec {
	const uint8_t *topic;
	uint32_t topic_len;
	const uint8_t *data;
	uint32_t data_len;
	uint64_t seq, time_ns;
	int has_seq, has_time;
};

/* msb_event_parse() - Return: 0, -1 if the payload is not a valid event
 * (truncated record, no TOPIC or a bad one, a DATA too long or with a
 * NUL, a SEQ or TIME not 8 bytes). Unknown tags are skipped. */
int msb_event_parse(const uint8_t *p, size_t n, struct msb_event_rec *ev);

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
