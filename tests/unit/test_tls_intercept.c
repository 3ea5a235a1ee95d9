/* SPDX-License-Identifier: Apache-2.0 */
/* test_tls_intercept.c - the interception filter between a real OpenSSL
 * client (the guest) and a real OpenSSL server (upstream), all in memory:
 * what is intercepted, what passes untouched, and what is refused */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "harness.h"
#include "intercept.h"
#include "util.h"

/* The inner filter: records the plaintext each way; refuses a request
 * holding "refuse-me" with a 403 of its own. */
struct rec {
	struct msb_buf up, down;
	int tls, opened, closed;
	int hold;  /* keep the server's bytes until it is done (ends) */
	int ends;  /* to_guest(NULL, 0) calls */
	size_t let; /* bytes of @down let go */
	char sni[FILTER_HOST_MAX + 1];
	int resolved;
};

static int rec_up(void *st, const uint8_t *p, size_t n, struct msb_buf *host,
		  struct msb_buf *guest)
{
	struct rec *r = st;
	static const char no[] = "HTTP/1.1 403 Forbidden\r\n"
				 "Content-Length: 0\r\n\r\n";

	msb_buf_append(&r->up, p, n);
	if (memmem(msb_buf_data(&r->up), r->up.len, "refuse-me", 9)) {
		msb_buf_append(guest, no, sizeof(no) - 1);
		return -EACCES;
	}
	return msb_buf_append(host, p, n);
}

static int rec_down(void *st, const uint8_t *p, size_t n,
		    struct msb_buf *host, struct msb_buf *guest)
{
	struct rec *r = st;
	size_t from = r->let;

	(void)host;
	if (!n)
		r->ends++;
	msb_buf_append(&r->down, p, n);
	if (r->hold && n)
		return 0;
	r->let = r->down.len;
	return msb_buf_append(guest, msb_buf_data(&r->down) + from,
			      r->down.len - from);
}

static void rec_close(void *st)
{
	((struct rec *)st)->closed++;
}

static const struct msb_flow_filter rec_ops = { rec_up, rec_down, rec_close };

struct rig {
	struct tls_ca *mitm, *up_ca; /* ours; the upstream's (a test CA) */
	struct tls_env *env;
	struct rec rec;
	char log[4096];
	const char *inspect; /* the one name to intercept */
	void *flow;
	SSL_CTX *cctx, *sctx;
	SSL *cli, *srv;
	BIO *cin, *cout, *sin, *sout;
	struct msb_buf sent, at_host; /* the client's bytes; what reached
				       * the server */
	int refused;
	int cli_err; /* the reason of the guest's handshake failure */
};

static int h_inspect(void *ctx, const char *sni)
{
	struct rig *r = ctx;

	return !strcmp(sni, r->inspect);
}

static int h_resolved(void *ctx, const char *sni,
		      const struct sockaddr_storage *dst)
{
	(void)ctx;
	return !strcmp(sni, "api.test") && dst->ss_family == AF_INET;
}

static void *h_inner(void *ctx, const struct msb_flow_info *info, int tls,
		     const struct msb_flow_filter **ops)
{
	struct rig *r = ctx;

	r->rec.tls = tls;
	r->rec.opened++;
	snprintf(r->rec.sni, sizeof(r->rec.sni), "%s", info->sni);
	r->rec.resolved = info->resolved_sni;
	*ops = &rec_ops;
	return &r->rec;
}

static void h_log(void *ctx, const char *line)
{
	struct rig *r = ctx;
	size_t l = strlen(r->log);

	snprintf(r->log + l, sizeof(r->log) - l, "%s\n", line);
}

static void pair(SSL_CTX *ctx, SSL **s, BIO **in, BIO **out)
{
	*s = SSL_new(ctx);
	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(*in, -1);
	SSL_set_bio(*s, *in, *out);
}

/* rig_init() - two CAs, the env (trusting @up_trusted's upstream CA or
 * not), a guest client trusting our CA and an upstream server with a leaf
 * for @server_name from the upstream CA */
