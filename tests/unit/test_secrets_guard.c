/* SPDX-License-Identifier: Apache-2.0 */
/* test_secrets_guard.c - the secrets filter: values go only where every
 * condition of src/secrets/guard.h holds; everything else is a violation */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "harness.h"
#include "http1.h"
#include "util.h"
#include "ws.h"

#define PH_A "msb_placeholder_0123456789abcdef0123456789abcdef"
#define PH_B "msb_placeholder_fedcba9876543210fedcba9876543210"

static char logbuf[4096];

static void logger(void *ctx, const char *line)
{
	(void)ctx;
	snprintf(logbuf + strlen(logbuf), sizeof(logbuf) - strlen(logbuf),
		 "%s\n", line);
}

static void vault_add(struct msb_vault *v, const char *spec,
		      const char *places, const char *ph, const char *value)
{
	struct msb_vault_secret *s = &v->s[v->n++];
	msb_error err;

	CHECK_EQ_INT(secret_spec_parse(spec, &s->spec, &err), 0);
	CHECK_EQ_INT(secret_places_parse(places, &s->spec, &err), 0);
	strcpy(s->placeholder, ph);
	s->value = strdup(value);
	s->len = strlen(value);
}

static struct msb_vault vault;
static struct guard_env genv;

/* A may go anywhere but X-Other; B in Authorization only (the default) */
static void setup(enum guard_mode mode)
{
	msb_vault_free(&vault);
	vault_add(&vault, "A=@env:X:api.example.com,*.example.org",
		  "path,query,body,header:X-Key,header:Cookie", PH_A,
		  "real-A-value");
	vault_add(&vault, "B=@env:Y:other.example.net", NULL, PH_B,
		  "real-B-value");
	CHECK_EQ_INT(msb_vault_scrub(&vault), 0);
	genv = (struct guard_env){ .vault = &vault, .mode = mode,
				   .log = logger };
	logbuf[0] = '\0';
}

static struct msb_flow_info info(const char *sni, int resolved)
{
	struct msb_flow_info i = { 0 };
	struct sockaddr_in *a = (struct sockaddr_in *)&i.dst;

	a->sin_family = AF_INET;
	a->sin_port = htons(443);
	inet_pton(AF_INET, "198.51.100.2", &a->sin_addr);
	snprintf(i.sni, sizeof(i.sni), "%s", sni);
	i.resolved_sni = resolved;
	return i;
}

/* run() - @req through a guard fed @step bytes at a time; Return: the
 * last to_upstream result; @out and @reply hold what it wrote. */
static int run(const struct msb_flow_info *fi, int tls, const char *req,
	       size_t step, struct msb_buf *out, struct msb_buf *reply)
{
	void *g = guard_new(&genv, fi, tls);
	size_t n = strlen(req);
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i += step)
		r = guard_filter.to_upstream(g, (const uint8_t *)req + i,
					     i + step > n ? n - i : step, out,
					     reply);
	guard_filter.close(g);
	return r;
}

static int holds(const struct msb_buf *b, const char *s)
{
	return b->len && memmem(msb_buf_data(b), b->len, s, strlen(s)) != NULL;
}

TEST(guard_substitutes_where_every_condition_holds)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *req =
		"GET /v1?key=" PH_A " HTTP/1.1\r\nHost: api.example.com\r\n"
		"Authorization: Bearer " PH_A "\r\nX-Key: " PH_A "\r\n\r\n"
		"POST /p HTTP/1.1\r\nHost: API.example.com:443\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"
		"8\r\nmsb_plac\r\n28\r\neholder_0123456789abcdef0123456789abcdef\r\n0\r\n\r\n";

	setup(GUARD_BLOCK);
	for (size_t step = 1; step <= strlen(req); step += 37) {
		struct msb_buf out = { 0 }, reply = { 0 };

		CHECK_EQ_INT(run(&fi, 1, req, step, &out, &reply), 0);
		CHECK(!holds(&out, "msb_placeholder_"));
		CHECK(holds(&out, "GET /v1?key=real-A-value HTTP/1.1\r\n"));
		CHECK(holds(&out, "Authorization: Bearer real-A-value\r\n"));
		CHECK(holds(&out, "X-Key: real-A-value\r\n"));
		/* a placeholder cut across two chunks is found in the body */
		CHECK(holds(&out, "\r\nreal-A-value\r\n0\r\n\r\n"));
		CHECK_EQ_INT(reply.len, 0);
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	CHECK_EQ_INT(strlen(logbuf), 0);
	/* *.example.org names a host below it */
	fi = info("a.example.org", 1);
	{
		struct msb_buf out = { 0 }, reply = { 0 };

		CHECK_EQ_INT(run(&fi, 1, "GET / HTTP/1.1\r\nHost: a.example.org\r\n"
					 "Cookie: k=" PH_A "\r\n\r\n",
				 1000, &out, &reply),
			     0);
		CHECK(holds(&out, "Cookie: k=real-A-value\r\n"));
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	msb_vault_free(&vault);
}

TEST(guard_basic_credentials)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	char req[512], b64[256];
	struct msb_buf out = { 0 }, reply = { 0 };
	/* base64("user:" PH_A) and base64("user:real-A-value") */
	FILE *p = popen("printf 'user:" PH_A "' | base64 -w0", "r");

	setup(GUARD_BLOCK);
	CHECK(p && fgets(b64, sizeof(b64), p));
	pclose(p);
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: api.example.com\r\n"
		 "Authorization: Basic %s\r\n\r\n", b64);
	CHECK_EQ_INT(run(&fi, 1, req, 5, &out, &reply), 0);
	CHECK(holds(&out, "Authorization: Basic dXNlcjpyZWFsLUEtdmFsdWU=\r\n"));
	msb_buf_free(&out);
	/* the same credential to a host that is not the secret's: refused */
	fi = info("evil.example.net", 1);
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: evil.example.net\r\n"
		 "Authorization: Basic %s\r\n\r\n", b64);
	CHECK_EQ_INT(run(&fi, 1, req, 5, &out, &reply), -EACCES);
	CHECK(!holds(&out, "dXNlcjpyZWFsLUEtdmFsdWU="));
	CHECK(holds(&reply, "HTTP/1.1 403 Forbidden\r\n"));
	msb_buf_free(&out);
	msb_buf_free(&reply);
	msb_vault_free(&vault);
}

static void violation(const struct msb_flow_info *fi, int tls,
		      const char *host, const char *why, int line)
{
	char req[512];
	struct msb_buf out = { 0 }, reply = { 0 };
	int r;

	setup(GUARD_BLOCK);
	snprintf(req, sizeof(req),
		 "GET /x HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer " PH_A
		 "\r\n\r\n", host);
	r = run(fi, tls, req, 3, &out, &reply);
	if (r != -EACCES || out.len || !holds(&reply, "403 Forbidden") ||
	    !strstr(logbuf, "secret A: request to 198.51.100.2:443") ||
	    !strstr(logbuf, "blocked") || !strstr(logbuf, why) ||
	    strstr(logbuf, "real-A-value"))
		unit_fail(__FILE__, line, "r=%d out=%zu log '%s'", r, out.len,
			  logbuf);
	msb_buf_free(&out);
	msb_buf_free(&reply);
}

TEST(guard_refuses_every_other_way)
{
	struct msb_flow_info bound = info("api.example.com", 1);
	struct msb_flow_info unresolved = info("api.example.com", 0);
	struct msb_flow_info other = info("evil.example.net", 1);
	struct msb_flow_info none = info("", 0);

	/* plain HTTP to the bound host */
	violation(&bound, 0, "api.example.com", "not over intercepted TLS",
		  __LINE__);
	/* another host */
	violation(&other, 1, "evil.example.net",
		  "not one of the secret's hosts", __LINE__);
	/* the bound host's name, but an address our resolver never gave */
	violation(&unresolved, 1, "api.example.com", "was not resolved",
		  __LINE__);
	/* the bound SNI, another Host (domain fronting) */
	violation(&bound, 1, "evil.example.net", "Host header differs",
		  __LINE__);
	/* TLS without a server name */
	violation(&none, 1, "api.example.com", "no TLS server name", __LINE__);
	/* a suffix that only looks like the host */
	{
		struct msb_flow_info look = info("api.example.com.evil.net", 1);

		violation(&look, 1, "api.example.com.evil.net",
			  "not one of the secret's hosts", __LINE__);
	}
	msb_vault_free(&vault);
}

TEST(guard_one_bound_secret_does_not_carry_another)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	struct msb_buf out = { 0 }, reply = { 0 };
	const char *ok = "GET / HTTP/1.1\r\nHost: api.example.com\r\n"
			 "X-Key: " PH_A "\r\n\r\n";
	char req[512];

	setup(GUARD_BLOCK);
	/* a good request, then one that also carries B's placeholder in
	 * its body: the first goes out rewritten, the second is refused */
	snprintf(req, sizeof(req),
		 "%sPOST / HTTP/1.1\r\nHost: api.example.com\r\n"
		 "Content-Length: 48\r\n\r\n" PH_B, ok);
	CHECK_EQ_INT(run(&fi, 1, req, 7, &out, &reply), -EACCES);
	CHECK(holds(&out, "X-Key: real-A-value\r\n"));
	CHECK(!holds(&out, "POST"));
	CHECK(!holds(&out, "real-B-value"));
	CHECK(strstr(logbuf, "secret B:") != NULL);
	msb_buf_free(&out);
	msb_buf_free(&reply);
	msb_vault_free(&vault);
}

