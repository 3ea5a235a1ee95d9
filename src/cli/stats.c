/* SPDX-License-Identifier: Apache-2.0 */
/* stats.c - msb stats: what sandboxes use, live */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"
#include "util.h"

static int cmd_stats(int argc, char **argv);

const struct verb verb_stats = {
	.name = "stats",
	.summary = "Show what sandboxes use: CPU, memory, disk, network",
	.fn = cmd_stats,
	.help =
	"Usage: msb stats [OPTIONS] [NAME...]\n"
	"\n"
	"Show each sandbox's CPU use (over the last second; 100% is one CPU\n"
	"busy), memory in use in the guest against its limit, the host disk\n"
	"its writable layer takes, bytes into and out of its network,\n"
	"processes in the guest and uptime. Without NAME, every running\n"
	"sandbox. Refreshed every second until interrupted, unless\n"
	"--no-stream.\n"
	"\n"
	"Options:\n"
	"  -a, --all              include stopped sandboxes (their disk)\n"
	"      --no-stream        print once and exit\n"
	"      --format FORMAT    table (default) or json (an array per sample)\n"
	"  -h, --help             show this help\n",
};

enum { OPT_NO_STREAM = 256, OPT_FORMAT };

static const struct option opts[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "no-stream", no_argument, NULL, OPT_NO_STREAM },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

void cli_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)n);
	else
		snprintf(buf, len, "%.*f%s", v < 10 ? 1 : 0, v, unit[u]);
}

static void fmt_uptime(uint64_t ms, char *buf, size_t n)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, n, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60));
}

static json_object *stats_json(const msb_stats *s)
{
	json_object *o = json_object_new_object();

#define U(k) json_object_object_add(o, #k, json_object_new_int64((int64_t)s->k))
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "status", json_object_new_string(s->status));
	json_object_object_add(o, "running", json_object_new_boolean(s->running));
	json_object_object_add(o, "guest", json_object_new_boolean(s->guest));
	U(cpus);
	U(memory_limit_bytes);
	U(uptime_ms);
	json_object_object_add(o, "cpu_percent",
			       msb_jdouble(s->cpu_percent, 1));
	U(cpu_time_ns);
	U(memory_rss_bytes);
	U(memory_used_bytes);
	U(memory_total_bytes);
	U(disk_bytes);
	U(disk_used_bytes);
	U(disk_total_bytes);
	U(net_rx_bytes);
	U(net_tx_bytes);
	U(net_rx_packets);
	U(net_tx_packets);
	U(processes);
#undef U
	return o;
}

static void print_table(const msb_stats *v, size_t n)
{
	int wn = 4;

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(v[i].name) > wn)
			wn = (int)strlen(v[i].name);
	printf("%-*s  %6s  %-19s  %5s  %-17s  %-8s  %5s  %s\n", wn, "NAME",
	       "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "DISK",
	       "PIDS", "UPTIME");
	for (size_t i = 0; i < n; i++) {
		const msb_stats *s = &v[i];
		char used[16], lim[16], rx[16], tx[16], disk[16], up[16];
		char mem[40], net[40], cpu[16], memp[16], pids[16];

		cli_fmt_bytes(s->memory_used_bytes, used, sizeof(used));
		cli_fmt_bytes(s->memory_limit_bytes, lim, sizeof(lim));
		cli_fmt_bytes(s->net_rx_bytes, rx, sizeof(rx));
		cli_fmt_bytes(s->net_tx_bytes, tx, sizeof(tx));
		cli_fmt_bytes(s->disk_bytes, disk, sizeof(disk));
		fmt_uptime(s->uptime_ms, up, sizeof(up));
		if (s->running) {
			snprintf(cpu, sizeof(cpu), "%.1f%%", s->cpu_percent);
			snprintf(mem, sizeof(mem), "%s / %s", used, lim);
			snprintf(memp, sizeof(memp), "%.1f%%",
				 s->memory_limit_bytes ?
					 100.0 * (double)s->memory_used_bytes /
						 (double)s->memory_limit_bytes :
					 0.0);
			snprintf(net, sizeof(net), "%s / %s", rx, tx);
			if (s->guest)
				snprintf(pids, sizeof(pids), "%llu",
					 (unsigned long long)s->processes);
			else
				snprintf(pids, sizeof(pids), "-");
		} else {
			snprintf(cpu, sizeof(cpu), "-");
			snprintf(mem, sizeof(mem), "- / %s", lim);
			snprintf(memp, sizeof(memp), "-");
			snprintf(net, sizeof(net), "-");
			snprintf(pids, sizeof(pids), "-");
			snprintf(up, sizeof(up), "%s", s->status);
		}
		printf("%-*s  %6s  %-19s  %5s  %-17s  %-8s  %5s  %s\n", wn,
		       s->name, cpu, mem, memp, net, disk, pids, up);
	}
}

/* sample() - the numbers of @names (all running, or @all, when none). */
static int sample(char **names, int nnames, int all, msb_stats **v,
		  size_t *n)
{
	msb_error err = { 0 };

	if (!nnames) {
		if (msb_stats_list(all, v, n, &err) < 0) {
			cli_err("%s", err.message);
			return -1;
		}
		return 0;
	}
	*v = calloc((size_t)nnames, sizeof(**v));
	if (!*v) {
		cli_err("out of memory");
		return -1;
	}
	for (int i = 0; i < nnames; i++)
		if (msb_sandbox_stats(names[i], &(*v)[i], &err) < 0) {
			cli_err("%s", err.message);
			free(*v);
			return -1;
		}
	*n = (size_t)nnames;
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	int c, all = 0, once = 0, json = 0, tty = isatty(1);

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "ah", opts)) != -1) {
		switch (c) {
		case 'a':
			all = 1;
			break;
		case OPT_NO_STREAM:
			once = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_stats,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'h':
			cli_usage(&verb_stats, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_stats, argv, opts);
		}
	}
	for (int i = optind; i < argc; i++)
		if (msb_name_valid(argv[i], NULL) < 0)
			return cli_bad_usage(&verb_stats,
					     "invalid sandbox name '%s'",
					     argv[i]);
	for (;;) {
		msb_stats *v;
		size_t n;

		if (sample(argv + optind, argc - optind, all, &v, &n) < 0)
			return 1;
		if (!once && tty && !json)
			fputs("\033[H\033[2J", stdout);
		if (json) {
			json_object *a = json_object_new_array();

			for (size_t i = 0; i < n; i++)
				json_object_array_add(a, stats_json(&v[i]));
			puts(json_object_to_json_string_ext(
				a, (once ? JSON_C_TO_STRING_PRETTY |
						   JSON_C_TO_STRING_SPACED :
					   JSON_C_TO_STRING_PLAIN) |
					   JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(a);
		} else {
			print_table(v, n);
			if (!once && !tty)
				putchar('\n');
		}
		free(v);
		fflush(stdout);
		if (once)
			return 0;
		sleep(1);
	}
}
