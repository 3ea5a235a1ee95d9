/* SPDX-License-Identifier: Apache-2.0 */
/* files.c - files in the guest: the fs_* methods of the API socket
 *
 * Each streaming operation (read, write, list) has a connection of its
 * own, as an exec does, so a caller that stops reading one file stalls
 * only that one. The one-shot operations (stat, mkdir, remove, rename,
 * symlink) are a request and its reply on a short connection.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "client.h"
#include "files.h"
#include "jsonx.h"
#include "util.h"

#define CHUNK (48 * 1024) /* bytes per stdin message, as exec sends */
#define BUF (4 * CHUNK)   /* bytes read from a descriptor at a time */

struct msb_file {
	struct msb_conn c;
	msb_file_op op;
	struct msb_buf data; /* the last event's bytes */
	msb_file_info entry;
	int done;
	int writing;
	void (*progress)(void *ctx, uint64_t done);
	void *ctx;
};

static int path_check(const char *path, const char *what, msb_error *err)
{
	size_t n = path ? strlen(path) : 0;

	if (!n || n > 4095)
		return msb_fail(err, MSB_E_INVALID,
				"invalid %s '%s': a guest path is 1 to 4095 "
				"bytes",
				what, path ? path : "");
	return 0;
}

/* put_opts() - the options @meth takes, as docs/api-protocol.md §5.5
 * lists them */
static void put_opts(json_object *p, const msb_file_opts *o,
		     const char *meth)
{
	int w = !strcmp(meth, "fs_write"), mk = !strcmp(meth, "fs_mkdir");

	if (!o)
		return;
	if (o->user)
		json_object_object_add(p, "user",
				       json_object_new_string(o->user));
	if (o->mode && (w || mk))
		json_object_object_add(p, "mode",
				       json_object_new_int((int)(o->mode & 07777)));
#define FLAG(field, key, cond)                                               \
	if (o->field && (cond))                                              \
		json_object_object_add(p, key, json_object_new_boolean(1))
	FLAG(parents, "parents", w || mk);
	FLAG(recursive, "recursive",
	     !strcmp(meth, "fs_list") || !strcmp(meth, "fs_remove"));
	FLAG(exclusive, "exclusive", w || mk || !strcmp(meth, "fs_rename"));
	FLAG(append, "append", w);
	FLAG(nofollow, "nofollow", !strcmp(meth, "fs_stat"));
#undef FLAG
}

/* call() - a one-shot fs_* request on a connection of its own. */
static int call(msb_sandbox *sb, const char *meth, json_object *p,
		json_object **res, msb_error *err)
{
	struct msb_conn c;
	int r = msb_conn_open(msb_sandbox_name(sb), &c, err);

	if (r < 0) {
		json_object_put(p);
		return r;
	}
	r = msb_conn_call(&c, meth, p, res, -1, err);
	msb_conn_close(&c);
	return r;
}

static json_object *path_params(const char *path, const msb_file_opts *o,
				const char *meth)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "path", json_object_new_string(path));
	put_opts(p, o, meth);
	return p;
}

static msb_file_type type_of(const char *t)
{
	static const char *const names[] = { "file", "dir", "symlink", "fifo",
					     "socket", "char", "block" };

	for (size_t i = 0; t && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(t, names[i]))
			return (msb_file_type)(MSB_FILE_REGULAR + i);
	return MSB_FILE_OTHER;
}

void msb_file_info_from_json(json_object *o, msb_file_info *fi)
{
	const char *name = json_object_get_string(msb_jget(o, "name"));
	const char *link = json_object_get_string(msb_jget(o, "link"));

	memset(fi, 0, sizeof(*fi));
	snprintf(fi->name, sizeof(fi->name), "%s", name ? name : "");
	snprintf(fi->link, sizeof(fi->link), "%s", link ? link : "");
	fi->type = type_of(json_object_get_string(msb_jget(o, "type")));
	fi->mode = (uint32_t)json_object_get_int64(msb_jget(o, "mode")) & 07777;
	fi->uid = (uint32_t)json_object_get_int64(msb_jget(o, "uid"));
	fi->gid = (uint32_t)json_object_get_int64(msb_jget(o, "gid"));
	fi->nlink = (uint32_t)json_object_get_int64(msb_jget(o, "nlink"));
	fi->size = (uint64_t)json_object_get_int64(msb_jget(o, "size"));
	fi->mtime = json_object_get_int64(msb_jget(o, "mtime"));
	fi->mtime_nsec = (uint32_t)json_object_get_int64(msb_jget(o, "mtime_ns"));
}

