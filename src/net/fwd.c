/* SPDX-License-Identifier: Apache-2.0 */
/* fwd.c - published ports: host listeners whose connections go to the guest
 *
 * Theory of operation: `msb run -p 8080:80` makes the stack listen on
 * 127.0.0.1:8080, or an address the rule names, IPv4 or IPv6
 * (net_publish(), before the VM starts, so a taken port is an error and
 * nothing else); `-p 80` or `-p 0:80` on a port the kernel picks, which
 * net_publish() hands back. Each accepted connection becomes a TCP flow
 * that the stack opens toward the guest's port 80 from the gateway's
 * address (tcp_connect_guest()): the guest sees an ordinary connection
 * from 10.0.2.2, and from then on the flow is like any other - the host
 * socket on one side, the guest's TCP on the other. A guest with nothing
 * listening answers RST, which resets the host connection.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stack.h"
#include "util.h"

int net_publish(struct net *n, struct net_port *p, msb_error *err)
{
	struct sockaddr_storage sa;
	socklen_t salen = net_sockaddr(&p->bind, p->host_port, &sa);
	char at[64];
	int fd, one = 1, e;

	if (n->nfwd == NET_PORT_MAX)
		return msb_fail(err, -E2BIG, "too many published ports (at "
				"most %d)", NET_PORT_MAX);
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto fail;
	/* Reuse a port whose last connections are in TIME_WAIT (a sandbox
	 * restarted at once); a port somebody listens on still fails. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::] means IPv6 only: IPv4 is 0.0.0.0's, another rule. */
	if (sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 ||
	    listen(fd, 128) < 0)
		goto fail;
	/* Port 0: the kernel picked a free one; the caller learns which. */
	if (!p->host_port) {
		struct sockaddr_storage got;
		socklen_t gl = sizeof(got);

		if (getsockname(fd, (struct sockaddr *)&got, &gl) < 0)
			goto fail;
		p->host_port = ntohs(got.ss_family == AF_INET6 ?
				     ((struct sockaddr_in6 *)&got)->sin6_port :
				     ((struct sockaddr_in *)&got)->sin_port);
	}
	n->fwd[n->nfwd].fd = fd;
	n->fwd[n->nfwd].p = *p;
	net_watch(n, fd, EPOLLIN, NEV_FWD, n->nfwd, EPOLL_CTL_ADD);
	n->nfwd++;
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	net_endpoint_format(&p->bind, p->host_port, at, sizeof(at));
	return msb_fail(err, -e, "cannot publish port %s: %s%s", at,
			strerror(e), e == EADDRINUSE ?
			" (choose another host port with -p)" : "");
}

void fwd_event(struct net *n, unsigned idx)
{
	if (idx >= n->nfwd || n->fwd[idx].fd < 0)
		return;
	/* A bounded batch: a flood of connections cannot starve the link. */
	for (int i = 0; i < 16; i++) {
		int fd = accept4(n->fwd[idx].fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (tcp_connect_guest(n, fd, n->fwd[idx].p.guest_port) < 0)
			close(fd);
	}
}

void fwd_close_all(struct net *n)
{
	for (unsigned i = 0; i < n->nfwd; i++) {
		epoll_ctl(n->epfd, EPOLL_CTL_DEL, n->fwd[i].fd, NULL);
		close(n->fwd[i].fd);
		n->fwd[i].fd = -1;
	}
	n->nfwd = 0;
}
