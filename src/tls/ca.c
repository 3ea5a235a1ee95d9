/* SPDX-License-Identifier: Apache-2.0 */
/* ca.c - the per-home interception CA and its leaf certificates (OpenSSL) */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "util.h"

#define CA_DAYS   3650
#define LEAF_DAYS 7

struct leaf {
	char host[TLS_HOST_MAX + 1];
	X509 *cert;
	unsigned long use;
};

struct tls_ca {
	X509 *cert;
	EVP_PKEY *key;
	EVP_PKEY *leaf_key;
	char *pem;
	struct leaf cache[TLS_LEAF_CACHE];
	unsigned long clock;
};

/* ssl_fail() - msb_fail() with OpenSSL's last error appended. */
static int ssl_fail(msb_error *err, const char *what)
{
	char e[256] = "unknown error";
	unsigned long code = ERR_get_error();

	if (code)
		ERR_error_string_n(code, e, sizeof(e));
	ERR_clear_error();
	return msb_fail(err, -EIO, "%s: %s", what, e);
}

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A random positive 128-bit serial (RFC 5280 §4.1.2.2: at most 20 bytes). */
static int set_serial(X509 *cert)
{
	unsigned char r[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[0] &= 0x7f;
	r[0] |= 0x40;
	bn = BN_bin2bn(r, sizeof(r), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
	return ok ? 0 : -1;
}

/* new_cert() - a v3 certificate for @key named @cn, valid from an hour ago
 * (guest clocks drift) for @days; the caller adds extensions and signs. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, long days)
{
	X509 *cert = X509_new();
	X509_NAME *name;

	if (!cert || !X509_set_version(cert, 2) || set_serial(cert) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400L) ||
	    !X509_set_pubkey(cert, key))
		goto fail;
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					(const unsigned char *)"microsandbox",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0))
		goto fail;
	return cert;
fail:
	X509_free(cert);
	return NULL;
}

static int make_ca(const char *keypath, const char *certpath, msb_error *err)
{
	EVP_PKEY *key = new_key();
	X509 *cert = NULL;
	char cn[96], host[64] = "";
	FILE *f = NULL;
	int fd, rc = -EIO;

	gethostname(host, sizeof(host) - 1);
	snprintf(cn, sizeof(cn), "microsandbox interception CA (%s)", host);
	if (!key || !(cert = new_cert(key, cn, CA_DAYS)) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(cert)) ||
	    add_ext(cert, cert, NID_basic_constraints,
		    "critical,CA:TRUE,pathlen:0") ||
	    add_ext(cert, cert, NID_key_usage,
		    "critical,keyCertSign,cRLSign") ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash") ||
	    !X509_sign(cert, key, EVP_sha256())) {
		rc = ssl_fail(err, "cannot make the interception CA");
		goto out;
	}
	/* The key first, created 0600 and never wider, then the certificate:
	 * a ca.pem present means its key is complete. */
	fd = open(keypath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		rc = msb_fail_errno(err, -errno, "cannot write %s", keypath);
		goto out;
	}
	if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) ||
	    fflush(f) || fsync(fileno(f))) {
		rc = msb_fail(err, -EIO, "cannot write %s", keypath);
		goto out;
	}
	fclose(f);
	f = fopen(certpath, "we");
	if (!f || !PEM_write_X509(f, cert) || fflush(f) || fsync(fileno(f))) {
		rc = msb_fail(err, -EIO, "cannot write %s", certpath);
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static int load_ca(struct tls_ca *ca, const char *keypath,
		   const char *certpath, msb_error *err)
{
	struct stat st;
	FILE *f;
	BIO *mem;
	long n;
	char *p;

	f = fopen(keypath, "re");
	if (!f)
		return msb_fail_errno(err, -errno, "cannot open %s", keypath);
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		fclose(f);
		return msb_fail(err, -EPERM,
				"%s is readable by others (mode %03o): anyone "
				"who reads it can forge any site for the "
				"sandboxes; chmod 600 it, or remove the ca/ "
				"directory to make a new CA",
				keypath, st.st_mode & 0777);
	}
	ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	f = fopen(certpath, "re");
	if (f) {
		ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!ca->key || !ca->cert || X509_check_private_key(ca->cert, ca->key) != 1)
		return msb_fail(err, -EINVAL,
				"%s or %s is damaged or they do not match; "
				"remove the directory to make a new CA",
				keypath, certpath);
	mem = BIO_new(BIO_s_mem());
	if (!mem || !PEM_write_bio_X509(mem, ca->cert) ||
	    (n = BIO_get_mem_data(mem, &p)) <= 0 || !(ca->pem = strndup(p, n))) {
		BIO_free(mem);
		return ssl_fail(err, "cannot encode the CA certificate");
	}
	BIO_free(mem);
	return 0;
}

