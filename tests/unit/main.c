/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - runs the registered unit tests and reports
 *
 * Usage: unit [SUBSTRING...] [-SUBSTRING...]   run the tests whose name
 * contains one of the plain arguments (all tests when there are none), except
 * those whose name contains one of the '-' arguments ("unit -regress_").
 * Tests left out are not counted. UNIT_VERBOSE=1 also prints every recorded failure, one
 * per line, on stderr.
 *
 * Output: one line per failed test on stdout, then exactly
 * "unit: N passed, N failed". The exit status is 1 if any test failed.
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct unit_test *tests;
static size_t ntests;

/* The running test. */
static const struct unit_test *cur;
static int cur_fails;
static char cur_first[512];
static jmp_buf cur_abort;
static uint64_t rng_state;
static int verbose;

void unit_register(struct unit_test *t)
{
	t->next = tests;
	tests = t;
	ntests++;
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line per failed test: keep the report to one line. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (!cur_fails++)
		snprintf(cur_first, sizeof(cur_first), "%s:%d: %s", file, line,
			 msg);
	if (verbose)
		fprintf(stderr, "  %s: %s:%d: %s\n", cur ? cur->name : "?",
			file, line, msg);
	if (cur_fails >= UNIT_MAX_FAILS)
		longjmp(cur_abort, 1);
}

int unit_tmpdir(char *buf, size_t n)
{
	const char *base = getenv("TMPDIR");

	if (!base || !*base)
		base = "/tmp";
	if (snprintf(buf, n, "%s/msb-unit.XXXXXX", base) >= (int)n ||
	    !mkdtemp(buf)) {
		unit_fail(__FILE__, __LINE__, "cannot make a temp dir in %s",
			  base);
		return -1;
	}
	return 0;
}

uint64_t unit_rand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

int unit_lowest_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

static int by_place(const void *a, const void *b)
{
	const struct unit_test *x = *(struct unit_test *const *)a;
	const struct unit_test *y = *(struct unit_test *const *)b;
	int c = strcmp(x->file, y->file);

	return c ? c : x->line - y->line;
}

static int selected(const struct unit_test *t, int argc, char **argv)
{
	int want = 0, any = 0;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			if (argv[i][1] && strstr(t->name, argv[i] + 1))
				return 0;
			continue;
		}
		any = 1;
		if (strstr(t->name, argv[i]))
			want = 1;
	}
	return !any || want;
}

static uint64_t seed_of(const char *name)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return h ? h : 1;
}

int main(int argc, char **argv)
{
	struct unit_test **v = calloc(ntests ? ntests : 1, sizeof(*v));
	const char *vb = getenv("UNIT_VERBOSE");
	/* static: kept across the longjmp() that cuts a test short */
	static int passed, failed;
	size_t i = 0;

	if (!v) {
		fprintf(stderr, "unit: out of memory\n");
		return 2;
	}
	verbose = vb && *vb && strcmp(vb, "0");
	for (struct unit_test *t = tests; t; t = t->next)
		v[i++] = t;
	qsort(v, ntests, sizeof(*v), by_place);
	/* Failure lines and the summary must not interleave with output
	 * the code under test leaves in stdio buffers. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (i = 0; i < ntests; i++) {
		const struct unit_test *t = v[i];

		if (!selected(t, argc, argv))
			continue;
		cur = t;
		cur_fails = 0;
		cur_first[0] = '\0';
		rng_state = seed_of(t->name);
		if (!setjmp(cur_abort))
			t->fn();
		if (!cur_fails) {
			passed++;
			continue;
		}
		failed++;
		if (cur_fails >= UNIT_MAX_FAILS)
			printf("FAIL %s: %s (and %d more; stopped)\n", t->name,
			       cur_first, cur_fails - 1);
		else if (cur_fails > 1)
			printf("FAIL %s: %s (and %d more)\n", t->name,
			       cur_first, cur_fails - 1);
		else
			printf("FAIL %s: %s\n", t->name, cur_first);
	}
	cur = NULL;
	free(v);
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
