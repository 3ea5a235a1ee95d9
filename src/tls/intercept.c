/* SPDX-License-Identifier: Apache-2.0 */
/* intercept.c - a guest flow's first bytes sniffed; TLS intercepted with
 * OpenSSL over memory BIOs (see intercept.h)
 *
 * An intercepted flow holds two TLS connections: @s, where we are the
 * server the guest talks to, and @c, where we are the client of the real
 * server. Neither touches a socket: the stack's bytes go into their read
 * BIOs and what they write is drained into the buffers filter.h gives.
 *
 * The guest's ClientHello is parsed by OpenSSL; its hello callback stops
 * the handshake there (SSL_CLIENT_HELLO_RETRY) until the upstream's
 * handshake has completed and verified, so a guest never gets a
 * certificate for a server we could not reach or trust. The second call of
 * the callback hands OpenSSL the leaf for the name.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "intercept.h"
#include "util.h"

/* A ClientHello bigger than this is not read: the flow passes. */
#define HELLO_MAX (64 * 1024)
/* Guest bytes held while the upstream handshake runs. */
#define WAIT_MAX (256 * 1024)

enum mode {
	M_SNIFF,    /* nothing decided: the first bytes are held */
	M_HELLO,    /* a TLS record: OpenSSL reads the ClientHello */
	M_UPSTREAM, /* intercepting: the upstream handshake runs */
	M_OPEN,     /* intercepting: the guest's handshake, then data */
	M_PLAIN,    /* HTTP/1.1 without TLS: the inner filter */
	M_PASS,     /* untouched both ways */
	M_DONE,     /* refused */
};

struct tls_env {
	SSL_CTX *sctx, *cctx;
	struct tls_ca *ca;
	struct tls_hooks h;
};

struct flow {
	struct tls_env *env;
	struct msb_flow_info info;
	enum mode mode;
	struct msb_buf held; /* guest bytes, as sent, until a decision */
	SSL *s, *c;          /* towards the guest / towards the server */
	BIO *s_in, *s_out, *c_in, *c_out;
	int s_closed, c_closed; /* close_notify sent that way */
	const struct msb_flow_filter *inner;
	void *inner_st;
	struct msb_buf ph, pg; /* the inner filter's output, plaintext */
};

static void say(const struct flow *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const struct flow *f, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!f->env->h.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->env->h.log(f->env->h.ctx, line);
}

/* ssl_why() - OpenSSL's reason for the last failure, for a log line */
static const char *ssl_why(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, n, "%s", r ? r : "the connection closed");
	return buf;
}

/* drain() - what @b (a write BIO) holds, appended to @out */
static int drain(BIO *b, struct msb_buf *out)
{
	size_t n = b ? BIO_ctrl_pending(b) : 0;

	while (n) {
		int r;

		if (msb_buf_reserve(out, n) < 0)
			return -ENOMEM;
		r = BIO_read(b, msb_buf_data(out) + out->len, (int)n);
		if (r <= 0)
			break;
		out->len += (size_t)r;
		n = BIO_ctrl_pending(b);
	}
	return 0;
}

