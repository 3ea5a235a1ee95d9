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

#define PH_A "msb_placeholder_0123456789abcdef0123456789abcdef"
#define PH_B "msb_placeholder_fedcba9876543210fedcba9876543210"

static char logbuf[4096];

static void logger(void *ctx, const char *line)
{
	(void)ctx;
	snprintf(logbuf + strlen(logbuf), sizeof(logbuf) - strlen(logbuf),
		 "%s\n", line);
}

static void vault_add(struct msb_vault *v, const char *spec, const char *ph,
		      const char *value)
{
	struct msb_vault_secret *s = &v->s[v->n++];
	msb_error err;

	CHECK_EQ_INT(secret_spec_parse(spec, &s->spec, &err), 0);
	strcpy(s->placeholder, ph);
	s->value = strdup(value);
	s->len = strlen(value);
}

static struct msb_vault vault;
static struct guard_env genv;

static void setup(enum guard_mode mode)
{
	msb_vault_free(&vault);
	vault_add(&vault, "A=@env:X:api.example.com,*.example.org", PH_A,
		  "real-A-value");
	vault_add(&vault, "B=@env:Y:other.example.net", PH_B, "real-B-value");
	genv = (struct guard_env){ &vault, mode, logger, NULL, NULL };
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
			 "X-A: " PH_A "\r\n\r\n";
	char req[512];

	setup(GUARD_BLOCK);
	/* a good request, then one that also carries B's placeholder in
	 * its body: the first goes out rewritten, the second is refused */
	snprintf(req, sizeof(req),
		 "%sPOST / HTTP/1.1\r\nHost: api.example.com\r\n"
		 "Content-Length: 48\r\n\r\n" PH_B, ok);
	CHECK_EQ_INT(run(&fi, 1, req, 7, &out, &reply), -EACCES);
	CHECK(holds(&out, "X-A: real-A-value\r\n"));
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
	/* the answers go to the guest untouched */
	{
		void *g = guard_new(&genv, &fi, 0);

		CHECK_EQ_INT(guard_filter.to_guest(g, (const uint8_t *)"HTTP/1.1 200", 12,
						   &reply, &out),
			     0);
		CHECK(out.len == 12 && reply.len == 0);
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
		if (out.len > blen + strlen(next))
			CHECK(!memcmp(o + out.len - strlen(next) -
					      (strlen("real-A-value") -
					       strlen(PH_A)) - blen,
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
