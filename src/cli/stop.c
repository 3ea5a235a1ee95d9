/* SPDX-License-Identifier: Apache-2.0 */
/* stop.c - msb stop: power a sandbox off, gracefully then by force */

#include <errno.h>
#include <getopt.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"
#include "util.h"

static int cmd_stop(int argc, char **argv);

const struct verb verb_stop = {
	.name = "stop",
	.summary = "Stop running sandboxes",
	.fn = cmd_stop,
	.help =
	"Usage: msb stop [OPTIONS] NAME...\n"
	"\n"
	"Ask each sandbox's processes to end (SIGTERM), power the guest off,\n"
	"and kill it if it has not stopped after the grace period. Its disk\n"
	"is kept: 'msb start NAME' boots it again. One that is not running\n"
	"is left as it is, and that is no error (as with 'docker stop'). A\n"
	"sandbox made with 'msb run --sync' is then pushed ('msb push NAME').\n"
	"The peers a sandbox spawned (docs/spawn.md) stop with it, and stay\n"
	"stopped when it starts again.\n"
	"\n"
	"Options:\n"
	"  -t, --time SECS        grace period before killing (default 10;\n"
	"                         0 kills at once)\n"
	"      --format FORMAT    table (default: a line each) or json (an\n"
	"                         array once all are done: name, stopped\n"
	"                         (false if it was not running), seconds,\n"
	"                         pushed (with --sync), error)\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256 };

static const struct option opts[] = {
	{ "time", required_argument, NULL, 't' },
	{ "timeout", required_argument, NULL, 't' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_stop(int argc, char **argv)
{
	json_object *all = NULL;
	unsigned t = 10;
	int c, rc = 0, json = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "t:h", opts)) != -1) {
		switch (c) {
		case 't':
			if (cli_parse_uint(optarg, 0, 3600, &t) < 0)
				return cli_bad_usage(&verb_stop,
					"invalid -t '%s': use seconds from 0 to 3600",
					optarg);
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_stop,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'h':
			cli_usage(&verb_stop, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_stop, argv, opts);
		}
	}
	if (optind >= argc)
		return cli_bad_usage(&verb_stop, "missing sandbox NAME");
	if (json)
		all = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		struct cli_sync_display d = { .tty = isatty(2) };
		msb_sync_opts so = { .progress = cli_sync_progress, .ctx = &d };
		msb_sync_info pushed;
		msb_error err = { 0 };
		uint64_t ms = 0, t0 = msb_now_ms();
		int r = msb_sandbox_stop_sync(argv[i], t, &so, &pushed, &ms,
					      &err);
		int stopped = r >= 0 || pushed.name[0];
		json_object *o = all ? cli_json_result(all, argv[i]) : NULL;

		cli_sync_done(&d);
		if (o) {
			json_object_object_add(o, "stopped",
				json_object_new_boolean(stopped));
			json_object_object_add(o, "seconds", stopped ?
				msb_jdouble((double)ms / 1000.0, 3) : NULL);
			json_object_object_add(o, "pushed", pushed.name[0] &&
				r >= 0 ? cli_sync_json(&pushed, 0, t0 + ms) :
					 NULL);
			json_object_object_add(o, "error",
				r < 0 && r != -EALREADY ?
					json_object_new_string(err.message) :
					NULL);
		}
		if (r == -EALREADY && !pushed.name[0]) {
			if (!o)
				printf("%s is not running\n", argv[i]);
			continue;
		}
		if (r < 0 && !pushed.name[0]) {
			cli_err("%s", err.message);
			rc = 1;
			continue;
		}
		if (!o)
			printf("stopped %s %llums\n", argv[i],
			       (unsigned long long)ms);
		if (r < 0) {
			cli_err("%s", err.message);
			rc = 1;
		} else if (pushed.name[0] && !o) {
			cli_print_push(&pushed, 0, t0 + ms, stdout);
		}
	}
	if (all)
		cli_print_json(all, stdout);
	return rc;
}