static int rig_init(struct rig *r, const char *dir, const char *inspect,
		    const char *sni, const char *server_name, int trust_up)
{
	char d[300];
	msb_error err = { 0 };
	struct tls_hooks h = { h_inspect, h_resolved, h_inner, h_log, r };
	struct sockaddr_in *a;
	struct sockaddr_storage dst = { 0 };
	X509 *leaf;
	EVP_PKEY *key;

	memset(r, 0, sizeof(*r));
	r->inspect = inspect;
	snprintf(d, sizeof(d), "%s/mitm", dir);
	if (tls_ca_open(d, &r->mitm, &err) < 0)
		return -1;
	snprintf(d, sizeof(d), "%s/upstream", dir);
	if (tls_ca_open(d, &r->up_ca, &err) < 0)
		return -1;
	if (tls_env_new(r->mitm, trust_up ? tls_ca_pem(r->up_ca) : NULL, &h,
			&r->env, &err) < 0)
		return -1;
	a = (struct sockaddr_in *)&dst;
	a->sin_family = AF_INET;
	a->sin_port = htons(443);
	a->sin_addr.s_addr = htonl(0xc6336404);
	r->flow = tls_flow_new(r->env, &dst);

	r->cctx = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(r->cctx),
			    tls_ca_cert(r->mitm));
	/* pass-through: the guest talks to the server itself */
	X509_STORE_add_cert(SSL_CTX_get_cert_store(r->cctx),
			    tls_ca_cert(r->up_ca));
	SSL_CTX_set_verify(r->cctx, SSL_VERIFY_PEER, NULL);
	pair(r->cctx, &r->cli, &r->cin, &r->cout);
	SSL_set_connect_state(r->cli);
	SSL_set_tlsext_host_name(r->cli, sni);
	SSL_set1_host(r->cli, sni);

	r->sctx = SSL_CTX_new(TLS_server_method());
	if (tls_ca_leaf(r->up_ca, server_name, &leaf, &key, &err) < 0)
		return -1;
	SSL_CTX_use_certificate(r->sctx, leaf);
	SSL_CTX_use_PrivateKey(r->sctx, key);
	X509_free(leaf);
	EVP_PKEY_free(key);
	pair(r->sctx, &r->srv, &r->sin, &r->sout);
	SSL_set_accept_state(r->srv);
	return r->flow && r->cli && r->srv ? 0 : -1;
}

static void rig_free(struct rig *r)
{
	if (r->flow)
		tls_flow_filter.close(r->flow);
	SSL_free(r->cli);
	SSL_free(r->srv);
	SSL_CTX_free(r->cctx);
	SSL_CTX_free(r->sctx);
	tls_env_free(r->env);
	tls_ca_free(r->mitm);
	tls_ca_free(r->up_ca);
	msb_buf_free(&r->rec.up);
	msb_buf_free(&r->rec.down);
	msb_buf_free(&r->sent);
	msb_buf_free(&r->at_host);
}

static size_t take(BIO *b, struct msb_buf *out)
{
	size_t n = BIO_ctrl_pending(b);

	if (n) {
		msb_buf_reserve(out, n);
		BIO_read(b, msb_buf_data(out) + out->len, (int)n);
		out->len += n;
	}
	return n;
}

/* shuttle() - move bytes client -> filter -> server and back until
 * nothing moves; the server answers each read with "pong:" + what it got */
static void shuttle(struct rig *r)
{
	for (int round = 0; round < 64; round++) {
		struct msb_buf c = { 0 }, s = { 0 }, host = { 0 }, guest = { 0 };
		uint8_t b[4096];
		int moved = 0, n;

		if (!SSL_is_init_finished(r->cli)) {
			ERR_clear_error();
			if (SSL_do_handshake(r->cli) <= 0 && ERR_peek_error())
				r->cli_err = ERR_GET_REASON(ERR_peek_error());
		}
		if (take(r->cout, &c)) {
			moved = 1;
			msb_buf_append(&r->sent, msb_buf_data(&c), c.len);
			if (!r->refused &&
			    tls_flow_filter.to_upstream(r->flow, msb_buf_data(&c),
							c.len, &host, &guest) < 0)
				r->refused = 1;
		}
		if (host.len) {
			msb_buf_append(&r->at_host, msb_buf_data(&host),
				       host.len);
			BIO_write(r->sin, msb_buf_data(&host), (int)host.len);
		}
		if (!SSL_is_init_finished(r->srv)) {
			SSL_do_handshake(r->srv);
		} else if ((n = SSL_read(r->srv, b + 5, sizeof(b) - 5)) > 0) {
			memcpy(b, "pong:", 5);
			SSL_write(r->srv, b, n + 5);
		}
		host.len = 0;
		if (take(r->sout, &s)) {
			moved = 1;
			if (!r->refused &&
			    tls_flow_filter.to_guest(r->flow, msb_buf_data(&s),
						     s.len, &host, &guest) < 0)
				r->refused = 1;
		}
		if (host.len) {
			msb_buf_append(&r->at_host, msb_buf_data(&host),
				       host.len);
			BIO_write(r->sin, msb_buf_data(&host), (int)host.len);
			moved = 1;
		}
		if (guest.len) {
			BIO_write(r->cin, msb_buf_data(&guest), (int)guest.len);
			moved = 1;
		}
		msb_buf_free(&c);
		msb_buf_free(&s);
		msb_buf_free(&host);
		msb_buf_free(&guest);
		if (!moved && round > 2)
			break;
	}
}