TEST(guard_log_and_allow_send_the_placeholder)
{
	struct msb_flow_info fi = info("evil.example.net", 1);
	const char *req = "GET /?k=" PH_A " HTTP/1.1\r\nHost: evil.example.net\r\n\r\n";
	enum guard_mode modes[] = { GUARD_LOG, GUARD_ALLOW };

	for (size_t i = 0; i < 2; i++) {
		struct msb_buf out = { 0 }, reply = { 0 };

		setup(modes[i]);
		CHECK_EQ_INT(run(&fi, 1, req, 11, &out, &reply), 0);
		CHECK(holds(&out, "GET /?k=" PH_A " HTTP/1.1\r\n"));
		CHECK(!holds(&out, "real-A-value"));
		CHECK_EQ_INT(reply.len, 0);
		CHECK(i == 0 ? strstr(logbuf, "sent with the placeholder") != NULL
			     : logbuf[0] == '\0');
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	msb_vault_free(&vault);
}

TEST(guard_passes_requests_without_placeholders_and_refuses_bad_framing)
{
	struct msb_flow_info fi = info("", 0);
	const char *req = "GET / HTTP/1.1\r\nHost: x.test\r\n\r\n";
	struct msb_buf out = { 0 }, reply = { 0 };
	enum guard_mode m;

	setup(GUARD_BLOCK);
	CHECK_EQ_INT(run(&fi, 0, req, 2, &out, &reply), 0);
	CHECK(out.len == strlen(req) && !memcmp(msb_buf_data(&out), req, out.len));
	msb_buf_free(&out);
	/* request smuggling shapes are refused with a 400 */
	CHECK(run(&fi, 0,
		  "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		  4, &out, &reply) == -EBADMSG);
	CHECK(holds(&reply, "HTTP/1.1 400 Bad Request\r\n"));
	CHECK(strstr(logbuf, "malformed or ambiguous framing") != NULL);
	msb_buf_free(&out);
	msb_buf_free(&reply);
	/* an answer with no value in it goes to the guest as it came */
	{
		void *g = guard_new(&genv, &fi, 0);
		static const char ans[] = "HTTP/1.1 200 OK\r\nX: 1\r\n"
					  "Content-Length: 5\r\nY: 2\r\n\r\nhello";

		CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)ans, 12,
						   &reply, &out),
			     0);
		CHECK(out.len == 0); /* a head is held until it is whole */
		CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)ans + 12,
						   strlen(ans) - 12, &reply,
						   &out),
			     0);
		CHECK(out.len == strlen(ans) &&
		      !memcmp(msb_buf_data(&out), ans, out.len));
		CHECK(reply.len == 0);
		guard_filter.close(g);
		msb_buf_free(&out);
	}
	CHECK(guard_mode_parse("log", &m) == 0 && m == GUARD_LOG);
	CHECK(guard_mode_parse("Block", &m) == -EINVAL);
	msb_vault_free(&vault);
}

TEST(guard_binary_body_passes_byte_for_byte)
{
	struct msb_flow_info fi = info("", 0);
	size_t blen = 300000;
	char head[128];
	uint8_t *body = malloc(blen);
	struct msb_buf out = { 0 }, reply = { 0 };
	void *g;
	int hl, r = 0;

	setup(GUARD_BLOCK);
	for (size_t i = 0; i < blen; i++)
		body[i] = (uint8_t)unit_rand();
	hl = snprintf(head, sizeof(head),
		      "POST /up HTTP/1.1\r\nHost: web.test\r\n"
		      "Content-Length: %zu\r\n\r\n", blen);
	g = guard_new(&genv, &fi, 0);
	r = guard_filter.to_upstream(g, (const uint8_t *)head, (size_t)hl, &out,
				     &reply);
	for (size_t i = 0; i < blen && r == 0; i += 1460)
		r = guard_filter.to_upstream(g, body + i,
					     i + 1460 > blen ? blen - i : 1460,
					     &out, &reply);
	CHECK_EQ_INT(r, 0);
	CHECK(out.len >= blen &&
	      !memcmp(msb_buf_data(&out) + out.len - blen, body, blen));
	guard_filter.close(g);
	msb_buf_free(&out);
	msb_buf_free(&reply);
	free(body);
	msb_vault_free(&vault);
}

static int test_hook(void *ctx, const struct msb_http_request *req,
		     struct msb_http_action *act)
{
	(void)ctx;
	/* the hook sees the placeholder, never the value */
	if (memmem(req->head, req->head_len, "real-A-value", 12))
		return MSB_HTTP_BLOCK;
	if (req->body_len && memmem(req->body, req->body_len, "123-45-6789", 11)) {
		snprintf(act->reason, sizeof(act->reason), "DLP: PII detected");
		return MSB_HTTP_BLOCK;
	}
	if (req->body_len && memmem(req->body, req->body_len, "rewrite-me", 10)) {
		act->body = (const uint8_t *)"new body " PH_A;
		act->body_len = strlen((const char *)act->body);
		return MSB_HTTP_MODIFY;
	}
	return MSB_HTTP_FORWARD;
}

TEST(guard_on_http_blocks_and_modifies)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	struct msb_buf out = { 0 }, reply = { 0 };

	setup(GUARD_BLOCK);
	genv.on_http = test_hook;
	CHECK_EQ_INT(run(&fi, 1,
			 "POST /a HTTP/1.1\r\nHost: api.example.com\r\n"
			 "Authorization: Bearer " PH_A "\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n"
			 "5\r\nssn=1\r\na\r\n23-45-6789\r\n0\r\n\r\n",
			 6, &out, &reply),
		     -EACCES);
	CHECK_EQ_INT(out.len, 0);
	CHECK(holds(&reply, "403 Forbidden"));
	CHECK(holds(&reply, "msb: refused: DLP: PII detected"));
	CHECK(strstr(logbuf, "on_http: request to 198.51.100.2:443 (Host "
			     "'api.example.com') blocked: DLP: PII detected"));
	msb_buf_free(&reply);
	/* a modified body is sent with its new length, placeholders in it
	 * swapped as anywhere else */
	CHECK_EQ_INT(run(&fi, 1,
			 "POST /b HTTP/1.1\r\nHost: api.example.com\r\n"
			 "Content-Length: 10\r\n\r\nrewrite-me",
			 4, &out, &reply),
		     0);
	CHECK(holds(&out, "Content-Length: 21\r\n\r\nnew body real-A-value"));
	msb_buf_free(&out);
	msb_buf_free(&reply);
	genv.on_http = NULL;
	msb_vault_free(&vault);
}

/* feed_all() - @n bytes of @p through @g, @step at a time. Return: the
 * first negative result, or 0 */
static int feed_all(void *g, const uint8_t *p, size_t n, size_t step,
		    struct msb_buf *out, struct msb_buf *reply)
{
	for (size_t i = 0; i < n; i += step) {
		int r = guard_filter.to_upstream(
			g, p + i, i + step > n ? n - i : step, out, reply);

		if (r < 0)
			return r;
	}
	return 0;
}

/* A body over 8 MiB (Content-Length) is streamed: the head is rewritten
 * as any, the body passes byte for byte, the next request is framed after
 * it; a placeholder in such a body (which is never rewritten) is cut
 * before any of it leaves, however the bytes are split. */
