/* SPDX-License-Identifier: Apache-2.0 */
/* restore.c - msb restore: a new sandbox from a snapshot */

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_restore(int argc, char **argv);

const struct verb verb_restore = {
	.name = "restore",
	.summary = "Start a new sandbox from a snapshot",
	.fn = cmd_restore,
	.help =
	"Usage: msb restore [OPTIONS] SNAP --name NEW\n"
	"\n"
	"Make sandbox NEW continue from snapshot SNAP's instant: processes\n"
	"that were running go on with their memory, files written before the\n"
	"snapshot are there, and nothing any other sandbox writes later is.\n"
	"NEW is its own machine: its hostname is NEW, its clock is set, its\n"
	"random state is reseeded from the host, connections open at the\n"
	"snapshot are closed, and secrets are read again on the host.\n"
	"A disk-only snapshot boots its disk instead.\n"
	"\n"
	"Without -d, msb waits until NEW stops (Ctrl-C stops it).\n"
	"\n"
	"Options:\n"
	"      --name NEW         the new sandbox's name (required)\n"
	"  -e, --env K=V          a variable for every later exec, also\n"
	"                         written to /run/msb/env in the guest for\n"
	"                         the restored processes (repeatable)\n"
	"      --cpus N           CPUs; a memory snapshot keeps its own (use\n"
	"                         'msb run --from-snapshot' to change it)\n"
	"  -m, --memory SIZE      memory; likewise\n"
	"  -d, --detach           return once NEW is running\n"
	"      --timings          print where the time went\n"
	"      --format FORMAT    with -d: table (default: a 'restored'\n"
	"                         line) or json (name, snapshot, image, cpus,\n"
	"                         memory_mib, seconds)\n"
	"  -h, --help             show this help\n",
};

enum { OPT_NAME = 256, OPT_CPUS, OPT_TIMINGS, OPT_FORMAT };

static const struct option opts[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "env", required_argument, NULL, 'e' },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, 'm' },
	{ "detach", no_argument, NULL, 'd' },
	{ "timings", no_argument, NULL, OPT_TIMINGS },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = sig;
}

static int cmd_restore(int argc, char **argv)
{
	msb_restore_opts o;
	msb_error err = { 0 };
	msb_sandbox *sb;
	char **env = NULL;
	size_t nenv = 0;
	int c, detach = 0, timings = 0, json = 0;
	unsigned u;
	uint64_t t0;

	msb_restore_opts_init(&o);
	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "e:m:dh", opts)) != -1) {
		switch (c) {
		case OPT_NAME:
			if (msb_name_valid(optarg, &err) < 0)
				return cli_bad_usage(&verb_restore, "%s",
						     err.message);
			o.name = optarg;
			break;
		case 'e':
			if ((c = cli_push_env(&verb_restore, optarg, &env,
					      &nenv)))
				return c;
			break;
		case OPT_CPUS:
			if (cli_parse_uint(optarg, 1, 64, &u) < 0)
				return cli_bad_usage(&verb_restore,
					"invalid --cpus '%s': use a whole number from 1 to 64",
					optarg);
			o.cpus = u;
			break;
		case 'm':
			if (msb_parse_memory(optarg, &o.memory_mib, &err) < 0)
				return cli_bad_usage(&verb_restore, "%s",
						     err.message);
			break;
		case 'd':
			detach = 1;
			break;
		case OPT_TIMINGS:
			timings = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0) {
				free(env);
				return cli_bad_usage(&verb_restore,
					"invalid --format '%s': use table or json",
					optarg);
			}
			break;
		case 'h':
			cli_usage(&verb_restore, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_restore, argv, opts);
		}
	}
	if (optind >= argc) {
		free(env);
		return cli_bad_usage(&verb_restore, "missing snapshot SNAP");
	}
	if (optind + 2 == argc && !o.name) {
		int rc = cli_bad_usage(&verb_restore,
				       "unexpected argument '%s' (the new "
				       "sandbox's name goes after --name: 'msb "
				       "restore %s --name %s')",
				       argv[optind + 1], argv[optind],
				       argv[optind + 1]);

		free(env);
		return rc;
	}
	if (optind + 1 != argc) {
		free(env);
		return cli_bad_usage(&verb_restore, "unexpected argument '%s'",
				     argv[optind + 1]);
	}
	if (!o.name) {
		free(env);
		return cli_bad_usage(&verb_restore,
				     "missing --name NEW for the new sandbox");
	}
	if (json && !detach) {
		free(env);
		return cli_bad_usage(&verb_restore,
				     "--format json goes with -d (without it, "
				     "msb waits while the sandbox runs)");
	}
	o.env = (const char *const *)env;
	t0 = msb_now_ms();
	if (msb_snapshot_restore(argv[optind], &o, &sb, &err) < 0) {
		cli_err("%s", err.message);
		free(env);
		return EXIT_MSB;
	}
	free(env);
	msb_sandbox_close(sb);
	if (json) {
		double s = (double)(msb_now_ms() - t0) / 1000.0;
		msb_sandbox_info info;

		memset(&info, 0, sizeof(info));
		msb_sandbox_info_get(o.name, &info, NULL);
		cli_print_json(cli_made_json(o.name, argv[optind], &info, s),
			       stdout);
	} else {
		printf("restored %s from %s %.2fs\n", o.name, argv[optind],
		       (double)(msb_now_ms() - t0) / 1000.0);
	}
	if (timings)
		cli_print_timings(o.name, cli_fetch_timings(o.name), -1);
	fflush(stdout);
	if (detach)
		return 0;
	if (isatty(STDERR_FILENO))
		fprintf(stderr,
			"msb waits while %s runs: Ctrl-C stops it ('msb restore "
			"-d' returns at once)\n",
			o.name);
	{
		struct sigaction sa = { .sa_handler = on_interrupt };

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (;;) {
		msb_sandbox_info info;

		if (interrupted) {
			msb_sandbox_stop(o.name, 10, NULL, NULL);
			return 128 + interrupted;
		}
		if (msb_sandbox_info_get(o.name, &info, NULL) < 0 ||
		    !msb_status_is_live(info.status))
			return 0;
		usleep(200 * 1000);
	}
}
