/* SPDX-License-Identifier: Apache-2.0 */
/* tlscfg.c - a sandbox's TLS interception options, from msb_sandbox_config
 * to its record (see tlscfg.h)
 *
 * The names are checked by the network policy's own parser, so
 * --tls-bypass takes exactly what --net-allow takes. The certificates are
 * read block by block with OpenSSL's generic PEM reader rather than
 * PEM_read_bio_X509(), which skips blocks of other kinds silently: a
 * private key or a CRL given by mistake is refused with its name, and
 * never stored.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "policy.h"
#include "netcfg.h"
#include "tlscfg.h"
#include "util.h"

#define PEM_HINT "give CA certificates in PEM form (-----BEGIN CERTIFICATE-----); " \
	"a DER file converts with 'openssl x509 -inform der -in FILE -out FILE.pem'"

/* bio_string() - what @b holds, as a new JSON string */
static json_object *bio_string(BIO *b)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);

	return json_object_new_string_len(p, (int)n);
}

/* cert_json() - { "subject", "pem" } of @x, or NULL (no memory) */
static json_object *cert_json(X509 *x)
{
	BIO *subj = BIO_new(BIO_s_mem()), *pem = BIO_new(BIO_s_mem());
	json_object *o = NULL;

	if (subj && pem &&
	    X509_NAME_print_ex(subj, X509_get_subject_name(x), 0,
			       XN_FLAG_RFC2253) >= 0 &&
	    PEM_write_bio_X509(pem, x)) {
		o = json_object_new_object();
		json_object_object_add(o, "subject", bio_string(subj));
		json_object_object_add(o, "pem", bio_string(pem));
	}
	BIO_free(subj);
	BIO_free(pem);
	return o;
}

/* ssl_why() - OpenSSL's reason for the last failure, and a clean queue */
static const char *ssl_why(void)
{
	const char *why = ERR_reason_error_string(ERR_peek_last_error());

	ERR_clear_error();
	return why ? why : "unknown error";
}

/* one_block() - check one PEM block (the @nth) and add it to @out */
static int one_block(const char *name, const unsigned char *data, long len,
		     int nth, const char *what, json_object *out,
		     msb_error *err)
{
	const unsigned char *p = data;
	X509 *x;

	if (strstr(name, "PRIVATE KEY"))
		return msb_fail(err, -EINVAL,
				"%s holds a private key (block %d, '%s'): give "
				"only the CA certificates, which are public; "
				"a key is never stored",
				what, nth, name);
	if (strcmp(name, PEM_STRING_X509) && strcmp(name, PEM_STRING_X509_OLD))
		return msb_fail(err, -EINVAL,
				"%s holds a '%s' block (block %d): %s", what,
				name, nth, PEM_HINT);
	x = d2i_X509(NULL, &p, len);
	if (!x || p != data + len) {
		const char *why = x ? "bytes after the certificate" : ssl_why();

		X509_free(x);
		return msb_fail(err, -EINVAL,
				"%s: certificate %d does not parse (%s): "
				"replace it with the CA's PEM certificate",
				what, nth, why);
	}
	if (out) {
		json_object *o = cert_json(x);

		if (!o) {
			X509_free(x);
			return msb_fail(err, -ENOMEM, "out of memory");
		}
		json_object_array_add(out, o);
	}
	X509_free(x);
	return 0;
}

int msb_tls_ca_parse(const char *pem, const char *what, json_object *out,
		     msb_error *err)
{
	size_t len = strlen(pem);
	BIO *b;
	int n = 0, r = 0;
	unsigned long e;

	if (len > MSB_TLS_CA_BYTES)
		return msb_fail(err, -EINVAL,
				"%s is larger than %d KiB: give only the CA "
				"certificates needed",
				what, MSB_TLS_CA_BYTES >> 10);
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return msb_fail(err, -ENOMEM, "out of memory");
	ERR_clear_error();
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		long dlen = 0;

		if (!PEM_read_bio(b, &name, &header, &data, &dlen))
			break;
		r = one_block(name, data, dlen, n + 1, what, out, err);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if (r < 0)
			break;
		n++;
	}
	BIO_free(b);
	if (r < 0) {
		ERR_clear_error();
		return r;
	}
	/* The end of the text reads as "no start line"; anything else is
	 * a block cut short or with broken base64. */
	e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
		   ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
		return msb_fail(err, -EINVAL,
				"%s: block %d is cut short or corrupt (%s): %s",
				what, n + 1, ssl_why(), PEM_HINT);
	ERR_clear_error();
	if (!n)
		return msb_fail(err, -EINVAL, "%s holds no PEM certificate: %s",
				what, PEM_HINT);
	return n;
}

