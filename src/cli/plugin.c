/* SPDX-License-Identifier: Apache-2.0 */
/* plugin.c - msb plugin: the plugin registry (search, install, ls,
 * inspect, rm, publish) */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli.h"

static int cmd_plugin(int argc, char **argv);

const struct verb verb_plugin = {
	.name = "plugin",
	.summary = "Search, install, list, remove and publish plugins",
	.fn = cmd_plugin,
	.help =
	"Usage: msb plugin search [QUERY] [--registry R] [--format json]\n"
	"       msb plugin install NAME[:VERSION|@DIGEST]|REFERENCE [--registry R]\n"
	"       msb plugin ls [-q] [--format json]\n"
	"       msb plugin inspect NAME\n"
	"       msb plugin rm NAME...\n"
	"       msb plugin publish DIR [--registry R] [--format json]\n"
	"\n"
	"Plugins are published to any OCI registry as artifacts of their own\n"
	"type (docs/plugins.md): a plugin registry is REGISTRY/NAMESPACE\n"
	"(ghcr.io/me/plugins, 127.0.0.1:5000/plugins), given by --registry or\n"
	"$MSB_PLUGIN_REGISTRY. 'search' reads its index (what 'publish'\n"
	"keeps), matching QUERY in names, descriptions, hooks and languages.\n"
	"'install' fetches a plugin, checks every blob against its digest and\n"
	"keeps it under $MSB_HOME/plugins/NAME, pinned to that digest; then\n"
	"'msb run --plugin NAME' runs it, after checking its files again.\n"
	"'publish DIR' pushes the plugin whose metadata is DIR/plugin.json\n"
	"(name, version, kind \"process\", hooks, language, command,\n"
	"description) and whose files are the others under DIR, as\n"
	"NAME:VERSION and NAME:latest. Credentials come from 'msb registry\n"
	"login HOST'; loopback registries are spoken to over plain http.\n"
	"\n"
	"Options:\n"
	"      --registry R       the plugin registry (REGISTRY/NAMESPACE)\n"
	"  -q, --quiet            ls: names only\n"
	"      --format FORMAT    table (default) or json\n"
	"  -h, --help             show this help\n",
};

enum { OPT_REGISTRY = 256, OPT_FORMAT };

