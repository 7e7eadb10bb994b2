/* SPDX-License-Identifier: MIT */
/* Tests of the retry schedule: doubling, the cap, and jitter's bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>

#include "upgate/backoff.h"

static void
test_schedule(void **state)
{
	static const int64_t want[] = {
	    10000, 20000, 40000, 80000, 160000, 320000, 640000, 900000, 900000};

	(void)state;
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_cap(10000, 900000, i + 1), want[i]);
	/* Attempt 0 is treated as the first; huge attempts stay capped. */
	assert_int_equal(backoff_cap(10000, 900000, 0), 10000);
	assert_int_equal(backoff_cap(10000, 900000, 4000000000u), 900000);
	/* A cap below the start wins. */
	assert_int_equal(backoff_cap(5000, 1000, 1), 1000);
}

static void
test_jitter(void **state)
{
	int64_t lo = INT64_MAX, hi = 0;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		int64_t d = backoff_delay(1000, 60000, 3); /* cap 4000 */

		assert_in_range(d, 2000, 4000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* Spread out, not one fixed value. */
	assert_true(hi - lo > 1000);
	assert_in_range(backoff_delay(1, 1, 9), 0, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schedule),
	    cmocka_unit_test(test_jitter),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
