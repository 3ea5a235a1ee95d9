// SPDX-License-Identifier: Apache-2.0
/* fsserve.c - the supervisor's volume server alone, for bench/fs.py
 *
 *   fsserve SOCKET DIR [auto|always|never|default]
 *
 * Serves host directory DIR as a vhost-user-fs device on the unix socket
 * SOCKET (listening; one front-end), with the same code the supervisor
 * runs for `-v DIR:/data[:cache=MODE]` (src/fs: vhost_user.c, fuse.c,
 * passthrough.c) on one thread with its own epoll, as each volume's
 * thread does (src/supervisor/fs.c), but with no supervisor around it:
 * bench/fs.py --alone boots its raw VM (the peer's) against it too, so
 * the server is compared with virtiofsd on the very same VM, and the
 * sandbox with both (bench/fscycle.py too). Exits when the front-end
 * goes. Built by bench/rawboot.py's build_fsserve():
 *
 *   cc -O2 -Iinclude -Isrc/fs -Isrc/common -o fsserve bench/fsserve.c
 *      src/fs/vhost_user.c src/fs/virtqueue.c src/fs/fuse.c
 *      src/fs/passthrough.c src/fs/plugin.c src/fs/proxy.c
 *      src/common/util.c -ldl
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends.h"
#include "fuse.h"
#include "vhost_user.h"

#define QUEUES 2

static int epfd;
static int kick_fd[QUEUES] = { -1, -1 };

static void watch(void *opaque, unsigned int q, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = q };

	(void)opaque;
	if (q >= QUEUES)
		return;
	if (kick_fd[q] >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, kick_fd[q], NULL);
	kick_fd[q] = -1;
	if (fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		kick_fd[q] = fd;
}

static size_t handle(void *opaque, unsigned int q, const struct iovec *in,
		     int nin, const struct iovec *out, int nout)
{
	(void)q;
	return msb_fuse_handle(opaque, in, nin, out, nout);
}

int main(int argc, char **argv)
{
	struct msb_fs_passthrough_opts po = { 0 };
	struct msb_fuse_opts fo = { 0 };
	struct msb_fs_backend be;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 100 };
	const char *mode = argc > 3 ? argv[3] : "default";
	static struct vu_dev d;
	struct msb_fuse *f;
	msb_error why = { 0 };
	int ls, fd;

	if (argc < 3 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: fsserve SOCKET DIR [MODE]\n");
		return 2;
	}
	/* as src/supervisor/fs.c vol_cache() */
	if (!strcmp(mode, "never")) {
		fo.direct_io = 1;
	} else if (!strcmp(mode, "auto")) {
		fo.entry_timeout_ms = fo.attr_timeout_ms = 1000;
	} else if (!strcmp(mode, "always")) {
		fo.entry_timeout_ms = fo.attr_timeout_ms = 86400000;
		fo.keep_cache = 1;
	}
	if (msb_fs_passthrough_new(argv[2], &po, &be, &why)) {
		fprintf(stderr, "fsserve: %s\n", why.message);
		return 1;
	}
	f = msb_fuse_new(be.ops, be.state, &fo);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(a.sun_path, argv[1]);
	unlink(argv[1]);
	if (!f || ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(ls, 1) < 0) {
		perror("fsserve");
		return 1;
	}
	fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0 || epfd < 0 ||
	    vu_dev_init(&d, fd, QUEUES, handle, watch, f) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("fsserve");
		return 1;
	}
	d.lazy = 1u << 0; /* as src/supervisor/fs.c */
	for (;;) {
		struct epoll_event evs[QUEUES + 1];
		int n = epoll_wait(epfd, evs, QUEUES + 1,
				   vu_owed(&d) ? VU_LAZY_MS : -1);

		if (n == 0)
			vu_flush(&d);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == 100) {
				if (vu_on_socket(&d) < 0)
					goto out;
			} else if (vu_on_kick(&d, (unsigned)evs[i].data.u64) < 0) {
				fprintf(stderr, "fsserve: %s\n", d.err);
				goto out;
			}
		}
	}
out:
	vu_dev_free(&d);
	msb_fuse_free(f);
	msb_fs_backend_close(&be);
	return 0;
}