/* ---- streaming ------------------------------------------------------------- */

static const char *op_method(msb_file_op op)
{
	switch (op) {
	case MSB_FILE_READ:
		return "fs_read";
	case MSB_FILE_WRITE:
		return "fs_write";
	case MSB_FILE_LIST:
		return "fs_list";
	}
	return NULL;
}

MSB_API int msb_file_open(msb_sandbox *sb, msb_file_op op, const char *path,
			  const msb_file_opts *o, msb_file **out,
			  msb_error *err)
{
	const char *meth = op_method(op);
	json_object *req;
	msb_file *f;
	int r;

	*out = NULL;
	if (!meth)
		return msb_fail(err, MSB_E_INVALID,
				"unknown file operation %d", (int)op);
	r = path_check(path, "path", err);
	if (r < 0)
		return r;
	f = calloc(1, sizeof(*f));
	if (!f)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = msb_conn_open(msb_sandbox_name(sb), &f->c, err);
	if (r < 0) {
		free(f);
		return r;
	}
	f->op = op;
	f->writing = op == MSB_FILE_WRITE;
	req = json_object_new_object();
	json_object_object_add(req, "id", json_object_new_int64(1));
	json_object_object_add(req, "method", json_object_new_string(meth));
	json_object_object_add(req, "params", path_params(path, o, meth));
	r = msb_conn_send(&f->c, req, err);
	json_object_put(req);
	if (r < 0) {
		msb_file_free(f);
		return r;
	}
	*out = f;
	return 0;
}

MSB_API int msb_file_fd(const msb_file *f)
{
	return f->c.fd;
}

static int take_data(msb_file *f, json_object *msg, msb_file_event *ev,
		     msb_error *err)
{
	long l = msb_conn_data(msg, &f->data, err);

	if (l < 0)
		return (int)l;
	ev->type = MSB_FILE_DATA;
	ev->data = msb_buf_data(&f->data);
	ev->len = (size_t)l;
	return 1;
}

/* handle() - one message of the operation: 1 with an event, 0 for one to
 * skip, negative for its failure. */
static int handle(msb_file *f, json_object *msg, msb_file_event *ev,
		  msb_error *err)
{
	const char *event;

	if (json_object_get_int64(msb_jget(msg, "id")) != 1)
		return 0; /* an error about a notification, not ours */
	if (msb_jget(msg, "error")) {
		f->done = 1;
		return msb_conn_error(msg, err);
	}
	if (msb_jget(msg, "result")) {
		json_object *res = msb_jget(msg, "result");

		ev->type = MSB_FILE_DONE;
		ev->size = (uint64_t)json_object_get_int64(
			msb_jget(res, f->op == MSB_FILE_LIST ? "count" : "size"));
		f->done = 1;
		return 1;
	}
	event = json_object_get_string(msb_jget(msg, "event"));
	if (event && !strcmp(event, "data"))
		return take_data(f, msg, ev, err);
	if (event && !strcmp(event, "entry")) {
		msb_file_info_from_json(msg, &f->entry);
		ev->type = MSB_FILE_ENTRY;
		ev->entry = &f->entry;
		return 1;
	}
	return 0;
}

MSB_API int msb_file_next(msb_file *f, msb_file_event *ev, int timeout_ms,
			  msb_error *err)
{
	uint64_t deadline = timeout_ms > 0 ? msb_now_ms() + (uint64_t)timeout_ms :
					     0;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		json_object *msg;
		int r, left = timeout_ms;

		if (f->done)
			return msb_fail(err, MSB_E_STOPPED,
					"the file operation is over");
		if (timeout_ms > 0) {
			uint64_t now = msb_now_ms();

			left = now >= deadline ? 0 : (int)(deadline - now);
		}
		r = msb_conn_recv(&f->c, &msg, left, err);
		if (r == -EPIPE)
			return msb_fail(err, MSB_E_STOPPED,
					"the sandbox stopped during the file "
					"operation");
		if (r <= 0)
			return r;
		r = handle(f, msg, ev, err);
		json_object_put(msg);
		if (r)
			return r;
	}
}

