/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot.c - msb snapshot: take one, and ls|inspect|rename|rm */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli.h"
#include "util.h"

static int cmd_snapshot(int argc, char **argv);

const struct verb verb_snapshot = {
	.name = "snapshot",
	.summary = "Snapshot a sandbox; list, inspect and remove snapshots",
	.fn = cmd_snapshot,
	.help =
	"Usage: msb snapshot [create] SANDBOX --name SNAP\n"
	"       msb snapshot ls [--format json]\n"
	"       msb snapshot inspect SNAP\n"
	"       msb snapshot rename SNAP NEW\n"
	"       msb snapshot rm [--force] SNAP...\n"
	"\n"
	"A snapshot of a running sandbox holds its memory, vCPU and device\n"
	"state and its disk at one instant: the guest is paused (not stopped)\n"
	"meanwhile and then goes on untouched. 'msb restore SNAP --name NEW'\n"
	"makes a new sandbox that continues from that instant, as many times\n"
	"as you like; each shares the snapshot's memory and disk until it\n"
	"writes them. A stopped sandbox, or one with volumes, gives a\n"
	"disk-only snapshot (kind \"disk\"), restored by booting its disk.\n"
	"Snapshots live in $MSB_HOME/snapshots (docs/snapshots.md). A\n"
	"snapshot is renamed only while no sandbox restored from it exists.\n"
	"\n"
	"Options:\n"
	"      --name SNAP        the snapshot's name (create)\n"
	"      --format FORMAT    table (default) or json (create, ls)\n"
	"  -f, --force            remove even if sandboxes were restored from\n"
	"                         it (they can then no longer start)\n"
	"  -h, --help             show this help\n",
};

enum { OPT_NAME = 256, OPT_FORMAT };

static const struct option opts[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static json_object *info_json(const msb_snapshot_info *i)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(i->name));
	json_object_object_add(o, "source", json_object_new_string(i->source));
	json_object_object_add(o, "kind", json_object_new_string(i->kind));
	json_object_object_add(o, "reason", i->reason[0] ?
				json_object_new_string(i->reason) : NULL);
	json_object_object_add(o, "image", json_object_new_string(i->image));
	json_object_object_add(o, "cpus", json_object_new_int((int)i->cpus));
	json_object_object_add(o, "memory_mib",
			       json_object_new_int64((int64_t)i->memory_mib));
	json_object_object_add(o, "created_at",
			       json_object_new_int64(i->created_at));
	json_object_object_add(o, "ram_bytes",
			       json_object_new_int64((int64_t)i->ram_bytes));
	json_object_object_add(o, "disk_bytes",
			       json_object_new_int64((int64_t)i->disk_bytes));
	json_object_object_add(o, "size_bytes",
			       json_object_new_int64((int64_t)i->size_bytes));
	json_object_object_add(o, "users", json_object_new_int((int)i->users));
	return o;
}

static void fmt_size(uint64_t b, char *buf, size_t n)
{
	if (b >= 10ull << 30)
		snprintf(buf, n, "%lluG", (unsigned long long)(b >> 30));
	else if (b >= 10ull << 20)
		snprintf(buf, n, "%lluM", (unsigned long long)(b >> 20));
	else
		snprintf(buf, n, "%.1fM", (double)b / (1 << 20));
}

static int do_ls(int json)
{
	msb_snapshot_info *v;
	msb_error err = { 0 };
	size_t n;

	if (msb_snapshot_list(&v, &n, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	if (json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, info_json(&v[i]));
		cli_print_json(a, stdout);
		free(v);
		return 0;
	}
	printf("%-20s  %-5s  %-16s  %-16s  %7s  %5s  %s\n", "NAME", "KIND",
	       "SOURCE", "IMAGE", "SIZE", "USERS", "CREATED");
	for (size_t i = 0; i < n; i++) {
		char size[32], when[32];
		time_t t = (time_t)v[i].created_at;
		struct tm tm;

		fmt_size(v[i].size_bytes, size, sizeof(size));
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-20s  %-5s  %-16s  %-16s  %7s  %5u  %s\n", v[i].name,
		       v[i].kind, v[i].source, v[i].image, size, v[i].users,
		       when);
	}
	free(v);
	return 0;
}

