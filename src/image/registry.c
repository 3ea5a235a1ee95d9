/* SPDX-License-Identifier: Apache-2.0 */
/* registry.c - an OCI distribution (v2) client on libcurl (curlapi.h)
 *
 * Authentication follows the Docker token spec: a request answered 401 with
 * "WWW-Authenticate: Bearer realm=...,service=...,scope=..." gets a token
 * from the realm (anonymously, or with stored credentials as basic auth) and
 * is retried with it; a "Basic" challenge is answered with stored
 * credentials. https always, except loopback registries and --insecure;
 * a registry reached over https is never left for plain http: redirects
 * to http and http token realms are refused, so neither credentials nor
 * content travel in the clear;
 * a registry whose certificate a private CA signed is trusted through
 * <home>/certs.d/HOST[:PORT]/ca.crt (Docker's layout), trusted beside the
 * system's CAs for that registry's requests (and where they redirect).
 * Requests are retried on network errors, 429 and 5xx with backoff.
 *
 * A login is checked before it is stored, as docker login checks it: a GET
 * of /v2/ with the new credentials, answered as any request's challenge
 * is (a token asked for with no scope and the user as "account", or basic
 * auth); a refusal says the user name or password is wrong.
 *
 * Uploads (distribution spec §push): a blob goes up monolithically, a POST
 * to /blobs/uploads/ opening a session (or mounting the blob from another
 * repository of the same registry, when the caller names one) and a PUT of
 * the whole body to the session's Location with ?digest=; the registry
 * checks the digest before it keeps the blob. A failed session is
 * abandoned and a fresh one opened, so a retry never appends to a broken
 * upload. HEAD tells which blobs the registry already has. A registry
 * opened for pushing asks token services for "pull,push".
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "curlapi.h"
#include "image.h"
#include "util.h"

#define ATTEMPTS 4
#define ACCEPT_MANIFEST                                                    \
	"Accept: application/vnd.oci.image.index.v1+json, "                  \
	"application/vnd.docker.distribution.manifest.list.v2+json, "        \
	"application/vnd.oci.image.manifest.v1+json, "                       \
	"application/vnd.docker.distribution.manifest.v2+json"

struct msb_registry {
	struct msb_ref ref;
	char base[700];           /* scheme://host/v2/repository */
	char scheme[8];
	pthread_mutex_t lock;
	char auth[8192];          /* Authorization header value, or "" */
	char creds[600];          /* user:password, or "" */
	char cafile[PATH_MAX];    /* certs.d/HOST/ca.crt, or "" */
	int push;                 /* tokens with the push scope */
	char login[256];          /* the user a login checks, or "" */
	/* Connections, TLS sessions and names shared by every request of
	 * this registry, on any thread: a push or a pull of many blobs pays
	 * one TCP (and TLS) handshake per thread, not three per blob. */
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
};

/* One request: what is sent. */
struct call {
	const char *method;       /* NULL: GET */
	const char *url;          /* absolute, else reg->base/path */
	const char *path;
	const char *accept;       /* an Accept header line, or NULL */
	const char *ctype;        /* Content-Type of the body sent */
	const unsigned char *data; /* body sent (PUT), @dlen bytes */
	size_t dlen;
	const long *ok;           /* success statuses, 0-ended; NULL: 200 */
	int once;                 /* no retries: the caller retries */
};

/* The body sent, read by libcurl (and rewound on a redirect). */
struct src {
	const unsigned char *p;
	size_t len, off;
};

/* One response: headers we care about, the body into memory or a sink. */
struct resp {
	long status;
	long hstatus;             /* of the status line being read */
	char content_type[200];
	char docker_digest[100];
	char challenge[1024];
	char location[4096];      /* of a redirect, or an upload session */
	char clen[24];            /* Content-Length, as sent */
	/* memory body */
	char *body;
	size_t len, cap, max;
	/* file body */
	int fd;
	EVP_MD_CTX *md;
	uint64_t done, limit;
	int werr;                 /* errno of a failed write */
	int too_big;
	msb_blob_progress progress;
	void *pctx;
	/* the body also sent here as it comes (-1: not, or no longer) */
	int tee;
	uint64_t teed;
	int tee_broken;           /* ended before all of the body went */
};

/* tee_end() - no more of the body to @r->tee; @broken: before all of it
 * went (the reader then sees a stream that ends too soon). */
static void tee_end(struct resp *r, int broken)
{
	if (r->tee < 0)
		return;
	close(r->tee);
	r->tee = -1;
	r->tee_broken |= broken;
}

/* tee_send() - @n bytes of the body to @r->tee (blocking: the reader sets
 * the pace); a failure ends it. */
static void tee_send(struct resp *r, const char *b, size_t n)
{
	while (r->tee >= 0 && n) {
		ssize_t w = send(r->tee, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			tee_end(r, 1);
			return;
		}
		b += w;
		n -= (size_t)w;
		r->teed += (uint64_t)w;
	}
}

static void share_lock(CURL *c, curl_lock_data d, curl_lock_access a,
		       void *p)
{
	struct msb_registry *reg = p;

	(void)c;
	(void)a;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&reg->share_lock[d]);
}

