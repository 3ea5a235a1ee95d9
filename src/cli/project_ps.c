/* SPDX-License-Identifier: Apache-2.0 */
/* project_ps.c - msb project ps, logs, exec, run: looking at and into a
 * project's sandboxes (exec and run are msb exec on the sandbox a key
 * names) */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "project_cli.h"
#include "util.h"

static int sub_ps(int argc, char **argv);
static int sub_logs(int argc, char **argv);
static int sub_exec(int argc, char **argv);
static int sub_run(int argc, char **argv);

const struct verb project_ps_verb = {
	.name = "project ps",
	.summary = "the project's sandboxes and their state",
	.fn = sub_ps,
	.help =
	"Usage: msb project [-f FILE] ps [-q] [--format json]\n"
	"\n"
	"The sandboxes of the file in start order, then those the project\n"
	"made that are no longer in it. STATE is current, changed (its\n"
	"definition changed since it was made: 'up' recreates it), missing\n"
	"('up' makes it) or orphan ('down' removes it).\n"
	"\n"
	"Options:\n"
	"  -q, --quiet            the sandboxes' names only (those that exist)\n"
	"      --format json      as JSON\n"
	"  -h, --help             show this help\n",
};

const struct verb project_logs_verb = {
	.name = "project logs",
	.summary = "the logs of the project's sandboxes",
	.fn = sub_logs,
	.help =
	"Usage: msb project [-f FILE] logs [-f] [--tail N] [SANDBOX...]\n"
	"\n"
	"The logs of the project's sandboxes (or those named), each line\n"
	"after its sandbox's key ('api | ...'): the guest console, agent\n"
	"messages, the output of its command, msb's own lines.\n"
	"\n"
	"Options:\n"
	"  -f, --follow           keep printing as the logs grow, until Ctrl-C\n"
	"  -n, --tail N           only the last N lines of each\n"
	"  -h, --help             show this help\n",
};

const struct verb project_exec_verb = {
	.name = "project exec",
	.summary = "run a command in one of the project's sandboxes",
	.fn = sub_exec,
	.usage_status = EXIT_MSB,
	.help =
	"Usage: msb project [-f FILE] exec [OPTIONS] SANDBOX [--] COMMAND...\n"
	"\n"
	"Run COMMAND in the project's sandbox SANDBOX (its key in the file),\n"
	"as 'msb exec' runs it, and exit with its status. OPTIONS are msb\n"
	"exec's: -d, -i, -t, -e KEY=VALUE, -w DIR, -u USER, --timeout\n"
	"DURATION ('msb exec --help').\n"
	"\n"
	"Exit status: the command's own, or 125 if msb failed.\n",
};

const struct verb project_run_verb = {
	.name = "project run",
	.summary = "run one of a sandbox's scripts",
	.fn = sub_run,
	.usage_status = EXIT_MSB,
	.help =
	"Usage: msb project [-f FILE] run [OPTIONS] SANDBOX SCRIPT\n"
	"\n"
	"Run script SCRIPT of the project's sandbox SANDBOX (its scripts: in\n"
	"the file) in it, as 'msb exec' runs a command, and exit with its\n"
	"status. OPTIONS are msb exec's (-i, -t, -e, -w, -u, --timeout).\n"
	"\n"
	"Exit status: the script's own, or 125 if msb failed.\n",
};

enum { OPT_FORMAT = 256 };

/* ---- ps ---- */

static int take_ps(int c, const char *arg, void *ctx)
{
	int *v = ctx;

	if (c == 'q') {
		v[1] = 1;
		return -1;
	}
	if (cli_format_json(arg, &v[0]) < 0)
		return cli_bad_usage(&project_ps_verb, "invalid --format '%s': "
				     "use table or json", arg);
	return -1;
}

