/* SPDX-License-Identifier: Apache-2.0 */
/* pull.c - msb pull: an image into the store, or a pushed sandbox into a
 * stopped sandbox (docs/sync.md says how the two are told apart) */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_pull(int argc, char **argv);

const struct verb verb_pull = {
	.name = "pull",
	.summary = "Download an image, or a pushed sandbox, from a registry",
	.fn = cmd_pull,
	.help =
	"Usage: msb pull [OPTIONS] IMAGE|SANDBOX\n"
	"\n"
	"Fetch IMAGE (python:3.12, ghcr.io/org/app:1, host:5000/app@sha256:...)\n"
	"for linux/amd64, verify every blob against its digest, and convert each\n"
	"layer once into a read-only EROFS image. Blobs and layers already in\n"
	"$MSB_HOME are not fetched again.\n"
	"\n"
	"A sandbox pushed with 'msb push' (REGISTRY/REPO[:TAG], or a bare NAME\n"
	"under the remote, 'msb remote') becomes a stopped sandbox with the same\n"
	"files: the image it needs is pulled, only the disk chunks the local\n"
	"copy lacks are fetched, everything is verified, and nothing is left\n"
	"behind if anything fails. 'msb start NAME' boots it. The registry's\n"
	"answer tells which it is: a manifest whose artifactType (or config\n"
	"media type) is microsandbox's sandbox type is a sandbox, anything else\n"
	"an image. A bare NAME is looked for under the remote first, then\n"
	"pulled as an image (Docker Hub's NAME) if the remote has nothing.\n"
	"\n"
	"Options:\n"
	"      --insecure         plain http (always used for localhost and\n"
	"                         127.0.0.0/8 registries)\n"
	"  -q, --quiet            no progress, only the result line\n"
	"      --name NAME        a sandbox: its name here (default: the last\n"
	"                         component of its repository)\n"
	"  -f, --force            a sandbox: replace a local one of that name\n"
	"                         that changed since its last push or pull\n"
	"      --trust            a sandbox: keep the settings that reach into\n"
	"                         this host (volumes, secret sources, a network\n"
	"                         plugin, opened address ranges, published\n"
	"                         ports, extra CAs); without it they are\n"
	"                         dropped and named\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "insecure", no_argument, NULL, 'k' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "name", required_argument, NULL, 'n' },
	{ "force", no_argument, NULL, 'f' },
	{ "trust", no_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

struct progress {
	int tty, quiet;
	uint64_t done[128], total[128];
	unsigned count;
	uint64_t last_ms;
};

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
			cli_fmt_mb(d, a, sizeof(a));
			cli_fmt_mb(t, b, sizeof(b));
			fprintf(stderr, "\r\033[Kdownloading %s of %s", a, b);
		} else if (finished) {
			cli_fmt_mb(p->total, a, sizeof(a));
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

/* image_pull() - Return: 0, or the library's code with @err set. */
static int image_pull(const char *ref, int insecure, int quiet, FILE *result,
		      msb_error *err)
{
	struct progress pr = { .tty = isatty(2), .quiet = quiet };
	msb_pull_opts o = { .insecure = insecure, .progress = on_progress,
			    .ctx = &pr };
	msb_image_info info;
	uint64_t t0 = msb_now_ms();
	char sz[32];
	int r = msb_image_pull(ref, &o, &info, err);

	if (pr.tty && !quiet)
		fprintf(stderr, "\r\033[K");
	if (r < 0)
		return r;
	cli_fmt_mb(info.size, sz, sizeof(sz));
	fprintf(result, "pulled %s %.19s %u layers %s %.1fs%s\n", info.reference,
	       info.digest, info.layers, sz,
	       (double)(msb_now_ms() - t0) / 1000.0,
	       info.fetched ? "" : " (up to date)");
	return 0;
}

int cli_pull(const char *ref, int insecure, int quiet, int missing,
	     FILE *result)
{
	msb_error err = { 0 };
	char like[256];

	if (image_pull(ref, insecure, quiet, result, &err) == 0)
		return 0;
	/* Often a mistyped tag: say it is not here, and what is, before
	 * why the pull failed. */
	if (missing && msb_image_similar(ref, like, sizeof(like)))
		cli_err("no image '%s' here (here: %s), and pulling it "
			"failed: %s", ref, like, err.message);
	else if (missing)
		cli_err("no image '%s' here, and pulling it failed: %s", ref,
			err.message);
	else
		cli_err("%s", err.message);
	return 1;
}

static int sandbox_pull(const char *ref, const msb_sync_opts *base, int quiet,
			msb_error *err)
{
	struct cli_sync_display d = { .tty = isatty(2), .quiet = quiet };
	msb_sync_opts o = *base;
	msb_sync_info i;
	uint64_t t0 = msb_now_ms();
	char sz[32];
	int r;

	o.progress = cli_sync_progress;
	o.ctx = &d;
	r = msb_sandbox_pull(ref, &o, &i, err);
	cli_sync_done(&d);
	if (r < 0)
		return r;
	if (i.dropped[0])
		cli_err("%s: dropped from its configuration: %s (pull with "
			"--trust to keep what reaches into this host)",
			i.name, i.dropped);
	cli_fmt_mb(i.bytes, sz, sizeof(sz));
	printf("pulled %s from %s %.19s %u chunks, %u fetched (%s), %u "
	       "reused %.1fs%s\n",
	       i.name, i.reference, i.digest, i.chunks, i.transferred, sz,
	       i.reused, (double)(msb_now_ms() - t0) / 1000.0,
	       i.up_to_date ? " (up to date)" : "");
	return 0;
}

static int cmd_pull(int argc, char **argv)
{
	msb_sync_opts so = { 0 };
	msb_error err = { 0 };
	char remote[512], at_remote[1100];
	const char *arg;
	int c, quiet = 0, sandbox_only = 0, r;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "qfh", opts)) != -1) {
		switch (c) {
		case 'k':
			so.insecure = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'n':
			so.name = optarg;
			sandbox_only = 1;
			break;
		case 'f':
			so.force = 1;
			sandbox_only = 1;
			break;
		case 't':
			so.trust = 1;
			sandbox_only = 1;
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
		return cli_bad_usage(&verb_pull, "give one IMAGE or SANDBOX to "
				     "pull");
	arg = argv[optind];
	if (!strchr(arg, '/') &&
	    msb_remote_get(remote, sizeof(remote), NULL, NULL) == 0) {
		/* a bare name: the remote's first */
		r = sandbox_pull(arg, &so, quiet, &err);
		if (r == MSB_E_KIND && !sandbox_only) {
			snprintf(at_remote, sizeof(at_remote), "%s/%s", remote,
				 arg);
			return cli_pull(at_remote, so.insecure, quiet, 0, stdout);
		}
		if (r == MSB_E_IMAGE_NOT_FOUND && !sandbox_only)
			return cli_pull(arg, so.insecure, quiet, 0, stdout);
	} else if (sandbox_only) {
		r = sandbox_pull(arg, &so, quiet, &err);
	} else {
		r = image_pull(arg, so.insecure, quiet, stdout, &err);
		if (r == MSB_E_KIND)
			r = sandbox_pull(arg, &so, quiet, &err);
	}
	if (r < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	return 0;
}
