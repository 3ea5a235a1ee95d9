/* SPDX-License-Identifier: Apache-2.0 */
/* tls_flow.c - libFuzzer target: a guest flow's bytes into the interception
 * filter (src/tls/intercept.c), and a server's bytes back
 *
 * Every name is intercepted, so a hello OpenSSL accepts reaches the
 * upstream handshake; the input after a 0xff 0xfe marker (if any) is what
 * "the server" answers. The first byte picks the split into reads. The
 * filter must never crash, leak or hand the guest anything while it waits
 * for a decision, and a flow it passes must reach the host byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intercept.h"

static struct tls_ca *ca;
static struct tls_env *env;
static int passed; /* the inner filter's flows: plaintext */

static int yes(void *ctx, const char *sni)
{
	(void)ctx;
	return sni[0] != 'p'; /* names starting with p pass */
}

static int no(void *ctx, const char *sni, const struct sockaddr_storage *d)
{
	(void)ctx;
	(void)sni;
	(void)d;
	return 0;
}

static int in_up(void *st, const uint8_t *p, size_t n, struct msb_buf *host,
		 struct msb_buf *guest)
{
	(void)st;
	(void)guest;
	return msb_buf_append(host, p, n);
}

static int in_down(void *st, const uint8_t *p, size_t n, struct msb_buf *host,
		   struct msb_buf *guest)
{
	(void)st;
	(void)host;
	return msb_buf_append(guest, p, n);
}

static void in_close(void *st)
{
	(void)st;
}

static const struct msb_flow_filter in_ops = { in_up, in_down, in_close };

static void *inner(void *ctx, const struct msb_flow_info *info, int tls,
		   const struct msb_flow_filter **ops)
{
	(void)ctx;
	(void)info;
	(void)tls;
	passed++;
	*ops = &in_ops;
	return &passed;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/msb-fuzz-ca-XXXXXX";
	struct tls_hooks h = { yes, no, inner, NULL, NULL };
	msb_error err = { 0 };

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir) || tls_ca_open(dir, &ca, &err) < 0 ||
	    tls_env_new(ca, NULL, &h, &env, &err) < 0)
		abort();
	/* The CA is in memory now: leave nothing behind in /tmp. */
	for (const char *const *f = (const char *const[]){ "ca.key", "ca.pem",
							   "lock", NULL };
	     *f; f++) {
		char p[sizeof(dir) + 16];

		snprintf(p, sizeof(p), "%s/%s", dir, *f);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage dst = { .ss_family = AF_INET };
	struct msb_buf host = { 0 }, guest = { 0 };
	const uint8_t *srv = NULL;
	size_t step, nsrv = 0, sent = 0;
	void *f;

	if (size < 1)
		return 0;
	step = (size_t)data[0] * 7 + 1;
	data++;
	size--;
	for (size_t i = 0; i + 1 < size; i++)
		if (data[i] == 0xff && data[i + 1] == 0xfe) {
			srv = data + i + 2;
			nsrv = size - i - 2;
			size = i;
			break;
		}
	f = tls_flow_new(env, &dst);
	if (!f)
		return 0;
	for (size_t at = 0; at < size; at += step) {
		size_t n = size - at < step ? size - at : step;

		if (tls_flow_filter.to_upstream(f, data + at, n, &host,
						&guest) < 0)
			break;
		sent += n;
	}
	/* Not TLS: passed or plain HTTP (whose inner filter here passes
	 * too): the host gets what was sent, or nothing while the first
	 * bytes may still be a method's. */
	if (sent && data[0] != 0x16 &&
	    (host.len ? host.len != sent ||
				memcmp(msb_buf_data(&host), data, sent) :
			sent >= 8))
		abort();
	for (size_t at = 0; srv && at < nsrv; at += step) {
		size_t n = nsrv - at < step ? nsrv - at : step;

		if (tls_flow_filter.to_guest(f, srv + at, n, &host, &guest) < 0)
			break;
	}
	tls_flow_filter.close(f);
	msb_buf_free(&host);
	msb_buf_free(&guest);
	return 0;
}
