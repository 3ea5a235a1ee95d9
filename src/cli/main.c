/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - msb: verb dispatch, shared helpers */

#include <errno.h>
#include <poll.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "jsonx.h"
#include "suggest.h"

static const struct verb *const verbs[] = {
	&verb_run,  &verb_exec, &verb_cp,   &verb_ps,   &verb_stats, &verb_stop,
	&verb_start, &verb_rm,  &verb_logs, &verb_inspect, &verb_wait,
	&verb_port, &verb_events, &verb_event,
	&verb_pull, &verb_images, &verb_rmi, &verb_image, &verb_load,
	&verb_save, &verb_registry, &verb_snapshot, &verb_restore,
	&verb_push, &verb_remote, &verb_volume, &verb_project, &verb_plugin,
	&verb_version,
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("msb: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

json_object *cli_json_result(json_object *all, const char *name)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_array_add(all, o);
	return o;
}

json_object *cli_made_json(const char *name, const char *snapshot,
			   const msb_sandbox_info *i, double seconds)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	if (snapshot)
		json_object_object_add(o, "snapshot",
				       json_object_new_string(snapshot));
	json_object_object_add(o, "image", json_object_new_string(i->image));
	json_object_object_add(o, "cpus", json_object_new_int((int)i->cpus));
	json_object_object_add(o, "memory_mib",
			       json_object_new_int64((int64_t)i->memory_mib));
	json_object_object_add(o, "seconds", msb_jdouble(seconds, 3));
	return o;
}

void cli_print_json(json_object *o, FILE *f)
{
	fprintf(f, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_SPACED |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void cli_usage(const struct verb *v, FILE *f)
{
	fputs(v->help, f);
}

/* exact_long() - is @a ("--name" or "--name=value") one of @longopts,
 * spelt out in full? */
static int exact_long(const char *a, const struct option *longopts)
{
	size_t len = strcspn(a + 2, "=");

	for (const struct option *o = longopts; o->name; o++)
		if (strlen(o->name) == len && !strncmp(o->name, a + 2, len))
			return 1;
	return 0;
}

int cli_bad_option(const struct verb *v, char **argv,
		   const struct option *longopts)
{
	const char *a = argv[optind - 1], *best = NULL, *prefixed = NULL;
	size_t len = a[0] == '-' && a[1] == '-' ? strcspn(a + 2, "=") : 0;
	size_t best_d = (len / 4 > 2 ? len / 4 : 2) + 1;
	int nprefixed = 0;

	if (!len || len >= MSB_SUGGEST_MAX || !longopts)
		return cli_bad_usage(v, "unknown or incomplete option '%s'",
				     a);
	for (const struct option *o = longopts; o->name; o++) {
		size_t d;

		d = msb_edit_distance(a + 2, len, o->name, strlen(o->name));
		if (d == SIZE_MAX)
			continue;
		if (d == 0 && o->has_arg == required_argument && !a[2 + len])
			return cli_bad_usage(v, "option '%s' needs a value",
					     a);
		if (d == 0 && o->has_arg == no_argument)
			return cli_bad_usage(v, "option '--%s' takes no value",
					     o->name);
		if (d == 0)
			return cli_bad_usage(v, "option '%s' is not valid "
					     "here", a);
		/* a close spelling, and not all of a short word changed */
		if (d < best_d && d < len / 2 + 1) {
			best = o->name;
			best_d = d;
		}
		if (!strncmp(o->name, a + 2, len)) {
			prefixed = o->name;
			nprefixed++;
		}
	}
	if (!best && nprefixed == 1)
		best = prefixed;
	if (best)
		return cli_bad_usage(v, "unknown option '%.*s': did you mean "
				     "'--%s'?", (int)len + 2, a, best);
	return cli_bad_usage(v, "unknown option '%.*s'", (int)len + 2, a);
}

int cli_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	int posix = shortopts[0] == '+' || getenv("POSIXLY_CORRECT");

	/* The element getopt_long takes next: the first option at or after
	 * optind (it skips operands unless told to stop at them). A long one
	 * must be spelt out in full: getopt_long would take a unique prefix,
	 * so a typo (--net-deny for --net-deny-all) would silently mean
	 * another option. */
	for (int i = optind; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			break;
		if (a[0] != '-' || !a[1]) {
			if (posix)
				break;
			continue;
		}
		if (a[1] != '-')
			break;
		if (exact_long(a, longopts))
			break;
		optind = i + 1;
		return '?';
	}
	return getopt_long(argc, argv, shortopts, longopts, NULL);
}

/* help_and_format() - -h, and with @format --format table|json (see
 * cli_help_or_format()) */
static int help_and_format(const struct verb *v, int argc, char **argv,
			   int format, int json_only, int *json)
{
	enum { OPT_FORMAT = 256 };
	/* without --format: the same table from its second entry */
	static const struct option all[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct option *opts = format ? all : all + 1;
	int c;

	*json = json_only;
	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
		if (c == 'h') {
			cli_usage(v, stdout);
			return 0;
		}
		if (c != OPT_FORMAT)
			return cli_bad_option(v, argv, opts);
		if (json_only && strcmp(optarg, "json"))
			return cli_bad_usage(v, "invalid --format '%s': this "
					     "command prints JSON only",
					     optarg);
		if (cli_format_json(optarg, json) < 0)
			return cli_bad_usage(v, "invalid --format '%s': use "
					     "table or json", optarg);
	}
	return -1;
}

int cli_only_help(const struct verb *v, int argc, char **argv)
{
	int json;

	return help_and_format(v, argc, argv, 0, 0, &json);
}

int cli_help_or_format(const struct verb *v, int argc, char **argv,
		       int json_only, int *json)
{
	return help_and_format(v, argc, argv, 1, json_only, json);
}

int cli_sub_find(const struct cli_sub *subs, size_t n, const char *word)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(word, subs[i].name) ||
		    (subs[i].alias && !strcmp(word, subs[i].alias)))
			return (int)i;
	return -1;
}