/* early_error() - an error the supervisor already sent while we write. */
static int early_error(msb_file *f, msb_error *err)
{
	for (;;) {
		struct pollfd p = { .fd = f->c.fd, .events = POLLIN };
		msb_file_event ev;
		json_object *msg;
		int r;

		if (!f->c.in.len && poll(&p, 1, 0) <= 0)
			return 0;
		r = msb_conn_recv(&f->c, &msg, 0, err);
		if (r <= 0)
			return r == -EPIPE ? msb_fail(err, MSB_E_STOPPED,
						      "the sandbox stopped "
						      "during the file "
						      "operation") :
					     r;
		r = handle(f, msg, &ev, err);
		json_object_put(msg);
		if (r < 0)
			return r;
	}
}

static int send_stdin(msb_file *f, const uint8_t *d, size_t n, int eof,
		      msb_error *err)
{
	json_object *m = json_object_new_object(), *p = json_object_new_object();
	int r;

	json_object_object_add(p, "exec", json_object_new_int64(1));
	if (n) {
		char *b64 = malloc(msb_b64_encoded_len(n) + 1);
		size_t l;

		if (!b64) {
			json_object_put(p);
			json_object_put(m);
			return msb_fail(err, -ENOMEM, "out of memory");
		}
		l = msb_b64_encode(d, n, b64);
		json_object_object_add(p, "data",
				       json_object_new_string_len(b64, (int)l));
		free(b64);
	}
	if (eof)
		json_object_object_add(p, "eof", json_object_new_boolean(1));
	json_object_object_add(m, "method", json_object_new_string("stdin"));
	json_object_object_add(m, "params", p);
	r = msb_conn_send(&f->c, m, err);
	json_object_put(m);
	return r;
}

MSB_API int msb_file_write(msb_file *f, const void *buf, size_t n,
			   msb_error *err)
{
	const uint8_t *p = buf;
	int r;

	if (!f->writing)
		return msb_fail(err, MSB_E_STOPPED,
				"not a write, or its data was ended");
	while (n) {
		size_t chunk = n > CHUNK ? CHUNK : n;

		r = early_error(f, err);
		if (r < 0) {
			f->writing = 0;
			return r;
		}
		r = send_stdin(f, p, chunk, 0, err);
		if (r < 0)
			return r;
		p += chunk;
		n -= chunk;
	}
	return 0;
}

MSB_API int msb_file_close_write(msb_file *f, msb_error *err)
{
	if (!f->writing)
		return 0;
	f->writing = 0;
	return send_stdin(f, NULL, 0, 1, err);
}

MSB_API void msb_file_free(msb_file *f)
{
	if (!f)
		return;
	msb_conn_close(&f->c);
	msb_buf_free(&f->data);
	free(f);
}

/* ---- whole files ---------------------------------------------------------- */

/* finish() - events until DONE; DATA goes to @sink. */
static int finish(msb_file *f, int (*sink)(void *, const uint8_t *, size_t),
		  void *ctx, uint64_t *size, msb_error *err)
{
	msb_file_event ev;
	int r;

	while ((r = msb_file_next(f, &ev, -1, err)) >= 0) {
		if (r == 0)
			continue;
		if (ev.type == MSB_FILE_DATA && sink) {
			r = sink(ctx, ev.data, ev.len);
			if (r < 0)
				return r;
		}
		if (ev.type == MSB_FILE_DONE) {
			if (size)
				*size = ev.size;
			return 0;
		}
	}
	return r;
}

struct mem {
	uint8_t *p;
	size_t len, cap;
};