/* feed() - bytes into a read BIO (a memory BIO takes them all) */
static int feed(BIO *b, const uint8_t *p, size_t n)
{
	while (n) {
		int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
		int r = BIO_write(b, p, chunk);

		if (r <= 0)
			return -ENOMEM;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int ssl_pair(SSL_CTX *ctx, SSL **ssl, BIO **in, BIO **out)
{
	*ssl = SSL_new(ctx);
	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	if (!*ssl || !*in || !*out) {
		SSL_free(*ssl);
		BIO_free(*in);
		BIO_free(*out);
		*ssl = NULL;
		*in = *out = NULL;
		return -ENOMEM;
	}
	/* An empty read BIO is "try again", not the end. */
	BIO_set_mem_eof_return(*in, -1);
	SSL_set_bio(*ssl, *in, *out);
	return 0;
}

/* --- the first bytes ---------------------------------------------------- */

/* looks_http() - 1: an HTTP/1.1 request line begins @p; 0: it does not;
 * -1: too few bytes to tell */
static int looks_http(const uint8_t *p, size_t n)
{
	static const char *const methods[] = {
		"GET ",	    "HEAD ",  "POST ",    "PUT ",   "DELETE ",
		"OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
	};
	int more = 0;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t l = strlen(methods[i]), k = n < l ? n : l;

		if (memcmp(p, methods[i], k))
			continue;
		if (n >= l)
			return 1;
		more = 1;
	}
	return more ? -1 : 0;
}

static int inner_open(struct flow *f, int tls)
{
	f->inner_st = f->env->h.inner(f->env->h.ctx, &f->info, tls, &f->inner);
	return f->inner_st ? 0 : -ENOMEM;
}

/* pass() - the flow is not ours to read: what was held goes on as sent */
static int pass(struct flow *f, struct msb_buf *host)
{
	SSL_free(f->s);
	f->s = NULL;
	f->s_in = f->s_out = NULL;
	f->mode = M_PASS;
	if (f->held.len &&
	    msb_buf_append(host, msb_buf_data(&f->held), f->held.len) < 0)
		return -ENOMEM;
	msb_buf_free(&f->held);
	return 0;
}

/* sni_of() - the host_name of a ClientHello's server_name extension
 * (RFC 6066 §3), lowercase, in @out; 0 if there is none or it is bad */
static int sni_of(SSL *s, char *out, size_t n)
{
	const unsigned char *p;
	size_t len, list, l;

	if (!SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &len) ||
	    len < 5)
		return 0;
	list = (size_t)p[0] << 8 | p[1];
	if (list != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name)
		return 0;
	l = (size_t)p[3] << 8 | p[4];
	if (l + 5 > len || !l || l >= n)
		return 0;
	for (size_t i = 0; i < l; i++) {
		char ch = (char)p[5 + i];

		out[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	out[l] = 0;
	return strlen(out) == l && tls_host_valid(out);
}

static int hello_cb(SSL *s, int *al, void *arg)
{
	struct flow *f = SSL_get_app_data(s);
	char sni[FILTER_HOST_MAX + 1];
	X509 *cert;
	EVP_PKEY *key;
	msb_error err = { 0 };

	(void)arg;
	if (f->mode == M_OPEN) {
		/* The upstream holds: the guest gets a leaf for the name. */
		if (tls_ca_leaf(f->env->ca, f->info.sni, &cert, &key, &err) <
		    0) {
			say(f, "tls: no certificate for %s: %s", f->info.sni,
			    err.message);
			*al = SSL_AD_INTERNAL_ERROR;
			return SSL_CLIENT_HELLO_ERROR;
		}
		if (SSL_use_certificate(s, cert) != 1 ||
		    SSL_use_PrivateKey(s, key) != 1) {
			X509_free(cert);
			EVP_PKEY_free(key);
			*al = SSL_AD_INTERNAL_ERROR;
			return SSL_CLIENT_HELLO_ERROR;
		}
		X509_free(cert);
		EVP_PKEY_free(key);
		return SSL_CLIENT_HELLO_SUCCESS;
	}
	if (f->mode != M_HELLO)
		return SSL_CLIENT_HELLO_ERROR;
	if (!f->env->ca || !sni_of(s, sni, sizeof(sni)) ||
	    !f->env->h.inspect(f->env->h.ctx, sni)) {
		f->mode = M_PASS; /* decided; pass() runs after */
		return SSL_CLIENT_HELLO_RETRY;
	}
	snprintf(f->info.sni, sizeof(f->info.sni), "%s", sni);
	f->info.resolved_sni =
		f->env->h.resolved(f->env->h.ctx, sni, &f->info.dst);
	f->mode = M_UPSTREAM;
	return SSL_CLIENT_HELLO_RETRY;
}

/* --- intercepting --------------------------------------------------------- */

/* refuse() - end the flow: a fatal handshake_failure alert if the guest's
 * handshake is still waiting for ours, else our close_notify */
static int refuse(struct flow *f, struct msb_buf *guest, int e)
{
	static const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02,
					 0x02, SSL_AD_HANDSHAKE_FAILURE };

	if (f->mode == M_UPSTREAM) {
		msb_buf_append(guest, alert, sizeof(alert));
	} else if (f->s) {
		if (SSL_is_init_finished(f->s) && !f->s_closed)
			SSL_shutdown(f->s);
		drain(f->s_out, guest);
	}
	f->mode = M_DONE;
	return e;
}

static int upstream_start(struct flow *f, struct msb_buf *host)
{
	if (ssl_pair(f->env->cctx, &f->c, &f->c_in, &f->c_out) < 0)
		return -ENOMEM;
	SSL_set_connect_state(f->c);
	if (SSL_set_tlsext_host_name(f->c, f->info.sni) != 1 ||
	    SSL_set1_host(f->c, f->info.sni) != 1)
		return -ENOMEM;
	SSL_do_handshake(f->c);
	return drain(f->c_out, host);
}

/* plain_out() - the inner filter's output, encrypted each way */
static int plain_out(struct flow *f)
{
	if (f->ph.len) {
		if (SSL_write(f->c, msb_buf_data(&f->ph), (int)f->ph.len) !=
		    (int)f->ph.len)
			return -EIO;
		f->ph.len = 0;
	}
	if (f->pg.len) {
		if (SSL_write(f->s, msb_buf_data(&f->pg), (int)f->pg.len) !=
		    (int)f->pg.len)
			return -EIO;
		f->pg.len = 0;
	}
	return 0;
}

/* inner_end() - the server is done sending (close_notify, or its socket
 * closed): the inner filter lets go of what it held (filter.h), and that
 * goes to the guest. Return: 0, or as relay() */
static int inner_end(struct flow *f, struct msb_buf *guest)
{
	int r;

	if (!f->inner || !SSL_is_init_finished(f->s) || f->s_closed)
		return 0;
	r = f->inner->to_guest(f->inner_st, NULL, 0, &f->ph, &f->pg);
	if (plain_out(f) < 0 && !r)
		r = -EIO;
	return r < 0 ? refuse(f, guest, r) : 0;
}

/* relay() - what one side's TLS connection decrypts, through the inner
 * filter that way (@up: guest to server), its output encrypted each way.
 * A close_notify is passed on as ours to the other side, the server's
 * after the inner filter's last bytes.
 * Return: 0 (nothing more now, or closed), 1 the connection failed, or a
 * negative errno (refused; the guest's answer is in @guest) */
static int relay(struct flow *f, int up, struct msb_buf *guest)
{
	SSL *from = up ? f->s : f->c, *to = up ? f->c : f->s;
	int *closed = up ? &f->c_closed : &f->s_closed;
	uint8_t buf[16384];
	int n, r;

	for (;;) {
		n = SSL_read(from, buf, sizeof(buf));
		if (n <= 0)
			break;
		r = up ? f->inner->to_upstream(f->inner_st, buf, (size_t)n,
					       &f->ph, &f->pg) :
			 f->inner->to_guest(f->inner_st, buf, (size_t)n,
					    &f->ph, &f->pg);
		if (plain_out(f) < 0 && !r)
			r = -EIO;
		if (r < 0)
			return refuse(f, guest, r);
	}
	r = SSL_get_error(from, n);
	if (r == SSL_ERROR_WANT_READ)
		return 0;
	if (r != SSL_ERROR_ZERO_RETURN)
		return 1;
	if (!up && (r = inner_end(f, guest)) < 0)
		return r;
	if (!*closed) {
		*closed = 1;
		SSL_shutdown(to);
	}
	return 0;
}

/* pump() - whatever both TLS connections can move now: the guest's
 * handshake and plaintext to the server, the server's plaintext to the
 * guest once the guest's handshake is done.
 * Return: 0, or a negative errno (refused; the guest's answer is in
 * @guest) */
static int pump(struct flow *f, struct msb_buf *host, struct msb_buf *guest)
{
	char why[256], dst[64];
	int r = relay(f, 1, guest);

	if (r < 0)
		return r;
	if (r) {
		msb_sockaddr_format(&f->info.dst, dst, sizeof(dst));
		if (!SSL_is_init_finished(f->s))
			say(f, "tls: %s (server name %s): the guest's "
			       "handshake failed: %s",
			    dst, f->info.sni, ssl_why(why, sizeof(why)));
		drain(f->s_out, guest); /* OpenSSL's alert */
		f->mode = M_DONE;
		return -ECONNRESET;
	}
	if (SSL_is_init_finished(f->s) && !f->s_closed &&
	    (r = relay(f, 0, guest)) != 0)
		return r < 0 ? r : refuse(f, guest, -ECONNRESET);
	if (drain(f->s_out, guest) < 0 || drain(f->c_out, host) < 0)
		return -ENOMEM;
	return 0;
}

/* upstream_step() - the server's handshake bytes; once it completes and
 * verifies, the guest's handshake resumes */
static int upstream_step(struct flow *f, struct msb_buf *host,
			 struct msb_buf *guest)
{
	char why[256], dst[64];
	long v;
	int r = SSL_do_handshake(f->c);

	if (drain(f->c_out, host) < 0)
		return -ENOMEM;
	if (r == 1) {
		f->mode = M_OPEN;
		if (inner_open(f, 1) < 0)
			return -ENOMEM;
		return pump(f, host, guest);
	}
	if (SSL_get_error(f->c, r) == SSL_ERROR_WANT_READ)
		return 0;
	msb_sockaddr_format(&f->info.dst, dst, sizeof(dst));
	v = SSL_get_verify_result(f->c);
	if (v != X509_V_OK)
		snprintf(why, sizeof(why), "its certificate does not verify "
			 "for %s: %s", f->info.sni,
			 X509_verify_cert_error_string(v));
	else
		ssl_why(why, sizeof(why));
	say(f, "tls: %s (server name %s): refused, the server failed: %s "
	       "(--tls-upstream-ca adds a CA; --tls-bypass passes a name "
	       "untouched)",
	    dst, f->info.sni, why);
	return refuse(f, guest, -ECONNREFUSED);
}

/* hello_step() - OpenSSL reads what it has of the ClientHello */
static int hello_step(struct flow *f, struct msb_buf *host)
{
	int r = SSL_do_handshake(f->s), e = SSL_get_error(f->s, r);

	if (e == SSL_ERROR_WANT_CLIENT_HELLO_CB) {
		if (f->mode == M_PASS)
			return pass(f, host);
		msb_buf_free(&f->held);
		return upstream_start(f, host);
	}
	if (e == SSL_ERROR_WANT_READ && f->held.len <= HELLO_MAX)
		return 0;
	/* Not a hello OpenSSL reads (or one too big): not ours. */
	ERR_clear_error();
	return pass(f, host);
}

/* --- the filter ------------------------------------------------------------ */

static int sniff(struct flow *f, struct msb_buf *host, struct msb_buf *guest)
{
	const uint8_t *p = msb_buf_data(&f->held);
	int h;

	if (p[0] == 0x16) {
		f->mode = M_HELLO;
		if (ssl_pair(f->env->sctx, &f->s, &f->s_in, &f->s_out) < 0)
			return -ENOMEM;
		SSL_set_app_data(f->s, f);
		SSL_set_accept_state(f->s);
		if (feed(f->s_in, p, f->held.len) < 0)
			return -ENOMEM;
		return hello_step(f, host);
	}
	h = looks_http(p, f->held.len);
	if (h < 0)
		return 0;
	if (!h)
		return pass(f, host);
	f->mode = M_PLAIN;
	if (inner_open(f, 0) < 0)
		return -ENOMEM;
	h = f->inner->to_upstream(f->inner_st, p, f->held.len, host, guest);
	msb_buf_free(&f->held);
	if (h < 0)
		f->mode = M_DONE;
	return h;
}

static int to_upstream(void *st, const uint8_t *p, size_t n,
		       struct msb_buf *host, struct msb_buf *guest)
{
	struct flow *f = st;
	int r;

	ERR_clear_error();
	switch (f->mode) {
	case M_SNIFF:
		if (msb_buf_append(&f->held, p, n) < 0)
			return -ENOMEM;
		return sniff(f, host, guest);
	case M_HELLO:
		if (msb_buf_append(&f->held, p, n) < 0 || feed(f->s_in, p, n))
			return -ENOMEM;
		return hello_step(f, host);
	case M_UPSTREAM:
		if (BIO_ctrl_pending(f->s_in) + n > WAIT_MAX)
			return refuse(f, guest, -ECONNRESET);
		return feed(f->s_in, p, n);
	case M_OPEN:
		if (feed(f->s_in, p, n) < 0)
			return -ENOMEM;
		return pump(f, host, guest);
	case M_PLAIN:
		r = f->inner->to_upstream(f->inner_st, p, n, host, guest);
		if (r < 0)
			f->mode = M_DONE;
		return r;
	case M_PASS:
		return msb_buf_append(host, p, n) < 0 ? -ENOMEM : 0;
	case M_DONE:
		break;
	}
	return -ECONNRESET;
}

static int to_guest(void *st, const uint8_t *p, size_t n,
		    struct msb_buf *host, struct msb_buf *guest)
{
	struct flow *f = st;
	int r;

	ERR_clear_error();
	switch (f->mode) {
	case M_UPSTREAM:
		if (!n)
			return 0;
		if (feed(f->c_in, p, n) < 0)
			return -ENOMEM;
		return upstream_step(f, host, guest);
	case M_OPEN:
		if (!n) {
			/* the server's socket closed (with or without its
			 * close_notify) */
			r = inner_end(f, guest);
			if (r < 0 || drain(f->s_out, guest) < 0)
				return r < 0 ? r : -ENOMEM;
			return 0;
		}
		if (feed(f->c_in, p, n) < 0)
			return -ENOMEM;
		return pump(f, host, guest);
	case M_PLAIN:
		return f->inner->to_guest(f->inner_st, p, n, host, guest);
	case M_DONE:
		return 0;
	default: /* the server spoke first: not TLS, not HTTP */
		return msb_buf_append(guest, p, n) < 0 ? -ENOMEM : 0;
	}
}

static void flow_close(void *st)
{
	struct flow *f = st;

	if (f->inner)
		f->inner->close(f->inner_st);
	SSL_free(f->s);
	SSL_free(f->c);
	msb_buf_free(&f->held);
	msb_buf_free(&f->ph);
	msb_buf_free(&f->pg);
	free(f);
}

const struct msb_flow_filter tls_flow_filter = {
	.to_upstream = to_upstream,
	.to_guest = to_guest,
	.close = flow_close,
};

void *tls_flow_new(struct tls_env *env, const struct sockaddr_storage *dst)
{
	struct flow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->env = env;
	f->info.dst = *dst;
	f->mode = M_SNIFF;
	return f;
}

/* --- the shared contexts ------------------------------------------------- */

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h1[] = "\x08http/1.1";

	(void)s;
	(void)arg;
	/* Only HTTP/1.1 is read; a guest offering only h2 gets no ALPN
	 * and either speaks HTTP/1.1 or gives up. */
	if (SSL_select_next_proto((unsigned char **)out, outlen, h1,
				  sizeof(h1) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

static int add_pem(SSL_CTX *ctx, const char *pem, msb_error *err)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	if (!b)
		return msb_fail(err, -ENOMEM, "out of memory");
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		X509_STORE_add_cert(store, x);
		X509_free(x);
		n++;
	}
	BIO_free(b);
	ERR_clear_error();
	if (!n)
		return msb_fail(err, -EINVAL,
				"no certificate in the upstream CAs given "
				"(--tls-upstream-ca wants PEM files)");
	return 0;
}

int tls_env_new(struct tls_ca *ca, const char *upstream_pem,
		const struct tls_hooks *hooks, struct tls_env **out,
		msb_error *err)
{
	static const unsigned char h1[] = "\x08http/1.1";
	struct tls_env *e = calloc(1, sizeof(*e));

	if (!e)
		return msb_fail(err, -ENOMEM, "out of memory");
	e->ca = ca;
	e->h = *hooks;
	e->sctx = SSL_CTX_new(TLS_server_method());
	e->cctx = SSL_CTX_new(TLS_client_method());
	if (!e->sctx || !e->cctx)
		goto nomem;
	SSL_CTX_set_min_proto_version(e->sctx, TLS1_2_VERSION);
	SSL_CTX_set_min_proto_version(e->cctx, TLS1_2_VERSION);
	/* Every guest handshake is full: no tickets, no session cache
	 * (a resumed session would skip the hello callback). */
	SSL_CTX_set_options(e->sctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(e->sctx, 0);
	SSL_CTX_set_session_cache_mode(e->sctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_client_hello_cb(e->sctx, hello_cb, NULL);
	SSL_CTX_set_alpn_select_cb(e->sctx, alpn_select, NULL);
	SSL_CTX_set_verify(e->cctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(e->cctx) != 1 ||
	    SSL_CTX_set_alpn_protos(e->cctx, h1, sizeof(h1) - 1) != 0)
		goto nomem;
	if (upstream_pem && add_pem(e->cctx, upstream_pem, err) < 0) {
		tls_env_free(e);
		return err->code;
	}
	*out = e;
	return 0;
nomem:
	tls_env_free(e);
	return msb_fail(err, -ENOMEM, "cannot set up TLS: %s",
			ERR_reason_error_string(ERR_get_error()));
}

void tls_env_free(struct tls_env *e)
{
	if (!e)
		return;
	SSL_CTX_free(e->sctx);
	SSL_CTX_free(e->cctx);
	free(e);
}
