/* SPDX-License-Identifier: Apache-2.0 */
/* filter.h - the seam between a TCP flow's two sides and whatever reads or
 * rewrites its bytes (the TLS interception, the HTTP/1.1 secret rewriter,
 * on_http hooks)
 *
 * A flow the stack gives a filter passes every byte through it: what the
 * guest sends goes to to_upstream() before the host socket, what the host
 * socket receives goes to to_guest() before the guest. A TLS filter
 * decrypts and re-encrypts and stacks an inner filter that sees plaintext;
 * a plain HTTP flow gets the inner filter directly.
 *
 * src/net/tcp.c runs a flow's filter; src/tls/intercept.c is the one the
 * supervisor gives (first bytes sniffed: TLS intercepted or passed, HTTP
 * to the secrets guard, anything else untouched).
 */
#ifndef MSB_TLS_FILTER_H
#define MSB_TLS_FILTER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FILTER_HOST_MAX 253

/**
 * struct msb_flow_info - what a filter is told about its flow at connect
 * @dst:          the destination as the guest asked for it (v4 or v6)
 * @sni:          the TLS server name the guest sent ("" if none, or not TLS)
 * @resolved_sni: 1 if our resolver answered @sni with @dst's address (the
 *                DNS-to-IP binding): only then may @sni be trusted as the
 *                destination's name
 */
struct msb_flow_info {
	struct sockaddr_storage dst;
	char sni[FILTER_HOST_MAX + 1];
	int resolved_sni;
};

/**
 * struct msb_flow_filter - one filter's operations; @st is its state
 * @to_upstream: bytes from the guest (@p, @n, any split). Append what goes
 *               to the host socket to @host and what goes back to the guest
 *               (a TLS handshake's answer, a 403) to @guest.
 *               Return: 0, or a negative errno to refuse the flow: what is
 *               in @guest is sent, then the guest gets our FIN and the host
 *               socket is shut.
 * @to_guest:    likewise for bytes from the host socket: @guest is their
 *               way on, @host takes what the filter answers the host (a
 *               TLS handshake's next step). Called once with @n 0 (and
 *               @p NULL) when the host socket has no more to read: what
 *               the filter held back (the tail of a body that could
 *               begin a secret's value) goes to @guest then.
 * @close:       the flow is gone; free @st.
 */
struct msb_flow_filter {
	int (*to_upstream)(void *st, const uint8_t *p, size_t n,
			   struct msb_buf *host, struct msb_buf *guest);
	int (*to_guest)(void *st, const uint8_t *p, size_t n,
			struct msb_buf *host, struct msb_buf *guest);
	void (*close)(void *st);
};

#endif