TEST(guard_streams_a_body_over_8_mib)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	size_t blen = 9u << 20, at = 5u << 20;
	char head[256];
	uint8_t *body = malloc(blen);
	int hl = snprintf(head, sizeof(head),
			  "PUT /up HTTP/1.1\r\nHost: api.example.com\r\n"
			  "Authorization: Bearer " PH_A "\r\n"
			  "Content-Length: %zu\r\n\r\n", blen);
	static const char next[] = "GET /after?k=" PH_A
				   " HTTP/1.1\r\nHost: api.example.com\r\n\r\n";

	if (!body)
		return;
	for (size_t i = 0; i < blen; i++)
		body[i] = (uint8_t)(unit_rand() | 1); /* no NUL, no placeholder */
	for (size_t step = 4093; step <= 1u << 20; step *= 16) {
		struct msb_buf out = { 0 }, reply = { 0 };
		void *g;
		const uint8_t *o;

		setup(GUARD_BLOCK);
		g = guard_new(&genv, &fi, 1);
		CHECK_EQ_INT(feed_all(g, (const uint8_t *)head, (size_t)hl, 7,
				      &out, &reply), 0);
		CHECK_EQ_INT(feed_all(g, body, blen, step, &out, &reply), 0);
		CHECK_EQ_INT(feed_all(g, (const uint8_t *)next, strlen(next), 5,
				      &out, &reply), 0);
		o = msb_buf_data(&out);
		/* the head rewritten, the body as sent, then the next one */
		CHECK(holds(&out, "Authorization: Bearer real-A-value\r\n"));
		CHECK(holds(&out, "GET /after?k=real-A-value HTTP/1.1\r\n"));
		CHECK(out.len > blen + strlen(next));
		/* (each request asked for identity: a value may go) */
		if (out.len > blen + strlen(next))
			CHECK(!memcmp(o + out.len - strlen(next) -
					      (strlen("real-A-value") -
					       strlen(PH_A)) -
					      strlen("Accept-Encoding: "
						     "identity\r\n") - blen,
				      body, blen));
		CHECK_EQ_INT(reply.len, 0);
		guard_filter.close(g);
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	/* a placeholder inside it, split anyhow: never whole on the way out */
	memcpy(body + at, PH_B, strlen(PH_B));
	for (size_t step = 1000; step <= 1u << 20; step *= 8) {
		struct msb_buf out = { 0 }, reply = { 0 };
		void *g;

		setup(GUARD_BLOCK);
		g = guard_new(&genv, &fi, 1);
		CHECK_EQ_INT(feed_all(g, (const uint8_t *)head, (size_t)hl, 64,
				      &out, &reply), 0);
		CHECK_EQ_INT(feed_all(g, body, blen, step, &out, &reply),
			     -EACCES);
		CHECK(!holds(&out, PH_B));
		CHECK(out.len <= (size_t)hl + at + strlen(PH_B));
		CHECK(holds(&reply, "403 Forbidden"));
		CHECK(strstr(logbuf, "secret B:") &&
		      strstr(logbuf, "its body is over 8 MiB"));
		guard_filter.close(g);
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	/* in log mode it goes, told once */
	{
		struct msb_buf out = { 0 }, reply = { 0 };
		void *g;

		setup(GUARD_LOG);
		g = guard_new(&genv, &fi, 1);
		CHECK_EQ_INT(feed_all(g, (const uint8_t *)head, (size_t)hl, 64,
				      &out, &reply), 0);
		CHECK_EQ_INT(feed_all(g, body, blen, 4096, &out, &reply), 0);
		CHECK(holds(&out, PH_B));
		CHECK(strstr(logbuf, "sent with the placeholder") &&
		      !strstr(strstr(logbuf, "sent with the placeholder") + 1,
			      "sent with the placeholder"));
		guard_filter.close(g);
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	msb_vault_free(&vault);
	free(body);
}

/* A chunked body over 8 MiB streams too, framing and all, and the request
 * after it is framed where the last chunk ends. */
TEST(guard_streams_a_chunked_body_over_8_mib)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	static const char head[] = "POST /up HTTP/1.1\r\nHost: api.example.com\r\n"
				   "Authorization: Bearer " PH_A "\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	static const char next[] = "GET /after?k=" PH_A
				   " HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
	size_t csize = 65536, nchunks = 150, blen;
	struct msb_buf body = { 0 };
	char line[32];

	for (size_t i = 0; i < nchunks; i++) {
		int l = snprintf(line, sizeof(line), "%zx\r\n", csize);

		msb_buf_append(&body, line, (size_t)l);
		msb_buf_reserve(&body, csize + 2);
		for (size_t j = 0; j < csize; j++)
			msb_buf_data(&body)[body.len + j] =
				(uint8_t)(unit_rand() | 1);
		body.len += csize;
		msb_buf_append(&body, "\r\n", 2);
	}
	msb_buf_append(&body, "0\r\n\r\n", 5);
	blen = body.len;
	for (size_t step = 999; step <= 1u << 20; step *= 32) {
		struct msb_buf out = { 0 }, reply = { 0 };
		void *g;

		setup(GUARD_BLOCK);
		g = guard_new(&genv, &fi, 1);
		CHECK_EQ_INT(feed_all(g, (const uint8_t *)head, strlen(head), 9,
				      &out, &reply), 0);
		CHECK_EQ_INT(feed_all(g, msb_buf_data(&body), blen, step, &out,
				      &reply), 0);
		CHECK_EQ_INT(feed_all(g, (const uint8_t *)next, strlen(next), 5,
				      &out, &reply), 0);
		CHECK(holds(&out, "Authorization: Bearer real-A-value\r\n"
				  "Accept-Encoding: identity\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n"));
		CHECK(holds(&out, "GET /after?k=real-A-value HTTP/1.1\r\n"));
		CHECK(memmem(msb_buf_data(&out), out.len, msb_buf_data(&body),
			     blen) != NULL);
		CHECK_EQ_INT(reply.len, 0);
		guard_filter.close(g);
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	/* a placeholder in a chunk's data: cut before it leaves */
	memcpy(msb_buf_data(&body) + (5u << 20), PH_B, strlen(PH_B));
	{
		struct msb_buf out = { 0 }, reply = { 0 };
		void *g;

		setup(GUARD_BLOCK);
		g = guard_new(&genv, &fi, 1);
		CHECK_EQ_INT(feed_all(g, (const uint8_t *)head, strlen(head), 64,
				      &out, &reply), 0);
		CHECK_EQ_INT(feed_all(g, msb_buf_data(&body), blen, 30000, &out,
				      &reply),
			     -EACCES);
		CHECK(!holds(&out, PH_B));
		CHECK(holds(&reply, "403 Forbidden"));
		guard_filter.close(g);
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	/* broken framing past 8 MiB (the walk's, not the framer's): refused
	 * there */
	memset(msb_buf_data(&body) + (5u << 20), 'a', strlen(PH_B));
	memcpy(msb_buf_data(&body) + 140 * (7 + csize + 2) + 7 + csize, "XX",
	       2);
	{
		struct msb_buf out = { 0 }, reply = { 0 };
		void *g;

		setup(GUARD_BLOCK);
		g = guard_new(&genv, &fi, 1);
		feed_all(g, (const uint8_t *)head, strlen(head), 64, &out,
			 &reply);
		CHECK_EQ_INT(feed_all(g, msb_buf_data(&body), blen, 1u << 20,
				      &out, &reply),
			     -EBADMSG);
		CHECK(holds(&reply, "400 Bad Request"));
		guard_filter.close(g);
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	msb_vault_free(&vault);
	msb_buf_free(&body);
}

/* B names no place: its value goes in Authorization (Basic too) and
 * nowhere else; its placeholder elsewhere in a request to its own host is
 * a violation that says where, and which --secret-inject would allow it. */
TEST(guard_a_value_goes_only_where_its_secret_says)
{
	struct msb_flow_info fi = info("other.example.net", 1);
	static const struct {
		const char *req, *where, *place;
	} bad[] = {
		{ "GET /x?k=" PH_B " HTTP/1.1\r\nHost: other.example.net\r\n\r\n",
		  "the query", "B=query" },
		{ "GET /" PH_B "/x HTTP/1.1\r\nHost: other.example.net\r\n\r\n",
		  "the path", "B=path" },
		{ "GET / HTTP/1.1\r\nHost: other.example.net\r\n"
		  "X-Api-Key: " PH_B "\r\n\r\n",
		  "header X-Api-Key", "B=header:X-Api-Key" },
		{ "POST / HTTP/1.1\r\nHost: other.example.net\r\n"
		  "Content-Length: 50\r\n\r\nk=" PH_B,
		  "the body", "B=body" },
		{ "GET / HTTP/1.1\r\nHost: other.example.net\r\n"
		  "Proxy-Authorization: Basic "
		  "dTptc2JfcGxhY2Vob2xkZXJfZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=\r\n\r\n",
		  "header Proxy-Authorization", "B=header:Proxy-Authorization" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct msb_buf out = { 0 }, reply = { 0 };
		char want[256];

		setup(GUARD_BLOCK);
		CHECK_EQ_INT(run(&fi, 1, bad[i].req, 5, &out, &reply), -EACCES);
		CHECK_EQ_INT(out.len, 0);
		CHECK(holds(&reply, "403 Forbidden"));
		snprintf(want, sizeof(want),
			 "secret B: request to 198.51.100.2:443 (Host "
			 "'other.example.net', server name 'other.example.net') "
			 "blocked: its placeholder is in %s, where its value "
			 "may not go (--secret-inject %s allows it)",
			 bad[i].where, bad[i].place);
		if (!strstr(logbuf, want))
			unit_fail(__FILE__, __LINE__, "case %zu: '%s'", i, logbuf);
		msb_buf_free(&out);
		msb_buf_free(&reply);
		/* log: it leaves with the placeholder, the value nowhere */
		setup(GUARD_LOG);
		CHECK_EQ_INT(run(&fi, 1, bad[i].req, 5, &out, &reply), 0);
		CHECK(!holds(&out, "real-B-value") && reply.len == 0);
		CHECK(strstr(logbuf, "sent with the placeholder: its "
				     "placeholder is in") != NULL);
		msb_buf_free(&out);
	}
	/* Authorization, bearer or Basic ("u:" PH_B), may carry it */
	{
		struct msb_buf out = { 0 }, reply = { 0 };

		setup(GUARD_BLOCK);
		CHECK_EQ_INT(run(&fi, 1,
				 "GET / HTTP/1.1\r\nHost: other.example.net\r\n"
				 "Authorization: Bearer " PH_B "\r\n\r\n"
				 "GET / HTTP/1.1\r\nHost: other.example.net\r\n"
				 "authorization: Basic dTptc2JfcGxhY2Vob2xkZXJf"
				 "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
				 "\r\n\r\n",
				 3, &out, &reply),
			     0);
		CHECK(holds(&out, "Authorization: Bearer real-B-value\r\n"));
		/* "u:real-B-value" */
		CHECK(holds(&out, "authorization: Basic dTpyZWFsLUItdmFsdWU=\r\n"));
		CHECK(!holds(&out, PH_B) && reply.len == 0 && !logbuf[0]);
		msb_buf_free(&out);
	}
	/* A's places: path, query, body, X-Key and Cookie, in one request */
	{
		struct msb_buf out = { 0 }, reply = { 0 };

		fi = info("api.example.com", 1);
		setup(GUARD_BLOCK);
		CHECK_EQ_INT(run(&fi, 1,
				 "POST /" PH_A "?q=" PH_A " HTTP/1.1\r\n"
				 "Host: api.example.com\r\nx-key: " PH_A "\r\n"
				 "Cookie: s=" PH_A "\r\nContent-Length: 48\r\n"
				 "\r\n" PH_A,
				 11, &out, &reply),
			     0);
		CHECK(holds(&out, "POST /real-A-value?q=real-A-value HTTP/1.1"));
		CHECK(holds(&out, "x-key: real-A-value\r\nCookie: s=real-A-value"));
		CHECK(holds(&out, "Content-Length: 12\r\n\r\nreal-A-value"));
		CHECK(!holds(&out, PH_A) && reply.len == 0);
		msb_buf_free(&out);
		/* but not X-Other */
		CHECK_EQ_INT(run(&fi, 1,
				 "GET / HTTP/1.1\r\nHost: api.example.com\r\n"
				 "X-Other: " PH_A "\r\n\r\n",
				 11, &out, &reply),
			     -EACCES);
		CHECK(strstr(logbuf, "secret A:") &&
		      strstr(logbuf, "header X-Other") &&
		      strstr(logbuf, "A=header:X-Other allows it"));
		msb_buf_free(&out);
		msb_buf_free(&reply);
	}
	msb_vault_free(&vault);
}

/* Where a value may go, the answer is asked for uncompressed; elsewhere
 * the guest's Accept-Encoding is left as it is. */
TEST(guard_asks_for_identity_where_a_value_may_go)
{
	struct msb_flow_info bound = info("api.example.com", 1);
	struct msb_flow_info other = info("www.example.com", 1);
	const char *req = "GET / HTTP/1.1\r\nHost: %s\r\n"
			  "Accept-Encoding: gzip, br\r\n\r\n";
	char r1[256], r2[256];
	struct msb_buf out = { 0 }, reply = { 0 };

	setup(GUARD_BLOCK);
	snprintf(r1, sizeof(r1), req, "api.example.com");
	snprintf(r2, sizeof(r2), req, "www.example.com");
	CHECK_EQ_INT(run(&bound, 1, r1, 4, &out, &reply), 0);
	CHECK(holds(&out, "Host: api.example.com\r\n"
			  "Accept-Encoding: identity\r\n\r\n"));
	CHECK(!holds(&out, "gzip"));
	msb_buf_free(&out);
	CHECK_EQ_INT(run(&other, 1, r2, 4, &out, &reply), 0);
	CHECK(out.len == strlen(r2) && !memcmp(msb_buf_data(&out), r2, out.len));
	msb_buf_free(&out);
	msb_vault_free(&vault);
}

/* --- answers ------------------------------------------------------------- */

/* answer_of() - @req sent through a fresh guard on @fi, then @ans from
 * the server in pieces of @step (then its close if @eof); the guest's
 * bytes in @guest. Return: the last to_guest result */
static int answer_of(const struct msb_flow_info *fi, const char *req,
		     const uint8_t *ans, size_t n, size_t step, int eof,
		     struct msb_buf *guest)
{
	struct msb_buf up = { 0 }, host = { 0 };
	void *g = guard_new(&genv, fi, 1);
	int r = guard_filter.to_upstream(g, (const uint8_t *)req, strlen(req),
					 &up, guest);

	CHECK_EQ_INT(r, 0);
	for (size_t i = 0; i < n && r == 0; i += step)
		r = guard_filter.to_guest(g, ans + i,
					  i + step > n ? n - i : step, &host,
					  guest);
	if (r == 0 && eof)
		r = guard_filter.to_guest(g, NULL, 0, &host, guest);
	CHECK_EQ_INT(host.len, 0);
	guard_filter.close(g);
	msb_buf_free(&up);
	return r;
}

static int same(const struct msb_buf *b, const char *s)
{
	return b->len == strlen(s) && !memcmp(msb_buf_data(b), s, b->len);
}

/* An echo by length, in any split: the value back as the placeholder, in
 * the head and the body, with the body's new length. */
TEST(guard_scrubs_an_answer_by_length_in_any_split)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *req = "GET / HTTP/1.1\r\nHost: api.example.com\r\n"
			  "Authorization: Bearer " PH_A "\r\n\r\n";
	/* 38 bytes of body, 110 once scrubbed */
	static const char ans[] =
		"HTTP/1.1 200 OK\r\nX-Echo: real-A-value\r\n"
		"Content-Length: 38\r\n\r\n"
		"Bearer real-A-value and real-B-value..";
	static const char want[] =
		"HTTP/1.1 200 OK\r\nX-Echo: " PH_A "\r\n"
		"Content-Length: 110\r\n\r\n"
		"Bearer " PH_A " and " PH_B "..";

	setup(GUARD_BLOCK);
	for (size_t step = 1; step <= strlen(ans); step++) {
		struct msb_buf guest = { 0 };

		CHECK_EQ_INT(answer_of(&fi, req, (const uint8_t *)ans,
				       strlen(ans), step, 0, &guest),
			     0);
		if (!same(&guest, want))
			unit_fail(__FILE__, __LINE__, "step %zu: '%.*s'", step,
				  (int)guest.len, msb_buf_data(&guest));
		msb_buf_free(&guest);
	}
	msb_vault_free(&vault);
}

/* Chunked, the value cut across chunks of one byte: decoded, scrubbed,
 * chunked again; the trailer scrubbed; the next answer framed after it. */
TEST(guard_scrubs_a_chunked_answer_cut_anywhere)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *req = "GET /a HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
			  "GET /b HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
	const char *text = "<p>real-A-value</p>";
	struct msb_buf ans = { 0 };
	char line[16];

	msb_buf_append(&ans, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		       47);
	for (const char *c = text; *c; c++) {
		msb_buf_append(&ans, "1;x=y\r\n", 7);
		msb_buf_append(&ans, c, 1);
		msb_buf_append(&ans, "\r\n", 2);
	}
	snprintf(line, sizeof(line), "0\r\n");
	msb_buf_append(&ans, line, strlen(line));
	msb_buf_append(&ans, "X-T: real-A-value\r\n\r\n", 21);
	msb_buf_append(&ans, "HTTP/1.1 204 No Content\r\n\r\n", 27);
	setup(GUARD_BLOCK);
	for (size_t step = 1; step <= ans.len; step += 3) {
		struct msb_buf guest = { 0 }, body = { 0 }, tr = { 0 };
		struct http1_resp r;
		struct http1_chunks c = { 0 };
		const uint8_t *g;
		int done = 0;
		long w;

		CHECK_EQ_INT(answer_of(&fi, req, msb_buf_data(&ans), ans.len,
				       step, 0, &guest),
			     0);
		g = msb_buf_data(&guest);
		CHECK(!holds(&guest, "real-A-value"));
		/* it frames as two answers: the body whole, scrubbed */
		CHECK_EQ_INT(http1_resp_head(g, guest.len, 0, &r), 1);
		CHECK(r.body == HTTP1_BODY_CHUNKED);
		w = http1_chunks_decode(&c, g + r.head_len, guest.len - r.head_len,
					&body, &tr, &done);
		CHECK(done && w > 0);
		CHECK(body.len == strlen("<p></p>") + strlen(PH_A) &&
		      holds(&body, "<p>" PH_A "</p>"));
		CHECK(tr.len && holds(&tr, "X-T: " PH_A "\r\n"));
		if (done && w > 0)
			CHECK(same(&(struct msb_buf){ guest.p,
						      guest.off + r.head_len + w,
						      guest.len - r.head_len - w,
						      0 },
				   "HTTP/1.1 204 No Content\r\n\r\n"));
		msb_buf_free(&guest);
		msb_buf_free(&body);
		msb_buf_free(&tr);
	}
	msb_buf_free(&ans);
	msb_vault_free(&vault);
}

/* Until close: the tail that could begin a value waits, and goes when the
 * server closes; a tail that cannot goes at once. */
TEST(guard_scrubs_an_answer_until_close)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *req = "GET / HTTP/1.0\r\nHost: api.example.com\r\n\r\n";
	static const char head[] = "HTTP/1.0 200 OK\r\n\r\n";
	struct msb_buf up = { 0 }, host = { 0 }, guest = { 0 };
	void *g;

	setup(GUARD_BLOCK);
	g = guard_new(&genv, &fi, 1);
	CHECK_EQ_INT(guard_filter.to_upstream(g, (const uint8_t *)req,
					      strlen(req), &up, &guest), 0);
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)head,
					   strlen(head), &host, &guest), 0);
	CHECK(same(&guest, head));
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)"abc real-A",
					   10, &host, &guest), 0);
	/* "real-A" could be the start of a value: held */
	CHECK(guest.len == strlen(head) + 4);
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)"-value xyz re",
					   13, &host, &guest), 0);
	CHECK(holds(&guest, "abc " PH_A " xyz"));
	CHECK(!holds(&guest, "xyz re"));
	CHECK_EQ_INT(guard_filter.to_guest(g, NULL, 0, &host, &guest), 0);
	CHECK(holds(&guest, "abc " PH_A " xyz re"));
	guard_filter.close(g);
	msb_buf_free(&up);
	msb_buf_free(&guest);
	msb_vault_free(&vault);
}