static void share_unlock(CURL *c, curl_lock_data d, void *p)
{
	struct msb_registry *reg = p;

	(void)c;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&reg->share_lock[d]);
}

int msb_registry_open(const struct msb_ref *ref, int insecure,
		      struct msb_registry **out, msb_error *err)
{
	struct msb_registry *reg;
	int r = msb_curl_load(err);

	if (r < 0)
		return r;
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return msb_fail(err, -ENOMEM, "out of memory");
	reg->ref = *ref;
	snprintf(reg->scheme, sizeof(reg->scheme), "%s",
		 insecure || msb_ref_is_loopback(ref) ? "http" : "https");
	snprintf(reg->base, sizeof(reg->base), "%s://%s/v2/%s", reg->scheme,
		 msb_ref_endpoint(ref), ref->repository);
	pthread_mutex_init(&reg->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&reg->share_lock[i], NULL);
	/* without a share (out of memory), every request connects anew */
	reg->share = msb_curl.share_init();
	if (reg->share) {
		msb_curl.share_setopt(reg->share, CURLSHOPT_LOCKFUNC, share_lock);
		msb_curl.share_setopt(reg->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
		msb_curl.share_setopt(reg->share, CURLSHOPT_USERDATA, reg);
		msb_curl.share_setopt(reg->share, CURLSHOPT_SHARE,
				  CURL_LOCK_DATA_CONNECT);
		msb_curl.share_setopt(reg->share, CURLSHOPT_SHARE,
				  CURL_LOCK_DATA_SSL_SESSION);
		msb_curl.share_setopt(reg->share, CURLSHOPT_SHARE,
				  CURL_LOCK_DATA_DNS);
	}
	if (msb_auth_get(ref->registry, reg->creds, sizeof(reg->creds)) < 0)
		reg->creds[0] = '\0';
	snprintf(reg->cafile, sizeof(reg->cafile), "%s/certs.d/%s/ca.crt",
		 msb_home(), ref->registry);
	if (access(reg->cafile, R_OK) < 0)
		reg->cafile[0] = '\0';
	*out = reg;
	return 0;
}

void msb_registry_close(struct msb_registry *reg)
{
	if (!reg)
		return;
	/* every request's handle is gone by now: only the share holds the
	 * connections */
	if (reg->share)
		msb_curl.share_cleanup(reg->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&reg->share_lock[i]);
	pthread_mutex_destroy(&reg->lock);
	explicit_bzero(reg->creds, sizeof(reg->creds));
	explicit_bzero(reg->auth, sizeof(reg->auth));
	free(reg);
}

/* add_ca() - libcurl's TLS context: the system's CAs (loaded by libcurl)
 * and the registry's own. */
static CURLcode add_ca(CURL *c, void *ssl_ctx, void *arg)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ssl_ctx);

	(void)c;
	return X509_STORE_load_file(st, arg) == 1 ? CURLE_OK :
						    CURLE_SSL_CACERT_BADFILE;
}

/* plain_ok() - may this registry's requests go over plain http? Only
 * where msb pull chose http for it: loopback, or --insecure. */
static int plain_ok(const struct msb_registry *reg)
{
	return !strcmp(reg->scheme, "http");
}

/* start() - a fresh request to @url with what every request shares. */
static void start(struct msb_registry *reg, CURL *c, const char *url)
{
	const char *protos = plain_ok(reg) ? "http,https" : "https";

	msb_curl.easy_reset(c);
	msb_curl.easy_setopt(c, CURLOPT_URL, url);
	msb_curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
	msb_curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	msb_curl.easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	msb_curl.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	msb_curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	msb_curl.easy_setopt(c, CURLOPT_USERAGENT, "msb/" MSB_VERSION);
	if (reg->share)
		msb_curl.easy_setopt(c, CURLOPT_SHARE, reg->share);
	if (reg->cafile[0]) {
		msb_curl.easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, add_ca);
		msb_curl.easy_setopt(c, CURLOPT_SSL_CTX_DATA, reg->cafile);
	}
}

/* tls_failed() - a certificate problem: retrying will not help, and the
 * user needs to know where a private CA goes. */
static int tls_failed(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION ||
	       cc == CURLE_SSL_CACERT_BADFILE;
}

static int tls_fail(struct msb_registry *reg, const char *host, CURLcode cc,
		    msb_error *err)
{
	if (reg->cafile[0])
		return msb_fail(err, -EACCES,
				"cannot verify %s over TLS with the CA in %s: "
				"%s",
				host, reg->cafile, msb_curl.easy_strerror(cc));
	return msb_fail(err, -EACCES,
			"cannot verify %s over TLS: %s (a registry with a "
			"private CA: put the CA in %s/certs.d/%s/ca.crt; or "
			"use --insecure for plain http)",
			host, msb_curl.easy_strerror(cc), msb_home(),
			reg->ref.registry);
}

/* redirect_refused() - @cc is libcurl refusing to follow @r's redirect to
 * a scheme start() did not allow (plain http from https) */
