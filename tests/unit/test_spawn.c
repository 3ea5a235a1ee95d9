/* SPDX-License-Identifier: Apache-2.0 */
/* test_spawn.c - a guest's peer requests as the supervisor checks them
 * (src/supervisor/spawnreq.c, docs/spawn.md) */

#include "../../src/supervisor/spawnreq.c"

#include "harness.h"

/* parse() - @text as a PEER payload: the rebuilt request's JSON, or
 * "!" and why it was refused. */
static const char *parse(const char *text)
{
	static char out[2048];
	json_object *o;
	char why[512];

	if (spawn_req_parse((const uint8_t *)text, strlen(text), &o, why,
			    sizeof(why)) < 0) {
		CHECK(o == NULL);
		snprintf(out, sizeof(out), "!%s", why);
		return out;
	}
	snprintf(out, sizeof(out), "%s",
		 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

TEST(spawnreq_verbs_rebuilt)
{
	CHECK_STR(parse("{\"op\":\"start\",\"name\":\"coder\",\"net_deny_all\":true,"
			"\"cpus\":2,\"memory\":\"256M\"}"),
		  "{\"op\":\"start\",\"name\":\"coder\",\"net_deny_all\":true,"
		  "\"cpus\":2,\"memory\":\"256M\"}");
	CHECK_STR(parse("{\"name\":\"c\",\"op\":\"exec\",\"argv\":[\"sh\",\"-c\","
			"\"echo hi\"],\"env\":[\"A=1\"],\"workdir\":\"/tmp\"}"),
		  "{\"op\":\"exec\",\"name\":\"c\",\"argv\":[\"sh\",\"-c\",\"echo hi\"],"
		  "\"env\":[\"A=1\"],\"workdir\":\"/tmp\"}");
	CHECK_STR(parse("{\"op\":\"exec\",\"name\":\"c\",\"argv\":[\"cat\"],"
			"\"stdin\":true,\"tty\":true,\"rows\":40,\"cols\":120}"),
		  "{\"op\":\"exec\",\"name\":\"c\",\"argv\":[\"cat\"],"
		  "\"stdin\":true,\"tty\":true,\"rows\":40,\"cols\":120}");
	CHECK_STR(parse("{\"op\":\"cp_in\",\"name\":\"c\",\"path\":\"/tmp/\","
			"\"user\":\"1000\",\"contents\":true}"),
		  "{\"op\":\"cp_in\",\"name\":\"c\",\"path\":\"/tmp/\","
		  "\"user\":\"1000\",\"contents\":true}");
	CHECK_STR(parse("{\"op\":\"cp_out\",\"name\":\"c\",\"path\":\"f\","
			"\"raw\":true}"),
		  "{\"op\":\"cp_out\",\"name\":\"c\",\"path\":\"f\","
		  "\"raw\":true}");
	CHECK_STR(parse("{\"op\":\"snapshot\",\"name\":\"c\",\"snapshot\":\"s1\"}"),
		  "{\"op\":\"snapshot\",\"name\":\"c\",\"snapshot\":\"s1\"}");
	CHECK_STR(parse("{\"op\":\"restore\",\"snapshot\":\"s1\",\"name\":\"d\"}"),
		  "{\"op\":\"restore\",\"snapshot\":\"s1\",\"name\":\"d\"}");
	CHECK_STR(parse("{\"op\":\"snapshot_rm\",\"snapshot\":\"s1\"}"),
		  "{\"op\":\"snapshot_rm\",\"snapshot\":\"s1\"}");
	CHECK_STR(parse("{\"op\":\"snapshot_ls\"}"), "{\"op\":\"snapshot_ls\"}");
	CHECK_STR(parse("{\"op\":\"ps\"}"), "{\"op\":\"ps\"}");
	CHECK_STR(parse("{\"op\":\"rm\",\"name\":\"x.y-z_1\"}"),
		  "{\"op\":\"rm\",\"name\":\"x.y-z_1\"}");
	CHECK_STR(parse("{\"op\":\"start\",\"name\":\"r\",\"secrets\":[{\"env\":\"K\","
			"\"placeholder\":\"msb_placeholder_00\",\"hosts\":\"a.com\"}]}"),
		  "{\"op\":\"start\",\"name\":\"r\",\"secrets\":[{\"env\":\"K\","
		  "\"placeholder\":\"msb_placeholder_00\",\"hosts\":\"a.com\"}]}");
}

TEST(spawnreq_refusals)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "", "one JSON object" },
		{ "[1]", "one JSON object" },
		{ "{\"op\":\"ps\"} x", "one JSON object" },
		{ "{\"op\":\"ps\"}\n{}", "one JSON object" },
		{ "{\"name\":\"a\"}", "needs an \"op\"" },
		{ "{\"op\":\"attach\",\"name\":\"a\"}", "unknown peer request" },
		{ "{\"op\":\"snapshot\",\"name\":\"a\"}", "'snapshot' is required" },
		{ "{\"op\":\"snapshot\",\"name\":\"a\",\"snapshot\":\"../s\"}",
		  "invalid snapshot" },
		{ "{\"op\":\"restore\",\"snapshot\":\"s\"}", "'name' is required" },
		{ "{\"op\":\"cp_in\",\"name\":\"a\"}", "'path' is required" },
		{ "{\"op\":\"cp_out\",\"name\":\"a\",\"path\":\"\"}", "invalid path" },
		{ "{\"op\":\"cp_out\",\"name\":\"a\",\"path\":\"/x\",\"argv\":[\"x\"]}",
		  "unknown field 'argv'" },
		{ "{\"op\":\"exec\",\"name\":\"a\",\"argv\":[\"x\"],\"rows\":0}",
		  "invalid rows" },
		{ "{\"op\":\"exec\",\"name\":\"a\",\"argv\":[\"x\"],\"stdin\":1}",
		  "invalid stdin" },
		{ "{\"op\":\"snapshot_rm\",\"snapshot\":\"s\",\"name\":\"a\"}",
		  "unknown field 'name'" },
		{ "{\"op\":\"start\"}", "'name' is required" },
		{ "{\"op\":\"exec\",\"name\":\"a\"}", "'argv' is required" },
		{ "{\"op\":\"exec\",\"name\":\"a\",\"argv\":[]}", "invalid argv" },
		{ "{\"op\":\"exec\",\"name\":\"a\",\"argv\":[1]}", "invalid argv" },
		{ "{\"op\":\"start\",\"name\":\"-a\"}", "invalid name" },
		{ "{\"op\":\"start\",\"name\":\"../a\"}", "invalid name" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"volumes\":[\"/:/h\"]}",
		  "unknown field 'volumes'" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"cpus\":0}", "invalid cpus" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"cpus\":\"2\"}", "invalid cpus" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"env\":[\"=x\"]}", "invalid env" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"image\":\"a\\nb\"}",
		  "invalid image" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"secrets\":[{\"env\":\"K\"}]}",
		  "invalid secrets" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"secrets\":[{\"env\":\"1K\","
		  "\"placeholder\":\"p\"}]}", "invalid secrets" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"secrets\":[{\"env\":\"K\","
		  "\"placeholder\":\"p\",\"value\":\"v\"}]}", "invalid secrets" },
		{ "{\"op\":\"exec\",\"name\":\"a\",\"argv\":[\"x\"],\"workdir\":\"rel\"}",
		  "invalid workdir" },
		{ "{\"op\":\"ps\",\"json\":1}", "invalid json" },
		{ "{\"op\":\"start\",\"name\":\"a\",\"net_allow\":[[[[[[[1]]]]]]]}",
		  "one JSON object" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = parse(cases[i].in);

		CHECK(got[0] == '!');
		CHECK_CONTAINS(got, cases[i].why);
	}
}

