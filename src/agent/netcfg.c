/* SPDX-License-Identifier: Apache-2.0 */
/* netcfg.c - eth0 from INIT: address, route, MTU, resolver
 *
 * Static configuration with the classic ioctls (SIOCSIFADDR, SIOCADDRT):
 * no DHCP round trips on the boot path, and nothing but the kernel needed
 * in the guest. The host's stack (src/net/) answers for the gateway and the
 * resolver; see docs/agent-protocol.md for the INIT records.
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

static int write_resolv(uint32_t dns, struct agent_err *e)
{
	char line[64];
	int fd, n;

	n = snprintf(line, sizeof(line), "nameserver %u.%u.%u.%u\n", dns >> 24,
		     (dns >> 16) & 0xff, (dns >> 8) & 0xff, dns & 0xff);
	mkdir("/etc", 0755);
	/* Images often ship it as a symlink into a /run that is not ours. */
	unlink("/etc/resolv.conf");
	fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return agent_fail(e, errno, "write /etc/resolv.conf");
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return agent_fail(e, EIO, "write /etc/resolv.conf");
	}
	close(fd);
	return 0;
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
	/* IPv4 only: no router solicitations and DAD for nobody. */
	{
		int fd = open("/proc/sys/net/ipv6/conf/" IFNAME "/disable_ipv6",
			      O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			(void)!write(fd, "1", 1);
			close(fd);
		}
	}
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
	if (c->net_dns)
		ret = write_resolv(c->net_dns, e);
out:
	close(s);
	return ret;
}
