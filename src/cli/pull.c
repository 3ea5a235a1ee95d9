/* SPDX-License-Identifier: Apache-2.0 */
/* pull.c - msb pull: fetch an image from its registry into the store */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_pull(int argc, char **argv);

const struct verb verb_pull = {
	.name = "pull",
	.summary = "Download an image from a registry",
	.fn = cmd_pull,
	.help =
	"Usage: msb pull [OPTIONS] IMAGE\n"
	"\n"
	"Fetch IMAGE (python:3.12, ghcr.io/org/app:1, host:5000/app@sha256:...)\n"
	"for linux/amd64, verify every blob against its digest, and convert each\n"
	"layer once into a read-only EROFS image. Blobs and layers already in\n"
	"$MSB_HOME are not fetched again.\n"
	"\n"
	"Options:\n"
	"      --insecure         plain http (always used for localhost and\n"
	"                         127.0.0.0/8 registries)\n"
	"  -q, --quiet            no progress, only the result line\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "insecure", no_argument, NULL, 'k' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

struct progress {
	int tty, quiet;
	uint64_t done[128], total[128];
	unsigned count;
	uint64_t last_ms;
};

static void fmt_bytes(uint64_t b, char *buf, size_t n)
{
	if (b >= 1000000)
		snprintf(buf, n, "%.1f MB", (double)b / 1e6);
	else
		snprintf(buf, n, "%.1f kB", (double)b / 1e3);
}

static void on_progress(void *ctx, const msb_pull_progress *p)
{
	struct progress *pr = ctx;
	char a[32], b[32];

	if (pr->quiet)
		return;
	pr->count = p->count;
	if (!strcmp(p->phase, "resolving")) {
		if (!pr->tty)
			fprintf(stderr, "resolving\n");
		return;
	}
	if (!strcmp(p->phase, "downloading") && p->index < 128) {
		int finished = p->done == p->total && pr->done[p->index] != p->done;

		pr->done[p->index] = p->done;
		pr->total[p->index] = p->total;
		if (pr->tty) {
			uint64_t d = 0, t = 0, now = msb_now_ms();

			if (now - pr->last_ms < 100 && !finished)
				return;
			pr->last_ms = now;
			for (unsigned i = 0; i < 128 && i < pr->count; i++) {
				d += pr->done[i];
				t += pr->total[i];
			}
			fmt_bytes(d, a, sizeof(a));
			fmt_bytes(t, b, sizeof(b));
			fprintf(stderr, "\r\033[Kdownloading %s of %s", a, b);
		} else if (finished) {
			fmt_bytes(p->total, a, sizeof(a));
			fprintf(stderr, "layer %u/%u %.19s downloaded (%s)\n",
				p->index + 1, p->count, p->digest, a);
		}
		return;
	}
	if (!strcmp(p->phase, "converting")) {
		if (pr->tty)
			fprintf(stderr, "\r\033[Kconverting layer %u/%u", p->index + 1,
				p->count);
		else
			fprintf(stderr, "layer %u/%u converting\n", p->index + 1,
				p->count);
	}
}

int cli_pull(const char *ref, int insecure, int quiet, int missing,
	     FILE *result)
{
	struct progress pr = { .tty = isatty(2), .quiet = quiet };
	msb_pull_opts o = { .insecure = insecure, .progress = on_progress,
			    .ctx = &pr };
	msb_image_info info;
	msb_error err = { 0 };
	uint64_t t0 = msb_now_ms();
	char sz[32];

	if (msb_image_pull(ref, &o, &info, &err) < 0) {
		char like[256];

		if (pr.tty && !quiet)
			fprintf(stderr, "\r\033[K");
		/* Often a mistyped tag: say it is not here, and what is,
		 * before why the pull failed. */
		if (missing && msb_image_similar(ref, like, sizeof(like)))
			cli_err("no image '%s' here (here: %s), and pulling it "
				"failed: %s", ref, like, err.message);
		else if (missing)
			cli_err("no image '%s' here, and pulling it failed: %s",
				ref, err.message);
		else
			cli_err("%s", err.message);
		return 1;
	}
	if (pr.tty && !quiet)
		fprintf(stderr, "\r\033[K");
	fmt_bytes(info.size, sz, sizeof(sz));
	fprintf(result, "pulled %s %.19s %u layers %s %.1fs%s\n", info.reference,
	       info.digest, info.layers, sz,
	       (double)(msb_now_ms() - t0) / 1000.0,
	       info.fetched ? "" : " (up to date)");
	return 0;
}

static int cmd_pull(int argc, char **argv)
{
	int c, insecure = 0, quiet = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case 'k':
			insecure = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			cli_usage(&verb_pull, stdout);
			return 0;
		default:
			return cli_bad_usage(&verb_pull,
					     "unknown or incomplete option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_bad_usage(&verb_pull, "give one IMAGE to pull");
	return cli_pull(argv[optind], insecure, quiet, 0, stdout);
}