/* HEAD, 1xx, 304: no body whatever the head says; the next answer is
 * framed right after. */
TEST(guard_frames_answers_without_a_body)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *req = "HEAD /a HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
			  "GET /b HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
			  "GET /c HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
	static const char ans[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nreal-A-value"
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n";
	struct msb_buf guest = { 0 };

	setup(GUARD_BLOCK);
	CHECK_EQ_INT(answer_of(&fi, req, (const uint8_t *)ans, strlen(ans), 7,
			       0, &guest),
		     0);
	CHECK(same(&guest, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
			   "HTTP/1.1 100 Continue\r\n\r\n"
			   "HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\n" PH_A
			   "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"));
	msb_buf_free(&guest);
	msb_vault_free(&vault);
}

/* The forms an echo could return: percent- and JSON-encoded, base64 at
 * any alignment, and the Basic credential the guard itself rewrote. */
TEST(guard_scrubs_encoded_values_and_basic_credentials)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	/* base64("u:" PH_A) */
	const char *req =
		"GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Basic "
		"dTptc2JfcGxhY2Vob2xkZXJfMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		"\r\n\r\n";
	/* the rewritten one, base64("u:real-A-value"), and base64 of
	 * "x" "real-A-value" "yz", of "xy" "real-A-value", of
	 * "real-A-value" */
	static const char body[] =
		"{\"auth\":\"Basic dTpyZWFsLUEtdmFsdWU=\"}\n"
		"eHJlYWwtQS12YWx1ZXl6\n"
		"eHlyZWFsLUEtdmFsdWU=\n"
		"cmVhbC1BLXZhbHVl\n";
	/* and the echoed head in base64: the rewritten credential inside */
	static const char head[] = "GET / HTTP/1.1\nAuthorization: Basic "
				   "dTpyZWFsLUEtdmFsdWU=\n";
	char ans[1024], b64[256];
	struct msb_buf guest = { 0 };

	b64[msb_b64_encode((const uint8_t *)head, strlen(head), b64)] = '\0';
	snprintf(ans, sizeof(ans),
		 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s%s",
		 strlen(body) + strlen(b64), body, b64);
	setup(GUARD_BLOCK);
	CHECK_EQ_INT(answer_of(&fi, req, (const uint8_t *)ans, strlen(ans), 5,
			       0, &guest),
		     0);
	/* the guest's own credential back */
	CHECK(holds(&guest, "Basic dTptc2JfcGxhY2Vob2xkZXJfMDEyMzQ1Njc4OWFiY2R"
			    "lZjAxMjM0NTY3ODlhYmNkZWY=\"}"));
	CHECK(!holds(&guest, "dTpyZWFsLUEtdmFsdWU="));
	/* base64 at each alignment: the value's own characters gone */
	CHECK(!holds(&guest, "cmVhbC1BLXZhbHVl"));
	CHECK(!holds(&guest, "JlYWwtQS12YWx1Z"));
	CHECK(!holds(&guest, "lYWwtQS12YWx1ZX") && !holds(&guest, "YWwtQS12YWx1"));
	/* the base64 of the head: decoded, the guest's credential in it */
	{
		const uint8_t *g = msb_buf_data(&guest);
		const uint8_t *b = memmem(g, guest.len, "R0VUIC8g", 8);
		uint8_t dec[512];
		long dl = -1;

		if (b) {
			dl = msb_b64_decode((const char *)b,
					    guest.len - (size_t)(b - g), dec);
		}
		if (dl <= 0)
			unit_fail(__FILE__, __LINE__, "'%.*s'", (int)guest.len,
				  g);
		if (dl > 0) {
			CHECK(!memmem(dec, (size_t)dl, "dTpyZWFsLUEtdmFsdWU", 19));
			CHECK(memmem(dec, (size_t)dl, "dTptc2JfcGxhY2Vob2xkZXJf", 24));
		}
	}
	msb_buf_free(&guest);
	msb_vault_free(&vault);
	/* a value with bytes that encode: percent, JSON */
	msb_vault_free(&vault);
	vault_add(&vault, "C=@env:Z:api.example.com", NULL, PH_A, "a/b+c\"d e");
	CHECK_EQ_INT(msb_vault_scrub(&vault), 0);
	{
		static const char eb[] = "q=a%2Fb%2Bc%22d%20e\n"
					 "q=a/b%2Bc%22d%20e\n"
					 "\"a/b+c\\\"d e\"\n"
					 "\"a\\/b+c\\\"d e\"\n";
		char enc[256];

		snprintf(enc, sizeof(enc),
			 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(eb), eb);

		genv = (struct guard_env){ .vault = &vault,
					   .mode = GUARD_BLOCK,
					   .log = logger };
		CHECK_EQ_INT(answer_of(&fi, "GET / HTTP/1.1\r\nHost: api.example.com"
					    "\r\n\r\n",
				       (const uint8_t *)enc, strlen(enc), 9, 0,
				       &guest),
			     0);
		CHECK(holds(&guest, "q=" PH_A "\nq=" PH_A "\n\"" PH_A "\"\n\""
				    PH_A "\"\n"));
		msb_buf_free(&guest);
	}
	msb_vault_free(&vault);
}

