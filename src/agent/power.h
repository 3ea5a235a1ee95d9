/* SPDX-License-Identifier: Apache-2.0 */
/* power.h - ending the VM: fatal errors, orderly shutdown, power-off */
#ifndef MSB_AGENT_POWER_H
#define MSB_AGENT_POWER_H

#include "log.h"

/**
 * power_off() - sync and power the VM off; QEMU exits with status 0
 *
 * PID 1 must never exit (the kernel would panic), so this never returns.
 */
void power_off(void) __attribute__((noreturn));

/**
 * agent_fatal() - report a failed step to the console and the host, power off
 * @e: the step and its errno text; sent as ERROR on stream 0 if the port is up
 */
void agent_fatal(const struct agent_err *e) __attribute__((noreturn));

/**
 * system_shutdown() - after the grace period: kill what is left, make the
 * upper disk clean, power off
 */
void system_shutdown(void) __attribute__((noreturn));

#endif