TEST(spawn_hosts_no_wider)
{
	CHECK(spawn_host_covers("api.test", "api.test"));
	CHECK(spawn_host_covers("API.test", "api.TEST"));
	CHECK(spawn_host_covers("*.api.test", "v2.api.test"));
	CHECK(spawn_host_covers("*.api.test", "a.b.api.test"));
	CHECK(spawn_host_covers("*.api.test", "*.v2.api.test"));
	CHECK(!spawn_host_covers("*.api.test", "api.test"));
	CHECK(!spawn_host_covers("*.api.test", "*.test"));
	CHECK(!spawn_host_covers("*.api.test", "evilapi.test"));
	CHECK(!spawn_host_covers("api.test", "v2.api.test"));
	CHECK(!spawn_host_covers("api.test", "*.api.test"));
	CHECK(!spawn_host_covers("*.", "a."));
}

/* rec() - an archive record of @type for @name (and @link). */
static size_t rec(uint8_t *b, int type, unsigned mode, const char *name,
		  const char *link)
{
	size_t nl = strlen(name), n = 7 + nl;

	b[0] = (uint8_t)type;
	msb_put_be32(b + 1, mode);
	b[5] = (uint8_t)(nl >> 8);
	b[6] = (uint8_t)nl;
	memcpy(b + 7, name, nl);
	if (link) {
		b[n] = (uint8_t)(strlen(link) >> 8);
		b[n + 1] = (uint8_t)strlen(link);
		memcpy(b + n + 2, link, strlen(link));
		n += 2 + strlen(link);
	}
	return n;
}

