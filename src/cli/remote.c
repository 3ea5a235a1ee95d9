/* SPDX-License-Identifier: Apache-2.0 */
/* remote.c - msb remote [set|unset]: where sandboxes are pushed to */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"

static int cmd_remote(int argc, char **argv);

const struct verb verb_remote = {
	.name = "remote",
	.summary = "Show or set the registry sandboxes are pushed to",
	.fn = cmd_remote,
	.help =
	"Usage: msb remote [--format json]\n"
	"       msb remote set [--insecure] REGISTRY[/NAMESPACE]\n"
	"       msb remote unset\n"
	"\n"
	"The sync remote is the OCI registry (and namespace in it) where\n"
	"'msb push NAME' sends sandbox NAME, as REMOTE/NAME:latest, and where\n"
	"'msb pull NAME' looks for it: ghcr.io/me, registry.example.com/team,\n"
	"127.0.0.1:5000/dev. $MSB_REMOTE, when set, wins over the one kept in\n"
	"$MSB_HOME/remote.json. Credentials come from 'msb registry login\n"
	"HOST'. Plain http is used for loopback registries, and for others\n"
	"only when set with --insecure.\n"
	"\n"
	"Options:\n"
	"      --insecure         plain http to this registry\n"
	"      --format FORMAT    table (default) or json: {\"remote\",\n"
	"                         \"insecure\", \"from\": \"env\" or \"file\"}\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256 };

static const struct option opts[] = {
	{ "insecure", no_argument, NULL, 'k' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_remote(int argc, char **argv)
{
	msb_error err = { 0 };
	char remote[512];
	int c, insecure = 0, json = 0, env;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "+h", opts)) != -1) {
		switch (c) {
		case 'k':
			insecure = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_remote,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'h':
			cli_usage(&verb_remote, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_remote, argv, opts);
		}
	}
	if (optind == argc) {
		if (insecure)
			return cli_bad_usage(&verb_remote,
					     "--insecure goes with 'set'");
		if (msb_remote_get(remote, sizeof(remote), &insecure, &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		env = getenv("MSB_REMOTE") && *getenv("MSB_REMOTE");
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "remote",
					       json_object_new_string(remote));
			json_object_object_add(o, "insecure",
					       json_object_new_boolean(insecure));
			json_object_object_add(o, "from",
					       json_object_new_string(
						       env ? "env" : "file"));
			cli_print_json(o, stdout);
			return 0;
		}
		printf("%s%s%s\n", remote, insecure ? " (insecure)" : "",
		       env ? " (from $MSB_REMOTE)" : "");
		return 0;
	}
	if (!strcmp(argv[optind], "set")) {
		/* options may follow the word: msb remote set --insecure X */
		int i = optind + 1;

		for (; i < argc && argv[i][0] == '-'; i++) {
			if (strcmp(argv[i], "--insecure"))
				return cli_bad_usage(&verb_remote,
						     "unknown option '%s'",
						     argv[i]);
			insecure = 1;
		}
		if (i != argc - 1)
			return cli_bad_usage(&verb_remote,
					     "give one REGISTRY[/NAMESPACE]");
		if (msb_remote_set(argv[i], insecure, &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		return 0;
	}
	if (!strcmp(argv[optind], "unset") && optind == argc - 1 && !insecure) {
		if (msb_remote_set(NULL, 0, &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		return 0;
	}
	return cli_bad_usage(&verb_remote, "unknown command '%s': use set or "
			     "unset", argv[optind]);
}