/* A compressed answer where a value could have gone cannot be scrubbed:
 * 502; elsewhere it passes as its bytes. */
TEST(guard_refuses_compressed_answers_where_a_value_may_go)
{
	struct msb_flow_info bound = info("api.example.com", 1);
	struct msb_flow_info other = info("www.example.com", 1);
	static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
				  "Content-Length: 4\r\n\r\n\x1f\x8b\x08\x01";
	struct msb_buf guest = { 0 };

	setup(GUARD_BLOCK);
	CHECK_EQ_INT(answer_of(&bound, "GET / HTTP/1.1\r\nHost: api.example.com"
				       "\r\n\r\n",
			       (const uint8_t *)ans, strlen(ans), 10, 0, &guest),
		     -EPROTO);
	CHECK(holds(&guest, "HTTP/1.1 502 Bad Gateway\r\n"));
	CHECK(!holds(&guest, "\x1f\x8b"));
	CHECK(strstr(logbuf, "answer from 198.51.100.2:443 (server name "
			     "'api.example.com') refused: it is compressed "
			     "(Content-Encoding gzip)"));
	msb_buf_free(&guest);
	CHECK_EQ_INT(answer_of(&other, "GET / HTTP/1.1\r\nHost: www.example.com"
				       "\r\n\r\n",
			       (const uint8_t *)ans, strlen(ans), 10, 0, &guest),
		     0);
	CHECK(same(&guest, ans));
	msb_buf_free(&guest);
	/* one without a body says what it would be: nothing to scrub */
	CHECK_EQ_INT(answer_of(&bound, "GET / HTTP/1.1\r\nHost: api.example.com"
				       "\r\n\r\n",
			       (const uint8_t *)"HTTP/1.1 304 Not Modified\r\n"
						"Content-Encoding: gzip\r\n\r\n",
			       53, 53, 0, &guest),
		     0);
	CHECK(same(&guest, "HTTP/1.1 304 Not Modified\r\n"
			   "Content-Encoding: gzip\r\n\r\n"));
	msb_buf_free(&guest);
	/* an answer that cannot be framed: 502 */
	CHECK(answer_of(&bound, "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
			(const uint8_t *)"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
					 "Content-Length: 2\r\n\r\nab",
			60, 60, 0, &guest) == -EBADMSG);
	CHECK(holds(&guest, "502 Bad Gateway"));
	msb_buf_free(&guest);
	msb_vault_free(&vault);
}

/* A body by length over 8 MiB streams: chunked to a guest that reads
 * HTTP/1.1 (until close to one that reads 1.0), scrubbed on the way. */
TEST(guard_streams_an_answer_over_8_mib)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	size_t blen = 9u << 20;
	uint8_t *body = malloc(blen);
	char head[128];
	int hl;

	if (!body)
		return;
	for (size_t i = 0; i < blen; i++)
		body[i] = (uint8_t)('a' + unit_rand() % 26);
	memcpy(body + (5u << 20) - 3, "real-A-value", 12);
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", blen);
	setup(GUARD_BLOCK);
	for (int v10 = 0; v10 < 2; v10++) {
		struct msb_buf ans = { 0 }, guest = { 0 }, dec = { 0 }, tr = { 0 };
		struct http1_resp r;
		struct http1_chunks c = { 0 };
		int done = 0;

		msb_buf_append(&ans, head, (size_t)hl);
		msb_buf_append(&ans, body, blen);
		CHECK_EQ_INT(answer_of(&fi,
				       v10 ? "GET / HTTP/1.0\r\nHost: api.example.com\r\n\r\n" :
					     "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
				       msb_buf_data(&ans), ans.len, 65536, 0,
				       &guest),
			     v10 ? -ECONNRESET : 0);
		CHECK_EQ_INT(http1_resp_head(msb_buf_data(&guest), guest.len, 0,
					     &r),
			     1);
		CHECK(r.body == (v10 ? HTTP1_BODY_CLOSE : HTTP1_BODY_CHUNKED));
		if (v10) {
			CHECK(holds(&guest, "Connection: close\r\n"));
			msb_buf_append(&dec, msb_buf_data(&guest) + r.head_len,
				       guest.len - r.head_len);
		} else {
			CHECK(http1_chunks_decode(&c, msb_buf_data(&guest) +
							      r.head_len,
						  guest.len - r.head_len, &dec,
						  &tr, &done) ==
			      (long)(guest.len - r.head_len));
			CHECK(done);
		}
		CHECK(dec.len == blen - 12 + 48);
		CHECK(!holds(&dec, "real-A-value") && holds(&dec, PH_A));
		CHECK(dec.len > (5u << 20) &&
		      !memcmp(msb_buf_data(&dec), body, (5u << 20) - 3));
		msb_buf_free(&ans);
		msb_buf_free(&guest);
		msb_buf_free(&dec);
		msb_buf_free(&tr);
	}
	msb_vault_free(&vault);
	free(body);
}

/* --- a WebSocket (guard_ws.c) ------------------------------------------- */

static const char ws_req[] = "GET /ws HTTP/1.1\r\nHost: api.example.com\r\n"
			     "Authorization: Bearer " PH_A "\r\n"
			     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			     "Sec-WebSocket-Extensions: permessage-deflate\r\n"
			     "\r\n";
static const char ws_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
			     "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

/* frame() - a server's frame, @b0 and @len bytes of @p, appended to @b */
static void frame(struct msb_buf *b, uint8_t b0, const void *p, size_t len)
{
	CHECK_EQ_INT(ws_frame_put(b, b0, len), 0);
	CHECK_EQ_INT(msb_buf_append(b, p, len), 0);
}

/* Each frame is scrubbed whole and goes with its new length, in any
 * split; a frame ending in a byte a value begins with ('r') goes at once,
 * as does everything else once its frame is through (a server that sends
 * a message and waits for the guest is not kept waiting); a control frame
 * stays within 125 bytes. The guest's offer of extensions (compression)
 * was not passed on where a value went with the upgrade. */
