/* SPDX-License-Identifier: Apache-2.0 */
/* cp.c - msb cp: copy files and directories between the host and a sandbox */

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_cp(int argc, char **argv);

const struct verb verb_cp = {
	.name = "cp",
	.summary = "Copy files between the host and a sandbox",
	.fn = cmd_cp,
	.help =
	"Usage: msb cp [OPTIONS] NAME:GUEST_PATH HOST_PATH|-\n"
	"       msb cp [OPTIONS] HOST_PATH|- NAME:GUEST_PATH\n"
	"\n"
	"Copy a file, a directory (with everything in it) or a symlink between\n"
	"the host and the running sandbox NAME, as 'docker cp' does: a file\n"
	"copied to an existing directory lands in it under its own name; a\n"
	"directory copied to a path that does not exist becomes that path, and\n"
	"to an existing directory lands inside it (only its contents when the\n"
	"source ends in '/.'). Modes and symlinks are kept; sockets, fifos and\n"
	"devices are skipped. In the guest, files are read and written as the\n"
	"user exec uses (the image's, or root), relative paths start at the\n"
	"sandbox's working directory, and the guest's permissions apply.\n"
	"'-' is standard input or output: the bytes of one file.\n"
	"\n"
	"Data streams through the sandbox's agent with flow control: files\n"
	"larger than RAM copy in bounded memory. On a terminal, big files show\n"
	"their progress.\n"
	"\n"
	"Options:\n"
	"  -u, --user USER        the guest user: name, uid or uid:gid\n"
	"  -q, --quiet            no progress\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "user", required_argument, NULL, 'u' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* Progress of the file being copied, on stderr when it is a terminal. */
struct bar {
	uint64_t t0, last;
	char path[256];
	int shown;
};

static void fmt_bytes(uint64_t n, char *buf, size_t len)
{
	if (n >= 1 << 30)
		snprintf(buf, len, "%.1f GiB", (double)n / (1 << 30));
	else if (n >= 1 << 20)
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	else
		snprintf(buf, len, "%llu B", (unsigned long long)n);
}

static void on_progress(void *ctx, const char *path, uint64_t done,
			uint64_t total)
{
	struct bar *b = ctx;
	uint64_t now = msb_now_ms();
	char d[32], t[32];
	double secs;

	if (strncmp(b->path, path, sizeof(b->path) - 1)) {
		if (b->shown)
			fputc('\n', stderr);
		snprintf(b->path, sizeof(b->path), "%s", path);
		b->t0 = now;
		b->last = 0;
		b->shown = 0;
	}
	/* only big files, a few times a second, and their last step */
	if (total < (8 << 20) || (now - b->last < 200 && done < total))
		return;
	b->last = now;
	secs = (double)(now - b->t0) / 1000.0;
	fmt_bytes(done, d, sizeof(d));
	fmt_bytes(total, t, sizeof(t));
	fprintf(stderr, "\r\033[K%.60s  %s / %s  %.1f MiB/s", path, d, t,
		secs > 0 ? (double)done / (1 << 20) / secs : 0.0);
	b->shown = 1;
}

/* split() - "NAME:PATH" into its parts when the part before the first
 * ':' is a sandbox name (so "./a:b" and "/x:y" stay host paths). */
static int split(char *arg, char **path)
{
	char *colon = strchr(arg, ':');

	if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
		return 0;
	*colon = '\0';
	if (msb_name_valid(arg, NULL) < 0) {
		*colon = ':';
		return 0;
	}
	*path = colon + 1;
	return 1;
}

static int cmd_cp(int argc, char **argv)
{
	msb_error err = { 0 };
	msb_copy_opts co = { 0 };
	msb_file_opts fo = { 0 };
	struct bar bar = { 0 };
	char *src, *dst, *gsrc = NULL, *gdst = NULL;
	const char *name;
	msb_sandbox *sb;
	int c, quiet = 0, r;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "u:qh", opts)) != -1) {
		switch (c) {
		case 'u':
			co.user = fo.user = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			cli_usage(&verb_cp, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_cp, argv, opts);
		}
	}
	if (argc - optind != 2)
		return cli_bad_usage(&verb_cp, "cp takes a source and a "
				     "destination");
	src = argv[optind];
	dst = argv[optind + 1];
	split(src, &gsrc);
	split(dst, &gdst);
	if (!!gsrc == !!gdst)
		return cli_bad_usage(&verb_cp,
				     "exactly one side must be NAME:PATH, a "
				     "path in a sandbox");
	if ((gsrc && !*gsrc) || (gdst && !*gdst))
		return cli_bad_usage(&verb_cp, "NAME: needs a guest path after "
				     "the ':'");
	name = gsrc ? src : dst;
	if (msb_sandbox_open(name, &sb, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	if (!quiet && isatty(2)) {
		co.progress = on_progress;
		co.ctx = &bar;
	}
	if (gsrc && !strcmp(dst, "-"))
		r = msb_file_read_fd(sb, gsrc, 1, &fo, NULL, &err);
	else if (gdst && !strcmp(src, "-"))
		r = msb_file_write_fd(sb, gdst, 0, &fo, NULL, &err);
	else if (gsrc)
		r = msb_copy_out(sb, gsrc, dst, &co, &err);
	else
		r = msb_copy_in(sb, src, gdst, &co, &err);
	if (bar.shown)
		fputc('\n', stderr);
	msb_sandbox_close(sb);
	if (r < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	return 0;
}