/* request() - the client sends @msg and reads the answer into @out */
static int request(struct rig *r, const char *msg, char *out, size_t n)
{
	int got;

	if (SSL_write(r->cli, msg, (int)strlen(msg)) <= 0)
		return -1;
	shuttle(r);
	got = SSL_read(r->cli, out, (int)n - 1);
	out[got > 0 ? got : 0] = 0;
	return got;
}

static X509_NAME *issuer_seen(SSL *cli)
{
	X509 *peer = SSL_get1_peer_certificate(cli);
	X509_NAME *n = peer ? X509_NAME_dup(X509_get_issuer_name(peer)) : NULL;

	X509_free(peer);
	return n;
}

TEST(tls_intercept_bound_name_decrypted_both_ways)
{
	char dir[256], ans[256];
	struct rig r;
	X509_NAME *iss;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(rig_init(&r, dir, "api.test", "api.test", "api.test", 1),
		     0);
	shuttle(&r);
	CHECK(SSL_is_init_finished(r.cli));
	/* The guest saw our CA's certificate, not the server's. */
	iss = issuer_seen(r.cli);
	CHECK(iss && !X509_NAME_cmp(iss, X509_get_subject_name(
						 tls_ca_cert(r.mitm))));
	X509_NAME_free(iss);
	CHECK_EQ_INT(request(&r, "GET /x HTTP/1.1\r\nHost: api.test\r\n\r\n",
			     ans, sizeof(ans)) > 0, 1);
	CHECK_STR(ans, "pong:GET /x HTTP/1.1\r\nHost: api.test\r\n\r\n");
	CHECK_EQ_INT(r.rec.opened, 1);
	CHECK_EQ_INT(r.rec.tls, 1);
	CHECK_STR(r.rec.sni, "api.test");
	CHECK_EQ_INT(r.rec.resolved, 1);
	CHECK(r.rec.up.len == 35 &&
	      !memcmp(msb_buf_data(&r.rec.up), "GET /x", 6));
	CHECK(r.rec.down.len > 5 &&
	      !memcmp(msb_buf_data(&r.rec.down), "pong:", 5));
	/* The plaintext never crossed in the clear. */
	CHECK(!memmem(msb_buf_data(&r.at_host), r.at_host.len, "GET /x", 6));
	/* A guest's close_notify becomes ours to the server. */
	SSL_shutdown(r.cli);
	shuttle(&r);
	CHECK(SSL_get_shutdown(r.srv) & SSL_RECEIVED_SHUTDOWN);
	rig_free(&r);
	CHECK_EQ_INT(r.rec.closed, 1);
	msb_rm_rf(dir);
}

TEST(tls_intercept_other_name_passes_byte_for_byte)
{
	char dir[256], ans[64];
	struct rig r;
	X509_NAME *iss;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(rig_init(&r, dir, "api.test", "other.test", "other.test",
			      1),
		     0);
	shuttle(&r);
	CHECK(SSL_is_init_finished(r.cli));
	iss = issuer_seen(r.cli);
	CHECK(iss && !X509_NAME_cmp(iss, X509_get_subject_name(
						 tls_ca_cert(r.up_ca))));
	X509_NAME_free(iss);
	CHECK(request(&r, "hello", ans, sizeof(ans)) > 0);
	CHECK_STR(ans, "pong:hello");
	CHECK_EQ_INT(r.rec.opened, 0);
	CHECK(r.sent.len == r.at_host.len &&
	      !memcmp(msb_buf_data(&r.sent), msb_buf_data(&r.at_host),
		      r.sent.len));
	rig_free(&r);
	msb_rm_rf(dir);
}