static int redirect_refused(CURLcode cc, const struct resp *r)
{
	return cc == CURLE_UNSUPPORTED_PROTOCOL && r->location[0] &&
	       r->hstatus >= 300 && r->hstatus < 400;
}

static int redirect_fail(const char *from, const struct resp *r,
			 msb_error *err)
{
	return msb_fail(err, -EPROTO,
			"%s redirected to %.300s, which is not https: refused "
			"(plain http is used only for loopback registries "
			"and with --insecure)",
			from, r->location);
}

static size_t on_header(char *b, size_t sz, size_t nm, void *ctx)
{
	struct resp *r = ctx;
	size_t n = sz * nm, k, vlen;
	static const struct {
		const char *name;
		size_t off, cap;
		int whole;        /* a cut value is no value */
	} want[] = {
		{ "content-type:", offsetof(struct resp, content_type), 200, 0 },
		{ "docker-content-digest:", offsetof(struct resp, docker_digest), 100, 1 },
		{ "www-authenticate:", offsetof(struct resp, challenge), 1024, 0 },
		{ "location:", offsetof(struct resp, location), 4096, 1 },
		{ "content-length:", offsetof(struct resp, clen), 24, 1 },
	};

	/* A new status line (redirects, 100-continue) starts over. */
	if (n > 5 && !strncmp(b, "HTTP/", 5)) {
		const char *sp = memchr(b, ' ', n);

		r->content_type[0] = r->docker_digest[0] = r->challenge[0] = 0;
		r->location[0] = r->clen[0] = 0;
		r->hstatus = sp ? atol(sp + 1) : 0;
		return n;
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		k = strlen(want[i].name);
		if (n <= k || strncasecmp(b, want[i].name, k))
			continue;
		while (k < n && (b[k] == ' ' || b[k] == '\t'))
			k++;
		vlen = n - k;
		while (vlen && (b[k + vlen - 1] == '\r' || b[k + vlen - 1] == '\n'))
			vlen--;
		if (vlen >= want[i].cap)
			vlen = want[i].whole ? 0 : want[i].cap - 1;
		memcpy((char *)r + want[i].off, b + k, vlen);
		((char *)r + want[i].off)[vlen] = '\0';
	}
	return n;
}

static size_t on_body(char *b, size_t sz, size_t nm, void *ctx)
{
	struct resp *r = ctx;
	size_t n = sz * nm;

	/* Error bodies of a blob request stay in memory, for the message. */
	if (r->fd < 0 || r->hstatus != 200) {
		if (r->len + n > r->max) {
			r->too_big = 1;
			return 0;
		}
		if (r->len + n + 1 > r->cap) {
			size_t c = (r->len + n + 1) * 2;
			char *nb = realloc(r->body, c);

			if (!nb)
				return 0;
			r->body = nb;
			r->cap = c;
		}
		memcpy(r->body + r->len, b, n);
		r->len += n;
		r->body[r->len] = '\0';
		return n;
	}
	if (r->done + n > r->limit) {
		r->too_big = 1;
		return 0;
	}
	if (msb_write_all(r->fd, b, n) < 0) {
		r->werr = errno ? errno : EIO;
		return 0;
	}
	EVP_DigestUpdate(r->md, b, n);
	tee_send(r, b, n);
	r->done += n;
	if (r->progress)
		r->progress(r->pctx, r->done);
	return n;
}

/* challenge_param() - a quoted parameter of a WWW-Authenticate value. */
static int challenge_param(const char *c, const char *key, char *out, size_t n)
{
	size_t k = strlen(key);
	const char *p = c;

	while ((p = strcasestr(p, key))) {
		if ((p == c || p[-1] == ' ' || p[-1] == ',') && p[k] == '=') {
			const char *v = p + k + 1, *e;

			if (*v == '"') {
				v++;
				e = strchr(v, '"');
			} else {
				e = v + strcspn(v, ",");
			}
			if (!e || (size_t)(e - v) >= n)
				return -1;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return 0;
		}
		p += k;
	}
	return -1;
}

static char *url_escape(CURL *c, const char *s)
{
	return msb_curl.easy_escape(c, s, 0);
}

/* login_refused() - @who (the registry or its token service) would not
 * take the user name and password a login checks. (What the login then
 * keeps is auth.c's to say.) */
static int login_refused(const struct msb_registry *reg, const char *who,
			 msb_error *err)
{
	int self = !strcmp(who, reg->ref.registry);

	return msb_fail(err, -EACCES,
			"%s%s%s%s refused the login of '%s': check the user "
			"name and password (a registry that takes tokens may "
			"want one in place of the password)",
			self ? "" : "the token service ", who,
			self ? "" : " of ", self ? "" : reg->ref.registry,
			reg->login);
}