MSB_API int msb_tls_ca_read(const char *path, char **pem, msb_error *err)
{
	char what[PATH_MAX + 16];
	struct stat st;
	char *buf;
	ssize_t got;
	int fd, r;

	*pem = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return msb_fail(err, -e,
				"cannot read CA file '%s': %s (--tls-upstream-ca "
				"takes a PEM file of CA certificates)",
				path, strerror(e));
	}
	snprintf(what, sizeof(what), "CA file '%s'", path);
	if (!S_ISREG(st.st_mode) || st.st_size > MSB_TLS_CA_BYTES) {
		close(fd);
		return msb_fail(err, -EINVAL,
				"%s is %s: --tls-upstream-ca takes a PEM file "
				"of CA certificates, at most %d KiB",
				what,
				S_ISREG(st.st_mode) ? "too large" :
						      "not a regular file",
				MSB_TLS_CA_BYTES >> 10);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	got = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (got < 0) {
		int e = errno;

		free(buf);
		return msb_fail(err, -e, "cannot read %s: %s", what,
				strerror(e));
	}
	buf[got] = '\0';
	if (strlen(buf) != (size_t)got) {
		free(buf);
		return msb_fail(err, -EINVAL,
				"%s is binary, not PEM text (a DER "
				"certificate?): %s",
				what, PEM_HINT);
	}
	r = msb_tls_ca_parse(buf, what, NULL, err);
	if (r < 0) {
		free(buf);
		return r;
	}
	*pem = buf;
	return 0;
}

/* bypass_json() - the names, checked and lowercased */
static int bypass_json(const msb_sandbox_config *c, json_object *a,
		       msb_error *err)
{
	if (c->ntls_bypass > MSB_TLS_BYPASS_MAX)
		return msb_fail(err, -EINVAL,
				"too many --tls-bypass names (%zu): at most %d",
				c->ntls_bypass, MSB_TLS_BYPASS_MAX);
	for (size_t i = 0; i < c->ntls_bypass; i++) {
		const char *v = c->tls_bypass ? c->tls_bypass[i] : NULL;
		char d[NET_DOMAIN_LEN + 2];
		int r = msb_list_entry_check("--tls-bypass", v, err);

		if (r < 0)
			return r;
		if (!v || strlen(v) > NET_DOMAIN_LEN ||
		    (snprintf(d, sizeof(d), "%s", v), !net_domain_valid(d)))
			return msb_fail(err, -EINVAL,
					"invalid --tls-bypass name '%s': use a "
					"domain such as example.com or "
					"*.example.com",
					v ? v : "(null)");
		json_object_array_add(a, json_object_new_string(d));
	}
	return 0;
}

/* ca_json() - every certificate of every PEM text, checked */
static int ca_json(const msb_sandbox_config *c, json_object *a,
		   msb_error *err)
{
	if (c->ntls_upstream_ca > MSB_TLS_CA_MAX)
		return msb_fail(err, -EINVAL,
				"too many --tls-upstream-ca files (%zu): at "
				"most %d; a file may hold many certificates",
				c->ntls_upstream_ca, MSB_TLS_CA_MAX);
	for (size_t i = 0; i < c->ntls_upstream_ca; i++) {
		const char *pem =
			c->tls_upstream_ca ? c->tls_upstream_ca[i] : NULL;
		char what[64];
		int r;

		snprintf(what, sizeof(what), "tls_upstream_ca[%zu]", i);
		if (!pem)
			return msb_fail(err, -EINVAL,
					"%s is NULL: give the PEM text of CA "
					"certificates (msb_tls_ca_read() reads "
					"a file)",
					what);
		r = msb_tls_ca_parse(pem, what, a, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int msb_tls_config_json(const msb_sandbox_config *c, json_object *cfg,
			msb_error *err)
{
	json_object *bypass = json_object_new_array(),
		    *ca = json_object_new_array();
	int r = bypass_json(c, bypass, err);

	if (r == 0)
		r = ca_json(c, ca, err);
	if (r < 0 || !cfg) {
		json_object_put(bypass);
		json_object_put(ca);
		return r;
	}
	if (c->ntls_bypass)
		json_object_object_add(cfg, "tls_bypass", bypass);
	else
		json_object_put(bypass);
	if (c->ntls_upstream_ca)
		json_object_object_add(cfg, "tls_upstream_ca", ca);
	else
		json_object_put(ca);
	return 0;
}
