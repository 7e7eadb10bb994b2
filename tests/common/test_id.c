/* SPDX-License-Identifier: MIT */
/* Tests of ids, identifier checks, JSON validation and secrets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "upgate/id.h"
#include "upgate/jv.h"
#include "upgate/secret.h"

static void
test_new_ids(void **state)
{
	char a[ID_LEN + 1], b[ID_LEN + 1];

	(void)state;
	id_new(a);
	id_new(b);
	assert_true(id_valid(a));
	assert_true(id_valid(b));
	assert_string_not_equal(a, b);
	assert_false(id_valid("ABCDEF0123456789abcdef0123456789"));
	assert_false(id_valid("abc"));
}

static void
test_identifiers(void **state)
{
	char long_app[131];

	(void)state;
	assert_true(id_app_valid("com.example.editor"));
	assert_true(id_app_valid("A-b_c.9"));
	assert_false(id_app_valid(".hidden"));
	assert_false(id_app_valid("-x"));
	assert_false(id_app_valid("has space"));
	assert_false(id_app_valid(""));
	memset(long_app, 'a', 129);
	long_app[129] = '\0';
	assert_false(id_app_valid(long_app));
	long_app[128] = '\0';
	assert_true(id_app_valid(long_app));
	assert_true(id_client_valid("host-42 (lab)"));
	assert_false(id_client_valid(""));
	assert_false(id_client_valid("tab\there"));
	assert_false(id_client_valid("caf\xc3\xa9"));
	assert_true(id_code_valid("sha256_mismatch"));
	assert_false(id_code_valid("Sha256"));
	assert_false(id_code_valid("1abc"));
	assert_true(id_sha256_valid("0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789"));
	assert_false(id_sha256_valid("0123"));
}

static void
test_jv(void **state)
{
	json_t *o = json_loads("{\"s\":\"x\",\"i\":5,\"r\":1.5,\"b\":true,"
	    "\"n\":null,\"o\":{}}", 0, NULL);
	struct jv_err e;
	const char *s = NULL;
	int64_t i = -1;
	bool b = false;
	json_t *obj = NULL;

	(void)state;
	assert_int_equal(jv_str(o, "s", true, 10, &s, &e), 0);
	assert_string_equal(s, "x");
	assert_int_equal(jv_int(o, "i", true, 0, 10, &i, &e), 0);
	assert_int_equal(i, 5);
	assert_int_equal(jv_bool(o, "b", true, &b, &e), 0);
	assert_true(b);
	assert_int_equal(jv_obj(o, "o", true, &obj, &e), 0);
	/* null counts as absent */
	s = "keep";
	assert_int_equal(jv_str(o, "n", false, 10, &s, &e), 0);
	assert_string_equal(s, "keep");
	assert_int_equal(jv_str(o, "n", true, 10, &s, &e), -EBADMSG);
	assert_string_equal(e.code, "missing_field");
	assert_string_equal(e.field, "n");
	assert_int_equal(jv_int(o, "r", true, 0, 10, &i, &e), -EBADMSG);
	assert_string_equal(e.code, "invalid_type");
	assert_int_equal(jv_int(o, "i", true, 6, 10, &i, &e), -EINVAL);
	assert_string_equal(e.code, "invalid_value");
	assert_int_equal(jv_str(o, "s", true, 0, &s, &e), -EINVAL);
	assert_int_equal(jv_str(o, "i", true, 10, &s, &e), -EBADMSG);
	assert_int_equal(jv_check(false, "app", "is bad", &e), -EINVAL);
	assert_string_equal(e.msg, "app is bad");
	json_decref(o);
}

static void
test_secret(void **state)
{
	char path[] = "/tmp/upgate-secret-XXXXXX";
	int fd = mkstemp(path);
	char *s = NULL;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret \n\n", 9), 9);
	close(fd);
	assert_int_equal(secret_read(path, &s), 0);
	assert_string_equal(s, "s3cret");
	assert_true(secret_equal("s3cret", 6, s));
	assert_false(secret_equal("s3cre", 5, s));
	assert_false(secret_equal("s3cret!", 7, s));
	assert_false(secret_equal("s3cret", 6, NULL));
	secret_free(s);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	assert_int_equal(secret_read(path, &s), -EINVAL);
	unlink(path);
	assert_int_equal(secret_read(path, &s), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_ids),
		cmocka_unit_test(test_identifiers),
		cmocka_unit_test(test_jv),
		cmocka_unit_test(test_secret),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
