/* SPDX-License-Identifier: Apache-2.0 */
/* rm.c - msb rm: delete sandboxes and their disks */

#include <getopt.h>

#include <json-c/json.h>

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
	"      --format FORMAT    table (default: a line each) or json (an\n"
	"                         array once all are done: name, removed,\n"
	"                         error)\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256 };

static const struct option opts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_rm(int argc, char **argv)
{
	json_object *all = NULL;
	int c, rc = 0, force = 0, json = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "fh", opts)) != -1) {
		switch (c) {
		case 'f':
			force = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_rm,
					"invalid --format '%s': use table or json",
					optarg);
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
	if (json)
		all = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		msb_error err = { 0 };
		int r = msb_sandbox_remove(argv[i], force, &err);
		json_object *o = all ? cli_json_result(all, argv[i]) : NULL;

		if (o) {
			json_object_object_add(o, "removed",
					       json_object_new_boolean(r >= 0));
			json_object_object_add(o, "error", r < 0 ?
				json_object_new_string(err.message) : NULL);
		}
		if (r < 0) {
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		if (!o)
			printf("removed %s\n", argv[i]);
	}
	if (all)
		cli_print_json(all, stdout);
	return rc;
}