static int to_mem(void *ctx, const uint8_t *d, size_t n)
{
	struct mem *m = ctx;

	if (m->len + n + 1 > m->cap) {
		size_t cap = (m->len + n + 1) * 2;
		uint8_t *np = realloc(m->p, cap);

		if (!np)
			return -ENOMEM;
		m->p = np;
		m->cap = cap;
	}
	memcpy(m->p + m->len, d, n);
	m->len += n;
	m->p[m->len] = '\0';
	return 0;
}

MSB_API int msb_file_read_all(msb_sandbox *sb, const char *path,
			      const msb_file_opts *o, void **data, size_t *len,
			      msb_error *err)
{
	struct mem m = { calloc(1, 1), 0, 1 };
	msb_file *f;
	int r;

	*data = NULL;
	*len = 0;
	if (!m.p)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = msb_file_open(sb, MSB_FILE_READ, path, o, &f, err);
	if (r == 0) {
		r = finish(f, to_mem, &m, NULL, err);
		if (r == -ENOMEM)
			msb_fail(err, r, "out of memory reading %s", path);
		msb_file_free(f);
	}
	if (r < 0) {
		free(m.p);
		return r;
	}
	*data = m.p;
	*len = m.len;
	return 0;
}

MSB_API int msb_file_write_all(msb_sandbox *sb, const char *path,
			       const void *data, size_t len,
			       const msb_file_opts *o, msb_error *err)
{
	msb_file *f;
	int r = msb_file_open(sb, MSB_FILE_WRITE, path, o, &f, err);

	if (r < 0)
		return r;
	r = msb_file_write(f, data, len, err);
	if (r == 0)
		r = msb_file_close_write(f, err);
	if (r == 0)
		r = finish(f, NULL, NULL, NULL, err);
	msb_file_free(f);
	return r;
}

struct to_fd {
	int fd;
	uint64_t done;
	const struct msb_progress *pr;
	int werr;
};

static int fd_sink(void *ctx, const uint8_t *d, size_t n)
{
	struct to_fd *t = ctx;
	int r = msb_write_all(t->fd, d, n);

	if (r < 0)
		return t->werr = r;
	t->done += n;
	if (t->pr && t->pr->fn)
		t->pr->fn(t->pr->ctx, t->pr->path, t->done, t->pr->total);
	return 0;
}

int msb_file_read_fd_p(msb_sandbox *sb, const char *path, int fd,
		       const msb_file_opts *o, const struct msb_progress *pr,
		       uint64_t *done, msb_error *err)
{
	struct to_fd t = { fd, 0, pr, 0 };
	msb_file *f;
	int r = msb_file_open(sb, MSB_FILE_READ, path, o, &f, err);

	if (r < 0)
		return r;
	r = finish(f, fd_sink, &t, NULL, err);
	if (t.werr)
		msb_fail_errno(err, r, "writing the bytes of %s on the host",
			       path);
	msb_file_free(f);
	if (done)
		*done = t.done;
	return r;
}

MSB_API int msb_file_read_fd(msb_sandbox *sb, const char *path, int fd,
			     const msb_file_opts *o, uint64_t *done,
			     msb_error *err)
{
	return msb_file_read_fd_p(sb, path, fd, o, NULL, done, err);
}

int msb_file_write_fd_p(msb_sandbox *sb, const char *path, int fd,
			const msb_file_opts *o, const struct msb_progress *pr,
			uint64_t *done, msb_error *err)
{
	/* On the heap, once per call: as thread-local storage it was
	 * 192 KiB that the loader allocated and zeroed in every process
	 * linking libmsb, and again in each of its threads, used or not. */
	uint8_t *buf;
	uint64_t moved = 0;
	msb_file *f;
	int r = msb_file_open(sb, MSB_FILE_WRITE, path, o, &f, err);

	if (r < 0)
		return r;
	buf = malloc(BUF);
	if (!buf) {
		msb_file_free(f);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = msb_fail_errno(err, -errno, "reading the data for %s",
					   path);
			break;
		}
		if (n == 0) {
			r = msb_file_close_write(f, err);
			if (r == 0)
				r = finish(f, NULL, NULL, NULL, err);
			break;
		}
		r = msb_file_write(f, buf, (size_t)n, err);
		if (r < 0)
			break;
		moved += (uint64_t)n;
		if (pr && pr->fn)
			pr->fn(pr->ctx, pr->path, moved, pr->total);
	}
	free(buf);
	msb_file_free(f);
	if (done)
		*done = moved;
	return r;
}

