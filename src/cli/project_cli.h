/* SPDX-License-Identifier: Apache-2.0 */
/* project_cli.h - what the files of 'msb project' share */
#ifndef MSB_CLI_PROJECT_H
#define MSB_CLI_PROJECT_H

#include <signal.h>

#include "cli.h"

/* The commands of 'msb project' (project.c dispatches them). */
extern const struct verb project_up_verb, project_down_verb,
	project_stop_verb, project_restart_verb, project_ps_verb,
	project_logs_verb, project_exec_verb, project_run_verb;

/* -f FILE, or NULL: the Sandboxfile found from the current directory. */
extern const char *project_file;

/* project_load() - load the project; Return: 0, or 1 with the error
 * printed. */
int project_load(msb_project **p);

/**
 * project_getopt() - a command's options
 * @v:    the command (its help for -h, its name in usage errors)
 * @take: called for each option but -h, with its argument and @ctx;
 *        returns -1 to go on, or an exit status to stop with
 *
 * Return: -1 to go on (optind at the first operand), or the exit status
 */
int project_getopt(const struct verb *v, int argc, char **argv,
		   const char *shortopts, const struct option *longopts,
		   int (*take)(int c, const char *arg, void *ctx), void *ctx);

/**
 * project_follow() - print the logs of @p's sandboxes (those of @only's
 * keys, or all), each line after its key
 * @tail:   only the last lines of each (0: all)
 * @follow: then keep printing what they gain until *@stop is set
 *
 * Return: 0, or 1 with the error printed
 */
int project_follow(const msb_project *p, const char *const *only,
		   unsigned tail, int follow, volatile sig_atomic_t *stop);

#endif
