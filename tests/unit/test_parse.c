/* SPDX-License-Identifier: Apache-2.0 */
/* test_parse.c - sandbox names and memory sizes as users type them */

#include <errno.h>
#include <string.h>

#include "harness.h"
#include "msb.h"

static void name_ok(const char *name, int line)
{
	msb_error err = { 0 };
	int r = msb_name_valid(name, &err);

	if (r != 0)
		unit_fail(__FILE__, line, "name '%s' refused: %s", name,
			  err.message);
}

static void name_bad(const char *name, const char *why, int line)
{
	msb_error err = { 0 };
	int r = msb_name_valid(name, &err);

	if (r != -EINVAL || err.code != -EINVAL)
		unit_fail(__FILE__, line, "name '%s': %d, want -EINVAL",
			  name ? name : "(null)", r);
	else if (!strstr(err.message, why))
		unit_fail(__FILE__, line, "name '%s': message '%s' lacks '%s'",
			  name ? name : "(null)", err.message, why);
}

#define NAME_OK(s) name_ok(s, __LINE__)
#define NAME_BAD(s, why) name_bad(s, why, __LINE__)

TEST(parse_name_valid)
{
	char n63[64];

	NAME_OK("a");
	NAME_OK("Z");
	NAME_OK("0");
	NAME_OK("dev");
	NAME_OK("my-box_1.test");
	NAME_OK("9lives");
	NAME_OK("a-");
	NAME_OK("a..b");
	memset(n63, 'x', 63);
	n63[63] = '\0';
	NAME_OK(n63);
	/* No error pointer is fine. */
	CHECK_EQ_INT(msb_name_valid("ok", NULL), 0);
}

TEST(parse_name_invalid)
{
	char n64[65], big[2000];
	msb_error err = { 0 };

	NAME_BAD(NULL, "required");
	NAME_BAD("", "required");
	memset(n64, 'x', 64);
	n64[64] = '\0';
	NAME_BAD(n64, "at most 63");
	NAME_BAD("-a", "start with a letter or a digit");
	NAME_BAD("_a", "start with a letter or a digit");
	NAME_BAD(".a", "start with a letter or a digit");
	NAME_BAD(".", "start with a letter or a digit");
	NAME_BAD("..", "start with a letter or a digit");
	NAME_BAD(" a", "start with a letter or a digit");
	NAME_BAD("a b", "use only");
	NAME_BAD("a/b", "use only");
	NAME_BAD("a/../../etc", "use only");
	NAME_BAD("a\tb", "use only");
	NAME_BAD("a\n", "use only");
	NAME_BAD("a:b", "use only");
	NAME_BAD("a*", "use only");
	NAME_BAD("caf\xc3\xa9", "use only");         /* café */
	NAME_BAD("\xc3\xa9t\xc3\xa9", "start with"); /* été */
	NAME_BAD("\xe2\x80\x8b", "start with");       /* zero-width space */
	NAME_BAD("a\x7f", "use only");
	CHECK_EQ_INT(msb_name_valid("-a", NULL), -EINVAL);
	/* A huge name is reported without flooding the message. */
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ_INT(msb_name_valid(big, &err), -EINVAL);
	CHECK(strlen(err.message) < 200);
}

static void mem_ok(const char *s, uint64_t want, int line)
{
	msb_error err = { 0 };
	uint64_t mib = 12345;
	int r = msb_parse_memory(s, &mib, &err);

	if (r != 0)
		unit_fail(__FILE__, line, "memory '%s' refused: %s", s,
			  err.message);
	else if (mib != want)
		unit_fail(__FILE__, line, "memory '%s' = %llu, want %llu", s,
			  (unsigned long long)mib, (unsigned long long)want);
}

static void mem_bad(const char *s, const char *why, int line)
{
	msb_error err = { 0 };
	uint64_t mib = 12345;
	int r = msb_parse_memory(s, &mib, &err);

	if (r != -EINVAL || err.code != -EINVAL)
		unit_fail(__FILE__, line, "memory '%s': %d (%llu), want -EINVAL",
			  s ? s : "(null)", r, (unsigned long long)mib);
	else if (mib != 12345)
		unit_fail(__FILE__, line, "memory '%s': output written on error",
			  s ? s : "(null)");
	else if (!strstr(err.message, why))
		unit_fail(__FILE__, line,
			  "memory '%s': message '%s' lacks '%s'",
			  s ? s : "(null)", err.message, why);
}

