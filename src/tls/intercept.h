/* SPDX-License-Identifier: Apache-2.0 */
/* intercept.h - the flow filter of a sandbox whose traffic is inspected:
 * TLS intercepted where it must be, HTTP/1.1 handed to an inner filter
 *
 * A guest TCP flow's first bytes decide what it is (filter.h):
 *   - a TLS ClientHello: OpenSSL parses it; its server name (SNI) decides.
 *     A name the owner wants inspected (tls_env.inspect), and not bypassed,
 *     is intercepted: a verified TLS connection to the destination is made
 *     first, for that name (the host's CAs plus the owner's extra ones,
 *     TLS 1.2 at least, ALPN http/1.1), and only when it holds does the
 *     guest get its handshake, with a certificate for the name from the
 *     home's CA (ca.h). The plaintext between the two passes through the
 *     inner filter. Any other name, no name, or a hello OpenSSL cannot read
 *     is passed through untouched: the guest talks to the server itself.
 *   - an HTTP/1.1 request line: the inner filter, as plain HTTP;
 *   - anything else: untouched.
 * An upstream that fails (a certificate that does not verify for the name,
 * no common protocol version or cipher) refuses the guest's handshake with
 * a fatal alert and one line in the log; so does a guest asking for less
 * than TLS 1.2.
 */
#ifndef MSB_TLS_INTERCEPT_H
#define MSB_TLS_INTERCEPT_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "ca.h"
#include "filter.h"

/**
 * struct tls_hooks - what the owner decides for the flows it filters
 * @inspect:  whether TLS for @sni (lowercase, valid) is to be intercepted
 *            (1) or passed through (0)
 * @resolved: whether the owner's resolver gave @dst's address for @sni
 *            (the DNS-to-IP binding); sets msb_flow_info.resolved_sni
 * @inner:    the filter for a flow's plaintext (@tls: 1 intercepted TLS,
 *            0 plain HTTP): its state with *@ops set, or NULL (no memory)
 * @log:      one line for the sandbox's log
 * @ctx:      passed to each
 */
struct tls_hooks {
	int (*inspect)(void *ctx, const char *sni);
	int (*resolved)(void *ctx, const char *sni,
			const struct sockaddr_storage *dst);
	void *(*inner)(void *ctx, const struct msb_flow_info *info, int tls,
		       const struct msb_flow_filter **ops);
	void (*log)(void *ctx, const char *line);
	void *ctx;
};

struct tls_env;

/**
 * tls_env_new() - what every filtered flow of a sandbox shares
 * @ca:           the home's CA (borrowed; outlives the env), or NULL: no
 *                TLS is intercepted (HTTP still goes to the inner filter)
 * @upstream_pem: extra CA certificates (PEM) trusted for upstream servers
 *                besides the host's, or NULL
 * @hooks:        copied
 * @out:          receives the env; free with tls_env_free()
 * @err:          what failed
 *
 * Return: 0, or a negative errno
 */
int tls_env_new(struct tls_ca *ca, const char *upstream_pem,
		const struct tls_hooks *hooks, struct tls_env **out,
		msb_error *err);

void tls_env_free(struct tls_env *env);

/* The filter's operations; its state comes from tls_flow_new(). */
extern const struct msb_flow_filter tls_flow_filter;

/**
 * tls_flow_new() - the filter for one guest flow
 * @env: shared, outlives the flow
 * @dst: where the guest connects (address and port)
 *
 * Return: state for tls_flow_filter, or NULL (no memory)
 */
void *tls_flow_new(struct tls_env *env, const struct sockaddr_storage *dst);

#endif
