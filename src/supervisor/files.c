/* SPDX-License-Identifier: Apache-2.0 */
/* files.c - the fs_* methods: files in the guest, over FILE streams
 *
 * Each request becomes one FILE stream to the agent (docs/agent-protocol.md
 * §7a), relayed like an exec: READ's bytes come back as "data" events
 * within the output credit, which is given back only as the client takes
 * what was sent; WRITE's bytes go out from "stdin" notifications within
 * the guest's stdin window; LIST's records become "entry" events. Every
 * byte from the guest is checked: records are reassembled in a bounded
 * buffer (at most one record, MSB_FENTRY_MAX), names must stay below the
 * listed directory (msb_fname_ok), and a RESULT that does not parse is a
 * protocol error reported to the client. docs/api-protocol.md §5.6.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonx.h"
#include "supervisor.h"
#include "util.h"

static const struct {
	const char *meth;
	uint32_t fop;
} methods[] = {
	{ "fs_read", MSB_FOP_READ },	 { "fs_write", MSB_FOP_WRITE },
	{ "fs_list", MSB_FOP_LIST },	 { "fs_stat", MSB_FOP_STAT },
	{ "fs_mkdir", MSB_FOP_MKDIR },	 { "fs_remove", MSB_FOP_REMOVE },
	{ "fs_rename", MSB_FOP_RENAME }, { "fs_symlink", MSB_FOP_SYMLINK },
};

uint32_t sup_file_op(const char *meth)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].meth, meth))
			return methods[i].fop;
	return 0;
}

/* Which parameters each operation takes, as MSB_FOP_F_* flags and the
 * booleans that set them. */
static const struct {
	const char *key;
	uint32_t flag;
	uint32_t ops; /* bit (1 << fop) */
} bools[] = {
	{ "parents", MSB_FOP_F_PARENTS,
	  1u << MSB_FOP_WRITE | 1u << MSB_FOP_MKDIR },
	{ "recursive", MSB_FOP_F_RECURSIVE,
	  1u << MSB_FOP_LIST | 1u << MSB_FOP_REMOVE },
	{ "exclusive", MSB_FOP_F_EXCL,
	  1u << MSB_FOP_WRITE | 1u << MSB_FOP_MKDIR | 1u << MSB_FOP_RENAME },
	{ "append", MSB_FOP_F_APPEND, 1u << MSB_FOP_WRITE },
	{ "nofollow", MSB_FOP_F_NOFOLLOW, 1u << MSB_FOP_STAT },
};

/* get_path() - a path parameter: a string of 1..MSB_FPATH_MAX bytes
 * without NUL. Return: it, NULL (absent), or "" (bad). */
static const char *get_path(json_object *p, const char *key)
{
	json_object *v;
	const char *s;
	size_t n;

	if (!json_object_object_get_ex(p, key, &v) || !v)
		return NULL;
	if (!json_object_is_type(v, json_type_string))
		return "";
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	return n && n <= MSB_FPATH_MAX && strlen(s) == n ? s : "";
}

