/* SPDX-License-Identifier: Apache-2.0 */
/* logs.c - msb logs: the guest console, agent and supervisor messages */

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int cmd_logs(int argc, char **argv);

const struct verb verb_logs = {
	.name = "logs",
	.summary = "Show a sandbox's console and agent log",
	.fn = cmd_logs,
	.help =
	"Usage: msb logs [OPTIONS] NAME\n"
	"\n"
	"Print NAME's log: the guest kernel console, the agent's messages,\n"
	"the output of a detached command, and msb's own lines ([msb ...]).\n"
	"Kept after the sandbox stops or fails, until 'msb rm'.\n"
	"\n"
	"Options:\n"
	"  -f, --follow           keep printing as the log grows, until the\n"
	"                         sandbox stops\n"
	"  -h, --help             show this help\n",
};

static const struct option opts[] = {
	{ "follow", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;
	int any = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		msb_write_all(1, buf, (size_t)n);
		any = 1;
	}
	return any;
}

static int live(const char *name)
{
	msb_sandbox_info i;

	if (msb_sandbox_info_get(name, &i, NULL) < 0)
		return 0;
	return msb_status_is_live(i.status);
}

static int cmd_logs(int argc, char **argv)
{
	msb_error err = { 0 };
	char path[PATH_MAX];
	int c, fd, follow = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "fh", opts)) != -1) {
		switch (c) {
		case 'f':
			follow = 1;
			break;
		case 'h':
			cli_usage(&verb_logs, stdout);
			return 0;
		default:
			return cli_bad_usage(&verb_logs,
					     "unknown or incomplete option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_bad_usage(&verb_logs, "expected exactly one NAME");
	if (msb_sandbox_logs_path(argv[optind], path, sizeof(path), &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!follow)
			return 0; /* never booted: nothing logged yet */
		while (fd < 0 && live(argv[optind])) {
			usleep(100000);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (fd < 0)
			return 0;
	}
	copy_out(fd);
	while (follow) {
		int was_live = live(argv[optind]);

		if (!copy_out(fd)) {
			if (!was_live) {
				copy_out(fd);
				break;
			}
			usleep(100000);
		}
	}
	close(fd);
	return 0;
}
