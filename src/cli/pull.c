/* SPDX-License-Identifier: Apache-2.0 */
/* pull.c - msb pull: an image into the store, a pushed sandbox into a
 * stopped sandbox, a pushed snapshot into a snapshot (docs/sync.md says
 * how they are told apart) */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"
#include "util.h"

static int cmd_pull(int argc, char **argv);

const struct verb verb_pull = {
	.name = "pull",
	.summary = "Download an image, or a pushed sandbox or snapshot",
	.fn = cmd_pull,
	.help =
	"Usage: msb pull [OPTIONS] IMAGE|SANDBOX|SNAPSHOT\n"
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
	"behind if anything fails. 'msb start NAME' boots it. A snapshot pushed\n"
	"with 'msb push --snapshot' becomes a snapshot here, which 'msb restore'\n"
	"resumes with its processes running. The registry's answer tells which\n"
	"it is: a manifest whose artifactType (or config media type) is\n"
	"microsandbox's sandbox or snapshot type is one, anything else an image.\n"
	"A bare NAME is looked for under the remote first, then pulled as an\n"
	"image (Docker Hub's NAME) if the remote has nothing.\n"
	"\n"
	"Options:\n"
	"      --insecure         plain http (always used for localhost and\n"
	"                         127.0.0.0/8 registries)\n"
	"  -q, --quiet            no progress, only the result line\n"
	"      --format FORMAT    table (default) or json\n"
	"      --name NAME        a sandbox or snapshot: its name here (default:\n"
	"                         the last component of its repository)\n"
	"  -f, --force            a sandbox: replace a local one of that name\n"
	"                         that changed since its last push or pull; a\n"
	"                         snapshot: replace one of that name\n"
	"      --trust            a sandbox or snapshot: keep the settings that\n"
	"                         reach into this host (volumes, secret\n"
	"                         sources, a network plugin, opened address\n"
	"                         ranges, published ports, extra CAs); without\n"
	"                         it they are dropped and named\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256 };

static const struct option opts[] = {
	{ "insecure", no_argument, NULL, 'k' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "name", required_argument, NULL, 'n' },
	{ "force", no_argument, NULL, 'f' },
	{ "trust", no_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

void cli_image_progress(void *ctx, const msb_pull_progress *p)
{
	struct cli_image_display *pr = ctx;
	char a[32], b[32];

	/* (the library's line on stderr has said which and why) */
	if (!strcmp(p->phase, "repaired"))
		pr->repaired = 1;
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
static int image_pull(const char *ref, int insecure, int quiet, int json,
		      FILE *result, msb_error *err)
{
	struct cli_image_display pr = { .tty = isatty(2), .quiet = quiet };
	msb_pull_opts o = { .insecure = insecure,
			    .progress = cli_image_progress, .ctx = &pr };
	msb_image_info info;
	uint64_t t0 = msb_now_ms();
	char sz[32];
	int r = msb_image_pull(ref, &o, &info, err);

	if (pr.tty && !quiet)
		fprintf(stderr, "\r\033[K");
	if (r < 0)
		return r;
	if (json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "kind", json_object_new_string("image"));
		json_object_object_add(j, "reference",
				       json_object_new_string(info.reference));
		json_object_object_add(j, "digest",
				       json_object_new_string(info.digest));
		json_object_object_add(j, "layers",
				       json_object_new_int64(info.layers));
		json_object_object_add(j, "size",
				       json_object_new_int64((int64_t)info.size));
		json_object_object_add(j, "up_to_date",
				       json_object_new_boolean(!info.fetched &&
							       !pr.repaired));
		json_object_object_add(j, "seconds",
				       msb_jdouble((double)(msb_now_ms() - t0) /
							   1000.0,
						   3));
		cli_print_json(j, result);
		return 0;
	}
	cli_fmt_mb(info.size, sz, sizeof(sz));
	fprintf(result, "pulled %s %.19s %u layers %s %.1fs%s\n", info.reference,
	       info.digest, info.layers, sz,
	       (double)(msb_now_ms() - t0) / 1000.0,
	       info.fetched ? "" : pr.repaired ? " (repaired)" :
						  " (up to date)");
	return 0;
}

int cli_pull(const char *ref, int insecure, int quiet, int missing,
	     FILE *result)
{
	msb_error err = { 0 };
	char like[256];

	if (image_pull(ref, insecure, quiet, 0, result, &err) == 0)
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

/* sync_pull() - a sandbox (or with @snapshot a snapshot) from @ref. */
static int sync_pull(const char *ref, int snapshot, const msb_sync_opts *base,
		     int quiet, int json, msb_sync_info *i, msb_error *err)
{
	struct cli_sync_display d = { .tty = isatty(2), .quiet = quiet };
	msb_sync_opts o = *base;
	uint64_t t0 = msb_now_ms();
	char sz[32];
	int r;

	o.progress = cli_sync_progress;
	o.ctx = &d;
	r = snapshot ? msb_snapshot_pull(ref, &o, i, err) :
		       msb_sandbox_pull(ref, &o, i, err);
	cli_sync_done(&d);
	if (r < 0)
		return r;
	if (i->dropped[0])
		cli_err("%s: dropped from its configuration: %s (pull with "
			"--trust to keep what reaches into this host)",
			i->name, i->dropped);
	if (json) {
		cli_print_sync_json(i, snapshot, t0, stdout);
		return 0;
	}
	cli_fmt_mb(i->bytes, sz, sizeof(sz));
	printf("pulled %s%s from %s %.19s %u chunks, %u fetched (%s), %u "
	       "reused %.1fs%s\n",
	       snapshot ? "snapshot " : "", i->name, i->reference, i->digest,
	       i->chunks, i->transferred, sz, i->reused,
	       (double)(msb_now_ms() - t0) / 1000.0,
	       i->up_to_date ? " (up to date)" : "");
	return 0;
}

/* artifact_pull() - a sandbox, else the snapshot @ref turns out to be;
 * MSB_E_KIND when it is an image. */
static int artifact_pull(const char *ref, const msb_sync_opts *o, int quiet,
			 int json, msb_sync_info *i, msb_error *err)
{
	int r = sync_pull(ref, 0, o, quiet, json, i, err);

	if (r == MSB_E_KIND)
		r = sync_pull(ref, 1, o, quiet, json, i, err);
	return r;
}

static int cmd_pull(int argc, char **argv)
{
	msb_sync_opts so = { 0 };
	msb_sync_info i;
	msb_error err = { 0 };
	char remote[512], at_remote[1100];
	const char *arg;
	int c, quiet = 0, sync_only = 0, json = 0, r;

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
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_pull,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'n':
			so.name = optarg;
			sync_only = 1;
			break;
		case 'f':
			so.force = 1;
			sync_only = 1;
			break;
		case 't':
			so.trust = 1;
			sync_only = 1;
			break;
		case 'h':
			cli_usage(&verb_pull, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_pull, argv, opts);
		}
	}
	if (optind != argc - 1)
		return cli_bad_usage(&verb_pull, "give one IMAGE, SANDBOX or "
				     "SNAPSHOT to pull");
	arg = argv[optind];
	memset(&i, 0, sizeof(i));
	if (!strchr(arg, '/') &&
	    msb_remote_get(remote, sizeof(remote), NULL, NULL) == 0) {
		/* a bare name: the remote's first */
		r = artifact_pull(arg, &so, quiet, json, &i, &err);
		if (r == MSB_E_KIND && !sync_only) {
			snprintf(at_remote, sizeof(at_remote), "%s/%s", remote,
				 arg);
			r = image_pull(at_remote, so.insecure, quiet, json,
				       stdout, &err);
		} else if (r == MSB_E_IMAGE_NOT_FOUND && !sync_only) {
			r = image_pull(arg, so.insecure, quiet, json, stdout,
				       &err);
		}
	} else if (sync_only) {
		r = artifact_pull(arg, &so, quiet, json, &i, &err);
	} else {
		r = image_pull(arg, so.insecure, quiet, json, stdout, &err);
		if (r == MSB_E_KIND)
			r = artifact_pull(arg, &so, quiet, json, &i, &err);
	}
	if (r < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	return 0;
}
