/* SPDX-License-Identifier: Apache-2.0 */
/* confine.h - the supervisor confines itself (confine.c, seccomp.c) */
#ifndef MSB_SUPERVISOR_CONFINE_H
#define MSB_SUPERVISOR_CONFINE_H

#include <stddef.h>

struct sup;

/* sup_confine_wanted() - 0 only when MSB_NO_CONFINE=1 (benchmarks). */
int sup_confine_wanted(void);

/**
 * sup_confine() - Landlock to the sandbox's own files, no capability,
 * then the seccomp allow-list, on every thread; logs what it applied.
 * Call once set up, before the first guest byte is read.
 * Return: 0, or -errno with @why set (the sandbox does not start).
 */
int sup_confine(struct sup *s, char *why, size_t len);

/* sup_seccomp_install() - the allow-list (seccomp.c); forbidden calls
 * are logged to @log_path and kill the process.
 * Return: how many calls it allows, or -errno with @why set. */
int sup_seccomp_install(const char *log_path, char *why, size_t len);

#endif
