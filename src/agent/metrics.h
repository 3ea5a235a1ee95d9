/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.h - the guest's own numbers, for the host's stats */
#ifndef MSB_AGENT_METRICS_H
#define MSB_AGENT_METRICS_H

#include <stdint.h>

/**
 * metrics_send() - answer STATS on @stream with METRICS: memory, CPU time,
 * uptime, processes, the root filesystem and the load, read from /proc and
 * statfs(); what cannot be read is left out
 */
void metrics_send(uint32_t stream);

#endif
