/* SPDX-License-Identifier: Apache-2.0 */
/* wait.c - msb wait: block until a sandbox's command has ended */

#include <getopt.h>

#include "cli.h"

static int cmd_wait(int argc, char **argv);

const struct verb verb_wait = {
	.name = "wait",
	.summary = "Wait for sandboxes' detached commands to end",
	.fn = cmd_wait,
	.help =
	"Usage: msb wait NAME...\n"
	"\n"
	"Wait until each sandbox's detached command (msb run -d -- CMD, or\n"
	"the image's own with msb run -d IMAGE) has ended, and print its exit\n"
	"status (128+N if signal N killed it, 137 if the sandbox stopped\n"
	"first, 126 if it could not start), as 'docker wait' does. A sandbox\n"
	"without one is waited for until it stops (then 0 is printed).\n"
	"\n"
	"Options:\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: 0, or 1 if a sandbox does not exist or failed.\n",
};

static int cmd_wait(int argc, char **argv)
{
	int c, rc = 0;

	c = cli_only_help(&verb_wait, argc, argv);
	if (c >= 0)
		return c;
	if (optind >= argc)
		return cli_bad_usage(&verb_wait, "missing sandbox NAME");
	for (int i = optind; i < argc; i++) {
		msb_error err = { 0 };
		int status;

		if (msb_sandbox_wait(argv[i], 0, &status, &err) < 0) {
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		printf("%d\n", status);
		fflush(stdout);
	}
	return rc;
}