TEST(guard_scrubs_each_websocket_frame_with_its_new_length)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	struct msb_buf ans = { 0 }, want = { 0 }, up = { 0 }, host = { 0 };
	char big[300], bigw[400], close_in[125];
	size_t bl, cl;

	setup(GUARD_BLOCK);
	/* the extension offer is dropped where a value goes */
	CHECK_EQ_INT(run(&fi, 1, ws_req, 7, &up, &host), 0);
	CHECK(holds(&up, "Upgrade: websocket\r\n"));
	CHECK(!holds(&up, "permessage-deflate"));
	msb_buf_free(&up);

	CHECK_EQ_INT(msb_buf_append(&ans, ws_101, strlen(ws_101)), 0);
	CHECK_EQ_INT(msb_buf_append(&want, ws_101, strlen(ws_101)), 0);
	/* text: the value, 12 bytes, becomes the 48 of the placeholder */
	frame(&ans, 0x81, "real-A-value", 12);
	frame(&want, 0x81, PH_A, strlen(PH_A));
	/* binary, a 16-bit length that the scrub grows */
	memset(big, 'x', sizeof(big));
	memcpy(big + 100, "real-B-value", 12);
	memset(bigw, 'x', sizeof(bigw));
	memcpy(bigw + 100, PH_B, strlen(PH_B));
	bl = sizeof(big) - 12 + strlen(PH_B);
	frame(&ans, 0x82, big, sizeof(big));
	frame(&want, 0x82, bigw, bl);
	/* a ping with the value; a fragmented message, the value whole in
	 * its first fragment */
	frame(&ans, 0x89, "real-A-value", 12);
	frame(&want, 0x89, PH_A, strlen(PH_A));
	frame(&ans, 0x01, "<real-B-value", 13);
	frame(&want, 0x01, "<" PH_B, 1 + strlen(PH_B));
	frame(&ans, 0x80, ">", 1);
	frame(&want, 0x80, ">", 1);
	/* a close whose reason the scrub grows past 125: its code alone */
	memset(close_in, 'y', sizeof(close_in));
	close_in[0] = 0x03;
	close_in[1] = (char)0xe8;
	for (int i = 0; i < 4; i++)
		memcpy(close_in + 10 + 13 * i, "real-A-value", 12);
	cl = sizeof(close_in);
	frame(&ans, 0x88, close_in, cl);
	frame(&want, 0x88, close_in, 2);
	/* the last: a text ending in 'r', a value's first byte */
	frame(&ans, 0x81, "abcdr", 5);
	frame(&want, 0x81, "abcdr", 5);

	for (size_t step = 1; step <= ans.len; step += step < 40 ? 1 : 37) {
		struct msb_buf guest = { 0 };

		CHECK_EQ_INT(answer_of(&fi, ws_req, msb_buf_data(&ans), ans.len,
				       step, 0, &guest),
			     0);
		if (guest.len != want.len ||
		    memcmp(msb_buf_data(&guest), msb_buf_data(&want),
			   want.len))
			unit_fail(__FILE__, __LINE__,
				  "step %zu: %zu bytes, %zu wanted", step,
				  guest.len, want.len);
		msb_buf_free(&guest);
	}
	msb_buf_free(&ans);
	msb_buf_free(&want);
	msb_vault_free(&vault);
}

/* ws_answer() - @req, the 101 and @n bytes of frames; Return: to_guest's
 * last result, the guest's bytes after the 101 in @guest */
static int ws_answer(const struct msb_flow_info *fi, const char *req,
		     const void *frames, size_t n, struct msb_buf *guest)
{
	struct msb_buf ans = { 0 };
	int r;

	CHECK_EQ_INT(msb_buf_append(&ans, ws_101, strlen(ws_101)), 0);
	CHECK_EQ_INT(msb_buf_append(&ans, frames, n), 0);
	r = answer_of(fi, req, msb_buf_data(&ans), ans.len, 5, 0, guest);
	msb_buf_free(&ans);
	if (guest->len >= strlen(ws_101))
		msb_buf_consume(guest, strlen(ws_101));
	return r;
}

/* A frame no server may send ends the connection: masked, a reserved
 * opcode, a control frame over 125 bytes; so does one an extension
 * compressed where a value went (no extension was offered there); where
 * no value went, such a frame passes as it is. */
TEST(guard_refuses_websocket_frames_no_server_sends)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	struct msb_flow_info other = info("www.example.com", 1);
	const char *oreq = "GET /ws HTTP/1.1\r\nHost: www.example.com\r\n"
			   "Upgrade: websocket\r\n\r\n";
	static const uint8_t masked[] = { 0x81, 0x82, 1, 2, 3, 4, 'a', 'b' };
	static const uint8_t reserved[] = { 0x83, 0x01, 'a' };
	static const uint8_t longping[] = { 0x89, 0x7e, 0x00, 0x80 };
	static const uint8_t deflated[] = { 0xc1, 0x03, 'a', 'b', 'c' };
	struct msb_buf guest = { 0 };

	setup(GUARD_BLOCK);
	CHECK(ws_answer(&fi, ws_req, masked, sizeof(masked), &guest) < 0);
	CHECK_EQ_INT(guest.len, 0);
	CHECK(strstr(logbuf, "masked WebSocket frame") != NULL);
	CHECK(ws_answer(&fi, ws_req, reserved, sizeof(reserved), &guest) < 0);
	CHECK(ws_answer(&fi, ws_req, longping, sizeof(longping), &guest) < 0);
	CHECK(ws_answer(&fi, ws_req, deflated, sizeof(deflated), &guest) < 0);
	CHECK_EQ_INT(guest.len, 0);
	CHECK_EQ_INT(ws_answer(&other, oreq, deflated, sizeof(deflated),
			       &guest),
		     0);
	CHECK(guest.len == sizeof(deflated) &&
	      !memcmp(msb_buf_data(&guest), deflated, sizeof(deflated)));
	msb_buf_free(&guest);
	msb_vault_free(&vault);
}

/* A frame over 8 MiB is not held: it goes as fragments of its message as
 * it comes, scrubbed (a value cut between two reads found whole), the
 * first with its opcode, the last with its FIN. */
TEST(guard_splits_a_websocket_frame_over_8_mib)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	size_t len = HTTP1_BODY_MAX + 4096, cut = 1 << 20;
	uint8_t *payload = malloc(len);
	struct msb_buf ans = { 0 }, guest = { 0 }, data = { 0 };
	size_t pieces = 0;
	uint8_t last = 0;

	CHECK(payload != NULL);
	memset(payload, 'z', len);
	memcpy(payload + cut - 4, "real-A-value", 12);
	setup(GUARD_BLOCK);
	CHECK_EQ_INT(msb_buf_append(&ans, ws_101, strlen(ws_101)), 0);
	frame(&ans, 0x82, payload, len);
	frame(&ans, 0x81, "after", 5);
	{
		struct msb_buf up = { 0 }, host = { 0 };
		void *g = guard_new(&genv, &fi, 1);
		const uint8_t *a = msb_buf_data(&ans);
		size_t first = strlen(ws_101) + 10 + cut;

		CHECK_EQ_INT(guard_filter.to_upstream(g, (const uint8_t *)ws_req,
						      strlen(ws_req), &up,
						      &guest),
			     0);
		/* up to the value's first 4 bytes: what came goes, less the
		 * tail that may be a value */
		CHECK_EQ_INT(guard_filter.to_guest(g, a, first, &host, &guest),
			     0);
		CHECK(guest.len > strlen(ws_101) + cut - 100);
		CHECK_EQ_INT(guard_filter.to_guest(g, a + first,
						   ans.len - first, &host,
						   &guest),
			     0);
		guard_filter.close(g);
		msb_buf_free(&up);
	}
	msb_buf_consume(&guest, strlen(ws_101));
	/* the fragments: binary, then continuations, the last with FIN;
	 * then the small frame whole */
	while (guest.len) {
		struct ws_frame f;

		CHECK_EQ_INT(ws_frame_head(msb_buf_data(&guest), guest.len, &f),
			     1);
		if ((f.b0 & WS_OP) == 0x1)
			break;
		CHECK_EQ_INT(f.b0 & WS_OP, pieces ? 0 : 2);
		CHECK(!(f.b0 & WS_FIN) || f.head_len + f.len == guest.len - 7);
		last = f.b0;
		CHECK_EQ_INT(msb_buf_append(&data, msb_buf_data(&guest) +
							   f.head_len,
					    f.len),
			     0);
		msb_buf_consume(&guest, f.head_len + f.len);
		pieces++;
	}
	CHECK(pieces >= 2);
	CHECK(last & WS_FIN);
	CHECK(same(&guest, "\x81\x05" "after"));
	CHECK_EQ_INT(data.len, len - 12 + strlen(PH_A));
	CHECK(memmem(msb_buf_data(&data), data.len, PH_A, strlen(PH_A)) ==
	      msb_buf_data(&data) + cut - 4);
	CHECK(memmem(msb_buf_data(&data), data.len, "real-", 5) == NULL);
	free(payload);
	msb_buf_free(&ans);
	msb_buf_free(&guest);
	msb_buf_free(&data);
	msb_vault_free(&vault);
}

/* A 101 to anything else than websocket: a tunnel, each read scrubbed
 * whole, nothing held back. */
TEST(guard_scrubs_another_upgrade_read_by_read)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	static const char ans[] =
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
		"Connection: Upgrade\r\n\r\n<real-A-value>r";
	struct msb_buf guest = { 0 };

	setup(GUARD_BLOCK);
	CHECK_EQ_INT(answer_of(&fi, "GET / HTTP/1.1\r\nHost: api.example.com\r\n"
				    "Upgrade: h2c\r\n\r\n",
			       (const uint8_t *)ans, strlen(ans), strlen(ans),
			       0, &guest),
		     0);
	CHECK(guest.len && msb_buf_data(&guest)[guest.len - 1] == 'r');
	CHECK(holds(&guest, "Connection: Upgrade\r\n\r\n<" PH_A ">r"));
	msb_buf_free(&guest);
	msb_vault_free(&vault);
}

