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
 * Status: the interface only. Nothing in src/net/tcp.c calls it yet.
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
 * @to_upstream: bytes from the guest (@p, @n, any split); append what goes
 *               to the host socket to @out. Return: 0, or a negative errno
 *               to reset the flow both ways (a refused request).
 * @to_guest:    likewise for bytes from the host socket towards the guest;
 *               a filter may also answer the guest itself (a 403) by
 *               appending to the @reply buffer the stack then sends.
 * @close:       the flow is gone; free @st.
 */
struct msb_flow_filter {
	int (*to_upstream)(void *st, const uint8_t *p, size_t n,
			   struct msb_buf *out, struct msb_buf *reply);
	int (*to_guest)(void *st, const uint8_t *p, size_t n,
			struct msb_buf *out);
	void (*close)(void *st);
};

#endif