/* fetch_token() - answer a Bearer challenge; sets reg->auth. */
static int fetch_token(struct msb_registry *reg, CURL *c, const char *chal,
		       msb_error *err)
{
	char realm[512], service[256] = "", scope[512] = "", url[2048];
	char hdr[900];
	struct resp r = { .fd = -1, .max = 1 << 20 };
	struct curl_slist *h = NULL;
	json_object *o = NULL, *t;
	CURLcode cc;
	int ret = 0;
	size_t off;

	if (challenge_param(chal, "realm", realm, sizeof(realm)) < 0 ||
	    (strncmp(realm, "https://", 8) && strncmp(realm, "http://", 7)))
		return msb_fail(err, -EPROTO,
				"%s asked for a token without a usable realm",
				reg->ref.registry);
	/* The token request carries the stored credentials, and the token
	 * is as good as them for its scope: never over plain http from a
	 * registry that speaks https. */
	if (strncmp(realm, "https://", 8) && !plain_ok(reg))
		return msb_fail(err, -EPROTO,
				"%s sends us for a token to %.300s, which is not "
				"https: refused (plain http is used only for "
				"loopback registries and with --insecure)",
				reg->ref.registry, realm);
	challenge_param(chal, "service", service, sizeof(service));
	/* (A login asks for no scope unless told one: the token service
	 * checks the credentials, as docker login's request has it.) */
	if (challenge_param(chal, "scope", scope, sizeof(scope)) < 0 &&
	    !reg->login[0])
		snprintf(scope, sizeof(scope), "repository:%s:%s",
			 reg->ref.repository, reg->push ? "pull,push" : "pull");
	off = (size_t)snprintf(url, sizeof(url), "%s%s", realm,
			       strchr(realm, '?') ? "&" : "?");
	{
		char *es = url_escape(c, service), *sc = url_escape(c, scope);
		char *ac = url_escape(c, reg->login);

		snprintf(url + off, sizeof(url) - off, "service=%s%s%s%s%s",
			 es ? es : "", scope[0] ? "&scope=" : "",
			 scope[0] && sc ? sc : "", reg->login[0] ? "&account=" : "",
			 reg->login[0] && ac ? ac : "");
		msb_curl.free(es);
		msb_curl.free(sc);
		msb_curl.free(ac);
	}
	start(reg, c, url);
	msb_curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	msb_curl.easy_setopt(c, CURLOPT_WRITEDATA, &r);
	msb_curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	msb_curl.easy_setopt(c, CURLOPT_HEADERDATA, &r);
	if (reg->creds[0]) {
		uint8_t enc[900];
		size_t len = strlen(reg->creds);

		if (msb_b64_encoded_len(len) < sizeof(enc) - 1) {
			enc[msb_b64_encode((const uint8_t *)reg->creds, len,
					   (char *)enc)] = '\0';
			snprintf(hdr, sizeof(hdr), "Authorization: Basic %s",
				 enc);
			h = msb_curl.slist_append(h, hdr);
			explicit_bzero(hdr, sizeof(hdr));
		}
		msb_curl.easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	cc = msb_curl.easy_perform(c);
	msb_curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	msb_curl.slist_free_all(h);
	if (tls_failed(cc)) {
		ret = tls_fail(reg, realm, cc, err);
		goto out;
	}
	if (redirect_refused(cc, &r)) {
		ret = redirect_fail(realm, &r, err);
		goto out;
	}
	if (cc != CURLE_OK) {
		ret = msb_fail(err, -EHOSTUNREACH,
			       "cannot get a token from %s: %s", realm,
			       msb_curl.easy_strerror(cc));
		goto out;
	}
	if ((r.status == 401 || r.status == 403) && reg->login[0]) {
		ret = login_refused(reg, realm, err);
		goto out;
	}
	if (r.status == 401 || r.status == 403) {
		ret = msb_fail(err, -EACCES,
			       "%s refused %s for %s: %s", realm,
			       reg->creds[0] ? "the stored credentials" :
					       "an anonymous token",
			       reg->ref.repository,
			       reg->creds[0] ? "check them with 'msb registry "
					       "login'" :
					       "log in with 'msb registry login'");
		goto out;
	}
	o = r.body ? json_tokener_parse(r.body) : NULL;
	if (r.status != 200 || !o ||
	    !((json_object_object_get_ex(o, "token", &t) ||
	       json_object_object_get_ex(o, "access_token", &t)) &&
	      json_object_is_type(t, json_type_string))) {
		ret = msb_fail(err, -EPROTO,
			       "the token service %s answered %ld without a "
			       "token",
			       realm, r.status);
		goto out;
	}
	pthread_mutex_lock(&reg->lock);
	if (snprintf(reg->auth, sizeof(reg->auth), "Bearer %s",
		     json_object_get_string(t)) >= (int)sizeof(reg->auth))
		ret = msb_fail(err, -E2BIG, "the token from %s is too long",
			       realm);
	pthread_mutex_unlock(&reg->lock);
out:
	json_object_put(o);
	free(r.body);
	return ret;
}

static int basic_auth(struct msb_registry *reg, msb_error *err)
{
	char enc[900];
	size_t len = strlen(reg->creds);

	if (!reg->creds[0])
		return msb_fail(err, -EACCES,
				"%s needs a login: run 'msb registry login %s'",
				reg->ref.registry, reg->ref.registry);
	if (msb_b64_encoded_len(len) >= sizeof(enc))
		return msb_fail(err, -E2BIG, "stored credentials too long");
	enc[msb_b64_encode((const uint8_t *)reg->creds, len, enc)] = '\0';
	pthread_mutex_lock(&reg->lock);
	snprintf(reg->auth, sizeof(reg->auth), "Basic %s", enc);
	pthread_mutex_unlock(&reg->lock);
	return 0;
}

/* error_detail() - the "errors" of a registry's JSON error body. */
static void error_detail(const struct resp *r, char *out, size_t n)
{
	json_object *o = r->body ? json_tokener_parse(r->body) : NULL, *es;

	out[0] = '\0';
	if (o && json_object_object_get_ex(o, "errors", &es) &&
	    json_object_is_type(es, json_type_array) &&
	    json_object_array_length(es)) {
		json_object *e = json_object_array_get_idx(es, 0), *m, *cd;

		if (json_object_object_get_ex(e, "code", &cd) &&
		    json_object_object_get_ex(e, "message", &m))
			snprintf(out, n, " (%.40s: %.200s)",
				 json_object_get_string(cd),
				 json_object_get_string(m));
	}
	json_object_put(o);
}

static int retryable(long status)
{
	return status == 429 || status == 408 || status >= 500;
}

static size_t on_read(char *b, size_t sz, size_t nm, void *ctx)
{
	struct src *in = ctx;
	size_t n = sz * nm;

	if (n > in->len - in->off)
		n = in->len - in->off;
	memcpy(b, in->p + in->off, n);
	in->off += n;
	return n;
}

static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct src *in = ctx;

	if (origin != SEEK_SET || off < 0 || (size_t)off > in->len)
		return CURL_SEEKFUNC_CANTSEEK;
	in->off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static int is_ok(const struct call *k, long status)
{
	static const long just200[] = { 200, 0 };

	for (const long *o = k->ok ? k->ok : just200; *o; o++)
		if (*o == status)
			return 1;
	return 0;
}

/* perform() - one request @k with auth and retries. A GET's body goes to
 * r->fd when >= 0 (reset by @reset before each attempt), else to memory.
 * Return: 0 when the status is one of @k->ok, else the failure. */
static int perform(struct msb_registry *reg, const struct call *k,
		   struct resp *r, int (*reset)(struct resp *r),
		   const char *what, msb_error *err)
{
	char url[4200], hdr[8300], detail[300];
	CURL *c = msb_curl.easy_init();
	int authed = 0, ret = 0;
	CURLcode cc = CURLE_OK;

	if (!c)
		return msb_fail(err, -ENOMEM, "out of memory");
	if (k->url)
		snprintf(url, sizeof(url), "%s", k->url);
	else
		snprintf(url, sizeof(url), "%s/%s", reg->base, k->path);
	for (int attempt = 0;; attempt++) {
		struct curl_slist *h = NULL;
		struct src in = { k->data, k->dlen, 0 };

		if (reset && reset(r) < 0) {
			ret = msb_fail_errno(err, -errno,
					     "cannot write a temporary file");
			break;
		}
		r->status = r->hstatus = 0;
		r->len = 0;
		r->too_big = 0;
		start(reg, c, url);
		/* A stalled transfer (under 1 KB/s for 60 s) is retried. */
		msb_curl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		msb_curl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
		msb_curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		msb_curl.easy_setopt(c, CURLOPT_WRITEDATA, r);
		msb_curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		msb_curl.easy_setopt(c, CURLOPT_HEADERDATA, r);
		if (k->method && !strcmp(k->method, "HEAD")) {
			msb_curl.easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (k->method && !strcmp(k->method, "PUT")) {
			msb_curl.easy_setopt(c, CURLOPT_UPLOAD, 1L);
			msb_curl.easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			msb_curl.easy_setopt(c, CURLOPT_READDATA, &in);
			msb_curl.easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
			msb_curl.easy_setopt(c, CURLOPT_SEEKDATA, &in);
			msb_curl.easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)k->dlen);
			/* no round trip waiting for "100 Continue" */
			h = msb_curl.slist_append(h, "Expect:");
		} else if (k->method && !strcmp(k->method, "POST")) {
			msb_curl.easy_setopt(c, CURLOPT_POST, 1L);
			msb_curl.easy_setopt(c, CURLOPT_POSTFIELDS, "");
			msb_curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
		}
		if (k->ctype) {
			snprintf(hdr, sizeof(hdr), "Content-Type: %s", k->ctype);
			h = msb_curl.slist_append(h, hdr);
		}
		if (k->accept)
			h = msb_curl.slist_append(h, k->accept);
		pthread_mutex_lock(&reg->lock);
		if (reg->auth[0]) {
			snprintf(hdr, sizeof(hdr), "Authorization: %s",
				 reg->auth);
			h = msb_curl.slist_append(h, hdr);
		}
		pthread_mutex_unlock(&reg->lock);
		msb_curl.easy_setopt(c, CURLOPT_HTTPHEADER, h);
		cc = msb_curl.easy_perform(c);
		msb_curl.slist_free_all(h);
		explicit_bzero(hdr, sizeof(hdr));
		msb_curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->werr) {
			errno = r->werr;
			snprintf(hdr, sizeof(hdr), "storing %s", what);
			ret = r->werr == ENOSPC ?
				      msb_fail_nospace(err, hdr) :
				      msb_fail_errno(err, -r->werr,
						     "cannot store %s", what);
			break;
		}
		if (r->too_big) {
			ret = msb_fail(err, -EFBIG,
				       "%s from %s is larger than its "
				       "manifest says (or than %llu bytes): "
				       "refused",
				       what, reg->ref.registry,
				       (unsigned long long)(r->fd >= 0 ?
								    r->limit :
								    r->max));
			break;
		}
		if (cc == CURLE_OK && r->status == 401 && !authed) {
			authed = 1;
			if (!strncasecmp(r->challenge, "Bearer", 6))
				ret = fetch_token(reg, c, r->challenge, err);
			else
				ret = basic_auth(reg, err);
			if (ret < 0)
				break;
			attempt--;
			continue;
		}
		if ((cc == CURLE_OK && !retryable(r->status)) || tls_failed(cc) ||
		    redirect_refused(cc, r))
			break;
		if (k->once || attempt + 1 >= ATTEMPTS)
			break;
		usleep((useconds_t)(250000u << attempt));
	}
	msb_curl.easy_cleanup(c);
	if (ret < 0)
		return ret;
	if (tls_failed(cc))
		return tls_fail(reg, reg->ref.registry, cc, err);
	if (redirect_refused(cc, r))
		return redirect_fail(reg->ref.registry, r, err);
	if (cc != CURLE_OK)
		return msb_fail(err, -EHOSTUNREACH,
				"cannot reach registry %s (%s): %s",
				reg->ref.registry, reg->scheme,
				msb_curl.easy_strerror(cc));
	if (is_ok(k, r->status))
		return 0;
	error_detail(r, detail, sizeof(detail));
	switch (r->status) {
	case 401:
	case 403:
		if (reg->login[0])
			return login_refused(reg, reg->ref.registry, err);
		return msb_fail(err, -EACCES,
				"%s denied %s to %s%s: log in with 'msb "
				"registry login %s', or check the name",
				reg->ref.registry,
				reg->push ? "pushing" : "access",
				reg->ref.repository, detail,
				reg->ref.registry);
	case 404:
		return msb_fail(err, -ENOENT, "%s not found on %s%s", what,
				reg->ref.registry, detail);
	case 429:
		return msb_fail(err, -EAGAIN,
				"%s is rate-limiting us (429 Too Many "
				"Requests) after %d attempts: wait and try "
				"again",
				reg->ref.registry, ATTEMPTS);
	default:
		return msb_fail(err, -EIO, "%s answered %ld for %s%s%s",
				reg->ref.registry, r->status, what, detail,
				r->status >= 500 ? " (after retries)" : "");
	}
}

