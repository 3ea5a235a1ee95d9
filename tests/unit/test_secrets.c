/* SPDX-License-Identifier: Apache-2.0 */
/* test_secrets.c - secret specs, values read at start, placeholders */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "spec.h"
#include "util.h"

TEST(secrets_spec_parse_env_and_file)
{
	struct secret_spec s;
	msb_error err = { 0 };

	CHECK_EQ_INT(secret_spec_parse("API_KEY=@env:MY_KEY:api.example.com,*.Corp.io",
				       &s, &err), 0);
	CHECK_STR(s.name, "API_KEY");
	CHECK(s.source == SECRET_ENV);
	CHECK_STR(s.ref, "MY_KEY");
	CHECK_EQ_INT(s.nhosts, 2);
	CHECK_STR(s.hosts[1], "*.corp.io");
	CHECK(secret_host_allowed(&s, "api.example.com"));
	CHECK(secret_host_allowed(&s, "x.y.corp.io"));
	CHECK(!secret_host_allowed(&s, "corp.io"));
	CHECK(!secret_host_allowed(&s, "evilcorp.io"));
	CHECK(!secret_host_allowed(&s, "api.example.com.evil.net"));
	CHECK(!secret_host_allowed(&s, "xapi.example.com"));

	/* a path may hold ':'; the hosts follow the last one */
	CHECK_EQ_INT(secret_spec_parse("T=@file:/run/a:b/tok:h.io", &s, &err), 0);
	CHECK(s.source == SECRET_FILE);
	CHECK_STR(s.ref, "/run/a:b/tok");
	CHECK_EQ_INT(s.nhosts, 1);
}

TEST(secrets_spec_parse_refuses_values_and_bad_hosts)
{
	static const char *const bad[] = {
		"K=hunter2", "K=@env:V", "K=@env::h.io", "=@env:V:h.io",
		"1K=@env:V:h.io", "K-1=@env:V:h.io", "K=@env:V:", "K=@env:V:h.io,",
		"K=@env:V:*", "K=@env:V:a..b", "K=@env:V:h.io/x", "K=@vault:V:h.io",
		"K=@env:V:*.*.io",
	};
	struct secret_spec s;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		msb_error err = { 0 };

		if (secret_spec_parse(bad[i], &s, &err) != -EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
		CHECK_CONTAINS(err.message, "secret");
	}
	{
		msb_error err = { 0 };

		/* The message says how to write it, never echoing a value. */
		CHECK_EQ_INT(secret_spec_parse("K=hunter2", &s, &err), -EINVAL);
		CHECK_CONTAINS(err.message, "@env:VAR");
		CHECK(!strstr(err.message, "hunter2"));
	}
}

TEST(secrets_read_env_and_file_at_start)
{
	char dir[256], path[300], spec[400];
	struct secret_spec s;
	msb_error err = { 0 };
	char *v = NULL;

	setenv("MSB_TEST_SECRET_V", "tok-123", 1);
	CHECK_EQ_INT(secret_spec_parse("K=@env:MSB_TEST_SECRET_V:h.io", &s, &err), 0);
	CHECK_EQ_INT(secret_read(&s, &v, &err), 0);
	if (v)
		CHECK_STR(v, "tok-123");
	secret_wipe(v);
	unsetenv("MSB_TEST_SECRET_V");
	CHECK_EQ_INT(secret_read(&s, &v, &err), -ENOENT);
	CHECK(v == NULL);

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(path, sizeof(path), "%s/tok", dir);
	snprintf(spec, sizeof(spec), "K=@file:%s:h.io", path);
	CHECK_EQ_INT(secret_spec_parse(spec, &s, &err), 0);
	CHECK_EQ_INT(secret_read(&s, &v, &err), -ENOENT);
	msb_write_file(path, "from-file\n", 10, 0600);
	CHECK_EQ_INT(secret_read(&s, &v, &err), 0);
	if (v)
		CHECK_STR(v, "from-file");
	secret_wipe(v);
	/* re-read at every start: a changed file gives the new value */
	msb_write_file(path, "rotated", 7, 0600);
	CHECK_EQ_INT(secret_read(&s, &v, &err), 0);
	if (v)
		CHECK_STR(v, "rotated");
	secret_wipe(v);
	/* values that could split a header are refused */
	msb_write_file(path, "a\r\nX: b", 7, 0600);
	CHECK_EQ_INT(secret_read(&s, &v, &err), -EINVAL);
	msb_write_file(path, "a\0b", 3, 0600);
	CHECK_EQ_INT(secret_read(&s, &v, &err), -EINVAL);
	msb_write_file(path, "\n", 1, 0600);
	CHECK_EQ_INT(secret_read(&s, &v, &err), -EINVAL);
	CHECK(v == NULL);
	msb_rm_rf(dir);
}

TEST(secrets_placeholders_random_and_well_formed)
{
	char a[SECRET_PLACEHOLDER_LEN + 1], b[SECRET_PLACEHOLDER_LEN + 1];

	CHECK_EQ_INT(secret_placeholder(a, sizeof(a)), 0);
	CHECK_EQ_INT(secret_placeholder(b, sizeof(b)), 0);
	CHECK_EQ_INT(strlen(a), SECRET_PLACEHOLDER_LEN);
	CHECK_EQ_INT(strncmp(a, "msb_placeholder_", 16), 0);
	CHECK_EQ_INT(strspn(a + 16, "0123456789abcdef"), 32);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ_INT(secret_placeholder(a, SECRET_PLACEHOLDER_LEN), -ENOSPC);
}
