/* SPDX-License-Identifier: Apache-2.0 */
/* store.c - the content-addressed store and layer conversion
 *
 *   <home>/blobs/sha256/HEX    manifests, configs, layer archives, by digest
 *   <home>/blobs/tmp/          downloads in progress (never read as blobs)
 *   <home>/layers/NAME.erofs   a layer blob (NAME = its HEX) as an EROFS
 *                              image; or several top layers merged
 *                              (NAME = "m" + sha256 of their digests)
 *   <home>/layers/NAME.diff_ids  the diff_ids the conversion verified, one
 *                              a line: the same blobs under another image's
 *                              config are checked against them, not trusted
 *   <home>/layers/tmp/         conversions in progress
 *
 * Everything appears by rename(2) of a complete, verified file: a crash or
 * a failure leaves at most debris in a tmp/ directory, which the next prune
 * removes.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "image.h"
#include "state.h"
#include "util.h"

int msb_store_dirs(msb_error *err)
{
	static const char *const sub[] = { "blobs/sha256", "blobs/tmp",
					   "layers/tmp" };
	char p[PATH_MAX];
	int r = msb_home_ready(err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", msb_home(), sub[i]);
		r = msb_mkdir_p(p, 0700);
		if (r < 0)
			return msb_fail_errno(err, r, "cannot create %s", p);
	}
	return 0;
}

void msb_blob_path(const char *digest, char *buf, size_t n)
{
	snprintf(buf, n, "%s/blobs/sha256/%s", msb_home(), digest + 7);
}

void msb_layer_path(const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/layers/%s.erofs", msb_home(), name);
}

int msb_blob_have(const char *digest)
{
	char p[PATH_MAX];

	msb_blob_path(digest, p, sizeof(p));
	return access(p, R_OK) == 0;
}

int msb_blob_tmp(char *path, size_t n, msb_error *err)
{
	int fd;

	snprintf(path, n, "%s/blobs/tmp/dl.XXXXXX", msb_home());
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return msb_fail_errno(err, -errno, "cannot create a file in "
				      "%s/blobs/tmp", msb_home());
	return fd;
}

int msb_blob_commit(const char *tmp, const char *digest, const char *hex_got,
		    msb_error *err)
{
	char p[PATH_MAX];

	if (strcmp(digest + 7, hex_got)) {
		unlink(tmp);
		return msb_fail(err, -EBADMSG,
				"digest mismatch: blob %s has sha256:%s; the "
				"registry sent corrupt or tampered data (nothing "
				"was stored)",
				digest, hex_got);
	}
	msb_blob_path(digest, p, sizeof(p));
	if (rename(tmp, p) < 0) {
		int e = -errno;

		unlink(tmp);
		return msb_fail_errno(err, e, "cannot store %s", p);
	}
	return 0;
}

int msb_fail_nospace(msb_error *err, const char *doing)
{
	return msb_fail(err, -ENOSPC,
			"no space left on device under %s while %s: free some "
			"space or run 'msb image prune'",
			msb_home(), doing);
}

int msb_blob_put(const char *digest, const void *buf, size_t len,
		 msb_error *err)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd = msb_blob_tmp(tmp, sizeof(tmp), err), r;

	if (fd < 0)
		return fd;
	r = msb_write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		unlink(tmp);
		return r == -ENOSPC ?
			       msb_fail_nospace(err, "storing a manifest") :
			       msb_fail_errno(err, r, "cannot store %.19s",
					      digest);
	}
	msb_blob_path(digest, dst, sizeof(dst));
	if (rename(tmp, dst) < 0) {
		r = -errno;
		unlink(tmp);
		return msb_fail_errno(err, r, "cannot store %.19s", digest);
	}
	return 0;
}

char *msb_blob_read(const char *digest, size_t max, size_t *len)
{
	char p[PATH_MAX];
	struct stat st;

	msb_blob_path(digest, p, sizeof(p));
	if (stat(p, &st) < 0 || (size_t)st.st_size > max)
		return NULL;
	return msb_read_file(p, len);
}

static int unpack_helper(char *buf, size_t n)
{
	const char *env = getenv("MSB_UNPACK");

	if (env && *env)
		snprintf(buf, n, "%s", env);
	else
		snprintf(buf, n, "%s/libexec/msb/msb-unpack", msb_prefix());
	return access(buf, X_OK);
}

/* tar_mkfs() - the mkfs.erofs that builds an image from a tar stream
 * (erofs-utils >= 1.8, for --sort; scripts/build-erofs-utils.sh):
 * $MSB_MKFS_TAR, or the one installed beside msb-unpack @helper. With it
 * a layer is never unpacked (msb-unpack --mkfs-tar); without it ("none",
 * or not built) msb-unpack unpacks under fakeroot for the system's
 * mkfs.erofs.
 * Return: 1 with its path in @buf, or 0. */
