/* SPDX-License-Identifier: Apache-2.0 */
/* rm.c - msb rm: delete sandboxes and their disks */

#include <getopt.h>

#include "cli.h"

static int cmd_rm(int argc, char **argv);

const struct verb verb_rm = {
	.name = "rm",
	.summary = "Remove sandboxes",
	.fn = cmd_rm,
	.help =
	"Usage: msb rm [OPTIONS] NAME...\n"
	"\n"
	"Delete each stopped sandbox, its disk and its logs.\n"
	"\n"
	"Options:\n"
	"  -f, --force            kill running sandboxes first\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_rm(int argc, char **argv)
{
	int c, rc = 0, force = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "fh", opts)) != -1) {
		switch (c) {
		case 'f':
			force = 1;
			break;
		case 'h':
			cli_usage(&verb_rm, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_rm, argv, opts);
		}
	}
	if (optind >= argc)
		return cli_bad_usage(&verb_rm, "missing sandbox NAME");
	for (int i = optind; i < argc; i++) {
		msb_error err = { 0 };

		if (msb_sandbox_remove(argv[i], force, &err) < 0) {
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		printf("removed %s\n", argv[i]);
	}
	return rc;
}
