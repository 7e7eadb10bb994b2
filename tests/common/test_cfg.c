/* SPDX-License-Identifier: MIT */
/* Tests of the config loader, driven by tests/data/cfg/{valid,invalid}. */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "upgate/cfg.h"

struct conf {
	char *str, *addr, *empty;
	int64_t num, dur;
	double real;
	bool flag;
	int mode;
};

static const char *const modes[] = { "no", "try", "required", NULL };

static bool
is_word(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != ' ')
			return false;
	return true;
}

#define O(f) offsetof(struct conf, f)
static const struct cfg_key keys[] = {
	{ .section = "t", .key = "str", .type = CFG_STR, .off = O(str),
	    .dflt = "dflt", .check = is_word, .check_what = "must be a word" },
	{ .section = "t", .key = "addr", .type = CFG_ADDR, .off = O(addr),
	    .dflt = "127.0.0.1:8470" },
	{ .section = "t", .key = "num", .type = CFG_INT, .off = O(num),
	    .dflt = "3", .min = 0, .max = 100 },
	{ .section = "t", .key = "dur", .type = CFG_DUR, .off = O(dur),
	    .dflt = "10s", .min = 1000, .max = 30 * 86400000.0 },
	{ .section = "t", .key = "real", .type = CFG_REAL, .off = O(real),
	    .dflt = "0.25", .min = 0, .max = 1 },
	{ .section = "t", .key = "flag", .type = CFG_BOOL, .off = O(flag),
	    .dflt = "no" },
	{ .section = "t", .key = "mode", .type = CFG_ENUM, .off = O(mode),
	    .dflt = "no", .choices = modes },
	{ .section = "u", .key = "empty", .type = CFG_STR, .off = O(empty),
	    .dflt = "x" },
};
#define N (sizeof(keys) / sizeof(keys[0]))

static char *
expectation(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");
	char *want = NULL;

	if (f != NULL && fgets(line, sizeof(line), f) != NULL &&
	    strncmp(line, "# expect: ", 10) == 0) {
		line[strcspn(line, "\n")] = '\0';
		want = strdup(line + 10);
	}
	if (f != NULL)
		fclose(f);
	return want;
}

static void
for_each(const char *dir, void (*fn)(const char *path))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fn(path);
		n++;
	}
	closedir(d);
	assert_true(n > 0);
}

static void
check_valid(const char *path)
{
	struct conf c = { 0 };
	char *errors = NULL;

	if (cfg_load(path, keys, N, &c, NULL, &errors) != 0)
		fail_msg("%s: unexpected errors:\n%s", path, errors);
	cfg_free(keys, N, &c);
}

static void
check_invalid(const char *path)
{
	struct conf c = { 0 };
	char *errors = NULL, *want = expectation(path);
	char prefix[600];

	if (want == NULL)
		fail_msg("%s: first line must be '# expect: ...'", path);
	if (cfg_load(path, keys, N, &c, NULL, &errors) != -22)
		fail_msg("%s: accepted", path);
	/* The message names the file, the line and the key. */
	snprintf(prefix, sizeof(prefix), "%s%s", path, want);
	if (strstr(errors, prefix) == NULL)
		fail_msg("%s: want '%s' in:\n%s", path, prefix, errors);
	free(errors);
	free(want);
	cfg_free(keys, N, &c);
}

static void
test_valid_files(void **state)
{
	(void)state;
	for_each("tests/data/cfg/valid", check_valid);
}

static void
test_invalid_files(void **state)
{
	(void)state;
	for_each("tests/data/cfg/invalid", check_invalid);
}

static void
test_values_and_defaults(void **state)
{
	struct conf c = { 0 };
	int set[N];
	char *errors = NULL;

	(void)state;
	assert_int_equal(cfg_load("tests/data/cfg/valid/full.conf", keys, N,
	    &c, set, &errors), 0);
	assert_string_equal(c.str, "hello world");
	assert_int_equal(c.num, 42);
	assert_int_equal(c.dur, 5400000);
	assert_true(c.real == 0.5);
	assert_true(c.flag);
	assert_int_equal(c.mode, 1);
	assert_string_equal(c.empty, "");
	assert_true(set[2]);
	cfg_free(keys, N, &c);

	memset(&c, 0, sizeof(c));
	assert_int_equal(cfg_load("tests/data/cfg/valid/partial.conf", keys, N,
	    &c, set, &errors), 0);
	assert_int_equal(c.num, 7);
	assert_int_equal(c.dur, 10000);	/* default */
	assert_string_equal(c.addr, "127.0.0.1:8470");
	assert_false(set[3]);
	cfg_free(keys, N, &c);
}

static void
test_missing_file(void **state)
{
	struct conf c = { 0 };
	char *errors = NULL;

	(void)state;
	assert_int_equal(cfg_load("tests/data/cfg/nope.conf", keys, N, &c,
	    NULL, &errors), -22);
	assert_non_null(strstr(errors, "nope.conf: cannot open"));
	free(errors);
	cfg_free(keys, N, &c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_files),
		cmocka_unit_test(test_invalid_files),
		cmocka_unit_test(test_values_and_defaults),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
