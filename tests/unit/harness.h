/* SPDX-License-Identifier: Apache-2.0 */
/* harness.h - a small self-contained unit test harness
 *
 * A test is a function declared with TEST(name) { ... } in any C file of
 * tests/unit/; a constructor registers it, so adding a test touches
 * no central list. Checks record a failure with file:line and let the test go
 * on, so one run shows everything that is wrong; a test that piles up
 * UNIT_MAX_FAILS failed checks (a loop gone wrong) is cut short.
 *
 * main.c runs every test (or those whose name contains an argument), prints
 * one line per failed test and ends with "unit: N passed, N failed".
 */
#ifndef MSB_UNIT_HARNESS_H
#define MSB_UNIT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UNIT_MAX_FAILS 50

/**
 * struct unit_test - one registered test
 * @name: as given to TEST()
 * @fn:   its body
 * @file: where it is defined
 * @line: ditto
 * @next: registry link
 */
struct unit_test {
	const char *name;
	void (*fn)(void);
	const char *file;
	int line;
	struct unit_test *next;
};

void unit_register(struct unit_test *t);

/* unit_fail() - record a failed check of the running test. */
void unit_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * unit_tmpdir() - a fresh private directory under $TMPDIR (or /tmp)
 * @buf: receives its path
 * @n:   size of @buf
 *
 * Remove it with msb_rm_rf() when done.
 * Return: 0, or -1 (recorded as a failure).
 */
int unit_tmpdir(char *buf, size_t n);

/* unit_rand() - a deterministic pseudo-random stream (xorshift64*), seeded
 * per test so a failure reproduces. */
uint64_t unit_rand(void);

/* unit_lowest_fd() - the number the next open() would get; comparing it
 * before and after a call shows a descriptor leak. */
int unit_lowest_fd(void);

#define TEST(name)                                                         \
	static void unit_fn_##name(void);                                  \
	static struct unit_test unit_t_##name = { #name, unit_fn_##name,   \
						  __FILE__, __LINE__, NULL }; \
	__attribute__((constructor)) static void unit_reg_##name(void)     \
	{                                                                  \
		unit_register(&unit_t_##name);                             \
	}                                                                  \
	static void unit_fn_##name(void)

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond))                                               \
			unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                 \
	do {                                                               \
		long long unit_a_ = (long long)(a);                        \
		long long unit_b_ = (long long)(b);                        \
		if (unit_a_ != unit_b_)                                    \
			unit_fail(__FILE__, __LINE__,                      \
				  "%s == %s: %lld != %lld", #a, #b,        \
				  unit_a_, unit_b_);                       \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *unit_a_ = (a), *unit_b_ = (b);                 \
		if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_))      \
			unit_fail(__FILE__, __LINE__,                      \
				  "%s == %s: \"%.200s\" != \"%.200s\"",    \
				  #a, #b, unit_a_ ? unit_a_ : "(null)",    \
				  unit_b_ ? unit_b_ : "(null)");           \
	} while (0)

/* CHECK_CONTAINS() - @hay has @needle as a substring. */
#define CHECK_CONTAINS(hay, needle)                                        \
	do {                                                               \
		const char *unit_h_ = (hay), *unit_n_ = (needle);          \
		if (!unit_h_ || !strstr(unit_h_, unit_n_))                 \
			unit_fail(__FILE__, __LINE__,                      \
				  "%s contains \"%s\": \"%.200s\"", #hay,  \
				  unit_n_, unit_h_ ? unit_h_ : "(null)");  \
	} while (0)

#define CHECK_MEM(a, b, n)                                                 \
	do {                                                               \
		if (memcmp((a), (b), (n)))                                 \
			unit_fail(__FILE__, __LINE__,                      \
				  "%s == %s over %zu bytes", #a, #b,       \
				  (size_t)(n));                            \
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
