/* SPDX-License-Identifier: Apache-2.0 */
/* system.c - guest-wide settings from INIT: clock, hostname, loopback */

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* The line of /etc/hosts that names this sandbox ends so; any other line
 * is the image's and stays. 127.0.1.1, as Debian names its own host:
 * the name resolves with or without a network. */
#define HOSTS_MARK "\t# msb: this sandbox's name\n"
#define HOSTS_MAX (64 * 1024)

/* name_files() - /etc/hostname, and a line of /etc/hosts for @name;
 * localhost's lines too if the image has none. Return: 0 or -errno. */
static int name_files(const char *name)
{
	static char old[HOSTS_MAX], out[HOSTS_MAX + 256];
	size_t o = 0, n = 0;
	ssize_t k;
	char *line, *end;
	int fd, r;

	snprintf(out, sizeof(out), "%s\n", name);
	r = agent_replace_file("/etc/hostname", out, strlen(out), 0644);
	if (r < 0)
		return r;
	fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (n < sizeof(old) - 1 &&
		       (k = read(fd, old + n, sizeof(old) - 1 - n)) > 0)
			n += (size_t)k;
		close(fd);
	}
	/* Longer than any hosts file should be: left as it is. */
	if (n == sizeof(old) - 1)
		return -EFBIG;
	old[n] = '\0';
	if (n && old[n - 1] != '\n')
		old[n++] = '\n', old[n] = '\0';
	for (line = old; *line; line = end) {
		end = strchr(line, '\n');
		end = end ? end + 1 : line + strlen(line);
		if ((size_t)(end - line) >= sizeof(HOSTS_MARK) - 1 &&
		    !memcmp(end - (sizeof(HOSTS_MARK) - 1), HOSTS_MARK,
			    sizeof(HOSTS_MARK) - 1))
			continue;
		memcpy(out + o, line, (size_t)(end - line));
		o += (size_t)(end - line);
	}
	if (!strstr(old, "localhost"))
		o += (size_t)snprintf(out + o, sizeof(out) - o,
				      "127.0.0.1\tlocalhost\n"
				      "::1\tlocalhost ip6-localhost "
				      "ip6-loopback\n");
	o += (size_t)snprintf(out + o, sizeof(out) - o, "127.0.1.1\t%s%s",
			      name, HOSTS_MARK);
	return agent_replace_file("/etc/hosts", out, o, 0644);
}

int system_set_hostname(const char *name, struct agent_err *e)
{
	int r;

	if (sethostname(name, strlen(name)) < 0)
		return agent_fail(e, errno, "set hostname %s", name);
	/* A root that cannot be written still runs: say so, go on. */
	mkdir("/etc", 0755);
	r = name_files(name);
	if (r < 0)
		agent_log("/etc/hostname and /etc/hosts not written: %s",
			  strerror(-r));
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