TEST(tls_intercept_refuses_an_upstream_that_does_not_verify)
{
	char dir[256];
	struct rig r;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	/* the upstream's CA is not trusted */
	CHECK_EQ_INT(rig_init(&r, dir, "api.test", "api.test", "api.test", 0),
		     0);
	shuttle(&r);
	CHECK(!SSL_is_init_finished(r.cli));
	CHECK_EQ_INT(r.refused, 1);
	CHECK_EQ_INT(r.rec.opened, 0);
	CHECK_CONTAINS(r.log, "does not verify for api.test");
	CHECK_EQ_INT(r.cli_err, SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE);
	ERR_clear_error();
	rig_free(&r);
	msb_rm_rf(dir);

	/* trusted CA, but a certificate for another name */
	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(rig_init(&r, dir, "api.test", "api.test", "evil.test", 1),
		     0);
	shuttle(&r);
	CHECK(!SSL_is_init_finished(r.cli));
	CHECK_EQ_INT(r.rec.opened, 0);
	CHECK_CONTAINS(r.log, "hostname mismatch");
	ERR_clear_error();
	rig_free(&r);
	msb_rm_rf(dir);
}

TEST(tls_intercept_refuses_a_guest_below_tls12)
{
	char dir[256];
	struct rig r;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(rig_init(&r, dir, "api.test", "api.test", "api.test", 1),
		     0);
	SSL_set_security_level(r.cli, 0);
	SSL_set_max_proto_version(r.cli, TLS1_1_VERSION);
	shuttle(&r);
	CHECK(!SSL_is_init_finished(r.cli));
	CHECK_EQ_INT(r.refused, 1);
	CHECK_EQ_INT(r.rec.opened, 1); /* the upstream was fine */
	CHECK_CONTAINS(r.log, "the guest's handshake failed");
	ERR_clear_error();
	rig_free(&r);
	msb_rm_rf(dir);
}

TEST(tls_intercept_inner_refusal_reaches_the_guest_encrypted)
{
	char dir[256], ans[256];
	struct rig r;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(rig_init(&r, dir, "api.test", "api.test", "api.test", 1),
		     0);
	shuttle(&r);
	CHECK(request(&r, "GET /refuse-me HTTP/1.1\r\n\r\n", ans,
		      sizeof(ans)) > 0);
	CHECK_CONTAINS(ans, "403 Forbidden");
	CHECK_EQ_INT(r.refused, 1);
	/* nothing of it reached the server */
	CHECK(SSL_read(r.srv, ans, sizeof(ans)) <= 0);
	ERR_clear_error();
	rig_free(&r);
	msb_rm_rf(dir);
}

/* feed_plain() - @msg as a new flow's first bytes; Return: what reached
 * the host side */
static size_t feed_n(struct rig *r, const char *msg, size_t n,
		     struct msb_buf *host)
{
	struct msb_buf guest = { 0 };

	tls_flow_filter.to_upstream(r->flow, (const uint8_t *)msg, n, host,
				    &guest);
	msb_buf_free(&guest);
	return host->len;
}

static size_t feed_plain(struct rig *r, const char *msg, struct msb_buf *host)
{
	return feed_n(r, msg, strlen(msg), host);
}

TEST(tls_intercept_sniffs_plain_http_and_leaves_the_rest)
{
	char dir[256];
	struct rig r;
	struct msb_buf host = { 0 };
	struct sockaddr_storage dst = { .ss_family = AF_INET };

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(rig_init(&r, dir, "api.test", "api.test", "api.test", 1),
		     0);
	/* HTTP, split before the method ends: the inner filter, tls 0 */
	CHECK_EQ_INT((int)feed_plain(&r, "PO", &host), 0);
	CHECK_EQ_INT((int)feed_plain(&r, "ST / HTTP/1.1\r\n", &host), 17);
	CHECK_EQ_INT(r.rec.opened, 1);
	CHECK_EQ_INT(r.rec.tls, 0);
	tls_flow_filter.close(r.flow);
	/* SMTP, SSH, binary: untouched, no inner filter */
	r.rec.opened = 0;
	for (int i = 0; i < 3; i++) {
		static const char *const other[] = { "EHLO x\r\n",
						     "SSH-2.0-x\r\n", "\x01\x02" };

		host.len = 0;
		r.flow = tls_flow_new(r.env, &dst);
		CHECK_EQ_INT((int)feed_plain(&r, other[i], &host),
			     (int)strlen(other[i]));
		tls_flow_filter.close(r.flow);
	}
	r.flow = NULL;
	CHECK_EQ_INT(r.rec.opened, 0);
	/* a record that is no ClientHello: untouched */
	host.len = 0;
	r.flow = tls_flow_new(r.env, &dst);
	CHECK_EQ_INT((int)feed_n(&r, "\x16\x03\x01\x00\x04\x63\x00\x00\x00",
				 9, &host),
		     9);
	CHECK_EQ_INT(r.rec.opened, 0);
	ERR_clear_error();
	msb_buf_free(&host);
	rig_free(&r);
	msb_rm_rf(dir);
}

