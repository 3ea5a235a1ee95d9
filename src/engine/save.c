/* SPDX-License-Identifier: Apache-2.0 */
/* save.c - a VM's state to files and back, through QEMU's migration
 *
 * Theory of operation: QEMU's migration stream carries the device state
 * (vCPU registers, interrupt controllers, virtio queues: ~100 KB) and,
 * normally, every page of RAM. With the "x-ignore-shared" capability it
 * leaves out RAM that is mapped shared from a file, which ours is (a memfd
 * held by the owner), so the stream stays small and the RAM is copied
 * beside it by us, sparse: SEEK_DATA/SEEK_HOLE walk only the pages the
 * guest touched, and pages of zeros stay holes.
 *
 * A restored VM maps that RAM file private (copy-on-write) and is started
 * with "-incoming defer"; the same capability is set and the stream loaded
 * with "migrate-incoming". QEMU does not write ROM images into RAM of a VM
 * waiting for an incoming migration, so the file's pages are what the
 * guest sees. The VM stays paused once the stream is loaded (it was saved
 * paused), and "cont" runs it.
 *
 * Each step is a QMP command whose answer starts the next; the end of the
 * migration comes as a MIGRATION event ("events" capability).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "qmp.h"
#include "save.h"
#include "util.h"

enum op_kind { OP_SAVE, OP_RESTORE };

struct msb_engine_op {
	enum op_kind kind;
	struct msb_vm *vm;
	char dir[PATH_MAX];
	int state_fd;
	msb_engine_done_fn done;
	void *opaque;
	uint64_t t0_us;
	int migrating;
};

void msb_engine_op_end(struct msb_vm *vm, int rc, const char *why)
{
	struct msb_engine_op *op = vm->op;

	if (!op)
		return;
	vm->op = NULL;
	if (op->state_fd >= 0)
		close(op->state_fd);
	if (op->done)
		op->done(op->opaque, rc, why);
	free(op);
}

/* Copy @src's data to a new file @path of @size bytes, leaving holes where
 * @src has holes or whole 4 KiB blocks of zeros. Return: bytes written. */
/* The 4 KiB block at @p (or what is left of @n bytes) is all zeros. */
static int block_zero(const uint8_t *p, ssize_t n)
{
	static const uint8_t zero[4096];

	return !memcmp(p, zero, n < 4096 ? (size_t)n : 4096);
}

static int64_t copy_sparse(int src, const char *path, uint64_t size,
			   msb_error *err)
{
	uint8_t *buf = malloc(1 << 20);
	int dst = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	off_t data = 0, hole;
	int64_t written = 0;

	if (!buf || dst < 0) {
		int e = errno;

		free(buf);
		if (dst >= 0)
			close(dst);
		return msb_fail_errno(err, -e, "cannot create %s", path);
	}
	if (ftruncate(dst, (off_t)size) < 0)
		goto fail;
	for (;;) {
		data = lseek(src, data, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break; /* no data after this point */
			goto fail;
		}
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0)
			goto fail;
		while (data < hole) {
			size_t want = (size_t)(hole - data) < (1u << 20) ?
					      (size_t)(hole - data) :
					      (1u << 20);
			ssize_t n = pread(src, buf, want, data);

			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				if (n == 0)
					errno = EIO;
				goto fail;
			}
			/* Runs of non-zero blocks, each in one write. */
			for (ssize_t off = 0; off < n;) {
				ssize_t end;

				if (block_zero(buf + off, n - off)) {
					off += 4096;
					continue;
				}
				for (end = off + 4096;
				     end < n && !block_zero(buf + end, n - end);
				     end += 4096)
					;
				if (end > n)
					end = n;
				if (pwrite(dst, buf + off, (size_t)(end - off),
					   data + off) != end - off) {
					if (errno == 0)
						errno = ENOSPC;
					goto fail;
				}
				written += end - off;
				off = end;
			}
			data += n;
		}
	}
	/* Not synced here: the guest is paused meanwhile; whoever keeps
	 * the file syncs it (the library, before the snapshot appears). */
	close(dst);
	free(buf);
	return written;
fail: {
	int e = errno;

	close(dst);
	free(buf);
	unlink(path);
	return msb_fail_errno(err, -e, "writing %s", path);
}
}

int64_t msb_copy_sparse(int src, const char *path, uint64_t size,
			msb_error *err)
{
	return copy_sparse(src, path, size, err);
}

