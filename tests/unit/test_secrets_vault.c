/* SPDX-License-Identifier: Apache-2.0 */
/* test_secrets_vault.c - secrets as the C API gives them, recorded, sealed
 * for the supervisor and read back into its vault (src/secrets/) */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "msb.h"
#include "secrets.h"
#include "util.h"

static int parse(const char *spec, msb_secret *s, char *buf, size_t n,
		 msb_error *err)
{
	snprintf(buf, n, "%s", spec);
	return msb_secret_parse(buf, s, err);
}

TEST(secret_parse_in_place)
{
	char buf[256];
	msb_secret s;
	msb_error err = { 0 };

	CHECK_EQ_INT(parse("K=@env:V:a.com,*.b.org", &s, buf, sizeof(buf), &err), 0);
	CHECK(!strcmp(s.env, "K") && s.source == MSB_SECRET_ENV &&
	      !strcmp(s.ref, "V") && !strcmp(s.hosts, "a.com,*.b.org"));
	/* a path may hold ':'; the hosts follow the last one */
	CHECK_EQ_INT(parse("T=@file:/x:y/z:h.io", &s, buf, sizeof(buf), &err), 0);
	CHECK(s.source == MSB_SECRET_FILE && !strcmp(s.ref, "/x:y/z") &&
	      !strcmp(s.hosts, "h.io"));
	const char *bad[] = { "K", "K=v", "=@env:V:h", "K=@env:V", "K=@env",
			      "K=@val:V:h", "K=@env::" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i], &s, buf, sizeof(buf), &err);

		if (r != -EINVAL || !strstr(err.message, "NAME=@env:VAR:HOST"))
			unit_fail(__FILE__, __LINE__, "'%s' taken (%d)", bad[i], r);
	}
}