/* Without a CA nothing is intercepted, even a name to inspect: the hello
 * passes as sent; plain HTTP still reaches the inner filter. */
TEST(tls_intercept_without_a_ca_passes_tls_and_guards_http)
{
	struct rig r = { .inspect = "api.test" };
	struct tls_hooks h = { h_inspect, h_resolved, h_inner, h_log, &r };
	struct sockaddr_storage dst = { .ss_family = AF_INET };
	struct msb_buf host = { 0 }, guest = { 0 }, hello = { 0 };
	msb_error err = { 0 };
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *cli;
	BIO *in, *out;
	void *f;

	CHECK_EQ_INT(tls_env_new(NULL, NULL, &h, &r.env, &err), 0);
	pair(cctx, &cli, &in, &out);
	SSL_set_connect_state(cli);
	SSL_set_tlsext_host_name(cli, "api.test");
	SSL_do_handshake(cli);
	take(out, &hello);
	CHECK(hello.len > 100);
	f = tls_flow_new(r.env, &dst);
	CHECK_EQ_INT(tls_flow_filter.to_upstream(f, msb_buf_data(&hello),
						 hello.len, &host, &guest),
		     0);
	CHECK(host.len == hello.len &&
	      !memcmp(msb_buf_data(&host), msb_buf_data(&hello), host.len));
	CHECK_EQ_INT(guest.len, 0);
	tls_flow_filter.close(f);
	host.len = 0;
	f = tls_flow_new(r.env, &dst);
	tls_flow_filter.to_upstream(f, (const uint8_t *)"GET / HTTP/1.1\r\n",
				    16, &host, &guest);
	CHECK_EQ_INT(r.rec.opened, 1);
	CHECK_EQ_INT(r.rec.tls, 0);
	tls_flow_filter.close(f);
	SSL_free(cli);
	SSL_CTX_free(cctx);
	tls_env_free(r.env);
	msb_buf_free(&host);
	msb_buf_free(&guest);
	msb_buf_free(&hello);
	msb_buf_free(&r.rec.up);
	ERR_clear_error();
}

/* An inner filter that holds the server's last bytes (a scrub waiting to
 * see whether they begin a value) lets them go when the server is done:
 * at its close_notify, before ours reaches the guest, and when its socket
 * closes without one. */
TEST(tls_intercept_the_inner_filter_lets_go_at_the_end)
{
	char dir[256], ans[64];
	struct rig r;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	for (int notify = 0; notify < 2; notify++) {
		struct msb_buf s = { 0 }, host = { 0 }, guest = { 0 };
		int n;

		CHECK_EQ_INT(rig_init(&r, dir, "api.test", "api.test",
				      "api.test", 1),
			     0);
		shuttle(&r);
		CHECK(request(&r, "GET / HTTP/1.0\r\n\r\n", ans,
			      sizeof(ans)) > 0);
		r.rec.hold = 1;
		SSL_write(r.srv, "the tail", 8);
		take(r.sout, &s);
		CHECK_EQ_INT(tls_flow_filter.to_guest(r.flow, msb_buf_data(&s),
						      s.len, &host, &guest),
			     0);
		CHECK_EQ_INT(guest.len, 0); /* held */
		s.len = 0;
		if (notify) {
			SSL_shutdown(r.srv);
			take(r.sout, &s);
			CHECK_EQ_INT(tls_flow_filter.to_guest(
					     r.flow, msb_buf_data(&s), s.len,
					     &host, &guest),
				     0);
		}
		/* the socket's end (after a close_notify: nothing more) */
		CHECK_EQ_INT(tls_flow_filter.to_guest(r.flow, NULL, 0, &host,
						      &guest),
			     0);
		CHECK_EQ_INT(r.rec.ends, 1); /* once, either way */
		BIO_write(r.cin, msb_buf_data(&guest), (int)guest.len);
		n = SSL_read(r.cli, ans, sizeof(ans) - 1);
		CHECK_EQ_INT(n, 8);
		CHECK(n == 8 && !memcmp(ans, "the tail", 8));
		if (notify) {
			n = SSL_read(r.cli, ans, sizeof(ans));
			CHECK(n <= 0 &&
			      SSL_get_error(r.cli, n) == SSL_ERROR_ZERO_RETURN);
		}
		msb_buf_free(&s);
		msb_buf_free(&host);
		msb_buf_free(&guest);
		rig_free(&r);
	}
	msb_rm_rf(dir);
}