static int sub_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int v[2] = { 0, 0 };
	msb_project_entry *e;
	msb_error err = { 0 };
	msb_project *p;
	size_t n;
	int r = project_getopt(&project_ps_verb, argc, argv, "qh", opts,
			       take_ps, v);

	if (r >= 0)
		return r;
	if (optind < argc)
		return cli_bad_usage(&project_ps_verb, "unexpected argument "
				     "'%s'", argv[optind]);
	if (project_load(&p))
		return 1;
	r = msb_project_ps(p, &e, &n, &err);
	if (r < 0) {
		msb_project_free(p);
		cli_err("%s", err.message);
		return 1;
	}
	if (v[0]) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++) {
			json_object *o = json_object_new_object();
			msb_port *ports = NULL;
			size_t np = 0;
			json_object *pa = json_object_new_array();

			json_object_object_add(o, "sandbox",
					       json_object_new_string(e[i].key));
			json_object_object_add(o, "name",
					       json_object_new_string(e[i].name));
			json_object_object_add(o, "status",
					       json_object_new_string(e[i].status));
			json_object_object_add(o, "state",
					       json_object_new_string(e[i].state));
			json_object_object_add(o, "image",
					       json_object_new_string(e[i].image));
			if (msb_sandbox_ports(e[i].name, &ports, &np, NULL) == 0)
				for (size_t k = 0; k < np; k++) {
					char s[128];

					snprintf(s, sizeof(s), "%s:%u->%u/tcp",
						 ports[k].host_ip,
						 ports[k].host_port,
						 ports[k].guest_port);
					json_object_array_add(
						pa, json_object_new_string(s));
				}
			free(ports);
			json_object_object_add(o, "ports", pa);
			json_object_array_add(a, o);
		}
		cli_print_json(a, stdout);
	} else if (v[1]) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(e[i].state, "missing"))
				puts(e[i].name);
	} else {
		printf("%-12s  %-24s  %-9s  %-8s  %-20s  %s\n", "SANDBOX",
		       "NAME", "STATUS", "STATE", "IMAGE", "PORTS");
		for (size_t i = 0; i < n; i++) {
			msb_port *ports = NULL;
			size_t np = 0;
			char pl[256] = "";
			size_t o = 0;

			if (msb_sandbox_ports(e[i].name, &ports, &np, NULL) == 0)
				for (size_t k = 0; k < np && o < sizeof(pl); k++)
					o += (size_t)snprintf(pl + o,
							      sizeof(pl) - o,
							      "%s%s:%u->%u",
							      k ? ", " : "",
							      ports[k].host_ip,
							      ports[k].host_port,
							      ports[k].guest_port);
			free(ports);
			printf("%-12s  %-24s  %-9s  %-8s  %-20s  %s\n",
			       e[i].key, e[i].name, e[i].status, e[i].state,
			       e[i].image, pl);
		}
	}
	free(e);
	msb_project_free(p);
	return 0;
}

/* ---- logs ---- */

struct tailed {
	char key[64];
	char path[PATH_MAX];
	off_t off;
	char part[4096];     /* a line not ended yet */
	size_t npart;
};

static size_t keyw;

static void emit(struct tailed *t, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && t->npart < sizeof(t->part) - 1) {
			t->part[t->npart++] = buf[i];
			continue;
		}
		printf("%-*s | %.*s\n", (int)keyw, t->key, (int)t->npart,
		       t->part);
		t->npart = 0;
		if (buf[i] != '\n')
			t->part[t->npart++] = buf[i];
	}
}

/* start_at() - where the last @tail lines of @path begin (0: all). */
static off_t start_at(const char *path, unsigned tail)
{
	size_t len;
	char *text;
	off_t at = 0;
	unsigned lines = 0;

	if (!tail)
		return 0;
	text = msb_read_file(path, &len);
	if (!text)
		return 0;
	for (size_t i = len; i > 0; i--)
		if (text[i - 1] == '\n' && i != len && ++lines == tail) {
			at = (off_t)i;
			break;
		}
	free(text);
	return at;
}

/* pump() - what @t's file gained since last time; a file that shrank was
 * rotated: read again from its start. */
static int pump(struct tailed *t)
{
	char buf[65536];
	struct stat st;
	int fd = open(t->path, O_RDONLY | O_CLOEXEC), got = 0;
	ssize_t n;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_size < t->off)
		t->off = 0;
	while ((n = pread(fd, buf, sizeof(buf), t->off)) > 0) {
		emit(t, buf, (size_t)n);
		t->off += n;
		got = 1;
	}
	close(fd);
	return got;
}

int project_follow(const msb_project *p, const char *const *only,
		   unsigned tail, int follow, volatile sig_atomic_t *stop)
{
	size_t n = msb_project_count(p), cnt = 0;
	struct tailed *t = calloc(n ? n : 1, sizeof(*t));

	if (!t) {
		cli_err("out of memory");
		return 1;
	}
	keyw = 3;
	for (size_t i = 0; i < n; i++) {
		const char *name, *key = msb_project_sandbox(p, i, &name);
		int want = !only;

		for (const char *const *k = only; k && *k; k++)
			want |= !strcmp(*k, key);
		if (!want ||
		    msb_sandbox_logs_path(name, t[cnt].path,
					  sizeof(t[cnt].path), NULL) < 0)
			continue;
		snprintf(t[cnt].key, sizeof(t[cnt].key), "%s", key);
		if (strlen(key) > keyw)
			keyw = strlen(key);
		t[cnt].off = start_at(t[cnt].path, tail);
		cnt++;
	}
	for (size_t i = 0; i < cnt; i++)
		pump(&t[i]);
	fflush(stdout);
	while (follow && !(stop && *stop)) {
		int got = 0;

		for (size_t i = 0; i < cnt; i++)
			got |= pump(&t[i]);
		if (got)
			fflush(stdout);
		else
			usleep(200000);
	}
	free(t);
	return 0;
}

static int take_logs(int c, const char *arg, void *ctx)
{
	unsigned *v = ctx;

	if (c == 'f') {
		v[0] = 1;
		return -1;
	}
	if (cli_parse_uint(arg, 0, 1000000, &v[1]) < 0)
		return cli_bad_usage(&project_logs_verb, "invalid --tail '%s': "
				     "use a number of lines", arg);
	return -1;
}

