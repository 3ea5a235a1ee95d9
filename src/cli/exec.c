/* SPDX-License-Identifier: Apache-2.0 */
/* exec.c - msb exec: run a command in a running sandbox */

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_exec(int argc, char **argv);

const struct verb verb_exec = {
	.name = "exec",
	.summary = "Run a command in a running sandbox",
	.fn = cmd_exec,
	.usage_status = EXIT_MSB,
	.help =
	"Usage: msb exec [OPTIONS] NAME [--] COMMAND [ARG...]\n"
	"\n"
	"Run COMMAND in the running sandbox NAME and exit with its status.\n"
	"OPTIONS may also come after NAME when a '--' ends them\n"
	"(msb exec NAME -w /tmp -- pwd).\n"
	"stdout and stderr stay separate; Ctrl-C reaches the command. A\n"
	"sandbox still booting is waited for (as long as its boot timeout).\n"
	"\n"
	"Options:\n"
	"  -d, --detach           run COMMAND in the background: print its pid\n"
	"                         in the guest once it runs and return; its\n"
	"                         output goes to 'msb logs NAME'\n"
	"  -i, --interactive      stream stdin to the command\n"
	"  -t, --tty              allocate a pseudo-terminal (resized with yours)\n"
	"  -e, --env KEY=VALUE    set an environment variable (repeatable)\n"
	"  -w, --workdir DIR      working directory inside the guest\n"
	"  -u, --user USER        user name, uid or uid:gid to run as\n"
	"      --timeout DURATION kill the command (its process group) after\n"
	"                         DURATION (seconds, or 500ms, 2m, 1h) and exit\n"
	"                         124, as timeout(1) does\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: the command's own (128+N if killed by signal N, 127 if\n"
	"it was not found, 126 if it could not run, 124 if it timed out), or\n"
	"125 if msb failed (bad usage included). If what reads msb's stdout\n"
	"goes away (msb exec ... | head), msb exits 141 at once and the\n"
	"command is hung up (SIGHUP), as a local pipeline's writer ends.\n",
};

enum { OPT_TIMEOUT = 256 };

static const struct option opts[] = {
	{ "detach", no_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "interactive", no_argument, NULL, 'i' },
	{ "tty", no_argument, NULL, 't' },
	{ "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

struct exec_args {
	msb_exec_opts eo;
	struct attach_opts ao;
	char **env;
	size_t nenv;
	int detach;
};

/* take_options() - msb exec's options from argv[optind] up to @argc into
 * @a. Return: -1, or the status to exit with (help, bad usage). */
static int take_options(int argc, char **argv, struct exec_args *a)
{
	uint64_t ms;
	int c;

	while ((c = cli_getopt(argc, argv, "+dite:w:u:h", opts)) != -1) {
		switch (c) {
		case 'd':
			a->detach = 1;
			break;
		case OPT_TIMEOUT:
			if (msb_parse_duration(optarg, &ms) < 0 || !ms ||
			    ms > UINT_MAX)
				return cli_bad_usage(&verb_exec,
					"invalid --timeout '%s': use seconds "
					"(2, 0.5) or 500ms, 2m, 1h (up to 49d)",
					optarg);
			a->eo.timeout_ms = (unsigned)ms;
			break;
		case 'i':
			a->ao.interactive = a->eo.stdin = 1;
			break;
		case 't':
			a->ao.tty = a->eo.tty = 1;
			break;
		case 'e':
			if ((c = cli_push_env(&verb_exec, optarg, &a->env,
					      &a->nenv)))
				return c;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_bad_usage(&verb_exec,
					"invalid --workdir '%s': use an absolute path",
					optarg);
			a->eo.workdir = optarg;
			break;
		case 'u':
			a->eo.user = optarg;
			break;
		case 'h':
			cli_usage(&verb_exec, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_exec, argv, opts);
		}
	}
	return -1;
}

/* options_after_name() - msb exec's options between @name and a '--',
 * as msb run takes them after IMAGE: 'msb exec dev -w /tmp -- pwd'. Only
 * when the word after NAME is an option and a '--' follows; 'msb exec
 * dev git log -- f' runs git. Return: as take_options(). */
static int options_after_name(int argc, char **argv, const char *name,
			      struct exec_args *a)
{
	int end = optind, r;

	if (optind >= argc || argv[optind][0] != '-' || !argv[optind][1] ||
	    !strcmp(argv[optind], "--"))
		return -1;
	while (end < argc && strcmp(argv[end], "--"))
		end++;
	if (end == argc)
		return -1;
	if ((r = take_options(end, argv, a)) >= 0)
		return r;
	if (optind < end)
		return cli_bad_usage(&verb_exec,
				     "'%s' stands among the options after %s: "
				     "put the command after the '--'",
				     argv[optind], name);
	optind = end;
	return -1;
}

static int cmd_exec(int argc, char **argv)
{
	struct exec_args a = { 0 };
	msb_error err = { 0 };
	msb_sandbox *sb;
	msb_exec *e;
	const char *name;
	int c, status, pid = 0;

	optind = 1;
	opterr = 0;
	if ((c = take_options(argc, argv, &a)) >= 0)
		return c;
	if (optind >= argc)
		return cli_bad_usage(&verb_exec, "missing sandbox NAME");
	name = argv[optind++];
	if ((c = options_after_name(argc, argv, name, &a)) >= 0)
		return c;
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return cli_bad_usage(&verb_exec, "missing COMMAND to run in %s",
				     name);
	if (a.detach && (a.ao.interactive || a.ao.tty))
		return cli_bad_usage(&verb_exec,
				     "-i and -t need a command in the "
				     "foreground (no -d)");
	a.eo.env = (const char *const *)a.env;
	if (a.eo.tty) {
		struct winsize ws;

		if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0) {
			a.eo.rows = ws.ws_row;
			a.eo.cols = ws.ws_col;
		}
	}
	if (msb_sandbox_open(name, &sb, &err) < 0) {
		cli_err("%s", err.message);
		return EXIT_MSB;
	}
	if (a.detach) {
		c = msb_exec_detach(sb, (const char *const *)argv + optind, &a.eo,
				    &pid, &err);
		msb_sandbox_close(sb);
		free(a.env);
		if (c < 0) {
			cli_err("%s", err.message);
			return EXIT_MSB;
		}
		printf("%d\n", pid);
		return 0;
	}
	if (msb_exec_start(sb, (const char *const *)argv + optind, &a.eo, &e,
			   &err) < 0) {
		cli_err("%s", err.message);
		msb_sandbox_close(sb);
		return EXIT_MSB;
	}
	status = cli_attach(e, &a.ao);
	if (a.ao.timed_out)
		cli_err("the command timed out after %gs; killed it",
			(double)a.eo.timeout_ms / 1000.0);
	msb_exec_free(e);
	msb_sandbox_close(sb);
	free(a.env);
	return status;
}
