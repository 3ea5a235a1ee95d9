/* SPDX-License-Identifier: Apache-2.0 */
/* events.h - the guest's end of events: a local socket for its programs
 * (the `msb` command inside the sandbox) and the host's EVENT frames */
#ifndef MSB_AGENT_EVENTS_H
#define MSB_AGENT_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/* Where guest programs find the agent: a directory every user may enter,
 * the socket in it, and the agent's own binary as the `msb` command. */
#define GUEST_RT_DIR "/run/microsandbox"
#define GUEST_RT_SOCK GUEST_RT_DIR "/agent.sock"
#define GUEST_RT_MSB GUEST_RT_DIR "/msb"
/* The `msb` command on PATH: a symlink to GUEST_RT_MSB, made at boot in
 * /usr/local/bin (made if the image lacks it) unless an msb is there. */
#define GUEST_MSB_LINK "/usr/local/bin/msb"

/**
 * events_setup() - the runtime directory, the `msb` command and the
 * listening socket, registered in @epfd (EV_LOCAL_LISTEN)
 *
 * Failures are logged on the console; the sandbox serves without them.
 */
void events_setup(int epfd);

/* events_on_listen() - accept the guest programs that connected */
void events_on_listen(void);

/* events_on_client() - readiness of a guest program's connection */
void events_on_client(uint64_t ref, uint32_t events);

/* events_from_host() - an EVENT frame: kept, and given to its waiters */
void events_from_host(const uint8_t *p, size_t n);

/* events_peer_from_host() - a host frame on a PEER stream: relayed to
 * the program that asked */
struct msb_frame_hdr;
void events_peer_from_host(const struct msb_frame_hdr *h, const uint8_t *p);

/* events_check_oom() - tell the host when the guest kernel's OOM killer
 * ran since the last look (its records in /dev/kmsg; /proc/vmstat's
 * oom_kill where the kernel has no log to read) */
void events_check_oom(void);

/* guest_cli() - the agent run as `msb` inside the sandbox. Return: the
 * exit status. */
int guest_cli(int argc, char **argv);

#endif
