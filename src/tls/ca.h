/* SPDX-License-Identifier: Apache-2.0 */
/* ca.h - the per-home certificate authority that TLS interception signs with
 *
 * One CA per $MSB_HOME (in $MSB_HOME/ca/: ca.key 0600, ca.pem 0644), made with
 * OpenSSL on first use and shared by every sandbox of that home; its
 * certificate is what the agent installs in the guest's trust store. Leaf
 * certificates for the hosts a sandbox reaches are made on the fly (one
 * P-256 key per loaded CA, a certificate per host) and cached in memory.
 */
#ifndef MSB_TLS_CA_H
#define MSB_TLS_CA_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "msb.h"

#define TLS_HOST_MAX 253
#define TLS_LEAF_CACHE 64

struct tls_ca;

/**
 * tls_ca_open() - load the CA kept in @dir, making it first if there is none
 * @dir: its directory (made 0700 if missing)
 * @out: receives the CA; free with tls_ca_free()
 * @err: what went wrong, and what to do
 *
 * Two processes opening the same directory at once end with the same CA (the
 * making is done under a lock on @dir/lock). A key readable by others is
 * refused: whoever can read it can forge any site for every sandbox.
 * Return: 0, or a negative errno.
 */
int tls_ca_open(const char *dir, struct tls_ca **out, msb_error *err);

void tls_ca_free(struct tls_ca *ca);

/* tls_ca_pem() - the CA certificate, PEM, NUL-terminated (for the guest). */
const char *tls_ca_pem(const struct tls_ca *ca);

/* tls_ca_cert() - the CA certificate itself (borrowed). */
X509 *tls_ca_cert(const struct tls_ca *ca);

/**
 * tls_host_valid() - whether @host may be named in a leaf certificate
 * @host: a DNS name or an IPv4/IPv6 literal, as the guest sent it (SNI)
 *
 * DNS names are 1-253 bytes of letters, digits, '-' and '.', labels of 1-63
 * bytes (RFC 1035 §2.3.4), no leading or trailing dot.
 * Return: 1 if valid, 0 if not.
 */
int tls_host_valid(const char *host);

/**
 * tls_ca_leaf() - a certificate for @host signed by the CA, and its key
 * @ca:   the CA
 * @host: as tls_host_valid() accepts (compared case-insensitively)
 * @cert: receives the certificate (a new reference: X509_free() it)
 * @key:  receives the key (a new reference: EVP_PKEY_free() it)
 * @err:  what went wrong
 *
 * The certificate names @host in subjectAltName (a DNS name or an IP
 * address), is good for serverAuth only and for 7 days; the last
 * TLS_LEAF_CACHE are kept, so a host asked for again costs a lookup.
 * Return: 0, -EINVAL for a host that is not valid, or a negative errno.
 */
int tls_ca_leaf(struct tls_ca *ca, const char *host, X509 **cert,
		EVP_PKEY **key, msb_error *err);

#endif
