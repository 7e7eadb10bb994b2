/* SPDX-License-Identifier: MIT */
/* Tests of the alert queue on a real database file: each channel's worker
 * is given its own deliveries, soonest first, and the earliest time
 * anything is due is told apart per channel, for digests, and for all,
 * whatever else is queued beside them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"
#include "../common/tmpdb.h"

#define T0 1795510464000
#define SEC 1000
#define N_EMAIL 300

static char path[128];
static struct store *s;

static int
setup(void **state)
{
	struct store_opts so = {.database = path};

	(void)state;
	tmpdb_path(path, sizeof(path), "queue");
	tmpdb_remove(path);
	return store_open(&store_sqlite, &so, &s) < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	store_close(s);
	tmpdb_remove(path);
	return 0;
}

/* An alert with a delivery on channel, due at `at`. */
static int64_t
queue(struct store_conn *db, const char *channel, int64_t at)
{
	struct alert a = {.kind = "failure",
	    .app = "com.example.app",
	    .version = "1.0.0",
	    .outcome_id = "out-1",
	    .failures = 1,
	    .subject = "s",
	    .body = "b",
	    .sms = "t",
	    .created_at = at};

	snprintf(a.alert_id, sizeof(a.alert_id), "alert-%lld", (long long)at);
	assert_int_equal(store_alert_insert(db, &a), 0);
	assert_int_equal(
	    store_delivery_add(db, a.row, channel, "", "pending", at), 0);
	return a.row;
}

static int64_t
next_due(struct store_conn *db, const char *what)
{
	int64_t at = -1;

	assert_int_equal(store_next_due(db, what, &at), 0);
	return at;
}

static void
test_each_channel_reads_its_own_queue(void **state)
{
	struct store_conn *db = store_writer(s);
	struct alert_group g = {.app = "com.example.app",
	    .version = "1.0.0",
	    .pending = 3,
	    .due_at = T0 + 5 * SEC};
	struct delivery d[8];
	int n;

	(void)state;
	/* Nothing queued: nothing is due anywhere. */
	assert_int_equal(next_due(db, NULL), 0);
	assert_int_equal(next_due(db, "sms"), 0);
	assert_int_equal(next_due(db, "digest"), 0);

	/* A long email backlog, the oldest first, and one SMS due later
	 * than all of it; a popup is delivered by being stored. */
	assert_int_equal(store_txn_begin(db), 0);
	for (int i = 0; i < N_EMAIL; i++)
		queue(db, "email", T0 + i * SEC);
	int64_t sms = queue(db, "sms", T0 + (N_EMAIL + 7) * SEC);
	assert_int_equal(
	    store_delivery_add(db, sms, "popup", "", "sent", T0), 0);
	assert_int_equal(store_group_put(db, &g), 0);
	assert_int_equal(store_txn_end(db, 0), 0);

	assert_int_equal(next_due(db, NULL), T0);
	assert_int_equal(next_due(db, "email"), T0);
	assert_int_equal(next_due(db, "sms"), T0 + (N_EMAIL + 7) * SEC);
	assert_int_equal(next_due(db, "webhook"), 0);
	assert_int_equal(next_due(db, "digest"), T0 + 5 * SEC);

	/* The SMS worker is given its delivery only once it is due,
	 * however much email is due before it. */
	assert_int_equal(
	    store_delivery_due(db, "sms", T0 + N_EMAIL * SEC, 0, d, 8), 0);
	n = store_delivery_due(db, "sms", T0 + (N_EMAIL + 7) * SEC, 0, d, 8);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].channel, "sms");
	store_delivery_free(d, (size_t)n);

	/* Email soonest first, a batch at a time; sent ones leave the
	 * queue, one retried later moves back in it. */
	n = store_delivery_due(db, "email", T0 + 10 * SEC, 0, d, 8);
	assert_int_equal(n, 8);
	for (int i = 0; i < n; i++) {
		assert_string_equal(d[i].channel, "email");
		if (i > 0)
			assert_true(d[i].id > d[i - 1].id);
		assert_int_equal(store_delivery_done(db, d[i].id, i != 0, false,
				     "relay refused", T0 + 10 * SEC,
				     i == 0 ? T0 + 100 * SEC : 0),
		    0);
	}
	store_delivery_free(d, (size_t)n);
	assert_int_equal(next_due(db, "email"), T0 + 8 * SEC);
	assert_int_equal(next_due(db, "sms"), T0 + (N_EMAIL + 7) * SEC);
	assert_int_equal(next_due(db, NULL), T0 + 5 * SEC);
	assert_int_equal(
	    store_delivery_due(db, "webhook", T0 + 1000 * SEC, 0, d, 8), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_channel_reads_its_own_queue),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
