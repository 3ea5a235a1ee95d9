/* SPDX-License-Identifier: Apache-2.0 */
/* msb-unpack.c - the helper that turns layer archives into an EROFS image
 *
 *   msb-unpack [--scratch] OUT.erofs TMPDIR [sha256:DIFFID=]LAYER...
 *   msb-unpack --mkfs-tar MKFS OUT.erofs TMPDIR [sha256:DIFFID=]LAYER
 *
 * With --mkfs-tar (one layer, MKFS an erofs-utils >= 1.8 mkfs.erofs): the
 * layer is checked and passed as a clean tar stream (tarstream.c) to
 * `MKFS --tar=f --aufs --sort=none OUT.erofs`; nothing is unpacked and
 * fakeroot is not needed (store.c then runs this without it). Otherwise:
 *
 * Checks that each LAYER decompresses to its DIFFID when one is given,
 * unpacks each LAYER (bottom first) into a fresh directory under TMPDIR
 * (unpack.c: sanitised, whiteouts made overlayfs ones), packs it with
 * mkfs.erofs into OUT.erofs, and removes the directory (not with
 * --scratch: TMPDIR is a tmpfs of its own that goes with it, and removing
 * thousands of files, each through fakeroot, costs). A separate process
 * so that a hostile archive meets libarchive away from the caller, and so
 * that it runs without privileges under fakeroot(1) (as the calling user,
 * or as nobody when msb runs as root: store.c): the owners, device nodes,
 * setuid bits and xattrs it fakes are seen by mkfs.erofs, its child in the
 * same fakeroot session, and never made on the host. A seccomp filter
 * makes sure of it whatever fakeroot misses: no mode with setuid or setgid
 * and no device node reaches the host filesystem from this process or its
 * children (fakeroot records a refused chmod or mknod all the same). Prints
 * one line saying what was wrong on failure and exits 1, or 3 when that
 * was a full disk.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unpack.h"
#include "util.h"

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

#define ARG(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t))
#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define EPERM_ SECCOMP_RET_ERRNO | EPERM
#define SUID_SGID (S_ISUID | S_ISGID)
/* A mode argument @a of syscall @nr: EPERM with setuid or setgid. */
#define NO_SUID(nr, a)                                                 \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), LD(ARG(a)),   \
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SUID_SGID, 0, 1),         \
	RET(EPERM_), RET(SECCOMP_RET_ALLOW)
/* A mknod mode @a: EPERM for a character or block device, or any node
 * (a regular file too) with setuid or setgid. */
#define NO_DEV(nr, a)                                                  \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 7), LD(ARG(a)),   \
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SUID_SGID, 4, 0),         \
	BPF_STMT(BPF_ALU | BPF_AND | BPF_K, S_IFMT),                   \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_IFCHR, 2, 0),            \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_IFBLK, 1, 0),            \
	RET(SECCOMP_RET_ALLOW), RET(EPERM_)
/* An open with flags @f that creates, with mode @m: no setuid/setgid. */
#define NO_SUID_OPEN(nr, f, m)                                         \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 6), LD(ARG(f)),   \
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_CREAT | 020000000, 0, 3),\
	LD(ARG(m)), BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SUID_SGID, 0, 1), \
	RET(EPERM_), RET(SECCOMP_RET_ALLOW)

/* no_privileged_files() - the seccomp filter above, on this process and
 * every child (mkfs.erofs); openat2, whose mode it cannot see, is ENOSYS
 * (callers fall back to openat), and so is io_uring_setup (an io_uring
 * opens files past any filter); an x32 call kills. Return: 0 or -1 */