/* tunnel() - a guard for a plain connection to a proxy, its CONNECT sent
 * and answered; @guest holds the answer's head */
static void *tunnel(struct msb_buf *up, struct msb_buf *host,
		    struct msb_buf *guest)
{
	struct msb_flow_info fi = info("", 0);
	static const char req[] = "CONNECT api.example.com:443 HTTP/1.1\r\n"
				  "Host: api.example.com:443\r\n\r\n";
	static const char ans[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	void *g = guard_new(&genv, &fi, 0);

	CHECK_EQ_INT(guard_filter.to_upstream(g, (const uint8_t *)req,
					      strlen(req), up, guest),
		     0);
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)ans,
					   strlen(ans), host, guest),
		     0);
	CHECK(same(guest, ans));
	guest->len = 0;
	return g;
}

/* In a tunnel the server's bytes reach the guest as each read comes,
 * none held back, though the last could begin a value ('r', real-A-value's
 * first), whatever the guest speaks in it: held, the rest of a TLS
 * server's flight, or of an SSH server's banner, never came (the server
 * waited for the guest) and the tunnel stalled. A value whole in one read
 * is still replaced. */
TEST(guard_holds_nothing_back_in_a_tunnel)
{
	/* (each with a NUL: lengths by sizeof) */
	static const char hello[] = "\x16\x03\x01\x00\x05hello";
	static const char flight[] = "\x16\x03\x03\x00\x05"
				     "abcdr";
	static const char *const guest_first[] = { hello, "SSH-2.0-x\r\n",
						   "GET / HTTP/1.1\r\n\r\n" };
	const size_t fl = sizeof(flight) - 1;
	struct msb_buf up = { 0 }, host = { 0 }, guest = { 0 };

	setup(GUARD_BLOCK);
	for (size_t k = 0; k < 3; k++) {
		void *g = tunnel(&up, &host, &guest);

		/* the server first, then the guest, then the server again */
		CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)flight,
						   fl, &host, &guest),
			     0);
		CHECK(guest.len == fl &&
		      !memcmp(msb_buf_data(&guest), flight, fl));
		guest.len = 0;
		CHECK_EQ_INT(guard_filter.to_upstream(
				     g, (const uint8_t *)guest_first[k],
				     k ? strlen(guest_first[k]) :
					 sizeof(hello) - 1,
				     &up, &guest),
			     0);
		CHECK_EQ_INT(guest.len, 0);
		CHECK_EQ_INT(guard_filter.to_guest(
				     g, (const uint8_t *)"<real-A-value>r", 15,
				     &host, &guest),
			     0);
		CHECK(same(&guest, "<" PH_A ">r"));
		CHECK_EQ_INT(host.len, 0);
		guard_filter.close(g);
		msb_buf_free(&up);
		msb_buf_free(&guest);
	}
	msb_vault_free(&vault);
}

/* --- the response hook (on_http_response) ------------------------------- */

/* What the hook saw last, and what it is to do. */
static struct {
	int mode;              /* 0 forward, 1 block, 2 new head and body,
				* 3 new body, 4 a head that is no head,
				* 5 a body for an answer that has none */
	int calls;
	int status;
	size_t streamed;
	char host[64], request[128];
	struct msb_buf head, body;
} rh;

static int resp_hook(void *ctx, const struct msb_http_response *resp,
		     struct msb_http_response_action *act)
{
	(void)ctx;
	rh.calls++;
	rh.status = resp->status;
	rh.streamed = resp->body_streamed;
	snprintf(rh.host, sizeof(rh.host), "%s", resp->host);
	snprintf(rh.request, sizeof(rh.request), "%s", resp->request);
	rh.head.len = rh.body.len = 0;
	msb_buf_append(&rh.head, resp->head, resp->head_len);
	if (resp->body_len)
		msb_buf_append(&rh.body, resp->body, resp->body_len);
	switch (rh.mode) {
	case 1:
		snprintf(act->reason, sizeof(act->reason), "DLP: card number");
		return MSB_HTTP_BLOCK;
	case 2:
		act->head = "HTTP/1.1 200 OK\r\nX-Scrubbed: 1\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n";
		act->head_len = strlen(act->head);
		/* fall through */
	case 3:
		act->body = (const uint8_t *)"redacted";
		act->body_len = 8;
		return MSB_HTTP_MODIFY;
	case 4:
		act->head = "not a head\r\n\r\n";
		act->head_len = strlen(act->head);
		return MSB_HTTP_MODIFY;
	case 5:
		act->body = (const uint8_t *)"x";
		act->body_len = 1;
		return MSB_HTTP_MODIFY;
	}
	return MSB_HTTP_FORWARD;
}

static void resp_setup(int mode)
{
	setup(GUARD_BLOCK);
	genv.on_http_response = resp_hook;
	rh.mode = mode;
	rh.calls = 0;
}

static void resp_done(void)
{
	genv.on_http_response = NULL;
	msb_buf_free(&rh.head);
	msb_buf_free(&rh.body);
	msb_vault_free(&vault);
}

/* Every framing, in any split: the hook sees the answer whole, scrubbed
 * (a value never), with its request; the guest gets it by its length. */
TEST(guard_response_hook_sees_each_answer_whole_and_scrubbed)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	static const struct {
		const char *req, *ans, *want;
		int eof;
	} c[] = {
		{ "GET /len?k=" PH_A " HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nX-Echo: real-A-value\r\n"
		  "Content-Length: 16\r\n\r\nkey=real-A-value",
		  "HTTP/1.1 200 OK\r\nX-Echo: " PH_A "\r\n"
		  "Content-Length: 52\r\n\r\nkey=" PH_A, 0 },
		{ "GET /chunked HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5\r\nreal-\r\n7\r\nA-value\r\n0\r\nX-T: 1\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\n" PH_A, 0 },
		{ "GET /close HTTP/1.0\r\nHost: api.example.com\r\n\r\n",
		  "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nreal-A-value!",
		  "HTTP/1.0 200 OK\r\nServer: x\r\nContent-Length: 49\r\n\r\n"
		  PH_A "!", 1 },
		{ "HEAD /head HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
		  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0 },
	};

	resp_setup(0);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		for (size_t step = 1; step <= strlen(c[i].ans); step += 5) {
			struct msb_buf guest = { 0 };

			rh.calls = 0;
			CHECK_EQ_INT(answer_of(&fi, c[i].req,
					       (const uint8_t *)c[i].ans,
					       strlen(c[i].ans), step, c[i].eof,
					       &guest),
				     0);
			if (!same(&guest, c[i].want))
				unit_fail(__FILE__, __LINE__, "%zu step %zu: '%.*s'",
					  i, step, (int)guest.len,
					  msb_buf_data(&guest));
			CHECK_EQ_INT(rh.calls, 1);
			CHECK_EQ_INT(rh.status, 200);
			CHECK_EQ_INT((int)rh.streamed, 0);
			CHECK(!holds(&rh.head, "real-A-value") &&
			      !holds(&rh.body, "real-A-value"));
			msb_buf_free(&guest);
		}
		CHECK(!strcmp(rh.host, "api.example.com"));
		CHECK(!strncmp(rh.request, c[i].req, strlen(rh.request)) &&
		      strstr(rh.request, " HTTP/1."));
	}
	/* what the hook saw: the head with CRLFs, the body decoded */
	CHECK(same(&rh.head, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"));
	CHECK_EQ_INT(rh.body.len, 0);
	/* without secrets, answers are framed for the hook all the same */
	msb_vault_free(&vault);
	{
		struct msb_buf guest = { 0 };

		CHECK_EQ_INT(answer_of(&fi, c[1].req, (const uint8_t *)c[1].ans,
				       strlen(c[1].ans), 3, 0, &guest),
			     0);
		CHECK(same(&guest, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
				   "real-A-value"));
		CHECK(same(&rh.body, "real-A-value"));
		msb_buf_free(&guest);
	}
	resp_done();
}

/* Blocked: our 403 and the end of the connection, nothing of the answer;
 * a new head and body, framed by the body's length; a head that is none,
 * or a body for an answer without one: 502. */
TEST(guard_response_hook_blocks_and_rewrites)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *get = "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
	const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n"
			  "card 4111 1111 1111";
	struct msb_buf guest = { 0 };

	resp_setup(1);
	CHECK_EQ_INT(answer_of(&fi, get, (const uint8_t *)ans, strlen(ans), 4,
			       0, &guest),
		     -EACCES);
	CHECK(holds(&guest, "HTTP/1.1 403 Forbidden\r\n") &&
	      holds(&guest, "msb: refused: DLP: card number") &&
	      !holds(&guest, "4111"));
	CHECK(strstr(logbuf, "on_http_response: answer from 198.51.100.2:443 "
			     "(Host 'api.example.com') to 'GET / HTTP/1.1' "
			     "blocked: DLP: card number"));
	msb_buf_free(&guest);

	rh.mode = 2;
	CHECK_EQ_INT(answer_of(&fi, get, (const uint8_t *)ans, strlen(ans), 4,
			       0, &guest),
		     0);
	CHECK(same(&guest, "HTTP/1.1 200 OK\r\nX-Scrubbed: 1\r\n"
			   "Content-Length: 8\r\n\r\nredacted"));
	msb_buf_free(&guest);

	rh.mode = 3; /* a chunked answer, a new body only */
	CHECK_EQ_INT(answer_of(&fi, get,
			       (const uint8_t *)"HTTP/1.1 201 Created\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n"
			       "3\r\nabc\r\n0\r\n\r\n",
			       65, 2, 0, &guest),
		     0);
	CHECK(same(&guest, "HTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n"
			   "redacted"));
	CHECK_EQ_INT(rh.status, 201);
	msb_buf_free(&guest);

	rh.mode = 4;
	CHECK_EQ_INT(answer_of(&fi, get, (const uint8_t *)ans, strlen(ans), 64,
			       0, &guest),
		     -EPROTO);
	CHECK(holds(&guest, "502 Bad Gateway") && !holds(&guest, "4111"));
	msb_buf_free(&guest);

	rh.mode = 5;
	CHECK_EQ_INT(answer_of(&fi, "HEAD / HTTP/1.1\r\nHost: api.example.com"
				    "\r\n\r\n",
			       (const uint8_t *)ans, 39, 64, 0, &guest),
		     -EPROTO);
	CHECK(holds(&guest, "502 Bad Gateway"));
	msb_buf_free(&guest);
	resp_done();
}