TEST(spawn_copy_archive_records)
{
	uint8_t b[256];
	struct spawn_pcp r;
	size_t n;

	n = rec(b, 'D', 0100755, "tree", NULL);
	CHECK(spawn_pcp_rec(b, n, 1, &r) == (int)n);
	CHECK(r.type == MSB_PCP_DIR && r.mode == 0755 && r.name_len == 4);
	CHECK(spawn_pcp_rec(b, n - 1, 1, &r) == 0); /* more to come */
	CHECK(spawn_pcp_rec(b, 6, 1, &r) == 0);
	n = rec(b, 'L', 0777, "sub/link", "../a");
	CHECK(spawn_pcp_rec(b, n, 0, &r) == (int)n);
	CHECK(r.link_len == 4 && !memcmp(r.link, "../a", 4));
	CHECK(spawn_pcp_rec(b, n - 2, 0, &r) == 0);
	n = rec(b, 'E', 0, "", NULL);
	CHECK(spawn_pcp_rec(b, n, 0, &r) == 7 && r.type == MSB_PCP_END);
	/* names that would leave the destination, and bad records */
	static const struct {
		int type, root;
		const char *name, *link;
	} bad[] = {
		{ 'F', 0, "../x", NULL }, { 'F', 0, "/etc/x", NULL },
		{ 'D', 0, "a/../../x", NULL }, { 'F', 0, "a//b", NULL },
		{ 'F', 0, "", NULL },	    { 'F', 1, "a/b", NULL },
		{ 'F', 1, "..", NULL },	    { 'L', 1, "/", "x" },
		{ 'L', 0, "l", "" },	    { 'E', 0, "x", NULL },
		{ 'X', 0, "x", NULL },	    { 'D', 1, "", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = rec(b, bad[i].type, 0644, bad[i].name, bad[i].link);
		CHECK(spawn_pcp_rec(b, n, bad[i].root, &r) == -1);
	}
	n = rec(b, 'D', 0755, "/", NULL); /* a directory's contents */
	CHECK(spawn_pcp_rec(b, n, 1, &r) == (int)n);
	n = rec(b, 'F', 0644, "axb", NULL);
	b[8] = 0;
	CHECK(spawn_pcp_rec(b, n, 0, &r) == -1);
}

/* The writer both sides use gives what the reader takes, up to the
 * format's longest names and no further. */
TEST(spawn_copy_archive_writer)
{
	static uint8_t b[MSB_PCP_REC_MAX], w[MSB_PCP_REC_MAX];
	static char name[MSB_PCP_NAME_MAX + 2], link[MSB_PCP_NAME_MAX + 2];
	struct spawn_pcp r;
	size_t n;

	n = msb_pcp_rec(w, MSB_PCP_DIR, 0100755, "tree", NULL);
	CHECK(n == rec(b, 'D', 0755, "tree", NULL) && !memcmp(w, b, n));
	n = msb_pcp_rec(w, MSB_PCP_LINK, 0777, "sub/link", "../a");
	CHECK(n == rec(b, 'L', 0777, "sub/link", "../a") && !memcmp(w, b, n));
	CHECK(spawn_pcp_rec(w, n, 0, &r) == (int)n && r.link_len == 4);
	/* a link's target is written only for a link */
	n = msb_pcp_rec(w, MSB_PCP_FILE, 0644, "f", "ignored");
	CHECK(n == 8 && spawn_pcp_rec(w, n, 0, &r) == 8);
	n = msb_pcp_rec(w, MSB_PCP_END, 0, "", NULL);
	CHECK(n == 7 && spawn_pcp_rec(w, n, 0, &r) == 7 &&
	      r.type == MSB_PCP_END);
	/* the longest name and target: a full record */
	for (size_t i = 0; i < MSB_PCP_NAME_MAX; i++) {
		name[i] = i % 2 ? '/' : 'a';
		link[i] = 'b';
	}
	name[MSB_PCP_NAME_MAX] = link[MSB_PCP_NAME_MAX] = '\0';
	n = msb_pcp_rec(w, MSB_PCP_LINK, 0777, name, link);
	CHECK_EQ_INT(n, MSB_PCP_REC_MAX);
	CHECK(spawn_pcp_rec(w, n, 0, &r) == (int)n &&
	      r.name_len == MSB_PCP_NAME_MAX && r.link_len == MSB_PCP_NAME_MAX);
	/* a byte more of either is refused, not cut */
	name[MSB_PCP_NAME_MAX] = 'a';
	CHECK_EQ_INT(msb_pcp_rec(w, MSB_PCP_FILE, 0644, name, NULL), 0);
	name[MSB_PCP_NAME_MAX] = '\0';
	link[MSB_PCP_NAME_MAX] = 'b';
	CHECK_EQ_INT(msb_pcp_rec(w, MSB_PCP_LINK, 0777, name, link), 0);
}
