/* SPDX-License-Identifier: Apache-2.0 */
/* test_tlsconf.c - --tls-bypass and --tls-upstream-ca: the library's checks
 * (src/lib/tlscfg.c), the record they make, and the supervisor reading it
 * back (src/supervisor/tlsconf.c, compiled into this file)
 *
 * Certificates and keys are made here with OpenSSL, so every PEM text is
 * a real one.
 */

#include "../../src/supervisor/tlsconf.c"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "harness.h"

/* new_key() - a fresh P-256 key */
static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);

	if (c && EVP_PKEY_keygen_init(c) > 0 &&
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(c, NID_X9_62_prime256v1) > 0)
		EVP_PKEY_keygen(c, &k);
	EVP_PKEY_CTX_free(c);
	return k;
}

/* new_cert() - a self-signed certificate for CN=@cn, with its key in *@key
 * when @key is not NULL */
static X509 *new_cert(const char *cn, EVP_PKEY **key)
{
	EVP_PKEY *k = new_key();
	X509 *x = X509_new();
	X509_NAME *n;

	if (!k || !x) {
		EVP_PKEY_free(k);
		X509_free(x);
		return NULL;
	}
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_sign(x, k, EVP_sha256());
	if (key)
		*key = k;
	else
		EVP_PKEY_free(k);
	return x;
}

/* take() - what @b holds, NUL-terminated, then free @b */
static char *take(BIO *b)
{
	char *p, *s;
	long n = BIO_get_mem_data(b, &p);

	s = malloc((size_t)n + 1);
	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	BIO_free(b);
	return s;
}

static char *cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());

	PEM_write_bio_X509(b, x);
	return take(b);
}

static char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());

	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	return take(b);
}

/* pem_block() - a PEM block named @name around @n bytes of @der */
static char *pem_block(const char *name, const unsigned char *der, long n)
{
	BIO *b = BIO_new(BIO_s_mem());

	PEM_write_bio(b, name, "", der, n);
	return take(b);
}

static char *cat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	return s;
}

/* refused() - msb_tls_ca_parse(@pem) fails with a message holding @want */
static void refused(const char *pem, const char *want, int line)
{
	msb_error err = { 0 };
	int r = msb_tls_ca_parse(pem, "CA file 'x.pem'", NULL, &err);

	if (r != -EINVAL)
		unit_fail(__FILE__, line, "accepted (%d), want '%s'", r, want);
	else if (!strstr(err.message, want) ||
		 !strstr(err.message, "CA file 'x.pem'"))
		unit_fail(__FILE__, line, "message '%s' lacks '%s'",
			  err.message, want);
	if (ERR_peek_error())
		unit_fail(__FILE__, line, "OpenSSL error queue left full");
}

TEST(tls_ca_parse_bundle_subjects_and_reencoded_pem)
{
	X509 *a = new_cert("Upstream CA A", NULL), *b = new_cert("B", NULL);
	char *pa = cert_pem(a), *pb = cert_pem(b);
	char *bundle = cat3("# a comment, as bundles have\n", pa, "\n");
	char *two = cat3(bundle, "text between blocks\n", pb);
	json_object *out = json_object_new_array();
	msb_error err = { 0 };

	CHECK_EQ_INT(msb_tls_ca_parse(two, "t", out, &err), 2);
	CHECK_EQ_INT((int)json_object_array_length(out), 2);
	for (int i = 0; i < 2 && json_object_array_length(out) == 2; i++) {
		json_object *o = json_object_array_get_idx(out, (size_t)i), *v;
		X509 *back;
		BIO *bio;

		CHECK(json_object_object_get_ex(o, "subject", &v));
		CHECK_STR(json_object_get_string(v), i ? "CN=B" : "CN=Upstream CA A");
		CHECK(json_object_object_get_ex(o, "pem", &v));
		/* nothing but the certificate, and the same one */
		CHECK_STR(json_object_get_string(v), i ? pb : pa);
		bio = BIO_new_mem_buf(json_object_get_string(v), -1);
		back = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		CHECK(back && X509_cmp(back, i ? b : a) == 0);
		X509_free(back);
		BIO_free(bio);
	}
	/* checking alone adds nothing anywhere */
	CHECK_EQ_INT(msb_tls_ca_parse(pa, "t", NULL, &err), 1);
	CHECK(ERR_peek_error() == 0);
	json_object_put(out);
	free(two);
	free(bundle);
	free(pa);
	free(pb);
	X509_free(a);
	X509_free(b);
}

