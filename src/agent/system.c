/* SPDX-License-Identifier: Apache-2.0 */
/* system.c - guest-wide settings from INIT: clock, hostname, loopback */

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "system.h"

int system_set_clock(uint64_t ns, struct agent_err *e)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000u),
		.tv_nsec = (long)(ns % 1000000000u),
	};

	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return agent_fail(e, errno, "set clock");
	return 0;
}

int system_set_hostname(const char *name, struct agent_err *e)
{
	if (sethostname(name, strlen(name)) < 0)
		return agent_fail(e, errno, "set hostname %s", name);
	return 0;
}

int system_loopback_up(struct agent_err *e)
{
	struct ifreq ifr;
	int s, ret = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return agent_fail(e, errno, "loopback: socket");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		ret = agent_fail(e, errno, "loopback: SIOCGIFFLAGS");
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			ret = agent_fail(e, errno, "loopback: SIOCSIFFLAGS");
	}
	close(s);
	return ret;
}