static volatile sig_atomic_t logs_stop;

static void on_sig(int sig)
{
	logs_stop = sig;
}

static int sub_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned v[2] = { 0, 0 };
	msb_project *p;
	int r = project_getopt(&project_logs_verb, argc, argv, "fn:h", opts,
			       take_logs, v);

	if (r >= 0)
		return r;
	if (project_load(&p))
		return 1;
	for (int i = optind; i < argc; i++) {
		size_t k;

		for (k = 0; k < msb_project_count(p); k++)
			if (!strcmp(msb_project_sandbox(p, k, NULL), argv[i]))
				break;
		if (k == msb_project_count(p)) {
			cli_err("no sandbox '%s' in %s", argv[i],
				msb_project_file(p));
			msb_project_free(p);
			return 1;
		}
	}
	if (v[0]) {
		struct sigaction sa = { .sa_handler = on_sig };

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	argv[argc] = NULL;
	r = project_follow(p, optind < argc ?
			   (const char *const *)argv + optind : NULL,
			   v[1], (int)v[0], &logs_stop);
	msb_project_free(p);
	return r;
}

/* ---- exec, run: msb exec on the sandbox a key names ---- */

/* sandbox_name() - the sandbox of key @key, into @buf; Return: 0, or an
 * exit status with the error printed. */
static int sandbox_name(const char *key, char *buf, size_t n)
{
	msb_project *p;
	size_t i;

	if (project_load(&p))
		return EXIT_MSB;
	for (i = 0; i < msb_project_count(p); i++) {
		const char *name;

		if (!strcmp(msb_project_sandbox(p, i, &name), key)) {
			snprintf(buf, n, "%s", name);
			break;
		}
	}
	if (i == msb_project_count(p)) {
		cli_err("no sandbox '%s' in %s", key, msb_project_file(p));
		msb_project_free(p);
		return EXIT_MSB;
	}
	/* in the file but never made (or taken down): say how to make it */
	msb_sandbox_info info;
	msb_error err = { 0 };

	if (msb_sandbox_info_get(buf, &info, &err) == MSB_E_NOT_FOUND) {
		cli_err("sandbox '%s' of %s is not up: 'msb project up %s' "
			"makes and starts it",
			key, msb_project_file(p), key);
		msb_project_free(p);
		return EXIT_MSB;
	}
	msb_project_free(p);
	return 0;
}

/* exec_operand() - where msb exec's options end: the index of its first
 * operand (its optstring, stopping there). */
static int exec_operand(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			return i + 1;
		if (a[0] != '-' || !a[1])
			return i;
		if (!strcmp(a, "-e") || !strcmp(a, "-w") || !strcmp(a, "-u") ||
		    !strcmp(a, "--env") || !strcmp(a, "--workdir") ||
		    !strcmp(a, "--user") || !strcmp(a, "--timeout"))
			i++;
	}
	return argc;
}

static int sub_exec(int argc, char **argv)
{
	char name[64];
	int k = exec_operand(argc, argv), r;

	for (int i = 1; i < k && i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			cli_usage(&project_exec_verb, stdout);
			return 0;
		}
	if (k >= argc)
		return cli_bad_usage(&project_exec_verb,
				     "expected SANDBOX and COMMAND");
	r = sandbox_name(argv[k], name, sizeof(name));
	if (r)
		return r;
	argv[k] = name;
	argv[0] = "exec";
	return verb_exec.fn(argc, argv);
}

static int sub_run(int argc, char **argv)
{
	char name[64], **script = NULL, **nv;
	msb_error err = { 0 };
	msb_project *p;
	int k = exec_operand(argc, argv), r, nargs = 0;

	for (int i = 1; i < k && i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			cli_usage(&project_run_verb, stdout);
			return 0;
		}
	if (k + 2 != argc)
		return cli_bad_usage(&project_run_verb,
				     "expected SANDBOX and SCRIPT");
	r = sandbox_name(argv[k], name, sizeof(name));
	if (r)
		return r;
	if (project_load(&p))
		return EXIT_MSB;
	r = msb_project_script(p, argv[k], argv[k + 1], &script, &err);
	msb_project_free(p);
	if (r < 0) {
		cli_err("%s", err.message);
		return EXIT_MSB;
	}
	while (script[nargs])
		nargs++;
	/* exec [OPTIONS] NAME -- SCRIPT... */
	nv = calloc((size_t)(k + nargs + 3), sizeof(char *));
	if (!nv) {
		free(script);
		cli_err("out of memory");
		return EXIT_MSB;
	}
	/* options as given ("--" before SANDBOX dropped), then NAME -- */
	if (k > 1 && !strcmp(argv[k - 1], "--"))
		k--;
	nv[0] = "exec";
	for (int i = 1; i < k; i++)
		nv[i] = argv[i];
	nv[k] = name;
	nv[k + 1] = "--";
	for (int i = 0; i < nargs; i++)
		nv[k + 2 + i] = script[i];
	r = verb_exec.fn(k + 2 + nargs, nv);
	free(nv);
	free(script);
	return r;
}
