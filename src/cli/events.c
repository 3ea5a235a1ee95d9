/* SPDX-License-Identifier: Apache-2.0 */
/* events.c - msb events (read a sandbox's events) and msb event send
 * (one for its guest); docs/events.md */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int cmd_events(int argc, char **argv);
static int cmd_event(int argc, char **argv);

const struct verb verb_events = {
	.name = "events",
	.summary = "Show a sandbox's events (guest, host and its own)",
	.fn = cmd_events,
	.help =
	"Usage: msb events [OPTIONS] NAME\n"
	"\n"
	"Print the events of a running sandbox, oldest first: those its\n"
	"programs emitted (msb event emit inside it; source 'guest'), those\n"
	"sent to it (msb event send; source 'host') and its own (source\n"
	"'msb': msb.started, msb.exec.started, msb.exec.exited, msb.stopped,\n"
	"msb.failed, msb.oom, msb.net.denied, msb.secret.violation,\n"
	"msb.events.dropped). The sandbox keeps its last 4096 events (4 MiB);\n"
	"a reader that falls behind is told how many it missed.\n"
	"\n"
	"Options:\n"
	"  -f, --follow           go on printing new events until the sandbox\n"
	"                         stops, msb is interrupted or what reads it\n"
	"                         goes away (| head -1: exits 141)\n"
	"      --since SEQ        start at the event numbered SEQ (0: the oldest\n"
	"                         kept, the default; -1: only those to come)\n"
	"      --topic TOPIC      only TOPIC, or with 'prefix.*' every topic\n"
	"                         that begins with 'prefix.'\n"
	"      --format FORMAT    text (default: time, source, topic, data) or\n"
	"                         json (one event object a line)\n"
	"  -h, --help             show this help\n",
};

const struct verb verb_event = {
	.name = "event",
	.summary = "Send an event to a sandbox's programs",
	.fn = cmd_event,
	.help =
	"Usage: msb event send NAME TOPIC [JSON]\n"
	"\n"
	"Send an event to the programs of a running sandbox: `msb event wait\n"
	"TOPIC` inside it prints its JSON data (null when left out) and exits.\n"
	"One sent before anything waits on its topic is kept in the guest (the\n"
	"last 256) for the first wait. Prints the event's seq in the sandbox's\n"
	"log (msb events).\n"
	"\n"
	"Inside a sandbox, the msb command emits and waits instead:\n"
	"  msb event emit TOPIC [JSON]     msb event wait TOPIC [--timeout S]\n"
	"\n"
	"TOPIC: 1-128 characters of A-Z a-z 0-9 . _ : / -, not 'msb.' first.\n"
	"JSON: one JSON value, at most 32 KiB.\n"
	"\n"
	"Options:\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: 0, 1 if the sandbox does not run or refused the event.\n",
};

enum { OPT_SINCE = 256, OPT_TOPIC, OPT_FORMAT };

static const struct option opts[] = {
	{ "follow", no_argument, NULL, 'f' },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static void print_text(const msb_event *ev)
{
	time_t t = (time_t)ev->time;
	struct tm tm;
	char when[32];

	if (ev->dropped) {
		printf("(%llu events missed: the sandbox keeps its last 4096)\n",
		       (unsigned long long)ev->dropped);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%s.%06dZ %-5s %s %s\n", when,
	       (int)((ev->time - (double)t) * 1e6), ev->source, ev->topic,
	       ev->data);
}

static int cmd_events(int argc, char **argv)
{
	int c, follow = 0, json = 0, r;
	long long since = 0;
	const char *topic = NULL;
	msb_error err = { 0 };
	msb_events *e;
	msb_event ev;

	while ((c = cli_getopt(argc, argv, "fh", opts)) != -1) {
		switch (c) {
		case 'f':
			follow = 1;
			break;
		case OPT_SINCE: {
			char *end;

			since = strtoll(optarg, &end, 10);
			if (*end || end == optarg || since < -1)
				return cli_bad_usage(&verb_events,
						     "--since takes an event's "
						     "seq, 0 or -1: '%s'",
						     optarg);
			break;
		}
		case OPT_TOPIC:
			topic = optarg;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "json"))
				json = 1;
			else if (strcmp(optarg, "text"))
				return cli_bad_usage(&verb_events,
						     "--format is text or json, "
						     "not '%s'", optarg);
			break;
		case 'h':
			cli_usage(&verb_events, stdout);
			return 0;
		default:
			return cli_bad_usage(&verb_events, "unknown option '%s'",
					     argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_bad_usage(&verb_events, optind >= argc ?
				     "missing sandbox NAME" :
				     "one sandbox NAME only");
	if (msb_events_open(argv[optind], topic, since, follow, &e, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	while ((r = msb_events_next(e, &ev, 0, &err)) >= 0) {
		if (r == 0) {
			/* Nothing held: wait for more, or for our reader
			 * to go (`| head`). */
			struct pollfd p[2] = {
				{ .fd = msb_events_fd(e), .events = POLLIN },
				{ .fd = 1, .events = 0 },
			};

			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (cli_stdout_gone()) {
				msb_events_free(e);
				return 128 + SIGPIPE;
			}
			continue;
		}
		if (json && ev.dropped)
			printf("{\"dropped\":%llu}\n",
			       (unsigned long long)ev.dropped);
		else if (json)
			printf("%s\n", ev.json);
		else
			print_text(&ev);
		fflush(stdout);
	}
	msb_events_free(e);
	if (r != MSB_E_STOPPED) {
		cli_err("%s", err.message);
		return 1;
	}
	return 0;
}

static int cmd_event(int argc, char **argv)
{
	msb_error err = { 0 };
	uint64_t seq = 0;
	int c = cli_only_help(&verb_event, argc, argv);

	if (c >= 0)
		return c;
	if (optind < argc && (!strcmp(argv[optind], "emit") ||
			      !strcmp(argv[optind], "wait"))) {
		cli_err("msb event %s runs inside a sandbox, where it reaches "
			"the host through the sandbox's agent; this is not "
			"inside a microsandbox sandbox (on the host: msb event "
			"send NAME TOPIC [JSON], msb events NAME)",
			argv[optind]);
		return 1;
	}
	if (optind >= argc || strcmp(argv[optind], "send"))
		return cli_bad_usage(&verb_event, "expected 'send NAME TOPIC "
				     "[JSON]'");
	if (argc - optind < 3 || argc - optind > 4)
		return cli_bad_usage(&verb_event, "send takes NAME TOPIC and "
				     "optional JSON data");
	if (msb_event_send(argv[optind + 1], argv[optind + 2],
			   argc - optind == 4 ? argv[optind + 3] : NULL, &seq,
			   &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	printf("%llu\n", (unsigned long long)seq);
	return 0;
}
