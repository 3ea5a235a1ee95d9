/* SPDX-License-Identifier: Apache-2.0 */
/* volume.c - msb volume: named volumes (create, ls, inspect, rm) */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli.h"
#include "util.h"

static int cmd_volume(int argc, char **argv);

const struct verb verb_volume = {
	.name = "volume",
	.summary = "Create, list, inspect and remove named volumes",
	.fn = cmd_volume,
	.help =
	"Usage: msb volume create [--size SIZE] NAME\n"
	"       msb volume ls [-q] [--format json]\n"
	"       msb volume inspect NAME\n"
	"       msb volume rm [--force] NAME...\n"
	"\n"
	"A named volume is a directory msb keeps apart from any sandbox\n"
	"($MSB_HOME/volumes/NAME), mounted by name: 'msb run -v NAME:/data',\n"
	"or a Sandboxfile's volumes. Several sandboxes may mount it at once;\n"
	"what one writes the others see. With a size, writes past it fail with\n"
	"ENOSPC in the guest (the limit holds for all of them together), and\n"
	"df shows it. 'msb run -v NAME:/path' makes a missing one, with no\n"
	"size limit. It outlives the sandboxes until 'msb volume rm'.\n"
	"\n"
	"Options:\n"
	"      --size SIZE        at most this much data, e.g. 512M or 10G\n"
	"                         (1M to 1024G; default: no limit)\n"
	"  -q, --quiet            ls: names only\n"
	"      --format FORMAT    table (default) or json (create, ls)\n"
	"  -f, --force            rm: even if stopped sandboxes mount it\n"
	"                         (they then cannot start); never while a\n"
	"                         running one does\n"
	"  -h, --help             show this help\n",
};

enum { OPT_SIZE = 256, OPT_FORMAT };

static const struct option opts[] = {
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static json_object *info_json(const msb_volume_info *i)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(i->name));
	json_object_object_add(o, "size_mib",
			       json_object_new_int64((int64_t)i->size_mib));
	json_object_object_add(o, "used_bytes",
			       json_object_new_int64((int64_t)i->used_bytes));
	json_object_object_add(o, "created_at",
			       json_object_new_int64(i->created_at));
	json_object_object_add(o, "project", i->project[0] ?
			       json_object_new_string(i->project) : NULL);
	json_object_object_add(o, "path", json_object_new_string(i->path));
	json_object_object_add(o, "users", json_object_new_int((int)i->users));
	json_object_object_add(o, "running",
			       json_object_new_int((int)i->running));
	return o;
}

static int do_ls(int json, int quiet)
{
	msb_volume_info *v;
	msb_error err = { 0 };
	size_t n;

	if (msb_volume_list(&v, &n, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	if (json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, info_json(&v[i]));
		cli_print_json(a, stdout);
	} else if (quiet) {
		for (size_t i = 0; i < n; i++)
			puts(v[i].name);
	} else {
		printf("%-24s  %8s  %8s  %-8s  %-16s  %s\n", "NAME", "SIZE",
		       "USED", "USERS", "PROJECT", "CREATED");
		for (size_t i = 0; i < n; i++) {
			char size[32], used[32], users[16], when[32];
			time_t t = (time_t)v[i].created_at;
			struct tm tm;

			if (v[i].size_mib)
				msb_fmt_size_mib(v[i].size_mib, size,
						 sizeof(size));
			else
				snprintf(size, sizeof(size), "-");
			cli_fmt_bytes(v[i].used_bytes, used, sizeof(used));
			snprintf(users, sizeof(users), "%u/%u", v[i].running,
				 v[i].users);
			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%-24s  %8s  %8s  %-8s  %-16s  %s\n",
			       v[i].name, size, used, users,
			       v[i].project[0] ? v[i].project : "-", when);
		}
	}
	free(v);
	return 0;
}

enum { CREATE, LS, INSPECT, RM };

static const struct cli_sub subs[] = {
	[CREATE] = { "create" },
	[LS] = { "ls", "list" },
	[INSPECT] = { "inspect" },
	[RM] = { "rm", "remove" },
};

static int cmd_volume(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	int c, json = 0, quiet = 0, force = 0, status = 0;
	uint64_t size = 0;
	msb_error err = { 0 };
	size_t k;

	c = cli_subcommand(&verb_volume, subs, sizeof(subs) / sizeof(subs[0]),
			   argc, argv, &k);
	if (c >= 0)
		return c;
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "qfh", opts)) != -1) {
		switch (c) {
		case OPT_SIZE:
			if (msb_parse_mib(optarg, "volume size", 1, 1024 * 1024,
					  &size, &err) < 0)
				return cli_bad_usage(&verb_volume, "%s",
						     err.message);
			break;
		case 'q':
			quiet = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_volume,
					"invalid --format '%s': use table or "
					"json", optarg);
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			cli_usage(&verb_volume, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_volume, argv, opts);
		}
	}
	if ((size && k != CREATE) || (force && k != RM) || (quiet && k != LS))
		return cli_bad_usage(&verb_volume, "an option that 'volume %s' "
				     "does not take", sub);
	if (k == LS) {
		if (optind < argc)
			return cli_bad_usage(&verb_volume, "unexpected argument "
					     "'%s'", argv[optind]);
		return do_ls(json, quiet);
	}
	if (optind >= argc)
		return cli_bad_usage(&verb_volume, "volume %s: give a NAME",
				     sub);
	/* One record, as the other inspects print: several objects one
	 * after another would not be one JSON document. */
	if (k == INSPECT && optind + 1 != argc)
		return cli_bad_usage(&verb_volume, "volume inspect takes one "
				     "NAME");
	if (k == CREATE) {
		msb_volume_info info;
		char s[32];

		if (optind + 1 != argc)
			return cli_bad_usage(&verb_volume, "volume create takes "
					     "one NAME");
		if (msb_name_valid(argv[optind], &err) < 0)
			return cli_bad_usage(&verb_volume, "%s", err.message);
		if (msb_volume_create(argv[optind], size, &info, &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		if (json) {
			cli_print_json(info_json(&info), stdout);
		} else {
			msb_fmt_size_mib(size, s, sizeof(s));
			printf("created volume %s%s%s\n", info.name,
			       size ? " size=" : "", size ? s : "");
		}
		return 0;
	}
	for (int i = optind; i < argc; i++) {
		if (k == INSPECT) {
			char *j;

			if (msb_volume_inspect_json(argv[i], &j, &err) < 0) {
				cli_err("%s", err.message);
				status = 1;
				continue;
			}
			puts(j);
			free(j);
		} else if (msb_volume_remove(argv[i], force, &err) < 0) {
			cli_err("%s", err.message);
			status = 1;
		} else {
			printf("removed volume %s\n", argv[i]);
		}
	}
	return status;
}