TEST(secret_record_checks_and_placeholders)
{
	msb_secret s[2] = {
		{ "A", MSB_SECRET_ENV, "UNIT_SECRET_A", "API.Example.com,*.x.org", NULL },
		{ "B", MSB_SECRET_VALUE, "v", "b.io", NULL },
	};
	msb_error err = { 0 };
	json_object *j;
	const char *p0, *p1;

	CHECK_EQ_INT(msb_secrets_json(s, 2, &j, &err), 0);
	if (!j)
		return;
	p0 = json_object_get_string(json_object_object_get(
		json_object_array_get_idx(j, 0), "placeholder"));
	p1 = json_object_get_string(json_object_object_get(
		json_object_array_get_idx(j, 1), "placeholder"));
	CHECK(strlen(p0) == MSB_PLACEHOLDER_LEN && !strncmp(p0, "msb_placeholder_", 16));
	CHECK(strcmp(p0, p1) != 0);
	/* hosts are lowercased; a value is never recorded */
	CHECK(!strcmp(json_object_get_string(json_object_array_get_idx(
			      json_object_object_get(json_object_array_get_idx(j, 0),
						     "hosts"), 0)),
		      "api.example.com"));
	CHECK(!json_object_object_get(json_object_array_get_idx(j, 1), "ref"));
	json_object_put(j);

	struct { msb_secret s; const char *why; } bad[] = {
		{ { "1A", MSB_SECRET_ENV, "V", "h.io", NULL }, "not an environment variable name" },
		{ { "A", MSB_SECRET_ENV, "V", "", NULL }, "is not a host name" },
		{ { "A", MSB_SECRET_ENV, "V", "h x.io", NULL }, "is not a host name" },
		{ { "A", MSB_SECRET_ENV, "V", "*.*.io", NULL }, "is not a host name" },
		{ { "A", MSB_SECRET_VALUE, "v", "a:b", NULL }, "is not a host name" },
		{ { "A", MSB_SECRET_ENV, "", "h.io", NULL }, "has no source" },
		{ { "A", MSB_SECRET_FILE, "/nonexistent/x", "h.io", NULL }, "cannot read" },
		{ { "A", MSB_SECRET_ENV, "V", "h.io", "cookie" }, "is not a place its value can go" },
		{ { "A", MSB_SECRET_ENV, "V", "h.io", "query,,body" }, "is not a place" },
		{ { "A", MSB_SECRET_ENV, "V", "h.io", "header:a b" }, "is not a header name" },
		{ { "A", MSB_SECRET_ENV, "V", "h.io", "header:" }, "is not a place" },
		{ { "A", MSB_SECRET_ENV, "V", "h.io", "header:Host" }, "never carries a value" },
		{ { "A", MSB_SECRET_ENV, "V", "h.io", "header:content-length" }, "never carries a value" },
		{ { "A", MSB_SECRET_ENV, "V", "h.io", "header:a,header:b,header:c,header:d,header:e,header:f,header:g,header:h,header:i" }, "more than 8 headers" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = msb_secrets_json(&bad[i].s, 1, &j, &err);

		if (r >= 0 || j || !strstr(err.message, bad[i].why))
			unit_fail(__FILE__, __LINE__, "case %zu: %d '%s'", i, r,
				  err.message);
	}
	msb_secret twice[2] = { s[0], s[0] };
	CHECK(msb_secrets_json(twice, 2, &j, &err) < 0 &&
	      strstr(err.message, "given twice"));
}

TEST(secret_sealed_into_the_vault)
{
	char dir[256], path[300];
	msb_secret s[3] = {
		{ "A", MSB_SECRET_ENV, "UNIT_SECRET_A", "api.example.com,*.x.org",
		  "header:X-Api-Key,query,Body" },
		{ "B", MSB_SECRET_FILE, path, "b.io", NULL },
		{ "C", MSB_SECRET_VALUE, "va\"lue\\c", "c.io", "" },
	};
	msb_error err = { 0 };
	struct msb_vault v;
	json_object *j;
	int fd, low;
	size_t at = 0;

	if (unit_tmpdir(dir, sizeof(dir)) < 0)
		return;
	snprintf(path, sizeof(path), "%s/tok", dir);
	msb_write_file(path, "file-value\n", 11, 0600);
	setenv("UNIT_SECRET_A", "env-value", 1);
	low = unit_lowest_fd();
	CHECK_EQ_INT(msb_secrets_json(s, 3, &j, &err), 0);
	CHECK_EQ_INT(msb_secrets_seal(j, s, 3, &fd, &err), 0);
	CHECK(fd >= 0);
	CHECK_EQ_INT(msb_vault_load(&v, j, fd, &err), 0);
	CHECK_EQ_INT(unit_lowest_fd(), low); /* the memfd is closed */
	CHECK_EQ_INT(v.n, 3);
	CHECK(!strcmp(v.s[0].value, "env-value") && v.s[0].len == 9);
	CHECK(!strcmp(v.s[1].value, "file-value")); /* line break dropped */
	CHECK(!strcmp(v.s[2].value, "va\"lue\\c"));
	CHECK(secret_host_allowed(&v.s[0].spec, "api.example.com"));
	CHECK(secret_host_allowed(&v.s[0].spec, "a.b.x.org"));
	CHECK(!secret_host_allowed(&v.s[0].spec, "x.org"));
	CHECK(!secret_host_allowed(&v.s[0].spec, "evilx.org"));
	CHECK(!secret_host_allowed(&v.s[0].spec, "api.example.com.evil.io"));
	/* where each value may go: as given, Authorization by default */
	CHECK(v.s[0].spec.places == (SECRET_IN_AUTH | SECRET_IN_HEADER |
				     SECRET_IN_QUERY | SECRET_IN_BODY));
	CHECK_STR(v.s[0].spec.headers, "x-api-key");
	CHECK(v.s[1].spec.places == SECRET_IN_AUTH && !v.s[1].spec.headers[0]);
	CHECK(v.s[2].spec.places == SECRET_IN_AUTH);
	{
		json_object *in = json_object_object_get(
			json_object_array_get_idx(j, 0), "inject");

		CHECK(!strcmp(json_object_to_json_string_ext(
				      in, JSON_C_TO_STRING_PLAIN),
			      "[\"authorization\",\"header:x-api-key\","
			      "\"query\",\"body\"]"));
	}
	/* the scrub knows every value */
	{
		const struct scrub *set = &v.scrub;
		const char *in = "a=env-value&b=va%22lue%5Cc&c=file-value";
		struct msb_buf out = { 0 };
		char want[256];

		CHECK_EQ_INT(scrub_run(&set, 1, (const uint8_t *)in, strlen(in),
				       1, &out, NULL),
			     (long)strlen(in));
		snprintf(want, sizeof(want), "a=%s&b=%s&c=%s", v.s[0].placeholder,
			 v.s[2].placeholder, v.s[1].placeholder);
		CHECK(out.len == strlen(want) &&
		      !memcmp(msb_buf_data(&out), want, out.len));
		msb_buf_free(&out);
	}
	msb_vault_free(&v);
	/* a record made before places existed: Authorization only */
	for (size_t i = 0; i < 3; i++)
		json_object_object_del(json_object_array_get_idx(j, i), "inject");
	CHECK_EQ_INT(msb_secrets_seal(j, s, 3, &fd, &err), 0);
	CHECK_EQ_INT(msb_vault_load(&v, j, fd, &err), 0);
	CHECK(v.s[0].spec.places == SECRET_IN_AUTH && !v.s[0].spec.headers[0]);
	msb_vault_free(&v);
	/* an edited one is refused */
	json_object_object_add(json_object_array_get_idx(j, 0), "inject",
			       json_tokener_parse("[\"header:Host\"]"));
	CHECK_EQ_INT(msb_secrets_seal(j, s, 3, &fd, &err), 0);
	CHECK(msb_vault_load(&v, j, fd, &err) < 0 &&
	      strstr(err.message, "recreate the sandbox"));
	json_object_object_add(json_object_array_get_idx(j, 0), "inject",
			       json_tokener_parse("[\"query,body\"]"));
	CHECK_EQ_INT(msb_secrets_seal(j, s, 3, &fd, &err), 0);
	CHECK(msb_vault_load(&v, j, fd, &err) < 0);
	json_object_object_del(json_object_array_get_idx(j, 0), "inject");
	CHECK_EQ_INT(msb_secrets_seal(j, s, 3, &fd, &err), 0);
	CHECK_EQ_INT(msb_vault_load(&v, j, fd, &err), 0);
	{
		char req[200];

		snprintf(req, sizeof(req), "Authorization: Bearer %s\r\n",
			 v.s[1].placeholder);
		CHECK(msb_vault_find(&v, req, strlen(req), &at) == &v.s[1]);
		CHECK_EQ_INT(at, 22);
		/* a cut placeholder is not one */
		CHECK(!msb_vault_find(&v, req, 22 + MSB_PLACEHOLDER_LEN - 1, &at));
	}
	msb_vault_free(&v);

	/* at a start: a value given through the C API is kept nowhere */
	CHECK(msb_secrets_seal(j, NULL, 0, &fd, &err) == -ENOKEY &&
	      strstr(err.message, "create it again"));
	/* a value that would split a header line is refused */
	setenv("UNIT_SECRET_A", "a\r\nX-Evil: 1", 1);
	CHECK(msb_secrets_seal(j, s, 3, &fd, &err) < 0 &&
	      strstr(err.message, "no NUL, CR or LF") && fd < 0);
	unsetenv("UNIT_SECRET_A");
	CHECK(msb_secrets_seal(j, s, 3, &fd, &err) == -ENOENT &&
	      strstr(err.message, "variable UNIT_SECRET_A is not set"));
	/* a supervisor started without the values refuses to run */
	CHECK(msb_vault_load(&v, j, -1, &err) < 0 &&
	      strstr(err.message, "without their values"));
	json_object_put(j);
	msb_rm_rf(dir);
}

TEST(secret_sandboxes_keep_default_denied_ranges_closed)
{
	const char *ok[] = { "198.51.100.0/24", "2001:db8::/32", "8.8.8.8", NULL };
	const char *bad[][2] = {
		{ "169.254.0.0/16", "169.254.169.254" },
		{ "10.0.0.0/8", "10.0.0.1" },
		{ "0.0.0.0/0", "127.0.0.1" },
		{ "128.0.0.0/1", "172.16.0.1" },
		{ "169.254.169.254/32", "169.254.169.254" },
		{ "fd00::/8", "fd00:ec2::254" },
		{ "::/0", "::1" },
	};
	msb_net_config nc = { 0 };
	msb_error err = { 0 };

	nc.allow_cidr = ok;
	CHECK_EQ_INT(msb_secrets_net_check(&nc, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *one[] = { bad[i][0], NULL };

		nc.allow_cidr = one;
		if (msb_secrets_net_check(&nc, &err) != MSB_E_POLICY ||
		    !strstr(err.message, bad[i][1]))
			unit_fail(__FILE__, __LINE__, "%s: '%s'", bad[i][0],
				  err.message);
	}
}
