/* SPDX-License-Identifier: Apache-2.0 */
/* project.c - msb project: the sandboxes of a Sandboxfile (docs/projects.md)
 *
 * 'msb project [-f FILE] COMMAND ...': the options before COMMAND are the
 * project's (which file), those after it the command's, each command with
 * its own --help. The work is libmsb's (msb_project_*); this file parses,
 * prints and sets exit statuses.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "project_cli.h"
#include "util.h"

static int cmd_project(int argc, char **argv);

const struct verb verb_project = {
	.name = "project",
	.summary = "Run the sandboxes of a Sandboxfile (up, down, ps, ...)",
	.fn = cmd_project,
	.own_help = 1,
	.help =
	"Usage: msb project [-f FILE] COMMAND [OPTIONS] [ARGS]\n"
	"\n"
	"A Sandboxfile declares sandboxes and the volumes they share (as a\n"
	"Compose file declares containers; docs/projects.md). Sandbox KEY of\n"
	"project P is named P-KEY and volume V is P-V.\n"
	"\n"
	"Commands:\n"
	"  up [-d] [SANDBOX...]   create and start what is missing, recreate\n"
	"                         what changed, in dependency order\n"
	"  down [--volumes]       stop and remove the project's sandboxes\n"
	"  ps                     the project's sandboxes and their state\n"
	"  logs [-f] [SANDBOX...] their logs, each line after its sandbox\n"
	"  exec SANDBOX -- CMD    run CMD in one of them\n"
	"  run SANDBOX SCRIPT     run one of its scripts\n"
	"  stop [SANDBOX...]      stop them, keeping them\n"
	"  restart [SANDBOX...]   stop them and start them again\n"
	"  config                 the resolved project as JSON\n"
	"  init [--name NAME]     write a commented starter Sandboxfile\n"
	"\n"
	"Options:\n"
	"  -f, --file FILE        the Sandboxfile (default: ./Sandboxfile, or\n"
	"                         the nearest one in a directory above)\n"
	"  -h, --help             show this help\n"
	"\n"
	"Run 'msb project COMMAND --help' for a command's options.\n",
};

const char *project_file;

int project_load(msb_project **p)
{
	msb_error err = { 0 };

	if (msb_project_load(project_file, p, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	return 0;
}

int project_getopt(const struct verb *v, int argc, char **argv,
		   const char *shortopts, const struct option *longopts,
		   int (*take)(int c, const char *arg, void *ctx), void *ctx)
{
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, shortopts, longopts)) != -1) {
		if (c == 'h') {
			cli_usage(v, stdout);
			return 0;
		}
		if (c == '?' || c == ':' || !take)
			return cli_bad_option(v, argv, longopts);
		r = take(c, optarg, ctx);
		if (r >= 0)
			return r;
	}
	return -1;
}

/* ---- config ---- */

static int sub_config(int argc, char **argv);

