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

static int cmd_exec(int argc, char **argv)
{
	msb_exec_opts eo = { 0 };
	struct attach_opts ao = { 0 };
	msb_error err = { 0 };
	msb_sandbox *sb;
	msb_exec *e;
	char **env = NULL;
	size_t nenv = 0;
	const char *name;
	int c, status, detach = 0, pid = 0;
	uint64_t ms;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "+dite:w:u:h", opts)) != -1) {
		switch (c) {
		case 'd':
			detach = 1;
			break;
		case OPT_TIMEOUT:
			if (msb_parse_duration(optarg, &ms) < 0 || !ms ||
			    ms > UINT_MAX)
				return cli_bad_usage(&verb_exec,
					"invalid --timeout '%s': use seconds "
					"(2, 0.5) or 500ms, 2m, 1h (up to 49d)",
					optarg);
			eo.timeout_ms = (unsigned)ms;
			break;
		case 'i':
			ao.interactive = eo.stdin = 1;
			break;
		case 't':
			ao.tty = eo.tty = 1;
			break;
		case 'e':
			if ((c = cli_push_env(&verb_exec, optarg, &env, &nenv)))
				return c;
			break;
		case 'w':
			eo.workdir = optarg;
			break;
		case 'u':
			eo.user = optarg;
			break;
		case 'h':
			cli_usage(&verb_exec, stdout);
			return 0;
		default:
			return cli_bad_usage(&verb_exec, "unknown or incomplete option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_bad_usage(&verb_exec, "missing sandbox NAME");
	name = argv[optind++];
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return cli_bad_usage(&verb_exec, "missing COMMAND to run in %s",
				     name);
	if (detach && (ao.interactive || ao.tty))
		return cli_bad_usage(&verb_exec,
				     "-i and -t need a command in the "
				     "foreground (no -d)");
	eo.env = (const char *const *)env;
	if (eo.tty) {
		struct winsize ws;

		if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0) {
			eo.rows = ws.ws_row;
			eo.cols = ws.ws_col;
		}
	}
	if (msb_sandbox_open(name, &sb, &err) < 0) {
		cli_err("%s", err.message);
		return EXIT_MSB;
	}
	if (detach) {
		c = msb_exec_detach(sb, (const char *const *)argv + optind, &eo,
				    &pid, &err);
		msb_sandbox_close(sb);
		free(env);
		if (c < 0) {
			cli_err("%s", err.message);
			return EXIT_MSB;
		}
		printf("%d\n", pid);
		return 0;
	}
	if (msb_exec_start(sb, (const char *const *)argv + optind, &eo, &e,
			   &err) < 0) {
		cli_err("%s", err.message);
		msb_sandbox_close(sb);
		return EXIT_MSB;
	}
	status = cli_attach(e, &ao);
	if (ao.timed_out)
		cli_err("the command timed out after %gs; killed it",
			(double)eo.timeout_ms / 1000.0);
	msb_exec_free(e);
	msb_sandbox_close(sb);
	free(env);
	return status;
}
