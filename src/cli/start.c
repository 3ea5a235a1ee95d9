/* SPDX-License-Identifier: Apache-2.0 */
/* start.c - msb start: boot a stopped sandbox again, disk as it was */

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"
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
	"  -h, --help             show this help\n",
};

static int cmd_start(int argc, char **argv)
{
	int c, rc = 0;

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
	c = cli_only_help(&verb_start, argc, argv);
	if (c >= 0)
		return c;
	if (optind >= argc)
		return cli_bad_usage(&verb_start, "missing sandbox NAME");
	for (int i = optind; i < argc; i++) {
		msb_error err = { 0 };
		msb_sandbox *sb;
		uint64_t t0 = msb_now_ms();

		if (msb_sandbox_start(argv[i], &sb, &err) < 0) {
			if (err.code == -EALREADY) {
				printf("%s is already running\n", argv[i]);
				continue;
			}
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		printf("started %s %.1fs\n", argv[i],
		       (double)(msb_now_ms() - t0) / 1000.0);
		msb_sandbox_close(sb);
	}
	return rc;
}
