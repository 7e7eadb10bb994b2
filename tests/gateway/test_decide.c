/* SPDX-License-Identifier: MIT */
/* Tests of the launch decision rules, one SPEC rule at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "decide.h"

#define HOUR 3600000LL
#define NOW (1800000000000LL)

static char url[] = "https://x/a.tgz";
static struct artifact art = {
    .platform = "linux-x86_64", .url = url, .size = 10, .sha256 = "aa"};

static struct release
rel(int64_t id, const char *version)
{
	struct release r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	snprintf(r.app, sizeof(r.app), "app");
	snprintf(r.version, sizeof(r.version), "%s", version);
	snprintf(r.channel, sizeof(r.channel), "stable");
	r.rollout_percent = 100;
	r.artifacts = &art;
	r.n_artifacts = 1;
	return r;
}

/* The client's last upgrade: of release 1, in state st. */
static struct upgrade
last(enum upg_state st)
{
	struct upgrade u;

	memset(&u, 0, sizeof(u));
	u.release_id = 1;
	u.state = st;
	return u;
}

static struct decide_in
input(const struct release *rs, size_t n)
{
	struct decide_in in = { "host-42", "1.0.0", "linux-x86_64", NOW, rs, n,
		NULL, NULL, 0, NULL, HOUR, 24 * HOUR, 3, false };

	return in;
}

static void
test_reasons_without_target(void **state)
{
	struct release rs[2] = { rel(1, "1.0.0"), rel(2, "0.9.0") };
	struct decide_in in = input(rs, 0);
	struct decide_out out;

	(void)state;
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "no_release");
	in = input(rs, 2);
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_LAUNCH);
	assert_string_equal(decide_reason_name(out.reason), "up_to_date");
	in.platform = "windows-x86_64";	/* no artifact for it */
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "no_release");
}

static void
test_newest_eligible_by_semver(void **state)
{
	struct release rs[4] = { rel(1, "1.9.0"), rel(2, "1.10.0"),
		rel(3, "2.0.0-rc.1"), rel(4, "1.2.0") };
	struct decide_in in = input(rs, 4);
	struct decide_out out;

	(void)state;
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_UPGRADE);
	assert_string_equal(out.target->version, "2.0.0-rc.1");
	rs[2].paused = true;
	decide(&in, &out);
	assert_string_equal(out.target->version, "1.10.0");
	rs[1].yanked = true;
	decide(&in, &out);
	assert_string_equal(out.target->version, "1.9.0");
	assert_ptr_equal(out.artifact, &art);
}

static void
test_halted_and_rollout(void **state)
{
	struct release rs[2] = { rel(1, "1.1.0"), rel(2, "1.2.0") };
	struct decide_in in = input(rs, 2);
	struct decide_out out;

	(void)state;
	rs[1].halted = true;
	decide(&in, &out);
	assert_string_equal(out.target->version, "1.1.0");
	rs[0].halted = true;
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_LAUNCH);
	assert_string_equal(decide_reason_name(out.reason), "release_halted");
	rs[0].halted = rs[1].halted = false;
	rs[0].rollout_percent = rs[1].rollout_percent = 0;
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "not_in_rollout");
	/* The bucket is stable and below rollout_percent means in. */
	rs[1].rollout_percent = decide_bucket("host-42", "app", "1.2.0") + 1;
	decide(&in, &out);
	assert_string_equal(out.target->version, "1.2.0");
	rs[1].rollout_percent--;
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "not_in_rollout");
}

static void
test_bucket_spread(void **state)
{
	int hist[100] = { 0 };
	char id[32];

	(void)state;
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "client-%d", i);
		hist[decide_bucket(id, "app", "1.0.0")]++;
	}
	/* Roughly uniform: every bucket within 40..160 of 100. */
	for (int b = 0; b < 100; b++)
		assert_in_range(hist[b], 40, 160);
	assert_int_equal(decide_bucket("a", "app", "1.0.0"),
	    decide_bucket("a", "app", "1.0.0"));
}

static void
test_in_progress_and_timeout(void **state)
{
	struct release rs[1] = { rel(1, "1.1.0") };
	struct upgrade u = last(UPG_DOWNLOADING);
	struct decide_in in = input(rs, 1);
	struct decide_out out;

	(void)state;
	u.created_at = NOW - HOUR + 1;
	in.latest = &u;
	decide(&in, &out);
	assert_true(out.in_progress);
	assert_string_equal(decide_reason_name(out.reason), "upgrade_in_progress");
	assert_false(out.tell_failure);
	/* Past the session timeout: a failure, told now, and backoff. */
	u.created_at = NOW - HOUR;
	decide(&in, &out);
	assert_false(out.in_progress);
	assert_true(out.expire_latest);
	assert_true(out.tell_failure);
	assert_string_equal(decide_reason_name(out.reason), "retry_backoff");
}

