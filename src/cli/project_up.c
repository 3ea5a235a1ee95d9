/* SPDX-License-Identifier: Apache-2.0 */
/* project_up.c - msb project up, down, stop, restart: the project's
 * sandboxes brought up and down, with a line per step */

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "project_cli.h"
#include "util.h"

static int sub_up(int argc, char **argv);
static int sub_down(int argc, char **argv);
static int sub_stop(int argc, char **argv);
static int sub_restart(int argc, char **argv);

const struct verb project_up_verb = {
	.name = "project up",
	.summary = "create and start what is missing, recreate what changed",
	.fn = sub_up,
	.help =
	"Usage: msb project [-f FILE] up [-d] [--format json] [SANDBOX...]\n"
	"\n"
	"Bring the project up: make its named volumes that are missing, then\n"
	"create each sandbox that is missing (or restore it, from_snapshot),\n"
	"recreate each whose definition changed since it was made, start\n"
	"each that is stopped, and leave the rest as they are (a second 'up'\n"
	"does nothing). A sandbox starts once what it depends on is up (and\n"
	"healthy, for condition: healthy); independent ones start at the\n"
	"same time. One that fails stops the 'up' with its log's last lines.\n"
	"With SANDBOX..., those and what they depend on. Without -d, msb then\n"
	"follows their logs until Ctrl-C, and stops them.\n"
	"\n"
	"Options:\n"
	"  -d, --detach           return once everything is up\n"
	"      --format json      each step as a JSON line\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: 0 when all came up, 1 otherwise, 2 for bad usage.\n",
};

const struct verb project_down_verb = {
	.name = "project down",
	.summary = "stop and remove the project's sandboxes",
	.fn = sub_down,
	.help =
	"Usage: msb project [-f FILE] down [--volumes] [--timeout S]\n"
	"                                  [--format json]\n"
	"\n"
	"Stop and remove every sandbox of the project, in the reverse of the\n"
	"start order (those no longer in the file first). Named volumes are\n"
	"kept unless --volumes.\n"
	"\n"
	"Options:\n"
	"      --volumes          remove the named volumes the project made\n"
	"                         (not external ones)\n"
	"      --timeout S        seconds each guest gets to power off before\n"
	"                         it is killed (default 10; 0 kills at once)\n"
	"      --format json      each step as a JSON line\n"
	"  -h, --help             show this help\n",
};

const struct verb project_stop_verb = {
	.name = "project stop",
	.summary = "stop the project's sandboxes, keeping them",
	.fn = sub_stop,
	.help =
	"Usage: msb project [-f FILE] stop [--timeout S] [--format json]\n"
	"                                  [SANDBOX...]\n"
	"\n"
	"Stop the project's running sandboxes (or those named), in the\n"
	"reverse of the start order. They keep their disks; 'up' starts\n"
	"them again.\n"
	"\n"
	"Options:\n"
	"      --timeout S        seconds each guest gets to power off before\n"
	"                         it is killed (default 10; 0 kills at once)\n"
	"      --format json      each step as a JSON line\n"
	"  -h, --help             show this help\n",
};

