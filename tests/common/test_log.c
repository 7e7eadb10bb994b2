/* SPDX-License-Identifier: MIT */
/* Tests of logging: levels, and the journald and readable line formats. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "upgate/log.h"

/* Run fn with stderr captured; return what it wrote (malloc'd). */
static char *
capture(void (*fn)(void))
{
	char path[] = "/tmp/upgate-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *buf = calloc(1, 4096);

	assert_true(fd >= 0);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_true(pread(fd, buf, 4095, 0) >= 0);
	close(fd);
	unlink(path);
	return buf;
}

static void
write_two(void)
{
	log_info("hello %d", 42);
	log_debug("hidden");
}

static void
test_levels(void **state)
{
	enum log_level l;

	(void)state;
	assert_int_equal(log_level_parse("warning", &l), 0);
	assert_int_equal(l, LOG_LVL_WARNING);
	assert_int_equal(log_level_parse("loud", &l), -EINVAL);
	log_set_level(LOG_LVL_INFO);
	assert_true(log_enabled(LOG_LVL_ERR));
	assert_false(log_enabled(LOG_LVL_DEBUG));
}

static void
test_formats(void **state)
{
	char *out;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	log_init("unit");
	out = capture(write_two);
	assert_non_null(strstr(out, "Z unit["));
	assert_non_null(strstr(out, "] info: hello 42\n"));
	assert_null(strstr(out, "hidden"));
	free(out);
	setenv("JOURNAL_STREAM", "8:1234", 1);
	log_init("unit");
	out = capture(write_two);
	assert_string_equal(out, "<6>hello 42\n");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
