/* SPDX-License-Identifier: MIT */
/* Tests of semver parsing and semver 2.0.0 precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "upgate/semver.h"

static void
test_valid(void **state)
{
	static const char *const ok[] = { "0.0.0", "1.0.0", "1.10.0",
		"10.20.30", "1.0.0-rc.1", "1.0.0-alpha", "1.0.0-0.3.7",
		"1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
		"1.0.0-alpha-a.b-c", "2.0.0-rc.1+build.123",
		"18446744073709551615.0.0" };
	static const char *const bad[] = { "", "1", "1.0", "1.0.0.0", "01.0.0",
		"1.01.0", "1.0.01", "v1.0.0", "1.0.0-", "1.0.0+", "1.0.0-01",
		"1.0.0-a..b", "1.0.0-a_b", "1.0.0 ", " 1.0.0", "-1.0.0",
		"18446744073709551616.0.0", "1.0.0+a+b", "1.0.0-rc.1+" };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!semver_valid(ok[i]))
			fail_msg("should be valid: %s", ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (semver_valid(bad[i]))
			fail_msg("should be invalid: '%s'", bad[i]);
	}
}

/* semver.org's own ordering example, plus numeric and build cases. */
static void
test_precedence(void **state)
{
	static const char *const order[] = { "0.9.9", "1.0.0-alpha",
		"1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1",
		"1.9.0", "1.10.0", "1.10.1-0", "1.10.1", "2.0.0", "10.0.0" };
	size_t n = sizeof(order) / sizeof(order[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int c = semver_cmp_str(order[i], order[j]);
			int want = i < j ? -1 : i > j;

			if ((c > 0) - (c < 0) != want)
				fail_msg("%s vs %s: got %d want %d", order[i],
				    order[j], c, want);
		}
	}
}

static void
test_build_ignored(void **state)
{
	(void)state;
	assert_int_equal(semver_cmp_str("1.0.0+a", "1.0.0+b"), 0);
	assert_int_equal(semver_cmp_str("1.0.0-rc.1+x", "1.0.0-rc.1"), 0);
	assert_true(semver_cmp_str("1.0.0-rc.1+zzz", "1.0.0") < 0);
	/* An invalid version sorts below every valid one. */
	assert_true(semver_cmp_str("junk", "0.0.0") < 0);
	assert_true(semver_cmp_str("0.0.0", "junk") > 0);
}

static void
test_long_numeric_prerelease(void **state)
{
	(void)state;
	assert_true(semver_cmp_str("1.0.0-99999999999999999999",
	    "1.0.0-100000000000000000000") < 0);
	assert_true(semver_cmp_str("1.0.0-99", "1.0.0-a") < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_build_ignored),
		cmocka_unit_test(test_long_numeric_prerelease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