static const struct option opts[] = {
	{ "registry", required_argument, NULL, OPT_REGISTRY },
	{ "quiet", no_argument, NULL, 'q' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static json_object *info_json(const msb_plugin_info *i, int installed)
{
	json_object *o = json_object_new_object(), *h = json_object_new_array();
	char hk[sizeof(i->hooks)], *save = NULL;

	json_object_object_add(o, "name", json_object_new_string(i->name));
	json_object_object_add(o, "version", json_object_new_string(i->version));
	json_object_object_add(o, "kind", json_object_new_string(i->kind));
	json_object_object_add(o, "language",
			       json_object_new_string(i->language));
	snprintf(hk, sizeof(hk), "%s", i->hooks);
	for (char *t = strtok_r(hk, ",", &save); t;
	     t = strtok_r(NULL, ",", &save))
		json_object_array_add(h, json_object_new_string(t));
	json_object_object_add(o, "hooks", h);
	json_object_object_add(o, "command", json_object_new_string(i->command));
	json_object_object_add(o, "description",
			       json_object_new_string(i->description));
	json_object_object_add(o, "reference",
			       json_object_new_string(i->reference));
	json_object_object_add(o, "digest", json_object_new_string(i->digest));
	if (installed) {
		json_object_object_add(o, "path",
				       json_object_new_string(i->path));
		json_object_object_add(o, "files",
				       json_object_new_int((int)i->files));
		json_object_object_add(o, "size",
				       json_object_new_int64((int64_t)i->size));
		json_object_object_add(o, "installed_at",
				       json_object_new_int64(i->installed_at));
		json_object_object_add(o, "verified",
				       json_object_new_boolean(i->verified));
	}
	return o;
}

static void print_list(const msb_plugin_info *v, size_t n, int installed,
		       int json, int quiet)
{
	if (json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, info_json(&v[i], installed));
		cli_print_json(a, stdout);
		return;
	}
	if (quiet) {
		for (size_t i = 0; i < n; i++)
			puts(v[i].name);
		return;
	}
	if (installed)
		printf("%-20s  %-10s  %-8s  %-28s  %-19s  %s\n", "NAME",
		       "VERSION", "LANGUAGE", "HOOKS", "DIGEST", "STATUS");
	else
		printf("%-20s  %-10s  %-8s  %-28s  %s\n", "NAME", "VERSION",
		       "LANGUAGE", "HOOKS", "DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		if (installed)
			printf("%-20s  %-10s  %-8s  %-28s  %-19.19s  %s\n",
			       v[i].name, v[i].version,
			       v[i].language[0] ? v[i].language : "-",
			       v[i].hooks, v[i].digest,
			       v[i].verified ? "ok" : "DAMAGED (install again)");
		else
			printf("%-20s  %-10s  %-8s  %-28s  %s\n", v[i].name,
			       v[i].version,
			       v[i].language[0] ? v[i].language : "-",
			       v[i].hooks, v[i].description);
	}
}

static int fail(msb_error *err)
{
	cli_err("%s", err->message);
	return 1;
}

enum { SEARCH, INSTALL, LS, INSPECT, RM, PUBLISH };

static const struct cli_sub subs[] = {
	[SEARCH] = { "search" },
	[INSTALL] = { "install" },
	[LS] = { "ls", "list" },
	[INSPECT] = { "inspect" },
	[RM] = { "rm", "remove" },
	[PUBLISH] = { "publish" },
};

static int cmd_plugin(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL, *registry = NULL;
	int c, json = 0, quiet = 0, status = 0;
	msb_error err = { 0 };
	msb_plugin_info info, *v;
	size_t n, k;

	c = cli_subcommand(&verb_plugin, subs, sizeof(subs) / sizeof(subs[0]),
			   argc, argv, &k);
	if (c >= 0)
		return c;
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case OPT_REGISTRY:
			registry = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_plugin,
					"invalid --format '%s': use table or "
					"json", optarg);
			break;
		case 'h':
			cli_usage(&verb_plugin, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_plugin, argv, opts);
		}
	}
	if (quiet && k != LS)
		return cli_bad_usage(&verb_plugin, "-q goes with 'plugin ls'");
	if (registry && k != SEARCH && k != INSTALL && k != PUBLISH)
		return cli_bad_usage(&verb_plugin, "--registry goes with "
				     "search, install and publish");
	if (k == LS || k == SEARCH) {
		int search = k == SEARCH;

		if (argc - optind > search)
			return cli_bad_usage(&verb_plugin, "unexpected argument "
					     "'%s'", argv[argc - 1]);
		if ((search ? msb_plugin_search(registry, optind < argc ?
						argv[optind] : NULL, &v, &n,
						&err) :
			      msb_plugin_list(&v, &n, &err)) < 0)
			return fail(&err);
		print_list(v, n, !search, json, quiet);
		free(v);
		return 0;
	}
	if (optind >= argc)
		return cli_bad_usage(&verb_plugin, "plugin %s: give a %s", sub,
				     k == PUBLISH ? "DIR" : "NAME");
	if (k != RM && optind + 1 != argc)
		return cli_bad_usage(&verb_plugin, "plugin %s takes one %s",
				     sub, k == PUBLISH ? "DIR" : "NAME");
	if (k != RM) {
		int r = k == INSTALL ?
				msb_plugin_install(argv[optind], registry,
						   &info, &err) :
			k == PUBLISH ?
				msb_plugin_publish(argv[optind], registry,
						   &info, &err) :
				msb_plugin_inspect(argv[optind], &info, &err);

		if (r < 0 && !(r == MSB_E_DAMAGED && k == INSPECT))
			return fail(&err);
		if (json || k == INSPECT)
			cli_print_json(info_json(&info, k != PUBLISH), stdout);
		else if (k == INSTALL)
			printf("installed %s %s (%.19s) from %s\n", info.name,
			       info.version, info.digest, info.reference);
		else
			printf("published %s (%.19s)\n", info.reference,
			       info.digest);
		if (r < 0)
			return fail(&err);
		return 0;
	}
	for (int i = optind; i < argc; i++) {
		if (msb_plugin_remove(argv[i], &err) < 0) {
			cli_err("%s", err.message);
			status = 1;
		} else {
			printf("removed plugin %s\n", argv[i]);
		}
	}
	return status;
}
