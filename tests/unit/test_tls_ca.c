/* SPDX-License-Identifier: Apache-2.0 */
/* test_tls_ca.c - the interception CA: made once, kept private, and the
 * leaf certificates it signs verify for their host and no other */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509v3.h>

#include "ca.h"
#include "harness.h"
#include "util.h"

/* verify() - X509_verify_cert() of @leaf against @ca alone, for @host. */
static int verify(X509 *ca, X509 *leaf, const char *host)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int ok = -1;

	if (!store || !ctx || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(ctx, store, leaf, NULL))
		goto out;
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set1_host(param, host, 0);
	ok = X509_verify_cert(ctx) == 1;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

TEST(tls_ca_made_once_private_and_reloaded)
{
	char dir[256], key[300];
	struct tls_ca *a = NULL, *b = NULL;
	msb_error err = { 0 };
	struct stat st;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	strcat(dir, "/ca");
	CHECK_EQ_INT(tls_ca_open(dir, &a, &err), 0);
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 077) == 0);
	CHECK_EQ_INT(tls_ca_open(dir, &b, &err), 0);
	if (a && b) {
		CHECK_STR(tls_ca_pem(a), tls_ca_pem(b));
		CHECK_CONTAINS(tls_ca_pem(a), "-----BEGIN CERTIFICATE-----");
		CHECK_EQ_INT(X509_check_ca(tls_ca_cert(a)), 1);
		/* self-signed */
		CHECK_EQ_INT(X509_verify(tls_ca_cert(a),
					 X509_get0_pubkey(tls_ca_cert(a))), 1);
	}
	tls_ca_free(b);
	b = NULL;
	/* A key others can read is refused with what to do. */
	chmod(key, 0644);
	CHECK_EQ_INT(tls_ca_open(dir, &b, &err), -EPERM);
	CHECK_CONTAINS(err.message, "chmod 600");
	CHECK(b == NULL);
	tls_ca_free(a);
	dir[strlen(dir) - 3] = '\0';
	msb_rm_rf(dir);
}

TEST(tls_ca_leaf_verifies_for_its_host_only)
{
	char dir[256];
	struct tls_ca *ca = NULL, *other = NULL;
	msb_error err = { 0 };
	X509 *leaf = NULL, *again = NULL, *ip = NULL;
	EVP_PKEY *key = NULL, *key2 = NULL, *key3 = NULL;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(tls_ca_open(dir, &ca, &err), 0);
	if (!ca)
		goto out;
	CHECK_EQ_INT(tls_ca_leaf(ca, "API.Example.com", &leaf, &key, &err), 0);
	CHECK(leaf && key && X509_check_private_key(leaf, key) == 1);
	CHECK_EQ_INT(verify(tls_ca_cert(ca), leaf, "api.example.com"), 1);
	CHECK_EQ_INT(verify(tls_ca_cert(ca), leaf, "evil.example.com"), 0);
	/* A leaf cannot sign: a guest given one cannot mint more. */
	CHECK_EQ_INT(X509_check_ca(leaf), 0);
	/* Cached: the same certificate for the same host, any case. */
	CHECK_EQ_INT(tls_ca_leaf(ca, "api.example.COM", &again, &key2, &err), 0);
	CHECK(again == leaf);
	CHECK_EQ_INT(tls_ca_leaf(ca, "198.51.100.7", &ip, &key3, &err), 0);
	if (ip)
		CHECK_EQ_INT(X509_check_ip_asc(ip, "198.51.100.7", 0), 1);

	/* Another CA's leaf does not verify against this one. */
	{
		char d2[256];
		X509 *ol = NULL;
		EVP_PKEY *ok = NULL;

		if (unit_tmpdir(d2, sizeof(d2)) == 0) {
			CHECK_EQ_INT(tls_ca_open(d2, &other, &err), 0);
			if (other &&
			    tls_ca_leaf(other, "api.example.com", &ol, &ok,
					&err) == 0)
				CHECK_EQ_INT(verify(tls_ca_cert(ca), ol,
						    "api.example.com"), 0);
			X509_free(ol);
			EVP_PKEY_free(ok);
			tls_ca_free(other);
			msb_rm_rf(d2);
		}
	}
out:
	X509_free(leaf);
	X509_free(again);
	X509_free(ip);
	EVP_PKEY_free(key);
	EVP_PKEY_free(key2);
	EVP_PKEY_free(key3);
	tls_ca_free(ca);
	msb_rm_rf(dir);
}

/* The cache keeps TLS_LEAF_CACHE hosts and makes room by the least recently
 * used; every certificate handed out stays valid after eviction. */
TEST(tls_ca_leaf_cache_evicts_lru)
{
	char dir[256], host[64];
	struct tls_ca *ca = NULL;
	msb_error err = { 0 };
	X509 *first = NULL, *c;
	EVP_PKEY *k;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	CHECK_EQ_INT(tls_ca_open(dir, &ca, &err), 0);
	if (!ca)
		goto out;
	CHECK_EQ_INT(tls_ca_leaf(ca, "h0.test", &first, &k, &err), 0);
	EVP_PKEY_free(k);
	for (int i = 1; i <= TLS_LEAF_CACHE; i++) {
		snprintf(host, sizeof(host), "h%d.test", i);
		CHECK_EQ_INT(tls_ca_leaf(ca, host, &c, &k, &err), 0);
		X509_free(c);
		EVP_PKEY_free(k);
	}
	/* h0 was the least recently used: evicted, so made anew. */
	CHECK_EQ_INT(tls_ca_leaf(ca, "h0.test", &c, &k, &err), 0);
	CHECK(c != first);
	CHECK_EQ_INT(verify(tls_ca_cert(ca), first, "h0.test"), 1);
	X509_free(c);
	EVP_PKEY_free(k);
	/* h64 was the most recent before: still cached. */
	snprintf(host, sizeof(host), "h%d.test", TLS_LEAF_CACHE);
	CHECK_EQ_INT(tls_ca_leaf(ca, host, &c, &k, &err), 0);
	X509_free(c);
	EVP_PKEY_free(k);
out:
	X509_free(first);
	tls_ca_free(ca);
	msb_rm_rf(dir);
}

/* SNI comes from the guest: only names a certificate may carry. */
TEST(tls_host_valid_rejects_hostile_names)
{
	static const char *const good[] = { "a", "example.com", "a-b.c_d.io",
					    "10.0.0.1", "::1", "2001:db8::1" };
	static const char *const bad[] = { "", ".", "a..b", ".a", "a.",
					   "a b", "a/b", "a,DNS:evil.com",
					   "*.example.com", "a\nb", "\xc3\xa9.fr" };
	char longlabel[80], longname[300];
	struct tls_ca *ca = NULL;
	char dir[256];
	msb_error err = { 0 };
	X509 *c = NULL;
	EVP_PKEY *k = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		CHECK(tls_host_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK(!tls_host_valid(bad[i]));
	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	CHECK(!tls_host_valid(longlabel));
	longlabel[63] = '\0';
	CHECK(tls_host_valid(longlabel));
	for (size_t i = 0; i < 254; i++)
		longname[i] = i % 2 ? '.' : 'a';
	longname[254] = '\0';
	CHECK(!tls_host_valid(longname));
	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	if (tls_ca_open(dir, &ca, &err) == 0) {
		CHECK_EQ_INT(tls_ca_leaf(ca, "a,DNS:evil.com", &c, &k, &err),
			     -EINVAL);
		CHECK(c == NULL && k == NULL);
	}
	tls_ca_free(ca);
	msb_rm_rf(dir);
}
