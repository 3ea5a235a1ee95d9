/* SPDX-License-Identifier: Apache-2.0 */
/* load.c - msb load: an OCI image layout or a `docker save` archive into
 * the store */

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_load(int argc, char **argv);

const struct verb verb_load = {
	.name = "load",
	.summary = "Load an image from an OCI layout or a docker save archive",
	.fn = cmd_load,
	.help =
	"Usage: msb load [OPTIONS] [PATH]\n"
	"\n"
	"Load the image in PATH: an OCI image layout (a directory, or a tar of\n"
	"one, as 'msb save' and 'skopeo copy ... oci-archive:' write) or a\n"
	"'docker save' archive. Without PATH (or with '-'), a tar is read from\n"
	"stdin. Every blob is checked against its digest before anything is\n"
	"stored; a corrupt or tampered archive is refused and leaves nothing.\n"
	"The layers are converted as 'msb pull' does, each shown on stderr as\n"
	"it is.\n"
	"\n"
	"Options:\n"
	"  -i, --input PATH       the archive or layout (same as PATH)\n"
	"  -t, --tag NAME         name the image NAME (default: the name the\n"
	"                         archive gives it)\n"
	"  -q, --quiet            no progress; print only the image's name\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "tag", required_argument, NULL, 't' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_load(int argc, char **argv)
{
	struct cli_image_display d = { .tty = isatty(2) };
	msb_load_opts o = { 0 };
	msb_image_info info;
	msb_error err = { 0 };
	const char *path = NULL;
	uint64_t t0 = msb_now_ms();
	int c, r, quiet = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "i:t:qh", opts)) != -1) {
		switch (c) {
		case 'i':
			path = optarg;
			break;
		case 't':
			o.tag = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			cli_usage(&verb_load, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_load, argv, opts);
		}
	}
	if (optind < argc && !path)
		path = argv[optind++];
	if (optind != argc)
		return cli_bad_usage(&verb_load, "give one PATH to load");
	if (!path)
		path = "-";
	if (!strcmp(path, "-") && isatty(0))
		return cli_bad_usage(&verb_load, "give a PATH, or pipe a tar "
				     "into msb load");
	d.quiet = quiet;
	o.progress = cli_image_progress;
	o.ctx = &d;
	r = msb_image_load(path, &o, &info, &err);
	if (d.tty && !quiet)
		fprintf(stderr, "\r\033[K");
	if (r < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	if (quiet)
		printf("%s\n", info.reference);
	else
		printf("loaded %s %.19s %u layers %.1fs%s\n", info.reference,
		       info.digest, info.layers,
		       (double)(msb_now_ms() - t0) / 1000.0,
		       info.fetched ? "" : " (up to date)");
	return 0;
}