TEST(tls_ca_parse_refuses_what_is_not_certificates)
{
	EVP_PKEY *k = NULL;
	X509 *x = new_cert("C", &k);
	char *pc = cert_pem(x), *pk = key_pem(k), *s, *big;
	unsigned char *der = NULL, junk[64];
	int n = i2d_X509(x, &der);
	unsigned char *der2 = malloc((size_t)n + 3);

	refused("", "holds no PEM certificate", __LINE__);
	refused("hello\n", "holds no PEM certificate", __LINE__);
	refused(pk, "holds a private key (block 1", __LINE__);
	s = cat3(pc, pk, "");
	refused(s, "holds a private key (block 2", __LINE__);
	free(s);
	memset(junk, 0x30, sizeof(junk));
	s = pem_block("X509 CRL", junk, sizeof(junk));
	refused(s, "holds a 'X509 CRL' block (block 1)", __LINE__);
	free(s);
	s = pem_block("TRUSTED CERTIFICATE", der, n);
	refused(s, "'TRUSTED CERTIFICATE' block", __LINE__);
	free(s);
	/* base64 that decodes, but not to a certificate */
	s = pem_block("CERTIFICATE", junk, sizeof(junk));
	refused(s, "certificate 1 does not parse", __LINE__);
	free(s);
	/* a certificate and bytes after it, in one block */
	memcpy(der2, der, (size_t)n);
	memcpy(der2 + n, "\x05\x00\x00", 3);
	s = pem_block("CERTIFICATE", der2, n + 3);
	refused(s, "bytes after the certificate", __LINE__);
	free(s);
	/* a block cut short: no end line */
	s = strdup(pc);
	s[strlen(s) / 2] = '\0';
	refused(s, "block 1 is cut short or corrupt", __LINE__);
	free(s);
	/* broken base64 in the second block */
	s = cat3(pc, pc, "");
	s[strlen(pc) + 40] = '*';
	refused(s, "block 2 is cut short or corrupt", __LINE__);
	free(s);
	big = malloc(MSB_TLS_CA_BYTES + 2);
	memset(big, '\n', MSB_TLS_CA_BYTES + 1);
	big[MSB_TLS_CA_BYTES + 1] = '\0';
	refused(big, "is larger than 1024 KiB", __LINE__);
	free(big);
	OPENSSL_free(der);
	free(der2);
	free(pc);
	free(pk);
	EVP_PKEY_free(k);
	X509_free(x);
}

/* write_file() - @n bytes of @data into @dir/@name; its path in @path */
static void write_file(const char *dir, const char *name, const void *data,
		       size_t n, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write(fd, data, n) == (ssize_t)n);
	if (fd >= 0)
		close(fd);
}

