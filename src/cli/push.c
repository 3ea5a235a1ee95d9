/* SPDX-License-Identifier: Apache-2.0 */
/* push.c - msb push: a sandbox to a registry (docs/sync.md); and the
 * progress display push, pull, stop and run share for sync */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"
#include "util.h"

static int cmd_push(int argc, char **argv);

const struct verb verb_push = {
	.name = "push",
	.summary = "Push a sandbox or a snapshot to a registry",
	.fn = cmd_push,
	.help =
	"Usage: msb push [OPTIONS] NAME [REF]\n"
	"       msb push [OPTIONS] --snapshot SNAP [REF]\n"
	"\n"
	"Send sandbox NAME to an OCI registry as an artifact: its writable\n"
	"disk in content-addressed chunks and its configuration (the image by\n"
	"digest, cpus, memory, env, volumes, network policy, secret sources:\n"
	"never a secret's value). Chunks the registry already has are not sent\n"
	"again, so a push after a small change sends little, and a push that\n"
	"was interrupted finishes when run again. 'msb pull' on any machine\n"
	"makes it a sandbox again. A running sandbox is pushed as it is at one\n"
	"instant: its filesystems synced, the guest paused while its disk is\n"
	"copied (well under a second for most disks), then running on.\n"
	"\n"
	"With --snapshot, snapshot SNAP ('msb snapshot') goes instead: its\n"
	"disk and, for a snapshot of a running sandbox, the memory and device\n"
	"state, so that 'msb pull' and 'msb restore' on another machine resume\n"
	"it with its processes running.\n"
	"\n"
	"REF is REGISTRY/REPOSITORY[:TAG], or a TAG of the default place,\n"
	"which is where NAME was last pushed or pulled, else REMOTE/NAME:latest\n"
	"('msb remote set').\n"
	"\n"
	"Options:\n"
	"      --snapshot SNAP    push snapshot SNAP, not a sandbox\n"
	"  -f, --force            replace what another machine pushed to that\n"
	"                         tag since this sandbox's last push or pull\n"
	"      --insecure         plain http to a registry not on loopback\n"
	"  -q, --quiet            no progress, only the result line\n"
	"      --format FORMAT    table (default) or json\n"
	"  -h, --help             show this help\n",
};

enum { OPT_SNAPSHOT = 256, OPT_FORMAT };

