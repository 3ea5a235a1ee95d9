/* SPDX-License-Identifier: Apache-2.0 */
/* system.h - guest-wide settings from INIT: clock, hostname, loopback */
#ifndef MSB_AGENT_SYSTEM_H
#define MSB_AGENT_SYSTEM_H

#include <stdint.h>

#include "log.h"

/* system_set_clock() - set CLOCK_REALTIME to @ns since the epoch. Return: 0 or -errno */
int system_set_clock(uint64_t ns, struct agent_err *e);

/* system_set_hostname() - sethostname(@name), and @name in /etc/hostname
 * and /etc/hosts (127.0.1.1; the image's other lines kept), so it
 * resolves. Return: 0 or -errno (sethostname's) */
int system_set_hostname(const char *name, struct agent_err *e);

/* system_loopback_up() - set IFF_UP on "lo"; the kernel adds 127.0.0.1/8. Return: 0 or -errno */
int system_loopback_up(struct agent_err *e);

#endif
