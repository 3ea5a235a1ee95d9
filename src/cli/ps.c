/* SPDX-License-Identifier: Apache-2.0 */
/* ps.c - msb ps / msb ls: list sandboxes */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"
#include "util.h"

static int cmd_ps(int argc, char **argv);

const struct verb verb_ps = {
	.name = "ps",
	.alias = "ls",
	.summary = "List sandboxes",
	.fn = cmd_ps,
	.help =
	"Usage: msb ps [OPTIONS]\n"
	"       msb ls [OPTIONS]\n"
	"\n"
	"List running sandboxes (all of them with -a). A sandbox whose\n"
	"detached command (msb run -d -- CMD) has ended says so in its STATUS,\n"
	"with the command's exit status: running (cmd exited 127); one whose\n"
	"VM is paused because the host disk under $MSB_HOME is full says\n"
	"running (paused: host disk full) until there is room. CPU is the\n"
	"use over the last second against the sandbox's CPUs (100% is one CPU\n"
	"busy), MEM the memory in use in the guest against its limit; 'msb\n"
	"stats' has more. PORTS are the published ports of a running\n"
	"sandbox, as bound: 127.0.0.1:8080->80/tcp. PARENT, shown when a\n"
	"sandbox listed was started by another (msb start inside it,\n"
	"docs/spawn.md), names that parent.\n"
	"\n"
	"Options:\n"
	"  -a, --all              include stopped and failed sandboxes\n"
	"  -q, --quiet            print names only\n"
	"      --format FORMAT    table (default) or json\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256 };

static const struct option opts[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int shown(const msb_sandbox_info *i, int all)
{
	return all || msb_status_is_live(i->status);
}

/* ports_text() - "127.0.0.1:8080->80/tcp, ..." while it runs, as docker
 * ps shows them; "" without. */
static void ports_text(const msb_sandbox_info *i, char *buf, size_t n)
{
	msb_port *p;
	size_t np, used = 0;

	buf[0] = '\0';
	if (!msb_status_is_live(i->status) ||
	    msb_sandbox_ports(i->name, &p, &np, NULL) < 0)
		return;
	for (size_t k = 0; k < np && used < n; k++)
		used += (size_t)snprintf(buf + used, n - used,
					 strchr(p[k].host_ip, ':') ?
						 "%s[%s]:%u->%u/tcp" :
						 "%s%s:%u->%u/tcp",
					 k ? ", " : "", p[k].host_ip,
					 p[k].host_port, p[k].guest_port);
	free(p);
}

/* row() - one line of the table, its columns padded, with FROM when
 * @wf >= 0 and PARENT when @wp >= 0, and nothing trailing. */
static void row(char *buf, size_t n, int wn, const char *name, int wi,
		const char *image, int ws, const char *status, const char *cpu,
		const char *mem, int wf, const char *from, int wp,
		const char *parent, const char *ports)
{
	size_t l = (size_t)snprintf(buf, n, "%-*s  %-*s  %-*s  %-9s  %-15s",
				    wn, name, wi, image, ws, status, cpu, mem);

	if (wf >= 0 && l < n)
		l += (size_t)snprintf(buf + l, n - l, "  %-*s", wf, from);
	if (wp >= 0 && l < n)
		l += (size_t)snprintf(buf + l, n - l, "  %-*s", wp, parent);
	if (l < n)
		l += (size_t)snprintf(buf + l, n - l, "  %s", ports);
	if (l >= n)
		l = n - 1;
	while (l && buf[l - 1] == ' ')
		l--;
	buf[l] = '\0';
	puts(buf);
}

/* paused() - its VM is paused for lack of host disk space (@st from
 * msb_sandbox_stats, docs/api-protocol.md §5.7). */
static int paused(const msb_stats *st)
{
	return st->running && !strcmp(st->status, "paused");
}

/* status_text() - the status, and how its detached command ended, or
 * that the VM is paused for a full disk (docker ps says "(Paused)"). */
static void status_text(const msb_sandbox_info *i, const msb_stats *st,
			char *buf, size_t n)
{
	if (paused(st))
		snprintf(buf, n, "%s (paused: host disk full)", i->status);
	else if (i->cmd_state == MSB_CMD_ENDED)
		snprintf(buf, n, "%s (cmd exited %d)", i->status,
			 i->cmd_exit_code);
	else
		snprintf(buf, n, "%s", i->status);
}

static int cmd_ps(int argc, char **argv)
{
	msb_sandbox_info *v;
	msb_stats *st;
	char (*parent)[64];
	msb_error err = { 0 };
	size_t n;
	int c, all = 0, quiet = 0, json = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "aqh", opts)) != -1) {
		switch (c) {
		case 'a':
			all = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_ps,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'h':
			cli_usage(&verb_ps, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_ps, argv, opts);
		}
	}
	if (optind < argc)
		return cli_bad_usage(&verb_ps, "unexpected argument '%s'",
				     argv[optind]);
	if (msb_list(&v, &n, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	/* What each running one uses (quiet: names alone need none). */
	st = calloc(n ? n : 1, sizeof(*st));
	if (!st) {
		free(v);
		cli_err("out of memory");
		return 1;
	}
	parent = calloc(n ? n : 1, sizeof(*parent));
	if (!parent) {
		free(st);
		free(v);
		cli_err("out of memory");
		return 1;
	}
	for (size_t i = 0; i < n && !quiet; i++) {
		if (!shown(&v[i], all))
			continue;
		msb_sandbox_parent(v[i].name, parent[i], sizeof(parent[i]),
				   NULL);
		if (!msb_status_is_live(v[i].status))
			continue;
		msb_sandbox_stats(v[i].name, &st[i], NULL);
	}
	if (json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++) {
			json_object *o;

			if (!shown(&v[i], all))
				continue;
			o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(v[i].name));
			json_object_object_add(o, "image", json_object_new_string(v[i].image));
			json_object_object_add(o, "status", json_object_new_string(v[i].status));
			json_object_object_add(o, "paused",
					       paused(&st[i]) ?
						       json_object_new_string("host disk full") :
						       NULL);
			json_object_object_add(o, "cpus", json_object_new_int((int)v[i].cpus));
			json_object_object_add(o, "memory_mib",
					       json_object_new_int64((int64_t)v[i].memory_mib));
			json_object_object_add(o, "cpu_percent",
					       st[i].running ?
						       msb_jdouble(st[i].cpu_percent, 1) :
						       NULL);
			json_object_object_add(o, "memory_used_bytes",
					       st[i].running ?
						       json_object_new_int64((int64_t)st[i].memory_used_bytes) :
						       NULL);
			json_object_object_add(o, "pid", json_object_new_int(v[i].pid));
			json_object_object_add(o, "created_at",
					       json_object_new_int64(v[i].created_at));
			json_object_object_add(o, "parent",
					       parent[i][0] ?
						       json_object_new_string(parent[i]) :
						       NULL);
			json_object_object_add(o, "from_snapshot",
					       v[i].from_snapshot[0] ?
						       json_object_new_string(v[i].from_snapshot) :
						       NULL);
			json_object_object_add(o, "error",
					       v[i].error[0] ? json_object_new_string(v[i].error) : NULL);
			{
				json_object *pa = json_object_new_array();
				msb_port *pp;
				size_t np;

				if (msb_status_is_live(v[i].status) &&
				    msb_sandbox_ports(v[i].name, &pp, &np,
						      NULL) == 0) {
					for (size_t k = 0; k < np; k++) {
						json_object *po =
							json_object_new_object();

						json_object_object_add(po, "host_ip",
							json_object_new_string(pp[k].host_ip));
						json_object_object_add(po, "host_port",
							json_object_new_int(pp[k].host_port));
						json_object_object_add(po, "guest_port",
							json_object_new_int(pp[k].guest_port));
						json_object_object_add(po, "proto",
							json_object_new_string("tcp"));
						json_object_array_add(pa, po);
					}
					free(pp);
				}
				json_object_object_add(o, "ports", pa);
			}
			if (v[i].cmd_state != MSB_CMD_NONE) {
				json_object *cmd = json_object_new_object();

				json_object_object_add(cmd, "state",
					json_object_new_string(
						v[i].cmd_state == MSB_CMD_RUNNING ?
							"running" : "ended"));
				if (v[i].cmd_state == MSB_CMD_ENDED)
					json_object_object_add(cmd, "exit_code",
						json_object_new_int(v[i].cmd_exit_code));
				json_object_object_add(o, "command", cmd);
			} else {
				json_object_object_add(o, "command", NULL);
			}
			json_object_array_add(a, o);
		}
		cli_print_json(a, stdout);
	} else if (quiet) {
		for (size_t i = 0; i < n; i++)
			if (shown(&v[i], all))
				puts(v[i].name);
	} else {
		int wn = 4, wi = 5, ws = 8, wf = 4, from = 0, wp = 6, par = 0;
		char stt[64], ports[1024], line[2048];

		for (size_t i = 0; i < n; i++) {
			if (!shown(&v[i], all))
				continue;
			status_text(&v[i], &st[i], stt, sizeof(stt));
			if (v[i].from_snapshot[0])
				from = 1;
			if ((int)strlen(v[i].from_snapshot) > wf)
				wf = (int)strlen(v[i].from_snapshot);
			if (parent[i][0])
				par = 1;
			if ((int)strlen(parent[i]) > wp)
				wp = (int)strlen(parent[i]);
			if ((int)strlen(v[i].name) > wn)
				wn = (int)strlen(v[i].name);
			if ((int)strlen(v[i].image) > wi)
				wi = (int)strlen(v[i].image);
			if ((int)strlen(stt) > ws)
				ws = (int)strlen(stt);
		}
		/* FROM (the snapshot a sandbox was restored from) only when
		 * some sandbox has one; PORTS last, as docker ps has them. */
		row(line, sizeof(line), wn, "NAME", wi, "IMAGE", ws, "STATUS",
		    "CPU", "MEM", from ? wf : -1, "FROM", par ? wp : -1,
		    "PARENT", "PORTS");
		for (size_t i = 0; i < n; i++) {
			char lim[32], used[16], mem[48], cpu[32];

			if (!shown(&v[i], all))
				continue;
			msb_fmt_mib(v[i].memory_mib, lim, sizeof(lim));
			status_text(&v[i], &st[i], stt, sizeof(stt));
			ports_text(&v[i], ports, sizeof(ports));
			/* use against the limit; a limit alone when stopped */
			if (st[i].running) {
				cli_fmt_bytes(st[i].memory_used_bytes, used,
					      sizeof(used));
				snprintf(cpu, sizeof(cpu), "%.0f%%/%u",
					 st[i].cpu_percent, v[i].cpus);
				snprintf(mem, sizeof(mem), "%s/%s", used, lim);
			} else {
				snprintf(cpu, sizeof(cpu), "%u", v[i].cpus);
				snprintf(mem, sizeof(mem), "%s", lim);
			}
			row(line, sizeof(line), wn, v[i].name, wi, v[i].image,
			    ws, stt, cpu, mem, from ? wf : -1,
			    v[i].from_snapshot, par ? wp : -1, parent[i],
			    ports);
		}
	}
	free(parent);
	free(st);
	free(v);
	return 0;
}