void sup_file_request(struct sup *s, struct conn *c, int64_t id,
		      uint32_t fop, json_object *p)
{
	static uint8_t buf[MSB_FRAME_MAX];
	const char *path, *path2 = NULL, *user, *cwd;
	struct msb_tlv_w w;
	struct stream *st;
	uint32_t flags = 0;
	json_object *v;
	char why[160];

	path = get_path(p, "path");
	if (!path || !*path) {
		api_reply_error(s, c, id, "invalid_params",
				"path must be a non-empty string of at most "
				"4095 bytes without NUL");
		return;
	}
	if (fop == MSB_FOP_RENAME || fop == MSB_FOP_SYMLINK) {
		const char *key = fop == MSB_FOP_RENAME ? "to" : "target";

		path2 = get_path(p, key);
		if (!path2 || !*path2) {
			snprintf(why, sizeof(why),
				 "%s must be a non-empty string of at most "
				 "4095 bytes without NUL",
				 key);
			api_reply_error(s, c, id, "invalid_params", why);
			return;
		}
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		if (!json_object_object_get_ex(p, bools[i].key, &v) || !v)
			continue;
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, sizeof(why), "%s must be true or false",
				 bools[i].key);
			api_reply_error(s, c, id, "invalid_params", why);
			return;
		}
		if (json_object_get_boolean(v) && (bools[i].ops & 1u << fop))
			flags |= bools[i].flag;
	}
	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_u32(&w, MSB_T_FOP, fop);
	msb_tlv_put_str(&w, MSB_T_PATH, path);
	if (path2)
		msb_tlv_put_str(&w, MSB_T_PATH2, path2);
	if (json_object_object_get_ex(p, "mode", &v) && v &&
	    (fop == MSB_FOP_WRITE || fop == MSB_FOP_MKDIR)) {
		int64_t m = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || m < 0 ||
		    m > 07777) {
			api_reply_error(s, c, id, "invalid_params",
					"mode must be an integer from 0 to "
					"4095 (07777)");
			return;
		}
		msb_tlv_put_u32(&w, MSB_T_MODE, (uint32_t)m);
	}
	/* As for exec: the request's user, else the sandbox's; relative
	 * paths from the sandbox's working directory. */
	user = msb_jstr(p, "user", NULL);
	if (!user || !*user)
		user = msb_jstr(s->config, "user", NULL);
	if (user && *user)
		msb_tlv_put_str(&w, MSB_T_USER, user);
	cwd = msb_jstr(s->config, "workdir", NULL);
	if (cwd && *cwd)
		msb_tlv_put_str(&w, MSB_T_CWD, cwd);
	msb_tlv_put_u32(&w, MSB_T_FLAGS, flags);
	if (w.overflow) {
		api_reply_error(s, c, id, "invalid_params",
				"the request does not fit one guest frame");
		return;
	}
	st = stream_new(s);
	if (!st) {
		snprintf(why, sizeof(why),
			 "too many concurrent requests (limit %d)",
			 MAX_STREAMS);
		api_reply_error(s, c, id, "invalid_params", why);
		return;
	}
	st->fop = fop;
	st->conn = c;
	st->req_id = id;
	if (fop != MSB_FOP_WRITE)
		st->stdin_eof = 2; /* no input */
	agent_send(s, st->id, MSB_F_FILE, buf, w.len);
}

/* ---- what comes back ------------------------------------------------------ */

static void send_msg(struct sup *s, struct stream *st, json_object *m)
{
	json_object *full = json_object_new_object();

	json_object_object_add(full, "id", json_object_new_int64(st->req_id));
	json_object_object_foreach(m, k, val)
		json_object_object_add(full, k, json_object_get(val));
	json_object_put(m);
	api_send(s, st->conn, full);
}

/* fail() - the client's error reply, once; the stream stays until the
 * guest ends it, its output dropped. */
static void fail(struct sup *s, struct stream *st, int e, const uint8_t *msg,
		 size_t n)
{
	json_object *m, *err;
	const char *name = msb_errno_name(e);

	if (st->answered || !st->conn)
		return;
	st->answered = 1;
	m = json_object_new_object();
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string("fs_failed"));
	json_object_object_add(err, "errno",
			       json_object_new_string(name ? name : "EIO"));
	json_object_object_add(err, "message",
			       json_object_new_string_len((const char *)msg,
							  (int)n));
	json_object_object_add(m, "error", err);
	send_msg(s, st, m);
}

/* broken() - the guest broke the stream's format: say so, stop the file
 * process (its RESULT still ends the stream). */
static void broken(struct sup *s, struct stream *st, const char *what)
{
	char msg[200];

	snprintf(msg, sizeof(msg), "the guest sent %s; the operation was "
		 "stopped", what);
	fail(s, st, EPROTO, (const uint8_t *)msg, strlen(msg));
	msb_buf_free(&st->recs);
	agent_send_u32(s, st->id, MSB_F_SIGNAL, SIGKILL);
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	default:
		return "other";
	}
}

static void put_stat(json_object *o, const struct msb_fstat *f,
		     const uint8_t *link, size_t ln)
{
	json_object_object_add(o, "type",
			       json_object_new_string(type_name(f->mode)));
	json_object_object_add(o, "mode", json_object_new_int(
						  (int)(f->mode & 07777)));
	json_object_object_add(o, "size",
			       json_object_new_int64((int64_t)f->size));
	json_object_object_add(o, "uid", json_object_new_int64(f->uid));
	json_object_object_add(o, "gid", json_object_new_int64(f->gid));
	json_object_object_add(o, "nlink", json_object_new_int64(f->nlink));
	json_object_object_add(o, "mtime", json_object_new_int64(f->mtime));
	json_object_object_add(o, "mtime_ns",
			       json_object_new_int64(f->mtime_nsec));
	if (ln)
		json_object_object_add(
			o, "link",
			json_object_new_string_len((const char *)link, (int)ln));
}

