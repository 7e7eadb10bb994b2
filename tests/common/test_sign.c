/* SPDX-License-Identifier: MIT */
/* Tests of ingest signatures: made, checked, and every way they fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "upgate/sign.h"

#define SECRET "s3cret-key"
#define BODY "{\"outcome_id\":\"x\"}"

static void
test_known_value(void **state)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char want[SIGN_LEN], got[SIGN_LEN];
	const char *msg = "1795510464." BODY;

	(void)state;
	/* The SPEC's definition, computed independently in one shot. */
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(
	    &st, (const unsigned char *)SECRET, strlen(SECRET));
	crypto_auth_hmacsha256_update(
	    &st, (const unsigned char *)msg, strlen(msg));
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(want, "sha256=", 7);
	sodium_bin2hex(want + 7, sizeof(want) - 7, mac, sizeof(mac));
	sign_make(SECRET, 1795510464, BODY, strlen(BODY), got);
	assert_string_equal(got, want);
	assert_int_equal(strlen(got), 71);
}

static void
test_check(void **state)
{
	char sig[SIGN_LEN], bad[SIGN_LEN];
	const char *why = NULL;
	int64_t now = 1795510464;

	(void)state;
	sign_make(SECRET, now, BODY, strlen(BODY), sig);
	assert_int_equal(sign_check(SECRET, "1795510464", sig, BODY,
			     strlen(BODY), now + 299, 300, &why),
	    0);
	/* The body changed. */
	assert_int_equal(
	    sign_check(SECRET, "1795510464", sig, "{}", 2, now, 300, &why),
	    -EACCES);
	assert_string_equal(why, "bad_signature");
	/* Another secret. */
	assert_int_equal(sign_check("other", "1795510464", sig, BODY,
			     strlen(BODY), now, 300, &why),
	    -EACCES);
	/* The timestamp is part of what is signed. */
	assert_int_equal(sign_check(SECRET, "1795510465", sig, BODY,
			     strlen(BODY), now, 300, &why),
	    -EACCES);
	assert_string_equal(why, "bad_signature");
	/* One hex digit off, uppercase, truncated, no prefix. */
	memcpy(bad, sig, sizeof(bad));
	bad[70] = bad[70] == '0' ? '1' : '0';
	assert_int_equal(sign_check(SECRET, "1795510464", bad, BODY,
			     strlen(BODY), now, 300, &why),
	    -EACCES);
	assert_int_equal(sign_check(SECRET, "1795510464", sig + 7, BODY,
			     strlen(BODY), now, 300, &why),
	    -EACCES);
	bad[40] = '\0';
	assert_int_equal(sign_check(SECRET, "1795510464", bad, BODY,
			     strlen(BODY), now, 300, &why),
	    -EACCES);
}

static void
test_skew_and_missing(void **state)
{
	char sig[SIGN_LEN];
	const char *why = NULL;
	int64_t ts = 1795510464;

	(void)state;
	sign_make(SECRET, ts, BODY, strlen(BODY), sig);
	assert_int_equal(sign_check(SECRET, "1795510464", sig, BODY,
			     strlen(BODY), ts + 301, 300, &why),
	    -EACCES);
	assert_string_equal(why, "stale_timestamp");
	assert_int_equal(sign_check(SECRET, "1795510464", sig, BODY,
			     strlen(BODY), ts - 301, 300, &why),
	    -EACCES);
	assert_string_equal(why, "stale_timestamp");
	assert_int_equal(sign_check(SECRET, "17955x0464", sig, BODY,
			     strlen(BODY), ts, 300, &why),
	    -EACCES);
	assert_string_equal(why, "stale_timestamp");
	assert_int_equal(sign_check(SECRET, "-1795510464", sig, BODY,
			     strlen(BODY), ts, 300, &why),
	    -EACCES);
	assert_int_equal(
	    sign_check(SECRET, NULL, sig, BODY, strlen(BODY), ts, 300, &why),
	    -EACCES);
	assert_string_equal(why, "missing_signature");
	assert_int_equal(sign_check(SECRET, "1795510464", NULL, BODY,
			     strlen(BODY), ts, 300, &why),
	    -EACCES);
	assert_int_equal(sign_check(NULL, "1795510464", sig, BODY, strlen(BODY),
			     ts, 300, &why),
	    -EACCES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_value),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_skew_and_missing),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