/* A body the server closes on before its end never goes; one over 8 MiB
 * is shown as its head and streamed (a new body for it: 502). */
TEST(guard_response_hook_cut_short_and_over_8_mib)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *get = "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
	size_t blen = 9u << 20;
	struct msb_buf guest = { 0 }, ans = { 0 }, dec = { 0 }, tr = { 0 };
	struct http1_chunks ch = { 0 };
	struct http1_resp r;
	char head[128];
	int done = 0, hl;

	resp_setup(0);
	CHECK_EQ_INT(answer_of(&fi, get,
			       (const uint8_t *)"HTTP/1.1 200 OK\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n5\r\nab",
			       52, 7, 1, &guest),
		     -EPIPE);
	if (!same(&guest, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: "
			  "text/plain\r\nContent-Length: 34\r\nConnection: "
			  "close\r\n\r\nmsb: refused: an answer cut short\n"))
		unit_fail(__FILE__, __LINE__, "'%.*s'", (int)guest.len,
			  msb_buf_data(&guest));
	CHECK_EQ_INT(rh.calls, 0);
	msb_buf_free(&guest);

	/* chunked, 9 MiB: the hook at 8 MiB, length unknown */
	msb_buf_append(&ans, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		       47);
	for (size_t i = 0; i < 9; i++) {
		static char mib[1 << 20];

		memset(mib, 'a' + (int)i, sizeof(mib));
		msb_buf_append(&ans, "100000\r\n", 8);
		msb_buf_append(&ans, mib, sizeof(mib));
		msb_buf_append(&ans, "\r\n", 2);
	}
	msb_buf_append(&ans, "0\r\n\r\n", 5);
	CHECK_EQ_INT(answer_of(&fi, get, msb_buf_data(&ans), ans.len, 65536, 0,
			       &guest),
		     0);
	CHECK_EQ_INT(rh.calls, 1);
	CHECK(rh.streamed == SIZE_MAX && rh.body.len == 0);
	CHECK_EQ_INT(http1_resp_head(msb_buf_data(&guest), guest.len, 0, &r), 1);
	CHECK(r.body == HTTP1_BODY_CHUNKED);
	CHECK(http1_chunks_decode(&ch, msb_buf_data(&guest) + r.head_len,
				  guest.len - r.head_len, &dec, &tr,
				  &done) == (long)(guest.len - r.head_len));
	CHECK(done && dec.len == blen);
	msb_buf_free(&guest);
	msb_buf_free(&ans);
	msb_buf_free(&dec);

	/* by length: shown with its length; a new body for it is refused */
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", blen);
	msb_buf_append(&ans, head, (size_t)hl);
	for (size_t i = 0; i < blen; i += 8)
		msb_buf_append(&ans, "abcdefgh", 8);
	rh.mode = 3;
	CHECK_EQ_INT(answer_of(&fi, get, msb_buf_data(&ans), ans.len, 65536, 0,
			       &guest),
		     -EPROTO);
	CHECK(rh.streamed == blen);
	CHECK(holds(&guest, "502 Bad Gateway") && !holds(&guest, "abcdefgh"));
	msb_buf_free(&guest);
	rh.mode = 0;
	CHECK_EQ_INT(answer_of(&fi, get, msb_buf_data(&ans), ans.len, 65536, 0,
			       &guest),
		     0);
	CHECK(holds(&guest, "Transfer-Encoding: chunked\r\n"));
	CHECK(guest.len > blen);
	msb_buf_free(&guest);
	msb_buf_free(&ans);
	msb_buf_free(&tr);
	resp_done();
}

/* --- the head observer (on_http_response_head) --------------------------- */

static struct {
	int calls, status, resp_calls_then;
	size_t len;
	char host[64], request[128];
	struct msb_buf head;
} ho;

static void head_observer(void *ctx, const struct msb_http_response *resp)
{
	(void)ctx;
	ho.calls++;
	ho.status = resp->status;
	ho.len = resp->body_streamed;
	ho.resp_calls_then = rh.calls;
	CHECK(resp->body == NULL && resp->body_len == 0);
	snprintf(ho.host, sizeof(ho.host), "%s", resp->host);
	snprintf(ho.request, sizeof(ho.request), "%s", resp->request);
	ho.head.len = 0;
	msb_buf_append(&ho.head, resp->head, resp->head_len);
}

/* Without values or a response hook, an answer is framed for the observer
 * but held nowhere: its head is seen as it comes, and the guest has each
 * piece of the body as it comes, byte for byte when it is by length. */
TEST(guard_head_observer_sees_heads_and_holds_nothing)
{
	struct msb_flow_info fi = info("api.example.com", 1);
	const char *get = "GET /big?x=1 HTTP/1.1\r\nHost: api.example.com"
			  "\r\n\r\n";
	const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
			  "0123456789abcdefghij";
	const char *chk = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked"
			  "\r\n\r\n5\r\nhello\r\n";
	const char *head_req = "HEAD /h HTTP/1.1\r\nHost: api.example.com"
			       "\r\n\r\n";
	const char *interim = "HTTP/1.1 100 Continue\r\n\r\n"
			      "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n";
	const char *echo = "HTTP/1.1 200 OK\r\nX-Echo: real-A-value\r\n"
			   "Content-Length: 2\r\n\r\nok";
	struct msb_buf up = { 0 }, host = { 0 }, guest = { 0 };
	size_t hl = strlen(ans) - 20;
	void *g;

	setup(GUARD_BLOCK);
	msb_vault_free(&vault);
	genv.on_http_response_head = head_observer;
	memset(&ho, 0, sizeof(ho));

	g = guard_new(&genv, &fi, 1);
	CHECK_EQ_INT(guard_filter.to_upstream(g, (const uint8_t *)get,
					      strlen(get), &up, &guest), 0);
	CHECK(same(&up, get));
	/* the head and half the body: seen, and the half is the guest's */
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)ans, hl - 3,
					   &host, &guest), 0);
	CHECK_EQ_INT(ho.calls, 0);
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)ans + hl - 3,
					   13, &host, &guest), 0);
	CHECK_EQ_INT(ho.calls, 1);
	CHECK_EQ_INT(ho.status, 200);
	CHECK(ho.len == 20);
	CHECK(!strcmp(ho.host, "api.example.com"));
	CHECK(!strcmp(ho.request, "GET /big?x=1 HTTP/1.1"));
	CHECK(same(&ho.head, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"));
	if (guest.len != hl + 10 || memcmp(msb_buf_data(&guest), ans, hl + 10))
		unit_fail(__FILE__, __LINE__, "'%.*s'", (int)guest.len,
			  msb_buf_data(&guest));
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)ans + hl + 10,
					   10, &host, &guest), 0);
	CHECK(same(&guest, ans));

	/* the next, chunked: seen at its head, length unknown; its first
	 * chunk is the guest's before the rest comes */
	guest.len = 0;
	CHECK_EQ_INT(guard_filter.to_upstream(g, (const uint8_t *)get,
					      strlen(get), &up, &guest), 0);
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)chk, strlen(chk),
					   &host, &guest), 0);
	CHECK_EQ_INT(ho.calls, 2);
	CHECK_EQ_INT(ho.status, 201);
	CHECK(ho.len == SIZE_MAX);
	CHECK(holds(&guest, "201 Created") && holds(&guest, "hello"));
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)"0\r\n\r\n", 5,
					   &host, &guest), 0);
	CHECK(holds(&guest, "0\r\n\r\n"));

	/* an interim answer is not shown, its final one is; HEAD: none */
	guest.len = 0;
	CHECK_EQ_INT(guard_filter.to_upstream(g, (const uint8_t *)head_req,
					      strlen(head_req), &up, &guest),
		     0);
	CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)interim,
					   strlen(interim), &host, &guest),
		     0);
	CHECK_EQ_INT(ho.calls, 3);
	CHECK(ho.len == 0);
	CHECK(!strcmp(ho.request, "HEAD /h HTTP/1.1"));
	CHECK(same(&guest, interim));
	CHECK_EQ_INT(host.len, 0);
	guard_filter.close(g);
	msb_buf_free(&up);
	msb_buf_free(&guest);

	/* with secrets and a response hook: the observer sees the head
	 * scrubbed, as the server sent it, before the hook is asked */
	resp_setup(2);
	genv.on_http_response_head = head_observer;
	ho.calls = 0;
	CHECK_EQ_INT(answer_of(&fi, get, (const uint8_t *)echo, strlen(echo),
			       4, 0, &guest),
		     0);
	CHECK_EQ_INT(ho.calls, 1);
	CHECK_EQ_INT(ho.resp_calls_then, 0);
	CHECK_EQ_INT(rh.calls, 1);
	CHECK(holds(&ho.head, "X-Echo: " PH_A) &&
	      !holds(&ho.head, "real-A-value"));
	CHECK(holds(&guest, "X-Scrubbed: 1") && holds(&guest, "redacted"));
	msb_buf_free(&guest);
	genv.on_http_response_head = NULL;
	msb_buf_free(&ho.head);
	resp_done();
}