/* request() - GET @path under the repository. */
static int request(struct msb_registry *reg, const char *path,
		   const char *accept, struct resp *r,
		   int (*reset)(struct resp *r), const char *what,
		   msb_error *err)
{
	struct call k = { .path = path, .accept = accept };

	return perform(reg, &k, r, reset, what, err);
}

int msb_registry_manifest(struct msb_registry *reg, const char *ref,
			  char **body, size_t *len, char *media_type,
			  size_t mtn, char *digest, size_t dn, msb_error *err)
{
	struct resp r = { .fd = -1, .max = MSB_MANIFEST_MAX };
	char path[300], what[700];
	unsigned char md[32];
	int ret;

	snprintf(path, sizeof(path), "manifests/%s", ref);
	snprintf(what, sizeof(what), "manifest %s:%s", reg->ref.repository,
		 ref);
	ret = request(reg, path, ACCEPT_MANIFEST, &r, NULL, what, err);
	if (ret < 0) {
		free(r.body);
		return ret;
	}
	if (!r.body) {
		return msb_fail(err, -EPROTO, "%s sent an empty %s",
				reg->ref.registry, what);
	}
	EVP_Digest(r.body, r.len, md, NULL, EVP_sha256(), NULL);
	{
		size_t off = (size_t)snprintf(digest, dn, "sha256:");

		for (int i = 0; i < 32 && off + 2 < dn; i++)
			off += (size_t)snprintf(digest + off, dn - off, "%02x",
						md[i]);
	}
	/* A manifest asked for by digest must be exactly that. */
	if (!strncmp(ref, "sha256:", 7) && strcmp(ref, digest)) {
		free(r.body);
		return msb_fail(err, -EBADMSG,
				"digest mismatch: %s sent a manifest hashing "
				"to %s for %s",
				reg->ref.registry, digest, ref);
	}
	snprintf(media_type, mtn, "%s", r.content_type);
	*body = r.body;
	*len = r.len;
	return 0;
}