static int tar_mkfs(const char *helper, char *buf, size_t n)
{
	const char *env = getenv("MSB_MKFS_TAR");
	const char *slash = strrchr(helper, '/');

	if (env && *env)
		snprintf(buf, n, "%s", env);
	else if (slash)
		snprintf(buf, n, "%.*s/mkfs.erofs", (int)(slash - helper),
			 helper);
	else
		return 0;
	return strcmp(buf, "none") && access(buf, X_OK) == 0;
}

/* verified_ids() - compare @ids with those a stored conversion of the same
 * blobs was verified against. Return 1 when they match, 0 when nothing was
 * recorded (convert again, which verifies), or an error: the blobs are what
 * their digests say, so other diff_ids mean the new config is wrong. */
static int verified_ids(const char *out, const char *const *ids, unsigned nb,
			msb_error *err)
{
	char p[PATH_MAX + 16], *rec, *line, *save = NULL;
	size_t len = 0, k;
	unsigned i = 0;
	int r = 1;

	snprintf(p, sizeof(p), "%.*s.diff_ids", (int)(strlen(out) - 6), out);
	rec = msb_read_file(p, &len);
	if (!rec)
		return 0;
	/* Written unsynced beside its image: after a crash it can be empty
	 * or zero-filled, which is no record (convert again) and no
	 * conflict with the config. */
	for (k = 0; k < len; k++)
		if (rec[k] != '\n' && (!rec[k] ||
					!strchr("sha256:0123456789abcdef",
						rec[k])))
			break;
	if (k < len || !len) {
		free(rec);
		return 0;
	}
	for (line = strtok_r(rec, "\n", &save); line && r == 1;
	     line = strtok_r(NULL, "\n", &save), i++)
		if (i >= nb || strcmp(line, ids[i]))
			r = msb_fail(err, -EINVAL,
				     "a layer decompresses to %s but the image "
				     "config says its diff_id is %s",
				     line, i < nb ? ids[i] : "(none)");
	if (r == 1 && i != nb)
		r = msb_fail(err, -EINVAL,
			     "the image config names %u diff_ids for a disk "
			     "made of %u layers", nb, i);
	free(rec);
	return r;
}

static void record_ids(const char *out, const char *const *ids, unsigned nb)
{
	char p[PATH_MAX + 16], buf[80 * MSB_IMAGE_MAX_LAYERS];
	size_t off = 0;

	for (unsigned i = 0; i < nb && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s\n",
					ids[i]);
	snprintf(p, sizeof(p), "%.*s.diff_ids", (int)(strlen(out) - 6), out);
	/* Without the record the next image converts again: nothing lost. */
	if (off < sizeof(buf))
		msb_write_file(p, buf, off, 0644);
}

/* unpack_ids() - who the helper runs as when we are root: nobody, with no
 * groups. The kernel then refuses it device nodes, file capabilities and
 * root's setuid programs whatever an image asks (fakeroot keeps them for
 * mkfs.erofs), and it can reach nothing of root's it is not handed. */
static void unpack_ids(uid_t *uid, gid_t *gid)
{
	struct passwd pwd, *pw = NULL;
	char buf[1024];

	/* (_r: layers convert on several threads at once) */
	if (getpwnam_r("nobody", &pwd, buf, sizeof(buf), &pw))
		pw = NULL;
	*uid = pw ? pw->pw_uid : 65534;
	*gid = pw ? pw->pw_gid : 65534;
}

/* take_image() - the image the helper made as nobody in the directory
 * @wfd (nobody's: what a name there holds is the helper's to choose),
 * linked at @tmp as root's without trusting that name: opened with
 * O_NOFOLLOW, checked to be a regular file of @nuid's with one link, and
 * given to root through that descriptor. Return: 0 or -errno */
static int take_image(int wfd, uid_t nuid, const char *tmp)
{
	struct stat st;
	int fd = openat(wfd, "out.erofs",
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), e = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		e = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_uid != nuid ||
		 st.st_nlink != 1)
		e = -EPERM;
	else if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0644) < 0 ||
		 linkat(fd, "", AT_FDCWD, tmp, AT_EMPTY_PATH) < 0)
		e = -errno;
	close(fd);
	return e;
}

/* stage_ram() - how big a tmpfs the layers of @blobs may be unpacked in
 * (a quarter of the memory available now), or 0 to unpack them on disk:
 * when that memory is short of 8 times their compressed size (a layer
 * that unpacks to more fills the tmpfs, and is converted again on disk).
 * Creating files costs a disk's filesystem far more than a tmpfs (979
 * entries: 0.98 s against 0.1 s on the development hosts), and the
 * unpacked tree lives only until mkfs.erofs has read it. */