int tls_ca_open(const char *dir, struct tls_ca **out, msb_error *err)
{
	char keypath[4096], certpath[4096], lockpath[4096];
	struct tls_ca *ca;
	cleanup_close int lock = -1;
	int rc;

	*out = NULL;
	if (snprintf(keypath, sizeof(keypath), "%s/ca.key", dir) >=
		    (int)sizeof(keypath) ||
	    snprintf(certpath, sizeof(certpath), "%s/ca.pem", dir) >=
		    (int)sizeof(certpath) ||
	    snprintf(lockpath, sizeof(lockpath), "%s/lock", dir) >=
		    (int)sizeof(lockpath))
		return msb_fail(err, -ENAMETOOLONG, "CA path too long: %s",
				dir);
	if (msb_mkdir_p(dir, 0700) < 0)
		return msb_fail_errno(err, -errno, "cannot create %s", dir);
	lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return msb_fail_errno(err, -errno, "cannot lock %s", lockpath);
	if (access(certpath, F_OK) < 0) {
		rc = make_ca(keypath, certpath, err);
		if (rc < 0)
			return rc;
	}
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return msb_fail(err, -ENOMEM, "out of memory");
	rc = load_ca(ca, keypath, certpath, err);
	if (rc == 0 && !(ca->leaf_key = new_key()))
		rc = ssl_fail(err, "cannot make the leaf key");
	if (rc < 0) {
		tls_ca_free(ca);
		return rc;
	}
	*out = ca;
	return 0;
}

void tls_ca_free(struct tls_ca *ca)
{
	if (!ca)
		return;
	for (size_t i = 0; i < TLS_LEAF_CACHE; i++)
		X509_free(ca->cache[i].cert);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	EVP_PKEY_free(ca->leaf_key);
	free(ca->pem);
	free(ca);
}

const char *tls_ca_pem(const struct tls_ca *ca)
{
	return ca->pem;
}

X509 *tls_ca_cert(const struct tls_ca *ca)
{
	return ca->cert;
}

static int is_ip(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

int tls_host_valid(const char *host)
{
	size_t n = strnlen(host, TLS_HOST_MAX + 1), label = 0;

	if (n == 0 || n > TLS_HOST_MAX)
		return 0;
	if (is_ip(host))
		return 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = host[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

static X509 *make_leaf(struct tls_ca *ca, const char *host)
{
	char san[TLS_HOST_MAX + 8];
	X509 *cert = new_cert(ca->leaf_key, host, LEAF_DAYS);

	snprintf(san, sizeof(san), "%s:%s", is_ip(host) ? "IP" : "DNS", host);
	if (!cert ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) ||
	    add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(cert, ca->cert, NID_key_usage,
		    "critical,digitalSignature") ||
	    add_ext(cert, ca->cert, NID_ext_key_usage, "serverAuth") ||
	    add_ext(cert, ca->cert, NID_authority_key_identifier,
		    "keyid:always") ||
	    add_ext(cert, ca->cert, NID_subject_alt_name, san) ||
	    !X509_sign(cert, ca->key, EVP_sha256())) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int tls_ca_leaf(struct tls_ca *ca, const char *host, X509 **cert,
		EVP_PKEY **key, msb_error *err)
{
	struct leaf *slot = &ca->cache[0];
	char lower[TLS_HOST_MAX + 1];
	size_t n;

	*cert = NULL;
	*key = NULL;
	if (!tls_host_valid(host))
		return msb_fail(err, -EINVAL,
				"not a host name a certificate can name");
	n = strlen(host);
	for (size_t i = 0; i <= n; i++)
		lower[i] = host[i] >= 'A' && host[i] <= 'Z' ? host[i] | 0x20
							    : host[i];
	ca->clock++;
	for (size_t i = 0; i < TLS_LEAF_CACHE; i++) {
		struct leaf *l = &ca->cache[i];

		if (l->cert && strcmp(l->host, lower) == 0) {
			slot = l;
			goto found;
		}
		if (!l->cert || (slot->cert && l->use < slot->use))
			slot = l;
	}
	/* @slot is free or the least recently used. */
	X509_free(slot->cert);
	slot->cert = make_leaf(ca, lower);
	if (!slot->cert)
		return ssl_fail(err, "cannot make a leaf certificate");
	memcpy(slot->host, lower, n + 1);
found:
	slot->use = ca->clock;
	X509_up_ref(slot->cert);
	EVP_PKEY_up_ref(ca->leaf_key);
	*cert = slot->cert;
	*key = ca->leaf_key;
	return 0;
}
