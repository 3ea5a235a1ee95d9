/* SPDX-License-Identifier: Apache-2.0 */
/* lazylibs.c - SQLite, OpenSSL, libyaml and zstd, loaded on first call
 *
 * Every process that links libmsb paid for these libraries at its start,
 * whether it used them or not: the dynamic loader maps each one and
 * applies its relocations (libcrypto alone has some 4200 symbol
 * relocations and a constructor) before main. That was about 1.3 ms of
 * CPU of every `msb` run, as much as the rest of an `msb exec`'s own
 * work; most commands use one or two of them, `msb exec` none.
 *
 * So libmsb.so does not link them. It defines the functions it calls,
 * with their own names and prototypes (the library's header checks each
 * one), hidden so that they bind only its own calls: the first call of
 * a library's function dlopen()s the library by its soname (once, with
 * RTLD_NOW, never closed) and looks the function up; later calls go
 * straight through the pointer kept. A library that cannot be loaded
 * ends the process with a message naming its package, as the dynamic
 * loader would have at start.
 *
 * Only libmsb.so is built with this file: libmsb.a, the supervisor and
 * the unit tests link the libraries themselves (src/image/curlapi.h does
 * the same for libcurl, through a table).
 */

#define _GNU_SOURCE
/* zstd.h declares its functions visible; the ones below stay hidden. */
#define ZSTDLIB_VISIBLE
#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>
#include <zstd.h>

#define STR2(x) #x
#define STR(x) STR2(x)

struct lazylib {
	const char *soname;
	const char *package;  /* Debian's, for the message */
	void *handle;
};

static struct lazylib sqlite = { "libsqlite3.so.0", "libsqlite3-0",
				 NULL };
/* OpenSSL 3's sonames carry its major version. */
static struct lazylib crypto = { "libcrypto.so." STR(OPENSSL_VERSION_MAJOR),
				 "libssl3", NULL };
static struct lazylib ssl = { "libssl.so." STR(OPENSSL_VERSION_MAJOR),
			      "libssl3", NULL };
static struct lazylib yaml = { "libyaml-0.so.2", "libyaml-0-2",
			       NULL };
static struct lazylib zstd = { "libzstd.so." STR(ZSTD_VERSION_MAJOR), "libzstd1",
			       NULL };

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static void fatal(const struct lazylib *l, const char *what)
{
	fprintf(stderr,
		"libmsb: cannot load %s (%s): install it (Debian: apt-get "
		"install %s)\n",
		l->soname, what, l->package);
	abort();
}

