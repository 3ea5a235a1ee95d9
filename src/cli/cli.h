/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h - the msb command line: one file per verb over the C SDK */
#ifndef MSB_CLI_H
#define MSB_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "msb.h"

/* Exit statuses of msb itself. For run and exec, everything else is the
 * guest command's own status. */
#define EXIT_USAGE 2
#define EXIT_MSB 125

struct verb {
	const char *name;
	const char *alias;
	const char *summary;
	const char *help;       /* full --help text after the usage line */
	int (*fn)(int argc, char **argv);
	int usage_status;       /* exit status of bad usage; 0: EXIT_USAGE
				 * (run and exec: EXIT_MSB, as Docker's) */
	int own_help;           /* the verb answers --help itself (one with
				 * subcommands, each with its own help) */
};

extern const struct verb verb_run, verb_exec, verb_cp, verb_ps, verb_stats,
	verb_stop,
	verb_start, verb_rm, verb_logs, verb_inspect, verb_pull, verb_images,
	verb_rmi, verb_image, verb_load, verb_save, verb_registry, verb_wait,
	verb_snapshot, verb_restore, verb_port, verb_project, verb_push,
	verb_remote, verb_volume, verb_events, verb_event, verb_plugin,
	verb_version;

/* cli_pull() - pull @ref with a progress display on stderr (a TTY) or
 * plain lines; prints the result line to @result. @missing: pulled
 * because it is not here (msb run), which a failure says. Return: 0 or 1. */
int cli_pull(const char *ref, int insecure, int quiet, int missing,
	     FILE *result);

/* Progress of an image pull or load on stderr (pull.c): bytes
 * downloaded and the layer converting, one line rewritten in place on a
 * terminal, a plain line per layer otherwise. */
struct cli_image_display {
	int tty, quiet;
	int repaired;   /* a stored layer was damaged and made again */
	uint64_t done[128], total[128];
	unsigned count;
	uint64_t last_ms;
};
void cli_image_progress(void *ctx, const msb_pull_progress *p);

/* Progress of a push or a pull on stderr (push.c): one line rewritten
 * in place on a terminal, a plain line per phase otherwise. */
struct cli_sync_display {
	int tty, quiet, shown;
	char phase[16];
	char seen[96];          /* phases given a plain line */
	uint64_t last_ms;
};
void cli_sync_progress(void *ctx, const msb_sync_progress *p);
/* cli_sync_done() - clear the progress line before the result. */
void cli_sync_done(struct cli_sync_display *d);
/* cli_print_push() - the result line of a push that started at @t0_ms. */
void cli_print_push(const msb_sync_info *i, int snapshot, uint64_t t0_ms,
		    FILE *f);
struct json_object;
/* cli_sync_json() - a push's or a pull's result as a JSON object. */
struct json_object *cli_sync_json(const msb_sync_info *i, int snapshot,
				  uint64_t t0_ms);
/* cli_print_sync_json() - the same, printed (--format json). */
void cli_print_sync_json(const msb_sync_info *i, int snapshot,
			 uint64_t t0_ms, FILE *f);
/* cli_fmt_mb() - "12.3 MB", "4.0 kB": transfers, as pulls show them. */
void cli_fmt_mb(uint64_t b, char *buf, size_t n);

/* cli_json_result() - a new object {"name": @name} at the end of @all
 * (the array a verb given names prints with --format json). */
struct json_object *cli_json_result(struct json_object *all,
				    const char *name);
/* cli_made_json() - what run -d and restore -d made, for --format json:
 * name, snapshot (when @snapshot), image, cpus, memory_mib, seconds. */
struct json_object *cli_made_json(const char *name, const char *snapshot,
				  const msb_sandbox_info *i, double seconds);
/* cli_print_json() - @o as indented JSON and a newline to @f (--format
 * json), then put. */
void cli_print_json(struct json_object *o, FILE *f);

/* Print "msb: MESSAGE" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a verb's usage and help to @f. */
void cli_usage(const struct verb *v, FILE *f);
/* Bad usage: the message, a hint at --help; Return: the verb's
 * usage_status, else EXIT_USAGE. */
int cli_bad_usage(const struct verb *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cli_bad_option() - bad usage for the element getopt refused,
 * argv[optind - 1]: a long option missing its value or given one it does
 * not take, or an unknown one with the closest of @longopts as a hint
 * ("did you mean '--net-block-cidr'?"). Return: as cli_bad_usage(). */
int cli_bad_option(const struct verb *v, char **argv,
		   const struct option *longopts);

/* cli_getopt() - getopt_long() for a verb, with long options matched
 * only when spelt out in full (no abbreviations): an unknown one returns
 * '?' with argv[optind - 1] the offending element. */
int cli_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* cli_only_help() - the options of a verb that takes none but -h.
 * Return: -1 to go on (optind at the first operand), else the exit
 * status (0 after --help, EXIT_USAGE for anything else). */
int cli_only_help(const struct verb *v, int argc, char **argv);
/* cli_help_or_format() - the same, and --format table|json: @json is set
 * to 1 for json; with @json_only (a verb that prints JSON anyway) table
 * is refused. */
int cli_help_or_format(const struct verb *v, int argc, char **argv,
		       int json_only, int *json);

/* One subcommand of a verb that has several ('msb volume ls'). */
struct cli_sub {
	const char *name;
	const char *alias;      /* another word for it ("list" for "ls") */
};

/* cli_sub_find() - the index in @subs (@n of them) of the one @word
 * names, by its name or its alias; -1 for none. */
int cli_sub_find(const struct cli_sub *subs, size_t n, const char *word);

/* cli_subcommand() - a verb's subcommand word, its argv[1]: -h and --help
 * print its usage; a missing, unknown or option-like word is bad usage
 * whose message names the subcommands ("create, ls, inspect or rm").
 * Return: -1 to go on, *which set to the index in @subs, else the exit
 * status. */
int cli_subcommand(const struct verb *v, const struct cli_sub *subs,
		   size_t n, int argc, char **argv, size_t *which);

/* Parse a positive integer in [min, max]. */
int cli_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);

/* cli_push_env() - take a -e KEY=VALUE; Return: 0, or the exit status. */
int cli_push_env(const struct verb *v, const char *arg, char ***env,
		 size_t *n);

/* Grow a NULL-terminated string vector. */
int strv_push(char ***v, size_t *n, char *s);

struct attach_opts {
	int interactive;   /* -i: forward stdin */
	int tty;           /* -t: pseudo-terminal, raw local terminal */
	int timed_out;     /* set by cli_attach(): killed at its timeout */
};

/* cli_attach() - run a started exec to the end, pumping stdin, stdout,
 * stderr, signals and window size. Return: the exit status to use. */
int cli_attach(msb_exec *e, struct attach_opts *o);

/* cli_fetch_timings() - a sandbox's recorded boot milestones (inspect JSON);
 * cli_print_timings() - where its start's time went, to stderr, freeing
 * @json; @exec_ms < 0 when no command ran. */
char *cli_fetch_timings(const char *name);
void cli_print_timings(const char *name, char *json, double exec_ms);

/* cli_stdout_gone() - what reads our stdout went away (the reader of a
 * pipe, `| head`): a command that follows (logs -f, events -f) then ends,
 * as tail -f does, rather than wait to learn it from its next write. */
int cli_stdout_gone(void);

/* cli_fmt_bytes() - "512B", "1.5KiB", "87MiB", "2.0GiB". */
void cli_fmt_bytes(uint64_t n, char *buf, size_t len);

/* Parses --format VALUE: "table" or "json"; Return: 1 for json. */
int cli_format_json(const char *s, int *json);

#endif
