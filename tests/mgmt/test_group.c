/* SPDX-License-Identifier: MIT */
/* Tests of alert grouping: windows, digests, repeat_interval and halts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "group.h"

#define MIN 60000
#define WINDOW (5 * MIN)
#define REPEAT (240 * MIN)
#define T0 1795510464000

static void
test_first_now_rest_in_digest(void **state)
{
	struct alert_group g = {0};

	(void)state;
	assert_int_equal(
	    group_on_failure(&g, T0, WINDOW, REPEAT), GROUP_SEND_NOW);
	assert_int_equal(g.window_end, T0 + WINDOW);
	assert_int_equal(g.pending, 0);
	/* The rest of the window waits for one digest at its end. */
	for (int i = 1; i <= 30; i++)
		assert_int_equal(
		    group_on_failure(&g, T0 + i * 1000, WINDOW, REPEAT),
		    GROUP_WAIT);
	assert_int_equal(g.pending, 30);
	assert_int_equal(g.due_at, T0 + WINDOW);
	group_flushed(&g, T0 + WINDOW, REPEAT);
	assert_int_equal(g.pending, 0);
	assert_int_equal(g.due_at, 0);
	/* The window digest does not restart the repeat interval. */
	assert_int_equal(g.announced_at, T0);
}

static void
test_repeat_interval(void **state)
{
	struct alert_group g = {0};

	(void)state;
	group_on_failure(&g, T0, WINDOW, REPEAT);
	/* After the window closed but inside repeat_interval: no new
	 * announcement; it waits until repeat allows one. */
	assert_int_equal(
	    group_on_failure(&g, T0 + 10 * MIN, WINDOW, REPEAT), GROUP_WAIT);
	assert_int_equal(g.due_at, T0 + REPEAT);
	assert_int_equal(
	    group_on_failure(&g, T0 + 20 * MIN, WINDOW, REPEAT), GROUP_WAIT);
	assert_int_equal(g.pending, 2);
	assert_int_equal(g.due_at, T0 + REPEAT);
	/* That digest is an announcement: the next waits repeat again. */
	group_flushed(&g, T0 + REPEAT, REPEAT);
	assert_int_equal(g.announced_at, T0 + REPEAT);
	assert_int_equal(
	    group_on_failure(&g, T0 + REPEAT + MIN, WINDOW, REPEAT),
	    GROUP_WAIT);
	assert_int_equal(g.due_at, T0 + 2 * REPEAT);
	group_flushed(&g, T0 + 2 * REPEAT, REPEAT);
	/* A quiet release is announced at once again after repeat. */
	assert_int_equal(group_on_failure(&g, T0 + 3 * REPEAT, WINDOW, REPEAT),
	    GROUP_SEND_NOW);
}

static void
test_halt_opens_window(void **state)
{
	struct alert_group g = {0};

	(void)state;
	group_on_failure(&g, T0, WINDOW, REPEAT);
	group_on_failure(&g, T0 + 1000, WINDOW, REPEAT);
	assert_int_equal(g.pending, 1);
	group_halted(&g, T0 + 2000, WINDOW);
	assert_int_equal(g.pending, 0);
	assert_int_equal(g.due_at, 0);
	assert_int_equal(g.announced_at, T0 + 2000);
	/* Stragglers after the halt join a digest at the new window's end. */
	assert_int_equal(
	    group_on_failure(&g, T0 + 3000, WINDOW, REPEAT), GROUP_WAIT);
	assert_int_equal(g.due_at, T0 + 2000 + WINDOW);
}

static void
test_zero_window(void **state)
{
	struct alert_group g = {0};

	(void)state;
	/* group_window 0 and repeat 0: every failure is its own message. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    group_on_failure(&g, T0 + i, 0, 0), GROUP_SEND_NOW);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_now_rest_in_digest),
	    cmocka_unit_test(test_repeat_interval),
	    cmocka_unit_test(test_halt_opens_window),
	    cmocka_unit_test(test_zero_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
