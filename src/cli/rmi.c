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

static int cmd_rmi(int argc, char **argv)
{
	int c, rc = 0;

	c = cli_only_help(&verb_rmi, argc, argv);
	if (c >= 0)
		return c;
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
