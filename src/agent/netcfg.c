/* SPDX-License-Identifier: Apache-2.0 */
/* netcfg.c - eth0 from INIT: addresses, routes, MTU, resolver
 *
 * Static configuration with the classic ioctls (SIOCSIFADDR, SIOCADDRT),
 * for IPv4 and IPv6 alike: no DHCP or router advertisement round trips on
 * the boot path, and nothing but the kernel needed in the guest. The
 * host's stack (src/net/) answers for the gateway and the resolver; see
 * docs/agent-protocol.md for the INIT records.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netcfg.h"

#define IFNAME "eth0"
#define WAIT_MS 3000

static void set_addr(struct sockaddr *sa, uint32_t ip)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;

	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(ip);
}

static int write_resolv(uint32_t dns, const uint8_t *dns6,
			struct agent_err *e)
{
	char line[128], a6[INET6_ADDRSTRLEN];
	int n, r;

	n = snprintf(line, sizeof(line), "nameserver %u.%u.%u.%u\n", dns >> 24,
		     (dns >> 16) & 0xff, (dns >> 8) & 0xff, dns & 0xff);
	if (dns6 && inet_ntop(AF_INET6, dns6, a6, sizeof(a6)))
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      "nameserver %s\n", a6);
	mkdir("/etc", 0755);
	r = agent_replace_file("/etc/resolv.conf", line, (size_t)n, 0644);
	if (r < 0)
		return agent_fail(e, -r, "write /etc/resolv.conf");
	return 0;
}

/* The kernel's struct in6_ifreq (linux/ipv6.h), which musl's headers
 * lack; struct in6_rtmsg comes with <net/route.h>. */
struct in6_ifreq {
	struct in6_addr ifr6_addr;
	uint32_t ifr6_prefixlen;
	int ifr6_ifindex;
};

static void sysctl6(const char *knob, const char *val)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/" IFNAME "/%s",
		 knob);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, val, strlen(val));
		close(fd);
	}
}

/* setup6() - eth0's IPv6 address and default route. Duplicate address
 * detection is off: the link has two ends and the other is the host's
 * stack, and an address still tentative would fail the guest's first
 * connections. Router advertisements are not listened to. */
static int setup6(const struct init_cfg *c, struct agent_err *e)
{
	static const uint8_t zero[16];
	struct in6_ifreq ifr6;
	struct in6_rtmsg rt6;
	int s, ret = 0;

	sysctl6("accept_dad", "0");
	sysctl6("dad_transmits", "0");
	sysctl6("accept_ra", "0");
	sysctl6("autoconf", "0");
	sysctl6("router_solicitations", "0");
	sysctl6("disable_ipv6", "0");
	s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return agent_fail(e, errno, IFNAME ": IPv6 socket");
	memset(&ifr6, 0, sizeof(ifr6));
	memcpy(&ifr6.ifr6_addr, c->net_ip6, 16);
	ifr6.ifr6_prefixlen = c->net_prefix6;
	ifr6.ifr6_ifindex = (int)if_nametoindex(IFNAME);
	if (ioctl(s, SIOCSIFADDR, &ifr6) < 0 && errno != EEXIST) {
		ret = agent_fail(e, errno, IFNAME ": IPv6 SIOCSIFADDR");
		goto out;
	}
	if (memcmp(c->net_gw6, zero, 16)) {
		memset(&rt6, 0, sizeof(rt6));
		memcpy(&rt6.rtmsg_gateway, c->net_gw6, 16);
		rt6.rtmsg_flags = RTF_UP | RTF_GATEWAY;
		rt6.rtmsg_metric = 1;
		rt6.rtmsg_ifindex = ifr6.ifr6_ifindex;
		if (ioctl(s, SIOCADDRT, &rt6) < 0 && errno != EEXIST)
			ret = agent_fail(e, errno, IFNAME ": IPv6 default route");
	}
out:
	close(s);
	return ret;
}

int netcfg_setup(const struct init_cfg *c, struct agent_err *e)
{
	struct ifreq ifr;
	struct rtentry rt;
	int s, ret = 0, waited;

	for (waited = 0; !if_nametoindex(IFNAME) && waited < WAIT_MS;
	     waited += 5)
		usleep(5000);
	if (!if_nametoindex(IFNAME))
		return agent_fail(e, ENODEV, IFNAME " did not appear (is "
				  "virtio_net in the kernel or loaded?)");
	/* Without IPv6 from the host, IPv6 is off: no router solicitations
	 * and duplicate address detection for nobody. */
	if (!c->has_net6)
		sysctl6("disable_ipv6", "1");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return agent_fail(e, errno, IFNAME ": socket");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, IFNAME);
	if (c->net_mtu) {
		ifr.ifr_mtu = (int)c->net_mtu;
		if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
			agent_log(IFNAME ": MTU %u refused", c->net_mtu);
	}
	set_addr(&ifr.ifr_addr, c->net_ip);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0) {
		ret = agent_fail(e, errno, IFNAME ": SIOCSIFADDR");
		goto out;
	}
	set_addr(&ifr.ifr_netmask,
		 c->net_prefix ? ~0u << (32 - c->net_prefix) : 0);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) {
		ret = agent_fail(e, errno, IFNAME ": SIOCSIFNETMASK");
		goto out;
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		ret = agent_fail(e, errno, IFNAME ": SIOCGIFFLAGS");
		goto out;
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		ret = agent_fail(e, errno, IFNAME ": SIOCSIFFLAGS");
		goto out;
	}
	if (c->net_gw) {
		memset(&rt, 0, sizeof(rt));
		set_addr(&rt.rt_dst, 0);
		set_addr(&rt.rt_genmask, 0);
		set_addr(&rt.rt_gateway, c->net_gw);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = (char *)IFNAME;
		if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
			ret = agent_fail(e, errno, IFNAME ": default route");
			goto out;
		}
	}
	if (c->has_net6 && (ret = setup6(c, e)) < 0)
		goto out;
	if (c->net_dns) {
		static const uint8_t zero[16];

		ret = write_resolv(c->net_dns,
				   c->has_net6 && memcmp(c->net_dns6, zero, 16) ?
					   c->net_dns6 : NULL,
				   e);
	}
out:
	close(s);
	return ret;
}
