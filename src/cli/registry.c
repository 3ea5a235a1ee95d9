/* SPDX-License-Identifier: Apache-2.0 */
/* registry.c - msb registry login|logout: credentials for pulls */

#include <getopt.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

static int cmd_registry(int argc, char **argv);

const struct verb verb_registry = {
	.name = "registry",
	.summary = "Log in to or out of an image registry",
	.fn = cmd_registry,
	.help =
	"Usage: msb registry login [-u USER] [--password-stdin] [--insecure] HOST\n"
	"       msb registry logout HOST\n"
	"\n"
	"Check credentials for HOST (ghcr.io, docker.io, host:5000) with the\n"
	"registry, as docker login does, and store them in $MSB_HOME/auth.json,\n"
	"readable by you only (0600). Credentials the registry refuses, or a\n"
	"registry that cannot be reached, store nothing. The password is read\n"
	"from stdin with --password-stdin (which needs -u USER), else asked\n"
	"for on the terminal without echo (without a terminal, that fails\n"
	"and says so).\n"
	"Pulls and pushes then use them for HOST's token service or basic auth.\n"
	"\n"
	"  -u, --username USER  the user name\n"
	"      --password-stdin the password is the first line of stdin\n"
	"      --insecure       plain http to a registry not on loopback (as\n"
	"                       msb pull --insecure; loopback is always http)\n",
};

static const struct option opts[] = {
	{ "username", required_argument, NULL, 'u' },
	{ "password-stdin", no_argument, NULL, 's' },
	{ "insecure", no_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int read_secret(char *buf, size_t n, int from_stdin)
{
	struct termios t, old;
	int tty = !from_stdin && isatty(0);
	size_t len;

	if (tty) {
		fprintf(stderr, "Password: ");
		tcgetattr(0, &old);
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSANOW, &t);
	}
	if (!fgets(buf, (int)n, stdin))
		buf[0] = '\0';
	if (tty) {
		tcsetattr(0, TCSANOW, &old);
		fputc('\n', stderr);
	}
	len = strlen(buf);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return len ? 0 : -1;
}

static int cmd_registry(int argc, char **argv)
{
	msb_error err = { 0 };
	msb_login_options lo = { 0 };
	const char *user = NULL;
	char pw[512], ubuf[256];
	int c, from_stdin = 0, r;

	if (argc < 2)
		return cli_bad_usage(&verb_registry, "missing login or logout");
	if (!strcmp(argv[1], "logout")) {
		if (argc != 3)
			return cli_bad_usage(&verb_registry, "usage: msb registry logout HOST");
		if (msb_registry_logout(argv[2], &err) < 0) {
			cli_err("%s", err.message);
			return 1;
		}
		printf("logged out of %s\n", argv[2]);
		return 0;
	}
	if (strcmp(argv[1], "login"))
		return cli_bad_usage(&verb_registry, "unknown command '%s'", argv[1]);
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "u:h", opts)) != -1) {
		switch (c) {
		case 'u':
			user = optarg;
			break;
		case 's':
			from_stdin = 1;
			break;
		case 'k':
			lo.insecure = 1;
			break;
		case 'h':
			cli_usage(&verb_registry, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_registry, argv, opts);
		}
	}
	if (optind != argc - 1)
		return cli_bad_usage(&verb_registry, "give one registry HOST");
	/* Nothing to ask on: say so (docker login says the same). */
	if (!from_stdin && !isatty(0)) {
		cli_err("cannot ask for %s without a terminal: give them as "
			"'msb registry login -u USER --password-stdin %s' with "
			"the password on stdin",
			user ? "the password" : "a username and password",
			argv[optind]);
		return 1;
	}
	if (!user) {
		if (from_stdin)
			return cli_bad_usage(&verb_registry,
					     "--password-stdin needs -u USER");
		fprintf(stderr, "Username: ");
		if (!fgets(ubuf, sizeof(ubuf), stdin))
			ubuf[0] = '\0';
		ubuf[strcspn(ubuf, "\r\n")] = '\0';
		if (!ubuf[0]) {
			cli_err("no username given");
			return 1;
		}
		user = ubuf;
	}
	if (read_secret(pw, sizeof(pw), from_stdin) < 0) {
		cli_err("no password given");
		return 1;
	}
	r = msb_registry_login_with(argv[optind], user, pw, &lo, &err);
	memset(pw, 0, sizeof(pw));
	if (r < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	printf("logged in to %s as %s (credentials in $MSB_HOME/auth.json)\n",
	       argv[optind], user);
	return 0;
}