int cli_subcommand(const struct verb *v, const struct cli_sub *subs,
		   size_t n, int argc, char **argv, size_t *which)
{
	const char *word = argc > 1 ? argv[1] : NULL;
	char names[256] = "";
	size_t len = 0;
	int i;

	if (word && (!strcmp(word, "-h") || !strcmp(word, "--help"))) {
		cli_usage(v, stdout);
		return 0;
	}
	if (word && word[0] == '-')
		return cli_bad_usage(v, "unknown or incomplete option '%s'",
				     word);
	i = word ? cli_sub_find(subs, n, word) : -1;
	if (i >= 0) {
		*which = (size_t)i;
		return -1;
	}
	for (size_t k = 0; k < n && len < sizeof(names); k++)
		len += (size_t)snprintf(names + len, sizeof(names) - len,
					"%s%s", k == 0 ? "" :
					k + 1 < n ? ", " : " or ",
					subs[k].name);
	if (!word)
		return cli_bad_usage(v, "a command is needed: %s", names);
	return cli_bad_usage(v, "unknown command '%s': use %s", word, names);
}

int cli_bad_usage(const struct verb *v, const char *fmt, ...)
{
	va_list ap;

	fputs("msb: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee 'msb %s --help'.\n", v->name);
	return v->usage_status ? v->usage_status : EXIT_USAGE;
}

int cli_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int strv_push(char ***v, size_t *n, char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

int cli_push_env(const struct verb *v, const char *arg, char ***env,
		 size_t *n)
{
	/* docker run -e KEY copies the host's KEY: an API key, often,
	 * which msb keeps out of the guest (--secret-env). */
	if (!strchr(arg, '=') && arg[0] && v == &verb_run)
		return cli_bad_usage(v, "invalid --env '%s': use KEY=VALUE (msb "
				     "copies no variable of the host's; for a "
				     "secret, --secret-env %s=@env:%s:HOST gives "
				     "the guest a placeholder that becomes the "
				     "value only in TLS to HOST)",
				     arg, arg, arg);
	if (!strchr(arg, '=') || arg[0] == '=')
		return cli_bad_usage(v, "invalid --env '%s': use KEY=VALUE",
				     arg);
	if (strv_push(env, n, (char *)arg) < 0) {
		cli_err("out of memory");
		return EXIT_MSB;
	}
	return 0;
}

int cli_format_json(const char *s, int *json)
{
	if (!strcmp(s, "json"))
		*json = 1;
	else if (!strcmp(s, "table"))
		*json = 0;
	else
		return -EINVAL;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: msb COMMAND [OPTIONS]\n"
		"\n"
		"Run each sandbox as a microVM with its own Linux kernel.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(f, "  %-9s %s\n", verbs[i]->name, verbs[i]->summary);
	fprintf(f,
		"\n"
		"Run 'msb COMMAND --help' for a command's options.\n"
		"State lives in $MSB_HOME (default ~/.microsandbox).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		if (argc > 2)
			for (size_t i = 0; i < NVERBS; i++)
				if (!strcmp(argv[2], verbs[i]->name)) {
					cli_usage(verbs[i], stdout);
					return 0;
				}
		usage(stdout);
		return 0;
	}
	/* the same as the verb */
	if (!strcmp(argv[1], "--version"))
		argv[1] = (char *)"version";
	for (size_t i = 0; i < NVERBS; i++) {
		const struct verb *v = verbs[i];

		if (strcmp(argv[1], v->name) &&
		    !(v->alias && !strcmp(argv[1], v->alias)))
			continue;
		for (int k = 2; !v->own_help && k < argc &&
				strcmp(argv[k], "--");
		     k++)
			if (!strcmp(argv[k], "--help") ||
			    !strcmp(argv[k], "-h")) {
				cli_usage(v, stdout);
				return 0;
			}
		return v->fn(argc - 1, argv + 1);
	}
	cli_err("unknown command '%s'", argv[1]);
	fprintf(stderr, "Run 'msb --help' for the list of commands.\n");
	return EXIT_USAGE;
}

int cli_stdout_gone(void)
{
	/* (a pipe whose reader closed polls POLLERR, a socket POLLHUP;
	 * terminals and files neither) */
	struct pollfd p = { .fd = 1, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}
