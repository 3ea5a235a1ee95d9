/* SPDX-License-Identifier: Apache-2.0 */
/* fuse_fuzz.c - libFuzzer target: FUSE requests from a hostile guest
 *
 * An input is a flags byte and a sequence of descriptor chains, each
 * split into iovecs at points the input chooses, fed to msb_fuse_handle()
 * over a fresh session (INIT already done) on a memory backend or on a
 * passthrough backend of a temp directory:
 *
 *   u8 flags   bit 0: passthrough, bit 1: read-only, bit 2: POSIX locks,
 *              bit 3: an overlay (lower: the backend bit 0 chose, on a
 *              volume that has a few files; upper: memory), bit 4: all
 *              of it behind a proxy with a hook that denies one name,
 *              bit 5: the overlay's upper layer a passthrough too
 *   then per chain: u16 LE length, u8 in-split seed, u8 out-split seed,
 *                   length bytes (a fuse_in_header, arguments, payload)
 *
 * Checks, beyond the sanitizers: the reply length is within the room
 * given and matches the out header; nothing ever appears next to the
 * passthrough volume (no escape).
 *
 * Build and run: make build/fuzz/fuse && build/fuzz/fuse fuzz/corpus/fuse
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends.h"
#include "fuse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

#define OUT_MAX ((1u << 20) + 8192)

static char top[64], vol[96], upd[96];
static uint8_t out[OUT_MAX];

/* Two passes: open every directory up (the guest may have chmod'ed
 * them 000), then remove bottom-up. */
static int open_up(const char *p, const struct stat *st, int type,
		   struct FTW *ftw)
{
	if (type == FTW_D)
		chmod(p, 0700);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int type,
		  struct FTW *ftw)
{
	if (ftw->level > 0)
		remove(p);
	return 0;
}

static void empty(const char *dir)
{
	nftw(dir, open_up, 16, FTW_PHYS);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	empty(top);
	umount2(top, MNT_DETACH); /* (room_bounded()'s tmpfs, if any) */
	rmdir(top);
}

/* room_bounded() - a request may ask for any size, and FALLOCATE takes
 * it for real: on the host's own disk, one run's fallocate took 18 GB of
 * a shared disk for the moment the run lasted, and what else ran there (a
 * build, a test suite) ran out of room. As root, @top is a 256 MiB tmpfs
 * of a mount namespace of our own (ENOSPC beyond, as a full volume);
 * otherwise files stay under 64 MiB (EFBIG), which a fallocate that keeps
 * the size can still pass. */
static void room_bounded(void)
{
	struct rlimit fs = { 64 << 20, 64 << 20 };

	if (unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("tmpfs", top, "tmpfs", 0, "size=256m,mode=0700") == 0)
		return;
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &fs))
		abort();
}

static void setup(void)
{
	if (top[0])
		return;
	snprintf(top, sizeof(top), "/tmp/msb-fuse-fuzz.XXXXXX");
	if (!mkdtemp(top))
		abort();
	room_bounded();
	snprintf(vol, sizeof(vol), "%s/vol", top);
	snprintf(upd, sizeof(upd), "%s/up", top);
	if (mkdir(vol, 0755) || mkdir(upd, 0755))
		abort();
	atexit(cleanup);
}

/* Only "vol" and "up" may ever be in the top directory. */
static void check_no_escape(void)
{
	DIR *d = opendir(top);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "vol") && strcmp(e->d_name, "up"))
			__builtin_trap();
	closedir(d);
}

/* Cut [0, len) of @base into up to 6 iovecs from @seed. */
static int cut(uint8_t *base, size_t len, uint8_t seed, struct iovec *iov)
{
	int k = 1 + seed % 6;
	size_t pos = 0;
	uint32_t x = seed * 2654435761u + 1;

	for (int i = 0; i < k; i++) {
		size_t l;

		x = x * 1103515245u + 12345u;
		l = i == k - 1 ? len - pos : (len - pos) ? x % (len - pos + 1) : 0;
		iov[i].iov_base = base + pos;
		iov[i].iov_len = l;
		pos += l;
	}
	return k;
}

