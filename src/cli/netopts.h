/* SPDX-License-Identifier: Apache-2.0 */
/* netopts.h - msb run's network flags, into an msb_net_config */
#ifndef MSB_CLI_NETOPTS_H
#define MSB_CLI_NETOPTS_H

#include <getopt.h>

#include "msb.h"

enum { OPT_NET_ALLOW = 512, OPT_NET_ALLOW_CIDR, OPT_NET_BLOCK_CIDR,
       OPT_NET_DENY_ALL, OPT_DNS_NAMESERVER, OPT_NET_PLUGIN,
       OPT_NET_ALLOW_HOST, OPT_PUBLISH = 'p' };

#define NETOPTS_LONG                                                         \
	{ "net-allow", required_argument, NULL, OPT_NET_ALLOW },             \
	{ "net-allow-cidr", required_argument, NULL, OPT_NET_ALLOW_CIDR },   \
	{ "net-block-cidr", required_argument, NULL, OPT_NET_BLOCK_CIDR },   \
	{ "net-deny-all", no_argument, NULL, OPT_NET_DENY_ALL },             \
	{ "dns-nameserver", required_argument, NULL, OPT_DNS_NAMESERVER },  \
	{ "net-plugin", required_argument, NULL, OPT_NET_PLUGIN },           \
	{ "net-allow-host", required_argument, NULL, OPT_NET_ALLOW_HOST },   \
	{ "publish", required_argument, NULL, OPT_PUBLISH }

#define NETOPTS_HELP                                                         \
	"      --net-allow NAMES  only these domains (comma-separated; *.x.com\n" \
	"                         for names under x.com) and the addresses the\n" \
	"                         sandbox's resolver returned for them\n"        \
	"      --net-allow-cidr CIDRS  open ranges, even default-denied ones\n"   \
	"                         (IPv4 or IPv6: 10.1.0.0/16,fd00:1::/32);\n"  \
	"                         loopback and the host's own addresses\n"    \
	"                         only when named exactly (127.0.0.1)\n"     \
	"      --net-block-cidr CIDRS  close ranges (IPv4 or IPv6)\n"            \
	"      --net-deny-all     nothing leaves but what is allowed above\n"     \
	"                         (an empty entry in any list is an error)\n"    \
	"      --dns-nameserver IP[:PORT]  the host-side resolver to ask\n"      \
	"                         (IPv6 with a port: [IP]:PORT; default: the\n" \
	"                         host's own)\n"                               \
	"  -p, --publish [IP:]HOST:GUEST[/tcp]  forward host port HOST (on IP,\n" \
	"                         default 127.0.0.1; IPv6 as [::1]) to the\n"   \
	"                         guest's port GUEST; repeatable. HOST 0, or\n" \
	"                         GUEST alone (-p 80), takes a free host port\n" \
	"                         ('msb port NAME', msb ps show it)\n"        \
	"      --net-plugin PATH  a shared object with network hooks\n"         \
	"                         (msb_net_plugin.h)\n"                       \
	"      --net-allow-host PORTS  let the guest reach these TCP ports of\n" \
	"                         the host's loopback (127.0.0.1), at the\n"   \
	"                         gateway: 10.0.2.2:PORT or\n"                 \
	"                         host.msb.internal:PORT (comma-separated;\n"  \
	"                         closed unless named here)\n"

/**
 * netopts_take() - one network option
 * @nc:  filled in; its lists point into static storage
 * @opt: the getopt value
 * @arg: its argument (lists are comma-separated and may repeat)
 *
 * Return: 1 if @opt was a network option, 0 if not, -1 if too many values
 */
int netopts_take(msb_net_config *nc, int opt, const char *arg);

#endif