static const struct option opts[] = {
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "force", no_argument, NULL, 'f' },
	{ "insecure", no_argument, NULL, 'k' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

void cli_fmt_mb(uint64_t b, char *buf, size_t n)
{
	if (b >= 1000000)
		snprintf(buf, n, "%.1f MB", (double)b / 1e6);
	else
		snprintf(buf, n, "%.1f kB", (double)b / 1e3);
}

/* On a terminal, one line rewritten in place (at most every 100 ms);
 * otherwise a plain line when the phase changes. */
void cli_sync_progress(void *ctx, const msb_sync_progress *p)
{
	struct cli_sync_display *d = ctx;
	char a[32], b[32];
	uint64_t now;

	if (d->quiet)
		return;
	if (!d->tty) {
		char tag[20];

		snprintf(tag, sizeof(tag), "<%s>", p->phase);
		if (strstr(d->seen, tag) ||
		    strlen(d->seen) + strlen(tag) >= sizeof(d->seen))
			return;
		strcat(d->seen, tag);
		if (!strcmp(p->phase, "image"))
			fprintf(stderr, "pulling its image\n");
		else if (!strcmp(p->phase, "resolving"))
			fprintf(stderr, "resolving\n");
		else if (!strcmp(p->phase, "reading"))
			fprintf(stderr, "reading the disk\n");
		else
			fprintf(stderr, "%s %u chunks\n", p->phase,
				p->chunks_total);
		return;
	}
	now = msb_now_ms();
	if (now - d->last_ms < 100 && !strcmp(d->phase, p->phase) &&
	    p->done != p->total)
		return;
	d->last_ms = now;
	snprintf(d->phase, sizeof(d->phase), "%s", p->phase);
	d->shown = 1;
	if (!strcmp(p->phase, "image") && p->image) {
		cli_fmt_mb(p->image->done, a, sizeof(a));
		fprintf(stderr, "\r\033[Kpulling its image: %s %s",
			p->image->phase, p->image->total ? a : "");
		return;
	}
	if (!p->total) {
		fprintf(stderr, "\r\033[K%s", p->phase);
		return;
	}
	cli_fmt_mb(p->done, a, sizeof(a));
	cli_fmt_mb(p->total, b, sizeof(b));
	if (p->chunks_total)
		fprintf(stderr, "\r\033[K%s %s of %s (%u/%u chunks)", p->phase,
			a, b, p->chunks_done, p->chunks_total);
	else
		fprintf(stderr, "\r\033[K%s %s of %s", p->phase, a, b);
}

void cli_sync_done(struct cli_sync_display *d)
{
	if (d->tty && d->shown)
		fprintf(stderr, "\r\033[K");
	d->shown = 0;
}

void cli_print_push(const msb_sync_info *i, int snapshot, uint64_t t0_ms,
		    FILE *f)
{
	char sz[32];

	cli_fmt_mb(i->bytes, sz, sizeof(sz));
	fprintf(f, "pushed %s%s to %s %.19s %u chunks, %u sent (%s) %.1fs%s\n",
		snapshot ? "snapshot " : "", i->name,
		i->reference, i->digest, i->chunks, i->transferred, sz,
		(double)(msb_now_ms() - t0_ms) / 1000.0,
		i->up_to_date ? " (up to date)" : "");
}

json_object *cli_sync_json(const msb_sync_info *i, int snapshot,
			   uint64_t t0_ms)
{
	json_object *o = json_object_new_object(), *d = json_object_new_array();
	char *save = NULL, buf[sizeof(i->dropped)];

	json_object_object_add(o, "kind", json_object_new_string(
						  snapshot ? "snapshot" :
							     "sandbox"));
	json_object_object_add(o, "name", json_object_new_string(i->name));
	json_object_object_add(o, "reference",
			       json_object_new_string(i->reference));
	json_object_object_add(o, "digest", json_object_new_string(i->digest));
	json_object_object_add(o, "parent", i->parent[0] ?
				       json_object_new_string(i->parent) :
				       NULL);
	json_object_object_add(o, "chunks", json_object_new_int64(i->chunks));
	json_object_object_add(o, "transferred",
			       json_object_new_int64(i->transferred));
	json_object_object_add(o, "reused", json_object_new_int64(i->reused));
	json_object_object_add(o, "bytes",
			       json_object_new_int64((int64_t)i->bytes));
	json_object_object_add(o, "disk_bytes",
			       json_object_new_int64((int64_t)i->disk_bytes));
	json_object_object_add(o, "up_to_date",
			       json_object_new_boolean(i->up_to_date));
	snprintf(buf, sizeof(buf), "%s", i->dropped);
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save))
		json_object_array_add(d, json_object_new_string(
						 t + strspn(t, " ")));
	json_object_object_add(o, "dropped", d);
	json_object_object_add(o, "seconds",
			       msb_jdouble((double)(msb_now_ms() - t0_ms) /
						   1000.0,
					   3));
	return o;
}

void cli_print_sync_json(const msb_sync_info *i, int snapshot,
			 uint64_t t0_ms, FILE *f)
{
	cli_print_json(cli_sync_json(i, snapshot, t0_ms), f);
}

static int cmd_push(int argc, char **argv)
{
	struct cli_sync_display d = { .tty = isatty(2) };
	msb_sync_opts o = { .progress = cli_sync_progress, .ctx = &d };
	msb_sync_info info;
	msb_error err = { 0 };
	uint64_t t0 = msb_now_ms();
	const char *snap = NULL, *name;
	int c, json = 0, r;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "fqh", opts)) != -1) {
		switch (c) {
		case OPT_SNAPSHOT:
			snap = optarg;
			break;
		case 'f':
			o.force = 1;
			break;
		case 'k':
			o.insecure = 1;
			break;
		case 'q':
			d.quiet = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_push,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'h':
			cli_usage(&verb_push, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_push, argv, opts);
		}
	}
	if (snap) {
		if (argc - optind > 1)
			return cli_bad_usage(&verb_push, "give --snapshot SNAP "
					     "and at most one REF");
		name = snap;
		if (argc - optind == 1)
			o.ref = argv[optind];
	} else {
		if (optind >= argc || argc - optind > 2)
			return cli_bad_usage(&verb_push, "give a sandbox NAME "
					     "and at most one REF");
		name = argv[optind];
		if (argc - optind == 2)
			o.ref = argv[optind + 1];
	}
	r = snap ? msb_snapshot_push(name, &o, &info, &err) :
		   msb_sandbox_push(name, &o, &info, &err);
	cli_sync_done(&d);
	if (r < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	if (json)
		cli_print_sync_json(&info, snap != NULL, t0, stdout);
	else
		cli_print_push(&info, snap != NULL, t0, stdout);
	return 0;
}