static int reset_file(struct resp *r)
{
	/* (a download that starts over: what went to the tee is not the
	 * start of another copy of the blob) */
	if (r->teed)
		tee_end(r, 1);
	r->done = 0;
	r->werr = 0;
	if (ftruncate(r->fd, 0) < 0 || lseek(r->fd, 0, SEEK_SET) < 0)
		return -1;
	return EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

int msb_registry_blob(struct msb_registry *reg, const char *digest,
		      uint64_t size, msb_blob_progress progress, void *ctx,
		      msb_error *err)
{
	return msb_registry_blob_then(reg, digest, size, progress, -1, NULL,
				      ctx, err);
}

int msb_registry_blob_then(struct msb_registry *reg, const char *digest,
			   uint64_t size, msb_blob_progress progress, int tee,
			   void (*then)(void *ctx, const char *path, int whole),
			   void *ctx, msb_error *err)
{
	struct resp r = { .max = 1 << 20, .limit = size, .progress = progress,
			  .pctx = ctx, .tee = tee };
	int whole;
	char tmp[4096], path[200], what[200], hex[65];
	unsigned char md[32];
	unsigned mdlen = 0;
	int ret;

	r.fd = msb_blob_tmp(tmp, sizeof(tmp), err);
	if (r.fd < 0) {
		tee_end(&r, 1);
		return r.fd;
	}
	r.md = EVP_MD_CTX_new();
	if (!r.md) {
		tee_end(&r, 1);
		close(r.fd);
		unlink(tmp);
		return msb_fail(err, -ENOMEM, "out of memory");
	}
	snprintf(path, sizeof(path), "blobs/%s", digest);
	snprintf(what, sizeof(what), "blob %.19s", digest);
	ret = request(reg, path, NULL, &r, reset_file, what, err);
	/* (the reader sees the stream's end: what it made is waited for) */
	whole = r.tee >= 0 && !r.tee_broken && r.teed == size;
	tee_end(&r, 0);
	if (ret == 0 && r.done != size)
		ret = msb_fail(err, -EBADMSG,
			       "blob %.19s from %s is truncated: %llu of %llu "
			       "bytes",
			       digest, reg->ref.registry,
			       (unsigned long long)r.done,
			       (unsigned long long)size);
	if (ret == 0) {
		EVP_DigestFinal_ex(r.md, md, &mdlen);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	/* The blob as sent is what its digest says: @then may use it while
	 * its writeback, started now, goes on (the fsync below then waits
	 * for what is left of it, not for all of it). */
	if (ret == 0 && then && !strcmp(digest + 7, hex)) {
		sync_file_range(r.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		then(ctx, tmp, whole && r.done == size);
	}
	if (ret == 0 && fsync(r.fd) < 0)
		ret = errno == ENOSPC ? msb_fail_nospace(err, "storing a blob") :
			msb_fail_errno(err, -errno, "cannot store %s", what);
	EVP_MD_CTX_free(r.md);
	close(r.fd);
	free(r.body);
	if (ret < 0) {
		unlink(tmp);
		return ret;
	}
	return msb_blob_commit(tmp, digest, hex, err);
}

/* ---- logins ------------------------------------------------------------- */

int msb_registry_check_login(struct msb_registry *reg, const char *user,
			     const char *password, msb_error *err)
{
	struct resp r = { .fd = -1, .max = 1 << 16 };
	char url[400];
	struct call k = { .url = url };
	int ret;

	if ((size_t)snprintf(reg->creds, sizeof(reg->creds), "%s:%s", user,
			     password) >= sizeof(reg->creds) ||
	    (size_t)snprintf(reg->login, sizeof(reg->login), "%s", user) >=
		    sizeof(reg->login)) {
		explicit_bzero(reg->creds, sizeof(reg->creds));
		return msb_fail(err, -E2BIG, "user name or password too long");
	}
	/* Whatever was stored or fetched before is not this login's. */
	reg->auth[0] = '\0';
	snprintf(url, sizeof(url), "%s://%s/v2/", reg->scheme,
		 msb_ref_endpoint(&reg->ref));
	ret = perform(reg, &k, &r, NULL, "the registry API (/v2/)", err);
	free(r.body);
	return ret;
}

/* ---- uploads ------------------------------------------------------------ */

void msb_registry_want_push(struct msb_registry *reg)
{
	reg->push = 1;
}

int msb_registry_blob_head(struct msb_registry *reg, const char *digest,
			   uint64_t size, msb_error *err)
{
	static const long ok[] = { 200, 404, 0 };
	struct resp r = { .fd = -1, .max = 1 << 16 };
	char path[200], what[200];
	struct call k = { .method = "HEAD", .path = path, .ok = ok };
	int ret;

	snprintf(path, sizeof(path), "blobs/%s", digest);
	snprintf(what, sizeof(what), "blob %.19s", digest);
	ret = perform(reg, &k, &r, NULL, what, err);
	free(r.body);
	if (ret < 0)
		return ret;
	/* A blob of another size under that digest cannot be ours. */
	return r.status == 200 &&
	       (!r.clen[0] || strtoull(r.clen, NULL, 10) == size);
}

/* upload_url() - the session's Location made absolute (it may be a path),
 * with @digest as the query the final PUT carries. An https registry
 * may not send the body to plain http. */
static int upload_url(struct msb_registry *reg, const char *loc,
		      const char *digest, char *out, size_t n, msb_error *err)
{
	int w;

	if (!loc[0])
		return msb_fail(err, -EPROTO,
				"%s opened an upload without a Location",
				reg->ref.registry);
	if (loc[0] == '/')
		w = snprintf(out, n, "%s://%s%s", reg->scheme,
			     msb_ref_endpoint(&reg->ref), loc);
	else if (!strncmp(loc, "https://", 8) ||
		 (!strncmp(loc, "http://", 7) && !strcmp(reg->scheme, "http")))
		w = snprintf(out, n, "%s", loc);
	else
		return msb_fail(err, -EPROTO,
				"%s sent an upload Location that is not %s: "
				"refused",
				reg->ref.registry, reg->scheme);
	if (w < 0 || (size_t)w >= n ||
	    snprintf(out + w, n - (size_t)w, "%sdigest=%s",
		     strchr(loc, '?') ? "&" : "?", digest) >= (int)(n - (size_t)w))
		return msb_fail(err, -E2BIG, "%s sent an upload Location too "
				"long", reg->ref.registry);
	/* "sha256:HEX": the colon is safe in a query; nothing to escape. */
	return 0;
}

int msb_registry_blob_push(struct msb_registry *reg, const char *digest,
			   const void *data, size_t len, const char *from,
			   int *mounted, msb_error *err)
{
	static const long opened[] = { 201, 202, 0 }, made[] = { 201, 0 };
	char path[800], what[200], url[4200];
	int ret = 0;

	if (mounted)
		*mounted = 0;
	snprintf(what, sizeof(what), "blob %.19s", digest);
	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		struct resp r = { .fd = -1, .max = 1 << 16 };
		struct call post = { .method = "POST", .path = path,
				     .ok = opened },
			    put = { .method = "PUT", .url = url,
				    .ctype = "application/octet-stream",
				    .data = data, .dlen = len, .ok = made,
				    .once = 1 };

		/* Cross-repository mount (distribution spec): 201 when the
		 * registry linked the blob, 202 with a session otherwise. */
		if (from && *from && strcmp(from, reg->ref.repository))
			snprintf(path, sizeof(path),
				 "blobs/uploads/?mount=%s&from=%s", digest,
				 from);
		else
			snprintf(path, sizeof(path), "blobs/uploads/");
		ret = perform(reg, &post, &r, NULL, what, err);
		if (ret == 0 && r.status == 201) {
			free(r.body);
			if (mounted)
				*mounted = 1;
			return 0;
		}
		if (ret == 0)
			ret = upload_url(reg, r.location, digest, url,
					 sizeof(url), err);
		free(r.body);
		if (ret < 0)
			return ret;
		memset(&r, 0, sizeof(r));
		r.fd = -1;
		r.max = 1 << 16;
		ret = perform(reg, &put, &r, NULL, what, err);
		if (ret == 0 && r.docker_digest[0] &&
		    strcmp(r.docker_digest, digest))
			ret = msb_fail(err, -EBADMSG,
				       "%s stored %s as %s: refused",
				       reg->ref.registry, what,
				       r.docker_digest);
		free(r.body);
		/* A network failure or a 5xx loses the session: a fresh one
		 * next time. A 4xx (a digest the registry computed
		 * otherwise, a denial) will not change. */
		if (ret == 0 || (ret != -EHOSTUNREACH && ret != -EIO) ||
		    (ret == -EIO && r.status && r.status < 500))
			return ret;
		usleep((useconds_t)(250000u << attempt));
	}
	return ret;
}

int msb_registry_manifest_put(struct msb_registry *reg, const char *tag,
			      const char *body, size_t len,
			      const char *media_type, char *digest, size_t dn,
			      msb_error *err)
{
	static const long made[] = { 201, 200, 0 };
	struct resp r = { .fd = -1, .max = 1 << 16 };
	char path[300], what[400];
	struct call k = { .method = "PUT", .path = path, .ctype = media_type,
			  .data = (const unsigned char *)body, .dlen = len,
			  .ok = made };
	unsigned char md[32];
	size_t off;
	int ret;

	EVP_Digest(body, len, md, NULL, EVP_sha256(), NULL);
	off = (size_t)snprintf(digest, dn, "sha256:");
	for (int i = 0; i < 32 && off + 2 < dn; i++)
		off += (size_t)snprintf(digest + off, dn - off, "%02x", md[i]);
	snprintf(path, sizeof(path), "manifests/%s", tag);
	snprintf(what, sizeof(what), "manifest %s:%s", reg->ref.repository,
		 tag);
	ret = perform(reg, &k, &r, NULL, what, err);
	if (ret == 0 && r.docker_digest[0] && strcmp(r.docker_digest, digest))
		ret = msb_fail(err, -EBADMSG,
			       "%s stored the manifest as %s, not %s",
			       reg->ref.registry, r.docker_digest, digest);
	free(r.body);
	return ret;
}