#define MEM_OK(s, v) mem_ok(s, v, __LINE__)
#define MEM_BAD(s, why) mem_bad(s, why, __LINE__)

TEST(parse_memory_valid)
{
	MEM_OK("512M", 512);
	MEM_OK("512m", 512);
	MEM_OK("512MB", 512);
	MEM_OK("512Mi", 512);
	MEM_OK("512MiB", 512);
	MEM_OK("512mib", 512);
	MEM_OK("1G", 1024);
	MEM_OK("1g", 1024);
	MEM_OK("1GB", 1024);
	MEM_OK("1Gi", 1024);
	MEM_OK("1GiB", 1024);
	MEM_OK("1.5G", 1536);
	MEM_OK("0.5G", 512);
	MEM_OK("2048", 2048);
	MEM_OK("64", 64);
	MEM_OK("64M", 64);
	MEM_OK("1024G", 1024 * 1024);
	MEM_OK("1048576", 1048576);
	MEM_OK("0.0625G", 64);
	MEM_OK("0512M", 512);
	MEM_OK("1.0G", 1024);
	MEM_OK("512.0M", 512);
}

TEST(parse_memory_invalid)
{
	/* Not a size at all. */
	MEM_BAD(NULL, "e.g. 512M");
	MEM_BAD("", "e.g. 512M");
	MEM_BAD("abc", "e.g. 512M");
	MEM_BAD("M", "e.g. 512M");
	MEM_BAD("G1", "e.g. 512M");
	MEM_BAD("-1G", "e.g. 512M");
	MEM_BAD("-512", "e.g. 512M");
	MEM_BAD("+512M", "e.g. 512M");
	MEM_BAD(" 512M", "e.g. 512M");
	MEM_BAD("512M ", "e.g. 512M");
	MEM_BAD("512 M", "e.g. 512M");
	MEM_BAD("512MM", "e.g. 512M");
	MEM_BAD("512K", "e.g. 512M");
	MEM_BAD("1T", "e.g. 512M");
	MEM_BAD("1TiB", "e.g. 512M");
	MEM_BAD("1.5.G", "e.g. 512M");
	MEM_BAD("nan", "e.g. 512M");
	MEM_BAD("NaN", "e.g. 512M");
	MEM_BAD("nanG", "e.g. 512M");
	MEM_BAD("inf", "e.g. 512M");
	MEM_BAD("infinity", "e.g. 512M");
	MEM_BAD("infG", "e.g. 512M");
	MEM_BAD("1e999", "e.g. 512M");
	MEM_BAD("1e3", "e.g. 512M");      /* exponents: strtod's, not ours */
	MEM_BAD("1e300G", "e.g. 512M");
	MEM_BAD("0x200", "e.g. 512M");    /* hex */
	MEM_BAD(".5G", "e.g. 512M");
	/* Out of range. */
	MEM_BAD("0", "between 64M and 1024G");
	MEM_BAD("0M", "between 64M and 1024G");
	MEM_BAD("63M", "between 64M and 1024G");
	MEM_BAD("63.9M", "between 64M and 1024G");
	MEM_BAD("0.06G", "between 64M and 1024G");
	MEM_BAD("1025G", "between 64M and 1024G");
	MEM_BAD("1048577", "between 64M and 1024G");
	MEM_BAD("99999999999999999999", "between 64M and 1024G");
	MEM_BAD("18446744073709551617G", "between 64M and 1024G");
	/* Not a whole MiB. */
	MEM_BAD("1.3M", "between");   /* below the minimum, and fractional */
	MEM_BAD("100.3M", "whole number");
	MEM_BAD("512.5", "whole number");
	MEM_BAD("1.0001G", "whole number");
	/* No error pointer is fine. */
	CHECK_EQ_INT(msb_parse_memory("abc", &(uint64_t){ 0 }, NULL), -EINVAL);
	CHECK_EQ_INT(msb_parse_memory("1", &(uint64_t){ 0 }, NULL), -EINVAL);
}

TEST(parse_memory_message_names_input)
{
	msb_error err = { 0 };
	uint64_t mib;

	CHECK_EQ_INT(msb_parse_memory("12Q", &mib, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "'12Q'");
	CHECK_EQ_INT(msb_parse_memory("1.3M", &mib, &err), -EINVAL);
	CHECK_CONTAINS(err.message, "'1.3M'");
}
