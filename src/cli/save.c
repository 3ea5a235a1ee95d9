/* SPDX-License-Identifier: Apache-2.0 */
/* save.c - msb save: an image of the store as an OCI layout tar */

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int cmd_save(int argc, char **argv);

const struct verb verb_save = {
	.name = "save",
	.summary = "Write an image to an OCI layout tar",
	.fn = cmd_save,
	.help =
	"Usage: msb save [OPTIONS] IMAGE\n"
	"\n"
	"Write IMAGE as a tar of an OCI image layout (oci-layout, index.json,\n"
	"blobs/sha256/...), its blobs exactly as they are stored, to FILE or\n"
	"to stdout. 'msb load', 'skopeo copy oci-archive:FILE ...' and, with\n"
	"--format docker, 'docker load' read it back.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE      write to FILE (created when complete);\n"
	"                         default: stdout, unless it is a terminal\n"
	"      --format oci|docker\n"
	"                         docker adds the manifest.json 'docker load'\n"
	"                         reads (default: oci)\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "format", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_save(int argc, char **argv)
{
	msb_error err = { 0 };
	const char *out = "-";
	int c, format = MSB_SAVE_OCI;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "o:h", opts)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "oci"))
				format = MSB_SAVE_OCI;
			else if (!strcmp(optarg, "docker") ||
				 !strcmp(optarg, "docker-archive"))
				format = MSB_SAVE_DOCKER;
			else
				return cli_bad_usage(&verb_save, "--format is "
						     "oci or docker, not '%s'",
						     optarg);
			break;
		case 'h':
			cli_usage(&verb_save, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_save, argv, opts);
		}
	}
	if (optind != argc - 1)
		return cli_bad_usage(&verb_save, "give one IMAGE to save");
	if (!strcmp(out, "-") && isatty(1))
		return cli_bad_usage(&verb_save, "refusing to write a tar to a "
				     "terminal: give -o FILE or redirect stdout");
	if (msb_image_save(argv[optind], out, format, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	return 0;
}