enum { CREATE, LS, INSPECT, RENAME, RM };

static const struct cli_sub subs[] = {
	[CREATE] = { "create" },
	[LS] = { "ls", "list" },
	[INSPECT] = { "inspect" },
	[RENAME] = { "rename" },
	[RM] = { "rm" },
};

static int cmd_snapshot(int argc, char **argv)
{
	const char *snap = NULL;
	int c, json = 0, force = 0, rc = 0, sub = CREATE;
	msb_error err = { 0 };

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "fh", opts)) != -1) {
		switch (c) {
		case OPT_NAME:
			snap = optarg;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_snapshot,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			cli_usage(&verb_snapshot, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_snapshot, argv, opts);
		}
	}
	/* the word is optional: 'msb snapshot SANDBOX --name SNAP' creates */
	if (optind < argc &&
	    (c = cli_sub_find(subs, sizeof(subs) / sizeof(subs[0]),
			      argv[optind])) >= 0) {
		sub = c;
		optind++;
	}
	if (sub == LS) {
		if (optind < argc)
			return cli_bad_usage(&verb_snapshot,
					     "unexpected argument '%s'",
					     argv[optind]);
		return do_ls(json);
	}
	if (sub == INSPECT) {
		char *j = NULL;

		if (optind + 1 != argc)
			return cli_bad_usage(&verb_snapshot,
					     "usage: msb snapshot inspect SNAP");
		if (msb_snapshot_inspect_json(argv[optind], &j, &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		puts(j);
		free(j);
		return 0;
	}
	if (sub == RENAME) {
		if (optind + 2 != argc)
			return cli_bad_usage(&verb_snapshot,
					     "usage: msb snapshot rename SNAP NEW");
		if (msb_snapshot_rename(argv[optind], argv[optind + 1], &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		printf("renamed %s to %s\n", argv[optind], argv[optind + 1]);
		return 0;
	}
	if (sub == RM) {
		if (optind >= argc)
			return cli_bad_usage(&verb_snapshot,
					     "missing snapshot SNAP");
		for (int i = optind; i < argc; i++) {
			msb_error e = { 0 };

			if (msb_snapshot_remove(argv[i], force, &e) < 0) {
				cli_err("%s", e.message);
				rc = 1;
				continue;
			}
			printf("removed %s\n", argv[i]);
		}
		return rc;
	}
	/* create */
	if (optind >= argc)
		return cli_bad_usage(&verb_snapshot, "missing SANDBOX");
	if (optind + 2 == argc && !snap)
		return cli_bad_usage(&verb_snapshot,
				     "unexpected argument '%s' (the snapshot's "
				     "name goes after --name: 'msb snapshot "
				     "%s --name %s')",
				     argv[optind + 1], argv[optind],
				     argv[optind + 1]);
	if (optind + 1 != argc)
		return cli_bad_usage(&verb_snapshot, "unexpected argument '%s'",
				     argv[optind + 1]);
	if (!snap)
		return cli_bad_usage(&verb_snapshot,
				     "missing --name SNAP for the snapshot");
	{
		msb_snapshot_info info;
		uint64_t t0 = msb_now_ms();
		char size[32];

		if (msb_snapshot_create(argv[optind], snap, &info, &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		if (json) {
			json_object *o = info_json(&info);

			cli_print_json(o, stdout);
			return 0;
		}
		fmt_size(info.size_bytes, size, sizeof(size));
		printf("snapshot %s of %s: %s%s%s%s, %s, %.2fs\n", info.name,
		       info.source, info.kind,
		       info.reason[0] ? " only (" : "", info.reason,
		       info.reason[0] ? ")" : "", size,
		       (double)(msb_now_ms() - t0) / 1000.0);
	}
	return 0;
}