static int no_privileged_files(void)
{
	struct sock_filter f[] = {
		LD(offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		RET(SECCOMP_RET_KILL_PROCESS),
		LD(offsetof(struct seccomp_data, nr)),
		/* x32 numbers (the same calls, another table) are not ours */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1),
		RET(SECCOMP_RET_KILL_PROCESS),
		NO_SUID(__NR_chmod, 1),
		NO_SUID(__NR_fchmod, 1),
		NO_SUID(__NR_fchmodat, 2),
		NO_SUID(__NR_fchmodat2, 2),
		NO_SUID(__NR_creat, 1),
		NO_SUID_OPEN(__NR_open, 1, 2),
		NO_SUID_OPEN(__NR_openat, 2, 3),
		NO_DEV(__NR_mknod, 1),
		NO_DEV(__NR_mknodat, 2),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1),
		RET(SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		RET(SECCOMP_RET_ERRNO | ENOSYS),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
				   .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static uint64_t env_limit(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	n = strtoull(v, NULL, 10);
	return n && n < dflt ? n : dflt;
}

static const char *short_name(const char *blob)
{
	const char *b = strrchr(blob, '/');

	return b ? b + 1 : blob;
}

#define EXIT_NOSPACE 3

/* layer_arg() - split "sha256:HEX=PATH" into @diff_id ("" if absent) and
 * the returned PATH. */
static const char *layer_arg(const char *arg, char diff_id[65])
{
	diff_id[0] = '\0';
	if (strncmp(arg, "sha256:", 7) || strlen(arg) < 7 + 64 + 1 ||
	    arg[7 + 64] != '=')
		return arg;
	memcpy(diff_id, arg + 7, 64);
	diff_id[64] = '\0';
	return arg + 7 + 64 + 1;
}

/* open_layer() - @path, or, for "/proc/self/fd/N", that descriptor as
 * inherited (root hands blobs over so: nobody could not open them again
 * by their path or through that link; and a layer still downloading comes
 * so, on a socket, inflated as it arrives: inflate.c). Return: a
 * descriptor or -1 */
static int open_layer(const char *path)
{
	const char *pfx = "/proc/self/fd/";
	char *end;
	long n;

	if (strncmp(path, pfx, strlen(pfx)))
		return open(path, O_RDONLY | O_CLOEXEC);
	n = strtol(path + strlen(pfx), &end, 10);
	if (*end || n < 0 || n > INT_MAX) {
		errno = EBADF;
		return -1;
	}
	/* (a layer arriving on a socket, as a pull downloads it, is read
	 * from where it is: msb_layer_stream_start()) */
	if (lseek((int)n, 0, SEEK_SET) < 0 && errno != ESPIPE)
		return -1;
	return fcntl((int)n, F_DUPFD_CLOEXEC, 0);
}

/* check_diff_id() - the layer in @fd must decompress to @want. */
static int check_diff_id(int fd, const char *want, char *why, size_t n)
{
	char got[65];

	if (unpack_diff_id(fd, got, why, n) < 0)
		return -1;
	if (strcmp(got, want)) {
		snprintf(why, n,
			 "it decompresses to sha256:%.12s but the image config "
			 "says its diff_id is sha256:%.12s: the image is "
			 "corrupt or tampered (refused)",
			 got, want);
		return -1;
	}
	return lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

/* almost_full() - is the filesystem of @dir out of space (mkfs.erofs says
 * only that it failed)? */
static int almost_full(const char *dir)
{
	struct statvfs s;

	return statvfs(dir, &s) == 0 &&
	       (uint64_t)s.f_bavail * s.f_frsize < (1u << 20);
}

/* almost_full_at() - the same for the directory file @path goes in
 * (TMPDIR may be a tmpfs, OUT.erofs on disk). */
static int almost_full_at(const char *path)
{
	char d[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return almost_full(".");
	snprintf(d, sizeof(d), "%.*s", (int)(slash - path + (slash == path)),
		 path);
	return almost_full(d);
}

static int mkfs(const char *out, const char *dir)
{
	char *argv[] = { "mkfs.erofs", "--quiet", "-x1", (char *)out,
			 (char *)dir, NULL };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "msb-unpack: mkfs.erofs not found: install "
				"erofs-utils\n");
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	return 0;
}

/* mkfs_tar() - the single layer in @fd checked and passed as a tar stream
 * (unpack_to_tar()) to `@mkfs --tar=f --aufs --sort=none @out`, which
 * builds the image from it: nothing is unpacked. Return: 0, -1 with @why
 * set, or -2 when mkfs.erofs itself failed. */
static int mkfs_tar(const char *mkfs, const char *out, int fd,
		    const char *diff_id, const struct unpack_limits *lim,
		    uint64_t *entries, uint64_t *bytes, char *why, size_t n)
{
	/* --sort=none -Enoinline_data: each file's data is written once,
	 * where it stays in the image, as it comes; by default mkfs.erofs
	 * first writes it to a scratch area of the output file, copies it
	 * to its place at the end and truncates the scratch away, which was
	 * most of its time (docs/performance.md). The files' tails are then
	 * not inlined into their inodes: the image is about 2% bigger. */
	char *argv[] = { (char *)mkfs, "--quiet", "-x1", "--tar=f", "--aufs",
			 "--sort=none", "-Enoinline_data", (char *)out, NULL };
	int p[2], status, r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		return -1;
	}
	/* 1 MiB in flight, not 64 KiB: the two sides wait for each other
	 * less (refused past the user's limit: the default size stays) */
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	pid = fork();
	if (pid < 0) {
		snprintf(why, n, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(p[0], 0);
		execv(mkfs, argv);
		fprintf(stderr, "msb-unpack: cannot run %s: %s\n", mkfs,
			strerror(errno));
		_exit(127);
	}
	close(p[0]);
	r = unpack_to_tar(fd, p[1], diff_id, lim, entries, bytes, why, n);
	close(p[1]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return r < 0 && !strstr(why, "mkfs.erofs stopped") ? -1 : -2;
	return r;
}

int main(int argc, char **argv)
{
	struct unpack_limits lim = {
		env_limit("MSB_LAYER_MAX_ENTRIES", UNPACK_MAX_ENTRIES),
		env_limit("MSB_LAYER_MAX_BYTES", UNPACK_MAX_BYTES),
	};
	uint64_t entries = 0, bytes = 0;
	char dir[PATH_MAX], why[1024] = "", diff_id[65];
	const char *tar_mkfs = NULL;
	int rootfd = -1, rc = 1, scratch = 0;

	for (;;) {
		if (argc > 1 && !strcmp(argv[1], "--scratch")) {
			scratch = 1;
			argc--;
			argv++;
		} else if (argc > 2 && !strcmp(argv[1], "--mkfs-tar")) {
			tar_mkfs = argv[2];
			argc -= 2;
			argv += 2;
		} else {
			break;
		}
	}
	if (argc < 4 || (tar_mkfs && argc != 4)) {
		fprintf(stderr, "usage: msb-unpack [--scratch] OUT.erofs TMPDIR "
				"[sha256:DIFFID=]LAYER...\n"
				"       msb-unpack --mkfs-tar MKFS OUT.erofs "
				"TMPDIR [sha256:DIFFID=]LAYER\n");
		return 2;
	}
	/* (Run through /proc/self/fd/N when root hands it over: named for
	 * ps. Not dumpable: another process of the same user cannot attach.) */
	prctl(PR_SET_NAME, "msb-unpack");
	prctl(PR_SET_DUMPABLE, 0);
	if (no_privileged_files() < 0) {
		fprintf(stderr, "msb-unpack: cannot install its seccomp filter: "
				"%s\n", strerror(errno));
		return 1;
	}
	umask(022);
	if (tar_mkfs) {
		/* One layer straight into mkfs.erofs: nothing unpacked, no
		 * directory, no fakeroot. */
		const char *layer = layer_arg(argv[3], diff_id);
		int fd = open_layer(layer), r;

		signal(SIGPIPE, SIG_IGN); /* a failed mkfs.erofs: EPIPE */
		if (fd < 0) {
			fprintf(stderr, "layer sha256:%.12s: cannot open: %s\n",
				short_name(layer), strerror(errno));
			return 1;
		}
		r = mkfs_tar(tar_mkfs, argv[1], fd, diff_id, &lim, &entries,
			     &bytes, why, sizeof(why));
		close(fd);
		if (r == -2) {
			if (almost_full_at(argv[1]))
				rc = EXIT_NOSPACE;
			fprintf(stderr, "mkfs.erofs failed to pack %llu entries%s\n",
				(unsigned long long)entries,
				rc == EXIT_NOSPACE ? " (the disk is full)" : "");
		} else if (r < 0) {
			fprintf(stderr, "layer sha256:%.12s: %s\n",
				short_name(layer), why);
		} else {
			rc = 0;
		}
		if (rc)
			unlink(argv[1]);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s/unpack.XXXXXX", argv[2]);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "cannot create a directory in %s: %s\n",
			argv[2], strerror(errno));
		return 1;
	}
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || fchmod(rootfd, 0755) < 0)
		goto out;
	for (int i = 3; i < argc; i++) {
		const char *layer = layer_arg(argv[i], diff_id);
		int fd = open_layer(layer), r;

		if (fd < 0) {
			snprintf(why, sizeof(why), "cannot open: %s",
				 strerror(errno));
			r = -1;
		} else {
			r = 0;
			if (diff_id[0])
				r = check_diff_id(fd, diff_id, why, sizeof(why));
			if (r == 0 && i > 3) {
				r = unpack_deletions(fd, rootfd, why,
						     sizeof(why));
				if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
					r = -1;
			}
			if (r == 0)
				r = unpack_layer(fd, rootfd, &lim, &entries,
						 &bytes, why, sizeof(why));
			close(fd);
		}
		if (r == -ENOSPC) {
			rc = EXIT_NOSPACE;
			fprintf(stderr, "unpacking layer sha256:%.12s: %s\n",
				short_name(layer), why);
			goto out;
		}
		if (r < 0) {
			fprintf(stderr, "layer sha256:%.12s: %s\n",
				short_name(layer), why);
			goto out;
		}
	}
	if (mkfs(argv[1], dir) < 0) {
		if (almost_full(argv[2]) || almost_full_at(argv[1]))
			rc = EXIT_NOSPACE;
		fprintf(stderr, "mkfs.erofs failed to pack %llu entries%s\n",
			(unsigned long long)entries,
			rc == EXIT_NOSPACE ? "" : " (is the disk full?)");
		goto out;
	}
	rc = 0;
out:
	if (rootfd >= 0)
		close(rootfd);
	if (!scratch)
		msb_rm_rf(dir);
	if (rc)
		unlink(argv[1]);
	return rc;
}
