/* SPDX-License-Identifier: Apache-2.0 */
/* initcfg.h - the INIT request: what the host wants this VM to be */
#ifndef MSB_AGENT_INITCFG_H
#define MSB_AGENT_INITCFG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* virtio-blk serials are at most 20 bytes (VIRTIO_BLK_ID_BYTES, virtio 1.2 §5.2.6) */
#define INIT_SERIAL_MAX 20
#define INIT_LAYERS_MAX 64
#define INIT_HOSTNAME_MAX 64
#define INIT_CA_MAX 8192
/* virtio-fs tags are at most 36 bytes (virtio 1.2 §5.11.4) */
#define INIT_TAG_MAX 36
#define INIT_VOLUMES_MAX 16
#define INIT_VOLPATH_MAX 255

/**
 * struct init_volume - a virtio-fs volume to mount
 * @tag:  the device's tag
 * @path: absolute guest path, created if missing
 * @ro:   mounted read-only (the host enforces it in any case)
 */
struct init_volume {
	char tag[INIT_TAG_MAX + 1];
	char path[INIT_VOLPATH_MAX + 1];
	int ro;
};

/**
 * struct init_cfg - a parsed INIT payload
 * @hostname: empty if not given
 * @upper:    serial of the writable ext4 disk; empty = stay on the initramfs
 * @layer:    serials of the read-only EROFS layers, top first
 * @nlayers:  how many of @layer are set
 * @has_time: whether @time_ns was given
 * @time_ns:  host wall clock, ns since the epoch
 * @has_net:  whether eth0 is to be configured (NET_IP4 given)
 * @net_ip:   eth0's address, host byte order; @net_prefix its prefix length
 * @net_gw:   the default route's gateway (0: none)
 * @net_dns:  the resolver for /etc/resolv.conf (0: leave it)
 * @net_mtu:  eth0's MTU (0: leave it)
 * @has_net6: whether eth0 gets IPv6 (NET_IP6 given; else IPv6 is off)
 * @net_ip6:  its IPv6 address; @net_prefix6 its prefix length
 * @net_gw6:  the IPv6 default route's gateway (all zero: none)
 * @net_dns6: a second resolver for /etc/resolv.conf (all zero: none)
 * @vol:      volumes to mount once the root is entered; @nvol of them
 */
struct init_cfg {
	char hostname[INIT_HOSTNAME_MAX + 1];
	char upper[INIT_SERIAL_MAX + 1];
	char layer[INIT_LAYERS_MAX][INIT_SERIAL_MAX + 1];
	unsigned int nlayers;
	int has_time;
	uint64_t time_ns;
	int has_net;
	uint32_t net_ip, net_gw, net_dns, net_mtu;
	unsigned int net_prefix;
	int has_net6;
	uint8_t net_ip6[16], net_gw6[16], net_dns6[16];
	unsigned int net_prefix6;
	struct init_volume vol[INIT_VOLUMES_MAX];
	unsigned int nvol;
	char ca_pem[INIT_CA_MAX + 1]; /* "" when none */
};

/**
 * init_cfg_parse() - decode and bounds-check an INIT payload
 * @p: payload
 * @n: its length
 * @c: result
 * @e: why it was refused
 *
 * Return: 0, or -EINVAL for a truncated record, an oversized or NUL-bearing
 * string, a wrongly sized number or too many layers
 */
int init_cfg_parse(const uint8_t *p, size_t n, struct init_cfg *c,
		   struct agent_err *e);

#endif