MSB_API int msb_file_write_fd(msb_sandbox *sb, const char *path, int fd,
			      const msb_file_opts *o, uint64_t *done,
			      msb_error *err)
{
	return msb_file_write_fd_p(sb, path, fd, o, NULL, done, err);
}

/* ---- one-shot ------------------------------------------------------------- */

MSB_API int msb_file_stat(msb_sandbox *sb, const char *path,
			  const msb_file_opts *o, msb_file_info *out,
			  msb_error *err)
{
	json_object *res = NULL;
	int r = path_check(path, "path", err);

	if (r < 0)
		return r;
	r = call(sb, "fs_stat", path_params(path, o, "fs_stat"), &res, err);
	if (r < 0)
		return r;
	msb_file_info_from_json(res, out);
	json_object_put(res);
	return 0;
}

MSB_API int msb_file_exists(msb_sandbox *sb, const char *path,
			    const msb_file_opts *o, msb_error *err)
{
	msb_file_info *fi = malloc(sizeof(*fi));
	int r;

	if (!fi)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = msb_file_stat(sb, path, o, fi, err);
	free(fi);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	return r < 0 ? r : 1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const msb_file_info *)a)->name,
		      ((const msb_file_info *)b)->name);
}

MSB_API int msb_file_list(msb_sandbox *sb, const char *path,
			  const msb_file_opts *o, msb_file_info **entries,
			  size_t *n, msb_error *err)
{
	msb_file_info *v = NULL;
	size_t cnt = 0, cap = 0;
	msb_file_event ev;
	msb_file *f;
	int r;

	*entries = NULL;
	*n = 0;
	r = msb_file_open(sb, MSB_FILE_LIST, path, o, &f, err);
	if (r < 0)
		return r;
	while ((r = msb_file_next(f, &ev, -1, err)) >= 0) {
		if (r == 0)
			continue;
		if (ev.type == MSB_FILE_DONE)
			break;
		if (ev.type != MSB_FILE_ENTRY)
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			msb_file_info *nv = realloc(v, nc * sizeof(*v));

			if (!nv) {
				r = msb_fail(err, -ENOMEM, "out of memory");
				break;
			}
			v = nv;
			cap = nc;
		}
		v[cnt++] = *ev.entry;
	}
	msb_file_free(f);
	if (r < 0) {
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), by_name);
	*entries = v;
	*n = cnt;
	return 0;
}

MSB_API int msb_file_mkdir(msb_sandbox *sb, const char *path,
			   const msb_file_opts *o, msb_error *err)
{
	int r = path_check(path, "path", err);

	return r < 0 ? r :
		       call(sb, "fs_mkdir", path_params(path, o, "fs_mkdir"),
			    NULL, err);
}

MSB_API int msb_file_remove(msb_sandbox *sb, const char *path,
			    const msb_file_opts *o, msb_error *err)
{
	int r = path_check(path, "path", err);

	return r < 0 ? r :
		       call(sb, "fs_remove", path_params(path, o, "fs_remove"),
			    NULL, err);
}

MSB_API int msb_file_rename(msb_sandbox *sb, const char *from, const char *to,
			    const msb_file_opts *o, msb_error *err)
{
	json_object *p;
	int r = path_check(from, "path", err);

	if (r == 0)
		r = path_check(to, "new path", err);
	if (r < 0)
		return r;
	p = path_params(from, o, "fs_rename");
	json_object_object_add(p, "to", json_object_new_string(to));
	return call(sb, "fs_rename", p, NULL, err);
}

MSB_API int msb_file_symlink(msb_sandbox *sb, const char *target,
			     const char *path, const msb_file_opts *o,
			     msb_error *err)
{
	json_object *p;
	int r = path_check(path, "path", err);

	if (r == 0)
		r = path_check(target, "symlink target", err);
	if (r < 0)
		return r;
	p = path_params(path, o, "fs_symlink");
	json_object_object_add(p, "target", json_object_new_string(target));
	return call(sb, "fs_symlink", p, NULL, err);
}
