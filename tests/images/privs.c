/* SPDX-License-Identifier: Apache-2.0 */
/* privs.c - what a setuid or file-capability program of an image gets in
 * the guest, as sudo and ping do (build.py puts copies of it in a layer:
 * setuid root, with cap_net_raw, and plain).
 *
 *   privs euid    prints the effective uid
 *   privs raw     opens a raw ICMP socket (CAP_NET_RAW): "raw ok" or the
 *                 error
 */

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd;

	if (argc == 2 && !strcmp(argv[1], "euid")) {
		printf("euid %u\n", (unsigned)geteuid());
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "raw")) {
		fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
		printf("raw %s\n", fd < 0 ? strerror(errno) : "ok");
		return 0;
	}
	fprintf(stderr, "usage: privs euid|raw\n");
	return 2;
}