static uint64_t stage_ram(const char *const *blobs, unsigned nb)
{
	unsigned long long kib = 0;
	uint64_t packed = 0;
	char line[256];
	struct stat st;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	for (unsigned i = 0; i < nb; i++)
		if (stat(blobs[i], &st) == 0)
			packed += (uint64_t)st.st_size;
	if (kib * 1024 / 4 < packed * 8)
		return 0;
	return kib * 1024 / 4;
}

/* unpack_as_nobody() - in the forked child, as root: a mount namespace
 * where @work is /tmp (nosuid, nodev) with, when @ram, a tmpfs of @ram
 * bytes on /tmp/stage (nosuid, nodev, noexec, nobody's, gone with the
 * namespace), and a pid namespace whose first process becomes nobody
 * (@uid, @gid, no groups, no_new_privs) and execs @argv. This process
 * waits for it and exits with its status; when that first process ends,
 * the kernel kills whatever the helper left running in its namespace
 * (nothing of it outlives the conversion to write to the image or hold
 * the pipe), and each dies with its parent. Never returns. */
static void unpack_as_nobody(const char *work, uint64_t ram, uid_t uid,
			     gid_t gid, char **argv)
{
	char opts[128];
	pid_t init;
	int st;

	snprintf(opts, sizeof(opts), "size=%llu,mode=0700,uid=%u,gid=%u",
		 (unsigned long long)ram, (unsigned)uid, (unsigned)gid);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWNS | CLONE_NEWPID) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount(work, "/tmp", NULL, MS_BIND, NULL) ||
	    mount(NULL, "/tmp", NULL,
		  MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) ||
	    (ram && mount("tmpfs", "/tmp/stage", "tmpfs",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, opts))) {
		dprintf(2, "cannot give msb-unpack namespaces of its own: "
			   "%s (as root, msb unpacks layers as nobody in "
			   "mount and pid namespaces, which needs "
			   "CAP_SYS_ADMIN; without it, pull as an ordinary "
			   "user)\n", strerror(errno));
		_exit(1);
	}
	init = fork();
	if (init < 0) {
		dprintf(2, "cannot start msb-unpack: %s\n", strerror(errno));
		_exit(1);
	}
	if (init > 0) {
		/* This process only waits, and never execs: what it holds
		 * stays open until the helper is done. That includes, forked
		 * from a thread beside them, other conversions' pipes, whose
		 * readers would not see their end until this one's: a small
		 * layer's conversion would wait for the biggest. */
		close_range(0, ~0U, 0);
		while (waitpid(init, &st, 0) < 0)
			if (errno != EINTR)
				_exit(1);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	if (setgroups(0, NULL) || setgid(gid) || setuid(uid) || !getuid() ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL) || chdir("/tmp")) {
		dprintf(2, "cannot run msb-unpack as uid %u: %s\n",
			(unsigned)uid, strerror(errno));
		_exit(1);
	}
	execv(argv[0], argv);
	_exit(127);
}

/* convert_fail() - a message for the helper's exit @status. */
static int convert_fail(int status, const char *msg, size_t len,
			msb_error *err)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		return msb_fail_nospace(err, "unpacking a layer");
	return msb_fail(err, -EINVAL, "%s",
			len ? msg : "msb-unpack failed without a word");
}

/* A conversion under way: the helper started, its image not yet taken. */
struct conv {
	pid_t pid;
	int msgfd;            /* the helper's stderr */
	int drop, wfd, hfd, mfd, *bfd;
	unsigned nb;
	uid_t nuid;
	const char *const *diff_ids;
	char **argv, *args;
	char out[PATH_MAX], tmp[PATH_MAX + 32], work[PATH_MAX + 16];
};

static void conv_free(struct conv *c)
{
	if (c->work[0])
		msb_rm_rf(c->work);
	if (c->wfd >= 0)
		close(c->wfd);
	if (c->hfd >= 0)
		close(c->hfd);
	if (c->mfd >= 0)
		close(c->mfd);
	if (c->msgfd >= 0)
		close(c->msgfd);
	for (unsigned i = 0; c->bfd && i < c->nb; i++)
		if (c->bfd[i] >= 0)
			close(c->bfd[i]);
	free(c->bfd);
	free(c->argv);
	free(c->args);
	free(c);
}

