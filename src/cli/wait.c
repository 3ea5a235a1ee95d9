/* SPDX-License-Identifier: Apache-2.0 */
/* wait.c - msb wait: block until a sandbox's command has ended */

#include <getopt.h>

#include <json-c/json.h>

#include "cli.h"

static int cmd_wait(int argc, char **argv);

const struct verb verb_wait = {
	.name = "wait",
	.summary = "Wait for sandboxes' detached commands to end",
	.fn = cmd_wait,
	.help =
	"Usage: msb wait [--format json] NAME...\n"
	"\n"
	"Wait until each sandbox's detached command (msb run -d -- CMD, or\n"
	"the image's own with msb run -d IMAGE) has ended, and print its exit\n"
	"status (128+N if signal N killed it, 137 if the sandbox stopped\n"
	"first, 126 if it could not start), as 'docker wait' does. A sandbox\n"
	"without one is waited for until it stops (then 0 is printed).\n"
	"\n"
	"Options:\n"
	"      --format FORMAT    table (default: one status a line, as each\n"
	"                         ends) or json (an array once all have:\n"
	"                         name and exit_code, or name and error)\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: 0, or 1 if a sandbox does not exist or failed.\n",
};

static int cmd_wait(int argc, char **argv)
{
	json_object *all = NULL;
	int c, rc = 0, json;

	c = cli_help_or_format(&verb_wait, argc, argv, 0, &json);
	if (c >= 0)
		return c;
	if (optind >= argc)
		return cli_bad_usage(&verb_wait, "missing sandbox NAME");
	if (json)
		all = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		msb_error err = { 0 };
		json_object *o = NULL;
		int status;

		if (json) {
			o = json_object_new_object();
			json_object_object_add(o, "name",
					       json_object_new_string(argv[i]));
			json_object_array_add(all, o);
		}
		if (msb_sandbox_wait(argv[i], 0, &status, &err) < 0) {
			if (o)
				json_object_object_add(
					o, "error",
					json_object_new_string(err.message));
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		if (o) {
			json_object_object_add(o, "exit_code",
					       json_object_new_int(status));
			continue;
		}
		printf("%d\n", status);
		fflush(stdout);
	}
	if (all)
		cli_print_json(all, stdout);
	return rc;
}
