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
	"      --format json      the only format (accepted for scripts that\n"
	"                         give it to every command)\n"
	"  -h, --help             show this help\n",
};

static int cmd_inspect(int argc, char **argv)
{
	msb_error err = { 0 };
	char *json;
	int c, as_json;

	c = cli_help_or_format(&verb_inspect, argc, argv, 1, &as_json);
	if (c >= 0)
		return c;
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