const struct verb project_restart_verb = {
	.name = "project restart",
	.summary = "stop and start the project's sandboxes again",
	.fn = sub_restart,
	.help =
	"Usage: msb project [-f FILE] restart [--timeout S] [--format json]\n"
	"                                     [SANDBOX...]\n"
	"\n"
	"Stop the project's sandboxes (or those named) in the reverse of the\n"
	"start order and start them again in the start order, each with its\n"
	"disk as it was. A sandbox whose definition changed is not made\n"
	"again: that is what 'up' does.\n"
	"\n"
	"Options:\n"
	"      --timeout S        seconds each guest gets to power off before\n"
	"                         it is killed (default 10; 0 kills at once)\n"
	"      --format json      each step as a JSON line\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256, OPT_VOLUMES, OPT_TIMEOUT };

struct lopts {
	const struct verb *v;
	int detach, json, volumes;
	unsigned timeout;
};

static int take(int c, const char *arg, void *ctx)
{
	struct lopts *l = ctx;

	switch (c) {
	case 'd':
		l->detach = 1;
		return -1;
	case OPT_VOLUMES:
		l->volumes = 1;
		return -1;
	case OPT_TIMEOUT:
		if (cli_parse_uint(arg, 0, 3600, &l->timeout) < 0)
			return cli_bad_usage(l->v, "invalid --timeout '%s': "
					     "use seconds from 0 to 3600", arg);
		return -1;
	case OPT_FORMAT:
		if (cli_format_json(arg, &l->json) < 0)
			return cli_bad_usage(l->v, "invalid --format '%s': use "
					     "table or json", arg);
		return -1;
	}
	return cli_bad_usage(l->v, "unknown option");
}

static size_t key_width;

/* show() - one step: "api      created my-project-api in 1.2s". */
static void show(void *ctx, const msb_project_event *e)
{
	const struct lopts *l = ctx;

	if (l->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "sandbox", e->sandbox ?
				       json_object_new_string(e->sandbox) : NULL);
		json_object_object_add(o, "name",
				       json_object_new_string(e->name));
		json_object_object_add(o, "event",
				       json_object_new_string(e->what));
		json_object_object_add(o, "ms",
				       json_object_new_int64((int64_t)e->ms));
		json_object_object_add(o, "detail", e->detail ?
				       json_object_new_string(e->detail) : NULL);
		puts(json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else if (!strcmp(e->what, "failed")) {
		/* the error says it all, once */
		return;
	} else if (!e->sandbox || !strncmp(e->what, "volume ", 7)) {
		printf("%-*s %s%s%s%s\n", (int)key_width,
		       strncmp(e->what, "volume ", 7) ? e->name : "volume",
		       strncmp(e->what, "volume ", 7) ? "" : e->name,
		       strncmp(e->what, "volume ", 7) ? e->what : e->what + 6,
		       e->detail ? ": " : "", e->detail ? e->detail : "");
	} else if (!strcmp(e->what, "healthy")) {
		printf("%-*s healthy after %.1fs\n", (int)key_width,
		       e->sandbox, (double)e->ms / 1000.0);
	} else if (e->ms) {
		printf("%-*s %s %s in %.1fs%s%s%s\n", (int)key_width, e->sandbox,
		       e->what, e->name, (double)e->ms / 1000.0,
		       e->detail ? " (" : "", e->detail ? e->detail : "",
		       e->detail ? ")" : "");
	} else {
		printf("%-*s %s%s%s\n", (int)key_width, e->sandbox, e->what,
		       e->detail ? " " : "", e->detail ? e->detail : "");
	}
	fflush(stdout);
}

static void width(const msb_project *p)
{
	key_width = 6;
	for (size_t i = 0; i < msb_project_count(p); i++) {
		size_t n = strlen(msb_project_sandbox(p, i, NULL));

		if (n > key_width)
			key_width = n;
	}
}

static const struct option lopts_long[] = {
	{ "detach", no_argument, NULL, 'd' },
	{ "volumes", no_argument, NULL, OPT_VOLUMES },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* common() - options (only those @allowed, of 'd', 'v', 't', 'f'),
 * the project, and its operands as keys. Return: -1 to go on. */
static int common(const struct verb *v, int argc, char **argv,
		  const char *allowed, struct lopts *l, msb_project **p,
		  msb_project_opts *o)
{
	struct option mine[8];
	size_t n = 0;
	int r;

	memset(l, 0, sizeof(*l));
	l->v = v;
	l->timeout = 10;
	for (const struct option *x = lopts_long; x->name; x++)
		if (x->val == 'h' ||
		    (x->val == 'd' && strchr(allowed, 'd')) ||
		    (x->val == OPT_VOLUMES && strchr(allowed, 'v')) ||
		    (x->val == OPT_TIMEOUT && strchr(allowed, 't')) ||
		    (x->val == OPT_FORMAT && strchr(allowed, 'f')))
			mine[n++] = *x;
	memset(&mine[n], 0, sizeof(mine[n]));
	r = project_getopt(v, argc, argv, strchr(allowed, 'd') ? "dh" : "h",
			   mine, take, l);
	if (r >= 0)
		return r;
	if (optind < argc && !strchr(allowed, 's'))
		return cli_bad_usage(v, "unexpected argument '%s'",
				     argv[optind]);
	if (project_load(p))
		return 1;
	width(*p);
	msb_project_opts_init(o);
	o->stop_timeout_s = l->timeout;
	o->volumes = l->volumes;
	o->progress = show;
	o->ctx = l;
	if (optind < argc) {
		argv[argc] = NULL;
		o->only = (const char *const *)argv + optind;
	}
	return -1;
}

static int finish(msb_project *p, int r, const msb_error *err)
{
	msb_project_free(p);
	if (r < 0) {
		cli_err("%s", err->message);
		return 1;
	}
	return 0;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static int sub_up(int argc, char **argv)
{
	struct lopts l;
	msb_project_opts o;
	msb_error err = { 0 };
	msb_project *p;
	int r = common(&project_up_verb, argc, argv, "dfs", &l, &p, &o);

	if (r >= 0)
		return r;
	r = msb_project_up(p, &o, &err);
	if (r < 0 || l.detach)
		return finish(p, r, &err);
	/* In the foreground: their logs until Ctrl-C, then stop them. */
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (!l.json)
		printf("following the logs; Ctrl-C stops the project's "
		       "sandboxes\n");
	fflush(stdout);
	project_follow(p, o.only, 0, 1, &interrupted);
	r = msb_project_stop(p, &o, &err);
	return finish(p, r, &err);
}

/* once() - a verb that runs @fn once on the project. */
static int once(const struct verb *v, const char *allowed, int argc,
		char **argv,
		int (*fn)(const msb_project *, const msb_project_opts *,
			  msb_error *))
{
	struct lopts l;
	msb_project_opts o;
	msb_error err = { 0 };
	msb_project *p;
	int r = common(v, argc, argv, allowed, &l, &p, &o);

	if (r >= 0)
		return r;
	return finish(p, fn(p, &o, &err), &err);
}

static int sub_down(int argc, char **argv)
{
	return once(&project_down_verb, "vtf", argc, argv, msb_project_down);
}

static int sub_stop(int argc, char **argv)
{
	return once(&project_stop_verb, "tfs", argc, argv, msb_project_stop);
}

static int sub_restart(int argc, char **argv)
{
	return once(&project_restart_verb, "tfs", argc, argv,
		    msb_project_restart);
}
