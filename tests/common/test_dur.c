/* SPDX-License-Identifier: MIT */
/* Tests of duration parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "upgate/dur.h"
#include "upgate/ts.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = { { "0", 0 }, { "30", 30000 }, { "10s", 10000 },
		{ "5m", 300000 }, { "1h", 3600000 }, { "7d", 604800000 },
		{ "250ms", 250 }, { "1h30m", 5400000 }, { "1m1s", 61000 } };
	static const char *const bad[] = { "", "s", "-1s", "1x", "1.5h",
		"1 h", "h1", "1s5", "99999999999999999999d", "1hh" };
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (dur_parse(ok[i].in, &v) != 0 || v != ok[i].ms)
			fail_msg("%s: want %lld", ok[i].in, (long long)ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dur_parse(bad[i], &v) == 0)
			fail_msg("should be refused: '%s'", bad[i]);
	}
}

static void
test_format(void **state)
{
	char buf[32];

	(void)state;
	dur_format(3600000, buf, sizeof(buf));
	assert_string_equal(buf, "1h");
	dur_format(90000, buf, sizeof(buf));
	assert_string_equal(buf, "90s");
	dur_format(1500, buf, sizeof(buf));
	assert_string_equal(buf, "1500ms");
	dur_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "0ms");
}

static void
test_timestamps(void **state)
{
	char buf[TS_LEN];
	int64_t ms;

	(void)state;
	ts_format(1795514407000LL, buf);
	assert_string_equal(buf, "2026-11-24T10:00:07Z");
	assert_int_equal(ts_parse("2026-11-24T10:00:07Z", &ms), 0);
	assert_int_equal(ms, 1795514407000LL);
	assert_int_equal(ts_parse("2026-11-24T11:00:07+01:00", &ms), 0);
	assert_int_equal(ms, 1795514407000LL);
	assert_int_equal(ts_parse("2026-11-24T10:00:07.250Z", &ms), 0);
	assert_int_equal(ms, 1795514407250LL);
	assert_int_equal(ts_parse("1795514407", &ms), 0);
	assert_int_equal(ms, 1795514407000LL);
	assert_int_not_equal(ts_parse("2026-11-24", &ms), 0);
	assert_int_not_equal(ts_parse("2026-11-24T10:00:07", &ms), 0);
	assert_int_not_equal(ts_parse("yesterday", &ms), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_timestamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