static const struct verb sub_config_verb = {
	.name = "project config",
	.summary = "the resolved project as JSON",
	.fn = sub_config,
	.help =
	"Usage: msb project [-f FILE] config [--format json]\n"
	"\n"
	"Read the Sandboxfile, check every key and value (each error names\n"
	"the file, line and column), and print the project as msb resolves\n"
	"it: paths made absolute, env files read, secrets bound to their\n"
	"hosts, sandboxes in start order, each with the hash of its\n"
	"definition ('up' recreates a sandbox whose hash changed). Nothing\n"
	"is started. Exit status 1 when the file has an error.\n"
	"\n"
	"Options:\n"
	"      --format json      (the only format)\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256, OPT_NAME, OPT_FORCE };

static int take_format(int c, const char *arg, void *ctx)
{
	int json;

	if (c == OPT_FORMAT && cli_format_json(arg, &json) == 0 && json)
		return -1;
	return cli_bad_usage(&sub_config_verb, "invalid --format '%s': only "
			     "json", arg);
}

static int sub_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	msb_error err = { 0 };
	msb_project *p;
	char *json;
	int r = project_getopt(&sub_config_verb, argc, argv, "h", opts,
			       take_format, NULL);

	if (r >= 0)
		return r;
	if (optind < argc)
		return cli_bad_usage(&sub_config_verb, "unexpected argument "
				     "'%s'", argv[optind]);
	if (project_load(&p))
		return 1;
	r = msb_project_config_json(p, &json, &err);
	msb_project_free(p);
	if (r < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	puts(json);
	free(json);
	return 0;
}

/* ---- init ---- */

static int sub_init(int argc, char **argv);

static const struct verb sub_init_verb = {
	.name = "project init",
	.summary = "write a commented starter Sandboxfile",
	.fn = sub_init,
	.help =
	"Usage: msb project [-f FILE] init [--name NAME] [--force]\n"
	"\n"
	"Write a starter Sandboxfile (FILE, default ./Sandboxfile) that runs\n"
	"as it is with the built-in image, every key commented.\n"
	"\n"
	"Options:\n"
	"      --name NAME        the project's name (default: the directory's)\n"
	"      --force            overwrite an existing file\n"
	"  -h, --help             show this help\n",
};

static const char starter[] =
	"# Sandboxfile: the sandboxes of project %s and what they share.\n"
	"# 'msb project up -d' starts them (in dependency order, the\n"
	"# independent ones at once), 'msb project ps' shows them, 'msb project\n"
	"# down' stops and removes them. Every key: docs/projects.md.\n"
	"name: %s\n"
	"\n"
	"# Named volumes: made by 'up' as %s-NAME, mounted by any sandbox\n"
	"# below (several at once), kept across 'down' unless 'down --volumes'.\n"
	"volumes:\n"
	"  data: { size: 1G }          # the guest gets ENOSPC past the size\n"
	"\n"
	"sandboxes:\n"
	"  web:\n"
	"    image: default            # any OCI image: python:3.12, ghcr.io/...\n"
	"    memory: 256M              # and cpus, disk_size\n"
	"    volumes: [data:/data]     # ./dir:/path mounts a host directory\n"
	"    ports: [8080:80]          # host 127.0.0.1:8080 -> guest port 80\n"
	"    env: { GREETING: hello }  # or env_file: .env\n"
	"    scripts:\n"
	"      start: echo $GREETING > /data/index.html; httpd -f -p 80 -h /data\n"
	"      hello: cat /data/index.html   # msb project run web hello\n"
	"    healthcheck:\n"
	"      test: wget -q -O /dev/null http://127.0.0.1/\n"
	"      interval: 1s\n"
	"\n"
	"  client:\n"
	"    depends_on:               # started after web is healthy\n"
	"      web: { condition: healthy }\n"
	"    volumes: [data:/data:ro]\n"
	"    network:\n"
	"      allow_host: [8080]      # web's published port, at\n"
	"                              # host.msb.internal:8080 in the guest\n"
	"    scripts:\n"
	"      fetch: wget -q -O - http://host.msb.internal:8080/\n";

static int take_init(int c, const char *arg, void *ctx)
{
	const char **v = ctx;

	if (c == OPT_NAME)
		v[0] = arg;
	else
		v[1] = "1";
	return -1;
}

static int sub_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, OPT_NAME },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *v[2] = { NULL, NULL };
	const char *file = project_file ? project_file : "Sandboxfile";
	char name[64], cwd[4096], *text;
	msb_error err = { 0 };
	msb_project *p;
	int r = project_getopt(&sub_init_verb, argc, argv, "h", opts,
			       take_init, v), fd;

	if (r >= 0)
		return r;
	if (optind < argc)
		return cli_bad_usage(&sub_init_verb, "unexpected argument "
				     "'%s'", argv[optind]);
	if (v[0]) {
		if (msb_name_valid(v[0], &err) < 0 || strlen(v[0]) > 48)
			return cli_bad_usage(&sub_init_verb, "invalid --name "
					     "'%s': at most 48 letters, digits, "
					     "'-', '_' and '.'", v[0]);
		snprintf(name, sizeof(name), "%s", v[0]);
	} else {
		/* the directory's name, as a project without one gets */
		const char *base;
		size_t n = 0;

		if (!getcwd(cwd, sizeof(cwd)))
			snprintf(cwd, sizeof(cwd), "project");
		base = strrchr(cwd, '/');
		for (base = base ? base + 1 : cwd; *base && n < 48; base++)
			if ((*base >= 'a' && *base <= 'z') ||
			    (*base >= '0' && *base <= '9') ||
			    ((*base == '-' || *base == '_' || *base == '.') &&
			     n))
				name[n++] = *base;
			else if (*base >= 'A' && *base <= 'Z')
				name[n++] = (char)(*base - 'A' + 'a');
		name[n] = '\0';
		if (!n)
			snprintf(name, sizeof(name), "project");
	}
	if (asprintf(&text, starter, name, name, name) < 0) {
		cli_err("out of memory");
		return 1;
	}
	/* What it writes must load: the starter is checked as any file. */
	r = msb_project_parse(text, strlen(text), file, &p, &err);
	if (r < 0) {
		cli_err("%s", err.message);
		free(text);
		return 1;
	}
	msb_project_free(p);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC |
		  (v[1] ? O_TRUNC : O_EXCL), 0644);
	if (fd < 0) {
		cli_err("cannot write %s: %s%s", file, strerror(errno),
			errno == EEXIST ? " (--force overwrites it)" : "");
		free(text);
		return 1;
	}
	r = msb_write_all(fd, text, strlen(text));
	free(text);
	if (close(fd) < 0 || r < 0) {
		cli_err("cannot write %s", file);
		return 1;
	}
	printf("wrote %s (project %s)\n", file, name);
	return 0;
}

/* ---- dispatch ---- */

static const struct verb *const subs[] = {
	&project_up_verb, &project_down_verb, &project_ps_verb,
	&project_logs_verb, &project_exec_verb, &project_run_verb,
	&project_stop_verb, &project_restart_verb, &sub_config_verb,
	&sub_init_verb,
};

static int cmd_project(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	/* '+': stop at COMMAND; what follows it is the command's. */
	while ((c = cli_getopt(argc, argv, "+f:h", opts)) != -1) {
		switch (c) {
		case 'f':
			project_file = optarg;
			break;
		case 'h':
			cli_usage(&verb_project, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_project, argv, opts);
		}
	}
	if (optind >= argc)
		return cli_bad_usage(&verb_project, "a command is needed (up, "
				     "down, ps, logs, exec, run, stop, restart, "
				     "config, init)");
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[optind], subs[i]->name + strlen("project ")))
			return subs[i]->fn(argc - optind, argv + optind);
	return cli_bad_usage(&verb_project, "unknown command '%s'",
			     argv[optind]);
}