static void save_finish(struct msb_engine_op *op)
{
	struct msb_vm *vm = op->vm;
	char path[PATH_MAX + 8];
	msb_error err = { 0 };
	struct stat st;
	uint64_t t1 = msb_now_us();
	int64_t n;

	if (fstat(op->state_fd, &st) < 0) {
		msb_fail_errno(&err, -errno, "writing the device state");
		msb_engine_op_end(vm, err.code, err.message);
		return;
	}
	vm->saved.state_bytes = (uint64_t)st.st_size;
	vm->saved.state_us = t1 - op->t0_us;
	snprintf(path, sizeof(path), "%s/ram", op->dir);
	n = copy_sparse(vm->ram_fd, path, vm->ram_size, &err);
	if (n < 0) {
		msb_engine_op_end(vm, (int)n, err.message);
		return;
	}
	vm->saved.ram_bytes = (uint64_t)n;
	vm->saved.ram_size = vm->ram_size;
	vm->saved.ram_us = msb_now_us() - t1;
	msb_engine_op_end(vm, 0, NULL);
}

static void restore_ran(void *opaque, json_object *ret, const char *eclass,
			const char *edesc)
{
	struct msb_engine_op *op = opaque;
	char why[512];

	snprintf(why, sizeof(why), "cont: %s", edesc ? edesc : "failed");
	msb_engine_op_end(op->vm, ret ? 0 : -EIO, ret ? NULL : why);
}

/* The state is loaded. It was saved from a paused VM, and QEMU keeps
 * the run state it was saved in: run it. */
static void restore_run(struct msb_engine_op *op)
{
	msb_error err = { 0 };

	if (msb_qmp_send(op->vm->qmp, "cont", NULL, restore_ran, op, &err) < 0)
		msb_engine_op_end(op->vm, err.code, err.message);
}

void msb_engine_on_event(void *opaque, const char *event, json_object *data)
{
	struct msb_vm *vm = opaque;
	struct msb_engine_op *op = vm->op;
	json_object *st;

	if (op && op->migrating && !strcmp(event, "MIGRATION") && data &&
	    json_object_object_get_ex(data, "status", &st)) {
		const char *s = json_object_get_string(st);

		if (!strcmp(s, "completed")) {
			op->migrating = 0;
			if (op->kind == OP_SAVE)
				save_finish(op);
			else
				restore_run(op);
		} else if (!strcmp(s, "failed") || !strcmp(s, "cancelled")) {
			op->migrating = 0;
			msb_engine_op_end(vm, -EIO,
					  op->kind == OP_SAVE ?
						  "QEMU could not save the VM's "
						  "state (its log says why)" :
						  "QEMU could not load the "
						  "snapshot's device state (its "
						  "log says why)");
		}
	}
	if (vm->on_event)
		vm->on_event(vm->event_opaque, event, data);
}

static void step_failed(struct msb_engine_op *op, const char *what,
			const char *edesc)
{
	char why[512];

	snprintf(why, sizeof(why), "%s: %s", what, edesc ? edesc : "failed");
	msb_engine_op_end(op->vm, -EIO, why);
}

static void migrate_started(void *opaque, json_object *ret,
			    const char *eclass, const char *edesc)
{
	struct msb_engine_op *op = opaque;

	if (!ret)
		step_failed(op, op->kind == OP_SAVE ? "migrate" :
						      "migrate-incoming",
			    edesc);
	/* else: the MIGRATION event ends it */
}

static void fd_passed(void *opaque, json_object *ret, const char *eclass,
		      const char *edesc)
{
	struct msb_engine_op *op = opaque;
	msb_error err = { 0 };

	if (!ret) {
		step_failed(op, "getfd", edesc);
		return;
	}
	op->migrating = 1;
	if (msb_qmp_send(op->vm->qmp, "migrate",
			 json_tokener_parse("{\"uri\": \"fd:msb-save\"}"),
			 migrate_started, op, &err) < 0)
		msb_engine_op_end(op->vm, err.code, err.message);
}

static void caps_set(void *opaque, json_object *ret, const char *eclass,
		     const char *edesc)
{
	struct msb_engine_op *op = opaque;
	msb_error err = { 0 };
	int r;

	if (!ret) {
		step_failed(op, "migrate-set-capabilities", edesc);
		return;
	}
	if (op->kind == OP_SAVE) {
		r = msb_qmp_send_fd(op->vm->qmp, "getfd",
				    json_tokener_parse(
					    "{\"fdname\": \"msb-save\"}"),
				    op->state_fd, fd_passed, op, &err);
	} else {
		char uri[64];
		json_object *a = json_object_new_object();

		/* The descriptor QEMU inherited, under the number the
		 * launcher gave it (qemu.c). */
		snprintf(uri, sizeof(uri), "fd:%d",
			 op->vm->restore_state_vmm_fd >= 0 ?
				 op->vm->restore_state_vmm_fd :
				 op->state_fd);
		json_object_object_add(a, "uri", json_object_new_string(uri));
		op->migrating = 1;
		r = msb_qmp_send(op->vm->qmp, "migrate-incoming", a,
				 migrate_started, op, &err);
		/* QEMU has its own copy of it. */
		close(op->state_fd);
		op->state_fd = -1;
	}
	if (r < 0)
		msb_engine_op_end(op->vm, err.code, err.message);
}

