/* SPDX-License-Identifier: Apache-2.0 */
/* version.c - msb version: this msb's version, and its guest agent's */

#include <stdio.h>

#include <json-c/json.h>

#include "cli.h"
#include "proto.h"

static int cmd_version(int argc, char **argv);

const struct verb verb_version = {
	.name = "version",
	.summary = "Show msb's version (also 'msb --version')",
	.fn = cmd_version,
	.help =
	"Usage: msb version [--format json]\n"
	"\n"
	"Print msb's version. With --format json also the guest agent's\n"
	"(what a full snapshot records, docs/snapshots.md) and the agent\n"
	"protocol's.\n"
	"\n"
	"Options:\n"
	"      --format FORMAT    table (default) or json\n"
	"  -h, --help             show this help\n",
};

static int cmd_version(int argc, char **argv)
{
	json_object *o;
	int c, json;

	c = cli_help_or_format(&verb_version, argc, argv, 0, &json);
	if (c >= 0)
		return c;
	if (optind < argc)
		return cli_bad_usage(&verb_version, "unexpected argument '%s'",
				     argv[optind]);
	if (!json) {
		printf("msb %s\n", MSB_VERSION);
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(MSB_VERSION));
	json_object_object_add(o, "agent",
			       json_object_new_string(MSB_AGENT_VERSION));
	json_object_object_add(o, "protocol",
			       json_object_new_int(MSB_PROTO_VERSION));
	cli_print_json(o, stdout);
	return 0;
}
