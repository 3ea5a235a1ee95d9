/* SPDX-License-Identifier: Apache-2.0 */
/* start.c - msb start: boot a stopped sandbox again, disk as it was */

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"
#include "util.h"

static int cmd_start(int argc, char **argv);

const struct verb verb_start = {
	.name = "start",
	.summary = "Boot stopped sandboxes again",
	.fn = cmd_start,
	.help =
	"Usage: msb start NAME...\n"
	"\n"
	"Boot each stopped (or failed) sandbox again with the disk it had.\n"
	"One already running is left as it is, and that is no error (as\n"
	"with 'docker start').\n"
	"\n"
	"Inside a sandbox, 'msb start NAME --image IMAGE' starts a peer\n"
	"sandbox instead (docs/spawn.md); here, on the host, 'msb run'\n"
	"makes new sandboxes. A peer holding secrets given at its creation\n"
	"cannot be started again: its parent starts a new one.\n"
	"\n"
	"Options:\n"
	"      --format FORMAT    table (default: a line each) or json (an\n"
	"                         array once all are done: name, started\n"
	"                         (false if it was running), seconds, error)\n"
	"  -h, --help             show this help\n",
};

static int cmd_start(int argc, char **argv)
{
	json_object *all = NULL;
	int c, rc = 0, json;

	/* The peer verb's options, given on the host. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strncmp(argv[i], "--image", 7) ||
		    !strcmp(argv[i], "--net-deny-all") ||
		    !strncmp(argv[i], "--secret-env", 12)) {
			cli_err("not inside a microsandbox sandbox: 'msb start "
				"NAME %s' starts a peer from inside one "
				"(docs/spawn.md); on the host, 'msb run' makes "
				"a new sandbox", argv[i]);
			return EXIT_MSB;
		}
	c = cli_help_or_format(&verb_start, argc, argv, 0, &json);
	if (c >= 0)
		return c;
	if (optind >= argc)
		return cli_bad_usage(&verb_start, "missing sandbox NAME");
	if (json)
		all = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		msb_error err = { 0 };
		msb_sandbox *sb;
		uint64_t t0 = msb_now_ms();
		int r = msb_sandbox_start(argv[i], &sb, &err);
		double s = (double)(msb_now_ms() - t0) / 1000.0;
		json_object *o = all ? cli_json_result(all, argv[i]) : NULL;

		if (o) {
			json_object_object_add(o, "started",
					       json_object_new_boolean(r >= 0));
			json_object_object_add(o, "seconds",
					       r >= 0 ? msb_jdouble(s, 3) : NULL);
			json_object_object_add(o, "error",
				r < 0 && err.code != -EALREADY ?
					json_object_new_string(err.message) :
					NULL);
		}
		if (r < 0) {
			if (err.code == -EALREADY) {
				if (!o)
					printf("%s is already running\n",
					       argv[i]);
				continue;
			}
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		if (!o)
			printf("started %s %.1fs\n", argv[i], s);
		msb_sandbox_close(sb);
	}
	if (all)
		cli_print_json(all, stdout);
	return rc;
}
