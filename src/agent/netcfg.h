/* SPDX-License-Identifier: Apache-2.0 */
/* netcfg.h - eth0 from INIT: address, route, MTU, resolver */
#ifndef MSB_AGENT_NETCFG_H
#define MSB_AGENT_NETCFG_H

#include "initcfg.h"
#include "log.h"

/**
 * netcfg_setup() - configure eth0 as INIT says, and /etc/resolv.conf
 * @c: the INIT config (has_net set)
 * @e: why it failed
 *
 * eth0 is the virtio-net device; under the Debian kernel its driver is a
 * module whose probe may still be running, so it is waited for briefly.
 * IPv6 is switched off on it: the host's stack routes IPv4 only.
 *
 * Return: 0 or -errno
 */
int netcfg_setup(const struct init_cfg *c, struct agent_err *e);

#endif
