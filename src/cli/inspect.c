/* SPDX-License-Identifier: Apache-2.0 */
/* inspect.c - msb inspect: a sandbox's full state as JSON */

#include <getopt.h>
#include <stdlib.h>

#include "cli.h"

static int cmd_inspect(int argc, char **argv);

const struct verb verb_inspect = {
	.name = "inspect",
	.summary = "Show a sandbox's configuration and state as JSON",
	.fn = cmd_inspect,
	.help =
	"Usage: msb inspect NAME\n"
	"\n"
	"Print NAME's configuration, status, boot timings and paths as JSON.\n"
	"\n"
	"Options:\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_inspect(int argc, char **argv)
{
	msb_error err = { 0 };
	char *json;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_usage(&verb_inspect, stdout);
			return 0;
		}
		return cli_bad_usage(&verb_inspect,
				     "unknown or incomplete option '%s'",
				     argv[optind - 1]);
	}
	if (optind + 1 != argc)
		return cli_bad_usage(&verb_inspect, "expected exactly one NAME");
	if (msb_inspect_json(argv[optind], &json, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	puts(json);
	free(json);
	return 0;
}