/* conv_start() - msb-unpack started on the layers, unpacked in a tmpfs of
 * @ram bytes (root only), or on disk when @ram is 0; or, with @stream >= 0
 * (one layer, a descriptor the caller gives up), on the layer arriving
 * there as mkfs.erofs's tar stream (it fails when that cannot be).
 * Return: 0 with *@out set, or an error. */
static int conv_start(const char *const *blobs, const char *const *diff_ids,
		      unsigned nb, const char *name, uint64_t ram, int stream,
		      struct conv **out, msb_error *err)
{
	char helper[PATH_MAX], fakeroot[PATH_MAX], tmpdir[PATH_MAX], hexe[64],
		mkfs[PATH_MAX], mexe[64];
	struct conv *c = calloc(1, sizeof(*c));
	char **argv;
	int r = 0, tar = 0, pfd[2];
	unsigned k = 0;
	gid_t ngid = 0;
	pid_t pid;

	if (!c) {
		if (stream >= 0)
			close(stream);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	c->wfd = c->hfd = c->mfd = c->msgfd = -1;
	c->drop = geteuid() == 0;
	c->diff_ids = diff_ids;
	msb_layer_path(name, c->out, sizeof(c->out));
	c->bfd = calloc(nb, sizeof(int));
	c->nb = c->bfd ? nb : 0;
	for (unsigned i = 0; i < c->nb; i++)
		c->bfd[i] = -1;
	if (stream >= 0 && c->bfd)
		c->bfd[0] = stream;
	else if (stream >= 0)
		close(stream);
	if (unpack_helper(helper, sizeof(helper)) < 0) {
		r = msb_fail(err, -ENOENT,
			     "msb-unpack not found at %s: reinstall msb "
			     "(./setup)",
			     helper);
		goto out;
	}
	tar = nb == 1 && tar_mkfs(helper, mkfs, sizeof(mkfs));
	if (tar)
		ram = 0; /* nothing is unpacked */
	else if (stream >= 0) {
		r = msb_fail(err, -ENOTSUP, "a layer is converted as it "
			     "arrives only with msb's mkfs.erofs");
		goto out;
	} else if (!msb_have_exe("fakeroot", fakeroot, sizeof(fakeroot))) {
		r = msb_fail(err, -ENOENT,
			     "fakeroot not found: msb-unpack runs under it to "
			     "keep the owners and device nodes of image "
			     "layers without making them on this host; "
			     "install it with 'sudo apt-get install "
			     "fakeroot'");
		goto out;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/layers/tmp", msb_home());
	/* (the thread too: a manifest may list one blob twice; and a name
	 * of its own for a layer converted as it arrives, which may be
	 * converted again from its file while the first is discarded) */
	snprintf(c->tmp, sizeof(c->tmp), "%s/%s.%d.%d%s.erofs", tmpdir, name,
		 getpid(), gettid(), stream >= 0 ? ".s" : "");
	c->argv = argv = calloc(nb + 11, sizeof(char *));
	c->args = calloc(nb, PATH_MAX + 80);
	if (!argv || !c->args || !c->bfd) {
		r = msb_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!tar) {
		argv[k++] = fakeroot;
		argv[k++] = "--";
	}
	if (c->drop) {
		/* Root hands nobody a directory of its own, seen at /tmp
		 * in a mount namespace of the helper's (nosuid, nodev: the
		 * home stays 0700 and unreachable), the helper and the
		 * blobs as inherited descriptors, and takes the image
		 * back. */
		unpack_ids(&c->nuid, &ngid);
		snprintf(c->work, sizeof(c->work), "%s/conv.XXXXXX", tmpdir);
		if (!mkdtemp(c->work)) {
			c->work[0] = '\0';
			r = msb_fail_errno(err, -errno, "cannot create a "
					   "directory in %s", tmpdir);
			goto out;
		}
		c->wfd = open(c->work, O_PATH | O_DIRECTORY | O_CLOEXEC);
		c->hfd = open(helper, O_PATH | O_CLOEXEC);
		if (c->wfd < 0 || c->hfd < 0 ||
		    mkdirat(c->wfd, "stage", 0700) < 0 ||
		    fchownat(c->wfd, "stage", c->nuid, ngid,
			     AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchownat(c->wfd, "", c->nuid, ngid, AT_EMPTY_PATH) < 0) {
			r = msb_fail_errno(err, -errno, "cannot prepare %s",
					   c->work);
			goto out;
		}
		snprintf(hexe, sizeof(hexe), "/proc/self/fd/%d", c->hfd);
		argv[k++] = hexe;
		if (tar) {
			/* handed over as the helper is: nobody need not
			 * reach its path */
			c->mfd = open(mkfs, O_PATH | O_CLOEXEC);
			if (c->mfd < 0) {
				r = msb_fail_errno(err, -errno, "cannot open %s",
						   mkfs);
				goto out;
			}
			snprintf(mexe, sizeof(mexe), "/proc/self/fd/%d", c->mfd);
			argv[k++] = "--mkfs-tar";
			argv[k++] = mexe;
		}
		if (ram)
			argv[k++] = "--scratch";
		argv[k++] = "/tmp/out.erofs";
		argv[k++] = "/tmp/stage";
	} else {
		argv[k++] = helper;
		if (tar) {
			argv[k++] = "--mkfs-tar";
			argv[k++] = mkfs;
		}
		argv[k++] = c->tmp;
		argv[k++] = tmpdir;
	}
	for (unsigned i = 0; i < nb; i++) {
		char *a = c->args + (size_t)i * (PATH_MAX + 80);

		if (c->drop && stream < 0) {
			c->bfd[i] = open(blobs[i], O_RDONLY | O_CLOEXEC);
			if (c->bfd[i] < 0) {
				r = msb_fail_errno(err, -errno, "cannot open %s",
						   blobs[i]);
				goto out;
			}
		}
		if (c->bfd[i] >= 0)
			snprintf(a, PATH_MAX + 80, "%s=/proc/self/fd/%d",
				 diff_ids[i], c->bfd[i]);
		else
			snprintf(a, PATH_MAX + 80, "%s=%s", diff_ids[i],
				 blobs[i]);
		argv[k++] = a;
	}
	argv[k] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = msb_fail_errno(err, -errno, "pipe");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = msb_fail_errno(err, -errno, "fork");
		close(pfd[0]);
		close(pfd[1]);
		goto out;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		for (unsigned i = 0; i < nb; i++)
			if (c->bfd[i] >= 0)
				fcntl(c->bfd[i], F_SETFD, 0);
		if (c->drop) {
			fcntl(c->hfd, F_SETFD, 0);
			if (c->mfd >= 0)
				fcntl(c->mfd, F_SETFD, 0);
			unpack_as_nobody(c->work, ram, c->nuid, ngid, argv);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	c->pid = pid;
	c->msgfd = pfd[0];
	/* (the helper has its own: one here would keep the stream open) */
	for (unsigned i = 0; i < nb; i++)
		if (c->bfd[i] >= 0) {
			close(c->bfd[i]);
			c->bfd[i] = -1;
		}
	*out = c;
	return 0;
out:
	conv_free(c);
	return r;
}

/* conv_end() - wait for the helper of @c, and, when @keep and it made
 * the image, store it (renamed into place, its diff_ids recorded); when
 * not @keep, what it made is removed. Frees @c. Return: 0, or the
 * helper's failure. */
static int conv_end(struct conv *c, int keep, msb_error *err)
{
	char msg[1024];
	size_t len = 0;
	ssize_t rd;
	int status = -1, r = 0;

	while ((rd = read(c->msgfd, msg + len, sizeof(msg) - 1 - len)) > 0)
		len += (size_t)rd;
	msg[len] = '\0';
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		unlink(c->tmp);
		r = convert_fail(status, msg, len, err);
		goto out;
	}
	if (!keep) {
		unlink(c->tmp); /* (as root: made in c->work, removed) */
		goto out;
	}
	/* (nobody's file: root's from here on) */
	if (c->drop) {
		int e;

		unlink(c->tmp);
		if ((e = take_image(c->wfd, c->nuid, c->tmp)) < 0) {
			r = msb_fail_errno(err, e, "cannot take the image "
					   "msb-unpack made in %s", c->work);
			goto out;
		}
	}
	if (rename(c->tmp, c->out) < 0) {
		r = msb_fail_errno(err, -errno, "cannot store %s", c->out);
		unlink(c->tmp);
		goto out;
	}
	record_ids(c->out, c->diff_ids, c->nb);
out:
	conv_free(c);
	return r;
}

/* convert() - msb_layer_convert() once, the layers unpacked in a tmpfs of
 * @ram bytes (root only), or on disk when @ram is 0. */
static int convert(const char *const *blobs, const char *const *diff_ids,
		   unsigned nb, const char *name, uint64_t ram, msb_error *err)
{
	struct conv *c;
	int r = conv_start(blobs, diff_ids, nb, name, ram, -1, &c, err);

	return r < 0 ? r : conv_end(c, 1, err);
}

struct msb_layer_stream {
	struct conv *c;
	char id[80];
	const char *ids[1];
};

int msb_layer_stream_start(const char *diff_id, const char *name, int *in,
			   struct msb_layer_stream **out, msb_error *err)
{
	struct msb_layer_stream *s;
	const char *ids[1] = { diff_id };
	char out_path[PATH_MAX];
	int sv[2], sz = 1 << 20, r;

	/* (converted already: msb_layer_convert() checks it, and keeps it) */
	msb_layer_path(name, out_path, sizeof(out_path));
	if (access(out_path, F_OK) == 0)
		return msb_fail(err, -EEXIST, "%s is there", out_path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return msb_fail(err, -ENOMEM, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(s);
		return msb_fail_errno(err, -errno, "socketpair");
	}
	/* 1 MiB in flight: the download waits for the helper less */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	r = conv_start(NULL, ids, 1, name, 0, sv[1], &s->c, err);
	if (r < 0) {
		close(sv[0]);
		free(s);
		return r;
	}
	snprintf(s->id, sizeof(s->id), "%s", diff_id);
	s->ids[0] = s->id;
	s->c->diff_ids = s->ids;
	*in = sv[0];
	*out = s;
	return 0;
}

int msb_layer_stream_end(struct msb_layer_stream *s, int keep,
			 msb_error *err)
{
	msb_error local = { 0 };
	int r;

	if (!s)
		return 0;
	r = conv_end(s->c, keep, err ? err : &local);
	free(s);
	return r;
}

/* convert_any() - convert(), in a tmpfs when there is room (as root). */
static int convert_any(const char *const *blobs, const char *const *diff_ids,
		       unsigned nb, const char *name, msb_error *err)
{
	uint64_t ram = geteuid() == 0 ? stage_ram(blobs, nb) : 0;
	int r = convert(blobs, diff_ids, nb, name, ram, err);

	/* Full: the tmpfs, most likely; the disk is said full only if it
	 * is full on disk too. */
	if (r == -ENOSPC && ram)
		r = convert(blobs, diff_ids, nb, name, 0, err);
	return r;
}

/* recorded_size() - msb_layer_db_size() through a connection of its own
 * (0 when the database cannot be opened). */
static uint64_t recorded_size(const char *name)
{
	sqlite3 *db;
	uint64_t size;

	if (msb_db_open(NULL, &db, NULL) < 0)
		return 0;
	size = msb_layer_db_size(db, name);
	msb_db_close(db);
	return size;
}

int msb_layer_ready(const char *name, const char *const *diff_ids,
		    unsigned nb)
{
	char out[PATH_MAX], why[200];

	msb_layer_path(name, out, sizeof(out));
	return access(out, F_OK) == 0 &&
	       msb_layer_whole(out, recorded_size(name), why, sizeof(why)) &&
	       verified_ids(out, diff_ids, nb, NULL) == 1;
}

int msb_layer_convert(const char *const *blobs, const char *const *diff_ids,
		      unsigned nb, const char *name, unsigned *repaired,
		      msb_error *err)
{
	char out[PATH_MAX], why[200];
	uint64_t recorded;
	int r;

	msb_layer_path(name, out, sizeof(out));
	recorded = recorded_size(name);
	/* There, or made before (its size recorded) and gone since. */
	if (access(out, F_OK) == 0 || recorded) {
		if (!msb_layer_whole(out, recorded, why, sizeof(why))) {
			r = msb_layer_repair(blobs, diff_ids, nb, name,
					     recorded, why, NULL, err);
			if (r == 0 && repaired)
				__atomic_add_fetch(repaired, 1,
						   __ATOMIC_RELAXED);
			return r;
		}
		r = verified_ids(out, diff_ids, nb, err);
		if (r)
			return r < 0 ? r : 0;
	}
	return convert_any(blobs, diff_ids, nb, name, err);
}

/* check_blob() - a stored blob (<home>/blobs/sha256/HEX) hashes to
 * sha256:HEX; one that does not is removed, so a pull fetches it again.
 * Other paths (a pull's download, verified as it came) pass. Return: 0,
 * or -1 with @why set. */
static int check_blob(const char *path, char *why, size_t n)
{
	char dir[PATH_MAX], hex[65];
	unsigned char *buf, md[32];
	size_t dl;
	ssize_t rd = 0;
	EVP_MD_CTX *ctx;
	int fd;

	snprintf(dir, sizeof(dir), "%s/blobs/sha256/", msb_home());
	dl = strlen(dir);
	if (strncmp(path, dir, dl) || strlen(path + dl) != 64)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, n, "its blob sha256:%s is %s", path + dl,
			 errno == ENOENT ? "missing" : strerror(errno));
		return -1;
	}
	buf = malloc(1 << 20);
	ctx = EVP_MD_CTX_new();
	if (buf && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1)
		while ((rd = read(fd, buf, 1 << 20)) > 0)
			EVP_DigestUpdate(ctx, buf, (size_t)rd);
	else
		rd = -1;
	close(fd);
	free(buf);
	if (rd == 0)
		EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	if (rd < 0) {
		snprintf(why, n, "its blob sha256:%s cannot be read",
			 path + dl);
		return -1;
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strcmp(hex, path + dl)) {
		unlink(path);
		snprintf(why, n, "its blob sha256:%s is damaged too (it "
			 "hashes to sha256:%.12s...; removed)", path + dl, hex);
		return -1;
	}
	return 0;
}

/* shown() - a disk's name as a user knows it: "sha256:" and 12 digits of
 * its layer's digest, or a merged disk's name. */
static void shown(const char *name, char *buf, size_t n)
{
	if (strlen(name) == 64)
		snprintf(buf, n, "sha256:%.12s", name);
	else
		snprintf(buf, n, "%.13s (merged)", name);
}

int msb_layer_repair(const char *const *blobs, const char *const *diff_ids,
		     unsigned nb, const char *name, uint64_t recorded,
		     const char *why, const char *image, msb_error *err)
{
	char dir[PATH_MAX], out[PATH_MAX], now[200], bad[300], nm[40];
	int lock, r = 0;

	msb_layer_path(name, out, sizeof(out));
	shown(name, nm, sizeof(nm));
	/* One repair at a time in a store: another msb that found the same
	 * damage may be making it now, and this one then finds it whole. */
	snprintf(dir, sizeof(dir), "%s/layers", msb_home());
	lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock >= 0)
		while (flock(lock, LOCK_EX) < 0 && errno == EINTR)
			;
	if (msb_layer_whole(out, recorded, now, sizeof(now)))
		goto out;
	for (unsigned i = 0; i < nb && r == 0; i++)
		if (check_blob(blobs[i], bad, sizeof(bad)) < 0)
			r = image ? msb_fail(err, MSB_E_DAMAGED,
					     "layer %s of %s is damaged (%s) "
					     "and cannot be made again here: "
					     "%s; run 'msb pull %s' again",
					     nm, image, why, bad, image) :
				    msb_fail(err, MSB_E_DAMAGED,
					     "layer %s is damaged (%s) and "
					     "cannot be made again here: %s; "
					     "pull its image again",
					     nm, why, bad);
	if (r == 0)
		r = convert_any(blobs, diff_ids, nb, name, err);
	if (r == 0)
		fprintf(stderr, "msb: layer %s was damaged (%s): converted "
			"again from its blob%s\n", nm, why, nb > 1 ? "s" : "");
out:
	if (lock >= 0)
		close(lock);
	return r;
}

int msb_image_diff_ids(json_object *cfg, unsigned n, const char **out,
		       msb_error *err)
{
	json_object *rootfs, *ids;
	size_t have = 0;

	if (json_object_object_get_ex(cfg, "rootfs", &rootfs) &&
	    json_object_object_get_ex(rootfs, "diff_ids", &ids) &&
	    json_object_is_type(ids, json_type_array))
		have = json_object_array_length(ids);
	if (have != n)
		return msb_fail(err, -EPROTO,
				"the image config lists %zu diff_ids for %u "
				"layers: the image is broken",
				have, n);
	for (unsigned i = 0; i < n; i++) {
		out[i] = json_object_get_string(
			json_object_array_get_idx(ids, i));
		if (!out[i] || !msb_digest_valid(out[i]))
			return msb_fail(err, -EPROTO,
					"the image config has a bad diff_id "
					"for layer %u",
					i + 1);
	}
	return 0;
}

/* merged_name() - "m" + the sha256 of the merged layers' digests: a name no
 * blob has, the same for the same layers whichever image asks. */
static void merged_name(const char *const *blobs, unsigned n, char *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char h[32];

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (unsigned i = 0; i < n; i++) {
		EVP_DigestUpdate(md, blobs[i], strlen(blobs[i]));
		EVP_DigestUpdate(md, "\n", 1);
	}
	EVP_DigestFinal_ex(md, h, NULL);
	EVP_MD_CTX_free(md);
	out[0] = 'm';
	for (int i = 0; i < 32; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", h[i]);
}

int msb_image_disk_of(const char *const *blobs, unsigned n, unsigned max,
		      const char *name, unsigned *first, unsigned *count)
{
	unsigned single = n > max ? max - 1 : n;
	char m[80];

	if (!max || !n)
		return 0;
	for (unsigned i = 0; i < single; i++)
		if (!strcmp(blobs[i] + 7, name)) {
			*first = i;
			*count = 1;
			return 1;
		}
	if (single == n)
		return 0;
	merged_name(blobs + single, n - single, m);
	if (strcmp(m, name))
		return 0;
	*first = single;
	*count = n - single;
	return 1;
}

/* One disk to make: @n layers from @first, named @name. */
struct disk_job {
	unsigned first, n;
	char name[80];
	int r;
	msb_error err;
};

struct disk_jobs {
	pthread_mutex_t lock;
	struct disk_job *job;
	unsigned njobs, next;
	int failed;           /* stop taking jobs */
	char **paths;
	const char *const *ids;
	const char *const *blobs;
	void (*each)(void *ctx, const char *digest, unsigned index);
	void *ctx;
	unsigned *repaired;
};

static void *disk_worker(void *arg)
{
	struct disk_jobs *w = arg;

	for (;;) {
		struct disk_job *j;

		pthread_mutex_lock(&w->lock);
		if (w->failed || w->next >= w->njobs) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		j = &w->job[w->next++];
		pthread_mutex_unlock(&w->lock);
		/* (said only of what is to be made: a pull that converted a
		 * layer as it came, or finds it here, said so once or not;
		 * one found ready is what msb_layer_convert() would find, and
		 * is not checked twice) */
		if (w->each) {
			if (msb_layer_ready(j->name, &w->ids[j->first], j->n)) {
				j->r = 0;
				continue;
			}
			pthread_mutex_lock(&w->lock);
			w->each(w->ctx, j->n == 1 ? w->blobs[j->first] : NULL,
				j->first);
			pthread_mutex_unlock(&w->lock);
		}
		j->r = msb_layer_convert((const char *const *)&w->paths[j->first],
					 &w->ids[j->first], j->n, j->name,
					 w->repaired, &j->err);
		if (j->r < 0) {
			pthread_mutex_lock(&w->lock);
			w->failed = 1;
			pthread_mutex_unlock(&w->lock);
		}
	}
}

/* Each conversion is a helper process doing mostly file system work and
 * compression: one per CPU, at most this many. */
#define CONVERT_THREADS 4

int msb_image_disks(const char *const *blobs, const char *const *ids,
		    unsigned n, unsigned max, json_object *disks,
		    void (*each)(void *ctx, const char *digest, unsigned index),
		    void *ctx, unsigned *repaired, msb_error *err)
{
	unsigned single = n > max ? max - 1 : n, started = 0, nt;
	char *paths[MSB_IMAGE_MAX_LAYERS] = { 0 };
	struct disk_job job[MSB_IMAGE_MAX_LAYERS];
	struct disk_jobs w = { .job = job, .paths = paths, .ids = ids,
			       .blobs = blobs, .each = each, .ctx = ctx,
			       .repaired = repaired };
	pthread_t t[CONVERT_THREADS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r = 0;

	if (!max || n > MSB_IMAGE_MAX_LAYERS)
		return msb_fail(err, -E2BIG, "cannot make %u layers into %u "
				"disks", n, max);
	for (unsigned i = 0; i < n && r == 0; i++) {
		paths[i] = malloc(PATH_MAX);
		if (!paths[i])
			r = msb_fail(err, -ENOMEM, "out of memory");
		else
			msb_blob_path(blobs[i], paths[i], PATH_MAX);
	}
	for (unsigned i = 0; i < single; i++)
		job[w.njobs++] = (struct disk_job){ .first = i, .n = 1 };
	for (unsigned i = 0; i < single; i++)
		snprintf(job[i].name, sizeof(job[i].name), "%s", blobs[i] + 7);
	if (single < n) {
		job[w.njobs] = (struct disk_job){ .first = single,
						  .n = n - single };
		merged_name(blobs + single, n - single, job[w.njobs++].name);
	}
	nt = cpus < 1 ? 1 : cpus > CONVERT_THREADS ? CONVERT_THREADS :
						     (unsigned)cpus;
	if (nt > w.njobs)
		nt = w.njobs;
	if (r == 0) {
		pthread_mutex_init(&w.lock, NULL);
		for (unsigned i = 0; i < nt; i++)
			if (pthread_create(&t[i], NULL, disk_worker, &w) == 0)
				started++;
		if (!started)
			disk_worker(&w);
		for (unsigned i = 0; i < started; i++)
			pthread_join(t[i], NULL);
		pthread_mutex_destroy(&w.lock);
		/* the first failure, in layer order */
		for (unsigned i = 0; i < w.njobs && r == 0; i++)
			if (job[i].r < 0) {
				r = job[i].r;
				if (err)
					*err = job[i].err;
			}
		for (unsigned i = 0; i < w.njobs && r == 0; i++)
			json_object_array_add(disks,
					      json_object_new_string(job[i].name));
	}
	for (unsigned i = 0; i < n; i++)
		free(paths[i]);
	return r;
}