static int op_begin(struct msb_vm *vm, enum op_kind kind, const char *dir,
		    int state_fd, msb_engine_done_fn done, void *opaque,
		    msb_error *err)
{
	struct msb_engine_op *op;
	int r;

	if (!vm->qmp)
		return msb_fail(err, -ENOTCONN, "the VM has no control link");
	if (vm->op)
		return msb_fail(err, -EBUSY,
				"a snapshot or restore is already under way");
	op = calloc(1, sizeof(*op));
	if (!op)
		return msb_fail(err, -ENOMEM, "out of memory");
	op->kind = kind;
	op->vm = vm;
	op->state_fd = state_fd;
	op->done = done;
	op->opaque = opaque;
	op->t0_us = msb_now_us();
	snprintf(op->dir, sizeof(op->dir), "%s", dir ? dir : "");
	vm->op = op;
	r = msb_qmp_send(vm->qmp, "migrate-set-capabilities",
			 json_tokener_parse(
				 "{\"capabilities\": ["
				 "{\"capability\": \"x-ignore-shared\", "
				 "\"state\": true},"
				 "{\"capability\": \"events\", \"state\": true}]}"),
			 caps_set, op, err);
	if (r < 0) {
		vm->op = NULL;
		op->done = NULL;
		free(op);
	}
	return r;
}

int msb_engine_save(struct msb_vm *vm, const char *dir, msb_engine_done_fn done,
		    void *opaque, msb_error *err)
{
	char path[PATH_MAX + 8];
	int fd, r;

	if (vm->ram_fd <= 0)
		return msb_fail(err, -EOPNOTSUPP,
				"this VM's memory is a private copy of a "
				"snapshot's, which cannot be saved again yet: "
				"stop it and take a disk snapshot instead");
	snprintf(path, sizeof(path), "%s/state", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return msb_fail_errno(err, -errno, "cannot create %s", path);
	memset(&vm->saved, 0, sizeof(vm->saved));
	r = op_begin(vm, OP_SAVE, dir, fd, done, opaque, err);
	if (r < 0) {
		close(fd);
		unlink(path);
	}
	return r;
}

int msb_engine_restore(struct msb_vm *vm, msb_engine_done_fn done,
		       void *opaque, msb_error *err)
{
	int fd = vm->restore_state_fd;

	if (fd < 0)
		return msb_fail(err, -EINVAL,
				"the VM was not launched to be restored");
	vm->restore_state_fd = -1;
	return op_begin(vm, OP_RESTORE, NULL, fd, done, opaque, err);
}

int msb_engine_version(char *buf, size_t n, msb_error *err)
{
	char qemu[PATH_MAX], cmd[PATH_MAX + 32], line[256] = "";
	char cache[PATH_MAX], key[PATH_MAX + 64], *old;
	struct stat st;
	FILE *p;
	int r = msb_engine_find(qemu, sizeof(qemu), err);

	if (r < 0)
		return r;
	/* Asking the binary costs a process start (tens of ms, every
	 * restore): the answer is kept per binary, size and mtime. */
	snprintf(cache, sizeof(cache), "%s/engine-version", msb_home());
	if (stat(qemu, &st) < 0)
		return msb_fail_errno(err, -errno, "%s", qemu);
	snprintf(key, sizeof(key), "%s %lld %lld ", qemu, (long long)st.st_size,
		 (long long)st.st_mtim.tv_sec);
	old = msb_read_file(cache, NULL);
	if (old && !strncmp(old, key, strlen(key)) &&
	    strlen(old + strlen(key)) > 1) {
		snprintf(buf, n, "%.*s", (int)strcspn(old + strlen(key), "\n"),
			 old + strlen(key));
		free(old);
		return 0;
	}
	free(old);
	snprintf(cmd, sizeof(cmd), "'%s' --version", qemu);
	p = popen(cmd, "re");
	if (!p)
		return msb_fail_errno(err, -errno, "running %s", qemu);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	pclose(p);
	/* "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)" */
	{
		const char *v = strstr(line, "version ");
		char rec[PATH_MAX + 160];
		size_t len;

		if (!v)
			return msb_fail(err, -EIO, "%s --version said nothing "
						   "usable", qemu);
		v += 8;
		len = strcspn(v, " \n");
		snprintf(buf, n, "%.*s", (int)len, v);
		snprintf(rec, sizeof(rec), "%s%s\n", key, buf);
		msb_write_file(cache, rec, strlen(rec), 0644);
	}
	return 0;
}
