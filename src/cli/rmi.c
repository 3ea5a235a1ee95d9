/* SPDX-License-Identifier: Apache-2.0 */
/* rmi.c - msb rmi: remove images and what only they used */

#include <getopt.h>

#include "cli.h"

static int cmd_rmi(int argc, char **argv);

const struct verb verb_rmi = {
	.name = "rmi",
	.summary = "Remove images",
	.fn = cmd_rmi,
	.help =
	"Usage: msb rmi IMAGE...\n"
	"\n"
	"Forget each image and delete the blobs and layers that no other image\n"
	"and no sandbox uses (a sandbox keeps its layers until it is removed).\n"
	"\n"
	"Options:\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_rmi(int argc, char **argv)
{
	int c, rc = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_usage(&verb_rmi, stdout);
			return 0;
		}
		return cli_bad_usage(&verb_rmi, "unknown or incomplete option '%s'",
				     argv[optind - 1]);
	}
	if (optind >= argc)
		return cli_bad_usage(&verb_rmi, "missing IMAGE");
	for (int i = optind; i < argc; i++) {
		msb_error err = { 0 };

		if (msb_image_remove(argv[i], &err) < 0) {
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		printf("removed %s\n", argv[i]);
	}
	return rc;
}