static void
test_failures_backoff_attempts(void **state)
{
	struct release rs[2] = { rel(1, "1.1.0"), rel(2, "1.2.0") };
	struct fail_stat f = { 1, 1, NOW - 1000 };
	struct upgrade u = last(UPG_FAILED);
	struct decide_in in = input(rs, 1);
	struct decide_out out;

	(void)state;
	u.finished_at = NOW - 1000;
	in.latest = &u;
	in.fails = &f;
	in.n_fails = 1;
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "retry_backoff");
	assert_int_equal(out.retry_at, NOW - 1000 + in.retry_backoff);
	assert_true(out.tell_failure);
	u.failure_told = true;
	decide(&in, &out);
	assert_false(out.tell_failure);
	/* After the backoff: offered again. */
	f.last_at = NOW - 24 * HOUR;
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_UPGRADE);
	/* Not after max_attempts failures, whatever the time. */
	f.failures = 3;
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "attempts_exhausted");
	/* A newer release is offered at once. */
	in.n_releases = 2;
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_UPGRADE);
	assert_string_equal(out.target->version, "1.2.0");
}

static void
test_timed_out_counts_as_failure(void **state)
{
	struct release rs[1] = { rel(1, "1.1.0") };
	struct upgrade u = last(UPG_TIMED_OUT);
	struct decide_in in = input(rs, 1);
	struct decide_out out;

	(void)state;
	in.latest = &u;
	decide(&in, &out);
	assert_true(out.tell_failure);
	/* A success is never reported as a previous failure. */
	u.state = UPG_SUCCEEDED;
	decide(&in, &out);
	assert_false(out.tell_failure);
	assert_int_equal(out.action, DECIDE_UPGRADE);
}

static void
test_rollback_ordered_by_admin(void **state)
{
	struct release rs[3] = { rel(1, "1.9.0"), rel(2, "2.0.0"),
		rel(3, "1.8.0") };
	struct rollback rb = { .release_id = 1, .rollout_percent = 100 };
	struct decide_in in = input(rs, 3);
	struct decide_out out;

	(void)state;
	in.rollback = &rb;
	in.version = "2.0.0"; /* above the target: back to 1.9.0 */
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_UPGRADE);
	assert_string_equal(out.target->version, "1.9.0");
	assert_true(out.rollback && out.by_rollback);
	in.version = "1.8.0"; /* below: upgraded, but never past 1.9.0 */
	decide(&in, &out);
	assert_string_equal(out.target->version, "1.9.0");
	assert_false(out.rollback);
	in.version = "1.9.0";
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "up_to_date");
	rb.rollout_percent = 0; /* nobody in its rollout yet */
	in.version = "2.0.0";
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "not_in_rollout");
	rb.rollout_percent = 100;
	rs[0].yanked = true; /* a target that cannot be offered: ignored */
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_LAUNCH);
	assert_string_equal(decide_reason_name(out.reason), "up_to_date");
}

static void
test_yanked_release_falls_back(void **state)
{
	struct release rs[3] = { rel(1, "1.9.0"), rel(2, "2.0.0"),
		rel(3, "1.8.0") };
	struct decide_in in = input(rs, 3);
	struct decide_out out;

	(void)state;
	in.version = "2.0.0";
	rs[1].yanked = true;
	decide(&in, &out);
	assert_int_equal(out.action, DECIDE_UPGRADE);
	assert_string_equal(out.target->version, "1.9.0");
	assert_true(out.rollback);
	assert_false(out.by_rollback);
	rs[1].yanked = false; /* not yanked: stays */
	decide(&in, &out);
	assert_string_equal(decide_reason_name(out.reason), "up_to_date");
}

/* Failures not read yet: a decision that could offer something stops
 * and asks for them; one that could not (up to date, in progress) is
 * made without them, and the same as with them. */
static void
test_failures_read_only_when_needed(void **state)
{
	struct release rs[2] = { rel(1, "1.0.0"), rel(2, "1.1.0") };
	struct upgrade u = last(UPG_SUCCEEDED);
	struct fail_stat f = { 2, 3, NOW - 1000 };
	struct decide_in in = input(rs, 2);
	struct decide_out out;

	(void)state;
	in.latest = &u;
	in.fails_unread = true;
	decide(&in, &out);
	assert_true(out.needs_failures);
	in.fails = &f;
	in.n_fails = 1;
	in.fails_unread = false;
	decide(&in, &out);
	assert_false(out.needs_failures);
	assert_string_equal(decide_reason_name(out.reason), "attempts_exhausted");
	in.version = "1.1.0";
	in.fails = NULL;
	in.n_fails = 0;
	in.fails_unread = true;
	decide(&in, &out);
	assert_false(out.needs_failures);
	assert_string_equal(decide_reason_name(out.reason), "up_to_date");
	u = last(UPG_DOWNLOADING);
	u.created_at = NOW - 1000;
	in.version = "1.0.0";
	decide(&in, &out);
	assert_false(out.needs_failures);
	assert_string_equal(decide_reason_name(out.reason), "upgrade_in_progress");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reasons_without_target),
		cmocka_unit_test(test_newest_eligible_by_semver),
		cmocka_unit_test(test_halted_and_rollout),
		cmocka_unit_test(test_bucket_spread),
		cmocka_unit_test(test_in_progress_and_timeout),
		cmocka_unit_test(test_failures_backoff_attempts),
		cmocka_unit_test(test_timed_out_counts_as_failure),
		cmocka_unit_test(test_rollback_ordered_by_admin),
		cmocka_unit_test(test_yanked_release_falls_back),
		cmocka_unit_test(test_failures_read_only_when_needed),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