/* list_records() - whole ENTRY records from @st->recs become events */
static void list_records(struct sup *s, struct stream *st)
{
	size_t off = 0, rec;
	int r;

	while ((r = msb_tlv_peek(msb_buf_data(&st->recs) + off,
				 st->recs.len - off, MSB_FENTRY_MAX, &rec)) ==
	       1) {
		const uint8_t *v = msb_buf_data(&st->recs) + off;
		const uint8_t *name, *link;
		size_t nl, ll;
		struct msb_fstat f;
		json_object *m;

		if (v[0] != MSB_T_ENTRY ||
		    msb_fentry_parse(v + 5, rec - 5, &f, &name, &nl, &link,
				     &ll) < 0) {
			broken(s, st, "a malformed directory entry");
			return;
		}
		m = json_object_new_object();
		json_object_object_add(m, "event",
				       json_object_new_string("entry"));
		json_object_object_add(
			m, "name",
			json_object_new_string_len((const char *)name, (int)nl));
		put_stat(m, &f, link, ll);
		send_msg(s, st, m);
		off += rec;
	}
	if (r < 0) {
		broken(s, st, "an oversized directory entry");
		return;
	}
	msb_buf_consume(&st->recs, off);
}

static void on_data(struct sup *s, struct stream *st, const uint8_t *p,
		    uint32_t n)
{
	if (st->answered || !st->conn) {
		if (n)
			agent_send_u32(s, st->id, MSB_F_WINDOW, n);
		return;
	}
	if (st->fop == MSB_FOP_READ) {
		json_object *m = json_object_new_object();
		char *b64 = malloc(msb_b64_encoded_len(n) + 1);
		size_t l;

		if (!b64) {
			json_object_put(m);
			broken(s, st, "more than memory holds");
			return;
		}
		l = msb_b64_encode(p, n, b64);
		json_object_object_add(m, "event",
				       json_object_new_string("data"));
		json_object_object_add(m, "data",
				       json_object_new_string_len(b64, (int)l));
		free(b64);
		send_msg(s, st, m);
	} else if (st->fop == MSB_FOP_LIST) {
		if (msb_buf_append(&st->recs, p, n) < 0) {
			broken(s, st, "more than memory holds");
			return;
		}
		list_records(s, st);
	} else {
		broken(s, st, "output for an operation that has none");
		return;
	}
	st->owed += n;
	api_grant_credit(s, st->conn);
}

static void on_result(struct sup *s, struct stream *st, const uint8_t *p,
		      uint32_t n)
{
	struct msb_fresult r;
	json_object *m, *res;

	if (msb_fresult_parse(p, n, &r) < 0) {
		broken(s, st, "a malformed result");
		return;
	}
	if (st->recs.len)
		broken(s, st, "a truncated directory entry");
	if (r.err) {
		static const char none[] = "the file operation failed";

		fail(s, st, (int)r.err, r.msg ? r.msg : (const uint8_t *)none,
		     r.msg ? r.msg_len : sizeof(none) - 1);
		return;
	}
	if (st->answered || !st->conn)
		return;
	st->answered = 1;
	res = json_object_new_object();
	if (st->fop == MSB_FOP_STAT) {
		if (!r.has_stat) {
			json_object_put(res);
			st->answered = 0;
			broken(s, st, "a result without the file's status");
			return;
		}
		put_stat(res, &r.st, r.link, r.link_len);
	} else if (st->fop == MSB_FOP_LIST) {
		json_object_object_add(res, "count", json_object_new_int64(
						     (int64_t)r.size));
	} else if (st->fop == MSB_FOP_READ || st->fop == MSB_FOP_WRITE) {
		json_object_object_add(res, "size", json_object_new_int64(
						    (int64_t)r.size));
	}
	m = json_object_new_object();
	json_object_object_add(m, "result", res);
	send_msg(s, st, m);
}

void sup_file_frame(struct sup *s, struct stream *st,
		    const struct msb_frame_hdr *h, const uint8_t *p)
{
	switch (h->type) {
	case MSB_F_STDOUT:
		on_data(s, st, p, h->len);
		break;
	case MSB_F_WINDOW:
		agent_on_window(s, st, p, h->len);
		break;
	case MSB_F_RESULT:
		on_result(s, st, p, h->len);
		stream_free(s, st);
		break;
	case MSB_F_ERROR: {
		/* The agent refused the stream (too many, shutting down). */
		fail(s, st, EAGAIN, p, h->len > 4096 ? 4096 : h->len);
		stream_free(s, st);
		break;
	}
	default:
		break; /* nothing else belongs to a FILE stream */
	}
}