TEST(tls_ca_read_names_the_file)
{
	X509 *x = new_cert("File CA", NULL);
	char dir[256], path[512], *pc = cert_pem(x), *pem = NULL;
	msb_error err = { 0 };
	int fd = unit_lowest_fd();

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	write_file(dir, "ca.pem", pc, strlen(pc), path, sizeof(path));
	CHECK_EQ_INT(msb_tls_ca_read(path, &pem, &err), 0);
	CHECK(pem && !strcmp(pem, pc));
	free(pem);

	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	CHECK_EQ_INT(msb_tls_ca_read(path, &pem, &err), -ENOENT);
	CHECK(pem == NULL);
	CHECK_CONTAINS(err.message, path);
	CHECK_CONTAINS(err.message, "No such file");
	CHECK_CONTAINS(err.message, "--tls-upstream-ca takes a PEM file");

	write_file(dir, "notes.txt", "not a certificate\n", 18, path,
		   sizeof(path));
	CHECK_EQ_INT(msb_tls_ca_read(path, &pem, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "notes.txt' holds no PEM certificate");

	write_file(dir, "nul.pem", "a\0b", 3, path, sizeof(path));
	CHECK_EQ_INT(msb_tls_ca_read(path, &pem, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "is binary, not PEM text (a DER certificate?)");

	CHECK_EQ_INT(msb_tls_ca_read(dir, &pem, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "not a regular file");
	CHECK_EQ_INT(unit_lowest_fd(), fd);
	msb_rm_rf(dir);
	free(pc);
	X509_free(x);
}

TEST(tls_config_json_checks_and_records)
{
	X509 *a = new_cert("A", NULL), *b = new_cert("B", NULL);
	char *pa = cert_pem(a), *pb = cert_pem(b), *ab = cat3(pa, pb, "");
	const char *names[] = { "Example.COM", "*.internal.example", "a_b.x" };
	const char *cas[] = { ab, pa };
	const char *many[MSB_TLS_BYPASS_MAX + 1];
	msb_sandbox_config c;
	json_object *cfg = json_object_new_object(), *v, *o;
	msb_error err = { 0 };

	msb_sandbox_config_init(&c);
	/* nothing given: nothing recorded */
	CHECK_EQ_INT(msb_tls_config_json(&c, cfg, &err), 0);
	CHECK(!json_object_object_get_ex(cfg, "tls_bypass", NULL));
	CHECK(!json_object_object_get_ex(cfg, "tls_upstream_ca", NULL));

	c.tls_bypass = names;
	c.ntls_bypass = 3;
	c.tls_upstream_ca = cas;
	c.ntls_upstream_ca = 2;
	CHECK_EQ_INT(msb_tls_config_json(&c, cfg, &err), 0);
	CHECK(json_object_object_get_ex(cfg, "tls_bypass", &v));
	CHECK_STR(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		  "[\"example.com\",\"*.internal.example\",\"a_b.x\"]");
	CHECK(json_object_object_get_ex(cfg, "tls_upstream_ca", &v));
	CHECK_EQ_INT((int)json_object_array_length(v), 3);
	if (json_object_array_length(v) == 3) {
		o = json_object_array_get_idx(v, 2);
		CHECK(json_object_object_get_ex(o, "subject", &o));
		CHECK_STR(json_object_get_string(o), "CN=A");
	}
	/* the caller's strings are left alone */
	CHECK_STR(names[0], "Example.COM");

	const char *bad[] = { "example.com", "exa mple.com", "", ".x.com",
			      "x..com", "*.", "a.*.com", "x.com." };
	for (size_t i = 1; i < ARRAY_SIZE(bad); i++) {
		const char *pair[] = { bad[0], bad[i] };

		c.tls_bypass = pair;
		c.ntls_bypass = 2;
		CHECK_EQ_INT(msb_tls_config_json(&c, NULL, &err), -EINVAL);
		CHECK_CONTAINS(err.message, "invalid --tls-bypass ");
		CHECK_CONTAINS(err.message, bad[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = "x.com";
	c.tls_bypass = many;
	c.ntls_bypass = MSB_TLS_BYPASS_MAX;
	CHECK_EQ_INT(msb_tls_config_json(&c, NULL, &err), 0);
	c.ntls_bypass = MSB_TLS_BYPASS_MAX + 1;
	CHECK_EQ_INT(msb_tls_config_json(&c, NULL, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "at most 64");
	c.tls_bypass = NULL;
	c.ntls_bypass = 1;
	CHECK_EQ_INT(msb_tls_config_json(&c, NULL, &err), -EINVAL);
	c.ntls_bypass = 0;

	const char *bad_ca[] = { pa, "no certificate here" };
	c.tls_upstream_ca = bad_ca;
	c.ntls_upstream_ca = 2;
	json_object *before = json_object_get(cfg);
	const char *was = strdup(json_object_to_json_string(cfg));

	CHECK_EQ_INT(msb_tls_config_json(&c, cfg, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "tls_upstream_ca[1] holds no PEM certificate");
	CHECK_STR(json_object_to_json_string(cfg), was); /* unchanged */
	free((char *)was);
	json_object_put(before);
	c.tls_upstream_ca = NULL;
	c.ntls_upstream_ca = 1;
	CHECK_EQ_INT(msb_tls_config_json(&c, NULL, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "tls_upstream_ca[0] is NULL");
	const char *nine[MSB_TLS_CA_MAX + 1];
	for (size_t i = 0; i < ARRAY_SIZE(nine); i++)
		nine[i] = pa;
	c.tls_upstream_ca = nine;
	c.ntls_upstream_ca = ARRAY_SIZE(nine);
	CHECK_EQ_INT(msb_tls_config_json(&c, NULL, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "at most 8");

	json_object_put(cfg);
	free(ab);
	free(pa);
	free(pb);
	X509_free(a);
	X509_free(b);
}

/* sup_of() - a struct sup whose config is @json, as its record holds it */
static struct sup *sup_of(const char *json)
{
	struct sup *s = calloc(1, sizeof(*s));

	s->config = json_tokener_parse(json);
	return s;
}

static void sup_drop(struct sup *s)
{
	sup_tls_free(s);
	json_object_put(s->config);
	free(s);
}

TEST(sup_tls_bypassed_matches_exact_and_below)
{
	struct sup *s = sup_of("{\"tls_bypass\":[\"example.com\",\"*.x.com\","
			       "\"*.deep.a.org\"]}");
	msb_error err = { 0 };
	char longname[400];
	static const struct {
		const char *sni;
		int want;
	} cases[] = {
		{ "example.com", 1 },      { "EXAMPLE.Com", 1 },
		{ "a.example.com", 0 },    { "example.com.evil", 0 },
		{ "xexample.com", 0 },     { "x.com", 0 },
		{ "a.x.com", 1 },          { "A.B.X.COM", 1 },
		{ "ax.com", 0 },           { ".x.com", 0 },
		{ "x.com.a", 0 },          { "deep.a.org", 0 },
		{ "q.deep.a.org", 1 },     { "", 0 },
		{ "a.org", 0 },            { "example.co", 0 },
	};

	CHECK_EQ_INT(sup_tls_config(s, &err), 0);
	CHECK_EQ_INT((int)s->ntls_bypass, 3);
	CHECK(s->tls_upstream_pem == NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (sup_tls_bypassed(s, cases[i].sni) != cases[i].want)
			unit_fail(__FILE__, __LINE__, "'%s': want %d",
				  cases[i].sni, cases[i].want);
	CHECK_EQ_INT(sup_tls_bypassed(s, NULL), 0);
	/* longer than any name: no match, and no overflow */
	memset(longname, 'a', sizeof(longname) - 7);
	strcpy(longname + sizeof(longname) - 7, ".x.com");
	CHECK_EQ_INT(sup_tls_bypassed(s, longname), 0);
	sup_drop(s);

	/* no options: nothing bypassed, nothing extra trusted */
	s = sup_of("{}");
	CHECK_EQ_INT(sup_tls_config(s, &err), 0);
	CHECK_EQ_INT(sup_tls_bypassed(s, "example.com"), 0);
	CHECK(s->tls_upstream_pem == NULL);
	sup_drop(s);
}

TEST(sup_tls_config_reads_back_what_create_recorded)
{
	X509 *a = new_cert("A", NULL), *b = new_cert("B", NULL);
	char *pa = cert_pem(a), *pb = cert_pem(b), *ab = cat3(pa, pb, "");
	const char *names[] = { "Api.Example.com" };
	const char *cas[] = { pa, pb };
	msb_sandbox_config c;
	json_object *cfg = json_object_new_object();
	msb_error err = { 0 };
	struct sup *s;

	msb_sandbox_config_init(&c);
	c.tls_bypass = names;
	c.ntls_bypass = 1;
	c.tls_upstream_ca = cas;
	c.ntls_upstream_ca = 2;
	CHECK_EQ_INT(msb_tls_config_json(&c, cfg, &err), 0);
	s = sup_of(json_object_to_json_string(cfg));
	CHECK_EQ_INT(sup_tls_config(s, &err), 0);
	CHECK(s->ntls_bypass == 1 && !strcmp(s->tls_bypass[0],
					     "api.example.com"));
	CHECK(sup_tls_bypassed(s, "API.example.COM"));
	/* all certificates, in order, as one PEM text */
	CHECK(s->tls_upstream_pem && !strcmp(s->tls_upstream_pem, ab));
	CHECK_EQ_INT(msb_tls_ca_parse(s->tls_upstream_pem, "t", NULL, &err), 2);
	sup_drop(s);

	/* a record changed behind the library's back is refused */
	static const char *const bad[] = {
		"{\"tls_bypass\":\"x.com\"}",
		"{\"tls_bypass\":[\"bad name\"]}",
		"{\"tls_bypass\":[null]}",
		"{\"tls_bypass\":[7]}",
		"{\"tls_upstream_ca\":{}}",
		"{\"tls_upstream_ca\":[{\"subject\":\"CN=A\"}]}",
		"{\"tls_upstream_ca\":[{\"pem\":\"junk\"}]}",
		"{\"tls_upstream_ca\":[{\"pem\":5}]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		s = sup_of(bad[i]);
		err.message[0] = '\0';
		if (sup_tls_config(s, &err) != -EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
		CHECK(strstr(err.message, "record") != NULL);
		sup_drop(s);
	}
	json_object_put(cfg);
	free(ab);
	free(pa);
	free(pb);
	X509_free(a);
	X509_free(b);
}