/* lazy_sym() - @name from @l, loading @l the first time. */
static void *lazy_sym(struct lazylib *l, const char *name)
{
	void *f;

	if (!__atomic_load_n(&l->handle, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&load_lock);
		if (!l->handle) {
			void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

			if (!h) {
				const char *e = dlerror();

				fatal(l, e ? e : "dlopen failed");
			}
			__atomic_store_n(&l->handle, h, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&load_lock);
	}
	f = dlsym(l->handle, name);
	if (!f)
		fatal(l, name);
	return f;
}

/* A function of @lib: the pointer is looked up once, then kept. POSIX
 * guarantees a pointer from dlsym() converts to the function it names. */
#define LAZY(lib, ret, name, params, args)                                   \
	ret name params                                                      \
	{                                                                    \
		static ret (*fp) params;                                     \
		ret (*f) params = __atomic_load_n(&fp, __ATOMIC_ACQUIRE);    \
		if (!f) {                                                    \
			f = (ret (*) params)lazy_sym(&lib, #name);           \
			__atomic_store_n(&fp, f, __ATOMIC_RELEASE);          \
		}                                                            \
		return f args;                                               \
	}
#define LAZY_VOID(lib, name, params, args)                                   \
	void name params                                                     \
	{                                                                    \
		static void (*fp) params;                                    \
		void (*f) params = __atomic_load_n(&fp, __ATOMIC_ACQUIRE);   \
		if (!f) {                                                    \
			f = (void (*) params)lazy_sym(&lib, #name);          \
			__atomic_store_n(&fp, f, __ATOMIC_RELEASE);          \
		}                                                            \
		f args;                                                      \
	}

/* ---- SQLite: the state database (src/lib/state.c and its users) ---- */
LAZY(sqlite, int, sqlite3_open_v2,
     (const char *path, sqlite3 **db, int flags, const char *vfs),
     (path, db, flags, vfs))
LAZY(sqlite, int, sqlite3_close, (sqlite3 *db), (db))
LAZY(sqlite, int, sqlite3_busy_timeout, (sqlite3 *db, int ms), (db, ms))
LAZY(sqlite, int, sqlite3_db_readonly, (sqlite3 *db, const char *name),
     (db, name))
LAZY(sqlite, int, sqlite3_errcode, (sqlite3 *db), (db))
LAZY(sqlite, const char *, sqlite3_errmsg, (sqlite3 *db), (db))
LAZY(sqlite, int, sqlite3_exec,
     (sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
      void *arg, char **errmsg),
     (db, sql, cb, arg, errmsg))
LAZY(sqlite, int, sqlite3_prepare_v2,
     (sqlite3 *db, const char *sql, int n, sqlite3_stmt **st,
      const char **tail),
     (db, sql, n, st, tail))
LAZY(sqlite, int, sqlite3_step, (sqlite3_stmt *st), (st))
LAZY(sqlite, int, sqlite3_finalize, (sqlite3_stmt *st), (st))
LAZY(sqlite, int, sqlite3_bind_int, (sqlite3_stmt *st, int i, int v),
     (st, i, v))
LAZY(sqlite, int, sqlite3_bind_int64,
     (sqlite3_stmt *st, int i, sqlite3_int64 v), (st, i, v))
LAZY(sqlite, int, sqlite3_bind_null, (sqlite3_stmt *st, int i), (st, i))
LAZY(sqlite, int, sqlite3_bind_text,
     (sqlite3_stmt *st, int i, const char *v, int n, void (*del)(void *)),
     (st, i, v, n, del))
LAZY(sqlite, int, sqlite3_column_int, (sqlite3_stmt *st, int i), (st, i))
LAZY(sqlite, sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt *st, int i),
     (st, i))
LAZY(sqlite, const unsigned char *, sqlite3_column_text,
     (sqlite3_stmt *st, int i), (st, i))
LAZY(sqlite, int, sqlite3_stricmp, (const char *a, const char *b), (a, b))

/* ---- libcrypto: digests, certificates (images, sync, TLS config) ---- */
LAZY(crypto, const BIO_METHOD *, BIO_s_mem, (void), ())
LAZY(crypto, BIO *, BIO_new, (const BIO_METHOD *type), (type))
LAZY(crypto, BIO *, BIO_new_mem_buf, (const void *buf, int len), (buf, len))
LAZY(crypto, long, BIO_ctrl, (BIO *bp, int cmd, long larg, void *parg),
     (bp, cmd, larg, parg))
LAZY(crypto, int, BIO_free, (BIO *a), (a))
LAZY_VOID(crypto, CRYPTO_free, (void *p, const char *file, int line),
	  (p, file, line))
LAZY_VOID(crypto, ERR_clear_error, (void), ())
LAZY(crypto, unsigned long, ERR_peek_last_error, (void), ())
LAZY(crypto, const char *, ERR_reason_error_string, (unsigned long e), (e))
LAZY(crypto, const EVP_MD *, EVP_sha256, (void), ())
LAZY(crypto, int, EVP_Digest,
     (const void *data, size_t n, unsigned char *md, unsigned int *size,
      const EVP_MD *type, ENGINE *impl),
     (data, n, md, size, type, impl))
LAZY(crypto, EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
LAZY_VOID(crypto, EVP_MD_CTX_free, (EVP_MD_CTX *ctx), (ctx))
LAZY(crypto, int, EVP_DigestInit_ex,
     (EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl), (ctx, type, impl))
LAZY(crypto, int, EVP_DigestUpdate, (EVP_MD_CTX *ctx, const void *d, size_t n),
     (ctx, d, n))
LAZY(crypto, int, EVP_DigestFinal_ex,
     (EVP_MD_CTX *ctx, unsigned char *md, unsigned int *n), (ctx, md, n))
LAZY(crypto, int, PEM_read_bio,
     (BIO *bp, char **name, char **header, unsigned char **data, long *len),
     (bp, name, header, data, len))
LAZY(crypto, int, PEM_write_bio_X509, (BIO *bp, const X509 *x), (bp, x))
LAZY(crypto, X509 *, d2i_X509, (X509 **a, const unsigned char **in, long len),
     (a, in, len))
LAZY_VOID(crypto, X509_free, (X509 *a), (a))
LAZY(crypto, X509_NAME *, X509_get_subject_name, (const X509 *a), (a))
LAZY(crypto, int, X509_NAME_print_ex,
     (BIO *out, const X509_NAME *nm, int indent, unsigned long flags),
     (out, nm, indent, flags))
LAZY(crypto, int, X509_STORE_load_file, (X509_STORE *st, const char *file),
     (st, file))

/* ---- libssl: the registry client's CA store (on libcurl's context) ---- */
LAZY(ssl, X509_STORE *, SSL_CTX_get_cert_store, (const SSL_CTX *ctx), (ctx))

/* ---- libyaml: Sandboxfiles (src/lib/sandboxfile.c) ---- */
LAZY(yaml, int, yaml_parser_initialize, (yaml_parser_t *p), (p))
LAZY_VOID(yaml, yaml_parser_delete, (yaml_parser_t *p), (p))
LAZY_VOID(yaml, yaml_parser_set_input_string,
	  (yaml_parser_t *p, const unsigned char *in, size_t n), (p, in, n))
LAZY(yaml, int, yaml_parser_load, (yaml_parser_t *p, yaml_document_t *d),
     (p, d))
LAZY_VOID(yaml, yaml_document_delete, (yaml_document_t *d), (d))
LAZY(yaml, yaml_node_t *, yaml_document_get_node, (yaml_document_t *d, int i),
     (d, i))
LAZY(yaml, yaml_node_t *, yaml_document_get_root_node, (yaml_document_t *d),
     (d))

/* ---- zstd: sync's chunks (src/sync/chunks.c) ---- */
LAZY(zstd, size_t, ZSTD_compress,
     (void *dst, size_t cap, const void *src, size_t n, int level),
     (dst, cap, src, n, level))
LAZY(zstd, size_t, ZSTD_compressBound, (size_t n), (n))
LAZY(zstd, size_t, ZSTD_decompress,
     (void *dst, size_t cap, const void *src, size_t n), (dst, cap, src, n))
LAZY(zstd, const char *, ZSTD_getErrorName, (size_t code), (code))
LAZY(zstd, unsigned long long, ZSTD_getFrameContentSize,
     (const void *src, size_t n), (src, n))
LAZY(zstd, unsigned, ZSTD_isError, (size_t code), (code))
