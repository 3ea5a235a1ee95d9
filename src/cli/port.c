/* SPDX-License-Identifier: Apache-2.0 */
/* port.c - msb port: a running sandbox's published ports, as bound */

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"

static int cmd_port(int argc, char **argv);

const struct verb verb_port = {
	.name = "port",
	.summary = "Show a sandbox's published ports",
	.fn = cmd_port,
	.help =
	"Usage: msb port NAME [GUEST_PORT[/tcp]]\n"
	"\n"
	"Print the host address and port each published port of the running\n"
	"sandbox NAME is bound to, as 'docker port' does: '80/tcp ->\n"
	"127.0.0.1:8080' for each, or with GUEST_PORT only its host address\n"
	"and port. A port published as -p 80 or -p 0:80 got a free one.\n"
	"\n"
	"Options:\n"
	"      --format FORMAT    table (default) or json: an array of\n"
	"                         {\"guest_port\", \"protocol\", \"host_ip\",\n"
	"                         \"host_port\"}\n"
	"  -h, --help             show this help\n",
};

static void print_addr(const msb_port *p)
{
	printf(strchr(p->host_ip, ':') ? "[%s]:%u\n" : "%s:%u\n", p->host_ip,
	       p->host_port);
}

static json_object *port_json(const msb_port *p)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "guest_port",
			       json_object_new_int(p->guest_port));
	json_object_object_add(o, "protocol", json_object_new_string("tcp"));
	json_object_object_add(o, "host_ip",
			       json_object_new_string(p->host_ip));
	json_object_object_add(o, "host_port",
			       json_object_new_int(p->host_port));
	return o;
}

static int cmd_port(int argc, char **argv)
{
	msb_error err = { 0 };
	msb_sandbox_info info;
	msb_port *p;
	size_t n;
	unsigned want = 0;
	int c, found = 0, json;
	json_object *a;

	c = cli_help_or_format(&verb_port, argc, argv, 0, &json);
	if (c >= 0)
		return c;
	if (optind >= argc || argc - optind > 2)
		return cli_bad_usage(&verb_port,
				     "expected NAME and at most one GUEST_PORT");
	if (argc - optind == 2) {
		char *slash = strchr(argv[optind + 1], '/');

		if (slash && strcmp(slash, "/tcp"))
			return cli_bad_usage(&verb_port,
					     "only TCP ports are published");
		if (slash)
			*slash = '\0';
		if (cli_parse_uint(argv[optind + 1], 1, 65535, &want) < 0)
			return cli_bad_usage(&verb_port,
					     "invalid GUEST_PORT '%s': use 1 "
					     "to 65535",
					     argv[optind + 1]);
	}
	if (msb_sandbox_info_get(argv[optind], &info, &err) < 0 ||
	    msb_sandbox_ports(argv[optind], &p, &n, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	if (!msb_status_is_live(info.status)) {
		cli_err("sandbox '%s' is %s: its ports are published only "
			"while it runs", argv[optind], info.status);
		return 1;
	}
	a = json ? json_object_new_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		if (want && p[i].guest_port != want)
			continue;
		found++;
		if (json) {
			json_object_array_add(a, port_json(&p[i]));
			continue;
		}
		if (!want)
			printf("%u/tcp -> ", p[i].guest_port);
		print_addr(&p[i]);
	}
	free(p);
	if (want && !found) {
		json_object_put(a);
		cli_err("sandbox '%s' publishes no port %u", argv[optind], want);
		return 1;
	}
	if (json)
		cli_print_json(a, stdout);
	return 0;
}