static void init(struct msb_fuse *f)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} r = { { .len = sizeof(r), .opcode = FUSE_INIT, .unique = 1 },
		{ .major = 7, .minor = 37, .max_readahead = 1 << 17,
		  .flags = 0xffffffffu } };
	struct iovec in = { &r, sizeof(r) }, o = { out, sizeof(out) };

	msb_fuse_handle(f, &in, 1, &o, 1);
}

static int deny_x(void *state, const struct msb_fs_call *call)
{
	return call->name && !strcmp(call->name, "x") ? -EACCES : 0;
}

static const struct msb_fs_hooks hooks = {
	.abi = MSB_FS_ABI, .size = sizeof(hooks), .name = "fuzz",
	.before = deny_x,
};

static void seed_lower(void)
{
	char p[160];
	FILE *f;

	snprintf(p, sizeof(p), "%s/f", vol);
	if ((f = fopen(p, "w"))) {
		fputs("lower file", f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/d", vol);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d/g", vol);
	if ((f = fopen(p, "w")))
		fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct msb_fuse_opts opts = { 0 };
	struct msb_fs_backend be;
	struct msb_fuse *f;
	msb_error err = { 0 };
	size_t pos = 1;
	uint8_t *buf;

	if (n < 1)
		return 0;
	setup();
	opts.read_only = !!(data[0] & 2);
	opts.posix_locks = !!(data[0] & 4);
	/* a cache mode's options: pages kept across opens, names and
	 * attributes (and missing names) kept for a while */
	opts.keep_cache = !!(data[0] & 64);
	if (data[0] & 128)
		opts.entry_timeout_ms = opts.attr_timeout_ms = 1000;
	if (data[0] & 8)
		seed_lower();
	if (data[0] & 1) {
		if (msb_fs_passthrough_new(vol, NULL, &be, &err))
			abort();
	} else if (msb_fs_memory_new(8u << 20, &be, &err)) {
		abort();
	}
	if (data[0] & 8) {
		struct msb_fs_backend up, lo = be;

		if ((data[0] & 32) ?
			    msb_fs_passthrough_new(upd, NULL, &up, &err) :
			    msb_fs_memory_new(8u << 20, &up, &err))
			abort();
		if (msb_fs_overlay_new(&lo, &up, &be, &err))
			abort();
	}
	if (data[0] & 16) {
		struct msb_fs_backend in = be;

		if (msb_fs_proxy_new(&in, &hooks, NULL, &be, &err))
			abort();
	}
	f = msb_fuse_new(be.ops, be.state, &opts);
	if (!f)
		abort();
	init(f);
	while (pos + 4 <= n) {
		size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
		uint8_t sin = data[pos + 2], sout = data[pos + 3];
		struct iovec in[6], o[6];
		size_t room = sout & 0x80 ? (size_t)(sout & 0x7f) * 97 : OUT_MAX;
		size_t r;
		int nin, nout;

		pos += 4;
		if (len > n - pos)
			len = n - pos;
		/* A private copy: chains are read, never written. */
		buf = malloc(len ? len : 1);
		memcpy(buf, data + pos, len);
		pos += len;
		nin = cut(buf, len, sin, in);
		/* (no writable buffer at all, as FORGETs come) */
		nout = room || !(sin & 1) ? cut(out, room, sout, o) : 0;
		r = msb_fuse_handle(f, in, nin, o, nout);
		if (r) {
			struct fuse_out_header oh;

			if (r > room || r < sizeof(oh))
				__builtin_trap();
			memcpy(&oh, out, sizeof(oh));
			if (oh.len != r || oh.error > 0 || oh.error < -4095)
				__builtin_trap();
		}
		free(buf);
	}
	msb_fuse_free(f);
	msb_fs_backend_close(&be);
	if (data[0] & 9) {
		check_no_escape();
		empty(vol);
		empty(upd);
	}
	return 0;
}
